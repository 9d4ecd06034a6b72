# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What a visitor of the Space reads: the friendly messages for unusable audio, the chat view of a conversation's
turns, and the timing lines. No gradio here: plain text and message dicts."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inference import Responder, Turn


logger = logging.getLogger(__name__)

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

# The hands-free mode's status line.
MSG_HANDS_FREE_IDLE = (
    "🎙️ Press **Record** once, then just talk: I answer when you pause, and I stop when you speak over me."
)
MSG_HANDS_FREE_LISTENING = "🟢 Listening… (just talk)"
MSG_HANDS_FREE_HEARING = "🗣️ Hearing you… (I answer when you pause)"
MSG_HANDS_FREE_ANSWERING = "💬 Answering… (speak to interrupt me)"
MSG_HANDS_FREE_OFF = "⏸ The microphone is off: press **Record** to talk again."

MIN_TEXT_UPDATE_INTERVAL = 0.04  # seconds: text-only updates of the chat closer together than this are merged


class UnusableAudioError(ValueError):
    """The question's audio cannot be used; `str(error)` is a friendly message meant for the visitor."""


@dataclass
class PageTurn(Turn):
    """
    A turn of the page's conversation: an `inference.Turn` (its `error` is the friendly message shown instead of an
    answer) plus what the chat shows of the question.

    Args:
        audio_path: the question's audio file (shown in the chat), if any.
        decoded: whether the question's audio could be used (it stays True after the audio is forgotten).
        interrupted: whether the visitor spoke over the answer (or pressed Stop) and so cut it short.
        spoken_s: for a spoken turn of the hands-free mode (no file), how long the visitor spoke.
    """

    audio_path: str | None = None
    decoded: bool = False
    interrupted: bool = False
    spoken_s: float | None = None


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


def load_question(responder: Responder, audio_path: str | os.PathLike | None) -> np.ndarray:
    """
    Decodes and checks a question's audio file (see `Responder.load_question`).

    Raises:
        UnusableAudioError: no file, or an empty, silent, too short, too long or unreadable one; its message is meant
            for the visitor.
    """
    if not audio_path:
        raise UnusableAudioError(MSG_NO_AUDIO)
    try:
        return responder.load_question(os.fspath(audio_path))
    except ValueError as error:
        logger.info("unusable question audio %s: %s", audio_path, error)
        max_seconds = float(getattr(responder.processor, "max_audio_seconds", 30.0))
        raise UnusableAudioError(friendly_audio_error(error, max_seconds)) from error


def format_timing(turn: Turn) -> str:
    """The timing line under an answer: its TTFA, its total time once it is complete, and whether it was
    interrupted."""
    parts = []
    if turn.ttfa_s is not None:
        parts.append(f"first audio after {turn.ttfa_s:.2f} s")
    if turn.total_s is not None:
        parts.append(f"answered in {turn.total_s:.2f} s")
    line = "⏱ " + " · ".join(parts) if parts else ""
    if getattr(turn, "interrupted", False):
        line = f"{line} · ✋ interrupted" if line else "✋ interrupted"
    return line


def chat_messages(turns: Sequence[PageTurn]) -> list[dict[str, Any]]:
    """The chat view of a conversation's turns (user: their recording, or how long they spoke; assistant: the answer
    and its timing)."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        if turn.decoded and turn.audio_path and os.path.isfile(turn.audio_path):
            messages.append({"role": "user", "content": {"path": turn.audio_path}})
        elif turn.spoken_s is not None:
            messages.append({"role": "user", "content": f"🗣️ (you spoke for {turn.spoken_s:.1f} s)"})
        else:  # nothing playable to show (and an unreadable file must not reach the chat's audio player)
            messages.append({"role": "user", "content": "🎙️ (your recording)" if turn.audio_path else "🎙️ (no audio)"})
        if turn.error is not None:
            messages.append({"role": "assistant", "content": turn.error})
            continue
        body = turn.answer if turn.answer else "…"
        timing = format_timing(turn)
        messages.append({"role": "assistant", "content": f"{body}\n\n{timing}" if timing else body})
    return messages


def ttfa_summary(turn: Turn | None, has_audio: bool = True) -> str:
    """The page's line about the last answer's time to first audio (`has_audio=False`: the model cannot speak)."""
    if not has_audio:
        return "⏱ Time to first audio: — (this model has no unit vocoder: text answers only)"
    if turn is None or turn.error is not None:
        return "⏱ Time to first audio: —"
    if turn.ttfa_s is None and turn.total_s is not None:
        return "⏱ Time to first audio: — (the answer had no speech)"
    if turn.ttfa_s is None:
        return "⏱ Time to first audio: … (waiting for the first audio chunk)"
    return (
        f"⏱ Time to first audio: **{turn.ttfa_s:.2f} s** (from receiving the question to its first audio chunk, "
        "measured on the server)"
    )


__all__ = [
    "MIN_TEXT_UPDATE_INTERVAL",
    "MSG_EMPTY",
    "MSG_FAILED",
    "MSG_HANDS_FREE_ANSWERING",
    "MSG_HANDS_FREE_HEARING",
    "MSG_HANDS_FREE_IDLE",
    "MSG_HANDS_FREE_LISTENING",
    "MSG_HANDS_FREE_OFF",
    "MSG_NO_AUDIO",
    "MSG_SILENT",
    "MSG_TOO_LONG",
    "MSG_TOO_SHORT",
    "MSG_UNREADABLE",
    "PageTurn",
    "UnusableAudioError",
    "chat_messages",
    "format_timing",
    "friendly_audio_error",
    "load_question",
    "ttfa_summary",
]
