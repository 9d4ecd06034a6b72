# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The LLaMA-Omni Space: ask a spoken question, read and hear the answer while it is being generated.

One process: the model, the web page and the queue live here. A question recorded with the microphone (or
uploaded) goes to `LlamaOmniForConditionalGeneration.stream()`; its text deltas stream into the chat token by
token and its audio chunks (one every Omega speech units) stream into a `gr.Audio(streaming=True, autoplay=True)`
that starts playing with the first chunk. The time to first audio (TTFA) of each answer is measured and shown.

Model selection (`MODEL_ID` in the environment, or `launch(model_id=...)`):

- a local model folder (saved with `save_pretrained`, its unit vocoder in the `vocoder/` subfolder);
- a Hub id (downloaded with `huggingface_hub.snapshot_download`; offline, it must already be in the cache);
- unset: the embedded default model (`offline_assets.embedded.load_default`), which needs no download.

Where this project's packages are not importable (a Space holding only this folder), a model folder saved with
`remote_code=True` is loaded with its own code (`trust_remote_code=True`).

The device and dtype are picked automatically (CUDA in bfloat16, or float16 where bfloat16 is not supported;
else the CPU in float32); `DEVICE` / `DTYPE` in the environment override them.

Robustness: one queue with a concurrency limit for all answers; Stop, or a visitor who leaves, closes the answer's
stream, which stops its generation thread at the next step; unusable audio (none, empty, silent, too short, longer
than 30 s, unreadable) gets a message saying what to do, never a traceback; uploads have a size limit.

Besides the page, `/answer` is a non-streaming API endpoint for scripts and tests (an audio file in; the answer's
text, its wav and its timings out), since the page's streamed audio output is no use to `gradio_client`:

    from gradio_client import Client, handle_file
    text, wav_path, stats = Client("http://127.0.0.1:7860/").predict(handle_file("question.wav"), api_name="/answer")

Run: `python space/app.py --host 127.0.0.1 --port 7860`, or `from space.app import launch; launch()`.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import threading
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# The project's packages sit next to this file on a Space, and one folder up in the project's checkout.
for _root in (_HERE, _HERE.parent):
    if (_root / "modeling_llama_omni").is_dir() and str(_root) not in sys.path:
        sys.path.insert(0, str(_root))

import anyio  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

logger = logging.getLogger("llama_omni.space")

# The example questions are spoken by flite (voice kal16, 16 kHz mono) on first use, not kept in git: set
# LLAMA_OMNI_EXAMPLES_DIR to choose where they go. Without the `flite` program there are no examples.
EXAMPLES_DIR = Path(os.environ.get("LLAMA_OMNI_EXAMPLES_DIR") or Path.home() / ".cache" / "llama_omni" / "space_examples")
EXAMPLE_QUESTIONS = (  # file name and what it says
    ("capital_of_france.wav", "What is the capital of France?"),
    ("spider_legs.wav", "How many legs does a spider have?"),
    ("cat_and_dog_story.wav", "Can you tell me a short story about a cat and a dog?"),
)


def ensure_examples(folder: Path | None = None) -> list[tuple[str, str]]:
    """`(wav path, text)` of the example questions, synthesised with flite (voice kal16) the first time; the
    examples flite cannot make are left out (logged)."""
    import shutil
    import subprocess

    folder = Path(folder) if folder is not None else EXAMPLES_DIR
    examples = []
    for name, text in EXAMPLE_QUESTIONS:
        path = folder / name
        if not path.is_file():
            if shutil.which("flite") is None:
                logger.warning("no example questions: the flite program is missing (apt-get install flite)")
                return examples
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{name}.{os.getpid()}.wav")
            result = subprocess.run(["flite", "-voice", "kal16", "-t", text, "-o", str(tmp)], capture_output=True)
            if result.returncode != 0 or not tmp.is_file():
                logger.warning("flite could not speak the example %r: %s", text, result.stderr.decode()[-200:])
                continue
            os.replace(tmp, path)
        examples.append((str(path), text))
    return examples


CONCURRENCY_ID = "llama-omni-model"
DEFAULT_CONCURRENCY_LIMIT = 2  # answers generated at the same time; more visitors wait in the queue
DEFAULT_MAX_QUEUE_SIZE = 32
DEFAULT_MAX_FILE_SIZE = "16mb"  # a 30 s question is < 3 MB as 16-bit 48 kHz wav
DEFAULT_MAX_HISTORY_TURNS = 4  # earlier question/answer pairs the model sees (their speech included)
MAX_NEW_TOKENS_LIMIT = 1024
MAX_CHUNK_SIZE = 100
MAX_TEMPERATURE = 1.5
MIN_TEXT_UPDATE_INTERVAL = 0.04  # seconds: text-only updates closer together than this are merged

# What a visitor reads instead of an error. Each one says what happened and what to do.
MSG_NO_AUDIO = "🎙️ I did not get any audio. Press the microphone to record a question, or upload an audio file."
MSG_EMPTY = "🎙️ The recording is empty. Please record your question again."
MSG_TOO_SHORT = "🎙️ The recording is too short for me to understand. Please ask again, a little longer."
MSG_SILENT = (
    "🔇 I could not hear anything: the recording is silent. Check that the right microphone is selected and "
    "not muted, then try again."
)
MSG_TOO_LONG = "⏳ The question is longer than {seconds:g} seconds. Please ask a shorter question."
MSG_UNREADABLE = (
    "📄 I could not read this audio file. Please upload a WAV, MP3, FLAC or OGG recording, or use the microphone."
)
MSG_FAILED = "😵 Sorry, something went wrong while answering. Please try again."


class UnusableAudioError(ValueError):
    """The question's audio cannot be used; `str(error)` is a friendly message meant for the visitor."""


# ----------------------------------------------------------------------------------------------------------------------
# Model loading
# ----------------------------------------------------------------------------------------------------------------------

_DTYPES = {
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "fp32": torch.float32,
    "float32": torch.float32,
    "float": torch.float32,
}


def pick_device_and_dtype(
    device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
) -> tuple[torch.device, torch.dtype]:
    """
    The device and dtype to run the model with: CUDA in bfloat16 (float16 on GPUs without bfloat16) where a GPU is
    available, else the CPU in float32. A given `device` / `dtype` ("cuda:1", "bf16", `torch.float16`...) wins.

    Raises:
        ValueError: for an unknown dtype name, or a half-precision dtype on the CPU.
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


def resolve_model_folder(model_id: str) -> str:
    """
    A local folder for `model_id`: the folder itself, or the Hub snapshot of a Hub id (downloaded unless
    `HF_HUB_OFFLINE=1`, in which case it must be in the local cache). The folder includes the `vocoder/` subfolder,
    which `model.default_vocoder()` looks for next to the model.

    Raises:
        FileNotFoundError: `model_id` is neither a folder nor a Hub model that can be had here.
    """
    if os.path.isdir(model_id):
        return os.path.abspath(model_id)
    if model_id.startswith((".", "/", "~")) or model_id.count("/") != 1:
        raise FileNotFoundError(f"MODEL_ID={model_id!r} is not a model folder (and not a Hub id like 'org/name')")
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(model_id)
    except Exception as error:  # offline without a cached copy, unknown repo, no network...
        raise FileNotFoundError(
            f"MODEL_ID={model_id!r} is not a local folder, and the Hub model could not be had here "
            f"({type(error).__name__}: {error}). Pass a local folder, or unset MODEL_ID for the embedded model."
        ) from error


def load_model(
    model_id: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> tuple[Any, Any, str]:
    """
    Loads the model, its processor and its unit vocoder.

    Args:
        model_id: a local folder or a Hub id; default: the `MODEL_ID` environment variable; when that is unset too,
            the embedded default model.
        device, dtype: see `pick_device_and_dtype`; default: the `DEVICE` / `DTYPE` environment variables, else
            picked automatically.

    Returns:
        `(model, processor, name)`: the model in eval mode on `device`, its processor, and a name to show.

    Raises:
        FileNotFoundError: `model_id` cannot be found (see `resolve_model_folder`).
        TypeError: the folder does not hold a LLaMA-Omni model.
    """
    model_id = model_id or os.environ.get("MODEL_ID") or None
    device, dtype = pick_device_and_dtype(
        device or os.environ.get("DEVICE") or None, dtype or os.environ.get("DTYPE") or None
    )
    if model_id is None:
        # Imported here: the embedded model is optional, and assembling it is only needed when it is used.
        from offline_assets.embedded import load_default

        model, processor = load_default(device=device, dtype=dtype)
        name = "the embedded default model"
    else:
        from transformers import AutoModel, AutoProcessor

        try:  # this project's classes, registered with the Auto classes on import
            import modeling_llama_omni  # noqa: F401
            import processing  # noqa: F401

            remote_code = False
        except ImportError:  # a Space without the package: the model folder's own code (saved with remote_code=True)
            remote_code = True
        folder = resolve_model_folder(model_id)
        model = AutoModel.from_pretrained(
            folder, dtype=dtype, device_map=str(device), trust_remote_code=remote_code
        ).eval()
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=remote_code)
        name = Path(model_id).name if os.path.isdir(model_id) else model_id  # no server paths on the page
    if not callable(getattr(model, "stream", None)) or not callable(getattr(model, "default_vocoder", None)):
        raise TypeError(f"{name} holds a {type(model).__name__}, not a LLaMA-Omni model (it has no stream())")
    return model, processor, name


# ----------------------------------------------------------------------------------------------------------------------
# Answering
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSettings:
    """
    How an answer is generated.

    Args:
        chunk_size: Omega, speech units per vocoded audio chunk: smaller = earlier first audio, more vocoder calls.
        greedy: greedy decoding; otherwise sampling at `temperature`.
        temperature: the sampling temperature (0 = greedy).
        max_new_tokens: the longest answer, in text tokens.
        min_new_tokens: the shortest answer, in text tokens (0: the model decides).
    """

    chunk_size: int = 10
    greedy: bool = True
    temperature: float = 0.7
    max_new_tokens: int = 256
    min_new_tokens: int = 0

    def __post_init__(self):
        checks = {
            "chunk_size": 1 <= self.chunk_size <= MAX_CHUNK_SIZE,
            "temperature": 0.0 <= self.temperature <= MAX_TEMPERATURE,
            "max_new_tokens": 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT,
            "min_new_tokens": 0 <= self.min_new_tokens <= MAX_NEW_TOKENS_LIMIT,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} is out of range (chunk_size 1-{MAX_CHUNK_SIZE}, temperature "
                    f"0-{MAX_TEMPERATURE}, max_new_tokens 1-{MAX_NEW_TOKENS_LIMIT}, min_new_tokens "
                    f"0-{MAX_NEW_TOKENS_LIMIT})"
                )

    @classmethod
    def from_ui(
        cls, chunk_size: Any, greedy: Any, temperature: Any, max_new_tokens: Any, min_new_tokens: int = 0
    ) -> GenerationSettings:
        """Settings from the page's (or an API caller's) values, converted to their types.

        Raises:
            ValueError: a value that is not a number or out of range.
        """
        try:
            return cls(
                chunk_size=int(chunk_size),
                greedy=bool(greedy),
                temperature=float(temperature),
                max_new_tokens=int(max_new_tokens),
                min_new_tokens=int(min_new_tokens),
            )
        except (TypeError, ValueError) as error:
            raise ValueError(f"invalid settings: {error}") from error

    def generate_kwargs(self) -> dict[str, Any]:
        """The `generate()` arguments of these settings."""
        do_sample = not self.greedy and self.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": do_sample}
        if do_sample:
            kwargs["temperature"] = self.temperature
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = min(self.min_new_tokens, self.max_new_tokens)
        return kwargs


@dataclass
class Turn:
    """One question and its answer, as kept in a visitor's session.

    Args:
        audio_path: the question's audio file (shown in the chat), if any.
        question: the question as float32 mono audio at the processor's rate; `None` when it was unusable, or
            once the turn is too old to be part of the model's history (to bound a session's memory).
        decoded: whether the question's audio could be used.
        answer: the answer's text so far.
        notice: a friendly message shown instead of an answer (unusable audio, failure); such turns are not
            part of what the model sees.
        ttfa: seconds from receiving the question to its first audio chunk.
        seconds: seconds from receiving the question to the end of the answer.
    """

    audio_path: str | None
    question: np.ndarray | None = None
    decoded: bool = False
    answer: str = ""
    notice: str | None = None
    ttfa: float | None = None
    seconds: float | None = None

    @property
    def answered(self) -> bool:
        """Whether this turn is a usable question/answer pair for the model's history."""
        return self.notice is None and self.question is not None and bool(self.answer.strip())


@dataclass
class Answer:
    """A whole answer (the API's result): its text, its audio and its timings."""

    text: str
    audio: np.ndarray
    sampling_rate: int | None
    ttfa: float | None
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def friendly_audio_error(error: Exception, max_seconds: float) -> str:
    """The visitor's message for an audio-loading error of `processing.load_audio`."""
    text = str(error)
    if "is empty" in text:
        return MSG_EMPTY
    if "is silent" in text:
        return MSG_SILENT
    if "too long" in text:
        return MSG_TOO_LONG.format(seconds=max_seconds)
    if "too short" in text:
        return MSG_TOO_SHORT
    return MSG_UNREADABLE


def wav_bytes(audio: np.ndarray, sampling_rate: int) -> bytes:
    """float32 mono audio in [-1, 1] -> the bytes of a 16-bit PCM wav file (one streamed chunk)."""
    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(sampling_rate))
        writer.writeframes(pcm.tobytes())
    return buffer.getvalue()


class OmniChat:
    """
    The model side of the Space: checks questions, builds multi-turn prompts, streams answers.

    Thread-safe: every answer runs its own `model.stream()` (its own generation thread, streamer and vocoder
    stream); the model's weights are only read.

    Args:
        model: a `LlamaOmniForConditionalGeneration` in eval mode.
        processor: its `LlamaOmniProcessor`.
        vocoder: the unit vocoder; default: `model.default_vocoder()` (the model folder's `vocoder/`). Without
            one, answers are text only.
        max_history_turns: earlier answered turns given to the model with each question.
        stream_timeout: seconds to wait for each streamed item before giving up.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        vocoder: Any | None = None,
        max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS,
        stream_timeout: float = 120.0,
    ):
        self.model = model
        self.processor = processor
        self.vocoder = vocoder if vocoder is not None else model.default_vocoder()
        if self.vocoder is None:
            logger.warning("the model has no unit vocoder (no vocoder/ subfolder): answers will be text only")
        self.max_history_turns = max_history_turns
        self.stream_timeout = stream_timeout

    @property
    def sampling_rate(self) -> int | None:
        """The answer audio's sampling rate (`None` without a vocoder)."""
        return int(self.vocoder.config.sampling_rate) if self.vocoder is not None else None

    @property
    def max_audio_seconds(self) -> float:
        """The longest question accepted, in seconds."""
        return float(getattr(self.processor, "max_audio_seconds", 30.0))

    def load_question(self, audio_path: str | os.PathLike | None) -> np.ndarray:
        """
        Decodes and checks a question's audio file.

        Returns:
            float32 mono audio at the processor's sampling rate.

        Raises:
            UnusableAudioError: no file, or an empty, silent, too short, too long or unreadable one; its message is
                meant for the visitor.
        """
        if not audio_path:
            raise UnusableAudioError(MSG_NO_AUDIO)
        try:
            return self.processor.load_audio(os.fspath(audio_path))
        except ValueError as error:
            logger.info("unusable question audio %s: %s", audio_path, error)
            raise UnusableAudioError(friendly_audio_error(error, self.max_audio_seconds)) from error

    def build_inputs(self, question: np.ndarray, history: Sequence[Turn] = ()) -> dict[str, torch.Tensor]:
        """
        The model inputs for `question` after the last `max_history_turns` answered turns of `history`: each
        earlier question as speech (the processor's default instruction) followed by its answer.
        """
        answered = [turn for turn in history if turn.answered]
        earlier = answered[-self.max_history_turns :] if self.max_history_turns > 0 else []
        conversation: list[dict[str, str]] = []
        for turn in earlier:
            conversation.append({"role": "user", "content": self.processor.default_instruction})
            conversation.append({"role": "assistant", "content": turn.answer})
        conversation.append({"role": "user", "content": self.processor.default_instruction})
        prompt = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        clips = [turn.question for turn in earlier] + [question]
        inputs = self.processor(text=prompt, audio=clips, sampling_rate=self.processor.sampling_rate)
        device, dtype = self.model.device, self.model.dtype
        return {
            name: value.to(device=device, dtype=dtype) if value.is_floating_point() else value.to(device)
            for name, value in inputs.items()
        }

    def forget_old_questions(self, turns: Sequence[Turn]) -> None:
        """Drops the audio of answered turns older than the model's history window (the chat still shows them)."""
        answered = [turn for turn in turns if turn.answered]
        for turn in answered[: max(0, len(answered) - self.max_history_turns)]:
            turn.question = None

    def stream_answer(
        self, question: np.ndarray, history: Sequence[Turn], settings: GenerationSettings
    ) -> Iterator[tuple[str, np.ndarray]]:
        """
        Yields the answer's `(text_delta, audio_chunk)` pairs while it is generated (see `model.stream()`).

        Closing this generator (or leaving the loop) stops the generation at its next step and ends its thread.
        """
        inputs = self.build_inputs(question, history)
        return self.model.stream(
            self.processor,
            vocoder=self.vocoder,
            chunk_size=settings.chunk_size,
            timeout=self.stream_timeout,
            **inputs,
            **settings.generate_kwargs(),
        )

    def answer(
        self,
        question: np.ndarray,
        settings: GenerationSettings,
        history: Sequence[Turn] = (),
        cancel: threading.Event | None = None,
        started: float | None = None,
    ) -> Answer:
        """
        The whole answer to `question`, generated through the same stream as the page's.

        Args:
            cancel: when set, generation stops at its next streamed item (the answer so far is returned).
            started: `time.perf_counter()` of when the question was received (default: now), for the timings.
        """
        started = time.perf_counter() if started is None else started
        texts: list[str] = []
        chunks: list[np.ndarray] = []
        ttfa = None
        stream = self.stream_answer(question, history, settings)
        try:
            for text, audio in stream:
                texts.append(text)
                if audio.size:
                    if ttfa is None:
                        ttfa = time.perf_counter() - started
                    chunks.append(audio)
                if cancel is not None and cancel.is_set():
                    break
        finally:
            stream.close()  # stops the generation thread if the loop ended early
        seconds = time.perf_counter() - started
        audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
        stats = {
            "ttfa_seconds": None if ttfa is None else round(ttfa, 4),
            "total_seconds": round(seconds, 4),
            "audio_seconds": round(audio.size / self.sampling_rate, 4) if self.sampling_rate else 0.0,
            "audio_chunks": len(chunks),
            "sampling_rate": self.sampling_rate,
            "cancelled": bool(cancel is not None and cancel.is_set()),
        }
        return Answer("".join(texts), audio, self.sampling_rate, ttfa, seconds, stats)


# ----------------------------------------------------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------------------------------------------------


def format_timing(turn: Turn) -> str:
    """The timing line under an answer: its TTFA, and its total time once it is complete."""
    parts = []
    if turn.ttfa is not None:
        parts.append(f"first audio after {turn.ttfa:.2f} s")
    if turn.seconds is not None:
        parts.append(f"answered in {turn.seconds:.2f} s")
    return "⏱ " + " · ".join(parts) if parts else ""


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """The chat view of a session's turns (user: their recording; assistant: the answer and its timing)."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        if turn.decoded and turn.audio_path and os.path.isfile(turn.audio_path):
            messages.append({"role": "user", "content": {"path": turn.audio_path}})
        else:  # nothing playable to show (and an unreadable file must not reach the chat's audio player)
            messages.append({"role": "user", "content": "🎙️ (your recording)" if turn.audio_path else "🎙️ (no audio)"})
        if turn.notice is not None:
            messages.append({"role": "assistant", "content": turn.notice})
            continue
        body = turn.answer if turn.answer else "…"
        timing = format_timing(turn)
        messages.append({"role": "assistant", "content": f"{body}\n\n{timing}" if timing else body})
    return messages


def ttfa_summary(turn: Turn | None, has_audio: bool = True) -> str:
    """The page's line about the last answer's time to first audio (`has_audio=False`: the model cannot speak)."""
    if not has_audio:
        return "⏱ Time to first audio: — (this model has no unit vocoder: text answers only)"
    if turn is None or turn.notice is not None:
        return "⏱ Time to first audio: —"
    if turn.ttfa is None and turn.seconds is not None:
        return "⏱ Time to first audio: — (the answer had no speech)"
    if turn.ttfa is None:
        return "⏱ Time to first audio: … (waiting for the first audio chunk)"
    return (
        f"⏱ Time to first audio: **{turn.ttfa:.2f} s** (from receiving the question to its first audio chunk, "
        "measured on the server)"
    )


def build_demo(
    chat: OmniChat,
    model_name: str = "",
    settings: GenerationSettings | None = None,
    concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT,
) -> gr.Blocks:
    """
    The Space's page and its API around `chat`.

    Args:
        chat: the model side.
        model_name: shown in the footer.
        settings: the initial values of the settings (and `min_new_tokens`, which the page does not show).
        concurrency_limit: how many answers (page and API together) are generated at the same time.
    """
    settings = settings or GenerationSettings()
    min_new_tokens = settings.min_new_tokens
    has_audio = chat.sampling_rate is not None

    def respond(
        audio_path: str | None,
        turns: list[Turn] | None,
        chunk_size: float,
        greedy: bool,
        temperature: float,
        max_new_tokens: float,
    ) -> Iterator[tuple[Any, Any, list[Turn], str]]:
        """The chat event: streams the answer's text into the chat and its audio into the player."""
        started = time.perf_counter()
        turns = list(turns or [])
        turn = Turn(audio_path=audio_path)
        turns.append(turn)
        try:
            current = GenerationSettings.from_ui(chunk_size, greedy, temperature, max_new_tokens, min_new_tokens)
            turn.question = chat.load_question(audio_path)
            turn.decoded = True
        except (UnusableAudioError, ValueError) as error:
            turn.notice = str(error) if isinstance(error, UnusableAudioError) else f"⚙️ {error}"
            yield chat_messages(turns), gr.skip(), turns, ttfa_summary(turn, has_audio)
            return
        # Opens the answer's audio stream empty (the previous answer's player is reset).
        yield chat_messages(turns), None, turns, ttfa_summary(turn, has_audio)
        stream = None
        try:
            stream = chat.stream_answer(turn.question, turns[:-1], current)
            last_update = 0.0
            for text, audio in stream:
                turn.answer += text
                if audio.size and chat.sampling_rate:
                    if turn.ttfa is None:
                        turn.ttfa = time.perf_counter() - started
                    chunk: Any = wav_bytes(audio, chat.sampling_rate)
                elif time.perf_counter() - last_update < MIN_TEXT_UPDATE_INTERVAL:
                    continue  # text faster than the page needs it: sent with the next update
                else:
                    chunk = gr.skip()
                last_update = time.perf_counter()
                yield chat_messages(turns), chunk, turns, ttfa_summary(turn, has_audio)
            turn.seconds = time.perf_counter() - started
            chat.forget_old_questions(turns)
        except Exception:  # noqa: BLE001 - the visitor gets a message, the log gets the traceback
            logger.exception("answering failed")
            turn.notice = MSG_FAILED
        finally:
            if stream is not None:
                stream.close()  # a visitor who pressed stop or left: stop the generation thread now
        yield chat_messages(turns), gr.skip(), turns, ttfa_summary(turn, has_audio)

    async def answer_api(
        audio_path: str | None,
        chunk_size: float = settings.chunk_size,
        greedy: bool = settings.greedy,
        temperature: float = settings.temperature,
        max_new_tokens: float = settings.max_new_tokens,
    ) -> tuple[str, tuple[int, np.ndarray] | None, dict[str, Any]]:
        """
        Non-streaming answer for scripts: an audio file in; the answer's text, its audio (wav) and its timings out.
        Unusable audio raises an error whose message is the page's friendly message.
        """
        started = time.perf_counter()
        try:
            current = GenerationSettings.from_ui(chunk_size, greedy, temperature, max_new_tokens, min_new_tokens)
            question = await anyio.to_thread.run_sync(chat.load_question, audio_path)
        except (UnusableAudioError, ValueError) as error:
            raise gr.Error(str(error), print_exception=False) from None
        cancel = threading.Event()
        try:
            # abandon_on_cancel: a cancelled request returns at once; `cancel` stops its generation thread.
            answer = await anyio.to_thread.run_sync(
                lambda: chat.answer(question, current, cancel=cancel, started=started), abandon_on_cancel=True
            )
        except BaseException as error:
            cancel.set()
            if isinstance(error, Exception):
                logger.exception("answering failed")
                raise gr.Error(MSG_FAILED, print_exception=False) from None
            raise
        audio = None
        if answer.audio.size and answer.sampling_rate:
            audio = (answer.sampling_rate, (np.clip(answer.audio, -1.0, 1.0) * 32767.0).astype(np.int16))
        return answer.text, audio, answer.stats

    def clear() -> tuple[list, None, list, str, None]:
        return [], None, [], ttfa_summary(None, has_audio), None

    examples = ensure_examples()
    device = f"{chat.model.device} · {str(chat.model.dtype).replace('torch.', '')}"

    # delete_cache: uploads and answers older than an hour are deleted every hour. No analytics: the app runs offline.
    with gr.Blocks(title="LLaMA-Omni", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(
            "# 🦙🎧 LLaMA-Omni\n"
            "Ask a question out loud: the answer is written and spoken **while it is being generated**. "
            "Record with the microphone (or upload a file, up to 30 s); the spoken answer plays by itself."
        )
        turns_state = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                # Plain text: spoken answers carry no markdown, and a half-written answer must not re-render.
                chatbot = gr.Chatbot(
                    label="Conversation",
                    height=460,
                    elem_id="chat",
                    buttons=["copy"],
                    feedback_options=None,
                    render_markdown=False,
                )
                answer_audio = gr.Audio(
                    label="Spoken answer",
                    streaming=True,
                    autoplay=True,
                    interactive=False,
                    elem_id="answer-audio",
                )
                ttfa_md = gr.Markdown(ttfa_summary(None, has_audio), elem_id="ttfa")
            with gr.Column(scale=2):
                question_audio = gr.Audio(
                    sources=["microphone", "upload"],
                    type="filepath",
                    label="Your question (record, or upload up to 30 s)",
                    elem_id="question-audio",
                    waveform_options=gr.WaveformOptions(sample_rate=16000),
                )
                with gr.Row():
                    stop_button = gr.Button("⏹ Stop", variant="stop", elem_id="stop")
                    clear_button = gr.Button("🗑 New conversation", elem_id="clear")
                example_set = (
                    gr.Examples(
                        examples=[[path] for path, _ in examples],
                        inputs=[question_audio],
                        label="Example questions (click one to ask it)",
                        example_labels=[text for _, text in examples],
                    )
                    if examples
                    else None
                )
                with gr.Accordion("Settings", open=False):
                    chunk_slider = gr.Slider(
                        1,
                        MAX_CHUNK_SIZE,
                        value=settings.chunk_size,
                        step=1,
                        label="Chunk size Ω (speech units per audio chunk)",
                        info="Smaller: the first audio comes sooner; larger: fewer, longer chunks.",
                    )
                    greedy_box = gr.Checkbox(value=settings.greedy, label="Greedy decoding (no sampling)")
                    temperature_slider = gr.Slider(
                        0.0, MAX_TEMPERATURE, value=settings.temperature, step=0.05, label="Temperature (when sampling)"
                    )
                    max_tokens_slider = gr.Slider(
                        1, MAX_NEW_TOKENS_LIMIT, value=settings.max_new_tokens, step=1, label="Max new tokens"
                    )
        gr.Markdown(f"<small>Model: {model_name or 'LLaMA-Omni'} · {device}</small>", elem_id="model-info")

        # The non-streaming API (for scripts and tests), on hidden components.
        with gr.Column(visible=False):
            api_audio = gr.Audio(type="filepath", label="question")
            api_chunk = gr.Number(value=settings.chunk_size, precision=0, label="chunk_size")
            api_greedy = gr.Checkbox(value=settings.greedy, label="greedy")
            api_temperature = gr.Number(value=settings.temperature, label="temperature")
            api_max_tokens = gr.Number(value=settings.max_new_tokens, precision=0, label="max_new_tokens")
            api_text = gr.Textbox(label="text")
            api_wav = gr.Audio(type="filepath", format="wav", label="audio")
            api_stats = gr.JSON(label="stats")
            api_button = gr.Button()

        inputs = [question_audio, turns_state, chunk_slider, greedy_box, temperature_slider, max_tokens_slider]
        outputs = [chatbot, answer_audio, turns_state, ttfa_md]
        model_event = {"concurrency_id": CONCURRENCY_ID, "concurrency_limit": concurrency_limit}
        chat_events = [
            question_audio.stop_recording(
                respond, inputs, outputs, api_name="chat", api_visibility="undocumented", **model_event
            ),
            question_audio.upload(respond, inputs, outputs, api_visibility="private", **model_event),
        ]
        if example_set is not None:
            chat_events.append(
                example_set.load_input_event.then(respond, inputs, outputs, api_visibility="private", **model_event)
            )
        for event in chat_events:  # ready for the next question
            event.then(lambda: None, None, question_audio, api_visibility="private", queue=False)
        stop_button.click(None, None, None, cancels=chat_events, api_visibility="private")
        for trigger in (clear_button.click, chatbot.clear):
            trigger(
                clear, None, [chatbot, answer_audio, turns_state, ttfa_md, question_audio], cancels=chat_events,
                api_visibility="private", queue=False,
            )
        api_button.click(
            answer_api,
            [api_audio, api_chunk, api_greedy, api_temperature, api_max_tokens],
            [api_text, api_wav, api_stats],
            api_name="answer",
            **model_event,
        )
    demo.chat = chat  # for tests and scripts that start the app in-process
    return demo


# ----------------------------------------------------------------------------------------------------------------------
# Starting
# ----------------------------------------------------------------------------------------------------------------------


def launch(
    model_id: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    settings: GenerationSettings | None = None,
    concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT,
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
    max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
    max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
    **launch_kwargs: Any,
) -> gr.Blocks:
    """
    Loads the model and serves the Space.

    Args:
        model_id: a local model folder or a Hub id (default: `MODEL_ID`, else the embedded default model).
        host, port: where to listen (`port=None`: gradio's default, `GRADIO_SERVER_PORT` or 7860 and up).
        device, dtype: see `pick_device_and_dtype` (default: `DEVICE` / `DTYPE`, else automatic).
        settings: the initial settings; `settings.min_new_tokens` applies to every answer (the page does not show it).
        concurrency_limit: answers generated at the same time (the page and the API share it).
        max_queue_size: visitors waiting at most; more are turned away with "queue full".
        max_file_size: the upload limit ("16mb", or bytes).
        max_history_turns: earlier question/answer pairs the model sees.
        prevent_thread_lock: return once the server runs (it serves from a background thread); call
            `demo.close()` to stop it.
        quiet: do not print the address.
        launch_kwargs: passed to `gr.Blocks.launch`.

    Returns:
        The running `gr.Blocks` (its `chat` attribute is the `OmniChat`).
    """
    model, processor, name = load_model(model_id, device=device, dtype=dtype)
    # Loading ran torch kernels in this thread; answers are generated in other threads, which run at full speed
    # only once this thread's OpenMP workers are gone (see modeling_llama_omni's release_openmp_threads).
    release = getattr(sys.modules.get(type(model).__module__), "release_openmp_threads", None)
    if release is not None:
        release()
    chat = OmniChat(model, processor, max_history_turns=max_history_turns)
    demo = build_demo(chat, model_name=name, settings=settings, concurrency_limit=concurrency_limit)
    demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue_size)
    demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=max_file_size,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=False,
        allowed_paths=[str(EXAMPLES_DIR)],
        css="#ttfa {min-height: 1.5em}",
        **launch_kwargs,
    )
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    """`python space/app.py [--host H] [--port N] [--model-id ID] ...`"""
    parser = argparse.ArgumentParser(description="The LLaMA-Omni Space (a Gradio app).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--model-id", default=None, help="a model folder or Hub id (default: MODEL_ID, else embedded)")
    parser.add_argument("--device", default=None, help="e.g. cuda, cuda:1, cpu (default: automatic)")
    parser.add_argument("--dtype", default=None, help="bf16, fp16 or fp32 (default: automatic)")
    parser.add_argument("--concurrency-limit", type=int, default=DEFAULT_CONCURRENCY_LIMIT)
    parser.add_argument("--max-queue-size", type=int, default=DEFAULT_MAX_QUEUE_SIZE)
    parser.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE)
    parser.add_argument("--chunk-size", type=int, default=GenerationSettings.chunk_size, help="Omega (units)")
    parser.add_argument("--max-new-tokens", type=int, default=GenerationSettings.max_new_tokens)
    parser.add_argument("--min-new-tokens", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    launch(
        args.model_id,
        host=args.host,
        port=args.port,
        device=args.device,
        dtype=args.dtype,
        settings=GenerationSettings(
            chunk_size=args.chunk_size, max_new_tokens=args.max_new_tokens, min_new_tokens=args.min_new_tokens
        ),
        concurrency_limit=args.concurrency_limit,
        max_queue_size=args.max_queue_size,
        max_file_size=args.max_file_size,
    )


if __name__ == "__main__":
    main()
