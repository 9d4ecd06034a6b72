# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The checks a card's metadata must pass, the way the Hub reads it: model cards (library, task, licence, base models,
`model-index` results), dataset cards (licences, task and size categories, `configs` vs `dataset_info`) and Space
cards (SDK, app file, colours, short description). Each raises `CardError` listing every problem."""

from __future__ import annotations

import math
import re
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, ModelCard, ModelCardData, SpaceCard, SpaceCardData

from .parts import GRADIO_SDK_VERSION, HUB_ID, HUB_LICENSES, HUB_TASKS
from .rendering import CardError

SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_SPECIAL_LANGUAGES = {"multilingual", "code"}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_common(data: Any, problems: list[str]) -> None:
    licenses = _as_list(data.get("license"))
    if not licenses:
        problems.append("license is missing")
    for license_id in licenses:
        if license_id not in HUB_LICENSES:
            problems.append(f"license {license_id!r} is not a Hub licence id")
    if "other" in licenses and not (data.get("license_name") and data.get("license_link")):
        problems.append("license 'other' needs license_name and license_link")
    for code in _as_list(data.get("language")):
        if not isinstance(code, str) or not (_LANGUAGE.fullmatch(code) or code in _SPECIAL_LANGUAGES):
            problems.append(f"language {code!r} is not an ISO 639 code")
    tags = data.get("tags")
    if tags is not None and not all(isinstance(t, str) and t for t in tags):
        problems.append(f"tags must be strings, got {tags!r}")


def _raise(kind: str, problems: list[str]) -> None:
    if problems:
        raise CardError(f"the {kind} card's metadata does not validate: " + "; ".join(problems))


def check_model_card(card: ModelCard) -> None:
    """Checks the metadata of a model card the way the Hub reads it.

    `library_name` is transformers, `pipeline_tag` a Hub task, `license` a Hub licence id, `base_model` and
    `datasets` Hub ids, languages ISO 639 codes, and every `model-index` result (parsed by huggingface_hub into
    `EvalResult`s) has a task, a dataset and a finite numeric value.

    Raises:
        CardError: listing every problem.
    """
    data = card.data
    problems: list[str] = []
    if not isinstance(data, ModelCardData):
        raise CardError("not a model card")
    if data.library_name != "transformers":
        problems.append(f"library_name must be 'transformers', got {data.library_name!r}")
    if data.pipeline_tag not in HUB_TASKS:
        problems.append(f"pipeline_tag {data.pipeline_tag!r} is not one of {sorted(HUB_TASKS)}")
    _check_common(data, problems)
    for key in ("base_model", "datasets"):
        for value in _as_list(data.get(key)):
            if not isinstance(value, str) or not HUB_ID.fullmatch(value):
                problems.append(f"{key} entry {value!r} is not a Hub id (org/name)")
    for result in data.eval_results or []:
        value = result.metric_value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"model-index value of {result.metric_type!r} is not a finite number: {value!r}")
        if result.task_type not in HUB_TASKS:
            problems.append(f"model-index task {result.task_type!r} is not a Hub task")
    if data.eval_results and not data.model_name:
        problems.append("model-index needs a model name")
    _raise("model", problems)


def check_dataset_card(card: DatasetCard) -> None:
    """Checks the metadata of a dataset card: licence(s), languages, task categories, size category, and `configs`
    / `dataset_info` splits that agree with each other.

    Raises:
        CardError: listing every problem.
    """
    data = card.data
    problems: list[str] = []
    if not isinstance(data, DatasetCardData):
        raise CardError("not a dataset card")
    _check_common(data, problems)
    for task in _as_list(data.task_categories):
        if task not in HUB_TASKS:
            problems.append(f"task category {task!r} is not a Hub task")
    sizes = {"n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B"}
    for size in _as_list(data.size_categories):
        if size not in sizes:
            problems.append(f"size category {size!r} is not one of the Hub's")
    configs = data.get("configs") or []
    info = data.get("dataset_info") or {}
    config_splits = {f["split"] for c in configs for f in c.get("data_files", [])}
    info_splits = {s["name"] for s in info.get("splits", [])}
    if not configs:
        problems.append("configs (the data files of each split) are missing")
    if config_splits != info_splits:
        problems.append(f"configs splits {sorted(config_splits)} differ from dataset_info splits {sorted(info_splits)}")
    _raise("dataset", problems)


def check_space_card(card: SpaceCard) -> None:
    """Checks the front matter of a Space card: gradio SDK with a version, an app file, a Hub licence, Hub model
    and dataset ids, the Hub's colours and a short description of at most 60 characters.

    Raises:
        CardError: listing every problem.
    """
    data = card.data
    problems: list[str] = []
    if not isinstance(data, SpaceCardData):
        raise CardError("not a Space card")
    if data.sdk != "gradio":
        problems.append(f"sdk must be 'gradio', got {data.sdk!r}")
    if not isinstance(data.sdk_version, str) or not re.fullmatch(r"\d+\.\d+\.\d+", data.sdk_version):
        problems.append(f"sdk_version must be a version like '{GRADIO_SDK_VERSION}', got {data.sdk_version!r}")
    if not data.app_file:
        problems.append("app_file is missing")
    if not data.title:
        problems.append("title is missing")
    _check_common(data, problems)
    for key in ("models", "datasets"):
        for value in _as_list(data.get(key)):
            if not isinstance(value, str) or not HUB_ID.fullmatch(value):
                problems.append(f"{key} entry {value!r} is not a Hub id (org/name)")
    for key in ("colorFrom", "colorTo"):
        if data.get(key) is not None and data.get(key) not in SPACE_COLORS:
            problems.append(f"{key} must be one of {SPACE_COLORS}")
    short = data.get("short_description")
    if short is not None and (not isinstance(short, str) or len(short) > 60):
        problems.append("short_description must be a string of at most 60 characters")
    _raise("Space", problems)


__all__ = [
    "SPACE_COLORS",
    "check_dataset_card",
    "check_model_card",
    "check_space_card",
]
