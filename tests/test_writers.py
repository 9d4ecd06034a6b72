"""Writers (local transformers chat model, OpenAI-compatible HTTP endpoint) and the two InstructS2S text steps."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from processing.instructs2s.writers import (
    RESPOND_SYSTEM_PROMPT,
    REWRITE_USER_TEMPLATE,
    OpenAICompatibleWriter,
    RewriteResult,
    TransformersChatWriter,
    Writer,
    WriterError,
    respond_for_speech,
    rewrite_for_speech,
    strip_chat_preamble,
)
from tests.tiny_components import IM_END, make_tiny_tokenizer

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story about a cat and a dog."}],
    [{"role": "user", "content": "Hi"}],
]


# ------------------------------------------------------------------------------------------ transformers writer


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_chat():
    tokenizer = make_tiny_tokenizer()
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
    )  # fmt: skip
    return LlamaForCausalLM(config).eval(), tokenizer


def test_transformers_writer_runs_and_is_deterministic(tiny_chat):
    model, tokenizer = tiny_chat
    writer = TransformersChatWriter(model, tokenizer, batch_size=2)
    first = writer.complete(CONVERSATIONS, max_new_tokens=12)
    assert len(first) == 3 and all(isinstance(x, str) and x for x in first)
    assert writer.complete(CONVERSATIONS, max_new_tokens=12) == first
    # left padding: a batch gives what each conversation gives alone
    one_by_one = TransformersChatWriter(model, tokenizer, batch_size=1)
    alone = [one_by_one.complete([c], max_new_tokens=12)[0] for c in CONVERSATIONS]
    assert alone == first
    assert TransformersChatWriter(model, tokenizer, batch_size=8).complete(CONVERSATIONS, max_new_tokens=12) == first
    assert tokenizer.padding_side == "right"  # the caller's tokenizer setting is left alone


def test_transformers_writer_seeded_sampling(tiny_chat):
    model, tokenizer = tiny_chat
    writer = TransformersChatWriter(model, tokenizer, batch_size=2)
    state = torch.random.get_rng_state()
    a = writer.complete(CONVERSATIONS, max_new_tokens=12, temperature=1.5, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is not touched
    assert writer.complete(CONVERSATIONS, max_new_tokens=12, temperature=1.5, seed=3) == a
    assert writer.complete(CONVERSATIONS, max_new_tokens=12, temperature=1.5, seed=4) != a
    assert writer.complete(CONVERSATIONS, max_new_tokens=12) != a  # greedy differs from hot sampling


def test_transformers_writer_from_pretrained(tiny_chat, tmp_path):
    model, tokenizer = tiny_chat
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    writer = TransformersChatWriter.from_pretrained(tmp_path, dtype=torch.float32, device="cpu")
    expected = TransformersChatWriter(model, tokenizer).complete(CONVERSATIONS[:1], max_new_tokens=8)
    assert writer.complete(CONVERSATIONS[:1], max_new_tokens=8) == expected


def test_transformers_writer_errors(tiny_chat):
    model, tokenizer = tiny_chat
    with pytest.raises(ValueError, match="chat template"):
        TransformersChatWriter(model, make_tiny_tokenizer())
    with pytest.raises(ValueError, match="batch_size"):
        TransformersChatWriter(model, tokenizer, batch_size=0)
    writer = TransformersChatWriter(model, tokenizer)
    with pytest.raises(ValueError):
        writer.complete([[]])
    with pytest.raises(ValueError):
        writer.complete([[{"content": "no role"}]])
    with pytest.raises(TypeError):
        writer.complete("not a list")
    with pytest.raises(ValueError):
        writer.complete(CONVERSATIONS, temperature=-1)
    with pytest.raises(ValueError):
        writer.complete(CONVERSATIONS, max_new_tokens=0)
    assert writer.complete([]) == []


# ------------------------------------------------------------------------------------------ OpenAI-compatible


class _Server:
    """A real HTTP server on 127.0.0.1 whose replies are queued by the test: (status, body, headers, delay)."""

    def __init__(self):
        self.replies = []
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                # the headers as received (an email.message.Message: names are case-insensitive, as in HTTP)
                server.requests.append({"path": self.path, "headers": self.headers, "json": json.loads(body)})
                default = (200, _ok("default"), {}, 0)
                status, reply, headers, delay = server.replies.pop(0) if server.replies else default
                if delay:
                    time.sleep(delay)
                data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def queue(self, status, body, headers=None, delay=0.0):
        self.replies.append((status, body, headers or {}, delay))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _ok(text):
    message = {"role": "assistant", "content": text}
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": message}]}


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_openai_writer_request_and_reply(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.queue(200, _ok("  Paris.  "))
    server.queue(200, _ok("A cat met a dog."))
    with OpenAICompatibleWriter(server.url, "my-model", api_key="sk-secret") as writer:
        out = writer.complete(CONVERSATIONS[:2], max_new_tokens=40, temperature=0.3, seed=7)
    assert out == ["Paris.", "A cat met a dog."]
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["headers"]["Authorization"] == "Bearer sk-secret"
    assert first["json"] == {
        "model": "my-model", "messages": CONVERSATIONS[0], "max_tokens": 40, "temperature": 0.3, "seed": 7,
    }  # fmt: skip
    assert "secret" not in repr(writer)


def test_openai_writer_key_from_environment_and_urls(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    writer = OpenAICompatibleWriter(server.url + "/v1/", "m")
    assert writer.endpoint == server.url + "/v1/chat/completions"
    writer.complete(CONVERSATIONS[:1])
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-from-env"
    assert "seed" not in server.requests[0]["json"]
    assert OpenAICompatibleWriter("http://h:1/v1/chat/completions", "m").endpoint == "http://h:1/v1/chat/completions"
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAICompatibleWriter(server.url, "m").complete(CONVERSATIONS[:1])
    assert "Authorization" not in server.requests[1]["headers"]
    with pytest.raises(ValueError):
        OpenAICompatibleWriter("ftp://host", "m")


def test_openai_writer_retries_500_then_succeeds(server, caplog):
    server.queue(500, {"error": {"message": "overloaded"}})
    server.queue(200, _ok("fine"))
    writer = OpenAICompatibleWriter(server.url, "m", api_key="sk-secret")
    with caplog.at_level(logging.WARNING, logger="processing.instructs2s.writers"):
        assert writer.complete(CONVERSATIONS[:1]) == ["fine"]
    assert len(server.requests) == 2
    assert "HTTP 500" in caplog.text and "sk-secret" not in caplog.text


def test_openai_writer_retries_429_with_retry_after(server):
    server.queue(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "0"})
    server.queue(200, _ok("ok"))
    assert OpenAICompatibleWriter(server.url, "m").complete(CONVERSATIONS[:1]) == ["ok"]
    assert len(server.requests) == 2


def test_openai_writer_401_is_a_clear_error_without_retry(server):
    server.queue(401, {"error": {"message": "Incorrect API key provided: sk-secret"}})
    writer = OpenAICompatibleWriter(server.url, "m", api_key="sk-secret")
    with pytest.raises(WriterError, match="authentication failed \\(HTTP 401\\)") as info:
        writer.complete(CONVERSATIONS[:1])
    assert "sk-secret" not in str(info.value) and "OPENAI_API_KEY" in str(info.value)
    assert len(server.requests) == 1


def test_openai_writer_404_and_400(server):
    server.queue(404, {"error": {"message": "model not found"}})
    with pytest.raises(WriterError, match="not found \\(HTTP 404\\): model not found"):
        OpenAICompatibleWriter(server.url, "nope").complete(CONVERSATIONS[:1])
    server.queue(400, b"bad request body")
    with pytest.raises(WriterError, match="rejected \\(HTTP 400\\): bad request body"):
        OpenAICompatibleWriter(server.url, "m").complete(CONVERSATIONS[:1])


def test_openai_writer_gives_up_after_max_retries(server):
    for _ in range(3):
        server.queue(503, {"error": {"message": "down"}})
    with pytest.raises(WriterError, match="giving up after 3 attempts; last problem: HTTP 503: down"):
        OpenAICompatibleWriter(server.url, "m", max_retries=2).complete(CONVERSATIONS[:1])
    assert len(server.requests) == 3


def test_openai_writer_retries_a_timeout(server):
    server.queue(200, _ok("late"), delay=1.0)
    server.queue(200, _ok("on time"))
    writer = OpenAICompatibleWriter(server.url, "m", timeout=0.3)
    assert writer.complete(CONVERSATIONS[:1]) == ["on time"]


def test_openai_writer_malformed_reply(server):
    server.queue(200, {"unexpected": True})
    with pytest.raises(WriterError, match="malformed reply"):
        OpenAICompatibleWriter(server.url, "m").complete(CONVERSATIONS[:1])


def test_openai_writer_connection_refused():
    s = _Server()
    url = s.url
    s.close()  # nothing listens there any more
    with pytest.raises(WriterError, match="connection failed"):
        OpenAICompatibleWriter(url, "m", max_retries=1).complete(CONVERSATIONS[:1])


def test_openai_writer_concurrency_keeps_order(server):
    writer = OpenAICompatibleWriter(server.url, "m", concurrency=3)
    for i in range(5):
        server.queue(200, _ok("same"))
    assert writer.complete([CONVERSATIONS[0]] * 5) == ["same"] * 5
    assert len(server.requests) == 5


# ------------------------------------------------------------------------------------------ text steps


class CannedWriter(Writer):
    """Returns the canned raw output for each instruction (the last user message, without the rewrite wrapper);
    records the calls."""

    def __init__(self, canned):
        self.canned = canned
        self.calls = []

    def complete(self, conversations, max_new_tokens=256, temperature=0.0, seed=None):
        self.calls.append({"conversations": conversations, "max_new_tokens": max_new_tokens,
                           "temperature": temperature, "seed": seed})  # fmt: skip
        return [self.canned[c[-1]["content"].split("Request: ", 1)[-1]] for c in conversations]


REWRITES = {
    "What's 2+2?": 'Sure! Here is the rewritten question:\n\n"Hey, um, what\'s 2 + 2?"\n\nThis version sounds casual.',
    "List 5 fruits.": "Rewritten request: So, could you name five fruits for me?",
    "Explain RAM & ROM.": "\u201cWhat's the difference between RAM and ROM?\u201d",
    "Convert 10 km to miles.": "Here's a more natural way to say it: How many miles is 10 km?",
    "Summarize https://x.com": "Can you sum up what's on https://x.com for me?",
    "Translate to Chinese.": "\u8bf7\u7ffb\u8bd1\u6210\u4e2d\u6587",
}


def test_rewrite_for_speech_strips_normalises_and_rejects():
    writer = CannedWriter(REWRITES)
    results = rewrite_for_speech(list(REWRITES), writer, seed=5, temperature=0.7)
    texts = [r.text for r in results]
    assert texts[:4] == [
        "Hey, um, what's two plus two?",
        "So, could you name five fruits for me?",
        "What's the difference between RAM and ROM?",
        "How many miles is ten kilometers?",
    ]
    assert all(r.ok for r in results[:4])
    assert results[4].rejected == "contains a URL"
    assert results[5].rejected.startswith("contains characters an English TTS cannot read")
    assert [r.raw for r in results] == list(REWRITES.values())
    call = writer.calls[0]
    assert call["seed"] == 5 and call["temperature"] == 0.7 and call["max_new_tokens"] == 128
    conversation = call["conversations"][0]
    assert conversation[0]["role"] == "system" and "spoken" in conversation[0]["content"]
    assert [m["role"] for m in conversation[1:]] == ["user", "assistant"] * 3 + ["user"]
    assert conversation[-1] == {"role": "user", "content": REWRITE_USER_TEMPLATE.format(instruction="What's 2+2?")}
    assert "Do not answer it" in conversation[-1]["content"]


def test_rewrite_rejects_answers_and_drift():
    canned = {
        "What is the capital of France?": "The capital of France is Paris.",
        "Explain how a refrigerator works.": "Just keep it short.",
        "Tell me the capital of Peru.": "Hey, tell me the capital of Peru, please.",
        "Summarize the plot of Hamlet.": "Um, can you tell me what happens in Hamlet?",
    }
    results = rewrite_for_speech(list(canned), CannedWriter(canned))
    assert [r.rejected for r in results] == [
        "the rewrite is not a request", "the rewrite lost the request", None, None,
    ]  # fmt: skip
    unchecked = rewrite_for_speech(list(canned), CannedWriter(canned), check_request=False)
    assert all(r.ok for r in unchecked)


def test_rewrite_rejects_long_output_and_empty_instructions():
    words = "could you please tell me about the history of every single country in the whole world and also " * 2
    writer = CannedWriter({"Say hi.": words + "their capitals?"})
    results = rewrite_for_speech(["Say hi.", "", "   "], writer, max_words=20)
    assert results[0].rejected.startswith("too long")
    assert results[1] == results[2] == RewriteResult(text="", raw="", rejected="empty instruction")
    assert len(writer.calls[0]["conversations"]) == 1  # empty instructions never reach the LLM


RESPONSES = {
    "Sleep tips?": (
        "Sure! Here are some tips:\n\n## Better sleep\n1. **Keep a schedule**: bed by 10:30 pm.\n"
        "2. Avoid screens (phones, TVs) 1 hr before bed.\n3. Keep the room at 18\u00b0C \U0001F634"
    ),
    "Capital of France?": "The capital of France is Paris.",
    "Show me code.": "Here you go:\n```python\nprint('hi')\n```\nThis prints hi.",
    "A link?": "You can read more at https://example.com about it.",
    "Ramble.": "This answer goes on and on without ever stopping " * 12,
    "Long answer.": (
        "First, drink water every morning. Second, walk for twenty minutes a day. Third, eat more vegetables "
        "and fruit with every meal. Fourth, sleep at least seven hours. Fifth, call a friend"
    ),
    "Loop.": "yes yes yes yes yes yes yes yes",
}


def test_respond_for_speech_normalises_fits_and_rejects():
    writer = CannedWriter(RESPONSES)
    results = dict(zip(RESPONSES, respond_for_speech(list(RESPONSES), writer, max_words=25)))
    assert results["Sleep tips?"].text == (
        "Better sleep. Keep a schedule: bed by ten thirty PM. Avoid screens, phones, TVs, one hour before bed. "
        "Keep the room at eighteen degrees Celsius."
    )
    assert results["Sleep tips?"].ok
    assert results["Capital of France?"] == RewriteResult(
        "The capital of France is Paris.", RESPONSES["Capital of France?"], None
    )
    assert results["Show me code."].rejected == "code block in the LLM output"
    assert results["A link?"].rejected == "contains a URL"
    assert results["Ramble."].rejected.startswith("too long")  # one endless sentence cannot be cut
    # whole sentences within the limit; the unfinished last one is dropped
    assert results["Long answer."].text == (
        "First, drink water every morning. Second, walk for twenty minutes a day. Third, eat more vegetables and "
        "fruit with every meal."
    )
    assert results["Long answer."].ok
    assert results["Loop."].rejected == "repetitive"
    assert writer.calls[0]["conversations"][0][-1] == {"role": "user", "content": "Sleep tips?"}
    system = writer.calls[0]["conversations"][0][0]["content"]
    assert system == RESPOND_SYSTEM_PROMPT.replace("{max_words}", "25")
    assert writer.calls[0]["max_new_tokens"] == 256 and writer.calls[0]["temperature"] == 0.0


def test_steps_check_their_arguments():
    writer = CannedWriter({})
    with pytest.raises(TypeError):
        rewrite_for_speech("a string", writer)
    with pytest.raises(TypeError):
        respond_for_speech(["x"], object())
    with pytest.raises(ValueError):
        respond_for_speech(["x"], writer, max_words=0)
    with pytest.raises(ValueError):
        respond_for_speech(["x"], writer, max_words=None)

    class Short(Writer):
        def complete(self, conversations, max_new_tokens=256, temperature=0.0, seed=None):
            return []

    with pytest.raises(WriterError, match="returned 0 completions for 1"):
        respond_for_speech(["x"], Short())


def test_steps_run_end_to_end_on_a_tiny_model(tiny_chat):
    model, tokenizer = tiny_chat
    writer = TransformersChatWriter(model, tokenizer, batch_size=4)
    results = respond_for_speech(["What is the capital of France?", "Hi"], writer, max_new_tokens=10)
    again = respond_for_speech(["What is the capital of France?", "Hi"], writer, max_new_tokens=10)
    assert results == again and len(results) == 2
    for r in results:  # random weights write gibberish: whatever it is, it was normalised and checked
        assert isinstance(r.raw, str) and (r.rejected is not None or r.text)


PREAMBLES = [
    ("Sure! Here is the rewritten question: What's up?", "What's up?"),
    ("Certainly. Here's a spoken version of the request:\n\nHow are you?", "How are you?"),
    ("Of course!\nThe answer is four.", "The answer is four."),
    ("Sure! The answer is four.", "Sure! The answer is four."),  # a spoken "Sure!" stays
    ("Answer: Paris.", "Paris."),
    ("Spoken version: Hey, what time is it?", "Hey, what time is it?"),
    ('"Hey, what time is it?"', "Hey, what time is it?"),
    ("\u201cQuoted\u201d", "Quoted"),
    ('"Yes," she said, "no."', '"Yes," she said, "no."'),  # not one quotation: kept
    ("Here is my answer: it depends.", "it depends."),
    ("Rewritten question: Um, what's up?", "Um, what's up?"),
    ("Natural gas: it's a fossil fuel.", "Natural gas: it's a fossil fuel."),  # not a label
    ("Plain text.", "Plain text."),
]


@pytest.mark.parametrize("raw, expected", PREAMBLES)
def test_strip_chat_preamble(raw, expected):
    assert strip_chat_preamble(raw) == expected


def test_strip_chat_preamble_first_paragraph():
    raw = '"Hey, what\'s two plus two?" This version is more casual.\n\nAnother idea: ...'
    assert strip_chat_preamble(raw, first_paragraph=True) == "Hey, what's two plus two?"
    assert strip_chat_preamble("One.\n\nTwo.", first_paragraph=True) == "One."
