"""`llama-omni evaluate` (evaluation/): metric modules loaded by path, the judge, eval sets, the cascade, the CLI."""

from __future__ import annotations

import json
import math
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from evaluation.asr import split_long_clip, whisper_words
from evaluation.cascade import pop_sentences
from evaluation.eval_sets import load_eval_set, math_or_code, select_paper_questions
from evaluation.judge import (
    JUDGE_FIX_PROMPT,
    JudgeParseError,
    OpenAICompatibleJudge,
    grade,
    make_judge,
    parse_judge_reply,
)
from evaluation.metrics import asr_error_rates, metric_config_name, metric_path
from tests.tiny_components import make_speech
from tests.tiny_models import write_tiny_model_folder

# ----------------------------------------------------------------------------------------------------------------------
# Metric modules (evaluate.load by path)
# ----------------------------------------------------------------------------------------------------------------------


def load_by_path(name: str):
    import evaluate

    return evaluate.load(metric_path(name), metric_config_name(name))


def test_asr_wer_and_cer_modules_compute_known_values():
    wer = load_by_path("asr_wer")
    result = wer.compute(
        predictions=["it is 3 o'clock", "the bat sat", "", "x"],
        references=["It's three o'clock!", "The cat sat.", "hello world", "!!"],
        per_example=True,
    )
    # Whisper normaliser: "It's three o'clock!" and "it is 3 o'clock" are the same words; "!!" has no word (skipped);
    # the empty transcript is 2 deletions: (0 + 1 + 2) errors / (4 + 3 + 2) reference words.
    assert result["asr_wer"] == pytest.approx(3 / 9)
    assert result["per_example"] == [0.0, pytest.approx(1 / 3), 1.0, None]
    assert (result["num_scored"], result["num_skipped"]) == (3, 1)
    cer = load_by_path("asr_cer").compute(predictions=["the cat"], references=["The bat."])
    assert cer["asr_cer"] == pytest.approx(1 / 7)
    assert wer.compute(predictions=["a"], references=["?"])["asr_wer"] is None
    assert wer.compute(predictions=["The Cat"], references=["the cat"], normalize="none")["asr_wer"] == 1.0
    with pytest.raises(ValueError, match="normalize"):
        wer.compute(predictions=["a"], references=["a"], normalize="lowercase")
    both = asr_error_rates(["The cat sat.", "hello world"], ["the bat sat", ""])
    assert both["asr_wer"] == pytest.approx(3 / 5) and both["per_example"][1] == {"asr_wer": 1.0, "asr_cer": 1.0}


def test_speech_quality_modules_compute_known_values():
    import distillmos

    clip = make_speech(2.0, seed=0)
    noise = np.clip(np.random.default_rng(0).standard_normal(32000) * 0.3, -1, 1).astype(np.float32)
    mos = load_by_path("distillmos").compute(audio=[clip, noise, clip[:100]], sampling_rate=16000)
    with torch.inference_mode():
        direct = float(distillmos.ConvTransformerSQAModel().eval()(torch.as_tensor(clip)[None]).squeeze())
    assert mos["scores"][0] == pytest.approx(direct, abs=1e-5)  # the package's own model, same numbers
    assert mos["scores"][2] is None and (mos["num_scored"], mos["num_skipped"]) == (2, 1)
    assert mos["scores"][0] == pytest.approx(2.547, abs=0.02) and mos["scores"][1] == pytest.approx(2.148, abs=0.02)
    assert mos["distillmos"] == pytest.approx((mos["scores"][0] + mos["scores"][1]) / 2)

    dnsmos = load_by_path("dnsmos").compute(audio=[clip, noise], sampling_rate=16000, num_threads=1)
    ovrl = [s["ovrl"] for s in dnsmos["scores"]]
    assert ovrl == [pytest.approx(1.949, abs=0.02), pytest.approx(1.069, abs=0.02)]
    assert dnsmos["dnsmos"] == pytest.approx(sum(ovrl) / 2)
    assert dnsmos["scores"][0]["p808"] == pytest.approx(2.495, abs=0.02)
    # resampled input: the same speech at 8 kHz scores close to its 16 kHz self
    low = load_by_path("dnsmos").compute(audio=[clip[::2]], sampling_rate=8000, num_threads=1)
    assert 1.0 <= low["dnsmos"] <= 5.0


class _ToyMos(torch.nn.Module):
    def forward(self, wave: torch.Tensor, sr: int) -> torch.Tensor:
        return 1.0 + 4.0 * wave.abs().mean(dim=-1).clamp(max=1.0)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.load (tried on the bad file) is deprecated
def test_utmos_module_runs_a_local_model_file_only(tmp_path):
    path = tmp_path / "toy_utmos.pt2"  # a torch.export program, the length of the clip dynamic
    samples = torch.export.Dim("samples", min=2, max=10**8)
    program = torch.export.export(_ToyMos(), (torch.zeros(1, 16000), 16000), dynamic_shapes=({1: samples}, None))
    torch.export.save(program, str(path))
    clip = np.full(16000, 0.25, dtype=np.float32)
    result = load_by_path("utmos").compute(audio=[clip, clip[:10]], sampling_rate=16000, model_path=str(path))
    assert result["scores"] == [pytest.approx(2.0), None] and result["utmos"] == pytest.approx(2.0)
    with pytest.raises(FileNotFoundError, match="model_path"):
        load_by_path("utmos").compute(audio=[clip], sampling_rate=16000)
    (tmp_path / "weights.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="neither an ONNX file"):
        load_by_path("utmos").compute(audio=[clip], sampling_rate=16000, model_path=str(tmp_path / "weights.pt"))


def test_metric_path_refuses_unknown_names():
    import evaluate

    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("wer")
    # ASR-WER and ASR-CER are the two configurations of one module
    assert metric_path("asr_wer") == metric_path("asr_cer") and Path(metric_path("asr_wer")).name == "asr_error_rate"
    assert (metric_config_name("asr_wer"), metric_config_name("asr_cer"), metric_config_name("dnsmos")) == (
        "wer", "cer", None)
    with pytest.raises(KeyError, match="configurations"):
        evaluate.load(metric_path("asr_wer"), "bleu")


# ----------------------------------------------------------------------------------------------------------------------
# The judge
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, scores",
    [
        ('{"content": 4, "style": 5}', (4, 5)),
        ('Sure! Here are my grades:\n```json\n{"Content": "3", "Style": 2.0}\n```', (3, 2)),
        ("Content: 4/5\nStyle: 3/5", (4, 3)),
        ('{"style": 1, "content": 5} and more text', (5, 1)),
        ('{"content": 4, "style": 5', (4, 5)),  # unclosed JSON: read as labelled numbers
    ],
)
def test_judge_parser_reads_scores(reply, scores):
    assert parse_judge_reply(reply) == scores


@pytest.mark.parametrize(
    "reply, message",
    [
        ("", "empty reply"),
        ("I think it is a good answer.", "no content score"),
        ('{"content": 6, "style": 3}', "from 1 to 5"),
        ('{"content": 3.5, "style": 3}', "whole number"),
        ('{"content": true, "style": 3}', "not a number"),
        ("Content: 8/10, Style: 9/10", "another scale"),
        ('{"content": 4}', "no style score"),
    ],
)
def test_judge_parser_refuses_malformed_replies(reply, message):
    with pytest.raises(JudgeParseError, match=message):
        parse_judge_reply(reply)


class ScriptedJudge:
    """Replies from a list, in order; an Exception item is raised."""

    name = "scripted"

    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    def chat(self, messages):
        self.calls.append(messages)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_grade_retries_malformed_replies_then_counts_them():
    judge = ScriptedJudge(["no idea", '{"content": 2, "style": 4}'])
    result = grade(judge, "What is the capital of France?", "Paris.", retries=2)
    assert (result.content, result.style, result.attempts, result.malformed) == (2, 4, 2, False)
    retry = judge.calls[1]  # the retry shows the judge its reply and asks for the JSON alone
    assert retry[-2] == {"role": "assistant", "content": "no idea"} and retry[-1]["content"] == JUDGE_FIX_PROMPT

    judge = ScriptedJudge(["bad", RuntimeError("endpoint down"), "Content: 9/10 style: 9/10"])
    result = grade(judge, "q", "an answer", retries=2)
    assert result.malformed and result.attempts == 3 and result.content is None
    assert result.replies == ["bad", "Content: 9/10 style: 9/10"] and "another scale" in result.error

    judge = ScriptedJudge([])
    result = grade(judge, "q", "   ", retries=2)  # an empty answer is graded by rule, the judge is not asked
    assert (result.content, result.style, result.attempts, result.rule) == (1, 1, 0, "empty answer")
    assert make_judge("none") is None and make_judge(None) is None
    with pytest.raises(ValueError, match="unknown judge"):
        make_judge("gpt-4o")


class JudgeServer:
    """A scripted OpenAI-compatible chat-completions endpoint on 127.0.0.1 (a tiny http.server in a thread).

    Grades: every first attempt about the question `always_bad` is malformed, and so is every retry; for the other
    questions the first attempt is malformed and the retry is well formed. `requests` keeps what was posted.
    """

    def __init__(self, always_bad: str):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                messages = body["messages"]
                if always_bad in messages[1]["content"]:
                    reply = "This answer is fine, I would say."
                elif len(messages) == 2:
                    reply = "Content is good."
                else:
                    reply = '{"content": 3, "style": 4}'
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def test_openai_compatible_judge_over_http(monkeypatch):
    monkeypatch.setenv("TEST_JUDGE_KEY", "sk-test")
    with JudgeServer(always_bad="Never graded") as server:
        judge = OpenAICompatibleJudge(server.url, model="judge-model", api_key_env="TEST_JUDGE_KEY")
        result = grade(judge, "What is two plus two?", "Four.", retries=1)
        assert (result.content, result.style, result.attempts) == (3, 4, 2)
        failed = grade(judge, "Never graded?", "Yes.", retries=1)
        assert failed.malformed and failed.attempts == 2
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    assert first["body"]["model"] == "judge-model" and first["body"]["temperature"] == 0
    assert "Question: What is two plus two?" in first["body"]["messages"][1]["content"]


# ----------------------------------------------------------------------------------------------------------------------
# Eval sets
# ----------------------------------------------------------------------------------------------------------------------

VICUNA_MATH_AND_CODE = [
    "Develop a C++ program that reads a text file line by line and counts the number of occurrences of a specific "
    "word in the file.",
    "Implement a Python function to find the longest common subsequence of two input strings using dynamic "
    "programming.",
    "Implement a regular expression in Python to validate an email address.",
    "Write a program to find the nth Fibonacci number using dynamic programming.",
    "Implement a binary search algorithm to find a specific element in a sorted array.",
    "Implement a queue data structure using two stacks in Python.",
    "Implement a program to find the common elements in two arrays without using any extra data structures.",
    "Given that f(x) = 5x^3 - 2x + 3, find the value of f(2).",
    "Solve for x in the equation 3x + 10 = 5(x - 2).",
    "If the endpoints of a line segment are (2, -2) and (10, 4), what is the length of the segment?",
]
KEPT_QUESTIONS = [
    "What are the main differences between Python and JavaScript programming languages?",
    "What if Alan Turing had not cracked the Enigma code during World War II?",
    "Write a script for a YouTube video exploring the history and cultural significance of jazz.",
    "How many times does the average human blink in a lifetime? Try to explain your answer step-by-step.",
    "How many text messages are sent globally in a minute?",
    "What is some cool music from the 1920s?",
    "How do I wrap a present neatly?",
    "Can you help me plan a workout program for the next 4 weeks?",
    "How can I improve my time management skills?",
]


def test_math_and_code_filter_matches_the_papers_selection():
    assert [math_or_code(q) for q in VICUNA_MATH_AND_CODE] == ["code"] * 7 + ["math"] * 3
    assert [math_or_code(q) for q in KEPT_QUESTIONS] == [None] * len(KEPT_QUESTIONS)


def fake_alpaca_eval(path: Path) -> Path:
    rows = [{"dataset": "helpful_base", "instruction": "How do I wrap a present neatly?", "output": "..."},
            {"dataset": "koala", "instruction": "What is the capital of France?", "output": "..."},
            {"dataset": "vicuna", "instruction": VICUNA_MATH_AND_CODE[0], "output": "..."},
            {"dataset": "vicuna", "instruction": "How can I improve my time management skills?", "output": "..."},
            {"dataset": "vicuna", "instruction": VICUNA_MATH_AND_CODE[8], "output": "..."},
            {"dataset": "selfinstruct", "instruction": "Write a haiku.", "output": "..."}]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def test_paper_eval_set_builder_on_a_fake_alpaca_eval(tmp_path, capsys):
    from llama_omni_cli import main

    source = fake_alpaca_eval(tmp_path / "alpaca_eval.json")
    kept, removed = select_paper_questions(json.loads(source.read_text()))
    assert [r["instruction"] for r in kept] == ["How do I wrap a present neatly?",
                                               "How can I improve my time management skills?"]
    assert [r["removed"] for r in removed] == ["code", "math"]

    out = tmp_path / "paper_set"
    assert main(["evaluate", "build-set", "--output", str(out), "--source", str(source), "--voice", "flite:kal16",
                 "--no-progress"]) == 0
    assert "2 spoken questions" in capsys.readouterr().out
    report = json.loads((out / "build_report.json").read_text())
    assert report["num_examples"] == 2 and report["matches_paper"] is False  # not the paper's 199
    assert report["per_subset"] == {"helpful_base": 1, "vicuna": 1} and len(report["removed"]) == 2
    info, examples = load_eval_set(str(out))
    assert info.num_examples == 2 and info.name.startswith("InstructS2S-Eval")
    assert [e.id for e in examples] == ["helpful_base-000", "vicuna-001"]
    assert all(e.audio.dtype == np.float32 and len(e.audio) > 16000 for e in examples)
    with pytest.raises(FileNotFoundError, match="no evaluation set"):
        load_eval_set(str(tmp_path / "missing"))


def test_jsonl_eval_set_speaks_rows_without_audio(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "a 1", "question": "What is two plus two?", "answer": "four"}) + "\n")
    info, examples = load_eval_set(str(path), voice="flite:kal16")
    assert [e.id for e in examples] == ["a-1"] and examples[0].answer == "four" and len(examples[0].audio) > 8000
    path.write_text(json.dumps({"id": "x", "question": "Hi?"}) + "\n" + json.dumps({"id": "x", "question": "Yo?"}))
    with pytest.raises(ValueError, match="appears twice"):
        load_eval_set(str(path), voice="flite:kal16")


# ----------------------------------------------------------------------------------------------------------------------
# Helpers of the ASR and the cascade
# ----------------------------------------------------------------------------------------------------------------------


def test_pop_sentences_and_long_clip_split():
    assert pop_sentences("Hello there. How are") == (["Hello there."], "How are")
    assert pop_sentences("It costs 3.5 dollars! Fine", final=True) == (["It costs 3.5 dollars!", "Fine"], "")
    speech = np.concatenate([make_speech(12.0, seed=s) for s in range(6)])  # 72 s
    pieces = split_long_clip(speech)
    assert all(len(p) <= 30 * 16000 for p in pieces) and sum(map(len, pieces)) == len(speech)
    assert len(pieces) == 3 and whisper_words("It's 5 o'clock!") == whisper_words("it is 5 o'clock")


# ----------------------------------------------------------------------------------------------------------------------
# The command, end to end
# ----------------------------------------------------------------------------------------------------------------------


TIMING_KEYS = ("ttfa_s", "ttft_s", "total_s", "decoding_s", "asr_s", "rtf", "ratio")


def non_timing(values: dict) -> dict:
    return {k: v for k, v in values.items() if not any(t in k for t in TIMING_KEYS)}


def test_evaluate_command_end_to_end(tmp_path, capsys):
    from evaluation.schema import load_eval_report
    from llama_omni_cli import main

    folder = write_tiny_model_folder(tmp_path / "tiny-model")
    second_question = "What is the capital city of Iceland?"  # the 2nd held-out question: its judge never complies

    def run(out: Path, url: str, *extra: str) -> dict:
        argv = ["evaluate", "--model", str(folder), "--eval-set", "heldout", "--limit", "3", "--omega", "10,20",
                "--asr", "whisper-tiny.en", "--judge", url, "--judge-model", "scripted", "--judge-retries", "1",
                "--max-new-tokens", "16", "--min-new-tokens", "12", "--output-dir", str(out), "--no-progress", *extra]
        assert main(argv) == 0
        return json.loads((out / "evaluation.json").read_text())

    with JudgeServer(always_bad=second_question) as server:
        first = run(tmp_path / "run1", server.url)
        requests_after_first = len(server.requests)
        second = run(tmp_path / "run2", server.url, "--no-dnsmos")  # (DNSMOS is the slow predictor on a CPU)
        resumed = run(tmp_path / "run1", server.url)  # everything is cached: nothing is asked again
        assert len(server.requests) == 2 * requests_after_first

    out = tmp_path / "run1"
    report = load_eval_report(out / "evaluation.json")  # the schema the model card reads
    assert report.eval_set.num_examples == 3 and [w for w, _ in report.per_omega] == [10, 20]
    metrics = first["metrics"]
    expected = {"ttfa_s", "ttft_s", "lagging_words", "asr_wer", "asr_cer", "distillmos", "dnsmos", "decoding_s_s2tif",
                "decoding_s_s2sif", "rtf", "cascade_ttfa_s", "cascade_total_s", "cascade_asr_wer",
                "cascade_ttfa_ratio", "judge_content", "judge_style", "judge_content_speech", "judge_style_speech",
                "cascade_judge_content", "cascade_judge_style", "judge_scored", "judge_malformed"}
    assert expected <= set(metrics)
    for row in [metrics] + first["per_omega"]:  # every figure is a number
        for key, value in row.items():
            assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), key
    for row in first["per_omega"]:
        assert {"ttfa_s", "lagging_words", "asr_wer", "asr_cer", "distillmos", "dnsmos"} <= set(row)
    lagging = [row["lagging_words"] for row in first["per_omega"]]
    assert lagging[0] < lagging[1]  # twice the units before the first chunk: more words already out

    # the judge: malformed replies were retried, then counted (never dropped)
    examples = [json.loads(line) for line in (out / "examples.jsonl").read_text().splitlines()]
    assert len(examples) == 3
    graded = [(e["question"], j) for e in examples for j in e["judge"].values()]
    bad = [j for q, j in graded if q == second_question and j["attempts"]]
    assert bad and all(j["content"] is None and j["attempts"] == 2 and j["error"] for j in bad)
    assert all(j["content"] == 3 and j["style"] == 4 for q, j in graded if q != second_question and j["attempts"])
    assert metrics["judge_malformed"] == len(bad) and metrics["judge_scored"] + len(bad) == 12

    # reproducible: a second run from scratch gives the same non-timing figures; a resumed run reuses every item
    def same_settings(values: dict) -> dict:
        return {k: v for k, v in non_timing(values).items() if "dnsmos" not in k}

    assert same_settings(second["metrics"]) == same_settings(metrics)
    assert [same_settings(r) for r in second["per_omega"]] == [same_settings(r) for r in first["per_omega"]]
    assert resumed["metrics"] == metrics

    markdown = (out / "report.md").read_text()
    for heading in ("## Results at Ω = 10", "## End to end vs the cascade baseline", "(the paper's Table 2)",
                    "## Judge", "## Examples", "![latency vs quality](omega_tradeoff.png)"):
        assert heading in markdown
    assert (out / "omega_tradeoff.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "cascade TTFA" in printed and "malformed" in printed
    assert os.path.isdir(out / "cache")


# ----------------------------------------------------------------------------------------------------------------------
# With the real offline weights (whisper-base, SmolLM2)
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_whisper_base_asr_transcribes_long_answers_in_pieces():
    from evaluation.asr import WhisperASR
    from offline_assets.tts import get_voice

    sentence = "The weather is sunny and warm today, so we will walk to the park."
    clip = get_voice("flite:kal16").synthesize(sentence)
    long_clip = np.concatenate([clip] + [np.zeros(16000, np.float32), clip] * 7)  # over 30 s
    asr = WhisperASR("whisper-base")
    short, long = asr([clip, long_clip])
    rates = asr_error_rates([sentence, " ".join([sentence] * 8)], [short, long])
    assert rates["per_example"][0]["asr_wer"] <= 0.1 and rates["per_example"][1]["asr_wer"] <= 0.2


@pytest.mark.slow
def test_smollm2_judge_grades_or_counts():
    judge = make_judge("smollm2")
    result = grade(judge, "What is the capital of France?", "The capital of France is Paris.", retries=1)
    assert 1 <= result.attempts <= 2 and len(result.replies) == result.attempts
    assert (result.content is None) == result.malformed or 1 <= result.content <= 5
