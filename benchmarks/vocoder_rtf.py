"""Real-time factor of the real-size unit vocoder on this machine's CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/vocoder_rtf.py

The default `UnitVocoderConfig` (the LJSpeech CodeHiFiGAN LLaMA-Omni uses, ~13.5 M parameters) with random weights
(speed does not depend on them; they are scaled to a trained vocoder's range so that no denormal numbers slow the
CPU down), float32, weight norm removed, `torch.inference_mode()`, `torch.set_num_threads(2)`. For 2 s, 5 s and 10 s
of units (50 Hz, durations given: the duration predictor's cost is negligible), RTF = compute time / audio duration,
best of 2-5 round-robin runs after a warm-up run (median also reported). Results go to
`benchmarks/results/vocoder_rtf.json`, with the load average (other processes on the machine slow it down).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.vocoder_streaming import scale_like_trained  # noqa: E402
from modeling_llama_omni.configuration_unit_vocoder import UnitVocoderConfig  # noqa: E402
from modeling_llama_omni.modeling_unit_vocoder import UnitVocoder  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "vocoder_rtf.json")
SECONDS = (2, 5, 10)
BUDGET_SECONDS = 75  # of timed rounds, after the warm-up: the whole script stays under ~2 minutes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: this machine's cores)")
    parser.add_argument("--output", default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    vocoder = scale_like_trained(UnitVocoder(UnitVocoderConfig()).eval())
    vocoder.remove_weight_norm()  # a no-op: the model holds plain weights unless apply_weight_norm() was called
    frame_rate = vocoder.config.sampling_rate // vocoder.config.hop_length
    results = {
        "model": "UnitVocoder(UnitVocoderConfig()) (LJSpeech CodeHiFiGAN architecture), float32, random weights",
        "parameters": sum(p.numel() for p in vocoder.parameters()),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "load_average_before": list(os.getloadavg()),
        "rows": [],
    }
    inputs = {
        seconds: torch.randint(0, vocoder.config.unit_vocab_size, (1, seconds * frame_rate)) for seconds in SECONDS
    }
    times: dict[int, list[float]] = {seconds: [] for seconds in SECONDS}
    budget_start = time.perf_counter()
    with torch.inference_mode():
        for units in inputs.values():  # warm-up: oneDNN builds its kernels for each shape
            vocoder(units, durations=torch.ones_like(units))
        # round-robin over the lengths, best of the rounds: other processes on a shared machine come and go
        while len(times[SECONDS[-1]]) < 2 or (
            len(times[SECONDS[-1]]) < 5 and time.perf_counter() - budget_start < BUDGET_SECONDS
        ):
            for seconds, units in inputs.items():
                start = time.perf_counter()
                vocoder(units, durations=torch.ones_like(units))
                times[seconds].append(time.perf_counter() - start)
    for seconds in SECONDS:
        best = min(times[seconds])
        row = {
            "audio_seconds": seconds,
            "best_seconds": best,
            "median_seconds": sorted(times[seconds])[len(times[seconds]) // 2],
            "rtf": best / seconds,
            "median_rtf": sorted(times[seconds])[len(times[seconds]) // 2] / seconds,
            "runs": len(times[seconds]),
        }
        results["rows"].append(row)
        print(f"{seconds:4.1f} s of audio: best {best:.2f} s  RTF {row['rtf']:.3f} (median {row['median_rtf']:.3f})")
    results["load_average_after"] = list(os.getloadavg())
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    return results


if __name__ == "__main__":
    main()
