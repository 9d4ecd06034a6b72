# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The training scripts' entry point, for launchers that run a module (`accelerate launch -m trainers.cli ...`,
`torchrun -m trainers.cli ...`):

    python -m trainers.cli train stage1|stage2 --config RECIPE.yaml [...]
    python -m trainers.cli build-default [--steps ...]

Every other `llama-omni` subcommand lives in the `llama-omni` command (`python -m llama_omni_cli`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Runs `train ...` (`trainers.scripts.train`) or `build-default ...` (`trainers.scripts.build_default`) and
    returns its exit code; 2 (0 for `--help`) with a usage line otherwise."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train":
        from trainers.scripts.train import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "build-default":
        from trainers.scripts.build_default import main as build_main

        return build_main(argv[1:])
    print("usage: python -m trainers.cli train|build-default [ARGS]\n"
          "(the other commands: `llama-omni COMMAND`, or `python -m llama_omni_cli COMMAND`)", file=sys.stderr)
    return 0 if argv and argv[0] in ("-h", "--help") else 2


if __name__ == "__main__":
    sys.exit(main())
