# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""LLaMA-Omni's own training stages (arXiv 2409.06666, Sec. 2.5), each a config dataclass next to its trainer, in
the TRL style:

- `stage1`: `Stage1Config` (an `SFTConfig`) and `LlamaOmniStage1Trainer` (an `SFTTrainer`): speech instruction ->
  text response;
- `stage2`: `Stage2Config` (`TrainingArguments`) and `LlamaOmniStage2Trainer` (a `Trainer`): the speech decoder;
- `adaptor_warmup`: `AdaptorWarmupConfig` and `warmup_adaptor`, a CTC warm-up of the speech adaptor before stage 1;
- `common`: what the stage trainers share (data fields of their configs, model loading, saving complete folders);
- `collator`: one example -> model inputs, and batches; `caches`: on-disk caches of the frozen parts' outputs.

The command-line scripts that run them from YAML recipes are in `trainers.scripts`.
"""
