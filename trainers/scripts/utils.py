# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What the training scripts share: the model and data arguments of a recipe, reading the dataset they name, and the
one parser of every recipe (`parse_recipe`: TRL's `TrlParser`, a YAML recipe with `--config` and `--field value`
overrides on the command line)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any


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


def parse_recipe(
    dataclass_types: Sequence[type], argv: Sequence[str], prog: str, overrides: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """
    Parses `--config RECIPE.yaml` and the command line into one instance of each of `dataclass_types`, with TRL's
    `TrlParser` (an `HfArgumentParser`): the recipe's keys are the dataclasses' fields and set their values,
    `overrides` (a mapping of field: value) replace recipe values, and command-line flags (`--field value`) win over
    both. `--help` prints every field and exits.

    Raises:
        FileNotFoundError: the recipe file does not exist.
        ValueError: the recipe is not a YAML mapping, it or `overrides` has unknown keys (the message suggests close
            names), an unknown flag, or a value the dataclasses refuse.
        SystemExit: `--help`, or a required field that neither the recipe nor the command line sets (argparse's
            message).
    """
    import yaml
    from trl import TrlParser

    parser = TrlParser(list(dataclass_types), prog=prog)
    argv, recipe, path = list(argv), {}, None
    for index, arg in enumerate(argv):
        if arg == "--config" or arg.startswith("--config="):
            if arg == "--config":
                if index + 1 >= len(argv):
                    raise ValueError("--config needs the path of a YAML recipe")
                path = argv[index + 1]
                del argv[index : index + 2]
            else:
                path = arg.partition("=")[2]
                del argv[index]
            break
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"recipe not found: {path}")
        with open(path, encoding="utf-8") as f:
            recipe = yaml.safe_load(f) or {}
        if not isinstance(recipe, dict):
            raise ValueError(f"the recipe {path} must be a YAML mapping of field: value")
    recipe.update(overrides or {})
    known = {f.name for cls in dataclass_types for f in fields(cls) if f.init}
    unknown = sorted(set(recipe) - known)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        names = ", ".join(cls.__name__ for cls in dataclass_types)
        raise ValueError(
            f"unknown key(s) in {'the recipe ' + path if path else 'the overrides'} for {prog}: {', '.join(hints)}. "
            f"The keys are the fields of {names} (see `{prog} --help`)."
        )
    parser.set_defaults_with_config(**recipe)
    return tuple(parser.parse_args_into_dataclasses(args=argv))


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


__all__ = ["DataArguments", "ModelArguments", "load_datasets", "parse_recipe"]
