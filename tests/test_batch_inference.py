# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni infer` (inference/batch.py): the released batch inference on a tiny model folder, question JSON ->
answers JSONL (text + units, the released field names) -> wavs; and the quantisation helper's errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from inference import load_model
from inference.batch import question_chunk, read_questions, units_to_wav
from inference.quantization import bitsandbytes_config
from llama_omni_cli import main as cli_main
from modeling_llama_omni.modeling_llama_omni import vocoder_units
from processing import DEFAULT_INSTRUCTION
from tests.tiny_components import make_speech
from tests.tiny_models import write_tiny_model_folder

MAX_NEW = 12


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    folder = write_tiny_model_folder(root / "model")
    (root / "wavs").mkdir()
    questions = []
    for i, seconds in enumerate((1.0, 1.6, 0.8)):
        sf.write(root / "wavs" / f"q{i}.wav", make_speech(seconds, seed=10 + i), 16000)
        turns = [{"from": "human", "value": DEFAULT_INSTRUCTION}]
        if i == 1:
            turns.append({"from": "gpt", "value": "a reference answer"})
        questions.append({"id": f"helpful_base_{i}", "speech": f"wavs/q{i}.wav", "conversations": turns})
    (root / "question.json").write_text(json.dumps(questions))
    return root, folder, questions


def _expected(folder, root, question):
    """What the released script computes for one question, step by step: the template's prompt with the human turn,
    greedy generation, the new tokens decoded without special tokens, the collapsed units space-separated."""
    model, processor = load_model(folder, "cpu", "float32")
    prompt = processor.apply_chat_template([{"role": "user", "content": question["conversations"][0]["value"]}],
                                           add_generation_prompt=True, tokenize=False)
    assert prompt == processor.default_prompt()
    inputs = processor(text=prompt, audio=str(root / question["speech"]))
    out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=MAX_NEW, return_audio=True)
    text = processor.tokenizer.decode(out.sequences[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return text.strip(), " ".join(map(str, out.units[0].tolist())), model


def test_cli_writes_the_released_answers_and_wavs(setup, tmp_path, monkeypatch, capsys):
    root, folder, questions = setup
    monkeypatch.chdir(tmp_path)  # relative speech paths: found next to the question file
    answers, wavs, units_file = tmp_path / "out" / "answer.json", tmp_path / "answer_wav", tmp_path / "answer.unit"
    code = cli_main(["infer", "--model", str(folder), "--questions", str(root / "question.json"), "--output",
                     str(answers), "--units-to-wav", str(wavs), "--units-file", str(units_file), "--max-new-tokens",
                     str(MAX_NEW), "--device", "cpu", "--dtype", "float32"])
    assert code == 0, capsys.readouterr().err
    lines = answers.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [list(r) for r in records] == [["question_id", "prediction", "prediction_units", "answer"]] * 3
    assert [r["question_id"] for r in records] == [q["id"] for q in questions]
    assert [r["answer"] for r in records] == [None, "a reference answer", None]
    unit_lines = units_file.read_text().splitlines()
    for index, (record, question) in enumerate(zip(records, questions)):
        text, units, model = _expected(folder, root, question)
        assert record["prediction"] == text and record["prediction_units"] == units
        assert units and unit_lines[index] == units
        audio, rate = sf.read(wavs / f"{index}_pred.wav", dtype="float32")
        vocoder = model.default_vocoder()
        assert rate == vocoder.config.sampling_rate
        expected = vocoder_units(vocoder, torch.tensor([int(u) for u in units.split()])).numpy()
        np.testing.assert_allclose(audio, expected, atol=1e-4)  # 16-bit wav
    assert len(list(wavs.iterdir())) == 3


def test_units_to_wav_and_empty_answers(setup, tmp_path):
    _, folder, _ = setup
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question_id": 0, "prediction": "", "prediction_units": "", "answer": None}) + "\n"
                       + json.dumps({"question_id": 1, "prediction": "x", "prediction_units": "3 4 5", "answer": None})
                       + "\n")
    model, _ = load_model(folder, "cpu", "float32")
    paths = units_to_wav(answers, tmp_path / "wav", model.default_vocoder())
    assert [p.name for p in paths] == ["0_pred.wav", "1_pred.wav"]  # an empty answer is vocoded as unit 0


def test_chunks_split_as_released():
    items = list(range(10))
    assert [question_chunk(items, 3, k) for k in range(3)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(ValueError, match="chunk_idx"):
        question_chunk(items, 2, 2)


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "is not JSON"),
        ('{"id": 1}', "must hold a JSON list"),
        ('[{"id": 1}]', "'id' and a 'speech'"),
        ('[{"id": 1, "speech": "a.wav", "conversations": []}]', "needs 'conversations'"),
    ],
)
def test_bad_question_files_are_clear_errors(tmp_path, content, match):
    path = tmp_path / "q.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_questions(path)


def test_cli_errors(setup, tmp_path, capsys):
    root, folder, _ = setup
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps([{"id": "lost", "speech": "missing.wav", "conversations": [{"value": "<speech>"}]}]))
    common = ["infer", "--model", str(folder), "--output", str(tmp_path / "a.jsonl"), "--device", "cpu"]
    assert cli_main(common + ["--questions", str(bad)]) == 1
    assert "question 'lost'" in capsys.readouterr().err
    assert cli_main(common + ["--questions", str(tmp_path / "none.json")]) == 2
    assert cli_main(["infer", "--model", str(tmp_path), "--questions", str(bad), "--output", "x"]) == 2


def test_quantization_errors(monkeypatch):
    assert bitsandbytes_config(None) is None
    with pytest.raises(ValueError, match=r"quantization must be one of \('8bit', '4bit'\)"):
        bitsandbytes_config("3bit")
    with pytest.raises(ValueError, match="runs on a CUDA GPU.*device='cpu'"):
        bitsandbytes_config("8bit", device="cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU and this machine has none"):
        bitsandbytes_config("4bit")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "bitsandbytes" else object())
    with pytest.raises(ImportError, match="pip install bitsandbytes"):
        bitsandbytes_config("8bit")
