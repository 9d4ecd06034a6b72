# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The inference runtime: load a model, answer a spoken question, and time every piece of the answer.

One path for everything that talks to a model: `llama-omni chat`, the Space, `llama-omni evaluate` (and its cascade
baseline) and the benchmarks all call it.

    from inference import answer, load_model, write_wav

    model, processor = load_model()                     # the embedded llama-omni-tiny; or load_model("folder")
    timeline = answer(model, processor, "question.wav", chunk_size=10, max_new_tokens=80, do_sample=False)
    timeline.text, timeline.audio, timeline.sampling_rate
    timeline.ttfa_s, timeline.ttft_s, timeline.total_s   # time to first audio / first text / the whole answer
    write_wav("answer.wav", timeline.audio, timeline.sampling_rate)

An answer is a `Timeline`: the `(text_delta, audio_chunk)` events of a stream, each stamped with the seconds since
the question was received. Every timing figure is read from it, so the chat CLI, the Space and the evaluation
measure the same thing the same way. `drain()` records any iterable of `(text, audio)` pairs (the cascade's too).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modeling_llama_omni.streaming_llama_omni import pick_device_and_dtype


@dataclass(frozen=True)
class AnswerEvent:
    """One streamed piece of an answer: a text delta and/or an audio chunk, `time_s` seconds after the start."""

    time_s: float
    text: str
    audio: np.ndarray

    @property
    def has_audio(self) -> bool:
        return self.audio.size > 0


@dataclass
class Timeline:
    """
    The events of one answer, in order, with the figures read from them.

    Attributes:
        sampling_rate: of the audio chunks (None when the model cannot speak).
        start: the `time.perf_counter()` the event times count from (when the question was received).
        events: the `AnswerEvent`s so far.
        end_s: seconds from `start` to the end of the answer (None while it runs).
        cancelled: whether the answer was stopped before it ended.
    """

    sampling_rate: int | None
    start: float = field(default_factory=time.perf_counter)
    events: list[AnswerEvent] = field(default_factory=list)
    end_s: float | None = None
    cancelled: bool = False

    def add(self, text: str | None, audio: Any = None) -> AnswerEvent:
        """Records a `(text_delta, audio_chunk)` pair now and returns its event."""
        chunk = np.zeros(0, dtype=np.float32) if audio is None else np.asarray(audio, dtype=np.float32).reshape(-1)
        event = AnswerEvent(time.perf_counter() - self.start, text or "", chunk)
        self.events.append(event)
        return event

    def finish(self, cancelled: bool = False) -> Timeline:
        """Marks the end of the answer (its `total_s`)."""
        self.end_s = time.perf_counter() - self.start
        self.cancelled = cancelled
        return self

    @property
    def text(self) -> str:
        return "".join(event.text for event in self.events).strip()

    @property
    def audio(self) -> np.ndarray:
        chunks = [event.audio for event in self.events if event.has_audio]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)

    @property
    def audio_chunks(self) -> int:
        return sum(event.has_audio for event in self.events)

    @property
    def audio_s(self) -> float:
        """Seconds of speech in the answer."""
        return sum(event.audio.size for event in self.events) / self.sampling_rate if self.sampling_rate else 0.0

    @property
    def ttfa_s(self) -> float | None:
        """Time to first audio: the time of the first event with audio (None if none came)."""
        return next((event.time_s for event in self.events if event.has_audio), None)

    @property
    def ttft_s(self) -> float | None:
        """Time to first text: the time of the first event with non-blank text (None if none came)."""
        return next((event.time_s for event in self.events if event.text.strip()), None)

    @property
    def total_s(self) -> float | None:
        """Time to the end of the answer (None while it runs)."""
        return self.end_s

    @property
    def lagging_words(self) -> int | None:
        """Words of text already out when the first audio chunk came (None if no audio came)."""
        text = ""
        for event in self.events:
            text += event.text
            if event.has_audio:
                return len(text.split())
        return None

    def as_dict(self) -> dict[str, Any]:
        """`{"text", "audio", "sampling_rate", "ttfa_s", "ttft_s", "total_s", "lagging_words", "audio_s"}`."""
        return {"text": self.text, "audio": self.audio, "sampling_rate": self.sampling_rate, "ttfa_s": self.ttfa_s,
                "ttft_s": self.ttft_s, "total_s": self.total_s, "lagging_words": self.lagging_words,
                "audio_s": self.audio_s}


def record(
    pairs: Iterable[tuple[str | None, Any]], timeline: Timeline, cancel: threading.Event | None = None
) -> Iterator[AnswerEvent]:
    """
    The drain-and-time loop: records every `(text_delta, audio_chunk)` pair of `pairs` into `timeline` as it
    arrives and yields its event; finishes the timeline at the end.

    Args:
        pairs: a stream of pairs (`model.stream()`, the cascade's, ...). If it has a `close()` (a generator), it is
            closed at the end, which stops a generation thread when the loop ended early.
        cancel: when set, recording stops after the current pair (the timeline is marked cancelled).
    """
    try:
        for text, audio in pairs:
            yield timeline.add(text, audio)
            if cancel is not None and cancel.is_set():
                timeline.finish(cancelled=True)
                return
        timeline.finish(cancelled=cancel is not None and cancel.is_set())  # a cancel can also end the stream
    finally:
        close = getattr(pairs, "close", None)
        if callable(close):
            close()


def drain(
    pairs: Iterable[tuple[str | None, Any]],
    timeline: Timeline,
    on_event: Callable[[AnswerEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> Timeline:
    """
    Records a whole stream of `(text_delta, audio_chunk)` pairs into `timeline` (see `record`) and returns it.

    Args:
        on_event: called with every event as it is recorded (e.g. to print the text).
    """
    for event in record(pairs, timeline, cancel):
        if on_event is not None:
            on_event(event)
    return timeline


def model_inputs(model: Any, processor: Any, audio: Any, **processor_kwargs: Any) -> dict[str, torch.Tensor]:
    """
    The processor's inputs for a spoken question (the default prompt), on the model's device, features in its dtype.

    Args:
        audio: anything the processor accepts (a file path, or an array with `sampling_rate=` in
            `processor_kwargs`, a `{"array", "sampling_rate"}` dict, ...).

    Raises:
        ValueError: unreadable, empty, silent, too long or otherwise bad audio (the message says what is accepted).
    """
    inputs = processor(audio=audio, return_tensors="pt", **processor_kwargs)
    return {
        name: value.to(device=model.device, dtype=model.dtype) if value.is_floating_point() else value.to(model.device)
        for name, value in inputs.items()
    }


def sampling_rate_of(model: Any, vocoder: Any | None = None) -> int | None:
    """The sampling rate of the model's speech (None when it has no vocoder)."""
    vocoder = vocoder if vocoder is not None else model.default_vocoder()
    return int(vocoder.config.sampling_rate) if vocoder is not None else None


def stream_answer(
    model: Any,
    processor: Any,
    audio: Any = None,
    *,
    inputs: dict[str, torch.Tensor] | None = None,
    timeline: Timeline | None = None,
    vocoder: Any | None = None,
    chunk_size: int = 10,
    timeout: float | None = 300.0,
    cancel: threading.Event | None = None,
    **generate_kwargs: Any,
) -> Iterator[AnswerEvent]:
    """
    Answers a spoken question with `model.stream()`, yielding each `AnswerEvent` as it is recorded in `timeline`.

    Args:
        audio: the question (see `model_inputs`); or pass prepared `inputs` (e.g. a multi-turn prompt).
        timeline: where the events go (default: a new one starting now; pass one created when the question was
            received to count from then).
        vocoder: default `model.default_vocoder()`.
        chunk_size: Omega, units per vocoded chunk.
        timeout: seconds to wait for each streamed item.
        cancel: when set (from any thread), generation stops at its next step, nothing more is vocoded, and the
            recording ends (the timeline is marked cancelled).
        generate_kwargs: `generate()` arguments (`max_new_tokens`, `do_sample`, ...).

    Leaving the loop early (or closing the generator) stops the generation thread.
    """
    if (audio is None) == (inputs is None):
        raise ValueError("pass exactly one of `audio` (the spoken question) or `inputs` (prepared model inputs)")
    vocoder = vocoder if vocoder is not None else model.default_vocoder()
    timeline = timeline if timeline is not None else Timeline(sampling_rate_of(model, vocoder))
    if inputs is None:
        inputs = model_inputs(model, processor, audio)
    pairs = model.stream(processor, vocoder=vocoder, chunk_size=chunk_size, timeout=timeout, cancel=cancel, **inputs,
                         **generate_kwargs)
    yield from record(pairs, timeline, cancel)


def answer(
    model: Any,
    processor: Any,
    audio: Any = None,
    *,
    inputs: dict[str, torch.Tensor] | None = None,
    chunk_size: int = 10,
    on_event: Callable[[AnswerEvent], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    start: float | None = None,
    vocoder: Any | None = None,
    timeout: float | None = 300.0,
    cancel: threading.Event | None = None,
    **generate_kwargs: Any,
) -> Timeline:
    """
    Answers one spoken question in text and speech, streaming, and returns its `Timeline`.

    Args:
        model: a `LlamaOmniForConditionalGeneration` (with a vocoder to speak; text only without one).
        processor: its `LlamaOmniProcessor`.
        audio / inputs: the question, or prepared model inputs (see `stream_answer`).
        chunk_size: Omega, units per vocoded chunk.
        on_event: called with every event as it arrives; `on_text` with every non-empty text delta.
        start: the `time.perf_counter()` the times count from (default: now, before the audio is read).
        generate_kwargs: `generate()` arguments (`max_new_tokens`, `do_sample`, `temperature`, ...).

    Raises:
        ValueError: unreadable, empty, silent, too long or otherwise bad audio (the message says what is accepted).
    """
    vocoder = vocoder if vocoder is not None else model.default_vocoder()
    timeline = Timeline(sampling_rate_of(model, vocoder), start=time.perf_counter() if start is None else start)
    for event in stream_answer(model, processor, audio, inputs=inputs, timeline=timeline, vocoder=vocoder,
                               chunk_size=chunk_size, timeout=timeout, cancel=cancel, **generate_kwargs):
        if on_event is not None:
            on_event(event)
        if on_text is not None and event.text:
            on_text(event.text)
    return timeline


def resolve_model_folder(model_id: str) -> str:
    """
    A local folder for `model_id`: the folder itself, or the Hub snapshot of a Hub id (downloaded unless
    `HF_HUB_OFFLINE=1`, in which case it must be in the local cache).

    Raises:
        FileNotFoundError: `model_id` is neither a folder nor a Hub model that can be had here.
    """
    if os.path.isdir(model_id):
        return os.path.abspath(model_id)
    if model_id.startswith((".", "/", "~")) or model_id.count("/") != 1:
        raise FileNotFoundError(f"{model_id!r} is not a model folder (and not a Hub id like 'org/name')")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model_id)
    except Exception as error:  # offline without a cached copy, unknown repo, no network...
        raise FileNotFoundError(
            f"{model_id!r} is not a local folder, and the Hub model could not be had here "
            f"({type(error).__name__}: {error}). Pass a local folder, or none for the embedded model."
        ) from error


def load_model(
    model_id: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    require_vocoder: bool = True,
    quantization: str | None = None,
) -> tuple[Any, Any]:
    """
    `(model, processor)` in eval mode: the embedded default llama-omni-tiny when `model_id` is None, else the
    LLaMA-Omni folder (or Hub id) with its unit vocoder.

    Args:
        device, dtype: see `modeling_llama_omni.pick_device_and_dtype` (default: CUDA bf16 if available, else CPU
            float32).
        require_vocoder: raise when the model has no unit vocoder (a `vocoder/` subfolder) and so cannot speak.
        quantization: "8bit" or "4bit" to load a folder's weights quantised with bitsandbytes on a CUDA GPU (the
            released `--load-8bit` / `--load-4bit`), in float16; see `inference.quantization`.

    Raises:
        FileNotFoundError: no such folder, or no vocoder where one is required.
        TypeError: the folder does not hold a LLaMA-Omni model.
        ValueError: a bad dtype name or quantization mode.
        RuntimeError / ImportError: quantization without a CUDA GPU or without bitsandbytes.
    """
    from .quantization import bitsandbytes_config

    device, dtype = pick_device_and_dtype(device, dtype)
    quantization_config = bitsandbytes_config(quantization, device)
    if model_id is None and quantization_config is not None:
        raise ValueError("quantization applies to a model folder, not to the embedded default model")
    if model_id is None:
        from offline_assets.embedded import load_default

        return load_default(device=device, dtype=dtype)
    from transformers import AutoConfig

    from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration
    from processing import LlamaOmniProcessor

    folder = resolve_model_folder(os.fspath(model_id))
    config = AutoConfig.from_pretrained(folder)
    if not isinstance(config, LlamaOmniConfig):
        raise TypeError(f"{Path(folder).name} holds a {type(config).__name__} model, not a LLaMA-Omni one")
    if quantization_config is not None:  # quantised weights cannot be moved: place them while loading
        model = LlamaOmniForConditionalGeneration.from_pretrained(
            folder, quantization_config=quantization_config, dtype=torch.float16, device_map={"": str(device)}
        ).eval()
    else:
        model = LlamaOmniForConditionalGeneration.from_pretrained(folder, dtype=dtype).to(device).eval()
    if require_vocoder and model.default_vocoder() is None:
        raise FileNotFoundError(f"{os.fspath(model_id)!r} has no unit vocoder (a 'vocoder/' subfolder): it cannot speak")
    prepare_adaptor(model)
    return model, LlamaOmniProcessor.from_pretrained(folder)


def prepare_adaptor(model) -> None:
    """Lets a read-out adaptor build what its first read-out would otherwise wait for (`prepare()`, e.g. the Whisper
    read-out's tokenizer and int8 copies), so that the first answer is as quick as the next."""
    prepare = getattr(model.model.speech_adaptor, "prepare", None)
    if prepare is not None:
        prepare()


def write_wav(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> Path:
    """Writes mono float audio in [-1, 1] as 16-bit PCM wav (with `soundfile`); returns the path."""
    import soundfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0), int(sampling_rate),
                    subtype="PCM_16", format="WAV")
    return path


def wav_bytes(audio: np.ndarray, sampling_rate: int) -> bytes:
    """Mono float audio in [-1, 1] as the bytes of a 16-bit PCM wav file."""
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0), int(sampling_rate),
                    subtype="PCM_16", format="WAV")
    return buffer.getvalue()


__all__ = [
    "AnswerEvent",
    "Timeline",
    "answer",
    "drain",
    "record",
    "load_model",
    "model_inputs",
    "pick_device_and_dtype",
    "resolve_model_folder",
    "sampling_rate_of",
    "stream_answer",
    "wav_bytes",
    "write_wav",
]
