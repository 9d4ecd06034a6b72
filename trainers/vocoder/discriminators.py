# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""HiFi-GAN's discriminators (Kong et al. 2020): the multi-period discriminator (the waveform folded by a period,
2-D convolutions) and the multi-scale discriminator (raw, x2 and x4 average-pooled audio, 1-D convolutions), with a
channel scale for small test models."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _width(channels: int, scale: float) -> int:
    return max(1, int(round(channels * scale)))


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator: the waveform folded into `(frames, period)`, 2-D convolutions (k=5,
    stride 3)."""

    def __init__(self, period: int, channel_scale: float = 1.0):
        super().__init__()
        self.period = period
        widths = [1] + [_width(c, channel_scale) for c in (32, 128, 512, 1024, 1024)]
        norm = nn.utils.parametrizations.weight_norm
        self.convs = nn.ModuleList(
            norm(nn.Conv2d(widths[i], widths[i + 1], (5, 1), (3 if i < 4 else 1, 1), padding=(2, 0)))
            for i in range(5)
        )
        self.conv_post = norm(nn.Conv2d(widths[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        batch, length = waveform.shape
        if length % self.period:
            waveform = F.pad(waveform.unsqueeze(1), (0, self.period - length % self.period), mode="reflect").squeeze(1)
        x = waveform.view(batch, 1, -1, self.period)
        feature_maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feature_maps.append(x)
        x = self.conv_post(x)
        feature_maps.append(x)
        return x.flatten(1), feature_maps


class ScaleDiscriminator(nn.Module):
    """HiFi-GAN's scale discriminator: grouped strided 1-D convolutions (spectral norm on the first scale)."""

    _LAYERS = ((128, 15, 1, 1, 7), (128, 41, 2, 4, 20), (256, 41, 2, 16, 20), (512, 41, 4, 16, 20),
               (1024, 41, 4, 16, 20), (1024, 41, 1, 16, 20), (1024, 5, 1, 1, 2))

    def __init__(self, spectral_norm: bool = False, channel_scale: float = 1.0):
        super().__init__()
        norm = nn.utils.parametrizations.spectral_norm if spectral_norm else nn.utils.parametrizations.weight_norm
        convs, in_channels = [], 1
        for out, kernel, stride, groups, padding in self._LAYERS:
            out = _width(out, channel_scale)
            groups = math.gcd(math.gcd(groups, in_channels), out)
            convs.append(norm(nn.Conv1d(in_channels, out, kernel, stride, groups=groups, padding=padding)))
            in_channels = out
        self.convs = nn.ModuleList(convs)
        self.conv_post = norm(nn.Conv1d(in_channels, 1, 3, 1, padding=1))

    def forward(self, waveform: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = waveform.unsqueeze(1)
        feature_maps = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
            feature_maps.append(x)
        x = self.conv_post(x)
        feature_maps.append(x)
        return x.flatten(1), feature_maps


class HifiGanDiscriminators(nn.Module):
    """The multi-period (`periods`) and multi-scale (x1 with spectral norm, x2, x4 average-pooled) discriminators."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), channel_scale: float = 1.0):
        super().__init__()
        self.period_discriminators = nn.ModuleList(PeriodDiscriminator(p, channel_scale) for p in periods)
        self.scale_discriminators = nn.ModuleList(
            ScaleDiscriminator(spectral_norm=i == 0, channel_scale=channel_scale) for i in range(3)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, waveform: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """`(batch, samples)` -> (one score tensor per discriminator, their feature maps)."""
        scores, feature_maps = [], []
        for discriminator in self.period_discriminators:
            score, maps = discriminator(waveform)
            scores.append(score)
            feature_maps.append(maps)
        x = waveform
        for i, discriminator in enumerate(self.scale_discriminators):
            if i > 0:
                x = self.pool(x.unsqueeze(1)).squeeze(1)
            score, maps = discriminator(x)
            scores.append(score)
            feature_maps.append(maps)
        return scores, feature_maps


__all__ = ["HifiGanDiscriminators", "PeriodDiscriminator", "ScaleDiscriminator"]
