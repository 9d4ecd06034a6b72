# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The evaluation metrics as `evaluate` modules kept in this folder and loaded by path.

`evaluate.load("wer")` fetches the metric from the Hub, which is out of reach offline; these modules live beside this
file, one folder each (`<module>/<module>.py`, one import per line as `evaluate` requires), and load with
`evaluate.load(metric_path(name), metric_config_name(name))` anywhere, with or without this package
(`load_metric(name)` does that once per process):

==============  ===================  ==========================================================================
metric          module (config)      what
==============  ===================  ==========================================================================
``asr_wer``     asr_error_rate       word error rate between the text answers and the ASR transcripts of the
                ("wer")              spoken answers (transformers' Whisper English normaliser on both sides)
``asr_cer``     asr_error_rate       the same at the character level
                ("cer")
``distillmos``  distillmos           speech quality predicted by distillMOS (weights in the `distillmos` pip
                                     package)
``dnsmos``      dnsmos               speech quality predicted by DNSMOS P.835 / P.808 (ONNX models in the
                                     `speechmos` pip package)
``utmos``       utmos                speech quality predicted by a UTMOS model given as a local file (never
                                     downloaded)
==============  ===================  ==========================================================================
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

METRICS_DIR = Path(__file__).resolve().parent
# metric name -> (its module's folder under METRICS_DIR, the module's configuration name or None)
METRIC_MODULES: dict[str, tuple[str, str | None]] = {
    "asr_wer": ("asr_error_rate", "wer"),
    "asr_cer": ("asr_error_rate", "cer"),
    "distillmos": ("distillmos", None),
    "dnsmos": ("dnsmos", None),
    "utmos": ("utmos", None),
}
METRIC_NAMES = tuple(METRIC_MODULES)

_LOADED: dict[str, Any] = {}
_LOCK = threading.Lock()


def _module_of(name: str) -> tuple[str, str | None]:
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
    return METRIC_MODULES[name]


def metric_path(name: str) -> str:
    """The folder of the module that computes the metric `name` (what `evaluate.load` takes).

    Raises:
        ValueError: an unknown metric name.
    """
    return str(METRICS_DIR / _module_of(name)[0])


def metric_config_name(name: str) -> str | None:
    """The configuration of its module that computes the metric `name` (`evaluate.load`'s `config_name`; None for a
    single-configuration module).

    Raises:
        ValueError: an unknown metric name.
    """
    return _module_of(name)[1]


def load_metric(name: str):
    """`evaluate.load(metric_path(name), metric_config_name(name))`, once per process (the module instance is reused).

    Raises:
        ValueError: an unknown metric name.
    """
    with _LOCK:
        if name not in _LOADED:
            import evaluate

            _LOADED[name] = evaluate.load(metric_path(name), metric_config_name(name))
        return _LOADED[name]


def asr_error_rates(texts: Sequence[str], transcripts: Sequence[str]) -> dict[str, Any]:
    """ASR-WER and ASR-CER of spoken answers: `transcripts[i]` (ASR of the speech) against `texts[i]` (the text).

    Returns:
        `{"asr_wer", "asr_cer"}` (None when no text has a word) and `"per_example"`: one `{"asr_wer", "asr_cer"}`
        per pair (None for a pair whose text has no word).

    Raises:
        ValueError: `texts` and `transcripts` differ in length.
    """
    if len(texts) != len(transcripts):
        raise ValueError(f"{len(texts)} texts but {len(transcripts)} transcripts")
    if not texts:
        return {"asr_wer": None, "asr_cer": None, "per_example": []}
    wer = load_metric("asr_wer").compute(predictions=list(transcripts), references=list(texts), per_example=True)
    cer = load_metric("asr_cer").compute(predictions=list(transcripts), references=list(texts), per_example=True)
    return {
        "asr_wer": wer["asr_wer"],
        "asr_cer": cer["asr_cer"],
        "per_example": [{"asr_wer": w, "asr_cer": c} for w, c in zip(wer["per_example"], cer["per_example"])],
    }


def mos_scores(
    clips: Sequence[np.ndarray],
    sampling_rate: int,
    distillmos: bool = True,
    dnsmos: bool = True,
    utmos_path: str | None = None,
) -> list[dict[str, float | None]]:
    """Per-clip speech quality: `{"distillmos", "dnsmos", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "utmos"}` for
    the predictors asked for (a value is None for a clip too short to score).

    Raises:
        ModuleNotFoundError: a predictor's package is missing (`distillmos`; `speechmos` + `librosa` for DNSMOS).
        FileNotFoundError / ValueError: a bad `utmos_path` (see the `utmos` module).
    """
    clips = [np.asarray(c, dtype=np.float32).reshape(-1) for c in clips]
    rows: list[dict[str, float | None]] = [{} for _ in clips]
    if not clips:
        return rows
    if distillmos:
        scores = load_metric("distillmos").compute(audio=clips, sampling_rate=sampling_rate)["scores"]
        for row, score in zip(rows, scores):
            row["distillmos"] = score
    if dnsmos:
        scores = load_metric("dnsmos").compute(audio=clips, sampling_rate=sampling_rate)["scores"]
        for row, score in zip(rows, scores):
            for name in ("ovrl", "sig", "bak", "p808"):
                row["dnsmos" if name == "ovrl" else f"dnsmos_{name}"] = None if score is None else score[name]
    if utmos_path:
        scores = load_metric("utmos").compute(audio=clips, sampling_rate=sampling_rate, model_path=utmos_path)
        for row, score in zip(rows, scores["scores"]):
            row["utmos"] = score
    return rows


__all__ = [
    "METRICS_DIR",
    "METRIC_MODULES",
    "METRIC_NAMES",
    "asr_error_rates",
    "load_metric",
    "metric_config_name",
    "metric_path",
    "mos_scores",
]
