"""Round trip of the InstructS2S builder's speech: Whisper-base transcribes what the TTS voices said.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/data_roundtrip.py [--examples 40] [--writer fixture]

Builds a small set with the tiny recipe (`processing/instructs2s/recipes/instructs2s_tiny.yaml`: the seed file's questions,
instruction voices flite kal16 / awb / rms / slt, espeak-ng en-us and Piper joe, responses in Piper joe; no units),
then transcribes every speech_instruction and speech_response with the offline Whisper-base (greedy, English) and
reports the word error rate against the text that was spoken, overall and per voice (corpus WER: errors / reference
words). Both sides are normalised alike: Whisper's digits become words with the builder's own speech normalizer,
then lower case, letters and apostrophes only.

`--writer fixture` (default) stands in for the LLM with the test suite's fixture writer (the request itself as its
rewrite, the seed file's reference answer as the response): what is measured here is the speech, not the LLM, and
SmolLM2 takes ~20 s per example on 2 busy CPU cores. `--writer smollm2` uses the real offline SmolLM2-135M-Instruct.
Results go to `benchmarks/results/data_roundtrip.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "data_roundtrip.json"
TINY_RECIPE = ROOT / "processing" / "instructs2s" / "recipes" / "instructs2s_tiny.yaml"
FIXTURE_WRITER = "tests.test_instructs2s:SeedFixtureWriter"


from benchmarks.common import wer  # noqa: E402  (after the sys.path insert above)


def run(num_examples: int = 40, output_dir: str | os.PathLike | None = None, writer: str = "fixture",
        progress: bool = True) -> dict:
    """Build `num_examples` examples, transcribe them, return the figures (see the module docstring)."""
    import numpy as np
    import torch
    import yaml

    from offline_assets.whisper import transcribe, whisper_base
    from processing.instructs2s import build_dataset

    recipe = yaml.safe_load(TINY_RECIPE.read_text())
    recipe.update(limit=num_examples, units={"extractor": "none"}, shard_size=10,
                  output_dir=str(output_dir or tempfile.mkdtemp(prefix="data_roundtrip_")))
    if writer == "fixture":
        recipe["writer"] = {"kind": "python", "factory": FIXTURE_WRITER}
    elif writer != "smollm2":
        raise ValueError(f"writer must be 'fixture' or 'smollm2', got {writer!r}")
    start = time.perf_counter()
    built = build_dataset(recipe, progress=progress)
    build_seconds = time.perf_counter() - start

    model, processor = whisper_base()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    clips, texts, voices, kinds = [], [], [], []
    for split in built.dataset:
        for example in built.dataset[split]:
            for kind, audio_column, text_column, voice in (
                ("instruction", "speech_instruction", "instruction", example["instruction_voice"]),
                ("response", "speech_response", "response", built.report["config"]["response_voice"]),
            ):
                clips.append(np.asarray(example[audio_column]["array"], dtype=np.float32))
                texts.append(example[text_column])
                voices.append(voice)
                kinds.append(kind)
    start = time.perf_counter()
    hypotheses = transcribe(model, processor, clips, language="en", batch_size=8)
    transcribe_seconds = time.perf_counter() - start

    by_voice, by_kind = defaultdict(list), defaultdict(list)
    for i, (voice, kind) in enumerate(zip(voices, kinds)):
        by_voice[voice].append(i)
        by_kind[kind].append(i)

    def score(indices: list[int]) -> float:
        return round(wer([texts[i] for i in indices], [hypotheses[i] for i in indices]), 4)

    worst = sorted(range(len(texts)), key=lambda i: -wer([texts[i]], [hypotheses[i]]))[:5]
    return {
        "examples": sum(len(built.dataset[s]) for s in built.dataset),
        "clips": len(clips),
        "writer": writer,
        "wer": {
            "all": score(list(range(len(texts)))),
            "instructions": score(by_kind["instruction"]),
            "responses": score(by_kind["response"]),
            "per_voice": {voice: score(indices) for voice, indices in sorted(by_voice.items())},
            "clips_per_voice": {voice: len(indices) for voice, indices in sorted(by_voice.items())},
        },
        "worst": [{"voice": voices[i], "text": texts[i], "whisper": hypotheses[i]} for i in worst],
        "build_report_counts": built.report["counts"],
        "build_rejected": built.report["rejected"],
        "build_seconds": round(build_seconds, 1),
        "transcribe_seconds": round(transcribe_seconds, 1),
        "asr": "whisper-base (offline, CTranslate2 weights converted), greedy, language=en",
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=40)
    parser.add_argument("--writer", choices=("fixture", "smollm2"), default="fixture")
    parser.add_argument("--output", default=str(RESULTS), help="where to write the JSON results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="data_roundtrip_") as tmp:
        result = run(args.examples, Path(tmp) / "data", writer=args.writer)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["wer"], indent=2))
    return result


if __name__ == "__main__":
    main()
