# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Audio for LLaMA-Omni's processor: decode files and bytes, accept arrays/tensors/lists (with a sampling rate),
(array, sampling_rate) tuples, datasets dicts and torchcodec decoders, downmix, resample to 16 kHz and validate
(empty, silent, too short or too long clips are clear errors).

Imports only numpy, torch and the standard library (torchcodec/torchaudio lazily), so that it can be copied into a
model folder with `processing_llama_omni.py` for `trust_remote_code=True`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
import torch

SAMPLING_RATE = 16000
MIN_AUDIO_SECONDS = 0.1
SILENCE_PEAK = 1e-4
_FLOAT_SLACK = 1e-3


AudioLike = Union[
    np.ndarray, torch.Tensor, Sequence[float], str, os.PathLike, Mapping[str, Any], tuple[Any, int]
]

_ACCEPTED_TYPES = (
    "a numpy array, a torch tensor, a list of numbers (raw samples, with sampling_rate=...), an (array, "
    "sampling_rate) tuple, a file path (str / os.PathLike), a dict {'array': ..., 'sampling_rate': ...} (datasets "
    "style) or a torchcodec AudioDecoder"
)
_ACCEPTED_DTYPES = (
    "float16/float32/float64 in [-1, 1], int16 PCM, int32 PCM, uint8 PCM, "
    "or int64 / Python ints holding 16-bit PCM values in [-32768, 32767]"
)
_ACCEPTED_SHAPES = (
    "1-D (samples,) mono, or 2-D multi-channel as (channels, samples) or (samples, channels) with at most 8 "
    "channels, fewer than samples (it is downmixed by averaging the channels)"
)


# --------------------------------------------------------------------------------------------------------------
# Audio loading
# --------------------------------------------------------------------------------------------------------------


def _clean_decoder_error(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    # torchcodec prefixes its messages with the C++ source location.
    return re.sub(r"^.*?\.cpp:\d+,\s*", "", msg)


def _decode_file(path: str) -> tuple[np.ndarray, int]:
    """Decode an audio file to a float32 (channels, samples) array and its sampling rate."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        raise ValueError(
            f"audio {path!r} looks like a URL; only local files are accepted (nothing is downloaded). "
            "Download it first and pass the local path."
        )
    if not os.path.exists(path):
        raise ValueError(f"audio file not found: {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"audio path {path!r} is a directory, not an audio file")

    errors = []
    have_decoder = False
    try:
        from torchcodec.decoders import AudioDecoder  # lazy: needs FFmpeg's shared libraries
    except Exception as e:  # ImportError, or OSError/RuntimeError when FFmpeg libraries are missing
        errors.append(f"torchcodec unavailable ({_clean_decoder_error(e)})")
    else:
        have_decoder = True
        try:
            samples = AudioDecoder(path).get_all_samples()
            data = samples.data.detach().cpu().numpy().astype(np.float32, copy=False)
            return np.atleast_2d(data), int(samples.sample_rate)
        except Exception as e:
            errors.append(f"torchcodec/FFmpeg: {_clean_decoder_error(e)}")

    try:
        import soundfile as sf  # lazy
    except ImportError:
        errors.append("soundfile unavailable (not installed)")
    else:
        have_decoder = True
        try:
            data, sr = sf.read(path, dtype="float32", always_2d=True)  # (samples, channels)
            return np.ascontiguousarray(data.T), int(sr)
        except Exception as e:
            errors.append(f"soundfile: {_clean_decoder_error(e)}")

    if not have_decoder:
        raise ImportError(
            f"cannot decode audio file {path!r}: neither torchcodec (with FFmpeg) nor soundfile is usable "
            f"({'; '.join(errors)}). Install one: `pip install torchcodec` (plus FFmpeg) or `pip install soundfile`."
        )
    raise ValueError(
        f"could not decode audio file {path!r}: it is corrupt or not an audio format FFmpeg/libsndfile can read "
        f"({'; '.join(errors)})"
    )


def _decode_bytes(data: bytes) -> tuple[np.ndarray, int]:
    errors = []
    try:
        from torchcodec.decoders import AudioDecoder

        samples = AudioDecoder(data).get_all_samples()
        return np.atleast_2d(samples.data.detach().cpu().numpy().astype(np.float32)), int(samples.sample_rate)
    except Exception as e:
        errors.append(f"torchcodec/FFmpeg: {_clean_decoder_error(e)}")
    try:
        import io

        import soundfile as sf

        arr, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        return np.ascontiguousarray(arr.T), int(sr)
    except Exception as e:
        errors.append(f"soundfile: {_clean_decoder_error(e)}")
    raise ValueError(f"could not decode the audio bytes ({'; '.join(errors)})")


def _to_float_array(array: np.ndarray) -> np.ndarray:
    """Check the dtype and scale to float in [-1, 1] (float32 or float64)."""
    kind, dt = array.dtype.kind, array.dtype
    if kind == "f":
        if array.size and not np.all(np.isfinite(array)):
            raise ValueError("audio contains NaN or inf values; pass finite samples")
        array = array.astype(np.float32) if dt == np.float16 else array
        peak = float(np.max(np.abs(array))) if array.size else 0.0
        if peak > 1.0 + _FLOAT_SLACK:
            raise ValueError(
                f"float audio must lie in [-1, 1] but its peak is {peak:.4g}; normalise it first "
                "(e.g. x / 32768 for 16-bit PCM values, or x / abs(x).max()), or pass int16 PCM"
            )
        return array
    if dt == np.int16:
        return array.astype(np.float32) / 32768.0
    if dt == np.int32:
        return (array.astype(np.float64) / 2.0**31).astype(np.float32)
    if dt == np.uint8:
        return (array.astype(np.float32) - 128.0) / 128.0
    if dt == np.int64:
        if array.size:
            lo, hi = int(array.min()), int(array.max())
            if lo < -32768 or hi > 32767:
                raise ValueError(
                    f"integer PCM out of range: int64 arrays and Python int lists are read as 16-bit PCM and must "
                    f"lie in [-32768, 32767], got values in [{lo}, {hi}]; pass int32 for 32-bit PCM or float "
                    "samples in [-1, 1]"
                )
        return array.astype(np.float32) / 32768.0
    raise ValueError(f"unsupported audio dtype {dt} (accepted dtypes: {_ACCEPTED_DTYPES})")


def _downmix(array: np.ndarray, channels_axis: int | None = None) -> np.ndarray:
    if array.ndim == 1:
        return array
    if array.ndim != 2:
        raise ValueError(f"audio has {array.ndim} dimensions {tuple(array.shape)}; accepted shapes: {_ACCEPTED_SHAPES}")
    if channels_axis is None:
        a, b = array.shape
        if a <= 8 and a < b:
            channels_axis = 0
        elif b <= 8 and b < a:
            channels_axis = 1
        else:
            raise ValueError(
                f"ambiguous audio shape {tuple(array.shape)}: cannot tell the channels axis; accepted shapes: "
                f"{_ACCEPTED_SHAPES}. To pass several clips, pass a list of 1-D arrays."
            )
    return array.mean(axis=channels_axis)


def _check_sampling_rate(sampling_rate: Any) -> int:
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, float, np.integer, np.floating)):
        raise ValueError(f"sampling_rate must be a positive integer (Hz), got {sampling_rate!r}")
    if not math.isfinite(float(sampling_rate)) or float(sampling_rate) != int(sampling_rate) or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive integer (Hz), got {sampling_rate!r}")
    return int(sampling_rate)


def _resample(array: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return array
    try:
        import torchaudio.functional as AF  # lazy
    except Exception as e:
        raise ImportError(
            f"resampling audio from {orig_sr} Hz to {target_sr} Hz needs torchaudio ({e}); "
            "`pip install torchaudio`, or pass audio already sampled at "
            f"{target_sr} Hz"
        ) from e
    wav = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    return AF.resample(wav, orig_freq=orig_sr, new_freq=target_sr).numpy()


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_))


def _is_raw_samples(x: Any) -> bool:
    """An array, a tensor, or a non-empty list/tuple that is not a list of clips (its items are numbers or lists
    of numbers, one per channel)."""
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return True
    if isinstance(x, (list, tuple)) and len(x) > 0:
        return all(_is_number(v) for v in x) or all(
            isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_number(w) for w in v) for v in x
        )
    return False


def split_array_and_rate(audio: Any) -> tuple[Any, Any] | None:
    """`(samples, sampling_rate)` when `audio` is the `(array, sampling_rate)` tuple form of one clip, else None.

    The form is a 2-tuple whose first item holds raw samples (an array, a tensor or a list of numbers) and whose
    second is a number. A 2-tuple of two clips (e.g. two arrays) stays a batch of two clips.

    Raises:
        ValueError: a `(path, sampling_rate)` tuple (a file carries its own rate; pass the path alone), or a
            `(sampling_rate, array)` tuple (the rate comes second).
    """
    if not isinstance(audio, tuple) or len(audio) != 2:
        return None
    first, second = audio
    if _is_number(second) and isinstance(first, (str, os.PathLike)):
        raise ValueError(
            f"got a ({type(first).__name__}, {second!r}) tuple: an audio file carries its own sampling rate, so "
            "pass the path alone (the (array, sampling_rate) tuple form is for raw samples)"
        )
    if _is_number(first) and isinstance(second, (np.ndarray, torch.Tensor, list)):
        raise ValueError(
            "got a (number, array) tuple: the (array, sampling_rate) form takes the samples first and the sampling "
            "rate second"
        )
    if _is_number(second) and not _is_number(first) and _is_raw_samples(first):
        return first, second
    return None


def load_audio(
    audio: AudioLike,
    sampling_rate: int | None = None,
    target_sampling_rate: int = SAMPLING_RATE,
    max_seconds: float | None = 30.0,
    min_seconds: float = MIN_AUDIO_SECONDS,
) -> np.ndarray:
    """Load, check and convert one audio clip to a float32, mono, 1-D array at `target_sampling_rate`.

    Args:
        audio: one of
            - a numpy array, torch tensor or list of numbers (raw samples; `sampling_rate` is then required);
              dtypes: float16/32/64 in [-1, 1] (1e-3 slack), int16 (/32768), int32 (/2**31), uint8 ((x-128)/128),
              int64 and Python ints as 16-bit PCM in [-32768, 32767]. Shapes: 1-D, or 2-D multi-channel as
              (channels, samples) or (samples, channels) with <= 8 channels, downmixed by averaging;
            - an `(array, sampling_rate)` tuple: raw samples as above with their rate (`sampling_rate` is then
              ignored);
            - a file path (str / os.PathLike), decoded with torchcodec (FFmpeg), else soundfile, at the file's own
              sampling rate (`sampling_rate` is ignored);
            - a dict {"array": ..., "sampling_rate": ...} (datasets style; {"path": ...} and {"bytes": ...} work
              too), or a torchcodec `AudioDecoder`.
        sampling_rate: sampling rate in Hz of raw arrays (files, dicts with a rate and tuples carry their own).
        target_sampling_rate: the rate to resample to (with torchaudio.functional.resample).
        max_seconds: longest accepted duration (None: no limit). 30 s is what the Whisper encoder takes.
        min_seconds: shortest accepted duration.

    Returns:
        np.ndarray: float32, shape (n_samples,), at `target_sampling_rate`.

    Raises:
        ValueError: unsupported type, dtype or shape; raw array without `sampling_rate`; missing, corrupt or
            undecodable file; empty, non-finite, out-of-range, silent (peak < 1e-4), too short or too long audio.
            The message says what was wrong and what is accepted.
        ImportError: a file must be decoded or audio resampled and no library for it is installed.
    """
    channels_axis = None
    source = "audio"
    pair = split_array_and_rate(audio)
    if pair is not None:
        audio, sampling_rate = pair
    if hasattr(audio, "get_all_samples") and not isinstance(audio, Mapping):  # torchcodec AudioDecoder
        try:
            samples = audio.get_all_samples()
        except Exception as e:
            raise ValueError(f"could not decode audio from {type(audio).__name__}: {_clean_decoder_error(e)}") from e
        array, sampling_rate, channels_axis = samples.data.detach().cpu().numpy(), int(samples.sample_rate), 0
        array = np.atleast_2d(array)
    elif isinstance(audio, Mapping):
        if audio.get("array") is not None:
            array = audio["array"]
            if audio.get("sampling_rate") is not None:
                sampling_rate = audio["sampling_rate"]
        elif audio.get("path"):
            source = f"audio file {os.fspath(audio['path'])!r}"
            array, sampling_rate = _decode_file(os.fspath(audio["path"]))
            channels_axis = 0
        elif audio.get("bytes"):
            array, sampling_rate = _decode_bytes(audio["bytes"])
            channels_axis = 0
        else:
            raise ValueError(
                f"audio dict must have an 'array' (with 'sampling_rate'), a 'path' or 'bytes' key; got keys "
                f"{sorted(audio)}"
            )
    elif isinstance(audio, (str, os.PathLike)):
        path = os.fspath(audio)
        source = f"audio file {path!r}"
        array, sampling_rate = _decode_file(path)
        channels_axis = 0
    else:
        array = audio

    if isinstance(array, torch.Tensor):
        t = array.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        array = t.numpy()
    elif isinstance(array, (list, tuple)):
        try:
            array = np.asarray(array)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"could not read the audio list as an array ({e}); pass a flat list of numbers, or one list per "
                "channel of equal length"
            ) from e
    elif isinstance(array, np.generic):
        array = np.asarray(array)
    elif not isinstance(array, np.ndarray):
        raise ValueError(f"unsupported audio type {type(audio).__name__}; accepted: {_ACCEPTED_TYPES}")

    if array.dtype.kind not in "iuf":
        raise ValueError(f"unsupported audio dtype {array.dtype} (accepted dtypes: {_ACCEPTED_DTYPES})")
    if array.ndim == 0 or array.ndim > 2:
        raise ValueError(
            f"audio has shape {tuple(array.shape)}; accepted shapes: {_ACCEPTED_SHAPES}. "
            "To pass several clips, pass a list of 1-D arrays."
        )
    if array.size == 0:
        raise ValueError(f"{source} is empty (0 samples)")
    if sampling_rate is None:
        raise ValueError(
            "sampling_rate is required for raw audio arrays (numpy arrays, torch tensors, lists): pass "
            f"sampling_rate=... (e.g. {target_sampling_rate} if it is already at {target_sampling_rate} Hz), "
            "or pass a file path, an (array, sampling_rate) tuple or a {'array': ..., 'sampling_rate': ...} dict"
        )
    sampling_rate = _check_sampling_rate(sampling_rate)

    array = _to_float_array(array)
    array = _downmix(array, channels_axis)
    if array.size == 0:
        raise ValueError(f"{source} is empty (0 samples)")

    seconds = array.shape[0] / sampling_rate
    if seconds < min_seconds:
        raise ValueError(f"{source} is too short: {seconds:.3f} s, the minimum is {min_seconds} s")
    if max_seconds is not None and seconds > max_seconds:
        raise ValueError(
            f"{source} is too long: {seconds:.2f} s, the limit is {max_seconds} s (what the Whisper encoder "
            "accepts); cut it into shorter clips"
        )
    peak = float(np.max(np.abs(array)))
    if peak < SILENCE_PEAK:
        raise ValueError(f"{source} is silent (peak amplitude {peak:.2e} < {SILENCE_PEAK}); nothing to listen to")

    target_sampling_rate = _check_sampling_rate(target_sampling_rate)
    array = _resample(array.astype(np.float32, copy=False), sampling_rate, target_sampling_rate)
    return np.ascontiguousarray(array, dtype=np.float32)


def as_clip_list(audio: Any) -> list:
    """One clip or a list of clips -> list of clips.

    One clip: an array, a tensor, a path, a dict, a torchcodec decoder, a list of numbers, or an
    `(array, sampling_rate)` tuple (see `split_array_and_rate`). Anything else that is a list or tuple is a batch,
    one clip per item (each item any one-clip form).

    Raises:
        ValueError: an unsupported type, or a list that mixes clips with bare numbers (e.g. `[array, 16000]`: for
            one clip with its rate use the tuple `(array, 16000)`).
    """
    if audio is None:
        return []
    if isinstance(audio, (np.ndarray, torch.Tensor, str, os.PathLike, Mapping)) or hasattr(audio, "get_all_samples"):
        return [audio]
    if isinstance(audio, (list, tuple)):
        if len(audio) > 0 and all(_is_number(x) for x in audio):
            return [audio]  # a single clip given as a list of numbers
        if split_array_and_rate(audio) is not None:
            return [audio]  # a single (array, sampling_rate) clip
        numbers = [i for i, x in enumerate(audio) if _is_number(x)]
        if numbers:
            raise ValueError(
                f"ambiguous audio: a {type(audio).__name__} that mixes clips with bare numbers (items {numbers}); "
                "for one clip with its sampling rate pass the tuple (array, sampling_rate), for a batch pass a list "
                "of clips (each an array, an (array, sampling_rate) tuple, a path, a dict or a decoder)"
            )
        return list(audio)
    raise ValueError(f"unsupported audio type {type(audio).__name__}; accepted: {_ACCEPTED_TYPES}, or a list of those")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


__all__ = [
    "MIN_AUDIO_SECONDS",
    "SAMPLING_RATE",
    "SILENCE_PEAK",
    "AudioLike",
    "as_clip_list",
    "load_audio",
    "plural",
    "split_array_and_rate",
]
