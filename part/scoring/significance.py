"""Paired bootstrap confidence intervals of the difference between two systems on one test set.

Both systems decoded the same utterances; the bootstrap (Koehn, 2004) draws the utterances of each
language (direction) with replacement, :data:`N_SAMPLES` times, and scores both systems on every
resample, so that the interval is that of the *difference* between them:

- **WER/CER**: the resampled utterances' edit counts (the ``per_utt`` files of the score dirs) are summed
  per language into a corpus-level error rate, and the rates are averaged over languages — the paper's
  average, recomputed on each resample.
- **BLEU**: sacrebleu's paired bootstrap: the per-segment sufficient statistics of sacrebleu's own BLEU
  (n-gram matches and totals, lengths; with the direction's tokenizer) are summed over the resampled
  segments and turned into BLEU by sacrebleu, then averaged over directions. As in sacrebleu, the
  resamples are drawn once with numpy's ``default_rng(12345)`` for a given number of segments, so that
  directions (and languages) of the same size use the same resamples: with a parallel test set, the
  en→xx directions resample the same English utterances.

The 95% interval is the 2.5th to 97.5th percentile of the resampled differences.

With several seeds per system, the hypotheses are **pooled**: each utterance carries the edit counts (BLEU
statistics) of every seed's hypothesis, summed, and utterances are resampled with all their seeds'
hypotheses. The interval then reflects the sampling of test utterances for this set of trained models
(averaged over seeds); the spread between seeds is reported separately (± over seeds).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

N_SAMPLES = 1000
SEED = 12345  # sacrebleu's default (SACREBLEU_SEED)


@dataclass
class GroupScores:
    """One system's score on a group (a language or a direction): on the test set and on each resample."""

    point: float
    samples: np.ndarray


@dataclass
class Difference:
    """System A minus system B on the average over ``groups`` with its paired bootstrap interval."""

    metric: str  # "error" (WER/CER, %) or "BLEU"
    groups: List[str]
    a: float
    b: float
    low: float
    high: float
    n_samples: int

    @property
    def diff(self) -> float:
        return self.a - self.b

    @property
    def significant(self) -> bool:
        """The 95% interval excludes zero."""
        return self.low > 0 or self.high < 0

    def interval_text(self, digits: int = 2) -> str:
        return f"{self.diff:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


@functools.lru_cache(maxsize=None)
def resample_indices(n: int, n_samples: int = N_SAMPLES, seed: int = SEED) -> np.ndarray:
    """``(n_samples, n)`` indices drawn with replacement: the same for every group of ``n`` items."""
    if n <= 0:
        raise ValueError("cannot resample an empty group")
    return np.random.default_rng(seed).choice(n, size=(n_samples, n), replace=True)


# ------------------------------------------------------------------------------------------------
# per-utterance statistics of a decode dir
# ------------------------------------------------------------------------------------------------
def _records(decode_dir: Path) -> List[dict]:
    path = Path(decode_dir) / "scores.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: score the decode dir first (part_score)")
    return json.loads(path.read_text(encoding="utf-8"))


def group_label(record: dict) -> str:
    return record["src"] if record["task"] == "asr" else f"{record['src']}-{record['tgt']}"


def error_counts(decode_dir: Path) -> Dict[str, Dict[str, np.ndarray]]:
    """``{language: {example id: [errors, reference words]}}`` from the ``per_utt`` files of an ASR decode
    dir (languages whose references are all empty, clips without speech, are left out)."""
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for record in _records(decode_dir):
        if record["task"] != "asr" or not record["counts"].get("Wrd"):
            continue
        path = Path(decode_dir) / record.get("score_dir", "?") / "per_utt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: re-score {decode_dir} (part_score writes per_utt)")
        counts = {}
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            fields = line.split()
            if len(fields) != 6 or fields[1] != "#csid":
                raise ValueError(f"{path}:{lineno}: expected '<id> #csid C S I D', got {line!r}")
            c, s, i, d = map(int, fields[2:])
            counts[fields[0]] = np.array([s + i + d, c + s + d], dtype=np.int64)
        out[group_label(record)] = counts
    return out


def bleu_statistics(decode_dir: Path) -> Dict[str, Dict[str, np.ndarray]]:
    """``{direction: {example id: sacrebleu's BLEU sufficient statistics}}`` of a translation decode dir,
    from the segments its score dirs hold (``ids``, ``hyp``, ``ref``: exactly what was scored)."""
    out = {}
    for record in _records(decode_dir):
        if record["task"] == "asr":
            continue
        score_dir = Path(decode_dir) / record.get("score_dir", "?")
        lines = {}
        for name in ("ids", "hyp", "ref"):
            path = score_dir / name
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: re-score {decode_dir} (part_score)")
            lines[name] = path.read_text(encoding="utf-8").split("\n")[:-1]
        if not len(lines["ids"]) == len(lines["hyp"]) == len(lines["ref"]):
            raise ValueError(f"{score_dir}: ids, hyp and ref have different numbers of lines")
        stats = _bleu(record["tokenize"])._extract_corpus_statistics(lines["hyp"], [lines["ref"]])
        out[group_label(record)] = {k: np.asarray(v, dtype=np.int64) for k, v in zip(lines["ids"], stats)}
    return out


@functools.lru_cache(maxsize=None)
def _bleu(tokenize: str):
    from sacrebleu.metrics import BLEU

    return BLEU(tokenize=tokenize)


def pooled(per_seed: Sequence[Mapping[str, Mapping[str, np.ndarray]]], what: Sequence[str]
           ) -> Dict[str, Dict[str, np.ndarray]]:
    """The statistics of several seeds' decode dirs summed per example (``what``: the dirs, for messages).
    Every seed must have decoded the same examples."""
    out = {group: dict(stats) for group, stats in per_seed[0].items()}
    for other, name in zip(per_seed[1:], what[1:]):
        if set(other) != set(out):
            raise ValueError(f"{name}: groups {sorted(other)} differ from {what[0]}'s {sorted(out)}")
        for group, stats in other.items():
            if set(stats) != set(out[group]):
                odd = sorted(set(stats) ^ set(out[group]))[0]
                raise ValueError(f"{name}: {group}: example '{odd}' is in only one of {name} and {what[0]}")
            for key, value in stats.items():
                out[group][key] = out[group][key] + value
    return out


# ------------------------------------------------------------------------------------------------
# the bootstrap
# ------------------------------------------------------------------------------------------------
def _paired_arrays(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], group: str):
    if set(a) != set(b):
        odd = sorted(set(a) ^ set(b))[0]
        raise ValueError(f"{group}: example '{odd}' was decoded by only one of the two systems; a paired "
                         "comparison needs the same test set")
    keys = sorted(a)
    return np.stack([a[k] for k in keys]), np.stack([b[k] for k in keys])


def error_rate_scores(counts: np.ndarray, idx: np.ndarray) -> GroupScores:
    """``counts``: ``(n, 2)`` errors and reference words per utterance."""
    errors, words = counts[:, 0], counts[:, 1]
    sampled_words = words[idx].sum(1)
    samples = 100.0 * errors[idx].sum(1) / np.maximum(sampled_words, 1)
    return GroupScores(100.0 * errors.sum() / max(words.sum(), 1), samples)


def bleu_scores(stats: np.ndarray, idx: np.ndarray) -> GroupScores:
    """``stats``: ``(n, k)`` sacrebleu BLEU statistics per segment (BLEU from statistics does not depend on
    the tokenizer that counted them)."""
    metric = _bleu("13a")
    sums = stats[idx].sum(1)
    samples = np.array([metric._compute_score_from_stats(list(row)).score for row in sums])
    return GroupScores(metric._compute_score_from_stats(list(stats.sum(0))).score, samples)


def compare(a: Mapping[str, Mapping[str, np.ndarray]], b: Mapping[str, Mapping[str, np.ndarray]], metric: str,
            subsets: Optional[Mapping[str, Sequence[str]]] = None, n_samples: int = N_SAMPLES
            ) -> Dict[str, Difference]:
    """Paired bootstrap of A - B per subset of groups (``{"all": [...], "xx→en": [...]}``; default: all
    groups both systems have). ``metric``: ``error`` (statistics from :func:`error_counts`) or ``BLEU``
    (from :func:`bleu_statistics`)."""
    groups = sorted(set(a) & set(b))
    if not groups:
        raise ValueError("the two systems have no language or direction in common")
    scores = {}
    for group in groups:
        sa, sb = _paired_arrays(a[group], b[group], group)
        idx = resample_indices(len(sa), n_samples)
        score = error_rate_scores if metric == "error" else bleu_scores
        scores[group] = (score(sa, idx), score(sb, idx))
    out = {}
    for name, members in (subsets or {"all": groups}).items():
        members = [g for g in members if g in scores]
        if not members:
            continue
        mean_a = np.mean([scores[g][0].samples for g in members], axis=0)
        mean_b = np.mean([scores[g][1].samples for g in members], axis=0)
        low, high = np.percentile(mean_a - mean_b, [2.5, 97.5])
        out[name] = Difference(metric, members, float(np.mean([scores[g][0].point for g in members])),
                               float(np.mean([scores[g][1].point for g in members])), float(low), float(high),
                               n_samples)
    return out
