"""Levenshtein alignment of a reference and a hypothesis token sequence, the way SCTK's sclite does it.

sclite (``sclite -r ref.trn trn -h hyp.trn trn``, no word weights, no ``-d``/``-T``) aligns each
utterance by dynamic programming with these costs:

====================  ====
correct (equal)        0
substitution           4
insertion / deletion   3
====================  ====

Several alignments can share the minimal cost, and they do not all have the same split into
substitutions, deletions and insertions (one substitution costs 4, a deletion plus an insertion 6, but
e.g. three substitutions cost as much as two deletions plus two insertions). sclite resolves ties
locally, cell by cell, when it fills the table (``net_dp.c``):

1. the diagonal move (correct or substitution) if it is no worse than both others,
2. else the deletion if it is strictly better than the insertion,
3. else the insertion;

and reads the alignment back from the last cell. :func:`align` fills the same table and applies the
same rule during the trace-back, so its counts and its alignment are those of sclite for the same
tokens. (Any rule evaluated on the final table gives the same decisions as evaluating it while
filling, since a cell's value never changes once computed.)

Tokens are compared exactly; sclite, without ``-s``, first lower-cases ASCII letters of both files, which
:func:`part.scoring.sclite.sclite_case_fold` reproduces before calling :func:`align`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

SUB_COST = 4
INS_COST = 3
DEL_COST = 3

#: Edit operations of an alignment, in sclite's letters (sclite prints "" for a correct word).
CORRECT, SUBSTITUTION, DELETION, INSERTION = "C", "S", "D", "I"

#: One aligned pair: (operation, reference token or None, hypothesis token or None).
AlignedPair = Tuple[str, Optional[str], Optional[str]]


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Plain Levenshtein distance (every edit costs 1): the number of substitutions, deletions and
    insertions that turn ``a`` into ``b`` (character or token error counts outside sclite scoring)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def cost_table(ref: Sequence[Hashable], hyp: Sequence[Hashable]) -> List[List[int]]:
    """The full dynamic-programming table: ``table[i][j]`` is the minimal cost of aligning the first
    ``i`` reference tokens with the first ``j`` hypothesis tokens."""
    first = list(range(0, INS_COST * (len(hyp) + 1), INS_COST))
    table = [first]
    prev = first
    for i, r in enumerate(ref, 1):
        left = DEL_COST * i  # cell (i, 0): i deletions
        row = [left]
        append = row.append
        # Inner loop kept minimal: it runs len(ref) * len(hyp) times.
        for h, diag, up in zip(hyp, prev, prev[1:]):
            best = diag if h == r else diag + SUB_COST
            up += DEL_COST
            if up < best:
                best = up
            left += INS_COST
            if left < best:
                best = left
            append(best)
            left = best
        table.append(row)
        prev = row
    return table


def align(ref: Sequence[str], hyp: Sequence[str]) -> List[AlignedPair]:
    """Align two token sequences with sclite's costs and tie-breaking.

    Returns the aligned pairs from left to right: ``("C", r, h)`` for a correct token, ``("S", r, h)``
    for a substitution, ``("D", r, None)`` for a deletion (a reference token missing from the
    hypothesis) and ``("I", None, h)`` for an insertion.
    """
    table = cost_table(ref, hyp)
    i, j = len(ref), len(hyp)
    pairs: List[AlignedPair] = []
    while i > 0 or j > 0:
        if i == 0:
            move = INSERTION
        elif j == 0:
            move = DELETION
        else:
            equal = ref[i - 1] == hyp[j - 1]
            sub = table[i - 1][j - 1] + (0 if equal else SUB_COST)
            dele = table[i - 1][j] + DEL_COST
            ins = table[i][j - 1] + INS_COST
            if sub <= dele and sub <= ins:
                move = CORRECT if equal else SUBSTITUTION
            elif dele < ins:
                move = DELETION
            else:
                move = INSERTION
        if move == INSERTION:
            pairs.append((INSERTION, None, hyp[j - 1]))
            j -= 1
        elif move == DELETION:
            pairs.append((DELETION, ref[i - 1], None))
            i -= 1
        else:
            pairs.append((move, ref[i - 1], hyp[j - 1]))
            i -= 1
            j -= 1
    pairs.reverse()
    return pairs


@dataclass
class ErrorCounts:
    """sclite's counts for a set of utterances (one utterance, a speaker, a language...).

    ``wrd`` is the number of reference tokens (Corr + Sub + Del); ``serr`` the number of utterances with
    at least one error. Counts add up with ``+``.
    """

    snt: int = 0
    wrd: int = 0
    corr: int = 0
    sub: int = 0
    dele: int = 0
    ins: int = 0
    serr: int = 0

    @property
    def err(self) -> int:
        return self.sub + self.dele + self.ins

    @classmethod
    def from_alignment(cls, pairs: Sequence[AlignedPair]) -> "ErrorCounts":
        """Counts of one aligned utterance."""
        n = {CORRECT: 0, SUBSTITUTION: 0, DELETION: 0, INSERTION: 0}
        for op, _, _ in pairs:
            n[op] += 1
        return cls.from_scores(n[CORRECT], n[SUBSTITUTION], n[DELETION], n[INSERTION])

    @classmethod
    def from_scores(cls, corr: int, sub: int, dele: int, ins: int) -> "ErrorCounts":
        """Counts of one utterance from sclite's ``Scores: (#C #S #D #I)`` numbers."""
        return cls(snt=1, wrd=corr + sub + dele, corr=corr, sub=sub, dele=dele, ins=ins,
                   serr=int(sub + dele + ins > 0))

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def error_rate(self) -> Optional[float]:
        """Err / Wrd in percent; None when there are no reference tokens (undefined)."""
        if self.wrd == 0:
            return 0.0 if self.err == 0 else None
        return 100.0 * self.err / self.wrd

    def as_dict(self) -> Dict[str, int]:
        """The counts under sclite's column names (Snt, Wrd, Corr, Sub, Del, Ins, Err, S.Err)."""
        return {"Snt": self.snt, "Wrd": self.wrd, "Corr": self.corr, "Sub": self.sub, "Del": self.dele,
                "Ins": self.ins, "Err": self.err, "S.Err": self.serr}

    @classmethod
    def from_dict(cls, d: Dict[str, int]) -> "ErrorCounts":
        return cls(snt=d["Snt"], wrd=d["Wrd"], corr=d["Corr"], sub=d["Sub"], dele=d["Del"], ins=d["Ins"],
                   serr=d["S.Err"])

    def kaldi_line(self, metric: str = "WER") -> str:
        """Kaldi's ``compute-wer`` line, e.g. ``%WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]``."""
        rate = self.error_rate()
        value = "inf" if rate is None else f"{rate:.2f}"
        return f"%{metric} {value} [ {self.err} / {self.wrd}, {self.ins} ins, {self.dele} del, {self.sub} sub ]"
