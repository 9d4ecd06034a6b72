# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The phoneme text corpus of llama-omni-tiny's speech decoder: the fast espeak-ng phonemizer (equal to Piper's),
speakable_text, the question generator (no held-out question), fortunes parsing, and the corpus build with the
real SmolLM2."""

import json
import time

import pytest

from processing.instructs2s.phonemes import (
    EspeakPhonemizer,
    load_phoneme_id_map,
    phonemes_to_units,
    promote_clause_stress,
    speakable_text,
    text_to_units,
    unit_vocab_size,
    units_to_phonemes,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")

SENTENCES = [
    "Hello there, my friend. How are you today?",
    "I have 3 apples, 12 oranges and 1,000 grapes.",
    "It costs $5.99, or about £4.50; that's 70% off!",
    "In 1999, Dr. Smith and Mr. Jones went to Washington, D.C.",
    "Don't worry, it's fine. We'll see; they're here.",
    "Albert Einstein was born on March 14, 1879, in Ulm, Germany.",
    "First, preheat the oven: 180°C is enough.",
    "Well... I'm not sure. Hmm, let me think.",
    "He said: \"I'll be back.\" The 21st century began in 2001.",
    "12 + 30 = 42",
    "The.",
    "You and me and the.",
]


@pytest.fixture(scope="module")
def piper_voice():
    from offline_assets.piper import PiperVoice
    from offline_assets.tts_base import find_program

    try:
        find_program("espeak-ng", "apt-get install espeak-ng")
        voice = PiperVoice()
    except Exception as e:  # the voice package or the espeak-ng program is missing
        pytest.skip(f"PiperVoice unavailable: {e}")
    return voice


@pytest.fixture(scope="module")
def phonemizer():
    return EspeakPhonemizer()


def test_phonemizer_equals_piper_and_is_faster(piper_voice, phonemizer):
    start = time.perf_counter()
    expected = [piper_voice.phonemize(s) for s in SENTENCES]
    cli_time = time.perf_counter() - start
    start = time.perf_counter()
    got = phonemizer.phonemize_batch(SENTENCES)
    lib_time = time.perf_counter() - start
    assert got == expected
    assert lib_time * 5 < cli_time  # about 50x on a busy machine; 5x leaves room for noise


def test_units_are_piper_ids_without_pads_bos_eos(piper_voice, phonemizer):
    id_map = load_phoneme_id_map()
    assert unit_vocab_size(id_map) == 151 and id_map["_"] == 0 and id_map["^"] == 1 and id_map["$"] == 2
    phonemes = phonemizer.phonemize("The answer is 42, isn't it?")
    units = phonemes_to_units(phonemes, id_map)
    ids = piper_voice.phoneme_ids(phonemes)
    # piper-phonemize's layout: ^ _ u1 _ u2 _ ... un _ $
    assert ids[0] == 1 and ids[-1] == 2 and ids[2:-1:2] == units and set(ids[1:-1:2]) == {0}
    assert units_to_phonemes(units, id_map) == phonemes
    assert units_to_phonemes([1] + units + [2], id_map) == phonemes
    assert units_to_phonemes([1, 14], id_map, keep_special=True) == "^a"
    with pytest.raises(ValueError, match="151"):
        units_to_phonemes([14, 151], id_map)


def test_clause_stress_promotion():
    assert promote_clause_stress("ðə") == "ðˈə"
    assert promote_clause_stress("juː ænd mˌiː ænd ðə") == "juː ænd mˈiː ænd ðə"
    assert promote_clause_stress("hoʊ") == "hˈoʊ"
    assert promote_clause_stress("həlˈoʊ ðˈɛɹ") == "həlˈoʊ ðˈɛɹ"
    assert promote_clause_stress("psst") == "psst"


def test_phonemize_rejects_empty_text(phonemizer):
    with pytest.raises(ValueError, match="nothing to say"):
        phonemizer.phonemize(" ... ")
    with pytest.raises(TypeError):
        phonemizer.phonemize(3)
    with pytest.raises(ValueError, match="nothing speakable"):
        text_to_units("**   **")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("**Paris** is the capital of France.", "Paris is the capital of France."),
        ("# Heading\nSome text here", "Heading. Some text here"),
        ("- apples\n- bananas\n* cherries", "apples. bananas. cherries"),
        ("1. First step\n2. Second step.", "1. First step. 2. Second step."),
        ("Use `print` in Python.", "Use print in Python."),
        ("See https://example.com/a?b=1 for more.", "See for more."),
        ("I love it 😀👍!", "I love it!"),
        ("[Wikipedia](https://en.wikipedia.org) says so.", "Wikipedia says so."),
        ("It costs $5 — cheap!", "It costs $5, cheap!"),
        ("The #1 rule: be kind.", "The number 1 rule: be kind."),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a, b. 1, 2"),
        ("```python\nx = 1\n```\nDone.", "Done."),
        ("It\u2019s \u201cgreat\u201d\u2026 really", 'It\'s "great"... really'),
        ("Temperature: 20°C and 50% humidity.", "Temperature: 20°C and 50% humidity."),
        ("<b>bold</b> text", "bold text"),
        ("***", ""),
        ("😀", ""),
    ],
)
def test_speakable_text(raw, expected):
    assert speakable_text(raw) == expected


def test_speakable_text_rejects_non_str():
    with pytest.raises(TypeError, match="str"):
        speakable_text(None)


# ----------------------------------------------------------------------------------------------------------------------
# questions and fortunes
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def questions():
    from processing.instructs2s.phoneme_corpus import training_questions

    return training_questions()


def test_training_questions_exclude_heldout_and_are_deterministic(questions):
    from processing.instructs2s.phoneme_corpus import (
        HeldOutFilter,
        normalize_question,
        seed_instructions,
        training_questions,
    )

    heldout = {normalize_question(r["instruction"]) for r in seed_instructions("heldout")}
    assert heldout
    assert not heldout & {normalize_question(q["question"]) for q in questions}
    # near matches of held-out questions ("I always forget, what's the capital of Norway?") are dropped too
    texts = {q["question"] for q in questions}
    assert "What is the capital of Norway?" not in texts and "What is the capital of France?" in texts
    assert "What is the capital of Norway?" in HeldOutFilter() and "What is the capital of France?" not in HeldOutFilter()
    # paraphrases asking the same thing are dropped, other questions about the same thing are kept
    assert "Which city is the capital of Pakistan?" in HeldOutFilter()  # held out: "Can you tell me the capital of..."
    assert "What is Pakistan famous for?" not in HeldOutFilter()
    assert "Which city is the capital of Pakistan?" not in texts and "What is Pakistan famous for?" in texts
    assert len(questions) > 8000 and len({q["id"] for q in questions}) == len(questions)
    assert {q["category"] for q in questions} >= {"math", "geography", "people", "animals", "how_to", "factual"}
    train_ids = {r["id"] for r in seed_instructions("train") if r["instruction"] not in HeldOutFilter()}
    assert len(train_ids) > 1100 and train_ids <= {q["id"] for q in questions}
    assert any(ch.isdigit() for q in questions for ch in q["question"])
    again = training_questions(num_questions=50, include_seed_train=False)
    assert again == [q for q in questions if q["id"].startswith("q-")][:50]
    other_seed = training_questions(num_questions=50, seed=1, include_seed_train=False)
    assert [q["id"] for q in other_seed] != [q["id"] for q in again]
    with pytest.raises(ValueError, match="num_questions"):
        training_questions(num_questions=-1)


FORTUNE_FILE = """\
A clash of doctrine is not a disaster -- it is an opportunity.
%
A fake fortuneteller can be tolerated.  But an authentic soothsayer should
be shot on sight.  Cassandra did not get half the kicking around she deserved.
		-- R. A. Heinlein
%
Short one.
%
    ____   __
   / __ \\ / /  ___ __ __
  / /_/ // /__/ -_) \\ /
%
Dr. Smith said that the weather would be fine all week long.
%
A clash of doctrine is not a disaster -- it is an opportunity.
%
Das ist ein Satz, der nicht englisch ist, oder vielleicht doch.
%
"""


def test_fortune_parsing(tmp_path):
    from processing.instructs2s.phoneme_corpus import FORTUNE_PROMPTS, fortune_sentences, parse_fortune_file

    (tmp_path / "wisdom").write_text(FORTUNE_FILE)
    (tmp_path / "wisdom.dat").write_bytes(b"\x00\x01binary")
    (tmp_path / "off").mkdir()
    (tmp_path / "off" / "rude").write_text("This sentence is in the off folder and is skipped.\n%\n")
    sentences = parse_fortune_file(tmp_path / "wisdom")
    assert sentences == [
        "A clash of doctrine is not a disaster -- it is an opportunity.",
        "A fake fortuneteller can be tolerated.",
        "But an authentic soothsayer should be shot on sight.",
        "Cassandra did not get half the kicking around she deserved.",
        "Dr. Smith said that the weather would be fine all week long.",
        "A clash of doctrine is not a disaster -- it is an opportunity.",
    ]
    rows = fortune_sentences(tmp_path)
    assert [r["response"] for r in rows] == sentences[:5]  # de-duplicated, `off/` and `.dat` skipped
    assert all(r["prompt"] in FORTUNE_PROMPTS and r["id"].startswith("f-") for r in rows)
    assert rows == fortune_sentences(tmp_path)
    with pytest.raises(FileNotFoundError, match="fortunes"):
        fortune_sentences(tmp_path / "missing")


# ----------------------------------------------------------------------------------------------------------------------
# the corpus, with the real SmolLM2
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2():
    from offline_assets.sources import load_smollm2

    try:
        return load_smollm2()
    except ModuleNotFoundError as e:
        pytest.skip(f"SmolLM2 unavailable: {e}")


def test_build_phoneme_corpus_and_resume(tmp_path, smollm2):
    from processing.instructs2s.phoneme_corpus import ANSWERS_FILE, build_phoneme_corpus

    model, tokenizer = smollm2
    fortunes = tmp_path / "fortunes"
    fortunes.mkdir()
    (fortunes / "wisdom").write_text(FORTUNE_FILE)
    questions = [
        {"id": "t-1", "question": "What is the capital of France?", "category": "geography"},
        {"id": "t-2", "question": "What is 7 times 8?", "category": "math"},
        {"id": "seed-99999", "question": "Tell me about cats.", "category": "open"},
    ]
    out = tmp_path / "corpus"
    kwargs = dict(fortunes=True, fortune_dir=fortunes, batch_size=2, max_new_tokens=12, model=model,
                  tokenizer=tokenizer, progress=False, validation_fraction=0.5)
    summary = build_phoneme_corpus(out, questions=questions, **kwargs)
    answers = [json.loads(line) for line in (out / ANSWERS_FILE).read_text().splitlines()]
    assert sorted(a["id"] for a in answers) == ["seed-99999", "t-1", "t-2"]
    assert all(a["raw_response"] and 0 < a["num_tokens"] <= 12 for a in answers)
    records = [json.loads(line) for p in sorted(out.glob("corpus-*.jsonl")) for line in p.read_text().splitlines()]
    by_source = {s: [r for r in records if r["source"] == s] for s in ("answer", "seed_answer", "fortune")}
    assert len(by_source["answer"]) == 2 and len(by_source["seed_answer"]) == 1 and len(by_source["fortune"]) == 5
    id_map = load_phoneme_id_map()
    for r in records:
        assert r["response"] == speakable_text(r["raw_response"])
        assert r["units"] == phonemes_to_units(EspeakPhonemizer().phonemize(r["response"]), id_map)
        assert r["split"] in ("train", "validation") and r["prompt"]
        assert all(3 <= u < 151 for u in r["units"])
    assert {r["split"] for r in records} == {"train", "validation"}
    assert summary["records"] == 8 and sum(summary["unit_histogram"]) == sum(len(r["units"]) for r in records)
    assert summary["distinct_tokens"] > 10 and 0 < summary["token_coverage"] < 1
    assert json.loads((out / "summary.json").read_text())["counts"] == summary["counts"]

    # resume: answered ids are not asked again; a new question is; a line cut by a crash is ignored
    with open(out / ANSWERS_FILE, "a") as f:
        f.write('{"id": "t-3", "quest')
    more = questions + [{"id": "t-3", "question": "Name a colour.", "category": "colours"}]
    summary = build_phoneme_corpus(out, questions=more, **kwargs)
    lines = [json.loads(line) for line in (out / ANSWERS_FILE).read_text().splitlines() if line.endswith("}")]
    assert [a["id"] for a in lines].count("t-1") == 1 and [a["id"] for a in lines].count("t-3") == 1
    assert lines[:3] == answers
    assert summary["records"] == 9


def test_token_unit_table_on_smollm2(smollm2):
    from processing.instructs2s.phonemes import load_phoneme_id_map, token_unit_table

    _, tokenizer = smollm2
    id_map = load_phoneme_id_map()
    table = token_unit_table(tokenizer, len(tokenizer) + 2, slots=12)
    assert len(table) == len(tokenizer) + 2 and table[-1] == [] and all(len(row) <= 12 for row in table)

    def row(piece: str) -> list[int]:
        return table[tokenizer.convert_tokens_to_ids(piece)]

    assert row("ĠNorway") == [id_map[" "]] + text_to_units("Norway")[2]  # a word start begins with the space unit
    assert row("jav") == text_to_units("jav")[2]  # a word piece: no space unit
    assert row(".") == [id_map["."]] and row(",") == [id_map[","]]
    assert row("5") == text_to_units("five")[2]  # digits are read out
    assert all(table[i] == [] for i in tokenizer.all_special_ids)
    assert sum(1 for r in table if r) > 0.95 * len(tokenizer)
    assert token_unit_table(tokenizer, 400, slots=3)[tokenizer.convert_tokens_to_ids("Ġthe")] == row("Ġthe")[:3]
    with pytest.raises(ValueError, match="slots must be a positive int"):
        token_unit_table(tokenizer, 10, slots=0)
