"""The speech adaptor option with Transformer layers between its two linear layers
(`LlamaOmniConfig.speech_adaptor_num_layers`), on tiny random models."""

from __future__ import annotations

import pytest
import torch

from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_config, tiny_model, tiny_model_and_processor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_config_validates_the_option():
    assert tiny_config().speech_adaptor_num_layers == 0  # the released adaptor by default
    with pytest.raises(ValueError, match="speech_adaptor_num_layers"):
        tiny_config(speech_adaptor_num_layers=-1)
    with pytest.raises(ValueError, match="speech_adaptor_num_heads"):
        tiny_config(speech_adaptor_num_layers=1, speech_adaptor_num_heads=3)  # 40 is not divisible by 3
    config = tiny_config(speech_adaptor_num_layers=2, speech_adaptor_num_heads=4)
    assert LlamaOmniConfig.from_dict(config.to_dict()).speech_adaptor_num_layers == 2


def test_default_adaptor_has_no_layers_and_the_released_weight_names():
    names = {n for n, _ in tiny_model().named_parameters() if n.startswith("model.speech_adaptor.")}
    assert names == {f"model.speech_adaptor.linear{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}


def test_embeddings_see_their_neighbours_and_ignore_padding():
    model = tiny_model(speech_adaptor_num_layers=1, speech_adaptor_num_heads=4)
    d_model = model.config.speech_encoder_config.d_model
    k = model.config.speech_downsample_rate
    torch.manual_seed(0)
    states = torch.randn(2, 8 * k, d_model)
    with torch.no_grad():
        both, lengths = model.model.get_speech_features(speech_encoder_hidden_states=states,
                                                        speech_encoder_lengths=torch.tensor([8 * k, 5 * k]))
        assert lengths.tolist() == [8, 5]
        alone, _ = model.model.get_speech_features(speech_encoder_hidden_states=states[1:, : 5 * k])
        # a padded clip in a batch gives what the clip alone gives
        torch.testing.assert_close(both[1, :5], alone[0], atol=1e-5, rtol=1e-5)
        # changing the last embedding's frames changes the first embedding (context), unlike the MLP adaptor
        changed = states[:1].clone()
        changed[:, -k:] += 1.0
        a, _ = model.model.get_speech_features(speech_encoder_hidden_states=states[:1])
        b, _ = model.model.get_speech_features(speech_encoder_hidden_states=changed)
        assert not torch.allclose(a[0, 0], b[0, 0])
        mlp = tiny_model()
        a, _ = mlp.model.get_speech_features(speech_encoder_hidden_states=states[:1])
        b, _ = mlp.model.get_speech_features(speech_encoder_hidden_states=changed)
        torch.testing.assert_close(a[0, :-1], b[0, :-1])


def test_generate_from_audio_and_save_load_round_trip(tmp_path):
    model, processor = tiny_model_and_processor(speech_adaptor_num_layers=1, speech_adaptor_num_heads=4)
    inputs = processor(audios=[make_speech(seconds=1.0)], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    model.save_pretrained(tmp_path)
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert loaded.config.speech_adaptor_num_layers == 1
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    with torch.no_grad():
        again = loaded.generate(**inputs, max_new_tokens=5, do_sample=False)
    torch.testing.assert_close(getattr(out, "sequences", out), getattr(again, "sequences", again))


def test_fresh_attention_projection_is_initialised():
    model = tiny_model(speech_adaptor_num_layers=1, speech_adaptor_num_heads=4)
    attention = model.model.speech_adaptor.layers[0].attention
    assert torch.isfinite(attention.in_proj_weight).all() and attention.in_proj_weight.abs().sum() > 0
    assert torch.count_nonzero(attention.in_proj_bias) == 0
