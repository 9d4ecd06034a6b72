# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The vocoder trainer's data: `VocoderExample`s of one voice (50 Hz units, waveform and, for `latent_frontend`,
the VITS decoder's latent), read from a `datasets` dataset or captured from the Piper voice speaking texts, with
units from a `UnitExtractor`."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .config import VocoderTrainingConfig

CAPTURE_INFO_NAME = "capture_info.json"


@dataclass
class VocoderExample:
    """
    One utterance of the voice.

    Attributes:
        units: int64 `(frames,)`, 50 Hz units (not deduplicated).
        audio: float32 `(samples,)` at the vocoder's sampling rate, aligned with the units (frame f = samples
            `[f * hop_length, (f + 1) * hop_length)`).
        latent: float32 `(latent_dim, latent_frames)` (`latent_frontend`; latent frame j = samples `[256 j, 256 j +
            256)`), or None.
        text: the text, when known.
    """

    units: np.ndarray
    audio: np.ndarray
    latent: np.ndarray | None = None
    text: str | None = None

    def __post_init__(self):
        self.units = np.asarray(self.units, dtype=np.int64).reshape(-1)
        self.audio = np.asarray(self.audio, dtype=np.float32).reshape(-1)
        if self.latent is not None:
            self.latent = np.asarray(self.latent, dtype=np.float32)
        if self.units.size == 0:
            raise ValueError("an example needs at least one unit")
        if self.units.min() < 0:
            raise ValueError("unit ids must be non-negative")


def run_lengths(units: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(deduplicated units, durations)`: `[5, 5, 7, 7, 7, 5] -> ([5, 7, 5], [2, 3, 1])`."""
    units = np.asarray(units, dtype=np.int64).reshape(-1)
    if units.size == 0:
        return units, units
    starts = np.flatnonzero(np.concatenate([[True], units[1:] != units[:-1]]))
    durations = np.diff(np.concatenate([starts, [units.size]]))
    return units[starts], durations.astype(np.int64)


def mean_latent_per_unit(examples: Sequence[VocoderExample], num_units: int, hop_length: int = 441,
                        latent_hop_length: int = 256) -> np.ndarray:
    """
    `[num_units, latent_dim]` float32: the mean latent frame of each unit over the examples (latent frame j counts for
    the unit of the unit frame holding its centre sample); the overall mean latent for units that never occur.
    """
    dim = examples[0].latent.shape[0]
    sums, counts = np.zeros((num_units, dim)), np.zeros(num_units)
    for example in examples:
        j = np.arange(example.latent.shape[1])
        frames = np.minimum((latent_hop_length * j + latent_hop_length // 2) // hop_length, len(example.units) - 1)
        np.add.at(sums, example.units[frames], example.latent.T)
        np.add.at(counts, example.units[frames], 1)
    overall = sums.sum(0) / max(1.0, counts.sum())
    return np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], overall).astype(np.float32)


def read_texts(path: str | os.PathLike, text_field: str = "instruction", split: str | None = None,
               max_texts: int | None = None) -> list[str]:
    """
    Texts from a JSONL file (field `text_field`, rows whose `split` equals `split` when given) or a text file (one
    per line; `split` must be None).

    Raises:
        FileNotFoundError: no such file. ValueError: a JSONL row without the field, or no text at all.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"texts file not found: {path}")
    texts = []
    with open(path, encoding="utf-8") as f:
        if path.endswith((".jsonl", ".json")):
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if split is not None and row.get("split") != split:
                    continue
                if text_field not in row:
                    raise ValueError(f"{path}:{number} has no field {text_field!r}")
                texts.append(str(row[text_field]))
        else:
            if split is not None:
                raise ValueError(f"capture_split applies to JSONL files, not to {path}")
            texts = [line.strip() for line in f if line.strip()]
    if max_texts is not None:
        texts = texts[:max_texts]
    if not texts:
        raise ValueError(f"no texts in {path}" + (f" with split {split!r}" if split else ""))
    return texts


def capture_latent_examples(
    texts: Iterable[str],
    voice: Any | None = None,
    unit_extractor: Any | None = None,
    progress: bool = True,
) -> list[VocoderExample]:
    """
    (units, latent, audio) triples of a Piper voice: each text is spoken with `voice.infer` (the audio at the
    voice's rate and the VITS decoder's input latent, `[192, frames]`, 256 samples per frame), and, with a
    `unit_extractor`, 50 Hz units are extracted from the audio resampled to 16 kHz.

    Args:
        texts: what to say.
        voice: a `offline_assets.tts.PiperVoice` (default: joe).
        unit_extractor: a fitted `processing.instructs2s.units.UnitExtractor`; None leaves `units` as a single 0
            placeholder, to be filled by `extract_units` (e.g. after fitting an extractor on the audio).
        progress: show a progress bar.

    Raises:
        offline_assets.tts.TTSError: a voice without the latent tensor, or a synthesis failure.
    """
    from offline_assets.tts import PiperVoice, TTSError

    voice = voice if voice is not None else PiperVoice()
    texts = list(texts)
    examples = []
    for text in tqdm(texts, desc="speaking", disable=not progress, dynamic_ncols=True):
        out = voice.infer(text)
        if out.latent is None:
            raise TTSError(f"{voice.name} gives no decoder latent: a Piper VITS voice of the medium kind is needed")
        examples.append(
            VocoderExample(units=np.zeros(1, dtype=np.int64), audio=out.audio, latent=out.latent, text=text)
        )
    if unit_extractor is not None:
        extract_units(examples, unit_extractor, voice.native_sampling_rate, progress=progress)
    return examples


def extract_units(examples: list[VocoderExample], unit_extractor: Any, sampling_rate: int,
                  progress: bool = True) -> list[VocoderExample]:
    """Sets each example's `units` to the 50 Hz (not deduplicated) units of its audio (given at `sampling_rate`)."""
    from processing import load_audio

    clips = [load_audio(e.audio, sampling_rate=sampling_rate, max_seconds=None) for e in examples]
    units = unit_extractor.extract_batch(clips, deduplicate=False, progress=progress)
    for example, u in zip(examples, units):
        example.units = np.asarray(u, dtype=np.int64)
    return examples


def fit_unit_extractor(examples: list[VocoderExample], sampling_rate: int, num_units: int = 500, layer: int = 4,
                       seed: int = 0, progress: bool = True):
    """A `UnitExtractor` (offline Whisper-base, `layer`) whose k-means (K = `num_units`) is fitted on the examples'
    audio (given at `sampling_rate`)."""
    from processing import load_audio
    from processing.instructs2s.units import UnitExtractor

    clips = [load_audio(e.audio, sampling_rate=sampling_rate, max_seconds=None) for e in examples]
    return UnitExtractor(layer=layer).fit(clips, num_units=num_units, seed=seed, progress=progress)


def examples_to_dataset(examples: list[VocoderExample], sampling_rate: int):
    """A `datasets.Dataset` with columns `text`, `audio` (Audio at `sampling_rate`), `units` and `latent`
    (`[frames, latent_dim]`), e.g. to `save_to_disk` captured triples."""
    import datasets

    has_latent = all(e.latent is not None for e in examples)
    columns = {
        "text": [e.text or "" for e in examples],
        "audio": [{"array": e.audio, "sampling_rate": sampling_rate} for e in examples],
        "units": [e.units.tolist() for e in examples],
    }
    features = {
        "text": datasets.Value("string"),
        "audio": datasets.Audio(sampling_rate=sampling_rate),
        "units": datasets.Sequence(datasets.Value("int32")),
    }
    if has_latent:
        dim = examples[0].latent.shape[0]
        columns["latent"] = [e.latent.T for e in examples]
        features["latent"] = datasets.Array2D(shape=(None, dim), dtype="float32")
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def examples_from_dataset(
    dataset,
    sampling_rate: int,
    audio_column: str = "speech_response",
    units_column: str | None = "response_units",
    latent_column: str | None = None,
    unit_extractor: Any | None = None,
    progress: bool = True,
) -> list[VocoderExample]:
    """
    `VocoderExample`s from a `datasets` dataset: audio resampled to `sampling_rate`; units from `units_column` (50 Hz),
    or extracted from the audio with `unit_extractor` when it is given; latents (`[frames, dim]`) from
    `latent_column` when given.

    Raises:
        ValueError: a missing column, or units that are neither given nor extractable.
    """
    from processing import load_audio

    needed = [audio_column] + ([units_column] if units_column and unit_extractor is None else [])
    needed += [latent_column] if latent_column else []
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise ValueError(f"the dataset lacks the column(s) {missing}; its columns are {dataset.column_names}")
    if unit_extractor is None and not units_column:
        raise ValueError("units: give a units column or a unit extractor")
    examples = []
    for row in tqdm(dataset, total=len(dataset), desc="reading", disable=not progress, dynamic_ncols=True):
        audio = load_audio(row[audio_column], target_sampling_rate=sampling_rate, max_seconds=None)
        latent = None if not latent_column else np.asarray(row[latent_column], dtype=np.float32).T
        units = row[units_column] if units_column and unit_extractor is None else [0]
        examples.append(VocoderExample(units=units, audio=audio, latent=latent, text=row.get("text")))
    if unit_extractor is not None:
        extract_units(examples, unit_extractor, sampling_rate, progress=progress)
    return examples


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def captured_examples(config: VocoderTrainingConfig, progress: bool = True) -> tuple[list[VocoderExample], Any]:
    """
    Speaks the capture texts with the Piper voice, with 50 Hz units from the unit extractor at `unit_extractor_path`
    (fitted on the captured speech first with `fit_unit_extractor`, and saved there, default
    `<output_dir>/unit_extractor`). The set is saved in `capture_dir` and reused by a rerun with the same texts,
    voice, seed and extractor. Returns `(examples, unit_extractor)`.

    Raises:
        FileNotFoundError: no texts file. ValueError: no texts, or no unit extractor and `fit_unit_extractor` unset.
    """
    import datasets

    from offline_assets.tts import PiperVoice
    from processing.instructs2s.units import CENTROIDS_NAME, CONFIG_NAME, UnitExtractor

    texts = read_texts(config.capture_texts_path, config.capture_text_field, config.capture_split,
                       config.capture_max_texts)
    voice = PiperVoice(model_path=config.piper_voice_path, seed=config.capture_seed)
    rate = voice.native_sampling_rate
    capture_dir = config.capture_dir or os.path.join(config.output_dir, "captured")
    extractor_path = config.unit_extractor_path or os.path.join(config.output_dir, "unit_extractor")
    extractor_exists = os.path.isfile(os.path.join(extractor_path, CONFIG_NAME))
    if not extractor_exists and not config.fit_unit_extractor:
        raise ValueError(
            f"no unit extractor at {extractor_path!r}: give unit_extractor_path or set fit_unit_extractor: true"
        )
    info_path = os.path.join(capture_dir, CAPTURE_INFO_NAME)
    texts_digest = hashlib.sha256(json.dumps(texts).encode("utf-8")).hexdigest()
    identity = {"texts": texts_digest, "voice": os.path.abspath(voice.model_path), "seed": config.capture_seed}
    if extractor_exists and os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            info = json.load(f)
        centroids = _file_digest(os.path.join(extractor_path, CENTROIDS_NAME))
        if info == {**identity, "centroids": centroids}:
            dataset = datasets.load_from_disk(os.path.join(capture_dir, "data"))
            examples = examples_from_dataset(dataset, rate, "audio", "units", "latent", progress=progress)
            return examples, UnitExtractor.from_pretrained(extractor_path)
    examples = capture_latent_examples(texts, voice, None, progress=progress)
    if extractor_exists:
        extractor = UnitExtractor.from_pretrained(extractor_path)
    else:
        extractor = fit_unit_extractor(examples, rate, config.unit_extractor_num_units, config.unit_extractor_layer,
                                       seed=config.seed, progress=progress)
        extractor.save_pretrained(extractor_path)
    extract_units(examples, extractor, rate, progress=progress)
    os.makedirs(capture_dir, exist_ok=True)
    examples_to_dataset(examples, rate).save_to_disk(os.path.join(capture_dir, "data"))
    with open(info_path, "w", encoding="utf-8") as f:
        json.dump({**identity, "centroids": _file_digest(os.path.join(extractor_path, CENTROIDS_NAME))}, f)
    # the audio is stored as 16-bit PCM: train on what a reload gives, so that a rerun trains on the same data
    dataset = datasets.load_from_disk(os.path.join(capture_dir, "data"))
    return examples_from_dataset(dataset, rate, "audio", "units", "latent", progress=False), extractor


__all__ = [
    "CAPTURE_INFO_NAME",
    "VocoderExample",
    "capture_latent_examples",
    "captured_examples",
    "examples_from_dataset",
    "examples_to_dataset",
    "extract_units",
    "fit_unit_extractor",
    "mean_latent_per_unit",
    "read_texts",
    "run_lengths",
]
