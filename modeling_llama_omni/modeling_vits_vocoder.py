# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""A whole Piper VITS voice as a transformers unit vocoder: phoneme ids ("units") -> waveform, one-shot or streamed.

    units [B, N] (phoneme ids, no pads / bos / eos)
        -> Piper ids `bos pad u1 pad ... uN pad eos` [B, 2N + 3]
        -> text encoder (embedding * sqrt(d), 6 post-norm transformer layers with windowed relative attention,
           kernel-3 feed-forward convolutions) -> prior mean / log-std per id
        -> stochastic duration predictor (inference direction of its spline flows; noise * noise_w)
           -> frames per id = ceil(exp(logw) * length_scale)
        -> prior expanded to frames, z_p = m + eps * exp(logs) * noise_scale
        -> flow (4 mean-only WaveNet coupling layers, reversed) -> z
        -> HiFi-GAN decoder (`UnitVocoderGenerator`) -> waveform [B, frames * 256] (22 050 Hz)

Noise is deterministic: the duration noise and the prior noise of each id are drawn from a generator seeded by
`(config.seed, position)`, where the position of unit k (and of the pad after it) is absolute in the utterance, so a
phoneme gets the same noise whether it is vocoded one-shot or inside a streaming window. `LlamaOmniVitsStream` (from
`model.stream()`) vocodes chunks cut at word / punctuation boundaries with left context and lookahead phonemes.

Module names follow the exported voice (`text_encoder` = Piper's `enc_p`, `duration_predictor` = `dp`, `flow`,
`generator` = `dec`), so `convert_piper_voice.py` loads an ONNX voice by renaming only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .configuration_unit_vocoder import UnitVocoderConfig
from .configuration_vits_vocoder import LlamaOmniVitsVocoderConfig
from .modeling_unit_vocoder import UnitVocoderGenerator

# Spline constants of VITS' stochastic duration predictor.
_MIN_BIN_WIDTH = 1e-3
_MIN_BIN_HEIGHT = 1e-3
_MIN_DERIVATIVE = 1e-3
# Noise stream kinds (the second entry of a position's seed).
_UNIT_STREAM, _SPECIAL_STREAM = 0, 1


# ----------------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class LlamaOmniVitsVocoderOutput(ModelOutput):
    r"""
    waveform (`torch.FloatTensor` of shape `(batch_size, num_samples)`):
        The waveforms at `config.sampling_rate`, right-padded with zeros to the longest one.
    waveform_lengths (`torch.LongTensor` of shape `(batch_size,)`):
        Valid samples of each waveform (`frames * hop_length`).
    durations (`torch.LongTensor` of shape `(batch_size, num_ids)`):
        Latent frames of each Piper id (bos, pads, units, eos; 0 past the input length).
    input_ids (`torch.LongTensor` of shape `(batch_size, num_ids)`):
        The Piper id sequences that were synthesised (pad-filled past their length).
    """

    waveform: torch.FloatTensor | None = None
    waveform_lengths: torch.LongTensor | None = None
    durations: torch.LongTensor | None = None
    input_ids: torch.LongTensor | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------


def _sequence_mask(lengths: torch.Tensor, max_length: int, dtype: torch.dtype) -> torch.Tensor:
    """`(batch, 1, max_length)` mask, 1 on the first `lengths[b]` positions."""
    positions = torch.arange(max_length, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).unsqueeze(1).to(dtype)


class VitsVocoderLayerNorm(nn.Module):
    """LayerNorm over the channels of a `(batch, channels, length)` tensor (`gamma`, `beta`)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states.transpose(1, -1)
        hidden_states = F.layer_norm(hidden_states, (hidden_states.shape[-1],), self.gamma, self.beta, self.eps)
        return hidden_states.transpose(1, -1)


class VitsVocoderRelativeAttention(nn.Module):
    """
    Multi-head self-attention with learned relative-position keys and values for offsets `-window .. window`
    (`emb_rel_k`, `emb_rel_v`, shared by the heads); pointwise convolutions `conv_q/k/v/o`.
    """

    def __init__(self, channels: int, num_heads: int, window_size: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = channels // num_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.head_dim) * self.head_dim**-0.5)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window_size + 1, self.head_dim) * self.head_dim**-0.5)

    def _heads(self, hidden_states: torch.Tensor) -> torch.Tensor:
        batch, _, length = hidden_states.shape
        return hidden_states.view(batch, self.num_heads, self.head_dim, length).transpose(2, 3)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """`hidden_states` `(batch, channels, length)`, `attention_mask` `(batch, 1, length, length)` (1 = attend)."""
        batch, channels, length = hidden_states.shape
        query = self._heads(self.conv_q(hidden_states)) / math.sqrt(self.head_dim)
        key = self._heads(self.conv_k(hidden_states))
        value = self._heads(self.conv_v(hidden_states))
        window = self.window_size
        positions = torch.arange(length, device=hidden_states.device)
        offsets = positions[None, :] - positions[:, None]  # key position - query position
        in_window = (offsets.abs() <= window).to(query.dtype)
        index = (offsets + window).clamp(0, 2 * window).expand(batch, self.num_heads, length, length)
        scores = query @ key.transpose(-2, -1)
        relative_logits = query @ self.emb_rel_k[0].transpose(0, 1)  # (batch, heads, length, 2 * window + 1)
        scores = scores + torch.gather(relative_logits, -1, index) * in_window
        scores = scores.masked_fill(attention_mask == 0, -1e4)
        probs = torch.softmax(scores, dim=-1)
        output = probs @ value
        relative_probs = torch.zeros(
            batch, self.num_heads, length, 2 * window + 1, dtype=probs.dtype, device=probs.device
        ).scatter_add_(-1, index, probs * in_window)
        output = output + relative_probs @ self.emb_rel_v[0]
        output = output.transpose(2, 3).reshape(batch, channels, length)
        return self.conv_o(output)


class VitsVocoderFeedForward(nn.Module):
    """Two kernel-`k` convolutions with a ReLU between them; inputs masked."""

    def __init__(self, channels: int, ffn_dim: int, kernel_size: int):
        super().__init__()
        self.conv_1 = nn.Conv1d(channels, ffn_dim, kernel_size, padding=kernel_size // 2)
        self.conv_2 = nn.Conv1d(ffn_dim, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden_states = torch.relu(self.conv_1(hidden_states * mask))
        return self.conv_2(hidden_states * mask) * mask


class VitsVocoderEncoder(nn.Module):
    """Post-norm transformer: `attn_layers.N`, `norm_layers_1.N`, `ffn_layers.N`, `norm_layers_2.N`."""

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__()
        size, layers = config.hidden_size, config.num_hidden_layers
        self.attn_layers = nn.ModuleList(
            VitsVocoderRelativeAttention(size, config.num_attention_heads, config.window_size) for _ in range(layers)
        )
        self.norm_layers_1 = nn.ModuleList(VitsVocoderLayerNorm(size, config.layer_norm_eps) for _ in range(layers))
        self.ffn_layers = nn.ModuleList(
            VitsVocoderFeedForward(size, config.ffn_dim, config.ffn_kernel_size) for _ in range(layers)
        )
        self.norm_layers_2 = nn.ModuleList(VitsVocoderLayerNorm(size, config.layer_norm_eps) for _ in range(layers))

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attention_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        hidden_states = hidden_states * mask
        for attention, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2
        ):
            hidden_states = norm_1(hidden_states + attention(hidden_states, attention_mask))
            hidden_states = norm_2(hidden_states + ffn(hidden_states, mask))
        return hidden_states * mask


class VitsVocoderTextEncoder(nn.Module):
    """Phoneme embedding (`emb`) -> encoder -> `proj` to the prior's mean and log-std (`latent_dim` each)."""

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.emb = nn.Embedding(config.vocab_size, config.hidden_size)
        self.encoder = VitsVocoderEncoder(config)
        self.proj = nn.Conv1d(config.hidden_size, 2 * config.latent_dim, 1)

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns `(hidden (batch, hidden, T), prior_mean (batch, latent, T), prior_log_std (batch, latent, T))`."""
        hidden_states = (self.emb(input_ids) * math.sqrt(self.hidden_size)).transpose(1, 2)
        hidden_states = self.encoder(hidden_states * mask, mask)
        stats = self.proj(hidden_states) * mask
        mean, log_std = stats.chunk(2, dim=1)
        return hidden_states, mean, log_std


class VitsVocoderDDSConv(nn.Module):
    """Dilated depthwise-separable convolutions: per layer i (dilation `k ** i`), `convs_sep` (depthwise) -> LayerNorm
    -> GELU -> `convs_1x1` -> LayerNorm -> GELU, added to the input."""

    def __init__(self, channels: int, kernel_size: int, num_layers: int, eps: float):
        super().__init__()
        self.convs_sep = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for i in range(num_layers):
            dilation = kernel_size**i
            padding = (kernel_size * dilation - dilation) // 2
            self.convs_sep.append(
                nn.Conv1d(channels, channels, kernel_size, groups=channels, dilation=dilation, padding=padding)
            )
            self.convs_1x1.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(VitsVocoderLayerNorm(channels, eps))
            self.norms_2.append(VitsVocoderLayerNorm(channels, eps))

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None = None):
        if condition is not None:
            hidden_states = hidden_states + condition
        for conv_sep, conv_1x1, norm_1, norm_2 in zip(self.convs_sep, self.convs_1x1, self.norms_1, self.norms_2):
            residual = F.gelu(norm_1(conv_sep(hidden_states * mask)))
            residual = F.gelu(norm_2(conv_1x1(residual)))
            hidden_states = hidden_states + residual
        return hidden_states * mask


def _inverse_rational_quadratic_spline(
    inputs: torch.Tensor,
    widths: torch.Tensor,
    heights: torch.Tensor,
    derivatives: torch.Tensor,
    tail_bound: float,
) -> torch.Tensor:
    """
    Inverse of a monotonic rational-quadratic spline on `[-B, B]` with linear (identity) tails, from its
    unnormalised bin widths / heights `(..., bins)` and inner knot derivatives `(..., bins - 1)`.
    """
    num_bins = widths.shape[-1]
    boundary_derivative = math.log(math.expm1(1.0 - _MIN_DERIVATIVE))
    derivatives = F.pad(derivatives, (1, 1), value=boundary_derivative)
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)

    def knots(unnormalised: torch.Tensor, minimum: float) -> tuple[torch.Tensor, torch.Tensor]:
        sizes = minimum + (1 - minimum * num_bins) * torch.softmax(unnormalised, dim=-1)
        cumulative = F.pad(torch.cumsum(sizes, dim=-1), (1, 0), value=0.0)
        cumulative = 2 * tail_bound * cumulative - tail_bound
        cumulative[..., 0] = -tail_bound
        cumulative[..., -1] = tail_bound
        return cumulative, cumulative[..., 1:] - cumulative[..., :-1]

    cum_widths, bin_widths = knots(widths, _MIN_BIN_WIDTH)
    cum_heights, bin_heights = knots(heights, _MIN_BIN_HEIGHT)
    derivatives = _MIN_DERIVATIVE + F.softplus(derivatives)

    x = inputs.clamp(-tail_bound, tail_bound)
    locations = cum_heights.clone()
    locations[..., -1] += 1e-6
    bin_index = (x[..., None] >= locations).sum(dim=-1, keepdim=True) - 1
    bin_index = bin_index.clamp(0, num_bins - 1)

    def pick(values: torch.Tensor) -> torch.Tensor:
        return values.gather(-1, bin_index)[..., 0]

    x0, w, y0, h = pick(cum_widths), pick(bin_widths), pick(cum_heights), pick(bin_heights)
    delta = h / w
    d0, d1 = pick(derivatives), pick(derivatives[..., 1:])
    dy = x - y0
    a = dy * (d0 + d1 - 2 * delta) + h * (delta - d0)
    b = h * d0 - dy * (d0 + d1 - 2 * delta)
    c = -delta * dy
    discriminant = b.pow(2) - 4 * a * c
    root = (2 * c) / (-b - torch.sqrt(discriminant))
    outputs = root * w + x0
    return torch.where(inside, outputs, inputs)


class VitsVocoderElementwiseAffine(nn.Module):
    """`y = m + exp(logs) * x` per channel; `reverse` computes `x = (y - m) * exp(-logs)`."""

    def __init__(self, channels: int):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def reverse(self, inputs: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return (inputs - self.m) * torch.exp(-self.logs) * mask


class VitsVocoderFlip(nn.Module):
    """Reverses the channel order (its own inverse). No parameters."""

    def reverse(self, inputs: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return torch.flip(inputs, [1])


class VitsVocoderConvFlow(nn.Module):
    """Spline coupling layer of the duration predictor: the first channel (through `pre`, a DDSConv conditioned on
    the encoder features, `proj`) parametrises a rational-quadratic spline applied to the second."""

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__()
        channels = config.hidden_size
        self.num_bins = config.duration_predictor_num_bins
        self.tail_bound = float(config.duration_predictor_tail_bound)
        self.scale = math.sqrt(channels)
        self.pre = nn.Conv1d(1, channels, 1)
        self.convs = VitsVocoderDDSConv(
            channels, config.duration_predictor_kernel_size, config.duration_predictor_num_layers,
            config.layer_norm_eps,
        )
        self.proj = nn.Conv1d(channels, 3 * self.num_bins - 1, 1)

    def reverse(self, inputs: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        first, second = inputs[:, :1], inputs[:, 1:]
        params = self.proj(self.convs(self.pre(first), mask, condition)) * mask  # (batch, 3 * bins - 1, T)
        params = params.transpose(1, 2)  # (batch, T, 3 * bins - 1)
        bins = self.num_bins
        second = _inverse_rational_quadratic_spline(
            second[:, 0],
            params[..., :bins] / self.scale,
            params[..., bins : 2 * bins] / self.scale,
            params[..., 2 * bins :],
            self.tail_bound,
        ).unsqueeze(1)
        return torch.cat([first, second], dim=1) * mask


class VitsVocoderStochasticDurationPredictor(nn.Module):
    """
    VITS' stochastic duration predictor, inference direction: encoder features -> `pre` -> DDSConv (`convs`) ->
    `proj` = condition; noise `(batch, 2, T)` * noise_w -> flows `8, 7, ..., 2, 0` reversed (flow 1, a spline
    coupling layer that VITS skips at inference, is not stored) -> log-durations (first channel).

    `flows`: 0 ElementwiseAffine (m, logs), 1 placeholder, odd indices >= 3 ConvFlows, even indices >= 2 Flips.
    """

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__()
        channels = config.hidden_size
        self.pre = nn.Conv1d(channels, channels, 1)
        self.convs = VitsVocoderDDSConv(
            channels, config.duration_predictor_kernel_size, config.duration_predictor_num_layers,
            config.layer_norm_eps,
        )
        self.proj = nn.Conv1d(channels, channels, 1)
        flows: list[nn.Module] = [VitsVocoderElementwiseAffine(2)]
        for _ in range(config.duration_predictor_num_flows):
            flows += [VitsVocoderConvFlow(config), VitsVocoderFlip()]
        flows[1] = VitsVocoderFlip()  # a ConvFlow that inference skips: a parameter-free placeholder, never run
        self.flows = nn.ModuleList(flows)
        # inference order: the last flip down to index 2, then the affine layer (index 1 skipped)
        self.inference_order = list(range(len(flows) - 1, 1, -1)) + [0]

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """`noise` `(batch, 2, T)`, already scaled; returns log-durations `(batch, 1, T)`."""
        condition = self.proj(self.convs(self.pre(hidden_states), mask)) * mask
        latent = noise
        for index in self.inference_order:
            latent = self.flows[index].reverse(latent, mask, condition)
        return latent[:, :1]


class VitsVocoderWaveNet(nn.Module):
    """Non-causal WaveNet: `in_layers.i` (gated tanh * sigmoid), `res_skip_layers.i` (residual + skip halves; the
    last layer has only the skip half)."""

    def __init__(self, channels: int, kernel_size: int, dilation_rate: int, num_layers: int):
        super().__init__()
        self.channels = channels
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(num_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(nn.Conv1d(channels, 2 * channels, kernel_size, dilation=dilation, padding=padding))
            out_channels = 2 * channels if i < num_layers - 1 else channels
            self.res_skip_layers.append(nn.Conv1d(channels, out_channels, 1))

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        output = torch.zeros_like(hidden_states)
        last = len(self.in_layers) - 1
        for i, (in_layer, res_skip) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            gate = in_layer(hidden_states)
            acts = torch.tanh(gate[:, : self.channels]) * torch.sigmoid(gate[:, self.channels :])
            res_skip_acts = res_skip(acts)
            if i < last:
                hidden_states = (hidden_states + res_skip_acts[:, : self.channels]) * mask
                output = output + res_skip_acts[:, self.channels :]
            else:
                output = output + res_skip_acts
        return output * mask


class VitsVocoderCouplingLayer(nn.Module):
    """Mean-only residual coupling: `pre` -> WaveNet `enc` -> `post` predicts a shift of the second half."""

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__()
        self.half = config.latent_dim // 2
        self.pre = nn.Conv1d(self.half, config.flow_hidden_size, 1)
        self.enc = VitsVocoderWaveNet(
            config.flow_hidden_size, config.flow_kernel_size, config.flow_dilation_rate, config.flow_num_layers
        )
        self.post = nn.Conv1d(config.flow_hidden_size, self.half, 1)

    def reverse(self, inputs: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        first, second = inputs[:, : self.half], inputs[:, self.half :]
        shift = self.post(self.enc(self.pre(first) * mask, mask)) * mask
        return torch.cat([first, (second - shift) * mask], dim=1)


class VitsVocoderFlow(nn.Module):
    """`flows`: coupling layers at even indices, channel flips at odd ones; run in reverse for synthesis."""

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__()
        flows: list[nn.Module] = []
        for _ in range(config.flow_num_flows):
            flows += [VitsVocoderCouplingLayer(config), VitsVocoderFlip()]
        self.flows = nn.ModuleList(flows)

    def reverse(self, latent: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for flow in reversed(self.flows):
            latent = flow.reverse(latent, mask)
        return latent


# ----------------------------------------------------------------------------------------------------------------------
# Noise
# ----------------------------------------------------------------------------------------------------------------------


def _position_key(seed: int, position: int, num_units: int, unit_offset: int) -> list[int]:
    """
    Seed of the noise of Piper id position `position` in a sequence of `num_units` units whose first unit is unit
    `unit_offset` of the utterance: unit k and the pad after it use `(seed, 0, 2 k)` and `(seed, 0, 2 k + 1)` with k
    absolute; bos, the pad after it and eos use `(seed, 1, 0 / 1 / 2)`.
    """
    if position < 2:
        return [seed, _SPECIAL_STREAM, position]
    if position >= 2 * num_units + 2:
        return [seed, _SPECIAL_STREAM, 2]
    return [seed, _UNIT_STREAM, 2 * unit_offset + position - 2]


def position_noise(seed: int, key_position: int, num_units: int, unit_offset: int, frames: int, channels: int):
    """`(duration_noise (2,), prior_noise (channels, frames))` of one Piper id position, float32 numpy arrays. The
    draws are sequential, so the prior noise of the first frames does not depend on `frames`."""
    rng = np.random.default_rng(_position_key(seed, key_position, num_units, unit_offset))
    values = rng.standard_normal(2 + channels * frames, dtype=np.float32)
    return values[:2], values[2:].reshape(frames, channels).T


# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------


class LlamaOmniVitsVocoderPreTrainedModel(PreTrainedModel):
    config: LlamaOmniVitsVocoderConfig
    config_class = LlamaOmniVitsVocoderConfig
    base_model_prefix = "vits_vocoder"
    main_input_name = "units"
    supports_gradient_checkpointing = False
    _no_split_modules = []

    def _init_weights(self, module: nn.Module):
        super()._init_weights(module)
        if isinstance(module, VitsVocoderLayerNorm):
            init.ones_(module.gamma)
            init.zeros_(module.beta)
        elif isinstance(module, VitsVocoderRelativeAttention):
            init.normal_(module.emb_rel_k, mean=0.0, std=module.head_dim**-0.5)
            init.normal_(module.emb_rel_v, mean=0.0, std=module.head_dim**-0.5)
        elif isinstance(module, VitsVocoderElementwiseAffine):
            init.zeros_(module.m)
            init.zeros_(module.logs)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=module.embedding_dim**-0.5)


class LlamaOmniVitsVocoder(LlamaOmniVitsVocoderPreTrainedModel):
    """
    A Piper VITS voice as a unit vocoder: phoneme ids -> waveform at `config.sampling_rate`.

    Modules: `text_encoder` ([`VitsVocoderTextEncoder`]: `emb`, `encoder`, `proj`), `duration_predictor`
    ([`VitsVocoderStochasticDurationPredictor`]), `flow` ([`VitsVocoderFlow`]) and `generator` (the HiFi-GAN decoder,
    [`UnitVocoderGenerator`]). Only the inference direction is implemented (no posterior encoder, no training flows).

    Use `forward(units)` for units (phoneme ids without pads / bos / eos; deterministic per-position noise),
    `synthesize_ids` for full Piper id sequences with explicit noise, and `stream()` for chunked vocoding.
    """

    def __init__(self, config: LlamaOmniVitsVocoderConfig):
        super().__init__(config)
        self.text_encoder = VitsVocoderTextEncoder(config)
        self.duration_predictor = VitsVocoderStochasticDurationPredictor(config)
        self.flow = VitsVocoderFlow(config)
        self.generator = UnitVocoderGenerator(UnitVocoderConfig(**config.generator_config_kwargs()))
        self.post_init()

    @property
    def hop_length(self) -> int:
        """Waveform samples per latent frame (256 for the Piper medium voices)."""
        return self.generator.hop_length

    # -- ids and checks ------------------------------------------------------------------------------------------------

    def units_to_piper_ids(self, units: Sequence[int]) -> list[int]:
        """
        Piper's id sequence of `units`: `bos pad u1 pad u2 pad ... un pad eos` (piper-phonemize: the pad is
        interspersed after bos and after every phoneme; the voices were trained on this).
        """
        config = self.config
        ids = [config.bos_token_id, config.pad_token_id]
        for unit in units:
            ids += [int(unit), config.pad_token_id]
        return ids + [config.eos_token_id]

    def _check_units(self, units, unit_lengths) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(units, (list, tuple)):
            if units and all(isinstance(u, (int, np.integer)) for u in units):
                units = [units]
            lengths = [len(u) for u in units]
            if not units or max(lengths, default=0) == 0:
                raise ValueError("units is empty: give at least one phoneme id")
            width = max(lengths)
            units = torch.tensor([list(u) + [0] * (width - len(u)) for u in units], dtype=torch.long)
            if unit_lengths is None:
                unit_lengths = torch.tensor(lengths, dtype=torch.long)
        if not isinstance(units, torch.Tensor):
            raise ValueError(f"units must be a tensor or a list of ids, got {type(units).__name__}")
        if units.dtype.is_floating_point or units.dtype == torch.bool:
            raise ValueError(f"units must hold integer phoneme ids, got dtype {units.dtype}")
        if units.dim() == 1:
            units = units.unsqueeze(0)
        if units.dim() != 2 or units.shape[1] == 0:
            raise ValueError(f"units must have shape (batch, length) with length >= 1, got {tuple(units.shape)}")
        if unit_lengths is None:
            unit_lengths = torch.full((units.shape[0],), units.shape[1], dtype=torch.long)
        unit_lengths = torch.as_tensor(unit_lengths, dtype=torch.long).reshape(-1).cpu()
        if unit_lengths.shape[0] != units.shape[0]:
            raise ValueError(f"unit_lengths has {unit_lengths.shape[0]} entries for a batch of {units.shape[0]}")
        if (unit_lengths < 1).any() or (unit_lengths > units.shape[1]).any():
            raise ValueError(f"unit_lengths must be in [1, {units.shape[1]}], got {unit_lengths.tolist()}")
        units = units.cpu()
        vocab = self.config.unit_vocab_size
        for b, length in enumerate(unit_lengths.tolist()):
            valid = units[b, :length]
            if valid.min() < 0 or valid.max() >= vocab:
                raise ValueError(
                    f"phoneme ids must be in [0, {vocab - 1}] (config.unit_vocab_size), got min {int(valid.min())} "
                    f"and max {int(valid.max())} in batch entry {b}"
                )
        return units, unit_lengths

    def _scales(self, noise_scale, length_scale, noise_w) -> tuple[float, float, float]:
        config = self.config
        noise_scale = float(config.noise_scale if noise_scale is None else noise_scale)
        length_scale = float(config.length_scale if length_scale is None else length_scale)
        noise_w = float(config.noise_w if noise_w is None else noise_w)
        if not (noise_scale >= 0 and noise_w >= 0 and length_scale > 0):
            raise ValueError(
                f"need noise_scale >= 0, noise_w >= 0 and length_scale > 0, got {noise_scale}, {noise_w}, "
                f"{length_scale}"
            )
        return noise_scale, length_scale, noise_w

    # -- the VITS inference path ---------------------------------------------------------------------------------------

    def _encode_and_durations(self, input_ids, input_lengths, duration_noise, length_scale):
        mask = _sequence_mask(input_lengths, input_ids.shape[1], self.dtype)
        hidden_states, mean, log_std = self.text_encoder(input_ids, mask)
        log_durations = self.duration_predictor(hidden_states, mask, duration_noise)
        durations = torch.ceil(torch.exp(log_durations) * mask * length_scale)[:, 0].long()
        return mask, mean, log_std, durations

    def _decode(self, mean, log_std, durations, prior_noise, noise_scale):
        """Expands the prior to frames, samples z_p with `prior_noise` (batch, latent, >= frames), runs the flow in
        reverse and the decoder; returns `(waveform, frame_lengths)`."""
        frame_lengths = durations.sum(dim=1).clamp_min(1)
        max_frames = int(frame_lengths.max())
        batch, channels = mean.shape[0], mean.shape[1]
        prior_mean = mean.new_zeros(batch, channels, max_frames)
        prior_log_std = mean.new_zeros(batch, channels, max_frames)
        for b in range(batch):
            frames = int(durations[b].sum())
            prior_mean[b, :, :frames] = torch.repeat_interleave(mean[b], durations[b], dim=1)
            prior_log_std[b, :, :frames] = torch.repeat_interleave(log_std[b], durations[b], dim=1)
        if prior_noise is None:
            noise = torch.zeros_like(prior_mean)
        else:
            if prior_noise.shape[0] != batch or prior_noise.shape[1] != channels or prior_noise.shape[2] < max_frames:
                raise ValueError(
                    f"prior_noise must have shape (batch={batch}, {channels}, >= {max_frames} frames), got "
                    f"{tuple(prior_noise.shape)}"
                )
            noise = prior_noise[:, :, :max_frames].to(prior_mean)
        latent_mask = _sequence_mask(frame_lengths, max_frames, mean.dtype)
        latent = (prior_mean + noise * torch.exp(prior_log_std) * noise_scale) * latent_mask
        latent = self.flow.reverse(latent, latent_mask) * latent_mask
        lengths = None if batch == 1 else frame_lengths
        waveform = self.generator(latent, lengths)
        return waveform, frame_lengths

    @torch.no_grad()
    def synthesize_ids(
        self,
        input_ids: torch.LongTensor,
        input_lengths: torch.LongTensor | None = None,
        duration_noise: torch.Tensor | None = None,
        prior_noise: torch.Tensor | None = None,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
    ) -> LlamaOmniVitsVocoderOutput:
        """
        VITS inference on full Piper id sequences (with bos / pads / eos) and explicit standard-normal noise, as the
        exported ONNX voice computes it.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, num_ids)`): Piper id sequences, right-padded.
            input_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid ids of each row.
            duration_noise (`torch.FloatTensor` of shape `(batch_size, 2, num_ids)`, *optional*): the duration
                predictor's noise (multiplied by `noise_w`); zeros if not given.
            prior_noise (`torch.FloatTensor` of shape `(batch_size, latent_dim, >= num_frames)`, *optional*): the
                prior noise per latent frame (multiplied by `noise_scale * exp(logs)`), cropped to the frames;
                zeros if not given.
            noise_scale, length_scale, noise_w (`float`, *optional*): default to the config's.

        Raises:
            ValueError: ids outside `[0, vocab_size)`, bad shapes or scales.
        """
        noise_scale, length_scale, noise_w = self._scales(noise_scale, length_scale, noise_w)
        if input_ids.dim() != 2 or input_ids.shape[1] == 0:
            raise ValueError(f"input_ids must have shape (batch, num_ids) with num_ids >= 1, got {tuple(input_ids.shape)}")
        if input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size:
            raise ValueError(f"input_ids must be in [0, {self.config.vocab_size - 1}]")
        device = self.device
        input_ids = input_ids.to(device)
        if input_lengths is None:
            input_lengths = torch.full((input_ids.shape[0],), input_ids.shape[1], dtype=torch.long)
        input_lengths = torch.as_tensor(input_lengths, dtype=torch.long, device=device)
        if duration_noise is None:
            duration_noise = torch.zeros(input_ids.shape[0], 2, input_ids.shape[1], device=device, dtype=self.dtype)
        if tuple(duration_noise.shape) != (input_ids.shape[0], 2, input_ids.shape[1]):
            raise ValueError(
                f"duration_noise must have shape {(input_ids.shape[0], 2, input_ids.shape[1])}, got "
                f"{tuple(duration_noise.shape)}"
            )
        duration_noise = duration_noise.to(device=device, dtype=self.dtype) * noise_w
        _, mean, log_std, durations = self._encode_and_durations(input_ids, input_lengths, duration_noise, length_scale)
        if prior_noise is not None:
            prior_noise = prior_noise.to(device=device, dtype=self.dtype)
        waveform, frame_lengths = self._decode(mean, log_std, durations, prior_noise, noise_scale)
        return LlamaOmniVitsVocoderOutput(
            waveform=waveform,
            waveform_lengths=frame_lengths * self.hop_length,
            durations=durations,
            input_ids=input_ids,
        )

    @torch.no_grad()
    def forward(
        self,
        units: torch.LongTensor | Sequence[int] | Sequence[Sequence[int]],
        unit_lengths: torch.LongTensor | None = None,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
        unit_offset: int = 0,
        return_dict: bool | None = None,
    ) -> LlamaOmniVitsVocoderOutput | tuple:
        """
        Vocodes phoneme ids.

        Args:
            units (`torch.LongTensor` of shape `(batch_size, num_units)`, or a list of ids / of id lists): phoneme ids
                in `[0, unit_vocab_size)` WITHOUT interspersed pads and without bos / eos (added here, Piper's way).
            unit_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid units per row (right
                padding); each row's waveform equals the one it gets alone.
            noise_scale, length_scale, noise_w (`float`, *optional*): default to the config's (the voice's json).
            unit_offset (`int`, *optional*, defaults to 0): absolute position of the first unit in its utterance
                (the noise of unit k is keyed by `(config.seed, unit_offset + k)`); used by the stream.

        Returns:
            [`LlamaOmniVitsVocoderOutput`]: `waveform (batch, samples)`, `waveform_lengths`, `durations` (frames
            per Piper id), `input_ids`.

        Raises:
            ValueError: empty input, ids out of range, bad lengths or scales.
        """
        if isinstance(unit_offset, bool) or not isinstance(unit_offset, (int, np.integer)) or unit_offset < 0:
            raise ValueError(f"unit_offset must be a non-negative integer, got {unit_offset!r}")
        unit_offset = int(unit_offset)
        noise_scale, length_scale, noise_w = self._scales(noise_scale, length_scale, noise_w)
        units, unit_lengths = self._check_units(units, unit_lengths)
        batch = units.shape[0]
        sequences = [self.units_to_piper_ids(units[b, : int(unit_lengths[b])].tolist()) for b in range(batch)]
        id_lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
        width = int(id_lengths.max())
        input_ids = torch.full((batch, width), self.config.pad_token_id, dtype=torch.long)
        duration_noise = torch.zeros(batch, 2, width)
        seed, channels = int(self.config.seed), self.config.latent_dim
        for b, sequence in enumerate(sequences):
            input_ids[b, : len(sequence)] = torch.tensor(sequence)
            n = int(unit_lengths[b])
            for position in range(len(sequence)):
                first, _ = position_noise(seed, position, n, unit_offset, 0, channels)
                duration_noise[b, :, position] = torch.from_numpy(first)
        device = self.device
        input_ids, id_lengths = input_ids.to(device), id_lengths.to(device)
        duration_noise = duration_noise.to(device=device, dtype=self.dtype) * noise_w
        _, mean, log_std, durations = self._encode_and_durations(input_ids, id_lengths, duration_noise, length_scale)
        frames_per_id = durations.cpu().tolist()
        max_frames = max(1, max(sum(row) for row in frames_per_id))
        prior_noise = np.zeros((batch, channels, max_frames), dtype=np.float32)
        for b, row in enumerate(frames_per_id):
            n, start = int(unit_lengths[b]), 0
            for position, frames in enumerate(row[: len(sequences[b])]):
                if frames:
                    _, noise = position_noise(seed, position, n, unit_offset, frames, channels)
                    prior_noise[b, :, start : start + frames] = noise
                    start += frames
        prior = torch.from_numpy(prior_noise).to(device=device, dtype=self.dtype)
        waveform, frame_lengths = self._decode(mean, log_std, durations, prior, noise_scale)
        output = LlamaOmniVitsVocoderOutput(
            waveform=waveform,
            waveform_lengths=frame_lengths * self.hop_length,
            durations=durations,
            input_ids=input_ids,
        )
        if return_dict is False:
            return output.to_tuple()
        return output

    def stream(self, **kwargs) -> "LlamaOmniVitsStream":
        """A [`LlamaOmniVitsStream`] over this model (`push(units)` / `flush()`); `kwargs` are its settings."""
        return LlamaOmniVitsStream(self, **kwargs)

    def save_pretrained(self, save_directory, *args, remote_code: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained`; with `remote_code=True` also the code files and their `auto_map`, so
        the folder loads with `AutoModel.from_pretrained(folder, trust_remote_code=True)` without this package."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if remote_code:
            write_vits_vocoder_remote_code(save_directory)
        return result


def write_vits_vocoder_remote_code(save_directory) -> list[str]:
    """The VITS vocoder's code files and `auto_map` (`AutoConfig`, `AutoModel`) in a saved vocoder folder."""
    from .modeling_unit_vocoder import write_code_and_auto_map

    return write_code_and_auto_map(
        save_directory, {"AutoConfig": LlamaOmniVitsVocoderConfig, "AutoModel": LlamaOmniVitsVocoder}
    )


# ----------------------------------------------------------------------------------------------------------------------
# Streaming
# ----------------------------------------------------------------------------------------------------------------------


class LlamaOmniVitsStream:
    r"""
    Chunked VITS vocoding with the `push(units) -> audio` / `flush() -> audio` interface of `UnitVocoderStream`.

    Chunks end right after a boundary unit (`config.boundary_ids`: word gaps and punctuation). A chunk of units
    `[s, e)` is cut once it holds at least `first_chunk_units` (first chunk) / `chunk_units` (later chunks) units
    and `first_lookahead_units` / `lookahead_units` units after `e` are known (the latest such boundary is taken);
    without any boundary for `max_chunk_units` units, a chunk is cut anyway. Each chunk is vocoded on the window
    `[s - left_context_units, e + lookahead)` (with Piper's bos / pads / eos, noise keyed by the absolute unit
    position, so every phoneme gets the noise it gets one-shot); the chunk's samples are located from the predicted
    durations (frames of ids), and consecutive chunks are joined with a linear crossfade of `crossfade_ms` over the
    tail of the previous chunk (held back until the next chunk or `flush`).

    Differences to one-shot vocoding come from context only (the text encoder, duration predictor, flow and decoder
    see a truncated window). VITS durations depend on a wide context (the duration predictor's stacked dilated
    convolutions reach ~40 phonemes), so a chunk's frame count can differ from one-shot by a few frames; the
    chunk is cut at phoneme boundaries of its own window, so nothing is skipped or repeated.

    Measured on the joe voice (3 sentences of 88-96 phonemes, pushes of 4 phonemes, one thread; these defaults but a
    first chunk of >= 6 units with 4 of lookahead):
    streamed length / one-shot length 1.003-1.058; log-mel L1 along a DTW alignment 0.66-0.83, where two one-shot
    renderings with different noise seeds differ by 0.49-0.54; mean spectral change (log-mel frame-to-frame L1, max
    over +-1 frame) at the joins 0.79-1.19, vs 1.50-1.72 at the same phoneme boundaries one-shot and 1.17-1.25 over
    all frames (no clicks); first audio once 16 phonemes are pushed (first chunk 9-11 phonemes). Real-time factor,
    streamed and one-shot: `benchmarks/vits_vocoder_rtf.py` (results in `benchmarks/results/`). With `left_context_units=8, lookahead_units=10, crossfade_ms=5`
    instead: lengths up to +6.8 %, DTW distance 0.75-0.88, and joins 1.3-1.7x the all-frames spectral change (the
    longer crossfade is what makes the joins smooth).

    Args:
        model ([`LlamaOmniVitsVocoder`]): the vocoder, in eval mode.
        first_chunk_units (`int`, *optional*, defaults to 3): minimum units of the first chunk (an answer's first
            word, e.g. "The", is enough).
        first_lookahead_units (`int`, *optional*, defaults to 3): right context of the first chunk. Shorter
            first chunks give earlier first audio (benchmarks/tiny_quality.py measures it); with 2 the first join
            was rougher than tests/test_vits_vocoder.py's joe seam check allows.
        chunk_units (`int`, *optional*, defaults to 12): minimum units of later chunks.
        lookahead_units (`int`, *optional*, defaults to 12): right context of later chunks.
        left_context_units (`int`, *optional*, defaults to 12): already-vocoded units re-run on the left.
        max_chunk_units (`int`, *optional*, defaults to 64): cut without a boundary after this many units.
        crossfade_ms (`float`, *optional*, defaults to 30.0): crossfade at joins, in milliseconds.
        noise_scale, length_scale, noise_w (`float`, *optional*): as in `forward`.

    Raises:
        ValueError: on bad settings or a model in training mode.
    """

    def __init__(
        self,
        model: LlamaOmniVitsVocoder,
        first_chunk_units: int = 3,
        first_lookahead_units: int = 3,
        chunk_units: int = 12,
        lookahead_units: int = 12,
        left_context_units: int = 12,
        max_chunk_units: int = 64,
        crossfade_ms: float = 30.0,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
    ):
        if model.training:
            raise ValueError("the vocoder is in training mode: call .eval() first")
        settings = {
            "first_chunk_units": first_chunk_units,
            "first_lookahead_units": first_lookahead_units,
            "chunk_units": chunk_units,
            "lookahead_units": lookahead_units,
            "left_context_units": left_context_units,
            "max_chunk_units": max_chunk_units,
        }
        for name, value in settings.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if max_chunk_units < 1 or first_chunk_units < 1 or chunk_units < 1:
            raise ValueError("first_chunk_units, chunk_units and max_chunk_units must be >= 1")
        if not float(crossfade_ms) >= 0:
            raise ValueError(f"crossfade_ms must be non-negative, got {crossfade_ms!r}")
        self.model = model
        self.__dict__.update(settings)
        self.scales = model._scales(noise_scale, length_scale, noise_w)
        self.sampling_rate = model.config.sampling_rate
        self.crossfade = int(round(float(crossfade_ms) * self.sampling_rate / 1000))
        self.boundaries = set(model.config.boundary_ids)
        self.units: list[int] = []
        self.done_units = 0  # units whose audio was produced (except the held-back crossfade tail)
        self.tail = np.zeros(0, dtype=np.float32)  # last samples of the previous chunk, not yet returned
        self.emitted_samples = 0
        self.chunk_sizes: list[int] = []  # units per chunk (for diagnostics)
        self.seams: list[int] = []  # output samples where chunks join (for diagnostics)
        self.finished = False

    def push(self, units: Sequence[int] | torch.Tensor) -> np.ndarray:
        """
        Adds units (phoneme ids without pads / bos / eos) and returns the audio that is now final.

        Returns:
            `np.ndarray` float32 `(num_new_samples,)` at `sampling_rate` (possibly empty).

        Raises:
            ValueError: ids out of range or not integers; RuntimeError after `flush()`.
        """
        if self.finished:
            raise RuntimeError("this stream was flushed: start a new one with model.stream()")
        array = units.detach().cpu().numpy() if isinstance(units, torch.Tensor) else np.asarray(units)
        array = array.reshape(-1)
        if array.size:
            if not np.issubdtype(array.dtype, np.integer):
                raise ValueError(f"units must be integers, got dtype {array.dtype}")
            vocab = self.model.config.unit_vocab_size
            if array.min() < 0 or array.max() >= vocab:
                raise ValueError(f"unit ids must be in [0, {vocab - 1}], got min {array.min()} and max {array.max()}")
            self.units.extend(int(u) for u in array)
        pieces = []
        while (cut := self._next_cut()) is not None:
            pieces.append(self._vocode_chunk(cut, final=False))
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """Vocodes every remaining unit and returns the rest of the audio (float32, possibly empty)."""
        if self.finished:
            return np.zeros(0, dtype=np.float32)
        self.finished = True
        if self.done_units < len(self.units):
            return self._vocode_chunk(len(self.units), final=True)
        tail, self.tail = self.tail, np.zeros(0, dtype=np.float32)
        self.emitted_samples += tail.size
        return tail

    def _next_cut(self) -> int | None:
        """End (exclusive) of the next chunk if one can be cut now."""
        first = self.done_units == 0
        minimum = self.first_chunk_units if first else self.chunk_units
        lookahead = self.first_lookahead_units if first else self.lookahead_units
        start, total = self.done_units, len(self.units)
        best = None
        for end in range(start + minimum, total - lookahead + 1):
            if self.units[end - 1] in self.boundaries:
                best = end
        if best is None and total - lookahead - start >= self.max_chunk_units:
            best = start + self.max_chunk_units
        return best

    def _vocode_chunk(self, end: int, final: bool) -> np.ndarray:
        start = self.done_units
        lookahead = self.first_lookahead_units if start == 0 else self.lookahead_units
        window_start = max(0, start - self.left_context_units)
        window_end = len(self.units) if final else min(len(self.units), end + lookahead)
        noise_scale, length_scale, noise_w = self.scales
        output = self.model(
            [self.units[window_start:window_end]],
            noise_scale=noise_scale,
            length_scale=length_scale,
            noise_w=noise_w,
            unit_offset=window_start,
        )
        hop = self.model.hop_length
        frame_ends = np.cumsum(output.durations[0].cpu().numpy())
        waveform = output.waveform[0, : int(output.waveform_lengths[0])].float().cpu().numpy()
        # Piper id position of unit k of the window: 2 + 2 k; the chunk spans the ids of units [start, end) and
        # their pads, plus bos / pad at the very start and eos at the very end.
        first_id = 2 + 2 * (start - window_start)
        sample_start = 0 if start == 0 else int(frame_ends[first_id - 1]) * hop
        sample_end = waveform.size if final else int(frame_ends[2 + 2 * (end - window_start) - 1]) * hop
        overlap = min(self.tail.size, sample_start)
        chunk = waveform[sample_start - overlap : sample_end]
        if overlap:
            fade = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
            head = self.tail[self.tail.size - overlap :] * (1 - fade) + chunk[:overlap] * fade
            chunk = np.concatenate([self.tail[: self.tail.size - overlap], head, chunk[overlap:]])
        else:
            chunk = np.concatenate([self.tail, chunk])
        self.chunk_sizes.append(end - start)
        if start > 0:  # output sample where this chunk's crossfade starts
            self.seams.append(self.emitted_samples + self.tail.size - overlap)
        self.done_units = end
        hold = 0 if final else min(self.crossfade, chunk.size)
        self.tail = chunk[chunk.size - hold :].astype(np.float32)
        emitted = chunk[: chunk.size - hold].astype(np.float32)
        self.emitted_samples += emitted.size
        return emitted


__all__ = [
    "LlamaOmniVitsStream",
    "LlamaOmniVitsVocoder",
    "LlamaOmniVitsVocoderOutput",
    "LlamaOmniVitsVocoderPreTrainedModel",
    "VitsVocoderStochasticDurationPredictor",
    "VitsVocoderTextEncoder",
    "VitsVocoderFlow",
    "position_noise",
    "write_vits_vocoder_remote_code",
]
