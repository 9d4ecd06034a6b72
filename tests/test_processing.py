# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Tests of processing/processing_llama_omni.py: audio loading and checks, placeholder expansion, features,
chat templates, save/load."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.tiny_components import (
    make_speech,
    make_tiny_feature_extractor,
    make_tiny_processor,
    make_tiny_tokenizer,
)

from processing import (
    CHAT_TEMPLATES,
    DEFAULT_INSTRUCTION,
    DEFAULT_SYSTEM_PROMPT,
    SAMPLING_RATE,
    SPEECH_TOKEN,
    LlamaOmniProcessor,
    load_audio,
)

SR = SAMPLING_RATE
LLAMA3_SYSTEM = f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{DEFAULT_SYSTEM_PROMPT}<|eot_id|>"


@pytest.fixture(scope="module")
def processor() -> LlamaOmniProcessor:
    return make_tiny_processor()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return make_speech(1.0, seed=1)


# ------------------------------------------------------------------------------------------------ load_audio


def test_make_speech_is_deterministic_and_voiced():
    a, b = make_speech(0.5, seed=3), make_speech(0.5, seed=3)
    assert a.dtype == np.float32 and a.shape == (8000,)
    np.testing.assert_array_equal(a, b)
    assert abs(np.abs(a).max() - 0.5) < 1e-6
    assert not np.array_equal(a, make_speech(0.5, seed=4))


def test_tiny_tokenizer_is_small_and_has_special_tokens():
    tok = make_tiny_tokenizer()
    assert len(tok) < 512
    for t in ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"]:
        assert len(tok.encode(t, add_special_tokens=False)) == 1
    assert tok.pad_token is not None and tok.pad_token_id is not None
    assert tok.encode("a <speech> b", add_special_tokens=False).count(tok.convert_tokens_to_ids("<speech>")) == 1
    assert make_tiny_tokenizer().get_vocab() == tok.get_vocab()


def test_load_audio_float_numpy_torch_list(speech):
    out = load_audio(speech, sampling_rate=SR)
    assert out.dtype == np.float32 and out.ndim == 1
    np.testing.assert_array_equal(out, speech)
    np.testing.assert_array_equal(load_audio(torch.from_numpy(speech), sampling_rate=SR), speech)
    np.testing.assert_allclose(load_audio(speech.tolist(), sampling_rate=SR), speech)
    np.testing.assert_allclose(load_audio(speech.astype(np.float64), sampling_rate=SR), speech)
    np.testing.assert_allclose(load_audio(speech.astype(np.float16), sampling_rate=SR), speech, atol=1e-3)
    # float within the 1e-3 slack is accepted
    load_audio(speech * 2.001, sampling_rate=SR)
    # datasets-style dict
    np.testing.assert_array_equal(load_audio({"array": speech, "sampling_rate": SR}), speech)


def test_load_audio_integer_pcm(speech):
    pcm = np.round(speech * 32767).astype(np.int16)
    expected = pcm.astype(np.float32) / 32768
    np.testing.assert_allclose(load_audio(pcm, sampling_rate=SR), expected)
    np.testing.assert_allclose(load_audio(pcm.astype(np.int64), sampling_rate=SR), expected)
    np.testing.assert_allclose(load_audio(pcm.tolist(), sampling_rate=SR), expected)
    np.testing.assert_allclose(load_audio(pcm.astype(np.int32) * 65536, sampling_rate=SR), expected, atol=1e-7)
    u8 = (np.round(speech * 127) + 128).astype(np.uint8)
    np.testing.assert_allclose(load_audio(u8, sampling_rate=SR), (u8.astype(np.float32) - 128) / 128)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_load_audio_stereo_downmix(speech, layout, as_tensor):
    left, right = speech, 0.5 * speech[::-1].copy()
    stereo = np.stack([left, right], axis=0 if layout == "channels_first" else 1)
    if as_tensor:
        stereo = torch.from_numpy(stereo)
    out = load_audio(stereo, sampling_rate=SR)
    assert out.shape == (len(speech),)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-7)


@pytest.mark.parametrize("orig_sr", [8000, 44100])
def test_load_audio_resamples_to_16k(orig_sr):
    seconds, freq = 1.0, 440.0
    t = np.arange(int(seconds * orig_sr)) / orig_sr
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    out = load_audio(x, sampling_rate=orig_sr)
    assert abs(len(out) - seconds * SR) <= 1
    spectrum = np.abs(np.fft.rfft(out))
    peak_hz = np.argmax(spectrum) * SR / len(out)
    assert abs(peak_hz - freq) < 2.0


def test_load_audio_wav_file(tmp_path):
    x = make_speech(1.5, sr=22050, seed=2)
    pcm = np.round(np.stack([x, 0.5 * x], axis=1) * 32767).astype(np.int16)  # stereo, int16 on disk
    path = tmp_path / "clip.wav"
    sf.write(path, pcm, 22050, subtype="PCM_16")
    for source in (str(path), path, {"path": str(path)}, {"bytes": path.read_bytes()}):
        out = load_audio(source, sampling_rate=123)  # the file's own rate wins
        assert out.dtype == np.float32 and out.ndim == 1
        assert abs(len(out) - 1.5 * SR) <= 1
    # mono file
    sf.write(tmp_path / "mono.wav", x, 22050)
    mono = load_audio(tmp_path / "mono.wav")
    assert np.abs(mono).max() > 0.3


def test_load_audio_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 20)
    with pytest.raises(ValueError, match=r"could not decode audio file .*corrupt\.wav"):
        load_audio(str(bad))
    with pytest.raises(ValueError, match=r"audio file not found: .*nope\.wav"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(ValueError, match="is a directory"):
        load_audio(str(tmp_path))
    with pytest.raises(ValueError, match="looks like a URL"):
        load_audio("https://example.com/a.wav")


@pytest.mark.parametrize(
    "audio, kwargs, match",
    [
        (make_speech(1.0), {}, r"sampling_rate is required for raw audio arrays"),
        (np.zeros(0, np.float32), {"sampling_rate": SR}, r"empty \(0 samples\)"),
        ([], {"sampling_rate": SR}, r"empty \(0 samples\)"),
        (np.array([0.1, np.nan] * 4000, np.float32), {"sampling_rate": SR}, "NaN or inf"),
        (np.array([0.1, np.inf] * 4000, np.float32), {"sampling_rate": SR}, "NaN or inf"),
        (np.zeros(SR, np.float32), {"sampling_rate": SR}, "audio is silent"),
        (np.full(SR, 5e-5, np.float32), {"sampling_rate": SR}, "audio is silent"),
        (make_speech(0.05), {"sampling_rate": SR}, r"too short: 0\.050 s, the minimum is 0\.1 s"),
        (make_speech(31.0), {"sampling_rate": SR}, r"too long: 31\.00 s, the limit is 30\.0 s"),
        (make_speech(1.0) * 3, {"sampling_rate": SR}, r"must lie in \[-1, 1\].*normalise"),
        (np.full(SR, 40000, np.int64), {"sampling_rate": SR}, r"integer PCM out of range"),
        ([40000, -3, 5] * 2000, {"sampling_rate": SR}, r"integer PCM out of range"),
        (np.ones(SR, bool), {"sampling_rate": SR}, r"unsupported audio dtype bool.*accepted dtypes"),
        (np.ones(SR, np.complex64), {"sampling_rate": SR}, r"unsupported audio dtype complex64.*accepted dtypes"),
        (np.array([0.1] * 100, dtype=object), {"sampling_rate": SR}, r"unsupported audio dtype object"),
        (["a"] * 2000, {"sampling_rate": SR}, r"unsupported audio dtype <U1"),
        (np.ones(SR, np.int8), {"sampling_rate": SR}, r"unsupported audio dtype int8"),
        (np.zeros((2, 2, 4000), np.float32), {"sampling_rate": SR}, r"accepted shapes"),
        (np.float32(0.5), {"sampling_rate": SR}, r"accepted shapes"),
        (np.full((16, 4000), 0.1, np.float32), {"sampling_rate": SR}, r"ambiguous audio shape \(16, 4000\)"),
        (np.full((6, 6), 0.1, np.float32), {"sampling_rate": SR}, r"ambiguous audio shape"),
        ({1, 2, 3}, {"sampling_rate": SR}, r"unsupported audio type set"),
        ({"foo": 1}, {}, r"audio dict must have"),
        (make_speech(1.0), {"sampling_rate": -5}, r"sampling_rate must be a positive integer"),
        ([[0.1, 0.2], [0.3]], {"sampling_rate": SR}, r"could not read the audio list"),
    ],
)
def test_load_audio_errors(audio, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_audio(audio, **kwargs)


# ------------------------------------------------------------------------------------------------ processor


def _expected_n(seconds: float, rate: int = 5) -> int:
    frames = int(round(seconds * SR)) // 160
    return ((frames - 1) // 2 + 1) // rate


def test_num_speech_embeddings(processor):
    assert processor.num_speech_embeddings(3000) == 300
    assert processor.num_speech_embeddings(200) == 20
    assert processor.num_speech_embeddings(123) == 12
    assert processor.num_speech_embeddings(9) == 1
    assert processor.num_speech_embeddings(8) == 0


def test_init_validation():
    tok = make_tiny_tokenizer()
    tok_no_speech = make_tiny_tokenizer()
    fe = make_tiny_feature_extractor()
    with pytest.raises(ValueError, match=r"no single token for the speech placeholder '<audio>'.*add_special_tokens"):
        LlamaOmniProcessor(fe, tok_no_speech, speech_token="<audio>")
    tok.add_special_tokens({"additional_special_tokens": ["<audio>"]}, replace_extra_special_tokens=False)
    p = LlamaOmniProcessor(fe, tok, speech_token="<audio>")
    assert p.default_instruction.startswith("<audio>\n")
    assert p.speech_token_id == tok.convert_tokens_to_ids("<audio>")
    with pytest.raises(ValueError, match="exactly once"):
        LlamaOmniProcessor(fe, tok, default_instruction="no placeholder")
    with pytest.raises(ValueError, match="max_audio_seconds"):
        LlamaOmniProcessor(fe, tok, max_audio_seconds=45)
    with pytest.raises(ValueError, match="speech_downsample_rate"):
        LlamaOmniProcessor(fe, tok, speech_downsample_rate=0)


@pytest.mark.parametrize("seconds", [1.0, 1.234, 2.71])
def test_call_default_prompt_expansion(processor, seconds):
    out = processor(audio=make_speech(seconds), sampling_rate=SR)
    n = _expected_n(seconds)
    frames = int(round(seconds * SR)) // 160
    assert out["input_features"].shape == (1, 80, frames)
    assert out["input_features"].dtype == torch.float32
    assert out["feature_attention_mask"].dtype == torch.long
    assert out["feature_attention_mask"].sum().item() == frames
    assert processor.num_speech_embeddings(frames) == n
    ids = out["input_ids"][0]
    assert (ids == processor.speech_token_id).sum().item() == n
    # the speech tokens are contiguous and the rest is the default prompt
    text = processor.decode(ids)
    assert SPEECH_TOKEN * n in text and SPEECH_TOKEN * (n + 1) not in text
    assert text == processor.default_prompt().replace(SPEECH_TOKEN, SPEECH_TOKEN * n)
    assert text.startswith(LLAMA3_SYSTEM)
    assert ids[0].item() == processor.tokenizer.bos_token_id and (ids == processor.tokenizer.bos_token_id).sum() == 1


def test_call_pad_to_30s():
    p = make_tiny_processor(pad_to_30s=True)
    out = p(audio=[make_speech(1.0), make_speech(2.5, seed=1)], sampling_rate=SR)
    assert out["input_features"].shape == (2, 80, 3000)
    assert out["feature_attention_mask"].sum(-1).tolist() == [3000, 3000]
    assert (out["input_ids"] == p.speech_token_id).sum(-1).tolist() == [300, 300]


def test_call_text_and_multiple_clips(processor):
    a, b, c = make_speech(1.0), make_speech(2.0, seed=1), make_speech(0.5, seed=2)
    conv0 = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": " and "}, {"type": "audio"}]}]
    conv1 = [{"role": "user", "content": [{"type": "text", "text": "Transcribe: "}, {"type": "audio"}]}]
    texts = processor.apply_chat_template([conv0, conv1], add_generation_prompt=True)
    assert [t.count(SPEECH_TOKEN) for t in texts] == [2, 1]
    out = processor(text=texts, audio=[a, b, c], sampling_rate=SR)
    assert out["input_features"].shape == (3, 80, 200)
    assert out["feature_attention_mask"].sum(-1).tolist() == [100, 200, 50]
    counts = (out["input_ids"] == processor.speech_token_id).sum(-1).tolist()
    assert counts == [_expected_n(1.0) + _expected_n(2.0), _expected_n(0.5)]
    # right padding by default, left on request
    assert out["attention_mask"][1, -1].item() == 0
    left = processor(text=texts, audio=[a, b, c], sampling_rate=SR, padding_side="left")
    assert left["attention_mask"][1, 0].item() == 0
    assert processor.tokenizer.padding_side == "right"
    assert processor.batch_decode(out["input_ids"], skip_special_tokens=True)[1].endswith("Transcribe: assistant\n\n")


def test_text_only_call(processor):
    out = processor(text=["hello there", "a longer prompt than that"])
    assert set(out.keys()) == {"input_ids", "attention_mask"}
    assert out["input_ids"].shape[0] == 2
    assert processor.decode(out["input_ids"][0], skip_special_tokens=True) == "hello there"


def test_return_tensors_np(processor, speech):
    out = processor(audio=speech, sampling_rate=SR, return_tensors="np")
    assert isinstance(out["input_features"], np.ndarray) and isinstance(out["input_ids"], np.ndarray)


def test_batch_invariance(processor):
    a, b = make_speech(1.37, seed=5), make_speech(3.1, seed=6)
    alone = processor(audio=a, sampling_rate=SR)
    batch = processor(audio=[a, b], sampling_rate=SR)
    la = alone["input_features"].shape[-1]
    assert batch["input_features"].shape[-1] > la
    torch.testing.assert_close(batch["input_features"][0, :, :la], alone["input_features"][0], rtol=0, atol=0)
    assert batch["input_features"][0, :, la:].abs().sum().item() == 0
    assert batch["feature_attention_mask"][0].tolist() == [1] * la + [0] * (batch["input_features"].shape[-1] - la)
    n_a = alone["input_ids"].shape[-1]
    assert torch.equal(batch["input_ids"][0, :n_a], alone["input_ids"][0])
    assert batch["attention_mask"][0].sum().item() == n_a


@pytest.mark.parametrize(
    "text, n_clips, match",
    [
        (f"{SPEECH_TOKEN} {SPEECH_TOKEN}", 1, r"prompt 0 has 2 speech placeholders \('<speech>'\) but 1 audio clip was"),
        ("no placeholder here", 1, r"prompt 0 has no speech placeholder \('<speech>'\) but 1 audio clip was given"),
        (f"{SPEECH_TOKEN} hi", 0, r"prompt 0 has 1 speech placeholder \('<speech>'\) but no audio was given"),
        (f"{SPEECH_TOKEN} hi", 2, r"prompt 0 has 1 speech placeholder .* but 2 audio clips were given"),
        (["a", "b"], 1, r"none of the 2 prompts has a speech placeholder"),
        ([SPEECH_TOKEN, SPEECH_TOKEN * 2], 2, r"the 2 prompts have \[1, 2\] speech placeholders .*3 in all"),
    ],
)
def test_placeholder_count_errors(processor, text, n_clips, match):
    audio = [make_speech(0.5, seed=i) for i in range(n_clips)] if n_clips else None
    with pytest.raises(ValueError, match=match):
        processor(text=text, audio=audio, sampling_rate=SR)


def test_call_errors_name_the_clip(processor, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ValueError, match=r"audio clip 1: could not decode audio file .*bad\.wav"):
        processor(audio=[make_speech(0.5), str(bad)], sampling_rate=SR)
    with pytest.raises(ValueError, match=r"audio clip 0: sampling_rate is required"):
        processor(audio=make_speech(0.5))
    with pytest.raises(ValueError, match=r"audio clip 0: .*too long: 31\.00 s, the limit is 30\.0 s"):
        processor(audio=make_speech(31.0), sampling_rate=SR)
    with pytest.raises(ValueError, match=r"too long: 12\.00 s, the limit is 10\.0 s"):
        make_tiny_processor(max_audio_seconds=10)(audio=make_speech(12.0), sampling_rate=SR)
    with pytest.raises(ValueError, match="pass `text`, `audio` or both"):
        processor()
    with pytest.raises(ValueError, match="text and audio only"):
        processor(text="x", images=[1])


def test_truncation_that_cuts_speech_tokens_errors(processor, speech):
    with pytest.raises(ValueError, match="truncation"):
        processor(audio=speech, sampling_rate=SR, truncation=True, max_length=20)


def test_apply_chat_template_tokenize_with_audio_items(processor, tmp_path):
    path = tmp_path / "q.wav"
    sf.write(path, make_speech(1.5, sr=22050), 22050)
    conv = [{"role": "user", "content": [{"type": "audio", "path": str(path)}, {"type": "text", "text": "What?"}]}]
    out = processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=True, return_dict=True)
    direct = processor(text=processor.apply_chat_template(conv, add_generation_prompt=True), audio=path)
    assert torch.equal(out["input_ids"], direct["input_ids"])
    assert torch.equal(out["input_features"], direct["input_features"])
    assert (out["input_ids"] == processor.speech_token_id).sum().item() == _expected_n(1.5)


# ------------------------------------------------------------------------------------------------ chat templates


def test_llama3_template_default_system_and_generation_prompt(processor):
    conv = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": "\nWhat did I say?"}]}]
    text = processor.apply_chat_template(conv, add_generation_prompt=True)
    assert text == (
        LLAMA3_SYSTEM + "<|start_header_id|>user<|end_header_id|>\n\n<speech>\nWhat did I say?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    no_gen = processor.apply_chat_template(conv, add_generation_prompt=False)
    assert no_gen.endswith("What did I say?<|eot_id|>")
    default = processor.default_prompt()
    assert default == (
        LLAMA3_SYSTEM + "<|start_header_id|>user<|end_header_id|>\n\n" + DEFAULT_INSTRUCTION + "<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_llama3_template_multi_turn_with_system(processor):
    conv = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "audio"}]},
        {"role": "assistant", "content": "Hi there."},
        {"role": "user", "content": [{"type": "text", "text": "And now? "}, {"type": "audio"}]},
    ]
    text = processor.apply_chat_template(conv, add_generation_prompt=True)
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n<speech><|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHi there.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAnd now? <speech><|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert DEFAULT_SYSTEM_PROMPT not in text
    out = processor(text=text, audio=[make_speech(0.5), make_speech(0.7, seed=1)], sampling_rate=SR)
    assert (out["input_ids"] == processor.speech_token_id).sum().item() == _expected_n(0.5) + _expected_n(0.7)


def test_custom_and_empty_system_prompt():
    conv = [{"role": "user", "content": "hi"}]
    p = make_tiny_processor(default_system_prompt="Be nice.")
    assert p.apply_chat_template(conv).startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe nice.<|eot_id|>"
    )
    assert p.apply_chat_template(conv, default_system_prompt="Other.").count("Other.") == 1
    p = make_tiny_processor(default_system_prompt="")
    assert p.apply_chat_template(conv) == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"


def test_chatml_template():
    p = make_tiny_processor(chat_template="chatml")
    assert p.chat_template == CHAT_TEMPLATES["chatml"]
    conv = [
        {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": " Who is speaking?"}]},
        {"role": "assistant", "content": "A man."},
        {"role": "user", "content": "Thanks."},
    ]
    text = p.apply_chat_template(conv, add_generation_prompt=True)
    assert text == (
        f"<|im_start|>system\n{DEFAULT_SYSTEM_PROMPT}<|im_end|>\n"
        "<|im_start|>user\n<speech> Who is speaking?<|im_end|>\n"
        "<|im_start|>assistant\nA man.<|im_end|>\n"
        "<|im_start|>user\nThanks.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    # a template can be picked by name per call too
    processor = make_tiny_processor()
    assert processor.apply_chat_template(conv, chat_template="chatml", add_generation_prompt=True) == text
    out = p(audio=make_speech(1.0), sampling_rate=SR)
    assert p.decode(out["input_ids"][0]).startswith("<|im_start|>system\n")


# ------------------------------------------------------------------------------------------------ save / load


def test_save_load_round_trip(tmp_path):
    kwargs = dict(
        chat_template="chatml",
        speech_downsample_rate=3,
        pad_to_30s=True,
        max_audio_seconds=20.0,
        default_system_prompt="Answer briefly.",
        default_instruction="Listen: <speech>",
    )
    p = make_tiny_processor(num_mel_bins=128, **kwargs)
    p.save_pretrained(tmp_path)
    assert (tmp_path / "chat_template.jinja").exists() and (tmp_path / "processor_config.json").exists()
    q = LlamaOmniProcessor.from_pretrained(tmp_path)
    for name in ["speech_downsample_rate", "pad_to_30s", "max_audio_seconds", "default_system_prompt",
                 "default_instruction", "speech_token", "chat_template", "speech_token_id"]:
        assert getattr(q, name) == getattr(p, name), name
    assert q.chat_template == CHAT_TEMPLATES["chatml"]
    assert q.feature_extractor.feature_size == 128
    audio = [make_speech(1.0), make_speech(2.0, seed=1)]
    a, b = p(audio=audio, sampling_rate=SR), q(audio=audio, sampling_rate=SR)
    assert set(a.keys()) == set(b.keys())
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (b["input_ids"] == q.speech_token_id).sum(-1).tolist() == [500, 500]  # (1500 // 3) per padded clip


def test_auto_processor(tmp_path):
    import modeling_llama_omni  # noqa: F401  (registers AutoProcessor for LlamaOmniConfig)
    from transformers import AutoProcessor

    p = make_tiny_processor(speech_downsample_rate=4)
    p.save_pretrained(tmp_path)
    q = AutoProcessor.from_pretrained(tmp_path)
    assert isinstance(q, LlamaOmniProcessor) and q.speech_downsample_rate == 4


def test_module_imports_only_allowed_packages():
    import ast

    import processing.processing_llama_omni as mod

    tree = ast.parse(pathlib.Path(mod.__file__).read_text())
    top = set()
    for node in tree.body:  # module-level imports only
        if isinstance(node, ast.Import):
            top.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            top.add(node.module.split(".")[0])
    allowed = {"numpy", "torch", "transformers", "__future__", "math", "os", "re", "collections", "typing", "json", "shutil"}
    assert top <= allowed, top - allowed
    assert os.path.basename(mod.__file__) == "processing_llama_omni.py"
