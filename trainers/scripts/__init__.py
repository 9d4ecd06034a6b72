# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The training scripts, apart from the trainers they run:

- `train`: `llama-omni train stage1|stage2|vocoder --config RECIPE.yaml [--field value ...]`;
- `build_default`: `llama-omni build-default`, the end-to-end build of the embedded default model;
- `utils`: what they share: `ModelArguments`, `DataArguments`, `load_datasets`, and `parse_recipe`, the one parser
  of every recipe (TRL's `TrlParser`).

Launchers that run a module use `trainers.cli` (`accelerate launch -m trainers.cli train stage1 ...`).
"""
