"""Splitting normalised text into the tokens that are scored.

- Most languages: words (whitespace-separated) -> WER.
- Languages written without spaces between words (``is_cjk`` in ``part/data/languages.py``: zh, ja,
  ko, yue, th) -> CER: every character of a CJK-like script (Han, kana, Hangul, Bopomofo, Thai, Lao,
  Khmer, Myanmar, CJK punctuation and full-width forms) is its own token, while runs of other
  characters (Latin words, digit runs) stay whole, and spaces are dropped:
  ``"我们用 GPT4 模型"`` -> ``我 们 用 GPT4 模 型``.

Tokens are then made safe for sclite's trn syntax (:func:`part.scoring.sclite.trn_token`).
"""
from __future__ import annotations

import re
from typing import List

from part.data.languages import is_cjk
from part.scoring.sclite import trn_token

# Characters scored one by one in CER languages (code point ranges).
_CJK_RANGES = (
    "\u0e00-\u0e7f"  # Thai
    "\u0e80-\u0eff"  # Lao
    "\u1000-\u109f"  # Myanmar
    "\u1100-\u11ff"  # Hangul Jamo
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3000-\u303f"  # CJK symbols and punctuation (、。「」々〇...)
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u312f"  # Bopomofo
    "\u3130-\u318f"  # Hangul compatibility Jamo
    "\u31a0-\u31ff"  # Bopomofo extended, CJK strokes, Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\ua960-\ua97f"  # Hangul Jamo extended A
    "\uac00-\ud7ff"  # Hangul syllables, Jamo extended B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\ufe30-\ufe4f"  # CJK compatibility forms
    "\uff00-\uffef"  # half-width and full-width forms
    "\U00020000-\U0003134f"  # CJK extensions B-G, compatibility supplement
)
_CER_TOKEN = re.compile(f"[{_CJK_RANGES}]|[^\\s{_CJK_RANGES}]+")


def split_characters(text: str) -> List[str]:
    """CJK-like characters one by one, other non-space runs whole (see the module doc)."""
    return _CER_TOKEN.findall(text)


def scoring_tokens(text: str, lang: str) -> List[str]:
    """The tokens of ``text`` (already normalised) scored for language ``lang``, trn-safe."""
    tokens = split_characters(text) if is_cjk(lang) else text.split()
    return [trn_token(t) for t in tokens]


def error_unit(lang: str) -> str:
    """``CER`` for languages scored by characters, else ``WER``."""
    return "CER" if is_cjk(lang) else "WER"
