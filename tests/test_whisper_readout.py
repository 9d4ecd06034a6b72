# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The Whisper read-out adaptor (`LlamaOmniConfig.speech_adaptor_whisper_readout`, `LlamaOmniWhisperReadoutAdaptor`):
Whisper's own decoder reads the encoder outputs out, and the LLM gets the transcript's tokens. Tiny random Whisper
models with a tiny byte-level tokenizer; Whisper-base's real tokenizer for the byte table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration
from modeling_llama_omni.whisper_readout import (
    LlamaOmniWhisperReadoutAdaptor,
    as_question_text,
    cut_at_repeat,
    whisper_token_bytes,
)
from tests.tiny_components import make_speech, make_tiny_tokenizer
from tests.tiny_models import tiny_config, tiny_model_and_processor, tiny_whisper_config

WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>"]


def tiny_whisper(seed: int = 0):
    """A tiny random Whisper (2 decoder layers) whose tokenizer is the tiny byte-level one plus Whisper's specials."""
    tokenizer = make_tiny_tokenizer()
    tokenizer.add_tokens(WHISPER_SPECIALS, special_tokens=True)
    torch.manual_seed(seed)
    config = WhisperConfig(**tiny_whisper_config(vocab_size=len(tokenizer), decoder_layers=2, max_target_positions=64))
    return WhisperForConditionalGeneration(config).eval(), tokenizer


def readout_model(seed: int = 0, **settings):
    """A tiny LLaMA-Omni whose adaptor reads out with a tiny Whisper's decoder; and its processor and Whisper."""
    whisper, whisper_tokenizer = tiny_whisper(seed)
    from tests.tiny_components import make_tiny_processor

    llm_tokenizer = make_tiny_processor().tokenizer
    readout = {**LlamaOmniWhisperReadoutAdaptor.settings_for(whisper.config, whisper_tokenizer, llm_tokenizer),
               **settings}
    model, processor = tiny_model_and_processor(seed=seed, speech_adaptor_whisper_readout=readout)
    model.model.speech_encoder.load_state_dict(whisper.model.encoder.state_dict(), strict=False)
    model.model.speech_adaptor.load_whisper(whisper.model.decoder, whisper_tokenizer, processor.tokenizer)
    return model.eval(), processor, whisper, whisper_tokenizer


def reference_greedy(whisper, prompt: list[int], hidden: torch.Tensor, eot: int, limit: int) -> list[int]:
    """Whisper's greedy decoding as transformers computes it (the whole sequence again at each step, no cache),
    over the text tokens and the end of text."""
    ids = list(prompt)
    out = []
    with torch.no_grad():
        for _ in range(limit):
            states = whisper.model.decoder(input_ids=torch.tensor([ids]), encoder_hidden_states=hidden[None])
            logits = whisper.proj_out(states.last_hidden_state[0, -1])[: eot + 1]
            token = int(logits.argmax())
            if token == eot:
                break
            out.append(token)
            ids.append(token)
    return out


def test_the_read_out_is_whispers_own_greedy_decoding():
    model, _, whisper, _ = readout_model(repeat_ngram=0, int8_on_cpu=False)
    adaptor = model.model.speech_adaptor
    settings = adaptor.settings
    for seed in range(3):
        torch.manual_seed(seed)
        hidden = torch.randn(40, 24)
        limit = min(settings["max_target_positions"] - len(settings["prompt_ids"]),
                    math.ceil(40 / 50 * settings["max_tokens_per_second"]) + 8)
        expected = reference_greedy(whisper, settings["prompt_ids"], hidden, settings["eot_id"], limit)
        assert adaptor.transcribe_ids(hidden) == expected
    assert adaptor.transcribe_ids(torch.zeros(0, 24)) == []


def test_a_repeated_ngram_ends_the_transcript():
    assert cut_at_repeat([5, 6, 7, 8, 5, 6, 7], 3) == [5, 6, 7, 8]
    assert cut_at_repeat([9, 9, 9, 9], 3) == [9]  # one token over and over
    assert cut_at_repeat([5, 6, 7, 8, 5, 6, 9], 3) is None
    assert cut_at_repeat([5, 6, 5, 6], 3) is None and cut_at_repeat([5, 6, 7, 5, 6, 7], 0) is None


def test_a_transcript_is_given_to_the_llm_as_a_typed_question():
    assert as_question_text("which planet has a giant storm called the Great Red Spot.") == (
        "Which planet has a giant storm called the Great Red Spot?")
    assert as_question_text(" I've always wondered how gears work. can you explain it") == (
        "I've always wondered how gears work. can you explain it?")
    assert as_question_text("Front, center.") == "Front, center."  # not a question
    assert as_question_text("Tell me a joke!") == "Tell me a joke!" and as_question_text("  ") == ""
    assert as_question_text("How many legs does a spider have?") == "How many legs does a spider have?"


def test_whisper_bytes_and_the_llm_tokens_of_a_transcript():
    """The byte table gives Whisper's own decoding of any text (multi-byte characters split over tokens too), and
    the read-out's LLM ids are the LLM tokenizer's ids of that text."""
    from offline_assets.whisper import whisper_base_dir, whisper_processor_from_folder

    tokenizer = whisper_processor_from_folder(whisper_base_dir()).tokenizer
    flat, offsets = whisper_token_bytes(tokenizer, 51865)
    assert offsets.shape == (51866,) and offsets[-1] == flat.numel()
    text = " Which planet has a giant storm called the Great Red Spot? Ünïcödé 東京, naïve café."
    ids = tokenizer(text, add_special_tokens=False).input_ids
    data = flat.numpy().tobytes()
    assert b"".join(data[offsets[t] : offsets[t + 1]] for t in ids).decode("utf-8") == text
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert offsets[eot] == offsets[eot + 1] and offsets[51865] == offsets[51864]  # specials and timestamps: no bytes

    model, processor, _, whisper_tokenizer = readout_model()
    adaptor = model.model.speech_adaptor
    ids = whisper_tokenizer(" What is the capital of Norway?", add_special_tokens=False).input_ids
    assert adaptor.transcript(ids) == "What is the capital of Norway?"
    tokenizer = adaptor._llm_tokenizer()
    assert tokenizer.encode("What is the capital of Norway?", add_special_tokens=False).ids == processor.tokenizer(
        "What is the capital of Norway?", add_special_tokens=False).input_ids


def test_generate_fits_the_prompt_to_the_transcript_and_the_model_round_trips(tmp_path):
    model, processor, _, _ = readout_model()
    speech = make_speech(1.2)
    inputs = processor(audio=[speech], sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        read = model.model.read_out_speech(inputs["input_features"], inputs["feature_attention_mask"])
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    adaptor = model.model.speech_adaptor
    features, mask = adaptor.pad_features(inputs["input_features"], inputs["feature_attention_mask"], 3000)
    with torch.no_grad():
        texts = adaptor.read_out_texts(model.model.speech_encoder(features, attention_mask=mask).last_hidden_state)
    assert read[0] == processor.tokenizer(texts[0], add_special_tokens=False).input_ids
    assert out.shape[1] > inputs["input_ids"].shape[1]

    model.save_pretrained(tmp_path, remote_code=True)
    assert (tmp_path / "whisper_readout.py").is_file()
    loaded = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert loaded.model.read_out_speech(inputs["input_features"], inputs["feature_attention_mask"]) == read
        torch.testing.assert_close(loaded.generate(**inputs, max_new_tokens=4, do_sample=False), out)
    with pytest.raises(RuntimeError, match="read_out"):
        loaded.model.speech_adaptor(torch.zeros(1, 3, 24))


def test_load_whisper_refuses_other_tokenizers_and_the_config_checks_its_settings():
    model, processor, whisper, whisper_tokenizer = readout_model()
    with pytest.raises(ValueError, match="settings_for"):
        model.model.speech_adaptor.load_whisper(whisper.model.decoder, processor.tokenizer, processor.tokenizer)
    good = dict(model.config.speech_adaptor_whisper_readout)
    for bad, message in (
        ({**good, "d_model": 0}, "positive integer"),
        ({**good, "prompt_ids": []}, "prompt_ids"),
        ({**good, "eot_id": 10**6}, "eot_id"),
        ({**good, "beam": 4}, "unknown keys"),
        ({**good, "repeat_ngram": -1}, "repeat_ngram"),
        ({k: v for k, v in good.items() if k != "token_bytes"}, "lacks"),
        ({**good, "d_model": 32, "decoder_attention_heads": 4}, "speech encoder"),
    ):
        with pytest.raises(ValueError, match=message):
            tiny_config(speech_adaptor_whisper_readout=bad)
    with pytest.raises(ValueError, match="two adaptors"):
        LlamaOmniConfig(speech_adaptor_whisper_readout=good, speech_adaptor_lexicon={"size": 1},
                        speech_encoder_config=tiny_whisper_config())


def test_the_encoder_hears_each_clip_followed_by_the_feature_extractors_own_silence():
    model, processor, _, _ = readout_model(pad_seconds=1.0)
    adaptor = model.model.speech_adaptor
    speech = make_speech(1.0)
    features, mask = (torch.from_numpy(x) for x in processor.extract_features([speech, speech[:8000]]))
    padded, padded_mask = adaptor.pad_features(features, mask, 3000)
    lengths = mask.sum(-1).tolist()
    assert padded_mask.sum(-1).tolist() == [n + 100 for n in lengths] and padded.shape[-1] == max(lengths) + 100
    silence = np.zeros(32000, np.float32)
    silent = torch.from_numpy(processor.extract_features([np.concatenate([speech, silence])])[0])
    n = lengths[0]
    torch.testing.assert_close(padded[0, :, :n], features[0, :, :n])
    torch.testing.assert_close(padded[0, :, n + 3 : n + 100], silent[0, :, n + 3 : n + 100], atol=1e-5, rtol=0)
    cap = n + 10  # the encoder's longest input
    assert adaptor.pad_features(features, mask, cap)[1].sum(-1).tolist() == [cap, min(lengths[1] + 100, cap)]


def test_on_the_cpu_the_decoder_can_run_int8_copies_of_its_linear_layers():
    """`int8_on_cpu`: the same maps, int8 dynamically quantized (close to the float ones), built once per weights."""
    from inference.runtime import prepare_adaptor

    model, _, _, _ = readout_model(repeat_ngram=0)
    adaptor = model.model.speech_adaptor
    assert adaptor.settings["int8_on_cpu"] and adaptor._maps is None and adaptor._tokenizer is None
    prepare_adaptor(model)  # what load_model does: nothing left to build at the first answer
    assert adaptor._maps is not None and adaptor._tokenizer is not None
    layers, project = adaptor._projections()
    assert adaptor._projections()[1] is project  # kept
    adaptor.settings["int8_on_cpu"] = False
    float_layers, float_project = adaptor._projections()
    torch.manual_seed(0)
    widths = [24, 24, 24, 24, 24, 48, 24]  # what each map reads: fc2 reads the feed-forward width
    for width, quantized, exact in zip(widths, [*layers[0], project], [*float_layers[0], float_project]):
        x = torch.randn(1, width)
        y, reference = quantized(x), exact(x)
        assert y.shape == reference.shape and not torch.equal(y, reference)
        assert (y - reference).norm() < 0.05 * reference.norm()
    adaptor.settings["int8_on_cpu"] = True
    assert len(adaptor.transcribe_ids(torch.randn(40, 24))) > 0
    model.load_state_dict(model.state_dict())  # new weights: new copies
    assert adaptor._projections()[1] is not project
