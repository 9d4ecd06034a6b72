"""Training speed of LLaMA-Omni stage 1 and stage 2 on this machine's CPU, with and without encoder-output caching.

    python benchmarks/training.py [--steps 11] [--threads 1] [--out benchmarks/results]
    python benchmarks/training.py --prepare outputs/tiny      # only write the tiny model + dataset of the tiny recipes

Runs the tiny offline recipes (`trainers/recipes/stage1_tiny.yaml`, `stage2_tiny.yaml`) through the same code as
`llama-omni train` (recipe parsing, dataset loading, trainer) on a synthetic speech-instruction dataset (1-3 s
clips, random units), for two model shapes with random weights:

- `tiny`: the test-sized model of the tiny recipes (2-layer Whisper encoder, d_model 24; 2-layer LLM, hidden 32);
- `base-encoder`: the same LLM behind a Whisper-base-shaped encoder (6 layers, d_model 512, 80 mel bins; the
  encoder of the embedded default model), where the encoder's cost shows.

For each: samples/s of stage 1 (adaptor + LLM) and stage 2 (CTC speech decoder), without and with
`cache_encoder_outputs` (the one-time cost of building the cache is reported apart): batch size / median step time
(data loading included) over the steps after the first, with one torch thread (see --threads). Writes
`benchmarks/results/training.json` and `training.md`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

RESPONSES = [
    "It is sunny and warm today.",
    "The capital of France is Paris.",
    "A spider has eight legs.",
    "Seven days are in a week.",
    "Yes, I would be glad to help you with your homework.",
    "Once upon a time there was a little cat who lived in a small house near the forest.",
    "Drink more water and sleep well every night to stay healthy.",
    "Monday, Tuesday and Wednesday.",
]
SHAPES = {
    "tiny": {},
    "base-encoder": {"d_model": 512, "encoder_layers": 6, "encoder_attention_heads": 8, "encoder_ffn_dim": 2048},
}


def prepare(folder: str, shape: str = "tiny", num_train: int = 24, num_eval: int = 4, seed: int = 0) -> None:
    """Writes `folder/init` (a random model of `shape` + the tiny offline processor) and `folder/data` (a
    `DatasetDict` with `train` and `validation` splits and the data builder's columns)."""
    import datasets

    from tests.tiny_components import make_speech
    from tests.tiny_models import tiny_model_and_processor, tiny_whisper_config

    overrides = {}
    if SHAPES[shape]:
        overrides["speech_encoder_config"] = tiny_whisper_config(**SHAPES[shape])
    model, processor = tiny_model_and_processor(seed=seed, **overrides)
    model.save_pretrained(os.path.join(folder, "init"))
    processor.save_pretrained(os.path.join(folder, "init"))
    rng = np.random.default_rng(seed)
    tokenizer = processor.tokenizer

    def split(n: int, offset: int) -> datasets.Dataset:
        responses = [RESPONSES[(offset + i) % len(RESPONSES)] for i in range(n)]
        units = []
        for response in responses:  # feasible for CTC: at most ~2 units per upsampled frame pair
            frames = (len(tokenizer(response)["input_ids"]) + 1) * model.config.ctc_upsample_factor
            size = int(rng.integers(frames // 4, frames // 2))
            units.append(rng.integers(0, model.config.unit_vocab_size, size=size).tolist())
        seconds = rng.uniform(1.0, 3.0, size=n)
        data = {
            "id": [f"ex{offset + i}" for i in range(n)],
            "source": ["synthetic"] * n,
            "instruction": [f"question {offset + i}" for i in range(n)],
            "speech_instruction": [
                {"array": make_speech(float(s), seed=offset + i), "sampling_rate": 16000} for i, s in enumerate(seconds)
            ],
            "instruction_voice": ["synthetic"] * n,
            "response": responses,
            "speech_response": [{"array": make_speech(1.0, seed=10_000 + offset + i), "sampling_rate": 16000}
                                for i in range(n)],
            "response_units": units,
        }
        out = datasets.Dataset.from_dict(data)
        for column in ("speech_instruction", "speech_response"):
            out = out.cast_column(column, datasets.Audio(sampling_rate=16000))
        return out

    datasets.DatasetDict({"train": split(num_train, 0), "validation": split(num_eval, num_train)}).save_to_disk(
        os.path.join(folder, "data")
    )


class StepTimer(TrainerCallback):
    """Wall-clock time of every optimizer step after the first, data loading included: the time between the ends
    of consecutive steps (the Trainer fetches and collates a step's batches before `on_step_begin`)."""

    def __init__(self):
        self.times: list[float] = []
        self._last: float | None = None

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now


def bench(stage: str, folder: str, model_dir: str, cache: bool, steps: int, batch_size: int) -> dict:
    """Trains `steps` steps of `stage` with the tiny recipe; returns samples/s (batch size / median step time over
    steps 2..N) and the set-up time (which includes building the encoder-output cache, shared by both stages)."""
    from trainers.scripts.train import build_trainer, parse_train_args

    out = os.path.join(folder, f"{stage}-{'cache' if cache else 'nocache'}")
    overrides = [
        "--model_name_or_path", model_dir, "--dataset_path", os.path.join(folder, "data"), "--output_dir", out,
        "--max_steps", str(steps), "--per_device_train_batch_size", str(batch_size), "--eval_split", "",
        "--cache_encoder_outputs", str(cache).lower(), "--logging_steps", str(steps), "--disable_tqdm", "true",
        "--report_to", "none", "--encoder_cache_dir", os.path.join(folder, "encoder_cache"),
    ]
    recipe = os.path.join(ROOT, "trainers", "recipes", f"{stage}_tiny.yaml")
    model_args, data_args, config = parse_train_args(stage, ["--config", recipe, *overrides])
    timer = StepTimer()
    start = time.perf_counter()
    trainer = build_trainer(stage, model_args, data_args, config, callbacks=[timer])
    setup_s = time.perf_counter() - start
    trainer.train()
    measured = timer.times
    median = float(np.median(measured))
    return {
        "stage": stage,
        "cache_encoder_outputs": cache,
        "steps_measured": len(measured),
        "batch_size": batch_size,
        "samples_per_s": batch_size / median,
        "s_per_step_median": median,
        "s_per_step_all": measured,
        "setup_s": setup_s,  # includes building the cache of the train split when it is not built yet
        "loss": [e["loss"] for e in trainer.state.log_history if "loss" in e][-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=11, help="optimizer steps per run (the first is not timed)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of {list(SHAPES)}")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    parser.add_argument("--prepare", metavar="DIR", help="only write DIR/init and DIR/data for the tiny recipes")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: these models' ops are too small for more, and on a "
                             "busy machine OpenMP's spinning threads slow every step down several times)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.prepare:
        prepare(args.prepare)
        print(f"wrote {args.prepare}/init and {args.prepare}/data")
        return 0

    torch.manual_seed(0)
    rows = []
    for shape in args.shapes.split(","):
        folder = tempfile.mkdtemp(prefix=f"bench-training-{shape}-")
        try:
            prepare(folder, shape=shape)
            # Stage 2 starts from a stage-1 folder; a random one is as fast to train as a trained one.
            for stage in ("stage1", "stage2"):
                for cache in (False, True):
                    row = {"shape": shape, **bench(stage, folder, os.path.join(folder, "init"), cache, args.steps,
                                                   args.batch_size)}
                    rows.append(row)
                    print(f"{shape:13s} {stage}  cache={str(cache):5s}  {row['samples_per_s']:6.2f} samples/s  "
                          f"({row['s_per_step_median']:.3f} s/step, setup {row['setup_s']:.1f} s)", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__, "python": platform.python_version()},
        "note": "random-weight models, synthetic 1-3 s clips, fp32 on the CPU; samples/s = batch size / median "
                "step time over the steps after the first; setup_s includes building the encoder-output cache of "
                "the 24-example train split (stage 1 builds it, stage 2 reuses it)",
        "rows": rows,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "training.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    lines = [
        "# Training speed (CPU)",
        "",
        f"`python benchmarks/training.py` on {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s).",
        "Tiny offline recipes, random weights, synthetic 1-3 s clips, batch "
        f"{args.batch_size}, fp32; samples/s = batch / median step time (data loading included) over "
        f"{args.steps - 1} steps after the first.",
        "The encoder-output cache of the 24-example train split is built once (in stage 1's set-up) and reused.",
        "",
        "| model shape | stage | encoder cache | samples/s | median s/step | setup s (incl. cache build) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['stage']} | {'yes' if r['cache_encoder_outputs'] else 'no'} | "
                     f"{r['samples_per_s']:.2f} | {r['s_per_step_median']:.3f} | {r['setup_s']:.1f} |")
    with open(os.path.join(args.out, "training.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
