# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The plan and the shard storage of an InstructS2S build: seeds and hashes, the plan, atomic shard files, the lock.

Layout of a build folder::

    output_dir/
        dataset_dict.json, train/, test/, ...   the assembled DatasetDict (written last, see `assemble`)
        build_report.json, rejected.jsonl
        unit_extractor/                         an extractor fitted during the build
        _build/
            plan.json                           the examples to build, in shards, with the recipe's fingerprint
            lock                                the pid of the build writing this folder
            speech/<split>-<k>/                 steps 1-3 of a shard (save_to_disk + manifest.json)
            units/<split>-<k>/                  step 4 of a shard

A shard is written under a temporary name (``.<name>.tmp-<pid>-<random>``), gets its ``manifest.json`` (counts,
rejections, timings, file sizes and checksums) and is then renamed into place, so a half-written shard is never
read: :func:`finished_manifest` accepts only a shard whose manifest has the expected fingerprint and whose files
have the recorded sizes. Everything random derives from :func:`example_seed`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .recipe import BuildConfig, BuildConfigError, SourceConfig

SAMPLING_RATE = 16000
BUILD_DIR = "_build"
PLAN_NAME = "plan.json"
MANIFEST_NAME = "manifest.json"
LOCK_NAME = "lock"
REPORT_NAME = "build_report.json"
REJECTED_NAME = "rejected.jsonl"
EXTRACTOR_DIR = "unit_extractor"
FORMAT_VERSION = 1


def features(with_units: bool = True) -> Any:
    """The ``datasets.Features`` of a built split (``response_units`` only after step 4)."""
    import datasets

    columns = {
        "id": datasets.Value("string"),
        "source": datasets.Value("string"),
        "instruction": datasets.Value("string"),
        "speech_instruction": datasets.Audio(sampling_rate=SAMPLING_RATE),
        "instruction_voice": datasets.Value("string"),
        "response": datasets.Value("string"),
        "speech_response": datasets.Audio(sampling_rate=SAMPLING_RATE),
    }
    if with_units:
        columns["response_units"] = datasets.List(datasets.Value("int64"))
    return datasets.Features(columns)


# ---------------------------------------------------------------------------------------------------------
# Seeds and hashes
# ---------------------------------------------------------------------------------------------------------


def example_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any parts (the same across runs, processes and machines)."""
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def combined_hash(files: Mapping[str, Any], keep: Callable[[str], bool]) -> str:
    """One hash of the ``{name: {"sha256": ...}}`` entries whose name `keep` accepts, in name order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        if keep(name):
            digest.update(f"{name}:{files[name]['sha256']}\n".encode())
    return digest.hexdigest()


def identity(obj: Any) -> str:
    """An injected component's identity in fingerprints and reports: its class's qualified name."""
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def extractor_hash(extractor: Any) -> str:
    """The identity of a unit extractor object: its class, centroids and encoder (source, kind, layer)."""
    centroids = getattr(extractor, "centroids", None)
    digest = hashlib.sha256(identity(extractor).encode())
    if centroids is not None:
        array = np.ascontiguousarray(np.asarray(centroids.cpu() if hasattr(centroids, "cpu") else centroids,
                                                dtype=np.float32))
        digest.update(array.tobytes())
        digest.update(str(array.shape).encode())
    for key in ("encoder_source", "encoder_kind", "layer"):
        digest.update(f"{key}={getattr(extractor, key, None)}".encode())
    return digest.hexdigest()


def extractor_dir_hash(folder: Path) -> str:
    """The identity of a saved unit extractor folder: its centroids file and encoder (source, kind, layer)."""
    from .units import CENTROIDS_NAME, CONFIG_NAME

    config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    digest = hashlib.sha256(sha256_file(folder / CENTROIDS_NAME).encode())
    for key in ("encoder", "encoder_kind", "layer"):
        digest.update(f"{key}={config.get(key)}".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------
# The plan: reading the sources, sharing the limit, cutting shards
# ---------------------------------------------------------------------------------------------------------


def read_source(source: SourceConfig) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All usable instructions of one source: rows ``{id, source, instruction, answer}`` and statistics.

    Raises ``BuildConfigError`` for a missing or clashing response column, ``FileNotFoundError`` for a missing file
    and ``processing.instructs2s.sources.InstructionSourceError`` for a source that cannot be opened.
    """
    from . import sources

    if source.path == "seed":
        data: Any = sources.read_seed_instructions(source.split)
        name = "seed"
    else:
        data, name = sources._open_source(source.path, source.split)
    name = source.name or name
    column = source.response_column
    if column is not None:
        columns = sources._columns_of(data)
        if column not in columns:
            raise BuildConfigError(f"source {source.path}: no response column {column!r}; columns are {columns}")
        if column == (source.instruction_column or "instruction"):
            raise BuildConfigError(f"source {source.path}: response_column and instruction_column are the same")
        if isinstance(data, list):
            data = [{**{k: v for k, v in row.items() if k != "answer"}, "answer": row.get(column)} for row in data]
        else:
            if "answer" in data.column_names:
                data = data.remove_columns("answer")
            data = data.rename_column(column, "answer")
    num_rows = len(data)
    rows = list(sources._extract(data, source.instruction_column, name))
    unique = sources._dedupe(rows)
    ids = sources._stable_ids(unique, name)
    out = [{"id": i, "source": name, "instruction": r[1], "answer": r[2]} for i, r in zip(ids, unique)]
    stats = {
        "path": source.path, "split": source.split, "output_split": source.target_split, "name": name,
        "rows": num_rows, "without_instruction": num_rows - len(rows), "duplicate_or_empty": len(rows) - len(unique),
        "available": len(out),
    }  # fmt: skip
    return out, stats


def shares(sizes: list[int], limit: int | None) -> list[int]:
    """`limit` split among sources in proportion to their sizes (largest remainders), each at most its size."""
    total = sum(sizes)
    if limit is None or limit >= total:
        return list(sizes)
    exact = [limit * s / total for s in sizes]
    parts = [math.floor(x) for x in exact]
    order = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[: limit - sum(parts)]:
        parts[i] += 1
    return parts


def _subset(rows: list, k: int, seed: int) -> list:
    if k >= len(rows):
        return rows
    chosen = sorted(random.Random(seed).sample(range(len(rows)), k))
    return [rows[i] for i in chosen]


def read_plan_rows(config: BuildConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict]]:
    """(rows to build, with their split; source statistics; rows dropped as duplicate ids)."""
    per_source, stats = [], []
    for index, source in enumerate(config.sources):
        rows, stat = read_source(source)
        if source.limit is not None:
            rows = _subset(rows, source.limit, example_seed(config.seed, "source", index))
        per_source.append(rows)
        stats.append(stat)
    planned, duplicates, seen = [], [], set()
    for index, (source, rows, share) in enumerate(
        zip(config.sources, per_source, shares([len(r) for r in per_source], config.limit))
    ):
        rows = _subset(rows, share, example_seed(config.seed, "limit", index))
        stats[index]["selected"] = len(rows)
        for row in rows:
            row = dict(row, split=source.target_split)
            if row["id"] in seen:
                duplicates.append(row)
                continue
            seen.add(row["id"])
            planned.append(row)
    return planned, stats, duplicates


def make_shards(rows: list[dict[str, Any]], shard_size: int) -> list[dict[str, Any]]:
    """The rows cut into shards of `shard_size` per split: ``{"name": "<split>-<k>", "split", "rows"}``."""
    by_split: dict[str, list] = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(row)
    shards = []
    for split, split_rows in by_split.items():
        for k, start in enumerate(range(0, len(split_rows), shard_size)):
            shards.append({"name": f"{split}-{k:05d}", "split": split, "rows": split_rows[start : start + shard_size]})
    return shards


# ---------------------------------------------------------------------------------------------------------
# Atomic files and shards
# ---------------------------------------------------------------------------------------------------------


def temporary_name(final: Path) -> Path:
    """A unique temporary sibling of `final` (``.<name>.tmp-<pid>-<random>``), removed by `clean_temporary`."""
    return final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to a temporary file, fsync it, then rename it to `path`."""
    tmp = temporary_name(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@contextmanager
def quiet_datasets():
    """No ``datasets`` progress bars inside the block (restored after, if they were on)."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def publish_shard(dataset: Any, manifest: dict[str, Any], final: Path) -> dict[str, Any]:
    """Save `dataset` + `manifest.json` under a temporary name, then rename to `final` (atomic on one disk)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    with quiet_datasets():
        dataset.save_to_disk(str(tmp))
    files = {}
    for path in sorted(tmp.iterdir()):
        if path.is_file():
            files[path.name] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = dict(manifest, files=files, num_rows=len(dataset),
                    data_sha256=combined_hash(files, lambda n: n.endswith(".arrow")))
    write_json_atomic(tmp / MANIFEST_NAME, manifest)
    if final.exists():  # an invalid shard left by an older run: replaced, never read
        shutil.rmtree(final)
    os.rename(tmp, final)
    return manifest


def finished_manifest(folder: Path, fingerprint: str) -> dict[str, Any] | None:
    """The manifest of a finished, intact shard with this fingerprint, else None (the shard is redone)."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for name, info in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != info.get("size"):
            return None
    return manifest


def load_shard(folder: Path, stage: str) -> Any:
    """A finished shard as a Dataset (an empty one, where every example was rejected, is made from the features:
    datasets cannot reload a saved 0-row dataset)."""
    import datasets

    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    if manifest.get("num_rows") == 0:
        schema = features(with_units=stage == "units")
        return datasets.Dataset.from_dict({name: [] for name in schema}, features=schema)
    return datasets.load_from_disk(str(folder))


def assemble(build_dir: Path, output_dir: Path, shards: list[dict[str, Any]], stage: str) -> Any:
    """The finished shards of `stage` concatenated per split and saved as the ``DatasetDict`` in `output_dir`,
    replacing an earlier one: the split folders first, ``dataset_dict.json`` (the marker of a dataset) last."""
    import datasets

    schema = features(with_units=stage == "units")
    by_split: dict[str, list] = {}
    for shard in shards:
        by_split.setdefault(shard["split"], []).append(load_shard(build_dir / stage / shard["name"], stage))
    splits = {}
    for split, parts in by_split.items():
        splits[split] = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        splits[split] = splits[split].cast(schema) if splits[split].features != schema else splits[split]
    dataset = datasets.DatasetDict(splits)
    tmp = temporary_name(output_dir / "dataset")
    with quiet_datasets():
        dataset.save_to_disk(str(tmp))
    marker = output_dir / "dataset_dict.json"
    if marker.exists():
        old = json.loads(marker.read_text(encoding="utf-8")).get("splits", [])
        marker.unlink()
        for split in old:
            shutil.rmtree(output_dir / split, ignore_errors=True)
    for split in splits:
        target = output_dir / split
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp / split, target)
    os.rename(tmp / "dataset_dict.json", marker)
    shutil.rmtree(tmp, ignore_errors=True)
    return dataset


def write_rejected(path: Path, groups: Iterable[Iterable[dict[str, Any]]]) -> None:
    """Write every rejected row of every group as one JSON line, atomically."""
    tmp = temporary_name(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        for rows in groups:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------
# One build per folder: the lock, left-overs of killed runs, starting over
# ---------------------------------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def build_lock(build_dir: Path, output_dir: Path):
    """Hold ``build_dir/lock`` (this process's pid) for the block.

    Raises ``RuntimeError`` when a living process holds it (a lock left by a dead process is taken over).
    """
    path = build_dir / LOCK_NAME
    try:
        pid = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid() and _pid_alive(pid):
        raise RuntimeError(f"another build (process {pid}) is writing {output_dir}; wait for it, or remove "
                           f"{path} if that process is not a builder")
    path.write_text(str(os.getpid()))
    try:
        yield
    finally:
        try:
            path.unlink()
        except OSError:
            pass


def clean_temporary(folders: Iterable[Path]) -> None:
    """Remove half-written shards / files of a killed run (never read; the lock says no other build is running)."""
    for folder in folders:
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.startswith(".") and ".tmp-" in path.name:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()


def clear_output(output_dir: Path, keep: Path | None = None) -> None:
    """Delete an earlier build in `output_dir` (shards, extractor, report, dataset), but never `keep` (an
    extractor folder the recipe names is the user's)."""
    if not output_dir.exists():
        return
    for name in [BUILD_DIR, EXTRACTOR_DIR, REPORT_NAME, REJECTED_NAME, "dataset_dict.json"]:
        path = output_dir / name
        if name == EXTRACTOR_DIR and keep is not None and keep.resolve() == path.resolve():
            continue
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for split_dir in output_dir.iterdir():
        if split_dir.is_dir() and (split_dir / "state.json").is_file():
            shutil.rmtree(split_dir)
