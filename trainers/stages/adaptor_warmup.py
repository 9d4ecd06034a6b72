# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""
A CTC warm-up of the speech adaptor against the LLM's own token embeddings, before stage 1.

Stage 1 teaches the adaptor through the whole frozen LLM: one forward and backward pass of the LLM per example,
and the only signal is the likelihood of the answer. On a CPU budget that is slow to get going (the LLM ignores the
question for a long time). This warm-up gives the adaptor a direct, dense and ~50x cheaper target first: each
adaptor frame is scored against every token of the LLM's input-embedding matrix by cosine similarity (plus one
learned CTC blank), and a CTC loss asks the frames to spell the spoken question's transcript in the LLM's tokens.
A norm term keeps the frames at the typical length of a token embedding. After it, the adaptor's frames already
sit near the embeddings of the words spoken (with blank-like frames between them), so stage 1 starts from a
speech prefix the LLM can partly read instead of from noise. Only the adaptor's weights are kept; the blank
vector and the similarity scale are training-only and discarded, so the model's architecture does not change.
(The idea of reading a speech encoder's CTC posteriors over an LLM's vocabulary as soft tokens is LegoSLM's,
Ma et al. 2025; here CTC is only a warm-up objective.)

With a phonetic adaptor (`LlamaOmniConfig.speech_adaptor_phonemes > 0`, `LlamaOmniPhoneticAdaptor`) the warm-up has
up to three phases: the part after the phoneme posteriors first learns from written text alone (`text_corpus`: the
espeak-ng phonemes of each sentence, as simulated CTC posteriors: `simulate_posteriors`), then the acoustic head
learns the spoken questions' phonemes (a phoneme CTC loss), then both learn together on the speech (phoneme CTC +
the token CTC above through the whole adaptor), each step also taking a text batch so that the spelling of words the
speech never contained is kept.

The frozen speech encoder's outputs are cached on disk (`trainers.stages.caches.EncoderOutputCache`, shareable
with stage 1 and stage 2 through their `encoder_cache_dir`).

    from trainers.stages.adaptor_warmup import AdaptorWarmupConfig, warmup_adaptor
    metrics = warmup_adaptor("outputs/embedded/init", dataset_dict, AdaptorWarmupConfig(output_dir="warm"))
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import time
from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from modeling_llama_omni import LlamaOmniPhoneticAdaptor, ctc_greedy_collapse

from .phoneme_decoder import phoneme_error_rate

DONE_NAME = "warmup_summary.json"


@dataclass
class AdaptorWarmupConfig:
    """
    Settings of `warmup_adaptor`.

    Parameters:
        output_dir: where the warmed-up model folder (model + processor) and `warmup_summary.json` are written.
        encoder_cache_dir: the encoder-output cache (default `<output_dir>/encoder_cache`).
        speech_column / text_column / id_column: the spoken instruction, its transcript and the unique example id.
        train_split / eval_split: splits of the dataset dict; `eval_split` (optional) is only decoded for the report.
        max_minutes: wall-time budget; training stops at the end of the step that passes it. 0 (with
            `phoneme_only_minutes`) trains only a phonetic adaptor's acoustic head: what a lexicon read-out uses.
        max_epochs: upper bound on passes over the training split in the last phase (a pass begun in a phonetic
            adaptor's phoneme-only phase is finished first; the log's epochs count every pass).
        batch_size, learning_rate, warmup_steps, max_grad_norm: the optimisation (AdamW, linear warm-up, then
            constant).
        norm_weight: weight of the frame-norm term (squared relative deviation from the median embedding norm).
        init_scale: initial cosine-similarity scale (a learned temperature, in log space).
        head_vocabulary: the classes each training step scores: `"full"` (every token of the LLM's vocabulary; the
            report always decodes over all of them) or `"batch"` (the tokens of the batch's transcripts plus
            `negatives` tokens drawn at random: a sampled softmax, several times cheaper per step on a 49k vocabulary).
        negatives: random extra tokens per step with `head_vocabulary="batch"`.
        bf16: run the head's similarity matrix in bfloat16 autocast (the CTC loss stays in float32).
        phoneme_weight: weight of the phoneme CTC loss (phonetic adaptors only).
        text_only_minutes: phase 1 of a phonetic adaptor: minutes of text-only steps (needs `text_corpus`).
        phoneme_only_minutes: phase 2 of a phonetic adaptor: minutes of phoneme-CTC-only steps on the speech.
            Phase 3 (both losses on the speech, plus a text batch per step when there is a `text_corpus`) runs for
            `max_minutes` / `max_epochs`.
        text_batch_size: sentences per text batch.
        time_masks / time_mask_frames: SpecAugment-style masking of the cached encoder outputs in training (never in
            the report): each utterance gets `time_masks` spans of 0..`time_mask_frames` encoder frames (20 ms each)
            set to zero.
        feature_masks / feature_mask_width: likewise `feature_masks` bands of 0..`feature_mask_width` channels of
            every frame.
        state_dropout: dropout on the (masked) encoder outputs before the adaptor, in training. The three are off by
            default; they regularise the acoustic head, which otherwise learns its training voices' sounds by heart.
        eval_examples: how many examples of each split are greedily decoded for the report.
        logging_steps: steps between log lines.
        seed: shuffling and initialisation.
    """

    output_dir: str
    encoder_cache_dir: str | None = None
    speech_column: str = "speech_instruction"
    text_column: str = "instruction"
    id_column: str = "id"
    train_split: str = "train"
    eval_split: str | None = "test"
    max_minutes: float = 8.0
    max_epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    max_grad_norm: float = 1.0
    norm_weight: float = 0.5
    init_scale: float = 10.0
    head_vocabulary: str = "full"
    negatives: int = 4096
    bf16: bool = False
    phoneme_weight: float = 1.0
    text_only_minutes: float = 0.0
    phoneme_only_minutes: float = 0.0
    text_batch_size: int = 32
    time_masks: int = 0
    time_mask_frames: int = 0
    feature_masks: int = 0
    feature_mask_width: int = 0
    state_dropout: float = 0.0
    eval_examples: int = 64
    logging_steps: int = 25
    seed: int = 0

    def __post_init__(self):
        for name in ("batch_size", "learning_rate", "init_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.max_minutes >= 0 or not (self.max_minutes > 0 or self.phoneme_only_minutes > 0):
            raise ValueError(f"max_minutes must be > 0 (or 0 with phoneme_only_minutes > 0: a phonetic adaptor's "
                             f"acoustic head alone), got {self.max_minutes}")
        if self.head_vocabulary not in ("full", "batch"):
            raise ValueError(f"head_vocabulary must be 'full' or 'batch', got {self.head_vocabulary!r}")
        if self.negatives < 0:
            raise ValueError(f"negatives must be >= 0, got {self.negatives}")
        for name in ("phoneme_weight", "text_only_minutes", "phoneme_only_minutes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("time_masks", "time_mask_frames", "feature_masks", "feature_mask_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.state_dropout < 1.0:
            raise ValueError(f"state_dropout must be in [0, 1), got {self.state_dropout}")
        if self.text_batch_size < 1:
            raise ValueError(f"text_batch_size must be >= 1, got {self.text_batch_size}")
        if self.max_epochs < 1 or self.eval_examples < 0 or self.warmup_steps < 0 or self.norm_weight < 0:
            raise ValueError("max_epochs must be >= 1; eval_examples, warmup_steps and norm_weight >= 0")


class _CTCHead(nn.Module):
    """Cosine similarity of adaptor frames with the (fixed) token embeddings and a learned blank; the blank is the
    last class. The blank is scored apart from the token matrix, so that autograd never builds a gradient for the
    (frozen) vocabulary-sized matrix."""

    def __init__(self, embeddings: torch.Tensor, init_scale: float):
        super().__init__()
        self.register_buffer("tokens", F.normalize(embeddings.detach().float(), dim=-1), persistent=False)
        self.blank = nn.Parameter(embeddings.detach().float().mean(0).clone())
        self.log_scale = nn.Parameter(torch.tensor(math.log(init_scale)))

    def forward(self, frames: torch.Tensor, classes: torch.Tensor | None = None, bf16: bool = False) -> torch.Tensor:
        """Logits `(..., num_classes + 1)` over `classes` (token ids, default all of them) and the blank (last)."""
        unit = F.normalize(frames.float(), dim=-1)
        tokens = self.tokens if classes is None else self.tokens[classes]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and unit.device.type == "cpu"), \
                torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and unit.device.type == "cuda"):
            token_scores = unit @ tokens.T
        blank_score = unit @ F.normalize(self.blank, dim=-1)
        return self.log_scale.exp() * torch.cat([token_scores.float(), blank_score[..., None]], dim=-1)


def _step_classes(targets: list[list[int]], vocab_size: int, negatives: int,
                  generator: torch.Generator) -> tuple[torch.Tensor, list[list[int]]]:
    """The token ids a `"batch"`-vocabulary step scores (the batch's target tokens + `negatives` random ones, sorted,
    unique) and the targets re-indexed into them."""
    present = torch.tensor(sorted({t for target in targets for t in target}), dtype=torch.long)
    if negatives:
        drawn = torch.randint(0, vocab_size, (negatives,), generator=generator)
        present = torch.unique(torch.cat([present, drawn]))
    index = {int(t): i for i, t in enumerate(present.tolist())}
    return present, [[index[t] for t in target] for target in targets]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float | None:
    """Corpus word error rate (jiwer) of `hypotheses` against `references`, both reduced to their lower-case words
    (letters, digits, apostrophes); pairs whose reference has no word are left out; None when none has one."""
    import jiwer

    def words(text: str) -> str:
        return " ".join(re.findall(r"[a-z0-9']+", (text or "").lower()))

    pairs = [(words(r), words(h)) for r, h in zip(references, hypotheses)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return None
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


BLANK_RUNS = (0, 1, 1, 2, 2, 3, 4)
"""Blank frames drawn before each phoneme by `simulate_posteriors`: with the phoneme's own frame(s), ~3 frames per
phoneme, the pace of speech at the encoder's 50 Hz."""


def simulate_posteriors(units: Sequence[int], num_classes: int, rng: random.Random, substitution: float = 0.05,
                        deletion: float = 0.03, repeat: float = 0.2) -> torch.Tensor:
    """
    Posteriors `(frames, num_classes)` that a phoneme CTC (class 0 = blank) might give for the phonemes `units` of a
    written sentence, for teaching the phonetic adaptor from text: each phoneme after a run of blank frames
    (`BLANK_RUNS`), on one frame (two with probability `repeat`) with a confidence drawn in [0.5, 1] and the rest on
    the blank; a phoneme is dropped with probability `deletion` and replaced by another of the sentence with
    probability `substitution`; one blank frame closes the sentence.

    Raises:
        ValueError: a unit outside `1 .. num_classes - 1`.
    """
    if any(not 0 < u < num_classes for u in units):
        raise ValueError(f"phoneme ids must lie in 1..{num_classes - 1} (0 is the blank), got {list(units)}")
    classes: list[int] = []
    confidence: list[float] = []
    for u in units:
        if rng.random() < deletion:
            continue
        if rng.random() < substitution:
            u = units[rng.randrange(len(units))]
        runs = rng.choice(BLANK_RUNS)
        classes += [0] * runs
        confidence += [1.0] * runs
        for _ in range(2 if rng.random() < repeat else 1):
            classes.append(u)
            confidence.append(rng.uniform(0.5, 1.0))
    classes.append(0)
    confidence.append(1.0)
    index = torch.tensor(classes, dtype=torch.long)
    p = torch.tensor(confidence, dtype=torch.float32)
    posteriors = torch.zeros(len(classes), num_classes)
    posteriors[:, 0] = 1.0 - p
    posteriors[torch.arange(len(classes)), index] += p
    return posteriors


def _ctc_fits(target: Sequence[int], frames: int) -> bool:
    """CTC needs a frame per target id, plus one between equal neighbours."""
    return bool(target) and frames >= len(target) + sum(a == b for a, b in zip(target, target[1:]))


def _targets(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


def _batch_states(cache: Any, ids: list[Any], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    states = [cache.get(i).to(dtype) for i in ids]
    lengths = torch.tensor([s.shape[0] for s in states], dtype=torch.long)
    return nn.utils.rnn.pad_sequence(states, batch_first=True), lengths


def augment_states(states: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator, time_masks: int = 0,
                   time_mask_frames: int = 0, feature_masks: int = 0, feature_mask_width: int = 0,
                   dropout: float = 0.0) -> torch.Tensor:
    """
    SpecAugment-style masking of encoder outputs `(batch, frames, channels)` for training (a new tensor; the input is
    left as is): each clip gets `time_masks` spans of 0..`time_mask_frames` frames inside its first `lengths[i]`
    frames, and `feature_masks` bands of 0..`feature_mask_width` channels, set to zero; then dropout with
    probability `dropout` (the kept values scaled by 1 / (1 - dropout)). Widths and places are drawn from
    `generator`, so a seeded run is repeatable.
    """
    if states.dim() != 3 or lengths.shape != states.shape[:1]:
        raise ValueError(f"states must be (batch, frames, channels) with one length per clip, got "
                         f"{tuple(states.shape)} and lengths {tuple(lengths.shape)}")
    batch, frames, channels = states.shape
    keep = torch.ones(batch, frames, channels, dtype=torch.bool)
    for i in range(batch):
        valid = int(min(int(lengths[i]), frames))
        for _ in range(time_masks if time_mask_frames > 0 and valid > 0 else 0):
            width = int(torch.randint(0, min(time_mask_frames, valid) + 1, (1,), generator=generator))
            begin = int(torch.randint(0, valid - width + 1, (1,), generator=generator))
            keep[i, begin : begin + width] = False
        for _ in range(feature_masks if feature_mask_width > 0 else 0):
            width = int(torch.randint(0, min(feature_mask_width, channels) + 1, (1,), generator=generator))
            begin = int(torch.randint(0, channels - width + 1, (1,), generator=generator))
            keep[i, :, begin : begin + width] = False
    if dropout > 0:
        keep &= torch.rand(batch, frames, channels, generator=generator) >= dropout
    out = states * keep.to(states.device, states.dtype)
    return out / (1.0 - dropout) if dropout > 0 else out


@torch.no_grad()
def _greedy_transcripts(model: Any, head: _CTCHead, tokenizer: Any, cache: Any, ids: list[Any],
                        batch_size: int) -> list[str]:
    blank = head.tokens.shape[0]
    dtype = model.model.speech_adaptor.linear1.weight.dtype
    out = []
    for start in range(0, len(ids), batch_size):
        states, lengths = _batch_states(cache, ids[start : start + batch_size], dtype)
        frames, frame_lengths = model.model.get_speech_features(
            speech_encoder_hidden_states=states, speech_encoder_lengths=lengths
        )
        best = head(frames).argmax(-1)
        for row, n in zip(best, frame_lengths.tolist()):
            tokens = ctc_greedy_collapse(row[:n].tolist(), blank_id=blank)
            out.append(tokenizer.decode(tokens, skip_special_tokens=True).strip())
    return out


@torch.no_grad()
def _greedy_phonemes(adaptor: LlamaOmniPhoneticAdaptor, cache: Any, ids: list[Any], batch_size: int) -> list[list[int]]:
    """Greedy CTC read-out of a phonetic adaptor's acoustic head (blank = 0)."""
    dtype = adaptor.linear1.weight.dtype
    out = []
    for start in range(0, len(ids), batch_size):
        states, lengths = _batch_states(cache, ids[start : start + batch_size], dtype)
        usable = lengths - lengths % adaptor.k
        best = adaptor.phoneme_logits(states, usable).argmax(-1)
        out += [ctc_greedy_collapse(row[:n].tolist(), blank_id=0) for row, n in zip(best, usable.tolist())]
    return out


def warmup_adaptor(model: Any, datasets_dict: Any, config: AdaptorWarmupConfig, processor: Any = None,
                   progress: bool = True, text_corpus: Sequence[str] | None = None,
                   phonemize: Callable[[str], Sequence[int]] | None = None) -> dict[str, Any]:
    """
    Trains the speech adaptor of `model` with the CTC objective of this module, then saves the whole model folder
    (everything but the adaptor unchanged) and its processor to `config.output_dir`.

    Args:
        model: a `LlamaOmniForConditionalGeneration` or the path of a model folder.
        datasets_dict: a `datasets.DatasetDict` (or mapping of splits) with the speech, transcript and id columns.
        config: the settings.
        processor: the model's processor (loaded from the folder when `model` is a path).
        progress: show a progress bar.
        text_corpus: written sentences (best a few to ~30 words each) for a phonetic adaptor's text-only learning
            (phase 1, and a text batch in each step of phase 3).
        phonemize: text -> phoneme ids in `1 .. speech_adaptor_phonemes - 1` (default
            `processing.instructs2s.phonemes.spoken_units`, joe's 151 ids without punctuation); phonetic adaptors.

    Returns:
        The summary (also written to `warmup_summary.json`): steps (and per phase), epochs, minutes, first and last
        mean CTC loss, and the greedy CTC word error rate of the adaptor (not when only a phonetic acoustic head
        trains: it spells no tokens) and, phonetic, the phoneme error rate of its acoustic head, on `eval_examples`
        examples of each split before and after.

    Raises:
        ValueError: missing columns, no example whose transcript fits in its adaptor frames, text-only settings for
            an MLP adaptor, or phoneme ids outside the adaptor's classes.
    """
    from tqdm.auto import tqdm

    from .common import load_model_and_processor
    from .caches import EncoderOutputCache, speech_encoder_fingerprint

    model, processor = load_model_and_processor(model, processor)
    train = datasets_dict[config.train_split]
    evaluation = datasets_dict[config.eval_split] if config.eval_split and config.eval_split in datasets_dict else None
    for name, split in (("train", train), ("eval", evaluation)):
        if split is None:
            continue
        missing = {config.speech_column, config.text_column, config.id_column} - set(split.column_names)
        if missing:
            raise ValueError(f"the {name} split lacks the columns {sorted(missing)}; it has {split.column_names}")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    sampler = torch.Generator().manual_seed(config.seed)
    was_training = model.training
    trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    adaptor = model.model.speech_adaptor
    for p in adaptor.parameters():
        p.requires_grad_(True)
    encoder = model.model.speech_encoder
    dtype = next(encoder.parameters()).dtype
    cache = EncoderOutputCache(
        config.encoder_cache_dir or os.path.join(config.output_dir, "encoder_cache"),
        speech_encoder_fingerprint(encoder, processor.feature_extractor, dtype),
    )
    for split in (train, evaluation):
        if split is not None:
            cache.build(encoder, processor, split, speech_column=config.speech_column, id_column=config.id_column)

    tokenizer = processor.tokenizer
    embeddings = model.get_input_embeddings().weight
    head = _CTCHead(embeddings, config.init_scale)
    reference_norm = float(embeddings.detach().float().norm(dim=-1).median())
    k = model.config.speech_downsample_rate
    phonetic = isinstance(adaptor, LlamaOmniPhoneticAdaptor)
    if not phonetic and (text_corpus is not None or config.text_only_minutes or config.phoneme_only_minutes):
        raise ValueError(
            "text_corpus, text_only_minutes and phoneme_only_minutes need a phonetic adaptor "
            "(LlamaOmniConfig.speech_adaptor_phonemes > 0); this model's adaptor is an MLP"
        )
    if config.text_only_minutes and not text_corpus:
        raise ValueError("text_only_minutes > 0 needs a text_corpus (sentences whose phonemes teach the adaptor)")
    phoneme_cache: dict[str, list[int]] = {}

    def phonemes_of(text: str) -> list[int]:
        if text not in phoneme_cache:
            units = list(phonemize(text))
            if any(not 0 < u < adaptor.num_phonemes for u in units):
                raise ValueError(
                    f"phonemize({text[:60]!r}) gave ids outside 1..{adaptor.num_phonemes - 1} (the adaptor's "
                    "speech_adaptor_phonemes classes, 0 = blank)"
                )
            phoneme_cache[text] = units
        return phoneme_cache[text]

    if phonetic and phonemize is None:
        from processing.instructs2s.phonemes import spoken_units as phonemize

    # examples whose transcript fits their frames (CTC needs one frame per token, plus one per repeated token)
    ids, targets = list(train[config.id_column]), _targets(tokenizer, list(train[config.text_column]))
    texts = list(train[config.text_column])
    usable = [i for i, (example_id, target) in enumerate(zip(ids, targets))
              if _ctc_fits(target, cache.get(example_id).shape[0] // k)]
    if not usable:
        raise ValueError("no training example has a transcript that fits its adaptor frames")
    text_items: list[tuple[list[int], list[int]]] = []
    if phonetic:
        for i in tqdm(usable, desc="phonemes of the transcripts", disable=not progress):
            phonemes_of(texts[i])
        for sentence in tqdm(text_corpus or [], desc="phonemes of the text corpus", disable=not progress):
            units, tokens = phonemes_of(sentence), tokenizer(sentence, add_special_tokens=False)["input_ids"]
            if units and tokens:
                text_items.append((units, tokens))
        if text_corpus and not text_items:
            raise ValueError("no sentence of text_corpus has both phonemes and tokens")

    eval_sets = {"train": [ids[i] for i in usable[: config.eval_examples]]}
    eval_texts = {"train": [texts[i] for i in usable[: config.eval_examples]]}
    if evaluation is not None and config.eval_examples:
        n = min(config.eval_examples, len(evaluation))
        eval_sets["eval"] = list(evaluation[config.id_column][:n])
        eval_texts["eval"] = list(evaluation[config.text_column][:n])

    spells = config.max_minutes > 0 or bool(text_items)  # an acoustic head trained alone spells no tokens

    def report() -> dict[str, Any]:
        adaptor.eval()
        result: dict[str, Any] = {}
        for name, split_ids in eval_sets.items():
            if spells:
                hyps = _greedy_transcripts(model, head, tokenizer, cache, split_ids, config.batch_size)
                result[name] = word_error_rate(eval_texts[name], hyps)
                result[f"{name}_example"] = ({"reference": eval_texts[name][0], "greedy_ctc": hyps[0]} if hyps
                                             else None)
            if phonetic and split_ids:
                refs = [phonemes_of(t) for t in eval_texts[name]]
                hyp_units = _greedy_phonemes(adaptor, cache, split_ids, config.batch_size)
                pairs = [(h, r) for h, r in zip(hyp_units, refs) if r]
                result[f"{name}_phoneme_error_rate"] = (
                    phoneme_error_rate([h for h, _ in pairs], [r for _, r in pairs]) if pairs else None
                )
        return result

    before = report()
    params = [*adaptor.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, config.warmup_steps))
    )
    adaptor_dtype = adaptor.linear1.weight.dtype
    text_rng = random.Random(config.seed + 1)

    def token_loss(frames: torch.Tensor, frame_lengths: torch.Tensor,
                   batch_targets: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The token CTC loss of adaptor frames, and the frame-norm term."""
        classes = None
        if config.head_vocabulary == "batch":
            classes, batch_targets = _step_classes(batch_targets, head.tokens.shape[0], config.negatives, sampler)
        logits = head(frames, classes, bf16=config.bf16)
        ctc = F.ctc_loss(
            logits.log_softmax(-1).transpose(0, 1),  # (T, B, C)
            torch.tensor([t for target in batch_targets for t in target], dtype=torch.long),
            frame_lengths,
            torch.tensor([len(t) for t in batch_targets], dtype=torch.long),
            blank=logits.shape[-1] - 1,
            reduction="mean",
            zero_infinity=True,
        )
        mask = torch.arange(frames.shape[1])[None, :] < frame_lengths[:, None]
        ratio = frames.float().norm(dim=-1) / reference_norm
        return ctc, ((ratio - 1.0) ** 2)[mask].mean(), ratio, mask

    def phoneme_loss(logits: torch.Tensor, frame_lengths: torch.Tensor, batch_texts: list[str]) -> torch.Tensor:
        units = [phonemes_of(t) for t in batch_texts]
        return F.ctc_loss(
            logits.float().log_softmax(-1).transpose(0, 1),
            torch.tensor([u for row in units for u in row], dtype=torch.long),
            frame_lengths,
            torch.tensor([len(row) for row in units], dtype=torch.long),
            blank=0,
            reduction="mean",
            zero_infinity=True,
        )

    def text_loss() -> tuple[torch.Tensor, torch.Tensor]:
        """Token CTC + norm term of the adaptor's text path on a batch of simulated posteriors."""
        batch, posteriors = [], []
        for _ in range(50 * config.text_batch_size):
            if len(batch) == config.text_batch_size:
                break
            units, tokens = text_items[text_rng.randrange(len(text_items))]
            simulated = simulate_posteriors(units, adaptor.num_phonemes, text_rng)
            if _ctc_fits(tokens, simulated.shape[0] // k):
                batch.append(tokens)
                posteriors.append(simulated)
        if not batch:
            raise ValueError(
                "the text_corpus sentences have more tokens than their phonemes give adaptor frames (a CTC loss needs "
                "a frame per token): give sentences of ordinary words"
            )
        lengths = torch.tensor([p.shape[0] // k for p in posteriors], dtype=torch.long)
        padded = nn.utils.rnn.pad_sequence(posteriors, batch_first=True).to(adaptor_dtype)
        ctc, norm_loss, _, _ = token_loss(adaptor.embed_phonemes(padded, lengths), lengths, batch)
        return ctc, norm_loss

    augments = bool((config.time_masks and config.time_mask_frames)
                    or (config.feature_masks and config.feature_mask_width) or config.state_dropout)
    start = time.time()
    step, losses, log = 0, [], []
    window: dict[str, list[float]] = {}  # each loss term of the steps since the last log entry
    phase_steps: dict[str, int] = {}
    first_loss = None
    bar = tqdm(desc="adaptor CTC warm-up", unit="step", disable=not progress)
    phases = [("text", config.text_only_minutes), ("phonemes", config.phoneme_only_minutes),
              ("speech", config.max_minutes)]
    order: list[int] = []
    position, epochs_done, passes = 0, 0, 0
    for phase, minutes in phases:
        if not minutes:
            continue
        deadline = time.monotonic() + minutes * 60
        phase_start = step
        while time.monotonic() <= deadline:
            if phase != "text":
                if position >= len(order):  # a new pass over the speech
                    if phase == "speech" and epochs_done >= config.max_epochs:
                        break
                    order, position = usable[:], 0
                    rng.shuffle(order)
                    passes += 1
                    epochs_done += phase == "speech"
                batch = order[position : position + config.batch_size]
                position += len(batch)
            adaptor.train()
            parts: dict[str, torch.Tensor] = {}
            if phase == "text" or (phase == "speech" and text_items):
                parts["text_ctc"], text_norm = text_loss()
                parts["text_norm"] = config.norm_weight * text_norm
            if phase != "text":
                states, lengths = _batch_states(cache, [ids[i] for i in batch], adaptor_dtype)
                if augments:
                    states = augment_states(states, lengths, sampler, config.time_masks, config.time_mask_frames,
                                            config.feature_masks, config.feature_mask_width, config.state_dropout)
                frame_lengths = lengths // k
                if phonetic:
                    logits = adaptor.phoneme_logits(states, frame_lengths * k)
                    parts["phoneme_ctc"] = config.phoneme_weight * phoneme_loss(
                        logits, frame_lengths * k, [texts[i] for i in batch]
                    )
                if phase == "speech":
                    if phonetic:
                        frames = adaptor.embed_phonemes(logits.float().softmax(-1).to(logits.dtype), frame_lengths)
                    else:
                        frames, frame_lengths = model.model.get_speech_features(
                            speech_encoder_hidden_states=states, speech_encoder_lengths=lengths
                        )
                    ctc, norm_loss, ratio, mask = token_loss(frames, frame_lengths, [targets[i] for i in batch])
                    parts["ctc"], parts["norm"] = ctc, config.norm_weight * norm_loss
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            for name, value in parts.items():
                window.setdefault(name, []).append(float(value.detach()))
            if "ctc" in parts:  # the summary's first and final CTC loss: the token CTC on the speech
                losses.append(window["ctc"][-1])
                first_loss = first_loss if first_loss is not None else losses[0]
            bar.update(1)
            if step % config.logging_steps == 0:
                entry = {"step": step, "phase": phase,
                         "epoch": round(passes - 1 + position / max(1, len(order)), 2) if phase != "text"
                         else None,
                         **{name: round(sum(values) / len(values), 4) for name, values in window.items()},
                         "scale": round(float(head.log_scale.detach().exp()), 2)}
                if phase == "speech":
                    entry["norm_ratio"] = round(float(ratio.detach()[mask].mean()), 3)
                log.append(entry)
                window = {}
                bar.set_postfix(phase=phase, **{k: v for k, v in entry.items() if k.endswith("ctc")})
        phase_steps[phase] = step - phase_start
    bar.close()
    after = report()
    tail = losses[-min(len(losses), config.logging_steps):]
    summary = {
        "steps": step,
        "phase_steps": phase_steps,
        "epochs": round((step - phase_steps.get("text", 0)) * config.batch_size / len(usable), 2),
        "text_sentences": len(text_items),
        "minutes": round((time.time() - start) / 60, 1),
        "usable_examples": len(usable),
        "skipped_examples": len(ids) - len(usable),
        "first_ctc_loss": first_loss,
        "final_ctc_loss": sum(tail) / len(tail) if tail else None,
        "greedy_ctc_wer_before": before,
        "greedy_ctc_wer_after": after,
        "config": dataclasses.asdict(config),
        "log_history": log,
    }
    for name, p in model.named_parameters():
        p.requires_grad_(trainable[name])
    model.train(was_training)
    os.makedirs(config.output_dir, exist_ok=True)
    model.save_pretrained(config.output_dir)
    processor.save_pretrained(config.output_dir)
    with open(os.path.join(config.output_dir, DONE_NAME), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    return summary


__all__ = ["AdaptorWarmupConfig", "augment_states", "simulate_posteriors", "warmup_adaptor", "word_error_rate"]
