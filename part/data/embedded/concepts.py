"""The language-independent inventory of the embedded world: what can be talked about.

Every concept here has an id (a short English word) that the language modules in
``part/data/embedded/lang/`` map to their own words, genders, measure words and counters. The
inventory also knows which combinations make sense (an adjective's nouns, a place's contents, a
verb's objects), so that the sentence frames in :mod:`part.data.embedded.frames` only draw sensible
sentences ("five red cups in the kitchen", never "five red cows in the library").

Adding a concept means adding it here and to every language module; ``tests/test_embedded_corpus.py``
checks that every language covers the whole inventory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Tuple

# ---- nouns ----------------------------------------------------------------------------------------
# Categories: pet, farm (animals); food (countable), massfood, drink; readable, object, kitchen,
# clothing, vehicle, furniture, plant, person.
ANIMATE_CATEGORIES = frozenset({"pet", "farm", "person"})
MASS_CATEGORIES = frozenset({"massfood", "drink"})


@dataclass(frozen=True)
class Noun:
    id: str
    category: str
    # Colours that suit it: "all" (any colour), "animal" (black/white/brown) or "none".
    colours: str = "none"

    @property
    def animate(self) -> bool:
        return self.category in ANIMATE_CATEGORIES

    @property
    def mass(self) -> bool:
        return self.category in MASS_CATEGORIES


def _nouns(category: str, ids: str, colours: str = "none") -> Dict[str, Noun]:
    return {i: Noun(i, category, colours) for i in ids.split()}


NOUNS: Dict[str, Noun] = {
    **_nouns("pet", "dog cat rabbit mouse", "animal"),
    **_nouns("pet", "bird fish"),
    **_nouns("farm", "horse cow", "animal"),
    **_nouns("food", "apple banana egg orange tomato cake"),
    **_nouns("massfood", "bread rice cheese soup"),
    **_nouns("drink", "water milk coffee tea juice"),
    **_nouns("readable", "book newspaper letter"),
    **_nouns("object", "bag umbrella ball box lamp", "all"),
    **_nouns("object", "key pencil computer clock photo ticket"),
    **_nouns("kitchen", "cup bottle plate", "all"),
    **_nouns("clothing", "shirt hat jacket dress", "all"),
    **_nouns("vehicle", "car bicycle bus boat", "all"),
    **_nouns("furniture", "table chair bed sofa", "all"),
    **_nouns("plant", "flower", "all"),
    **_nouns("plant", "tree"),
    **_nouns("person", "child student tourist teacher"),
}
# Nouns that appear only as reference points of a location ("next to the door"), never counted.
REFERENCE_ONLY = ("door", "window")


def nouns_in(*categories: str) -> Tuple[str, ...]:
    """Ids of the nouns of the given categories (or noun ids), in inventory order."""
    wanted = set(categories)
    return tuple(n.id for n in NOUNS.values() if n.category in wanted or n.id in wanted)


# ---- adjectives -----------------------------------------------------------------------------------
COLOURS = ("red", "blue", "green", "yellow", "white", "black", "brown")
ANIMAL_COLOURS = ("white", "black", "brown")


@dataclass(frozen=True)
class Adjective:
    id: str
    categories: FrozenSet[str]  # noun categories (or noun ids) it describes (colours: see Noun.colours)
    comparable: FrozenSet[str] = frozenset()  # categories compared with it ("bigger than")


QUALITIES: Dict[str, Adjective] = {
    a.id: a
    for a in [
        Adjective("big", frozenset({"pet", "farm", "food", "object", "kitchen", "vehicle", "furniture", "plant",
                                    "readable"}), frozenset({"pet", "farm", "vehicle", "furniture"})),
        Adjective("small", frozenset({"pet", "farm", "food", "object", "kitchen", "vehicle", "furniture", "plant",
                                      "readable"}), frozenset({"pet", "farm", "vehicle", "furniture"})),
        Adjective("new", frozenset({"object", "kitchen", "clothing", "vehicle", "furniture", "readable"}),
                  frozenset({"vehicle", "furniture"})),
        Adjective("old", frozenset({"object", "kitchen", "clothing", "vehicle", "furniture", "readable"}),
                  frozenset({"vehicle", "furniture"})),
        Adjective("beautiful", frozenset({"pet", "farm", "plant", "object", "kitchen", "clothing", "vehicle",
                                          "furniture"})),
        Adjective("cheap", frozenset({"object", "kitchen", "clothing", "vehicle", "furniture", "readable"}),
                  frozenset({"vehicle", "clothing", "furniture", "object"})),
        Adjective("expensive", frozenset({"object", "kitchen", "clothing", "vehicle", "furniture", "readable"}),
                  frozenset({"vehicle", "clothing", "furniture", "object"})),
        Adjective("heavy", frozenset({"furniture", "book", "bag", "box", "lamp", "computer", "clock", "bottle"}),
                  frozenset({"pet", "farm", "vehicle", "furniture"})),
    ]
}
ADJECTIVES: Tuple[str, ...] = COLOURS + tuple(QUALITIES)


def adjectives_for(noun_id: str) -> Tuple[str, ...]:
    """The adjectives that can describe a noun (colours by ``Noun.colours``, qualities by category)."""
    noun = NOUNS[noun_id]
    colours = {"all": COLOURS, "animal": ANIMAL_COLOURS, "none": ()}[noun.colours]
    return colours + tuple(a.id for a in QUALITIES.values()
                           if noun.category in a.categories or noun.id in a.categories)


def comparatives_for(category: str) -> Tuple[str, ...]:
    """Adjectives with which two nouns of ``category`` are compared ("the car is faster than ...")."""
    return tuple(a.id for a in QUALITIES.values() if category in a.comparable)


# ---- places ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    id: str
    contents: Tuple[str, ...]  # categories or noun ids of what is found there ("there are five ...")
    go: bool = True  # "goes to the ..."
    work: bool = True  # "works at the ..."
    opens: bool = False  # "the ... opens at nine"
    sells: Tuple[str, ...] = ()  # categories or noun ids bought there ("buys three apples at the ...")


PLACES: Dict[str, Place] = {
    p.id: p
    for p in [
        Place("station", ("person", "bus", "bag", "umbrella")),
        Place("school", ("person", "readable", "table", "chair", "pencil", "ball", "computer")),
        Place("park", ("dog", "bird", "rabbit", "plant", "person", "ball"), work=False),
        Place("market", ("food", "flower", "person"), opens=True,
              sells=("food", "flower", "kitchen", "clothing")),
        Place("library", ("readable", "person", "table", "chair", "computer", "lamp"), opens=True),
        Place("hospital", ("person", "bed", "chair")),
        Place("museum", ("person", "photo", "clock"), opens=True),
        Place("restaurant", ("person", "table", "chair", "kitchen"), opens=True),
        Place("bank", ("person", "computer"), opens=True),
        Place("beach", ("person", "dog", "bird", "boat", "ball", "umbrella"), work=False),
        Place("office", ("person", "computer", "table", "chair", "readable", "lamp", "photo", "pencil")),
        Place("cinema", ("person",), opens=True),
        Place("supermarket", ("food", "kitchen", "person"), opens=True,
              sells=("food", "kitchen", "flower", "object")),
        Place("bakery", ("cake", "person"), opens=True, sells=("cake",)),
        Place("shop", ("clothing", "object", "person"), opens=True,
              sells=("clothing", "object", "kitchen", "readable")),
        Place("kitchen", ("food", "kitchen", "chair", "table", "cat"), go=False, work=False),
        Place("garden", ("dog", "cat", "bird", "rabbit", "plant", "chair", "ball"), go=False, work=False),
        Place("farm", ("farm", "dog", "cat", "bird", "person")),
    ]
}


def place_nouns(spec: Tuple[str, ...]) -> Tuple[str, ...]:
    """Noun ids named by a place's ``contents`` or ``sells`` (categories or ids)."""
    return nouns_in(*spec)


# ---- the rest of the world ------------------------------------------------------------------------
NAMES: Dict[str, str] = {  # id -> gender
    "anna": "f", "laura": "f", "emma": "f", "lisa": "f", "nina": "f", "clara": "f",
    "daniel": "m", "david": "m", "leo": "m", "marco": "m", "max": "m", "tom": "m",
}
# Pronoun subjects (no "you": its formality and number differ between the languages). "they" is a
# group of mixed or unknown gender (French ils, Spanish ellos).
PRONOUNS = ("I", "he", "she", "we", "they")
PRONOUN_GENDER = {"I": None, "he": "m", "she": "f", "we": None, "they": "m"}
PRONOUN_PERSON = {"I": 0, "he": 1, "she": 1, "we": 2, "they": 3}  # 1sg, 3sg, 1pl, 3pl


def person_of(subject: str) -> int:
    """Verb person index of a subject: 0 = 1sg, 1 = 3sg, 2 = 1pl, 3 = 3pl (names are 3sg)."""
    return PRONOUN_PERSON.get(subject, 1)


def gender_of(subject: str) -> str:
    """Grammatical gender of a subject ("m" for "they", as French ils / Spanish ellos)."""
    if subject in NAMES:
        return NAMES[subject]
    return PRONOUN_GENDER[subject] or "m"


def is_plural(subject: str) -> bool:
    return person_of(subject) >= 2


REFERENCES: Dict[str, Tuple[str, ...]] = {  # furniture (or door/window) -> prepositions used with it
    "table": ("on", "under", "next_to"),
    "chair": ("on", "under", "next_to"),
    "bed": ("on", "under", "next_to"),
    "sofa": ("on", "behind", "next_to"),
    "door": ("behind", "next_to"),
    "window": ("under", "next_to"),
}
PREPOSITIONS = ("on", "under", "next_to", "behind")
# Things that can lie on/under/next to furniture and be looked for ("where is the ...?").
MOVABLE = tuple(n for n in nouns_in("pet", "food", "readable", "object", "kitchen", "clothing")
                if n not in ("fish", "computer"))

CITIES = ("berlin", "paris", "madrid", "tokyo", "beijing", "london", "rome")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PERIODS = ("morning", "evening", "day", "week")  # "every morning" ...
STATES = ("tired", "hungry", "thirsty", "sick", "busy")
WEATHER = ("cold", "hot", "rain", "snow", "wind")
HOURS = tuple(range(1, 13))
NUMBERS = tuple(range(2, 21))  # counts, ages and prices: spelled out as words
