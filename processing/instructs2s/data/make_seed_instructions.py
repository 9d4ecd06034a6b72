# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Write ``seed_instructions.jsonl``: speech-friendly everyday questions and requests for the InstructS2S builder.

The seed file lets the data builder run offline. Every line is one JSON object::

    {"id": "seed-00001", "instruction": "...", "category": "...", "answer": "..." | null, "split": "train" | "heldout"}

``answer`` is set for the factual questions only: the short form a listener would accept (a correct spoken
answer contains it, e.g. "Paris", "eight", "Shakespeare"). About 10 % of each category is held out
(``split: "heldout"``, seeded) for honest evaluation.

All content is curated here by hand (fact tables and phrasings); templates rotate so that no two questions
read the same. The output is deterministic: rerun with

    python processing/instructs2s/data/make_seed_instructions.py            # rewrite the file
    python processing/instructs2s/data/make_seed_instructions.py --check    # exit 1 if the file is not up to date
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from processing.instructs2s.text_normalizer import number_to_words, ordinal_to_words  # noqa: E402

OUTPUT = HERE / "seed_instructions.jsonl"
SEED = 2409_06666
HELDOUT_FRACTION = 0.1


def rotate(templates: list[str], items: list, offset: int = 0) -> list[str]:
    """Fill template i % len(templates) with item i (a tuple fills several fields)."""
    out = []
    for i, item in enumerate(items):
        template = templates[(i + offset) % len(templates)]
        out.append(template.format(*item) if isinstance(item, tuple) else template.format(item))
    return out


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# =========================================================================================================
# Factual questions with short unambiguous answers
# =========================================================================================================

CAPITALS = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Portugal", "Lisbon"),
    ("the United Kingdom", "London"), ("Ireland", "Dublin"), ("Belgium", "Brussels"), ("Austria", "Vienna"),
    ("Poland", "Warsaw"), ("the Czech Republic", "Prague"), ("Hungary", "Budapest"), ("Greece", "Athens"),
    ("Sweden", "Stockholm"), ("Norway", "Oslo"), ("Denmark", "Copenhagen"), ("Finland", "Helsinki"),
    ("Iceland", "Reykjavik"), ("Russia", "Moscow"), ("Romania", "Bucharest"), ("Bulgaria", "Sofia"),
    ("Serbia", "Belgrade"), ("Croatia", "Zagreb"), ("Japan", "Tokyo"), ("China", "Beijing"),
    ("South Korea", "Seoul"), ("India", "New Delhi"), ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"),
    ("the Philippines", "Manila"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"), ("Ethiopia", "Addis Ababa"),
    ("Nigeria", "Abuja"), ("Ghana", "Accra"), ("Morocco", "Rabat"), ("Canada", "Ottawa"),
    ("the United States", "Washington"), ("Mexico", "Mexico City"), ("Brazil", "Brasilia"),
    ("Argentina", "Buenos Aires"), ("Chile", "Santiago"), ("Peru", "Lima"), ("Colombia", "Bogota"),
    ("Venezuela", "Caracas"), ("Cuba", "Havana"), ("Australia", "Canberra"), ("New Zealand", "Wellington"),
    ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Saudi Arabia", "Riyadh"),
    ("Pakistan", "Islamabad"), ("Nepal", "Kathmandu"), ("Bangladesh", "Dhaka"), ("Malaysia", "Kuala Lumpur"),
    ("Scotland", "Edinburgh"), ("Wales", "Cardiff"), ("Jamaica", "Kingston"), ("Uruguay", "Montevideo"),
    ("Ecuador", "Quito"), ("Lebanon", "Beirut"), ("Jordan", "Amman"), ("Qatar", "Doha"), ("Senegal", "Dakar"),
    ("Uganda", "Kampala"), ("Tunisia", "Tunis"), ("Cambodia", "Phnom Penh"), ("Estonia", "Tallinn"),
    ("Latvia", "Riga"), ("Lithuania", "Vilnius"), ("Slovakia", "Bratislava"), ("Malta", "Valletta"),
    ("Armenia", "Yerevan"), ("Azerbaijan", "Baku"), ("Costa Rica", "San Jose"), ("Paraguay", "Asuncion"),
]  # fmt: skip
CAPITAL_TEMPLATES = [
    "What's the capital of {0}?",
    "What is the capital city of {0}?",
    "Which city is the capital of {0}?",
    "Do you know what the capital of {0} is?",
    "Can you tell me the capital of {0}?",
    "Quick question, what's the capital of {0}?",
    "I always forget, what's the capital of {0}?",
    "Hey, what city is the capital of {0}?",
]
CAPITAL_REVERSE_TEMPLATES = [
    "{0} is the capital of which country?",
    "Which country has {0} as its capital?",
    "What country is {0} the capital of?",
]
N_REVERSE_CAPITALS = 14

CONTINENTS = [
    ("Brazil", "South America"), ("Kenya", "Africa"), ("Japan", "Asia"), ("Canada", "North America"),
    ("Argentina", "South America"), ("Germany", "Europe"), ("India", "Asia"), ("Mexico", "North America"),
    ("Peru", "South America"), ("Nigeria", "Africa"), ("Thailand", "Asia"), ("Norway", "Europe"),
    ("Chile", "South America"), ("Morocco", "Africa"), ("Vietnam", "Asia"), ("Portugal", "Europe"),
    ("Ghana", "Africa"), ("Colombia", "South America"), ("Sweden", "Europe"), ("Nepal", "Asia"),
    ("Ethiopia", "Africa"), ("Poland", "Europe"), ("Bolivia", "South America"), ("Tanzania", "Africa"),
    ("Mongolia", "Asia"), ("Ecuador", "South America"),
]  # fmt: skip
CONTINENT_TEMPLATES = [
    "Which continent is {0} in?",
    "On what continent would I find {0}?",
    "{0} is on which continent?",
    "What continent is {0} part of?",
]

LANDMARK_CITIES = [
    ("the Eiffel Tower", "Paris"), ("the Colosseum", "Rome"), ("the Statue of Liberty", "New York"),
    ("Big Ben", "London"), ("the Sagrada Familia", "Barcelona"), ("the Golden Gate Bridge", "San Francisco"),
    ("the Brandenburg Gate", "Berlin"), ("the Space Needle", "Seattle"), ("the Parthenon", "Athens"),
    ("the Kremlin", "Moscow"), ("the Louvre museum", "Paris"), ("Times Square", "New York"),
]  # fmt: skip
LANDMARK_CITY_TEMPLATES = [
    "In which city is {0}?",
    "Which city would I visit to see {0}?",
    "What city is home to {0}?",
]
LANDMARK_COUNTRIES = [
    ("the Taj Mahal", "India"), ("the Great Wall", "China"), ("Machu Picchu", "Peru"),
    ("the pyramids of Giza", "Egypt"), ("the Christ the Redeemer statue", "Brazil"), ("Petra", "Jordan"),
    ("Angkor Wat", "Cambodia"), ("the Leaning Tower of Pisa", "Italy"), ("Chichen Itza", "Mexico"),
    ("Mount Fuji", "Japan"), ("the Alhambra palace", "Spain"), ("Neuschwanstein Castle", "Germany"),
    ("the Sydney Opera House", "Australia"),
]  # fmt: skip
LANDMARK_COUNTRY_TEMPLATES = [
    "In which country can you find {0}?",
    "Which country is {0} in?",
    "If I want to see {0}, which country should I travel to?",
]

LANGUAGES = [
    ("Brazil", "Portuguese"), ("Mexico", "Spanish"), ("Argentina", "Spanish"), ("Japan", "Japanese"),
    ("Egypt", "Arabic"), ("Austria", "German"), ("Iran", "Persian"), ("the Netherlands", "Dutch"),
    ("Poland", "Polish"), ("Greece", "Greek"), ("Sweden", "Swedish"), ("Turkey", "Turkish"),
    ("Portugal", "Portuguese"), ("Thailand", "Thai"), ("South Korea", "Korean"), ("Vietnam", "Vietnamese"),
    ("Israel", "Hebrew"), ("Hungary", "Hungarian"),
]  # fmt: skip
LANGUAGE_TEMPLATES = [
    "What language do people mainly speak in {0}?",
    "What's the main language of {0}?",
    "If I travel to {0}, what language will I hear most?",
    "Which language is spoken in {0}?",
]

CURRENCIES = [
    ("Japan", "yen"), ("the United Kingdom", "pound"), ("the United States", "dollar"), ("India", "rupee"),
    ("Mexico", "peso"), ("Russia", "ruble"), ("South Korea", "won"), ("Switzerland", "franc"),
    ("Brazil", "real"), ("Thailand", "baht"), ("Turkey", "lira"), ("Poland", "zloty"), ("Germany", "euro"),
    ("South Africa", "rand"), ("Italy", "euro"),
]  # fmt: skip
CURRENCY_TEMPLATES = [
    "What currency do they use in {0}?",
    "What's the money called in {0}?",
    "Which currency would I need in {0}?",
]

# (question, answer): each written out by hand
SPACE = [
    ("Which planet is closest to the sun?", "Mercury"),
    ("What is the largest planet in our solar system?", "Jupiter"),
    ("Which planet is known as the red planet?", "Mars"),
    ("Which planet is famous for its big bright rings?", "Saturn"),
    ("What is the hottest planet in the solar system?", "Venus"),
    ("Which planet is the farthest from the sun?", "Neptune"),
    ("Which planet spins on its side?", "Uranus"),
    ("What's the smallest planet in our solar system?", "Mercury"),
    ("How many planets are there in our solar system?", "eight"),
    ("Which planet has a giant storm called the Great Red Spot?", "Jupiter"),
    ("What is the name of our galaxy?", "Milky Way"),
    ("What is the closest star to the Earth?", "sun"),
    ("Which planet is often called Earth's twin?", "Venus"),
    ("What was Pluto reclassified as in two thousand six?", "dwarf planet"),
    ("What was the name of the first artificial satellite?", "Sputnik"),
    ("Who was the first person to walk on the moon?", "Armstrong"),
    ("Who was the first human to travel into space?", "Gagarin"),
    ("What do we call a scientist who studies the stars and planets?", "astronomer"),
]
PLANET_ORDER = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
PLANET_ORDER_TEMPLATES = [
    "Which planet is the {0} from the sun?",
    "Counting out from the sun, which planet comes {0}?",
]

ANIMAL_FACTS = [
    ("How many legs does a spider have?", "eight"),
    ("How many legs does an insect have?", "six"),
    ("How many arms does an octopus have?", "eight"),
    ("How many hearts does an octopus have?", "three"),
    ("How many humps does a dromedary camel have?", "one"),
    ("What is the largest mammal on Earth?", "blue whale"),
    ("What's the fastest land animal?", "cheetah"),
    ("What is the tallest animal in the world?", "giraffe"),
    ("What is the largest bird in the world?", "ostrich"),
    ("Which bird is the fastest when it dives?", "peregrine falcon"),
    ("What's the biggest land animal?", "elephant"),
    ("Which animal is known as the king of the jungle?", "lion"),
    ("What is the only mammal that can truly fly?", "bat"),
    ("What do giant pandas mostly eat?", "bamboo"),
    ("Which striped animal looks a bit like a horse?", "zebra"),
    ("What is the largest kind of cat?", "tiger"),
    ("What kind of animal is a Komodo dragon?", "lizard"),
    ("Is a whale a fish or a mammal?", "mammal"),
    ("What do bees make from flower nectar?", "honey"),
    ("Which bird lays the largest eggs?", "ostrich"),
    ("What do you call an animal that eats only plants?", "herbivore"),
    ("What do you call an animal that eats only meat?", "carnivore"),
    ("What do you call an animal that eats both plants and meat?", "omnivore"),
    ("Which slow animal hangs upside down in rainforest trees?", "sloth"),
    ("What is a group of wolves called?", "pack"),
    ("What's a group of lions called?", "pride"),
    ("What do you call a group of fish swimming together?", "school"),
    ("Which animal can change the color of its skin and has eyes that move on their own?", "chameleon"),
    ("Which black and white bird cannot fly and lives in Antarctica?", "penguin"),
    ("Which animal carries its baby in a pouch and hops around Australia?", "kangaroo"),
]
BABY_ANIMALS = [
    ("cat", "kitten"), ("dog", "puppy"), ("cow", "calf"), ("horse", "foal"), ("sheep", "lamb"), ("goat", "kid"),
    ("kangaroo", "joey"), ("frog", "tadpole"), ("swan", "cygnet"), ("duck", "duckling"), ("bear", "cub"),
    ("goose", "gosling"), ("pig", "piglet"), ("deer", "fawn"), ("owl", "owlet"), ("chicken", "chick"),
]  # fmt: skip
BABY_ANIMAL_TEMPLATES = [
    "What do you call a baby {0}?",
    "What's a baby {0} called?",
    "What is the name for a young {0}?",
    "My kid asked me, what's a baby {0} called?",
]

SCIENCE = [
    ("At what temperature in Celsius does water boil at sea level?", "one hundred"),
    ("At what temperature in Celsius does water freeze?", "zero"),
    ("What's the freezing point of water in Fahrenheit?", "thirty-two"),
    ("What is the boiling point of water in Fahrenheit?", "two hundred twelve"),
    ("Which gas do plants take in from the air?", "carbon dioxide"),
    ("Which gas do we need to breathe to stay alive?", "oxygen"),
    ("What is the lightest element?", "hydrogen"),
    ("Which metal is liquid at room temperature?", "mercury"),
    ("What element are diamonds made of?", "carbon"),
    ("Which gas makes party balloons float?", "helium"),
    ("What is the atomic number of carbon?", "six"),
    ("What's the atomic number of oxygen?", "eight"),
    ("What is the atomic number of hydrogen?", "one"),
    ("Which element has a chemical symbol made of the letters F and E?", "iron"),
    ("Which element has the chemical symbol made of the letters A and U?", "gold"),
    ("What do we call the compound with the formula H2O?", "water"),
    ("What force pulls things down toward the Earth?", "gravity"),
    ("What is the process plants use to turn sunlight into food called?", "photosynthesis"),
    ("How many bones are in the adult human body?", "two hundred six"),
    ("What is the largest organ of the human body?", "skin"),
    ("How many chambers does the human heart have?", "four"),
    ("How many teeth does an adult usually have, counting wisdom teeth?", "thirty-two"),
    ("Which organ pumps blood around the body?", "heart"),
    ("What is the longest bone in the human body?", "femur"),
    ("How many lungs does a person have?", "two"),
    ("Which vitamin does your skin make from sunlight?", "vitamin D"),
    ("What is the hardest natural material?", "diamond"),
    ("What is the center of an atom called?", "nucleus"),
    ("What do we call melted rock that flows out of a volcano?", "lava"),
    ("What instrument measures temperature?", "thermometer"),
    ("What instrument measures air pressure?", "barometer"),
    ("What tool do astronomers use to look at distant stars?", "telescope"),
    ("What lab instrument lets you see tiny cells?", "microscope"),
    ("What is the study of living things called?", "biology"),
    ("What is the study of rocks called?", "geology"),
    ("What is the study of weather called?", "meteorology"),
    ("How many colors are there in a rainbow?", "seven"),
    ("What color do you get if you mix blue and yellow?", "green"),
    ("What color do you get when you mix red and yellow?", "orange"),
    ("If you mix red and blue paint, what color do you get?", "purple"),
    ("What color do you get by mixing red and white?", "pink"),
    ("What part of the body do you use to smell?", "nose"),
]

UNIT_FACTS = [
    ("days", "a week", 7), ("hours", "a day", 24), ("minutes", "an hour", 60), ("seconds", "a minute", 60),
    ("days", "a leap year", 366), ("days", "a normal year", 365), ("months", "a year", 12),
    ("weeks", "a year", 52), ("centimeters", "a meter", 100), ("meters", "a kilometer", 1000),
    ("grams", "a kilogram", 1000), ("millimeters", "a centimeter", 10), ("inches", "a foot", 12),
    ("feet", "a yard", 3), ("ounces", "a pound", 16), ("years", "a century", 100), ("years", "a decade", 10),
    ("years", "a millennium", 1000), ("eggs", "a dozen", 12), ("milliliters", "a liter", 1000),
]  # fmt: skip
UNIT_TEMPLATES = [
    "How many {0} are there in {1}?",
    "How many {0} make up {1}?",
    "Quick one, how many {0} are in {1}?",
    "Do you know how many {0} there are in {1}?",
]
SHAPES = [
    ("a triangle", 3), ("a square", 4), ("a pentagon", 5), ("a hexagon", 6), ("a heptagon", 7), ("an octagon", 8),
    ("a decagon", 10),
]  # fmt: skip
SHAPE_TEMPLATES = ["How many sides does {0} have?", "How many sides are there on {0}?"]
GEOMETRY = [
    ("How many degrees are there in a right angle?", "ninety"),
    ("How many degrees are there in a full circle?", "three hundred sixty"),
    ("What do the angles of a triangle add up to, in degrees?", "one hundred eighty"),
    ("What do you call a triangle with all three sides the same length?", "equilateral"),
]

CALENDAR = [
    ("What's the first month of the year?", "January"),
    ("What is the last month of the year?", "December"),
    ("Which month has the fewest days?", "February"),
    ("How many days does February have in a leap year?", "twenty-nine"),
    ("How many days are there in April?", "thirty"),
    ("How many days does September have?", "thirty"),
    ("How many days are in October?", "thirty-one"),
    ("In which month is Halloween?", "October"),
    ("What month is Christmas in?", "December"),
    ("Which season comes after winter?", "spring"),
    ("How often does a leap year come around?", "four"),
    ("What day comes after Wednesday?", "Thursday"),
    ("What day of the week comes before Sunday?", "Saturday"),
]
MONTH_AFTER = ["March", "June", "August", "November"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip

GAMES = [
    ("How many players does a soccer team have on the field?", "eleven"),
    ("How many players are on a basketball team on the court at once?", "five"),
    ("How many players are on a volleyball team on the court?", "six"),
    ("How many players does a baseball team have on the field?", "nine"),
    ("How many rings are there on the Olympic flag?", "five"),
    ("How many holes are in a standard round of golf?", "eighteen"),
    ("In which sport do you hit a shuttlecock?", "badminton"),
    ("What sport is played at Wimbledon?", "tennis"),
    ("How many points is a touchdown worth in American football?", "six"),
    ("How many squares are there on a chessboard?", "sixty-four"),
    ("Which chess piece moves in an L shape?", "knight"),
    ("How many pieces does each player start with in chess?", "sixteen"),
    ("How many players does one ice hockey team have on the ice, including the goalie?", "six"),
    ("How many sides does a normal die have?", "six"),
    ("How many cards are in a standard deck, not counting jokers?", "fifty-two"),
    ("How many strings does a standard guitar have?", "six"),
    ("How many keys are on a standard piano?", "eighty-eight"),
    ("How many strings does a violin have?", "four"),
    ("In which sport would you perform a slam dunk?", "basketball"),
    ("In which country did the Olympic Games begin?", "Greece"),
]

CULTURE = [
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
    ("Who wrote the play Hamlet?", "Shakespeare"),
    ("Who wrote Pride and Prejudice?", "Austen"),
    ("Who's the author of the novel Nineteen Eighty-Four?", "Orwell"),
    ("Who wrote the Harry Potter books?", "Rowling"),
    ("Who wrote The Adventures of Tom Sawyer?", "Twain"),
    ("Who wrote A Christmas Carol?", "Dickens"),
    ("Which ancient Greek poet is said to have written The Odyssey?", "Homer"),
    ("Who wrote Don Quixote?", "Cervantes"),
    ("Who wrote War and Peace?", "Tolstoy"),
    ("Who wrote The Old Man and the Sea?", "Hemingway"),
    ("Who wrote the novel Frankenstein?", "Shelley"),
    ("Who wrote The Hobbit?", "Tolkien"),
    ("Who wrote Alice's Adventures in Wonderland?", "Carroll"),
    ("Who wrote Moby Dick?", "Melville"),
    ("Who wrote The Cat in the Hat?", "Seuss"),
    ("Who painted the Mona Lisa?", "da Vinci"),
    ("Who painted The Starry Night?", "van Gogh"),
    ("Who painted the ceiling of the Sistine Chapel?", "Michelangelo"),
    ("Who painted The Scream?", "Munch"),
    ("Which artist painted Guernica?", "Picasso"),
    ("Who painted Girl with a Pearl Earring?", "Vermeer"),
    ("Which sculptor made The Thinker?", "Rodin"),
    ("Who composed the Moonlight Sonata?", "Beethoven"),
    ("Who composed the opera The Magic Flute?", "Mozart"),
    ("Who composed The Four Seasons?", "Vivaldi"),
    ("Who wrote the music for the ballet The Nutcracker?", "Tchaikovsky"),
    ("Who developed the theory of relativity?", "Einstein"),
    ("Who discovered penicillin?", "Fleming"),
    ("Which scientist described the laws of motion, in the story with the falling apple?", "Newton"),
    ("Who came up with the theory of evolution by natural selection?", "Darwin"),
    ("Who is credited with inventing the telephone?", "Bell"),
    ("Who built the first printing press with movable type in Europe?", "Gutenberg"),
    ("Which brothers made the first powered airplane flight?", "Wright"),
    ("Who was the first woman to win a Nobel Prize?", "Curie"),
    ("Which astronomer said that the Earth goes around the sun, back in the fifteen hundreds?", "Copernicus"),
]

HISTORY = [
    ("In what year did World War Two end?", "nineteen forty-five"),
    ("In which year did people first land on the moon?", "nineteen sixty-nine"),
    ("In what year did the Berlin Wall fall?", "nineteen eighty-nine"),
    ("In what year did the Titanic sink?", "nineteen twelve"),
    ("In which year did World War One begin?", "nineteen fourteen"),
    ("Who was the first president of the United States?", "Washington"),
    ("In what year did Columbus first sail to the Americas?", "fourteen ninety-two"),
    ("Which ancient people built the pyramids of Giza?", "Egyptian"),
    ("Who was the first emperor of Rome?", "Augustus"),
    ("What was the name of the ship that carried the Pilgrims to America?", "Mayflower"),
    ("Which country gave the Statue of Liberty to the United States?", "France"),
    ("Which civilization built the city of Machu Picchu?", "Inca"),
    ("Which famous ship sank after hitting an iceberg on its first voyage?", "Titanic"),
    ("What was the name of the wall the Romans built across northern England?", "Hadrian"),
]

GEOGRAPHY = [
    ("What is the largest ocean on Earth?", "Pacific"),
    ("What is the tallest mountain in the world?", "Everest"),
    ("Which country is the largest by area?", "Russia"),
    ("What is the smallest country in the world?", "Vatican"),
    ("What is the largest hot desert in the world?", "Sahara"),
    ("Which is the largest continent?", "Asia"),
    ("Which is the smallest continent?", "Australia"),
    ("Which is the coldest continent?", "Antarctica"),
    ("What is the longest river in Europe?", "Volga"),
    ("Which river flows through London?", "Thames"),
    ("Which river runs through Paris?", "Seine"),
    ("Which river runs through Rome?", "Tiber"),
    ("Which river flows through both Vienna and Budapest?", "Danube"),
    ("What is the largest lake in Africa?", "Victoria"),
    ("Which ocean lies between Europe and North America?", "Atlantic"),
    ("What is the largest island in the world?", "Greenland"),
    ("In which mountain range is Mount Everest?", "Himalayas"),
    ("Which country is shaped like a boot?", "Italy"),
    ("Which US state is the largest by area?", "Alaska"),
    ("Which US state is made up of islands in the middle of the Pacific?", "Hawaii"),
    ("Which US state is called the Sunshine State?", "Florida"),
    ("What is the capital of the US state of California?", "Sacramento"),
    ("Which country has a red maple leaf on its flag?", "Canada"),
    ("On which continent is the Sahara Desert?", "Africa"),
    ("What's the name of the sea between Europe and Africa?", "Mediterranean"),
    ("Which country is home to the city of Marrakesh?", "Morocco"),
]

OPPOSITES = ["hot", "up", "early", "empty", "win", "push", "buy", "wet", "fast", "rich", "asleep", "above",
             "north", "left", "top", "day", "always", "inside", "happy", "heavy"]  # fmt: skip
OPPOSITE_ANSWERS = ["cold", "down", "late", "full", "lose", "pull", "sell", "dry", "slow", "poor", "awake",
                    "below", "south", "right", "bottom", "night", "never", "outside", "sad", "light"]  # fmt: skip
OPPOSITE_TEMPLATES = [
    "What's the opposite of {0}?",
    "What word means the opposite of {0}?",
    "Can you give me the opposite of the word {0}?",
    "What is the opposite of {0}?",
]
PLURALS = [("mouse", "mice"), ("child", "children"), ("goose", "geese"), ("tooth", "teeth"), ("foot", "feet"),
           ("person", "people"), ("woman", "women"), ("ox", "oxen"), ("sheep", "sheep"), ("fish", "fish")]  # fmt: skip
PLURAL_TEMPLATES = [
    "What's the plural of {0}?",
    "What do you call more than one {0}?",
    "What is the plural form of the word {0}?",
]
PAST_TENSES = [("go", "went"), ("eat", "ate"), ("run", "ran"), ("see", "saw"), ("swim", "swam"), ("buy", "bought"),
               ("think", "thought"), ("teach", "taught"), ("fly", "flew"), ("write", "wrote"), ("bring", "brought"),
               ("catch", "caught")]  # fmt: skip
PAST_TEMPLATES = [
    "What's the past tense of {0}?",
    "What is the past tense of the verb {0}?",
    "How do you say {0} in the past tense?",
]
WORDS = [
    ("How many letters are there in the English alphabet?", "twenty-six"),
    ("How many vowels does English have, not counting Y?", "five"),
    ("What do you call words that sound the same but mean different things?", "homophone"),
    ("What do you call a word that means the same as another word?", "synonym"),
    ("What's a word with the opposite meaning of another word called?", "antonym"),
    ("What is a book about a person's life, written by that person, called?", "autobiography"),
    ("What do you call a three line Japanese poem?", "haiku"),
    ("What do you call a poem with fourteen lines?", "sonnet"),
    ("What's a word made from the first letters of other words called?", "acronym"),
]

FOOD_FACTS = [
    ("Which fruit is dried to make raisins?", "grape"),
    ("What fruit are prunes made from?", "plum"),
    ("What is guacamole mainly made of?", "avocado"),
    ("What is the main ingredient in hummus?", "chickpea"),
    ("Which country does paella come from?", "Spain"),
    ("Which country is famous for sushi?", "Japan"),
    ("Which country is famous for croissants?", "France"),
    ("In which country was pizza invented?", "Italy"),
    ("Which country is kimchi from?", "Korea"),
    ("Pad thai is a famous dish from which country?", "Thailand"),
    ("Goulash is a traditional dish from which country?", "Hungary"),
    ("Which country is famous for maple syrup?", "Canada"),
    ("What is tofu made from?", "soy"),
    ("What vegetable are most pickles made from?", "cucumber"),
    ("What nut is marzipan made from?", "almond"),
    ("What's the main ingredient in bread?", "flour"),
    ("Which spice gives curry its yellow color?", "turmeric"),
    ("What do you call a meal that's a mix of breakfast and lunch?", "brunch"),
    ("Which vitamin are oranges famous for?", "vitamin C"),
    ("What drink is made from fermented grapes?", "wine"),
    ("What do bees collect from flowers to make honey?", "nectar"),
    ("What herb is the main ingredient in classic pesto?", "basil"),
    ("Which fruit has its seeds on the outside?", "strawberry"),
    ("What kind of food is brie?", "cheese"),
    ("What is the main ingredient of an omelette?", "egg"),
    ("What grain is used to make popcorn?", "corn"),
]

ARITHMETIC_TEMPLATES = {
    "+": ["What is {a} plus {b}?", "What do you get when you add {a} and {b}?", "How much is {a} plus {b}?"],
    "-": ["What's {a} minus {b}?", "If you take {b} away from {a}, what's left?", "What is {a} take away {b}?"],
    "*": ["What is {a} times {b}?", "How much is {a} multiplied by {b}?", "What's {a} times {b}?"],
    "/": [
        "What is {a} divided by {b}?",
        "How much is {a} divided by {b}?",
        "If you split {a} into {b} equal parts, how big is each part?",
    ],
}
ARITHMETIC_EXTRA = [
    ("What is half of fifty?", "twenty-five"),
    ("What is ten percent of two hundred?", "twenty"),
    ("What is the square root of eighty-one?", "nine"),
    ("What is three squared?", "nine"),
    ("What's a quarter of one hundred?", "twenty-five"),
    ("What's double twenty-four?", "forty-eight"),
    ("What is the square root of one hundred forty-four?", "twelve"),
    ("What's five squared?", "twenty-five"),
]


def arithmetic() -> list[tuple[str, str]]:
    """Small arithmetic said in words, drawn with a fixed seed; answers computed."""
    rng = random.Random(SEED)
    out: list[tuple[str, str]] = []
    seen: set[tuple] = set()
    counts = {"+": 12, "-": 10, "*": 14, "/": 8}
    for op, count in counts.items():
        templates = ARITHMETIC_TEMPLATES[op]
        made = 0
        while made < count:
            if op == "+":
                a, b = rng.randint(3, 60), rng.randint(2, 40)
                result = a + b
            elif op == "-":
                a = rng.randint(15, 90)
                b = rng.randint(2, a - 3)
                result = a - b
            elif op == "*":
                a, b = rng.randint(2, 12), rng.randint(2, 12)
                result = a * b
            else:
                b, result = rng.randint(2, 10), rng.randint(2, 12)
                a = b * result
            if (op, a, b) in seen:
                continue
            seen.add((op, a, b))
            template = templates[made % len(templates)]
            out.append((template.format(a=number_to_words(a), b=number_to_words(b)), number_to_words(result)))
            made += 1
    return out + ARITHMETIC_EXTRA


def asked(templates: list[str], table: list[tuple]) -> list[tuple[str, str]]:
    """(question, answer) for each (subject, answer) row: the subject fills the rotating templates."""
    return list(zip(rotate(templates, [(subject,) for subject, _ in table]), [str(a) for _, a in table]))


def factual() -> list[tuple[str, str]]:
    forward = CAPITALS[:-N_REVERSE_CAPITALS]
    reverse = [(city, re.sub(r"^the ", "", country)) for country, city in CAPITALS[-N_REVERSE_CAPITALS:]]
    reverse = [(city, cap(country)) for city, country in reverse]
    later_month = [(m, MONTHS[MONTHS.index(m) + 1]) for m in MONTH_AFTER]
    planets = [(ordinal_to_words(i + 1), PLANET_ORDER[i]) for i in range(1, 7)]  # second .. seventh
    items: list[tuple[str, str]] = []
    items += asked(CAPITAL_TEMPLATES, forward)
    items += asked(CAPITAL_REVERSE_TEMPLATES, reverse)
    items += asked(CONTINENT_TEMPLATES, CONTINENTS)
    items += asked(LANDMARK_CITY_TEMPLATES, LANDMARK_CITIES)
    items += asked(LANDMARK_COUNTRY_TEMPLATES, LANDMARK_COUNTRIES)
    items += asked(LANGUAGE_TEMPLATES, LANGUAGES)
    items += asked(CURRENCY_TEMPLATES, CURRENCIES)
    items += SPACE
    items += asked(PLANET_ORDER_TEMPLATES, planets)
    items += ANIMAL_FACTS
    items += asked(BABY_ANIMAL_TEMPLATES, BABY_ANIMALS)
    items += SCIENCE
    units = rotate(UNIT_TEMPLATES, [(unit, whole) for unit, whole, _ in UNIT_FACTS])
    items += zip(units, [number_to_words(n) for *_, n in UNIT_FACTS])
    items += asked(SHAPE_TEMPLATES, [(shape, number_to_words(n)) for shape, n in SHAPES])
    items += GEOMETRY
    items += CALENDAR
    items += asked(["Which month comes after {0}?", "What month comes right after {0}?"], later_month)
    items += GAMES
    items += CULTURE
    items += HISTORY
    items += GEOGRAPHY
    items += asked(OPPOSITE_TEMPLATES, list(zip(OPPOSITES, OPPOSITE_ANSWERS)))
    items += asked(PLURAL_TEMPLATES, PLURALS)
    items += asked(PAST_TEMPLATES, PAST_TENSES)
    items += WORDS
    items += FOOD_FACTS
    items += arithmetic()
    return list(items)


# =========================================================================================================
# Open requests (no single answer)
# =========================================================================================================

HOW_TO_TASKS = [
    "boil an egg so the yolk is still soft", "get a coffee stain out of a white shirt", "tie a tie",
    "fall asleep faster", "keep my houseplants alive", "start running as a complete beginner",
    "unclog a drain without harsh chemicals", "make a really good cup of coffee at home", "remember people's names",
    "stop procrastinating", "clean a cast iron pan", "learn a new language on my own", "keep cut flowers fresh longer",
    "make new friends after moving to a new city", "calm my nerves before a job interview", "fold a fitted sheet",
    "keep my phone battery healthy", "organize a small closet", "get rid of fruit flies in the kitchen",
    "prepare for a long day hike", "wake up earlier without feeling awful", "start a small vegetable garden on a balcony",
    "feel more confident speaking in public", "write a nice thank you note", "teach my dog to sit",
    "get my cat to stop scratching the sofa", "make my home smell nice", "sharpen a kitchen knife",
    "keep my bike in good shape", "pack a suitcase so my clothes don't wrinkle", "make a simple monthly budget",
    "stay focused while studying", "choose a ripe watermelon", "fix a flat tire on a bike", "cut down my screen time",
    "plan a birthday party for a five year old", "clean my glasses without scratching them", "get better at chess",
    "start meditating", "take better photos with my phone", "keep my lips from getting chapped in winter",
    "memorize a short speech", "make a paper airplane that flies far", "wash a wool sweater without shrinking it",
    "keep bread fresh for longer", "get a splinter out", "start keeping a journal", "help a friend who feels down",
    "apologize to someone in a way that feels sincere", "say no to people without feeling guilty",
    "get my car ready for winter", "make a small apartment feel bigger", "clean a microwave quickly",
    "sleep better when it's hot at night", "make fluffy pancakes", "become a better listener",
    "make homemade lemonade", "improve my handwriting", "get started with drawing", "teach a child to ride a bike",
    "keep mosquitoes away when camping", "stay warm while sleeping in a tent", "get rid of hiccups",
    "stretch after a long day at my desk", "pick a strong password that I can still remember", "learn to touch type",
    "negotiate the price of a used car", "keep a conversation going on a first date", "tell if an egg is still fresh",
    "reheat pizza so it stays crispy", "start a book club with friends", "split bills fairly with roommates",
    "get through a long flight comfortably", "keep my kitchen sponge clean", "cool down a room without air conditioning",
    "quit biting my nails", "water succulents the right way", "clean white sneakers", "make a simple tomato sauce",
    "recover after a really hard workout", "get rid of a musty smell in my closet", "iron a shirt quickly",
    "keep my desk tidy", "wrap a present neatly", "remove a sticker without leaving glue behind",
    "plant a tree in my garden", "start saving for a holiday", "write a good birthday card message",
    "get my toddler to eat vegetables", "keep ice cream from getting icy in the freezer",
]
HOW_TO_TEMPLATES = [
    "How do I {0}?",
    "What's the best way to {0}?",
    "Can you tell me how to {0}?",
    "Any tips on how to {0}?",
    "I want to {0}. Where should I start?",
    "What's the easiest way to {0}?",
    "Could you explain how to {0}?",
    "Hey, how can I {0}?",
]

EXPLAIN_THINGS = [
    "a refrigerator", "a microwave oven", "a vaccine", "the GPS on my phone", "a solar panel", "a compass",
    "an electric car", "noise cancelling headphones", "a touch screen", "Wi-Fi", "a thermostat", "a credit score",
    "an elevator", "a hot air balloon", "a lock and key", "a digital camera", "an induction stove", "a heat pump",
    "the gears on a bicycle", "a pressure cooker", "a smoke detector", "a submarine", "a rechargeable battery",
    "an LED light bulb", "a washing machine", "a dishwasher", "an escalator", "a zipper", "a parachute",
    "sunscreen", "soap", "the internet", "a search engine", "a 3D printer", "a barcode scanner", "an X-ray machine",
    "a hearing aid", "a wind turbine", "a nuclear power plant", "a rocket", "a weather satellite",
    "cruise control in a car", "a water filter", "an air fryer", "the heart rate sensor on a smartwatch",
    "an electric guitar", "a mechanical watch", "paying with a contactless card", "the stock market",
    "a mortgage", "insurance", "a fire extinguisher", "a dam", "a lighthouse", "a sewing machine", "a thermos flask",
    "a smoke alarm", "a seatbelt", "an airbag", "a speaker",
]
EXPLAIN_TEMPLATES = [
    "How does {0} work?",
    "Can you explain how {0} works?",
    "In simple words, how does {0} work?",
    "I've always wondered how {0} works. Can you explain it?",
    "Explain how {0} works, like I'm ten years old.",
]
WHY_QUESTIONS = [
    "Why is the sky blue?", "Why do we have seasons?", "Why do onions make us cry?", "Why does bread go stale?",
    "Why do cats purr?", "Why do leaves change color in autumn?", "Why is the ocean salty?", "Why do we yawn?",
    "Why does the moon seem to change shape?", "What causes thunder?", "Why do we get goosebumps?",
    "Why do our fingers get wrinkly in the bath?", "How do birds find their way when they migrate?",
    "Why does ice float on water?", "What makes popcorn pop?", "Why do we dream?", "What causes the tides?",
    "Why do stars twinkle?", "How do bees make honey?", "Why do we need sleep?", "What causes earthquakes?",
    "Why does the wind blow?", "Why do some people get seasick?", "How do plants drink water?",
    "Why do we get hiccups?", "What causes a rainbow?", "Why do cats usually land on their feet?",
    "How do fish breathe under water?", "Why do my ears pop on an airplane?", "Why does metal feel colder than wood?",
    "Why do apples turn brown after you cut them?", "How do chameleons change color?",
    "How does the body fight off a cold?", "Why does coffee keep us awake?", "What makes a volcano erupt?",
    "Why do dogs wag their tails?", "Why is snow white?", "How do airplanes stay up in the air?",
    "How do clouds form?", "Why does hot air rise?", "What causes fog?", "How do our eyes see colors?",
    "Why does my voice sound strange on a recording?", "How does a seed grow into a plant?",
    "Why does the sun set in the west?", "Why do we sneeze?", "How do magnets work?", "Why do we get sunburned?",
    "Why is the sea sometimes green and sometimes blue?", "How do owls see in the dark?",
]

RECOMMENDATIONS = [
    "Can you recommend a good book for a long flight?", "What's a fun board game for a family of four?",
    "Which houseplant is hard to kill for a beginner?", "What should I cook for dinner tonight with chicken and rice?",
    "Can you suggest a relaxing hobby I can do at home?", "What's a good movie to watch on a rainy Sunday?",
    "What kind of dog is good for a small apartment?", "Can you recommend a healthy breakfast that's quick to make?",
    "What's a nice gift for my grandmother's birthday?", "What should I do this weekend if the weather is nice?",
    "What's a good podcast topic for a long road trip?", "What's a good first instrument to learn as an adult?",
    "Which fruits should I put in a breakfast smoothie?", "What kind of exercise is gentle on the knees?",
    "What's a good game to play at a party with friends?", "Recommend me a classic novel that's easy to read.",
    "What's a good way to spend a day in a city I don't know?", "What flowers are easy to grow in a sunny garden?",
    "What's a good snack for movie night?", "Can you suggest a fun activity for kids on a rainy day?",
    "Which vegetables are easy to grow for beginners?", "What should I bring to a potluck dinner?",
    "What's a good present for a coworker who is leaving?", "What tea is nice to drink before bed?",
    "What's a nice thing to cook for a date at home?", "Can you recommend a type of music for studying?",
    "What should I read if I loved the Harry Potter books?", "What's a good warm up before going for a run?",
    "Which pet is best for a busy person?", "What's a good hobby for someone who loves being outdoors?",
    "Can you suggest a simple dessert I can make in twenty minutes?",
    "What's a good gift for a ten year old who likes science?", "What plants do well in a dark room?",
    "What should I pack for a picnic in the park?", "What's a good day trip idea near the sea?",
    "Can you recommend a short stretching routine for the morning?", "What's a fun idea for a first date?",
    "Could you recommend a cozy soup for winter?", "What's a good board game for two players?",
    "What's a useful language to learn for traveling in South America?", "Which sport could I start in my forties?",
    "What's a good breakfast before a long run?", "What's a nice way to celebrate a small win at work?",
    "What's a nice weekend getaway idea for a couple?", "Which coffee drink is the least bitter?",
    "What's a good way to unwind after a stressful day?", "What's a good family movie for the holidays?",
    "What should I cook when friends come over for dinner?", "Where should I go for my first camping trip?",
    "What kind of bike is best for riding around the city?", "What's a good fruit to eat before a workout?",
    "Could you suggest a card game for a big group?", "What's an interesting documentary topic for a family evening?",
    "What's a nice houseplant for a bathroom?", "What vegetables go well in a stir fry?",
    "What's a good present for someone who just moved into a new home?",
    "Which kind of shoes are best for standing all day at work?", "What's a good habit to start this year?",
    "What's a calming thing to do before bed?", "Can you suggest a fun theme for a birthday party?",
    "Can you recommend a simple recipe with lentils?", "What's a good kids' book about friendship?",
    "What's a good outdoor game for a family picnic?", "What's a good app-free way to learn new words every day?",
    "What should I listen to on a long drive at night?", "What's a good gift for a friend who loves cooking?",
    "Can you recommend a nice walk or hike for a beginner?", "What's a good plant to give as a gift?",
    "What's a nice way to spend a lazy Sunday morning?", "What's a good dish to cook for someone who is vegan?",
    "Which kind of coffee beans should I try if I like chocolatey flavors?",
    "What's a good thing to do with my kids on a Saturday afternoon?",
    "What kind of music is good for a dinner party?", "What's a good sport for a shy kid?",
    "Can you suggest a good name for a book club? Just one idea.",
    "What's a good snack to keep in my desk drawer at work?", "Could you recommend an easy bread recipe for beginners?",
]

PETS = ["golden retriever puppy", "little black kitten", "goldfish", "hamster", "green parrot", "fluffy rabbit",
        "tortoise", "ginger cat", "tiny chihuahua", "pet lizard", "pair of goldfish", "grey rescue dog"]  # fmt: skip
PET_TEMPLATES = [
    "Can you suggest a name for my new {0}?",
    "What should I name my {0}?",
    "Give me a cute name for a {0}.",
    "I just got a {0}. Any name ideas?",
]
POEM_TOPICS = ["the ocean", "autumn leaves", "my morning coffee", "a rainy afternoon", "the full moon", "an old friend",
               "a city at night", "the first snow of winter", "a cat asleep in the sun", "spring flowers",
               "the mountains", "a long road trip", "a lighthouse", "summer evenings", "my grandmother's kitchen",
               "the sound of rain on the roof"]  # fmt: skip
POEM_TEMPLATES = [
    "Write one short line of poetry about {0}.",
    "Can you say a short rhyming couplet about {0}?",
    "Make up a two line poem about {0}.",
    "Give me a tiny poem, just a couple of lines, about {0}.",
]
JOKE_TOPICS = ["cats", "computers", "vegetables", "the weather", "cooking", "dinosaurs", "coffee", "airplanes",
               "penguins", "the moon", "socks", "bicycles"]  # fmt: skip
JOKE_TEMPLATES = [
    "Tell me a short joke about {0}.",
    "Do you know a funny joke about {0}?",
    "Can you make me laugh with a quick joke about {0}?",
]
STORY_TOPICS = ["a brave little turtle", "a sleepy dragon", "a lost red balloon", "a penguin who wants to fly",
                "a friendly robot", "a mouse who loves cheese", "a star that falls to earth", "a snowman in spring",
                "a bear who can't sleep", "a kite that wants to touch the clouds"]  # fmt: skip
STORY_TEMPLATES = [
    "Tell me a very short bedtime story about {0}.",
    "Can you tell a tiny story, just a few sentences, about {0}?",
]
NAME_IDEAS = ["a food truck that sells tacos", "a small bakery", "a cozy coffee shop", "a family band",
              "a sailing boat", "a cooking blog", "a pub quiz team", "a hiking club", "a lemonade stand",
              "a community garden", "a robot vacuum cleaner", "a fantasy kingdom",
              "a superhero who controls the weather", "a friendly dragon in a story", "a bookshop with a cat"]  # fmt: skip
NAME_TEMPLATES = [
    "Give me a fun name for {0}.",
    "Can you think of a good name for {0}?",
    "What would be a catchy name for {0}?",
]
CREATIVE_EXTRA = [
    "Write a short, kind message for a friend who is sick.", "Write a birthday wish for my mom.",
    "Give me a motivational thought for a Monday morning.", "Describe a sunset in two sentences.",
    "Describe the smell of rain.", "Come up with a slogan for a lemonade stand.",
    "Write a short toast for my brother's wedding.", "Make up a tongue twister about a busy bee.",
    "Tell me a riddle that a seven year old could solve.", "Describe a perfect summer day in a few words.",
    "Write a short welcome message for new neighbors.", "Describe the taste of a fresh strawberry to someone who never had one.",
    "Write two sentences to cheer up someone who failed an exam.", "Give me a fun fact to start a conversation at a party.",
    "Write a thank you message for my child's teacher.", "Invent a new holiday and tell me how people celebrate it.",
    "Describe a cozy cabin in the woods.", "Make up a short rhyme to help kids brush their teeth.",
    "Write a short good night message for my partner.", "Describe what the city sounds like early in the morning.",
]

HEALTH = [
    "I've been feeling tired every afternoon. What could help?", "How much water should I drink in a day?",
    "Is it okay to exercise when I have a cold?", "What are some easy ways to reduce stress?",
    "How can I stop getting headaches from looking at screens?", "What's a good stretch for a stiff neck?",
    "How many hours of sleep does an adult need?", "Is it bad to skip breakfast?",
    "What can I do about sore muscles after the gym?", "How do I know if I'm drinking too much coffee?",
    "What helps with a sore throat?", "How can I get more steps in during a busy day?",
    "Is walking every day enough exercise?", "What should I eat when I have an upset stomach?",
    "How can I protect my skin from the summer sun?", "Why do I keep waking up in the middle of the night?",
    "What are some good habits for healthy teeth?", "How can I improve my posture at my desk?",
    "Is it normal to feel sleepy after lunch?", "What are the benefits of stretching every morning?",
    "How can I keep my energy up without eating sugar?", "What's a safe way to start running again after a long break?",
    "How can I deal with seasonal allergies?", "Are naps good for you?",
    "What can I do to rest my eyes after a long day at the computer?", "How often should I replace my toothbrush?",
    "How can I build a habit of exercising regularly?", "How can I stop snacking late at night?",
    "Is it good to go for a walk after dinner?", "What should be in a basic first aid kit at home?",
    "How do I take care of a small burn from cooking?", "What should I do if I twist my ankle?",
    "How can I stay healthy during the winter?", "Is warm water better to drink in the morning than cold water?",
    "How can I calm my breathing when I feel anxious?", "What are signs that I need a day off to rest?",
    "Does chewing gum help you concentrate?", "How long should a good workout be?",
    "How can I ease my back after sitting all day?", "What are easy exercises I can do at home without equipment?",
    "Is it okay to drink coffee on an empty stomach?", "What helps with dry skin in winter?",
    "How can I sleep well in a hotel room?", "What's a simple way to tell if I'm dehydrated?",
    "Why is fiber good for me?", "Why do my legs cramp at night?", "How can I keep my mind sharp as I get older?",
    "What's a healthy bedtime routine for a teenager?", "How can I feel less stiff in the mornings?",
    "Is it bad to crack your knuckles?", "How long does a common cold usually last?",
    "What are some ways to be kinder to myself?", "Can music help me feel calmer?",
    "What's a good way to cool down after a run?", "Is it okay to work out every single day?",
    "How can I stop feeling so sluggish on Monday mornings?", "Is it better to stand or sit while working?",
    "How do I keep my feet from hurting after a long walk?", "What can I do to stop grinding my teeth at night?",
    "What's a healthy amount of time to spend outside every day?",
]
FOOD = [
    "What can I cook with eggs, spinach and cheese?", "How long should I boil pasta?",
    "What's a quick lunch I can pack for work?", "How do I make a simple salad dressing?",
    "What spices go well with roasted vegetables?", "Is it safe to eat leftover rice the next day?",
    "How can I fix a soup that's too salty?", "What's a good substitute for eggs in baking?",
    "How do I keep a cut avocado from turning brown?", "What should I make with overripe bananas?",
    "How do I know when chicken is cooked through?", "What's a healthy snack for the afternoon?",
    "What goes well with salmon for dinner?", "How do I store fresh herbs so they last longer?",
    "What's the secret to crispy roast potatoes?", "How can I eat more vegetables without really noticing?",
    "What's a good vegetarian dinner for the whole family?", "What can I cook in ten minutes after a long day?",
    "How do I make a really good grilled cheese sandwich?", "What fruit is in season in the summer?",
    "Can I freeze bread, and how do I thaw it?", "How can I make my coffee taste less bitter?",
    "What's a tasty topping for oatmeal?", "How long can I keep cooked chicken in the fridge?",
    "How do you make a smoothie creamy without yogurt?", "What's a good side dish for a barbecue?",
    "How do I cook a steak in a pan?", "What's a fun food to make with kids?",
    "What should I put in a breakfast burrito?", "How do I make popcorn on the stove?",
    "What's an easy soup for a cold evening?", "How do I keep homemade cookies soft?",
    "Why did my cake sink in the middle?", "How do I chop an onion without crying?",
    "What's a refreshing drink for a hot day that isn't soda?", "Which cheeses go well together on a cheese board?",
    "How can I make my pancakes a bit healthier?", "How much pasta should I cook per person?",
    "What can I use instead of butter when I bake?", "How do I roast a whole chicken?",
    "What's an easy dish to bring to a party?", "How do I make hot chocolate from scratch?",
    "What can I make with leftover rice?", "Is brown sugar healthier than white sugar?",
    "What herbs go well with tomatoes?", "How long do hard boiled eggs last in the fridge?",
    "What's a filling breakfast that keeps me full until lunch?", "How do I pick a good melon at the store?",
    "How can I make tofu taste good?", "What should I serve with a curry?", "How do I keep lettuce crisp?",
    "What's a simple way to cook broccoli so it actually tastes nice?",
    "What's a classic Italian dish I can make at home?", "What snacks are good for a long car ride?",
    "How do I make iced tea at home?", "What's a good thing to eat before an exam?",
    "What can I bake with apples?", "How do I make my rice fluffy instead of mushy?",
    "What's a quick dinner with canned beans?", "What should I eat after a workout?",
]
TRAVEL = [
    "What should I pack for a weekend trip to the mountains?", "How early should I get to the airport for an international flight?",
    "What's the best way to find cheap flights?", "How do I avoid getting sick while traveling?",
    "What should I know before visiting Japan for the first time?", "Should I exchange money before my trip or when I arrive?",
    "How can I make a long train ride more fun?", "What should I do if I lose my passport abroad?",
    "How do I pack light for a two week trip?", "What should I bring on a beach holiday?",
    "How do I stay safe when traveling alone?", "What are some tips for a road trip with kids?",
    "Is travel insurance worth it?", "What are good things to do in Rome for three days?",
    "What's the best time of year to visit Iceland?", "What are a few useful words to learn before a trip to Spain?",
    "What should I wear on a long flight?", "How do I keep my valuables safe in a hostel?",
    "What's a good way to see a city on a budget?", "How does tipping work in the United States?",
    "How do I choose a good hotel?", "What's something fun to do in London when it rains?",
    "Can I bring food through airport security?", "How do I avoid feeling sick on a boat?",
    "What should I check before renting a car abroad?", "How do I plan a trip around Europe by train?",
    "What's the best seat on a plane for sleeping?", "What's a nice souvenir to bring home from Italy?",
    "What should I do when my flight is delayed?", "How should I prepare for a hike at high altitude?",
    "What do I need for a camping trip in the rain?", "How can I travel in a more eco friendly way?",
    "What's a good first trip abroad for someone who has never traveled?", "What's the weather like in Australia in December?",
    "What should I know before going on a safari?", "What's the easiest way to get around Tokyo?",
    "How can I remember a trip, apart from taking photos?", "How can I make friends while traveling?",
    "How do I keep my phone charged while traveling?", "What's the safest way to carry money when traveling?",
    "How many days do I need to see Paris?", "What should I pack for a business trip?",
    "How do I find a quiet beach away from the crowds?", "What's a nice winter destination in Europe?",
    "What are some tips for flying with a baby?", "Should I book hotels in advance or when I get there?",
    "What are some polite phrases to learn before visiting France?", "How do I avoid tourist traps?",
    "What can I do during a long layover?", "How do I stay healthy on a long road trip?",
    "What's a good way to travel between cities in Italy?", "Is it safe to drink tap water when traveling?",
    "How do I plan a surprise weekend trip for my partner?", "Where is a good place to see the northern lights?",
    "What should I know about driving on the left side of the road?", "How can I sleep well on an overnight bus?",
    "What should I bring on a cruise?", "How do I pick a good travel backpack?",
    "How do I get over jet lag after flying east?", "What's a good way to spend one day in Amsterdam?",
]
WORK = [
    "How can I ask my boss for a day off politely?", "What's a good way to start a presentation?",
    "How do I handle a difficult coworker?", "What should I say in a job interview when they ask about my weaknesses?",
    "How can I be more productive in the mornings?", "How do I write a short email to decline a meeting?",
    "What are some tips for working from home?", "How do I stay motivated at work when I'm bored?",
    "What should I wear to a job interview?", "How do I prepare for a salary negotiation?",
    "How can I take better notes in meetings?", "What's a polite way to follow up after an interview?",
    "How do I tell my manager I'm overwhelmed?", "How can I make a good first impression at a new job?",
    "How do I turn down extra work without sounding rude?", "What should I say when I introduce myself at a meeting?",
    "How can I manage my time better?", "How do I handle criticism at work?",
    "What are good questions to ask at the end of a job interview?", "How do I get back into work after a long vacation?",
    "How do I avoid burning out?", "What should I do on my first day at a new job?",
    "How do I ask a colleague for help without feeling awkward?", "How can I keep meetings short?",
    "What's a good way to give feedback to a teammate?", "How do I stay focused in an open office?",
    "How should I prepare for a phone interview?", "How do I write a good out of office message?",
    "What's the best way to handle lots of emails?", "How can I speak up more in meetings?",
    "How do I deal with a boss who micromanages?", "What's a good way to celebrate my team's success?",
    "How do I switch careers in my thirties?", "What skills are useful in almost any job?",
    "How do I ask for a promotion?", "How can I keep work and home life separate when I work remotely?",
    "How do I stop checking work messages at night?", "What's a good way to introduce two colleagues by email?",
    "How can I make my commute less stressful?", "How do I prepare for a performance review?",
    "What should I do if I make a mistake at work?", "How do I build a good relationship with my manager?",
    "How can I stay calm when a deadline is close?", "How do I write a thank you note to a mentor?",
    "What can I put on my desk to make it feel nicer?", "How can I network if I'm shy?",
    "How do I explain a gap in my resume?", "How do I resign from a job gracefully?",
    "What's a good way to plan my week on Monday morning?", "How do I keep a to do list that actually works?",
    "How do I tell a client a project will be late?", "How do I stay healthy with a desk job?",
    "What's a good way to learn new skills on the job?", "How do I prepare for my first day as a manager?",
    "What should I do in the last ten minutes of my work day?", "How do I handle a coworker who talks too much?",
    "How can I focus better after lunch?", "How do I make small talk with colleagues?",
    "How do I answer the question, where do you see yourself in five years?", "What are good habits for a team that works remotely?",
]

DEFINITION_WORDS = [
    "serendipity", "nostalgia", "empathy", "inflation", "democracy", "a metaphor", "irony", "procrastination",
    "sustainability", "mindfulness", "a mortgage", "an interest rate", "cryptocurrency", "a carbon footprint",
    "gluten", "a calorie", "a placebo", "an algorithm", "artificial intelligence", "a black hole", "evolution",
    "an ecosystem", "biodiversity", "a recession", "a hypothesis", "a pun", "sarcasm", "a cliche", "a paradox",
    "a palindrome", "an allergy", "an antibiotic", "cholesterol", "metabolism", "the immune system", "a migraine",
    "a carbohydrate", "protein", "an antioxidant", "umami", "fermentation", "a sommelier", "jet lag", "a layover",
    "a visa", "a resume", "networking", "a freelancer", "burnout", "a startup", "a dividend", "compound interest",
    "a pension", "a security deposit", "a lease", "wanderlust", "hygge", "schadenfreude", "deja vu", "a meme",
    "a podcast", "the cloud", "a firewall", "a cookie on a website", "spam", "renewable energy", "global warming",
    "a drought", "a tsunami", "an eclipse", "a comet", "a light year", "inertia", "a tariff", "a glacier",
    "a monsoon", "an introvert", "a vegan diet", "a marathon", "a haiku", "a gig economy", "a sabbatical",
]
DEFINITION_TEMPLATES = [
    "What does {0} mean?",
    "What's the meaning of {0}?",
    "Can you explain {0} in simple terms?",
    "What is {0}?",
    "I keep hearing about {0}. What is it?",
    "How would you explain {0} to a child?",
]
DEFINITION_WORD_TEMPLATES = [  # for bare words (no article), read as "the word X"
    "What does the word {0} mean?",
    "What's the meaning of the word {0}?",
    "Can you define the word {0} for me?",
]

COMPARISON_PAIRS = [
    ("weather", "climate"), ("a virus", "bacteria"), ("an alligator", "a crocodile"), ("baking soda", "baking powder"),
    ("a hurricane", "a tornado"), ("a frog", "a toad"), ("a rabbit", "a hare"), ("a butterfly", "a moth"),
    ("a cold", "the flu"), ("jam", "jelly"), ("a latte", "a cappuccino"), ("a turtle", "a tortoise"),
    ("a lake", "a pond"), ("a hill", "a mountain"), ("a stock", "a bond"), ("a debit card", "a credit card"),
    ("a dolphin", "a porpoise"), ("sweet potatoes", "yams"), ("a psychologist", "a psychiatrist"),
    ("a college", "a university"), ("a simile", "a metaphor"), ("an ocean", "a sea"), ("a star", "a planet"),
    ("an asteroid", "a meteor"), ("empathy", "sympathy"), ("affect", "effect"), ("white rice", "brown rice"),
    ("an herb", "a spice"), ("a violin", "a viola"), ("a jacket", "a coat"), ("a city", "a town"),
    ("a fruit", "a vegetable"), ("a leopard", "a cheetah"), ("a seal", "a sea lion"), ("a crow", "a raven"),
    ("a wasp", "a bee"), ("aerobic", "anaerobic exercise"), ("running", "jogging"), ("yoga", "pilates"),
    ("a sprain", "a strain"), ("a hotel", "a hostel"), ("a visa", "a passport"), ("an espresso", "a regular coffee"),
    ("green tea", "black tea"), ("cold brew", "iced coffee"), ("butter", "margarine"), ("a boss", "a leader"),
    ("a job", "a career"), ("a salary", "a wage"), ("a laptop", "a tablet"), ("memory", "storage on a computer"),
    ("Wi-Fi", "mobile data"), ("a hybrid car", "an electric car"), ("saving", "investing"),
    ("introverts", "extroverts"), ("lightning", "thunder"), ("fog", "mist"), ("sleet", "hail"),
    ("an ape", "a monkey"), ("a moon", "a planet"), ("a cafe", "a restaurant"), ("a duvet", "a blanket"),
    ("a cake", "a muffin"), ("a sprint", "a marathon"), ("mushrooms", "toadstools"), ("a canoe", "a kayak"),
]
COMPARISON_TEMPLATES = [
    "What's the difference between {0} and {1}?",
    "How is {0} different from {1}?",
    "Is there a real difference between {0} and {1}?",
    "Can you explain the difference between {0} and {1}?",
    "I always mix up {0} and {1}. How do I tell them apart?",
]
COMPARISON_EXTRA = [
    "Is it better to exercise in the morning or in the evening?", "Should I take the train or fly for a short trip?",
    "Is brown bread healthier than white bread?", "Are cats or dogs easier to look after?",
    "Is it better to lease or buy a car?", "Is tea or coffee better for me in the morning?",
    "Is it better to study in short sessions or long ones?", "Should I get a laptop or a desktop for working from home?",
    "What's healthier, walking or cycling?", "Is a shower or a bath better for relaxing?",
    "Which is warmer, wool or cotton?", "Are paper bags really better for the environment than plastic ones?",
    "Is it better to stretch before or after exercise?", "Is it cheaper to cook at home or eat out?",
    "Is it better to read a paper book or an e-book before bed?", "Are frozen vegetables as healthy as fresh ones?",
]


def open_requests() -> dict[str, list[str]]:
    bare = [w for w in DEFINITION_WORDS if not re.match(r"(a|an|the) ", w)]
    with_article = [w for w in DEFINITION_WORDS if re.match(r"(a|an|the) ", w)]
    creative = (
        rotate(PET_TEMPLATES, PETS)
        + rotate(POEM_TEMPLATES, POEM_TOPICS)
        + rotate(JOKE_TEMPLATES, JOKE_TOPICS)
        + rotate(STORY_TEMPLATES, STORY_TOPICS)
        + rotate(NAME_TEMPLATES, NAME_IDEAS)
        + CREATIVE_EXTRA
    )
    comparisons = rotate(COMPARISON_TEMPLATES, COMPARISON_PAIRS) + COMPARISON_EXTRA
    return {
        "how_to": rotate(HOW_TO_TEMPLATES, HOW_TO_TASKS),
        "explanation": rotate(EXPLAIN_TEMPLATES, EXPLAIN_THINGS) + WHY_QUESTIONS,
        "recommendation": RECOMMENDATIONS,
        "creative": creative,
        "health": HEALTH,
        "food": FOOD,
        "travel": TRAVEL,
        "work": WORK,
        "definition": rotate(DEFINITION_TEMPLATES, with_article) + rotate(DEFINITION_WORD_TEMPLATES, bare, offset=1),
        "comparison": comparisons,
    }


# =========================================================================================================
# Assembly
# =========================================================================================================


def dedupe_key(text: str) -> str:
    """Text compared for duplicates: lower case, letters and digits only."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def build_records() -> list[dict]:
    """All records in file order, with ids and a seeded, per-category stratified held-out split."""
    rows: list[tuple[str, str, str | None]] = [(q, "factual", a) for q, a in factual()]
    for category, questions in open_requests().items():
        rows += [(q, category, None) for q in questions]
    seen: dict[str, str] = {}
    for instruction, _, _ in rows:
        key = dedupe_key(instruction)
        if key in seen:
            raise ValueError(f"duplicate instruction: {instruction!r} (same as {seen[key]!r})")
        seen[key] = instruction
    records = [
        {"id": f"seed-{i:05d}", "instruction": q, "category": c, "answer": a, "split": "train"}
        for i, (q, c, a) in enumerate(rows, 1)
    ]
    for category in sorted({r["category"] for r in records}):
        members = [r for r in records if r["category"] == category]
        order = list(range(len(members)))
        random.Random(f"{SEED}:{category}").shuffle(order)
        for index in order[: round(len(members) * HELDOUT_FRACTION)]:
            members[index]["split"] = "heldout"
    return records


def render(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(build_records())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    counts: dict[str, int] = {}
    for r in build_records():
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    summary = ", ".join(f"{category} {n}" for category, n in counts.items())
    print(f"wrote {sum(counts.values())} instructions to {args.output}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
