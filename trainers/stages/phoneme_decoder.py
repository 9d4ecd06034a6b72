# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""
Training the speech decoder on phoneme units from text alone (no audio).

The speech decoder of llama-omni-tiny predicts the Piper "joe" voice's phoneme ids from the frozen LLM's hidden
states (and, for a decoder that reads them, the embeddings of the tokens those states predicted). Neither needs
speech: a text corpus of (user prompt, the LLM's own answer, the answer's phoneme ids) is enough. Two steps:

1. `build_state_cache`: the frozen LLM runs once over each record in text mode (the processor's chat template with
   its system prompt: system + user prompt + assistant answer + end of turn, the labels being the answer's tokens up
   to and including the end-of-turn token, as stage 2 builds them) and the states the decoder reads
   (`model.response_states`, the config's alignment), the tokens paired with them (`model.response_tokens`) and the
   units are stored in compact shards (fp16 states) with an index. The system prompt's key/value states are
   computed once and reused across batches. Building is resumable: a rerun skips the ids already stored.
2. `train_phoneme_decoder`: a plain torch loop that trains only the speech decoder on the cached states (AdamW,
   linear warm-up then cosine decay, batches by number of states, Gaussian noise on the states as augmentation),
   evaluates the loss and the phoneme error rate (`phoneme_error_rate`, greedy decoding) on the validation split,
   keeps the best checkpoint by PER and resumes from its last checkpoint.

    from trainers.stages.phoneme_decoder import PhonemeDecoderConfig, build_state_cache, train_phoneme_decoder
    model.replace_speech_decoder(unit_vocab_size=151, ctc_upsample_factor=6, speech_decoder_token_embeddings=True,
                                 speech_decoder_config={...})
    build_state_cache(model, processor, records, "cache/phoneme_states")
    summary = train_phoneme_decoder(model, "cache/phoneme_states", "outputs/phoneme_decoder",
                                    PhonemeDecoderConfig(max_minutes=30))
    load_phoneme_decoder(model, "outputs/phoneme_decoder/best")

Units are the phoneme ids without Piper's interspersed pads and without its bos/eos (the vocoder adds them).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import operator
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .collator import IGNORE_INDEX, pad_int_sequences

logger = logging.getLogger(__name__)

PHONEME_UNIT_VOCAB_SIZE = 151  # Piper joe's phoneme_id_map: ids 0..150
SPLITS = ("train", "validation")
CACHE_FORMAT = "llama-omni phoneme state cache v1"
# The config fields that describe the speech decoder (what `load_phoneme_decoder` rebuilds it from).
_DECODER_FIELDS = (
    "speech_decoder_type",
    "speech_decoder_config",
    "speech_decoder_token_embeddings",
    "speech_decoder_token_residuals",
    "speech_decoder_token_phonemes",
    "unit_vocab_size",
    "ctc_upsample_factor",
    "ctc_loss_weight",
    "tts_config",
    "tts_input_proj_hidden_size",
    "tts_speech_token_offset",
    "tts_sep_token_id",
    "tts_eos_token_id",
    "read_size",
    "write_size",
    "tts_do_sample",
    "tts_temperature",
    "tts_top_k",
    "tts_top_p",
    "tts_max_new_tokens",
    "tts_restrict_to_speech_tokens",
    "tts_rng",
    "tts_loss_weight",
    "tts_loss_vocabulary",
)

# ----------------------------------------------------------------------------------------------------------------------
# Phoneme error rate
# ----------------------------------------------------------------------------------------------------------------------


def _as_id_list(sequence: Any, what: str, index: int) -> list[int]:
    """`sequence` (a list, tuple, numpy array or tensor of integers) as a list of ints, else a ValueError."""
    if isinstance(sequence, torch.Tensor):
        if sequence.is_floating_point() or sequence.is_complex():
            raise ValueError(f"{what}[{index}] must hold integer ids, got a {sequence.dtype} tensor")
        return [int(x) for x in sequence.reshape(-1).tolist()]
    if isinstance(sequence, (str, bytes, Mapping)) or not isinstance(sequence, Iterable):
        raise ValueError(f"{what}[{index}] must be a sequence of integer ids, got {type(sequence).__name__}")
    try:
        return [operator.index(value) for value in sequence]
    except TypeError:
        raise ValueError(f"{what}[{index}] must hold integer ids only") from None


def phoneme_error_rate(hypotheses: Sequence[Sequence[int]], references: Sequence[Sequence[int]]) -> float:
    """
    Corpus-level phoneme error rate: the sum over pairs of the edit distance (substitutions, insertions and
    deletions of ids, each costing 1) between hypothesis and reference, divided by the total reference length.

    Args:
        hypotheses: the predicted id sequences (lists or 1-D tensors of ints).
        references: the reference id sequences, one per hypothesis.

    Returns:
        The error rate (0 for a perfect match; may exceed 1 when the hypotheses hold many insertions).

    Raises:
        ValueError: the two lists differ in length, an element is not a sequence of integers, or the references hold
            no id at all (the rate is undefined).
    """
    from rapidfuzz.distance import Levenshtein

    if len(hypotheses) != len(references):
        raise ValueError(
            f"phoneme_error_rate needs one hypothesis per reference, got {len(hypotheses)} hypotheses and "
            f"{len(references)} references"
        )
    errors = total = 0
    for i, (hypothesis, reference) in enumerate(zip(hypotheses, references)):
        hyp = _as_id_list(hypothesis, "hypotheses", i)
        ref = _as_id_list(reference, "references", i)
        errors += Levenshtein.distance(hyp, ref)
        total += len(ref)
    if total == 0:
        raise ValueError("the references hold no phoneme id: the phoneme error rate is undefined")
    return errors / total


def validation_subset(records: Sequence[Mapping[str, Any]], max_records: int | None) -> list[Mapping[str, Any]]:
    """At most `max_records` of `records` (all when `None`): a fixed subset chosen by the hash of each id, so that it
    does not depend on the cache's order (answers are stored longest first). `train_phoneme_decoder` evaluates on
    it."""
    if max_records is None or len(records) <= max_records:
        return list(records)
    return sorted(records, key=lambda r: hashlib.sha1(r["id"].encode()).hexdigest())[:max_records]


def _pronunciation_table(model: torch.nn.Module, records: Sequence[Mapping[str, Any]], caller: str) -> torch.nn.Module:
    """The speech decoder's pronunciation table (`LlamaOmniTokenPhonemes`), checked with the records for `caller`."""
    table = getattr(model.speech_decoder, "token_phonemes", None)
    if table is None:
        raise ValueError("the speech decoder has no pronunciation table (speech_decoder_token_phonemes=0)")
    if not records:
        raise ValueError(f"{caller} got no records")
    return table


def table_phoneme_error_rate(model: torch.nn.Module, records: Sequence[Mapping[str, Any]]) -> float:
    """
    The phoneme error rate of the speech decoder's pronunciation table alone (`speech_decoder_token_phonemes`):
    each cached answer's tokens said one by one, their table units concatenated, against the answer's units. The
    baseline a decoder with the table must beat (what the LLM states and the context add).

    Raises:
        ValueError: the model's speech decoder has no pronunciation table, or no records.
    """
    table = _pronunciation_table(model, records, "table_phoneme_error_rate")
    hypotheses = []
    for record in records:
        rows = table.table[record["tokens"].to(table.table.device)].reshape(-1)
        hypotheses.append(rows[rows >= 0].tolist())
    return phoneme_error_rate(hypotheses, [r["units"] for r in records])


def table_frame_overflow(model: torch.nn.Module, records: Sequence[Mapping[str, Any]],
                         frames: int | None = None) -> float:
    """
    The share of the cached answers' tokens whose pronunciation-table entry has more units than the token has frames
    (`frames`, default the model's `ctc_upsample_factor`): a CTC decoder cannot say such a token within its own
    frames, so it must fall behind and catch up on the tokens after it. How well an upsampling factor fits the units.

    Raises:
        ValueError: the model's speech decoder has no pronunciation table, no records, or `frames` < 1.
    """
    table = _pronunciation_table(model, records, "table_frame_overflow")
    frames = model.config.ctc_upsample_factor if frames is None else frames
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive int (frames per token), got {frames!r}")
    lengths = (table.table >= 0).sum(-1)
    tokens = torch.cat([r["tokens"] for r in records]).to(lengths.device)
    return float((lengths[tokens] > frames).float().mean()) if tokens.numel() else 0.0


# ----------------------------------------------------------------------------------------------------------------------
# Text-mode encoding of a record
# ----------------------------------------------------------------------------------------------------------------------


def _stop_token_strings(model: torch.nn.Module, tokenizer: Any) -> list[str]:
    """The tokens `generate()` stops at (the generation config's EOS ids) as strings, then the tokenizer's EOS."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    stops = [t for t in tokenizer.convert_ids_to_tokens(ids) if t]
    if tokenizer.eos_token and tokenizer.eos_token not in stops:
        stops.append(tokenizer.eos_token)
    return stops


@dataclass
class TextTurnEncoder:
    """
    Encodes a (user prompt, assistant answer) pair in text mode, as the model reads it when it answered:
    `input_ids` = the chat template's prompt (system turn, user turn, assistant header) + the answer's tokens up to
    and including the first end-of-turn token, `labels` = -100 over the prompt and the answer's tokens after it
    (the end-of-turn token included), as stage 2 builds them. Prompt and answer are tokenized separately (the LLM
    emitted the answer's tokens one by one after the prompt).

    Args:
        processor: the model's `LlamaOmniProcessor` (chat template, tokenizer, default system prompt).
        end_of_turn_tokens: the tokens an answer ends at (default: the tokenizer's EOS token).
        system_prompt: the system turn (default: the template's, i.e. the processor's `default_system_prompt`).
    """

    processor: Any
    end_of_turn_tokens: Sequence[str] = ()
    system_prompt: str | None = None

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def messages(self, prompt: str, response: str | None) -> list[dict[str, str]]:
        """The chat messages (without the assistant turn when `response` is None)."""
        messages = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        messages.append({"role": "user", "content": prompt})
        if response is not None:
            messages.append({"role": "assistant", "content": response})
        return messages

    def render(self, prompt: str, response: str | None) -> str:
        """The prompt with the assistant header (`response=None`) or the whole conversation, as text."""
        return self.processor.apply_chat_template(
            self.messages(prompt, response), tokenize=False, add_generation_prompt=response is None
        )

    def encode(self, prompt: str, response: str) -> tuple[list[int], list[int]]:
        """`(input_ids, labels)` of one pair.

        Raises:
            ValueError: the template does not render the prompt as a prefix of the conversation.
        """
        head = self.render(prompt, None)
        full = self.render(prompt, response)
        if not full.startswith(head):
            raise ValueError(
                "the chat template does not render the prompt (add_generation_prompt=True) as a prefix of the "
                "conversation with the answer: the answer's tokens cannot be told apart"
            )
        completion = full[len(head):]
        stops = [t for t in (*self.end_of_turn_tokens, self.tokenizer.eos_token) if t]
        found = [(completion.index(t), t) for t in stops if t in completion]
        if found:
            index, token = min(found)
            completion = completion[: index + len(token)]
        elif stops:
            completion = completion + stops[0]
        prompt_ids = self.tokenizer(head, add_special_tokens=False)["input_ids"]
        completion_ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"]
        return prompt_ids + completion_ids, [IGNORE_INDEX] * len(prompt_ids) + completion_ids


def _check_units(units: Any, record_id: Any, unit_vocab_size: int) -> list[int]:
    """The record's units as a list of ints in `[0, unit_vocab_size)`, else a ValueError naming the record."""
    try:
        units = _as_id_list(units, "units", 0)
    except ValueError:
        raise ValueError(
            f"record {record_id!r}: 'units' must be a list of integer phoneme ids, got {units!r:.80}"
        ) from None
    if not units:
        raise ValueError(f"record {record_id!r}: 'units' is empty (an answer needs at least one phoneme)")
    low, high = min(units), max(units)
    if low < 0 or high >= unit_vocab_size:
        raise ValueError(
            f"record {record_id!r}: units must lie in [0, {unit_vocab_size}) (phoneme ids without pads, bos and "
            f"eos), got values in [{low}, {high}]"
        )
    return units


def _check_records(
    records: Sequence[Mapping[str, Any]], text_field: str, unit_vocab_size: int, speech_token: str | None
) -> list[dict[str, Any]]:
    """Validates every record before the LLM runs: `{id, prompt, text, units, split}` per record."""
    checked, seen = [], set()
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ValueError(f"record {position} must be a mapping (a corpus row), got {type(record).__name__}")
        missing = [key for key in ("id", "prompt", text_field, "units") if key not in record]
        if missing:
            raise ValueError(
                f"record {record.get('id', position)!r} lacks {missing}; a record needs 'id', 'prompt', "
                f"'{text_field}' (the LLM's answer) and 'units' (it has {sorted(record)})"
            )
        record_id = str(record["id"])
        if record_id in seen:
            raise ValueError(f"duplicate record id {record_id!r}: the cache needs unique ids")
        seen.add(record_id)
        for key in ("prompt", text_field):
            value = record[key]
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"record {record_id!r}: '{key}' must be a non-empty string, got {value!r}")
            if speech_token and speech_token in value:
                raise ValueError(
                    f"record {record_id!r}: '{key}' holds the speech placeholder {speech_token!r}; text records "
                    "cannot contain it"
                )
        split = record.get("split", "train")
        if split not in SPLITS:
            raise ValueError(f"record {record_id!r}: 'split' must be one of {SPLITS}, got {split!r}")
        units = _check_units(record["units"], record_id, unit_vocab_size)
        checked.append(
            {"id": record_id, "prompt": record["prompt"], "text": record[text_field], "units": units, "split": split}
        )
    return checked


# ----------------------------------------------------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------------------------------------------------


def text_state_fingerprint(model: torch.nn.Module, encoder: TextTurnEncoder, dtype: torch.dtype) -> str:
    """A short hash of everything the cached states depend on: the LLM (config and per-tensor sums), the rendered
    chat template with its system prompt, the end-of-turn tokens, the alignment and the storage dtype."""
    language_model = model.model.language_model
    h = hashlib.sha256(language_model.config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, tensor in language_model.state_dict().items():
            t = tensor.detach().float()
            h.update(f"{name}{tuple(t.shape)}{float(t.sum()):.6e}{float(t.abs().sum()):.6e}".encode())
    h.update(encoder.render("{prompt}", "{response}").encode())
    h.update(json.dumps(list(encoder.end_of_turn_tokens)).encode())
    h.update(f"alignment={model.config.speech_decoder_alignment} dtype={dtype}".encode())
    return h.hexdigest()[:16]


class PhonemeStateCache:
    """
    The on-disk cache of `build_state_cache`: `manifest.json` (format, fingerprint, hidden size, alignment, storage
    dtype), `index.json` (per shard: its file and its records `[id, split, state_offset, num_states, unit_offset,
    num_units]`) and `shard-NNNNN.safetensors` files, each holding the concatenated `states`
    `(num_states, hidden_size)`, `tokens` `(num_states,)` (the response token each state predicted) and `units`.

    Args:
        cache_dir: the cache folder.
    """

    MANIFEST = "manifest.json"
    INDEX = "index.json"

    def __init__(self, cache_dir: str | os.PathLike):
        self.cache_dir = os.fspath(cache_dir)
        self.manifest: dict[str, Any] | None = self._read_json(self.MANIFEST)
        self.shards: list[dict[str, Any]] = (self._read_json(self.INDEX) or {"shards": []})["shards"]

    def _read_json(self, name: str) -> dict[str, Any] | None:
        path = os.path.join(self.cache_dir, name)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def _write_json(self, name: str, value: dict[str, Any]) -> None:
        os.makedirs(self.cache_dir, exist_ok=True)
        path = os.path.join(self.cache_dir, name)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(value, f)
        os.replace(tmp, path)

    @property
    def ids(self) -> set[str]:
        """The ids of the cached records."""
        return {entry[0] for shard in self.shards for entry in shard["records"]}

    def __len__(self) -> int:
        return sum(len(shard["records"]) for shard in self.shards)

    def open(self, manifest: dict[str, Any]) -> None:
        """Starts or continues a cache with `manifest`.

        Raises:
            ValueError: the folder holds a cache built from another model, template or storage dtype.
        """
        if self.manifest is not None and self.manifest.get("fingerprint") != manifest["fingerprint"]:
            raise ValueError(
                f"the phoneme state cache in {self.cache_dir} was built by another LLM, chat template, system "
                f"prompt, alignment or storage dtype (fingerprint {self.manifest.get('fingerprint')}, expected "
                f"{manifest['fingerprint']}); delete it or choose another cache_dir"
            )
        self.manifest = manifest
        self._write_json(self.MANIFEST, manifest)

    def add_shard(self, entries: list[dict[str, Any]]) -> None:
        """Writes one shard of `{id, split, states, tokens, units}` entries, then the index (atomically)."""
        from safetensors.torch import save_file

        number = max((int(s["file"][6:11]) for s in self.shards), default=-1) + 1
        name = f"shard-{number:05d}.safetensors"
        records, state_offset, unit_offset = [], 0, 0
        for entry in entries:
            n, m = int(entry["states"].shape[0]), int(entry["units"].numel())
            records.append([entry["id"], entry["split"], state_offset, n, unit_offset, m])
            state_offset += n
            unit_offset += m
        tensors = {
            "states": torch.cat([e["states"] for e in entries]).contiguous(),
            "tokens": torch.cat([e["tokens"] for e in entries]).to(torch.int32).contiguous(),
            "units": torch.cat([e["units"] for e in entries]).to(torch.int32).contiguous(),
        }
        path = os.path.join(self.cache_dir, name)
        tmp = f"{path}.tmp{os.getpid()}"
        save_file(tensors, tmp)
        os.replace(tmp, path)
        self.shards.append({"file": name, "records": records})
        self._write_json(self.INDEX, {"format": CACHE_FORMAT, "shards": self.shards})

    def load(self, split: str | None = None) -> list[dict[str, Any]]:
        """The cached records (of `split`, or all) in memory: `{id, split, states (float16 or the storage dtype),
        tokens (int64), units (int64)}` each, in the cache's order. The states of one shard share its storage.

        Raises:
            ValueError: the folder holds no cache, or an unknown split.
        """
        from safetensors.torch import load_file

        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
        if self.manifest is None or not self.shards:
            raise ValueError(
                f"{self.cache_dir} holds no cached records (no {self.MANIFEST} / empty {self.INDEX}); build the cache "
                "with build_state_cache first"
            )
        out = []
        for shard in self.shards:
            wanted = [r for r in shard["records"] if split is None or r[1] == split]
            if not wanted:
                continue
            tensors = load_file(os.path.join(self.cache_dir, shard["file"]))
            tokens, units = tensors["tokens"].long(), tensors["units"].long()
            for record_id, record_split, s0, n, u0, m in wanted:
                out.append({
                    "id": record_id,
                    "split": record_split,
                    "states": tensors["states"][s0 : s0 + n],
                    "tokens": tokens[s0 : s0 + n],
                    "units": units[u0 : u0 + m],
                })
        return out


class _PrefixKV:
    """The key/value states of the token prefix every row of a batch shares (the system turn), computed once per
    distinct prefix by the frozen LLM and expanded to each batch."""

    def __init__(self, language_model: torch.nn.Module, min_length: int = 4, max_entries: int = 4):
        self.language_model = language_model
        self.min_length = min_length
        self.max_entries = max_entries
        self.states: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def apply(self, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple[int, Any]:
        """`(prefix_length, past_key_values)` for the batch (`(0, None)` when the shared prefix is too short). The
        prefix holds unlabelled positions only and leaves at least one position."""
        from transformers import DynamicCache

        unlabelled = (labels == IGNORE_INDEX).all(0)
        # Neither a labelled position nor the one before it (the state that predicts the first answer token).
        shared = (input_ids == input_ids[:1]).all(0) & unlabelled & torch.cat([unlabelled[1:], unlabelled.new_ones(1)])
        length = min(int(shared.long().cumprod(0).sum()), input_ids.shape[1] - 1)
        if length < self.min_length:
            return 0, None
        key = tuple(input_ids[0, :length].tolist())
        states = self.states.get(key)
        if states is None:
            cache = self.language_model(input_ids=input_ids[:1, :length], use_cache=True).past_key_values
            states = [(layer.keys, layer.values) for layer in cache.layers]
            if len(self.states) >= self.max_entries:
                self.states.pop(next(iter(self.states)))
            self.states[key] = states
        past = DynamicCache()
        batch = input_ids.shape[0]
        for index, (keys, values) in enumerate(states):
            past.update(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1), index)
        return length, past


@torch.no_grad()
def build_state_cache(
    model: torch.nn.Module,
    processor: Any,
    records: Sequence[Mapping[str, Any]],
    cache_dir: str | os.PathLike,
    dtype: torch.dtype = torch.float16,
    batch_size: int = 16,
    compute_dtype: torch.dtype | None = None,
    text_field: str = "raw_response",
    system_prompt: str | None = None,
    unit_vocab_size: int = PHONEME_UNIT_VOCAB_SIZE,
    shard_size: int = 512,
    progress: bool = True,
) -> dict[str, Any]:
    """
    Runs the frozen LLM once over the text records not cached yet and stores what the speech decoder reads.

    Each record is `{id, prompt, raw_response, units, split}` (see the module docstring): the conversation is the
    processor's chat template (its system prompt unless `system_prompt` is given) with `prompt` as the user turn and
    `record[text_field]` as the answer, ended by the first end-of-turn token (the model's generation-config EOS, else
    the tokenizer's). Stored per record: the states of `model.response_states` (with the config's
    `speech_decoder_alignment`) in `dtype`, the paired `model.response_tokens` and the units. Records are run
    longest first (little padding) and written in shards of `shard_size`; a rerun skips the ids already stored.

    Args:
        model: a `LlamaOmniForConditionalGeneration` (only its LLM runs; it is not modified).
        processor: its `LlamaOmniProcessor`.
        records: the corpus records.
        cache_dir: the cache folder (created if missing).
        dtype: storage dtype of the states (default float16).
        batch_size: records per LLM call.
        compute_dtype: run the LLM in this dtype (e.g. `torch.bfloat16`, about 2x faster on CPU; a copy of the LLM is
            made); default: the model's own dtype.
        text_field: the record field holding the LLM's answer as it emitted it.
        system_prompt: the system turn (default: the processor's default system prompt).
        unit_vocab_size: units must lie in `[0, unit_vocab_size)`.
        shard_size: records per shard (the unit of resumption).
        progress: show a tqdm bar.

    Returns:
        `{"written", "skipped", "total", "tokens", "response_tokens", "seconds", "tokens_per_second",
        "response_tokens_per_second"}`: `tokens` counts the positions the LLM ran in this call (the shared system
        prefix, computed once, excluded; padding excluded).

    Raises:
        ValueError: a bad record (missing field, empty text, units out of range, duplicate id, unknown split; checked
            for all records before the LLM runs), no records, a bad `batch_size` / `shard_size`, or a cache built from
            another model or template in `cache_dir`.
    """
    from tqdm.auto import tqdm

    if not records:
        raise ValueError("build_state_cache got no records")
    for name, value in (("batch_size", batch_size), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    checked = _check_records(records, text_field, unit_vocab_size, getattr(processor, "speech_token", None))
    encoder = TextTurnEncoder(processor, _stop_token_strings(model, processor.tokenizer), system_prompt)
    cache = PhonemeStateCache(cache_dir)
    alignment = model.config.speech_decoder_alignment
    cache.open({
        "format": CACHE_FORMAT,
        "fingerprint": text_state_fingerprint(model, encoder, dtype),
        "hidden_size": int(model.config.text_config.hidden_size),
        "alignment": alignment,
        "dtype": str(dtype).replace("torch.", ""),
        "unit_vocab_size": int(unit_vocab_size),
        "text_field": text_field,
        "system_prompt": system_prompt if system_prompt is not None else getattr(processor, "default_system_prompt", None),
    })
    done = cache.ids
    todo = [r for r in checked if r["id"] not in done]
    summary: dict[str, Any] = {"written": 0, "skipped": len(checked) - len(todo), "total": len(checked), "tokens": 0,
                               "response_tokens": 0}
    start_time = time.perf_counter()
    language_model = model.model.language_model
    if compute_dtype is not None and compute_dtype != next(language_model.parameters()).dtype:
        language_model = copy.deepcopy(language_model).to(compute_dtype)
    was_training = language_model.training
    language_model.eval()
    device = next(language_model.parameters()).device
    pad_id = processor.tokenizer.pad_token_id
    pad_id = processor.tokenizer.eos_token_id if pad_id is None else pad_id
    encoded = []
    for record in todo:
        input_ids, labels = encoder.encode(record["prompt"], record["text"])
        encoded.append((record, input_ids, labels))
    encoded.sort(key=lambda item: -len(item[1]))
    prefix = _PrefixKV(language_model)
    pending: list[dict[str, Any]] = []
    bar = tqdm(total=len(encoded), desc="caching LLM states of the answers", unit="answer", disable=not progress)
    try:
        for begin in range(0, len(encoded), batch_size):
            chunk = encoded[begin : begin + batch_size]
            input_ids = pad_int_sequences([c[1] for c in chunk], pad_id).to(device)
            labels = pad_int_sequences([c[2] for c in chunk], IGNORE_INDEX).to(device)
            lengths = torch.tensor([len(c[1]) for c in chunk], device=device)
            attention_mask = (torch.arange(input_ids.shape[1], device=device)[None] < lengths[:, None]).long()
            skip, past = prefix.apply(input_ids, labels)
            hidden = language_model(
                input_ids=input_ids[:, skip:], attention_mask=attention_mask, past_key_values=past, use_cache=False
            ).last_hidden_state
            # Positions of the shared prefix hold no response state (they are unlabelled and precede the prompt's
            # last token), so the states are read from the suffix with the suffix's labels.
            states, counts = model.response_states(hidden, labels[:, skip:], alignment)
            tokens = model.response_tokens(labels[:, skip:], alignment)
            summary["tokens"] += int(lengths.sum()) - skip * len(chunk)
            for (record, _, _), s, n, t in zip(chunk, states, counts.tolist(), tokens):
                pending.append({
                    "id": record["id"],
                    "split": record["split"],
                    "states": s[:n].to("cpu", dtype),
                    "tokens": t[:n].cpu(),
                    "units": torch.tensor(record["units"], dtype=torch.long),
                })
                summary["response_tokens"] += n
            bar.update(len(chunk))
            if len(pending) >= shard_size:
                cache.add_shard(pending[:shard_size])
                summary["written"] += shard_size
                pending = pending[shard_size:]
        if pending:
            cache.add_shard(pending)
            summary["written"] += len(pending)
    finally:
        bar.close()
        language_model.train(was_training)
    seconds = time.perf_counter() - start_time
    summary["seconds"] = seconds
    summary["tokens_per_second"] = summary["tokens"] / seconds if seconds > 0 else 0.0
    summary["response_tokens_per_second"] = summary["response_tokens"] / seconds if seconds > 0 else 0.0
    if summary["written"]:
        logger.info(
            "cached %d answers (%d LLM tokens, %.0f tokens/s) in %s", summary["written"], summary["tokens"],
            summary["tokens_per_second"], cache.cache_dir,
        )
    return summary


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class PhonemeDecoderConfig:
    """
    Settings of `train_phoneme_decoder`.

    Parameters:
        learning_rate: peak learning rate of AdamW.
        weight_decay, adam_betas, max_grad_norm: the optimisation.
        warmup_steps: linear warm-up from 0; then cosine decay to `min_lr_ratio * learning_rate` at `max_steps`.
        min_lr_ratio: the learning rate at the end of the schedule, as a fraction of the peak.
        max_steps: optimizer steps in all (across resumptions); the schedule's length.
        max_minutes: wall-time budget of this call (`None`: none); training stops after the step that passes it
            (checkpoint and final evaluation follow).
        batch_tokens: most LLM states per batch, padding included (rows x longest answer).
        max_batch_size: most answers per batch (`None`: only `batch_tokens` limits).
        eval_every: evaluate every this many steps (and at the end).
        eval_max_records: evaluate on at most this many validation records (a fixed subset chosen by id hash;
            `None`: all).
        eval_decoding_kwargs: greedy decoding settings of the autoregressive decoder for the PER (default
            `{"do_sample": False, "max_new_tokens": 2 x the longest reference + 16}`); the CTC decoder takes none.
        checkpoint_every: write the resumable checkpoint every this many steps (and at the end).
        log_every: record the mean training loss every this many steps.
        seed: seeds the batch order (per epoch), the state noise and the decoder's dropout.
        state_noise_std: standard deviation of the Gaussian noise added to the cached states during training
            (augmentation; 0 disables), in units of the states' own scale (the RMS of the training states).
        skip_unreachable: drop from training the CTC answers whose units need more frames than their states give
            (`len(units) + repeats > num_states * ctc_upsample_factor`: their loss is infinite, zeroed).
        resume: continue from `<output_dir>/checkpoint` when it exists.
        progress: show a tqdm bar.
    """

    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    adam_betas: tuple[float, float] = (0.9, 0.98)
    max_grad_norm: float = 1.0
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    max_steps: int = 5000
    max_minutes: float | None = None
    batch_tokens: int = 4096
    max_batch_size: int | None = None
    eval_every: int = 500
    eval_max_records: int | None = 1000
    eval_decoding_kwargs: dict[str, Any] | None = None
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    state_noise_std: float = 0.0
    skip_unreachable: bool = True
    resume: bool = True
    progress: bool = True

    def __post_init__(self):
        positive_ints = ("max_steps", "batch_tokens", "eval_every", "checkpoint_every", "log_every")
        for name in positive_ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        for name in ("max_batch_size", "eval_max_records"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None, got {value!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int >= 0, got {self.warmup_steps!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if not self.state_noise_std >= 0:
            raise ValueError(f"state_noise_std must be >= 0, got {self.state_noise_std!r}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"max_minutes must be positive or None, got {self.max_minutes!r}")
        self.adam_betas = tuple(self.adam_betas)

    def lr_factor(self, step: int) -> float:
        """The learning rate at optimizer step `step` (0-based) as a fraction of the peak."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def decoder_config_fields(model: torch.nn.Module) -> dict[str, Any]:
    """The `LlamaOmniConfig` fields describing `model`'s speech decoder, as JSON-ready values (what
    `model.replace_speech_decoder(**fields)` rebuilds it from)."""
    config = model.config.to_dict()
    return {k: config[k] for k in _DECODER_FIELDS if k in config and config[k] is not None}


def _comparable(fields: Mapping[str, Any]) -> str:
    drop = ("transformers_version", "_name_or_path", "dtype", "torch_dtype", "architectures", "output_attentions",
            "output_hidden_states", "return_dict", "_attn_implementation_autoset")

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items() if k not in drop}
        return value

    return json.dumps(clean(fields), sort_keys=True, default=str)


def save_phoneme_decoder(model: torch.nn.Module, folder: str | os.PathLike, metrics: dict[str, Any] | None = None
                         ) -> None:
    """Writes `model`'s speech decoder to `folder`: `decoder.safetensors`, `decoder_config.json` (see
    `decoder_config_fields`) and, when given, `metrics.json`."""
    from safetensors.torch import save_file

    from modeling_llama_omni.convert_utils import unshared_copies

    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.speech_decoder.state_dict().items()}
    # tied weights (the autoregressive decoder's embeddings and head): one copy each
    save_file(unshared_copies(state), os.path.join(folder, "decoder.safetensors"))
    with open(os.path.join(folder, "decoder_config.json"), "w", encoding="utf-8") as f:
        json.dump(decoder_config_fields(model), f, indent=2, sort_keys=True, default=str)
    if metrics is not None:
        with open(os.path.join(folder, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)


def load_phoneme_decoder(model: torch.nn.Module, folder: str | os.PathLike) -> None:
    """Replaces `model`'s speech decoder by the one saved in `folder` (by `train_phoneme_decoder`: its `best/` or
    `checkpoint/` folder, or `save_phoneme_decoder`).

    Raises:
        FileNotFoundError: `folder` holds no saved decoder.
    """
    from safetensors.torch import load_file

    folder = os.fspath(folder)
    config_path = os.path.join(folder, "decoder_config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"no saved speech decoder in {folder!r} (no decoder_config.json)")
    with open(config_path, encoding="utf-8") as f:
        fields = json.load(f)
    model.replace_speech_decoder(**fields)
    model.speech_decoder.load_state_dict(load_file(os.path.join(folder, "decoder.safetensors")))


def _ctc_reachable(record: Mapping[str, Any], upsample_factor: int) -> bool:
    units = record["units"]
    needed = units.numel() + int((units[1:] == units[:-1]).sum())
    return needed <= record["states"].shape[0] * upsample_factor


def _epoch_batches(lengths: Sequence[int], config: PhonemeDecoderConfig, epoch: int) -> list[list[int]]:
    """The batches (lists of record indices) of one epoch: a seeded shuffle, then records of similar length grouped
    (sorted within pools of ~50 batches) into batches of at most `batch_tokens` padded states (and
    `max_batch_size` rows), in a seeded random order. The same for a given seed and epoch."""
    generator = torch.Generator().manual_seed(config.seed * 100003 + epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    typical = max(1, sorted(lengths)[len(lengths) // 2])
    pool = max(1, 50 * max(1, config.batch_tokens // typical))
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        current: list[int] = []
        longest = 0
        for index in sorted(order[start : start + pool], key=lambda i: lengths[i]):
            new_longest = max(longest, lengths[index])
            full = config.max_batch_size is not None and len(current) >= config.max_batch_size
            if current and (new_longest * (len(current) + 1) > config.batch_tokens or full):
                batches.append(current)
                current, new_longest = [], lengths[index]
            current.append(index)
            longest = new_longest
        if current:
            batches.append(current)
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def _collate(records: Sequence[Mapping[str, Any]], device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    states = torch.nn.utils.rnn.pad_sequence([r["states"] for r in records], batch_first=True)
    return {
        "response_hidden_states": states.to(device=device, dtype=dtype),
        "response_lengths": torch.tensor([r["states"].shape[0] for r in records], device=device),
        "unit_labels": pad_int_sequences([r["units"] for r in records], IGNORE_INDEX).to(device),
        "response_token_ids": pad_int_sequences([r["tokens"] for r in records], 0).to(device),
    }


@torch.no_grad()
def evaluate_phoneme_decoder(
    model: torch.nn.Module,
    records: Sequence[Mapping[str, Any]],
    batch_tokens: int = 4096,
    decoding_kwargs: dict[str, Any] | None = None,
) -> dict[str, float]:
    """
    The speech decoder's loss (averaged over the speech targets) and phoneme error rate (greedy decoding with
    `model.predict_units`) on cached records (see `PhonemeStateCache.load`).

    Args:
        model: the model whose speech decoder is evaluated.
        records: cached records.
        batch_tokens: most states per batch.
        decoding_kwargs: decoding settings of the autoregressive decoder (default: greedy, at most twice the
            longest reference + 16 units after the text); must be empty for CTC.

    Returns:
        `{"loss", "per", "num_records"}`.

    Raises:
        ValueError: no records.
    """
    if not records:
        raise ValueError("evaluate_phoneme_decoder got no records")
    decoder = model.speech_decoder
    was_training = decoder.training
    decoder.eval()
    parameter = next(decoder.parameters())
    device = parameter.device
    dtype = parameter.dtype
    is_ar = model.config.speech_decoder_type == "ar"
    if is_ar and decoding_kwargs is None:
        decoding_kwargs = {"do_sample": False, "max_new_tokens": 2 * max(r["units"].numel() for r in records) + 16}
    decoding_kwargs = dict(decoding_kwargs or {})
    order = sorted(range(len(records)), key=lambda i: records[i]["states"].shape[0])
    loss_sum, targets = 0.0, 0
    hypotheses: list[list[int]] = [[] for _ in records]
    batch: list[int] = []

    def run(indices: list[int]) -> None:
        nonlocal loss_sum, targets
        chosen = [records[i] for i in indices]
        inputs = _collate(chosen, device, dtype)
        output = model(**inputs)
        count = int(model.num_speech_targets(inputs["unit_labels"]))
        loss_sum += float(output.loss) * count
        targets += count
        mask = (torch.arange(inputs["response_hidden_states"].shape[1], device=device)[None]
                < inputs["response_lengths"][:, None]).long()
        units = model.predict_units(inputs["response_hidden_states"], mask, token_ids=inputs["response_token_ids"],
                                    **decoding_kwargs)
        for i, u in zip(indices, units):
            hypotheses[i] = u.tolist()

    for index in order:
        length = records[index]["states"].shape[0]
        if batch and length * (len(batch) + 1) > batch_tokens:
            run(batch)
            batch = []
        batch.append(index)
    if batch:
        run(batch)
    decoder.train(was_training)
    per = phoneme_error_rate(hypotheses, [r["units"] for r in records])
    return {"loss": loss_sum / max(1, targets), "per": per, "num_records": len(records)}


def _atomic_dir(final: str, write: Any) -> None:
    """Writes a folder with `write(tmp_folder)`, then puts it in place of `final`."""
    tmp = f"{final}.tmp{os.getpid()}"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    write(tmp)
    old = f"{final}.old{os.getpid()}"
    if os.path.exists(final):
        os.replace(final, old)
    os.replace(tmp, final)
    if os.path.exists(old):
        shutil.rmtree(old)


def train_phoneme_decoder(
    model: torch.nn.Module,
    cache_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    config: PhonemeDecoderConfig | None = None,
) -> dict[str, Any]:
    """
    Trains `model`'s speech decoder (CTC, with or without token embeddings, or autoregressive) on the cached states
    of `cache_dir` (see `build_state_cache`); everything else stays frozen. Writes to `output_dir`:
    `checkpoint/` (the latest: decoder weights and config, `trainer_state.pt` with the optimizer, scheduler, step,
    data position and random states; resumed from when `config.resume`), `best/` (the decoder with the lowest
    validation PER so far, with its `metrics.json`), `history.json` and `summary.json`.

    Args:
        model: a `LlamaOmniForConditionalGeneration` whose speech decoder predicts the cached units (e.g. after
            `model.replace_speech_decoder(unit_vocab_size=151, ...)`); its decoder is trained in place (and holds the
            last step's weights on return; load `best/` with `load_phoneme_decoder` for the best one).
        cache_dir: the cache folder.
        output_dir: where checkpoints and logs go.
        config: the settings (default `PhonemeDecoderConfig()`).

    Returns:
        `{"steps", "minutes", "steps_per_second", "best_per", "best_step", "final_per", "final_loss",
        "num_train", "num_validation", "skipped_unreachable", "resumed_from_step", "history"}`.

    Raises:
        ValueError: an empty cache, a cache without training or validation records, states of another hidden size or
            alignment than the model's, units outside the decoder's vocabulary, or a checkpoint in `output_dir`
            written for another decoder (with `resume`).
    """
    from safetensors.torch import load_file
    from tqdm.auto import tqdm

    config = config or PhonemeDecoderConfig()
    if not isinstance(config, PhonemeDecoderConfig):
        raise TypeError(f"config must be a PhonemeDecoderConfig, got {type(config).__name__}")
    output_dir = os.fspath(output_dir)
    cache = PhonemeStateCache(cache_dir)
    all_records = cache.load()
    manifest = cache.manifest
    if manifest["hidden_size"] != model.config.text_config.hidden_size:
        raise ValueError(
            f"the cache in {cache.cache_dir} holds states of size {manifest['hidden_size']}, the model's LLM has "
            f"{model.config.text_config.hidden_size}: it was built by another LLM"
        )
    if manifest["alignment"] != model.config.speech_decoder_alignment:
        raise ValueError(
            f"the cache holds the states of alignment {manifest['alignment']!r}, the model trains its decoder with "
            f"{model.config.speech_decoder_alignment!r}; rebuild the cache with this model"
        )
    train_records = [r for r in all_records if r["split"] == "train"]
    val_records = [r for r in all_records if r["split"] == "validation"]
    if not train_records or not val_records:
        raise ValueError(
            f"the cache in {cache.cache_dir} has {len(train_records)} training and {len(val_records)} validation "
            "records; training needs both (records carry split 'train' or 'validation')"
        )
    vocab = model.config.unit_vocab_size
    highest = max(int(r["units"].max()) for r in all_records)
    if highest >= vocab:
        raise ValueError(
            f"the cached units reach {highest} but the speech decoder predicts {vocab} units: replace it first, "
            f"e.g. model.replace_speech_decoder(unit_vocab_size={manifest.get('unit_vocab_size', highest + 1)}, ...)"
        )
    skipped_unreachable = 0
    if model.config.speech_decoder_type == "ctc" and config.skip_unreachable:
        reachable = [r for r in train_records if _ctc_reachable(r, model.config.ctc_upsample_factor)]
        skipped_unreachable = len(train_records) - len(reachable)
        if skipped_unreachable:
            logger.warning(
                "%d of %d training answers have more units than their states can spell with ctc_upsample_factor=%d; "
                "they are left out of training", skipped_unreachable, len(train_records),
                model.config.ctc_upsample_factor,
            )
        train_records = reachable
        if not train_records:
            raise ValueError("no training answer fits the CTC frames of its states: raise ctc_upsample_factor")
    val_records = validation_subset(val_records, config.eval_max_records)

    decoder = model.speech_decoder
    model.freeze(*model.COMPONENTS)
    model.unfreeze("speech_decoder")
    model.eval()
    parameter = next(decoder.parameters())
    device, dtype = parameter.device, parameter.dtype
    params = [p for p in decoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, betas=config.adam_betas,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, config.lr_factor)
    noise_generator = torch.Generator(device=device).manual_seed(config.seed)
    torch.manual_seed(config.seed)
    state_scale = float(torch.cat([r["states"].float().reshape(-1) for r in train_records[:256]]).pow(2).mean().sqrt())
    fields = decoder_config_fields(model)
    lengths = [r["states"].shape[0] for r in train_records]

    step = epoch = position = 0
    history: list[dict[str, Any]] = []
    best_per, best_step = math.inf, None
    checkpoint_dir = os.path.join(output_dir, "checkpoint")
    resumed_from = None
    state_path = os.path.join(checkpoint_dir, "trainer_state.pt")
    if config.resume and os.path.isfile(state_path):
        with open(os.path.join(checkpoint_dir, "decoder_config.json"), encoding="utf-8") as f:
            saved_fields = json.load(f)
        if _comparable(saved_fields) != _comparable(json.loads(json.dumps(fields, default=str))):
            raise ValueError(
                f"the checkpoint in {checkpoint_dir} was written for another speech decoder ({saved_fields}); use "
                "another output_dir, or resume=False to start over"
            )
        decoder.load_state_dict(load_file(os.path.join(checkpoint_dir, "decoder.safetensors")))
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch, position = state["step"], state["epoch"], state["position"]
        history, best_per, best_step = state["history"], state["best_per"], state["best_step"]
        noise_generator.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        resumed_from = step

    def write_checkpoint() -> None:
        def write(folder: str) -> None:
            save_phoneme_decoder(model, folder)
            torch.save({
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                "epoch": epoch, "position": position, "history": history, "best_per": best_per,
                "best_step": best_step, "noise_rng": noise_generator.get_state(), "torch_rng": torch.get_rng_state(),
            }, os.path.join(folder, "trainer_state.pt"))

        os.makedirs(output_dir, exist_ok=True)
        _atomic_dir(checkpoint_dir, write)
        write_history()

    def write_history() -> None:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "history.json"), "w", encoding="utf-8") as f:
            json.dump(history, f, indent=1)

    def run_eval() -> dict[str, float]:
        nonlocal best_per, best_step
        metrics = evaluate_phoneme_decoder(model, val_records, config.batch_tokens, config.eval_decoding_kwargs)
        decoder.train()
        entry = {"step": step, "val_loss": metrics["loss"], "per": metrics["per"],
                 "minutes": (time.perf_counter() - start) / 60}
        history.append(entry)
        if metrics["per"] < best_per:
            best_per, best_step = metrics["per"], step
            _atomic_dir(os.path.join(output_dir, "best"),
                        lambda folder: save_phoneme_decoder(model, folder, {**entry, "config": dataclasses.asdict(config)}))
        write_history()
        return metrics

    start = time.perf_counter()
    start_step = step
    decoder.train()
    losses: list[float] = []
    last_eval_step = None
    batches = _epoch_batches(lengths, config, epoch)
    bar = tqdm(total=config.max_steps, initial=step, desc="training the speech decoder", disable=not config.progress)
    try:
        while step < config.max_steps:
            if position >= len(batches):
                epoch, position = epoch + 1, 0
                batches = _epoch_batches(lengths, config, epoch)
            inputs = _collate([train_records[i] for i in batches[position]], device, dtype)
            if config.state_noise_std > 0:
                noise = torch.randn(inputs["response_hidden_states"].shape, generator=noise_generator, device=device,
                                    dtype=dtype)
                inputs["response_hidden_states"] = inputs["response_hidden_states"] + (
                    config.state_noise_std * state_scale
                ) * noise
            loss = model(**inputs).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            position += 1
            losses.append(loss.item())
            bar.update(1)
            if step % config.log_every == 0:
                history.append({"step": step, "loss": sum(losses) / len(losses), "lr": scheduler.get_last_lr()[0],
                                "epoch": epoch, "minutes": (time.perf_counter() - start) / 60})
                bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
                losses = []
            out_of_time = config.max_minutes is not None and time.perf_counter() - start > 60 * config.max_minutes
            if step % config.eval_every == 0:
                run_eval()
                last_eval_step = step
            if step % config.checkpoint_every == 0 and not out_of_time:
                write_checkpoint()
            if out_of_time:
                break
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    final = None
    if last_eval_step != step:
        final = run_eval()
    final_entry = next(e for e in reversed(history) if "per" in e)
    write_checkpoint()
    decoder.eval()
    summary = {
        "steps": step,
        "minutes": seconds / 60,
        "steps_per_second": (step - start_step) / seconds if seconds > 0 and step > start_step else 0.0,
        "best_per": best_per,
        "best_step": best_step,
        "final_per": final_entry["per"] if final is None else final["per"],
        "final_loss": final_entry["val_loss"],
        "num_train": len(train_records),
        "num_validation": len(val_records),
        "skipped_unreachable": skipped_unreachable,
        "resumed_from_step": resumed_from,
        "history": history,
    }
    with open(os.path.join(output_dir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


__all__ = [
    "PHONEME_UNIT_VOCAB_SIZE",
    "PhonemeDecoderConfig",
    "PhonemeStateCache",
    "TextTurnEncoder",
    "build_state_cache",
    "decoder_config_fields",
    "evaluate_phoneme_decoder",
    "load_phoneme_decoder",
    "phoneme_error_rate",
    "save_phoneme_decoder",
    "text_state_fingerprint",
    "train_phoneme_decoder",
]
