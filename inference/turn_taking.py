# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Hands-free turn-taking: voice activity detection, end of turn, and barge-in, on a stream of audio chunks.

    from inference import GenerationSettings, HandsFreeSession, Responder, TurnDetector, iter_chunks, load_model

    detector = TurnDetector(sampling_rate=48000)          # any input rate; chunks of any size
    for chunk in microphone_chunks:                       # or iter_chunks(audio, 48000, realtime=True)
        for event in detector.feed(chunk):
            print(event.kind, event.start_s, event.end_s)  # "speech_start" / "end_of_turn" / "speech_discarded"

    model, processor = load_model()
    with HandsFreeSession(Responder(model, processor), GenerationSettings(max_new_tokens=80)) as session:
        for chunk in iter_chunks(audio, 16000, realtime=True):   # a file stands in for the microphone
            session.feed(chunk)
            for event in session.poll():                  # the answers: text deltas and audio chunks
                play(event.audio) if event.kind == "answer" else print(event.kind)

Two parts, one concern each:

- `TurnDetector` turns audio into turn events. The voice-activity detector (`SileroVAD`: the Silero VAD v6 network
  shipped inside the `silero-vad` wheel, run with onnxruntime on one thread; ~0.1 ms per 32 ms frame) gives a
  speech probability per frame; speech starts once `min_speech_s` of consecutive speech frames are heard (shorter
  bursts, e.g. clicks, are ignored), and the turn ends after `end_of_turn_silence_s` of silence (pauses inside a
  question are shorter). Times are in stream time: seconds of audio fed since the start.
- `HandsFreeSession` owns a `Conversation` and answers each finished turn through a `Responder` (the inference
  runtime: `stream_answer`, its `Timeline` and its cancel event), in a background thread, streaming the answer's
  text deltas and audio chunks out. When the user starts speaking while an answer runs (barge-in), the answer is
  cancelled at once: no audio chunk of it is delivered afterwards, its undelivered audio is dropped, and its
  generation thread stops at its next step.

Measured in `benchmarks/turn_taking.py` (held-out voices and questions; results in
`benchmarks/results/turn_taking.json`).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from .conversation import Conversation, GenerationSettings, Responder, Turn
from .runtime import Timeline


SPEECH_START = "speech_start"
END_OF_TURN = "end_of_turn"
SPEECH_DISCARDED = "speech_discarded"
ANSWER_START = "answer_start"
ANSWER = "answer"
ANSWER_END = "answer_end"
BARGE_IN = "barge_in"
ERROR = "error"

MIN_SAMPLING_RATE = 8000
MAX_SAMPLING_RATE = 384000
MAX_CHANNELS = 8
SILERO_VAD_PACKAGE = "silero-vad"
SILERO_VAD_MODEL = "silero_vad/data/silero_vad.onnx"  # the wheel's ONNX model (8 and 16 kHz)

TurnEventKind = Literal["speech_start", "end_of_turn", "speech_discarded"]
SessionEventKind = Literal[
    "speech_start", "end_of_turn", "speech_discarded", "answer_start", "answer", "answer_end", "barge_in", "error"
]


# --------------------------------------------------------------------------------------------------------------
# Input checks and resampling
# --------------------------------------------------------------------------------------------------------------


def check_sampling_rate(sampling_rate: Any, what: str = "sampling_rate") -> int:
    """
    `sampling_rate` as an int.

    Raises:
        ValueError: not an integer number of Hz in [`MIN_SAMPLING_RATE`, `MAX_SAMPLING_RATE`].
    """
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer, float, np.floating)):
        raise ValueError(f"{what} must be a number of Hz, got {type(sampling_rate).__name__} {sampling_rate!r}")
    if not float(sampling_rate).is_integer() or not MIN_SAMPLING_RATE <= sampling_rate <= MAX_SAMPLING_RATE:
        raise ValueError(
            f"{what} must be a whole number of Hz in [{MIN_SAMPLING_RATE}, {MAX_SAMPLING_RATE}], got {sampling_rate!r}"
        )
    return int(sampling_rate)


def as_mono_float32(chunk: Any) -> np.ndarray:
    """
    One chunk of a stream as float32 mono samples.

    Args:
        chunk: a numpy array (or a torch tensor, or a list of numbers) of samples: float16/32/64 in [-1, 1], int16
            (scaled by 1/32768) or int32 (scaled by 1/2**31); shape `(samples,)`, or `(samples, channels)` with at
            most `MAX_CHANNELS` channels (averaged; the layout of soundfile, gradio and sounddevice). An empty
            chunk is allowed (it changes nothing).

    Returns:
        float32 array of shape `(samples,)`.

    Raises:
        TypeError: not an array of numbers, or an unsupported dtype.
        ValueError: a bad shape, NaN / infinite values, or float samples far outside [-1, 1].
    """
    if hasattr(chunk, "detach") and hasattr(chunk, "cpu"):  # a torch tensor
        chunk = chunk.detach().cpu().float().numpy() if chunk.is_floating_point() else chunk.detach().cpu().numpy()
    if isinstance(chunk, (str, bytes, dict)) or chunk is None:
        raise TypeError(f"an audio chunk must be an array of samples, got {type(chunk).__name__}")
    array = np.asarray(chunk)
    if array.dtype.kind == "f":
        samples = array.astype(np.float32, copy=False)
        if samples.size and not np.all(np.isfinite(samples)):
            raise ValueError("the audio chunk has NaN or infinite samples")
        if samples.size and float(np.max(np.abs(samples))) > 1.5:
            raise ValueError(
                f"float samples must be in [-1, 1]; got a peak of {float(np.max(np.abs(samples))):.1f} (pass 16-bit "
                "PCM as int16, not as floats)"
            )
    elif array.dtype == np.int16:
        samples = array.astype(np.float32) / 32768.0
    elif array.dtype == np.int32:
        samples = (array.astype(np.float64) / 2**31).astype(np.float32)
    else:
        raise TypeError(f"unsupported audio dtype {array.dtype}; accepted: float16/32/64 in [-1, 1], int16, int32")
    if samples.ndim == 2 and 1 <= samples.shape[1] <= MAX_CHANNELS:
        samples = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    elif samples.ndim != 1:
        raise ValueError(
            f"an audio chunk has shape (samples,) or (samples, channels) with 1-{MAX_CHANNELS} channels; got "
            f"{tuple(samples.shape)}"
        )
    return np.ascontiguousarray(samples, dtype=np.float32)


class StreamResampler:
    """
    Resamples a stream chunk by chunk, with the same output as resampling the whole stream at once: band-limited
    (windowed-sinc, Hann window, cut-off at 95 % of the lower Nyquist frequency) polyphase interpolation at the
    exact rational ratio. The output lags the input by `zero_crossings` periods of the lower rate (< 1 ms at the
    default).

    Args:
        orig_rate: the input's sampling rate (Hz).
        target_rate: the output's sampling rate (Hz).
        zero_crossings: the half-width of the interpolation kernel, in zero crossings of its sinc.

    Raises:
        ValueError: a bad rate or a non-positive `zero_crossings`.
    """

    def __init__(self, orig_rate: int, target_rate: int, zero_crossings: int = 16):
        self.orig_rate = check_sampling_rate(orig_rate, "orig_rate")
        self.target_rate = check_sampling_rate(target_rate, "target_rate")
        if zero_crossings < 1:
            raise ValueError(f"zero_crossings must be >= 1, got {zero_crossings}")
        common = math.gcd(self.orig_rate, self.target_rate)
        self.up, self.down = self.target_rate // common, self.orig_rate // common
        cutoff = 0.95 * min(1.0, self.up / self.down)  # of the input's Nyquist frequency
        self.half_width = math.ceil(zero_crossings / cutoff)
        # weights[phase, j]: output k (input position k*down/up = base + phase/up) takes input base - W + 1 + j
        offsets = np.arange(1 - self.half_width, self.half_width + 1, dtype=np.float64)
        distance = np.arange(self.up, dtype=np.float64)[:, None] / self.up - offsets[None, :]
        window = np.where(np.abs(distance) < self.half_width,
                          0.5 + 0.5 * np.cos(np.pi * distance / self.half_width), 0.0)
        self.weights = (cutoff * np.sinc(cutoff * distance) * window).astype(np.float32)
        self.reset()

    def reset(self) -> None:
        """Forgets the stream: the next chunk starts a new one."""
        # the buffer holds the input from absolute index `_offset` on; W zeros stand before the stream's start
        self._buffer = np.zeros(self.half_width, dtype=np.float32)
        self._offset = -self.half_width
        self._received = 0  # input samples so far
        self._next = 0  # the next output index

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """Takes float32 mono samples; returns the output samples that can be computed so far."""
        if self.up == self.down:
            return chunk
        self._buffer = np.concatenate([self._buffer, chunk])
        self._received += chunk.size
        # output k needs input up to base(k) + W, with base(k) = floor(k * down / up)
        last = ((self._received - self.half_width) * self.up - 1) // self.down  # the last computable output
        if last < self._next:
            return np.zeros(0, dtype=np.float32)
        ks = np.arange(self._next, last + 1, dtype=np.int64)
        base, phase = np.divmod(ks * self.down, self.up)
        index = base[:, None] + np.arange(1 - self.half_width, self.half_width + 1)[None, :] - self._offset
        out = np.einsum("ij,ij->i", self._buffer[index], self.weights[phase])
        self._next = last + 1
        keep_from = (self._next * self.down) // self.up - self.half_width + 1  # what the next output needs
        drop = keep_from - self._offset
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._offset += drop
        return out.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------------------
# Voice activity detection
# --------------------------------------------------------------------------------------------------------------


@runtime_checkable
class VoiceActivityDetector(Protocol):
    """What `TurnDetector` needs of a voice-activity detector: frames of `frame_size` samples at `sampling_rate` in,
    a speech probability in [0, 1] out, a state that `reset()` clears."""

    sampling_rate: int
    frame_size: int

    def __call__(self, frame: np.ndarray) -> float: ...

    def reset(self) -> None: ...


def silero_vad_model_path() -> Path:
    """
    The Silero VAD ONNX model inside the installed `silero-vad` wheel (found without importing the package, whose
    import sets torch's thread count to 1 for the whole process).

    Raises:
        ImportError: `silero-vad` is not installed.
        FileNotFoundError: the installed wheel has no ONNX model where version 6 keeps it.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(distribution(SILERO_VAD_PACKAGE).locate_file(SILERO_VAD_MODEL))
    except PackageNotFoundError:
        raise ImportError(
            "hands-free turn-taking needs the Silero voice-activity detector: pip install silero-vad==6.2.3"
        ) from None
    if not path.is_file():
        raise FileNotFoundError(f"the installed {SILERO_VAD_PACKAGE} has no {SILERO_VAD_MODEL} (version 6 has it)")
    return path


@functools.lru_cache(maxsize=4)
def _silero_session(path: str, num_threads: int) -> Any:
    """One onnxruntime session per model file and thread count, shared by every `SileroVAD` (its state is theirs)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


class SileroVAD:
    """
    The Silero VAD v6 network (shipped in the `silero-vad` wheel; no download) run with onnxruntime on numpy frames.

    Feed consecutive frames of `frame_size` samples (32 ms); each call returns the probability that the frame is
    speech and carries the network's recurrent state to the next frame.

    Args:
        sampling_rate: 16000 (frames of 512 samples) or 8000 (256 samples).
        num_threads: onnxruntime threads (1: the frame takes ~0.1 ms, and leaves the cores to the model).

    Raises:
        ValueError: another sampling rate.
        ImportError: `silero-vad` or onnxruntime is not installed.
    """

    CONTEXT = {16000: 64, 8000: 32}  # samples of the previous frame the network sees

    def __init__(self, sampling_rate: int = 16000, num_threads: int = 1):
        if sampling_rate not in self.CONTEXT:
            raise ValueError(f"Silero VAD runs at 16000 or 8000 Hz, got {sampling_rate}")
        self.sampling_rate = int(sampling_rate)
        self.frame_size = 512 if self.sampling_rate == 16000 else 256
        self._session = _silero_session(str(silero_vad_model_path()), int(num_threads))
        self._rate = np.array(self.sampling_rate, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Clears the recurrent state (a new stream)."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self.CONTEXT[self.sampling_rate], dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """
        The speech probability of one frame.

        Raises:
            ValueError: a frame that is not `frame_size` float samples.
        """
        frame = np.asarray(frame, dtype=np.float32)
        if frame.shape != (self.frame_size,):
            raise ValueError(f"Silero VAD takes frames of {self.frame_size} samples, got shape {frame.shape}")
        window = np.concatenate([self._context, frame])[None, :]
        probability, self._state = self._session.run(None, {"input": window, "state": self._state, "sr": self._rate})
        self._context = frame[-self._context.size :]
        return float(probability.reshape(-1)[0])


# --------------------------------------------------------------------------------------------------------------
# Turn detection
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnEvent:
    """
    What the turn detector heard.

    Attributes:
        kind: "speech_start" (speech began at `start_s`), "end_of_turn" (the turn's speech ended at `end_s` and
            was followed by the end-of-turn silence) or "speech_discarded" (a burst of speech too short to be a
            turn ended at `end_s`; its "speech_start" was reported).
        time_s: stream time at which the detector decided (the end of the frame that decided it).
        start_s: stream time of the speech's onset.
        end_s: stream time of the end of the speech (None for "speech_start").
        audio: for "end_of_turn", the utterance (from `pre_roll_s` before the onset to `post_roll_s` after the end)
            at `sampling_rate`, float32 mono; otherwise None.
        sampling_rate: the rate of `audio` (the detector's).
        speech_s: seconds of the turn that the detector heard as speech so far.
    """

    kind: TurnEventKind
    time_s: float
    start_s: float
    end_s: float | None = None
    audio: np.ndarray | None = None
    sampling_rate: int = 16000
    speech_s: float = 0.0


class TurnDetector:
    """
    Finds where a speaker's turns start and end in a stream of audio chunks.

    Feed chunks as they arrive (`feed`); any chunk size, at the input `sampling_rate` (resampled to the VAD's rate
    on the fly). A frame is speech when the VAD's probability is at least `threshold` (once in speech, at least
    `threshold - hysteresis`). Speech starts ("speech_start", dated at its onset) after `min_speech_s` of
    consecutive speech frames: shorter bursts (clicks, knocks) are ignored. The turn ends ("end_of_turn", with
    the utterance's audio) after `end_of_turn_silence_s` of silence; a turn with less than `min_turn_s` of speech
    in all is reported as "speech_discarded" instead (a cough). A turn longer than `max_turn_s` is ended there.

    Args:
        sampling_rate: the input's sampling rate (Hz).
        vad: the voice-activity detector (default: `SileroVAD()` at 16 kHz).
        threshold: speech probability from which a frame is speech.
        hysteresis: inside speech, a frame stays speech down to `threshold - hysteresis`.
        min_speech_s: consecutive speech needed before speech is reported as started.
        end_of_turn_silence_s: trailing silence that ends a turn.
        min_turn_s: the least speech a turn needs (else "speech_discarded").
        max_turn_s: the longest turn (30 s: what the Whisper encoder takes); None for no limit.
        pre_roll_s: audio kept before the onset in the utterance.
        post_roll_s: audio kept after the end of speech in the utterance (at most `end_of_turn_silence_s`).

    Raises:
        ValueError: a bad rate or setting (the message says which).
        TypeError: `vad` lacks what `VoiceActivityDetector` needs.
    """

    def __init__(
        self,
        sampling_rate: int = 16000,
        vad: VoiceActivityDetector | None = None,
        *,
        threshold: float = 0.5,
        hysteresis: float = 0.15,
        min_speech_s: float = 0.06,
        end_of_turn_silence_s: float = 0.7,
        min_turn_s: float = 0.2,
        max_turn_s: float | None = 30.0,
        pre_roll_s: float = 0.2,
        post_roll_s: float = 0.2,
    ):
        self.sampling_rate = check_sampling_rate(sampling_rate)
        self.vad = vad if vad is not None else SileroVAD()
        if not isinstance(self.vad, VoiceActivityDetector):
            raise TypeError(f"vad must have sampling_rate, frame_size, __call__(frame) and reset(); got {self.vad!r}")
        checks = {
            "threshold": 0.0 < threshold <= 1.0,
            "hysteresis": 0.0 <= hysteresis < threshold,
            "min_speech_s": min_speech_s >= 0.0,
            "end_of_turn_silence_s": end_of_turn_silence_s > 0.0,
            "min_turn_s": min_turn_s >= 0.0,
            "max_turn_s": max_turn_s is None or max_turn_s > end_of_turn_silence_s,
            "pre_roll_s": pre_roll_s >= 0.0,
            "post_roll_s": post_roll_s >= 0.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"{name}={locals()[name]!r} is out of range (0 < threshold <= 1, 0 <= hysteresis < threshold, "
                    "end_of_turn_silence_s > 0, max_turn_s > end_of_turn_silence_s or None, the others >= 0)"
                )
        self.threshold = float(threshold)
        self.hysteresis = float(hysteresis)
        self.min_speech_s = float(min_speech_s)
        self.end_of_turn_silence_s = float(end_of_turn_silence_s)
        self.min_turn_s = float(min_turn_s)
        self.max_turn_s = None if max_turn_s is None else float(max_turn_s)
        self.pre_roll_s = float(pre_roll_s)
        self.post_roll_s = min(float(post_roll_s), self.end_of_turn_silence_s)
        self.vad_rate = int(self.vad.sampling_rate)
        self.frame_size = int(self.vad.frame_size)
        self.frame_s = self.frame_size / self.vad_rate
        self._onset_frames = max(1, math.ceil(self.min_speech_s / self.frame_s - 1e-9))
        self._resampler = StreamResampler(self.sampling_rate, self.vad_rate)
        self.reset()

    # -- state ---------------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forgets the stream (and the VAD's state): the next chunk starts a new stream at time 0."""
        self.vad.reset()
        self._resampler.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._samples_in = 0  # input samples fed
        self._frames = 0  # VAD frames processed
        self._history: collections.deque[np.ndarray] = collections.deque()  # recent frames (pre-roll + candidate)
        self._turn_frames: list[np.ndarray] = []  # the frames of the current turn, from its pre-roll on
        self._turn_first_frame = 0  # the index of _turn_frames[0]
        self._in_turn = False
        self._speaking = False
        self._run = 0  # consecutive speech frames before a turn
        self._onset_frame = 0
        self._last_speech_frame = 0  # the last frame heard as speech in the current turn
        self._silent_frames = 0
        self._speech_frames = 0
        self.last_probability = 0.0

    @property
    def time_s(self) -> float:
        """Stream time: seconds of input fed so far."""
        return self._samples_in / self.sampling_rate

    @property
    def in_turn(self) -> bool:
        """Whether a turn has started (speech was reported) and not ended yet."""
        return self._in_turn

    # -- feeding -------------------------------------------------------------------------------------------------------

    def feed(self, chunk: Any, sampling_rate: int | None = None) -> list[TurnEvent]:
        """
        Feeds the next chunk of the stream and returns the events it completed (oldest first).

        Args:
            chunk: samples (see `as_mono_float32`: float in [-1, 1], int16 or int32; `(samples,)` or
                `(samples, channels)`); any length.
            sampling_rate: the chunk's rate if known; it must be the detector's `sampling_rate` (a stream's rate
                cannot change).

        Raises:
            TypeError / ValueError: a bad chunk (see `as_mono_float32`), or another sampling rate.
        """
        if sampling_rate is not None and check_sampling_rate(sampling_rate) != self.sampling_rate:
            raise ValueError(
                f"this stream is at {self.sampling_rate} Hz, got a chunk at {sampling_rate} Hz: a stream's rate cannot "
                "change (make a new TurnDetector for another rate)"
            )
        samples = as_mono_float32(chunk)
        self._samples_in += samples.size
        resampled = self._resampler(samples)
        if self._pending.size:
            resampled = np.concatenate([self._pending, resampled])
        events: list[TurnEvent] = []
        whole = resampled.size - resampled.size % self.frame_size
        for start in range(0, whole, self.frame_size):
            event = self._step(resampled[start : start + self.frame_size])
            if event is not None:
                events.append(event)
        self._pending = resampled[whole:].copy()
        return events

    def flush(self) -> list[TurnEvent]:
        """
        Ends the stream: an open turn ends now ("end_of_turn", or "speech_discarded" if too short). The detector
        is then ready for a new stream (see `reset`).
        """
        events: list[TurnEvent] = []
        if self._in_turn:
            events.append(self._end_turn(self._frames * self.frame_s))
        self.reset()
        return events

    def process(self, audio: Any, chunk_s: float = 0.032) -> list[TurnEvent]:
        """
        All the events of a whole recording (fed in chunks of `chunk_s` seconds, then flushed) - for files.

        Raises:
            TypeError / ValueError: bad audio (see `feed`).
        """
        events: list[TurnEvent] = []
        for chunk in iter_chunks(audio, self.sampling_rate, chunk_s=chunk_s):
            events.extend(self.feed(chunk))
        events.extend(self.flush())
        return events

    # -- the state machine ---------------------------------------------------------------------------------------------

    def _step(self, frame: np.ndarray) -> TurnEvent | None:
        index = self._frames
        self._frames += 1
        probability = self.vad(frame)
        self.last_probability = probability
        frame_end = self._frames * self.frame_s
        if not self._in_turn:
            self._history.append(frame)
            keep = math.ceil(self.pre_roll_s / self.frame_s) + self._onset_frames
            while len(self._history) > keep:
                self._history.popleft()
            if probability < self.threshold:
                self._run = 0
                return None
            if self._run == 0:
                self._onset_frame = index
            self._run += 1
            if self._run < self._onset_frames:
                return None
            # speech: a turn starts at the run's first frame, with the pre-roll before it
            self._in_turn, self._speaking = True, True
            self._turn_frames = list(self._history)
            self._turn_first_frame = self._frames - len(self._turn_frames)
            self._history.clear()
            self._speech_frames = self._run
            self._last_speech_frame = index
            self._silent_frames = 0
            return TurnEvent(SPEECH_START, frame_end, self._onset_frame * self.frame_s, None,
                             sampling_rate=self.vad_rate, speech_s=self._speech_frames * self.frame_s)

        self._turn_frames.append(frame)
        floor = self.threshold - self.hysteresis if self._speaking else self.threshold
        if probability >= floor:
            self._speaking = True
            self._speech_frames += 1
            self._last_speech_frame = index
            self._silent_frames = 0
        else:
            self._speaking = False
            self._silent_frames += 1
            if self._silent_frames * self.frame_s >= self.end_of_turn_silence_s - 1e-9:
                return self._end_turn(frame_end)
        if self.max_turn_s is not None and frame_end - self._onset_frame * self.frame_s >= self.max_turn_s - 1e-9:
            return self._end_turn(frame_end)
        return None

    def _end_turn(self, time_s: float) -> TurnEvent:
        start_s = self._onset_frame * self.frame_s
        end_s = (self._last_speech_frame + 1) * self.frame_s
        speech_s = self._speech_frames * self.frame_s
        first = max(self._turn_first_frame, self._onset_frame - math.ceil(self.pre_roll_s / self.frame_s))
        last = min(self._turn_first_frame + len(self._turn_frames),
                   self._last_speech_frame + 1 + math.ceil(self.post_roll_s / self.frame_s))
        frames = self._turn_frames[first - self._turn_first_frame : last - self._turn_first_frame]
        self._in_turn, self._speaking, self._run = False, False, 0
        self._turn_frames, self._history = [], collections.deque()
        if speech_s < self.min_turn_s - 1e-9:
            return TurnEvent(SPEECH_DISCARDED, time_s, start_s, end_s, sampling_rate=self.vad_rate, speech_s=speech_s)
        audio = np.concatenate(frames) if frames else np.zeros(0, dtype=np.float32)
        return TurnEvent(END_OF_TURN, time_s, start_s, end_s, audio=audio, sampling_rate=self.vad_rate,
                         speech_s=speech_s)


def iter_chunks(
    audio: Any, sampling_rate: int, chunk_s: float = 0.02, realtime: bool = False, start: float | None = None
) -> Iterator[np.ndarray]:
    """
    A recording cut into consecutive chunks, as a microphone would deliver it - to drive a `TurnDetector` or a
    `HandsFreeSession` from a file or an array.

    Args:
        audio: the samples (see `as_mono_float32`).
        sampling_rate: their rate (Hz).
        chunk_s: seconds per chunk (the last one may be shorter).
        realtime: pace the chunks in real time: each chunk is yielded once the time it ends at has passed since
            `start` (as a microphone delivers a chunk once it is recorded).
        start: the `time.perf_counter()` the stream starts at (default: when the first chunk is asked for).

    Raises:
        TypeError / ValueError: bad audio, rate or chunk length.
    """
    samples = as_mono_float32(audio)
    sampling_rate = check_sampling_rate(sampling_rate)
    if not chunk_s > 0:
        raise ValueError(f"chunk_s must be > 0, got {chunk_s!r}")
    size = max(1, round(chunk_s * sampling_rate))
    t0: float | None = start
    for begin in range(0, samples.size, size):
        end = min(begin + size, samples.size)
        if realtime:
            if t0 is None:
                t0 = time.perf_counter()
            delay = t0 + end / sampling_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        yield samples[begin:end]


# --------------------------------------------------------------------------------------------------------------
# Hands-free conversation
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandsFreeEvent:
    """
    Something that happened in a hands-free session, in order.

    Attributes:
        kind: what happened:
            - "speech_start", "end_of_turn", "speech_discarded": the turn detector's events (`turn_event`);
            - "answer_start": the model starts answering turn `turn`;
            - "answer": a piece of the answer: a text delta (`text`) and/or an audio chunk (`audio` at
              `sampling_rate`);
            - "answer_end": the answer is over and its generation thread has ended (`timeline`; its `cancelled`
              says whether it was stopped);
            - "barge_in": the user spoke over the answer to turn `turn`: it is cancelled, nothing more of it will
              come, and a player should drop the audio it still holds (also sent when the answer's generation was
              over but its audio, played as delivered, would still be playing);
            - "error": turn `turn` could not be answered (`message`).
        turn: the index of the conversation turn it belongs to (for "speech_start": the index the turn will have).
        time_s: stream time when it happened (seconds of input fed so far).
        clock: `time.perf_counter()` when it happened.
        text: "answer": the text delta.
        audio: "answer": the audio chunk (empty when there is none).
        sampling_rate: the rate of the answer's audio (None when the model cannot speak).
        turn_event: the detector's event, for the detector's kinds.
        timeline: "answer_end" and "barge_in": the answer's `Timeline`.
        message: "error": what went wrong.
    """

    kind: SessionEventKind
    turn: int
    time_s: float
    clock: float
    text: str = ""
    audio: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    sampling_rate: int | None = None
    turn_event: TurnEvent | None = None
    timeline: Timeline | None = None
    message: str = ""

    @property
    def has_audio(self) -> bool:
        return self.audio.size > 0


@dataclass
class _Answer:
    """One answer job: the turn's question, and its cancel event, thread and timeline."""

    turn: int
    question: np.ndarray
    sampling_rate: int
    cancel: threading.Event
    previous: _Answer | None
    timeline: Timeline | None = None
    thread: threading.Thread | None = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    playing_until: float = 0.0  # the perf_counter() at which its delivered audio ends, if played as delivered


class HandsFreeSession:
    """
    A spoken conversation without buttons: feed the microphone's chunks, get the answers.

    Each turn the detector ends is added to the `conversation` and answered by the `responder` in a background
    thread (one answer at a time, in order), streaming "answer" events (text deltas and audio chunks). When the
    user starts speaking while an answer runs, the answer is cancelled (barge-in): a "barge_in" event is emitted
    at once, no audio of that answer is delivered after it, its undelivered events lose their audio, and its
    generation thread stops at its next step ("answer_end" follows once it has). Cancelled answers keep the text
    generated so far in the conversation. An answer whose generation is over but whose audio would still be
    playing (if played from its delivery on) gets a "barge_in" too, so that the player stops it.

    Feed from one thread. There is no echo cancellation here: with loudspeakers, let the browser or the sound device
    cancel the echo, or the answer's own voice counts as the user speaking.

    Events go to `on_event` when given (called from the thread that produced them: the feeding thread for the
    detector's events and "barge_in", the answer thread for the others; it must return quickly, e.g. hand the
    audio to a player's buffer), else to a queue read with `poll()` or `events()`.

    Args:
        responder: answers with the model (`inference.Responder`).
        settings: generation settings of every answer (default `GenerationSettings()`).
        conversation: the dialogue to continue (default: a new one).
        detector: the turn detector (default: `TurnDetector(sampling_rate)` with the Silero VAD).
        sampling_rate: the input's rate (default: the detector's, 16000 for a new one).
        barge_in: cancel the running answer when the user starts speaking; False: speech does not interrupt, and
            turns are answered one after the other.
        on_event: where events go (default: the queue).

    Raises:
        ValueError: `sampling_rate` is not the given detector's.
    """

    def __init__(
        self,
        responder: Responder,
        settings: GenerationSettings | None = None,
        *,
        conversation: Conversation | None = None,
        detector: TurnDetector | None = None,
        sampling_rate: int | None = None,
        barge_in: bool = True,
        on_event: Callable[[HandsFreeEvent], None] | None = None,
    ):
        if detector is None:
            detector = TurnDetector(16000 if sampling_rate is None else sampling_rate)
        elif sampling_rate is not None and check_sampling_rate(sampling_rate) != detector.sampling_rate:
            raise ValueError(f"sampling_rate={sampling_rate} but the detector takes {detector.sampling_rate} Hz")
        self.responder = responder
        self.settings = settings if settings is not None else GenerationSettings()
        self.conversation = conversation if conversation is not None else Conversation()
        self.detector = detector
        self.barge_in = bool(barge_in)
        self.on_event = on_event
        self._lock = threading.Lock()  # guards the queue, the current answer and every delivery of answer events
        self._ready = threading.Condition(self._lock)
        self._queue: collections.deque[HandsFreeEvent] = collections.deque()
        self._current: _Answer | None = None
        self._turns = len(self.conversation.turns)  # the index the next turn gets
        self._closed = False

    # -- input ---------------------------------------------------------------------------------------------------------

    @property
    def sampling_rate(self) -> int:
        """The input's sampling rate."""
        return self.detector.sampling_rate

    @property
    def time_s(self) -> float:
        """Stream time: seconds of input fed so far."""
        return self.detector.time_s

    @property
    def answering(self) -> bool:
        """Whether an answer is running (or waiting for the one before it)."""
        current = self._current
        return current is not None and not current.done.is_set()

    def feed(self, chunk: Any, sampling_rate: int | None = None) -> list[TurnEvent]:
        """
        Feeds the next microphone chunk; acts on the turn events it completes (barge-in on "speech_start", an
        answer on "end_of_turn") and returns them. Answers run in the background: read them with `poll()` /
        `events()` (or `on_event`).

        Raises:
            TypeError / ValueError: a bad chunk or rate (see `TurnDetector.feed`).
            RuntimeError: the session is closed.
        """
        if self._closed:
            raise RuntimeError("this hands-free session is closed")
        events = self.detector.feed(chunk, sampling_rate)
        for event in events:
            self._on_turn_event(event)
        return events

    def flush(self) -> list[TurnEvent]:
        """Ends the input stream: an open turn ends now and is answered (see `TurnDetector.flush`)."""
        if self._closed:
            raise RuntimeError("this hands-free session is closed")
        events = self.detector.flush()
        for event in events:
            self._on_turn_event(event)
        return events

    def cancel(self) -> bool:
        """Cancels the running answer as a barge-in does (e.g. for a stop button); returns whether one ran."""
        with self._lock:
            return self._cancel_current_locked()

    # -- output --------------------------------------------------------------------------------------------------------

    def poll(self) -> list[HandsFreeEvent]:
        """The queued events (oldest first), without waiting; empty when `on_event` takes them."""
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
        return events

    def events(self, timeout: float | None = None) -> Iterator[HandsFreeEvent]:
        """
        Yields the queued events as they come, until the session is closed (and the queue is empty), or until no
        event came for `timeout` seconds.
        """
        while True:
            with self._ready:
                if not self._queue and not self._closed:
                    self._ready.wait(timeout)
                if not self._queue:
                    return
                event = self._queue.popleft()
            yield event

    def wait(self, timeout: float | None = None) -> bool:
        """Waits until no answer runs (all their "answer_end" events are out); returns False on timeout."""
        current = self._current
        return current is None or current.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Cancels the running answer, waits for its thread (at most `timeout` s), and ends `events()`."""
        with self._lock:
            self._cancel_current_locked(emit=False)
        self.wait(timeout)
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __enter__(self) -> HandsFreeSession:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------------------

    def _emit_locked(self, event: HandsFreeEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)
        else:
            self._queue.append(event)
            self._ready.notify_all()

    def _event(self, kind: SessionEventKind, turn: int, **fields: Any) -> HandsFreeEvent:
        return HandsFreeEvent(kind, turn, self.detector.time_s, time.perf_counter(), **fields)

    def _on_turn_event(self, event: TurnEvent) -> None:
        with self._lock:
            if event.kind == SPEECH_START and self.barge_in:
                self._cancel_current_locked()
            self._emit_locked(self._event(event.kind, self._turns, turn_event=event))
            if event.kind != END_OF_TURN:
                return
            job = _Answer(self._turns, event.audio, event.sampling_rate, threading.Event(), previous=self._current)
            self._turns += 1
            self._current = job
            job.thread = threading.Thread(target=self._answer, args=(job,), name="hands-free-answer", daemon=True)
            job.thread.start()

    def _cancel_current_locked(self, emit: bool = True) -> bool:
        """Cancels the current answer and those queued before it; returns whether any was running. An answer whose
        generation is over but whose audio is still playing (played as delivered) gets its "barge_in" too."""
        cancelled: list[_Answer] = []
        job = self._current
        while job is not None:
            if not job.done.is_set() and not job.cancel.is_set():
                job.cancel.set()
                cancelled.append(job)
            job = job.previous
        stopped = list(cancelled)
        current = self._current
        if not cancelled and current is not None and not current.cancel.is_set() \
                and time.perf_counter() < current.playing_until:
            current.cancel.set()  # nothing left to generate, but the player may still be playing it
            stopped.append(current)
        if not stopped:
            return False
        turns = {job.turn for job in stopped}
        if self._queue:  # the player has not taken these yet: drop their audio
            kept: collections.deque[HandsFreeEvent] = collections.deque()
            for queued in self._queue:
                if queued.turn in turns and queued.kind == ANSWER and queued.has_audio:
                    if not queued.text:
                        continue
                    queued = dataclasses.replace(queued, audio=np.zeros(0, dtype=np.float32))
                kept.append(queued)
            self._queue = kept
        if emit:
            for job in reversed(stopped):
                self._emit_locked(self._event(BARGE_IN, job.turn, timeline=job.timeline))
        return bool(cancelled)

    def _answer(self, job: _Answer) -> None:
        """The answer thread: after the answer before it, adds the turn and streams its answer."""
        try:
            if job.previous is not None and job.previous.thread is not None:
                job.previous.thread.join()
            job.previous = None  # (no chain of old answers kept alive)
            try:
                question = self.responder.load_question((job.question, job.sampling_rate))
            except ValueError as error:
                self.conversation.add(Turn(error=f"unusable question audio: {error}"))
                with self._lock:
                    self._emit_locked(self._event(ERROR, job.turn, message=str(error)))
                return
            self.conversation.add(Turn(question))
            job.timeline = Timeline(self.responder.sampling_rate)
            rate = self.responder.sampling_rate
            with self._lock:
                if job.cancel.is_set():  # spoken over before it began
                    self._emit_locked(self._event(ANSWER_END, job.turn, sampling_rate=rate,
                                                  timeline=job.timeline.finish(cancelled=True)))
                    return
                self._emit_locked(self._event(ANSWER_START, job.turn, sampling_rate=rate))
            stream = self.responder.stream_reply(self.conversation, self.settings, timeline=job.timeline,
                                                 cancel=job.cancel)
            try:
                for piece in stream:
                    with self._lock:
                        if job.cancel.is_set():
                            break
                        if piece.has_audio and rate:
                            job.playing_until = max(job.playing_until, time.perf_counter()) + piece.audio.size / rate
                        self._emit_locked(self._event(ANSWER, job.turn, text=piece.text, audio=piece.audio,
                                                      sampling_rate=rate))
            except Exception as error:  # noqa: BLE001 - a failed answer is an event, the session goes on
                self.conversation.current.error = f"{type(error).__name__}: {error}"
                with self._lock:
                    self._emit_locked(self._event(ERROR, job.turn, message=f"{type(error).__name__}: {error}"))
            finally:
                stream.close()  # stops the generation thread (at its next step) and waits for it
            if job.timeline.end_s is None:  # stopped early (barge-in) or failed
                job.timeline.finish(cancelled=job.cancel.is_set())
            with self._lock:
                self._emit_locked(self._event(ANSWER_END, job.turn, sampling_rate=rate, timeline=job.timeline))
        finally:
            job.done.set()


__all__ = [
    "ANSWER",
    "ANSWER_END",
    "ANSWER_START",
    "BARGE_IN",
    "END_OF_TURN",
    "ERROR",
    "SPEECH_DISCARDED",
    "SPEECH_START",
    "HandsFreeEvent",
    "HandsFreeSession",
    "SileroVAD",
    "StreamResampler",
    "TurnDetector",
    "TurnEvent",
    "VoiceActivityDetector",
    "as_mono_float32",
    "check_sampling_rate",
    "iter_chunks",
    "silero_vad_model_path",
]
