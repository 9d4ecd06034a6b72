"""The speech normalizer: numbers, symbols and markdown -> speakable words, and the speakability check."""

import pytest

from processing.instructs2s.text_normalizer import (
    check_speakable,
    count_words,
    decimal_to_words,
    digits_to_words,
    normalize_for_speech,
    number_to_words,
    ordinal_to_words,
    year_to_words,
)

# ------------------------------------------------------------------------------------------ number words

CARDINALS = [
    (0, "zero"),
    (7, "seven"),
    (13, "thirteen"),
    (20, "twenty"),
    (42, "forty-two"),
    (100, "one hundred"),
    (101, "one hundred one"),
    (999, "nine hundred ninety-nine"),
    (1000, "one thousand"),
    (1001, "one thousand one"),
    (12345, "twelve thousand three hundred forty-five"),
    (1_000_000, "one million"),
    (2_500_000_000, "two billion five hundred million"),
    (-15, "minus fifteen"),
    (10**15 - 1, "nine hundred ninety-nine trillion nine hundred ninety-nine billion nine hundred ninety-nine "
     "million nine hundred ninety-nine thousand nine hundred ninety-nine"),
]


@pytest.mark.parametrize("number, words", CARDINALS)
def test_number_to_words(number, words):
    assert number_to_words(number) == words


ORDINALS = [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (11, "eleventh"), (12, "twelfth"), (20, "twentieth"), (21, "twenty-first"), (22, "twenty-second"),
    (23, "twenty-third"), (40, "fortieth"), (100, "one hundredth"), (101, "one hundred first"),
    (1000, "one thousandth"),
]  # fmt: skip


@pytest.mark.parametrize("number, words", ORDINALS)
def test_ordinal_to_words(number, words):
    assert ordinal_to_words(number) == words


YEARS = [
    (1999, "nineteen ninety-nine"), (2024, "twenty twenty-four"), (1905, "nineteen oh five"),
    (1900, "nineteen hundred"), (2000, "two thousand"), (2005, "two thousand five"), (2010, "twenty ten"),
    (1066, "ten sixty-six"), (1492, "fourteen ninety-two"), (800, "eight hundred"), (3000, "three thousand"),
]  # fmt: skip


@pytest.mark.parametrize("year, words", YEARS)
def test_year_to_words(year, words):
    assert year_to_words(year) == words


@pytest.mark.parametrize(
    "number, words",
    [("3.14", "three point one four"), ("-0.5", "minus zero point five"), ("1,250", "one thousand two hundred fifty"),
     ("007", "zero zero seven"), (".5", "point five"), ("+3", "plus three"), ("10.0", "ten point zero")],
)  # fmt: skip
def test_decimal_to_words(number, words):
    assert decimal_to_words(number) == words


def test_number_word_errors():
    with pytest.raises(TypeError):
        number_to_words(1.5)
    with pytest.raises(TypeError):
        number_to_words(True)
    with pytest.raises(ValueError):
        number_to_words(10**15)
    with pytest.raises(ValueError):
        ordinal_to_words(-1)
    with pytest.raises(ValueError):
        year_to_words(12345)
    with pytest.raises(ValueError):
        decimal_to_words("12a")
    with pytest.raises(ValueError):
        digits_to_words("")
    assert digits_to_words("4096") == "four zero nine six"


# ------------------------------------------------------------------------------------------ normalizer

NORMALIZE = [
    # plain text is left alone
    ("Hello, how are you?", "Hello, how are you?"),
    ("Hello", "Hello"),
    ("", ""),
    # cardinals, decimals, negatives
    ("I have 3 cats.", "I have three cats."),
    ("There were 1,234 people.", "There were one thousand two hundred thirty-four people."),
    ("It costs 1000000 dollars.", "It costs one million dollars."),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("Half is 0.5 and a bit is .5 here.", "Half is zero point five and a bit is point five here."),
    ("It was -7 outside.", "It was minus seven outside."),
    ("007 is a spy.", "zero zero seven is a spy."),
    ("It has 10k steps.", "It has ten thousand steps."),
    # ordinals
    ("He came 1st, then 2nd, 3rd, 11th, 12th, 21st, 22nd, 23rd and 101st.",
     "He came first, then second, third, eleventh, twelfth, twenty-first, twenty-second, twenty-third and one "
     "hundred first."),
    # years and decades
    ("Born in 1999.", "Born in nineteen ninety-nine."),
    ("See you in 2024.", "See you in twenty twenty-four."),
    ("In 1905, 1900, 2005 and 2010.", "In nineteen oh five, nineteen hundred, two thousand five and twenty ten."),
    ("The 1990s were fun.", "The nineteen nineties were fun."),
    ("The '80s were loud.", "The eighties were loud."),
    ("She is in her 20s.", "She is in her twenties."),
    # percentages
    ("It's up 50%.", "It's up fifty percent."),
    ("Rates rose 3.5% last year.", "Rates rose three point five percent last year."),
    ("Expect 5-10% more.", "Expect five to ten percent more."),
    # currency
    ("It costs $5.50.", "It costs five dollars and fifty cents."),
    ("It costs $1.", "It costs one dollar."),
    ("Only $0.99 today.", "Only ninety-nine cents today."),
    ("It costs \u20ac3.", "It costs three euros."),
    ("It costs \u00a32.50.", "It costs two pounds and fifty pence."),
    ("It costs 100 \u00a5.", "It costs one hundred yen."),
    ("They raised $1.5 million.", "They raised one point five million dollars."),
    ("A $5M budget.", "A five million dollars budget."),
    ("Between $5 and $10, or $5-10.", "Between five dollars and ten dollars, or five to ten dollars."),
    ("Earn $15/hour.", "Earn fifteen dollars per hour."),
    # times
    ("Meet at 3:30 pm.", "Meet at three thirty PM."),
    ("Meet at 3:30pm.", "Meet at three thirty PM."),
    ("Meet at 10 a.m. Then lunch.", "Meet at ten AM. Then lunch."),
    ("The train leaves at 15:45.", "The train leaves at fifteen forty-five."),
    ("It starts at 7:05.", "It starts at seven oh five."),
    ("It starts at 12:00.", "It starts at twelve o'clock."),
    ("Open 9am-5pm.", "Open nine AM to five PM."),
    ("It took 2:01:09.", "It took two hours, one minute and nine seconds."),
    # dates
    ("On 2024-03-15.", "On March fifteenth, twenty twenty-four."),
    ("On 12/25/2023.", "On December twenty-fifth, twenty twenty-three."),
    ("The 5th of May.", "The fifth of May."),
    ("By March 5, 2024.", "By March fifth, twenty twenty-four."),
    # units
    ("It's 20\u00b0C today.", "It's twenty degrees Celsius today."),
    ("It's 68\u00b0F today.", "It's sixty-eight degrees Fahrenheit today."),
    ("It was -5\u00b0C.", "It was minus five degrees Celsius."),
    ("Drive 60 mph.", "Drive sixty miles per hour."),
    ("Go 100 km/h.", "Go one hundred kilometers per hour."),
    ("It weighs 5 kg.", "It weighs five kilograms."),
    ("It is 3 km away.", "It is three kilometers away."),
    ("Walk 1 km.", "Walk one kilometer."),
    ("Run 5-10 km daily.", "Run five to ten kilometers daily."),
    ("Add 2 tbsp of oil.", "Add two tablespoons of oil."),
    ("Store 500 ml of milk.", "Store five hundred milliliters of milk."),
    ("Buy 2 GB of data.", "Buy two gigabytes of data."),
    ("Exercise 30 min a day.", "Exercise thirty minutes a day."),
    # fractions and ranges
    ("Add 1/2 cup.", "Add one half cup."),
    ("Add 3/4 cup.", "Add three quarters cup."),
    ("Use 2/3 of it.", "Use two thirds of it."),
    ("Take 1 1/2 cups.", "Take one and one half cups."),
    ("Read pages 3-5.", "Read pages three to five."),
    ("Sleep 7-9 hours.", "Sleep seven to nine hours."),
    ("The war lasted 1939-1945.", "The war lasted nineteen thirty-nine to nineteen forty-five."),
    ("The score was 3-2.", "The score was three to two."),
    ("A 16:9 screen.", "A sixteen to nine screen."),
    # numbers glued to words
    ("COVID-19 cases.", "COVID-nineteen cases."),
    ("GPT-4 is a model.", "GPT-four is a model."),
    ("A 5-year-old child.", "A five-year-old child."),
    ("Use 4G or MP3.", "Use four G or MP three."),
    ("A 3x speedup.", "A three times speedup."),
    ("Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
    # abbreviations
    ("Eat fruit, e.g. apples.", "Eat fruit, for example apples."),
    ("Drink water, i.e. stay hydrated.", "Drink water, that is stay hydrated."),
    ("Pens, pencils, etc.", "Pens, pencils, et cetera."),
    ("Pens, etc. are here.", "Pens, et cetera are here."),
    ("Dr. Smith is here.", "Doctor Smith is here."),
    ("Mr. and Mrs. Brown came.", "Mister and Missus Brown came."),
    ("Main St. near St. Louis.", "Main Street near Saint Louis."),
    ("Cats vs. dogs.", "Cats versus dogs."),
    ("Come w/ me.", "Come with me."),
    ("Open 24/7.", "Open twenty-four seven."),
    # symbols
    ("Salt & pepper.", "Salt and pepper."),
    ("2 + 2 = 4", "two plus two equals four"),
    ("Email me @ work.", "Email me at work."),
    ("We're #1!", "We're number one!"),
    ("Yes/no questions.", "Yes or no questions."),
    ("It takes ~5 minutes.", "It takes about five minutes."),
    ("Use C++ or C#.", "Use C plus plus or C sharp."),
    ("2^10 is big.", "two to the power of ten is big."),
    ("It's \u00b12 degrees.", "It's plus or minus two degrees."),
    ("Write to bob@mail.com please.", "Write to bob at mail dot com please."),
    ("Q&amp;A time.", "Q and A time."),
    # punctuation, brackets, emoji, accents
    ("Paris (the capital) is big.", "Paris, the capital, is big."),
    ("Cities [like Rome] are old.", "Cities, like Rome, are old."),
    ("Wait \u2014 really?", "Wait, really?"),
    ("Well... okay.", "Well... okay."),
    ("Hello!!!", "Hello!"),
    ("What??", "What?"),
    ("I love it \U0001F600!", "I love it!"),
    ("Great job \U0001F44D\U0001F3FD team.", "Great job team."),
    ("\u201cQuoted\u201d words.", "Quoted words."),
    ("It\u2019s fine.", "It's fine."),
    ("The caf\u00e9 in Z\u00fcrich is na\u00efve.", "The cafe in Zurich is naive."),
    ("See the note [1].", "See the note."),
    ("  lots   of\tspace  ", "lots of space"),
    # markdown
    ("# Title", "Title."),
    ("## Subtitle ##", "Subtitle."),
    ("**Bold** and *italic* and __strong__ and ~~gone~~ text.", "Bold and italic and strong and gone text."),
    ("Use `grep` here.", "Use grep here."),
    ("Click [here](https://example.com) now.", "Click here now."),
    ("![a cat](cat.png) sleeps.", "a cat sleeps."),
    ("> A quote.", "A quote."),
    ("3*4 is 12.", "three times four is twelve."),
    ("Tips:\n- drink water\n- sleep 8 hours\n\nDone", "Tips: drink water. sleep eight hours. Done"),
    ("Steps:\n1. Boil water\n2) Add pasta", "Steps: Boil water. Add pasta."),
    ("# Plan\nWe start early\n\nThen we rest.", "Plan. We start early. Then we rest."),
    ("one line\nwrapped here.", "one line wrapped here."),
    ("| Name | Age |\n|------|-----|\n| Bob | 5 |", "Name, Age. Bob, five."),
    ("Here is code:\n```python\nprint('hi')\nx = 1\n```\nThat's it.", "Here is code: That's it."),
    ("Try <b>this</b> now.<br>Next line", "Try this now. Next line"),
    ("***\nAfter a rule.", "After a rule."),
]


@pytest.mark.parametrize("text, expected", NORMALIZE)
def test_normalize_for_speech(text, expected):
    assert normalize_for_speech(text) == expected


@pytest.mark.parametrize("text, expected", NORMALIZE)
def test_normalized_text_is_speakable_and_stable(text, expected):
    if expected:
        assert check_speakable(expected) is None, expected
        assert normalize_for_speech(expected) == expected  # idempotent on its own output


def test_urls_are_kept_for_the_check_to_reject():
    for text in ("Go to https://example.com/page now.", "Visit www.example.org today.", "See example.com for more."):
        out = normalize_for_speech(text)
        assert check_speakable(out) == "contains a URL", out


def test_other_scripts_are_kept_for_the_check_to_reject():
    out = normalize_for_speech("The word \u65e5\u672c means Japan.")
    assert "\u65e5" in out
    assert check_speakable(out).startswith("contains characters an English TTS cannot read")


def test_normalize_rejects_non_strings():
    with pytest.raises(TypeError):
        normalize_for_speech(None)


def test_normalize_is_deterministic_on_a_long_answer():
    text = (
        "## Sleep tips\nHere are **3 tips** (from Dr. Lee):\n- Go to bed by 10:30 pm\n- Keep the room at 18\u00b0C\n"
        "- Skip coffee after 2 pm, e.g. switch to tea \U0001F375\n\nSleep 7-9 hours & you'll feel 100% better!"
    )
    first = normalize_for_speech(text)
    assert first == normalize_for_speech(text)
    assert first == (
        "Sleep tips. Here are three tips, from Doctor Lee: Go to bed by ten thirty PM. Keep the room at eighteen "
        "degrees Celsius. Skip coffee after two PM, for example switch to tea. Sleep seven to nine hours and you'll "
        "feel one hundred percent better!"
    )
    assert check_speakable(first) is None


# ------------------------------------------------------------------------------------------ check_speakable

CHECKS = [
    ("Paris is the capital of France.", None, None),
    ("", None, "empty"),
    ("   ", None, "empty"),
    ("...", None, "no words"),
    ("Read https://example.com today", None, "contains a URL"),
    ("Go to www.example.org", None, "contains a URL"),
    ("```python\nprint(1)\n```", None, "looks like code"),
    ("def main(): return 1", None, "looks like code"),
    ("if x == y then stop", None, "looks like code"),
    ("Use <div> tags", None, "looks like code"),
    ("I have 3 cats", None, "contains digits"),
    ("Salt & pepper", None, "contains symbols: &"),
    ("It is 5% off", None, "contains digits"),
    ("Price in $ only", None, "contains symbols: $"),
    ("Nice \U0001F600", None, "contains characters an English TTS cannot read: \U0001F600"),
    ("Privet \u043c\u0438\u0440", None, "contains characters an English TTS cannot read: \u0438 \u043c \u0440"),
    ("no no no no no no", None, "repetitive"),
    ("the cat sat, the cat sat, the cat sat, the cat sat.", None, "repetitive"),
    ("In autumn a leaf is left alone, a leaf is left alone, a leaf is left alone.", None, "repetitive"),
    ("No, no, no! I said the red one, the red one.", None, None),
    ("Sure. one. two. three. four. five.", None, "fragmented"),
    ("Yes. I think so. Maybe not. Okay then.", None, None),
    ("one two three four five six", 5, "too long: 6 words > 5"),
    ("one two three four five", 5, None),
    ("It's a well-known fact; isn't it?", None, None),
]


@pytest.mark.parametrize("text, max_words, reason", CHECKS)
def test_check_speakable(text, max_words, reason):
    assert check_speakable(text, max_words=max_words) == reason


def test_check_speakable_errors():
    with pytest.raises(TypeError):
        check_speakable(3)
    with pytest.raises(ValueError):
        check_speakable("fine", max_words=0)


def test_count_words():
    assert count_words("It's a well-known fact, isn't it?") == 6
    assert count_words("") == 0
