"""What every corpus preparation shares: TSV reading, problem reporting, and writing and combining Kaldi
data dirs, with memory that does not grow with the corpus.

A corpus module (commonvoice, fleurs, wenetspeech, covost2, generic) reads its release as laid out by
its publishers, row by row, turns every usable row into a :class:`~part.data.datadir.Utterance`,
collects what it had to skip in a :class:`Skips` (missing audio, empty transcripts, malformed rows,
ids a Kaldi file cannot hold, repeated ids: each with file, line and id), and hands the utterances
to :class:`~part.data.datadir.DataDirWriter` (sorted externally, validated, replaced atomically),
directly or through :class:`CorpusSets`. A bad row is skipped with a warning, never fatal to the
corpus (``--strict`` makes some reasons errors).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import heapq
import itertools
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from part.data.corpora.errors import CorpusError, CorpusLayoutError
from part.data.corpora.wavscp import AUDIO_FORMATS
from part.data.datadir import (
    DataDirError,
    DataDirSummary,
    DataDirWriter,
    Segment,
    Utterance,
    id_problem,
    ignore_problem,
    iter_kaldi_file,
    iter_utterances,
    kaldi_value,
    validate_data_dir,
)
from part.data.languages import canonical_code
from part.cli import str2bool

PathLike = Union[str, os.PathLike]

logger = logging.getLogger("part.data.corpora")

# Utterances are split into the usual three sets; corpus modules name their data dirs with these.
SPLITS = ("train", "dev", "test")
# At most this many skipped items are named in one log message (then a count of the rest).
MAX_LISTED = 10

__all__ = ["CorpusError", "CorpusLayoutError", "Segment", "Utterance", "SPLITS", "Skips", "CorpusSets",
           "read_tsv_rows", "read_tsv_with_header", "split_list", "check_splits", "language_code", "ids_problem",
           "corpus_writer", "combine_data_dirs", "corpus_parser", "add_output_arguments", "add_common_arguments",
           "run_main", "setup_logging", "kaldi_value"]


@dataclass
class Skip:
    """One row or item a preparation left out, and why."""

    reason: str  # short category, e.g. "missing audio"
    where: str  # file:line, or the JSON path of an entry
    item: str  # the clip / utterance / segment id
    detail: str = ""


@dataclass
class Skips:
    """The items a preparation left out, counted by reason, with the first :data:`MAX_LISTED` of each
    kept to be named (a corpus with a million bad rows costs no more memory than one with ten)."""

    counts: Counter = field(default_factory=Counter)
    examples: Dict[str, List[Skip]] = field(default_factory=dict)

    def add(self, reason: str, where: str, item: str, detail: str = "") -> None:
        self.counts[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < MAX_LISTED:
            shown.append(Skip(reason, where, item, detail))

    def extend(self, other: "Skips") -> None:
        for reason, count in other.counts.items():
            self.counts[reason] += count
            shown = self.examples.setdefault(reason, [])
            shown.extend(other.examples.get(reason, [])[:MAX_LISTED - len(shown)])

    def count(self, reason: Optional[str] = None) -> int:
        return sum(self.counts.values()) if reason is None else self.counts[reason]

    def describe(self, reason: str) -> str:
        shown = [f"{s.item} ({s.where}{': ' + s.detail if s.detail else ''})" for s in self.examples.get(reason, [])]
        more = self.counts[reason] - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")

    def report(self, what: str, strict_reasons: Sequence[str] = (), strict: bool = False,
               advice: Optional[Dict[str, str]] = None) -> None:
        """Log one warning per reason; with ``strict``, raise :class:`CorpusError` for the reasons in
        ``strict_reasons`` instead. ``advice`` maps a reason to what the user can do about it."""
        advice = advice or {}
        fatal = []
        for reason, count in self.counts.items():
            message = (f"{what}: skipped {count} item(s), {reason}: {self.describe(reason)}"
                       + (f". {advice[reason]}" if reason in advice else ""))
            if strict and reason in strict_reasons:
                fatal.append(message)
            else:
                hint = " (--strict makes this an error)" if reason in strict_reasons else ""
                logger.warning(message + hint)
        if fatal:
            raise CorpusError("; ".join(fatal) + " (stopped because of --strict)")


# ----------------------------------------------------------------------------------------------
# Reading the TSV files of corpus releases


def _raise_field_limit() -> None:
    # Some releases have very long fields (e.g. CommonVoice sentences of pasted paragraphs).
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10


def read_tsv_rows(path: PathLike, escapechar: Optional[str] = None) -> Iterator[Tuple[int, List[str]]]:
    """Yield ``(line_number, fields)`` of a tab-separated file that is *not* CSV-quoted, streaming.

    Quotes are ordinary characters (``QUOTE_NONE``): a sentence like ``He said "hi"`` stays intact.
    ``escapechar`` is for files written with one (CoVoST's pandas-written TSVs use a backslash before
    tabs, quotes, backslashes and line breaks inside fields). A UTF-8 byte-order mark is dropped; CRLF
    line ends are read like LF. Blank lines are skipped. Line numbers are physical lines of the file
    (1-based, the last line of a row that spans several), for error messages.
    """
    _raise_field_limit()
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=escapechar,
                            strict=False)
        try:
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                yield reader.line_num, fields
        except UnicodeDecodeError as err:
            raise CorpusError(f"{path}: not valid UTF-8 near line {reader.line_num + 1} ({err.reason}). "
                              "Is this the file of the release, unmodified?") from None


def read_tsv_with_header(
    path: PathLike,
    required: Sequence[str],
    free_text_column: Optional[str] = None,
    escapechar: Optional[str] = None,
    skips: Optional[Skips] = None,
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield ``(line_number, {column: value})`` of a TSV with a header row, reading columns by name.

    Args:
        path: the TSV.
        required: columns that must be in the header (a :class:`CorpusLayoutError` names the missing
            ones and the header found).
        free_text_column: the one column that may itself contain tab characters in files that are not
            escaped (CommonVoice's ``sentence``). A row with too many fields is repaired by taking the
            columns before this one from the left, those after it from the right, and the rest (joined
            by a space) as its value.
        escapechar: see :func:`read_tsv_rows`.
        skips: rows with too few fields (or too many, without ``free_text_column``) are recorded here
            as ``malformed row`` and left out.
    """
    rows = read_tsv_rows(path, escapechar=escapechar)
    try:
        _, header = next(rows)
    except StopIteration:
        raise CorpusLayoutError(f"{path} is empty; expected a header row with the columns "
                                f"{', '.join(required)}") from None
    header = [name.strip() for name in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise CorpusLayoutError(
            f"{path}: the header has no column {', '.join(repr(m) for m in missing)} (header: "
            f"{' '.join(header)}). Is this the right file of the release?")
    free = header.index(free_text_column) if free_text_column in header else None
    width = len(header)
    for number, fields in rows:
        if len(fields) > width and free is not None:
            extra = len(fields) - width
            fields = fields[:free] + [" ".join(fields[free:free + extra + 1])] + fields[free + extra + 1:]
        if len(fields) != width:
            if skips is not None:
                skips.add("malformed row", f"{path}:{number}", fields[0] if fields else "",
                          f"{len(fields)} fields, the header has {width}")
            continue
        yield number, dict(zip(header, fields))


def split_list(value: Union[str, Sequence[str], None]) -> List[str]:
    """``"de,fr zh-CN"`` or ``["de", "fr"]`` -> ``["de", "fr", "zh-CN"]`` (commas and spaces separate)."""
    if value is None:
        return []
    if not isinstance(value, str):
        value = " ".join(value)
    return [item for item in value.replace(",", " ").split() if item]


def check_splits(splits: Sequence[str], known: Sequence[str], corpus: str) -> None:
    """A :class:`CorpusError` naming the splits asked for that ``corpus`` does not have."""
    unknown = [s for s in splits if s not in known]
    if unknown:
        raise CorpusError(f"unknown split(s) {', '.join(unknown)}; {corpus} splits are {', '.join(known)}")


def language_code(corpus_code: str, where: str) -> str:
    """The registry code of a corpus' language tag, or a :class:`CorpusError` saying how to add it."""
    try:
        return canonical_code(corpus_code)
    except KeyError as err:
        raise CorpusError(f"{where}: {err.args[0]}") from None


def ids_problem(**ids: str) -> Optional[str]:
    """Why one of the named ids (``utterance=..., speaker=...``) cannot be a Kaldi id, or None; a row
    with such an id is skipped as ``bad id``."""
    for what, value in ids.items():
        problem = id_problem(value)
        if problem:
            return f"{what} '{value}': {problem}"
    return None


# ----------------------------------------------------------------------------------------------
# Writing and combining data dirs


def corpus_writer(path: PathLike, skips: Skips) -> DataDirWriter:
    """A data dir writer whose repeated utterance ids are skipped (the first kept) and recorded in
    ``skips`` as ``repeated id``, naming where the repeat and the first come from."""
    return DataDirWriter(path, on_duplicate=lambda utt, where, first: skips.add(
        "repeated id", where, utt, f"the id is already used at {first}; the first is kept"))


@dataclass
class PrepResult:
    """The data dirs a corpus preparation wrote, and what it left out.

    ``dirs[split][code]`` is the data dir of one language (the corpus' own code, e.g. ``zh-CN``,
    ``cmn_hans_cn``, ``fr_en``) and ``combined[split]`` the one over all languages.
    """

    dirs: Dict[str, Dict[str, Path]] = field(default_factory=dict)
    combined: Dict[str, Path] = field(default_factory=dict)
    skips: Skips = field(default_factory=Skips)


class CorpusSets:
    """The data dirs of one corpus preparation: ``<out_dir>/<corpus>_<split>_<code>`` for every split and
    language code that got utterances, and ``<out_dir>/<corpus>_<split>`` over all codes of a split
    (combined from the per-language dirs at the end).

    Use as a context manager: leaving the block without an exception writes everything (see
    :meth:`close`); an exception leaves every data dir of ``out_dir`` as it was. What a part of the
    corpus had to skip is reported when its :meth:`reading` block ends: ``strict_reasons``, ``strict`` and
    ``advice`` are those of :meth:`Skips.report`.
    """

    def __init__(self, out_dir: PathLike, corpus: str, strict_reasons: Sequence[str] = (), strict: bool = False,
                 advice: Optional[Dict[str, str]] = None):
        self.out_dir = Path(out_dir)
        self.corpus = corpus
        self.strict_reasons, self.strict, self.advice = strict_reasons, strict, advice
        self.result = PrepResult()
        self.repeats = Skips()  # repeated ids, found when the writers sort
        self.writers: Dict[Tuple[str, str], DataDirWriter] = {}

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[Skips]:
        """The :class:`Skips` of one part of the corpus (a language's split, a translation direction),
        reported as ``what`` when the block ends (with ``strict``, as an error) and kept in the result."""
        skips = Skips()
        yield skips
        skips.report(what, self.strict_reasons, self.strict, self.advice)
        self.result.skips.extend(skips)

    def add(self, split: str, code: str, utt: Utterance, where: str) -> None:
        writer = self.writers.get((split, code))
        if writer is None:
            writer = self.writers[(split, code)] = corpus_writer(
                self.out_dir / f"{self.corpus}_{split}_{code}", self.repeats)
        writer.add(utt, where)

    def close(self, splits: Sequence[str], codes: Sequence[str]) -> PrepResult:
        """Write every data dir. Repeated ids are reported (with ``strict`` and ``repeated id`` among
        ``strict_reasons``: stop) before anything replaces an existing dir."""
        for writer in self.writers.values():
            writer.finish()
        self.repeats.report(self.corpus, self.strict_reasons, self.strict, self.advice)
        self.result.skips.extend(self.repeats)
        for split in splits:
            for code in codes:
                writer = self.writers.get((split, code))
                if writer is None:
                    logger.warning(f"{self.corpus} {split} {code}: no utterances left; "
                                   f"{self.corpus}_{split}_{code} is not written")
                    continue
                summary = writer.commit()
                self.result.dirs.setdefault(split, {})[code] = writer.path
                logger.info(f"wrote {summary.describe()}")
            per_code = list(self.result.dirs.get(split, {}).values())
            if not per_code:
                logger.warning(f"{self.corpus} {split}: no utterances at all; {self.corpus}_{split} is not written")
                continue
            path = self.out_dir / f"{self.corpus}_{split}"
            report = combine_data_dirs(per_code, path)
            self.result.combined[split] = path
            logger.info(f"wrote {report.summary.describe()}")
        return self.result

    def __enter__(self) -> "CorpusSets":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            for writer in self.writers.values():
                writer.abort()


@dataclass
class MergeReport:
    """What :func:`combine_data_dirs` did."""

    summary: Optional[DataDirSummary] = None
    merged: int = 0  # utterances found in more than one input (their translations were merged)
    text_conflicts: int = 0  # of those, how many had different transcripts (the first input's kept)
    excluded: int = 0  # utterances left out because they are in an excluded (evaluation) set
    conflicts: List[str] = field(default_factory=list)  # the first MAX_LISTED of them

    @property
    def num_utterances(self) -> int:
        return self.summary.num_utterances if self.summary else 0


def _utterance_ids(path: PathLike) -> Iterator[str]:
    return (line.key for line in iter_kaldi_file(Path(path) / "utt2spk", ignore_problem))


def _tagged(index: int, utterances: Iterable[Utterance]) -> Iterator[Tuple[str, int, Utterance]]:
    for utt in utterances:
        yield utt.utt_id, index, utt


def combine_data_dirs(
    inputs: Sequence[PathLike],
    output: PathLike,
    exclude: Sequence[PathLike] = (),
) -> MergeReport:
    """Write the union of data dirs ``inputs`` to ``output``, streaming (a merge of the sorted inputs).

    An utterance id found in several inputs is one utterance seen by several corpora (CommonVoice ASR
    and CoVoST 2 translation share CommonVoice clips and their ids): it is kept once, with the
    transcript and audio of the first input that has it and the translations of all of them.
    Utterances whose id is in any data dir of ``exclude`` are left out (this keeps evaluation clips
    out of training). The inputs are validated first and not modified.
    """
    if not inputs:
        raise CorpusError(f"{output}: nothing to combine (no input data dirs)")
    for path in list(inputs) + list(exclude):
        validate_data_dir(path).raise_for_errors()
    report = MergeReport()
    excluded = heapq.merge(*(_utterance_ids(path) for path in exclude))
    next_excluded = next(excluded, None)
    merged = heapq.merge(*(_tagged(i, iter_utterances(path)) for i, path in enumerate(inputs)),
                         key=lambda item: (item[0], item[1]))
    with DataDirWriter(output) as writer:
        for utt_id, group in itertools.groupby(merged, key=lambda item: item[0]):
            while next_excluded is not None and next_excluded < utt_id:
                next_excluded = next(excluded, None)
            if next_excluded == utt_id:
                report.excluded += 1
                continue
            utterances = [utt for _, _, utt in group]
            first = utterances[0]
            for other in utterances[1:]:
                report.merged += 1
                if other.text != first.text:
                    report.text_conflicts += 1
                    if len(report.conflicts) < MAX_LISTED:
                        report.conflicts.append(f"{utt_id} ('{first.text}' vs '{other.text}')")
                for tgt, translation in other.translations.items():
                    if tgt != first.lang:
                        first.translations.setdefault(tgt, translation)
            writer.add(first)
    if report.text_conflicts:
        more = report.text_conflicts - len(report.conflicts)
        logger.warning(f"{output}: {report.text_conflicts} utterances come from several inputs with different "
                       f"transcripts; the first input's transcript is kept: {', '.join(report.conflicts)}"
                       + (f" and {more} more" if more else ""))
    if report.excluded:
        logger.info(f"{output}: left out {report.excluded} utterances that are in "
                    f"{', '.join(str(p) for p in exclude)}")
    if writer.summary is None:
        raise CorpusError(f"{output}: no utterances to write (every input utterance is excluded)")
    report.summary = writer.summary
    return report


# ----------------------------------------------------------------------------------------------
# Command lines


def corpus_parser(command: str, description: str) -> argparse.ArgumentParser:
    """The parser of ``python -m part.data.corpora.<command>``; its --help shows every default."""
    return argparse.ArgumentParser(prog=f"python -m part.data.corpora.{command}", description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_output_arguments(parser: argparse.ArgumentParser, splits: Sequence[str] = SPLITS) -> None:
    """``--out_dir``, and ``--splits`` to choose among ``splits`` (none: the corpus has no such option)."""
    parser.add_argument("--out_dir", required=True, help="where the data dirs are written")
    if splits:
        parser.add_argument("--splits", default=",".join(splits), help="splits to prepare")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every corpus command line has."""
    parser.add_argument("--audio_format", choices=AUDIO_FORMATS, default="auto",
                        help="wav.scp entries: auto = the path when the file is 16 kHz mono, else a pipe that "
                             "converts it; path = always the path; pipe = always a converting pipe")
    parser.add_argument("--strict", type=str2bool, nargs="?", const=True, default=False,
                        help="stop with an error on missing or unreadable audio and malformed rows instead of "
                             "skipping them with a warning")
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def run_main(function, args) -> int:
    """Run a command-line entry point: corpus problems become one error line and exit status 1."""
    setup_logging(getattr(args, "verbose", False))
    try:
        function(args)
    except (CorpusError, DataDirError) as err:
        logger.error(str(err))
        return 1
    return 0


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr in the recipes' format (command-line entry points call this once)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
