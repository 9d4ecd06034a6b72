# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Quantised loading on a GPU through transformers' `quantization_config` (bitsandbytes), the released
`--load-8bit` / `--load-4bit`:

    config = bitsandbytes_config("4bit", device="cuda")
    model = LlamaOmniForConditionalGeneration.from_pretrained(folder, quantization_config=config,
                                                              dtype=torch.float16, device_map={"": "cuda"})

"8bit" is LLM.int8() (`load_in_8bit=True`); "4bit" is NF4 with double quantisation and float16 compute, the released
loader's settings. bitsandbytes needs a CUDA GPU: on a CPU-only machine, or without the package, the helper raises a
clear error instead of letting transformers fail deep inside loading.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

QUANTIZATIONS = ("8bit", "4bit")


def bitsandbytes_config(
    quantization: str | None, device: str | torch.device | None = None, compute_dtype: torch.dtype = torch.float16
) -> Any:
    """
    The `transformers.BitsAndBytesConfig` for `quantization` ("8bit" or "4bit"), or None when it is None.

    Args:
        quantization: "8bit", "4bit" or None (no quantisation).
        device: where the model will run (default: "cuda" when available); it must be a CUDA device.
        compute_dtype: the 4-bit layers' compute dtype (float16, as the released loader).

    Raises:
        ValueError: an unknown `quantization`, or a `device` that is not CUDA.
        RuntimeError: no CUDA GPU on this machine (bitsandbytes quantisation runs on GPUs only).
        ImportError: bitsandbytes is not installed.
    """
    if quantization is None:
        return None
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS} or None, got {quantization!r}")
    if device is not None and torch.device(device).type != "cuda":
        raise ValueError(
            f"{quantization} quantisation (bitsandbytes) runs on a CUDA GPU, but device={str(device)!r} was asked "
            "for; pass device='cuda', or load without quantization"
        )
    if not torch.cuda.is_available():
        raise RuntimeError(
            f"{quantization} quantisation (bitsandbytes) needs a CUDA GPU and this machine has none; load the model "
            "without quantization (e.g. in float32 or bfloat16 on the CPU)"
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ImportError(f"{quantization} quantisation needs bitsandbytes: `pip install bitsandbytes`")
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
    )


__all__ = ["QUANTIZATIONS", "bitsandbytes_config"]
