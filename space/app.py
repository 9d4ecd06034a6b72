# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The LLaMA-Omni Space: ask a spoken question, read and hear the answer while it is being generated.

One process: the model, the web page and the queue live here. A question recorded with the microphone (or
uploaded) is answered through the inference runtime (`inference.Responder`, on `model.stream()`); its text deltas
stream into the chat token by token and its audio chunks (one every Omega speech units) stream into a
`gr.Audio(streaming=True, autoplay=True)` that starts playing with the first chunk. The time to first audio (TTFA)
of each answer is read from the answer's timeline and shown.

Model selection (`MODEL_ID` in the environment, `--model-id`, or `launch(model_id=...)`), loaded with
`inference.load_model`:

- a local model folder (saved with `save_pretrained`, its unit vocoder in the `vocoder/` subfolder);
- a Hub id (downloaded with `huggingface_hub.snapshot_download`; offline, it must already be in the cache);
- unset: the embedded default model (`offline_assets.embedded.load_default`), which needs no download.

The device and dtype follow the project's one rule (`pick_device_and_dtype`: CUDA in bfloat16, or float16 where
bfloat16 is not supported; else the CPU in float32); `DEVICE` / `DTYPE` in the environment (or `--device` /
`--dtype`) override them.

Robustness: one queue with a concurrency limit for all answers; Stop, or a visitor who leaves, closes the answer's
stream, which stops its generation thread at the next step; unusable audio (none, empty, silent, too short, longer
than 30 s, unreadable) gets a message saying what to do, never a traceback; uploads have a size limit.

Besides the page, `/answer` is a non-streaming API endpoint for scripts and tests (an audio file in; the answer's
text, its wav and its timings out), since the page's streamed audio output is no use to `gradio_client`:

    from gradio_client import Client, handle_file
    text, wav_path, stats = Client("http://127.0.0.1:7860/").predict(handle_file("question.wav"), api_name="/answer")

Run: `python space/app.py --host 127.0.0.1 --port 7860`, or `from space.app import launch; launch()`. The project
must be installed (`pip install -e .`): the page's modules are imported as `space.*`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from inference import GenerationSettings, Responder, load_model
from inference.conversation import DEFAULT_MAX_HISTORY_TURNS
from modeling_llama_omni import release_openmp_threads
from space.chat_page import DEFAULT_CONCURRENCY_LIMIT, build_demo
from space.example_questions import EXAMPLES_DIR


DEFAULT_MAX_QUEUE_SIZE = 32
DEFAULT_MAX_FILE_SIZE = "16mb"  # a 30 s question is < 3 MB as 16-bit 48 kHz wav


def load_space_model(
    model_id: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> tuple[Any, Any, str]:
    """
    Loads the Space's model with `inference.load_model` (a model without a unit vocoder answers in text only).

    Args:
        model_id: a local folder or a Hub id; default: the `MODEL_ID` environment variable; when that is unset too,
            the embedded default model.
        device, dtype: default: the `DEVICE` / `DTYPE` environment variables, else picked automatically.

    Returns:
        `(model, processor, name)`: the model in eval mode, its processor, and a name to show (no server paths).

    Raises:
        FileNotFoundError: `model_id` cannot be found. TypeError: it is not a LLaMA-Omni model.
        ValueError: a bad dtype name.
    """
    model_id = model_id or os.environ.get("MODEL_ID") or None
    device = device or os.environ.get("DEVICE") or None
    dtype = dtype or os.environ.get("DTYPE") or None
    model, processor = load_model(model_id, device, dtype, require_vocoder=False)
    if model_id is None:
        name = "the embedded default model"
    else:
        name = Path(model_id).name if os.path.isdir(model_id) else model_id
    return model, processor, name


def launch(
    model_id: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    settings: GenerationSettings | None = None,
    concurrency_limit: int = DEFAULT_CONCURRENCY_LIMIT,
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
    max_file_size: str | int = DEFAULT_MAX_FILE_SIZE,
    max_history_turns: int = DEFAULT_MAX_HISTORY_TURNS,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
    **launch_kwargs: Any,
) -> gr.Blocks:
    """
    Loads the model and serves the Space.

    Args:
        model_id: a local model folder or a Hub id (default: `MODEL_ID`, else the embedded default model).
        host, port: where to listen (`port=None`: gradio's default, `GRADIO_SERVER_PORT` or 7860 and up).
        device, dtype: see `pick_device_and_dtype` (default: `DEVICE` / `DTYPE`, else automatic).
        settings: the initial settings; `settings.min_new_tokens` applies to every answer (the page does not show it).
        concurrency_limit: answers generated at the same time (the page and the API share it).
        max_queue_size: visitors waiting at most; more are turned away with "queue full".
        max_file_size: the upload limit ("16mb", or bytes).
        max_history_turns: earlier question/answer pairs the model sees.
        prevent_thread_lock: return once the server runs (it serves from a background thread); call
            `demo.close()` to stop it.
        quiet: do not print the address.
        launch_kwargs: passed to `gr.Blocks.launch`.

    Returns:
        The running `gr.Blocks` (its `responder` attribute is the `inference.Responder`).
    """
    model, processor, name = load_space_model(model_id, device=device, dtype=dtype)
    # Loading ran torch kernels in this thread; answers are generated in other threads, which run at full speed
    # only once this thread's OpenMP workers are gone (see modeling_llama_omni's release_openmp_threads).
    release_openmp_threads()
    demo = build_demo(
        Responder(model, processor), model_name=name, settings=settings, concurrency_limit=concurrency_limit,
        max_history_turns=max_history_turns,
    )
    demo.queue(default_concurrency_limit=concurrency_limit, max_size=max_queue_size)
    demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=max_file_size,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        show_error=False,
        allowed_paths=[str(EXAMPLES_DIR)],
        css="#ttfa {min-height: 1.5em}",
        **launch_kwargs,
    )
    return demo


def main(argv: Sequence[str] | None = None) -> None:
    """`python space/app.py [--host H] [--port N] [--model-id ID] ...`"""
    parser = argparse.ArgumentParser(description="The LLaMA-Omni Space (a Gradio app).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--model-id", default=None, help="a model folder or Hub id (default: MODEL_ID, else embedded)")
    parser.add_argument("--device", default=None, help="e.g. cuda, cuda:1, cpu (default: automatic)")
    parser.add_argument("--dtype", default=None, help="bf16, fp16 or fp32 (default: automatic)")
    parser.add_argument("--concurrency-limit", type=int, default=DEFAULT_CONCURRENCY_LIMIT)
    parser.add_argument("--max-queue-size", type=int, default=DEFAULT_MAX_QUEUE_SIZE)
    parser.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE)
    parser.add_argument("--chunk-size", type=int, default=GenerationSettings.chunk_size, help="Omega (units)")
    parser.add_argument("--max-new-tokens", type=int, default=GenerationSettings.max_new_tokens)
    parser.add_argument("--min-new-tokens", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    launch(
        args.model_id,
        host=args.host,
        port=args.port,
        device=args.device,
        dtype=args.dtype,
        settings=GenerationSettings(
            chunk_size=args.chunk_size, max_new_tokens=args.max_new_tokens, min_new_tokens=args.min_new_tokens
        ),
        concurrency_limit=args.concurrency_limit,
        max_queue_size=args.max_queue_size,
        max_file_size=args.max_file_size,
    )


if __name__ == "__main__":
    main()
