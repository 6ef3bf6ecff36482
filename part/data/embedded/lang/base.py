"""What every language module of the embedded corpus shares.

A language module defines a :class:`Realiser` subclass with one method per frame of
:mod:`part.data.embedded.frames` (``frame_<name>(**slots)``). A method returns either a plain string
(alphabetic languages, where what is written is what espeak-ng reads) or a list of :class:`W`
segments, each a written form with an optional reading: pinyin with tone digits for Mandarin, kana
for Japanese. The readings are kept next to the words because the generic converters get exactly the
corpus' hard cases wrong (Japanese counters such as 三本 さんぼん or 二十歳 はたち, the topic particle は
read わ, the measure word 只 zhi1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union


@dataclass(frozen=True)
class W:
    """A written segment and, optionally, how to say it."""

    text: str
    say: Optional[str] = None


def w(spec: str) -> W:
    """``"公園|こうえん"`` -> ``W("公園", "こうえん")``; ``"りんご"`` -> ``W("りんご")``."""
    text, sep, say = spec.partition("|")
    return W(text, say if sep else None)


Segments = List[W]
Realised = Union[str, Segments]


def segs(*items: Union[str, W, Sequence[W], None]) -> Segments:
    """Flatten strings (parsed with :func:`w`), segments and lists of segments; ``None`` is skipped."""
    out: Segments = []
    for item in items:
        if item is None:
            continue
        if isinstance(item, W):
            out.append(item)
        elif isinstance(item, str):
            if item:
                out.append(w(item))
        else:
            out.extend(segs(*item))
    return out


@dataclass(frozen=True)
class Sentence:
    """One sentence of the corpus: what is written (``text``) and the segments it was built from."""

    lang: str
    text: str
    segments: Tuple[W, ...] = ()  # empty for alphabetic languages (what is written is what is read)


def capitalise(text: str) -> str:
    """Upper-case the first letter (after leading punctuation such as Spanish ¿)."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1:]
    return text


def words(*parts: Optional[str]) -> str:
    """Join the non-empty parts with single spaces."""
    return " ".join(p for p in parts if p)


class Realiser:
    """Base class: ``realise(frame, slots)`` dispatches to ``frame_<frame>(**slots)``."""

    code = ""

    def realise(self, frame: str, slots: Dict[str, object]) -> Sentence:
        method = getattr(self, "frame_" + frame, None)
        if method is None:
            raise KeyError(f"language '{self.code}' has no realisation of frame '{frame}': add a frame_{frame} "
                           f"method to its Realiser in part/data/embedded/lang/")
        out = method(**slots)
        if isinstance(out, str):
            return Sentence(self.code, out)
        return Sentence(self.code, "".join(s.text for s in out), tuple(out))
