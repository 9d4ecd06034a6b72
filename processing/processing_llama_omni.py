# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Processor for LLaMA-Omni: audio loading/validation, Whisper log-mel features and the chat prompt.

This file is self-contained: at module level it imports only numpy, torch, transformers and the Python
standard library, so that it can be copied as-is into a model folder for `trust_remote_code=True`.
torchaudio (resampling), torchcodec and soundfile (file decoding) are imported lazily, inside the
functions that need them.

Pipeline of one call::

    audio clip(s) --load_audio--> float32 mono 16 kHz --WhisperFeatureExtractor (per clip)--> log-mel [n_mels, L]
    text with "<speech>" --each "<speech>" expanded to num_speech_embeddings(L) copies--> tokenizer --> input_ids

The model replaces the embeddings at the speech-token positions with the speech adaptor's output
(Whisper encoder -> downsample by `speech_downsample_rate` -> projector), so the number of expanded speech
tokens of a clip equals the number of adaptor outputs for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from transformers import BatchFeature, ProcessorMixin

from .audio_llama_omni import SAMPLING_RATE, AudioLike, as_clip_list, load_audio, plural

SPEECH_TOKEN = "<speech>"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful language and speech assistant. You are able to understand the speech content that the "
    "user provides, and assist the user with a variety of tasks using natural language."
)
DEFAULT_INSTRUCTION = "<speech>\nPlease directly answer the questions in the user's speech."

# The file a model folder needs for `AutoProcessor.from_pretrained(folder, trust_remote_code=True)`.


# The variables `speech_token` and `default_system_prompt` are passed by LlamaOmniProcessor.apply_chat_template;
# the templates fall back to the defaults so that they also render when used on their own.
# Shared by the templates: the speech token and default system prompt (with fallbacks), and a message's content
# (a string, or a list of text/audio items) flattened into `content`, audio items rendered as the speech token.
_TEMPLATE_PRELUDE = (
    "{%- set speech = speech_token if speech_token is defined else '" + SPEECH_TOKEN + "' -%}"
    "{%- set default_system = default_system_prompt if default_system_prompt is defined else '"
    + DEFAULT_SYSTEM_PROMPT
    + "' -%}"
)
_MESSAGE_CONTENT_AS_TEXT = (
    "{%- if message['content'] is string -%}"
    "{%- set content = message['content'] -%}"
    "{%- else -%}"
    "{%- set ns = namespace(text='') -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'text' -%}{%- set ns.text = ns.text + item['text'] -%}"
    "{%- elif item['type'] == 'audio' -%}{%- set ns.text = ns.text + speech -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set content = ns.text -%}"
    "{%- endif -%}"
)

_LLAMA3_TEMPLATE = (
    _TEMPLATE_PRELUDE
    + "{{- '<|begin_of_text|>' -}}"
    "{%- if (messages | length == 0 or messages[0]['role'] != 'system') and default_system -%}"
    "{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' + default_system + '<|eot_id|>' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    + _MESSAGE_CONTENT_AS_TEXT
    + "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (content | trim) + '<|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}"
    "{%- endif -%}"
)

_CHATML_TEMPLATE = (
    _TEMPLATE_PRELUDE
    + "{%- if (messages | length == 0 or messages[0]['role'] != 'system') and default_system -%}"
    "{{- '<|im_start|>system\\n' + default_system + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    + _MESSAGE_CONTENT_AS_TEXT
    + "{{- '<|im_start|>' + message['role'] + '\\n' + (content | trim) + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

CHAT_TEMPLATES: dict[str, str] = {"llama3": _LLAMA3_TEMPLATE, "chatml": _CHATML_TEMPLATE}

# --------------------------------------------------------------------------------------------------------------
# Processor
# --------------------------------------------------------------------------------------------------------------


class LlamaOmniProcessor(ProcessorMixin):
    r"""Processor of LLaMA-Omni: a Whisper feature extractor, a (fast) tokenizer and a chat template.

    Args:
        feature_extractor (`WhisperFeatureExtractor`): log-mel features (80 or 128 mel bins) at 16 kHz.
        tokenizer (`PreTrainedTokenizerFast`): must know `speech_token` as one (added, special) token.
        chat_template (`str`, *optional*): a Jinja template, or a key of `CHAT_TEMPLATES` ("llama3", "chatml").
            Defaults to the Llama-3 template.
        speech_token (`str`, defaults to `"<speech>"`): the placeholder of one audio clip in prompts.
        speech_downsample_rate (`int`, defaults to 5): how many Whisper encoder frames the speech adaptor
            concatenates into one LLM embedding.
        pad_to_30s (`bool`, defaults to `False`): pad every clip to 30 s (3000 frames, 300 speech embeddings
            with the default rate), as the original checkpoint did; otherwise clips keep their own length.
        max_audio_seconds (`float`, defaults to 30.0): longer clips are rejected.
        default_system_prompt (`str`): the system prompt the template inserts when a conversation has none.
        default_instruction (`str`): the user turn of the prompt built when `text` is not given; it must contain
            `speech_token` once.
    """

    def __init__(
        self,
        feature_extractor=None,
        tokenizer=None,
        chat_template: str | None = None,
        speech_token: str = SPEECH_TOKEN,
        speech_downsample_rate: int = 5,
        pad_to_30s: bool = False,
        max_audio_seconds: float = 30.0,
        default_system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        default_instruction: str = DEFAULT_INSTRUCTION,
    ):
        if chat_template is None:
            chat_template = CHAT_TEMPLATES["llama3"]
        elif isinstance(chat_template, str) and chat_template in CHAT_TEMPLATES:
            chat_template = CHAT_TEMPLATES[chat_template]
        if not isinstance(speech_token, str) or not speech_token:
            raise ValueError(f"speech_token must be a non-empty string, got {speech_token!r}")
        if isinstance(speech_downsample_rate, bool) or not isinstance(speech_downsample_rate, int):
            raise ValueError(f"speech_downsample_rate must be a positive int, got {speech_downsample_rate!r}")
        if speech_downsample_rate < 1:
            raise ValueError(f"speech_downsample_rate must be a positive int, got {speech_downsample_rate!r}")
        if default_instruction == DEFAULT_INSTRUCTION and speech_token != SPEECH_TOKEN:
            default_instruction = DEFAULT_INSTRUCTION.replace(SPEECH_TOKEN, speech_token)
        if default_instruction.count(speech_token) != 1:
            raise ValueError(
                f"default_instruction must contain the speech token {speech_token!r} exactly once, got "
                f"{default_instruction!r}"
            )
        self.speech_token = speech_token
        self.speech_downsample_rate = speech_downsample_rate
        self.pad_to_30s = bool(pad_to_30s)
        self.max_audio_seconds = float(max_audio_seconds)
        self.default_system_prompt = default_system_prompt
        self.default_instruction = default_instruction
        super().__init__(feature_extractor, tokenizer, chat_template=chat_template)

        fe_seconds = self.feature_extractor.n_samples / self.feature_extractor.sampling_rate
        if not (0 < self.max_audio_seconds <= fe_seconds + 1e-9):
            raise ValueError(
                f"max_audio_seconds must be in (0, {fe_seconds:g}] (the feature extractor's chunk length, what the "
                f"Whisper encoder accepts), got {max_audio_seconds!r}"
            )
        vocab = self.tokenizer.get_vocab()
        ids = self.tokenizer.encode(speech_token, add_special_tokens=False)
        if speech_token not in vocab or len(ids) != 1 or ids[0] != vocab[speech_token]:
            raise ValueError(
                f"the tokenizer has no single token for the speech placeholder {speech_token!r}; add it with "
                f'`tokenizer.add_special_tokens({{"additional_special_tokens": ["{speech_token}"]}})` '
                "(and resize the model's token embeddings)"
            )
        self._speech_token_id = int(ids[0])

    # ---------------------------------------------------------------------------------------------------------

    @property
    def speech_token_id(self) -> int:
        """Tokenizer id of `speech_token`."""
        return self._speech_token_id

    @property
    def sampling_rate(self) -> int:
        """The sampling rate every clip is converted to (the feature extractor's, 16 kHz)."""
        return int(self.feature_extractor.sampling_rate)

    @property
    def model_input_names(self) -> list[str]:
        names = list(self.tokenizer.model_input_names) + ["input_features", "feature_attention_mask"]
        return list(dict.fromkeys(names))

    def num_speech_embeddings(self, num_frames: int) -> int:
        """Number of speech embeddings (= expanded speech tokens) for a clip of `num_frames` mel frames.

        Whisper's second convolution has stride 2: `enc = (num_frames - 1) // 2 + 1` encoder frames; the adaptor
        groups them by `speech_downsample_rate` and drops the remainder: `enc // speech_downsample_rate`.
        """
        if num_frames <= 0:
            return 0
        return ((int(num_frames) - 1) // 2 + 1) // self.speech_downsample_rate

    def load_audio(self, audio: AudioLike, sampling_rate: int | None = None) -> np.ndarray:
        """`load_audio` with this processor's sampling rate and `max_audio_seconds` (see the module function)."""
        return load_audio(
            audio,
            sampling_rate=sampling_rate,
            target_sampling_rate=self.sampling_rate,
            max_seconds=self.max_audio_seconds,
        )

    def default_prompt(self, add_generation_prompt: bool = True) -> str:
        """The prompt used when `text` is not given: `default_instruction` as the user turn, default system prompt."""
        conversation = [{"role": "user", "content": self.default_instruction}]
        return self.apply_chat_template(conversation, add_generation_prompt=add_generation_prompt, tokenize=False)

    def save_pretrained(self, save_directory, push_to_hub: bool = False, *, remote_code: bool = False, **kwargs):
        """`ProcessorMixin.save_pretrained`, plus, with `remote_code=True`, this file and its `auto_map`, so that
        `AutoProcessor.from_pretrained(save_directory, trust_remote_code=True)` works without this package.

        The remote code is written by transformers itself (`custom_object_save`, as for a class registered with
        `register_for_auto_class("AutoProcessor")`), for this call only: the class stays unregistered."""
        if not remote_code:
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        self._auto_class = "AutoProcessor"  # an instance attribute: this save only
        try:
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        finally:
            del self._auto_class

    def apply_chat_template(self, conversation, chat_template: str | None = None, **kwargs):
        """`ProcessorMixin.apply_chat_template`, passing `speech_token` and `default_system_prompt` to the template.

        `chat_template` may also be a key of `CHAT_TEMPLATES` ("llama3", "chatml"). Audio items
        (`{"type": "audio"}`) render as the speech token.
        """
        if isinstance(chat_template, str) and chat_template in CHAT_TEMPLATES and not (
            isinstance(self.chat_template, dict) and chat_template in self.chat_template
        ):
            chat_template = CHAT_TEMPLATES[chat_template]
        template = self._resolve_chat_template(chat_template)
        if "speech_token" in template:
            kwargs.setdefault("speech_token", self.speech_token)
        if "default_system_prompt" in template:
            kwargs.setdefault("default_system_prompt", self.default_system_prompt)
        return super().apply_chat_template(conversation, chat_template=chat_template, **kwargs)

    def _multimodal_inputs_from_conversations(self, conversations, audio_loading_params=None, *args, **kwargs):
        # Hook of ProcessorMixin.apply_chat_template(tokenize=True): collect the audio items' sources unloaded, so
        # that __call__ loads them with `load_audio` (same decoding, resampling and checks as a direct call).
        batch_audios = []
        for conversation in conversations:
            for message in conversation:
                content = message.get("content")
                if not isinstance(content, (list, tuple)):
                    continue
                for block in content:
                    block_type = block.get("type") if isinstance(block, Mapping) else None
                    if block_type in ("image", "video"):
                        raise ValueError(f"LlamaOmniProcessor takes text and audio only, not {block_type}")
                    if block_type == "audio":
                        batch_audios.extend(block[k] for k in ("audio", "url", "path") if k in block)
        empty = [[] for _ in conversations]
        return empty, [[] for _ in conversations], batch_audios, {}

    def extract_features(self, clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel features of loaded clips, extracted one clip at a time (batch-invariant), zero-padded on the right.

        Returns `(input_features float32 [n_clips, n_mels, T], feature_attention_mask int64 [n_clips, T])`.
        """
        fe = self.feature_extractor
        feats = []
        for clip in clips:
            if self.pad_to_30s:
                kw = {"padding": "max_length", "max_length": fe.n_samples, "truncation": True}
            else:
                kw = {"padding": "do_not_pad", "truncation": False}
            out = fe(clip, sampling_rate=fe.sampling_rate, return_tensors="np", return_attention_mask=False, **kw)
            feats.append(np.asarray(out["input_features"][0], dtype=np.float32))
        n_mels = fe.feature_size
        t_max = max((f.shape[-1] for f in feats), default=0)
        input_features = np.zeros((len(feats), n_mels, t_max), dtype=np.float32)
        mask = np.zeros((len(feats), t_max), dtype=np.int64)
        for i, f in enumerate(feats):
            input_features[i, :, : f.shape[-1]] = f
            mask[i, : f.shape[-1]] = 1
        return input_features, mask

    def __call__(
        self,
        text: str | list[str] | None = None,
        audio: AudioLike | list[AudioLike] | None = None,
        sampling_rate: int | None = None,
        return_tensors: str | None = "pt",
        padding: bool | str = True,
        padding_side: str | None = None,
        add_generation_prompt: bool = True,
        **kwargs,
    ) -> BatchFeature:
        """Prepare prompts and audio for the model.

        Args:
            text: one rendered prompt or a list of them (e.g. from `apply_chat_template`), each holding one
                `speech_token` per audio clip. If None, one default prompt per clip is built (see `default_prompt`).
            audio: one clip or a list of clips, in the order of the speech placeholders across the texts. One clip
                is: a file path; raw samples (a numpy array, a torch tensor or a list of numbers) with
                `sampling_rate=`; an `(array, sampling_rate)` tuple; a `{"array", "sampling_rate"}` dict (also
                `{"path"}` / `{"bytes"}`); or a torchcodec `AudioDecoder` (see `load_audio`). A list (or a tuple
                that is not `(array, sampling_rate)`) of those is a batch; a list mixing clips with bare numbers
                (e.g. `[array, 16000]`) is refused as ambiguous.
                `audios=` is the same argument under its other transformers name.
            sampling_rate: sampling rate of raw array clips (files, dicts and `(array, sampling_rate)` tuples carry
                their own). `pipeline("any-to-any")` decodes a file given as its `audio=` argument at 16 kHz
                before it calls the processor: pass `sampling_rate=16000` with it there, or give the clip as
                `audios=` (passed through untouched) or inside the chat messages.
            return_tensors: "pt" (default), "np" or None.
            padding, padding_side: tokenizer padding (the tokenizer's padding side unless given).
            add_generation_prompt: for the default prompts built when `text` is None.
            **kwargs: passed to the tokenizer (e.g. `truncation`, `max_length`, `add_special_tokens`, default False:
                the templates write BOS themselves).

        Returns:
            BatchFeature with `input_ids`, `attention_mask` and, when audio is given, `input_features` (float32
            [n_clips, n_mels, T]) and `feature_attention_mask` (long [n_clips, T], 1 = real frame). Each speech
            placeholder is expanded to `num_speech_embeddings(frames of its clip)` speech tokens.

        Raises:
            ValueError: bad audio (see `load_audio`; the message names the clip), the number of speech
                placeholders differs from the number of clips, or both `audio` and `audios` are given.
        """
        for name in ("images", "videos"):
            if kwargs.pop(name, None) is not None:
                raise ValueError(f"LlamaOmniProcessor takes text and audio only, not {name}")
        audios = kwargs.pop("audios", None)
        if audios is not None:
            if audio is not None:
                raise ValueError("pass the audio clips as `audio=` or as `audios=`, not both")
            audio = audios
        if kwargs.pop("return_text_replacement_offsets", False):
            raise ValueError("return_assistant_tokens_mask / return_text_replacement_offsets are not supported")
        for nested in ("text_kwargs", "audio_kwargs", "common_kwargs"):
            extra = kwargs.pop(nested, None) or {}
            if nested == "audio_kwargs" and sampling_rate is None:
                sampling_rate = extra.get("sampling_rate")
            elif nested != "audio_kwargs":
                kwargs.update({k: v for k, v in extra.items() if k != "return_tensors"})
        kwargs.pop("load_audio_backend", None)

        clips_in = as_clip_list(audio)
        if text is None and not clips_in:
            raise ValueError("pass `text`, `audio` or both")
        if text is None:
            texts = [self.default_prompt(add_generation_prompt=add_generation_prompt)] * len(clips_in)
        elif isinstance(text, str):
            texts = [text]
        elif isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text):
            texts = list(text)
        else:
            raise ValueError("text must be a string or a list of strings (rendered prompts)")
        if not texts:
            raise ValueError("text is an empty list")

        counts = [t.count(self.speech_token) for t in texts]
        self._check_counts(counts, len(clips_in), audio_given=audio is not None)

        data: dict[str, Any] = {}
        n_speech: list[int] = []
        if clips_in:
            clips = []
            for i, clip in enumerate(clips_in):
                try:
                    clips.append(self.load_audio(clip, sampling_rate=sampling_rate))
                except ValueError as e:
                    raise ValueError(f"audio clip {i}: {e}") from e
            input_features, feature_mask = self.extract_features(clips)
            for i, frames in enumerate(feature_mask.sum(-1).tolist()):
                n = self.num_speech_embeddings(int(frames))
                if n < 1:
                    raise ValueError(
                        f"audio clip {i} is too short: {int(frames)} mel frames give no speech embedding with "
                        f"speech_downsample_rate={self.speech_downsample_rate}"
                    )
                n_speech.append(n)
            data["input_features"] = input_features
            data["feature_attention_mask"] = feature_mask

        expanded, k = [], 0
        for t, c in zip(texts, counts):
            parts = t.split(self.speech_token)
            out = parts[0]
            for part in parts[1:]:
                out += self.speech_token * n_speech[k] + part
                k += 1
            expanded.append(out)

        kwargs.setdefault("add_special_tokens", False)
        if padding_side is not None:
            kwargs["padding_side"] = padding_side
        text_inputs = self.tokenizer(expanded, padding=padding, return_tensors=None, **kwargs)
        found = sum(ids.count(self.speech_token_id) for ids in text_inputs["input_ids"])
        if found != sum(n_speech):
            raise ValueError(
                f"the tokenized prompts hold {found} speech tokens but {sum(n_speech)} were expected (truncation "
                "cut them, or the text already contained expanded speech tokens); raise max_length or disable "
                "truncation"
            )
        data = {**dict(text_inputs), **data}
        return BatchFeature(data=data, tensor_type=return_tensors)

    def post_process_multimodal_output(
        self, generated_outputs, skip_special_tokens: bool = True, generation_mode: str | None = None, **kwargs
    ) -> list:
        """What `pipeline("any-to-any")` turns into its `generated_text` / `generated_audio`.

        Args:
            generated_outputs: what the model's `generate()` returned: token ids `(batch, length)` (text mode), or
                its output with `sequences`, `waveforms` and `sampling_rate` (`generation_mode="audio"`).
            skip_special_tokens: passed to the tokenizer's `batch_decode` (text mode).
            generation_mode: `None` / `"text"`, or `"audio"`.
            **kwargs: passed to the tokenizer's `batch_decode` (text mode).

        Returns:
            Text mode: one decoded string per sequence. Audio mode: one `{"audio": float32 numpy array
            (num_samples,), "sampling_rate": int}` per answer (the form of `pipeline("text-to-audio")`).

        Raises:
            ValueError: an unknown `generation_mode`, or audio mode on an output without waveforms.
        """
        if generation_mode in (None, "text"):
            sequences = getattr(generated_outputs, "sequences", generated_outputs)
            if hasattr(sequences, "ndim") and sequences.ndim == 1:
                sequences = sequences[None]
            return self.tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)
        if generation_mode != "audio":
            raise ValueError(f"generation_mode must be None, 'text' or 'audio', got {generation_mode!r}")
        waveforms = getattr(generated_outputs, "waveforms", None)
        sampling_rate = getattr(generated_outputs, "sampling_rate", None)
        if waveforms is None or sampling_rate is None:
            raise ValueError(
                "generation_mode='audio' needs the output of generate(generation_mode='audio') (or return_audio=True "
                f"with a vocoder), with waveforms and their sampling rate; got {type(generated_outputs).__name__}"
            )
        return [
            {"audio": waveform.detach().float().cpu().numpy().reshape(-1), "sampling_rate": int(sampling_rate)}
            for waveform in waveforms
        ]

    def _check_counts(self, counts: list[int], n_clips: int, audio_given: bool) -> None:
        total = sum(counts)
        if total == n_clips:
            return
        tok = repr(self.speech_token)
        clips = "no audio was given" if not audio_given or n_clips == 0 else (
            f"{plural(n_clips, 'audio clip')} {'was' if n_clips == 1 else 'were'} given"
        )
        if len(counts) == 1:
            c = counts[0]
            has = "has no speech placeholder" if c == 0 else f"has {plural(c, 'speech placeholder')}"
            msg = f"prompt 0 {has} ({tok}) but {clips}"
        elif total == 0:
            msg = f"none of the {len(counts)} prompts has a speech placeholder ({tok}) but {clips}"
        else:
            msg = (
                f"the {len(counts)} prompts have {counts} speech placeholders ({tok}), {total} in all, but {clips}"
            )
        raise ValueError(
            msg + f"; each {tok} takes one audio clip, in order (pass text=None to get one default prompt per clip)"
        )




__all__ = [
    "CHAT_TEMPLATES",
    "DEFAULT_INSTRUCTION",
    "DEFAULT_SYSTEM_PROMPT",
    "SAMPLING_RATE",
    "SPEECH_TOKEN",
    "LlamaOmniProcessor",
    "load_audio",
]
