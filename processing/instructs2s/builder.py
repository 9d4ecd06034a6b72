# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The InstructS2S builder: text instructions -> a speech-instruction ``DatasetDict`` for LLaMA-Omni training.

LLaMA-Omni (arXiv 2409.06666, section 3) trains on triplets <speech instruction, text response, speech response
(+ its discrete units)> built from text instruction data. This module runs the whole recipe, offline or at scale:

    read      text instructions from one or more sources (``processing.instructs2s.sources``)
    rewrite   step 1: the instruction as a person would say it (an LLM "writer", then the speech normalizer)
    respond   step 2: the answer, written to be read aloud (same writer); or the source's own responses
    speak     step 3: the instruction in a voice drawn per example from several, the response in one voice
              (``offline_assets.tts``; 16 kHz mono float)
    units     step 4: discrete units of the response speech (``processing.instructs2s.units``), optionally with a
              k-means extractor fitted on the build's own response speech first

Every example is validated (speakable text within the word limits, audio neither empty, silent nor clipped and
within the length limits, units non-empty); a rejected example is counted by step and reason in
``build_report.json`` and listed in ``rejected.jsonl``, never dropped silently.

Output (``save_to_disk`` layout, reload with ``datasets.load_from_disk(output_dir)``)::

    output_dir/
        dataset_dict.json, train/, test/, ...   the DatasetDict: id, source, instruction, speech_instruction
                                                (Audio 16 kHz), instruction_voice, response, speech_response
                                                (Audio 16 kHz), response_units (list of int)
        build_report.json                       counts (read / rejected per step and reason / kept), timings, config
        rejected.jsonl                          one line per rejected example: id, split, step, reason, detail, text
        unit_extractor/                         the extractor fitted during the build (with ``units.fit``)
        _build/                                 shards, manifests and the plan (kept unless ``keep_shards: false``)

Sharded and resumable: the examples are planned once (``_build/plan.json``), in shards of ``shard_size``
examples per split. A shard is written under a temporary name, gets a small ``manifest.json`` (counts,
rejections, timings, file sizes and checksums) and is then renamed into place, so a half-written shard is never
read; a rerun with the same recipe skips finished shards and redoes the others. Everything random is derived from
``(seed, example id)`` (the instruction voice, the TTS noise) or ``(seed, shard)`` (writer sampling), so a run that
was killed and restarted produces the same dataset as an uninterrupted run. With ``num_proc > 1`` shards are
processed in parallel by spawned worker processes, each loading its own writer, voices and unit extractor once.

Recipe (YAML; every key is optional except ``sources``; unknown keys are refused with a suggestion)::

    sources:                        # one or more instruction sources (or just `sources: seed`)
      - path: seed                  # "seed" (the shipped seed file), a .json/.jsonl/.csv/.parquet file, a
        split: train                #   save_to_disk folder or a Hub dataset name; `split`: the split to read
        output_split: null          # the split it goes to (default: train -> train, heldout -> test, ...)
        instruction_column: null    # default: detected (instruction, messages, conversations, data, prompt, ...)
        response_column: null       # a string column with ready responses (used when `respond: false`)
        name: null                  # the value of the `source` column (default: the file / dataset name)
        limit: null                 # at most this many from this source (a seeded random subset)
    limit: 50                       # at most this many in all, shared among the sources by their sizes
    writer:                         # the LLM of steps 1 and 2
      kind: smollm2                 # smollm2 (offline) | transformers | openai | python
      model: null                   # transformers: a folder, Hub id or .gguf file; openai: the model name
      base_url: null                # openai: e.g. http://127.0.0.1:8000/v1
      api_key_env: OPENAI_API_KEY   # openai: the environment variable holding the key (never the key itself)
      factory: null                 # python: "package.module:callable" returning a processing.instructs2s.writers.Writer
      kwargs: {}                    # python: keyword arguments of the factory
      batch_size: 8
      temperature: 0.0              # 0: greedy
      rewrite_max_new_tokens: 128
      respond_max_new_tokens: 256
    rewrite: true                   # step 1 on/off (off: the instruction is only normalized and checked)
    respond: true                   # step 2 on/off (off: the source's responses, `response_column` or `answer`)
    max_instruction_words: 50
    max_response_words: 80
    instruction_voices: [flite:kal16, flite:awb, espeak:en-us, piper:joe]   # one drawn per example
    response_voice: piper:joe
    voice_options: {}               # get_voice keyword arguments per voice, e.g. {espeak:en-us: {speed: 160}}
    units:
      extractor: null               # a folder from `llama-omni units fit` / `convert-km`, or "none" (no units)
      fit:                          # fit the extractor on this build's response speech first (if no folder yet)
        encoder: offline:whisper-base
        layer: 4
        num_units: 100
        minutes: 2                  # of response speech (train split first)
      deduplicate: true             # merge consecutive duplicate units (as in the paper)
    validation: {min_seconds: 0.3, max_instruction_seconds: 30, max_response_seconds: 60, silence_peak: 0.001,
                 silence_rms: 0.001, clip_level: 0.999, max_clipped_fraction: 0.001, min_units: 1}
    shard_size: 100
    num_proc: 1
    seed: 0
    output_dir: outputs/instructs2s
    keep_shards: true

Command line (``llama-omni data build``): :func:`data_main`. Python: :func:`build_dataset`.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import hashlib
import importlib
import json
import logging
import math
import multiprocessing
import os
import random
import re
import shutil
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "FEATURES",
    "BuildConfig",
    "BuildConfigError",
    "BuildResult",
    "FitUnitsConfig",
    "SourceConfig",
    "UnitsConfig",
    "ValidationConfig",
    "WriterConfig",
    "build_dataset",
    "data_main",
    "example_seed",
    "load_writer",
    "push_to_hub",
    "speak",
    "validate_audio",
]

SAMPLING_RATE = 16000
BUILD_DIR = "_build"
PLAN_NAME = "plan.json"
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "lock"
REPORT_NAME = "build_report.json"
REJECTED_NAME = "rejected.jsonl"
EXTRACTOR_DIR = "unit_extractor"
STOP_AFTER_ENV = "LLAMA_OMNI_DATA_STOP_AFTER_SHARDS"
STOP_EXIT_CODE = 75
_FORMAT_VERSION = 1
WRITER_KINDS = ("smollm2", "transformers", "openai", "python")
DEFAULT_SPLIT_NAMES = {
    "train": "train", "heldout": "test", "held_out": "test", "test": "test",
    "validation": "validation", "valid": "validation", "dev": "validation", "all": "train",
}  # fmt: skip
STEPS = ("read", "rewrite", "instruction_text", "respond", "response_text", "instruction_speech",
         "response_speech", "units")  # fmt: skip


def _features(with_units: bool = True):
    import datasets

    columns = {
        "id": datasets.Value("string"),
        "source": datasets.Value("string"),
        "instruction": datasets.Value("string"),
        "speech_instruction": datasets.Audio(sampling_rate=SAMPLING_RATE),
        "instruction_voice": datasets.Value("string"),
        "response": datasets.Value("string"),
        "speech_response": datasets.Audio(sampling_rate=SAMPLING_RATE),
    }
    if with_units:
        columns["response_units"] = datasets.List(datasets.Value("int64"))
    return datasets.Features(columns)


def __getattr__(name: str) -> Any:  # FEATURES without importing datasets at module import
    if name == "FEATURES":
        return _features(True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BuildConfigError(ValueError):
    """A recipe is malformed: unknown keys, wrong types, impossible values, unknown voices, or an output folder
    holding a build made with another recipe."""


# ---------------------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BuildConfigError(message)


def _from_mapping(cls: type, data: Any, where: str) -> Any:
    """`cls(**data)` after refusing unknown keys (with a close-match suggestion)."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    _check(isinstance(data, Mapping), f"{where} must be a mapping of key: value, got {type(data).__name__}")
    known = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(data) - set(known))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), known, n=1)
            hints.append(repr(key) + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise BuildConfigError(f"unknown key(s) in {where}: {', '.join(hints)}; the keys are: {', '.join(known)}")
    try:
        return cls(**dict(data))
    except TypeError as error:  # a missing required key
        raise BuildConfigError(f"{where}: {error}") from None


@dataclass
class SourceConfig:
    """One instruction source.

    Attributes:
        path: ``"seed"`` (the shipped seed file), a ``.json``/``.jsonl``/``.csv``/``.parquet`` file, a folder
            written by ``save_to_disk``, or a Hub dataset name (read with ``datasets.load_dataset``).
        split: the split to read (``"train"``, ``"heldout"`` or ``"all"`` for the seed file).
        output_split: the split of the built dataset it goes to (default: ``train -> train``, ``heldout`` /
            ``test -> test``, ``validation`` / ``valid`` / ``dev -> validation``, else the split's own name).
        instruction_column: the instruction column (default: detected).
        response_column: a string column with ready responses, used when ``respond`` is off (default: the
            source's ``answer`` column, if any).
        name: the value of the ``source`` column (default: the file or dataset name, ``"seed"``).
        limit: at most this many instructions from this source (a random subset drawn with the build seed).
    """

    path: str
    split: str = "train"
    output_split: str | None = None
    instruction_column: str | None = None
    response_column: str | None = None
    name: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        _check(isinstance(self.path, (str, os.PathLike)) and str(self.path).strip() != "",
               f"a source's path must be a non-empty string, got {self.path!r}")
        self.path = os.fspath(self.path)
        _check(isinstance(self.split, str) and self.split != "", f"source {self.path}: split must be a string")
        for key in ("output_split", "instruction_column", "response_column", "name"):
            value = getattr(self, key)
            _check(value is None or isinstance(value, str), f"source {self.path}: {key} must be a string or null")
        _check(self.limit is None or (_is_int(self.limit) and self.limit >= 1),
               f"source {self.path}: limit must be a positive integer or null, got {self.limit!r}")
        split = self.target_split
        _check(re.fullmatch(r"\w+(\.\w+)*", split) is not None,
               f"source {self.path}: {split!r} is not a valid split name (letters, digits, _ and .)")

    @property
    def target_split(self) -> str:
        """The split of the built dataset this source goes to."""
        return self.output_split or DEFAULT_SPLIT_NAMES.get(self.split, self.split)


@dataclass
class WriterConfig:
    """The LLM that writes steps 1 (rewrite) and 2 (respond); see :func:`load_writer`.

    Attributes:
        kind: ``"smollm2"`` (SmolLM2-135M-Instruct from the offline asset package), ``"transformers"`` (a local
            folder, a Hub id or a ``.gguf`` file in `model`), ``"openai"`` (an OpenAI-compatible endpoint:
            `base_url` + `model`) or ``"python"`` (`factory` = ``"module:callable"`` returning a ``Writer``).
        model, gguf_file, base_url: see `kind`.
        api_key_env: the environment variable holding the API key (``openai``); the key itself never goes in a
            recipe. Unset variable: no key (local servers).
        factory, kwargs: ``python`` writers: the callable and its keyword arguments.
        batch_size: conversations per call (also the progress-bar step).
        device, dtype: ``transformers`` / ``smollm2``: where to run and the weights' dtype (``"bfloat16"``, ...).
        concurrency, timeout, max_retries: ``openai``: requests in flight, seconds per request, retries.
        temperature: 0 = greedy (deterministic); above 0, sampling seeded from ``(seed, shard)``.
        rewrite_max_new_tokens, respond_max_new_tokens: generation lengths of the two steps.
    """

    kind: str = "smollm2"
    model: str | None = None
    gguf_file: str | None = None
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    factory: str | None = None
    kwargs: dict = field(default_factory=dict)
    batch_size: int = 8
    device: str | None = None
    dtype: str | None = None
    concurrency: int = 1
    timeout: float = 60.0
    max_retries: int = 3
    temperature: float = 0.0
    rewrite_max_new_tokens: int = 128
    respond_max_new_tokens: int = 256

    def __post_init__(self) -> None:
        _check(self.kind in WRITER_KINDS, f"writer.kind must be one of {', '.join(WRITER_KINDS)}, got {self.kind!r}")
        if self.kind == "transformers":
            _check(isinstance(self.model, str) and self.model, "writer.kind 'transformers' needs writer.model "
                   "(a folder, a Hub id or a .gguf file)")
        if self.kind == "openai":
            _check(isinstance(self.base_url, str) and re.match(r"https?://", self.base_url or "") is not None,
                   f"writer.kind 'openai' needs writer.base_url (http:// or https://), got {self.base_url!r}")
            _check(isinstance(self.model, str) and self.model, "writer.kind 'openai' needs writer.model")
        if self.kind == "python":
            _check(isinstance(self.factory, str) and ":" in self.factory,
                   f"writer.kind 'python' needs writer.factory = 'package.module:callable', got {self.factory!r}")
        _check(isinstance(self.kwargs, Mapping), "writer.kwargs must be a mapping")
        self.kwargs = dict(self.kwargs)
        _check(self.api_key_env is None or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(self.api_key_env)) is not None,
               f"writer.api_key_env must name an environment variable (not hold a key), got {self.api_key_env!r}")
        for key in ("batch_size", "concurrency", "rewrite_max_new_tokens", "respond_max_new_tokens"):
            _check(_is_int(getattr(self, key)) and getattr(self, key) >= 1, f"writer.{key} must be a positive int")
        _check(_is_int(self.max_retries) and self.max_retries >= 0, "writer.max_retries must be an int >= 0")
        _check(isinstance(self.temperature, (int, float)) and not isinstance(self.temperature, bool)
               and self.temperature >= 0, "writer.temperature must be a number >= 0")
        _check(isinstance(self.timeout, (int, float)) and self.timeout > 0, "writer.timeout must be > 0")


@dataclass
class FitUnitsConfig:
    """Fit a k-means unit extractor on the build's own response speech (before extracting the units).

    Attributes:
        encoder: ``"offline:whisper-base"`` or a Whisper / HuBERT folder or Hub id.
        layer: 1-based encoder layer (4 of whisper-base's 6; 11 for mHuBERT).
        num_units: K.
        minutes: response speech used at most (train split first, in plan order).
        seed, algorithm: k-means seed and algorithm (``auto``, ``kmeans``, ``minibatch``).
        batch_size: clips per encoder forward pass.
    """

    encoder: str = "offline:whisper-base"
    layer: int = 4
    num_units: int = 100
    minutes: float = 5.0
    seed: int = 0
    algorithm: str = "auto"
    batch_size: int = 8

    def __post_init__(self) -> None:
        _check(isinstance(self.encoder, str) and self.encoder, "units.fit.encoder must be a string")
        _check(_is_int(self.layer) and self.layer >= 1, "units.fit.layer must be a positive int")
        _check(_is_int(self.num_units) and self.num_units >= 2, "units.fit.num_units must be an int >= 2")
        _check(isinstance(self.minutes, (int, float)) and self.minutes > 0, "units.fit.minutes must be > 0")
        _check(self.algorithm in ("auto", "kmeans", "minibatch"), "units.fit.algorithm: auto, kmeans or minibatch")
        _check(_is_int(self.seed) and _is_int(self.batch_size) and self.batch_size >= 1,
               "units.fit.seed and units.fit.batch_size must be ints")


@dataclass
class UnitsConfig:
    """Step 4, the discrete units of the response speech.

    Attributes:
        extractor: a folder written by ``UnitExtractor.save_pretrained`` (``llama-omni units fit`` /
            ``convert-km``), or ``"none"`` for no units (the dataset then has no ``response_units`` column). With
            `fit` and no folder yet, the fitted extractor is saved there (default: ``output_dir/unit_extractor``).
        fit: fit the extractor during the build (see :class:`FitUnitsConfig`), when the folder does not exist.
        deduplicate: merge consecutive duplicate units (the paper does).
        device: torch device of the encoder.
        batch_size: clips per encoder forward pass.
    """

    extractor: str | None = None
    fit: FitUnitsConfig | None = None
    deduplicate: bool = True
    device: str | None = None
    batch_size: int = 8

    def __post_init__(self) -> None:
        _check(self.extractor is None or isinstance(self.extractor, (str, os.PathLike)),
               "units.extractor must be a folder, 'none' or null")
        if self.extractor is not None:
            self.extractor = os.fspath(self.extractor)
        if self.fit is not None:
            self.fit = _from_mapping(FitUnitsConfig, self.fit, "units.fit")
        _check(isinstance(self.deduplicate, bool), "units.deduplicate must be true or false")
        _check(_is_int(self.batch_size) and self.batch_size >= 1, "units.batch_size must be a positive int")
        if self.enabled:
            _check(self.extractor is not None or self.fit is not None,
                   "missing unit extractor: set units.extractor to a folder written by `llama-omni units fit`, "
                   "add units.fit: {num_units: K, layer: L, minutes: M} to fit one on the build's speech, or set "
                   "units.extractor: none to build without units")

    @property
    def enabled(self) -> bool:
        """False for ``extractor: none``."""
        return not (isinstance(self.extractor, str) and self.extractor.strip().lower() == "none")


@dataclass
class ValidationConfig:
    """The checks of every example's audio and units (text is checked by the speech normalizer's rules).

    Attributes:
        min_seconds: shortest accepted clip (both audios).
        max_instruction_seconds: longest spoken instruction (the Whisper encoder takes 30 s).
        max_response_seconds: longest spoken response.
        silence_peak, silence_rms: a clip whose peak or RMS is below these is "silent".
        clip_level, max_clipped_fraction: a clip with more than this share of samples at |x| >= clip_level (or any
            sample beyond 1) is "clipped".
        min_units: fewest units accepted (after deduplication).
    """

    min_seconds: float = 0.3
    max_instruction_seconds: float = 30.0
    max_response_seconds: float = 60.0
    silence_peak: float = 1e-3
    silence_rms: float = 1e-3
    clip_level: float = 0.999
    max_clipped_fraction: float = 1e-3
    min_units: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            _check(isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0,
                   f"validation.{f.name} must be a number >= 0, got {value!r}")
        _check(self.max_instruction_seconds > self.min_seconds and self.max_response_seconds > self.min_seconds,
               "validation: the max_*_seconds limits must be above min_seconds")
        _check(_is_int(self.min_units), "validation.min_units must be an int")


@dataclass
class BuildConfig:
    """A complete InstructS2S recipe (see the module docstring for the YAML form).

    Attributes:
        sources: the instruction sources (:class:`SourceConfig`, a mapping, or a path string such as ``"seed"``).
        limit: at most this many examples in all, shared among the sources in proportion to their sizes.
        writer: the LLM of the text steps (:class:`WriterConfig`).
        rewrite, respond: run step 1 / step 2 (a source with ready responses can skip step 2).
        max_instruction_words, max_response_words: word limits of the spoken texts.
        instruction_voices: TTS voices (``offline_assets.tts.get_voice`` names), one drawn per example from
            ``(seed, id)``; recorded in ``instruction_voice``.
        response_voice: the one voice of the responses.
        voice_options: keyword arguments of ``get_voice`` per voice name, e.g.
            ``{"transformers:facebook/mms-tts-eng": {"device": "cuda"}}`` or ``{"espeak:en-us": {"speed": 160}}``.
        units: step 4 (:class:`UnitsConfig`).
        validation: audio and unit limits (:class:`ValidationConfig`).
        shard_size: examples per shard (the unit of resuming and of parallelism).
        num_proc: worker processes (spawned; each loads its own writer, voices and extractor).
        seed: the seed everything random derives from.
        output_dir: where the dataset, the report and the shards go.
        keep_shards: keep ``output_dir/_build`` after assembling (a rerun is then instant; else it is deleted).

    Raises ``BuildConfigError`` for anything malformed.
    """

    sources: list = field(default_factory=lambda: [SourceConfig(path="seed")])
    limit: int | None = None
    writer: WriterConfig = field(default_factory=WriterConfig)
    rewrite: bool = True
    respond: bool = True
    max_instruction_words: int = 50
    max_response_words: int = 80
    instruction_voices: list = field(
        default_factory=lambda: ["flite:kal16", "flite:awb", "flite:rms", "flite:slt", "espeak:en-us", "piper:joe"]
    )
    response_voice: str = "piper:joe"
    voice_options: dict = field(default_factory=dict)
    units: UnitsConfig = field(default_factory=lambda: UnitsConfig(fit=FitUnitsConfig()))
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    shard_size: int = 100
    num_proc: int = 1
    seed: int = 0
    output_dir: str = "outputs/instructs2s"
    keep_shards: bool = True

    # fields that do not change the dataset (left out of the fingerprint)
    _RUNTIME_FIELDS = ("num_proc", "output_dir", "keep_shards")

    def __post_init__(self) -> None:
        sources = self.sources
        if isinstance(sources, (str, os.PathLike, Mapping, SourceConfig)):
            sources = [sources]
        _check(isinstance(sources, Sequence) and len(sources) > 0, "sources must be a non-empty list of sources")
        parsed = []
        for i, source in enumerate(sources):
            if isinstance(source, (str, os.PathLike)):
                source = {"path": os.fspath(source)}
            parsed.append(_from_mapping(SourceConfig, source, f"sources[{i}]"))
        self.sources = parsed
        self.writer = _from_mapping(WriterConfig, self.writer, "writer")
        self.units = _from_mapping(UnitsConfig, self.units, "units")
        self.validation = _from_mapping(ValidationConfig, self.validation, "validation")
        _check(self.limit is None or (_is_int(self.limit) and self.limit >= 1),
               f"limit must be a positive integer or null, got {self.limit!r}")
        for key in ("rewrite", "respond", "keep_shards"):
            _check(isinstance(getattr(self, key), bool), f"{key} must be true or false")
        for key in ("max_instruction_words", "max_response_words", "shard_size", "num_proc"):
            _check(_is_int(getattr(self, key)) and getattr(self, key) >= 1, f"{key} must be a positive integer")
        _check(_is_int(self.seed), f"seed must be an integer, got {self.seed!r}")
        voices = self.instruction_voices
        if isinstance(voices, str):
            voices = [voices]
        _check(isinstance(voices, Sequence) and len(voices) > 0 and all(isinstance(v, str) for v in voices),
               "instruction_voices must be a non-empty list of voice names (e.g. flite:slt, piper:joe)")
        self.instruction_voices = list(voices)
        _check(isinstance(self.response_voice, str), "response_voice must be one voice name (e.g. piper:joe)")
        for name in self.instruction_voices + [self.response_voice]:
            _check(":" in name, f"unknown voice {name!r}: voice names look like 'kind:voice' (piper:joe, "
                   "flite:kal16, flite:awb, flite:rms, flite:slt, espeak:en-us, transformers:<model>)")
        _check(isinstance(self.voice_options, Mapping) and all(
            isinstance(k, str) and isinstance(v, Mapping) for k, v in self.voice_options.items()),
            "voice_options must map voice names to mappings of get_voice keyword arguments")
        self.voice_options = {k: dict(v) for k, v in self.voice_options.items()}
        unused = sorted(set(self.voice_options) - set(self.instruction_voices) - {self.response_voice})
        _check(not unused, f"voice_options names voices the recipe does not use: {', '.join(unused)}")
        _check(isinstance(self.output_dir, (str, os.PathLike)) and str(self.output_dir) != "",
               "output_dir must be a path")
        self.output_dir = os.fspath(self.output_dir)

    # -----------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildConfig:
        """A config from a mapping (the parsed YAML). Raises ``BuildConfigError`` for unknown keys / bad values."""
        return _from_mapping(cls, data, "the recipe")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, **overrides: Any) -> BuildConfig:
        """Read a YAML recipe; `overrides` replace top-level keys (e.g. ``limit=10, output_dir=...``).

        Raises ``FileNotFoundError`` for a missing file and ``BuildConfigError`` for a malformed recipe.
        """
        import yaml

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"recipe not found: {path}")
        with open(path, encoding="utf-8") as handle:
            try:
                data = yaml.safe_load(handle)
            except yaml.YAMLError as error:
                raise BuildConfigError(f"{path} is not valid YAML: {error}") from None
        _check(isinstance(data, Mapping), f"the recipe {path} must be a YAML mapping of key: value")
        data = dict(data)
        data.update(overrides)
        try:
            return cls.from_dict(data)
        except BuildConfigError as error:
            raise BuildConfigError(f"{path}: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping (the YAML form), JSON-serializable."""
        return dataclasses.asdict(self)

    def fingerprint_dict(self) -> dict[str, Any]:
        """The fields that determine the dataset (everything but num_proc, output_dir, keep_shards)."""
        data = self.to_dict()
        for key in self._RUNTIME_FIELDS:
            data.pop(key, None)
        return data

    @property
    def text_writer_needed(self) -> bool:
        """True when step 1 or step 2 runs (a writer is loaded)."""
        return self.rewrite or self.respond


# ---------------------------------------------------------------------------------------------------------
# Components: writer, voices, validation
# ---------------------------------------------------------------------------------------------------------


def _torch_dtype(name: str | None):
    if name is None or name == "auto":
        return name
    import torch

    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype):
        raise BuildConfigError(f"writer.dtype {name!r} is not a torch dtype (float32, bfloat16, float16, auto)")
    return dtype


def _import_object(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as error:
        raise BuildConfigError(f"writer.factory {spec!r}: cannot import {module_name!r} ({error})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BuildConfigError(f"writer.factory {spec!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def load_writer(config: WriterConfig):
    """The :class:`processing.instructs2s.writers.Writer` a :class:`WriterConfig` describes.

    Raises ``BuildConfigError`` (bad factory), ``ModuleNotFoundError`` (SmolLM2's asset package missing),
    ``OSError`` (a model that cannot be found, e.g. a Hub id offline) and ``TypeError`` (a factory that does not
    return a Writer).
    """
    from .writers import OpenAICompatibleWriter, TransformersChatWriter, Writer

    if config.kind == "smollm2":
        from offline_assets.sources import load_smollm2

        dtype = _torch_dtype(config.dtype)
        model, tokenizer = load_smollm2(dtype) if dtype not in (None, "auto") else load_smollm2()
        return TransformersChatWriter(model, tokenizer, batch_size=config.batch_size, device=config.device)
    if config.kind == "transformers":
        return TransformersChatWriter.from_pretrained(
            config.model, gguf_file=config.gguf_file, dtype=_torch_dtype(config.dtype), device=config.device,
            batch_size=config.batch_size,
        )  # fmt: skip
    if config.kind == "openai":
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if config.api_key_env and not api_key:
            logger.warning("writer: the environment variable %s is not set; sending no API key", config.api_key_env)
        return OpenAICompatibleWriter(
            config.base_url, config.model, api_key=api_key or "", timeout=config.timeout,
            max_retries=config.max_retries, concurrency=config.concurrency,
        )  # fmt: skip
    factory = _import_object(config.factory)
    writer = factory(**config.kwargs)
    if not isinstance(writer, Writer):
        raise TypeError(f"writer.factory {config.factory!r} returned a {type(writer).__name__}, not a Writer")
    return writer


def _load_voice(name: str, overrides: Mapping[str, Any] | None, options: Mapping[str, Any] | None = None):
    from offline_assets.tts import get_voice, list_voices

    if overrides and name in overrides:
        return overrides[name]
    try:
        return get_voice(name, **dict((options or {}).get(name, {})))
    except TypeError as error:
        raise BuildConfigError(f"voice_options for {name!r}: {error}") from None
    except ValueError as error:
        raise BuildConfigError(f"unknown voice {name!r}: {error}. Offline voices: {', '.join(list_voices())}; "
                               "or transformers:<model id or folder>") from None


def validate_audio(
    audio: Any,
    sampling_rate: int = SAMPLING_RATE,
    *,
    min_seconds: float = 0.3,
    max_seconds: float | None = 30.0,
    silence_peak: float = 1e-3,
    silence_rms: float = 1e-3,
    clip_level: float = 0.999,
    max_clipped_fraction: float = 1e-3,
) -> str | None:
    """``None`` when `audio` (1-D float samples in [-1, 1]) is acceptable speech, else the reason.

    Reasons, in the order checked: ``"empty audio"``, ``"not mono"`` (not 1-D), ``"not finite"``, ``"silent"``
    (peak below `silence_peak` or RMS below `silence_rms`), ``"clipped"`` (any sample beyond 1, or more than
    `max_clipped_fraction` of the samples at ``|x| >= clip_level``), ``"too short"``, ``"too long"``.
    """
    array = np.asarray(audio, dtype=np.float32)
    if array.size == 0:
        return "empty audio"
    if array.ndim != 1:
        return "not mono"
    if not np.isfinite(array).all():
        return "not finite"
    magnitude = np.abs(array)
    peak = float(magnitude.max())
    rms = float(np.sqrt(np.mean(np.square(array, dtype=np.float64))))
    if peak < silence_peak or rms < silence_rms:
        return "silent"
    if peak > 1.0 + 1e-6 or float(np.mean(magnitude >= clip_level)) > max_clipped_fraction:
        return "clipped"
    seconds = array.size / float(sampling_rate)
    if seconds < min_seconds:
        return "too short"
    if max_seconds is not None and seconds > max_seconds:
        return "too long"
    return None


def _speech_error_reason(error: Exception) -> str:
    """A short reason for an ``InvalidSpeechError`` / ``ValueError`` raised while synthesizing."""
    message = str(error).lower()
    for key, reason in (("silent", "silent"), ("clipped", "clipped"), ("too short", "too short"),
                        ("too long", "too long"), ("nan", "not finite"), ("infinite", "not finite"),
                        ("empty", "empty audio"), ("nothing to say", "nothing to say")):
        if key in message:
            return reason
    return "invalid audio"


def _reason_key(reason: str) -> str:
    """The countable part of a reason: ``"too long: 93 words > 80"`` -> ``"too long"``."""
    return reason.split(":", 1)[0].strip() or reason


def example_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any parts (the same across runs, processes and machines)."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def speak(voice: Any, text: str, seed: int) -> np.ndarray:
    """Synthesize with the per-example noise seed (Piper takes it per call; transformers voices read `.seed`)."""
    from offline_assets.tts import PiperVoice

    if isinstance(voice, PiperVoice):
        return voice.synthesize(text, seed=seed)
    if hasattr(voice, "seed") and isinstance(getattr(voice, "seed"), int):
        voice.seed = seed
    return voice.synthesize(text)


# ---------------------------------------------------------------------------------------------------------
# Reading the sources and planning the shards
# ---------------------------------------------------------------------------------------------------------


def _read_source(source: SourceConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All usable instructions of one source: rows ``{id, source, instruction, answer}`` and statistics."""
    from . import sources

    if source.path == "seed":
        data: Any = sources.read_seed_instructions(source.split)
        name = "seed"
    else:
        data, name = sources._open_source(source.path, source.split)
    name = source.name or name
    column = source.response_column
    if column is not None:
        columns = sources._columns_of(data)
        _check(column in columns, f"source {source.path}: no response column {column!r}; columns are {columns}")
        _check(column != (source.instruction_column or "instruction"),
               f"source {source.path}: response_column and instruction_column are the same")
        if isinstance(data, list):
            data = [{**{k: v for k, v in row.items() if k != "answer"}, "answer": row.get(column)} for row in data]
        else:
            if "answer" in data.column_names:
                data = data.remove_columns("answer")
            data = data.rename_column(column, "answer")
    num_rows = len(data)
    rows = list(sources._extract(data, source.instruction_column, name))
    unique = sources._dedupe(rows)
    ids = sources._stable_ids(unique, name)
    out = [{"id": i, "source": name, "instruction": r[1], "answer": r[2]} for i, r in zip(ids, unique)]
    stats = {
        "path": source.path, "split": source.split, "output_split": source.target_split, "name": name,
        "rows": num_rows, "without_instruction": num_rows - len(rows), "duplicate_or_empty": len(rows) - len(unique),
        "available": len(out),
    }  # fmt: skip
    return out, stats


def _shares(sizes: list[int], limit: int | None) -> list[int]:
    """`limit` split among sources in proportion to their sizes (largest remainders), each at most its size."""
    total = sum(sizes)
    if limit is None or limit >= total:
        return list(sizes)
    exact = [limit * s / total for s in sizes]
    shares = [math.floor(x) for x in exact]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: limit - sum(shares)]:
        shares[i] += 1
    return shares


def _subset(rows: list, k: int, seed: int) -> list:
    if k >= len(rows):
        return rows
    chosen = sorted(random.Random(seed).sample(range(len(rows)), k))
    return [rows[i] for i in chosen]


def _read_plan_rows(config: BuildConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict]]:
    """(rows to build, with their split; source statistics; rows dropped as duplicate ids)."""
    per_source, stats = [], []
    for index, source in enumerate(config.sources):
        rows, stat = _read_source(source)
        if source.limit is not None:
            rows = _subset(rows, source.limit, example_seed(config.seed, "source", index))
        per_source.append(rows)
        stats.append(stat)
    shares = _shares([len(r) for r in per_source], config.limit)
    planned, duplicates, seen = [], [], set()
    for index, (source, rows, share) in enumerate(zip(config.sources, per_source, shares)):
        rows = _subset(rows, share, example_seed(config.seed, "limit", index))
        stats[index]["selected"] = len(rows)
        for row in rows:
            row = dict(row, split=source.target_split)
            if row["id"] in seen:
                duplicates.append(row)
                continue
            seen.add(row["id"])
            planned.append(row)
    return planned, stats, duplicates


def _make_shards(rows: list[dict[str, Any]], shard_size: int) -> list[dict[str, Any]]:
    by_split: dict[str, list] = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(row)
    shards = []
    for split, split_rows in by_split.items():
        for k, start in enumerate(range(0, len(split_rows), shard_size)):
            shards.append({"name": f"{split}-{k:05d}", "split": split, "rows": split_rows[start : start + shard_size]})
    return shards


# ---------------------------------------------------------------------------------------------------------
# Atomic shard files
# ---------------------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextmanager
def _quiet_datasets():
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def _publish_shard(dataset: Any, manifest: dict[str, Any], final: Path) -> dict[str, Any]:
    """Save `dataset` + `manifest.json` under a temporary name, then rename to `final` (atomic on one disk)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with _quiet_datasets():
        dataset.save_to_disk(str(tmp))
    files = {}
    for path in sorted(tmp.iterdir()):
        if path.is_file():
            files[path.name] = {"size": path.stat().st_size, "sha256": _sha256_file(path)}
    manifest = dict(manifest, files=files, num_rows=len(dataset),
                    data_sha256=_combined_hash(files, lambda n: n.endswith(".arrow")))
    _write_json_atomic(tmp / MANIFEST_NAME, manifest)
    if final.exists():  # an invalid shard left by an older run: replaced, never read
        shutil.rmtree(final)
    os.rename(tmp, final)
    return manifest


def _combined_hash(files: Mapping[str, Any], keep) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        if keep(name):
            digest.update(f"{name}:{files[name]['sha256']}\n".encode())
    return digest.hexdigest()


def _finished_manifest(folder: Path, fingerprint: str) -> dict[str, Any] | None:
    """The manifest of a finished, intact shard with this fingerprint, else None (the shard is redone)."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for name, info in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != info.get("size"):
            return None
    return manifest


def _load_shard(folder: Path, stage: str) -> Any:
    """A finished shard as a Dataset (an empty one, where every example was rejected, is made from the features:
    datasets cannot reload a saved 0-row dataset)."""
    import datasets

    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    if manifest.get("num_rows") == 0:
        features = _features(with_units=stage == "units")
        return datasets.Dataset.from_dict({name: [] for name in features}, features=features)
    return datasets.load_from_disk(str(folder))


# ---------------------------------------------------------------------------------------------------------
# The per-shard work (runs in the main process or in spawned workers)
# ---------------------------------------------------------------------------------------------------------


class _Pipeline:
    """Loads the writer, voices and unit extractor once (lazily) and builds shards."""

    def __init__(
        self,
        config: BuildConfig,
        build_dir: str,
        writer: Any = None,
        voices: Mapping[str, Any] | None = None,
        extractor: Any = None,
        extractor_dir: str | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.build_dir = Path(build_dir)
        self._writer = writer
        self._voice_overrides = dict(voices or {})
        self._voices: dict[str, Any] = {}
        self._extractor = extractor
        self.extractor_dir = extractor_dir
        self.progress = progress
        self.load_seconds: dict[str, float] = {}

    # components -------------------------------------------------------------------------------------------
    @property
    def writer(self) -> Any:
        if self._writer is None:
            start = time.perf_counter()
            self._writer = load_writer(self.config.writer)
            self.load_seconds["writer"] = round(time.perf_counter() - start, 3)
        return self._writer

    def voice(self, name: str) -> Any:
        if name not in self._voices:
            self._voices[name] = _load_voice(name, self._voice_overrides, self.config.voice_options)
        return self._voices[name]

    @property
    def extractor(self) -> Any:
        if self._extractor is None:
            from .units import UnitExtractor

            start = time.perf_counter()
            units = self.config.units
            self._extractor = UnitExtractor.from_pretrained(
                self.extractor_dir, device=units.device, batch_size=units.batch_size, deduplicate=units.deduplicate
            )
            self.load_seconds["unit_extractor"] = round(time.perf_counter() - start, 3)
        return self._extractor

    def _bar(self, iterable: Any, desc: str, total: int | None = None) -> Any:
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, disable=not self.progress, unit="ex")

    # step 1 and 2 ---------------------------------------------------------------------------------------
    def _text_step(self, function: Any, texts: list[str], desc: str, shard: str, **kwargs: Any) -> list:
        batch = max(1, int(getattr(self.writer, "batch_size", self.config.writer.batch_size)))
        results: list = []
        bar = self._bar(None, desc, total=len(texts))
        try:
            for chunk, start in enumerate(range(0, len(texts), batch)):
                part = texts[start : start + batch]
                seed = example_seed(self.config.seed, shard, desc, chunk) % (2**31)
                results.extend(function(part, self.writer, temperature=self.config.writer.temperature, seed=seed,
                                        **kwargs))
                bar.update(len(part))
        finally:
            bar.close()
        return results

    def speech_shard(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Steps 1-3 of one shard; publishes ``_build/speech/<name>`` and returns its manifest."""
        import datasets

        from .text_normalizer import check_speakable, normalize_for_speech
        from offline_assets.tts import InvalidSpeechError, TTSError, TTSUnavailableError
        from .writers import respond_for_speech, rewrite_for_speech

        config, name, rows = self.config, spec["name"], spec["rows"]
        timings: dict[str, float] = defaultdict(float)
        rejected: list[dict[str, Any]] = []
        alive: list[int] = list(range(len(rows)))
        instruction: dict[int, str] = {}
        response: dict[int, str] = {}

        def reject(i: int, step: str, reason: str, text: str = "", detail: str = "") -> None:
            rejected.append({"id": rows[i]["id"], "split": spec["split"], "step": step, "reason": _reason_key(reason),
                             "detail": detail or reason, "text": text[:500],
                             "instruction": rows[i]["instruction"][:500]})

        # step 1: the instruction as spoken
        start = time.perf_counter()
        if config.rewrite:
            results = self._text_step(rewrite_for_speech, [rows[i]["instruction"] for i in alive], "rewrite", name,
                                      max_words=config.max_instruction_words,
                                      max_new_tokens=config.writer.rewrite_max_new_tokens)
            for i, result in zip(alive, results):
                if result.ok:
                    instruction[i] = result.text
                else:
                    reject(i, "rewrite", result.rejected, result.raw or result.text)
            timings["rewrite"] += time.perf_counter() - start
        else:
            for i in alive:
                text = normalize_for_speech(rows[i]["instruction"])
                reason = check_speakable(text, max_words=config.max_instruction_words)
                if reason is None:
                    instruction[i] = text
                else:
                    reject(i, "instruction_text", reason, rows[i]["instruction"])
            timings["instruction_text"] += time.perf_counter() - start
        alive = [i for i in alive if i in instruction]

        # step 2: the response, written to be spoken
        start = time.perf_counter()
        if config.respond:
            results = self._text_step(respond_for_speech, [instruction[i] for i in alive], "respond", name,
                                      max_words=config.max_response_words,
                                      max_new_tokens=config.writer.respond_max_new_tokens)
            for i, result in zip(alive, results):
                if result.ok:
                    response[i] = result.text
                else:
                    reject(i, "respond", result.rejected, result.raw or result.text)
            timings["respond"] += time.perf_counter() - start
        else:
            for i in alive:
                given = rows[i].get("answer")
                if not isinstance(given, str) or not given.strip():
                    reject(i, "response_text", "no response in the source")
                    continue
                text = normalize_for_speech(given)
                reason = check_speakable(text, max_words=config.max_response_words)
                if reason is None:
                    response[i] = text
                else:
                    reject(i, "response_text", reason, given)
            timings["response_text"] += time.perf_counter() - start
        alive = [i for i in alive if i in response]

        # step 3: speech
        limits = config.validation
        common = dict(min_seconds=limits.min_seconds, silence_peak=limits.silence_peak, silence_rms=limits.silence_rms,
                      clip_level=limits.clip_level, max_clipped_fraction=limits.max_clipped_fraction)
        speech: dict[str, dict[int, np.ndarray]] = {"instruction": {}, "response": {}}
        voice_of: dict[int, str] = {}
        for what, max_seconds in (("instruction", limits.max_instruction_seconds),
                                  ("response", limits.max_response_seconds)):
            start = time.perf_counter()
            step = f"{what}_speech"
            texts = instruction if what == "instruction" else response
            for i in self._bar(list(alive), f"TTS {what}s"):
                example_id = rows[i]["id"]
                if what == "instruction":
                    voices = config.instruction_voices
                    voice_name = voices[example_seed(config.seed, example_id, "instruction-voice") % len(voices)]
                    voice_of[i] = voice_name
                else:
                    voice_name = config.response_voice
                voice = self.voice(voice_name)
                try:
                    audio = speak(voice, texts[i], example_seed(config.seed, example_id, f"{what}-tts") % (2**62))
                except TTSUnavailableError:
                    raise
                except InvalidSpeechError as error:
                    reject(i, step, _speech_error_reason(error), texts[i], f"{voice_name}: {error}")
                    continue
                except TTSError as error:
                    reject(i, step, "tts failed", texts[i], f"{voice_name}: {error}")
                    continue
                except ValueError as error:
                    reject(i, step, _speech_error_reason(error), texts[i], f"{voice_name}: {error}")
                    continue
                sampling_rate = int(getattr(voice, "sampling_rate", SAMPLING_RATE))
                audio = np.asarray(audio, dtype=np.float32)
                reason = validate_audio(audio, sampling_rate, max_seconds=max_seconds, **common)
                if reason is None and sampling_rate != SAMPLING_RATE:
                    reason = f"wrong sampling rate: {sampling_rate} Hz from {voice_name}, expected {SAMPLING_RATE}"
                if reason is not None:
                    seconds = audio.size / max(sampling_rate, 1)
                    reject(i, step, reason, texts[i], f"{voice_name}: {reason} ({seconds:.2f} s)")
                    continue
                speech[what][i] = audio
            alive = [i for i in alive if i in speech[what]]
            timings[f"tts_{what}"] += time.perf_counter() - start

        start = time.perf_counter()
        data = {
            "id": [rows[i]["id"] for i in alive],
            "source": [rows[i]["source"] for i in alive],
            "instruction": [instruction[i] for i in alive],
            "speech_instruction": [{"array": speech["instruction"][i], "sampling_rate": SAMPLING_RATE} for i in alive],
            "instruction_voice": [voice_of[i] for i in alive],
            "response": [response[i] for i in alive],
            "speech_response": [{"array": speech["response"][i], "sampling_rate": SAMPLING_RATE} for i in alive],
        }
        dataset = datasets.Dataset.from_dict(data, features=_features(with_units=False))
        seconds = {w: round(sum(speech[w][i].size for i in alive) / SAMPLING_RATE, 3) for w in speech}
        manifest = {
            "format_version": _FORMAT_VERSION,
            "stage": "speech",
            "shard": name,
            "split": spec["split"],
            "fingerprint": spec["fingerprint"],
            "read": len(rows),
            "kept": len(alive),
            "rejected": rejected,
            "voices": dict(Counter(voice_of[i] for i in alive)),
            "audio_seconds": seconds,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "load_seconds": dict(self.load_seconds),
            "pid": os.getpid(),
        }
        timings["save"] = time.perf_counter() - start
        manifest["timings"]["save"] = round(timings["save"], 3)
        return _publish_shard(dataset, manifest, self.build_dir / "speech" / name)

    # step 4 ---------------------------------------------------------------------------------------------
    def units_shard(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Step 4 of one shard (from its speech shard); publishes ``_build/units/<name>``, returns its manifest."""
        config, name = self.config, spec["name"]
        start = time.perf_counter()
        speech = _load_shard(self.build_dir / "speech" / name, "speech")
        extractor = self.extractor
        rejected: list[dict[str, Any]] = []
        units_of: dict[int, list[int]] = {}
        ids = list(speech["id"])
        responses = list(speech["response"])
        audio_column = speech.select_columns(["speech_response"])
        batch = max(1, int(getattr(extractor, "batch_size", config.units.batch_size)))
        bar = self._bar(None, "units", total=len(ids))
        try:
            for begin in range(0, len(ids), batch):
                indices = list(range(begin, min(begin + batch, len(ids))))
                clips = [np.asarray(audio_column[i]["speech_response"]["array"], dtype=np.float32) for i in indices]
                try:
                    outputs = extractor.extract_batch(clips, sampling_rate=SAMPLING_RATE,
                                                      deduplicate=config.units.deduplicate)
                except ValueError:  # one bad clip: redo one by one to find it
                    outputs = []
                    for clip in clips:
                        try:
                            outputs.append(extractor.extract_batch([clip], sampling_rate=SAMPLING_RATE,
                                                                   deduplicate=config.units.deduplicate)[0])
                        except ValueError as error:
                            outputs.append(error)
                for i, units in zip(indices, outputs):
                    row = {"id": ids[i], "split": spec["split"], "step": "units", "text": responses[i][:500]}
                    if isinstance(units, Exception):
                        rejected.append(dict(row, reason="extraction failed", detail=str(units)))
                    elif len(units) == 0:
                        rejected.append(dict(row, reason="empty units", detail="no units"))
                    elif len(units) < config.validation.min_units:
                        rejected.append(dict(row, reason="too few units",
                                             detail=f"{len(units)} units < {config.validation.min_units}"))
                    else:
                        units_of[i] = [int(u) for u in units]
                bar.update(len(indices))
        finally:
            bar.close()
        kept = sorted(units_of)
        extract_seconds = time.perf_counter() - start
        start = time.perf_counter()
        dataset = speech.select(kept).add_column("response_units", [units_of[i] for i in kept])
        if dataset.features != _features(with_units=True):
            dataset = dataset.cast(_features(with_units=True))
        manifest = {
            "format_version": _FORMAT_VERSION,
            "stage": "units",
            "shard": name,
            "split": spec["split"],
            "fingerprint": spec["fingerprint"],
            "read": len(ids),
            "kept": len(kept),
            "rejected": rejected,
            "num_units": sum(len(units_of[i]) for i in kept),
            "timings": {"units": round(extract_seconds, 3)},
            "load_seconds": dict(self.load_seconds),
            "pid": os.getpid(),
        }
        manifest["timings"]["save"] = round(time.perf_counter() - start, 3)
        return _publish_shard(dataset, manifest, self.build_dir / "units" / name)


_WORKER: _Pipeline | None = None


def _init_worker(state: dict[str, Any], threads: int) -> None:
    global _WORKER
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:  # pragma: no cover
        pass
    logging.basicConfig(level=logging.WARNING)
    state = dict(state)
    state["config"] = BuildConfig.from_dict(state["config"])
    _WORKER = _Pipeline(**state)


def _worker_speech(spec: dict[str, Any]) -> dict[str, Any]:
    return _WORKER.speech_shard(spec)


def _worker_units(spec: dict[str, Any]) -> dict[str, Any]:
    return _WORKER.units_shard(spec)


# ---------------------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------------------


@dataclass
class BuildResult:
    """What :func:`build_dataset` returns.

    Attributes:
        dataset: the ``DatasetDict`` (memory-mapped from `output_dir`).
        report: the contents of ``build_report.json``.
        output_dir: where it was saved.
    """

    dataset: Any
    report: dict[str, Any]
    output_dir: str

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> None:
        """:func:`push_to_hub` of this build."""
        push_to_hub(self.output_dir, repo_id, **kwargs)


def _identity(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _extractor_hash(extractor: Any) -> str:
    centroids = getattr(extractor, "centroids", None)
    digest = hashlib.sha256(_identity(extractor).encode())
    if centroids is not None:
        array = np.ascontiguousarray(np.asarray(centroids.cpu() if hasattr(centroids, "cpu") else centroids,
                                                dtype=np.float32))
        digest.update(array.tobytes())
        digest.update(str(array.shape).encode())
    for key in ("encoder_source", "encoder_kind", "layer"):
        digest.update(f"{key}={getattr(extractor, key, None)}".encode())
    return digest.hexdigest()


def _extractor_dir_hash(folder: Path) -> str:
    from .units import CENTROIDS_NAME, CONFIG_NAME

    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    digest = hashlib.sha256(_sha256_file(folder / CENTROIDS_NAME).encode())
    for key in ("encoder", "encoder_kind", "layer"):
        digest.update(f"{key}={config.get(key)}".encode())
    return digest.hexdigest()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Builder:
    def __init__(self, config, writer, voices, unit_extractor, overwrite, progress):
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.build_dir = self.output_dir / BUILD_DIR
        self.injected = {"writer": writer, "voices": dict(voices or {}), "extractor": unit_extractor}
        self.overwrite = overwrite
        self.progress = progress
        self.stop_after = int(os.environ.get(STOP_AFTER_ENV) or 0)
        self.shards_done_this_run = 0
        self.timings: dict[str, float] = {}
        components = {
            "writer": _identity(writer) if writer is not None else None,
            "voices": {k: _identity(v) for k, v in sorted(self.injected["voices"].items())},
            "extractor": _extractor_hash(unit_extractor) if unit_extractor is not None else None,
        }
        payload = {"format_version": _FORMAT_VERSION, "config": config.fingerprint_dict(), "components": components}
        self.fingerprint = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    # ---------------------------------------------------------------------------------------------------
    def run(self) -> BuildResult:
        import datasets

        started = time.perf_counter()
        if self.overwrite:
            self._clear_output()
        report_path = self.output_dir / REPORT_NAME
        if report_path.is_file() and (self.output_dir / "dataset_dict.json").is_file():
            report = json.loads(report_path.read_text(encoding="utf-8"))
            if report.get("complete") and report.get("config_fingerprint") == self.fingerprint:
                logger.info("%s already holds this build; nothing to do", self.output_dir)
                return BuildResult(datasets.load_from_disk(str(self.output_dir)), report, str(self.output_dir))
        self._check_components()
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._clean_temporary()
            plan = self._plan()
            shards = [dict(s, fingerprint=self.fingerprint) for s in plan["shards"]]
            reused = {"speech": 0, "units": 0}

            todo = [s for s in shards if _finished_manifest(self.build_dir / "speech" / s["name"], self.fingerprint)
                    is None]
            reused["speech"] = len(shards) - len(todo)
            start = time.perf_counter()
            self._run_stage("speech", todo, len(shards))
            self.timings["speech_stage"] = time.perf_counter() - start
            speech = {s["name"]: _finished_manifest(self.build_dir / "speech" / s["name"], self.fingerprint)
                      for s in shards}
            missing = [n for n, m in speech.items() if m is None]
            if missing:
                raise RuntimeError(f"shards {missing[:5]} were not written; rerun the build")

            final_stage = "speech"
            extractor_info: dict[str, Any] = {"enabled": self.config.units.enabled}
            if self.config.units.enabled:
                final_stage = "units"
                extractor_dir, extractor_hash, extractor_info = self._unit_extractor(shards)
                unit_specs = []
                for s in shards:
                    fingerprint = hashlib.sha256(
                        f"{self.fingerprint}:{extractor_hash}:{speech[s['name']]['data_sha256']}".encode()
                    ).hexdigest()
                    unit_specs.append({"name": s["name"], "split": s["split"], "fingerprint": fingerprint})
                todo = [s for s in unit_specs
                        if _finished_manifest(self.build_dir / "units" / s["name"], s["fingerprint"]) is None]
                reused["units"] = len(unit_specs) - len(todo)
                start = time.perf_counter()
                self._run_stage("units", todo, len(unit_specs), extractor_dir=extractor_dir)
                self.timings["units_stage"] = time.perf_counter() - start
                finals = {s["name"]: _finished_manifest(self.build_dir / "units" / s["name"], s["fingerprint"])
                          for s in unit_specs}
            else:
                finals = speech
            if any(m is None for m in finals.values()):
                raise RuntimeError("some unit shards were not written; rerun the build")

            start = time.perf_counter()
            dataset = self._assemble(shards, final_stage)
            self.timings["assemble"] = time.perf_counter() - start
            self.timings["run_wall"] = time.perf_counter() - started
            report = self._report(plan, shards, speech, finals if final_stage == "units" else None, extractor_info,
                                  reused, dataset)
            self._write_rejected(speech, finals if final_stage == "units" else None)
            _write_json_atomic(self.output_dir / REPORT_NAME, report)
            if not self.config.keep_shards:
                shutil.rmtree(self.build_dir / "speech", ignore_errors=True)
                shutil.rmtree(self.build_dir / "units", ignore_errors=True)
        finally:
            self._unlock()
        return BuildResult(datasets.load_from_disk(str(self.output_dir)), report, str(self.output_dir))

    # ---------------------------------------------------------------------------------------------------
    def _clear_output(self) -> None:
        if not self.output_dir.exists():
            return
        for name in [BUILD_DIR, EXTRACTOR_DIR, REPORT_NAME, REJECTED_NAME, "dataset_dict.json"]:
            path = self.output_dir / name
            named = self.config.units.extractor
            if name == EXTRACTOR_DIR and named and Path(named).resolve() == path.resolve():
                continue  # an extractor folder the recipe names is the user's: never deleted
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for split_dir in self.output_dir.iterdir():
            if split_dir.is_dir() and (split_dir / "state.json").is_file():
                shutil.rmtree(split_dir)

    def _check_components(self) -> None:
        """Fail before any work: unknown voices, missing extractor folder."""
        for name in dict.fromkeys(self.config.instruction_voices + [self.config.response_voice]):
            _load_voice(name, self.injected["voices"], self.config.voice_options)
        units = self.config.units
        if units.enabled and self.injected["extractor"] is None and units.fit is None:
            folder = Path(units.extractor)
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"missing unit extractor: {folder} does not exist. Fit one with `llama-omni units fit ... "
                    f"--output {folder}`, add units.fit to the recipe, or set units.extractor: none"
                )
            from .units import CONFIG_NAME

            if not (folder / CONFIG_NAME).is_file():
                raise FileNotFoundError(f"missing unit extractor: {folder} has no {CONFIG_NAME} (not a UnitExtractor "
                                        "folder written by `llama-omni units fit` / save_pretrained)")

    def _lock(self) -> None:
        path = self.build_dir / LOCK_NAME
        try:
            pid = int(path.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid and pid != os.getpid() and _pid_alive(pid):
            raise RuntimeError(f"another build (process {pid}) is writing {self.output_dir}; wait for it, or remove "
                               f"{path} if that process is not a builder")
        path.write_text(str(os.getpid()))

    def _unlock(self) -> None:
        try:
            (self.build_dir / LOCK_NAME).unlink()
        except OSError:
            pass

    def _clean_temporary(self) -> None:
        """Half-written shards / files of a killed run (never read; the lock says no other build is running)."""
        for folder in (self.build_dir, self.build_dir / "speech", self.build_dir / "units", self.output_dir):
            if folder.is_dir():
                for path in folder.iterdir():
                    if path.name.startswith(".") and ".tmp-" in path.name:
                        shutil.rmtree(path) if path.is_dir() else path.unlink()

    def _plan(self) -> dict[str, Any]:
        path = self.build_dir / PLAN_NAME
        if path.is_file():
            plan = json.loads(path.read_text(encoding="utf-8"))
            if plan.get("fingerprint") == self.fingerprint:
                return plan
            raise BuildConfigError(
                f"{self.output_dir} holds a build made with another recipe (or other components); use another "
                "output_dir, or pass overwrite=True (`--overwrite`) to start over"
            )
        if (self.output_dir / "dataset_dict.json").is_file():
            raise BuildConfigError(f"{self.output_dir} already holds a dataset from another build; use another "
                                   "output_dir or pass overwrite=True (`--overwrite`)")
        start = time.perf_counter()
        rows, stats, duplicates = _read_plan_rows(self.config)
        if not rows:
            raise BuildConfigError("the sources gave no instructions to build from")
        plan = {
            "format_version": _FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "config": self.config.to_dict(),
            "sources": stats,
            "duplicate_ids": [{"id": r["id"], "split": r["split"], "step": "read", "reason": "duplicate id",
                               "detail": f"id {r['id']} already read from another source",
                               "text": r["instruction"][:500]} for r in duplicates],
            "read": len(rows) + len(duplicates),
            "shards": _make_shards(rows, self.config.shard_size),
            "read_seconds": round(time.perf_counter() - start, 3),
        }
        _write_json_atomic(path, plan)
        return plan

    def _after_shard(self) -> None:
        self.shards_done_this_run += 1
        if self.stop_after and self.shards_done_this_run >= self.stop_after:
            logger.warning("%s=%d: stopping abruptly (testing hook)", STOP_AFTER_ENV, self.stop_after)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(STOP_EXIT_CODE)

    def _state(self, extractor_dir: str | None, progress: bool) -> dict[str, Any]:
        return {
            "config": self.config,
            "build_dir": str(self.build_dir),
            "writer": self.injected["writer"],
            "voices": self.injected["voices"],
            "extractor": self.injected["extractor"],
            "extractor_dir": extractor_dir,
            "progress": progress,
        }

    def _run_stage(self, stage: str, specs: list[dict[str, Any]], total: int, extractor_dir: str | None = None) -> None:
        from tqdm.auto import tqdm

        if not specs:
            return
        num_proc = min(self.config.num_proc, len(specs))
        bar = tqdm(total=total, initial=total - len(specs), desc=f"{stage} shards", unit="shard",
                   disable=not self.progress)
        try:
            if num_proc <= 1:
                pipeline = getattr(self, "_pipeline", None)
                if pipeline is None:
                    pipeline = self._pipeline = _Pipeline(**self._state(extractor_dir, self.progress))
                pipeline.extractor_dir = extractor_dir
                for spec in specs:
                    getattr(pipeline, f"{stage}_shard")(spec)
                    bar.update(1)
                    self._after_shard()
                return
            state = self._state(extractor_dir, False)
            state["config"] = self.config.to_dict()
            threads = max(1, (os.cpu_count() or 1) // num_proc)
            context = multiprocessing.get_context("spawn")
            worker = _worker_speech if stage == "speech" else _worker_units
            with context.Pool(num_proc, initializer=_init_worker, initargs=(state, threads)) as pool:
                for _ in pool.imap_unordered(worker, specs):
                    bar.update(1)
                    self._after_shard()
        finally:
            bar.close()

    def _unit_extractor(self, shards: list[dict[str, Any]]) -> tuple[str | None, str, dict[str, Any]]:
        """(folder or None when injected, identity hash, report info); fits and saves one when asked."""
        units = self.config.units
        if self.injected["extractor"] is not None:
            extractor = self.injected["extractor"]
            return None, _extractor_hash(extractor), {"enabled": True, "injected": _identity(extractor),
                                                      "num_units": getattr(extractor, "num_units", None)}
        folder = Path(units.extractor) if units.extractor else self.output_dir / EXTRACTOR_DIR
        from .units import CONFIG_NAME

        fitted_here = False
        if not (folder / CONFIG_NAME).is_file():
            if units.fit is None:
                raise FileNotFoundError(f"missing unit extractor: {folder} is not a UnitExtractor folder")
            self._fit_extractor(shards, folder)
            fitted_here = True
        saved = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        info = {"enabled": True, "folder": str(folder), "fitted_during_build": fitted_here or
                (folder == self.output_dir / EXTRACTOR_DIR), "encoder": saved.get("encoder"),
                "layer": saved.get("layer"), "num_units": saved.get("num_units"), "fit": saved.get("fit"),
                "deduplicate": units.deduplicate}  # fmt: skip
        return str(folder), _extractor_dir_hash(folder), info

    def _fit_extractor(self, shards: list[dict[str, Any]], folder: Path) -> None:
        from .units import UnitExtractor

        fit = self.config.units.fit
        start = time.perf_counter()
        ordered = [s for s in shards if s["split"] == "train"] + [s for s in shards if s["split"] != "train"]

        def clips():
            for shard in ordered:
                dataset = _load_shard(self.build_dir / "speech" / shard["name"], "speech")
                dataset = dataset.select_columns(["speech_response"])
                for i in range(len(dataset)):
                    yield np.asarray(dataset[i]["speech_response"]["array"], dtype=np.float32)

        extractor = UnitExtractor(encoder=fit.encoder, layer=fit.layer, device=self.config.units.device,
                                  batch_size=fit.batch_size, deduplicate=self.config.units.deduplicate)
        try:
            extractor.fit(clips(), num_units=fit.num_units, max_frames=int(fit.minutes * 60 * extractor.frame_rate),
                          seed=fit.seed, sampling_rate=SAMPLING_RATE, algorithm=fit.algorithm, progress=self.progress)
        except ValueError as error:
            raise BuildConfigError(f"units.fit: {error}") from None
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        extractor.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
        self.timings["fit_units"] = time.perf_counter() - start

    def _assemble(self, shards: list[dict[str, Any]], stage: str) -> Any:
        import datasets

        features = _features(with_units=stage == "units")
        by_split: dict[str, list] = {}
        for shard in shards:
            by_split.setdefault(shard["split"], []).append(_load_shard(self.build_dir / stage / shard["name"], stage))
        splits = {}
        for split, parts in by_split.items():
            splits[split] = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
            splits[split] = splits[split].cast(features) if splits[split].features != features else splits[split]
        dataset = datasets.DatasetDict(splits)
        tmp = self.output_dir / f".dataset.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with _quiet_datasets():
            dataset.save_to_disk(str(tmp))
        # replace the previous dataset: the split folders first, dataset_dict.json (the marker) last
        marker = self.output_dir / "dataset_dict.json"
        if marker.exists():
            old = json.loads(marker.read_text(encoding="utf-8")).get("splits", [])
            marker.unlink()
            for split in old:
                shutil.rmtree(self.output_dir / split, ignore_errors=True)
        for split in splits:
            target = self.output_dir / split
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp / split, target)
        os.rename(tmp / "dataset_dict.json", marker)
        shutil.rmtree(tmp, ignore_errors=True)
        return dataset

    def _write_rejected(self, speech: dict[str, Any], units: dict[str, Any] | None) -> None:
        plan = json.loads((self.build_dir / PLAN_NAME).read_text(encoding="utf-8"))
        tmp = self.output_dir / f".{REJECTED_NAME}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            for row in plan.get("duplicate_ids", []):
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            for manifests in (speech, units or {}):
                for manifest in manifests.values():
                    for row in manifest["rejected"]:
                        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, self.output_dir / REJECTED_NAME)

    def _report(self, plan, shards, speech, units, extractor_info, reused, dataset) -> dict[str, Any]:
        rejected: dict[str, Counter] = defaultdict(Counter)
        per_split: dict[str, Counter] = defaultdict(Counter)
        for row in plan.get("duplicate_ids", []):
            rejected["read"][row["reason"]] += 1
            per_split[row["split"]]["read"] += 1
            per_split[row["split"]]["rejected"] += 1
        step_seconds: Counter = Counter()
        voices_kept: Counter = Counter()
        audio_seconds: Counter = Counter()
        load_seconds: dict[str, float] = {}
        for stage_manifests in (speech, units or {}):
            for manifest in stage_manifests.values():
                for row in manifest["rejected"]:
                    rejected[row["step"]][row["reason"]] += 1
                    per_split[manifest["split"]]["rejected"] += 1
                for key, value in manifest.get("timings", {}).items():
                    step_seconds[f"{manifest['stage']}_{key}" if key == "save" else key] += value
                load_seconds.update(manifest.get("load_seconds", {}))
        for manifest in speech.values():
            per_split[manifest["split"]]["read"] += manifest["read"]
        kept_ids = {split: len(dataset[split]) for split in dataset}
        for split, n in kept_ids.items():
            per_split[split]["kept"] = n
        if units is not None:
            num_units = sum(m["num_units"] for m in units.values())
        else:
            num_units = None
        kept = sum(kept_ids.values())
        for split in dataset:
            voices_kept.update(dataset[split]["instruction_voice"])
        for manifest in speech.values():
            audio_seconds.update(manifest.get("audio_seconds", {}))
        total_rejected = sum(sum(c.values()) for c in rejected.values())
        read = plan["read"]
        if kept + total_rejected != read:  # the counts must add up: nothing is dropped silently
            raise RuntimeError(f"internal error: read {read} != kept {kept} + rejected {total_rejected}")
        versions = {}
        for package in ("datasets", "transformers", "torch"):
            try:
                versions[package] = importlib.import_module(package).__version__
            except ImportError:  # pragma: no cover
                pass
        return {
            "format_version": _FORMAT_VERSION,
            "complete": True,
            "config_fingerprint": self.fingerprint,
            "output_dir": str(self.output_dir),
            "counts": {
                "read": read,
                "kept": kept,
                "rejected": total_rejected,
                "splits": {s: {"read": c["read"], "kept": c["kept"], "rejected": c["rejected"]}
                           for s, c in per_split.items()},
            },
            "rejected": {step: dict(sorted(rejected[step].items())) for step in STEPS if step in rejected},
            "voices": {"instruction": dict(sorted(voices_kept.items())),
                       "response": {self.config.response_voice: kept}},
            "audio_hours": {k: round(v / 3600, 4) for k, v in audio_seconds.items()},
            "units": dict(extractor_info, total_units=num_units,
                          mean_units_per_example=round(num_units / kept, 2) if num_units and kept else None),
            "shards": {
                "total": len(shards),
                "shard_size": self.config.shard_size,
                "reused_speech": reused["speech"],
                "reused_units": reused["units"],
                "built_this_run": self.shards_done_this_run,
            },
            "timings": {
                "steps_seconds": {k: round(v, 2) for k, v in sorted(step_seconds.items())},
                "component_load_seconds": load_seconds,
                "read_sources_seconds": plan.get("read_seconds"),
                **{f"{k}_seconds": round(v, 2) for k, v in self.timings.items()},
                "num_proc": self.config.num_proc,
            },
            "sources": plan["sources"],
            "config": self.config.to_dict(),
            "components": {
                "writer": _identity(self.injected["writer"]) if self.injected["writer"] is not None else
                self.config.writer.kind,
                "voices": {k: _identity(v) for k, v in self.injected["voices"].items()},
            },
            "versions": versions,
        }


def build_dataset(
    config: BuildConfig | Mapping[str, Any] | str | os.PathLike,
    *,
    writer: Any = None,
    voices: Mapping[str, Any] | None = None,
    unit_extractor: Any = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Build (or resume, or just reload) the speech-instruction dataset a recipe describes.

    Args:
        config: a :class:`BuildConfig`, its mapping form, or the path of a YAML recipe.
        writer: a ready ``processing.instructs2s.writers.Writer`` to use instead of ``config.writer`` (e.g. a test fixture).
        voices: ready ``TTSVoice`` objects by name, used instead of ``get_voice(name)`` for those names.
        unit_extractor: a fitted ``UnitExtractor`` (or any object with ``extract_batch``) instead of
            ``config.units``.
        overwrite: delete an earlier build in ``config.output_dir`` first (otherwise a build with the same recipe
            is resumed, and one with another recipe is refused).
        progress: show progress bars.

    Injected objects are part of the build's identity by their class; with ``num_proc > 1`` they are pickled to
    the workers. Set the environment variable ``LLAMA_OMNI_DATA_STOP_AFTER_SHARDS=k`` to make the process exit
    abruptly (``os._exit(75)``) after finishing k shards: a testing hook for the resume logic.

    Returns:
        a :class:`BuildResult` (the ``DatasetDict``, the report, the folder).

    Raises:
        BuildConfigError: a malformed recipe, an unknown voice, or an output folder holding another build.
        FileNotFoundError: a source or the unit extractor folder is missing.
        processing.instructs2s.sources.InstructionSourceError: a Hub source cannot be loaded (offline).
        offline_assets.tts.TTSUnavailableError: a voice cannot run here (missing program or package).
        processing.instructs2s.writers.WriterError: the writer failed (finished shards are kept; rerun to resume).
    """
    if isinstance(config, (str, os.PathLike)):
        config = BuildConfig.from_yaml(config)
    elif isinstance(config, Mapping):
        config = BuildConfig.from_dict(config)
    elif not isinstance(config, BuildConfig):
        raise TypeError(f"config must be a BuildConfig, a mapping or a YAML path, got {type(config).__name__}")
    return _Builder(config, writer, voices, unit_extractor, overwrite, progress).run()


def push_to_hub(output_dir: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None,
                **kwargs: Any) -> None:
    """Upload a built dataset (and its ``build_report.json``) to the Hugging Face Hub as a dataset repository.

    Raises ``RuntimeError`` when the Hub is switched off (``HF_HUB_OFFLINE``), ``FileNotFoundError`` when
    `output_dir` holds no finished build, and whatever ``huggingface_hub`` raises (no network, no token).
    """
    import datasets

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise RuntimeError("push_to_hub: the Hugging Face Hub is switched off here (HF_HUB_OFFLINE is set)")
    folder = Path(output_dir)
    if not (folder / "dataset_dict.json").is_file() or not (folder / REPORT_NAME).is_file():
        raise FileNotFoundError(f"{folder} holds no finished build (no dataset_dict.json / {REPORT_NAME})")
    dataset = datasets.load_from_disk(str(folder))
    dataset.push_to_hub(repo_id, private=private, token=token, **kwargs)
    from huggingface_hub import HfApi

    HfApi(token=token).upload_file(path_or_fileobj=str(folder / REPORT_NAME), path_in_repo=REPORT_NAME,
                                   repo_id=repo_id, repo_type="dataset")


# ---------------------------------------------------------------------------------------------------------
# Command line: llama-omni data build
# ---------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llama-omni data",
                                     description="Build the InstructS2S speech-instruction dataset from a recipe.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build (or resume) a dataset from a YAML recipe")
    build.add_argument("--config", required=True, help="the YAML recipe (processing/instructs2s/recipes/*.yaml)")
    build.add_argument("--output", help="output folder (overrides output_dir)")
    build.add_argument("--limit", type=int, help="at most N examples in all (overrides limit)")
    build.add_argument("--num-proc", type=int, help="worker processes (overrides num_proc)")
    build.add_argument("--shard-size", type=int, help="examples per shard (overrides shard_size)")
    build.add_argument("--overwrite", action="store_true", help="delete an earlier build in the output folder")
    build.add_argument("--push-to-hub", metavar="REPO_ID", help="upload the result as a Hub dataset repository")
    build.add_argument("--private", action="store_true", help="with --push-to-hub: a private repository")
    build.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def data_main(argv: Sequence[str] | None = None) -> int:
    """``llama-omni data build --config recipe.yaml [--output DIR] [--limit N] [--num-proc N] ...``.

    Prints a summary (counts, rejections by step and reason, time) and returns 0; a bad recipe, a missing
    source or extractor, or an unknown voice prints ``error: ...`` and returns 2.
    """
    from .sources import InstructionSourceError

    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    overrides: dict[str, Any] = {}
    if args.output:
        overrides["output_dir"] = args.output
    if args.limit is not None:
        overrides["limit"] = args.limit
    if args.num_proc is not None:
        overrides["num_proc"] = args.num_proc
    if args.shard_size is not None:
        overrides["shard_size"] = args.shard_size
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = BuildConfig.from_yaml(args.config, **overrides)
        result = build_dataset(config, overwrite=args.overwrite, progress=not args.no_progress)
    except (BuildConfigError, FileNotFoundError, InstructionSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = result.report
    counts = report["counts"]
    splits = ", ".join(f"{split}: {c['kept']}" for split, c in counts["splits"].items())
    print(f"built {result.output_dir}: read {counts['read']}, kept {counts['kept']}, rejected {counts['rejected']} "
          f"({splits})")
    for step, reasons in report["rejected"].items():
        print(f"  rejected at {step}: " + ", ".join(f"{reason} x{n}" for reason, n in reasons.items()))
    print(f"  time {report['timings'].get('run_wall_seconds')} s; report: "
          f"{os.path.join(result.output_dir, REPORT_NAME)}")
    if args.push_to_hub:
        result.push_to_hub(args.push_to_hub, private=args.private)
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


if __name__ == "__main__":
    sys.exit(data_main())
