# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The training recipes a model card shows: YAML files recognised as stage 1, stage 2, vocoder or data recipes, with a
summary of their main settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .rendering import CardError

RECIPE_STAGES = {"stage1": "Stage 1 (speech -> text)", "stage2": "Stage 2 (CTC speech decoder)",
                 "vocoder": "Unit vocoder", "data": "Data"}  # fmt: skip
_RECIPE_SUMMARY_KEYS = (
    "dataset_path", "llm_mode", "freeze_speech_encoder", "units_column", "vocoder_type", "num_train_epochs",
    "max_steps", "max_time_minutes", "learning_rate", "lr_scheduler_type", "per_device_train_batch_size",
    "gradient_accumulation_steps", "batch_size", "bf16", "unit_extractor_num_units", "seed",
)  # fmt: skip


@dataclass(frozen=True)
class TrainingRecipe:
    """A YAML training recipe shown in the model card.

    Attributes:
        stage: "stage1", "stage2", "vocoder" or "data" (given, or recognised from the recipe's keys).
        file: the recipe's file name.
        fields: the parsed recipe.
    """

    stage: str
    file: str
    fields: dict[str, Any]

    @property
    def title(self) -> str:
        return RECIPE_STAGES.get(self.stage, self.stage)

    def summary(self) -> list[tuple[str, Any]]:
        """The recipe's main settings present in it (data, what trains, schedule, batch)."""
        max_steps = self.fields.get("max_steps")
        return [
            (key, self.fields[key]) for key in _RECIPE_SUMMARY_KEYS
            if key in self.fields and self.fields[key] is not None
            and not (key == "max_steps" and isinstance(max_steps, int) and max_steps < 0)
        ]  # fmt: skip


def _recipe_stage(fields: Mapping[str, Any]) -> str:
    if "vocoder_type" in fields or "vocoder_config" in fields:
        return "vocoder"
    if "units_column" in fields:
        return "stage2"
    if "llm_mode" in fields or "freeze_speech_encoder" in fields:
        return "stage1"
    if "sources" in fields:
        return "data"
    return "recipe"


def load_recipe(spec: str | os.PathLike) -> TrainingRecipe:
    """Reads a recipe given as `PATH` or `STAGE=PATH` (STAGE: stage1, stage2, vocoder or data).

    Raises:
        FileNotFoundError: no such file.
        CardError: an unknown STAGE, or the file is not a YAML mapping.
    """
    spec = os.fspath(spec)
    stage = None
    head, sep, tail = spec.partition("=")
    if sep and head in RECIPE_STAGES:
        stage, spec = head, tail
    elif sep and "/" not in head and not os.path.exists(spec):
        raise CardError(f"unknown recipe stage {head!r} in {spec!r}; use one of {sorted(RECIPE_STAGES)}")
    if not os.path.isfile(spec):
        raise FileNotFoundError(f"recipe not found: {spec}")
    with open(spec, encoding="utf-8") as handle:
        try:
            fields = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise CardError(f"{spec} is not YAML: {error}") from None
    if not isinstance(fields, dict):
        raise CardError(f"the recipe {spec} must be a YAML mapping of field: value")
    return TrainingRecipe(stage or _recipe_stage(fields), os.path.basename(spec), fields)


__all__ = [
    "RECIPE_STAGES",
    "TrainingRecipe",
    "load_recipe",
]
