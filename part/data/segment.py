"""Cutting long recordings into segments a speech-LLM can decode, and stitching the texts back.

Two ways, both on mono float samples:

- :func:`vad_segments`: energy-based voice activity detection. Frame energies (25 ms windows every
  10 ms, in dB of the frame's variance) are compared with two levels of the recording itself: its
  *level* (the 99th percentile of the frame energies: its loud speech) and its *floor* (the 10th
  percentile: its pauses). A frame is speech when its energy is within ``threshold_db`` of the level and
  ``margin_db`` above the floor, so the threshold follows a quiet recording, a loud one and its
  background noise alike. Pauses shorter than ``min_silence`` do not split (words, commas), bursts
  shorter than ``min_speech`` are dropped (clicks), each segment keeps ``pad`` seconds of context on both
  sides (never past the middle of the pause to its neighbour) and loses any digital silence (exact
  zeros) at its edges; a segment longer than ``max_segment`` is cut at its quietest point (the frame of
  least smoothed energy in the second half of the allowed length), as often as needed. A recording
  whose level is below ``min_level_db`` (dBFS) or less than ``min_range_db`` above its floor (silence,
  steady noise) has no speech: no segment.
- :func:`fixed_segments`: windows of ``window`` seconds every ``window - overlap`` seconds. Words in an
  overlap are recognised twice; :func:`merge_overlap` drops the repeated words from the later text,
  and :func:`cue_times` moves the boundary between overlapping windows to the middle of the overlap.

Example::

    segments = vad_segments(samples, 16000, VadOptions(max_segment=20.0))
    for seg in segments:
        part = samples[seg.begin:seg.stop]         # seg.start / seg.end are in seconds
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

_EPS_POWER = 1e-12  # -120 dB: the energy of digital silence
_ENERGY_CHUNK = 8192  # frames whose variance is computed at once (bounds the memory of long recordings)


@dataclass(frozen=True)
class Segment:
    """Samples ``[begin, stop)`` of a recording at ``rate`` Hz."""

    begin: int
    stop: int
    rate: int

    @property
    def start(self) -> float:
        return self.begin / self.rate

    @property
    def end(self) -> float:
        return self.stop / self.rate

    @property
    def duration(self) -> float:
        return (self.stop - self.begin) / self.rate


@dataclass(frozen=True)
class VadOptions:
    frame_ms: float = 25.0
    hop_ms: float = 10.0
    threshold_db: float = 40.0  # speech is within this many dB of the recording's level ...
    margin_db: float = 6.0  # ... and at least this many dB above its floor
    min_level_db: float = -60.0  # dBFS: a recording whose level is lower is silent
    min_range_db: float = 10.0  # a recording whose level is less than this above its floor holds no speech
    min_silence: float = 0.5  # s: shorter pauses do not split a segment
    min_speech: float = 0.2  # s: shorter bursts of energy are not speech
    pad: float = 0.2  # s: context kept on each side of a segment
    max_segment: float = 20.0  # s: longer segments are cut at their quietest point

    def check(self) -> "VadOptions":
        if self.hop_ms <= 0 or self.frame_ms < self.hop_ms:
            raise ValueError(f"VAD frames: need 0 < hop_ms <= frame_ms, got {self.hop_ms} and {self.frame_ms}")
        if self.max_segment <= 2 * self.frame_ms / 1000:
            raise ValueError(f"max_segment must be longer than two frames, got {self.max_segment} s")
        if min(self.min_silence, self.min_speech, self.pad) < 0:
            raise ValueError("min_silence, min_speech and pad must not be negative")
        return self


def frame_energies(samples: np.ndarray, rate: int, frame_ms: float = 25.0, hop_ms: float = 10.0) -> np.ndarray:
    """The energy (dB of the sample variance, so a DC offset does not count) of every frame; frame ``i``
    covers samples ``[i * hop, i * hop + win)``. A recording shorter than one frame is one frame."""
    win, hop = int(rate * frame_ms / 1000), int(rate * hop_ms / 1000)
    x = np.asarray(samples, dtype=np.float32)
    if len(x) < win:
        return np.array([10 * np.log10(float(np.var(x, dtype=np.float64)) + _EPS_POWER)]) if len(x) else np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    power = np.concatenate([np.var(frames[i: i + _ENERGY_CHUNK], axis=1, dtype=np.float64)
                            for i in range(0, len(frames), _ENERGY_CHUNK)])
    return 10 * np.log10(power + _EPS_POWER)


def speech_threshold(energies: np.ndarray, opts: VadOptions) -> Tuple[float, bool]:
    """The energy above which a frame is speech, and whether the recording holds speech at all."""
    if not len(energies):
        return 0.0, False
    level, floor = np.percentile(energies, 99), np.percentile(energies, 10)
    has_speech = level >= opts.min_level_db and level - floor >= opts.min_range_db
    return float(max(level - opts.threshold_db, floor + opts.margin_db)), bool(has_speech)


def has_speech(samples: np.ndarray, rate: int, opts: VadOptions = VadOptions()) -> bool:
    """Whether a recording holds speech by the rule of :func:`vad_segments` (not silence or steady noise)."""
    return speech_threshold(frame_energies(samples, rate, opts.frame_ms, opts.hop_ms), opts)[1]


def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """``[start, stop)`` of every run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def vad_segments(samples: np.ndarray, rate: int, opts: VadOptions = VadOptions()) -> List[Segment]:
    """The speech segments of a recording, in order and disjoint (see the module doc)."""
    opts.check()
    hop, win = int(rate * opts.hop_ms / 1000), int(rate * opts.frame_ms / 1000)
    energies = frame_energies(samples, rate, opts.frame_ms, opts.hop_ms)
    threshold, has_speech = speech_threshold(energies, opts)
    if not has_speech:
        return []
    runs = _runs(energies > threshold)
    merged: List[List[int]] = []
    for a, b in runs:  # bridge short pauses
        if merged and (a - merged[-1][1]) * opts.hop_ms / 1000 < opts.min_silence:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    bounds = [(a * hop, min((b - 1) * hop + win, len(samples))) for a, b in merged
              if (b - a) * opts.hop_ms / 1000 >= opts.min_speech]
    pad = int(round(opts.pad * rate))
    smooth = np.convolve(energies, np.ones(10) / 10, mode="same")  # 0.1 s: a pause, not a stop consonant
    segments = []
    for i, (begin, stop) in enumerate(bounds):
        lo = 0 if i == 0 else (bounds[i - 1][1] + begin) // 2
        hi = len(samples) if i == len(bounds) - 1 else (stop + bounds[i + 1][0]) // 2
        begin, stop = max(begin - pad, lo), min(stop + pad, hi)
        nonzero = np.flatnonzero(samples[begin:stop])
        if not len(nonzero):
            continue
        begin, stop = begin + int(nonzero[0]), begin + int(nonzero[-1]) + 1
        segments += [Segment(b, s, rate) for b, s in _split_long(begin, stop, smooth, hop, win, rate, opts)]
    return segments


def _split_long(begin: int, stop: int, smooth: np.ndarray, hop: int, win: int, rate: int,
                opts: VadOptions) -> List[Tuple[int, int]]:
    """Cut ``[begin, stop)`` into pieces of at most ``max_segment`` seconds at the quietest frames (of the
    smoothed frame energies ``smooth``)."""
    limit = int(opts.max_segment * rate)
    if stop - begin <= limit:
        return [(begin, stop)]
    pieces, cur = [], begin
    while stop - cur > limit:
        # Frames whose centre lies in the second half of the longest allowed piece.
        first = (cur + limit // 2 - win // 2) // hop + 1
        last = (cur + limit - win // 2) // hop
        if last < first:
            cut = cur + limit
        else:
            cut = (first + int(np.argmin(smooth[first: last + 1]))) * hop + win // 2
        pieces.append((cur, cut))
        cur = cut
    pieces.append((cur, stop))
    return pieces


def fixed_segments(num_samples: int, rate: int, window: float = 20.0, overlap: float = 2.0) -> List[Segment]:
    """Windows of ``window`` seconds every ``window - overlap`` seconds; the last one ends with the recording."""
    if window <= 0 or not 0 <= overlap < window:
        raise ValueError(f"fixed windows need window > 0 and 0 <= overlap < window, got {window} and {overlap}")
    size, step = int(round(window * rate)), int(round((window - overlap) * rate))
    segments, begin = [], 0
    while begin < num_samples:
        stop = min(begin + size, num_samples)
        segments.append(Segment(begin, stop, rate))
        if stop == num_samples:
            break
        begin += step
    return segments


def cue_times(segments: Sequence[Segment]) -> List[Tuple[float, float]]:
    """Display times of segments (subtitle cues): where two overlap, both end at the middle of the overlap,
    so the times never go back."""
    times = [[s.start, s.end] for s in segments]
    for prev, cur in zip(times, times[1:]):
        if cur[0] < prev[1]:
            prev[1] = cur[0] = (cur[0] + prev[1]) / 2
    return [(a, b) for a, b in times]


def merge_overlap(previous: str, current: str, min_tokens: int = 2, max_tokens: int = 40) -> str:
    """``current`` without the words (CJK characters) at its start that repeat the end of ``previous``:
    the text of an overlap between fixed windows, recognised twice. The longest repeat of at least
    ``min_tokens`` tokens counts; tokens are words, and CJK characters one by one."""
    from part.scoring.tokenize import split_characters

    prev, cur = split_characters(previous), split_characters(current)
    for k in range(min(len(prev), len(cur), max_tokens), min_tokens - 1, -1):
        if prev[-k:] == cur[:k]:
            pos = 0
            for token in cur[:k]:
                pos = current.index(token, pos) + len(token)
            return current[pos:].strip()
    return current
