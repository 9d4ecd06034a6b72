# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What every checkpoint converter shares: reading safetensors headers (never the tensors) of a released
checkpoint, writing the converted weights as streamed safetensors shards, the output folder's safety checks, and the
command-line options. `convert_original` (LLaMA-Omni) and `convert_omni2` (LLaMA-Omni2) are built on it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import GenerationConfig, PreTrainedConfig

from processing.processing_llama_omni import SPEECH_TOKEN, LlamaOmniProcessor

from .configuration_llama_omni import LlamaOmniConfig

logger = logging.getLogger(__name__)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")


SAFE_WEIGHTS_NAME = "model.safetensors"


SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


STALE_WEIGHT_PATTERNS = (
    re.compile(r"model(-\d+-of-\d+)?\.safetensors"),
    re.compile(r"model\.safetensors\.index\.json"),
    re.compile(r"pytorch_model(-\d+-of-\d+)?\.bin"),
    re.compile(r"pytorch_model\.bin\.index\.json"),
)


MAX_LISTED = 20



@dataclass

class SourceTensor:
    """Where one source tensor lies and what it looks like (from the safetensors header only)."""

    key: str
    file: str
    shape: tuple[int, ...]
    dtype: str  # safetensors dtype name, e.g. "F16"
    # Produces the tensor when it is not read from `file` as a safetensors entry (a tensor read from a PyTorch
    # file, or computed, e.g. a LoRA merge); `None`: read `key` from the safetensors file `file`.
    loader: Callable[[], torch.Tensor] | None = None


SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}



def tensor_source(key: str, file: str, tensor: torch.Tensor | Callable[[], torch.Tensor],
                  shape: tuple[int, ...] | None = None, dtype: torch.dtype | None = None) -> SourceTensor:
    """
    A `SourceTensor` that is not a safetensors entry: a tensor in memory, or a function producing it (then its
    `shape` and `dtype` must be given). `file` names where it comes from (in messages and for the shard order).
    """
    if isinstance(tensor, torch.Tensor):
        value = tensor
        shape, dtype = tuple(value.shape), value.dtype
        loader: Callable[[], torch.Tensor] = lambda: value  # noqa: E731
    else:
        if shape is None or dtype is None:
            raise ValueError(f"{key}: a tensor given as a function needs its shape and dtype")
        loader = tensor
    names = {torch_dtype: name for name, torch_dtype in SAFETENSORS_DTYPES.items()}
    if dtype not in names:
        raise ValueError(f"{key} in {file} has dtype {dtype}, which safetensors cannot store")
    return SourceTensor(key=key, file=file, shape=tuple(shape), dtype=names[dtype], loader=loader)


def list_weight_files(checkpoint_dir: str) -> list[str]:
    """The safetensors files of the checkpoint (one, or the shards named by the index)."""
    single = os.path.join(checkpoint_dir, SAFE_WEIGHTS_NAME)
    index_path = os.path.join(checkpoint_dir, SAFE_WEIGHTS_INDEX_NAME)
    if os.path.isfile(index_path):
        try:
            with open(index_path, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{index_path} is not a valid safetensors index (no 'weight_map'): {error}") from error
        files = sorted(set(weight_map.values()))
        missing = [name for name in files if not os.path.isfile(os.path.join(checkpoint_dir, name))]
        if missing:
            raise ValueError(f"{index_path} names shard(s) that are not in {checkpoint_dir}: {missing}")
        return [os.path.join(checkpoint_dir, name) for name in files]
    if os.path.isfile(single):
        return [single]
    others = sorted(name for name in os.listdir(checkpoint_dir) if name.endswith(".safetensors"))
    if others:
        raise ValueError(
            f"{checkpoint_dir} has safetensors files ({others[:5]}) but neither {SAFE_WEIGHTS_NAME} nor "
            f"{SAFE_WEIGHTS_INDEX_NAME}: add the index that names the shards."
        )
    pickles = sorted(name for name in os.listdir(checkpoint_dir) if name.endswith((".bin", ".pt", ".pth")))
    hint = ""
    if pickles:
        hint = (
            f" It has {pickles[:5]}: PyTorch pickle files are not supported, because unpickling a file can run "
            "arbitrary code and a pickle cannot be read header-first (lazily, one tensor at a time). Convert them to "
            "safetensors in an environment you trust first (the released ICTNLP/Llama-3.1-8B-Omni ships safetensors)."
        )
    raise ValueError(f"No {SAFE_WEIGHTS_NAME} or {SAFE_WEIGHTS_INDEX_NAME} in {checkpoint_dir}.{hint}")



def read_source_headers(checkpoint_dir: str) -> dict[str, SourceTensor]:
    """
    Reads the key, shape and dtype of every tensor of the checkpoint from the safetensors headers (no tensor data).

    Raises:
        ValueError: on a missing shard, a key present in two shards, or an index that disagrees with the shards.
    """
    files = list_weight_files(checkpoint_dir)
    tensors: dict[str, SourceTensor] = {}
    duplicates = []
    for path in files:
        with safe_open(path, framework="pt") as f:
            for key in f.keys():
                tensor_slice = f.get_slice(key)
                info = SourceTensor(
                    key=key, file=path, shape=tuple(tensor_slice.get_shape()), dtype=tensor_slice.get_dtype()
                )
                if key in tensors:
                    duplicates.append(key)
                tensors[key] = info
    if duplicates:
        raise ValueError(f"Keys present in more than one shard: {format_list(duplicates)}")
    index_path = os.path.join(checkpoint_dir, SAFE_WEIGHTS_INDEX_NAME)
    if os.path.isfile(index_path):
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
        wrong = [
            key
            for key, name in weight_map.items()
            if key not in tensors or os.path.basename(tensors[key].file) != name
        ]
        if wrong:
            raise ValueError(f"{index_path} places keys in shards that do not hold them: {format_list(wrong)}")
    return tensors



def format_list(items: Sequence[str]) -> str:
    shown = "\n  ".join(items[:MAX_LISTED])
    more = f"\n  ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return f"{len(items)}:\n  {shown}{more}"



@dataclass

class ConversionPlan:
    """The validated mapping: for each output name, its source tensor (in source order)."""

    mapping: dict[str, SourceTensor]
    skipped: list[str]  # source keys dropped on purpose (tied lm_head, inv_freq buffers)



def parse_size(size: int | str) -> int:
    """Parses a shard size such as `"5GB"`, `"500MB"`, `"2GiB"` or a number of bytes."""
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*", str(size), flags=re.IGNORECASE)
        if not match:
            raise ValueError(f"Cannot parse size {size!r}: use e.g. '5GB', '500MB', '2GiB' or a number of bytes")
        unit = (match.group(2) or "B").upper()
        factors = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
        factors.update({"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40})
        value = int(float(match.group(1)) * factors[unit])
    if value < 1:
        raise ValueError(f"Shard size must be positive, got {size!r}")
    return value



def target_dtype(info: SourceTensor, dtype: torch.dtype | None) -> torch.dtype:
    source_dtype = SAFETENSORS_DTYPES.get(info.dtype)
    if source_dtype is None:
        raise ValueError(f"Unsupported safetensors dtype {info.dtype!r} of {info.key}")
    return dtype if dtype is not None and source_dtype.is_floating_point else source_dtype



def plan_shards(
    plan: ConversionPlan, dtype: torch.dtype | None, shard_size: int
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Splits the output tensors (in source order) into shards of at most `shard_size` bytes (a larger tensor gets
    its own shard) with huggingface_hub's splitter, on tensor sizes only (nothing is read). Returns the shards (file
    name -> output names, `model.safetensors` when there is one, else `model-0000i-of-0000n.safetensors`) and each
    tensor's size in bytes."""
    from huggingface_hub import split_state_dict_into_shards_factory

    sizes = {}
    for name, info in plan.mapping.items():
        numel = 1
        for dim in info.shape:
            numel *= dim
        sizes[name] = numel * target_dtype(info, dtype).itemsize
    # Source order (file, then key) keeps each output shard's reads within as few source files as possible.
    names = sorted(plan.mapping, key=lambda n: (plan.mapping[n].file, plan.mapping[n].key))
    # Stand-ins for the tensors (not strings, which the splitter skips as bitsandbytes metadata).
    split = split_state_dict_into_shards_factory(
        {name: (name,) for name in names},
        get_storage_size=lambda stand_in: sizes[stand_in[0]],
        get_storage_id=lambda stand_in: None,  # no tensor shares storage with another
        filename_pattern=SAFE_WEIGHTS_NAME.replace(".safetensors", "{suffix}.safetensors"),
        max_shard_size=shard_size,
    )
    shards = split.filename_to_tensors or {SAFE_WEIGHTS_NAME: []}
    return shards, sizes



def unshared_copies(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` (in place, and returned) with a copy of each tensor whose storage an earlier key already holds (tied
    weights, e.g. an autoregressive decoder's embeddings and head): safetensors' `save_file` refuses shared storage,
    and every key stays in the file."""
    seen: set[int] = set()
    for key, tensor in state.items():
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in seen:
            state[key] = tensor.clone()
        seen.add(pointer)
    return state


def write_weights(
    plan: ConversionPlan, save_dir: str, dtype: torch.dtype | None, shard_size: int
) -> tuple[int, int, int]:
    """Streams the tensors into safetensors shards in `save_dir`. Returns (tensors, parameters, bytes) written."""
    from tqdm.auto import tqdm

    shards, sizes = plan_shards(plan, dtype, shard_size)
    total = len(shards)
    weight_map = {}
    num_params = 0
    handles = {}
    try:
        for file_name, names in tqdm(shards.items(), desc="Writing shards", unit="shard"):
            tensors = {}
            for name in names:
                info = plan.mapping[name]
                if info.loader is not None:
                    tensor = info.loader()
                else:
                    if info.file not in handles:
                        handles[info.file] = safe_open(info.file, framework="pt").__enter__()
                    tensor = handles[info.file].get_tensor(info.key)
                target = target_dtype(info, dtype)
                if tensor.dtype != target:
                    tensor = tensor.to(target)
                tensors[name] = tensor.contiguous()
                num_params += tensor.numel()
                weight_map[name] = file_name
            save_file(tensors, os.path.join(save_dir, file_name), metadata={"format": "pt"})
            del tensors
    finally:
        for handle in handles.values():
            handle.__exit__(None, None, None)
    total_size = sum(sizes.values())
    if total > 1:
        index = {"metadata": {"total_size": total_size, "total_parameters": num_params}, "weight_map": weight_map}
        with open(os.path.join(save_dir, SAFE_WEIGHTS_INDEX_NAME), "w", encoding="utf-8") as f:
            json.dump(index, f, indent=2, sort_keys=True)
            f.write("\n")
    return len(weight_map), num_params, total_size



def check_output_dir(checkpoint_dir: str, output_dir: str, overwrite: bool) -> None:
    source, target = os.path.realpath(checkpoint_dir), os.path.realpath(output_dir)
    if target == source or source.startswith(target.rstrip(os.sep) + os.sep):
        raise ValueError(f"The output folder {output_dir} must not be (or contain) the checkpoint folder")
    if os.path.exists(output_dir):
        if not os.path.isdir(output_dir):
            raise FileExistsError(f"{output_dir} exists and is not a folder")
        if os.listdir(output_dir) and not overwrite:
            raise FileExistsError(
                f"The output folder {output_dir} exists and is not empty: choose another one, or pass "
                "overwrite=True (--overwrite) to replace the files of an earlier conversion there."
            )



def move_into(temp_dir: str, output_dir: str) -> None:
    """Moves the finished conversion into `output_dir`, removing an earlier conversion's weight files there."""
    if not os.path.exists(output_dir):
        os.replace(temp_dir, output_dir)
        return
    for name in os.listdir(output_dir):
        if any(pattern.fullmatch(name) for pattern in STALE_WEIGHT_PATTERNS):
            os.remove(os.path.join(output_dir, name))
    for name in os.listdir(temp_dir):
        target = os.path.join(output_dir, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        os.replace(os.path.join(temp_dir, name), target)
    os.rmdir(temp_dir)



def human(number: int, unit: str) -> str:
    """`8030261248` -> `"8.03 G"` (decimal prefixes)."""
    for factor, prefix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if number >= factor:
            return f"{number / factor:.2f} {prefix}{unit}"
    return f"{number} {unit}".rstrip()



def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return None
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of 'auto', {', '.join(map(repr, DTYPES))}, got {dtype!r}")
    return DTYPES[dtype]



def add_conversion_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options every converter shares (output dtype, remote code, shard size, overwrite)."""
    parser.add_argument("--dtype", default="auto", choices=["auto", *DTYPES], help="dtype of the output weights")
    parser.add_argument(
        "--remote-code",
        default=True,
        action=argparse.BooleanOptionalAction,
        help="write the model code and auto_map for trust_remote_code loading (default: on)",
    )
    parser.add_argument("--shard-size", default="5GB", help="largest output shard (default: 5GB)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier conversion in --output")


def has_tokenizer(checkpoint_dir: str) -> bool:
    """Whether the checkpoint folder has tokenizer files."""
    return any(os.path.isfile(os.path.join(checkpoint_dir, name)) for name in TOKENIZER_FILES)


def load_tokenizer_with_speech_token(checkpoint_dir: str, text_config: PreTrainedConfig):
    """Loads the checkpoint's tokenizer and adds `<speech>` as an extra special token when it lacks one."""
    from transformers import AutoTokenizer

    # The folder's config.json has a model_type transformers does not know: hand AutoTokenizer the LLM's config.
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, config=text_config)
    if SPEECH_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"extra_special_tokens": [SPEECH_TOKEN]}, replace_extra_special_tokens=False)
    ids = tokenizer.encode(SPEECH_TOKEN, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(f"The tokenizer splits {SPEECH_TOKEN!r} into {ids}: it must be a single token")
    return tokenizer, int(ids[0])


def save_processor(config: LlamaOmniConfig, tokenizer, save_dir: str, **processor_kwargs) -> None:
    """Saves a `LlamaOmniProcessor` (Whisper feature extractor + tokenizer + chat template; `processor_kwargs` go to
    its `__init__`)."""
    from transformers import WhisperFeatureExtractor

    feature_extractor = WhisperFeatureExtractor(feature_size=config.speech_encoder_config.num_mel_bins)
    processor = LlamaOmniProcessor(
        feature_extractor=feature_extractor,
        tokenizer=tokenizer,
        speech_token=SPEECH_TOKEN,
        speech_downsample_rate=config.speech_downsample_rate,
        pad_to_30s=True,
        **processor_kwargs,
    )
    processor.save_pretrained(save_dir)


def generation_config_from_checkpoint(checkpoint_dir: str, source: dict) -> GenerationConfig:
    """The checkpoint's generation_config.json if any, else one with the source config's special token ids."""
    if os.path.isfile(os.path.join(checkpoint_dir, "generation_config.json")):
        generation_config = GenerationConfig.from_pretrained(checkpoint_dir)
    else:
        generation_config = GenerationConfig(
            bos_token_id=source.get("bos_token_id"),
            eos_token_id=source.get("eos_token_id"),
            pad_token_id=source.get("pad_token_id"),
        )
    if generation_config.eos_token_id is None and source.get("eos_token_id") is not None:
        generation_config.eos_token_id = source["eos_token_id"]
    return generation_config


def run_converter(convert: Callable[..., LlamaOmniConfig], args: argparse.Namespace, **extra) -> int:
    """Runs `convert(checkpoint, output, ..., **extra)` with the parsed shared options; returns the exit status (1 on
    a conversion error, printed to stderr)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logger.setLevel(logging.INFO)
    try:
        convert(
            args.checkpoint,
            args.output,
            dtype=args.dtype,
            remote_code=args.remote_code,
            shard_size=args.shard_size,
            overwrite=args.overwrite,
            **extra,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
