# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni2's autoregressive streaming speech decoder (arXiv 2505.02625), `speech_decoder_type="ar"`.

    LLM hidden state h_i (the one that predicted text token y_i) ----> input_proj (H -> 2H -> ReLU -> D) = p_i
    text token y_i ----> TTS embedding table E_tts ----------------------------------------------------> e_i
    gate g_i = sigmoid(Linear([p_i ; e_i]))          fused state f_i = g_i * p_i + (1 - g_i) * e_i
    TTS causal LM over   f_1 f_2 f_3  s_1 ... s_W  f_4 f_5 f_6  s_W+1 ... s_2W  ...  f_n <sep>  s_... <eos>

Read-R-Write-W: after every R text tokens (read) the TTS language model writes W speech tokens; after the last text
token it reads the separator and writes until its EOS. The TTS model's KV cache is kept across chunks, so each chunk
costs the same whatever its position (the original re-prefills the whole TTS history at every chunk). Teacher-forced
training builds exactly the sequence that streaming produces (`read_write_layout`), so training and inference agree.

Speech tokens are TTS vocabulary ids `tts_speech_token_offset + u` for speech units `u` in `[0, unit_vocab_size)`:
the same kind of discrete units a unit vocoder voices.

This file imports only torch, transformers and its sibling `configuration_llama_omni.py`, so that it can be copied
into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformers import AutoModelForCausalLM
from transformers.cache_utils import DynamicCache
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper
from transformers.modeling_outputs import ModelOutput

from .configuration_llama_omni import LlamaOmniConfig

IGNORE_INDEX = -100
TEXT, SPEECH = "text", "speech"


@dataclass
class ARSpeechDecoderOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`):
        Cross-entropy of the speech tokens (and the final EOS) of the Read-Write sequences, summed and divided by the
        number of targets.
    logits (`torch.FloatTensor` of shape `(num_targets, tts_vocab_size)`):
        The TTS model's logits at the positions that predict a target, in order (sample by sample).
    labels (`torch.LongTensor` of shape `(num_targets,)`):
        The TTS ids those logits predict.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    labels: torch.LongTensor | None = None


def read_write_layout(num_text: int, num_speech: int, read_size: int, write_size: int) -> list[tuple[str, int, int]]:
    """
    The Read-R-Write-W order of a text sequence (the fused text states, then `<sep>`: `num_text` items) and a speech
    sequence (the speech tokens, then EOS: `num_speech` items), as `(kind, start, end)` segments.

    Text chunks of R alternate with speech chunks of W; the last text chunk (the one holding `<sep>`) is followed by
    all the remaining speech. This is exactly what streaming produces: while the text is generated, every R tokens
    are followed by W speech tokens, and after the text (and `<sep>`) the rest of the speech. When the speech is too
    short to give W tokens after every text chunk but the last (it could not have been streamed), the whole text
    comes first, then the whole speech (as in the original training code).

    Raises:
        ValueError: for an empty text or speech sequence or non-positive sizes.
    """
    if num_text < 1 or num_speech < 1:
        raise ValueError(f"Both sequences need at least one item (<sep>, EOS), got {num_text} and {num_speech}")
    if read_size < 1 or write_size < 1:
        raise ValueError(f"read_size and write_size must be positive, got {read_size} and {write_size}")
    text_chunks = [(start, min(start + read_size, num_text)) for start in range(0, num_text, read_size)]
    if math.ceil(num_speech / write_size) < len(text_chunks):
        return [(TEXT, 0, num_text), (SPEECH, 0, num_speech)]
    layout = []
    for index, (start, end) in enumerate(text_chunks):
        layout.append((TEXT, start, end))
        last = index == len(text_chunks) - 1
        layout.append((SPEECH, index * write_size, num_speech if last else (index + 1) * write_size))
    return layout


class LlamaOmniGateFusion(nn.Module):
    """
    LLaMA-Omni2's gate fusion of an LLM hidden state h and the TTS embedding e of the text token it predicted:
    p = input_proj(h) (Linear H -> F, ReLU, Linear F -> D), g = sigmoid(Linear([p ; e]) (2D -> D)),
    fused = g * p + (1 - g) * e.
    """

    def __init__(self, llm_hidden_size: int, tts_hidden_size: int, proj_hidden_size: int | None = None):
        super().__init__()
        proj_hidden_size = proj_hidden_size or 2 * llm_hidden_size
        self.input_proj = nn.Sequential(
            nn.Linear(llm_hidden_size, proj_hidden_size), nn.ReLU(), nn.Linear(proj_hidden_size, tts_hidden_size)
        )
        self.gate = nn.Sequential(nn.Linear(2 * tts_hidden_size, tts_hidden_size), nn.Sigmoid())

    def forward(self, hidden_states: torch.FloatTensor, token_embeddings: torch.FloatTensor) -> torch.FloatTensor:
        """`(..., H)` LLM states and `(..., D)` TTS token embeddings -> `(..., D)` fused states."""
        projected = self.input_proj(hidden_states)
        gate = self.gate(torch.cat([projected, token_embeddings], dim=-1))
        return gate * projected + (1 - gate) * token_embeddings


class LlamaOmniARSpeechDecoder(nn.Module):
    """
    LLaMA-Omni2's speech decoder: the gate fusion and a TTS causal language model (`AutoModelForCausalLM` from
    `config.tts_config`; Qwen2.5-0.5B size in the release) that writes speech tokens, Read-R-Write-W.

    `forward` is the teacher-forced training loss; `ARUnitStream` (from `unit_stream()`) decodes incrementally.
    """

    def __init__(self, config: LlamaOmniConfig):
        super().__init__()
        tts_config = config.tts_config
        self.config = config
        self.tts_model = AutoModelForCausalLM.from_config(tts_config)
        self.fusion = LlamaOmniGateFusion(
            config.text_config.hidden_size, tts_config.hidden_size, config.tts_input_proj_hidden_size
        )
        self.speech_token_offset = config.tts_speech_token_offset
        self.num_speech_tokens = config.unit_vocab_size
        self.sep_token_id = config.tts_sep_token_id
        self.eos_token_id = config.tts_eos_token_id

    # -- pieces --------------------------------------------------------------------------------------------------------

    @property
    def dtype(self) -> torch.dtype:
        return self.fusion.gate[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.fusion.gate[0].weight.device

    def embed(self, tts_ids: torch.LongTensor) -> torch.FloatTensor:
        """TTS input embeddings of TTS vocabulary ids."""
        return self.tts_model.get_input_embeddings()(tts_ids)

    def speech_token_ids(self, units: torch.LongTensor) -> torch.LongTensor:
        """Speech units `[0, unit_vocab_size)` -> their TTS ids."""
        return units + self.speech_token_offset

    def fuse(self, hidden_states: torch.FloatTensor, token_ids: torch.LongTensor) -> torch.FloatTensor:
        """
        The fused TTS inputs of text tokens.

        Args:
            hidden_states (`torch.FloatTensor` of shape `(..., llm_hidden_size)`): the LLM states that predicted
                the tokens.
            token_ids (`torch.LongTensor` of shape `(...)`): the text tokens (LLM ids, looked up in the TTS table).

        Raises:
            ValueError: a token id outside the TTS vocabulary.
        """
        token_ids = token_ids.to(self.device)
        vocab = self.tts_model.get_input_embeddings().num_embeddings
        if token_ids.numel() and (int(token_ids.min()) < 0 or int(token_ids.max()) >= vocab):
            raise ValueError(
                f"Text token ids must lie in the TTS vocabulary [0, {vocab}) (the TTS model embeds the LLM's text "
                f"tokens), got ids in [{int(token_ids.min())}, {int(token_ids.max())}]"
            )
        return self.fusion(hidden_states.to(self.device, self.dtype), self.embed(token_ids))

    def read_write_sequence(
        self, fused: torch.FloatTensor, units: torch.LongTensor, read_size: int, write_size: int
    ) -> tuple[torch.FloatTensor, torch.LongTensor]:
        """
        The teacher-forced TTS input of one sample and its labels.

        Args:
            fused (`torch.FloatTensor` of shape `(num_text_tokens, tts_hidden_size)`): fused text states.
            units (`torch.LongTensor` of shape `(num_units,)`): the response's speech units.

        Returns:
            `(inputs_embeds, labels)` of shapes `(length, tts_hidden_size)` and `(length,)`: labels are the TTS ids
            of the speech tokens and the final EOS at their positions (the causal LM predicts position t from t - 1)
            and -100 at the text positions.
        """
        device = fused.device
        text = torch.cat([fused, self.embed(torch.tensor([self.sep_token_id], device=device))], dim=0)
        speech_ids = torch.cat(
            [self.speech_token_ids(units.to(device)), torch.tensor([self.eos_token_id], device=device)]
        )
        speech = self.embed(speech_ids)
        pieces, labels = [], []
        for kind, start, end in read_write_layout(text.shape[0], speech_ids.shape[0], read_size, write_size):
            if kind == TEXT:
                pieces.append(text[start:end])
                labels.append(torch.full((end - start,), IGNORE_INDEX, dtype=torch.long, device=device))
            else:
                pieces.append(speech[start:end])
                labels.append(speech_ids[start:end])
        return torch.cat(pieces, dim=0), torch.cat(labels, dim=0)

    # -- training ------------------------------------------------------------------------------------------------------

    def forward(
        self,
        hidden_states: torch.FloatTensor,
        token_ids: torch.LongTensor,
        lengths: torch.LongTensor,
        unit_labels: torch.LongTensor,
    ) -> ARSpeechDecoderOutput:
        r"""
        Teacher-forced cross-entropy over the interleaved Read-R-Write-W sequences (`read_size`, `write_size` of the
        config).

        Args:
            hidden_states (`torch.FloatTensor` of shape `(batch_size, max_len, llm_hidden_size)`): the LLM states that
                predicted each response token, right-padded.
            token_ids (`torch.LongTensor` of shape `(batch_size, max_len)`): the response tokens, right-padded (any
                padding value).
            lengths (`torch.LongTensor` of shape `(batch_size,)`): valid tokens per sample.
            unit_labels (`torch.LongTensor` of shape `(batch_size, max_units)`): speech units, padded with -100.
        """
        fused = self.fuse(hidden_states, token_ids.clamp(min=0))  # padding ids (any value) are never read
        sequences, label_sequences = [], []
        for i, n in enumerate(lengths.tolist()):
            units = unit_labels[i][unit_labels[i] >= 0]
            embeds, labels = self.read_write_sequence(
                fused[i, : int(n)], units, self.config.read_size, self.config.write_size
            )
            sequences.append(embeds)
            label_sequences.append(labels)
        inputs_embeds = nn.utils.rnn.pad_sequence(sequences, batch_first=True)
        labels = nn.utils.rnn.pad_sequence(label_sequences, batch_first=True, padding_value=IGNORE_INDEX)
        seq_lengths = torch.tensor([s.shape[0] for s in sequences], device=inputs_embeds.device)
        positions = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)
        attention_mask = positions[None] < seq_lengths[:, None]
        hidden = self.tts_model.base_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask.long(), use_cache=False
        ).last_hidden_state
        # Only the positions that predict a target need logits (the TTS vocabulary is large).
        targets = labels[:, 1:]
        selected = targets != IGNORE_INDEX
        logits = self.tts_model.get_output_embeddings()(hidden[:, :-1][selected])
        target_ids = targets[selected]
        loss = F.cross_entropy(logits.float(), target_ids, reduction="sum") / max(int(target_ids.numel()), 1)
        return ARSpeechDecoderOutput(loss=loss, logits=logits, labels=target_ids)

    @staticmethod
    def num_targets(unit_labels: torch.LongTensor) -> torch.LongTensor:
        """Number of cross-entropy targets of a batch: its speech units plus one EOS per sample."""
        return (unit_labels >= 0).sum() + unit_labels.shape[0]

    # -- inference -----------------------------------------------------------------------------------------------------

    def unit_stream(self, batch_size: int = 1, **decoding_kwargs) -> ARUnitStream:
        """A fresh incremental Read-Write decoder over this model (see `ARUnitStream`)."""
        return ARUnitStream(self, batch_size=batch_size, **decoding_kwargs)


class ARUnitStream:
    """
    Incremental Read-R-Write-W decoding with LLaMA-Omni2's speech decoder: feed the LLM states and the text tokens
    they predicted as they come (`step`), get the speech units written so far; `finish()` when the text has ended
    writes until the TTS model's EOS (in pieces of `max_units` if asked, to vocode them as they come). The TTS
    model's KV cache is kept across chunks: a chunk costs R + W positions whatever its place in the answer (no
    re-prefill of the history).

    While the text is generated only speech tokens can be written (EOS is masked: in training it only follows the
    separator); after the separator, speech tokens or EOS.

    Args:
        speech_decoder (`LlamaOmniARSpeechDecoder`): the decoder to run.
        batch_size (`int`, *optional*, defaults to 1): only 1 is supported (one answer at a time).
        read_size, write_size (`int`, *optional*): R and W (default: the config's).
        do_sample (`bool`, *optional*): sample (default: the config's `tts_do_sample`) or decode greedily.
        temperature, top_k, top_p (*optional*): sampling settings (default: the config's `tts_*`).
        max_new_tokens (`int`, *optional*): most speech tokens written after the text ends (default:
            `tts_max_new_tokens`).
        seed (`int`, *optional*): seed of this stream's own random generator (default `torch.initial_seed()`). The
            stream never draws from the global generator, so it does not change what the LLM samples.
        generator (`torch.Generator`, *optional*): a generator to sample with instead (on the decoder's device).

    Raises:
        ValueError: `batch_size` other than 1, or a bad setting.
    """

    def __init__(
        self,
        speech_decoder: LlamaOmniARSpeechDecoder,
        batch_size: int = 1,
        *,
        read_size: int | None = None,
        write_size: int | None = None,
        do_sample: bool | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        max_new_tokens: int | None = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ):
        if batch_size != 1:
            raise ValueError(
                f"The autoregressive speech decoder streams one answer at a time, got batch_size={batch_size}"
            )
        config = speech_decoder.config
        self.speech_decoder = speech_decoder
        self.read_size = config.read_size if read_size is None else read_size
        self.write_size = config.write_size if write_size is None else write_size
        self.do_sample = config.tts_do_sample if do_sample is None else do_sample
        self.max_new_tokens = config.tts_max_new_tokens if max_new_tokens is None else max_new_tokens
        for name in ("read_size", "write_size", "max_new_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        temperature = config.tts_temperature if temperature is None else temperature
        top_k = config.tts_top_k if top_k is None else top_k
        top_p = config.tts_top_p if top_p is None else top_p
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.temperature = float(temperature)
        self.warpers = []
        if top_k:
            self.warpers.append(TopKLogitsWarper(int(top_k)))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(float(top_p)))
        if generator is None and self.do_sample:
            generator = torch.Generator(device=speech_decoder.device)
            generator.manual_seed(torch.initial_seed() if seed is None else int(seed))
        self.generator = generator

        self.cache = DynamicCache(config=config.tts_config)
        self.units: list[int] = []
        self.text_ended = False  # finish() has read the rest of the text and the separator
        self.finished = False  # ... and the TTS model has written its EOS (or max_new_tokens)
        self._final_written = 0
        self._pending: list[torch.FloatTensor] = []  # fused text states not read yet, each (1, D)
        self._carry: torch.FloatTensor | None = None  # (1, 1, D): the last written token, not fed yet
        self._last_hidden: torch.FloatTensor | None = None  # (1, D): the TTS state that predicts the next token
        head = speech_decoder.tts_model.get_output_embeddings()
        offset, count = speech_decoder.speech_token_offset, speech_decoder.num_speech_tokens
        self._speech_head = (head.weight[offset : offset + count], _bias_rows(head, offset, offset + count))
        self._final_head = None
        self.positions = 0  # TTS positions fed so far (what a chunk costs is what it adds here)

    # -- public --------------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, hidden_states: torch.FloatTensor, token_ids: torch.LongTensor | None = None) -> list[list[int]]:
        """
        Args:
            hidden_states (`torch.FloatTensor` of shape `(1, num_new_tokens, llm_hidden_size)`): the states that
                predicted the new text tokens.
            token_ids (`torch.LongTensor` of shape `(1, num_new_tokens)`): the new text tokens.

        Returns:
            `[units]`: the speech units written by this call (a multiple of W, possibly none).

        Raises:
            ValueError: wrong shapes or no `token_ids`. RuntimeError: after `finish()`.
        """
        if self.text_ended:
            raise RuntimeError("The text has ended (finish() was called); start a new stream for the next answer")
        if token_ids is None:
            raise ValueError("The autoregressive speech decoder needs the text tokens (token_ids) with their states")
        token_ids = torch.as_tensor(token_ids)
        if (
            hidden_states.dim() != 3
            or hidden_states.shape[0] != 1
            or token_ids.shape != hidden_states.shape[:2]
        ):
            raise ValueError(
                "hidden_states must have shape (1, num_new_tokens, hidden_size) and token_ids (1, num_new_tokens), "
                f"got {tuple(hidden_states.shape)} and {tuple(token_ids.shape)}"
            )
        fused = self.speech_decoder.fuse(hidden_states, token_ids)[0]
        self._pending.extend(fused.split(1, dim=0))
        new_units: list[int] = []
        while len(self._pending) >= self.read_size:
            chunk, self._pending = self._pending[: self.read_size], self._pending[self.read_size :]
            self._read(torch.cat(chunk, dim=0))
            new_units += self._write(self.write_size, final=False)[0]
        return [new_units]

    @torch.no_grad()
    def finish(self, max_units: int | None = None) -> list[list[int]]:
        """
        The text has ended: the first call reads the remaining text states and the separator; every call writes up
        to `max_units` speech units (`None`: all) until EOS (or `max_new_tokens` in all).

        Returns:
            `[units]`: the speech units written by this call; `[[]]` once the speech has ended.
        """
        if max_units is not None and (not isinstance(max_units, int) or max_units < 1):
            raise ValueError(f"max_units must be a positive integer or None, got {max_units!r}")
        decoder = self.speech_decoder
        if not self.text_ended:
            sep = decoder.embed(torch.tensor([decoder.sep_token_id], device=decoder.device))
            self._read(torch.cat([*self._pending, sep], dim=0))
            self._pending = []
            self.text_ended = True
        if self.finished:
            return [[]]
        budget = self.max_new_tokens - self._final_written
        count = budget if max_units is None else min(max_units, budget)
        new_units, ended = self._write(count, final=True)
        self._final_written += len(new_units)
        self.finished = ended or self._final_written >= self.max_new_tokens
        return [new_units]

    # -- internals -----------------------------------------------------------------------------------------------------

    def _forward(self, embeds: torch.FloatTensor) -> None:
        """Feeds `(1, n, D)` inputs through the TTS model with the cache; keeps the last state."""
        outputs = self.speech_decoder.tts_model.base_model(
            inputs_embeds=embeds, past_key_values=self.cache, use_cache=True
        )
        self._last_hidden = outputs.last_hidden_state[:, -1]
        self.positions += embeds.shape[1]

    def _read(self, chunk: torch.FloatTensor) -> None:
        embeds = chunk.unsqueeze(0)
        if self._carry is not None:
            embeds = torch.cat([self._carry, embeds], dim=1)
            self._carry = None
        self._forward(embeds)

    def _write(self, count: int, final: bool) -> tuple[list[int], bool]:
        """Writes up to `count` speech units; returns them and whether EOS came."""
        decoder = self.speech_decoder
        written: list[int] = []
        ended = False
        while len(written) < count:
            if self._carry is not None:
                self._forward(self._carry)
                self._carry = None
            index = self._next_index(final)
            if index == decoder.num_speech_tokens:  # EOS (only allowed after the separator)
                ended = True
                break
            written.append(index)
            self._carry = decoder.embed(torch.tensor([[decoder.speech_token_ids(index)]], device=decoder.device))
        self.units.extend(written)
        return written, ended

    def _next_index(self, final: bool) -> int:
        """Index of the next token among the speech tokens (`num_speech_tokens` = EOS, only when `final`)."""
        weight, bias = self._speech_head
        if final:
            if self._final_head is None:
                head = self.speech_decoder.tts_model.get_output_embeddings()
                eos = self.speech_decoder.eos_token_id
                eos_bias = _bias_rows(head, eos, eos + 1)
                self._final_head = (
                    torch.cat([weight, head.weight[eos : eos + 1]], dim=0),
                    None if bias is None else torch.cat([bias, eos_bias], dim=0),
                )
            weight, bias = self._final_head
        logits = F.linear(self._last_hidden, weight, bias).float()
        if not self.do_sample:
            return int(logits.argmax(-1))
        scores = logits / self.temperature
        for warper in self.warpers:
            scores = warper(None, scores)
        probs = scores.softmax(-1)
        return int(torch.multinomial(probs, 1, generator=self.generator))


def _bias_rows(linear: nn.Module, start: int, end: int) -> torch.Tensor | None:
    bias = getattr(linear, "bias", None)
    return None if bias is None else bias[start:end]


__all__ = [
    "ARSpeechDecoderOutput",
    "ARUnitStream",
    "LlamaOmniARSpeechDecoder",
    "LlamaOmniGateFusion",
    "read_write_layout",
]
