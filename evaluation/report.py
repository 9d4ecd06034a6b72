# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Writing an evaluation: the JSON the model card reads (validated with `evaluation.schema`), the per-question
records, the markdown report and the Omega trade-off plot (the analog of the paper's Table 2)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .runner import EvaluationRun
from .schema import format_metric, metric_spec, parse_eval_report

EVAL_JSON = "evaluation.json"
EXAMPLES_JSONL = "examples.jsonl"
REPORT_MD = "report.md"
PLOT_PNG = "omega_tradeoff.png"

_QUALITY_LABELS = {"asr_wer": "ASR-WER (%)", "asr_cer": "ASR-CER (%)", "distillmos": "distillMOS", "dnsmos": "DNSMOS",
                   "utmos": "UTMOS"}


def _json_ready(value: Any) -> Any:
    """Rounds floats (6 significant digits) and turns non-finite ones into null, recursively."""
    if isinstance(value, float):
        return float(f"{value:.6g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    return format_metric(key, value)


def plot_omega_tradeoff(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """A PNG of latency (TTFA) against quality per chunk size Omega: one panel for the error rates, one for the MOS
    predictors; the cascade baseline's TTFA is a dashed line. Raises ModuleNotFoundError without matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.get("per_omega", []) if r.get("ttfa_s") is not None]
    metrics = report["metrics"]
    panels = [[k for k in ("asr_wer", "asr_cer") if any(r.get(k) is not None for r in rows)],
              [k for k in ("distillmos", "dnsmos", "utmos") if any(r.get(k) is not None for r in rows)]]
    panels = [p for p in panels if p] or [[]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.0), squeeze=False)
    for ax, keys in zip(axes[0], panels):
        for key in keys:
            points = [(r["ttfa_s"], r[key] * (100 if key.startswith("asr_") else 1), r["omega"])
                      for r in rows if r.get(key) is not None]
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=_QUALITY_LABELS.get(key, key))
            for i, (x, y, omega) in enumerate(points):
                ax.annotate(f"Ω={omega}", (x, y), textcoords="offset points", xytext=(4, 6 if i % 2 else -12),
                            fontsize=8)
        if metrics.get("cascade_ttfa_s") is not None:
            ax.axvline(metrics["cascade_ttfa_s"], linestyle="--", color="grey", label="cascade TTFA")
        ax.set_xlabel("time to first audio (s)")
        ax.set_ylabel("error rate (%)" if keys and keys[0].startswith("asr_") else "predicted MOS (1-5)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Latency vs quality per unit chunk size Ω")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_markdown(run: EvaluationRun, plot_name: str | None = PLOT_PNG, max_examples: int = 5) -> str:
    """The markdown report of an evaluation."""
    report, metrics = run.report, run.report["metrics"]
    omega0 = run.extras.get("omega0")
    lines = [f"# Evaluation of {report['model']}", ""]
    eval_set = report["eval_set"]
    lines += [f"- Eval set: **{eval_set['name']}** ({eval_set.get('num_examples')} questions): "
              f"{eval_set.get('description', '')}",
              f"- Hardware: {report.get('hardware')}; date: {report.get('date')}",
              "- Settings: " + ", ".join(f"{k}={v}" for k, v in report.get("settings", {}).items()), ""]

    lines += [f"## Results at Ω = {omega0}", "", "| metric | value | better | what |", "|---|---|---|---|"]
    for key, value in metrics.items():
        if key.startswith("cascade_"):
            continue
        spec = metric_spec(key)
        lines.append(f"| {spec.name} | {_fmt(key, value)} | {spec.better or '-'} | {spec.description or '-'} |")
    lines.append("")

    if "cascade_ttfa_s" in metrics:
        lines += ["## End to end vs the cascade baseline", "",
                  f"Cascade: {report['settings'].get('asr')} ASR -> the same LLM in text mode -> "
                  f"{report['settings'].get('cascade_voice')}, each sentence spoken as soon as it is written.", "",
                  "| | end to end | cascade |", "|---|---|---|"]
        pairs = [("ttfa_s", "cascade_ttfa_s"), ("ttft_s", "cascade_ttft_s"), ("decoding_s_s2sif", "cascade_total_s"),
                 ("asr_wer", "cascade_asr_wer"), ("judge_content", "cascade_judge_content"),
                 ("judge_style", "cascade_judge_style"), ("judge_content_speech", "cascade_judge_content_speech"),
                 ("judge_style_speech", "cascade_judge_style_speech")]
        pairs += [(name, f"cascade_{name}") for name in run.extras.get("predictors", [])]
        for own, other in pairs:
            if own in metrics or other in metrics:
                lines.append(f"| {metric_spec(own).name} | {_fmt(own, metrics.get(own))} | "
                             f"{_fmt(own, metrics.get(other))} |")
        if metrics.get("cascade_ttfa_ratio") is not None:
            lines += ["", f"The end-to-end model's first audio comes **{metrics['cascade_ttfa_ratio']:.2f}x** "
                          "as early as the cascade's (cascade TTFA / end-to-end TTFA)."]
        if metrics.get("cascade_question_wer") is not None:
            lines.append(f"The cascade's ASR misheard {100 * metrics['cascade_question_wer']:.1f}% of the question "
                         "words (WER against the question text).")
        lines.append("")

    rows = report.get("per_omega", [])
    if rows:
        keys = [k for k in ("ttfa_s", "lagging_words", "asr_wer", "asr_cer", "distillmos", "dnsmos", "utmos")
                if any(k in r for r in rows)]
        lines += ["## Latency vs quality per chunk size Ω (the paper's Table 2)", "",
                  "| Ω | " + " | ".join(metric_spec(k).name for k in keys) + " |",
                  "|---" * (len(keys) + 1) + "|"]
        for row in rows:
            lines.append(f"| {row['omega']} | " + " | ".join(_fmt(k, row.get(k)) for k in keys) + " |")
        if plot_name:
            lines += ["", f"![latency vs quality]({plot_name})"]
        lines.append("")

    if "judge_scored" in metrics:
        lines += ["## Judge", "",
                  f"Judge: {report['settings'].get('judge')} ({report['settings'].get('judge_model') or 'local'}); "
                  f"{metrics['judge_scored']} answers graded, **{metrics['judge_malformed']} malformed** after "
                  f"{report['settings'].get('judge_retries')} retries (left out of the means and listed in "
                  f"{EXAMPLES_JSONL}). S2TIF = the text answer; S2SIF = the ASR transcript of the spoken answer.", ""]

    lines += ["## Examples", ""]
    key0 = f"s2sif-omega{omega0}"
    for record in run.examples[:max_examples]:
        item = record[key0]
        lines += [f"**{record['id']}**: {record['question']}", "",
                  f"- text answer: {item['text'] or '(empty)'}",
                  f"- its speech, transcribed: {item['transcript'] or '(nothing)'}",
                  f"- TTFA {_fmt('ttfa_s', item['ttfa_s'])}, lagging words {item['lagging_words']}"]
        if "cascade" in record:
            lines.append(f"- cascade: {record['cascade']['text'] or '(empty)'} "
                         f"(TTFA {_fmt('ttfa_s', record['cascade']['ttfa_s'])})")
        lines.append("")
    lines += [f"All figures: `{EVAL_JSON}`; every question: `{EXAMPLES_JSONL}`.", ""]
    return "\n".join(lines)


def write_evaluation(run: EvaluationRun, output_dir: str | os.PathLike, plot: bool = True) -> dict[str, Path]:
    """Writes `evaluation.json` (validated), `examples.jsonl`, `report.md` and, with `plot`, `omega_tradeoff.png`.

    Returns:
        `{"json", "examples", "markdown", "plot"?}` paths.

    Raises:
        evaluation.schema.EvalReportError: the report does not follow the schema (a bug).
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = _json_ready(run.report)
    parse_eval_report(report)
    paths = {"json": out / EVAL_JSON, "examples": out / EXAMPLES_JSONL, "markdown": out / REPORT_MD}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["examples"].write_text(
        "".join(json.dumps(_json_ready(r), ensure_ascii=False) + "\n" for r in run.examples), encoding="utf-8"
    )
    if plot and report.get("per_omega"):
        paths["plot"] = plot_omega_tradeoff(report, out / PLOT_PNG)
    rendered = EvaluationRun(report=report, examples=run.examples, extras=run.extras)
    paths["markdown"].write_text(render_markdown(rendered, PLOT_PNG if "plot" in paths else None), encoding="utf-8")
    return paths


__all__ = ["EVAL_JSON", "EXAMPLES_JSONL", "PLOT_PNG", "REPORT_MD", "plot_omega_tradeoff", "render_markdown",
           "write_evaluation"]
