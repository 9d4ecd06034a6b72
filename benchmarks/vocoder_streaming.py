"""How close is the streamed unit vocoder to one-shot vocoding? (chunk size Omega x lookahead frames)

    PYTHONPATH=. .venv/bin/python benchmarks/vocoder_streaming.py [--quick]

Runs the default (real-size, LJSpeech CodeHiFiGAN architecture) `UnitVocoder` with two kinds of weights:
- "random": the model's own initialisation (HiFi-GAN's N(0, 0.01) convolutions): a near-silent output, so only the
  error relative to the signal RMS means anything;
- "trained-like": a proxy for a trained vocoder's scale: convolutions rescaled in forward order so that each one's
  output has unit variance on real inputs (LSUV-style, what training with weight norm converges towards), `conv_post`
  scaled for a speech-like output RMS of ~0.2, and a duration predictor that gives durations of 1-4 frames.

For each Omega (units per push) and lookahead it reports the max abs and RMS difference between the concatenated
streamed audio and one-shot `vocoder(units)`, and a click metric: the largest sample-to-sample jump at chunk
boundaries divided by the largest jump elsewhere (a click would push it above 1). Results go to
`benchmarks/results/vocoder_streaming.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from modeling_llama_omni.configuration_unit_vocoder import UnitVocoderConfig  # noqa: E402
from modeling_llama_omni.modeling_unit_vocoder import UnitVocoder  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "vocoder_streaming.json")


@torch.no_grad()
def scale_like_trained(vocoder: UnitVocoder, seed: int = 0, target_rms: float = 0.2) -> UnitVocoder:
    """
    Rescales `vocoder`'s random weights in place to a trained vocoder's scale (a proxy; see the module docstring):
    unit-variance unit embeddings, every generator convolution rescaled (in forward order, on a random unit sequence)
    so that its output has unit standard deviation, `conv_post` so that the waveform's RMS is about `target_rms`,
    and the duration predictor's output bias spread so that durations are 1-4 frames.
    """
    generator = torch.Generator().manual_seed(seed)
    vocoder.unit_embedding.weight.normal_(0.0, 1.0, generator=generator)
    vocoder.dur_predictor.proj.weight.normal_(0.0, 0.3 / vocoder.config.duration_predictor_hidden_dim**0.5,
                                               generator=generator)
    vocoder.dur_predictor.proj.bias.fill_(1.2)  # exp(1.2) - 1 ~ 2.3 frames per unit on average
    layers = vocoder.generator.weight_normed_convolutions()
    for layer in layers:
        layer.weight.normal_(0.0, 1.0, generator=generator)
        if layer.bias is not None:
            layer.bias.normal_(0.0, 0.05, generator=generator)

    def rescale(module, args, output):  # in one forward pass, each layer sees its already-rescaled inputs
        target = target_rms if module is vocoder.generator.conv_post else 1.0
        scale = target / output.std().clamp_min(1e-8)
        module.weight.mul_(scale)
        if module.bias is not None:
            module.bias.mul_(scale)
        return output * scale

    handles = [layer.register_forward_hook(rescale) for layer in layers]
    frames = torch.randint(0, vocoder.config.unit_vocab_size, (1, 60), generator=generator).repeat_interleave(2, dim=1)
    try:
        vocoder.vocode_frames(frames)
    finally:
        for handle in handles:
            handle.remove()
    return vocoder


@torch.inference_mode()
def streaming_error(
    vocoder: UnitVocoder,
    units: list[int],
    chunk_size: int,
    lookahead_frames: int,
    reference: np.ndarray | None = None,
) -> dict:
    """
    Streams `units` `chunk_size` at a time and compares with one-shot vocoding. Returns the max abs and RMS
    difference, the signal RMS, `boundary_jump_ratio` (largest |x[b] - x[b - 1]| of the streamed audio at chunk
    boundaries b over the largest elsewhere) and `boundary_step` (the largest jump that streaming adds at a boundary:
    |d[b] - d[b - 1]| with d = streamed - one-shot).
    """
    if reference is None:
        reference = vocoder(torch.tensor([units])).waveform[0].numpy()
    stream = vocoder.stream(lookahead_frames=lookahead_frames)
    pieces = [stream.push(units[i : i + chunk_size]) for i in range(0, len(units), chunk_size)]
    pieces.append(stream.flush())
    streamed = np.concatenate(pieces)
    if streamed.shape != reference.shape:
        raise AssertionError(f"streamed {streamed.shape} vs one-shot {reference.shape} samples")
    diff = streamed - reference
    boundaries = np.cumsum([len(p) for p in pieces])[:-1]
    boundaries = boundaries[(boundaries > 0) & (boundaries < len(streamed))]
    jumps = np.abs(np.diff(streamed))  # jumps[i] = |x[i + 1] - x[i]|; a boundary b sits between b - 1 and b
    at_boundary = np.zeros(len(jumps), dtype=bool)
    at_boundary[boundaries - 1] = True
    boundary_jump = float(jumps[at_boundary].max()) if at_boundary.any() else 0.0
    steps = np.abs(np.diff(diff))
    boundary_step = float(steps[at_boundary].max()) if at_boundary.any() else 0.0
    return {
        "max_abs_diff": float(np.abs(diff).max()),
        "rms_diff": float(np.sqrt(np.mean(diff**2))),
        "signal_rms": float(np.sqrt(np.mean(reference**2))),
        "boundary_jump_ratio": boundary_jump / float(jumps[~at_boundary].max()),
        "boundary_step": boundary_step,
        "num_chunks": len(pieces),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer lookaheads and units")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (numerics only: 1 is robust to load)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    num_units = 60 if args.quick else 120
    units = torch.randint(0, 1000, (num_units,), generator=torch.Generator().manual_seed(1)).tolist()
    lookaheads = [0, 4, 8] if args.quick else [0, 2, 4, 6, 8, 10, 12, 21]
    results = {"num_units": num_units, "rows": []}
    for weights in ("random", "trained-like"):
        vocoder = UnitVocoder(UnitVocoderConfig()).eval()
        if weights == "trained-like":
            scale_like_trained(vocoder)
        with torch.inference_mode():
            out = vocoder(torch.tensor([units]))
        reference = out.waveform[0].numpy()
        results[f"{weights}_seconds"] = len(reference) / vocoder.config.sampling_rate
        results["receptive_field_frames"] = list(vocoder.receptive_field_frames())
        for chunk_size in (10, 20, 40):
            for lookahead in lookaheads:
                start = time.perf_counter()
                row = streaming_error(vocoder, units, chunk_size, lookahead, reference)
                row.update(weights=weights, chunk_size=chunk_size, lookahead_frames=lookahead,
                           seconds=time.perf_counter() - start)
                results["rows"].append(row)
                print(
                    f"{weights:12s} Omega={chunk_size:2d} lookahead={lookahead:2d}  "
                    f"max|d|={row['max_abs_diff']:.2e}  rms(d)={row['rms_diff']:.2e}  "
                    f"rms(x)={row['signal_rms']:.2e}  boundary/elsewhere jump={row['boundary_jump_ratio']:.2f}  "
                    f"boundary step={row['boundary_step']:.2e}",
                    flush=True,
                )
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    return results


if __name__ == "__main__":
    main()
