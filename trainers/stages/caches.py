# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""On-disk caches of what the frozen parts of the model compute, so that training skips them.

`EncoderOutputCache` stores the frozen speech encoder's output per example id (safetensors): with it, the
collator hands the model `speech_encoder_hidden_states` instead of `input_features` and the encoder is skipped.
It caches the encoder output, not the adaptor output, because stage 1 trains the adaptor. `ResponseStateCache`
(stage 2) stores the frozen LLM's hidden states of each response, which `ResponseStateCollator` batches.
`SharedPrefixCache` keeps the key/value states of the text prefix every example shares (the system prompt) in
memory, for a frozen LLM.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .collator import IGNORE_INDEX, LlamaOmniCollator, pad_int_sequences

# ----------------------------------------------------------------------------------------------------------------------
# Encoder-output cache
# ----------------------------------------------------------------------------------------------------------------------


def speech_encoder_fingerprint(speech_encoder: torch.nn.Module, feature_extractor: Any, dtype: torch.dtype) -> str:
    """A short hash of everything the cached encoder outputs depend on: the encoder's config and weights (per-tensor
    shape and sums), the feature extractor's settings and the storage dtype."""
    h = hashlib.sha256()
    config = getattr(speech_encoder, "config", None)
    if config is not None:
        h.update(config.to_json_string(use_diff=False).encode())
    with torch.no_grad():
        for name, tensor in speech_encoder.state_dict().items():
            t = tensor.detach().float()
            h.update(f"{name}{tuple(t.shape)}{float(t.sum()):.8e}{float(t.abs().sum()):.8e}".encode())
    fe = feature_extractor.to_dict() if hasattr(feature_extractor, "to_dict") else {}
    fe = {k: v for k, v in fe.items() if k in ("feature_size", "sampling_rate", "hop_length", "n_fft", "chunk_length")}
    h.update(json.dumps(fe, sort_keys=True).encode())
    h.update(str(dtype).encode())
    return h.hexdigest()[:16]


class EncoderOutputCache:
    """
    An on-disk cache of the speech encoder's outputs, one safetensors file per example id:
    `cache_dir/states/<sha1(id)[:2]>/<sha1(id)>.safetensors` holding `hidden_states` `(num_frames, d_model)` (valid
    frames only). `cache_dir/manifest.json` records the fingerprint of the encoder and feature extractor; a cache
    built by another encoder is refused.

    Args:
        cache_dir: the folder (created if missing).
        fingerprint: see `speech_encoder_fingerprint`.

    Raises:
        ValueError: `cache_dir` holds a cache with another fingerprint.
    """

    MANIFEST = "manifest.json"

    def __init__(self, cache_dir: str | os.PathLike, fingerprint: str):
        self.cache_dir = os.fspath(cache_dir)
        self.fingerprint = fingerprint
        manifest_path = os.path.join(self.cache_dir, self.MANIFEST)
        if os.path.isfile(manifest_path):
            with open(manifest_path, encoding="utf-8") as f:
                found = json.load(f).get("fingerprint")
            if found != fingerprint:
                raise ValueError(
                    f"The encoder-output cache in {self.cache_dir} was built by another speech encoder or feature "
                    f"extractor (fingerprint {found}, expected {fingerprint}). Delete it or choose another "
                    "encoder_cache_dir."
                )

    def path(self, example_id: Any) -> str:
        """The file of `example_id`."""
        digest = hashlib.sha1(str(example_id).encode()).hexdigest()
        return os.path.join(self.cache_dir, "states", digest[:2], digest + ".safetensors")

    def __contains__(self, example_id: Any) -> bool:
        return os.path.isfile(self.path(example_id))

    def get(self, example_id: Any) -> torch.Tensor:
        """The cached encoder output `(num_frames, d_model)` of `example_id`.

        Raises:
            KeyError: the example is not cached (build the cache with `build` first).
        """
        from safetensors.torch import load_file

        path = self.path(example_id)
        if not os.path.isfile(path):
            raise KeyError(
                f"example id {example_id!r} is not in the encoder-output cache {self.cache_dir}; build the cache for "
                "this dataset first (the trainers do it when cache_encoder_outputs=True)"
            )
        return load_file(path)["hidden_states"]

    def put(self, example_id: Any, hidden_states: torch.Tensor) -> None:
        """Writes one example (atomically: a temporary file, then a rename)."""
        from safetensors.torch import save_file

        path = self.path(example_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        save_file({"hidden_states": hidden_states.contiguous()}, tmp, metadata={"id": str(example_id)})
        os.replace(tmp, path)

    def write_manifest(self) -> None:
        os.makedirs(self.cache_dir, exist_ok=True)
        path = os.path.join(self.cache_dir, self.MANIFEST)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"fingerprint": self.fingerprint, "format": "safetensors, one file per example"}, f)
        os.replace(tmp, path)

    @torch.no_grad()
    def build(
        self,
        speech_encoder: torch.nn.Module,
        processor: Any,
        dataset: Any,
        speech_column: str,
        id_column: str,
        batch_size: int = 8,
        dtype: torch.dtype | None = None,
        process_index: int = 0,
        num_processes: int = 1,
        shared_ids: bool = False,
    ) -> int:
        """
        Encodes the examples of `dataset` that are not cached yet and writes them.

        Args:
            speech_encoder: the model's speech encoder (`model.model.speech_encoder`); run in eval mode.
            processor: the `LlamaOmniProcessor` (audio loading and log-mel features).
            dataset: rows with `speech_column` and `id_column`.
            batch_size: clips per encoder call.
            dtype: storage dtype (default: the encoder's).
            process_index, num_processes: this process encodes rows `process_index::num_processes` (several
                processes build one cache together).
            shared_ids: rows may share an id (the column is an audio key, rows with one key hold the same audio);
                each id is encoded once, from its first row. Otherwise duplicate ids are refused.

        Returns:
            The number of examples encoded by this process.

        Raises:
            ValueError: duplicate example ids, or bad audio (the message names the example).
        """
        was_training = speech_encoder.training
        speech_encoder.eval()
        param = next(speech_encoder.parameters())
        dtype = dtype or param.dtype
        if process_index == 0:
            self.write_manifest()
        ids = list(dataset[id_column]) if hasattr(dataset, "column_names") else [row[id_column] for row in dataset]
        if shared_ids:
            first: dict[str, int] = {}
            for index, key in enumerate(map(str, ids)):
                first.setdefault(key, index)
            rows_to_encode = sorted(first.values())
        elif len(set(map(str, ids))) != len(ids):
            raise ValueError(
                f"the dataset's '{id_column}' column has duplicate ids; the encoder cache needs unique ids (or a key "
                "column shared by rows with the same audio, with shared_ids=True)"
            )
        else:
            rows_to_encode = list(range(len(ids)))
        todo = [i for i in rows_to_encode[process_index::num_processes] if ids[i] not in self]
        written = 0
        for start in range(0, len(todo), batch_size):
            rows = [dataset[i] for i in todo[start : start + batch_size]]
            clips = []
            for row in rows:
                try:
                    clips.append(processor.load_audio(row[speech_column]))
                except ValueError as e:
                    raise ValueError(f"example {row[id_column]!r}, column '{speech_column}': {e}") from e
            features, mask = processor.extract_features(clips)
            output = speech_encoder(
                torch.from_numpy(features).to(param.device, param.dtype),
                attention_mask=torch.from_numpy(mask).to(param.device),
            )
            for row, states, length in zip(rows, output.last_hidden_state, output.output_lengths.tolist()):
                self.put(row[id_column], states[: int(length)].to("cpu", dtype))
                written += 1
        speech_encoder.train(was_training)
        return written


# ----------------------------------------------------------------------------------------------------------------------
# Stage 2: LLM hidden-state cache
# ----------------------------------------------------------------------------------------------------------------------


def response_state_fingerprint(model: torch.nn.Module, encoder: Any, dtype: torch.dtype) -> str:
    """A short hash of everything the cached response states depend on: the frozen part of the model (encoder,
    adaptor, LLM: config and per-tensor sums), the feature extractor, the rendered prompt, the storage dtype and the
    speech decoder's training alignment (`config.speech_decoder_alignment`: which states are cached)."""
    backbone = model.model if hasattr(model, "model") else model
    h = hashlib.sha256(speech_encoder_fingerprint(backbone, encoder.processor.feature_extractor, dtype).encode())
    alignment = getattr(getattr(model, "config", None), "speech_decoder_alignment", "predicting")
    if alignment != "predicting":  # caches written before the field existed keep their fingerprint
        h.update(f"alignment={alignment}".encode())
    h.update(encoder.render("{response}").encode())
    h.update(json.dumps(encoder.end_of_turn_tokens or []).encode())
    return h.hexdigest()[:16]


class SharedPrefixCache:
    """
    The key/value states of a frozen LLM for the text prefix that every row of a batch shares (the system prompt and
    the start of the user turn, up to the speech), computed once and reused: `apply(model, inputs)` cuts the prefix
    off `input_ids` (and `labels`) and passes its states as `past_key_values`, expanded to the batch. The attention
    mask keeps its full length and the positions continue after the prefix, so the outputs for the remaining
    positions, the loss and the gradients of everything before the LLM are those of the full sequences.

    Only valid while the LLM does not change (stage 1 with a frozen LLM, stage 2's caching pass).

    Args:
        min_length: the shortest shared prefix worth caching (tokens); shorter ones are left in place.
        max_entries: distinct prefixes kept (the oldest is dropped).
    """

    def __init__(self, min_length: int = 8, max_entries: int = 4):
        self.min_length = min_length
        self.max_entries = max_entries
        self.states: dict[tuple[int, ...], list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def shared_length(self, model: torch.nn.Module, inputs: dict[str, Any]) -> int:
        """Length of the prefix shared by all rows: same tokens, unpadded, unlabelled, no speech placeholder
        (0 when shorter than `min_length`); at least one position is always left."""
        input_ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        first = input_ids[0]
        shared = (input_ids == first[None]).all(0) & (first != model.config.speech_token_id)
        if mask is not None:
            shared &= (mask == 1).all(0)
        if inputs.get("labels") is not None:
            shared &= (inputs["labels"] == IGNORE_INDEX).all(0)
        length = min(int(shared.long().cumprod(0).sum()), input_ids.shape[1] - 1)
        return length if length >= self.min_length else 0

    def apply(self, model: torch.nn.Module, inputs: dict[str, Any]) -> dict[str, Any]:
        """`inputs` (a collated batch for `model`, a `LlamaOmniForConditionalGeneration`) without the shared
        prefix, with its states as `past_key_values`; `inputs` unchanged when there is no such prefix.

        Raises:
            ValueError: the LLM's parameters require gradients (its states would change at every step).
        """
        from transformers import DynamicCache

        if inputs.get("past_key_values") is not None or inputs["input_ids"].shape[1] < 2:
            return inputs
        length = self.shared_length(model, inputs)
        if not length:
            return inputs
        input_ids = inputs["input_ids"]
        key = tuple(input_ids[0, :length].tolist())
        states = self.states.get(key)
        if states is None:
            language_model = model.model.language_model
            if any(p.requires_grad for p in language_model.parameters()):
                raise ValueError("a shared-prefix cache needs a frozen LLM; its parameters require gradients")
            with torch.no_grad():
                cache = language_model(input_ids=input_ids[:1, :length], use_cache=True).past_key_values
            states = [(layer.keys, layer.values) for layer in cache.layers]
            if len(self.states) >= self.max_entries:
                self.states.pop(next(iter(self.states)))
            self.states[key] = states
        batch = input_ids.shape[0]
        past = DynamicCache()
        for index, (keys, values) in enumerate(states):
            past.update(keys.expand(batch, -1, -1, -1), values.expand(batch, -1, -1, -1), index)
        out = {**inputs, "input_ids": input_ids[:, length:], "past_key_values": past}
        if inputs.get("labels") is not None:
            out["labels"] = inputs["labels"][:, length:]
        return out


class ResponseStateCache(EncoderOutputCache):
    """
    Stage 2's cache of the frozen model's outputs: per example id, the LLM hidden states the speech decoder reads for
    each response token (`states`, `(num_response_tokens, hidden_size)`: the states that predicted the tokens, or
    those at the tokens, per the model's `config.speech_decoder_alignment`), the response tokens paired with them
    (`tokens`, which the autoregressive speech decoder also reads) and the checked response units (`units`). With
    everything but the speech decoder frozen these never change, so the LLM runs once per example instead of once per
    epoch.
    Same layout and fingerprint check as `EncoderOutputCache`.
    """

    def put(  # type: ignore[override]
        self, example_id: Any, states: torch.Tensor, units: torch.Tensor, tokens: torch.Tensor | None = None
    ) -> None:
        from safetensors.torch import save_file

        path = self.path(example_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        tensors = {"states": states.contiguous(), "units": units.to(torch.long).contiguous()}
        if tokens is not None:
            tensors["tokens"] = tokens.to(torch.long).contiguous()
        save_file(tensors, tmp, metadata={"id": str(example_id)})
        os.replace(tmp, path)

    def get(self, example_id: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        """`{"states", "units"}` (and `"tokens"`, in caches written since they are stored) of `example_id`.

        Raises:
            KeyError: the example is not cached.
        """
        from safetensors.torch import load_file

        path = self.path(example_id)
        if not os.path.isfile(path):
            raise KeyError(f"example id {example_id!r} is not in the response-state cache {self.cache_dir}")
        return load_file(path)

    @torch.no_grad()
    def build_from_model(  # the signature differs from EncoderOutputCache.build on purpose
        self,
        model: torch.nn.Module,
        collator: LlamaOmniCollator,
        dataset: Any,
        id_column: str,
        batch_size: int = 8,
        dtype: torch.dtype | None = None,
        process_index: int = 0,
        num_processes: int = 1,
        progress: bool = True,
    ) -> int:
        """
        Runs the frozen model over the examples of `dataset` not cached yet (rows `process_index::num_processes`)
        and writes their response states (with `model.config.speech_decoder_alignment`), tokens and units.

        Returns:
            The number of examples written by this process.
        """
        from tqdm.auto import tqdm

        was_training = model.training
        model.eval()
        param = next(model.parameters())
        if process_index == 0:
            self.write_manifest()
        ids = list(dataset[id_column]) if hasattr(dataset, "column_names") else [row[id_column] for row in dataset]
        if len(set(map(str, ids))) != len(ids):
            raise ValueError(f"the dataset's '{id_column}' column has duplicate ids; the cache needs unique ids")
        todo = [i for i in range(process_index, len(ids), num_processes) if ids[i] not in self]
        written = 0
        bar = tqdm(total=len(todo), desc="caching LLM response states", disable=not progress or process_index != 0)
        prefix_cache = SharedPrefixCache()  # the frozen LLM runs the system prompt once
        for start in range(0, len(todo), batch_size):
            rows = [dataset[i] for i in todo[start : start + batch_size]]
            batch = collator(rows)
            units = batch.pop("unit_labels")
            batch = {k: (v.to(param.device, param.dtype) if torch.is_floating_point(v) else v.to(param.device))
                     for k, v in batch.items()}
            batch = prefix_cache.apply(model, batch)
            labels = batch.pop("labels")
            hidden = model.model(**batch, use_cache=False).last_hidden_state
            alignment = model.config.speech_decoder_alignment
            states, lengths = model.response_states(hidden, labels, alignment)
            tokens = model.response_tokens(labels, alignment)
            for row, s, n, u, t in zip(rows, states, lengths.tolist(), units, tokens):
                self.put(row[id_column], s[: int(n)].to("cpu", dtype or s.dtype), u[u >= 0].cpu(), t[: int(n)].cpu())
                written += 1
            bar.update(len(rows))
        bar.close()
        model.train(was_training)
        return written


@dataclass
class ResponseStateCollator:
    """Batches cached response states (see `ResponseStateCache`) by example id: `response_hidden_states`
    `(batch, max_len, hidden)`, `response_lengths`, `unit_labels` (padded with -100) and, when the cache holds them,
    `response_token_ids` (padded with 0): the inputs of `LlamaOmniForConditionalGeneration.forward`'s cached stage-2
    path.

    Args:
        cache (`ResponseStateCache`): the cache.
        id_column (`str`): the example id column.
        require_tokens (`bool`, defaults to `False`): raise when an entry has no response tokens (the
            autoregressive speech decoder needs them; caches written before they were stored lack them).
    """

    cache: ResponseStateCache
    id_column: str = "id"
    require_tokens: bool = False

    def __call__(self, examples: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("ResponseStateCollator got an empty batch")
        entries = [self.cache.get(example[self.id_column]) for example in examples]
        states = [e["states"].float() for e in entries]
        batch = {
            "response_hidden_states": torch.nn.utils.rnn.pad_sequence(states, batch_first=True),
            "response_lengths": torch.tensor([s.shape[0] for s in states], dtype=torch.long),
            "unit_labels": pad_int_sequences([e["units"].tolist() for e in entries], IGNORE_INDEX, None),
        }
        if all("tokens" in e for e in entries):
            batch["response_token_ids"] = pad_int_sequences([e["tokens"].tolist() for e in entries], 0, None)
        elif self.require_tokens:
            raise ValueError(
                f"The response-state cache {self.cache.cache_dir} holds no response tokens (it was written by an "
                "older version); the autoregressive speech decoder needs them: delete the cache to rebuild it"
            )
        return batch


__all__ = [
    "EncoderOutputCache",
    "ResponseStateCache",
    "ResponseStateCollator",
    "SharedPrefixCache",
    "response_state_fingerprint",
    "speech_encoder_fingerprint",
]
