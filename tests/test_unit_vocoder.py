"""Tests of the unit vocoder (modeling_llama_omni.modeling_unit_vocoder) and its fairseq converter.

The main test writes a synthetic checkpoint in fairseq CodeHiFiGAN's layout (`{"generator": state_dict}` with
weight-norm `weight_g` / `weight_v` pairs, a speech-resynthesis `config.json`), converts it, and checks the result
against transformers' own CodeHiFiGAN (`SeamlessM4TCodeHifiGan`) holding the same weights under torch's weight norm.
The architecture is the real one (vocab 1000, embedding 128, upsampling [5, 4, 4, 2, 2] / [11, 8, 8, 4, 4], type-1
resblocks [3, 7, 11] x [1, 3, 5]) with fewer channels, for speed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from benchmarks.vocoder_streaming import scale_like_trained, streaming_error
from modeling_llama_omni.configuration_unit_vocoder import UnitVocoderConfig
from modeling_llama_omni.convert_fairseq_vocoder import (
    convert_fairseq_state_dict,
    convert_fairseq_vocoder,
    fairseq_config_to_unit_vocoder_config,
    fold_weight_norm,
    main,
)
from modeling_llama_omni.modeling_unit_vocoder import DEFAULT_LOOKAHEAD_FRAMES, UnitVocoder, UnitVocoderOutput
from transformers import SeamlessM4TConfig
from transformers.models.seamless_m4t.modeling_seamless_m4t import SeamlessM4TCodeHifiGan

SMALL_CHANNELS = 64
# The LLaMA-Omni vocoder's config.json (mHuBERT layer 11 km1000, LJSpeech), channels shrunk for speed.
FAIRSEQ_CONFIG = {
    "resblock": "1",
    "num_gpus": 0,
    "batch_size": 16,
    "learning_rate": 0.0002,
    "adam_b1": 0.8,
    "adam_b2": 0.99,
    "lr_decay": 0.999,
    "seed": 1234,
    "upsample_rates": [5, 4, 4, 2, 2],
    "upsample_kernel_sizes": [11, 8, 8, 4, 4],
    "upsample_initial_channel": SMALL_CHANNELS,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "num_embeddings": 1000,
    "embedding_dim": 128,
    "model_in_dim": 128,
    "segment_size": 8960,
    "code_hop_size": 320,
    "f0": False,
    "num_mels": 80,
    "num_freq": 1025,
    "n_fft": 1024,
    "hop_size": 256,
    "win_size": 1024,
    "dur_prediction_weight": 1.0,
    "dur_predictor_params": {
        "encoder_embed_dim": 128,
        "var_pred_hidden_dim": 128,
        "var_pred_kernel_size": 3,
        "var_pred_dropout": 0.5,
    },
    "sampling_rate": 16000,
    "fmin": 0,
    "fmax": 8000,
    "fmax_for_loss": None,
}


def seamless_to_fairseq_key(key: str) -> str:
    """`SeamlessM4TCodeHifiGan` (weight norm applied) name -> fairseq CodeGenerator name."""
    key = key.replace(".parametrizations.weight.original0", ".weight_g")
    key = key.replace(".parametrizations.weight.original1", ".weight_v")
    key = key.replace("unit_embedding.", "dict.")
    key = re.sub(r"^dur_predictor\.conv([12])\.", r"dur_predictor.conv\1.0.", key)
    key = key.replace("hifi_gan.upsampler.", "ups.").replace("hifi_gan.", "")
    return key


def build_reference(seed: int = 0) -> SeamlessM4TCodeHifiGan:
    """transformers' CodeHiFiGAN with the LLaMA-Omni vocoder's architecture, weight norm applied, random weights."""
    config = SeamlessM4TConfig(
        unit_hifi_gan_vocab_size=1000,
        unit_embed_dim=128,
        lang_embed_dim=0,  # no language / speaker embedding: the generator reads the unit embedding only
        spkr_embed_dim=0,
        vocoder_num_langs=1,
        vocoder_num_spkrs=1,
        upsample_initial_channel=SMALL_CHANNELS,
        upsample_rates=[5, 4, 4, 2, 2],
        upsample_kernel_sizes=[11, 8, 8, 4, 4],
        resblock_kernel_sizes=[3, 7, 11],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        leaky_relu_slope=0.1,
        variance_predictor_kernel_size=3,
        var_pred_dropout=0.5,
    )
    model = SeamlessM4TCodeHifiGan(config).eval()
    model.apply_weight_norm()
    generator = torch.Generator().manual_seed(seed)
    new_state = {}
    for key, value in model.state_dict().items():
        if key.endswith("original0"):
            continue  # g, below, from its v
        if key.endswith("original1") or key == "unit_embedding.weight":  # weight-norm directions v; embeddings
            new_state[key] = torch.randn(value.shape, generator=generator)
        elif key.startswith("dur_predictor.conv") and key.endswith("weight"):
            new_state[key] = torch.randn(value.shape, generator=generator) / value[0].numel() ** 0.5
        elif key.startswith("dur_predictor.ln") and key.endswith("weight"):
            new_state[key] = 1.0 + 0.1 * torch.randn(value.shape, generator=generator)
        elif key == "dur_predictor.proj.weight":
            new_state[key] = 0.05 * torch.randn(value.shape, generator=generator)
        elif key == "dur_predictor.proj.bias":
            new_state[key] = torch.full(value.shape, 1.2)  # exp(1.2) - 1 ~ 2.3 frames per unit
        else:  # biases
            new_state[key] = 0.05 * torch.randn(value.shape, generator=generator)
    for key, value in model.state_dict().items():
        if key.endswith("original0"):  # g = the norm of each row of w: ~1.4 keeps the activations' variance
            jitter = 0.7 + 0.6 * torch.rand(value.shape[0], generator=generator)
            gain = 0.3 if key.startswith("hifi_gan.conv_post") else 1.4  # no tanh saturation
            new_state[key] = (gain * jitter).view(value.shape)
    model.load_state_dict(new_state)
    return model


def write_fairseq_checkpoint(tmp_path, reference: SeamlessM4TCodeHifiGan, config: dict | None = None):
    state_dict = {
        seamless_to_fairseq_key(k): v.clone()
        for k, v in reference.state_dict().items()
        if not k.startswith(("speaker_embedding", "language_embedding"))
    }
    checkpoint_path = os.path.join(tmp_path, "g_00500000")
    config_path = os.path.join(tmp_path, "config.json")
    torch.save({"generator": state_dict}, checkpoint_path)
    with open(config_path, "w") as f:
        json.dump(config or FAIRSEQ_CONFIG, f)
    return checkpoint_path, config_path, state_dict


def small_config(**kwargs) -> UnitVocoderConfig:
    return UnitVocoderConfig(upsample_initial_channel=SMALL_CHANNELS, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These many small convolutions run 10-30x slower with 2 threads when other processes load the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference() -> SeamlessM4TCodeHifiGan:
    return build_reference()


@pytest.fixture(scope="module")
def converted(reference, tmp_path_factory) -> UnitVocoder:
    tmp = tmp_path_factory.mktemp("fairseq")
    checkpoint_path, config_path, _ = write_fairseq_checkpoint(tmp, reference)
    return convert_fairseq_vocoder(checkpoint_path, config_path, os.path.join(tmp, "converted"))


@pytest.fixture(scope="module")
def vocoder() -> UnitVocoder:
    torch.manual_seed(0)
    return scale_like_trained(UnitVocoder(small_config()).eval())


def random_units(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 1000, (n,), generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------------------------------------------------
# (1) conversion = transformers' CodeHiFiGAN
# ----------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def test_converted_fairseq_checkpoint_matches_transformers_code_hifigan(reference, converted, tmp_path):
    assert converted.config.unit_vocab_size == 1000 and converted.config.embedding_dim == 128
    units = random_units(40, seed=1)[None]
    # Seamless always predicts durations: same units -> same durations -> same waveform
    no_id = torch.zeros(1, 1, dtype=torch.long)  # speaker / language embeddings of size 0
    ref_waveform, _ = reference(units, spkr_id=no_id, lang_id=no_id)
    ours = converted(units)
    ref_log_durations = reference.dur_predictor(reference.unit_embedding(units))
    ref_durations = torch.clamp(torch.round(torch.expm1(ref_log_durations)).long(), min=1)
    assert torch.equal(ours.durations, ref_durations)
    assert len(set(ours.durations[0].tolist())) > 1  # the test exercises varied durations
    assert ours.waveform.shape == ref_waveform.shape == (1, int(ref_durations.sum()) * 320)
    assert ref_waveform.std() > 1e-2  # not a silent / degenerate reference
    torch.testing.assert_close(ours.waveform, ref_waveform, atol=1e-4, rtol=0)

    # given durations: the reference generator on the units repeated by them
    durations = torch.randint(1, 5, units.shape, generator=torch.Generator().manual_seed(2))
    frames = torch.repeat_interleave(reference.unit_embedding(units)[0], durations[0], dim=0).T[None]
    ref_waveform = reference.hifi_gan(frames)
    ours = converted(units, durations=durations)
    assert torch.equal(ours.durations, durations)
    torch.testing.assert_close(ours.waveform, ref_waveform, atol=1e-4, rtol=0)
    assert ours.waveform_lengths.tolist() == [int(durations.sum()) * 320]


def test_fold_weight_norm_matches_torch(reference):
    for layer in (reference.hifi_gan.conv_pre, reference.hifi_gan.upsampler[0]):  # Conv1d and ConvTranspose1d
        g = layer.parametrizations.weight.original0
        v = layer.parametrizations.weight.original1
        torch.testing.assert_close(fold_weight_norm(g, v), layer.weight, atol=1e-6, rtol=1e-6)


def test_converted_folder_loads_and_holds_plain_weights(converted, tmp_path):
    converted.save_pretrained(tmp_path)
    keys = load_file(os.path.join(tmp_path, "model.safetensors")).keys()
    assert not any("weight_g" in k or "weight_v" in k or "parametrizations" in k for k in keys)
    assert "generator.ups.0.weight" in keys and "unit_embedding.weight" in keys
    assert "dur_predictor.conv1.weight" in keys


def test_converter_cli(reference, tmp_path):
    checkpoint_path, config_path, _ = write_fairseq_checkpoint(tmp_path, reference)
    out = os.path.join(tmp_path, "out")
    main(["--checkpoint", checkpoint_path, "--config", config_path, "--output", out])
    loaded = UnitVocoder.from_pretrained(out)
    assert loaded.config.upsample_initial_channel == SMALL_CHANNELS


# ----------------------------------------------------------------------------------------------------------------------
# (2) durations and lengths
# ----------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def test_duration_predictor_and_lengths(vocoder):
    units = random_units(25, seed=3)[None]
    out = vocoder(units)
    log_durations = vocoder.dur_predictor(vocoder.unit_embedding(units).transpose(1, 2))
    expected = torch.clamp(torch.round(torch.exp(log_durations) - 1).long(), min=1)
    assert torch.equal(out.durations, expected)
    assert torch.equal(vocoder.predict_durations(units), expected)
    assert out.waveform.shape == (1, int(expected.sum()) * 320)
    assert out.waveform.dtype == torch.float32 and out.waveform.abs().max() <= 1.0

    plain = vocoder(units, dur_prediction=False)
    assert plain.waveform.shape == (1, 25 * 320)
    assert plain.durations.tolist() == [[1] * 25]
    assert plain.waveform_lengths.tolist() == [25 * 320]

    frame_units, frame_lengths = vocoder.units_to_frames(units, expected)
    assert frame_lengths.tolist() == [int(expected.sum())]
    assert frame_units[0, : int(expected[0, 0])].tolist() == [int(units[0, 0])] * int(expected[0, 0])
    torch.testing.assert_close(vocoder.vocode_frames(frame_units), out.waveform)
    assert isinstance(out, UnitVocoderOutput)


# ----------------------------------------------------------------------------------------------------------------------
# (3) batch = one by one
# ----------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
@pytest.mark.parametrize("dur_prediction", [True, False])
def test_batch_equals_one_by_one(vocoder, dur_prediction):
    lengths = [17, 9, 23]
    samples = [random_units(n, seed=10 + i) for i, n in enumerate(lengths)]
    batch = torch.full((3, max(lengths)), -1, dtype=torch.long)  # padding may be any value
    for i, sample in enumerate(samples):
        batch[i, : len(sample)] = sample
    out = vocoder(batch, unit_lengths=torch.tensor(lengths), dur_prediction=dur_prediction)
    for i, sample in enumerate(samples):
        alone = vocoder(sample[None], dur_prediction=dur_prediction)
        n = int(out.waveform_lengths[i])
        assert n == alone.waveform.shape[1]
        torch.testing.assert_close(out.waveform[i, :n], alone.waveform[0], atol=1e-5, rtol=0)
        assert torch.all(out.waveform[i, n:] == 0)
        assert torch.equal(out.durations[i, : len(sample)], alone.durations[0])
        assert torch.all(out.durations[i, len(sample) :] == 0)


# ----------------------------------------------------------------------------------------------------------------------
# (4) streaming
# ----------------------------------------------------------------------------------------------------------------------


def test_receptive_field_is_computed_from_the_config():
    assert UnitVocoder(small_config()).receptive_field_frames() == (21, 21)
    shallow = UnitVocoder(small_config(resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]]))
    left, right = shallow.receptive_field_frames()
    assert left == right and 3 <= left < 21


@torch.inference_mode()
def test_streaming_is_exact_with_full_lookahead(vocoder):
    units = random_units(50, seed=4).tolist()
    _, right = vocoder.receptive_field_frames()
    row = streaming_error(vocoder, units, chunk_size=10, lookahead_frames=right)
    assert row["max_abs_diff"] < 1e-5


@torch.inference_mode()
@pytest.mark.parametrize("chunk_size", [10, 20, 40])
def test_streaming_close_to_one_shot_without_clicks(vocoder, chunk_size):
    units = random_units(60, seed=5).tolist()
    row = streaming_error(vocoder, units, chunk_size, DEFAULT_LOOKAHEAD_FRAMES)
    # the documented tolerance of UnitVocoderStream (default lookahead), with a margin for this smaller model
    assert row["max_abs_diff"] < 0.05, row
    assert row["rms_diff"] < 0.01 * row["signal_rms"], row
    assert row["boundary_jump_ratio"] < 1.0, row  # jumps at chunk boundaries are no larger than elsewhere


@torch.inference_mode()
def test_stream_api(vocoder):
    units = random_units(30, seed=6).tolist()
    reference = vocoder(torch.tensor([units]), dur_prediction=False).waveform[0].numpy()
    stream = vocoder.stream(dur_prediction=False, lookahead_frames=2)
    first = stream.push(units[:3])
    assert first.dtype == np.float32 and first.ndim == 1 and len(first) == 320  # 3 frames, 2 held back
    assert len(stream.push([])) == 0
    rest = [stream.push(torch.tensor(units[3:20])), stream.push(np.array(units[20:])), stream.flush()]
    audio = np.concatenate([first, *rest])
    assert audio.shape == reference.shape
    assert stream.emitted_samples == len(reference)
    assert len(stream.flush()) == 0
    with pytest.raises(RuntimeError):
        stream.push([1])
    # with duration prediction a unit's duration waits for its 2 right neighbours
    stream = vocoder.stream(lookahead_frames=0)
    assert len(stream.push(units[:2])) == 0
    assert len(stream.push(units[2:3])) > 0


# ----------------------------------------------------------------------------------------------------------------------
# (5) errors
# ----------------------------------------------------------------------------------------------------------------------


def test_input_errors(vocoder):
    with pytest.raises(ValueError, match="unit ids must be in"):
        vocoder(torch.tensor([[1, 1000]]))
    with pytest.raises(ValueError, match="unit ids must be in"):
        vocoder(torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match="empty"):
        vocoder(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="integer"):
        vocoder(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="durations must have the shape"):
        vocoder(torch.tensor([[1, 2, 3]]), durations=torch.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="integer"):
        vocoder(torch.tensor([[1, 2]]), durations=torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        vocoder.units_to_frames(torch.tensor([[1, 2]]), torch.tensor([[1, -2]]))
    with pytest.raises(ValueError, match="at least one frame"):
        vocoder(torch.tensor([[1, 2]]), durations=torch.tensor([[0, 0]]))
    with pytest.raises(ValueError, match="unit_lengths"):
        vocoder(torch.tensor([[1, 2]]), unit_lengths=torch.tensor([3]))
    with pytest.raises(ValueError, match="unit_lengths"):
        vocoder(torch.tensor([[1, 2]]), unit_lengths=torch.tensor([0]))
    with pytest.raises(ValueError, match="unit ids must be in"):
        vocoder.stream().push([5, 1000])
    with pytest.raises(ValueError, match="integers"):
        vocoder.stream().push([0.5])
    with pytest.raises(ValueError, match="lookahead_frames"):
        vocoder.stream(lookahead_frames=-1)


def test_config_errors():
    with pytest.raises(ValueError, match="same length"):
        UnitVocoderConfig(upsample_rates=[5, 4])
    with pytest.raises(ValueError, match="k - u even"):
        UnitVocoderConfig(upsample_kernel_sizes=[10, 8, 8, 4, 4])
    with pytest.raises(ValueError, match="unit_vocab_size"):
        UnitVocoderConfig(unit_vocab_size=0)
    with pytest.raises(ValueError, match="odd"):
        UnitVocoderConfig(duration_predictor_kernel_size=4)
    assert UnitVocoderConfig().hop_length == 320


def test_converter_refusals(reference, tmp_path):
    checkpoint_path, config_path, state_dict = write_fairseq_checkpoint(tmp_path, reference)
    with pytest.raises(ValueError, match="resblock"):
        fairseq_config_to_unit_vocoder_config({**FAIRSEQ_CONFIG, "resblock": "2"})
    with pytest.raises(ValueError, match="multi-speaker"):
        fairseq_config_to_unit_vocoder_config({**FAIRSEQ_CONFIG, "multispkr": True, "num_speakers": 200})
    with pytest.raises(ValueError, match="duration predictor"):
        fairseq_config_to_unit_vocoder_config({k: v for k, v in FAIRSEQ_CONFIG.items() if k != "dur_predictor_params"})
    with pytest.raises(ValueError, match="multi-speaker"):
        convert_fairseq_state_dict({**state_dict, "spkr.weight": torch.zeros(200, 128)})
    with pytest.raises(ValueError, match="map to no UnitVocoder weight.*mystery"):
        convert_fairseq_state_dict({**state_dict, "mystery.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="half a weight-norm pair"):
        convert_fairseq_state_dict({k: v for k, v in state_dict.items() if k != "conv_pre.weight_g"})
    # a missing key (the whole conv_post) is listed
    torch.save({"generator": {k: v for k, v in state_dict.items() if not k.startswith("conv_post")}}, checkpoint_path)
    with pytest.raises(ValueError, match="missing.*generator.conv_post"):
        convert_fairseq_vocoder(checkpoint_path, config_path, None)
    # a checkpoint that is not weights-only (arbitrary pickled objects) is refused, never unpickled
    with open(checkpoint_path, "wb") as f:
        pickle.dump({"generator": {}, "args": argparse.Namespace(lr=1.0)}, f, protocol=2)
    with pytest.raises(ValueError, match="weights_only"):
        convert_fairseq_vocoder(checkpoint_path, config_path, None)
    torch.save({"optimizer": {}}, checkpoint_path)
    with pytest.raises(ValueError, match="no 'generator'"):
        convert_fairseq_vocoder(checkpoint_path, config_path, None)


# ----------------------------------------------------------------------------------------------------------------------
# (6) save / load, weight norm
# ----------------------------------------------------------------------------------------------------------------------


@torch.no_grad()  # not inference_mode: weight norm re-parametrises the loaded weights for training
def test_save_load_round_trip_and_weight_norm(vocoder, tmp_path):
    units = random_units(12, seed=7)[None]
    expected = vocoder(units).waveform
    vocoder.save_pretrained(tmp_path / "plain")
    loaded = UnitVocoder.from_pretrained(tmp_path / "plain").eval()
    assert loaded.config.upsample_rates == [5, 4, 4, 2, 2] and loaded.config.hop_length == 320
    assert loaded.config.upsample_initial_channel == SMALL_CHANNELS
    torch.testing.assert_close(loaded(units).waveform, expected, atol=1e-6, rtol=0)

    # weight norm for training: same function, saved folded, removable
    loaded.apply_weight_norm()
    assert loaded.is_weight_norm_applied
    torch.testing.assert_close(loaded(units).waveform, expected, atol=1e-5, rtol=0)
    loaded.save_pretrained(tmp_path / "normed")
    assert loaded.is_weight_norm_applied  # saving does not change the model being trained
    keys = load_file(os.path.join(tmp_path / "normed", "model.safetensors")).keys()
    assert not any("parametrizations" in k for k in keys)
    reloaded = UnitVocoder.from_pretrained(tmp_path / "normed").eval()
    torch.testing.assert_close(reloaded(units).waveform, expected, atol=1e-5, rtol=0)
    loaded.remove_weight_norm()
    assert not loaded.is_weight_norm_applied
    torch.testing.assert_close(loaded(units).waveform, expected, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------------------------------------------------
# (7) the real-size default
# ----------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def test_default_config_is_the_real_size_vocoder():
    model = UnitVocoder(UnitVocoderConfig()).eval()
    params = sum(p.numel() for p in model.parameters())
    assert 13.3e6 < params < 13.7e6, params
    assert model.receptive_field_frames() == (21, 21)
    out = model(torch.tensor([[3, 999, 0]]), dur_prediction=False)
    assert out.waveform.shape == (1, 3 * 320)
