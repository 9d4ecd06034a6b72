# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Many questions, each spoken by several randomly drawn training voices with speed, noise and loudness
perturbation: the speech that llama-omni-tiny's adaptor learns to hear (its CTC warm-up and stage 1).

The voices are cheap offline synthesizers varied per utterance: flite kal16/rms/slt (with a random duration stretch),
espeak-ng's English voices times its speaker variants (random speed and pitch), and now and then Piper joe (slow,
so rare). Flite "awb" is never drawn: it is the held-out voice of `benchmarks/tiny_quality.py`. On top, the audio is
resampled (speed 0.88-1.12, which moves pitch and formants too), mixed with white or brown noise at 10-35 dB SNR, and
rescaled.

Every utterance is a pure function of `(seed, question id, copy)`, and the work is done in shards written atomically,
so a killed build resumes where it stopped and produces the same audio.

    from processing.instructs2s.spoken_questions import speak_questions
    speak_questions([{"id": "q1", "instruction": "What is the capital of Peru?", "response": "Lima."}], "out/")
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .shards import example_seed
from .steps import SAMPLING_RATE, speak, validate_audio


# the held-out voice of the benchmarks (evaluation.eval_sets.HELDOUT_VOICE; this layer may not import it)
HELDOUT_VOICE = "flite:awb"
FLITE_TRAIN_VOICES = ("kal16", "rms", "slt")
ESPEAK_LANGUAGES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029")
# espeak-ng speaker variants that still sound like speech (no whisper, croak or robot variants)
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt3", "Andy", "Annie", "adam", "david", "linda", "john", "robert", "steph", "paul", "Alicia",
                   "edward", "Mike", "quincy", "Lee", "max", "benjamin", "caleb")
# drawing weights of the three families; Piper joe costs ~20x a flite or espeak-ng utterance
VOICE_FAMILY_WEIGHTS = {"flite": 0.47, "espeak": 0.47, "piper": 0.06}
PIPER_LENGTH_SCALES = (0.9, 1.0, 1.15)
DONE_FILE = "DONE.json"


def draw_voice(rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    """A random training voice: `(get_voice name, its keyword options)`; never the held-out voice."""
    families = list(VOICE_FAMILY_WEIGHTS)
    weights = np.array([VOICE_FAMILY_WEIGHTS[f] for f in families])
    family = families[int(rng.choice(len(families), p=weights / weights.sum()))]
    if family == "flite":
        name = f"flite:{FLITE_TRAIN_VOICES[int(rng.integers(len(FLITE_TRAIN_VOICES)))]}"
        return name, {"duration_stretch": round(float(rng.uniform(0.85, 1.2)), 2)}
    if family == "espeak":
        language = ESPEAK_LANGUAGES[int(rng.integers(len(ESPEAK_LANGUAGES)))]
        variant = ESPEAK_VARIANTS[int(rng.integers(len(ESPEAK_VARIANTS)))]
        name = f"espeak:{language}+{variant}" if variant else f"espeak:{language}"
        return name, {"speed": int(rng.integers(125, 181)), "pitch": int(rng.integers(30, 71))}
    return "piper:joe", {"length_scale": PIPER_LENGTH_SCALES[int(rng.integers(len(PIPER_LENGTH_SCALES)))]}


def perturb_speech(audio: np.ndarray, rng: np.random.Generator, sampling_rate: int = SAMPLING_RATE,
                   speed_probability: float = 0.7, noise_probability: float = 0.5) -> tuple[np.ndarray, dict]:
    """Speed (resampling by 0.88-1.12), additive white or brown noise at 10-35 dB SNR, and a random peak level
    (0.25-0.9). Returns the new audio and what was done."""
    from scipy.signal import resample_poly

    audio = np.asarray(audio, dtype=np.float32)
    info: dict[str, Any] = {}
    if rng.random() < speed_probability:
        factor = Fraction(float(rng.uniform(0.88, 1.12))).limit_denominator(40)
        # faster by `factor`: fewer samples at the same rate
        audio = resample_poly(audio, factor.denominator, factor.numerator).astype(np.float32)
        info["speed"] = round(float(factor), 3)
    if rng.random() < noise_probability:
        snr = float(rng.uniform(10.0, 35.0))
        noise = rng.standard_normal(audio.size)
        if rng.random() < 0.5:  # brown noise: integrated white noise, high-passed by removing its trend
            noise = np.cumsum(noise)
            noise -= np.convolve(noise, np.ones(401) / 401, mode="same")
            info["noise"] = "brown"
        else:
            info["noise"] = "white"
        signal_power = float(np.mean(np.square(audio, dtype=np.float64))) + 1e-12
        noise *= np.sqrt(signal_power / (float(np.mean(noise**2)) + 1e-12) / 10 ** (snr / 10))
        audio = (audio + noise).astype(np.float32)
        info["snr_db"] = round(snr, 1)
    peak = float(np.abs(audio).max()) or 1.0
    level = float(rng.uniform(0.25, 0.9))
    info["peak"] = round(level, 2)
    return (audio * (level / peak)).astype(np.float32), info


class _Voices:
    """Voice objects, made once per (name, options) in a worker."""

    def __init__(self):
        self._voices: dict[str, Any] = {}

    def get(self, name: str, options: dict[str, Any]):
        from offline_assets.tts import get_voice

        key = json.dumps([name, options], sort_keys=True)
        if key not in self._voices:
            self._voices[key] = get_voice(name, **options)
        return self._voices[key]


def speak_one(text: str, utterance_id: str, seed: int, voices: _Voices | None = None,
              perturb: bool = True, attempts: int = 3) -> tuple[np.ndarray | None, dict[str, Any]]:
    """One utterance of `text` by a voice drawn from `(seed, utterance_id)`, perturbed. A voice whose audio fails
    `validate_audio` is replaced by another draw (up to `attempts`); `(None, info)` when every draw failed."""
    voices = voices or _Voices()
    rng = np.random.default_rng(example_seed(seed, utterance_id, "spoken-question") % (2**63))
    info: dict[str, Any] = {}
    for _ in range(attempts):
        name, options = draw_voice(rng)
        if name == HELDOUT_VOICE:  # impossible by construction; kept as a guard
            raise AssertionError("the held-out voice was drawn")
        try:
            audio = np.asarray(speak(voices.get(name, options), text, int(rng.integers(2**62))), dtype=np.float32)
        except Exception as e:  # a synthesizer that refuses a text: try another voice
            info = {"voice": name, "options": options, "error": str(e)[:200]}
            continue
        if perturb:
            audio, done = perturb_speech(audio, rng)
        else:
            done = {}
        reason = validate_audio(audio, SAMPLING_RATE, max_seconds=30.0)
        info = {"voice": name, "options": options, **done}
        if reason is None:
            return audio, info
        info["rejected"] = reason
    return None, info


def _features():
    import datasets

    return datasets.Features({
        "id": datasets.Value("string"),
        "question_id": datasets.Value("string"),
        "instruction": datasets.Value("string"),
        "response": datasets.Value("string"),
        "speech_instruction": datasets.Audio(sampling_rate=SAMPLING_RATE),
        "instruction_voice": datasets.Value("string"),
        "perturbation": datasets.Value("string"),
    })


def _speak_shard(job: tuple[list[dict[str, Any]], int, int, str, bool]) -> dict[str, Any]:
    """Speaks one shard and saves it (`shards/<index>`, atomically); returns its counts."""
    import datasets

    records, copies, seed, folder, perturb = job
    voices = _Voices()
    rows: dict[str, list] = {k: [] for k in _features()}
    rejected = 0
    for record in records:
        for copy in range(copies):
            utterance_id = f"{record['id']}@{copy}"
            audio, info = speak_one(record["instruction"], utterance_id, seed, voices, perturb)
            if audio is None:
                rejected += 1
                continue
            rows["id"].append(utterance_id)
            rows["question_id"].append(record["id"])
            rows["instruction"].append(record["instruction"])
            rows["response"].append(record.get("response") or "")
            rows["speech_instruction"].append({"array": audio, "sampling_rate": SAMPLING_RATE})
            rows["instruction_voice"].append(info["voice"])
            rows["perturbation"].append(json.dumps({k: v for k, v in info.items() if k != "voice"}))
    dataset = datasets.Dataset.from_dict(rows, features=_features())
    tmp = folder + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return {"utterances": len(dataset), "rejected": rejected}


def speak_questions(
    records: Sequence[dict[str, Any]],
    output_dir: str | os.PathLike,
    copies: int = 2,
    seed: int = 0,
    shard_size: int = 500,
    num_proc: int = 1,
    perturb: bool = True,
    progress: bool = True,
):
    """
    Speaks every record's `instruction` `copies` times (a voice and perturbation drawn per copy), in resumable
    shards, and returns the whole set as one `datasets.Dataset` (also saved to `output_dir/dataset`).

    Args:
        records: dicts with a unique `id`, the `instruction` text and optionally the `response` (stage 1's target;
            empty when missing).
        output_dir: where the shards, the dataset and `DONE.json` go.
        copies: utterances per record; the utterance ids are `<id>@<copy>`.
        seed: the voices, perturbations and synthesis noise.
        shard_size: records per shard (the unit of resumption).
        num_proc: worker processes (synthesis runs external programs and onnxruntime; one thread each).
        perturb: apply `perturb_speech`.
        progress: a progress bar over shards.

    Returns:
        The dataset, with columns `id`, `question_id`, `instruction`, `response`, `speech_instruction` (16 kHz audio),
        `instruction_voice` and `perturbation` (JSON of the voice options and the perturbation).

    Raises:
        ValueError: no records, duplicate ids, an empty instruction, or `copies`/`shard_size`/`num_proc` < 1.
    """
    import datasets
    from tqdm.auto import tqdm

    if not records:
        raise ValueError("no records to speak")
    if min(copies, shard_size, num_proc) < 1:
        raise ValueError(f"copies, shard_size and num_proc must be >= 1, got {copies}, {shard_size}, {num_proc}")
    ids = [str(r.get("id", "")) for r in records]
    if len(set(ids)) != len(ids) or not all(ids):
        raise ValueError("every record needs a unique, non-empty 'id'")
    empty = [r["id"] for r in records if not str(r.get("instruction") or "").strip()]
    if empty:
        raise ValueError(f"{len(empty)} records have no 'instruction' text, e.g. {empty[:3]}")
    output = Path(output_dir)
    final = output / "dataset"
    if (output / DONE_FILE).is_file() and final.is_dir():
        return datasets.load_from_disk(str(final))
    shard_dir = output / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for index, start in enumerate(range(0, len(records), shard_size)):
        folder = shard_dir / f"{index:05d}"
        if not folder.is_dir():
            jobs.append(([dict(r) for r in records[start : start + shard_size]], copies, seed, str(folder), perturb))
    counts = {"utterances": 0, "rejected": 0}
    bar = tqdm(total=len(jobs), desc="speaking questions", unit="shard", disable=not progress)
    with contextlib.ExitStack() as stack:  # a worker's error stops the others (the pool is terminated on exit)
        if num_proc == 1:
            results = map(_speak_shard, jobs)
        else:
            import multiprocessing

            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(num_proc))
            results = pool.imap_unordered(_speak_shard, jobs)
        for result in results:
            for key in counts:
                counts[key] += result[key]
            bar.update(1)
        if num_proc > 1:  # all shards done: a clean shutdown (the exit's terminate is then a no-op)
            pool.close()
            pool.join()
    bar.close()
    shards = [datasets.load_from_disk(str(p)) for p in sorted(shard_dir.iterdir()) if not p.name.endswith(".tmp")]
    dataset = datasets.concatenate_datasets(shards)
    tmp = output / "dataset.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    dataset.save_to_disk(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    voices: dict[str, int] = {}
    for name in dataset["instruction_voice"]:
        family = name.split(":")[0]
        voices[family] = voices.get(family, 0) + 1
    summary = {"records": len(records), "copies": copies, "utterances": len(dataset), "seed": seed,
               "rejected_this_run": counts["rejected"], "voice_families": voices, "heldout_voice": HELDOUT_VOICE}
    (output / DONE_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(shard_dir, ignore_errors=True)
    return datasets.load_from_disk(str(final))
