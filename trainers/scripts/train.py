# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni train stage1|stage2|vocoder --config recipe.yaml [--key value ...]`: the training script.

Every stage reads its YAML recipe with the same parser (`trainers.scripts.utils.parse_recipe`, TRL's `TrlParser`):
command-line flags override the recipe, unknown recipe keys are refused with a suggestion. The recipe of `stage1` /
`stage2` holds the fields of three dataclasses: `ModelArguments`, `DataArguments` and the stage's config
(`Stage1Config`, an `SFTConfig`; `Stage2Config`, a `TrainingArguments`); the recipe of `vocoder` the fields of
`VocoderTrainingConfig` (its data fields included). Multi-process training goes through accelerate or torchrun,
e.g.::

    accelerate launch --config_file trainers/accelerate/ddp.yaml -m trainers.cli \\
        train stage1 --config trainers/recipes/stage1_paper.yaml
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..vocoder import (
    UnitVocoderTrainer,
    VocoderExample,
    VocoderTrainingConfig,
    build_vocoder,
    captured_examples,
    examples_from_dataset,
)
from .utils import DataArguments, ModelArguments, load_datasets, parse_recipe

STAGES = ("stage1", "stage2", "vocoder")
VOCODER_SUMMARY_NAME = "training_summary.json"


def stage_classes(stage: str) -> tuple[type, type]:
    """`(config class, trainer class)` of `stage` ("stage1", "stage2" or "vocoder").

    Raises:
        ValueError: an unknown stage.
    """
    if stage == "stage1":
        from ..stages.stage1 import LlamaOmniStage1Trainer, Stage1Config

        return Stage1Config, LlamaOmniStage1Trainer
    if stage == "stage2":
        from ..stages.stage2 import LlamaOmniStage2Trainer, Stage2Config

        return Stage2Config, LlamaOmniStage2Trainer
    if stage == "vocoder":
        return VocoderTrainingConfig, UnitVocoderTrainer
    raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")


def parse_train_args(stage: str, argv: Sequence[str]) -> tuple[ModelArguments, DataArguments, Any]:
    """
    `(ModelArguments, DataArguments, config)` of `stage1` or `stage2` from `--config recipe.yaml` and command-line
    overrides (see `parse_recipe`).

    Raises:
        FileNotFoundError: the recipe file does not exist.
        ValueError: an unknown stage (the vocoder's recipe is read by `parse_vocoder_args`), a recipe that is not a
            YAML mapping or has unknown keys (the message suggests close names).
    """
    if stage not in ("stage1", "stage2"):
        raise ValueError(f"parse_train_args reads stage1 / stage2 recipes, not {stage!r} (see parse_vocoder_args)")
    config_cls, _ = stage_classes(stage)
    return parse_recipe([ModelArguments, DataArguments, config_cls], argv, prog=f"llama-omni train {stage}")


def parse_vocoder_args(argv: Sequence[str], overrides: dict[str, Any] | None = None) -> VocoderTrainingConfig:
    """
    The `VocoderTrainingConfig` of `--config recipe.yaml` with `overrides` (field: value) and command-line flags
    (`--max_steps 10`, `--vocoder_config '{unit_vocab_size: 100}'`, `--fmax null`, `--discriminator_periods 2 3`);
    see `parse_recipe`.

    Raises:
        FileNotFoundError: the recipe does not exist. ValueError: a malformed command line or recipe.
    """
    (config,) = parse_recipe([VocoderTrainingConfig], argv, prog="llama-omni train vocoder", overrides=overrides)
    return config


def build_trainer(stage: str, model_args: ModelArguments, data_args: DataArguments, config: Any, callbacks=None):
    """Loads the datasets, the model and its processor, and returns the stage's trainer (nothing trained yet).

    Raises:
        FileNotFoundError: the model folder or the dataset does not exist.
        ValueError: missing dataset columns, an unknown split, a model and processor that do not belong together.
    """
    from modeling_llama_omni import LlamaOmniForConditionalGeneration
    from processing import LlamaOmniProcessor

    _, trainer_cls = stage_classes(stage)
    train_dataset, eval_dataset = load_datasets(data_args, config.speech_instruction_column, seed=config.seed)
    if not os.path.isdir(model_args.model_name_or_path):
        raise FileNotFoundError(
            f"model folder not found: {model_args.model_name_or_path!r} (stage 1 starts from a LLaMA-Omni folder "
            "assembled from a Whisper encoder and an LLM, stage 2 from stage 1's output folder)"
        )
    load_kwargs: dict[str, Any] = {"dtype": model_args.model_dtype}
    if model_args.attn_implementation:
        load_kwargs["attn_implementation"] = model_args.attn_implementation
    model = LlamaOmniForConditionalGeneration.from_pretrained(model_args.model_name_or_path, **load_kwargs)
    processor = LlamaOmniProcessor.from_pretrained(model_args.model_name_or_path)
    return trainer_cls(
        model=model,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processor=processor,
        callbacks=callbacks,
    )


def train_and_save(trainer: Any) -> Any:
    """Trains (resuming from `resume_from_checkpoint`: a checkpoint folder, or "last" for the newest one in
    `output_dir`), saves the complete model folder in `output_dir`, evaluates when there is an eval dataset, and
    returns the train metrics."""
    from transformers.trainer_utils import get_last_checkpoint

    config = trainer.args
    resume = config.resume_from_checkpoint
    if isinstance(resume, str) and resume.lower() in ("last", "latest", "true"):
        resume = get_last_checkpoint(config.output_dir)
        if resume is None:
            raise FileNotFoundError(
                f"resume_from_checkpoint={config.resume_from_checkpoint!r}: no checkpoint in {config.output_dir}"
            )
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(config.output_dir)
    trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    if trainer.eval_dataset is not None:
        metrics = trainer.evaluate()
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)
    trainer.save_state()
    return result.metrics


def build_vocoder_trainer(config: VocoderTrainingConfig) -> UnitVocoderTrainer:
    """
    Prepares the data (a dataset, or texts spoken by the Piper voice), the vocoder and the trainer.

    Raises:
        ValueError: neither `dataset_path` nor (for `latent_frontend`) `capture_texts_path`; bad columns; a unit
            extractor is needed but missing.
        FileNotFoundError: a missing dataset, texts file or vocoder folder.
    """
    from modeling_llama_omni.configuration_unit_vocoder import UnitVocoderConfig
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
        train_examples, extractor = captured_examples(config, progress)
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
    with open(os.path.join(config.output_dir, VOCODER_SUMMARY_NAME), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def train_vocoder(config: VocoderTrainingConfig) -> dict[str, Any]:
    """`build_vocoder_trainer` + `train_and_save_vocoder`."""
    return train_and_save_vocoder(build_vocoder_trainer(config))


def main(argv: list[str] | None = None) -> int:
    """Entry point of `llama-omni train`. Returns 0, or 2 for a bad command line, recipe, model folder or dataset
    (the message goes to stderr); errors during training propagate."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: llama-omni train {stage1,stage2,vocoder} --config RECIPE.yaml [--field value ...]\n\n"
            "  stage1   speech instruction -> text response (adaptor + LLM); a TRL SFTTrainer\n"
            "  stage2   the speech decoder (CTC, or LLaMA-Omni2's autoregressive one) on the response's speech units;\n"
            "           everything else frozen\n"
            "  vocoder  a unit vocoder for a voice (code_hifigan: HiFi-GAN, GPU; latent_frontend: CPU)\n\n"
            "recipes: trainers/recipes/*.yaml; `llama-omni train stage1 --help` lists every field"
        )
        return 0
    stage, rest = argv[0], argv[1:]
    if stage not in STAGES:
        print(f"error: unknown stage {stage!r}; expected one of {STAGES}", file=sys.stderr)
        return 2
    try:
        if stage == "vocoder":
            trainer = build_vocoder_trainer(parse_vocoder_args(rest))
        else:
            model_args, data_args, config = parse_train_args(stage, rest)
            trainer = build_trainer(stage, model_args, data_args, config)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if stage == "vocoder":
        summary = train_and_save_vocoder(trainer)
        print(json.dumps({"step": summary["step"], "initial_eval": summary["initial_eval"],
                          "final_eval": summary["final_eval"]}))
    else:
        train_and_save(trainer)
    return 0


__all__ = [
    "STAGES",
    "build_trainer",
    "build_vocoder_trainer",
    "main",
    "parse_train_args",
    "parse_vocoder_args",
    "stage_classes",
    "train_and_save",
    "train_and_save_vocoder",
    "train_vocoder",
]
