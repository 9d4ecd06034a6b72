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

The modules: `config` (`VocoderTrainingConfig`), `losses` (mel spectrogram, GAN losses), `discriminators`, `data`
(examples, capture from the Piper voice, units) and `trainer` (`UnitVocoderTrainer`, checkpoints). The command line
(`llama-omni train vocoder`) and the set-up from a config (`build_vocoder_trainer`, `train_vocoder`) are in
`trainers.scripts.train`.
"""

from .config import LATENT_LOSSES, LR_SCHEDULES, VocoderTrainingConfig
from .data import (
    VocoderExample,
    capture_latent_examples,
    captured_examples,
    examples_from_dataset,
    examples_to_dataset,
    extract_units,
    fit_unit_extractor,
    mean_latent_per_unit,
    read_texts,
    run_lengths,
)
from .discriminators import HifiGanDiscriminators, PeriodDiscriminator, ScaleDiscriminator
from .losses import MelSpectrogram, discriminator_loss, feature_matching_loss, generator_adversarial_loss
from .trainer import UnitVocoderTrainer, build_vocoder, list_checkpoints, lr_scheduler

__all__ = [
    "LATENT_LOSSES",
    "LR_SCHEDULES",
    "HifiGanDiscriminators",
    "MelSpectrogram",
    "PeriodDiscriminator",
    "ScaleDiscriminator",
    "UnitVocoderTrainer",
    "VocoderExample",
    "VocoderTrainingConfig",
    "build_vocoder",
    "capture_latent_examples",
    "captured_examples",
    "discriminator_loss",
    "examples_from_dataset",
    "examples_to_dataset",
    "extract_units",
    "feature_matching_loss",
    "fit_unit_extractor",
    "generator_adversarial_loss",
    "list_checkpoints",
    "lr_scheduler",
    "mean_latent_per_unit",
    "read_texts",
    "run_lengths",
]
