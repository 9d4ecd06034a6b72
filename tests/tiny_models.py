"""Tiny LLaMA-Omni configs and models for tests (built from configs, no download)."""

from __future__ import annotations

import torch

from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration

TINY_VOCAB = 128
TINY_SPEECH_TOKEN_ID = TINY_VOCAB - 1


def tiny_text_config(model_type: str = "llama", vocab_size: int = TINY_VOCAB, **overrides) -> dict:
    """A 2-layer decoder-only LLM config (Llama or Qwen2) as a dict."""
    config = dict(
        model_type=model_type,
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )
    if model_type == "llama":
        config["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
    config.update(overrides)
    return config


def tiny_whisper_config(num_mel_bins: int = 80, max_source_positions: int = 1500, **overrides) -> dict:
    """A 2-layer Whisper config (the encoder is what LLaMA-Omni uses); 30 s = 3000 mel frames by default."""
    config = dict(
        model_type="whisper",
        vocab_size=100,
        num_mel_bins=num_mel_bins,
        d_model=24,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=48,
        decoder_layers=1,
        decoder_attention_heads=4,
        decoder_ffn_dim=48,
        max_source_positions=max_source_positions,
        max_target_positions=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    config.update(overrides)
    return config


def tiny_decoder_config(**overrides) -> dict:
    """A 2-layer CTC speech decoder config."""
    config = dict(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=65536,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    )
    config.update(overrides)
    return config


def tiny_config(text_type: str = "llama", **overrides) -> LlamaOmniConfig:
    """A tiny `LlamaOmniConfig` (about 100 k parameters)."""
    kwargs = dict(
        text_config=tiny_text_config(text_type),
        speech_encoder_config=tiny_whisper_config(),
        speech_decoder_config=tiny_decoder_config(),
        speech_token_id=TINY_SPEECH_TOKEN_ID,
        speech_adaptor_hidden_size=40,
        unit_vocab_size=20,
        ctc_upsample_factor=3,
    )
    kwargs.update(overrides)
    return LlamaOmniConfig(**kwargs)


def tiny_model(seed: int = 0, **overrides) -> LlamaOmniForConditionalGeneration:
    """A randomly initialised tiny model in eval mode (deterministic for a given seed)."""
    torch.manual_seed(seed)
    return LlamaOmniForConditionalGeneration(tiny_config(**overrides)).eval()


def tiny_model_and_processor(seed: int = 0, text_type: str = "llama", **overrides):
    """A tiny model whose vocabulary and speech token match the tiny processor of `tests.tiny_components`."""
    from tests.tiny_components import TINY_VOCAB_SIZE, make_tiny_processor

    processor = make_tiny_processor()
    tokenizer = processor.tokenizer
    text_config = tiny_text_config(
        text_type,
        vocab_size=TINY_VOCAB_SIZE,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"),
    )
    model = tiny_model(seed=seed, text_config=text_config, speech_token_id=processor.speech_token_id, **overrides)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = text_config["eos_token_id"]
    return model, processor


def tiny_vocoder(seed: int = 0, unit_vocab_size: int = 20, scaled: bool = True):
    """A small CodeHiFiGAN unit vocoder (32 channels) for a tiny model's units, in eval mode.

    With `scaled=True` its layers are rescaled like a trained vocoder's (unit-variance activations, see
    `benchmarks/vocoder_streaming.py`), so that it outputs audible signal rather than near-silence.
    """
    from benchmarks.vocoder_streaming import scale_like_trained
    from modeling_llama_omni import UnitVocoder, UnitVocoderConfig

    torch.manual_seed(seed)
    vocoder = UnitVocoder(UnitVocoderConfig(unit_vocab_size=unit_vocab_size, upsample_initial_channel=32)).eval()
    if scaled:
        with torch.no_grad():
            scale_like_trained(vocoder, seed=seed)
    return vocoder
