# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""HiFi-GAN's training losses (Kong et al. 2020): the log-mel spectrogram of the mel L1 loss, the least-squares
adversarial losses of the discriminators and the generator, and feature matching."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MelSpectrogram(nn.Module):
    """
    HiFi-GAN's log-mel spectrogram: reflect padding of `(n_fft - hop) / 2`, STFT (Hann window, not centred),
    magnitude, Slaney mel filters, `log(clamp(x, 1e-5))`. `(batch, samples) -> (batch, num_mels, frames)`.
    """

    def __init__(self, sampling_rate: int, n_fft: int = 1024, hop_size: int = 256, win_size: int = 1024,
                 num_mels: int = 80, fmin: float = 0.0, fmax: float | None = None):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        fmax = sampling_rate / 2 if fmax is None else fmax
        basis = mel_filter_bank(n_fft // 2 + 1, num_mels, fmin, fmax, sampling_rate, norm="slaney", mel_scale="slaney")
        self.register_buffer("mel_basis", torch.from_numpy(basis.T.astype(np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(win_size), persistent=False)
        self.n_fft, self.hop_size, self.win_size = n_fft, hop_size, win_size

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        pad = (self.n_fft - self.hop_size) // 2
        waveform = F.pad(waveform.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(waveform, self.n_fft, hop_length=self.hop_size, win_length=self.win_size,
                          window=self.window, center=False, return_complex=True)
        magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
        return torch.log(torch.clamp(self.mel_basis @ magnitude, min=1e-5))


def discriminator_loss(real_scores: list[torch.Tensor], fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss of the discriminators: `sum mean((1 - D(y))^2) + mean(D(G(x))^2)`."""
    return sum(torch.mean((1 - r) ** 2) + torch.mean(g**2) for r, g in zip(real_scores, fake_scores))


def generator_adversarial_loss(fake_scores: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN loss of the generator: `sum mean((1 - D(G(x)))^2)`."""
    return sum(torch.mean((1 - g) ** 2) for g in fake_scores)


def feature_matching_loss(real_maps: list[list[torch.Tensor]], fake_maps: list[list[torch.Tensor]]) -> torch.Tensor:
    """`sum mean|D_l(y) - D_l(G(x))|` over every discriminator layer (real features detached)."""
    return sum(
        torch.mean(torch.abs(r.detach() - g)) for rs, gs in zip(real_maps, fake_maps) for r, g in zip(rs, gs)
    )


__all__ = ["MelSpectrogram", "discriminator_loss", "feature_matching_loss", "generator_adversarial_loss"]
