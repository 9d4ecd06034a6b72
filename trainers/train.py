# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Deprecated: the `llama-omni train` script moved to `trainers.scripts.train` (and its arguments, dataset reading
and recipe parser to `trainers.scripts.utils`). This alias will be removed in the next release."""

import warnings

from trainers.scripts.train import build_trainer, main, parse_train_args, train_and_save
from trainers.scripts.utils import DataArguments, ModelArguments, load_datasets

warnings.warn(
    "trainers.train is deprecated and will be removed in the next release; use trainers.scripts.train "
    "(and trainers.scripts.utils for ModelArguments, DataArguments, load_datasets)",
    FutureWarning,
    stacklevel=2,
)

__all__ = ["DataArguments", "ModelArguments", "build_trainer", "load_datasets", "main", "parse_train_args",
           "train_and_save"]
