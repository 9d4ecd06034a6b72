"""Streaming speed of LLaMA-Omni on this machine's CPU.

    python benchmarks/streaming.py [--quick] [--out benchmarks/results]
    python benchmarks/streaming.py --only-embedded     # after new embedded weights: refresh part 5 only

Measures, and writes to `benchmarks/results/streaming.json` and `streaming.md`:

1. time to first audio (TTFA) and lagging words (words of text already generated when the first audio chunk is
   ready, as in the paper's Table 2) for chunk sizes Omega in {10, 20, 40, 60, 80, 100, inf}, and TTFA at Omega = 10
   for short and long answers (it must not grow with the answer length);
2. total time of text + speech generation against text-only generation of the same answer;
3. speech-decoder cost per text token at positions 10, 100 and 400, for our incremental decoder (KV cache over
   the upsampled frames) and for the original's full-prefix re-run (implemented here only, as the baseline);
4. the real-time factor of the real-size unit vocoder;
5. with the shipped embedded default llama-omni-tiny (trained weights, when they are installed): text-only
   generate() against model.stream() with units and with audio, on its bundled spoken question; and generation
   in a background thread (what model.stream does) with and without `release_openmp_threads()`.

The model of (1) and (2) has the shapes of the embedded default (SmolLM2-135M-sized Llama LLM, Whisper-base-sized
encoder, 2-layer CTC decoder, real-size CodeHiFiGAN vocoder) with RANDOM weights: timings are real, but what a
random model says (and so how many units each token gives) is not what a trained model says. The decoder of (3)
has hidden size 1024, 2 layers, x25 upsampling.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from modeling_llama_omni import (  # noqa: E402
    AudioStreamer,
    LlamaOmniConfig,
    LlamaOmniForConditionalGeneration,
    UnitVocoder,
    UnitVocoderConfig,
    ctc_greedy_collapse,
    release_openmp_threads,
)
from modeling_llama_omni.modeling_llama_omni import LlamaOmniCTCSpeechDecoder  # noqa: E402
from inference import Timeline, drain, record  # noqa: E402

OMEGAS = [10, 20, 40, 60, 80, 100, math.inf]
# A random LLM decoding greedily repeats one token, so its hidden states (and the units) would not vary: sample.
SAMPLING = {"do_sample": True, "top_k": 0, "temperature": 1.0}


def default_shaped_config() -> LlamaOmniConfig:
    """The embedded default's shapes (SmolLM2-135M + Whisper-base encoder + 2-layer CTC decoder)."""
    return LlamaOmniConfig(
        text_config=dict(
            model_type="llama",
            vocab_size=49153,
            hidden_size=576,
            intermediate_size=1536,
            num_hidden_layers=30,
            num_attention_heads=9,
            num_key_value_heads=3,
            max_position_embeddings=8192,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
            tie_word_embeddings=True,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=2,
        ),
        speech_encoder_config=dict(
            model_type="whisper",
            num_mel_bins=80,
            d_model=512,
            encoder_layers=6,
            encoder_attention_heads=8,
            encoder_ffn_dim=2048,
            decoder_layers=6,
            decoder_attention_heads=8,
            decoder_ffn_dim=2048,
            vocab_size=51865,
        ),
        speech_decoder_config=dict(
            hidden_size=576,
            intermediate_size=1536,
            num_hidden_layers=2,
            num_attention_heads=9,
            num_key_value_heads=9,
            max_position_embeddings=65536,
            rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
        ),
        speech_token_id=49152,
        speech_adaptor_hidden_size=1024,
        unit_vocab_size=1000,
        ctc_upsample_factor=25,
    )


@torch.no_grad()
def emulate_trained_unit_rate(model, gain: float = 3.0, seed: int = 0) -> None:
    """
    A randomly initialised CTC decoder (std 0.02) predicts nearly the same class on every frame, so it gives about
    one unit per text token and the first audio chunk would only come at the end. A trained decoder emits a new
    unit every few frames. To time the streaming path under a realistic unit rate, the decoder's linear layers are
    re-drawn with std `gain / sqrt(fan_in)`, which makes its output depend on the frame position; the measured rate
    (units per text token) is reported with the results. It stays below a trained decoder's (a spoken text token
    lasts ~0.25 s, ~12 frames, of which a trained decoder keeps several units), so the TTFA measured here is
    pessimistic: more text tokens are needed to fill a chunk of Omega units.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.speech_decoder.modules():
        if isinstance(module, torch.nn.Linear):
            module.weight.normal_(0.0, gain / module.in_features**0.5, generator=generator)


class _WordCounter:
    """Decodes token ids into pseudo-words (the random model has no tokenizer): one word per 1.3 tokens."""

    def decode(self, ids, **kwargs) -> str:
        return " ".join("w" for _ in range(int(len(ids) / 1.3)))


def measure_ttfa(model, vocoder, inputs, omega, max_new_tokens: int) -> dict:
    """Time from the call to the first non-empty audio chunk, and words generated by then."""
    streamer = AudioStreamer(model, _WordCounter(), vocoder=vocoder, chunk_size=omega if omega != math.inf else None)
    torch.manual_seed(0)
    start = time.perf_counter()
    lagging_tokens = None
    import threading

    thread = threading.Thread(
        target=model.generate,
        kwargs=dict(streamer=streamer, max_new_tokens=max_new_tokens, eos_token_id=None, **SAMPLING, **inputs),
    )
    release_openmp_threads()  # as model.stream does
    thread.start()
    timeline = Timeline(sampling_rate=int(vocoder.config.sampling_rate), start=start)
    for event in record(streamer, timeline):
        if lagging_tokens is None and event.has_audio:
            lagging_tokens = len(streamer.token_ids)
    ttfa, total = timeline.ttfa_s, timeline.total_s
    thread.join()
    return {
        "omega": "inf" if omega == math.inf else omega,
        "ttfa_s": ttfa,
        "lagging_words": None if lagging_tokens is None else round(lagging_tokens / 1.3, 1),
        "lagging_tokens": lagging_tokens,
        "units": len(streamer.units),
        "answer_tokens": len(streamer.token_ids),
        "total_s": total,
    }


def median_times(runs: dict, repeats: int) -> dict[str, float]:
    """`{name: median wall seconds of fn() over repeats runs, after one warm-up run}` for each `name: fn`."""
    times = {}
    for name, fn in runs.items():
        fn()  # warm-up
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        times[name] = statistics.median(samples)
    return times


def measure_total_time(model, vocoder, inputs, max_new_tokens: int, repeats: int) -> dict:
    """Text-only generate() vs streaming text + units, vs streaming text + units + audio."""

    def text_only():
        torch.manual_seed(0)
        model.generate(**inputs, max_new_tokens=max_new_tokens, eos_token_id=None, **SAMPLING)

    def with_units():
        torch.manual_seed(0)
        drain(model.stream(_WordCounter(), vocoder=None, max_new_tokens=max_new_tokens, eos_token_id=None,
                           **SAMPLING, **inputs), Timeline(sampling_rate=None))

    def with_audio():
        torch.manual_seed(0)
        drain(model.stream(_WordCounter(), vocoder=vocoder, chunk_size=10, max_new_tokens=max_new_tokens,
                           eos_token_id=None, **SAMPLING, **inputs), Timeline(int(vocoder.config.sampling_rate)))

    times = median_times({"text_only_s": text_only, "text_and_units_s": with_units, "text_units_audio_s": with_audio},
                         repeats)
    times["ratio_text_and_units"] = times["text_and_units_s"] / times["text_only_s"]
    times["ratio_text_units_audio"] = times["text_units_audio_s"] / times["text_only_s"]
    times["answer_tokens"] = max_new_tokens
    return times


def measure_decoder_cost(positions: list[int], repeats: int, full_prefix_repeats: int) -> list[dict]:
    """Seconds per text token of the speech decoder (hidden 1024, 2 layers, x25) at each position."""
    config = LlamaOmniConfig(
        text_config=dict(model_type="llama", vocab_size=8, hidden_size=1024, intermediate_size=2048,
                         num_hidden_layers=1, num_attention_heads=16, num_key_value_heads=16),
        speech_encoder_config=dict(model_type="whisper", d_model=64, encoder_layers=1, encoder_attention_heads=1,
                                   encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=1,
                                   decoder_ffn_dim=64, vocab_size=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                   decoder_start_token_id=1, num_mel_bins=80),
        speech_decoder_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=2,
                                   num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=65536,
                                   rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        speech_token_id=7,
        unit_vocab_size=1000,
        ctc_upsample_factor=25,
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    decoder = LlamaOmniCTCSpeechDecoder(config).eval()
    from modeling_llama_omni import CTCUnitStream

    results = []
    hidden = torch.randn(1, max(positions) + 1, 1024)
    with torch.inference_mode():
        for position in positions:
            # ours: the cache holds the first `position - 1` tokens' frames; time the step of token `position`
            stream = CTCUnitStream(decoder)
            stream.step(hidden[:, : position - 1])
            prefix_frames = (position - 1) * config.ctc_upsample_factor
            step_times = []
            for _ in range(repeats):
                extra = stream.cache.get_seq_length() - prefix_frames
                if extra:
                    stream.cache.crop(-extra)  # back to the prefix: time the same step again
                start = time.perf_counter()
                stream.step(hidden[:, position - 1 : position])
                step_times.append(time.perf_counter() - start)
            # the original: re-run the decoder over the whole prefix and re-collapse all frames at every token
            full_times = []
            for _ in range(full_prefix_repeats):
                start = time.perf_counter()
                logits = decoder(hidden[:, :position])
                ctc_greedy_collapse(logits.argmax(-1)[0].tolist(), config.unit_vocab_size)
                full_times.append(time.perf_counter() - start)
            ours, theirs = statistics.median(step_times), statistics.median(full_times)
            results.append({
                "position": position,
                "incremental_s_per_token": ours,
                "full_prefix_s_per_token": theirs,
                "speedup": theirs / ours,
            })
            print(f"  position {position}: incremental {ours * 1e3:.1f} ms, full prefix {theirs * 1e3:.1f} ms, "
                  f"x{theirs / ours:.1f}", flush=True)
    return results


def measure_vocoder_rtf(vocoder, seconds_list: list[float], repeats: int) -> list[dict]:
    results = []
    frames_per_second = vocoder.config.sampling_rate / vocoder.config.hop_length
    with torch.inference_mode():
        for seconds in seconds_list:
            units = torch.randint(0, vocoder.config.unit_vocab_size, (1, int(seconds * frames_per_second)))
            vocoder(units, dur_prediction=False)  # warm-up
            runs = []
            for _ in range(repeats):
                start = time.perf_counter()
                out = vocoder(units, dur_prediction=False)
                runs.append(time.perf_counter() - start)
            audio_s = out.waveform.shape[-1] / vocoder.config.sampling_rate
            results.append({"audio_s": audio_s, "compute_s": statistics.median(runs),
                            "rtf": statistics.median(runs) / audio_s})
    return results


def measure_embedded(max_new_tokens: int, repeats: int) -> dict | None:
    """The shipped llama-omni-tiny (None when its weights are not installed): text only vs streaming, greedy, a fixed
    answer length; and text-only generation in the main thread, in a thread, and in a thread after
    `release_openmp_threads()` in the caller (the OpenMP pool effect)."""
    import threading

    from modeling_llama_omni import release_openmp_threads, stream_generate
    from offline_assets import embedded

    try:
        model, processor = embedded.load_default(device="cpu", dtype="float32")
    except embedded.EmbeddedModelError as error:
        print(f"skipping the embedded model: {error}", flush=True)
        return None
    inputs = processor(audio=str(embedded.demo_question()), return_tensors="pt")
    kwargs = dict(max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, do_sample=False, **inputs)
    vocoder = model.default_vocoder()

    def in_thread(release: bool):
        def run():
            thread = threading.Thread(target=model.generate, kwargs=kwargs)
            if release:
                release_openmp_threads()
            else:
                torch.randn(256, 256) @ torch.randn(256, 256)  # what the caller's own torch work leaves: a pool
            thread.start()
            thread.join()
        return run

    rate = int(vocoder.config.sampling_rate)
    runs = {
        "text_only_s": lambda: model.generate(**kwargs),
        "text_and_units_s": lambda: drain(stream_generate(model, processor, vocoder=None, **kwargs),
                                          Timeline(sampling_rate=None)),
        "text_units_audio_s": lambda: drain(stream_generate(model, processor, vocoder=vocoder, chunk_size=10,
                                                            **kwargs), Timeline(sampling_rate=rate)),
        "thread_text_only_s": in_thread(release=False),
        "thread_text_only_released_s": in_thread(release=True),
    }
    times = median_times(runs, repeats)
    times["ratio_text_and_units"] = times["text_and_units_s"] / times["text_only_s"]
    times["ratio_text_units_audio"] = times["text_units_audio_s"] / times["text_only_s"]
    times["ratio_thread"] = times["thread_text_only_s"] / times["text_only_s"]
    times["ratio_thread_released"] = times["thread_text_only_released_s"] / times["text_only_s"]
    times["answer_tokens"] = max_new_tokens
    return times


def to_markdown(report: dict) -> str:
    lines = ["# Streaming benchmark", "", f"Machine: {report['machine']}", "", report["model_note"], ""]
    rates = [row["units"] / row["answer_tokens"] for row in report["ttfa"] if row["answer_tokens"]]
    lines += [f"Units per text token (this model): {statistics.mean(rates):.1f}", ""]
    lines += ["## Time to first audio (TTFA) and lagging words", "",
              "| Omega | TTFA (s) | lagging words | units | answer tokens |", "|---|---|---|---|---|"]
    for row in report["ttfa"]:
        ttfa = "-" if row["ttfa_s"] is None else f"{row['ttfa_s']:.3f}"
        lines.append(f"| {row['omega']} | {ttfa} | {row['lagging_words']} | {row['units']} | {row['answer_tokens']} |")
    lines += ["", "TTFA at Omega = 10 against answer length:", "", "| answer tokens | TTFA (s) |", "|---|---|"]
    for row in report["ttfa_vs_length"]:
        lines.append(f"| {row['answer_tokens']} | {row['ttfa_s']:.3f} |")
    t = report["total_time"]
    lines += ["", "## Total time, text + speech vs text only", "",
              f"{t['answer_tokens']} answer tokens: text only {t['text_only_s']:.2f} s; text + units "
              f"{t['text_and_units_s']:.2f} s (x{t['ratio_text_and_units']:.2f}); text + units + audio (Omega = 10) "
              f"{t['text_units_audio_s']:.2f} s (x{t['ratio_text_units_audio']:.2f}).", ""]
    lines += ["## Speech decoder cost per text token (hidden 1024, 2 layers, x25)", "",
              "| position | incremental (ms) | full-prefix re-run (ms) | speedup |", "|---|---|---|---|"]
    for row in report["decoder_cost"]:
        lines.append(f"| {row['position']} | {row['incremental_s_per_token'] * 1e3:.1f} | "
                     f"{row['full_prefix_s_per_token'] * 1e3:.1f} | x{row['speedup']:.1f} |")
    lines += ["", f"Real-size vocoder ({report['vocoder_parameters'] / 1e6:.1f} M parameters) real-time factor:", "",
              "| audio (s) | compute (s) | RTF |", "|---|---|---|"]
    for row in report["vocoder_rtf"]:
        lines.append(f"| {row['audio_s']:.1f} | {row['compute_s']:.3f} | {row['rtf']:.3f} |")
    e = report.get("embedded")
    if e:
        lines += ["", "## The shipped llama-omni-tiny: total time, text + speech vs text only", "",
                  f"Its bundled spoken question, greedy, {e['answer_tokens']} answer tokens: text only "
                  f"{e['text_only_s']:.2f} s; text + units {e['text_and_units_s']:.2f} s "
                  f"(x{e['ratio_text_and_units']:.2f}); text + units + audio (Omega = 10) "
                  f"{e['text_units_audio_s']:.2f} s (x{e['ratio_text_units_audio']:.2f}).", "",
                  "Text-only generation in a background thread, as model.stream runs it, after the caller's thread "
                  f"ran torch kernels: {e['thread_text_only_s']:.2f} s (x{e['ratio_thread']:.2f} the main thread's); "
                  f"after `release_openmp_threads()` in the caller (what model.stream does): "
                  f"{e['thread_text_only_released_s']:.2f} s (x{e['ratio_thread_released']:.2f})."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats and positions (a smoke run)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only-embedded", action="store_true",
                        help="rerun only the shipped llama-omni-tiny's part (after new weights), keeping the other "
                             "figures of the existing results file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else 3
    suffix = "_quick" if args.quick else ""
    if args.only_embedded:
        path = os.path.join(args.out, f"streaming{suffix}.json")
        if not os.path.isfile(path):
            parser.error(f"--only-embedded updates an existing {path}; run the full benchmark first")
        with open(path) as f:
            report = json.load(f)
        report["embedded"] = measure_embedded(max_new_tokens=40 if args.quick else 100, repeats=repeats)
        return _write(report, args.out, suffix)

    report = {
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}",
        "model_note": "Model for TTFA and total time: the embedded default's shapes (SmolLM2-135M-sized LLM, "
        "Whisper-base-sized encoder, 2-layer CTC decoder, real-size CodeHiFiGAN) with random weights, the decoder "
        "re-drawn to emit units at a trained decoder's rate (see emulate_trained_unit_rate; units per token below); "
        "3 s of input speech; sampling (a random LLM decoding greedily repeats one token); float32 on the CPU.",
    }
    torch.manual_seed(0)
    model = LlamaOmniForConditionalGeneration(default_shaped_config()).eval()
    emulate_trained_unit_rate(model)
    vocoder = UnitVocoder(UnitVocoderConfig()).eval()
    report["vocoder_parameters"] = sum(p.numel() for p in vocoder.parameters())
    features = torch.randn(1, 80, 300)
    n = int(model.model.num_speech_embeddings(torch.tensor(300)))
    prompt = [1] + list(range(10, 40)) + [49152] * n + list(range(40, 50))
    inputs = {"input_ids": torch.tensor([prompt]), "input_features": features}

    print("TTFA per Omega...", flush=True)
    report["ttfa"] = [measure_ttfa(model, vocoder, inputs, omega, max_new_tokens=40 if args.quick else 80)
                      for omega in OMEGAS]
    print("TTFA vs answer length...", flush=True)
    report["ttfa_vs_length"] = [
        {"answer_tokens": length, "ttfa_s": measure_ttfa(model, vocoder, inputs, 10, max_new_tokens=length)["ttfa_s"]}
        for length in ([20, 80] if args.quick else [20, 80, 200])
    ]
    print("total time...", flush=True)
    report["total_time"] = measure_total_time(model, vocoder, inputs, max_new_tokens=40 if args.quick else 100,
                                              repeats=repeats)
    print("speech decoder cost...", flush=True)
    report["decoder_cost"] = measure_decoder_cost([10, 100] if args.quick else [10, 100, 400], repeats=3 * repeats,
                                                  full_prefix_repeats=repeats)
    print("vocoder RTF...", flush=True)
    report["vocoder_rtf"] = measure_vocoder_rtf(vocoder, [2.0, 5.0] if args.quick else [2.0, 5.0, 10.0], repeats)

    print("the shipped embedded model...", flush=True)
    report["embedded"] = measure_embedded(max_new_tokens=40 if args.quick else 100, repeats=repeats)

    return _write(report, args.out, suffix)


def _write(report: dict, out: str, suffix: str) -> dict:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"streaming{suffix}.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    markdown = to_markdown(report)
    with open(os.path.join(out, f"streaming{suffix}.md"), "w") as f:
        f.write(markdown)
    print(markdown)
    return report


if __name__ == "__main__":
    main()
