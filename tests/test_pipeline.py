# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`pipeline("any-to-any")` on saved LLaMA-Omni folders: a spoken question in, the text answer out, or with
`generation_mode="audio"` the spoken answer (`{"audio", "sampling_rate"}`); LLaMA-Omni (CTC) and LLaMA-Omni2-style
(autoregressive) models, with the package imported and through remote code in an interpreter without it; and no
"Passing `generation_config` together with generation-related arguments" warning from our generate()."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModelForMultimodalLM, GenerationConfig, pipeline
from transformers.utils import logging as hf_logging

from inference.chat import chat_main
from modeling_llama_omni import LlamaOmniForConditionalGeneration
from tests.clean_interpreter import run_clean
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_ar_model_and_processor, tiny_model_and_processor, tiny_vocoder

SR = 16000
# Tiny random models may end an answer at once: at least 6 tokens, greedy.
GREEDY = {"max_new_tokens": 10, "min_new_tokens": 6, "do_sample": False}
GENERATION_CONFIG_WARNING = "Passing `generation_config` together with generation-related arguments"


def save_folder(folder, model, processor, vocoder=True, remote_code=False):
    with torch.no_grad():  # louder speech embeddings: the random model's answers then depend on the question
        model.model.speech_adaptor.linear2.weight.mul_(10)
    model.save_pretrained(folder, remote_code=remote_code)
    processor.save_pretrained(folder, remote_code=remote_code)
    if vocoder:
        tiny_vocoder(unit_vocab_size=model.config.unit_vocab_size).save_pretrained(
            folder / "vocoder", remote_code=remote_code
        )
    return folder


@pytest.fixture(scope="module")
def question(tmp_path_factory):
    path = tmp_path_factory.mktemp("question") / "question.wav"
    sf.write(path, make_speech(2.0, sr=SR), SR)
    return path


@pytest.fixture(scope="module")
def ctc_folder(tmp_path_factory):
    return save_folder(tmp_path_factory.mktemp("omni-ctc"), *tiny_model_and_processor())


@pytest.fixture(scope="module")
def ar_folder(tmp_path_factory):
    return save_folder(tmp_path_factory.mktemp("omni2-ar"), *tiny_ar_model_and_processor())


@pytest.fixture(scope="module")
def ar_folder_without_vocoder(tmp_path_factory):
    return save_folder(tmp_path_factory.mktemp("omni2-ar-mute"), *tiny_ar_model_and_processor(), vocoder=False)


def messages(audio_item: dict) -> list[dict]:
    return [{"role": "user", "content": [audio_item]}]


def reference(pipe, conversation: list[dict], **generate_kwargs):
    """What the model answers to `conversation` called directly: (new token ids, output of return_audio=True)."""
    inputs = pipe.processor.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    with torch.no_grad():
        spoken = pipe.model.generate(**inputs, return_audio=True, **generate_kwargs)
    return spoken.sequences[0, inputs["input_ids"].shape[1] :], spoken


@contextlib.contextmanager
def transformers_warnings():
    """The messages transformers logs inside the block (its `warning_once` cache cleared first, so that a warning
    already given earlier in this process is given again)."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    logger = hf_logging.get_logger("transformers")
    hf_logging.warning_once.cache_clear()
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


# ----------------------------------------------------------------------------------------------------------------
# Registration
# ----------------------------------------------------------------------------------------------------------------


def test_registered_for_the_multimodal_lm_auto_class(ctc_folder):
    model = AutoModelForMultimodalLM.from_pretrained(ctc_folder)
    assert type(model) is LlamaOmniForConditionalGeneration
    assert set(model.output_modalities) == {"text", "audio"} and set(model.input_modalities) == {"text", "audio"}


def test_remote_code_auto_map_names_the_multimodal_lm_class(tmp_path):
    model, processor = tiny_model_and_processor()
    model.save_pretrained(tmp_path, remote_code=True)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForMultimodalLM"] == "modeling_llama_omni.LlamaOmniForConditionalGeneration"
    assert auto_map["AutoModelForCausalLM"] == auto_map["AutoModel"] == auto_map["AutoModelForMultimodalLM"]


# ----------------------------------------------------------------------------------------------------------------
# Text and audio answers
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ctc", "ar"])
def test_text_answer_is_what_generate_answers(kind, ctc_folder, ar_folder, question):
    pipe = pipeline("any-to-any", model=str(ctc_folder if kind == "ctc" else ar_folder))
    conversation = messages({"type": "audio", "path": str(question)})
    out = pipe(conversation, return_full_text=False, generate_kwargs=dict(GREEDY))
    new_ids, _ = reference(pipe, conversation, **GREEDY)
    assert len(out) == 1 and out[0]["input_text"] == conversation
    assert out[0]["generated_text"] == pipe.processor.decode(new_ids, skip_special_tokens=True)
    assert out[0]["generated_text"].strip()
    # the default (full text): the conversation continued by the assistant's message
    full = pipe(conversation, generate_kwargs=dict(GREEDY))[0]["generated_text"]
    assert full == [*conversation, {"role": "assistant", "content": out[0]["generated_text"]}]


@pytest.mark.parametrize("kind", ["ctc", "ar"])
def test_audio_answer_is_the_vocoded_answer(kind, ctc_folder, ar_folder, question):
    pipe = pipeline("any-to-any", model=str(ctc_folder if kind == "ctc" else ar_folder))
    conversation = messages({"type": "audio", "path": str(question)})
    out = pipe(conversation, generation_mode="audio", generate_kwargs=dict(GREEDY))
    assert len(out) == 1 and set(out[0]) == {"input_text", "generated_audio"}
    spoken = out[0]["generated_audio"]
    assert set(spoken) == {"audio", "sampling_rate"}
    _, expected = reference(pipe, conversation, **GREEDY)
    assert spoken["sampling_rate"] == expected.sampling_rate == pipe.model.default_vocoder().config.sampling_rate
    assert isinstance(spoken["audio"], np.ndarray) and spoken["audio"].dtype == np.float32
    assert spoken["audio"].ndim == 1 and spoken["audio"].size > 0 and np.abs(spoken["audio"]).max() > 0
    np.testing.assert_allclose(spoken["audio"], expected.waveforms[0].numpy(), atol=1e-6, rtol=0)


def test_the_question_in_every_form_the_processor_takes(ctc_folder, question):
    """In the messages: a path, a local "url", an (array, rate) tuple, a datasets dict; as keyword arguments:
    `audios=` (handed to the processor as given) and `audio=` (decoded by the pipeline at 16 kHz: with
    `sampling_rate=16000`). The kwargs forms take a rendered prompt with the speech placeholder."""
    pipe = pipeline("any-to-any", model=str(ctc_folder))
    samples, rate = sf.read(question, dtype="float32")
    answers = {
        name: pipe(messages(item), return_full_text=False, generate_kwargs=dict(GREEDY))[0]["generated_text"]
        for name, item in {
            "path": {"type": "audio", "path": str(question)},
            "url": {"type": "audio", "url": str(question)},
            "tuple": {"type": "audio", "audio": (samples, rate)},
            "dict": {"type": "audio", "audio": {"array": samples, "sampling_rate": rate}},
        }.items()
    }
    assert len(set(answers.values())) == 1, answers
    prompt = pipe.processor.apply_chat_template(messages({"type": "audio"}), add_generation_prompt=True)
    for kwargs in ({"audios": str(question)}, {"audio": str(question), "sampling_rate": SR}):
        text = pipe(text=prompt, return_full_text=False, generate_kwargs=dict(GREEDY), **kwargs)[0]["generated_text"]
        assert text == answers["path"], kwargs


def test_bad_questions_are_clear_errors(ctc_folder, question):
    pipe = pipeline("any-to-any", model=str(ctc_folder))
    prompt = pipe.processor.default_prompt()
    # the pipeline hands `audio=` to the processor as a bare 16 kHz array: its rate has to be said
    with pytest.raises(ValueError, match="sampling_rate is required for raw audio arrays"):
        pipe(text=prompt, audio=str(question), max_new_tokens=2)
    with pytest.raises(ValueError, match="not both"):
        pipe.processor(text=prompt, audio=str(question), audios=str(question))
    with pytest.raises(ValueError, match="audio file not found"):
        pipe(messages({"type": "audio", "path": str(question) + ".missing"}), max_new_tokens=2)
    with pytest.raises(ValueError, match="no speech placeholder"):
        pipe(text="What did I say?", audios=str(question), max_new_tokens=2)
    with pytest.raises(ValueError, match="generation_mode"):
        pipe.model.generate(**pipe.processor(audio=str(question)), max_new_tokens=2, generation_mode="image")
    with pytest.raises(ValueError, match="waveforms"):
        pipe.processor.post_process_multimodal_output(torch.zeros(1, 3, dtype=torch.long), generation_mode="audio")


def test_a_folder_without_vocoder_answers_text_and_refuses_audio_clearly(ar_folder_without_vocoder, question):
    pipe = pipeline("any-to-any", model=str(ar_folder_without_vocoder))
    conversation = messages({"type": "audio", "path": str(question)})
    assert pipe(conversation, return_full_text=False, generate_kwargs=dict(GREEDY))[0]["generated_text"].strip()
    with pytest.raises(ValueError, match=r"generation_mode='audio' needs a vocoder.*no 'vocoder' subfolder"):
        pipe(conversation, generation_mode="audio", generate_kwargs=dict(GREEDY))
    # a vocoder given through generate_kwargs makes it speak
    vocoder = tiny_vocoder(unit_vocab_size=pipe.model.config.unit_vocab_size)
    spoken = pipe(conversation, generation_mode="audio", generate_kwargs={**GREEDY, "vocoder": vocoder})
    assert spoken[0]["generated_audio"]["audio"].size > 0


# ----------------------------------------------------------------------------------------------------------------
# Remote code, in an interpreter where our packages cannot be imported
# ----------------------------------------------------------------------------------------------------------------

REMOTE_SCRIPT = textwrap.dedent(
    """
    import torch
    from transformers import pipeline

    question, out, *folders = sys.argv[1:]
    greedy = json.loads(sys.stdin.read())
    conversation = [{"role": "user", "content": [{"type": "audio", "path": question}]}]
    results = {}
    for folder in folders:
        pipe = pipeline("any-to-any", model=folder, trust_remote_code=True)
        text = pipe(conversation, return_full_text=False, generate_kwargs=dict(greedy))[0]["generated_text"]
        spoken = pipe(conversation, generation_mode="audio", generate_kwargs=dict(greedy))[0]["generated_audio"]
        results[folder] = {"text": text, "audio": torch.from_numpy(spoken["audio"]), "rate": spoken["sampling_rate"],
                           "model": type(pipe.model).__module__, "processor": type(pipe.processor).__module__}
    torch.save(results, out)
    print(json.dumps({"ours_importable": sorted({m.split(".")[0] for m in sys.modules} & OURS)}))
    """
)


def test_pipeline_through_remote_code_in_a_clean_interpreter(tmp_path, question):
    folders = [
        save_folder(tmp_path / "omni-ctc", *tiny_model_and_processor(), remote_code=True),
        save_folder(tmp_path / "omni2-ar", *tiny_ar_model_and_processor(), remote_code=True),
    ]
    out = tmp_path / "remote.pt"
    result = run_clean(REMOTE_SCRIPT, question, out, *folders, cwd=tmp_path, input=json.dumps(GREEDY), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"ours_importable": []}
    remote = torch.load(out, weights_only=True)
    conversation = messages({"type": "audio", "path": str(question)})
    for folder in folders:
        got = remote[str(folder)]
        assert got["model"].startswith("transformers_modules.") and got["processor"].startswith("transformers_modules.")
        pipe = pipeline("any-to-any", model=str(folder))  # the same folder with our package
        assert got["text"] == pipe(conversation, return_full_text=False, generate_kwargs=dict(GREEDY))[0][
            "generated_text"
        ]
        spoken = pipe(conversation, generation_mode="audio", generate_kwargs=dict(GREEDY))[0]["generated_audio"]
        assert got["rate"] == spoken["sampling_rate"] and got["audio"].numel() > 0
        torch.testing.assert_close(got["audio"], torch.from_numpy(spoken["audio"]), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------------------------------------------
# The embedded llama-omni-tiny, saved with save_pretrained
# ----------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_llama_omni_tiny_answers_through_the_pipeline(tmp_path):
    from offline_assets import embedded

    folder = embedded.assemble_default()  # save_pretrained of the assembled model, processor and vocoder
    question = embedded.demo_question(tmp_path / "question.wav")
    pipe = pipeline("any-to-any", model=str(folder))
    conversation = messages({"type": "audio", "path": str(question)})
    greedy = {"max_new_tokens": 40, "do_sample": False}
    text = pipe(conversation, return_full_text=False, generate_kwargs=dict(greedy))[0]["generated_text"]
    spoken = pipe(conversation, generation_mode="audio", generate_kwargs=dict(greedy))[0]["generated_audio"]
    new_ids, expected = reference(pipe, conversation, **greedy)
    assert text == pipe.processor.decode(new_ids, skip_special_tokens=True)
    assert len(text.split()) >= 3, text
    assert spoken["sampling_rate"] == expected.sampling_rate == 22050
    assert spoken["audio"].size / spoken["sampling_rate"] > 0.5
    np.testing.assert_allclose(spoken["audio"], expected.waveforms[0].numpy(), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------------------------------------------
# No "Passing `generation_config` together with generation-related arguments" warning
# ----------------------------------------------------------------------------------------------------------------


def test_llama_omni_chat_answers_without_the_generation_config_warning(ctc_folder, question, tmp_path):
    stdout = io.StringIO()
    with transformers_warnings() as warnings, contextlib.redirect_stdout(stdout):
        code = chat_main(["--audio", str(question), "--model", str(ctc_folder), "--out-dir", str(tmp_path),
                          "--max-new-tokens", "8", "--json"])  # fmt: skip
    assert code == 0
    record = json.loads(stdout.getvalue().strip().splitlines()[-1])
    assert record["text"] and sf.info(record["audio"]).frames > 0
    assert not [w for w in warnings if GENERATION_CONFIG_WARNING in w], warnings


def test_a_generation_config_with_prompt_blind_penalties_gives_no_warning_and_the_same_answer(question, tmp_path):
    """Converted checkpoints (`penalties_see_prompt=False`) take the penalties out of transformers' hands: with a
    caller's `generation_config` (e.g. through the pipeline, which passes one) they are turned off in a copy of it,
    not with arguments next to it; the answer is the one of the same settings passed as arguments."""
    model, processor = tiny_model_and_processor(penalties_see_prompt=False)
    inputs = processor(audio=str(question))
    # (30 tokens: the random model repeats itself after 23)
    settings = dict(max_new_tokens=30, min_new_tokens=30, do_sample=False, repetition_penalty=1.8,
                    no_repeat_ngram_size=2, pad_token_id=model.generation_config.pad_token_id)  # fmt: skip
    with transformers_warnings() as warnings:
        with torch.no_grad():
            by_arguments = model.generate(**inputs, **settings)
            config = GenerationConfig(**settings)
            by_config = model.generate(**inputs, generation_config=config)
    assert not [w for w in warnings if GENERATION_CONFIG_WARNING in w], warnings
    assert config.repetition_penalty == 1.8 and config.no_repeat_ngram_size == 2  # the caller's config is untouched
    assert torch.equal(by_config, by_arguments)
    with torch.no_grad():
        plain = model.generate(**inputs, **{**settings, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0})
    assert not torch.equal(by_config, plain)  # the penalties did apply
    # through the pipeline, which hands generate() a copy of the config it is given
    pipe = pipeline("any-to-any", model=str(save_folder(tmp_path, model, processor)))
    conversation = messages({"type": "audio", "path": str(question)})
    with transformers_warnings() as warnings:
        text = pipe(conversation, return_full_text=False, generate_kwargs={"generation_config": config})
    assert not [w for w in warnings if GENERATION_CONFIG_WARNING in w], warnings
    new_ids, _ = reference(pipe, conversation, **settings)
    assert text[0]["generated_text"] == pipe.processor.decode(new_ids, skip_special_tokens=True)
