# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""benchmarks/tiny_quality.py: the `make demo` question's record (the benchmark itself runs the real model)."""

from __future__ import annotations

from benchmarks.tiny_quality import demo_record
from offline_assets.embedded import DEMO_QUESTION_TEXT


def test_demo_record_says_whether_the_answer_is_in_the_text_and_heard():
    other = {"kind": "heldout", "question": "What's the capital of China?", "gold": "Beijing",
             "speech_mode": "Beijing.", "transcript": "Beijing."}
    demo = {"kind": "heldout", "question": DEMO_QUESTION_TEXT, "gold": "Jupiter",
            "speech_mode": "It is Jupiter.", "transcript": "It is Jupyter."}
    record = demo_record([other, demo])
    assert record["speech_mode"] == "It is Jupiter." and record["transcript"] == "It is Jupyter."
    assert record["answer_in_text"] is True and record["answer_heard"] is False
    assert demo_record([other]) is None
    assert demo_record([dict(demo, kind="alsa")]) is None
    silent = {k: v for k, v in demo.items() if k != "transcript"}  # an answer without audio has no transcript
    assert demo_record([silent])["answer_heard"] is False
