# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The Space's hands-free mode: the visitor presses Record once and just talks.

UI only: the turn-taking (voice activity, end of turn, answers, barge-in) is `inference.HandsFreeSession`'s. The page
has three events per visitor:

- the microphone's `.stream()` event (a chunk every `stream_every` seconds) feeds the visitor's session; when the
  session ends a turn, it changes a hidden "turn signal" (and it keeps the status line up to date);
- the signal's `.change` starts the *follow* event, a generator that streams that turn's answer: its text into the
  chat, its audio chunks into an autoplaying `gr.Audio(streaming=True)`. Each answer is one run of this event, so its
  audio is a stream of its own that replaces the previous answer's in the player. When the visitor speaks over the
  answer (the session's "barge_in"), the follow event marks the answer interrupted, empties the player and ends;
- Stop cancels the running answer the way a barge-in does; "New conversation" closes the session.

One `HandsFreeVisitor` per visitor (in a `gr.State`), closed when they start a new conversation or leave the page
(`demo.unload`), which cancels their answer and ends its generation thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import gradio as gr
import numpy as np

from inference import Conversation, GenerationSettings, HandsFreeEvent, HandsFreeSession, Responder, TurnDetector
from inference import wav_bytes
from inference.conversation import DEFAULT_MAX_HISTORY_TURNS
from inference.turn_taking import ANSWER, ANSWER_END, ANSWER_START, BARGE_IN, END_OF_TURN, ERROR

from .chat_view import (
    MIN_TEXT_UPDATE_INTERVAL,
    MSG_FAILED,
    MSG_HANDS_FREE_ANSWERING,
    MSG_HANDS_FREE_HEARING,
    MSG_HANDS_FREE_IDLE,
    MSG_HANDS_FREE_LISTENING,
    MSG_HANDS_FREE_OFF,
    PageTurn,
    chat_messages,
    friendly_audio_error,
)


logger = logging.getLogger(__name__)

HANDS_FREE_CONCURRENCY_ID = "hands-free"
DEFAULT_STREAM_EVERY = 0.2  # seconds of microphone audio per chunk sent to the server
# Seconds a visitor's microphone stream holds its hands-free slot; then gradio ends the stream event and the browser,
# still recording, joins the queue again by itself (visitors waiting for a slot get theirs; the conversation goes on).
DEFAULT_TIME_LIMIT = 120
DEFAULT_END_OF_TURN_SILENCE = 0.7  # seconds of silence that end a turn (TurnDetector's default)
MIN_END_OF_TURN_SILENCE, MAX_END_OF_TURN_SILENCE = 0.3, 2.0
EVENT_WAIT = 0.2  # seconds the follow event waits for the next answer event before it looks around
CLOSE_TIMEOUT = 10.0  # seconds a closing session waits for its answer thread
_ANSWER_KINDS = (ANSWER_START, ANSWER, ANSWER_END, BARGE_IN, ERROR)


class HandsFreeVisitor:
    """
    One visitor's hands-free conversation: their `inference.HandsFreeSession`, what the chat shows of each turn, and
    each turn's answer events until the page has shown them.

    Args:
        responder: answers the turns (shared by every visitor).
        settings: the generation settings (`update_settings` changes them for the next answers).
        sampling_rate: the microphone's rate.
        end_of_turn_silence_s: the silence that ends a turn (see `inference.TurnDetector`).
        max_history_turns: earlier turns the model sees.

    Raises:
        ValueError: a bad sampling rate or silence (see `inference.TurnDetector`).
    """

    def __init__(
        self,
        responder: Responder,
        settings: GenerationSettings,
        sampling_rate: int,
        *,
        end_of_turn_silence_s: float = DEFAULT_END_OF_TURN_SILENCE,
        max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS,
    ):
        self.key = uuid.uuid4().hex[:12]
        self.turns: list[PageTurn] = []  # one per turn the session ended, in its order (its turn indices)
        self.followed = 0  # the turns whose answer the page has finished showing
        self.status = MSG_HANDS_FREE_IDLE
        self.closed = False
        self._heard_at: list[float] = []  # perf_counter() when each turn's end was heard
        self._events: dict[int, queue.SimpleQueue[HandsFreeEvent]] = {}
        self._lock = threading.Lock()
        self._feeding = threading.Lock()  # the session is fed from one thread at a time (stream chunks, stop)
        self.session = HandsFreeSession(
            responder,
            settings,
            conversation=Conversation(max_history_turns=max_history_turns),
            detector=TurnDetector(sampling_rate, end_of_turn_silence_s=end_of_turn_silence_s),
            on_event=self._on_event,
        )

    # -- the microphone ------------------------------------------------------------------------------------------------

    def feed(self, chunk: np.ndarray, sampling_rate: int) -> bool:
        """
        Feeds one microphone chunk to the session; returns whether a turn ended (and so an answer will follow).

        Raises:
            TypeError / ValueError: a bad chunk (see `inference.TurnDetector.feed`).
            RuntimeError: the visitor is closed.
        """
        with self._feeding:
            if self.closed:
                raise RuntimeError("this hands-free conversation is closed")
            if sampling_rate != self.session.sampling_rate:  # another microphone: a new stream, same conversation
                self._restart(sampling_rate)
            return self._add_turns(self.session.feed(chunk, sampling_rate))

    def end_stream(self) -> bool:
        """The microphone stopped: a turn being spoken ends now and is answered. Returns whether one did."""
        with self._feeding:
            return False if self.closed else self._add_turns(self.session.flush())

    def update_settings(self, settings: GenerationSettings) -> None:
        """The settings of the next answers."""
        self.session.settings = settings

    def cancel(self) -> bool:
        """Stops the running answer as speaking over it does (Stop); returns whether one ran."""
        return False if self.closed else self.session.cancel()

    def close(self) -> None:
        """Cancels the running answer and ends its generation thread. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.session.close(timeout=CLOSE_TIMEOUT)

    @property
    def signal(self) -> str:
        """Changes with every turn that ends (the value of the page's hidden turn signal)."""
        return f"{self.key}:{len(self.turns)}"

    def current_status(self) -> str:
        """The status line: listening, hearing the visitor, or answering."""
        if self.session.detector.in_turn:
            return MSG_HANDS_FREE_HEARING
        if self.session.answering:
            return MSG_HANDS_FREE_ANSWERING
        return MSG_HANDS_FREE_LISTENING

    # -- the answers ---------------------------------------------------------------------------------------------------

    def heard_at(self, turn: int) -> float:
        """`time.perf_counter()` when the end of turn `turn` was heard (the answer's timings count from there)."""
        return self._heard_at[turn]

    def next_event(self, turn: int, timeout: float) -> HandsFreeEvent | None:
        """The next answer event of turn `turn` ("answer_start", "answer", "answer_end", "barge_in", "error"), or None
        when none came within `timeout` seconds."""
        try:
            return self._queue(turn).get(timeout=timeout)
        except queue.Empty:
            return None

    def forget(self, turn: int) -> None:
        """Drops what is left of turn `turn`'s events (the page has shown its answer)."""
        with self._lock:
            self._events.pop(turn, None)

    # -- internals -----------------------------------------------------------------------------------------------------

    def _queue(self, turn: int) -> queue.SimpleQueue[HandsFreeEvent]:
        with self._lock:
            return self._events.setdefault(turn, queue.SimpleQueue())

    def _on_event(self, event: HandsFreeEvent) -> None:
        # called by the session (from the feeding thread or the answer thread): must return at once
        if event.kind in _ANSWER_KINDS:
            self._queue(event.turn).put(event)

    def _add_turns(self, events: Sequence[Any]) -> bool:
        ended = False
        for event in events:
            if event.kind != END_OF_TURN:
                continue
            self.turns.append(PageTurn(decoded=True, spoken_s=event.end_s - event.start_s))
            self._heard_at.append(time.perf_counter())
            ended = True
        return ended

    def _restart(self, sampling_rate: int) -> None:
        """A session at another rate that goes on with the same conversation (the running answer is cancelled)."""
        old = self.session
        old.close(timeout=CLOSE_TIMEOUT)
        self.session = HandsFreeSession(
            old.responder,
            old.settings,
            conversation=old.conversation,
            detector=TurnDetector(
                sampling_rate,
                end_of_turn_silence_s=old.detector.end_of_turn_silence_s,
            ),
            on_event=self._on_event,
        )


def follow_answers(
    visitor: HandsFreeVisitor | None, sampling_rate: int | None
) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    """
    The follow event: streams the answers of the turns the page has not shown yet, in order, as `(chat messages,
    audio update)`. The newest turn's answer is played (a new audio stream: the previous answer stops); an older one
    (the visitor has already spoken again) only gets its text. An answer ends here when it is complete and its audio
    has played (as delivered), or when the visitor speaks over it: the player is emptied and the answer is marked
    interrupted. Closing the generator (Stop, or the visitor left) cancels the answer it was following.

    Args:
        visitor: the visitor's conversation (None: nothing to show).
        sampling_rate: the rate of the answers' audio (None: the model answers in text only).
    """
    if visitor is None or visitor.closed or visitor.followed >= len(visitor.turns):
        yield gr.skip(), gr.skip()  # nothing to follow (an event that yields nothing would empty its outputs)
        return
    while not visitor.closed and visitor.followed < len(visitor.turns):
        index = visitor.followed
        live = index == len(visitor.turns) - 1
        completed = False
        try:
            yield from _follow_turn(visitor, index, live, sampling_rate)
            completed = True
        finally:
            if not completed and not visitor.closed:  # the page let go of this answer: nobody will hear it
                visitor.cancel()
        visitor.forget(index)
        visitor.followed = index + 1


def _silence(live: bool, sampling_rate: int | None) -> Any:
    """The audio update that stops the player (it drops what it still holds of the answer)."""
    return gr.update(value=None) if live and sampling_rate else gr.skip()


def _follow_turn(
    visitor: HandsFreeVisitor, index: int, live: bool, sampling_rate: int | None
) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    turn = visitor.turns[index]
    heard_at = visitor.heard_at(index)
    if live and sampling_rate:
        yield chat_messages(visitor.turns), None  # opens this answer's audio stream: the previous answer stops
    else:
        yield chat_messages(visitor.turns), gr.skip()
    max_seconds = float(getattr(visitor.session.responder.processor, "max_audio_seconds", 30.0))
    playing_until = 0.0  # perf_counter() at which the audio delivered so far ends, played as delivered
    last_update = 0.0
    started = done = False
    while not visitor.closed:
        event = visitor.next_event(index, EVENT_WAIT)
        if event is None:
            newer_turn = len(visitor.turns) > index + 1
            if done and (newer_turn or time.perf_counter() >= playing_until):
                return
            continue
        if event.kind == BARGE_IN:  # the visitor spoke over the answer (or pressed Stop): silence it now
            turn.interrupted = True
            yield chat_messages(visitor.turns), _silence(live, sampling_rate)
            return
        if event.kind == ERROR:  # before the answer started: the turn's audio was unusable; after: answering failed
            logger.info("hands-free turn %d: %s", index, event.message)
            turn.error = MSG_FAILED if started else friendly_audio_error(ValueError(event.message), max_seconds)
            yield chat_messages(visitor.turns), gr.skip()
            return
        if event.kind == ANSWER_START:
            started = True
            continue
        if event.kind == ANSWER_END:
            if event.timeline is not None and event.timeline.cancelled:
                turn.interrupted = True
                yield chat_messages(visitor.turns), _silence(live, sampling_rate)
                return
            turn.total_s = event.clock - heard_at
            done = True
            yield chat_messages(visitor.turns), gr.skip()
            continue
        if event.kind != ANSWER:
            continue
        turn.answer += event.text
        if event.has_audio:
            if turn.ttfa_s is None:
                turn.ttfa_s = event.clock - heard_at
            if live and sampling_rate:
                playing_until = max(playing_until, time.perf_counter()) + event.audio.size / sampling_rate
                last_update = time.perf_counter()
                yield chat_messages(visitor.turns), wav_bytes(event.audio, sampling_rate)
                continue
        if time.perf_counter() - last_update >= MIN_TEXT_UPDATE_INTERVAL:
            last_update = time.perf_counter()
            yield chat_messages(visitor.turns), gr.skip()


class HandsFreePanel:
    """
    The hands-free tab of the page: build it inside a `gr.Tab`, then `connect` it once the shared settings exist.

    Args:
        responder: answers the turns (shared with the rest of the page).
        min_new_tokens: the shortest answer, in text tokens (the page does not show it).
        max_history_turns: earlier turns the model sees.
        concurrency_limit: visitors in hands-free mode at the same time (each holds a microphone stream; their
            answers are generated in their sessions' own threads, besides the page's queue).
        stream_every: seconds of microphone audio per chunk sent to the server.
        time_limit: seconds a microphone stream holds its slot before it queues again (see `DEFAULT_TIME_LIMIT`).
    """

    def __init__(
        self,
        responder: Responder,
        *,
        min_new_tokens: int = 0,
        max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS,
        concurrency_limit: int = 2,
        stream_every: float = DEFAULT_STREAM_EVERY,
        time_limit: float | None = DEFAULT_TIME_LIMIT,
    ):
        self.responder = responder
        self.min_new_tokens = min_new_tokens
        self.max_history_turns = max_history_turns
        self.concurrency_limit = concurrency_limit
        self.stream_every = stream_every
        self.time_limit = time_limit
        self._visitors: dict[str, HandsFreeVisitor] = {}  # by gradio session, to close them when their page leaves
        self._visitors_lock = threading.Lock()
        has_audio = responder.sampling_rate is not None
        with gr.Row():
            with gr.Column(scale=3):
                self.chatbot = gr.Chatbot(
                    label="Conversation",
                    height=460,
                    elem_id="handsfree-chat",
                    buttons=["copy"],
                    feedback_options=None,
                    render_markdown=False,
                )
                self.answer_audio = gr.Audio(
                    label="Spoken answer",
                    streaming=True,
                    autoplay=True,
                    interactive=False,
                    elem_id="handsfree-audio",
                    visible=has_audio,
                )
                self.status = gr.Markdown(MSG_HANDS_FREE_IDLE, elem_id="handsfree-status")
            with gr.Column(scale=2):
                self.microphone = gr.Audio(
                    sources=["microphone"],
                    streaming=True,
                    type="numpy",
                    label="Your microphone (press Record once, then just talk)",
                    elem_id="handsfree-mic",
                )
                gr.Markdown(
                    "The answer starts when you pause; speak while it answers to interrupt it. With loudspeakers, "
                    "keep your browser's echo cancellation on (or use headphones), so that the answer's own voice "
                    "does not interrupt it."
                )
                self.silence_slider = gr.Slider(
                    MIN_END_OF_TURN_SILENCE,
                    MAX_END_OF_TURN_SILENCE,
                    value=DEFAULT_END_OF_TURN_SILENCE,
                    step=0.1,
                    label="End of turn after a pause of (s)",
                    info="Shorter: quicker answers, but a pause inside a question may cut it. From the next "
                    "conversation on.",
                    elem_id="handsfree-silence",
                )
                with gr.Row():
                    self.stop_button = gr.Button("⏹ Stop the answer", variant="stop", elem_id="handsfree-stop")
                    self.clear_button = gr.Button("🗑 New conversation", elem_id="handsfree-clear")
        self.state = gr.State(None, delete_callback=self._close_visitor)  # the visitor's `HandsFreeVisitor`
        # Changes whenever a turn ends; its change starts the follow event (rendered, hidden: a DOM value to watch).
        self.turn_signal = gr.Textbox(visible="hidden", elem_id="handsfree-signal")

    @property
    def visitors(self) -> list[HandsFreeVisitor]:
        """The open hands-free conversations (one per visitor with a microphone stream so far)."""
        with self._visitors_lock:
            return list(self._visitors.values())

    # -- events --------------------------------------------------------------------------------------------------------

    def connect(self, demo: gr.Blocks, settings_inputs: Sequence[gr.components.Component]) -> None:
        """Wires the events; `settings_inputs` are the page's chunk size, greedy, temperature and max new tokens."""
        self.microphone.stream(
            self._feed,
            [self.microphone, self.state, self.silence_slider, *settings_inputs],
            [self.state, self.turn_signal, self.status],
            stream_every=self.stream_every,
            time_limit=self.time_limit,
            concurrency_id=HANDS_FREE_CONCURRENCY_ID,
            concurrency_limit=self.concurrency_limit,
            show_progress="hidden",
            show_progress_on=[self.turn_signal],
            api_visibility="private",
        )
        self.microphone.stop_recording(
            self._end_stream, [self.state], [self.turn_signal, self.status], show_progress="hidden",
            api_visibility="private", queue=False,
        )
        follow = self.turn_signal.change(
            self._follow,
            [self.state],
            [self.chatbot, self.answer_audio],
            trigger_mode="always_last",
            concurrency_limit=None,
            show_progress="hidden",
            api_visibility="private",
        )
        self.stop_button.click(
            lambda visitor: visitor.cancel() if visitor is not None else None, [self.state], None,
            api_visibility="private", queue=False,
        )
        self.clear_button.click(
            self._clear, [self.state], [self.state, self.chatbot, self.answer_audio, self.turn_signal, self.status],
            cancels=[follow], api_visibility="private", queue=False,
        )
        demo.unload(self._leave)

    def _feed(
        self,
        chunk: tuple[int, np.ndarray] | None,
        visitor: HandsFreeVisitor | None,
        end_of_turn_silence: float,
        chunk_size: float,
        greedy: bool,
        temperature: float,
        max_new_tokens: float,
        request: gr.Request,
    ) -> tuple[Any, Any, Any]:
        """The microphone's stream event: one chunk into the visitor's session."""
        if chunk is None:
            return gr.skip(), gr.skip(), gr.skip()
        sampling_rate, samples = chunk
        try:
            settings = GenerationSettings.from_values(
                chunk_size, greedy, temperature, max_new_tokens, self.min_new_tokens
            )
        except ValueError as error:
            raise gr.Error(f"⚙️ {error}", print_exception=False) from None
        restored = False
        if visitor is None or visitor.closed:
            # The page's state can lag behind this session's conversation (a "New conversation" click whose empty state
            # lands after the next chunk opened one): the session's open conversation goes on, never a second one.
            registered = self._registered(request)
            if registered is not None:
                visitor, restored = registered, True
        new_visitor = visitor is None or visitor.closed
        if new_visitor:
            visitor = HandsFreeVisitor(
                self.responder,
                settings,
                int(sampling_rate),
                end_of_turn_silence_s=float(end_of_turn_silence),
                max_history_turns=self.max_history_turns,
            )
            self._register(request, visitor)
        visitor.update_settings(settings)
        try:
            ended = visitor.feed(samples, int(sampling_rate))
        except RuntimeError:
            if not visitor.closed:
                raise
            return gr.skip(), gr.skip(), gr.skip()  # "New conversation" closed it meanwhile: the next chunk starts anew
        status = visitor.current_status()
        status_update = gr.skip() if status == visitor.status else status
        visitor.status = status
        state_update = visitor if new_visitor or restored else gr.skip()
        return state_update, (visitor.signal if ended else gr.skip()), status_update

    def _follow(self, visitor: HandsFreeVisitor | None) -> Iterator[tuple[list[dict[str, Any]], Any]]:
        """The follow event (see `follow_answers`)."""
        yield from follow_answers(visitor, self.responder.sampling_rate)

    @staticmethod
    def _end_stream(visitor: HandsFreeVisitor | None) -> tuple[Any, str]:
        if visitor is None or visitor.closed:
            return gr.skip(), MSG_HANDS_FREE_OFF
        ended = visitor.end_stream()
        visitor.status = MSG_HANDS_FREE_OFF
        return (visitor.signal if ended else gr.skip()), MSG_HANDS_FREE_OFF

    def _clear(self, visitor: HandsFreeVisitor | None, request: gr.Request) -> tuple[None, list, None, str, str]:
        self._close_visitor(visitor)
        self._close_visitor(self._registered(request))  # the session's conversation, where the state lags behind it
        return None, [], None, "", MSG_HANDS_FREE_IDLE

    def _registered(self, request: gr.Request | None) -> HandsFreeVisitor | None:
        """The open conversation registered for the request's session, if any."""
        with self._visitors_lock:
            visitor = self._visitors.get(getattr(request, "session_hash", None))
        return None if visitor is None or visitor.closed else visitor

    def _register(self, request: gr.Request | None, visitor: HandsFreeVisitor) -> None:
        session = getattr(request, "session_hash", None)
        if session is None:
            return
        with self._visitors_lock:
            previous = self._visitors.get(session)
            self._visitors[session] = visitor
        if previous is not None and previous is not visitor:
            previous.close()

    def _close_visitor(self, visitor: HandsFreeVisitor | None) -> None:
        if visitor is None:
            return
        with self._visitors_lock:
            for session, registered in list(self._visitors.items()):
                if registered is visitor:
                    del self._visitors[session]
        visitor.close()

    def _leave(self, request: gr.Request) -> None:
        """The visitor closed or reloaded the page: their answer stops and their session is closed."""
        with self._visitors_lock:
            visitor = self._visitors.pop(getattr(request, "session_hash", None), None)
        if visitor is not None:
            visitor.close()


__all__ = [
    "DEFAULT_END_OF_TURN_SILENCE",
    "DEFAULT_STREAM_EVERY",
    "DEFAULT_TIME_LIMIT",
    "HANDS_FREE_CONCURRENCY_ID",
    "HandsFreePanel",
    "HandsFreeVisitor",
    "follow_answers",
]
