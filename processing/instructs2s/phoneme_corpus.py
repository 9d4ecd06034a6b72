# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""A text corpus with Piper joe phoneme units, to train llama-omni-tiny's speech decoder (text tokens -> phonemes)
without audio.

What SmolLM2-135M-Instruct (the frozen LLM of llama-omni-tiny) actually says is what the speech decoder must read, so
the corpus is mostly SmolLM2's own greedy answers, with the embedded model's system prompt and chat template, to many
thousands of template questions (:func:`training_questions`, never a held-out seed question) and to the seed file's
train split (:func:`llm_answers`), plus sentences from Debian's `fortunes` (:func:`fortune_sentences`) for wider
vocabulary. :func:`build_phoneme_corpus` writes the records, each with the `speakable_text` of the response and its
unit ids (:mod:`processing.instructs2s.phonemes`), as jsonl shards and a summary; the LLM step is resumable.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .phonemes import default_phonemizer, load_phoneme_id_map, phonemes_to_units, speakable_text, unit_vocab_size


SEED_INSTRUCTIONS = Path(__file__).parent / "data" / "seed_instructions.jsonl"
FORTUNES_DIR = "/usr/share/games/fortunes"
FORTUNE_PROMPTS = (
    "Tell me something.",
    "Say something wise.",
    "Tell me a saying.",
    "Share a thought with me.",
    "Say something funny.",
    "Tell me a quote.",
    "What's on your mind?",
    "Give me a fortune cookie message.",
)
# fortune files that are not English prose
FORTUNE_SKIP_FILES = frozenset({"ascii-art", "translate-me", "perl"})
ANSWERS_FILE = "llm_answers.jsonl"
SUMMARY_FILE = "summary.json"
SOURCES = ("answer", "seed_answer", "fortune")

# ----------------------------------------------------------------------------------------------------------------------
# question normalisation and the held-out seed questions
# ----------------------------------------------------------------------------------------------------------------------

_CONTRACTIONS = {
    "what's": "what is", "who's": "who is", "how's": "how is", "where's": "where is", "when's": "when is",
    "it's": "it is", "that's": "that is", "there's": "there is", "i'm": "i am", "i've": "i have", "i'd": "i would",
    "can't": "cannot", "don't": "do not", "doesn't": "does not", "isn't": "is not", "aren't": "are not",
    "what're": "what are", "you're": "you are", "let's": "let us", "won't": "will not",
}


def normalize_question(text: str) -> str:
    """Lower case, curly apostrophes straightened, common contractions expanded, numbers as words, every other
    non-alphanumeric character a space, spaces collapsed: "What's 35 + 26?" -> "what is thirty five 26"... (the
    form held-out questions are compared in)."""
    from .spoken_numbers import number_to_words

    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[a-z]+'[a-z]+", lambda m: _CONTRACTIONS.get(m.group(0), m.group(0).replace("'", "")), text)
    text = re.sub(r"\d+", lambda m: " " + number_to_words(int(m.group(0))) + " " if len(m.group(0)) < 10 else " ",
                  text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def seed_instructions(split: str | None = None, path: str | os.PathLike = SEED_INSTRUCTIONS) -> list[dict[str, Any]]:
    """The seed questions (`id`, `instruction`, `category`, `split`...), optionally of one split ("train" or
    "heldout").

    Raises:
        ValueError: an unknown split.
    """
    if split not in (None, "train", "heldout"):
        raise ValueError(f"split must be None, 'train' or 'heldout', got {split!r}")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if split is None or r.get("split") == split]


# words that do not make a question what it is: function words and the fillers of paraphrases ("can you tell me",
# "i always forget", "quick question", "do you know")
_FILLER_WORDS = frozenset(
    "a an the is are was were be been of in on at to for from by with and or not what whats which who whom whose "
    "where when why how do does did can could would should will shall may might must you your me my i we us our it "
    "its this that these those there here as about some any tell know please quick question always forget wonder "
    "remember say said just so really ever one".split()
)


class HeldOutFilter:
    """Says whether a question is (nearly) a held-out seed question, so that no training set holds it or a
    paraphrase of it:

    - its normalised text equals one;
    - one contains the other as whole words, when the shorter has at least `min_contained_words` words ("what is the
      capital of norway" is inside "i always forget what is the capital of norway");
    - it holds every content word (not a function or filler word) of a held-out question that has at least
      `min_content_words` of them: "Which city is the capital of Pakistan?" asks what "Can you tell me the capital of
      Pakistan?" asks (`{capital, pakistan}`), while "What is Pakistan famous for?" does not.

    Args:
        heldout: the held-out questions (default: the seed file's `heldout` split).
        min_contained_words: the shortest normalised text the containment test applies to.
        min_content_words: the fewest content words a held-out question needs for the content-word test.
    """

    def __init__(self, heldout: Iterable[str] | None = None, min_contained_words: int = 4,
                 min_content_words: int = 2):
        if heldout is None:
            heldout = [r["instruction"] for r in seed_instructions("heldout")]
        self.normalized = {normalize_question(q) for q in heldout}
        self.normalized.discard("")
        self.min_contained_words = int(min_contained_words)
        self._padded = [f" {q} " for q in self.normalized]
        contents = {frozenset(w for w in q.split() if w not in _FILLER_WORDS) for q in self.normalized}
        self.content_words = [c for c in contents if len(c) >= int(min_content_words)]

    def __contains__(self, question: str) -> bool:
        norm = normalize_question(question)
        if norm in self.normalized:
            return True
        padded = f" {norm} "
        for held in self._padded:
            shorter = padded if len(padded) < len(held) else held
            if len(shorter.split()) >= self.min_contained_words and shorter in (held if shorter is padded else padded):
                return True
        words = set(norm.split())
        return any(content <= words for content in self.content_words)


# ----------------------------------------------------------------------------------------------------------------------
# template questions
# ----------------------------------------------------------------------------------------------------------------------

_COUNTRIES = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("the United Kingdom", "London"), ("Ireland", "Dublin"), ("Belgium", "Brussels"), ("Austria", "Vienna"),
    ("Poland", "Warsaw"), ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"),
    ("Denmark", "Copenhagen"), ("Iceland", "Reykjavik"), ("Greece", "Athens"), ("Turkey", "Ankara"),
    ("Russia", "Moscow"), ("Ukraine", "Kyiv"), ("Hungary", "Budapest"), ("Romania", "Bucharest"),
    ("the Netherlands", "Amsterdam"), ("Switzerland", "Bern"), ("Croatia", "Zagreb"), ("Serbia", "Belgrade"),
    ("Bulgaria", "Sofia"), ("Estonia", "Tallinn"), ("Latvia", "Riga"), ("Lithuania", "Vilnius"),
    ("China", "Beijing"), ("Japan", "Tokyo"), ("South Korea", "Seoul"), ("India", "New Delhi"),
    ("Pakistan", "Islamabad"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("Indonesia", "Jakarta"),
    ("the Philippines", "Manila"), ("Malaysia", "Kuala Lumpur"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
    ("Saudi Arabia", "Riyadh"), ("Israel", "Jerusalem"), ("Lebanon", "Beirut"), ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"), ("Nigeria", "Abuja"), ("Ghana", "Accra"), ("Ethiopia", "Addis Ababa"),
    ("South Africa", "Pretoria"), ("Morocco", "Rabat"), ("Uganda", "Kampala"), ("Tanzania", "Dodoma"),
    ("Canada", "Ottawa"), ("the United States", "Washington"), ("Mexico", "Mexico City"), ("Cuba", "Havana"),
    ("Brazil", "Brasilia"), ("Argentina", "Buenos Aires"), ("Chile", "Santiago"), ("Peru", "Lima"),
    ("Colombia", "Bogota"), ("Venezuela", "Caracas"), ("Australia", "Canberra"), ("New Zealand", "Wellington"),
    ("Nepal", "Kathmandu"), ("Bangladesh", "Dhaka"), ("Sri Lanka", "Colombo"), ("Mongolia", "Ulaanbaatar"),
]
_CITIES = [
    "New York", "Los Angeles", "Chicago", "San Francisco", "Boston", "Seattle", "Miami", "Toronto", "Vancouver",
    "London", "Paris", "Rome", "Venice", "Florence", "Barcelona", "Berlin", "Munich", "Vienna", "Prague",
    "Amsterdam", "Istanbul", "Dubai", "Cairo", "Cape Town", "Marrakesh", "Mumbai", "Delhi", "Bangkok",
    "Singapore", "Hong Kong", "Shanghai", "Tokyo", "Kyoto", "Seoul", "Sydney", "Melbourne", "Rio de Janeiro",
    "Buenos Aires", "Mexico City", "Lima", "Edinburgh", "Dublin", "Lisbon", "Athens", "Stockholm", "Oslo",
    "Copenhagen", "Helsinki", "Moscow", "Jerusalem",
]
_PEOPLE = [
    "Albert Einstein", "Isaac Newton", "Marie Curie", "Charles Darwin", "Galileo Galilei", "Nikola Tesla",
    "Thomas Edison", "Ada Lovelace", "Alan Turing", "Leonardo da Vinci", "Michelangelo", "Vincent van Gogh",
    "Pablo Picasso", "Claude Monet", "Frida Kahlo", "William Shakespeare", "Jane Austen", "Charles Dickens",
    "Mark Twain", "Leo Tolstoy", "Homer", "Agatha Christie", "J. K. Rowling", "Ludwig van Beethoven",
    "Wolfgang Amadeus Mozart", "Johann Sebastian Bach", "Frederic Chopin", "Elvis Presley", "John Lennon",
    "Michael Jackson", "Abraham Lincoln", "George Washington", "Napoleon Bonaparte", "Julius Caesar",
    "Cleopatra", "Alexander the Great", "Queen Victoria", "Winston Churchill", "Mahatma Gandhi",
    "Nelson Mandela", "Martin Luther King", "Rosa Parks", "Joan of Arc", "Christopher Columbus",
    "Marco Polo", "Neil Armstrong", "Yuri Gagarin", "Amelia Earhart", "Florence Nightingale",
    "Sigmund Freud", "Aristotle", "Plato", "Socrates", "Confucius", "Buddha", "Stephen Hawking",
    "Louis Pasteur", "Alexander Fleming", "Gregor Mendel", "Orville Wright", "Steve Jobs", "Bill Gates",
    "Walt Disney", "Charlie Chaplin", "Muhammad Ali", "Pele", "Serena Williams", "Usain Bolt",
]
_ANIMALS = [
    "dog", "cat", "horse", "cow", "pig", "sheep", "goat", "chicken", "duck", "rabbit", "mouse", "rat", "lion",
    "tiger", "leopard", "cheetah", "elephant", "giraffe", "zebra", "hippo", "rhino", "gorilla", "chimpanzee",
    "kangaroo", "koala", "panda", "polar bear", "brown bear", "wolf", "fox", "deer", "moose", "camel", "llama",
    "bat", "whale", "dolphin", "shark", "octopus", "jellyfish", "starfish", "crab", "lobster", "salmon",
    "goldfish", "frog", "turtle", "snake", "crocodile", "lizard", "eagle", "owl", "parrot", "penguin", "ostrich",
    "flamingo", "peacock", "swan", "pigeon", "hummingbird", "bee", "ant", "butterfly", "spider", "mosquito",
    "snail", "earthworm", "squirrel", "hedgehog", "beaver", "otter", "seal", "walrus",
]
_FOODS = [
    "pizza", "pasta", "bread", "rice", "sushi", "tacos", "curry", "soup", "salad", "pancakes", "waffles",
    "omelette", "scrambled eggs", "mashed potatoes", "french fries", "hamburgers", "lasagna", "risotto",
    "guacamole", "hummus", "chocolate cake", "apple pie", "cookies", "ice cream", "yogurt", "cheese", "butter",
    "popcorn", "lemonade", "tea", "coffee", "hot chocolate", "smoothies", "oatmeal", "granola", "chili",
    "fried rice", "noodles", "dumplings", "falafel", "paella", "banana bread", "muffins", "brownies",
]
_FRUITS_VEG = [
    "apples", "bananas", "oranges", "strawberries", "blueberries", "grapes", "mangoes", "pineapples", "lemons",
    "avocados", "tomatoes", "carrots", "potatoes", "onions", "garlic", "broccoli", "spinach", "cucumbers",
    "peppers", "mushrooms", "beans", "lentils", "peas", "corn", "pumpkins", "watermelons", "cherries", "peaches",
]
_COLOURS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey",
            "gold", "silver", "turquoise", "violet"]
_SCIENCE = [
    "gravity", "photosynthesis", "electricity", "magnetism", "evolution", "DNA", "an atom", "a molecule",
    "a black hole", "a star", "the sun", "the moon", "a volcano", "an earthquake", "a rainbow", "lightning",
    "thunder", "the water cycle", "climate change", "the greenhouse effect", "the ozone layer", "a tsunami",
    "a hurricane", "a tornado", "the tides", "the seasons", "a solar eclipse", "sound", "light", "energy",
    "friction", "inertia", "oxygen", "carbon dioxide", "the immune system", "the heart", "the brain",
    "a vaccine", "bacteria", "a virus", "a cell", "a galaxy", "the Milky Way", "a comet", "an asteroid",
    "the speed of light", "a battery", "a magnet", "a rocket", "a satellite", "the internet", "a computer",
    "artificial intelligence", "a glacier", "a desert", "a rainforest", "a coral reef", "fossils", "dinosaurs",
]
_PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune", "Pluto"]
_THINGS = [
    "a bicycle", "a car", "a train", "an airplane", "a boat", "a clock", "a telephone", "a camera", "a microwave",
    "a refrigerator", "a washing machine", "a light bulb", "a compass", "a thermometer", "a telescope",
    "a microscope", "a piano", "a guitar", "a violin", "a drum", "a book", "a library", "a museum", "a bridge",
    "a castle", "a pyramid", "a lighthouse", "a windmill", "an umbrella", "a map", "a calendar", "a candle",
    "a kite", "a balloon", "a helmet", "a passport", "a credit card", "a password", "an email", "a website",
]
_WORDS = [
    "happy", "sad", "brave", "curious", "generous", "honest", "patient", "polite", "lazy", "clever", "kind",
    "friendship", "freedom", "justice", "kindness", "courage", "wisdom", "gratitude", "empathy", "nostalgia",
    "irony", "democracy", "economy", "culture", "tradition", "history", "science", "philosophy", "poetry",
    "biology", "chemistry", "physics", "geography", "astronomy", "mathematics", "music", "art", "language",
    "inflation", "budget", "recycling", "pollution", "vitamin", "calorie", "metaphor", "synonym", "adjective",
]
_ACTIVITIES = [
    "bake bread", "make pancakes", "boil an egg", "cook rice", "make a cup of tea", "brew coffee",
    "plant a tree", "grow tomatoes", "water houseplants", "learn to swim", "ride a bike", "tie a tie",
    "tie my shoes", "fold a paper airplane", "make a paper boat", "wash my car", "clean my room",
    "clean the kitchen", "do laundry", "iron a shirt", "sew a button", "paint a wall", "change a tire",
    "save money", "make a budget", "learn a new language", "learn to play the guitar", "learn to draw",
    "write a poem", "write a story", "study for an exam", "fall asleep faster", "wake up early",
    "stay focused", "stay motivated", "reduce stress", "relax after work", "make new friends",
    "be more confident", "speak in public", "start a garden", "train my dog", "care for a cat",
    "keep a plant alive", "make a snowman", "build a campfire", "pack for a trip", "plan a party",
    "write a thank you note", "remember names", "get better at chess", "start running", "stretch properly",
    "drink more water", "eat more vegetables", "cook pasta", "make a salad", "make a smoothie",
]
_TOPICS = [
    "the ocean", "space", "the Roman Empire", "ancient Egypt", "the Olympic Games", "the Moon landing",
    "the Renaissance", "the Industrial Revolution", "the Great Wall of China", "the pyramids", "the Amazon",
    "the Sahara", "Antarctica", "volcanoes", "dinosaurs", "rainbows", "music", "football", "basketball",
    "tennis", "chess", "jazz", "the piano", "the violin", "coffee", "tea", "chocolate", "cheese", "honey",
    "bees", "whales", "penguins", "owls", "elephants", "the human body", "sleep", "dreams", "memory",
    "the weather", "winter", "summer", "autumn", "spring", "birthdays", "holidays", "camping", "gardening",
    "photography", "cooking", "reading", "libraries", "the internet", "robots", "electric cars", "trains",
]
_PROFESSIONS = [
    "a doctor", "a nurse", "a teacher", "a firefighter", "a pilot", "an astronaut", "a chef", "a farmer",
    "an engineer", "a scientist", "a lawyer", "a judge", "an architect", "a carpenter", "a plumber",
    "an electrician", "a dentist", "a vet", "a librarian", "a journalist", "a musician", "a painter",
    "a programmer", "a police officer", "a baker", "a gardener", "a photographer", "an actor",
]
_GROUPS = [
    ("fruits", "fruit"), ("vegetables", "vegetable"), ("animals", "animal"), ("birds", "bird"), ("fish", "fish"),
    ("insects", "insect"), ("colors", "color"), ("countries in Europe", "country"), ("countries in Africa", "country"),
    ("countries in Asia", "country"), ("planets", "planet"), ("musical instruments", "instrument"),
    ("sports", "sport"), ("board games", "game"), ("flowers", "flower"), ("trees", "tree"), ("rivers", "river"),
    ("mountains", "mountain"), ("oceans", "ocean"), ("languages", "language"), ("famous painters", "painter"),
    ("famous scientists", "scientist"), ("famous writers", "writer"), ("things in a kitchen", "thing"),
    ("kinds of weather", "kind"), ("shapes", "shape"), ("jobs", "job"), ("healthy snacks", "snack"),
    ("breakfast foods", "food"), ("farm animals", "animal"), ("sea animals", "animal"), ("desserts", "dessert"),
]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_YESNO = [
    "Is the sun a star?", "Is a tomato a fruit?", "Can penguins fly?", "Do fish sleep?", "Is the earth round?",
    "Can dogs see colors?", "Is chocolate bad for dogs?", "Do plants need sunlight?", "Is water wet?",
    "Can you see the Great Wall of China from space?", "Do bats see with their ears?", "Is a whale a fish?",
    "Is glass a liquid?", "Do cats like water?", "Is it safe to eat raw eggs?", "Can humans breathe underwater?",
    "Is Pluto a planet?", "Do camels store water in their humps?", "Is the moon made of cheese?",
    "Are spiders insects?", "Can lightning strike the same place twice?", "Is a bat a bird?",
    "Do bees die after they sting?", "Is coffee a bean?", "Are bananas berries?", "Is zero an even number?",
    "Is the ocean salty?", "Does the moon have gravity?", "Can birds smell?", "Do snakes have ears?",
]

_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                 "twenty"]


def _plural(word: str) -> str:
    if word.endswith(("s", "sh", "ch", "x")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word in ("mouse",):
        return "mice"
    if word in ("sheep", "deer", "fish", "moose", "salmon", "goldfish"):
        return word
    return word + "s"


def _template_questions(rng: random.Random) -> list[tuple[str, str]]:
    """All `(category, question)` pairs of the templates (before de-duplication and the held-out filter)."""
    out: list[tuple[str, str]] = []

    def add(category: str, templates: Sequence[str], **values: Iterable[Any]) -> None:
        keys = list(values)
        for combo in itertools.product(*(list(values[k]) for k in keys)):
            fill = dict(zip(keys, combo))
            for template in templates:
                out.append((category, template.format(**fill)))

    add("geography", [
        "What is the capital of {c}?", "What's the capital city of {c}?", "Which city is the capital of {c}?",
        "Tell me the capital of {c}.", "What language do people speak in {c}?", "What is {c} famous for?",
        "What currency does {c} use?", "Which continent is {c} in?", "What's the weather like in {c}?",
        "What food is {c} known for?", "Tell me three facts about {c}.", "How many people live in {c}?",
    ], c=[c for c, _ in _COUNTRIES])
    add("geography", ["{k} is the capital of which country?", "Which country has {k} as its capital?",
                      "Tell me about {k}."], k=[k for _, k in _COUNTRIES])
    add("travel", [
        "What should I see in {x}?", "What is {x} known for?", "Tell me about {x}.", "Is {x} a good place to visit?",
        "What's the best time of year to visit {x}?", "What can I eat in {x}?", "Give me a travel tip for {x}.",
    ], x=_CITIES)
    add("people", [
        "Who was {p}?", "Who is {p}?", "Tell me about {p}.", "What is {p} famous for?", "Why is {p} important?",
        "Give me a fun fact about {p}.", "When did {p} live?", "What did {p} do?",
    ], p=_PEOPLE)
    # the plural needs the singular: the animal templates are filled by hand
    animal_templates = [
        "What does {an} eat?", "Where do {pl} live?", "How long do {pl} live?", "Tell me about the {a}.",
        "Give me a fun fact about {pl}.", "How big is {an}?", "Is {an} a mammal?", "What sound does {an} make?",
        "What is a baby {a} called?", "Why are {pl} important?", "Can {pl} swim?", "How fast can {an} run?",
    ]
    for a in _ANIMALS:
        an = ("an " if a[0] in "aeiou" else "a ") + a
        for t in animal_templates:
            out.append(("animals", t.format(a=a, an=an, pl=_plural(a))))
    add("food", [
        "How do I make {f}?", "What is in {f}?", "Is {f} healthy?", "Where does {f} come from?",
        "What goes well with {f}?", "Give me a quick recipe for {f}.", "Why do people love {f}?",
        "Can you tell me how to make {f} at home?",
    ], f=_FOODS)
    add("food", ["Are {f} good for you?", "How should I store {f}?", "What can I cook with {f}?",
                 "Where do {f} grow?", "What vitamins are in {f}?"], f=_FRUITS_VEG)
    add("colours", ["What things are {c}?", "What does the color {c} mean?", "What colors mix to make {c}?",
                    "Why do people like the color {c}?", "Name something that is {c}."], c=_COLOURS)
    add("science", [
        "What is {s}?", "Can you explain {s} simply?", "How does {s} work?", "Tell me about {s}.",
        "Why is {s} important?", "Explain {s} to a child.", "Give me a fun fact about {s}.",
    ], s=_SCIENCE)
    add("science", ["How big is {p}?", "How far is {p} from the sun?", "Tell me about {p}.",
                    "What is {p} made of?", "Could people live on {p}?", "How many moons does {p} have?"], p=_PLANETS)
    add("things", ["How does {t} work?", "Who invented {t}?", "What is {t} used for?", "Tell me about {t}.",
                   "Why do we need {t}?"], t=_THINGS)
    add("definition", ["What does {w} mean?", "What is the meaning of the word {w}?", "Define {w}.",
                       "Use the word {w} in a sentence.", "What is the opposite of {w}?",
                       "What's another word for {w}?"], w=_WORDS)
    add("how_to", ["How do I {x}?", "How can I {x}?", "What's the best way to {x}?", "Can you tell me how to {x}?",
                   "Give me tips to {x}.", "What do I need to {x}?", "Explain how to {x} step by step."],
        x=_ACTIVITIES)
    add("open", ["Tell me about {t}.", "Tell me something interesting about {t}.", "Why do people like {t}?",
                 "What is the history of {t}?", "Give me three facts about {t}.", "Say something nice about {t}."],
        t=_TOPICS)
    add("jobs", ["What does {p} do?", "How do I become {p}?", "Is it hard to be {p}?", "What skills does {p} need?",
                 "Tell me about the job of {p}."], p=_PROFESSIONS)
    add("lists", ["Name three {g}.", "Can you name five {g}?", "List some {g}.", "What are some {g}?",
                  "Give me a few examples of {g}."], g=[g for g, _ in _GROUPS])
    for g, s in _GROUPS:
        out.append(("lists", f"What is your favorite {s}?"))
        out.append(("lists", f"Which {s} do you like best?"))
    add("dates", ["What happened in {y}?", "Tell me about the year {y}.", "What was the world like in {y}?",
                  "What is a famous event from {y}?", "How many years ago was {y}?"],
        y=[1066, 1492, 1776, 1789, 1815, 1848, 1865, 1889, 1903, 1912, 1914, 1918, 1929, 1939, 1945, 1955, 1961,
           1963, 1969, 1973, 1980, 1984, 1989, 1991, 1995, 1999, 2000, 2001, 2008, 2010, 2012, 2015, 2020])
    add("dates", ["What comes after {m}?", "How many days are in {m}?", "What is the weather like in {m}?",
                  "What holidays are in {m}?"], m=_MONTHS)
    add("dates", ["What day comes after {d}?", "What can I do on a {d}?", "Why do people like {d}?"], d=_DAYS)
    # arithmetic: digits and number words, several phrasings
    ops = [
        ("plus", lambda a, b: a + b), ("minus", lambda a, b: a - b), ("times", lambda a, b: a * b),
        ("divided by", None),
    ]
    arith_templates = ["What is {a} {op} {b}?", "What's {a} {op} {b}?", "How much is {a} {op} {b}?",
                       "Can you tell me {a} {op} {b}?", "Quick math: {a} {op} {b}?"]
    pairs = [(a, b) for a in range(1, 101) for b in range(1, 21)]
    rng.shuffle(pairs)
    for k, (a, b) in enumerate(pairs[:1500]):
        op, _ = ops[k % len(ops)]
        if op == "divided by":
            a = a * b
        if op == "minus" and a < b:
            a, b = b, a
        template = arith_templates[k % len(arith_templates)]
        as_words = k % 3 == 0 and a <= 20 and b <= 20
        sa, sb = (_NUMBER_WORDS[a], _NUMBER_WORDS[b]) if as_words else (str(a), str(b))
        out.append(("math", template.format(a=sa, op=op, b=sb)))
    for n in range(2, 40):
        out.append(("math", f"What is {n} squared?"))
        out.append(("math", f"What is half of {n * 2}?"))
        out.append(("math", f"Is {n} a prime number?"))
        out.append(("math", f"What is the square root of {n * n}?"))
        out.append(("math", f"Count from {n} to {n + 5}."))
        out.append(("math", f"What number comes after {n * 7}?"))
    for n in (5, 10, 12, 15, 20, 25, 50, 75, 100, 150, 200, 250, 500, 1000):
        out.append(("math", f"What is {n} percent of 200?"))
        out.append(("math", f"How many minutes are in {n} hours?"))
        out.append(("math", f"Convert {n} kilometers to miles."))
        out.append(("math", f"What is {n} degrees Celsius in Fahrenheit?"))
    out += [("yes_no", q) for q in _YESNO]
    # comparisons between members of the same list
    for items, template in (
        ([("an " if x[0] in "aeiou" else "a ") + x for x in _ANIMALS], "What's the difference between {a} and {b}?"),
        (_FOODS, "Which is healthier, {a} or {b}?"),
        (_CITIES, "Should I visit {a} or {b}?"),
        (_PEOPLE, "Who came first, {a} or {b}?"),
    ):
        picks = [(a, b) for a in items for b in items if a < b]
        rng.shuffle(picks)
        out += [("comparison", template.format(a=a, b=b)) for a, b in picks[:300]]
    return out


def training_questions(
    num_questions: int | None = None,
    seed: int = 0,
    include_seed_train: bool = True,
    heldout: Iterable[str] | None = None,
) -> list[dict[str, str]]:
    """Distinct questions and requests for SmolLM2 to answer: template x entity questions (geography, travel,
    people, animals, food, colours, science, things, definitions, how-to, open topics, jobs, lists, dates, arithmetic
    with digits and number words, yes/no, comparisons), in a seeded order, then the seed file's train split.

    Never a held-out seed question nor a paraphrase of one: a question equal to one after :func:`normalize_question`,
    containing one (or contained in one) as whole words, or holding all its content words, is dropped
    (:class:`HeldOutFilter`).

    Args:
        num_questions: how many template questions (default: all, about 12 000); the seed train questions come on
            top.
        seed: the order (and the sampled arithmetic and comparison questions).
        include_seed_train: add the seed file's `train` split (ids `seed-xxxxx`, their own categories).
        heldout: the held-out questions to exclude (default: the seed file's `heldout` split).

    Returns:
        `{"id", "question", "category"}` dicts; template ids are `q-` + 12 hex digits of the question's hash, so an id
        does not depend on `seed` or `num_questions`.

    Raises:
        ValueError: a negative `num_questions`.
    """
    if num_questions is not None and (not isinstance(num_questions, int) or num_questions < 0):
        raise ValueError(f"num_questions must be None or an int >= 0, got {num_questions!r}")
    rng = random.Random(seed)
    excluded = HeldOutFilter(heldout)
    seen: set[str] = set(excluded.normalized)
    rows = []
    for category, question in _template_questions(rng):
        question = " ".join(question.split())
        norm = normalize_question(question)
        if norm in seen or question in excluded:
            continue
        seen.add(norm)
        digest = hashlib.sha1(question.encode("utf-8")).hexdigest()[:12]
        rows.append({"id": f"q-{digest}", "question": question, "category": category})
    rng.shuffle(rows)
    if num_questions is not None:
        rows = rows[:num_questions]
    if include_seed_train:
        for r in seed_instructions("train"):
            if r["instruction"] in excluded:
                continue
            rows.append({"id": r["id"], "question": r["instruction"], "category": r.get("category", "seed")})
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# SmolLM2's answers
# ----------------------------------------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete lines of a jsonl file (a last line cut by a crash is ignored)."""
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _trim_cut_answer(text: str) -> str:
    """An answer cut by `max_new_tokens`: keep its complete sentences, or, without one, its complete words."""
    text = text.rstrip()
    ends = [m.end() for m in re.finditer(r"[.!?][\"')\]]*(?=\s|$)", text)]
    if ends:
        return text[: ends[-1]]
    return text.rsplit(None, 1)[0] if " " in text else text


def llm_answers(
    questions: Sequence[dict[str, str]],
    output_path: str | os.PathLike,
    *,
    batch_size: int = 32,
    max_new_tokens: int = 64,
    dtype: str = "float32",
    system_prompt: str | None = None,
    model: Any = None,
    tokenizer: Any = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """SmolLM2's greedy answers to `questions`, as llama-omni-tiny's LLM would give them: the embedded system prompt
    (`trainers/scripts/build_default.py` `embedded_system_prompt()`), the processor's ChatML template, left-padded
    batches. Resumable: each batch is appended to `output_path` (jsonl), and questions whose id is already there
    are not asked again. Questions are asked shortest first (less padding).

    Args:
        questions: `{"id", "question", ...}` dicts (ids unique).
        output_path: the jsonl file of answers (created with its folder).
        batch_size: questions per `generate` call.
        max_new_tokens: the answer length limit; an answer that reaches it keeps its complete sentences
            (`"truncated": true`).
        dtype: "float32" (default) or "bfloat16" (about twice as fast on CPU).
        system_prompt: default: the embedded model's.
        model, tokenizer: SmolLM2 already loaded (default: `offline_assets.sources.load_smollm2`).
        progress: a tqdm bar.

    Returns:
        One dict per question, in the order of `questions`: `id`, `question`, `category`, `raw_response` (the LLM's
        text, trimmed when truncated), `truncated`, `num_tokens` (generated tokens).

    Raises:
        ValueError: duplicate ids, a bad batch size / token limit / dtype.
    """
    import torch

    ids = [q["id"] for q in questions]
    if len(set(ids)) != len(ids):
        raise ValueError("question ids must be unique")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    if dtype not in dtypes:
        raise ValueError(f"dtype must be one of {sorted(dtypes)}, got {dtype!r}")
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    done = {r["id"]: r for r in _read_jsonl(output_path) if "id" in r}
    todo = [q for q in questions if q["id"] not in done]
    if todo:
        from transformers import GenerationConfig

        from processing.processing_llama_omni import CHAT_TEMPLATES

        if model is None or tokenizer is None:
            from offline_assets.sources import load_smollm2

            model, tokenizer = load_smollm2(dtype=dtypes[dtype])
        elif dtype != "float32":
            model = model.to(dtypes[dtype])
        if system_prompt is None:
            from .writers import RESPOND_SYSTEM_PROMPT

            # the embedded model's system prompt (trainers/scripts/build_default.py `embedded_system_prompt()`)
            system_prompt = RESPOND_SYSTEM_PROMPT.format(max_words=40)
        eos = [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id]
        eos = sorted({i for i in eos if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id})
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
        config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, pad_token_id=pad_id,
                                  eos_token_id=eos, temperature=1.0, top_k=50, top_p=1.0)

        def prompt(q: dict[str, str]) -> str:
            conversation = [{"role": "system", "content": system_prompt}, {"role": "user", "content": q["question"]}]
            return tokenizer.apply_chat_template(conversation, chat_template=CHAT_TEMPLATES["chatml"], tokenize=False,
                                                 add_generation_prompt=True)

        todo.sort(key=lambda q: (len(q["question"]), q["id"]))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc="SmolLM2 answers", unit="q")
        cut_line = False
        if output_path.is_file() and output_path.stat().st_size:
            with open(output_path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                cut_line = f.read(1) != b"\n"
        with open(output_path, "a", encoding="utf-8") as out:
            if cut_line:  # a last line cut by a crash: start on a fresh line
                out.write("\n")
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                inputs = tokenizer([prompt(q) for q in batch], return_tensors="pt", padding=True,
                                   add_special_tokens=False, padding_side="left").to(model.device)
                with torch.inference_mode():
                    generated = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                               generation_config=config)
                new = generated[:, inputs["input_ids"].shape[1] :]
                lines = []
                for q, tokens in zip(batch, new.tolist()):
                    ended = [k for k, t in enumerate(tokens) if t in eos]
                    length = ended[0] if ended else len(tokens)
                    text = tokenizer.decode(tokens[:length], skip_special_tokens=True).strip()
                    truncated = not ended
                    if truncated:
                        text = _trim_cut_answer(text)
                    row = {"id": q["id"], "question": q["question"], "category": q.get("category", ""),
                           "raw_response": text, "truncated": truncated, "num_tokens": length}
                    done[q["id"]] = row
                    lines.append(json.dumps(row, ensure_ascii=False) + "\n")
                out.write("".join(lines))
                out.flush()
                if bar is not None:
                    bar.update(len(batch))
        if bar is not None:
            bar.close()
    return [done[i] for i in ids]


# ----------------------------------------------------------------------------------------------------------------------
# fortunes
# ----------------------------------------------------------------------------------------------------------------------

_OVERSTRIKE = re.compile(r".\x08")
_ATTRIBUTION = re.compile(r"^\s*(?:--|\u2014|~~)\s*\S")
_ABBREVIATIONS = ("Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Prof", "vs", "etc", "e.g", "i.e", "Inc", "Co", "No",
                  "Mt", "Gen", "Col", "Capt", "Lt", "Sgt", "Rev", "U.S", "a.m", "p.m")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ENGLISH_WORDS = frozenset("the a an is are was be to of and in it you i that he she we they not for on with as this "
                           "have do but at by if or his her my your what all can will no so".split())


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`: cut after . ! ? (and runs of them), not after an initial or a known abbreviation
    ("Dr. Smith", "R. A. Heinlein")."""
    parts, current = [], ""
    pieces = _SENTENCE_END.split(text)
    for piece in pieces:
        current = f"{current} {piece}".strip() if current else piece.strip()
        last_word = current.rsplit(None, 1)[-1] if current else ""
        if re.fullmatch(r"(?:[A-Z]|" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")\.", last_word):
            continue  # "Dr. Smith", "R. A. Heinlein": not a sentence end
        parts.append(current)
        current = ""
    if current:
        parts.append(current)
    return parts


def _good_fortune_sentence(sentence: str, min_words: int, max_words: int) -> bool:
    words = sentence.split()
    if not min_words <= len(words) <= max_words:
        return False
    chars = [ch for ch in sentence if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in chars)
    if letters < 0.8 * len(chars) or any(ord(ch) > 0x24F for ch in sentence):
        return False
    if re.search(r"[<>{}\[\]|\\_=@#*^~`]|https?:|www\.|\.\w{2,4}/|::|\$\w", sentence):
        return False
    lowered = {w.strip(".,;:!?\"'()").lower() for w in words}
    return bool(lowered & _ENGLISH_WORDS) and (sentence[0].isalpha() or sentence[0] in "\"'(")


def parse_fortune_file(path: str | os.PathLike, min_words: int = 5, max_words: int = 40) -> list[str]:
    """Sentences of one fortune file: fortunes split at "%" lines, overstriking removed, attributions ("-- Author"
    and what follows) dropped, wrapped lines joined, split into sentences; kept when `min_words`..`max_words` words
    long, mostly letters, Latin script, with no code/markup symbols and at least one common English word.

    Raises:
        OSError: the file cannot be read.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        content = _OVERSTRIKE.sub("", f.read())
    sentences = []
    for fortune in re.split(r"^%\s*$", content, flags=re.MULTILINE):
        lines = []
        for line in fortune.splitlines():
            if _ATTRIBUTION.match(line):
                break
            lines.append(line.strip())
        text = " ".join(" ".join(lines).split())
        text = re.sub(r"\s+--\s+[A-Z][\w.' ]{0,40}$", "", text)  # an attribution on the last text line
        if not text:
            continue
        for sentence in split_sentences(text):
            sentence = re.sub(r"^\(?\d{1,2}[.)]\s+", "", sentence.strip()).strip()
            if sentence.count('"') % 2:
                sentence = sentence.strip('"').strip()
            if sentence and sentence.count('"') % 2 == 0 and _good_fortune_sentence(sentence, min_words, max_words):
                sentences.append(sentence)
    return sentences


def fortune_sentences(
    fortune_dir: str | os.PathLike = FORTUNES_DIR, min_words: int = 5, max_words: int = 40,
    skip_files: Iterable[str] = FORTUNE_SKIP_FILES,
) -> list[dict[str, str]]:
    """De-duplicated sentences of every fortune file in `fortune_dir` (not its sub-folders such as `off/`, not the
    `.dat` indexes nor `.u8` links, not `skip_files`), each with a user prompt from `FORTUNE_PROMPTS` chosen by the
    sentence's hash.

    Returns:
        `{"id": "f-<hash>", "prompt", "response", "file"}` dicts in file then text order.

    Raises:
        FileNotFoundError: `fortune_dir` is not a folder (Debian: `apt-get install fortunes`).
    """
    folder = Path(fortune_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"no fortune folder at {folder}: install Debian's `fortunes` package")
    skip = set(skip_files)
    rows, seen = [], set()
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.is_symlink() or path.suffix in (".dat", ".u8") or path.name in skip:
            continue
        for sentence in parse_fortune_file(path, min_words, max_words):
            key = normalize_question(sentence)
            if key in seen:
                continue
            seen.add(key)
            digest = hashlib.sha1(sentence.encode("utf-8")).hexdigest()
            prompt = FORTUNE_PROMPTS[int(digest[:8], 16) % len(FORTUNE_PROMPTS)]
            rows.append({"id": f"f-{digest[:12]}", "prompt": prompt, "response": sentence, "file": path.name})
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# the corpus
# ----------------------------------------------------------------------------------------------------------------------


def split_of(record_id: str, validation_fraction: float = 0.02) -> str:
    """"validation" for about `validation_fraction` of ids (by a hash of the id, stable), else "train"."""
    bucket = int(hashlib.sha1(record_id.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000
    return "validation" if bucket < validation_fraction else "train"


def _write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def corpus_record(record_id: str, source: str, prompt: str, raw_response: str, split: str,
                  id_map: dict[str, int]) -> dict[str, Any] | None:
    """One corpus record (`id`, `source`, `split`, `prompt`, `response` = `speakable_text(raw_response)`,
    `raw_response`, `phonemes`, `units`), or None when nothing speakable is left."""
    response = speakable_text(raw_response)
    if not response:
        return None
    phonemes = default_phonemizer().phonemize(response)
    units = phonemes_to_units(phonemes, id_map)
    if not units:
        return None
    return {"id": record_id, "source": source, "split": split, "prompt": prompt, "response": response,
            "raw_response": raw_response, "phonemes": phonemes, "units": units}


def build_phoneme_corpus(
    output_dir: str | os.PathLike,
    num_questions: int | None = 20000,
    fortunes: bool = True,
    *,
    questions: Sequence[dict[str, str]] | None = None,
    include_seed_train: bool = True,
    seed: int = 0,
    batch_size: int = 32,
    max_new_tokens: int = 64,
    dtype: str = "float32",
    fortune_dir: str | os.PathLike = FORTUNES_DIR,
    max_fortunes: int | None = None,
    validation_fraction: float = 0.02,
    shard_size: int = 5000,
    model: Any = None,
    tokenizer: Any = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Writes the phoneme corpus to `output_dir`: `llm_answers.jsonl` (SmolLM2's raw answers, resumable),
    `corpus-<source>-<k>.jsonl` shards of records (:func:`corpus_record` fields; sources "answer", "seed_answer",
    "fortune"), and `summary.json` (counts per source and split, the unit id histogram, the share of responses with
    digits, SmolLM2 token coverage, timings). A rerun asks the LLM only the questions not yet answered and rewrites
    the shards (phonemizing is fast).

    Args:
        output_dir: the folder (created).
        num_questions: template questions (see :func:`training_questions`); ignored when `questions` is given.
        fortunes: add the fortune sentences.
        questions: `{"id", "question", "category"}` dicts to use instead of :func:`training_questions` (ids
            starting with "seed-" are "seed_answer" records).
        include_seed_train, seed: passed to :func:`training_questions`.
        batch_size, max_new_tokens, dtype, model, tokenizer, progress: passed to :func:`llm_answers`.
        fortune_dir, max_fortunes: where the fortunes are, and at most how many sentences (in a seeded order).
        validation_fraction: the share of ids in the "validation" split.
        shard_size: records per shard file.

    Returns:
        The summary dict.

    Raises:
        ValueError: a bad fraction or shard size; see :func:`llm_answers`.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive int, got {shard_size!r}")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    id_map = load_phoneme_id_map()
    timings: dict[str, float] = {}
    if questions is None:
        questions = training_questions(num_questions, seed=seed, include_seed_train=include_seed_train)
    start = time.perf_counter()
    answers = llm_answers(questions, output / ANSWERS_FILE, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          dtype=dtype, model=model, tokenizer=tokenizer, progress=progress)
    timings["llm_answers_s"] = time.perf_counter() - start

    records: dict[str, list[dict[str, Any]]] = {s: [] for s in SOURCES}
    start = time.perf_counter()
    for row in answers:
        source = "seed_answer" if row["id"].startswith("seed-") else "answer"
        record = corpus_record(row["id"], source, row["question"], row["raw_response"],
                               split_of(row["id"], validation_fraction), id_map)
        if record is not None:
            record["truncated"] = row.get("truncated", False)
            records[source].append(record)
    timings["answers_phonemes_s"] = time.perf_counter() - start
    if fortunes:
        start = time.perf_counter()
        rows = fortune_sentences(fortune_dir)
        if max_fortunes is not None:
            random.Random(seed).shuffle(rows)
            rows = rows[:max_fortunes]
        for row in rows:
            record = corpus_record(row["id"], "fortune", row["prompt"], row["response"],
                                   split_of(row["id"], validation_fraction), id_map)
            if record is not None:
                records["fortune"].append(record)
        timings["fortunes_s"] = time.perf_counter() - start
        timings["fortune_sentences"] = len(rows)

    for stale in output.glob("corpus-*.jsonl"):
        stale.unlink()
    shards = []
    for source, rows in records.items():
        for k in range(0, len(rows), shard_size):
            path = output / f"corpus-{source}-{k // shard_size:05d}.jsonl"
            _write_jsonl_atomic(path, rows[k : k + shard_size])
            shards.append(path.name)
    summary = corpus_summary([r for rows in records.values() for r in rows], id_map, tokenizer=tokenizer)
    summary.update({"shards": shards, "timings": {k: round(v, 3) for k, v in timings.items()},
                    "validation_fraction": validation_fraction, "max_new_tokens": max_new_tokens, "dtype": dtype})
    tmp = output / (SUMMARY_FILE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, output / SUMMARY_FILE)
    return summary


def corpus_summary(records: Sequence[dict[str, Any]], id_map: dict[str, int] | None = None,
                   tokenizer: Any = None) -> dict[str, Any]:
    """Counts per source and split, the unit id histogram (index = id), the share of responses (and of characters)
    that are digits, and how much of SmolLM2's vocabulary the raw responses use (`token_coverage`: distinct ids /
    vocabulary size, with the count of tokens)."""
    id_map = load_phoneme_id_map() if id_map is None else id_map
    histogram = [0] * unit_vocab_size(id_map)
    counts: Counter = Counter()
    with_digits = digit_chars = chars = 0
    for r in records:
        counts[f"{r['source']}/{r['split']}"] += 1
        for u in r["units"]:
            histogram[u] += 1
        with_digits += any(ch.isdigit() for ch in r["response"])
        digit_chars += sum(ch.isdigit() for ch in r["response"])
        chars += len(r["response"])
    coverage: dict[str, Any] = {}
    if records:
        if tokenizer is None:
            from transformers import AutoTokenizer

            from offline_assets.sources import smollm2_dir

            tokenizer = AutoTokenizer.from_pretrained(str(smollm2_dir()))
        seen: set[int] = set()
        total = 0
        for r in records:
            ids = tokenizer(r["raw_response"], add_special_tokens=False)["input_ids"]
            seen.update(ids)
            total += len(ids)
        coverage = {"distinct_tokens": len(seen), "vocab_size": len(tokenizer), "tokens": total,
                    "token_coverage": round(len(seen) / max(1, len(tokenizer)), 4)}
    return {
        "records": len(records),
        "counts": dict(sorted(counts.items())),
        "units": sum(histogram),
        "unit_histogram": histogram,
        "unused_unit_ids": [i for i, c in enumerate(histogram) if c == 0],
        "digit_share": {"responses_with_digits": round(with_digits / max(1, len(records)), 4),
                        "digit_chars": round(digit_chars / max(1, chars), 5)},
        **coverage,
    }


__all__ = [
    "FORTUNE_PROMPTS",
    "HeldOutFilter",
    "build_phoneme_corpus",
    "corpus_record",
    "corpus_summary",
    "fortune_sentences",
    "llm_answers",
    "normalize_question",
    "parse_fortune_file",
    "seed_instructions",
    "split_of",
    "split_sentences",
    "training_questions",
]
