# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""
Builds the lexicon read-out of a phonetic speech adaptor (`LlamaOmniConfig.speech_adaptor_lexicon`,
`modeling_llama_omni.lexicon_readout.LlamaOmniLexiconAdaptor`) from text: the words of a training corpus and the
whole words of the LLM's vocabulary, each with espeak-ng's units (Piper joe's phoneme ids), its token ids, its usual
casing, and a word bigram model of the corpus.

    build_lexicon_readout(texts, tokenizer) -> LexiconReadout(settings, buffers)
    lexicon_readout_model(phonetic_model, readout) -> a model whose adaptor reads the speech out as words
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

WORD = re.compile(r"[A-Za-z][A-Za-z']*")
"""A word of the lexicon: letters, with apostrophes inside ("what's", "don't")."""

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

STRESS_MARKS = ("ˈ", "ˌ")
"""Units the read-out folds into the blank: the stress marks depend on the word's place in the sentence."""


@dataclass
class LexiconReadout:
    """A built read-out: `settings` (the config's `speech_adaptor_lexicon`) and `buffers` (the adaptor's buffers,
    by name), with `words` (the lexicon's words, in buffer order) and `stats`."""

    settings: dict[str, Any]
    buffers: dict[str, torch.Tensor]
    words: list[str]
    stats: dict[str, Any]


def _sentences(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        for sentence in SENTENCE_END.split(text.strip()):
            if sentence:
                yield sentence


def _espeak_units(id_map: dict[str, int] | None, voice: str) -> tuple[Callable[[str], list[int]], int, list[int]]:
    """espeak-ng's units of a word said alone (punctuation and special symbols left out), the space unit and the
    stress marks, in Piper joe's ids (or `id_map`'s)."""
    from processing.instructs2s.phonemes import (
        SILENT_SYMBOLS,
        SPECIAL_SYMBOLS,
        default_phonemizer,
        load_phoneme_id_map,
        phonemes_to_units,
        speakable_text,
    )

    id_map = load_phoneme_id_map() if id_map is None else id_map
    silent = {i for s, i in id_map.items() if s in SILENT_SYMBOLS or s in SPECIAL_SYMBOLS}
    phonemizer = default_phonemizer(voice)

    def units(word: str) -> list[int]:
        speakable = speakable_text(word)
        if not speakable:
            return []
        return [u for u in phonemes_to_units(phonemizer.phonemize(speakable), id_map) if u not in silent]

    return units, id_map[" "], [id_map[s] for s in STRESS_MARKS if s in id_map]


def build_lexicon_readout(
    texts: Iterable[str],
    tokenizer: Any,
    id_map: dict[str, int] | None = None,
    phonemize: Callable[[str], list[int]] | None = None,
    space_unit: int | None = None,
    blank_like_units: list[int] | None = None,
    vocabulary_words: bool = True,
    max_units: int = 24,
    max_tokens: int = 8,
    voice: str = "en-us",
    decoding: dict[str, Any] | None = None,
) -> LexiconReadout:
    """
    The lexicon and bigram model of the read-out, from `texts` (sentences or paragraphs of the training text).

    Args:
        texts: the training text: the words it has, their casing, the bigram counts and which sentence-initial words
            start questions come from it.
        tokenizer: the LLM's tokenizer (each word's token ids, in the middle of a sentence: " Word", and at its
            start: "Word"; its whole-word tokens join the lexicon with `vocabulary_words`).
        id_map: the phoneme id map (default: Piper joe's).
        phonemize: a word -> its units, instead of espeak-ng with `id_map` (then give `space_unit`, the word
            separator, and `blank_like_units`, units the read-out folds into the blank; default none).
        vocabulary_words: add the vocabulary's whole words ("ĠNorway"), so that a name the texts never had can
            still be read out (with a small unigram weight, higher for earlier, more frequent, merges).
        max_units, max_tokens: the most units and token ids per word (longer words are left out).
        voice: espeak-ng's voice.
        decoding: decoding settings to store (see `lexicon_readout.LEXICON_DECODING`).

    Raises:
        ValueError: no word in `texts`, no word that fits `max_units` / `max_tokens`, or a custom `phonemize`
            without its `space_unit`.
    """
    if phonemize is None:
        phonemize, space, stress = _espeak_units(id_map, voice)
    else:
        if space_unit is None:
            raise ValueError("a custom phonemize needs its space_unit (the word separator)")
        space, stress = space_unit, list(blank_like_units or [])

    counts: Counter[str] = Counter()
    casing: dict[str, Counter[str]] = defaultdict(Counter)
    bigrams: Counter[tuple[str, str]] = Counter()
    starts: dict[str, Counter[bool]] = defaultdict(Counter)
    for sentence in _sentences(texts):
        words = WORD.findall(sentence.replace("’", "'"))
        if not words:
            continue
        lower = [w.lower() for w in words]
        counts.update(lower)
        for w in words[1:]:
            casing[w.lower()][w] += 1
        starts[lower[0]][sentence.rstrip().endswith("?")] += 1
        bigrams.update(zip(["<s>", *lower], lower))
    if not counts:
        raise ValueError("the texts have no words to build a lexicon from")

    vocabulary: dict[str, tuple[str, int]] = {}
    if vocabulary_words:
        for token, index in tokenizer.get_vocab().items():
            if token.startswith("Ġ") and re.fullmatch(r"[A-Za-z]+", token[1:]):
                word = token[1:]
                if len(word) == 1 and word.lower() not in ("a", "i"):
                    continue
                key = word.lower()
                # the lowercase form wins, then the most frequent (lowest id) one
                rank = (word != key, index)
                if key not in vocabulary or rank < (vocabulary[key][0] != key, vocabulary[key][1]):
                    vocabulary[key] = (word, index)

    total = sum(counts.values())
    entries: list[tuple] = []
    for word in sorted(set(counts) | set(vocabulary)):
        units = [u for u in phonemize(word) if u != space and u not in stress]
        if not units or len(units) > max_units:
            continue
        if casing.get(word):
            middle = casing[word].most_common(1)[0][0]
        elif word in vocabulary:
            middle = vocabulary[word][0]
        else:
            middle = word
        if middle == "i":
            middle = "I"
        initial = middle[0].upper() + middle[1:]
        tokens = tokenizer(" " + middle, add_special_tokens=False)["input_ids"]
        initial_tokens = tokenizer(initial, add_special_tokens=False)["input_ids"]
        if len(tokens) > max_tokens or len(initial_tokens) > max_tokens:
            continue
        # the texts' count, or for a vocabulary-only word a pseudo-count below one (earlier merges: more)
        pseudo = 0.5 * math.exp(-vocabulary[word][1] / 20000) if word in vocabulary else 0.0
        mass = counts.get(word, 0) + pseudo + 0.01
        question = starts[word][True] > starts[word][False] if word in starts else False
        entries.append((word, units, tokens, initial_tokens, mass, question))

    if not entries:
        raise ValueError("no word of the texts (or the vocabulary) has units and fits max_units / max_tokens")
    norm = math.log(sum(e[4] for e in entries))
    entries = [(w, u, t, i, math.log(mass) - norm, q) for w, u, t, i, mass, q in entries]
    index = {e[0]: i for i, e in enumerate(entries)}
    size = len(entries)
    pairs = [((index[a] if a != "<s>" else size), index[b], c) for (a, b), c in bigrams.items()
             if (a == "<s>" or a in index) and b in index]
    context = torch.zeros(size + 1)
    for a, _, c in pairs:
        context[a] += c

    def table(rows: list[list[int]], width: int, dtype: torch.dtype) -> torch.Tensor:
        out = torch.full((len(rows), width), -1, dtype=dtype)
        for i, row in enumerate(rows):
            out[i, : len(row)] = torch.tensor(row, dtype=dtype)
        return out

    question_mark = tokenizer("?", add_special_tokens=False)["input_ids"]
    full_stop = tokenizer(".", add_special_tokens=False)["input_ids"]
    settings = {
        "size": size, "max_units": max(len(e[1]) for e in entries), "max_tokens": max(max(len(e[2]), len(e[3]))
                                                                                    for e in entries),
        "bigrams": max(len(pairs), 1), "space_unit": space, "blank_like_units": stress,
        "question_token_id": question_mark[-1], "statement_token_id": full_stop[-1],
        **(decoding or {}),
    }
    bigram_tensor = torch.zeros(settings["bigrams"], 2, dtype=torch.int32)
    bigram_counts = torch.zeros(settings["bigrams"])
    if pairs:
        bigram_tensor[: len(pairs)] = torch.tensor([(a, b) for a, b, _ in pairs], dtype=torch.int32)
        bigram_counts[: len(pairs)] = torch.tensor([c for _, _, c in pairs], dtype=torch.float32)
    buffers = {
        "lexicon_units": table([e[1] for e in entries], settings["max_units"], torch.int16),
        "lexicon_tokens": table([e[2] for e in entries], settings["max_tokens"], torch.int32),
        "lexicon_initial_tokens": table([e[3] for e in entries], settings["max_tokens"], torch.int32),
        "lexicon_question_start": torch.tensor([e[5] for e in entries], dtype=torch.bool),
        "lm_unigram": torch.tensor([e[4] for e in entries], dtype=torch.float32),
        "lm_context_counts": context,
        "lm_bigrams": bigram_tensor,
        "lm_bigram_counts": bigram_counts,
    }
    stats = {"words": size, "text_words": len(counts), "vocabulary_words": len(vocabulary), "bigrams": len(pairs),
             "running_words": total}
    return LexiconReadout(settings, buffers, [e[0] for e in entries], stats)


def lexicon_readout_model(model: torch.nn.Module, readout: LexiconReadout) -> torch.nn.Module:
    """
    A copy of `model` (a `LlamaOmniForConditionalGeneration` with a phonetic adaptor, e.g. after its warm-up) whose
    adaptor is the lexicon read-out of `readout`, with `model`'s acoustic head; everything else is shared as is.

    Raises:
        ValueError: `model` has no phonetic adaptor (`speech_adaptor_phonemes` is 0).
    """
    from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration

    if not getattr(model.config, "speech_adaptor_phonemes", 0):
        raise ValueError("the lexicon read-out needs a phonetic adaptor's acoustic head (speech_adaptor_phonemes > 0)")
    config = LlamaOmniConfig.from_dict({**model.config.to_dict(), "speech_adaptor_lexicon": readout.settings})
    new = LlamaOmniForConditionalGeneration(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("model.speech_adaptor.")}
    head = {k: v for k, v in model.state_dict().items()
            if k.startswith(("model.speech_adaptor.phoneme_in.", "model.speech_adaptor.phoneme_mid.",
                             "model.speech_adaptor.phoneme_out."))}
    state.update(head)
    state.update({f"model.speech_adaptor.{name}": value for name, value in readout.buffers.items()})
    new.load_state_dict(state, strict=True)
    new.generation_config = model.generation_config
    return new.eval()


__all__ = ["LexiconReadout", "build_lexicon_readout", "lexicon_readout_model"]
