# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni chat`: answer spoken questions from the command line, in text and speech, streaming.

    llama-omni chat --audio question.wav                       # the embedded default model; prints the text as it
                                                               # streams, writes answers/question.wav, prints TTFA
    llama-omni chat --audio a.wav b.flac --json --out-dir out  # one JSON object per input, one per line:
                                                               # {"input", "text", "audio", "ttfa_s", "total_s"}
    llama-omni chat --audio q.wav --model path/to/llama-omni-folder --chunk-size 20

The model is loaded once for all inputs. TTFA (time to first audio) runs from the moment the audio file has been
read to the first non-empty audio chunk; `total_s` to the end of the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import wave
from pathlib import Path
from typing import Any, Callable

import numpy as np


def write_wav(path: str | os.PathLike, audio: np.ndarray, sampling_rate: int) -> None:
    """Writes mono float audio in [-1, 1] as 16-bit PCM."""
    pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(os.fspath(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sampling_rate))
        f.writeframes(pcm.tobytes())


def answer(
    model: Any,
    processor: Any,
    audio: Any,
    chunk_size: int = 10,
    on_text: Callable[[str], None] | None = None,
    **generate_kwargs: Any,
) -> dict[str, Any]:
    """
    Answers one spoken question with `model.stream`.

    Args:
        model: a `LlamaOmniForConditionalGeneration` with a vocoder (`load_vocoder()` or a `vocoder/` subfolder).
        processor: its `LlamaOmniProcessor`.
        audio: anything `processor.load_audio` accepts (a file path, an array with `sampling_rate=`, ...).
        chunk_size: Omega, units per vocoded chunk.
        on_text: called with every text delta as it arrives (e.g. to print it).
        generate_kwargs: `generate()` arguments (`max_new_tokens`, `do_sample`, `temperature`, ...).

    Returns:
        `{"text", "audio" (float32 array), "sampling_rate", "ttfa_s" (None if no audio), "total_s"}`.

    Raises:
        ValueError: unreadable, empty, silent, too long or otherwise bad audio (the message says what is accepted).
    """
    start = time.perf_counter()
    inputs = processor(audio=audio, return_tensors="pt").to(model.device)
    if "input_features" in inputs:
        inputs["input_features"] = inputs["input_features"].to(model.dtype)
    vocoder = model.default_vocoder()
    sampling_rate = int(vocoder.config.sampling_rate) if vocoder is not None else 16000
    texts, chunks, ttfa = [], [], None
    for text, chunk in model.stream(processor, chunk_size=chunk_size, **inputs, **generate_kwargs):
        if text:
            texts.append(text)
            if on_text is not None:
                on_text(text)
        if chunk is not None and len(chunk):
            if ttfa is None:
                ttfa = time.perf_counter() - start
            chunks.append(np.asarray(chunk, dtype=np.float32))
    total = time.perf_counter() - start
    waveform = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return {"text": "".join(texts).strip(), "audio": waveform, "sampling_rate": sampling_rate, "ttfa_s": ttfa,
            "total_s": total}


def load_model(model_dir: str | None = None, device: str | None = None, dtype: str | None = None):
    """`(model, processor)`: the embedded default model when `model_dir` is None, else the folder (with its vocoder)."""
    from modeling_llama_omni.embedded import load_default, pick_device_and_dtype

    if model_dir is None:
        return load_default(device=device, dtype=dtype)
    from modeling_llama_omni import LlamaOmniForConditionalGeneration
    from processing import LlamaOmniProcessor

    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model folder not found: {model_dir!r}")
    device_, dtype_ = pick_device_and_dtype(device, dtype)
    model = LlamaOmniForConditionalGeneration.from_pretrained(model_dir, dtype=dtype_).to(device_).eval()
    if model.default_vocoder() is None:
        raise FileNotFoundError(f"{model_dir!r} has no unit vocoder (a 'vocoder/' subfolder): it cannot speak")
    return model, LlamaOmniProcessor.from_pretrained(model_dir)


def chat_main(argv: list[str] | None = None) -> int:
    """Entry point of `llama-omni chat`. Returns 0, 1 if some input failed, 2 for a bad command line or model."""
    parser = argparse.ArgumentParser(prog="llama-omni chat", description="Answer spoken questions in text and speech.")
    parser.add_argument("--audio", nargs="+", required=True, help="spoken question files (wav, flac, mp3, ...)")
    parser.add_argument("--out-dir", default="answers", help="where the answer wavs go (default: ./answers)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per input instead of text")
    parser.add_argument("--model", default=None, help="a LLaMA-Omni folder (default: the embedded llama-omni-tiny)")
    parser.add_argument("--chunk-size", type=int, default=10, help="Omega: units per vocoded chunk (default 10)")
    parser.add_argument("--max-new-tokens", type=int, default=80)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: by device)")
    args = parser.parse_args(argv)
    if args.chunk_size < 1 or args.max_new_tokens < 1 or args.temperature < 0:
        parser.error("--chunk-size and --max-new-tokens must be >= 1 and --temperature >= 0")
    try:
        model, processor = load_model(args.model, args.device, args.dtype)
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    generate_kwargs: dict[str, Any] = {"max_new_tokens": args.max_new_tokens}
    if args.temperature > 0:
        generate_kwargs.update(do_sample=True, temperature=args.temperature)
    else:
        generate_kwargs.update(do_sample=False)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for path in args.audio:
        on_text = None if args.json else (lambda t: print(t, end="", flush=True))
        if not args.json:
            print(f"{path}: ", end="", flush=True)
        try:
            result = answer(model, processor, path, chunk_size=args.chunk_size, on_text=on_text, **generate_kwargs)
        except (ValueError, FileNotFoundError) as error:
            status = 1
            if args.json:
                print(json.dumps({"input": path, "error": str(error)}), flush=True)
            else:
                print(f"\nerror: {error}", file=sys.stderr)
            continue
        wav = out_dir / (Path(path).stem + ".wav")
        write_wav(wav, result["audio"], result["sampling_rate"])
        record = {"input": path, "text": result["text"], "audio": str(wav),
                  "ttfa_s": None if result["ttfa_s"] is None else round(result["ttfa_s"], 3),
                  "total_s": round(result["total_s"], 3)}
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            ttfa = "no audio" if record["ttfa_s"] is None else f"{record['ttfa_s']:.2f} s"
            print(f"\n  -> {wav} ({len(result['audio']) / result['sampling_rate']:.1f} s of speech; "
                  f"first audio after {ttfa}, done after {record['total_s']:.2f} s)", flush=True)
    return status


__all__ = ["answer", "chat_main", "load_model", "write_wav"]
