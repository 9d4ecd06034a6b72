# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation of LLaMA-Omni models with the paper's metrics: `llama-omni evaluate`.

- `evaluation.schema`: the evaluation report's JSON schema, its validation and the metric names (the model card
  reads it from here: `llama-omni push model --eval-json`);
- `evaluation.metrics`: ASR-WER and ASR-CER (one module, two configurations), distillMOS, DNSMOS and UTMOS as
  `evaluate` modules loaded by path;
- `evaluation.judge`: the content / style rubric and the pluggable LLM judge (local model or OpenAI-compatible URL);
- `evaluation.eval_sets`: the offline held-out set and the builder of the paper's set;
- `evaluation.cascade`: the ASR -> LLM -> TTS baseline (a `(text, audio)` stream timed by the inference runtime);
- `evaluation.runner` / `evaluation.report`: the run (resumable; every answer through `inference`) and what it
  writes;
- `evaluation.cli`: the command.
"""

from .runner import EvaluationConfig, EvaluationRun, run_evaluation

__all__ = ["EvaluationConfig", "EvaluationRun", "run_evaluation"]
