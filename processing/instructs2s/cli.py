# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""``llama-omni data build``: build (or resume) the InstructS2S speech-instruction dataset from a YAML recipe.

    llama-omni data build --config RECIPE.yaml [--output DIR] [--limit N] [--num-proc N] [--shard-size N]
                          [--overwrite] [--push-to-hub REPO_ID [--private]] [--no-progress] [--seed N] ...

Parsed as TRL's scripts parse theirs: ``trl.TrlParser`` over the recipe's own dataclass
(:class:`processing.instructs2s.recipe.BuildConfig`) and :class:`DataBuildArguments`; the YAML file named by
``--config`` gives the values, and the flags (every top-level scalar or list key of the recipe, e.g. ``--limit``,
``--seed``, ``--response-voice``; ``--output`` is ``--output-dir``) override them. The nested keys (``writer``,
``units``, ``validation``, ``voice_options``, the mappings of ``sources``) are set in the file; they are validated
by the recipe's dataclasses, which also refuse unknown keys with a suggestion (TRL's parser would only list them).
As in TRL, a top-level ``env:`` mapping of the file sets environment variables first.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from .builder import build_dataset
from .recipe import BuildConfig, BuildConfigError, unknown_keys_message
from .shards import REPORT_NAME

__all__ = ["DataBuildArguments", "data_main", "parse_build_args"]


@dataclass
class DataBuildArguments:
    """The flags of ``llama-omni data build`` that are not recipe keys (they do not change the dataset)."""

    overwrite: bool = field(default=False, metadata={"help": "delete an earlier build in the output folder"})
    push_to_hub: str | None = field(
        default=None, metadata={"help": "upload the result as a Hub dataset repository", "metavar": "REPO_ID"}
    )
    private: bool = field(default=False, metadata={"help": "with --push-to-hub: a private repository"})
    progress: bool = field(default=True, metadata={"help": "progress bars (--no-progress: none)"})


def _build_parser() -> argparse.ArgumentParser:
    from trl import TrlParser

    return TrlParser(
        (BuildConfig, DataBuildArguments),
        prog="llama-omni data build",
        description="Build (or resume) the InstructS2S speech-instruction dataset. --config RECIPE.yaml (required: "
        "processing/instructs2s/recipes/*.yaml) gives the recipe; the flags below override its top-level keys.",
        exit_on_error=False,
    )


def _config_path(argv: list[str]) -> str:
    """The value of ``--config`` (``--config=PATH`` is rewritten in place as TrlParser reads ``--config PATH``)."""
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            argv[i : i + 1] = ["--config", arg.split("=", 1)[1]]
    if "--config" not in argv or argv.index("--config") + 1 >= len(argv):
        raise BuildConfigError("the recipe is missing: pass --config RECIPE.yaml")
    return argv[argv.index("--config") + 1]


def parse_build_args(argv: Sequence[str]) -> tuple[BuildConfig, DataBuildArguments]:
    """The recipe (the ``--config`` file, overridden by the flags) and the other flags of ``llama-omni data build``.

    Raises:
        FileNotFoundError: the recipe file does not exist.
        BuildConfigError: no ``--config``, a file that is not a YAML mapping, unknown keys or flags, bad values.
        SystemExit: ``--help`` (after printing it).
    """
    import yaml

    argv = list(argv)
    if "-h" in argv or "--help" in argv:
        _build_parser().parse_args(["--help"])
    path = _config_path(argv)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"recipe not found: {path}")
    try:
        config, args, file_extra, argv_extra = _build_parser().parse_args_and_config(
            argv, return_remaining_strings=True, separate_remaining_strings=True
        )
    except yaml.YAMLError as error:
        raise BuildConfigError(f"{path} is not valid YAML: {error}") from None
    except (argparse.ArgumentError, ValueError) as error:  # BuildConfigError included: a bad value
        message = str(error)
        raise BuildConfigError(message if path in message else f"{path}: {message}") from None
    if file_extra:  # TrlParser hands back the file's unknown keys as ["--key", "value", ...]
        known = [f.name for f in fields(BuildConfig) if f.init]
        unknown = [key.removeprefix("--") for key in file_extra[0::2]]
        raise BuildConfigError(f"{path}: {unknown_keys_message(unknown, known, 'the recipe')}")
    if argv_extra:
        raise BuildConfigError(f"unknown argument(s): {' '.join(argv_extra)} (see llama-omni data build --help)")
    return config, args


def data_main(argv: Sequence[str] | None = None) -> int:
    """``llama-omni data build --config recipe.yaml [--output DIR] [--limit N] [--num-proc N] ...``.

    Prints a summary (counts, rejections by step and reason, time) and returns 0; a bad recipe or flag, a missing
    source or extractor, or an unknown voice prints ``error: ...`` and returns 2.
    """
    from .sources import InstructionSourceError

    argv = list(sys.argv[1:] if argv is None else argv)
    commands = argparse.ArgumentParser(prog="llama-omni data",
                                       description="Build the InstructS2S speech-instruction dataset from a recipe.")
    sub = commands.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or resume) a dataset from a YAML recipe", add_help=False)
    commands.parse_args(argv[:1])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config, args = parse_build_args(argv[1:])
        result = build_dataset(config, overwrite=args.overwrite, progress=args.progress)
    except (BuildConfigError, FileNotFoundError, InstructionSourceError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = result.report
    counts = report["counts"]
    splits = ", ".join(f"{split}: {c['kept']}" for split, c in counts["splits"].items())
    print(f"built {result.output_dir}: read {counts['read']}, kept {counts['kept']}, rejected {counts['rejected']} "
          f"({splits})")
    for step, reasons in report["rejected"].items():
        print(f"  rejected at {step}: " + ", ".join(f"{reason} x{n}" for reason, n in reasons.items()))
    print(f"  time {report['timings'].get('run_wall_seconds')} s; report: "
          f"{os.path.join(result.output_dir, REPORT_NAME)}")
    if args.push_to_hub:
        result.push_to_hub(args.push_to_hub, private=args.private)
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


if __name__ == "__main__":
    sys.exit(data_main())
