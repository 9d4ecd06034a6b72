"""Hands-free turn-taking on held-out synthetic dialogues, on this machine's CPU.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/turn_taking.py [--dialogues 12] [--trials 12]
        [--threads 2] [--skip-barge-in]

Held-out data only: the questions are the seed file's "heldout" split (never in training), spoken by flite "awb"
(the voice held out of training) and by espeak-ng "en-gb-scotland" and "en-029" (voices no training recipe uses).
The turn detector's settings were chosen on the train split spoken by training voices (what tests/test_turn_taking.py
uses), never on these.

0. The voice-activity detector: the Silero VAD (the one used) against the WebRTC VAD in its four modes (when
   `webrtcvad-wheels` is installed; it is not a dependency): frame-level F1 against the questions' speech (pauses
   excluded, 10 ms resolution), cost per 32 ms of audio on one thread, and the end-of-turn figures below with the
   same `TurnDetector` settings.
1. End of turn (`inference.TurnDetector`, Silero VAD, default settings: 0.7 s of trailing silence): dialogues of four
   questions each; a question is spoken in one to three pieces with pauses of 0.3-0.6 s inside it; 1.0-2.0 s
   between questions; noise-only stretches (white, pink, mains hum, keyboard clicks at -40 to -25 dBFS) and
   silence stretches between some questions; half the dialogues over a noise bed (-50 to -40 dBFS), the others
   over digital silence; speech at -26 to -16 dBFS. Figures: end-of-turn latency (from the true end of the
   question's speech to the detector's "end_of_turn", in stream time: median, p95), false cuts (a turn ended inside
   a question), missed questions, spurious turns (a turn where nobody spoke: noise), the error of the detected
   onset / end of speech, and the detector's cost (ms per 32 ms frame, one thread). The same dialogues are also run
   at 0.5 and 1.0 s of trailing silence (the latency / false-cut trade-off).
2. Barge-in (`inference.HandsFreeSession`): the embedded llama-omni-tiny answers a held-out question on `--threads`
   torch threads while the input is fed in real time, in 20 ms chunks; 0.1-0.8 s after its first audio chunk
   reached the player (a thread reading the session's events), a second held-out question starts. Figures over
   `--trials` trials: the time from the true onset of that speech to the moment the audio output stops (the later
   of the "barge_in" event reaching the player and the last audio chunk of the answer reaching it; no chunk may come
   after "barge_in"), median and p95; and the time until the answer's generation thread has ended ("answer_end").

Results go to `benchmarks/results/turn_taking.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "turn_taking.json"
SAMPLING_RATE = 16000
HELDOUT_VOICES = ("flite:awb", "espeak:en-gb-scotland", "espeak:en-029")
TRAIN_VOICES = ("flite:kal16", "flite:slt", "espeak:en-us")
NOISE_KINDS = ("white", "pink", "hum", "clicks")
BOUNDARY_TOLERANCE_S = 0.15  # a detected end this much before the true end is a cut


# --------------------------------------------------------------------------------------------------------------
# Synthetic dialogues (also used by tests/test_turn_taking.py)
# --------------------------------------------------------------------------------------------------------------


def speech_only(audio: np.ndarray, top_db: float = 40.0, hop: int = 160) -> np.ndarray:
    """`audio` without its leading and trailing silence: from the first to the last 10 ms frame whose RMS is within
    `top_db` of the loudest frame's (so the clip's first and last samples are the true onset and end of speech)."""
    audio = np.asarray(audio, dtype=np.float32)
    frames = audio.size // hop
    if frames == 0:
        return audio
    rms = np.sqrt((audio[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1) + 1e-12)
    loud = np.nonzero(rms > rms.max() * 10 ** (-top_db / 20))[0]
    return audio[loud[0] * hop : (loud[-1] + 1) * hop]


def at_level(audio: np.ndarray, level_db: float) -> np.ndarray:
    """`audio` scaled to an RMS of `level_db` dBFS."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return (audio * (10 ** (level_db / 20) / max(rms, 1e-9))).astype(np.float32)


def make_noise(kind: str, seconds: float, level_db: float, rng: np.random.Generator,
               sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
    """
    A noise-only stretch at `level_db` dBFS RMS: "white", "pink" (1/f), "hum" (50 Hz mains and its harmonics) or
    "clicks" (keyboard-like decaying bursts of 5-30 ms, ~4 a second).

    Raises:
        ValueError: an unknown kind.
    """
    n = int(round(seconds * sampling_rate))
    if kind == "white":
        noise = rng.standard_normal(n)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
        noise = np.fft.irfft(spectrum, n)
    elif kind == "hum":
        t = np.arange(n) / sampling_rate
        noise = sum(np.sin(2 * np.pi * 50 * h * t + rng.uniform(0, 6.28)) / h for h in range(1, 6))
    elif kind == "clicks":
        noise = np.zeros(n)
        for start in rng.integers(0, max(1, n - sampling_rate // 30), size=max(1, int(seconds * 4))):
            length = int(rng.integers(sampling_rate // 200, sampling_rate // 33))
            burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
            noise[start : start + length] += burst[: n - start]
    else:
        raise ValueError(f"unknown noise kind {kind!r}; known: {', '.join(NOISE_KINDS)}")
    return at_level(np.asarray(noise, dtype=np.float32), level_db)


@dataclass
class Dialogue:
    """
    A synthetic dialogue and its truth.

    Attributes:
        audio: float32 mono at `sampling_rate`.
        turns: each question's `(onset_s, end_s)`: its first and last sample of speech.
        pauses: the `(start_s, end_s)` of the pauses inside questions.
        noise: the `(start_s, end_s)` of the noise-only stretches.
    """

    audio: np.ndarray
    sampling_rate: int
    turns: list[tuple[float, float]] = field(default_factory=list)
    pauses: list[tuple[float, float]] = field(default_factory=list)
    noise: list[tuple[float, float]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.audio.size / self.sampling_rate


class DialogueBuilder:
    """Lays out a dialogue piece by piece: silences, noise-only stretches, and questions spoken in pieces with pauses
    between them; `build()` returns the `Dialogue` with its truth."""

    def __init__(self, sampling_rate: int = SAMPLING_RATE):
        self.sampling_rate = sampling_rate
        self.parts: list[np.ndarray] = []
        self.samples = 0
        self.turns: list[tuple[float, float]] = []
        self.pauses: list[tuple[float, float]] = []
        self.noise: list[tuple[float, float]] = []

    def _add(self, audio: np.ndarray) -> tuple[float, float]:
        start = self.samples / self.sampling_rate
        self.parts.append(np.asarray(audio, dtype=np.float32))
        self.samples += self.parts[-1].size
        return start, self.samples / self.sampling_rate

    def silence(self, seconds: float) -> DialogueBuilder:
        self._add(np.zeros(int(round(seconds * self.sampling_rate)), dtype=np.float32))
        return self

    def noise_stretch(self, audio: np.ndarray) -> DialogueBuilder:
        self.noise.append(self._add(audio))
        return self

    def question(self, *pieces: np.ndarray | float) -> DialogueBuilder:
        """A question: speech clips (trimmed to their speech) and, between them, pause lengths in seconds."""
        onset = end = None
        for piece in pieces:
            if isinstance(piece, (int, float)):
                self.pauses.append(self._add(np.zeros(int(round(piece * self.sampling_rate)), dtype=np.float32)))
            else:
                start, end = self._add(piece)
                onset = start if onset is None else onset
        if onset is None:
            raise ValueError("a question needs at least one speech clip")
        self.turns.append((onset, end))
        return self

    def build(self, background: np.ndarray | None = None) -> Dialogue:
        """The dialogue, with `background` (a noise bed at least as long) added under all of it."""
        audio = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.float32)
        if background is not None:
            audio = audio + background[: audio.size]
        return Dialogue(np.clip(audio, -1.0, 1.0).astype(np.float32), self.sampling_rate, list(self.turns),
                        list(self.pauses), list(self.noise))


def split_question(text: str, pieces: int, rng: random.Random) -> list[str]:
    """`text` cut at word boundaries into `pieces` parts of at least two words each (fewer for a short text)."""
    words = text.split()
    pieces = max(1, min(pieces, len(words) // 2))
    while True:
        cuts = sorted(rng.sample(range(2, len(words) - 1), pieces - 1)) if pieces > 1 else []
        bounds = [0, *cuts, len(words)]
        if all(b - a >= 2 for a, b in zip(bounds, bounds[1:])):
            return [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:])]


def random_dialogue(questions: list[str], voices: list[Any], seed: int, turns: int = 4) -> Dialogue:
    """One dialogue of `turns` questions (see the module docstring for its layout), deterministic in `seed`."""
    rng = random.Random(seed)
    noise_rng = np.random.default_rng(seed)
    builder = DialogueBuilder().silence(rng.uniform(0.5, 1.5))
    for index in range(turns):
        voice = voices[rng.randrange(len(voices))]
        text = questions[rng.randrange(len(questions))]
        level = rng.uniform(-26, -16)
        pieces: list[np.ndarray | float] = []
        for k, part in enumerate(split_question(text, rng.choice([1, 2, 2, 3]), rng)):
            if k:
                pieces.append(rng.uniform(0.3, 0.6))
            pieces.append(at_level(speech_only(voice.synthesize(part)), level))
        builder.question(*pieces)
        if index == turns - 1:
            builder.silence(rng.uniform(1.5, 2.0))
            break
        builder.silence(rng.uniform(1.0, 2.0))
        extra = rng.random()
        if extra < 0.35:
            builder.noise_stretch(make_noise(rng.choice(NOISE_KINDS), rng.uniform(1.0, 3.0), rng.uniform(-40, -25),
                                             noise_rng)).silence(rng.uniform(1.0, 1.5))
        elif extra < 0.55:
            builder.silence(rng.uniform(2.0, 4.0))
    background = None
    if seed % 2:
        background = make_noise(rng.choice(["white", "pink"]), builder.samples / SAMPLING_RATE + 1,
                                rng.uniform(-50, -40), noise_rng)
    return builder.build(background)


# --------------------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------------------


def score_turns(events: list[Any], dialogue: Dialogue, tolerance: float = BOUNDARY_TOLERANCE_S) -> dict[str, Any]:
    """
    Matches the detector's "end_of_turn" events with the dialogue's questions.

    Returns:
        `{"latencies_s", "onset_errors_s", "end_errors_s", "false_cuts", "missed", "spurious", "detected"}`: the
        end-of-turn latency of each question whose turn was found (event time - true end), the errors of the
        detected onset and end of speech, turns ended more than `tolerance` before the end of the question they
        overlap (cuts), questions no turn overlaps or whose end no turn reaches (missed: also a question merged into
        the one before it), and turns that overlap no question (spurious).
    """
    ends = [e for e in events if e.kind == "end_of_turn"]
    result: dict[str, Any] = {"latencies_s": [], "onset_errors_s": [], "end_errors_s": [], "false_cuts": 0,
                              "missed": 0, "spurious": 0, "detected": len(ends)}
    used: set[int] = set()
    for onset, end in dialogue.turns:
        overlapping = [i for i, e in enumerate(ends) if e.start_s < end + tolerance and e.end_s > onset - tolerance]
        result["false_cuts"] += sum(1 for i in overlapping if ends[i].end_s < end - tolerance and i not in used)
        final = [i for i in overlapping if ends[i].end_s >= end - tolerance and i not in used]
        if not final:
            result["missed"] += 1
            continue
        first = [i for i in overlapping if i not in used][0]
        event = ends[final[0]]
        result["latencies_s"].append(event.time_s - end)
        result["onset_errors_s"].append(ends[first].start_s - onset)
        result["end_errors_s"].append(event.end_s - end)
        used.update(i for i in overlapping if i <= final[0])
    result["spurious"] = sum(
        1 for e in ends if not any(e.start_s < end + tolerance and e.end_s > onset - tolerance
                                   for onset, end in dialogue.turns)
    )
    return result


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summary(values: list[float]) -> dict[str, float | None]:
    return {"median": percentile(values, 50), "p95": percentile(values, 95), "min": min(values, default=None),
            "max": max(values, default=None), "n": len(values)}


def end_of_turn_figures(dialogues: list[Dialogue], silences: list[float]) -> dict[str, Any]:
    """Part 1: the detector on every dialogue, at each trailing silence."""
    from inference import TurnDetector

    figures: dict[str, Any] = {}
    for silence in silences:
        detector = TurnDetector(SAMPLING_RATE, end_of_turn_silence_s=silence)
        total: dict[str, Any] = {"latencies_s": [], "onset_errors_s": [], "end_errors_s": [], "false_cuts": 0,
                                 "missed": 0, "spurious": 0, "detected": 0}
        frames, seconds = 0, 0.0
        for dialogue in dialogues:
            start = time.perf_counter()
            events = detector.process(dialogue.audio, chunk_s=0.02)
            seconds += time.perf_counter() - start
            frames += dialogue.audio.size // detector.frame_size
            for key, value in score_turns(events, dialogue).items():
                total[key] = total[key] + value
        questions = sum(len(d.turns) for d in dialogues)
        figures[f"{silence:.1f}"] = {
            "end_of_turn_silence_s": silence,
            "questions": questions,
            "end_of_turn_latency_s": summary(total["latencies_s"]),
            "onset_error_s": summary(total["onset_errors_s"]),
            "end_of_speech_error_s": summary(total["end_errors_s"]),
            "false_cuts": total["false_cuts"],
            "missed_questions": total["missed"],
            "spurious_turns": total["spurious"],
            "turns_detected": total["detected"],
            "ms_per_frame": 1000 * seconds / max(frames, 1),
        }
    return figures


class WebRTCVAD:
    """The WebRTC VAD (`webrtcvad-wheels`, not a dependency: only for the comparison) behind the
    `inference.VoiceActivityDetector` interface: 30 ms frames at 16 kHz, probability 0 or 1."""

    sampling_rate = SAMPLING_RATE
    frame_size = 480

    def __init__(self, mode: int):
        import webrtcvad

        self.mode = mode
        self.vad = webrtcvad.Vad(mode)

    def reset(self) -> None:
        import webrtcvad

        self.vad = webrtcvad.Vad(self.mode)

    def __call__(self, frame: np.ndarray) -> float:
        pcm = (np.clip(frame, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        return float(self.vad.is_speech(pcm, self.sampling_rate))


def speech_mask(dialogue: Dialogue, hop: int) -> np.ndarray:
    """Per `hop`-sample frame: whether the frame's middle lies in a question's speech (pauses excluded)."""
    middles = (np.arange(dialogue.audio.size // hop) + 0.5) * hop / dialogue.sampling_rate
    mask = np.zeros(middles.size, dtype=bool)
    for onset, end in dialogue.turns:
        mask |= (middles >= onset) & (middles < end)
    for start, end in dialogue.pauses:
        mask &= ~((middles >= start) & (middles < end))
    return mask


def vad_comparison(dialogues: list[Dialogue]) -> dict[str, Any]:
    """Part 0: frame-level F1 (10 ms resolution), cost per 32 ms of audio, and end-of-turn figures of the Silero VAD
    and the WebRTC VAD (modes 0-3) with the same `TurnDetector` defaults; WebRTC is skipped if not installed."""
    from inference import SileroVAD, TurnDetector

    candidates: dict[str, Any] = {"silero": SileroVAD}
    try:
        import webrtcvad  # noqa: F401
    except ImportError:
        print("  (webrtcvad-wheels is not installed: the comparison has Silero only)")
    else:
        candidates.update({f"webrtc_mode{mode}": (lambda m=mode: WebRTCVAD(m)) for mode in range(4)})
    figures: dict[str, Any] = {}
    for name, make in candidates.items():
        vad = make()
        tp = fp = fn = 0
        seconds, audio_s = 0.0, 0.0
        for dialogue in dialogues:
            vad.reset()
            frames = dialogue.audio[: dialogue.audio.size // vad.frame_size * vad.frame_size].reshape(-1,
                                                                                                    vad.frame_size)
            start = time.perf_counter()
            speech = np.array([vad(frame) >= 0.5 for frame in frames])
            seconds += time.perf_counter() - start
            audio_s += frames.size / SAMPLING_RATE
            truth = speech_mask(dialogue, 160)  # 10 ms frames, each judged by the VAD frame holding its middle
            which = ((np.arange(truth.size) + 0.5) * 160 // vad.frame_size).astype(int)
            truth, decided = truth[which < speech.size], speech[which[which < speech.size]]
            tp += int(np.sum(decided & truth))
            fp += int(np.sum(decided & ~truth))
            fn += int(np.sum(~decided & truth))
        total: dict[str, Any] = {"latencies_s": [], "false_cuts": 0, "missed": 0, "spurious": 0}
        detector = TurnDetector(SAMPLING_RATE, vad=make())
        for dialogue in dialogues:
            score = score_turns(detector.process(dialogue.audio), dialogue)
            for key in total:
                total[key] = total[key] + score[key]
        figures[name] = {
            "frame_f1": 2 * tp / max(1, 2 * tp + fp + fn),
            "frame_precision": tp / max(1, tp + fp),
            "frame_recall": tp / max(1, tp + fn),
            "ms_per_32ms_of_audio": 1000 * seconds / (audio_s / 0.032),
            "end_of_turn_latency_s": summary(total["latencies_s"]),
            "false_cuts": total["false_cuts"],
            "missed_questions": total["missed"],
            "spurious_turns": total["spurious"],
        }
        fig = figures[name]
        print(f"  VAD {name}: frame F1 {fig['frame_f1']:.3f} (P {fig['frame_precision']:.3f}, R "
              f"{fig['frame_recall']:.3f}), {fig['ms_per_32ms_of_audio']:.3f} ms per 32 ms; end of turn median "
              f"{_ms(fig['end_of_turn_latency_s']['median'])}, p95 {_ms(fig['end_of_turn_latency_s']['p95'])}; "
              f"false cuts {fig['false_cuts']}, missed {fig['missed_questions']}, spurious {fig['spurious_turns']}",
              flush=True)
    return figures


# --------------------------------------------------------------------------------------------------------------
# Barge-in
# --------------------------------------------------------------------------------------------------------------


class Player:
    """Reads a session's events in a thread, as an audio player would, noting when each one reached it."""

    def __init__(self, session: Any):
        self.received: list[tuple[float, Any]] = []
        self.first_audio = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(session,), name="player", daemon=True)
        self.thread.start()

    def _run(self, session: Any) -> None:
        for event in session.events():
            self.received.append((time.perf_counter(), event))
            if event.kind == "answer" and event.has_audio:
                self.first_audio.set()


def barge_in_trial(responder: Any, settings: Any, first: np.ndarray, second: np.ndarray, delay_s: float,
                   chunk_s: float = 0.02, timeout_s: float = 60.0) -> dict[str, Any]:
    """
    One barge-in: `first` is spoken, then silence until the answer's first audio chunk reached the player and
    `delay_s` more, then `second` (its first sample is its onset); all fed in real time in `chunk_s` chunks.
    """
    from inference import HandsFreeSession

    session = HandsFreeSession(responder, settings)
    player = Player(session)
    chunk = int(round(chunk_s * SAMPLING_RATE))
    silence = np.zeros(chunk, dtype=np.float32)
    start = time.perf_counter()
    fed = 0  # samples fed; each chunk is fed when the time it ends at has passed (a microphone)

    def feed(samples: np.ndarray) -> None:
        nonlocal fed
        fed += samples.size
        delay = start + fed / SAMPLING_RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        session.feed(samples)

    for begin in range(0, first.size, chunk):
        feed(first[begin : begin + chunk])
    deadline = time.perf_counter() + timeout_s
    while not player.first_audio.is_set():
        if time.perf_counter() > deadline:
            session.close()
            raise TimeoutError("no audio from the answer")
        feed(silence)
    for _ in range(int(round(delay_s / chunk_s))):
        feed(silence)
    answering_at_onset = session.answering
    onset_clock = start + fed / SAMPLING_RATE  # the instant the second question's first sample is spoken
    for begin in range(0, second.size, chunk):
        feed(second[begin : begin + chunk])
    session.wait(timeout_s)
    session.close()
    player.thread.join(timeout_s)

    received = player.received
    barge = [clock for clock, e in received if e.kind == "barge_in" and e.turn == 0]
    ended = [clock for clock, e in received if e.kind == "answer_end" and e.turn == 0]
    audio = [clock for clock, e in received if e.kind == "answer" and e.turn == 0 and e.has_audio]
    after_onset = [clock for clock in audio if clock >= onset_clock]
    after_barge = [clock for clock in audio if barge and clock > barge[0]]
    stop = max([*barge[:1], *after_onset], default=None)
    timeline = next((e.timeline for _, e in received if e.kind == "answer_end" and e.turn == 0), None)
    return {
        "answering_at_onset": answering_at_onset,
        "barged_in": bool(barge),
        "stop_s": None if stop is None else stop - onset_clock,
        "barge_in_event_s": barge[0] - onset_clock if barge else None,
        "last_audio_after_onset_s": after_onset[-1] - onset_clock if after_onset else None,
        "audio_chunks_after_barge_in": len(after_barge),
        "generation_ended_s": ended[0] - onset_clock if ended else None,
        "cancelled": bool(timeline is not None and timeline.cancelled),
        "answer_audio_s": None if timeline is None else timeline.audio_s,
    }


def barge_in_figures(trials: int, threads: int, questions: list[str], voices: list[Any], seed: int) -> dict[str, Any]:
    """Part 2: barge-in trials with the embedded llama-omni-tiny."""
    import torch

    from inference import GenerationSettings, Responder, load_model

    torch.set_num_threads(threads)
    model, processor = load_model(None, device="cpu")
    responder = Responder(model, processor)
    # long answers (200+ tokens): the answer is still being generated when the user speaks over it
    settings = GenerationSettings(chunk_size=10, max_new_tokens=256, min_new_tokens=200)
    rng = random.Random(seed)
    warm = voices[0].synthesize(questions[0])
    responder.reply(_one_turn(responder, warm), GenerationSettings(max_new_tokens=8))  # first-call costs
    results = []
    for trial in range(trials):
        first = speech_only(voices[trial % len(voices)].synthesize(questions[rng.randrange(len(questions))]))
        second = speech_only(voices[(trial + 1) % len(voices)].synthesize(questions[rng.randrange(len(questions))]))
        delay = rng.uniform(0.1, 0.8)
        result = barge_in_trial(responder, settings, at_level(first, -20), at_level(second, -20), delay)
        result["delay_after_first_audio_s"] = delay
        results.append(result)
        print(f"  barge-in trial {trial + 1}/{trials}: stop {_ms(result['stop_s'])}, generation ended "
              f"{_ms(result['generation_ended_s'])}, answering at onset: {result['answering_at_onset']}", flush=True)
    valid = [r for r in results if r["answering_at_onset"] and r["stop_s"] is not None]
    return {
        "threads": threads,
        "chunk_s": 0.02,
        "settings": {"chunk_size": 10, "max_new_tokens": 256, "min_new_tokens": 200},
        "trials": len(results),
        "valid_trials": len(valid),
        "stop_s": summary([r["stop_s"] for r in valid]),
        "barge_in_event_s": summary([r["barge_in_event_s"] for r in valid if r["barge_in_event_s"] is not None]),
        "generation_ended_s": summary([r["generation_ended_s"] for r in valid if r["generation_ended_s"] is not None]),
        "audio_chunks_after_barge_in": sum(r["audio_chunks_after_barge_in"] for r in results),
        "within_200ms": sum(1 for r in valid if r["stop_s"] <= 0.2),
        "per_trial": results,
    }


def _one_turn(responder: Any, audio: np.ndarray) -> Any:
    from inference import Conversation, Turn

    conversation = Conversation()
    conversation.add(Turn(responder.load_question((audio, SAMPLING_RATE))))
    return conversation


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000 * seconds:.0f} ms"


# --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=int, default=12, help="held-out dialogues of four questions (default 12)")
    parser.add_argument("--trials", type=int, default=12, help="barge-in trials (default 12)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the model (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-barge-in", action="store_true", help="only part 1 (no model)")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    from benchmarks.common import machine
    from offline_assets.tts import get_voice
    from processing.instructs2s.sources import read_seed_instructions

    questions = [r["instruction"] for r in read_seed_instructions("heldout")]
    voices = [get_voice(name) for name in HELDOUT_VOICES]
    started = time.perf_counter()
    dialogues = [random_dialogue(questions, voices, seed=args.seed * 1000 + i) for i in range(args.dialogues)]
    print(f"{len(dialogues)} held-out dialogues, {sum(d.seconds for d in dialogues):.0f} s, "
          f"{sum(len(d.turns) for d in dialogues)} questions, {sum(len(d.pauses) for d in dialogues)} pauses inside "
          f"questions, {sum(len(d.noise) for d in dialogues)} noise-only stretches", flush=True)
    vads = vad_comparison(dialogues)
    eot = end_of_turn_figures(dialogues, [0.7, 0.5, 1.0])
    for key, fig in eot.items():
        lat = fig["end_of_turn_latency_s"]
        print(f"  trailing silence {key} s: end-of-turn latency median {_ms(lat['median'])}, p95 {_ms(lat['p95'])}; "
              f"false cuts {fig['false_cuts']}, missed {fig['missed_questions']}, spurious {fig['spurious_turns']} "
              f"of {fig['questions']} questions; {fig['ms_per_frame']:.3f} ms per 32 ms frame", flush=True)
    results: dict[str, Any] = {
        "machine": machine(),
        "vad": "silero-vad 6.2.3 (ONNX, onnxruntime, 1 thread), TurnDetector defaults",
        "data": {"source": "seed instructions, split heldout", "voices": list(HELDOUT_VOICES),
                 "dialogues": len(dialogues), "seconds": sum(d.seconds for d in dialogues),
                 "questions": sum(len(d.turns) for d in dialogues),
                 "pauses_inside_questions": sum(len(d.pauses) for d in dialogues),
                 "noise_stretches": sum(len(d.noise) for d in dialogues),
                 "pause_inside_s": [0.3, 0.6], "pause_between_s": [1.0, 2.0]},
        "vad_comparison": vads,
        "end_of_turn": eot,
    }
    if not args.skip_barge_in:
        barge = barge_in_figures(args.trials, args.threads, questions, voices, args.seed)
        stop = barge["stop_s"]
        print(f"  barge-in ({barge['threads']} threads, {barge['valid_trials']}/{barge['trials']} valid trials): audio "
              f"stops {_ms(stop['median'])} median, {_ms(stop['p95'])} p95 after the onset; generation thread ended "
              f"{_ms(barge['generation_ended_s']['median'])} median; {barge['within_200ms']} within 200 ms; "
              f"{barge['audio_chunks_after_barge_in']} audio chunks after a barge-in", flush=True)
        results["barge_in"] = barge
    results["wall_s"] = time.perf_counter() - started
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {os.path.relpath(args.output, ROOT)}")
    return results


if __name__ == "__main__":
    main()
