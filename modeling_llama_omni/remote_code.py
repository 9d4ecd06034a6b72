"""Make a saved LLaMA-Omni folder loadable with `trust_remote_code=True` where this package is not installed."""

from __future__ import annotations

import os

from .modeling_llama_omni import write_remote_code


def export_remote_code(folder: str | os.PathLike) -> list[str]:
    """
    Copies the code files into `folder` and writes their `auto_map`: the model's (`modeling_llama_omni.py` and the
    files it imports, into `config.json`) and, when the folder holds a processor (`processor_config.json`), the
    processor's (`processing_llama_omni.py` and `audio_llama_omni.py`, into `processor_config.json`).

    Returns:
        The paths of the code files now in `folder`.

    Raises:
        FileNotFoundError: if `folder` has no `config.json`.
    """
    folder = os.fspath(folder)
    written = write_remote_code(folder)
    if os.path.isfile(os.path.join(folder, "processor_config.json")):
        import processing.processing_llama_omni as processor_module
        from transformers.dynamic_module_utils import get_relative_import_files

        processor_module.LlamaOmniProcessor.from_pretrained(folder).save_pretrained(folder, remote_code=True)
        for source in [processor_module.__file__, *get_relative_import_files(processor_module.__file__)]:
            written.append(os.path.join(folder, os.path.basename(source)))
    return written
