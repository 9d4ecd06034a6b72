# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The TTS voice interface (`TTSVoice`), its errors and speech checks, and the helpers every back-end shares
(running a program safely, reading its wav, espeak-ng phonemes). The back-ends are in `tts` and `piper`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np

from processing.processing_llama_omni import SAMPLING_RATE, load_audio

DEFAULT_TIMEOUT = 60.0
MIN_SPEECH_SECONDS = 0.1
SILENT_PEAK = 1e-3
CLIP_LEVEL = 0.999
MAX_CLIPPED_SHARE = 1e-3


class TTSError(RuntimeError):
    """A TTS back-end failed (program error, timeout, model error)."""


class TTSUnavailableError(TTSError):
    """A TTS back-end cannot run here: a program, package or model file is missing."""


class InvalidSpeechError(ValueError):
    """Synthesized audio failed the checks: empty, too short, silent, clipped or not finite."""


def check_speech(audio: np.ndarray, sampling_rate: int, source: str = "audio") -> np.ndarray:
    """Checks that `audio` can be speech and returns it as float32 1-D.

    Args:
        audio: 1-D float samples (nominally in [-1, 1]).
        sampling_rate: its rate in Hz.
        source: a name for the error messages.

    Raises:
        InvalidSpeechError: empty or not 1-D, not finite, shorter than 0.1 s, silent (peak < 1e-3), or clipped (more
            than 0.1 % of the samples at |x| >= 0.999, or any |x| > 1).
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise InvalidSpeechError(f"{source}: expected non-empty 1-D audio, got shape {tuple(audio.shape)}")
    if not np.isfinite(audio).all():
        raise InvalidSpeechError(f"{source}: audio has NaN or infinite samples")
    seconds = audio.size / sampling_rate
    if seconds < MIN_SPEECH_SECONDS:
        raise InvalidSpeechError(f"{source}: audio is too short ({seconds:.3f} s < {MIN_SPEECH_SECONDS} s)")
    peak = float(np.abs(audio).max())
    if peak < SILENT_PEAK:
        raise InvalidSpeechError(f"{source}: audio is silent (peak {peak:.2e} < {SILENT_PEAK})")
    if peak > 1.0 + 1e-6:
        raise InvalidSpeechError(f"{source}: audio is clipped (peak {peak:.3f} > 1)")
    clipped = float(np.mean(np.abs(audio) >= CLIP_LEVEL))
    if clipped > MAX_CLIPPED_SHARE:
        raise InvalidSpeechError(f"{source}: audio is clipped ({100 * clipped:.2f} % of the samples at full scale)")
    return audio


def check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).replace("\x00", " ").strip()
    if not text or not any(ch.isalnum() for ch in text):
        raise ValueError(f"nothing to say: the text {text!r} has no letters or digits")
    return text


def text_seed(seed: int, text: str) -> int:
    """A stable 63-bit seed from a voice seed and a text (the same across runs and machines)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def find_program(program: str, package_hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise TTSUnavailableError(
            f"the program {program!r} is not installed or not on PATH; install it with `{package_hint}`"
        )
    return path


def run_program(argv: list[str], timeout: float, stdin_text: str | None = None) -> subprocess.CompletedProcess:
    """Runs a program (argument list, no shell) and returns the completed process.

    Raises:
        TTSUnavailableError: the program vanished. TTSError: it failed or timed out.
    """
    try:
        result = subprocess.run(
            argv,
            input=stdin_text.encode("utf-8") if stdin_text is not None else None,
            stdin=None if stdin_text is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as e:
        raise TTSUnavailableError(f"cannot run {argv[0]!r}: {e}") from e
    except subprocess.TimeoutExpired as e:
        raise TTSError(f"{os.path.basename(argv[0])} timed out after {timeout} s") from e
    if result.returncode != 0:
        stderr = result.stderr.decode("utf-8", "replace").strip()[-500:]
        raise TTSError(f"{os.path.basename(argv[0])} failed with exit code {result.returncode}: {stderr}")
    return result


def read_wav(path: str, source: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        audio, sampling_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError
        raise TTSError(f"{source} wrote no readable audio: {e}") from e
    return audio.mean(axis=1), int(sampling_rate)


class TTSVoice:
    """One TTS voice. Subclasses implement `_synthesize_native(text) -> (float audio, sampling_rate)`.

    Attributes:
        name: the registry name (e.g. "flite:slt"), recorded in datasets as the voice of an example.
        sampling_rate: the rate of the returned audio (16 000 Hz).
    """

    name: str = "voice"
    sampling_rate: int = SAMPLING_RATE

    def _synthesize_native(self, text: str) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _finish(self, audio: np.ndarray, native_rate: int) -> np.ndarray:
        audio = check_speech(audio, native_rate, source=f"{self.name} output")
        return load_audio(
            audio,
            sampling_rate=native_rate,
            target_sampling_rate=self.sampling_rate,
            max_seconds=None,
            min_seconds=MIN_SPEECH_SECONDS,
        )

    def synthesize(self, text: str) -> np.ndarray:
        """Speaks `text`.

        Args:
            text: the text (plain words; non-empty, with at least one letter or digit).

        Returns:
            float32 mono audio at `self.sampling_rate` (16 kHz), shape `(samples,)`.

        Raises:
            TypeError / ValueError: `text` is not a str or has nothing to say.
            TTSUnavailableError: the back-end cannot run here (missing program / package / model).
            TTSError: the back-end failed or timed out.
            InvalidSpeechError: the audio is empty, silent or clipped.
        """
        text = check_text(text)
        audio, native_rate = self._synthesize_native(text)
        return self._finish(audio, native_rate)

    def synthesize_batch(self, texts: Iterable[str], progress: bool = False) -> list[np.ndarray]:
        """`synthesize` for each text, in order (raises on the first failure, as `synthesize`)."""
        texts = list(texts)
        if progress:
            from tqdm.auto import tqdm

            texts = tqdm(texts, desc=f"TTS {self.name}", unit="text")
        return [self.synthesize(text) for text in texts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def espeak_phonemize(text: str, voice: str = "en-us", timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """IPA phonemes of `text` with `espeak-ng -q --ipa`, one string per clause (espeak-ng drops punctuation).

    Raises:
        TTSUnavailableError: espeak-ng is not installed. TTSError: it failed.
    """
    program = find_program("espeak-ng", "apt-get install espeak-ng")
    result = run_program([program, "-q", "--ipa", "-v", voice, "--stdin"], timeout, stdin_text=text)
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    return [unicodedata.normalize("NFD", line.strip()) for line in lines if line.strip()]
