# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Streaming text + speech out of transformers' own `generate()`.

`AudioStreamer` is a `BaseStreamer` (like `TextIteratorStreamer`): pass it as `generate(..., streamer=...)` to a
LLaMA-Omni model, run generate() in a thread, and iterate over `(text_delta, audio_chunk)` pairs in the caller.
The model hands the streamer, at every decoding step, the LLM hidden state that predicts the next token; when the
token arrives (`put`), the streamer hands the state and the token to the model's incremental speech unit stream
(`model.speech_unit_stream()`): one step of the CTC speech decoder over that state (a KV cache over the upsampled
frames), or, for LLaMA-Omni2's autoregressive decoder, a Read-R-Write-W step (W speech tokens after every R text
tokens, the TTS model's KV cache kept across chunks); in both the cost per token does not grow with the answer
length. When generation ends, the unit stream's `finish()` writes what is left (the autoregressive decoder writes
until its EOS). Every `chunk_size` (Omega) new units the streamer vocodes them with left context, so chunk
boundaries do not click.

Units become audio through a unit vocoder behind a small interface (`SpeechUnitVocoder`): `config.sampling_rate`,
`stream(**kwargs)` returning an object with `push(units) -> audio` and `flush() -> audio`, and `__call__(units)` with
a `.waveform` (for one-shot vocoding). Our `UnitVocoder` implements it; another token-to-audio model (e.g. a
CosyVoice2-style flow-matching decoder for LLaMA-Omni2's speech tokens) plugs in by implementing the same.

This file imports only torch, numpy and transformers, so that it can be copied into a model folder for
`trust_remote_code=True`.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import threading
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

_STOP = object()


@runtime_checkable
class SpeechUnitVocoderStream(Protocol):
    """Incremental vocoding: `push(units)` returns the audio that is final so far; `flush()` the rest."""

    def push(self, units: list[int]) -> np.ndarray: ...

    def flush(self) -> np.ndarray: ...


@runtime_checkable
class SpeechUnitVocoder(Protocol):
    """
    What `AudioStreamer`, `model.stream()` and `generate(return_audio=True)` need from the model that turns speech
    units into audio: `config.sampling_rate`, `stream(**kwargs) -> SpeechUnitVocoderStream`, and `__call__(units)`
    (`(1, num_units)` LongTensor) returning an output with `.waveform` `(1, num_samples)`. `UnitVocoder` is one.
    """

    config: Any

    def stream(self, **kwargs) -> SpeechUnitVocoderStream: ...

    def __call__(self, units: torch.LongTensor) -> Any: ...


class _GenerationError:
    """Wraps an exception raised in the generation thread, to re-raise it in the caller."""

    def __init__(self, error: BaseException):
        self.error = error


class StopOnEvent(StoppingCriteria):
    """Stops generation (cleanly, at the next step) once `event` is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class AudioStreamer(BaseStreamer):
    r"""
    Streams the text and the speech of a LLaMA-Omni answer while `generate()` produces it.

    Iterating over the streamer yields `(text_delta, audio_chunk)` pairs: `text_delta` is the new text (possibly
    empty), `audio_chunk` a float32 numpy array at `sampling_rate` (possibly empty). All units decoded so far are
    in `units`.

    Args:
        model (`LlamaOmniForConditionalGeneration`): the model that generates (its speech decoder is used).
        tokenizer: a tokenizer or processor with `decode`, for the text deltas.
        vocoder (`UnitVocoder` or any `SpeechUnitVocoder`, *optional*): turns units into audio. Without one, audio
            chunks are empty and only `units` fill up.
        chunk_size (`int` or `None`, *optional*, defaults to 10):
            Omega: units per vocoded chunk. Smaller = earlier first audio, more vocoder calls. `None` or
            `math.inf` vocodes everything at the end.
        timeout (`float`, *optional*): seconds the iterator waits for the next item before raising `TimeoutError`.
        skip_prompt (`bool`, *optional*, defaults to `True`): do not emit the prompt's text.
        vocoder_stream_kwargs (`dict`, *optional*): passed to `vocoder.stream(...)` (e.g. `lookahead_frames`).
        speech_decoder_kwargs (`dict`, *optional*): passed to `model.speech_unit_stream(...)`: the decoding settings
            of the autoregressive speech decoder (`read_size`, `write_size`, `do_sample`, `temperature`, ...).
        cancel (`threading.Event`, *optional*): the caller's stop signal: once set, nothing more is decoded or
            vocoded (like `stop_event`, which the streamer sets itself when the caller stops iterating).
        decode_kwargs: passed to `tokenizer.decode` (default `skip_special_tokens=True`).

    Raises:
        ValueError: for a non-positive `chunk_size`, or (during generation) a batch of more than one sequence.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        vocoder: Any | None = None,
        chunk_size: int | float | None = 10,
        timeout: float | None = None,
        skip_prompt: bool = True,
        vocoder_stream_kwargs: dict | None = None,
        speech_decoder_kwargs: dict | None = None,
        cancel: threading.Event | None = None,
        **decode_kwargs,
    ):
        if chunk_size is None or chunk_size == math.inf:
            chunk_size = math.inf
        elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int (units per chunk), None or math.inf; got {chunk_size!r}")
        self.chunk_size = chunk_size
        self.tokenizer = tokenizer
        self.vocoder = vocoder
        self.timeout = timeout
        self.skip_prompt = skip_prompt
        self.decode_kwargs = {"skip_special_tokens": True, **decode_kwargs}
        self.unit_stream = model.speech_unit_stream(**(speech_decoder_kwargs or {}))
        self.vocoder_stream = vocoder.stream(**(vocoder_stream_kwargs or {})) if vocoder is not None else None
        self.sampling_rate = int(vocoder.config.sampling_rate) if vocoder is not None else None
        self.stop_event = threading.Event()
        self.cancel = cancel

        self.token_ids: list[int] = []
        self.units: list[int] = []
        self._unvoiced: list[int] = []
        self._printed = ""
        self._pending_state: torch.Tensor | None = None
        self._prompt_done = False
        self._queue: Queue = Queue()

    @property
    def stopped(self) -> bool:
        """Whether the caller stopped the answer (`stop_event` or `cancel` set): nothing more is decoded or voiced."""
        return self.stop_event.is_set() or (self.cancel is not None and self.cancel.is_set())

    # -- called from the generation thread -----------------------------------------------------------------------------

    def on_speech_state(self, state: torch.Tensor) -> None:
        """Receives `(batch, hidden_size)`: the LLM state that predicts the next token (called by the model). The
        LLM is computing another token, so the text continues: a unit stream that draws from torch's global
        generator writes its full chunk now, before the LLM's next draw (the release's order)."""
        if self._prompt_done and not self.stopped and getattr(self.unit_stream, "rng", None) == "global":
            new_units = self.unit_stream.text_continues()[0]
            if new_units:
                self.units.extend(new_units)
                self._unvoiced.extend(new_units)
                audio = self._voice_full_chunk()
                if audio.size:
                    self._queue.put(("", audio))
        self._pending_state = state

    def put(self, value: torch.Tensor) -> None:
        """Receives the prompt (first call), then each new token, from `generate()`."""
        if value.dim() > 1 and value.shape[0] > 1:
            raise ValueError("AudioStreamer streams one sequence at a time; got a batch of " f"{value.shape[0]}")
        value = value.reshape(-1)
        if not self._prompt_done:
            self._prompt_done = True
            if not self.skip_prompt:
                self._queue.put((self.tokenizer.decode(value.tolist(), **self.decode_kwargs), self._empty_audio()))
            return
        if self.stopped:
            return
        if self._pending_state is None:
            raise RuntimeError(
                "AudioStreamer got a token without the hidden state that predicted it: pass it to the generate() of "
                "a LLaMA-Omni model (which hands the streamer its states), not to another model's"
            )
        self.token_ids.extend(value.tolist())
        new_units = self.unit_stream.step(self._pending_state[:1].unsqueeze(1), value[None])[0]
        self._pending_state = None
        self.units.extend(new_units)
        self._unvoiced.extend(new_units)
        audio = self._voice_full_chunk()
        text = self._text_delta(final=False)
        if text or audio.size:
            self._queue.put((text, audio))

    def end(self) -> None:
        """Flushes the remaining text, units and audio, and closes the stream (called by `generate()`)."""
        # What the speech decoder writes after the text (the autoregressive decoder: until its EOS), vocoded as it
        # comes; the CTC decoder has nothing left.
        piece = None if self.chunk_size == math.inf else self.chunk_size
        while not self.stopped:
            final_units = self.unit_stream.finish(max_units=piece)[0]
            if not final_units:
                break
            self.units.extend(final_units)
            self._unvoiced.extend(final_units)
            if len(self._unvoiced) >= self.chunk_size:
                audio = self._vocode(self._unvoiced)
                self._unvoiced = []
                if audio.size:
                    self._queue.put(("", audio))
        audio = self._empty_audio()
        if not self.stopped:
            pieces = []
            if self._unvoiced:
                pieces.append(self._vocode(self._unvoiced))
                self._unvoiced = []
            if self.vocoder_stream is not None:
                pieces.append(self.vocoder_stream.flush())
            if pieces:
                audio = np.concatenate(pieces).astype(np.float32, copy=False)
        text = self._text_delta(final=True)
        if text or audio.size:
            self._queue.put((text, audio))
        self._queue.put(_STOP)

    def put_error(self, error: BaseException) -> None:
        """Hands an exception raised by generate() to the caller (re-raised by the iterator)."""
        self._queue.put(_GenerationError(error))

    # -- helpers -------------------------------------------------------------------------------------------------------

    def _voice_full_chunk(self) -> np.ndarray:
        """Vocodes the unvoiced units once there are `chunk_size` of them (else empty audio)."""
        if len(self._unvoiced) < self.chunk_size:
            return self._empty_audio()
        audio = self._vocode(self._unvoiced)
        self._unvoiced = []
        return audio

    def _empty_audio(self) -> np.ndarray:
        return np.zeros(0, dtype=np.float32)

    def _vocode(self, units: list[int]) -> np.ndarray:
        if self.vocoder_stream is None:
            return self._empty_audio()
        return np.asarray(self.vocoder_stream.push(units), dtype=np.float32)

    def _text_delta(self, final: bool) -> str:
        text = self.tokenizer.decode(self.token_ids, **self.decode_kwargs)
        if not final and text.endswith("\ufffd"):  # an incomplete multi-byte character: wait for the rest
            return ""
        if text.startswith(self._printed):
            delta = text[len(self._printed) :]
            self._printed = text
            return delta
        # The decoded prefix changed (rare with byte-level tokenizers): emit the new text only at the end.
        if final:
            delta = text[len(self._printed) :] if len(text) > len(self._printed) else ""
            self._printed = text
            return delta
        return ""

    # -- the caller's side ---------------------------------------------------------------------------------------------

    def __iter__(self) -> AudioStreamer:
        return self

    def __next__(self) -> tuple[str, np.ndarray]:
        try:
            item = self._queue.get(timeout=self.timeout)
        except Empty:
            raise TimeoutError(f"no output from generate() within {self.timeout} s") from None
        if item is _STOP:
            raise StopIteration
        if isinstance(item, _GenerationError):
            raise item.error
        return item


class InterleavedUnits:
    """
    Drives a unit stream while `generate()` runs, for speech tokens drawn from torch's global generator: the model
    hands it each LLM state (`on_speech_state`), and as a logits processor it is called before every text token is
    chosen, with the ids so far; it then feeds the unit stream the new text tokens with the states that predicted
    them and tells it that the text continues (a full chunk is written now, before the LLM's draw, as the release
    does). `finish(answer)` feeds what is left of the answer and writes the rest of the speech.

    Args:
        unit_stream: an `ARUnitStream` (or any stream with `step`, `text_continues`, `finish` and `units`).
    """

    def __init__(self, unit_stream: Any):
        self.unit_stream = unit_stream
        self.states: list[torch.Tensor] = []
        self.prompt_length: int | None = None
        self.fed = 0

    @property
    def units(self) -> list[int]:
        """The units written so far."""
        return self.unit_stream.units

    def on_speech_state(self, state: torch.Tensor) -> None:
        """Receives `(batch, hidden_size)`: the LLM state that predicts the next token."""
        self.states.append(state)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError(f"Speech is decoded for one sequence at a time, got a batch of {input_ids.shape[0]}")
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        self._feed(input_ids[:, self.prompt_length :])
        self.unit_stream.text_continues()
        return scores

    def finish(self, answer: torch.LongTensor) -> list[int]:
        """Feeds the rest of `answer` `(1, num_tokens)` (the generated ids up to the first EOS), writes the speech
        until its end, and returns all the units."""
        self._feed(answer)
        while self.unit_stream.finish()[0]:
            pass
        return self.units

    def _feed(self, generated: torch.LongTensor) -> None:
        new = generated[:, self.fed :]
        if new.shape[1]:
            hidden = torch.stack(self.states[self.fed : self.fed + new.shape[1]], dim=1)
            self.unit_stream.step(hidden[:1], new.to(hidden.device))
            self.fed += new.shape[1]


_GOMP_PAUSE: Any = None  # omp_pause_resource_all of the loaded GNU OpenMP runtime, False when there is none


def _gomp_pause_function() -> Any:
    """`omp_pause_resource_all` of the GNU OpenMP runtime (libgomp) this process has loaded, or False."""
    global _GOMP_PAUSE
    if _GOMP_PAUSE is None:
        _GOMP_PAUSE = False
        nowait = getattr(os, "RTLD_NOLOAD", None)
        if nowait is not None and os.path.exists("/proc/self/maps") and torch.backends.openmp.is_available():
            with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                paths = sorted({m.group(0) for m in re.finditer(r"/\S*/libgomp[^/\s]*\.so[^/\s]*", maps.read())})
            for path in paths:
                try:  # RTLD_NOLOAD: the runtime torch already uses, never a new one
                    library = ctypes.CDLL(path, mode=nowait | os.RTLD_LAZY)
                    function = library.omp_pause_resource_all
                except (OSError, AttributeError):
                    continue
                function.argtypes, function.restype = [ctypes.c_int], ctypes.c_int
                _GOMP_PAUSE = function
                break
    return _GOMP_PAUSE


def release_openmp_threads() -> bool:
    """
    Frees the OpenMP worker threads of the calling thread (GNU OpenMP only; elsewhere it does nothing).

    PyTorch's CPU kernels run on OpenMP (libgomp in the Linux wheels). libgomp keeps a pool of worker threads per
    thread that ran a parallel kernel, and once its pools hold more threads than the machine has CPUs it stops
    letting idle workers spin and puts them to sleep after every kernel. A model that decodes token by token in a
    background thread (what `stream_generate` does) after the caller's thread ran any torch kernel (loading the
    model, computing the input features) then pays a wake-up on every small kernel: on a 2-core CPU generation
    in the background thread took twice as long as in the main thread (see `benchmarks/streaming.py`). Releasing
    the caller's pool before starting the background thread restores the speed; the caller's thread gets a new
    pool the next time it runs a parallel kernel.

    Only libgomp is touched, because its pause is per thread (`omp_pause_resource_all(omp_pause_soft)` on the
    calling thread's pool); Intel's and LLVM's runtimes pause every thread, which is unsafe while another thread
    computes.

    Returns:
        whether a pool was released (False: no GNU OpenMP runtime, or called inside a parallel region).
    """
    function = _gomp_pause_function()
    if not function:
        return False
    return function(1) == 0  # omp_pause_soft


_DTYPES = {
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
}


def pick_device_and_dtype(
    device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
) -> tuple[torch.device, torch.dtype]:
    """
    The device and dtype to run a model with: CUDA in bfloat16 (float16 on GPUs without bfloat16) where a GPU is
    available, else the CPU in float32. A given `device` / `dtype` ("cuda:1", "bf16", `torch.float16`...) wins.

    Raises:
        ValueError: for an unknown dtype name, or float16 on the CPU.
    """
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    if dtype is None:
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
    elif isinstance(dtype, str):
        if dtype.lower() not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}")
        dtype = _DTYPES[dtype.lower()]
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("float16 is not supported on the CPU; use float32 or bfloat16")
    return device, dtype


def stream_generate(
    model: Any,
    tokenizer: Any,
    vocoder: Any | None = None,
    chunk_size: int | float | None = 10,
    timeout: float | None = 300.0,
    vocoder_stream_kwargs: dict | None = None,
    join_timeout: float = 30.0,
    speech_decoder_kwargs: dict | None = None,
    cancel: threading.Event | None = None,
    **generate_kwargs,
) -> Iterator[tuple[str, np.ndarray]]:
    """
    Runs `model.generate(**generate_kwargs)` in a background thread with an `AudioStreamer` and yields its
    `(text_delta, audio_chunk)` pairs. An exception inside generate() is re-raised here; when the caller stops
    iterating early (break, or `close()` on this generator), generation stops at its next step and the thread
    ends. Setting `cancel` (from any thread) does the same without waiting for the next pair: generation stops at
    its next step, nothing more is vocoded, and the iteration ends.
    """
    streamer = AudioStreamer(
        model,
        tokenizer,
        vocoder=vocoder,
        chunk_size=chunk_size,
        timeout=timeout,
        vocoder_stream_kwargs=vocoder_stream_kwargs,
        speech_decoder_kwargs=speech_decoder_kwargs,
        cancel=cancel,
    )
    criteria = StoppingCriteriaList(generate_kwargs.pop("stopping_criteria", None) or [])
    criteria.append(StopOnEvent(streamer.stop_event))
    if cancel is not None:
        criteria.append(StopOnEvent(cancel))

    def run() -> None:
        try:
            with torch.inference_mode():
                model.generate(streamer=streamer, stopping_criteria=criteria, **generate_kwargs)
        except BaseException as error:  # noqa: BLE001 - every failure must reach the caller
            streamer.put_error(error)

    thread = threading.Thread(target=run, name="llama-omni-generate", daemon=True)
    release_openmp_threads()  # generation runs in the thread: see release_openmp_threads
    thread.start()
    try:
        yield from streamer
    finally:
        streamer.stop_event.set()
        thread.join(timeout=join_timeout)


__all__ = [
    "AudioStreamer",
    "InterleavedUnits",
    "SpeechUnitVocoder",
    "SpeechUnitVocoderStream",
    "StopOnEvent",
    "pick_device_and_dtype",
    "release_openmp_threads",
    "stream_generate",
]
