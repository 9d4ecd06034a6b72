# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni configuration.

This file is self-contained (it imports only transformers and the standard library) so that it can be
copied as-is into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

SPEECH_DECODER_TYPES = ("ctc",)

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


class LlamaOmniConfig(PreTrainedConfig):
    r"""
    Configuration of a LLaMA-Omni model (arXiv 2409.06666): a Whisper speech encoder, a speech adaptor
    (stack `speech_downsample_rate` encoder frames, Linear -> ReLU -> Linear), a decoder-only LLM, and a
    non-autoregressive CTC speech decoder that turns the LLM's hidden states into discrete speech units.

    The defaults describe the released `ICTNLP/Llama-3.1-8B-Omni` checkpoint.

    Args:
        speech_encoder_config (`dict` or `WhisperConfig`, *optional*):
            Configuration of the Whisper model whose encoder is the speech encoder (only the encoder is built).
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Configuration of the decoder-only LLM (any `AutoModel` backbone: Llama, Qwen2, ...).
        speech_decoder_config (`dict` or `LlamaConfig`, *optional*):
            Configuration of the CTC speech decoder's Transformer layers (hidden size, layers, heads, FFN size,
            RoPE parameters). Its `vocab_size` is unused.
        speech_token_id (`int`, *optional*, defaults to 128256):
            Id of the speech placeholder token; the processor repeats it once per speech embedding. It may lie
            outside the LLM's vocabulary: those positions are never looked up in the embedding table.
        speech_downsample_rate (`int`, *optional*, defaults to 5):
            Number k of consecutive encoder frames concatenated into one speech embedding (50 Hz -> 10 Hz).
        speech_adaptor_hidden_size (`int`, *optional*, defaults to 2048):
            Width of the adaptor's hidden layer.
        speech_adaptor_hidden_act (`str`, *optional*, defaults to `"relu"`):
            Activation between the two adaptor layers.
        pad_to_30s (`bool`, *optional*, defaults to `False`):
            Whether the checkpoint expects every clip padded to 30 s (3000 mel frames), as the original
            LLaMA-Omni does. When `False`, the encoder runs on the clip's own length.
        speech_decoder_type (`str`, *optional*, defaults to `"ctc"`):
            Kind of speech decoder. Only `"ctc"` for now.
        ctc_upsample_factor (`int`, *optional*, defaults to 25):
            Upsampling factor lambda: each LLM hidden state is repeated this many times before the decoder.
        unit_vocab_size (`int`, *optional*, defaults to 1000):
            Number K of discrete speech units. The CTC blank is id `unit_vocab_size` (the last output).
        ctc_loss_weight (`float`, *optional*, defaults to 1.0):
            Weight of the CTC loss in the total loss.
        tie_word_embeddings (`bool`, *optional*, defaults to `False`):
            Whether `lm_head` shares the LLM's input embeddings; set automatically when the text config ties them.
    """

    model_type = "llama_omni"
    sub_configs_defaults = {
        "speech_encoder_config": SubConfigSpec(
            config_class=AutoConfig, model_type="whisper", init_kwargs=_WHISPER_LARGE_V3
        ),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", init_kwargs=_LLAMA31_8B),
        "speech_decoder_config": SubConfigSpec(config_class=AutoConfig, model_type="llama", init_kwargs=_CTC_DECODER),
    }

    speech_encoder_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    speech_decoder_config: dict | PreTrainedConfig | None = None
    speech_token_id: int = 128256
    speech_downsample_rate: int = 5
    speech_adaptor_hidden_size: int = 2048
    speech_adaptor_hidden_act: str = "relu"
    pad_to_30s: bool = False
    speech_decoder_type: str = "ctc"
    ctc_upsample_factor: int = 25
    unit_vocab_size: int = 1000
    ctc_loss_weight: float = 1.0
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        if self.speech_decoder_type not in SPEECH_DECODER_TYPES:
            raise ValueError(
                f"speech_decoder_type must be one of {SPEECH_DECODER_TYPES}, got {self.speech_decoder_type!r}"
            )
        for name in ("speech_downsample_rate", "ctc_upsample_factor", "unit_vocab_size", "speech_adaptor_hidden_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        # Sub-config dicts given by the caller are completed with the released checkpoint's defaults only when they
        # carry no model_type of their own (a Qwen2 text config must not inherit Llama-3.1 fields).
        for key in ("text_config", "speech_encoder_config", "speech_decoder_config"):
            value = getattr(self, key)
            if isinstance(value, dict) and "model_type" not in value:
                setattr(self, key, {**self.sub_configs_defaults[key].init_kwargs, **value})
        super().__post_init__(**kwargs)
        # The LLM's own setting decides whether lm_head shares the input embeddings (e.g. SmolLM2, Qwen2.5-0.5B).
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            self.tie_word_embeddings = True

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


__all__ = ["LlamaOmniConfig"]
