"""LLaMA-Omni2's token-to-waveform model (CosyVoice2 flow + HiFT): conversion of a tiny checkpoint written in the
released layout, equivalence with an independent step-by-step reproduction of the released computation
(`tests/token2wav_reference.py`), the released streaming schedule chunk by chunk, speaker embeddings through a real
ONNX model, save/load and remote code, and a converted tiny LLaMA-Omni2 folder that speaks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from transformers import AutoModel

from modeling_llama_omni import LlamaOmni2Token2Wav, LlamaOmni2Token2WavConfig
from modeling_llama_omni.convert_cosyvoice2 import (
    configs_from_yaml,
    convert_cosyvoice2,
    load_cosyvoice_yaml,
    speaker_embedding_from_wav,
)
from tests.clean_interpreter import run_clean
from tests.token2wav_reference import (
    TINY_FLOW,
    TINY_HIFT,
    reference_flow_mel,
    reference_hift,
    reference_token2wav_stream,
    write_released_checkpoint,
)

SPK_DIM = TINY_FLOW["spk_embed_dim"]
# Tolerances (documented in the README). On this CPU our mel and waveforms are bit-identical to the reproduction's
# (and the reproduction's to the released code's); the tolerances leave room for other kernels: the mel to float
# rounding, the waveform more, because HiFT's harmonic source integrates the F0 over the whole utterance in float32,
# so a 1e-6 change of the mel can move samples by ~1e-3.
MEL_ATOL = 1e-5
WAVE_ATOL = 1e-4
INCREMENTAL_WAVE_ATOL = 1e-2  # the incremental flow's mel differs by ~1e-6 (other matrix shapes), HiFT amplifies it


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_campplus_onnx(path: str, out_dim: int = SPK_DIM, seed: int = 0) -> np.ndarray:
    """A small real ONNX speaker model with CAM++'s interface ((1, T, 80) fbank -> (1, out_dim)): the mean over time
    times a random matrix. Returns the matrix."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(seed).standard_normal((80, out_dim)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["feats", "axes"], ["pooled"], keepdims=0),
            helper.make_node("MatMul", ["pooled", "weight"], ["embedding"]),
        ],
        "campplus_tiny",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, None, 80])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, out_dim])],
        initializer=[numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(np.array([1]), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return weight


def write_prompt_wav(path: str, seconds: float = 1.5, rate: int = 22050, seed: int = 0) -> None:
    """A voiced-like prompt (harmonics + noise) at a rate the converter must resample to 16 kHz, in stereo."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 140 * t) + 0.1 * np.sin(2 * np.pi * 280 * t) + 0.02 * rng.standard_normal(t.size)
    sf.write(path, np.stack([mono, 0.5 * mono], axis=1).astype(np.float32), rate)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A tiny CosyVoice2 folder in the released layout, its converted folder and model."""
    root = tmp_path_factory.mktemp("cosyvoice2")
    source = root / "CosyVoice2-0.5B"
    source.mkdir()
    state = write_released_checkpoint(str(source), seed=0)
    write_campplus_onnx(str(source / "campplus.onnx"))
    write_prompt_wav(str(root / "prompt_en.wav"), seed=1)
    write_prompt_wav(str(root / "prompt_zh.wav"), seconds=1.0, rate=16000, seed=2)
    out = root / "converted"
    # The converter's model: its weights are the checkpoint's tensors in fresh memory. (A model loaded from the
    # safetensors file holds the same values in memory-mapped, differently aligned buffers; the CPU kernels then
    # round differently in the last bit, ~1e-6 on the mel: see test_the_saved_folder_loads_the_same_weights.)
    model = convert_cosyvoice2(source, out, [root / "prompt_en.wav", root / "prompt_zh.wav"])
    return {"root": root, "source": source, "out": out, "flow": state["flow"], "hift": state["hift"], "model": model}


def _tokens(n: int, seed: int = 0) -> torch.LongTensor:
    return torch.randint(0, TINY_FLOW["vocab_size"], (1, n), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------------------------------------


def test_the_yaml_is_read_as_data_with_its_references_resolved(release):
    data = load_cosyvoice_yaml(release["source"] / "cosyvoice.yaml")
    flow_config, hift_config = configs_from_yaml(data)
    # LLaMA-Omni2's run-time chunk sizes replace the yaml's (the estimator has none there)
    assert flow_config["encoder"]["static_chunk_size"] == 50
    assert flow_config["decoder"]["estimator"]["static_chunk_size"] == 100
    assert flow_config["decoder"]["cfm_params"]["inference_cfg_rate"] == 0.7
    assert flow_config["spk_embed_dim"] == SPK_DIM and flow_config["input_frame_rate"] == 25
    assert hift_config["f0_predictor"] == {k: v for k, v in TINY_HIFT["f0_predictor"].items()}
    config = release["model"].config
    assert config.speakers == ["prompt_en", "prompt_zh"] and config.sampling_rate == 24000
    assert config.token_hop_len == 50 and config.samples_per_token == 960


def test_the_converted_weights_are_the_released_ones(release):
    model = release["model"]
    for key, value in release["flow"].items():
        assert torch.equal(model.flow.state_dict()[key], value), key
    # HiFT's weight norm is folded exactly as torch's weight-norm hook computes the weight
    g, v = release["hift"]["generator.conv_pre.weight_g"], release["hift"]["generator.conv_pre.weight_v"]
    assert torch.equal(model.hift.conv_pre.weight, torch._weight_norm(v, g, 0))


def test_speaker_embeddings_are_campplus_of_the_prompt_wavs(release):
    """The release's `_extract_spk_embedding`: 16 kHz mono, 80-bin Kaldi fbank without dither, mean-normalised, CAM++."""
    import torchaudio
    import torchaudio.compliance.kaldi as kaldi

    weight = write_campplus_onnx(str(release["root"] / "check.onnx"))
    audio, rate = sf.read(release["root"] / "prompt_en.wav", dtype="float32", always_2d=True)
    speech = torchaudio.functional.resample(torch.from_numpy(audio.T.copy()).mean(0, keepdim=True), rate, 16000)
    feats = kaldi.fbank(speech, num_mel_bins=80, dither=0, sample_frequency=16000)
    expected = (feats - feats.mean(0, keepdim=True)).mean(0, keepdim=True).numpy() @ weight
    stored = release["model"].speaker_embeddings
    np.testing.assert_allclose(stored[0:1].numpy(), expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(stored[0], stored[1])
    own = speaker_embedding_from_wav(release["root"] / "prompt_zh.wav", release["source"] / "campplus.onnx")
    torch.testing.assert_close(own, stored[1:2])


def test_conversion_errors_are_clear(release, tmp_path):
    with pytest.raises(FileExistsError, match="not empty"):
        convert_cosyvoice2(release["source"], release["out"])
    with pytest.raises(FileNotFoundError, match="cosyvoice"):
        convert_cosyvoice2(tmp_path, tmp_path / "out")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("cosyvoice.yaml", "hift.pt"):
        (broken / name).write_bytes((release["source"] / name).read_bytes())
    flow = torch.load(release["source"] / "flow.pt", weights_only=True)
    flow.pop("input_embedding.weight")
    flow["unexpected.weight"] = torch.zeros(1)
    torch.save(flow, broken / "flow.pt")
    with pytest.raises(ValueError, match="missing \\['input_embedding.weight'\\], unexpected \\['unexpected.weight'\\]"):
        convert_cosyvoice2(broken, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
    with pytest.raises(FileNotFoundError, match="campplus"):
        convert_cosyvoice2(broken, tmp_path / "out3", [release["root"] / "prompt_en.wav"])


def test_the_source_folder_is_never_the_output(release):
    """Even with overwrite, converting into the CosyVoice2 folder itself is refused and nothing there is touched."""
    before = sorted(os.listdir(release["source"]))
    with pytest.raises(ValueError, match="must not be"):
        convert_cosyvoice2(release["source"], release["source"], overwrite=True)
    assert sorted(os.listdir(release["source"])) == before


def test_the_command_line_converts(release, tmp_path):
    from llama_omni_cli import main

    out = tmp_path / "cli"
    status = main(["convert-cosyvoice2", "--model-dir", str(release["source"]), "--output", str(out),
                   "--prompt-wav", str(release["root"] / "prompt_en.wav"), "--speaker-name", "en"])
    assert status == 0 and json.loads((out / "config.json").read_text())["speakers"] == ["en"]
    assert main(["convert-cosyvoice2", "--model-dir", str(tmp_path / "nothing"), "--output", str(tmp_path / "x")]) == 1


# ----------------------------------------------------------------------------------------------------------------------
# Equivalence with the released computation
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_tokens, finalize", [(37, True), (103, False), (131, True)])
def test_mel_equals_the_released_flow(release, num_tokens, finalize):
    model = release["model"]
    tokens = _tokens(num_tokens, seed=num_tokens)
    ours = model.tokens_to_mel(tokens, speaker="prompt_en", finalize=finalize)
    reference = reference_flow_mel(
        release["flow"], TINY_FLOW, tokens, model.speaker_embeddings[:1], model.flow_noise, finalize
    )
    assert ours.shape == reference.shape == (1, 80, 2 * num_tokens - (0 if finalize else 6))
    torch.testing.assert_close(ours, reference, atol=MEL_ATOL, rtol=0)


def test_one_shot_waveform_equals_the_released_token2wav(release):
    model = release["model"]
    tokens = _tokens(64, seed=3)
    output = model(tokens, generator=torch.Generator().manual_seed(7))  # the same draws as the global one seeded 7
    reference_mel = reference_flow_mel(release["flow"], TINY_FLOW, tokens, model.speaker_embeddings[:1],
                                       model.flow_noise, True)
    torch.manual_seed(7)
    reference_speech, _ = reference_hift(release["hift"], TINY_HIFT, reference_mel)
    assert output.waveform.shape == (1, 64 * 960)
    torch.testing.assert_close(output.mel, reference_mel, atol=MEL_ATOL, rtol=0)
    torch.testing.assert_close(output.waveform, reference_speech, atol=WAVE_ATOL, rtol=0)
    assert output.waveform.abs().max() > 0.05  # audible, not a near-silent random network


@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.parametrize("num_tokens, pieces", [(40, [40]), (131, [7, 50, 1, 60, 13]), (156, [156]), (230, [53] * 5)])
def test_streamed_chunks_equal_the_released_schedule(release, num_tokens, pieces, incremental):
    """`stream()` fed in arbitrary pieces writes the chunks of `SpeechDecoder.entry(stream=True)`, chunk by chunk;
    the incremental flow (only the new frames of each chunk) gives them to float rounding."""
    model = release["model"]
    tokens = _tokens(num_tokens, seed=11)
    reference = reference_token2wav_stream(
        release["flow"], release["hift"], TINY_FLOW, TINY_HIFT, tokens[0], model.speaker_embeddings[:1],
        model.flow_noise, stream=True, seed=5,
    )
    stream = model.stream(generator=torch.Generator().manual_seed(5), incremental=incremental)
    chunks, start = [], 0
    for size in pieces:
        audio = stream.push(tokens[0, start : start + size])
        start += size
        if audio.size:
            chunks.append(audio)
    chunks.append(stream.flush())
    # a push returns the chunks it completed, joined: every push ends at a chunk boundary of the release
    ends = set(np.cumsum([r.size for r in reference]).tolist())
    assert set(np.cumsum([c.size for c in chunks]).tolist()) <= ends
    if len(pieces) > 1:
        assert [c.size for c in chunks] == [r.size for r in reference]
    atol = INCREMENTAL_WAVE_ATOL if incremental else WAVE_ATOL
    np.testing.assert_allclose(np.concatenate(chunks), np.concatenate(reference), atol=atol, rtol=0)
    if incremental and num_tokens > 103:
        assert stream.flow_state is not None and stream.flow_state.computed_frames == 2 * num_tokens  # once each
    assert stream.flush().size == 0
    with pytest.raises(RuntimeError, match="flushed"):
        stream.push([1])


def test_stream_without_enough_tokens_for_a_chunk_is_the_one_shot_waveform(release):
    model = release["model"]
    tokens = _tokens(30, seed=2)
    one_shot = model(tokens, speaker="prompt_zh").waveform[0].numpy()
    stream = model.stream(speaker="prompt_zh")
    assert stream.push(tokens).size == 0
    np.testing.assert_allclose(stream.flush(), one_shot, atol=WAVE_ATOL, rtol=0)


def test_the_source_noise_is_seeded_and_leaves_the_global_rng_alone(release):
    """By default HiFT draws from a fresh generator seeded with config.source_seed (the release: the global one)."""
    model = release["model"]
    tokens = _tokens(20)
    state = torch.get_rng_state()
    first = model(tokens).waveform
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, model(tokens).waveform)
    assert torch.equal(first, model(tokens, generator=torch.Generator().manual_seed(0)).waveform)
    torch.manual_seed(0)
    assert torch.equal(first, model(tokens, generator=torch.default_generator).waveform)  # the released draws
    assert not torch.equal(first, model(tokens, generator=torch.Generator().manual_seed(1)).waveform)


def test_bad_input_gets_clear_errors(release):
    model = release["model"]
    with pytest.raises(ValueError, match=r"\[0, 39\]"):
        model([0, 40])
    with pytest.raises(ValueError, match="integers"):
        model(torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="one sequence"):
        model(torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown speaker"):
        model.stream(speaker="nobody")
    with pytest.raises(ValueError, match="8 values"):
        model.speaker_embedding(torch.zeros(5))
    with pytest.raises(ValueError, match="token_hop_len"):
        model.stream(token_hop_len=0)
    with pytest.raises(ValueError, match="noise"):
        model(torch.zeros(1, model.config.noise_frames, dtype=torch.long))
    assert model([]).waveform.shape == (1, 0)


def test_a_speaker_embedding_tensor_is_accepted(release):
    model = release["model"]
    tokens = _tokens(12)
    by_name = model(tokens, speaker="prompt_zh", generator=torch.Generator().manual_seed(0)).waveform
    by_tensor = model(tokens, speaker=model.speaker_embeddings[1], generator=torch.Generator().manual_seed(0)).waveform
    assert torch.equal(by_name, by_tensor)


# ----------------------------------------------------------------------------------------------------------------------
# Save / load, Auto classes, remote code
# ----------------------------------------------------------------------------------------------------------------------


def test_the_saved_folder_loads_the_same_weights(release):
    model = AutoModel.from_pretrained(release["out"]).eval()
    assert isinstance(model, LlamaOmni2Token2Wav)
    assert isinstance(model.config, LlamaOmni2Token2WavConfig)
    converted = release["model"]
    for (name, ours), (_, theirs) in zip(model.state_dict().items(), converted.state_dict().items()):
        assert torch.equal(ours, theirs), name
    for (name, ours), (_, theirs) in zip(model.named_buffers(), converted.named_buffers()):  # computed ones too
        assert torch.equal(ours, theirs), name
    tokens = _tokens(25)
    torch.testing.assert_close(model.tokens_to_mel(tokens), converted.tokens_to_mel(tokens), atol=MEL_ATOL, rtol=0)


REMOTE_SCRIPT = """
import torch
from transformers import AutoModel

model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
stream = model.stream()
first = stream.push(torch.arange(60) % 40)
rest = stream.flush()
print(type(model).__module__.split(".")[0], type(model).__name__, model.config.sampling_rate, first.size, rest.size)
"""


def test_the_folder_loads_with_remote_code_in_a_clean_interpreter(release, tmp_path):
    """Where this package cannot be imported: the folder's own code files."""
    result = run_clean(REMOTE_SCRIPT, release["out"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-5:] == [
        "transformers_modules", "LlamaOmni2Token2Wav", "24000", str(50 * 960 - 3840), str(10 * 960 + 3840)
    ]


# ----------------------------------------------------------------------------------------------------------------------
# A converted LLaMA-Omni2 speaks
# ----------------------------------------------------------------------------------------------------------------------


def write_word_level_llm_tokenizer(folder: str, vocab_size: int) -> None:
    """An LLM tokenizer whose ids all fit the tiny release's 128-token LLM (a byte-level one has 256+ tokens):
    words of its ChatML prompts, ChatML's special tokens and `<speech>`, with a Qwen-like chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from tests.test_fidelity_omni2 import QWEN_LIKE_TEMPLATE

    words = "You are Qwen, created by Alibaba Cloud. a helpful assistant. system user It is sunny today and the sea calm"
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<speech>"]
    vocab = {"<unk>": 0, **{w: i + 1 for i, w in enumerate(dict.fromkeys(words.split()))}}
    vocab.update({f"w{i}": i for i in range(len(vocab), vocab_size - len(specials))})
    vocab.update({token: vocab_size - len(specials) + i for i, token in enumerate(specials)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins the words with spaces
    backend.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_LIKE_TEMPLATE
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def omni2_folder(tmp_path_factory):
    """A tiny LLaMA-Omni2 release converted with `convert-omni2 --cosyvoice2` (its vocoder: a converted tiny
    CosyVoice2 over the same 20 speech tokens)."""
    from modeling_llama_omni.convert_omni2 import convert_omni2_checkpoint
    from tests.test_omni2 import UNIT_VOCAB, Omni2Source

    root = tmp_path_factory.mktemp("omni2-speaks")
    source = Omni2Source(root, tts_tokenizer=True)  # its text tokens hold no digits: every unit is a speech token
    write_word_level_llm_tokenizer(source.dir, Omni2Source.TEXT_VOCAB)
    cosyvoice = root / "CosyVoice2-0.5B"
    cosyvoice.mkdir()
    write_released_checkpoint(str(cosyvoice), flow_config={**TINY_FLOW, "vocab_size": UNIT_VOCAB}, seed=1)
    convert_cosyvoice2(cosyvoice, root / "token2wav")
    out = root / "converted"
    convert_omni2_checkpoint(source.dir, out, dtype="float32", cosyvoice2=root / "token2wav")
    # The release samples the TTS tokens from its whole vocabulary and reads units as the numbers in their text: the
    # tiny TTS vocabulary's text tokens ("w126") would give numbers beyond the 20 speech tokens (a real release's
    # unit range is 6,561). Restricting the sampling to speech tokens (our option) keeps every unit in range.
    config = json.loads((out / "config.json").read_text())
    config["tts_restrict_to_speech_tokens"] = True
    (out / "config.json").write_text(json.dumps(config))
    return out


def test_convert_omni2_refuses_a_vocoder_of_another_speech_vocabulary(release, tmp_path):
    from modeling_llama_omni.convert_omni2 import convert_omni2_checkpoint
    from tests.test_omni2 import Omni2Source

    source = Omni2Source(tmp_path, tts_tokenizer=True)  # 20 speech tokens; the release fixture's vocoder speaks 40
    with pytest.raises(ValueError, match="speaks 40 speech tokens, but the LLaMA-Omni2 model writes 20"):
        convert_omni2_checkpoint(source.dir, tmp_path / "out", cosyvoice2=release["out"])
    with pytest.raises(ValueError, match="raw CosyVoice2 folder"):
        convert_omni2_checkpoint(source.dir, tmp_path / "out", cosyvoice2=release["source"])
    assert not (tmp_path / "out").exists()


def test_a_converted_omni2_folder_speaks_through_stream_and_generate(omni2_folder):
    from transformers import AutoProcessor

    from modeling_llama_omni import LlamaOmniForConditionalGeneration
    from tests.tiny_components import make_speech

    model = LlamaOmniForConditionalGeneration.from_pretrained(omni2_folder).eval()
    processor = AutoProcessor.from_pretrained(omni2_folder)
    vocoder = model.default_vocoder()
    assert isinstance(vocoder, LlamaOmni2Token2Wav) and vocoder.config.sampling_rate == 24000
    inputs = processor(audio=make_speech(1.0, seed=0), sampling_rate=16000)
    kwargs = dict(max_new_tokens=12, min_new_tokens=12, do_sample=False)
    torch.manual_seed(0)
    output = model.generate(**inputs, return_audio=True, **kwargs)
    units = output.units[0]
    assert output.sampling_rate == 24000 and len(units) > 0
    assert output.waveforms[0].shape == (len(units) * 960,) and output.waveforms[0].abs().max() > 1e-3
    torch.manual_seed(0)
    pairs = list(model.stream(processor, chunk_size=10, **inputs, **kwargs))
    audio = np.concatenate([a for _, a in pairs if a.size])
    assert audio.size == len(units) * 960 and np.isfinite(audio).all()


def test_the_space_serves_a_converted_omni2_folder(omni2_folder, tmp_path):
    from gradio_client import Client, handle_file

    from inference.conversation import GenerationSettings
    from tests.test_space import running_space
    from tests.tiny_components import make_speech

    question = tmp_path / "question.wav"
    sf.write(question, make_speech(1.0, seed=3), 16000)
    settings = GenerationSettings(chunk_size=10, max_new_tokens=10, min_new_tokens=10)
    with running_space(omni2_folder, tmp_path / "gradio", settings=settings) as (demo, url):
        text, wav_path, stats = Client(url, verbose=False).predict(handle_file(str(question)), api_name="/answer")
    waveform, rate = sf.read(wav_path, dtype="float32")
    assert text.strip() and rate == 24000 and waveform.size >= 960 and np.isfinite(waveform).all()
    assert stats["audio_seconds"] == pytest.approx(waveform.size / rate, abs=1e-3)


def test_a_loaded_folder_keeps_its_own_noise_and_speakers(tmp_path):
    """`from_pretrained` must not redraw the stored ODE noise from `noise_seed` (nor touch the speakers)."""
    config = LlamaOmni2Token2WavConfig(flow_config=TINY_FLOW, hift_config=TINY_HIFT, noise_frames=300, speakers=["a"])
    model = LlamaOmni2Token2Wav(config).eval()
    fresh = model.flow_noise.clone()
    assert torch.equal(fresh, LlamaOmni2Token2Wav(config).flow_noise)  # drawn from noise_seed
    with torch.no_grad():
        model.flow_noise.normal_(5.0, 1.0)
        model.speaker_embeddings.fill_(3.0)
    model.save_pretrained(tmp_path)
    loaded = LlamaOmni2Token2Wav.from_pretrained(tmp_path)
    assert torch.equal(loaded.flow_noise, model.flow_noise) and not torch.equal(loaded.flow_noise, fresh)
    assert torch.equal(loaded.speaker_embeddings, model.speaker_embeddings)
