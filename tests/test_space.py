"""The Gradio Space (space/) served on 127.0.0.1 with a tiny random model, called with gradio_client.

The app runs in this process (served from a background thread), so that the tests can see its generation threads
(`llama-omni-generate`, one per answer being generated); one test also starts it as `python space/app.py`.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from inference import Conversation, GenerationSettings, Responder, Turn
from tests.tiny_components import make_speech
from tests.tiny_models import write_tiny_model_folder

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_PATH = REPO_ROOT / "space" / "app.py"
GENERATION_THREAD = "llama-omni-generate"  # the thread name of modeling_llama_omni's stream_generate
MAX_FILE_SIZE = "1mb"
# Every answer of the test app is 16-32 tokens long (the random tiny model seldom stops by itself that early).
TEST_MIN_NEW_TOKENS = 16
TEST_MAX_NEW_TOKENS = 32


# ----------------------------------------------------------------------------------------------------------------------
# Helpers (also used by test_space_browser.py)
# ----------------------------------------------------------------------------------------------------------------------


def load_space_app() -> ModuleType:
    """`space.app`, the Space's entry point (imported from the installed project, as `python space/app.py` does)."""
    return importlib.import_module("space.app")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def generation_threads() -> list[threading.Thread]:
    """The generation threads alive in this process."""
    return [t for t in threading.enumerate() if t.name == GENERATION_THREAD and t.is_alive()]


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.02) -> float:
    """Polls `condition` until it is true; returns the seconds waited. Raises TimeoutError after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
    return time.monotonic() - start


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Sets environment variables for the duration of the block."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def running_space(model_dir: Path, temp_dir: Path, **launch_kwargs: Any) -> Iterator[tuple[Any, str]]:
    """
    Serves the Space in this process on 127.0.0.1 (free port) with `MODEL_ID=model_dir` and `GRADIO_TEMP_DIR=temp_dir`.
    Yields `(demo, url)`; closes the server afterwards.
    """
    app = load_space_app()
    port = free_port()
    with environment(MODEL_ID=str(model_dir), GRADIO_TEMP_DIR=str(temp_dir), GRADIO_ANALYTICS_ENABLED="False"):
        demo = app.launch(None, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs)
        try:
            yield demo, f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


def strip_timing(message: str) -> str:
    """An assistant message without the timing line that the Space appends to it."""
    head, separator, _ = message.rpartition("\n\n⏱")
    return head if separator else message


def message_text(message: dict) -> str:
    """The text of a chat message as gradio_client returns it (content: a string or a list of parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return write_tiny_model_folder(tmp_path_factory.mktemp("tiny-llama-omni"))


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory) -> dict[str, Path]:
    """Questions: two speech-like clips, and the unusable kinds (silent, empty, corrupt, too long, too short)."""
    folder = tmp_path_factory.mktemp("audio")
    files = {
        "question": folder / "question.wav",
        "question2": folder / "question2.wav",
        "silent": folder / "silent.wav",
        "empty": folder / "empty.wav",
        "corrupt": folder / "corrupt.wav",
        "too_long": folder / "too_long.wav",
        "too_short": folder / "too_short.wav",
        "too_big": folder / "too_big.wav",
    }
    sf.write(files["question"], make_speech(2.0, seed=0), 16000)
    sf.write(files["question2"], make_speech(1.5, seed=1), 16000)
    sf.write(files["silent"], np.zeros(16000, dtype=np.float32), 16000)
    sf.write(files["empty"], np.zeros(0, dtype=np.float32), 16000)
    files["corrupt"].write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(2000))
    sf.write(files["too_long"], make_speech(31.0, sr=8000, seed=2), 8000, subtype="PCM_16")  # ~0.5 MB
    sf.write(files["too_short"], make_speech(0.05, seed=3), 16000)
    files["too_big"].write_bytes(b"RIFF" + os.urandom(1_500_000))  # over the 1 MB upload limit
    return files


@pytest.fixture(scope="module")
def space(model_dir, tmp_path_factory):
    """The Space, served in this process."""
    settings = GenerationSettings(
        chunk_size=5, max_new_tokens=TEST_MAX_NEW_TOKENS, min_new_tokens=TEST_MIN_NEW_TOKENS
    )
    with running_space(
        model_dir, tmp_path_factory.mktemp("gradio"), settings=settings, concurrency_limit=2,
        max_file_size=MAX_FILE_SIZE,
    ) as (demo, url):
        yield demo, url


@pytest.fixture()
def client(space):
    from gradio_client import Client

    _, url = space
    # download_files=False: the chat's outputs hold the question's file; downloading it on every update is slow.
    return Client(url, verbose=False, download_files=False)


def expected_answer(model, processor, questions: list[np.ndarray], earlier_answers: list[str]) -> str:
    """What the model answers (greedy, the test app's lengths), the prompt built here independently of the app."""
    conversation = []
    for answer in earlier_answers:
        conversation += [
            {"role": "user", "content": processor.default_instruction},
            {"role": "assistant", "content": answer},
        ]
    conversation.append({"role": "user", "content": processor.default_instruction})
    prompt = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, audio=questions, sampling_rate=16000)
    with torch.no_grad():
        output = model.generate(
            **inputs, do_sample=False, max_new_tokens=TEST_MAX_NEW_TOKENS, min_new_tokens=TEST_MIN_NEW_TOKENS
        )
    return processor.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


# ----------------------------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------------------------


def test_api_answers_an_audio_file_with_text_and_a_playable_wav(space, audio_files):
    from gradio_client import Client, handle_file

    demo, url = space
    question_file = handle_file(str(audio_files["question"]))
    text, wav_path, stats = Client(url, verbose=False).predict(question_file, api_name="/answer")

    responder = demo.responder
    question = responder.processor.load_audio(str(audio_files["question"]))
    assert text.strip() and text == expected_answer(responder.model, responder.processor, [question], [])

    waveform, sampling_rate = sf.read(wav_path, dtype="float32")  # a real wav file, decodable
    assert sampling_rate == responder.sampling_rate == 16000
    assert waveform.ndim == 1 and waveform.size > 0.1 * sampling_rate
    assert np.isfinite(waveform).all() and np.abs(waveform).max() > 1e-3
    assert stats["audio_chunks"] >= 2  # it was streamed in chunks of Omega units
    assert stats["audio_seconds"] == pytest.approx(waveform.size / sampling_rate, abs=1e-3)
    assert 0 < stats["ttfa_seconds"] <= stats["total_seconds"]
    assert stats["cancelled"] is False


def test_chat_streams_the_answer_and_keeps_the_history(space, client, audio_files):
    from gradio_client import handle_file

    demo, _ = space
    responder = demo.responder
    settings = (5, True, 0.7, TEST_MAX_NEW_TOKENS)  # chunk size, greedy, temperature, max new tokens

    job = client.submit(handle_file(str(audio_files["question"])), *settings, api_name="/chat")
    messages, _, ttfa_line = job.result(timeout=120)
    updates = [strip_timing(message_text(output[0][-1])) for output in job.outputs() if len(output[0]) == 2]
    first_answer = strip_timing(message_text(messages[1]))

    # the text arrived in several growing pieces, each update a prefix of the next
    partial = [u for u in updates if u not in ("", "…")]
    assert len(set(partial)) >= 3, partial
    assert all(b.startswith(a) for a, b in zip(partial, partial[1:]))
    assert partial[-1] == first_answer
    question = responder.processor.load_audio(str(audio_files["question"]))
    assert first_answer == expected_answer(responder.model, responder.processor, [question], [])
    # the user's turn shows their recording; the answer, its time to first audio
    assert messages[0]["role"] == "user" and messages[0]["content"][0]["type"] == "file"
    assert "first audio after" in message_text(messages[1]) and "answered in" in message_text(messages[1])
    assert "Time to first audio" in ttfa_line and " s**" in ttfa_line

    # a second question in the same session: the model sees the first question and answer
    messages, _, _ = client.predict(handle_file(str(audio_files["question2"])), *settings, api_name="/chat")
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert strip_timing(message_text(messages[1])) == first_answer
    question2 = responder.processor.load_audio(str(audio_files["question2"]))
    expected = expected_answer(responder.model, responder.processor, [question, question2], [first_answer])
    assert strip_timing(message_text(messages[3])) == expected
    assert expected != expected_answer(responder.model, responder.processor, [question2], [])  # the history mattered


@pytest.mark.parametrize(
    "kind, message",
    [
        ("silent", "MSG_SILENT"),
        ("empty", "MSG_EMPTY"),
        ("corrupt", "MSG_UNREADABLE"),
        ("too_long", "MSG_TOO_LONG"),
        ("too_short", "MSG_TOO_SHORT"),
        (None, "MSG_NO_AUDIO"),
    ],
)
def test_unusable_audio_gets_a_friendly_message(space, client, audio_files, kind, message):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from space import chat_view

    expected = getattr(chat_view, message).format(seconds=30)
    audio = handle_file(str(audio_files[kind])) if kind else None
    _, url = space

    # the page: the message is the answer in the chat
    messages, _, ttfa_line = client.predict(audio, 5, True, 0.7, TEST_MAX_NEW_TOKENS, api_name="/chat")
    assert messages[-1]["role"] == "assistant" and message_text(messages[-1]) == expected
    assert "Time to first audio: —" in ttfa_line
    # the API: an error whose message is the same friendly message (no traceback)
    with pytest.raises(AppError) as error:
        Client(url, verbose=False).predict(audio, api_name="/answer")
    assert str(error.value) == expected
    assert "Traceback" not in str(error.value)
    assert not generation_threads()


def test_upload_size_limit(space, audio_files):
    from gradio_client import Client, handle_file

    _, url = space
    with pytest.raises(Exception, match="(?i)413|too large|exceeds"):
        Client(url, verbose=False).predict(handle_file(str(audio_files["too_big"])), api_name="/answer")
    # the limit is the Space's, not gradio's default (none)
    response = httpx.post(url + "gradio_api/upload", files={"files": ("big.wav", audio_files["too_big"].read_bytes())})
    assert response.status_code == 413


@pytest.mark.parametrize("api_name", ["/answer", "/chat"])
def test_a_cancelled_request_frees_its_generation_thread(space, client, audio_files, api_name):
    """Stop (the page's stop button and `job.cancel()` both go through gradio's /cancel): the thread ends at once."""
    from modeling_llama_omni import AudioStreamer
    from gradio_client import handle_file

    assert not generation_threads()
    # a long answer: unstopped, the random model goes on for hundreds of tokens (~10 s here)
    job = client.submit(handle_file(str(audio_files["question"])), 5, True, 0.7, 1024, api_name=api_name)
    wait_until(lambda: generation_threads(), timeout=60)
    time.sleep(0.5)
    assert generation_threads() and not job.done()
    cancelled_at = time.monotonic()
    job.cancel()
    seconds = wait_until(lambda: not generation_threads(), timeout=15)
    assert seconds < 5, f"the generation thread ran on for {seconds:.1f} s after the cancel"
    assert time.monotonic() - cancelled_at < 5
    # nothing of that generation is left (its streamer holds the speech decoder's cache and the vocoder stream)
    # type(o), not isinstance: gc.get_objects() can hold weak proxies whose referent is gone (isinstance raises)
    def no_streamer_left() -> bool:
        gc.collect()
        return not [o for o in gc.get_objects() if issubclass(type(o), AudioStreamer)]

    wait_until(no_streamer_left, 10, 0.2)


def test_a_visitor_who_leaves_ends_their_generation(space, audio_files):
    """A page that closes its connection in the middle of an answer: the server stops that generation."""
    demo, url = space
    api = url + "gradio_api"
    fn_index = next(i for i, fn in demo.fns.items() if fn.api_name == "chat")
    session = uuid.uuid4().hex
    with httpx.Client(timeout=30) as http:
        path = http.post(
            api + "/upload", files={"files": ("q.wav", audio_files["question"].read_bytes(), "audio/wav")}
        ).json()[0]
        audio = {"path": path, "orig_name": "q.wav", "meta": {"_type": "gradio.FileData"}}
        joined = http.post(
            api + "/queue/join",
            json={"data": [audio, None, 5, True, 0.7, 1024], "fn_index": fn_index, "session_hash": session},
        )
        assert joined.status_code == 200, joined.text
        with http.stream("GET", api + "/queue/data", params={"session_hash": session}) as events:
            generating = 0
            for line in events.iter_lines():
                if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_generating":
                    generating += 1
                if generating >= 5:
                    break  # the visitor leaves: the connection closes in the middle of the answer
    assert generation_threads()
    seconds = wait_until(lambda: not generation_threads(), timeout=20)
    assert seconds < 8, f"the generation thread ran on for {seconds:.1f} s after the visitor left"


def test_python_space_app_py_serves_two_concurrent_clients(model_dir, audio_files, tmp_path):
    """`python space/app.py --host 127.0.0.1 --port N` (MODEL_ID set): two clients at once both get answers."""
    from gradio_client import Client, handle_file

    port = free_port()
    env = {
        **os.environ,
        "MODEL_ID": str(model_dir),
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable, str(APP_PATH), "--host", "127.0.0.1", "--port", str(port),
        "--concurrency-limit", "2",
        "--min-new-tokens", str(TEST_MIN_NEW_TOKENS), "--max-new-tokens", str(TEST_MAX_NEW_TOKENS),
    ]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        assert server.poll() is None, f"the server exited: {log.read_text()[-3000:]}"
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=180, interval=0.5)
        clients = [Client(url, verbose=False) for _ in range(2)]
        files = [audio_files["question"], audio_files["question2"]]
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(c.predict, handle_file(str(f)), api_name="/answer") for c, f in zip(clients, files)]
            results = [job.result(timeout=120) for job in jobs]
        for text, wav_path, _ in results:
            assert text.strip()
            waveform, sampling_rate = sf.read(wav_path, dtype="float32")
            assert sampling_rate == 16000 and waveform.size > 0 and np.abs(waveform).max() > 1e-3
        assert results[0][0] != results[1][0]  # each client got the answer to its own question
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_model_events_share_one_queue_with_a_concurrency_limit(space):
    from space.chat_page import CONCURRENCY_ID

    app = load_space_app()
    demo, _ = space
    model_events = [fn for fn in demo.fns.values() if fn.concurrency_id == CONCURRENCY_ID]
    names = {fn.api_name for fn in model_events}
    assert {"answer", "chat"} <= names and len(model_events) >= 3  # API, record, upload (and examples)
    assert all(fn.concurrency_limit == 2 for fn in model_events)
    assert demo._queue.max_size == app.DEFAULT_MAX_QUEUE_SIZE


def test_model_errors():
    """The model comes from the runtime's `load_model`: an unknown Hub id offline is a clear error."""
    app = load_space_app()
    with environment(HF_HUB_OFFLINE="1"):
        with pytest.raises(FileNotFoundError, match="could not be had here"):
            app.load_space_model("nobody/no-such-llama-omni-model")


def test_space_card_requirements_and_entry_points():
    import importlib

    import gradio
    import yaml

    from hub_cards import check_space_card
    from huggingface_hub import SpaceCard

    readme = (REPO_ROOT / "space" / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(readme.split("---")[1])
    assert front["sdk"] == "gradio" and front["sdk_version"] == gradio.__version__ == "6.31.0"
    assert (REPO_ROOT / "space" / front["app_file"]).is_file()
    assert front["license"] == "apache-2.0" and front["title"] and front["emoji"] and front["models"]
    check_space_card(SpaceCard(readme))

    # the Space's pins are the project's
    setup_py = (REPO_ROOT / "setup.py").read_text(encoding="utf-8")
    pins = [line.strip() for line in (REPO_ROOT / "space" / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert "torch==2.14.1" in pins and not any(p.startswith("gradio") for p in pins)
    for pin in pins:
        assert f'"{pin}"' in setup_py, f"{pin} is not pinned the same way in setup.py"
    assert "ffmpeg" in (REPO_ROOT / "space" / "packages.txt").read_text().split()

    # the example questions, spoken on first use: small 16 kHz mono speech
    from space.example_questions import EXAMPLE_QUESTIONS, EXAMPLES_DIR, ensure_examples

    assert [text for _, text in ensure_examples()] == [text for _, text in EXAMPLE_QUESTIONS]
    for name, _ in EXAMPLE_QUESTIONS:
        info = sf.info(str(EXAMPLES_DIR / name))
        assert info.samplerate == 16000 and info.channels == 1 and 0.5 < info.duration < 10
        assert (EXAMPLES_DIR / name).stat().st_size < 200_000

    # `from space.app import launch` from the project's root, as `make demo` does
    assert callable(importlib.import_module("space.app").launch)


def test_a_half_precision_model_answers(model_dir, audio_files):
    """The GPU path's dtype handling (bfloat16 weights, float32 features and vocoder), run on the CPU."""
    app = load_space_app()
    model, processor, name = app.load_space_model(str(model_dir), device="cpu", dtype="bf16")
    assert model.dtype == torch.bfloat16 and name == model_dir.name
    responder = Responder(model, processor)
    conversation = Conversation()
    turn = conversation.add(Turn(responder.load_question(str(audio_files["question"]))))
    timeline = responder.reply(conversation, GenerationSettings(chunk_size=5, max_new_tokens=12, min_new_tokens=12))
    assert turn.answer.strip() and timeline.audio.size > 0 and timeline.audio.dtype == np.float32
    assert np.isfinite(timeline.audio).all() and turn.ttfa_s == timeline.ttfa_s is not None
    assert timeline.audio_chunks >= 1


def test_a_model_without_a_vocoder_answers_in_text_only(model_dir, tmp_path, audio_files):
    from space.chat_page import build_demo
    from space.chat_view import ttfa_summary

    app = load_space_app()
    folder = tmp_path / "no-vocoder"
    folder.mkdir()
    for path in model_dir.iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    model, processor, _ = app.load_space_model(str(folder))
    responder = Responder(model, processor)
    assert responder.vocoder is None and responder.sampling_rate is None
    conversation = Conversation()
    turn = conversation.add(Turn(responder.load_question(str(audio_files["question"]))))
    timeline = responder.reply(conversation, GenerationSettings(max_new_tokens=8))
    assert turn.answer.strip() and timeline.audio.size == 0 and turn.ttfa_s is None and timeline.ttfa_s is None
    assert "no unit vocoder" in ttfa_summary(None, has_audio=False)
    build_demo(responder)  # the page builds without an audio answer
