# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The cascade baseline LLaMA-Omni is measured against, built from the same parts: Whisper ASR -> the same LLM in
text mode -> a TTS voice (Piper "joe" by default, the voice of the training responses).

It is as fast as a cascade reasonably gets without overlapping ASR with the user's speech: the LLM streams its text
(`TextIteratorStreamer`, generate() in a thread), and every sentence is spoken as soon as it is complete, while the
LLM goes on writing. Time to first audio therefore = ASR + the LLM's first sentence + TTS of that sentence. The
answer is a stream of `(text_delta, audio_chunk)` pairs, timed by the inference runtime (`inference.drain` into a
`Timeline`) exactly as the end-to-end model's stream is.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from modeling_llama_omni.streaming_llama_omni import release_openmp_threads

_SENTENCE_END = re.compile(r"(?<=[.!?;:])[\"')\]]*\s+")


def pop_sentences(buffer: str, final: bool = False) -> tuple[list[str], str]:
    """Splits the complete sentences (ended by . ! ? ; : and a space) off the front of `buffer`:
    `(sentences, rest)`; with `final=True` the rest is a sentence too."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(buffer):
        sentence = buffer[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    rest = buffer[start:]
    if final and rest.strip():
        sentences.append(rest.strip())
        rest = ""
    return sentences, rest


class CascadeBaseline:
    """ASR -> LLM (text mode) -> TTS, with sentence-level streaming.

    Args:
        model: a `LlamaOmniForConditionalGeneration`; its LLM answers the transcribed question as text (the same
            chat template and system prompt as the speech path).
        processor: its `LlamaOmniProcessor`.
        asr: a callable `list of 16 kHz clips -> list of transcripts` (e.g. `evaluation.asr.WhisperASR`).
        voice: a `offline_assets.tts.TTSVoice` (16 kHz output).
    """

    def __init__(self, model: Any, processor: Any, asr: Any, voice: Any):
        self.model, self.processor, self.asr, self.voice = model, processor, asr, voice

    def text_inputs(self, question: str):
        """The text-mode prompt of `question`, tokenised, on the model's device."""
        prompt = self.processor.apply_chat_template([{"role": "user", "content": question}],
                                                    add_generation_prompt=True, tokenize=False)
        return self.processor.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.model.device)

    def answer(self, audio: np.ndarray, **generate_kwargs: Any) -> dict[str, Any]:
        """Answers one spoken question (float32 mono 16 kHz); the answer is timed by the inference runtime's
        `Timeline` (`inference.drain`), as the end-to-end model's is.

        Returns:
            `{"question_transcript", "text", "audio" (16 kHz float32), "sampling_rate", "asr_s", "ttft_s",
            "ttfa_s" (None if nothing could be spoken), "total_s", "unspoken" (sentences the voice refused)}`;
            times in seconds from the moment the audio is in hand.

        Raises:
            whatever generate() raises.
        """
        from inference import Timeline, drain

        timeline = Timeline(int(self.voice.sampling_rate))
        transcript = self.asr([audio])[0]
        asr_s = time.perf_counter() - timeline.start
        unspoken: list[str] = []
        drain(self.stream(transcript, unspoken, **generate_kwargs), timeline)
        return {"question_transcript": transcript, "text": timeline.text, "audio": timeline.audio,
                "sampling_rate": timeline.sampling_rate, "asr_s": asr_s, "ttft_s": timeline.ttft_s,
                "ttfa_s": timeline.ttfa_s, "total_s": timeline.total_s, "unspoken": unspoken}

    def stream(
        self, transcript: str, unspoken: list[str] | None = None, **generate_kwargs: Any
    ) -> Iterator[tuple[str, np.ndarray | None]]:
        """The LLM's text answer to `transcript` and its speech, as `(text_delta, audio_chunk)` pairs (the shape of
        `model.stream()`): every text delta as the LLM writes it (`(delta, None)`), and every complete sentence's
        speech as soon as it is synthesised (`("", audio)`), while the LLM goes on writing.

        Args:
            transcript: the question as text (the ASR transcript).
            unspoken: where the sentences the voice refused (nothing speakable in them) are appended.
            generate_kwargs: `generate()` arguments.

        Raises:
            whatever generate() raises (after the generation thread ended).
        """
        import torch
        from transformers import TextIteratorStreamer

        inputs = self.text_inputs(transcript or ".")
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=600.0)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**inputs, streamer=streamer, **generate_kwargs)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller
                errors.append(error)
                streamer.end()

        thread = threading.Thread(target=run, name="cascade-generate", daemon=True)
        release_openmp_threads()  # as model.stream does: the ASR before ran torch kernels in this thread
        thread.start()
        buffer = ""
        for delta in streamer:
            if not delta:
                continue
            yield delta, None
            buffer += delta
            sentences, buffer = pop_sentences(buffer)
            yield from self._speak(sentences, unspoken)
        thread.join()
        if errors:
            raise errors[0]
        yield from self._speak(pop_sentences(buffer, final=True)[0], unspoken)

    def _speak(self, sentences: list[str], unspoken: list[str] | None) -> Iterator[tuple[str, np.ndarray]]:
        """`("", speech)` of each sentence the voice can say; the others go to `unspoken`."""
        from offline_assets.tts import TTSError

        for sentence in sentences:
            try:
                speech = np.asarray(self.voice.synthesize(sentence), dtype=np.float32)
            except (ValueError, TTSError):  # nothing speakable in it (symbols only, ...)
                if unspoken is not None:
                    unspoken.append(sentence)
                continue
            yield "", speech


__all__ = ["CascadeBaseline", "pop_sentences"]
