"""Incremental CTC decoding, AudioStreamer and model.stream() on a tiny random model."""

from __future__ import annotations

import threading
import time

import pytest
import torch

import numpy as np

from modeling_llama_omni import AudioStreamer, CTCUnitStream
from modeling_llama_omni.modeling_llama_omni import vocoder_units
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_model_and_processor, tiny_vocoder

THREAD_NAME = "llama-omni-generate"


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_model_and_processor()


def _inputs(processor, seconds: float, seed: int):
    return processor(audio=make_speech(seconds, seed=seed), sampling_rate=16000)


def _run_streamer(model, processor, inputs, chunk_size, **generate_kwargs):
    streamer = AudioStreamer(model, processor, chunk_size=chunk_size, timeout=60)
    thread = threading.Thread(target=model.generate, kwargs=dict(streamer=streamer, **inputs, **generate_kwargs))
    thread.start()
    items = list(streamer)
    thread.join()
    return streamer, items


def test_incremental_decoder_equals_one_shot_for_any_step_sizes(model_and_processor):
    model, _ = model_and_processor
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, 23, model.config.text_config.hidden_size, generator=generator)
    one_shot = model.predict_units(hidden)[0].tolist()
    for steps in ([1] * 23, [5, 1, 7, 10], [23]):
        stream = model.speech_unit_stream()
        units, start = [], 0
        for n in steps:
            units += stream.step(hidden[:, start : start + n])[0]
            start += n
        assert units == one_shot, steps
    assert isinstance(stream, CTCUnitStream)
    with pytest.raises(ValueError, match="hidden_states must have shape"):
        model.speech_unit_stream(batch_size=2).step(hidden)


@pytest.mark.parametrize("chunk_size", [1, 4, 10, None])
def test_streamed_units_equal_one_shot_units(model_and_processor, chunk_size):
    model, processor = model_and_processor
    for seed, seconds in enumerate([1.0, 2.5, 4.0]):
        inputs = _inputs(processor, seconds, seed)
        kwargs = dict(max_new_tokens=25, do_sample=False, eos_token_id=None)
        reference = model.generate(**inputs, return_audio=True, **kwargs)
        streamer, items = _run_streamer(model, processor, inputs, chunk_size, **kwargs)
        assert streamer.units == reference.units[0].tolist()
        assert len(streamer.units) > 0
        answer = reference.sequences[0, inputs["input_ids"].shape[1] :]
        assert streamer.token_ids == answer.tolist()
        assert "".join(text for text, _ in items) == processor.decode(answer, skip_special_tokens=True)


def test_return_audio_cuts_each_sample_at_its_first_eos(model_and_processor):
    model, processor = model_and_processor
    inputs = processor(audio=[make_speech(1.0), make_speech(2.0, seed=1)], sampling_rate=16000,
                       text=[processor.default_prompt()] * 2, padding_side="left")
    first = model.generate(**inputs, max_new_tokens=12, do_sample=False, eos_token_id=None)
    answer_start = inputs["input_ids"].shape[1]
    eos = int(first[0, answer_start + 4])  # make sample 0 stop after its 5th token
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=0,
                         return_audio=True)
    states = []
    model.generate(**inputs, max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=0,
                   speech_state_callback=lambda s: states.append(s))
    hidden = torch.stack(states, dim=1)
    answers = out.sequences[:, answer_start:]
    for i in range(2):
        is_eos = (answers[i] == eos).nonzero()
        n = int(is_eos[0]) + 1 if len(is_eos) else answers.shape[1]
        assert out.units[i].tolist() == model.predict_units(hidden[i : i + 1, :n])[0].tolist()
    assert out.waveforms is None


def test_return_audio_ends_each_answer_at_the_calls_own_eos(model_and_processor):
    """A call-level `eos_token_id` (not the config's): a sample that stops early gets no units for its padding."""
    model, processor = model_and_processor
    inputs = processor(audio=[make_speech(1.0), make_speech(2.0, seed=1)], sampling_rate=16000,
                       text=[processor.default_prompt()] * 2, padding_side="left")
    sampling = dict(max_new_tokens=12, do_sample=True, top_k=0, temperature=1.0)  # two different answers
    torch.manual_seed(0)
    first = model.generate(**inputs, eos_token_id=None, **sampling)
    start = inputs["input_ids"].shape[1]
    answers = first[:, start:].tolist()
    config_eos = model.generation_config.eos_token_id
    eos = next(t for j, t in enumerate(answers[0]) if j >= 2 and t not in answers[1] + answers[0][:j]
               + [0, config_eos])  # sample 0 stops after j + 1 tokens, sample 1 runs to the end
    torch.manual_seed(0)
    out = model.generate(**inputs, eos_token_id=eos, pad_token_id=0, return_audio=True, **sampling)
    states = []
    torch.manual_seed(0)
    model.generate(**inputs, eos_token_id=eos, pad_token_id=0, speech_state_callback=states.append, **sampling)
    hidden = torch.stack(states, dim=1)
    stop = answers[0].index(eos) + 1
    assert out.sequences.shape[1] - start == 12 and out.sequences[0, start + stop :].eq(0).all()
    assert out.units[0].tolist() == model.predict_units(hidden[:1, :stop])[0].tolist()
    assert out.units[1].tolist() == model.predict_units(hidden[1:2])[0].tolist()


def test_stream_yields_before_generation_ends_and_stops_when_the_caller_breaks(model_and_processor):
    model, processor = model_and_processor
    inputs = _inputs(processor, 1.0, 0)
    max_new_tokens = 400
    stream = model.stream(processor, chunk_size=2, max_new_tokens=max_new_tokens, do_sample=False,
                          eos_token_id=None, **inputs)
    received = 0
    for text, audio in stream:
        received += 1
        assert any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())
        if received == 3:
            break
    stream.close()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and any(t.name == THREAD_NAME for t in threading.enumerate()):
        time.sleep(0.02)
    assert not any(t.name == THREAD_NAME for t in threading.enumerate())


def test_an_exception_inside_generate_surfaces_in_the_caller(model_and_processor):
    model, processor = model_and_processor
    inputs = _inputs(processor, 1.0, 0)
    inputs["input_features"] = inputs["input_features"][:, :40]  # wrong number of mel bins
    with pytest.raises(ValueError, match="mel bins"):
        list(model.stream(processor, max_new_tokens=5, **inputs))


def test_streamer_rejects_batches_and_bad_chunk_sizes(model_and_processor):
    model, processor = model_and_processor
    with pytest.raises(ValueError, match="chunk_size"):
        AudioStreamer(model, processor, chunk_size=0)
    inputs = processor(audio=[make_speech(1.0), make_speech(1.0, seed=1)], sampling_rate=16000,
                       text=[processor.default_prompt()] * 2)
    with pytest.raises(ValueError, match="one sequence at a time"):
        list(model.stream(processor, max_new_tokens=3, **inputs))


def test_return_audio_refuses_beam_search(model_and_processor):
    model, processor = model_and_processor
    with pytest.raises(ValueError, match="beam search"):
        model.generate(**_inputs(processor, 1.0, 0), num_beams=2, return_audio=True, max_new_tokens=2)


def test_sampling_stopping_criteria_and_multi_turn_behave_as_in_generate(model_and_processor):
    from transformers.generation.stopping_criteria import StoppingCriteria

    model, processor = model_and_processor
    conversation = [
        {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": " first"}]},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "audio"}]},
    ]
    prompt = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, audio=[make_speech(1.0), make_speech(1.5, seed=2)], sampling_rate=16000)
    assert int((inputs["input_ids"] == processor.speech_token_id).sum()) > 0

    class StopAfter(StoppingCriteria):
        def __init__(self, n):
            self.n = n

        def __call__(self, input_ids, scores, **kwargs):
            done = input_ids.shape[1] >= inputs["input_ids"].shape[1] + self.n
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

    kwargs = dict(do_sample=True, temperature=0.9, top_k=20, max_new_tokens=30, eos_token_id=None)
    torch.manual_seed(123)
    reference = model.generate(**inputs, stopping_criteria=[StopAfter(7)], **kwargs)
    torch.manual_seed(123)
    streamed = "".join(text for text, _ in model.stream(processor, stopping_criteria=[StopAfter(7)], **inputs,
                                                          **kwargs))
    answer = reference[0, inputs["input_ids"].shape[1]:]
    assert len(answer) == 7
    assert streamed == processor.decode(answer, skip_special_tokens=True)


@pytest.mark.parametrize("chunk_size", [5, 10, 40])
def test_streamed_audio_equals_one_shot_vocoding_within_tolerance(model_and_processor, chunk_size):
    """The documented tolerance of UnitVocoderStream at its default lookahead (8 frames): for this small vocoder,
    max abs difference < 0.05 and RMS difference < 1 % of the signal's RMS (see benchmarks/vocoder_streaming.py)."""
    model, processor = model_and_processor
    vocoder = tiny_vocoder()
    inputs = _inputs(processor, 2.0, 3)
    kwargs = dict(max_new_tokens=20, do_sample=False, eos_token_id=None)
    reference = model.generate(**inputs, return_audio=True, vocoder=vocoder, **kwargs)
    one_shot = reference.waveforms[0].numpy()
    assert reference.sampling_rate == 16000 and one_shot.size > 0
    torch.testing.assert_close(reference.waveforms[0], vocoder_units(vocoder, reference.units[0]))

    chunks = list(model.stream(processor, vocoder=vocoder, chunk_size=chunk_size, **inputs, **kwargs))
    audio_chunks = [audio for _, audio in chunks if audio.size]
    if len(reference.units[0]) >= 2 * chunk_size:
        assert len(audio_chunks) >= 2  # audio arrives in pieces, before the end
    assert all(audio.dtype == np.float32 for _, audio in chunks)
    streamed = np.concatenate(audio_chunks)
    assert streamed.shape == one_shot.shape
    difference = streamed - one_shot
    assert np.abs(difference).max() < 0.05
    assert np.sqrt(np.mean(difference**2)) < 0.01 * np.sqrt(np.mean(one_shot**2))


def test_first_audio_comes_before_the_text_is_complete(model_and_processor):
    model, processor = model_and_processor
    vocoder = tiny_vocoder()
    inputs = _inputs(processor, 1.5, 4)
    text_before_first_audio, total_text = None, ""
    for text, audio in model.stream(processor, vocoder=vocoder, chunk_size=5, max_new_tokens=30, do_sample=False,
                                    eos_token_id=None, **inputs):
        total_text += text
        if audio.size and text_before_first_audio is None:
            text_before_first_audio = total_text
    assert text_before_first_audio is not None
    assert len(text_before_first_audio) < len(total_text)


def test_release_openmp_threads_is_harmless(model_and_processor):
    """`stream_generate` releases the caller's GNU OpenMP workers before generating in its thread (the speed-up is
    measured in benchmarks/streaming.py). The release must change no result, and the pool must come back."""
    import os

    from modeling_llama_omni import release_openmp_threads

    model, processor = model_and_processor
    a = torch.randn(256, 256)
    before = a @ a  # a parallel kernel: this thread now has a pool
    released = release_openmp_threads()
    assert isinstance(released, bool)
    if os.path.exists("/proc/self/maps") and torch.backends.openmp.is_available():
        with open("/proc/self/maps") as maps:
            if "libgomp" in maps.read():
                assert released  # found the runtime torch uses, and released this thread's pool
    assert torch.equal(a @ a, before)
    inputs = _inputs(processor, 1.0, seed=3)
    expected = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    text = "".join(t for t, _ in model.stream(processor, max_new_tokens=8, do_sample=False, **inputs))
    prompt_length = inputs["input_ids"].shape[1]
    assert text == processor.batch_decode(expected[:, prompt_length:], skip_special_tokens=True)[0]
