# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation sets: spoken questions with their text (and, where there is one, a short gold answer).

- ``heldout`` (offline): the seed instructions' held-out split (`processing/instructs2s/data/seed_instructions.jsonl`, 131
  questions never used in training), spoken by flite's "awb", a voice held out of training.
- a folder written by `build_paper_eval_set` (``eval_set.jsonl`` + ``audio/``), or any JSONL file of
  ``{"id", "question", "audio" (optional path, relative to the file), "category", "answer"}`` rows; rows without
  audio are spoken by the question voice.
- `build_paper_eval_set` rebuilds the paper's InstructS2S-Eval questions, which were never released: Alpaca-Eval's
  helpful_base and vicuna subsets with the math and code questions removed (199 questions), synthesised. It needs the
  Hub (or a local copy of `alpaca_eval.json` given as `source`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

HELDOUT_NAMES = ("heldout", "seed-heldout")
HELDOUT_VOICE = "flite:awb"
EVAL_SET_FILE = "eval_set.jsonl"
PAPER_SET_NAME = "InstructS2S-Eval (rebuilt: Alpaca-Eval helpful_base + vicuna, no math/code)"
PAPER_SUBSETS = ("helpful_base", "vicuna")
PAPER_NUM_QUESTIONS = 199
ALPACA_EVAL_REPO = "tatsu-lab/alpaca_eval"
ALPACA_EVAL_FILE = "alpaca_eval.json"


@dataclass
class EvalExample:
    """One spoken question.

    Attributes:
        id: unique within the set (used in file names: letters, digits, `-`, `_`, `.`).
        question: its text.
        audio: float32 mono 16 kHz.
        category: e.g. "factual" (optional).
        answer: a short gold answer for factual questions (optional).
    """

    id: str
    question: str
    audio: np.ndarray
    category: str | None = None
    answer: str | None = None


@dataclass
class EvalSetInfo:
    """What the report says about the set (the `eval_set` object of the evaluation JSON)."""

    name: str
    description: str
    split: str | None = None
    id: str | None = None
    num_examples: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "description": self.description, "num_examples": self.num_examples}
        if self.split:
            data["split"] = self.split
        if self.id:
            data["id"] = self.id
        return data


def seed_file() -> Path:
    """The seed instructions shipped with the data builder (`processing/instructs2s/data/seed_instructions.jsonl`)."""
    from processing.instructs2s.sources import SEED_INSTRUCTIONS_PATH

    return SEED_INSTRUCTIONS_PATH


def heldout_questions() -> list[dict[str, Any]]:
    """The held-out rows of the seed file: `{"id", "instruction", "category", "answer", "split"}`, in file order."""
    rows = [json.loads(line) for line in seed_file().read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("split") == "heldout"]


def _safe_id(value: Any, index: int) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", str(value if value not in (None, "") else f"q{index:04d}")).strip("-.")
    return text or f"q{index:04d}"


def speak(texts: list[str], voice_name: str, progress: bool) -> list[np.ndarray]:
    from offline_assets.tts import get_voice

    voice = get_voice(voice_name)
    return voice.synthesize_batch(texts, progress=progress)


def load_eval_set(name_or_path: str, limit: int | None = None, voice: str = HELDOUT_VOICE,
                  progress: bool = False) -> tuple[EvalSetInfo, list[EvalExample]]:
    """The spoken questions of an evaluation set (see the module docstring).

    Args:
        name_or_path: "heldout", a folder holding `eval_set.jsonl`, or a JSONL file.
        limit: keep the first `limit` questions.
        voice: the TTS voice (`offline_assets.tts.get_voice` name) for questions without audio.
        progress: show a progress bar while speaking questions.

    Raises:
        FileNotFoundError: no such set, file or audio file.
        ValueError: a malformed row (no question, a repeated id) or an empty set.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if name_or_path in HELDOUT_NAMES:
        rows = heldout_questions()[:limit]
        examples = [EvalExample(id=_safe_id(r["id"], i), question=r["instruction"], audio=np.zeros(0, np.float32),
                                category=r.get("category"), answer=r.get("answer")) for i, r in enumerate(rows)]
        for example, audio in zip(examples, speak([e.question for e in examples], voice, progress)):
            example.audio = audio
        info = EvalSetInfo(
            name="LLaMA-Omni seed instructions, held-out split",
            description=f"held-out seed questions (never trained on) spoken by {voice} (a voice held out of "
                        "training); factual ones carry a short gold answer",
            split="heldout", num_examples=len(examples),
        )
        return info, examples

    path = Path(name_or_path)
    if path.is_dir():
        path = path / EVAL_SET_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no evaluation set {name_or_path!r}: use {' or '.join(repr(n) for n in HELDOUT_NAMES)}, a folder with "
            f"{EVAL_SET_FILE} (`llama-omni evaluate build-set`), or a JSONL file"
        )
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:limit] if limit is not None else rows
    if not rows:
        raise ValueError(f"{path} holds no question")
    examples, to_speak, seen = [], [], set()
    from processing.processing_llama_omni import load_audio

    for i, row in enumerate(rows):
        question = row.get("question") or row.get("instruction")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{path}: row {i + 1} has no 'question' text")
        example_id = _safe_id(row.get("id"), i)
        if example_id in seen:
            raise ValueError(f"{path}: id {example_id!r} appears twice")
        seen.add(example_id)
        example = EvalExample(id=example_id, question=question.strip(), audio=np.zeros(0, np.float32),
                              category=row.get("category"), answer=row.get("answer"))
        if row.get("audio"):
            audio_path = Path(row["audio"])
            audio_path = audio_path if audio_path.is_absolute() else path.parent / audio_path
            if not audio_path.is_file():
                raise FileNotFoundError(f"{path}: row {i + 1}: audio file not found: {audio_path}")
            example.audio = load_audio(str(audio_path), max_seconds=None)
        else:
            to_speak.append(example)
        examples.append(example)
    for example, audio in zip(to_speak, speak([e.question for e in to_speak], voice, progress) if to_speak else []):
        example.audio = audio
    meta_path = path.parent / "build_report.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    info = EvalSetInfo(
        name=meta.get("name") or path.parent.name or path.stem,
        description=meta.get("description") or f"questions of {path}"
        + (f"; those without audio spoken by {voice}" if to_speak else ""),
        split=meta.get("split"), id=meta.get("id"), num_examples=len(examples),
    )
    return info, examples


# --------------------------------------------------------------------------------------------------------------
# The paper's set: Alpaca-Eval helpful_base + vicuna without math and code
# --------------------------------------------------------------------------------------------------------------

# Questions that ask for code: an imperative to write or implement a program-like thing, a programming language as the
# medium of the answer, a textbook algorithm, or code syntax. ("What if Turing had not cracked the Enigma code?",
# "What are the differences between Python and JavaScript?" or "Write a script for a YouTube video" ask for no code.)
_CODE_PATTERNS = [
    r"\b(implement|write|develop|code|debug)\b[^.?!]{0,40}\b(program|function|algorithm|regex|regular expression|"
    r"data structure)s?\b",
    r"\b(write|writing)\s+(some\s+|the\s+|a\s+)?code\b",
    r"\b(in|using)\s+(python|c\+\+|c#|java|javascript|typescript|rust|golang|sql|html|bash)\b",
    r"\b(dynamic programming|binary search|linked list|hash ?map|two stacks|sorted array|fibonacci)\b",
    r"```|\bdef \w+\(|#include\b|\bconsole\.log\b",
]
# Questions that ask to compute: function values, equations, algebra, coordinate geometry, arithmetic drills.
_MATH_PATTERNS = [
    r"\b[a-z]\s*\(\s*[a-z0-9]\s*\)\s*=",                       # f(x) = ...
    r"\bsolve\b[^.?!]{0,30}\b(for|equation|inequality)\b",
    r"(?<![\w.])\d+(\.\d+)?\s*[xyzn]\b\s*[-+*/^=]|\b[xyzn]\s*\^\s*\d",  # 3x + 10, x^2
    r"(?<![\w.])\d+(\.\d+)?\s*[-+*/^]\s*\d+(\.\d+)?\s*=",       # 2 + 2 =
    r"\(\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*\)",          # a point (2, -2)
    r"\b(line segment|derivative of|integral of|quadratic|prime factors?|equation)\b",
]
_CODE_RE = [re.compile(p, re.IGNORECASE) for p in _CODE_PATTERNS]
_MATH_RE = [re.compile(p, re.IGNORECASE) for p in _MATH_PATTERNS]


def math_or_code(instruction: str) -> str | None:
    """"code" or "math" when the instruction asks for code or for a calculation, else None."""
    if any(p.search(instruction) for p in _CODE_RE):
        return "code"
    if any(p.search(instruction) for p in _MATH_RE):
        return "math"
    return None


def select_paper_questions(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Alpaca-Eval rows (`{"instruction", "dataset", ...}`) -> `(kept, removed)`: the helpful_base and vicuna rows,
    in order, split into the kept questions and the math / code ones (each removed row gets a `"removed"` reason).
    Rows of other subsets are in neither list."""
    kept, removed = [], []
    for row in rows:
        if row.get("dataset") not in PAPER_SUBSETS:
            continue
        reason = math_or_code(str(row.get("instruction", "")))
        if reason:
            removed.append({**row, "removed": reason})
        else:
            kept.append(row)
    return kept, removed


def _alpaca_eval_rows(source: str | os.PathLike | None) -> list[dict[str, Any]]:
    if source is None:
        from huggingface_hub import hf_hub_download

        source = hf_hub_download(ALPACA_EVAL_REPO, ALPACA_EVAL_FILE, repo_type="dataset")
    text = Path(source).read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not isinstance(data, list) or not all(isinstance(r, dict) and "instruction" in r for r in data):
        raise ValueError(f"{source} is not Alpaca-Eval data (a list of objects with 'instruction' and 'dataset')")
    return data


def build_paper_eval_set(output_dir: str | os.PathLike, source: str | os.PathLike | None = None,
                         voice: str = HELDOUT_VOICE, expected: int | None = PAPER_NUM_QUESTIONS,
                         progress: bool = True) -> dict[str, Any]:
    """Writes the paper's evaluation questions as a spoken set: `output_dir/eval_set.jsonl`, `audio/<id>.wav` and
    `build_report.json` (counts, and every removed question with its reason, to review).

    Args:
        output_dir: the folder to write (then `llama-omni evaluate --eval-set output_dir`).
        source: a local `alpaca_eval.json` (or JSONL); default: downloaded from the Hub (tatsu-lab/alpaca_eval).
        voice: the TTS voice of the questions (default: flite "awb", held out of training).
        expected: the question count to expect (the paper's 199); a different count is reported, not fatal.
        progress: show a progress bar.

    Returns:
        The build report.

    Raises:
        ValueError: `source` is not Alpaca-Eval data, or it holds no helpful_base / vicuna question.
        TTSError / TTSUnavailableError: the voice failed.
    """
    from inference import write_wav

    rows = _alpaca_eval_rows(source)
    kept, removed = select_paper_questions(rows)
    if not kept:
        raise ValueError("no helpful_base or vicuna question in the source")
    out = Path(output_dir)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    ids = [f"{row['dataset']}-{i:03d}" for i, row in enumerate(kept)]
    audios = speak([str(row["instruction"]).strip() for row in kept], voice, progress)
    lines = []
    for example_id, row, audio in zip(ids, kept, audios):
        write_wav(out / "audio" / f"{example_id}.wav", audio, 16000)
        lines.append(json.dumps({"id": example_id, "question": str(row["instruction"]).strip(),
                                 "audio": f"audio/{example_id}.wav", "category": row["dataset"]}, ensure_ascii=False))
    (out / EVAL_SET_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = {
        "name": PAPER_SET_NAME,
        "description": f"Alpaca-Eval helpful_base + vicuna questions without math and code, spoken by {voice}",
        "split": "eval",
        "num_examples": len(kept),
        "expected": expected,
        "matches_paper": expected is None or len(kept) == expected,
        "per_subset": {s: sum(r["dataset"] == s for r in kept) for s in PAPER_SUBSETS},
        "voice": voice,
        "removed": [{"dataset": r["dataset"], "instruction": r["instruction"], "reason": r["removed"]}
                    for r in removed],
    }
    (out / "build_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


__all__ = [
    "EvalExample",
    "EvalSetInfo",
    "HELDOUT_NAMES",
    "HELDOUT_VOICE",
    "PAPER_NUM_QUESTIONS",
    "build_paper_eval_set",
    "heldout_questions",
    "load_eval_set",
    "math_or_code",
    "select_paper_questions",
]
