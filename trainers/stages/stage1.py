# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Stage 1 of LLaMA-Omni training (arXiv 2409.06666, Sec. 2.5): speech instruction -> text response.

The speech encoder is frozen, the speech adaptor is trained, the LLM is trained fully, with LoRA, or kept frozen;
the speech decoder is not touched. The loss is the cross-entropy of the response tokens.

How the loss is computed: `SFTTrainer` (TRL 1.16) ignores the loss a model returns and computes its own through
a "fused LM head": it calls `model.base_model(**inputs)` for the last hidden states and projects them through
`model.get_output_embeddings()` in tiles. `LlamaOmniForConditionalGeneration.base_model` is `LlamaOmniModel`,
which takes the audio inputs (`input_features` or cached `speech_encoder_hidden_states`), splices the speech
embeddings in and returns the LLM's last hidden state, and `lm_head` is the text head, so TRL's own loss is the
model's text loss (checked in tests/test_trainers.py), computed without materialising the logits. No
`compute_loss` override is needed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from trl import SFTConfig, SFTTrainer

from .common import LlamaOmniTrainerMixin, SpeechDataConfigMixin, load_model_and_processor, unwrapped_llama_omni
from .caches import SharedPrefixCache

LLM_MODES = ("full", "lora", "frozen")
DEFAULT_LORA_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_SUBFOLDER = "adapter"


@dataclass
class Stage1Config(SpeechDataConfigMixin, SFTConfig):
    r"""
    Configuration of `LlamaOmniStage1Trainer`: TRL's `SFTConfig` (all `TrainingArguments`) plus the fields of
    `SpeechDataConfigMixin` (columns, prompts, encoder-output cache) and:

    Parameters:
        freeze_speech_encoder (`bool`, defaults to `True`): keep the Whisper encoder frozen (the paper does).
        llm_mode (`str`, defaults to `"full"`): how the LLM is trained: `"full"` (all its weights, the paper),
            `"lora"` (LoRA adapters on its linear layers, merged into the saved model) or `"frozen"` (only the
            adaptor learns).
        lora_r, lora_alpha, lora_dropout (defaults 16, 32, 0.05): LoRA rank, scaling and dropout.
        lora_target_modules (`list[str]`): names of the LLM's linear layers that get adapters (only layers inside
            the LLM match, never the speech encoder's or the speech decoder's).
        cache_prompt_prefix (`bool`, defaults to `False`): with a frozen LLM (`llm_mode="frozen"`), run the text
            prefix that every example of a batch shares (the system prompt and the start of the user turn, up to
            the speech) through the LLM once, keep its key/value states, and train on the rest of each sequence
            only. Same loss and gradients; with a long system prompt about half the LLM's work per step.

    Defaults that differ from `SFTConfig`: `remove_unused_columns=False` and
    `dataset_kwargs={"skip_prepare_dataset": True}` (the collator builds the inputs from the raw columns; both are
    required), `activation_checkpointing=False` (TRL turns it on by default; on a frozen encoder it only costs time,
    and tiny CPU runs do not need it: the 8B recipe turns it on), `bf16=False` (TRL's default of True would make CPU
    runs bf16 unasked; the GPU recipes set it), `logging_steps=10`, `learning_rate=2e-5` (the paper's).
    """

    freeze_speech_encoder: bool = field(default=True, metadata={"help": "Keep the speech encoder frozen."})
    llm_mode: str = field(
        default="full", metadata={"help": "How the LLM is trained.", "choices": list(LLM_MODES)}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: float = field(default=32, metadata={"help": "LoRA alpha (scaling = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] = field(
        default_factory=lambda: list(DEFAULT_LORA_TARGET_MODULES),
        metadata={"help": "LLM linear layers that get LoRA adapters."},
    )
    cache_prompt_prefix: bool = field(
        default=False,
        metadata={"help": "Frozen LLM only: compute the shared text prefix (system prompt) once and reuse its KV."},
    )

    # Defaults different from SFTConfig.
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator reads the raw dataset columns."}
    )
    dataset_kwargs: dict[str, Any] | str | None = field(
        default_factory=lambda: {"skip_prepare_dataset": True},
        metadata={"help": "Must hold skip_prepare_dataset=True (set automatically)."},
    )
    activation_checkpointing: bool | None = field(
        default=False, metadata={"help": "Recompute activations in the backward pass to save memory."}
    )
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing."}
    )
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision (GPU recipes set it)."})

    def __post_init__(self):
        if self.llm_mode not in LLM_MODES:
            raise ValueError(f"llm_mode must be one of {LLM_MODES}, got {self.llm_mode!r}")
        if isinstance(self.lora_target_modules, str):
            self.lora_target_modules = [m.strip() for m in self.lora_target_modules.split(",") if m.strip()]
        super().__post_init__()
        if self.dataset_kwargs is None:
            self.dataset_kwargs = {}
        self.dataset_kwargs = {**self.dataset_kwargs, "skip_prepare_dataset": True}
        if self.packing or self.padding_free:
            raise ValueError("packing / padding_free are not supported for LLaMA-Omni (speech inputs per example)")
        if self.cache_encoder_outputs and not self.freeze_speech_encoder:
            raise ValueError(
                "cache_encoder_outputs=True needs freeze_speech_encoder=True (a trained encoder's outputs change)"
            )
        if self.cache_prompt_prefix and self.llm_mode != "frozen":
            raise ValueError(
                f"cache_prompt_prefix=True needs llm_mode='frozen' (with llm_mode={self.llm_mode!r} the LLM learns, "
                "so the prefix's key/value states change at every step)"
            )
        self._check_data_fields()


def lora_config(args: Stage1Config):
    """The `peft.LoraConfig` of `args`: adapters on the LLM's `lora_target_modules` only, and the speech adaptor
    trained fully (`modules_to_save`)."""
    from peft import LoraConfig

    if not args.lora_target_modules:
        raise ValueError("llm_mode='lora' needs lora_target_modules")
    names = "|".join(re.escape(m) for m in args.lora_target_modules)
    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        # A regex is matched against the whole module name: only linear layers inside the LLM get adapters.
        target_modules=rf"model\.language_model\..*\.({names})",
        modules_to_save=["speech_adaptor"],
        task_type="CAUSAL_LM",
    )


def merged_lora_state_dict(peft_model) -> dict[str, torch.Tensor]:
    """
    The state dict of the model with its LoRA adapters merged (W + B A * scaling), under the plain model's names,
    computed out of place: the PEFT model is left as it is (training can go on).

    Raises:
        ValueError: an adapter type other than plain LoRA (DoRA, ...).
    """
    from peft.tuners.lora import LoraLayer

    base = peft_model.get_base_model()
    adapter = peft_model.active_adapter
    deltas = {}
    for name, module in base.named_modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            if module.lora_variant.get(adapter) is not None:
                raise ValueError("only plain LoRA adapters can be merged on save")
            deltas[f"{name}.base_layer.weight"] = module.get_delta_weight(adapter)
    peft_key = re.compile(r"\.lora_[A-Za-z_]+\.|\.original_module\.")
    state_dict = {}
    for key, value in base.state_dict().items():
        if peft_key.search(key):
            continue
        if key in deltas:
            value = value + deltas[key].to(value.dtype)
        key = key.replace(".base_layer.", ".").replace(f".modules_to_save.{adapter}.", ".")
        state_dict[key] = value.detach()
    return state_dict


class LlamaOmniStage1Trainer(LlamaOmniTrainerMixin, SFTTrainer):
    """
    Stage-1 trainer: `SFTTrainer` on (speech instruction, text response) pairs.

    Args:
        model: a `LlamaOmniForConditionalGeneration`, or the path of a model folder (model + processor).
        args (`Stage1Config`): the configuration.
        train_dataset, eval_dataset: `datasets.Dataset`s with the columns named in `args` (audio, response; the
            id column with `cache_encoder_outputs`).
        processor (`LlamaOmniProcessor`, *optional*): loaded from the model folder when `model` is a path.
        callbacks, optimizers, ...: as for `SFTTrainer`.

    What is trained: the speech adaptor always; the LLM (with `lm_head`) by `args.llm_mode`; the speech encoder
    unless `freeze_speech_encoder`; never the speech decoder. `save_model()` writes a complete model folder (model,
    processor); in LoRA mode the adapters are merged into the saved weights and also kept in `adapter/`
    (checkpoints hold the adapters only, for resuming; under FSDP / DeepSpeed the final folder holds the adapters
    in `adapter/` and the processor, to be merged with `PeftModel.from_pretrained(...).merge_and_unload()`).

    Raises:
        ValueError: missing dataset columns, a model and processor that do not belong together, bad config values.
    """

    def __init__(
        self,
        model: Any,
        args: Stage1Config,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processor: Any = None,
        callbacks: list | None = None,
        optimizers: tuple = (None, None),
        **kwargs,
    ):
        if not isinstance(args, Stage1Config):
            raise TypeError(f"args must be a Stage1Config, got {type(args).__name__}")
        model, processor = load_model_and_processor(model, processor)
        self._check_datasets(args, train_dataset, eval_dataset, units_column=None)
        self.processor = processor
        self.prompt_prefix_cache = SharedPrefixCache() if args.cache_prompt_prefix else None
        self._configure_trainable(model, args)
        peft_config = lora_config(args) if args.llm_mode == "lora" else None
        collator = self._make_collator(model, processor, args, units_column=None, max_length=args.max_length)
        super().__init__(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processor.tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        if args.cache_encoder_outputs:
            self._setup_encoder_cache(train_dataset, eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """`SFTTrainer.compute_loss`, on the part after the cached shared prefix when `cache_prompt_prefix`."""
        if self.prompt_prefix_cache is not None:
            inputs = self.prompt_prefix_cache.apply(unwrapped_llama_omni(model), inputs)
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    @staticmethod
    def _configure_trainable(model, args: Stage1Config) -> None:
        model.freeze("speech_decoder")
        model.set_trainable("speech_encoder", trainable=not args.freeze_speech_encoder)
        model.unfreeze("speech_adaptor")
        # In LoRA mode PEFT freezes the LLM itself and adds the adapters.
        model.set_trainable("language_model", trainable=args.llm_mode == "full")

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Saves a complete model folder. In LoRA mode, a call from outside the training loop (the final save)
        writes the merged model (loadable with `from_pretrained` without PEFT) and the adapters in `adapter/`;
        checkpoints keep the adapters only, which is what resuming needs."""
        from accelerate.utils import is_peft_model

        if _internal_call or not is_peft_model(self.accelerator.unwrap_model(self.model)):
            return super().save_model(output_dir, _internal_call=_internal_call)
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        peft_model = self.accelerator.unwrap_model(self.model)
        if self.is_fsdp_enabled or self.is_deepspeed_enabled:
            # Sharded parameters: Trainer gathers and saves the adapters; merge them offline with
            # `PeftModel.from_pretrained(base, f"{output_dir}/adapter").merge_and_unload()`.
            super().save_model(os.path.join(output_dir, ADAPTER_SUBFOLDER), _internal_call=_internal_call)
            self._save_processor(output_dir)
            return
        state_dict = merged_lora_state_dict(peft_model)
        if self.args.should_save:
            unwrapped_llama_omni(peft_model).save_pretrained(output_dir, state_dict=state_dict)
            peft_model.save_pretrained(os.path.join(output_dir, ADAPTER_SUBFOLDER))
        self._save_processor(output_dir)


__all__ = ["LLM_MODES", "LlamaOmniStage1Trainer", "Stage1Config", "lora_config", "merged_lora_state_dict"]
