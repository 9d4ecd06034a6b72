# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Converts a released LLaMA-Omni checkpoint (`ICTNLP/Llama-3.1-8B-Omni` layout) into a
`LlamaOmniForConditionalGeneration` folder.

The source folder holds the original (transformers 4.43, LLaVA-style) `config.json` with
`model_type "omni_speech2s_llama"`, its weights as `model.safetensors` or sharded `model-0000x-of-0000y.safetensors` +
`model.safetensors.index.json`, and optionally tokenizer files. The conversion:

1. reads only the safetensors headers, maps every key to our names and checks the mapped key set and every shape
   against the target model (built on the meta device); any unknown key, missing key or shape mismatch raises a
   `ValueError` listing them, and nothing is written;
2. streams the tensors one output shard at a time (an 8B model is never held in memory), optionally casting them;
3. writes the config, a generation config, the tokenizer with a `<speech>` token added, the processor (when the
   `processing` package is importable) and, by default, the remote-code files.

The output defaults to the released inference's behaviour (prompt ids, greedy decoding, pad token; see
`convert_released`). A release without encoder weights takes the Whisper encoder from an openai-whisper `.pt` or a
transformers Whisper folder (`--speech-encoder`), and a release trained on a base model is assembled from it
(`--model-base`: `speech_projector.bin`, or a LoRA adapter with `non_lora_trainables.bin`, merged).

Usage::

    python -m modeling_llama_omni.convert_original --checkpoint Llama-3.1-8B-Omni --output llama-omni-hf
    python -m modeling_llama_omni.convert_original --checkpoint my-lora-release --model-base Llama-3.1-8B-Instruct \
        --speech-encoder large-v3.pt --output my-omni-hf
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import sys
from collections.abc import Sequence

import torch
from transformers import GenerationConfig, LlamaConfig

from .configuration_llama_omni import LlamaOmniConfig
from .convert_layout import CheckpointLayout, convert_checkpoint, plan_conversion  # noqa: F401 - re-exported
from .convert_released import (
    RELEASED_DECODING,
    read_release_on_base,
    read_speech_encoder,
    released_chat_template,
    released_generation_config,
    set_released_pad_token,
    with_speech_encoder,
)
from .convert_utils import SourceTensor, add_conversion_arguments, read_source_headers, run_converter
from .modeling_llama_omni import LlamaOmniForConditionalGeneration

logger = logging.getLogger(__name__)

SOURCE_MODEL_TYPE = "omni_speech2s_llama"
SPEECH_TOKEN = "<speech>"
# LlamaConfig fields taken over from the source config (the rest are LLaVA/LLaMA-Omni training options).
_LLAMA_FIELDS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "max_position_embeddings",
    "initializer_range",
    "rms_norm_eps",
    "attention_bias",
    "attention_dropout",
    "mlp_bias",
    "tie_word_embeddings",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)
_WHISPER_HEAD_DIM = 64  # head size of every Whisper model (tiny ... large-v3)

# openai-whisper encoder names (under `model.speech_encoder.`) -> transformers' WhisperEncoder names.
_WHISPER_RULES = (
    (re.compile(r"(conv[12])\.(weight|bias)"), r"\1.\2"),
    (re.compile(r"positional_embedding"), "embed_positions.weight"),
    (re.compile(r"blocks\.(\d+)\.attn\.query\.(weight|bias)"), r"layers.\1.self_attn.q_proj.\2"),
    (re.compile(r"blocks\.(\d+)\.attn\.key\.(weight|bias)"), r"layers.\1.self_attn.k_proj.\2"),
    (re.compile(r"blocks\.(\d+)\.attn\.value\.(weight|bias)"), r"layers.\1.self_attn.v_proj.\2"),
    (re.compile(r"blocks\.(\d+)\.attn\.out\.(weight|bias)"), r"layers.\1.self_attn.out_proj.\2"),
    (re.compile(r"blocks\.(\d+)\.attn_ln\.(weight|bias)"), r"layers.\1.self_attn_layer_norm.\2"),
    (re.compile(r"blocks\.(\d+)\.mlp\.0\.(weight|bias)"), r"layers.\1.fc1.\2"),
    (re.compile(r"blocks\.(\d+)\.mlp\.2\.(weight|bias)"), r"layers.\1.fc2.\2"),
    (re.compile(r"blocks\.(\d+)\.mlp_ln\.(weight|bias)"), r"layers.\1.final_layer_norm.\2"),
    (re.compile(r"ln_post\.(weight|bias)"), r"layer_norm.\1"),
)
# Everything else: (source prefix, allowed remainder, our prefix).
_PREFIX_RULES = (
    ("model.speech_projector.", re.compile(r"linear[12]\.(weight|bias)"), "model.speech_adaptor."),
    ("model.", re.compile(r"(embed_tokens|norm)\.weight|layers\.\d+\..+"), "model.language_model."),
    ("lm_head.", re.compile(r"weight"), "lm_head."),
    ("speech_generator.", re.compile(r"(input_proj|output_proj)\.(weight|bias)|layers\.\d+\..+"), "speech_decoder."),
)
_SPEECH_ENCODER_PREFIX = "model.speech_encoder."
_TARGET_ENCODER_PREFIX = "model.speech_encoder."


# ----------------------------------------------------------------------------------------------------------------------
# Key mapping and header reading
# ----------------------------------------------------------------------------------------------------------------------


def map_key(key: str) -> str | None:
    """
    Maps one key of the original checkpoint to our parameter name.

    Returns:
        Our name, or `None` when the key matches no rule.
    """
    if key.startswith(_SPEECH_ENCODER_PREFIX):
        rest = key[len(_SPEECH_ENCODER_PREFIX) :]
        for pattern, replacement in _WHISPER_RULES:
            if pattern.fullmatch(rest):
                return _TARGET_ENCODER_PREFIX + pattern.sub(replacement, rest)
        return None
    for source_prefix, allowed, target_prefix in _PREFIX_RULES:
        if key.startswith(source_prefix):
            rest = key[len(source_prefix) :]
            return target_prefix + rest if allowed.fullmatch(rest) else None
    return None


# ----------------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------------


def parse_ctc_decoder_config(value: object) -> tuple[int, int, int, int]:
    """
    Parses `ctc_decoder_config`, e.g. `"(2,4096,32,11008)"` = (layers, hidden size, heads, FFN size), safely (a regex
    and `ast.literal_eval` of a tuple of integers, never `eval`).

    Raises:
        ValueError: if it is not four positive integers.
    """
    parsed: object = value
    if isinstance(value, str):
        if not re.fullmatch(r"\s*[\(\[]\s*\d+\s*(,\s*\d+\s*){3},?\s*[\)\]]\s*", value):
            raise ValueError(
                f"Cannot parse ctc_decoder_config {value!r}: expected four integers "
                '"(layers,hidden_size,num_heads,ffn_size)", e.g. "(2,4096,32,11008)"'
            )
        parsed = ast.literal_eval(value.strip())
    if (
        not isinstance(parsed, (tuple, list))
        or len(parsed) != 4
        or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in parsed)
    ):
        raise ValueError(
            f"ctc_decoder_config must be four positive integers (layers, hidden_size, num_heads, ffn_size), "
            f"got {value!r}"
        )
    layers, hidden, heads, ffn = (int(x) for x in parsed)
    if hidden % heads:
        raise ValueError(f"ctc_decoder_config {value!r}: hidden size {hidden} is not a multiple of {heads} heads")
    return layers, hidden, heads, ffn


def rope_parameters_from_source(source: dict) -> dict:
    """
    Converts the transformers-4 `rope_scaling` + `rope_theta` fields into transformers-5 `rope_parameters`.
    """
    if isinstance(source.get("rope_parameters"), dict):
        return dict(source["rope_parameters"])
    theta = float(source.get("rope_theta", 10000.0))
    scaling = source.get("rope_scaling")
    if not scaling:
        return {"rope_type": "default", "rope_theta": theta}
    if not isinstance(scaling, dict):
        raise ValueError(f"rope_scaling must be a dict or null, got {scaling!r}")
    params = {k: v for k, v in scaling.items() if k != "type"}
    params["rope_type"] = scaling.get("rope_type", scaling.get("type", "default"))
    params["rope_theta"] = theta
    return params


def whisper_config_from_weights(tensors: dict[str, SourceTensor], source: dict) -> dict:
    """Infers the Whisper encoder's config (a dict) from the shapes of its weights (openai-whisper naming under
    `model.speech_encoder.`), checking it against the source config's `speech_encoder_hidden_size`."""
    prefix = _SPEECH_ENCODER_PREFIX
    needed = [prefix + "conv1.weight", prefix + "positional_embedding", prefix + "blocks.0.mlp.0.weight"]
    absent = [key for key in needed if key not in tensors]
    if absent:
        raise ValueError(
            f"The checkpoint has no Whisper speech encoder in openai-whisper naming (missing {absent}); LLaMA-Omni "
            "checkpoints keep it under 'model.speech_encoder.'. The released loader reads it from large-v3.pt: pass "
            "that file (or a transformers Whisper folder) as speech_encoder= (--speech-encoder)."
        )
    d_model, num_mel_bins, _ = tensors[prefix + "conv1.weight"].shape
    max_source_positions = tensors[prefix + "positional_embedding"].shape[0]
    ffn_dim = tensors[prefix + "blocks.0.mlp.0.weight"].shape[0]
    block_ids = {int(m.group(1)) for key in tensors if (m := re.match(re.escape(prefix) + r"blocks\.(\d+)\.", key))}
    num_layers = max(block_ids) + 1
    if d_model % _WHISPER_HEAD_DIM:
        raise ValueError(
            f"Speech encoder width {d_model} is not a multiple of {_WHISPER_HEAD_DIM}: every Whisper model has "
            f"{_WHISPER_HEAD_DIM}-dimensional heads, so the head count cannot be inferred."
        )
    if "speech_encoder_hidden_size" in source and source["speech_encoder_hidden_size"] != d_model:
        raise ValueError(
            f"config.json says speech_encoder_hidden_size={source['speech_encoder_hidden_size']} but the speech "
            f"encoder weights are {d_model} wide"
        )
    heads = d_model // _WHISPER_HEAD_DIM
    return {
        "model_type": "whisper",
        # large-v3 (128 mel bins) has one more language token; the encoder never reads the vocabulary.
        "vocab_size": 51866 if num_mel_bins == 128 else 51865,
        "num_mel_bins": num_mel_bins,
        "d_model": d_model,
        "encoder_layers": num_layers,
        "encoder_attention_heads": heads,
        "encoder_ffn_dim": ffn_dim,
        "decoder_layers": num_layers,
        "decoder_attention_heads": heads,
        "decoder_ffn_dim": ffn_dim,
        "max_source_positions": max_source_positions,
    }


def load_source_config(checkpoint_dir: str) -> dict:
    """
    Reads and checks the original `config.json`.

    Raises:
        FileNotFoundError: if the folder or its config.json does not exist.
        ValueError: if it is not a LLaMA-Omni speech-to-speech config.
    """
    if not os.path.isdir(checkpoint_dir):
        raise FileNotFoundError(f"Checkpoint folder {checkpoint_dir} does not exist")
    path = os.path.join(checkpoint_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{checkpoint_dir} has no config.json: is it a LLaMA-Omni checkpoint folder?")
    try:
        with open(path, encoding="utf-8") as f:
            source = json.load(f)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(source, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    model_type = source.get("model_type")
    if model_type != SOURCE_MODEL_TYPE:
        extra = ""
        if model_type == "llama_omni":
            extra = " This folder is already in our format: load it with AutoModel.from_pretrained."
        elif model_type == "omni_speech_llama":
            extra = " That is the text-only (stage-1) model, which has no speech generator to convert."
        raise ValueError(
            f"{path} has model_type {model_type!r}, expected {SOURCE_MODEL_TYPE!r} (the released "
            f"ICTNLP/Llama-3.1-8B-Omni checkpoint).{extra}"
        )
    expectations = {
        "speech_generator_type": "ctc",
        "speech_projector_type": "linear",
        "speech_encoder_type": "whisper",
    }
    for field, expected in expectations.items():
        if field in source and source[field] != expected:
            raise ValueError(f"{path}: only {field}={expected!r} is supported, got {source[field]!r}")
    for field in ("speech_generator_type", "ctc_decoder_config"):
        if field not in source:
            raise ValueError(f"{path} has no {field!r}: not a LLaMA-Omni speech-to-speech checkpoint")
    return source


def text_config_from_source(source: dict) -> LlamaConfig:
    """The LLM's `LlamaConfig` from the original config.json (its Llama fields, RoPE settings converted)."""
    text_kwargs = {field: source[field] for field in _LLAMA_FIELDS if field in source}
    text_kwargs["rope_parameters"] = rope_parameters_from_source(source)
    if text_kwargs.get("head_dim") is None:
        text_kwargs.pop("head_dim", None)
    return LlamaConfig(**text_kwargs)


def build_config(
    source: dict, tensors: dict[str, SourceTensor], speech_token_id: int | None = None
) -> LlamaOmniConfig:
    """
    Builds our `LlamaOmniConfig` from the original config.json and the weight shapes.

    Args:
        source: the original config.json.
        tensors: the source tensors' headers (for the Whisper and adaptor sizes).
        speech_token_id: the `<speech>` token id, or `None` to use the LLM's vocab size (an id outside the
            vocabulary, which the model never looks up).
    """
    text_config = text_config_from_source(source).to_dict()
    rope_parameters = text_config["rope_parameters"]

    layers, hidden, heads, ffn = parse_ctc_decoder_config(source["ctc_decoder_config"])
    decoder_config = {
        "model_type": "llama",
        "vocab_size": 1,  # the decoder reads hidden states, never token ids
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
        "hidden_size": hidden,
        "intermediate_size": ffn,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "head_dim": hidden // heads,
        "hidden_act": text_config.get("hidden_act", "silu"),
        "attention_bias": text_config.get("attention_bias", False),
        "mlp_bias": text_config.get("mlp_bias", False),
        "max_position_embeddings": text_config["max_position_embeddings"],
        "rms_norm_eps": text_config["rms_norm_eps"],
        "rope_parameters": dict(rope_parameters),
        "tie_word_embeddings": False,
    }

    adaptor_key = "model.speech_projector.linear1.weight"
    if adaptor_key not in tensors:
        raise ValueError(f"The checkpoint has no speech adaptor ({adaptor_key!r} is missing)")
    speech_adaptor_hidden_size = tensors[adaptor_key].shape[0]

    if speech_token_id is None:
        speech_token_id = text_config["vocab_size"]
    config = LlamaOmniConfig(
        speech_encoder_config=whisper_config_from_weights(tensors, source),
        text_config=text_config,
        speech_decoder_config=decoder_config,
        speech_token_id=int(speech_token_id),
        speech_downsample_rate=int(source.get("speech_encoder_ds_rate", 5)),
        speech_adaptor_hidden_size=int(speech_adaptor_hidden_size),
        speech_adaptor_hidden_act="relu",
        pad_to_30s=True,  # the original always pads / trims the audio to 30 s
        speech_decoder_type="ctc",
        ctc_upsample_factor=int(source.get("ctc_upsample_factor", 25)),
        unit_vocab_size=int(source.get("unit_vocab_size", 1000)),
        ctc_loss_weight=float(source.get("ctc_loss_weight", 1.0)),
        # the released training (speech_generator.py, forward with tgt_units) feeds the decoder the states AT the
        # response tokens; inference always reads the states that predicted them
        speech_decoder_alignment="at_token",
        penalties_see_prompt=False,  # the released generate() starts from inputs_embeds: penalties see no prompt
    )
    config.architectures = [LlamaOmniForConditionalGeneration.__name__]
    return config


# ----------------------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------------------


def original_layout(generation_config_dir: str | None = None, **decoding) -> CheckpointLayout:
    """
    The LLaMA-Omni layout, with the released inference's defaults: greedy decoding as `infer.py` runs it
    (`decoding` overrides its `temperature`, `top_p`, `num_beams`, `max_new_tokens`; see
    `released_generation_config`), its pad token (`<|finetune_right_pad_id|>`) and its prompt ids (two BOS with the
    Llama-3.1 tokenizer). `generation_config_dir`: where the checkpoint's special token ids are read (by default the
    checkpoint folder).
    """

    def released_defaults(checkpoint_dir: str, source: dict, tokenizer) -> tuple[GenerationConfig, dict]:
        pad_token_id = set_released_pad_token(tokenizer) if tokenizer is not None else None
        folder = generation_config_dir or checkpoint_dir
        generation_config = released_generation_config(folder, source, pad_token_id, **decoding)
        extra = {"chat_template": released_chat_template(tokenizer)} if tokenizer is not None else {}
        return generation_config, extra

    return CheckpointLayout(
        load_source_config=load_source_config,
        text_config=text_config_from_source,
        build_config=build_config,
        key_mapper=map_key,
        processor_kwargs={},
        released_defaults=released_defaults,
    )


ORIGINAL_LAYOUT = original_layout()


def convert_original_checkpoint(
    checkpoint_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    remote_code: bool = True,
    shard_size: int | str = "5GB",
    overwrite: bool = False,
    speech_encoder: str | os.PathLike | None = None,
    model_base: str | os.PathLike | None = None,
    temperature: float = RELEASED_DECODING["temperature"],
    top_p: float | None = RELEASED_DECODING["top_p"],
    num_beams: int = RELEASED_DECODING["num_beams"],
    max_new_tokens: int = RELEASED_DECODING["max_new_tokens"],
) -> LlamaOmniConfig:
    """
    Converts an original LLaMA-Omni checkpoint folder into a `LlamaOmniForConditionalGeneration` folder.

    The output defaults to the released inference (`omni_speech/infer/infer.py`): greedy decoding with at most 256
    new tokens, `pad_token_id` 128004 (`<|finetune_right_pad_id|>`, also set as the tokenizer's pad token), and a
    processor whose prompts tokenise to the released ids (with the Llama-3.1 tokenizer `<|begin_of_text|>` twice).

    Args:
        checkpoint_dir: folder with the original config.json, safetensors weights and (optionally) tokenizer.
        output_dir: folder to write; it must not exist or be empty unless `overwrite`.
        dtype: `None` / `"auto"` keeps each tensor's dtype; `"float32"`, `"float16"`, `"bfloat16"` (or a
            `torch.dtype`) casts the floating-point tensors.
        remote_code: also write the model's code files and `auto_map`, so the folder loads with
            `trust_remote_code=True` where this package is not installed.
        shard_size: largest output shard, e.g. `"5GB"`.
        overwrite: allow a non-empty `output_dir`; the files of an earlier conversion there are replaced.
        speech_encoder: the Whisper encoder, as the released loader builds it from `config.speech_encoder`: an
            openai-whisper `.pt` (e.g. `large-v3.pt`) or a transformers Whisper folder. It replaces any encoder
            weights in the checkpoint; needed when the checkpoint has none.
        model_base: the base model of a release trained on one (the released `--model-base`): its safetensors
            and tokenizer are read, and the release folder provides the config plus `speech_projector.bin`, or a
            LoRA adapter (`adapter_config.json`, adapter weights) and `non_lora_trainables.bin`, merged in.
        temperature, top_p, num_beams, max_new_tokens: the decoding written to `generation_config.json`, as the
            released `infer.py` arguments (sampling when `temperature > 0`, then with transformers 4.43's
            `top_k=50`).

    Returns:
        The `LlamaOmniConfig` that was written.

    Raises:
        FileNotFoundError: the checkpoint folder or its config.json does not exist.
        FileExistsError: `output_dir` is not empty and `overwrite` is False.
        ValueError: the checkpoint is not convertible (wrong model_type, no safetensors, unparsable
            ctc_decoder_config, unknown or missing keys, shape mismatches, a wrong speech encoder or LoRA file...).
            Nothing is written then.
    """
    checkpoint_dir = os.fspath(checkpoint_dir)
    tensors = None
    if model_base is not None or speech_encoder is not None:
        load_source_config(checkpoint_dir)  # the release folder's own errors first
    if model_base is not None:
        model_base = os.fspath(model_base)
        tensors = read_release_on_base(checkpoint_dir, model_base)
    if speech_encoder is not None:
        encoder = read_speech_encoder(speech_encoder)
        tensors = with_speech_encoder(read_source_headers(checkpoint_dir) if tensors is None else tensors, encoder)
    decoding = dict(temperature=temperature, top_p=top_p, num_beams=num_beams, max_new_tokens=max_new_tokens)
    return convert_checkpoint(
        original_layout(generation_config_dir=model_base, **decoding),
        checkpoint_dir,
        output_dir,
        dtype=dtype,
        remote_code=remote_code,
        shard_size=shard_size,
        overwrite=overwrite,
        tensors=tensors,
        tokenizer_dir=model_base,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point. Returns the exit status (0 on success, 1 on a conversion error)."""
    parser = argparse.ArgumentParser(
        prog="python -m modeling_llama_omni.convert_original",
        description="Convert a released LLaMA-Omni checkpoint (ICTNLP/Llama-3.1-8B-Omni layout) into a "
        "transformers LlamaOmniForConditionalGeneration folder.",
    )
    parser.add_argument("--checkpoint", required=True, help="folder of the original checkpoint")
    parser.add_argument("--output", required=True, help="folder to write (must not exist or be empty)")
    parser.add_argument(
        "--speech-encoder",
        help="Whisper encoder to use (the released loader's config.speech_encoder): an openai-whisper .pt such as "
        "large-v3.pt, or a transformers Whisper folder; needed when the checkpoint holds no encoder weights",
    )
    parser.add_argument(
        "--model-base",
        help="base model folder of a release trained on one (speech_projector.bin, or a LoRA adapter with "
        "non_lora_trainables.bin, in --checkpoint)",
    )
    defaults = RELEASED_DECODING
    parser.add_argument("--temperature", type=float, default=defaults["temperature"], help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=defaults["top_p"], help="nucleus sampling (default: off)")
    parser.add_argument("--num-beams", type=int, default=defaults["num_beams"], help="default: 1")
    parser.add_argument("--max-new-tokens", type=int, default=defaults["max_new_tokens"], help="default: 256")
    add_conversion_arguments(parser)
    args = parser.parse_args(argv)
    extra = {name: getattr(args, name) for name in ("speech_encoder", "model_base", "temperature", "top_p")}
    extra.update(num_beams=args.num_beams, max_new_tokens=args.max_new_tokens)
    return run_converter(convert_original_checkpoint, args, **extra)


if __name__ == "__main__":
    sys.exit(main())
