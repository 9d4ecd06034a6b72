"""Speed and memory of LLaMA-Omni2's token-to-waveform model (CosyVoice2 flow + HiFT) at the released size, on CPU.

    PYTHONPATH=. .venv/bin/python benchmarks/token2wav.py [--threads 2] [--seconds 10] [--quick]

The released dimensions (`LlamaOmni2Token2WavConfig()`: flow 112.5 M parameters, HiFT 20.8 M) with random weights
(speed does not depend on their values, except that random weights produce denormal floats: they are flushed to
zero unless `--keep-denormals`), float32, `torch.inference_mode()`. Speech tokens are random ids (25 per
second of speech). Reported, each with the load average (other processes slow it down):

- one-shot: flow (encoder + 10 guided Euler steps) and HiFT time for `--seconds` of speech; RTF = compute / audio;
- ODE steps vs RTF: the one-shot RTF with 10, 5 and 3 Euler steps (`config.n_timesteps`; fewer steps are not the
  release's setting and change the sound);
- streamed, the released schedule (`model.stream()`, a chunk every 50 tokens once 3 more are known; each chunk
  re-runs the flow over every token so far, as the release does): each chunk's compute time, the total RTF, and the
  first audio: the number of tokens that must be known, and the compute time of the first chunk (the latency from
  the 53rd token to the first audio);
- streamed with `incremental=True` (each chunk computes only its new frames, with caches): the same figures, and the
  difference from the released schedule's audio;
- streamed incremental with 5 Euler steps, and a profile (encoder / estimator / HiFT) of the one-shot;
- memory: the parameters' size and the process's peak resident memory.

Results go to `benchmarks/results/token2wav.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine  # noqa: E402
from modeling_llama_omni.configuration_token2wav import LlamaOmni2Token2WavConfig  # noqa: E402
from modeling_llama_omni.modeling_token2wav import LlamaOmni2Token2Wav  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "token2wav.json")
TOKENS_PER_SECOND = 25


def build_model(seed: int = 0) -> LlamaOmni2Token2Wav:
    """The released-size model with random weights and a random (normalised) speaker embedding, in eval mode."""
    torch.manual_seed(seed)
    model = LlamaOmni2Token2Wav(LlamaOmni2Token2WavConfig(noise_frames=50 * 120)).eval()
    with torch.no_grad():
        model.speaker_embeddings.normal_()
    return model


def one_shot(model: LlamaOmni2Token2Wav, tokens: torch.LongTensor) -> dict:
    start = time.perf_counter()
    with torch.inference_mode():
        mel = model.tokens_to_mel(tokens)
        flow_s = time.perf_counter() - start
        waveform, _ = model.hift.inference(mel, generator=model.source_generator())
    total = time.perf_counter() - start
    audio_s = waveform.shape[1] / model.config.sampling_rate
    return {"audio_s": round(audio_s, 3), "flow_s": round(flow_s, 3), "hift_s": round(total - flow_s, 3),
            "total_s": round(total, 3), "rtf": round(total / audio_s, 3)}


def streamed(model: LlamaOmni2Token2Wav, tokens: torch.LongTensor, incremental: bool) -> tuple[dict, np.ndarray]:
    """Feeds the tokens one by one, as the speech decoder writes them; times each chunk."""
    stream = model.stream(incremental=incremental)
    chunks, pieces = [], []
    start = time.perf_counter()
    first_audio_tokens = None
    for i, token in enumerate(tokens[0].tolist()):
        t0 = time.perf_counter()
        audio = stream.push([token])
        if audio.size:
            chunks.append({"after_tokens": i + 1, "compute_s": round(time.perf_counter() - t0, 3),
                           "audio_s": round(audio.size / model.config.sampling_rate, 3)})
            pieces.append(audio)
            first_audio_tokens = first_audio_tokens or i + 1
    t0 = time.perf_counter()
    rest = stream.flush()
    chunks.append({"after_tokens": "flush", "compute_s": round(time.perf_counter() - t0, 3),
                   "audio_s": round(rest.size / model.config.sampling_rate, 3)})
    pieces.append(rest)
    total = time.perf_counter() - start
    audio = np.concatenate(pieces)
    audio_s = audio.size / model.config.sampling_rate
    return {
        "audio_s": round(audio_s, 3),
        "total_compute_s": round(total, 3),
        "rtf": round(total / audio_s, 3),
        "first_audio_after_tokens": first_audio_tokens,
        "first_chunk_compute_s": chunks[0]["compute_s"],
        "chunks": chunks,
    }, audio


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: this machine's cores)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the streamed answer (default 10 s)")
    parser.add_argument("--quick", action="store_true", help="4 s answers, no step sweep (a smoke run)")
    parser.add_argument("--keep-denormals", action="store_true",
                        help="do not flush denormal floats to zero (random weights then run ~2x slower)")
    parser.add_argument("--output", default=RESULTS, help="where to write the JSON results")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # Random weights drive some activations (Mish / GELU of large negative inputs) into denormal floats, which x86
    # CPUs compute ~100x slower: flushing them to zero changes no figure that matters here, only the speed.
    torch.set_flush_denormal(not args.keep_denormals)
    seconds = 4.0 if args.quick else args.seconds

    model = build_model()
    config = model.config
    params = {name: sum(p.numel() for p in module.parameters()) for name, module in
              (("flow", model.flow), ("hift", model.hift))}
    tokens = torch.randint(0, config.speech_vocab_size, (1, int(seconds * TOKENS_PER_SECOND)),
                           generator=torch.Generator().manual_seed(1))
    one_shot(model, tokens[:, :25])  # warm-up
    results: dict = {
        "machine": machine(),
        "model": {"parameters": params, "parameter_mb": round(sum(params.values()) * 4 / 2**20, 1),
                  "n_timesteps": config.n_timesteps, "token_hop_len": config.token_hop_len},
        "answer_seconds": seconds,
        "flush_denormal": not args.keep_denormals,
    }
    print(f"parameters: flow {params['flow'] / 1e6:.1f} M, HiFT {params['hift'] / 1e6:.1f} M; "
          f"{args.threads} threads, load {os.getloadavg()[0]:.2f}")

    results["one_shot"] = one_shot(model, tokens)
    print(f"one-shot {seconds:.0f} s: {results['one_shot']}")

    if not args.quick:
        sweep = {}
        for steps in (10, 5, 3):
            model.config.n_timesteps = steps
            sweep[steps] = one_shot(model, tokens[:, : 5 * TOKENS_PER_SECOND])
            print(f"  {steps:2d} ODE steps, 5 s: RTF {sweep[steps]['rtf']} (flow {sweep[steps]['flow_s']} s)")
        model.config.n_timesteps = 10
        results["ode_steps_vs_rtf_5s"] = sweep

    released, released_audio = streamed(model, tokens, incremental=False)
    results["streamed_released_schedule"] = released
    print(f"streamed (released schedule): RTF {released['rtf']}, first audio after "
          f"{released['first_audio_after_tokens']} tokens + {released['first_chunk_compute_s']} s; chunks "
          f"{[c['compute_s'] for c in released['chunks']]}")
    try:
        fast, fast_audio = streamed(model, tokens, incremental=True)
    except TypeError:  # a build without the incremental path
        fast = None
    if fast is not None:
        fast["max_abs_diff_vs_released_schedule"] = float(np.abs(fast_audio - released_audio).max())
        results["streamed_incremental"] = fast
        print(f"streamed (incremental): RTF {fast['rtf']}, first audio after {fast['first_audio_after_tokens']} "
              f"tokens + {fast['first_chunk_compute_s']} s; chunks {[c['compute_s'] for c in fast['chunks']]}; "
              f"max |diff| vs released schedule {fast['max_abs_diff_vs_released_schedule']:.2e}")
        if not args.quick:  # the trade-off that reaches real time on this CPU (not the release's setting)
            model.config.n_timesteps = 5
            five, _ = streamed(model, tokens, incremental=True)
            model.config.n_timesteps = 10
            results["streamed_incremental_5_ode_steps"] = five
            print(f"streamed (incremental, 5 ODE steps): RTF {five['rtf']}, first chunk {five['first_chunk_compute_s']} s")
    # where the time goes: the flow's encoder vs its 10 guided estimator steps, and HiFT (one-shot, 5 s)
    with torch.inference_mode():
        part = tokens[:, : 5 * TOKENS_PER_SECOND]
        start = time.perf_counter()
        mu = model.flow.encode(part)
        encoder_s = time.perf_counter() - start
    shot = one_shot(model, part)
    results["profile_one_shot_5s"] = {"encoder_s": round(encoder_s, 3),
                                      "estimator_s": round(shot["flow_s"] - encoder_s, 3), "hift_s": shot["hift_s"]}
    print(f"profile (5 s one-shot): {results['profile_one_shot_5s']}, mel {tuple(mu.shape)}")
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results["machine"]["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    print(f"peak resident memory: {results['peak_rss_mb']} MB")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
