# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Builds the embedded default model "llama-omni-tiny" end to end, on the CPU, offline: `llama-omni build-default`.

Steps (each one resumable and skipped when its output is complete; `--steps` picks some):

1. `init`: the untrained model: Whisper-base encoder + SmolLM2-135M-Instruct + the adaptor (the shipped one,
   `--adaptor whisper`: Whisper-base's own decoder reading the speech out, from the same asset packages) and a fresh
   speech decoder.
2. `corpus`: the speech decoder's text corpus (processing/instructs2s/phoneme_corpus.py): SmolLM2's answers to
   thousands of template questions and the seed training questions (never a held-out one), plus the sentences of
   Debian's `fortunes`, each with its Piper joe phoneme ids (espeak-ng). No audio.
3. `speech` (skipped with the Whisper read-out, which has nothing to train; so are steps 4-6): the adaptor's speech
   (processing/instructs2s/spoken_questions.py): every answered corpus question spoken 3 times and every other
   template question once, each time by a random training voice (flite kal16/rms/slt,
   espeak-ng's English voices and speaker variants, Piper joe; never flite "awb", the held-out voice of
   benchmarks/tiny_quality.py) with speed, noise and level perturbation; the held-out seed questions once (only
   the reports read them). Their Whisper-base encoder outputs are cached (fp16).
4. `warmup`: with the lexicon read-out (`--adaptor lexicon`, shipped until v5), the adaptor's acoustic head
   learns joe's phoneme ids of every training utterance (phoneme CTC, trainers/stages/adaptor_warmup.py). With
   `--adaptor mlp` or `phonetic`, the adaptor learns to spell the spoken question in the LLM's token embeddings (a
   CTC loss on cosine similarities).
5. `lexicon` (lexicon read-out only): the word lexicon (the training text's words and SmolLM2's whole-word tokens,
   with espeak-ng's units) and the word bigram model of the training text (trainers/stages/lexicon_readout.py); the
   read-out's decoding settings are chosen on ~5 % of the template questions kept out of that text.
6. `stage1` (`mlp` / `phonetic` only): the adaptor learns to make the frozen LLM answer the spoken question as it
   answers the written one (the answered questions; the corpus step's answers are the targets).
7. `states`: the frozen LLM reads each corpus answer after its question (teacher forcing, text mode); the hidden
   states that predicted each answer token and the tokens are cached (trainers/stages/phoneme_decoder.py).
8. `decoder`: the CTC speech decoder learns the answers' phoneme ids from those states and the tokens' embeddings
   (`--speech-decoder ar`: LLaMA-Omni2's autoregressive decoder learns them instead; not shipped, see the recipe
   README).
9. `export`: the trained parts (the speech decoder; and the adaptor where it is trained: the lexicon read-out's
   acoustic head and buffers, or stage 1's) and a manifest into offline_assets/llama_omni_tiny/, which
   `offline_assets.embedded.assemble_default()` reads; the unit vocoder is Piper joe's whole VITS voice, read from
   its pip package (nothing trained).

`--adaptor phonetic` makes the adaptor phonetic with embeddings (`PHONETIC_ADAPTOR`, `LlamaOmniPhoneticAdaptor`):
phoneme posteriors first, then the LLM's embeddings; its warm-up also learns from the corpus's written sentences
(`adaptor_text_corpus`). `--adaptor mlp` is the released adaptor. Neither is shipped (see the recipe README's
figures).

The speech decoder's steps (corpus, states, decoder) do not depend on the adaptor: the decoder learns from text-mode
states, so it can be rebuilt alone (`--steps init,corpus,states,decoder,export --adaptor-from DIR` keeps the adaptor
of an earlier export).

    llama-omni build-default                   # every step
    llama-omni build-default --steps init,corpus,states,decoder,export --adaptor-from offline_assets/llama_omni_tiny
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "trainers" / "recipes" / "embedded"
ADAPTORS = ("whisper", "lexicon", "mlp", "phonetic")
SHIPPED_ADAPTOR = "whisper"
UNTRAINED_ADAPTOR_STEPS = ("speech", "warmup", "lexicon", "stage1")
"""The steps that only build or train the adaptor: nothing to do for the Whisper read-out (`--adaptor whisper`)."""
STEPS = ("init", "corpus", "speech", "warmup", "lexicon", "stage1", "states", "decoder", "export")
DONE = "DONE.json"
# one encoder-output cache for the warm-up, stage 1 and stage 2 (the encoder is frozen and the same in all three)
ENCODER_CACHE = "encoder_cache"
# Utterances per question of the `speech` step (random training voices + perturbation; flite:awb is held out for
# the evaluation), and the seed of each set.
SPEECH_COPIES = {"answered": 3, "questions": 1, "heldout": 1}
SPEECH_SEEDS = {"answered": 0, "questions": 1, "heldout": 2}
# The adaptor's CTC warm-up (trainers/stages/adaptor_warmup.py AdaptorWarmupConfig fields).
WARMUP_TRAINING = {"head_vocabulary": "batch", "negatives": 4096, "bf16": True, "max_epochs": 6,
                   "eval_examples": 128, "logging_steps": 50}
# Stage 1's auxiliary task (`stage1_set`): "repeat what I said" rows, as a fraction of the answered rows, with this
# user turn (the transcript is the target). 0 = answering only.
REPEAT_FRACTION = 0.0
REPEAT_INSTRUCTION = "<speech>\nRepeat exactly what I said."
# The speech decoder's corpus: template questions answered by SmolLM2 (+ the seed training questions) and fortunes.
# `--phonetic-adaptor`: the adaptor's settings (`LlamaOmniPhoneticAdaptor`: joe's 151 phoneme classes, blank = 0; two
# Transformer layers of width 512 after the phoneme posteriors) and the extra warm-up settings: 2 minutes of phoneme
# CTC alone first, then both losses on the speech with a batch of the corpus's written sentences in each step.
PHONETIC_ADAPTOR = {"speech_adaptor_phonemes": 151, "speech_adaptor_phoneme_size": 256,
                    "speech_adaptor_hidden_size": 512, "speech_adaptor_num_layers": 2, "speech_adaptor_num_heads": 8,
                    "speech_adaptor_hidden_act": "gelu"}
PHONETIC_WARMUP = {"phoneme_only_minutes": 2.0, "max_epochs": 100, "text_batch_size": 32}
# The lexicon read-out's acoustic head reads each encoder frame with 3 on each side (140 ms; the phonetic adaptor's
# default is 1): held-out phoneme error rate 9.8 -> 9.6 %, read-out WER 21.3 -> 19.3 % in the same 25 minutes, with
# half the steps (recipe README).
LEXICON_ADAPTOR = {"speech_adaptor_phoneme_context": 3}
# The lexicon read-out (`--adaptor lexicon`, shipped in v3-v5): the phonetic adaptor's acoustic head alone is warmed
# up (phoneme CTC for the whole warm-up budget), then read out as words of a lexicon with a bigram model of the
# training text.
# The acoustic head's training speech is masked and dropped out (SpecAugment-style, `augment_states`): without it, it
# learns its training voices by heart (phoneme error rate ~1 % on training utterances, ~11 % on held-out questions).
LEXICON_WARMUP = {"max_epochs": 100, "time_masks": 2, "time_mask_frames": 4, "feature_masks": 2,
                  "feature_mask_width": 64, "state_dropout": 0.1}
# The assembled model's generation defaults (the manifest's `processor.generation`): greedy search never repeats a
# 4-gram of its own answer (SmolLM2-135M otherwise loops now and then: "nine times eight is nine times eight is ...");
# `penalties_see_prompt=False` keeps the question's own 4-grams allowed in the answer.
EMBEDDED_GENERATION = {"no_repeat_ngram_size": 4}
EMBEDDED_PENALTIES = {"penalties_see_prompt": False}
# the read-out's (lm_weight, word_score) pairs the lexicon step tries on its development questions (1 in
# LEXICON_DEV_MODULUS template questions, kept out of the bigram text)
LEXICON_GRID = [(w, s) for w in (0.3, 0.5, 0.8) for s in (-1.0, 0.0, 1.0)]
LEXICON_DEV_MODULUS = 20
ADAPTOR_TEXT_SENTENCES = 40000
CORPUS_QUESTIONS = 2500
CORPUS_SETTINGS = {"dtype": "bfloat16", "batch_size": 32, "max_new_tokens": 64}
# The speech decoder's training (trainers/stages/phoneme_decoder.py PhonemeDecoderConfig fields).
DECODER_STEPS = 3000
DECODER_TRAINING = {"learning_rate": 1e-3, "warmup_steps": 200, "batch_tokens": 1024, "eval_every": 500,
                    "eval_max_records": 400, "checkpoint_every": 250, "state_noise_std": 0.05}
SPEECH_DECODERS = ("ctc", "ar")
# `--speech-decoder ar` (not shipped; recipe README): LLaMA-Omni2's autoregressive decoder on the same phoneme units,
# a 4-layer Qwen2 TTS model of the CTC decoder's width whose vocabulary is SmolLM2's tokens, <sep> and the 151 units
# (`ar_decoder_fields`), reading 3 tokens and writing 12 units at a time (the training answers have 4.4 units per
# token: writing a little less than that keeps the decoder just behind the text it has read instead of ahead of
# it), greedy. Its loss covers only what decoding can write (`tts_loss_vocabulary="speech"`), and its validation PER
# is measured on fewer answers (each is decoded unit by unit).
AR_DECODER = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 4}
AR_STREAMING = {"read_size": 3, "write_size": 12}
AR_DECODER_TRAINING = {"eval_max_records": 100}


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


def _speech_records(work: Path) -> dict[str, list[dict[str, str]]]:
    """The questions of the `speech` step: `answered` (the corpus step's questions SmolLM2 answered, with the
    answers: stage 1's targets), `questions` (the other template questions: the warm-up reads them) and `heldout`
    (the held-out seed questions: only the warm-up's report decodes them, spoken by training voices)."""
    from processing.instructs2s.phoneme_corpus import ANSWERS_FILE, seed_instructions, training_questions

    answers_path = work / "corpus" / ANSWERS_FILE
    if not answers_path.is_file():
        raise FileNotFoundError(f"no {answers_path}: run the `corpus` step first (its answers are stage 1's targets)")
    allowed = training_questions()  # never a held-out question nor a paraphrase of one
    allowed_ids = {q["id"] for q in allowed}
    answered = []
    with open(answers_path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line) if line.strip() else None
            if row and row.get("raw_response", "").strip() and row["id"] in allowed_ids:
                answered.append({"id": row["id"], "instruction": row["question"], "response": row["raw_response"]})
    taken = {r["id"] for r in answered}
    questions = [{"id": q["id"], "instruction": q["question"]} for q in allowed if q["id"] not in taken]
    heldout = [{"id": r["id"], "instruction": r["instruction"]} for r in seed_instructions("heldout")]
    return {"answered": answered, "questions": questions, "heldout": heldout}


def step_speech(work: Path, num_proc: int = 2) -> None:
    """Speaks the questions (`_speech_records`) with random training voices and perturbation
    (processing/instructs2s/spoken_questions.py), then caches their encoder outputs (fp16)."""
    import torch

    from processing.instructs2s.spoken_questions import speak_questions
    from trainers.stages.caches import EncoderOutputCache, speech_encoder_fingerprint
    from trainers.stages.common import load_model_and_processor

    target = work / "speech"
    if _done(target):
        return
    records = _speech_records(work)
    sets = {}
    for name, copies in SPEECH_COPIES.items():
        sets[name] = speak_questions(records[name], target / name, copies=copies, seed=SPEECH_SEEDS[name],
                                     num_proc=num_proc)
        _log(f"speech: {name}: {len(sets[name])} utterances")
    model, processor = load_model_and_processor(str(work / "init"))
    encoder = model.model.speech_encoder
    cache = EncoderOutputCache(work / ENCODER_CACHE, speech_encoder_fingerprint(
        encoder, processor.feature_extractor, next(encoder.parameters()).dtype))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, num_proc))
    try:
        for name, dataset in sets.items():
            cache.build(encoder, processor, dataset, speech_column="speech_instruction", id_column="id",
                        dtype=torch.float16)
    finally:
        torch.set_num_threads(threads)
    _mark_done(target, {name: {"records": len(records[name]), "utterances": len(sets[name]),
                               "copies": SPEECH_COPIES[name]} for name in sets})


def _speech_sets(work: Path):
    """The `speech` step's datasets: the warm-up's DatasetDict (train: every training utterance; test: held-out
    questions) and the path of stage 1's (answered questions only)."""
    import datasets

    load = lambda name: datasets.load_from_disk(str(work / "speech" / name / "dataset"))  # noqa: E731
    warmup = datasets.DatasetDict({"train": datasets.concatenate_datasets([load("answered"), load("questions")]),
                                   "test": load("heldout")})
    return warmup, work / "speech" / "answered" / "dataset"


def stage1_set(work: Path, repeat_fraction: float, seed: int = 0) -> Path:
    """Stage 1's dataset with a "repeat what I said" task mixed in: every answered utterance (the user turn is the
    speech alone, the target SmolLM2's answer) plus `repeat_fraction` x as many utterances drawn from all the
    training ones (answered or not), whose user turn asks to repeat the speech and whose target is its transcript.
    Rows share their audio's encoder output through the `audio_id` column. Written once to
    `<work>/stage1_data/dataset` (resumable: reused when complete); with `repeat_fraction` 0, the answered set's
    own path."""
    import datasets

    if repeat_fraction <= 0:
        return work / "speech" / "answered" / "dataset"
    target = work / "stage1_data"
    done = _done(target)
    if done and done.get("repeat_fraction") == repeat_fraction and done.get("seed") == seed:
        return target / "dataset"
    answered = datasets.load_from_disk(str(work / "speech" / "answered" / "dataset"))
    everything = datasets.concatenate_datasets(
        [answered, datasets.load_from_disk(str(work / "speech" / "questions" / "dataset"))])
    count = min(len(everything), round(repeat_fraction * len(answered)))
    repeat = everything.shuffle(seed=seed).select(range(count))
    answer_rows = answered.map(lambda row: {"audio_id": row["id"], "task_prompt": ""})
    repeat_rows = repeat.map(lambda row: {"audio_id": row["id"], "id": f"{row['id']}#repeat",
                                          "response": row["instruction"], "task_prompt": REPEAT_INSTRUCTION})
    mixed = datasets.concatenate_datasets([answer_rows, repeat_rows])
    if target.exists():
        shutil.rmtree(target)
    mixed.save_to_disk(str(target / "dataset"))
    _mark_done(target, {"repeat_fraction": repeat_fraction, "seed": seed, "answer_rows": len(answer_rows),
                        "repeat_rows": len(repeat_rows)})
    return target / "dataset"


def step_init(work: Path, adaptor_layers: int | None = None, phonetic: bool = False, lexicon: bool = False,
              acoustic_context: int | None = None, whisper: bool = False) -> None:
    """The untrained model folder (pretrained encoder and LLM, fresh adaptor and speech decoder); `adaptor_layers`
    overrides the architecture's `speech_adaptor_num_layers` (Transformer layers inside the adaptor),
    `acoustic_context` the acoustic head's `speech_adaptor_phoneme_context` (frames on each side; default
    `LEXICON_ADAPTOR`'s with `lexicon`, else 1); `phonetic` makes the adaptor phonetic (`PHONETIC_ADAPTOR`);
    `lexicon` too (and `LEXICON_ADAPTOR`), and marks the work folder for the lexicon read-out (its warm-up trains
    the acoustic head alone, the `lexicon` step builds the read-out); `whisper` makes the adaptor Whisper's own
    decoder, reading the speech out (`LlamaOmniWhisperReadoutAdaptor`: nothing to train, the adaptor's steps are
    skipped)."""
    from offline_assets.embedded import DEFAULT_ARCHITECTURE, base_model

    if whisper and (phonetic or lexicon or adaptor_layers is not None or acoustic_context is not None):
        raise ValueError("the Whisper read-out (--adaptor whisper) has no acoustic head or adaptor layers to set")
    phonetic = phonetic or lexicon
    target = work / "init"
    done = _done(target)
    if done:
        if bool(done.get("whisper_readout")) != whisper:
            raise ValueError(f"{target} was made {'for' if done.get('whisper_readout') else 'without'} the Whisper "
                             "read-out; --adaptor must match it: use another --work-dir")
        if bool(done.get("lexicon_readout")) != lexicon:
            raise ValueError(f"{target} was made {'for' if done.get('lexicon_readout') else 'without'} the lexicon "
                             "read-out; --adaptor must match it: use another --work-dir")
        if adaptor_layers is not None and done.get("speech_adaptor_num_layers", 0) != adaptor_layers:
            raise ValueError(f"{target} was made with speech_adaptor_num_layers="
                             f"{done.get('speech_adaptor_num_layers', 0)}, not {adaptor_layers}: use another --work-dir")
        if acoustic_context is not None and done.get("speech_adaptor_phoneme_context", 1) != acoustic_context:
            raise ValueError(f"{target} was made with speech_adaptor_phoneme_context="
                             f"{done.get('speech_adaptor_phoneme_context', 1)}, not {acoustic_context}: use another "
                             "--work-dir")
        if bool(done.get("speech_adaptor_phonemes", 0)) != phonetic:
            raise ValueError(f"{target} was made {'with' if done.get('speech_adaptor_phonemes') else 'without'} a "
                             "phonetic adaptor; --adaptor must match it: use another --work-dir")
        return
    architecture = dict(DEFAULT_ARCHITECTURE)
    if whisper:  # its settings: from the installed packages (the MLP adaptor's width means nothing to it)
        architecture.pop("speech_adaptor_hidden_size", None)
        architecture["speech_adaptor_whisper_readout"] = True
    if phonetic:
        architecture.update(PHONETIC_ADAPTOR)
    if lexicon:
        architecture.update(LEXICON_ADAPTOR)
    if adaptor_layers is not None:
        architecture["speech_adaptor_num_layers"] = adaptor_layers
    if acoustic_context is not None:
        architecture["speech_adaptor_phoneme_context"] = acoustic_context
    model, processor = base_model(architecture, system_prompt=embedded_system_prompt())
    model.save_pretrained(target)
    processor.save_pretrained(target)
    _mark_done(target, {"parameters": sum(p.numel() for p in model.parameters()),
                        "speech_adaptor_num_layers": model.config.speech_adaptor_num_layers,
                        "speech_adaptor_phonemes": model.config.speech_adaptor_phonemes,
                        "speech_adaptor_phoneme_context": model.config.speech_adaptor_phoneme_context,
                        "lexicon_readout": lexicon, "whisper_readout": whisper})


def _whisper_mode(work: Path) -> bool:
    """Whether the work folder's `init` was made for the Whisper read-out (`--adaptor whisper`)."""
    return bool((_done(work / "init") or {}).get("whisper_readout"))


def _lexicon_mode(work: Path) -> bool:
    """Whether the work folder's `init` was made for the lexicon read-out (`--adaptor lexicon`)."""
    return bool((_done(work / "init") or {}).get("lexicon_readout"))


def lexicon_dev_question(question_id: str) -> bool:
    """Whether a template question of the `speech` step's `questions` set is one of the ~5 % the lexicon step keeps
    out of the bigram text to choose the read-out's decoding settings on (by a hash of its id; the generator gives
    16 texts twice, so one of the 494 development questions also has a training twin)."""
    import hashlib

    return int(hashlib.sha1(question_id.encode("utf-8")).hexdigest(), 16) % LEXICON_DEV_MODULUS == 0


def lexicon_texts(work: Path) -> list[str]:
    """The training text of the lexicon read-out: the `corpus` step's training answers and fortunes (never its
    validation split) and the training questions of the `speech` step's sets (never a held-out one, nor the
    development questions of `lexicon_dev_question`)."""
    if _done(work / "corpus") is None:
        raise FileNotFoundError(f"{work / 'corpus'} is not complete: run the corpus step before the lexicon step")
    texts = [record["response"] for record in _corpus_records(work) if record.get("split") == "train"]
    records = _speech_records(work)
    texts += [r["instruction"] for r in records["answered"]]
    texts += [r["instruction"] for r in records["questions"] if not lexicon_dev_question(r["id"])]
    return texts


def step_lexicon(work: Path) -> None:
    """The lexicon read-out (trainers/stages/lexicon_readout.py) from `lexicon_texts` with the warm-up's acoustic
    head: its decoding settings chosen on the development questions (`LEXICON_GRID`), and its WER on the held-out
    questions of the `speech` step (training voices; a report, never a choice)."""
    from safetensors.torch import save_file

    from modeling_llama_omni.configuration_llama_omni import LEXICON_DECODING
    from trainers.stages.common import load_model_and_processor
    from trainers.stages.lexicon_readout import build_lexicon_readout, lexicon_readout_model

    target = work / "lexicon"
    if _done(target) or not _lexicon_mode(work):
        return
    if _done(work / "warmup") is None:
        raise FileNotFoundError(f"{work / 'warmup'} is not complete: the read-out uses the warm-up's acoustic head")
    start = time.time()
    model, processor = load_model_and_processor(str(work / "warmup"))
    readout = build_lexicon_readout(lexicon_texts(work), processor.tokenizer, decoding=dict(LEXICON_DECODING))
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in readout.buffers.items()}, str(target / "readout.safetensors"))
    (target / "settings.json").write_text(json.dumps(readout.settings, indent=2) + "\n")
    (target / "words.txt").write_text("\n".join(readout.words) + "\n")
    built = time.time() - start
    reader = lexicon_readout_model(model, readout)
    adaptor = reader.model.speech_adaptor
    grid = []
    for lm_weight, word_score in LEXICON_GRID:  # chosen on the development questions, never the held-out ones
        adaptor.settings.update(lm_weight=lm_weight, word_score=word_score)
        adaptor.reset_decoder()
        dev = _readout_wer(work, reader, processor.tokenizer, "questions", keep=lexicon_dev_question)
        grid.append({"lm_weight": lm_weight, "word_score": word_score, "dev_wer": dev["wer"],
                     "utterances": dev["utterances"]})
        _log(f"lexicon: lm_weight {lm_weight}, word_score {word_score}: development WER {dev['wer']:.3f}")
    best = min(grid, key=lambda g: g["dev_wer"])
    readout.settings.update(lm_weight=best["lm_weight"], word_score=best["word_score"])
    adaptor.settings.update(lm_weight=best["lm_weight"], word_score=best["word_score"])
    adaptor.reset_decoder()
    (target / "settings.json").write_text(json.dumps(readout.settings, indent=2) + "\n")
    heldout = _readout_wer(work, reader, processor.tokenizer, "heldout")
    _mark_done(target, {**readout.stats, "build_seconds": round(built, 1), "decoding_grid": grid,
                        "chosen": {k: best[k] for k in ("lm_weight", "word_score", "dev_wer")},
                        "heldout_readout": heldout})
    _log(f"lexicon: {readout.stats['words']} words, {readout.stats['bigrams']} bigrams; development WER "
         f"{best['dev_wer']:.3f} (lm_weight {best['lm_weight']}, word_score {best['word_score']}); held-out "
         f"questions (training voices) read out at WER {heldout['wer']:.3f}")


def _readout_wer(work: Path, model, tokenizer, split: str, keep=None) -> dict[str, Any]:
    """WER of the lexicon read-out of a `speech` set (from the encoder cache) against its transcripts; `keep`: a
    filter on the question ids."""
    import datasets
    import torch

    from trainers.stages.adaptor_warmup import word_error_rate
    from trainers.stages.caches import EncoderOutputCache

    data = datasets.load_from_disk(str(work / "speech" / split / "dataset")).remove_columns(["speech_instruction"])
    if keep is not None:
        data = data.filter(lambda row: keep(row["question_id"]))
    manifest = json.loads((work / ENCODER_CACHE / "manifest.json").read_text())
    cache = EncoderOutputCache(str(work / ENCODER_CACHE), manifest["fingerprint"])
    hyps, refs = [], []
    for example_id, text in zip(data["id"], data["instruction"]):
        try:
            states = cache.get(example_id)
        except KeyError:
            continue
        ids = model.model.read_out_speech(speech_encoder_hidden_states=states[None].float(),
                                          speech_encoder_lengths=torch.tensor([states.shape[0]]))[0]
        hyps.append(tokenizer.decode(ids))
        refs.append(text)
    return {"wer": word_error_rate(refs, hyps), "utterances": len(refs),
            "examples": [{"reference": r, "read_out": h} for r, h in list(zip(refs, hyps))[:5]]}


def adaptor_text_corpus(work: Path, limit: int = ADAPTOR_TEXT_SENTENCES, seed: int = 0) -> list[str]:
    """The written sentences a phonetic adaptor's warm-up learns spelling from: the sentences (3-25 words) of the
    `corpus` step's training answers and fortunes (never its validation split, never a held-out question), shuffled
    with `seed`, at most `limit`."""
    import random

    from processing.instructs2s.phoneme_corpus import split_sentences

    if _done(work / "corpus") is None:
        raise FileNotFoundError(f"{work / 'corpus'} is not complete: run the corpus step before a phonetic warm-up")
    sentences = [sentence for record in _corpus_records(work) if record.get("split") == "train"
                 for sentence in split_sentences(record["response"]) if 3 <= len(sentence.split()) <= 25]
    random.Random(seed).shuffle(sentences)
    return sentences[:limit]


def step_warmup(work: Path, minutes: float) -> None:
    """The CTC warm-up of the adaptor (trainers/stages/adaptor_warmup.py) on every training utterance of the
    `speech` step, from `init`."""
    from ..stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor

    target = work / "warmup"
    if _done(target):
        return
    data, _ = _speech_sets(work)
    phonetic = bool(json.loads((work / "init" / "config.json").read_text()).get("speech_adaptor_phonemes", 0))
    lexicon = _lexicon_mode(work)
    if lexicon:  # the acoustic head alone
        settings = {**WARMUP_TRAINING, **LEXICON_WARMUP, "phoneme_only_minutes": minutes}
        minutes = 0.0
    else:
        settings = {**WARMUP_TRAINING, **(PHONETIC_WARMUP if phonetic else {})}
    config = AdaptorWarmupConfig(output_dir=str(target), encoder_cache_dir=str(work / ENCODER_CACHE),
                                 max_minutes=minutes, **settings)
    summary = warmup_adaptor(str(work / "init"), data, config,
                             text_corpus=adaptor_text_corpus(work) if phonetic and not lexicon else None)
    _mark_done(target, {k: v for k, v in summary.items() if k not in ("config", "log_history")})
    if lexicon:
        after = summary["greedy_ctc_wer_after"]
        _log(f"warmup: acoustic head, phoneme error rate {({k: v for k, v in after.items() if 'phoneme' in k})}")
    else:
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
    if data is None:
        data = _speech_sets(work)[1]
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


def ar_decoder_fields(text_config, unit_vocab_size: int = 151) -> dict[str, Any]:
    """The `LlamaOmniConfig` fields of the autoregressive speech decoder of `--speech-decoder ar` (`AR_DECODER`,
    `AR_STREAMING`) for an LLM with `text_config`: the TTS vocabulary is the LLM's text ids, then `<sep>`, then the
    speech units (as in LLaMA-Omni2's release), and the LLM's end of turn ends the speech."""
    text_vocab = int(text_config.vocab_size)
    eos = text_config.eos_token_id
    eos = int(eos[0] if isinstance(eos, (list, tuple)) else eos)
    tts_config = {"model_type": "qwen2", "vocab_size": text_vocab + 1 + unit_vocab_size,
                  "num_key_value_heads": AR_DECODER["num_attention_heads"], "max_position_embeddings": 4096,
                  "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}, "bos_token_id": None,
                  "eos_token_id": eos, "pad_token_id": None, "tie_word_embeddings": True, **AR_DECODER}
    return {"speech_decoder_type": "ar", "unit_vocab_size": unit_vocab_size, "tts_config": tts_config,
            "tts_sep_token_id": text_vocab, "tts_speech_token_offset": text_vocab + 1, "tts_eos_token_id": eos,
            "tts_do_sample": False, "tts_restrict_to_speech_tokens": True, "tts_loss_vocabulary": "speech",
            **AR_STREAMING}


def _decoder_model(work: Path, speech_decoder: str = "ctc"):
    """The `init` model with the shipped architecture's speech decoder (or, `speech_decoder="ar"`, the
    autoregressive one of `ar_decoder_fields`), and its processor."""
    from offline_assets.embedded import DEFAULT_ARCHITECTURE
    from trainers.stages.common import load_model_and_processor

    model, processor = load_model_and_processor(str(work / "init"))
    if speech_decoder == "ar":
        model.replace_speech_decoder(**ar_decoder_fields(model.config.text_config,
                                                         DEFAULT_ARCHITECTURE["unit_vocab_size"]))
        return model, processor
    arch = dict(DEFAULT_ARCHITECTURE)
    names = ("ctc_upsample_factor", "unit_vocab_size", "speech_decoder_token_embeddings",
             "speech_decoder_token_residuals", "speech_decoder_token_phonemes")
    fields = {k: arch.get(k, False) for k in names}
    fields["speech_decoder_token_phonemes"] = int(fields["speech_decoder_token_phonemes"])
    if any(getattr(model.config, k) != v for k, v in fields.items()):
        model.replace_speech_decoder(**fields)
    if model.speech_decoder.token_phonemes is not None:
        _fill_pronunciations(model, processor)
    return model, processor


def _fill_pronunciations(model, processor) -> None:
    """Fills the speech decoder's pronunciation table (`speech_decoder_token_phonemes`): espeak-ng's units of every
    SmolLM2 token said on its own (a few seconds)."""
    import torch

    from processing.instructs2s.phonemes import token_unit_table

    table = model.speech_decoder.token_phonemes
    rows = token_unit_table(processor.tokenizer, table.table.shape[0], table.slots)
    model.speech_decoder.token_phonemes.set_table(
        torch.tensor([r + [-1] * (table.slots - len(r)) for r in rows], dtype=torch.int16))


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


def step_decoder(work: Path, minutes: float, max_steps: int, speech_decoder: str = "ctc") -> None:
    """Trains the speech decoder (the CTC one, or `speech_decoder="ar"`, the autoregressive one) on the cached
    states (resumes from its last checkpoint)."""
    from trainers.stages.phoneme_decoder import (
        PhonemeDecoderConfig,
        PhonemeStateCache,
        table_frame_overflow,
        table_phoneme_error_rate,
        train_phoneme_decoder,
        validation_subset,
    )

    target = work / "decoder"
    if _done(target):
        return
    model, _ = _decoder_model(work, speech_decoder)
    training = {**DECODER_TRAINING, **(AR_DECODER_TRAINING if speech_decoder == "ar" else {})}
    config = PhonemeDecoderConfig(max_minutes=minutes, max_steps=max_steps, **training)
    summary = train_phoneme_decoder(model, work / "state_cache", target, config)
    summary = {"speech_decoder": speech_decoder, **{k: v for k, v in summary.items() if k != "history"}}
    # the baseline: the pronunciation table read token by token (the CTC decoder's)
    if getattr(model.speech_decoder, "token_phonemes", None) is not None:
        validation = validation_subset(PhonemeStateCache(work / "state_cache").load("validation"),
                                       config.eval_max_records)
        summary["table_alone_per"] = table_phoneme_error_rate(model, validation)
        summary["table_frame_overflow"] = table_frame_overflow(model, validation)
    _mark_done(target, summary)
    _log(f"decoder: {summary['steps']} steps, validation PER {summary['best_per']:.3f} (best)")


def step_export(work: Path, weights_dir: Path | None = None, adaptor_from: Path | None = None) -> Path:
    """The trained parts + manifest into the package (offline_assets/llama_omni_tiny/): the adaptor of `stage1`
    (or of the weights in `adaptor_from`) and the best speech decoder of `decoder`."""
    from safetensors.torch import load_file

    from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration
    from offline_assets.embedded import DEFAULT_ARCHITECTURE, DEFAULT_VOCODER, MODEL_WEIGHTS, write_weights
    from trainers.stages.phoneme_decoder import load_phoneme_decoder

    from trainers.stages.lexicon_readout import LexiconReadout, lexicon_readout_model

    if adaptor_from is not None and _whisper_mode(work):
        raise ValueError(f"{work / 'init'} was made for the Whisper read-out, whose adaptor is Whisper's own decoder: "
                         "--adaptor-from takes a trained adaptor; use another --work-dir")
    source_manifest = {}
    if adaptor_from is not None and (adaptor_from / "manifest.json").is_file():
        source_manifest = json.loads((adaptor_from / "manifest.json").read_text())
    source_lexicon = source_manifest.get("architecture", {}).get("speech_adaptor_lexicon")
    head_prefix = "model.speech_adaptor.phoneme_"
    lexicon = None  # (the weights holding the acoustic head, the read-out's settings, its buffers)
    if _lexicon_mode(work) and adaptor_from is None:  # the warm-up's acoustic head + the lexicon step's read-out
        if _done(work / "lexicon") is None:
            raise FileNotFoundError(f"{work / 'lexicon'} is not complete: run the lexicon step before the export")
        lexicon = (load_file(str(work / "warmup" / "model.safetensors")),
                   json.loads((work / "lexicon" / "settings.json").read_text()),
                   load_file(str(work / "lexicon" / "readout.safetensors")))
    elif source_lexicon is not None:  # an earlier export's lexicon read-out (head and read-out buffers)
        weights = load_file(str(adaptor_from / MODEL_WEIGHTS))
        prefix = "model.speech_adaptor."
        lexicon = (weights, source_lexicon, {k[len(prefix):]: v for k, v in weights.items()
                                             if k.startswith(prefix) and not k.startswith(head_prefix)})
    if lexicon is not None:
        weights, settings, buffers = lexicon
        head = {k: v for k, v in weights.items() if k.startswith(head_prefix)}
        if not head:
            raise ValueError("the lexicon read-out's acoustic head is missing (no model.speech_adaptor.phoneme_* "
                             "weights): warm it up with --adaptor lexicon or phonetic")
        model, _ = _decoder_model(work)
        model.load_state_dict(head, strict=False)
        model = lexicon_readout_model(model, LexiconReadout(settings, buffers, [], {}))
        adaptor_source = None if adaptor_from is None else {"adaptor_from": str(adaptor_from),
                                                            "manifest": source_manifest.get("training", {})}
    elif adaptor_from is not None:
        adaptor = {k: v for k, v in load_file(str(adaptor_from / MODEL_WEIGHTS)).items()
                   if k.startswith("model.speech_adaptor.")}
        if not adaptor:
            raise ValueError(f"{adaptor_from / MODEL_WEIGHTS} holds no speech adaptor weights")
        model, _ = _decoder_model(work)
        missing = set(k for k in model.state_dict() if k.startswith("model.speech_adaptor.")) - set(adaptor)
        if missing:
            raise ValueError(f"{adaptor_from / MODEL_WEIGHTS} lacks adaptor weights {sorted(missing)[:3]}")
        model.load_state_dict(adaptor, strict=False)
        adaptor_source = {"adaptor_from": str(adaptor_from),
                          "manifest": source_manifest.get("training", {}) if source_manifest else None}
    elif _whisper_mode(work):  # the init model's adaptor is Whisper's decoder as it is
        model, _ = _decoder_model(work)
        adaptor_source = None
    else:
        model = LlamaOmniForConditionalGeneration.from_pretrained(str(work / "stage1"))
        adaptor_source = None
    load_phoneme_decoder(model, work / "decoder" / "best")
    training = {
        "command": "llama-omni build-default",
        "speech": (_done(work / "speech") or {}),
        "corpus": {k: v for k, v in (_done(work / "corpus") or {}).items() if k in ("counts", "timings")},
        "states": (_done(work / "state_cache") or {}),
        "decoder": (_done(work / "decoder") or {}),
    }
    if adaptor_source is not None:  # the adaptor's own training record is the earlier export's
        training["adaptor"] = adaptor_source
    elif _whisper_mode(work):
        training.pop("speech")  # the adaptor's speech is not built
        training["adaptor"] = {"whisper_readout": "Whisper-base's own decoder, untrained here"}
    elif _lexicon_mode(work):
        training["warmup"] = _done(work / "warmup") or {}
        training["lexicon"] = _done(work / "lexicon") or {}
    else:
        training["warmup"] = _done(work / "warmup") or {}
        training["stage1"] = {k: v for k, v in (_done(work / "stage1") or {}).items() if k != "log_history"}
    settings = {"default_system_prompt": embedded_system_prompt(), "default_instruction": "<speech>",
                "generation": dict(EMBEDDED_GENERATION)}
    architecture = {**DEFAULT_ARCHITECTURE, **EMBEDDED_PENALTIES}
    if model.config.speech_adaptor_whisper_readout is not None:
        architecture.pop("speech_adaptor_hidden_size", None)
    if model.config.speech_decoder_type == "ar":  # the decoder step's autoregressive decoder, as it was trained
        for name in ("speech_decoder", "ctc_upsample_factor", "speech_decoder_token_embeddings",
                     "speech_decoder_token_residuals", "speech_decoder_token_phonemes"):
            architecture.pop(name, None)
        names = ar_decoder_fields(model.config.text_config, model.config.unit_vocab_size)  # the fields it sets
        architecture.update({name: getattr(model.config, name) for name in names if name != "tts_config"})
        tts_config = model.config.tts_config.to_dict()
        architecture["tts_config"] = {name: tts_config[name] for name in names["tts_config"]}
    defaults = LlamaOmniConfig()
    names = ("speech_adaptor_num_layers", *PHONETIC_ADAPTOR, "speech_adaptor_phoneme_context", "speech_adaptor_lexicon")
    if model.config.speech_adaptor_lexicon is not None:  # only the acoustic head's settings matter
        names = ("speech_adaptor_phonemes", "speech_adaptor_hidden_size", "speech_adaptor_phoneme_context",
                 "speech_adaptor_lexicon")
    if model.config.speech_adaptor_whisper_readout is not None:  # Whisper's decoder: its settings alone
        names = ("speech_adaptor_whisper_readout",)
    for name in names:  # the adaptor's own settings, where they differ
        if getattr(model.config, name) != getattr(defaults, name) or name in architecture:
            architecture[name] = getattr(model.config, name)
    folder = write_weights(model, settings, DEFAULT_VOCODER, architecture, training, weights_dir=weights_dir)
    _log(f"export: wrote {folder}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llama-omni build-default", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", default="outputs/embedded", help="where the data and checkpoints go")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"comma-separated subset of {','.join(STEPS)} (default: all)")
    parser.add_argument("--warmup-minutes", type=float, default=25.0,
                        help="wall-time budget of the CTC warm-up (it also stops after WARMUP_TRAINING max_epochs)")
    parser.add_argument("--stage1-minutes", type=float, default=50.0, help="wall-time budget of stage 1")
    parser.add_argument("--repeat-fraction", type=float, default=REPEAT_FRACTION,
                        help="stage 1's 'repeat what I said' rows, as a fraction of its answered rows (0: none)")
    parser.add_argument("--corpus-questions", type=int, default=CORPUS_QUESTIONS,
                        help="template questions SmolLM2 answers for the speech decoder's corpus")
    parser.add_argument("--decoder-minutes", type=float, default=75.0,
                        help="wall-time budget of the speech decoder's training")
    parser.add_argument("--decoder-steps", type=int, default=DECODER_STEPS,
                        help="optimizer steps of the speech decoder (the learning-rate schedule's length)")
    parser.add_argument("--adaptor-from", default=None,
                        help="export the adaptor of these weights (a folder with model.safetensors, e.g. an earlier "
                             "export) instead of the stage1 step's")
    parser.add_argument("--adaptor-layers", type=int, default=None,
                        help="Transformer layers inside the speech adaptor (speech_adaptor_num_layers; default: the "
                             "shipped architecture's)")
    parser.add_argument("--acoustic-context", type=int, default=None,
                        help="encoder frames on each side that the phonetic acoustic head reads with each frame "
                             "(speech_adaptor_phoneme_context; default: LEXICON_ADAPTOR's 3 for the lexicon read-out, "
                             "1 for the phonetic adaptor)")
    parser.add_argument("--adaptor", choices=ADAPTORS, default=SHIPPED_ADAPTOR,
                        help="the speech adaptor: 'whisper' (the shipped one, LlamaOmniWhisperReadoutAdaptor: "
                             "Whisper-base's own decoder transcribes the speech and the LLM reads the transcript's "
                             "tokens; nothing to train, so the speech, warmup, lexicon and stage1 steps are skipped), "
                             "'lexicon' (v3-v5's, LlamaOmniLexiconAdaptor: the warm-up "
                             "trains a phonetic acoustic head alone, the lexicon step builds the word lexicon and "
                             "bigram model it is read out with, no stage 1), 'mlp' (the released adaptor: warm-up "
                             "and stage 1) or 'phonetic' (PHONETIC_ADAPTOR: phoneme posteriors, then the LLM's "
                             "embeddings; its warm-up also learns from the corpus's written sentences)")
    parser.add_argument("--phonetic-adaptor", action="store_const", const="phonetic", dest="adaptor",
                        help="the same as --adaptor phonetic")
    parser.add_argument("--speech-decoder", choices=SPEECH_DECODERS, default="ctc",
                        help="the decoder step's speech decoder: 'ctc' (the shipped one) or 'ar' (LLaMA-Omni2's "
                             "autoregressive decoder on the same phoneme units, AR_DECODER; not shipped); the export "
                             "takes whichever the decoder step trained")
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
        if step in UNTRAINED_ADAPTOR_STEPS and _whisper_mode(work):
            _log(f"{step}: skipped (the Whisper read-out adaptor is Whisper's own decoder; nothing to build or train)")
        elif step == "speech":
            step_speech(work)
        elif step == "init":
            step_init(work, args.adaptor_layers, args.adaptor == "phonetic", args.adaptor == "lexicon",
                      args.acoustic_context, whisper=args.adaptor == "whisper")
        elif step == "warmup":
            step_warmup(work, args.warmup_minutes)
        elif step == "lexicon":
            step_lexicon(work)
        elif step == "stage1" and _lexicon_mode(work):
            _log("stage1: skipped (the lexicon read-out gives the LLM its own tokens; nothing to train)")
        elif step == "stage1":
            start_from = work / "warmup" if _done(work / "warmup") else work / "init"
            data = stage1_set(work, args.repeat_fraction)
            extra = (["--instruction_column", "task_prompt", "--encoder_cache_key_column", "audio_id"]
                     if args.repeat_fraction > 0 else [])
            _train_stage("stage1", work, start_from, args.stage1_minutes, extra, data=data)
        elif step == "corpus":
            step_corpus(work, args.corpus_questions)
        elif step == "states":
            step_states(work)
        elif step == "decoder":
            step_decoder(work, args.decoder_minutes, args.decoder_steps, args.speech_decoder)
        elif step == "export":
            step_export(work, Path(args.weights_dir) if args.weights_dir else None,
                        Path(args.adaptor_from) if args.adaptor_from else None)
        _log(f"step {step} done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
