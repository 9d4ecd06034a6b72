"""Fidelity of converted LLaMA-Omni2 checkpoints (issue 15, items 1, 2, 6 and the multi-turn prompt): a tiny
checkpoint in the released layout (`tests.test_omni2.Omni2Source`) is converted, and its speech units and prompt ids
are compared with an independent step-by-step reproduction of the released algorithm (`released_units`, written
from the release's behaviour: the speech generator re-run over its whole history for every chunk, transformers
4.43's sampling with `top_k=50`, the decoded tokens parsed with a `\\d+` regex; `released_prompt_ids`: the demo's
history through the checkpoint tokenizer's chat template)."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from modeling_llama_omni import LlamaOmniForConditionalGeneration
from modeling_llama_omni.convert_omni2 import convert_omni2_checkpoint
from modeling_llama_omni.modeling_omni2_decoder import ReleasedUnitParser
from tests.test_omni2 import UNIT_VOCAB, Omni2Source

SPEECH_TOKEN_INDEX = -200  # the released code's placeholder id for `<speech>`
QWEN_LIKE_TEMPLATE = (  # a ChatML template with a default system prompt and untrimmed contents, as Qwen2.5's
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (message.role == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------------------------------------------------
# The tiny release: a TTS tokenizer with digit-bearing text tokens, an LLM tokenizer with a chat template
# ----------------------------------------------------------------------------------------------------------------------


def _text_token(i: int) -> str:
    """The TTS tokenizer's text token i: bare digits (they join with their neighbours when decoded), digits after a
    letter, or letters only."""
    letters = "abcdefghij"
    return [str(i), f"n{i}", f"t{letters[i // 10 % 10]}{letters[i % 10]}"][i % 3]


def write_tts_tokenizer(folder: str) -> None:
    """A TTS tokenizer in the release's layout: the text ids, `<sep>`, the speech tokens `<0>`..; decoding
    concatenates the tokens (as byte-level decoding does); EOS (id 2) and unk (id 1) are special, so skipped."""
    from transformers import PreTrainedTokenizerFast

    vocab = {_text_token(i): i for i in range(Omni2Source.TEXT_VOCAB)}
    vocab["<sep>"] = Omni2Source.TEXT_VOCAB
    vocab.update({f"<{u}>": Omni2Source.TEXT_VOCAB + 1 + u for u in range(UNIT_VOCAB)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token=_text_token(1)))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token=_text_token(1), eos_token=_text_token(Omni2Source.EOS)
    )
    tokenizer.save_pretrained(folder)


def write_llm_tokenizer(folder: str) -> None:
    """A byte-level BPE LLM tokenizer with ChatML's special tokens, `<speech>` and a Qwen-like chat template."""
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    backend.train_from_iterator(["You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
                                 "system user assistant. It is sunny today, and the sea is calm."], trainer=trainer)
    backend.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<speech>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.chat_template = QWEN_LIKE_TEMPLATE
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """(Omni2Source with both tokenizers, converted model, its folder)."""
    root = tmp_path_factory.mktemp("release")
    source = Omni2Source(root)
    write_tts_tokenizer(os.path.join(source.dir, "tts_tokenizer"))
    write_llm_tokenizer(source.dir)
    out = root / "converted"
    convert_omni2_checkpoint(source.dir, out, dtype="float32")
    model = LlamaOmniForConditionalGeneration.from_pretrained(out).eval()
    # A larger TTS EOS embedding (tied: a likelier EOS) in both, so that sampling meets EOS while the text is read.
    with torch.no_grad():
        for tts in (source.generator["model"], model.speech_decoder.tts_model):
            tts.get_input_embeddings().weight[Omni2Source.EOS] *= 5
    return source, model, out


# ----------------------------------------------------------------------------------------------------------------------
# The released algorithm, step by step
# ----------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def released_units(source, tts_tokenizer, hidden, tokens, read_size, write_size, final_max, seed=None,
                   restrict=False, sep_id=None, offset=None):
    """
    The release's speech generation for one answer (`hidden[i]` predicted `tokens[i]`, the text EOS included), step
    by step: after each text token, when R tokens have come since the last call or the text has ended, the new fused
    states (and `<sep>` at the end) are appended to the TTS input and the TTS model generates over the WHOLE input
    (no cache) up to W tokens (`final_max` after `<sep>`), stopping after its EOS; every generated token's embedding
    is appended; the call's tokens are decoded (special tokens skipped) and the regex `\\d+` gives the units.
    Sampling as transformers 4.43's `generate(do_sample=True, temperature=1.0, top_p=1.0)`: top-k 50, softmax, one
    multinomial draw (here from a generator seeded with `seed`); `seed=None`: greedy. `restrict`: our speech-token
    restriction instead (speech tokens only; EOS too after `<sep>`).
    """
    generator_modules = source.generator
    tts = generator_modules["model"]
    embed = tts.get_input_embeddings()
    eos = tts_tokenizer.eos_token_id
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    context, units, last = [], [], 0
    n = tokens.shape[1]
    for steps in range(1, n + 1):
        finished = steps == n
        if steps % read_size and not finished:
            continue
        projected = generator_modules["input_proj"](hidden[0, last:steps])
        emb = embed(tokens[0, last:steps])
        gate = generator_modules["gate"](torch.cat([projected, emb], -1))
        context.append(projected * gate + emb * (1 - gate))
        if finished:
            context.append(embed(torch.tensor([sep_id])))
        written = []
        for _ in range(final_max if finished else write_size):
            logits = tts(inputs_embeds=torch.cat(context)[None], use_cache=False).logits[0, -1].float()
            # The tokens that may be written, in the order the draw sees them (restricted: speech tokens, then EOS).
            candidates = torch.arange(logits.numel())
            if restrict:
                candidates = torch.tensor(list(range(offset, offset + UNIT_VOCAB)) + ([eos] if finished else []))
            scores = logits[candidates]
            if generator is None:
                token = int(candidates[int(scores.argmax())])
            else:
                kth = torch.topk(scores, min(50, scores.numel())).values[-1]
                scores = scores.masked_fill(scores < kth, float("-inf"))
                token = int(candidates[int(torch.multinomial(scores.softmax(-1)[None], 1, generator=generator))])
            written.append(token)
            if restrict and token == eos:
                break
            context.append(embed(torch.tensor([token])))
            if token == eos:
                break
        numbers = [int(run) for run in re.findall(r"\d+", tts_tokenizer.decode(written, skip_special_tokens=True))]
        units += [u for u in numbers if u < 2**63]  # what does not fit a LongTensor is dropped (the release fails)
        last = steps
    return units


def _answer(source, n: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, n, source.llm.config.hidden_size, generator=generator)
    tokens = torch.randint(0, Omni2Source.TEXT_VOCAB, (1, n), generator=generator)
    return hidden, tokens


def _ours(model, hidden, tokens, streaming: bool, **kwargs):
    if not streaming:
        return model.predict_units(hidden, token_ids=tokens, **kwargs)[0].tolist()
    stream = model.speech_unit_stream(**kwargs)
    units = []
    for i in range(tokens.shape[1]):  # one text token at a time, as generate() feeds it
        units += stream.step(hidden[:, i : i + 1], tokens[:, i : i + 1])[0]
    while piece := stream.finish(max_units=4)[0]:  # the final write in pieces, as AudioStreamer vocodes it
        units += piece
    return units + stream.finish()[0]


# ----------------------------------------------------------------------------------------------------------------------
# Items 1, 2, 6: the speech units
# ----------------------------------------------------------------------------------------------------------------------


def test_converted_config_has_the_released_speech_decoding(release):
    _, model, out = release
    config = model.config
    assert (config.tts_do_sample, config.tts_temperature, config.tts_top_k, config.tts_top_p) == (True, 1.0, 50, 1.0)
    assert config.tts_max_new_tokens == 1024 and config.tts_restrict_to_speech_tokens is False
    # What the regex sees of the non-speech tokens: special tokens skipped, digit-bearing texts kept.
    texts = config.tts_token_texts
    assert texts["1"] == "" and texts["2"] == "" and texts["3"] == "3" and texts["4"] == "n4" and "5" not in texts
    assert str(Omni2Source.TEXT_VOCAB) not in texts  # <sep>: a separator
    # Our own configs keep the restriction and the full-vocabulary top-k.
    from tests.tiny_models import tiny_ar_config_kwargs, tiny_config

    own = tiny_config("qwen2", **tiny_ar_config_kwargs())
    assert own.tts_restrict_to_speech_tokens is True and own.tts_top_k == 0 and own.tts_token_texts is None


@pytest.mark.parametrize("restrict", [False, True], ids=["released", "restricted"])
@pytest.mark.parametrize("read_size, write_size", [(2, 5), (3, 4)])
@pytest.mark.parametrize("seed", [None, 11], ids=["greedy", "sampled"])
def test_units_equal_the_released_algorithm_for_every_answer_length(release, restrict, read_size, write_size, seed):
    """Every answer length modulo R (the last R tokens read with <sep> when the length is a multiple of R), greedy
    and seeded sampling, streaming token by token and one-shot: the units of the released algorithm."""
    from transformers import AutoTokenizer

    source, model, out = release
    tts_tokenizer = AutoTokenizer.from_pretrained(os.path.join(source.dir, "tts_tokenizer"))
    config = model.config
    final_max = 40
    kwargs = dict(read_size=read_size, write_size=write_size, max_new_tokens=final_max, do_sample=seed is not None,
                  restrict_to_speech_tokens=restrict)
    for n in range(1, 2 * read_size + 2):
        for answer_seed in (n, 100 + n):
            hidden, tokens = _answer(source, n, seed=answer_seed)
            expected = released_units(source, tts_tokenizer, hidden, tokens, read_size, write_size, final_max, seed,
                                      restrict=restrict, sep_id=config.tts_sep_token_id,
                                      offset=config.tts_speech_token_offset)
            for streaming in (False, True):
                sampling = {} if seed is None else {"seed": seed}
                assert _ours(model, hidden, tokens, streaming, **kwargs, **sampling) == expected, (n, streaming)
            if restrict:
                assert all(0 <= u < UNIT_VOCAB for u in expected)


def test_the_released_mode_meets_mid_chunk_eos_and_non_speech_tokens(release):
    """The comparisons above are discriminating: with the release's decoding the tiny model writes non-speech
    tokens (numbers out of the speech range, digits joined across tokens) and, sampling, EOS while the text is read."""
    source, model, _ = release
    for read_size, write_size in [(2, 5), (3, 4)]:
        mid_chunk_eos = out_of_range = 0
        for n in range(1, 2 * read_size + 2):
            for answer_seed in (n, 100 + n):
                hidden, tokens = _answer(source, n, seed=answer_seed)
                stream = model.speech_unit_stream(read_size=read_size, write_size=write_size, max_new_tokens=40,
                                                  seed=11)
                stream.step(hidden, tokens)
                mid_chunk_eos += model.config.tts_eos_token_id in stream.tokens
                stream.finish()
                out_of_range += any(u >= UNIT_VOCAB for u in stream.units)
        assert mid_chunk_eos and out_of_range, (read_size, mid_chunk_eos, out_of_range)


def test_released_unit_parser_reads_what_the_regex_reads():
    texts = {"1": "", "2": "", "3": "3", "4": "n4", "6": "6"}
    parser = ReleasedUnitParser(speech_token_offset=10, num_speech_tokens=5, eos_token_id=2, token_texts=texts)

    def parse(ids):
        units = [u for token in ids for u in parser.feed(token)]
        return units + parser.flush()

    decoded = {3: "3", 4: "n4", 6: "6", 5: "tx", 1: "", 2: ""}
    for ids in ([10, 11, 14], [3, 6, 12], [3, 2, 6], [3, 5, 6], [4, 6, 1, 3], [6], [2], [13, 3], [3, 13]):
        text = "".join(f"<{t - 10}>" if t >= 10 else decoded[t] for t in ids)
        assert parse(ids) == [int(run) for run in re.findall(r"\d+", text)], ids
    assert parser.feed(3) == [] and parser.feed(6) == [] and parser.feed(11) == [36, 1]


# ----------------------------------------------------------------------------------------------------------------------
# Multi-turn prompts: the demo's history through the checkpoint tokenizer's own chat template
# ----------------------------------------------------------------------------------------------------------------------


def released_prompt_ids(tokenizer, history) -> list[int]:
    """The released demo's prompt: the history's user turns (speech) become `<speech>` user messages, its assistant
    turns their text (the audio entries dropped), through the tokenizer's chat template with a generation prompt;
    `<speech>` ids are replaced with the placeholder -200 (each expanded to its clip's speech embeddings)."""
    messages = []
    for turn in history:
        if turn["role"] == "user":
            messages.append({"role": "user", "content": "<speech>"})
        elif isinstance(turn["content"], str):
            messages.append({"role": "assistant", "content": turn["content"]})
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    speech_id = tokenizer.convert_tokens_to_ids("<speech>")
    return [SPEECH_TOKEN_INDEX if i == speech_id else i for i in ids]


def _collapse(ids: list[int], speech_id: int) -> tuple[list[int], list[int]]:
    """Runs of the speech token -> one placeholder each; also the run lengths."""
    out, runs = [], []
    for i in ids:
        if i == speech_id:
            if out and out[-1] == SPEECH_TOKEN_INDEX:
                runs[-1] += 1
                continue
            out.append(SPEECH_TOKEN_INDEX)
            runs.append(1)
        else:
            out.append(i)
    return out, runs


def test_multi_turn_prompt_equals_the_released_demo(release):
    from transformers import AutoProcessor, AutoTokenizer

    source, _, out = release
    released_tokenizer = AutoTokenizer.from_pretrained(source.dir)
    processor = AutoProcessor.from_pretrained(out)
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(16000 * s).astype(np.float32) * 0.1 for s in (1, 2, 3)]
    history = [  # the demo's history_state: user audio, assistant text, assistant audio, ...
        {"role": "user", "content": {"path": "q1.wav"}},
        {"role": "assistant", "content": " It is sunny today.\n"},
        {"role": "assistant", "content": {"path": "a1.wav", "type": "audio/wav"}},
        {"role": "user", "content": {"path": "q2.wav"}},
        {"role": "assistant", "content": "The sea is calm."},
        {"role": "assistant", "content": {"path": "a2.wav", "type": "audio/wav"}},
        {"role": "user", "content": {"path": "q3.wav"}},
    ]
    expected = released_prompt_ids(released_tokenizer, history)
    for audio_items in (False, True):
        conversation = []
        for turn in history:
            if turn["role"] == "user":
                content = [{"type": "audio"}] if audio_items else "<speech>"
                conversation.append({"role": "user", "content": content})
            elif isinstance(turn["content"], str):
                conversation.append({"role": "assistant", "content": turn["content"]})
        prompt = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        assert prompt == released_tokenizer.apply_chat_template(
            [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else "<speech>"}
             for m in conversation], add_generation_prompt=True, tokenize=False)
        ids = processor(text=prompt, audio=clips, sampling_rate=16000)["input_ids"][0].tolist()
        collapsed, runs = _collapse(ids, processor.speech_token_id)
        assert collapsed == expected
        assert runs == [processor.num_speech_embeddings(3000)] * 3  # 30 s of features per clip, as the release
    # One turn: the default prompt is the released single-turn prompt.
    single = processor(audio=clips[0], sampling_rate=16000)["input_ids"][0].tolist()
    assert _collapse(single, processor.speech_token_id)[0] == released_prompt_ids(released_tokenizer, history[:1])
    assert "You are Qwen" in processor.default_prompt()


def test_without_a_chat_template_the_converter_falls_back_to_chatml(release, tmp_path):
    from modeling_llama_omni.convert_omni2 import PROCESSOR_KWARGS, checkpoint_chat_template, omni2_processor_kwargs

    source, _, _ = release
    assert checkpoint_chat_template(source.dir) == QWEN_LIKE_TEMPLATE
    assert omni2_processor_kwargs(str(tmp_path)) == PROCESSOR_KWARGS
    with open(tmp_path / "tokenizer_config.json", "w") as f:
        json.dump({"chat_template": [{"name": "default", "template": "T"}, {"name": "tool_use", "template": "U"}]}, f)
    assert checkpoint_chat_template(str(tmp_path)) == "T"


def test_converted_text_decoding_is_the_released_default(tmp_path):
    """Item 4 for LLaMA-Omni2: run_llama_omni2.py decodes greedily (256 tokens, one beam, top_p / top_k passed as
    None) and generate() keeps the rest of the checkpoint's generation_config.json (Qwen2.5-Instruct's sampling
    config with repetition_penalty 1.05): the converted generation config is that merge."""
    source = Omni2Source(tmp_path)
    write_llm_tokenizer(source.dir)
    shipped = {"do_sample": True, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.05,
               "bos_token_id": 1, "eos_token_id": [2, 3], "pad_token_id": 2}
    with open(os.path.join(source.dir, "generation_config.json"), "w") as f:
        json.dump(shipped, f)
    convert_omni2_checkpoint(source.dir, tmp_path / "converted", dtype="float32")
    config = json.loads((tmp_path / "converted" / "generation_config.json").read_text())
    assert config.get("do_sample", False) is False and config["num_beams"] == 1 and config["max_new_tokens"] == 256
    assert config.get("temperature") is None and config.get("top_p") is None and config.get("top_k") is None
    assert config["repetition_penalty"] == 1.05 and config["eos_token_id"] == [2, 3]
    model = LlamaOmniForConditionalGeneration.from_pretrained(tmp_path / "converted")
    assert model.generation_config.do_sample is False and model.generation_config.repetition_penalty == 1.05
