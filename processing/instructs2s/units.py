# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Discrete speech units: features of one encoder layer, quantised by k-means to the nearest centroid.

LLaMA-Omni's speech decoder predicts discrete units at 50 Hz (the paper: mHuBERT layer 11 + k-means with
K = 1000), which a unit vocoder turns into a waveform. `UnitExtractor` makes such units:

    16 kHz audio --encoder, layer L--> features [frames, D] at 50 Hz --nearest of K centroids--> units [frames]
                 --(optional) merge consecutive duplicates--> units

Encoders (`processing.instructs2s.unit_encoders`):
    * ``whisper``: a Whisper encoder layer (offline: ``"offline:whisper-base"`` from the pip asset packages; or any
      Whisper checkpoint id / folder). It runs on the unpadded audio through `LlamaOmniSpeechEncoder` (which slices
      the positional embeddings), truncated to its first L layers. Whisper encoder frames are 20 ms = 320 samples
      at 16 kHz, the unit vocoder's frame. Audio longer than 30 s is encoded in 30 s pieces.
    * ``hubert``: a transformers `HubertModel` (e.g. an HF port of fairseq's mHuBERT
      ``mhubert_base_vp_en_es_fr_it3``, layer 11, as in the paper), 320-sample frames too.

Layer L means the output of the L-th transformer layer (1-based), without the encoder's final layer norm (the
convention of fairseq's ``extract_features(output_layer=L)`` and of transformers' ``hidden_states[L]``).

A fitted extractor saves as ``unit_extractor.json`` (encoder kind, source, layer, ...) + ``centroids.safetensors``
(float32 ``[K, D]``); nothing is pickled. fairseq's ``km.bin`` (a pickled scikit-learn model) converts with
`convert_fairseq_km(..., trust_pickle=True)` only.

The command line (`llama-omni units ...`) is `processing.instructs2s.units_cli.units_main`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from processing.processing_llama_omni import SAMPLING_RATE, AudioLike, load_audio

from .unit_encoders import ENCODER_KINDS, FRAME_SAMPLES, OFFLINE_WHISPER_BASE, guess_encoder_kind, load_layer_features

CONFIG_NAME = "unit_extractor.json"
CENTROIDS_NAME = "centroids.safetensors"
_FORMAT_VERSION = 1


class UnsafePickleError(ValueError):
    """Refusal to unpickle a file (fairseq km.bin) without `trust_pickle=True`."""


def deduplicate_units(units: Sequence[int]) -> list[int]:
    """Merges runs of the same unit: `[5, 5, 7, 7, 7, 5] -> [5, 7, 5]`."""
    out: list[int] = []
    for unit in units:
        if not out or out[-1] != unit:
            out.append(int(unit))
    return out


# --------------------------------------------------------------------------------------------------------------
# The extractor
# --------------------------------------------------------------------------------------------------------------


class UnitExtractor:
    """Audio -> discrete units: features of encoder layer `layer`, nearest of the k-means `centroids`, per 20 ms.

    Args:
        encoder: where the encoder comes from: ``"offline:whisper-base"`` (the default; no network), or a Hub id /
            local folder of a Whisper or HuBERT checkpoint.
        layer: 1-based encoder layer whose output is quantised (the paper: 11 for mHuBERT; 4 works well for
            Whisper-base's 6 layers).
        centroids: `[K, D]` k-means centroids (None until `fit`).
        encoder_kind: "whisper" or "hubert" (default: read from the checkpoint's config).
        deduplicate: default of `extract`'s `deduplicate` (merge consecutive duplicate units).
        device: torch device of the encoder (default CPU).
        batch_size: clips per Whisper forward pass in `extract_batch` / `fit`.

    Raises:
        ValueError: unknown encoder kind, bad layer, or centroids of the wrong shape (when the encoder loads).
        OSError: the encoder source cannot be found (offline without a local copy).
    """

    def __init__(
        self,
        encoder: str = OFFLINE_WHISPER_BASE,
        layer: int = 4,
        centroids: torch.Tensor | np.ndarray | None = None,
        encoder_kind: str | None = None,
        deduplicate: bool = False,
        device: str | torch.device | None = None,
        batch_size: int = 8,
    ):
        self.encoder_source = os.fspath(encoder)
        self.encoder_kind = encoder_kind or guess_encoder_kind(self.encoder_source)
        if self.encoder_kind not in ENCODER_KINDS:
            raise ValueError(f"unknown encoder kind {self.encoder_kind!r}; known: {', '.join(ENCODER_KINDS)}")
        self.layer = int(layer)
        self.deduplicate = bool(deduplicate)
        self.device = device
        self.batch_size = int(batch_size)
        self.fit_info: dict[str, Any] = {}
        self._features: nn.Module | None = None
        self.centroids: torch.Tensor | None = None
        if centroids is not None:
            self.set_centroids(centroids)

    # ---------------------------------------------------------------------------------------------------------
    @property
    def num_units(self) -> int | None:
        """K, the number of centroids (None before fitting)."""
        return None if self.centroids is None else int(self.centroids.shape[0])

    @property
    def frame_rate(self) -> int:
        """Units per second before deduplication (50)."""
        return SAMPLING_RATE // FRAME_SAMPLES

    @property
    def feature_module(self) -> nn.Module:
        """The (lazily loaded) encoder truncated to `layer`, mapping a list of 16 kHz clips to `[frames, D]` tensors."""
        if self._features is None:
            self._features = load_layer_features(self.encoder_kind, self.encoder_source, self.layer, self.device)
        return self._features

    def set_centroids(self, centroids: torch.Tensor | np.ndarray) -> None:
        """Sets the `[K, D]` centroids (float32).

        Raises:
            ValueError: not 2-D, empty or not finite.
        """
        centroids = torch.as_tensor(np.asarray(centroids, dtype=np.float32))
        if centroids.ndim != 2 or centroids.shape[0] < 1 or centroids.shape[1] < 1:
            raise ValueError(f"centroids must be a [K, D] array, got shape {tuple(centroids.shape)}")
        if not torch.isfinite(centroids).all():
            raise ValueError("centroids contain NaN or infinite values")
        self.centroids = centroids.contiguous()
        self._centroid_sq = (self.centroids**2).sum(-1)

    # ---------------------------------------------------------------------------------------------------------
    def _load_clip(self, audio: AudioLike, sampling_rate: int | None) -> np.ndarray:
        return load_audio(audio, sampling_rate=sampling_rate, target_sampling_rate=SAMPLING_RATE, max_seconds=None)

    def features_batch(
        self, audios: Sequence[AudioLike], sampling_rate: int | None = SAMPLING_RATE
    ) -> list[torch.Tensor]:
        """Layer-`layer` features of each clip, `[frames, D]` float32 at 50 Hz.

        Args:
            audios: clips, anything `processing.load_audio` accepts (arrays at `sampling_rate`, paths, dicts).
            sampling_rate: rate of raw arrays.

        Raises:
            ValueError: an empty, silent, too short or undecodable clip (from `load_audio`).
        """
        clips = [self._load_clip(audio, sampling_rate) for audio in audios]
        return self.feature_module(clips) if clips else []

    def features(self, audio: AudioLike, sampling_rate: int | None = SAMPLING_RATE) -> torch.Tensor:
        """Layer features of one clip, `[frames, D]` (see `features_batch`)."""
        return self.features_batch([audio], sampling_rate)[0]

    def quantize(self, features: torch.Tensor) -> list[int]:
        """Nearest centroid (Euclidean) of each `[frames, D]` feature row.

        Raises:
            RuntimeError: the extractor has no centroids yet. ValueError: feature size != centroid size.
        """
        if self.centroids is None:
            raise RuntimeError("this UnitExtractor has no centroids: call fit(...) or load one with from_pretrained")
        features = features.float()
        if features.shape[-1] != self.centroids.shape[1]:
            raise ValueError(
                f"features have size {features.shape[-1]} but the centroids {self.centroids.shape[1]}: the centroids "
                "were fitted on another encoder or layer"
            )
        distances = self._centroid_sq[None, :] - 2.0 * features @ self.centroids.T
        return distances.argmin(dim=-1).tolist()

    def extract(
        self, audio: AudioLike, sampling_rate: int | None = SAMPLING_RATE, deduplicate: bool | None = None
    ) -> list[int]:
        """Units of one clip.

        Args:
            audio: anything `processing.load_audio` accepts (a float array at `sampling_rate`, a path, a dict).
            sampling_rate: rate of a raw array (resampled to 16 kHz).
            deduplicate: merge consecutive duplicates (default: the extractor's `deduplicate`).

        Returns:
            The units (ints in `[0, K)`), 50 per second before deduplication.

        Raises:
            RuntimeError: not fitted. ValueError: bad audio (see `load_audio`).
        """
        return self.extract_batch([audio], sampling_rate=sampling_rate, deduplicate=deduplicate)[0]

    def extract_batch(
        self,
        audios: Iterable[AudioLike],
        sampling_rate: int | None = SAMPLING_RATE,
        deduplicate: bool | None = None,
        progress: bool = False,
    ) -> list[list[int]]:
        """Units of each clip (batched by `batch_size`; see `extract`)."""
        if self.centroids is None:
            raise RuntimeError("this UnitExtractor has no centroids: call fit(...) or load one with from_pretrained")
        dedup = self.deduplicate if deduplicate is None else deduplicate
        results = []
        for batch in batched(audios, self.batch_size, progress, "units"):
            for feats in self.features_batch(batch, sampling_rate):
                units = self.quantize(feats)
                results.append(deduplicate_units(units) if dedup else units)
        return results

    __call__ = extract

    # ---------------------------------------------------------------------------------------------------------
    def fit(
        self,
        audio_iterable: Iterable[AudioLike],
        num_units: int = 500,
        layer: int | None = None,
        max_frames: int | None = 500_000,
        seed: int = 0,
        sampling_rate: int | None = SAMPLING_RATE,
        algorithm: str = "auto",
        progress: bool = True,
    ) -> "UnitExtractor":
        """Fits the k-means centroids on the layer features of some audio.

        Args:
            audio_iterable: clips (arrays at `sampling_rate`, paths, datasets audio dicts); read until `max_frames`
                feature frames are collected.
            num_units: K, the number of units.
            layer: encoder layer to use (default: the extractor's; changing it reloads the encoder).
            max_frames: cap on the frames used (50 per second of audio; None: all).
            seed: random seed of k-means.
            sampling_rate: rate of raw arrays.
            algorithm: "kmeans" (scikit-learn KMeans), "minibatch" (MiniBatchKMeans), or "auto" (KMeans up to 20 000
                frames, MiniBatchKMeans above).
            progress: show a progress bar.

        Returns:
            self, with `centroids` set and `fit_info` describing the fit.

        Raises:
            ValueError: fewer frames than `num_units`, `num_units < 2`, bad algorithm, or bad audio.
        """
        from sklearn.cluster import KMeans, MiniBatchKMeans

        if num_units < 2:
            raise ValueError(f"num_units must be >= 2, got {num_units}")
        if algorithm not in ("auto", "kmeans", "minibatch"):
            raise ValueError(f"algorithm must be 'auto', 'kmeans' or 'minibatch', got {algorithm!r}")
        if layer is not None and int(layer) != self.layer:
            self.layer, self._features = int(layer), None
        start = time.perf_counter()
        chunks, total, clips = [], 0, 0
        for batch in batched(audio_iterable, self.batch_size, progress, "k-means features"):
            for feats in self.features_batch(batch, sampling_rate):
                chunks.append(feats.numpy())
                total += feats.shape[0]
                clips += 1
            if max_frames is not None and total >= max_frames:
                break
        if not chunks:
            raise ValueError("fit() got no audio")
        data = np.concatenate(chunks, axis=0)
        if max_frames is not None and data.shape[0] > max_frames:
            data = data[:max_frames]
        if data.shape[0] < num_units:
            raise ValueError(
                f"fit() collected {data.shape[0]} frames ({data.shape[0] / self.frame_rate:.1f} s of audio), fewer "
                f"than num_units={num_units}; give more audio or fewer units"
            )
        feature_seconds = time.perf_counter() - start
        use_minibatch = algorithm == "minibatch" or (algorithm == "auto" and data.shape[0] > 20_000)
        if use_minibatch:
            kmeans = MiniBatchKMeans(
                n_clusters=num_units, batch_size=min(10_000, data.shape[0]), n_init=3, max_iter=100,
                max_no_improvement=10, random_state=seed,
            )
        else:
            kmeans = KMeans(n_clusters=num_units, n_init=1, max_iter=100, random_state=seed)
        kmeans.fit(data.astype(np.float32))
        self.set_centroids(kmeans.cluster_centers_)
        self.fit_info = {
            "algorithm": type(kmeans).__name__,
            "num_frames": int(data.shape[0]),
            "num_clips": clips,
            "seed": int(seed),
            "inertia_per_frame": float(kmeans.inertia_) / data.shape[0],
            "feature_seconds": round(feature_seconds, 2),
            "kmeans_seconds": round(time.perf_counter() - start - feature_seconds, 2),
        }
        return self

    # ---------------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The contents of `unit_extractor.json`."""
        return {
            "format_version": _FORMAT_VERSION,
            "encoder_kind": self.encoder_kind,
            "encoder": self.encoder_source,
            "layer": self.layer,
            "num_units": self.num_units,
            "feature_dim": None if self.centroids is None else int(self.centroids.shape[1]),
            "sampling_rate": SAMPLING_RATE,
            "frame_rate": self.frame_rate,
            "deduplicate": self.deduplicate,
            "fit": self.fit_info,
        }

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Writes `unit_extractor.json` and `centroids.safetensors` (no pickle) into `save_directory`.

        Raises:
            RuntimeError: not fitted.
        """
        from safetensors.torch import save_file

        if self.centroids is None:
            raise RuntimeError("nothing to save: this UnitExtractor has no centroids yet (call fit)")
        os.makedirs(save_directory, exist_ok=True)
        save_file({"centroids": self.centroids.contiguous()}, os.path.join(save_directory, CENTROIDS_NAME),
                  metadata={"format": "pt", "encoder": self.encoder_source, "layer": str(self.layer)})
        with open(os.path.join(save_directory, CONFIG_NAME), "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike,
        encoder: str | None = None,
        device: str | torch.device | None = None,
        **kwargs: Any,
    ) -> "UnitExtractor":
        """Loads a saved extractor (the encoder itself loads lazily, at the first extraction).

        Args:
            directory: a folder written by `save_pretrained` (or `convert_fairseq_km`).
            encoder: use this encoder source instead of the recorded one (e.g. a local copy of the Hub model).
            device: torch device of the encoder.
            **kwargs: other `UnitExtractor` arguments (`batch_size`, `deduplicate`).

        Raises:
            FileNotFoundError: a file is missing. ValueError: an unknown format or inconsistent files.
        """
        from safetensors.torch import load_file

        directory = Path(directory)
        for name in (CONFIG_NAME, CENTROIDS_NAME):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name} not found: not a UnitExtractor folder")
        config = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
        if config.get("format_version", 1) > _FORMAT_VERSION:
            raise ValueError(f"{directory / CONFIG_NAME} has format_version {config['format_version']}; this "
                             f"version of the library reads up to {_FORMAT_VERSION}")
        centroids = load_file(str(directory / CENTROIDS_NAME))["centroids"]
        if config.get("num_units") not in (None, centroids.shape[0]):
            raise ValueError(f"{directory}: {CONFIG_NAME} says {config['num_units']} units, the centroids have "
                             f"{centroids.shape[0]}")
        kwargs.setdefault("deduplicate", config.get("deduplicate", False))
        extractor = cls(
            encoder=encoder or config["encoder"],
            layer=config["layer"],
            centroids=centroids,
            encoder_kind=config["encoder_kind"],
            device=device,
            **kwargs,
        )
        extractor.fit_info = config.get("fit", {})
        return extractor

    def __repr__(self) -> str:
        return (f"UnitExtractor(encoder={self.encoder_source!r}, kind={self.encoder_kind}, layer={self.layer}, "
                f"num_units={self.num_units}, deduplicate={self.deduplicate})")


def batched(items: Iterable[Any], size: int, progress: bool, desc: str) -> Iterator[list[Any]]:
    """`items` in lists of `size` (the last may be shorter), with a progress bar of clips when `progress`."""
    iterator = iter(items)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(items) if hasattr(items, "__len__") else None
        bar = tqdm(total=total, desc=desc, unit="clip")
    try:
        while True:
            batch = []
            for item in iterator:
                batch.append(item)
                if len(batch) >= max(1, size):
                    break
            if not batch:
                return
            yield batch
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()


# --------------------------------------------------------------------------------------------------------------
# fairseq km.bin
# --------------------------------------------------------------------------------------------------------------


def convert_fairseq_km(
    km_bin_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    encoder: str,
    layer: int = 11,
    encoder_kind: str | None = None,
    trust_pickle: bool = False,
) -> UnitExtractor:
    """Converts fairseq's k-means quantizer (`km.bin`, e.g. LLaMA-Omni's mHuBERT km1000) to a `UnitExtractor` folder
    (`unit_extractor.json` + `centroids.safetensors`).

    `km.bin` is a joblib/pickle dump of a scikit-learn (MiniBatch)KMeans. Unpickling runs whatever code the file
    asks for, so a malicious or tampered `km.bin` can take over the machine: this function refuses unless
    `trust_pickle=True`, which you should pass only for a file from a source you trust. The converted folder holds
    plain tensors and is safe to share and load.

    Args:
        km_bin_path: the `km.bin` file.
        output_dir: where to write the extractor.
        encoder: the encoder the k-means was fitted on (a Hub id or folder of a transformers HuBERT/Whisper, e.g. an
            HF port of fairseq's `mhubert_base_vp_en_es_fr_it3` for LLaMA-Omni).
        layer: its layer (11 for LLaMA-Omni's mHuBERT units).
        encoder_kind: "hubert" or "whisper" (default "hubert").
        trust_pickle: allow unpickling `km_bin_path`.

    Returns:
        The converted extractor.

    Raises:
        UnsafePickleError: `trust_pickle` is False.
        FileNotFoundError: no such file. ValueError: the file holds no `cluster_centers_`.
    """
    km_bin_path = Path(km_bin_path)
    if not trust_pickle:
        raise UnsafePickleError(
            f"refusing to load {km_bin_path}: fairseq's km.bin is a pickle (joblib) file, and unpickling runs "
            "arbitrary code stored in the file, so a malicious km.bin could take over this machine. If you trust "
            "its source, pass trust_pickle=True (CLI: --trust-pickle); the converted centroids.safetensors is then "
            "safe to share and load."
        )
    if not km_bin_path.is_file():
        raise FileNotFoundError(f"km.bin not found: {km_bin_path}")
    import joblib

    model = joblib.load(km_bin_path)
    centers = getattr(model, "cluster_centers_", None)
    if centers is None:
        raise ValueError(f"{km_bin_path} holds a {type(model).__name__}, not a fitted scikit-learn KMeans "
                         "(no cluster_centers_)")
    extractor = UnitExtractor(encoder=encoder, layer=layer, centroids=np.asarray(centers, dtype=np.float32),
                              encoder_kind=encoder_kind or "hubert")
    extractor.fit_info = {"converted_from": os.path.basename(km_bin_path), "algorithm": type(model).__name__}
    extractor.save_pretrained(output_dir)
    return extractor


__all__ = [
    "CENTROIDS_NAME",
    "CONFIG_NAME",
    "OFFLINE_WHISPER_BASE",
    "UnitExtractor",
    "UnsafePickleError",
    "convert_fairseq_km",
    "deduplicate_units",
]
