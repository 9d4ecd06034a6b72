# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Deprecated: `llama-omni chat` and answering moved to the inference runtime (`inference`). This alias will be
removed in the next release: use `inference.answer` (it returns a `Timeline`), `inference.load_model`,
`inference.write_wav` and `inference.chat.chat_main`."""

from __future__ import annotations

import warnings
from typing import Any

from inference import load_model, write_wav
from inference import answer as _answer
from inference.chat import chat_main

warnings.warn(
    "trainers.chat is deprecated and will be removed in the next release; use the inference runtime "
    "(`from inference import answer, load_model, write_wav`)",
    FutureWarning,
    stacklevel=2,
)


def answer(model: Any, processor: Any, audio: Any, chunk_size: int = 10, on_text: Any = None,
           **generate_kwargs: Any) -> dict[str, Any]:
    """The old return shape of `inference.answer`: `{"text", "audio", "sampling_rate", "ttfa_s", "total_s", ...}`."""
    return _answer(model, processor, audio, chunk_size=chunk_size, on_text=on_text, **generate_kwargs).as_dict()


__all__ = ["answer", "chat_main", "load_model", "write_wav"]
