# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Configuration of the VITS unit vocoder: a whole Piper VITS voice (text encoder, stochastic duration predictor,
flow, HiFi-GAN decoder) that turns phoneme ids ("units") into a waveform.

This file imports only transformers and the standard library.
"""

from __future__ import annotations

import math

from transformers import PreTrainedConfig


# Characters of a Piper espeak phoneme map where a streaming vocoder may cut (word gaps and clause punctuation).
BOUNDARY_CHARACTERS = " !,.:;?"


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class LlamaOmniVitsVocoderConfig(PreTrainedConfig):
    r"""
    Configuration of a [`LlamaOmniVitsVocoder`]: Piper phoneme ids -> waveform with the inference path of VITS. The
    defaults describe the Piper "medium" voices such as `en_US-joe-medium` (about 15.7 M parameters at inference).

    Units are the voice's phoneme ids *without* the interspersed pads and without bos / eos; the model builds Piper's
    id sequence `bos pad u1 pad u2 pad ... un pad eos` itself (piper-phonemize's scheme, the one the voices were trained
    with).

    Args:
        vocab_size (`int`, *optional*, defaults to 256):
            Rows of the phoneme embedding table (Piper exports it as the initializer `sid`).
        unit_vocab_size (`int`, *optional*, defaults to 151):
            Number of valid phoneme ids: units and the pad / bos / eos ids lie in `[0, unit_vocab_size)`.
        pad_token_id, bos_token_id, eos_token_id (`int`, *optional*, defaults to 0, 1, 2):
            Ids of Piper's `_`, `^` and `$`.
        phoneme_id_map (`dict[str, list[int]]`, *optional*):
            The voice's `phoneme_id_map` (IPA character -> ids), kept so that users can phonemize text for this model.
        boundary_ids (`list[int]`, *optional*):
            Units where a streaming vocoder may cut a chunk (after them). Defaults to the ids of
            `BOUNDARY_CHARACTERS` (" !,.:;?") found in `phoneme_id_map`, or none without a map.
        hidden_size (`int`, *optional*, defaults to 192):
            Channels of the text encoder and of the duration predictor.
        ffn_dim (`int`, *optional*, defaults to 768):
            Channels inside the text encoder's feed-forward convolutions.
        ffn_kernel_size (`int`, *optional*, defaults to 3):
            Kernel size of the feed-forward convolutions (odd).
        num_attention_heads (`int`, *optional*, defaults to 2):
            Heads of the text encoder's self-attention.
        num_hidden_layers (`int`, *optional*, defaults to 6):
            Text encoder layers.
        window_size (`int`, *optional*, defaults to 4):
            Relative-position window of the attention (`2 * window_size + 1` learned key / value offsets).
        layer_norm_eps (`float`, *optional*, defaults to 1e-5):
            Epsilon of the channel LayerNorms.
        latent_dim (`int`, *optional*, defaults to 192):
            Channels of the prior / latent z (VITS `inter_channels`), the decoder's input.
        flow_num_flows (`int`, *optional*, defaults to 4):
            Mean-only residual coupling layers of the flow (each followed by a channel flip).
        flow_hidden_size (`int`, *optional*, defaults to 192):
            Channels of the flow's WaveNet stacks.
        flow_num_layers (`int`, *optional*, defaults to 4):
            Gated convolutions per WaveNet stack.
        flow_kernel_size (`int`, *optional*, defaults to 5):
            Kernel size of the WaveNet convolutions (odd).
        flow_dilation_rate (`int`, *optional*, defaults to 1):
            Layer i of a WaveNet stack has dilation `flow_dilation_rate ** i`.
        duration_predictor_kernel_size (`int`, *optional*, defaults to 3):
            Kernel size of the depthwise-separable convolutions of the stochastic duration predictor (odd).
        duration_predictor_num_layers (`int`, *optional*, defaults to 3):
            Layers of each depthwise-separable convolution stack (dilation `kernel_size ** i`).
        duration_predictor_num_flows (`int`, *optional*, defaults to 4):
            Spline coupling flows of the duration predictor.
        duration_predictor_num_bins (`int`, *optional*, defaults to 10):
            Bins of the rational-quadratic splines.
        duration_predictor_tail_bound (`float`, *optional*, defaults to 5.0):
            The splines act on `[-tail_bound, tail_bound]`; identity outside.
        upsample_initial_channel, upsample_rates, upsample_kernel_sizes, resblock_type, resblock_kernel_sizes,
        resblock_dilation_sizes, conv_post_bias, leaky_relu_slope:
            The HiFi-GAN decoder, as in [`UnitVocoderConfig`] (defaults: the Piper medium decoder, 256 samples per
            latent frame).
        sampling_rate (`int`, *optional*, defaults to 22050):
            Waveform sampling rate, in Hz.
        noise_scale (`float`, *optional*, defaults to 0.667):
            Scale of the prior noise (Piper's `noise_scale`).
        length_scale (`float`, *optional*, defaults to 1.0):
            Duration multiplier (> 1 is slower speech).
        noise_w (`float`, *optional*, defaults to 0.8):
            Scale of the duration predictor's noise (Piper's `noise_w`).
        seed (`int`, *optional*, defaults to 0):
            Base seed of the per-position sampling noise (non-negative).
        initializer_range (`float`, *optional*, defaults to 0.02):
            Standard deviation of the normal initialisation of fresh weights.

    Raises:
        ValueError: if a value is out of range or inconsistent (ids outside `unit_vocab_size`, mismatched lists).
    """

    model_type = "llama_omni_vits_vocoder"

    vocab_size: int = 256
    unit_vocab_size: int = 151
    pad_token_id: int = 0
    bos_token_id: int = 1
    eos_token_id: int = 2
    phoneme_id_map: dict | None = None
    boundary_ids: list[int] | None = None
    hidden_size: int = 192
    ffn_dim: int = 768
    ffn_kernel_size: int = 3
    num_attention_heads: int = 2
    num_hidden_layers: int = 6
    window_size: int = 4
    layer_norm_eps: float = 1e-5
    latent_dim: int = 192
    flow_num_flows: int = 4
    flow_hidden_size: int = 192
    flow_num_layers: int = 4
    flow_kernel_size: int = 5
    flow_dilation_rate: int = 1
    duration_predictor_kernel_size: int = 3
    duration_predictor_num_layers: int = 3
    duration_predictor_num_flows: int = 4
    duration_predictor_num_bins: int = 10
    duration_predictor_tail_bound: float = 5.0
    upsample_initial_channel: int = 256
    upsample_rates: list[int] | tuple[int, ...] = (8, 8, 4)
    upsample_kernel_sizes: list[int] | tuple[int, ...] = (16, 16, 8)
    resblock_type: str = "2"
    resblock_kernel_sizes: list[int] | tuple[int, ...] = (3, 5, 7)
    resblock_dilation_sizes: list | tuple = ((1, 2), (2, 6), (3, 12))
    conv_post_bias: bool = False
    leaky_relu_slope: float = 0.1
    sampling_rate: int = 22050
    noise_scale: float = 0.667
    length_scale: float = 1.0
    noise_w: float = 0.8
    seed: int = 0
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        # JSON round trips turn tuples into lists: hold lists from the start so that configs compare equal.
        self.upsample_rates = list(self.upsample_rates)
        self.upsample_kernel_sizes = list(self.upsample_kernel_sizes)
        self.resblock_kernel_sizes = list(self.resblock_kernel_sizes)
        self.resblock_dilation_sizes = [list(d) for d in self.resblock_dilation_sizes]
        self.resblock_type = str(self.resblock_type)
        for name in (
            "vocab_size", "unit_vocab_size", "hidden_size", "ffn_dim", "ffn_kernel_size", "num_attention_heads",
            "num_hidden_layers", "window_size", "latent_dim", "flow_num_flows", "flow_hidden_size", "flow_num_layers",
            "flow_kernel_size", "flow_dilation_rate", "duration_predictor_kernel_size",
            "duration_predictor_num_layers", "duration_predictor_num_flows", "duration_predictor_num_bins",
            "upsample_initial_channel", "sampling_rate",
        ):
            value = getattr(self, name)
            if not _is_positive_int(value):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("ffn_kernel_size", "flow_kernel_size", "duration_predictor_kernel_size"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(f"{name} must be odd (convolutions keep the length), got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.latent_dim % 2:
            raise ValueError(f"latent_dim must be even (the flow's coupling layers split it), got {self.latent_dim}")
        if self.unit_vocab_size > self.vocab_size:
            raise ValueError(
                f"unit_vocab_size ({self.unit_vocab_size}) must not exceed vocab_size ({self.vocab_size}), the rows "
                "of the phoneme embedding"
            )
        for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(self, name)
            if not _is_id(value) or value >= self.unit_vocab_size:
                raise ValueError(f"{name} must be an integer in [0, {self.unit_vocab_size}), got {value!r}")
        if not self.seed >= 0 or not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("noise_scale", "noise_w"):
            if not float(getattr(self, name)) >= 0.0:
                raise ValueError(f"{name} must be a non-negative number, got {getattr(self, name)!r}")
        if not float(self.length_scale) > 0.0:
            raise ValueError(f"length_scale must be positive, got {self.length_scale!r}")
        if not float(self.duration_predictor_tail_bound) > 0.0:
            raise ValueError(f"duration_predictor_tail_bound must be positive, got {self.duration_predictor_tail_bound!r}")
        if not float(self.layer_norm_eps) > 0.0:
            raise ValueError(f"layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if self.phoneme_id_map is not None:
            if not isinstance(self.phoneme_id_map, dict):
                raise ValueError(f"phoneme_id_map must be a dict {{character: [ids]}}, got {type(self.phoneme_id_map)}")
            self.phoneme_id_map = {str(k): [int(i) for i in v] for k, v in self.phoneme_id_map.items()}
            bad = {k: v for k, v in self.phoneme_id_map.items() if any(not 0 <= i < self.unit_vocab_size for i in v)}
            if bad:
                raise ValueError(f"phoneme_id_map has ids outside [0, {self.unit_vocab_size}): {dict(list(bad.items())[:5])}")
        if self.boundary_ids is None:
            id_map = self.phoneme_id_map or {}
            self.boundary_ids = sorted({i for ch in BOUNDARY_CHARACTERS for i in id_map.get(ch, [])})
        self.boundary_ids = [int(i) for i in self.boundary_ids]
        if any(not 0 <= i < self.unit_vocab_size for i in self.boundary_ids):
            raise ValueError(f"boundary_ids must lie in [0, {self.unit_vocab_size}), got {self.boundary_ids}")
        self._check_generator()
        super().__post_init__(**kwargs)

    def _check_generator(self) -> None:
        if self.resblock_type not in ("1", "2"):
            raise ValueError(f"resblock_type must be '1' or '2', got {self.resblock_type!r}")
        if not self.upsample_rates or len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError(
                f"upsample_rates ({self.upsample_rates}) and upsample_kernel_sizes ({self.upsample_kernel_sizes}) "
                "must be non-empty and of the same length"
            )
        for rate, kernel in zip(self.upsample_rates, self.upsample_kernel_sizes):
            if not (_is_positive_int(rate) and _is_positive_int(kernel)) or kernel < rate or (kernel - rate) % 2:
                raise ValueError(
                    f"each upsample kernel size k must be a positive integer >= its rate u with k - u even, got "
                    f"k={kernel!r}, u={rate!r}"
                )
        if self.upsample_initial_channel % (2 ** len(self.upsample_rates)):
            raise ValueError(
                f"upsample_initial_channel ({self.upsample_initial_channel}) must be divisible by "
                f"2 ** len(upsample_rates) = {2 ** len(self.upsample_rates)}"
            )
        if not self.resblock_kernel_sizes or len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError(
                f"resblock_kernel_sizes ({self.resblock_kernel_sizes}) and resblock_dilation_sizes "
                f"({self.resblock_dilation_sizes}) must be non-empty and of the same length"
            )
        for kernel, dilations in zip(self.resblock_kernel_sizes, self.resblock_dilation_sizes):
            if not _is_positive_int(kernel) or kernel % 2 == 0:
                raise ValueError(f"resblock kernel sizes must be odd positive integers, got {kernel!r}")
            if not dilations or not all(_is_positive_int(d) for d in dilations):
                raise ValueError(f"resblock dilations must be non-empty lists of positive integers, got {dilations!r}")

    @property
    def hop_length(self) -> int:
        """Waveform samples per latent frame (`prod(upsample_rates)`, 256 for the Piper medium voices)."""
        return math.prod(self.upsample_rates)

    def generator_config_kwargs(self) -> dict:
        """The `UnitVocoderConfig` fields that build the HiFi-GAN decoder (`UnitVocoderGenerator`)."""
        return {
            "vocoder_type": "latent_frontend",
            "unit_vocab_size": 1,
            "latent_dim": self.latent_dim,
            "sampling_rate": self.sampling_rate,
            "samples_per_unit_frame": self.hop_length,
            "upsample_initial_channel": self.upsample_initial_channel,
            "upsample_rates": list(self.upsample_rates),
            "upsample_kernel_sizes": list(self.upsample_kernel_sizes),
            "resblock_type": self.resblock_type,
            "resblock_kernel_sizes": list(self.resblock_kernel_sizes),
            "resblock_dilation_sizes": [list(d) for d in self.resblock_dilation_sizes],
            "conv_post_bias": self.conv_post_bias,
            "leaky_relu_slope": self.leaky_relu_slope,
        }


__all__ = ["BOUNDARY_CHARACTERS", "LlamaOmniVitsVocoderConfig"]
