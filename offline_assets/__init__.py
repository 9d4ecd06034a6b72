# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Offline assets: the real weights that pip and Debian packages carry, and the embedded default model built on them.

- `offline_assets.sources`: reads the pip asset packages (Whisper-base / tiny.en in CTranslate2 format, SmolLM2 in
  GGUF, the Piper joe voice) into transformers models, cached under `$LLAMA_OMNI_CACHE`.
- `offline_assets.tts`: offline TTS voices (flite, espeak-ng, Piper) behind one `synthesize()` interface.
- `offline_assets.embedded`: assembles llama-omni-tiny from those packages and its shipped trained weights
  (`load_default()`, `demo_question()`).

This floor sits above the model (`modeling_llama_omni`) and the processor, and below the data builder, the inference
runtime, the trainers and everything else.
"""
