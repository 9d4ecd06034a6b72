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
import sys
from pathlib import Path
from typing import Any

from .runtime import answer, load_model, write_wav


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
    parser.add_argument("--quantization", choices=["8bit", "4bit"], default=None,
                        help="load --model quantised with bitsandbytes (CUDA GPU only)")
    args = parser.parse_args(argv)
    if args.chunk_size < 1 or args.max_new_tokens < 1 or args.temperature < 0:
        parser.error("--chunk-size and --max-new-tokens must be >= 1 and --temperature >= 0")
    try:
        model, processor = load_model(args.model, args.device, args.dtype, quantization=args.quantization)
    except (FileNotFoundError, ImportError, TypeError, ValueError, RuntimeError) as error:
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
            timeline = answer(model, processor, path, chunk_size=args.chunk_size, on_text=on_text, **generate_kwargs)
        except (ValueError, FileNotFoundError) as error:
            status = 1
            if args.json:
                print(json.dumps({"input": path, "error": str(error)}), flush=True)
            else:
                print(f"\nerror: {error}", file=sys.stderr)
            continue
        wav = out_dir / (Path(path).stem + ".wav")
        write_wav(wav, timeline.audio, timeline.sampling_rate)
        record = {"input": path, "text": timeline.text, "audio": str(wav),
                  "ttfa_s": None if timeline.ttfa_s is None else round(timeline.ttfa_s, 3),
                  "total_s": round(timeline.total_s, 3)}
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            ttfa = "no audio" if record["ttfa_s"] is None else f"{record['ttfa_s']:.2f} s"
            print(f"\n  -> {wav} ({timeline.audio_s:.1f} s of speech; "
                  f"first audio after {ttfa}, done after {record['total_s']:.2f} s)", flush=True)
    return status


__all__ = ["chat_main"]
