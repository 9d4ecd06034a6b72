# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The conversion every released checkpoint layout shares: a `CheckpointLayout` says what differs (source config,
key names, config building, processor, released inference defaults); `plan_conversion` maps and checks every key and
shape against the target model built on the meta device; `convert_checkpoint` writes the converted folder."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import GenerationConfig, PreTrainedConfig

from processing.processing_llama_omni import SPEECH_TOKEN

from .configuration_llama_omni import LlamaOmniConfig
from .convert_utils import (
    ConversionPlan,
    SourceTensor,
    check_output_dir,
    format_list,
    generation_config_from_checkpoint,
    has_tokenizer,
    human,
    load_tokenizer_with_speech_token,
    move_into,
    parse_size,
    read_source_headers,
    resolve_dtype,
    save_processor,
    target_dtype,
    write_weights,
)
from .modeling_llama_omni import LlamaOmniForConditionalGeneration, write_remote_code

logger = logging.getLogger(__name__)

# Source keys that may appear in old checkpoints and carry nothing (recomputed from the config).
IGNORED_SOURCE_KEYS = re.compile(r".*\.rotary_emb\.inv_freq")


# ----------------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------------


def plan_conversion(
    config: LlamaOmniConfig,
    tensors: dict[str, SourceTensor],
    key_mapper: Callable[[str], str | None],
) -> ConversionPlan:
    """
    Maps every source key with `key_mapper` (the layout's) and checks the mapped
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
        if IGNORED_SOURCE_KEYS.fullmatch(key):
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
        released_defaults: optional `(checkpoint_dir, source, tokenizer or None) -> (generation config, extra
            processor kwargs)`,
            called once the tokenizer is loaded: sets up the released inference's defaults (it may set the
            tokenizer's pad token). Without it the checkpoint's own generation config is copied.
    """

    load_source_config: Callable[[str], dict]
    text_config: Callable[[dict], PreTrainedConfig]
    build_config: Callable[[dict, dict, int | None], LlamaOmniConfig]
    key_mapper: Callable[[str], str | None]
    processor_kwargs: dict
    released_defaults: Callable[[str, dict, Any], tuple[GenerationConfig, dict]] | None = None


def convert_checkpoint(
    layout: CheckpointLayout,
    checkpoint_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    remote_code: bool = True,
    shard_size: int | str = "5GB",
    overwrite: bool = False,
    *,
    tensors: dict[str, SourceTensor] | None = None,
    tokenizer_dir: str | os.PathLike | None = None,
) -> LlamaOmniConfig:
    """
    Converts a released checkpoint folder of the given `layout` into a `LlamaOmniForConditionalGeneration` folder
    (see `convert_original_checkpoint` for the arguments): reads the safetensors headers, maps and checks every key
    and shape, then streams the tensors into shards and writes the config, generation config, tokenizer (with
    `<speech>`), processor and remote code, into a temporary folder moved into place at the end.

    `tensors` replaces the checkpoint folder's safetensors (weights assembled from other files), `tokenizer_dir`
    the checkpoint folder as the tokenizer's place.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: as `convert_original_checkpoint`. Nothing is written then.
    """
    checkpoint_dir, output_dir = os.fspath(checkpoint_dir), os.fspath(output_dir)
    torch_dtype = resolve_dtype(dtype)
    max_shard_size = parse_size(shard_size)
    source = layout.load_source_config(checkpoint_dir)
    check_output_dir(checkpoint_dir, output_dir, overwrite)
    if tensors is None:
        tensors = read_source_headers(checkpoint_dir)
    tokenizer_dir = os.fspath(tokenizer_dir) if tokenizer_dir is not None else checkpoint_dir

    tokenizer, speech_token_id = None, None
    if has_tokenizer(tokenizer_dir):
        tokenizer, speech_token_id = load_tokenizer_with_speech_token(tokenizer_dir, layout.text_config(source))
    processor_kwargs = dict(layout.processor_kwargs)
    if layout.released_defaults is not None:
        generation_config, extra = layout.released_defaults(checkpoint_dir, source, tokenizer)
        processor_kwargs.update(extra)
    else:
        generation_config = generation_config_from_checkpoint(checkpoint_dir, source)
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
        generation_config.save_pretrained(temp_dir)
        if tokenizer is not None:
            tokenizer.save_pretrained(temp_dir)
            try:
                save_processor(config, tokenizer, temp_dir, **processor_kwargs)
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
