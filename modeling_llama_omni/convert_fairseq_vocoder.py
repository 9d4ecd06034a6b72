# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Convert a fairseq CodeHiFiGAN unit vocoder (the one LLaMA-Omni uses) to a `UnitVocoder` folder.

    python -m modeling_llama_omni.convert_fairseq_vocoder --checkpoint g_00500000 --config config.json --output DIR

The fairseq files are a torch pickle whose `"generator"` entry is the generator's state dict (weight-norm
`weight_g` / `weight_v` pairs) and a `config.json` in the speech-resynthesis format (`upsample_rates`,
`resblock_kernel_sizes`, `num_embeddings`, `dur_predictor_params`, ...). The pickle is read with
`torch.load(weights_only=True)`: arbitrary objects are never unpickled. Weight norm is folded into plain weights
(`w = g * v / ||v||`, the norm taken over every dimension of `v` where `g` has size 1, which is torch's `dim=0`
convention: per output channel of a Conv1d, per *input* channel of a ConvTranspose1d).

Single-speaker vocoders with a duration predictor and type-1 residual blocks are supported (mHuBERT km1000
LJSpeech, the LLaMA-Omni vocoder). Multi-speaker / multilingual vocoders (speaker or language embeddings, speaker
embedders, F0 inputs), vocoders without a duration predictor and `resblock "2"` are refused with a ValueError.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Mapping

import torch

from .configuration_unit_vocoder import UnitVocoderConfig
from .modeling_unit_vocoder import UnitVocoder

# fairseq key (without the weight / weight_g / weight_v / bias suffix) -> our module path
_KEY_PATTERNS: list[tuple[re.Pattern, str]] = [
    (re.compile(r"^dict$"), "unit_embedding"),
    (re.compile(r"^dur_predictor\.conv([12])\.0$"), r"dur_predictor.conv\1"),
    (re.compile(r"^dur_predictor\.(ln[12]|proj)$"), r"dur_predictor.\1"),
    (re.compile(r"^conv_pre$"), "generator.conv_pre"),
    (re.compile(r"^ups\.(\d+)$"), r"generator.ups.\1"),
    (re.compile(r"^resblocks\.(\d+)\.convs([12])\.(\d+)$"), r"generator.resblocks.\1.convs\2.\3"),
    (re.compile(r"^conv_post$"), "generator.conv_post"),
]
_WEIGHT_NORM_SUFFIXES = {
    "weight_g": "g",
    "weight_v": "v",
    "parametrizations.weight.original0": "g",
    "parametrizations.weight.original1": "v",
}
# config.json entries that mean conditioning we do not support yet (speaker / language / F0 inputs)
_UNSUPPORTED_CONFIG_KEYS = ("multispkr", "num_speakers", "embedder_params", "f0", "multilang", "num_langs", "lang")


def load_fairseq_generator_state_dict(checkpoint_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """
    Reads the generator's state dict from a fairseq / speech-resynthesis vocoder checkpoint (e.g. `g_00500000`).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if it cannot be read with `weights_only=True` (it holds more than tensors and plain containers),
            or has no `"generator"` state dict.
    """
    if not os.path.isfile(checkpoint_path):
        raise FileNotFoundError(f"no vocoder checkpoint at {checkpoint_path}")
    try:
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError (or RuntimeError for non-pickles)
        raise ValueError(
            f"{checkpoint_path} cannot be loaded with torch.load(weights_only=True): it holds Python objects other "
            f"than tensors and plain containers, or is not a torch checkpoint. Refusing to unpickle arbitrary objects; "
            f"re-save its 'generator' state dict on a trusted machine if you trust the file. ({error})"
        ) from error
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("generator"), Mapping):
        state_dict = checkpoint["generator"]
    elif isinstance(checkpoint, Mapping) and "dict.weight" in checkpoint:
        state_dict = checkpoint  # a bare generator state dict
    else:
        keys = sorted(checkpoint)[:20] if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ValueError(f"{checkpoint_path} has no 'generator' state dict (found {keys})")
    bad = [key for key, value in state_dict.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(f"the generator state dict holds non-tensor entries: {bad[:20]}")
    return dict(state_dict)


def fairseq_config_to_unit_vocoder_config(fairseq_config: Mapping) -> UnitVocoderConfig:
    """
    Builds the [`UnitVocoderConfig`] of a fairseq CodeHiFiGAN `config.json` (already parsed).

    Raises:
        ValueError: for `resblock` other than "1", speaker / language / F0 conditioning, a missing duration predictor,
            a `model_in_dim` other than `embedding_dim`, or missing fields.
    """
    resblock = str(fairseq_config.get("resblock", "1"))
    if resblock != "1":
        raise ValueError(
            f"only type-1 residual blocks (resblock '1') are supported, this vocoder has resblock {resblock!r}"
        )
    conditioned = [key for key in _UNSUPPORTED_CONFIG_KEYS if fairseq_config.get(key)]
    if conditioned:
        raise ValueError(
            f"this vocoder is conditioned on speaker / language / F0 inputs ({conditioned}): multi-speaker and "
            "multilingual vocoders are not supported yet, only single-speaker unit vocoders (e.g. mHuBERT km1000 "
            "LJSpeech)"
        )
    required = ("upsample_rates", "upsample_kernel_sizes", "upsample_initial_channel", "resblock_kernel_sizes",
                "resblock_dilation_sizes", "num_embeddings", "embedding_dim")
    missing = [key for key in required if key not in fairseq_config]
    if missing:
        raise ValueError(f"the vocoder config lacks {missing}")
    dur_params = fairseq_config.get("dur_predictor_params")
    if not dur_params:
        raise ValueError(
            "the vocoder has no duration predictor (no 'dur_predictor_params'): only CodeHiFiGANs with a duration "
            "predictor (for deduplicated units) are supported"
        )
    embedding_dim = fairseq_config["embedding_dim"]
    model_in_dim = fairseq_config.get("model_in_dim", embedding_dim)
    if model_in_dim != embedding_dim:
        raise ValueError(
            f"model_in_dim ({model_in_dim}) != embedding_dim ({embedding_dim}): the generator reads features beyond "
            "the unit embedding (speaker / language / F0), which is not supported yet"
        )
    if dur_params.get("encoder_embed_dim", embedding_dim) != embedding_dim:
        raise ValueError(
            f"dur_predictor_params.encoder_embed_dim ({dur_params['encoder_embed_dim']}) must equal embedding_dim "
            f"({embedding_dim})"
        )
    return UnitVocoderConfig(
        unit_vocab_size=fairseq_config["num_embeddings"],
        embedding_dim=embedding_dim,
        upsample_initial_channel=fairseq_config["upsample_initial_channel"],
        upsample_rates=list(fairseq_config["upsample_rates"]),
        upsample_kernel_sizes=list(fairseq_config["upsample_kernel_sizes"]),
        resblock_kernel_sizes=list(fairseq_config["resblock_kernel_sizes"]),
        resblock_dilation_sizes=[list(d) for d in fairseq_config["resblock_dilation_sizes"]],
        sampling_rate=fairseq_config.get("sampling_rate", 16000),
        duration_predictor_hidden_dim=dur_params.get("var_pred_hidden_dim", embedding_dim),
        duration_predictor_kernel_size=dur_params.get("var_pred_kernel_size", 3),
        duration_predictor_dropout=float(dur_params.get("var_pred_dropout", 0.5)),
        dur_prediction=True,
    )


def fold_weight_norm(weight_g: torch.Tensor, weight_v: torch.Tensor) -> torch.Tensor:
    """
    `w = g * v / ||v||`, the norm taken over the dimensions where `g` has size 1 (torch's weight norm: `dim=0` gives
    `g` of shape `(v.shape[0], 1, ..., 1)`; a scalar `g` means the norm of the whole tensor).

    Raises:
        ValueError: if `g` cannot be broadcast against `v` as weight norm's magnitude.
    """
    if weight_g.dim() not in (0, weight_v.dim()) or any(
        g not in (1, v) for g, v in zip(weight_g.shape, weight_v.shape)
    ):
        raise ValueError(
            f"weight_g of shape {tuple(weight_g.shape)} does not fit weight_v of shape {tuple(weight_v.shape)}"
        )
    v = weight_v.double()
    reduce_dims = [d for d in range(v.dim()) if weight_g.dim() == 0 or weight_g.shape[d] == 1]
    norm = v.pow(2).sum(dim=reduce_dims, keepdim=True).sqrt() if reduce_dims else v.abs()
    return (weight_g.double() * v / norm).to(weight_v.dtype)


def convert_fairseq_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """
    Renames a fairseq CodeHiFiGAN generator state dict to `UnitVocoder` names and folds weight norm.

    Raises:
        ValueError: listing keys that map to nothing (speaker / language embeddings included) or half a weight-norm
            pair.
    """
    speaker_keys = sorted(k for k in state_dict if k.split(".")[0] in ("spkr", "lang", "spkr_emb", "lang_emb"))
    if speaker_keys:
        raise ValueError(
            f"the checkpoint has speaker / language embeddings ({speaker_keys}): multi-speaker and multilingual "
            "vocoders are not supported yet"
        )
    converted: dict[str, torch.Tensor] = {}
    weight_norm: dict[str, dict[str, torch.Tensor]] = {}
    unmapped = []
    for key, tensor in state_dict.items():
        for suffix in (*_WEIGHT_NORM_SUFFIXES, "weight", "bias"):
            if key.endswith("." + suffix):
                prefix = key[: -len(suffix) - 1]
                break
        else:
            unmapped.append(key)
            continue
        for pattern, replacement in _KEY_PATTERNS:
            if pattern.match(prefix):
                target = pattern.sub(replacement, prefix)
                break
        else:
            unmapped.append(key)
            continue
        tensor = tensor.float() if tensor.is_floating_point() else tensor
        if suffix in _WEIGHT_NORM_SUFFIXES:
            weight_norm.setdefault(target, {})[_WEIGHT_NORM_SUFFIXES[suffix]] = tensor
        else:
            converted[f"{target}.{suffix}"] = tensor
    if unmapped:
        raise ValueError(f"the checkpoint has keys that map to no UnitVocoder weight: {sorted(unmapped)}")
    for target, pair in weight_norm.items():
        if set(pair) != {"g", "v"}:
            raise ValueError(f"{target}: half a weight-norm pair (found only {sorted(pair)})")
        if f"{target}.weight" in converted:
            raise ValueError(f"{target}: both a plain weight and a weight-norm pair")
        converted[f"{target}.weight"] = fold_weight_norm(pair["g"], pair["v"])
    return converted


def convert_fairseq_vocoder(
    checkpoint_path: str | os.PathLike, config_path: str | os.PathLike, output_dir: str | os.PathLike | None
) -> UnitVocoder:
    """
    Converts a fairseq CodeHiFiGAN (`g_00500000` + `config.json`) to a [`UnitVocoder`] and saves it with
    `save_pretrained(output_dir)` (folded weights, safetensors) unless `output_dir` is None.

    Returns:
        The converted [`UnitVocoder`], in eval mode.

    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: for unsupported vocoders (see the module docstring), a checkpoint that is not weights-only, or
            keys that are missing, unexpected or of the wrong shape (all listed).
    """
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"no vocoder config at {config_path}")
    with open(config_path, encoding="utf-8") as f:
        config = fairseq_config_to_unit_vocoder_config(json.load(f))
    state_dict = convert_fairseq_state_dict(load_fairseq_generator_state_dict(checkpoint_path))
    model = UnitVocoder(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"the checkpoint does not match its config: missing {missing}, unexpected {unexpected}"
        )
    wrong_shapes = [
        f"{key}: {tuple(value.shape)} vs {tuple(expected[key].shape)}"
        for key, value in state_dict.items()
        if value.shape != expected[key].shape
    ]
    if wrong_shapes:
        raise ValueError(f"the checkpoint does not match its config (checkpoint vs expected): {wrong_shapes}")
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    if output_dir is not None:
        model.save_pretrained(output_dir)
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert a fairseq CodeHiFiGAN unit vocoder to a UnitVocoder folder.")
    parser.add_argument("--checkpoint", required=True, help="the fairseq generator checkpoint, e.g. g_00500000")
    parser.add_argument("--config", required=True, help="its config.json")
    parser.add_argument("--output", required=True, help="output folder (save_pretrained)")
    args = parser.parse_args(argv)
    model = convert_fairseq_vocoder(args.checkpoint, args.config, args.output)
    params = sum(p.numel() for p in model.parameters())
    print(f"saved a UnitVocoder with {params / 1e6:.2f} M parameters to {args.output}")


if __name__ == "__main__":
    main()
