# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Numbers in words, for the speech normalizer (:mod:`processing.instructs2s.text_normalizer`).

The words of a number are ``inflect``'s (American English: no "and", no commas): cardinals and ordinals; on top of
them, the ways people say numbers in context, which no library does as we need them: years ("nineteen oh five"),
dates ("March third, twenty twenty-four"), clock times ("three thirty PM") and durations, phone numbers, money
("five dollars and fifty cents", "two pounds and fifty pence", ranges, "$5M"), percentages, units ("ten kilometers
per hour"), fractions ("three quarters"), decades ("the nineties"), ranges ("three to five"), decimals and signs.
:func:`say_numbers` applies them all to a text, in that order of precedence.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "decimal_to_words",
    "digits_to_words",
    "number_to_words",
    "ordinal_to_words",
    "say_number",
    "say_numbers",
    "year_to_words",
]

MAX_CARDINAL = 10**15  # below a quadrillion; longer digit strings are read digit by digit
MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


_THREAD = threading.local()


def _inflect() -> Any:
    """This thread's ``inflect`` engine (an engine keeps state while it converts a number: one per thread)."""
    engine = getattr(_THREAD, "inflect", None)
    if engine is None:
        import inflect

        engine = _THREAD.inflect = inflect.engine()
    return engine


def number_to_words(n: int) -> str:
    """Say an integer in American English: ``121`` -> ``"one hundred twenty-one"``, ``-3`` -> ``"minus three"``.

    Accepts any ``int`` with ``abs(n) < 10**15``. Raises ``TypeError`` for a non-integer (bools included)
    and ``ValueError`` for larger magnitudes (read those with :func:`digits_to_words`).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number_to_words expects an int, got {type(n).__name__}")
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= MAX_CARDINAL:
        raise ValueError(f"{n} is too large to say as a cardinal; read it digit by digit")
    return _inflect().number_to_words(n, andword="", comma="")


def ordinal_to_words(n: int) -> str:
    """Say an ordinal: ``1`` -> ``"first"``, ``22`` -> ``"twenty-second"``, ``100`` -> ``"one hundredth"``.

    Accepts an ``int`` with ``0 <= n < 10**15``; raises ``TypeError``/``ValueError`` otherwise.
    """
    if isinstance(n, int) and not isinstance(n, bool) and n < 0:
        raise ValueError("ordinals are not negative")
    return _inflect().ordinal(number_to_words(n))


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
        return number_to_words(high) + " oh " + number_to_words(low)
    return number_to_words(high) + " " + number_to_words(low)


def digits_to_words(digits: str) -> str:
    """Read a string of digits one by one: ``"007"`` -> ``"zero zero seven"``. Raises ``ValueError`` if
    `digits` holds anything but ASCII digits."""
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not a digit string: {digits!r}")
    return " ".join(number_to_words(int(d)) for d in digits)


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


def say_number(token: str, years: bool = True) -> str:
    """A number token (``"1,200"``, ``"3.5"``, ``"-4"``, ``"1999"``) in words; bare 4-digit values in
    1100..2099 are read as years when `years` is true."""
    bare = token.lstrip("-+\u2212")
    if years and bare == token and _is_year_like(token):
        return year_to_words(int(token))
    return decimal_to_words(token)


def _plural_number_word(words: str) -> str:
    """``"nineteen ninety"`` -> ``"nineteen nineties"``, ``"six"`` -> ``"sixes"``."""
    return _inflect().plural_noun(words)


# ---------------------------------------------------------------------------------------------------------
# Tables and regular expressions
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

_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
_SNUM = r"(?:[-\u2212]?" + _NUM + r")"
_LEFT = r"(?<![\w.,\-/])"  # a number that is not glued to a word, a decimal point or a hyphen on its left
_RIGHT = r"(?![\d])"

_MONTH_ALT = "|".join(MONTHS)
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
_NUMBER_RE = re.compile(r"(?<![\w.])[-\u2212](?=\d)" + _NUM + r"|\.\d+(?=\s|$)|" + _NUM)

# "$15/hour", "5 km/day", "3 times/week": a slash before a time or measure word reads "per"
_PER_RE = re.compile(r"(?<=[\w$%])\s?/\s?(" + "|".join(sorted(_PER_WORDS, key=len, reverse=True)) + r")\b")


# ---------------------------------------------------------------------------------------------------------
# Numbers in context
# ---------------------------------------------------------------------------------------------------------


def padded(say: Callable[[re.Match], str]) -> Callable[[re.Match], str]:
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


def sentence_end_kept(match: re.Match, spoken: str) -> str:
    """Keep the period an abbreviation swallowed when it also ended the sentence."""
    if not match.group(0).endswith("."):
        return spoken
    rest = match.string[match.end() :]
    if not rest.strip() or re.match(r"\s+[A-Z]", rest):
        return spoken + "."
    return spoken


def _replace_dates(text: str) -> str:
    def iso(m: re.Match) -> str:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        return f" {MONTHS[month - 1]} {ordinal_to_words(day)}, {year_to_words(year)} "

    def slash(m: re.Match) -> str:
        first, second, year = int(m.group(1)), int(m.group(2)), m.group(3)
        month, day = (first, second) if first <= 12 else (second, first)  # US order unless impossible
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return m.group(0)
        year_value = int(year) if len(year) == 4 else 2000 + int(year)  # "24" -> 2024
        return f" {MONTHS[month - 1]} {ordinal_to_words(day)}, {year_to_words(year_value)} "

    def month_day(m: re.Match) -> str:
        return f"{m.group(1)} {ordinal_to_words(int(m.group(2)))}" if 1 <= int(m.group(2)) <= 31 else m.group(0)

    def day_month(m: re.Match) -> str:
        if not 1 <= int(m.group(2)) <= 31:
            return m.group(0)
        return f"{m.group('the') or 'the '}{ordinal_to_words(int(m.group(2)))} of {m.group(3)}"

    text = _ISO_DATE_RE.sub(padded(iso), text)
    text = _SLASH_DATE_RE.sub(padded(slash), text)
    text = _MONTH_DAY_RE.sub(month_day, text)
    return _DAY_MONTH_RE.sub(day_month, text)


def _say_ampm(raw: str | None, match: re.Match) -> str:
    if not raw:
        return ""
    spoken = " AM" if raw[0] in "Aa" else " PM"
    return sentence_end_kept(match, spoken) if raw.endswith(".") else spoken


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
            spoken += " oh " + number_to_words(minutes)
        else:
            spoken += " " + number_to_words(minutes)
        return " " + spoken + _say_ampm(ampm, m) + " "

    def hour(m: re.Match) -> str:
        return number_to_words(int(m.group("h"))) + _say_ampm(m.group("ampm"), m)

    def ratio(m: re.Match) -> str:
        return f"{say_number(m.group(1), False)} to {say_number(m.group(2), False)}"

    text = _TIME_RANGE_AMPM_RE.sub(r"\1 to ", text)  # "9am-5pm" -> "9am to 5pm"
    text = _TIME_RANGE_CLOCK_RE.sub(r"\1 to ", text)  # "3:30-4:30" -> "3:30 to 4:30"
    text = _CLOCK_RE.sub(padded(clock), text)
    text = _HOUR_AMPM_RE.sub(padded(hour), text)
    return _RATIO_RE.sub(padded(ratio), text)


@padded
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


@padded
def _say_currency(m: re.Match) -> str:
    names = _CURRENCY_SYMBOLS[m.group("sym")]
    prefix = "minus " if m.group("neg") else ""
    if m.group("b"):  # a range: "five to ten dollars", or in full when cents are involved
        has_cents = "." in m.group("a") + m.group("b") and not (m.group("amag") or m.group("bmag"))
        low = _say_money(m.group("a"), m.group("amag"), names, with_name=has_cents)
        return f"{prefix}{low} to {_say_money(m.group('b'), m.group('bmag'), names)}"
    return prefix + _say_money(m.group("a"), m.group("amag"), names)


@padded
def _say_currency_after(m: re.Match) -> str:
    return _say_money(m.group("a"), None, _CURRENCY_SYMBOLS[m.group("sym")])


@padded
def _say_percent(m: re.Match) -> str:
    if m.group("b"):
        return f"{say_number(m.group('a'), False)} to {say_number(m.group('b'), False)} percent"
    return f"{say_number(m.group('a'), False)} percent"


@padded
def _say_mixed_fraction(m: re.Match) -> str:
    return f"{say_number(m.group(1), False)} and {_say_fraction(m.group(2), m.group(3))}"


@padded
def _say_unit(m: re.Match) -> str:
    singular, plural = _UNITS[m.group("unit")]
    high = m.group("b") or m.group("a")
    one = high.lstrip("-\u2212") in ("1",)
    name = singular if one else plural
    if m.group("b"):
        return f" {say_number(m.group('a'), False)} to {say_number(m.group('b'), False)} {name} "
    return f" {say_number(m.group('a'), False)} {name} "


_FRACTION_NAMES = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _say_fraction(numerator: str, denominator: str) -> str:
    num, den = int(numerator), int(denominator)
    if den == 0 or den > 100 or num > 1000:
        return f"{say_number(numerator, False)} over {say_number(denominator, False)}"
    if den == 1:
        return f"{number_to_words(num)} over one"
    if den in _FRACTION_NAMES:
        singular, plural = _FRACTION_NAMES[den]
    else:
        singular = ordinal_to_words(den)
        plural = singular + "s"
    return f"{number_to_words(num)} {singular if num == 1 else plural}"


def _replace_symbols_before_numbers(text: str) -> str:
    """Symbols that qualify the number after them: "#5", "~10", "<= 3", "x^2", "5 \u00f7 2" ..."""
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



def say_numbers(text: str) -> str:
    """Every number of `text` in words, with what qualifies it: dates, times, phone numbers, money, percentages,
    symbols before numbers, decades, ordinals, fractions, units, "per", ranges, then plain numbers."""
    text = _replace_dates(text)
    text = _replace_times(text)
    text = _PHONE_RE.sub(_say_phone, text)
    text = _CURRENCY_RE.sub(_say_currency, text)
    text = _CURRENCY_AFTER_RE.sub(_say_currency_after, text)
    text = _PERCENT_RE.sub(_say_percent, text)
    text = _replace_symbols_before_numbers(text)
    text = _DECADE_RE.sub(padded(lambda m: _plural_number_word(year_to_words(int(m.group(1))))), text)
    text = _SHORT_DECADE_RE.sub(padded(lambda m: _plural_number_word(number_to_words(int(m.group(1))))), text)
    text = _ORDINAL_RE.sub(padded(lambda m: ordinal_to_words(int(m.group(1)))), text)
    text = _MIXED_FRACTION_RE.sub(_say_mixed_fraction, text)
    text = _FRACTION_RE.sub(padded(lambda m: _say_fraction(m.group(1), m.group(2))), text)
    text = _UNIT_RE.sub(_say_unit, text)
    text = _PER_RE.sub(r" per \1", text)
    text = _RANGE_RE.sub(padded(lambda m: f"{say_number(m.group(1))} to {say_number(m.group(2))}"), text)
    return _NUMBER_RE.sub(padded(lambda m: say_number(m.group(0))), text)
