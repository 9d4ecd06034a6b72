# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Configuration of LLaMA-Omni2's token-to-waveform model (CosyVoice2's flow matching + HiFT).

This file is self-contained (it imports only transformers and the standard library) so that it can be copied as-is
into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

import copy

from transformers import PreTrainedConfig


# CosyVoice2-0.5B's flow (`CausalMaskedDiffWithXvec`), with the static chunk sizes LLaMA-Omni2 sets at run time
# (encoder: 2 x input frame rate = 50 tokens; flow-matching estimator: 50 x token_mel_ratio = 100 mel frames). The
# keys and nesting are the released yaml's (`flow:` section, hyperpyyaml tags dropped).
COSYVOICE2_FLOW = {
    "input_size": 512,
    "output_size": 80,
    "spk_embed_dim": 192,
    "vocab_size": 6561,
    "input_frame_rate": 25,
    "token_mel_ratio": 2,
    "pre_lookahead_len": 3,
    "encoder": {
        "output_size": 512,
        "attention_heads": 8,
        "linear_units": 2048,
        "num_blocks": 6,
        "normalize_before": True,
        "input_layer": "linear",
        "pos_enc_layer_type": "rel_pos_espnet",
        "selfattention_layer_type": "rel_selfattn",
        "input_size": 512,
        "use_cnn_module": False,
        "macaron_style": False,
        "static_chunk_size": 50,
    },
    "decoder": {
        "in_channels": 240,
        "n_spks": 1,
        "spk_emb_dim": 80,
        "cfm_params": {
            "sigma_min": 1e-06,
            "solver": "euler",
            "t_scheduler": "cosine",
            "training_cfg_rate": 0.2,
            "inference_cfg_rate": 0.7,
            "reg_loss_type": "l1",
        },
        "estimator": {
            "in_channels": 320,
            "out_channels": 80,
            "causal": True,
            "channels": [256],
            "dropout": 0.0,
            "attention_head_dim": 64,
            "n_blocks": 4,
            "num_mid_blocks": 12,
            "num_heads": 8,
            "act_fn": "gelu",
            "static_chunk_size": 100,
        },
    },
}

# CosyVoice2-0.5B's HiFT vocoder (`HiFTGenerator` + `ConvRNNF0Predictor`), 24 kHz, 480 samples per mel frame.
COSYVOICE2_HIFT = {
    "in_channels": 80,
    "base_channels": 512,
    "nb_harmonics": 8,
    "sampling_rate": 24000,
    "nsf_alpha": 0.1,
    "nsf_sigma": 0.003,
    "nsf_voiced_threshold": 10,
    "upsample_rates": [8, 5, 3],
    "upsample_kernel_sizes": [16, 11, 7],
    "istft_params": {"n_fft": 16, "hop_len": 4},
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "source_resblock_kernel_sizes": [7, 7, 11],
    "source_resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "lrelu_slope": 0.1,
    "audio_limit": 0.99,
    "f0_predictor": {"num_class": 1, "in_channels": 80, "cond_channels": 512},
}


def _merged(defaults: dict, values: dict | None) -> dict:
    """`defaults` updated by `values`, recursively for nested dicts (a deep copy: the defaults are never changed)."""
    merged = copy.deepcopy(defaults)
    for key, value in (values or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class LlamaOmni2Token2WavConfig(PreTrainedConfig):
    r"""
    Configuration of a [`LlamaOmni2Token2Wav`]: LLaMA-Omni2's 6,561-way speech tokens (25 Hz) -> 24 kHz waveform,
    through CosyVoice2's flow matching (tokens -> 80-bin mel, 50 Hz) and its HiFT vocoder (mel -> waveform). The
    defaults describe CosyVoice2-0.5B as LLaMA-Omni2 runs it.

    Args:
        flow_config (`dict`, *optional*):
            The flow's hyperparameters, with the keys and nesting of the released yaml's `flow:` section (`encoder`,
            `decoder` -> `cfm_params`, `estimator`). Missing keys take CosyVoice2-0.5B's values (`COSYVOICE2_FLOW`);
            `encoder.static_chunk_size` (tokens) and `decoder.estimator.static_chunk_size` (mel frames) are the
            chunked-attention sizes LLaMA-Omni2 sets at run time (50 and 100; 0 = full attention).
        hift_config (`dict`, *optional*):
            The vocoder's hyperparameters (the yaml's `hift:` section, `f0_predictor` nested). Missing keys take
            `COSYVOICE2_HIFT`.
        token_hop_len (`int`, *optional*):
            Streaming: speech tokens per vocoded chunk (the release's `token_hop_len`, default 2 x input frame rate =
            50 tokens = 2 s of speech). Each chunk also waits for `pre_lookahead_len` tokens of right context.
        mel_cache_len (`int`, *optional*, defaults to 8):
            Streaming: mel frames carried into the next chunk's vocoder call, and the length (in mel frames) of the
            cross-fade between chunks (`mel_cache_len x samples per frame` samples, Hamming window).
        n_timesteps (`int`, *optional*, defaults to 10):
            Euler steps of the flow-matching ODE.
        temperature (`float`, *optional*, defaults to 1.0):
            Scale of the ODE's starting noise.
        noise_frames (`int`, *optional*, defaults to 15000):
            Length (mel frames, 50 per second) of the fixed starting noise stored in the model (`flow_noise`): the
            longest answer that can be spoken (300 s by default).
        noise_seed (`int`, *optional*, defaults to 0):
            Seed of the starting noise drawn when the model is created from a config (a loaded model keeps the
            noise of its folder).
        source_seed (`int`, *optional*, defaults to 0):
            Seed of the generator HiFT's harmonic source draws its phases and noise from, fresh for every call and
            stream, so the same tokens give the same audio and the caller's (and the LLM's) global random state is
            left alone. The release draws them from the process's global generator: pass
            `generator=torch.default_generator` to do the same.
        speakers (`list[str]`, *optional*):
            Names of the speaker embeddings stored in the model (`speaker_embeddings`, one row each, e.g.
            `["prompt_en", "prompt_zh"]`); the first is the default speaker.
        sampling_rate (`int`, *optional*):
            Output sampling rate; always `hift_config["sampling_rate"]` (24 000 Hz for CosyVoice2).

    Raises:
        ValueError: for non-positive sizes, or a hop shorter than the flow's lookahead.
    """

    model_type = "llama_omni2_token2wav"

    flow_config: dict | None = None
    hift_config: dict | None = None
    token_hop_len: int | None = None
    mel_cache_len: int = 8
    n_timesteps: int = 10
    temperature: float = 1.0
    noise_frames: int = 15000
    noise_seed: int = 0
    source_seed: int = 0
    speakers: list[str] | None = None
    sampling_rate: int | None = None

    def __post_init__(self, **kwargs):
        self.flow_config = _merged(COSYVOICE2_FLOW, self.flow_config)
        self.hift_config = _merged(COSYVOICE2_HIFT, self.hift_config)
        if self.token_hop_len is None:
            self.token_hop_len = 2 * int(self.flow_config["input_frame_rate"])
        self.speakers = list(self.speakers) if self.speakers else ["default"]
        if len(set(self.speakers)) != len(self.speakers):
            raise ValueError(f"speaker names must be unique, got {self.speakers}")
        if self.sampling_rate is not None and int(self.sampling_rate) != int(self.hift_config["sampling_rate"]):
            raise ValueError(
                f"sampling_rate ({self.sampling_rate}) must equal hift_config['sampling_rate'] "
                f"({self.hift_config['sampling_rate']}): it is the vocoder's"
            )
        self.sampling_rate = int(self.hift_config["sampling_rate"])
        for name in ("token_hop_len", "n_timesteps", "noise_frames"):
            if not _is_positive_int(getattr(self, name)):
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.mel_cache_len, int) or self.mel_cache_len < 0:
            raise ValueError(f"mel_cache_len must be a non-negative integer, got {self.mel_cache_len!r}")
        if not float(self.temperature) > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature!r}")
        if self.flow_config["output_size"] != 80:
            raise ValueError(
                f"flow_config['output_size'] must be 80 (CosyVoice2's mel bins, fixed in its ODE solver), "
                f"got {self.flow_config['output_size']}"
            )
        super().__post_init__(**kwargs)

    @property
    def samples_per_mel_frame(self) -> int:
        """Waveform samples per mel frame: prod(upsample_rates) x the iSTFT hop (480 for CosyVoice2 at 24 kHz)."""
        samples = int(self.hift_config["istft_params"]["hop_len"])
        for rate in self.hift_config["upsample_rates"]:
            samples *= int(rate)
        return samples

    @property
    def samples_per_token(self) -> int:
        """Waveform samples per speech token (token_mel_ratio mel frames: 960 = 40 ms for CosyVoice2)."""
        return int(self.flow_config["token_mel_ratio"]) * self.samples_per_mel_frame

    @property
    def speech_vocab_size(self) -> int:
        """Number of speech tokens (6,561 for CosyVoice2's FSQ tokenizer)."""
        return int(self.flow_config["vocab_size"])


__all__ = ["LlamaOmni2Token2WavConfig", "COSYVOICE2_FLOW", "COSYVOICE2_HIFT"]
