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


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


class ReleasedSpeechGenerator:
    """
    The release's speech generator over one answer, call by call (`generate_units`): the new fused states (and
    `<sep>` when the text has ended) are appended to the TTS input and the TTS model generates over the WHOLE input
    (no cache) up to W tokens (`final_max` after `<sep>`), stopping after its EOS; every generated token's embedding
    is appended; the call's tokens are decoded (special tokens skipped) and the regex `\\d+` gives the units.
    Sampling as transformers 4.43's `generate(do_sample=True, temperature=1.0, top_p=1.0)`: top-k 50, softmax, one
    multinomial draw from `generator` (`"global"`: torch's default generator, as the release; `None`: greedy).
    `restrict`: our speech-token restriction instead (speech tokens only; EOS too after `<sep>`).
    """

    def __init__(self, source, tts_tokenizer, write_size, final_max, generator=None, restrict=False, sep_id=None,
                 offset=None):
        self.modules, self.tokenizer = source.generator, tts_tokenizer
        self.write_size, self.final_max, self.restrict = write_size, final_max, restrict
        self.generator, self.sep_id, self.offset = generator, sep_id, offset
        self.context, self.units = [], []

    @torch.no_grad()
    def generate_units(self, hidden, tokens, finished: bool) -> None:
        """`hidden` `(n, H)` predicted `tokens` `(n,)`, the text tokens since the last call."""
        tts = self.modules["model"]
        embed = tts.get_input_embeddings()
        eos = self.tokenizer.eos_token_id
        projected = self.modules["input_proj"](hidden)
        emb = embed(tokens)
        gate = self.modules["gate"](torch.cat([projected, emb], -1))
        self.context.append(projected * gate + emb * (1 - gate))
        if finished:
            self.context.append(embed(torch.tensor([self.sep_id])))
        written = []
        for _ in range(self.final_max if finished else self.write_size):
            logits = tts(inputs_embeds=torch.cat(self.context)[None], use_cache=False).logits[0, -1].float()
            # The tokens that may be written, in the order the draw sees them (restricted: speech tokens, then EOS).
            candidates = torch.arange(logits.numel())
            if self.restrict:
                speech_ids = list(range(self.offset, self.offset + UNIT_VOCAB))
                candidates = torch.tensor(speech_ids + ([eos] if finished else []))
            scores = logits[candidates]
            if self.generator is None:
                token = int(candidates[int(scores.argmax())])
            else:
                kth = torch.topk(scores, min(50, scores.numel())).values[-1]
                scores = scores.masked_fill(scores < kth, float("-inf"))
                generator = None if self.generator == "global" else self.generator
                token = int(candidates[int(torch.multinomial(scores.softmax(-1)[None], 1, generator=generator))])
            written.append(token)
            if self.restrict and token == eos:
                break
            self.context.append(embed(torch.tensor([token])))
            if token == eos:
                break
        numbers = [int(run) for run in re.findall(r"\d+", self.tokenizer.decode(written, skip_special_tokens=True))]
        self.units += [u for u in numbers if u < 2**63]  # what does not fit a LongTensor is dropped (the release fails)


@torch.no_grad()
def released_units(source, tts_tokenizer, hidden, tokens, read_size, write_size, final_max, seed=None,
                   restrict=False, sep_id=None, offset=None):
    """
    The release's speech generation for one answer (`hidden[i]` predicted `tokens[i]`, the text EOS included): after
    each text token, when R tokens have come since the last call or the text has ended, a `ReleasedSpeechGenerator`
    call; sampled from a generator seeded with `seed` (`None`: greedy).
    """
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    speech = ReleasedSpeechGenerator(source, tts_tokenizer, write_size, final_max, generator, restrict, sep_id, offset)
    last, n = 0, tokens.shape[1]
    for steps in range(1, n + 1):
        finished = steps == n
        if steps % read_size and not finished:
            continue
        speech.generate_units(hidden[0, last:steps], tokens[0, last:steps], finished)
        last = steps
    return speech.units


@torch.no_grad()
def released_generate(source, tts_tokenizer, config, prompt_ids, max_new_tokens, eos_ids, temperature, penalty):
    """
    The released LLaMA-Omni2 generate() loop, step by step, seeded sampling: the LLM runs over the prompt's
    embeddings (generation starts from `inputs_embeds`, so the repetition penalty sees only the generated ids), one
    multinomial draw per text token from torch's default generator; after the R-th text token of a chunk, or when
    the text ends (an EOS, or `max_new_tokens`), the speech generator is called right away (its draws from the same
    default generator, before the LLM's next draw). Returns (text ids, units).
    """
    llm = source.llm
    embed = llm.get_input_embeddings()
    speech = ReleasedSpeechGenerator(source, tts_tokenizer, config.write_size, config.tts_max_new_tokens, "global",
                                     sep_id=config.tts_sep_token_id)
    ids, states, last = [], [], 0
    while True:
        inputs = embed(torch.tensor(prompt_ids + ids))
        out = llm(inputs_embeds=inputs[None], output_hidden_states=True, use_cache=False)
        logits = out.logits[0, -1].float()
        states.append(out.hidden_states[-1][0, -1])
        if ids and penalty != 1.0:
            seen = torch.tensor(sorted(set(ids)))
            values = logits[seen]
            logits[seen] = torch.where(values < 0, values * penalty, values / penalty)
        token = int(torch.multinomial((logits / temperature).softmax(-1)[None], 1))
        ids.append(token)
        finished = token in eos_ids or len(ids) == max_new_tokens
        if len(ids) % config.read_size == 0 or finished:
            speech.generate_units(torch.stack(states[last:]), torch.tensor(ids[last:]), finished)
            last = len(ids)
        if finished:
            return ids, speech.units


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
    # The released random stream and penalties for converted checkpoints; our own models keep theirs.
    assert config.tts_rng == "global" and config.penalties_see_prompt is False
    assert own.tts_rng == "own" and own.penalties_see_prompt is True


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


def test_seeded_generate_equals_the_released_loop(release):
    """Differences A and B of the released-code run: a whole seeded generate() of the converted model (text sampled
    with the repetition penalty on the generated ids only; speech tokens drawn from torch's global generator right
    after each chunk's R-th text token, before the next text draw) gives the released loop's text and units, for
    answers ended by EOS and by max_new_tokens, of every length modulo R."""
    from transformers import AutoTokenizer

    source, model, _ = release
    config = model.config
    assert config.tts_rng == "global" and config.penalties_see_prompt is False
    tts_tokenizer = AutoTokenizer.from_pretrained(os.path.join(source.dir, "tts_tokenizer"))
    prompt = [5, 17, 9, 33, 40, 2 + 1, 60]
    lengths, ended_by_eos = set(), 0
    for seed in range(6):
        for max_new_tokens in (6, 7, 8):
            eos_ids = [7, 11]
            torch.manual_seed(seed)
            expected = released_generate(source, tts_tokenizer, config, prompt, max_new_tokens, eos_ids, 0.7, 1.3)
            torch.manual_seed(seed)
            out = model.generate(input_ids=torch.tensor([prompt]), do_sample=True, temperature=0.7, top_k=0,
                                 top_p=None, repetition_penalty=1.3, max_new_tokens=max_new_tokens,
                                 eos_token_id=eos_ids, pad_token_id=0, return_audio=True)
            text = out.sequences[0, len(prompt):].tolist()
            assert (text, out.units[0].tolist()) == expected, (seed, max_new_tokens)
            lengths.add(len(text) % config.read_size)
            ended_by_eos += text[-1] in eos_ids
    assert lengths == set(range(config.read_size)) and ended_by_eos


def test_streaming_draws_the_speech_at_the_released_points(release):
    """model.stream()'s AudioStreamer path, with the speech drawn from the global generator: the same text and units
    as generate(return_audio=True) (and so as the released loop above)."""
    from transformers import AutoTokenizer

    from modeling_llama_omni import AudioStreamer

    _, model, out = release
    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = [5, 17, 9, 33, 40, 3, 60]
    kwargs = dict(input_ids=torch.tensor([prompt]), do_sample=True, temperature=0.7, top_k=0, top_p=None,
                  max_new_tokens=8, eos_token_id=[7, 11], pad_token_id=0)
    for seed in range(3):
        torch.manual_seed(seed)
        expected = model.generate(**kwargs, return_audio=True)
        streamer = AudioStreamer(model, tokenizer, chunk_size=4)
        assert streamer.unit_stream.rng == "global"
        torch.manual_seed(seed)
        streamed = model.generate(**kwargs, streamer=streamer, return_audio=True)
        assert streamed.sequences.tolist() == expected.sequences.tolist()
        assert streamer.units == expected.units[0].tolist() == streamed.units[0].tolist()
        torch.manual_seed(seed)
        text = "".join(delta for delta, _ in model.stream(tokenizer, chunk_size=4, **kwargs))
        answer = expected.sequences[0, len(prompt):].tolist()
        assert text == tokenizer.decode(answer, skip_special_tokens=True)


@pytest.mark.parametrize("do_sample", [False, True], ids=["greedy", "sampled"])
def test_penalties_see_only_the_generated_ids(release, do_sample):
    """penalties_see_prompt=False (converted checkpoints): repetition_penalty, no_repeat_ngram_size, bad_words_ids
    and sequence_bias act as in a generate() from inputs_embeds (what the release runs: the processors see only the
    generated ids), from the call's arguments or the generation config; with True (our own models) they see the
    prompt, as transformers does."""
    source, model, _ = release
    prompt = torch.tensor([[5, 17, 9, 5, 17, 9, 5, 17, 60, 61]])
    cases = [dict(repetition_penalty=1.8), dict(no_repeat_ngram_size=2),
             dict(bad_words_ids=[[17, 9], [61]], sequence_bias={(60, 61): 3.0, (9,): 2.0}),
             dict(repetition_penalty=1.3, no_repeat_ngram_size=3, sequence_bias={(17, 9): -2.0})]
    common = dict(do_sample=do_sample, top_k=0, top_p=None, max_new_tokens=12, eos_token_id=None, pad_token_id=0)
    if do_sample:
        common["temperature"] = 0.3
    embeds = source.llm.get_input_embeddings()(prompt).detach()

    def run(**kwargs):  # inputs_embeds: the released LLM (a plain Qwen2ForCausalLM) from embeddings, as released
        torch.manual_seed(3)
        with torch.inference_mode():
            return (source.llm if "inputs_embeds" in kwargs else model).generate(**kwargs, **common)

    differs = 0
    for penalties in cases:
        released = run(inputs_embeds=embeds, attention_mask=torch.ones_like(prompt), **penalties)
        ours = run(input_ids=prompt, **penalties)
        assert ours[0, prompt.shape[1]:].tolist() == released[0, -12:].tolist(), penalties
        model.config.penalties_see_prompt = True
        try:
            differs += run(input_ids=prompt, **penalties)[0, prompt.shape[1]:].tolist() != released[0, -12:].tolist()
        finally:
            model.config.penalties_see_prompt = False
    # The cases tell the two behaviours apart (greedy: the tiny random LLM's sampled draws rarely notice).
    assert differs or do_sample
    # From the generation config (the converted Qwen2.5 repetition_penalty 1.05 comes this way).
    saved = model.generation_config.repetition_penalty
    model.generation_config.repetition_penalty = 1.8
    try:
        assert run(input_ids=prompt)[0, prompt.shape[1]:].tolist() == run(
            inputs_embeds=embeds, attention_mask=torch.ones_like(prompt), repetition_penalty=1.8)[0, -12:].tolist()
    finally:
        model.generation_config.repetition_penalty = saved
