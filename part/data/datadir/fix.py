"""Repairing a data dir in place (``utils/fix_data_dir.sh``), streaming: every file is sorted externally,
then all are walked together by utterance id and rewritten line by line. Memory does not grow with
the number of utterances (only with the number of recordings of a ``segments`` dir)."""
from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set, TextIO

from part.data.datadir.errors import DataDirError, PathLike, ignore_problem
from part.data.datadir.layout import (
    EXTRA_RECORDING_FILES,
    EXTRA_SPK_FILES,
    EXTRA_UTT_FILES,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    TRANSLATION_PREFIX,
    is_translation_file,
    reader_options,
)
from part.data.datadir.records import parse_segment
from part.data.datadir.table import KaldiLine, iter_kaldi_file, join_sorted
from part.data.external_sort import ExternalSorter
from part.data.languages import LANGUAGES, canonical_code
from part.fileio import fsync_dir, fsync_file

# How many dropped utterances of each reason the report names.
EXAMPLES_PER_REASON = 5
CORE_FILES = ("text", "utt2spk", "utt2lang")


@dataclass
class FixReport:
    """What :func:`fix_data_dir` did: how many utterances it kept, and which it dropped and why."""

    path: Path
    num_before: int = 0
    num_kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> utterances
    examples: Dict[str, List[str]] = field(default_factory=dict)  # reason -> the first few utterances
    notes: List[str] = field(default_factory=list)

    def drop(self, utt: str, reason: str) -> None:
        self.dropped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(utt)

    def summary(self) -> str:
        lines = [f"fix_data_dir: kept {self.num_kept} of {self.num_before} utterances in {self.path}"]
        if self.dropped:
            lines.append(f"dropped {sum(self.dropped.values())} utterances:")
            for reason, count in self.dropped.most_common():
                shown = ", ".join(f"'{u}'" for u in self.examples[reason])
                lines.append(f"  {count}: {reason} ({shown}{' ...' if count > len(self.examples[reason]) else ''})")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _sorted_copy(source: Path, target: Path, work: Path) -> None:
    """``source`` sorted in C-locale order into ``target``, bytes kept (also those that are not UTF-8)."""
    with ExternalSorter(work) as sorter:
        with open(source, encoding="utf-8", errors="surrogateescape", newline="\n") as handle:
            for number, line in enumerate(handle, start=1):
                line = line.rstrip("\n")
                sorter.add(line[1:] if number == 1 and line.startswith("\ufeff") else line)
        with open(target, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as out:
            for line in sorter:
                out.write(line + "\n")


def fix_data_dir(path: PathLike) -> FixReport:
    """Keep only the utterances that are usable in every file, sort every file, rebuild ``spk2utt``.

    Drops utterances missing from any of ``text``, ``utt2spk``, ``utt2lang``, ``wav.scp``/``segments``,
    and lines that cannot be used (not UTF-8, empty transcript, conflicting duplicate lines, a segment
    whose recording is missing); removes identical repeated lines, byte-order marks and CRLF line ends;
    restricts ``text.<tgt>`` (dropping translations into the utterance's own language), ``wav.scp`` (with
    segments) and the other known per-id files to what is kept. The original files are copied to
    ``<path>/.backup/`` first; each file is replaced atomically. Language codes that are registry
    aliases are rewritten to the registry code. Problems it cannot fix (unknown language codes, bad
    audio) are left for :func:`~part.data.datadir.validate.validate_data_dir` to report.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataDirError("no such data directory", path, fix="Fix the path")
    known = REQUIRED_FILES + OPTIONAL_FILES + EXTRA_UTT_FILES + EXTRA_SPK_FILES + EXTRA_RECORDING_FILES
    names = [p.name for p in sorted(path.iterdir()) if p.is_file() and (p.name in known or is_translation_file(p.name))]
    report = FixReport(path)
    for name in ("wav.scp", "text", "utt2lang") + (() if "spk2utt" in names else ("utt2spk",)):
        if name not in names:
            raise DataDirError("required file missing; fix_data_dir.sh cannot invent it", path / name,
                               fix="Create it in data preparation (local/data.sh)")
    backup = path / ".backup"
    backup.mkdir(exist_ok=True)
    for name in names:
        shutil.copy2(path / name, backup / name)

    work = path / f".fix.tmp{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "sorted").mkdir(parents=True)
    (work / "new").mkdir()
    try:
        for name in names:
            _sorted_copy(path / name, work / "sorted" / name, work)
        if "utt2spk" not in names:
            _utt2spk_from_spk2utt(work)
            names.append("utt2spk")
            report.notes.append("utt2spk was missing and was derived from spk2utt")
        _Fixer(path, work, names, report).run()
        rewritten = sorted((work / "new").iterdir())
        for name in names:
            if name.startswith(TRANSLATION_PREFIX) and (work / "new" / name) not in rewritten:
                (path / name).unlink()
                report.notes.append(f"removed {name}: no translation is left in it")
        for new in rewritten:
            fsync_file(new)
            os.replace(new, path / new.name)
        fsync_dir(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def _utt2spk_from_spk2utt(work: Path) -> None:
    with ExternalSorter(work) as pairs:
        for line in iter_kaldi_file(work / "sorted" / "spk2utt", ignore_problem, sorted_ids=False):
            for utt in line.value.split():
                pairs.add(f"{utt} {line.key}")
        with open(work / "sorted" / "utt2spk", "w", encoding="utf-8", newline="\n") as out:
            for pair in pairs:
                out.write(pair + "\n")


class _Fixer:
    """The join over the sorted copies; see :func:`fix_data_dir`."""

    def __init__(self, path: Path, work: Path, names: List[str], report: FixReport):
        self.path, self.work, self.names, self.report = path, work, names, report
        self.has_segments = "segments" in names
        self.audio_file = "segments" if self.has_segments else "wav.scp"
        self.translations = [n for n in names if n.startswith(TRANSLATION_PREFIX)]
        self.extra_utt = [n for n in names if n in EXTRA_UTT_FILES]

    def lines(self, name: str):
        options = dict(reader_options(self.path, name, self.has_segments), sorted_ids=False)
        return iter_kaldi_file(self.work / "sorted" / name, ignore_problem, **options)

    def run(self) -> None:
        report = self.report
        recordings: Set[str] = set()
        if self.has_segments:
            recordings = {line.key for line in self.lines("wav.scp") if line.bad is None}
        core = CORE_FILES + (self.audio_file,)
        removed = Counter()
        aliases = 0
        with contextlib.ExitStack() as stack:
            new: Dict[str, TextIO] = {}

            def out(name: str) -> TextIO:
                if name not in new:
                    new[name] = stack.enter_context(open(self.work / "new" / name, "w", encoding="utf-8", newline="\n"))
                return new[name]

            speakers = stack.enter_context(ExternalSorter(self.work))
            used = stack.enter_context(ExternalSorter(self.work))
            for name in core:
                out(name)
            streams = {name: self.lines(name) for name in core + tuple(self.translations + self.extra_utt)}
            for utt, found in join_sorted(streams):
                if not any(name in found for name in core):
                    for name in found:
                        removed[name] += 1
                    continue
                report.num_before += 1
                reason = self.drop_reason(found, recordings)
                if reason:
                    report.drop(utt, reason)
                    for name in found:
                        if name not in core:
                            removed[name] += 1
                    continue
                report.num_kept += 1
                lang = found["utt2lang"].value
                if lang not in LANGUAGES:
                    with contextlib.suppress(KeyError):  # unknown: left for the validator to report
                        lang = canonical_code(lang)
                        aliases += 1
                out("text").write(f"{utt} {found['text'].value}\n")
                out("utt2spk").write(f"{utt} {found['utt2spk'].value}\n")
                out("utt2lang").write(f"{utt} {lang}\n")
                out(self.audio_file).write(f"{utt} {found[self.audio_file].value}\n")
                speakers.add(f"{found['utt2spk'].value} {utt}")
                if self.has_segments:
                    used.add(found["segments"].value.split()[0])
                for name in self.translations + self.extra_utt:
                    line = found.get(name)
                    if line is None:
                        continue
                    if line.bad is None and not (name in self.translations and name[len(TRANSLATION_PREFIX):] == lang):
                        out(name).write(f"{utt} {line.value}\n")
                    else:
                        removed[name] += 1
            with open(self.work / "new" / "spk2utt", "w", encoding="utf-8", newline="\n") as handle:
                for speaker, pairs in itertools.groupby(speakers, key=lambda pair: pair.partition(" ")[0]):
                    handle.write(speaker + " " + " ".join(pair.partition(" ")[2] for pair in pairs) + "\n")
            if self.has_segments:
                self.filter_by_keys((key for key, _ in itertools.groupby(used)), ["wav.scp"], EXTRA_RECORDING_FILES)
        self.filter_by_keys(self.new_keys("spk2utt"), [], EXTRA_SPK_FILES)
        if not self.has_segments:
            self.filter_by_keys(self.new_keys("wav.scp"), [], EXTRA_RECORDING_FILES)
        for name in self.translations:
            if removed[name]:
                report.notes.append(f"removed {removed[name]} lines from {name} (dropped utterances, empty "
                                    "translations, or translations into the utterance's own language)")
        if aliases:
            report.notes.append(f"{aliases} language codes in utt2lang were aliases and now are registry codes")
        duplicates = sum(self.count_repeats(name) for name in self.names)
        if duplicates:
            report.notes.append(f"removed {duplicates} repeated identical lines")

    def drop_reason(self, found: Dict[str, KaldiLine], recordings: Set[str]) -> Optional[str]:
        for name in CORE_FILES + (self.audio_file,):
            line = found.get(name)
            if line is None:
                return f"not in {name}"
            if line.bad is not None:
                return line.bad
        if self.has_segments:
            rec = parse_segment(found["segments"].value)[0]
            if rec is None:
                return "malformed segment"
            if rec not in recordings:
                return "segment's recording not in wav.scp"
        return None

    def new_keys(self, name: str):
        """The ids of a rewritten file, in order."""
        return (line.key for line in iter_kaldi_file(self.work / "new" / name, ignore_problem))

    def filter_by_keys(self, keys, always: List[str], extra: tuple) -> None:
        """Rewrite the files of ``always`` and the present ones of ``extra`` (sorted copies) keeping the
        ids of the sorted iterator ``keys``."""
        names = [n for n in always + [n for n in extra if n in self.names] if (self.work / "sorted" / n).exists()]
        if not names:
            return
        streams = {"keys": (KaldiLine(0, key, "") for key in keys)}
        streams.update({name: self.lines(name) for name in names})
        unused = Counter()
        with contextlib.ExitStack() as stack:
            outs = {name: stack.enter_context(open(self.work / "new" / name, "w", encoding="utf-8", newline="\n"))
                    for name in names}
            for key, found in join_sorted(streams):
                for name in names:
                    line = found.get(name)
                    if line is None:
                        continue
                    if "keys" in found and line.bad is None:
                        outs[name].write(f"{key} {line.value}\n")
                    else:
                        unused[name] += 1
        if self.has_segments and unused["wav.scp"]:
            self.report.notes.append(f"removed {unused['wav.scp']} recordings from wav.scp that no kept segment uses")

    def count_repeats(self, name: str) -> int:
        """Identical repeated lines of a sorted copy (adjacent there), which the rewrite left out."""
        repeats = 0
        with open(self.work / "sorted" / name, "rb") as handle:
            for _, group in itertools.groupby(handle):
                repeats += sum(1 for _ in group) - 1
        return repeats
