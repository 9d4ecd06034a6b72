# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What the stage-1 and stage-2 trainers share: the data fields of their configs, model loading, the collator and
encoder-output cache set-up, and saving a complete model folder (model + processor)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch

from .caches import EncoderOutputCache, speech_encoder_fingerprint
from .collator import LlamaOmniCollator, SpeechInstructionEncoder, check_columns

CACHE_DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class SpeechDataConfigMixin:
    """
    Dataset and prompt fields shared by `Stage1Config` and `Stage2Config`.

    Parameters:
        speech_instruction_column (`str`, defaults to `"speech_instruction"`): audio of the spoken instruction.
        response_column (`str`, defaults to `"response"`): the text response.
        id_column (`str`, defaults to `"id"`): unique example ids (keys of the encoder-output cache).
        instruction_prompt (`str`, *optional*): the user turn, with the speech placeholder (`<speech>`) once;
            default: the processor's default instruction (the paper's "<speech>\\nPlease directly answer the
            questions in the user's speech.").
        system_prompt (`str`, *optional*): the system turn; default: the processor's default system prompt.
        instruction_column (`str`, *optional*): a column holding each example's own user turn (speech placeholder
            once; empty = `instruction_prompt`), to mix tasks on the same audio (e.g. answering and repeating).
        encoder_cache_key_column (`str`, *optional*): the column keying the encoder-output cache (default
            `id_column`): rows sharing their audio share one cached encoder output.
        cache_encoder_outputs (`bool`, defaults to `False`): precompute the frozen speech encoder's outputs once,
            store them on disk per example id, and train on them (the encoder is skipped at every step).
        encoder_cache_dir (`str`, *optional*): where the cache lives; default `<output_dir>/encoder_cache`.
        encoder_cache_dtype (`str`, defaults to `"auto"`): storage dtype of the cache: `"auto"` (the encoder's),
            `"float32"`, `"bfloat16"` or `"float16"`.
        encoder_cache_batch_size (`int`, defaults to 8): clips per encoder call while building the cache.
    """

    speech_instruction_column: str = field(
        default="speech_instruction", metadata={"help": "Audio column of the spoken instruction."}
    )
    response_column: str = field(default="response", metadata={"help": "Text response column."})
    id_column: str = field(default="id", metadata={"help": "Unique example id column (encoder-cache keys)."})
    instruction_prompt: str | None = field(
        default=None,
        metadata={"help": "User turn with the speech placeholder once (default: the processor's instruction)."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "System turn (default: the processor's default system prompt)."}
    )
    instruction_column: str | None = field(
        default=None,
        metadata={"help": "Column of per-example user turns (speech placeholder once; empty = instruction_prompt)."},
    )
    encoder_cache_key_column: str | None = field(
        default=None, metadata={"help": "Column keying the encoder-output cache (default: id_column)."}
    )
    cache_encoder_outputs: bool = field(
        default=False,
        metadata={"help": "Precompute the frozen speech encoder's outputs once (on disk, per example id)."},
    )
    encoder_cache_dir: str | None = field(
        default=None, metadata={"help": "Encoder-output cache folder (default: <output_dir>/encoder_cache)."}
    )
    encoder_cache_dtype: str = field(
        default="auto",
        metadata={"help": "Cache storage dtype.", "choices": list(CACHE_DTYPES)},
    )
    encoder_cache_batch_size: int = field(default=8, metadata={"help": "Clips per encoder call when caching."})

    def _check_data_fields(self) -> None:
        if self.encoder_cache_dtype not in CACHE_DTYPES:
            raise ValueError(
                f"encoder_cache_dtype must be one of {list(CACHE_DTYPES)}, got {self.encoder_cache_dtype!r}"
            )
        if self.encoder_cache_batch_size < 1:
            raise ValueError(f"encoder_cache_batch_size must be >= 1, got {self.encoder_cache_batch_size}")
        if self.remove_unused_columns:
            raise ValueError(
                "remove_unused_columns must be False for LLaMA-Omni training: the collator reads the raw dataset "
                "columns (audio, response, units) and builds the model inputs itself"
            )


def load_model_and_processor(model: Any, processor: Any = None, dtype: str | torch.dtype | None = None):
    """
    `model` as a `LlamaOmniForConditionalGeneration` and its `LlamaOmniProcessor`.

    Args:
        model: a `LlamaOmniForConditionalGeneration`, or the path of a model folder (model + processor).
        processor: the processor; loaded from the folder when `model` is a path and `processor` is None.
        dtype: the dtype to load a folder in ("auto", "float32", "bfloat16", ... or a `torch.dtype`).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: no processor, or the model is not a LLaMA-Omni model.
    """
    from modeling_llama_omni import LlamaOmniForConditionalGeneration
    from processing import LlamaOmniProcessor

    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"model folder {path!r} not found: give a folder written by save_pretrained (a converted "
                "checkpoint, a model assembled from a Whisper encoder and an LLM, or a previous stage's output)"
            )
        if processor is None:
            processor = LlamaOmniProcessor.from_pretrained(path)
        kwargs = {} if dtype is None else {"dtype": dtype}
        model = LlamaOmniForConditionalGeneration.from_pretrained(path, **kwargs)
    if not isinstance(model, LlamaOmniForConditionalGeneration):
        raise ValueError(f"expected a LlamaOmniForConditionalGeneration, got {type(model).__name__}")
    if processor is None:
        raise ValueError("pass the model's LlamaOmniProcessor (processor=...)")
    if processor.speech_token_id != model.config.speech_token_id:
        raise ValueError(
            f"the processor's speech token id ({processor.speech_token_id}) differs from the model's "
            f"speech_token_id ({model.config.speech_token_id}): they do not belong together"
        )
    if processor.speech_downsample_rate != model.config.speech_downsample_rate:
        raise ValueError(
            f"the processor's speech_downsample_rate ({processor.speech_downsample_rate}) differs from the model's "
            f"({model.config.speech_downsample_rate}): they do not belong together"
        )
    return model, processor


def _stop_tokens(model, tokenizer) -> list[str]:
    """The tokens `generate()` stops at (the generation config's EOS ids), as strings."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    return [t for t in tokenizer.convert_ids_to_tokens(ids) if t is not None]


def unwrapped_llama_omni(model: torch.nn.Module) -> torch.nn.Module:
    """The `LlamaOmniForConditionalGeneration` inside a PEFT and/or DDP wrapper."""
    while hasattr(model, "module") and not hasattr(model, "speech_decoder"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


class LlamaOmniTrainerMixin:
    """Shared by the stage trainers: builds the collator (and encoder-output cache), saves complete folders."""

    processor: Any

    @staticmethod
    def _make_collator(model, processor, args, units_column: str | None, max_length: int | None) -> LlamaOmniCollator:
        pad_token_id = processor.tokenizer.pad_token_id
        if pad_token_id is None:
            pad_token_id = processor.tokenizer.eos_token_id
        if pad_token_id is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token to pad with")
        encoder = SpeechInstructionEncoder(
            processor=processor,
            speech_instruction_column=args.speech_instruction_column,
            response_column=args.response_column,
            units_column=units_column,
            id_column=args.id_column,
            instruction_prompt=args.instruction_prompt,
            instruction_column=args.instruction_column,
            cache_key_column=args.encoder_cache_key_column,
            system_prompt=args.system_prompt,
            max_length=max_length,
            unit_vocab_size=model.config.unit_vocab_size,
            speech_downsample_rate=model.config.speech_downsample_rate,
            # The CTC frame-count check; the autoregressive decoder has no such limit.
            upsample_factor=(
                model.config.ctc_upsample_factor
                if units_column and model.config.speech_decoder_type == "ctc"
                else None
            ),
            end_of_turn_tokens=_stop_tokens(model, processor.tokenizer),
        )
        return LlamaOmniCollator(pad_token_id=pad_token_id, example_encoder=encoder)

    @staticmethod
    def _check_datasets(args, train_dataset, eval_dataset, units_column: str | None) -> None:
        if train_dataset is None:
            raise ValueError("a train_dataset is required")
        columns = [args.speech_instruction_column, args.response_column, units_column, args.instruction_column]
        if args.cache_encoder_outputs:
            columns += [args.id_column, args.encoder_cache_key_column]
        check_columns(train_dataset, columns, "train dataset")
        evals = eval_dataset if isinstance(eval_dataset, dict) else {"eval": eval_dataset}
        for name, dataset in evals.items():
            if dataset is not None:
                check_columns(dataset, columns, f"{name} dataset")

    def _setup_encoder_cache(self, train_dataset, eval_dataset) -> None:
        """Builds (or reuses) the encoder-output cache for the train and eval datasets and switches the collator to
        it. Several processes share the work (rows `rank::world_size`), then wait for each other."""
        args = self.args
        plugin = getattr(self.accelerator.state, "deepspeed_plugin", None)
        if plugin is not None and getattr(plugin, "zero_stage", None) == 3:
            raise ValueError(
                "cache_encoder_outputs=True is not supported with DeepSpeed ZeRO-3 (the encoder's parameters are "
                "partitioned); use ZeRO-2, FSDP or DDP"
            )
        model = unwrapped_llama_omni(self.model)
        speech_encoder = model.model.speech_encoder
        if any(p.requires_grad for p in speech_encoder.parameters()):
            raise ValueError("cache_encoder_outputs=True needs a frozen speech encoder (freeze_speech_encoder=True)")
        dtype = CACHE_DTYPES[args.encoder_cache_dtype] or next(speech_encoder.parameters()).dtype
        cache_dir = args.encoder_cache_dir or os.path.join(args.output_dir, "encoder_cache")
        fingerprint = speech_encoder_fingerprint(speech_encoder, self.processor.feature_extractor, dtype)
        cache = EncoderOutputCache(cache_dir, fingerprint)
        evals = eval_dataset if isinstance(eval_dataset, dict) else {"eval": eval_dataset}
        for dataset in [train_dataset, *evals.values()]:
            if dataset is None:
                continue
            cache.build(
                speech_encoder,
                self.processor,
                dataset,
                speech_column=args.speech_instruction_column,
                id_column=args.encoder_cache_key_column or args.id_column,
                shared_ids=args.encoder_cache_key_column is not None,
                batch_size=args.encoder_cache_batch_size,
                dtype=dtype,
                process_index=self.accelerator.process_index,
                num_processes=self.accelerator.num_processes,
            )
        self.accelerator.wait_for_everyone()
        self.data_collator.example_encoder.encoder_cache = cache
        self.encoder_cache = cache

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """`Trainer.save_model`, plus the processor (feature extractor, tokenizer, chat template): every checkpoint
        and output folder loads with `AutoModel.from_pretrained` and `AutoProcessor.from_pretrained`."""
        super().save_model(output_dir, _internal_call=_internal_call)
        self._save_processor(output_dir)

    def _save_processor(self, output_dir: str | None) -> None:
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if self.args.should_save:
            self.processor.save_pretrained(output_dir)


__all__ = ["LlamaOmniTrainerMixin", "SpeechDataConfigMixin", "load_model_and_processor", "unwrapped_llama_omni"]
