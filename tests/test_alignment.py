# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The speech decoder's training alignment (`LlamaOmniConfig.speech_decoder_alignment`, issue 15 item 9).

A tiny checkpoint in the released LLaMA-Omni layout (`tests.released_layouts.Source`) is converted; with
`speech_decoder_alignment="at_token"` the model's CTC loss must equal an independent step-by-step reproduction of the
released training forward (`SpeechGeneratorCTC.forward` with `tgt_units`: the final LLM states AT the response
token positions, uniform upsampling, causal Llama layers with the LLM's RoPE, CTC summed and divided by the number
of target units), and with `"predicting"` (the default of our own models) the same reproduction fed the states one
position earlier. Stage 2's response-state cache stores the states of the model's alignment.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import modeling_llama_omni  # noqa: F401 - registers the Auto classes
from modeling_llama_omni import LlamaOmniConfig, LlamaOmniForConditionalGeneration
from modeling_llama_omni.convert_original import convert_original_checkpoint
from tests.released_layouts import CTC, UNIT_VOCAB, UPSAMPLE, Source
from tests.test_trainers import COMMON, make_dataset
from tests.tiny_models import tiny_ar_model_and_processor, tiny_config, tiny_model_and_processor
from trainers.stages.stage2 import LlamaOmniStage2Trainer, Stage2Config
from transformers import AutoModel, LlamaConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

IGNORE = -100
PAD = 0


def _batch() -> dict[str, torch.Tensor]:
    """Two right-padded text-only examples: prompt tokens unlabelled, response tokens labelled, units per example."""
    rows = [([1, 5, 9, 33, 70], [40, 41, 42, 43, 2]), ([1, 5, 9], [50, 51, 2])]
    width = max(len(p) + len(r) for p, r in rows)
    input_ids = torch.full((len(rows), width), PAD)
    labels = torch.full((len(rows), width), IGNORE)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (prompt, response) in enumerate(rows):
        ids = prompt + response
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, len(prompt) : len(ids)] = torch.tensor(response)
        mask[i, : len(ids)] = 1
    generator = torch.Generator().manual_seed(7)
    # at most n_response * UPSAMPLE frames are needed (units and blanks between repeats)
    unit_rows = [torch.randint(0, UNIT_VOCAB, (n,), generator=generator) for n in (9, 5)]
    unit_labels = torch.full((2, 9), IGNORE)
    for i, units in enumerate(unit_rows):
        unit_labels[i, : len(units)] = units
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels, "unit_labels": unit_labels}


class ReleasedCTCTraining:
    """A step-by-step reproduction of the released LLaMA-Omni speech-decoder training forward, from the reference
    modules the released-layout checkpoint was written from (the LLM and the speech generator's weights)."""

    def __init__(self, source: Source):
        self.llm = source.llm
        layers, hidden, heads, ffn = CTC
        # The released decoder deep-copies the LLM config and overrides its sizes: it keeps the LLM's RoPE.
        fields = {**source.llm.config.to_dict(), "hidden_size": hidden, "num_hidden_layers": layers,
                  "num_attention_heads": heads, "num_key_value_heads": heads, "intermediate_size": ffn,
                  "head_dim": hidden // heads}
        self.config = LlamaConfig(**fields)
        self.config._attn_implementation = "eager"
        self.layers = torch.nn.ModuleList([LlamaDecoderLayer(self.config, i) for i in range(layers)]).eval()
        self.layers.load_state_dict(source.generator["layers"].state_dict())
        self.rotary = LlamaRotaryEmbedding(self.config)
        self.input_proj = source.generator["input_proj"]
        self.output_proj = source.generator["output_proj"]

    @staticmethod
    def upsample(reps: torch.Tensor, num_units: int) -> torch.Tensor:
        """Frame t reads state floor(t / ratio), ratio = frames / states, frames = max(states * lambda, units)."""
        frames = max(reps.shape[0] * UPSAMPLE, num_units)
        ratio = frames / reps.shape[0]
        index = (torch.arange(frames) / ratio).long()
        return reps[index]

    def decode(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.input_proj(frames)[None]
        positions = torch.arange(x.shape[1])[None]
        rope = self.rotary(x, positions)
        causal = torch.full((x.shape[1], x.shape[1]), float("-inf")).triu(1)[None, None]
        for layer in self.layers:
            x = layer(x, attention_mask=causal, position_ids=positions, position_embeddings=rope)
        return self.output_proj(x)[0]

    @torch.no_grad()
    def loss(self, batch: dict[str, torch.Tensor], shift: int = 0) -> torch.Tensor:
        """The released loss; `shift=1` reads the states one position earlier (the "predicting" convention)."""
        # The released code reads `hidden_states[-1]` of transformers 4.43: the final-norm output.
        hidden = self.llm.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        log_probs, frame_lengths, targets, target_lengths = [], [], [], []
        for states, labels, units in zip(hidden, batch["labels"], batch["unit_labels"]):
            positions = torch.nonzero(labels != IGNORE)[:, 0] - shift
            units = units[units != IGNORE]
            logits = self.decode(self.upsample(states[positions], len(units)))
            log_probs.append(F.log_softmax(logits.float(), dim=-1))
            frame_lengths.append(logits.shape[0])
            targets.append(units)
            target_lengths.append(len(units))
        padded = torch.nn.utils.rnn.pad_sequence(log_probs)  # (frames, batch, classes)
        total = F.ctc_loss(padded, torch.cat(targets), torch.tensor(frame_lengths), torch.tensor(target_lengths),
                           blank=UNIT_VOCAB, reduction="sum", zero_infinity=True)
        return total / sum(target_lengths)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("alignment")
    source = Source(root)
    convert_original_checkpoint(source.dir, root / "converted")
    return source, AutoModel.from_pretrained(root / "converted").eval()


@pytest.mark.parametrize("alignment, shift", [("at_token", 0), ("predicting", 1)])
def test_ctc_loss_matches_the_released_training_forward(converted, alignment, shift):
    source, model = converted
    model.config.speech_decoder_alignment = alignment
    batch = _batch()
    with torch.no_grad():
        ours = model(**batch).ctc_loss
    reference = ReleasedCTCTraining(source).loss(batch, shift=shift)
    assert float(reference) > 0
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)
    other = ReleasedCTCTraining(source).loss(batch, shift=1 - shift)
    assert abs(float(other) - float(reference)) > 1e-3  # the two alignments differ on this batch


def test_response_positions_states_and_tokens():
    labels = torch.tensor([[IGNORE, IGNORE, 7, 8, 2], [IGNORE, 4, 2, IGNORE, IGNORE]])
    hidden = torch.arange(10, dtype=torch.float32).reshape(2, 5, 1)
    cls = LlamaOmniForConditionalGeneration
    states, lengths = cls.response_states(hidden, labels, "predicting")
    assert lengths.tolist() == [3, 2] and states[..., 0].tolist() == [[1, 2, 3], [5, 6, 0]]
    states, lengths = cls.response_states(hidden, labels, "at_token")
    assert lengths.tolist() == [3, 2] and states[..., 0].tolist() == [[2, 3, 4], [6, 7, 0]]
    for alignment in ("predicting", "at_token"):
        assert cls.response_tokens(labels, alignment).tolist() == [[7, 8, 2], [4, 2, 0]]
    with pytest.raises(ValueError, match="'predicting' or 'at_token'"):
        cls.response_states(hidden, labels, "later")


def test_config_field_default_and_validation():
    assert tiny_config().speech_decoder_alignment == "predicting"  # our own models: unchanged
    assert LlamaOmniConfig().speech_decoder_alignment == "predicting"
    assert tiny_config(speech_decoder_alignment="at_token").speech_decoder_alignment == "at_token"
    with pytest.raises(ValueError, match=r"speech_decoder_alignment must be one of \('predicting', 'at_token'\)"):
        tiny_config(speech_decoder_alignment="shifted")


def test_ar_decoder_reads_the_states_and_tokens_of_the_alignment():
    """The autoregressive (LLaMA-Omni2) decoder's loss in the full forward equals its cached-states path fed the
    states at the response tokens (at_token) or one earlier (predicting), paired with the same tokens."""
    model, _ = tiny_ar_model_and_processor()
    model.eval()
    batch = _batch()
    batch["unit_labels"] = batch["unit_labels"].clamp(max=model.config.unit_vocab_size - 1)
    hidden = model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    losses = {}
    for alignment, shift in (("at_token", 0), ("predicting", 1)):
        model.config.speech_decoder_alignment = alignment
        with torch.no_grad():
            full = model(**batch).speech_loss
            rows = [h[torch.nonzero(lab != IGNORE)[:, 0] - shift] for h, lab in zip(hidden, batch["labels"])]
            tokens = [lab[lab != IGNORE] for lab in batch["labels"]]
            cached = model(
                response_hidden_states=torch.nn.utils.rnn.pad_sequence(rows, batch_first=True),
                response_lengths=torch.tensor([len(r) for r in rows]),
                response_token_ids=torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True),
                unit_labels=batch["unit_labels"],
            ).speech_loss
        torch.testing.assert_close(full, cached)
        losses[alignment] = float(full)
    assert losses["at_token"] != pytest.approx(losses["predicting"])


def test_stage2_response_state_cache_follows_the_speech_decoder_alignment(tmp_path):
    """With `speech_decoder_alignment="at_token"` (the released LLaMA-Omni training) the cache stores the states at
    the response tokens: the cached loss equals the full forward's, differs from the "predicting" loss, and a cache
    built under the other alignment is refused."""
    dataset = make_dataset(4)
    losses = {}
    for alignment in ("predicting", "at_token"):
        for cached in (False, True):
            model, processor = tiny_model_and_processor()
            model.config.speech_decoder_alignment = alignment
            args = Stage2Config(output_dir=str(tmp_path / f"{alignment}{cached}"), cache_response_states=cached,
                                **COMMON)
            trainer = LlamaOmniStage2Trainer(model, args, train_dataset=dataset, processor=processor)
            batch = trainer.data_collator([dataset[i] for i in range(4)])
            model.eval()
            with torch.no_grad():
                losses[alignment, cached] = float(trainer.compute_loss(trainer.model, copy.copy(batch)))
        assert losses[alignment, True] == pytest.approx(losses[alignment, False], rel=1e-5, abs=1e-6)
    # the random tiny decoder barely depends on its input (the losses differ by 5e-4): compare the cached states
    files = {a: sorted((tmp_path / f"{a}True" / "response_state_cache" / "states").rglob("*.safetensors"))
             for a in ("predicting", "at_token")}
    for predicting_file, at_token_file in zip(files["predicting"], files["at_token"]):
        predicting, at_token = load_file(predicting_file), load_file(at_token_file)
        assert torch.equal(predicting["tokens"], at_token["tokens"])
        torch.testing.assert_close(at_token["states"][:-1], predicting["states"][1:])  # one position later
        assert not torch.allclose(at_token["states"], predicting["states"])
    assert abs(losses["at_token", True] - losses["predicting", True]) > 2e-4
    model, processor = tiny_model_and_processor()
    model.config.speech_decoder_alignment = "at_token"
    args = Stage2Config(output_dir=str(tmp_path / "predictingTrue"), cache_response_states=True, **COMMON)
    with pytest.raises(ValueError, match="another"):
        LlamaOmniStage2Trainer(model, args, train_dataset=dataset, processor=processor)
