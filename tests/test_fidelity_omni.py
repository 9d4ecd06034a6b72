"""Fidelity of a converted released LLaMA-Omni checkpoint (issue 15, items 3, 4, 5, 8 and LoRA releases).

Each test converts a tiny checkpoint in the released layout (`tests.released_layouts.Source`, with a stock-Llama-3.1-
style tokenizer: BOS added by tokenisation, no pad token) and compares what our converted model and processor give
with an independent, step-by-step reproduction of the released code's behaviour, written here from what
`omni_speech/conversation.py` (llama_3), `datasets/preprocess.py` (`tokenizer_speech_token`), `infer/infer.py`
(decoding arguments) and `model/builder.py` (`--model-base`, LoRA) do.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import modeling_llama_omni  # noqa: F401 - registers the Auto classes
from modeling_llama_omni.convert_original import convert_original_checkpoint, main
from processing.processing_llama_omni import LlamaOmniProcessor
from tests.released_layouts import BOS, DS_RATE, EOS, EOT, LLAMA3_PAD, Source
from transformers import AutoModel

# ----------------------------------------------------------------------------------------------------------------------
# The released algorithm, reproduced
# ----------------------------------------------------------------------------------------------------------------------

RELEASED_SYSTEM = (
    "You are a helpful language and speech assistant. You are able to understand the speech content that the user "
    "provides, and assist the user with a variety of tasks using natural language."
)
RELEASED_QUESTION = "<speech>\nPlease directly answer the questions in the user's speech."  # infer's question value
SPEECH_TOKEN_INDEX = -200
TOP_K = 50  # transformers 4.43's GenerationConfig default, in force for the released sampling


def released_prompt_ids(tokenizer, question: str = RELEASED_QUESTION) -> list[int]:
    """The released prompt ids: the llama_3 conversation (system, user question, open assistant turn) rendered as
    text, then split at `<speech>`, each piece tokenised with special tokens, the first piece's BOS kept once and
    every piece's own BOS dropped, and SPEECH_TOKEN_INDEX between the pieces."""
    text = BOS + "<|start_header_id|>system<|end_header_id|>\n\n" + RELEASED_SYSTEM + EOT
    text += "<|start_header_id|>user<|end_header_id|>\n\n" + question.strip() + EOT
    text += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    pieces = [tokenizer(piece).input_ids for piece in text.split("<speech>")]
    starts_with_bos = bool(pieces[0]) and pieces[0][0] == tokenizer.bos_token_id
    ids = [pieces[0][0]] if starts_with_bos else []
    for i, piece in enumerate(pieces):
        if i:
            ids.append(SPEECH_TOKEN_INDEX)
        ids.extend(piece[1:] if starts_with_bos else piece)
    return ids


def expand_speech(ids: list[int], num_speech: int, speech_token_id: int) -> list[int]:
    """Released ids with each SPEECH_TOKEN_INDEX standing for `num_speech` speech embeddings, as our processor
    writes them (one placeholder token per embedding)."""
    out = []
    for token in ids:
        out.extend([speech_token_id] * num_speech if token == SPEECH_TOKEN_INDEX else [token])
    return out


@torch.no_grad()
def released_generate(source: Source, prompt_ids: list[int], features: torch.Tensor, eos_ids: list[int],
                      max_new_tokens: int = 256, temperature: float = 0.0, top_p: float | None = None,
                      seed: int | None = None) -> list[int]:
    """The released `generate` for one question: Whisper encoder -> k=5 frames concatenated -> Linear-ReLU-Linear,
    spliced in at SPEECH_TOKEN_INDEX; then token by token: greedy when temperature == 0, else logits / temperature,
    top-k 50, optional top-p, softmax, one multinomial draw; stops after an EOS or max_new_tokens."""
    encoded = source.encoder(features).last_hidden_state
    frames = encoded.shape[1] - encoded.shape[1] % DS_RATE
    stacked = encoded[:, :frames].reshape(1, frames // DS_RATE, -1)
    speech = source.adaptor["linear2"](torch.relu(source.adaptor["linear1"](stacked)))
    embed = source.llm.get_input_embeddings()
    where = prompt_ids.index(SPEECH_TOKEN_INDEX)
    before, after = torch.tensor([prompt_ids[:where]]), torch.tensor([prompt_ids[where + 1 :]])
    embeds = torch.cat([embed(before), speech, embed(after)], dim=1)
    if seed is not None:
        torch.manual_seed(seed)
    out, past = [], None
    for _ in range(max_new_tokens):
        result = source.llm(inputs_embeds=embeds, past_key_values=past, use_cache=True)
        past, logits = result.past_key_values, result.logits[0, -1].float()
        if temperature == 0:
            token = int(logits.argmax())
        else:
            logits = logits / temperature
            logits = logits.masked_fill(logits < torch.topk(logits, TOP_K).values[-1], -float("inf"))
            if top_p is not None:
                order = torch.argsort(logits, descending=False)
                cumulative = logits[order].softmax(-1).cumsum(-1)
                drop = cumulative <= 1 - top_p
                drop[-1] = False
                logits[order[drop]] = -float("inf")
            token = int(torch.multinomial(logits.softmax(-1), 1))
        out.append(token)
        if token in eos_ids:
            break
        embeds = embed(torch.tensor([[token]]))
    return out


def _clip(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A converted tiny release with a stock-Llama-3.1-style tokenizer: (source, folder)."""
    root = tmp_path_factory.mktemp("fidelity")
    source = Source(root, tokenizer="llama3")
    out = root / "converted"
    convert_original_checkpoint(source.dir, out)
    return source, out


# ----------------------------------------------------------------------------------------------------------------------
# Item 3: the released prompt ids (two BOS with a tokenizer that adds one)
# ----------------------------------------------------------------------------------------------------------------------


def test_processor_gives_the_released_prompt_ids(converted):
    source, out = converted
    processor = LlamaOmniProcessor.from_pretrained(out)
    inputs = processor(audio=_clip(), sampling_rate=16000, return_tensors=None)
    vocab = source.tokenizer.get_vocab()
    released = released_prompt_ids(source.tokenizer)
    assert released[:3] == [vocab[BOS], vocab[BOS], vocab["<|start_header_id|>"]]
    expected = expand_speech(released, 3000 // 2 // DS_RATE, processor.speech_token_id)  # 30 s: 300 embeddings
    assert inputs["input_ids"][0] == expected
    # The chat template renders the same for an explicit conversation with an audio item.
    conversation = [{"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": RELEASED_QUESTION[8:]}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
    assert processor(text=text, audio=_clip(), sampling_rate=16000, return_tensors=None)["input_ids"][0] == expected


def test_one_bos_with_a_tokenizer_that_adds_none(tmp_path):
    """With a tokenizer that adds no BOS the released ids start with one BOS (the template's). The released
    tokenisation then also drops the first token after each `<speech>` (it strips every piece's first token when
    the first piece starts with BOS); we keep it: a documented difference, for tokenizers other than the
    released Llama-3.1 one."""
    source = Source(tmp_path, tokenizer="llama3")
    backend = source.tokenizer.backend_tokenizer
    backend.post_processor = None  # tokenisation adds no BOS
    source.tokenizer.save_pretrained(source.dir)
    convert_original_checkpoint(source.dir, tmp_path / "converted")
    processor = LlamaOmniProcessor.from_pretrained(tmp_path / "converted")
    ids = processor(audio=_clip(), sampling_rate=16000, return_tensors=None)["input_ids"][0]
    released = released_prompt_ids(source.tokenizer)
    bos = source.tokenizer.bos_token_id
    assert released[0] == bos and released[1] != bos
    where = released.index(SPEECH_TOKEN_INDEX) + 1
    newline = source.tokenizer("\n").input_ids
    assert ids == expand_speech(released[:where] + newline + released[where:], 300, processor.speech_token_id)


def test_our_own_processor_keeps_one_bos():
    from tests.tiny_components import make_tiny_processor

    processor = make_tiny_processor()
    ids = processor(audio=_clip(), sampling_rate=16000, return_tensors=None)["input_ids"][0]
    bos = processor.tokenizer.bos_token_id
    assert ids[0] == bos and ids[1] != bos


# ----------------------------------------------------------------------------------------------------------------------
# Items 4 and 5: released decoding defaults and pad token; generated ids equal the reproduction
# ----------------------------------------------------------------------------------------------------------------------


def test_generation_config_and_pad_token(converted):
    source, out = converted
    vocab = source.tokenizer.get_vocab()
    with open(out / "generation_config.json") as f:
        saved = json.load(f)
    assert saved["do_sample"] is False and saved.get("temperature") is None and saved.get("top_p") is None
    assert (saved["num_beams"], saved["max_new_tokens"], saved["top_k"]) == (1, 256, TOP_K)
    assert saved["pad_token_id"] == vocab[LLAMA3_PAD] and saved["eos_token_id"] == [vocab[EOS], vocab[EOT]]
    processor = LlamaOmniProcessor.from_pretrained(out)
    assert processor.tokenizer.pad_token == LLAMA3_PAD
    # A batch of two prompts of different lengths pads (the stock tokenizer has no pad token).
    text = [processor.default_prompt(), processor.default_prompt().replace("directly ", "")]
    batch = processor(text=text, audio=[_clip(), _clip(seed=1)], sampling_rate=16000)
    assert batch["input_ids"].shape[0] == 2 and (batch["input_ids"] == vocab[LLAMA3_PAD]).any()


@pytest.mark.parametrize(
    "decoding",
    [{}, {"do_sample": True, "temperature": 0.8, "seed": 0}, {"do_sample": True, "temperature": 1.3, "seed": 7}],
    ids=["greedy-default", "sampled-seed0", "sampled-seed7"],
)
def test_generated_ids_equal_the_released_decoding(converted, decoding):
    source, out = converted
    decoding = dict(decoding)
    seed = decoding.pop("seed", None)
    model = AutoModel.from_pretrained(out).eval()
    processor = LlamaOmniProcessor.from_pretrained(out)
    inputs = processor(audio=_clip(), sampling_rate=16000)
    eos_ids = list(model.generation_config.eos_token_id)
    expected = released_generate(
        source, released_prompt_ids(source.tokenizer), inputs["input_features"], eos_ids,
        temperature=decoding.get("temperature", 0.0), seed=seed,
    )
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        sequences = model.generate(**inputs, **decoding)
    ours = sequences[0, inputs["input_ids"].shape[1] :].tolist()
    assert ours == expected
    assert len(ours) > 20


def test_decoding_overrides_at_conversion(tmp_path):
    source = Source(tmp_path, tokenizer="llama3")
    out = tmp_path / "cli"
    argv = ["--checkpoint", source.dir, "--output", str(out), "--temperature", "0.7", "--top-p", "0.9",
            "--max-new-tokens", "12"]
    assert main(argv) == 0
    with open(out / "generation_config.json") as f:
        saved = json.load(f)
    assert saved["do_sample"] is True and saved["temperature"] == 0.7 and saved["top_p"] == 0.9
    assert saved["max_new_tokens"] == 12 and saved["top_k"] == TOP_K
    model = AutoModel.from_pretrained(out).eval()
    processor = LlamaOmniProcessor.from_pretrained(out)
    inputs = processor(audio=_clip(), sampling_rate=16000)
    expected = released_generate(
        source, released_prompt_ids(source.tokenizer), inputs["input_features"],
        list(model.generation_config.eos_token_id), max_new_tokens=12, temperature=0.7, top_p=0.9, seed=3,
    )
    torch.manual_seed(3)
    with torch.no_grad():
        ours = model.generate(**inputs)[0, inputs["input_ids"].shape[1] :].tolist()
    assert ours == expected
    with pytest.raises(ValueError, match="temperature"):
        convert_original_checkpoint(source.dir, tmp_path / "bad", temperature=-1.0)
    assert not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------------------------------------------------
# Item 8: the Whisper encoder from an openai-whisper .pt or a transformers folder
# ----------------------------------------------------------------------------------------------------------------------


def _encoder_output(model_or_encoder, features):
    with torch.no_grad():
        return model_or_encoder(features).last_hidden_state


@pytest.mark.parametrize("form", ["openai-pt", "transformers-folder"])
def test_speech_encoder_from_another_file(tmp_path, form):
    source = Source(tmp_path, encoder_in_checkpoint=False)
    with pytest.raises(ValueError, match="--speech-encoder"):
        convert_original_checkpoint(source.dir, tmp_path / "without")
    if form == "openai-pt":
        encoder = source.write_openai_whisper(str(tmp_path / "large-v3.pt"))
    else:
        encoder = source.write_transformers_whisper(str(tmp_path / "whisper-hf"))
    out = tmp_path / "converted"
    assert main(["--checkpoint", source.dir, "--output", str(out), "--speech-encoder", encoder]) == 0
    model = AutoModel.from_pretrained(out).eval()
    torch.manual_seed(1)
    features = torch.randn(1, 80, 3000)
    torch.testing.assert_close(
        _encoder_output(model.model.speech_encoder, features), _encoder_output(source.encoder, features),
        atol=1e-5, rtol=0,
    )


def test_speech_encoder_replaces_the_checkpoints(tmp_path):
    source = Source(tmp_path)  # with encoder weights in the safetensors
    pt = source.write_openai_whisper(str(tmp_path / "large-v3.pt"))
    data = torch.load(pt, weights_only=True)
    data["model_state_dict"]["encoder.conv1.bias"] = data["model_state_dict"]["encoder.conv1.bias"] + 1.0
    torch.save(data, pt)
    convert_original_checkpoint(source.dir, tmp_path / "converted", speech_encoder=pt)
    model = AutoModel.from_pretrained(tmp_path / "converted")
    expected = source.encoder.conv1.bias.detach() + 1.0
    torch.testing.assert_close(model.model.speech_encoder.conv1.bias.detach(), expected)


def test_wrong_speech_encoder_files(tmp_path, capsys):
    source = Source(tmp_path, encoder_in_checkpoint=False)
    out = tmp_path / "converted"
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="weights_only"):
        convert_original_checkpoint(source.dir, out, speech_encoder=garbage)
    plain = tmp_path / "plain.pt"
    torch.save({"conv1.weight": torch.zeros(2)}, plain)
    with pytest.raises(ValueError, match="dims"):
        convert_original_checkpoint(source.dir, out, speech_encoder=plain)
    unsafe = tmp_path / "unsafe.pt"
    # An arbitrary class instance (unpickling would import and build it): refused by weights_only.
    torch.save({"dims": {}, "model_state_dict": {}, "extra": argparse.Namespace(x=1)}, unsafe)
    with pytest.raises(ValueError, match="weights_only"):
        convert_original_checkpoint(source.dir, out, speech_encoder=unsafe)
    with pytest.raises(ValueError, match="config.json"):
        convert_original_checkpoint(source.dir, out, speech_encoder=tmp_path)
    with pytest.raises(FileNotFoundError):
        convert_original_checkpoint(source.dir, out, speech_encoder=tmp_path / "nowhere.pt")
    wrong_dims = tmp_path / "wrong.pt"
    source.write_openai_whisper(str(wrong_dims))
    data = torch.load(wrong_dims, weights_only=True)
    data["dims"]["n_audio_layer"] = 7
    data["dims"]["n_mels"] = 128
    torch.save(data, wrong_dims)
    with pytest.raises(ValueError, match="n_mels"):
        convert_original_checkpoint(source.dir, out, speech_encoder=wrong_dims)
    assert main(["--checkpoint", source.dir, "--output", str(out), "--speech-encoder", str(plain)]) == 1
    assert "dims" in capsys.readouterr().err
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------------------------
# Releases on a base model: --model-base with speech_projector.bin, or a LoRA adapter + non_lora_trainables.bin
# ----------------------------------------------------------------------------------------------------------------------

LORA_RANK, LORA_ALPHA = 2, 6.0
LORA_TARGETS = ("q_proj", "v_proj")


def _write_base(source: Source, folder: str, state: dict) -> None:
    """A base model folder: safetensors, config.json, the (stock) tokenizer and its generation config."""
    source.write(state=state, config=source.llama_config(), folder=folder)
    source.tokenizer.save_pretrained(folder)
    with open(os.path.join(source.dir, "generation_config.json")) as src, open(
        os.path.join(folder, "generation_config.json"), "w"
    ) as dst:
        dst.write(src.read())


def _release_folder(source: Source, folder: str) -> None:
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(source.config, f)


def _assert_reproduces(source: Source, out) -> None:
    model = AutoModel.from_pretrained(out).eval()
    input_ids = torch.tensor([[1, 5, 9, 33, 70, 2, 4]])
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=input_ids).logits, source.llm(input_ids=input_ids).logits, atol=1e-5, rtol=0
        )
    for name, tensor in source.adaptor.state_dict().items():
        torch.testing.assert_close(model.model.speech_adaptor.state_dict()[name], tensor, atol=0, rtol=0)
    for name, tensor in source.generator.state_dict().items():
        torch.testing.assert_close(model.speech_decoder.state_dict()[name], tensor, atol=0, rtol=0)
    processor = LlamaOmniProcessor.from_pretrained(out)  # tokenizer from the base, released defaults
    inputs = processor(audio=_clip(), sampling_rate=16000)
    expected = released_generate(
        source, released_prompt_ids(source.tokenizer), inputs["input_features"],
        list(model.generation_config.eos_token_id), max_new_tokens=16,
    )
    with torch.no_grad():
        assert model.generate(**inputs, max_new_tokens=16)[0, inputs["input_ids"].shape[1] :].tolist() == expected


def test_release_with_speech_projector_on_a_base(tmp_path):
    source = Source(tmp_path, tokenizer="llama3", encoder_in_checkpoint=False)
    base, release = str(tmp_path / "base"), str(tmp_path / "release")
    base_state = {k: v for k, v in source.state.items() if not k.startswith("model.speech_projector.")}
    _write_base(source, base, base_state)
    _release_folder(source, release)
    with pytest.raises(FileNotFoundError, match="speech_projector.bin"):
        convert_original_checkpoint(release, tmp_path / "converted", model_base=base)
    projector = {k: v for k, v in source.state.items() if k.startswith("model.speech_projector.")}
    torch.save(projector, os.path.join(release, "speech_projector.bin"))
    encoder = source.write_openai_whisper(str(tmp_path / "large-v3.pt"))
    out = tmp_path / "converted"
    argv = ["--checkpoint", release, "--output", str(out), "--model-base", base, "--speech-encoder", encoder]
    assert main(argv) == 0
    _assert_reproduces(source, out)


def _lora_pair(weight: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    down = torch.randn(LORA_RANK, weight.shape[1], generator=generator) * 0.3
    up = torch.randn(weight.shape[0], LORA_RANK, generator=generator) * 0.3
    return down, up


def test_lora_release_is_merged(tmp_path):
    """The fine-tuned model is `source`; the base holds its LLM minus the LoRA delta, the release the adapter (PEFT
    naming) and the speech projector + generator as non_lora_trainables.bin (PEFT-wrapped names)."""
    source = Source(tmp_path, tokenizer="llama3", encoder_in_checkpoint=False)
    base, release = str(tmp_path / "base"), str(tmp_path / "release")
    generator = torch.Generator().manual_seed(5)
    scale = LORA_ALPHA / LORA_RANK
    base_state, adapter = {}, {}
    for key, tensor in source.llm_state().items():
        module = key[: -len(".weight")]
        if module.endswith(LORA_TARGETS):
            down, up = _lora_pair(tensor, generator)
            adapter[f"base_model.model.{module}.lora_A.weight"] = down
            adapter[f"base_model.model.{module}.lora_B.weight"] = up
            tensor = tensor - scale * (up @ down)
        base_state[key] = tensor.contiguous()
    _write_base(source, base, base_state)
    _release_folder(source, release)
    save_file(adapter, os.path.join(release, "adapter_model.safetensors"))
    with open(os.path.join(release, "adapter_config.json"), "w") as f:
        json.dump({"peft_type": "LORA", "r": LORA_RANK, "lora_alpha": LORA_ALPHA, "bias": "none",
                   "target_modules": list(LORA_TARGETS), "fan_in_fan_out": False}, f)
    trainables = {"base_model.model." + k: v for k, v in source.state.items()
                  if k.startswith(("model.speech_projector.", "speech_generator."))}
    torch.save(trainables, os.path.join(release, "non_lora_trainables.bin"))
    encoder = source.write_openai_whisper(str(tmp_path / "large-v3.pt"))
    out = tmp_path / "converted"
    convert_original_checkpoint(release, out, model_base=base, speech_encoder=encoder)
    _assert_reproduces(source, out)

    # An adapter that does not fit the base is refused, naming the weight.
    bad = dict(adapter)
    bad["base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight"] = torch.zeros(LORA_RANK, 3)
    bad["base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight"] = torch.zeros(3, LORA_RANK)
    save_file(bad, os.path.join(release, "adapter_model.safetensors"))
    with pytest.raises(ValueError, match="gate_proj"):
        convert_original_checkpoint(release, tmp_path / "bad", model_base=base, speech_encoder=encoder)
    with open(os.path.join(release, "adapter_config.json"), "w") as f:
        json.dump({"r": LORA_RANK, "lora_alpha": LORA_ALPHA, "use_dora": True}, f)
    with pytest.raises(ValueError, match="use_dora"):
        convert_original_checkpoint(release, tmp_path / "bad", model_base=base, speech_encoder=encoder)
    assert not (tmp_path / "bad").exists()


def test_converted_release_trains_with_the_released_alignment(tmp_path):
    """Fine-tuning a converted release feeds the speech decoder the states at the response tokens, as the released
    training code does (item 9); our own models keep the predicting states."""
    from modeling_llama_omni import LlamaOmniConfig

    source = Source(tmp_path)
    config = convert_original_checkpoint(source.dir, tmp_path / "converted")
    assert config.speech_decoder_alignment == "at_token"
    assert LlamaOmniConfig.from_pretrained(tmp_path / "converted").speech_decoder_alignment == "at_token"
    assert LlamaOmniConfig().speech_decoder_alignment == "predicting"


def test_converted_release_penalties_see_only_the_generated_ids(tmp_path):
    """The released LLaMA-Omni generate() starts from inputs_embeds, so its repetition penalty (and the other
    processors that read earlier ids) never see the prompt: converted checkpoints get penalties_see_prompt=False
    (the behaviour itself is tested in test_fidelity_omni2.py); our own models keep True."""
    from modeling_llama_omni import LlamaOmniConfig

    source = Source(tmp_path)
    config = convert_original_checkpoint(source.dir, tmp_path / "converted")
    assert config.penalties_see_prompt is False
    assert LlamaOmniConfig.from_pretrained(tmp_path / "converted").penalties_see_prompt is False
    assert LlamaOmniConfig().penalties_see_prompt is True
    with pytest.raises(ValueError, match="penalties_see_prompt"):
        LlamaOmniConfig(penalties_see_prompt="no")
    with pytest.raises(ValueError, match="tts_rng"):
        LlamaOmniConfig(tts_rng="shared")
