"""LLaMA-Omni2's autoregressive speech decoder (speech_decoder_type="ar") on tiny random models: the config, the gate
fusion, the Read-R-Write-W layout, KV-cached streaming against a re-prefill reference, streaming through generate(),
teacher-forced training, save / load."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest
import torch

from modeling_llama_omni import (
    AudioStreamer,
    LlamaOmniConfig,
    LlamaOmniForConditionalGeneration,
    parse_stream_params,
    read_write_layout,
)
from modeling_llama_omni.modeling_llama_omni import vocoder_units, write_remote_code
from tests.clean_interpreter import run_clean
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_ar_config_kwargs, tiny_ar_model_and_processor, tiny_config, tiny_vocoder

UNIT_VOCAB = 20


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_ar_model_and_processor(tts_max_new_tokens=60)


def _inputs(processor, seconds: float, seed: int):
    return processor(audio=make_speech(seconds, seed=seed), sampling_rate=16000)


def _random_answer(model, n: int, seed: int):
    """Random LLM states (1, n, H) and text tokens (1, n) in the text vocabulary."""
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, n, model.config.text_config.hidden_size, generator=generator)
    tokens = torch.randint(0, model.config.text_config.vocab_size, (1, n), generator=generator)
    return hidden, tokens


# ----------------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------------


def test_stream_params_are_parsed_without_eval(monkeypatch):
    assert parse_stream_params("(3,10)") == (3, 10)
    assert parse_stream_params(" ( 2 , 5 ) ") == (2, 5)
    assert parse_stream_params("[4, 8]") == (4, 8)
    assert parse_stream_params((3, 10)) == (3, 10)
    called = []
    monkeypatch.setattr("os.system", lambda *args: called.append(args))
    for bad in ["", "(3,)", "(3,10,12)", "(0,10)", "(3,0)", "(-3,10)", "(3.0,10)", "['3',10]",
                "__import__('os').system('true')", (True, 10), None]:
        with pytest.raises(ValueError, match="stream_params"):
            parse_stream_params(bad)
    assert not called
    config = LlamaOmniConfig(speech_decoder_type="ar", stream_params="(2,7)")
    assert (config.read_size, config.write_size, config.stream_params) == (2, 7, "(2,7)")


def test_ar_config_defaults_round_trip_and_checks(tmp_path):
    config = LlamaOmniConfig(speech_decoder_type="ar")
    tts = config.tts_config
    assert (tts.model_type, tts.vocab_size, tts.hidden_size, tts.num_hidden_layers, tts.tie_word_embeddings) == (
        "qwen2", 158227, 896, 24, True
    )
    ids = (config.tts_speech_token_offset, config.tts_sep_token_id, config.tts_eos_token_id)
    assert ids == (151666, 151665, 151643)
    assert (config.read_size, config.write_size, config.tts_do_sample, config.tts_temperature) == (3, 10, True, 1.0)
    assert config.speech_decoder_config is None
    assert LlamaOmniConfig().tts_config is None  # a CTC config has no TTS model

    config = tiny_config("qwen2", **tiny_ar_config_kwargs())
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert "speech_decoder_config" not in saved and saved["tts_config"]["model_type"] == "qwen2"
    loaded = LlamaOmniConfig.from_pretrained(tmp_path)
    assert loaded.to_diff_dict() | {"_name_or_path": ""} == config.to_diff_dict() | {"_name_or_path": ""}

    kwargs = tiny_ar_config_kwargs()
    with pytest.raises(ValueError, match="do not fit the TTS vocabulary"):
        tiny_config("qwen2", **{**kwargs, "unit_vocab_size": UNIT_VOCAB + 1})
    with pytest.raises(ValueError, match="tts_sep_token_id"):
        tiny_config("qwen2", **{**kwargs, "tts_sep_token_id": kwargs["tts_speech_token_offset"] + 3})
    with pytest.raises(ValueError, match="write_size"):
        tiny_config("qwen2", **{**kwargs, "write_size": 0})
    with pytest.raises(ValueError, match="tts_top_p"):
        tiny_config("qwen2", **{**kwargs, "tts_top_p": 0.0})
    with pytest.raises(ValueError, match="tts_loss_vocabulary must be one of"):
        tiny_config("qwen2", **{**kwargs, "tts_loss_vocabulary": "units"})
    with pytest.raises(ValueError, match="needs tts_restrict_to_speech_tokens=True"):
        tiny_config("qwen2", **{**kwargs, "tts_loss_vocabulary": "speech", "tts_restrict_to_speech_tokens": False})
    assert tiny_config("qwen2", **{**kwargs, "tts_loss_vocabulary": "speech"}).tts_loss_vocabulary == "speech"


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------


def test_read_write_layout():
    # 7 text tokens + <sep> = 8 items in chunks of 3 (3, 3, 2); 25 units + EOS = 26 items in chunks of 10.
    assert read_write_layout(8, 26, 3, 10) == [
        ("text", 0, 3), ("speech", 0, 10), ("text", 3, 6), ("speech", 10, 20), ("text", 6, 8), ("speech", 20, 26)
    ]
    # 6 text tokens + <sep>: the released schedule reads the last 3 tokens with <sep> (no W block of their own).
    assert read_write_layout(7, 21, 3, 10) == [("text", 0, 3), ("speech", 0, 10), ("text", 3, 7), ("speech", 10, 21)]
    # Too little speech to write W after every chunk but the last: all the text first (as the original).
    assert read_write_layout(8, 15, 3, 10) == [("text", 0, 8), ("speech", 0, 15)]
    assert read_write_layout(1, 1, 3, 10) == [("text", 0, 1), ("speech", 0, 1)]
    with pytest.raises(ValueError):
        read_write_layout(0, 3, 3, 10)


def test_gate_fusion_is_the_papers_formula(model_and_processor):
    model, _ = model_and_processor
    decoder = model.speech_decoder
    hidden, tokens = _random_answer(model, 5, seed=0)
    with torch.no_grad():
        fused = decoder.fuse(hidden, tokens)
        proj = decoder.fusion.input_proj[2](torch.relu(decoder.fusion.input_proj[0](hidden)))
        embedding = decoder.tts_model.get_input_embeddings().weight[tokens]
        gate = torch.sigmoid(decoder.fusion.gate[0](torch.cat([proj, embedding], -1)))
        torch.testing.assert_close(fused, gate * proj + (1 - gate) * embedding)
    assert decoder.fusion.input_proj[0].out_features == 40  # tts_input_proj_hidden_size
    with pytest.raises(ValueError, match="TTS vocabulary"):
        decoder.fuse(hidden[:, :1], torch.tensor([[decoder.tts_model.config.vocab_size]]))


# ----------------------------------------------------------------------------------------------------------------------
# Streaming
# ----------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def re_prefill_reference(decoder, hidden, tokens, read_size, write_size, max_new_tokens):
    """What the original release does: at every written token, run the TTS model over the WHOLE sequence so far
    (no cache). Text arrives R tokens at a time; after each full chunk but the last W speech tokens are written (EOS
    masked: the speech-token restriction); the last 1..R text tokens and <sep> are read together and the model
    writes until EOS or max_new_tokens."""
    tts = decoder.tts_model
    offset, count = decoder.speech_token_offset, decoder.num_speech_tokens
    fused = decoder.fuse(hidden, tokens)[0]
    sequence = []

    def write(final: bool):
        allowed = list(range(offset, offset + count)) + ([decoder.eos_token_id] if final else [])
        logits = tts(inputs_embeds=torch.cat(sequence)[None], use_cache=False).logits[0, -1]
        token = allowed[int(logits[allowed].argmax())]
        if token != decoder.eos_token_id:
            sequence.append(decoder.embed(torch.tensor([token])))
        return token

    units = []
    n = fused.shape[0]
    full = read_size * ((n - 1) // read_size)  # the last 1..R tokens are read with <sep> (the released schedule)
    for start in range(0, full, read_size):
        sequence.append(fused[start : start + read_size])
        units += [write(final=False) - offset for _ in range(write_size)]
    sequence.append(fused[full:])
    sequence.append(decoder.embed(torch.tensor([decoder.sep_token_id])))
    ended = False
    for _ in range(max_new_tokens):
        token = write(final=True)
        if token == decoder.eos_token_id:
            ended = True
            break
        units.append(token - offset)
    # Positions the model has to see: the whole sequence, but a last token written without EOS after it is not fed.
    return units, sum(piece.shape[0] for piece in sequence) - (0 if ended else 1)


def _split(total: int, sizes: list[int]) -> list[int]:
    """`sizes` cut to add up to `total` (the rest in one last piece)."""
    pieces = []
    for size in sizes:
        if sum(pieces) < total:
            pieces.append(min(size, total - sum(pieces)))
    if sum(pieces) < total:
        pieces.append(total - sum(pieces))
    return pieces


@pytest.mark.parametrize("read_size, write_size", [(3, 10), (1, 1), (2, 5), (4, 3)])
@pytest.mark.parametrize("num_tokens", [1, 6, 11])
def test_greedy_streaming_with_kv_cache_equals_the_re_prefill_reference(
    model_and_processor, read_size, write_size, num_tokens
):
    """The KV-cached Read-Write stream writes exactly the speech tokens of the reference that re-runs the TTS model
    over the whole history at every token, for any way the text arrives; and it feeds every position exactly once."""
    model, _ = model_and_processor
    decoder = model.speech_decoder
    hidden, tokens = _random_answer(model, num_tokens, seed=num_tokens)
    max_new = 60
    expected, sequence_length = re_prefill_reference(decoder, hidden, tokens, read_size, write_size, max_new)
    assert len(expected) >= ((num_tokens - 1) // read_size) * write_size
    kwargs = dict(read_size=read_size, write_size=write_size, do_sample=False, max_new_tokens=max_new)
    for steps in ([1] * num_tokens, [num_tokens], _split(num_tokens, [2, 5])):
        stream = model.speech_unit_stream(**kwargs)
        units, start = [], 0
        for size in steps:
            written = stream.step(hidden[:, start : start + size], tokens[:, start : start + size])[0]
            assert len(written) % write_size == 0
            units += written
            start += size
        # W after every full chunk of R that a later token followed, no more (the last one goes with <sep>).
        assert len(units) == ((num_tokens - 1) // read_size) * write_size
        units += stream.finish()[0]
        assert units == expected, steps
        assert stream.units == expected and stream.finished
        # No re-prefill: each position of the sequence went through the TTS model once.
        assert stream.positions == sequence_length
        assert stream.cache.get_seq_length() == sequence_length
    with pytest.raises(RuntimeError, match="text has ended"):
        stream.step(hidden[:, :1], tokens[:, :1])
    assert stream.finish() == [[]]


def test_tts_cost_per_chunk_stays_flat_with_the_cache(model_and_processor):
    """Counted in TTS positions run through the model: with the KV cache every Read-R-Write-W chunk costs R + W
    positions wherever it is in the answer; re-prefilling (the original) costs the whole history at every written
    token, so its cost per chunk grows linearly with the chunk's index."""
    model, _ = model_and_processor
    read_size, write_size, chunks = 3, 10, 8
    hidden, tokens = _random_answer(model, read_size * chunks, seed=1)
    stream = model.speech_unit_stream(read_size=read_size, write_size=write_size)
    cached_costs = []
    for k in range(chunks):
        before = stream.positions
        span = slice(k * read_size, (k + 1) * read_size)
        # A chunk is read (and W written) once the next text token shows it is not the last one.
        assert len(stream.step(hidden[:, span], tokens[:, span])[0]) == (write_size if k else 0)
        cached_costs.append(stream.positions - before)
    assert cached_costs == [0, read_size + write_size - 1] + [read_size + write_size] * (chunks - 2)
    # The re-prefill reference runs the whole sequence before each of the W tokens of chunk k.
    chunk = read_size + write_size
    re_prefill_costs = [sum(k * chunk + read_size + j for j in range(write_size)) for k in range(chunks)]
    assert all(b - a == write_size * (read_size + write_size) for a, b in zip(re_prefill_costs, re_prefill_costs[1:]))


def test_finish_in_pieces_equals_finish_at_once(model_and_processor):
    model, _ = model_and_processor
    hidden, tokens = _random_answer(model, 8, seed=3)
    at_once = model.speech_unit_stream()
    whole = at_once.step(hidden, tokens)[0] + at_once.finish()[0]
    stream = model.speech_unit_stream()
    pieces = stream.step(hidden, tokens)[0]
    while True:
        piece = stream.finish(max_units=4)[0]
        assert len(piece) <= 4
        if not piece:
            break
        pieces += piece
    assert pieces == whole and stream.finished


def test_stream_checks_its_inputs(model_and_processor):
    model, _ = model_and_processor
    hidden, tokens = _random_answer(model, 3, seed=0)
    with pytest.raises(ValueError, match="token_ids"):
        model.speech_unit_stream().step(hidden)
    with pytest.raises(ValueError, match="shape"):
        model.speech_unit_stream().step(hidden, tokens[:, :2])
    with pytest.raises(ValueError, match="one answer at a time"):
        model.speech_unit_stream(batch_size=2)
    with pytest.raises(ValueError, match="read_size"):
        model.speech_unit_stream(read_size=0)
    with pytest.raises(TypeError):
        model.speech_unit_stream(bogus=1)
    with pytest.raises(ValueError, match="token_ids"):
        model.predict_units(hidden)


def test_sampling_is_reproducible_and_leaves_the_global_generator_alone(model_and_processor):
    model, _ = model_and_processor
    hidden, tokens = _random_answer(model, 9, seed=5)

    def sample(**kwargs):
        return model.predict_units(hidden, token_ids=tokens, do_sample=True, **kwargs)[0].tolist()

    torch.manual_seed(1234)
    state = torch.get_rng_state()
    first = sample(seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the LLM's sampling is not perturbed by the speech decoder
    assert sample(seed=7) == first
    assert sample(seed=8) != first
    assert sample(seed=7, temperature=0.5, top_k=5, top_p=0.9) == sample(seed=7, temperature=0.5, top_k=5, top_p=0.9)
    # W after each chunk but the last (the last is read with <sep>), then at most 3.
    assert (8 // 3) * 10 < len(sample(seed=7, max_new_tokens=3)) <= (8 // 3) * 10 + 3
    assert sample() == sample()  # default seed: torch.initial_seed()


def _run_streamer(model, processor, inputs, chunk_size, vocoder=None, **generate_kwargs):
    streamer = AudioStreamer(model, processor, vocoder=vocoder, chunk_size=chunk_size, timeout=60)
    thread = threading.Thread(target=model.generate, kwargs=dict(streamer=streamer, **inputs, **generate_kwargs))
    thread.start()
    items = list(streamer)
    thread.join()
    return streamer, items


@pytest.mark.parametrize("chunk_size", [4, None])
def test_streaming_through_generate_equals_return_audio(model_and_processor, chunk_size):
    """AudioStreamer (Read-Write steps while the LLM generates, then writing to EOS at the end) gives the units of
    generate(return_audio=True) and the text of generate()."""
    model, processor = model_and_processor
    for seed, seconds in enumerate([1.0, 2.5]):
        inputs = _inputs(processor, seconds, seed)
        kwargs = dict(max_new_tokens=13, do_sample=False, eos_token_id=None)
        reference = model.generate(**inputs, return_audio=True, **kwargs)
        streamer, items = _run_streamer(model, processor, inputs, chunk_size, **kwargs)
        answer = reference.sequences[0, inputs["input_ids"].shape[1] :]
        assert streamer.token_ids == answer.tolist()
        assert streamer.units == reference.units[0].tolist()
        assert len(streamer.units) > (13 // 3) * 10
        assert "".join(text for text, _ in items) == processor.decode(answer, skip_special_tokens=True)
        # return_audio runs the same Read-Write decoding over the states that predicted the answer's tokens
        states = []
        model.generate(**inputs, speech_state_callback=lambda s: states.append(s), **kwargs)
        direct = model.predict_units(torch.stack(states, 1), token_ids=answer[None])[0]
        assert direct.tolist() == reference.units[0].tolist()


def test_stream_with_decoding_settings_and_vocoder(model_and_processor):
    model, processor = model_and_processor
    vocoder = tiny_vocoder(unit_vocab_size=UNIT_VOCAB)
    inputs = _inputs(processor, 1.5, 4)
    kwargs = dict(max_new_tokens=9, do_sample=False, eos_token_id=None)
    decoding = dict(read_size=2, write_size=4, max_new_tokens=25)
    reference = model.generate(**inputs, return_audio=True, vocoder=vocoder, speech_decoder_kwargs=decoding, **kwargs)
    units = reference.units[0]
    assert 4 * 4 <= len(units) <= 4 * 4 + 25
    torch.testing.assert_close(reference.waveforms[0], vocoder_units(vocoder, units))
    chunks = list(model.stream(processor, vocoder=vocoder, chunk_size=5, speech_decoder_kwargs=decoding, **inputs,
                               **kwargs))
    audio = [a for _, a in chunks if a.size]
    assert len(audio) >= 2
    streamed = np.concatenate(audio)
    one_shot = reference.waveforms[0].numpy()
    assert streamed.shape == one_shot.shape
    assert np.abs(streamed - one_shot).max() < 0.05
    from tests.tiny_models import tiny_model

    with pytest.raises(ValueError, match="CTC speech decoder takes no decoding settings"):
        tiny_model().speech_unit_stream(read_size=3)


def test_the_final_write_is_vocoded_as_it_comes_and_skipped_after_an_early_stop(model_and_processor):
    model, processor = model_and_processor
    hidden, tokens = _random_answer(model, 5, seed=6)

    def feed(streamer):
        streamer.put(torch.tensor([1, 2, 3]))  # the prompt
        for i in range(5):
            streamer.on_speech_state(hidden[:, i])
            streamer.put(tokens[:, i])

    streamer = AudioStreamer(model, processor, vocoder=tiny_vocoder(unit_vocab_size=UNIT_VOCAB), chunk_size=4)
    feed(streamer)
    during_text = len(streamer.units)
    streamer.end()
    items = list(streamer)
    assert streamer.unit_stream.finished and len(streamer.units) > during_text + 8
    assert sum(1 for _, audio in items if audio.size) >= 2  # the speech after the text comes in several chunks

    stopped = AudioStreamer(model, processor, chunk_size=4)
    feed(stopped)
    stopped.stop_event.set()  # the caller stopped listening
    stopped.end()
    assert not stopped.unit_stream.text_ended  # nothing written after the text
    assert all(audio.size == 0 for _, audio in stopped)


def test_from_components_builds_an_omni2_model_with_a_pretrained_tts_model():
    from transformers import Qwen2Config, Qwen2ForCausalLM, WhisperConfig, WhisperModel

    from tests.tiny_models import tiny_text_config, tiny_tts_config, tiny_whisper_config

    torch.manual_seed(0)
    whisper = WhisperModel(WhisperConfig(**tiny_whisper_config()))
    llm_fields = tiny_text_config("qwen2")
    llm = Qwen2ForCausalLM(Qwen2Config(**{k: v for k, v in llm_fields.items() if k != "model_type"}))
    tts_fields = tiny_tts_config(llm.config.vocab_size, UNIT_VOCAB)
    tts = Qwen2ForCausalLM(Qwen2Config(**{k: v for k, v in tts_fields.items() if k != "model_type"}))
    ar = {k: v for k, v in tiny_ar_config_kwargs(llm.config.vocab_size).items() if k not in ("tts_config",)}
    model = LlamaOmniForConditionalGeneration.from_components(whisper, llm, tts_model=tts, **ar)
    assert model.config.speech_decoder_type == "ar" and model.config.speech_decoder_config is None
    for key, value in tts.state_dict().items():
        assert torch.equal(model.speech_decoder.tts_model.state_dict()[key], value), key
    tied = model.speech_decoder.tts_model
    assert tied.lm_head.weight.data_ptr() == tied.model.embed_tokens.weight.data_ptr()
    with pytest.raises(ValueError, match="tts_model needs"):
        LlamaOmniForConditionalGeneration.from_components(whisper, llm, tts_model=tts)


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------


def test_teacher_forced_sequence_is_the_streamed_sequence(model_and_processor):
    """Training builds the sequence streaming builds: with the streamed units as labels, the training logits at every
    speech position pick (among the tokens streaming may write there) the token streaming wrote."""
    model, _ = model_and_processor
    decoder = model.speech_decoder
    for num_tokens in (4, 9):
        hidden, tokens = _random_answer(model, num_tokens, seed=10 + num_tokens)
        stream = model.speech_unit_stream()
        units = stream.step(hidden, tokens)[0] + stream.finish()[0]
        assert stream.finished
        with torch.no_grad():
            out = decoder(hidden, tokens, torch.tensor([num_tokens]), torch.tensor([units]))
        offset, count = decoder.speech_token_offset, decoder.num_speech_tokens
        assert out.labels.tolist() == [u + offset for u in units] + [decoder.eos_token_id]
        final_start = ((num_tokens - 1) // 3) * 10  # the writes after <sep> may end with EOS
        ended_by_eos = len(units) - final_start < stream.max_new_tokens
        labels = out.labels.tolist() if ended_by_eos else out.labels.tolist()[:-1]
        for i, label in enumerate(labels):
            allowed = list(range(offset, offset + count)) + ([decoder.eos_token_id] if i >= final_start else [])
            assert allowed[int(out.logits[i, allowed].argmax())] == label, i
        expected = torch.nn.functional.cross_entropy(out.logits, out.labels)
        torch.testing.assert_close(out.loss, expected)


def test_loss_over_the_writable_tokens(model_and_processor):
    """`tts_loss_vocabulary="speech"`: the logits are the full head's columns of the speech tokens and EOS (in that
    order), the labels their indices among them, and the loss the cross-entropy over those columns alone."""
    import copy

    model, _ = model_and_processor
    decoder = model.speech_decoder
    restricted = copy.deepcopy(decoder)
    restricted.config = copy.deepcopy(decoder.config)
    restricted.config.tts_loss_vocabulary = "speech"
    hidden, tokens = _random_answer(model, 7, seed=3)
    count, offset = decoder.num_speech_tokens, decoder.speech_token_offset
    units = torch.tensor([[5, 0, count - 1, 7, 7, 2, 11, 3, 1, 4, 9, 6]])
    with torch.no_grad():
        full = decoder(hidden, tokens, torch.tensor([7]), units)
        out = restricted(hidden, tokens, torch.tensor([7]), units)
    columns = list(range(offset, offset + count)) + [decoder.eos_token_id]
    assert out.logits.shape == (units.shape[1] + 1, count + 1)
    torch.testing.assert_close(out.logits, full.logits[:, columns])
    assert out.labels.tolist() == units[0].tolist() + [count]
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(full.logits[:, columns], out.labels))
    assert float(out.loss) < float(full.loss)  # the other tokens' share of the probability is not counted


def test_speech_loss_from_the_full_model_and_from_cached_states_agree(model_and_processor):
    model, processor = model_and_processor
    from trainers.stages.collator import LlamaOmniCollator, SpeechInstructionEncoder

    encoder = SpeechInstructionEncoder(processor, units_column="units", unit_vocab_size=UNIT_VOCAB)
    collator = LlamaOmniCollator(pad_token_id=processor.tokenizer.pad_token_id, example_encoder=encoder)
    rows = [
        {"id": "a", "speech_instruction": {"array": make_speech(0.6), "sampling_rate": 16000},
         "response": "It is sunny and warm.", "units": list(range(20)) + [3, 3, 5]},
        {"id": "b", "speech_instruction": {"array": make_speech(0.8, seed=1), "sampling_rate": 16000},
         "response": "Seven.", "units": [1, 2, 3]},
    ]
    batch = collator(rows)
    model.train()
    try:
        out = model(**batch)
        assert out.ctc_loss is None and out.speech_loss is not None
        torch.testing.assert_close(out.loss, out.text_loss + out.speech_loss)
        targets = int(model.num_speech_targets(batch["unit_labels"]))
        assert targets == 23 + 3 + 2 and out.speech_logits.shape == (targets, model.config.tts_config.vocab_size)
        model.freeze(*model.COMPONENTS)
        model.unfreeze("speech_decoder")  # as in stage 2
        model.zero_grad()
        out = model(**batch)
        out.speech_loss.backward()
        grads = {name for name, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum())}
        assert grads and all(name.startswith("speech_decoder.") for name in grads)
        assert any(".fusion.gate." in name for name in grads) and any(".tts_model." in name for name in grads)

        with torch.no_grad():
            model_inputs = {k: v for k, v in batch.items() if k not in ("labels", "unit_labels")}
            hidden = model.model(**model_inputs).last_hidden_state
            states, lengths = model.response_states(hidden, batch["labels"])
            cached = model(response_hidden_states=states, response_lengths=lengths, unit_labels=batch["unit_labels"],
                           response_token_ids=model.response_tokens(batch["labels"]))
        torch.testing.assert_close(cached.loss, out.speech_loss.detach())
        with pytest.raises(ValueError, match="response tokens"):
            model(response_hidden_states=states, response_lengths=lengths, unit_labels=batch["unit_labels"])
    finally:
        model.eval()
        model.unfreeze(*model.COMPONENTS)
        model.zero_grad(set_to_none=True)


# ----------------------------------------------------------------------------------------------------------------------
# Save / load
# ----------------------------------------------------------------------------------------------------------------------


def test_save_load_keeps_weights_ties_and_decoding(model_and_processor, tmp_path):
    model, _ = model_and_processor
    model.save_pretrained(tmp_path, remote_code=True)
    assert (tmp_path / "modeling_omni2_decoder.py").is_file()
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path).eval()
    tts = loaded.speech_decoder.tts_model
    assert tts.lm_head.weight.data_ptr() == tts.model.embed_tokens.weight.data_ptr()
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for key in state:
        assert torch.equal(state[key], loaded_state[key]), key
    hidden, tokens = _random_answer(model, 7, seed=2)
    assert loaded.predict_units(hidden, token_ids=tokens)[0].tolist() == model.predict_units(
        hidden, token_ids=tokens
    )[0].tolist()
    # An untied TTS model keeps its own output layer.
    untied, _ = tiny_ar_model_and_processor(
        tts_config={**model.config.tts_config.to_dict(), "tie_word_embeddings": False}
    )
    head = untied.speech_decoder.tts_model
    assert head.lm_head.weight.data_ptr() != head.model.embed_tokens.weight.data_ptr()
    assert not untied.all_tied_weights_keys


REMOTE_SCRIPT = """
import torch
from transformers import AutoModel

folder, inputs_path = sys.argv[1:3]
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
inputs = torch.load(inputs_path, weights_only=True)
units = model.predict_units(inputs["hidden"], token_ids=inputs["tokens"])[0].tolist()
print(json.dumps({"model": type(model).__module__, "decoder": type(model.speech_decoder).__module__,
                  "units": units, "ours_importable": any(m.split(".")[0] in OURS for m in sys.modules)}))
"""


def test_an_omni2_folder_loads_with_remote_code_in_a_clean_interpreter(model_and_processor, tmp_path):

    model, _ = model_and_processor
    folder = tmp_path / "omni2"
    model.save_pretrained(folder, remote_code=True)
    hidden, tokens = _random_answer(model, 7, seed=4)
    torch.save({"hidden": hidden, "tokens": tokens}, tmp_path / "inputs.pt")
    result = run_clean(REMOTE_SCRIPT, folder, tmp_path / "inputs.pt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["model"].startswith("transformers_modules.") and info["decoder"].startswith("transformers_modules.")
    assert not info["ours_importable"]
    assert info["units"] == model.predict_units(hidden, token_ids=tokens)[0].tolist()


def test_remote_code_files_import_only_torch_transformers_and_siblings(tmp_path, model_and_processor):
    model, _ = model_and_processor
    model.config.save_pretrained(tmp_path)
    written = write_remote_code(tmp_path)
    assert str(tmp_path / "modeling_omni2_decoder.py") in written
    source = (tmp_path / "modeling_omni2_decoder.py").read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "math", "re", "dataclasses", "torch", "transformers", ""}, imports
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"].startswith("modeling_llama_omni.")
    assert os.path.isfile(tmp_path / "modeling_llama_omni.py")


# ----------------------------------------------------------------------------------------------------------------------
# Stage 2
# ----------------------------------------------------------------------------------------------------------------------

RECIPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "trainers", "recipes",
                      "stage2_omni2_tiny.yaml")
STAGE2_COMMON = dict(use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1,
                     disable_tqdm=True, dataloader_num_workers=0, seed=0, lr_scheduler_type="constant")


def _stage2_dataset(n: int):
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(0)
    responses = ["It is sunny and warm.", "Seven.", "The capital of France is Paris.", "Yes, I would be glad to help."]
    rows = {
        "id": [f"ex{i}" for i in range(n)],
        "speech_instruction": [{"array": make_speech(0.5 + 0.1 * i, seed=i), "sampling_rate": 16000} for i in range(n)],
        "response": [responses[i % len(responses)] for i in range(n)],
        "response_units": [rng.integers(0, UNIT_VOCAB, size=int(rng.integers(8, 30))).tolist() for _ in range(n)],
    }
    return datasets.Dataset.from_dict(rows).cast_column("speech_instruction", datasets.Audio(sampling_rate=16000))


def _new_decoder_fields():
    import yaml

    with open(RECIPE, encoding="utf-8") as f:
        return yaml.safe_load(f)["new_speech_decoder"]


def test_omni2_recipe_parses_and_fits_the_tiny_model():
    from trainers.scripts.train import parse_train_args

    _, _, config = parse_train_args("stage2", ["--config", RECIPE])
    assert config.new_speech_decoder["speech_decoder_type"] == "ar" and config.cache_response_states
    _, _, config = parse_train_args("stage2", ["--config", RECIPE, "--new_speech_decoder",
                                               json.dumps({"speech_decoder_type": "ar"})])
    assert config.new_speech_decoder == {"speech_decoder_type": "ar"}
    from tests.tiny_models import tiny_model_and_processor

    model, _ = tiny_model_and_processor()
    model.replace_speech_decoder(**_new_decoder_fields())
    assert model.config.speech_decoder_type == "ar" and model.config.speech_decoder_config is None
    assert model.config.tts_config.vocab_size == model.config.text_config.vocab_size + 1 + UNIT_VOCAB


def test_stage2_trains_only_the_autoregressive_decoder_and_saves_an_omni2_folder(tmp_path):
    """Stage 2 from a (CTC) stage-1 model: the decoder is swapped for a fresh autoregressive one, only it changes,
    the teacher-forced loss falls on a fixed batch, and the saved folder loads and speaks."""
    from tests.tiny_models import tiny_model_and_processor
    from trainers.stages.stage2 import LlamaOmniStage2Trainer, Stage2Config

    model, processor = tiny_model_and_processor()
    before = {k: v.detach().clone() for k, v in model.state_dict().items() if not k.startswith("speech_decoder.")}
    args = Stage2Config(output_dir=str(tmp_path), max_steps=25, per_device_train_batch_size=2, learning_rate=1e-2,
                        new_speech_decoder=_new_decoder_fields(), cache_response_states=True, **STAGE2_COMMON)
    trainer = LlamaOmniStage2Trainer(model, args, train_dataset=_stage2_dataset(2), processor=processor)
    assert "response_token_ids" in trainer.data_collator([{"id": "ex0"}, {"id": "ex1"}])
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 25 and np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses
    after = model.state_dict()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    trainer.save_model(str(tmp_path / "out"))
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / "out").eval()
    assert loaded.config.speech_decoder_type == "ar"
    inputs = _inputs(processor, 1.0, 0)
    out = loaded.generate(**inputs, return_audio=True, max_new_tokens=5, do_sample=False, eos_token_id=None,
                          speech_decoder_kwargs=dict(max_new_tokens=20, do_sample=False))
    assert 10 <= len(out.units[0]) <= 30


def test_stage2_cached_response_states_give_the_same_autoregressive_loss(tmp_path):
    from trainers.stages.stage2 import LlamaOmniStage2Trainer, Stage2Config

    dataset = _stage2_dataset(3)
    losses = {}
    for cached in (False, True):
        model, processor = tiny_ar_model_and_processor()
        args = Stage2Config(output_dir=str(tmp_path / str(cached)), cache_response_states=cached, **STAGE2_COMMON)
        trainer = LlamaOmniStage2Trainer(model, args, train_dataset=dataset, processor=processor)
        batch = trainer.data_collator([dataset[i] for i in range(3)])
        assert ("response_token_ids" in batch) == cached
        with torch.no_grad():
            losses[cached] = float(trainer.compute_loss(trainer.model.eval(), dict(batch)))
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# Converter from the released ICTNLP/LLaMA-Omni2-* layout
# ----------------------------------------------------------------------------------------------------------------------


class Omni2Source:
    """A tiny checkpoint in the LLaMA-Omni2 release layout (config.json with `speech_generator` and `stream_params`,
    openai-whisper encoder names, tied Qwen2 LLM and TTS model, 2 shards + index) and the reference modules."""

    TEXT_VOCAB, EOS = 128, 2

    def __init__(self, root, tts_tokenizer: bool = False, keep_tied_lm_heads: bool = False):
        from safetensors.torch import save_file
        from torch import nn
        from transformers import Qwen2Config, Qwen2ForCausalLM, WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        from tests.released_layouts import openai_whisper_name as _openai_whisper_name
        from tests.tiny_models import tiny_text_config, tiny_tts_config, tiny_whisper_config

        torch.manual_seed(0)
        self.dir = str(root / "omni2")
        os.makedirs(self.dir)
        text_fields = tiny_text_config("qwen2", vocab_size=self.TEXT_VOCAB, tie_word_embeddings=True)
        text_fields.pop("model_type")
        self.llm = Qwen2ForCausalLM(Qwen2Config(**text_fields, rope_parameters={"rope_type": "default",
                                                                                 "rope_theta": 1e6})).eval()
        whisper_config = WhisperConfig(**tiny_whisper_config(d_model=128, encoder_attention_heads=2))
        self.encoder = WhisperEncoder(whisper_config).eval()
        hidden = text_fields["hidden_size"]
        tts_fields = tiny_tts_config(self.TEXT_VOCAB, UNIT_VOCAB, eos_token_id=self.EOS)
        tts_fields.pop("model_type")
        tts_fields.pop("rope_parameters")
        self.tts_fields = tts_fields
        self.generator = nn.ModuleDict({
            "input_proj": nn.Sequential(nn.Linear(hidden, 2 * hidden), nn.ReLU(), nn.Linear(2 * hidden, 24)),
            "gate": nn.Sequential(nn.Linear(48, 24), nn.Sigmoid()),
            "model": Qwen2ForCausalLM(Qwen2Config(**tts_fields, rope_parameters={"rope_type": "default",
                                                                                 "rope_theta": 1e6})),
        }).eval()
        adaptor = nn.ModuleDict({"linear1": nn.Linear(128 * 5, 40), "linear2": nn.Linear(40, hidden)})
        state = {k: v for k, v in self.llm.state_dict().items() if keep_tied_lm_heads or k != "lm_head.weight"}
        for k, v in self.encoder.state_dict().items():
            state["model.speech_encoder." + _openai_whisper_name(k)] = v
        state.update({"model.speech_projector." + k: v for k, v in adaptor.state_dict().items()})
        for k, v in self.generator.state_dict().items():
            if keep_tied_lm_heads or k != "model.lm_head.weight":
                state["speech_generator." + k] = v
        self.state = {k: v.detach().clone().contiguous() for k, v in state.items()}
        self.config = {
            "architectures": ["Omni2Speech2SQwen2ForCausalLM"], "model_type": "omni2_speech2s_qwen2",
            **{k: v for k, v in text_fields.items() if k != "rope_parameters"}, "rope_theta": 1e6,
            "hidden_act": "silu", "rms_norm_eps": 1e-6, "sliding_window": None, "use_sliding_window": False,
            "speech_encoder": "models/speech_encoder/large-v3.pt", "speech_encoder_type": "whisper",
            "speech_encoder_ds_rate": 5, "speech_encoder_hidden_size": 128, "speech_projector_type": "linear",
            "speech_generator": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "rope_theta": 1e6,
                                 "use_mrope": False, **tts_fields},
            "stream_params": "(2,5)", "unit_vocab_size": UNIT_VOCAB, "tokenizer_model_max_length": 4096,
            "tokenizer_padding_side": "right", "torch_dtype": "float32", "transformers_version": "4.43.4",
        }
        if tts_tokenizer:
            self._write_tts_tokenizer()
        keys = list(self.state)
        weight_map = {}
        for i, part in enumerate([keys[: len(keys) // 2], keys[len(keys) // 2 :]], start=1):
            name = f"model-{i:05d}-of-00002.safetensors"
            save_file({k: self.state[k] for k in part}, os.path.join(self.dir, name), metadata={"format": "pt"})
            weight_map.update({k: name for k in part})
        with open(os.path.join(self.dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(self.config, f)

    def _write_tts_tokenizer(self) -> None:
        """A TTS tokenizer whose ids differ from the default layout's, to show they are read: <sep> first."""
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        vocab = {f"w{i}": i for i in range(self.TEXT_VOCAB)}
        vocab["<sep>"] = self.TEXT_VOCAB + UNIT_VOCAB  # after the speech tokens, unlike the release
        vocab.update({f"<{u}>": self.TEXT_VOCAB + u for u in range(UNIT_VOCAB)})
        backend = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="w0", eos_token="w3")
        tokenizer.save_pretrained(os.path.join(self.dir, "tts_tokenizer"))


def test_converter_maps_every_key_of_the_omni2_checkpoint(tmp_path):
    from modeling_llama_omni.convert_omni2 import convert_omni2_checkpoint, map_omni2_key

    source = Omni2Source(tmp_path, keep_tied_lm_heads=True)
    assert all(map_omni2_key(k) is not None for k in source.state)
    config = convert_omni2_checkpoint(source.dir, tmp_path / "out", dtype="float32")
    assert config.speech_decoder_type == "ar" and (config.read_size, config.write_size) == (2, 5)
    offset = Omni2Source.TEXT_VOCAB + 1
    assert (config.tts_speech_token_offset, config.tts_sep_token_id, config.tts_eos_token_id) == (offset, offset - 1, 2)
    assert config.tts_input_proj_hidden_size == 64 and config.pad_to_30s

    model, info = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    converted = model.state_dict()
    for key, tensor in source.state.items():  # every source tensor landed where its mapping says
        assert torch.equal(converted[map_omni2_key(key)], tensor), key
    mapped = {map_omni2_key(k) for k in source.state}
    assert set(converted) <= mapped | {"model.speech_encoder.embed_positions.weight"}
    tts = model.speech_decoder.tts_model
    assert tts.lm_head.weight.data_ptr() == tts.model.embed_tokens.weight.data_ptr()

    # The converted pieces compute what the released modules compute.
    model.eval()
    with torch.no_grad():
        embeds = torch.randn(1, 7, 24)
        reference = source.generator["model"](inputs_embeds=embeds).logits
        torch.testing.assert_close(tts(inputs_embeds=embeds).logits, reference)
        hidden, tokens = torch.randn(1, 4, 32), torch.tensor([[5, 9, 100, 127]])
        proj = source.generator["input_proj"](hidden)
        emb = source.generator["model"].get_input_embeddings()(tokens)
        gate = source.generator["gate"](torch.cat([proj, emb], -1))
        torch.testing.assert_close(model.speech_decoder.fuse(hidden, tokens), proj * gate + emb * (1 - gate))
        ids = torch.tensor([[1, 5, 9, 33]])
        torch.testing.assert_close(model(input_ids=ids).logits, source.llm(input_ids=ids).logits)
    # The release's decoding by default (tests/test_fidelity_omni2.py); the speech-token restriction on request.
    assert (config.tts_top_k, config.tts_restrict_to_speech_tokens, config.tts_max_new_tokens) == (50, False, 1024)
    units = model.predict_units(hidden, token_ids=tokens, do_sample=False, max_new_tokens=8,
                                restrict_to_speech_tokens=True)[0]
    assert len(units) >= 5 and int(units.max()) < UNIT_VOCAB
    assert os.path.isfile(tmp_path / "out" / "modeling_omni2_decoder.py")


def test_converter_reads_the_tts_tokenizer_and_refuses_what_it_cannot_convert(tmp_path):
    from safetensors.torch import save_file

    from modeling_llama_omni.convert_omni2 import convert_omni2_checkpoint, main

    source = Omni2Source(tmp_path, tts_tokenizer=True)
    config = convert_omni2_checkpoint(source.dir, tmp_path / "out")
    base = Omni2Source.TEXT_VOCAB
    assert (config.tts_speech_token_offset, config.tts_sep_token_id, config.tts_eos_token_id) == (base, base + 20, 3)

    def rewrite(config_update=None, extra=None):
        cfg = {**source.config, **(config_update or {})}
        with open(os.path.join(source.dir, "config.json"), "w") as f:
            json.dump(cfg, f)
        path = os.path.join(source.dir, "model-00002-of-00002.safetensors")
        from safetensors.torch import load_file

        tensors = load_file(path)
        tensors = {**{k: v for k, v in tensors.items() if not k.startswith("extra.")}, **(extra or {})}
        save_file(tensors, path, metadata={"format": "pt"})
        index_path = os.path.join(source.dir, "model.safetensors.index.json")
        index = json.loads(open(index_path).read())
        index["weight_map"] = {k: v for k, v in index["weight_map"].items() if not k.startswith("extra.")}
        index["weight_map"].update({k: "model-00002-of-00002.safetensors" for k in extra or {}})
        with open(index_path, "w") as f:
            json.dump(index, f)

    rewrite({"stream_params": "__import__('os').system('true')"})
    with pytest.raises(ValueError, match="stream_params"):
        convert_omni2_checkpoint(source.dir, tmp_path / "o1")
    rewrite({"model_type": "omni_speech2s_llama"})
    with pytest.raises(ValueError, match="convert_original"):
        convert_omni2_checkpoint(source.dir, tmp_path / "o2")
    rewrite(extra={"extra.unknown": torch.zeros(2)})
    with pytest.raises(ValueError, match="extra.unknown"):
        convert_omni2_checkpoint(source.dir, tmp_path / "o3")
    assert not os.path.exists(tmp_path / "o3")
    assert main(["--checkpoint", source.dir, "--output", str(tmp_path / "o4")]) == 1
