# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The project as a wheel inside a Space repository, so that the Space's app imports it as an installed package.

A Space installs its `requirements.txt` before its other files are in place, so a local path cannot be installed;
the wheel is uploaded with the Space and installed from its `resolve/main` URL (a public Space; for a private one,
replace that line with another URL the Space can reach).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WHEELS_DIR = "wheels"
DISTRIBUTION = "llama-omni-hf"


class PackageWheelError(RuntimeError):
    """The project's wheel cannot be built (no source tree, or the build failed)."""


def project_root() -> Path:
    """The source tree this package runs from (the folder with `setup.py`).

    Raises:
        PackageWheelError: the package is installed without its source tree.
    """
    root = Path(__file__).resolve().parent.parent
    if not (root / "setup.py").is_file():
        raise PackageWheelError(f"no setup.py in {root}: the Space's package wheel is built from a source checkout "
                                "(or pass --no-package-wheel and install the package in the Space yourself)")
    return root


def build_project_wheel(out_dir: str | Path) -> Path:
    """Builds the project's wheel (no dependencies: the Space's requirements pin them) into `out_dir`.

    The build runs on a copy of the source tree, so the checkout gets no `build/` folder.

    Raises:
        PackageWheelError: no source tree, or pip could not build the wheel (its output is in the message).
    """
    root = project_root()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ignored = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "outputs",
                                     "answers", ".pytest_cache", "test-artifacts", "tmp")
    with tempfile.TemporaryDirectory(prefix="llama-omni-wheel-") as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(root, source, ignore=ignored)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
             "--wheel-dir", str(out_dir), str(source)],
            capture_output=True, text=True,
        )
    wheels = sorted(out_dir.glob("llama_omni_hf-*.whl"))
    if result.returncode != 0 or not wheels:
        raise PackageWheelError(f"building the project's wheel failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return wheels[-1]


def wheel_requirement(repo_id: str, wheel: Path) -> str:
    """The `requirements.txt` line that installs `wheel` from the Space `repo_id` (pinned by its sha256)."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    url = f"https://huggingface.co/spaces/{repo_id}/resolve/main/{WHEELS_DIR}/{wheel.name}"
    return f"{DISTRIBUTION} @ {url}#sha256={digest}"
