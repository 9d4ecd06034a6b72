# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The `llama-omni` command: one dispatcher on the top floor, each subcommand implemented where its code lives.

    llama-omni convert-original --checkpoint DIR --output DIR   convert a released ICTNLP/Llama-3.1-8B-Omni folder
    llama-omni convert-omni2 --checkpoint DIR --output DIR      convert a released ICTNLP/LLaMA-Omni2-* folder
    llama-omni convert-cosyvoice2 --model-dir DIR --output DIR  convert CosyVoice2-0.5B (flow + HiFT) for it
    llama-omni export-remote-code DIR                           add remote code + auto_map to a saved model folder
    llama-omni train stage1|stage2 --config RECIPE.yaml [...]   train a stage from a YAML recipe (trainers/recipes/)
    llama-omni data build --config RECIPE.yaml [...]            build the speech-instruction dataset (processing/instructs2s/recipes/)
    llama-omni units fit|extract|convert-km [...]               discrete speech units (k-means on an encoder layer)
    llama-omni chat --audio FILE [FILE ...] [--json] [--model DIR]   answer spoken questions (text + speech)
    llama-omni infer --model DIR --questions Q.json --output A.jsonl [--units-to-wav DIR]   the released batch inference
    llama-omni build-default [--steps ...]                      train the embedded default model llama-omni-tiny
    llama-omni push model|dataset|space PATH --repo-id ORG/NAME [--dry-run DIR] [...]   publish on the Hub (hub_cards/)
    llama-omni evaluate --model DIR --eval-set heldout [--omega 10,20,40] [--judge ...]   the paper's metrics
"""

from __future__ import annotations

import argparse
import sys


def _convert_original(argv: list[str]) -> int:
    from modeling_llama_omni.convert_original import main as convert_main

    return convert_main(argv) or 0


def _convert_omni2(argv: list[str]) -> int:
    from modeling_llama_omni.convert_omni2 import main as convert_main

    return convert_main(argv) or 0


def _convert_cosyvoice2(argv: list[str]) -> int:
    from modeling_llama_omni.convert_cosyvoice2 import main as convert_main

    return convert_main(argv) or 0


def _export_remote_code(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="llama-omni export-remote-code",
        description="Copy the model (and processor) code files into a saved LLaMA-Omni folder and write their "
        "auto_map, so that it loads with trust_remote_code=True where this package is not installed.",
    )
    parser.add_argument("folder", help="a folder written by save_pretrained")
    args = parser.parse_args(argv)
    from modeling_llama_omni.remote_code import export_remote_code

    written = export_remote_code(args.folder)
    for path in written:
        print(path)
    return 0


def _train(argv: list[str]) -> int:
    from trainers.scripts.train import main as train_main

    return train_main(argv)


def _data(argv: list[str]) -> int:
    from processing.instructs2s import data_main

    return data_main(argv)


def _units(argv: list[str]) -> int:
    from processing.instructs2s.units_cli import units_main

    return units_main(argv)


def _chat(argv: list[str]) -> int:
    from inference.chat import chat_main

    return chat_main(argv)


def _infer(argv: list[str]) -> int:
    from inference.batch import infer_main

    return infer_main(argv)


def _build_default(argv: list[str]) -> int:
    from trainers.scripts.build_default import main as build_main

    return build_main(argv)


def _push(argv: list[str]) -> int:
    from hub_cards.push import push_main

    return push_main(argv)


def _evaluate(argv: list[str]) -> int:
    from evaluation.cli import evaluate_main

    return evaluate_main(argv)


COMMANDS = {
    "convert-original": (_convert_original, "convert a released ICTNLP/Llama-3.1-8B-Omni checkpoint"),
    "convert-omni2": (_convert_omni2, "convert a released ICTNLP/LLaMA-Omni2-* checkpoint (autoregressive TTS)"),
    "convert-cosyvoice2": (
        _convert_cosyvoice2,
        "convert CosyVoice2's flow + HiFT (LLaMA-Omni2's voice) into a token-to-waveform folder",
    ),
    "export-remote-code": (_export_remote_code, "make a saved folder loadable with trust_remote_code=True"),
    "train": (_train, "train stage 1 or stage 2 from a YAML recipe (llama-omni train stage1 --config R.yaml)"),
    "data": (_data, "build the speech-instruction dataset from a recipe (llama-omni data build --config R.yaml)"),
    "units": (_units, "discrete speech units: fit a k-means extractor, extract units, convert fairseq km.bin"),
    "chat": (_chat, "answer spoken questions in text and speech (llama-omni chat --audio q.wav [--json])"),
    "infer": (_infer, "the released batch inference: question JSON -> answers JSONL (text + units) [-> wavs]"),
    "build-default": (_build_default, "train the embedded default model llama-omni-tiny end to end (CPU, offline)"),
    "push": (_push, "publish a model, dataset or Space on the Hub with its card (--dry-run DIR: write it only)"),
    "evaluate": (_evaluate, "the paper's metrics, Omega trade-off and cascade baseline (llama-omni evaluate --help)"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `llama-omni` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: llama-omni COMMAND [ARGS]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:20s} {help_text}")
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nerror: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    command, _ = COMMANDS[argv[0]]
    return command(argv[1:])


