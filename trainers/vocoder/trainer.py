# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`UnitVocoderTrainer`: trains a `UnitVocoder` on one voice (see `trainers.vocoder` for the two vocoder types), with
its checkpoints (`output_dir/checkpoint-N/`: a loadable `vocoder/` folder + `trainer_state.pt` to resume from)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from modeling_llama_omni import pick_device_and_dtype
from modeling_llama_omni.configuration_unit_vocoder import UnitVocoderConfig
from modeling_llama_omni.modeling_unit_vocoder import UnitVocoder

from .config import VocoderTrainingConfig
from .data import VocoderExample, mean_latent_per_unit, run_lengths
from .discriminators import HifiGanDiscriminators
from .losses import MelSpectrogram, discriminator_loss, feature_matching_loss, generator_adversarial_loss

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_NAME = "trainer_state.pt"


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


def lr_scheduler(optimizer: torch.optim.Optimizer, config: VocoderTrainingConfig) -> LRScheduler:
    """
    The learning-rate schedule of `config` on `optimizer`, stepped once per training step: `"constant"` and
    `"cosine"` are `transformers.get_scheduler`'s ("constant_with_warmup", "cosine": a linear warm-up over
    `warmup_steps`, then constant, or a cosine to 0 at `max_steps`); `"exponential"` is HiFi-GAN's, torch's
    `ExponentialLR` (x `lr_decay` every `lr_decay_steps` steps, continuously) after the same warm-up.
    """
    from transformers import get_scheduler

    warmup = config.warmup_steps
    if config.lr_scheduler_type == "cosine":
        return get_scheduler("cosine", optimizer, num_warmup_steps=warmup, num_training_steps=config.max_steps)
    if config.lr_scheduler_type == "constant":
        return get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=warmup)
    decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay ** (1.0 / config.lr_decay_steps))
    if not warmup:
        return decay
    warm_up = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=warmup)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm_up, decay], milestones=[warmup])


class UnitVocoderTrainer:
    """
    Trains a [`UnitVocoder`] on (units, waveform[, latent]) examples of one voice; see the `trainers.vocoder` docstring.

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
        self.device, _ = pick_device_and_dtype(None if config.device == "auto" else config.device, torch.float32)
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
        self.lr_scheduler, self.lr_scheduler_d = self._make_lr_schedulers()
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

    def _make_lr_schedulers(self) -> tuple[LRScheduler, LRScheduler | None]:
        """The schedules of the vocoder's optimizer and of the discriminators' (None for `latent_frontend`)."""
        schedule_d = lr_scheduler(self.optimizer_d, self.config) if self.optimizer_d is not None else None
        return lr_scheduler(self.optimizer, self.config), schedule_d

    def _step_lr_schedulers(self) -> None:
        """One step of the schedules; the discriminators' follows the steps also where their optimizer did not step
        (before `adversarial_start_step`)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            for scheduler in (self.lr_scheduler, self.lr_scheduler_d):
                if scheduler is not None:
                    scheduler.step()

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
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "data_generator": self.data_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "log_history": json.dumps(self.log_history),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        if self.discriminators is not None:
            state["discriminators"] = self.discriminators.state_dict()
            state["optimizer_d"] = self.optimizer_d.state_dict()
            state["lr_scheduler_d"] = self.lr_scheduler_d.state_dict()
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
        if "lr_scheduler" in state:
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
            if self.lr_scheduler_d is not None:
                self.lr_scheduler_d.load_state_dict(state["lr_scheduler_d"])
        else:  # a checkpoint written before the schedules were saved: rebuild them and replay them to its step
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.learning_rate
            for group in self.optimizer_d.param_groups if self.optimizer_d is not None else ():
                group["lr"] = self.config.discriminator_learning_rate or self.config.learning_rate
            self.lr_scheduler, self.lr_scheduler_d = self._make_lr_schedulers()
            for _ in range(int(state["step"])):
                self._step_lr_schedulers()
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
        bar = tqdm(range(self.step, config.max_steps), desc="vocoder", disable=config.disable_tqdm,
                   dynamic_ncols=True)
        running: dict[str, list[float]] = {}
        for _ in bar:
            learning_rate = self.optimizer.param_groups[0]["lr"]
            logs = train_step(self._sample_batch())
            self._step_lr_schedulers()
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


__all__ = ["UnitVocoderTrainer", "build_vocoder", "list_checkpoints", "lr_scheduler"]
