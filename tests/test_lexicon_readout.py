# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The lexicon read-out adaptor (`LlamaOmniConfig.speech_adaptor_lexicon`, `LlamaOmniLexiconAdaptor`) and its
builder (trainers/stages/lexicon_readout.py), on tiny random models, the tiny tokenizer and a toy phonemizer."""

from __future__ import annotations

import math

import pytest
import torch

from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration
from modeling_llama_omni.lexicon_readout import LlamaOmniLexiconAdaptor
from tests.tiny_components import make_speech, make_tiny_tokenizer
from tests.tiny_models import tiny_config, tiny_model_and_processor

pytest.importorskip("flashlight.lib.text.decoder")

PHONEMES = 30  # 0 blank, 1 the word separator, 2 a stress mark, 3..28 the letters
SPACE, STRESS = 1, 2
TEXTS = [
    "What is the capital of Norway? The capital of Norway is Oslo.",
    "What is the capital of France? The capital of France is Paris.",
    "Tell me a story about a cat. The cat sat on the mat.",
]


def toy_units(word: str) -> list[int]:
    """A stand-in phonemizer: one unit per letter (3..28)."""
    return [3 + ord(ch) - ord("a") for ch in word.lower() if "a" <= ch <= "z"]


def build(**kwargs):
    from trainers.stages.lexicon_readout import build_lexicon_readout

    return build_lexicon_readout(TEXTS, make_tiny_tokenizer(), phonemize=toy_units, space_unit=SPACE,
                                 blank_like_units=[STRESS], vocabulary_words=False, **kwargs)


def lexicon_model(seed: int = 0):
    from trainers.stages.lexicon_readout import lexicon_readout_model

    readout = build()
    model, processor = tiny_model_and_processor(seed=seed, speech_adaptor_phonemes=PHONEMES)
    return lexicon_readout_model(model, readout), processor, readout


def posteriors_of(words: list[str], stress_first: bool = True) -> torch.Tensor:
    """Log-posteriors that spell `words` (a frame per unit, a blank between, a separator between words, a stress mark
    before the first word's first unit), as an acoustic head would give them."""
    frames = []
    for i, word in enumerate(words):
        if i:
            frames.append(SPACE)
        if stress_first and i == 0:
            frames.append(STRESS)
        for unit in toy_units(word):
            frames += [unit, 0]
    logits = torch.full((len(frames), PHONEMES), -8.0)
    logits[torch.arange(len(frames)), torch.tensor(frames)] = 0.0
    return logits.log_softmax(-1)[None]


def test_builder_makes_a_lexicon_of_the_texts_words():
    readout = build()
    words = readout.words
    assert {"what", "capital", "norway", "oslo", "the"} <= set(words)
    assert readout.settings["size"] == len(words) and readout.stats["text_words"] == len(words)
    i = words.index("norway")
    units = readout.buffers["lexicon_units"][i]
    assert units[units >= 0].tolist() == toy_units("norway")
    tokenizer = make_tiny_tokenizer()
    # middle form keeps the texts' casing, initial form is capitalised, no leading space
    tokens = readout.buffers["lexicon_tokens"][i]
    assert tokenizer.decode(tokens[tokens >= 0].tolist()) == " Norway"
    initial = readout.buffers["lexicon_initial_tokens"][words.index("the")]
    assert tokenizer.decode(initial[initial >= 0].tolist()) == "The"
    questions = readout.buffers["lexicon_question_start"]
    assert bool(questions[words.index("what")]) and not bool(questions[words.index("the")])
    # bigrams: "capital of" twice per capital text, with the sentence start as context size
    pairs = {tuple(p): c for p, c in zip(readout.buffers["lm_bigrams"].tolist(),
                                         readout.buffers["lm_bigram_counts"].tolist())}
    assert pairs[(words.index("capital"), words.index("of"))] == 4
    assert pairs[(len(words), words.index("what"))] == 2  # sentence starts
    assert math.isclose(float(readout.buffers["lm_unigram"].exp().sum()), 1.0, rel_tol=0.05)
    with pytest.raises(ValueError, match="no words"):
        from trainers.stages.lexicon_readout import build_lexicon_readout

        build_lexicon_readout(["123 !"], tokenizer, phonemize=toy_units, space_unit=SPACE, vocabulary_words=False)
    with pytest.raises(ValueError, match="space_unit"):
        build_lexicon_readout(TEXTS, tokenizer, phonemize=toy_units)


def test_read_out_spells_words_and_makes_the_llm_tokens():
    model, _, readout = lexicon_model()
    adaptor = model.model.speech_adaptor
    assert isinstance(adaptor, LlamaOmniLexiconAdaptor)
    spoken = ["what", "is", "the", "capital", "of", "norway"]
    words = adaptor.read_out_logits(posteriors_of(spoken))[0]
    assert [readout.words[w] for w in words] == spoken
    tokenizer = make_tiny_tokenizer()
    assert tokenizer.decode(adaptor.words_to_tokens(words)) == "What is the capital of Norway?"
    statement = adaptor.read_out_logits(posteriors_of(["the", "cat", "sat"]))[0]
    assert tokenizer.decode(adaptor.words_to_tokens(statement)) == "The cat sat."
    # a word missing its last unit is still read as the nearest lexicon word the bigrams favour
    near = adaptor.read_out_logits(posteriors_of(["the", "capital", "of", "norwa"]))[0]
    assert [readout.words[w] for w in near] == ["the", "capital", "of", "norway"]
    # two clips in a batch, the second shorter: each read alone
    a, b = posteriors_of(["tell", "me", "a", "story"]), posteriors_of(["oslo"])
    batch = torch.full((2, a.shape[1], PHONEMES), -30.0)
    batch[0], batch[1, : b.shape[1]] = a[0], b[0]
    both = adaptor.read_out_logits(batch, torch.tensor([a.shape[1], b.shape[1]]))
    assert [[readout.words[w] for w in x] for x in both] == [["tell", "me", "a", "story"], ["oslo"]]
    assert adaptor.words_to_tokens([]) == []
    with pytest.raises(ValueError, match="logits must have shape"):
        adaptor.read_out_logits(torch.zeros(1, 4, PHONEMES + 1))
    with pytest.raises(RuntimeError, match="read_out"):
        adaptor(torch.zeros(1, 4, 8))


def test_generate_reads_the_question_as_text_and_round_trips(tmp_path):
    model, processor, _ = lexicon_model()
    # an acoustic head that hears "a" (or the blank, or a word separator) in every frame: a read-out of a's
    head = model.model.speech_adaptor.phoneme_out
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-10.0)
        head.bias[[0, 3, SPACE]] = torch.tensor([-1.0, 0.0, -1.0])
    inputs = processor(audios=[make_speech(seconds=1.0)], sampling_rate=16000, return_tensors="pt")
    read = model.model.read_out_speech(inputs["input_features"], inputs.get("feature_attention_mask"))
    assert len(read) == 1 and read[0]
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    # the same as generating from the prompt with the read-out tokens in place of the placeholders
    ids = inputs["input_ids"][0].tolist()
    first = ids.index(model.config.speech_token_id)
    last = len(ids) - ids[::-1].index(model.config.speech_token_id)
    text_ids = torch.tensor([ids[:first] + read[0] + ids[last:]])
    with torch.no_grad():
        expected = model.generate(input_ids=text_ids, attention_mask=torch.ones_like(text_ids), max_new_tokens=6,
                                  min_new_tokens=6, do_sample=False)
    assert out[0, -6:].tolist() == expected[0, -6:].tolist()
    # the output starts with the caller's prompt, as any model's does (the answer = out[:, prompt length:])
    assert out.shape[1] == inputs["input_ids"].shape[1] + 6
    assert torch.equal(out[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])
    # get_speech_features gives the LLM's own embeddings of the tokens read out
    with torch.no_grad():
        embeddings, lengths = model.model.get_speech_features(inputs["input_features"],
                                                              inputs.get("feature_attention_mask"))
        assert lengths.tolist() == [len(read[0])]
        torch.testing.assert_close(embeddings[0, : len(read[0])],
                                   model.get_input_embeddings()(torch.tensor(read[0])))
    # forward() with the processor's placeholder count (one per 0.1 s, more than the words read) explains what to do
    assert inputs["input_ids"].eq(model.config.speech_token_id).sum() != len(read[0])
    with pytest.raises(ValueError, match="read_out_speech"):
        model(**inputs)
    model.save_pretrained(tmp_path)
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert isinstance(loaded.model.speech_adaptor, LlamaOmniLexiconAdaptor)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor, msg=name)
    assert loaded.model.read_out_speech(inputs["input_features"], inputs.get("feature_attention_mask")) == read
    # a copy leaves the beam search (and its lock) behind and builds its own
    import copy

    copied = copy.deepcopy(loaded)
    assert copied.model.read_out_speech(inputs["input_features"], inputs.get("feature_attention_mask")) == read


def test_config_validates_the_lexicon_settings():
    settings = build().settings
    config = tiny_config(speech_adaptor_phonemes=PHONEMES, speech_adaptor_lexicon=settings)
    assert LlamaOmniConfig.from_dict(config.to_dict()).speech_adaptor_lexicon == settings
    with pytest.raises(ValueError, match="speech_adaptor_phonemes"):
        tiny_config(speech_adaptor_lexicon=settings)
    with pytest.raises(ValueError, match="lacks"):
        tiny_config(speech_adaptor_phonemes=PHONEMES, speech_adaptor_lexicon={"size": 3})
    with pytest.raises(ValueError, match="unknown keys"):
        tiny_config(speech_adaptor_phonemes=PHONEMES, speech_adaptor_lexicon={**settings, "beam": 3})
    with pytest.raises(ValueError, match="space_unit"):
        tiny_config(speech_adaptor_phonemes=PHONEMES, speech_adaptor_lexicon={**settings, "space_unit": PHONEMES})
    with pytest.raises(ValueError, match="phonetic adaptor"):
        from trainers.stages.lexicon_readout import lexicon_readout_model

        lexicon_readout_model(tiny_model_and_processor()[0], build())
    model, _ = tiny_model_and_processor()
    with pytest.raises(ValueError, match="needs a read-out adaptor"):
        model.model.read_out_speech(speech_encoder_hidden_states=torch.zeros(1, 4, 8))


def test_model_card_describes_the_read_out():
    from hub_cards.inspection import _adaptor_description

    config = {"speech_downsample_rate": 5, "speech_adaptor_hidden_size": 512, "speech_adaptor_phonemes": 151,
              "speech_adaptor_lexicon": {"size": 35451, "bigrams": 163199}}
    described = _adaptor_description(config, {"d_model": 512}, {"hidden_size": 576})
    assert described.startswith("lexicon read-out: 151 phoneme classes") and "35451 words" in described
    assert "3 frames in" in described  # the default window: the frame and its two neighbours
    wider = _adaptor_description({**config, "speech_adaptor_phoneme_context": 3}, {"d_model": 512},
                                 {"hidden_size": 576})
    assert "7 frames in" in wider


def test_warmup_can_train_the_acoustic_head_alone(tmp_path):
    datasets = pytest.importorskip("datasets")
    from tests.test_trainers import make_dataset
    from trainers.stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor

    data = datasets.DatasetDict({"train": make_dataset(4), "test": make_dataset(2, seed=1)})
    model, processor = tiny_model_and_processor(seed=0, speech_adaptor_phonemes=12, speech_adaptor_phoneme_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = AdaptorWarmupConfig(output_dir=str(tmp_path / "warm"), max_minutes=0, phoneme_only_minutes=0.03,
                                 batch_size=2, learning_rate=5e-3, warmup_steps=0, logging_steps=2, eval_examples=2,
                                 time_masks=2, time_mask_frames=4, feature_masks=2, feature_mask_width=4,
                                 state_dropout=0.1)  # build-default's masking (LEXICON_WARMUP), scaled down
    summary = warmup_adaptor(model, data, config, processor=processor, progress=False,
                             phonemize=lambda text: [1 + (ord(c) % 11) for c in text.lower() if c.isalpha()])
    assert set(summary["phase_steps"]) == {"phonemes"} and summary["phase_steps"]["phonemes"] > 0
    assert summary["final_ctc_loss"] is None  # no token CTC was trained
    after = summary["greedy_ctc_wer_after"]
    assert set(after) == {"train_phoneme_error_rate", "eval_phoneme_error_rate"}  # no token read-out to report
    saved = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / "warm").state_dict()
    changed = {name for name, tensor in before.items() if not torch.equal(saved[name], tensor)}
    assert changed and all(name.startswith("model.speech_adaptor.phoneme_") for name in changed)
    with pytest.raises(ValueError, match="max_minutes"):
        AdaptorWarmupConfig(output_dir=str(tmp_path), max_minutes=0)


def test_build_default_lexicon_text_keeps_out_validation_development_and_held_out_questions(tmp_path):
    import json

    from processing.instructs2s.phoneme_corpus import ANSWERS_FILE, seed_instructions, training_questions
    from trainers.scripts.build_default import lexicon_dev_question, lexicon_texts

    with pytest.raises(FileNotFoundError, match="corpus step"):
        lexicon_texts(tmp_path)
    questions = training_questions()
    dev = [q for q in questions if lexicon_dev_question(q["id"])]
    assert 0.02 < len(dev) / len(questions) < 0.08  # ~5 %, by a hash of the id: the same on every machine
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = [{"split": "train", "response": "The capital of Norway is Oslo."},
               {"split": "validation", "response": "Never read this sentence."}]
    (corpus / "corpus-answer-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    answered = next(q for q in questions if not lexicon_dev_question(q["id"]))
    (corpus / ANSWERS_FILE).write_text(json.dumps({"id": answered["id"], "question": answered["question"],
                                                   "raw_response": "An answer."}) + "\n")
    (corpus / "DONE.json").write_text("{}")
    texts = lexicon_texts(tmp_path)
    assert "The capital of Norway is Oslo." in texts and "Never read this sentence." not in texts
    assert answered["question"] in texts
    # (a development question's text stays in only where another, training, question has the same text)
    twins = {q["question"] for q in questions if not lexicon_dev_question(q["id"])}
    assert {q["question"] for q in dev} & set(texts) <= twins
    assert len({q["question"] for q in dev} - twins) > 0.95 * len(dev)
    assert not {q["instruction"] for q in seed_instructions("heldout")} & set(texts)
    assert len(texts) == 1 + len(questions) - len(dev)
