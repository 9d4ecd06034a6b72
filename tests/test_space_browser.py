"""The Space in a real browser: Debian's chromium, headless, driven by Playwright, with a fake microphone that plays
a spoken question (a bundled example wav). The page records, the answer's text streams into the chat, its audio
starts playing before the text is complete, the Stop button ends a generation; screenshots go to test-artifacts/.

Hands-free mode: the fake microphone speaks a dialogue (two questions by the offline TTS, a pause between them, then
a long silence: chromium restarts the file at each recording and loops it, so every run hears the same thing). With
short answers, each question gets its answer without a click; with long ones, the second question is spoken over
the first answer, which stops (text and audio) and is marked interrupted, and the second turn is answered.

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
from space import screenshots
from space.screenshots import CHROMIUM, browser_page, write_dialogue_wav
from tests.test_space import (
    REPO_ROOT,
    generation_threads,
    running_space,
    wait_until,
    write_tiny_model_folder,
)

pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module")
def browser_space(tmp_path_factory):
    model_dir = write_tiny_model_folder(tmp_path_factory.mktemp("tiny-llama-omni"))
    settings = GenerationSettings(chunk_size=5, max_new_tokens=ANSWER_TOKENS, min_new_tokens=ANSWER_TOKENS)
    with running_space(model_dir, tmp_path_factory.mktemp("gradio"), settings=settings) as (demo, url):
        yield demo, url


@pytest.fixture(scope="module")
def playwright():
    """One Playwright for the module (a thread can run only one); each test's browser is Debian's chromium."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian chromium is not installed at {CHROMIUM}: run `bash scripts/install_system.sh`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="module")
def page(browser_space, playwright):
    _, url = browser_space
    with browser_page(url, fake_microphone_wav(), playwright=playwright) as page:
        page.wait_for_selector("#question-audio button.record-button", timeout=60_000)
        page.evaluate(OBSERVER_JS)
        yield page


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


# ----------------------------------------------------------------------------------------------------------------------
# Hands-free mode
# ----------------------------------------------------------------------------------------------------------------------

# The hands-free Space answers with 1024 tokens (the random tiny model does not stop by itself), one audio chunk per
# speech unit (Omega = 1): 4-10 s to generate here, ~45 s of speech. The no-interruption scenario sets "Max new
# tokens" to 6 on the page (~0.3 s of speech).
LONG_ANSWER_TOKENS = 1024
FULL_LONG_ANSWER_CHARACTERS = 1400  # what the tiny model's 1024 tokens decode to (~1.4 characters a token)
SHORT_ANSWER_TOKENS = 6
# Seconds of silence between the two questions; the end of turn takes 0.7 s of it. A short answer is over ~0.5 s
# after the end of turn, long before the second question. A long answer's audio is heard ~1 s after it starts (the
# browser's stream player buffers a segment): the second question starts ~1 s after that, while the answer is still
# being generated, and is spoken over both its text and its audio.
PAUSE_AFTER_SHORT_ANSWER = 2.0
PAUSE_INTO_LONG_ANSWER = 3.0

# Records, with page timestamps (ms): each answer's text as it changes, the media events of the answer player, and
# (polled every 25 ms) whether the player holds audio and which stream.
HANDS_FREE_OBSERVER_JS = """() => {
  window.__hf = [];
  const record = (kind, extra) => window.__hf.push({t: performance.now(), kind, ...extra});
  for (const kind of ["loadstart", "playing", "error"]) {
    document.addEventListener(kind, (event) => {
      const player = event.target;
      if (player.tagName === "AUDIO" && player.closest("#handsfree-audio")) record(kind, {src: player.src});
    }, true);
  }
  const chat = document.querySelector("#handsfree-chat");
  new MutationObserver(() => {
    chat.querySelectorAll('[data-testid="bot"]').forEach((answer, index) => {
      const text = answer.innerText;
      if (answer.__last !== text) { answer.__last = text; record("text", {answer: index + 1, text}); }
    });
  }).observe(chat, {subtree: true, childList: true, characterData: true});
  let last = null;
  setInterval(() => {
    const player = document.querySelector("#handsfree-audio audio");
    const state = player && player.src ? player.src : "";
    if (state !== last) { last = state; record("player", {src: state}); }
  }, 25);
}"""
PLAYED_STREAMS_JS = "() => new Set(window.__hf.filter(e => e.kind === 'playing').map(e => e.src)).size >= {count}"
ANSWERS_JS = """() => Array.from(document.querySelectorAll('#handsfree-chat [data-testid="bot"]'))
                          .map(answer => answer.innerText)"""


@pytest.fixture(scope="module")
def hands_free_space(tmp_path_factory):
    model_dir = write_tiny_model_folder(tmp_path_factory.mktemp("tiny-llama-omni"))
    settings = GenerationSettings(chunk_size=1, max_new_tokens=LONG_ANSWER_TOKENS, min_new_tokens=LONG_ANSWER_TOKENS)
    with running_space(model_dir, tmp_path_factory.mktemp("gradio"), settings=settings) as (demo, url):
        yield demo, url


def dialogue_wav(folder: Path, pause_s: float) -> tuple[Path, list[tuple[float, float]]]:
    """Two questions (flite kal16) with 1 s of silence before, `pause_s` between and 2 min after; and their spans."""
    return write_dialogue_wav(folder / "dialogue.wav", lead_s=1.0, pause_s=pause_s, tail_s=120.0)


def open_hands_free(page, url: str, max_new_tokens: int | None = None) -> None:
    """A fresh visit on the hands-free tab (see `space.screenshots.open_hands_free`), recorded from then on."""
    screenshots.open_hands_free(page, url, max_new_tokens)
    page.evaluate(HANDS_FREE_OBSERVER_JS)


def answer_text(message: str) -> str:
    """An answer as the chat shows it, without its timing line, whitespace left out (the page may collapse it)."""
    return re.sub(r"\s+", "", re.split(r"\n+(?:⏱|✋)", message)[0])


def wait_for(page, condition_js: str, timeout_s: float, what: str) -> None:
    """Waits until `condition_js` holds on the page; on timeout, fails with what the page recorded."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        page.wait_for_function(condition_js, timeout=timeout_s * 1000)
    except PlaywrightTimeoutError:
        events = page.evaluate("window.__hf || []")
        shown = "\n".join(f"{e['t'] / 1000:7.2f} {e['kind']:9} " + (f"answer {e['answer']}: {e['text'][:60]!r}" if
                           e["kind"] == "text" else e.get("src", "")[-12:]) for e in events)
        pytest.fail(f"not within {timeout_s} s: {what}; the page recorded:\n{shown}")


def page_visitor(page, demo, timeout_s: float = 5.0):
    """The server's open `HandsFreeVisitor` of this page (its key is in the page's hidden turn signal)."""
    deadline = time.monotonic() + timeout_s
    while True:
        key = page.locator("#handsfree-signal textarea, #handsfree-signal input").first.input_value().split(":")[0]
        visitors = demo.hands_free.visitors
        found = [visitor for visitor in visitors if visitor.key == key and not visitor.closed]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            pytest.fail(f"no open conversation on the server has the page's key {key!r} within {timeout_s} s; "
                        f"open: {[(v.key, len(v.turns), v.closed) for v in visitors]}")
        time.sleep(0.05)


def test_hands_free_two_spoken_questions_get_two_answers_without_a_click(hands_free_space, playwright, tmp_path):
    demo, url = hands_free_space
    microphone, spans = dialogue_wav(tmp_path, PAUSE_AFTER_SHORT_ANSWER)
    with browser_page(url, microphone, playwright=playwright) as page:
        two_answers_without_a_click(page, demo, url, spans)


def two_answers_without_a_click(page, demo, url: str, spans: list[tuple[float, float]]) -> None:
    open_hands_free(page, url, max_new_tokens=SHORT_ANSWER_TOKENS)
    started = page.evaluate("performance.now()")
    page.click("#handsfree-mic button.record-button")  # the only click: the microphone streams from now on
    wait_for(page, """() => { const a = document.querySelectorAll('#handsfree-chat [data-testid="bot"]');
                              return a.length === 2 && a[1].innerText.includes('answered in'); }""",
             90, "two complete answers")
    wait_for(page, PLAYED_STREAMS_JS.format(count=2), 30, "both answers played")  # (the player starts ~1 s later)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space_handsfree_two_turns.png"), full_page=True)
    answers = page.evaluate(ANSWERS_JS)
    events = page.evaluate("window.__hf")

    # two turns, each one whole question (neither cut at a pause nor run into the next), each answered in full: none
    # was interrupted, and the second question came after the first answer
    assert len(answers) == 2
    for answer in answers:
        assert "answered in" in answer and "interrupted" not in answer and answer_text(answer) not in ("", "…")
    visitor = page_visitor(page, demo)
    turns = visitor.session.conversation.turns
    assert [answer_text(turn.answer) for turn in turns] == [answer_text(answer) for answer in answers]
    assert all(turn.answered and turn.total_s is not None for turn in turns)
    for page_turn, (start, end) in zip(visitor.turns, spans):
        assert abs(page_turn.spoken_s - (end - start)) < 0.3, (page_turn.spoken_s, start, end)
    assert page.locator('#handsfree-chat [data-testid="user"]').all_inner_texts() == [
        f"🗣️ (you spoke for {turn.spoken_s:.1f} s)" for turn in visitor.turns
    ]
    # each answer's audio was played, each in a stream of its own
    playing = [e["src"] for e in events if e["kind"] == "playing"]
    assert len(set(playing)) == 2, events
    assert not [e for e in events if e["kind"] == "error"]
    # the first answer was on the page before the second question was spoken (page time of the question's onset:
    # the recording starts within a fraction of a second of the click)
    first_complete = next(e for e in events if e["kind"] == "text" and e["answer"] == 1 and "answered in" in e["text"])
    assert first_complete["t"] - started < spans[1][0] * 1000, (first_complete["t"] - started, spans)
    first_text = next(e for e in events if e["kind"] == "text" and e["answer"] == 1 and answer_text(e["text"]) != "…")
    ttfa = [re.findall(r"first audio after ([0-9.]+) s", answer) for answer in answers]
    print(f"hands-free: first answer's text on the page {first_text['t'] - started - spans[0][1] * 1000:.0f} ms after "
          f"the end of the first question; first audio (server) {ttfa} s after each end of turn")
    page.click("#handsfree-mic button.stop-button")


def test_hands_free_speaking_over_an_answer_stops_it(hands_free_space, playwright, tmp_path):
    demo, url = hands_free_space
    microphone, spans = dialogue_wav(tmp_path, PAUSE_INTO_LONG_ANSWER)
    with browser_page(url, microphone, playwright=playwright) as page:
        speaking_over_an_answer_stops_it(page, demo, url, spans)


def speaking_over_an_answer_stops_it(page, demo, url: str, spans: list[tuple[float, float]]) -> None:
    open_hands_free(page, url)  # long answers
    started = page.evaluate("performance.now()")
    page.click("#handsfree-mic button.record-button")
    wait_for(page, """() => { const a = document.querySelectorAll('#handsfree-chat [data-testid="bot"]');
                              const p = document.querySelector('#handsfree-audio audio');
                              return a.length === 1 && a[0].innerText.replace('…', '').trim().length > 0
                                     && p && !p.paused; }""", 60, "the first answer being spoken")
    # the second question, spoken over it: the answer is marked interrupted
    wait_for(page, """() => { const a = document.querySelectorAll('#handsfree-chat [data-testid="bot"]');
                              return a.length >= 1 && a[0].innerText.includes('interrupted'); }""",
             30, "the first answer marked interrupted")
    interrupted = page.evaluate(ANSWERS_JS)[0]
    # a new turn starts: the second question is answered, in a new audio stream
    wait_for(page, """() => { const a = document.querySelectorAll('#handsfree-chat [data-testid="bot"]');
                              return a.length === 2 && a[1].innerText.replace('…', '').trim().length >= 10; }""",
             60, "the second answer")
    wait_for(page, PLAYED_STREAMS_JS.format(count=2), 30, "the second answer played")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "space_handsfree_barge_in.png"), full_page=True)
    answers = page.evaluate(ANSWERS_JS)
    events = page.evaluate("window.__hf")

    # the interrupted answer's text stopped where it was (it would have gone on for 1024 tokens)
    assert answers[0] == interrupted and "answered in" not in interrupted
    assert answer_text(interrupted) not in ("", "…")
    assert "interrupted" not in answers[1]
    visitor = page_visitor(page, demo)
    first, second = visitor.session.conversation.turns
    # it was cancelled in the middle of its generation (not only its playback): the conversation keeps its text so
    # far (the page shows all of it but the piece the model was generating when it was cancelled)
    assert answer_text(first.answer).startswith(answer_text(interrupted))
    assert len(answer_text(first.answer)) - len(answer_text(interrupted)) < 20
    print(f"hands-free barge-in: the first answer has {len(first.answer)} characters, "
          f"{len(demo.responder.processor.tokenizer(first.answer, add_special_tokens=False).input_ids)} tokens")
    assert len(first.answer) < FULL_LONG_ANSWER_CHARACTERS * 0.7
    # its audio was playing, and stopped when the question was spoken over it, long before the second answer began
    players = [e for e in events if e["kind"] == "player"]
    playing = [e for e in events if e["kind"] == "playing"]
    first_stream, second_stream = playing[0]["src"], playing[-1]["src"]
    assert first_stream != second_stream
    stopped = next(e for e in players if e["t"] > playing[0]["t"] and e["src"] != first_stream)
    second_started = next(e for e in events if e["kind"] == "loadstart" and e["src"] == second_stream)
    marked = next(e for e in events if e["kind"] == "text" and e["answer"] == 1 and "interrupted" in e["text"])
    assert stopped["src"] == ""  # the player was emptied, not switched to the next answer
    assert abs(stopped["t"] - marked["t"]) < 500, (stopped, marked)
    assert second_started["t"] - stopped["t"] > 1000, (stopped, second_started)  # the question took ~2 s to say
    onset = started + spans[1][0] * 1000  # page time of the second question's onset (the recording starts at the click)
    assert stopped["t"] < started + spans[1][1] * 1000, (stopped, spans)  # before the question was over
    print(f"hands-free barge-in: the player was emptied {stopped['t'] - onset:.0f} ms after the question's onset; "
          f"the first answer's audio had played from {playing[0]['t'] - started:.0f} ms")

    # the visitor leaves in the middle of the second answer: its generation ends
    assert generation_threads()
    page.goto("about:blank")
    seconds = wait_until(lambda: not generation_threads(), timeout=20)
    assert seconds < 5, f"the generation went on for {seconds:.1f} s after the visitor left"
    wait_until(lambda: visitor.closed and visitor not in demo.hands_free.visitors, timeout=10)


def test_hands_free_stop_and_new_conversation(hands_free_space, playwright, tmp_path):
    """Stop ends the answer as speaking over it does; "New conversation" closes the visitor's session, and the next
    question starts a new one."""
    demo, url = hands_free_space
    microphone, _ = dialogue_wav(tmp_path, 6.0)  # time to press both buttons before the second question
    with browser_page(url, microphone, playwright=playwright) as page:
        open_hands_free(page, url)  # long answers
        page.click("#handsfree-mic button.record-button")
        wait_for(page, """() => { const a = document.querySelectorAll('#handsfree-chat [data-testid="bot"]');
                                  return a.length === 1 && a[0].innerText.replace('…', '').trim().length > 0; }""",
                 60, "the first answer")
        first_visitor = page_visitor(page, demo)
        assert generation_threads()
        page.click("#handsfree-stop")
        wait_for(page, """() => document.querySelectorAll('#handsfree-chat [data-testid="bot"]')[0].innerText
                                .includes('interrupted') && !document.querySelector('#handsfree-audio audio')""",
                 10, "the answer stopped and its player emptied")
        seconds = wait_until(lambda: not generation_threads(), timeout=20)
        assert seconds < 2.5, f"the generation went on for {seconds:.1f} s after Stop"
        assert len(first_visitor.session.conversation.turns[0].answer) < FULL_LONG_ANSWER_CHARACTERS * 0.7

        page.click("#handsfree-clear")
        wait_until(lambda: first_visitor.closed and first_visitor not in demo.hands_free.visitors, timeout=10)
        wait_for(page, """() => document.querySelectorAll('#handsfree-chat [data-testid="bot"]').length === 0""",
                 10, "the conversation cleared on the page")
        # the microphone goes on: the second question is the first turn of a new conversation
        wait_for(page, """() => { const a = document.querySelectorAll('#handsfree-chat [data-testid="bot"]');
                                  return a.length === 1 && a[0].innerText.replace('…', '').trim().length > 0; }""",
                 60, "the answer to the second question, in a new conversation")
        second_visitor = page_visitor(page, demo)
        assert second_visitor is not first_visitor and len(second_visitor.turns) == 1
        assert page.locator('#handsfree-chat [data-testid="user"]').count() == 1
        page.click("#handsfree-mic button.stop-button")
