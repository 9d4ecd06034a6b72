# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Converts a released LLaMA-Omni2 checkpoint (`ICTNLP/LLaMA-Omni2-*` layout) into a
`LlamaOmniForConditionalGeneration` folder with the autoregressive speech decoder (`speech_decoder_type="ar"`).

The source folder holds the original `config.json` (`model_type "omni2_speech2s_qwen2"`: Qwen2.5 LLM fields, the
Whisper / adaptor fields of LLaMA-Omni, `speech_generator` = the TTS model's Qwen2 config, `stream_params "(3,10)"`,
`unit_vocab_size 6561`), safetensors weights, optionally the LLM's tokenizer and `tts_tokenizer/`. Keys:

    model.speech_encoder.*            openai-whisper encoder        -> model.speech_encoder.* (transformers names)
    model.speech_projector.linear1/2  speech adaptor                -> model.speech_adaptor.linear1/2
    model.embed_tokens, layers, norm  Qwen2.5 LLM                   -> model.language_model.*
    lm_head                           (absent when tied)            -> lm_head
    speech_generator.input_proj.0/2   gate fusion input projection  -> speech_decoder.fusion.input_proj.0/2
    speech_generator.gate.0           gate fusion gate              -> speech_decoder.fusion.gate.0
    speech_generator.model.*          TTS Qwen2ForCausalLM          -> speech_decoder.tts_model.*

The TTS vocabulary ids (speech unit 0, `<sep>`, EOS) are read from `tts_tokenizer/` when it is there (`<0>`, `<sep>`,
its EOS); otherwise they follow the release's layout: the speech tokens are the last `unit_vocab_size` ids, `<sep>`
the id before them, EOS the TTS config's `eos_token_id` (151666, 151665, 151643 for the release). `stream_params` is
parsed safely (never with `eval`). The speech decoding defaults to the release's (`RELEASED_TTS_DECODING`: sampling
with top_k 50 over the whole TTS vocabulary, units parsed from the decoded text as the release does), and the
processor uses the checkpoint tokenizer's own chat template (`omni2_processor_kwargs`). Validation, lazy header reading, sharded writing and the remote-code files are
those of `convert_original` (one implementation, two layouts).

Usage::

    python -m modeling_llama_omni.convert_omni2 --checkpoint LLaMA-Omni2-0.5B --output llama-omni2-0.5b-hf
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import torch

from transformers import GenerationConfig, PreTrainedConfig
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from .configuration_llama_omni import LlamaOmniConfig, parse_stream_params
from .convert_original import (
    CheckpointLayout,
    convert_checkpoint,
    map_key,
    rope_parameters_from_source,
    whisper_config_from_weights,
)
from .convert_utils import SourceTensor, add_conversion_arguments, generation_config_from_checkpoint, run_converter
from .modeling_llama_omni import LlamaOmniForConditionalGeneration

logger = logging.getLogger(__name__)

SOURCE_MODEL_TYPE = "omni2_speech2s_qwen2"
TTS_TOKENIZER_SUBFOLDER = "tts_tokenizer"
SEP_TOKEN = "<sep>"
# LLaMA-Omni2 uses the LLM tokenizer's own chat template as it is (Qwen2.5's: its default system prompt), every
# user turn the bare speech, every assistant turn the answer's text. Without a template in the checkpoint: ChatML.
QWEN_SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
PROCESSOR_KWARGS = {
    "chat_template": "chatml",
    "default_system_prompt": QWEN_SYSTEM_PROMPT,
    "default_instruction": "<speech>",
}
# Put before the checkpoint's template: messages whose content is a list of items ({"type": "text"/"audio"}) get it
# flattened into a string (audio items as the speech token), which is what the released code's templates read.
CONTENT_FLATTENING_PRELUDE = (
    "{%- set ns_flat = namespace(messages=[]) -%}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string or message['content'] is none -%}"
    "{%- set ns_flat.messages = ns_flat.messages + [message] -%}"
    "{%- else -%}"
    "{%- set ns_text = namespace(text='') -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' -%}{%- set ns_text.text = ns_text.text + item['text'] -%}"
    "{%- elif item['type'] == 'audio' -%}"
    "{%- set ns_text.text = ns_text.text + (speech_token if speech_token is defined else '<speech>') -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set ns_flat.messages = ns_flat.messages + [{'role': message['role'], 'content': ns_text.text}] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set messages = ns_flat.messages %}"
)
# The release's speech generator samples with `generate(do_sample=True, temperature=1.0, top_p=1.0)` under
# transformers 4.43, whose default top_k is 50, over the whole TTS vocabulary, up to 1024 tokens after the text.
RELEASED_TTS_DECODING = {
    "tts_do_sample": True,
    "tts_temperature": 1.0,
    "tts_top_k": 50,
    "tts_top_p": 1.0,
    "tts_max_new_tokens": 1024,
    "tts_restrict_to_speech_tokens": False,
    # the TTS samples from torch's global generator, interleaved with the LLM's text sampling
    "tts_rng": "global",
}

# Config fields that describe training or loading of the original code, not the model: never copied.
_NON_MODEL_FIELDS = {"architectures", "_name_or_path", "transformers_version", "torch_dtype", "dtype", "model_type",
                     "rope_theta", "rope_scaling", "rope_parameters", "auto_map"}
_SPEECH_GENERATOR_RULES = (
    (re.compile(r"speech_generator\.input_proj\.([02])\.(weight|bias)"), r"speech_decoder.fusion.input_proj.\1.\2"),
    (re.compile(r"speech_generator\.gate\.0\.(weight|bias)"), r"speech_decoder.fusion.gate.0.\1"),
    (re.compile(r"speech_generator\.model\.((model|lm_head)\..+)"), r"speech_decoder.tts_model.\1"),
)


def map_omni2_key(key: str) -> str | None:
    """
    Maps one key of a LLaMA-Omni2 checkpoint to our parameter name (the Whisper encoder, adaptor and LLM as in
    LLaMA-Omni, `convert_original.map_key`; the speech generator by its own rules).

    Returns:
        Our name, or `None` when the key matches no rule.
    """
    if key.startswith("speech_generator."):
        for pattern, replacement in _SPEECH_GENERATOR_RULES:
            if pattern.fullmatch(key):
                return pattern.sub(replacement, key)
        return None
    return map_key(key)


def load_omni2_source_config(checkpoint_dir: str) -> dict:
    """
    Reads and checks the original `config.json` of a LLaMA-Omni2 speech-to-speech checkpoint.

    Raises:
        FileNotFoundError: if the folder or its config.json does not exist.
        ValueError: if it is not a LLaMA-Omni2 speech-to-speech config.
    """
    import json

    if not os.path.isdir(checkpoint_dir):
        raise FileNotFoundError(f"Checkpoint folder {checkpoint_dir} does not exist")
    path = os.path.join(checkpoint_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{checkpoint_dir} has no config.json: is it a LLaMA-Omni2 checkpoint folder?")
    try:
        with open(path, encoding="utf-8") as f:
            source = json.load(f)
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(source, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    model_type = source.get("model_type")
    if model_type != SOURCE_MODEL_TYPE:
        extra = ""
        if model_type == "omni_speech2s_llama":
            extra = " That is a LLaMA-Omni (CTC) checkpoint: use convert_original."
        elif model_type == "omni2_speech_qwen2":
            extra = " That is the text-only LLaMA-Omni2 model, which has no speech generator to convert."
        elif model_type == "llama_omni":
            extra = " This folder is already in our format: load it with AutoModel.from_pretrained."
        raise ValueError(
            f"{path} has model_type {model_type!r}, expected {SOURCE_MODEL_TYPE!r} (the released "
            f"ICTNLP/LLaMA-Omni2-* checkpoints).{extra}"
        )
    for field, expected in {"speech_projector_type": "linear", "speech_encoder_type": "whisper"}.items():
        if field in source and source[field] != expected:
            raise ValueError(f"{path}: only {field}={expected!r} is supported, got {source[field]!r}")
    if not isinstance(source.get("speech_generator"), dict):
        raise ValueError(f"{path} has no 'speech_generator' config: not a LLaMA-Omni2 speech-to-speech checkpoint")
    if source.get("add_gate_fusion") is False or source.get("add_token_embeddings") is False:
        raise ValueError(f"{path}: only the gate fusion of the LLM state and the token embedding is supported")
    return source


def config_from_source(source: dict, model_type: str) -> PreTrainedConfig:
    """A transformers config of `model_type` from an original config dict: the fields that model type has
    (transformers-4 RoPE fields converted), the options of the original code dropped."""
    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"Unknown model_type {model_type!r} in the source config")
    config_class = CONFIG_MAPPING[model_type]
    known = {f.name for f in dataclasses.fields(config_class)}
    kwargs = {k: v for k, v in source.items() if k in known and k not in _NON_MODEL_FIELDS}
    kwargs["rope_parameters"] = rope_parameters_from_source(source)
    return config_class(**kwargs)


def text_config_from_omni2_source(source: dict) -> PreTrainedConfig:
    """The LLM's config from the original config.json (a Qwen2 config: the release's LLMs are Qwen2.5 models)."""
    return config_from_source(source, "qwen2")


def checkpoint_chat_template(checkpoint_dir: str) -> str | None:
    """The chat template of the checkpoint's LLM tokenizer (`chat_template.jinja`, or `tokenizer_config.json`'s
    `chat_template`: a string, or the one named "default" in a list), or `None` when it has none."""
    import json

    path = os.path.join(checkpoint_dir, "chat_template.jinja")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    path = os.path.join(checkpoint_dir, "tokenizer_config.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        template = json.load(f).get("chat_template")
    if isinstance(template, list):
        named = {item.get("name"): item.get("template") for item in template if isinstance(item, dict)}
        template = named.get("default")
    return template if isinstance(template, str) and template else None


def omni2_processor_kwargs(checkpoint_dir: str) -> dict:
    """`LlamaOmniProcessor` arguments: the checkpoint tokenizer's own chat template (with content lists flattened,
    see `CONTENT_FLATTENING_PRELUDE`) when it has one, as the released demo and inference apply it; else ChatML with
    Qwen's default system prompt. The default prompt's user turn is the bare speech."""
    template = checkpoint_chat_template(checkpoint_dir)
    if template is None:
        logger.info("No chat template in %s: the processor uses ChatML with Qwen's default system prompt.",
                    checkpoint_dir)
        return dict(PROCESSOR_KWARGS)
    return {**PROCESSOR_KWARGS, "chat_template": CONTENT_FLATTENING_PRELUDE + template}


def tts_token_texts(tokenizer, speech_token_offset: int, unit_vocab_size: int) -> dict[str, str]:
    """
    What the release's unit parsing (decode with `skip_special_tokens=True`, then the regex `\\d+`) sees of each TTS
    token that is not a speech token: `""` for the tokens decoding skips, the decoded text of those that hold a digit
    (the others only separate numbers). Keyed by id as a string (`LlamaOmniConfig.tts_token_texts`).
    """
    digit = re.compile(r"\d")
    texts = {}
    for token_id in range(len(tokenizer)):
        if speech_token_offset <= token_id < speech_token_offset + unit_vocab_size:
            continue
        text = tokenizer.decode([token_id], skip_special_tokens=True)
        if text == "" or digit.search(text):
            texts[str(token_id)] = text
    return texts


def tts_token_ids(checkpoint_dir: str, tts_config: PreTrainedConfig, unit_vocab_size: int) -> dict:
    """
    `tts_speech_token_offset`, `tts_sep_token_id` and `tts_eos_token_id`: from `tts_tokenizer/` when the checkpoint
    has one (with `tts_token_texts`), else the release's layout (speech tokens last, `<sep>` before them, EOS from
    the TTS config).

    Raises:
        ValueError: a TTS tokenizer whose speech tokens `<0>`...`<K-1>` are not consecutive ids, or that lacks
            `<sep>`.
    """
    folder = os.path.join(checkpoint_dir, TTS_TOKENIZER_SUBFOLDER)
    eos = tts_config.eos_token_id
    eos = eos[0] if isinstance(eos, (list, tuple)) else eos
    if os.path.isdir(folder) and any(
        os.path.isfile(os.path.join(folder, name)) for name in ("tokenizer.json", "tokenizer_config.json")
    ):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        vocab = tokenizer.get_vocab()
        missing = [t for t in (SEP_TOKEN, "<0>", f"<{unit_vocab_size - 1}>") if t not in vocab]
        if missing:
            raise ValueError(f"The TTS tokenizer in {folder} lacks the tokens {missing}")
        offset = vocab["<0>"]
        if any(vocab.get(f"<{u}>") != offset + u for u in range(unit_vocab_size)):
            raise ValueError(f"The speech tokens <0>...<{unit_vocab_size - 1}> of {folder} are not consecutive ids")
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else eos
        return {
            "tts_speech_token_offset": offset,
            "tts_sep_token_id": vocab[SEP_TOKEN],
            "tts_eos_token_id": int(eos),
            "tts_token_texts": tts_token_texts(tokenizer, offset, unit_vocab_size),
        }
    offset = tts_config.vocab_size - unit_vocab_size
    logger.info(
        "No %s/ in %s: assuming the release's TTS vocabulary layout (speech tokens from %d, <sep> = %d, EOS = %s).",
        TTS_TOKENIZER_SUBFOLDER, checkpoint_dir, offset, offset - 1, eos,
    )
    if eos is None:
        raise ValueError("The speech generator config has no eos_token_id and there is no tts_tokenizer/ to read it")
    return {"tts_speech_token_offset": offset, "tts_sep_token_id": offset - 1, "tts_eos_token_id": int(eos)}


def build_omni2_config(
    source: dict, tensors: dict[str, SourceTensor], speech_token_id: int | None = None, checkpoint_dir: str = ""
) -> LlamaOmniConfig:
    """
    Builds our `LlamaOmniConfig` (`speech_decoder_type="ar"`) from the original config.json and the weight shapes.

    Raises:
        ValueError: an unsupported speech generator (a linear input projection, no gate), or a bad `stream_params`.
    """
    if "speech_generator.input_proj.weight" in tensors:
        raise ValueError(
            "The speech generator has a linear input projection (speech_generator_proj_type='linear'); only the "
            "released FFN projection (input_proj.0 / input_proj.2) with gate fusion is supported"
        )
    for key in ("speech_generator.input_proj.0.weight", "speech_generator.gate.0.weight"):
        if key not in tensors:
            raise ValueError(f"The checkpoint has no {key!r}: only the gate-fusion speech generator is supported")
    adaptor_key = "model.speech_projector.linear1.weight"
    if adaptor_key not in tensors:
        raise ValueError(f"The checkpoint has no speech adaptor ({adaptor_key!r} is missing)")

    text_config = text_config_from_omni2_source(source)
    generator = source["speech_generator"]
    tts_config = config_from_source(generator, generator.get("model_type") or "qwen2")
    read_size, write_size = parse_stream_params(source.get("stream_params", "(3,10)"))
    unit_vocab_size = int(source.get("unit_vocab_size", 6561))
    if speech_token_id is None:
        speech_token_id = text_config.vocab_size
    config = LlamaOmniConfig(
        speech_encoder_config=whisper_config_from_weights(tensors, source),
        text_config=text_config.to_dict(),
        speech_token_id=int(speech_token_id),
        speech_downsample_rate=int(source.get("speech_encoder_ds_rate", 5)),
        speech_adaptor_hidden_size=int(tensors[adaptor_key].shape[0]),
        speech_adaptor_hidden_act="relu",
        pad_to_30s=True,  # the original always pads / trims the audio to 30 s
        speech_decoder_type="ar",
        unit_vocab_size=unit_vocab_size,
        tts_config=tts_config.to_dict(),
        tts_input_proj_hidden_size=int(tensors["speech_generator.input_proj.0.weight"].shape[0]),
        read_size=read_size,
        write_size=write_size,
        **tts_token_ids(checkpoint_dir, tts_config, unit_vocab_size),
        **RELEASED_TTS_DECODING,
        penalties_see_prompt=False,  # the released generate() starts from inputs_embeds: penalties see no prompt
    )
    config.architectures = [LlamaOmniForConditionalGeneration.__name__]
    return config


# The text decoding `run_llama_omni2.py` passes to generate() by default (greedy; `top_p` / `top_k` passed as None).
RELEASED_TEXT_DECODING = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None, "num_beams": 1,
                          "max_new_tokens": 256}


def released_omni2_defaults(checkpoint_dir: str, source: dict, tokenizer: Any) -> tuple[GenerationConfig, dict]:
    """
    The released inference's text decoding: `run_llama_omni2.py` passes `do_sample`, `temperature`, `top_p`,
    `top_k`, `num_beams`, `max_new_tokens` and `pad_token_id` to generate() (greedy, 256 tokens by default), and
    generate() takes every other field from the checkpoint's `generation_config.json` (Qwen2.5-Instruct's
    `repetition_penalty` 1.05 among them): so the checkpoint's config with those fields set.

    Returns:
        `(generation config, extra processor kwargs)` (none: the chat template is handled by the layout).
    """
    generation_config = generation_config_from_checkpoint(checkpoint_dir, source)
    for name, value in RELEASED_TEXT_DECODING.items():
        setattr(generation_config, name, value)
    if tokenizer is not None and tokenizer.pad_token_id is not None:
        generation_config.pad_token_id = tokenizer.pad_token_id
    return generation_config, {}


def omni2_layout(checkpoint_dir: str) -> CheckpointLayout:
    """The LLaMA-Omni2 checkpoint layout for `convert_original.convert_checkpoint`, with the released inference's
    text decoding (`released_omni2_defaults`)."""
    return CheckpointLayout(
        load_source_config=load_omni2_source_config,
        text_config=text_config_from_omni2_source,
        build_config=lambda source, tensors, speech_token_id: build_omni2_config(
            source, tensors, speech_token_id, checkpoint_dir=checkpoint_dir
        ),
        key_mapper=map_omni2_key,
        processor_kwargs=omni2_processor_kwargs(checkpoint_dir),
        released_defaults=released_omni2_defaults,
    )


def convert_omni2_checkpoint(
    checkpoint_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    remote_code: bool = True,
    shard_size: int | str = "5GB",
    overwrite: bool = False,
    cosyvoice2: str | os.PathLike | None = None,
) -> LlamaOmniConfig:
    """
    Converts a released LLaMA-Omni2 checkpoint folder into a `LlamaOmniForConditionalGeneration` folder with the
    autoregressive speech decoder. Arguments as `convert_original.convert_original_checkpoint`; `cosyvoice2` is a
    folder written by `llama-omni convert-cosyvoice2` (CosyVoice2's flow + HiFT), copied into the output as its
    `vocoder/`, so that the converted model speaks.

    Returns:
        The `LlamaOmniConfig` that was written.

    Raises:
        FileNotFoundError: the checkpoint folder or its config.json does not exist.
        FileExistsError: `output_dir` is not empty and `overwrite` is False.
        ValueError: the checkpoint is not convertible (wrong model_type, no safetensors, unsupported speech generator,
            bad `stream_params`, unknown or missing keys, shape mismatches...). Nothing is written then.
    """
    checkpoint_dir = os.fspath(checkpoint_dir)
    if cosyvoice2 is not None:
        from .convert_cosyvoice2 import attach_token2wav, check_token2wav_folder

        units = load_omni2_source_config(checkpoint_dir).get("unit_vocab_size")
        check_token2wav_folder(cosyvoice2, units)  # fails before the (long) conversion
    config = convert_checkpoint(
        omni2_layout(checkpoint_dir),
        checkpoint_dir,
        output_dir,
        dtype=dtype,
        remote_code=remote_code,
        shard_size=shard_size,
        overwrite=overwrite,
    )
    if cosyvoice2 is not None:
        target = attach_token2wav(cosyvoice2, output_dir, overwrite=True)
        logger.info("Copied the token-to-waveform model %s into %s.", cosyvoice2, target)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point. Returns the exit status (0 on success, 1 on a conversion error)."""
    parser = argparse.ArgumentParser(
        prog="python -m modeling_llama_omni.convert_omni2",
        description="Convert a released LLaMA-Omni2 checkpoint (ICTNLP/LLaMA-Omni2-* layout) into a transformers "
        "LlamaOmniForConditionalGeneration folder with the autoregressive speech decoder.",
    )
    parser.add_argument("--checkpoint", required=True, help="folder of the original checkpoint")
    parser.add_argument("--output", required=True, help="folder to write (must not exist or be empty)")
    parser.add_argument(
        "--cosyvoice2",
        default=None,
        help="a folder written by `llama-omni convert-cosyvoice2`: copied in as the model's vocoder/ (it then speaks)",
    )
    add_conversion_arguments(parser)
    args = parser.parse_args(argv)
    return run_converter(convert_omni2_checkpoint, args, cosyvoice2=args.cosyvoice2)


if __name__ == "__main__":
    sys.exit(main())
