# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""CosyVoice2's flow matching (speech tokens -> 80-bin mel spectrogram) as LLaMA-Omni2's release runs it, in torch.

    tokens (1, T), 25 Hz -> token embedding -> upsampling Conformer encoder (pre-lookahead convolution, Conformer
        layers, x2 upsampling, Conformer layers; static-chunk attention) -> (1, 2T, D) -> drop the last
        `pre_lookahead_len * token_mel_ratio` frames unless final -> linear -> mu (1, 80, F), 50 Hz
    x-vector (1, 192) -> L2 normalise -> linear -> speaker condition (1, 80)
    noise x0 (1, 80, F) -> Euler steps of the conditional flow-matching ODE on a cosine time grid, classifier-free
        guidance (a batch of 2: conditional / unconditional) -> velocity from a causal 1D U-Net with transformer
        blocks (static-chunk attention) -> mel (1, 80, F)

Released module tree: `CausalMaskedDiffWithXvec` (flow), `UpsampleConformerEncoder` (encoder), `CausalConditionalCFM`
(decoder) and `ConditionalDecoder(causal=True)` (decoder.estimator), with Matcha-TTS's and diffusers' building blocks
inside the estimator. Parameter names here equal the released `flow.pt` keys for the same hyperparameters, so that
`Token2WavFlow(config).load_state_dict(torch.load("flow.pt", weights_only=True), strict=True)` works. Computed tensors (positional
encodings) are non-persistent buffers; the ODE's starting noise is an argument (the release draws
`randn(1, 80, 15000)` once when it builds the flow and slices it).

Streaming: the release re-runs the whole flow on all tokens so far for every streamed chunk and keeps the new frames.
`Token2WavFlow.start_stream` / `stream_chunk` give the same frames computing only the new ones: every attention is
static-chunk with all earlier chunks visible, the convolutions are causal and the encoder looks a fixed number of
tokens ahead, so the frames before a chunk boundary never change once the tokens of their lookahead are in; their
states (convolution contexts, attention keys and values, per Euler step and guidance half) are cached
(`FlowStreamCache`, `FlowStreamState`).

Hyperparameters come as the released yaml's `flow:` section, as a plain dict (hyperpyyaml tags dropped): see
`Token2WavFlow`. Inference only: no dropout, no training losses.

This file imports only torch and the standard library, so that it can be copied into a model folder and loaded with
`trust_remote_code=True` where this package is not installed.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------------------------------
# Hyperparameters
# ----------------------------------------------------------------------------------------------------------------------

# The defaults of the released classes' `__init__` arguments (CausalMaskedDiffWithXvec, UpsampleConformerEncoder,
# ConditionalCFM / its `decoder_conf` default, ConditionalDecoder), used for keys missing from a `flow_config`.
# Arguments the release requires (no default) are derived from the other sizes, and both `static_chunk_size` take the
# values LLaMA-Omni2 sets at run time (it overwrites them unconditionally after loading). The last three encoder keys
# are sizes the release hard-codes (no init argument): `pre_lookahead_len` of its pre-lookahead layer (3),
# `upsample_stride` (2) and `num_up_blocks` (4 Conformer layers after the upsampling).
# Some code defaults name variants this port does not implement (e.g. `input_layer="conv2d"`,
# `use_cnn_module=True`, `causal=False`, `act_fn="snake"`): a config relying on them raises a ValueError.
FLOW_DEFAULTS: dict[str, Any] = {
    "input_size": 512,
    "output_size": 80,
    "spk_embed_dim": 192,
    "vocab_size": 4096,
    "input_frame_rate": 50,
    "token_mel_ratio": 2,
    "pre_lookahead_len": 3,
}
ENCODER_DEFAULTS: dict[str, Any] = {
    "output_size": 256,
    "attention_heads": 4,
    "linear_units": 2048,
    "num_blocks": 6,
    "input_layer": "conv2d",
    "pos_enc_layer_type": "rel_pos",
    "normalize_before": True,
    "macaron_style": True,
    "selfattention_layer_type": "rel_selfattn",
    "activation_type": "swish",
    "use_cnn_module": True,
    "key_bias": True,
    "pre_lookahead_len": 3,
    "upsample_stride": 2,
    "num_up_blocks": 4,
}
CFM_DEFAULTS: dict[str, Any] = {
    "sigma_min": 1e-06,
    "solver": "euler",
    "t_scheduler": "cosine",
    "training_cfg_rate": 0.2,
    "inference_cfg_rate": 0.7,
    "reg_loss_type": "l1",
}
ESTIMATOR_DEFAULTS: dict[str, Any] = {
    "causal": False,
    "channels": [256, 256],
    "dropout": 0.05,
    "attention_head_dim": 64,
    "n_blocks": 1,
    "num_mid_blocks": 2,
    "num_heads": 4,
    "act_fn": "snake",
}

_ENCODER_ACTIVATIONS = {"swish": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "selu": nn.SELU}
_ESTIMATOR_GELU = {"gelu": "none", "gelu-approximate": "tanh"}


def resolve_flow_config(flow_config: dict | None) -> dict:
    """
    The full flow hyperparameters: `flow_config` (the released yaml's `flow:` section as a dict) with the released
    defaults filled in for missing keys.

    Raises:
        ValueError: when the configuration names a variant this port does not implement, or sizes that cannot fit
            together.
    """
    given = copy.deepcopy(flow_config or {})
    config = {**FLOW_DEFAULTS, **{k: v for k, v in given.items() if k not in ("encoder", "decoder")}}
    encoder = {**ENCODER_DEFAULTS, **given.get("encoder", {})}
    encoder.setdefault("input_size", config["input_size"])
    encoder.setdefault("static_chunk_size", 2 * config["input_frame_rate"])
    decoder = dict(given.get("decoder", {}))
    decoder["cfm_params"] = {**CFM_DEFAULTS, **decoder.get("cfm_params", {})}
    estimator = {**ESTIMATOR_DEFAULTS, **decoder.get("estimator", {})}
    estimator.setdefault("in_channels", 4 * config["output_size"])
    estimator.setdefault("out_channels", config["output_size"])
    estimator.setdefault("static_chunk_size", 2 * config["input_frame_rate"] * config["token_mel_ratio"])
    decoder["estimator"] = estimator
    decoder.setdefault("in_channels", 3 * config["output_size"])
    decoder.setdefault("n_spks", 1)
    decoder.setdefault("spk_emb_dim", config["output_size"])
    config["encoder"], config["decoder"] = encoder, decoder

    unsupported = {
        ("encoder", "input_layer"): (encoder["input_layer"], "linear"),
        ("encoder", "pos_enc_layer_type"): (encoder["pos_enc_layer_type"], "rel_pos_espnet"),
        ("encoder", "selfattention_layer_type"): (encoder["selfattention_layer_type"], "rel_selfattn"),
        ("encoder", "use_cnn_module"): (bool(encoder["use_cnn_module"]), False),
        ("decoder.estimator", "causal"): (bool(estimator["causal"]), True),
    }
    for (section, key), (value, supported) in unsupported.items():
        if value != supported:
            raise ValueError(f"flow_config {section}[{key!r}] = {value!r} is not supported (only {supported!r})")
    if encoder["activation_type"] not in _ENCODER_ACTIVATIONS:
        raise ValueError(
            f"flow_config encoder['activation_type'] must be one of {sorted(_ENCODER_ACTIVATIONS)}, "
            f"got {encoder['activation_type']!r}"
        )
    if estimator["act_fn"] not in _ESTIMATOR_GELU:
        raise ValueError(
            f"flow_config decoder.estimator['act_fn'] must be one of {sorted(_ESTIMATOR_GELU)}, "
            f"got {estimator['act_fn']!r}"
        )
    if decoder["cfm_params"]["solver"] != "euler":
        raise ValueError(
            f"flow_config decoder.cfm_params['solver'] must be 'euler', got {decoder['cfm_params']['solver']!r}"
        )
    if not (config["input_size"] == encoder["input_size"] == encoder["output_size"]):
        # The released encoder feeds the token embeddings (input_size) to its first linear layer, and its upsampled
        # features (512 channels, hard-coded; the encoder's output_size) to a second linear layer of input_size.
        raise ValueError(
            "flow_config input_size, encoder['input_size'] and encoder['output_size'] must be equal, got "
            f"{config['input_size']}, {encoder['input_size']} and {encoder['output_size']}"
        )
    if estimator["in_channels"] != 4 * config["output_size"] or estimator["out_channels"] != config["output_size"]:
        # The estimator's input is [x, mu, speaker, cond], each of output_size channels.
        raise ValueError(
            f"flow_config decoder.estimator in_channels/out_channels must be 4 x / 1 x output_size "
            f"({4 * config['output_size']} / {config['output_size']}), "
            f"got {estimator['in_channels']} / {estimator['out_channels']}"
        )
    return config


# ----------------------------------------------------------------------------------------------------------------------
# Attention masks
# ----------------------------------------------------------------------------------------------------------------------


def static_chunk_mask(
    length: int, chunk_size: int, device: torch.device | None = None, past: int = 0
) -> torch.BoolTensor:
    """
    The static-chunk attention mask of the release (`subsequent_chunk_mask` with all left chunks): position `i` sees
    every position before the end of its own chunk, `j < (i // chunk_size + 1) * chunk_size`; full attention when
    `chunk_size <= 0`.

    Args:
        length (`int`): query positions.
        chunk_size (`int`): chunk length (`<= 0`: full attention).
        device (`torch.device`, *optional*)
        past (`int`): positions before the queries (a streamed call's cached keys): the queries are positions
            `past .. past + length - 1` and the keys `0 .. past + length - 1`.

    Returns:
        `torch.BoolTensor` of shape `(length, past + length)`, True where attention is allowed.
    """
    if chunk_size <= 0:
        return torch.ones(length, past + length, dtype=torch.bool, device=device)
    chunk_end = ((torch.arange(length, device=device) + past) // chunk_size + 1) * chunk_size
    return torch.arange(past + length, device=device).unsqueeze(0) < chunk_end.unsqueeze(1)


# ----------------------------------------------------------------------------------------------------------------------
# Streaming caches
# ----------------------------------------------------------------------------------------------------------------------


class FlowStreamCache:
    """
    What one streamed call leaves to the next along one time axis (the encoder's tokens, the encoder's mel frames, or
    the estimator's frames at one ODE step): for every causal convolution its last `kernel_size - 1` input frames,
    for every self-attention the keys and values of all earlier positions. Modules read and write it in their
    `forward(..., cache)`; entries are keyed by the module.

    A call processes the positions `length ..` (everything after the cached ones): `begin(keep)` says how many of
    them stay final (the next call starts after them), the modules' `forward` add this call's entries, `commit()`
    advances `length` by `keep`. Keys and values are written into buffers after the `length` cached positions (the
    next call overwrites those past `length + keep`); full buffers grow by a quarter (at least), so that calls do not
    copy the whole past each time. Convolution inputs are staged and stored by `commit()`. A call that fails before
    `commit()` leaves the cache as it was.

    Args:
        dtype (`torch.dtype`, *optional*): storage dtype of the cached tensors (None: as computed); they are cast back
            to the computation's dtype when read.

    Attributes:
        length (`int`): cached positions (before the current call's first).
        keep (`int`): of the current call's positions, how many `commit()` adds.
    """

    def __init__(self, dtype: torch.dtype | None = None):
        self.dtype = dtype
        self.length = 0
        self.keep = 0
        self._entries: dict[nn.Module, Any] = {}
        self._staged: dict[nn.Module, Any] = {}

    def begin(self, keep: int) -> None:
        """Starts a call whose first `keep` positions become final (0: none, the next call recomputes them)."""
        self.keep = int(keep)
        self._staged = {}

    def commit(self) -> None:
        """Ends a call: stores the staged entries and advances `length` by `keep`."""
        self._entries.update(self._staged)
        self._staged = {}
        self.length += self.keep
        self.keep = 0

    def num_bytes(self) -> int:
        """Bytes held by the cached tensors (the allocated key/value buffers, including their unused room)."""
        tensors = [t for entry in self._entries.values() for t in (entry if isinstance(entry, tuple) else (entry,))]
        return sum(t.numel() * t.element_size() for t in tensors)

    def _own(self, tensor: torch.Tensor) -> torch.Tensor:
        """A copy of a part of a computed tensor (so that the rest can be freed), in the storage dtype."""
        if self.dtype is not None and tensor.dtype != self.dtype:
            return tensor.to(self.dtype)
        return tensor.clone(memory_format=torch.contiguous_format)

    def conv_inputs(self, module: nn.Module, hidden_states: torch.Tensor, padding: int) -> torch.Tensor:
        """
        The input of a causal convolution with `padding` frames of left context: the cached last `padding` input
        frames before this call (zeros at the start of the stream, as the convolution's own padding) and
        `hidden_states` `(batch_size, channels, time)`. Stages the `padding` frames before position `keep`.
        """
        past = self._entries.get(module)
        if past is None:
            inputs = F.pad(hidden_states, (padding, 0))
        else:
            inputs = torch.cat([past.to(hidden_states.dtype), hidden_states], dim=2)
        if self.keep > 0 and padding > 0:
            self._staged[module] = self._own(inputs[:, :, self.keep : self.keep + padding])
        return inputs

    def keys_values(
        self, module: nn.Module, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """
        The keys and values `(batch_size, length + time, channels)` of all positions up to the end of this call: the
        cached ones followed by this call's `key`, `value` `(batch_size, time, channels)` (the projections, heads not
        yet split), which are written into the cache's buffers after the `length` cached positions. Views of the
        buffers when they keep the computation's dtype; otherwise the cached positions cast back, then this call's
        own (unrounded) ones.
        """
        batch_size, time, channels = key.shape
        end = self.length + time
        buffers = self._entries.get(module)
        if buffers is None or buffers[0].shape[1] < end:
            capacity = end if buffers is None else max(end, buffers[0].shape[1] * 5 // 4)
            dtype = key.dtype if self.dtype is None else self.dtype
            grown = tuple(key.new_empty(batch_size, capacity, channels, dtype=dtype) for _ in "kv")
            if buffers is not None:
                for new, old in zip(grown, buffers):
                    new[:, : self.length] = old[:, : self.length]
            buffers = self._entries[module] = grown
        buffers[0][:, self.length : end] = key
        buffers[1][:, self.length : end] = value
        if buffers[0].dtype == key.dtype:
            return buffers[0][:, :end], buffers[1][:, :end]
        return (
            torch.cat([buffers[0][:, : self.length].to(key.dtype), key], dim=1),
            torch.cat([buffers[1][:, : self.length].to(value.dtype), value], dim=1),
        )


# ----------------------------------------------------------------------------------------------------------------------
# Encoder: upsampling Conformer (CosyVoice2's UpsampleConformerEncoder)
# ----------------------------------------------------------------------------------------------------------------------


class FlowRelPositionalEncoding(nn.Module):
    """
    ESPnet's relative positional encoding (`rel_pos_espnet`): scales the input by sqrt(d_model) and returns the
    sinusoidal encodings of the relative positions `T-1, ..., 0, ..., -(T-1)`.

    The table is computed at init for `max_len` positions on each side, on the CPU in float32 as the release does
    (non-persistent buffer `pe`, shape `(1, 2 * max_len - 1, d_model)`), and computed the same way for longer inputs.
    `reset_computed_buffers()` recomputes it in place (for loaders that materialise non-persistent buffers empty).
    """

    def __init__(self, d_model: int, max_len: int = 5000):
        super().__init__()
        self.d_model = d_model
        self.max_len = max_len
        self.xscale = math.sqrt(d_model)
        self.register_buffer("pe", self._table(max_len, torch.device("cpu")), persistent=False)

    @torch.no_grad()
    def reset_computed_buffers(self) -> None:
        """Recomputes `pe` in place (same device and dtype)."""
        self.pe.copy_(self._table(self.max_len, torch.device("cpu")))

    def _table(self, length: int, device: torch.device) -> torch.Tensor:
        position = torch.arange(0, length, dtype=torch.float32, device=device).unsqueeze(1)
        div_term = torch.exp(
            torch.arange(0, self.d_model, 2, dtype=torch.float32, device=device) * -(math.log(10000.0) / self.d_model)
        )
        positive = torch.zeros(length, self.d_model, device=device)
        negative = torch.zeros(length, self.d_model, device=device)
        positive[:, 0::2] = torch.sin(position * div_term)
        positive[:, 1::2] = torch.cos(position * div_term)
        negative[:, 0::2] = torch.sin(-1 * position * div_term)
        negative[:, 1::2] = torch.cos(-1 * position * div_term)
        return torch.cat([torch.flip(positive, [0]), negative[1:]], dim=0).unsqueeze(0)

    def forward(self, hidden_states: torch.Tensor, past: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, time, d_model)`)
            past (`int`): positions before these (a streamed call's cached ones), which the queries also attend to.

        Returns:
            `(hidden_states * sqrt(d_model), pos_emb)` with `pos_emb` of shape `(1, past + 2 * time - 1, d_model)`:
            the encodings of the relative positions `past + time - 1, ..., -(time - 1)` (all that these queries
            have to the `past + time` keys; `time - 1 .. -(time - 1)` without a past).
        """
        length, keys = hidden_states.shape[1], past + hidden_states.shape[1]
        table = self.pe
        if table.shape[1] < 2 * keys - 1:
            table = self._table(keys, torch.device("cpu"))
        center = table.shape[1] // 2
        pos_emb = table[:, center - keys + 1 : center + length].to(hidden_states)
        return hidden_states * self.xscale, pos_emb


class FlowLinearInput(nn.Module):
    """The encoder's input layer (`input_layer="linear"`): Linear -> LayerNorm -> relative positional encoding."""

    def __init__(self, input_size: int, output_size: int):
        super().__init__()
        self.out = nn.Sequential(nn.Linear(input_size, output_size), nn.LayerNorm(output_size, eps=1e-5))
        self.pos_enc = FlowRelPositionalEncoding(output_size)

    def forward(self, hidden_states: torch.Tensor, past: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch_size, time, input_size)` -> `(batch_size, time, output_size)` and the relative encodings (see
        `FlowRelPositionalEncoding`; `past` cached positions before these)."""
        return self.pos_enc(self.out(hidden_states), past)


class FlowRelPositionSelfAttention(nn.Module):
    """
    Multi-head self-attention with Transformer-XL relative positions (ESPnet's `RelPositionMultiHeadedAttention`):
    scores = ((q + u) k^T + rel_shift((q + v) p^T)) / sqrt(d_k), where p are the projected relative encodings.
    """

    def __init__(self, num_heads: int, hidden_size: int, key_bias: bool = True):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"attention size {hidden_size} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.linear_q = nn.Linear(hidden_size, hidden_size)
        self.linear_k = nn.Linear(hidden_size, hidden_size, bias=key_bias)
        self.linear_v = nn.Linear(hidden_size, hidden_size)
        self.linear_out = nn.Linear(hidden_size, hidden_size)
        self.linear_pos = nn.Linear(hidden_size, hidden_size, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(num_heads, self.head_dim))
        self.pos_bias_v = nn.Parameter(torch.zeros(num_heads, self.head_dim))

    @staticmethod
    def rel_shift(scores: torch.Tensor, num_keys: int | None = None) -> torch.Tensor:
        """`(..., T, K + T - 1)` scores of `T` queries (the last `T` of `K` positions) against relative positions
        `K-1 .. -(T-1)` -> `(..., T, K)` with entry `[i, j]` the score of relative position `(K - T + i) - j`
        (column `T - 1 - i + j`). `K` (`num_keys`) defaults to `T`: `(..., T, 2T - 1)` -> `(..., T, T)`."""
        length = scores.shape[-2]
        num_keys = length if num_keys is None else num_keys
        queries = torch.arange(length, device=scores.device)
        keys = torch.arange(num_keys, device=scores.device)
        index = (length - 1) - queries.unsqueeze(1) + keys.unsqueeze(0)
        return scores.gather(-1, index.expand(*scores.shape[:-1], num_keys))

    def forward(
        self,
        hidden_states: torch.Tensor,
        pos_emb: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, time, hidden_size)`)
            pos_emb (`torch.FloatTensor` of shape `(1, past + 2 * time - 1, hidden_size)`): see
                `FlowRelPositionalEncoding`; `past` is `cache.length` (0 without a cache).
            attention_mask (`torch.BoolTensor` of shape `(batch_size, time, past + time)`, *optional*): True where
                allowed.
            cache (`FlowStreamCache`, *optional*): a streamed call's cache: the keys and values of the `past` earlier
                positions, which these queries also attend to.
        """
        batch_size, length, _ = hidden_states.shape
        shape = (batch_size, length, self.num_heads, self.head_dim)
        query = self.linear_q(hidden_states).view(shape)
        key, value = self.linear_k(hidden_states), self.linear_v(hidden_states)
        if cache is not None:
            key, value = cache.keys_values(self, key, value)
        keys_shape = (batch_size, key.shape[1], self.num_heads, self.head_dim)
        key, value = key.view(keys_shape).transpose(1, 2), value.view(keys_shape).transpose(1, 2)
        pos = self.linear_pos(pos_emb).view(pos_emb.shape[0], -1, self.num_heads, self.head_dim).transpose(1, 2)

        content = torch.matmul((query + self.pos_bias_u).transpose(1, 2), key.transpose(-2, -1))
        position = torch.matmul((query + self.pos_bias_v).transpose(1, 2), pos.transpose(-2, -1))
        if position.shape != content.shape:
            position = self.rel_shift(position, key.shape[2])
        scores = (content + position) / math.sqrt(self.head_dim)

        if attention_mask is not None:
            blocked = ~attention_mask.unsqueeze(1)
            scores = scores.masked_fill(blocked, -float("inf"))
            weights = torch.softmax(scores, dim=-1).masked_fill(blocked, 0.0)
        else:
            weights = torch.softmax(scores, dim=-1)
        context = torch.matmul(weights, value).transpose(1, 2).contiguous().view(batch_size, length, -1)
        return self.linear_out(context)


class FlowFeedForward(nn.Module):
    """Position-wise feed-forward: Linear -> activation -> Linear."""

    def __init__(self, hidden_size: int, intermediate_size: int, activation: str):
        super().__init__()
        self.w_1 = nn.Linear(hidden_size, intermediate_size)
        self.activation = _ENCODER_ACTIVATIONS[activation]()
        self.w_2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.activation(self.w_1(hidden_states)))


class FlowConformerLayer(nn.Module):
    """
    One Conformer layer as the flow encoder configures it (no convolution module): optional macaron half-step
    feed-forward, relative-position self-attention, feed-forward, with pre- (or post-) LayerNorms and residuals.
    """

    def __init__(self, config: dict):
        super().__init__()
        size = config["output_size"]
        self.normalize_before = bool(config["normalize_before"])
        self.self_attn = FlowRelPositionSelfAttention(config["attention_heads"], size, bool(config["key_bias"]))
        self.feed_forward = FlowFeedForward(size, config["linear_units"], config["activation_type"])
        if config["macaron_style"]:
            self.feed_forward_macaron = FlowFeedForward(size, config["linear_units"], config["activation_type"])
            self.ff_scale = 0.5
        else:
            self.feed_forward_macaron = None
            self.ff_scale = 1.0
        self.norm_ff = nn.LayerNorm(size, eps=1e-12)
        self.norm_mha = nn.LayerNorm(size, eps=1e-12)
        if self.feed_forward_macaron is not None:
            self.norm_ff_macaron = nn.LayerNorm(size, eps=1e-12)

    def _residual(
        self,
        hidden_states: torch.Tensor,
        norm: nn.Module,
        sublayer: Callable[[torch.Tensor], torch.Tensor],
        scale: float = 1.0,
    ) -> torch.Tensor:
        inputs = norm(hidden_states) if self.normalize_before else hidden_states
        hidden_states = hidden_states + scale * sublayer(inputs)
        return hidden_states if self.normalize_before else norm(hidden_states)

    def forward(
        self,
        hidden_states: torch.Tensor,
        pos_emb: torch.Tensor,
        attention_mask: torch.Tensor | None,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """`(batch_size, time, size)` -> `(batch_size, time, size)`; `pos_emb`, mask and cache as in
        `FlowRelPositionSelfAttention`."""
        if self.feed_forward_macaron is not None:
            hidden_states = self._residual(
                hidden_states, self.norm_ff_macaron, self.feed_forward_macaron, self.ff_scale
            )
        hidden_states = self._residual(
            hidden_states, self.norm_mha, lambda x: self.self_attn(x, pos_emb, attention_mask, cache)
        )
        return self._residual(hidden_states, self.norm_ff, self.feed_forward, self.ff_scale)


class FlowPreLookaheadLayer(nn.Module):
    """
    Lets each token see `pre_lookahead_len` tokens ahead before the Conformer layers: right-padded convolution of
    kernel `pre_lookahead_len + 1` -> leaky ReLU -> left-padded (causal) convolution of kernel 3, plus a residual.
    """

    def __init__(self, channels: int, pre_lookahead_len: int):
        super().__init__()
        self.pre_lookahead_len = pre_lookahead_len
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=pre_lookahead_len + 1)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3)

    def forward(self, hidden_states: torch.Tensor, cache: FlowStreamCache | None = None) -> torch.Tensor:
        """`(batch_size, time, channels)` -> same shape. With a streamed call's `cache` (token positions), the
        causal convolution continues from the cached positions; the lookahead convolution needs none (a call
        recomputes every position whose lookahead it has not seen in full)."""
        outputs = hidden_states.transpose(1, 2).contiguous()
        outputs = F.leaky_relu(self.conv1(F.pad(outputs, (0, self.pre_lookahead_len))))
        outputs = self.conv2(F.pad(outputs, (2, 0)) if cache is None else cache.conv_inputs(self.conv2, outputs, 2))
        return outputs.transpose(1, 2).contiguous() + hidden_states


class FlowUpsample(nn.Module):
    """Nearest-neighbour upsampling by `stride` followed by a causal convolution of kernel `2 * stride + 1`."""

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(channels, channels, 2 * stride + 1)

    def forward(self, hidden_states: torch.Tensor, cache: FlowStreamCache | None = None) -> torch.Tensor:
        """`(batch_size, channels, time)` -> `(batch_size, channels, stride * time)`; a streamed call's `cache` is in
        output (mel frame) positions."""
        outputs = hidden_states.repeat_interleave(self.stride, dim=-1)
        padding = 2 * self.stride
        return self.conv(F.pad(outputs, (padding, 0)) if cache is None else cache.conv_inputs(self, outputs, padding))


class UpsampleConformerEncoder(nn.Module):
    """
    CosyVoice2's flow encoder: input layer -> pre-lookahead layer -> `num_blocks` Conformer layers (static chunks of
    `static_chunk_size` tokens) -> x`upsample_stride` upsampling -> input layer -> `num_up_blocks` Conformer layers
    (chunks of `static_chunk_size * upsample_stride` frames) -> final LayerNorm (when `normalize_before`).

    Within a chunk attention is bidirectional; across chunks it only looks back. Together with the causal upsampling
    convolution and the `pre_lookahead_len`-token lookahead, the output frames of a chunk depend only on the tokens up
    to the end of that chunk plus `pre_lookahead_len`. `static_chunk_size` is a plain attribute (0: full attention).
    """

    def __init__(self, config: dict):
        super().__init__()
        size = config["output_size"]
        self.static_chunk_size = int(config["static_chunk_size"])
        self.normalize_before = bool(config["normalize_before"])
        self.embed = FlowLinearInput(config["input_size"], size)
        self.after_norm = nn.LayerNorm(size, eps=1e-5)
        self.pre_lookahead_layer = FlowPreLookaheadLayer(size, int(config["pre_lookahead_len"]))
        self.encoders = nn.ModuleList(FlowConformerLayer(config) for _ in range(config["num_blocks"]))
        self.up_layer = FlowUpsample(size, int(config["upsample_stride"]))
        self.up_embed = FlowLinearInput(config["input_size"], size)
        self.up_encoders = nn.ModuleList(FlowConformerLayer(config) for _ in range(config["num_up_blocks"]))

    def _chunk_mask(self, length: int, chunk_size: int, device: torch.device, past: int = 0) -> torch.Tensor | None:
        return static_chunk_mask(length, chunk_size, device, past).unsqueeze(0) if chunk_size > 0 else None

    def forward(
        self,
        token_embeds: torch.Tensor,
        token_cache: FlowStreamCache | None = None,
        frame_cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """
        Args:
            token_embeds (`torch.FloatTensor` of shape `(batch_size, num_tokens, input_size)`): unpadded.
            token_cache, frame_cache (`FlowStreamCache`, *optional*, both or neither): a streamed call's caches, in
                token and in output frame positions; `token_embeds` are then the tokens after the
                `token_cache.length` cached ones (`frame_cache.length == token_cache.length * upsample_stride`).

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_tokens * upsample_stride, output_size)`.
        """
        past = 0 if token_cache is None else token_cache.length
        hidden_states, pos_emb = self.embed(token_embeds, past)
        mask = self._chunk_mask(hidden_states.shape[1], self.static_chunk_size, hidden_states.device, past)
        hidden_states = self.pre_lookahead_layer(hidden_states, token_cache)
        for layer in self.encoders:
            hidden_states = layer(hidden_states, pos_emb, mask, token_cache)

        hidden_states = hidden_states.transpose(1, 2).contiguous()
        hidden_states = self.up_layer(hidden_states, frame_cache).transpose(1, 2).contiguous()
        past = 0 if frame_cache is None else frame_cache.length
        hidden_states, pos_emb = self.up_embed(hidden_states, past)
        up_chunk = self.static_chunk_size * self.up_layer.stride
        mask = self._chunk_mask(hidden_states.shape[1], up_chunk, hidden_states.device, past)
        for layer in self.up_encoders:
            hidden_states = layer(hidden_states, pos_emb, mask, frame_cache)
        return self.after_norm(hidden_states) if self.normalize_before else hidden_states


# ----------------------------------------------------------------------------------------------------------------------
# Flow-matching estimator: causal 1D U-Net with transformer blocks (CosyVoice2's ConditionalDecoder, causal=True)
# ----------------------------------------------------------------------------------------------------------------------


class Transpose(nn.Module):
    """Swaps two dimensions (inside `nn.Sequential`)."""

    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states.transpose(self.dim0, self.dim1)


class CausalConv1d(nn.Conv1d):
    """A stride-1 convolution padded on the left only (`kernel_size - 1` zeros): output `t` sees inputs `<= t`.
    With a streamed call's `cache`, the left context is the cached last input frames instead."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, kernel_size)
        self.causal_padding = kernel_size - 1

    def forward(self, hidden_states: torch.Tensor, cache: FlowStreamCache | None = None) -> torch.Tensor:
        if cache is None:
            return super().forward(F.pad(hidden_states, (self.causal_padding, 0)))
        return super().forward(cache.conv_inputs(self, hidden_states, self.causal_padding))


class CausalBlock1D(nn.Module):
    """Masked causal convolution (kernel 3) -> LayerNorm over channels -> Mish, masked again."""

    def __init__(self, dim: int, dim_out: int):
        super().__init__()
        self.block = nn.Sequential(
            CausalConv1d(dim, dim_out, 3), Transpose(1, 2), nn.LayerNorm(dim_out), Transpose(1, 2), nn.Mish()
        )

    def forward(
        self, hidden_states: torch.Tensor, mask: torch.Tensor, cache: FlowStreamCache | None = None
    ) -> torch.Tensor:
        """`(batch_size, dim, time)`, mask `(batch_size, 1, time)` -> `(batch_size, dim_out, time)`; `cache` as in
        `CausalConv1d`."""
        outputs = self.block[0](hidden_states * mask, cache)
        for module in self.block[1:]:
            outputs = module(outputs)
        return outputs * mask


class CausalResnetBlock1D(nn.Module):
    """Two causal blocks with the time embedding added in between (Mish -> Linear), plus a 1x1 convolution residual."""

    def __init__(self, dim: int, dim_out: int, time_emb_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Mish(), nn.Linear(time_emb_dim, dim_out))
        self.block1 = CausalBlock1D(dim, dim_out)
        self.block2 = CausalBlock1D(dim_out, dim_out)
        self.res_conv = nn.Conv1d(dim, dim_out, 1)

    def forward(
        self,
        hidden_states: torch.Tensor,
        mask: torch.Tensor,
        time_emb: torch.Tensor,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """`(batch_size, dim, time)`, mask `(batch_size, 1, time)`, time_emb `(batch_size, time_emb_dim)`; `cache` as
        in `CausalConv1d`."""
        outputs = self.block1(hidden_states, mask, cache) + self.mlp(time_emb).unsqueeze(-1)
        outputs = self.block2(outputs, mask, cache)
        return outputs + self.res_conv(hidden_states * mask)


def _check_not_streamed(module: nn.Module, cache: FlowStreamCache | None) -> None:
    if cache is not None and (cache.length or cache.keep):
        raise ValueError(
            f"{type(module).__name__} (a multi-level estimator's stride-2 resampling, which sees the next frame) "
            "cannot continue a streamed call from cached frames: incremental streaming needs a single-level "
            "estimator (decoder.estimator['channels'] of one entry)"
        )


class Downsample1D(nn.Module):
    """Stride-2 convolution (kernel 3, padding 1), between U-Net levels when `channels` has several entries. Not
    causal: a streamed call cannot continue it from cached frames (`cache` must hold none)."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, 3, 2, 1)

    def forward(self, hidden_states: torch.Tensor, cache: FlowStreamCache | None = None) -> torch.Tensor:
        _check_not_streamed(self, cache)
        return self.conv(hidden_states)


class Upsample1D(nn.Module):
    """Transposed convolution (kernel 4, stride 2, padding 1), between U-Net levels when `channels` has several
    entries. Not causal, like `Downsample1D`."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.ConvTranspose1d(dim, dim, 4, 2, 1)

    def forward(self, hidden_states: torch.Tensor, cache: FlowStreamCache | None = None) -> torch.Tensor:
        _check_not_streamed(self, cache)
        return self.conv(hidden_states)


class SinusoidalPosEmb(nn.Module):
    """Sinusoidal embedding of the flow time `t` (scaled by 1000): `[sin(1000 t w_k), cos(1000 t w_k)]`."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, timesteps: torch.Tensor, scale: float = 1000.0) -> torch.Tensor:
        """`(batch_size,)` -> `(batch_size, dim)` in float32 (the release computes the frequencies in float32)."""
        half_dim = self.dim // 2
        exponent = math.log(10000) / (half_dim - 1)
        freqs = torch.exp(torch.arange(half_dim, device=timesteps.device).float() * -exponent)
        args = scale * timesteps.unsqueeze(1) * freqs.unsqueeze(0)
        return torch.cat((args.sin(), args.cos()), dim=-1)


class TimestepEmbedding(nn.Module):
    """Linear -> SiLU -> Linear on the sinusoidal time embedding."""

    def __init__(self, in_channels: int, time_embed_dim: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, time_embed_dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(time_embed_dim, time_embed_dim)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(sample)))


class EstimatorAttention(nn.Module):
    """Multi-head self-attention of the estimator's transformer blocks (diffusers' `Attention` as Matcha-TTS uses it:
    no q/k/v bias, output projection with bias, scaled dot-product attention with an additive mask)."""

    def __init__(self, dim: int, num_heads: int, head_dim: int):
        super().__init__()
        inner_dim = num_heads * head_dim
        self.num_heads, self.head_dim = num_heads, head_dim
        self.to_q = nn.Linear(dim, inner_dim, bias=False)
        self.to_k = nn.Linear(dim, inner_dim, bias=False)
        self.to_v = nn.Linear(dim, inner_dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner_dim, dim)])

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_bias: torch.Tensor | None,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, time, dim)`)
            attention_bias (`torch.FloatTensor` of shape `(batch_size, num_heads, time, past + time)`): 0 where
                allowed, the dtype's lowest value elsewhere; None: everything allowed.
            cache (`FlowStreamCache`, *optional*): a streamed call's cache: the keys and values of the `past`
                (`cache.length`) earlier frames, which these queries also attend to.
        """
        batch_size, length, _ = hidden_states.shape
        shape = (batch_size, length, self.num_heads, self.head_dim)
        query = self.to_q(hidden_states).view(shape).transpose(1, 2)
        key, value = self.to_k(hidden_states), self.to_v(hidden_states)
        if cache is not None:
            key, value = cache.keys_values(self, key, value)
        keys_shape = (batch_size, key.shape[1], self.num_heads, self.head_dim)
        key, value = key.view(keys_shape).transpose(1, 2), value.view(keys_shape).transpose(1, 2)
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_bias)
        context = context.transpose(1, 2).reshape(batch_size, length, self.num_heads * self.head_dim)
        return self.to_out[0](context.to(query.dtype))


class EstimatorGELU(nn.Module):
    """Linear -> GELU (exact, or tanh-approximated for `act_fn="gelu-approximate"`)."""

    def __init__(self, dim_in: int, dim_out: int, approximate: str):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)
        self.approximate = approximate

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(hidden_states), approximate=self.approximate)


class EstimatorFeedForward(nn.Module):
    """Feed-forward of the transformer blocks: `net = [Linear -> GELU (x4 width), (dropout), Linear]`."""

    def __init__(self, dim: int, act_fn: str, mult: int = 4):
        super().__init__()
        # Index 1 is the released dropout (identity at inference); it keeps the output projection at `net.2`.
        self.net = nn.ModuleList([EstimatorGELU(dim, dim * mult, _ESTIMATOR_GELU[act_fn]), nn.Identity()])
        self.net.append(nn.Linear(dim * mult, dim))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for module in self.net:
            hidden_states = module(hidden_states)
        return hidden_states


class BasicTransformerBlock(nn.Module):
    """Pre-LayerNorm transformer block (Matcha-TTS's): self-attention and feed-forward, each with a residual."""

    def __init__(self, dim: int, num_heads: int, head_dim: int, act_fn: str):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = EstimatorAttention(dim, num_heads, head_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = EstimatorFeedForward(dim, act_fn)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_bias: torch.Tensor | None,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """`(batch_size, time, dim)` -> same shape; `attention_bias` and `cache` as in `EstimatorAttention`."""
        hidden_states = self.attn1(self.norm1(hidden_states), attention_bias, cache) + hidden_states
        return self.ff(self.norm3(hidden_states)) + hidden_states


class ConditionalDecoder(nn.Module):
    """
    The velocity estimator of the flow-matching ODE (CosyVoice2's `ConditionalDecoder` with `causal=True`): a 1D
    U-Net over mel frames whose input is `[x, mu, speaker, cond]` stacked on channels, conditioned on the flow time.

        down levels: causal ResNet block -> transformer blocks -> (stride-2 conv, or a causal conv at the last level)
        mid: `num_mid_blocks` x (causal ResNet block -> transformer blocks)
        up levels: concat skip -> causal ResNet block -> transformer blocks -> (transposed conv, or a causal conv)
        final causal block -> 1x1 conv to `out_channels`

    Every attention is static-chunk (`static_chunk_size` frames; 0: full), a plain attribute like in the release.
    """

    def __init__(self, config: dict):
        super().__init__()
        in_channels, channels = int(config["in_channels"]), tuple(int(c) for c in config["channels"])
        heads, head_dim, act_fn = int(config["num_heads"]), int(config["attention_head_dim"]), config["act_fn"]
        self.static_chunk_size = int(config["static_chunk_size"])
        self.num_heads = heads
        time_embed_dim = channels[0] * 4
        self.time_embeddings = SinusoidalPosEmb(in_channels)
        self.time_mlp = TimestepEmbedding(in_channels, time_embed_dim)

        def transformer_blocks(dim: int) -> nn.ModuleList:
            return nn.ModuleList(
                BasicTransformerBlock(dim, heads, head_dim, act_fn) for _ in range(config["n_blocks"])
            )

        self.down_blocks = nn.ModuleList()
        output_channel = in_channels
        for level, channel in enumerate(channels):
            input_channel, output_channel = output_channel, channel
            is_last = level == len(channels) - 1
            resnet = CausalResnetBlock1D(input_channel, output_channel, time_embed_dim)
            downsample = CausalConv1d(output_channel, output_channel, 3) if is_last else Downsample1D(output_channel)
            self.down_blocks.append(nn.ModuleList([resnet, transformer_blocks(output_channel), downsample]))

        self.mid_blocks = nn.ModuleList(
            nn.ModuleList(
                [CausalResnetBlock1D(channels[-1], channels[-1], time_embed_dim), transformer_blocks(channels[-1])]
            )
            for _ in range(config["num_mid_blocks"])
        )

        self.up_blocks = nn.ModuleList()
        up_channels = channels[::-1] + (channels[0],)
        for level in range(len(up_channels) - 1):
            input_channel, output_channel = up_channels[level] * 2, up_channels[level + 1]
            is_last = level == len(up_channels) - 2
            resnet = CausalResnetBlock1D(input_channel, output_channel, time_embed_dim)
            upsample = CausalConv1d(output_channel, output_channel, 3) if is_last else Upsample1D(output_channel)
            self.up_blocks.append(nn.ModuleList([resnet, transformer_blocks(output_channel), upsample]))

        self.final_block = CausalBlock1D(up_channels[-1], up_channels[-1])
        self.final_proj = nn.Conv1d(up_channels[-1], int(config["out_channels"]), 1)

    def _attention_bias(
        self, mask: torch.Tensor, dtype: torch.dtype, cache: FlowStreamCache | None = None
    ) -> torch.Tensor | None:
        """`(batch_size, 1, time)` frame mask -> `(batch_size, num_heads, time, past + time)` additive bias: padding
        keys and keys past the query's chunk get the dtype's lowest value. Materialised per head, like the release's
        mask (the attention kernel then sees the same layout). With a streamed call's `cache`, the queries follow its
        `past = cache.length` cached frames (all valid), and the bias is None when every key is allowed."""
        past = 0 if cache is None else cache.length
        batch_size, length = mask.shape[0], mask.shape[-1]
        keys = F.pad(mask, (past, 0), value=1.0) if past else mask
        allowed = keys.bool() & static_chunk_mask(length, self.static_chunk_size, mask.device, past).unsqueeze(0)
        if cache is not None and bool(allowed.all()):
            return None
        bias = torch.zeros(allowed.shape, dtype=dtype, device=mask.device).masked_fill(~allowed, torch.finfo(dtype).min)
        return bias.unsqueeze(1).expand(batch_size, self.num_heads, length, past + length).contiguous()

    def _transformer(
        self,
        hidden_states: torch.Tensor,
        mask: torch.Tensor,
        blocks: nn.ModuleList,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        hidden_states = hidden_states.transpose(1, 2).contiguous()
        bias = self._attention_bias(mask, hidden_states.dtype, cache)
        for block in blocks:
            hidden_states = block(hidden_states, bias, cache)
        return hidden_states.transpose(1, 2).contiguous()

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        cache: FlowStreamCache | None = None,
    ) -> torch.Tensor:
        """
        Args:
            x (`torch.FloatTensor` of shape `(batch_size, n_mels, time)`): the current ODE state.
            mask (`torch.FloatTensor` of shape `(batch_size, 1, time)`): 1 at valid frames.
            mu (`torch.FloatTensor` of shape `(batch_size, n_mels, time)`): the encoder's projected output.
            t (`torch.FloatTensor` of shape `(batch_size,)`): the flow time in [0, 1].
            spks (`torch.FloatTensor` of shape `(batch_size, n_mels)`): the projected speaker embedding.
            cond (`torch.FloatTensor` of shape `(batch_size, n_mels, time)`): prompt mel frames (zeros without prompt).
            cache (`FlowStreamCache`, *optional*): a streamed call's cache for this ODE step: the inputs are the
                frames after its `length` cached ones (all valid; `mask` all ones), which the causal convolutions
                and the attention continue from. Only a single-level estimator can continue from cached frames.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, out_channels, time)`: the velocity, zero at masked frames.
        """
        time_emb = self.time_mlp(self.time_embeddings(t).to(t.dtype))
        spks = spks.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        hidden_states = torch.cat([x, mu, spks, cond], dim=1)

        skips, masks = [], [mask]
        for resnet, blocks, downsample in self.down_blocks:
            mask_down = masks[-1]
            hidden_states = resnet(hidden_states, mask_down, time_emb, cache)
            hidden_states = self._transformer(hidden_states, mask_down, blocks, cache)
            skips.append(hidden_states)
            hidden_states = downsample(hidden_states * mask_down, cache)
            masks.append(mask_down[:, :, ::2])
        masks = masks[:-1]

        mask_mid = masks[-1]
        for resnet, blocks in self.mid_blocks:
            hidden_states = self._transformer(resnet(hidden_states, mask_mid, time_emb, cache), mask_mid, blocks, cache)

        for resnet, blocks, upsample in self.up_blocks:
            mask_up, skip = masks.pop(), skips.pop()
            hidden_states = torch.cat([hidden_states[:, :, : skip.shape[-1]], skip], dim=1)
            hidden_states = self._transformer(resnet(hidden_states, mask_up, time_emb, cache), mask_up, blocks, cache)
            hidden_states = upsample(hidden_states * mask_up, cache)
        hidden_states = self.final_block(hidden_states, mask_up, cache)
        return self.final_proj(hidden_states * mask_up) * mask


class CausalConditionalCFM(nn.Module):
    """
    Conditional flow matching sampler (CosyVoice2's `CausalConditionalCFM`): fixed-step Euler integration of
    dx/dt = v(x, t | mu, speaker) from the given noise at t=0 to the mel at t=1, on a cosine time grid, with
    classifier-free guidance `v = (1 + w) v_cond - w v_uncond` (`w = inference_cfg_rate`). The unconditional half of
    the batch has mu, speaker and cond set to zero.
    """

    def __init__(self, config: dict):
        super().__init__()
        cfm_params = config["cfm_params"]
        self.t_scheduler = cfm_params["t_scheduler"]
        self.inference_cfg_rate = float(cfm_params["inference_cfg_rate"])
        self.estimator = ConditionalDecoder(config["estimator"])

    def time_grid(self, n_timesteps: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The `n_timesteps + 1` ODE times from 0 to 1 (`1 - cos(pi t / 2)` for the cosine scheduler)."""
        t_span = torch.linspace(0, 1, n_timesteps + 1, device=device, dtype=dtype)
        if self.t_scheduler == "cosine":
            t_span = 1 - torch.cos(t_span * 0.5 * torch.pi)
        return t_span

    def forward(
        self,
        mu: torch.Tensor,
        spks: torch.Tensor,
        x0: torch.Tensor,
        n_timesteps: int = 10,
        caches: list[FlowStreamCache | None] | None = None,
    ) -> torch.Tensor:
        """
        Args:
            mu (`torch.FloatTensor` of shape `(1, n_mels, frames)`): the encoder's projected output.
            spks (`torch.FloatTensor` of shape `(1, n_mels)`): the projected speaker embedding.
            x0 (`torch.FloatTensor` of shape `(1, n_mels, frames)`): the starting noise (already times temperature).
            n_timesteps (`int`): Euler steps.
            caches (`list[FlowStreamCache]`, *optional*): a streamed call's estimator caches, one per Euler step
                (both halves of the guidance batch in each); `mu` and `x0` are then the frames after the cached ones.

        Returns:
            `torch.FloatTensor` of shape `(1, n_mels, frames)`, in mu's dtype.
        """
        if caches is not None and len(caches) != n_timesteps:
            raise ValueError(f"{len(caches)} estimator caches for {n_timesteps} Euler steps")
        t_span = self.time_grid(n_timesteps, mu.device, mu.dtype)
        x, t, dt = x0, t_span[0].unsqueeze(0), t_span[1] - t_span[0]
        cond = torch.zeros_like(mu)
        guided = self.inference_cfg_rate > 0
        if guided:
            mask = torch.ones(2, 1, mu.shape[2], device=mu.device, dtype=mu.dtype)
            mu_in = torch.cat([mu, torch.zeros_like(mu)])
            spks_in = torch.cat([spks, torch.zeros_like(spks)])
            cond_in = torch.cat([cond, torch.zeros_like(cond)])
        else:
            mask = torch.ones(1, 1, mu.shape[2], device=mu.device, dtype=mu.dtype)
            mu_in, spks_in, cond_in = mu, spks, cond
        for step in range(1, len(t_span)):
            cache = None if caches is None else caches[step - 1]
            if guided:
                velocity = self.estimator(torch.cat([x, x]), mask, mu_in, t.expand(2), spks_in, cond_in, cache)
                conditional, unconditional = velocity.split(x.shape[0])
                velocity = (1.0 + self.inference_cfg_rate) * conditional - self.inference_cfg_rate * unconditional
            else:
                velocity = self.estimator(x, mask, mu_in, t, spks_in, cond_in, cache)
            x = x + dt * velocity
            t = t + dt
            if step < len(t_span) - 1:
                dt = t_span[step + 1] - t
        return x


# ----------------------------------------------------------------------------------------------------------------------
# The flow
# ----------------------------------------------------------------------------------------------------------------------


class FlowStreamState:
    """
    One stream of `Token2WavFlow.stream_chunk` calls: the speaker condition, the noise and the ODE settings, how far
    the stream has come, and the caches that let a call compute only the frames after the cached ones (see
    `FlowStreamCache`): one for the encoder's token positions, one for its mel frames, and one per Euler step for the
    estimator (both halves of the guidance batch). Made by `Token2WavFlow.start_stream`; one per stream, usable only
    with the flow that made it.

    Attributes:
        tokens (`torch.LongTensor` of shape `(1, num_tokens)` or None): the last call's tokens.
        num_tokens (`int`): tokens of the last call (0 before the first).
        emitted_frames (`int`): mel frames returned so far; the next call returns the frames after these.
        cached_frames (`int`): leading mel frames whose encoder and estimator states are cached, so that a call
            computes only the frames after them; a multiple of `period`.
        computed_frames (`int`): mel frames the estimator has computed in all calls (`emitted_frames` when each call
            starts where the cache ends, as LLaMA-Omni2's schedule does at the released chunk sizes).
        finished (`bool`): True after the `finalize=True` call (see `finish`).
        chunk_sizes (`tuple[int, int]`): the encoder's and the estimator's `static_chunk_size` when the stream
            started (they must not change during it).
        period (`int` or None): `Token2WavFlow.stream_period` when the stream started.
        speaker (`torch.FloatTensor` of shape `(1, output_size)`): the projected speaker condition.
        noise, n_timesteps, temperature, cache_dtype: as given to `start_stream`.
    """

    def __init__(
        self,
        owner: nn.Module,
        speaker: torch.Tensor,
        noise: torch.Tensor,
        n_timesteps: int,
        temperature: float,
        cache_dtype: torch.dtype | None,
        chunk_sizes: tuple[int, int],
        period: int | None,
    ):
        self.owner_id = id(owner)
        self.speaker, self.noise = speaker, noise
        self.n_timesteps, self.temperature, self.cache_dtype = n_timesteps, temperature, cache_dtype
        self.chunk_sizes, self.period = chunk_sizes, period
        self.tokens: torch.Tensor | None = None
        self.emitted_frames = self.cached_frames = self.computed_frames = 0
        self.finished = False
        self._new_caches()

    def _new_caches(self) -> None:
        self.token_cache = FlowStreamCache(self.cache_dtype)
        self.frame_cache = FlowStreamCache(self.cache_dtype)
        self.step_caches = [FlowStreamCache(self.cache_dtype) for _ in range(self.n_timesteps)]

    def finish(self) -> None:
        """Ends the stream (further `stream_chunk` calls raise) and frees the caches' memory; the `finalize=True`
        call does it."""
        self.finished = True
        self._new_caches()

    @property
    def num_tokens(self) -> int:
        return 0 if self.tokens is None else self.tokens.shape[1]

    def caches(self) -> list[FlowStreamCache]:
        """The encoder's token and frame caches, then the estimator's per-step caches."""
        return [self.token_cache, self.frame_cache, *self.step_caches]

    def num_cache_bytes(self) -> int:
        """Bytes held by the cached tensors (the estimator's keys and values are nearly all of it)."""
        return sum(cache.num_bytes() for cache in self.caches())


class Token2WavFlow(nn.Module):
    """
    CosyVoice2's flow (`CausalMaskedDiffWithXvec`) for LLaMA-Omni2: speech tokens + speaker x-vector -> mel, without
    a prompt (the release passes empty prompt tokens and features).

    Args:
        flow_config (`dict`): the released yaml's `flow:` section as a dict: `input_size`, `output_size` (mel bins,
            80), `spk_embed_dim`, `vocab_size`, `input_frame_rate`, `token_mel_ratio`, `pre_lookahead_len`, `encoder`
            (UpsampleConformerEncoder arguments, `static_chunk_size` in tokens) and `decoder` (`cfm_params`,
            `estimator`: ConditionalDecoder arguments plus `static_chunk_size` in mel frames). Missing keys take the
            defaults in `FLOW_DEFAULTS`, `ENCODER_DEFAULTS`, `CFM_DEFAULTS` and `ESTIMATOR_DEFAULTS`.

    Attributes: `input_frame_rate` (tokens per second), `token_mel_ratio` (mel frames per token), `pre_lookahead_len`
    (tokens of right context held back by a non-final call), `vocab_size`, `output_size`, `spk_embed_dim`, `config`
    (the resolved hyperparameters). `encoder.static_chunk_size` and `decoder.estimator.static_chunk_size` can be set
    like in the release. The only buffers are the encoder's relative positional tables (non-persistent, recomputed
    by their `reset_computed_buffers()`).

    Streaming: `inference` on all tokens so far is what the release runs for every chunk (quadratic in the length).
    `start_stream` + `stream_chunk` give the same frames (to float rounding) computing only the new ones, where the
    chunk sizes allow it (see `stream_period`).

    Raises:
        ValueError: for a configuration this port does not implement (see `resolve_flow_config`).
    """

    def __init__(self, flow_config: dict | None = None):
        super().__init__()
        config = resolve_flow_config(flow_config)
        self.config = config
        self.input_frame_rate = int(config["input_frame_rate"])
        self.token_mel_ratio = int(config["token_mel_ratio"])
        self.pre_lookahead_len = int(config["pre_lookahead_len"])
        self.vocab_size = int(config["vocab_size"])
        self.output_size = int(config["output_size"])
        self.spk_embed_dim = int(config["spk_embed_dim"])

        self.input_embedding = nn.Embedding(self.vocab_size, config["input_size"])
        self.spk_embed_affine_layer = nn.Linear(self.spk_embed_dim, self.output_size)
        self.encoder = UpsampleConformerEncoder(config["encoder"])
        self.encoder_proj = nn.Linear(config["encoder"]["output_size"], self.output_size)
        self.decoder = CausalConditionalCFM(config["decoder"])

    @property
    def frame_rates(self) -> dict[str, int]:
        """The released rates: `input_frame_rate` (tokens/s), `token_mel_ratio`, `pre_lookahead_len` (tokens)."""
        return {
            "input_frame_rate": self.input_frame_rate,
            "token_mel_ratio": self.token_mel_ratio,
            "pre_lookahead_len": self.pre_lookahead_len,
        }

    @property
    def dtype(self) -> torch.dtype:
        return self.input_embedding.weight.dtype

    def num_mel_frames(self, num_tokens: int, finalize: bool = True) -> int:
        """Mel frames that `inference` returns for `num_tokens` tokens: `num_tokens * upsample_stride`, less
        `pre_lookahead_len * token_mel_ratio` when not final (never below 0)."""
        frames = num_tokens * self.encoder.up_layer.stride
        if not finalize:
            frames -= self.pre_lookahead_len * self.token_mel_ratio
        return max(frames, 0)

    def _check_tokens(self, tokens: torch.Tensor) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.shape[0] != 1:
            shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be a tensor of shape (1, num_tokens), got {shape}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise ValueError(f"tokens must be integer ids, got dtype {tokens.dtype}")
        if tokens.shape[1] == 0:
            raise ValueError("tokens is empty: the flow needs at least one speech token")
        low, high = int(tokens.min()), int(tokens.max())
        if low < 0 or high >= self.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"speech token ids must lie in [0, {self.vocab_size}), got {bad}")

    def _check_embedding(self, embedding: torch.Tensor) -> None:
        if not isinstance(embedding, torch.Tensor) or tuple(embedding.shape) != (1, self.spk_embed_dim):
            shape = tuple(embedding.shape) if isinstance(embedding, torch.Tensor) else type(embedding).__name__
            raise ValueError(f"embedding must be a speaker x-vector of shape (1, {self.spk_embed_dim}), got {shape}")

    def _check_noise(self, noise: torch.Tensor, frames: int | None) -> None:
        """`frames`: how many the call needs (None: only the shape is checked)."""
        if not isinstance(noise, torch.Tensor) or noise.dim() != 3 or tuple(noise.shape[:2]) != (1, self.output_size):
            shape = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
            needed = "frames" if frames is None else frames
            raise ValueError(f"noise must have shape (1, {self.output_size}, >= {needed}), got {shape}")
        if frames is not None and noise.shape[2] < frames:
            raise ValueError(f"noise has {noise.shape[2]} frames, fewer than the {frames} mel frames to generate")

    @staticmethod
    def _check_timesteps(n_timesteps: int) -> None:
        if int(n_timesteps) < 1:
            raise ValueError(f"n_timesteps must be at least 1, got {n_timesteps}")

    def encode(self, tokens: torch.LongTensor, finalize: bool = True) -> torch.FloatTensor:
        """
        Speech tokens -> the ODE condition mu: token embedding -> encoder -> (drop the frames of the last
        `pre_lookahead_len` tokens unless `finalize`) -> linear.

        Args:
            tokens (`torch.LongTensor` of shape `(1, num_tokens)`): ids in `[0, vocab_size)`.
            finalize (`bool`): False for a streamed chunk whose last `pre_lookahead_len` tokens are only lookahead.

        Returns:
            `torch.FloatTensor` of shape `(1, output_size, num_mel_frames(num_tokens, finalize))` in the model's dtype.

        Raises:
            ValueError: for tokens not of shape `(1, T)` with `T >= 1`, or ids outside `[0, vocab_size)`.
        """
        self._check_tokens(tokens)
        return self._encode(tokens.to(device=self.input_embedding.weight.device, dtype=torch.long), finalize)

    def _encode(
        self,
        tokens: torch.LongTensor,
        finalize: bool,
        token_cache: FlowStreamCache | None = None,
        frame_cache: FlowStreamCache | None = None,
    ) -> torch.FloatTensor:
        """`encode` without checks; with a streamed call's caches, `tokens` are those after the cached ones and the
        result the frames after the cached ones."""
        hidden_states = self.encoder(self.input_embedding(tokens), token_cache, frame_cache)
        if not finalize:
            kept = max(hidden_states.shape[1] - self.pre_lookahead_len * self.token_mel_ratio, 0)
            hidden_states = hidden_states[:, :kept]
        return self.encoder_proj(hidden_states).transpose(1, 2).contiguous()

    def speaker_condition(self, embedding: torch.FloatTensor) -> torch.FloatTensor:
        """The x-vector `(1, spk_embed_dim)` -> L2-normalised -> linear -> `(1, output_size)`.

        Raises:
            ValueError: for an embedding not of shape `(1, spk_embed_dim)`.
        """
        self._check_embedding(embedding)
        embedding = embedding.to(device=self.spk_embed_affine_layer.weight.device, dtype=self.dtype)
        return self.spk_embed_affine_layer(F.normalize(embedding, dim=1))

    def solve(
        self,
        mu: torch.FloatTensor,
        embedding: torch.FloatTensor,
        noise: torch.Tensor,
        n_timesteps: int = 10,
        temperature: float = 1.0,
    ) -> torch.FloatTensor:
        """
        The flow-matching ODE: from `noise[:, :, :frames] * temperature` to the mel spectrogram, conditioned on `mu`
        and the speaker.

        Args:
            mu (`torch.FloatTensor` of shape `(1, output_size, frames)`): from `encode`.
            embedding (`torch.FloatTensor` of shape `(1, spk_embed_dim)`): the speaker x-vector (not normalised).
            noise (`torch.Tensor` of shape `(1, output_size, >= frames)`): the starting noise.
            n_timesteps (`int`): Euler steps (10 in the release).
            temperature (`float`): noise scale.

        Returns:
            `torch.FloatTensor` of shape `(1, output_size, frames)`, float32 (as the release returns it).

        Raises:
            ValueError: for a wrong embedding, noise of the wrong shape or shorter than `frames`, or
                `n_timesteps < 1`.
        """
        frames = mu.shape[2]
        self._check_noise(noise, frames)
        self._check_timesteps(n_timesteps)
        spks = self.speaker_condition(embedding)
        x0 = noise[:, :, :frames].to(device=mu.device, dtype=mu.dtype) * temperature
        return self.decoder(mu, spks, x0, int(n_timesteps)).float()

    @torch.inference_mode()
    def inference(
        self,
        tokens: torch.LongTensor,
        embedding: torch.FloatTensor,
        noise: torch.Tensor,
        finalize: bool = True,
        n_timesteps: int = 10,
        temperature: float = 1.0,
    ) -> torch.FloatTensor:
        """
        Speech tokens -> mel spectrogram, as the release's `CausalMaskedDiffWithXvec.inference` with an empty prompt.

        Args:
            tokens (`torch.LongTensor` of shape `(1, T)`): speech token ids in `[0, vocab_size)`.
            embedding (`torch.FloatTensor` of shape `(1, spk_embed_dim)`): the speaker x-vector.
            noise (`torch.Tensor` of shape `(1, output_size, >= frames)`): the ODE's starting noise; its first
                `frames` frames are used (the release slices a fixed `randn(1, 80, 15000)` the same way).
            finalize (`bool`): True for the last (or only) call; False drops the frames of the last
                `pre_lookahead_len` tokens, whose right context is still unknown.
            n_timesteps (`int`): Euler steps.
            temperature (`float`): noise scale.

        Returns:
            `torch.FloatTensor` of shape `(1, output_size, frames)` (float32), `frames = T * token_mel_ratio`, or
            `(T - pre_lookahead_len) * token_mel_ratio` when not final (empty when that is not positive). Computed
            in the model's dtype.

        Raises:
            ValueError: for tokens not of shape `(1, T)` (`T >= 1`) or outside `[0, vocab_size)`, an embedding not of
                shape `(1, spk_embed_dim)`, noise of the wrong shape or shorter than `frames`, `n_timesteps < 1`.
        """
        self._check_tokens(tokens)
        self._check_embedding(embedding)
        if self.num_mel_frames(tokens.shape[1], finalize) == 0:
            device = self.input_embedding.weight.device
            return torch.zeros(1, self.output_size, 0, device=device, dtype=torch.float32)
        mu = self.encode(tokens, finalize=finalize)
        return self.solve(mu, embedding, noise, n_timesteps=n_timesteps, temperature=temperature)

    def _chunk_sizes(self) -> tuple[int, int]:
        return self.encoder.static_chunk_size, self.decoder.estimator.static_chunk_size

    @property
    def stream_period(self) -> int | None:
        """
        Mel frames in which a stream's states become final: the least common multiple of the encoder's chunk in
        frames (`encoder.static_chunk_size * upsample_stride`) and the estimator's (`decoder.estimator.
        static_chunk_size`): 100 frames (50 tokens, 2 s) at LLaMA-Omni2's chunk sizes. Attention sees all earlier
        chunks and no later one, the convolutions are causal and the encoder looks `pre_lookahead_len` tokens ahead,
        so once a call has the `pre_lookahead_len` tokens after a period boundary, nothing later changes the frames
        before it: `stream_chunk` caches their states and computes only the frames after them. None when nothing is
        ever final: full attention in the encoder or the estimator (chunk size 0), or a multi-level estimator (its
        stride-2 resampling sees the next frame); `stream_chunk` then recomputes each call from the first frame, like
        the release.
        """
        encoder_chunk = self.encoder.static_chunk_size * self.encoder.up_layer.stride
        estimator = self.decoder.estimator
        if encoder_chunk <= 0 or estimator.static_chunk_size <= 0 or len(estimator.down_blocks) > 1:
            return None
        return math.lcm(encoder_chunk, estimator.static_chunk_size)

    @torch.inference_mode()
    def start_stream(
        self,
        embedding: torch.FloatTensor,
        noise: torch.Tensor,
        n_timesteps: int = 10,
        temperature: float = 1.0,
        cache_dtype: torch.dtype | None = None,
    ) -> FlowStreamState:
        """
        Starts a stream of `stream_chunk` calls (one state per stream).

        Args:
            embedding (`torch.FloatTensor` of shape `(1, spk_embed_dim)`): the speaker x-vector.
            noise (`torch.Tensor` of shape `(1, output_size, >= frames)`): the ODE's starting noise, as for
                `inference` (frames `a .. b` of the stream start from `noise[:, :, a:b]`); kept by reference, not to be
                changed during the stream.
            n_timesteps (`int`): Euler steps.
            temperature (`float`): noise scale.
            cache_dtype (`torch.dtype`, *optional*): dtype to keep the cached keys, values and convolution inputs in
                (default: as computed, the model's dtype). `torch.float16` / `torch.bfloat16` halve the memory of a
                float32 model at some accuracy (see the module tests).

        Returns:
            `FlowStreamState`

        Raises:
            ValueError: for an embedding not of shape `(1, spk_embed_dim)`, noise not of shape `(1, output_size, N)`,
                `n_timesteps < 1`, or a `cache_dtype` that is not a floating-point dtype.
        """
        self._check_noise(noise, None)
        self._check_timesteps(n_timesteps)
        if cache_dtype is not None and not (isinstance(cache_dtype, torch.dtype) and cache_dtype.is_floating_point):
            raise ValueError(f"cache_dtype must be a floating-point torch.dtype or None, got {cache_dtype!r}")
        speaker = self.speaker_condition(embedding)
        return FlowStreamState(
            self, speaker, noise, int(n_timesteps), float(temperature), cache_dtype, self._chunk_sizes(),
            self.stream_period,
        )

    @torch.inference_mode()
    def stream_chunk(
        self, tokens: torch.LongTensor, state: FlowStreamState, finalize: bool = False
    ) -> torch.FloatTensor:
        """
        The mel frames that a streamed call adds: `inference(tokens, ..., finalize)[:, :, state.emitted_frames:]` (to
        float rounding), computing only the frames after `state.cached_frames`. `tokens` are all tokens so far: the
        previous call's followed by new ones. LLaMA-Omni2's schedule (calls on the first `k * 50 + 3` tokens with
        `finalize=False`, then all tokens with `finalize=True`) starts each call at a period boundary (50 tokens =
        100 frames = `stream_period`), so that every frame is computed once. Any other schedule is exact too: a call
        recomputes the frames after the last boundary whose states were final (`state.computed_frames` counts the
        work); with `stream_period` None, every call recomputes from the first frame.

        Args:
            tokens (`torch.LongTensor` of shape `(1, T)`): all speech tokens so far, ids in `[0, vocab_size)`.
            state (`FlowStreamState`): from `start_stream`; updated in place (left as it was when the call raises).
            finalize (`bool`): True for the last call (the frames of the last `pre_lookahead_len` tokens included);
                the stream then ends.

        Returns:
            `torch.FloatTensor` of shape `(1, output_size, num_mel_frames(T, finalize) - emitted)` (float32), where
            `emitted` is `state.emitted_frames` before the call; empty when there is nothing new.

        Raises:
            ValueError: for tokens not of shape `(1, T)` or outside `[0, vocab_size)`, tokens that do not extend the
                previous call's, noise shorter than the frames, a state from another flow, chunk sizes changed during
                the stream, or a finished stream.
        """
        self._check_tokens(tokens)
        if not isinstance(state, FlowStreamState) or state.owner_id != id(self):
            raise ValueError("state must be a FlowStreamState made by this flow's start_stream")
        if state.finished:
            raise ValueError("the stream was finalized: start a new one with start_stream")
        if state.chunk_sizes != self._chunk_sizes():
            raise ValueError(
                "the chunk sizes changed during the stream (encoder, estimator static_chunk_size: "
                f"{state.chunk_sizes} -> {self._chunk_sizes()})"
            )
        tokens = tokens.to(device=self.input_embedding.weight.device, dtype=torch.long)
        seen = state.num_tokens
        if seen and (tokens.shape[1] < seen or not torch.equal(tokens[:, :seen], state.tokens.to(tokens.device))):
            raise ValueError(
                f"tokens must be all tokens so far: the previous call's {seen} followed by new ones, "
                f"got {tokens.shape[1]} that do not start with them"
            )
        frames = self.num_mel_frames(tokens.shape[1], finalize)
        self._check_noise(state.noise, frames)
        start, emitted = state.cached_frames, state.emitted_frames
        if frames <= emitted:
            mel = torch.zeros(1, self.output_size, 0, device=self.input_embedding.weight.device)
        else:
            stride, cached, caches = self.encoder.up_layer.stride, start, state.caches()
            if state.period is None:  # nothing is ever final: recompute from the first frame, without caches
                caches = [None] * len(caches)
            else:
                if not finalize:  # the frames before the last period boundary with its lookahead tokens are final
                    final = min((tokens.shape[1] - self.pre_lookahead_len) * stride, frames)
                    cached = max(start, final // state.period * state.period)
                state.token_cache.begin((cached - start) // stride)
                for cache in caches[1:]:
                    cache.begin(cached - start)
            token_cache, frame_cache, *step_caches = caches
            mu = self._encode(tokens[:, start // stride :], finalize, token_cache, frame_cache)
            x0 = state.noise[:, :, start:frames].to(device=mu.device, dtype=mu.dtype) * state.temperature
            mel = self.decoder(mu, state.speaker, x0, state.n_timesteps, step_caches)
            mel = mel[:, :, emitted - start :].float()
            if state.period is not None:
                for cache in caches:
                    cache.commit()
            state.cached_frames, state.emitted_frames = cached, frames
            state.computed_frames += frames - start
        state.tokens = tokens.clone()
        if finalize:
            state.finish()
        return mel
