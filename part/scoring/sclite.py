"""SCTK sclite: trn files, running the real ``sclite``, and a pure-Python twin of its report.

The report that :func:`format_report` writes is the one of ``sclite -r ref.trn trn -h hyp.trn trn -i rm
-o all stdout -e utf-8`` (SCTK 2.4.x, sclite 2.10): the SYSTEM SUMMARY PERCENTAGES box, the same box
with counts, and the alignment dump (``id:``, ``Scores: (#C #S #D #I)``, ``REF:``/``HYP:``/``Eval:``
lines with errors upper-cased and ``*`` for gaps). For the same trn files it is byte-identical to
sclite's output (tests/test_scoring.py checks this), including sclite's quirks:

- ASCII letters are lower-cased before anything else (sclite without ``-s``), ids included; errors are
  upper-cased back, ASCII letters only. Non-ASCII letters keep their case and are compared exactly.
- Column widths count UTF-8 bytes, not characters (CJK columns look wider than they are).
- Percentages go through sclite's ``F_ROUND`` (round half away from zero, through a C ``float``).
- A speaker without reference words shows counts marked ``*`` and is left out of Mean/S.D./Median
  (marked ``+``), with sclite's own bookkeeping of which rows it leaves out.
- Alignment lines are cut into blocks of about 1000 bytes (``>>`` continuation lines).

Known difference: for a deleted or inserted token longer than 40 bytes, sclite prints bytes from its
own memory instead of the ``*`` gap marker; here the gap is as many ``*`` as the token has bytes. Counts
are unaffected.

Speakers are listed in order of first appearance in ``hyp.trn`` and utterances in file order, as
sclite does; ids are ``(speaker-rest)`` and the speaker is the part before the first ``-``.

A few characters have a meaning in sclite's trn syntax (``;`` starts a tag, ``\\`` escapes, ``{``
opens alternatives, a lone ``@`` is a null word, a trailing ``*`` is dropped). :func:`trn_token`
replaces them by their full-width forms so that sclite and the Python aligner see the same tokens.
The Whisper normalisers remove them anyway; they only matter with ``--normalizer none``.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from part.scoring.align import CORRECT, DELETION, SUBSTITUTION, AlignedPair, ErrorCounts, align

#: Where the Debian/Ubuntu ``sctk`` package installs sclite (it is not on PATH there).
SCLITE_CANDIDATES = ("/usr/lib/sctk/bin/sclite",)
SCLITE_ARGS = ("-i", "rm", "-o", "all", "stdout", "-e", "utf-8")

_TRN_SPECIAL = str.maketrans({";": "\uff1b", "\\": "\uff3c", "{": "\uff5b", "}": "\uff5d", "@": "\uff20",
                              "*": "\uff0a"})
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
SCREEN_WIDTH = 80
LINE_WIDTH = 1000  # sclite's default -l: alignment lines are cut into blocks of this many bytes


# ------------------------------------------------------------------------------------------------
# trn files
# ------------------------------------------------------------------------------------------------
def trn_token(token: str) -> str:
    """A token made safe for sclite's trn syntax (special ASCII characters -> full-width forms)."""
    return token.translate(_TRN_SPECIAL)


def trn_id(utt_id: str) -> str:
    """The trn id of an utterance: the id itself when it contains a ``-`` (sclite takes the speaker
    from the part before the first ``-``), else ``<id>-<id>`` so that the speaker is the id."""
    if any(c.isspace() for c in utt_id) or "(" in utt_id or ")" in utt_id or not utt_id:
        raise ValueError(f"utterance id {utt_id!r} cannot be written to a trn file "
                         "(it must be non-empty, without whitespace or parentheses)")
    return utt_id if "-" in utt_id else f"{utt_id}-{utt_id}"


def speaker_of(trn_utt_id: str) -> str:
    """The speaker sclite (``-i rm``) reads from a trn id: the part before the first ``-``."""
    return trn_utt_id.split("-", 1)[0]


def sclite_case_fold(text: str) -> str:
    """sclite's case folding (without ``-s``): ASCII letters only."""
    return text.translate(_ASCII_LOWER)


def write_trn(path: Path, entries: Iterable[Tuple[str, Sequence[str]]]) -> None:
    """Write ``tokens... (trn_id)`` lines; ``entries`` are (trn id, tokens) pairs in file order."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for tid, tokens in entries:
            f.write(f"{' '.join(tokens)} ({tid})\n" if tokens else f" ({tid})\n")


def read_trn(path: Path) -> List[Tuple[str, List[str]]]:
    """Read a trn file written by :func:`write_trn` (or any plain trn file): (id, tokens) pairs."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            m = re.fullmatch(r"(.*)\(([^()]*)\)\s*", line)
            if m is None:
                raise ValueError(f"{path}:{lineno}: no '(utterance-id)' at the end of the line: {line!r}")
            out.append((m.group(2), m.group(1).split()))
    return out


# ------------------------------------------------------------------------------------------------
# sclite's arithmetic
# ------------------------------------------------------------------------------------------------
def _c_float(x: int) -> float:
    """An int converted to a C ``float`` (single precision) and back, as sclite's F_ROUND does."""
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def f_round(x: float, digits: int) -> float:
    """sclite's ``F_ROUND``: round half away from zero to ``digits`` decimals (via an int and a float)."""
    scale = 10.0 ** digits
    return _c_float(int(x * scale + (0.5 if x > 0.0 else -0.5))) / scale


def pct(num: float, den: float) -> float:
    """sclite's ``pct``: 100 * num / den, and 0 when den is 0."""
    return 0.0 if den == 0 else num / den * 100.0


def _mean_sd_median(values: Sequence[float]) -> Tuple[float, float, float]:
    """Mean, sample standard deviation (n - 1; 0 when all values are equal) and median, as sclite."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0, 0.0
    total = 0.0
    for v in values:  # summed in order, like the C loop (not math.fsum)
        total += v
    mean = total / n
    ordered = sorted(values)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2] + ordered[n // 2 - 1]) / 2
    squares = 0.0
    for v in values:
        squares += (v - mean) * (v - mean)
    sd = math.sqrt(squares / (n - 1)) if squares != 0.0 else 0.0
    return mean, sd, median


def _center(text: str, width: int) -> str:
    """Center ``text`` in ``width`` bytes: the extra space goes to the right, as sclite's center()."""
    size = _nbytes(text)
    left = max(0, (width - size) // 2)
    return " " * left + text + " " * max(0, width - size - left)


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - _nbytes(text))


# ------------------------------------------------------------------------------------------------
# The summary box
# ------------------------------------------------------------------------------------------------
def _summary_rows(speakers: Sequence[Tuple[str, ErrorCounts]], raw: bool) -> Tuple[List[List[str]], bool]:
    """The 9-column rows of one summary box (header, speakers, Sum, Mean, S.D., Median) and whether
    some speaker had no reference words."""
    rows = [[" SPKR", " # Snt", "# Wrd", "Corr", " Sub", " Del", " Ins", " Err", "S.Err"]]
    per_speaker: Dict[str, List[float]] = {k: [] for k in ("corr", "sub", "del", "ins", "err")}
    serr_values: List[float] = []
    zero_speakers = 0
    tot = ErrorCounts()
    for name, c in speakers:
        tot = tot + c
        values = {"corr": c.corr, "sub": c.sub, "del": c.dele, "ins": c.ins, "err": c.err}
        if not raw and c.wrd > 0:
            values = {k: pct(v, c.wrd) for k, v in values.items()}
        for k, v in values.items():
            per_speaker[k].append(float(v))
        serr_values.append(float(c.serr) if raw else pct(c.serr, c.snt))
        row = [f" {name} ", f"{c.snt:5d}", f"{c.wrd:5d}"]
        if raw:
            row += [f"{f_round(values[k], 0):5.0f} " for k in ("corr", "sub", "del", "ins", "err")]
        elif c.wrd > 0:
            row += [f"{f_round(values[k], 1):5.1f} " for k in ("corr", "sub", "del", "ins", "err")]
        else:
            row += [f"{f_round(values[k], 0):5.0f}*" for k in ("corr", "sub", "del", "ins", "err")]
            zero_speakers += 1
        row.append(f"{f_round(serr_values[-1], 0):5.0f} " if raw else f"{f_round(serr_values[-1], 1):5.1f} ")
        rows.append(row)

    totals = (tot.corr, tot.sub, tot.dele, tot.ins, tot.err)
    if raw:
        rows.append([" Sum", f"{tot.snt:5d}", f"{tot.wrd:5d}"]
                    + [f"{f_round(float(v), 0):5.0f} " for v in totals + (tot.serr,)])
    else:
        rows.append([" Sum/Avg", f"{tot.snt:5d}", f"{tot.wrd:5d}"]
                    + [f"{f_round(pct(v, tot.wrd), 1):5.1f} " for v in totals]
                    + [f"{f_round(pct(tot.serr, tot.snt), 1):5.1f} "])

    # sclite drops the speakers without reference words from the statistics by shifting the later
    # speakers up, walking the original speaker order; reproduced as is.
    if zero_speakers:
        for index, (_, c) in enumerate(speakers):
            if c.wrd == 0:
                for k in per_speaker:
                    del per_speaker[k][index]
                    per_speaker[k].append(-1000.0)
    kept = len(speakers) - zero_speakers
    count_stats = [_mean_sd_median([float(c.snt) for _, c in speakers]),
                   _mean_sd_median([float(c.wrd) for _, c in speakers])]
    rate_stats = [_mean_sd_median(per_speaker[k][:kept]) for k in ("corr", "sub", "del", "ins", "err")]
    serr_stats = _mean_sd_median(serr_values)
    mark = "+" if zero_speakers else " "
    for label, which in ((" Mean ", 0), (" S.D. ", 1), ("Median", 2)):
        rows.append([label] + [f"{f_round(s[which], 1):5.1f} " for s in count_stats]
                    + [f"{f_round(s[which], 1):5.1f}{mark}" for s in rate_stats]
                    + [f"{f_round(serr_stats[which], 1):5.1f} "])
    return rows, zero_speakers > 0


def format_summary_box(title: str, speakers: Sequence[Tuple[str, ErrorCounts]], raw: bool = False) -> str:
    """One SYSTEM SUMMARY box (percentages, or counts with ``raw``), laid out like sclite's report
    generator: columns as wide as their widest cell, the box centered on 80 columns, extra width (a
    long title) spread over the columns."""
    rows, has_zero = _summary_rows(speakers, raw)
    ncol = len(rows[0])
    sizes = [max(_nbytes(r[c]) for r in rows) for c in range(ncol)]
    table_width = 2 + sum(sizes) + ncol - 1
    width = max(table_width, 2 + _nbytes(title))
    indent = " " * ((SCREEN_WIDTH - width) // 2) if width < SCREEN_WIDTH else ""

    # widths of the table columns, with the spare width (when the title is wider) spread over them
    spare = width - table_width
    col_widths, added = [], 0
    for c in range(ncol):
        extra = int(spare / ncol * (c + 1)) - added if c < ncol - 1 else spare - added
        added += extra
        col_widths.append(sizes[c] + extra)
    separators = ["|", " ", "|", " ", " ", " ", " ", " "]  # after columns 0..7 ("l|cc|cccccc")

    def cell(text: str, c: int, left_align: bool) -> str:
        pad = col_widths[c] - sizes[c]
        inner = _ljust(text, sizes[c]) if left_align else _center(text, sizes[c])
        return " " * (pad // 2) + inner + " " * (pad - pad // 2)

    def data_line(row: List[str], first_left: bool) -> str:
        parts = []
        for c, text in enumerate(row):
            parts.append(cell(text, c, first_left and c == 0))
            if c < ncol - 1:
                parts.append(separators[c])
        return indent + "|" + "".join(parts) + "|\n"

    def rule(char: str, crosses: bool) -> str:
        parts = []
        for c in range(ncol):
            parts.append(char * col_widths[c])
            if c < ncol - 1:
                parts.append("+" if crosses and separators[c] == "|" else char)
        return indent + "|" + "".join(parts) + "|\n"

    n_speakers = len(speakers)
    out = [indent + "," + "-" * (width - 2) + ".\n",
           indent + "|" + _center(title, width - 2) + "|\n",
           indent + "|" + "-" * (width - 2) + "|\n",
           data_line(rows[0], True)]
    for r in range(1, 1 + n_speakers):
        out += [rule("-", True), data_line(rows[r], True)]
    out += [rule("=", False), data_line(rows[1 + n_speakers], True), rule("=", False)]
    out += [data_line(rows[r], False) for r in range(2 + n_speakers, 5 + n_speakers)]
    out.append(indent + "`" + "-" * (width - 2) + "'\n")
    if has_zero and not raw:
        out.append("\n* No Reference words for this/these speaker(s).  Word counts supplied\n"
                   "  rather than percents.\n"
                   "# No Reference words for this/these speaker(s).  NCE not computable.\n"
                   "+ Speaker(s) with no reference data is ignored\n")
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# The alignment dump
# ------------------------------------------------------------------------------------------------
def format_alignment(pairs: Sequence[AlignedPair], line_width: int = LINE_WIDTH) -> str:
    """The ``REF:``/``HYP:``/``Eval:`` lines of one utterance (empty string for an empty one).

    Like sclite, long alignments are cut into blocks of about ``line_width`` bytes; the continuation
    blocks follow an empty line and start with ``>> ``.
    """
    columns = []
    for op, r, h in pairs:
        if op == CORRECT:
            rs, hs, ev = r, h, ""
        elif op == SUBSTITUTION:
            rs, hs, ev = r.translate(_ASCII_UPPER), h.translate(_ASCII_UPPER), op
        elif op == DELETION:
            rs, ev = r.translate(_ASCII_UPPER), op
            hs = "*" * _nbytes(rs)
        else:
            hs, ev = h.translate(_ASCII_UPPER), op
            rs = "*" * _nbytes(hs)
        width = max(_nbytes(rs), _nbytes(hs))
        columns.append((_ljust(rs, width) + " ", _ljust(hs, width) + " ", _ljust(ev, width) + " ", width))

    out, start = [], 0
    while start < len(columns):
        # sclite's rule: add columns while the line is shorter than line_width; the column that
        # crossed the limit moves to the next block, unless it is the last one.
        length, end = (9 if start else 6), start
        while length < line_width and end < len(columns):
            length += 1 + columns[end][3]
            end += 1
        if end < len(columns):
            end = max(end - 1, start + 1)  # (sclite loops forever on a single over-long column)
        prefix = ">> " if start else ""
        if start:
            out.append("\n")
        for label, k in (("REF:  ", 0), ("HYP:  ", 1), ("Eval: ", 2)):
            out.append(prefix + label + "".join(col[k] for col in columns[start:end]) + "\n")
        start = end
    return "".join(out)


class Utterance:
    """One scored utterance: sclite's (lower-cased) id, its alignment and counts."""

    __slots__ = ("id", "speaker", "pairs", "counts")

    def __init__(self, trn_utt_id: str, pairs: List[AlignedPair]):
        self.id = trn_utt_id
        self.speaker = speaker_of(trn_utt_id)
        self.pairs = pairs
        self.counts = ErrorCounts.from_alignment(pairs)


def align_trn(ref: Sequence[Tuple[str, Sequence[str]]], hyp: Sequence[Tuple[str, Sequence[str]]]
              ) -> List[Utterance]:
    """Align trn entries the way sclite does: case-folded, every hypothesis against its reference,
    in hypothesis-file order. Raises ValueError for a hypothesis id without a reference."""
    refs = {sclite_case_fold(tid): [sclite_case_fold(t) for t in toks] for tid, toks in ref}
    out = []
    for tid, toks in hyp:
        key = sclite_case_fold(tid)
        if key not in refs:
            raise ValueError(f"hypothesis id ({tid}) has no reference")
        out.append(Utterance(key, align(refs[key], [sclite_case_fold(t) for t in toks])))
    return out


def group_by_speaker(utterances: Sequence[Utterance]) -> List[Tuple[str, List[Utterance]]]:
    """Speakers in order of first appearance, each with its utterances in order."""
    groups: Dict[str, List[Utterance]] = {}
    for u in utterances:
        groups.setdefault(u.speaker, []).append(u)
    return list(groups.items())


def format_report(utterances: Sequence[Utterance], title: str = "hyp.trn") -> str:
    """The whole ``sclite ... -o all stdout`` output for aligned utterances (see the module doc)."""
    groups = group_by_speaker(utterances)
    speakers = []
    for name, utts in groups:
        total = ErrorCounts()
        for u in utts:
            total = total + u.counts
        speakers.append((name, total))
    heading = "\n\n\n" + _center("SYSTEM SUMMARY PERCENTAGES by SPEAKER", SCREEN_WIDTH) + "\n\n"
    out = [heading, format_summary_box(title, speakers, raw=False),
           heading, format_summary_box(title, speakers, raw=True),
           "\n\n\t\tDUMP OF SYSTEM ALIGNMENT STRUCTURE\n\n",
           f"System name:   {title}\n\nSpeakers: \n"]
    out += [f"{i:5d}:  {name}\n" for i, (name, _) in enumerate(groups)]
    out.append("\n")
    for i, (name, utts) in enumerate(groups):
        out.append(f"Speaker sentences{i:4d}:  {name}   #utts: {len(utts)}\n")
        for u in utts:
            c = u.counts
            out.append(f"id: ({u.id})\nScores: (#C #S #D #I) {c.corr} {c.sub} {c.dele} {c.ins}\n")
            out.append(format_alignment(u.pairs))
            out.append("\n")
    out.append("\n")
    return "".join(out)


# ------------------------------------------------------------------------------------------------
# The real sclite
# ------------------------------------------------------------------------------------------------
def find_sclite() -> Optional[str]:
    """Path of the sclite binary: ``$SCLITE``, then PATH, then the Debian package's location."""
    env = os.environ.get("SCLITE")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("sclite")
    if found:
        return found
    for candidate in SCLITE_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def run_sclite(score_dir: Path, sclite: str, ref_name: str = "ref.trn", hyp_name: str = "hyp.trn") -> str:
    """Run ``sclite -r ref.trn trn -h hyp.trn trn -i rm -o all stdout -e utf-8`` inside ``score_dir`` and
    return its output (raises RuntimeError with sclite's messages when it fails)."""
    cmd = [sclite, "-r", ref_name, "trn", "-h", hyp_name, "trn", *SCLITE_ARGS]
    proc = subprocess.run(cmd, cwd=score_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"sclite failed (exit {proc.returncode}) in {score_dir}: {' '.join(cmd)}\n"
                           + proc.stderr.decode("utf-8", "replace")[-2000:])
    return proc.stdout.decode("utf-8", "replace")


_SCORES_RE = re.compile(r"^id: \((?P<id>[^()]*)\)\nScores: \(#C #S #D #I\) (\d+) (\d+) (\d+) (\d+)$", re.M)


def parse_sclite_scores(report: str) -> Dict[str, ErrorCounts]:
    """Per-utterance counts from the alignment dump of sclite's ``-o all``/``pralign`` output, keyed by
    sclite's (lower-cased) utterance id."""
    out = {}
    for m in _SCORES_RE.finditer(report):
        out[m.group("id")] = ErrorCounts.from_scores(*(int(m.group(k)) for k in range(2, 6)))
    return out
