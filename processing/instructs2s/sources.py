# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Instruction sources for the InstructS2S builder: text instructions from anywhere, as one `datasets.Dataset`.

LLaMA-Omni (arXiv 2409.06666) starts from text instruction data (Alpaca and UltraChat questions). This
module reads such data in the common layouts and returns a dataset with four columns:

    id           stable string id (the source's own ids when unique, else a hash of the instruction)
    source       where the instruction came from ("seed", a file or folder name, a Hub name)
    instruction  the instruction text (stripped; empty and duplicate instructions are dropped)
    answer       a short reference answer when the source has one (the seed file's factual questions), else None

Recognised layouts: Alpaca (``instruction`` + optional ``input``, joined with a newline; ``output`` is
ignored), chat conversations (``messages`` / ``conversations`` / ``conversation`` / ``data``: the first user
turn; OpenAI ``role``/``content``, ShareGPT ``from``/``value`` and UltraChat's list of strings), and a plain
``prompt`` / ``question`` / ``text`` / ``query`` column, or the column you name.

The seed file ``processing/instructs2s/data/seed_instructions.jsonl`` ships with the package so the builder runs offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import datasets

__all__ = [
    "INSTRUCTION_COLUMNS",
    "SEED_INSTRUCTIONS_PATH",
    "InstructionSourceError",
    "load_instructions",
    "read_seed_instructions",
]

SEED_INSTRUCTIONS_PATH = Path(__file__).resolve().parent / "data" / "seed_instructions.jsonl"
INSTRUCTION_COLUMNS = ("id", "source", "instruction", "answer")

_CHAT_COLUMNS = ("messages", "conversations", "conversation", "data")
_TEXT_COLUMNS = ("prompt", "question", "text", "query")
_USER_ROLES = {"user", "human"}
_FILE_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")
_BATCH = 1000


class InstructionSourceError(RuntimeError):
    """An instruction source could not be loaded (e.g. a Hub dataset while offline)."""


def read_seed_instructions(split: str = "all", path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The records of the seed file (``id``, ``instruction``, ``category``, ``answer``, ``split``).

    `split` is ``"train"``, ``"heldout"`` or ``"all"``; `path` defaults to the file shipped with the package.
    Raises ``ValueError`` for another split or a malformed line, ``FileNotFoundError`` if the file is missing.
    """
    if split not in ("train", "heldout", "all"):
        raise ValueError(f"split must be 'train', 'heldout' or 'all' for the seed file, got {split!r}")
    file = Path(path) if path is not None else SEED_INSTRUCTIONS_PATH
    records = []
    with open(file, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{file}:{number}: not JSON ({error})") from None
            if not isinstance(record, dict) or not {"id", "instruction", "split"} <= record.keys():
                raise ValueError(f"{file}:{number}: a seed record needs 'id', 'instruction' and 'split'")
            if split == "all" or record["split"] == split:
                records.append(record)
    return records


def load_instructions(
    source: str | os.PathLike | datasets.Dataset | datasets.DatasetDict,
    instruction_column: str | None = None,
    split: str = "train",
    limit: int | None = None,
    seed: int = 0,
) -> datasets.Dataset:
    """Load text instructions as a ``datasets.Dataset`` with columns ``id, source, instruction, answer``.

    Args:
        source: ``"seed"`` (the shipped seed file), the path of a ``.json`` (a list of objects, or JSON
            lines) / ``.jsonl`` / ``.csv`` / ``.parquet`` file, a folder written by ``save_to_disk``, a
            ``datasets.Dataset`` or ``DatasetDict``, or a Hub dataset name (tried with
            ``datasets.load_dataset`` only; fails clearly offline).
        instruction_column: the column holding the instruction (text, or a conversation whose first user
            turn is taken). Default: detected (see the module docstring).
        split: for ``"seed"``: ``"train"``, ``"heldout"`` or ``"all"``; for a ``DatasetDict``, a saved
            ``DatasetDict`` or a Hub dataset: the split to read. Ignored for single files.
        limit: keep at most this many instructions: a random subset drawn with `seed`, in source order.
        seed: the seed of that draw.

    Empty instructions and duplicates (same text up to case and whitespace) are dropped, the first one kept.
    An ``answer`` string column is carried over; otherwise ``answer`` is None.

    Raises ``FileNotFoundError`` for a local path that does not exist, ``ValueError`` for an unsupported
    file type, an unknown split or a source without a recognisable instruction column,
    :class:`InstructionSourceError` when ``datasets.load_dataset`` fails (offline, unknown name), and
    ``TypeError`` for another kind of `source`.
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
    if isinstance(source, str) and source == "seed":
        records = read_seed_instructions(split)
        rows = [(r["id"], r["instruction"], r.get("answer")) for r in records]
        return _to_dataset(_select(_dedupe(rows), limit, seed), "seed")
    dataset, name = _open_source(source, split)
    rows = list(_extract(dataset, instruction_column, name))
    return _to_dataset(_select(_dedupe(rows), limit, seed), name)


# ---------------------------------------------------------------------------------------------------------
# Opening a source
# ---------------------------------------------------------------------------------------------------------


def _open_source(source: Any, split: str) -> tuple[datasets.Dataset | list[dict[str, Any]], str]:
    """(a datasets.Dataset or a list of dict rows, the source name)."""
    if isinstance(source, datasets.Dataset):
        return source, _dataset_name(source)
    if isinstance(source, datasets.DatasetDict):
        return _pick_split(source, split, "the DatasetDict"), _dataset_name(source[next(iter(source))])
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be 'seed', a path, a datasets.Dataset or a Hub name, got {type(source).__name__}")
    path = Path(os.path.expanduser(os.fspath(source)))
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            loaded = _pick_split(loaded, split, str(path))
        return loaded, path.name
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".json", ".jsonl"):
            return _read_json_rows(path), path.name
        if suffix == ".csv":
            return datasets.Dataset.from_csv(str(path)), path.name
        if suffix == ".parquet":
            return datasets.Dataset.from_parquet(str(path)), path.name
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(_FILE_SUFFIXES)}")
    text = os.fspath(source)
    if text.lower().endswith(_FILE_SUFFIXES) or text.startswith(("/", "./", "../", "~")):
        raise FileNotFoundError(f"no such file or folder: {text}")
    return _load_from_hub(text, split), text


def _load_from_hub(name: str, split: str) -> datasets.Dataset:
    try:
        return datasets.load_dataset(name, split=split)
    except Exception as error:
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
        hint = " The Hugging Face Hub is not reachable (HF_HUB_OFFLINE is set)." if offline else ""
        raise InstructionSourceError(
            f"could not load {name!r} with datasets.load_dataset ({type(error).__name__}: {error}).{hint} "
            "Pass 'seed', a .json/.jsonl file, a folder saved with save_to_disk, or a datasets.Dataset instead."
        ) from error


def _pick_split(dataset_dict: datasets.DatasetDict, split: str, what: str) -> datasets.Dataset:
    if split not in dataset_dict:
        raise ValueError(f"{what} has no split {split!r}; it has {sorted(dataset_dict)}")
    return dataset_dict[split]


def _dataset_name(dataset: Any) -> str:
    name = getattr(getattr(dataset, "info", None), "dataset_name", None)
    return str(name) if name else "dataset"


def _read_json_rows(path: Path) -> list[dict[str, Any]]:
    """A JSON list of objects, an object holding one such list, or JSON lines."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        data = json.loads(text)
    elif path.suffix.lower() == ".json" and stripped.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # JSON lines in a .json file
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise ValueError(f"{path}: expected a list of objects (or one list inside an object)")
            data = lists[0]
    else:
        data = None
    if data is None:
        data = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    data.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: not JSON ({error})") from None
    if not all(isinstance(row, dict) for row in data):
        raise ValueError(f"{path}: every record must be a JSON object")
    return data


# ---------------------------------------------------------------------------------------------------------
# Finding the instruction
# ---------------------------------------------------------------------------------------------------------


def _columns_of(data: Any) -> list[str]:
    if isinstance(data, list):
        seen: dict[str, None] = {}
        for row in data:
            seen.update(dict.fromkeys(row))
        return list(seen)
    return list(data.column_names)


def _iter_rows(data: Any, columns: list[str]) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for row in data:
            yield {c: row.get(c) for c in columns}
        return
    subset = data.select_columns(columns)
    for batch in subset.iter(batch_size=_BATCH):
        for i in range(len(batch[columns[0]])):
            yield {c: batch[c][i] for c in columns}


def _text_of(content: Any) -> str | None:
    """Message content: a string, or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None


def _first_user_turn(value: Any) -> str | None:
    """The first user message of a conversation in OpenAI, ShareGPT or UltraChat form; a string as is."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(turn, str) for turn in value):  # UltraChat "data": user, assistant, user, ...
        return value[0]
    for turn in value:
        if isinstance(turn, dict):
            role = str(turn.get("role", turn.get("from", ""))).lower()
            if role in _USER_ROLES:
                return _text_of(turn.get("content", turn.get("value")))
    return None


def _extract(data: Any, instruction_column: str | None, name: str) -> Iterable[tuple[str | None, str, str | None]]:
    """(original id or None, instruction, answer or None) for every row with a non-empty instruction."""
    columns = _columns_of(data)
    if instruction_column is not None:
        if instruction_column not in columns:
            raise ValueError(f"{name}: no column {instruction_column!r}; columns are {columns}")
        column = instruction_column
    elif "instruction" in columns:
        column = "instruction"
    else:
        column = next((c for c in _CHAT_COLUMNS + _TEXT_COLUMNS if c in columns), None)
        if column is None:
            raise ValueError(
                f"{name}: no instruction column found among {columns}; expected one of "
                f"instruction, {', '.join(_CHAT_COLUMNS + _TEXT_COLUMNS)}, or pass instruction_column="
            )
    alpaca_input = column == "instruction" and "input" in columns
    extras = ("input", "id", "answer") if alpaca_input else ("id", "answer")
    wanted = [column] + [c for c in extras if c in columns and c != column]
    for row in _iter_rows(data, wanted):
        instruction = _first_user_turn(row[column])
        if instruction is None:
            continue
        instruction = instruction.strip()
        if alpaca_input and isinstance(row.get("input"), str) and row["input"].strip():
            instruction = instruction + "\n" + row["input"].strip()
        answer = row.get("answer")
        answer = answer.strip() or None if isinstance(answer, str) else None
        original_id = row.get("id")
        original_id = str(original_id) if isinstance(original_id, (str, int)) and str(original_id).strip() else None
        yield original_id, instruction, answer


def _dedupe(rows: Iterable[tuple[str | None, str, str | None]]) -> list[tuple[str | None, str, str | None]]:
    seen: set[str] = set()
    kept = []
    for original_id, instruction, answer in rows:
        instruction = instruction.strip() if isinstance(instruction, str) else ""
        key = " ".join(instruction.split()).casefold()
        if not key or key in seen:
            continue
        seen.add(key)
        kept.append((original_id, instruction, answer))
    return kept


def _select(rows: list, limit: int | None, seed: int) -> list:
    if limit is None or limit >= len(rows):
        return rows
    chosen = sorted(random.Random(seed).sample(range(len(rows)), limit))
    return [rows[i] for i in chosen]


def _stable_ids(rows: list[tuple[str | None, str, str | None]], name: str) -> list[str]:
    originals = [r[0] for r in rows]
    if rows and all(originals) and len(set(originals)) == len(originals):
        return [str(o) for o in originals]
    prefix = re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem if "/" not in name else name).strip("-").lower() or "instr"
    return [f"{prefix}-{hashlib.sha1(r[1].encode('utf-8')).hexdigest()[:12]}" for r in rows]


def _to_dataset(rows: list[tuple[str | None, str, str | None]], name: str) -> datasets.Dataset:
    features = datasets.Features({c: datasets.Value("string") for c in INSTRUCTION_COLUMNS})
    return datasets.Dataset.from_dict(
        {
            "id": _stable_ids(rows, name),
            "source": [name] * len(rows),
            "instruction": [r[1] for r in rows],
            "answer": [r[2] for r in rows],
        },
        features=features,
    )
