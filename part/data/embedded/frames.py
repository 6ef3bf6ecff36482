"""Sentence frames: the structures of the embedded corpus, independent of any language.

A frame draws *slots* (concept ids from :mod:`part.data.embedded.concepts` and numbers) with a seeded
``random.Random``; every language module then writes the same slots as a sentence of its own
(``realise(frame, slots)``), which makes every sentence an exact translation of the others.

The 24 frames cover statements, questions, a request, negation, comparison, possession, existence,
location, time, habits, age, price and weather, so a model has to learn more than one word order per
language (German verb-second and subject inversion, Japanese verb-final with particles, Spanish
"gustar", Chinese measure words and "把", French partitive articles, ...).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

from part.data.embedded import concepts as C

Slots = Dict[str, object]


def _subject(rng: random.Random) -> str:
    """A name or a pronoun, half and half."""
    if rng.random() < 0.5:
        return rng.choice(sorted(C.NAMES))
    return rng.choice(C.PRONOUNS)


def _name(rng: random.Random) -> str:
    return rng.choice(sorted(C.NAMES))


def _maybe_adj(rng: random.Random, noun: str, p: float = 0.6) -> Optional[str]:
    adjs = C.adjectives_for(noun)
    if adjs and rng.random() < p:
        return rng.choice(adjs)
    return None


def _count(rng: random.Random) -> int:
    return rng.choice(C.NUMBERS)


def exist_count(rng):
    place = rng.choice([p for p in C.PLACES])
    noun = rng.choice(C.place_nouns(C.PLACES[place].contents))
    adj = None if C.NOUNS[noun].category == "person" else _maybe_adj(rng, noun, 0.5)
    return {"place": place, "noun": noun, "num": _count(rng), "adj": adj}


_OWNABLE = C.nouns_in("pet", "farm", "readable", "object", "kitchen", "clothing", "vehicle", "flower")


def have_count(rng):
    noun = rng.choice(_OWNABLE)
    return {"subj": _subject(rng), "noun": noun, "num": _count(rng), "adj": _maybe_adj(rng, noun, 0.5)}


_DESCRIBABLE = tuple(n for n in C.NOUNS if C.NOUNS[n].category not in ("person",) and not C.NOUNS[n].mass
                     and C.adjectives_for(n))


def property_(rng):
    noun = rng.choice(_DESCRIBABLE)
    return {"noun": noun, "adj": rng.choice(C.adjectives_for(noun))}


def location(rng):
    noun = rng.choice(C.MOVABLE)
    ref = rng.choice(sorted(C.REFERENCES))
    return {"noun": noun, "adj": _maybe_adj(rng, noun, 0.5), "prep": rng.choice(C.REFERENCES[ref]), "ref": ref}


_GO_PLACES = tuple(p for p in C.PLACES if C.PLACES[p].go)
_WORK_PLACES = tuple(p for p in C.PLACES if C.PLACES[p].work)
_OPEN_PLACES = tuple(p for p in C.PLACES if C.PLACES[p].opens)
_SHOPS = tuple(p for p in C.PLACES if C.PLACES[p].sells)


def go_hour(rng):
    return {"subj": _subject(rng), "place": rng.choice(_GO_PLACES), "hour": rng.choice(C.HOURS)}


def go_day(rng):
    return {"subj": _subject(rng), "place": rng.choice(_GO_PLACES), "day": rng.choice(C.DAYS)}


_LIKEABLE = C.nouns_in("pet", "farm", "food", "massfood", "drink", "flower", "book")


def like(rng):
    return {"subj": _subject(rng), "noun": rng.choice(_LIKEABLE)}


def dislike(rng):
    return {"subj": _subject(rng), "noun": rng.choice(_LIKEABLE)}


_EDIBLE = C.nouns_in("food", "massfood", "drink")


def consume(rng):
    noun = rng.choice(_EDIBLE)
    num = None if C.NOUNS[noun].mass else _count(rng)
    return {"subj": _subject(rng), "noun": noun, "num": num, "period": rng.choice(C.PERIODS)}


_NEEDABLE = C.nouns_in("readable", "object", "kitchen", "clothing", "vehicle", "furniture")


def need(rng):
    noun = rng.choice(_NEEDABLE)
    num = 1 if rng.random() < 0.5 else _count(rng)
    return {"subj": _subject(rng), "noun": noun, "num": num, "adj": _maybe_adj(rng, noun, 0.6)}


def want(rng):
    noun = rng.choice(_OWNABLE)
    return {"subj": _subject(rng), "noun": noun, "adj": _maybe_adj(rng, noun, 0.7)}


def buy_at(rng):
    place = rng.choice(_SHOPS)
    noun = rng.choice(C.place_nouns(C.PLACES[place].sells))
    return {"subj": _subject(rng), "noun": noun, "num": _count(rng), "place": place}


def work_at(rng):
    return {"subj": _subject(rng), "place": rng.choice(_WORK_PLACES)}


def where_is(rng):
    noun = rng.choice(C.MOVABLE)
    return {"noun": noun, "adj": _maybe_adj(rng, noun, 0.5)}


def how_many(rng):
    place = rng.choice(list(C.PLACES))
    return {"noun": rng.choice(C.place_nouns(C.PLACES[place].contents)), "place": place}


def have_question(rng):
    noun = rng.choice(_OWNABLE)
    return {"subj": _name(rng), "noun": noun, "adj": _maybe_adj(rng, noun, 0.5)}


_GIVABLE = C.nouns_in("readable", "object", "kitchen", "clothing", "food")


def give_me(rng):
    noun = rng.choice(_GIVABLE)
    return {"noun": noun, "adj": _maybe_adj(rng, noun, 0.6)}


def compare(rng):
    while True:
        noun = rng.choice([n for n in C.NOUNS.values() if C.comparatives_for(n.category)])
        others = [m for m in C.nouns_in(noun.category) if m != noun.id]
        if others:
            return {"noun": noun.id, "noun2": rng.choice(others), "adj": rng.choice(C.comparatives_for(noun.category))}


def state(rng):
    subj = rng.choice(sorted(C.NAMES) + ["he", "she", "they"])
    return {"subj": subj, "state": rng.choice(C.STATES)}


def weather(rng):
    return {"city": rng.choice(C.CITIES), "weather": rng.choice(C.WEATHER)}


def live(rng):
    a, b = rng.sample(sorted(C.NAMES), 2)
    return {"subj": a, "subj2": b, "city": rng.choice(C.CITIES)}


def opens(rng):
    return {"place": rng.choice(_OPEN_PLACES), "hour": rng.choice(C.HOURS)}


def age(rng):
    return {"subj": _name(rng), "num": _count(rng)}


_PRICED = C.nouns_in("readable", "object", "kitchen", "clothing", "flower", "cake")


def price(rng):
    return {"noun": rng.choice(_PRICED), "num": _count(rng)}


@dataclass(frozen=True)
class Frame:
    name: str
    sample: Callable[[random.Random], Slots]
    weight: float = 1.0


FRAMES: Tuple[Frame, ...] = tuple(
    Frame(name, fn)
    for name, fn in [
        ("exist_count", exist_count), ("have_count", have_count), ("property", property_),
        ("location", location), ("go_hour", go_hour), ("go_day", go_day), ("like", like),
        ("dislike", dislike), ("consume", consume), ("need", need), ("want", want), ("buy_at", buy_at),
        ("work_at", work_at), ("where_is", where_is), ("how_many", how_many),
        ("have_question", have_question), ("give_me", give_me), ("compare", compare), ("state", state),
        ("weather", weather), ("live", live), ("opens", opens), ("age", age), ("price", price),
    ]
)
FRAME_NAMES = tuple(f.name for f in FRAMES)


def slots_key(frame: str, slots: Slots) -> Tuple:
    """A hashable identity of a drawn sentence (frame + slots)."""
    return (frame,) + tuple(sorted(slots.items()))
