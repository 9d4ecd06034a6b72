"""Make a saved LLaMA-Omni folder loadable with `trust_remote_code=True` where this package is not installed."""

from __future__ import annotations

import os

from .modeling_llama_omni import REMOTE_CODE_FILES, write_remote_code


def export_remote_code(folder: str | os.PathLike) -> list[str]:
    """
    Copies the code files into `folder` and writes their `auto_map`: the model's (`configuration_llama_omni.py`,
    `modeling_llama_omni.py`, into `config.json`) and, when the folder holds a processor (`processor_config.json`),
    the processor's (`processing_llama_omni.py`, into `processor_config.json`).

    Returns:
        The paths of the code files now in `folder`.

    Raises:
        FileNotFoundError: if `folder` has no `config.json`.
    """
    folder = os.fspath(folder)
    write_remote_code(folder)
    written = [os.path.join(folder, name) for name in REMOTE_CODE_FILES]
    if os.path.isfile(os.path.join(folder, "processor_config.json")):
        from processing.processing_llama_omni import PROCESSOR_REMOTE_CODE_FILE, write_processor_remote_code

        write_processor_remote_code(folder)
        written.append(os.path.join(folder, PROCESSOR_REMOTE_CODE_FILE))
    return written
