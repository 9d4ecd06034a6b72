# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Tiny, offline, deterministic components for tests: tokenizer, feature extractor, processor, synthetic speech.

Nothing here touches the network: the tokenizer is a byte-level BPE trained in memory on a small English corpus.
"""

from __future__ import annotations

import functools
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import numpy as np  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, WhisperFeatureExtractor  # noqa: E402

from processing.processing_llama_omni import (  # noqa: E402
    DEFAULT_INSTRUCTION,
    DEFAULT_SYSTEM_PROMPT,
    SPEECH_TOKEN,
    LlamaOmniProcessor,
)

BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|end_of_text|>"
EOT_TOKEN = "<|eot_id|>"
PAD_TOKEN = "<|finetune_right_pad_id|>"
HEADER_START = "<|start_header_id|>"
HEADER_END = "<|end_header_id|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# Order fixes the ids: 0 .. len-1.
SPECIAL_TOKENS = [BOS_TOKEN, EOS_TOKEN, HEADER_START, HEADER_END, EOT_TOKEN, PAD_TOKEN, IM_START, IM_END, SPEECH_TOKEN]

TINY_VOCAB_SIZE = 400  # including the 256 byte-level symbols and the special tokens; well under 512

_CORPUS = [
    DEFAULT_SYSTEM_PROMPT,
    DEFAULT_INSTRUCTION.replace(SPEECH_TOKEN, ""),
    "system user assistant",
    "The quick brown fox jumps over the lazy dog. What is the weather like today? It is sunny and warm.",
    "Hello, how are you? I am fine, thank you. Can you tell me a story about a cat and a dog?",
    "Once upon a time there was a little girl who lived in a small house near the forest with her mother.",
    "Please answer the question. The answer is yes. The answer is no. I do not know the answer to that one.",
    "What time is it? It is nine o'clock in the morning. Let us go to the park and play with the children.",
    "Speech recognition turns spoken words into written text. A language model writes the reply word by word.",
    "The capital of France is Paris. The capital of Japan is Tokyo. The sun rises in the east every day.",
    "one two three four five six seven eight nine ten eleven twelve hundred thousand first second third",
    "red green blue yellow black white orange purple big small long short hot cold new old good bad happy sad",
    "water food music book school friend family city country world people house money night week year",
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July",
    "I think we should read more books, drink more water and sleep well every night to stay healthy.",
    "Could you help me with my homework? Sure, I would be glad to help. Which subject is it? It is math.",
    "Tell me a joke. Why did the chicken cross the road? To get to the other side!",
    "How many legs does a spider have? A spider has eight legs. How many days are in a week? Seven.",
]


@functools.lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return tok.to_str()


def make_tiny_tokenizer(save_dir: str | os.PathLike | None = None) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (< 512 ids, any text encodes) with the Llama-3 special tokens, ChatML's
    `<|im_start|>`/`<|im_end|>`, a pad token and `<speech>` (added special tokens). Built offline, deterministic.
    Saved to `save_dir` when given."""
    tok = Tokenizer.from_str(_tokenizer_json())
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOT_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[HEADER_START, HEADER_END, EOS_TOKEN, IM_START, IM_END, SPEECH_TOKEN],
        padding_side="right",
        model_max_length=4096,
    )
    if save_dir is not None:
        tokenizer.save_pretrained(save_dir)
    return tokenizer


def make_tiny_feature_extractor(num_mel_bins: int = 80) -> WhisperFeatureExtractor:
    """Whisper's feature extractor (16 kHz, hop 160, 30 s chunks) with `num_mel_bins` (80: v2, 128: v3)."""
    return WhisperFeatureExtractor(feature_size=num_mel_bins, sampling_rate=16000, hop_length=160, chunk_length=30)


def make_tiny_processor(num_mel_bins: int = 80, **kwargs) -> LlamaOmniProcessor:
    """A LlamaOmniProcessor on the tiny tokenizer and a Whisper feature extractor; kwargs go to its __init__."""
    return LlamaOmniProcessor(make_tiny_feature_extractor(num_mel_bins), make_tiny_tokenizer(), **kwargs)


def make_speech(seconds: float, sr: int = 16000, seed: int = 0) -> np.ndarray:
    """A deterministic voiced-like signal: harmonics of a gliding ~100-220 Hz pitch, formant-shaped, with a
    syllable-rate (~4 Hz) amplitude envelope and a little noise. float32, 1-D, peak 0.5."""
    n = int(round(seconds * sr))
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64) / sr
    f0_base = 100.0 + 120.0 * rng.random()
    f0 = f0_base * (1.0 + 0.08 * np.sin(2 * np.pi * (0.7 + 0.6 * rng.random()) * t + rng.random() * 6.28))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    formants = 300.0 + 2200.0 * rng.random(3)
    x = np.zeros(n)
    for k in range(1, 16):
        fk = k * f0_base
        if fk > sr / 2 - 200:
            break
        gain = sum(np.exp(-(((fk - f) / 250.0) ** 2)) for f in formants) + 0.3 / k
        x += gain * np.sin(k * phase + rng.random() * 6.28)
    rate = 3.0 + 2.0 * rng.random()
    env = 0.55 + 0.45 * np.sin(2 * np.pi * rate * t + rng.random() * 6.28)
    x = x * env ** 2 + 0.02 * rng.standard_normal(n)
    x = 0.5 * x / np.max(np.abs(x))
    return x.astype(np.float32)


__all__ = [
    "BOS_TOKEN",
    "EOS_TOKEN",
    "EOT_TOKEN",
    "PAD_TOKEN",
    "SPECIAL_TOKENS",
    "make_speech",
    "make_tiny_feature_extractor",
    "make_tiny_processor",
    "make_tiny_tokenizer",
]
