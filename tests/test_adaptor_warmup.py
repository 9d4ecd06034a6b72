# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The CTC warm-up of the speech adaptor (trainers/stages/adaptor_warmup.py) on a tiny model."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_trainers import make_dataset
from tests.tiny_models import tiny_model_and_processor

datasets = pytest.importorskip("datasets")

from modeling_llama_omni import LlamaOmniForConditionalGeneration  # noqa: E402
from trainers.stages.adaptor_warmup import DONE_NAME, AdaptorWarmupConfig, augment_states, warmup_adaptor  # noqa: E402


@pytest.fixture(scope="module")
def data():
    # clips of 0.5-0.9 s with the transcripts "question <i>" (a few tokens of the tiny vocabulary)
    train = make_dataset(6)
    return datasets.DatasetDict({"train": train, "test": make_dataset(2, seed=1)})


def test_warmup_trains_only_the_adaptor_and_lowers_the_ctc_loss(tmp_path, data):
    model, processor = tiny_model_and_processor(seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    config = AdaptorWarmupConfig(output_dir=str(tmp_path / "warm"), max_minutes=5, max_epochs=40, batch_size=3,
                                 learning_rate=5e-3, warmup_steps=0, logging_steps=5, eval_examples=2)
    summary = warmup_adaptor(model, data, config, processor=processor, progress=False)
    assert summary["usable_examples"] > 0
    assert {name: p.requires_grad for name, p in model.named_parameters()} == trainable  # the caller's flags
    assert summary["final_ctc_loss"] < 0.7 * summary["first_ctc_loss"], summary
    assert set(summary["greedy_ctc_wer_after"]) >= {"train", "eval"}
    saved = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / "warm").state_dict()
    for name, tensor in before.items():
        same = torch.equal(saved[name], tensor)
        assert same != name.startswith("model.speech_adaptor."), name
    written = json.loads((tmp_path / "warm" / DONE_NAME).read_text())
    assert written["steps"] == summary["steps"]
    assert (tmp_path / "warm" / "encoder_cache" / "manifest.json").is_file()


def test_warmup_reports_missing_columns_and_bad_settings(tmp_path, data):
    model, processor = tiny_model_and_processor(seed=0)
    broken = datasets.DatasetDict({"train": data["train"].remove_columns(["instruction"])})
    with pytest.raises(ValueError, match="lacks the columns \\['instruction'\\]"):
        warmup_adaptor(model, broken, AdaptorWarmupConfig(output_dir=str(tmp_path)), processor=processor)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        AdaptorWarmupConfig(output_dir=str(tmp_path), batch_size=0)
    with pytest.raises(ValueError, match="time_masks must be >= 0"):
        AdaptorWarmupConfig(output_dir=str(tmp_path), time_masks=-1)
    with pytest.raises(ValueError, match="state_dropout must be in"):
        AdaptorWarmupConfig(output_dir=str(tmp_path), state_dropout=1.0)


def test_augment_states_masks_spans_and_bands_inside_each_clip():
    states = torch.randn(2, 20, 16) + 10.0  # no value is zero before masking
    original = states.clone()
    lengths = torch.tensor([20, 8])
    settings = {"time_masks": 2, "time_mask_frames": 3, "feature_masks": 1, "feature_mask_width": 4}
    out = augment_states(states, lengths, torch.Generator().manual_seed(0), **settings)
    assert torch.equal(states, original) and out.shape == states.shape
    zero = out == 0
    assert torch.equal(out[~zero], states[~zero])  # what is not masked is unchanged
    for i, length in enumerate(lengths.tolist()):
        frames = zero[i].all(dim=-1)  # masked in time
        bands = zero[i].all(dim=0)  # masked in channels
        assert frames.sum() <= 2 * 3 and bands.sum() <= 4
        assert not frames[length:].any()  # time masks stay inside the clip's valid frames
        assert torch.equal(zero[i], frames[:, None] | bands[None, :])  # nothing else is zero
    again = augment_states(states, lengths, torch.Generator().manual_seed(0), **settings)
    assert torch.equal(out, again)  # repeatable from the generator
    wide = {"time_masks": 4, "time_mask_frames": 6, "feature_masks": 4, "feature_mask_width": 8}
    masks = [augment_states(states, lengths, torch.Generator().manual_seed(seed), **wide) == 0 for seed in range(4)]
    assert any(not torch.equal(masks[0], m) for m in masks[1:])  # and drawn anew for each batch
    assert torch.equal(augment_states(states, lengths, torch.Generator()), states)  # all off: no change
    dropped = augment_states(torch.ones(4, 50, 32), torch.full((4,), 50), torch.Generator().manual_seed(1), dropout=0.5)
    assert 0.4 < float((dropped == 0).float().mean()) < 0.6 and set(dropped.unique().tolist()) == {0.0, 2.0}
    with pytest.raises(ValueError, match="one length per clip"):
        augment_states(states, torch.tensor([20]), torch.Generator())


def test_head_scores_tokens_and_blank_like_one_cosine_matrix():
    from trainers.stages.adaptor_warmup import _CTCHead

    torch.manual_seed(0)
    embeddings = torch.randn(50, 16)
    head = _CTCHead(embeddings, init_scale=7.0)
    frames = torch.randn(2, 9, 16)
    classes = torch.cat([torch.nn.functional.normalize(embeddings, dim=-1),
                         torch.nn.functional.normalize(head.blank.detach(), dim=-1)[None]])
    expected = 7.0 * torch.nn.functional.normalize(frames, dim=-1) @ classes.T
    torch.testing.assert_close(head(frames), expected, rtol=1e-5, atol=1e-5)
    subset = torch.tensor([3, 7, 40])
    torch.testing.assert_close(head(frames, subset), expected[..., [3, 7, 40, 50]], rtol=1e-5, atol=1e-5)
    assert torch.allclose(head(frames, bf16=True), expected, atol=0.1)  # bfloat16 similarities
    # the frozen token matrix gets no gradient; the blank and the scale do
    head(frames).sum().backward()
    assert head.blank.grad is not None and head.log_scale.grad is not None


def test_batch_vocabulary_reindexes_the_targets():
    from trainers.stages.adaptor_warmup import _step_classes

    generator = torch.Generator().manual_seed(0)
    classes, targets = _step_classes([[9, 4, 9], [30]], vocab_size=100, negatives=0, generator=generator)
    assert classes.tolist() == [4, 9, 30] and targets == [[1, 0, 1], [2]]
    classes, targets = _step_classes([[9, 4, 9], [30]], vocab_size=100, negatives=20, generator=generator)
    assert len(classes) > 3 and classes.tolist() == sorted(set(classes.tolist()))
    assert [[int(classes[i]) for i in t] for t in targets] == [[9, 4, 9], [30]]


def test_warmup_with_the_batch_vocabulary_lowers_the_loss(tmp_path, data):
    model, processor = tiny_model_and_processor(seed=0)
    config = AdaptorWarmupConfig(output_dir=str(tmp_path / "warm"), max_minutes=5, max_epochs=40, batch_size=3,
                                 learning_rate=5e-3, warmup_steps=0, logging_steps=5, eval_examples=2,
                                 head_vocabulary="batch", negatives=8, bf16=True)
    summary = warmup_adaptor(model, data, config, processor=processor, progress=False)
    assert summary["final_ctc_loss"] < 0.7 * summary["first_ctc_loss"], summary
    with pytest.raises(ValueError, match="head_vocabulary must be"):
        AdaptorWarmupConfig(output_dir=str(tmp_path), head_vocabulary="some")
