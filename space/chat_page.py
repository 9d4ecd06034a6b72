# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The Space's page and its API, on top of `inference.Responder`: a recorded (or uploaded) question streams its
answer's text into the chat and its audio chunks into an autoplaying player; the hands-free tab (`hands_free.py`)
lets the visitor just talk; `/answer` answers an audio file in one call for scripts."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import gradio as gr

from inference import Conversation, GenerationSettings, Responder, Timeline, Turn, wav_bytes
from inference.conversation import DEFAULT_MAX_HISTORY_TURNS, MAX_CHUNK_SIZE, MAX_NEW_TOKENS_LIMIT, MAX_TEMPERATURE

from .chat_view import (
    MIN_TEXT_UPDATE_INTERVAL,
    MSG_FAILED,
    PageTurn,
    UnusableAudioError,
    chat_messages,
    load_question,
    ttfa_summary,
)
from .example_questions import ensure_examples
from .hands_free import HandsFreePanel


logger = logging.getLogger(__name__)

CONCURRENCY_ID = "llama-omni-model"
DEFAULT_CONCURRENCY_LIMIT = 2  # answers generated at the same time; more visitors wait in the queue


def api_stats(timeline: Timeline) -> dict[str, Any]:
    """The `/answer` endpoint's timings of an answer, read from its timeline."""
    return {
        "ttfa_seconds": None if timeline.ttfa_s is None else round(timeline.ttfa_s, 4),
        "total_seconds": round(timeline.total_s, 4),
        "audio_seconds": round(timeline.audio_s, 4),
        "audio_chunks": timeline.audio_chunks,
        "sampling_rate": timeline.sampling_rate,
        "cancelled": timeline.cancelled,
    }


def build_demo(
    responder: Responder,
    model_name: str = "",
    settings: GenerationSettings | None = None,
    concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT,
    max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS,
) -> gr.Blocks:
    """
    The Space's page and its API around `responder`.

    Args:
        responder: answers the questions (one for every visitor; each visitor has their own `Conversation`).
        model_name: shown in the footer.
        settings: the initial values of the settings (and `min_new_tokens`, which the page does not show).
        concurrency_limit: how many answers (page and API together) are generated at the same time, and how many
            visitors may be in hands-free mode at the same time (their answers run in their own sessions).
        max_history_turns: earlier question/answer pairs the model sees.

    Returns:
        The `gr.Blocks` (not launched); its `responder` attribute is `responder`, its `hands_free` attribute the
        hands-free tab's `HandsFreePanel`.
    """
    settings = settings or GenerationSettings()
    min_new_tokens = settings.min_new_tokens
    has_audio = responder.sampling_rate is not None

    def respond(
        audio_path: str | None,
        conversation: Conversation | None,
        chunk_size: float,
        greedy: bool,
        temperature: float,
        max_new_tokens: float,
    ) -> Iterator[tuple[Any, Any, Conversation, str]]:
        """The chat event: streams the answer's text into the chat and its audio into the player."""
        timeline = Timeline(responder.sampling_rate)  # the question was received now: the times count from here
        if conversation is None:
            conversation = Conversation(max_history_turns=max_history_turns)
        turn = conversation.add(PageTurn(audio_path=audio_path))
        try:
            current = GenerationSettings.from_values(chunk_size, greedy, temperature, max_new_tokens, min_new_tokens)
            turn.question = load_question(responder, audio_path)
            turn.decoded = True
        except (UnusableAudioError, ValueError) as error:
            turn.error = str(error) if isinstance(error, UnusableAudioError) else f"⚙️ {error}"
            yield chat_messages(conversation.turns), gr.skip(), conversation, ttfa_summary(turn, has_audio)
            return
        # Opens the answer's audio stream empty (the previous answer's player is reset).
        yield chat_messages(conversation.turns), None, conversation, ttfa_summary(turn, has_audio)
        events = responder.stream_reply(conversation, current, timeline=timeline)
        try:
            last_update = 0.0
            for event in events:
                if event.has_audio:
                    chunk: Any = wav_bytes(event.audio, responder.sampling_rate)
                elif time.perf_counter() - last_update < MIN_TEXT_UPDATE_INTERVAL:
                    continue  # text faster than the page needs it: sent with the next update
                else:
                    chunk = gr.skip()
                last_update = time.perf_counter()
                yield chat_messages(conversation.turns), chunk, conversation, ttfa_summary(turn, has_audio)
        except Exception:  # noqa: BLE001 - the visitor gets a message, the log gets the traceback
            logger.exception("answering failed")
            turn.error = MSG_FAILED
        finally:
            events.close()  # a visitor who pressed stop or left: stop the generation thread now
        yield chat_messages(conversation.turns), gr.skip(), conversation, ttfa_summary(turn, has_audio)

    async def answer_api(
        audio_path: str | None,
        chunk_size: float = settings.chunk_size,
        greedy: bool = settings.greedy,
        temperature: float = settings.temperature,
        max_new_tokens: float = settings.max_new_tokens,
    ) -> tuple[str, bytes | None, dict[str, Any]]:
        """
        Non-streaming answer for scripts: an audio file in; the answer's text, its audio (wav) and its timings out.
        Unusable audio raises an error whose message is the page's friendly message.
        """
        timeline = Timeline(responder.sampling_rate)
        try:
            current = GenerationSettings.from_values(chunk_size, greedy, temperature, max_new_tokens, min_new_tokens)
            question = await anyio.to_thread.run_sync(load_question, responder, audio_path)
        except (UnusableAudioError, ValueError) as error:
            raise gr.Error(str(error), print_exception=False) from None
        conversation = Conversation()
        turn = conversation.add(Turn(question))
        cancel = threading.Event()
        try:
            # abandon_on_cancel: a cancelled request returns at once; `cancel` stops its generation thread.
            await anyio.to_thread.run_sync(
                lambda: responder.reply(conversation, current, timeline=timeline, cancel=cancel),
                abandon_on_cancel=True,
            )
        except BaseException as error:
            cancel.set()
            if isinstance(error, Exception):
                logger.exception("answering failed")
                raise gr.Error(MSG_FAILED, print_exception=False) from None
            raise
        audio = wav_bytes(timeline.audio, timeline.sampling_rate) if timeline.audio.size else None
        return turn.answer, audio, api_stats(timeline)

    def clear() -> tuple[list, None, None, str, None]:
        return [], None, None, ttfa_summary(None, has_audio), None

    examples = ensure_examples()
    device = f"{responder.model.device} · {str(responder.model.dtype).replace('torch.', '')}"

    # delete_cache: uploads and answers older than an hour are deleted every hour. No analytics: the app runs offline.
    with gr.Blocks(title="LLaMA-Omni", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(
            "# 🦙🎧 LLaMA-Omni\n"
            "Ask a question out loud: the answer is written and spoken **while it is being generated**. "
            "Record with the microphone (or upload a file, up to 30 s), or go **hands-free** and just talk; "
            "the spoken answer plays by itself."
        )
        conversation_state = gr.State(None)  # each visitor's `Conversation`, made on their first question
        with gr.Tabs(elem_id="modes"):
            with gr.Tab("🎙️ Record, then answer", id="record", elem_id="record-tab"):
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
            with gr.Tab("🗣️ Hands-free", id="hands-free", elem_id="hands-free-tab"):
                hands_free = HandsFreePanel(
                    responder,
                    min_new_tokens=min_new_tokens,
                    max_history_turns=max_history_turns,
                    concurrency_limit=concurrency_limit,
                )
        with gr.Accordion("Settings (both modes)", open=False, elem_id="settings"):
            with gr.Row():
                chunk_slider = gr.Slider(
                    1,
                    MAX_CHUNK_SIZE,
                    value=settings.chunk_size,
                    step=1,
                    label="Chunk size Ω (speech units per audio chunk)",
                    info="Smaller: the first audio comes sooner; larger: fewer, longer chunks.",
                    elem_id="chunk-size",
                )
                greedy_box = gr.Checkbox(value=settings.greedy, label="Greedy decoding (no sampling)", elem_id="greedy")
                temperature_slider = gr.Slider(
                    0.0, MAX_TEMPERATURE, value=settings.temperature, step=0.05, label="Temperature (when sampling)",
                    elem_id="temperature",
                )
                max_tokens_slider = gr.Slider(
                    1, MAX_NEW_TOKENS_LIMIT, value=settings.max_new_tokens, step=1, label="Max new tokens",
                    elem_id="max-new-tokens",
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
            api_stats_json = gr.JSON(label="stats")
            api_button = gr.Button()

        inputs = [question_audio, conversation_state, chunk_slider, greedy_box, temperature_slider, max_tokens_slider]
        outputs = [chatbot, answer_audio, conversation_state, ttfa_md]
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
                clear, None, [chatbot, answer_audio, conversation_state, ttfa_md, question_audio], cancels=chat_events,
                api_visibility="private", queue=False,
            )
        hands_free.connect(demo, [chunk_slider, greedy_box, temperature_slider, max_tokens_slider])
        api_button.click(
            answer_api,
            [api_audio, api_chunk, api_greedy, api_temperature, api_max_tokens],
            [api_text, api_wav, api_stats_json],
            api_name="answer",
            **model_event,
        )
    demo.responder = responder  # for tests and scripts that start the app in-process
    demo.hands_free = hands_free
    return demo


__all__ = ["CONCURRENCY_ID", "DEFAULT_CONCURRENCY_LIMIT", "api_stats", "build_demo"]
