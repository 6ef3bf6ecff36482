"""Writing a data dir from utterances given in any order, with memory that does not grow with their number.

:class:`DataDirWriter` appends each utterance to an external sort (keyed by utterance id, then by
arrival), and at the end walks the sorted records once, writing every file of the data dir line by
line in C-locale order: ``wav.scp``, ``text``, ``utt2spk``, ``utt2lang``, ``spk2utt`` (from a second
sort by speaker), optional ``segments`` (then ``wav.scp`` is keyed by recording: a third sort),
``text.<tgt>`` and ``utt2dur``. A repeated utterance id keeps its first utterance; the others are
reported to ``on_duplicate`` with where they came from. The files go into a hidden sibling folder
that is validated and then renamed into place, so a killed run leaves the old data dir or the new one.

Use::

    with DataDirWriter("data/train", on_duplicate=report) as writer:
        for number, row in rows:
            writer.add(Utterance(...), where=f"{tsv}:{number}")
    writer.summary            # a DataDirSummary of what was written
"""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, TextIO, Tuple, Union

from part.data.datadir.errors import DataDirError, PathLike
from part.data.datadir.layout import TRANSLATION_PREFIX
from part.data.datadir.records import DataDirSummary, Segment, Utterance
from part.data.datadir.table import id_problem, kaldi_value, sort_key
from part.data.datadir.validate import validate_data_dir
from part.data.external_sort import ExternalSorter
from part.fileio import fsync_dir

# on_duplicate(utt_id, where of the repeat, where of the utterance kept)
DuplicateHandler = Callable[[str, str, str], None]


def seconds_text(value: Union[float, str]) -> str:
    """Seconds as data dirs write them (millisecond precision)."""
    return value if isinstance(value, str) else f"{float(value):.3f}"


class DataDirWriter:
    """Collects utterances and writes them as the data dir ``path`` (see the module doc).

    Args:
        path: the data dir; an existing one is replaced as a whole when the writer commits.
        on_duplicate: told about every utterance left out because an earlier one has its id; without
            it a repeated id raises :class:`DataDirError`.
        validate: check the written files (without opening audio) before they replace ``path``.

    :meth:`add` raises :class:`DataDirError` for an utterance the format cannot hold (an id with
    whitespace, an utterance id that does not start with its speaker id, an empty transcript, a
    translation into the utterance's own language, segments on some utterances but not others).
    :meth:`finish` sorts and writes into the hidden folder, :meth:`commit` renames it into place;
    leaving the ``with`` block commits, or cleans up after an exception.
    """

    def __init__(self, path: PathLike, on_duplicate: Optional[DuplicateHandler] = None, validate: bool = True):
        self.path = Path(path)
        self.on_duplicate = on_duplicate
        self.validate = validate
        self.num_added = 0
        self.num_duplicates = 0
        self.summary: Optional[DataDirSummary] = None
        self._tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}")
        self._sorter: Optional[ExternalSorter] = None
        self._with_segments: Optional[bool] = None
        self._with_duration: Optional[bool] = None
        self._sequence = itertools.count()
        self._finished = self._committed = False

    # ------------------------------------------------------------------------------------------
    def add(self, utt: Utterance, where: str = "") -> None:
        """Queue one utterance; ``where`` (file:line, JSON path) names it in reports about repeats."""
        text, wav = kaldi_value(utt.text), kaldi_value(utt.wav)
        translations = {tgt: kaldi_value(t) for tgt, t in utt.translations.items()}
        self._check(utt, text, wav, translations, where)
        if self._sorter is None:
            if self._tmp.exists():
                shutil.rmtree(self._tmp)
            self._tmp.mkdir(parents=True)
            self._sorter = ExternalSorter(self._tmp)
        segment = [utt.segment.recording, utt.segment.start, utt.segment.end] if utt.segment else None
        record = [utt.speaker, utt.lang, text, wav, segment, translations, utt.duration, where]
        self._sorter.add(f"{utt.utt_id}\t{next(self._sequence):012d}\t"
                         + json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        self.num_added += 1

    def _check(self, utt: Utterance, text: str, wav: str, translations: Dict[str, str], where: str) -> None:
        def refuse(problem: str, fix: str = "Fix it in data preparation") -> None:
            raise DataDirError(problem + (f" ({where})" if where else ""), self.path, key=utt.utt_id, fix=fix)

        for what, value in (("utterance id", utt.utt_id), ("speaker id", utt.speaker), ("language", utt.lang)):
            problem = id_problem(value)
            if problem:
                refuse(f"bad {what} '{value}': {problem}")
        if not utt.utt_id.startswith(utt.speaker):
            refuse(f"the utterance id does not start with its speaker id '{utt.speaker}' (Kaldi's `speaker-rest` "
                   "convention)")
        if not text:
            refuse("empty transcript")
        if not wav:
            refuse("no audio (empty wav.scp entry)")
        for tgt, translation in translations.items():
            if tgt == utt.lang:
                refuse(f"a translation into its own language '{tgt}'; text.<tgt> may only hold translations into "
                       "other languages")
            if id_problem(tgt):
                refuse(f"bad target language '{tgt}' of a translation: {id_problem(tgt)}")
            if not translation:
                refuse(f"an empty translation into '{tgt}'")
        has_segment, has_duration = utt.segment is not None, utt.duration is not None
        if self._with_segments is None:
            self._with_segments, self._with_duration = has_segment, has_duration
        if has_segment != self._with_segments:
            refuse("some utterances have a segment and others not; a data dir either has a segments file for every "
                   "utterance or none", "Write such corpora into separate data dirs")
        if has_duration != self._with_duration:
            refuse("some utterances have a duration and others not; utt2dur must list every utterance")
        if has_segment:
            problem = id_problem(utt.segment.recording) or utt.segment.problem()
            if problem:
                refuse(f"bad segment {utt.segment}: {problem}", "Skip such segments where the index is read")

    # ------------------------------------------------------------------------------------------
    def finish(self) -> Optional[DataDirSummary]:
        """Sort, write and validate into the hidden folder; None when nothing was added."""
        if self._finished:
            return self.summary
        self._finished = True
        if self._sorter is None:
            return None
        summary = DataDirSummary(self.path)
        try:
            with contextlib.ExitStack() as stack:
                speakers = stack.enter_context(ExternalSorter(self._tmp))
                recordings = stack.enter_context(ExternalSorter(self._tmp)) if self._with_segments else None
                files: Dict[str, TextIO] = {}

                def out(name: str) -> TextIO:
                    if name not in files:
                        files[name] = stack.enter_context(open(self._tmp / name, "w", encoding="utf-8", newline="\n"))
                    return files[name]

                for name in ("text", "utt2spk", "utt2lang") + (("segments",) if self._with_segments else ("wav.scp",)):
                    out(name)
                for utt_id, record in self._unique_records():
                    speaker, lang, text, wav, segment, translations, duration, _ = record
                    out("text").write(f"{utt_id} {text}\n")
                    out("utt2spk").write(f"{utt_id} {speaker}\n")
                    out("utt2lang").write(f"{utt_id} {lang}\n")
                    if segment is not None:
                        rec, start, end = segment
                        out("segments").write(f"{utt_id} {rec} {seconds_text(start)} {seconds_text(end)}\n")
                        recordings.add(f"{rec} {wav}")
                    else:
                        out("wav.scp").write(f"{utt_id} {wav}\n")
                    if duration is not None:
                        out("utt2dur").write(f"{utt_id} {seconds_text(duration)}\n")
                    for tgt in sorted(translations):
                        out(TRANSLATION_PREFIX + tgt).write(f"{utt_id} {translations[tgt]}\n")
                        summary.translations[tgt] += 1
                    speakers.add(f"{speaker} {utt_id}")
                    summary.num_utterances += 1
                    summary.langs[lang] += 1
                summary.num_speakers = self._write_spk2utt(speakers)
                if recordings is not None:
                    self._write_recordings(recordings)
                for handle in files.values():
                    handle.flush()
                    os.fsync(handle.fileno())
            self._sorter.close()
            if self.validate:
                report = validate_data_dir(self._tmp)
                if not report.ok:
                    report.errors = [err.moved(self._tmp, self.path) for err in report.errors]
                    report.path = self.path
                    report.raise_for_errors()
        except BaseException:
            self.abort()
            raise
        self.summary = summary
        return summary

    def _unique_records(self) -> Iterable[Tuple[str, list]]:
        """The sorted records, the first of each id (the sort keeps arrival order within an id)."""
        for utt_id, group in itertools.groupby(self._sorter, key=lambda line: line.partition("\t")[0]):
            first = json.loads(next(group).split("\t", 2)[2])
            for repeat in group:
                self.num_duplicates += 1
                where = json.loads(repeat.split("\t", 2)[2])[-1]
                if self.on_duplicate is None:
                    raise DataDirError(f"two utterances have this id ({where or 'no source given'}; the first: "
                                       f"{first[-1] or 'no source given'})", self.path, key=utt_id,
                                       fix="Utterance ids must be unique")
                self.on_duplicate(utt_id, where, first[-1])
            yield utt_id, first

    def _write_spk2utt(self, speakers: ExternalSorter) -> int:
        """``spk utt1 utt2 ...`` lines from the sorted ``spk utt`` pairs; returns the number of speakers.
        Sorting whole lines sorts by speaker, then utterance: a space sorts before any id character."""
        count = 0
        with open(self._tmp / "spk2utt", "w", encoding="utf-8", newline="\n") as handle:
            for speaker, pairs in itertools.groupby(speakers, key=lambda pair: pair.partition(" ")[0]):
                handle.write(speaker + " " + " ".join(pair.partition(" ")[2] for pair in pairs) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        return count

    def _write_recordings(self, recordings: ExternalSorter) -> None:
        with open(self._tmp / "wav.scp", "w", encoding="utf-8", newline="\n") as handle:
            for rec, entries in itertools.groupby(recordings, key=lambda line: line.partition(" ")[0]):
                values = sorted({line.partition(" ")[2] for line in entries})
                if len(values) > 1:
                    raise DataDirError(f"the recording has two audio entries: '{values[0]}' and '{values[1]}'",
                                       self.path, key=rec, fix="Give every recording one wav.scp entry",
                                       kind="recording")
                handle.write(f"{rec} {values[0]}\n")
            handle.flush()
            os.fsync(handle.fileno())

    # ------------------------------------------------------------------------------------------
    def commit(self) -> Optional[DataDirSummary]:
        """Put the written folder in place of ``path`` (finishing first if needed)."""
        summary = self.finish()
        if summary is None or self._committed:
            return summary
        old = self.path.with_name(f".{self.path.name}.old{os.getpid()}")
        if self.path.exists():
            os.rename(self.path, old)
        os.rename(self._tmp, self.path)
        fsync_dir(self.path.parent)
        if old.exists():
            shutil.rmtree(old)
        self._committed = True
        return summary

    def abort(self) -> None:
        """Forget everything added; ``path`` stays as it was."""
        if self._sorter is not None:
            self._sorter.close()
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._finished = True

    def __enter__(self) -> "DataDirWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        elif not self._committed:
            self.abort()


def write_utterances(path: PathLike, utterances: Iterable[Utterance], on_duplicate: Optional[DuplicateHandler] = None,
                     validate: bool = True) -> Optional[DataDirSummary]:
    """Write ``utterances`` as the data dir ``path`` (see :class:`DataDirWriter`); None when there are none."""
    with DataDirWriter(path, on_duplicate, validate) as writer:
        for utt in utterances:
            writer.add(utt)
    return writer.summary


def write_data_dir(
    path: PathLike,
    wav_scp: Mapping[str, str],
    text: Mapping[str, str],
    utt2spk: Mapping[str, str],
    utt2lang: Mapping[str, str],
    segments: Optional[Mapping[str, Tuple[str, float, float]]] = None,
    translations: Optional[Mapping[str, Mapping[str, str]]] = None,
    utt2dur: Optional[Mapping[str, float]] = None,
    validate: bool = True,
) -> Optional[DataDirSummary]:
    """A data dir from in-memory mappings (small sets, tests): ``wav_scp`` is keyed by utterance, or by
    recording with ``segments`` (``{utt: (recording, start_s, end_s)}``); ``translations`` is
    ``{tgt: {utt: translation}}``. Written through :class:`DataDirWriter`."""
    def utterances():
        for utt_id, transcript in text.items():
            segment = None
            if segments is not None:
                rec, start, end = segments[utt_id]
                segment = Segment(rec, float(start), float(end))
            wav = wav_scp[segment.recording if segment else utt_id]
            trans = {tgt: mapping[utt_id] for tgt, mapping in (translations or {}).items() if utt_id in mapping}
            yield Utterance(utt_id, utt2spk[utt_id], utt2lang[utt_id], transcript, wav, segment, trans,
                            None if utt2dur is None else float(utt2dur[utt_id]))

    return write_utterances(path, utterances(), validate=validate)


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> Dict[str, str]:
    """``{speaker: "utt1 utt2 ..."}`` with the utterances sorted (for in-memory data dirs)."""
    grouped: Dict[str, List[str]] = defaultdict(list)
    for utt in sorted(utt2spk, key=sort_key):
        grouped[utt2spk[utt]].append(utt)
    return {spk: " ".join(utts) for spk, utts in grouped.items()}
