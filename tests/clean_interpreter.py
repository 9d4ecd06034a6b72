"""Running a script where this project's packages cannot be imported (test helper, no tests): what a user without
the package has, so that only the files of a model folder (remote code) can provide our classes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# Every top-level package of the project: blocked even through the editable install's finder.
OURS = ("modeling_llama_omni", "processing", "offline_assets", "inference", "trainers", "evaluation", "hub_cards",
        "llama_omni_cli", "space", "benchmarks", "tests")

BLOCK_OUR_PACKAGES = textwrap.dedent(
    f"""
    import importlib.abc, json, sys
    OURS = {set(OURS)!r}

    class BlockOurPackages(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in OURS:
                raise ModuleNotFoundError(f"{{name}} is blocked in this test")
            return None

    sys.meta_path.insert(0, BlockOurPackages())
    """
)


def run_clean(
    script: str, *args: str, cwd: Path, input: str | None = None, timeout: float = 300, threads: int | None = 1
) -> subprocess.CompletedProcess:
    """Runs `BLOCK_OUR_PACKAGES + script` with `args` in an isolated interpreter (`-I`, no PYTHONPATH), offline, with
    its own transformers modules cache under `cwd`; returns the completed process (text output captured)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(Path(cwd) / "modules"))
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run([sys.executable, "-I", "-c", BLOCK_OUR_PACKAGES + textwrap.dedent(script), *map(str, args)],
                          cwd=cwd, env=env, input=input, capture_output=True, text=True, timeout=timeout)
