# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Fast text -> Piper phonemes -> unit ids, the targets of llama-omni-tiny's speech decoder.

The units of llama-omni-tiny are the phoneme ids of the Piper voice "joe" (its `phoneme_id_map`: 151 ids, 0 = "_"
pad, 1 = "^" bos, 2 = "$" eos, then " ", punctuation and IPA symbols), WITHOUT the pads Piper intersperses and
without bos/eos: the vocoder adds them the way Piper was trained.

- :func:`speakable_text` drops what an LLM writes but nobody says (markdown marks, bullets, backticks, emoji,
  URLs...), keeping words, digits (espeak-ng reads them) and ordinary punctuation. Apply it before phonemizing.
- :class:`EspeakPhonemizer` gives the same phoneme string as `offline_assets.piper.PiperVoice.phonemize` (espeak-ng
  clauses in IPA, NFD, each followed by its punctuation) about a thousand times faster: it calls
  `espeak_TextToPhonemes` of Debian's `libespeak-ng.so.1` through ctypes, clause by clause, in this process, instead
  of starting the espeak-ng program for each text. Both run the same espeak-ng clause reader and translator; the
  test suite checks the equality on varied sentences.
- :func:`phonemes_to_units`, :func:`units_to_phonemes`, :func:`text_to_units`, :func:`load_phoneme_id_map`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from offline_assets.tts_base import TTSError, TTSUnavailableError, check_text


PAD, BOS, EOS = "_", "^", "$"
SPECIAL_SYMBOLS = (PAD, BOS, EOS)

# ----------------------------------------------------------------------------------------------------------------------
# the id map
# ----------------------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _read_id_map(config_path: str) -> tuple[tuple[str, int], ...]:
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    if "phoneme_id_map" not in config:
        raise ValueError(f"{config_path} is not a Piper voice config: it has no 'phoneme_id_map'")
    items = []
    for symbol, ids in config["phoneme_id_map"].items():
        if not isinstance(ids, list) or len(ids) != 1:
            raise ValueError(f"{config_path}: phoneme {symbol!r} maps to {ids!r}; only one id per phoneme is supported")
        items.append((symbol, int(ids[0])))
    return tuple(items)


def load_phoneme_id_map(config_path: str | os.PathLike | None = None) -> dict[str, int]:
    """The Piper voice's phoneme -> id map (one id per phoneme).

    Args:
        config_path: a Piper `.onnx.json` (default: the installed joe voice, `offline_assets.sources.piper_joe_files`).

    Raises:
        ModuleNotFoundError / FileNotFoundError: the joe voice package is not installed.
        ValueError: the json is not a Piper voice config with one id per phoneme.
    """
    if config_path is None:
        from offline_assets.sources import piper_joe_files

        config_path = piper_joe_files()[1]
    return dict(_read_id_map(os.path.abspath(os.fspath(config_path))))


def unit_vocab_size(id_map: dict[str, int] | None = None) -> int:
    """Number of unit ids (151 for joe): one more than the largest id; the CTC blank is this value."""
    id_map = load_phoneme_id_map() if id_map is None else id_map
    return max(id_map.values()) + 1


def phonemes_to_units(phonemes: str, id_map: dict[str, int] | None = None) -> list[int]:
    """The unit ids of a phoneme string: each character of its NFD form that is in the map, in order, without pads,
    bos or eos (Piper's ids are `[bos] + [id, pad] * n + [eos]` of these). Unmapped characters are skipped, as
    Piper does.

    Raises:
        TypeError: `phonemes` is not a str.
    """
    if not isinstance(phonemes, str):
        raise TypeError(f"phonemes must be a str, got {type(phonemes).__name__}")
    id_map = load_phoneme_id_map() if id_map is None else id_map
    return [id_map[ch] for ch in unicodedata.normalize("NFD", phonemes) if ch in id_map]


@functools.lru_cache(maxsize=8)
def _inverse(items: tuple[tuple[str, int], ...]) -> dict[int, str]:
    return {i: s for s, i in items}


def units_to_phonemes(ids: Iterable[int], id_map: dict[str, int] | None = None, keep_special: bool = False) -> str:
    """The phoneme string of unit ids (for debugging and phoneme error rates).

    Args:
        ids: unit ids (ints or 0-d tensors / numpy ints).
        id_map: the phoneme -> id map (default: joe's).
        keep_special: keep pad/bos/eos ("_", "^", "$") instead of skipping them.

    Raises:
        ValueError: an id is not in the map (accepted: the map's ids, 0..150 for joe; a CTC blank must be removed
            first).
    """
    id_map = load_phoneme_id_map() if id_map is None else id_map
    inverse = _inverse(tuple(sorted(id_map.items())))
    out = []
    for position, value in enumerate(ids):
        i = int(value)
        if i not in inverse:
            raise ValueError(f"unit id {i} at position {position} is not a phoneme id of the voice "
                             f"(accepted: {min(inverse)}..{max(inverse)})")
        symbol = inverse[i]
        if keep_special or symbol not in SPECIAL_SYMBOLS:
            out.append(symbol)
    return "".join(out)


# ----------------------------------------------------------------------------------------------------------------------
# speakable text
# ----------------------------------------------------------------------------------------------------------------------

_FENCED_BLOCK = re.compile(r"^\s*(```|~~~)[^\n]*\n.*?^\s*\1[^\n]*$", re.MULTILINE | re.DOTALL)
_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)")
_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"')\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]{0,80}>")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u25e6\u25aa\u2023\u2043]|>+)\s+", re.MULTILINE)
_HRULE = re.compile(r"^\s*(?:[-*_=]\s*){3,}$", re.MULTILINE)
_NUMBER_SIGN = re.compile(r"#(?=\d)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(?=\S)(.+?)(?<=\S)\1")
_DASH = re.compile(r"\s+-{1,2}\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_REPEATED_COMMA = re.compile(r"([,;:])(?:\s*[,;:])+")
_COMMA_BEFORE_END = re.compile(r"[,;:]\s*([.!?])")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)")
_LINE_END_PUNCT = re.compile(r"[.!?,;:]['\")\]]*$")
# Spoken by espeak-ng (and ordinary punctuation); any other symbol is dropped.
_KEPT_SYMBOLS = frozenset(".,;:!?'\"-()%$&+=/\u00a3\u20ac\u00a5\u00b0\u00d7\u00f7")
_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2026": "...", "\u2014": " -- ", "\u2015": " -- ", "\u2013": "-", "\u2011": "-", "\u2010": "-", "\u2212": "-", "\u00a0": " ", "\u2009": " ",
    "\u202f": " ", "\u200b": "", "\u200c": "", "\u200d": "", "\ufe0f": "", "\ufe0e": "", "\u00ad": "",
})


def _keep_char(ch: str) -> bool:
    if ch.isspace() or ch in _KEPT_SYMBOLS:
        return True
    category = unicodedata.category(ch)
    return category[0] in "LN" or (category[0] == "M" and category != "Me")


def speakable_text(text: str) -> str:
    """What of an LLM reply is said aloud: words, digits and ordinary punctuation, on one line.

    Fenced code blocks, markdown marks (`**`, `__`, `#` headings, bullets, `>` quotes, rules, table pipes, backticks),
    links (their text is kept), images, HTML tags, URLs, e-mail addresses, emoji and other symbols are dropped;
    "#1" becomes "number 1"; a line that ends without punctuation (a heading, a list item) and is followed by another gets a period so that it
    stays its own clause; dashes between words become commas; curly quotes become straight ones. Digits and the
    symbols espeak-ng reads (`% $ & + = / £ € ° × ÷`) stay: espeak-ng expands them as it speaks.

    Returns "" when nothing speakable is left.

    Raises:
        TypeError: `text` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"speakable_text expects a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).translate(_TRANSLATE).replace("\r\n", "\n").replace("\r", "\n")
    text = _FENCED_BLOCK.sub("", text)
    text = _FENCE.sub("", text)
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    text = _EMAIL.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    text = _HRULE.sub("", text)
    text = _HEADING.sub("", text)
    text = _BULLET.sub("", text)
    text = _NUMBER_SIGN.sub("number ", text)
    for _ in range(2):  # nested emphasis: ***a*** and **a _b_**
        text = _EMPHASIS.sub(r"\2", text)
    text = text.replace("|", " , ")
    text = "".join(ch if _keep_char(ch) else " " for ch in text)
    lines = [" ".join(line.split()).strip(" ,;:") for line in text.split("\n")]
    lines = [line for line in lines if any(ch.isalnum() for ch in line)]
    text = " ".join(line if k == len(lines) - 1 or _LINE_END_PUNCT.search(line) else line + "."
                    for k, line in enumerate(lines))
    text = _DASH.sub(", ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    text = " ".join(text.split())
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _REPEATED_COMMA.sub(r"\1", text)
    text = _COMMA_BEFORE_END.sub(r"\1", text)
    text = text.strip(" ,;:")
    return text if any(ch.isalnum() for ch in text) else ""


# ----------------------------------------------------------------------------------------------------------------------
# espeak-ng through ctypes
# ----------------------------------------------------------------------------------------------------------------------

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_PHONEMES_IPA = 0x02
_LIBRARY_NAMES = ("libespeak-ng.so.1", "libespeak-ng.so")

# espeak-ng keeps one global state (voice, text decoder): every call goes through this lock.
_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None
_LIB_PID: int | None = None
_CURRENT_VOICE: str | None = None
# Vowel letters of espeak-ng's IPA (a syllable nucleus starts at the first of a run of them: "oʊ", "aɪ").
_VOWELS = frozenset("aeiouyæɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵøœɶʉʊʌʏᵻ")
# Piper's clause marks: espeak-ng ends a clause at , . ; : ! ? followed by a space or the end of the text.
_CLAUSE_MARK = re.compile(r"([,.;:!?])[\"')\]]*(?=\s|$)")


def _load_library() -> ctypes.CDLL:
    """Loads and initialises libespeak-ng once per process (after a fork, the child initialises its own)."""
    global _LIB, _LIB_PID, _CURRENT_VOICE
    if _LIB is not None and _LIB_PID == os.getpid():
        return _LIB
    names = list(_LIBRARY_NAMES)
    found = ctypes.util.find_library("espeak-ng")
    if found:
        names.append(found)
    lib, errors = None, []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as e:
            errors.append(str(e))
    if lib is None:
        raise TTSUnavailableError("the espeak-ng library (libespeak-ng.so.1) is not installed: "
                                  "`apt-get install libespeak-ng1` (" + "; ".join(errors) + ")")
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0) <= 0:
        raise TTSError("libespeak-ng failed to initialise (is espeak-ng-data installed?)")
    _LIB, _LIB_PID, _CURRENT_VOICE = lib, os.getpid(), None
    return lib


def restore_clause_marks(text: str, clauses: Sequence[str]) -> str:
    """Joins espeak-ng's clauses the way `PiperVoice.phonemize` does: each clause followed by the text's clause
    punctuation when the counts agree, otherwise "," between clauses and "." at the end."""
    marks = _CLAUSE_MARK.findall(text)
    if len(marks) == len(clauses) - 1:
        marks.append("")
    if len(marks) != len(clauses):
        marks = [","] * (len(clauses) - 1) + ["."]
    return " ".join(clause + mark for clause, mark in zip(clauses, marks)).strip()


def promote_clause_stress(clause: str) -> str:
    """Gives a clause without primary stress the stress espeak-ng's synthesis path gives it: its last secondary
    stress becomes primary, or, without one, its last vowel gets primary stress ("ðə" -> "ðˈə", "həm" -> "hˈəm").

    The espeak-ng program (what `PiperVoice.phonemize` runs) prints phonemes after its intonation pass, which does
    this; `espeak_TextToPhonemes` returns them before it. Clauses with a primary stress are returned unchanged.
    """
    if "\u02c8" in clause:
        return clause
    secondary = clause.rfind("\u02cc")
    if secondary >= 0:
        return clause[:secondary] + "\u02c8" + clause[secondary + 1:]
    last = max((i for i, ch in enumerate(clause) if ch in _VOWELS), default=-1)
    if last < 0:
        return clause
    while last > 0 and clause[last - 1] in _VOWELS:
        last -= 1
    return clause[:last] + "\u02c8" + clause[last:]


class EspeakPhonemizer:
    """espeak-ng IPA phonemes as Piper expects them, from libespeak-ng in this process (thread-safe, fork-safe).

    Each clause comes from `espeak_TextToPhonemes` (IPA), then gets the stress fix of :func:`promote_clause_stress`
    so that it equals what the espeak-ng program prints; the clauses are joined with their punctuation by
    :func:`restore_clause_marks`, as `PiperVoice.phonemize` does.

    Args:
        voice: the espeak-ng voice (joe's json says "en-us").

    Raises:
        TTSUnavailableError: libespeak-ng is not installed (raised at construction).
        TTSError: it failed to initialise or does not know `voice`.
    """

    def __init__(self, voice: str = "en-us"):
        if not isinstance(voice, str) or not voice:
            raise ValueError(f"voice must be an espeak-ng voice name such as 'en-us', got {voice!r}")
        self.voice = voice
        with _LOCK:
            self._select_voice(_load_library())

    def _select_voice(self, lib: ctypes.CDLL) -> None:
        global _CURRENT_VOICE
        if _CURRENT_VOICE != self.voice:
            if lib.espeak_SetVoiceByName(self.voice.encode("utf-8")) != 0:
                raise TTSError(f"espeak-ng does not know the voice {self.voice!r}")
            _CURRENT_VOICE = self.voice

    def clauses(self, text: str) -> list[str]:
        """espeak-ng's IPA of each clause of `text` (NFD, stripped, empty clauses dropped), like
        `offline_assets.tts_base.espeak_phonemize`."""
        data = ctypes.create_string_buffer(text.encode("utf-8"))
        pointer = ctypes.c_void_p(ctypes.addressof(data))
        out = []
        with _LOCK:
            lib = _load_library()
            self._select_voice(lib)
            while pointer.value:
                before = pointer.value
                result = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _ESPEAK_CHARS_UTF8, _ESPEAK_PHONEMES_IPA)
                if result:
                    clause = unicodedata.normalize("NFD", result.decode("utf-8", "replace").strip())
                    if clause:
                        out.append(promote_clause_stress(clause))
                if pointer.value == before:  # no progress: never loop forever on a library quirk
                    break
        return out

    def phonemize(self, text: str) -> str:
        """The IPA of `text` exactly as `PiperVoice.phonemize` gives it (clauses with their punctuation, NFD).

        Raises:
            TypeError: not a str. ValueError: no letter or digit in `text`.
        """
        text = check_text(text)
        return restore_clause_marks(text, self.clauses(text))

    def phonemize_batch(self, texts: Sequence[str]) -> list[str]:
        """`phonemize` of each text, in order (about 0.1 ms per sentence)."""
        return [self.phonemize(t) for t in texts]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(voice={self.voice!r})"


@functools.lru_cache(maxsize=4)
def default_phonemizer(voice: str = "en-us") -> EspeakPhonemizer:
    """A shared :class:`EspeakPhonemizer` for `voice`."""
    return EspeakPhonemizer(voice)


def text_to_units(text: str, id_map: dict[str, int] | None = None, voice: str = "en-us") -> tuple[str, str, list[int]]:
    """`speakable_text`, then phonemes, then unit ids.

    Returns:
        `(speakable, phonemes, units)`.

    Raises:
        ValueError: nothing speakable in `text`. TypeError: not a str.
    """
    speakable = speakable_text(text)
    if not speakable:
        raise ValueError(f"nothing speakable in {text[:80]!r}: no word or digit is left after speakable_text")
    phonemes = default_phonemizer(voice).phonemize(speakable)
    return speakable, phonemes, phonemes_to_units(phonemes, id_map)


SILENT_SYMBOLS = frozenset("!'(),-.:;?#\"")
"""Symbols of the id map that are written but not heard as a sound of their own (punctuation); with pad, bos and eos
they are left out of `spoken_units`."""


def spoken_units(text: str, id_map: dict[str, int] | None = None, voice: str = "en-us") -> list[int]:
    """The unit ids of what a listener hears in `text`: `text_to_units` without punctuation (`SILENT_SYMBOLS`) and
    without pad, bos or eos; word spaces, stress and length marks stay. The phoneme targets of the phonetic speech
    adaptor. An empty list when nothing in `text` is speakable.

    Raises:
        TypeError: `text` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    id_map = load_phoneme_id_map() if id_map is None else id_map
    silent = {i for symbol, i in id_map.items() if symbol in SILENT_SYMBOLS or symbol in SPECIAL_SYMBOLS}
    speakable = speakable_text(text)
    if not speakable:
        return []
    return [u for u in phonemes_to_units(default_phonemizer(voice).phonemize(speakable), id_map) if u not in silent]


def token_unit_table(
    tokenizer: Any, vocab_size: int | None = None, slots: int = 12, id_map: dict[str, int] | None = None,
    voice: str = "en-us",
) -> list[list[int]]:
    """
    Each text token's units said on its own: the pronunciation table of a speech decoder with
    `speech_decoder_token_phonemes` (`LlamaOmniTokenPhonemes.set_table`).

    A token that starts a word (leading space) begins with the space unit; a word or word piece gets espeak-ng's
    phonemes of :func:`speakable_text` of it (digits are read out: "5" -> "fˈaɪv"); a punctuation token gets the
    units of its marks that the id map knows; special tokens, whitespace and pieces of a UTF-8 character get none.
    Pronunciations longer than `slots` are cut. The table is a prior: a word piece said alone is not always said
    that way inside its word, and the decoder learns the difference from its corpus.

    Args:
        tokenizer: the LLM's tokenizer (`convert_ids_to_tokens`, `convert_tokens_to_string`, `all_special_ids`).
        vocab_size: rows of the table (default `len(tokenizer)`); ids the tokenizer does not know get none.
        slots: the most units per token.
        id_map: the phoneme id map (default: Piper joe's).
        voice: the espeak-ng voice.

    Returns:
        `vocab_size` lists of at most `slots` unit ids.
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"slots must be a positive int, got {slots!r}")
    id_map = id_map or load_phoneme_id_map()
    vocab_size = len(tokenizer) if vocab_size is None else vocab_size
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    space = id_map[" "]
    table: list[list[int]] = []
    for token_id in range(vocab_size):
        units: list[int] = []
        piece = tokenizer.convert_ids_to_tokens(token_id) if token_id < len(tokenizer) else None
        text = tokenizer.convert_tokens_to_string([piece]) if piece is not None and token_id not in special else ""
        core = text.strip()
        if core and "\ufffd" not in core:
            if not any(ch.isalnum() for ch in core):
                units = [id_map[ch] for ch in core if ch in id_map and ch not in SPECIAL_SYMBOLS and ch != " "]
            else:
                try:
                    units = text_to_units(core, id_map, voice)[2]
                except ValueError:
                    units = []
                if units and text[:1] == " ":
                    units = [space] + units
        table.append(units[:slots])
    return table


__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "EspeakPhonemizer",
    "default_phonemizer",
    "load_phoneme_id_map",
    "phonemes_to_units",
    "promote_clause_stress",
    "restore_clause_marks",
    "SILENT_SYMBOLS",
    "speakable_text",
    "spoken_units",
    "text_to_units",
    "token_unit_table",
    "unit_vocab_size",
    "units_to_phonemes",
]
