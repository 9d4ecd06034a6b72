"""Tests of the converter from the released LLaMA-Omni checkpoint layout (modeling_llama_omni.convert_original).

A tiny checkpoint in the ORIGINAL layout (`tests.released_layouts.Source`) is written in each test's tmp folder from
reference modules; the converted model must reproduce them.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import load_file

import modeling_llama_omni  # noqa: F401 - registers the Auto classes
from modeling_llama_omni.convert_original import (
    convert_original_checkpoint,
    main,
    map_key,
    parse_ctc_decoder_config,
)
from modeling_llama_omni.convert_utils import parse_size
from tests.released_layouts import (  # noqa: F401 - CTC, UNIT_VOCAB, UPSAMPLE, Source: also used by other tests
    ADAPTOR_HIDDEN,
    CTC,
    DS_RATE,
    ROPE_THETA,
    UNIT_VOCAB,
    UPSAMPLE,
    Source,
)
from tests.tiny_models import TINY_VOCAB
from transformers import AutoModel

@pytest.fixture
def source(tmp_path):
    return Source(tmp_path)


def _load(path):
    model, info = AutoModel.from_pretrained(path, output_loading_info=True)
    return model.eval(), info


def _assert_clean(info):
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        assert not info.get(kind), (kind, info.get(kind))


# ----------------------------------------------------------------------------------------------------------------------
# Conversion matches the reference modules
# ----------------------------------------------------------------------------------------------------------------------


def test_conversion_reproduces_the_original(source, tmp_path):
    out = tmp_path / "converted"
    config = convert_original_checkpoint(source.dir, out)
    assert config.pad_to_30s and config.speech_token_id == TINY_VOCAB
    assert config.speech_downsample_rate == DS_RATE and config.ctc_upsample_factor == UPSAMPLE
    assert config.unit_vocab_size == UNIT_VOCAB and config.speech_adaptor_hidden_size == ADAPTOR_HIDDEN
    assert config.text_config.rope_parameters["rope_type"] == "llama3"
    assert config.text_config.rope_parameters["rope_theta"] == ROPE_THETA
    dec = config.speech_decoder_config
    assert (dec.num_hidden_layers, dec.hidden_size, dec.num_attention_heads, dec.intermediate_size) == CTC
    assert dec.num_key_value_heads == CTC[2] and dec.rope_parameters == config.text_config.rope_parameters
    assert dec.rms_norm_eps == 1e-6
    enc = config.speech_encoder_config
    assert (enc.d_model, enc.encoder_attention_heads, enc.encoder_layers, enc.num_mel_bins) == (128, 2, 2, 80)
    assert (enc.encoder_ffn_dim, enc.max_source_positions) == (48, 1500)

    model, info = _load(out)
    _assert_clean(info)
    assert not model.config.text_config.tie_word_embeddings

    # Text only: the LLM's logits.
    input_ids = torch.tensor([[1, 5, 9, 33, 70, 2, 4]])
    with torch.no_grad():
        ours = model(input_ids=input_ids).logits
        theirs = source.llm(input_ids=input_ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)

    # Speech encoder on a 30 s input.
    torch.manual_seed(1)
    features = torch.randn(1, 80, 3000)
    with torch.no_grad():
        ours_enc = model.model.speech_encoder(features).last_hidden_state
        theirs_enc = source.encoder(features).last_hidden_state
    torch.testing.assert_close(ours_enc, theirs_enc, atol=1e-5, rtol=0)

    # The whole speech path: encoder -> stack 5 frames -> Linear-ReLU-Linear -> spliced in -> LLM.
    num_speech = 1500 // DS_RATE
    prompt = torch.tensor([[1, 5] + [config.speech_token_id] * num_speech + [9, 33]])
    with torch.no_grad():
        ours_logits = model(input_ids=prompt, input_features=features).logits
        stacked = theirs_enc.reshape(1, num_speech, -1)
        speech = source.adaptor["linear2"](torch.relu(source.adaptor["linear1"](stacked)))
        embeds = source.llm.get_input_embeddings()(torch.tensor([[1, 5, 9, 33]]))
        embeds = torch.cat([embeds[:, :2], speech, embeds[:, 2:]], dim=1)
        theirs_logits = source.llm(inputs_embeds=embeds).logits
    torch.testing.assert_close(ours_logits, theirs_logits, atol=1e-5, rtol=0)

    # Speech decoder tensors.
    decoder_state = model.speech_decoder.state_dict()
    for name, tensor in source.generator.state_dict().items():
        torch.testing.assert_close(decoder_state[name], tensor, atol=0, rtol=0)

    # Output files: remote code, generation config, no tokenizer (none in the source).
    with open(out / "config.json") as f:
        saved = json.load(f)
    assert saved["model_type"] == "llama_omni"
    assert saved["auto_map"]["AutoModel"].endswith("LlamaOmniForConditionalGeneration")
    assert (out / "modeling_llama_omni.py").is_file() and (out / "configuration_llama_omni.py").is_file()
    with open(out / "generation_config.json") as f:
        assert json.load(f)["eos_token_id"] == 2
    assert not (out / "tokenizer.json").exists()
    assert (out / "model.safetensors").is_file()  # fits one 5 GB shard
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".converted")]  # no temporary folder left


def test_sharded_output_dtype_and_no_remote_code(source, tmp_path):
    out = tmp_path / "converted"
    convert_original_checkpoint(source.dir, out, dtype="bfloat16", remote_code=False, shard_size="300KB")
    names = sorted(os.listdir(out))
    shards = [n for n in names if n.endswith(".safetensors")]
    assert len(shards) > 1 and all(n.startswith("model-") for n in shards)
    with open(out / "model.safetensors.index.json") as f:
        index = json.load(f)
    assert sorted(set(index["weight_map"].values())) == shards
    tensors = {}
    for name in shards:
        tensors.update(load_file(str(out / name)))
    assert set(tensors) == set(index["weight_map"])
    assert all(t.dtype == torch.bfloat16 for t in tensors.values())
    torch.testing.assert_close(
        tensors["model.speech_encoder.layers.1.self_attn.q_proj.weight"],
        source.state["model.speech_encoder.blocks.1.attn.query.weight"].to(torch.bfloat16),
    )
    with open(out / "config.json") as f:
        saved = json.load(f)
    assert "auto_map" not in saved and saved["dtype"] == "bfloat16"
    assert "modeling_llama_omni.py" not in names
    model, info = _load(out)
    _assert_clean(info)


def test_tied_embeddings_without_lm_head(tmp_path):
    src = Source(tmp_path, tie=True)
    assert "lm_head.weight" not in src.state
    out = tmp_path / "converted"
    convert_original_checkpoint(src.dir, out)
    model, info = _load(out)
    _assert_clean(info)
    input_ids = torch.tensor([[1, 5, 9, 33]])
    with torch.no_grad():
        ours, theirs = model(input_ids=input_ids).logits, src.llm(input_ids=input_ids).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_tokenizer_gets_speech_token_and_processor(tmp_path):
    src = Source(tmp_path, tokenizer=True)
    out = tmp_path / "converted"
    config = convert_original_checkpoint(src.dir, out)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    speech_ids = tokenizer.encode("w3 <speech> w4", add_special_tokens=False)
    assert speech_ids == [3, TINY_VOCAB, 4]
    assert config.speech_token_id == TINY_VOCAB  # = vocab size: outside the embedding table
    with open(out / "config.json") as f:
        assert json.load(f)["speech_token_id"] == TINY_VOCAB
    try:
        from processing.processing_llama_omni import LlamaOmniProcessor
    except Exception:  # noqa: BLE001 - the processor is optional for the converter
        pytest.skip("processing.LlamaOmniProcessor is not importable: no processor to check")
    processor = LlamaOmniProcessor.from_pretrained(out)
    assert processor.pad_to_30s and processor.speech_downsample_rate == DS_RATE
    assert processor.speech_token_id == TINY_VOCAB
    assert processor.feature_extractor.feature_size == 80


# ----------------------------------------------------------------------------------------------------------------------
# Errors: nothing is written
# ----------------------------------------------------------------------------------------------------------------------


def test_unknown_key_is_refused_and_nothing_written(source, tmp_path):
    state = dict(source.state)
    state["model.speech_projector.extra.weight"] = torch.zeros(2)
    state["model.mm_projector.weight"] = torch.zeros(2)
    source.write(state)
    out = tmp_path / "converted"
    with pytest.raises(ValueError) as error:
        convert_original_checkpoint(source.dir, out)
    assert "model.speech_projector.extra.weight" in str(error.value)
    assert "model.mm_projector.weight" in str(error.value)
    assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["original"]


def test_missing_key_is_refused(source, tmp_path):
    state = dict(source.state)
    del state["speech_generator.layers.1.mlp.down_proj.weight"]
    del state["model.speech_encoder.blocks.0.attn.key.weight"]
    source.write(state)
    out = tmp_path / "converted"
    with pytest.raises(ValueError) as error:
        convert_original_checkpoint(source.dir, out)
    assert "speech_decoder.layers.1.mlp.down_proj.weight" in str(error.value)
    assert "model.speech_encoder.layers.0.self_attn.k_proj.weight" in str(error.value)
    assert not out.exists()


def test_shape_mismatch_is_refused(source, tmp_path):
    config = dict(source.config, ctc_decoder_config="(2,16,2,64)")  # FFN 64 in config, 32 in the weights
    source.write(config=config)
    out = tmp_path / "converted"
    with pytest.raises(ValueError, match="Shape mismatches") as error:
        convert_original_checkpoint(source.dir, out)
    assert "speech_decoder.layers.0.mlp.gate_proj.weight" in str(error.value)
    assert not out.exists()


@pytest.mark.parametrize("bad", ["(2,16,2)", "2,16,2,32", "(2,16,2,x)", "__import__('os')", "(2,16,0,32)"])
def test_bad_ctc_decoder_config_is_refused(source, tmp_path, bad):
    source.write(config=dict(source.config, ctc_decoder_config=bad))
    out = tmp_path / "converted"
    with pytest.raises(ValueError, match="ctc_decoder_config"):
        convert_original_checkpoint(source.dir, out)
    assert not out.exists()


def test_user_errors(source, tmp_path):
    out = tmp_path / "converted"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_original_checkpoint(tmp_path / "nowhere", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        convert_original_checkpoint(empty, out)
    source.write(config=dict(source.config, model_type="llama"))
    with pytest.raises(ValueError, match="omni_speech2s_llama"):
        convert_original_checkpoint(source.dir, out)
    source.write()
    for name in os.listdir(source.dir):
        if name.endswith(".safetensors") or name.endswith(".index.json"):
            os.remove(os.path.join(source.dir, name))
    open(os.path.join(source.dir, "pytorch_model.bin"), "wb").close()
    with pytest.raises(ValueError, match="pickle"):
        convert_original_checkpoint(source.dir, out)
    assert not out.exists()


def test_non_empty_output_needs_overwrite(source, tmp_path):
    out = tmp_path / "converted"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_original_checkpoint(source.dir, out)
    assert sorted(os.listdir(out)) == ["keep.txt"]
    (out / "model-00001-of-00009.safetensors").write_text("stale")
    convert_original_checkpoint(source.dir, out, overwrite=True)
    names = os.listdir(out)
    assert "keep.txt" in names and "model.safetensors" in names
    assert "model-00001-of-00009.safetensors" not in names
    _assert_clean(_load(out)[1])


# ----------------------------------------------------------------------------------------------------------------------
# CLI and helpers
# ----------------------------------------------------------------------------------------------------------------------


def test_cli(source, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--checkpoint", source.dir, "--output", str(out), "--dtype", "float16", "--no-remote-code"]) == 0
    with open(out / "config.json") as f:
        saved = json.load(f)
    assert "auto_map" not in saved and saved["dtype"] == "float16"
    assert main(["--checkpoint", source.dir, "--output", str(out)]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["--checkpoint", source.dir, "--output", str(out), "--overwrite"]) == 0
    with open(out / "config.json") as f:
        assert "auto_map" in json.load(f)


def test_helpers():
    assert parse_ctc_decoder_config("(2,4096,32,11008)") == (2, 4096, 32, 11008)
    assert parse_ctc_decoder_config(" ( 2, 4096, 32, 11008 ) ") == (2, 4096, 32, 11008)
    assert parse_ctc_decoder_config([2, 16, 2, 32]) == (2, 16, 2, 32)
    assert parse_size("5GB") == 5 * 10**9 and parse_size("2GiB") == 2 * 2**30 and parse_size(123) == 123
    with pytest.raises(ValueError):
        parse_size("five gigs")
    assert map_key("model.layers.3.self_attn.q_proj.weight") == "model.language_model.layers.3.self_attn.q_proj.weight"
    assert map_key("model.speech_encoder.blocks.7.mlp.2.bias") == "model.speech_encoder.layers.7.fc2.bias"
    assert map_key("model.speech_encoder.ln_post.weight") == "model.speech_encoder.layer_norm.weight"
    assert map_key("speech_generator.output_proj.weight") == "speech_decoder.output_proj.weight"
    assert map_key("model.speech_projector.linear2.bias") == "model.speech_adaptor.linear2.bias"
    assert map_key("model.vision_tower.weight") is None
    assert map_key("speech_generator.norm.weight") is None
