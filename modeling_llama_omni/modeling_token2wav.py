# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni2's token-to-waveform model as a transformers model: CosyVoice2's flow matching + HiFT, streaming.

    speech tokens [1, T] (6,561-way FSQ ids, 25 Hz)
        -> flow (`Token2WavFlow`): token embedding -> causal upsampling Conformer (x2, 50 Hz) -> conditional flow
           matching (10 Euler steps from a fixed noise, classifier-free guidance, 1-D U-Net estimator), conditioned
           on a speaker embedding -> 80-bin mel [1, 80, 2T]
        -> HiFT (`Token2WavHiFT`): F0 predictor -> harmonic source -> upsampling + iSTFT -> waveform [1, 2T x 480]
           (24 kHz)

`LlamaOmni2Token2Wav.stream()` follows the schedule LLaMA-Omni2 runs (`SpeechDecoder.entry(stream=True)` in its
`run_cosy2_decoder.py`): a chunk is written every `token_hop_len` (50) tokens once `pre_lookahead_len` (3) more are
known; the last `mel_cache_len` (8) mel frames and the matching 8 x 480 source samples are carried into the next
vocoder call, and the chunks are joined with a Hamming cross-fade over those 8 x 480 samples. Like the release, each
chunk ran the flow over every token so far (its attention is chunk-causal, so the earlier mel frames do not change);
by default ours computes only the new frames, with caches (`incremental=True`; `False` runs the release's way). It
implements the `SpeechUnitVocoder` interface of `streaming_llama_omni.py`, so `AudioStreamer`, `model.stream()` and
`generate(return_audio=True)` of a LLaMA-Omni2 model speak through it.

This file imports only torch, numpy, transformers and its sibling modules, so that they can be copied into a model
folder and loaded with `trust_remote_code=True` where this package is not installed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from transformers import PreTrainedModel
from transformers.modeling_outputs import ModelOutput

from .configuration_token2wav import LlamaOmni2Token2WavConfig
from .modeling_token2wav_flow import Token2WavFlow
from .modeling_token2wav_hift import Token2WavHiFT


@dataclass
class LlamaOmni2Token2WavOutput(ModelOutput):
    """
    Output of [`LlamaOmni2Token2Wav`].

    Args:
        waveform (`torch.FloatTensor` of shape `(1, num_samples)`): the speech, at `config.sampling_rate`.
        mel (`torch.FloatTensor` of shape `(1, 80, num_frames)`): the flow's mel spectrogram (50 frames per second).
    """

    waveform: torch.FloatTensor | None = None
    mel: torch.FloatTensor | None = None


class LlamaOmni2Token2WavPreTrainedModel(PreTrainedModel):
    config: LlamaOmni2Token2WavConfig
    config_class = LlamaOmni2Token2WavConfig
    base_model_prefix = "token2wav"
    main_input_name = "speech_tokens"
    supports_gradient_checkpointing = False
    _no_split_modules = []

    def _init_weights(self, module: nn.Module):
        # Fresh modules keep torch's default initialisation (the model is only ever used with converted weights);
        # what a module computes from its hyperparameters (windows, positional tables) is rebuilt here, because
        # from_pretrained materialises such buffers empty.
        reset = getattr(module, "reset_computed_buffers", None)
        if callable(reset):
            reset()
        if isinstance(module, LlamaOmni2Token2Wav):
            module.reset_noise()


class LlamaOmni2Token2Wav(LlamaOmni2Token2WavPreTrainedModel):
    """
    CosyVoice2's token-to-waveform stack (flow matching + HiFT) as LLaMA-Omni2 uses it: speech tokens -> 24 kHz speech,
    one-shot (`forward`) or streamed (`stream()`).

    Modules and buffers: `flow` ([`Token2WavFlow`], the released `flow.pt` keys), `hift` ([`Token2WavHiFT`], the
    released `hift.pt` keys with weight norm folded), `speaker_embeddings` (`(len(config.speakers), spk_embed_dim)`:
    the CAM++ x-vectors of the prompt voices, computed at conversion) and `flow_noise` (`(1, 80, noise_frames)`: the
    fixed starting noise of the ODE; the release draws such a tensor once when it builds its flow).
    """

    def __init__(self, config: LlamaOmni2Token2WavConfig):
        super().__init__(config)
        self.flow = Token2WavFlow(config.flow_config)
        self.hift = Token2WavHiFT(config.hift_config)
        spk_dim = int(config.flow_config["spk_embed_dim"])
        self.register_buffer("speaker_embeddings", torch.zeros(len(config.speakers), spk_dim))
        self.register_buffer("flow_noise", torch.zeros(1, int(config.flow_config["output_size"]), config.noise_frames))
        self.reset_noise()
        self.post_init()

    def reset_noise(self) -> None:
        """Draws the ODE's starting noise from `config.noise_seed` (a loaded model keeps its folder's noise)."""
        if self.flow_noise.device.type == "meta":
            return
        generator = torch.Generator().manual_seed(int(self.config.noise_seed))
        noise = torch.randn(tuple(self.flow_noise.shape), generator=generator)
        with torch.no_grad():
            self.flow_noise.copy_(noise.to(self.flow_noise.dtype))

    # -- speakers ------------------------------------------------------------------------------------------------------

    def speaker_embedding(self, speaker: str | int | torch.Tensor | None = None) -> torch.FloatTensor:
        """
        The speaker embedding to condition on, `(1, spk_embed_dim)`.

        Args:
            speaker (`str`, `int` or `torch.Tensor`, *optional*): a name of `config.speakers`, an index into it, or
                an embedding of shape `(spk_embed_dim,)` / `(1, spk_embed_dim)` (e.g. from
                `convert_cosyvoice2.speaker_embedding_from_wav`). Defaults to the first speaker.

        Raises:
            ValueError: for an unknown name or index, or an embedding of the wrong size.
        """
        dim = self.speaker_embeddings.shape[1]
        if speaker is None:
            speaker = 0
        if isinstance(speaker, torch.Tensor):
            embedding = speaker.reshape(1, -1) if speaker.dim() <= 2 and speaker.numel() == dim else None
            if embedding is None:
                raise ValueError(f"a speaker embedding must have {dim} values, got shape {tuple(speaker.shape)}")
            return embedding.to(device=self.flow_noise.device, dtype=torch.float32)
        if isinstance(speaker, str):
            if speaker not in self.config.speakers:
                raise ValueError(f"unknown speaker {speaker!r}; this model has {self.config.speakers}")
            speaker = self.config.speakers.index(speaker)
        if isinstance(speaker, bool) or not isinstance(speaker, int) or not 0 <= speaker < len(self.config.speakers):
            raise ValueError(
                f"speaker must be a name in {self.config.speakers}, an index below {len(self.config.speakers)} or "
                f"an embedding tensor, got {speaker!r}"
            )
        return self.speaker_embeddings[speaker : speaker + 1].float()

    def source_generator(self) -> torch.Generator:
        """A fresh generator seeded with `config.source_seed`, on the model's device: HiFT's default source of
        randomness (see [`LlamaOmni2Token2WavConfig`])."""
        return torch.Generator(device=self.flow_noise.device).manual_seed(int(self.config.source_seed))

    # -- one-shot --------------------------------------------------------------------------------------------------------

    def _check_tokens(self, tokens: Sequence[int] | torch.Tensor) -> torch.LongTensor:
        """`tokens` as a `(1, T)` LongTensor on the model's device; clear errors for anything else."""
        array = tokens.detach().cpu().numpy() if isinstance(tokens, torch.Tensor) else np.asarray(tokens)
        if array.ndim == 2 and array.shape[0] != 1:
            raise ValueError(f"LlamaOmni2Token2Wav speaks one sequence at a time; got a batch of {array.shape[0]}")
        if array.ndim > 2:
            raise ValueError(f"speech tokens must be 1-D or (1, T), got shape {array.shape}")
        array = array.reshape(-1)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"speech tokens must be integers, got dtype {array.dtype}")
        vocab = self.config.speech_vocab_size
        if array.size and (array.min() < 0 or array.max() >= vocab):
            raise ValueError(f"speech token ids must be in [0, {vocab - 1}], got min {array.min()} and max {array.max()}")
        return torch.as_tensor(array.astype(np.int64), device=self.flow_noise.device).reshape(1, -1)

    def _noise_for(self, num_tokens: int) -> torch.Tensor:
        frames = num_tokens * int(self.config.flow_config["token_mel_ratio"])
        if frames > self.flow_noise.shape[2]:
            seconds = self.flow_noise.shape[2] / (2 * int(self.config.flow_config["input_frame_rate"]))
            raise ValueError(
                f"{num_tokens} speech tokens need {frames} mel frames of starting noise, but this model holds "
                f"{self.flow_noise.shape[2]} ({seconds:.0f} s of speech): raise config.noise_frames and reset_noise()"
            )
        return self.flow_noise

    def tokens_to_mel(
        self, speech_tokens: torch.LongTensor, speaker: str | int | torch.Tensor | None = None, finalize: bool = True
    ) -> torch.FloatTensor:
        """The flow alone: `(1, T)` speech tokens -> mel `(1, 80, 2T)` (or `2(T - pre_lookahead_len)` frames when
        `finalize=False`, as for a streamed chunk)."""
        tokens = self._check_tokens(speech_tokens)
        return self.flow.inference(
            tokens,
            self.speaker_embedding(speaker),
            self._noise_for(tokens.shape[1]),
            finalize=finalize,
            n_timesteps=self.config.n_timesteps,
            temperature=self.config.temperature,
        )

    @torch.inference_mode()
    def forward(
        self,
        speech_tokens: torch.LongTensor,
        speaker: str | int | torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        return_dict: bool | None = None,
    ) -> LlamaOmni2Token2WavOutput | tuple:
        """
        Speech tokens -> speech, in one go (the release's non-streaming `token2wav`).

        Args:
            speech_tokens (`torch.LongTensor` of shape `(1, T)` or `(T,)`): ids in `[0, 6561)`.
            speaker (`str`, `int` or `torch.Tensor`, *optional*): see [`~LlamaOmni2Token2Wav.speaker_embedding`].
            generator (`torch.Generator`, *optional*): for HiFT's source phases and noise, drawn in the release's
                order; default a fresh `source_generator()` (`torch.default_generator`: the global one, as released).

        Returns:
            [`LlamaOmni2Token2WavOutput`] with `waveform` `(1, T x 960)` and `mel`.
        """
        tokens = self._check_tokens(speech_tokens)
        if tokens.shape[1] == 0:
            empty = torch.zeros(1, 0, device=self.flow_noise.device)
            output = LlamaOmni2Token2WavOutput(waveform=empty, mel=torch.zeros(1, 80, 0, device=empty.device))
        else:
            mel = self.tokens_to_mel(tokens, speaker, finalize=True)
            generator = self.source_generator() if generator is None else generator
            waveform, _ = self.hift.inference(mel, generator=generator)
            output = LlamaOmni2Token2WavOutput(waveform=waveform, mel=mel)
        return output if return_dict is not False else output.to_tuple()

    # -- streaming -------------------------------------------------------------------------------------------------------

    def stream(
        self,
        speaker: str | int | torch.Tensor | None = None,
        token_hop_len: int | None = None,
        generator: torch.Generator | None = None,
        incremental: bool = True,
        cache_dtype: torch.dtype | None = None,
    ) -> LlamaOmni2Token2WavStream:
        """Starts a streamed vocoding session; see [`LlamaOmni2Token2WavStream`]."""
        return LlamaOmni2Token2WavStream(
            self, speaker=speaker, token_hop_len=token_hop_len, generator=generator, incremental=incremental,
            cache_dtype=cache_dtype,
        )

    def save_pretrained(self, save_directory: str | os.PathLike, *args, remote_code: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained`; with `remote_code=True` also the code files and their `auto_map`, so
        the folder loads with `AutoModel.from_pretrained(folder, trust_remote_code=True)` without this package."""
        result = super().save_pretrained(save_directory, *args, **kwargs)
        if remote_code:
            write_token2wav_remote_code(save_directory)
        return result


def write_token2wav_remote_code(save_directory: str | os.PathLike) -> list[str]:
    """The token-to-waveform model's code files and `auto_map` (`AutoConfig`, `AutoModel`) in a saved folder."""
    from .modeling_unit_vocoder import write_code_and_auto_map

    return write_code_and_auto_map(
        save_directory, {"AutoConfig": LlamaOmni2Token2WavConfig, "AutoModel": LlamaOmni2Token2Wav}
    )


class LlamaOmni2Token2WavStream:
    r"""
    Streamed token-to-waveform with LLaMA-Omni2's schedule: `push(tokens)` as the speech decoder writes them,
    `flush()` at the end; the concatenated audio is what the release's `SpeechDecoder.entry(stream=True)` returns.

    - A chunk is written once `token_hop_len + pre_lookahead_len` tokens past the last chunk are known: the flow runs
      over every token up to there (the last `pre_lookahead_len` only as right context), and its mel frames past the
      last chunk are vocoded, with the previous chunk's last `mel_cache_len` mel frames in front and its harmonic
      source over them kept, so the source's phase continues.
    - The last `mel_cache_len x 480` samples of each chunk are held back and cross-faded (Hamming) into the start of
      the next chunk; `flush()` writes the rest with the flow's final (no lookahead) pass.
    - `incremental=True` (default): the flow computes only each chunk's new mel frames, with caches of the earlier
      frames (keys / values of every attention layer and the last inputs of every causal convolution, for each of
      the 10 Euler steps and both halves of the guidance batch; the encoder likewise), instead of re-running over
      every token so far as the release does. The mel equals the release's to float rounding (1.2e-6 at the
      released size); a chunk then costs about as much as its own frames (plus attention to the earlier ones)
      instead of growing with the answer: 7.7 s instead of 32.5 s for the 6th chunk at the released size on one
      thread. The price is memory: about 220 MiB of caches per second of speech in float32 (`cache_dtype=
      torch.float16` halves it, mel within 2e-4). `incremental=False` runs the release's computation exactly.


    So the first audio comes once `token_hop_len + pre_lookahead_len` (53) tokens are known, and carries
    `token_hop_len x 960 - 3840` samples (1.84 s at the defaults).

    Args:
        model ([`LlamaOmni2Token2Wav`]): in eval mode.
        speaker: as in [`~LlamaOmni2Token2Wav.speaker_embedding`].
        token_hop_len (`int`, *optional*): tokens per chunk (default `config.token_hop_len`, 50).
        generator (`torch.Generator`, *optional*): for HiFT's source phases and noise, drawn through the whole
            stream (default a fresh `model.source_generator()`; `torch.default_generator` draws from the global one,
            as the release does).
        incremental (`bool`, *optional*, defaults to `True`): compute only each chunk's new mel frames (see above).
        cache_dtype (`torch.dtype`, *optional*): dtype of the incremental caches (default: the model's).

    Raises:
        ValueError: for a non-positive hop or a model in training mode.
    """

    def __init__(
        self,
        model: LlamaOmni2Token2Wav,
        speaker: str | int | torch.Tensor | None = None,
        token_hop_len: int | None = None,
        generator: torch.Generator | None = None,
        incremental: bool = True,
        cache_dtype: torch.dtype | None = None,
    ):
        if model.training:
            raise ValueError("the token-to-waveform model is in training mode: call .eval() first")
        hop = model.config.token_hop_len if token_hop_len is None else token_hop_len
        if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
            raise ValueError(f"token_hop_len must be a positive integer, got {hop!r}")
        self.model = model
        self.embedding = model.speaker_embedding(speaker)
        self.token_hop_len = hop
        self.generator = model.source_generator() if generator is None else generator
        self.lookahead = int(model.config.flow_config["pre_lookahead_len"])
        self.mel_ratio = int(model.config.flow_config["token_mel_ratio"])
        self.mel_cache_len = int(model.config.mel_cache_len)
        self.source_cache_len = self.mel_cache_len * model.config.samples_per_mel_frame
        # np.hamming in float64, as the release's fade (numpy window x float32 tensor computes in float64)
        self.window = torch.from_numpy(np.hamming(2 * self.source_cache_len))
        self.sampling_rate = int(model.config.sampling_rate)
        self.tokens: list[int] = []
        self.token_offset = 0
        self.cache: dict[str, torch.Tensor] | None = None
        self.finished = False
        self.flow_state = None
        if incremental:
            self.flow_state = model.flow.start_stream(
                self.embedding, model.flow_noise, model.config.n_timesteps, model.config.temperature, cache_dtype
            )

    def push(self, tokens: Sequence[int] | torch.Tensor) -> np.ndarray:
        """
        Adds speech tokens; returns the audio of every chunk that is now complete (float32, possibly empty).

        Raises:
            ValueError: on ids out of range or non-integers; RuntimeError after `flush()`.
        """
        if self.finished:
            raise RuntimeError("this stream was flushed: start a new one with model.stream()")
        self.tokens.extend(self.model._check_tokens(tokens)[0].tolist())
        pieces = []
        while len(self.tokens) - self.token_offset >= self.token_hop_len + self.lookahead:
            end = self.token_offset + self.token_hop_len + self.lookahead
            pieces.append(self._chunk(self.tokens[:end], finalize=False))
            self.token_offset += self.token_hop_len
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """Writes the rest of the speech (float32, possibly empty) and closes the stream."""
        if self.finished:
            return np.zeros(0, dtype=np.float32)
        self.finished = True
        if len(self.tokens) <= self.token_offset and self.cache is None:
            return np.zeros(0, dtype=np.float32)
        return self._chunk(self.tokens, finalize=True)

    @torch.inference_mode()
    def _chunk(self, tokens: list[int], finalize: bool) -> np.ndarray:
        """One call of the release's `token2wav`: flow over `tokens`, vocode the new mel frames, fade, cache."""
        model = self.model
        token_tensor = torch.tensor([tokens], dtype=torch.long, device=model.flow_noise.device)
        noise = model._noise_for(len(tokens))  # refuses an answer longer than the stored noise
        if self.flow_state is not None:  # only the frames after the last chunk (== token_offset * mel_ratio)
            mel = model.flow.stream_chunk(token_tensor, self.flow_state, finalize=finalize)  # the state holds `noise`
        else:
            mel = model.flow.inference(
                token_tensor,
                self.embedding,
                noise,
                finalize=finalize,
                n_timesteps=model.config.n_timesteps,
                temperature=model.config.temperature,
            )
            mel = mel[:, :, self.token_offset * self.mel_ratio :]
        cache_source = None
        if self.cache is not None:
            mel = torch.cat([self.cache["mel"], mel], dim=2)
            cache_source = self.cache["source"]
        speech, source = model.hift.inference(mel, cache_source=cache_source, generator=self.generator)
        if self.cache is not None:
            speech = self._fade_in(speech, self.cache["speech"])
        if not finalize:
            self.cache = {
                "mel": mel[:, :, -self.mel_cache_len :],
                "source": source[:, :, -self.source_cache_len :],
                "speech": speech[:, -self.source_cache_len :],
            }
            speech = speech[:, : -self.source_cache_len]
        return speech[0].float().cpu().numpy().astype(np.float32)

    def _fade_in(self, speech: torch.Tensor, previous_tail: torch.Tensor) -> torch.Tensor:
        """The release's `fade_in_out`: the first `source_cache_len` samples become the Hamming-weighted sum of the
        new chunk's rising half and the previous chunk's held-back tail."""
        overlap = self.window.shape[0] // 2
        window = self.window.to(speech.device)
        faded = speech.clone()
        mixed = speech[..., :overlap].double() * window[:overlap] + previous_tail[..., -overlap:].double() * window[overlap:]
        faded[..., :overlap] = mixed.to(speech.dtype)
        return faded


__all__ = [
    "LlamaOmni2Token2Wav",
    "LlamaOmni2Token2WavOutput",
    "LlamaOmni2Token2WavPreTrainedModel",
    "LlamaOmni2Token2WavStream",
    "write_token2wav_remote_code",
]
