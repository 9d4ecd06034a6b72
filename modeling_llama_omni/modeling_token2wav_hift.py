# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""CosyVoice2's HiFT vocoder (mel -> waveform), as LLaMA-Omni2's speech decoder runs it, inference only.

HiFT (HiFTNet: "Neural Source Filter + iSTFTNet", arXiv:2309.09493) turns an 80-bin mel spectrogram at 50 frames per
second into a 24 kHz waveform (480 samples per mel frame at the released size):

    mel [B, 80, T]
        -> F0 predictor (five 3-tap convolutions with ELU, a linear classifier, |.|) -> f0 [B, T] (Hz)
        -> nearest upsampling x480 -> neural source filter (harmonic sines of f0 + noise, merged by a linear layer
           and tanh) -> source [B, 1, T * 480]
    mel -> conv_pre -> 3 x (leaky ReLU, transposed conv x8 / x5 / x3, + downsampled STFT of the source through a
           residual block, multi-receptive-field residual blocks averaged)
        -> leaky ReLU -> conv_post -> log-magnitude and phase of a 16-point STFT (hop 4) -> iSTFT
        -> waveform [B, T * 480], clamped to [-audio_limit, audio_limit]

The residual blocks use Snake activations (x + sin^2(alpha x) / alpha) with one learnable alpha per channel.

Weights: `Token2WavHiFT` holds plain convolution weights. Its parameter names are the released `hift.pt` keys without
their "generator." prefix, with every weight-normed pair (`X.weight_g` / `X.weight_v`, or
`X.parametrizations.weight.original0` / `original1`) folded into one `X.weight` (see `fold_weight_norm`). The STFT
window is a non-persistent buffer, so it is not part of the state dict.

Randomness: the source draws, in this order, the initial phases of the harmonics (uniform in [-pi, pi), shape
[B, harmonics + 1, 1], drawn on the CPU), the additive noise (standard normal, shape [B, harmonics + 1, samples]) and
a noise branch that the vocoder does not use (shape [B, samples, 1]), exactly as the released code does, so that a
global seed gives the released waveform. Pass a `torch.Generator` to `inference` to draw from it instead.

This file imports only torch, numpy and the standard library, so that it can be copied into a model folder and loaded
with `trust_remote_code=True`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Defaults of the released `HiFTGenerator.__init__` and `ConvRNNF0Predictor.__init__` (CosyVoice's code); a key missing
# from a `hift_config` takes its value from here.
HIFT_CODE_DEFAULTS: dict[str, Any] = {
    "in_channels": 80,
    "base_channels": 512,
    "nb_harmonics": 8,
    "sampling_rate": 22050,
    "nsf_alpha": 0.1,
    "nsf_sigma": 0.003,
    "nsf_voiced_threshold": 10,
    "upsample_rates": [8, 8],
    "upsample_kernel_sizes": [16, 16],
    "istft_params": {"n_fft": 16, "hop_len": 4},
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "source_resblock_kernel_sizes": [7, 11],
    "source_resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]],
    "lrelu_slope": 0.1,
    "audio_limit": 0.99,
    "f0_predictor": {"num_class": 1, "in_channels": 80, "cond_channels": 512},
}

_WEIGHT_NORM_SUFFIXES = {
    # suffix -> (folded key suffix, which half of the pair)
    ".weight_g": (".weight", "g"),
    ".weight_v": (".weight", "v"),
    ".parametrizations.weight.original0": (".weight", "g"),
    ".parametrizations.weight.original1": (".weight", "v"),
}
_CHECKPOINT_PREFIX = "generator."


def resolve_hift_config(hift_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fills the keys missing from a `hift_config` with the released code's defaults (`HIFT_CODE_DEFAULTS`).

    Args:
        hift_config: `HiFTGenerator` init kwargs under their released names, with `"f0_predictor"` a dict of
            `ConvRNNF0Predictor` init kwargs (`"num_class"`, `"in_channels"`, `"cond_channels"`). `None` means all
            defaults.

    Returns:
        A new, complete config dict (the input is not modified).

    Raises:
        ValueError: on a key (or an `f0_predictor` key) that the released classes do not take.
    """
    hift_config = dict(hift_config or {})
    unknown = sorted(set(hift_config) - set(HIFT_CODE_DEFAULTS))
    if unknown:
        raise ValueError(f"Unknown hift_config keys {unknown}; expected a subset of {sorted(HIFT_CODE_DEFAULTS)}")
    resolved = copy.deepcopy(HIFT_CODE_DEFAULTS)
    for key, value in hift_config.items():
        if key in ("f0_predictor", "istft_params"):
            value = dict(value or {})
            unknown = sorted(set(value) - set(resolved[key]))
            if unknown:
                raise ValueError(
                    f"Unknown hift_config[{key!r}] keys {unknown}; expected a subset of {sorted(resolved[key])}"
                )
            resolved[key].update(copy.deepcopy(value))
        else:
            resolved[key] = copy.deepcopy(value)
    return resolved


def fold_weight_norm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Turns a released `hift.pt` state dict into `Token2WavHiFT`'s keys, with weight norm folded.

    The "generator." prefix is dropped where present. Each weight-norm pair -- old style `X.weight_g` / `X.weight_v`
    (`torch.nn.utils.weight_norm`) or new style `X.parametrizations.weight.original0` / `original1`
    (`torch.nn.utils.parametrizations.weight_norm`) -- becomes one `X.weight = g * v / ||v||`, computed as torch's
    weight norm computes it (`torch._weight_norm(v, g, 0)`, norm over every dim but 0). Other keys pass through
    unchanged, so do plain weights.

    This function only renames and folds: a key that `Token2WavHiFT` does not have, or half of a weight-norm pair
    without its other half, is passed through as it is, and `load_state_dict(..., strict=True)` reports it.

    Args:
        state_dict: name -> tensor, as `torch.load("hift.pt", weights_only=True)` returns it.

    Returns:
        A new dict name -> tensor (tensors not copied unless folded).
    """
    folded: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, tuple[str, torch.Tensor]]] = {}
    for key, tensor in state_dict.items():
        name = key[len(_CHECKPOINT_PREFIX) :] if key.startswith(_CHECKPOINT_PREFIX) else key
        for suffix, (new_suffix, half) in _WEIGHT_NORM_SUFFIXES.items():
            if name.endswith(suffix):
                pairs.setdefault(name[: -len(suffix)] + new_suffix, {})[half] = (name, tensor)
                break
        else:
            folded[name] = tensor
    for weight_name, halves in pairs.items():
        if "g" in halves and "v" in halves:
            folded[weight_name] = torch._weight_norm(halves["v"][1], halves["g"][1], 0)
        else:  # an orphan half: keep it under its own name for strict loading to report
            for name, tensor in halves.values():
                folded[name] = tensor
    return folded


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------


def _same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the length of a stride-1 convolution."""
    return (kernel_size * dilation - dilation) // 2


class Snake(nn.Module):
    """Snake activation x + sin^2(alpha * x) / alpha with one learnable `alpha` per channel (linear scale).

    Input and output: `(batch, channels, time)`.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))
        self.eps = 1e-9

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha[None, :, None]
        return hidden_states + (1.0 / (alpha + self.eps)) * torch.sin(hidden_states * alpha).pow(2)


class HiFTResBlock(nn.Module):
    """Residual block of HiFT: for each dilation d, x += conv(snake(conv_d(snake(x)))), lengths kept.

    Parameter names follow the released `ResBlock`: `convs1.{i}` (dilated), `convs2.{i}`, `activations1.{i}.alpha`,
    `activations2.{i}.alpha`.
    """

    def __init__(self, channels: int, kernel_size: int, dilations: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size)) for _ in dilations
        )
        self.activations1 = nn.ModuleList(Snake(channels) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels) for _ in dilations)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, time)` -> same shape."""
        for conv1, conv2, act1, act2 in zip(self.convs1, self.convs2, self.activations1, self.activations2):
            hidden_states = conv2(act2(conv1(act1(hidden_states)))) + hidden_states
        return hidden_states


class ConvRNNF0Predictor(nn.Module):
    """F0 predictor of HiFT (named as released, although it has no recurrent layer).

    `condnet` = five 3-tap convolutions (indices 0, 2, 4, 6, 8), each followed by ELU; `classifier` = a linear layer
    to `num_class` outputs per frame; the F0 is its absolute value.
    """

    def __init__(self, num_class: int = 1, in_channels: int = 80, cond_channels: int = 512):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(5):
            layers += [nn.Conv1d(in_channels if i == 0 else cond_channels, cond_channels, 3, padding=1), nn.ELU()]
        self.condnet = nn.Sequential(*layers)
        self.classifier = nn.Linear(cond_channels, num_class)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel `(batch, in_channels, frames)` -> f0 `(batch, frames)` in Hz (`num_class == 1`)."""
        hidden_states = self.condnet(mel).transpose(1, 2)
        return torch.abs(self.classifier(hidden_states).squeeze(-1))


class SourceModuleHnNSF(nn.Module):
    """Harmonic-plus-noise source of the neural source filter.

    For an F0 track upsampled to the sample rate, builds `harmonic_num + 1` sines at k * f0 (k = 1..H+1) with random
    initial phases (the fundamental's phase is 0), amplitude `sine_amp`, zeroed where unvoiced (f0 <= threshold),
    plus Gaussian noise (std `noise_std` where voiced, `sine_amp / 3` where unvoiced), and merges them into one
    excitation with a linear layer (`l_linear`) and tanh.
    """

    def __init__(
        self,
        sampling_rate: int,
        harmonic_num: int = 0,
        sine_amp: float = 0.1,
        noise_std: float = 0.003,
        voiced_threshold: float = 0,
    ):
        super().__init__()
        self.sampling_rate = sampling_rate
        self.harmonic_num = harmonic_num
        self.sine_amp = sine_amp
        self.noise_std = noise_std
        self.voiced_threshold = voiced_threshold
        self.l_linear = nn.Linear(harmonic_num + 1, 1)

    def _harmonics(self, f0: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """f0 `(batch, 1, samples)` -> noisy, voiced-gated harmonic sines `(batch, harmonic_num + 1, samples)`."""
        batch_size, _, num_samples = f0.shape
        num_sines = self.harmonic_num + 1
        frequencies = torch.cat([f0 * (k + 1) / self.sampling_rate for k in range(num_sines)], dim=1).float()
        phase_advance = 2 * math.pi * (torch.cumsum(frequencies, dim=-1) % 1)

        # Initial phases: Uniform(-pi, pi) drawn on the CPU (the generator's device if one is given), then noise.
        draw_device = generator.device if generator is not None else torch.device("cpu")
        unit = torch.rand((batch_size, num_sines, 1), generator=generator, device=draw_device)
        low = torch.tensor(-math.pi, dtype=unit.dtype, device=draw_device)
        high = torch.tensor(math.pi, dtype=unit.dtype, device=draw_device)
        initial_phase = (low + unit * (high - low)).to(f0.device)
        initial_phase[:, 0, :] = 0
        sines = self.sine_amp * torch.sin(phase_advance + initial_phase)

        voiced = (f0 > self.voiced_threshold).type(torch.float32)
        noise_amp = voiced * self.noise_std + (1 - voiced) * self.sine_amp / 3
        noise_device = generator.device if generator is not None else sines.device
        gaussian = torch.randn(sines.shape, generator=generator, device=noise_device, dtype=sines.dtype)
        return sines * voiced + noise_amp * gaussian.to(sines.device)

    def forward(self, f0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """f0 `(batch, samples, 1)` in Hz -> excitation `(batch, samples, 1)` in [-1, 1]."""
        harmonics = self._harmonics(f0.transpose(1, 2), generator).transpose(1, 2)
        excitation = torch.tanh(self.l_linear(harmonics))
        # The released module also draws a noise branch of shape (batch, samples, 1) that the vocoder never uses;
        # drawing it keeps the random stream (and so every later draw) the same as the released code's.
        torch.randn(f0.shape, generator=generator, device=generator.device if generator is not None else f0.device)
        return excitation


# ----------------------------------------------------------------------------------------------------------------------
# The vocoder
# ----------------------------------------------------------------------------------------------------------------------


class Token2WavHiFT(nn.Module):
    """CosyVoice2's HiFT generator (mel -> 24 kHz waveform at the released size), inference only.

    Args:
        hift_config: `HiFTGenerator` init kwargs under their released names (see `configuration_token2wav.COSYVOICE2_HIFT` for the
            released values), with `"f0_predictor"` a dict of `ConvRNNF0Predictor` kwargs. Missing keys take the
            released code's defaults (`HIFT_CODE_DEFAULTS`; note those are not the CosyVoice2 values).

    Raises:
        ValueError: on an unknown config key.
    """

    def __init__(self, hift_config: Mapping[str, Any] | None = None):
        super().__init__()
        config = resolve_hift_config(hift_config)
        self.config = config
        base_channels = config["base_channels"]
        upsample_rates = [int(rate) for rate in config["upsample_rates"]]
        n_fft = int(config["istft_params"]["n_fft"])
        self.n_fft = n_fft
        self.istft_hop_length = int(config["istft_params"]["hop_len"])
        self.lrelu_slope = config["lrelu_slope"]
        self.audio_limit = config["audio_limit"]
        self.num_kernels = len(config["resblock_kernel_sizes"])
        self.num_upsamples = len(upsample_rates)

        self.f0_predictor = ConvRNNF0Predictor(**config["f0_predictor"])
        self.m_source = SourceModuleHnNSF(
            sampling_rate=config["sampling_rate"],
            harmonic_num=config["nb_harmonics"],
            sine_amp=config["nsf_alpha"],
            noise_std=config["nsf_sigma"],
            voiced_threshold=config["nsf_voiced_threshold"],
        )
        self.conv_pre = nn.Conv1d(config["in_channels"], base_channels, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(base_channels // 2**i, base_channels // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(upsample_rates, config["upsample_kernel_sizes"]))
        )

        # The source's STFT enters after each upsampling, strided down to that stage's rate.
        self.source_downs = nn.ModuleList()
        self.source_resblocks = nn.ModuleList()
        cumulative_rates = np.cumprod([1] + upsample_rates[::-1][:-1])[::-1]
        for i, (rate, k, d) in enumerate(
            zip(cumulative_rates, config["source_resblock_kernel_sizes"], config["source_resblock_dilation_sizes"])
        ):
            rate = int(rate)
            channels = base_channels // 2 ** (i + 1)
            if rate == 1:
                self.source_downs.append(nn.Conv1d(n_fft + 2, channels, 1, 1))
            else:
                self.source_downs.append(nn.Conv1d(n_fft + 2, channels, rate * 2, rate, padding=rate // 2))
            self.source_resblocks.append(HiFTResBlock(channels, k, d))

        self.resblocks = nn.ModuleList(
            HiFTResBlock(base_channels // 2 ** (i + 1), k, d)
            for i in range(self.num_upsamples)
            for k, d in zip(config["resblock_kernel_sizes"], config["resblock_dilation_sizes"])
        )
        self.conv_post = nn.Conv1d(base_channels // 2**self.num_upsamples, n_fft + 2, 7, padding=3)
        # Periodic Hann window, computed in float64 then rounded so that it equals scipy's get_window("hann", n_fft)
        # bit for bit (torch.hann_window in float32 differs in the last bit).
        self.register_buffer("stft_window", self._hann_window(n_fft), persistent=False)

    @staticmethod
    def _hann_window(n_fft: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=device).float()

    def reset_computed_buffers(self) -> None:
        """Recomputes the STFT window (`from_pretrained` materialises non-persistent buffers empty)."""
        if self.stft_window.device.type != "meta":
            self.stft_window = self._hann_window(self.n_fft, self.stft_window.device)

    @property
    def sampling_rate(self) -> int:
        """Output sample rate in Hz (24 000 at the released size)."""
        return int(self.config["sampling_rate"])

    @property
    def hop_length(self) -> int:
        """Samples per mel frame: prod(upsample_rates) * istft hop (480 at the released size)."""
        return int(np.prod(self.config["upsample_rates"])) * self.istft_hop_length

    def _stft(self, signal: torch.Tensor) -> torch.Tensor:
        """signal `(batch, samples)` -> real and imaginary parts stacked `(batch, n_fft + 2, samples // hop + 1)`."""
        spec = torch.stft(
            signal,
            self.n_fft,
            self.istft_hop_length,
            self.n_fft,
            window=self.stft_window.to(signal.device),
            return_complex=True,
        )
        spec = torch.view_as_real(spec)
        return torch.cat([spec[..., 0], spec[..., 1]], dim=1)

    def _istft(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        """magnitude, phase `(batch, n_fft // 2 + 1, stft_frames)` -> waveform `(batch, (stft_frames - 1) * hop)`."""
        magnitude = torch.clip(magnitude, max=1e2)
        spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        return torch.istft(
            spec, self.n_fft, self.istft_hop_length, self.n_fft, window=self.stft_window.to(magnitude.device)
        )

    def decode(self, mel: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """The filter: mel `(batch, in_channels, frames)` and source `(batch, 1, frames * hop_length)` -> waveform
        `(batch, frames * hop_length)` in [-audio_limit, audio_limit]."""
        source_stft = self._stft(source.squeeze(1))

        hidden_states = self.conv_pre(mel)
        for i in range(self.num_upsamples):
            hidden_states = F.leaky_relu(hidden_states, self.lrelu_slope)
            hidden_states = self.ups[i](hidden_states)
            if i == self.num_upsamples - 1:
                # one sample on the left, to line up with the source STFT's (samples // hop + 1) frames
                hidden_states = F.pad(hidden_states, (1, 0), mode="reflect")
            hidden_states = hidden_states + self.source_resblocks[i](self.source_downs[i](source_stft))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            mixed = blocks[0](hidden_states)
            for block in blocks[1:]:
                mixed = mixed + block(hidden_states)
            hidden_states = mixed / self.num_kernels

        # The released code uses leaky_relu's default slope (0.01) here, not lrelu_slope.
        hidden_states = self.conv_post(F.leaky_relu(hidden_states))
        num_bins = self.n_fft // 2 + 1
        magnitude = torch.exp(hidden_states[:, :num_bins, :])
        phase = torch.sin(hidden_states[:, num_bins:, :])  # as released (sin of the predicted phase)
        waveform = self._istft(magnitude, phase)
        return torch.clamp(waveform, -self.audio_limit, self.audio_limit)

    def source(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The neural source: mel `(batch, in_channels, frames)` -> excitation `(batch, 1, frames * hop_length)`."""
        f0 = self.f0_predictor(mel)
        f0 = F.interpolate(f0[:, None], scale_factor=float(self.hop_length), mode="nearest")
        return self.m_source(f0.transpose(1, 2), generator=generator).transpose(1, 2)

    @torch.inference_mode()
    def inference(
        self,
        mel: torch.FloatTensor,
        cache_source: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor]:
        """Vocodes a mel spectrogram, as the released `HiFTGenerator.inference`.

        Args:
            mel: `(batch, in_channels, frames)` log-mel spectrogram (batch 1 in LLaMA-Omni2).
            cache_source: `(batch, 1, cached_samples)`, the tail of the previous chunk's source; it replaces the first
                `cached_samples` of this chunk's source so that the excitation is continuous across chunks. `None`
                or an empty tensor: no cache.
            generator: random generator for the source's phases and noise; `None` draws from torch's global RNG in
                the released order (phases on the CPU, noise on `mel`'s device).

        Returns:
            `(waveform, source)`: waveform `(batch, frames * hop_length)` in [-audio_limit, audio_limit], and the
            source `(batch, 1, frames * hop_length)` after the cache overwrite (cache its tail for the next chunk).

        Raises:
            ValueError: if `mel` is not 3-D, or `cache_source` is longer than the source.
        """
        if mel.dim() != 3:
            raise ValueError(f"mel must be (batch, {self.config['in_channels']}, frames), got shape {tuple(mel.shape)}")
        source = self.source(mel, generator=generator)
        if cache_source is not None and cache_source.shape[-1] != 0:
            if cache_source.shape[-1] > source.shape[-1]:
                raise ValueError(
                    f"cache_source has {cache_source.shape[-1]} samples, more than the {source.shape[-1]} of the source"
                )
            source[:, :, : cache_source.shape[-1]] = cache_source
        waveform = self.decode(mel, source)
        return waveform, source
