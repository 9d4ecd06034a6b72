"""Training the speech decoder on phoneme units from text alone (trainers/stages/phoneme_decoder.py), on a tiny
random model with a few synthetic records whose units spell the answer's letters."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from tests.tiny_components import EOT_TOKEN, TINY_VOCAB_SIZE
from tests.tiny_models import tiny_ar_config_kwargs, tiny_decoder_config, tiny_model_and_processor
from trainers.stages.collator import IGNORE_INDEX
from trainers.stages.phoneme_decoder import (
    PhonemeDecoderConfig,
    PhonemeStateCache,
    TextTurnEncoder,
    build_state_cache,
    load_phoneme_decoder,
    phoneme_error_rate,
    train_phoneme_decoder,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

UNIT_VOCAB = 30
TEXTS = [
    "The sun is hot.", "I like green tea.", "It is a big dog.", "We read books.", "Hello there, friend.",
    "Blue water is cold.", "One two three.", "Good night.", "A small red house.", "Music is happy.",
]
PROMPTS = ["Tell me something.", "What is the weather like today?", "Can you tell me a story?"]


def letter_units(text: str) -> list[int]:
    """Synthetic 'phonemes': a..z -> 0..25, space -> 26, anything else -> 27."""
    return [ord(c) - 97 if "a" <= c <= "z" else 26 if c == " " else 27 for c in text.lower()]


def make_records(texts=TEXTS, validation_copies: bool = True) -> list[dict]:
    """One training record per text and, with `validation_copies`, the same answers again as the validation split
    (an overfit check: the PER measures what the decoder learnt of the training answers)."""
    splits = ("train", "validation") if validation_copies else ("train",)
    return [
        {"id": f"{split}-{i}", "source": "answer", "prompt": PROMPTS[i % len(PROMPTS)], "response": text,
         "raw_response": text, "units": letter_units(text), "split": split}
        for i, text in enumerate(texts) for split in splits
    ]


def new_ctc_decoder(model, token_embeddings: bool = True, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model.replace_speech_decoder(
        speech_decoder_type="ctc", unit_vocab_size=UNIT_VOCAB, ctc_upsample_factor=4,
        speech_decoder_token_embeddings=token_embeddings,
        speech_decoder_config=tiny_decoder_config(hidden_size=32, intermediate_size=64),
    )


@pytest.fixture(scope="module")
def model_and_processor():
    model, processor = tiny_model_and_processor()
    new_ctc_decoder(model)
    return model, processor


@pytest.fixture(scope="module")
def cache_dir(model_and_processor, tmp_path_factory):
    model, processor = model_and_processor
    folder = tmp_path_factory.mktemp("phoneme_cache")
    build_state_cache(model, processor, make_records(), folder, batch_size=8, progress=False)
    return folder


def small_config(**overrides) -> PhonemeDecoderConfig:
    kwargs = dict(max_steps=60, warmup_steps=5, learning_rate=3e-2, eval_every=30, log_every=10, batch_tokens=200,
                  checkpoint_every=30, progress=False)
    kwargs.update(overrides)
    return PhonemeDecoderConfig(**kwargs)


# -- phoneme error rate ------------------------------------------------------------------------------------------------


def test_phoneme_error_rate_is_corpus_level_edit_distance():
    assert phoneme_error_rate([[1, 2, 3]], [[1, 2, 3]]) == 0.0
    # a substitution (4 for 2) and an insertion (9), then a deletion (of 7): 3 errors over 5 reference ids
    assert phoneme_error_rate([[1, 4, 3, 9], [5]], [[1, 2, 3], [5, 7]]) == pytest.approx(3 / 5)
    # corpus level, not the mean of per-answer rates (that would be (1/1 + 0/4) / 2)
    assert phoneme_error_rate([[], [1, 2, 3, 4]], [[8], [1, 2, 3, 4]]) == pytest.approx(1 / 5)
    assert phoneme_error_rate([[1, 1, 1, 1]], [[1]]) == pytest.approx(3.0)  # insertions can exceed 1
    assert phoneme_error_rate([torch.tensor([3, 2, 1])], [np.array([3, 2, 1])]) == 0.0
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        phoneme_error_rate([[1]], [[1], [2]])
    with pytest.raises(ValueError, match="undefined"):
        phoneme_error_rate([[1]], [[]])
    with pytest.raises(ValueError, match="integer ids"):
        phoneme_error_rate([[1.5]], [[1]])
    with pytest.raises(ValueError, match="sequence of integer ids"):
        phoneme_error_rate(["abc"], [[1]])


# -- the state cache ---------------------------------------------------------------------------------------------------


def test_text_turn_labels_are_the_answer_and_its_end_of_turn(model_and_processor):
    _, processor = model_and_processor
    encoder = TextTurnEncoder(processor, [EOT_TOKEN])
    input_ids, labels = encoder.encode("Tell me something.", "The sun is hot.")
    answer = [t for t, label in zip(input_ids, labels) if label != IGNORE_INDEX]
    assert processor.tokenizer.decode(answer) == "The sun is hot." + EOT_TOKEN
    assert input_ids[-len(answer):] == answer  # the answer ends the sequence
    prompt = processor.tokenizer.decode(input_ids[: -len(answer)])
    assert processor.default_system_prompt in prompt and "Tell me something." in prompt


def test_cached_states_are_the_llm_states_that_predicted_each_answer_token(model_and_processor, cache_dir):
    model, processor = model_and_processor
    cache = PhonemeStateCache(cache_dir)
    records = {r["id"]: r for r in cache.load()}
    assert len(records) == len(make_records())
    assert {r["split"] for r in records.values()} == {"train", "validation"}
    assert len(cache.load("validation")) == len(TEXTS)
    encoder = TextTurnEncoder(processor, [EOT_TOKEN])
    for record in make_records()[:4]:
        input_ids, labels = encoder.encode(record["prompt"], record["raw_response"])
        labels = torch.tensor([labels])
        with torch.no_grad():  # one answer alone, no shared-prefix cache, no padding
            hidden = model.model(input_ids=torch.tensor([input_ids])).last_hidden_state
        states, lengths = model.response_states(hidden, labels)
        cached = records[record["id"]]
        assert cached["states"].dtype == torch.float16
        torch.testing.assert_close(cached["states"].float(), states[0, : int(lengths[0])], atol=2e-3, rtol=2e-3)
        assert cached["tokens"].tolist() == model.response_tokens(labels)[0].tolist()
        assert cached["units"].tolist() == record["units"]


def test_cache_build_resumes_and_refuses_another_llm(model_and_processor, cache_dir, tmp_path):
    model, processor = model_and_processor
    records = make_records()
    first = build_state_cache(model, processor, records[:7], tmp_path, batch_size=3, shard_size=4, progress=False)
    assert (first["written"], first["skipped"]) == (7, 0) and first["tokens_per_second"] > 0
    again = build_state_cache(model, processor, records, tmp_path, batch_size=3, shard_size=4, progress=False)
    assert (again["written"], again["skipped"]) == (len(records) - 7, 7)
    resumed = {r["id"]: r for r in PhonemeStateCache(tmp_path).load()}
    at_once = {r["id"]: r for r in PhonemeStateCache(cache_dir).load()}
    assert resumed.keys() == at_once.keys()
    for key, record in at_once.items():  # other batches and paddings, the same states
        torch.testing.assert_close(resumed[key]["states"].float(), record["states"].float(), atol=2e-3, rtol=2e-3)
        assert resumed[key]["units"].tolist() == record["units"].tolist()
    other, _ = tiny_model_and_processor(seed=1)
    with pytest.raises(ValueError, match="another LLM"):
        build_state_cache(other, processor, records, tmp_path, progress=False)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"units": [3, UNIT_VOCAB + 200]}, r"must lie in \[0, 151\)"),
        ({"units": [-1, 2]}, r"must lie in \[0, 151\)"),
        ({"units": []}, "is empty"),
        ({"units": [1.5, 2]}, "integer phoneme ids"),
        ({"units": "abc"}, "integer phoneme ids"),
        ({"raw_response": "  "}, "non-empty string"),
        ({"prompt": "Say <speech> now"}, "speech placeholder"),
        ({"split": "test"}, "'split' must be one of"),
    ],
)
def test_bad_records_are_refused_before_the_llm_runs(model_and_processor, tmp_path, change, message):
    model, processor = model_and_processor
    records = make_records()[:3]
    records[1] = {**records[1], **change}
    with pytest.raises(ValueError, match=message):
        build_state_cache(model, processor, records, tmp_path, progress=False)
    assert not os.path.exists(os.path.join(tmp_path, PhonemeStateCache.INDEX))


def test_other_bad_inputs(model_and_processor, cache_dir, tmp_path):
    model, processor = model_and_processor
    records = make_records()[:2]
    with pytest.raises(ValueError, match="lacks"):
        build_state_cache(model, processor, [{"id": "x", "prompt": "Hi"}], tmp_path, progress=False)
    with pytest.raises(ValueError, match="duplicate record id"):
        build_state_cache(model, processor, [records[0], records[0]], tmp_path, progress=False)
    with pytest.raises(ValueError, match="got no records"):
        build_state_cache(model, processor, [], tmp_path, progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        build_state_cache(model, processor, records, tmp_path, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="holds no cached records"):
        train_phoneme_decoder(model, tmp_path / "empty", tmp_path / "out", small_config())
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        PhonemeDecoderConfig(learning_rate=0)
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        PhonemeDecoderConfig(max_steps=0)
    only_train = tmp_path / "only_train"
    build_state_cache(model, processor, make_records(validation_copies=False)[:3], only_train, progress=False)
    with pytest.raises(ValueError, match="0 validation records"):
        train_phoneme_decoder(model, only_train, tmp_path / "out", small_config())
    small, _ = tiny_model_and_processor()  # its decoder predicts 20 units; the cache holds letters up to 27
    with pytest.raises(ValueError, match="replace it first"):
        train_phoneme_decoder(small, cache_dir, tmp_path / "out", small_config())


# -- training ------------------------------------------------------------------------------------------------------


def test_training_overfits_a_tiny_set_and_keeps_the_best_decoder(model_and_processor, cache_dir, tmp_path):
    model, _ = model_and_processor
    new_ctc_decoder(model)
    summary = train_phoneme_decoder(model, cache_dir, tmp_path, small_config())
    losses = [e["loss"] for e in summary["history"] if "loss" in e]
    pers = [e["per"] for e in summary["history"] if "per" in e]
    assert summary["steps"] == 60 and summary["num_train"] == summary["num_validation"] == len(TEXTS)
    assert losses[-1] < 0.3 * losses[0]
    assert pers[-1] < 0.5 < pers[0] or pers[-1] < 0.5 * pers[0]
    assert summary["best_per"] == min(pers) and summary["final_per"] == pers[-1]
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved == summary["history"]

    # best/ rebuilds the decoder on another model: the same units
    other, _ = tiny_model_and_processor()
    load_phoneme_decoder(other, tmp_path / "best")
    assert other.config.unit_vocab_size == UNIT_VOCAB and other.speech_decoder.uses_token_embeddings
    record = PhonemeStateCache(cache_dir).load("validation")[0]
    states, tokens = record["states"].float()[None], record["tokens"][None]
    best_step = summary["best_step"]
    assert json.loads((tmp_path / "best" / "metrics.json").read_text())["step"] == best_step
    if best_step == summary["steps"]:  # the model still holds the best weights
        assert other.predict_units(states, token_ids=tokens)[0].tolist() == model.predict_units(
            states, token_ids=tokens)[0].tolist()


def test_resume_continues_the_step_count_exactly(model_and_processor, cache_dir, tmp_path):
    model, _ = model_and_processor
    constant = dict(warmup_steps=0, min_lr_ratio=1.0, learning_rate=1e-2, state_noise_std=0.1, eval_every=10,
                    checkpoint_every=10, batch_tokens=80)  # a constant schedule: the same whatever max_steps
    new_ctc_decoder(model)
    straight = train_phoneme_decoder(model, cache_dir, tmp_path / "straight", small_config(max_steps=20, **constant))
    reference = {k: v.clone() for k, v in model.speech_decoder.state_dict().items()}

    new_ctc_decoder(model)
    first = train_phoneme_decoder(model, cache_dir, tmp_path / "resumed", small_config(max_steps=12, **constant))
    assert first["steps"] == 12 and first["resumed_from_step"] is None
    new_ctc_decoder(model, seed=5)  # other weights: resuming must restore them
    second = train_phoneme_decoder(model, cache_dir, tmp_path / "resumed", small_config(max_steps=20, **constant))
    assert second["resumed_from_step"] == 12 and second["steps"] == 20
    for key, value in model.speech_decoder.state_dict().items():
        torch.testing.assert_close(value, reference[key], msg=key)
    assert second["final_per"] == pytest.approx(straight["final_per"])

    new_ctc_decoder(model, token_embeddings=False)
    with pytest.raises(ValueError, match="another speech decoder"):
        train_phoneme_decoder(model, cache_dir, tmp_path / "resumed", small_config(max_steps=30, **constant))


@pytest.mark.parametrize("kind", ["ctc_states_only", "ar"])
def test_other_decoders_train(model_and_processor, cache_dir, tmp_path, kind):
    model, _ = model_and_processor
    torch.manual_seed(0)
    if kind == "ar":
        eos = model.generation_config.eos_token_id
        model.replace_speech_decoder(speech_decoder_token_embeddings=False, **tiny_ar_config_kwargs(
            TINY_VOCAB_SIZE, unit_vocab_size=UNIT_VOCAB, eos_token_id=eos))
        config = small_config(max_steps=30, learning_rate=3e-3, eval_every=15, log_every=5,
                              eval_decoding_kwargs={"do_sample": False, "max_new_tokens": 30})
    else:
        new_ctc_decoder(model, token_embeddings=False)
        config = small_config(max_steps=30, log_every=5, eval_every=15)
    summary = train_phoneme_decoder(model, cache_dir, tmp_path, config)
    losses = [e["loss"] for e in summary["history"] if "loss" in e]
    assert summary["steps"] == 30 and losses[-1] < 0.7 * losses[0]
    assert 0 <= summary["final_per"] and np.isfinite(summary["final_loss"])
    assert (tmp_path / "checkpoint" / "trainer_state.pt").is_file()
    other, _ = tiny_model_and_processor()
    load_phoneme_decoder(other, tmp_path / "checkpoint")
    assert other.config.speech_decoder_type == model.config.speech_decoder_type
    new_ctc_decoder(model)  # leave the module's model as the other tests expect it


def test_build_default_autoregressive_decoder_trains_saves_and_loads(model_and_processor, cache_dir, tmp_path):
    """`llama-omni build-default --speech-decoder ar`'s decoder (`ar_decoder_fields`): the TTS vocabulary is the
    LLM's text ids, <sep>, then the units; its loss covers only what decoding writes; it learns, and its saved
    checkpoint rebuilds the same decoder (loss setting included)."""
    from trainers.scripts.build_default import AR_DECODER, AR_STREAMING, ar_decoder_fields

    model, _ = model_and_processor
    text = model.config.text_config
    fields = ar_decoder_fields(text, UNIT_VOCAB)
    assert fields["tts_sep_token_id"] == text.vocab_size and fields["tts_speech_token_offset"] == text.vocab_size + 1
    assert fields["tts_config"]["vocab_size"] == text.vocab_size + 1 + UNIT_VOCAB
    assert fields["tts_loss_vocabulary"] == "speech" and fields["tts_restrict_to_speech_tokens"]
    torch.manual_seed(0)
    model.replace_speech_decoder(**{**fields, "tts_config": {**fields["tts_config"], "hidden_size": 32,
                                                             "intermediate_size": 64, "num_hidden_layers": 2}})
    assert (model.config.read_size, model.config.write_size) == (AR_STREAMING["read_size"], AR_STREAMING["write_size"])
    assert model.config.tts_config.num_attention_heads == AR_DECODER["num_attention_heads"]
    config = small_config(max_steps=60, learning_rate=3e-3, eval_every=60, log_every=5,
                          eval_decoding_kwargs={"do_sample": False, "max_new_tokens": 30})
    summary = train_phoneme_decoder(model, cache_dir, tmp_path, config)
    losses = [e["loss"] for e in summary["history"] if "loss" in e]
    assert losses[-1] < 0.7 * losses[0] and 0 <= summary["final_per"]
    other, _ = tiny_model_and_processor()
    load_phoneme_decoder(other, tmp_path / "checkpoint")
    assert other.config.tts_loss_vocabulary == "speech" and other.config.write_size == AR_STREAMING["write_size"]
    for a, b in zip(model.speech_decoder.state_dict().values(), other.speech_decoder.state_dict().values()):
        torch.testing.assert_close(a, b)
    new_ctc_decoder(model)  # leave the module's model as the other tests expect it


# -- the pronunciation table (speech_decoder_token_phonemes) -----------------------------------------------------------


def test_pronunciation_table_baseline_and_training(cache_dir, tmp_path):
    from trainers.stages.phoneme_decoder import table_frame_overflow, table_phoneme_error_rate, validation_subset

    model, processor = tiny_model_and_processor()
    torch.manual_seed(0)
    model.replace_speech_decoder(
        speech_decoder_type="ctc", unit_vocab_size=UNIT_VOCAB, ctc_upsample_factor=4,
        speech_decoder_token_embeddings=True, speech_decoder_token_phonemes=6,
        speech_decoder_config=tiny_decoder_config(hidden_size=32, intermediate_size=64),
    )
    records = PhonemeStateCache(cache_dir).load("validation")
    with pytest.raises(ValueError, match="no records"):
        table_phoneme_error_rate(model, [])
    empty = table_phoneme_error_rate(model, records)
    assert empty == pytest.approx(1.0)  # an empty table says nothing: every unit deleted
    tokenizer = processor.tokenizer
    special = set(tokenizer.all_special_ids)
    rows = []
    for token_id in range(model.config.text_config.vocab_size):
        text = tokenizer.decode([token_id]) if token_id < len(tokenizer) and token_id not in special else ""
        units = letter_units(text.strip())[:6]  # the spaces left out: the decoder must learn where words start
        rows.append(units + [-1] * (6 - len(units)))
    model.speech_decoder.token_phonemes.set_table(torch.tensor(rows))
    table_per = table_phoneme_error_rate(model, records)
    assert 0 < table_per < 0.5 * empty
    lengths = torch.tensor([sum(u >= 0 for u in row) for row in rows])[torch.cat([r["tokens"] for r in records])]
    assert table_frame_overflow(model, records) == pytest.approx(float((lengths > 4).float().mean()))  # 4 frames here
    assert table_frame_overflow(model, records, frames=2) == pytest.approx(float((lengths > 2).float().mean()))
    assert 0 < table_frame_overflow(model, records, frames=2) < 1 and table_frame_overflow(model, records, frames=6) == 0
    with pytest.raises(ValueError, match="no records"):
        table_frame_overflow(model, [])
    with pytest.raises(ValueError, match="positive int"):
        table_frame_overflow(model, records, frames=0)
    summary = train_phoneme_decoder(model, cache_dir, tmp_path / "run", small_config(max_steps=90, eval_every=45))
    assert summary["best_per"] < table_per, (summary["best_per"], table_per)
    # the table is part of the saved decoder
    other, _ = tiny_model_and_processor()
    load_phoneme_decoder(other, tmp_path / "run" / "best")
    assert torch.equal(other.speech_decoder.token_phonemes.table, model.speech_decoder.token_phonemes.table)
    assert len(validation_subset(records, 3)) == 3 and validation_subset(records, 3) == validation_subset(
        list(reversed(records)), 3)
    with pytest.raises(ValueError, match="no pronunciation table"):
        table_phoneme_error_rate(other.__class__(tiny_model_and_processor()[0].config), records)
