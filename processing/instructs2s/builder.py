# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The InstructS2S builder: text instructions -> a speech-instruction ``DatasetDict`` for LLaMA-Omni training.

LLaMA-Omni (arXiv 2409.06666, section 3) trains on triplets <speech instruction, text response, speech response
(+ its discrete units)> built from text instruction data. This module runs the whole recipe, offline or at scale:

    read      text instructions from one or more sources (``processing.instructs2s.sources``)
    rewrite   step 1: the instruction as a person would say it (an LLM "writer", then the speech normalizer)
    respond   step 2: the answer, written to be read aloud (same writer); or the source's own responses
    speak     step 3: the instruction in a voice drawn per example from several, the response in one voice
              (``offline_assets.tts``; 16 kHz mono float)
    units     step 4: discrete units of the response speech (``processing.instructs2s.units``), optionally with a
              k-means extractor fitted on the build's own response speech first

Every example is validated (speakable text within the word limits, audio neither empty, silent nor clipped and
within the length limits, units non-empty); a rejected example is counted by step and reason in
``build_report.json`` and listed in ``rejected.jsonl``, never dropped silently.

Output (``save_to_disk`` layout, reload with ``datasets.load_from_disk(output_dir)``)::

    output_dir/
        dataset_dict.json, train/, test/, ...   the DatasetDict: id, source, instruction, speech_instruction
                                                (Audio 16 kHz), instruction_voice, response, speech_response
                                                (Audio 16 kHz), response_units (list of int)
        build_report.json                       counts (read / rejected per step and reason / kept), timings, config
        rejected.jsonl                          one line per rejected example: id, split, step, reason, detail, text
        unit_extractor/                         the extractor fitted during the build (with ``units.fit``)
        _build/                                 shards, manifests and the plan (kept unless ``keep_shards: false``)

Sharded and resumable: the examples are planned once (``_build/plan.json``), in shards of ``shard_size``
examples per split. A shard is written under a temporary name, gets a small ``manifest.json`` (counts,
rejections, timings, file sizes and checksums) and is then renamed into place, so a half-written shard is never
read; a rerun with the same recipe skips finished shards and redoes the others. Everything random is derived from
``(seed, example id)`` (the instruction voice, the TTS noise) or ``(seed, shard)`` (writer sampling), so a run that
was killed and restarted produces the same dataset as an uninterrupted run. With ``num_proc > 1`` shards are
processed in parallel by spawned worker processes, each loading its own writer, voices and unit extractor once.

Modules: ``recipe`` (the YAML recipe, :class:`BuildConfig`), ``shards`` (the plan, atomic shard files, the lock),
``steps`` (the per-shard pipeline, the audio checks), this one (the orchestration, the report, the Hub push) and
``cli`` (``llama-omni data build``: :func:`processing.instructs2s.cli.data_main`). Python: :func:`build_dataset`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .recipe import BuildConfig, BuildConfigError
from .shards import (
    BUILD_DIR,
    EXTRACTOR_DIR,
    FORMAT_VERSION,
    PLAN_NAME,
    REJECTED_NAME,
    REPORT_NAME,
    SAMPLING_RATE,
    assemble,
    build_lock,
    clean_temporary,
    clear_output,
    extractor_dir_hash,
    extractor_hash,
    finished_manifest,
    identity,
    load_shard,
    make_shards,
    read_plan_rows,
    temporary_name,
    write_json_atomic,
    write_rejected,
)
from .steps import ShardPipeline, init_worker, load_voice, worker_speech, worker_units

logger = logging.getLogger(__name__)

__all__ = ["BuildResult", "build_dataset", "push_to_hub"]

STOP_AFTER_ENV = "LLAMA_OMNI_DATA_STOP_AFTER_SHARDS"
STOP_EXIT_CODE = 75
STEPS = ("read", "rewrite", "instruction_text", "respond", "response_text", "instruction_speech",
         "response_speech", "units")  # fmt: skip


@dataclass
class BuildResult:
    """What :func:`build_dataset` returns.

    Attributes:
        dataset: the ``DatasetDict`` (memory-mapped from `output_dir`).
        report: the contents of ``build_report.json``.
        output_dir: where it was saved.
    """

    dataset: Any
    report: dict[str, Any]
    output_dir: str

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> None:
        """:func:`push_to_hub` of this build."""
        push_to_hub(self.output_dir, repo_id, **kwargs)


class _Builder:
    """One run of :func:`build_dataset`: plan, the speech stage, the units stage, assembling and the report."""

    def __init__(self, config: BuildConfig, writer: Any, voices: Mapping[str, Any] | None, unit_extractor: Any,
                 overwrite: bool, progress: bool) -> None:
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.build_dir = self.output_dir / BUILD_DIR
        self.injected = {"writer": writer, "voices": dict(voices or {}), "extractor": unit_extractor}
        self.overwrite = overwrite
        self.progress = progress
        self.stop_after = int(os.environ.get(STOP_AFTER_ENV) or 0)
        self.shards_done_this_run = 0
        self.timings: dict[str, float] = {}
        self._pipeline: ShardPipeline | None = None
        components = {
            "writer": identity(writer) if writer is not None else None,
            "voices": {k: identity(v) for k, v in sorted(self.injected["voices"].items())},
            "extractor": extractor_hash(unit_extractor) if unit_extractor is not None else None,
        }
        payload = {"format_version": FORMAT_VERSION, "config": config.fingerprint_dict(), "components": components}
        self.fingerprint = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    # ---------------------------------------------------------------------------------------------------
    def run(self) -> BuildResult:
        """Build, resume or reload; see :func:`build_dataset`."""
        import datasets

        started = time.perf_counter()
        if self.overwrite:
            named = self.config.units.extractor
            clear_output(self.output_dir, keep=Path(named) if named else None)
        report_path = self.output_dir / REPORT_NAME
        if report_path.is_file() and (self.output_dir / "dataset_dict.json").is_file():
            report = json.loads(report_path.read_text(encoding="utf-8"))
            if report.get("complete") and report.get("config_fingerprint") == self.fingerprint:
                logger.info("%s already holds this build; nothing to do", self.output_dir)
                return BuildResult(datasets.load_from_disk(str(self.output_dir)), report, str(self.output_dir))
        self._check_components()
        self.build_dir.mkdir(parents=True, exist_ok=True)
        with build_lock(self.build_dir, self.output_dir):
            clean_temporary([self.build_dir, self.build_dir / "speech", self.build_dir / "units", self.output_dir])
            plan = self._plan()
            shards = [dict(s, fingerprint=self.fingerprint) for s in plan["shards"]]
            reused = {"speech": 0, "units": 0}

            todo = [s for s in shards if finished_manifest(self.build_dir / "speech" / s["name"], self.fingerprint)
                    is None]
            reused["speech"] = len(shards) - len(todo)
            start = time.perf_counter()
            self._run_stage("speech", todo, len(shards))
            self.timings["speech_stage"] = time.perf_counter() - start
            speech = {s["name"]: finished_manifest(self.build_dir / "speech" / s["name"], self.fingerprint)
                      for s in shards}
            missing = [n for n, m in speech.items() if m is None]
            if missing:
                raise RuntimeError(f"shards {missing[:5]} were not written; rerun the build")

            final_stage = "speech"
            extractor_info: dict[str, Any] = {"enabled": self.config.units.enabled}
            if self.config.units.enabled:
                final_stage = "units"
                extractor_dir, extractor_id, extractor_info = self._unit_extractor(shards)
                unit_specs = []
                for s in shards:
                    fingerprint = hashlib.sha256(
                        f"{self.fingerprint}:{extractor_id}:{speech[s['name']]['data_sha256']}".encode()
                    ).hexdigest()
                    unit_specs.append({"name": s["name"], "split": s["split"], "fingerprint": fingerprint})
                todo = [s for s in unit_specs
                        if finished_manifest(self.build_dir / "units" / s["name"], s["fingerprint"]) is None]
                reused["units"] = len(unit_specs) - len(todo)
                start = time.perf_counter()
                self._run_stage("units", todo, len(unit_specs), extractor_dir=extractor_dir)
                self.timings["units_stage"] = time.perf_counter() - start
                finals = {s["name"]: finished_manifest(self.build_dir / "units" / s["name"], s["fingerprint"])
                          for s in unit_specs}
            else:
                finals = speech
            if any(m is None for m in finals.values()):
                raise RuntimeError("some unit shards were not written; rerun the build")

            start = time.perf_counter()
            dataset = assemble(self.build_dir, self.output_dir, shards, final_stage)
            self.timings["assemble"] = time.perf_counter() - start
            self.timings["run_wall"] = time.perf_counter() - started
            report = self._report(plan, shards, speech, finals if final_stage == "units" else None, extractor_info,
                                  reused, dataset)
            stages = [speech] + ([finals] if final_stage == "units" else [])
            write_rejected(self.output_dir / REJECTED_NAME, [plan.get("duplicate_ids", [])] + [
                manifest["rejected"] for manifests in stages for manifest in manifests.values()])
            write_json_atomic(self.output_dir / REPORT_NAME, report)
            if not self.config.keep_shards:
                shutil.rmtree(self.build_dir / "speech", ignore_errors=True)
                shutil.rmtree(self.build_dir / "units", ignore_errors=True)
        return BuildResult(datasets.load_from_disk(str(self.output_dir)), report, str(self.output_dir))

    def _check_components(self) -> None:
        """Fail before any work: unknown voices, missing extractor folder."""
        for name in dict.fromkeys(self.config.instruction_voices + [self.config.response_voice]):
            load_voice(name, self.injected["voices"], self.config.voice_options)
        units = self.config.units
        if units.enabled and self.injected["extractor"] is None and units.fit is None:
            folder = Path(units.extractor)
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"missing unit extractor: {folder} does not exist. Fit one with `llama-omni units fit ... "
                    f"--output {folder}`, add units.fit to the recipe, or set units.extractor: none"
                )
            from .units import CONFIG_NAME

            if not (folder / CONFIG_NAME).is_file():
                raise FileNotFoundError(f"missing unit extractor: {folder} has no {CONFIG_NAME} (not a UnitExtractor "
                                        "folder written by `llama-omni units fit` / save_pretrained)")

    def _plan(self) -> dict[str, Any]:
        path = self.build_dir / PLAN_NAME
        if path.is_file():
            plan = json.loads(path.read_text(encoding="utf-8"))
            if plan.get("fingerprint") == self.fingerprint:
                return plan
            raise BuildConfigError(
                f"{self.output_dir} holds a build made with another recipe (or other components); use another "
                "output_dir, or pass overwrite=True (`--overwrite`) to start over"
            )
        if (self.output_dir / "dataset_dict.json").is_file():
            raise BuildConfigError(f"{self.output_dir} already holds a dataset from another build; use another "
                                   "output_dir or pass overwrite=True (`--overwrite`)")
        start = time.perf_counter()
        rows, stats, duplicates = read_plan_rows(self.config)
        if not rows:
            raise BuildConfigError("the sources gave no instructions to build from")
        plan = {
            "format_version": FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "config": self.config.to_dict(),
            "sources": stats,
            "duplicate_ids": [{"id": r["id"], "split": r["split"], "step": "read", "reason": "duplicate id",
                               "detail": f"id {r['id']} already read from another source",
                               "text": r["instruction"][:500]} for r in duplicates],
            "read": len(rows) + len(duplicates),
            "shards": make_shards(rows, self.config.shard_size),
            "read_seconds": round(time.perf_counter() - start, 3),
        }
        write_json_atomic(path, plan)
        return plan

    def _after_shard(self) -> None:
        self.shards_done_this_run += 1
        if self.stop_after and self.shards_done_this_run >= self.stop_after:
            logger.warning("%s=%d: stopping abruptly (testing hook)", STOP_AFTER_ENV, self.stop_after)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(STOP_EXIT_CODE)

    def _state(self, extractor_dir: str | None, progress: bool) -> dict[str, Any]:
        return {
            "config": self.config,
            "build_dir": str(self.build_dir),
            "writer": self.injected["writer"],
            "voices": self.injected["voices"],
            "extractor": self.injected["extractor"],
            "extractor_dir": extractor_dir,
            "progress": progress,
        }

    def _run_stage(self, stage: str, specs: list[dict[str, Any]], total: int, extractor_dir: str | None = None) -> None:
        from tqdm.auto import tqdm

        if not specs:
            return
        num_proc = min(self.config.num_proc, len(specs))
        bar = tqdm(total=total, initial=total - len(specs), desc=f"{stage} shards", unit="shard",
                   disable=not self.progress)
        try:
            if num_proc <= 1:
                if self._pipeline is None:  # loaded once, for both stages
                    self._pipeline = ShardPipeline(**self._state(extractor_dir, self.progress))
                self._pipeline.extractor_dir = extractor_dir
                for spec in specs:
                    getattr(self._pipeline, f"{stage}_shard")(spec)
                    bar.update(1)
                    self._after_shard()
                return
            state = self._state(extractor_dir, False)
            state["config"] = self.config.to_dict()
            threads = max(1, (os.cpu_count() or 1) // num_proc)
            context = multiprocessing.get_context("spawn")
            worker = worker_speech if stage == "speech" else worker_units
            with context.Pool(num_proc, initializer=init_worker, initargs=(state, threads)) as pool:
                for _ in pool.imap_unordered(worker, specs):
                    bar.update(1)
                    self._after_shard()
        finally:
            bar.close()

    def _unit_extractor(self, shards: list[dict[str, Any]]) -> tuple[str | None, str, dict[str, Any]]:
        """(folder or None when injected, identity hash, report info); fits and saves one when asked."""
        units = self.config.units
        if self.injected["extractor"] is not None:
            extractor = self.injected["extractor"]
            return None, extractor_hash(extractor), {"enabled": True, "injected": identity(extractor),
                                                      "num_units": getattr(extractor, "num_units", None)}
        folder = Path(units.extractor) if units.extractor else self.output_dir / EXTRACTOR_DIR
        from .units import CONFIG_NAME

        fitted_here = False
        if not (folder / CONFIG_NAME).is_file():
            if units.fit is None:
                raise FileNotFoundError(f"missing unit extractor: {folder} is not a UnitExtractor folder")
            self._fit_extractor(shards, folder)
            fitted_here = True
        saved = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        info = {"enabled": True, "folder": str(folder), "fitted_during_build": fitted_here or
                (folder == self.output_dir / EXTRACTOR_DIR), "encoder": saved.get("encoder"),
                "layer": saved.get("layer"), "num_units": saved.get("num_units"), "fit": saved.get("fit"),
                "deduplicate": units.deduplicate}  # fmt: skip
        return str(folder), extractor_dir_hash(folder), info

    def _fit_extractor(self, shards: list[dict[str, Any]], folder: Path) -> None:
        from .units import UnitExtractor

        fit = self.config.units.fit
        start = time.perf_counter()
        ordered = [s for s in shards if s["split"] == "train"] + [s for s in shards if s["split"] != "train"]

        def clips():
            for shard in ordered:
                dataset = load_shard(self.build_dir / "speech" / shard["name"], "speech")
                dataset = dataset.select_columns(["speech_response"])
                for i in range(len(dataset)):
                    yield np.asarray(dataset[i]["speech_response"]["array"], dtype=np.float32)

        extractor = UnitExtractor(encoder=fit.encoder, layer=fit.layer, device=self.config.units.device,
                                  batch_size=fit.batch_size, deduplicate=self.config.units.deduplicate)
        try:
            extractor.fit(clips(), num_units=fit.num_units, max_frames=int(fit.minutes * 60 * extractor.frame_rate),
                          seed=fit.seed, sampling_rate=SAMPLING_RATE, algorithm=fit.algorithm, progress=self.progress)
        except ValueError as error:
            raise BuildConfigError(f"units.fit: {error}") from None
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(folder)
        extractor.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
        self.timings["fit_units"] = time.perf_counter() - start

    def _report(self, plan, shards, speech, units, extractor_info, reused, dataset) -> dict[str, Any]:
        """The contents of ``build_report.json``; checks that kept + rejected adds up to read."""
        rejected: dict[str, Counter] = defaultdict(Counter)
        per_split: dict[str, Counter] = defaultdict(Counter)
        for row in plan.get("duplicate_ids", []):
            rejected["read"][row["reason"]] += 1
            per_split[row["split"]]["read"] += 1
            per_split[row["split"]]["rejected"] += 1
        step_seconds: Counter = Counter()
        voices_kept: Counter = Counter()
        audio_seconds: Counter = Counter()
        load_seconds: dict[str, float] = {}
        for stage_manifests in (speech, units or {}):
            for manifest in stage_manifests.values():
                for row in manifest["rejected"]:
                    rejected[row["step"]][row["reason"]] += 1
                    per_split[manifest["split"]]["rejected"] += 1
                for key, value in manifest.get("timings", {}).items():
                    step_seconds[f"{manifest['stage']}_{key}" if key == "save" else key] += value
                load_seconds.update(manifest.get("load_seconds", {}))
        for manifest in speech.values():
            per_split[manifest["split"]]["read"] += manifest["read"]
        kept_ids = {split: len(dataset[split]) for split in dataset}
        for split, n in kept_ids.items():
            per_split[split]["kept"] = n
        if units is not None:
            num_units = sum(m["num_units"] for m in units.values())
        else:
            num_units = None
        kept = sum(kept_ids.values())
        for split in dataset:
            voices_kept.update(dataset[split]["instruction_voice"])
        for manifest in speech.values():
            audio_seconds.update(manifest.get("audio_seconds", {}))
        total_rejected = sum(sum(c.values()) for c in rejected.values())
        read = plan["read"]
        if kept + total_rejected != read:  # the counts must add up: nothing is dropped silently
            raise RuntimeError(f"internal error: read {read} != kept {kept} + rejected {total_rejected}")
        versions = {}
        for package in ("datasets", "transformers", "torch"):
            try:
                versions[package] = importlib.import_module(package).__version__
            except ImportError:  # pragma: no cover
                pass
        return {
            "format_version": FORMAT_VERSION,
            "complete": True,
            "config_fingerprint": self.fingerprint,
            "output_dir": str(self.output_dir),
            "counts": {
                "read": read,
                "kept": kept,
                "rejected": total_rejected,
                "splits": {s: {"read": c["read"], "kept": c["kept"], "rejected": c["rejected"]}
                           for s, c in per_split.items()},
            },
            "rejected": {step: dict(sorted(rejected[step].items())) for step in STEPS if step in rejected},
            "voices": {"instruction": dict(sorted(voices_kept.items())),
                       "response": {self.config.response_voice: kept}},
            "audio_hours": {k: round(v / 3600, 4) for k, v in audio_seconds.items()},
            "units": dict(extractor_info, total_units=num_units,
                          mean_units_per_example=round(num_units / kept, 2) if num_units and kept else None),
            "shards": {
                "total": len(shards),
                "shard_size": self.config.shard_size,
                "reused_speech": reused["speech"],
                "reused_units": reused["units"],
                "built_this_run": self.shards_done_this_run,
            },
            "timings": {
                "steps_seconds": {k: round(v, 2) for k, v in sorted(step_seconds.items())},
                "component_load_seconds": load_seconds,
                "read_sources_seconds": plan.get("read_seconds"),
                **{f"{k}_seconds": round(v, 2) for k, v in self.timings.items()},
                "num_proc": self.config.num_proc,
            },
            "sources": plan["sources"],
            "config": self.config.to_dict(),
            "components": {
                "writer": identity(self.injected["writer"]) if self.injected["writer"] is not None else
                self.config.writer.kind,
                "voices": {k: identity(v) for k, v in self.injected["voices"].items()},
            },
            "versions": versions,
        }


def build_dataset(
    config: BuildConfig | Mapping[str, Any] | str | os.PathLike,
    *,
    writer: Any = None,
    voices: Mapping[str, Any] | None = None,
    unit_extractor: Any = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildResult:
    """Build (or resume, or just reload) the speech-instruction dataset a recipe describes.

    Args:
        config: a :class:`BuildConfig`, its mapping form, or the path of a YAML recipe.
        writer: a ready ``processing.instructs2s.writers.Writer`` to use instead of ``config.writer`` (e.g. a test fixture).
        voices: ready ``TTSVoice`` objects by name, used instead of ``get_voice(name)`` for those names.
        unit_extractor: a fitted ``UnitExtractor`` (or any object with ``extract_batch``) instead of
            ``config.units``.
        overwrite: delete an earlier build in ``config.output_dir`` first (otherwise a build with the same recipe
            is resumed, and one with another recipe is refused).
        progress: show progress bars.

    Injected objects are part of the build's identity by their class; with ``num_proc > 1`` they are pickled to
    the workers. Set the environment variable ``LLAMA_OMNI_DATA_STOP_AFTER_SHARDS=k`` to make the process exit
    abruptly (``os._exit(75)``) after finishing k shards: a testing hook for the resume logic.

    Returns:
        a :class:`BuildResult` (the ``DatasetDict``, the report, the folder).

    Raises:
        BuildConfigError: a malformed recipe, an unknown voice, or an output folder holding another build.
        FileNotFoundError: a source or the unit extractor folder is missing.
        processing.instructs2s.sources.InstructionSourceError: a Hub source cannot be loaded (offline).
        offline_assets.tts.TTSUnavailableError: a voice cannot run here (missing program or package).
        processing.instructs2s.writers.WriterError: the writer failed (finished shards are kept; rerun to resume).
    """
    if isinstance(config, (str, os.PathLike)):
        config = BuildConfig.from_yaml(config)
    elif isinstance(config, Mapping):
        config = BuildConfig.from_dict(config)
    elif not isinstance(config, BuildConfig):
        raise TypeError(f"config must be a BuildConfig, a mapping or a YAML path, got {type(config).__name__}")
    return _Builder(config, writer, voices, unit_extractor, overwrite, progress).run()


def push_to_hub(output_dir: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None,
                **kwargs: Any) -> None:
    """Upload a built dataset (and its ``build_report.json``) to the Hugging Face Hub as a dataset repository.

    Raises ``RuntimeError`` when the Hub is switched off (``HF_HUB_OFFLINE``), ``FileNotFoundError`` when
    `output_dir` holds no finished build, and whatever ``huggingface_hub`` raises (no network, no token).
    """
    import datasets

    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise RuntimeError("push_to_hub: the Hugging Face Hub is switched off here (HF_HUB_OFFLINE is set)")
    folder = Path(output_dir)
    if not (folder / "dataset_dict.json").is_file() or not (folder / REPORT_NAME).is_file():
        raise FileNotFoundError(f"{folder} holds no finished build (no dataset_dict.json / {REPORT_NAME})")
    dataset = datasets.load_from_disk(str(folder))
    dataset.push_to_hub(repo_id, private=private, token=token, **kwargs)
    from huggingface_hub import HfApi

    HfApi(token=token).upload_file(path_or_fileobj=str(folder / REPORT_NAME), path_in_repo=REPORT_NAME,
                                   repo_id=repo_id, repo_type="dataset")
