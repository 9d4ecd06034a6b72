# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The adaptor's training speech: random training voices, perturbation, resumable shards
(processing/instructs2s/spoken_questions.py)."""

import json
import shutil

import numpy as np
import pytest

from processing.instructs2s import spoken_questions as sq
from processing.instructs2s.steps import validate_audio

needs_synthesizers = pytest.mark.skipif(
    shutil.which("flite") is None or shutil.which("espeak-ng") is None, reason="flite and espeak-ng are needed"
)


def test_heldout_voice_is_the_benchmarks_one():
    from evaluation.eval_sets import HELDOUT_VOICE

    assert sq.HELDOUT_VOICE == HELDOUT_VOICE


def test_draw_voice_never_draws_the_heldout_voice_and_covers_the_families():
    rng = np.random.default_rng(0)
    drawn = [sq.draw_voice(rng) for _ in range(3000)]
    names = {name for name, _ in drawn}
    assert sq.HELDOUT_VOICE not in names
    families = {name.split(":")[0] for name in names}
    assert families == {"flite", "espeak", "piper"}
    assert len([n for n in names if n.startswith("espeak:")]) > 50  # languages x speaker variants
    for name, options in drawn:
        if name.startswith("flite:"):
            assert 0.85 <= options["duration_stretch"] <= 1.2
        elif name.startswith("espeak:"):
            assert 125 <= options["speed"] <= 180 and 30 <= options["pitch"] <= 70


def test_perturb_speech_speed_noise_and_level():
    sr = 16000
    t = np.arange(sr) / sr
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    seen_speed = seen_noise = False
    for seed in range(40):
        out, info = sq.perturb_speech(audio, np.random.default_rng(seed))
        assert out.dtype == np.float32 and np.isfinite(out).all()
        assert np.abs(out).max() == pytest.approx(info["peak"], abs=0.006)  # the info is rounded
        if "speed" in info:
            seen_speed = True
            # faster speech is shorter: length / speed (the info's speed is rounded to 3 decimals)
            assert out.size * info["speed"] / audio.size == pytest.approx(1.0, abs=1e-3)
        else:
            assert out.size == audio.size
        if "snr_db" in info:
            seen_noise = True
            assert 10.0 <= info["snr_db"] <= 35.0 and info["noise"] in ("white", "brown")
        else:  # only rescaled: the waveform keeps its shape
            clean = audio if "speed" not in info else None
            if clean is not None:
                np.testing.assert_allclose(out / np.abs(out).max(), clean / np.abs(clean).max(), atol=1e-5)
    assert seen_speed and seen_noise


def test_perturbed_noise_has_the_drawn_snr():
    sr = 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(2 * sr) / sr)).astype(np.float64)
    for seed in range(30):
        out, info = sq.perturb_speech(audio, np.random.default_rng(seed), speed_probability=0.0,
                                      noise_probability=1.0)
        # out = level * (audio + noise): split it into its part along the clean signal and the rest
        clean = audio * (np.dot(out, audio) / np.dot(audio, audio))
        snr = 10 * np.log10(np.mean(clean**2) / np.mean((out - clean) ** 2))
        assert snr == pytest.approx(info["snr_db"], abs=0.5), (seed, info)


@needs_synthesizers
def test_speak_one_is_deterministic_and_valid():
    voices = sq._Voices()
    a, info_a = sq.speak_one("What is the capital of Peru?", "q1@0", seed=3, voices=voices)
    b, info_b = sq.speak_one("What is the capital of Peru?", "q1@0", seed=3, voices=voices)
    assert info_a == info_b
    np.testing.assert_array_equal(a, b)
    assert validate_audio(a) is None
    c, info_c = sq.speak_one("What is the capital of Peru?", "q1@1", seed=3, voices=voices)
    assert info_c != info_a or not np.array_equal(a, c)


@needs_synthesizers
def test_speak_questions_columns_and_summary(tmp_path, monkeypatch):
    # no Piper here: it is ~20x slower than the other two families
    monkeypatch.setattr(sq, "VOICE_FAMILY_WEIGHTS", {"flite": 0.5, "espeak": 0.5, "piper": 0.0})
    data = sq.speak_questions(_records(), tmp_path, copies=2, shard_size=2, progress=False)
    assert len(data) == 12
    assert set(data.column_names) == {"id", "question_id", "instruction", "response", "speech_instruction",
                                      "instruction_voice", "perturbation"}
    assert sorted(data["id"])[:2] == ["q-no-answer@0", "q-no-answer@1"]
    row = data[0]
    assert row["speech_instruction"]["sampling_rate"] == 16000
    assert validate_audio(np.asarray(row["speech_instruction"]["array"], dtype=np.float32)) is None
    assert json.loads(row["perturbation"])["options"]
    assert dict(zip(data["id"], data["response"]))["q-no-answer@0"] == ""
    summary = json.loads((tmp_path / sq.DONE_FILE).read_text())
    assert summary["utterances"] == 12 and sq.HELDOUT_VOICE not in set(data["instruction_voice"])


def _records():
    return [{"id": f"q{i}", "instruction": f"How many legs does animal number {i} have?", "response": "Four."}
            for i in range(5)] + [{"id": "q-no-answer", "instruction": "Name a red fruit."}]


@needs_synthesizers
def test_speak_questions_resumes_a_killed_build_identically(tmp_path, monkeypatch):
    monkeypatch.setattr(sq, "VOICE_FAMILY_WEIGHTS", {"flite": 0.5, "espeak": 0.5, "piper": 0.0})
    whole = sq.speak_questions(_records(), tmp_path / "whole", copies=1, shard_size=2, progress=False)
    calls = []
    real = sq._speak_shard

    def dies_after_one(job):
        calls.append(job[3])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(sq, "_speak_shard", dies_after_one)
    with pytest.raises(KeyboardInterrupt):
        sq.speak_questions(_records(), tmp_path / "killed", copies=1, shard_size=2, progress=False)
    assert not (tmp_path / "killed" / sq.DONE_FILE).exists()
    calls.clear()
    monkeypatch.setattr(sq, "_speak_shard", lambda job: calls.append(job[3]) or real(job))
    resumed = sq.speak_questions(_records(), tmp_path / "killed", copies=1, shard_size=2, progress=False)
    assert len(calls) == 2  # the finished first shard was not spoken again
    expected = {r["id"]: np.asarray(r["speech_instruction"]["array"]) for r in whole}
    assert sorted(resumed["id"]) == sorted(expected)
    for r in resumed:
        np.testing.assert_allclose(np.asarray(r["speech_instruction"]["array"]), expected[r["id"]], atol=1e-4)


def test_speak_questions_rejects_bad_records(tmp_path):
    with pytest.raises(ValueError, match="no records"):
        sq.speak_questions([], tmp_path)
    with pytest.raises(ValueError, match="unique"):
        sq.speak_questions([{"id": "a", "instruction": "x"}, {"id": "a", "instruction": "y"}], tmp_path)
    with pytest.raises(ValueError, match="no 'instruction'"):
        sq.speak_questions([{"id": "a", "instruction": " "}], tmp_path)
    with pytest.raises(ValueError, match=">= 1"):
        sq.speak_questions([{"id": "a", "instruction": "x"}], tmp_path, copies=0)


def test_build_default_speech_records_split_the_questions(tmp_path):
    from processing.instructs2s.phoneme_corpus import ANSWERS_FILE, normalize_question, training_questions
    from trainers.scripts.build_default import _speech_records

    with pytest.raises(FileNotFoundError, match="corpus"):
        _speech_records(tmp_path)
    questions = training_questions()
    answered = [questions[0], questions[1], questions[-1]]  # two templates and a seed question
    (tmp_path / "corpus").mkdir()
    with open(tmp_path / "corpus" / ANSWERS_FILE, "w") as f:
        for q in answered:
            f.write(json.dumps({"id": q["id"], "question": q["question"], "raw_response": "An answer."}) + "\n")
        f.write(json.dumps({"id": "empty", "question": "Say nothing.", "raw_response": ""}) + "\n")
        # an answer kept from before a stricter held-out filter: not spoken
        f.write(json.dumps({"id": "q-stale", "question": "Which city is the capital of Pakistan?",
                            "raw_response": "Islamabad."}) + "\n")
    records = _speech_records(tmp_path)
    assert [r["id"] for r in records["answered"]] == [q["id"] for q in answered]
    assert all(r["response"] == "An answer." for r in records["answered"])
    assert len(records["questions"]) == len(questions) - 3
    assert not {r["id"] for r in records["questions"]} & {r["id"] for r in records["answered"]}
    heldout = {normalize_question(r["instruction"]) for r in records["heldout"]}
    assert len(heldout) > 100
    training = {normalize_question(r["instruction"]) for name in ("answered", "questions") for r in records[name]}
    assert not heldout & training


def test_build_default_stage1_set_mixes_repeat_rows(tmp_path):
    import datasets

    from trainers.scripts.build_default import REPEAT_INSTRUCTION, stage1_set

    def utterances(prefix, n, answered):
        return datasets.Dataset.from_dict({
            "id": [f"{prefix}{i}@0" for i in range(n)], "instruction": [f"{prefix} question {i}?" for i in range(n)],
            "response": [f"answer {i}." if answered else "" for i in range(n)],
            "speech_instruction": [{"array": np.zeros(160, dtype=np.float32), "sampling_rate": 16000}] * n,
        })

    for name, n, answered in (("answered", 4, True), ("questions", 6, False)):
        utterances(name[0], n, answered).save_to_disk(str(tmp_path / "speech" / name / "dataset"))
    assert stage1_set(tmp_path, 0.0) == tmp_path / "speech" / "answered" / "dataset"
    path = stage1_set(tmp_path, 1.5)
    mixed = datasets.load_from_disk(str(path))
    answer_rows = [r for r in mixed if r["task_prompt"] == ""]
    repeat_rows = [r for r in mixed if r["task_prompt"] == REPEAT_INSTRUCTION]
    assert len(answer_rows) == 4 and len(repeat_rows) == 6 and len(mixed) == 10
    assert all(r["audio_id"] == r["id"] and r["response"].startswith("answer") for r in answer_rows)
    assert all(r["id"] == r["audio_id"] + "#repeat" and r["response"] == r["instruction"] for r in repeat_rows)
    assert len(set(mixed["id"])) == 10 and set(mixed["audio_id"]) <= {f"a{i}@0" for i in range(4)} | {
        f"q{i}@0" for i in range(6)}
    mtime = (path / "dataset_info.json").stat().st_mtime
    assert stage1_set(tmp_path, 1.5) == path and (path / "dataset_info.json").stat().st_mtime == mtime  # reused
