# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The InstructS2S-style speech-instruction data builder (`llama-omni data build`): instruction sources, LLM
writers (rewrite for speech, respond for speech), TTS of both sides, discrete units of the response speech; sharded
and resumable, from a YAML recipe (`recipes/`).

A floor above the model: it uses the processor, the model (speech encoder for units), the offline assets (voices,
SmolLM2) and nothing above them. Its modules, by concern: ``recipe`` (the YAML recipe and its validation), ``shards``
(the plan, atomic shard files, the lock), ``steps`` (the per-shard pipeline: rewrite, respond, speech, units; audio
checks), ``builder`` (orchestration, report, Hub push), ``cli`` (``llama-omni data build``), and the tools they use:
``sources``, ``writers`` (over ``llm_client``), ``text_normalizer``, ``units`` (+ ``units_cli``).
"""

from typing import Any

from .builder import BuildResult, build_dataset, push_to_hub
from .cli import data_main
from .recipe import (
    BuildConfig,
    BuildConfigError,
    FitUnitsConfig,
    SourceConfig,
    UnitsConfig,
    ValidationConfig,
    WriterConfig,
)
from .shards import SAMPLING_RATE, example_seed
from .steps import load_writer, speak, validate_audio


def __getattr__(name: str) -> Any:  # FEATURES without importing datasets at package import
    if name == "FEATURES":
        from .shards import features

        return features(with_units=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FEATURES",
    "SAMPLING_RATE",
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
