"""Tests of CosyVoice2's HiFT vocoder port (modeling_llama_omni.modeling_token2wav_hift).

Properties only, on the shared tiny configuration (TINY_HIFT: the released layout with 16 base channels and 2
harmonics): output lengths, the STFT window, weight-norm folding in both of torch's key styles, randomness (seeded
generator, global seed), the source cache, the audio range. Equivalence with the released code is checked elsewhere.
"""

from __future__ import annotations

import ast
import copy
import sys

import numpy as np
import pytest
import torch
from torch import nn

from modeling_llama_omni import modeling_token2wav_hift
from modeling_llama_omni.configuration_token2wav import COSYVOICE2_HIFT
from modeling_llama_omni.modeling_token2wav_hift import (
    Token2WavHiFT,
    fold_weight_norm,
    resolve_hift_config,
)

from tests.token2wav_reference import TINY_HIFT  # noqa: E402 - the tiny configuration of every token2wav test

FRAMES = 23


def perturbed_vocoder(config: dict = TINY_HIFT, scale: float = 0.1, f0_bias: float = 100.0, seed: int = 0):
    """A vocoder with random weights large enough for non-trivial signals (fresh inits give near-silence)."""
    model = Token2WavHiFT(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            values = torch.randn(param.shape, generator=gen) * scale
            param.copy_(values.abs() + 0.5 if name.endswith("alpha") else values)
        # a bias on the F0 head makes most frames voiced (f0 > nsf_voiced_threshold), so the sines are used
        model.f0_predictor.classifier.bias.fill_(f0_bias)
    return model


@pytest.fixture(scope="module")
def vocoder():
    return perturbed_vocoder()


@pytest.fixture(scope="module")
def mel():
    return torch.randn(1, 80, FRAMES, generator=torch.Generator().manual_seed(1))


def test_lengths_and_rates(vocoder, mel):
    assert vocoder.hop_length == 480
    assert vocoder.sampling_rate == 24000
    waveform, source = vocoder.inference(mel, generator=torch.Generator().manual_seed(0))
    assert waveform.shape == (1, FRAMES * 480)
    assert source.shape == (1, 1, FRAMES * 480)
    assert waveform.dtype == source.dtype == torch.float32
    for frames in (1, 8, 50):
        waveform, _ = vocoder.inference(mel[:, :, :frames] if frames <= FRAMES else torch.randn(1, 80, frames))
        assert waveform.shape == (1, frames * 480)


def test_release_size_hop_length_without_building():
    config = resolve_hift_config(COSYVOICE2_HIFT)
    assert int(np.prod(config["upsample_rates"])) * config["istft_params"]["hop_len"] == 480
    assert config["sampling_rate"] == 24000


def test_missing_keys_take_the_released_code_defaults():
    model = Token2WavHiFT({"base_channels": 16, "f0_predictor": {"cond_channels": 8}})
    assert model.config["upsample_rates"] == [8, 8] and model.config["nb_harmonics"] == 8
    assert model.hop_length == 256 and model.sampling_rate == 22050
    assert model.f0_predictor.condnet[0].in_channels == 80
    assert model.m_source.l_linear.in_features == 9
    waveform, _ = model.inference(torch.randn(1, 80, 5))
    assert waveform.shape == (1, 5 * 256)


def test_config_errors():
    with pytest.raises(ValueError, match="Unknown hift_config keys"):
        Token2WavHiFT({**TINY_HIFT, "upsample_rate": [8, 5, 3]})
    with pytest.raises(ValueError, match="f0_predictor"):
        Token2WavHiFT({**TINY_HIFT, "f0_predictor": {"channels": 16}})
    config = copy.deepcopy(TINY_HIFT)
    resolve_hift_config(config)
    assert config == TINY_HIFT  # not modified


def test_inference_errors(vocoder, mel):
    with pytest.raises(ValueError, match="mel must be"):
        vocoder.inference(mel[0])
    with pytest.raises(ValueError, match="cache_source"):
        vocoder.inference(mel[:, :, :2], cache_source=torch.zeros(1, 1, 3 * 480))


def test_window_is_scipys_periodic_hann(vocoder):
    signal = pytest.importorskip("scipy.signal")
    expected = torch.from_numpy(signal.get_window("hann", 16, fftbins=True).astype(np.float32))
    assert vocoder.stft_window.dtype == torch.float32
    assert torch.equal(vocoder.stft_window, expected)
    for n_fft in (8, 20, 1024):
        window = Token2WavHiFT({**TINY_HIFT, "istft_params": {"n_fft": n_fft, "hop_len": 4}}).stft_window
        assert torch.equal(window, torch.from_numpy(signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)))


def test_state_dict_layout(vocoder):
    keys = set(vocoder.state_dict())
    assert "stft_window" not in keys  # non-persistent buffer
    assert not [k for k in keys if "weight_g" in k or "weight_v" in k or "parametrizations" in k]
    assert {"conv_pre.weight", "conv_post.weight", "ups.2.weight", "m_source.l_linear.weight"} <= keys
    assert {"f0_predictor.condnet.0.weight", "f0_predictor.condnet.8.weight", "f0_predictor.classifier.bias"} <= keys
    assert {"resblocks.8.convs1.2.weight", "resblocks.8.activations1.2.alpha"} <= keys
    assert {"resblocks.0.activations2.0.alpha", "source_resblocks.0.activations1.0.alpha"} <= keys
    assert {"source_downs.0.weight", "source_resblocks.2.convs2.0.weight"} <= keys
    assert vocoder.source_downs[0].stride == (15,) and vocoder.source_downs[1].stride == (3,)
    assert vocoder.source_downs[2].kernel_size == (1,)


class _WeightNormed(nn.Module):
    """Small module with a weight-normed conv, transposed conv and linear layer, and a plain conv."""

    def __init__(self, style: str):
        super().__init__()
        wrap = torch.nn.utils.parametrizations.weight_norm if style == "new" else torch.nn.utils.weight_norm
        self.conv = wrap(nn.Conv1d(3, 4, 5))
        self.up = wrap(nn.ConvTranspose1d(4, 2, 6, 3))
        self.head = nn.Sequential(nn.ELU(), wrap(nn.Linear(2, 1)))
        self.plain = nn.Conv1d(2, 2, 1)
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for name, param in self.named_parameters():
                positive = "_g" in name or "original0" in name  # weight norm's g
                param.copy_(torch.randn(param.shape, generator=gen) + (2.0 if positive else 0.0))


def _remove_weight_norm(module: nn.Module) -> nn.Module:
    """Removes weight norm in place (either style), leaving each layer's effective weight as a plain `.weight`."""
    for sub in list(module.modules()):
        if torch.nn.utils.parametrize.is_parametrized(sub):
            torch.nn.utils.parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
        elif hasattr(sub, "weight_g"):
            torch.nn.utils.remove_weight_norm(sub)
    return module


@pytest.mark.filterwarnings("ignore:.*weight_norm.*deprecated")
@pytest.mark.parametrize("style", ["old", "new"])
@pytest.mark.parametrize("prefix", ["", "generator."])
def test_fold_weight_norm(style, prefix):
    module = _WeightNormed(style)
    released = {prefix + key: value.clone() for key, value in module.state_dict().items()}
    assert any(k.endswith("weight_g" if style == "old" else "original0") for k in released)
    x = torch.randn(2, 3, 11)
    with torch.no_grad():
        expected_output = module.head(module.up(module.conv(x)).transpose(1, 2))
    folded = fold_weight_norm(released)
    expected = _remove_weight_norm(module).state_dict()
    assert set(folded) == set(expected) == {
        "conv.weight", "conv.bias", "up.weight", "up.bias", "head.1.weight", "head.1.bias", "plain.weight", "plain.bias"
    }  # fmt: skip
    for key, value in expected.items():
        torch.testing.assert_close(folded[key], value, rtol=0, atol=0)
    # the folded weights, loaded into plain layers, give the weight-normed module's outputs
    plain = nn.Module()
    plain.conv, plain.up, plain.plain = nn.Conv1d(3, 4, 5), nn.ConvTranspose1d(4, 2, 6, 3), nn.Conv1d(2, 2, 1)
    plain.head = nn.Sequential(nn.ELU(), nn.Linear(2, 1))
    plain.load_state_dict(folded, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(plain.head(plain.up(plain.conv(x)).transpose(1, 2)), expected_output)


def test_fold_weight_norm_passes_other_keys_through():
    g, v, w = torch.rand(4, 1, 1) + 0.5, torch.randn(4, 3, 5), torch.randn(2)
    folded = fold_weight_norm({"generator.a.weight_g": g, "b.weight": w, "c.weight_v": v})
    assert set(folded) == {"a.weight_g", "b.weight", "c.weight_v"}  # orphans left for strict loading to report
    assert folded["b.weight"] is w


def test_folded_weight_norm_checkpoint_loads_strictly(vocoder):
    # split every conv weight into weight norm's (g, v), in released naming, and fold it back
    released = {}
    for key, value in vocoder.state_dict().items():
        if key.endswith(".weight") and value.dim() == 3 and not key.startswith("source_downs."):
            released[f"generator.{key}_v"] = value * 3.0
            released[f"generator.{key}_g"] = torch.linalg.vector_norm(value, dim=(1, 2), keepdim=True)
        else:
            released[f"generator.{key}"] = value
    restored = Token2WavHiFT(TINY_HIFT)
    restored.load_state_dict(fold_weight_norm(released), strict=True)
    for key, value in vocoder.state_dict().items():
        torch.testing.assert_close(restored.state_dict()[key], value)


def test_seeded_generator_is_deterministic_and_leaves_the_global_rng_alone(vocoder, mel):
    state = torch.get_rng_state()
    first = vocoder.inference(mel, generator=torch.Generator().manual_seed(5))
    second = vocoder.inference(mel, generator=torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    other = vocoder.inference(mel, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(first[1], other[1])  # the source is random


def test_global_seed_is_deterministic_and_matches_a_fresh_generator(vocoder, mel):
    torch.manual_seed(11)
    first = vocoder.inference(mel)
    after_first = torch.get_rng_state()
    torch.manual_seed(11)
    second = vocoder.inference(mel)
    assert torch.equal(torch.get_rng_state(), after_first)
    assert not torch.equal(after_first, torch.manual_seed(11).get_state())  # the global RNG was used
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    # a fresh CPU generator with the same seed draws the same numbers in the same order
    third = vocoder.inference(mel, generator=torch.Generator().manual_seed(11))
    assert torch.equal(first[0], third[0]) and torch.equal(first[1], third[1])


def test_cache_source_overwrites_the_start_of_the_source(vocoder, mel):
    cache = 0.05 * torch.randn(1, 1, 8 * 480, generator=torch.Generator().manual_seed(2))
    waveform, source = vocoder.inference(mel, cache_source=cache, generator=torch.Generator().manual_seed(4))
    plain_waveform, plain_source = vocoder.inference(mel, generator=torch.Generator().manual_seed(4))
    assert torch.equal(source[:, :, : cache.shape[-1]], cache)
    assert torch.equal(source[:, :, cache.shape[-1] :], plain_source[:, :, cache.shape[-1] :])
    assert not torch.equal(waveform, plain_waveform)  # the decoder sees the cached source
    empty, _ = vocoder.inference(mel, cache_source=torch.zeros(1, 1, 0), generator=torch.Generator().manual_seed(4))
    assert torch.equal(empty, plain_waveform)


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_audio_within_limit_and_finite(mel, scale):
    model = perturbed_vocoder(scale=scale, seed=7)
    waveform, source = model.inference(3 * mel, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(waveform).all() and torch.isfinite(source).all()
    assert waveform.abs().max() <= TINY_HIFT["audio_limit"]
    assert waveform.std() > 1e-3  # not silence
    assert source.abs().max() <= 1.0  # tanh
    if scale == 1.0:
        assert waveform.abs().max() == pytest.approx(TINY_HIFT["audio_limit"])  # the clamp is reached


def test_file_imports_only_torch_numpy_and_the_standard_library():
    tree = ast.parse(open(modeling_token2wav_hift.__file__).read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            roots.add(node.module.split(".")[0])
    assert roots - {"torch", "numpy"} <= set(sys.stdlib_module_names)
