# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The unit vocoder of LLaMA-Omni: fairseq's CodeHiFiGAN as a transformers model, offline and streaming.

    units [B, T] (HuBERT k-means ids) -> unit embedding ("dict" in fairseq)
        -> duration predictor -> durations [B, T] (frames of 20 ms per unit)
        -> units repeated by their durations -> frames [B, F] -> HiFi-GAN generator -> waveform [B, F * 320] (16 kHz)

A second type behind the same interface (`config.vocoder_type = "latent_frontend"`), trainable on a CPU in
minutes: the frames' unit embeddings go through a small convolutional front-end (50 Hz), are resampled to the latent
frame rate of a pretrained VITS decoder (a Piper voice's HiFi-GAN generator: 256 samples per latent frame at
22 050 Hz, 441 samples per unit frame) on a global sample grid, and the decoder turns them into audio:

    frames [B, F] -> unit embedding -> front-end -> latent [B, 192, ~F * 441 / 256] -> VITS decoder
        -> waveform [B, F * 441] (22.05 kHz)

`UnitVocoderStream` (from `UnitVocoder.stream()`) turns the same model into a chunked vocoder for streaming: units
come in Omega at a time and audio comes out with bounded latency, close to the one-shot waveform and without clicks.

Weight norm convention: the model always holds plain convolution weights (that is also the saved format).
`apply_weight_norm()` re-parametrises the generator's convolutions for training (`torch.nn.utils.parametrizations`)
and `remove_weight_norm()` folds them back; `save_pretrained` saves folded weights either way.

This file imports only torch, transformers and its sibling `configuration_unit_vocoder.py`, so that both can be
copied into a model folder and loaded with `trust_remote_code=True` where this package is not installed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .configuration_unit_vocoder import UnitVocoderConfig

# Frames held back at the right edge of a stream by default (see `UnitVocoderStream` for the measurements).
DEFAULT_LOOKAHEAD_FRAMES = 8
DEFAULT_LATENT_LOOKAHEAD_FRAMES = 20  # latent_frontend vocoders


# ----------------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class UnitVocoderOutput(ModelOutput):
    r"""
    waveform (`torch.FloatTensor` of shape `(batch_size, num_samples)`):
        The 16 kHz waveforms in [-1, 1], right-padded with zeros to the longest one.
    waveform_lengths (`torch.LongTensor` of shape `(batch_size,)`):
        Number of valid samples of each waveform (`num_frames * hop_length`).
    durations (`torch.LongTensor` of shape `(batch_size, num_units)`):
        Frames (of `hop_length` samples) given to each unit; 0 at padded positions.
    """

    waveform: torch.FloatTensor | None = None
    waveform_lengths: torch.LongTensor | None = None
    durations: torch.LongTensor | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------


def _length_mask(lengths: torch.Tensor | None, max_length: int, dtype: torch.dtype) -> torch.Tensor | None:
    """`(batch, 1, max_length)` mask of the valid positions, or `None` when every sequence is full length."""
    if lengths is None or bool((lengths == max_length).all()):
        return None
    positions = torch.arange(max_length, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).to(dtype).unsqueeze(1)


def _masked(hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return hidden_states if mask is None else hidden_states * mask


class UnitVocoderDurationPredictor(nn.Module):
    """
    fairseq's `VariancePredictor` used as a duration predictor: Conv1d -> ReLU -> LayerNorm -> dropout -> Conv1d ->
    ReLU -> LayerNorm -> dropout -> Linear(1). It predicts log(1 + duration) of each unit, and sees
    `context_units` units on each side (two convolutions of kernel `k`: `2 * (k - 1) // 2`).
    """

    def __init__(self, config: UnitVocoderConfig):
        super().__init__()
        kernel_size = config.duration_predictor_kernel_size
        hidden_dim = config.duration_predictor_hidden_dim
        self.conv1 = nn.Conv1d(config.embedding_dim, hidden_dim, kernel_size, padding=(kernel_size - 1) // 2)
        self.ln1 = nn.LayerNorm(hidden_dim)
        self.conv2 = nn.Conv1d(hidden_dim, hidden_dim, kernel_size, padding=(kernel_size - 1) // 2)
        self.ln2 = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(config.duration_predictor_dropout)
        self.proj = nn.Linear(hidden_dim, 1)
        self.context_units = 2 * ((kernel_size - 1) // 2)

    def forward(self, unit_embeds: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            unit_embeds (`torch.FloatTensor` of shape `(batch_size, embedding_dim, num_units)`): unit embeddings.
            mask (`torch.FloatTensor` of shape `(batch_size, 1, num_units)`, *optional*): 1 at valid units. Padded
                positions are zeroed before each convolution, so a padded sample gets the same predictions as alone.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_units)`: predicted log(1 + duration).
        """
        hidden_states = F.relu(self.conv1(_masked(unit_embeds, mask)))
        hidden_states = self.dropout(self.ln1(hidden_states.transpose(1, 2))).transpose(1, 2)
        hidden_states = F.relu(self.conv2(_masked(hidden_states, mask)))
        hidden_states = self.dropout(self.ln2(hidden_states.transpose(1, 2)))
        return self.proj(hidden_states).squeeze(-1)


class UnitVocoderResidualBlock(nn.Module):
    """
    HiFi-GAN's type-1 residual block: for each dilation d, `x = x + conv2(lrelu(conv1_d(lrelu(x))))`, where `conv1_d`
    has kernel `k` and dilation `d`, and `conv2` kernel `k` and dilation 1 (both keep the length).
    """

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], leaky_relu_slope: float):
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope
        self.kernel_size = kernel_size
        self.dilations = list(dilations)
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=(kernel_size - 1) * d // 2)
            for d in self.dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2) for _ in self.dilations
        )

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(batch, channels, length)` -> same shape; `mask` `(batch, 1, length)` zeroes padded positions."""
        for conv1, conv2 in zip(self.convs1, self.convs2):
            residual = hidden_states
            hidden_states = _masked(conv1(F.leaky_relu(hidden_states, self.leaky_relu_slope)), mask)
            hidden_states = _masked(conv2(F.leaky_relu(hidden_states, self.leaky_relu_slope)), mask)
            hidden_states = hidden_states + residual
        return hidden_states


class UnitVocoderResidualBlock2(nn.Module):
    """
    HiFi-GAN's type-2 residual block (the VITS / Piper "medium" decoders): for each dilation d,
    `x = x + convs_d(lrelu(x))`, a kernel-`k` convolution with dilation `d` that keeps the length.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], leaky_relu_slope: float):
        super().__init__()
        self.leaky_relu_slope = leaky_relu_slope
        self.kernel_size = kernel_size
        self.dilations = list(dilations)
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=(kernel_size - 1) * d // 2)
            for d in self.dilations
        )

    def forward(self, hidden_states: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """`(batch, channels, length)` -> same shape; `mask` `(batch, 1, length)` zeroes padded positions."""
        for conv in self.convs:
            hidden_states = _masked(conv(F.leaky_relu(hidden_states, self.leaky_relu_slope)), mask) + hidden_states
        return hidden_states


def _residual_block_convolutions(block: nn.Module) -> list[nn.Module]:
    """The convolutions of a type-1 or type-2 residual block, in forward order."""
    if isinstance(block, UnitVocoderResidualBlock2):
        return list(block.convs)
    layers = []
    for conv1, conv2 in zip(block.convs1, block.convs2):
        layers.extend([conv1, conv2])
    return layers


def _residual_block_receptive_interval(block: nn.Module, interval: tuple[int, int]) -> tuple[int, int]:
    """Input positions `(first, last)` that the output positions `interval` of a residual block depend on."""
    a, b = interval
    k = block.kernel_size
    for dilation in reversed(block.dilations):  # the residual chain: widen by each convolution, last one first
        if not isinstance(block, UnitVocoderResidualBlock2):
            a, b = a - (k - 1) // 2, b + (k - 1) // 2  # conv2 (dilation 1)
        a, b = a - (k - 1) * dilation // 2, b + (k - 1) * dilation // 2
    return a, b


class UnitVocoderGenerator(nn.Module):
    """
    The HiFi-GAN generator: `conv_pre` (k=7) -> for each upsampling layer i: leaky ReLU -> `ups.i`
    (ConvTranspose1d, stride u_i, padding (k_i - u_i) // 2, halves the channels) -> mean of the parallel residual
    blocks `resblocks.{i * n + j}` (type 1 or 2, `config.resblock_type`) -> leaky ReLU (slope 0.01) -> `conv_post`
    (k=7, 1 channel) -> tanh.

    Its input is the unit embedding of each frame (`code_hifigan`) or the `latent_dim`-channel latent frames of a
    VITS decoder (`latent_frontend`). Each input frame gives exactly `prod(upsample_rates)` output samples.
    """

    def __init__(self, config: UnitVocoderConfig):
        super().__init__()
        self.leaky_relu_slope = config.leaky_relu_slope
        self.upsample_rates = list(config.upsample_rates)
        self.num_kernels = len(config.resblock_kernel_sizes)
        channels = config.upsample_initial_channel
        in_channels = config.latent_dim if config.vocoder_type == "latent_frontend" else config.embedding_dim
        block_class = UnitVocoderResidualBlock2 if config.resblock_type == "2" else UnitVocoderResidualBlock
        self.conv_pre = nn.Conv1d(in_channels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel_size in zip(config.upsample_rates, config.upsample_kernel_sizes):
            self.ups.append(
                nn.ConvTranspose1d(channels, channels // 2, kernel_size, stride=rate, padding=(kernel_size - rate) // 2)
            )
            channels //= 2
            for res_kernel, dilations in zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes):
                self.resblocks.append(block_class(channels, res_kernel, dilations, config.leaky_relu_slope))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3, bias=config.conv_post_bias)

    def weight_normed_convolutions(self) -> list[nn.Module]:
        """The convolutions that carry weight norm during training (all of them), in forward order."""
        layers = [self.conv_pre]
        for i, up in enumerate(self.ups):
            layers.append(up)
            for block in self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]:
                layers.extend(_residual_block_convolutions(block))
        layers.append(self.conv_post)
        return layers

    def forward(self, frame_embeds: torch.Tensor, frame_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            frame_embeds (`torch.FloatTensor` of shape `(batch_size, embedding_dim, num_frames)`): frame features.
            frame_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid frames of each sample
                (right padding). Every convolution's input is zeroed past them, so each sample's waveform equals the
                one it gets alone, and the padded samples are 0.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_frames * hop_length)`.
        """
        length = frame_embeds.shape[-1]
        scale = 1
        mask = _length_mask(frame_lengths, length, frame_embeds.dtype)
        hidden_states = _masked(self.conv_pre(_masked(frame_embeds, mask)), mask)
        for i, rate in enumerate(self.upsample_rates):
            scale *= rate
            mask = None if mask is None else _length_mask(frame_lengths * scale, length * scale, frame_embeds.dtype)
            hidden_states = self.ups[i](F.leaky_relu(hidden_states, self.leaky_relu_slope))
            hidden_states = _masked(hidden_states, mask)
            merged = self.resblocks[i * self.num_kernels](hidden_states, mask)
            for j in range(1, self.num_kernels):
                merged = merged + self.resblocks[i * self.num_kernels + j](hidden_states, mask)
            hidden_states = merged / self.num_kernels
        hidden_states = self.conv_post(F.leaky_relu(hidden_states))  # slope 0.01, as in HiFi-GAN
        return _masked(torch.tanh(hidden_states), mask).squeeze(1)

    def receptive_field(self) -> tuple[int, int]:
        """
        Receptive field of the generator in frames: `(left, right)` such that the samples of frame f depend only on
        input frames `f - left .. f + right`. Computed exactly from the layer shapes by propagating an index
        interval backwards through every layer.
        """

        def conv(interval, kernel_size, dilation, padding):
            a, b = interval
            return a - padding, b - padding + (kernel_size - 1) * dilation

        interval = (0, self.hop_length - 1)  # the samples of frame 0
        interval = conv(interval, 7, 1, 3)  # conv_post
        for i in reversed(range(len(self.upsample_rates))):
            lows, highs = [interval[0]], [interval[1]]
            for block in self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]:
                a, b = _residual_block_receptive_interval(block, interval)
                lows.append(a)
                highs.append(b)
            a, b = min(lows), max(highs)
            up = self.ups[i]
            kernel_size, stride, padding = up.kernel_size[0], up.stride[0], up.padding[0]
            # out[n] += in[m] * w[n + padding - m * stride] for 0 <= n + padding - m * stride < kernel_size
            interval = (-((kernel_size - 1 - a - padding) // stride), (b + padding) // stride)
        first, last = conv(interval, 7, 1, 3)  # conv_pre
        return -first, last

    @property
    def hop_length(self) -> int:
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        return hop


def _conv_radius(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size - 1) * dilation // 2


class UnitVocoderLatentFrontend(nn.Module):
    """
    The front-end of a `latent_frontend` vocoder: frame unit embeddings at the unit frame rate (50 Hz) -> latent
    frames of a VITS decoder at its own frame rate (`latent_hop_length` = 256 samples at 22 050 Hz, ~86.13 Hz).

    `conv_in` (embedding_dim -> hidden, kernel k) -> type-1 residual blocks (`frontend_dilations`) at 50 Hz ->
    linear interpolation to the latent frame centres -> type-1 residual blocks (`frontend_latent_dilations`) at the
    latent rate -> `proj` (1x1, hidden -> latent_dim); with `frontend_unit_latents`, plus each frame's entry of the
    per-unit latent table `unit_latents` (resampled the same way).

    The resampling is anchored on a global sample grid: unit frame `f` covers samples `[f * H, (f + 1) * H)` (H =
    `hop_length`, 441) and latent frame `j` covers `[j * L, (j + 1) * L)` (L = `latent_hop_length`, 256), counted from
    the start of the utterance. A chunk of unit frames starting at frame `frame_offset` therefore gets latent frames
    on the same grid as the whole utterance, and the interpolation weights are computed with integers, so a streamed
    chunk reproduces the one-shot latent wherever its context suffices.
    """

    def __init__(self, config: UnitVocoderConfig):
        super().__init__()
        hidden, kernel = config.frontend_hidden_dim, config.frontend_kernel_size
        self.hop_length = config.hop_length
        self.latent_hop_length = config.latent_hop_length
        self.conv_in = nn.Conv1d(config.embedding_dim, hidden, kernel, padding=(kernel - 1) // 2)
        self.blocks = nn.ModuleList(
            UnitVocoderResidualBlock(hidden, kernel, dilations, config.leaky_relu_slope)
            for dilations in config.frontend_dilations
        )
        self.latent_blocks = nn.ModuleList(
            UnitVocoderResidualBlock(hidden, kernel, dilations, config.leaky_relu_slope)
            for dilations in config.frontend_latent_dilations
        )
        self.proj = nn.Conv1d(hidden, config.latent_dim, 1)
        self.unit_latents = (
            nn.Embedding(config.unit_vocab_size, config.latent_dim) if config.frontend_unit_latents else None
        )
        self.leaky_relu_slope = config.leaky_relu_slope

    def latent_span(
        self, frame_offset: torch.Tensor | int, num_frames: torch.Tensor | int
    ) -> tuple[torch.Tensor | int, torch.Tensor | int]:
        """
        `(first, count)`: the latent frames `first .. first + count - 1` that cover the samples of unit frames
        `frame_offset .. frame_offset + num_frames - 1` (element-wise for tensors).
        """
        hop, latent_hop = self.hop_length, self.latent_hop_length
        first = (hop * frame_offset) // latent_hop
        end = hop * (frame_offset + num_frames)
        last_exclusive = (end + latent_hop - 1) // latent_hop  # ceil
        return first, last_exclusive - first

    def interpolation(self, frame_offset: torch.Tensor | int, first: torch.Tensor | int, count: int, device=None):
        """
        For latent frames `first .. first + count - 1`: `(index, weight)`, the local unit-frame index `i` (relative to
        `frame_offset`, possibly out of range) and weight `w` such that the latent frame's centre lies at
        `(1 - w) * frame i + w * frame (i + 1)` (frame centres). Computed exactly with integers. With `(batch_size,)`
        tensors `frame_offset` and `first`, the results have shape `(batch_size, count)`, else `(count,)`.
        """
        hop, latent_hop = self.hop_length, self.latent_hop_length
        frame_offset = torch.as_tensor(frame_offset, device=device, dtype=torch.long)
        first = torch.as_tensor(first, device=device, dtype=torch.long)
        j = first[..., None] + torch.arange(count, device=device, dtype=torch.long)
        # centre of latent j in half-samples: 2 L j + L; centre of unit frame f: 2 H f + H
        numerator = 2 * latent_hop * j + latent_hop - hop
        index = torch.div(numerator, 2 * hop, rounding_mode="floor")
        weight = (numerator - 2 * hop * index).float() / (2 * hop)  # the same float for a chunk and the whole
        return index - frame_offset[..., None], weight

    def forward(
        self,
        frame_embeds: torch.Tensor,
        frame_lengths: torch.Tensor | None = None,
        frame_offset: torch.Tensor | int = 0,
        frame_units: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | int]:
        """
        Args:
            frame_embeds (`torch.FloatTensor` of shape `(batch_size, embedding_dim, num_frames)`): unit embeddings of
                consecutive unit frames.
            frame_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid frames per sample.
            frame_offset (`int` or `torch.LongTensor` of shape `(batch_size,)`, defaults to 0): index of the first
                frame within its utterance (streaming chunks; per sample for training segments).
            frame_units (`torch.LongTensor` of shape `(batch_size, num_frames)`): the unit ids, required with
                `unit_latents`.

        Returns:
            `(latent, latent_lengths, first_latent_frame)`: `torch.FloatTensor` of shape
            `(batch_size, latent_dim, num_latent_frames)` (zero past each sample's length), `torch.LongTensor` of
            shape `(batch_size,)`, and the utterance index of the first latent frame (an `int`, or a
            `(batch_size,)` tensor when `frame_offset` is one).
        """
        batch_size, _, num_frames = frame_embeds.shape
        if frame_lengths is None:
            frame_lengths = torch.full((batch_size,), num_frames, dtype=torch.long, device=frame_embeds.device)
        mask = _length_mask(frame_lengths, num_frames, frame_embeds.dtype)
        hidden_states = _masked(self.conv_in(_masked(frame_embeds, mask)), mask)
        for block in self.blocks:
            hidden_states = block(hidden_states, mask)
        hidden_size = hidden_states.shape[1]
        if self.unit_latents is not None:
            if frame_units is None:
                raise ValueError("this front-end adds per-unit latents: pass frame_units")
            unit_latents = _masked(self.unit_latents(frame_units).transpose(1, 2), mask)
            hidden_states = torch.cat([hidden_states, unit_latents], dim=1)  # resampled together
        # resample to the latent grid (each sample clamps to its own valid frames)
        per_sample = isinstance(frame_offset, torch.Tensor) and frame_offset.dim() > 0
        offsets = torch.as_tensor(frame_offset, device=frame_embeds.device, dtype=torch.long).expand(batch_size)
        first, latent_lengths = self.latent_span(offsets, frame_lengths)
        num_latent = int(latent_lengths.max())
        index, weight = self.interpolation(offsets, first, num_latent, device=frame_embeds.device)
        last_valid = (frame_lengths - 1).clamp(min=0)[:, None]
        index0 = torch.minimum(index.clamp(min=0), last_valid)
        index1 = torch.minimum((index + 1).clamp(min=0), last_valid)
        channels = hidden_states.shape[1]
        gather0 = hidden_states.gather(2, index0[:, None, :].expand(-1, channels, -1))
        gather1 = hidden_states.gather(2, index1[:, None, :].expand(-1, channels, -1))
        weight = weight.to(hidden_states.dtype)[:, None, :]
        hidden_states = gather0 * (1 - weight) + gather1 * weight
        latent_mask = _length_mask(latent_lengths, num_latent, frame_embeds.dtype)
        hidden_states = _masked(hidden_states, latent_mask)
        hidden_states, unit_latents = hidden_states[:, :hidden_size], hidden_states[:, hidden_size:]
        for block in self.latent_blocks:
            hidden_states = block(hidden_states, latent_mask)
        latent = self.proj(F.leaky_relu(hidden_states, self.leaky_relu_slope))
        if unit_latents.shape[1]:
            latent = latent + unit_latents
        latent = _masked(latent, latent_mask)
        return latent, latent_lengths, (first if per_sample else int(first[0]))

    def receptive_radius(self) -> tuple[int, int]:
        """`(radius at the unit frame rate, radius at the latent rate)` of the convolutions, in frames."""
        kernel = self.conv_in.kernel_size[0]
        unit_radius = _conv_radius(kernel)
        for block in self.blocks:
            a, b = _residual_block_receptive_interval(block, (0, 0))
            unit_radius += b
        latent_radius = 0
        for block in self.latent_blocks:
            a, b = _residual_block_receptive_interval(block, (0, 0))
            latent_radius += b
        return unit_radius, latent_radius


# ----------------------------------------------------------------------------------------------------------------------
# Pretrained model
# ----------------------------------------------------------------------------------------------------------------------


class UnitVocoderPreTrainedModel(PreTrainedModel):
    config: UnitVocoderConfig
    config_class = UnitVocoderConfig
    base_model_prefix = "unit_vocoder"
    main_input_name = "units"
    supports_gradient_checkpointing = False
    _no_split_modules = []

    def _init_weights(self, module: nn.Module):
        super()._init_weights(module)
        if isinstance(module, nn.Embedding):
            # The unit embedding is the generator's input: unit scale, like torch's default (fairseq keeps it).
            init.normal_(module.weight, mean=0.0, std=1.0)


class UnitVocoder(UnitVocoderPreTrainedModel):
    """
    fairseq's CodeHiFiGAN unit vocoder: discrete speech units -> 16 kHz waveform; or, with
    `config.vocoder_type = "latent_frontend"`, units -> a small front-end -> the latent frames of a pretrained VITS
    decoder -> waveform (22.05 kHz for a Piper voice).

    Modules: `unit_embedding` (fairseq `dict`), `dur_predictor` ([`UnitVocoderDurationPredictor`]), `generator`
    ([`UnitVocoderGenerator`]: `conv_pre`, `ups.N`, `resblocks.N.convs{1,2}.M` or `resblocks.N.convs.M`,
    `conv_post`), and for `latent_frontend` the `frontend` ([`UnitVocoderLatentFrontend`]). Weights are plain
    (folded weight norm); see `apply_weight_norm` / `remove_weight_norm` for training.
    """

    def __init__(self, config: UnitVocoderConfig):
        super().__init__(config)
        self.unit_embedding = nn.Embedding(config.unit_vocab_size, config.embedding_dim)
        self.dur_predictor = UnitVocoderDurationPredictor(config)
        if config.vocoder_type == "latent_frontend":
            self.frontend = UnitVocoderLatentFrontend(config)
        self.generator = UnitVocoderGenerator(config)
        self.post_init()

    # -- weight norm ---------------------------------------------------------------------------------------------------

    @property
    def is_weight_norm_applied(self) -> bool:
        """Whether the generator's convolutions are currently weight-norm parametrised."""
        return parametrize.is_parametrized(self.generator.conv_pre, "weight")

    def apply_weight_norm(self) -> None:
        """
        Re-parametrises every generator convolution with weight norm (`torch.nn.utils.parametrizations.weight_norm`,
        dim 0, as in HiFi-GAN), for training. The function computed does not change. No-op if already applied.
        """
        if self.is_weight_norm_applied:
            return
        with torch.inference_mode(False):  # also callable from inside an inference_mode block
            for layer in self.generator.weight_normed_convolutions():
                nn.utils.parametrizations.weight_norm(layer)

    def remove_weight_norm(self) -> None:
        """Folds the weight norm back into plain weights (for inference and saving). No-op if not applied."""
        with torch.inference_mode(False), torch.no_grad():
            for layer in self.generator.weight_normed_convolutions():
                if parametrize.is_parametrized(layer, "weight"):
                    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)

    def save_pretrained(self, save_directory: str | os.PathLike, *args, remote_code: bool = False, **kwargs):
        """
        `PreTrainedModel.save_pretrained`, always in the folded (plain weights) format. With `remote_code=True`, also
        writes this file, its configuration file and their `auto_map`, so that the folder loads with
        `AutoModel.from_pretrained(folder, trust_remote_code=True)` where this package is not installed.
        """
        if self.is_weight_norm_applied:
            # a folded twin (not a deepcopy: parametrised modules share their generated class with their copies)
            folded = type(self)(self.config).to(device=self.device, dtype=self.dtype)
            folded.load_state_dict(self.folded_state_dict())
            return folded.save_pretrained(save_directory, *args, remote_code=remote_code, **kwargs)
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if remote_code:
            write_vocoder_remote_code(save_directory)
        return result

    def folded_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict with plain weights (weight norm folded if applied): the saved format."""
        state = {k: v for k, v in self.state_dict().items() if ".parametrizations." not in k}
        with torch.no_grad():
            for name, module in self.named_modules():
                if parametrize.is_parametrized(module, "weight"):
                    state[f"{name}.weight"] = module.weight.detach().clone()
        return state

    # -- input checks --------------------------------------------------------------------------------------------------

    def _check_units(
        self, units: torch.Tensor, unit_lengths: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Returns `(units [B, T], unit_lengths [B], mask [B, 1, T] or None)`; raises ValueError on bad input."""
        if not isinstance(units, torch.Tensor):
            units = torch.as_tensor(units)
        if units.dtype.is_floating_point or units.dtype.is_complex or units.dtype == torch.bool:
            raise ValueError(f"units must be an integer tensor of unit ids, got dtype {units.dtype}")
        if units.dim() == 1:
            units = units.unsqueeze(0)
        if units.dim() != 2:
            raise ValueError(f"units must have shape (batch_size, num_units) or (num_units,), got {tuple(units.shape)}")
        batch_size, num_units = units.shape
        if batch_size == 0 or num_units == 0:
            raise ValueError(f"units must not be empty, got shape {tuple(units.shape)}")
        units = units.to(device=self.device, dtype=torch.long)
        if unit_lengths is None:
            unit_lengths = torch.full((batch_size,), num_units, dtype=torch.long, device=units.device)
        else:
            unit_lengths = torch.as_tensor(unit_lengths, device=units.device)
            if unit_lengths.dtype.is_floating_point or unit_lengths.shape != (batch_size,):
                raise ValueError(
                    f"unit_lengths must be an integer tensor of shape ({batch_size},), got dtype {unit_lengths.dtype} "
                    f"and shape {tuple(unit_lengths.shape)}"
                )
            unit_lengths = unit_lengths.long()
            if bool((unit_lengths < 1).any()) or bool((unit_lengths > num_units).any()):
                raise ValueError(
                    f"unit_lengths must be in [1, {num_units}] (a sample cannot be empty), got {unit_lengths.tolist()}"
                )
        valid = torch.arange(num_units, device=units.device)[None, :] < unit_lengths[:, None]
        bad = valid & ((units < 0) | (units >= self.config.unit_vocab_size))
        if bool(bad.any()):
            raise ValueError(
                f"unit ids must be in [0, {self.config.unit_vocab_size - 1}], got {units[bad].unique().tolist()[:10]}"
            )
        units = units.masked_fill(~valid, 0)  # padding may hold any value (e.g. -1): embed a valid id there
        mask = None if bool(valid.all()) else valid.unsqueeze(1).to(self.dtype)
        return units, unit_lengths, mask

    # -- the three steps -------------------------------------------------------------------------------------------

    def predict_durations(self, units: torch.Tensor, unit_lengths: torch.Tensor | None = None) -> torch.LongTensor:
        """
        Frames per unit, as fairseq predicts them: `clamp(round(exp(d) - 1), min=1)` with `d` the duration
        predictor's output.

        Args:
            units (`torch.LongTensor` of shape `(batch_size, num_units)` or `(num_units,)`): unit ids.
            unit_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid units per sample.

        Returns:
            `torch.LongTensor` of shape `(batch_size, num_units)`, 0 at padded positions.

        Raises:
            ValueError: on empty or non-integer units, ids out of range, or bad `unit_lengths`.
        """
        units, unit_lengths, mask = self._check_units(units, unit_lengths)
        return self._predict_durations(units, mask)

    def _predict_durations(self, units: torch.Tensor, mask: torch.Tensor | None) -> torch.LongTensor:
        log_durations = self.dur_predictor(self.unit_embedding(units).transpose(1, 2), mask)
        durations = torch.clamp(torch.round(torch.exp(log_durations) - 1).long(), min=1)
        return durations if mask is None else durations * mask.squeeze(1).long()

    def units_to_frames(
        self, units: torch.Tensor, durations: torch.Tensor
    ) -> tuple[torch.LongTensor, torch.LongTensor]:
        """
        Repeats each unit by its duration (the length regulator).

        Args:
            units (`torch.LongTensor` of shape `(batch_size, num_units)`): unit ids.
            durations (`torch.LongTensor` of shape `(batch_size, num_units)`): frames per unit (>= 0; 0 drops the
                unit, and is what padded positions must hold).

        Returns:
            `(frame_units, frame_lengths)`: `torch.LongTensor` of shape `(batch_size, max_frames)` with the unit id of
            each 20 ms frame (right-padded with 0), and `torch.LongTensor` of shape `(batch_size,)` with the number
            of frames of each sample.

        Raises:
            ValueError: if the shapes differ, durations are negative or not integers.
        """
        units = torch.as_tensor(units)
        durations = torch.as_tensor(durations, device=units.device)
        if units.dim() == 1:
            units = units.unsqueeze(0)
        if durations.dim() == 1:
            durations = durations.unsqueeze(0)
        if durations.shape != units.shape:
            raise ValueError(
                f"durations must have the shape of units {tuple(units.shape)}, got {tuple(durations.shape)}"
            )
        if durations.dtype.is_floating_point or durations.dtype == torch.bool:
            raise ValueError(f"durations must be an integer tensor, got dtype {durations.dtype}")
        durations = durations.long()
        if bool((durations < 0).any()):
            raise ValueError("durations must be non-negative")
        frame_lengths = durations.sum(dim=1)
        frames = torch.repeat_interleave(units.reshape(-1), durations.reshape(-1))
        samples = frames.split(frame_lengths.tolist())
        frame_units = nn.utils.rnn.pad_sequence(list(samples), batch_first=True, padding_value=0)
        return frame_units, frame_lengths

    def vocode_frames(
        self, frame_units: torch.Tensor, frame_lengths: torch.Tensor | None = None, frame_offset: int = 0
    ) -> torch.FloatTensor:
        """
        Runs the generator on frame-level unit ids (after the length regulator).

        Args:
            frame_units (`torch.LongTensor` of shape `(batch_size, num_frames)`): the unit id of each frame.
            frame_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid frames per sample.
            frame_offset (`int`, defaults to 0): index of the first frame within its utterance. Only the
                `latent_frontend` type uses it (its latent frames lie on a global grid of 256 samples, which a chunk
                starting at a multiple of 441 samples must line up with); `code_hifigan` output does not depend on it.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_frames * hop_length)`, zero past each sample's length.
        """
        if self.config.vocoder_type == "latent_frontend":
            latent, latent_lengths, first = self.frames_to_latent(frame_units, frame_lengths, frame_offset)
            return self.decode_latent(latent, latent_lengths, first, frame_units.shape[-1], frame_lengths, frame_offset)
        frame_embeds = self.unit_embedding(frame_units.to(self.device)).transpose(1, 2)
        return self.generator(frame_embeds, frame_lengths)

    def vocode_span(
        self, frame_units: torch.Tensor, emit_start: int, emit_end: int, frame_offset: int = 0
    ) -> torch.FloatTensor:
        """
        The samples of frames `emit_start .. emit_end - 1` of `frame_units` (the others are context): what a stream
        emits. Equals `vocode_frames(frame_units, frame_offset=frame_offset)[:, emit_start * hop_length : emit_end *
        hop_length]`; the `latent_frontend` type runs its (cheap) front-end over all the frames but its (expensive)
        decoder only over the latent frames these samples depend on (the decoder's receptive field around them).

        Args:
            frame_units (`torch.LongTensor` of shape `(batch_size, num_frames)`): the unit id of each frame.
            emit_start, emit_end (`int`): the frames to return, `0 <= emit_start < emit_end <= num_frames`.
            frame_offset (`int`, defaults to 0): index of frame 0 within its utterance.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, (emit_end - emit_start) * hop_length)`.

        Raises:
            ValueError: on an empty or out-of-range span.
        """
        if not 0 <= emit_start < emit_end <= frame_units.shape[-1]:
            raise ValueError(f"bad span [{emit_start}, {emit_end}) of {frame_units.shape[-1]} frames")
        hop = self.config.hop_length
        if self.config.vocoder_type != "latent_frontend":
            return self.vocode_frames(frame_units, frame_offset=frame_offset)[:, emit_start * hop : emit_end * hop]
        latent, _, first = self.frames_to_latent(frame_units, None, frame_offset)
        latent_hop = self.config.latent_hop_length
        sample_start, sample_end = (frame_offset + emit_start) * hop, (frame_offset + emit_end) * hop
        left, right = self.generator.receptive_field()
        lo = max(first, sample_start // latent_hop - left)
        hi = min(first + latent.shape[-1], -(-sample_end // latent_hop) + right)
        waveform = self.generator(latent[:, :, lo - first : hi - first])
        return waveform[:, sample_start - lo * latent_hop : sample_end - lo * latent_hop]

    def frames_to_latent(
        self, frame_units: torch.Tensor, frame_lengths: torch.Tensor | None = None, frame_offset: int = 0
    ) -> tuple[torch.FloatTensor, torch.LongTensor, int]:
        """
        `latent_frontend` only: the front-end's latent frames for frame-level unit ids.

        Args:
            frame_units (`torch.LongTensor` of shape `(batch_size, num_frames)`): the unit id of each frame.
            frame_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid frames per sample.
            frame_offset (`int` or `torch.LongTensor` of shape `(batch_size,)`, defaults to 0): index of the first
                frame within its utterance (one per sample for training segments).

        Returns:
            `(latent, latent_lengths, first_latent_frame)`: `(batch_size, latent_dim, num_latent_frames)`,
            `(batch_size,)` and the utterance index of latent frame 0 (`floor(frame_offset * hop_length /
            latent_hop_length)`; a tensor for per-sample offsets). Latent frame `first + i` covers samples `[(first + i) * 256, (first + i + 1) * 256)`
            of the utterance.

        Raises:
            ValueError: for a `code_hifigan` vocoder.
        """
        if self.config.vocoder_type != "latent_frontend":
            raise ValueError("frames_to_latent needs a latent_frontend vocoder")
        frame_embeds = self.unit_embedding(frame_units.to(self.device)).transpose(1, 2)
        if frame_lengths is not None:
            frame_lengths = torch.as_tensor(frame_lengths, device=self.device).long()
        if not isinstance(frame_offset, torch.Tensor):
            frame_offset = int(frame_offset)
        return self.frontend(frame_embeds, frame_lengths, frame_offset, frame_units=frame_units.to(self.device))

    def decode_latent(
        self,
        latent: torch.Tensor,
        latent_lengths: torch.Tensor | None,
        first_latent_frame: int,
        num_frames: int,
        frame_lengths: torch.Tensor | None = None,
        frame_offset: int = 0,
    ) -> torch.FloatTensor:
        """
        `latent_frontend` only: runs the VITS decoder on latent frames and crops its output to the samples of unit
        frames `frame_offset .. frame_offset + num_frames - 1` (`(batch_size, num_frames * hop_length)`, zero past
        each sample's `frame_lengths`).
        """
        waveform = self.generator(latent, latent_lengths)
        start = frame_offset * self.config.hop_length - first_latent_frame * self.config.latent_hop_length
        waveform = waveform[:, start : start + num_frames * self.config.hop_length]
        if frame_lengths is not None:
            mask = _length_mask(
                torch.as_tensor(frame_lengths, device=waveform.device) * self.config.hop_length,
                waveform.shape[-1],
                waveform.dtype,
            )
            waveform = waveform if mask is None else waveform * mask.squeeze(1)
        return waveform

    # -- forward ---------------------------------------------------------------------------------------------------

    def forward(
        self,
        units: torch.LongTensor,
        unit_lengths: torch.LongTensor | None = None,
        durations: torch.LongTensor | None = None,
        dur_prediction: bool | None = None,
        return_dict: bool | None = None,
    ) -> UnitVocoderOutput | tuple:
        """
        Args:
            units (`torch.LongTensor` of shape `(batch_size, num_units)` or `(num_units,)`):
                Unit ids in `[0, unit_vocab_size)`. Right-padded when `unit_lengths` is given (the padding may hold
                any value, e.g. -1).
            unit_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Number of valid units of each sample (>= 1). Each sample's waveform equals the one it gets alone.
            durations (`torch.LongTensor` of shape `(batch_size, num_units)`, *optional*):
                Frames per unit. When given, they override the duration predictor; values past `unit_lengths` are
                ignored.
            dur_prediction (`bool`, *optional*, defaults to `config.dur_prediction`):
                Whether to predict durations (deduplicated units, as LLaMA-Omni's CTC decoder emits them). `False`
                means each unit is one frame (units already at 50 Hz).

        Returns:
            [`UnitVocoderOutput`] with `waveform` `(batch_size, max_frames * hop_length)`, `waveform_lengths`
            `(batch_size,)` and `durations` `(batch_size, num_units)`.

        Raises:
            ValueError: on empty or non-integer units, unit ids out of range, bad `unit_lengths`, durations of the
                wrong shape or negative, or a sample with no frames.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        dur_prediction = self.config.dur_prediction if dur_prediction is None else dur_prediction
        units, unit_lengths, mask = self._check_units(units, unit_lengths)
        valid = torch.ones_like(units) if mask is None else mask.squeeze(1).long()
        if durations is not None:
            durations = torch.as_tensor(durations, device=units.device)
            if durations.dim() == 1 and units.shape[0] == 1:
                durations = durations.unsqueeze(0)
            if durations.shape != units.shape:
                raise ValueError(
                    f"durations must have the shape of units {tuple(units.shape)}, got {tuple(durations.shape)}"
                )
            if durations.dtype.is_floating_point or durations.dtype == torch.bool:
                raise ValueError(f"durations must be an integer tensor, got dtype {durations.dtype}")
            durations = durations.long() * valid
        elif dur_prediction:
            durations = self._predict_durations(units, mask)
        else:
            durations = valid
        frame_units, frame_lengths = self.units_to_frames(units, durations)
        if bool((frame_lengths == 0).any()):
            raise ValueError(f"every sample needs at least one frame, got frame counts {frame_lengths.tolist()}")
        waveform = self.vocode_frames(frame_units, frame_lengths)
        waveform_lengths = frame_lengths * self.config.hop_length
        if not return_dict:
            return waveform, waveform_lengths, durations
        return UnitVocoderOutput(waveform=waveform, waveform_lengths=waveform_lengths, durations=durations)

    # -- streaming -------------------------------------------------------------------------------------------------

    def receptive_field_frames(self) -> tuple[int, int]:
        """
        `(left, right)`: the generator's receptive field in frames on each side (computed from the config). A stream
        with `left_context_frames >= left` and `lookahead_frames >= right` reproduces the one-shot waveform exactly.
        For `latent_frontend`, it covers the front-end, the resampling and the VITS decoder, in unit frames.
        """
        if self.config.vocoder_type != "latent_frontend":
            return self.generator.receptive_field()
        decoder_left, decoder_right = self.generator.receptive_field()
        unit_radius, latent_radius = self.frontend.receptive_radius()
        hop, latent_hop = self.config.hop_length, self.config.latent_hop_length
        period = latent_hop // math.gcd(hop, latent_hop)  # the grids line up again every `period` unit frames
        frames = torch.arange(period, 2 * period)
        first_latent = (hop * frames) // latent_hop - decoder_left - latent_radius
        last_latent = (hop * frames + hop - 1) // latent_hop + decoder_right + latent_radius
        index_first, _ = self.frontend.interpolation(0, int(first_latent.min()), int(last_latent.max() - first_latent.min()) + 1)
        offset = int(first_latent.min())
        left = frames - (index_first[first_latent - offset] - unit_radius)
        right = index_first[last_latent - offset] + 1 + unit_radius - frames
        return int(left.max()), int(right.max())

    def stream(
        self,
        left_context_frames: int | None = None,
        lookahead_frames: int | None = None,
        dur_prediction: bool | None = None,
    ) -> UnitVocoderStream:
        """Starts a chunked vocoding stream; see [`UnitVocoderStream`] for the arguments."""
        return UnitVocoderStream(self, left_context_frames, lookahead_frames, dur_prediction)


def write_code_and_auto_map(
    save_directory: str | os.PathLike, auto_map: dict[str, type], config_file: str = "config.json"
) -> list[str]:
    """
    What `trust_remote_code=True` loading needs: copies the file defining each class of `auto_map` (an Auto class
    name -> our class) into `save_directory`, with the files they import relatively (found by transformers'
    `get_relative_import_files`, as its `custom_object_save` does), and merges the `auto_map` into its `config_file`.
    (A class's `register_for_auto_class` keeps one Auto class only, so the map is written here.)

    Returns:
        The paths of the code files now in `save_directory`.

    Raises:
        FileNotFoundError: if `save_directory` has no `config_file`.
    """
    import json
    import shutil
    import sys

    from transformers.dynamic_module_utils import get_relative_import_files

    config_path = os.path.join(save_directory, config_file)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"{save_directory} has no {config_file}: save the model there first.")
    sources: dict[str, None] = {}
    for cls in auto_map.values():
        module_file = sys.modules[cls.__module__].__file__
        sources.update(dict.fromkeys([module_file, *sorted(get_relative_import_files(module_file))]))
    written = []
    for source in sources:
        target = os.path.join(save_directory, os.path.basename(source))
        if os.path.abspath(source) != os.path.abspath(target):
            shutil.copyfile(source, target)
        written.append(target)
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    names = {auto: f"{cls.__module__.rpartition('.')[2]}.{cls.__name__}" for auto, cls in auto_map.items()}
    config["auto_map"] = {**config.get("auto_map", {}), **names}
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    return written


def write_vocoder_remote_code(save_directory: str | os.PathLike) -> list[str]:
    """The unit vocoder's code files and `auto_map` (`AutoConfig`, `AutoModel`) in a saved vocoder folder."""
    return write_code_and_auto_map(save_directory, {"AutoConfig": UnitVocoderConfig, "AutoModel": UnitVocoder})


# ----------------------------------------------------------------------------------------------------------------------
# Streaming
# ----------------------------------------------------------------------------------------------------------------------


class UnitVocoderStream:
    r"""
    Chunked vocoding: `push(units)` as the speech decoder emits them (Omega at a time), `flush()` at the end. The
    concatenation of all returned audio approximates the one-shot `vocoder(all_units)` waveform.

    How:
    - Durations: the duration predictor sees `context_units` (2) units on each side, so a unit's duration is
      committed only once that many right neighbours are known (or at `flush`), and a committed duration never
      changes. With `dur_prediction=False` every unit is one frame and is committed at once.
    - Audio: each call vocodes the new committed frames, minus `lookahead_frames` held back at the right edge, with
      `left_context_frames` of already-emitted frames on the left and, on the right, the held-back frames plus the
      frames of the not-yet-committed units (at their provisional durations): context only, cropped off. Held-back
      frames are emitted by a later call or by `flush`.
    - With `left_context_frames` >= the generator's left receptive field (the default) the left side is exact; the
      right side is exact once `lookahead_frames` >= the right receptive field (21 frames = 420 ms for the default
      config). Smaller lookaheads trade a small error for latency.

    Tolerance (measured by `benchmarks/vocoder_streaming.py` on the default LJSpeech architecture, 120 random units
    with predicted durations of 1-4 frames, weights scaled like a trained vocoder: every convolution variance-
    preserving, waveform RMS ~0.3): with the default `lookahead_frames=8` (160 ms) the streamed waveform differs
    from the one-shot one by at most 0.03 in absolute value and by an RMS below 0.3 % of the signal's RMS (about
    -50 dB), for Omega = 10, 20 and 40 units; the error sits in the last frames before each chunk boundary. Errors
    by lookahead (Omega = 10 / 20): 0 frames 0.45 / 0.25 max abs, 4 frames 0.13 / 0.06, 8 frames 0.022 / 0.008,
    12 frames 1.4e-3 / 1.8e-4, 21 frames (the receptive field) exact. Sample-to-sample jumps at chunk boundaries are
    no larger than elsewhere in every setting (no clicks). With random initial weights (near-silent output) all
    differences are below 1e-6.

    Latency: the held-back audio is `lookahead_frames` plus the frames of the last 2 units, so a push of Omega = 10
    deduplicated units (~20-25 frames) already returns audio; flush() returns the rest.

    `latent_frontend` vocoders: the receptive field (35 unit frames on each side for the default front-end) covers
    the front-end, the resampling and the VITS decoder. Chunks keep the utterance's latent grid (`frame_offset`), and
    `UnitVocoder.vocode_span` runs the decoder only on the latent frames the emitted samples depend on, so the left
    context costs front-end compute only. The default lookahead is 20 frames (400 ms; about 8 more units before the
    first audio than with 8 frames). Measured on the latent vocoder of `benchmarks/vocoder_training.py` (1413 steps;
    12 joe utterances, Omega = 10 deduplicated units), RMS(streamed - one-shot) / RMS(one-shot), mean (worst
    utterance): lookahead 8 frames 12 % (23 %), 12 frames 2.8 % (6.1 %), 16 frames 0.6 % (2.4 %), 18 frames 0.09 %
    (0.4 %), 20 frames 0.02 % (0.17 %, max abs 0.005), 22 frames 1e-4 max abs, 24 frames exact. (The better trained,
    the more of its receptive field the front-end uses: after 140 steps, 12 frames gave 0.16 %.)

    Args:
        vocoder ([`UnitVocoder`]): the vocoder, in eval mode.
        left_context_frames (`int`, *optional*): already-emitted frames re-vocoded on the left of each span;
            defaults to the generator's left receptive field.
        lookahead_frames (`int`, *optional*): committed frames held back at the right edge (default 8, 20 for a
            `latent_frontend` vocoder).
        dur_prediction (`bool`, *optional*, defaults to `config.dur_prediction`): as in `UnitVocoder.forward`.

    Raises:
        ValueError: on negative context sizes, or a vocoder in training mode.
    """

    def __init__(
        self,
        vocoder: UnitVocoder,
        left_context_frames: int | None = None,
        lookahead_frames: int | None = None,
        dur_prediction: bool | None = None,
    ):
        if vocoder.training:
            raise ValueError("the vocoder is in training mode (dropout in the duration predictor): call .eval() first")
        receptive_left, receptive_right = vocoder.receptive_field_frames()
        left_context_frames = receptive_left if left_context_frames is None else left_context_frames
        if lookahead_frames is None:
            latent = vocoder.config.vocoder_type == "latent_frontend"
            lookahead_frames = DEFAULT_LATENT_LOOKAHEAD_FRAMES if latent else DEFAULT_LOOKAHEAD_FRAMES
        for name, value in (("left_context_frames", left_context_frames), ("lookahead_frames", lookahead_frames)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        self.vocoder = vocoder
        self.left_context_frames = left_context_frames
        self.lookahead_frames = lookahead_frames
        self.receptive_field_frames = (receptive_left, receptive_right)
        self.dur_prediction = vocoder.config.dur_prediction if dur_prediction is None else dur_prediction
        self.hop_length = vocoder.config.hop_length
        self.sampling_rate = vocoder.config.sampling_rate
        self.units: list[int] = []  # every unit seen
        self.durations: list[int] = []  # committed durations (a prefix of `units`)
        self.frame_units: list[int] = []  # frames of the committed units
        self.emitted_frames = 0  # frames whose samples were returned
        self.finished = False

    @property
    def emitted_samples(self) -> int:
        """Samples returned so far."""
        return self.emitted_frames * self.hop_length

    def push(self, units: Sequence[int] | torch.Tensor) -> np.ndarray:
        """
        Adds units and returns the audio that is now final.

        Args:
            units (`Sequence[int]` or 1-D integer tensor): the next unit ids (may be empty).

        Returns:
            `np.ndarray` of dtype float32, shape `(num_new_samples,)`, at `sampling_rate` (possibly empty).

        Raises:
            ValueError: on ids out of range or non-integers; RuntimeError after `flush()`.
        """
        if self.finished:
            raise RuntimeError("this stream was flushed: start a new one with vocoder.stream()")
        new_units = [int(u) for u in self._check_new_units(units)]
        self.units.extend(new_units)
        return self._step(final=False)

    def flush(self) -> np.ndarray:
        """Commits every remaining unit and returns the rest of the audio (float32, possibly empty)."""
        if self.finished:
            return np.zeros(0, dtype=np.float32)
        audio = self._step(final=True)
        self.finished = True
        return audio

    def _check_new_units(self, units) -> list[int]:
        array = units.detach().cpu().numpy() if isinstance(units, torch.Tensor) else np.asarray(units)
        array = array.reshape(-1)
        if array.size == 0:
            return []
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"units must be integers, got dtype {array.dtype}")
        vocab = self.vocoder.config.unit_vocab_size
        if array.min() < 0 or array.max() >= vocab:
            raise ValueError(f"unit ids must be in [0, {vocab - 1}], got min {array.min()} and max {array.max()}")
        return array.tolist()

    @torch.inference_mode()
    def _durations(self, start: int, end: int) -> list[int]:
        """Predicted durations of units `start .. end - 1`, given every unit seen so far."""
        context = self.vocoder.dur_predictor.context_units
        window_start = max(0, start - context)
        units = torch.tensor([self.units[window_start:]], dtype=torch.long, device=self.vocoder.device)
        durations = self.vocoder._predict_durations(units, None)[0]
        return durations[start - window_start : end - window_start].tolist()

    def _step(self, final: bool) -> np.ndarray:
        # 1. commit durations of the units whose right neighbours are known
        if self.dur_prediction:
            context = self.vocoder.dur_predictor.context_units
            commit_end = len(self.units) if final else max(0, len(self.units) - context)
            if commit_end > len(self.durations):
                new = self._durations(len(self.durations), commit_end)
                for unit, duration in zip(self.units[len(self.durations) : commit_end], new):
                    self.frame_units.extend([unit] * duration)
                self.durations.extend(new)
        else:
            for unit in self.units[len(self.durations) :]:
                self.frame_units.append(unit)
                self.durations.append(1)
        # 2. emit the committed frames but the held-back lookahead
        committed = len(self.frame_units)
        emit_end = committed if final else committed - self.lookahead_frames
        if emit_end <= self.emitted_frames:
            return np.zeros(0, dtype=np.float32)
        start = max(0, self.emitted_frames - self.left_context_frames)
        frames = self.frame_units[start:committed]
        pending = len(self.durations)
        if not final and pending < len(self.units):  # provisional right context: the uncommitted units' frames
            for unit, duration in zip(self.units[pending:], self._durations(pending, len(self.units))):
                frames = frames + [unit] * duration
        with torch.inference_mode():
            frame_tensor = torch.tensor([frames], dtype=torch.long, device=self.vocoder.device)
            audio = self.vocoder.vocode_span(frame_tensor, self.emitted_frames - start, emit_end - start, start)[0]
        self.emitted_frames = emit_end
        return audio.float().cpu().numpy().astype(np.float32)


__all__ = [
    "UnitVocoder",
    "UnitVocoderDurationPredictor",
    "UnitVocoderGenerator",
    "UnitVocoderLatentFrontend",
    "UnitVocoderOutput",
    "UnitVocoderPreTrainedModel",
    "UnitVocoderResidualBlock",
    "UnitVocoderResidualBlock2",
    "UnitVocoderStream",
]
