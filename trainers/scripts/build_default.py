# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Builds the embedded default model "llama-omni-tiny" end to end, on the CPU, offline: `llama-omni build-default`.

Steps (each one resumable and skipped when its output is complete; `--steps` picks some):

1. `data`: the speech-instruction set (processing/instructs2s/recipes/instructs2s_embedded.yaml): every seed
   instruction, SmolLM2's answers to the written questions, Piper "joe" response speech, units (Whisper-base layer 4
   + k-means).
2. `voices`: each training instruction spoken by more of the training voices (the builder draws one voice per
   example; the extra copies share the response, its speech and its units). Flite "awb" is never used: it is the
   held-out voice of the evaluation (benchmarks/tiny_quality.py).
3. `vocoder`: the latent front-end unit vocoder in front of joe's frozen VITS decoder, trained on joe speaking the
   training responses, with the data's own unit extractor (trainers/recipes/embedded/vocoder.yaml).
4. `init`: the untrained model: Whisper-base encoder + SmolLM2-135M-Instruct + fresh adaptor and speech decoder.
5. `warmup`: the adaptor learns to spell the spoken question in the LLM's token embeddings (a CTC loss on cosine
   similarities, trainers/stages/adaptor_warmup.py): a dense target ~50x cheaper per example than stage 1's.
6. `stage1`: the adaptor learns to make the frozen LLM answer the spoken question as it answers the written one.
7. `stage2`: the CTC speech decoder learns the response units from the LLM's hidden states.
8. `export`: the trained parts (adaptor, speech decoder, vocoder front-end) and a manifest into
   offline_assets/llama_omni_tiny/, which `offline_assets.embedded.assemble_default()` reads.

    llama-omni build-default                   # all steps but `voices` (about 2 hours on 2 CPU cores)
    llama-omni build-default --steps stage2,export
    llama-omni build-default --steps data,voices,vocoder,init,warmup,stage1,stage2,export --stage1-minutes 180
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "trainers" / "recipes" / "embedded"
DATA_RECIPE = ROOT / "processing" / "instructs2s" / "recipes" / "instructs2s_embedded.yaml"
STEPS = ("data", "voices", "vocoder", "init", "warmup", "stage1", "stage2", "export")
# `voices` is optional: with a CPU budget of ~40 minutes, stage 1 sees about one epoch of the base set anyway.
DEFAULT_STEPS = ("data", "vocoder", "init", "warmup", "stage1", "stage2", "export")
DONE = "DONE.json"
# one encoder-output cache for the warm-up, stage 1 and stage 2 (the encoder is frozen and the same in all three)
ENCODER_CACHE = "encoder_cache"
# The voices of the training instructions; flite:awb is held out for the evaluation.
TRAIN_VOICES = ("flite:kal16", "flite:rms", "flite:slt", "espeak:en-us", "piper:joe")
HELDOUT_VOICE = "flite:awb"
VOICE_OPTIONS = {"espeak:en-us": {"speed": 140}}


def embedded_system_prompt(max_words: int = 40) -> str:
    """The system prompt of llama-omni-tiny: the data builder's respond prompt (what SmolLM2 answered the written
    training questions with) at `max_words` words; the export writes it into the manifest."""
    from processing.instructs2s.writers import RESPOND_SYSTEM_PROMPT

    return RESPOND_SYSTEM_PROMPT.format(max_words=max_words)


def _done(folder: Path) -> dict[str, Any] | None:
    path = folder / DONE
    return json.loads(path.read_text()) if path.is_file() else None


def _mark_done(folder: Path, info: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DONE).write_text(json.dumps(info, indent=2) + "\n")


def _log(message: str) -> None:
    print(f"[build-default {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ----------------------------------------------------------------------------------------------------------------------
# steps
# ----------------------------------------------------------------------------------------------------------------------


def step_data(work: Path) -> None:
    """The InstructS2S build (resumes a killed build)."""
    from processing.instructs2s import BuildConfig, build_dataset

    config = BuildConfig.from_yaml(DATA_RECIPE, output_dir=str(work / "data"))
    result = build_dataset(config, progress=True)
    _log(f"data: {result.report['counts']}")


def step_voices(work: Path, copies: int = 3, seed: int = 0) -> None:
    """Adds `copies - 1` more spoken versions of every training instruction (other training voices)."""
    import datasets
    import numpy as np
    from tqdm.auto import tqdm

    from processing.instructs2s import SAMPLING_RATE, example_seed, speak, validate_audio
    from offline_assets.tts import get_voice

    target = work / "data_voices"
    if _done(target):
        return
    data = datasets.load_from_disk(str(work / "data"))
    train = data["train"]
    voices = {name: get_voice(name, **VOICE_OPTIONS.get(name, {})) for name in TRAIN_VOICES}
    rows: dict[str, list] = {k: [] for k in train.column_names}
    rejected = 0
    source = train.select_columns([c for c in train.column_names if c != "speech_instruction"])
    for row in tqdm(source, total=len(source), desc="extra instruction voices"):
        rng = np.random.default_rng(example_seed(seed, row["id"], "extra-voices") % (2**32))
        others = [v for v in TRAIN_VOICES if v != row["instruction_voice"]]
        for name in rng.permutation(others)[: copies - 1]:
            name = str(name)
            audio = np.asarray(speak(voices[name], row["instruction"],
                                      example_seed(seed, row["id"], name) % (2**62)), dtype=np.float32)
            if validate_audio(audio, SAMPLING_RATE, max_seconds=30.0) is not None:
                rejected += 1
                continue
            for key in rows:
                if key == "speech_instruction":
                    rows[key].append({"array": audio, "sampling_rate": SAMPLING_RATE})
                elif key == "id":
                    rows[key].append(f"{row['id']}@{name}")
                elif key == "instruction_voice":
                    rows[key].append(name)
                else:
                    rows[key].append(row[key])
    extra = datasets.Dataset.from_dict(rows, features=train.features)
    combined = datasets.DatasetDict({"train": datasets.concatenate_datasets([train, extra]).shuffle(seed=seed),
                                     **{k: v for k, v in data.items() if k != "train"}})
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    combined.save_to_disk(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    _mark_done(target, {"train": len(combined["train"]), "extra": len(extra), "rejected": rejected,
                        "voices": TRAIN_VOICES, "heldout_voice": HELDOUT_VOICE})
    _log(f"voices: {len(train)} -> {len(combined['train'])} training examples ({rejected} rejected clips)")


def step_vocoder(work: Path, minutes: float | None = None) -> None:
    """Trains the latent front-end vocoder on joe speaking the training responses, with the data's units
    (`minutes`: wall-time budget, default the recipe's)."""
    import datasets

    from .train import parse_vocoder_args, train_vocoder

    target = work / "vocoder"
    if _done(target):
        return
    texts = work / "vocoder_texts.jsonl"
    train = datasets.load_from_disk(str(work / "data"))["train"]
    with open(texts, "w", encoding="utf-8") as f:
        for text in train["response"]:
            f.write(json.dumps({"text": text}) + "\n")
    config = parse_vocoder_args(
        ["--config", str(RECIPES / "vocoder.yaml")],
        overrides={"output_dir": str(target), "capture_texts_path": str(texts),
                   "unit_extractor_path": str(work / "data" / "unit_extractor"),
                   **({"max_time_minutes": minutes} if minutes else {})},
    )
    metrics = train_vocoder(config)
    _mark_done(target, {"metrics": metrics})


def step_init(work: Path) -> None:
    """The untrained model folder (pretrained encoder and LLM, fresh adaptor and speech decoder)."""
    from offline_assets.embedded import base_model

    target = work / "init"
    if _done(target):
        return
    model, processor = base_model(system_prompt=embedded_system_prompt())
    model.save_pretrained(target)
    processor.save_pretrained(target)
    _mark_done(target, {"parameters": sum(p.numel() for p in model.parameters())})


def step_warmup(work: Path, minutes: float) -> None:
    """The CTC warm-up of the adaptor (trainers/stages/adaptor_warmup.py) on the training split, from `init`."""
    import datasets

    from ..stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor

    target = work / "warmup"
    if _done(target):
        return
    data = datasets.load_from_disk(str(work / "data"))
    config = AdaptorWarmupConfig(output_dir=str(target), encoder_cache_dir=str(work / ENCODER_CACHE),
                                 max_minutes=minutes)
    summary = warmup_adaptor(str(work / "init"), data, config)
    _mark_done(target, {k: v for k, v in summary.items() if k not in ("config", "log_history")})
    _log(f"warmup: CTC loss {summary['first_ctc_loss']:.2f} -> {summary['final_ctc_loss']:.2f}, greedy CTC WER "
         f"{summary['greedy_ctc_wer_before']} -> {summary['greedy_ctc_wer_after']}")


class TimeLimitCallback(TrainerCallback):
    """Stops training after `minutes` of wall time, counted from the callback's creation (the checkpoint and the
    final save still happen)."""

    def __init__(self, minutes: float):
        self.deadline = time.monotonic() + minutes * 60.0

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() > self.deadline:
            control.should_training_stop = True
        return control


def _random_subset(work: Path, size: int, seed: int = 0) -> Path:
    """`work/data_subset_<size>`: `size` training examples of `work/data` drawn at random (the set is in seed-file
    order, grouped by topic), written once."""
    import datasets

    target = work / f"data_subset_{size}"
    if _done(target):
        return target
    train = datasets.load_from_disk(str(work / "data"))["train"]
    subset = train.shuffle(seed=seed).select(range(min(size, len(train)))).flatten_indices()
    datasets.DatasetDict({"train": subset}).save_to_disk(str(target))
    _mark_done(target, {"examples": len(subset), "of": len(train), "seed": seed})
    return target


def _train_stage(stage: str, work: Path, model_dir: Path, minutes: float, extra: list[str],
                 data: Path | None = None) -> None:
    from transformers.trainer_utils import get_last_checkpoint

    from .train import build_trainer, parse_train_args, train_and_save

    target = work / stage
    if _done(target):
        return
    # stage 1 trains on the extra-voices set when the (optional) `voices` step made it
    if data is None:
        data = work / "data_voices" if stage == "stage1" and _done(work / "data_voices") else work / "data"
    argv = ["--config", str(RECIPES / f"{stage}.yaml"), "--model_name_or_path", str(model_dir),
            "--dataset_path", str(data), "--output_dir", str(target),
            "--encoder_cache_dir", str(work / ENCODER_CACHE), *extra]
    if target.is_dir() and get_last_checkpoint(str(target)):
        argv += ["--resume_from_checkpoint", "last"]
    model_args, data_args, config = parse_train_args(stage, argv)
    trainer = build_trainer(stage, model_args, data_args, config, callbacks=[TimeLimitCallback(minutes)])
    start = time.time()
    metrics = train_and_save(trainer)
    _mark_done(target, {"metrics": metrics, "minutes": round((time.time() - start) / 60, 1),
                        "log_history": trainer.state.log_history})


def step_export(work: Path, weights_dir: Path | None = None) -> Path:
    """The trained parts + manifest into the package (offline_assets/llama_omni_tiny/)."""
    from modeling_llama_omni import LlamaOmniForConditionalGeneration, UnitVocoder
    from offline_assets.embedded import DEFAULT_ARCHITECTURE, write_weights

    model = LlamaOmniForConditionalGeneration.from_pretrained(str(work / "stage2"))
    vocoder = UnitVocoder.from_pretrained(str(work / "vocoder"))
    training = {
        "command": "llama-omni build-default",
        "data": (_done(work / "data_voices") or {}),
        "warmup": (_done(work / "warmup") or {}),
        "stage1": {k: v for k, v in (_done(work / "stage1") or {}).items() if k != "log_history"},
        "stage2": {k: v for k, v in (_done(work / "stage2") or {}).items() if k != "log_history"},
        "vocoder": (_done(work / "vocoder") or {}),
    }
    settings = {"default_system_prompt": embedded_system_prompt(), "default_instruction": "<speech>"}
    folder = write_weights(model, settings, vocoder, DEFAULT_ARCHITECTURE, training, weights_dir=weights_dir)
    # the unit extractor the units were made with (for resynthesis checks and for extending the data)
    shutil.rmtree(folder / "unit_extractor", ignore_errors=True)
    shutil.copytree(work / "data" / "unit_extractor", folder / "unit_extractor")
    _log(f"export: wrote {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llama-omni build-default", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="outputs/embedded", help="where the data and checkpoints go")
    parser.add_argument("--steps", default=",".join(DEFAULT_STEPS),
                        help=f"comma-separated subset of {','.join(STEPS)} (default: all but voices)")
    parser.add_argument("--vocoder-minutes", type=float, default=None,
                        help="wall-time budget of the vocoder (default: trainers/recipes/embedded/vocoder.yaml's)")
    parser.add_argument("--warmup-minutes", type=float, default=8.0, help="wall-time budget of the CTC warm-up")
    parser.add_argument("--stage1-minutes", type=float, default=45.0, help="wall-time budget of stage 1")
    parser.add_argument("--stage2-minutes", type=float, default=25.0, help="wall-time budget of stage 2")
    parser.add_argument("--stage2-examples", type=int, default=None,
                        help="training examples of stage 2, drawn at random (default: all; the LLM runs once over "
                             "each to cache its states)")
    parser.add_argument("--weights-dir", default=None, help="export here instead of the package's llama_omni_tiny/")
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        print(f"error: unknown steps {unknown}; expected some of {STEPS}", file=sys.stderr)
        return 2
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    for step in STEPS:
        if step not in steps:
            continue
        _log(f"step {step}")
        start = time.time()
        if step == "data":
            step_data(work)
        elif step == "voices":
            step_voices(work)
        elif step == "vocoder":
            step_vocoder(work, args.vocoder_minutes)
        elif step == "init":
            step_init(work)
        elif step == "warmup":
            step_warmup(work, args.warmup_minutes)
        elif step == "stage1":
            start_from = work / "warmup" if _done(work / "warmup") else work / "init"
            _train_stage("stage1", work, start_from, args.stage1_minutes, [])
        elif step == "stage2":
            subset = _random_subset(work, args.stage2_examples) if args.stage2_examples else work / "data"
            _train_stage("stage2", work, work / "stage1", args.stage2_minutes, [], data=subset)
        elif step == "export":
            step_export(work, Path(args.weights_dir) if args.weights_dir else None)
        _log(f"step {step} done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
