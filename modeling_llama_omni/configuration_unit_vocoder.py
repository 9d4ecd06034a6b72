# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Configuration of the unit vocoder (fairseq CodeHiFiGAN: unit embedding + duration predictor + HiFi-GAN).

This file is self-contained (it imports only transformers and the standard library) so that it can be copied as-is
into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

import math

from transformers import PreTrainedConfig


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class UnitVocoderConfig(PreTrainedConfig):
    r"""
    Configuration of a [`UnitVocoder`]: discrete speech units (HuBERT k-means ids, 50 Hz) -> 16 kHz waveform.

    The model is fairseq's CodeHiFiGAN: a unit embedding table, a duration predictor (two kernel-3 convolutions +
    LayerNorm + a linear layer predicting log(1 + duration) per unit), and a HiFi-GAN generator (`conv_pre`, one
    transposed-convolution upsampler per entry of `upsample_rates`, each followed by a multi-receptive-field fusion of
    type-1 residual blocks, `conv_post`, tanh). The defaults describe the mHuBERT (layer 11, km1000) LJSpeech
    CodeHiFiGAN that LLaMA-Omni uses (`g_00500000` + `config.json`, about 13.5 M parameters).

    Args:
        unit_vocab_size (`int`, *optional*, defaults to 1000):
            Number K of discrete units (fairseq `num_embeddings`). Valid unit ids are `0 .. K - 1`.
        embedding_dim (`int`, *optional*, defaults to 128):
            Size of a unit embedding: the generator's input channels (fairseq `embedding_dim` = `model_in_dim`).
        upsample_initial_channel (`int`, *optional*, defaults to 512):
            Channels after `conv_pre`; each upsampling layer halves them.
        upsample_rates (`list[int]`, *optional*, defaults to `[5, 4, 4, 2, 2]`):
            Stride of each transposed convolution. Their product is `hop_length`, the samples per unit frame.
        upsample_kernel_sizes (`list[int]`, *optional*, defaults to `[11, 8, 8, 4, 4]`):
            Kernel size of each transposed convolution (padding `(k - u) // 2`). `k - u` must be even and
            non-negative, so that each layer multiplies the length by exactly `u`.
        resblock_kernel_sizes (`list[int]`, *optional*, defaults to `[3, 7, 11]`):
            Kernel sizes of the parallel residual blocks after each upsampler (odd).
        resblock_dilation_sizes (`list[list[int]]`, *optional*, defaults to `[[1, 3, 5], [1, 3, 5], [1, 3, 5]]`):
            Dilations of the convolutions of each residual block (one list per entry of `resblock_kernel_sizes`).
        leaky_relu_slope (`float`, *optional*, defaults to 0.1):
            Negative slope of the leaky ReLUs inside the generator (the one before `conv_post` uses 0.01, as in
            HiFi-GAN and fairseq).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate of the waveform, in Hz.
        duration_predictor_hidden_dim (`int`, *optional*, defaults to 128):
            Channels of the duration predictor's convolutions (fairseq `var_pred_hidden_dim`).
        duration_predictor_kernel_size (`int`, *optional*, defaults to 3):
            Kernel size of the duration predictor's two convolutions (fairseq `var_pred_kernel_size`, odd).
        duration_predictor_dropout (`float`, *optional*, defaults to 0.5):
            Dropout of the duration predictor (training only).
        dur_prediction (`bool`, *optional*, defaults to `True`):
            Default of `UnitVocoder.forward(dur_prediction=...)`: whether units are deduplicated and their durations
            are predicted (`True`, LLaMA-Omni's CTC units), or each unit is one 20 ms frame (`False`).
        initializer_range (`float`, *optional*, defaults to 0.01):
            Standard deviation of the normal initialisation of the convolutions (HiFi-GAN's `init_weights`).

    Raises:
        ValueError: if a value is out of range or the upsampling / residual-block lists do not match.
    """

    model_type = "llama_omni_unit_vocoder"

    unit_vocab_size: int = 1000
    embedding_dim: int = 128
    upsample_initial_channel: int = 512
    upsample_rates: list[int] | tuple[int, ...] = (5, 4, 4, 2, 2)
    upsample_kernel_sizes: list[int] | tuple[int, ...] = (11, 8, 8, 4, 4)
    resblock_kernel_sizes: list[int] | tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: list | tuple = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    leaky_relu_slope: float = 0.1
    sampling_rate: int = 16000
    duration_predictor_hidden_dim: int = 128
    duration_predictor_kernel_size: int = 3
    duration_predictor_dropout: float = 0.5
    dur_prediction: bool = True
    initializer_range: float = 0.01

    def __post_init__(self, **kwargs):
        # JSON round trips turn tuples into lists: hold lists from the start so that configs compare equal.
        self.upsample_rates = list(self.upsample_rates)
        self.upsample_kernel_sizes = list(self.upsample_kernel_sizes)
        self.resblock_kernel_sizes = list(self.resblock_kernel_sizes)
        self.resblock_dilation_sizes = [list(d) for d in self.resblock_dilation_sizes]

        for name in (
            "unit_vocab_size",
            "embedding_dim",
            "upsample_initial_channel",
            "sampling_rate",
            "duration_predictor_hidden_dim",
            "duration_predictor_kernel_size",
        ):
            value = getattr(self, name)
            if not _is_positive_int(value):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.duration_predictor_kernel_size % 2 == 0:
            raise ValueError(
                f"duration_predictor_kernel_size must be odd (the output keeps the input length), "
                f"got {self.duration_predictor_kernel_size}"
            )
        if not 0.0 <= float(self.duration_predictor_dropout) < 1.0:
            raise ValueError(f"duration_predictor_dropout must be in [0, 1), got {self.duration_predictor_dropout!r}")
        if not float(self.leaky_relu_slope) >= 0.0:
            raise ValueError(f"leaky_relu_slope must be non-negative, got {self.leaky_relu_slope!r}")
        if not float(self.initializer_range) > 0.0:
            raise ValueError(f"initializer_range must be positive, got {self.initializer_range!r}")

        if not self.upsample_rates:
            raise ValueError("upsample_rates must not be empty")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError(
                f"upsample_rates ({self.upsample_rates}) and upsample_kernel_sizes ({self.upsample_kernel_sizes}) "
                "must have the same length"
            )
        for rate, kernel in zip(self.upsample_rates, self.upsample_kernel_sizes):
            if not (_is_positive_int(rate) and _is_positive_int(kernel)):
                raise ValueError(
                    f"upsample rates and kernel sizes must be positive integers, got rate {rate!r}, kernel {kernel!r}"
                )
            if kernel < rate or (kernel - rate) % 2:
                raise ValueError(
                    f"each upsample kernel size k must be >= its rate u with k - u even (so that the layer "
                    f"multiplies the length by exactly u), got k={kernel}, u={rate}"
                )
        if self.upsample_initial_channel % (2 ** len(self.upsample_rates)):
            raise ValueError(
                f"upsample_initial_channel ({self.upsample_initial_channel}) must be divisible by "
                f"2 ** len(upsample_rates) = {2 ** len(self.upsample_rates)} (each upsampler halves the channels)"
            )

        if not self.resblock_kernel_sizes:
            raise ValueError("resblock_kernel_sizes must not be empty")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError(
                f"resblock_kernel_sizes ({self.resblock_kernel_sizes}) and resblock_dilation_sizes "
                f"({self.resblock_dilation_sizes}) must have the same length"
            )
        for kernel, dilations in zip(self.resblock_kernel_sizes, self.resblock_dilation_sizes):
            if not _is_positive_int(kernel) or kernel % 2 == 0:
                raise ValueError(f"resblock kernel sizes must be odd positive integers, got {kernel!r}")
            if not dilations or not all(_is_positive_int(d) for d in dilations):
                raise ValueError(f"resblock dilations must be non-empty lists of positive integers, got {dilations!r}")
        super().__post_init__(**kwargs)

    @property
    def hop_length(self) -> int:
        """Waveform samples per unit frame: the product of `upsample_rates` (320 = 20 ms at 16 kHz)."""
        return math.prod(self.upsample_rates)

    @property
    def frame_rate(self) -> float:
        """Unit frames per second (`sampling_rate / hop_length`, 50 Hz by default)."""
        return self.sampling_rate / self.hop_length


__all__ = ["UnitVocoderConfig"]
