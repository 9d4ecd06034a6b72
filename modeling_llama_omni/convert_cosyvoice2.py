# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Convert CosyVoice2's token-to-waveform stack (the `CosyVoice2-0.5B` folder LLaMA-Omni2 speaks with) to a
[`LlamaOmni2Token2Wav`] folder:

    llama-omni convert-cosyvoice2 --model-dir CosyVoice2-0.5B --prompt-wav prompt_en.wav [--prompt-wav prompt_zh.wav] \
        --output cosyvoice2-token2wav

Read from the folder: the yaml (`cosyvoice.yaml` or `cosyvoice2.yaml`, read as data: hyperpyyaml's tags are not
executed, `!ref <name>` expressions are resolved), `flow.pt` and `hift.pt` (`torch.load(weights_only=True)`; HiFT's
weight norm is folded), and `campplus.onnx`, with which the speaker embedding of each prompt wav is computed once (80-bin
Kaldi fbank, mean-normalised, CAM++ through onnxruntime: the release's `_extract_spk_embedding`). The embeddings are
stored in the converted folder (named after the wav files, the first is the default speaker), so the converted model
needs neither onnxruntime nor the wavs; `speaker_embedding_from_wav` computes one for another voice the same way.
LLaMA-Omni2's run-time settings are written into the config: chunked attention of 50 tokens in the flow's encoder and
100 mel frames in its estimator, a 50-token streaming hop.
"""

from __future__ import annotations

import argparse
import ast
import logging
import operator
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import yaml

from .configuration_token2wav import LlamaOmni2Token2WavConfig
from .convert_utils import check_output_dir, move_into
from .modeling_token2wav import LlamaOmni2Token2Wav
from .modeling_token2wav_hift import fold_weight_norm

logger = logging.getLogger(__name__)

YAML_NAMES = ("cosyvoice2.yaml", "cosyvoice.yaml")
SPEAKER_SAMPLING_RATE = 16000
CLASS_KEY = "__class__"  # where the tag-ignoring loader keeps a mapping's `!new:module.Class` name

_FLOW_KEYS = ("input_size", "output_size", "spk_embed_dim", "vocab_size", "input_frame_rate", "token_mel_ratio",
              "pre_lookahead_len")
_ENCODER_KEYS = ("output_size", "attention_heads", "linear_units", "num_blocks", "normalize_before", "input_layer",
                 "pos_enc_layer_type", "selfattention_layer_type", "input_size", "use_cnn_module", "macaron_style",
                 "static_chunk_size")
_ESTIMATOR_KEYS = ("in_channels", "out_channels", "causal", "channels", "dropout", "attention_head_dim", "n_blocks",
                   "num_mid_blocks", "num_heads", "act_fn")


# ----------------------------------------------------------------------------------------------------------------------
# The yaml, as data
# ----------------------------------------------------------------------------------------------------------------------


class _TagIgnoringLoader(yaml.SafeLoader):
    """A safe loader that reads hyperpyyaml's tagged nodes as plain data: a `!new:pkg.Class` mapping becomes a dict
    with its class name under `__class__`, `!ref <x>` a `("ref", "<x>")` marker, every other tag its plain value."""


def _construct_tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
        if tag_suffix.startswith(("new:", "name:")):
            value = {CLASS_KEY: tag_suffix.split(":", 1)[1], **value}
        return value
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    scalar = loader.construct_scalar(node)
    if tag_suffix == "ref":
        return ("ref", scalar)
    if tag_suffix.startswith(("new:", "name:")) and scalar in ("", None):
        return {CLASS_KEY: tag_suffix.split(":", 1)[1]}
    return scalar


_TagIgnoringLoader.add_multi_constructor("!", _construct_tagged)

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
               ast.FloorDiv: operator.floordiv, ast.USub: operator.neg}


def _evaluate_arithmetic(expression: str) -> Any:
    """Evaluates `+ - * / //` over numbers (what `!ref` expressions in CosyVoice's yaml use); nothing else runs."""

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](walk(node.operand))
        raise ValueError(f"unsupported !ref expression {expression!r}")

    return walk(ast.parse(expression, mode="eval"))


def _resolve_refs(value: Any, top: dict) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == "ref":
        names = re.findall(r"<([^<>]+)>", value[1])
        resolved = {name: _resolve_refs(top.get(name.split("[")[0]), top) for name in names}
        if re.fullmatch(r"\s*<[^<>]+>\s*", value[1]):  # a plain reference keeps its type (dict, list, str, ...)
            return resolved[names[0]]
        expression = value[1]
        for name, target in resolved.items():
            expression = expression.replace(f"<{name}>", repr(target))
        return _evaluate_arithmetic(expression)
    if isinstance(value, dict):
        return {key: _resolve_refs(item, top) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(item, top) for item in value]
    return value


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _numbers_as_numbers(value: Any) -> Any:
    """YAML 1.1 reads `1e-06` (no dot) as a string; hyperpyyaml's loader reads it as a float: so do we."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and re.fullmatch(r"[-+]?\d+", value.strip()) else number
    if isinstance(value, dict):
        return {key: _numbers_as_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers_as_numbers(item) for item in value]
    return value


def load_cosyvoice_yaml(path: str | os.PathLike) -> dict:
    """Reads a CosyVoice yaml as data (tags not executed, `!ref`s resolved against the top-level keys)."""
    with open(path, encoding="utf-8") as f:
        raw = yaml.load(f, Loader=_TagIgnoringLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a CosyVoice yaml (no top-level mapping)")
    raw = _numbers_as_numbers(raw)
    return _resolve_refs(raw, raw)


def _class_name(section: dict) -> str:
    return str(section.get(CLASS_KEY, "")).rsplit(".", 1)[-1]


def _pick(section: dict, keys: Sequence[str]) -> dict:
    return {key: section[key] for key in keys if key in section}


def configs_from_yaml(data: dict) -> tuple[dict, dict]:
    """
    `(flow_config, hift_config)` for [`LlamaOmni2Token2WavConfig`] from a CosyVoice2 yaml read by
    [`load_cosyvoice_yaml`], with LLaMA-Omni2's run-time chunk sizes.

    Raises:
        ValueError: if the yaml is not CosyVoice2's (a causal flow with an upsampling Conformer and a HiFT vocoder).
    """
    flow, hift = data.get("flow"), data.get("hift")
    if not isinstance(flow, dict) or not isinstance(hift, dict):
        raise ValueError("the yaml has no `flow:` and `hift:` sections: is this a CosyVoice2 model folder?")
    if _class_name(flow) not in ("", "CausalMaskedDiffWithXvec"):
        raise ValueError(
            f"the flow is a {_class_name(flow)}; only CosyVoice2's CausalMaskedDiffWithXvec is supported "
            "(CosyVoice 1's MaskedDiffWithXvec with a length regulator is not)"
        )
    encoder, decoder = flow.get("encoder") or {}, flow.get("decoder") or {}
    if _class_name(encoder) not in ("", "UpsampleConformerEncoder"):
        raise ValueError(f"the flow's encoder is a {_class_name(encoder)}, not an UpsampleConformerEncoder")
    estimator = decoder.get("estimator") or {}
    if _class_name(estimator) not in ("", "ConditionalDecoder", "CausalConditionalDecoder"):
        raise ValueError(f"the flow's estimator is a {_class_name(estimator)}, not a (Causal)ConditionalDecoder")
    if _class_name(hift) not in ("", "HiFTGenerator"):
        raise ValueError(f"the vocoder is a {_class_name(hift)}, not a HiFTGenerator")
    cfm_params = decoder.get("cfm_params") or {}
    cfm_params = cfm_params.get("content", cfm_params)  # `!new:omegaconf.DictConfig` wraps it in `content:`
    frame_rate = int(flow.get("input_frame_rate", 25))
    mel_ratio = int(flow.get("token_mel_ratio", 2))
    estimator_config = _pick(estimator, _ESTIMATOR_KEYS)
    if _class_name(estimator) == "CausalConditionalDecoder":
        estimator_config["causal"] = True
    flow_config = {
        **_pick(flow, _FLOW_KEYS),
        "encoder": {**_pick(encoder, _ENCODER_KEYS), "static_chunk_size": 2 * frame_rate},
        "decoder": {
            **_pick(decoder, ("in_channels", "n_spks", "spk_emb_dim")),
            "cfm_params": {key: value for key, value in cfm_params.items() if key != CLASS_KEY},
            "estimator": {**estimator_config, "static_chunk_size": 2 * frame_rate * mel_ratio},
        },
    }
    hift_config = {key: value for key, value in hift.items() if key not in (CLASS_KEY, "f0_predictor")}
    f0_predictor = hift.get("f0_predictor") or {}
    hift_config["f0_predictor"] = {key: value for key, value in f0_predictor.items() if key != CLASS_KEY}
    return flow_config, hift_config


# ----------------------------------------------------------------------------------------------------------------------
# Speaker embeddings
# ----------------------------------------------------------------------------------------------------------------------


def load_prompt_wav(path: str | os.PathLike) -> torch.FloatTensor:
    """A wav as the release's `load_wav(path, 16000)` reads it: mono (channel mean), resampled to 16 kHz, `(1, N)`."""
    import soundfile as sf
    import torchaudio

    audio, rate = sf.read(os.fspath(path), dtype="float32", always_2d=True)
    speech = torch.from_numpy(audio.T.copy()).mean(dim=0, keepdim=True)
    if rate != SPEAKER_SAMPLING_RATE:
        speech = torchaudio.functional.resample(speech, rate, SPEAKER_SAMPLING_RATE)
    return speech


def speaker_embedding_from_wav(
    wav: str | os.PathLike | torch.Tensor, campplus_onnx: str | os.PathLike, session: Any | None = None
) -> torch.FloatTensor:
    """
    The CAM++ speaker embedding of a voice, as LLaMA-Omni2 computes it for its prompt wav: 80-bin Kaldi fbank (no
    dither) of the 16 kHz audio, minus its mean over time, through `campplus.onnx` with onnxruntime.

    Args:
        wav: a file path, or a `(1, N)` 16 kHz float tensor.
        campplus_onnx: the `campplus.onnx` of the CosyVoice2 folder.
        session: an `onnxruntime.InferenceSession` of it, to reuse.

    Returns:
        `(1, 192)` float32 tensor (pass it as `speaker=` to the model, or store it at conversion).

    Raises:
        FileNotFoundError: for a missing file; ImportError: without onnxruntime.
    """
    import torchaudio.compliance.kaldi as kaldi

    if not isinstance(wav, torch.Tensor):
        if not os.path.isfile(wav):
            raise FileNotFoundError(f"no prompt wav at {wav}")
        wav = load_prompt_wav(wav)
    if session is None:
        session = _campplus_session(campplus_onnx)
    feat = kaldi.fbank(wav.reshape(1, -1).float(), num_mel_bins=80, dither=0, sample_frequency=SPEAKER_SAMPLING_RATE)
    feat = feat - feat.mean(dim=0, keepdim=True)
    output = session.run(None, {session.get_inputs()[0].name: feat.unsqueeze(0).numpy()})[0]
    return torch.tensor(np.asarray(output, dtype=np.float32).reshape(1, -1))


def _campplus_session(campplus_onnx: str | os.PathLike) -> Any:
    if not os.path.isfile(campplus_onnx):
        raise FileNotFoundError(f"no CAM++ speaker model at {campplus_onnx} (the CosyVoice2 folder's campplus.onnx)")
    try:
        import onnxruntime
    except ImportError as error:  # pragma: no cover - onnxruntime is in the pinned stack
        raise ImportError("speaker embeddings from a wav need onnxruntime: pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(os.fspath(campplus_onnx), sess_options=options, providers=["CPUExecutionProvider"])


# ----------------------------------------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------------------------------------


def _load_torch_state_dict(path: str) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {os.path.basename(path)} at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickles with code are refused by weights_only
        raise ValueError(f"{path} is not a weights-only torch checkpoint ({error})") from error
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a flat state dict of tensors")
    return state


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k}: {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in state.items()
             if k in expected and v.shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source} does not match the yaml's hyperparameters: missing {missing[:20]}, unexpected "
            f"{unexpected[:20]}, wrong shapes (checkpoint vs expected) {wrong[:20]}"
        )
    module.load_state_dict(state, strict=True)


def find_yaml(model_dir: str) -> str:
    for name in YAML_NAMES:
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"no {' or '.join(YAML_NAMES)} in {model_dir}: is it a CosyVoice2 model folder?")


def convert_cosyvoice2(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None,
    prompt_wavs: Sequence[str | os.PathLike] = (),
    speaker_names: Sequence[str] | None = None,
    noise_seed: int = 0,
    remote_code: bool = True,
    overwrite: bool = False,
) -> LlamaOmni2Token2Wav:
    """
    Converts a CosyVoice2 model folder into a [`LlamaOmni2Token2Wav`] and saves it (safetensors, config, remote
    code) to `output_dir` unless it is None.

    Args:
        model_dir: the folder with the yaml, `flow.pt`, `hift.pt` and (for `prompt_wavs`) `campplus.onnx`.
        prompt_wavs: the voices to store (LLaMA-Omni2 uses its `prompt_en.wav` / `prompt_zh.wav`); the first is the
            default speaker. Without any, the model has one all-zero speaker embedding (pass `speaker=` at run time).
        speaker_names: names of the stored speakers (default: the wav file names without extension).
        noise_seed: seed of the ODE's fixed starting noise.
        remote_code: also write the code files and `auto_map` (loadable with `trust_remote_code=True`).
        overwrite: replace an existing non-empty `output_dir`.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: missing files, an occupied output folder, or a checkpoint
            that does not match its yaml (all mismatching keys listed). Nothing is written then.
    """
    model_dir = os.fspath(model_dir)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"no CosyVoice2 model folder at {model_dir}")
    if output_dir is not None:
        check_output_dir(model_dir, os.fspath(output_dir), overwrite)  # never the source folder; not empty: overwrite
    flow_config, hift_config = configs_from_yaml(load_cosyvoice_yaml(find_yaml(model_dir)))
    names = list(speaker_names) if speaker_names else [os.path.splitext(os.path.basename(p))[0] for p in prompt_wavs]
    if prompt_wavs and len(names) != len(prompt_wavs):
        raise ValueError(f"{len(prompt_wavs)} prompt wavs but {len(names)} speaker names")
    embeddings = []
    if not prompt_wavs:
        logger.warning(
            "No --prompt-wav: the converted model's only speaker embedding is all zeros (no voice). LLaMA-Omni2 "
            "speaks with its llama_omni2/inference/prompt_en.wav; or pass speaker=<embedding> at run time."
        )
    if prompt_wavs:
        session = _campplus_session(os.path.join(model_dir, "campplus.onnx"))
        embeddings = [speaker_embedding_from_wav(p, None, session=session) for p in prompt_wavs]
    config = LlamaOmni2Token2WavConfig(
        flow_config=flow_config, hift_config=hift_config, speakers=names or None, noise_seed=noise_seed
    )
    with torch.device("cpu"):
        model = LlamaOmni2Token2Wav(config)
    _load_strict(model.flow, _load_torch_state_dict(os.path.join(model_dir, "flow.pt")), "flow.pt")
    _load_strict(model.hift, fold_weight_norm(_load_torch_state_dict(os.path.join(model_dir, "hift.pt"))), "hift.pt")
    if embeddings:
        stacked = torch.cat(embeddings, dim=0)
        if stacked.shape[1] != model.speaker_embeddings.shape[1]:
            raise ValueError(
                f"campplus.onnx gives {stacked.shape[1]}-dim embeddings, the flow expects "
                f"{model.speaker_embeddings.shape[1]} (spk_embed_dim)"
            )
        with torch.no_grad():
            model.speaker_embeddings.copy_(stacked)
    model.eval()
    if output_dir is not None:
        output_dir = os.fspath(output_dir)
        parent = os.path.dirname(os.path.abspath(output_dir))
        os.makedirs(parent, exist_ok=True)
        temp_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output_dir))}.tmp-", dir=parent)
        try:
            model.save_pretrained(temp_dir, remote_code=remote_code)
            move_into(temp_dir, output_dir)
        except BaseException:
            shutil.rmtree(temp_dir, ignore_errors=True)
            raise
        logger.info(
            "Converted %s -> %s: %.1f M parameters, speakers %s.",
            model_dir, output_dir, sum(p.numel() for p in model.parameters()) / 1e6, config.speakers,
        )
    return model


def check_token2wav_folder(token2wav_dir: str | os.PathLike, unit_vocab_size: int | None = None) -> None:
    """
    Raises:
        ValueError: unless `token2wav_dir` holds a converted [`LlamaOmni2Token2Wav`] (says so for a raw CosyVoice2
            folder, which must be converted first) whose speech vocabulary is `unit_vocab_size` (when given: the
            LLaMA-Omni2 model's number of speech tokens).
    """
    import json

    config_path = os.path.join(token2wav_dir, "config.json")
    if not os.path.isfile(config_path):
        raw = os.path.isfile(os.path.join(token2wav_dir, "flow.pt"))
        hint = " (it is a raw CosyVoice2 folder: run `llama-omni convert-cosyvoice2` on it first)" if raw else ""
        raise ValueError(f"{token2wav_dir} is not a converted token-to-waveform folder{hint}")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    model_type = config.get("model_type")
    if model_type != LlamaOmni2Token2WavConfig.model_type:
        raise ValueError(f"{token2wav_dir} holds a {model_type!r} model, not a {LlamaOmni2Token2WavConfig.model_type!r}")
    vocab = (config.get("flow_config") or {}).get("vocab_size")
    if unit_vocab_size is not None and vocab is not None and int(vocab) != int(unit_vocab_size):
        raise ValueError(
            f"{token2wav_dir} speaks {vocab} speech tokens, but the LLaMA-Omni2 model writes {unit_vocab_size}: "
            "they must be the same tokenizer's"
        )


def attach_token2wav(token2wav_dir: str | os.PathLike, model_dir: str | os.PathLike, overwrite: bool = False) -> str:
    """
    Copies a converted [`LlamaOmni2Token2Wav`] folder into a converted LLaMA-Omni2 folder as its `vocoder/`, the
    default of `model.stream()` and `generate(return_audio=True)`. Returns the new folder's path.

    Raises:
        FileNotFoundError: if either folder is missing; ValueError: if `token2wav_dir` is not a converted
            token-to-waveform folder (e.g. the raw CosyVoice2 folder: convert it first).
    """
    token2wav_dir, model_dir = os.fspath(token2wav_dir), os.fspath(model_dir)
    check_token2wav_folder(token2wav_dir)
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        raise FileNotFoundError(f"no converted model at {model_dir}")
    target = os.path.join(model_dir, "vocoder")
    if os.path.exists(target):
        if not overwrite:
            raise FileExistsError(f"{target} exists: pass overwrite=True (--overwrite) to replace it")
        shutil.rmtree(target)
    shutil.copytree(token2wav_dir, target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """`llama-omni convert-cosyvoice2`. Returns the exit status (1 on a conversion error)."""
    parser = argparse.ArgumentParser(
        prog="llama-omni convert-cosyvoice2",
        description="Convert CosyVoice2's flow + HiFT (the CosyVoice2-0.5B folder LLaMA-Omni2 speaks with) into a "
        "transformers LlamaOmni2Token2Wav folder.",
    )
    parser.add_argument("--model-dir", required=True, help="the CosyVoice2 folder (yaml, flow.pt, hift.pt, campplus.onnx)")
    parser.add_argument("--output", required=True, help="folder to write")
    parser.add_argument("--prompt-wav", action="append", default=[],
                        help="a voice to store (repeatable; LLaMA-Omni2's llama_omni2/inference/prompt_en.wav); the "
                        "first is the default speaker")
    parser.add_argument("--speaker-name", action="append", default=None,
                        help="name of each --prompt-wav's speaker (default: the file name)")
    parser.add_argument("--noise-seed", type=int, default=0, help="seed of the ODE's fixed starting noise")
    parser.add_argument("--remote-code", default=True, action=argparse.BooleanOptionalAction,
                        help="write the code and auto_map for trust_remote_code loading (default: on)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logger.setLevel(logging.INFO)
    try:
        convert_cosyvoice2(
            args.model_dir, args.output, args.prompt_wav, args.speaker_name, args.noise_seed, args.remote_code,
            args.overwrite,
        )
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
