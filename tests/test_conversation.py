# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Multi-turn conversations (`inference.conversation`): the generation settings, a conversation's state, and the
`Responder` answering its latest question through the runtime, on a tiny random model folder."""

from __future__ import annotations

import threading

import pytest
import torch

from inference import Conversation, GenerationSettings, Responder, Timeline, Turn, load_model, model_inputs
from tests.tiny_components import make_speech
from tests.tiny_models import write_tiny_model_folder

SHORT = GenerationSettings(chunk_size=5, max_new_tokens=12, min_new_tokens=12)


@pytest.fixture(scope="module")
def responder(tmp_path_factory):
    model, processor = load_model(write_tiny_model_folder(tmp_path_factory.mktemp("tiny-omni")), device="cpu")
    return Responder(model, processor)


def answered_turn(answer: str = "an answer", seed: int = 0) -> Turn:
    return Turn(make_speech(1.0, seed=seed), answer=answer)


def test_generation_settings():
    settings = GenerationSettings(chunk_size=3, greedy=False, temperature=0.5, max_new_tokens=8, min_new_tokens=20)
    expected = {"max_new_tokens": 8, "do_sample": True, "temperature": 0.5, "min_new_tokens": 8}
    assert settings.generate_kwargs() == expected
    assert GenerationSettings(greedy=False, temperature=0.0).generate_kwargs()["do_sample"] is False
    assert GenerationSettings.from_values("4", 1, "0.2", 16.0) == GenerationSettings(4, True, 0.2, 16)
    with pytest.raises(ValueError, match="chunk_size=0 is out of range"):
        GenerationSettings(chunk_size=0)
    with pytest.raises(ValueError, match="invalid settings"):
        GenerationSettings.from_values("ten", True, 0.7, 64)


def test_the_history_window_the_messages_and_forgetting_old_questions():
    conversation = Conversation(max_history_turns=2)
    with pytest.raises(ValueError, match="no turn"):
        conversation.current
    earlier = [answered_turn(f"answer {i}", seed=i) for i in range(3)]
    for turn in earlier:
        conversation.add(turn)
    conversation.add(Turn(error="unusable audio"))  # never part of what the model sees
    current = conversation.add(Turn(make_speech(1.0, seed=9)))
    assert conversation.current is current
    assert conversation.history() == earlier[1:]
    assert conversation.messages("<speech>") == [
        {"role": "user", "content": "<speech>"}, {"role": "assistant", "content": "answer 1"},
        {"role": "user", "content": "<speech>"}, {"role": "assistant", "content": "answer 2"},
        {"role": "user", "content": "<speech>"},
    ]
    current.answer = "answer 4"
    conversation.forget_old_questions()  # the model will see the last two answered turns: earlier[2] and current
    assert [turn.question is None for turn in earlier] == [True, True, False] and current.question is not None
    assert Conversation(max_history_turns=0).add(answered_turn()).answered
    with pytest.raises(ValueError, match="max_history_turns"):
        Conversation(max_history_turns=-1)


def test_a_reply_fills_the_turn_from_the_timeline(responder):
    conversation = Conversation()
    first = conversation.add(Turn(make_speech(2.0, seed=0)))
    timeline = responder.reply(conversation, SHORT)
    assert first.answer.strip() and first.answer.strip() == timeline.text
    assert first.ttfa_s == timeline.ttfa_s is not None and first.total_s == timeline.total_s > first.ttfa_s
    assert timeline.audio.size > 0 and timeline.sampling_rate == responder.sampling_rate

    # the second question's inputs: the first question as speech and its answer as text, then the second question
    second = conversation.add(Turn(make_speech(1.5, seed=1)))
    processor = responder.processor
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": processor.default_instruction}, {"role": "assistant", "content": first.answer},
         {"role": "user", "content": processor.default_instruction}], add_generation_prompt=True, tokenize=False)
    expected = model_inputs(responder.model, processor, [first.question, second.question], text=prompt,
                            sampling_rate=processor.sampling_rate)
    inputs = responder.build_inputs(conversation)
    assert inputs.keys() == expected.keys() and all(torch.equal(inputs[k], expected[k]) for k in inputs)
    events = list(responder.stream_reply(conversation, SHORT))
    assert "".join(event.text for event in events) == second.answer and second.total_s is not None


def test_closing_a_reply_early_stops_it_and_cancel_ends_it(responder):
    conversation = Conversation()
    turn = conversation.add(Turn(make_speech(2.0, seed=2)))
    events = responder.stream_reply(conversation, GenerationSettings(chunk_size=5, max_new_tokens=200))
    next(events)
    events.close()  # the generation thread stops; the turn is not complete
    assert turn.total_s is None and not [t for t in threading.enumerate() if t.name == "llama-omni-generate"]

    turn = conversation.add(Turn(make_speech(2.0, seed=3)))
    cancel = threading.Event()
    cancel.set()
    timeline = responder.reply(conversation, SHORT, timeline=Timeline(responder.sampling_rate), cancel=cancel)
    # a cancel set before the answer starts stops it at its first step: nothing is written or voiced
    assert timeline.cancelled and len(timeline.events) == 0 and turn.total_s == timeline.total_s


def test_a_turn_without_question_audio_is_a_clear_error(responder):
    conversation = Conversation()
    conversation.add(Turn(error="unusable audio"))
    with pytest.raises(ValueError, match="no question audio"):
        next(responder.stream_reply(conversation))
