"""The records a data dir is made of: one :class:`Utterance` per utterance, and what a data dir holds."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

from part.data.audio import SEGMENT_END_TOLERANCE_S


@dataclass(slots=True)
class Segment:
    """Where an utterance lies inside a longer recording (a ``segments`` line), in seconds."""

    recording: str
    start: float
    end: float

    def problem(self, duration: Optional[float] = None) -> Optional[str]:
        """Why the segment cannot be an utterance of a recording lasting ``duration`` seconds (when
        known), or None. Times are written with millisecond precision, so a segment shorter than that
        is empty; an end up to :data:`SEGMENT_END_TOLERANCE_S` past the recording is rounding."""
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            return f"times {self.start}-{self.end} s are not finite numbers"
        if self.start < 0:
            return f"starts before the recording ({self.start} s)"
        if round(self.end, 3) <= round(self.start, 3):
            return f"empty or reversed ({self.start}-{self.end} s)"
        if duration is not None:
            if self.start >= duration:
                return f"starts at {self.start} s, after the end of its recording ({duration} s)"
            if self.end > duration + SEGMENT_END_TOLERANCE_S:
                return (f"ends at {self.end} s, {self.end - duration:.2f} s after the end of its recording "
                        f"({duration} s): its transcript would describe audio that does not exist")
        return None


def parse_segment(value: str) -> tuple:
    """``(recording, start, end, problem)`` of a ``segments`` value; ``problem`` is None when it is usable."""
    fields = value.split()
    if len(fields) != 3:
        return None, None, None, f"expected `recording_id start end` after the id, got '{value}'"
    try:
        start, end = float(fields[1]), float(fields[2])
    except ValueError:
        return fields[0], None, None, f"start and end must be numbers in seconds, got '{fields[1]}' and '{fields[2]}'"
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or (end != -1 and end <= start):
        return fields[0], start, end, f"invalid times: start {fields[1]}, end {fields[2]}"
    return fields[0], start, end, None


@dataclass(slots=True)
class Utterance:
    """One utterance as a data dir holds it.

    ``wav`` is the ``wav.scp`` value: a path or ``cmd |``. With a :attr:`segment` it is the value of
    the segment's recording (the same for every utterance of that recording). ``duration`` (seconds),
    when known, is written to ``utt2dur``.
    """

    utt_id: str
    speaker: str
    lang: str  # registry code (part/data/languages.py)
    text: str
    wav: str
    segment: Optional[Segment] = None
    translations: Dict[str, str] = field(default_factory=dict)  # tgt lang -> translation
    duration: Optional[float] = None


@dataclass
class DataDirSummary:
    """How much a data dir holds (counted while it is written or validated)."""

    path: Path
    num_utterances: int = 0
    num_speakers: int = 0
    langs: Counter = field(default_factory=Counter)  # lang -> utterances
    translations: Counter = field(default_factory=Counter)  # tgt -> translated utterances

    def describe(self) -> str:
        """``data/train: 12 utterances, 3 speakers (de 8, zh 4); translations into en 8``"""
        langs = ", ".join(f"{lang} {n}" for lang, n in sorted(self.langs.items()))
        text = (f"{self.path}: {self.num_utterances} utterances, {self.num_speakers} speakers"
                + (f" ({langs})" if langs else ""))
        if self.translations:
            text += "; translations " + ", ".join(f"into {t} {n}" for t, n in sorted(self.translations.items()))
        return text
