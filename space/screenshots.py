# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Screenshots of the Space in hands-free mode, for the README: a real browser (Debian's headless chromium, driven by
Playwright) whose fake microphone speaks a dialogue, against the Space serving a model on 127.0.0.1.

    python -m space.screenshots [--out docs/screenshots] [--model-id DIR]    # default: the embedded model

writes (the folder is git-ignored: the only binaries in git are the embedded model's weights):

    handsfree_two_turns.png   two spoken questions, each answered without a click
    handsfree_barge_in.png    a question spoken over the answer: the answer stops, marked interrupted, a new turn starts

The dialogue is spoken by the project's offline TTS (`offline_assets.tts`), with the pause between the questions
given. Chromium's fake microphone loops its file, so the file ends with a long silence that outlasts the run.

Needs `/usr/bin/chromium` (scripts/install_system.sh), the `playwright` package (the `dev` extra; its own browser
download is not used) and the `flite` program. The browser tests (tests/test_space_browser.py) use the same helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np


CHROMIUM = "/usr/bin/chromium"
DIALOGUE_RATE = 16000
DIALOGUE_VOICE = "flite:kal16"
DIALOGUE_QUESTIONS = ("What is the capital of France?", "How many legs does a spider have?")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


def chromium_args(microphone_wav: str | os.PathLike) -> list[str]:
    """Headless Debian chromium, offline, with a fake microphone playing `microphone_wav` (looped), autoplay
    allowed."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]


def speak(text: str, voice: str = DIALOGUE_VOICE) -> np.ndarray:
    """`text` spoken by an offline TTS voice, without its leading and trailing silence, as float32 at
    `DIALOGUE_RATE`.

    Raises:
        offline_assets.tts.TTSUnavailableError: the voice's program is not installed.
    """
    from offline_assets.tts import get_voice

    audio = np.asarray(get_voice(voice).synthesize(text), dtype=np.float32)
    hop = DIALOGUE_RATE // 100
    frames = audio.size // hop
    rms = np.sqrt((audio[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1) + 1e-12)
    loud = np.nonzero(rms > rms.max() * 0.01)[0]  # within 40 dB of the loudest 10 ms
    return audio[loud[0] * hop : (loud[-1] + 1) * hop]


def dialogue(
    questions: Sequence[str] = DIALOGUE_QUESTIONS,
    *,
    pause_s: float = 2.0,
    lead_s: float = 1.0,
    tail_s: float = 120.0,
    voice: str = DIALOGUE_VOICE,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """
    A microphone recording of `questions` spoken one after another: `lead_s` of silence, each question followed by
    `pause_s` of silence (the last by `tail_s`).

    Returns:
        `(audio, spans)`: float32 mono at `DIALOGUE_RATE`, and each question's `(start_s, end_s)` in it.

    Raises:
        ValueError: no question, or a negative duration.
    """
    if not questions or min(pause_s, lead_s, tail_s) < 0:
        raise ValueError(f"a dialogue needs questions and durations >= 0, got {len(questions)} questions, "
                         f"pause_s={pause_s}, lead_s={lead_s}, tail_s={tail_s}")
    silence = lambda seconds: np.zeros(round(seconds * DIALOGUE_RATE), dtype=np.float32)  # noqa: E731
    parts, spans, position = [silence(lead_s)], [], lead_s
    for index, text in enumerate(questions):
        speech = speak(text, voice)
        spans.append((position, position + speech.size / DIALOGUE_RATE))
        gap = tail_s if index == len(questions) - 1 else pause_s
        parts += [speech, silence(gap)]
        position = spans[-1][1] + gap
    return np.concatenate(parts), spans


def write_dialogue_wav(path: str | os.PathLike, **kwargs: Any) -> tuple[Path, list[tuple[float, float]]]:
    """`dialogue(**kwargs)` written as a 16-bit PCM wav (what chromium's fake microphone plays); returns the path
    and the questions' spans."""
    from inference import write_wav

    audio, spans = dialogue(**kwargs)
    return write_wav(path, audio, DIALOGUE_RATE), spans


def open_hands_free(page: Any, url: str, max_new_tokens: int | None = None) -> None:
    """Opens `url` afresh (a new visitor) on the hands-free tab, with "Max new tokens" set in the shared settings.

    Raises:
        playwright.sync_api.TimeoutError: the page or a control did not come.
    """
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Hands-free").click()
    page.wait_for_selector("#handsfree-mic button.record-button", timeout=60_000)
    if max_new_tokens is not None:
        page.click("#settings button")  # the accordion
        box = page.locator("#max-new-tokens input[type=number]")
        box.wait_for(state="visible")
        settled = f"() => document.querySelector('#max-new-tokens input[type=range]').value === '{max_new_tokens}'"
        for attempt in range(3):  # a page still hydrating (a loaded machine) can drop the first edit
            box.fill(str(max_new_tokens))
            box.press("Enter")
            box.press("Tab")  # the number box also commits on blur
            try:
                page.wait_for_function(settled, timeout=10_000)
                break
            except Exception:  # noqa: BLE001 - playwright's TimeoutError: try again, the last time raise
                if attempt == 2:
                    raise
        page.click("#settings button")  # closed again


@contextlib.contextmanager
def browser_page(
    url: str, microphone_wav: str | os.PathLike, viewport: dict | None = None, playwright: Any = None
) -> Iterator[Any]:
    """A Playwright page of headless Debian chromium on `url`, its fake microphone playing `microphone_wav`.

    Args:
        playwright: a running `sync_playwright()` instance to launch the browser with (one thread can run only one);
            default: one of its own for the block.

    Raises:
        FileNotFoundError: no chromium at `CHROMIUM`.
    """
    if not os.access(CHROMIUM, os.X_OK):
        raise FileNotFoundError(f"Debian chromium is not installed at {CHROMIUM}: run `bash scripts/install_system.sh`")
    if playwright is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as own:
            with browser_page(url, microphone_wav, viewport, own) as page:
                yield page
        return
    # Playwright gives the browser a fresh, temporary user-data-dir of its own.
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=chromium_args(microphone_wav))
    try:
        context = browser.new_context(permissions=["microphone"], viewport=viewport or VIEWPORT)
        page = context.new_page()
        page.goto(url, wait_until="load")
        yield page
    finally:
        browser.close()


BOT_MESSAGES = '#handsfree-chat [data-testid="bot"]'


def shoot_two_turns(page: Any, url: str, out: Path, timeout_s: float) -> Path:
    """Two questions, each answered in full without a click; returns the screenshot's path."""
    open_hands_free(page, url)
    page.click("#handsfree-mic button.record-button")
    page.wait_for_function(
        f"""() => {{ const a = document.querySelectorAll('{BOT_MESSAGES}');
                    return a.length === 2 && a[1].innerText.includes('answered in'); }}""",
        timeout=timeout_s * 1000,
    )
    time.sleep(1.0)  # the player shows the second answer playing
    path = out / "handsfree_two_turns.png"
    page.screenshot(path=str(path), full_page=True)
    page.click("#handsfree-mic button.stop-button")
    return path


def shoot_barge_in(page: Any, url: str, out: Path, timeout_s: float) -> Path:
    """A question spoken over the first answer: it stops, marked interrupted, and the new turn is answered."""
    open_hands_free(page, url)
    page.click("#handsfree-mic button.record-button")
    page.wait_for_function(
        f"""() => {{ const a = document.querySelectorAll('{BOT_MESSAGES}');
                    return a.length === 2 && a[0].innerText.includes('interrupted')
                           && a[1].innerText.includes('first audio'); }}""",
        timeout=timeout_s * 1000,
    )
    time.sleep(1.0)
    path = out / "handsfree_barge_in.png"
    page.screenshot(path=str(path), full_page=True)
    page.click("#handsfree-mic button.stop-button")
    return path


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """`python -m space.screenshots [--out DIR] [--model-id DIR]`: writes the screenshots, prints their paths."""
    from inference import GenerationSettings
    from space.app import launch

    parser = argparse.ArgumentParser(description="Screenshots of the Space in hands-free mode (for the README).")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the PNGs go (default {DEFAULT_OUT})")
    parser.add_argument("--model-id", default=None, help="a model folder (default: the embedded llama-omni-tiny)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="the longest answer (the model may stop sooner)")
    parser.add_argument("--pause-two-turns", type=float, default=5.0,
                        help="seconds between the questions of the two-turn shot (the first answer is heard in full)")
    parser.add_argument("--pause-barge-in", type=float, default=2.5,
                        help="seconds between the questions of the barge-in shot (spoken over the first answer)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each shot's answers")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    shots = []
    with tempfile.TemporaryDirectory(prefix="llama-omni-screenshots-") as tmp:
        os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tmp) / "gradio"))
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        two_turns, _ = write_dialogue_wav(Path(tmp) / "two_turns.wav", pause_s=args.pause_two_turns)
        barge_in, _ = write_dialogue_wav(Path(tmp) / "barge_in.wav", pause_s=args.pause_barge_in)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        demo = launch(args.model_id, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True,
                      settings=GenerationSettings(max_new_tokens=args.max_new_tokens))
        url = f"http://127.0.0.1:{port}/"
        try:
            with browser_page(url, two_turns) as page:
                shots.append(shoot_two_turns(page, url, args.out, args.timeout))
            with browser_page(url, barge_in) as page:
                shots.append(shoot_barge_in(page, url, args.out, args.timeout))
        finally:
            demo.close()
    for path in shots:
        print(path)
    return shots


__all__ = [
    "CHROMIUM",
    "DIALOGUE_QUESTIONS",
    "DIALOGUE_RATE",
    "browser_page",
    "chromium_args",
    "dialogue",
    "main",
    "open_hands_free",
    "speak",
    "write_dialogue_wav",
]


if __name__ == "__main__":
    main()
