"""Helpers shared by the benchmarks: word error rates, speech quality (distillMOS), resampling, the machine's facts.

Two text normalisations are used, and each figure says which:
- `speech_words`: the repo's speech normaliser (numbers and symbols as words), lower case, letters and apostrophes;
  for text written to be spoken (TTS round trips, vocoder resynthesis of known sentences).
- `whisper_words`: transformers' Whisper English normaliser (the one the Whisper paper's WERs use), for comparing
  a model's text answer with the transcript of its speech answer.

The metrics themselves live in `evaluation` (the maintained home of `llama-omni evaluate`'s metrics): the word error
rate is its `asr_wer` `evaluate` module, distillMOS its `distillmos` module; these helpers keep the benchmarks'
signatures.
"""

from __future__ import annotations

import os
import platform
import re
from typing import Callable, Sequence

import numpy as np


def speech_words(text: str) -> str:
    """The repo's speech normalisation, lower case, letters and apostrophes only."""
    from processing.instructs2s.text_normalizer import normalize_for_speech

    text = normalize_for_speech(text).lower().replace("-", " ")
    return " ".join(re.findall(r"[a-z']+", text))


def whisper_words(text: str) -> str:
    """transformers' Whisper English text normaliser (no spelling map)."""
    from evaluation.asr import whisper_words as normalize

    return normalize(text)


def wer(references: Sequence[str], hypotheses: Sequence[str], normalize: Callable[[str], str] = speech_words) -> float:
    """Corpus word error rate (the `asr_wer` module of `evaluation.metrics`, jiwer) after `normalize` on both sides;
    empty references are skipped, an empty hypothesis counts as all deletions.

    Raises:
        ValueError: no reference has a word.
    """
    from evaluation.metrics import load_metric

    refs = [normalize(r) for r in references]
    hyps = [normalize(h) for h in hypotheses]
    result = load_metric("asr_wer").compute(predictions=hyps, references=refs, normalize="none")
    if result["asr_wer"] is None:
        raise ValueError("no non-empty reference to score")
    return result["asr_wer"]


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = 16000) -> np.ndarray:
    """Band-limited resampling (torchaudio) of a mono float clip."""
    if orig_sr == target_sr:
        return np.asarray(audio, dtype=np.float32)
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.as_tensor(np.asarray(audio, dtype=np.float32)), orig_sr, target_sr).numpy()


def transcribe_long(model, processor, clips: Sequence[np.ndarray], window_s: float = 30.0) -> list[str]:
    """Whisper transcripts (`offline_assets.whisper.transcribe`, which takes clips of at most 30 s) of 16 kHz clips
    of any length: a longer clip is cut into consecutive `window_s` windows, each transcribed, and their texts
    joined, so that a very long answer (a speech decoder that never ended) is heard whole instead of stopping the
    benchmark."""
    from offline_assets.whisper import transcribe

    window = int(window_s * 16000)
    pieces, owners = [], []
    for index, clip in enumerate(clips):
        for start in range(0, max(len(clip), 1), window):
            pieces.append(clip[start : start + window])
            owners.append(index)
    joined: list[list[str]] = [[] for _ in clips]
    for index, text in zip(owners, transcribe(model, processor, pieces) if pieces else []):
        if text:
            joined[index].append(text)
    return [" ".join(texts) for texts in joined]


def distillmos_scores(clips: Sequence[np.ndarray], sampling_rate: int) -> list[float]:
    """distillMOS (the `distillmos` module of `evaluation.metrics`: pip `distillmos`, its bundled weights) of each
    clip; clips are resampled to 16 kHz (a clip under 0.1 s gets None)."""
    from evaluation.metrics import load_metric

    clips = [np.asarray(c, dtype=np.float32) for c in clips]
    return load_metric("distillmos").compute(audio=clips, sampling_rate=sampling_rate)["scores"]


def machine() -> dict:
    """The facts a timing depends on."""
    import torch

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__}


__all__ = ["distillmos_scores", "machine", "resample", "speech_words", "wer", "whisper_words"]
