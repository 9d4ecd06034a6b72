# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""
The lexicon read-out of a phonetic speech adaptor (`LlamaOmniConfig.speech_adaptor_lexicon`): the acoustic head's
phoneme posteriors are read out as words of a pronunciation lexicon, scored by a word bigram model (a beam search
over a lexicon trie, flashlight-text's CTC `LexiconDecoder`), and the words go to the LLM as its own token ids.

Everything the read-out needs is in the model's weights, as buffers: each word's units, its token ids in the middle
and at the start of a sentence, whether a sentence that starts with it is a question, and the bigram counts. The
beam search itself is flashlight-text's (`pip install flashlight-text`), imported only when speech is read out.

This file imports only torch, its sibling `configuration_llama_omni.py` (and flashlight-text, lazily), so that it
can be copied into a model folder with `modeling_llama_omni.py`.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_llama_omni import LEXICON_DECODING, LEXICON_KEYS, check_lexicon_settings

MAX_HOMOPHONES = 6
"""The most words one pronunciation keeps in the read-out's trie (flashlight-text's limit per trie node); the more
frequent ones (by the unigram model) are kept."""


class _BigramLM:
    """The read-out's word bigram model, as a flashlight-text `LM` (built by `_make_lm`, which subclasses it)."""

    def __init__(self, unigram: list[float], context_counts: list[float], bigrams: dict[int, dict[int, float]],
                 interpolation: float):
        self.unigram_prob = [math.exp(x) for x in unigram]
        self.context_counts = context_counts
        self.bigrams = bigrams
        self.interpolation = interpolation
        self.start_context = len(unigram)
        self.last: dict[Any, int] = {}
        self.cache: dict[tuple[int, int], float] = {}

    def log_prob(self, a: int, b: int) -> float:
        value = self.cache.get((a, b))
        if value is None:
            p = self.unigram_prob[b]
            count = self.context_counts[a]
            if count > 0:
                p = self.interpolation * self.bigrams.get(a, {}).get(b, 0.0) / count + (1 - self.interpolation) * p
            value = self.cache[(a, b)] = math.log(max(p, 1e-30))
        return value


def _make_lm(lm_state_class, lm_class, data: _BigramLM):
    class BigramLM(lm_class):
        def __init__(self):
            lm_class.__init__(self)
            self.data = data

        def start(self, start_with_nothing):  # a new read-out: its states and scores only (memory stays bounded)
            state = lm_state_class()
            self.data.last = {state: self.data.start_context}
            self.data.cache.clear()
            return state

        def score(self, state, word):
            child = state.child(word)
            self.data.last[child] = word
            return child, self.data.log_prob(self.data.last.get(state, self.data.start_context), word)

        def finish(self, state):
            return state, 0.0

    return BigramLM()


class PhonemeHeadMixin:
    """The acoustic head of the phonetic adaptors (`LlamaOmniPhoneticAdaptor`, `LlamaOmniLexiconAdaptor`): each
    encoder frame with `config.speech_adaptor_phoneme_context` neighbours on each side (default 1),
    Linear -> GELU -> Linear -> GELU -> Linear, to logits over `config.speech_adaptor_phonemes` classes (class 0: the
    CTC blank)."""

    def _init_phoneme_head(self, config) -> None:
        self.k = config.speech_downsample_rate
        hidden = config.speech_adaptor_hidden_size
        self.num_phonemes = config.speech_adaptor_phonemes
        self.context = getattr(config, "speech_adaptor_phoneme_context", 1)
        self.phoneme_in = nn.Linear((2 * self.context + 1) * config.speech_encoder_config.d_model, hidden)
        self.phoneme_mid = nn.Linear(hidden, hidden)
        self.phoneme_out = nn.Linear(hidden, self.num_phonemes)

    def phoneme_logits(self, encoder_hidden_states: torch.FloatTensor,
                       frame_lengths: torch.LongTensor | None = None) -> torch.FloatTensor:
        """`(batch, frames, d_model)` -> phoneme logits `(batch, frames, speech_adaptor_phonemes)` at the encoder's
        frame rate; frames at or after `frame_lengths` (valid encoder frames per clip) are read as zeros, like the edge
        of an unpadded clip."""
        x = encoder_hidden_states
        if frame_lengths is not None:
            keep = torch.arange(x.shape[1], device=x.device)[None, :] < frame_lengths.to(x.device)[:, None]
            x = x * keep[..., None].to(x.dtype)
        c, frames = self.context, x.shape[1]
        padded = F.pad(x, (0, 0, c, c))
        context = torch.cat([padded[:, i : i + frames] for i in range(2 * c + 1)], dim=-1)
        return self.phoneme_out(F.gelu(self.phoneme_mid(F.gelu(self.phoneme_in(context)))))


class LlamaOmniLexiconAdaptor(PhonemeHeadMixin, nn.Module):
    """
    The lexicon read-out speech adaptor (`LlamaOmniConfig.speech_adaptor_lexicon`): the phonetic adaptor's acoustic
    head (same weights' names, so a phonetic warm-up's head loads as is), and a read-out of its posteriors as
    lexicon words. What the LLM receives is the token ids of those words (`read_out`), embedded by its own table:
    a discrete bottleneck, unlike the released adaptor's continuous embeddings, so that the frozen LLM reads the
    question exactly as it reads text.
    """

    reads_out_tokens = True

    def __init__(self, config):
        super().__init__()
        settings = config.speech_adaptor_lexicon
        check_lexicon_settings(settings, config.speech_adaptor_phonemes)
        self.settings = {**LEXICON_DECODING, **settings}
        self._init_phoneme_head(config)
        size, units, tokens, bigrams = (settings[k] for k in ("size", "max_units", "max_tokens", "bigrams"))
        self.register_buffer("lexicon_units", torch.full((size, units), -1, dtype=torch.int16))
        self.register_buffer("lexicon_tokens", torch.full((size, tokens), -1, dtype=torch.int32))
        self.register_buffer("lexicon_initial_tokens", torch.full((size, tokens), -1, dtype=torch.int32))
        self.register_buffer("lexicon_question_start", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("lm_unigram", torch.full((size,), -30.0))
        self.register_buffer("lm_context_counts", torch.zeros(size + 1))
        self.register_buffer("lm_bigrams", torch.zeros(bigrams, 2, dtype=torch.int32))
        self.register_buffer("lm_bigram_counts", torch.zeros(bigrams))
        self._decoder = None
        self._decoding = threading.Lock()  # one beam search at a time (it keeps state; a server may call from threads)
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.reset_decoder())

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles leave the beam search and its lock behind
        state = self.__dict__.copy()
        state["_decoder"] = None
        state.pop("_decoding", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._decoding = threading.Lock()

    @property
    def dtype(self) -> torch.dtype:
        return self.phoneme_in.weight.dtype

    def reset_decoder(self) -> None:
        """Drops the beam search built from the buffers (it is rebuilt at the next read-out): call it after changing
        the lexicon or bigram buffers in place."""
        self._decoder = None

    def forward(self, *args, **kwargs):
        raise RuntimeError(
            "the lexicon read-out adaptor gives token ids, not embeddings: call read_out(...) (the model's "
            "get_speech_features() embeds them with the LLM's table)"
        )

    def _build_decoder(self):
        try:
            from flashlight.lib.text.decoder import (
                LM, CriterionType, LexiconDecoder, LexiconDecoderOptions, LMState, SmearingMode, Trie,
            )
        except ImportError as error:
            raise ImportError(
                "reading speech out with the lexicon adaptor (speech_adaptor_lexicon) needs flashlight-text's beam "
                "search: pip install flashlight-text"
            ) from error
        s = self.settings
        size = self.lexicon_units.shape[0]
        unigram = self.lm_unigram.float().tolist()
        bigrams: dict[int, dict[int, float]] = {}
        for (a, b), count in zip(self.lm_bigrams.tolist(), self.lm_bigram_counts.tolist()):
            if count > 0:
                bigrams.setdefault(a, {})[b] = count
        data = _BigramLM(unigram, self.lm_context_counts.float().tolist(), bigrams, float(s["bigram_interpolation"]))
        lm = _make_lm(LMState, LM, data)
        space = int(s["space_unit"])
        trie = Trie(self.num_phonemes, space)
        start = lm.start(False)
        homophones: dict[tuple[int, ...], list[int]] = {}
        for word, row in enumerate(self.lexicon_units.tolist()):
            spelling = tuple(u for u in row if u >= 0)
            if spelling:
                homophones.setdefault(spelling, []).append(word)
        for spelling, words in homophones.items():
            # a trie node holds at most MAX_HOMOPHONES words: the most frequent ones
            for word in sorted(words, key=lambda w: -unigram[w])[:MAX_HOMOPHONES]:
                trie.insert([*spelling, space], word, lm.score(start, word)[1])
        trie.smear(SmearingMode.MAX)
        options = LexiconDecoderOptions(
            beam_size=int(s["beam_size"]), beam_size_token=self.num_phonemes, beam_threshold=float(s["beam_threshold"]),
            lm_weight=float(s["lm_weight"]), word_score=float(s["word_score"]), unk_score=float("-inf"),
            sil_score=float(s["sil_score"]), log_add=False, criterion_type=CriterionType.CTC,
        )
        decoder = LexiconDecoder(options, trie, lm, space, 0, size, [], False)
        self._decoder = (decoder, lm)  # the LM must outlive the decoder that holds it
        return decoder

    def _emissions(self, logits: torch.Tensor) -> torch.Tensor:
        """Log-posteriors `(frames, classes)` for the beam search: the blank-like units (stress marks) folded into the
        blank, and one frame of the word separator after the last, so that the last word ends."""
        logp = logits.float().log_softmax(-1)
        blank_like = [int(u) for u in self.settings["blank_like_units"]]
        if blank_like:
            logp[:, 0] = torch.logsumexp(logp[:, [0, *blank_like]], dim=-1)
            logp[:, blank_like] = -1e4
        end = torch.full((1, logp.shape[1]), -1e4)
        end[0, int(self.settings["space_unit"])] = 0.0
        return torch.cat([logp.cpu(), end]).contiguous()

    def read_out_words(self, encoder_hidden_states: torch.FloatTensor,
                       frame_lengths: torch.LongTensor | None = None) -> list[list[int]]:
        """The lexicon word indices read out of each clip (`(batch, frames, d_model)` encoder outputs, the first
        `frame_lengths` frames of each clip valid)."""
        logits = self.phoneme_logits(encoder_hidden_states.to(self.dtype), frame_lengths)
        return self.read_out_logits(logits, frame_lengths)

    def read_out_logits(self, logits: torch.FloatTensor, frame_lengths: torch.LongTensor | None = None
                        ) -> list[list[int]]:
        """The lexicon word indices read out of acoustic-head logits `(batch, frames, num_phonemes)` (or any
        log-posteriors over the same classes), the first `frame_lengths` frames of each clip valid."""
        if logits.dim() != 3 or logits.shape[-1] != self.num_phonemes:
            raise ValueError(f"logits must have shape (batch, frames, {self.num_phonemes}), got {tuple(logits.shape)}")
        batch = logits.shape[0]
        lengths = frame_lengths.tolist() if frame_lengths is not None else [logits.shape[1]] * batch
        size = self.lexicon_units.shape[0]
        words = []
        with self._decoding:
            decoder = self._decoder[0] if self._decoder is not None else self._build_decoder()
            for i in range(batch):
                emissions = self._emissions(logits[i, : int(lengths[i])])
                frames, classes = emissions.shape
                results = decoder.decode(emissions.data_ptr(), frames, classes)
                words.append([w for w in results[0].words if 0 <= w < size] if results else [])
        return words

    def words_to_tokens(self, words: list[int]) -> list[int]:
        """A sentence of lexicon words as the LLM's token ids: the first word in its sentence-initial form, the others
        in their middle form, then the question or statement end (by the first word)."""
        if not words:
            return []
        ids = [t for t in self.lexicon_initial_tokens[words[0]].tolist() if t >= 0]
        for w in words[1:]:
            ids.extend(t for t in self.lexicon_tokens[w].tolist() if t >= 0)
        question = bool(self.lexicon_question_start[words[0]])
        ids.append(int(self.settings["question_token_id" if question else "statement_token_id"]))
        return ids

    @torch.no_grad()
    def read_out(self, encoder_hidden_states: torch.FloatTensor,
                 frame_lengths: torch.LongTensor | None = None) -> list[list[int]]:
        """The LLM token ids of what each clip says (see `read_out_words` and `words_to_tokens`)."""
        return [self.words_to_tokens(w) for w in self.read_out_words(encoder_hidden_states, frame_lengths)]


__all__ = ["LEXICON_DECODING", "LEXICON_KEYS", "LlamaOmniLexiconAdaptor", "PhonemeHeadMixin", "check_lexicon_settings"]
