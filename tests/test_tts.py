"""TTS back-ends: Piper joe (onnxruntime + espeak-ng phonemes), flite, espeak-ng, transformers pipelines."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil

import numpy as np
import pytest
import torch

from offline_assets import tts
from offline_assets.tts import (
    EspeakVoice,
    FliteVoice,
    InvalidSpeechError,
    PiperVoice,
    TransformersTTSVoice,
    TTSUnavailableError,
    check_speech,
    get_voice,
    list_voices,
)

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def joe():
    return PiperVoice()


def _assert_speech(audio: np.ndarray, min_seconds: float = 0.5):
    assert isinstance(audio, np.ndarray) and audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size >= min_seconds * 16000
    assert 1e-3 < float(np.abs(audio).max()) <= 1.0


# ------------------------------------------------------------------------------------------------------------------
# Piper
# ------------------------------------------------------------------------------------------------------------------


@needs_espeak
def test_piper_phonemes_and_ids(joe):
    phonemes = joe.phonemize("Hello, world. How are you?")
    assert phonemes.startswith("h") and ", " in phonemes and phonemes.endswith("?")
    ids = joe.phoneme_ids(phonemes)
    id_map = joe.phoneme_id_map
    assert ids[0] == id_map["^"][0] and ids[-1] == id_map["$"][0]
    # piper-phonemize's layout, what the voices were trained on: ^ _ p1 _ p2 _ ... pn _ $
    pad = id_map["_"][0]
    assert ids[1:-1:2] == [pad] * len(ids[1:-1:2]) and pad not in ids[2:-1:2]


@needs_espeak
def test_piper_synthesizes_deterministically_with_latent(joe):
    text = "Lovely weather today."
    audio, latent = joe.synthesize(text, return_latent=True)
    _assert_speech(audio)
    assert latent.shape[0] == 192 and latent.dtype == np.float32

    out = joe.infer(text)  # the same (voice seed, text) -> the same noise -> the same audio
    assert out.sampling_rate == 22050 and np.array_equal(out.latent, latent)
    assert out.audio.shape[0] == 256 * latent.shape[1]  # the decoder's hop: 256 samples per latent frame
    assert abs(audio.size / 16000 - out.audio.size / 22050) < 0.01
    assert np.array_equal(joe.synthesize(text), audio)

    other = joe.infer(text, seed=1234)
    assert other.latent.shape != latent.shape or not np.array_equal(other.latent, latent)

    joe._noise_frames_per_id = 0.1  # a noise buffer too short at first is grown, with the same result
    try:
        assert np.array_equal(joe.infer(text).latent, latent)
    finally:
        del joe._noise_frames_per_id


@needs_espeak
def test_piper_voice_pickles_without_session(joe):
    joe.synthesize("Ready.")
    clone = pickle.loads(pickle.dumps(joe))
    assert clone._session is None and clone.name == "piper:joe"


# ------------------------------------------------------------------------------------------------------------------
# flite and espeak-ng
# ------------------------------------------------------------------------------------------------------------------


@needs_flite
@pytest.mark.parametrize("voice", ["kal16", "awb", "rms", "slt"])
def test_flite_voices(voice):
    v = get_voice(f"flite:{voice}")
    assert isinstance(v, FliteVoice) and v.name == f"flite:{voice}" and v.sampling_rate == 16000
    _assert_speech(v.synthesize("Good morning, how can I help you?"))


@needs_espeak
@pytest.mark.parametrize("voice", ["en-us", "en-us+f3"])
def test_espeak_voices(voice):
    v = get_voice(f"espeak:{voice}", speed=160)
    assert isinstance(v, EspeakVoice)
    audios = v.synthesize_batch(["One two three.", "Four five six."])
    assert len(audios) == 2
    for audio in audios:
        _assert_speech(audio)


@needs_flite
@needs_espeak
def test_texts_never_become_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for voice in ("flite:kal16", "espeak:en-us"):
        for text in ("-o evil.wav hello there", "--help me please", "-voice slt -t hi"):
            _assert_speech(get_voice(voice).synthesize(text), min_seconds=0.3)
    assert os.listdir(tmp_path) == []  # no file written by a text read as an option


def test_missing_program_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(tts.shutil, "which", lambda name: None)
    with pytest.raises(TTSUnavailableError, match="apt-get install flite"):
        FliteVoice("slt").synthesize("hello")
    with pytest.raises(TTSUnavailableError, match="espeak-ng"):
        EspeakVoice().synthesize("hello")


def test_bad_texts_and_names():
    with pytest.raises(ValueError, match="nothing to say"):
        FliteVoice().synthesize("  ... ")
    with pytest.raises(TypeError):
        FliteVoice().synthesize(None)
    with pytest.raises(ValueError, match="unknown flite voice"):
        get_voice("flite:nobody")
    with pytest.raises(ValueError, match="unknown TTS back-end"):
        get_voice("festival:kal")
    with pytest.raises(ValueError, match="kind:voice"):
        get_voice("slt")
    with pytest.raises(ValueError, match="bad espeak-ng voice"):
        get_voice("espeak:en us; rm -rf /")


def test_check_speech():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    assert check_speech(tone, 16000) is not None
    with pytest.raises(InvalidSpeechError, match="silent"):
        check_speech(tone * 1e-4, 16000)
    with pytest.raises(InvalidSpeechError, match="clipped"):
        check_speech(np.clip(tone * 4, -1, 1), 16000)
    with pytest.raises(InvalidSpeechError, match="too short"):
        check_speech(tone[:800], 16000)
    with pytest.raises(InvalidSpeechError, match="non-empty"):
        check_speech(np.zeros(0, np.float32), 16000)
    with pytest.raises(InvalidSpeechError, match="NaN"):
        check_speech(np.full(16000, np.nan, np.float32), 16000)


def test_registry():
    names = list_voices()
    assert {"piper:joe", "flite:kal16", "flite:awb", "flite:rms", "flite:slt", "espeak:en-us"} <= set(names)
    assert set(list_voices(available_only=True)) <= set(names)
    assert isinstance(get_voice("piper:joe"), PiperVoice)
    voice = get_voice("transformers:/some/local/folder")
    assert isinstance(voice, TransformersTTSVoice) and voice.name == "transformers:/some/local/folder"


# ------------------------------------------------------------------------------------------------------------------
# transformers
# ------------------------------------------------------------------------------------------------------------------


def test_transformers_tts_voice_with_tiny_vits(tmp_path):
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    vocab = {c: i for i, c in enumerate(["<pad>", "<unk>"] + list(" abcdefghijklmnopqrstuvwxyz'.,?!"))}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = VitsTokenizer(str(tmp_path / "vocab.json"), phonemize=False, add_blank=True)
    config = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32, flow_size=8,
        spectrogram_bins=17, upsample_initial_channel=16, upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1, duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16, depth_separable_num_layers=1, sampling_rate=22050,
    )
    torch.manual_seed(0)
    model = VitsModel(config)
    with torch.no_grad():
        model.decoder.conv_post.weight.mul_(0.01)  # a random decoder saturates its tanh: keep it in range
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    voice = get_voice(f"transformers:{tmp_path}")
    audio = voice.synthesize("hello there, how are you?")
    assert voice.sampling_rate == 16000
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.size > 0
    assert np.array_equal(audio, voice.synthesize("hello there, how are you?"))  # seeded per text


# ------------------------------------------------------------------------------------------------------------------
# Round trip: TTS -> Whisper-base
# ------------------------------------------------------------------------------------------------------------------

ROUND_TRIP_SENTENCES = [
    "Please tell me how to make a cup of green tea.",
    "What is the tallest mountain in the world?",
    "My sister bought a new bicycle last weekend, and she rides it to work every morning.",
    "Could you suggest a good book to read on a rainy afternoon?",
]


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())


@pytest.mark.slow
@needs_flite
@needs_espeak
def test_round_trip_wer_whisper_base():
    import jiwer

    from offline_assets.whisper import transcribe, whisper_base

    model, processor = whisper_base()
    figures = {}
    for name in ("piper:joe", "flite:kal16", "flite:slt"):
        audios = get_voice(name).synthesize_batch(ROUND_TRIP_SENTENCES)
        hypotheses = [transcribe(model, processor, audio)[0] for audio in audios]
        references = [_normalise(r) for r in ROUND_TRIP_SENTENCES]
        figures[name] = jiwer.wer(references, [_normalise(h) for h in hypotheses])
        print(f"round trip {name}: WER {figures[name]:.3f} over {len(references)} sentences")
        for reference, hypothesis in zip(ROUND_TRIP_SENTENCES, hypotheses):
            if _normalise(reference) != _normalise(hypothesis):
                print(f"    {reference!r} -> {hypothesis!r}")
    for name, wer in figures.items():
        assert wer <= 0.10, (name, wer)
