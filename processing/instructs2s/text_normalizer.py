# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""A deterministic English text normalizer that makes LLM output speakable for a TTS voice.

InstructS2S (LLaMA-Omni, arXiv 2409.06666, section 3) asks the LLM to write instructions and responses "as
spoken": no symbols, numbers as words, no lists or markdown. Small LLMs break these rules often, so every
output goes through :func:`normalize_for_speech` afterwards, and :func:`check_speakable` rejects what is
still unspeakable.

What :func:`normalize_for_speech` does, in this order:

1. Markdown and HTML: fenced code blocks are dropped; tables, headers, bullets and numbered lists become
   sentences; links and images become their text; bold/italic/strike/inline-code marks are removed.
2. URLs are kept as they are (they cannot be spoken; :func:`check_speakable` rejects them); e-mail
   addresses are spelled ("ann at example dot com").
3. Abbreviations (e.g., i.e., etc., Dr., Mr., vs., w/ ...), dates, times (3:30 pm), currency ($5.50, EUR 3,
   GBP), percentages, numbers with units (km, kg, degrees C, mph ...), ordinals (1st, 22nd), fractions,
   ranges (3-5 -> three to five), decades, years (1999 -> nineteen ninety-nine), decimals, negative
   numbers and plain cardinals become words.
4. Symbols (&, %, +, =, @, #, /, ~, <, > ...) become words; parentheses and brackets become commas;
   emojis and other symbols are removed; accented Latin letters are folded to ASCII; whitespace and
   punctuation are tidied into one line.

Step 3 after the abbreviations is :func:`processing.instructs2s.spoken_numbers.say_numbers` (number words from
``inflect``); the rest is plain Python (``re`` and ``unicodedata``). The number-to-words functions are public (re-exported here).
"""

from __future__ import annotations

import html
import re
import unicodedata

from .spoken_numbers import (
    decimal_to_words,
    digits_to_words,
    number_to_words,
    ordinal_to_words,
    say_number,
    say_numbers,
    sentence_end_kept,
    year_to_words,
)

__all__ = [
    "check_speakable",
    "count_words",
    "decimal_to_words",
    "digits_to_words",
    "normalize_for_speech",
    "number_to_words",
    "ordinal_to_words",
    "year_to_words",
]

# ---------------------------------------------------------------------------------------------------------
# Tables and regular expressions
# ---------------------------------------------------------------------------------------------------------

# abbreviation (regex) -> spoken form; applied before numbers. "\b" boundaries are added around them.
_ABBREVIATIONS: list[tuple[str, str]] = [
    (r"e\.\s?g\.|e\.g(?=[\s,])", "for example"),
    (r"i\.\s?e\.|i\.e(?=[\s,])", "that is"),
    (r"etc\.?", "et cetera"),
    (r"a\.k\.a\.?|aka", "also known as"),
    (r"vs\.?", "versus"),
    (r"approx\.?", "approximately"),
    (r"esp\.", "especially"),
    (r"incl\.", "including"),
    (r"Dr\.", "Doctor"),
    (r"Mr\.", "Mister"),
    (r"Mrs\.", "Missus"),
    (r"Ms\.", "Miz"),
    (r"Prof\.", "Professor"),
    (r"Jr\.", "Junior"),
    (r"Sr\.", "Senior"),
    (r"Mt\.", "Mount"),
    (r"Ave\.", "Avenue"),
    (r"Blvd\.", "Boulevard"),
    (r"Dept\.", "Department"),
    (r"Govt\.?|govt\.?", "government"),
    (r"[Nn]o\.(?=\s?\d)", "number"),
    (r"Jan\.", "January"),
    (r"Feb\.", "February"),
    (r"Mar\.(?=\s?\d)", "March"),
    (r"Apr\.", "April"),
    (r"Aug\.", "August"),
    (r"Sept?\.", "September"),
    (r"Oct\.", "October"),
    (r"Nov\.", "November"),
    (r"Dec\.", "December"),
]
# titles stand before a name, so their period never ends the sentence
_TITLES = {"Doctor", "Mister", "Missus", "Miz", "Professor", "Mount"}
_ABBREVIATION_RES = [(re.compile(r"(?<![\w.])(?:" + p + r")(?!\w)"), spoken) for p, spoken in _ABBREVIATIONS]

# Characters an English TTS reads: ASCII letters, space and light punctuation.
_SPEAKABLE_PUNCTUATION = set(" .,!?;:'-")
_CODE_CHARS = set("{}[]<>`|\\=_*#$^~@&%+/()")

_URL_RE = re.compile(
    r"(?:https?://|ftp://|www\.)[^\s<>()\"']+"
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|gov|edu|ai|dev|co\.uk)\b(?:/[^\s<>()\"']*)?",
    re.IGNORECASE,
)
_EMAIL_RE = re.compile(r"\b([\w.+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b")
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n.*?(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_HTML_BREAK_RE = re.compile(r"<br\s*/?>|</?p>", re.IGNORECASE)
_HTML_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>")
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK_RE = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_CITATION_RE = re.compile(r"\[\^?\d+\]")
_INLINE_CODE_RE = re.compile(r"`+([^`]*)`+")
_EMPHASIS_RES = [
    re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*"),
    re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"),
    re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"),
    re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"),
    re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"),
]
_HEADER_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_RULE_RE = re.compile(r"^\s*(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,}|(?:=\s*){3,})$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+\u2022\u25e6\u25aa\u2023\u2043]|\d{1,3}[.)]|[a-z][.)](?=\s))\s+(?:\[[ xX]\]\s+)?")
_QUOTE_RE = re.compile(r"^\s*(?:>\s?)+")
_TABLE_SEPARATOR_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_TIMES_RE = re.compile(r"(?<=\d)\s?[x\u00d7*]\s?(?=\d)")
_SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


# ---------------------------------------------------------------------------------------------------------
# Normalizer
# ---------------------------------------------------------------------------------------------------------


def normalize_for_speech(text: str) -> str:
    """Rewrite `text` so that an English TTS can read it aloud, deterministically.

    Accepts any string (markdown, HTML fragments, emojis, numbers, symbols) and returns one line of plain
    words and light punctuation (``.,!?;:'-``). URLs and text in other scripts are kept so that
    :func:`check_speakable` can reject them; everything else is spoken or dropped (see the module
    docstring for the rules). Returns ``""`` for empty input. Raises ``TypeError`` if `text` is not a
    string.
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize_for_speech expects a str, got {type(text).__name__}")
    text = _prepare_unicode(text)
    text = _strip_markdown_blocks(text)
    text = _strip_markdown_inline(text)
    text = _EMAIL_RE.sub(lambda m: f"{m.group(1)} at {m.group(2)}".replace(".", " dot "), text)
    # URLs are kept verbatim (and flagged later by check_speakable); the rest is normalised piece by piece.
    pieces = []
    last = 0
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?")
        pieces.append(_normalize_words(text[last : match.start()]))
        pieces.append(" " + url + " ")
        last = match.start() + len(url)
    pieces.append(_normalize_words(text[last:]))
    return _tidy("".join(pieces))


def _prepare_unicode(text: str) -> str:
    text = html.unescape(unicodedata.normalize("NFC", text))
    for old, new in (
        ("\u2018", "'"), ("\u2019", "'"), ("\u02bc", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u00ab", '"'),
        ("\u00bb", '"'), ("\u2026", "..."), ("\u2212", "-"), ("\u2010", "-"), ("\u2011", "-"), ("\u00ad", ""),
        ("\u200b", ""), ("\ufeff", ""), ("\r\n", "\n"), ("\r", "\n"), ("\u00ba", "\u00b0"),
    ):  # fmt: skip
        text = text.replace(old, new)
    # vulgar fractions: "1½" -> "1 1/2"
    text = re.sub(r"(\d)([\u00bc-\u00be\u2150-\u215e])", r"\1 \2", text)
    text = re.sub(r"[\u00bc-\u00be\u2150-\u215e]", lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
    return text


def _strip_markdown_blocks(text: str) -> str:
    """Block-level markdown -> lines of plain sentences, joined into one paragraph string."""
    text = _FENCE_RE.sub("\n", text)
    text = _HTML_BREAK_RE.sub("\n", text)
    text = _HTML_TAG_RE.sub(" ", text)
    out: list[tuple[str, bool]] = []  # (line, is a sentence of its own)
    for raw_line in text.split("\n"):
        line = raw_line.rstrip()
        if not line.strip():
            out.append(("", True))
            continue
        if _RULE_RE.match(line) or ("|" in line and _TABLE_SEPARATOR_RE.match(line)):
            out.append(("", True))
            continue
        line = _QUOTE_RE.sub("", line)
        header = _HEADER_RE.match(line)
        if header:
            out.append((header.group(1), True))
            continue
        if line.count("|") >= 2 or (line.strip().startswith("|") and line.strip().endswith("|")):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            out.append((", ".join(c for c in cells if c), True))
            continue
        bullet = _BULLET_RE.match(line)
        if bullet:
            out.append((line[bullet.end() :], True))
            continue
        out.append((line.strip(), False))
    sentences: list[str] = []
    for i, (line, standalone) in enumerate(out):
        if not line:
            continue
        nxt = out[i + 1] if i + 1 < len(out) else None
        ends_here = standalone or (nxt is not None and (nxt[1] or not nxt[0]))
        if ends_here and not re.search(r"[.!?:;,]['\"]?$", line):
            line += "."
        sentences.append(line)
    return " ".join(sentences)


def _strip_markdown_inline(text: str) -> str:
    text = _IMAGE_RE.sub(r"\1", text)
    text = _LINK_RE.sub(r"\1", text)
    text = _REF_LINK_RE.sub(r"\1", text)
    text = _CITATION_RE.sub("", text)
    text = _INLINE_CODE_RE.sub(r"\1", text)
    text = _TIMES_RE.sub(" times ", text)  # "3*4" before "*" is read as emphasis
    for pattern in _EMPHASIS_RES:
        text = pattern.sub(r"\1", text)
    return text


def _normalize_words(text: str) -> str:
    if not text.strip():
        return text
    text = _SPACES_RE.sub(" ", text)
    text = _replace_abbreviations(text)
    text = say_numbers(text)
    text = _replace_symbols(text)
    text = _remove_unspeakable_symbols(text)
    return text


def _replace_abbreviations(text: str) -> str:
    text = re.sub(r"\bw/o(?!\w)", "without", text)
    text = re.sub(r"\bw/(?=\s)", "with", text)
    text = re.sub(r"\bb/c\b", "because", text)
    text = re.sub(r"\b24/7\b", "twenty-four seven", text)
    text = re.sub(r"\b([CF])#(?!\w)", r"\1 sharp", text)
    text = re.sub(r"\band/or\b", "and or", text)
    text = re.sub(r"\b([A-Za-z]+)\(s\)", r"\1s", text)
    # "St." is Saint before a name, Street otherwise
    text = re.sub(r"(?<![\w.])St\.(?=\s+[A-Z])", "Saint", text)
    text = re.sub(r"(?<![\w.])St\.", lambda m: sentence_end_kept(m, "Street"), text)
    for pattern, spoken in _ABBREVIATION_RES:
        if spoken in _TITLES:
            text = pattern.sub(spoken, text)
        else:
            text = pattern.sub(lambda m, s=spoken: sentence_end_kept(m, s), text)
    return text


_SYMBOL_WORDS: list[tuple[str, str]] = [
    (r"&", " and "),
    (r"\s?%", " percent "),
    (r"\+", " plus "),
    (r"\s?=\s?", " equals "),
    (r"@", " at "),
    (r"\u00d7", " times "),
    (r"\u00f7", " divided by "),
    (r"\u00b0", " degrees "),
    (r"\u00a7", " section "),
    (r"\u00b2", " squared "),
    (r"\u00b3", " cubed "),
    (r"(?<=[A-Za-z])\s?/\s?(?=[A-Za-z])", " or "),
    (r"/", " "),
    (r"#", " "),
    (r"~", " "),
    (r"\s[-\u2013\u2014]+\s|\u2014|\u2013|--+", ", "),
    (r"[(\[{]", ", "),
    (r"[)\]}]", ", "),
    (r"[|\\]", ", "),
    (r"[*_`<>^]", " "),
    (r'"', " "),
    (r"\$", " dollars "),
]
_SYMBOL_WORD_RES = [(re.compile(pattern), spoken) for pattern, spoken in _SYMBOL_WORDS]


def _replace_symbols(text: str) -> str:
    for pattern, spoken in _SYMBOL_WORD_RES:
        text = pattern.sub(spoken, text)
    return text


_FOLD_EXTRA = {"\u00df": "ss", "\u00e6": "ae", "\u00c6": "Ae", "\u0153": "oe", "\u0152": "Oe", "\u00f8": "o",
               "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D", "\u00f0": "d", "\u00fe": "th"}


def _remove_unspeakable_symbols(text: str) -> str:
    out = []
    for char in text:
        if char in _FOLD_EXTRA:
            out.append(_FOLD_EXTRA[char])
            continue
        if char.isascii():
            out.append(char if char.isprintable() or char == "\n" else " ")
            continue
        category = unicodedata.category(char)
        if category[0] == "L":
            folded = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(folded)  # a Latin letter becomes ASCII; other scripts stay (check_speakable flags them)
        elif category[0] == "N":
            folded = unicodedata.normalize("NFKC", char)
            out.append(f" {say_number(folded, False)} " if folded.isascii() and folded.isdigit() else " ")
        elif category[0] == "Z":
            out.append(" ")
        elif category in ("Pd",):
            out.append("-")
        elif category[0] == "P":
            out.append(" ")
        # symbols (emoji, math, currency, modifiers), marks and control/format characters are dropped
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([.,!?;:])", r"\1", text)
    text = re.sub(r"'\s*'", "'", text)
    text = re.sub(r"(?<![A-Za-z])'|'(?![A-Za-z])", "", text)  # quotes, not apostrophes
    text = re.sub(r",(?:\s*,)+", ",", text)
    text = re.sub(r"[,;:]+\s*(?=[.!?])", "", text)
    text = re.sub(r"([.!?])\s*[,;:]+", r"\1", text)
    text = re.sub(r"[:;]\s*[;,]+", lambda m: m.group(0)[0], text)
    text = re.sub(r",+\s*(?=[;:])", "", text)
    text = re.sub(r"!{2,}", "!", text)
    text = re.sub(r"\?{2,}", "?", text)
    text = re.sub(r"(?<!\.)\.\.(?!\.)", ".", text)
    text = re.sub(r"\.{4,}", "...", text)
    text = re.sub(r"([!?])\s*\.+", r"\1", text)
    text = re.sub(r"(?<!\.)\.\s+\.(?!\.)", ".", text)
    text = re.sub(r"([,;:!?])(?=[A-Za-z])", r"\1 ", text)
    text = re.sub(r"(?<=[a-z])\.(?=[A-Z][a-z])", ". ", text)
    text = re.sub(r"\s*-\s*(?=[.,!?;:]|$)", "", text)
    text = re.sub(r"(?<=[A-Za-z])-\s+(?=[A-Za-z])", "-", text)  # "COVID- nineteen" -> "COVID-nineteen"
    text = re.sub(r"(?:^|\s)-+(?=\s|$)", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^[\s.,;:!?\-]+", "", text)
    text = re.sub(r"[\s,;\-]+$", "", text)
    text = re.sub(r"[,;:]\s*$", "", text)
    return text


# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------

_CODE_PATTERNS = [
    re.compile(r"```"),
    re.compile(r"\b(?:def|class|function|import|return|lambda|var|const|let)\s+\w+\s*[\(=:{]"),
    re.compile(r"\w+\([^()]*\)\s*[;{:]"),
    re.compile(r"[;{]\s*$", re.MULTILINE),
    re.compile(r"=>|==|!=|->|\+\+|&&|\|\|"),
    re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?>"),
]
_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\-][A-Za-z0-9]+)*")
# on lower-cased words joined by spaces: a word or two said four times in a row, or a longer phrase three times
_REPEAT_RES = [
    re.compile(r"(?:^| )((?:[a-z0-9'-]+ ){1,2}?)\1{3,}"),
    re.compile(r"(?:^| )((?:[a-z0-9'-]+ ){3,8}?)\1{2,}"),
]


def count_words(text: str) -> int:
    """Number of words in `text` (letters/digits with inner apostrophes or hyphens)."""
    return len(_WORD_RE.findall(text))


def check_speakable(text: str, max_words: int | None = None) -> str | None:
    """Return ``None`` if `text` can be read aloud by an English TTS as is, else a short reason.

    Meant for the output of :func:`normalize_for_speech`. Reasons, in the order checked: ``"empty"``,
    ``"no words"``, ``"contains a URL"``, ``"looks like code"``, ``"contains digits"``,
    ``"contains symbols: ..."`` (markup or math symbols left), ``"contains characters an English TTS
    cannot read: ..."`` (other scripts, emojis), ``"repetitive"`` (a word or two said four times in a row,
    or a phrase of three to eight words three times: a typical small-LLM loop), ``"fragmented"`` (mostly
    one-word sentences, such as a numbered list that lost its items), ``"too long: N words > max_words"``.
    Accepts a string and an optional positive word limit; raises ``TypeError`` if `text` is not a string
    and ``ValueError`` if `max_words` is not positive.
    """
    if not isinstance(text, str):
        raise TypeError(f"check_speakable expects a str, got {type(text).__name__}")
    if max_words is not None and max_words <= 0:
        raise ValueError("max_words must be positive")
    stripped = text.strip()
    if not stripped:
        return "empty"
    if not re.search(r"[A-Za-z]", stripped) and not re.search(r"\w", stripped):
        return "no words"
    if _URL_RE.search(stripped):
        return "contains a URL"
    if any(p.search(stripped) for p in _CODE_PATTERNS):
        return "looks like code"
    if re.search(r"\d", stripped):
        return "contains digits"
    symbols = sorted({c for c in stripped if c in _CODE_CHARS})
    if symbols:
        return "contains symbols: " + " ".join(symbols)
    others = sorted({c for c in stripped if not (c.isascii() and (c.isalpha() or c in _SPEAKABLE_PUNCTUATION))})
    if others:
        shown = " ".join(repr(c) if not c.isprintable() or c.isspace() else c for c in others[:8])
        return "contains characters an English TTS cannot read: " + shown
    if not re.search(r"[A-Za-z]", stripped):
        return "no words"
    words = " ".join(_WORD_RE.findall(stripped.lower())) + " "
    if any(pattern.search(words) for pattern in _REPEAT_RES):
        return "repetitive"
    sentences = [s for s in re.split(r"[.!?]+", stripped) if s.strip()]
    one_word = sum(1 for s in sentences if count_words(s) <= 1)
    if one_word >= 4 and one_word * 2 > len(sentences):
        return "fragmented"
    if max_words is not None:
        n = count_words(stripped)
        if n > max_words:
            return f"too long: {n} words > {max_words}"
    return None
