# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The per-shard work of an InstructS2S build: the components (writer, voices), the audio checks and the pipeline.

    read      the shard's rows (from the plan, ``processing.instructs2s.shards``)
    rewrite   step 1: the instruction as a person would say it (an LLM "writer", then the speech normalizer)
    respond   step 2: the answer, written to be read aloud (same writer); or the source's own responses
    speak     step 3: the instruction in a voice drawn per example from several, the response in one voice
              (``offline_assets.tts``; 16 kHz mono float)
    units     step 4: discrete units of the response speech (``processing.instructs2s.units``)

Every example is validated (speakable text within the word limits, audio neither empty, silent nor clipped and
within the length limits, units non-empty); a rejected example is recorded in the shard's manifest with its step,
reason and text, never dropped silently. :class:`ShardPipeline` loads its writer, voices and unit extractor once
(lazily); it runs in the main process or, with ``num_proc > 1``, in each spawned worker (:func:`init_worker`).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .recipe import BuildConfig, BuildConfigError, WriterConfig
from .shards import FORMAT_VERSION, SAMPLING_RATE, example_seed, features, load_shard, publish_shard

logger = logging.getLogger(__name__)

__all__ = ["ShardPipeline", "load_writer", "speak", "validate_audio"]


def torch_dtype(name: str | None) -> Any:
    """The torch dtype named `name` (``"bfloat16"``, ...); None and ``"auto"`` pass through.

    Raises ``BuildConfigError`` for a name that is not a torch dtype.
    """
    if name is None or name == "auto":
        return name
    import torch

    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype):
        raise BuildConfigError(f"writer.dtype {name!r} is not a torch dtype (float32, bfloat16, float16, auto)")
    return dtype


def import_object(spec: str) -> Any:
    """The object ``"package.module:attribute.path"`` names. Raises ``BuildConfigError`` when it cannot be imported."""
    module_name, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as error:
        raise BuildConfigError(f"writer.factory {spec!r}: cannot import {module_name!r} ({error})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BuildConfigError(f"writer.factory {spec!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def load_writer(config: WriterConfig) -> Any:
    """The :class:`processing.instructs2s.writers.Writer` a :class:`WriterConfig` describes.

    Raises ``BuildConfigError`` (bad factory), ``ModuleNotFoundError`` (SmolLM2's asset package missing),
    ``OSError`` (a model that cannot be found, e.g. a Hub id offline) and ``TypeError`` (a factory that does not
    return a Writer).
    """
    from .writers import OpenAICompatibleWriter, TransformersChatWriter, Writer

    if config.kind == "smollm2":
        from offline_assets.sources import load_smollm2

        dtype = torch_dtype(config.dtype)
        model, tokenizer = load_smollm2(dtype) if dtype not in (None, "auto") else load_smollm2()
        return TransformersChatWriter(model, tokenizer, batch_size=config.batch_size, device=config.device)
    if config.kind == "transformers":
        return TransformersChatWriter.from_pretrained(
            config.model, gguf_file=config.gguf_file, dtype=torch_dtype(config.dtype), device=config.device,
            batch_size=config.batch_size,
        )  # fmt: skip
    if config.kind == "openai":
        api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if config.api_key_env and not api_key:
            logger.warning("writer: the environment variable %s is not set; sending no API key", config.api_key_env)
        return OpenAICompatibleWriter(
            config.base_url, config.model, api_key=api_key or "", timeout=config.timeout,
            max_retries=config.max_retries, concurrency=config.concurrency,
        )  # fmt: skip
    factory = import_object(config.factory)
    writer = factory(**config.kwargs)
    if not isinstance(writer, Writer):
        raise TypeError(f"writer.factory {config.factory!r} returned a {type(writer).__name__}, not a Writer")
    return writer


def load_voice(name: str, overrides: Mapping[str, Any] | None, options: Mapping[str, Any] | None = None) -> Any:
    """The voice `name`: the injected one in `overrides`, else ``get_voice(name, **options[name])``.

    Raises ``BuildConfigError`` for an unknown voice or bad options, ``offline_assets.tts.TTSUnavailableError``
    for a voice that cannot run here.
    """
    from offline_assets.tts import get_voice, list_voices

    if overrides and name in overrides:
        return overrides[name]
    try:
        return get_voice(name, **dict((options or {}).get(name, {})))
    except TypeError as error:
        raise BuildConfigError(f"voice_options for {name!r}: {error}") from None
    except ValueError as error:
        raise BuildConfigError(f"unknown voice {name!r}: {error}. Offline voices: {', '.join(list_voices())}; "
                               "or transformers:<model id or folder>") from None


def validate_audio(
    audio: Any,
    sampling_rate: int = SAMPLING_RATE,
    *,
    min_seconds: float = 0.3,
    max_seconds: float | None = 30.0,
    silence_peak: float = 1e-3,
    silence_rms: float = 1e-3,
    clip_level: float = 0.999,
    max_clipped_fraction: float = 1e-3,
) -> str | None:
    """``None`` when `audio` (1-D float samples in [-1, 1]) is acceptable speech, else the reason.

    Reasons, in the order checked: ``"empty audio"``, ``"not mono"`` (not 1-D), ``"not finite"``, ``"silent"``
    (peak below `silence_peak` or RMS below `silence_rms`), ``"clipped"`` (any sample beyond 1, or more than
    `max_clipped_fraction` of the samples at ``|x| >= clip_level``), ``"too short"``, ``"too long"``.
    """
    array = np.asarray(audio, dtype=np.float32)
    if array.size == 0:
        return "empty audio"
    if array.ndim != 1:
        return "not mono"
    if not np.isfinite(array).all():
        return "not finite"
    magnitude = np.abs(array)
    peak = float(magnitude.max())
    rms = float(np.sqrt(np.mean(np.square(array, dtype=np.float64))))
    if peak < silence_peak or rms < silence_rms:
        return "silent"
    if peak > 1.0 + 1e-6 or float(np.mean(magnitude >= clip_level)) > max_clipped_fraction:
        return "clipped"
    seconds = array.size / float(sampling_rate)
    if seconds < min_seconds:
        return "too short"
    if max_seconds is not None and seconds > max_seconds:
        return "too long"
    return None


def speech_error_reason(error: Exception) -> str:
    """A short reason for an ``InvalidSpeechError`` / ``ValueError`` raised while synthesizing."""
    message = str(error).lower()
    for key, reason in (("silent", "silent"), ("clipped", "clipped"), ("too short", "too short"),
                        ("too long", "too long"), ("nan", "not finite"), ("infinite", "not finite"),
                        ("empty", "empty audio"), ("nothing to say", "nothing to say")):
        if key in message:
            return reason
    return "invalid audio"


def reason_key(reason: str) -> str:
    """The countable part of a reason: ``"too long: 93 words > 80"`` -> ``"too long"``."""
    return reason.split(":", 1)[0].strip() or reason


def speak(voice: Any, text: str, seed: int) -> np.ndarray:
    """Synthesize with the per-example noise seed (Piper takes it per call; transformers voices read `.seed`)."""
    from offline_assets.tts import PiperVoice

    if isinstance(voice, PiperVoice):
        return voice.synthesize(text, seed=seed)
    if hasattr(voice, "seed") and isinstance(getattr(voice, "seed"), int):
        voice.seed = seed
    return voice.synthesize(text)


# ---------------------------------------------------------------------------------------------------------
# The per-shard work (runs in the main process or in spawned workers)
# ---------------------------------------------------------------------------------------------------------


class ShardPipeline:
    """Loads the writer, voices and unit extractor once (lazily) and builds shards.

    Args:
        config: the recipe.
        build_dir: the build's ``_build`` folder (shards are published under ``speech/`` and ``units/``).
        writer, voices, extractor: injected components used instead of the recipe's (see ``build_dataset``).
        extractor_dir: the saved unit extractor to load for step 4 (when none is injected).
        progress: show progress bars.
    """

    def __init__(
        self,
        config: BuildConfig,
        build_dir: str,
        writer: Any = None,
        voices: Mapping[str, Any] | None = None,
        extractor: Any = None,
        extractor_dir: str | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.build_dir = Path(build_dir)
        self._writer = writer
        self._voice_overrides = dict(voices or {})
        self._voices: dict[str, Any] = {}
        self._extractor = extractor
        self.extractor_dir = extractor_dir
        self.progress = progress
        self.load_seconds: dict[str, float] = {}

    # components -------------------------------------------------------------------------------------------
    @property
    def writer(self) -> Any:
        """The writer (loaded from the recipe at first use, unless injected)."""
        if self._writer is None:
            start = time.perf_counter()
            self._writer = load_writer(self.config.writer)
            self.load_seconds["writer"] = round(time.perf_counter() - start, 3)
        return self._writer

    def voice(self, name: str) -> Any:
        """The voice `name` (loaded at first use, unless injected)."""
        if name not in self._voices:
            self._voices[name] = load_voice(name, self._voice_overrides, self.config.voice_options)
        return self._voices[name]

    @property
    def extractor(self) -> Any:
        """The unit extractor (loaded from `extractor_dir` at first use, unless injected)."""
        if self._extractor is None:
            from .units import UnitExtractor

            start = time.perf_counter()
            units = self.config.units
            self._extractor = UnitExtractor.from_pretrained(
                self.extractor_dir, device=units.device, batch_size=units.batch_size, deduplicate=units.deduplicate
            )
            self.load_seconds["unit_extractor"] = round(time.perf_counter() - start, 3)
        return self._extractor

    def _bar(self, iterable: Any, desc: str, total: int | None = None) -> Any:
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False, disable=not self.progress, unit="ex")

    # step 1 and 2 ---------------------------------------------------------------------------------------
    def _text_step(self, function: Any, texts: list[str], desc: str, shard: str, **kwargs: Any) -> list:
        batch = max(1, int(getattr(self.writer, "batch_size", self.config.writer.batch_size)))
        results: list = []
        bar = self._bar(None, desc, total=len(texts))
        try:
            for chunk, start in enumerate(range(0, len(texts), batch)):
                part = texts[start : start + batch]
                seed = example_seed(self.config.seed, shard, desc, chunk) % (2**31)
                results.extend(function(part, self.writer, temperature=self.config.writer.temperature, seed=seed,
                                        **kwargs))
                bar.update(len(part))
        finally:
            bar.close()
        return results

    def speech_shard(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Steps 1-3 of one shard; publishes ``_build/speech/<name>`` and returns its manifest."""
        import datasets

        from .text_normalizer import check_speakable, normalize_for_speech
        from offline_assets.tts import InvalidSpeechError, TTSError, TTSUnavailableError
        from .writers import respond_for_speech, rewrite_for_speech

        config, name, rows = self.config, spec["name"], spec["rows"]
        timings: dict[str, float] = defaultdict(float)
        rejected: list[dict[str, Any]] = []
        alive: list[int] = list(range(len(rows)))
        instruction: dict[int, str] = {}
        response: dict[int, str] = {}

        def reject(i: int, step: str, reason: str, text: str = "", detail: str = "") -> None:
            rejected.append({"id": rows[i]["id"], "split": spec["split"], "step": step, "reason": reason_key(reason),
                             "detail": detail or reason, "text": text[:500],
                             "instruction": rows[i]["instruction"][:500]})

        # step 1: the instruction as spoken
        start = time.perf_counter()
        if config.rewrite:
            results = self._text_step(rewrite_for_speech, [rows[i]["instruction"] for i in alive], "rewrite", name,
                                      max_words=config.max_instruction_words,
                                      max_new_tokens=config.writer.rewrite_max_new_tokens)
            for i, result in zip(alive, results):
                if result.ok:
                    instruction[i] = result.text
                else:
                    reject(i, "rewrite", result.rejected, result.raw or result.text)
            timings["rewrite"] += time.perf_counter() - start
        else:
            for i in alive:
                text = normalize_for_speech(rows[i]["instruction"])
                reason = check_speakable(text, max_words=config.max_instruction_words)
                if reason is None:
                    instruction[i] = text
                else:
                    reject(i, "instruction_text", reason, rows[i]["instruction"])
            timings["instruction_text"] += time.perf_counter() - start
        alive = [i for i in alive if i in instruction]

        # step 2: the response, written to be spoken
        start = time.perf_counter()
        if config.respond:
            results = self._text_step(respond_for_speech, [instruction[i] for i in alive], "respond", name,
                                      max_words=config.max_response_words,
                                      max_new_tokens=config.writer.respond_max_new_tokens)
            for i, result in zip(alive, results):
                if result.ok:
                    response[i] = result.text
                else:
                    reject(i, "respond", result.rejected, result.raw or result.text)
            timings["respond"] += time.perf_counter() - start
        else:
            for i in alive:
                given = rows[i].get("answer")
                if not isinstance(given, str) or not given.strip():
                    reject(i, "response_text", "no response in the source")
                    continue
                text = normalize_for_speech(given)
                reason = check_speakable(text, max_words=config.max_response_words)
                if reason is None:
                    response[i] = text
                else:
                    reject(i, "response_text", reason, given)
            timings["response_text"] += time.perf_counter() - start
        alive = [i for i in alive if i in response]

        # step 3: speech
        limits = config.validation
        common = dict(min_seconds=limits.min_seconds, silence_peak=limits.silence_peak, silence_rms=limits.silence_rms,
                      clip_level=limits.clip_level, max_clipped_fraction=limits.max_clipped_fraction)
        speech: dict[str, dict[int, np.ndarray]] = {"instruction": {}, "response": {}}
        voice_of: dict[int, str] = {}
        for what, max_seconds in (("instruction", limits.max_instruction_seconds),
                                  ("response", limits.max_response_seconds)):
            start = time.perf_counter()
            step = f"{what}_speech"
            texts = instruction if what == "instruction" else response
            for i in self._bar(list(alive), f"TTS {what}s"):
                example_id = rows[i]["id"]
                if what == "instruction":
                    voices = config.instruction_voices
                    voice_name = voices[example_seed(config.seed, example_id, "instruction-voice") % len(voices)]
                    voice_of[i] = voice_name
                else:
                    voice_name = config.response_voice
                voice = self.voice(voice_name)
                try:
                    audio = speak(voice, texts[i], example_seed(config.seed, example_id, f"{what}-tts") % (2**62))
                except TTSUnavailableError:
                    raise
                except InvalidSpeechError as error:
                    reject(i, step, speech_error_reason(error), texts[i], f"{voice_name}: {error}")
                    continue
                except TTSError as error:
                    reject(i, step, "tts failed", texts[i], f"{voice_name}: {error}")
                    continue
                except ValueError as error:
                    reject(i, step, speech_error_reason(error), texts[i], f"{voice_name}: {error}")
                    continue
                sampling_rate = int(getattr(voice, "sampling_rate", SAMPLING_RATE))
                audio = np.asarray(audio, dtype=np.float32)
                reason = validate_audio(audio, sampling_rate, max_seconds=max_seconds, **common)
                if reason is None and sampling_rate != SAMPLING_RATE:
                    reason = f"wrong sampling rate: {sampling_rate} Hz from {voice_name}, expected {SAMPLING_RATE}"
                if reason is not None:
                    seconds = audio.size / max(sampling_rate, 1)
                    reject(i, step, reason, texts[i], f"{voice_name}: {reason} ({seconds:.2f} s)")
                    continue
                speech[what][i] = audio
            alive = [i for i in alive if i in speech[what]]
            timings[f"tts_{what}"] += time.perf_counter() - start

        start = time.perf_counter()
        data = {
            "id": [rows[i]["id"] for i in alive],
            "source": [rows[i]["source"] for i in alive],
            "instruction": [instruction[i] for i in alive],
            "speech_instruction": [{"array": speech["instruction"][i], "sampling_rate": SAMPLING_RATE} for i in alive],
            "instruction_voice": [voice_of[i] for i in alive],
            "response": [response[i] for i in alive],
            "speech_response": [{"array": speech["response"][i], "sampling_rate": SAMPLING_RATE} for i in alive],
        }
        dataset = datasets.Dataset.from_dict(data, features=features(with_units=False))
        seconds = {w: round(sum(speech[w][i].size for i in alive) / SAMPLING_RATE, 3) for w in speech}
        manifest = {
            "format_version": FORMAT_VERSION,
            "stage": "speech",
            "shard": name,
            "split": spec["split"],
            "fingerprint": spec["fingerprint"],
            "read": len(rows),
            "kept": len(alive),
            "rejected": rejected,
            "voices": dict(Counter(voice_of[i] for i in alive)),
            "audio_seconds": seconds,
            "timings": {k: round(v, 3) for k, v in timings.items()},
            "load_seconds": dict(self.load_seconds),
            "pid": os.getpid(),
        }
        timings["save"] = time.perf_counter() - start
        manifest["timings"]["save"] = round(timings["save"], 3)
        return publish_shard(dataset, manifest, self.build_dir / "speech" / name)

    # step 4 ---------------------------------------------------------------------------------------------
    def units_shard(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Step 4 of one shard (from its speech shard); publishes ``_build/units/<name>``, returns its manifest."""
        config, name = self.config, spec["name"]
        start = time.perf_counter()
        speech = load_shard(self.build_dir / "speech" / name, "speech")
        extractor = self.extractor
        rejected: list[dict[str, Any]] = []
        units_of: dict[int, list[int]] = {}
        ids = list(speech["id"])
        responses = list(speech["response"])
        audio_column = speech.select_columns(["speech_response"])
        batch = max(1, int(getattr(extractor, "batch_size", config.units.batch_size)))
        bar = self._bar(None, "units", total=len(ids))
        try:
            for begin in range(0, len(ids), batch):
                indices = list(range(begin, min(begin + batch, len(ids))))
                clips = [np.asarray(audio_column[i]["speech_response"]["array"], dtype=np.float32) for i in indices]
                try:
                    outputs = extractor.extract_batch(clips, sampling_rate=SAMPLING_RATE,
                                                      deduplicate=config.units.deduplicate)
                except ValueError:  # one bad clip: redo one by one to find it
                    outputs = []
                    for clip in clips:
                        try:
                            outputs.append(extractor.extract_batch([clip], sampling_rate=SAMPLING_RATE,
                                                                   deduplicate=config.units.deduplicate)[0])
                        except ValueError as error:
                            outputs.append(error)
                for i, units in zip(indices, outputs):
                    row = {"id": ids[i], "split": spec["split"], "step": "units", "text": responses[i][:500]}
                    if isinstance(units, Exception):
                        rejected.append(dict(row, reason="extraction failed", detail=str(units)))
                    elif len(units) == 0:
                        rejected.append(dict(row, reason="empty units", detail="no units"))
                    elif len(units) < config.validation.min_units:
                        rejected.append(dict(row, reason="too few units",
                                             detail=f"{len(units)} units < {config.validation.min_units}"))
                    else:
                        units_of[i] = [int(u) for u in units]
                bar.update(len(indices))
        finally:
            bar.close()
        kept = sorted(units_of)
        extract_seconds = time.perf_counter() - start
        start = time.perf_counter()
        dataset = speech.select(kept).add_column("response_units", [units_of[i] for i in kept])
        if dataset.features != features(with_units=True):
            dataset = dataset.cast(features(with_units=True))
        manifest = {
            "format_version": FORMAT_VERSION,
            "stage": "units",
            "shard": name,
            "split": spec["split"],
            "fingerprint": spec["fingerprint"],
            "read": len(ids),
            "kept": len(kept),
            "rejected": rejected,
            "num_units": sum(len(units_of[i]) for i in kept),
            "timings": {"units": round(extract_seconds, 3)},
            "load_seconds": dict(self.load_seconds),
            "pid": os.getpid(),
        }
        manifest["timings"]["save"] = round(time.perf_counter() - start, 3)
        return publish_shard(dataset, manifest, self.build_dir / "units" / name)


_WORKER: ShardPipeline | None = None


def init_worker(state: dict[str, Any], threads: int) -> None:
    """The initializer of a spawned worker: `threads` torch threads, one :class:`ShardPipeline` built from `state`
    (``ShardPipeline``'s arguments, the config as its mapping)."""
    global _WORKER
    try:
        import torch

        torch.set_num_threads(max(1, threads))
    except ImportError:  # pragma: no cover
        pass
    logging.basicConfig(level=logging.WARNING)
    state = dict(state)
    state["config"] = BuildConfig.from_dict(state["config"])
    _WORKER = ShardPipeline(**state)


def worker_speech(spec: dict[str, Any]) -> dict[str, Any]:
    """Steps 1-3 of one shard in a worker (see :meth:`ShardPipeline.speech_shard`)."""
    return _WORKER.speech_shard(spec)


def worker_units(spec: dict[str, Any]) -> dict[str, Any]:
    """Step 4 of one shard in a worker (see :meth:`ShardPipeline.units_shard`)."""
    return _WORKER.units_shard(spec)
