# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The evaluation report: a small JSON schema, its loader, its validation, and how each metric is named and read.

The evaluation owns it: `llama-omni evaluate` (`evaluation.report`) writes this file and validates it here;
`llama-omni push model ... --eval-json FILE` (`hub_cards`) reads it from here. Only what the file holds reaches the
card: a metric that is absent or `null` is "not measured" and gets neither a `model-index` entry nor a number in the
card's text.

Schema (version 1)::

    {
      "schema_version": 1,                      # optional; 1 is the only version
      "model": "org/name or a local path",      # optional: what was evaluated
      "eval_set": {                             # required (or just a string: its name)
        "name": "InstructS2S seed held-out",    #   required: a readable name
        "id": "org/dataset",                    #   optional: a Hub dataset id (model-index `dataset.type`)
        "split": "test",                        #   optional
        "num_examples": 131,                    #   optional: a non-negative int
        "description": "..."                    #   optional
      },
      "metrics": {                              # at the default chunk size; each value a number or null
        "asr_wer": 0.083,                       #   see EVAL_METRICS for the known keys and their meaning
        "ttfa_s": 0.41,
        "distillmos": 3.9,
        "judge_content": 3.2
      },
      "per_omega": [                            # optional: the same metrics at several unit chunk sizes Omega
        {"omega": 10, "ttfa_s": 0.41, "distillmos": 3.9},
        {"omega": 40, "ttfa_s": 1.02, "distillmos": 4.1}
      ],
      "settings": {"omega": 10, "max_new_tokens": 256},   # optional: str -> str | number | bool
      "hardware": "1x H100", "date": "2026-11-30",        # optional strings
      "notes": "..."                                      # optional
    }

Metric keys are lower-case identifiers (`[a-z][a-z0-9_]*`). Keys outside `EVAL_METRICS` are accepted (the
evaluation command may learn new metrics) and shown under their own name. Values must be finite numbers (or `null`);
booleans and strings are refused. A report without a single measured value is refused: it would make a card that
only pretends to have results.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
_METRIC_KEY = re.compile(r"[a-z][a-z0-9_]*")
_TOP_LEVEL_KEYS = {
    "schema_version", "model", "eval_set", "metrics", "per_omega", "settings", "hardware", "date", "notes",
}  # fmt: skip
_EVAL_SET_KEYS = {"name", "id", "split", "num_examples", "description"}

# The task of a LLaMA-Omni evaluation in `model-index` (the Hub task id of the model's pipeline tag).
EVAL_TASK_TYPE = "any-to-any"
EVAL_TASK_NAME = "Spoken instruction following (speech in, text and speech out)"


class EvalReportError(ValueError):
    """The evaluation JSON does not follow the schema of `evaluation.schema` (the message says where)."""


@dataclass(frozen=True)
class MetricSpec:
    """How a known metric is named and read.

    Attributes:
        hub_type: the metric id in the card's `model-index` (`metrics[].type`).
        name: a readable name (`metrics[].name`, and the card's results table).
        unit: how the value reads ("fraction" for error rates in [0, 1], "s", "1-5" scores...).
        better: "lower" or "higher".
        description: one sentence on what was measured.
    """

    hub_type: str
    name: str
    unit: str
    better: str
    description: str


EVAL_METRICS: dict[str, MetricSpec] = {
    "asr_wer": MetricSpec(
        "wer", "ASR-WER", "fraction", "lower",
        "word error rate between the text answer and an ASR transcript of the spoken answer (speech-text alignment; "
        "LLaMA-Omni's ASR-WER)",
    ),
    "asr_cer": MetricSpec(
        "cer", "ASR-CER", "fraction", "lower",
        "character error rate between the text answer and an ASR transcript of the spoken answer",
    ),
    "ttfa_s": MetricSpec(
        "ttfa", "Time to first audio", "s", "lower",
        "seconds from the end of the spoken question to the first audio chunk (streaming latency)",
    ),
    "ttft_s": MetricSpec(
        "ttft", "Time to first text token", "s", "lower",
        "seconds from the end of the spoken question to the first text token",
    ),
    "rtf": MetricSpec(
        "rtf", "Real-time factor", "x", "lower", "generation time divided by the duration of the spoken answer",
    ),
    "distillmos": MetricSpec(
        "mos", "distillMOS", "1-5", "higher", "speech quality of the spoken answer predicted by distillMOS",
    ),
    "utmos": MetricSpec(
        "mos", "UTMOS", "1-5", "higher", "speech quality of the spoken answer predicted by UTMOS (the paper's metric)",
    ),
    "judge_content": MetricSpec(
        "judge_content", "Judge: content", "1-5", "higher",
        "an LLM judge's score of the answer's content (helpfulness, correctness), as in the paper's S2TIF content "
        "score",
    ),
    "judge_style": MetricSpec(
        "judge_style", "Judge: style", "1-5", "higher",
        "an LLM judge's score of how well the answer suits speech interaction, as in the paper's style score",
    ),
    "answer_accuracy": MetricSpec(
        "accuracy", "Answer accuracy", "fraction", "higher",
        "fraction of factual questions whose reference answer appears in the text answer",
    ),
    # written by `llama-omni evaluate` (evaluation/)
    "judge_content_speech": MetricSpec(
        "judge_content", "Judge: content (speech)", "1-5", "higher",
        "the judge's content score of the ASR transcript of the spoken answer (the paper's S2SIF content score)",
    ),
    "judge_style_speech": MetricSpec(
        "judge_style", "Judge: style (speech)", "1-5", "higher",
        "the judge's style score of the ASR transcript of the spoken answer (the paper's S2SIF style score)",
    ),
    "lagging_words": MetricSpec(
        "lagging_words", "Lagging words", "words", "lower",
        "words of the text answer already generated when the first audio chunk is produced",
    ),
    "decoding_s_s2tif": MetricSpec(
        "decoding_time", "Decoding time (S2TIF)", "s", "lower", "seconds to generate the whole text answer",
    ),
    "decoding_s_s2sif": MetricSpec(
        "decoding_time", "Decoding time (S2SIF)", "s", "lower",
        "seconds to generate the whole text and speech answer (streaming)",
    ),
    "dnsmos": MetricSpec(
        "mos", "DNSMOS (OVRL)", "1-5", "higher", "overall quality of the spoken answer predicted by DNSMOS P.835",
    ),
    "cascade_ttfa_s": MetricSpec(
        "ttfa", "Cascade: time to first audio", "s", "lower",
        "time to first audio of the ASR -> same LLM (text) -> TTS cascade on the same questions",
    ),
    "cascade_total_s": MetricSpec(
        "decoding_time", "Cascade: total time", "s", "lower", "seconds until the cascade has spoken its whole answer",
    ),
    "cascade_asr_wer": MetricSpec(
        "wer", "Cascade: ASR-WER", "fraction", "lower",
        "ASR-WER of the cascade (its TTS speech transcribed, against its text answer)",
    ),
    "cascade_ttfa_ratio": MetricSpec(
        "ttfa_ratio", "Cascade TTFA / TTFA", "x", "higher",
        "how many times later the cascade's first audio comes than the end-to-end model's",
    ),
    "cascade_judge_content": MetricSpec(
        "judge_content", "Cascade: judge content", "1-5", "higher", "the judge's content score of the cascade's text",
    ),
    "cascade_judge_style": MetricSpec(
        "judge_style", "Cascade: judge style", "1-5", "higher", "the judge's style score of the cascade's text",
    ),
    "dnsmos_sig": MetricSpec("mos", "DNSMOS (SIG)", "1-5", "higher", "speech signal quality predicted by DNSMOS"),
    "dnsmos_bak": MetricSpec("mos", "DNSMOS (BAK)", "1-5", "higher", "background quality predicted by DNSMOS"),
    "dnsmos_p808": MetricSpec("mos", "DNSMOS (P.808)", "1-5", "higher", "P.808 MOS predicted by DNSMOS"),
    "no_audio_answers": MetricSpec(
        "no_audio_answers", "Answers without audio", "count", "lower", "answers that produced no speech at all",
    ),
    "cascade_ttft_s": MetricSpec(
        "ttft", "Cascade: time to first text token", "s", "lower", "ASR time plus the LLM's first token",
    ),
    "cascade_asr_s": MetricSpec("asr_time", "Cascade: ASR time", "s", "lower", "seconds the cascade's ASR takes"),
    "cascade_question_wer": MetricSpec(
        "wer", "Cascade: question WER", "fraction", "lower", "WER of the cascade's ASR on the spoken questions",
    ),
    "judge_scored": MetricSpec(
        "judge_scored", "Judge: graded answers", "count", "higher", "answers the judge graded (empty ones by rule)",
    ),
    "judge_malformed": MetricSpec(
        "judge_malformed", "Judge: malformed replies", "count", "lower",
        "answers whose judge replies stayed unreadable after the retries (left out of the judge means)",
    ),
}


def metric_spec(key: str) -> MetricSpec:
    """The `MetricSpec` of `key`; an unknown key gets a neutral spec named after itself."""
    if key in EVAL_METRICS:
        return EVAL_METRICS[key]
    return MetricSpec(hub_type=key, name=key, unit="", better="", description="")


@dataclass(frozen=True)
class EvalSet:
    """The evaluation data of a report (see the module docstring)."""

    name: str
    id: str | None = None
    split: str | None = None
    num_examples: int | None = None
    description: str | None = None

    @property
    def hub_type(self) -> str:
        """`model-index` `dataset.type`: the Hub id when known, else a slug of the name."""
        if self.id:
            return self.id
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "eval-set"


@dataclass(frozen=True)
class EvalReport:
    """A validated evaluation report.

    Attributes:
        eval_set: what was evaluated on.
        metrics: measured values only (`null` entries of the file are dropped), in the file's order.
        per_omega: one `(omega, measured values)` pair per chunk size, sorted by omega; rows without any measured
            value are dropped.
        model, settings, hardware, date, notes: as in the file (optional).
    """

    eval_set: EvalSet
    metrics: dict[str, float] = field(default_factory=dict)
    per_omega: tuple[tuple[int, dict[str, float]], ...] = ()
    model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    hardware: str | None = None
    date: str | None = None
    notes: str | None = None

    @property
    def per_omega_metric_keys(self) -> list[str]:
        """Metric keys measured in at least one `per_omega` row, in first-seen order."""
        keys: dict[str, None] = {}
        for _, values in self.per_omega:
            keys.update(dict.fromkeys(values))
        return list(keys)


def _optional_str(data: dict, key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise EvalReportError(f"{where}{key} must be a non-empty string, got {value!r}")
    return value.strip()


def _metric_values(data: Any, where: str, skip: tuple[str, ...] = ()) -> dict[str, float]:
    if not isinstance(data, dict):
        raise EvalReportError(f"{where} must be an object of metric: number, got {type(data).__name__}")
    values: dict[str, float] = {}
    for key, value in data.items():
        if key in skip:
            continue
        if not isinstance(key, str) or not _METRIC_KEY.fullmatch(key):
            raise EvalReportError(f"{where}: metric names are lower-case identifiers like 'asr_wer', got {key!r}")
        if value is None:
            continue  # not measured
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise EvalReportError(f"{where}.{key} must be a finite number or null, got {value!r}")
        values[key] = value
    return values


def parse_eval_report(data: Any) -> EvalReport:
    """Validates a parsed evaluation JSON (see the module docstring) and returns an `EvalReport`.

    Raises:
        EvalReportError: not an object, an unknown top-level key, a wrong schema version, no `eval_set` or
            `metrics`, a non-numeric metric, a `per_omega` row without a positive int `omega` (or a repeated one),
            or no measured value at all.
    """
    if not isinstance(data, dict):
        raise EvalReportError(f"the evaluation report must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise EvalReportError(f"unknown key(s) {unknown} in the evaluation report; known: {sorted(_TOP_LEVEL_KEYS)}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise EvalReportError(f"schema_version {version!r} is not supported (this code reads {SCHEMA_VERSION})")

    raw_set = data.get("eval_set")
    if isinstance(raw_set, str) and raw_set.strip():
        eval_set = EvalSet(name=raw_set.strip())
    elif isinstance(raw_set, dict):
        unknown = sorted(set(raw_set) - _EVAL_SET_KEYS)
        if unknown:
            raise EvalReportError(f"unknown key(s) {unknown} in eval_set; known: {sorted(_EVAL_SET_KEYS)}")
        name = _optional_str(raw_set, "name", "eval_set.")
        if name is None:
            raise EvalReportError("eval_set.name is required (a readable name of the evaluation data)")
        num = raw_set.get("num_examples")
        if num is not None and (isinstance(num, bool) or not isinstance(num, int) or num < 0):
            raise EvalReportError(f"eval_set.num_examples must be a non-negative int, got {num!r}")
        eval_set = EvalSet(
            name=name,
            id=_optional_str(raw_set, "id", "eval_set."),
            split=_optional_str(raw_set, "split", "eval_set."),
            num_examples=num,
            description=_optional_str(raw_set, "description", "eval_set."),
        )
    else:
        raise EvalReportError("eval_set is required: a name, or an object with at least a 'name'")

    if "metrics" not in data:
        raise EvalReportError("metrics is required (an object of metric: number; null = not measured)")
    metrics = _metric_values(data["metrics"], "metrics")

    per_omega: list[tuple[int, dict[str, float]]] = []
    raw_rows = data.get("per_omega") or []
    if not isinstance(raw_rows, list):
        raise EvalReportError(f"per_omega must be a list of objects, got {type(raw_rows).__name__}")
    seen: set[int] = set()
    for i, row in enumerate(raw_rows):
        where = f"per_omega[{i}]"
        if not isinstance(row, dict):
            raise EvalReportError(f"{where} must be an object, got {type(row).__name__}")
        omega = row.get("omega")
        if isinstance(omega, bool) or not isinstance(omega, int) or omega < 1:
            raise EvalReportError(f"{where}.omega must be a positive int (units per chunk), got {omega!r}")
        if omega in seen:
            raise EvalReportError(f"{where}: omega {omega} appears twice")
        seen.add(omega)
        values = _metric_values(row, where, skip=("omega",))
        if values:
            per_omega.append((omega, values))
    per_omega.sort(key=lambda item: item[0])

    if not metrics and not per_omega:
        raise EvalReportError("the evaluation report holds no measured value (every metric is missing or null)")

    settings = data.get("settings") or {}
    if not isinstance(settings, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool))) for k, v in settings.items()
    ):
        raise EvalReportError("settings must be an object of name: string | number | bool")
    return EvalReport(
        eval_set=eval_set,
        metrics=metrics,
        per_omega=tuple(per_omega),
        model=_optional_str(data, "model", ""),
        settings={k: v for k, v in settings.items() if v is not None},
        hardware=_optional_str(data, "hardware", ""),
        date=_optional_str(data, "date", ""),
        notes=_optional_str(data, "notes", ""),
    )


def load_eval_report(path: str | os.PathLike) -> EvalReport:
    """Reads and validates an evaluation JSON file.

    Raises:
        FileNotFoundError: no such file.
        EvalReportError: not JSON, or not the schema (see `parse_eval_report`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"evaluation report not found: {path}")
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise EvalReportError(f"{path} is not JSON: {error}") from None
    try:
        return parse_eval_report(data)
    except EvalReportError as error:
        raise EvalReportError(f"{path}: {error}") from None


def format_metric(key: str, value: float) -> str:
    """The value as the card shows it: error rates and accuracies as percentages, seconds with an "s"."""
    spec = metric_spec(key)
    if spec.unit == "fraction":
        return f"{100 * value:.2f}%"
    if spec.unit == "s":
        return f"{value:.3g} s"
    if spec.unit == "x":
        return f"{value:.3g}x"
    return f"{value:.4g}"


__all__ = [
    "EVAL_METRICS",
    "EVAL_TASK_NAME",
    "EVAL_TASK_TYPE",
    "SCHEMA_VERSION",
    "EvalReport",
    "EvalReportError",
    "EvalSet",
    "MetricSpec",
    "format_metric",
    "load_eval_report",
    "metric_spec",
    "parse_eval_report",
]
