# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluation of LLaMA-Omni models with the paper's metrics: `llama-omni evaluate`.

- `evaluation.metrics`: ASR-WER, ASR-CER, distillMOS, DNSMOS and UTMOS as `evaluate` modules loaded by path;
- `evaluation.judge`: the content / style rubric and the pluggable LLM judge (local model or OpenAI-compatible URL);
- `evaluation.eval_sets`: the offline held-out set and the builder of the paper's set;
- `evaluation.cascade`: the ASR -> LLM -> TTS baseline;
- `evaluation.runner` / `evaluation.report`: the run (resumable) and what it writes;
- `evaluation.cli`: the command.
"""

from .runner import EvaluationConfig, EvaluationRun, run_evaluation

__all__ = ["EvaluationConfig", "EvaluationRun", "run_evaluation"]
