"""Tiny LLaMA-Omni configs and models for tests (built from configs, no download)."""

from __future__ import annotations

from pathlib import Path

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


def tiny_tts_config(text_vocab_size: int = TINY_VOCAB, unit_vocab_size: int = 20, **overrides) -> dict:
    """A 2-layer Qwen2 TTS language model config for the autoregressive speech decoder, as a dict. Its vocabulary
    is laid out like the release's: the LLM's text ids, then `<sep>`, then the speech tokens (tied embeddings)."""
    config = dict(
        model_type="qwen2",
        vocab_size=text_vocab_size + 1 + unit_vocab_size,
        hidden_size=24,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        bos_token_id=None,
        eos_token_id=2,
        pad_token_id=None,
        tie_word_embeddings=True,
        # A wider init than the default 0.02: the random TTS model then writes varied tokens and reaches its EOS,
        # instead of repeating one token (what makes the streaming tests discriminating).
        initializer_range=0.2,
    )
    config.update(overrides)
    return config


def tiny_ar_config_kwargs(text_vocab_size: int = TINY_VOCAB, unit_vocab_size: int = 20, eos_token_id: int = 2,
                          **tts_overrides) -> dict:
    """`LlamaOmniConfig` arguments for a tiny autoregressive (LLaMA-Omni2) speech decoder: `<sep>` right after the
    text vocabulary, the speech tokens after it, the text EOS as TTS EOS (as in the release)."""
    return dict(
        speech_decoder_type="ar",
        speech_decoder_config=None,
        tts_config=tiny_tts_config(text_vocab_size, unit_vocab_size, eos_token_id=eos_token_id, **tts_overrides),
        tts_input_proj_hidden_size=40,
        tts_sep_token_id=text_vocab_size,
        tts_speech_token_offset=text_vocab_size + 1,
        tts_eos_token_id=eos_token_id,
        unit_vocab_size=unit_vocab_size,
        read_size=3,
        write_size=10,
        tts_do_sample=False,
    )


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


def tiny_ar_model_and_processor(seed: int = 0, text_type: str = "qwen2", **overrides):
    """A tiny LLaMA-Omni2-style model (autoregressive speech decoder, greedy by default) and the tiny processor."""
    from tests.tiny_components import TINY_VOCAB_SIZE, make_tiny_processor

    eos = make_tiny_processor().tokenizer.eos_token_id
    kwargs = {**tiny_ar_config_kwargs(TINY_VOCAB_SIZE, eos_token_id=eos), **overrides}
    return tiny_model_and_processor(seed=seed, text_type=text_type, **kwargs)


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


def write_tiny_model_folder(folder: Path) -> Path:
    """A tiny random LLaMA-Omni folder: model, processor, and a unit vocoder in `vocoder/` (the default vocoder)."""
    model, processor = tiny_model_and_processor()
    with torch.no_grad():  # louder speech embeddings: the random model's answers then depend on the question
        model.model.speech_adaptor.linear2.weight.mul_(10)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    tiny_vocoder(unit_vocab_size=model.config.unit_vocab_size).save_pretrained(folder / "vocoder")
    return folder
