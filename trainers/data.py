# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""From speech-instruction examples to LLaMA-Omni model inputs, shared by the stage-1 and stage-2 trainers.

One example of the speech-instruction dataset (columns `id, speech_instruction, response, response_units, ...`)
becomes::

    prompt      = chat template(system, user = instruction prompt with the speech placeholder) + assistant header
    completion  = what the template renders for the assistant turn `response` (+ its end-of-turn token)
    input_ids   = tokens(prompt with the placeholder expanded to one token per speech embedding) + tokens(completion)
    labels      = -100 over the prompt, the completion's tokens after it
    unit_labels = response_units (stage 2)

`SpeechInstructionEncoder` does this for one example; `LlamaOmniCollator` pads a batch (right padding). The
collator encodes raw dataset rows on the fly (audio decoding and log-mel features happen in the data-loader
workers), so the dataset needs no preprocessing pass and the trainers run with `remove_unused_columns=False`.

`EncoderOutputCache` stores the frozen speech encoder's output per example id on disk (safetensors): with it, the
collator hands the model `speech_encoder_hidden_states` instead of `input_features` and the encoder is skipped.
It caches the encoder output, not the adaptor output, because stage 1 trains the adaptor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

IGNORE_INDEX = -100
DEFAULT_DATASET_COLUMNS = {
    "id": "id",
    "speech_instruction": "speech_instruction",
    "response": "response",
    "response_units": "response_units",
}

logger = logging.getLogger(__name__)


def check_columns(dataset: Any, columns: Iterable[str | None], dataset_name: str = "dataset") -> None:
    """Raises `ValueError` naming the missing columns (and the ones present) if `dataset` lacks any of `columns`.

    `None` entries are ignored. Works for `datasets.Dataset`, `IterableDataset` (when its features are known) and
    anything with `column_names`.
    """
    present = getattr(dataset, "column_names", None)
    if present is None:
        return  # e.g. an IterableDataset with unknown features: checked when the first example is encoded
    missing = [c for c in columns if c is not None and c not in present]
    if missing:
        raise ValueError(
            f"The {dataset_name} has no column(s) {missing}; its columns are {list(present)}. Set the column names "
            "in the config (speech_instruction_column, response_column, units_column, id_column) or rename the "
            "dataset's columns."
        )


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
        if len(set(map(str, ids))) != len(ids):
            raise ValueError(
                f"the dataset's '{id_column}' column has duplicate ids; the encoder cache needs unique ids"
            )
        todo = [i for i in range(process_index, len(ids), num_processes) if ids[i] not in self]
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
    adaptor, LLM: config and per-tensor sums), the feature extractor, the rendered prompt and the storage dtype."""
    backbone = model.model if hasattr(model, "model") else model
    h = hashlib.sha256(speech_encoder_fingerprint(backbone, encoder.processor.feature_extractor, dtype).encode())
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
    Stage 2's cache of the frozen model's outputs: per example id, the LLM hidden states that predicted each response
    token (`states`, `(num_response_tokens, hidden_size)`), the response tokens themselves (`tokens`, which the
    autoregressive speech decoder also reads) and the checked response units (`units`). With everything but the
    speech decoder frozen these never change, so the LLM runs once per example instead of once per epoch.
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
        and writes their response states and units.

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
            states, lengths = model._response_states(hidden, labels)
            tokens = model._response_tokens(labels)
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
            "unit_labels": _pad_1d([e["units"].tolist() for e in entries], IGNORE_INDEX, None),
        }
        if all("tokens" in e for e in entries):
            batch["response_token_ids"] = _pad_1d([e["tokens"].tolist() for e in entries], 0, None)
        elif self.require_tokens:
            raise ValueError(
                f"The response-state cache {self.cache.cache_dir} holds no response tokens (it was written by an "
                "older version); the autoregressive speech decoder needs them: delete the cache to rebuild it"
            )
        return batch


# ----------------------------------------------------------------------------------------------------------------------
# One example -> model inputs
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class SpeechInstructionEncoder:
    """
    Turns one speech-instruction example into unpadded model inputs.

    Args:
        processor (`LlamaOmniProcessor`): tokenizer, feature extractor and chat template of the model.
        speech_instruction_column (`str`): the audio column (datasets `Audio`, a `{"array", "sampling_rate"}` dict,
            a file path, ...: anything `processor.load_audio` accepts).
        response_column (`str`): the text response (the target of stage 1, the text the decoder reads in stage 2).
        units_column (`str`, *optional*): the response's speech units (stage 2); `None` for no `unit_labels`.
        id_column (`str`): example ids (needed by the encoder-output cache).
        instruction_prompt (`str`, *optional*): the user turn, holding the speech placeholder exactly once
            (default: the processor's `default_instruction`, "<speech>\\nPlease directly answer the questions in the
            user's speech.").
        system_prompt (`str`, *optional*): the system turn (default: the processor's default system prompt).
        max_length (`int`, *optional*): longest sequence; longer responses are cut at the end (stage 1). With units
            the example is refused instead (cut text and uncut units would disagree).
        unit_vocab_size (`int`, *optional*): units must lie in `[0, unit_vocab_size)`.
        encoder_cache (`EncoderOutputCache`, *optional*): when set, the example carries the cached encoder output
            (`speech_encoder_hidden_states`) instead of `input_features`; the audio is not decoded.
        speech_downsample_rate (`int`, *optional*): the model's adaptor rate (default: the processor's); needed to
            count speech embeddings from cached encoder outputs.
        upsample_factor (`int`, *optional*): the model's `ctc_upsample_factor`; when set, an example whose units
            cannot fit the CTC frames of its response is reported (once).
        end_of_turn_tokens (`list[str]`, *optional*): tokens generation stops at (e.g. the model's generation-config
            EOS ids as tokens); the target ends at the first of them (or the tokenizer's EOS token).

    Raises (at construction):
        ValueError: the instruction prompt does not hold the speech placeholder exactly once, or the chat template
            does not render the prompt as a prefix of the whole conversation.
    """

    processor: Any
    speech_instruction_column: str = "speech_instruction"
    response_column: str = "response"
    units_column: str | None = None
    id_column: str = "id"
    instruction_prompt: str | None = None
    system_prompt: str | None = None
    max_length: int | None = None
    unit_vocab_size: int | None = None
    encoder_cache: EncoderOutputCache | None = None
    speech_downsample_rate: int | None = None
    upsample_factor: int | None = None
    end_of_turn_tokens: Sequence[str] | None = None
    _prompt: str = field(init=False, repr=False, default="")
    _warned_ctc: bool = field(init=False, repr=False, default=False)

    def __post_init__(self):
        speech_token = self.processor.speech_token
        if self.instruction_prompt is None:
            self.instruction_prompt = self.processor.default_instruction
        if self.instruction_prompt.count(speech_token) != 1:
            raise ValueError(
                f"instruction_prompt must contain the speech placeholder {speech_token!r} exactly once, got "
                f"{self.instruction_prompt!r}"
            )
        if self.speech_downsample_rate is None:
            self.speech_downsample_rate = int(self.processor.speech_downsample_rate)
        self._prompt = self.render(None)

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def conversation(self, response: str | None) -> list[dict[str, Any]]:
        """The chat messages of one example (without the assistant turn when `response` is None)."""
        messages = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": self.instruction_prompt})
        if response is not None:
            messages.append({"role": "assistant", "content": response})
        return messages

    def render(self, response: str | None) -> str:
        """The prompt (`response=None`, with the assistant header) or the whole conversation, as text."""
        return self.processor.apply_chat_template(
            self.conversation(response), tokenize=False, add_generation_prompt=response is None
        )

    @property
    def prompt(self) -> str:
        """The rendered prompt, with one (unexpanded) speech placeholder; the same for every example."""
        return self._prompt

    def completion(self, response: str) -> str:
        """The text after the prompt for `response`: the response as the template writes it, up to and including its
        first end-of-turn token (one of `end_of_turn_tokens` or the tokenizer's EOS token; the EOS token is appended
        when the template writes none).

        Raises:
            ValueError: the chat template does not render the prompt as a prefix of the conversation.
        """
        full = self.render(response)
        if not full.startswith(self._prompt):
            raise ValueError(
                "The chat template does not render the prompt (with add_generation_prompt=True) as a prefix of the "
                "conversation with the response; the response tokens cannot be told apart. Use a template where it "
                "does (the processor's 'llama3' and 'chatml' templates do)."
            )
        completion = full[len(self._prompt) :]
        stops = [t for t in (*(self.end_of_turn_tokens or ()), self.tokenizer.eos_token) if t]
        found = [(completion.index(t), t) for t in stops if t in completion]
        if found:
            # Generation stops at the end-of-turn token: what a template writes after it (ChatML's "\n") is no target.
            index, token = min(found)
            completion = completion[: index + len(token)]
        elif stops:
            completion = completion + stops[-1]
        return completion

    def __call__(self, example: Mapping[str, Any]) -> dict[str, Any]:
        """
        Args:
            example: one dataset row.

        Returns:
            `input_ids` (list of int), `labels` (list of int), and `input_features` (`np.ndarray` `(n_mels, frames)`)
            or `speech_encoder_hidden_states` (`torch.Tensor` `(frames, d_model)`), plus `unit_labels` (list of int)
            with `units_column`.

        Raises:
            ValueError: a missing column, a non-string response, bad audio, units out of range, or a prompt longer
                than `max_length`; the message names the example.
        """
        example_id = example.get(self.id_column, "?")
        for column in (self.speech_instruction_column, self.response_column, self.units_column):
            if column is not None and column not in example:
                raise ValueError(
                    f"example {example_id!r} has no column '{column}' (it has {sorted(example)}); set the column "
                    "names in the config"
                )
        response = example[self.response_column]
        if not isinstance(response, str) or not response.strip():
            raise ValueError(f"example {example_id!r}: '{self.response_column}' must be a non-empty string")

        speech_token = self.processor.speech_token
        out: dict[str, Any] = {}
        if self.encoder_cache is not None:
            states = self.encoder_cache.get(example[self.id_column])
            num_speech = states.shape[0] // self.speech_downsample_rate
            expanded = self._prompt.replace(speech_token, speech_token * num_speech)
            prompt_ids = self.tokenizer(expanded, add_special_tokens=False)["input_ids"]
            out["speech_encoder_hidden_states"] = states
        else:
            try:
                batch = self.processor(
                    text=self._prompt, audio=example[self.speech_instruction_column], return_tensors="np"
                )
            except ValueError as e:
                raise ValueError(f"example {example_id!r}: {e}") from e
            prompt_ids = batch["input_ids"][0].tolist()
            frames = int(batch["feature_attention_mask"][0].sum())
            out["input_features"] = batch["input_features"][0, :, :frames]
        completion_ids = self.tokenizer(self.completion(response), add_special_tokens=False)["input_ids"]

        if self.max_length is not None and len(prompt_ids) + len(completion_ids) > self.max_length:
            if len(prompt_ids) >= self.max_length:
                raise ValueError(
                    f"example {example_id!r}: the prompt alone has {len(prompt_ids)} tokens (with its speech "
                    f"placeholders), max_length is {self.max_length}; raise max_length or shorten the audio"
                )
            if self.units_column is not None:
                raise ValueError(
                    f"example {example_id!r}: prompt + response are {len(prompt_ids) + len(completion_ids)} tokens, "
                    f"more than max_length={self.max_length}, and the response's speech units cannot be cut to "
                    "match a cut response; raise max_length or filter out long examples"
                )
            completion_ids = completion_ids[: self.max_length - len(prompt_ids)]
        out["input_ids"] = prompt_ids + completion_ids
        out["labels"] = [IGNORE_INDEX] * len(prompt_ids) + completion_ids

        if self.units_column is not None:
            out["unit_labels"] = self.check_units(example[self.units_column], example_id, len(completion_ids))
        return out

    def check_units(self, units: Any, example_id: Any, num_response_tokens: int) -> list[int]:
        """Validates one example's units and returns them as a list of int.

        Raises:
            ValueError: not a sequence of integers, or a unit outside `[0, unit_vocab_size)`.
        """
        if isinstance(units, (str, bytes)) or not isinstance(units, (Sequence, np.ndarray, torch.Tensor)):
            raise ValueError(f"example {example_id!r}: '{self.units_column}' must be a list of ints, got {type(units)}")
        array = np.asarray(units)
        if array.size and array.dtype.kind not in "iu":
            raise ValueError(f"example {example_id!r}: '{self.units_column}' must hold integers, got {array.dtype}")
        array = array.astype(np.int64).reshape(-1)
        if array.size and self.unit_vocab_size is not None:
            low, high = int(array.min()), int(array.max())
            if low < 0 or high >= self.unit_vocab_size:
                raise ValueError(
                    f"example {example_id!r}: speech units must lie in [0, {self.unit_vocab_size}) (the model's "
                    f"unit_vocab_size), got values in [{low}, {high}]"
                )
        if not self._warned_ctc and self.upsample_factor is not None:
            # CTC needs at least one frame per unit, plus a blank between repeated units.
            needed = array.size + int((array[1:] == array[:-1]).sum()) if array.size else 0
            if needed > num_response_tokens * self.upsample_factor:
                self._warned_ctc = True
                logger.warning(
                    "example %r: %d units need %d CTC frames but the %d response tokens give only %d "
                    "(ctc_upsample_factor=%d); its CTC loss is infinite and zeroed. (Warned once.)",
                    example_id, array.size, needed, num_response_tokens,
                    num_response_tokens * self.upsample_factor, self.upsample_factor,
                )
        return array.tolist()


# ----------------------------------------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------------------------------------


def _pad_1d(sequences: Sequence[Sequence[int]], value: int, multiple: int | None) -> torch.Tensor:
    length = max(len(s) for s in sequences)
    if multiple:
        length = -(-length // multiple) * multiple
    out = torch.full((len(sequences), length), value, dtype=torch.long)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


@dataclass
class LlamaOmniCollator:
    """
    Pads a batch for LLaMA-Omni training (right padding): `input_ids` with `pad_token_id`, `attention_mask`,
    `labels` and `unit_labels` with -100, and either `input_features` `(batch, n_mels, max_frames)` with
    `feature_attention_mask`, or cached `speech_encoder_hidden_states` `(batch, max_frames, d_model)` with
    `speech_encoder_lengths`.

    Args:
        pad_token_id (`int`): the tokenizer's pad id.
        example_encoder (`SpeechInstructionEncoder`, *optional*): when set, raw dataset rows are encoded first;
            examples that already hold `input_ids` are only padded.
        pad_to_multiple_of (`int`, *optional*): pad the text length to a multiple of this.
    """

    pad_token_id: int
    example_encoder: SpeechInstructionEncoder | None = None
    pad_to_multiple_of: int | None = None

    def __call__(self, examples: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise ValueError("LlamaOmniCollator got an empty batch")
        features = [
            example if "input_ids" in example or self.example_encoder is None else self.example_encoder(example)
            for example in examples
        ]
        return self.pad(features)

    def pad(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Pads encoded examples (see `SpeechInstructionEncoder.__call__`) into a batch of tensors."""
        for key in ("input_ids", "labels"):
            if any(key not in f for f in features):
                raise ValueError(f"every example needs '{key}' (pass raw rows with an example_encoder)")
        batch = {
            "input_ids": _pad_1d([f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of),
            "labels": _pad_1d([f["labels"] for f in features], IGNORE_INDEX, self.pad_to_multiple_of),
        }
        lengths = torch.tensor([len(f["input_ids"]) for f in features])
        batch["attention_mask"] = (torch.arange(batch["input_ids"].shape[1])[None, :] < lengths[:, None]).long()

        cached = ["speech_encoder_hidden_states" in f for f in features]
        if all(cached):
            states = [torch.as_tensor(f["speech_encoder_hidden_states"]) for f in features]
            batch["speech_encoder_hidden_states"] = torch.nn.utils.rnn.pad_sequence(states, batch_first=True)
            batch["speech_encoder_lengths"] = torch.tensor([s.shape[0] for s in states], dtype=torch.long)
        elif any(cached):
            raise ValueError("a batch mixes cached encoder outputs and input_features")
        elif all("input_features" in f for f in features):
            feats = [np.asarray(f["input_features"], dtype=np.float32) for f in features]
            n_mels, frames = feats[0].shape[0], max(x.shape[-1] for x in feats)
            input_features = torch.zeros(len(feats), n_mels, frames)
            feature_mask = torch.zeros(len(feats), frames, dtype=torch.long)
            for i, x in enumerate(feats):
                input_features[i, :, : x.shape[-1]] = torch.from_numpy(x)
                feature_mask[i, : x.shape[-1]] = 1
            batch["input_features"] = input_features
            batch["feature_attention_mask"] = feature_mask
        if any("unit_labels" in f for f in features):
            units = [f.get("unit_labels", []) for f in features]
            if max(len(u) for u in units) == 0:
                batch["unit_labels"] = torch.full((len(units), 1), IGNORE_INDEX, dtype=torch.long)
            else:
                batch["unit_labels"] = _pad_1d(units, IGNORE_INDEX, None)
        return batch


__all__ = [
    "IGNORE_INDEX",
    "EncoderOutputCache",
    "LlamaOmniCollator",
    "ResponseStateCache",
    "ResponseStateCollator",
    "SpeechInstructionEncoder",
    "check_columns",
    "speech_encoder_fingerprint",
]
