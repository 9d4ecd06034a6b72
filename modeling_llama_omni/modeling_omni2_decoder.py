# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni2's autoregressive streaming speech decoder (arXiv 2505.02625), `speech_decoder_type="ar"`.

    LLM hidden state h_i (the one that predicted text token y_i) ----> input_proj (H -> 2H -> ReLU -> D) = p_i
    text token y_i ----> TTS embedding table E_tts ----------------------------------------------------> e_i
    gate g_i = sigmoid(Linear([p_i ; e_i]))          fused state f_i = g_i * p_i + (1 - g_i) * e_i
    TTS causal LM over   f_1 f_2 f_3  s_1 ... s_W  f_4 f_5 f_6  s_W+1 ... s_2W  ...  f_n <sep>  s_... <eos>

Read-R-Write-W, on the released schedule: after every R text tokens (read) the TTS language model writes W speech
tokens, except that the last 1..R text tokens are read together with the separator, after which it writes until its
EOS. Converted checkpoints also decode as the release does (`tts_restrict_to_speech_tokens=False`: the whole TTS
vocabulary, EOS possible mid-chunk, units parsed from the decoded text by `ReleasedUnitParser`). The TTS model's KV cache is kept across chunks, so each chunk
costs the same whatever its position (the original re-prefills the whole TTS history at every chunk). Teacher-forced
training builds exactly the sequence that streaming produces (`read_write_layout`), so training and inference agree.

Speech tokens are TTS vocabulary ids `tts_speech_token_offset + u` for speech units `u` in `[0, unit_vocab_size)`:
the same kind of discrete units a unit vocoder voices.

This file imports only torch, transformers and its sibling `configuration_llama_omni.py`, so that it can be copied
into a model folder for `trust_remote_code=True` loading.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformers import AutoModelForCausalLM
from transformers.cache_utils import DynamicCache
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper
from transformers.modeling_outputs import ModelOutput
from transformers.utils import logging

from .configuration_llama_omni import LlamaOmniConfig

logger = logging.get_logger(__name__)

IGNORE_INDEX = -100
TEXT, SPEECH = "text", "speech"


@dataclass
class ARSpeechDecoderOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`):
        Cross-entropy of the speech tokens (and the final EOS) of the Read-Write sequences, summed and divided by the
        number of targets.
    logits (`torch.FloatTensor` of shape `(num_targets, tts_vocab_size)`):
        The TTS model's logits at the positions that predict a target, in order (sample by sample); with
        `tts_loss_vocabulary="speech"`, only those of the speech tokens and EOS (`(num_targets, unit_vocab_size + 1)`).
    labels (`torch.LongTensor` of shape `(num_targets,)`):
        The TTS ids those logits predict (with `tts_loss_vocabulary="speech"`: their indices among those columns,
        unit `u` -> `u`, EOS -> `unit_vocab_size`).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    labels: torch.LongTensor | None = None


def read_write_layout(num_text: int, num_speech: int, read_size: int, write_size: int) -> list[tuple[str, int, int]]:
    """
    The Read-R-Write-W order of a text sequence (the fused text states, then `<sep>`: `num_text` items) and a speech
    sequence (the speech tokens, then EOS: `num_speech` items), as `(kind, start, end)` segments.

    The text tokens are cut into chunks of R, the last one holding the remaining 1..R tokens and `<sep>` (the
    released schedule: when the answer's length is a multiple of R, its last R tokens are read together with
    `<sep>`). Each chunk but the last is followed by W speech tokens, the last by all the remaining speech. This is
    exactly what streaming produces. When the speech is too short to give W tokens after every text chunk but the
    last (it could not have been streamed), the whole text comes first, then the whole speech (as in the original
    training code).

    Raises:
        ValueError: for an empty text or speech sequence or non-positive sizes.
    """
    if num_text < 1 or num_speech < 1:
        raise ValueError(f"Both sequences need at least one item (<sep>, EOS), got {num_text} and {num_speech}")
    if read_size < 1 or write_size < 1:
        raise ValueError(f"read_size and write_size must be positive, got {read_size} and {write_size}")
    num_tokens = num_text - 1  # the text tokens before <sep>
    starts = list(range(0, num_tokens, read_size)) or [0]
    text_chunks = [(start, min(start + read_size, num_tokens)) for start in starts[:-1]] + [(starts[-1], num_text)]
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
        self, fused: torch.FloatTensor, units: torch.LongTensor, read_size: int, write_size: int,
        token_embeddings: torch.FloatTensor | None = None,
    ) -> tuple[torch.FloatTensor, torch.LongTensor]:
        """
        The teacher-forced TTS input of one sample and its labels.

        Args:
            fused (`torch.FloatTensor` of shape `(num_text_tokens, tts_hidden_size)`): fused text states.
            units (`torch.LongTensor` of shape `(num_units,)`): the response's speech units.
            token_embeddings (`torch.FloatTensor` of shape `(num_units + 2, tts_hidden_size)`, *optional*): the TTS
                embeddings of `<sep>`, the units' speech tokens and EOS, in that order (looked up here when not given;
                `forward` looks up a whole batch's at once).

        Returns:
            `(inputs_embeds, labels)` of shapes `(length, tts_hidden_size)` and `(length,)`: labels are the TTS ids
            of the speech tokens and the final EOS at their positions (the causal LM predicts position t from t - 1)
            and -100 at the text positions.
        """
        device = fused.device
        speech_ids = torch.cat(
            [self.speech_token_ids(units.to(device)), torch.tensor([self.eos_token_id], device=device)]
        )
        if token_embeddings is None:
            token_embeddings = self.embed(torch.cat([torch.tensor([self.sep_token_id], device=device), speech_ids]))
        text = torch.cat([fused, token_embeddings[:1]], dim=0)
        speech = token_embeddings[1:]
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
        device = fused.device
        units = [row[row >= 0].to(device) for row in unit_labels]
        # One lookup of the whole batch's <sep>, speech and EOS embeddings: the backward of each lookup builds a
        # gradient as large as the whole TTS table (the LLM's vocabulary and the units).
        sep, eos = torch.tensor([self.sep_token_id], device=device), torch.tensor([self.eos_token_id], device=device)
        ids = [torch.cat([sep, self.speech_token_ids(u), eos]) for u in units]
        embedded = self.embed(torch.cat(ids)).split([x.shape[0] for x in ids])
        sequences, label_sequences = [], []
        for i, n in enumerate(lengths.tolist()):
            embeds, labels = self.read_write_sequence(
                fused[i, : int(n)], units[i], self.config.read_size, self.config.write_size, embedded[i]
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
        target_ids = targets[selected]
        if self.config.tts_loss_vocabulary == "speech":
            logits, target_ids = self.writable_logits(hidden[:, :-1][selected], target_ids)
        else:
            logits = self.tts_model.get_output_embeddings()(hidden[:, :-1][selected])
        loss = F.cross_entropy(logits.float(), target_ids, reduction="sum") / max(int(target_ids.numel()), 1)
        return ARSpeechDecoderOutput(loss=loss, logits=logits, labels=target_ids)

    def writable_logits(
        self, hidden: torch.FloatTensor, target_ids: torch.LongTensor
    ) -> tuple[torch.FloatTensor, torch.LongTensor]:
        """
        The logits of the tokens restricted decoding can write (the speech tokens, then EOS) and the targets as
        indices among them (`tts_loss_vocabulary="speech"`): speech unit `u` is index `u`, EOS is `unit_vocab_size`.

        Args:
            hidden (`torch.FloatTensor` of shape `(num_targets, tts_hidden_size)`): the TTS model's last hidden states
                at the positions that predict a target.
            target_ids (`torch.LongTensor` of shape `(num_targets,)`): the TTS ids they predict.
        """
        head = self.tts_model.get_output_embeddings()
        first = self.speech_token_offset
        rows = torch.cat([torch.arange(first, first + self.num_speech_tokens, device=hidden.device),
                          torch.tensor([self.eos_token_id], device=hidden.device)])
        bias = head.bias[rows] if head.bias is not None else None
        logits = F.linear(hidden, head.weight[rows], bias)
        is_eos = target_ids == self.eos_token_id
        indices = torch.where(is_eos, torch.full_like(target_ids, self.num_speech_tokens),
                              target_ids - self.speech_token_offset)
        return logits, indices

    @staticmethod
    def num_targets(unit_labels: torch.LongTensor) -> torch.LongTensor:
        """Number of cross-entropy targets of a batch: its speech units plus one EOS per sample."""
        return (unit_labels >= 0).sum() + unit_labels.shape[0]

    # -- inference -----------------------------------------------------------------------------------------------------

    def unit_stream(self, batch_size: int = 1, **decoding_kwargs) -> ARUnitStream:
        """A fresh incremental Read-Write decoder over this model (see `ARUnitStream`)."""
        return ARUnitStream(self, batch_size=batch_size, **decoding_kwargs)


class ReleasedUnitParser:
    """
    Speech units from the TTS tokens one released generation call writes, as the release reads them: it decodes the
    call's tokens (special tokens skipped) and keeps every number the regex `\\d+` finds (`int` of each run of
    decimal digits). A speech token `<u>` gives unit `u`; a skipped token (EOS, other special tokens) adds nothing,
    so digits on both sides of it join; a non-speech token adds its decoded text (`token_texts`; any other reads as
    a separator). Units are handed out as soon as they are complete (a trailing digit run waits for what follows,
    or for `flush()` at the end of the call). A number too large for an int64 (a long run of digit tokens, where the
    release's unit tensor overflows) is dropped with a warning.

    Args:
        speech_token_offset, num_speech_tokens (`int`): the speech tokens' TTS ids.
        eos_token_id (`int`): the TTS EOS (always skipped).
        token_texts (`dict`, *optional*): `{id: decoded text}` of the tokens that are skipped (`""`) or hold digits.
    """

    _DIGITS = re.compile(r"\d+")
    _SEPARATOR = " "

    def __init__(self, speech_token_offset: int, num_speech_tokens: int, eos_token_id: int,
                 token_texts: dict | None = None):
        self.offset, self.count = speech_token_offset, num_speech_tokens
        self.texts = {int(k): str(v) for k, v in (token_texts or {}).items()}
        self.texts[int(eos_token_id)] = ""
        self._tail = ""

    def text(self, token_id: int) -> str:
        """What decoding adds for one TTS token."""
        if self.offset <= token_id < self.offset + self.count:
            return f"<{token_id - self.offset}>"
        return self.texts.get(token_id, self._SEPARATOR)

    def feed(self, token_id: int) -> list[int]:
        """Adds a written token; returns the units completed by it."""
        text = self._tail + self.text(token_id)
        runs = self._DIGITS.findall(text)
        self._tail = runs.pop() if runs and text[-1:] and self._DIGITS.fullmatch(text[-1]) else ""
        return self._units(runs)

    def flush(self) -> list[int]:
        """The end of a generation call: the trailing digit run, if any, is a unit."""
        tail, self._tail = self._tail, ""
        return self._units([tail] if tail else [])

    @staticmethod
    def _units(runs: list[str]) -> list[int]:
        units = [int(run) for run in runs]
        if any(unit >= 2**63 for unit in units):
            logger.warning("The TTS model wrote a number too large for a speech unit: dropped (the release fails)")
            units = [unit for unit in units if unit < 2**63]
        return units


class ARUnitStream:
    """
    Incremental Read-R-Write-W decoding with LLaMA-Omni2's speech decoder: feed the LLM states and the text tokens
    they predicted as they come (`step`), get the speech units written so far; `finish()` when the text has ended
    writes until the TTS model's EOS (in pieces of `max_units` if asked, to vocode them as they come). The TTS
    model's KV cache is kept across chunks: a chunk costs R + W positions whatever its place in the answer (no
    re-prefill of the history).

    The schedule is the released one: a chunk of R text tokens is read, and W tokens written, when the next text
    token arrives; the last 1..R text tokens are read together with the separator by `finish()`, which then writes
    until EOS. (So when the answer's length is a multiple of R, its last R tokens get no W-token block of their own.)
    A caller that knows the text goes on (the LLM is computing its next token) can have a full chunk written
    earlier with `text_continues()`: the same tokens, at the moment the release writes them (what matters when
    sampling from torch's global generator, `rng="global"`).

    What can be written (`restrict_to_speech_tokens`): `True`, only speech tokens while the text is read and speech
    tokens or EOS after the separator (EOS only follows the separator in training); `False` (the release's way,
    converted checkpoints), any token of the TTS vocabulary: an EOS while the text is read ends that chunk's writing
    early (its embedding stays in the context, as every written token's does) and the units are what
    `ReleasedUnitParser` reads from each chunk's tokens.

    Args:
        speech_decoder (`LlamaOmniARSpeechDecoder`): the decoder to run.
        batch_size (`int`, *optional*, defaults to 1): only 1 is supported (one answer at a time).
        read_size, write_size (`int`, *optional*): R and W (default: the config's).
        do_sample (`bool`, *optional*): sample (default: the config's `tts_do_sample`) or decode greedily.
        temperature, top_k, top_p (*optional*): sampling settings (default: the config's `tts_*`).
        max_new_tokens (`int`, *optional*): most tokens written after the text ends (default: `tts_max_new_tokens`).
        restrict_to_speech_tokens (`bool`, *optional*): see above (default: `tts_restrict_to_speech_tokens`).
        rng (`str`, *optional*): `"own"` or `"global"` (default: the config's `tts_rng`; `"own"` when a `seed` or
            `generator` is given). `"own"`: the stream samples from a generator of its own, so it never changes what
            the LLM samples. `"global"`: from torch's default generator (the release's way); the draws then happen
            when the chunks are written, which `text_continues()` lets the caller place where the release draws.
        seed (`int`, *optional*): seed of this stream's own random generator (default `torch.initial_seed()`).
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
        restrict_to_speech_tokens: bool | None = None,
        rng: str | None = None,
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
        if restrict_to_speech_tokens is None:
            restrict_to_speech_tokens = getattr(config, "tts_restrict_to_speech_tokens", True)
        self.restrict_to_speech_tokens = bool(restrict_to_speech_tokens)
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
        rng = self.resolve_rng(config, rng, seed, generator)
        if rng == "global" and (seed is not None or generator is not None):
            raise ValueError('rng="global" draws from torch\'s default generator: pass no seed or generator with it')
        self.rng = rng
        if generator is None and self.do_sample and rng == "own":
            generator = torch.Generator(device=speech_decoder.device)
            generator.manual_seed(torch.initial_seed() if seed is None else int(seed))
        self.generator = generator

        self.cache = DynamicCache(config=config.tts_config)
        self.units: list[int] = []
        self.tokens: list[int] = []  # every TTS id written, EOS included
        self.text_ended = False  # finish() has read the rest of the text and the separator
        self.finished = False  # ... and the TTS model has written its EOS (or max_new_tokens)
        self._final_written = 0
        self._pending: list[torch.FloatTensor] = []  # fused text states not read yet, each (1, D)
        self._carry: torch.FloatTensor | None = None  # (1, 1, D): the last written token, not fed yet
        self._last_hidden: torch.FloatTensor | None = None  # (1, D): the TTS state that predicts the next token
        self._parser = ReleasedUnitParser(
            speech_decoder.speech_token_offset, speech_decoder.num_speech_tokens, speech_decoder.eos_token_id,
            getattr(config, "tts_token_texts", None),
        )
        head = speech_decoder.tts_model.get_output_embeddings()
        offset, count = speech_decoder.speech_token_offset, speech_decoder.num_speech_tokens
        self._speech_head = (head.weight[offset : offset + count], _bias_rows(head, offset, offset + count))
        self._final_head = None
        self.positions = 0  # TTS positions fed so far (what a chunk costs is what it adds here)

    @staticmethod
    def resolve_rng(config: LlamaOmniConfig, rng: str | None = None, seed: int | None = None,
                    generator: torch.Generator | None = None) -> str:
        """The random stream a unit stream with these settings uses: `"own"` or `"global"` (see the class)."""
        if rng is None:
            rng = "own" if seed is not None or generator is not None else getattr(config, "tts_rng", "own")
        if rng not in ("own", "global"):
            raise ValueError(f'rng must be "own" or "global", got {rng!r}')
        return rng

    @classmethod
    def uses_global_rng(cls, config: LlamaOmniConfig, **decoding_kwargs) -> bool:
        """Whether a stream built with these decoding settings samples from torch's default generator."""
        do_sample = decoding_kwargs.get("do_sample")
        do_sample = config.tts_do_sample if do_sample is None else do_sample
        rng = cls.resolve_rng(config, decoding_kwargs.get("rng"), decoding_kwargs.get("seed"),
                              decoding_kwargs.get("generator"))
        return bool(do_sample) and rng == "global"

    # -- public --------------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, hidden_states: torch.FloatTensor, token_ids: torch.LongTensor | None = None) -> list[list[int]]:
        """
        Args:
            hidden_states (`torch.FloatTensor` of shape `(1, num_new_tokens, llm_hidden_size)`): the states that
                predicted the new text tokens.
            token_ids (`torch.LongTensor` of shape `(1, num_new_tokens)`): the new text tokens.

        Returns:
            `[units]`: the speech units written by this call: W per chunk of R text tokens that was followed by
            another text token (fewer when not restricted to speech tokens: an early EOS, tokens without units).

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
        # A full chunk is read only once a later token shows it is not the last one (that one goes with <sep>).
        while len(self._pending) > self.read_size:
            new_units += self._read_and_write_chunk()
        self.units.extend(new_units)
        return [new_units]

    @torch.no_grad()
    def text_continues(self) -> list[list[int]]:
        """
        Tells the stream that more text follows the tokens given so far (the LLM is computing its next token): a
        full chunk of R tokens waiting for that news is read and its W tokens are written now. What is written is
        the same as when the next token's `step()` does it; only the moment differs, which matters with
        `rng="global"` (the release writes a chunk right after its R-th text token, before the LLM's next draw).

        Returns:
            `[units]`: the speech units written by this call.
        """
        if self.text_ended:
            raise RuntimeError("The text has ended (finish() was called); start a new stream for the next answer")
        new_units: list[int] = []
        while len(self._pending) >= self.read_size:
            new_units += self._read_and_write_chunk()
        self.units.extend(new_units)
        return [new_units]

    @torch.no_grad()
    def finish(self, max_units: int | None = None) -> list[list[int]]:
        """
        The text has ended: the first call reads the remaining text states and the separator; every call writes up
        to `max_units` tokens (`None`: all) until EOS (or `max_new_tokens` in all).

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
        new_units, ended, written = self._write(count, final=True)
        self._final_written += written
        self.finished = ended or self._final_written >= self.max_new_tokens
        if self.finished:
            new_units += self._parser.flush()
        self.units.extend(new_units)
        return [new_units]

    # -- internals -----------------------------------------------------------------------------------------------------

    def _read_and_write_chunk(self) -> list[int]:
        """Reads the next R pending text states and writes up to W tokens; returns the units written."""
        chunk, self._pending = self._pending[: self.read_size], self._pending[self.read_size :]
        self._read(torch.cat(chunk, dim=0))
        units, _, _ = self._write(self.write_size, final=False)
        return units + self._parser.flush()

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

    def _write(self, count: int, final: bool) -> tuple[list[int], bool, int]:
        """Writes up to `count` tokens; returns the units completed, whether EOS came, and the tokens written."""
        decoder = self.speech_decoder
        units: list[int] = []
        written = 0
        while written < count:
            if self._carry is not None:
                self._forward(self._carry)
                self._carry = None
            token = self._next_token(final)
            self.tokens.append(token)
            if token == decoder.eos_token_id and self.restrict_to_speech_tokens:
                return units, True, written  # after <sep> only; nothing is fed after the last EOS
            written += 1
            units += self._parser.feed(token)
            # As in the release, every written token (an early EOS too) stays in the context.
            self._carry = decoder.embed(torch.tensor([[token]], device=decoder.device))
            if token == decoder.eos_token_id:
                return units, True, written
        return units, False, written

    def _next_token(self, final: bool) -> int:
        """TTS id of the next token: among the speech tokens (and EOS when `final`), or the whole vocabulary."""
        decoder = self.speech_decoder
        if not self.restrict_to_speech_tokens:
            logits = decoder.tts_model.get_output_embeddings()(self._last_hidden).float()
            return self._choose(logits)
        weight, bias = self._speech_head
        if final:
            if self._final_head is None:
                head = decoder.tts_model.get_output_embeddings()
                eos = decoder.eos_token_id
                eos_bias = _bias_rows(head, eos, eos + 1)
                self._final_head = (
                    torch.cat([weight, head.weight[eos : eos + 1]], dim=0),
                    None if bias is None else torch.cat([bias, eos_bias], dim=0),
                )
            weight, bias = self._final_head
        index = self._choose(F.linear(self._last_hidden, weight, bias).float())
        return decoder.eos_token_id if index == decoder.num_speech_tokens else decoder.speech_token_ids(index)

    def _choose(self, logits: torch.FloatTensor) -> int:
        """Greedy or sampled (temperature, then top-k / top-p, then one draw from this stream's generator or, with
        `rng="global"`, torch's default one) index."""
        if not self.do_sample:
            return int(logits.argmax(-1))
        scores = logits / self.temperature
        for warper in self.warpers:
            scores = warper(None, scores)
        return int(torch.multinomial(scores.softmax(-1), 1, generator=self.generator))


def _bias_rows(linear: nn.Module, start: int, end: int) -> torch.Tensor | None:
    bias = getattr(linear, "bias", None)
    return None if bias is None else bias[start:end]


__all__ = [
    "ARSpeechDecoderOutput",
    "ARUnitStream",
    "LlamaOmniARSpeechDecoder",
    "LlamaOmniGateFusion",
    "ReleasedUnitParser",
    "read_write_layout",
]
