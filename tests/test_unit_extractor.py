"""UnitExtractor: encoder layer features -> k-means units; save/reload; fairseq km.bin; the `units` command."""

from __future__ import annotations

import json
import math
import os
import shutil
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from offline_assets.tts import get_voice
from processing.instructs2s.units import (
    CENTROIDS_NAME,
    CONFIG_NAME,
    UnitExtractor,
    UnsafePickleError,
    convert_fairseq_km,
    deduplicate_units,
)
from processing.instructs2s.units_cli import units_main
from tests.tiny_models import tiny_whisper_config

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")

SENTENCES = [
    "Please tell me how to make a cup of green tea.",
    "What is the tallest mountain in the world?",
    "My sister bought a new bicycle last weekend.",
    "Could you suggest a good book to read on a rainy afternoon?",
    "The train to the city leaves at nine in the morning.",
    "How many legs does a spider have?",
    "Turn off the lights in the living room, please.",
    "Why is the sky blue during the day?",
]


@pytest.fixture(scope="module")
def flite_clips():
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    return [get_voice(v).synthesize(s) for v, s in zip(["flite:kal16", "flite:slt"] * 4, SENTENCES[:4])]


@pytest.fixture(scope="module")
def tiny_whisper_dir(tmp_path_factory):
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    config = WhisperConfig(**{k: v for k, v in tiny_whisper_config().items() if k != "model_type"})
    folder = tmp_path_factory.mktemp("tiny_whisper")
    WhisperModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_hubert_dir(tmp_path_factory):
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    config = HubertConfig(
        hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8, 8, 8, 8, 8, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    )
    folder = tmp_path_factory.mktemp("tiny_hubert")
    HubertModel(config).save_pretrained(folder)
    return str(folder)


def test_deduplicate_units():
    assert deduplicate_units([5, 5, 7, 7, 7, 5, 1, 1]) == [5, 7, 5, 1]
    assert deduplicate_units([]) == []


def test_whisper_units_fit_extract_save_reload(flite_clips, tiny_whisper_dir, tmp_path):
    extractor = UnitExtractor(encoder=tiny_whisper_dir, layer=2, batch_size=3)
    assert extractor.encoder_kind == "whisper"
    extractor.fit(flite_clips, num_units=8, seed=0, progress=False)
    assert extractor.centroids.shape == (8, 24) and extractor.fit_info["algorithm"] == "KMeans"

    units = extractor.extract(flite_clips[0])
    # 50 Hz: one unit per 320 samples (mel frames = samples // 160, stride-2 conv)
    assert len(units) == math.ceil((len(flite_clips[0]) // 160) / 2)
    assert all(isinstance(u, int) and 0 <= u < 8 for u in units)
    assert len(set(units)) > 1
    batch = extractor.extract_batch(flite_clips)
    assert batch == [extractor.extract(clip) for clip in flite_clips]  # batching does not change the units
    deduplicated = extractor.extract(flite_clips[0], deduplicate=True)
    assert deduplicated == deduplicate_units(units) and len(deduplicated) < len(units)

    # Any rate, any input load_audio accepts: a 22.05 kHz file gives (nearly) as many 20 ms units.
    path = tmp_path / "clip.wav"
    import torchaudio

    sf.write(path, torchaudio.functional.resample(torch.from_numpy(flite_clips[0]), 16000, 22050).numpy(), 22050)
    assert abs(len(extractor.extract(str(path), sampling_rate=None)) - len(units)) <= 1

    extractor.save_pretrained(tmp_path / "units")
    saved = json.loads((tmp_path / "units" / CONFIG_NAME).read_text())
    assert saved["encoder"] == tiny_whisper_dir and saved["layer"] == 2 and saved["num_units"] == 8
    assert saved["encoder_kind"] == "whisper" and saved["frame_rate"] == 50
    assert (tmp_path / "units" / CENTROIDS_NAME).is_file()
    assert not any(f.endswith((".pkl", ".bin", ".pt")) for f in os.listdir(tmp_path / "units"))
    reloaded = UnitExtractor.from_pretrained(tmp_path / "units")
    assert torch.equal(reloaded.centroids, extractor.centroids)
    assert reloaded.extract_batch(flite_clips) == batch


def test_whisper_layer_is_the_layer_output(flite_clips, tiny_whisper_dir):
    """Layer L = hidden_states[L] of the full transformers encoder (no final norm), here on a full 30 s input."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    audio = np.zeros(30 * 16000, dtype=np.float32)
    audio[: len(flite_clips[0])] = flite_clips[0]
    extractor = UnitExtractor(encoder=tiny_whisper_dir, layer=1)
    ours = extractor.features(audio)
    model = WhisperModel.from_pretrained(tiny_whisper_dir).eval()
    features = WhisperFeatureExtractor(feature_size=80)(audio, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        ref = model.encoder(features.input_features, output_hidden_states=True).hidden_states[1][0]
    assert ours.shape == ref.shape == (1500, 24)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_long_audio_is_encoded_in_30s_pieces(tiny_whisper_dir):
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(31.5 * 16000))).astype(np.float32)
    extractor = UnitExtractor(encoder=tiny_whisper_dir, layer=1, centroids=torch.randn(4, 24))
    assert len(extractor.extract(audio)) == 1500 + 75


def test_hubert_units(tiny_hubert_dir, tmp_path):
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(16000 + 3200 * i)).astype(np.float32) for i in range(4)]
    extractor = UnitExtractor(encoder=tiny_hubert_dir, layer=2)
    assert extractor.encoder_kind == "hubert"
    extractor.fit(clips, num_units=4, progress=False)
    assert extractor.centroids.shape == (4, 16)
    units = extractor.extract(clips[0])
    assert len(units) == 49  # fairseq/HF conv stack: (16000 - 400) // 320 + 1 frames

    from transformers import HubertModel

    model = HubertModel.from_pretrained(tiny_hubert_dir).eval()
    with torch.no_grad():
        ref = model(torch.from_numpy(clips[0])[None], output_hidden_states=True).hidden_states[2][0]
    torch.testing.assert_close(extractor.features(clips[0]), ref, rtol=1e-4, atol=1e-4)

    extractor.save_pretrained(tmp_path)
    reloaded = UnitExtractor.from_pretrained(tmp_path)
    assert reloaded.encoder_kind == "hubert" and reloaded.extract(clips[0]) == units


def test_fit_errors(tiny_whisper_dir):
    extractor = UnitExtractor(encoder=tiny_whisper_dir, layer=1)
    with pytest.raises(RuntimeError, match="no centroids"):
        extractor.extract(np.ones(16000, dtype=np.float32) * 0.1)
    with pytest.raises(ValueError, match="fewer than num_units"):
        extractor.fit([np.full(3200, 0.1, dtype=np.float32)], num_units=50, progress=False)
    with pytest.raises(ValueError, match="layer must be in 1..2"):
        UnitExtractor(encoder=tiny_whisper_dir, layer=5).features(np.full(3200, 0.1, dtype=np.float32))
    with pytest.raises(ValueError, match="silent"):
        UnitExtractor(encoder=tiny_whisper_dir, layer=1).features(np.zeros(3200, dtype=np.float32))
    wrong = UnitExtractor(encoder=tiny_whisper_dir, layer=1, centroids=torch.randn(4, 7))
    with pytest.raises(ValueError, match="another encoder or layer"):
        wrong.extract(np.full(3200, 0.1, dtype=np.float32))


def test_fairseq_km_needs_trust(tmp_path, tiny_hubert_dir):
    import joblib
    from sklearn.cluster import MiniBatchKMeans

    km = MiniBatchKMeans(n_clusters=5, random_state=0, n_init=1).fit(np.random.default_rng(0).normal(size=(200, 16)))
    joblib.dump(km, tmp_path / "km.bin")
    with pytest.raises(UnsafePickleError, match="arbitrary code"):
        convert_fairseq_km(tmp_path / "km.bin", tmp_path / "out", encoder=tiny_hubert_dir, layer=2)
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit, match="--trust-pickle"):
        units_main(["convert-km", "--km-bin", str(tmp_path / "km.bin"), "--encoder", tiny_hubert_dir,
                    "--layer", "2", "--output", str(tmp_path / "out")])

    extractor = convert_fairseq_km(tmp_path / "km.bin", tmp_path / "out", encoder=tiny_hubert_dir, layer=2,
                                   trust_pickle=True)
    np.testing.assert_array_equal(extractor.centroids.numpy(), km.cluster_centers_.astype(np.float32))
    reloaded = UnitExtractor.from_pretrained(tmp_path / "out")
    assert reloaded.num_units == 5 and reloaded.layer == 2 and reloaded.encoder_kind == "hubert"
    assert len(reloaded.extract(np.full(16000, 0.1, dtype=np.float32) + np.sin(np.arange(16000)) * 0.1)) == 49


def test_units_command(flite_clips, tiny_whisper_dir, tmp_path, capsys):
    audio_dir = tmp_path / "audio"
    (audio_dir / "sub").mkdir(parents=True)
    for i, clip in enumerate(flite_clips[:4]):
        sf.write(audio_dir / ("sub" if i % 2 else ".") / f"clip{i}.wav", clip, 16000)
    (audio_dir / "notes.txt").write_text("not audio")
    assert units_main(["fit", "--audio-dir", str(audio_dir), "--num-units", "6", "--layer", "1",
                       "--encoder", tiny_whisper_dir, "--output", str(tmp_path / "ex")]) == 0
    assert UnitExtractor.from_pretrained(tmp_path / "ex").num_units == 6
    capsys.readouterr()
    assert units_main(["extract", "--extractor", str(tmp_path / "ex"), "--audio-dir", str(audio_dir),
                       "--deduplicate"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4 and all(line["units"] for line in lines)
    assert lines[0]["id"].endswith("clip0.wav")
    with pytest.raises(SystemExit):
        units_main(["fit", "--num-units", "6", "--layer", "1", "--output", str(tmp_path / "x")])  # no audio source


@pytest.mark.slow
@needs_flite
def test_whisper_base_units_on_flite_speech(tmp_path):
    """Real units: whisper-base layer 4 + k-means (K=50) on ~1.5 min of flite speech."""
    voices = ["flite:kal16", "flite:slt", "flite:awb", "flite:rms"]
    clips = [get_voice(v).synthesize(s) for v in voices for s in SENTENCES]
    seconds = sum(len(c) for c in clips) / 16000
    assert seconds >= 60
    extractor = UnitExtractor(layer=4)  # offline:whisper-base
    start = time.perf_counter()
    extractor.fit(clips, num_units=50, seed=0, progress=False)
    elapsed = time.perf_counter() - start
    print(f"k-means fit on {seconds:.0f} s of speech ({extractor.fit_info['num_frames']} frames): {elapsed:.1f} s "
          f"(features {extractor.fit_info['feature_seconds']} s, k-means {extractor.fit_info['kmeans_seconds']} s)")
    assert extractor.centroids.shape == (50, 512)
    units = extractor.extract_batch(clips[:4])
    used = {u for seq in units for u in seq}
    assert len(used) >= 20  # the units spread over the codebook
    extractor.save_pretrained(tmp_path)
    assert json.loads((tmp_path / CONFIG_NAME).read_text())["encoder"] == "offline:whisper-base"
    reloaded = UnitExtractor.from_pretrained(tmp_path)
    assert reloaded.extract_batch(clips[:4]) == units
    deduplicated = reloaded.extract(clips[0], deduplicate=True)
    assert deduplicated == deduplicate_units(units[0]) and len(deduplicated) < len(units[0])
