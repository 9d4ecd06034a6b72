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

Everything is plain Python (``re`` and ``unicodedata``); the number-to-words functions are public.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable

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
# Numbers to words
# ---------------------------------------------------------------------------------------------------------

_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")]
_MAX_CARDINAL = 10**15  # below a quadrillion; longer digit strings are read digit by digit
_IRREGULAR_ORDINALS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
    "twelve": "twelfth",
}  # fmt: skip
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


def number_to_words(n: int) -> str:
    """Say an integer in American English: ``121`` -> ``"one hundred twenty-one"``, ``-3`` -> ``"minus three"``.

    Accepts any ``int`` with ``abs(n) < 10**15``. Raises ``TypeError`` for a non-integer (bools included)
    and ``ValueError`` for larger magnitudes (read those with :func:`digits_to_words`).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number_to_words expects an int, got {type(n).__name__}")
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= _MAX_CARDINAL:
        raise ValueError(f"{n} is too large to say as a cardinal; read it digit by digit")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("-" + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + number_to_words(rest) if rest else "")
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return number_to_words(head) + " " + name + (" " + number_to_words(rest) if rest else "")
    raise AssertionError("unreachable")


def _ordinal_word(word: str) -> str:
    if word in _IRREGULAR_ORDINALS:
        return _IRREGULAR_ORDINALS[word]
    if word.endswith("y"):
        return word[:-1] + "ieth"
    return word + "th"


def ordinal_to_words(n: int) -> str:
    """Say an ordinal: ``1`` -> ``"first"``, ``22`` -> ``"twenty-second"``, ``100`` -> ``"one hundredth"``.

    Accepts an ``int`` with ``0 <= n < 10**15``; raises ``TypeError``/``ValueError`` otherwise.
    """
    if isinstance(n, int) and not isinstance(n, bool) and n < 0:
        raise ValueError("ordinals are not negative")
    words = number_to_words(n)
    head, sep, last = words.rpartition(" ")
    if "-" in last:
        tens, _, ones = last.partition("-")
        last = tens + "-" + _ordinal_word(ones)
    else:
        last = _ordinal_word(last)
    return head + sep + last


def year_to_words(year: int) -> str:
    """Say a year as people do: ``1999`` -> ``"nineteen ninety-nine"``, ``2024`` -> ``"twenty twenty-four"``,
    ``1905`` -> ``"nineteen oh five"``, ``1900`` -> ``"nineteen hundred"``, ``2005`` -> ``"two thousand five"``.

    Accepts an ``int`` in ``0 .. 9999`` (years below 1000 and round thousands are read as cardinals);
    raises ``TypeError`` for a non-integer and ``ValueError`` outside that range.
    """
    if isinstance(year, bool) or not isinstance(year, int):
        raise TypeError(f"year_to_words expects an int, got {type(year).__name__}")
    if not 0 <= year <= 9999:
        raise ValueError(f"year {year} is outside 0..9999")
    if year < 1000 or year % 1000 == 0 or 2000 < year < 2010:
        return number_to_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return number_to_words(high) + " hundred"
    if low < 10:
        return number_to_words(high) + " oh " + _ONES[low]
    return number_to_words(high) + " " + number_to_words(low)


def digits_to_words(digits: str) -> str:
    """Read a string of digits one by one: ``"007"`` -> ``"zero zero seven"``. Raises ``ValueError`` if
    `digits` holds anything but ASCII digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not a digit string: {digits!r}")
    return " ".join(_ONES[int(d)] for d in digits)


def decimal_to_words(number: str) -> str:
    """Say a number written in digits, with optional sign, thousands commas and decimals:
    ``"3.14"`` -> ``"three point one four"``, ``"-0.5"`` -> ``"minus zero point five"``,
    ``"1,250"`` -> ``"one thousand two hundred fifty"``, ``"007"`` -> ``"zero zero seven"``.

    Raises ``ValueError`` if `number` is not of that form.
    """
    match = re.fullmatch(r"([-+\u2212]?)(\d[\d,]*|)(?:\.(\d+))?", number.strip())
    if not match or not (match.group(2) or match.group(3)):
        raise ValueError(f"not a number: {number!r}")
    sign, whole, fraction = match.groups()
    whole = whole.replace(",", "")
    if not whole:
        words = "point " + digits_to_words(fraction)
    else:
        if len(whole) > 1 and whole.startswith("0") and fraction is None:
            words = digits_to_words(whole)
        elif len(whole) > 15:
            words = digits_to_words(whole)
        else:
            words = number_to_words(int(whole))
        if fraction is not None:
            words += " point " + digits_to_words(fraction)
    if sign in ("-", "\u2212"):
        words = "minus " + words
    elif sign == "+":
        words = "plus " + words
    return words


def _is_year_like(token: str) -> bool:
    return re.fullmatch(r"1[1-9]\d\d|20\d\d", token) is not None


def _say_number(token: str, years: bool = True) -> str:
    """A number token (``"1,200"``, ``"3.5"``, ``"-4"``, ``"1999"``) in words; bare 4-digit values in
    1100..2099 are read as years when `years` is true."""
    bare = token.lstrip("-+\u2212")
    if years and bare == token and _is_year_like(token):
        return year_to_words(int(token))
    return decimal_to_words(token)


def _plural_number_word(words: str) -> str:
    """``"nineteen ninety"`` -> ``"nineteen nineties"``, ``"six"`` -> ``"sixes"``."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith(("x", "s")):
        return words + "es"
    return words + "s"


# ---------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------

# symbol -> (singular, plural, minor unit singular, minor unit plural)
_CURRENCY_SYMBOLS = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "\u20ac": ("euro", "euros", "cent", "cents"),
    "\u00a3": ("pound", "pounds", "penny", "pence"),
    "\u00a5": ("yen", "yen", None, None),
    "\u20b9": ("rupee", "rupees", "paisa", "paise"),
}
_MAGNITUDES = {
    "k": "thousand", "K": "thousand", "thousand": "thousand",
    "m": "million", "M": "million", "mn": "million", "million": "million",
    "b": "billion", "B": "billion", "bn": "billion", "billion": "billion",
    "t": "trillion", "T": "trillion", "tn": "trillion", "trillion": "trillion",
}  # fmt: skip

# unit written after a number -> (singular, plural). Matched case-sensitively, longest first.
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "m/s": ("meter per second", "meters per second"),
    "kmh": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "mpg": ("mile per gallon", "miles per gallon"),
    "bpm": ("beat per minute", "beats per minute"),
    "rpm": ("revolution per minute", "revolutions per minute"),
    "ppm": ("part per million", "parts per million"),
    "km\u00b2": ("square kilometer", "square kilometers"),
    "m\u00b2": ("square meter", "square meters"),
    "cm\u00b2": ("square centimeter", "square centimeters"),
    "m\u00b3": ("cubic meter", "cubic meters"),
    "cm\u00b3": ("cubic centimeter", "cubic centimeters"),
    "sq ft": ("square foot", "square feet"),
    "sq m": ("square meter", "square meters"),
    "sq mi": ("square mile", "square miles"),
    "fl oz": ("fluid ounce", "fluid ounces"),
    "\u00b0C": ("degree Celsius", "degrees Celsius"),
    "\u00b0F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "\u00b0K": ("kelvin", "kelvins"),
    "\u00b0": ("degree", "degrees"),
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "m": ("meter", "meters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"),
    "mg": ("milligram", "milligrams"),
    "g": ("gram", "grams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "kcal": ("kilocalorie", "kilocalories"),
    "cal": ("calorie", "calories"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "kW": ("kilowatt", "kilowatts"),
    "W": ("watt", "watts"),
    "V": ("volt", "volts"),
    "mAh": ("milliamp hour", "milliamp hours"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "dB": ("decibel", "decibels"),
    "ms": ("millisecond", "milliseconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "s": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "wk": ("week", "weeks"),
    "wks": ("week", "weeks"),
    "yr": ("year", "years"),
    "yrs": ("year", "years"),
    "USD": ("US dollar", "US dollars"),
    "EUR": ("euro", "euros"),
    "GBP": ("pound", "pounds"),
    "k": ("thousand", "thousand"),
    "x": ("times", "times"),
}

# words that may follow a slash and mean "per": "$15/hour", "3 times/week"
_PER_WORDS = {
    "hour", "hr", "h", "day", "week", "wk", "month", "year", "yr", "minute", "min", "second", "sec", "s",
    "person", "serving", "night", "kg", "lb", "mile", "km", "liter", "gallon", "unit", "piece", "item",
}  # fmt: skip

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

# ---------------------------------------------------------------------------------------------------------
# Regular expressions
# ---------------------------------------------------------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_SNUM = r"(?:[-\u2212]?" + _NUM + r")"
_LEFT = r"(?<![\w.,\-/])"  # a number that is not glued to a word, a decimal point or a hyphen on its left
_RIGHT = r"(?![\d])"

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

_MONTH_ALT = "|".join(_MONTHS)
_ISO_DATE_RE = re.compile(_LEFT + r"(\d{4})-(\d{2})-(\d{2})" + r"(?![\w-])")
_SLASH_DATE_RE = re.compile(_LEFT + r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})" + r"(?![\w/])")
_MONTH_DAY_RE = re.compile(r"\b(" + _MONTH_ALT + r")\s+(\d{1,2})(?:st|nd|rd|th)?(?![\d:])\b")
_DAY_MONTH_RE = re.compile(
    r"(?P<the>\b[Tt]he\s+)?" + _LEFT + r"(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(" + _MONTH_ALT + r")\b"
)
_AMPM = r"(?P<ampm>[AaPp]\.?\s?[Mm]\b\.?)"
_CLOCK_RE = re.compile(
    _LEFT + r"(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)(?::(?P<s>[0-5]\d))?" + r"(?:\s?" + _AMPM + r")?(?![\d:])"
)
_HOUR_AMPM_RE = re.compile(_LEFT + r"(?P<h>1[0-2]|0?[1-9])\s?" + _AMPM)
_TIME_RANGE_AMPM_RE = re.compile(r"(?<=\d)(\s?[AaPp]\.?[Mm]\.?)?\s?[-\u2013]\s?(?=\d{1,2}(?::\d\d)?\s?[AaPp]\.?[Mm]\b)")
_TIME_RANGE_CLOCK_RE = re.compile(r"(\b\d{1,2}:\d\d)\s?[-\u2013]\s?(?=\d{1,2}:\d\d\b)")
_RATIO_RE = re.compile(_LEFT + r"(\d+):(\d+)" + _RIGHT)
_PHONE_RE = re.compile(r"(?<![\w-])(?:\((\d{3})\)\s?|(\d{3})[-.])(\d{3})[-.](\d{4})(?![\w-])")
_CURRENCY_SYMBOL_ALT = "".join(re.escape(s) for s in _CURRENCY_SYMBOLS)
_MAGNITUDE = r"(?:\s?(?:thousand|million|billion|trillion)\b|(?:k|K|m|M|mn|b|B|bn|t|T|tn)(?![A-Za-z]))"
_CURRENCY_RE = re.compile(
    r"(?P<neg>[-\u2212])?(?P<sym>[" + _CURRENCY_SYMBOL_ALT + r"])\s?(?P<a>" + _NUM + r")(?P<amag>" + _MAGNITUDE + r")?"
    r"(?:\s?(?:[-\u2013]|to)\s?(?P=sym)?\s?(?P<b>" + _NUM + r")(?P<bmag>" + _MAGNITUDE + r")?)?" + _RIGHT
)
_CURRENCY_AFTER_RE = re.compile(_LEFT + r"(?P<a>" + _NUM + r")\s?(?P<sym>[" + _CURRENCY_SYMBOL_ALT + r"])")
_PERCENT_RE = re.compile(
    _LEFT + r"(?P<a>" + _SNUM + r")\s?%?(?:\s?(?:[-\u2013]|to)\s?(?P<b>" + _SNUM + r"))?\s?%"
)
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_UNIT_RE = re.compile(
    _LEFT + r"(?P<a>" + _SNUM + r")(?:\s?(?:[-\u2013]|to)\s?(?P<b>" + _SNUM + r"))?\s?(?P<unit>" + _UNIT_ALT + r")"
    r"(?![A-Za-z\d\u00b2\u00b3])"
)
_ORDINAL_RE = re.compile(_LEFT + r"(\d{1,15})(?:st|nd|rd|th|ST|ND|RD|TH)\b")
_MIXED_FRACTION_RE = re.compile(_LEFT + r"(\d+)\s+(\d+)\s?[/\u2044]\s?(\d+)(?![\w/])")
_FRACTION_RE = re.compile(_LEFT + r"(\d+)\s?[/\u2044]\s?(\d+)(?![\w/\u2044])")
_DECADE_RE = re.compile(r"(?<![\w'])(1[1-9]\d0|20\d0)'?s\b")
_SHORT_DECADE_RE = re.compile(r"(?<![\w])['\u2019]?([1-9]0)'?s\b")
_RANGE_RE = re.compile(_LEFT + r"(" + _SNUM + r")\s?[-\u2013]\s?(" + _NUM + r")(?![\w-])")
_TIMES_RE = re.compile(r"(?<=\d)\s?[x\u00d7*]\s?(?=\d)")
_NUMBER_RE = re.compile(r"(?<![\w.])[-\u2212](?=\d)" + _NUM + r"|\.\d+(?=\s|$)|" + _NUM)

# "$15/hour", "5 km/day", "3 times/week": a slash before a time or measure word reads "per"
_PER_RE = re.compile(r"(?<=[\w$%])\s?/\s?(" + "|".join(sorted(_PER_WORDS, key=len, reverse=True)) + r")\b")
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


def _padded(say: Callable[[re.Match], str]) -> Callable[[re.Match], str]:
    """Wrap a replacement so that the spoken words are separated by one space from a letter or digit that
    touches the match, and glued to anything else ("5-year-old" -> "five-year-old", "4G" -> "four G")."""

    def replace(match: re.Match) -> str:
        spoken = say(match).strip()
        if spoken == match.group(0):
            return spoken
        before = match.string[match.start() - 1] if match.start() > 0 else ""
        after = match.string[match.end()] if match.end() < len(match.string) else ""
        return (" " if before.isalnum() else "") + spoken + (" " if after.isalnum() else "")

    return replace


def _sentence_end_kept(match: re.Match, spoken: str) -> str:
    """Keep the period an abbreviation swallowed when it also ended the sentence."""
    if not match.group(0).endswith("."):
        return spoken
    rest = match.string[match.end() :]
    if not rest.strip() or re.match(r"\s+[A-Z]", rest):
        return spoken + "."
    return spoken


def _normalize_words(text: str) -> str:
    if not text.strip():
        return text
    text = _SPACES_RE.sub(" ", text)
    text = _replace_abbreviations(text)
    text = _replace_dates(text)
    text = _replace_times(text)
    text = _PHONE_RE.sub(_say_phone, text)
    text = _CURRENCY_RE.sub(_say_currency, text)
    text = _CURRENCY_AFTER_RE.sub(_say_currency_after, text)
    text = _PERCENT_RE.sub(_say_percent, text)
    text = _replace_symbols_before_numbers(text)
    text = _DECADE_RE.sub(_padded(lambda m: _plural_number_word(year_to_words(int(m.group(1))))), text)
    text = _SHORT_DECADE_RE.sub(_padded(lambda m: _plural_number_word(number_to_words(int(m.group(1))))), text)
    text = _ORDINAL_RE.sub(_padded(lambda m: ordinal_to_words(int(m.group(1)))), text)
    text = _MIXED_FRACTION_RE.sub(_say_mixed_fraction, text)
    text = _FRACTION_RE.sub(_padded(lambda m: _say_fraction(m.group(1), m.group(2))), text)
    text = _UNIT_RE.sub(_say_unit, text)
    text = _PER_RE.sub(r" per \1", text)
    text = _RANGE_RE.sub(_padded(lambda m: f"{_say_number(m.group(1))} to {_say_number(m.group(2))}"), text)
    text = _NUMBER_RE.sub(_padded(lambda m: _say_number(m.group(0))), text)
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
    text = re.sub(r"(?<![\w.])St\.", lambda m: _sentence_end_kept(m, "Street"), text)
    for pattern, spoken in _ABBREVIATION_RES:
        if spoken in _TITLES:
            text = pattern.sub(spoken, text)
        else:
            text = pattern.sub(lambda m, s=spoken: _sentence_end_kept(m, s), text)
    return text


def _replace_dates(text: str) -> str:
    def iso(m: re.Match) -> str:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        return f" {_MONTHS[month - 1]} {ordinal_to_words(day)}, {year_to_words(year)} "

    def slash(m: re.Match) -> str:
        first, second, year = int(m.group(1)), int(m.group(2)), m.group(3)
        month, day = (first, second) if first <= 12 else (second, first)  # US order unless impossible
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        year_value = int(year) if len(year) == 4 else 2000 + int(year)  # "24" -> 2024
        return f" {_MONTHS[month - 1]} {ordinal_to_words(day)}, {year_to_words(year_value)} "

    def month_day(m: re.Match) -> str:
        return f"{m.group(1)} {ordinal_to_words(int(m.group(2)))}" if 1 <= int(m.group(2)) <= 31 else m.group(0)

    def day_month(m: re.Match) -> str:
        if not 1 <= int(m.group(2)) <= 31:
            return m.group(0)
        return f"{m.group('the') or 'the '}{ordinal_to_words(int(m.group(2)))} of {m.group(3)}"

    text = _ISO_DATE_RE.sub(_padded(iso), text)
    text = _SLASH_DATE_RE.sub(_padded(slash), text)
    text = _MONTH_DAY_RE.sub(month_day, text)
    return _DAY_MONTH_RE.sub(day_month, text)


def _say_ampm(raw: str | None, match: re.Match) -> str:
    if not raw:
        return ""
    spoken = " AM" if raw[0] in "Aa" else " PM"
    return _sentence_end_kept(match, spoken) if raw.endswith(".") else spoken


def _replace_times(text: str) -> str:
    def clock(m: re.Match) -> str:
        hours, minutes, seconds = int(m.group("h")), int(m.group("m")), m.group("s")
        ampm = m.group("ampm")
        if seconds is not None and not ampm:  # a duration such as 1:30:15
            parts = [f"{number_to_words(hours)} hour{'s' if hours != 1 else ''}"] if hours else []
            if minutes:
                parts.append(f"{number_to_words(minutes)} minute{'s' if minutes != 1 else ''}")
            secs = int(seconds)
            if secs or not parts:
                parts.append(f"{number_to_words(secs)} second{'s' if secs != 1 else ''}")
            return " " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]) + " "
        spoken = number_to_words(hours)
        if minutes == 0:
            spoken += "" if ampm else " o'clock"
        elif minutes < 10:
            spoken += " oh " + _ONES[minutes]
        else:
            spoken += " " + number_to_words(minutes)
        return " " + spoken + _say_ampm(ampm, m) + " "

    def hour(m: re.Match) -> str:
        return number_to_words(int(m.group("h"))) + _say_ampm(m.group("ampm"), m)

    def ratio(m: re.Match) -> str:
        return f"{_say_number(m.group(1), False)} to {_say_number(m.group(2), False)}"

    text = _TIME_RANGE_AMPM_RE.sub(r"\1 to ", text)  # "9am-5pm" -> "9am to 5pm"
    text = _TIME_RANGE_CLOCK_RE.sub(r"\1 to ", text)  # "3:30-4:30" -> "3:30 to 4:30"
    text = _CLOCK_RE.sub(_padded(clock), text)
    text = _HOUR_AMPM_RE.sub(_padded(hour), text)
    return _RATIO_RE.sub(_padded(ratio), text)


@_padded
def _say_phone(m: re.Match) -> str:
    return ", ".join(digits_to_words(g) for g in m.groups() if g)


def _say_money(number: str, magnitude: str | None, names: tuple, with_name: bool = True) -> str:
    """An amount of money in words, e.g. ("5.50", None, dollar names) -> "five dollars and fifty cents";
    without the currency name when `with_name` is false (the low end of a range)."""
    singular, plural, minor, minor_plural = names
    mag = _MAGNITUDES.get((magnitude or "").strip())
    if mag:
        return f"{decimal_to_words(number)} {mag}" + (f" {plural}" if with_name else "")
    clean = number.replace(",", "")
    whole, _, cents = clean.partition(".")
    if cents and minor and len(cents) <= 2:
        cents_value, whole_value = int(cents.ljust(2, "0")), int(whole or "0")
        major = f"{number_to_words(whole_value)} {singular if whole_value == 1 else plural}"
        minor_words = f"{number_to_words(cents_value)} {minor if cents_value == 1 else minor_plural}"
        if whole_value == 0:
            return minor_words
        return major if cents_value == 0 else f"{major} and {minor_words}"
    words = decimal_to_words(number)
    if not with_name:
        return words
    return f"{words} {singular if clean == '1' else plural}"


@_padded
def _say_currency(m: re.Match) -> str:
    names = _CURRENCY_SYMBOLS[m.group("sym")]
    prefix = "minus " if m.group("neg") else ""
    if m.group("b"):  # a range: "five to ten dollars", or in full when cents are involved
        has_cents = "." in m.group("a") + m.group("b") and not (m.group("amag") or m.group("bmag"))
        low = _say_money(m.group("a"), m.group("amag"), names, with_name=has_cents)
        return f"{prefix}{low} to {_say_money(m.group('b'), m.group('bmag'), names)}"
    return prefix + _say_money(m.group("a"), m.group("amag"), names)


@_padded
def _say_currency_after(m: re.Match) -> str:
    return _say_money(m.group("a"), None, _CURRENCY_SYMBOLS[m.group("sym")])


@_padded
def _say_percent(m: re.Match) -> str:
    if m.group("b"):
        return f"{_say_number(m.group('a'), False)} to {_say_number(m.group('b'), False)} percent"
    return f"{_say_number(m.group('a'), False)} percent"


@_padded
def _say_mixed_fraction(m: re.Match) -> str:
    return f"{_say_number(m.group(1), False)} and {_say_fraction(m.group(2), m.group(3))}"


@_padded
def _say_unit(m: re.Match) -> str:
    singular, plural = _UNITS[m.group("unit")]
    high = m.group("b") or m.group("a")
    one = high.lstrip("-\u2212") in ("1",)
    name = singular if one else plural
    if m.group("b"):
        return f" {_say_number(m.group('a'), False)} to {_say_number(m.group('b'), False)} {name} "
    return f" {_say_number(m.group('a'), False)} {name} "


_FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _say_fraction(numerator: str, denominator: str) -> str:
    num, den = int(numerator), int(denominator)
    if den == 0 or den > 100 or num > 1000:
        return f"{_say_number(numerator, False)} over {_say_number(denominator, False)}"
    if den == 1:
        return f"{number_to_words(num)} over one"
    if den in _FRACTION_NAMES:
        singular, plural = _FRACTION_NAMES[den]
    else:
        singular = ordinal_to_words(den)
        plural = singular + "s"
    return f"{number_to_words(num)} {singular if num == 1 else plural}"


def _replace_symbols_before_numbers(text: str) -> str:
    text = re.sub(r"#\s?(?=\d)", " number ", text)
    text = re.sub(r"~\s?(?=[-\d$\u20ac\u00a3])", " about ", text)
    text = re.sub(r"\u2248\s?", " approximately ", text)
    text = re.sub(r"<=|\u2264", " less than or equal to ", text)
    text = re.sub(r">=|\u2265", " greater than or equal to ", text)
    text = re.sub(r"(?<![<\w])<\s?(?=[-\d])", " less than ", text)
    text = re.sub(r"(?<![>\w])>\s?(?=[-\d])", " more than ", text)
    text = re.sub(r"\u00b1\s?", " plus or minus ", text)
    text = re.sub(r"(?<=\d)\s?\u00b2", " squared", text)
    text = re.sub(r"(?<=\d)\s?\u00b3", " cubed", text)
    text = re.sub(r"\^\s?2(?!\d)", " squared", text)
    text = re.sub(r"\^\s?3(?!\d)", " cubed", text)
    text = re.sub(r"\^", " to the power of ", text)
    text = re.sub(r"(?<=\d)\s?\u00f7\s?(?=\d)", " divided by ", text)
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
            out.append(f" {_say_number(folded, False)} " if folded.isascii() and folded.isdigit() else " ")
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
