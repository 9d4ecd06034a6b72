"""LlamaOmniConfig / LlamaOmniModel / LlamaOmniForConditionalGeneration on tiny configs."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, LlamaForCausalLM, Qwen2ForCausalLM
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from modeling_llama_omni import (
    LlamaOmniConfig,
    LlamaOmniForConditionalGeneration,
    ctc_greedy_collapse,
)
from tests.tiny_models import TINY_SPEECH_TOKEN_ID, tiny_config, tiny_model

SPEECH = TINY_SPEECH_TOKEN_ID


def speech_inputs(frames: list[int], num_mel_bins: int = 80, seed: int = 0):
    """Random log-mel features for clips of the given frame counts, right-padded, and their mask."""
    generator = torch.Generator().manual_seed(seed)
    longest = max(frames)
    features = torch.zeros(len(frames), num_mel_bins, longest)
    mask = torch.zeros(len(frames), longest, dtype=torch.long)
    for i, n in enumerate(frames):
        features[i, :, :n] = torch.randn(num_mel_bins, n, generator=generator)
        mask[i, :n] = 1
    return features, mask


def prompt(model, num_frames: int, prefix=(1, 5, 6), suffix=(7, 8, 9)) -> list[int]:
    n = int(model.model.num_speech_embeddings(torch.tensor(num_frames)))
    return list(prefix) + [SPEECH] * n + list(suffix)


def pad_batch(sequences: list[list[int]], side: str):
    longest = max(len(s) for s in sequences)
    ids = torch.zeros(len(sequences), longest, dtype=torch.long)
    mask = torch.zeros(len(sequences), longest, dtype=torch.long)
    for i, s in enumerate(sequences):
        if side == "right":
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        else:
            ids[i, longest - len(s) :] = torch.tensor(s)
            mask[i, longest - len(s) :] = 1
    return ids, mask


@pytest.fixture(scope="module")
def model():
    return tiny_model()


# -- config ------------------------------------------------------------------------------------------------------------


def test_default_config_describes_the_released_checkpoint():
    config = LlamaOmniConfig()
    assert config.text_config.model_type == "llama"
    assert config.text_config.hidden_size == 4096
    assert config.text_config.rope_parameters["rope_type"] == "llama3"
    assert config.speech_encoder_config.d_model == 1280 and config.speech_encoder_config.num_mel_bins == 128
    decoder = config.speech_decoder_config
    assert (decoder.num_hidden_layers, decoder.hidden_size, decoder.num_attention_heads, decoder.intermediate_size) == (
        2,
        4096,
        32,
        11008,
    )
    assert decoder.rope_parameters["rope_theta"] == 500000.0
    assert (config.speech_downsample_rate, config.ctc_upsample_factor, config.unit_vocab_size) == (5, 25, 1000)
    assert config.ctc_blank_id == 1000


def test_config_round_trip_and_auto_config(tmp_path):
    config = tiny_config("qwen2")
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, LlamaOmniConfig)
    assert loaded.text_config.model_type == "qwen2"
    assert loaded.to_diff_dict() | {"_name_or_path": ""} == config.to_diff_dict() | {"_name_or_path": ""}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"speech_decoder_type": "diffusion"}, "speech_decoder_type"),
        ({"ctc_upsample_factor": 0}, "ctc_upsample_factor"),
        ({"speech_downsample_rate": 2.5}, "speech_downsample_rate"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tiny_config(**kwargs)


# -- equivalences ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text_type, bare_cls", [("llama", LlamaForCausalLM), ("qwen2", Qwen2ForCausalLM)])
def test_text_only_logits_equal_the_bare_llm(text_type, bare_cls):
    model = tiny_model(text_type=text_type)
    bare = bare_cls(model.config.text_config).eval()
    state = {f"model.{k}": v for k, v in model.model.language_model.state_dict().items()}
    state["lm_head.weight"] = model.lm_head.weight
    bare.load_state_dict(state)
    ids, mask = pad_batch([[1, 5, 6, 7, 8, 9, 10], [1, 11, 12]], side="left")
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=mask).logits
        theirs = bare(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_speech_encoder_equals_hf_whisper_encoder_at_30s(model):
    hf = WhisperEncoder(model.config.speech_encoder_config).eval()
    hf.load_state_dict(model.model.speech_encoder.state_dict())
    features, _ = speech_inputs([3000, 3000])
    with torch.no_grad():
        ours = model.model.speech_encoder(features).last_hidden_state
        theirs = hf(features).last_hidden_state
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_speech_encoder_accepts_short_audio_and_matches_a_sliced_positional_embedding(model):
    encoder = model.model.speech_encoder
    features, _ = speech_inputs([400])
    with torch.no_grad():
        out = encoder(features)
        # reference: the Whisper computation with the positional table cut to the clip's length
        x = torch.nn.functional.gelu(encoder.conv1(features))
        x = torch.nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
        x = x + encoder.embed_positions.weight[: x.shape[1]]
        for layer in encoder.layers:
            x = layer(x, None)
        x = encoder.layer_norm(x)
    assert out.last_hidden_state.shape == (1, 200, 24)
    assert out.output_lengths.tolist() == [200]
    torch.testing.assert_close(out.last_hidden_state, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_mixed_lengths_match_one_by_one(model, side):
    frames = [537, 120, 300]
    features, feature_mask = speech_inputs(frames)
    prompts = [prompt(model, n, prefix=(1,) + (5,) * i) for i, n in enumerate(frames)]
    ids, mask = pad_batch(prompts, side)
    with torch.no_grad():
        batched = model(
            input_ids=ids, attention_mask=mask, input_features=features, feature_attention_mask=feature_mask
        ).logits
        for i, n in enumerate(frames):
            alone = model(
                input_ids=torch.tensor([prompts[i]]),
                input_features=features[i : i + 1, :, :n],
            ).logits[0]
            valid = mask[i].bool()
            torch.testing.assert_close(batched[i][valid], alone, atol=1e-4, rtol=0)


def test_speech_changes_the_logits(model):
    features, _ = speech_inputs([200])
    other, _ = speech_inputs([200], seed=1)
    ids = torch.tensor([prompt(model, 200)])
    with torch.no_grad():
        a = model(input_ids=ids, input_features=features).logits
        b = model(input_ids=ids, input_features=other).logits
    assert not torch.allclose(a[0, -1], b[0, -1])


def test_out_of_vocabulary_speech_token_id():
    # The released checkpoint's tokenizer gets <speech> appended after the LLM's vocabulary.
    model = tiny_model(speech_token_id=128)
    features, _ = speech_inputs([100])
    n = int(model.model.num_speech_embeddings(torch.tensor(100)))
    ids = torch.tensor([[1, 5] + [128] * n + [7]])
    with torch.no_grad():
        logits = model(input_ids=ids, input_features=features).logits
    assert logits.shape == (1, ids.shape[1], 128)


# -- generation --------------------------------------------------------------------------------------------------------


def test_generate_equals_a_manual_greedy_loop(model):
    frames = [250, 130]
    features, feature_mask = speech_inputs(frames)
    ids, mask = pad_batch([prompt(model, n) for n in frames], side="left")
    with torch.no_grad():
        generated = model.generate(
            input_ids=ids,
            attention_mask=mask,
            input_features=features,
            feature_attention_mask=feature_mask,
            max_new_tokens=6,
            do_sample=False,
            pad_token_id=0,
            eos_token_id=None,
        )
        current, current_mask = ids, mask
        for _ in range(6):
            logits = model(
                input_ids=current,
                attention_mask=current_mask,
                input_features=features,
                feature_attention_mask=feature_mask,
            ).logits[:, -1]
            next_token = logits.argmax(-1, keepdim=True)
            current = torch.cat([current, next_token], dim=1)
            current_mask = torch.cat([current_mask, torch.ones_like(next_token)], dim=1)
    assert torch.equal(generated, current)


# -- losses ------------------------------------------------------------------------------------------------------------


def _training_batch(model):
    frames = [200, 150]
    features, feature_mask = speech_inputs(frames)
    prompts = [prompt(model, frames[0]) + [20, 21, 22, 23], prompt(model, frames[1]) + [30, 31]]
    ids, mask = pad_batch(prompts, side="right")
    labels = ids.clone()
    labels[mask == 0] = -100
    for i, p in enumerate(prompts):
        response_len = 4 if i == 0 else 2
        labels[i, : len(p) - response_len] = -100
    units = torch.tensor([[3, 4, 4, 5, 6, 7], [8, 9, -100, -100, -100, -100]])
    return dict(input_ids=ids, attention_mask=mask, input_features=features, feature_attention_mask=feature_mask), labels, units


def test_losses_are_returned_separately_and_summed(model):
    inputs, labels, units = _training_batch(model)
    with torch.no_grad():
        text_only = model(**inputs, labels=labels)
        both = model(**inputs, labels=labels, unit_labels=units)
        plain = model(**inputs)
    assert plain.loss is None and plain.text_loss is None and plain.ctc_loss is None
    assert text_only.ctc_loss is None
    torch.testing.assert_close(text_only.loss, text_only.text_loss)
    torch.testing.assert_close(both.text_loss, text_only.text_loss)
    assert torch.isfinite(both.ctc_loss) and both.ctc_loss > 0
    torch.testing.assert_close(both.loss, both.text_loss + model.config.ctc_loss_weight * both.ctc_loss)


def test_ctc_loss_reads_the_states_that_predicted_the_response(model):
    inputs, labels, units = _training_batch(model)
    with torch.no_grad():
        out = model(**inputs, labels=labels, unit_labels=units)
        hidden = out.last_hidden_state
        # sample 0: response tokens at the last 4 positions of its prompt -> predicted by the 4 states before them
        length0 = int(inputs["attention_mask"][0].sum())
        states0 = hidden[0, length0 - 5 : length0 - 1]
        length1 = int(inputs["attention_mask"][1].sum())
        states1 = hidden[1, length1 - 3 : length1 - 1]
        padded = torch.zeros(2, 4, hidden.shape[-1])
        padded[0], padded[1, :2] = states0, states1
        state_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
        logits = model.speech_decoder(padded, state_mask)
        expected = model.speech_decoder.ctc_loss(logits, state_mask.sum(-1) * 3, units)
    torch.testing.assert_close(out.ctc_loss, expected)
    torch.testing.assert_close(out.ctc_logits[1, :6], logits[1, :6])


def test_ctc_loss_matches_torch_ctc_with_the_original_normalisation():
    decoder_logits = torch.randn(2, 9, 21)
    model = tiny_model()
    frame_lengths = torch.tensor([9, 6])
    units = torch.tensor([[1, 2, 3], [4, -100, -100]])
    loss = model.speech_decoder.ctc_loss(decoder_logits, frame_lengths, units)
    log_probs = decoder_logits.log_softmax(-1).transpose(0, 1)
    expected = torch.nn.functional.ctc_loss(
        log_probs, torch.tensor([1, 2, 3, 4]), frame_lengths, torch.tensor([3, 1]), blank=20, reduction="sum"
    ) / 4
    torch.testing.assert_close(loss, expected)


def test_freezing_helpers_route_gradients(model):
    model = tiny_model()
    model.train()
    model.freeze("speech_encoder", "speech_adaptor", "language_model")
    assert model.trainable_components() == {
        "speech_encoder": False,
        "speech_adaptor": False,
        "language_model": False,
        "speech_decoder": True,
    }
    inputs, labels, units = _training_batch(model)
    model(**inputs, labels=labels, unit_labels=units).loss.backward()
    assert all(p.grad is None for p in model.model.parameters())
    assert all(p.grad is not None for p in model.speech_decoder.parameters())
    model.unfreeze("speech_adaptor")
    assert model.trainable_components()["speech_adaptor"]
    with pytest.raises(ValueError, match="Unknown component 'vocoder'"):
        model.freeze("vocoder")


# -- speech units ------------------------------------------------------------------------------------------------------


def test_ctc_greedy_collapse():
    blank = 9
    assert ctc_greedy_collapse([1, 1, 9, 1, 2, 2, 9, 9, 3], blank) == [1, 1, 2, 3]
    assert ctc_greedy_collapse([9, 9], blank) == []
    # a repeat across a chunk boundary is merged when the previous frame is given
    assert ctc_greedy_collapse([3, 3, 4], blank, previous=3) == [4]


def test_predict_units_is_greedy_ctc_over_the_upsampled_states(model):
    hidden = torch.randn(2, 5, 32)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    units = model.predict_units(hidden, mask)
    with torch.no_grad():
        for i in range(2):
            n = int(mask[i].sum())
            frame_ids = model.speech_decoder(hidden[i : i + 1, :n]).argmax(-1)[0].tolist()
            assert len(frame_ids) == n * 3
            assert units[i].tolist() == ctc_greedy_collapse(frame_ids, 20)
    assert all(u.dtype == torch.long and (u < 20).all() for u in units)
    with pytest.raises(ValueError, match="hidden_states must have shape"):
        model.predict_units(torch.randn(2, 5, 7))


# -- errors ------------------------------------------------------------------------------------------------------------


def test_placeholder_count_mismatch_is_a_clear_error(model):
    features, _ = speech_inputs([200])
    n = int(model.model.num_speech_embeddings(torch.tensor(200)))
    with pytest.raises(ValueError, match="0 speech placeholder tokens but the 1 audio clip"):
        model(input_ids=torch.tensor([[1, 5, 6]]), input_features=features)
    with pytest.raises(ValueError, match=f"{2 * n} speech placeholder tokens"):
        model(input_ids=torch.tensor([[1] + [SPEECH] * n + [5] + [SPEECH] * n]), input_features=features)
    with pytest.raises(ValueError, match="no input_features"):
        model(input_ids=torch.tensor([[1] + [SPEECH] * n]))


def test_too_long_or_malformed_features_are_clear_errors(model):
    too_long, _ = speech_inputs([3002])
    with pytest.raises(ValueError, match="at most 3000 mel frames"):
        model(input_ids=torch.tensor([[1, 2]]), input_features=too_long)
    features, _ = speech_inputs([100])
    features[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model(input_ids=torch.tensor([[1, 2]]), input_features=features)
    with pytest.raises(ValueError, match="mel bins"):
        model(input_ids=torch.tensor([[1, 2]]), input_features=torch.zeros(1, 128, 100))
    with pytest.raises(ValueError, match="unit_labels need labels"):
        model(input_ids=torch.tensor([[1, 2]]), unit_labels=torch.tensor([[1, 2]]))


def test_pad_to_30s_checkpoints_refuse_unpadded_features():
    model = tiny_model(pad_to_30s=True)
    features, _ = speech_inputs([200])
    with pytest.raises(ValueError, match="pad_to_30s=True"):
        model(input_ids=torch.tensor([[1, 2]]), input_features=features)


# -- Auto classes and save/load ----------------------------------------------------------------------------------------


def test_auto_classes_resolve_and_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    for auto_cls in (AutoModel, AutoModelForCausalLM):
        loaded = auto_cls.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, LlamaOmniForConditionalGeneration)
        for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
            assert torch.equal(a, b), name


def test_tied_embeddings():
    model = tiny_model(text_config={**tiny_config().text_config.to_dict(), "tie_word_embeddings": True})
    assert model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
