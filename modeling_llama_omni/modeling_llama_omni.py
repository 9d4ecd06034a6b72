# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni (arXiv 2409.06666) as a transformers model.

    speech -> Whisper encoder (frozen) -> speech adaptor (stack k frames, Linear -> ReLU -> Linear)
           -> spliced into the LLM's input embeddings at the speech placeholder tokens
           -> LLM -> text (lm_head)
                  -> hidden states, upsampled x lambda -> CTC speech decoder (causal Transformer) -> speech units
                  or (LLaMA-Omni2, `speech_decoder_type="ar"`, see `modeling_omni2_decoder.py`)
                  -> hidden states + text tokens, gate fusion -> autoregressive TTS LM, Read-R-Write-W -> speech units

This file imports only torch, transformers and its siblings (`configuration_llama_omni.py`,
`modeling_omni2_decoder.py`, ...), so that they can be copied into a model folder and loaded with
`trust_remote_code=True` where this package is not installed.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformers import AutoModel, GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.generation.logits_process import (
    LogitsProcessor,
    LogitsProcessorList,
    NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    SequenceBiasLogitsProcessor,
    SuppressTokensLogitsProcessor,
)
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_outputs import BaseModelOutput, BaseModelOutputWithPast, ModelOutput
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from .configuration_llama_omni import LlamaOmniConfig
from .lexicon_readout import LlamaOmniLexiconAdaptor, PhonemeHeadMixin
from .modeling_omni2_decoder import ARUnitStream, LlamaOmniARSpeechDecoder
from .modeling_unit_vocoder import UnitVocoder, write_code_and_auto_map
from .whisper_readout import LlamaOmniWhisperReadoutAdaptor
# release_openmp_threads: also reachable from the model's module, for callers that hold only the model (remote code)
from .streaming_llama_omni import InterleavedUnits, release_openmp_threads, stream_generate  # noqa: F401

IGNORE_INDEX = -100

# Where a model folder keeps its unit vocoder (saved with `UnitVocoder.save_pretrained`).
VOCODER_SUBFOLDER = "vocoder"


# ----------------------------------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class LlamaOmniModelOutputWithPast(BaseModelOutputWithPast):
    r"""
    speech_embeddings (`torch.FloatTensor` of shape `(num_speech_tokens, hidden_size)`, *optional*):
        The adaptor outputs that were spliced in at the speech placeholder positions (all clips, concatenated).
    """

    speech_embeddings: torch.FloatTensor | None = None


@dataclass
class LlamaOmniCausalLMOutputWithPast(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        `text_loss + ctc_loss_weight * ctc_loss` (or `+ tts_loss_weight * speech_loss` for the autoregressive speech
        decoder), over the losses that could be computed.
    text_loss (`torch.FloatTensor` of shape `()`, *optional*):
        Next-token cross-entropy of the text response (when `labels` are given).
    ctc_loss (`torch.FloatTensor` of shape `()`, *optional*):
        CTC loss of the speech decoder against `unit_labels` (when given), summed and divided by the total number
        of target units, as in the original LLaMA-Omni.
    logits (`torch.FloatTensor` of shape `(batch_size, sequence_length, vocab_size)`):
        Text logits.
    ctc_logits (`torch.FloatTensor` of shape `(num_samples, num_frames, unit_vocab_size + 1)`, *optional*):
        Speech decoder logits over the upsampled response frames (when `unit_labels` are given).
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, sequence_length, hidden_size)`, *optional*):
        The LLM's last hidden states (after its final norm): what the speech decoder reads.
    speech_loss (`torch.FloatTensor` of shape `()`, *optional*):
        The speech decoder's loss, whatever its type (when `unit_labels` are given): the CTC loss (= `ctc_loss`), or
        the autoregressive decoder's cross-entropy over the speech tokens of the Read-Write sequences.
    speech_logits (`torch.FloatTensor` of shape `(num_targets, tts_vocab_size)`, *optional*):
        (Autoregressive speech decoder) the TTS model's logits at the positions that predict a speech token or EOS.
    """

    loss: torch.FloatTensor | None = None
    text_loss: torch.FloatTensor | None = None
    ctc_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    ctc_logits: torch.FloatTensor | None = None
    past_key_values: Cache | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    last_hidden_state: torch.FloatTensor | None = None
    speech_loss: torch.FloatTensor | None = None
    speech_logits: torch.FloatTensor | None = None


@dataclass
class LlamaOmniGenerateOutput(ModelOutput):
    r"""
    sequences (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
        What `generate()` returns (prompt + answer for decoder-only generation from `input_ids`).
    units (`list[torch.LongTensor]`):
        Speech units of each answer (decoded from the states that predicted its tokens, up to its first EOS).
    waveforms (`list[torch.FloatTensor]`, *optional*):
        The vocoded answer of each sample, at `sampling_rate` (when a vocoder was given).
    sampling_rate (`int`, *optional*):
        Sampling rate of `waveforms`.
    """

    sequences: torch.LongTensor | None = None
    units: list[torch.LongTensor] | None = None
    waveforms: list[torch.FloatTensor] | None = None
    sampling_rate: int | None = None


@dataclass
class SpeechEncoderOutput(BaseModelOutput):
    r"""
    output_lengths (`torch.LongTensor` of shape `(batch_size,)`):
        Number of valid encoder frames per clip (the rest is padding).
    """

    output_lengths: torch.LongTensor | None = None


# ----------------------------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------------------------


class LlamaOmniSpeechEncoder(WhisperEncoder):
    """
    The Whisper encoder, accepting any number of mel frames up to `2 * max_source_positions` (30 s) and a frame
    mask, so that clips need not be padded to 30 s and a batch of clips of different lengths gives, for each
    clip, exactly what the clip gives alone.

    With a full 30 s input and no mask it computes exactly what transformers' `WhisperEncoder` computes; its
    parameters have the same names, so Whisper checkpoints load into it as they are.
    """

    def _get_feat_extract_output_lengths(self, input_lengths: torch.LongTensor) -> torch.LongTensor:
        """Number of encoder frames for `input_lengths` mel frames (conv2 has stride 2)."""
        return (input_lengths - 1) // 2 + 1

    def forward(
        self,
        input_features: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        **kwargs,
    ) -> SpeechEncoderOutput:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, num_mel_bins, num_frames)`):
                Log-mel features (from `WhisperFeatureExtractor`); `num_frames <= 2 * max_source_positions`.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_frames)`, *optional*):
                1 for real mel frames, 0 for padding. Frames must be right-padded. Without it, every frame is real.

        Returns:
            `SpeechEncoderOutput` with `last_hidden_state` of shape `(batch_size, ceil(num_frames / 2), d_model)`
            and `output_lengths`.
        """
        batch_size, _, num_frames = input_features.shape
        max_frames = self.config.max_source_positions * self.conv1.stride[0] * self.conv2.stride[0]
        if num_frames > max_frames:
            raise ValueError(
                f"The speech encoder accepts at most {max_frames} mel frames "
                f"({max_frames // 100} s of audio), got {num_frames}."
            )
        if attention_mask is None:
            attention_mask = torch.ones(batch_size, num_frames, dtype=torch.long, device=input_features.device)
        frame_mask = attention_mask.to(input_features.device).bool()
        input_lengths = frame_mask.long().sum(-1)

        # Zero the padding before each convolution: a clip in a padded batch then sees, at its right edge, exactly
        # the zero padding the convolution gives it when it runs alone.
        hidden = input_features * frame_mask[:, None, :].to(input_features.dtype)
        hidden = F.gelu(self.conv1(hidden))
        hidden = hidden * frame_mask[:, None, :].to(hidden.dtype)
        hidden = F.gelu(self.conv2(hidden))
        hidden = hidden.permute(0, 2, 1)

        seq_len = hidden.shape[1]
        output_lengths = self._get_feat_extract_output_lengths(input_lengths)
        hidden = hidden + self.embed_positions.weight[:seq_len].to(hidden.dtype)
        hidden = F.dropout(hidden, p=self.dropout, training=self.training)

        encoder_mask = torch.arange(seq_len, device=hidden.device)[None, :] < output_lengths[:, None]
        attn_mask = None
        if not bool(encoder_mask.all()):
            attn_mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=encoder_mask)
        for layer in self.layers:
            if self.training and self.layerdrop > 0.0 and torch.rand([]) < self.layerdrop:
                continue
            hidden = layer(hidden, attn_mask, **kwargs)
        hidden = self.layer_norm(hidden)
        return SpeechEncoderOutput(last_hidden_state=hidden, output_lengths=output_lengths)


class LlamaOmniAdaptorLayer(nn.Module):
    """A pre-norm Transformer encoder layer of the speech adaptor (`LlamaOmniConfig.speech_adaptor_num_layers`):
    bidirectional multi-head self-attention, then a GELU feed-forward of the same width, each with a residual."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(hidden_size)
        self.attention = nn.MultiheadAttention(hidden_size, num_heads, batch_first=True)
        self.ffn_norm = nn.LayerNorm(hidden_size)
        self.fc1 = nn.Linear(hidden_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)

    def forward(self, hidden_states: torch.FloatTensor, padding_mask: torch.BoolTensor | None = None):
        """`padding_mask` `(batch, frames)`: True where an embedding is padding (never attended to)."""
        x = self.attention_norm(hidden_states)
        attended, _ = self.attention(x, x, x, key_padding_mask=padding_mask, need_weights=False)
        hidden_states = hidden_states + attended
        return hidden_states + self.fc2(F.gelu(self.fc1(self.ffn_norm(hidden_states))))


def _run_adaptor_layers(layers: nn.ModuleList, hidden: torch.FloatTensor,
                        lengths: torch.LongTensor | None) -> torch.FloatTensor:
    """The adaptor's Transformer layers over `(batch, embeddings, width)`; embeddings at or after `lengths` are padding
    (never attended to; all valid when not given)."""
    if not len(layers):
        return hidden
    padding = None
    if lengths is not None:
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        padding = positions[None, :] >= lengths.to(hidden.device)[:, None]
    for layer in layers:
        hidden = layer(hidden, padding)
    return hidden


class LlamaOmniSpeechAdaptor(nn.Module):
    """
    The speech adaptor: concatenates every `k = speech_downsample_rate` consecutive encoder frames (frames left over
    at the end are discarded, as in the original), then Linear -> ReLU -> Linear to the LLM's hidden size. With
    `config.speech_adaptor_num_layers > 0`, pre-norm Transformer encoder layers run between the activation and the
    second Linear, so each speech embedding also sees its neighbours (padded embeddings are masked out).
    """

    def __init__(self, config: LlamaOmniConfig):
        super().__init__()
        self.k = config.speech_downsample_rate
        encoder_dim = config.speech_encoder_config.d_model
        hidden = config.speech_adaptor_hidden_size
        self.linear1 = nn.Linear(encoder_dim * self.k, hidden)
        self.act = ACT2FN[config.speech_adaptor_hidden_act]
        num_layers = getattr(config, "speech_adaptor_num_layers", 0)
        self.layers = nn.ModuleList(
            LlamaOmniAdaptorLayer(hidden, config.speech_adaptor_num_heads) for _ in range(num_layers)
        )
        self.linear2 = nn.Linear(hidden, config.text_config.hidden_size)

    def forward(self, encoder_hidden_states: torch.FloatTensor,
                lengths: torch.LongTensor | None = None) -> torch.FloatTensor:
        """`(batch, frames, d_model)` -> `(batch, frames // k, hidden_size)`; `lengths` (valid speech embeddings per
        clip) masks the padding for the Transformer layers (all embeddings are valid when not given)."""
        batch_size, num_frames, dim = encoder_hidden_states.shape
        usable = num_frames - num_frames % self.k
        stacked = encoder_hidden_states[:, :usable].reshape(batch_size, usable // self.k, dim * self.k)
        hidden = self.act(self.linear1(stacked))
        return self.linear2(_run_adaptor_layers(self.layers, hidden, lengths))


class LlamaOmniPhoneticAdaptor(PhonemeHeadMixin, nn.Module):
    """
    The phonetic speech adaptor (`LlamaOmniConfig.speech_adaptor_phonemes > 0`): a phoneme bottleneck between the
    speech encoder and the LLM.

    1. An acoustic head reads each encoder frame with `speech_adaptor_phoneme_context` neighbours on each side
       (Linear -> GELU -> Linear -> GELU -> Linear) and gives logits over `speech_adaptor_phonemes` classes at the
       encoder's frame rate (class 0 is the CTC blank; trained with a phoneme CTC loss).
    2. Only their softmax goes on: embedded by `phoneme_embedding`, every `k = speech_downsample_rate` consecutive
       frames concatenated (frames left over at the end are discarded, as in the released adaptor), then `linear1`,
       the activation, the Transformer layers (`speech_adaptor_num_layers`, padded embeddings masked out) and
       `linear2` to the LLM's hidden size.

    Step 2 never sees the audio itself, so it can also be trained from the phonemes of written text
    (`embed_phonemes` on simulated posteriors): words and names the speech never contained can be spelled in the
    LLM's tokens from their sounds. Only the first `lengths * k` encoder frames of a clip are read, so a clip's
    embeddings do not depend on the padding of its batch.
    """

    def __init__(self, config: LlamaOmniConfig):
        super().__init__()
        self._init_phoneme_head(config)
        hidden = config.speech_adaptor_hidden_size
        self.phoneme_embedding = nn.Linear(self.num_phonemes, config.speech_adaptor_phoneme_size, bias=False)
        self.linear1 = nn.Linear(config.speech_adaptor_phoneme_size * self.k, hidden)
        self.act = ACT2FN[config.speech_adaptor_hidden_act]
        self.layers = nn.ModuleList(
            LlamaOmniAdaptorLayer(hidden, config.speech_adaptor_num_heads)
            for _ in range(config.speech_adaptor_num_layers)
        )
        self.linear2 = nn.Linear(hidden, config.text_config.hidden_size)

    def embed_phonemes(self, posteriors: torch.FloatTensor,
                       lengths: torch.LongTensor | None = None) -> torch.FloatTensor:
        """Phoneme posteriors `(batch, frames, speech_adaptor_phonemes)` (rows summing to 1; one-hot rows for written
        text) -> speech embeddings `(batch, frames // k, hidden_size)`; `lengths` = valid embeddings per clip."""
        batch_size, num_frames, classes = posteriors.shape
        if classes != self.num_phonemes:
            raise ValueError(f"posteriors must have {self.num_phonemes} classes, got {classes}")
        usable = num_frames - num_frames % self.k
        embedded = self.phoneme_embedding(posteriors[:, :usable])
        hidden = self.act(self.linear1(embedded.reshape(batch_size, usable // self.k, -1)))
        return self.linear2(_run_adaptor_layers(self.layers, hidden, lengths))

    def forward(self, encoder_hidden_states: torch.FloatTensor,
                lengths: torch.LongTensor | None = None) -> torch.FloatTensor:
        """`(batch, frames, d_model)` -> `(batch, frames // k, hidden_size)`; `lengths`: valid speech embeddings per
        clip (all when not given)."""
        frame_lengths = None if lengths is None else lengths * self.k
        logits = self.phoneme_logits(encoder_hidden_states, frame_lengths)
        return self.embed_phonemes(logits.float().softmax(-1).to(logits.dtype), lengths)


class LlamaOmniTokenResiduals(nn.Module):
    """One learned vector per text token (zero-initialised): the CTC speech decoder's own per-token input, added to
    the projected LLM embedding of the token (`LlamaOmniConfig.speech_decoder_token_residuals`)."""

    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(vocab_size, hidden_size))

    def forward(self, token_ids: torch.LongTensor) -> torch.FloatTensor:
        return F.embedding(token_ids, self.weight)


class LlamaOmniTokenPhonemes(nn.Module):
    """
    The CTC speech decoder's pronunciation table (`LlamaOmniConfig.speech_decoder_token_phonemes`): for every text
    token, the units of the token said on its own (`table`, a buffer of shape `(vocab_size, slots)`, -1 where there
    is no unit; filled with `set_table` at build time), and a learned embedding per unit and row. Slot `j` goes to
    upsampled frame `j % upsample_factor` of the token, through the embeddings of row `j // upsample_factor`; frames
    without a unit get the row's "no unit" embedding. The embeddings start at zero, so a fresh table changes nothing.
    """

    def __init__(self, vocab_size: int, slots: int, unit_vocab_size: int, hidden_size: int, upsample_factor: int):
        super().__init__()
        self.slots = slots
        self.unit_vocab_size = unit_vocab_size
        self.upsample_factor = upsample_factor
        self.rows = -(-slots // upsample_factor)
        dtype = torch.int16 if unit_vocab_size <= torch.iinfo(torch.int16).max else torch.int32
        self.register_buffer("table", torch.full((vocab_size, slots), -1, dtype=dtype))
        self.weight = nn.Parameter(torch.zeros(self.rows, unit_vocab_size + 1, hidden_size))

    @torch.no_grad()
    def set_table(self, table: torch.Tensor) -> None:
        """
        Fills the pronunciation table.

        Args:
            table (`torch.Tensor` of shape `(vocab_size, n)` with `n <= slots`, integer): each token's units, -1
                padded (a shorter table is padded with -1).

        Raises:
            ValueError: another shape, a float table, or units outside `[-1, unit_vocab_size)`.
        """
        table = torch.as_tensor(table)
        if table.is_floating_point() or table.dtype == torch.bool or table.dim() != 2:
            raise ValueError(f"table must be a 2-d integer tensor, got {table.dtype} of shape {tuple(table.shape)}")
        if table.shape[0] != self.table.shape[0] or table.shape[1] > self.slots:
            raise ValueError(
                f"table must have shape ({self.table.shape[0]}, <= {self.slots}) (vocabulary x unit slots), got "
                f"{tuple(table.shape)}"
            )
        if table.numel() and (int(table.min()) < -1 or int(table.max()) >= self.unit_vocab_size):
            raise ValueError(
                f"table entries must be units in [0, {self.unit_vocab_size}) or -1 (none), got "
                f"[{int(table.min())}, {int(table.max())}]"
            )
        self.table.fill_(-1)
        self.table[:, : table.shape[1]] = table.to(self.table)

    def forward(self, token_ids: torch.LongTensor) -> torch.FloatTensor:
        """`(batch, n)` token ids -> `(batch, n * upsample_factor, hidden_size)` frame inputs."""
        batch, n = token_ids.shape
        units = self.table[token_ids.to(self.table.device)].long()
        units = units.masked_fill(units < 0, self.unit_vocab_size)
        padding = self.rows * self.upsample_factor - self.slots
        if padding:
            units = F.pad(units, (0, padding), value=self.unit_vocab_size)
        units = units.view(batch, n, self.rows, self.upsample_factor)
        frames = sum(F.embedding(units[:, :, row], self.weight[row]) for row in range(self.rows))
        return frames.reshape(batch, n * self.upsample_factor, -1)


class LlamaOmniCTCSpeechDecoder(nn.Module):
    """
    The non-autoregressive CTC speech decoder of LLaMA-Omni: the LLM's hidden states are upsampled (each repeated
    `ctc_upsample_factor` times), projected, run through a few causal Llama layers (positions 0..T-1 over the
    upsampled frames, the decoder config's RoPE) and projected to `unit_vocab_size + 1` classes (the last is the
    CTC blank). There is no final norm (as in the released checkpoint).

    With `config.speech_decoder_token_embeddings`, each state is paired with the LLM input embedding of the token it
    predicted: `token_proj(embedding)` is added to `input_proj(state)` on every upsampled frame; with
    `config.speech_decoder_token_residuals`, so is the token's own learned vector (`token_residuals`); with
    `config.speech_decoder_token_phonemes`, each frame also gets the embedding of one unit of the token's
    pronunciation (`token_phonemes`).
    """

    def __init__(self, config: LlamaOmniConfig):
        super().__init__()
        decoder_config = config.speech_decoder_config
        if decoder_config._attn_implementation is None:
            # Not a PreTrainedModel of its own: follow the attention implementation chosen for the whole model.
            decoder_config._attn_implementation_internal = config._attn_implementation
        self.config = decoder_config
        self.upsample_factor = config.ctc_upsample_factor
        self.blank_id = config.unit_vocab_size
        self.input_proj = nn.Linear(config.text_config.hidden_size, decoder_config.hidden_size)
        self.layers = nn.ModuleList(
            [LlamaDecoderLayer(decoder_config, layer_idx) for layer_idx in range(decoder_config.num_hidden_layers)]
        )
        self.rotary_emb = LlamaRotaryEmbedding(config=decoder_config)
        self.output_proj = nn.Linear(decoder_config.hidden_size, config.unit_vocab_size + 1)
        self.token_proj = (
            nn.Linear(config.text_config.hidden_size, decoder_config.hidden_size, bias=False)
            if config.speech_decoder_token_embeddings
            else None
        )
        self.token_residuals = (
            LlamaOmniTokenResiduals(config.text_config.vocab_size, decoder_config.hidden_size)
            if config.speech_decoder_token_residuals
            else None
        )
        self.token_phonemes = (
            LlamaOmniTokenPhonemes(config.text_config.vocab_size, config.speech_decoder_token_phonemes,
                                   config.unit_vocab_size, decoder_config.hidden_size, self.upsample_factor)
            if config.speech_decoder_token_phonemes
            else None
        )

    @property
    def uses_token_embeddings(self) -> bool:
        """Whether the decoder reads the emitted tokens' embeddings beside the states."""
        return self.token_proj is not None

    def upsample(
        self, hidden_states: torch.FloatTensor, attention_mask: torch.LongTensor | None = None
    ) -> tuple[torch.FloatTensor, torch.LongTensor | None]:
        """Repeats each state `ctc_upsample_factor` times: `(batch, n, H)` -> `(batch, n * lambda, H)`."""
        upsampled = hidden_states.repeat_interleave(self.upsample_factor, dim=1)
        if attention_mask is not None:
            attention_mask = attention_mask.repeat_interleave(self.upsample_factor, dim=1)
        return upsampled, attention_mask

    def forward(
        self,
        hidden_states: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool = False,
        token_embeds: torch.FloatTensor | None = None,
        token_ids: torch.LongTensor | None = None,
    ) -> torch.FloatTensor:
        r"""
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, num_states, llm_hidden_size)`):
                LLM hidden states, one per text token, right-padded.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_states)`, *optional*):
                1 for real states, 0 for padding.
            past_key_values (`Cache`, *optional*):
                A cache over the upsampled frames already decoded (for incremental decoding); positions continue
                after them.
            token_embeds (`torch.FloatTensor` of shape `(batch_size, num_states, llm_hidden_size)`, *optional*):
                The LLM input embeddings of the tokens the states predicted. Required when the decoder reads them
                (`config.speech_decoder_token_embeddings`), refused otherwise.
            token_ids (`torch.LongTensor` of shape `(batch_size, num_states)`, *optional*):
                The tokens themselves; required by a decoder with its own per-token tables
                (`config.speech_decoder_token_residuals`, `config.speech_decoder_token_phonemes`), else unused.

        Returns:
            `torch.FloatTensor` of shape `(batch_size, num_states * ctc_upsample_factor, unit_vocab_size + 1)`:
            CTC logits over the upsampled frames.
        """
        if (token_embeds is None) == self.uses_token_embeddings:
            raise ValueError(
                "This speech decoder reads the emitted tokens' embeddings beside the states: pass token_embeds"
                if self.uses_token_embeddings
                else "This speech decoder reads the states only (speech_decoder_token_embeddings=False): got token_embeds"
            )
        frames, frame_mask = self.upsample(hidden_states, attention_mask)
        frames = self.input_proj(frames)
        if token_embeds is not None:
            if token_embeds.shape != hidden_states.shape:
                raise ValueError(
                    f"token_embeds must have the shape of hidden_states {tuple(hidden_states.shape)}, got "
                    f"{tuple(token_embeds.shape)}"
                )
            token_inputs = self.token_proj(token_embeds.to(frames.dtype))
            if self.token_residuals is not None or self.token_phonemes is not None:
                if token_ids is None or token_ids.shape != hidden_states.shape[:2]:
                    raise ValueError(
                        "This speech decoder has its own per-token table: pass token_ids of shape "
                        f"{tuple(hidden_states.shape[:2])}"
                    )
                token_ids = token_ids.to(frames.device)
            if self.token_residuals is not None:
                token_inputs = token_inputs + self.token_residuals(token_ids).to(frames.dtype)
            frames = frames + token_inputs.repeat_interleave(self.upsample_factor, 1)
            if self.token_phonemes is not None:
                frames = frames + self.token_phonemes(token_ids).to(frames.dtype)
        past_seen = past_key_values.get_seq_length() if past_key_values is not None else 0
        position_ids = (torch.arange(frames.shape[1], device=frames.device) + past_seen).unsqueeze(0)
        if frame_mask is not None and past_seen > 0:
            frame_mask = torch.cat([frame_mask.new_ones(frame_mask.shape[0], past_seen), frame_mask], dim=1)
        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=frames,
            attention_mask=frame_mask,
            past_key_values=past_key_values,
            position_ids=position_ids,
        )
        position_embeddings = self.rotary_emb(frames, position_ids=position_ids)
        for layer in self.layers:
            frames = layer(
                frames,
                attention_mask=causal_mask,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=use_cache,
                position_embeddings=position_embeddings,
            )
        return self.output_proj(frames)

    def ctc_loss(
        self, logits: torch.FloatTensor, frame_lengths: torch.LongTensor, unit_labels: torch.LongTensor
    ) -> torch.FloatTensor:
        """
        CTC loss (sum over the batch, divided by the total number of target units; infinite losses zeroed), as in
        the original training code.

        Args:
            logits: `(batch, frames, unit_vocab_size + 1)`.
            frame_lengths: `(batch,)` number of valid frames per sample.
            unit_labels: `(batch, max_units)` target units, padded with any negative value.
        """
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
        target_mask = unit_labels >= 0
        target_lengths = target_mask.long().sum(-1)
        targets = unit_labels[target_mask]
        loss = F.ctc_loss(
            log_probs,
            targets,
            frame_lengths,
            target_lengths,
            blank=self.blank_id,
            reduction="sum",
            zero_infinity=True,
        )
        return loss / target_lengths.sum().clamp(min=1)


def ctc_greedy_collapse(frame_ids: list[int], blank_id: int, previous: int | None = None) -> list[int]:
    """
    Greedy CTC decoding of a frame-wise argmax: merges consecutive repeats, then drops blanks.

    Args:
        frame_ids: argmax class per frame.
        blank_id: the CTC blank.
        previous: the class of the frame just before `frame_ids` (to merge repeats across chunk boundaries when
            decoding incrementally), or `None` at the start.
    """
    units = []
    for frame_id in frame_ids:
        if frame_id != previous and frame_id != blank_id:
            units.append(frame_id)
        previous = frame_id
    return units


class CTCUnitStream:
    """
    Incremental greedy CTC decoding: feed the LLM hidden states one text token (or a few) at a time and get the
    new units. The speech decoder is causal, so a KV cache over the upsampled frames makes every step cost the
    same whatever the position, and the units equal those of a one-shot run over the whole answer
    (`LlamaOmniForConditionalGeneration.predict_units`); repeats are merged across step boundaries.

    Args:
        speech_decoder (`LlamaOmniCTCSpeechDecoder`): the decoder to run.
        batch_size (`int`, *optional*, defaults to 1): number of sequences decoded side by side.
        embed_tokens (`nn.Module`, *optional*): the LLM's input embeddings; required by a decoder that reads the
            emitted tokens' embeddings (`uses_token_embeddings`).
    """

    def __init__(
        self, speech_decoder: LlamaOmniCTCSpeechDecoder, batch_size: int = 1, embed_tokens: nn.Module | None = None
    ):
        if speech_decoder.uses_token_embeddings and embed_tokens is None:
            raise ValueError("This speech decoder reads token embeddings: pass the LLM's embed_tokens")
        self.speech_decoder = speech_decoder
        self.embed_tokens = embed_tokens
        self.cache = DynamicCache(config=speech_decoder.config)
        self.previous: list[int | None] = [None] * batch_size

    @torch.no_grad()
    def step(self, hidden_states: torch.FloatTensor, token_ids: torch.LongTensor | None = None) -> list[list[int]]:
        """
        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, num_new_states, hidden_size)`): the states
                that predicted the new text tokens.
            token_ids (`torch.LongTensor` of shape `(batch_size, num_new_states)`, *optional*): the new text
                tokens; required when the decoder reads their embeddings, else unused (accepted so that every speech
                unit stream has the same interface).

        Returns:
            The new units of each sequence (blanks dropped, repeats merged, also with the previous step's last frame).
        """
        if hidden_states.dim() != 3 or hidden_states.shape[0] != len(self.previous):
            raise ValueError(
                f"hidden_states must have shape ({len(self.previous)}, num_new_states, hidden_size), got "
                f"{tuple(hidden_states.shape)}"
            )
        dtype = self.speech_decoder.input_proj.weight.dtype
        device = self.speech_decoder.input_proj.weight.device
        token_embeds = None
        if self.speech_decoder.uses_token_embeddings:
            if token_ids is None:
                raise ValueError("This speech decoder reads the emitted tokens' embeddings: pass token_ids")
            token_ids = token_ids.reshape(hidden_states.shape[:2]).to(device)
            token_embeds = self.embed_tokens(token_ids).to(dtype)
        logits = self.speech_decoder(
            hidden_states.to(device, dtype), past_key_values=self.cache, use_cache=True, token_embeds=token_embeds,
            token_ids=token_ids,
        )
        new_units = []
        for i, frame_ids in enumerate(logits.argmax(-1).tolist()):
            new_units.append(ctc_greedy_collapse(frame_ids, self.speech_decoder.blank_id, previous=self.previous[i]))
            self.previous[i] = frame_ids[-1]
        return new_units

    def finish(self, max_units: int | None = None) -> list[list[int]]:
        """The answer has ended. The CTC decoder has nothing left to write: `[]` per sequence (`max_units` is
        accepted so that every speech unit stream has the same interface)."""
        return [[] for _ in self.previous]


# ----------------------------------------------------------------------------------------------------------------------
# Pretrained model
# ----------------------------------------------------------------------------------------------------------------------


class LlamaOmniPreTrainedModel(PreTrainedModel):
    config: LlamaOmniConfig
    config_class = LlamaOmniConfig
    base_model_prefix = "model"
    input_modalities = ("audio", "text")
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["WhisperEncoderLayer", "LlamaDecoderLayer", "Qwen2DecoderLayer"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_compile_fullgraph = False

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, LlamaOmniTokenResiduals):
            nn.init.zeros_(module.weight)
        elif isinstance(module, LlamaOmniTokenPhonemes):
            nn.init.zeros_(module.weight)
        elif isinstance(module, nn.MultiheadAttention):  # its packed input projection is not an nn.Linear
            nn.init.xavier_uniform_(module.in_proj_weight)
            nn.init.zeros_(module.in_proj_bias)

    def save_pretrained(self, save_directory: str | os.PathLike, *args, remote_code: bool = False, **kwargs):
        """
        `PreTrainedModel.save_pretrained`, plus, with `remote_code=True`, the code files and `auto_map` that let
        `AutoModel.from_pretrained(save_directory, trust_remote_code=True)` load the folder where this package is
        not installed.
        """
        super().save_pretrained(save_directory, *args, **kwargs)
        if remote_code:
            write_remote_code(save_directory)


def write_remote_code(save_directory: str | os.PathLike) -> list[str]:
    """
    Copies the model's code files (this file and the files it imports relatively: configuration, streaming, the
    speech decoders, the unit vocoder) into `save_directory` and adds their `auto_map` (`AutoConfig`, `AutoModel`,
    `AutoModelForCausalLM`, and `AutoModelForMultimodalLM` for `pipeline("any-to-any")`) to its `config.json`.

    Returns:
        The paths of the code files now in `save_directory`.

    Raises:
        FileNotFoundError: if `save_directory` has no `config.json`.
    """
    model_class = LlamaOmniForConditionalGeneration
    return write_code_and_auto_map(
        save_directory,
        {
            "AutoConfig": LlamaOmniConfig,
            "AutoModel": model_class,
            "AutoModelForCausalLM": model_class,
            "AutoModelForMultimodalLM": model_class,
        },
    )


class LlamaOmniModel(LlamaOmniPreTrainedModel):
    """
    Speech encoder + speech adaptor + LLM backbone (no heads). Speech embeddings replace the speech placeholder
    tokens of `input_ids`; returns the LLM's last hidden state.
    """

    def __init__(self, config: LlamaOmniConfig):
        super().__init__(config)
        self.speech_encoder = LlamaOmniSpeechEncoder(config.speech_encoder_config)
        if getattr(config, "speech_adaptor_whisper_readout", None) is not None:
            self.speech_adaptor = LlamaOmniWhisperReadoutAdaptor(config)
        elif getattr(config, "speech_adaptor_lexicon", None) is not None:
            self.speech_adaptor = LlamaOmniLexiconAdaptor(config)
        elif getattr(config, "speech_adaptor_phonemes", 0):
            self.speech_adaptor = LlamaOmniPhoneticAdaptor(config)
        else:
            self.speech_adaptor = LlamaOmniSpeechAdaptor(config)
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def _check_input_features(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor | None):
        if input_features.dim() != 3:
            raise ValueError(
                "input_features must have shape (num_clips, num_mel_bins, num_frames), got "
                f"{tuple(input_features.shape)}"
            )
        num_mel_bins = self.config.speech_encoder_config.num_mel_bins
        if input_features.shape[1] != num_mel_bins:
            raise ValueError(
                f"input_features has {input_features.shape[1]} mel bins but the speech encoder expects "
                f"{num_mel_bins}: use the feature extractor saved with this model."
            )
        if not torch.is_floating_point(input_features):
            raise ValueError(f"input_features must be a float tensor, got {input_features.dtype}")
        if not bool(torch.isfinite(input_features).all()):
            raise ValueError("input_features contains NaN or inf values")
        if self.config.pad_to_30s:
            expected = self.config.speech_encoder_config.max_source_positions * 2
            if input_features.shape[-1] != expected:
                raise ValueError(
                    f"This checkpoint expects every clip padded to 30 s ({expected} mel frames), got "
                    f"{input_features.shape[-1]}: use a processor with pad_to_30s=True."
                )
        if feature_attention_mask is not None and feature_attention_mask.shape != (
            input_features.shape[0],
            input_features.shape[-1],
        ):
            raise ValueError(
                f"feature_attention_mask has shape {tuple(feature_attention_mask.shape)} but input_features has "
                f"{input_features.shape[0]} clips of {input_features.shape[-1]} frames"
            )

    def num_speech_embeddings(self, num_frames: torch.LongTensor) -> torch.LongTensor:
        """Number of speech embeddings the adaptor gives for clips of `num_frames` mel frames."""
        encoder_lengths = self.speech_encoder._get_feat_extract_output_lengths(num_frames)
        return encoder_lengths // self.config.speech_downsample_rate

    def get_speech_features(
        self,
        input_features: torch.FloatTensor | None = None,
        feature_attention_mask: torch.LongTensor | None = None,
        *,
        speech_encoder_hidden_states: torch.FloatTensor | None = None,
        speech_encoder_lengths: torch.LongTensor | None = None,
    ) -> tuple[torch.FloatTensor, torch.LongTensor]:
        r"""
        Runs the speech encoder and the adaptor, or only the adaptor on precomputed encoder outputs.

        Args:
            input_features (`torch.FloatTensor` of shape `(num_clips, num_mel_bins, num_frames)`): log-mel features.
            feature_attention_mask (`torch.LongTensor` of shape `(num_clips, num_frames)`, *optional*):
                1 for real frames, 0 for right padding.
            speech_encoder_hidden_states (`torch.FloatTensor` of shape `(num_clips, num_encoder_frames, d_model)`,
                *optional*): precomputed outputs of the (frozen) speech encoder, right-padded, instead of
                `input_features` (e.g. an encoder-output cache for training the adaptor).
            speech_encoder_lengths (`torch.LongTensor` of shape `(num_clips,)`, *optional*): number of valid encoder
                frames per clip of `speech_encoder_hidden_states` (all frames when not given).

        Returns:
            `(speech_embeddings, lengths)`: `(num_clips, max_embeddings, hidden_size)` and the number of valid
            embeddings per clip, `(num_clips,)`.
        """
        hidden, frame_lengths = self._encoder_states(input_features, feature_attention_mask,
                                                     speech_encoder_hidden_states, speech_encoder_lengths,
                                                     "get_speech_features")
        if getattr(self.speech_adaptor, "reads_out_tokens", False):
            return self._read_out_embeddings(hidden, frame_lengths)
        if speech_encoder_hidden_states is not None:
            hidden = hidden.to(self.speech_adaptor.linear1.weight.dtype)
        lengths = frame_lengths // self.config.speech_downsample_rate
        return self.speech_adaptor(hidden, lengths), lengths

    def _encoder_states(
        self,
        input_features: torch.FloatTensor | None,
        feature_attention_mask: torch.LongTensor | None,
        hidden_states: torch.FloatTensor | None,
        lengths: torch.LongTensor | None,
        caller: str,
    ) -> tuple[torch.FloatTensor, torch.LongTensor]:
        """The speech encoder's outputs and the valid frames per clip: from `input_features`, or the precomputed
        `hidden_states` (all frames valid where `lengths` is not given)."""
        if hidden_states is not None:
            if input_features is not None:
                raise ValueError("Give input_features or speech_encoder_hidden_states, not both")
            self._check_encoder_states(hidden_states, lengths)
            if lengths is None:
                lengths = torch.full((hidden_states.shape[0],), hidden_states.shape[1], dtype=torch.long,
                                     device=hidden_states.device)
            return hidden_states, lengths.long()
        if input_features is None:
            raise ValueError(f"{caller} needs input_features or speech_encoder_hidden_states")
        self._check_input_features(input_features, feature_attention_mask)
        pad = getattr(self.speech_adaptor, "pad_features", None)  # the Whisper read-out hears where speech ends
        if pad is not None:
            input_features, feature_attention_mask = pad(input_features, feature_attention_mask,
                                                         self.config.speech_encoder_config.max_source_positions * 2)
        encoder_output = self.speech_encoder(input_features, attention_mask=feature_attention_mask)
        return encoder_output.last_hidden_state, encoder_output.output_lengths

    def read_out_speech(
        self,
        input_features: torch.FloatTensor | None = None,
        feature_attention_mask: torch.LongTensor | None = None,
        *,
        speech_encoder_hidden_states: torch.FloatTensor | None = None,
        speech_encoder_lengths: torch.LongTensor | None = None,
    ) -> list[list[int]]:
        """
        The LLM token ids of what each clip says, for a read-out adaptor (`config.speech_adaptor_lexicon` or
        `config.speech_adaptor_whisper_readout`); the same inputs as `get_speech_features`.

        Raises:
            ValueError: the adaptor embeds the speech instead (no read-out).
        """
        if not getattr(self.speech_adaptor, "reads_out_tokens", False):
            raise ValueError("read_out_speech needs a read-out adaptor (config.speech_adaptor_lexicon or "
                             "speech_adaptor_whisper_readout); this model's adaptor gives embeddings: use "
                             "get_speech_features")
        hidden, frame_lengths = self._encoder_states(input_features, feature_attention_mask,
                                                     speech_encoder_hidden_states, speech_encoder_lengths,
                                                     "read_out_speech")
        return self.speech_adaptor.read_out(hidden, frame_lengths)

    def _read_out_embeddings(self, hidden_states: torch.Tensor,
                             frame_lengths: torch.Tensor) -> tuple[torch.FloatTensor, torch.LongTensor]:
        """The lexicon read-out as speech embeddings: the LLM's own embeddings of the tokens read out, right-padded."""
        ids = self.speech_adaptor.read_out(hidden_states, frame_lengths)
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long, device=hidden_states.device)
        padded = torch.zeros(len(ids), max([len(x) for x in ids] + [1]), dtype=torch.long, device=hidden_states.device)
        for i, row in enumerate(ids):
            padded[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return self.get_input_embeddings()(padded), lengths

    def _check_encoder_states(self, hidden_states: torch.Tensor, lengths: torch.Tensor | None) -> None:
        d_model = self.config.speech_encoder_config.d_model
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != d_model:
            raise ValueError(
                f"speech_encoder_hidden_states must have shape (num_clips, num_frames, {d_model}), got "
                f"{tuple(hidden_states.shape)}"
            )
        if lengths is not None and (lengths.dim() != 1 or lengths.shape[0] != hidden_states.shape[0]):
            raise ValueError(
                f"speech_encoder_lengths must have shape ({hidden_states.shape[0]},), got {tuple(lengths.shape)}"
            )

    def get_placeholder_mask(self, input_ids: torch.LongTensor) -> torch.BoolTensor:
        """Boolean mask of the speech placeholder positions in `input_ids`."""
        return input_ids == self.config.speech_token_id

    def embed_inputs(
        self,
        input_ids: torch.LongTensor,
        input_features: torch.FloatTensor | None = None,
        feature_attention_mask: torch.LongTensor | None = None,
        speech_encoder_hidden_states: torch.FloatTensor | None = None,
        speech_encoder_lengths: torch.LongTensor | None = None,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor | None]:
        """
        Embeds `input_ids` with the LLM's embedding table and puts the speech embeddings of `input_features` (or of
        precomputed `speech_encoder_hidden_states`, see `get_speech_features`), clip by clip, in order, at the speech
        placeholder positions.

        Raises:
            ValueError: if the number of placeholders differs from the number of speech embeddings, or speech
                placeholders come without `input_features` (or the reverse).
        """
        speech_mask = self.get_placeholder_mask(input_ids)
        num_placeholders = int(speech_mask.sum())
        # The placeholder id may lie outside the LLM's vocabulary: never look it up.
        inputs_embeds = self.get_input_embeddings()(input_ids.masked_fill(speech_mask, 0))
        if input_features is None and speech_encoder_hidden_states is None:
            if num_placeholders:
                raise ValueError(
                    f"input_ids contains {num_placeholders} speech placeholder tokens (id "
                    f"{self.config.speech_token_id}) but no input_features were given"
                )
            return inputs_embeds, None
        speech_embeddings, lengths = self.get_speech_features(
            input_features,
            feature_attention_mask,
            speech_encoder_hidden_states=speech_encoder_hidden_states,
            speech_encoder_lengths=speech_encoder_lengths,
        )
        flat = torch.cat([speech_embeddings[i, : int(n)] for i, n in enumerate(lengths)], dim=0)
        if num_placeholders != flat.shape[0]:
            raise ValueError(
                f"The prompt has {num_placeholders} speech placeholder tokens but the {len(lengths)} audio clip(s) "
                f"give {flat.shape[0]} speech embeddings ({lengths.tolist()} per clip). "
                + ("This model's adaptor reads the speech out as words (a read-out adaptor), so the count is "
                   "known only after reading: use generate() or stream(), which fit the placeholders, or "
                   "read_out_speech() and put that many placeholders." if getattr(
                       self.speech_adaptor, "reads_out_tokens", False) else
                   "Build the inputs with LlamaOmniProcessor, which expands one speech placeholder per clip to the "
                   "right count.")
            )
        inputs_embeds = inputs_embeds.masked_scatter(
            speech_mask.unsqueeze(-1).to(inputs_embeds.device), flat.to(inputs_embeds.device, inputs_embeds.dtype)
        )
        return inputs_embeds, flat

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        feature_attention_mask: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        speech_encoder_hidden_states: torch.FloatTensor | None = None,
        speech_encoder_lengths: torch.LongTensor | None = None,
        **kwargs,
    ) -> LlamaOmniModelOutputWithPast:
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                Token ids, with one speech placeholder token per speech embedding (see `LlamaOmniProcessor`).
            input_features (`torch.FloatTensor` of shape `(num_clips, num_mel_bins, num_frames)`, *optional*):
                Log-mel features of the clips, in the order of their placeholders in the batch.
            feature_attention_mask (`torch.LongTensor` of shape `(num_clips, num_frames)`, *optional*):
                1 for real mel frames, 0 for padding.
            speech_encoder_hidden_states (`torch.FloatTensor` of shape `(num_clips, num_encoder_frames, d_model)`,
                *optional*): precomputed speech encoder outputs, instead of `input_features` (the encoder is skipped,
                the adaptor runs); with `speech_encoder_lengths` `(num_clips,)`, the valid frames per clip.
            attention_mask, position_ids, past_key_values, inputs_embeds, use_cache:
                As for the LLM. `inputs_embeds` cannot be combined with `input_features`.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give exactly one of input_ids or inputs_embeds")
        speech_embeddings = None
        if inputs_embeds is None:
            inputs_embeds, speech_embeddings = self.embed_inputs(
                input_ids,
                input_features,
                feature_attention_mask,
                speech_encoder_hidden_states=speech_encoder_hidden_states,
                speech_encoder_lengths=speech_encoder_lengths,
            )
        elif input_features is not None or speech_encoder_hidden_states is not None:
            raise ValueError(
                "input_features need input_ids (to find the speech placeholders); with inputs_embeds, splice the "
                "speech embeddings yourself (see embed_inputs)"
            )
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return LlamaOmniModelOutputWithPast(
            last_hidden_state=outputs.last_hidden_state,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            speech_embeddings=speech_embeddings,
        )


class LlamaOmniForConditionalGeneration(LlamaOmniPreTrainedModel, GenerationMixin):
    """
    LLaMA-Omni: `LlamaOmniModel` + `lm_head` (text) + the speech decoder (speech units): LLaMA-Omni's CTC decoder
    (`speech_decoder_type="ctc"`) or LLaMA-Omni2's autoregressive TTS model (`"ar"`, `LlamaOmniARSpeechDecoder`).

    `generate()` is transformers' own and produces the text response. The speech decoder reads, for each text
    token y_i, the LLM hidden state that predicted it: h(last prompt token), h(y_1), ..., h(y_{n-1}) (the
    autoregressive decoder also reads the tokens y_i themselves). In training the speech loss reads those states, or
    the states at the tokens, h(y_1), ..., h(y_n), as the released LLaMA-Omni training code did: see
    `LlamaOmniConfig.speech_decoder_alignment`.
    """

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}
    # What `generate()` can answer with (read by `pipeline("any-to-any")`): text, and with `generation_mode="audio"`
    # the spoken answer (it needs a vocoder: the folder's `vocoder/`, or `vocoder=`).
    output_modalities = ("audio", "text")

    # Names accepted by `freeze` / `unfreeze`.
    COMPONENTS = ("speech_encoder", "speech_adaptor", "language_model", "speech_decoder")

    def __init__(self, config: LlamaOmniConfig):
        super().__init__(config)
        self.model = LlamaOmniModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        if config.speech_decoder_type == "ar":
            self.speech_decoder = LlamaOmniARSpeechDecoder(config)
        else:
            self.speech_decoder = LlamaOmniCTCSpeechDecoder(config)
        self.post_init()

    def get_expanded_tied_weights_keys(self, all_submodels: bool = False) -> dict:
        """transformers' tied-weight mapping, plus the TTS model's (its `lm_head` and embedding table, when its config
        ties them): the TTS model sits inside a plain module, where transformers does not look for it."""
        tied = super().get_expanded_tied_weights_keys(all_submodels=all_submodels)
        if self.config.speech_decoder_type == "ar":
            tts = self.speech_decoder.tts_model
            for target, source in tts.get_expanded_tied_weights_keys(all_submodels=False).items():
                tied[f"speech_decoder.tts_model.{target}"] = f"speech_decoder.tts_model.{source}"
        return tied

    @classmethod
    def from_components(
        cls,
        speech_encoder: PreTrainedModel | nn.Module | str | os.PathLike,
        language_model: PreTrainedModel | str | os.PathLike,
        *,
        speech_decoder_config: dict | PreTrainedConfig | None = None,
        speech_token_id: int | None = None,
        dtype: torch.dtype | None = None,
        tts_model: PreTrainedModel | str | os.PathLike | None = None,
        **config_kwargs,
    ) -> LlamaOmniForConditionalGeneration:
        r"""
        Assembles a new LLaMA-Omni model from a pretrained Whisper model and a pretrained causal LM (the way to start
        training from, say, `openai/whisper-large-v3` and the LLM of your choice). The speech encoder and the LLM
        (backbone and `lm_head`) take the given weights; the adaptor and the speech decoder are freshly initialised.

        Args:
            speech_encoder: a Whisper model (`WhisperForConditionalGeneration`, `WhisperModel` or a
                `WhisperEncoder`), or a folder / Hub id to load one from. Only its encoder is kept.
            language_model: a causal LM (`*ForCausalLM`: a backbone under `.model` and an `lm_head`), or a folder /
                Hub id to load one from with `AutoModelForCausalLM`.
            speech_decoder_config: the CTC speech decoder's Llama-layer config (dict or config); default: 2 layers of
                the LLM's hidden size, heads and FFN size, with the LLM's RoPE. Unused with
                `speech_decoder_type="ar"`.
            speech_token_id: id of the speech placeholder; default: the LLM's `vocab_size` (the first id after the
                vocabulary, what a tokenizer that gets `<speech>` added last assigns).
            dtype: dtype of the assembled model (default: the LLM's).
            tts_model: (`speech_decoder_type="ar"`) a causal LM (or a folder to load one from) whose config and
                weights the TTS language model takes (its vocabulary must hold the text tokens, the separator, the
                EOS and the speech tokens: see `LlamaOmniConfig`); default: a fresh one from `tts_config`.
            config_kwargs: any other `LlamaOmniConfig` field (`speech_downsample_rate`, `speech_adaptor_hidden_size`,
                `ctc_upsample_factor`, `unit_vocab_size`, `speech_decoder_type`, `tts_config`, ...).

        Raises:
            ValueError: the speech encoder is not a Whisper model, or the LLM has no backbone / `lm_head`, or a
                `tts_model` with a CTC speech decoder.
        """
        from transformers import AutoModelForCausalLM, WhisperConfig, WhisperModel

        if isinstance(speech_encoder, (str, os.PathLike)):
            speech_encoder = WhisperModel.from_pretrained(speech_encoder)
        if isinstance(language_model, (str, os.PathLike)):
            language_model = AutoModelForCausalLM.from_pretrained(language_model)
        encoder = speech_encoder.get_encoder() if hasattr(speech_encoder, "get_encoder") else speech_encoder
        if not isinstance(getattr(encoder, "config", None), WhisperConfig) or not hasattr(encoder, "conv1"):
            raise ValueError(
                "speech_encoder must be a Whisper model (WhisperForConditionalGeneration, WhisperModel or "
                f"WhisperEncoder), got {type(speech_encoder).__name__}"
            )
        backbone = getattr(language_model, getattr(language_model, "base_model_prefix", "") or "model", None)
        lm_head = language_model.get_output_embeddings() if hasattr(language_model, "get_output_embeddings") else None
        if backbone is None or lm_head is None:
            raise ValueError(
                "language_model must be a causal LM with a backbone and an lm_head (e.g. LlamaForCausalLM), got "
                f"{type(language_model).__name__}"
            )
        text_config = language_model.config
        autoregressive = config_kwargs.get("speech_decoder_type", "ctc") == "ar"
        if tts_model is not None:
            if not autoregressive:
                raise ValueError('tts_model needs speech_decoder_type="ar"')
            if isinstance(tts_model, (str, os.PathLike)):
                tts_model = AutoModelForCausalLM.from_pretrained(tts_model)
            config_kwargs["tts_config"] = tts_model.config.to_dict()
        if speech_decoder_config is None and not autoregressive:
            speech_decoder_config = {
                "model_type": "llama",
                "vocab_size": 1,
                "bos_token_id": None,
                "eos_token_id": None,
                "pad_token_id": None,
                "hidden_size": text_config.hidden_size,
                "intermediate_size": getattr(text_config, "intermediate_size", 4 * text_config.hidden_size),
                "num_hidden_layers": 2,
                "num_attention_heads": text_config.num_attention_heads,
                "num_key_value_heads": text_config.num_attention_heads,
                "max_position_embeddings": max(getattr(text_config, "max_position_embeddings", 8192), 8192) * 32,
                "rms_norm_eps": getattr(text_config, "rms_norm_eps", 1e-5),
            }
            rope = getattr(text_config, "rope_parameters", None)
            if rope:
                speech_decoder_config["rope_parameters"] = dict(rope)
        config = LlamaOmniConfig(
            speech_encoder_config=encoder.config.to_dict(),
            text_config=text_config.to_dict(),
            speech_decoder_config=(
                speech_decoder_config.to_dict() if hasattr(speech_decoder_config, "to_dict") else speech_decoder_config
            ),
            speech_token_id=text_config.vocab_size if speech_token_id is None else speech_token_id,
            **config_kwargs,
        )
        if dtype is None:
            dtype = next(language_model.parameters()).dtype
        # The pretrained parts are overwritten below: skip their (slow) random initialisation and initialise only
        # the new parts (adaptor, speech decoder).
        from transformers.initialization import no_init_weights

        with no_init_weights():
            model = cls(config)
        for new_part in (model.model.speech_adaptor, model.speech_decoder):
            for module in new_part.modules():
                model._init_weights(module)
        model.model.speech_encoder.load_state_dict(encoder.state_dict())
        model.model.language_model.load_state_dict(backbone.state_dict())
        if not config.tie_word_embeddings:
            model.lm_head.load_state_dict(lm_head.state_dict())
        else:
            model.tie_weights()
        if tts_model is not None:
            model.speech_decoder.tts_model.load_state_dict(tts_model.state_dict())
        if config.speech_decoder_type == "ar":  # the TTS model's own tied embeddings and head (built untied here)
            model.all_tied_weights_keys = model.get_expanded_tied_weights_keys(all_submodels=True)
            model.tie_weights()
        generation_config = getattr(language_model, "generation_config", None)
        if generation_config is not None:
            model.generation_config = copy.deepcopy(generation_config)
        return model.to(dtype=dtype).eval()

    def replace_speech_decoder(self, **config_kwargs) -> None:
        r"""
        Replaces the speech decoder by a freshly initialised one described by `config_kwargs` (any `LlamaOmniConfig`
        speech decoder fields, e.g. `speech_decoder_type="ar", tts_config={...}, tts_sep_token_id=...`), keeping the
        speech encoder, adaptor and LLM. Stage 1 does not train the speech decoder, so this is how a LLaMA-Omni2-style
        model starts stage 2 from stage 1's output. The new decoder takes the model's dtype and device.

        Raises:
            ValueError: an invalid configuration (see `LlamaOmniConfig`).
        """
        fields = self.config.to_dict()
        for key in ("transformers_version", "architectures", "auto_map", "_name_or_path"):
            fields.pop(key, None)
        new_type = config_kwargs.get("speech_decoder_type", self.config.speech_decoder_type)
        # The sub-config of the other decoder type does not carry over (the one in use is `None`, left out).
        fields.pop("tts_config" if new_type == "ctc" else "speech_decoder_config", None)
        if new_type == "ar":  # the autoregressive decoder always reads the token embeddings; the CTC options go
            fields.pop("speech_decoder_token_embeddings", None)
            fields.pop("speech_decoder_token_residuals", None)
            fields.pop("speech_decoder_token_phonemes", None)
        config = LlamaOmniConfig(**{**fields, **config_kwargs})
        config._attn_implementation = self.config._attn_implementation
        config.dtype = self.config.dtype
        decoder = LlamaOmniARSpeechDecoder(config) if new_type == "ar" else LlamaOmniCTCSpeechDecoder(config)
        self._init_plain_modules(decoder)
        parameter = next(self.parameters())
        self.config = config
        self.speech_decoder = decoder.to(device=parameter.device, dtype=parameter.dtype)
        self.all_tied_weights_keys = self.get_expanded_tied_weights_keys(all_submodels=True)
        self.tie_weights()

    @torch.no_grad()
    def _init_plain_modules(self, module: nn.Module) -> None:
        """`_init_weights` on `module` and its submodules, except the PreTrainedModels inside (they initialise
        themselves when built)."""
        for child in module.children():
            if not isinstance(child, PreTrainedModel):
                self._init_plain_modules(child)
        self._init_weights(module)

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.lm_head = new_embeddings

    # -- freezing ------------------------------------------------------------------------------------------------------

    def _component_modules(self, name: str) -> list[nn.Module]:
        modules = {
            "speech_encoder": [self.model.speech_encoder],
            "speech_adaptor": [self.model.speech_adaptor],
            "language_model": [self.model.language_model, self.lm_head],
            "speech_decoder": [self.speech_decoder],
        }
        if name not in modules:
            raise ValueError(f"Unknown component {name!r}; expected one of {self.COMPONENTS}")
        return modules[name]

    def set_trainable(self, *components: str, trainable: bool) -> None:
        """Sets `requires_grad` of every parameter of the named components (see `COMPONENTS`)."""
        for name in components:
            for module in self._component_modules(name):
                module.requires_grad_(trainable)

    def freeze(self, *components: str) -> None:
        """Freezes the named components, e.g. `model.freeze("speech_encoder", "language_model")`."""
        self.set_trainable(*components, trainable=False)

    def unfreeze(self, *components: str) -> None:
        """Makes the named components trainable again."""
        self.set_trainable(*components, trainable=True)

    def trainable_components(self) -> dict[str, bool]:
        """For each component, whether any of its parameters is trainable."""
        return {
            name: any(p.requires_grad for m in self._component_modules(name) for p in m.parameters())
            for name in self.COMPONENTS
        }

    # -- speech decoder ------------------------------------------------------------------------------------------------

    @staticmethod
    def response_positions(labels: torch.LongTensor, alignment: str = "predicting") -> torch.BoolTensor:
        """
        Which positions' hidden states the speech decoder reads in training, `(batch, seq_len)` bool.

        `alignment="predicting"`: the states that predicted the response tokens (positions p with
        `labels[p + 1] != -100`), what inference feeds the decoder; `"at_token"`: the states at the response tokens
        (positions p with `labels[p] != -100`), one later, what the released LLaMA-Omni training code used. See
        `LlamaOmniConfig.speech_decoder_alignment`.
        """
        if alignment == "predicting":
            positions = torch.zeros_like(labels, dtype=torch.bool)
            positions[:, :-1] = labels[:, 1:] != IGNORE_INDEX
            return positions
        if alignment == "at_token":
            return labels != IGNORE_INDEX
        raise ValueError(f"alignment must be 'predicting' or 'at_token', got {alignment!r}")

    @classmethod
    def response_states(
        cls, last_hidden_state: torch.FloatTensor, labels: torch.LongTensor, alignment: str = "predicting"
    ) -> tuple[torch.FloatTensor, torch.LongTensor]:
        """
        For each sample, the hidden states the speech decoder reads for its response tokens (see
        `response_positions` for `alignment`), right-padded: `(batch, max_response_len, H)` and their lengths.
        """
        positions = cls.response_positions(labels, alignment)
        states = [last_hidden_state[i][positions[i]] for i in range(labels.shape[0])]
        lengths = torch.tensor([s.shape[0] for s in states], device=last_hidden_state.device)
        padded = nn.utils.rnn.pad_sequence(states, batch_first=True)
        return padded, lengths

    @staticmethod
    def response_tokens(labels: torch.LongTensor, alignment: str = "predicting") -> torch.LongTensor:
        """For each sample, its response tokens (the labels that are not -100; with `"predicting"` the first
        position is skipped, as it has no predicting state), right-padded with 0: the tokens paired with the states
        of `response_states` under the same `alignment`, in the same order."""
        if alignment not in ("predicting", "at_token"):
            raise ValueError(f"alignment must be 'predicting' or 'at_token', got {alignment!r}")
        targets = labels[:, 1:] if alignment == "predicting" else labels
        tokens = [targets[i][targets[i] != IGNORE_INDEX] for i in range(labels.shape[0])]
        return nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=0)

    def num_speech_targets(self, unit_labels: torch.LongTensor) -> torch.LongTensor:
        """What `speech_loss` is normalised by for a batch with `unit_labels` (padded with -100): the number of target
        units for CTC, the number of target speech tokens and EOS for the autoregressive decoder."""
        if self.config.speech_decoder_type == "ar":
            return self.speech_decoder.num_targets(unit_labels)
        return (unit_labels >= 0).sum()

    def _speech_loss(
        self,
        states: torch.FloatTensor,
        lengths: torch.LongTensor,
        unit_labels: torch.LongTensor,
        token_ids: torch.LongTensor | None,
    ) -> tuple[torch.FloatTensor, torch.FloatTensor, torch.FloatTensor | None]:
        """`(weighted speech loss, speech loss, logits)` of the speech decoder on the response states."""
        if self.config.speech_decoder_type == "ar":
            if token_ids is None:
                raise ValueError("The autoregressive speech decoder needs the response tokens with their states")
            output = self.speech_decoder(states, token_ids.to(states.device), lengths, unit_labels.to(states.device))
            return self.config.tts_loss_weight * output.loss, output.loss, output.logits
        states = states.to(self.speech_decoder.input_proj.weight.dtype)
        state_mask = (torch.arange(states.shape[1], device=states.device)[None, :] < lengths[:, None]).long()
        ctc_logits = self.speech_decoder(states, state_mask, **self._decoder_token_inputs(token_ids, states))
        ctc_loss = self.speech_decoder.ctc_loss(
            ctc_logits, lengths * self.config.ctc_upsample_factor, unit_labels.to(ctc_logits.device)
        )
        return self.config.ctc_loss_weight * ctc_loss, ctc_loss, ctc_logits

    def _decoder_token_inputs(self, token_ids: torch.LongTensor | None, states: torch.FloatTensor) -> dict:
        """The token inputs of a CTC decoder that reads them (`token_embeds`: the LLM input embeddings of `token_ids`,
        shaped like `states[..., 0]`, and `token_ids`), `{}` for one that reads the states only."""
        if not getattr(self.speech_decoder, "uses_token_embeddings", False):
            return {}
        if token_ids is None:
            raise ValueError(
                "This speech decoder reads the embeddings of the tokens the states predicted: pass the response "
                "tokens (token_ids) with the states"
            )
        token_ids = token_ids.reshape(states.shape[:2]).to(self.get_input_embeddings().weight.device)
        embeds = self.get_input_embeddings()(token_ids).to(device=states.device, dtype=states.dtype)
        return {"token_embeds": embeds, "token_ids": token_ids.to(states.device)}

    def load_vocoder(self, path: str | os.PathLike | None = None, **kwargs) -> nn.Module:
        """
        Loads the model that turns speech units into audio (default: the `vocoder/` subfolder of the folder this model
        was loaded from): a [`UnitVocoder`], a [`LlamaOmniVitsVocoder`] (a whole VITS voice speaking phoneme-id
        units), or for LLaMA-Omni2 a [`LlamaOmni2Token2Wav`] (CosyVoice2 flow + HiFT), chosen by the folder's
        `model_type`; puts it on the model's device in eval mode, and keeps it as the default
        vocoder of `stream()` and `generate(return_audio=True)`.

        Raises:
            FileNotFoundError: if there is no such folder.
            ValueError: if the folder holds another kind of model.
        """
        import json

        if path is None:
            path = os.path.join(self.name_or_path or "", VOCODER_SUBFOLDER)
        config_path = os.path.join(path, "config.json")
        if not os.path.isfile(config_path):
            raise FileNotFoundError(
                f"No unit vocoder at {path!r}: pass vocoder=UnitVocoder.from_pretrained(...) or save one in the "
                f"model folder's {VOCODER_SUBFOLDER!r} subfolder"
            )
        with open(config_path, encoding="utf-8") as f:
            model_type = json.load(f).get("model_type")
        if model_type == "llama_omni2_token2wav":
            from .modeling_token2wav import LlamaOmni2Token2Wav

            vocoder_class = LlamaOmni2Token2Wav
        elif model_type == "llama_omni_vits_vocoder":
            from .modeling_vits_vocoder import LlamaOmniVitsVocoder

            vocoder_class = LlamaOmniVitsVocoder
        elif model_type == "llama_omni_unit_vocoder":
            vocoder_class = UnitVocoder
        else:
            raise ValueError(
                f"{path!r} holds a {model_type!r} model, not a unit vocoder ('llama_omni_unit_vocoder', "
                "'llama_omni_vits_vocoder') or a token-to-waveform model ('llama_omni2_token2wav')"
            )
        vocoder = vocoder_class.from_pretrained(path, **kwargs).to(self.device).eval()
        self._vocoder_holder = [vocoder]  # a list, so that the vocoder is not registered as a submodule
        return vocoder

    def default_vocoder(self) -> nn.Module | None:
        """The vocoder given to `load_vocoder`, else the `vocoder/` subfolder's if there is one, else `None`."""
        holder = getattr(self, "_vocoder_holder", None)
        if holder:
            return holder[0]
        if self.name_or_path and os.path.isfile(os.path.join(self.name_or_path, VOCODER_SUBFOLDER, "config.json")):
            return self.load_vocoder()
        return None

    def speech_unit_stream(self, batch_size: int = 1, **decoding_kwargs) -> CTCUnitStream | ARUnitStream:
        """
        A fresh incremental speech-unit decoder over this model's speech decoder: a `CTCUnitStream`, or an
        `ARUnitStream` for the autoregressive decoder (`decoding_kwargs`: `read_size`, `write_size`, `do_sample`,
        `temperature`, `top_k`, `top_p`, `max_new_tokens`, `restrict_to_speech_tokens`, `rng`, `seed`, `generator`;
        defaults from the config). Both
        have `step(hidden_states, token_ids)` and `finish()`.

        Raises:
            ValueError: decoding settings for the CTC decoder (it has none), or unknown settings.
        """
        if self.config.speech_decoder_type == "ar":
            return self.speech_decoder.unit_stream(batch_size=batch_size, **decoding_kwargs)
        if decoding_kwargs:
            raise ValueError(f"The CTC speech decoder takes no decoding settings, got {sorted(decoding_kwargs)}")
        return CTCUnitStream(self.speech_decoder, batch_size=batch_size, embed_tokens=self.get_input_embeddings())

    @torch.no_grad()
    def predict_units(
        self,
        hidden_states: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        token_ids: torch.LongTensor | None = None,
        **decoding_kwargs,
    ) -> list[torch.LongTensor]:
        r"""
        Speech units of whole answers from LLM hidden states: one-shot greedy CTC decoding, or, for the
        autoregressive decoder, the Read-Write decoding of `speech_unit_stream` run over each answer (the units that
        streaming gives).

        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, num_states, hidden_size)` or
                `(num_states, hidden_size)`): the hidden states that predicted each response token, right-padded.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_states)`, *optional*): 1 for real states.
            token_ids (`torch.LongTensor` of shape `(batch_size, num_states)` or `(num_states,)`, *optional*): the
                response tokens (required by the autoregressive decoder and by a CTC decoder that reads token
                embeddings, else unused).
            decoding_kwargs: decoding settings of the autoregressive decoder (see `speech_unit_stream`).

        Returns:
            One `LongTensor` of units (CTC: blanks dropped, repeats merged) per sample.
        """
        if hidden_states.dim() == 2:
            hidden_states = hidden_states.unsqueeze(0)
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != self.config.text_config.hidden_size:
            raise ValueError(
                "hidden_states must have shape (batch, num_states, "
                f"{self.config.text_config.hidden_size}), got {tuple(hidden_states.shape)}"
            )
        if attention_mask is None:
            attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.long, device=hidden_states.device)
        if self.config.speech_decoder_type == "ar":
            if token_ids is None:
                raise ValueError("The autoregressive speech decoder needs the response tokens (token_ids)")
            token_ids = token_ids.reshape(hidden_states.shape[:2])
            units = []
            for i, n in enumerate(attention_mask.long().sum(-1).tolist()):
                stream = self.speech_unit_stream(**decoding_kwargs)
                written = stream.step(hidden_states[i : i + 1, : int(n)], token_ids[i : i + 1, : int(n)])[0]
                units.append(torch.tensor(written + stream.finish()[0], dtype=torch.long))
            return units
        if decoding_kwargs:
            raise ValueError(f"The CTC speech decoder takes no decoding settings, got {sorted(decoding_kwargs)}")
        dtype = self.speech_decoder.input_proj.weight.dtype
        logits = self.speech_decoder(
            hidden_states.to(dtype), attention_mask, **self._decoder_token_inputs(token_ids, hidden_states)
        )
        frame_ids = logits.argmax(-1)
        frame_lengths = attention_mask.long().sum(-1) * self.config.ctc_upsample_factor
        return [
            torch.tensor(
                ctc_greedy_collapse(frame_ids[i, : int(n)].tolist(), self.config.ctc_blank_id),
                dtype=torch.long,
            )
            for i, n in enumerate(frame_lengths)
        ]

    # -- forward / generate --------------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        input_features: torch.FloatTensor | None = None,
        feature_attention_mask: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        unit_labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        speech_state_callback: Callable[[torch.Tensor], None] | None = None,
        response_hidden_states: torch.FloatTensor | None = None,
        response_lengths: torch.LongTensor | None = None,
        response_token_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> LlamaOmniCausalLMOutputWithPast:
        r"""
        Args:
            input_ids, input_features, feature_attention_mask, attention_mask, position_ids, past_key_values,
            inputs_embeds, use_cache: see `LlamaOmniModel.forward` (which also takes precomputed
            `speech_encoder_hidden_states` / `speech_encoder_lengths` instead of `input_features`, through `kwargs`).
            labels (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*):
                Text labels (`-100` outside the response), not shifted: the loss predicts `labels[:, 1:]`.
            unit_labels (`torch.LongTensor` of shape `(batch_size, max_units)`, *optional*):
                Speech units of each sample's spoken response, padded with `-100`. Needs `labels` (they say which
                positions are the response). The speech decoder reads, per `config.speech_decoder_alignment`, the
                hidden states that predicted the response tokens (`"predicting"`, the same states it reads when
                streaming) or those at the response tokens (`"at_token"`, the released LLaMA-Omni training).
            logits_to_keep (`int` or `torch.Tensor`, *optional*):
                Compute text logits only for the last `logits_to_keep` positions (0 = all).
            speech_state_callback (`Callable`, *optional*):
                Called with the last position's hidden state, `(batch_size, hidden_size)`: during generation, the
                state that predicts the next token. `generate()` sets it for an `AudioStreamer` or `return_audio`.
            response_hidden_states (`torch.FloatTensor` of shape `(batch_size, max_response_len, hidden_size)`,
                *optional*): precomputed response states (`response_states` with the config's alignment,
                right-padded), with
                `response_lengths` and `unit_labels`: only the speech decoder runs and only the speech loss is
                returned (stage-2 training from cached LLM states; everything before the decoder is frozen then).
            response_lengths (`torch.LongTensor` of shape `(batch_size,)`, *optional*): valid states per sample.
            response_token_ids (`torch.LongTensor` of shape `(batch_size, max_response_len)`, *optional*): the
                response tokens those states predicted (right-padded); the autoregressive speech decoder needs them.
        """
        if response_hidden_states is not None:
            if unit_labels is None or response_lengths is None:
                raise ValueError("response_hidden_states need response_lengths and unit_labels")
            lengths = response_lengths.to(response_hidden_states.device)
            weighted, speech_loss, speech_logits = self._speech_loss(
                response_hidden_states, lengths, unit_labels, response_token_ids
            )
            if self.config.speech_decoder_type == "ar":
                return LlamaOmniCausalLMOutputWithPast(
                    loss=weighted, speech_loss=speech_loss, speech_logits=speech_logits
                )
            return LlamaOmniCausalLMOutputWithPast(
                loss=weighted, ctc_loss=speech_loss, ctc_logits=speech_logits, speech_loss=speech_loss
            )
        if unit_labels is not None and labels is None:
            raise ValueError("unit_labels need labels: the labels mark the response tokens the speech decoder reads")
        outputs = self.model(
            input_ids=input_ids,
            input_features=input_features,
            feature_attention_mask=feature_attention_mask,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        if speech_state_callback is not None:
            speech_state_callback(hidden_states[:, -1])
        if isinstance(logits_to_keep, int):
            kept = hidden_states[:, -logits_to_keep:, :] if logits_to_keep > 0 else hidden_states
        else:
            kept = hidden_states[:, logits_to_keep, :]
        logits = self.lm_head(kept)

        text_loss = ctc_loss = ctc_logits = speech_loss = speech_logits = weighted = None
        if labels is not None:
            text_loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size)
        if unit_labels is not None:
            alignment = self.config.speech_decoder_alignment
            states, lengths = self.response_states(hidden_states, labels, alignment)
            if bool(((unit_labels >= 0).any(-1) & (lengths == 0)).any()):
                raise ValueError("A sample has unit_labels but no response tokens in labels")
            needs_tokens = self.config.speech_decoder_type == "ar" or self.config.speech_decoder_token_embeddings
            tokens = self.response_tokens(labels, alignment) if needs_tokens else None
            weighted, speech_loss, speech_logits = self._speech_loss(states, lengths, unit_labels, tokens)
            if self.config.speech_decoder_type == "ctc":
                ctc_loss, ctc_logits, speech_logits = speech_loss, speech_logits, None
        loss = None
        if text_loss is not None:
            loss = text_loss
        if weighted is not None:
            loss = weighted if loss is None else loss + weighted

        return LlamaOmniCausalLMOutputWithPast(
            loss=loss,
            text_loss=text_loss,
            ctc_loss=ctc_loss,
            logits=logits,
            ctc_logits=ctc_logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            last_hidden_state=hidden_states,
            speech_loss=speech_loss,
            speech_logits=speech_logits,
        )

    def generate(
        self,
        inputs: torch.Tensor | None = None,
        *args,
        streamer=None,
        return_audio: bool = False,
        vocoder: nn.Module | None = None,
        speech_decoder_kwargs: dict | None = None,
        generation_mode: str | None = None,
        **kwargs,
    ):
        r"""
        transformers' `GenerationMixin.generate` (every argument works as there), plus speech:

        - with `streamer=AudioStreamer(...)`, the model hands the streamer the hidden state of every step, and the
          streamer yields text and audio while the answer is generated (see also `stream()`);
        - with `return_audio=True`, returns a `LlamaOmniGenerateOutput` with `sequences`, the answer's speech
          `units` (per sample, up to its first EOS) and, with a `vocoder`, its `waveforms`;
          `speech_decoder_kwargs` are the autoregressive speech decoder's decoding settings (`read_size`,
          `write_size`, `do_sample`, ...; see `speech_unit_stream`). When its speech tokens are sampled from torch's
          global generator (`config.tts_rng="global"`, converted LLaMA-Omni2 checkpoints), they are drawn while the
          text is generated, at the released points (a chunk right after its R-th text token), so that a seeded run
          gives the released text and speech;
        - with `config.penalties_see_prompt=False` (converted checkpoints), `repetition_penalty`,
          `no_repeat_ngram_size`, `sequence_bias` and `bad_words_ids` apply to the generated ids only (the released
          generate() starts from `inputs_embeds`), through a `GeneratedIdsOnlyLogitsProcessor`;
        - `generation_mode` is what `pipeline("any-to-any")` passes: `None` or `"text"` change nothing, `"audio"` is
          `return_audio=True` with a vocoder required (`vocoder`, else `default_vocoder()`), so that the waveforms
          are there (the pipeline's processor turns them into `generated_audio`).

        Raises:
            ValueError: `return_audio=True` with beam search or assisted generation (the per-step hidden states
                would not follow the kept beams); `generation_mode="audio"` without any vocoder; an unknown
                `generation_mode`.
        """
        if generation_mode not in (None, "text", "audio"):
            raise ValueError(f"generation_mode must be None, 'text' or 'audio', got {generation_mode!r}")
        if generation_mode == "audio":
            vocoder = vocoder if vocoder is not None else self.default_vocoder()
            if vocoder is None:
                raise ValueError(
                    f"generation_mode='audio' needs a vocoder, and this model has none: no {VOCODER_SUBFOLDER!r} "
                    f"subfolder in {self.name_or_path!r}. Pass vocoder=... (through the pipeline: "
                    "generate_kwargs={'vocoder': ...}), call model.load_vocoder(path), or ask for text only"
                )
            return_audio = True
        caller_prompt = None  # the lexicon read-out replaces the prompt; the output shows the caller's again
        if getattr(self.model.speech_adaptor, "reads_out_tokens", False):
            caller_prompt = inputs if inputs is not None else kwargs.get("input_ids")
            inputs, spliced = self._fit_read_out_prompt(inputs, kwargs)
            caller_prompt = caller_prompt if spliced else None
        callbacks = []
        if streamer is not None and hasattr(streamer, "on_speech_state"):
            callbacks.append(streamer.on_speech_state)
        states: list[torch.Tensor] = []
        if return_audio:
            generation_config = kwargs.get("generation_config") or self.generation_config
            num_beams = kwargs.get("num_beams") or generation_config.num_beams or 1
            if num_beams > 1 or kwargs.get("assistant_model") is not None:
                raise ValueError("return_audio=True supports greedy decoding and sampling, not beam search")
            callbacks.append(lambda state: states.append(state.detach()))
        processors = LogitsProcessorList(kwargs.pop("logits_processor", None) or [])
        if 0 <= self.config.speech_token_id < self.config.text_config.vocab_size:
            # The speech placeholder is an input-only token: never generate it.
            processors.append(SuppressTokensLogitsProcessor([self.config.speech_token_id], device=self.device))
        if not getattr(self.config, "penalties_see_prompt", True):
            processors.extend(self._generated_ids_only_processors(kwargs))
        interleaved = None
        prompt = inputs if inputs is not None else kwargs.get("input_ids", kwargs.get("inputs_embeds"))
        one_answer = (prompt is None or prompt.shape[0] == 1) and (kwargs.get("num_return_sequences") or 1) == 1
        # (A batch keeps the speech after the text: the release decodes one answer at a time.)
        if return_audio and one_answer and self._tts_draws_from_global_rng(speech_decoder_kwargs):
            if streamer is not None and hasattr(streamer, "unit_stream"):
                interleaved = streamer  # an AudioStreamer already decodes the units as the text comes
            else:
                # The speech tokens are drawn while the text is generated, at the released points (see tts_rng).
                interleaved = InterleavedUnits(self.speech_unit_stream(**(speech_decoder_kwargs or {})))
                processors.append(interleaved)
                callbacks.append(interleaved.on_speech_state)
        if callbacks:
            kwargs["speech_state_callback"] = callbacks[0] if len(callbacks) == 1 else _chain(callbacks)
        if processors:
            kwargs["logits_processor"] = processors
        output = super().generate(inputs, *args, streamer=streamer, **kwargs)
        if caller_prompt is not None:  # sequences = the caller's prompt + the new tokens, as with any model
            width = (inputs if inputs is not None else kwargs["input_ids"]).shape[1]
            if isinstance(output, torch.Tensor):
                output = torch.cat([caller_prompt.to(output.device), output[:, width:]], dim=1)
            else:
                output.sequences = torch.cat([caller_prompt.to(output.sequences.device),
                                              output.sequences[:, width:]], dim=1)
        if not return_audio:
            return output

        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        num_new = len(states)
        answers = sequences[:, sequences.shape[1] - num_new :]
        lengths = torch.full((sequences.shape[0],), num_new, dtype=torch.long)
        # Each answer ends at its first EOS: the call's eos_token_id when given (None: no EOS), else the config's.
        if "eos_token_id" in kwargs:
            eos = kwargs["eos_token_id"]
        else:
            eos = (kwargs.get("generation_config") or self.generation_config).eos_token_id
        eos_ids = torch.as_tensor([] if eos is None else eos, dtype=torch.long).reshape(-1).cpu()
        if num_new and eos_ids.numel():
            is_eos = torch.isin(answers.cpu(), eos_ids)
            has_eos = is_eos.any(-1)
            lengths = torch.where(has_eos, is_eos.float().argmax(-1) + 1, lengths)
        if interleaved is not None:
            if isinstance(interleaved, InterleavedUnits):
                interleaved.finish(answers[:, : int(lengths[0])])
            units = [torch.tensor(interleaved.units, dtype=torch.long)]
        elif num_new:
            hidden = torch.stack(states, dim=1)
            mask = (torch.arange(num_new)[None, :] < lengths[:, None]).long().to(hidden.device)
            units = self.predict_units(hidden, mask, token_ids=answers, **(speech_decoder_kwargs or {}))
        else:
            units = [torch.zeros(0, dtype=torch.long) for _ in range(sequences.shape[0])]
        waveforms = sampling_rate = None
        vocoder = vocoder if vocoder is not None else self.default_vocoder()
        if vocoder is not None:
            waveforms = [vocoder_units(vocoder, u) for u in units]
            sampling_rate = int(vocoder.config.sampling_rate)
        return LlamaOmniGenerateOutput(
            sequences=sequences, units=units, waveforms=waveforms, sampling_rate=sampling_rate
        )

    def _tts_draws_from_global_rng(self, speech_decoder_kwargs: dict | None) -> bool:
        """Whether the autoregressive speech decoder samples from torch's global generator for these settings."""
        if self.config.speech_decoder_type != "ar":
            return False
        return ARUnitStream.uses_global_rng(self.config, **(speech_decoder_kwargs or {}))

    def _generated_ids_only_processors(self, kwargs: dict) -> list[LogitsProcessor]:
        """
        For `penalties_see_prompt=False`: takes this call's `repetition_penalty`, `no_repeat_ngram_size`,
        `sequence_bias` and `bad_words_ids` (from `kwargs`, else the call's `generation_config`, else the model's)
        out of transformers' hands and returns one processor that applies them, in transformers' order, to the
        generated ids only. They are turned off in the call's `kwargs`, or, when the call passes a `generation_config`,
        in a copy of it that replaces it (transformers deprecates generation arguments next to a `generation_config`,
        with a warning on every such call).
        """
        configs = [c for c in (kwargs.get("generation_config"), self.generation_config) if c is not None]

        def setting(name: str):
            if name in kwargs:
                return kwargs[name]
            return next((getattr(c, name) for c in configs if getattr(c, name, None) is not None), None)

        values = {name: setting(name) for name in
                  ("sequence_bias", "repetition_penalty", "no_repeat_ngram_size", "bad_words_ids")}
        inner: list[LogitsProcessor] = []
        if values["sequence_bias"] is not None:
            inner.append(SequenceBiasLogitsProcessor(sequence_bias=values["sequence_bias"]))
        if values["repetition_penalty"] is not None and values["repetition_penalty"] != 1.0:
            inner.append(RepetitionPenaltyLogitsProcessor(penalty=values["repetition_penalty"]))
        if values["no_repeat_ngram_size"] is not None and values["no_repeat_ngram_size"] > 0:
            inner.append(NoRepeatNGramLogitsProcessor(values["no_repeat_ngram_size"]))
        if values["bad_words_ids"] is not None:
            eos = setting("eos_token_id")
            inner.append(NoBadWordsLogitsProcessor(values["bad_words_ids"], eos_token_id=eos))
        if inner:
            off = {"sequence_bias": None, "bad_words_ids": None, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0}
            call_config = kwargs.get("generation_config")
            if call_config is None:
                kwargs.update(off)
            else:
                call_config = copy.deepcopy(call_config)
                call_config.update(**off)
                kwargs["generation_config"] = call_config
                for name in off:  # taken into `inner` above
                    kwargs.pop(name, None)
                # generate() fills a given config's None values from the model's generation_config: where that one
                # sets a sequence bias or bad words, only an argument can turn them off.
                kwargs.update({name: None for name in ("sequence_bias", "bad_words_ids")
                               if getattr(self.generation_config, name, None) is not None})
        return [GeneratedIdsOnlyLogitsProcessor(inner)] if inner else []

    def _fit_read_out_prompt(self, inputs: torch.Tensor | None, kwargs: dict) -> tuple[torch.Tensor | None, bool]:
        """
        For a lexicon read-out adaptor (`config.speech_adaptor_lexicon`): reads out each clip of the speech inputs in
        `kwargs` (removed from it) and puts its token ids in place of the clip's run of speech placeholders, so that
        the LLM reads the question as text. The rows are left-padded to one length (`attention_mask` 0 there).
        Returns the new `inputs` (or sets `kwargs["input_ids"]`, where the ids came from) and whether there was speech
        to read out. (`generate()` then shows the caller's prompt in its output again.)
        """
        names = ("input_features", "feature_attention_mask", "speech_encoder_hidden_states", "speech_encoder_lengths")
        speech = {name: kwargs.pop(name) for name in names if name in kwargs}
        speech = {name: value for name, value in speech.items() if value is not None}
        if "input_features" not in speech and "speech_encoder_hidden_states" not in speech:
            return inputs, False
        input_ids = inputs if inputs is not None else kwargs.get("input_ids")
        if input_ids is None or input_ids.dim() != 2:
            raise ValueError("speech inputs need input_ids of shape (batch_size, sequence_length) with the speech "
                             "placeholders (see LlamaOmniProcessor)")
        read = self.model.read_out_speech(**speech)
        attention_mask = kwargs.get("attention_mask")
        placeholder = self.config.speech_token_id
        rows, clip = [], 0
        for r in range(input_ids.shape[0]):
            ids = input_ids[r] if attention_mask is None else input_ids[r][attention_mask[r].bool()]
            row, in_run = [], False
            for token in ids.tolist():
                if token != placeholder:
                    row.append(token)
                    in_run = False
                    continue
                if not in_run:
                    if clip >= len(read):
                        raise ValueError(f"the prompt has more runs of speech placeholders than the {len(read)} "
                                         "clip(s) given")
                    row.extend(read[clip])
                    clip += 1
                in_run = True
            rows.append(row)
        if clip != len(read):
            raise ValueError(f"the prompt has {clip} run(s) of speech placeholders but {len(read)} clip(s) were given")
        pad = self.generation_config.pad_token_id
        pad = pad if isinstance(pad, int) else (self.config.text_config.pad_token_id or 0)
        width = max(len(row) for row in rows)
        new_ids = torch.full((len(rows), width), pad, dtype=input_ids.dtype, device=input_ids.device)
        new_mask = torch.zeros((len(rows), width), dtype=torch.long, device=input_ids.device)
        for r, row in enumerate(rows):
            if row:
                new_ids[r, width - len(row):] = torch.tensor(row, dtype=input_ids.dtype)
                new_mask[r, width - len(row):] = 1
        kwargs["attention_mask"] = new_mask
        if inputs is not None:
            return new_ids, True
        kwargs["input_ids"] = new_ids
        return None, True

    def stream(
        self,
        tokenizer,
        vocoder: nn.Module | None = None,
        chunk_size: int | float | None = 10,
        timeout: float | None = 300.0,
        vocoder_stream_kwargs: dict | None = None,
        speech_decoder_kwargs: dict | None = None,
        cancel: "threading.Event | None" = None,
        **generate_kwargs,
    ) -> Iterator[tuple[str, "np.ndarray"]]:
        r"""
        Generates in a background thread and yields `(text_delta, audio_chunk)` pairs as they come:
        `for text, audio in model.stream(processor, vocoder=vocoder, chunk_size=10, **inputs): ...`

        Args:
            tokenizer: the processor or tokenizer (for the text deltas).
            vocoder (`UnitVocoder`, *optional*): defaults to `default_vocoder()` (the model folder's `vocoder/`);
                without any, audio chunks are empty and only units are decoded.
            chunk_size (`int`, *optional*, defaults to 10): Omega, units per vocoded chunk (`None` = all at the end).
            timeout (`float`, *optional*): seconds to wait for each item before `TimeoutError`.
            vocoder_stream_kwargs (`dict`, *optional*): passed to `vocoder.stream(...)`.
            speech_decoder_kwargs (`dict`, *optional*): decoding settings of the autoregressive speech decoder
                (`read_size` R, `write_size` W, `do_sample`, `temperature`, ...; see `speech_unit_stream`).
            cancel (`threading.Event`, *optional*): set it (from any thread) to stop the answer at once: generation
                stops at its next step, nothing more is vocoded, and the iteration ends (barge-in, a stop button).
            generate_kwargs: the model inputs (from the processor) and `generate()` arguments.

        An exception inside generate() is raised here; breaking out of the loop (or closing the generator) stops
        generation at its next step and ends the thread.
        """
        return stream_generate(
            self,
            tokenizer,
            vocoder=vocoder if vocoder is not None else self.default_vocoder(),
            chunk_size=chunk_size,
            timeout=timeout,
            vocoder_stream_kwargs=vocoder_stream_kwargs,
            speech_decoder_kwargs=speech_decoder_kwargs,
            cancel=cancel,
            **generate_kwargs,
        )

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool = False, **kwargs):
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        # The speech is encoded once, in the prefill; later steps read it from the cache.
        if not is_first_iteration and kwargs.get("use_cache", True):
            for name in (
                "input_features",
                "feature_attention_mask",
                "speech_encoder_hidden_states",
                "speech_encoder_lengths",
            ):
                model_inputs.pop(name, None)
        return model_inputs


class GeneratedIdsOnlyLogitsProcessor(LogitsProcessor):
    """
    Runs `processors` on the ids generated so far, without the prompt: the prompt is what the first call sees
    (a generate() call hands its processors the prompt first, then one more id per step). What the released code's
    generate() from `inputs_embeds` gives its repetition penalty, n-gram blocking, bad words and sequence biases.
    """

    def __init__(self, processors: list[LogitsProcessor]):
        self.processors = list(processors)
        self.prompt_length: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        generated = input_ids[:, self.prompt_length :]
        for processor in self.processors:
            scores = processor(generated, scores)
        return scores


def _chain(callbacks: list[Callable[[torch.Tensor], None]]) -> Callable[[torch.Tensor], None]:
    def call_all(state: torch.Tensor) -> None:
        for callback in callbacks:
            callback(state)

    return call_all


@torch.no_grad()
def vocoder_units(vocoder: nn.Module, units: torch.LongTensor) -> torch.FloatTensor:
    """One-shot vocoding of one unit sequence `(num_units,)` -> waveform `(num_samples,)` (empty for no units)."""
    if units.numel() == 0:
        return torch.zeros(0)
    device = next(vocoder.parameters()).device
    return vocoder(units.unsqueeze(0).to(device)).waveform[0].float().cpu()


__all__ = [
    "LlamaOmniPreTrainedModel",
    "LlamaOmniModel",
    "LlamaOmniForConditionalGeneration",
    "GeneratedIdsOnlyLogitsProcessor",
    "LlamaOmniSpeechEncoder",
    "LlamaOmniPhoneticAdaptor",
    "LlamaOmniSpeechAdaptor",
    "LlamaOmniCTCSpeechDecoder",
    "LlamaOmniTokenResiduals",
    "CTCUnitStream",
    "LlamaOmniARSpeechDecoder",
    "ARUnitStream",
    "LlamaOmniGenerateOutput",
    "ctc_greedy_collapse",
    "vocoder_units",
    "write_remote_code",
]
