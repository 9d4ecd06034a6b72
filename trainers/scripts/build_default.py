# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Builds the embedded default model "llama-omni-tiny" end to end, on the CPU, offline: `llama-omni build-default`.

Steps (each one resumable and skipped when its output is complete; `--steps` picks some):

1. `data`: the speech-instruction set (processing/instructs2s/recipes/instructs2s_embedded.yaml): every seed
   instruction spoken by the training voices, SmolLM2's answers to the written questions.
2. `voices`: each training instruction spoken by more of the training voices (the builder draws one voice per
   example; the extra copies share the response). Flite "awb" is never used: it is the held-out voice of the
   evaluation (benchmarks/tiny_quality.py).
3. `init`: the untrained model: Whisper-base encoder + SmolLM2-135M-Instruct + fresh adaptor and speech decoder.
4. `warmup`: the adaptor learns to spell the spoken question in the LLM's token embeddings (a CTC loss on cosine
   similarities, trainers/stages/adaptor_warmup.py): a dense target ~50x cheaper per example than stage 1's.
5. `stage1`: the adaptor learns to make the frozen LLM answer the spoken question as it answers the written one.
6. `corpus`: the speech decoder's text corpus (processing/instructs2s/phoneme_corpus.py): SmolLM2's answers to
   thousands of template questions and the seed training questions (never a held-out one), plus the sentences of
   Debian's `fortunes`, each with its Piper joe phoneme ids (espeak-ng). No audio.
7. `states`: the frozen LLM reads each corpus answer after its question (teacher forcing, text mode); the hidden
   states that predicted each answer token and the tokens are cached (trainers/stages/phoneme_decoder.py).
8. `decoder`: the CTC speech decoder learns the answers' phoneme ids from those states and the tokens' embeddings.
9. `export`: the trained parts (adaptor from stage 1, speech decoder) and a manifest into
   offline_assets/llama_omni_tiny/, which `offline_assets.embedded.assemble_default()` reads; the unit vocoder is
   Piper joe's whole VITS voice, read from its pip package (nothing trained).

The speech decoder's steps (corpus, states, decoder) do not depend on the adaptor: the decoder learns from text-mode
states, so it can be rebuilt alone (`--steps init,corpus,states,decoder,export --adaptor-from DIR` keeps the adaptor
of an earlier export).

    llama-omni build-default                   # all steps but `voices`
    llama-omni build-default --steps init,corpus,states,decoder,export --adaptor-from offline_assets/llama_omni_tiny
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
STEPS = ("data", "voices", "init", "warmup", "stage1", "corpus", "states", "decoder", "export")
# `voices` is optional: with a CPU budget of ~40 minutes, stage 1 sees about one epoch of the base set anyway.
DEFAULT_STEPS = ("data", "init", "warmup", "stage1", "corpus", "states", "decoder", "export")
DONE = "DONE.json"
# one encoder-output cache for the warm-up, stage 1 and stage 2 (the encoder is frozen and the same in all three)
ENCODER_CACHE = "encoder_cache"
# The voices of the training instructions; flite:awb is held out for the evaluation.
TRAIN_VOICES = ("flite:kal16", "flite:rms", "flite:slt", "espeak:en-us", "piper:joe")
HELDOUT_VOICE = "flite:awb"
VOICE_OPTIONS = {"espeak:en-us": {"speed": 140}}
# The speech decoder's corpus: template questions answered by SmolLM2 (+ the seed training questions) and fortunes.
CORPUS_QUESTIONS = 2500
CORPUS_SETTINGS = {"dtype": "bfloat16", "batch_size": 32, "max_new_tokens": 64}
# The speech decoder's training (trainers/stages/phoneme_decoder.py PhonemeDecoderConfig fields).
DECODER_STEPS = 3000
DECODER_TRAINING = {"learning_rate": 1e-3, "warmup_steps": 200, "batch_tokens": 1024, "eval_every": 500,
                    "eval_max_records": 400, "checkpoint_every": 250, "state_noise_std": 0.05}


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


def step_corpus(work: Path, num_questions: int = CORPUS_QUESTIONS) -> None:
    """The speech decoder's text corpus with phoneme ids (resumes SmolLM2's answers where they stopped)."""
    from processing.instructs2s.phoneme_corpus import build_phoneme_corpus

    target = work / "corpus"
    if _done(target):
        return
    summary = build_phoneme_corpus(target, num_questions=num_questions, **CORPUS_SETTINGS)
    _mark_done(target, {k: v for k, v in summary.items() if k != "unit_histogram"})
    _log(f"corpus: {summary.get('counts')}")


def _corpus_records(work: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted((work / "corpus").glob("corpus-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    if not records:
        raise FileNotFoundError(f"no corpus records in {work / 'corpus'}: run the `corpus` step first")
    return records


def _decoder_model(work: Path):
    """The `init` model with the shipped architecture's speech decoder, and its processor."""
    from offline_assets.embedded import DEFAULT_ARCHITECTURE
    from trainers.stages.common import load_model_and_processor

    model, processor = load_model_and_processor(str(work / "init"))
    arch = dict(DEFAULT_ARCHITECTURE)
    names = ("ctc_upsample_factor", "unit_vocab_size", "speech_decoder_token_embeddings",
             "speech_decoder_token_residuals")
    fields = {k: arch.get(k, False) for k in names}
    if any(getattr(model.config, k) != v for k, v in fields.items()):
        model.replace_speech_decoder(**fields)
    return model, processor


def step_states(work: Path) -> None:
    """The frozen LLM's response states for every corpus answer (text mode), cached in fp16."""
    import torch

    from trainers.stages.phoneme_decoder import build_state_cache

    target = work / "state_cache"
    if _done(target):
        return
    model, processor = _decoder_model(work)
    result = build_state_cache(model, processor, _corpus_records(work), target, dtype=torch.float16,
                               compute_dtype=torch.bfloat16, batch_size=16)
    _mark_done(target, result)
    _log(f"states: {result}")


def step_decoder(work: Path, minutes: float, max_steps: int) -> None:
    """Trains the CTC speech decoder on the cached states (resumes from its last checkpoint)."""
    from trainers.stages.phoneme_decoder import PhonemeDecoderConfig, train_phoneme_decoder

    target = work / "decoder"
    if _done(target):
        return
    model, _ = _decoder_model(work)
    config = PhonemeDecoderConfig(max_minutes=minutes, max_steps=max_steps, **DECODER_TRAINING)
    summary = train_phoneme_decoder(model, work / "state_cache", target, config)
    _mark_done(target, {k: v for k, v in summary.items() if k != "history"})
    _log(f"decoder: {summary['steps']} steps, validation PER {summary['best_per']:.3f} (best)")


def step_export(work: Path, weights_dir: Path | None = None, adaptor_from: Path | None = None) -> Path:
    """The trained parts + manifest into the package (offline_assets/llama_omni_tiny/): the adaptor of `stage1`
    (or of the weights in `adaptor_from`) and the best speech decoder of `decoder`."""
    from safetensors.torch import load_file

    from modeling_llama_omni import LlamaOmniForConditionalGeneration
    from offline_assets.embedded import DEFAULT_ARCHITECTURE, DEFAULT_VOCODER, MODEL_WEIGHTS, write_weights
    from trainers.stages.phoneme_decoder import load_phoneme_decoder

    if adaptor_from is not None:
        adaptor = {k: v for k, v in load_file(str(adaptor_from / MODEL_WEIGHTS)).items()
                   if k.startswith("model.speech_adaptor.")}
        if not adaptor:
            raise ValueError(f"{adaptor_from / MODEL_WEIGHTS} holds no speech adaptor weights")
        model, _ = _decoder_model(work)
        missing = set(k for k in model.state_dict() if k.startswith("model.speech_adaptor.")) - set(adaptor)
        if missing:
            raise ValueError(f"{adaptor_from / MODEL_WEIGHTS} lacks adaptor weights {sorted(missing)[:3]}")
        model.load_state_dict(adaptor, strict=False)
        adaptor_source = {"adaptor_from": str(adaptor_from), "manifest": json.loads(
            (adaptor_from / "manifest.json").read_text()).get("training", {}) if (adaptor_from / "manifest.json")
            .is_file() else None}
    else:
        model = LlamaOmniForConditionalGeneration.from_pretrained(str(work / "stage1"))
        adaptor_source = None
    load_phoneme_decoder(model, work / "decoder" / "best")
    training = {
        "command": "llama-omni build-default",
        "data": (_done(work / "data_voices") or {}),
        "corpus": {k: v for k, v in (_done(work / "corpus") or {}).items() if k in ("counts", "timings")},
        "states": (_done(work / "state_cache") or {}),
        "decoder": (_done(work / "decoder") or {}),
    }
    if adaptor_source is not None:  # the adaptor's own training record is the earlier export's
        training["adaptor"] = adaptor_source
    else:
        training["warmup"] = _done(work / "warmup") or {}
        training["stage1"] = {k: v for k, v in (_done(work / "stage1") or {}).items() if k != "log_history"}
    settings = {"default_system_prompt": embedded_system_prompt(), "default_instruction": "<speech>"}
    folder = write_weights(model, settings, DEFAULT_VOCODER, DEFAULT_ARCHITECTURE, training, weights_dir=weights_dir)
    _log(f"export: wrote {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llama-omni build-default", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="outputs/embedded", help="where the data and checkpoints go")
    parser.add_argument("--steps", default=",".join(DEFAULT_STEPS),
                        help=f"comma-separated subset of {','.join(STEPS)} (default: all but voices)")
    parser.add_argument("--warmup-minutes", type=float, default=8.0, help="wall-time budget of the CTC warm-up")
    parser.add_argument("--stage1-minutes", type=float, default=45.0, help="wall-time budget of stage 1")
    parser.add_argument("--corpus-questions", type=int, default=CORPUS_QUESTIONS,
                        help="template questions SmolLM2 answers for the speech decoder's corpus")
    parser.add_argument("--decoder-minutes", type=float, default=40.0,
                        help="wall-time budget of the speech decoder's training")
    parser.add_argument("--decoder-steps", type=int, default=DECODER_STEPS,
                        help="optimizer steps of the speech decoder (the learning-rate schedule's length)")
    parser.add_argument("--adaptor-from", default=None,
                        help="export the adaptor of these weights (a folder with model.safetensors, e.g. an earlier "
                             "export) instead of the stage1 step's")
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
        elif step == "init":
            step_init(work)
        elif step == "warmup":
            step_warmup(work, args.warmup_minutes)
        elif step == "stage1":
            start_from = work / "warmup" if _done(work / "warmup") else work / "init"
            _train_stage("stage1", work, start_from, args.stage1_minutes, [])
        elif step == "corpus":
            step_corpus(work, args.corpus_questions)
        elif step == "states":
            step_states(work)
        elif step == "decoder":
            step_decoder(work, args.decoder_minutes, args.decoder_steps)
        elif step == "export":
            step_export(work, Path(args.weights_dir) if args.weights_dir else None,
                        Path(args.adaptor_from) if args.adaptor_from else None)
        _log(f"step {step} done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
