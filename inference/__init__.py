# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The inference runtime: load a LLaMA-Omni folder or the embedded default, answer spoken questions, and read every
timing (time to first audio / text, decoding time) from one timeline of streamed events. `llama-omni chat`, the
Space, the evaluation runner, the cascade baseline and the benchmarks all answer through it."""

from .conversation import Conversation, GenerationSettings, Responder, Turn
from .runtime import (
    AnswerEvent,
    Timeline,
    answer,
    drain,
    load_model,
    model_inputs,
    pick_device_and_dtype,
    record,
    resolve_model_folder,
    sampling_rate_of,
    stream_answer,
    wav_bytes,
    write_wav,
)
from .turn_taking import (
    HandsFreeEvent,
    HandsFreeSession,
    SileroVAD,
    StreamResampler,
    TurnDetector,
    TurnEvent,
    VoiceActivityDetector,
    iter_chunks,
)

__all__ = [
    "AnswerEvent",
    "Conversation",
    "GenerationSettings",
    "HandsFreeEvent",
    "HandsFreeSession",
    "Responder",
    "SileroVAD",
    "StreamResampler",
    "Timeline",
    "Turn",
    "TurnDetector",
    "TurnEvent",
    "VoiceActivityDetector",
    "answer",
    "drain",
    "iter_chunks",
    "load_model",
    "model_inputs",
    "pick_device_and_dtype",
    "record",
    "resolve_model_folder",
    "sampling_rate_of",
    "stream_answer",
    "wav_bytes",
    "write_wav",
]
