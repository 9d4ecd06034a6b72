"""Train the latent front-end unit vocoder on joe speech on the CPU, then measure resynthesis intelligibility.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/vocoder_training.py [--train-texts 300]
        [--heldout-texts 30] [--minutes 5] [--num-units 500] [--layer 4] [--work-dir DIR]

What it does (the recipe `trainers/recipes/vocoder_latent_tiny.yaml`, with the sizes above):
1. The Piper voice "joe" speaks `--train-texts` seed instructions of split "train"
   (`processing/instructs2s/data/seed_instructions.jsonl`), capturing its VITS decoder latents with the audio.
2. A unit extractor (offline Whisper-base, encoder layer `--layer`, k-means K = `--num-units`) is fitted on that
   speech, and 50 Hz units are extracted from it.
3. The latent front-end vocoder trains for `--minutes` minutes on the CPU (joe's decoder frozen).
4. `--heldout-texts` seed instructions of split "heldout" are spoken by joe; their ground-truth units are extracted
   and resynthesised (a) with the ground-truth durations (the 50 Hz units as frames) and (b) from the deduplicated
   units with the trained duration predictor; (c) a zero-training baseline: each unit frame -> the mean training
   latent of that unit, through the same decoder.
5. Whisper-base (offline, greedy, English) transcribes the original joe audio and each resynthesis; corpus WER
   against the spoken text, after the same normalisation on both sides (the speech normalizer, lower case, letters
   and apostrophes only).

Results go to `benchmarks/results/vocoder_training.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "vocoder_training.json"
RECIPE = ROOT / "trainers" / "recipes" / "vocoder_latent_tiny.yaml"
SEED_FILE = ROOT / "processing" / "data" / "seed_instructions.jsonl"


from benchmarks.common import wer  # noqa: E402  (after the sys.path insert above)


def streaming_error(vocoder, examples, one_shot, chunk_size: int = 10) -> dict:
    """Streamed (`vocoder.stream()`, default lookahead, Omega = `chunk_size` deduplicated units) vs one-shot
    resynthesis from predicted durations: the worst max-abs difference and RMS(difference) / RMS(signal)."""
    import numpy as np

    from trainers.vocoder import run_lengths

    max_abs, ratios = 0.0, []
    for example, reference in zip(examples, one_shot):
        units, _ = run_lengths(example.units)
        stream = vocoder.stream()
        pieces = [stream.push(units[i : i + chunk_size]) for i in range(0, len(units), chunk_size)]
        streamed = np.concatenate(pieces + [stream.flush()])
        difference = streamed - reference
        max_abs = max(max_abs, float(np.abs(difference).max()))
        ratios.append(float(np.sqrt(np.mean(difference**2)) / np.sqrt(np.mean(reference**2))))
    return {"chunk_size": chunk_size, "lookahead_frames": stream.lookahead_frames,
            "left_context_frames": stream.left_context_frames, "max_abs": round(max_abs, 5),
            "rms_ratio_mean": round(float(np.mean(ratios)), 5), "rms_ratio_max": round(float(np.max(ratios)), 5)}


def run(train_texts: int = 300, heldout_texts: int = 30, minutes: float = 5.0, num_units: int = 500, layer: int = 4,
        work_dir: str | None = None, progress: bool = True) -> dict:
    import numpy as np
    import torch

    from offline_assets.whisper import transcribe, whisper_base
    from processing import load_audio
    from offline_assets.tts import PiperVoice
    from trainers.scripts.train import build_vocoder_trainer, parse_vocoder_args
    from trainers.vocoder import capture_latent_examples, mean_latent_per_unit, read_texts, run_lengths

    work_dir = work_dir or tempfile.mkdtemp(prefix="vocoder_training_")
    overrides = dict(
        output_dir=os.path.join(work_dir, "vocoder"),
        capture_texts_path=str(SEED_FILE),
        capture_max_texts=train_texts,
        unit_extractor_path=os.path.join(work_dir, "unit_extractor"),
        unit_extractor_num_units=num_units,
        unit_extractor_layer=layer,
        max_time_minutes=minutes,
        save_steps=None,
        disable_tqdm=not progress,
    )
    config = parse_vocoder_args(["--config", str(RECIPE)], overrides=overrides)
    timings = {}
    start = time.perf_counter()
    trainer = build_vocoder_trainer(config)
    timings["capture_and_units_s"] = round(time.perf_counter() - start, 1)
    train_seconds = sum(len(e.audio) for e in trainer.train_examples) / 22050
    start = time.perf_counter()
    summary = trainer.train()
    timings["train_s"] = round(time.perf_counter() - start, 1)
    trainer.save_model()
    vocoder = trainer.vocoder.eval()
    hop, latent_hop = vocoder.config.hop_length, vocoder.config.latent_hop_length

    from processing.instructs2s.units import UnitExtractor

    extractor = UnitExtractor.from_pretrained(config.unit_extractor_path)
    texts = read_texts(SEED_FILE, "instruction", "heldout", heldout_texts)
    voice = PiperVoice(seed=config.capture_seed)
    start = time.perf_counter()
    heldout = capture_latent_examples(texts, voice, extractor, progress=progress)
    codebook = torch.from_numpy(mean_latent_per_unit(trainer.train_examples, vocoder.config.unit_vocab_size, hop,
                                                     latent_hop))
    originals, resynth_gt, resynth_pred, baseline = [], [], [], []
    with torch.inference_mode():
        for example in heldout:
            units = torch.from_numpy(example.units)[None]
            resynth_gt.append(vocoder.vocode_frames(units)[0].numpy())
            dedup, _ = run_lengths(example.units)
            resynth_pred.append(vocoder(torch.from_numpy(dedup)[None]).waveform[0].numpy())
            # baseline: unit frames -> mean latent per unit, sampled at the latent frame centres
            j = np.arange(example.latent.shape[1])
            frames = np.minimum((latent_hop * j + latent_hop // 2) // hop, len(example.units) - 1)
            latent = codebook[torch.from_numpy(example.units[frames])].T[None]
            baseline.append(vocoder.generator(latent)[0].numpy())
            originals.append(example.audio)
    timings["resynthesis_s"] = round(time.perf_counter() - start, 1)
    streaming = streaming_error(vocoder, heldout[:10], resynth_pred[:10])

    model, processor = whisper_base()

    def to16k(clips):
        return [load_audio(c, sampling_rate=22050, max_seconds=None) for c in clips]

    start = time.perf_counter()
    transcripts = {
        name: transcribe(model, processor, to16k(clips))
        for name, clips in (("original", originals), ("resynthesis_gt_durations", resynth_gt),
                            ("resynthesis_predicted_durations", resynth_pred), ("mean_latent_baseline", baseline))
    }
    timings["asr_s"] = round(time.perf_counter() - start, 1)
    results = {
        "what": "latent front-end unit vocoder (trainers/recipes/vocoder_latent_tiny.yaml) trained on joe speech on "
                "the CPU; Whisper-base WER of held-out joe sentences resynthesised from their ground-truth units",
        "data": {
            "train": f"{len(trainer.train_examples)} seed instructions (split train, the first {train_texts}) spoken "
                     f"by Piper joe: {train_seconds / 60:.1f} min",
            "heldout": f"the first {len(texts)} seed instructions of split heldout spoken by Piper joe: "
                       f"{sum(len(a) for a in originals) / 22050 / 60:.1f} min",
            "units": f"offline Whisper-base encoder layer {layer} + k-means K={num_units} fitted on the training speech",
        },
        "training": {
            "steps": summary["step"],
            "minutes": round(summary["seconds"] / 60, 2),
            "batch_size": config.batch_size,
            "trainable_parameters": sum(p.numel() for p in vocoder.parameters() if p.requires_grad),
            "frozen_decoder_parameters": sum(p.numel() for p in vocoder.generator.parameters()),
            "initial_eval": summary["initial_eval"],
            "final_eval": summary["final_eval"],
        },
        "wer": {name: round(wer(texts, hyps), 4) for name, hyps in transcripts.items()},
        "examples": [{"text": t, **{name: transcripts[name][i] for name in transcripts}}
                     for i, t in enumerate(texts[:5])],
        "streaming_vs_one_shot": streaming,
        "timings": timings,
        "machine": f"{os.cpu_count()} CPU cores (shared), torch {torch.__version__}, {torch.get_num_threads()} threads",
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-texts", type=int, default=300)
    parser.add_argument("--heldout-texts", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--num-units", type=int, default=500)
    parser.add_argument("--layer", type=int, default=4)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    results = run(args.train_texts, args.heldout_texts, args.minutes, args.num_units, args.layer, args.work_dir,
                  progress=not args.no_progress)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(json.dumps({k: results[k] for k in ("wer", "training", "timings")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
