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
With an encoder-output cache (`trainers.stages.caches.EncoderOutputCache`) the encoder hands the model the cached
`speech_encoder_hidden_states` instead of `input_features`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

IGNORE_INDEX = -100

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
        instruction_column (`str`, *optional*): a column holding each example's own user turn (the speech
            placeholder exactly once), e.g. to mix tasks on the same audio ("<speech>\\nRepeat what I said."); an
            empty value means `instruction_prompt`.
        cache_key_column (`str`, *optional*): the column whose values key the encoder-output cache (default
            `id_column`): rows that share their audio can share one cached encoder output.
        system_prompt (`str`, *optional*): the system turn (default: the processor's default system prompt).
        max_length (`int`, *optional*): longest sequence; longer responses are cut at the end (stage 1). With units
            the example is refused instead (cut text and uncut units would disagree).
        unit_vocab_size (`int`, *optional*): units must lie in `[0, unit_vocab_size)`.
        encoder_cache (`EncoderOutputCache`, *optional*): when set (`trainers.stages.caches`; anything with
            `get(example_id) -> (frames, d_model)` tensor), the example carries the cached encoder output
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
    instruction_column: str | None = None
    cache_key_column: str | None = None
    system_prompt: str | None = None
    max_length: int | None = None
    unit_vocab_size: int | None = None
    encoder_cache: Any | None = None
    speech_downsample_rate: int | None = None
    upsample_factor: int | None = None
    end_of_turn_tokens: Sequence[str] | None = None
    _prompt: str = field(init=False, repr=False, default="")
    _prompts: dict = field(init=False, repr=False, default_factory=dict)
    _warned_ctc: bool = field(init=False, repr=False, default=False)

    def __post_init__(self):
        if self.instruction_prompt is None:
            self.instruction_prompt = self.processor.default_instruction
        self._check_instruction(self.instruction_prompt, "instruction_prompt")
        if self.speech_downsample_rate is None:
            self.speech_downsample_rate = int(self.processor.speech_downsample_rate)
        self._prompt = self.render(None)

    def _check_instruction(self, instruction: Any, what: str) -> None:
        speech_token = self.processor.speech_token
        if not isinstance(instruction, str) or instruction.count(speech_token) != 1:
            raise ValueError(
                f"{what} must contain the speech placeholder {speech_token!r} exactly once, got {instruction!r}"
            )

    def instruction_of(self, example: Mapping[str, Any]) -> str:
        """The user turn of `example`: its `instruction_column` value when set and not empty, else
        `instruction_prompt`.

        Raises:
            ValueError: the example's own instruction lacks the speech placeholder or holds it more than once.
        """
        if self.instruction_column is None:
            return self.instruction_prompt
        own = example.get(self.instruction_column)
        if own is None or own == "":
            return self.instruction_prompt
        self._check_instruction(own, f"example {example.get(self.id_column, '?')!r}: '{self.instruction_column}'")
        return own

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    def conversation(self, response: str | None, instruction: str | None = None) -> list[dict[str, Any]]:
        """The chat messages of one example (without the assistant turn when `response` is None); the user turn is
        `instruction` (default `instruction_prompt`)."""
        messages = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": instruction or self.instruction_prompt})
        if response is not None:
            messages.append({"role": "assistant", "content": response})
        return messages

    def render(self, response: str | None, instruction: str | None = None) -> str:
        """The prompt (`response=None`, with the assistant header) or the whole conversation, as text."""
        return self.processor.apply_chat_template(
            self.conversation(response, instruction), tokenize=False, add_generation_prompt=response is None
        )

    def prompt_for(self, instruction: str | None = None) -> str:
        """The rendered prompt with user turn `instruction` (default `instruction_prompt`), with one unexpanded
        speech placeholder (memoised)."""
        if not instruction or instruction == self.instruction_prompt:
            return self._prompt
        if instruction not in self._prompts:
            self._prompts[instruction] = self.render(None, instruction)
        return self._prompts[instruction]

    @property
    def prompt(self) -> str:
        """The rendered default prompt (user turn `instruction_prompt`), with one unexpanded speech placeholder: every
        example's, except those with their own user turn (`instruction_column`, see `prompt_for`)."""
        return self._prompt

    def completion(self, response: str, instruction: str | None = None) -> str:
        """The text after the prompt for `response`: the response as the template writes it, up to and including its
        first end-of-turn token (one of `end_of_turn_tokens` or the tokenizer's EOS token; the EOS token is appended
        when the template writes none).

        Raises:
            ValueError: the chat template does not render the prompt as a prefix of the conversation.
        """
        full = self.render(response, instruction)
        prompt = self.prompt_for(instruction)
        if not full.startswith(prompt):
            raise ValueError(
                "The chat template does not render the prompt (with add_generation_prompt=True) as a prefix of the "
                "conversation with the response; the response tokens cannot be told apart. Use a template where it "
                "does (the processor's 'llama3' and 'chatml' templates do)."
            )
        completion = full[len(prompt) :]
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
        instruction = self.instruction_of(example)
        prompt = self.prompt_for(instruction)
        out: dict[str, Any] = {}
        if self.encoder_cache is not None:
            states = self.encoder_cache.get(example[self.cache_key_column or self.id_column])
            num_speech = states.shape[0] // self.speech_downsample_rate
            expanded = prompt.replace(speech_token, speech_token * num_speech)
            prompt_ids = self.tokenizer(expanded, add_special_tokens=False)["input_ids"]
            out["speech_encoder_hidden_states"] = states
        else:
            try:
                batch = self.processor(
                    text=prompt, audio=example[self.speech_instruction_column], return_tensors="np"
                )
            except ValueError as e:
                raise ValueError(f"example {example_id!r}: {e}") from e
            prompt_ids = batch["input_ids"][0].tolist()
            frames = int(batch["feature_attention_mask"][0].sum())
            out["input_features"] = batch["input_features"][0, :, :frames]
        completion_ids = self.tokenizer(self.completion(response, instruction), add_special_tokens=False)["input_ids"]

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


def pad_int_sequences(sequences: Sequence[Sequence[int]], value: int, multiple: int | None = None) -> torch.Tensor:
    """`(batch, longest)` int64 tensor of `sequences`, right-padded with `value` (the length rounded up to a
    multiple of `multiple` when given)."""
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
            "input_ids": pad_int_sequences(
                [f["input_ids"] for f in features], self.pad_token_id, self.pad_to_multiple_of
            ),
            "labels": pad_int_sequences([f["labels"] for f in features], IGNORE_INDEX, self.pad_to_multiple_of),
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
                batch["unit_labels"] = pad_int_sequences(units, IGNORE_INDEX, None)
        return batch


__all__ = ["IGNORE_INDEX", "LlamaOmniCollator", "SpeechInstructionEncoder", "check_columns", "pad_int_sequences"]
