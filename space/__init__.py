# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The LLaMA-Omni Space: a Gradio page and API on top of the inference runtime (`inference`), UI only.

    app.py                the entry point (`python space/app.py`, `from space.app import launch`): loads the model
                          from MODEL_ID / DEVICE / DTYPE or the command line, serves the page
    chat_page.py          the page and its `/answer` API (streamed text and audio, Stop, the settings)
    hands_free.py         the hands-free tab: the microphone streamed into `inference.HandsFreeSession`, the answers
                          streamed out, barge-in
    chat_view.py          what a visitor reads: friendly audio errors, the chat view of the turns, the timing lines
    example_questions.py  the example questions, spoken with the offline TTS on first use
    screenshots.py        README screenshots of the hands-free mode (`python -m space.screenshots`, Playwright)
"""
