# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The evaluation run: answers every spoken question end to end and with the cascade baseline, scores the answers,
and gathers the figures of the report.

Phases (each item of each phase is cached as soon as it is done, so a crash loses no finished item and a second run
with the same settings recomputes nothing):

1. generation, on the model, one question at a time:
   - S2TIF: the text answer with `generate()` (no speech): its decoding time;
   - S2SIF at every chunk size Omega: `inference.answer` (the runtime's timeline of `model.stream`): text, speech,
     time to first audio (TTFA), time to first text token, lagging words (words of text already out when the first
     audio chunk is), total decoding time;
   - the cascade baseline (`evaluation.cascade`): TTFA, total time, its text and speech;
2. ASR of every spoken answer (and of the cascade's), for ASR-WER / ASR-CER and the spoken-answer judge;
3. speech quality of every spoken answer: distillMOS, DNSMOS, UTMOS (when a model file is given);
4. the judge: content and style of the S2TIF text, of the S2SIF speech (its transcript), and of the cascade's text
   and speech.

Times run from the moment the question audio is in hand (feature extraction included) and are measured after a
warm-up, one question at a time.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .eval_sets import HELDOUT_VOICE, load_eval_set
from .schema import SCHEMA_VERSION

SCHEMA_CACHE_VERSION = 1


@dataclass
class EvaluationConfig:
    """Settings of one evaluation run (the command line of `llama-omni evaluate`).

    Attributes:
        model: a LLaMA-Omni folder with a `vocoder/` (None: the embedded default model).
        eval_set: "heldout", a folder from `build-set`, or a JSONL file (see `evaluation.eval_sets`).
        output_dir: where `evaluation.json`, `report.md`, `omega_tradeoff.png`, `examples.jsonl` and the item cache go.
        omegas: the unit chunk sizes Omega to measure; the headline figures are at the first one.
        limit: only the first `limit` questions.
        question_voice: TTS voice for questions without audio.
        asr: "whisper-base", "whisper-tiny.en", or a Whisper folder / Hub id.
        judge, judge_model, judge_api_key_env, judge_retries: see `evaluation.judge.make_judge` / `grade`.
        cascade, cascade_voice: measure the cascade baseline, and its TTS voice.
        distillmos, dnsmos, utmos: the speech-quality predictors (`utmos`: a local model file, or None).
        max_new_tokens, min_new_tokens, temperature, seed: generation (temperature 0 = greedy; the seed is set
            before every answer).
        device, dtype: where the model runs (default: CUDA bf16 if available, else CPU float32).
        progress: progress bars.
    """

    model: str | None = None
    eval_set: str = "heldout"
    output_dir: str = "evaluation_results"
    omegas: tuple[int, ...] = (10,)
    limit: int | None = None
    question_voice: str = HELDOUT_VOICE
    asr: str = "whisper-base"
    judge: str | None = None
    judge_model: str | None = None
    judge_api_key_env: str = "OPENAI_API_KEY"
    judge_retries: int = 2
    cascade: bool = True
    cascade_voice: str = "piper:joe"
    distillmos: bool = True
    dnsmos: bool = True
    utmos: str | None = None
    max_new_tokens: int = 256
    min_new_tokens: int = 0
    temperature: float = 0.0
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    progress: bool = True

    def __post_init__(self):
        self.omegas = tuple(int(w) for w in self.omegas)
        if not self.omegas or any(w < 1 for w in self.omegas) or len(set(self.omegas)) != len(self.omegas):
            raise ValueError(f"omegas must be distinct positive ints (units per chunk), got {self.omegas}")
        if self.max_new_tokens < 1 or self.min_new_tokens < 0 or self.min_new_tokens > self.max_new_tokens:
            raise ValueError("need 0 <= min_new_tokens <= max_new_tokens and max_new_tokens >= 1")
        if self.temperature < 0 or self.judge_retries < 0:
            raise ValueError("temperature and judge_retries must be >= 0")

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens}
        if self.min_new_tokens:
            kwargs["min_new_tokens"] = self.min_new_tokens
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            kwargs["do_sample"] = False
        return kwargs


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "x"


class ResultCache:
    """One JSON file per finished item (`<root>/<key>.json`), optionally with its audio (`<key>.wav`, float32 so that
    nothing is lost); every write is atomic (a temporary file, then `os.replace`)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / f"{key}{suffix}"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key, ".json")
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # a torn file of another writer: recompute

    def put(self, key: str, record: dict[str, Any], audio: np.ndarray | None = None,
            sampling_rate: int | None = None) -> None:
        import soundfile as sf

        path = self._path(key, ".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        if audio is not None:
            wav = self._path(key, ".wav")
            tmp = wav.with_name(f".{wav.stem}.tmp{os.getpid()}.wav")
            sf.write(tmp, np.asarray(audio, dtype=np.float32), int(sampling_rate), subtype="FLOAT")
            os.replace(tmp, wav)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    def audio(self, key: str) -> tuple[np.ndarray, int]:
        """The audio stored with `key`: `(float32 samples, sampling_rate)`; empty at 16 kHz if there is none."""
        import soundfile as sf

        wav = self._path(key, ".wav")
        if not wav.is_file():
            return np.zeros(0, dtype=np.float32), 16000
        data, rate = sf.read(wav, dtype="float32")
        return data.reshape(-1), int(rate)


def _audio_input(audio: np.ndarray) -> dict[str, Any]:
    return {"array": np.asarray(audio, dtype=np.float32), "sampling_rate": 16000}


def answer_s2tif(model: Any, processor: Any, audio: np.ndarray, **generate_kwargs: Any) -> dict[str, Any]:
    """The text answer to a spoken question with `generate()` (no speech decoding): `{"text", "decoding_s",
    "num_tokens"}`; the time includes feature extraction."""
    import torch

    from inference import model_inputs

    start = time.perf_counter()
    inputs = model_inputs(model, processor, _audio_input(audio))
    with torch.inference_mode():
        out = model.generate(**inputs, **generate_kwargs)
    decoding = time.perf_counter() - start
    new = out[0, inputs["input_ids"].shape[1]:]
    return {"text": processor.tokenizer.decode(new, skip_special_tokens=True).strip(), "decoding_s": decoding,
            "num_tokens": int(new.numel())}


def answer_s2sif(model: Any, processor: Any, audio: np.ndarray, omega: int, **generate_kwargs: Any) -> dict[str, Any]:
    """The streamed text + speech answer (`inference.answer`) at chunk size `omega`: its `Timeline` as `{"text",
    "audio", "sampling_rate", "ttfa_s", "ttft_s", "total_s", "lagging_words", "audio_s"}` (times include feature
    extraction)."""
    from inference import answer

    return answer(model, processor, _audio_input(audio), chunk_size=omega, **generate_kwargs).as_dict()


@lru_cache(maxsize=1)
def _voice(name: str) -> Any:
    """The cascade's TTS voice, loaded once per process (a Piper voice patches and loads its ONNX graph); Piper runs
    on torch's intra-op thread count."""
    import torch

    from offline_assets.tts import get_voice

    return get_voice(name, **({"num_threads": torch.get_num_threads()} if name.startswith("piper:") else {}))


def _mean(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(statistics.fmean(values)) if values else None


def _model_fingerprint(folder: str) -> list:
    files = []
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            if name.endswith((".json", ".safetensors", ".bin", ".jinja", ".model")):
                path = os.path.join(root, name)
                stat = os.stat(path)
                files.append([os.path.relpath(path, folder), stat.st_size, int(stat.st_mtime)])
    return sorted(files)


def machine_description(device: Any) -> str:
    """A short description of where the timings were taken."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"1x {torch.cuda.get_device_name(torch.device(device))}"
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


@dataclass
class EvaluationRun:
    """What an evaluation produced: the report (the evaluation JSON, schema of `evaluation.schema`), the
    per-question records, and the extra facts of the markdown report."""

    report: dict[str, Any]
    examples: list[dict[str, Any]]
    extras: dict[str, Any] = field(default_factory=dict)


def run_evaluation(config: EvaluationConfig, log: Callable[[str], None] = print) -> EvaluationRun:
    """Runs the evaluation of `config` (see the module docstring) and returns what it measured (nothing is written
    but the item cache under `config.output_dir/cache`).

    Raises:
        FileNotFoundError: no such model folder, eval set or audio file; a model without a vocoder.
        ValueError: bad settings or eval set.
        ModuleNotFoundError: a missing asset package (ASR, MOS predictor, judge).
    """
    import torch
    from tqdm.auto import tqdm

    from inference import load_model

    from .asr import WhisperASR
    from .judge import RUBRIC_VERSION, grade, make_judge
    from .metrics import asr_error_rates, mos_scores

    bar = dict(disable=not config.progress, leave=False)
    model, processor = load_model(config.model, config.device, config.dtype)
    info, examples = load_eval_set(config.eval_set, limit=config.limit, voice=config.question_voice,
                                   progress=config.progress)
    log(f"eval set: {info.name} ({len(examples)} questions)")
    model_name = config.model or f"embedded default ({model.name_or_path})"
    eval_set_key = config.eval_set if config.eval_set in ("heldout", "seed-heldout") else os.path.abspath(
        config.eval_set)
    fingerprint = {
        "cache_version": SCHEMA_CACHE_VERSION,
        "model": os.path.abspath(model.name_or_path) if model.name_or_path else model_name,
        "model_files": _model_fingerprint(model.name_or_path) if model.name_or_path else [],
        "eval_set": eval_set_key, "question_voice": config.question_voice,
        "generate": config.generate_kwargs(), "seed": config.seed,
        "device": str(model.device), "dtype": str(model.dtype),
    }
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    cache = ResultCache(Path(config.output_dir) / "cache" / digest)
    cache.root.mkdir(parents=True, exist_ok=True)
    (cache.root / "fingerprint.json").write_text(json.dumps(fingerprint, indent=1), encoding="utf-8")
    gen = config.generate_kwargs()
    omega0 = config.omegas[0]
    asr_device = str(model.device) if str(model.device).startswith("cuda") else "cpu"
    asr_slug = _slug(config.asr)
    cascade_key = f"cascade-{asr_slug}-{_slug(config.cascade_voice)}"
    s2sif_keys = {w: f"s2sif-omega{w}" for w in config.omegas}

    def seeded() -> None:
        torch.manual_seed(config.seed)

    # -- 1. generation --------------------------------------------------------------------------------------------
    todo_e2e = [e for e in examples
                if cache.get(f"s2tif/{e.id}") is None or any(cache.get(f"{k}/{e.id}") is None
                                                               for k in s2sif_keys.values())]
    todo_cascade = [e for e in examples if config.cascade and cache.get(f"{cascade_key}/{e.id}") is None]
    asr = cascade = None
    if todo_e2e:
        seeded()  # warm-up: first-call costs are not what an answer costs
        answer_s2sif(model, processor, examples[0].audio, omega0, max_new_tokens=8, do_sample=False)
        for example in tqdm(todo_e2e, desc="end-to-end answers", **bar):
            if cache.get(f"s2tif/{example.id}") is None:
                seeded()
                cache.put(f"s2tif/{example.id}", answer_s2tif(model, processor, example.audio, **gen))
            for omega, key in s2sif_keys.items():
                if cache.get(f"{key}/{example.id}") is None:
                    seeded()
                    result = answer_s2sif(model, processor, example.audio, omega, **gen)
                    audio = result.pop("audio")
                    cache.put(f"{key}/{example.id}", {**result, "omega": omega}, audio, result["sampling_rate"])
    if todo_cascade:
        from .cascade import CascadeBaseline

        asr = WhisperASR(config.asr, device=asr_device)
        cascade = CascadeBaseline(model, processor, asr, _voice(config.cascade_voice))
        seeded()
        cascade.answer(examples[0].audio, max_new_tokens=8, do_sample=False)  # warm-up
        for example in tqdm(todo_cascade, desc="cascade answers", **bar):
            seeded()
            result = cascade.answer(example.audio, **gen)
            audio = result.pop("audio")
            result["audio_s"] = len(audio) / result["sampling_rate"]
            cache.put(f"{cascade_key}/{example.id}", result, audio, result["sampling_rate"])
    device_description = machine_description(model.device)
    del model, cascade  # the cascade holds the model too
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

    # -- 2. ASR of the spoken answers -----------------------------------------------------------------------------
    systems = list(s2sif_keys.values()) + ([cascade_key] if config.cascade else [])
    todo_asr = [(s, e) for s in systems for e in examples if cache.get(f"asr-{asr_slug}/{s}/{e.id}") is None]
    if todo_asr:
        asr = asr or WhisperASR(config.asr, device=asr_device)
        for i in tqdm(range(0, len(todo_asr), 8), desc=f"ASR ({config.asr})", **bar):
            batch = todo_asr[i : i + 8]
            clips = []
            for system, example in batch:
                audio, rate = cache.audio(f"{system}/{example.id}")
                clips.append(_to_16k(audio, rate))
            for (system, example), transcript in zip(batch, asr(clips)):
                cache.put(f"asr-{asr_slug}/{system}/{example.id}", {"transcript": transcript})
    del asr
    gc.collect()

    # -- 3. speech quality ----------------------------------------------------------------------------------------
    predictors = [name for name, on in (("distillmos", config.distillmos), ("dnsmos", config.dnsmos),
                                        ("utmos", bool(config.utmos))) if on]
    for system in systems:
        for example in tqdm(examples, desc=f"speech quality ({system})", **bar):
            key = f"mos/{system}/{example.id}"
            record = cache.get(key) or {}
            missing = [p for p in predictors if p not in record]
            if not missing:
                continue
            audio, rate = cache.audio(f"{system}/{example.id}")
            scores = mos_scores([audio], rate, distillmos="distillmos" in missing, dnsmos="dnsmos" in missing,
                                utmos_path=config.utmos if "utmos" in missing else None)[0]
            record.update(scores)
            for name in missing:  # a clip too short to score is recorded as such
                record.setdefault(name, None)
            cache.put(key, record)

    # -- 4. the judge ---------------------------------------------------------------------------------------------
    judge = make_judge(config.judge, model_name=config.judge_model, api_key_env=config.judge_api_key_env,
                       device=asr_device if asr_device.startswith("cuda") else None)
    judge_slug = f"judge-{_slug(judge.name)}-rubric{RUBRIC_VERSION}" if judge is not None else None
    transcripts = {(s, e.id): (cache.get(f"asr-{asr_slug}/{s}/{e.id}") or {}).get("transcript", "")
                   for s in systems for e in examples}
    targets = {
        "s2tif": lambda e: cache.get(f"s2tif/{e.id}")["text"],
        "s2sif": lambda e: transcripts[(s2sif_keys[omega0], e.id)],
    }
    if config.cascade:
        targets["cascade_text"] = lambda e: cache.get(f"{cascade_key}/{e.id}")["text"]
        targets["cascade_speech"] = lambda e: transcripts[(cascade_key, e.id)]
    if judge is not None:
        jobs = [(t, e) for t in targets for e in examples if cache.get(f"{judge_slug}/{t}/{e.id}") is None]
        for target, example in tqdm(jobs, desc=f"judge ({judge.name})", **bar):
            result = grade(judge, example.question, targets[target](example), retries=config.judge_retries)
            cache.put(f"{judge_slug}/{target}/{example.id}", result.to_dict())
        del judge
        gc.collect()

    # -- 5. figures -----------------------------------------------------------------------------------------------
    records = []
    for example in examples:
        record: dict[str, Any] = {"id": example.id, "question": example.question, "category": example.category,
                                  "gold_answer": example.answer}
        s2tif = cache.get(f"s2tif/{example.id}")
        record["s2tif"] = {"text": s2tif["text"], "decoding_s": s2tif["decoding_s"]}
        for omega, key in s2sif_keys.items():
            item = cache.get(f"{key}/{example.id}")
            record[key] = {k: item[k] for k in ("text", "ttfa_s", "ttft_s", "total_s", "lagging_words", "audio_s")}
            record[key]["transcript"] = transcripts[(key, example.id)]
            record[key].update(cache.get(f"mos/{key}/{example.id}") or {})
        if config.cascade:
            item = cache.get(f"{cascade_key}/{example.id}")
            record["cascade"] = {k: item[k] for k in ("question_transcript", "text", "asr_s", "ttft_s", "ttfa_s",
                                                      "total_s", "audio_s", "unspoken")}
            record["cascade"]["transcript"] = transcripts[(cascade_key, example.id)]
            record["cascade"].update(cache.get(f"mos/{cascade_key}/{example.id}") or {})
        if judge_slug:
            record["judge"] = {t: cache.get(f"{judge_slug}/{t}/{example.id}") for t in targets}
        records.append(record)

    def system_figures(key: str) -> dict[str, float | None]:
        items = [r[key] for r in records]
        rates = asr_error_rates([i["text"] for i in items], [i["transcript"] for i in items])
        for item, per in zip(items, rates["per_example"]):
            item.update(per)
        spoken = [i for i in items if i["ttfa_s"] is not None]
        figures = {
            "ttfa_s": _mean([i["ttfa_s"] for i in spoken]),
            "lagging_words": _mean([i.get("lagging_words") for i in spoken]),
            "asr_wer": rates["asr_wer"],
            "asr_cer": rates["asr_cer"],
        }
        for name in predictors:
            figures[name] = _mean([i.get(name) for i in items])
        return figures

    per_omega = []
    for omega, key in s2sif_keys.items():
        per_omega.append({"omega": omega, **system_figures(key)})
    head = {k: v for k, v in per_omega[0].items() if k != "omega"}
    items0 = [r[s2sif_keys[omega0]] for r in records]
    metrics: dict[str, float | None] = {
        "ttfa_s": head["ttfa_s"],
        "ttft_s": _mean([i["ttft_s"] for i in items0]),
        "lagging_words": head["lagging_words"],
        "asr_wer": head["asr_wer"],
        "asr_cer": head["asr_cer"],
        **{name: head[name] for name in predictors},
        "decoding_s_s2tif": _mean([r["s2tif"]["decoding_s"] for r in records]),
        "decoding_s_s2sif": _mean([i["total_s"] for i in items0]),
        "rtf": _mean([i["total_s"] / i["audio_s"] for i in items0 if i["audio_s"] > 0]),
        "no_audio_answers": sum(i["ttfa_s"] is None for i in items0),
    }
    if config.dnsmos:
        for name in ("dnsmos_sig", "dnsmos_bak", "dnsmos_p808"):
            metrics[name] = _mean([i.get(name) for i in items0])
    extras: dict[str, Any] = {"omega0": omega0, "predictors": predictors, "cascade_key": cascade_key}
    if config.cascade:
        cascade_items = [r["cascade"] for r in records]
        cascade_rates = asr_error_rates([i["text"] for i in cascade_items], [i["transcript"] for i in cascade_items])
        for item, per in zip(cascade_items, cascade_rates["per_example"]):
            item.update(per)
        question_wer = asr_error_rates([r["question"] for r in records],
                                       [i["question_transcript"] for i in cascade_items])
        metrics.update({
            "cascade_ttfa_s": _mean([i["ttfa_s"] for i in cascade_items]),
            "cascade_ttft_s": _mean([i["ttft_s"] for i in cascade_items]),
            "cascade_total_s": _mean([i["total_s"] for i in cascade_items]),
            "cascade_asr_s": _mean([i["asr_s"] for i in cascade_items]),
            "cascade_asr_wer": cascade_rates["asr_wer"],
            "cascade_question_wer": question_wer["asr_wer"],
            **{f"cascade_{name}": _mean([i.get(name) for i in cascade_items]) for name in predictors},
        })
        if metrics["cascade_ttfa_s"] and metrics["ttfa_s"]:
            metrics["cascade_ttfa_ratio"] = metrics["cascade_ttfa_s"] / metrics["ttfa_s"]
    if judge_slug:
        names = {"s2tif": "judge_{}", "s2sif": "judge_{}_speech", "cascade_text": "cascade_judge_{}",
                 "cascade_speech": "cascade_judge_{}_speech"}
        malformed = scored = 0
        for target in targets:
            results = [r["judge"][target] for r in records]
            for aspect in ("content", "style"):
                metrics[names[target].format(aspect)] = _mean([j[aspect] for j in results])
            malformed += sum(j["content"] is None or j["style"] is None for j in results)
            scored += sum(j["content"] is not None and j["style"] is not None for j in results)
        metrics["judge_scored"] = scored
        metrics["judge_malformed"] = malformed
        extras["judge"] = judge_slug
    settings = {
        "omega": omega0, "omegas": ",".join(str(w) for w in config.omegas),
        "max_new_tokens": config.max_new_tokens, "min_new_tokens": config.min_new_tokens,
        "temperature": config.temperature, "seed": config.seed, "asr": config.asr,
        "question_voice": config.question_voice, "judge": config.judge or "none",
        "judge_model": config.judge_model, "judge_retries": config.judge_retries,
        "cascade_voice": config.cascade_voice if config.cascade else None,
        "utmos_model": os.path.basename(config.utmos) if config.utmos else None,
        "device": str(fingerprint["device"]), "dtype": fingerprint["dtype"].replace("torch.", ""),
    }
    report = {
        "schema_version": SCHEMA_VERSION,
        "model": config.model or "llama-omni-tiny (embedded default)",
        "eval_set": info.to_dict(),
        "metrics": metrics,
        "per_omega": per_omega,
        "settings": {k: v for k, v in settings.items() if v is not None},
        "hardware": device_description,
        "date": date.today().isoformat(),
        "notes": (
            "Headline figures at the first Omega. Times in seconds from the moment the question audio is in hand "
            "(feature extraction included), after a warm-up, one question at a time. ASR-WER/CER: the ASR "
            "transcript of the spoken answer against the text answer (transformers' Whisper English normaliser). "
            "Lagging words: words of the text answer already generated when the first audio chunk is. Cascade: "
            f"{config.asr} ASR -> the same LLM in text mode -> {config.cascade_voice}, each sentence spoken as soon "
            "as it is written."
        ),
    }
    return EvaluationRun(report=report, examples=records, extras=extras)


def _to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    if int(rate) == 16000:
        return np.asarray(audio, dtype=np.float32)
    import torch
    import torchaudio.functional as AF

    return AF.resample(torch.as_tensor(np.asarray(audio, dtype=np.float32)), int(rate), 16000).numpy()


__all__ = ["EvaluationConfig", "EvaluationRun", "ResultCache", "answer_s2sif", "answer_s2tif", "run_evaluation"]
