# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Configuration of the unit vocoder (fairseq CodeHiFiGAN: unit embedding + duration predictor + HiFi-GAN; or the
"latent front-end" type: unit embedding + duration predictor + a small network -> latent frames of a pretrained VITS
decoder).

This file is self-contained (it imports only transformers and the standard library) so that it can be copied as-is
into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

import math

from transformers import PreTrainedConfig


VOCODER_TYPES = ("code_hifigan", "latent_frontend")
UNIT_FRAME_RATE = 50  # unit frames per second (20 ms)

# The generator of a Piper "medium" VITS voice (e.g. en_US-joe-medium): see `UnitVocoderConfig.piper_latent_frontend`.
PIPER_MEDIUM_DECODER = {
    "vocoder_type": "latent_frontend",
    "sampling_rate": 22050,
    "latent_dim": 192,
    "upsample_initial_channel": 256,
    "upsample_rates": [8, 8, 4],
    "upsample_kernel_sizes": [16, 16, 8],
    "resblock_type": "2",
    "resblock_kernel_sizes": [3, 5, 7],
    "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
    "conv_post_bias": False,
    "leaky_relu_slope": 0.1,
}


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
        vocoder_type (`str`, *optional*, defaults to `"code_hifigan"`):
            `"code_hifigan"`: the HiFi-GAN generator reads unit embeddings at the unit frame rate (one frame =
            `prod(upsample_rates)` samples). `"latent_frontend"`: a small
            convolutional network (`frontend_*`) maps the unit embeddings (50 Hz) to `latent_dim`-channel latent frames
            at the generator's own frame rate (`prod(upsample_rates)` samples per latent frame, e.g. 256 at 22 050 Hz
            for a Piper VITS decoder), resampled on a global sample grid, and the generator (the pretrained VITS
            decoder, frozen in training) turns them into audio. See [`UnitVocoderConfig.piper_latent_frontend`].
        resblock_type (`str`, *optional*, defaults to `"1"`):
            HiFi-GAN residual block type: `"1"` (`convs1` with dilations + `convs2`, fairseq CodeHiFiGAN) or `"2"`
            (one dilated convolution per dilation, `convs`: the Piper / VITS "medium" decoders).
        conv_post_bias (`bool`, *optional*, defaults to `True`):
            Whether `conv_post` has a bias (VITS decoders have none).
        latent_dim (`int`, *optional*, defaults to 192):
            `latent_frontend` only: channels of the latent frames (the VITS decoder's input, `inter_channels`).
        samples_per_unit_frame (`int`, *optional*):
            `latent_frontend` only: waveform samples per 20 ms unit frame, i.e. `hop_length` (default
            `sampling_rate / 50`: 441 at 22 050 Hz). For `code_hifigan` it is `prod(upsample_rates)` and must be left
            unset (or equal).
        frontend_hidden_dim (`int`, *optional*, defaults to 128):
            `latent_frontend` only: channels of the front-end's convolutions.
        frontend_kernel_size (`int`, *optional*, defaults to 5):
            `latent_frontend` only: kernel size of the front-end's convolutions (odd).
        frontend_dilations (`list[list[int]]`, *optional*, defaults to `[[1, 2], [1, 2]]`):
            `latent_frontend` only: one type-1 residual block per entry, at the unit frame rate (50 Hz), with these
            dilations.
        frontend_latent_dilations (`list[list[int]]`, *optional*, defaults to `[[1, 2]]`):
            `latent_frontend` only: residual blocks after the resampling, at the latent frame rate.
        frontend_unit_latents (`bool`, *optional*, defaults to `True`):
            `latent_frontend` only: a `unit_vocab_size x latent_dim` table of per-unit latents (the trainer starts it
            at the mean latent of each unit), resampled like the hidden features and added to the front-end's
            output, which then only learns the correction (context, transitions).

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
    vocoder_type: str = "code_hifigan"
    resblock_type: str = "1"
    conv_post_bias: bool = True
    latent_dim: int = 192
    samples_per_unit_frame: int | None = None
    frontend_hidden_dim: int = 128
    frontend_kernel_size: int = 5
    frontend_dilations: list | tuple = ((1, 2), (1, 2))
    frontend_latent_dilations: list | tuple = ((1, 2),)
    frontend_unit_latents: bool = True

    def __post_init__(self, **kwargs):
        # JSON round trips turn tuples into lists: hold lists from the start so that configs compare equal.
        self.upsample_rates = list(self.upsample_rates)
        self.upsample_kernel_sizes = list(self.upsample_kernel_sizes)
        self.resblock_kernel_sizes = list(self.resblock_kernel_sizes)
        self.resblock_dilation_sizes = [list(d) for d in self.resblock_dilation_sizes]
        self.frontend_dilations = [list(d) for d in self.frontend_dilations]
        self.frontend_latent_dilations = [list(d) for d in self.frontend_latent_dilations]
        self.resblock_type = str(self.resblock_type)
        self._check_vocoder_type()

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

    def _check_vocoder_type(self) -> None:
        if self.vocoder_type not in VOCODER_TYPES:
            raise ValueError(f"vocoder_type must be one of {VOCODER_TYPES}, got {self.vocoder_type!r}")
        if self.resblock_type not in ("1", "2"):
            raise ValueError(f"resblock_type must be '1' or '2', got {self.resblock_type!r}")
        if self.vocoder_type == "code_hifigan":
            if self.samples_per_unit_frame not in (None, math.prod(self.upsample_rates)):
                raise ValueError(
                    f"samples_per_unit_frame ({self.samples_per_unit_frame}) is prod(upsample_rates) "
                    f"({math.prod(self.upsample_rates)}) for a code_hifigan vocoder: leave it unset"
                )
            return
        for name in ("latent_dim", "frontend_hidden_dim", "frontend_kernel_size"):
            value = getattr(self, name)
            if not _is_positive_int(value):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.frontend_kernel_size % 2 == 0:
            raise ValueError(f"frontend_kernel_size must be odd, got {self.frontend_kernel_size}")
        for name in ("frontend_dilations", "frontend_latent_dilations"):
            for dilations in getattr(self, name):
                if not dilations or not all(_is_positive_int(d) for d in dilations):
                    raise ValueError(f"{name} must hold non-empty lists of positive integers, got {dilations!r}")
        if self.samples_per_unit_frame is None:
            if not _is_positive_int(self.sampling_rate) or self.sampling_rate % UNIT_FRAME_RATE:
                raise ValueError(
                    f"a latent_frontend vocoder at {self.sampling_rate} Hz has no whole number of samples per "
                    f"{UNIT_FRAME_RATE} Hz unit frame: set samples_per_unit_frame"
                )
            self.samples_per_unit_frame = self.sampling_rate // UNIT_FRAME_RATE
        if not _is_positive_int(self.samples_per_unit_frame):
            raise ValueError(f"samples_per_unit_frame must be a positive integer, got {self.samples_per_unit_frame!r}")

    @classmethod
    def piper_latent_frontend(cls, **kwargs) -> "UnitVocoderConfig":
        """
        A `latent_frontend` config whose generator is a Piper "medium" VITS decoder (192 latent channels, 22 050 Hz,
        upsampling [8, 8, 4] / [16, 16, 8] from 256 channels, type-2 residual blocks [3, 5, 7] with dilations
        [[1, 2], [2, 6], [3, 12]], no `conv_post` bias: 256 samples per latent frame, 441 per unit frame).
        `kwargs` override any field (e.g. `unit_vocab_size`).
        """
        values = dict(PIPER_MEDIUM_DECODER)
        values.update(kwargs)
        return cls(**values)

    @property
    def hop_length(self) -> int:
        """Waveform samples per unit frame: the product of `upsample_rates` (320 = 20 ms at 16 kHz) for
        `code_hifigan`; `samples_per_unit_frame` (441 at 22 050 Hz) for `latent_frontend`."""
        if self.vocoder_type == "latent_frontend":
            return self.samples_per_unit_frame
        return math.prod(self.upsample_rates)

    @property
    def latent_hop_length(self) -> int:
        """Waveform samples per generator input frame: `prod(upsample_rates)` (the unit frame for `code_hifigan`,
        the latent frame, 256 samples, for a Piper VITS decoder)."""
        return math.prod(self.upsample_rates)

    @property
    def frame_rate(self) -> float:
        """Unit frames per second (`sampling_rate / hop_length`, 50 Hz by default)."""
        return self.sampling_rate / self.hop_length


__all__ = ["PIPER_MEDIUM_DECODER", "VOCODER_TYPES", "UnitVocoderConfig"]
