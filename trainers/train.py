# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni train stage1|stage2|vocoder --config recipe.yaml [--key value ...]`: the training command.

The YAML recipe holds the fields of three dataclasses: `ModelArguments`, `DataArguments` and the stage's config
(`Stage1Config`, an `SFTConfig`; `Stage2Config`, a `TrainingArguments`). Command-line flags override the recipe
(TRL's `TrlParser`). Unknown recipe keys are refused with a suggestion. The `vocoder` stage has its own config
(`trainers.vocoder.VocoderTrainingConfig`, one dataclass) and trainer. Multi-process training goes through
accelerate or torchrun, e.g.::

    accelerate launch --config_file trainers/accelerate/ddp.yaml -m trainers.cli \\
        train stage1 --config trainers/recipes/stage1_paper.yaml
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field, fields
from typing import Any

STAGES = ("stage1", "stage2", "vocoder")


@dataclass
class ModelArguments:
    """Which model to train.

    Parameters:
        model_name_or_path (`str`): a LLaMA-Omni model folder (model + processor): for stage 1, a model assembled
            from a Whisper encoder and an LLM (or a converted checkpoint); for stage 2, stage 1's output folder.
        model_dtype (`str`, defaults to `"float32"`): dtype the weights are loaded in (`"auto"`: as saved). Keep
            float32 master weights with `bf16: true` mixed precision, or load in bfloat16 to halve memory.
        attn_implementation (`str`, *optional*): "sdpa" (default), "eager", "flash_attention_2", ...
    """

    model_name_or_path: str = field(metadata={"help": "LLaMA-Omni model folder (model + processor)."})
    model_dtype: str = field(
        default="float32",
        metadata={"help": "Weights dtype.", "choices": ["auto", "float32", "bfloat16", "float16"]},
    )
    attn_implementation: str | None = field(default=None, metadata={"help": "Attention implementation."})


@dataclass
class DataArguments:
    """Which data to train on.

    Parameters:
        dataset_path (`str`): a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk`, a JSON /
            JSON Lines file (audio columns as file paths, relative to the file's folder), or a folder of data files
            `datasets.load_dataset` reads.
        train_split (`str`, defaults to `"train"`): the training split (of a `DatasetDict` or data-file folder).
        eval_split (`str`, *optional*): the evaluation split, or a fraction like `"0.05"` of the training split held
            out (with `seed`).
        max_train_samples, max_eval_samples (`int`, *optional*): keep only the first N examples.
    """

    dataset_path: str = field(metadata={"help": "save_to_disk folder, JSON/JSONL file, or data-file folder."})
    train_split: str = field(default="train", metadata={"help": "Training split."})
    eval_split: str | None = field(default=None, metadata={"help": "Eval split, or a held-out fraction like 0.05."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N eval examples."})


def stage_classes(stage: str):
    """`(config class, trainer class)` of `stage` ("stage1", "stage2" or "vocoder")."""
    if stage == "stage1":
        from .stage1 import LlamaOmniStage1Trainer, Stage1Config

        return Stage1Config, LlamaOmniStage1Trainer
    if stage == "stage2":
        from .stage2 import LlamaOmniStage2Trainer, Stage2Config

        return Stage2Config, LlamaOmniStage2Trainer
    if stage == "vocoder":
        from .vocoder import UnitVocoderTrainer, VocoderTrainingConfig

        return VocoderTrainingConfig, UnitVocoderTrainer
    raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")


def parse_train_args(stage: str, argv: list[str]) -> tuple[ModelArguments, DataArguments, Any]:
    """
    Parses `--config recipe.yaml` and command-line overrides into `(ModelArguments, DataArguments, config)`.

    Raises:
        FileNotFoundError: the recipe file does not exist.
        ValueError: the recipe is not a YAML mapping or has unknown keys (the message suggests close names).
    """
    import yaml
    from trl import TrlParser

    config_cls, _ = stage_classes(stage)
    dataclass_types = [ModelArguments, DataArguments, config_cls]
    parser = TrlParser(dataclass_types, prog=f"llama-omni train {stage}")
    argv = list(argv)
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise ValueError("--config needs the path of a YAML recipe")
        path = argv[index + 1]
        del argv[index : index + 2]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"recipe not found: {path}")
        with open(path, encoding="utf-8") as f:
            recipe = yaml.safe_load(f) or {}
        if not isinstance(recipe, dict):
            raise ValueError(f"the recipe {path} must be a YAML mapping of field: value")
        known = {f.name for cls in dataclass_types for f in fields(cls) if f.init}
        unknown = sorted(set(recipe) - known)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, known, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ValueError(
                f"unknown key(s) in the recipe {path} for {stage}: {', '.join(hints)}. The keys are the fields of "
                f"ModelArguments, DataArguments and {config_cls.__name__} (see `llama-omni train {stage} --help`)."
            )
        parser.set_defaults_with_config(**recipe)
    model_args, data_args, config = parser.parse_args_into_dataclasses(args=argv)
    return model_args, data_args, config


def _read_dataset(path: str, split: str, speech_column: str):
    import datasets

    if os.path.isfile(path):
        if not path.endswith((".json", ".jsonl")):
            raise ValueError(f"dataset file {path!r}: only JSON / JSON Lines files are read directly")
        dataset = datasets.load_dataset("json", data_files=path, split="train")
        if speech_column in dataset.column_names and dataset.features[speech_column].dtype == "string":
            root = os.path.dirname(os.path.abspath(path))
            dataset = dataset.map(
                lambda row: {speech_column: os.path.join(root, row[speech_column])}, desc="resolving audio paths"
            )
            dataset = dataset.cast_column(speech_column, datasets.Audio(sampling_rate=16000))
        if split != "train":
            raise ValueError(f"a JSON file holds one split ('train'), not {split!r}")
        return dataset
    if os.path.isdir(path):
        if any(os.path.isfile(os.path.join(path, name)) for name in ("dataset_dict.json", "state.json")):
            loaded = datasets.load_from_disk(path)
        else:
            loaded = datasets.load_dataset(path)
    else:
        raise FileNotFoundError(
            f"dataset not found: {path!r} is neither a folder (save_to_disk or data files) nor a JSON/JSONL file"
        )
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise ValueError(f"the dataset {path!r} has no split {split!r}; its splits are {list(loaded)}")
        return loaded[split]
    if split != "train":
        raise ValueError(f"the dataset {path!r} is a single split; ask for 'train', not {split!r}")
    return loaded


def load_datasets(data_args: DataArguments, speech_column: str = "speech_instruction", seed: int = 42):
    """`(train_dataset, eval_dataset or None)` as `DataArguments` says.

    Raises:
        FileNotFoundError: the dataset path does not exist.
        ValueError: an unknown split, or a bad held-out fraction.
    """
    train = _read_dataset(data_args.dataset_path, data_args.train_split, speech_column)
    evaluation = None
    if data_args.eval_split:
        try:
            fraction = float(data_args.eval_split)
        except ValueError:
            evaluation = _read_dataset(data_args.dataset_path, data_args.eval_split, speech_column)
        else:
            if not 0.0 < fraction < 1.0:
                raise ValueError(f"eval_split as a fraction must lie in (0, 1), got {data_args.eval_split}")
            parts = train.train_test_split(test_size=fraction, seed=seed)
            train, evaluation = parts["train"], parts["test"]
    if data_args.max_train_samples is not None:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    if evaluation is not None and data_args.max_eval_samples is not None:
        evaluation = evaluation.select(range(min(data_args.max_eval_samples, len(evaluation))))
    return train, evaluation


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
    if stage == "vocoder":
        from .vocoder import main as vocoder_main

        return vocoder_main(rest)
    try:
        model_args, data_args, config = parse_train_args(stage, rest)
        trainer = build_trainer(stage, model_args, data_args, config)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    train_and_save(trainer)
    return 0


__all__ = [
    "DataArguments",
    "ModelArguments",
    "build_trainer",
    "load_datasets",
    "main",
    "parse_train_args",
    "train_and_save",
]
