"""The CTC speech decoder option that reads the emitted tokens' embeddings beside the LLM states
(`LlamaOmniConfig.speech_decoder_token_embeddings`), on tiny random models."""

from __future__ import annotations

import threading

import pytest
import torch

from modeling_llama_omni import AudioStreamer, LlamaOmniConfig, LlamaOmniForConditionalGeneration
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_config, tiny_model_and_processor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_model_and_processor(speech_decoder_token_embeddings=True)


def _states_and_tokens(model, n: int = 17, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, n, model.config.text_config.hidden_size, generator=generator)
    tokens = torch.randint(3, model.config.text_config.vocab_size, (1, n), generator=generator)
    return hidden, tokens


def test_config_validates_the_option():
    assert tiny_config().speech_decoder_token_embeddings is False
    with pytest.raises(ValueError, match="must be True or False"):
        tiny_config(speech_decoder_token_embeddings="yes")
    with pytest.raises(ValueError, match="option of the CTC speech decoder"):
        LlamaOmniConfig(speech_decoder_type="ar", speech_decoder_token_embeddings=True)


def test_decoder_reads_the_token_embeddings(model_and_processor):
    model, _ = model_and_processor
    decoder = model.speech_decoder
    assert decoder.uses_token_embeddings and decoder.token_proj is not None
    hidden, tokens = _states_and_tokens(model)
    embeds = model.get_input_embeddings()(tokens)
    with torch.no_grad():
        logits = decoder(hidden, token_embeds=embeds)
        other = decoder(hidden, token_embeds=model.get_input_embeddings()(tokens.flip(-1)))
    assert logits.shape == (1, 17 * model.config.ctc_upsample_factor, model.config.unit_vocab_size + 1)
    assert not torch.allclose(logits, other)  # the tokens matter, not only the states
    with pytest.raises(ValueError, match="pass token_embeds"):
        decoder(hidden)
    with pytest.raises(ValueError, match="shape of hidden_states"):
        decoder(hidden, token_embeds=embeds[:, :5])
    with pytest.raises(ValueError, match="pass the response tokens"):
        model.predict_units(hidden)


def test_a_states_only_decoder_refuses_token_embeddings():
    model, _ = tiny_model_and_processor()
    hidden, tokens = _states_and_tokens(model)
    assert model.speech_decoder.token_proj is None
    with pytest.raises(ValueError, match="reads the states only"):
        model.speech_decoder(hidden, token_embeds=model.get_input_embeddings()(tokens))
    # token_ids stay optional (and unused) for it
    assert model.predict_units(hidden, token_ids=tokens)[0].tolist() == model.predict_units(hidden)[0].tolist()


def test_incremental_decoding_equals_one_shot(model_and_processor):
    model, _ = model_and_processor
    hidden, tokens = _states_and_tokens(model, n=23, seed=1)
    one_shot = model.predict_units(hidden, token_ids=tokens)[0].tolist()
    assert one_shot
    for steps in ([1] * 23, [5, 1, 7, 10], [23]):
        stream = model.speech_unit_stream()
        units, start = [], 0
        for n in steps:
            units += stream.step(hidden[:, start : start + n], tokens[:, start : start + n])[0]
            start += n
        assert units == one_shot, steps
    with pytest.raises(ValueError, match="pass token_ids"):
        model.speech_unit_stream().step(hidden)


def test_speech_loss_with_cached_states_equals_the_full_forward(model_and_processor):
    model, processor = model_and_processor
    torch.manual_seed(0)
    inputs = processor(audio=make_speech(1.5, seed=3), sampling_rate=16000)
    response = torch.randint(3, model.config.text_config.vocab_size, (1, 9))
    input_ids = torch.cat([inputs["input_ids"], response], dim=1)
    labels = torch.full_like(input_ids, -100)
    labels[:, -9:] = response
    units = torch.randint(0, model.config.unit_vocab_size, (1, 12))
    with torch.no_grad():
        full = model(input_ids=input_ids, input_features=inputs["input_features"],
                     feature_attention_mask=inputs.get("feature_attention_mask"), labels=labels, unit_labels=units)
        hidden = model.model(input_ids=input_ids, input_features=inputs["input_features"],
                             feature_attention_mask=inputs.get("feature_attention_mask")).last_hidden_state
        states, lengths = model.response_states(hidden, labels)
        cached = model(response_hidden_states=states, response_lengths=lengths, unit_labels=units,
                       response_token_ids=model.response_tokens(labels))
    assert torch.isfinite(full.ctc_loss)
    torch.testing.assert_close(cached.loss, full.ctc_loss, rtol=1e-4, atol=1e-5)


def test_streamed_units_equal_return_audio_units(model_and_processor):
    model, processor = model_and_processor
    inputs = processor(audio=make_speech(2.0, seed=5), sampling_rate=16000)
    kwargs = dict(max_new_tokens=20, do_sample=False, eos_token_id=None)
    reference = model.generate(**inputs, return_audio=True, **kwargs)
    streamer = AudioStreamer(model, processor, chunk_size=4, timeout=60)
    thread = threading.Thread(target=model.generate, kwargs=dict(streamer=streamer, **inputs, **kwargs))
    thread.start()
    list(streamer)
    thread.join()
    assert streamer.units == reference.units[0].tolist()
    assert len(streamer.units) > 0


def test_save_and_load_keep_the_token_projection(model_and_processor, tmp_path):
    model, _ = model_and_processor
    model.save_pretrained(tmp_path)
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path)
    assert loaded.config.speech_decoder_token_embeddings is True
    torch.testing.assert_close(loaded.speech_decoder.token_proj.weight, model.speech_decoder.token_proj.weight)


def test_replace_speech_decoder_switches_the_option_on():
    model, _ = tiny_model_and_processor()
    model.replace_speech_decoder(speech_decoder_token_embeddings=True, unit_vocab_size=11, ctc_upsample_factor=3)
    assert model.config.speech_decoder_token_embeddings and model.speech_decoder.uses_token_embeddings
    hidden, tokens = _states_and_tokens(model, n=5)
    assert all(0 <= u < 11 for u in model.predict_units(hidden, token_ids=tokens)[0].tolist())


def test_replace_speech_decoder_by_the_autoregressive_one_drops_the_ctc_option():
    from tests.tiny_models import tiny_ar_config_kwargs

    model, _ = tiny_model_and_processor(speech_decoder_token_embeddings=True)
    model.replace_speech_decoder(**tiny_ar_config_kwargs())
    assert model.config.speech_decoder_type == "ar" and model.config.speech_decoder_token_embeddings is False


def test_token_residuals_start_at_zero_and_are_learned_per_token():
    model, _ = tiny_model_and_processor(speech_decoder_token_embeddings=True)
    hidden, tokens = _states_and_tokens(model, n=9, seed=2)
    before = model.predict_units(hidden, token_ids=tokens)[0].tolist()
    model.replace_speech_decoder(speech_decoder_token_embeddings=True, speech_decoder_token_residuals=True)
    residuals = model.speech_decoder.token_residuals
    assert residuals.weight.shape == (model.config.text_config.vocab_size, model.speech_decoder.config.hidden_size)
    assert torch.count_nonzero(residuals.weight) == 0  # zero-initialised: the projection alone at first
    # a token's own vector changes what the decoder reads for that token only
    with torch.no_grad():
        residuals.weight[int(tokens[0, 3])] = 5.0
        embeds = model.get_input_embeddings()(tokens)
        logits = model.speech_decoder(hidden, token_embeds=embeds, token_ids=tokens)
        base = model.speech_decoder(hidden, token_embeds=embeds, token_ids=torch.zeros_like(tokens))
    factor = model.config.ctc_upsample_factor
    changed = (logits - base).abs().amax(-1)[0] > 1e-6
    first = int((tokens[0] == tokens[0, 3]).nonzero()[0])
    assert not changed[: first * factor].any() and changed[first * factor : (first + 1) * factor].all()
    with pytest.raises(ValueError, match="pass token_ids"):
        model.speech_decoder(hidden, token_embeds=embeds)
    # incremental == one-shot with the table, and the model's helpers pass the ids
    one_shot = model.predict_units(hidden, token_ids=tokens)[0].tolist()
    stream = model.speech_unit_stream()
    units = stream.step(hidden[:, :4], tokens[:, :4])[0] + stream.step(hidden[:, 4:], tokens[:, 4:])[0]
    assert units == one_shot and isinstance(before, list)
    with pytest.raises(ValueError, match="needs speech_decoder_token_embeddings=True"):
        tiny_config(speech_decoder_token_residuals=True)


def test_token_residuals_survive_save_and_load(tmp_path):
    model, _ = tiny_model_and_processor(speech_decoder_token_embeddings=True, speech_decoder_token_residuals=True)
    with torch.no_grad():
        model.speech_decoder.token_residuals.weight.normal_()
    model.save_pretrained(tmp_path)
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.speech_decoder.token_residuals.weight, model.speech_decoder.token_residuals.weight)
    fresh = LlamaOmniForConditionalGeneration(loaded.config)
    assert torch.count_nonzero(fresh.speech_decoder.token_residuals.weight) == 0


def _pronouncing_model(slots: int = 5):
    model, _ = tiny_model_and_processor(speech_decoder_token_embeddings=True, speech_decoder_token_phonemes=slots)
    table = model.speech_decoder.token_phonemes
    generator = torch.Generator().manual_seed(7)
    units = torch.randint(0, model.config.unit_vocab_size, (table.table.shape[0], slots), generator=generator)
    lengths = torch.randint(0, slots + 1, (table.table.shape[0], 1), generator=generator)
    table.set_table(torch.where(torch.arange(slots)[None] < lengths, units, -1))
    return model


def test_token_phonemes_config_and_table_validation():
    assert tiny_config().speech_decoder_token_phonemes == 0
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="speech_decoder_token_phonemes must be an int >= 0"):
            tiny_config(speech_decoder_token_embeddings=True, speech_decoder_token_phonemes=bad)
    with pytest.raises(ValueError, match="needs speech_decoder_token_embeddings=True"):
        tiny_config(speech_decoder_token_phonemes=4)
    model, _ = tiny_model_and_processor(speech_decoder_token_embeddings=True, speech_decoder_token_phonemes=4)
    table = model.speech_decoder.token_phonemes
    vocab = model.config.text_config.vocab_size
    assert table.table.shape == (vocab, 4) and bool((table.table == -1).all())
    with pytest.raises(ValueError, match="must have shape"):
        table.set_table(torch.zeros(vocab, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="entries must be units"):
        table.set_table(torch.full((vocab, 2), model.config.unit_vocab_size))
    with pytest.raises(ValueError, match="2-d integer tensor"):
        table.set_table(torch.zeros(vocab, 2))
    table.set_table(torch.ones(vocab, 2, dtype=torch.long))  # a narrower table is padded with "no unit"
    assert bool((table.table[:, :2] == 1).all()) and bool((table.table[:, 2:] == -1).all())


def test_token_phonemes_start_at_zero_and_place_units_on_their_frames():
    model = _pronouncing_model(slots=5)
    hidden, tokens = _states_and_tokens(model, n=9, seed=3)
    decoder = model.speech_decoder
    embeds = model.get_input_embeddings()(tokens)
    with torch.no_grad():
        base = decoder(hidden, token_embeds=embeds, token_ids=tokens)
        decoder.token_phonemes.table.fill_(-1)
        assert torch.equal(decoder(hidden, token_embeds=embeds, token_ids=tokens), base)  # zero-initialised
    model = _pronouncing_model(slots=5)  # 2 rows with ctc_upsample_factor 3
    decoder = model.speech_decoder
    factor = model.config.ctc_upsample_factor
    assert decoder.token_phonemes.rows == -(-5 // factor)
    with torch.no_grad():
        decoder.token_phonemes.weight.normal_()
        frames = decoder.token_phonemes(tokens)
    assert frames.shape == (1, 9 * factor, decoder.config.hidden_size)
    row_units = decoder.token_phonemes.table[tokens[0, 4]].long()
    none = model.config.unit_vocab_size
    for frame in range(factor):  # frame j of a token = its units j, j + factor, ... through their rows' embeddings
        expected = sum(decoder.token_phonemes.weight[row, int(row_units[s]) if s < 5 and row_units[s] >= 0 else none]
                       for row, s in enumerate(range(frame, decoder.token_phonemes.rows * factor, factor)))
        torch.testing.assert_close(frames[0, 4 * factor + frame], expected)


def test_token_phonemes_stream_and_survive_save_and_load(tmp_path):
    model = _pronouncing_model(slots=3)
    with torch.no_grad():
        model.speech_decoder.token_phonemes.weight.normal_()
    hidden, tokens = _states_and_tokens(model, n=13, seed=4)
    one_shot = model.predict_units(hidden, token_ids=tokens)[0].tolist()
    stream = model.speech_unit_stream()
    units = []
    for start, stop in ((0, 1), (1, 6), (6, 13)):
        units += stream.step(hidden[:, start:stop], tokens[:, start:stop])[0]
    assert units == one_shot
    model.save_pretrained(tmp_path)
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path)
    assert loaded.config.speech_decoder_token_phonemes == 3
    assert torch.equal(loaded.speech_decoder.token_phonemes.table, model.speech_decoder.token_phonemes.table)
    torch.testing.assert_close(loaded.speech_decoder.token_phonemes.weight, model.speech_decoder.token_phonemes.weight)
    assert loaded.predict_units(hidden, token_ids=tokens)[0].tolist() == one_shot
