"""Quality of the embedded default model llama-omni-tiny on held-out spoken questions, on this machine's CPU.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/tiny_quality.py [--model DIR] [--omega 10]
        [--limit N] [--resynthesis 30]

Held-out data only: the questions are the seed file's "heldout" split (never in training), spoken by flite "awb"
(a voice never used in training), plus the recorded clips of /usr/share/sounds/alsa (real speech; Debian
alsa-utils) when present. Figures:

1. parity: over the held-out *factual* questions (they have a short gold answer) whose written form SmolLM2 answers
   correctly (its answer contains the gold answer), the share whose spoken form the model also answers with the
   gold answer. The written answers come from the same model in text mode (its LLM is SmolLM2, frozen) with the
   same system prompt. Plain accuracy of both modes is reported too.
2. answer ASR-WER: Whisper-base's transcript of each speech answer against the model's own text answer
   (transformers' Whisper English normaliser on both sides).
   Corpus WER and the median of the per-answer WERs.
3. speaking alone: the model's text-mode answers to the written held-out questions spoken by its own speech decoder
   and vocoder (`generate(return_audio=True)` on the written question), Whisper-base WER against that text: the
   speaking half measured apart from the hearing half.
4. vocoder resynthesis WER: held-out response sentences (the model's text answers) as their ground-truth units,
   (their phoneme ids) vocoded by the model's VITS vocoder; Whisper-base WER against the sentence.
5. distillMOS of the speech answers.
6. TTFA (time to first audio, from the audio read to the first audio chunk) at Omega = `--omega` (10), and the total
   time of each answer, streaming with `model.stream`.
7. with a read-out adaptor (lexicon or Whisper): what it heard in each held-out question and recorded clip
   (`heard_question`, the words the LLM is given) and their WER against the question (`question_read_out_wer`,
   `recorded_read_out_wer`; speech_words normalisation); beside it, as a reference for how clearly the clips say
   their words, Whisper-base's own transcripts of the same clips as transformers' `generate` writes them from 30-s
   windows (`whisper_base_question_wer`; not the model's own read-out).

Results go to `benchmarks/results/tiny_quality.json`.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    distillmos_scores, machine, resample, speech_words, transcribe_long, wer, whisper_words,
)

RESULTS = ROOT / "benchmarks" / "results" / "tiny_quality.json"
DEMO_RESULTS = ROOT / "benchmarks" / "results" / "tiny_demo.json"
HELDOUT_VOICE = "flite:awb"
ALSA_CLIPS = "/usr/share/sounds/alsa/*.wav"


def heldout_questions() -> list[dict]:
    """The seed file's held-out questions (id, instruction, category, answer)."""
    from processing.instructs2s.sources import read_seed_instructions

    return read_seed_instructions("heldout")


def contains_answer(text: str, gold: str) -> bool:
    """Whether `text` contains the gold answer (Whisper-normalised, as whole words)."""
    gold_words = whisper_words(gold).split()
    words = whisper_words(text).split()
    n = len(gold_words)
    return n > 0 and any(words[i : i + n] == gold_words for i in range(len(words) - n + 1))


def text_answer(model, processor, question: str, max_new_tokens: int, vocoder=None) -> tuple[str, np.ndarray | None]:
    """The model's answer to the written question (text mode: its LLM, the same system prompt), greedy, and, with a
    `vocoder`, that answer spoken by the model's own speech decoder (16 kHz)."""
    import torch

    prompt = processor.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                           tokenize=False)
    ids = processor.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                             **({"return_audio": True, "vocoder": vocoder} if vocoder is not None else {}))
    sequences = out.sequences if vocoder is not None else out
    text = processor.tokenizer.decode(sequences[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    if vocoder is None:
        return text, None
    return text, resample(out.waveforms[0].float().cpu().numpy(), out.sampling_rate, 16000)


def ground_truth_resynthesis(vocoder, sentences: list[str], progress: bool = True) -> list[np.ndarray]:
    """Vocodes each sentence's ground-truth units, its phoneme ids, with the model's VITS phoneme vocoder (16 kHz
    clips): the upper bound of what the speech decoder can sound like."""
    import torch
    from tqdm.auto import tqdm

    from processing.instructs2s.phonemes import text_to_units

    if vocoder.config.model_type != "llama_omni_vits_vocoder":
        raise ValueError(f"the resynthesis figure needs a phoneme-unit model (VITS vocoder), got a "
                         f"{vocoder.config.model_type!r} vocoder")
    clips = []
    for sentence in tqdm(sentences, desc="vocoder resynthesis (true phonemes)", disable=not progress):
        units = torch.tensor(text_to_units(sentence)[2], dtype=torch.long)[None]
        with torch.no_grad():
            out = vocoder(units)
        wave = out.waveform[0, : int(out.waveform_lengths[0])].float().numpy()
        clips.append(resample(wave, vocoder.config.sampling_rate, 16000))
    return clips


def per_answer_wers(references: list[str], hypotheses: list[str]) -> list[float]:
    """The WER of each answer on its own (Whisper-normalised; answers without words left out)."""
    return [wer([r], [h], normalize=whisper_words) for r, h in zip(references, hypotheses) if whisper_words(r)]


def worst_answers(references: list[str], hypotheses: list[str], count: int = 3) -> list[dict]:
    """The `count` answers with the most word errors (what dominates a corpus WER), with their transcripts."""
    scored = []
    for reference, hypothesis in zip(references, hypotheses):
        words = len(whisper_words(reference).split())
        if words:
            rate = wer([reference], [hypothesis], normalize=whisper_words)
            scored.append({"errors": round(rate * words), "wer": round(rate, 4), "text": reference,
                           "transcript": hypothesis})
    return sorted(scored, key=lambda item: -item["errors"])[:count]


def question_clip(processor, item: dict) -> np.ndarray:
    """The audio of a question (`item["audio"]`: an array with its sampling rate, or a file) as the processor loads
    it when the model answers (mono, at its sampling rate)."""
    audio = item["audio"]
    if isinstance(audio, dict):
        return processor.load_audio(audio["array"], sampling_rate=audio["sampling_rate"])
    return processor.load_audio(audio)


def heard_questions(model, processor, items: list[dict]) -> list[str] | None:
    """What a read-out adaptor (lexicon or Whisper) hears in each spoken question (`items`' `audio`: an array and its sampling
    rate, or a file): its read-out as text, the words the LLM is given. None when the model's adaptor gives embeddings
    (there is nothing to read)."""
    import torch

    if not getattr(model.model.speech_adaptor, "reads_out_tokens", False):
        return None
    dtype = next(model.model.speech_encoder.parameters()).dtype
    heard = []
    for item in items:  # the processor's own loading and features, as when the model answers
        features, mask = processor.extract_features([question_clip(processor, item)])
        with torch.no_grad():
            ids = model.model.read_out_speech(torch.from_numpy(features).to(model.device, dtype),
                                              torch.from_numpy(mask).to(model.device))[0]
        heard.append(processor.tokenizer.decode(ids, skip_special_tokens=True))
    return heard


def heard_wer(records: list[dict], kind: str, field: str) -> float | None:
    """WER (speech_words normalisation) of what was heard (`field` of each record) in the questions of one `kind`
    ("heldout" or "alsa") against the questions; None without such records."""
    chosen = [r for r in records if r["kind"] == kind and field in r]
    if not chosen:
        return None
    return round(wer([r["question"] for r in chosen], [r[field] for r in chosen]), 4)


def demo_record(records: list[dict]) -> dict | None:
    """What the `make demo` question got (it is one of the held-out questions): the spoken answer's text, its
    Whisper-base transcript, and whether each contains the gold answer; with a read-out adaptor, what it heard in
    the question. None when the run did not ask it."""
    from offline_assets.embedded import DEMO_QUESTION_TEXT

    record = next((r for r in records if r["kind"] == "heldout" and r["question"] == DEMO_QUESTION_TEXT), None)
    if record is None:
        return None
    transcript = record.get("transcript", "")
    return {"question": record["question"], "gold": record["gold"], "heard_question": record.get("heard_question"),
            "speech_mode": record["speech_mode"],
            "transcript": transcript, "answer_in_text": contains_answer(record["speech_mode"], record["gold"]),
            "answer_heard": contains_answer(transcript, record["gold"])}


def run(model_dir: str | None = None, omega: int = 10, limit: int | None = None, resynthesis: int = 30,
        max_new_tokens: int = 80, progress: bool = True, demo_only: bool = False) -> dict:
    import torch
    from tqdm.auto import tqdm

    from offline_assets.whisper import transcribe, whisper_base
    from offline_assets.tts import get_voice
    from inference import answer, load_model

    torch.manual_seed(0)
    model, processor = load_model(model_dir)
    vocoder = model.default_vocoder()
    asr, asr_processor = whisper_base()
    voice = get_voice(HELDOUT_VOICE)

    questions = heldout_questions()
    if demo_only:  # the `make demo` question alone (no recorded clips, no resynthesis)
        from offline_assets.embedded import DEMO_QUESTION_TEXT

        questions, resynthesis = [q for q in questions if q["instruction"] == DEMO_QUESTION_TEXT], 0
    if limit is not None:
        questions = questions[:limit]
    inputs = [{"kind": "heldout", **q,
               "audio": {"array": np.asarray(voice.synthesize(q["instruction"]), dtype=np.float32),
                         "sampling_rate": voice.sampling_rate}}
              for q in tqdm(questions, desc=f"speaking the questions ({HELDOUT_VOICE})", disable=not progress)]
    clips = [] if demo_only else sorted(p for p in glob.glob(ALSA_CLIPS) if Path(p).stem != "Noise")  # Noise: no speech
    for path in clips:
        inputs.append({"kind": "alsa", "id": os.path.basename(path), "instruction": Path(path).stem.replace("_", " "),
                       "category": "recorded", "answer": None, "audio": path})  # the processor reads the file

    # warm-up (first-call costs are not what a visitor of a running server pays)
    answer(model, processor, inputs[0]["audio"], chunk_size=omega, max_new_tokens=8, do_sample=False)

    records = []
    for item in tqdm(inputs, desc="answering", disable=not progress):
        result = answer(model, processor, item["audio"], chunk_size=omega, max_new_tokens=max_new_tokens,
                        do_sample=False)
        records.append({"id": item["id"], "kind": item["kind"], "category": item["category"],
                        "question": item["instruction"], "gold": item["answer"], "speech_mode": result.text,
                        "ttfa_s": result.ttfa_s, "total_s": result.total_s, "audio_seconds": result.audio_s,
                        "_audio16": resample(result.audio, result.sampling_rate, 16000)})
    heard = heard_questions(model, processor, inputs)  # after the answers: no part of their timing
    for record, text in zip(records, heard or []):
        record["heard_question"] = text
    # a reference for hearing, not part of the model: what Whisper-base (encoder and decoder) hears in the same clips
    clips16 = [resample(question_clip(processor, item), processor.feature_extractor.sampling_rate, 16000)
               for item in inputs]
    for record, text in zip(records, transcribe_long(asr, asr_processor, clips16)):
        record["whisper_base_heard"] = text
    for record in tqdm([r for r in records if r["kind"] == "heldout"], desc="text-mode answers (spoken too)",
                       disable=not progress):
        record["text_mode"], record["_text_mode_audio16"] = text_answer(model, processor, record["question"],
                                                                        max_new_tokens, vocoder=vocoder)

    # (2) answer ASR-WER and (4) distillMOS
    spoken = [r for r in records if r["audio_seconds"] > 0.1]
    transcripts = transcribe_long(asr, asr_processor, [r["_audio16"] for r in spoken])
    for record, transcript in zip(spoken, transcripts):
        record["transcript"] = transcript
    mos = distillmos_scores([r["_audio16"] for r in spoken], 16000)
    for record, score in zip(spoken, mos):
        record["distillmos"] = round(score, 3)

    # (1) parity
    factual = [r for r in records if r["kind"] == "heldout" and r["category"] == "factual" and r["gold"]]
    text_right = [r for r in factual if contains_answer(r["text_mode"], r["gold"])]
    speech_right = [r for r in factual if contains_answer(r["speech_mode"], r["gold"])]
    both = [r for r in text_right if contains_answer(r["speech_mode"], r["gold"])]

    # (3) speaking alone: the text-mode answers spoken by the model's own speech decoder
    alone = [r for r in records if r.get("_text_mode_audio16") is not None and r["_text_mode_audio16"].size > 1600]
    alone_hyps = transcribe_long(asr, asr_processor, [r["_text_mode_audio16"] for r in alone])
    for record, transcript in zip(alone, alone_hyps):
        record["text_mode_transcript"] = transcript

    # (4) resynthesis of held-out response sentences from their ground-truth units
    sentences = [r["text_mode"] for r in records if r["kind"] == "heldout" and r.get("text_mode")][:resynthesis]
    resynth_hyps = (transcribe(asr, asr_processor, ground_truth_resynthesis(vocoder, sentences, progress=progress))
                    if sentences else [])
    resynthesis_result = {"sentences": len(sentences), "ground_truth": "phoneme ids of the sentence",
                          "wer_resynthesised": round(wer(sentences, resynth_hyps, normalize=speech_words), 4)
                          if sentences else None}

    heldout_spoken = [r for r in spoken if r["kind"] == "heldout"]
    ttfas = [r["ttfa_s"] for r in records if r["ttfa_s"] is not None]
    result = {
        "model": model_dir or "embedded llama-omni-tiny",
        "data": f"{len(questions)} held-out seed questions spoken by {HELDOUT_VOICE} (held-out voice)"
                + (f" + {len(records) - len(questions)} recorded clips ({ALSA_CLIPS})" if len(records) > len(questions)
                   else "; no recorded clips found (install alsa-utils)"),
        "omega": omega,
        "parity": {
            "value": round(len(both) / max(len(text_right), 1), 4),
            "questions": len(factual), "text_mode_correct": len(text_right), "speech_mode_correct": len(speech_right),
            "speech_correct_where_text_correct": len(both),
        },
        "answer_asr_wer": round(wer([r["speech_mode"] for r in spoken], [r["transcript"] for r in spoken],
                                    normalize=whisper_words), 4),
        "answer_asr_wer_per_answer_median": round(statistics.median(
            per_answer_wers([r["speech_mode"] for r in spoken], [r["transcript"] for r in spoken]) or [float("nan")]
        ), 4),
        "answer_asr_wer_heldout_voice": round(wer([r["speech_mode"] for r in heldout_spoken],
                                                  [r["transcript"] for r in heldout_spoken],
                                                  normalize=whisper_words), 4),
        "answer_asr_worst": worst_answers([r["speech_mode"] for r in spoken], [r["transcript"] for r in spoken]),
        "answers_without_audio": len(records) - len(spoken),
        "question_read_out_wer": heard_wer(records, "heldout", "heard_question") if heard is not None else None,
        "recorded_read_out_wer": heard_wer(records, "alsa", "heard_question") if heard is not None else None,
        "whisper_base_question_wer": {kind: heard_wer(records, kind, "whisper_base_heard")
                                      for kind in ("heldout", "alsa")},
        "demo_question": demo_record(records),
        "speaking_from_text_mode": {
            "answers": len(alone),
            "asr_wer": round(wer([r["text_mode"] for r in alone], alone_hyps, normalize=whisper_words), 4)
            if alone else None,
            "asr_wer_per_answer_median": round(statistics.median(
                per_answer_wers([r["text_mode"] for r in alone], alone_hyps) or [float("nan")]), 4),
            "worst": worst_answers([r["text_mode"] for r in alone], alone_hyps),
        },
        "resynthesis": resynthesis_result,
        "distillmos": {"mean": round(statistics.mean(mos), 3) if mos else None,
                       "heldout_mean": round(statistics.mean(r["distillmos"] for r in heldout_spoken), 3)
                       if heldout_spoken else None},
        "ttfa_s": {"mean": round(statistics.mean(ttfas), 3), "median": round(statistics.median(ttfas), 3),
                   "max": round(max(ttfas), 3)} if ttfas else None,
        "total_s_mean": round(statistics.mean(r["total_s"] for r in records), 3),
        "machine": machine(),
        "examples": [{k: v for k, v in r.items() if not k.startswith("_")} for r in records[:12]],
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a model folder (default: the embedded llama-omni-tiny)")
    parser.add_argument("--omega", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="only the first N held-out questions")
    parser.add_argument("--resynthesis", type=int, default=30, help="held-out sentences for the vocoder figure")
    parser.add_argument("--demo-only", action="store_true",
                        help=f"only the `make demo` question (a minute; results in {DEMO_RESULTS.name} by default)")
    parser.add_argument("--output", default=None, help=f"results file (default {RESULTS})")
    args = parser.parse_args(argv)
    args.output = args.output or str(DEMO_RESULTS if args.demo_only else RESULTS)
    start = time.time()
    result = run(args.model, omega=args.omega, limit=args.limit, resynthesis=args.resynthesis,
                 demo_only=args.demo_only)
    result["benchmark_seconds"] = round(time.time() - start, 1)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    p = result["parity"]
    print(f"parity (speech answer right where the written one is): {p['value']:.1%} "
          f"({p['speech_correct_where_text_correct']}/{p['text_mode_correct']}; speech right {p['speech_mode_correct']}"
          f"/{p['questions']})")
    print(f"answer ASR-WER (Whisper-base vs own text): {result['answer_asr_wer']:.1%} corpus, "
          f"{result['answer_asr_wer_per_answer_median']:.1%} per-answer median")
    alone = result["speaking_from_text_mode"]
    print(f"speaking alone (text-mode answers spoken by the model): ASR-WER {alone['asr_wer']} corpus, "
          f"{alone['asr_wer_per_answer_median']} per-answer median ({alone['answers']} answers)")
    r = result["resynthesis"]
    if r["sentences"]:
        print(f"vocoder resynthesis WER from {r['ground_truth']}: {r['wer_resynthesised']:.1%}, {r['sentences']} "
              "sentences")
    if result["question_read_out_wer"] is not None:
        print(f"the questions as the read-out heard them: {result['question_read_out_wer']:.1%} WER")
    if result["recorded_read_out_wer"] is not None:
        print(f"the recorded clips as the read-out heard them: {result['recorded_read_out_wer']:.1%} WER")
    reference = result["whisper_base_question_wer"]
    print("for reference, Whisper-base's own transcripts of the same clips: "
          + ", ".join(f"{kind} {value:.1%} WER" for kind, value in reference.items() if value is not None))
    demo = result["demo_question"]
    if demo is not None:
        if demo["heard_question"] is not None:
            print(f"demo question heard as: {demo['heard_question']!r}")
        print(f"demo question: {demo['speech_mode']!r}; Whisper-base hears {demo['transcript']!r} "
              f"({demo['gold']} {'in' if demo['answer_in_text'] else 'not in'} the answer, "
              f"{'heard' if demo['answer_heard'] else 'not heard'})")
    print(f"distillMOS of answers: {result['distillmos']['mean']}")
    print(f"TTFA at Omega={args.omega}: {result['ttfa_s']}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
