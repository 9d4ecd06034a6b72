# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni processor: audio loading/validation, Whisper features, speech-placeholder expansion, chat templates."""

from .processing_llama_omni import (
    CHAT_TEMPLATES,
    DEFAULT_INSTRUCTION,
    DEFAULT_SYSTEM_PROMPT,
    SAMPLING_RATE,
    SPEECH_TOKEN,
    LlamaOmniProcessor,
    load_audio,
)


def _register_auto_processor() -> bool:
    """Map LlamaOmniConfig -> LlamaOmniProcessor in AutoProcessor (if the config module is importable)."""
    try:
        from transformers import AutoProcessor

        from modeling_llama_omni.configuration_llama_omni import LlamaOmniConfig
    except ImportError:
        return False
    AutoProcessor.register(LlamaOmniConfig, LlamaOmniProcessor, exist_ok=True)
    return True


_AUTO_REGISTERED = _register_auto_processor()

__all__ = [
    "CHAT_TEMPLATES",
    "DEFAULT_INSTRUCTION",
    "DEFAULT_SYSTEM_PROMPT",
    "SAMPLING_RATE",
    "SPEECH_TOKEN",
    "LlamaOmniProcessor",
    "load_audio",
]
