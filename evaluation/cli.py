# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni evaluate`: the paper's metrics as a command.

    llama-omni evaluate --model DIR --eval-set heldout [--omega 10,20,40] [--judge URL|FOLDER|smollm2|none]
                        [--output-dir DIR] [--limit N] [--asr whisper-base] [--utmos FILE] [--no-cascade]
    llama-omni evaluate build-set --output DIR [--source alpaca_eval.json] [--voice flite:awb]

The first form writes, in `--output-dir`: `evaluation.json` (every figure; the schema `llama-omni push model
--eval-json` reads), `report.md`, `omega_tradeoff.png` (latency vs quality per Omega) and `examples.jsonl` (every
question with its answers, transcripts, scores and judge replies), and caches every finished item under `cache/`, so
that an interrupted run resumes where it stopped. The second form builds the paper's evaluation questions
(Alpaca-Eval helpful_base + vicuna without math and code: 199 questions) as a spoken set; it needs the Hub, or a local
`alpaca_eval.json`.
"""

from __future__ import annotations

import argparse
import sys


def _omegas(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--omega takes comma-separated positive ints, got {text!r}") from None
    if not values or any(v < 1 for v in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"--omega takes distinct positive ints (e.g. 10,20,40), got {text!r}")
    return values


def build_set_main(argv: list[str]) -> int:
    """`llama-omni evaluate build-set`. Returns 0, or 2 for a bad source."""
    from .eval_sets import HELDOUT_VOICE, PAPER_NUM_QUESTIONS, build_paper_eval_set

    parser = argparse.ArgumentParser(
        prog="llama-omni evaluate build-set",
        description="Build the paper's spoken evaluation set: Alpaca-Eval helpful_base + vicuna without math and "
        "code (199 questions), synthesised.",
    )
    parser.add_argument("--output", required=True,
                        help="the folder to write (eval_set.jsonl, audio/, build_report.json)")
    parser.add_argument("--source", default=None, help="a local alpaca_eval.json (default: from the Hub)")
    parser.add_argument("--voice", default=HELDOUT_VOICE, help=f"TTS voice of the questions (default {HELDOUT_VOICE})")
    parser.add_argument("--expect", type=int, default=PAPER_NUM_QUESTIONS, help="expected question count (199)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        report = build_paper_eval_set(args.output, source=args.source, voice=args.voice, expected=args.expect,
                                      progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {report['num_examples']} spoken questions to {args.output} ({report['per_subset']}; "
          f"{len(report['removed'])} math/code questions removed, listed in build_report.json)")
    if not report["matches_paper"]:
        print(f"warning: the paper has {args.expect} questions; review the removed ones in build_report.json",
              file=sys.stderr)
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    """Entry point of `llama-omni evaluate`. Returns 0, or 2 for a bad command line, model, eval set or judge."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "build-set":
        return build_set_main(argv[1:])
    from .runner import EvaluationConfig

    defaults = EvaluationConfig()
    parser = argparse.ArgumentParser(
        prog="llama-omni evaluate",
        description="Evaluate a LLaMA-Omni model with the paper's metrics (judge scores, ASR-WER/CER, MOS, latency, "
        "decoding time), the Omega trade-off, and the cascade baseline. "
        "(`llama-omni evaluate build-set --help`: build the paper's eval set.)",
    )
    parser.add_argument("--model", default=None, help="a LLaMA-Omni folder with a vocoder/ (default: the embedded "
                        "llama-omni-tiny)")
    parser.add_argument("--eval-set", default=defaults.eval_set, help="'heldout' (offline: held-out seed questions "
                        "spoken by flite:awb), a folder from build-set, or a JSONL file")
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.add_argument("--omega", type=_omegas, default=defaults.omegas,
                        help="unit chunk sizes to measure, e.g. 10,20,40 (headline figures at the first)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--judge", default="none", help="none (default), smollm2 (offline, weak), a local chat-model "
                        "folder, or an OpenAI-compatible URL (e.g. https://api.openai.com/v1)")
    parser.add_argument("--judge-model", default=None, help="the model name sent to a judge URL (default gpt-4o)")
    parser.add_argument("--judge-api-key-env", default=defaults.judge_api_key_env,
                        help="environment variable holding the judge URL's API key")
    parser.add_argument("--judge-retries", type=int, default=defaults.judge_retries,
                        help="retries of a malformed judge reply before it is counted as malformed")
    parser.add_argument("--asr", default=defaults.asr, help="whisper-base (default), whisper-tiny.en, or a Whisper "
                        "folder / Hub id")
    parser.add_argument("--utmos", default=None, help="a local UTMOS model (ONNX, TorchScript, or a SpeechMOS folder)")
    parser.add_argument("--no-distillmos", action="store_true")
    parser.add_argument("--no-dnsmos", action="store_true")
    parser.add_argument("--no-cascade", action="store_true", help="skip the cascade baseline")
    parser.add_argument("--cascade-voice", default=defaults.cascade_voice)
    parser.add_argument("--question-voice", default=defaults.question_voice,
                        help="TTS voice of questions without audio")
    parser.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    parser.add_argument("--min-new-tokens", type=int, default=defaults.min_new_tokens)
    parser.add_argument("--temperature", type=float, default=defaults.temperature, help="0 = greedy (default)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: by device)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    try:
        config = EvaluationConfig(
            model=args.model, eval_set=args.eval_set, output_dir=args.output_dir, omegas=args.omega,
            limit=args.limit, question_voice=args.question_voice, asr=args.asr, judge=args.judge,
            judge_model=args.judge_model, judge_api_key_env=args.judge_api_key_env, judge_retries=args.judge_retries,
            cascade=not args.no_cascade, cascade_voice=args.cascade_voice, distillmos=not args.no_distillmos,
            dnsmos=not args.no_dnsmos, utmos=args.utmos, max_new_tokens=args.max_new_tokens,
            min_new_tokens=args.min_new_tokens, temperature=args.temperature, seed=args.seed, device=args.device,
            dtype=args.dtype, progress=not args.no_progress,
        )
    except ValueError as error:
        parser.error(str(error))

    from offline_assets.embedded import EmbeddedModelError

    from .report import write_evaluation
    from .runner import run_evaluation

    try:
        run = run_evaluation(config)
    except (FileNotFoundError, ValueError, ModuleNotFoundError, EmbeddedModelError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    paths = write_evaluation(run, config.output_dir, plot=not args.no_plot)
    metrics = run.report["metrics"]

    def show(key: str, fmt: str = "{:.3f}") -> str:
        value = metrics.get(key)
        return "-" if value is None else fmt.format(value)

    print(f"TTFA {show('ttfa_s')} s, lagging words {show('lagging_words', '{:.2f}')}, ASR-WER "
          f"{show('asr_wer', '{:.2%}')}, distillMOS {show('distillmos', '{:.2f}')} at Omega={config.omegas[0]}")
    if "cascade_ttfa_s" in metrics:
        print(f"cascade TTFA {show('cascade_ttfa_s')} s (x{show('cascade_ttfa_ratio', '{:.2f}')} the end-to-end "
              "model's)")
    if "judge_scored" in metrics:
        print(f"judge: content {show('judge_content', '{:.2f}')}, style {show('judge_style', '{:.2f}')} (S2TIF); "
              f"{metrics['judge_malformed']} malformed")
    for name, path in paths.items():
        print(f"wrote {path}")
    return 0


__all__ = ["build_set_main", "evaluate_main"]
