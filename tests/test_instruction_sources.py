"""Instruction sources (seed file, JSON/JSONL, saved datasets, Dataset objects, the Hub offline) and the seed file."""

import collections
import importlib.util
import json
import math
import re

import datasets
import pytest

from processing.instructs2s.sources import (
    INSTRUCTION_COLUMNS,
    SEED_INSTRUCTIONS_PATH,
    InstructionSourceError,
    load_instructions,
    read_seed_instructions,
)
from processing.instructs2s.text_normalizer import check_speakable, normalize_for_speech

ALPACA = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well."},
    {"instruction": "Translate this sentence.", "input": "Bonjour le monde", "output": "Hello world"},
    {"instruction": "  give three TIPS for staying   healthy. ", "input": "", "output": "dup"},
    {"instruction": "", "input": "", "output": "empty"},
    {"instruction": "What is the capital of France?", "output": "Paris"},
]


def _write_json(path, rows):
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_alpaca_json(tmp_path):
    ds = load_instructions(_write_json(tmp_path / "alpaca_data.json", ALPACA))
    assert ds.column_names == list(INSTRUCTION_COLUMNS)
    assert ds["instruction"][:] == [
        "Give three tips for staying healthy.",
        "Translate this sentence.\nBonjour le monde",
        "What is the capital of France?",
    ]  # the input is joined, duplicates (case/space) and empty ones dropped, outputs ignored
    assert set(ds["source"]) == {"alpaca_data.json"}
    assert ds["answer"][:] == [None, None, None]
    ids = ds["id"][:]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"alpaca-data-[0-9a-f]{12}", i) for i in ids)
    wrapped = load_instructions(_write_json(tmp_path / "wrapped.json", {"rows": ALPACA}))  # one list in an object
    assert wrapped["instruction"][:] == ds["instruction"][:]
    again = load_instructions(_write_jsonl(tmp_path / "alpaca_data.jsonl", list(reversed(ALPACA[:2]))))
    # ids depend on the instruction only: the same instruction gets the same id whatever the order or format
    assert again["instruction"][:] == list(reversed(ds["instruction"][:2]))
    assert again["id"][:] == list(reversed(ds["id"][:2]))


def test_chat_layouts_take_the_first_user_turn(tmp_path):
    rows = [
        {"messages": [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hi there"},
                      {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Later turn"}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Parts work"}]}]},
        {"messages": [{"role": "assistant", "content": "no user turn"}]},
    ]  # fmt: skip
    assert load_instructions(_write_jsonl(tmp_path / "m.jsonl", rows))["instruction"][:] == ["Hi there", "Parts work"]
    sharegpt = [
        {"id": "a1", "conversations": [{"from": "human", "value": "ShareGPT question"}, {"from": "gpt", "value": "x"}]},
        {"id": "a2", "conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "Second"}]},
    ]
    ds = load_instructions(_write_json(tmp_path / "s.json", sharegpt))
    assert ds["instruction"][:] == ["ShareGPT question", "Second"]
    assert ds["id"][:] == ["a1", "a2"]  # unique source ids are kept
    ultrachat = datasets.Dataset.from_dict(
        {"id": ["1", "1"], "data": [["Question one", "Answer"], ["Question two", "A"]]}
    )
    ds = load_instructions(ultrachat)
    assert ds["instruction"][:] == ["Question one", "Question two"]
    assert ds["id"][0] != "1" and ds["source"][0] == "dataset"  # duplicate source ids: content hashes instead


def test_plain_and_named_columns(tmp_path):
    rows = [{"question": "Why is the sky blue?", "answer": "Rayleigh scattering", "prompt": "unused"},
            {"question": "How old is the moon?", "answer": ""}]  # fmt: skip
    ds = load_instructions(datasets.Dataset.from_list(rows), instruction_column="question")
    assert ds["instruction"][:] == ["Why is the sky blue?", "How old is the moon?"]
    assert ds["answer"][:] == ["Rayleigh scattering", None]
    assert load_instructions(datasets.Dataset.from_list(rows))["instruction"][:] == ["unused"]  # "prompt" first
    assert load_instructions(datasets.Dataset.from_dict({"text": ["A", "B"]}))["instruction"][:] == ["A", "B"]
    named = datasets.Dataset.from_dict({"instruction": ["unused"], "input": ["The input itself"]})
    assert load_instructions(named, instruction_column="input")["instruction"][:] == ["The input itself"]
    with pytest.raises(ValueError, match="no instruction column"):
        load_instructions(datasets.Dataset.from_dict({"foo": ["x"]}))
    with pytest.raises(ValueError, match="no column 'nope'"):
        load_instructions(datasets.Dataset.from_dict({"text": ["x"]}), instruction_column="nope")


def test_saved_folders_and_dataset_dicts(tmp_path):
    train = datasets.Dataset.from_dict({"instruction": ["One", "Two"], "input": ["", "extra"]})
    test = datasets.Dataset.from_dict({"instruction": ["Three"], "input": [""]})
    train.save_to_disk(str(tmp_path / "single"))
    assert load_instructions(tmp_path / "single")["instruction"][:] == ["One", "Two\nextra"]
    dd = datasets.DatasetDict({"train": train, "test": test})
    dd.save_to_disk(str(tmp_path / "dict"))
    ds = load_instructions(str(tmp_path / "dict"), split="test")
    assert ds["instruction"][:] == ["Three"] and ds["source"][0] == "dict"
    assert load_instructions(dd)["instruction"][:] == ["One", "Two\nextra"]
    with pytest.raises(ValueError, match="no split 'validation'"):
        load_instructions(dd, split="validation")


def test_limit_is_a_seeded_subset_in_source_order(tmp_path):
    rows = [{"prompt": f"Question number {i}"} for i in range(50)]
    path = _write_jsonl(tmp_path / "q.jsonl", rows)
    a = load_instructions(path, limit=10, seed=1)["instruction"][:]
    assert len(a) == 10 and a == load_instructions(path, limit=10, seed=1)["instruction"][:]
    assert a == sorted(a, key=lambda x: int(x.split()[-1]))
    assert a != load_instructions(path, limit=10, seed=2)["instruction"][:]
    assert len(load_instructions(path, limit=500)) == 50
    assert len(load_instructions(path, limit=0)) == 0
    with pytest.raises(ValueError):
        load_instructions(path, limit=-1)


def test_errors_for_missing_files_and_the_offline_hub(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_instructions(tmp_path / "missing.jsonl")
    with pytest.raises(FileNotFoundError):
        load_instructions("./no/such/folder")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_instructions(tmp_path / "notes.txt")
    with pytest.raises(TypeError):
        load_instructions(42)
    with pytest.raises(InstructionSourceError, match="HF_HUB_OFFLINE") as info:
        load_instructions("tatsu-lab/alpaca")  # conftest sets HF_HUB_OFFLINE=1: nothing is downloaded
    assert "seed" in str(info.value)


# ------------------------------------------------------------------------------------------ the seed file


@pytest.fixture(scope="module")
def seed_records():
    return read_seed_instructions("all")


def test_seed_source_splits():
    train, heldout, everything = (load_instructions("seed", split=s) for s in ("train", "heldout", "all"))
    assert len(train) + len(heldout) == len(everything)
    assert not set(train["id"]) & set(heldout["id"])
    assert set(everything["source"]) == {"seed"}
    assert everything["id"][0] == "seed-00001"
    assert sum(a is not None for a in everything["answer"]) >= 300
    with pytest.raises(ValueError):
        load_instructions("seed", split="test")


def test_seed_file_content(seed_records):
    assert SEED_INSTRUCTIONS_PATH.is_file()
    assert len(seed_records) >= 1000
    keys = [" ".join(re.findall(r"[a-z0-9]+", r["instruction"].lower())) for r in seed_records]
    assert len(set(keys)) == len(keys), "duplicate instructions"
    assert [r["id"] for r in seed_records] == [f"seed-{i:05d}" for i in range(1, len(seed_records) + 1)]
    for r in seed_records:
        assert set(r) == {"id", "instruction", "category", "answer", "split"}
        assert r["split"] in ("train", "heldout")
        assert (r["answer"] is not None) == (r["category"] == "factual"), r
        if r["answer"] is not None:
            assert r["answer"].strip() and check_speakable(r["answer"]) is None, r
    answered = [r for r in seed_records if r["answer"]]
    assert len(answered) >= 300
    categories = collections.Counter(r["category"] for r in seed_records)
    assert len(categories) >= 8 and min(categories.values()) >= 50
    # phrasing varies: no opening of four words is shared by more than 5 % of the file
    openings = collections.Counter(" ".join(k.split()[:4]) for k in keys)
    assert openings.most_common(1)[0][1] < 0.05 * len(keys)


def test_seed_heldout_is_about_ten_percent_per_category(seed_records):
    heldout = [r for r in seed_records if r["split"] == "heldout"]
    assert 0.08 <= len(heldout) / len(seed_records) <= 0.12
    by_category = collections.defaultdict(list)
    for r in seed_records:
        by_category[r["category"]].append(r["split"] == "heldout")
    for category, flags in by_category.items():
        assert abs(sum(flags) - len(flags) * 0.1) <= 1, category


def test_every_seed_instruction_is_speakable_after_normalisation(seed_records):
    for r in seed_records:
        spoken = normalize_for_speech(r["instruction"])
        assert check_speakable(spoken, max_words=40) is None, (r["instruction"], spoken)
        assert not re.search(r"\d", r["answer"] or ""), r


def test_seed_file_is_what_the_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_seed_instructions", SEED_INSTRUCTIONS_PATH.parent / "make_seed_instructions.py"
    )
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.main(["--check"]) == 0
    out = tmp_path / "again.jsonl"
    assert generator.main(["--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == SEED_INSTRUCTIONS_PATH.read_text(encoding="utf-8")
    assert math.isclose(generator.HELDOUT_FRACTION, 0.1)
