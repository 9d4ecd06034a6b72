# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The Space's example questions: spoken by flite (voice kal16, 16 kHz mono) with the project's offline TTS on first
use, not kept in git. `LLAMA_OMNI_EXAMPLES_DIR` chooses where they go; without the `flite` program there are none."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from inference import write_wav
from offline_assets.tts import TTSError, TTSUnavailableError, get_voice


logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(os.environ.get("LLAMA_OMNI_EXAMPLES_DIR") or Path.home() / ".cache" / "llama_omni" / "space_examples")
EXAMPLE_VOICE = "flite:kal16"
EXAMPLE_QUESTIONS = (  # file name and what it says
    ("capital_of_france.wav", "What is the capital of France?"),
    ("spider_legs.wav", "How many legs does a spider have?"),
    ("cat_and_dog_story.wav", "Can you tell me a short story about a cat and a dog?"),
)


def ensure_examples(folder: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """
    `(wav path, text)` of the example questions, spoken by `EXAMPLE_VOICE` the first time.

    Args:
        folder: where the wavs are kept (default `EXAMPLES_DIR`).

    Returns:
        The examples that exist; those the voice cannot speak are left out (logged), and all of them when the
        `flite` program is missing.
    """
    folder = Path(folder) if folder is not None else EXAMPLES_DIR
    examples = []
    voice = None
    for name, text in EXAMPLE_QUESTIONS:
        path = folder / name
        if not path.is_file():
            try:
                voice = voice or get_voice(EXAMPLE_VOICE)
                audio = voice.synthesize(text)
            except TTSUnavailableError as error:
                logger.warning("no example questions: %s", error)
                return examples
            except (TTSError, ValueError) as error:  # a failed run, or audio that is not speech-like
                logger.warning("%s could not speak the example %r: %s", EXAMPLE_VOICE, text, error)
                continue
            tmp = path.with_name(f".{name}.{os.getpid()}.wav")  # written whole, then renamed: never half a file
            write_wav(tmp, audio, voice.sampling_rate)
            os.replace(tmp, path)
        examples.append((str(path), text))
    return examples


__all__ = ["EXAMPLES_DIR", "EXAMPLE_QUESTIONS", "EXAMPLE_VOICE", "ensure_examples"]
