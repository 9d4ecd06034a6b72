# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The encoders of the unit extractor: 16 kHz audio -> the features of one encoder layer, 50 frames per second.

    * ``whisper``: a Whisper encoder truncated to its first L layers, run on the unpadded audio through
      `LlamaOmniSpeechEncoder` (which slices the positional embeddings); audio longer than 30 s in 30 s pieces.
    * ``hubert``: a transformers `HubertModel` truncated to its first L layers (e.g. mHuBERT, layer 11).

Layer L is the output of the L-th transformer layer (1-based), without the encoder's final layer norm.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from processing.processing_llama_omni import SAMPLING_RATE

__all__ = ["ENCODER_KINDS", "OFFLINE_WHISPER_BASE", "guess_encoder_kind", "load_layer_features"]

OFFLINE_WHISPER_BASE = "offline:whisper-base"
ENCODER_KINDS = ("whisper", "hubert")
FRAME_SAMPLES = 320  # 20 ms at 16 kHz: one unit
WHISPER_CHUNK_SAMPLES = 30 * SAMPLING_RATE




class WhisperLayerFeatures(nn.Module):
    """A Whisper encoder truncated to its first `layer` layers, run on unpadded audio (`LlamaOmniSpeechEncoder`)."""

    def __init__(self, encoder: nn.Module, feature_extractor, layer: int):
        super().__init__()
        from modeling_llama_omni.modeling_llama_omni import LlamaOmniSpeechEncoder

        config = copy.deepcopy(encoder.config)
        num_layers = config.encoder_layers
        if not 1 <= layer <= num_layers:
            raise ValueError(f"layer must be in 1..{num_layers} for this Whisper encoder, got {layer}")
        config.encoder_layers = layer
        config.encoder_layerdrop = 0.0
        state = {
            k: v
            for k, v in encoder.state_dict().items()
            if not k.startswith("layer_norm.") and not (k.startswith("layers.") and int(k.split(".")[1]) >= layer)
        }
        with torch.device("meta"):
            truncated = LlamaOmniSpeechEncoder(config)
        truncated.layer_norm = nn.Identity()
        truncated.load_state_dict(state, strict=True, assign=True)
        self.encoder = truncated.eval()
        self.feature_extractor = feature_extractor
        self.dim = config.d_model

    @torch.inference_mode()
    def forward(self, clips: list[np.ndarray]) -> list[torch.Tensor]:
        """16 kHz clips -> one `[frames, D]` float32 tensor each (`frames = ceil((samples // 160) / 2)`)."""
        device = next(self.encoder.parameters()).device
        dtype = next(self.encoder.parameters()).dtype
        pieces, owners = [], []
        for i, clip in enumerate(clips):
            for start in range(0, len(clip), WHISPER_CHUNK_SAMPLES):
                piece = clip[start : start + WHISPER_CHUNK_SAMPLES]
                if len(piece) >= 320 or start == 0:
                    pieces.append(piece)
                    owners.append(i)
        mels = []
        for piece in pieces:
            feats = self.feature_extractor(
                piece, sampling_rate=SAMPLING_RATE, padding="do_not_pad", truncation=False,
                return_tensors="np", return_attention_mask=False,
            )["input_features"][0]
            mels.append(np.asarray(feats, dtype=np.float32))
        n_mels, t_max = mels[0].shape[0], max(m.shape[-1] for m in mels)
        batch = np.zeros((len(mels), n_mels, t_max), dtype=np.float32)
        mask = np.zeros((len(mels), t_max), dtype=np.int64)
        for j, mel in enumerate(mels):
            batch[j, :, : mel.shape[-1]] = mel
            mask[j, : mel.shape[-1]] = 1
        out = self.encoder(torch.from_numpy(batch).to(device, dtype), attention_mask=torch.from_numpy(mask).to(device))
        results: list[list[torch.Tensor]] = [[] for _ in clips]
        for j, owner in enumerate(owners):
            n = int(out.output_lengths[j])
            results[owner].append(out.last_hidden_state[j, :n].float().cpu())
        return [torch.cat(parts, dim=0) for parts in results]


class HubertLayerFeatures(nn.Module):
    """A `HubertModel` truncated to its first `layer` layers; one clip at a time (group norm sees the whole clip)."""

    def __init__(self, model: nn.Module, feature_extractor, layer: int):
        super().__init__()
        num_layers = model.config.num_hidden_layers
        if not 1 <= layer <= num_layers:
            raise ValueError(f"layer must be in 1..{num_layers} for this HuBERT model, got {layer}")
        model.encoder.layers = model.encoder.layers[:layer]
        model.config.num_hidden_layers = layer
        if getattr(model.config, "do_stable_layer_norm", False):
            model.encoder.layer_norm = nn.Identity()  # pre-norm models: the final norm follows the last layer only
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        self.dim = model.config.hidden_size

    @torch.inference_mode()
    def forward(self, clips: list[np.ndarray]) -> list[torch.Tensor]:
        """16 kHz clips -> one `[frames, D]` float32 tensor each."""
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        results = []
        for clip in clips:
            if self.feature_extractor is not None:
                values = self.feature_extractor(clip, sampling_rate=SAMPLING_RATE, return_tensors="pt").input_values
            else:
                values = torch.from_numpy(np.ascontiguousarray(clip))[None]
            hidden = self.model(values.to(device, dtype)).last_hidden_state[0]
            results.append(hidden.float().cpu())
        return results


def load_layer_features(kind: str, source: str, layer: int, device: str | torch.device | None) -> nn.Module:
    """Builds the layer-feature module for an encoder kind and source (offline name, Hub id or folder)."""
    if kind == "whisper":
        if source == OFFLINE_WHISPER_BASE:
            from offline_assets.whisper import whisper_base

            model, processor = whisper_base()
            feature_extractor = processor.feature_extractor
        else:
            from transformers import WhisperFeatureExtractor, WhisperModel

            model = WhisperModel.from_pretrained(source, dtype=torch.float32)
            try:
                feature_extractor = WhisperFeatureExtractor.from_pretrained(source)
            except (OSError, ValueError):
                feature_extractor = WhisperFeatureExtractor(feature_size=model.config.num_mel_bins)
        module = WhisperLayerFeatures(model.get_encoder(), feature_extractor, layer)
    elif kind == "hubert":
        from transformers import AutoFeatureExtractor, HubertModel

        model = HubertModel.from_pretrained(source, dtype=torch.float32)
        try:
            feature_extractor = AutoFeatureExtractor.from_pretrained(source)
        except (OSError, ValueError):
            feature_extractor = None  # raw waveform, as fairseq's HuBERT base (normalize=False)
        module = HubertLayerFeatures(model, feature_extractor, layer)
    else:
        raise ValueError(f"unknown encoder kind {kind!r}; known: {', '.join(ENCODER_KINDS)}")
    return module.to(device or "cpu")


def guess_encoder_kind(source: str) -> str:
    """``"whisper"`` or ``"hubert"``, read from the checkpoint's config. Raises ``ValueError`` for other models."""
    if source == OFFLINE_WHISPER_BASE:
        return "whisper"
    from transformers import AutoConfig

    model_type = AutoConfig.from_pretrained(source).model_type
    if model_type == "whisper":
        return "whisper"
    if model_type == "hubert":
        return "hubert"
    raise ValueError(f"{source!r} is a {model_type!r} model; UnitExtractor takes Whisper or HuBERT encoders")
