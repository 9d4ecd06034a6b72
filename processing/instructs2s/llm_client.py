# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""One client for OpenAI-compatible chat-completion servers (vLLM, TGI, llama.cpp's server, hosted APIs).

Used by the data builder's LLM writer (:class:`processing.instructs2s.writers.OpenAICompatibleWriter`) and by the
evaluation judge (``evaluation.judge.OpenAICompatibleJudge``). It is the ``openai`` package's client pointed at
another server, with what both callers need on top:

- the URL: a server (``http://127.0.0.1:8000``, the API then being under ``/v1``), an API base
  (``http://host/v1``) or the full ``.../chat/completions`` URL (:func:`api_base`);
- retries and timeouts are the ``openai`` client's: a timeout, a failed connection, HTTP 408, 409, 429 and 5xx are
  retried ``max_retries`` times with exponential backoff (``Retry-After`` honoured); each retried HTTP answer is
  logged as a warning; other HTTP errors fail at once;
- errors are one :class:`ChatCompletionError` whose message says what failed (authentication, not found, rejected,
  giving up after N attempts, malformed reply), with the server's own message, and never the API key;
- no key, no ``Authorization`` header (local servers); the ``openai`` client never falls back to
  ``OPENAI_API_KEY`` behind the caller's back.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import openai

logger = logging.getLogger(__name__)

__all__ = ["ChatCompletionClient", "ChatCompletionError", "MalformedCompletionError", "api_base"]

# What the openai client retries (besides timeouts and connection errors): a warning is logged for each.
RETRIED_STATUS = frozenset({408, 409, 429})
_NO_KEY = "no-key"  # the openai client wants a key; with this one, the Authorization header is omitted per request


class ChatCompletionError(RuntimeError):
    """A chat completion failed: HTTP error, connection, timeout or retries exhausted (the API key is never in the
    message). `status` is the last HTTP status, or None when no HTTP answer came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MalformedCompletionError(ChatCompletionError):
    """The server answered 200 with something that is not a chat completion with text content."""


def api_base(url: str) -> str:
    """The API base of an OpenAI-compatible server: a trailing ``/chat/completions`` is dropped, and a URL with no
    path (just the server) gets ``/v1``. Raises ``ValueError`` for a URL that is not http(s)."""
    if not isinstance(url, str) or not re.match(r"https?://", url):
        raise ValueError(f"the URL must start with http:// or https://, got {url!r}")
    base = url.rstrip("/")
    base = base.removesuffix("/chat/completions")
    return base + "/v1" if urlsplit(base).path in ("", "/") else base


class ChatCompletionClient:
    """Chat completions from an OpenAI-compatible server.

    Args:
        base_url: the server, the API base or the full ``/chat/completions`` URL (see :func:`api_base`).
        model: the model name sent in the requests.
        api_key: sent as ``Authorization: Bearer ...``; None or empty: no header (the caller reads the environment).
        timeout: seconds per request.
        max_retries: extra attempts after a timeout, a connection error, HTTP 408/409/429 or 5xx.
        auth_hint: what a 401/403 error tells the user to do about the key.

    Raises ``ValueError`` for a URL that is not http(s), a timeout <= 0 or max_retries < 0.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        auth_hint: str = "Pass api_key= or set the OPENAI_API_KEY environment variable.",
    ) -> None:
        base = api_base(base_url)
        if timeout <= 0 or max_retries < 0:
            raise ValueError(f"timeout must be > 0 and max_retries >= 0, got {timeout} and {max_retries}")
        self.base_url = base
        self.endpoint = base + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.auth_hint = auth_hint
        self._api_key = api_key or None
        self._client = openai.OpenAI(
            base_url=base, api_key=self._api_key or _NO_KEY, timeout=timeout, max_retries=max_retries,
            http_client=openai.DefaultHttpxClient(event_hooks={"response": [self._log_retried_answer]}),
        )  # fmt: skip

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, model={self.model!r}, api_key=<{key}>)"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> ChatCompletionClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def redact(self, text: str) -> str:
        """`text` with the API key replaced by ``<api key>``."""
        return text.replace(self._api_key, "<api key>") if self._api_key else text

    # -----------------------------------------------------------------------------------------------------
    def complete(self, messages: Sequence[dict[str, Any]], **parameters: Any) -> str:
        """The assistant's reply (``choices[0].message.content``, unstripped) to `messages`.

        `parameters` are sent as they are (``max_tokens``, ``temperature``, ``seed``, ...); None values are left
        out of the request.

        Raises:
            MalformedCompletionError: a 200 answer that is not a chat completion with text content.
            ChatCompletionError: an HTTP error (at once for 4xx other than 408/409/429, else after the retries), a
                timeout or a failed connection after the retries.
        """
        body = {key: value for key, value in parameters.items() if value is not None}
        extra_headers = {} if self._api_key else {"Authorization": openai.Omit()}
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model, messages=list(messages), extra_headers=extra_headers, **body
            )
        except openai.APIStatusError as error:
            raise self._status_error(error.response) from None
        except openai.APITimeoutError as error:
            raise ChatCompletionError(self._giving_up(error.request, f"timed out after {self.timeout} s")) from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            problem = self.redact(f"connection failed ({type(cause).__name__}: {cause})")
            raise ChatCompletionError(self._giving_up(error.request, problem)) from None
        return self._content(raw.text)

    # -----------------------------------------------------------------------------------------------------
    def _giving_up(self, request: Any, problem: str) -> str:
        attempts = int(request.headers.get("x-stainless-retry-count", 0)) + 1 if request is not None else 1
        return f"{self.endpoint}: giving up after {attempts} attempts; last problem: {problem}"

    def _server_message(self, response: Any) -> str:
        """The server's error message (``error.message`` of a JSON body, else the text), short and redacted."""
        try:
            body = response.json()
            error = body.get("error", body) if isinstance(body, dict) else body
            message = error.get("message") if isinstance(error, dict) else error
            text = str(message if message else body)
        except ValueError:
            text = response.text
        return self.redact(" ".join(text.split())[:300])

    def _status_error(self, response: Any) -> ChatCompletionError:
        status = response.status_code
        message = self._server_message(response)
        if status in RETRIED_STATUS or status >= 500:
            text = self._giving_up(response.request, f"HTTP {status}: {message}")
        elif status in (401, 403):
            text = f"{self.endpoint}: authentication failed (HTTP {status}): {message}. {self.auth_hint}"
        elif status == 404:
            text = f"{self.endpoint}: not found (HTTP 404): {message}. Check the URL and the model {self.model!r}."
        else:
            text = f"{self.endpoint}: request rejected (HTTP {status}): {message}"
        return ChatCompletionError(text, status=status)

    def _content(self, text: str) -> str:
        try:
            content = json.loads(text)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise MalformedCompletionError(
                f"{self.endpoint}: malformed reply ({type(error).__name__}); expected choices[0].message.content, "
                f"got: {self.redact(text[:200])!r}", status=200,
            ) from None  # fmt: skip
        if not isinstance(content, str):
            raise MalformedCompletionError(
                f"{self.endpoint}: the reply has no text content (got {type(content).__name__})", status=200
            )
        return content

    def _log_retried_answer(self, response: Any) -> None:
        """httpx response hook: a warning for each HTTP answer the openai client retries (or gives up on)."""
        if response.status_code in RETRIED_STATUS or response.status_code >= 500:
            response.read()
            attempt = int(response.request.headers.get("x-stainless-retry-count", 0)) + 1
            logger.warning("%s: HTTP %d: %s (attempt %d of %d)", self.endpoint, response.status_code,
                           self._server_message(response), attempt, self.max_retries + 1)
