"""Helpers shared by the benchmarks: word error rates, speech quality (distillMOS), resampling, the machine's facts.

Two text normalisations are used, and each figure says which:
- `speech_words`: the repo's speech normaliser (numbers and symbols as words), lower case, letters and apostrophes;
  for text written to be spoken (TTS round trips, vocoder resynthesis of known sentences).
- `whisper_words`: transformers' Whisper English normaliser (the one the Whisper paper's WERs use), for comparing
  a model's text answer with the transcript of its speech answer.
"""

from __future__ import annotations

import os
import platform
import re
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np


def speech_words(text: str) -> str:
    """The repo's speech normalisation, lower case, letters and apostrophes only."""
    from processing.text_normalizer import normalize_for_speech

    text = normalize_for_speech(text).lower().replace("-", " ")
    return " ".join(re.findall(r"[a-z']+", text))


@lru_cache(maxsize=1)
def _whisper_normalizer():
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer({})


def whisper_words(text: str) -> str:
    """transformers' Whisper English text normaliser (no spelling map)."""
    return _whisper_normalizer()(text)


def wer(references: Sequence[str], hypotheses: Sequence[str], normalize: Callable[[str], str] = speech_words) -> float:
    """Corpus word error rate (jiwer) after `normalize` on both sides; empty references are skipped, an empty
    hypothesis counts as all deletions."""
    import jiwer

    refs = [normalize(r) for r in references]
    hyps = [normalize(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r.strip()]
    if not keep:
        raise ValueError("no non-empty reference to score")
    return float(jiwer.wer([refs[i] for i in keep], [hyps[i] or "<empty>" for i in keep]))


def resample(audio: np.ndarray, orig_sr: int, target_sr: int = 16000) -> np.ndarray:
    """Band-limited resampling (torchaudio) of a mono float clip."""
    if orig_sr == target_sr:
        return np.asarray(audio, dtype=np.float32)
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.as_tensor(np.asarray(audio, dtype=np.float32)), orig_sr, target_sr).numpy()


@lru_cache(maxsize=1)
def _distillmos():
    import distillmos

    model = distillmos.ConvTransformerSQAModel()
    return model.eval()


def distillmos_scores(clips: Sequence[np.ndarray], sampling_rate: int) -> list[float]:
    """distillMOS (pip `distillmos`, its bundled weights) of each clip; clips are resampled to 16 kHz."""
    import torch

    model = _distillmos()
    scores = []
    with torch.no_grad():
        for clip in clips:
            x = torch.as_tensor(resample(clip, sampling_rate, 16000))[None]
            scores.append(float(model(x).squeeze()))
    return scores


def machine() -> dict:
    """The facts a timing depends on."""
    import torch

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_1min": round(os.getloadavg()[0], 2), "torch": torch.__version__}


__all__ = ["distillmos_scores", "machine", "resample", "speech_words", "wer", "whisper_words"]
