# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""``llama-omni units {fit,extract,convert-km}``: the command line of the unit extractor
(:class:`processing.instructs2s.units.UnitExtractor`).

    llama-omni units fit --audio-dir DIR | --dataset PATH --num-units K --layer L [--encoder offline:whisper-base]
                         --output FOLDER
    llama-omni units extract --extractor FOLDER --audio F.wav ... | --audio-dir DIR | --dataset PATH [--output F]
    llama-omni units convert-km --km-bin km.bin --encoder HUBERT --layer 11 --output FOLDER --trust-pickle
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .unit_encoders import ENCODER_KINDS, OFFLINE_WHISPER_BASE
from .units import UnitExtractor, UnsafePickleError, batched, convert_fairseq_km

__all__ = ["units_main"]

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm")


def _audio_files(directory: str) -> list[str]:
    """The audio files under `directory` (recursively, sorted); exits with a message when there are none."""
    root = Path(directory)
    if not root.is_dir():
        raise SystemExit(f"error: --audio-dir {directory!r} is not a directory")
    files = sorted(str(p) for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
    if not files:
        raise SystemExit(f"error: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {directory!r}")
    return files


def _dataset_audio(path: str, column: str, split: str | None) -> tuple[list[str], Iterable[Any]]:
    """(ids, audio items) of a `datasets` dataset: a `save_to_disk` folder, or anything `load_dataset` reads."""
    import datasets

    if os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, f)) for f in ("state.json", "dataset_dict.json")
    ):
        ds = datasets.load_from_disk(path)
    else:
        ds = datasets.load_dataset(path)
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            split = "train" if "train" in ds else next(iter(ds))
        if split not in ds:
            raise SystemExit(f"error: split {split!r} not in {path!r} (splits: {', '.join(ds)})")
        ds = ds[split]
    if column not in ds.column_names:
        raise SystemExit(f"error: no column {column!r} in {path!r} (columns: {', '.join(ds.column_names)})")
    ids = [str(x) for x in ds["id"]] if "id" in ds.column_names else [str(i) for i in range(len(ds))]

    def items() -> Iterator[Any]:
        for example in ds:
            yield example[column]

    class _Sized:
        def __len__(self) -> int:
            return len(ds)

        def __iter__(self) -> Iterator[Any]:
            return items()

    return ids, _Sized()


def _add_source_args(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--audio-dir", help="a folder of audio files (searched recursively)")
    group.add_argument("--dataset", help="a datasets folder (save_to_disk) or a dataset loadable by load_dataset")
    parser.add_argument("--audio-column", default="audio", help="audio column of --dataset (default: audio)")
    parser.add_argument("--split", default=None, help="split of --dataset (default: train or the first)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llama-omni units",
        description="Discrete speech units: fit a k-means unit extractor, extract units, convert fairseq km.bin.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit k-means centroids on an encoder layer's features")
    _add_source_args(fit, required=True)
    fit.add_argument("--num-units", type=int, required=True, help="K, the number of units")
    fit.add_argument("--layer", type=int, required=True, help="1-based encoder layer (e.g. 4 for whisper-base)")
    fit.add_argument("--encoder", default=OFFLINE_WHISPER_BASE,
                     help=f"encoder source: {OFFLINE_WHISPER_BASE} (default), or a Whisper / HuBERT id or folder")
    fit.add_argument("--max-frames", type=int, default=500_000, help="frames used at most (50 per second)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--algorithm", choices=("auto", "kmeans", "minibatch"), default="auto")
    fit.add_argument("--batch-size", type=int, default=8)
    fit.add_argument("--device", default=None)
    fit.add_argument("--output", required=True, help="folder to write the extractor to")

    extract = sub.add_parser("extract", help="extract units with a fitted extractor (JSON lines)")
    extract.add_argument("--extractor", required=True, help="a folder written by `units fit`")
    extract.add_argument("--audio", nargs="+", help="audio files")
    _add_source_args(extract, required=False)
    extract.add_argument("--deduplicate", action="store_true", help="merge consecutive duplicate units")
    extract.add_argument("--batch-size", type=int, default=8)
    extract.add_argument("--device", default=None)
    extract.add_argument("--output", default="-", help="JSON-lines file ({'id', 'units'} per clip); '-' = stdout")

    convert = sub.add_parser("convert-km", help="convert fairseq's km.bin (a pickle) to centroids.safetensors")
    convert.add_argument("--km-bin", required=True)
    convert.add_argument("--encoder", required=True, help="the HuBERT / Whisper id or folder the k-means was fit on")
    convert.add_argument("--encoder-kind", choices=ENCODER_KINDS, default="hubert")
    convert.add_argument("--layer", type=int, default=11)
    convert.add_argument("--output", required=True)
    convert.add_argument("--trust-pickle", action="store_true",
                         help="allow unpickling km.bin (runs code from the file: only for files you trust)")
    return parser


def units_main(argv: Sequence[str] | None = None) -> int:
    """`llama-omni units {fit,extract,convert-km} ...`; returns the exit status (errors exit with a message)."""
    args = _build_parser().parse_args(argv)
    if args.command == "fit":
        if args.audio_dir:
            audios = _audio_files(args.audio_dir)
        else:
            _, audios = _dataset_audio(args.dataset, args.audio_column, args.split)
        extractor = UnitExtractor(encoder=args.encoder, layer=args.layer, device=args.device,
                                  batch_size=args.batch_size)
        extractor.fit(audios, num_units=args.num_units, max_frames=args.max_frames, seed=args.seed,
                      sampling_rate=None, algorithm=args.algorithm)
        extractor.save_pretrained(args.output)
        info = extractor.fit_info
        print(f"fitted {extractor.num_units} units on {info['num_frames']} frames of {info['num_clips']} clips "
              f"({info['algorithm']}, features {info['feature_seconds']} s, k-means {info['kmeans_seconds']} s); "
              f"saved to {args.output}", file=sys.stderr)
        return 0

    if args.command == "extract":
        sources = [bool(args.audio), bool(args.audio_dir), bool(args.dataset)]
        if sum(sources) != 1:
            raise SystemExit("error: give exactly one of --audio, --audio-dir, --dataset")
        if args.audio:
            ids = audios = list(args.audio)
        elif args.audio_dir:
            ids = audios = _audio_files(args.audio_dir)
        else:
            ids, audios = _dataset_audio(args.dataset, args.audio_column, args.split)
        extractor = UnitExtractor.from_pretrained(args.extractor, device=args.device, batch_size=args.batch_size)
        out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
        try:
            id_iter = iter(ids)
            for batch in batched(audios, extractor.batch_size, progress=args.output != "-", desc="units"):
                for units in extractor.extract_batch(batch, sampling_rate=None, deduplicate=args.deduplicate):
                    out.write(json.dumps({"id": next(id_iter), "units": units}) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
        return 0

    if args.command == "convert-km":
        try:
            extractor = convert_fairseq_km(args.km_bin, args.output, encoder=args.encoder, layer=args.layer,
                                           encoder_kind=args.encoder_kind, trust_pickle=args.trust_pickle)
        except UnsafePickleError as e:
            raise SystemExit(f"error: {e}") from None
        print(f"converted {extractor.num_units} centroids of size {extractor.centroids.shape[1]} to {args.output}",
              file=sys.stderr)
        return 0
    raise AssertionError(args.command)
