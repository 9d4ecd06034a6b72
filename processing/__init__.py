# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni processor: audio loading/validation, Whisper features, speech-placeholder expansion, chat templates.

This package is the ground floor: it imports nothing of the project. `import modeling_llama_omni` maps
`LlamaOmniConfig` -> `LlamaOmniProcessor` in `AutoProcessor` (with the model classes), since that needs the config.
The speech-instruction data builder is the subpackage `processing.instructs2s`, a floor above the model.
"""

from .processing_llama_omni import (
    CHAT_TEMPLATES,
    DEFAULT_INSTRUCTION,
    DEFAULT_SYSTEM_PROMPT,
    SAMPLING_RATE,
    SPEECH_TOKEN,
    LlamaOmniProcessor,
    load_audio,
)


__all__ = [
    "CHAT_TEMPLATES",
    "DEFAULT_INSTRUCTION",
    "DEFAULT_SYSTEM_PROMPT",
    "SAMPLING_RATE",
    "SPEECH_TOKEN",
    "LlamaOmniProcessor",
    "load_audio",
]
