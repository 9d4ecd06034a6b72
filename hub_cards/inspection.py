# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The facts a model card states about a LLaMA-Omni model folder: its configs, the parameter count of each part
(read from the safetensors headers with the `safetensors` library, no weight loaded), its processor, its unit vocoder,
the trainer's results, and the base models its config records."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .parts import HUB_ID
from .rendering import CardError, human_count, read_json_object

VOCODER_SUBFOLDER = "vocoder"  # the model folder convention (modeling_llama_omni.VOCODER_SUBFOLDER)


def safetensors_parameter_counts(folder: str | os.PathLike) -> dict[str, int]:
    """Number of elements per tensor name in the safetensors weights of `folder` (`model.safetensors`, or the
    shards of `model.safetensors.index.json`), read from the file headers only.

    Raises:
        FileNotFoundError: `folder` has no safetensors weights.
        CardError: a header is not a safetensors header.
    """
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise FileNotFoundError(f"{folder} has no safetensors weights (model.safetensors or its index)")
    from safetensors import SafetensorError, safe_open

    counts: dict[str, int] = {}
    for name in files:
        try:
            with safe_open(folder / name, framework="numpy") as weights:  # reads the header; no tensor is loaded
                for key in weights.keys():
                    counts[key] = math.prod(weights.get_slice(key).get_shape())
        except SafetensorError as error:
            raise CardError(f"{folder / name} is not a safetensors file ({error})") from None
    return counts


def _sum_prefix(counts: Mapping[str, int], *prefixes: str) -> int:
    return sum(n for key, n in counts.items() if key.startswith(prefixes))


def _adaptor_description(config: dict[str, Any], encoder: dict[str, Any], text: dict[str, Any]) -> str:
    """The speech adaptor's row: the released MLP, with its Transformer layers if any, the phonetic adaptor, or its
    lexicon read-out, or the Whisper read-out."""
    k = config.get("speech_downsample_rate")
    hidden = config.get("speech_adaptor_hidden_size")
    act = config.get("speech_adaptor_hidden_act", "relu")
    layers = config.get("speech_adaptor_num_layers") or 0
    between = f" -> {layers} Transformer layer{'s' if layers > 1 else ''}" if layers else ""
    phonemes = config.get("speech_adaptor_phonemes") or 0
    lexicon = config.get("speech_adaptor_lexicon")
    frames_in = 2 * (config.get("speech_adaptor_phoneme_context", 1)) + 1  # the acoustic head's window
    readout = config.get("speech_adaptor_whisper_readout")
    if isinstance(readout, dict):
        return (f"Whisper read-out: Whisper's own decoder ({readout.get('decoder_layers')} layers, d_model "
                f"{readout.get('d_model')}, pretrained, not trained here) transcribes the encoder's outputs greedily "
                f"-> the transcript's own token ids (the LLM embeds them)")
    if phonemes and isinstance(lexicon, dict):
        return (f"lexicon read-out: {phonemes} phoneme classes per encoder frame (CTC, 0 = blank; {frames_in} frames "
                f"in, MLP of width {hidden}) -> beam search over a lexicon of {lexicon.get('size')} words with a word "
                f"bigram model ({lexicon.get('bigrams')} bigrams) -> the words' own token ids (the LLM embeds them)")
    if phonemes:
        size = config.get("speech_adaptor_phoneme_size")
        return (f"phonetic: {phonemes} phoneme classes per encoder frame (CTC, 0 = blank; {frames_in} frames in) -> "
                f"softmax -> Linear(-> {size}), stacks k={k} frames, Linear({size * (k or 0)} -> {hidden}) -> "
                f"{act}{between} -> Linear(-> {text.get('hidden_size')})")
    return (f"stacks k={k} frames, Linear({encoder.get('d_model', 0) * (k or 0)} -> {hidden}) -> {act}{between} -> "
            f"Linear(-> {text.get('hidden_size')})")


@dataclass
class ModelFolderFacts:
    """What a model card says about the model, read from its folder.

    Attributes:
        config: `config.json` of the model.
        parameters: parameters per part ("speech_encoder", "speech_adaptor", "llm", "speech_decoder", "vocoder").
        processor: `processor_config.json` (empty if the folder has none).
        vocoder_config: `config.json` of the unit vocoder (`None` without one).
        trainer_results: numeric entries of the trainer's `all_results.json` (empty without one).
    """

    config: dict[str, Any]
    parameters: dict[str, int]
    processor: dict[str, Any] = field(default_factory=dict)
    vocoder_config: dict[str, Any] | None = None
    trainer_results: dict[str, float] = field(default_factory=dict)

    def architecture_rows(self) -> list[dict[str, str]]:
        """One table row per part: its architecture, from the configs, and its parameter count, from the weights."""
        config = self.config
        encoder = config.get("speech_encoder_config") or {}
        text = config.get("text_config") or {}
        decoder = config.get("speech_decoder_config") or {}
        tied = " (lm_head tied to the embeddings)" if config.get("tie_word_embeddings") else ""
        rows = [
            ("speech encoder", f"Whisper encoder: {encoder.get('encoder_layers')} layers, d_model "
             f"{encoder.get('d_model')}, {encoder.get('num_mel_bins')} mel bins", "speech_encoder"),
            ("speech adaptor", _adaptor_description(config, encoder, text), "speech_adaptor"),
            ("LLM", f"{text.get('model_type')}: {text.get('num_hidden_layers')} layers, hidden "
             f"{text.get('hidden_size')}, vocabulary {text.get('vocab_size')}{tied}", "llm"),
            ("speech decoder", f"CTC, {decoder.get('num_hidden_layers')} Llama layers (hidden "
             f"{decoder.get('hidden_size')}), upsampling x{config.get('ctc_upsample_factor')}, "
             f"{config.get('unit_vocab_size')} units + blank", "speech_decoder"),
        ]  # fmt: skip
        if self.vocoder_config is not None:
            vocoder = self.vocoder_config
            rows.append(("unit vocoder (`vocoder/`)", f"{vocoder.get('vocoder_type', 'code_hifigan')}: "
                         f"{vocoder.get('unit_vocab_size')} units -> {vocoder.get('sampling_rate')} Hz", "vocoder"))
        return [
            {"part": part, "what": what,
             "parameters": human_count(self.parameters[key]) if self.parameters.get(key) else "-"}
            for part, what, key in rows
        ]  # fmt: skip


def inspect_model_folder(
    folder: str | os.PathLike, vocoder_folder: str | os.PathLike | None = None
) -> ModelFolderFacts:
    """Reads the facts of a LLaMA-Omni model folder (see `ModelFolderFacts`).

    Args:
        folder: a folder written by `save_pretrained` (or `llama-omni convert-original`).
        vocoder_folder: the unit vocoder's folder; default: `folder/vocoder` when it exists.

    Raises:
        FileNotFoundError: no `config.json` or no safetensors weights.
        CardError: `config.json` is not a LLaMA-Omni config, or the vocoder's is not a unit vocoder's.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json: not a saved model folder")
    config = read_json_object(config_path, "model config")
    if config.get("model_type") != "llama_omni":
        raise CardError(
            f"{config_path} has model_type {config.get('model_type')!r}, not 'llama_omni' (convert a released "
            "checkpoint first: llama-omni convert-original)"
        )
    counts = safetensors_parameter_counts(folder)
    parameters = {
        "speech_encoder": _sum_prefix(counts, "model.speech_encoder."),
        "speech_adaptor": _sum_prefix(counts, "model.speech_adaptor."),
        "llm": _sum_prefix(counts, "model.language_model.", "lm_head."),
        "speech_decoder": _sum_prefix(counts, "speech_decoder."),
    }
    processor_path = folder / "processor_config.json"
    processor = read_json_object(processor_path, "processor config") if processor_path.is_file() else {}
    vocoder_dir = Path(vocoder_folder) if vocoder_folder is not None else folder / VOCODER_SUBFOLDER
    vocoder_config = None
    if (vocoder_dir / "config.json").is_file():
        vocoder_config = read_json_object(vocoder_dir / "config.json", "vocoder config")
        if vocoder_config.get("model_type") not in ("llama_omni_unit_vocoder", "llama_omni_vits_vocoder"):
            raise CardError(f"{vocoder_dir / 'config.json'} is not a unit vocoder config "
                            f"(model_type {vocoder_config.get('model_type')!r}; expected 'llama_omni_unit_vocoder' "
                            "or 'llama_omni_vits_vocoder')")
        parameters["vocoder"] = sum(safetensors_parameter_counts(vocoder_dir).values())
    elif vocoder_folder is not None:
        raise FileNotFoundError(f"{vocoder_dir} has no config.json: not a saved unit vocoder folder")
    trainer_results = {}
    results_path = folder / "all_results.json"
    if results_path.is_file():
        trainer_results = {
            k: v for k, v in read_json_object(results_path, "trainer results").items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        }  # fmt: skip
    return ModelFolderFacts(config, parameters, processor, vocoder_config, trainer_results)


def _hub_name_or_path(config: Mapping[str, Any]) -> str | None:
    value = config.get("_name_or_path")
    if isinstance(value, str) and HUB_ID.fullmatch(value) and not os.path.exists(value):
        return value
    return None


def base_models_from_config(config: Mapping[str, Any]) -> list[str]:
    """The LLM's and the speech encoder's Hub ids when the sub-configs record them (`_name_or_path` that is a Hub
    id, not a local path); else nothing."""
    found = [
        _hub_name_or_path(config.get("text_config") or {}),
        _hub_name_or_path(config.get("speech_encoder_config") or {}),
    ]
    return [x for x in found if x]


__all__ = [
    "VOCODER_SUBFOLDER",
    "ModelFolderFacts",
    "base_models_from_config",
    "inspect_model_folder",
    "safetensors_parameter_counts",
]
