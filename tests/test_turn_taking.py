# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Hands-free turn-taking (`inference.turn_taking`): the stream resampler, the Silero VAD, the turn detector on real
synthetic speech (offline TTS voices used in training and train-split questions; the benchmark uses held-out ones),
and the hands-free session answering turns and being barged in on, with a tiny random model."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from benchmarks.turn_taking import DialogueBuilder, at_level, make_noise, score_turns, speech_only
from inference import (
    GenerationSettings,
    HandsFreeSession,
    Responder,
    SileroVAD,
    StreamResampler,
    TurnDetector,
    iter_chunks,
    load_model,
)
from inference.turn_taking import as_mono_float32, check_sampling_rate
from tests.tiny_models import write_tiny_model_folder

SR = 16000
FIRST = "What is the capital city of France?"
SECOND = "How many legs does a spider have?"


@pytest.fixture(scope="module")
def voice():
    from offline_assets.tts import get_voice

    return get_voice("flite:slt")


@pytest.fixture(scope="module")
def clips(voice):
    """Each question, and the two halves of the first, as speech only (first and last sample are speech)."""
    return {name: at_level(speech_only(voice.synthesize(text)), -20) for name, text in
            {"first": FIRST, "second": SECOND, "first_a": "What is the capital", "first_b": "city of France?"}.items()}


@pytest.fixture(scope="module")
def responder(tmp_path_factory):
    model, processor = load_model(write_tiny_model_folder(tmp_path_factory.mktemp("tiny-omni")), device="cpu")
    return Responder(model, processor)


def generation_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "llama-omni-generate" and thread.is_alive()]


# -- input checks and resampling ---------------------------------------------------------------------------------------


def test_chunks_are_checked_and_converted():
    assert as_mono_float32(np.array([16384, -32768], dtype=np.int16)).tolist() == [0.5, -1.0]
    stereo = np.array([[0.2, 0.4], [-0.2, 0.0]], dtype=np.float64)  # (samples, channels)
    assert np.allclose(as_mono_float32(stereo), [0.3, -0.1]) and as_mono_float32(stereo).dtype == np.float32
    assert as_mono_float32(np.zeros(0, dtype=np.float32)).shape == (0,)
    with pytest.raises(TypeError, match="unsupported audio dtype int64"):
        as_mono_float32(np.zeros(10, dtype=np.int64))
    with pytest.raises(TypeError, match="array of samples"):
        as_mono_float32("speech.wav")
    with pytest.raises(ValueError, match=r"\(samples, channels\)"):
        as_mono_float32(np.zeros((2, 1000), dtype=np.float32))  # (channels, samples): not a chunk layout
    with pytest.raises(ValueError, match="NaN or infinite"):
        as_mono_float32(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(ValueError, match="pass 16-bit PCM as int16"):
        as_mono_float32(np.array([1000.0, -3.0]))
    assert check_sampling_rate(48000.0) == 48000
    for bad in (0, 7999, 16000.5, "16k", True, None):
        with pytest.raises(ValueError, match="sampling_rate"):
            check_sampling_rate(bad)


def test_the_stream_resampler_is_exact_and_chunk_size_free():
    rng = np.random.default_rng(0)
    for orig, target in ((48000, 16000), (44100, 16000), (8000, 16000)):
        n = np.arange(orig)
        tone = (0.5 * np.sin(2 * np.pi * 440 * n / orig)).astype(np.float32)
        whole = StreamResampler(orig, target)(tone)
        resampler, pieces, begin = StreamResampler(orig, target), [], 0
        while begin < tone.size:
            size = int(rng.integers(1, 3000))
            pieces.append(resampler(tone[begin : begin + size]))
            begin += size
        chunked = np.concatenate(pieces)
        assert np.array_equal(chunked, whole[: chunked.size]) and abs(chunked.size - target) < 50
        k = np.arange(200, chunked.size)
        assert np.max(np.abs(chunked[200:] - 0.5 * np.sin(2 * np.pi * 440 * k / target))) < 1e-3
    high = (0.5 * np.sin(2 * np.pi * 9000 * np.arange(48000) / 48000)).astype(np.float32)  # above 8 kHz: filtered out
    assert np.sqrt(np.mean(StreamResampler(48000, 16000)(high)[200:] ** 2)) < 2e-3


def test_the_silero_vad_loads_offline_from_its_wheel_and_hears_speech(clips):
    vad = SileroVAD()
    speech = clips["first"][: (clips["first"].size // 512) * 512].reshape(-1, 512)
    probabilities = [vad(frame) for frame in speech]
    assert np.mean(np.array(probabilities) >= 0.5) > 0.7
    vad.reset()
    assert max(vad(frame) for frame in np.zeros((20, 512), dtype=np.float32)) < 0.2
    with pytest.raises(ValueError, match="frames of 512 samples"):
        vad(np.zeros(480, dtype=np.float32))
    with pytest.raises(ValueError, match="16000 or 8000"):
        SileroVAD(44100)


# -- the turn detector -------------------------------------------------------------------------------------------------


def test_two_questions_with_a_pause_between_them_are_two_turns(clips):
    dialogue = DialogueBuilder().silence(0.5).question(clips["first"]).silence(1.5).question(clips["second"]) \
        .silence(1.2).build()
    events = TurnDetector(SR).process(dialogue.audio, chunk_s=0.02)
    assert [e.kind for e in events] == ["speech_start", "end_of_turn"] * 2
    for (onset, end), start, finish in zip(dialogue.turns, events[0::2], events[1::2]):
        assert start.start_s == finish.start_s and abs(start.start_s - onset) < 0.1
        assert start.time_s - onset < 0.2  # speech is reported within 200 ms of its onset
        assert abs(finish.end_s - end) < 0.15 and 0.6 < finish.time_s - end < 1.0  # 0.7 s of silence, then the end
        assert finish.audio.dtype == np.float32 and finish.sampling_rate == SR
        assert abs(finish.audio.size / SR - (finish.end_s - finish.start_s + 0.4)) < 0.05  # with 0.2 s pre/post-roll
    score = score_turns(events, dialogue)
    assert (score["false_cuts"], score["missed"], score["spurious"]) == (0, 0, 0)

    # the same stream at 48 kHz, in chunks of any size, gives the same turns
    from benchmarks.common import resample

    high = resample(dialogue.audio, SR, 48000)
    detector, resampled = TurnDetector(48000), []
    rng, begin = np.random.default_rng(1), 0
    while begin < high.size:
        size = int(rng.integers(1, 9000))
        resampled += detector.feed((high[begin : begin + size] * 32767).astype(np.int16), sampling_rate=48000)
        begin += size
    resampled += detector.flush()
    assert [e.kind for e in resampled] == [e.kind for e in events]
    assert all(abs(a.start_s - b.start_s) <= 0.033 and abs(a.time_s - b.time_s) <= 0.033 for a, b in
               zip(resampled, events))
    with pytest.raises(ValueError, match="a stream's rate cannot change"):
        detector.feed(np.zeros(100, dtype=np.float32), sampling_rate=16000)


@pytest.mark.parametrize("pause_s", [0.3, 0.5])
def test_a_short_pause_inside_a_question_does_not_cut_it(clips, pause_s):
    dialogue = DialogueBuilder().silence(0.5).question(clips["first_a"], pause_s, clips["first_b"]).silence(1.2) \
        .build()
    events = TurnDetector(SR).process(dialogue.audio)
    assert [e.kind for e in events] == ["speech_start", "end_of_turn"]
    (onset, end), = dialogue.turns
    assert abs(events[1].start_s - onset) < 0.1 and abs(events[1].end_s - end) < 0.15
    # a detector that ends turns after less silence than the pause cuts the question in two
    cut = TurnDetector(SR, end_of_turn_silence_s=pause_s - 0.2).process(dialogue.audio)
    assert [e.kind for e in cut].count("end_of_turn") == 2


def test_noise_and_silence_alone_make_no_turn():
    rng = np.random.default_rng(0)
    builder = DialogueBuilder().silence(2.0)
    for kind in ("white", "pink", "hum", "clicks"):
        builder.noise_stretch(make_noise(kind, 2.0, -25, rng)).silence(0.5)
    audio = builder.build(background=make_noise("white", 12, -45, rng)).audio
    detector = TurnDetector(SR)
    assert detector.process(audio) == [] and detector.process(np.zeros(3 * SR, dtype=np.float32)) == []


def test_too_little_speech_is_discarded_and_a_long_turn_is_ended(clips):
    audio = np.concatenate([np.zeros(SR // 2, np.float32), clips["first"], np.zeros(SR, np.float32)])
    events = TurnDetector(SR, min_turn_s=5.0).process(audio)
    assert [e.kind for e in events] == ["speech_start", "speech_discarded"] and events[1].audio is None
    events = TurnDetector(SR, max_turn_s=1.0).process(audio)
    first_end = [e for e in events if e.kind == "end_of_turn"][0]
    assert abs(first_end.time_s - first_end.start_s - 1.0) < 0.04 and first_end.audio.size <= 1.3 * SR


def test_bad_settings_and_a_bad_vad_are_refused():
    for settings, name in (({"threshold": 0.0}, "threshold"), ({"end_of_turn_silence_s": 0}, "end_of_turn_silence_s"),
                           ({"max_turn_s": 0.5}, "max_turn_s"), ({"hysteresis": 0.6}, "hysteresis")):
        with pytest.raises(ValueError, match=name):
            TurnDetector(SR, **settings)
    with pytest.raises(ValueError, match="sampling_rate"):
        TurnDetector(4000)
    with pytest.raises(TypeError, match="vad must have"):
        TurnDetector(SR, vad=object())


def test_iter_chunks_paces_a_recording_in_real_time():
    audio = np.zeros(SR // 4, dtype=np.float32)
    chunks = list(iter_chunks(audio, SR, chunk_s=0.1))
    assert [c.size for c in chunks] == [1600, 1600, 800]
    start = time.perf_counter()
    assert sum(c.size for c in iter_chunks(audio, SR, chunk_s=0.05, realtime=True)) == audio.size
    assert 0.23 < time.perf_counter() - start < 0.5
    with pytest.raises(ValueError, match="chunk_s"):
        list(iter_chunks(audio, SR, chunk_s=0))


# -- the hands-free session --------------------------------------------------------------------------------------------


def test_each_turn_is_answered_in_order(responder, clips):
    dialogue = DialogueBuilder().silence(0.3).question(clips["first"]).silence(1.2).question(clips["second"]) \
        .silence(1.0).build()
    received = []
    session = HandsFreeSession(responder, GenerationSettings(chunk_size=5, max_new_tokens=6, min_new_tokens=6),
                               barge_in=False, on_event=received.append)
    for chunk in iter_chunks(dialogue.audio, SR, chunk_s=0.05):  # as fast as it goes: the turns queue up
        session.feed(chunk)
    assert session.wait(60) and session.poll() == []  # with on_event, nothing is queued
    session.close()
    kinds = [(e.kind, e.turn) for e in received if e.kind != "answer"]
    for turn in (0, 1):  # each turn's events in order (the detector's and the answers' interleave as threads run)
        assert [kind for kind, index in kinds if index == turn] == ["speech_start", "end_of_turn", "answer_start",
                                                                    "answer_end"]
    assert kinds.index(("answer_end", 0)) < kinds.index(("answer_start", 1))  # one answer at a time
    turns = session.conversation.turns
    assert len(turns) == 2 and all(turn.answered and turn.total_s is not None for turn in turns)
    for index, turn in enumerate(turns):
        pieces = [e for e in received if e.kind == "answer" and e.turn == index]
        assert "".join(e.text for e in pieces) == turn.answer and any(e.has_audio for e in pieces)
        heard = [e.turn_event for e in received if e.kind == "end_of_turn" and e.turn == index][0]
        onset, end = dialogue.turns[index]
        assert abs(heard.start_s - onset) < 0.1 and abs(heard.end_s - end) < 0.15
        assert np.array_equal(turn.question, heard.audio)  # the utterance, with its pre- and post-roll
    assert not generation_threads()
    with pytest.raises(RuntimeError, match="closed"):
        session.feed(np.zeros(160, dtype=np.float32))


def test_speaking_over_an_answer_cancels_it_and_ends_its_generation_thread(responder, clips):
    settings = GenerationSettings(chunk_size=2, max_new_tokens=800, min_new_tokens=800)  # a long answer
    session = HandsFreeSession(responder, settings)
    question = np.concatenate([np.zeros(SR // 4, np.float32), clips["first"], np.zeros(SR, np.float32)])
    for chunk in iter_chunks(question, SR):
        session.feed(chunk)
    received = []
    for event in session.events(timeout=30):  # until the answer's first audio chunk
        received.append(event)
        if event.kind == "answer" and event.has_audio:
            break
    assert session.answering
    started = time.perf_counter()
    for chunk in iter_chunks(clips["second"], SR):  # the user speaks over the answer
        kinds = [e.kind for e in session.feed(chunk)]
        if "speech_start" in kinds:
            break
    assert kinds == ["speech_start"]
    barged_at = time.perf_counter()
    assert session.wait(30)
    ended_at = time.perf_counter()
    received += session.poll()
    session.close()
    kinds = [e.kind for e in received]
    barge = kinds.index("barge_in")
    assert received[barge].turn == 0 and kinds[-1] == "answer_end" and kinds.count("answer_end") == 1
    assert not any(e.has_audio for e in received[barge:])  # no audio of the answer after the barge-in
    timeline = received[-1].timeline
    assert timeline.cancelled and len(timeline.events) < 400  # stopped long before its 800 tokens
    assert ended_at - barged_at < 2.0 and not generation_threads()  # the generation thread ended at once
    assert session.conversation.turns[0].answer.strip() == timeline.text  # the text so far stays in the dialogue
    assert time.perf_counter() - started < 10


def test_speaking_while_a_finished_answer_still_plays_stops_its_playback(responder, clips):
    session = HandsFreeSession(responder, GenerationSettings(chunk_size=5, max_new_tokens=40, min_new_tokens=40))
    for chunk in iter_chunks(np.concatenate([clips["first"], np.zeros(SR, np.float32)]), SR):
        session.feed(chunk)
    assert session.wait(30)
    timeline = [e for e in session.poll() if e.kind == "answer_end"][0].timeline
    assert not timeline.cancelled and timeline.audio_s > 1.0  # generated much faster than it plays
    kinds = [e.kind for e in session.feed(clips["second"][: SR // 2])]
    assert kinds == ["speech_start"]
    events = session.poll()
    assert [(e.kind, e.turn) for e in events] == [("barge_in", 0), ("speech_start", 1)]
    assert not events[0].timeline.cancelled  # nothing was left to cancel: the player is told to stop
    session.close()


def test_a_turn_the_model_cannot_take_is_an_error_event(responder, clips):
    speech = np.concatenate([clips["first"], np.zeros(SR // 4, np.float32), clips["second"]])
    too_long = np.concatenate([speech] * math.ceil(31 * SR / speech.size) + [np.zeros(SR, np.float32)])
    session = HandsFreeSession(responder, detector=TurnDetector(SR, max_turn_s=None))
    for chunk in iter_chunks(too_long, SR, chunk_s=0.5):
        session.feed(chunk)
    assert session.wait(30)
    events = session.poll()
    assert [e.kind for e in events] == ["speech_start", "end_of_turn", "error"] and "too long" in events[-1].message
    assert session.conversation.turns[0].error and not session.conversation.turns[0].answered
    session.close()


def test_a_session_refuses_a_detector_of_another_rate(responder):
    with pytest.raises(ValueError, match="the detector takes 16000 Hz"):
        HandsFreeSession(responder, detector=TurnDetector(SR), sampling_rate=48000)
    session = HandsFreeSession(responder, sampling_rate=48000)
    assert session.sampling_rate == 48000 and not session.answering and session.wait(0)
    assert session.cancel() is False
    session.close()
    assert list(session.events(timeout=0)) == []


def test_the_hands_free_panel_keeps_one_conversation_per_session_when_its_state_lags(responder):
    """A chunk whose page state is empty or closed (a "New conversation" click's empty state landing after the next
    chunk opened a conversation) goes on with the session's open conversation instead of opening a second one;
    "New conversation" closes the session's conversation even where the state has none."""
    import types

    import gradio as gr

    from space.hands_free import HandsFreePanel, HandsFreeVisitor

    with gr.Blocks():
        panel = HandsFreePanel(responder)
    request = types.SimpleNamespace(session_hash="page-1")
    chunk = (SR, np.zeros(SR // 2, np.float32))
    settings = (0.8, 1, True, 1.0, 8)  # end-of-turn silence, chunk size, greedy, temperature, max new tokens
    try:
        first, _, _ = panel._feed(chunk, None, *settings, request)
        assert isinstance(first, HandsFreeVisitor) and panel.visitors == [first]
        again, _, _ = panel._feed(chunk, None, *settings, request)  # the state lags: the same conversation goes on
        assert again is first and not first.closed and panel.visitors == [first]
        assert panel._feed(chunk, first, *settings, request)[0] is not first  # in step: no state update
        other, _, _ = panel._feed(chunk, None, *settings, types.SimpleNamespace(session_hash="page-2"))
        assert other is not first and len(panel.visitors) == 2

        assert panel._clear(None, request)[0] is None
        assert first.closed and panel.visitors == [other]
        renewed, _, _ = panel._feed(chunk, first, *settings, request)  # after New conversation: a new one
        assert isinstance(renewed, HandsFreeVisitor) and renewed is not first and not renewed.closed
    finally:
        for visitor in panel.visitors:
            panel._close_visitor(visitor)
