# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The phonetic speech adaptor (`LlamaOmniConfig.speech_adaptor_phonemes`, `LlamaOmniPhoneticAdaptor`) and its
warm-up from speech and from written text (trainers/stages/adaptor_warmup.py), on tiny random models."""

from __future__ import annotations

import random

import pytest
import torch

from modeling_llama_omni import (
    LlamaOmniConfig,
    LlamaOmniForConditionalGeneration,
    LlamaOmniPhoneticAdaptor,
    LlamaOmniSpeechAdaptor,
    ctc_greedy_collapse,
)
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_config, tiny_model, tiny_model_and_processor

PHONEMES = 12
PHONETIC = {"speech_adaptor_phonemes": PHONEMES, "speech_adaptor_phoneme_size": 8,
            "speech_adaptor_num_layers": 1, "speech_adaptor_num_heads": 4}


def toy_phonemes(text: str) -> list[int]:
    """A stand-in phonemizer for the tiny vocabulary: one id in 1..PHONEMES-1 per letter."""
    return [1 + (ord(ch) % (PHONEMES - 1)) for ch in text.lower() if ch.isalpha()]


def test_config_validates_the_option():
    assert tiny_config().speech_adaptor_phonemes == 0
    assert isinstance(tiny_model().model.speech_adaptor, LlamaOmniSpeechAdaptor)  # released layout by default
    for bad in (-1, 1, 2.5, True):
        with pytest.raises(ValueError, match="speech_adaptor_phonemes"):
            tiny_config(speech_adaptor_phonemes=bad)
    with pytest.raises(ValueError, match="speech_adaptor_phoneme_size"):
        tiny_config(speech_adaptor_phonemes=PHONEMES, speech_adaptor_phoneme_size=0)
    config = tiny_config(**PHONETIC)
    assert LlamaOmniConfig.from_dict(config.to_dict()).speech_adaptor_phonemes == PHONEMES


def test_acoustic_head_reads_its_context_frames_and_no_others(tmp_path):
    import torch.nn.functional as F

    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="speech_adaptor_phoneme_context"):
            tiny_config(**PHONETIC, speech_adaptor_phoneme_context=bad)
    d_model = tiny_config().speech_encoder_config.d_model
    torch.manual_seed(0)
    states = torch.randn(1, 12, d_model)
    default = tiny_model(**PHONETIC).eval().model.speech_adaptor
    assert default.phoneme_in.in_features == 3 * d_model  # the default head: the frame and its two neighbours
    with torch.no_grad():  # left neighbour, frame, right neighbour, as the head has always read them
        padded = F.pad(states, (0, 0, 1, 1))
        by_hand = torch.cat([padded[:, :-2], padded[:, 1:-1], padded[:, 2:]], dim=-1)
        expected = default.phoneme_out(F.gelu(default.phoneme_mid(F.gelu(default.phoneme_in(by_hand)))))
        torch.testing.assert_close(default.phoneme_logits(states), expected)
    for context in (0, 3):
        model = tiny_model(**PHONETIC, speech_adaptor_phoneme_context=context).eval()
        head = model.model.speech_adaptor
        assert head.phoneme_in.in_features == (2 * context + 1) * d_model
        with torch.no_grad():
            logits = head.phoneme_logits(states)
            for offset, changes in ((context, True), (context + 1, False)):
                moved = states.clone()
                moved[0, 5 + offset] += 1.0  # a frame `offset` frames after frame 5
                assert torch.allclose(head.phoneme_logits(moved)[0, 5], logits[0, 5]) != changes
        model.save_pretrained(tmp_path / str(context))
        loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / str(context)).eval()
        assert loaded.config.speech_adaptor_phoneme_context == context
        with torch.no_grad():
            torch.testing.assert_close(loaded.model.speech_adaptor.phoneme_logits(states), logits)


def test_adaptor_reads_only_its_posteriors_and_ignores_padding():
    model = tiny_model(**PHONETIC).eval()
    adaptor = model.model.speech_adaptor
    assert isinstance(adaptor, LlamaOmniPhoneticAdaptor)
    d_model = model.config.speech_encoder_config.d_model
    k = model.config.speech_downsample_rate
    torch.manual_seed(0)
    states = torch.randn(2, 8 * k + 2, d_model)
    with torch.no_grad():
        both, lengths = model.model.get_speech_features(speech_encoder_hidden_states=states,
                                                        speech_encoder_lengths=torch.tensor([8 * k + 2, 5 * k + 3]))
        assert lengths.tolist() == [8, 5] and both.shape[-1] == model.config.text_config.hidden_size
        alone, _ = model.model.get_speech_features(speech_encoder_hidden_states=states[1:, : 5 * k + 3])
        # a padded clip in a batch gives what the clip alone gives, whatever follows its last used frame
        torch.testing.assert_close(both[1, :5], alone[0], atol=1e-5, rtol=1e-5)
        # the embeddings are a function of the phoneme posteriors alone
        logits = adaptor.phoneme_logits(states[:1])
        assert logits.shape == (1, 8 * k + 2, PHONEMES)
        torch.testing.assert_close(adaptor.embed_phonemes(logits.softmax(-1)), adaptor(states[:1]))
    with pytest.raises(ValueError, match=f"{PHONEMES} classes"):
        adaptor.embed_phonemes(torch.rand(1, 10, PHONEMES + 1))


def test_generate_from_audio_and_save_load_round_trip(tmp_path):
    model, processor = tiny_model_and_processor(**PHONETIC)
    inputs = processor(audios=[make_speech(seconds=1.0)], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    model.save_pretrained(tmp_path)
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert isinstance(loaded.model.speech_adaptor, LlamaOmniPhoneticAdaptor)
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    with torch.no_grad():
        again = loaded.generate(**inputs, max_new_tokens=5, do_sample=False)
    torch.testing.assert_close(getattr(out, "sequences", out), getattr(again, "sequences", again))


def test_simulated_posteriors_spell_the_phonemes():
    from trainers.stages.adaptor_warmup import simulate_posteriors

    units = [3, 5, 3, 7, 2, 9]
    rng = random.Random(0)
    for _ in range(20):
        posteriors = simulate_posteriors(units, PHONEMES, rng, substitution=0.0, deletion=0.0)
        torch.testing.assert_close(posteriors.sum(-1), torch.ones(posteriors.shape[0]))
        assert posteriors.min() >= 0 and posteriors.shape[1] == PHONEMES
        assert ctc_greedy_collapse(posteriors.argmax(-1).tolist(), blank_id=0) == units
    lengths = {simulate_posteriors(units, PHONEMES, rng).shape[0] for _ in range(50)}
    assert len(lengths) > 3  # the pace varies
    with pytest.raises(ValueError, match="0 is the blank"):
        simulate_posteriors([0, 3], PHONEMES, rng)
    with pytest.raises(ValueError, match="phoneme ids"):
        simulate_posteriors([PHONEMES], PHONEMES, rng)


def test_spoken_units_leave_out_punctuation():
    pytest.importorskip("offline_assets.sources")
    from processing.instructs2s.phonemes import load_phoneme_id_map, spoken_units, text_to_units

    try:
        id_map = load_phoneme_id_map()
        _, _, with_marks = text_to_units("Hello, world! What's up?")
    except (ModuleNotFoundError, FileNotFoundError, OSError) as e:  # no joe voice or espeak-ng on this machine
        pytest.skip(str(e))
    heard = spoken_units("Hello, world! What's up?")
    marks = {id_map[s] for s in ",!?"}
    assert marks & set(with_marks) and not marks & set(heard)
    assert heard == [u for u in with_marks if u not in marks]
    assert id_map[" "] in heard  # word boundaries are kept
    assert spoken_units("...") == []
    with pytest.raises(TypeError):
        spoken_units(3)


datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def data():
    from tests.test_trainers import make_dataset

    return datasets.DatasetDict({"train": make_dataset(6), "test": make_dataset(2, seed=1)})


def test_warmup_learns_from_text_then_speech(tmp_path, data):
    from trainers.stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor

    model, processor = tiny_model_and_processor(seed=0, **PHONETIC)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    corpus = [f"question {i}" for i in range(10)] + ["a question", "the question"]
    config = AdaptorWarmupConfig(output_dir=str(tmp_path / "warm"), max_minutes=0.1, max_epochs=30, batch_size=3,
                                 learning_rate=5e-3, warmup_steps=0, logging_steps=5, eval_examples=2,
                                 text_only_minutes=0.05, phoneme_only_minutes=0.05, text_batch_size=4)
    summary = warmup_adaptor(model, data, config, processor=processor, progress=False, text_corpus=corpus,
                             phonemize=toy_phonemes)
    assert set(summary["phase_steps"]) == {"text", "phonemes", "speech"}
    assert all(n > 0 for n in summary["phase_steps"].values())
    assert summary["text_sentences"] == len(corpus)
    assert {e["phase"] for e in summary["log_history"]} <= {"text", "phonemes", "speech"}
    assert all((e["epoch"] is None) == (e["phase"] == "text") for e in summary["log_history"])
    assert all(e["epoch"] is None or e["epoch"] >= 0 for e in summary["log_history"])
    speech = [e for e in summary["log_history"] if e["phase"] == "speech"]
    assert speech and {"ctc", "phoneme_ctc", "text_ctc"} <= set(speech[-1])
    phoneme_losses = [e["phoneme_ctc"] for e in summary["log_history"] if "phoneme_ctc" in e]
    assert phoneme_losses[-1] < phoneme_losses[0]
    after = summary["greedy_ctc_wer_after"]
    assert after["train_phoneme_error_rate"] < summary["greedy_ctc_wer_before"]["train_phoneme_error_rate"]
    saved = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / "warm").state_dict()
    for name, tensor in before.items():
        assert torch.equal(saved[name], tensor) != name.startswith("model.speech_adaptor."), name


def test_warmup_refuses_text_settings_it_cannot_use(tmp_path, data):
    from trainers.stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor

    model, processor = tiny_model_and_processor(seed=0)
    with pytest.raises(ValueError, match="need a phonetic adaptor"):
        warmup_adaptor(model, data, AdaptorWarmupConfig(output_dir=str(tmp_path)), processor=processor,
                       progress=False, text_corpus=["a question"])
    phonetic, processor = tiny_model_and_processor(seed=0, **PHONETIC)
    with pytest.raises(ValueError, match="needs a text_corpus"):
        warmup_adaptor(phonetic, data, AdaptorWarmupConfig(output_dir=str(tmp_path), text_only_minutes=1),
                       processor=processor, progress=False, phonemize=toy_phonemes)
    with pytest.raises(ValueError, match="outside 1..11"):
        warmup_adaptor(phonetic, data, AdaptorWarmupConfig(output_dir=str(tmp_path)), processor=processor,
                       progress=False, phonemize=lambda text: [PHONEMES])
    with pytest.raises(ValueError, match="text_batch_size"):
        AdaptorWarmupConfig(output_dir=str(tmp_path), text_batch_size=0)


def test_build_default_text_corpus_reads_training_sentences_only(tmp_path):
    import json

    from trainers.scripts.build_default import adaptor_text_corpus

    with pytest.raises(FileNotFoundError, match="corpus step"):
        adaptor_text_corpus(tmp_path)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = [
        {"split": "train", "response": "The capital of Norway is Oslo. Yes! It is a very fine city indeed."},
        {"split": "validation", "response": "Never read this sentence at all."},
        {"split": "train", "response": "Short. " + "word " * 30},
    ]
    (corpus / "corpus-answer-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (corpus / "DONE.json").write_text(json.dumps({"records": 3}))
    sentences = adaptor_text_corpus(tmp_path)
    assert sorted(sentences) == ["It is a very fine city indeed.", "The capital of Norway is Oslo."]
    assert len(adaptor_text_corpus(tmp_path, limit=1)) == 1


def test_model_card_describes_the_adaptor_it_has():
    from hub_cards.inspection import _adaptor_description

    encoder, text = {"d_model": 512}, {"hidden_size": 576}
    released = {"speech_downsample_rate": 5, "speech_adaptor_hidden_size": 1024, "speech_adaptor_hidden_act": "relu"}
    assert _adaptor_description(released, encoder, text) == (
        "stacks k=5 frames, Linear(2560 -> 1024) -> relu -> Linear(-> 576)")
    layered = dict(released, speech_adaptor_num_layers=2)
    assert "relu -> 2 Transformer layers -> Linear(-> 576)" in _adaptor_description(layered, encoder, text)
    phonetic = dict(layered, speech_adaptor_phonemes=151, speech_adaptor_phoneme_size=256)
    described = _adaptor_description(phonetic, encoder, text)
    assert described.startswith("phonetic: 151 phoneme classes") and "Linear(1280 -> 1024)" in described


def test_warmup_refuses_sentences_whose_tokens_outnumber_their_frames(tmp_path, data):
    from trainers.stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor

    model, processor = tiny_model_and_processor(seed=0, **PHONETIC)
    config = AdaptorWarmupConfig(output_dir=str(tmp_path), text_only_minutes=0.05, max_minutes=0.05)
    with pytest.raises(ValueError, match="more tokens than their phonemes"):
        warmup_adaptor(model, data, config, processor=processor, progress=False, text_corpus=["1 2 3 4 5 6 7 8 9"],
                       phonemize=lambda text: [1])  # one phoneme: too few frames for nine tokens
