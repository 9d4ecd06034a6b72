# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""
The Whisper read-out speech adaptor (`LlamaOmniConfig.speech_adaptor_whisper_readout`): the speech encoder's
outputs are read out by Whisper's own pretrained text decoder (greedy, English transcription, no timestamps), and
the transcript goes to the LLM as its own token ids. Like the lexicon read-out it is a discrete bottleneck: the
frozen LLM reads the question exactly as it reads text; unlike it, nothing is trained, and every word Whisper can
write can come through (names above all).

The model's speech encoder runs on the clip's own frames, not on Whisper's 30-s windows; Whisper's decoder learned
from speech followed by silence, and without it, it stops early on short clips or starts the transcript again. So
the encoder hears each clip followed by `pad_seconds` of the feature extractor's own silence (`pad_features`, called
by the model before its encoder), the read-out stops at the first repeated n-gram of tokens (`repeat_ngram`) and
keeps what came before it, and at a length bound proportional to the clip (`max_tokens_per_second`). A transcript
that is a question gets its capital letter and its "?" (`as_question_text`): the LLM answers a question written like
that better. On the CPU the decoder runs int8 dynamically quantized copies of its linear layers (`int8_on_cpu`): it
reads all its weights for every token it writes, and int8 reads a quarter of the bytes.

Everything the read-out needs is in the model's weights: the decoder's parameters (Whisper's, loaded by
`load_whisper`), each Whisper token's bytes, and the LLM's tokenizer (its `tokenizer.json`, as bytes) to turn the
transcript into the LLM's own, canonical token ids.

This file imports only torch, transformers, tokenizers and its sibling `configuration_llama_omni.py`, so that it
can be copied into a model folder with `modeling_llama_omni.py`.
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_llama_omni import WHISPER_READOUT_DECODING, check_whisper_readout_settings


def whisper_token_bytes(tokenizer, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each token's bytes of a byte-level BPE tokenizer (Whisper's) over a model vocabulary of `vocab_size` ids:
    `(bytes, offsets)`, token `t` being `bytes[offsets[t]:offsets[t + 1]]`; special tokens (and ids the tokenizer
    does not have, e.g. Whisper's timestamps) have no bytes."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = {character: byte for byte, character in bytes_to_unicode().items()}  # GPT-2's byte-level spelling
    special = set(getattr(tokenizer, "all_special_ids", []))
    known = len(tokenizer)
    chunks, offsets = [], [0]
    for token_id in range(vocab_size):
        piece = tokenizer.convert_ids_to_tokens(token_id) if token_id < known else None
        data = b"" if piece is None or token_id in special or any(ch not in alphabet for ch in piece) else bytes(
            alphabet[ch] for ch in piece)
        chunks.append(data)
        offsets.append(offsets[-1] + len(data))
    flat = torch.tensor(list(b"".join(chunks)), dtype=torch.uint8)
    return flat, torch.tensor(offsets, dtype=torch.int64)


QUESTION_WORDS = frozenset(
    "who whom whose what which where when why how is are was were am do does did can could will would shall should "
    "may might must have has had".split()
)
"""First words of an English question (what the lexicon read-out's `question_token_id` is for, as a list)."""


def as_question_text(text: str) -> str:
    """A transcript as the LLM reads a typed question best: its first letter capitalised, and its last sentence
    ended by "?" where that sentence starts with a question word but Whisper ended it with "." or nothing (it often
    does on short or fast questions)."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    last = re.split(r"(?<=[.!?])\s+", text)[-1]
    words = re.findall(r"[A-Za-z']+", last)
    if words and words[0].lower() in QUESTION_WORDS and not text.endswith(("?", "!")):
        text = (text[:-1] if text.endswith(".") else text) + "?"
    return text


def cut_at_repeat(ids: list[int], n: int) -> list[int] | None:
    """`ids` without their last `n`, where those `n` already occurred earlier (the transcript started again), else
    None (also for `n` 0)."""
    if n < 1 or len(ids) <= n:
        return None
    tail = ids[-n:]
    return ids[:-n] if any(ids[i : i + n] == tail for i in range(len(ids) - n)) else None


class LlamaOmniWhisperReadoutAdaptor(nn.Module):
    """
    The Whisper read-out speech adaptor (see the module's docstring). What the LLM receives is the token ids of
    Whisper's transcript (`read_out`), embedded by its own table.
    """

    reads_out_tokens = True
    from_asset_weights = True  # nothing here is trained: its weights come from Whisper and the LLM's tokenizer

    def __init__(self, config):
        super().__init__()
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperDecoder

        settings = config.speech_adaptor_whisper_readout
        check_whisper_readout_settings(settings)
        self.settings = {**WHISPER_READOUT_DECODING, **settings}
        decoder_config = WhisperConfig(
            vocab_size=settings["vocab_size"], d_model=settings["d_model"], decoder_layers=settings["decoder_layers"],
            decoder_attention_heads=settings["decoder_attention_heads"], decoder_ffn_dim=settings["decoder_ffn_dim"],
            max_target_positions=settings["max_target_positions"], encoder_layers=1, encoder_attention_heads=1,
            pad_token_id=settings["eot_id"], bos_token_id=settings["eot_id"], eos_token_id=settings["eot_id"],
            decoder_start_token_id=settings["prompt_ids"][0],
        )
        self.decoder = WhisperDecoder(decoder_config)
        self.register_buffer("token_bytes", torch.zeros(settings["token_bytes"], dtype=torch.uint8))
        self.register_buffer("token_offsets", torch.zeros(settings["vocab_size"] + 1, dtype=torch.int64))
        self.register_buffer("llm_tokenizer_json", torch.zeros(settings["tokenizer_bytes"], dtype=torch.uint8))
        self._tokenizer = None
        self._token_texts = None  # each Whisper token's bytes, from `token_bytes` / `token_offsets`
        self._maps = None  # (what they were built from, the linear maps of `_projections`)
        self._loading = threading.Lock()
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.reset_tokenizer())

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles leave the derived tables, maps and lock behind
        state = self.__dict__.copy()
        state["_tokenizer"], state["_token_texts"], state["_maps"] = None, None, None
        state.pop("_loading", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._loading = threading.Lock()

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.embed_tokens.weight.dtype

    def reset_tokenizer(self) -> None:
        """Drops what is derived from the buffers and weights (the LLM tokenizer, the token bytes, the decoder's
        linear maps; rebuilt at the next read-out): call it after changing them in place."""
        self._tokenizer = None
        self._token_texts = None
        self._maps = None

    def prepare(self) -> None:
        """Builds now what the first read-out would otherwise build and wait for: the LLM tokenizer, the token bytes
        and the decoder's linear maps (on the CPU with `int8_on_cpu`, its int8 copies: a fraction of a second).
        `inference.load_model` calls it; call it again after moving the model to another device."""
        self._llm_tokenizer()
        self._token_table()
        self._projections()

    def forward(self, *args, **kwargs):
        raise RuntimeError(
            "the Whisper read-out adaptor gives token ids, not embeddings: call read_out(...) (the model's "
            "get_speech_features() embeds them with the LLM's table)"
        )

    @staticmethod
    def settings_for(whisper_config, whisper_tokenizer, llm_tokenizer) -> dict[str, Any]:
        """The `speech_adaptor_whisper_readout` of a Whisper model's decoder (`whisper_config`, a `WhisperConfig`)
        and tokenizer, for an LLM with `llm_tokenizer` (a fast tokenizer: its `backend_tokenizer` is stored)."""
        flat, _ = whisper_token_bytes(whisper_tokenizer, int(whisper_config.vocab_size))
        prompt = whisper_tokenizer.convert_tokens_to_ids(
            ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
            if "<|en|>" in whisper_tokenizer.get_vocab() else ["<|startoftranscript|>", "<|notimestamps|>"])
        return {
            "vocab_size": int(whisper_config.vocab_size), "d_model": int(whisper_config.d_model),
            "decoder_layers": int(whisper_config.decoder_layers),
            "decoder_attention_heads": int(whisper_config.decoder_attention_heads),
            "decoder_ffn_dim": int(whisper_config.decoder_ffn_dim),
            "max_target_positions": int(whisper_config.max_target_positions),
            "prompt_ids": [int(t) for t in prompt],
            "eot_id": int(whisper_tokenizer.convert_tokens_to_ids("<|endoftext|>")),
            "token_bytes": int(flat.numel()),
            "tokenizer_bytes": len(llm_tokenizer.backend_tokenizer.to_str().encode("utf-8")),
        }

    @torch.no_grad()
    def load_whisper(self, whisper_decoder: nn.Module, whisper_tokenizer, llm_tokenizer) -> None:
        """Fills the adaptor from a pretrained Whisper model's decoder (`model.model.decoder` of a
        `WhisperForConditionalGeneration`), its tokenizer and the LLM's tokenizer (they must match the settings the
        adaptor was built with, see `settings_for`)."""
        self.decoder.load_state_dict(whisper_decoder.state_dict())
        flat, offsets = whisper_token_bytes(whisper_tokenizer, self.settings["vocab_size"])
        tokenizer_json = torch.tensor(list(llm_tokenizer.backend_tokenizer.to_str().encode("utf-8")), dtype=torch.uint8)
        for name, value in (("token_bytes", flat), ("token_offsets", offsets), ("llm_tokenizer_json", tokenizer_json)):
            buffer = getattr(self, name)
            if buffer.shape != value.shape:
                raise ValueError(f"{name} has shape {tuple(value.shape)} here but the adaptor was built for "
                                 f"{tuple(buffer.shape)}: build its settings with settings_for() from the same "
                                 "Whisper model and tokenizers")
            buffer.copy_(value)
        self.reset_tokenizer()

    def _llm_tokenizer(self):
        with self._loading:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                self._tokenizer = Tokenizer.from_str(self.llm_tokenizer_json.cpu().numpy().tobytes().decode("utf-8"))
            return self._tokenizer

    def _token_table(self) -> list[bytes]:
        """Each Whisper token id's bytes (from `token_bytes` / `token_offsets`), built once."""
        with self._loading:
            if self._token_texts is None:
                offsets = self.token_offsets.tolist()
                data = self.token_bytes.cpu().numpy().tobytes()
                self._token_texts = [data[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
            return self._token_texts

    def pad_features(self, input_features: torch.Tensor, feature_attention_mask: torch.Tensor | None,
                     max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each clip's log-mel features `(batch, mel, frames)` followed by `pad_seconds` of silence (at most
        `max_frames` in all), and their mask: Whisper learned to transcribe speech followed by silence (its 30-s
        windows), and without it, it stops early on short clips or starts the transcript again. The silence is the
        feature extractor's own: every value at the clip's floor (its largest value - 2, after Whisper's 8-decade
        clamp and scaling)."""
        batch, mel, frames = input_features.shape
        lengths = (feature_attention_mask.sum(-1).long().tolist() if feature_attention_mask is not None
                   else [frames] * batch)
        extra = int(round(float(self.settings["pad_seconds"]) * 100))  # Whisper's 100 feature frames a second
        padded_lengths = [min(int(n) + extra, max_frames) for n in lengths]
        width = max(padded_lengths + [frames])
        features = input_features.new_zeros(batch, mel, width)
        mask = torch.zeros(batch, width, dtype=torch.long, device=input_features.device)
        for i, (n, m) in enumerate(zip(lengths, padded_lengths)):
            n = int(n)
            clip = input_features[i, :, :n]
            floor = clip.max() - 2.0 if n else input_features.new_tensor(-1.5)
            features[i, :, :m] = floor
            features[i, :, :n] = clip
            mask[i, :m] = 1
        return features, mask

    def _cross_attention_states(self, hidden: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        heads = self.settings["decoder_attention_heads"]
        states = []
        for layer in self.decoder.layers:
            attention = layer.encoder_attn
            key = attention.k_proj(hidden).unflatten(-1, (heads, -1)).transpose(1, 2)
            value = attention.v_proj(hidden).unflatten(-1, (heads, -1)).transpose(1, 2)
            states.append((key, value))
        return states

    def _projections(self) -> tuple[list[tuple[Callable, ...]], Callable]:
        """Each layer's linear maps as callables `(query+key+value, out, cross query, cross out, fc1, fc2)` and the
        projection onto the text tokens and the end of text. The query, key and value projections are one matrix
        product (Whisper's key has no bias): a read-out is a few dozen steps of one token, each memory-bound. On the
        CPU with `int8_on_cpu`, they are int8 dynamically quantized copies (`_int8_projections`). Built once per
        weights (their addresses), device and setting."""
        int8 = bool(self.settings["int8_on_cpu"]) and self.decoder.embed_tokens.weight.device.type == "cpu"
        key = (int8, tuple(p.data_ptr() for p in self.decoder.parameters()))
        if self._maps is not None and self._maps[0] == key:
            return self._maps[1]
        maps = self._int8_projections() if int8 else None
        if maps is None:  # float (also where this torch cannot quantize)
            layers = []
            for layer in self.decoder.layers:
                weight, bias = self._fused_query_key_value(layer)
                layers.append((partial(F.linear, weight=weight, bias=bias), layer.self_attn.out_proj,
                               layer.encoder_attn.q_proj, layer.encoder_attn.out_proj, layer.fc1, layer.fc2))
            eot = int(self.settings["eot_id"])
            maps = layers, partial(F.linear, weight=self.decoder.embed_tokens.weight[: eot + 1])
        self._maps = (key, maps)
        return maps

    @staticmethod
    def _fused_query_key_value(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        attention = layer.self_attn
        weight = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
        bias = torch.cat([attention.q_proj.bias, torch.zeros_like(attention.q_proj.bias), attention.v_proj.bias])
        return weight, bias

    def _int8_projections(self) -> tuple[list[tuple[Callable, ...]], Callable] | None:
        """`_projections` as int8 dynamically quantized linear layers (weights in int8, activations quantized on the
        fly): a quarter of the bytes to read each step, the transcripts barely changed. None where this torch cannot
        quantize."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
                from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
                from torch.ao.quantization import default_dynamic_qconfig

                def quantize(weight: torch.Tensor, bias: torch.Tensor | None) -> Callable:
                    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
                    linear.weight.data = weight.detach().float()
                    if bias is not None:
                        linear.bias.data = bias.detach().float()
                    linear.qconfig = default_dynamic_qconfig
                    return DynamicLinear.from_float(linear)

                layers = []
                for layer in self.decoder.layers:
                    layers.append((
                        quantize(*self._fused_query_key_value(layer)),
                        *(quantize(m.weight, m.bias) for m in (layer.self_attn.out_proj, layer.encoder_attn.q_proj,
                                                                layer.encoder_attn.out_proj, layer.fc1, layer.fc2)),
                    ))
                eot = int(self.settings["eot_id"])
                projection = quantize(self.decoder.embed_tokens.weight[: eot + 1], None)
        except (ImportError, RuntimeError, AttributeError):
            return None
        return layers, projection

    def _step(self, ids: torch.Tensor, position: int, cache: list[list[torch.Tensor | None]],
              cross: list[tuple[torch.Tensor, torch.Tensor]], layers: list[tuple[Callable, ...]]) -> torch.Tensor:
        """One decoder pass over `ids` `(1, n)` at `position` with the key/value `cache` (extended in place) and
        the layers' linear maps (`_projections`): the last position's hidden state."""
        heads = self.settings["decoder_attention_heads"]
        decoder = self.decoder
        x = decoder.embed_tokens(ids) + decoder.embed_positions.weight[position : position + ids.shape[1]]
        causal = ids.shape[1] > 1
        for layer, (cross_key, cross_value), past, maps in zip(decoder.layers, cross, cache, layers):
            query_key_value, out_proj, cross_query, cross_out, fc1, fc2 = maps
            y = layer.self_attn_layer_norm(x)
            query, key, value = (t.unflatten(-1, (heads, -1)).transpose(1, 2)
                                 for t in query_key_value(y).chunk(3, dim=-1))
            if past[0] is not None:
                key, value = torch.cat([past[0], key], dim=2), torch.cat([past[1], value], dim=2)
            past[0], past[1] = key, value
            out = F.scaled_dot_product_attention(query, key, value, is_causal=causal)
            x = x + out_proj(out.transpose(1, 2).flatten(2))
            y = layer.encoder_attn_layer_norm(x)
            query = cross_query(y).unflatten(-1, (heads, -1)).transpose(1, 2)
            out = F.scaled_dot_product_attention(query, cross_key, cross_value)
            x = x + cross_out(out.transpose(1, 2).flatten(2))
            y = layer.final_layer_norm(x)
            x = x + fc2(layer.activation_fn(fc1(y)))
        return decoder.layer_norm(x[:, -1])

    def transcribe_ids(self, hidden: torch.Tensor) -> list[int]:
        """Whisper's greedy transcript (text token ids, no special token) of one clip's encoder outputs
        `(frames, d_model)`."""
        s = self.settings
        eot = int(s["eot_id"])
        frames = hidden.shape[0]
        if frames == 0:
            return []
        limit = min(int(s["max_target_positions"]) - len(s["prompt_ids"]),
                    int(math.ceil(frames / 50.0 * float(s["max_tokens_per_second"]))) + 8)
        hidden = hidden[None].to(self.dtype)
        cross = self._cross_attention_states(hidden)
        layers, project = self._projections()
        cache: list[list[torch.Tensor | None]] = [[None, None] for _ in self.decoder.layers]
        ids = torch.tensor([s["prompt_ids"]], device=hidden.device)
        position, out, n = 0, [], int(s["repeat_ngram"])
        for _ in range(limit):
            state = self._step(ids, position, cache, cross, layers)
            position += ids.shape[1]
            token = int(project(state).argmax(-1))  # over the text tokens and the end of text
            if token == eot:
                break
            out.append(token)
            kept = cut_at_repeat(out, n)
            if kept is not None:  # the transcript starts again: keep what came before the repeat
                out = kept
                break
            ids = torch.tensor([[token]], device=hidden.device)
        return out

    def transcript(self, token_ids: list[int]) -> str:
        """The text of Whisper token ids (from the adaptor's byte table), stripped."""
        table = self._token_table()
        return b"".join(table[t] for t in token_ids if 0 <= t < len(table)).decode("utf-8", errors="replace").strip()

    @torch.no_grad()
    def read_out_texts(self, encoder_hidden_states: torch.FloatTensor,
                       frame_lengths: torch.LongTensor | None = None) -> list[str]:
        """What each clip says (`(batch, frames, d_model)` encoder outputs, the first `frame_lengths` frames of each
        clip valid): Whisper's transcripts, as questions where they are (`as_question_text`)."""
        batch, frames = encoder_hidden_states.shape[:2]
        lengths = frame_lengths.tolist() if frame_lengths is not None else [frames] * batch
        return [as_question_text(self.transcript(self.transcribe_ids(encoder_hidden_states[i, : int(lengths[i])])))
                for i in range(batch)]

    @torch.no_grad()
    def read_out(self, encoder_hidden_states: torch.FloatTensor,
                 frame_lengths: torch.LongTensor | None = None) -> list[list[int]]:
        """The LLM token ids of what each clip says (see `read_out_texts`), by the LLM's own tokenizer."""
        tokenizer = self._llm_tokenizer()
        return [tokenizer.encode(text, add_special_tokens=False).ids if text else []
                for text in self.read_out_texts(encoder_hidden_states, frame_lengths)]


__all__ = ["LlamaOmniWhisperReadoutAdaptor", "as_question_text", "cut_at_repeat", "whisper_token_bytes"]
