# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The InstructS2S recipe: :class:`BuildConfig` and its parts, read from YAML or a mapping and validated.

A recipe is nested (a list of sources, a writer, units with an optional fit, validation limits), so it is made of
small dataclasses. Each validates itself in ``__post_init__`` and refuses unknown keys with a close-match suggestion
(``unknown key(s) in writer: 'knd' (did you mean 'kind'?)``), so a typo in a recipe fails before any work. The
top-level fields are also command-line flags of ``llama-omni data build`` (parsed by ``trl.TrlParser`` from the
same dataclass, see :mod:`processing.instructs2s.cli`); the nested ones are set in the YAML file.

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

Python: ``BuildConfig.from_yaml(path, **overrides)`` / ``BuildConfig.from_dict(mapping)``. Command line: the top-level
scalar and list keys are flags that override the file (``llama-omni data build --config recipe.yaml --limit 10
--seed 3 --output DIR``).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "BuildConfig",
    "BuildConfigError",
    "FitUnitsConfig",
    "SourceConfig",
    "UnitsConfig",
    "ValidationConfig",
    "WriterConfig",
    "unknown_keys_message",
]

WRITER_KINDS = ("smollm2", "transformers", "openai", "python")
DEFAULT_SPLIT_NAMES = {
    "train": "train", "heldout": "test", "held_out": "test", "test": "test",
    "validation": "validation", "valid": "validation", "dev": "validation", "all": "train",
}  # fmt: skip


class BuildConfigError(ValueError):
    """A recipe is malformed: unknown keys, wrong types, impossible values, unknown voices, or an output folder
    holding a build made with another recipe."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise BuildConfigError(message)


def unknown_keys_message(unknown: Sequence[str], known: Sequence[str], where: str) -> str:
    """``"unknown key(s) in <where>: 'knd' (did you mean 'kind'?); the keys are: ..."``."""
    hints = []
    for key in sorted(unknown, key=str):
        close = difflib.get_close_matches(str(key), list(known), n=1)
        hints.append(repr(key) + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown key(s) in {where}: {', '.join(hints)}; the keys are: {', '.join(known)}"


def _from_mapping(cls: type, data: Any, where: str) -> Any:
    """`cls(**data)` after refusing unknown keys (with a close-match suggestion)."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    _check(isinstance(data, Mapping), f"{where} must be a mapping of key: value, got {type(data).__name__}")
    known = [f.name for f in fields(cls) if f.init]
    unknown = set(data) - set(known)
    if unknown:
        raise BuildConfigError(unknown_keys_message(unknown, known, where))
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


# The help of the nested fields: hidden from `--help` (they are mappings, set in the YAML recipe).
_YAML_ONLY = argparse.SUPPRESS


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

    # The types are what `HfArgumentParser` needs to make the top-level fields command-line flags; the nested ones
    # (writer, units, validation, voice_options) are YAML mappings, turned into their dataclasses in __post_init__.
    sources: list[SourceConfig] = field(
        default_factory=lambda: [SourceConfig(path="seed")],
        metadata={"help": "instruction sources: 'seed', files, save_to_disk folders or Hub names (YAML: mappings)"},
    )
    limit: int | None = field(default=None, metadata={"help": "at most this many examples in all"})
    writer: WriterConfig = field(default_factory=WriterConfig, metadata={"help": _YAML_ONLY})
    rewrite: bool = field(default=True, metadata={"help": "step 1: rewrite the instruction for speech"})
    respond: bool = field(default=True, metadata={"help": "step 2: write the response (else the source's own)"})
    max_instruction_words: int = field(default=50, metadata={"help": "word limit of a spoken instruction"})
    max_response_words: int = field(default=80, metadata={"help": "word limit of a spoken response"})
    instruction_voices: list[str] = field(
        default_factory=lambda: ["flite:kal16", "flite:awb", "flite:rms", "flite:slt", "espeak:en-us", "piper:joe"],
        metadata={"help": "TTS voices of the instructions, one drawn per example"},
    )
    response_voice: str = field(default="piper:joe", metadata={"help": "the TTS voice of the responses"})
    voice_options: dict = field(default_factory=dict, metadata={"help": _YAML_ONLY})
    units: UnitsConfig = field(default_factory=lambda: UnitsConfig(fit=FitUnitsConfig()),
                               metadata={"help": _YAML_ONLY})
    validation: ValidationConfig = field(default_factory=ValidationConfig, metadata={"help": _YAML_ONLY})
    shard_size: int = field(default=100, metadata={"help": "examples per shard (the unit of resuming)"})
    num_proc: int = field(default=1, metadata={"help": "worker processes"})
    seed: int = field(default=0, metadata={"help": "the seed everything random derives from"})
    output_dir: str = field(default="outputs/instructs2s",
                            metadata={"help": "output folder", "aliases": ["--output"]})
    keep_shards: bool = field(default=True, metadata={"help": "keep output_dir/_build after assembling"})

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

