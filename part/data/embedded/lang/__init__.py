"""The languages of the embedded corpus: one module per language, each a :class:`Realiser` of every frame.

Adding a language: write ``lang/<code>.py`` with a Realiser subclass covering every frame of
:mod:`part.data.embedded.frames` and every concept of :mod:`part.data.embedded.concepts` (the tests
check both), register it here, and make sure ``part/data/languages.py`` has an espeak-ng voice for it.
"""
from __future__ import annotations

from typing import Dict

from part.data.embedded.lang.base import Realiser, Sentence, W
from part.data.embedded.lang.de import German
from part.data.embedded.lang.en import English
from part.data.embedded.lang.es import Spanish
from part.data.embedded.lang.fr import French
from part.data.embedded.lang.ja import Japanese
from part.data.embedded.lang.zh import Chinese

REALISERS: Dict[str, Realiser] = {r.code: r for r in (English(), German(), French(), Spanish(), Chinese(), Japanese())}
# The corpus languages in their canonical order (data files, jsonl keys and speaker ids follow it).
SUPPORTED_LANGS = tuple(REALISERS)

__all__ = ["REALISERS", "SUPPORTED_LANGS", "Realiser", "Sentence", "W"]
