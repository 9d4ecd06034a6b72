# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni infer`: the released batch inference (LLaMA-Omni's `omni_speech/infer/infer.py` + `run.sh`), so that
the paper's evaluation scripts can be fed.

    llama-omni infer --model DIR --questions question.json --output answers.jsonl [--units-to-wav DIR]

The question file is the released JSON list::

    [{"id": "helpful_base_1", "speech": "question_wav/helpful_base_1.wav",
      "conversations": [{"from": "human",
                         "value": "<speech>\\nPlease directly answer the questions in the user's speech."},
                        {"from": "gpt", "value": "an optional reference answer"}]}, ...]

Each question's first turn is the user turn of the model's chat template (its `<speech>` is the spoken question);
relative `speech` paths are read from the working directory, else next to the question file. The answers are one
JSON line per question, with the released script's field names and formats::

    {"question_id": "helpful_base_1", "prediction": "the text answer", "prediction_units": "12 7 981 ...",
     "answer": "the reference answer or null"}

(`prediction_units`: the answer's speech units, space-separated, repeats and blanks already collapsed.) Decoding is
the released script's: greedy unless `--temperature > 0`, `--top-p`, one beam, `--max-new-tokens 256`, one question
at a time (batch size 1); `--num-chunks/--chunk-idx` split the questions as the released script does.

`--units-to-wav DIR` then vocodes every answer's units with the model's unit vocoder, one `DIR/<i>_pred.wav` per
answer line (`i` counts the lines from 0), the names fairseq's `generate_waveform_from_code.py` gives in the released
`run.sh`; `--units-file PATH` also writes the units one answer per line ("0" for an empty answer), as the released
`convert_jsonl_to_txt.py` does. `units_to_wav` alone re-vocodes an existing answers file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from .runtime import load_model, model_inputs, write_wav


def read_questions(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The questions of a released-format question file (a JSON list), checked.

    Raises:
        ValueError: not a JSON list of objects with "id", "speech" and a "conversations" list whose first item has
            a string "value" (the message names the question).
        FileNotFoundError: no such file.
    """
    with open(path, encoding="utf-8") as f:
        try:
            questions = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{os.fspath(path)!r} is not JSON ({error})") from error
    if not isinstance(questions, list):
        raise ValueError(f"{os.fspath(path)!r} must hold a JSON list of questions, got a {type(questions).__name__}")
    for index, item in enumerate(questions):
        where = f"question {index} of {os.fspath(path)!r}"
        if not isinstance(item, dict) or "id" not in item or not isinstance(item.get("speech"), str):
            raise ValueError(f"{where} must be an object with an 'id' and a 'speech' file path")
        turns = item.get("conversations")
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], dict) or not isinstance(
            turns[0].get("value"), str
        ):
            raise ValueError(f"{where} (id {item['id']!r}) needs 'conversations': [{{'from': 'human', 'value': ...}}]")
    return questions


def question_chunk(questions: Sequence[Any], num_chunks: int, chunk_index: int) -> list[Any]:
    """Chunk `chunk_index` of `num_chunks` (the released split: chunks of ceil(n / num_chunks) questions)."""
    if num_chunks < 1 or not 0 <= chunk_index < num_chunks:
        raise ValueError(f"need num_chunks >= 1 and 0 <= chunk_idx < num_chunks, got {num_chunks}, {chunk_index}")
    size = max(1, math.ceil(len(questions) / num_chunks))
    return list(questions[chunk_index * size : (chunk_index + 1) * size])


def _speech_path(speech: str, questions_path: Path) -> str:
    if os.path.isabs(speech) or os.path.exists(speech):
        return speech
    beside = questions_path.parent / speech
    return str(beside) if beside.exists() else speech


def answer_question(
    model: Any, processor: Any, question: dict[str, Any], speech_path: str, **generate_kwargs: Any
) -> dict[str, Any]:
    """One answers-file record for one question: its text answer and speech units (see the module docstring)."""
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": question["conversations"][0]["value"]}], add_generation_prompt=True,
        tokenize=False,
    )
    inputs = model_inputs(model, processor, speech_path, text=prompt)
    with torch.inference_mode():
        output = model.generate(**inputs, return_audio=True, **generate_kwargs)
    new_tokens = output.sequences[0, inputs["input_ids"].shape[1] :]
    turns = question["conversations"]
    reference = turns[1].get("value") if len(turns) > 1 and isinstance(turns[1], dict) else None
    return {
        "question_id": question["id"],
        "prediction": processor.tokenizer.decode(new_tokens, skip_special_tokens=True).strip(),
        "prediction_units": " ".join(str(u) for u in output.units[0].tolist()),
        "answer": reference,
    }


def _generate_kwargs(model: Any, processor: Any, temperature: float, top_p: float | None, max_new_tokens: int
                     ) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"do_sample": temperature > 0, "num_beams": 1, "max_new_tokens": max_new_tokens}
    if temperature > 0:
        kwargs["temperature"] = temperature
        if top_p is not None:
            kwargs["top_p"] = top_p
    if model.generation_config.pad_token_id is None:
        pad = processor.tokenizer.pad_token_id
        eos = model.generation_config.eos_token_id
        kwargs["pad_token_id"] = pad if pad is not None else (eos[0] if isinstance(eos, list) else eos)
    return kwargs


def infer(
    model: Any,
    processor: Any,
    questions_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    temperature: float = 0.0,
    top_p: float | None = None,
    max_new_tokens: int = 256,
    num_chunks: int = 1,
    chunk_index: int = 0,
) -> list[dict[str, Any]]:
    """Answers every question of a released-format question file and writes the answers JSONL (one line each,
    flushed as it is written). Returns the records.

    Raises:
        ValueError: a bad question file, or a question whose audio cannot be read (the message names its id).
    """
    questions_path = Path(questions_path)
    questions = question_chunk(read_questions(questions_path), num_chunks, chunk_index)
    generate_kwargs = _generate_kwargs(model, processor, temperature, top_p, max_new_tokens)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    records = []
    with open(output_path, "w", encoding="utf-8") as out:
        for question in questions:
            speech = _speech_path(question["speech"], questions_path)
            try:
                record = answer_question(model, processor, question, speech, **generate_kwargs)
            except (ValueError, FileNotFoundError) as error:
                raise ValueError(f"question {question['id']!r} ({speech}): {error}") from error
            out.write(json.dumps(record) + "\n")
            out.flush()
            records.append(record)
    return records


def read_answer_units(answers_path: str | os.PathLike) -> Iterator[list[int]]:
    """The `prediction_units` of each line of an answers JSONL, as lists of ints."""
    with open(answers_path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            units = json.loads(line).get("prediction_units")
            if not isinstance(units, str):
                raise ValueError(f"{os.fspath(answers_path)!r} line {number} has no 'prediction_units' string")
            yield [int(u) for u in units.split()]


def write_units_file(answers_path: str | os.PathLike, units_path: str | os.PathLike) -> Path:
    """The released `convert_jsonl_to_txt.py` step: one line of units per answer, "0" for an empty answer."""
    with open(units_path, "w", encoding="utf-8") as f:
        for units in read_answer_units(answers_path):
            f.write((" ".join(map(str, units)) if units else "0") + "\n")
    return Path(units_path)


def units_to_wav(answers_path: str | os.PathLike, out_dir: str | os.PathLike, vocoder: Any) -> list[Path]:
    """Vocodes each answer's units with `vocoder` (a unit vocoder, e.g. `model.default_vocoder()`) into
    `out_dir/<i>_pred.wav` (`i` = the answer's line index from 0; an empty answer becomes unit 0, as in the released
    pipeline). Returns the written paths."""
    from modeling_llama_omni.modeling_llama_omni import vocoder_units

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    rate = int(vocoder.config.sampling_rate)
    with torch.inference_mode():
        for index, units in enumerate(read_answer_units(answers_path)):
            waveform = vocoder_units(vocoder, torch.tensor(units or [0], dtype=torch.long))
            written.append(write_wav(out_dir / f"{index}_pred.wav", waveform.numpy(), rate))
    return written


def infer_main(argv: list[str] | None = None) -> int:
    """Entry point of `llama-omni infer`. Returns 0, 1 when a question fails, 2 for a bad command line or model."""
    parser = argparse.ArgumentParser(
        prog="llama-omni infer",
        description="Answer a released-format question file (omni_speech/infer) into an answers JSONL with text and "
        "speech units, and optionally vocode the units into wavs.",
    )
    parser.add_argument("--model", required=True, help="a LLaMA-Omni model folder (or Hub id)")
    parser.add_argument("--questions", required=True, help="the question JSON file (the released format)")
    parser.add_argument("--output", required=True, help="the answers JSONL to write")
    parser.add_argument("--units-to-wav", default=None, metavar="DIR", help="vocode each answer to DIR/<i>_pred.wav")
    parser.add_argument("--units-file", default=None, metavar="PATH", help="also write the units, one answer a line")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the released default)")
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--num-chunks", type=int, default=1)
    parser.add_argument("--chunk-idx", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    parser.add_argument("--dtype", default=None, help="float32, bfloat16, float16 (default: by device)")
    args = parser.parse_args(argv)
    if args.temperature < 0 or args.max_new_tokens < 1:
        parser.error("--temperature must be >= 0 and --max-new-tokens >= 1")
    if not 0 <= args.chunk_idx < args.num_chunks:
        parser.error("need --num-chunks >= 1 and 0 <= --chunk-idx < --num-chunks")
    try:
        model, processor = load_model(args.model, args.device, args.dtype, require_vocoder=bool(args.units_to_wav))
        read_questions(args.questions)
    except (FileNotFoundError, TypeError, ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        records = infer(model, processor, args.questions, args.output, temperature=args.temperature,
                        top_p=args.top_p, max_new_tokens=args.max_new_tokens, num_chunks=args.num_chunks,
                        chunk_index=args.chunk_idx)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{len(records)} answers -> {args.output}")
    if args.units_file:
        print(f"units -> {write_units_file(args.output, args.units_file)}")
    if args.units_to_wav:
        wavs = units_to_wav(args.output, args.units_to_wav, model.default_vocoder())
        print(f"{len(wavs)} wavs -> {args.units_to_wav}")
    return 0


__all__ = [
    "answer_question",
    "infer",
    "infer_main",
    "question_chunk",
    "read_answer_units",
    "read_questions",
    "units_to_wav",
    "write_units_file",
]
