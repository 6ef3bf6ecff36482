"""What every corpus preparation shares: the utterance record, TSV reading, problem reporting, writing
and combining Kaldi data dirs.

A corpus module (commonvoice, fleurs, wenetspeech, covost2, generic) reads its release as laid out by
its publishers, turns every usable row into an :class:`Utterance`, collects what it had to skip in a
:class:`Skips` (missing audio, empty transcripts, malformed rows: each with file, line and id), and
writes the utterances with :func:`write_utterances`. Data dirs follow docs/contracts.md; writing goes
through :func:`part.data.datadir.write_data_dir` (sorted, validated, replaced atomically).
"""
from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from part.data.datadir import load_data_dir, write_data_dir
from part.data.languages import canonical_code

PathLike = Union[str, os.PathLike]

logger = logging.getLogger("part.data.corpora")

# Utterances are split into the usual three sets; corpus modules name their data dirs with these.
SPLITS = ("train", "dev", "test")
# At most this many skipped items are named in one log message (then a count of the rest).
MAX_LISTED = 10


class CorpusError(Exception):
    """A corpus that cannot be prepared as asked. The message says where and what to do."""


class CorpusLayoutError(CorpusError):
    """The corpus root does not look like the release it should be (a file or folder is missing).

    ``root`` names which of several roots is at fault (CoVoST 2 has two), so that the recipe front end
    can say which db.sh variable to fix.
    """

    def __init__(self, message: str, root: Optional[str] = None):
        super().__init__(message)
        self.root = root


@dataclass(slots=True)
class Segment:
    """Where an utterance lies inside a longer recording (a ``segments`` line)."""

    recording: str
    start: float
    end: float


@dataclass(slots=True)
class Utterance:
    """One utterance as a data dir holds it.

    ``wav`` is the ``wav.scp`` value: a path or ``cmd |``. With a :attr:`segment` it is the value of
    the segment's recording (the same for every utterance of that recording).
    """

    utt_id: str
    speaker: str
    lang: str  # registry code (part/data/languages.py)
    text: str
    wav: str
    segment: Optional[Segment] = None
    translations: Dict[str, str] = field(default_factory=dict)  # tgt lang -> translation


@dataclass
class Skip:
    """One row or item a preparation left out, and why."""

    reason: str  # short category, e.g. "missing audio"
    where: str  # file:line
    item: str  # the clip / utterance / segment id
    detail: str = ""


@dataclass
class Skips:
    """The items a preparation left out, grouped by reason, for one log message per reason."""

    items: List[Skip] = field(default_factory=list)

    def add(self, reason: str, where: str, item: str, detail: str = "") -> None:
        self.items.append(Skip(reason, where, item, detail))

    def extend(self, other: "Skips") -> None:
        self.items.extend(other.items)

    def by_reason(self) -> "OrderedDict[str, List[Skip]]":
        grouped: "OrderedDict[str, List[Skip]]" = OrderedDict()
        for skip in self.items:
            grouped.setdefault(skip.reason, []).append(skip)
        return grouped

    def count(self, reason: Optional[str] = None) -> int:
        return sum(1 for s in self.items if reason is None or s.reason == reason)

    def describe(self, reason: str, limit: int = MAX_LISTED) -> str:
        skips = self.by_reason().get(reason, [])
        shown = [f"{s.item} ({s.where}{': ' + s.detail if s.detail else ''})" for s in skips[:limit]]
        more = f" and {len(skips) - limit} more" if len(skips) > limit else ""
        return ", ".join(shown) + more

    def report(self, what: str, strict_reasons: Sequence[str] = (), strict: bool = False,
               advice: Optional[Dict[str, str]] = None) -> None:
        """Log one warning per reason; with ``strict``, raise :class:`CorpusError` for the reasons in
        ``strict_reasons`` instead. ``advice`` maps a reason to what the user can do about it."""
        advice = advice or {}
        fatal = []
        for reason, skips in self.by_reason().items():
            message = (f"{what}: skipped {len(skips)} item(s), {reason}: {self.describe(reason)}"
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
    """Yield ``(line_number, fields)`` of a tab-separated file that is *not* CSV-quoted.

    Quotes are ordinary characters (``QUOTE_NONE``): a sentence like ``He said "hi"`` stays intact.
    ``escapechar`` is for files written with one (CoVoST's pandas-written TSVs use a backslash before
    tabs, quotes and backslashes inside fields). A UTF-8 byte-order mark is dropped. Blank lines are
    skipped. Line numbers are physical lines of the file (1-based), for error messages.
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


def clean_text(text: str) -> str:
    """A transcript or translation as one line: runs of whitespace (tabs included) become one space."""
    return " ".join(text.split())


def split_list(value: Union[str, Sequence[str], None]) -> List[str]:
    """``"de,fr zh-CN"`` or ``["de", "fr"]`` -> ``["de", "fr", "zh-CN"]`` (commas and spaces separate)."""
    if value is None:
        return []
    if not isinstance(value, str):
        value = " ".join(value)
    return [item for item in value.replace(",", " ").split() if item]


def language_code(corpus_code: str, where: str) -> str:
    """The registry code of a corpus' language tag, or a :class:`CorpusError` saying how to add it."""
    try:
        return canonical_code(corpus_code)
    except KeyError as err:
        raise CorpusError(f"{where}: {err.args[0]}") from None


def existing_files(directory: Path) -> set:
    """The names of the files in ``directory`` (one listing instead of one stat per clip)."""
    try:
        return set(os.listdir(directory))
    except FileNotFoundError:
        return set()


# ----------------------------------------------------------------------------------------------
# Writing and combining data dirs


def write_utterances(path: PathLike, utterances: Iterable[Utterance]) -> Path:
    """Write utterances as a Kaldi data dir (docs/contracts.md), replacing ``path`` atomically.

    Utterance ids must be unique; an utterance id must start with its speaker id. Either every
    utterance has a segment or none has. Raises :class:`CorpusError` when these do not hold, and
    :class:`part.data.datadir.DataDirError` when the written dir would not validate.
    """
    path = Path(path)
    utts = list(utterances)
    if not utts:
        raise CorpusError(f"{path}: no utterances to write (everything was skipped or nothing was selected)")
    seen: Dict[str, Utterance] = {}
    for utt in utts:
        if utt.utt_id in seen:
            raise CorpusError(f"{path}: two utterances have the id '{utt.utt_id}' (audio '{seen[utt.utt_id].wav}' "
                              f"and '{utt.wav}'); utterance ids must be unique")
        if not utt.utt_id.startswith(utt.speaker):
            raise CorpusError(f"{path}: utterance '{utt.utt_id}' does not start with its speaker id "
                              f"'{utt.speaker}' (Kaldi's `speaker-rest` convention)")
        seen[utt.utt_id] = utt
    with_segments = [u for u in utts if u.segment is not None]
    if with_segments and len(with_segments) != len(utts):
        plain = next(u for u in utts if u.segment is None)
        raise CorpusError(f"{path}: utterance '{plain.utt_id}' has no segment while others have one; a data dir "
                          "either has a segments file for every utterance or none (combine such corpora "
                          "into separate data dirs)")
    segments = None
    if with_segments:
        wav_scp: Dict[str, str] = {}
        segments = {}
        for utt in utts:
            seg = utt.segment
            known = wav_scp.setdefault(seg.recording, utt.wav)
            if known != utt.wav:
                raise CorpusError(f"{path}: recording '{seg.recording}' has two audio entries: '{known}' and "
                                  f"'{utt.wav}' (utterance '{utt.utt_id}')")
            segments[utt.utt_id] = (seg.recording, seg.start, seg.end)
    else:
        wav_scp = {u.utt_id: u.wav for u in utts}
    translations: Dict[str, Dict[str, str]] = {}
    for utt in utts:
        for tgt, translation in utt.translations.items():
            if tgt == utt.lang:
                raise CorpusError(f"{path}: utterance '{utt.utt_id}' has a translation into its own language "
                                  f"'{tgt}'; text.<tgt> may only hold translations into other languages")
            translations.setdefault(tgt, {})[utt.utt_id] = translation
    write_data_dir(
        path,
        wav_scp=wav_scp,
        text={u.utt_id: u.text for u in utts},
        utt2spk={u.utt_id: u.speaker for u in utts},
        utt2lang={u.utt_id: u.lang for u in utts},
        segments=segments,
        translations=translations or None,
    )
    return path


def read_utterances(path: PathLike) -> List[Utterance]:
    """The utterances of a data dir (validated first: a broken dir raises its first problem)."""
    data = load_data_dir(path)
    utts = []
    for utt_id in data.utt_ids:
        segment = None
        if data.has_segments:
            rec, start, end = data["segments"][utt_id].split()
            segment = Segment(rec, float(start), float(end))
            wav = data["wav.scp"][rec]
        else:
            wav = data["wav.scp"][utt_id]
        translations = {tgt: data.translations(tgt)[utt_id] for tgt in data.translation_langs
                        if utt_id in data.translations(tgt)}
        utts.append(Utterance(utt_id, data["utt2spk"][utt_id], data["utt2lang"][utt_id], data["text"][utt_id],
                              wav, segment, translations))
    return utts


@dataclass
class MergeReport:
    """What :func:`merge_utterances` / :func:`combine_data_dirs` did."""

    num_utterances: int = 0
    merged: int = 0  # utterances found in more than one input (their translations were merged)
    text_conflicts: int = 0  # of those, how many had different transcripts (the first input's kept)
    excluded: int = 0  # utterances left out because they are in an excluded (evaluation) set
    conflicts: List[str] = field(default_factory=list)


def merge_utterances(groups: Iterable[Iterable[Utterance]], exclude_ids: Iterable[str] = (),
                     what: str = "") -> Tuple[List[Utterance], MergeReport]:
    """The union of several utterance lists, as :func:`combine_data_dirs` describes it."""
    excluded_ids = set(exclude_ids)
    combined: "OrderedDict[str, Utterance]" = OrderedDict()
    report = MergeReport()
    for group in groups:
        for utt in group:
            if utt.utt_id in excluded_ids:
                report.excluded += 1
                continue
            known = combined.get(utt.utt_id)
            if known is None:
                combined[utt.utt_id] = Utterance(utt.utt_id, utt.speaker, utt.lang, utt.text, utt.wav,
                                                 utt.segment, dict(utt.translations))
                continue
            report.merged += 1
            if known.text != utt.text:
                report.text_conflicts += 1
                report.conflicts.append(f"{utt.utt_id} ('{known.text}' vs '{utt.text}')")
            for tgt, translation in utt.translations.items():
                if tgt != known.lang:
                    known.translations.setdefault(tgt, translation)
    if report.conflicts:
        shown = ", ".join(report.conflicts[:MAX_LISTED])
        more = f" and {len(report.conflicts) - MAX_LISTED} more" if len(report.conflicts) > MAX_LISTED else ""
        logger.warning(f"{what}: {len(report.conflicts)} utterances come from several inputs with different "
                       f"transcripts; the first input's transcript is kept: {shown}{more}")
    report.num_utterances = len(combined)
    return list(combined.values()), report


def combine_data_dirs(
    inputs: Sequence[PathLike],
    output: PathLike,
    exclude: Sequence[PathLike] = (),
) -> MergeReport:
    """Write the union of data dirs ``inputs`` to ``output``.

    An utterance id found in several inputs is one utterance seen by several corpora (CommonVoice ASR
    and CoVoST 2 translation share CommonVoice clips and their ids): it is kept once, with the
    transcript and audio of the first input that has it and the translations of all of them.
    Utterances whose id is in any data dir of ``exclude`` are left out (this keeps evaluation clips
    out of training). The inputs are not modified.
    """
    if not inputs:
        raise CorpusError(f"{output}: nothing to combine (no input data dirs)")
    excluded_ids = set()
    for path in exclude:
        excluded_ids.update(load_data_dir(path).utt_ids)
    utts, report = merge_utterances((read_utterances(path) for path in inputs), excluded_ids, str(output))
    if report.excluded:
        logger.info(f"{output}: left out {report.excluded} utterances that are in "
                    f"{', '.join(str(p) for p in exclude)}")
    write_utterances(output, utts)
    return report


@dataclass
class PrepResult:
    """The data dirs a corpus preparation wrote, and what it left out.

    ``dirs[split][code]`` is the data dir of one language (the corpus' own code, e.g. ``zh-CN``,
    ``cmn_hans_cn``, ``fr_en``) and ``combined[split]`` the one over all languages.
    """

    dirs: Dict[str, Dict[str, Path]] = field(default_factory=dict)
    combined: Dict[str, Path] = field(default_factory=dict)
    skips: Skips = field(default_factory=Skips)


def write_sets(out_dir: PathLike, corpus: str, sets: Dict[str, Dict[str, List[Utterance]]],
               skips: Skips, per_language: bool = True) -> PrepResult:
    """Write ``<out_dir>/<corpus>_<split>_<code>`` for every split and language of ``sets`` (with
    ``per_language``), and ``<out_dir>/<corpus>_<split>`` over all languages of the split."""
    out_dir = Path(out_dir)
    result = PrepResult(skips=skips)
    for split, per_code in sets.items():
        for code, utts in per_code.items():
            if not per_language:
                continue
            if not utts:
                logger.warning(f"{corpus} {split} {code}: no utterances left; {corpus}_{split}_{code} is not written")
                continue
            path = write_utterances(out_dir / f"{corpus}_{split}_{code}", utts)
            result.dirs.setdefault(split, {})[code] = path
            logger.info(f"wrote {path}: {len(utts)} utterances")
        merged, _ = merge_utterances(per_code.values(), what=f"{corpus} {split}")
        if not merged:
            logger.warning(f"{corpus} {split}: no utterances at all; {corpus}_{split} is not written")
            continue
        path = write_utterances(out_dir / f"{corpus}_{split}", merged)
        result.combined[split] = path
        logger.info(f"wrote {path}: {len(merged)} utterances")
    return result


def str2bool(value: Union[str, bool]) -> bool:
    """``true``/``false`` (also yes/no, 1/0) for options written the Kaldi way (``--strict true``)."""
    if isinstance(value, bool):
        return value
    lowered = value.lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every corpus command line has."""
    from part.data.corpora.wavscp import AUDIO_FORMATS

    parser.add_argument("--audio_format", choices=AUDIO_FORMATS, default="auto",
                        help="wav.scp entries: auto = the path when the file is 16 kHz mono, else a pipe that "
                             "converts it; path = always the path; pipe = always a converting pipe")
    parser.add_argument("--strict", type=str2bool, nargs="?", const=True, default=False,
                        help="stop with an error on missing or unreadable audio and malformed rows instead of "
                             "skipping them with a warning")
    parser.add_argument("--verbose", action="store_true", help="debug logging")


def run_main(function, args) -> int:
    """Run a command-line entry point: corpus problems become one error line and exit status 1."""
    from part.data.datadir import DataDirError

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
