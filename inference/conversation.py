# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Multi-turn spoken conversations on top of the inference runtime.

    from inference import Conversation, GenerationSettings, Responder, Turn, load_model

    model, processor = load_model()                      # the embedded llama-omni-tiny, or a model folder
    responder = Responder(model, processor)              # one per model, shared by every conversation
    conversation = Conversation(max_history_turns=4)     # one per dialogue: its turns
    conversation.add(Turn(responder.load_question("q1.wav")))
    timeline = responder.reply(conversation, GenerationSettings(max_new_tokens=80))
    conversation.add(Turn(responder.load_question("q2.wav")))   # the model hears q1 and reads its answer
    for event in responder.stream_reply(conversation, GenerationSettings(chunk_size=10)):
        print(event.text, end="", flush=True)
    conversation.turns[-1].answer, conversation.turns[-1].ttfa_s, conversation.turns[-1].total_s

A `Conversation` is the state of one dialogue: its `Turn`s (each question's audio and the answer's text and timings)
and how many earlier turns the model sees. A `Responder` answers the latest question of a conversation with one
model, through the runtime's `stream_answer` (so every timing is read from the answer's `Timeline`): the prompt holds
the earlier questions as speech and their answers as text, then the new question. The Space keeps one `Conversation`
per visitor and one `Responder` for all of them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .runtime import AnswerEvent, Timeline, model_inputs, sampling_rate_of, stream_answer


logger = logging.getLogger(__name__)

DEFAULT_MAX_HISTORY_TURNS = 4  # earlier question/answer pairs the model sees (their speech included)
MAX_NEW_TOKENS_LIMIT = 1024
MAX_CHUNK_SIZE = 100
MAX_TEMPERATURE = 1.5


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

    Raises:
        ValueError: a value out of range (chunk_size 1-`MAX_CHUNK_SIZE`, temperature 0-`MAX_TEMPERATURE`,
            max_new_tokens 1-`MAX_NEW_TOKENS_LIMIT`, min_new_tokens 0-`MAX_NEW_TOKENS_LIMIT`).
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
    def from_values(
        cls, chunk_size: Any, greedy: Any, temperature: Any, max_new_tokens: Any, min_new_tokens: Any = 0
    ) -> GenerationSettings:
        """
        Settings from loosely typed values (a web form's, an API caller's), converted to their types.

        Raises:
            ValueError: a value that is not a number, or is out of range.
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
        """The `generate()` arguments of these settings (`chunk_size` goes to the stream, not here)."""
        do_sample = not self.greedy and self.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": do_sample}
        if do_sample:
            kwargs["temperature"] = self.temperature
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = min(self.min_new_tokens, self.max_new_tokens)
        return kwargs


@dataclass
class Turn:
    """
    One spoken question of a conversation and its answer.

    Args:
        question: the question as float32 mono audio at the processor's rate (see `Responder.load_question`);
            `None` when there is none (unusable audio), or once the turn is too old to be part of the model's
            history (`Conversation.forget_old_questions`, which bounds a conversation's memory).
        answer: the answer's text so far (its text deltas as they came).
        ttfa_s: seconds from receiving the question to the answer's first audio chunk (None until it comes).
        total_s: seconds from receiving the question to the end of the answer (None while it runs, or when it was
            abandoned).
        error: why this turn has no usable answer (e.g. a message for the user); such turns are left out of what
            the model sees.
    """

    question: np.ndarray | None = None
    answer: str = ""
    ttfa_s: float | None = None
    total_s: float | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        """Whether this turn is a usable question/answer pair for the model's history."""
        return self.error is None and self.question is not None and bool(self.answer.strip())


@dataclass
class Conversation:
    """
    The state of one spoken dialogue: its turns, the last of which is the question to answer next.

    Args:
        max_history_turns: earlier answered turns the model sees with each question (their speech included).
        turns: the turns so far, oldest first.

    Raises:
        ValueError: a negative `max_history_turns`.
    """

    max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS
    turns: list[Turn] = field(default_factory=list)

    def __post_init__(self):
        if self.max_history_turns < 0:
            raise ValueError(f"max_history_turns must be >= 0, got {self.max_history_turns}")

    def add(self, turn: Turn) -> Turn:
        """Appends `turn` (a new question) and returns it."""
        self.turns.append(turn)
        return turn

    @property
    def current(self) -> Turn:
        """The last turn: the question being answered.

        Raises:
            ValueError: the conversation has no turn.
        """
        if not self.turns:
            raise ValueError("the conversation has no turn: add one with a question first")
        return self.turns[-1]

    def history(self) -> list[Turn]:
        """The earlier answered turns the model sees with the current question (the last `max_history_turns`)."""
        answered = [turn for turn in self.turns[:-1] if turn.answered]
        return answered[-self.max_history_turns :] if self.max_history_turns > 0 else []

    def messages(self, instruction: str) -> list[dict[str, str]]:
        """
        The chat-template messages for the current question: each earlier question as a user turn holding
        `instruction` (which holds the speech placeholder) followed by its answer, then the current question.
        """
        messages: list[dict[str, str]] = []
        for turn in self.history():
            messages.append({"role": "user", "content": instruction})
            messages.append({"role": "assistant", "content": turn.answer})
        messages.append({"role": "user", "content": instruction})
        return messages

    def forget_old_questions(self) -> None:
        """Drops the audio of answered turns older than the model's history window (their text stays)."""
        answered = [turn for turn in self.turns if turn.answered]
        for turn in answered[: max(0, len(answered) - self.max_history_turns)]:
            turn.question = None


class Responder:
    """
    Answers the latest question of spoken conversations with one model, streaming, through the inference runtime.

    Thread-safe: every answer runs its own `model.stream()` (its own generation thread, streamer and vocoder
    stream); the model's weights are only read. The conversations are the callers'.

    Args:
        model: a `LlamaOmniForConditionalGeneration` in eval mode.
        processor: its `LlamaOmniProcessor`.
        vocoder: the unit vocoder; default: `model.default_vocoder()` (the model folder's `vocoder/`). Without
            one, answers are text only.
        stream_timeout: seconds to wait for each streamed item before giving up.
    """

    def __init__(self, model: Any, processor: Any, vocoder: Any | None = None, stream_timeout: float = 120.0):
        self.model = model
        self.processor = processor
        self.vocoder = vocoder if vocoder is not None else model.default_vocoder()
        if self.vocoder is None:
            logger.warning("the model has no unit vocoder (no vocoder/ subfolder): answers will be text only")
        self.sampling_rate: int | None = sampling_rate_of(model, self.vocoder) if self.vocoder is not None else None
        self.stream_timeout = stream_timeout

    def load_question(self, audio: Any) -> np.ndarray:
        """
        Decodes and checks a question's audio with the processor's rules.

        Args:
            audio: a file path, or anything else the processor's `load_audio` accepts.

        Returns:
            float32 mono audio at the processor's sampling rate.

        Raises:
            ValueError: empty, silent, too short, too long, unreadable or otherwise unusable audio (the message says
                what was wrong).
        """
        return self.processor.load_audio(audio)

    def build_inputs(self, conversation: Conversation) -> dict[str, torch.Tensor]:
        """
        The model inputs for the conversation's current question after its history (see `Conversation.messages`),
        on the model's device.

        Raises:
            ValueError: the current turn has no question audio.
        """
        turn = conversation.current
        if turn.question is None:
            raise ValueError("the conversation's current turn has no question audio")
        messages = conversation.messages(self.processor.default_instruction)
        prompt = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        clips = [earlier.question for earlier in conversation.history()] + [turn.question]
        return model_inputs(self.model, self.processor, clips, text=prompt, sampling_rate=self.processor.sampling_rate)

    def stream_reply(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None = None,
        *,
        timeline: Timeline | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[AnswerEvent]:
        """
        Answers the conversation's current question, yielding each `AnswerEvent` as it is recorded in `timeline`.

        The current turn is kept up to date before each event is yielded: its `answer` grows by the event's text,
        its `ttfa_s` is the timeline's once the first audio came. When the answer ends (or `cancel` stops it), the
        turn gets its `total_s` and the conversation forgets the question audio that fell out of its history window.
        Closing this generator early (or leaving the loop) stops the generation at its next step and ends its
        thread; the turn then keeps `total_s=None`.

        Args:
            settings: default `GenerationSettings()`.
            timeline: where the events go (default: a new one starting now; pass one created when the question was
                received to count from then).
            cancel: when set (from any thread), generation stops at its next step and nothing more is vocoded.

        Raises:
            ValueError: the current turn has no question audio.
        """
        settings = settings if settings is not None else GenerationSettings()
        turn = conversation.current
        timeline = timeline if timeline is not None else Timeline(self.sampling_rate)
        inputs = self.build_inputs(conversation)
        events = stream_answer(
            self.model, self.processor, inputs=inputs, timeline=timeline, vocoder=self.vocoder,
            chunk_size=settings.chunk_size, timeout=self.stream_timeout, cancel=cancel, **settings.generate_kwargs(),
        )
        with contextlib.closing(events):  # stops the generation thread when this generator is closed early
            for event in events:
                turn.answer += event.text
                if event.has_audio and turn.ttfa_s is None:
                    turn.ttfa_s = timeline.ttfa_s
                yield event
        turn.total_s = timeline.total_s
        conversation.forget_old_questions()

    def reply(
        self,
        conversation: Conversation,
        settings: GenerationSettings | None = None,
        *,
        timeline: Timeline | None = None,
        cancel: threading.Event | None = None,
        on_event: Callable[[AnswerEvent], None] | None = None,
    ) -> Timeline:
        """
        The whole answer to the conversation's current question (see `stream_reply`), as its `Timeline`.

        Args:
            on_event: called with every event as it arrives.
        """
        timeline = timeline if timeline is not None else Timeline(self.sampling_rate)
        for event in self.stream_reply(conversation, settings, timeline=timeline, cancel=cancel):
            if on_event is not None:
                on_event(event)
        return timeline


__all__ = [
    "DEFAULT_MAX_HISTORY_TURNS",
    "MAX_CHUNK_SIZE",
    "MAX_NEW_TOKENS_LIMIT",
    "MAX_TEMPERATURE",
    "Conversation",
    "GenerationSettings",
    "Responder",
    "Turn",
]
