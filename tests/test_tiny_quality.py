# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""benchmarks/tiny_quality.py: the `make demo` question's record (the benchmark itself runs the real model)."""

from __future__ import annotations

import numpy as np
import torch

from benchmarks.tiny_quality import demo_record, heard_questions, heard_wer
from offline_assets.embedded import DEMO_QUESTION_TEXT
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_model_and_processor


def test_demo_record_says_whether_the_answer_is_in_the_text_and_heard():
    other = {"kind": "heldout", "question": "What's the capital of China?", "gold": "Beijing",
             "speech_mode": "Beijing.", "transcript": "Beijing."}
    demo = {"kind": "heldout", "question": DEMO_QUESTION_TEXT, "gold": "Jupiter",
            "speech_mode": "It is Jupiter.", "transcript": "It is Jupyter."}
    record = demo_record([other, demo])
    assert record["speech_mode"] == "It is Jupiter." and record["transcript"] == "It is Jupyter."
    assert record["answer_in_text"] is True and record["answer_heard"] is False
    assert record["heard_question"] is None  # no read-out recorded (an adaptor with embeddings)
    assert demo_record([dict(demo, heard_question="Which planet?")])["heard_question"] == "Which planet?"
    assert demo_record([other]) is None
    assert demo_record([dict(demo, kind="alsa")]) is None
    silent = {k: v for k, v in demo.items() if k != "transcript"}  # an answer without audio has no transcript
    assert demo_record([silent])["answer_heard"] is False


def test_heard_questions_are_the_lexicon_read_out_of_each_clip(tmp_path):
    import soundfile

    from tests.test_lexicon_readout import lexicon_model

    model, processor, _ = lexicon_model()
    model.eval()
    rate = processor.feature_extractor.sampling_rate
    clips = [np.asarray(make_speech(seconds, seed=i), dtype=np.float32) for i, seconds in enumerate((0.6, 1.0))]
    items = [{"audio": {"array": clip, "sampling_rate": rate}} for clip in clips]
    heard = heard_questions(model, processor, items)
    assert len(heard) == 2 and all(isinstance(text, str) for text in heard)
    soundfile.write(tmp_path / "second.wav", clips[1], rate)  # a recorded clip is read from its file
    assert heard_questions(model, processor, [{"audio": str(tmp_path / "second.wav")}]) == heard[1:]
    for clip, text in zip(clips, heard):  # each clip read alone, from the inputs the processor gives the model
        inputs = processor(audio=clip, sampling_rate=rate)
        with torch.no_grad():
            ids = model.model.read_out_speech(inputs["input_features"], inputs["feature_attention_mask"])[0]
        assert text == processor.tokenizer.decode(ids, skip_special_tokens=True)
    mlp, mlp_processor = tiny_model_and_processor(seed=0)
    assert heard_questions(mlp, mlp_processor, items) is None  # the released adaptor gives embeddings, no words


def test_long_answers_are_transcribed_in_30_second_windows(monkeypatch):
    """`transcribe_long`: a clip over 30 s is cut into consecutive windows (Whisper's `transcribe` refuses it
    whole), their texts joined in order; shorter clips go through as they are, and silent windows add nothing."""
    from benchmarks import common
    from offline_assets import whisper

    seen = []

    def fake_transcribe(model, processor, clips):
        assert all(len(c) <= 30 * 16000 for c in clips)
        seen.extend(len(c) for c in clips)
        return [f"w{len(c)}" if c.any() else "" for c in clips]

    monkeypatch.setattr(whisper, "transcribe", fake_transcribe)
    long = np.ones(30 * 16000 * 2 + 8000, dtype=np.float32)
    long[30 * 16000 : 60 * 16000] = 0  # a silent middle window
    texts = common.transcribe_long(None, None, [np.ones(16000, dtype=np.float32), long])
    assert seen == [16000, 480000, 480000, 8000]
    assert texts == ["w16000", "w480000 w8000"]
    assert common.transcribe_long(None, None, []) == []


def test_heard_wer_scores_one_kind_of_question():
    records = [
        {"kind": "heldout", "question": "What is the capital of Norway?",
         "heard_question": "what is the capital of more way", "whisper_base_heard": "What is the capital of Norway?"},
        {"kind": "heldout", "question": "How many legs does a spider have?",
         "heard_question": "how many legs does a spider have"},
        {"kind": "alsa", "question": "Front Left", "heard_question": "weren't left",
         "whisper_base_heard": "Front, left."},
    ]
    assert heard_wer(records, "heldout", "heard_question") == round(2 / 13, 4)  # "more way" for "norway": 1 sub + 1 ins
    assert heard_wer(records, "heldout", "whisper_base_heard") == 0.0  # only the records that have the field
    assert heard_wer(records, "alsa", "heard_question") == 0.5
    assert heard_wer(records, "other", "heard_question") is None
