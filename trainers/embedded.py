# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Deprecated: the `llama-omni build-default` script moved to `trainers.scripts.build_default`. This alias will be
removed in the next release."""

import warnings

from trainers.scripts.build_default import embedded_system_prompt, main

warnings.warn(
    "trainers.embedded is deprecated and will be removed in the next release; use trainers.scripts.build_default",
    FutureWarning,
    stacklevel=2,
)

__all__ = ["embedded_system_prompt", "main"]
