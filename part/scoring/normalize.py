"""Text normalisation before scoring (applied to the reference and the hypothesis alike).

Normalisers (``--normalizer`` of ``part_score``):

``whisper`` (default)
    Whisper's normalisers, as in the Whisper paper (appendix C) and most LLM-based ASR papers: the
    English normaliser for English (spelling map, numbers, contractions, ``mister``...), the basic
    normaliser for every other language (lower case, bracketed text removed, marks/symbols/punctuation
    replaced by spaces). Both come from the ``whisper-normalizer`` package, which ships the English
    spelling map (no network access).
``basic``
    The basic normaliser for every language, English included.
``none``
    The text as decoded (scoring still splits on whitespace, and CJK into characters).

Every normaliser, ``none`` included, ends by turning each run of whitespace of any script into one
ASCII space: transcripts are kept verbatim in the data dirs, so references hold the no-break space
(U+00A0, U+202F) that French puts before ``?``, the ideographic space (U+3000) between Han characters,
or a zero-width space (U+200B) between Thai words, and a hypothesis may write a plain space there.
Without this the CER tokeniser would score U+3000 as a character of its own.

Note: like Whisper's, the basic normaliser replaces Unicode marks (category M) with spaces. For
scripts that write vowels as combining marks (Thai, Hindi, Tamil...) this drops those vowels from both
reference and hypothesis. That is what published Whisper-style numbers do; the scores stay comparable
with them, but they are not a CER over the full orthography.
"""
from __future__ import annotations

import functools
import importlib.metadata
from typing import Callable

from part.data.languages import canonical_code

NORMALIZERS = ("whisper", "basic", "none")
# Not whitespace to Python (format characters), but spaces between words where they are written.
_INVISIBLE_SPACES = str.maketrans({"\u200b": " ", "\ufeff": " "})


def fold_spaces(text: str) -> str:
    """Runs of whitespace of any script (and zero-width spaces) as one ASCII space, no space at the ends."""
    return " ".join(text.translate(_INVISIBLE_SPACES).split())


class Normalizer:
    """A named text normaliser: ``Normalizer(...)(text) -> text``; ``name`` goes into the reports."""

    def __init__(self, name: str, description: str, fn: Callable[[str], str]):
        self.name = name
        self.description = description
        self._fn = fn

    def __call__(self, text: str) -> str:
        return fold_spaces(self._fn(text))

    def __repr__(self) -> str:
        return f"Normalizer({self.name!r}: {self.description})"


def _package_version() -> str:
    try:
        return importlib.metadata.version("whisper-normalizer")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - installed by tools/install.sh
        return "?"


@functools.lru_cache(maxsize=None)
def _whisper_english():
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


@functools.lru_cache(maxsize=None)
def _whisper_basic():
    from whisper_normalizer.basic import BasicTextNormalizer

    return BasicTextNormalizer()


def get_normalizer(name: str, lang: str) -> Normalizer:
    """The normaliser ``name`` (one of :data:`NORMALIZERS`) for text in language ``lang``."""
    if name not in NORMALIZERS:
        raise ValueError(f"unknown normalizer '{name}'; choose one of {', '.join(NORMALIZERS)}")
    if name == "none":
        return Normalizer("none", "none (text as decoded)", lambda s: s)
    version = _package_version()
    if name == "whisper" and canonical_code(lang) == "en":
        return Normalizer("whisper", f"EnglishTextNormalizer (whisper-normalizer {version})", _whisper_english())
    return Normalizer(name, f"BasicTextNormalizer (whisper-normalizer {version})", _whisper_basic())
