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

Usage::

    python -m modeling_llama_omni.convert_original --checkpoint Llama-3.1-8B-Omni --output llama-omni-hf
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from transformers import LlamaConfig, PreTrainedConfig

from .configuration_llama_omni import LlamaOmniConfig
from .convert_utils import (
    add_conversion_arguments,
    check_output_dir,
    ConversionPlan,
    format_list,
    generation_config_from_checkpoint,
    has_tokenizer,
    human,
    load_tokenizer_with_speech_token,
    move_into,
    parse_size,
    read_source_headers,
    resolve_dtype,
    run_converter,
    save_processor,
    SourceTensor,
    target_dtype,
    write_weights,
)
from .modeling_llama_omni import LlamaOmniForConditionalGeneration, write_remote_code

logger = logging.getLogger(__name__)

SOURCE_MODEL_TYPE = "omni_speech2s_llama"
SPEECH_TOKEN = "<speech>"
# Files of an earlier conversion that would shadow or contradict the new weights when overwriting an output folder.
# Source keys that may appear in old checkpoints and carry nothing (recomputed from the config).
_IGNORED_SOURCE_KEYS = re.compile(r".*\.rotary_emb\.inv_freq")
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
            "checkpoints keep it under 'model.speech_encoder.'."
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
    )
    config.architectures = [LlamaOmniForConditionalGeneration.__name__]
    return config


# ----------------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------------


def plan_conversion(
    config: LlamaOmniConfig,
    tensors: dict[str, SourceTensor],
    key_mapper: Callable[[str], str | None] = map_key,
) -> ConversionPlan:
    """
    Maps every source key (with `key_mapper`, by default this checkpoint layout's `map_key`) and checks the mapped
    keys and shapes against the target model built on the meta device.

    Raises:
        ValueError: listing every unmapped source key, every target key the source lacks, and every shape mismatch.
    """
    with torch.device("meta"):
        model = LlamaOmniForConditionalGeneration(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    tied = set(getattr(model, "all_tied_weights_keys", None) or {})

    mapping: dict[str, SourceTensor] = {}
    skipped, unmapped, unexpected, mismatched = [], [], [], []
    for key, info in tensors.items():
        if _IGNORED_SOURCE_KEYS.fullmatch(key):
            skipped.append(key)
            continue
        target = key_mapper(key)
        if target is None:
            unmapped.append(key)
        elif target not in expected:
            unexpected.append(f"{key} -> {target}")
        elif info.shape != expected[target]:
            mismatched.append(f"{key} -> {target}: checkpoint {list(info.shape)}, model {list(expected[target])}")
        elif target in mapping:
            unexpected.append(f"{key} -> {target} (a second source for the same parameter)")
        else:
            mapping[target] = info
    missing = [name for name in expected if name not in mapping and name not in tied]

    problems = []
    if unmapped:
        problems.append(f"Checkpoint keys that match no conversion rule: {format_list(unmapped)}")
    if unexpected:
        problems.append(f"Checkpoint keys whose converted name the model does not have: {format_list(unexpected)}")
    if missing:
        problems.append(f"Model parameters the checkpoint does not provide: {format_list(missing)}")
    if mismatched:
        problems.append(f"Shape mismatches: {format_list(mismatched)}")
    if problems:
        raise ValueError("Cannot convert the checkpoint; nothing was written.\n" + "\n".join(problems))

    for name in tied:
        if name in mapping:
            # The model ties this parameter to another one: save_pretrained would drop it too.
            skipped.append(mapping.pop(name).key)
    return ConversionPlan(mapping=mapping, skipped=skipped)


# ----------------------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class CheckpointLayout:
    """
    What differs between the released checkpoint layouts: how to read and check the source config, which LLM config
    the tokenizer belongs to, how to build our config from the source config and the weight shapes, how to map the
    keys, and how to set up the processor. `convert_checkpoint` does the rest the same way for all of them.

    Attributes:
        load_source_config: `checkpoint_dir -> source config dict` (raises for a checkpoint of another layout).
        text_config: `source -> the LLM's config` (handed to `AutoTokenizer`).
        build_config: `(source, tensors, speech_token_id or None) -> LlamaOmniConfig`.
        key_mapper: `source key -> our parameter name`, or `None` for a key that matches no rule.
        processor_kwargs: extra `LlamaOmniProcessor` arguments (chat template, default prompts).
    """

    load_source_config: Callable[[str], dict]
    text_config: Callable[[dict], PreTrainedConfig]
    build_config: Callable[[dict, dict, int | None], LlamaOmniConfig]
    key_mapper: Callable[[str], str | None]
    processor_kwargs: dict


ORIGINAL_LAYOUT = CheckpointLayout(
    load_source_config=load_source_config,
    text_config=text_config_from_source,
    build_config=build_config,
    key_mapper=map_key,
    processor_kwargs={},
)


def convert_checkpoint(
    layout: CheckpointLayout,
    checkpoint_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    remote_code: bool = True,
    shard_size: int | str = "5GB",
    overwrite: bool = False,
) -> LlamaOmniConfig:
    """
    Converts a released checkpoint folder of the given `layout` into a `LlamaOmniForConditionalGeneration` folder
    (see `convert_original_checkpoint` for the arguments): reads the safetensors headers, maps and checks every key
    and shape, then streams the tensors into shards and writes the config, generation config, tokenizer (with
    `<speech>`), processor and remote code, into a temporary folder moved into place at the end.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: as `convert_original_checkpoint`. Nothing is written then.
    """
    checkpoint_dir, output_dir = os.fspath(checkpoint_dir), os.fspath(output_dir)
    torch_dtype = resolve_dtype(dtype)
    max_shard_size = parse_size(shard_size)
    source = layout.load_source_config(checkpoint_dir)
    check_output_dir(checkpoint_dir, output_dir, overwrite)
    tensors = read_source_headers(checkpoint_dir)

    tokenizer, speech_token_id = None, None
    if has_tokenizer(checkpoint_dir):
        tokenizer, speech_token_id = load_tokenizer_with_speech_token(checkpoint_dir, layout.text_config(source))
    config = layout.build_config(source, tensors, speech_token_id)
    if speech_token_id is not None and speech_token_id < config.text_config.vocab_size:
        logger.warning(
            "The %s token has id %d, inside the LLM's vocabulary (%d): the model can then generate it.",
            SPEECH_TOKEN,
            speech_token_id,
            config.text_config.vocab_size,
        )
    plan = plan_conversion(config, tensors, key_mapper=layout.key_mapper)
    if torch_dtype is not None:
        config.dtype = torch_dtype
    else:
        first = plan.mapping.get("model.language_model.embed_tokens.weight") or next(iter(plan.mapping.values()))
        config.dtype = target_dtype(first, None)
    if plan.skipped:
        logger.info("Dropped %d source key(s) the model recomputes or ties: %s", len(plan.skipped), plan.skipped)

    # Everything is validated: write into a temporary sibling folder, then move it into place.
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    temp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output_dir))}.tmp-", dir=parent)
    try:
        num_tensors, num_params, num_bytes = write_weights(plan, temp_dir, torch_dtype, max_shard_size)
        config.save_pretrained(temp_dir)
        generation_config_from_checkpoint(checkpoint_dir, source).save_pretrained(temp_dir)
        if tokenizer is not None:
            tokenizer.save_pretrained(temp_dir)
            try:
                if save_processor(config, tokenizer, temp_dir, **layout.processor_kwargs):
                    logger.info("Saved a LlamaOmniProcessor (pad_to_30s=True).")
            except Exception as error:  # noqa: BLE001 - the weights are the point; a processor can be added later
                logger.warning("Could not save a LlamaOmniProcessor (%s): the tokenizer alone was saved.", error)
        else:
            logger.warning(
                "No tokenizer in %s: the output has none (speech_token_id=%d).", checkpoint_dir, config.speech_token_id
            )
        if remote_code:
            write_remote_code(temp_dir)
        move_into(temp_dir, output_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    logger.info(
        "Converted %s -> %s: %d tensors, %s parameters, %s of weights (%s).",
        checkpoint_dir,
        output_dir,
        num_tensors,
        human(num_params, ""),
        human(num_bytes, "B"),
        str(config.dtype).replace("torch.", ""),
    )
    return config


def convert_original_checkpoint(
    checkpoint_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    remote_code: bool = True,
    shard_size: int | str = "5GB",
    overwrite: bool = False,
) -> LlamaOmniConfig:
    """
    Converts an original LLaMA-Omni checkpoint folder into a `LlamaOmniForConditionalGeneration` folder.

    Args:
        checkpoint_dir: folder with the original config.json, safetensors weights and (optionally) tokenizer.
        output_dir: folder to write; it must not exist or be empty unless `overwrite`.
        dtype: `None` / `"auto"` keeps each tensor's dtype; `"float32"`, `"float16"`, `"bfloat16"` (or a
            `torch.dtype`) casts the floating-point tensors.
        remote_code: also write the model's code files and `auto_map`, so the folder loads with
            `trust_remote_code=True` where this package is not installed.
        shard_size: largest output shard, e.g. `"5GB"`.
        overwrite: allow a non-empty `output_dir`; the files of an earlier conversion there are replaced.

    Returns:
        The `LlamaOmniConfig` that was written.

    Raises:
        FileNotFoundError: the checkpoint folder or its config.json does not exist.
        FileExistsError: `output_dir` is not empty and `overwrite` is False.
        ValueError: the checkpoint is not convertible (wrong model_type, no safetensors, unparsable
            ctc_decoder_config, unknown or missing keys, shape mismatches...). Nothing is written then.
    """
    return convert_checkpoint(
        ORIGINAL_LAYOUT,
        checkpoint_dir,
        output_dir,
        dtype=dtype,
        remote_code=remote_code,
        shard_size=shard_size,
        overwrite=overwrite,
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
    add_conversion_arguments(parser)
    return run_converter(convert_original_checkpoint, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
