# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What the released LLaMA-Omni code adds around a checkpoint's weights, for `convert_original`:

- its inference defaults: the prompt (the Llama-3 conversation text starts with `<|begin_of_text|>` and the
  tokenisation adds another BOS), greedy decoding with its `infer.py` defaults, and `pad_token_id` 128004
  (`<|finetune_right_pad_id|>`);
- the Whisper encoder, which the released loader always builds from an openai-whisper `.pt` (`large-v3.pt`),
  read here from such a file or from a transformers Whisper folder;
- the releases its loader assembles from a base model: `--model-base` with `speech_projector.bin`, or with a LoRA
  adapter and `non_lora_trainables.bin`, merged into one set of weights.

PyTorch files are read with `torch.load(..., weights_only=True)` (tensors and plain containers only, no code).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable

import torch
from safetensors import safe_open
from transformers import GenerationConfig

from processing.processing_llama_omni import CHAT_TEMPLATES

from .convert_utils import (
    SAFETENSORS_DTYPES,
    SourceTensor,
    format_list,
    generation_config_from_checkpoint,
    read_source_headers,
    tensor_source,
)

logger = logging.getLogger(__name__)

BOS_TEXT = "<|begin_of_text|>"
RELEASED_PAD_TOKEN = "<|finetune_right_pad_id|>"
RELEASED_PAD_TOKEN_ID = 128004  # what the released infer.py passes as pad_token_id
# The released infer.py's decoding arguments: --temperature 0 (greedy: do_sample = temperature > 0), --top_p None,
# --num_beams 1, --max_new_tokens 256.
RELEASED_DECODING = {"temperature": 0.0, "top_p": None, "num_beams": 1, "max_new_tokens": 256}
# transformers 4.43's GenerationConfig default, which the released sampling ran with (Llama-3.1's
# generation_config.json sets no top_k).
RELEASED_TOP_K = 50
SPEECH_ENCODER_PREFIX = "model.speech_encoder."

# transformers Whisper encoder names -> openai-whisper names (the converter maps the latter to ours).
_HF_TO_OPENAI_WHISPER = (
    (re.compile(r"embed_positions\.weight"), "positional_embedding"),
    (re.compile(r"layer_norm\.(weight|bias)"), r"ln_post.\1"),
    (re.compile(r"(conv[12])\.(weight|bias)"), r"\1.\2"),
    (re.compile(r"layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)"), r"blocks.\1.attn.query.\2"),
    (re.compile(r"layers\.(\d+)\.self_attn\.k_proj\.(weight|bias)"), r"blocks.\1.attn.key.\2"),
    (re.compile(r"layers\.(\d+)\.self_attn\.v_proj\.(weight|bias)"), r"blocks.\1.attn.value.\2"),
    (re.compile(r"layers\.(\d+)\.self_attn\.out_proj\.(weight|bias)"), r"blocks.\1.attn.out.\2"),
    (re.compile(r"layers\.(\d+)\.self_attn_layer_norm\.(weight|bias)"), r"blocks.\1.attn_ln.\2"),
    (re.compile(r"layers\.(\d+)\.fc1\.(weight|bias)"), r"blocks.\1.mlp.0.\2"),
    (re.compile(r"layers\.(\d+)\.fc2\.(weight|bias)"), r"blocks.\1.mlp.2.\2"),
    (re.compile(r"layers\.(\d+)\.final_layer_norm\.(weight|bias)"), r"blocks.\1.mlp_ln.\2"),
)


# ----------------------------------------------------------------------------------------------------------------------
# Inference defaults: prompt, pad token, generation config
# ----------------------------------------------------------------------------------------------------------------------


def tokenizer_adds_bos(tokenizer) -> bool:
    """Whether tokenising text with special tokens (as the released `tokenizer_speech_token` does) prepends BOS."""
    bos = tokenizer.bos_token_id
    ids = tokenizer("a").input_ids
    return bos is not None and len(ids) > 0 and ids[0] == bos


def released_chat_template(tokenizer) -> str:
    """
    The chat template that renders the released prompt ids: the released Llama-3 conversation writes
    `<|begin_of_text|>` into the text, and its tokenisation adds the tokenizer's BOS in front (with the Llama-3.1
    tokenizer the ids start `[128000, 128000, 128006, ...]`). The processor tokenises without special tokens, so
    the template writes both BOS; with a tokenizer that adds no BOS it writes one, as the released code would get.
    (With such a tokenizer the released tokenisation also drops the first token after each `<speech>`, because
    it strips every piece's first token once the prompt starts with BOS; we keep that token.)
    """
    template = CHAT_TEMPLATES["llama3"]
    bos_statement = "{{- '" + BOS_TEXT + "' -}}"
    if bos_statement not in template:
        raise ValueError(f"The llama3 chat template no longer starts with {bos_statement!r}: update this function")
    if not tokenizer_adds_bos(tokenizer):
        return template
    return template.replace(bos_statement, "{{- '" + BOS_TEXT + BOS_TEXT + "' -}}", 1)


def set_released_pad_token(tokenizer) -> int | None:
    """
    Gives a tokenizer without a pad token the one the released inference pads with (`<|finetune_right_pad_id|>`,
    id 128004 in Llama-3.1), or its EOS token where it lacks that token, so that the processor can pad.
    Returns the pad token id (`None` if the tokenizer has neither).
    """
    if tokenizer.pad_token is None:
        if RELEASED_PAD_TOKEN in tokenizer.get_vocab():
            tokenizer.pad_token = RELEASED_PAD_TOKEN
        elif tokenizer.eos_token is not None:
            logger.warning("The tokenizer has no pad token and no %s: padding with EOS.", RELEASED_PAD_TOKEN)
            tokenizer.pad_token = tokenizer.eos_token
    return tokenizer.pad_token_id


def released_generation_config(
    generation_config_dir: str,
    source: dict,
    pad_token_id: int | None,
    temperature: float = RELEASED_DECODING["temperature"],
    top_p: float | None = RELEASED_DECODING["top_p"],
    num_beams: int = RELEASED_DECODING["num_beams"],
    max_new_tokens: int = RELEASED_DECODING["max_new_tokens"],
) -> GenerationConfig:
    """
    The generation config of the released inference: the special token ids of the checkpoint's own generation
    config (the folder the released loader read it from), and the decoding `infer.py` passes, overridable with its
    arguments: `do_sample = temperature > 0`, `temperature`, `top_p`, `num_beams`, `max_new_tokens`, and
    transformers 4.43's `top_k=50` for sampling. `pad_token_id` defaults to 128004 where the vocabulary has it.

    Raises:
        ValueError: a negative temperature, a top_p outside (0, 1], or a non-positive num_beams / max_new_tokens.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy, as the released default), got {temperature}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")
    if num_beams < 1 or max_new_tokens < 1:
        raise ValueError(f"num_beams and max_new_tokens must be positive, got {num_beams} and {max_new_tokens}")
    base = generation_config_from_checkpoint(generation_config_dir, source)
    if pad_token_id is None and int(source.get("vocab_size", 0)) > RELEASED_PAD_TOKEN_ID:
        pad_token_id = RELEASED_PAD_TOKEN_ID
    sampling = temperature > 0
    return GenerationConfig(
        bos_token_id=base.bos_token_id,
        eos_token_id=base.eos_token_id,
        pad_token_id=pad_token_id,
        do_sample=sampling,
        temperature=temperature if sampling else None,
        top_p=top_p,
        top_k=RELEASED_TOP_K,
        num_beams=num_beams,
        max_new_tokens=max_new_tokens,
    )


# ----------------------------------------------------------------------------------------------------------------------
# PyTorch files
# ----------------------------------------------------------------------------------------------------------------------


def load_torch_file(path: str, what: str) -> dict:
    """
    Reads a PyTorch file with `weights_only=True` (no code runs) onto the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PyTorch file of tensors and plain containers (the message says what was expected).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises several types for a wrong or unsafe file
        raise ValueError(
            f"{what}: cannot read {path} with torch.load(weights_only=True) ({type(error).__name__}: {error}); "
            "expected a PyTorch file holding tensors only"
        ) from error
    if not isinstance(data, dict):
        raise ValueError(f"{what}: {path} holds a {type(data).__name__}, expected a dict of tensors")
    return data


def _tensors_of(state: object, path: str, what: str) -> dict[str, torch.Tensor]:
    """`state` checked to be a dict of named tensors."""
    if not isinstance(state, dict):
        raise ValueError(f"{what}: {path} holds a {type(state).__name__} where a dict of tensors was expected")
    wrong = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if wrong:
        raise ValueError(f"{what}: {path} has entries that are not named tensors: {format_list(wrong)}")
    return state


# ----------------------------------------------------------------------------------------------------------------------
# Whisper encoder from an openai-whisper .pt or a transformers folder
# ----------------------------------------------------------------------------------------------------------------------


def _openai_whisper_encoder(path: str) -> dict[str, SourceTensor]:
    data = load_torch_file(path, "speech encoder")
    if "model_state_dict" not in data or "dims" not in data:
        raise ValueError(
            f"speech encoder: {path} is not an openai-whisper checkpoint (expected the keys 'dims' and "
            f"'model_state_dict' as whisper saves them, e.g. large-v3.pt; found {sorted(map(str, data))[:10]})"
        )
    state = _tensors_of(data["model_state_dict"], path, "speech encoder")
    dims = data["dims"]
    encoder = {key[len("encoder.") :]: t for key, t in state.items() if key.startswith("encoder.")}
    if not encoder:
        raise ValueError(f"speech encoder: {path} has no 'encoder.*' weights")
    checks = {
        "n_mels": encoder["conv1.weight"].shape[1] if "conv1.weight" in encoder else None,
        "n_audio_state": encoder["conv1.weight"].shape[0] if "conv1.weight" in encoder else None,
        "n_audio_ctx": encoder["positional_embedding"].shape[0] if "positional_embedding" in encoder else None,
    }
    wrong = [f"{k}={dims.get(k)} but the weights say {v}" for k, v in checks.items() if k in dims and dims[k] != v]
    if "n_audio_head" in dims and "n_audio_state" in dims and dims["n_audio_state"] != 64 * dims["n_audio_head"]:
        wrong.append(f"n_audio_head={dims['n_audio_head']}: the converter needs 64-wide heads")
    if wrong:
        raise ValueError(f"speech encoder: {path}'s dims disagree with its weights: {'; '.join(wrong)}")
    return {SPEECH_ENCODER_PREFIX + k: tensor_source(SPEECH_ENCODER_PREFIX + k, path, t) for k, t in encoder.items()}


def _safetensors_loader(file: str, key: str) -> Callable[[], torch.Tensor]:
    def load() -> torch.Tensor:
        with safe_open(file, framework="pt") as f:
            return f.get_tensor(key)

    return load


def _transformers_whisper_encoder(folder: str) -> dict[str, SourceTensor]:
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ValueError(f"speech encoder: {folder} has no config.json (expected a transformers Whisper folder)")
    with open(config_path, encoding="utf-8") as f:
        model_type = json.load(f).get("model_type")
    if model_type != "whisper":
        raise ValueError(f"speech encoder: {folder} has model_type {model_type!r}, expected 'whisper'")
    out: dict[str, SourceTensor] = {}
    unmapped = []
    for key, info in read_source_headers(folder).items():
        rest = next((key[len(p) :] for p in ("model.encoder.", "encoder.") if key.startswith(p)), None)
        if rest is None:
            continue  # the decoder, projection layers
        name = next((pattern.sub(repl, rest) for pattern, repl in _HF_TO_OPENAI_WHISPER if pattern.fullmatch(rest)), None)
        if name is None:
            unmapped.append(key)
            continue
        out[SPEECH_ENCODER_PREFIX + name] = tensor_source(
            SPEECH_ENCODER_PREFIX + name,
            info.file,
            _safetensors_loader(info.file, key),
            info.shape,
            SAFETENSORS_DTYPES[info.dtype],
        )
    if unmapped:
        raise ValueError(f"speech encoder: keys of {folder} that match no Whisper encoder name: {format_list(unmapped)}")
    if not out:
        raise ValueError(f"speech encoder: {folder} has no encoder weights ('model.encoder.*' or 'encoder.*')")
    return out


def read_speech_encoder(path: str | os.PathLike) -> dict[str, SourceTensor]:
    """
    The Whisper encoder's tensors, named as in a LLaMA-Omni checkpoint (`model.speech_encoder.` + openai-whisper
    names), from an openai-whisper `.pt` (e.g. `large-v3.pt`, as the released loader reads it) or a transformers
    Whisper folder (`WhisperModel` / `WhisperForConditionalGeneration` safetensors).

    Raises:
        FileNotFoundError: no such file or folder.
        ValueError: neither of the two (the message says what was found and what is accepted).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return _transformers_whisper_encoder(path)
    if os.path.isfile(path) and path.endswith(".safetensors"):
        raise ValueError(
            f"speech encoder: pass the transformers Whisper folder that holds {os.path.basename(path)} (its "
            "config.json is needed), or an openai-whisper .pt"
        )
    return _openai_whisper_encoder(path)


def with_speech_encoder(tensors: dict[str, SourceTensor], encoder: dict[str, SourceTensor]) -> dict[str, SourceTensor]:
    """Replaces the checkpoint's speech encoder (if any) by `encoder`, as the released loader does at load time."""
    kept = {k: v for k, v in tensors.items() if not k.startswith(SPEECH_ENCODER_PREFIX)}
    if len(kept) < len(tensors):
        logger.info("Replacing the checkpoint's %d speech encoder tensors by the given encoder.", len(tensors) - len(kept))
    return {**kept, **encoder}


# ----------------------------------------------------------------------------------------------------------------------
# Releases built on a base model: speech_projector.bin, or a LoRA adapter + non_lora_trainables.bin
# ----------------------------------------------------------------------------------------------------------------------

NON_LORA_FILE = "non_lora_trainables.bin"
PROJECTOR_FILE = "speech_projector.bin"
ADAPTER_CONFIG = "adapter_config.json"
_ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_LORA_KEY = re.compile(r"(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight")


def is_lora_release(release_dir: str) -> bool:
    """Whether the release folder holds a LoRA adapter (`adapter_config.json`)."""
    return os.path.isfile(os.path.join(release_dir, ADAPTER_CONFIG))


def _overlay(tensors: dict[str, SourceTensor], state: dict[str, torch.Tensor], path: str) -> None:
    for key, tensor in state.items():
        tensors[key] = tensor_source(key, path, tensor)


def _non_lora_trainables(path: str) -> dict[str, torch.Tensor]:
    """`non_lora_trainables.bin` with its keys named as the released loader renames them: a leading `base_model.`
    dropped, then one leading `model.` dropped where keys start `model.model.` (PEFT's wrapper prefixes)."""
    state = _tensors_of(load_torch_file(path, "LoRA release"), path, "LoRA release")
    state = {(k[len("base_model.") :] if k.startswith("base_model.") else k): v for k, v in state.items()}
    if any(k.startswith("model.model.") for k in state):
        state = {(k[len("model.") :] if k.startswith("model.") else k): v for k, v in state.items()}
    return state


def _read_adapter(release_dir: str) -> tuple[dict, dict[str, torch.Tensor], str]:
    with open(os.path.join(release_dir, ADAPTER_CONFIG), encoding="utf-8") as f:
        adapter_config = json.load(f)
    for name in _ADAPTER_WEIGHTS:
        path = os.path.join(release_dir, name)
        if os.path.isfile(path):
            break
    else:
        raise ValueError(f"LoRA release: {release_dir} has {ADAPTER_CONFIG} but none of {list(_ADAPTER_WEIGHTS)}")
    if path.endswith(".safetensors"):
        with safe_open(path, framework="pt") as f:
            weights = {key: f.get_tensor(key) for key in f.keys()}
    else:
        weights = _tensors_of(load_torch_file(path, "LoRA adapter"), path, "LoRA adapter")
    unsupported = {
        "use_dora": bool(adapter_config.get("use_dora")),
        "fan_in_fan_out": bool(adapter_config.get("fan_in_fan_out")),
        "rank_pattern": bool(adapter_config.get("rank_pattern")),
        "alpha_pattern": bool(adapter_config.get("alpha_pattern")),
        "bias": adapter_config.get("bias", "none") not in (None, "none"),
    }
    bad = [name for name, on in unsupported.items() if on]
    if bad:
        raise ValueError(f"LoRA release: {ADAPTER_CONFIG} uses {bad}; only plain LoRA on Linear weights is supported")
    return adapter_config, weights, path


def _merged_loader(base: SourceTensor, down: torch.Tensor, up: torch.Tensor, scale: float):
    def load() -> torch.Tensor:
        if base.loader is not None:
            weight = base.loader()
        else:
            with safe_open(base.file, framework="pt") as f:
                weight = f.get_tensor(base.key)
        merged = weight.float() + scale * (up.float() @ down.float())
        return merged.to(weight.dtype)

    return load


def merge_lora(tensors: dict[str, SourceTensor], release_dir: str) -> None:
    """
    Merges the release's LoRA adapter into `tensors` (lazily: each merged weight is computed when written):
    `W + scale * B @ A` with `scale = lora_alpha / r` (`lora_alpha / sqrt(r)` with `use_rslora`), as PEFT's
    `merge_and_unload` computes it, in float32, cast back to the base weight's dtype.

    Raises:
        ValueError: unsupported adapter options, adapter keys that name no base weight, or unpaired A/B matrices.
    """
    adapter_config, weights, path = _read_adapter(release_dir)
    rank, alpha = int(adapter_config["r"]), float(adapter_config.get("lora_alpha", adapter_config["r"]))
    scale = alpha / (rank**0.5 if adapter_config.get("use_rslora") else rank)
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in weights.items():
        match = _LORA_KEY.fullmatch(key)
        if match is None:
            unknown.append(key)
            continue
        pairs.setdefault(match.group(1) + ".weight", {})[match.group(2)] = tensor
    for target, pair in pairs.items():
        if target not in tensors or set(pair) != {"A", "B"}:
            unknown.append(f"{target} (LoRA {sorted(pair)})")
            continue
        base, down, up = tensors[target], pair["A"], pair["B"]
        if (up.shape[0], down.shape[1]) != tuple(base.shape) or up.shape[1] != down.shape[0]:
            raise ValueError(
                f"LoRA release: {target} is {list(base.shape)} but its adapter is B {list(up.shape)} @ A "
                f"{list(down.shape)}"
            )
        tensors[target] = tensor_source(
            target, path, _merged_loader(base, down, up, scale), base.shape, SAFETENSORS_DTYPES[base.dtype]
        )
    if unknown:
        raise ValueError(f"LoRA release: adapter weights of {path} that match no base weight: {format_list(unknown)}")


def read_release_on_base(release_dir: str, model_base: str) -> dict[str, SourceTensor]:
    """
    The weights the released loader assembles for a release trained on `model_base` (`--model-base`): the base
    model's safetensors, overlaid with the release's trainables and merged with its LoRA adapter
    (`adapter_config.json` + adapter weights + `non_lora_trainables.bin`), or without an adapter overlaid with
    `speech_projector.bin`. The `.bin` files are read with `weights_only=True`.

    Raises:
        FileNotFoundError, ValueError: a missing or unreadable file, an adapter that does not fit the base.
    """
    if not os.path.isdir(model_base):
        raise FileNotFoundError(f"Base model folder {model_base} does not exist")
    tensors = read_source_headers(model_base)
    if is_lora_release(release_dir):
        path = os.path.join(release_dir, NON_LORA_FILE)
        if os.path.isfile(path):
            _overlay(tensors, _non_lora_trainables(path), path)
        else:
            logger.warning("LoRA release without %s: only the adapter is merged into the base.", NON_LORA_FILE)
        merge_lora(tensors, release_dir)
    else:
        path = os.path.join(release_dir, PROJECTOR_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{release_dir} has neither {ADAPTER_CONFIG} (a LoRA release) nor {PROJECTOR_FILE}: with a base "
                "model, the release must provide one of them"
            )
        _overlay(tensors, _tensors_of(load_torch_file(path, "speech projector"), path, "speech projector"), path)
    return tensors
