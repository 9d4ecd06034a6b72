# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni configuration.

This file is self-contained (it imports only transformers and the standard library) so that it can be
copied as-is into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

import re
from typing import Any

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

# "ctc": LLaMA-Omni's non-autoregressive CTC speech decoder; "ar": LLaMA-Omni2's autoregressive TTS language model.
SPEECH_DECODER_TYPES = ("ctc", "ar")
# Which LLM states the speech loss pairs with response tokens: those that predicted them, or those at their positions.
SPEECH_DECODER_ALIGNMENTS = ("predicting", "at_token")
TTS_RNGS = ("own", "global")
# What the autoregressive decoder's training cross-entropy normalises over (`tts_loss_vocabulary`).
TTS_LOSS_VOCABULARIES = ("all", "speech")

# Llama-3.1-8B-Instruct, the LLM of the released ICTNLP/Llama-3.1-8B-Omni checkpoint.
_LLAMA31_8B = {
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "rope_parameters": {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
}

# Whisper-large-v3 (encoder part is what LLaMA-Omni uses).
_WHISPER_LARGE_V3 = {
    "vocab_size": 51866,
    "num_mel_bins": 128,
    "d_model": 1280,
    "encoder_layers": 32,
    "encoder_attention_heads": 20,
    "encoder_ffn_dim": 5120,
    "decoder_layers": 32,
    "decoder_attention_heads": 20,
    "decoder_ffn_dim": 5120,
    "max_source_positions": 1500,
}

# The released CTC speech decoder: "(2,4096,32,11008)" = (layers, hidden, heads, FFN), with the LLM's RoPE.
_CTC_DECODER = {
    "vocab_size": 1,  # the decoder reads hidden states, never token ids
    "bos_token_id": None,
    "eos_token_id": None,
    "pad_token_id": None,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 2,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "rope_parameters": dict(_LLAMA31_8B["rope_parameters"]),
}

# The TTS language model of the released ICTNLP/LLaMA-Omni2-* checkpoints (Qwen2.5-0.5B size). Its vocabulary is
# Qwen2.5's text vocabulary (ids < 151665, so the LLM's text tokens can be looked up in it), `<sep>` (151665) and the
# 6561 CosyVoice2 speech tokens `<0>` ... `<6560>` (151666 ... 158226); its EOS is `<|endoftext|>` (151643).
_OMNI2_TTS = {
    "vocab_size": 158227,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
    "bos_token_id": 151643,
    "eos_token_id": 151643,
    "tie_word_embeddings": True,
}


def parse_stream_params(value: object) -> tuple[int, int]:
    """
    Parses LLaMA-Omni2's `stream_params`, e.g. `"(3,10)"` = (R text tokens read, W speech tokens written), safely (a
    regular expression for two integers, never `eval`). A tuple or list of two integers is accepted as it is.

    Raises:
        ValueError: if it is not two positive integers.
    """
    parsed: object = value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*[\(\[]\s*(\d+)\s*,\s*(\d+)\s*,?\s*[\)\]]\s*", value)
        if not match:
            raise ValueError(
                f"Cannot parse stream_params {value!r}: expected two integers \"(read_size,write_size)\", "
                'e.g. "(3,10)"'
            )
        parsed = (int(match.group(1)), int(match.group(2)))
    if (
        not isinstance(parsed, (tuple, list))
        or len(parsed) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in parsed)
    ):
        raise ValueError(f"stream_params must be two positive integers (read_size, write_size), got {value!r}")
    return int(parsed[0]), int(parsed[1])


LEXICON_KEYS = ("size", "max_units", "max_tokens", "bigrams", "space_unit", "blank_like_units",
                "question_token_id", "statement_token_id")
"""Keys `speech_adaptor_lexicon` must have: the buffers' shapes (words, units and tokens per word, bigrams), the
word-separator unit, the units read as blank (stress marks), and the token that ends a question / a statement."""

LEXICON_DECODING = {"beam_size": 100, "beam_threshold": 25.0, "lm_weight": 0.5, "word_score": 0.0,
                    "sil_score": 0.0, "bigram_interpolation": 0.6}
"""Default decoding settings of the read-out (each may be overridden in `speech_adaptor_lexicon`): the beam, the
weight of the bigram model's log-probability, a bonus per word and per word separator, and lambda of
`p(b | a) = lambda * c(a, b) / c(a) + (1 - lambda) * p(b)`."""


def check_lexicon_settings(settings: Any, num_phonemes: int) -> None:
    """Raises `ValueError` unless `settings` is a valid `speech_adaptor_lexicon` for an acoustic head of
    `num_phonemes` classes."""
    if not isinstance(settings, dict):
        raise ValueError(f"speech_adaptor_lexicon must be None or a dict, got {type(settings).__name__}")
    missing = [k for k in LEXICON_KEYS if k not in settings]
    if missing:
        raise ValueError(f"speech_adaptor_lexicon lacks {missing}; it needs {list(LEXICON_KEYS)}")
    if num_phonemes < 2:
        raise ValueError("speech_adaptor_lexicon needs the phonetic adaptor's acoustic head: set "
                         "speech_adaptor_phonemes (>= 2)")
    for key in ("size", "max_units", "max_tokens", "bigrams"):
        value = settings[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"speech_adaptor_lexicon[{key!r}] must be a positive integer, got {value!r}")
    units = [settings["space_unit"], *settings["blank_like_units"]]
    if any(not isinstance(u, int) or not 0 < u < num_phonemes for u in units):
        raise ValueError(f"speech_adaptor_lexicon's space_unit and blank_like_units must be units 1..{num_phonemes - 1}"
                         f", got {units}")
    unknown = set(settings) - set(LEXICON_KEYS) - set(LEXICON_DECODING)
    if unknown:
        raise ValueError(f"speech_adaptor_lexicon has unknown keys {sorted(unknown)}; decoding settings are "
                         f"{sorted(LEXICON_DECODING)}")


WHISPER_READOUT_KEYS = ("vocab_size", "d_model", "decoder_layers", "decoder_attention_heads", "decoder_ffn_dim",
                        "max_target_positions", "prompt_ids", "eot_id", "token_bytes", "tokenizer_bytes")
"""Keys `speech_adaptor_whisper_readout` must have: the Whisper decoder's shape, its prompt (start of transcript,
language, task, no timestamps) and end-of-text id, and the sizes of the token-bytes and LLM-tokenizer buffers."""

WHISPER_READOUT_DECODING = {"max_tokens_per_second": 8.0, "repeat_ngram": 4, "pad_seconds": 2.0, "int8_on_cpu": True}
"""Default settings of the Whisper read-out (each may be overridden in `speech_adaptor_whisper_readout`): the most
transcript tokens per second of speech (+ 8), the n-gram whose repeat ends the transcript (0: never), the seconds of
silence the encoder hears after each clip (Whisper learned from speech followed by silence), and whether, on the
CPU, its decoder runs int8 dynamically quantized copies of its linear layers (False: exactly Whisper's float
decoding)."""


def check_whisper_readout_settings(settings: Any) -> None:
    """Raises `ValueError` unless `settings` is a valid `speech_adaptor_whisper_readout`."""
    if not isinstance(settings, dict):
        raise ValueError(f"speech_adaptor_whisper_readout must be None or a dict, got {type(settings).__name__}")
    missing = [k for k in WHISPER_READOUT_KEYS if k not in settings]
    if missing:
        raise ValueError(f"speech_adaptor_whisper_readout lacks {missing}; it needs {list(WHISPER_READOUT_KEYS)}")
    for key in ("vocab_size", "d_model", "decoder_layers", "decoder_attention_heads", "decoder_ffn_dim",
                "max_target_positions", "token_bytes", "tokenizer_bytes"):
        value = settings[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"speech_adaptor_whisper_readout[{key!r}] must be a positive integer, got {value!r}")
    if settings["d_model"] % settings["decoder_attention_heads"]:
        raise ValueError("speech_adaptor_whisper_readout's decoder_attention_heads must divide its d_model, got "
                         f"{settings['decoder_attention_heads']} and {settings['d_model']}")
    ids = [*settings["prompt_ids"], settings["eot_id"]] if isinstance(settings["prompt_ids"], (list, tuple)) else None
    if not ids or len(ids) < 2 or any(not isinstance(t, int) or not 0 <= t < settings["vocab_size"] for t in ids):
        raise ValueError("speech_adaptor_whisper_readout's prompt_ids (a non-empty list) and eot_id must be token ids "
                         f"below its vocab_size {settings['vocab_size']}, got {settings['prompt_ids']!r} and "
                         f"{settings['eot_id']!r}")
    unknown = set(settings) - set(WHISPER_READOUT_KEYS) - set(WHISPER_READOUT_DECODING)
    if unknown:
        raise ValueError(f"speech_adaptor_whisper_readout has unknown keys {sorted(unknown)}; its settings are "
                         f"{sorted(WHISPER_READOUT_DECODING)}")
    rate, ngram = settings.get("max_tokens_per_second", 1.0), settings.get("repeat_ngram", 0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate > 0:
        raise ValueError(f"speech_adaptor_whisper_readout['max_tokens_per_second'] must be > 0, got {rate!r}")
    if not isinstance(settings.get("int8_on_cpu", False), bool):
        raise ValueError(f"speech_adaptor_whisper_readout['int8_on_cpu'] must be True or False, got "
                         f"{settings['int8_on_cpu']!r}")
    pad = settings.get("pad_seconds", 0.0)
    if isinstance(pad, bool) or not isinstance(pad, (int, float)) or not 0 <= pad <= 30:
        raise ValueError(f"speech_adaptor_whisper_readout['pad_seconds'] must be 0-30 s, got {pad!r}")
    if not isinstance(ngram, int) or isinstance(ngram, bool) or ngram < 0:
        raise ValueError(f"speech_adaptor_whisper_readout['repeat_ngram'] must be an integer >= 0, got {ngram!r}")


class LlamaOmniConfig(PreTrainedConfig):
    r"""
    Configuration of a LLaMA-Omni model (arXiv 2409.06666): a Whisper speech encoder, a speech adaptor
    (stack `speech_downsample_rate` encoder frames, Linear -> ReLU -> Linear), a decoder-only LLM, and a speech
    decoder that turns the LLM's hidden states into discrete speech units: LLaMA-Omni's non-autoregressive CTC
    decoder (`speech_decoder_type="ctc"`), or LLaMA-Omni2's (arXiv 2505.02625) autoregressive TTS language model fed
    by a gate fusion of the LLM hidden state and the text token's TTS embedding, streaming Read-R-Write-W
    (`speech_decoder_type="ar"`).

    The defaults describe the released `ICTNLP/Llama-3.1-8B-Omni` checkpoint; the `tts_*` defaults and R, W describe
    the released `ICTNLP/LLaMA-Omni2-*` checkpoints.

    Args:
        speech_encoder_config (`dict` or `WhisperConfig`, *optional*):
            Configuration of the Whisper model whose encoder is the speech encoder (only the encoder is built).
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Configuration of the decoder-only LLM (any `AutoModel` backbone: Llama, Qwen2, ...).
        speech_decoder_config (`dict` or `LlamaConfig`, *optional*):
            Configuration of the CTC speech decoder's Transformer layers (hidden size, layers, heads, FFN size,
            RoPE parameters). Its `vocab_size` is unused. Only for `speech_decoder_type="ctc"` (defaults to the
            released decoder's; `None` for `"ar"`).
        speech_token_id (`int`, *optional*, defaults to 128256):
            Id of the speech placeholder token; the processor repeats it once per speech embedding. It may lie
            outside the LLM's vocabulary: those positions are never looked up in the embedding table.
        speech_downsample_rate (`int`, *optional*, defaults to 5):
            Number k of consecutive encoder frames concatenated into one speech embedding (50 Hz -> 10 Hz).
        speech_adaptor_hidden_size (`int`, *optional*, defaults to 2048):
            Width of the adaptor's hidden layer.
        speech_adaptor_hidden_act (`str`, *optional*, defaults to `"relu"`):
            Activation between the two adaptor layers.
        speech_adaptor_num_layers (`int`, *optional*, defaults to 0):
            Transformer encoder layers (pre-norm, bidirectional self-attention over the clip's speech embeddings,
            width `speech_adaptor_hidden_size`, feed-forward of the same width) between the adaptor's activation
            and its second linear layer. 0 is the released adaptor (an MLP applied to each embedding alone).
        speech_adaptor_num_heads (`int`, *optional*, defaults to 8):
            Attention heads of those layers; must divide `speech_adaptor_hidden_size`.
        speech_adaptor_phonemes (`int`, *optional*, defaults to 0):
            0 is the released adaptor. A positive value makes it phonetic (`LlamaOmniPhoneticAdaptor`): an acoustic
            head first gives, at the encoder's frame rate, posteriors over this many phoneme classes (class 0 is the
            CTC blank), and only those posteriors go on: embedded, `speech_downsample_rate` of them concatenated,
            then the adaptor's linear layer, Transformer layers and projection. Everything after the posteriors can
            thus also learn from text alone (phonemes of written sentences), so that it may spell names it never
            heard; how far that gets at a CPU budget is measured in `trainers/recipes/embedded/README.md`.
        speech_adaptor_phoneme_size (`int`, *optional*, defaults to 256):
            Width of the phoneme embedding of the phonetic adaptor (unused when `speech_adaptor_phonemes` is 0).
        speech_adaptor_phoneme_context (`int`, *optional*, defaults to 1):
            Encoder frames on each side that the acoustic head reads with each frame (1: the frame and its two
            neighbours, 60 ms at 50 Hz); unused when `speech_adaptor_phonemes` is 0.
        speech_adaptor_lexicon (`dict`, *optional*):
            `None` (default) keeps the adaptor's embeddings. A dict makes the adaptor a lexicon read-out
            (`LlamaOmniLexiconAdaptor`, needs `speech_adaptor_phonemes`): the acoustic head's posteriors are read
            out as words of a pronunciation lexicon scored by a word bigram model (flashlight-text's CTC beam
            search), and the LLM receives those words' own token ids. Keys: the buffers' shapes (`size`,
            `max_units`, `max_tokens`, `bigrams`), `space_unit`, `blank_like_units`, `question_token_id`,
            `statement_token_id`, and optionally the decoding settings of `lexicon_readout.LEXICON_DECODING`.
            `generate()` and `stream()` fit the prompt's speech placeholders to the number of tokens read out.
        speech_adaptor_whisper_readout (`dict`, *optional*):
            `None` (default) keeps the adaptor above. A dict makes the adaptor a Whisper read-out
            (`LlamaOmniWhisperReadoutAdaptor`): Whisper's own pretrained text decoder reads the speech encoder's
            outputs out greedily as an English transcript, and the LLM receives the transcript's token ids (by the
            LLM's tokenizer, stored in the weights). Keys: `WHISPER_READOUT_KEYS` (build them with
            `LlamaOmniWhisperReadoutAdaptor.settings_for`) and optionally `WHISPER_READOUT_DECODING`'s. Not with
            `speech_adaptor_lexicon`; `generate()` and `stream()` fit the placeholders as for the lexicon read-out.
        pad_to_30s (`bool`, *optional*, defaults to `False`):
            Whether the checkpoint expects every clip padded to 30 s (3000 mel frames), as the original
            LLaMA-Omni does. When `False`, the encoder runs on the clip's own length.
        speech_decoder_type (`str`, *optional*, defaults to `"ctc"`):
            Kind of speech decoder: `"ctc"` (LLaMA-Omni) or `"ar"` (LLaMA-Omni2's autoregressive TTS model).
        ctc_upsample_factor (`int`, *optional*, defaults to 25):
            Upsampling factor lambda: each LLM hidden state is repeated this many times before the decoder.
        unit_vocab_size (`int`, *optional*, defaults to 1000):
            Number K of discrete speech units. The CTC blank is id `unit_vocab_size` (the last output).
        ctc_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the CTC loss in the total loss.
        speech_decoder_alignment (`str`, *optional*, defaults to `"predicting"`):
            Which LLM hidden states the speech loss (and stage 2's cached response states) pairs with the response
            tokens y_1..y_n: `"predicting"`, the states that predicted them, h(last prompt token), h(y_1), ...,
            h(y_{n-1}) (what inference always feeds the decoder, and what our own models are trained with), or
            `"at_token"`, the states at the token positions, h(y_1), ..., h(y_n) (one later: what the released
            LLaMA-Omni training code used; converted LLaMA-Omni checkpoints default to it, so that fine-tuning
            keeps the alignment the decoder was trained with). Inference is not affected.
        speech_decoder_token_embeddings (`bool`, *optional*, defaults to `False`):
            (`"ctc"` only) Whether the CTC speech decoder also reads, beside each hidden state, the LLM input
            embedding of the text token that state predicted (the token just emitted), projected by its own linear
            layer and added to the projected state, as LLaMA-Omni2's gate fusion feeds its decoder both. The released
            LLaMA-Omni reads the states alone (`False`); our phoneme-unit models use `True`: a state identifies the
            token it predicted only in part, the embedding names it exactly.
        speech_decoder_token_residuals (`bool`, *optional*, defaults to `False`):
            (with `speech_decoder_token_embeddings`) Whether the CTC speech decoder also keeps a table of its own, one
            vector per text token (zero-initialised), added to the projected token embedding: what a token sounds like
            is not a linear function of its LLM embedding, and the table lets the decoder learn it per token, while
            tokens it never saw fall back to the projection.
        speech_decoder_token_phonemes (`int`, *optional*, defaults to 0):
            (with `speech_decoder_token_embeddings`) The number of unit slots per text token in the CTC speech
            decoder's pronunciation table (`LlamaOmniTokenPhonemes`): a buffer holding, for every token of the LLM's
            vocabulary, the units of the token said on its own (filled at build time, e.g. from espeak-ng for
            phoneme units; -1 = no unit), whose learned embeddings are added to the token's upsampled frames (slot
            `j` to frame `j % ctc_upsample_factor`). It gives tokens the decoder never trained on (names) a
            pronunciation to start from; the decoder still learns what the context changes. 0 disables it.
        penalties_see_prompt (`bool`, *optional*, defaults to `True`):
            Whether `generate()`'s logits processors that read the earlier ids (`repetition_penalty`,
            `no_repeat_ngram_size`, `sequence_bias`, `bad_words_ids`) see the prompt too (transformers' way, our own
            models) or only the generated ids (`False`, converted checkpoints: the released code generates from
            `inputs_embeds`, so those processors never saw the prompt).
        tie_word_embeddings (`bool`, *optional*, defaults to `False`):
            Whether `lm_head` shares the LLM's input embeddings; set automatically when the text config ties them.
        tts_config (`dict` or `PreTrainedConfig`, *optional*):
            (`"ar"` only) Configuration of the TTS causal language model: any `AutoModelForCausalLM` config (Qwen2,
            Llama, ...). Its vocabulary must hold the LLM's text tokens (they are looked up in its embedding table),
            the separator, the EOS and the `unit_vocab_size` speech tokens. Defaults to the released Qwen2.5-0.5B-size
            TTS model (`None` for `"ctc"`).
        tts_input_proj_hidden_size (`int`, *optional*):
            (`"ar"`) Width of the gate fusion's input projection (LLM hidden -> this -> ReLU -> TTS hidden); default
            twice the LLM's hidden size.
        tts_speech_token_offset (`int`, *optional*, defaults to 151666):
            (`"ar"`) TTS vocabulary id of speech unit 0: unit `u` is TTS token `tts_speech_token_offset + u`.
        tts_sep_token_id (`int`, *optional*, defaults to 151665):
            (`"ar"`) TTS id of the separator (`<sep>`) fed after the last text token.
        tts_eos_token_id (`int`, *optional*, defaults to 151643):
            (`"ar"`) TTS id that ends the speech.
        read_size (`int`, *optional*, defaults to 3):
            (`"ar"`) R: text tokens read per chunk. A `stream_params="(R,W)"` argument (the original's config
            field) sets `read_size` and `write_size`; it is parsed safely (never with `eval`).
        write_size (`int`, *optional*, defaults to 10):
            (`"ar"`) W: speech tokens written after every R text tokens while the text is being generated; after the
            text ends the TTS model writes until its EOS.
        tts_do_sample (`bool`, *optional*, defaults to `True`):
            (`"ar"`) Sample the speech tokens (the release samples: greedy decoding tends to repeat); `False` = greedy.
        tts_temperature (`float`, *optional*, defaults to 1.0):
            (`"ar"`) Sampling temperature.
        tts_top_k (`int`, *optional*, defaults to 0):
            (`"ar"`) Keep only the k most likely tokens when sampling (0 = all). Converted LLaMA-Omni2 checkpoints
            get 50: the release sampled with transformers 4.43's default `top_k=50`.
        tts_top_p (`float`, *optional*, defaults to 1.0):
            (`"ar"`) Nucleus sampling threshold (1.0 = off).
        tts_max_new_tokens (`int`, *optional*, defaults to 1024):
            (`"ar"`) Most speech tokens written after the text ends (when no EOS comes).
        tts_restrict_to_speech_tokens (`bool`, *optional*, defaults to `True`):
            (`"ar"`) Decode over the speech tokens only, with EOS allowed only after the separator (our own models).
            `False` (what converted LLaMA-Omni2 checkpoints get) does what the release does: every token of the TTS
            vocabulary can be written, an EOS while the text is read ends that chunk's writing early (its embedding
            stays in the context), and the units are the numbers a `\d+` regex finds in each chunk's decoded text
            (see `tts_token_texts`).
        tts_token_texts (`dict[str, str]`, *optional*):
            (`"ar"`, with `tts_restrict_to_speech_tokens=False`) The decoded text of the TTS tokens that are not
            speech tokens but matter to that regex: `""` for the tokens decoding skips (special tokens) and the text
            of the tokens that hold digits, keyed by id (as a string). Every other non-speech token reads as a
            separator. Written by the converter from the checkpoint's `tts_tokenizer/`; `None`: only EOS is skipped.
        tts_rng (`str`, *optional*, defaults to `"own"`):
            (`"ar"`) Where sampled speech tokens draw their random numbers: `"own"`, a generator of the unit stream's
            own (seeded with `torch.initial_seed()`), so the speech never changes what the LLM samples; `"global"`
            (converted LLaMA-Omni2 checkpoints), torch's default generator, at the released points (a chunk's W
            tokens right after its R-th text token, before the LLM's next draw), so a seeded run gives the released
            text and speech.
        tts_loss_weight (`float`, *optional*, defaults to 1.0):
            (`"ar"`) Weight of the TTS model's cross-entropy in the total loss.
        tts_loss_vocabulary (`str`, *optional*, defaults to `"all"`):
            (`"ar"`) Over what the training cross-entropy normalises: `"all"`, the whole TTS vocabulary (the
            release's loss); `"speech"`, only the speech tokens and EOS, what decoding can write with
            `tts_restrict_to_speech_tokens=True` (needs it). With a TTS vocabulary that holds the LLM's text tokens
            (~49k for SmolLM2) and a small TTS model, `"speech"` makes the loss's output layer hundreds of times
            smaller.
    """

    model_type = "llama_omni"
    sub_configs_defaults = {
        "speech_encoder_config": SubConfigSpec(
            config_class=AutoConfig, model_type="whisper", init_kwargs=_WHISPER_LARGE_V3
        ),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", init_kwargs=_LLAMA31_8B),
        # Optional: filled in by __post_init__ for the speech decoder type that uses them.
        "speech_decoder_config": SubConfigSpec(
            config_class=AutoConfig, model_type="llama", init_kwargs=_CTC_DECODER, optional=True
        ),
        "tts_config": SubConfigSpec(config_class=AutoConfig, model_type="qwen2", init_kwargs=_OMNI2_TTS, optional=True),
    }

    speech_encoder_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    speech_decoder_config: dict | PreTrainedConfig | None = None
    speech_token_id: int = 128256
    speech_downsample_rate: int = 5
    speech_adaptor_hidden_size: int = 2048
    speech_adaptor_hidden_act: str = "relu"
    speech_adaptor_num_layers: int = 0
    speech_adaptor_num_heads: int = 8
    speech_adaptor_phonemes: int = 0
    speech_adaptor_phoneme_size: int = 256
    speech_adaptor_phoneme_context: int = 1
    speech_adaptor_lexicon: dict | None = None
    speech_adaptor_whisper_readout: dict | None = None
    pad_to_30s: bool = False
    speech_decoder_type: str = "ctc"
    ctc_upsample_factor: int = 25
    unit_vocab_size: int = 1000
    ctc_loss_weight: float = 1.0
    speech_decoder_alignment: str = "predicting"
    speech_decoder_token_embeddings: bool = False
    speech_decoder_token_residuals: bool = False
    speech_decoder_token_phonemes: int = 0
    penalties_see_prompt: bool = True
    tie_word_embeddings: bool = False
    tts_config: dict | PreTrainedConfig | None = None
    tts_input_proj_hidden_size: int | None = None
    tts_speech_token_offset: int = 151666
    tts_sep_token_id: int = 151665
    tts_eos_token_id: int = 151643
    read_size: int = 3
    write_size: int = 10
    tts_do_sample: bool = True
    tts_temperature: float = 1.0
    tts_top_k: int = 0
    tts_top_p: float = 1.0
    tts_max_new_tokens: int = 1024
    tts_restrict_to_speech_tokens: bool = True
    tts_token_texts: dict | None = None
    tts_rng: str = "own"
    tts_loss_weight: float = 1.0
    tts_loss_vocabulary: str = "all"

    def __post_init__(self, **kwargs):
        if self.speech_decoder_type not in SPEECH_DECODER_TYPES:
            raise ValueError(
                f"speech_decoder_type must be one of {SPEECH_DECODER_TYPES}, got {self.speech_decoder_type!r}"
            )
        if self.speech_decoder_alignment not in SPEECH_DECODER_ALIGNMENTS:
            raise ValueError(
                f"speech_decoder_alignment must be one of {SPEECH_DECODER_ALIGNMENTS}, got "
                f"{self.speech_decoder_alignment!r}"
            )
        if not isinstance(self.speech_decoder_token_embeddings, bool):
            raise ValueError(
                f"speech_decoder_token_embeddings must be True or False, got {self.speech_decoder_token_embeddings!r}"
            )
        if not isinstance(self.speech_decoder_token_residuals, bool):
            raise ValueError(
                f"speech_decoder_token_residuals must be True or False, got {self.speech_decoder_token_residuals!r}"
            )
        if self.speech_decoder_token_residuals and not self.speech_decoder_token_embeddings:
            raise ValueError("speech_decoder_token_residuals=True needs speech_decoder_token_embeddings=True")
        phoneme_slots = self.speech_decoder_token_phonemes
        if isinstance(phoneme_slots, bool) or not isinstance(phoneme_slots, int) or phoneme_slots < 0:
            raise ValueError(
                f"speech_decoder_token_phonemes must be an int >= 0 (unit slots per token; 0 = off), got "
                f"{phoneme_slots!r}"
            )
        if phoneme_slots and not self.speech_decoder_token_embeddings:
            raise ValueError("speech_decoder_token_phonemes > 0 needs speech_decoder_token_embeddings=True")
        if self.speech_decoder_token_embeddings and self.speech_decoder_type != "ctc":
            raise ValueError(
                "speech_decoder_token_embeddings=True is an option of the CTC speech decoder; the autoregressive "
                "decoder (speech_decoder_type='ar') always fuses the states with the token embeddings"
            )
        if not isinstance(self.penalties_see_prompt, bool):
            raise ValueError(f"penalties_see_prompt must be True or False, got {self.penalties_see_prompt!r}")
        if self.tts_rng not in TTS_RNGS:
            raise ValueError(f"tts_rng must be one of {TTS_RNGS}, got {self.tts_rng!r}")
        stream_params = kwargs.pop("stream_params", None)
        if stream_params is not None:
            self.read_size, self.write_size = parse_stream_params(stream_params)
        for name in ("speech_downsample_rate", "ctc_upsample_factor", "unit_vocab_size", "speech_adaptor_hidden_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("speech_adaptor_phonemes", "speech_adaptor_phoneme_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        context = self.speech_adaptor_phoneme_context
        if not isinstance(context, int) or isinstance(context, bool) or context < 0:
            raise ValueError("speech_adaptor_phoneme_context must be an integer >= 0 (encoder frames on each side), "
                             f"got {context!r}")
        if self.speech_adaptor_phonemes == 1 or (self.speech_adaptor_phonemes and not self.speech_adaptor_phoneme_size):
            raise ValueError(
                "speech_adaptor_phonemes must be 0 (off) or >= 2 (the CTC blank and at least one phoneme), with "
                f"speech_adaptor_phoneme_size >= 1; got {self.speech_adaptor_phonemes} and "
                f"{self.speech_adaptor_phoneme_size}"
            )
        if self.speech_adaptor_whisper_readout is not None and self.speech_adaptor_lexicon is not None:
            raise ValueError("speech_adaptor_whisper_readout and speech_adaptor_lexicon are two adaptors: set one")
        if self.speech_adaptor_lexicon is not None:
            check_lexicon_settings(self.speech_adaptor_lexicon, self.speech_adaptor_phonemes)
        if self.speech_adaptor_whisper_readout is not None:
            check_whisper_readout_settings(self.speech_adaptor_whisper_readout)
            encoder = self.speech_encoder_config
            width = encoder.get("d_model") if isinstance(encoder, dict) else getattr(encoder, "d_model", None)
            if width is not None and width != self.speech_adaptor_whisper_readout["d_model"]:
                raise ValueError(f"speech_adaptor_whisper_readout's d_model "
                                 f"{self.speech_adaptor_whisper_readout['d_model']} must be the speech encoder's "
                                 f"({width}): the decoder reads its outputs")
        layers, heads = self.speech_adaptor_num_layers, self.speech_adaptor_num_heads
        if not isinstance(layers, int) or isinstance(layers, bool) or layers < 0:
            raise ValueError(f"speech_adaptor_num_layers must be an integer >= 0, got {layers!r}")
        if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or self.speech_adaptor_hidden_size % heads:
            raise ValueError(
                f"speech_adaptor_num_heads must be a positive integer dividing speech_adaptor_hidden_size "
                f"({self.speech_adaptor_hidden_size}), got {heads!r}"
            )
        # Each speech decoder type gets the sub-config it uses with the released checkpoint's defaults.
        if self.speech_decoder_type == "ctc" and self.speech_decoder_config is None:
            self.speech_decoder_config = dict(self.sub_configs_defaults["speech_decoder_config"].init_kwargs)
        if self.speech_decoder_type == "ar":
            self._check_ar_fields()
            if self.tts_config is None:
                self.tts_config = dict(self.sub_configs_defaults["tts_config"].init_kwargs)
        # Sub-config dicts given by the caller are completed with the released checkpoint's defaults only when they
        # carry no model_type of their own (a Qwen2 text config must not inherit Llama-3.1 fields).
        for key in ("text_config", "speech_encoder_config", "speech_decoder_config", "tts_config"):
            value = getattr(self, key)
            if isinstance(value, dict) and "model_type" not in value:
                setattr(self, key, {**self.sub_configs_defaults[key].init_kwargs, **value})
        super().__post_init__(**kwargs)
        # The LLM's own setting decides whether lm_head shares the input embeddings (e.g. SmolLM2, Qwen2.5-0.5B).
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            self.tie_word_embeddings = True
        if self.speech_decoder_type == "ar":
            self._check_tts_vocabulary()

    def _check_ar_fields(self) -> None:
        for name in ("read_size", "write_size", "tts_max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("tts_speech_token_offset", "tts_sep_token_id", "tts_eos_token_id", "tts_top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        size = self.tts_input_proj_hidden_size
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ValueError(f"tts_input_proj_hidden_size must be a positive integer or None, got {size!r}")
        if not self.tts_temperature > 0:
            raise ValueError(f"tts_temperature must be positive, got {self.tts_temperature!r}")
        if not 0 < self.tts_top_p <= 1:
            raise ValueError(f"tts_top_p must lie in (0, 1], got {self.tts_top_p!r}")
        if not isinstance(self.tts_restrict_to_speech_tokens, bool):
            raise ValueError(f"tts_restrict_to_speech_tokens must be True or False, got "
                             f"{self.tts_restrict_to_speech_tokens!r}")
        if self.tts_loss_vocabulary not in TTS_LOSS_VOCABULARIES:
            raise ValueError(f"tts_loss_vocabulary must be one of {TTS_LOSS_VOCABULARIES}, got "
                             f"{self.tts_loss_vocabulary!r}")
        if self.tts_loss_vocabulary == "speech" and not self.tts_restrict_to_speech_tokens:
            raise ValueError("tts_loss_vocabulary='speech' trains what restricted decoding writes: it needs "
                             "tts_restrict_to_speech_tokens=True (decoding over the whole vocabulary needs the "
                             "loss over it, tts_loss_vocabulary='all')")
        texts = self.tts_token_texts
        if texts is not None and not (
            isinstance(texts, dict) and all(str(k).isdigit() and isinstance(v, str) for k, v in texts.items())
        ):
            raise ValueError("tts_token_texts must be None or a dict {token id: decoded text} (strings)")

    def _check_tts_vocabulary(self) -> None:
        vocab = self.tts_config.vocab_size
        first, last = self.tts_speech_token_offset, self.tts_speech_token_offset + self.unit_vocab_size
        if last > vocab:
            raise ValueError(
                f"The {self.unit_vocab_size} speech tokens (TTS ids {first}..{last - 1}) do not fit the TTS "
                f"vocabulary of {vocab}"
            )
        for name in ("tts_sep_token_id", "tts_eos_token_id"):
            value = getattr(self, name)
            if value >= vocab or first <= value < last:
                raise ValueError(
                    f"{name}={value} must be a TTS id outside the speech tokens ({first}..{last - 1}) and inside "
                    f"the TTS vocabulary of {vocab}"
                )

    def to_dict(self) -> dict:
        """`PreTrainedConfig.to_dict`, without the sub-config of the speech decoder type not in use (`None`)."""
        output = super().to_dict()
        for key in ("speech_decoder_config", "tts_config"):
            if output.get(key, 0) is None:
                del output[key]
        return output

    @property
    def hidden_size(self) -> int:
        """Hidden size of the LLM (what the adaptor outputs and the speech decoder reads)."""
        return self.text_config.hidden_size

    @property
    def num_hidden_layers(self) -> int:
        """Number of LLM layers (used by generation caches)."""
        return self.text_config.num_hidden_layers

    @property
    def vocab_size(self) -> int:
        """Vocabulary size of the LLM."""
        return self.text_config.vocab_size

    @property
    def ctc_blank_id(self) -> int:
        """Id of the CTC blank in the speech decoder's output (= `unit_vocab_size`)."""
        return self.unit_vocab_size

    @property
    def stream_params(self) -> str:
        """`"(R,W)"`: `read_size` and `write_size` in the original LLaMA-Omni2 notation."""
        return f"({self.read_size},{self.write_size})"


__all__ = ["LlamaOmniConfig", "WHISPER_READOUT_DECODING", "WHISPER_READOUT_KEYS", "check_whisper_readout_settings",
           "parse_stream_params"]
