# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The inference runtime on a tiny random model folder: loading, answering, the timeline's figures, wav writing."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soundfile
import torch

from inference import (
    Timeline,
    answer,
    drain,
    load_model,
    model_inputs,
    pick_device_and_dtype,
    resolve_model_folder,
    stream_answer,
    wav_bytes,
    write_wav,
)
from tests.tiny_components import make_speech
from tests.tiny_models import write_tiny_model_folder

GREEDY = {"max_new_tokens": 12, "min_new_tokens": 12, "do_sample": False}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_model_folder(tmp_path_factory.mktemp("tiny-omni"))


@pytest.fixture(scope="module")
def loaded(folder):
    return load_model(folder, device="cpu")


def test_load_model_gives_a_speaking_model_in_eval_mode(loaded):
    model, processor = loaded
    assert not model.training and model.device.type == "cpu" and model.dtype == torch.float32
    assert model.default_vocoder() is not None
    assert processor.speech_token_id == model.config.speech_token_id


def test_timeline_ttfa_is_the_first_audio_event(loaded):
    model, processor = loaded
    question = make_speech(1.5, seed=3)
    timeline = answer(model, processor, {"array": question, "sampling_rate": 16000}, chunk_size=4, **GREEDY)
    audio_events = [event for event in timeline.events if event.has_audio]
    assert audio_events, "the tiny model spoke nothing"
    assert timeline.ttfa_s == audio_events[0].time_s
    assert timeline.ttft_s == next(e.time_s for e in timeline.events if e.text.strip())
    times = [event.time_s for event in timeline.events]
    assert times == sorted(times) and 0 < times[0] and times[-1] <= timeline.total_s
    assert timeline.audio_chunks == len(audio_events) >= 2
    assert np.array_equal(timeline.audio, np.concatenate([event.audio for event in audio_events]))
    assert timeline.sampling_rate == model.default_vocoder().config.sampling_rate
    assert timeline.audio_s == pytest.approx(timeline.audio.size / timeline.sampling_rate)
    assert not timeline.cancelled
    # the text is what plain greedy generate() writes for the same inputs
    inputs = model_inputs(model, processor, {"array": question, "sampling_rate": 16000})
    ids = model.generate(**inputs, **GREEDY)[0, inputs["input_ids"].shape[1]:]
    assert timeline.text == processor.tokenizer.decode(ids, skip_special_tokens=True).strip()
    words = timeline.as_dict()
    assert words["ttfa_s"] == timeline.ttfa_s and words["text"] == timeline.text


def test_cancel_stops_the_answer_and_its_thread(loaded):
    model, processor = loaded
    cancel = threading.Event()
    seen = []
    events = stream_answer(model, processor, {"array": make_speech(1.0, seed=1), "sampling_rate": 16000},
                           chunk_size=2, cancel=cancel, max_new_tokens=40, min_new_tokens=40, do_sample=False)
    for event in events:
        seen.append(event)
        cancel.set()
    assert len(seen) == 1
    for thread in threading.enumerate():
        if thread.name == "llama-omni-generate":
            thread.join(timeout=10)
            assert not thread.is_alive(), "the generation thread kept running after the answer was cancelled"


def test_a_cancel_stops_generation_even_while_nobody_reads_the_stream(loaded):
    """Barge-in: the reader is busy elsewhere (e.g. playing audio) when another thread cancels; generation stops at
    its next step and nothing more is vocoded, without waiting for the reader to take the next pair."""
    model, processor = loaded
    cancel = threading.Event()
    steps = []

    class CountSteps:  # a stopping criterion that only counts the decoding steps
        def __call__(self, input_ids, scores, **kwargs):
            steps.append(len(steps))
            return torch.zeros(input_ids.shape[0], dtype=torch.bool)

    question = {"array": make_speech(1.0, seed=2), "sampling_rate": 16000}
    events = stream_answer(model, processor, question, chunk_size=4, cancel=cancel, max_new_tokens=400,
                           min_new_tokens=400, do_sample=False, stopping_criteria=[CountSteps()])
    next(events)  # the answer has started; from now on nobody reads
    cancel.set()
    at_cancel = len(steps)
    threads = [t for t in threading.enumerate() if t.name == "llama-omni-generate"]
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert len(steps) <= at_cancel + 2 < 400  # stopped at once, not after the 400 tokens
    rest = list(events)
    assert not any(event.has_audio for event in rest[1:])  # nothing was vocoded after the cancel


def test_stream_answer_takes_audio_or_inputs_not_both(loaded):
    model, processor = loaded
    with pytest.raises(ValueError, match="exactly one of"):
        next(stream_answer(model, processor))


def test_bad_audio_is_a_clear_error(loaded):
    model, processor = loaded
    with pytest.raises(ValueError):
        answer(model, processor, {"array": np.zeros(16000, dtype=np.float32), "sampling_rate": 16000}, **GREEDY)


def test_drain_times_any_stream_and_closes_it():
    closed = []

    def pairs():
        try:
            yield "Hello", None
            yield " world", np.ones(10, dtype=np.float32)
            yield "", np.ones(5, dtype=np.float32)
            yield "!", None
        finally:
            closed.append(True)

    timeline = drain(pairs(), Timeline(sampling_rate=100))
    assert timeline.text == "Hello world!" and timeline.audio.size == 15 and timeline.lagging_words == 2
    assert timeline.ttfa_s == timeline.events[1].time_s and timeline.ttft_s == timeline.events[0].time_s
    assert closed == [True] and timeline.total_s >= timeline.events[-1].time_s

    cancel = threading.Event()
    cancel.set()
    stopped = drain(pairs(), Timeline(sampling_rate=100), cancel=cancel)
    assert stopped.cancelled and len(stopped.events) == 1 and closed == [True, True]
    silent = drain(iter([("text only", None)]), Timeline(sampling_rate=None))
    assert silent.ttfa_s is None and silent.lagging_words is None and silent.audio_s == 0.0


def test_wav_writers_round_trip(tmp_path):
    audio = np.sin(np.linspace(0, 200, 4000)).astype(np.float32) * 0.5
    audio[:3] = [2.0, -2.0, 0.0]  # clipped to [-1, 1]
    path = write_wav(tmp_path / "sub" / "a.wav", audio, 16000)
    read, rate = soundfile.read(path, dtype="float32")
    info = soundfile.info(path)
    assert rate == 16000 and info.subtype == "PCM_16" and info.channels == 1
    np.testing.assert_allclose(read, np.clip(audio, -1, 1), atol=1 / 32767 + 1e-6)
    import io

    again, rate = soundfile.read(io.BytesIO(wav_bytes(audio, 22050)), dtype="float32")
    assert rate == 22050 and np.array_equal(again, read)


def test_device_and_dtype_rule():
    if not torch.cuda.is_available():
        assert pick_device_and_dtype() == (torch.device("cpu"), torch.float32)
    assert pick_device_and_dtype("cpu", "bf16") == (torch.device("cpu"), torch.bfloat16)
    assert pick_device_and_dtype("cuda", "fp16") == (torch.device("cuda"), torch.float16)
    assert pick_device_and_dtype("cpu", torch.float32) == (torch.device("cpu"), torch.float32)
    with pytest.raises(ValueError, match="unknown dtype"):
        pick_device_and_dtype("cpu", "int8")
    with pytest.raises(ValueError, match="not supported on the CPU"):
        pick_device_and_dtype("cpu", "float16")


def test_load_model_errors(tmp_path, folder, monkeypatch):
    with pytest.raises(FileNotFoundError, match="is not a model folder"):
        resolve_model_folder(str(tmp_path / "missing"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="could not be had here"):
        load_model("nobody/no-such-llama-omni-model")
    from transformers import WhisperConfig

    WhisperConfig().save_pretrained(tmp_path / "whisper")
    with pytest.raises(TypeError, match="not a LLaMA-Omni one"):
        load_model(tmp_path / "whisper")
    import shutil

    mute = tmp_path / "mute"
    shutil.copytree(folder, mute, ignore=shutil.ignore_patterns("vocoder"))
    with pytest.raises(FileNotFoundError, match="no unit vocoder"):
        load_model(mute)
    model, _ = load_model(mute, require_vocoder=False)
    assert model.default_vocoder() is None


def test_quantized_loading_needs_a_gpu(folder):
    """The released --load-8bit / --load-4bit: on a CPU-only machine a clear error, before any weight is read."""
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises((RuntimeError, ValueError), match="CUDA|GPU"):
        load_model(folder, quantization="4bit")
    with pytest.raises(ValueError, match="8bit"):
        load_model(folder, device="cpu", quantization="3bit")
