"""The Space in a real browser: Debian's chromium, headless, driven by Playwright, with a fake microphone that plays
a spoken question (a bundled example wav). The page records, the answer's text streams into the chat, its audio
starts playing before the text is complete, the Stop button ends a generation; screenshots go to test-artifacts/.

Needs `/usr/bin/chromium` (scripts/install_system.sh installs it) and the `playwright` package (the `dev` extra);
Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from inference import GenerationSettings
from tests.test_space import (
    REPO_ROOT,
    generation_threads,
    running_space,
    wait_until,
    write_tiny_model_folder,
)

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO_ROOT / "test-artifacts"


def fake_microphone_wav() -> Path:
    """The first example question ("What is the capital of France?", spoken by flite) as the microphone's input."""
    from space.example_questions import ensure_examples

    return Path(ensure_examples()[0][0])

# Long answers (300 tokens, ~5 s here), so that streaming is visible over time and a stop lands mid-answer.
ANSWER_TOKENS = 300

# Records, with page timestamps (ms): every change of the last answer's text, and the media events of the
# answer's audio player.
OBSERVER_JS = """() => {
  window.__events = [];
  const record = (kind, extra) => window.__events.push({t: performance.now(), kind, ...extra});
  for (const kind of ["loadstart", "play", "playing", "timeupdate", "error"]) {
    document.addEventListener(kind, (event) => {
      const player = event.target;
      if (player.tagName === "AUDIO" && player.closest("#answer-audio")) {
        record(kind, {currentTime: player.currentTime});
      }
    }, true);
  }
  const chat = document.querySelector("#chat");
  new MutationObserver(() => {
    const answers = chat.querySelectorAll('[data-testid="bot"]');
    const text = answers.length ? answers[answers.length - 1].innerText : "";
    record("text", {answers: answers.length, text});
  }).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def chromium_args(microphone_wav: Path) -> list[str]:
    """Headless Debian chromium, offline, with a fake microphone playing `microphone_wav`, autoplay allowed."""
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


@pytest.fixture(scope="module")
def browser_space(tmp_path_factory):
    model_dir = write_tiny_model_folder(tmp_path_factory.mktemp("tiny-llama-omni"))
    settings = GenerationSettings(chunk_size=5, max_new_tokens=ANSWER_TOKENS, min_new_tokens=ANSWER_TOKENS)
    with running_space(model_dir, tmp_path_factory.mktemp("gradio"), settings=settings) as (demo, url):
        yield demo, url


@pytest.fixture(scope="module")
def page(browser_space):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian chromium is not installed at {CHROMIUM}: run `bash scripts/install_system.sh`")
    from playwright.sync_api import sync_playwright

    _, url = browser_space
    with sync_playwright() as playwright:
        # Playwright gives the browser a fresh, temporary user-data-dir of its own.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(fake_microphone_wav())
        )
        context = browser.new_context(permissions=["microphone"], viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_selector("#question-audio button.record-button", timeout=60_000)
        page.evaluate(OBSERVER_JS)
        yield page
        browser.close()


def answer_events(page, answer_index: int) -> list[dict]:
    """The recorded events, text changes restricted to the `answer_index`-th answer (1-based)."""
    return [e for e in page.evaluate("window.__events") if e["kind"] != "text" or e["answers"] == answer_index]


def test_the_page_records_streams_the_answer_and_plays_it_before_the_text_is_complete(page):
    ARTIFACTS.mkdir(exist_ok=True)
    page.click("#question-audio button.record-button")
    time.sleep(2.5)  # the fake microphone speaks the question
    page.click("#question-audio button.stop-button")
    page.wait_for_function(
        """() => { const a = document.querySelectorAll('#chat [data-testid="bot"]');
                   return a.length === 1 && a[0].innerText.includes('answered in'); }""",
        timeout=120_000,
    )
    time.sleep(1.0)  # a little more playback
    page.screenshot(path=str(ARTIFACTS / "space_browser_answer.png"), full_page=True)
    events = answer_events(page, 1)

    # the question was recorded and sent: the chat shows it as audio
    assert page.locator('#chat [data-testid="user"] audio').count() == 1
    # the text streamed: it grew in many steps, each a continuation of the last, before it was complete
    texts = [e for e in events if e["kind"] == "text" and e["text"] not in ("", "…")]
    complete = next(e for e in texts if "answered in" in e["text"])
    # the text without the timing line, whitespace left out (the page may collapse it)
    answer = lambda e: re.sub(r"\s+", "", re.split(r"\n+⏱", e["text"])[0])  # noqa: E731
    growing = [answer(e) for e in texts if e["t"] < complete["t"]]
    assert len(set(growing)) >= 5, growing
    assert all(b.startswith(a) for a, b in zip(growing, growing[1:]))
    assert answer(complete).startswith(growing[-1]) and len(answer(complete)) > len(growing[0])
    # the audio started playing, and was heard advancing, before the text was complete
    playing = [e for e in events if e["kind"] == "playing"]
    advancing = [e for e in events if e["kind"] == "timeupdate" and e["currentTime"] > 0]
    assert playing and advancing, events
    assert playing[0]["t"] < complete["t"], (playing[0], complete)
    assert advancing[0]["t"] < complete["t"], (advancing[0], complete)
    assert not [e for e in events if e["kind"] == "error"]
    # its time to first audio is shown, and is shorter than the answer
    ttfa = float(re.search(r"first audio after ([0-9.]+) s", complete["text"]).group(1))
    total = float(re.search(r"answered in ([0-9.]+) s", complete["text"]).group(1))
    assert 0 < ttfa < total
    assert f"{ttfa:.2f} s" in page.inner_text("#ttfa")


def test_an_example_question_and_the_stop_button(page, browser_space):
    """A second turn (an example question): the chat keeps the first; Stop ends this generation at once."""
    assert not generation_threads()
    page.get_by_text("How many legs does a spider have?").click()
    page.wait_for_function(
        """() => { const a = document.querySelectorAll('#chat [data-testid="bot"]');
                   return a.length === 2 && a[1].innerText.replace('…', '').trim().length >= 10; }""",
        timeout=60_000,
    )
    assert generation_threads()
    page.click("#stop")
    seconds = wait_until(lambda: not generation_threads(), timeout=30)
    # unstopped, this answer would go on for 300 tokens (several seconds more)
    assert seconds < 2.5, f"the generation went on for {seconds:.1f} s after Stop"
    time.sleep(0.5)
    page.screenshot(path=str(ARTIFACTS / "space_browser_stopped.png"), full_page=True)
    answers = page.locator('#chat [data-testid="bot"]')
    assert answers.count() == 2 and page.locator('#chat [data-testid="user"]').count() == 2
    assert "answered in" in answers.nth(0).inner_text() and "answered in" not in answers.nth(1).inner_text()
