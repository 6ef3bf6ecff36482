"""Checking a data dir against docs/contracts.md, streaming: memory does not grow with the number of
utterances (only with the number of recordings of a ``segments`` dir).

The per-utterance files (``text``, ``utt2spk``, ``utt2lang``, ``wav.scp`` or ``segments``,
``text.<tgt>``) are sorted by utterance id, so they are walked together line by line (a merge join);
``spk2utt`` is checked against ``utt2spk`` through an external sort of its entries by utterance. When
a file is not sorted the join cannot be trusted: its order is reported and the checks across files
wait for a sorted dir (``utils/fix_data_dir.sh`` sorts).
"""
from __future__ import annotations

import heapq
import itertools
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Set

from part.data.audio import SAMPLE_RATE_POLICIES, SEGMENT_END_TOLERANCE_S, AudioError, AudioInfo, audio_info
from part.data.datadir.errors import DataDirError, PathLike, Problems, first_few, ignore_problem
from part.data.datadir.layout import (
    REQUIRED_FILES,
    TRANSLATION_PREFIX,
    fix_command,
    reader_options,
    translation_files,
)
from part.data.datadir.records import DataDirSummary, parse_segment
from part.data.datadir.table import KaldiLine, iter_kaldi_file, join_sorted
from part.data.external_sort import ExternalSorter
from part.data.languages import LANGUAGES, canonical_code


@dataclass
class ValidationReport:
    """What :func:`validate_data_dir` found. ``ok`` is False when there is any error."""

    path: Path
    errors: List[DataDirError]
    warnings: List[str]
    summary_counts: Optional[DataDirSummary] = None
    check_audio: bool = False
    unsorted: List[str] = field(default_factory=list)  # files whose ids are not in order

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise the first error (mentioning how many more there are) if there is any."""
        if not self.errors:
            return
        first = self.errors[0]
        if len(self.errors) > 1:
            first = first.with_more(f" ({len(self.errors) - 1} more problems: run utils/validate_data_dir.sh "
                                    f"{self.path} to list them all)")
        raise first

    def summary(self) -> str:
        lines = [f"error: {err}" for err in self.errors]
        lines += [f"warning: {msg}" for msg in self.warnings]
        if self.ok and self.summary_counts is not None:
            counts = self.summary_counts
            langs = ", ".join(f"{lang}: {n}" for lang, n in sorted(counts.langs.items()))
            trans = ", ".join(f"{t}: {n}" for t, n in sorted(counts.translations.items()))
            lines.append(
                f"{self.path} is valid{' (audio checked)' if self.check_audio else ''}: "
                f"{counts.num_utterances} utterances, {counts.num_speakers} speakers, languages {langs}"
                + (f"; translations {trans}" if trans else ""))
        elif not self.ok:
            lines.append(f"{self.path} is NOT valid: {len(self.errors)} errors")
        return "\n".join(lines)


def language_problem(code: str) -> Optional[tuple]:
    """None for a registry code, else ``(problem, fix)``."""
    if code in LANGUAGES:
        return None
    try:
        canonical = canonical_code(code)
    except KeyError:
        return (f"unknown language code '{code}'",
                f"Use a code of part/data/languages.py ({' '.join(sorted(LANGUAGES))}), or add the language there")
    return (f"language code '{code}' is an alias", f"Write the registry code '{canonical}' instead")


class _Validator:
    """One pass over a data dir; see :func:`validate_data_dir`."""

    def __init__(self, path: Path, check_audio: bool, sample_rate: int, policy: str):
        self.path = path
        self.check_audio = check_audio
        self.sample_rate = sample_rate
        self.policy = policy
        self.problems = Problems()  # what each file shows on its own
        self.joint = Problems()  # what only shows across files (dropped when a file is unsorted)
        self.unsorted: Set[str] = set()
        self.has_segments = (path / "segments").is_file()
        self.counts = DataDirSummary(path)
        self.fix = fix_command(path)
        self.durations: Dict[str, float] = {}  # recording -> seconds (segments dirs, with check_audio)
        self.recordings: Set[str] = set()  # wav.scp ids of a segments dir
        self.other_rates: Counter = Counter()  # sample rate -> recordings to resample
        self.multi_channel: List[str] = []
        self.num_multi_channel = 0

    # -------------------------------------------------------------------------------------------
    def on_problem(self, kind: str, err: DataDirError) -> None:
        if kind == "unsorted":
            self.unsorted.add(Path(err.file).name)
        self.problems.error(kind, err)

    def lines(self, name: str):
        return iter_kaldi_file(self.path / name, self.on_problem,
                               **reader_options(self.path, name, self.has_segments))

    def error(self, kind: str, problem: str, name: str, line: Optional[KaldiLine], fix: str,
              key_kind: str = "utterance", joint: bool = True) -> None:
        target = self.joint if joint else self.problems
        target.error(kind, DataDirError(problem, self.path / name, line.number if line else None,
                                        line.key if line else None, fix, key_kind))

    # -------------------------------------------------------------------------------------------
    def run(self) -> ValidationReport:
        for name in REQUIRED_FILES:
            if not (self.path / name).is_file():
                fix = {
                    "spk2utt": f"Create it with `utils/utt2spk_to_spk2utt.sh {self.path}/utt2spk > "
                               f"{self.path}/spk2utt`",
                    "utt2lang": "Write `uttid lang` for every utterance (language codes from part/data/languages.py)",
                }.get(name, "Create it in data preparation (local/data.sh)")
                self.problems.error("missing file", DataDirError(
                    f"required file missing (a data dir needs {', '.join(REQUIRED_FILES)})", self.path / name, fix=fix))
        if self.has_segments and (self.path / "wav.scp").is_file():
            self.read_recordings()
        self.join_utterance_files()
        if (self.path / "spk2utt").is_file() and (self.path / "utt2spk").is_file():
            self.check_spk2utt()
        if self.unsorted:
            files = ", ".join(sorted(self.unsorted))
            self.problems.warn(f"{self.path}: checks across files were skipped because {files} "
                               f"{'is' if len(self.unsorted) == 1 else 'are'} not sorted; sort with {self.fix} "
                               "and validate again")
        else:
            self.problems.extend(self.joint)
        if self.other_rates:
            rates = ", ".join(f"{n} at {rate} Hz" for rate, n in sorted(self.other_rates.items()))
            self.problems.warn(f"{self.path / 'wav.scp'}: {sum(self.other_rates.values())} recordings ({rates}) will "
                               f"be resampled to {self.sample_rate} Hz when read (policy 'resample')")
        if self.num_multi_channel:
            shown = ", ".join(self.multi_channel) + (" ..." if self.num_multi_channel > len(self.multi_channel) else "")
            self.problems.warn(f"{self.path / 'wav.scp'}: {self.num_multi_channel} recordings have more than one "
                               f"channel ({shown}); only the first channel is used")
        self.problems.finish()
        return ValidationReport(self.path, self.problems.errors, self.problems.warnings, self.counts,
                                self.check_audio, sorted(self.unsorted))

    # -------------------------------------------------------------------------------------------
    def probe(self, line: KaldiLine, kind: str) -> Optional[AudioInfo]:
        """The header of one recording, or None (and an error) when it cannot be used."""
        try:
            info = audio_info(line.value, utt_id=line.key)
        except AudioError as err:
            fix = err.fix[0].upper() + err.fix[1:] if err.fix else None
            self.error("audio", err.problem, "wav.scp", line, fix, kind, joint=False)
            return None
        if info.num_frames == 0:
            self.error("audio", f"audio '{line.value}' holds no samples (zero length)", "wav.scp", line,
                       f"Re-create it, or remove the {kind}", kind, joint=False)
            return None
        if info.sample_rate != self.sample_rate:
            if self.policy == "reject":
                self.error("sample rate", f"sample rate is {info.sample_rate} Hz, expected {self.sample_rate} Hz "
                           "(policy 'reject')", "wav.scp", line,
                           f"Resample the corpus (e.g. `sox in.wav -r {self.sample_rate} out.wav`), or use --policy "
                           "resample to resample when reading", kind, joint=False)
                return None
            self.other_rates[info.sample_rate] += 1
        if info.num_channels > 1:
            self.num_multi_channel += 1
            if len(self.multi_channel) < 5:
                self.multi_channel.append(line.key)
        return info

    def read_recordings(self) -> None:
        """wav.scp of a segments dir: keyed by recording, read (and probed) before the segments."""
        lines = self.lines("wav.scp")
        if self.check_audio:
            lines = _progress(lines, self.path / "wav.scp", "recording")
        for line in lines:
            self.recordings.add(line.key)
            if self.check_audio and line.bad is None:
                info = self.probe(line, "recording")
                if info is not None:
                    self.durations[line.key] = info.duration

    def join_utterance_files(self) -> None:
        names = [n for n in ("text", "utt2spk", "utt2lang") if (self.path / n).is_file()]
        audio_file = "segments" if self.has_segments else "wav.scp"
        if (self.path / audio_file).is_file():
            names.append(audio_file)
        translations = translation_files(self.path)
        for name in translations:
            problem = language_problem(name[len(TRANSLATION_PREFIX):])
            if problem:
                self.problems.error("translation", DataDirError(
                    f"{problem[0]} in the file name: translation files are named text.<tgt> with a language code",
                    self.path / name, fix=problem[1].replace("Write", "Rename the file with")))
        names += translations
        reference = "utt2spk" if "utt2spk" in names else ("text" if "text" in names else None)
        streams = {name: self.lines(name) for name in names}
        if self.check_audio and audio_file == "wav.scp" and audio_file in streams:
            streams[audio_file] = _progress(streams[audio_file], self.path / audio_file, "utterance")
        used_recordings: Set[str] = set()
        unprefixed, first_unprefixed = 0, None
        for key, found in join_sorted(streams):
            ref_line = found.get(reference) if reference else None
            if reference and ref_line is None:
                for name in names:
                    if name in found and not name.startswith(TRANSLATION_PREFIX):
                        self.error("ids differ", f"not in {reference}", name, found[name],
                                   f"Add the missing lines, or run {self.fix} to keep only the utterances present "
                                   "in every file")
                        break
            elif reference:
                self.counts.num_utterances += 1
                for name in names:
                    if name not in found and not name.startswith(TRANSLATION_PREFIX):
                        self.error("ids differ", f"missing from {name}", reference, ref_line,
                                   f"Add the missing lines, or run {self.fix} to keep only the utterances present "
                                   "in every file")
            lang_line = found.get("utt2lang")
            if lang_line is not None and lang_line.bad is None:
                problem = language_problem(lang_line.value)
                if problem:
                    self.error("language code", problem[0], "utt2lang", lang_line, problem[1], joint=False)
                elif ref_line is not None:
                    self.counts.langs[lang_line.value] += 1
            spk_line = found.get("utt2spk")
            if spk_line is not None and spk_line.bad is None:
                if len(spk_line.value.split()) != 1:
                    self.error("bad speaker", f"the speaker id '{spk_line.value}' contains whitespace", "utt2spk",
                               spk_line, "Write one speaker id per utterance", joint=False)
                elif not key.startswith(spk_line.value):
                    unprefixed += 1
                    first_unprefixed = first_unprefixed or spk_line
            for name in translations:
                if name in found:
                    self.check_translation(name, found[name], ref_line, lang_line)
            if "segments" in found:
                self.check_segment(found["segments"], used_recordings)
            elif self.check_audio and "wav.scp" in found and found["wav.scp"].bad is None:
                self.probe(found["wav.scp"], "utterance")
        if unprefixed:
            self.joint.warn(
                f"{self.path / 'utt2spk'}:{first_unprefixed.number}: {unprefixed} utterance ids do not start with "
                f"their speaker id (first: '{first_unprefixed.key}' of speaker '{first_unprefixed.value}'); "
                "Kaldi-style tools expect `speaker-rest` ids so that sorting by utterance also groups speakers")
        unused = sorted(self.recordings - used_recordings)
        if self.has_segments and unused:
            self.joint.warn(f"{self.path / 'wav.scp'}: {len(unused)} recordings are used by no segment: "
                            f"{first_few(unused)}")

    def check_translation(self, name: str, line: KaldiLine, ref_line: Optional[KaldiLine],
                          lang_line: Optional[KaldiLine]) -> None:
        tgt = name[len(TRANSLATION_PREFIX):]
        if ref_line is None:
            self.error("translation", "translation of an utterance that is not in the data dir (not in utt2spk)",
                       name, line, f"Remove the line, or run {self.fix} to drop it")
        elif lang_line is not None and lang_line.value == tgt:
            self.error("translation", f"translation into '{tgt}', which is the utterance's own language (utt2lang "
                       f"line {lang_line.number}); text.{tgt} may only translate other languages into {tgt}",
                       name, line, f"The transcript belongs in text; remove the line, or run {self.fix}")
        elif line.bad is None:
            self.counts.translations[tgt] += 1

    def check_segment(self, line: KaldiLine, used_recordings: Set[str]) -> None:
        if line.bad is not None:
            return
        fix = "Each line must be `uttid recording_id start_s end_s` with 0 <= start < end (or end -1)"
        rec, start, end, problem = parse_segment(line.value)
        if problem:
            self.error("bad segment", problem, "segments", line, fix, joint=False)
            if start is None:
                return
        used_recordings.add(rec)
        if rec not in self.recordings:
            self.error("bad segment", f"recording '{rec}' is not in wav.scp", "segments", line,
                       "Add the recording to wav.scp (keyed by recording id when there are segments), or run "
                       + self.fix)
            return
        duration = self.durations.get(rec)
        if duration is None or problem:
            return
        if start >= duration:
            self.error("audio", f"segment starts at {start:.3f} s but recording '{rec}' lasts {duration:.3f} s",
                       "segments", line, "Fix the segment times", joint=False)
        elif end > duration + SEGMENT_END_TOLERANCE_S:
            self.error("audio", f"segment ends at {end:.3f} s, {end - duration:.3f} s after the end of recording "
                       f"'{rec}' ({duration:.3f} s): its transcript would describe audio that is not there",
                       "segments", line, "Fix the segment times or remove the utterance", joint=False)

    def check_spk2utt(self) -> None:
        """Every (utterance, speaker) of spk2utt against utt2spk, joined by utterance after an external sort."""
        regenerate = f"Regenerate it: `utils/utt2spk_to_spk2utt.sh {self.path}/utt2spk > {self.path}/spk2utt`"
        with tempfile.TemporaryDirectory(prefix="part-validate-") as tmp, ExternalSorter(tmp) as entries:
            for line in self.lines("spk2utt"):
                self.counts.num_speakers += 1
                for utt in line.value.split():
                    entries.add(f"{utt}\t{line.number:012d}\t{line.key}")
            # utt2spk's own problems were reported by the join above
            owners = iter_kaldi_file(self.path / "utt2spk", ignore_problem,
                                     **reader_options(self.path, "utt2spk", False))
            listed = (entry.split("\t") for entry in entries)
            merged = heapq.merge(((line.key, 0, line) for line in owners),
                                 ((utt, 1, KaldiLine(int(number), spk, "")) for utt, number, spk in listed),
                                 key=lambda item: item[:2])
            for utt, group in itertools.groupby(merged, key=lambda item: item[0]):
                owner: Optional[KaldiLine] = None
                speakers: List[KaldiLine] = []  # (spk2utt line, speaker) of each listing of utt
                for _, source, item in group:
                    if source == 0:
                        owner = item
                    else:
                        speakers.append(item)
                if not speakers:
                    if owner.bad is None:
                        self.error("spk2utt mismatch", "not listed in spk2utt", "utt2spk", owner, regenerate)
                    continue
                for extra in speakers[1:]:
                    self.error("spk2utt mismatch", f"utterance '{utt}' is listed twice (also under speaker "
                               f"'{speakers[0].key}')", "spk2utt", extra, regenerate, "speaker")
                if owner is None:
                    self.error("spk2utt mismatch", f"lists utterance '{utt}', which is not in utt2spk", "spk2utt",
                               speakers[0], regenerate, "speaker")
                elif owner.bad is None and owner.value != speakers[0].key:
                    self.error("spk2utt mismatch", f"lists utterance '{utt}', which utt2spk gives to speaker "
                               f"'{owner.value}'", "spk2utt", speakers[0], regenerate, "speaker")


def _progress(lines, path: Path, unit: str):
    """A progress bar over the audio checks of a long file (the total from a quick count of its lines)."""
    from tqdm import tqdm

    with open(path, "rb") as handle:
        total = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return tqdm(lines, total=total, desc=f"checking audio of {path.parent}", unit=unit, leave=False,
                disable=total < 200, file=sys.stderr)


def validate_data_dir(
    path: PathLike, check_audio: bool = False, sample_rate: int = 16000, policy: str = "reject"
) -> ValidationReport:
    """Check a data dir against the contract and return every problem found (nothing is raised).

    Args:
        path: the data dir.
        check_audio: also open every recording (header only for files; pipes are run): missing,
            unreadable, empty or corrupt audio, sample rate, channels, segment bounds.
        sample_rate: the rate the audio must have (with ``policy="reject"``).
        policy: ``"reject"`` makes another sample rate an error, ``"resample"`` a warning (the audio is
            then resampled when read).

    Returns:
        A :class:`ValidationReport`: ``report.ok``, ``report.errors``, ``report.warnings``,
        ``report.summary()`` and ``report.raise_for_errors()``.
    """
    if policy not in SAMPLE_RATE_POLICIES:
        raise ValueError(f"policy must be one of {SAMPLE_RATE_POLICIES}, not '{policy}'")
    path = Path(path)
    if not path.is_dir():
        problems = Problems()
        problems.error("missing dir", DataDirError(
            "no such data directory", path, fix="Run data preparation (stage 1) first, or fix the path"))
        problems.finish()
        return ValidationReport(path, problems.errors, problems.warnings, None, check_audio)
    return _Validator(path, check_audio, sample_rate, policy).run()
