# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Stage 2 of LLaMA-Omni training (arXiv 2409.06666, Sec. 2.5): the speech decoder learns to speak.

Everything is frozen but the speech decoder. Each example is the speech instruction, the text response and the
response's speech units; the model runs the prompt and the response through the frozen LLM (teacher forcing) and
the decoder reads the hidden states that predicted each response token, h(last prompt token), h(y_1), ...,
h(y_{n-1}): the states it reads when streaming (DESIGN.md), so training and inference agree. The loss is the
model's `speech_loss`, whatever the decoder type:

- LLaMA-Omni's CTC decoder (`speech_decoder_type="ctc"`): the CTC loss (summed over the batch and divided by the
  number of target units, as in the original);
- LLaMA-Omni2's autoregressive decoder (`"ar"`, arXiv 2505.02625): the teacher-forced cross-entropy of the TTS
  language model over the interleaved Read-R-Write-W sequence (R fused text states, W speech tokens, ...,
  `<sep>`, the rest of the speech, EOS), summed over the target speech tokens and EOS and divided by their number.

Either is normalised here over the whole accumulated batch (`model.num_speech_targets`), across processes too, so
that data-parallel training and gradient accumulation give the gradient of one big batch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import Trainer, TrainingArguments

from .common import LlamaOmniTrainerMixin, SpeechDataConfigMixin, load_model_and_processor, unwrapped_llama_omni
from .caches import ResponseStateCache, ResponseStateCollator, response_state_fingerprint


@dataclass
class Stage2Config(SpeechDataConfigMixin, TrainingArguments):
    r"""
    Configuration of `LlamaOmniStage2Trainer`: `TrainingArguments` plus the fields of `SpeechDataConfigMixin`
    (columns, prompts, encoder-output cache) and:

    Parameters:
        units_column (`str`, defaults to `"response_units"`): the response's speech units (ints in
            `[0, unit_vocab_size)`).
        max_length (`int`, *optional*): longest prompt + response in tokens; longer examples are refused (their
            units cannot be cut to match a cut response). `None`: no limit.
        cache_response_states (`bool`, defaults to `False`): run the frozen model once per example, store the hidden
            states the decoder reads (and the checked units) on disk, and train the decoder on them: every epoch
            after the first costs only the decoder. Implies nothing else is trained (always so in stage 2).
        response_state_cache_dir (`str`, *optional*): where that cache lives; default
            `<output_dir>/response_state_cache`.
        response_state_cache_batch_size (`int`, defaults to 8): examples per model call while building it.
        new_speech_decoder (`dict` or `str`, *optional*): replace the model's speech decoder by a freshly
            initialised one with these `LlamaOmniConfig` fields before training (a mapping in a YAML recipe, a JSON
            object on the command line), e.g. `{speech_decoder_type: ar, tts_config: {...}, tts_sep_token_id: ...}`:
            how a LLaMA-Omni2-style model (autoregressive speech decoder) starts stage 2 from stage 1's output
            (stage 1 does not train the speech decoder). The saved folder has the new decoder.

    Defaults that differ from `TrainingArguments`: `remove_unused_columns=False` (required: the collator reads the
    raw columns), `learning_rate=2e-4` (the paper's), `prediction_loss_only=True` (evaluation reports the speech loss
    without gathering logits).
    """

    units_column: str = field(default="response_units", metadata={"help": "Speech units of the response."})
    max_length: int | None = field(default=None, metadata={"help": "Longest prompt + response, in tokens."})
    cache_response_states: bool = field(
        default=False, metadata={"help": "Run the frozen model once per example and train on its cached states."}
    )
    response_state_cache_dir: str | None = field(
        default=None, metadata={"help": "Response-state cache folder (default: <output_dir>/response_state_cache)."}
    )
    response_state_cache_batch_size: int = field(default=8, metadata={"help": "Examples per model call."})
    new_speech_decoder: dict | str | None = field(
        default=None,
        metadata={"help": "Replace the speech decoder by a fresh one with these config fields (JSON object)."},
    )
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator reads the raw dataset columns."}
    )
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (the paper: 2e-4)."})
    prediction_loss_only: bool = field(default=True, metadata={"help": "Evaluate the loss only."})

    def __post_init__(self):
        super().__post_init__()
        if not self.units_column:
            raise ValueError("units_column is required for stage 2")
        if self.response_state_cache_batch_size < 1:
            raise ValueError(
                f"response_state_cache_batch_size must be >= 1, got {self.response_state_cache_batch_size}"
            )
        if isinstance(self.new_speech_decoder, str):
            try:
                self.new_speech_decoder = json.loads(self.new_speech_decoder)
            except ValueError as error:
                raise ValueError(
                    f"new_speech_decoder must be a JSON object, got {self.new_speech_decoder!r}"
                ) from error
        if self.new_speech_decoder is not None and not isinstance(self.new_speech_decoder, dict):
            raise ValueError(f"new_speech_decoder must be a mapping of config fields, got {self.new_speech_decoder!r}")
        self._check_data_fields()


class LlamaOmniStage2Trainer(LlamaOmniTrainerMixin, Trainer):
    """
    Stage-2 trainer: trains the speech decoder (CTC or autoregressive, as the model's `speech_decoder_type` says) on
    (speech instruction, response, response units) examples, with everything else frozen. Start it from stage 1's
    output folder (for the autoregressive decoder: a folder whose config has `speech_decoder_type="ar"`).

    Args:
        model: a `LlamaOmniForConditionalGeneration`, or the path of a model folder (model + processor).
        args (`Stage2Config`): the configuration.
        train_dataset, eval_dataset: `datasets.Dataset`s with the columns named in `args`.
        processor (`LlamaOmniProcessor`, *optional*): loaded from the model folder when `model` is a path.
        callbacks, optimizers, ...: as for `Trainer`.

    `save_model()` writes a complete model folder (model + processor).

    Raises:
        ValueError: missing dataset columns, a model and processor that do not belong together.
    """

    # compute_loss normalises the speech loss over the whole accumulated (and cross-process) batch itself.
    loss_is_scaled_for_ga = True

    def __init__(
        self,
        model: Any,
        args: Stage2Config,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processor: Any = None,
        callbacks: list | None = None,
        optimizers: tuple = (None, None),
        **kwargs,
    ):
        if not isinstance(args, Stage2Config):
            raise TypeError(f"args must be a Stage2Config, got {type(args).__name__}")
        model, processor = load_model_and_processor(model, processor)
        self._check_datasets(args, train_dataset, eval_dataset, units_column=args.units_column)
        self.processor = processor
        if args.new_speech_decoder:
            model.replace_speech_decoder(**args.new_speech_decoder)
        model.freeze(*model.COMPONENTS)
        model.unfreeze("speech_decoder")
        collator = self._make_collator(
            model, processor, args, units_column=args.units_column, max_length=args.max_length
        )
        super().__init__(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processor.tokenizer,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        if args.cache_encoder_outputs:
            self._setup_encoder_cache(train_dataset, eval_dataset)
        if args.cache_response_states:
            self._setup_response_state_cache(train_dataset, eval_dataset)

    def _setup_response_state_cache(self, train_dataset, eval_dataset) -> None:
        """Builds (or reuses) the response-state cache for the train and eval datasets (processes share the rows)
        and switches the collator to it."""
        args = self.args
        if args.id_column not in train_dataset.column_names:
            raise ValueError(f"cache_response_states=True needs the id column {args.id_column!r} in the dataset")
        model = unwrapped_llama_omni(self.model)
        collator = self.data_collator
        fingerprint = response_state_fingerprint(model, collator.example_encoder, next(model.parameters()).dtype)
        cache = ResponseStateCache(
            args.response_state_cache_dir or os.path.join(args.output_dir, "response_state_cache"), fingerprint
        )
        evals = eval_dataset if isinstance(eval_dataset, dict) else {"eval": eval_dataset}
        for dataset in [train_dataset, *evals.values()]:
            if dataset is not None:
                cache.build_from_model(
                    model, collator, dataset, id_column=args.id_column,
                    batch_size=args.response_state_cache_batch_size,
                    process_index=self.accelerator.process_index, num_processes=self.accelerator.num_processes,
                    progress=not args.disable_tqdm,
                )
        self.accelerator.wait_for_everyone()
        self.data_collator = ResponseStateCollator(
            cache, id_column=args.id_column, require_tokens=model.config.speech_decoder_type == "ar"
        )
        self.response_state_cache = cache

    def get_batch_samples(self, epoch_iterator, num_batches: int, device: torch.device):
        """The next `num_batches` micro-batches and their number of speech targets (`model.num_speech_targets`: units
        for CTC, speech tokens and EOS for the autoregressive decoder; summed over processes when
        `average_tokens_across_devices`): the speech loss's normaliser for one optimizer step."""
        batch_samples = []
        for _ in range(num_batches):
            try:
                batch_samples.append(next(epoch_iterator))
            except StopIteration:
                break
        if not batch_samples:
            return batch_samples, None
        model = unwrapped_llama_omni(self.model)
        num_units = sum(model.num_speech_targets(batch["unit_labels"]) for batch in batch_samples).to(device)
        if self.args.average_tokens_across_devices and self.args.world_size > 1:
            num_units = self.accelerator.gather(num_units).sum()
        return batch_samples, num_units

    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        """The model's `speech_loss` (the CTC loss, or the autoregressive decoder's cross-entropy). With
        `num_items_in_batch` (speech targets of the whole accumulated batch, see `get_batch_samples`), the
        micro-batch's summed loss divided by it (times the number of processes, which DDP averages over); else the
        model's per-micro-batch value."""
        inputs = {**inputs, "use_cache": False}
        outputs = model(**inputs)
        loss = outputs.speech_loss
        if loss is None:
            raise ValueError("the batch has no unit_labels: stage 2 needs the response's speech units")
        if num_items_in_batch is not None and self.model.training:
            local_units = unwrapped_llama_omni(self.model).num_speech_targets(inputs["unit_labels"])
            loss = loss * local_units / torch.as_tensor(num_items_in_batch).clamp(min=1)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * self.accelerator.num_processes
        elif self.model.training:
            loss = loss / self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss


__all__ = ["LlamaOmniStage2Trainer", "Stage2Config"]
