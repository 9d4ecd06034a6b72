# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Every audio input form that the README and the processor's docstrings name, through `processor(audio=...)`:
a path, raw samples with `sampling_rate=`, an `(array, sampling_rate)` tuple, a `{"array", "sampling_rate"}` dict
(and `{"path"}` / `{"bytes"}`), a torchcodec `AudioDecoder`, and lists of those for a batch; ambiguous forms are
clear errors."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import soundfile as sf
import torch

from processing import SAMPLING_RATE, load_audio
from processing.audio_llama_omni import as_clip_list, split_array_and_rate
from tests.tiny_components import make_speech, make_tiny_processor

SR = SAMPLING_RATE


@pytest.fixture(scope="module")
def processor():
    return make_tiny_processor()


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return make_speech(1.0, seed=3).astype(np.float32)


@pytest.fixture(scope="module")
def wav(tmp_path_factory, clip) -> pathlib.Path:
    path = tmp_path_factory.mktemp("forms") / "clip.wav"
    sf.write(path, clip, SR, subtype="FLOAT")  # float on disk: decodes to exactly `clip`
    return path


def _decoder(path):
    decoders = pytest.importorskip("torchcodec.decoders")
    try:
        return decoders.AudioDecoder(str(path))
    except Exception as e:  # FFmpeg libraries missing
        pytest.skip(f"torchcodec cannot decode here: {e}")


def _one_clip_forms(clip: np.ndarray, wav: pathlib.Path) -> dict[str, tuple[object, dict]]:
    """name -> (audio argument, extra processor kwargs): every documented form of the same one clip."""
    return {
        "path str": (str(wav), {}),
        "pathlib.Path": (wav, {}),
        "array + sampling_rate": (clip, {"sampling_rate": SR}),
        "tensor + sampling_rate": (torch.from_numpy(clip), {"sampling_rate": SR}),
        "list of numbers + sampling_rate": (clip.tolist(), {"sampling_rate": SR}),
        "(array, sr) tuple": ((clip, SR), {}),
        "(tensor, sr) tuple": ((torch.from_numpy(clip), SR), {}),
        "(list, sr) tuple": ((clip.tolist(), SR), {}),
        "array dict": ({"array": clip, "sampling_rate": SR}, {}),
        "path dict": ({"path": str(wav)}, {}),
        "bytes dict": ({"bytes": wav.read_bytes()}, {}),
    }


def test_every_one_clip_form_gives_the_same_inputs(processor, clip, wav):
    reference = processor(audio=clip, sampling_rate=SR)
    forms = _one_clip_forms(clip, wav)
    forms["torchcodec AudioDecoder"] = (_decoder(wav), {})
    for name, (audio, kwargs) in forms.items():
        out = processor(audio=audio, **kwargs)
        assert out["input_features"].shape[0] == 1, name
        torch.testing.assert_close(out["input_features"], reference["input_features"], msg=name, atol=1e-6, rtol=0)
        assert out["input_ids"].tolist() == reference["input_ids"].tolist(), name


def test_a_list_of_every_form_is_a_batch(processor, clip, wav):
    forms = _one_clip_forms(clip, wav)
    # raw samples without their own rate take the call's sampling_rate; the others carry theirs
    batch = [audio for audio, _ in forms.values()] + [_decoder(wav)]
    out = processor(audio=batch, sampling_rate=SR)
    single = processor(audio=clip, sampling_rate=SR)["input_features"][0]
    assert out["input_features"].shape[0] == len(batch) == out["input_ids"].shape[0]
    for i in range(len(batch)):
        torch.testing.assert_close(out["input_features"][i], single, atol=1e-6, rtol=0)


def test_tuple_rate_is_the_clips_own(processor, clip):
    slow = make_speech(1.0, sr=22050, seed=4)
    expected = load_audio(slow, sampling_rate=22050)
    np.testing.assert_array_equal(load_audio((slow, 22050)), expected)
    np.testing.assert_array_equal(load_audio((slow, 22050), sampling_rate=SR), expected)  # the tuple's rate wins
    # a batch mixing a 16 kHz array (rate from sampling_rate=) and a 22.05 kHz tuple
    out = processor(audio=[clip, (slow, 22050)], sampling_rate=SR)
    alone = processor(audio=(slow, 22050))
    frames = int(alone["feature_attention_mask"].sum())
    torch.testing.assert_close(out["input_features"][1, :, :frames], alone["input_features"][0], atol=1e-6, rtol=0)


def test_tuple_of_two_clips_stays_a_batch(processor, clip):
    other = make_speech(0.5, seed=5)
    assert len(as_clip_list((clip, other))) == 2
    out = processor(audio=(clip, other), sampling_rate=SR)
    assert out["input_features"].shape[0] == 2


def test_chat_template_audio_item_takes_a_tuple(processor, clip):
    content = [{"type": "audio", "audio": (clip, SR)}, {"type": "text", "text": "hi"}]
    conversation = [{"role": "user", "content": content}]
    out = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True)
    reference = processor(audio=clip, sampling_rate=SR)
    torch.testing.assert_close(out["input_features"], reference["input_features"], atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda clip, wav: [clip, SR], r"ambiguous audio.*bare numbers.*\(array, sampling_rate\)"),
        (lambda clip, wav: (str(wav), SR), r"carries its own sampling rate.*path alone"),
        (lambda clip, wav: (SR, clip), r"samples first and the sampling rate second"),
        (lambda clip, wav: (clip, 0), r"sampling_rate must be a positive integer"),
        (lambda clip, wav: (clip, 16000.5), r"sampling_rate must be a positive integer"),
        (lambda clip, wav: clip, r"sampling_rate is required.*\(array, sampling_rate\) tuple"),
        (lambda clip, wav: (np.stack([clip, clip, clip] * 4), SR), r"ambiguous audio shape .*list of 1-D arrays"),
    ],
)
def test_ambiguous_or_wrong_forms_are_clear_errors(processor, clip, wav, make, match):
    with pytest.raises(ValueError, match=match):
        processor(audio=make(clip, wav))


def test_split_array_and_rate():
    x = np.zeros(4, dtype=np.float32)
    assert split_array_and_rate((x, 16000))[1] == 16000
    assert split_array_and_rate(([0.0, 0.1], 8000)) is not None
    assert split_array_and_rate(([[0.0, 0.1], [0.1, 0.0]], 8000)) is not None  # (channels, samples) list
    assert split_array_and_rate([x, 16000]) is None  # only a tuple is the pair form
    assert split_array_and_rate((x, x)) is None
    assert split_array_and_rate((0.1, 0.2)) is None  # two samples
