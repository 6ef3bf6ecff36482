"""Kaldi data directories: read, validate, write and fix them.

The format is fixed in docs/contracts.md: one line per id, ``id value``, UTF-8, sorted by id in C-locale
(byte) order, in ``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``utt2lang`` and optionally
``segments`` (then ``wav.scp`` is keyed by recording) and ``text.<tgt>`` (translations of some
utterances into language ``<tgt>``, never into the utterance's own language).

Every problem is a :class:`DataDirError` whose message names the file, the line and the id, and says
what to do::

    data/train/text:3: utterance 'spk1-003': empty transcript. Write the transcript, or run
    utils/fix_data_dir.sh data/train to drop the utterance

Use::

    data = load_data_dir("data/train")          # validates the text files, raises the first problem
    data["text"]["spk1-003"], data.utt_ids, data.langs, data.wav_entry("spk1-003")
    report = validate_data_dir("data/train", check_audio=True)   # collects every problem
    write_data_dir("data/train", wav_scp=..., text=..., utt2spk=..., utt2lang=...)  # corpus preparation
    fix_data_dir("data/train")                  # keep the utterances present in every file

Command line (the shell wrappers ``utils/validate_data_dir.sh`` and ``utils/fix_data_dir.sh`` call it)::

    python -m part.data.datadir validate [--check_audio true] [--sample_rate 16000] [--policy reject] DIR
    python -m part.data.datadir fix DIR
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from part.data.audio import SAMPLE_RATE_POLICIES, AudioError, audio_info
from part.data.languages import LANGUAGES, canonical_code

PathLike = Union[str, os.PathLike]

REQUIRED_FILES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2lang")
OPTIONAL_FILES = ("segments",)  # and text.<tgt>
TRANSLATION_PREFIX = "text."
# Other per-id files that fix_data_dir.sh restricts to the kept ids when they are present.
EXTRA_UTT_FILES = ("utt2dur", "utt2num_frames", "utt2uniq", "utt2gender", "feats.scp")
EXTRA_SPK_FILES = ("spk2gender",)
EXTRA_RECORDING_FILES = ("reco2dur", "reco2file_and_channel")
# At most this many problems of one kind in one file are kept (then a count of the rest).
MAX_PROBLEMS_PER_KIND = 10
# A segment may end this much after its recording before the validator warns about it.
SEGMENT_END_TOLERANCE_S = 0.05


def sort_key(key: str) -> bytes:
    """C-locale order: the order of the UTF-8 bytes (the same as Python's code-point order)."""
    return key.encode("utf-8")


def str2bool(value: str) -> bool:
    """``true``/``false`` (any case, also yes/no, 1/0) for boolean command-line options."""
    lowered = str(value).lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")


class DataDirError(Exception):
    """A problem in a data dir, with where it is (file, line, id) and what to do about it."""

    def __init__(
        self,
        problem: str,
        file: Optional[PathLike] = None,
        line: Optional[int] = None,
        key: Optional[str] = None,
        fix: Optional[str] = None,
        kind: str = "utterance",
    ):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.fix = fix
        self.kind = kind  # what the key is: utterance, speaker or recording
        super().__init__(self.message)

    @property
    def utt(self) -> Optional[str]:
        return self.key

    @property
    def message(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        who = f"{self.kind} '{self.key}': " if self.key is not None else ""
        fix = f". {self.fix}" if self.fix else ""
        return f"{where}{who}{self.problem}{fix}"

    def moved(self, old_dir: PathLike, new_dir: PathLike) -> "DataDirError":
        """The same error with paths below ``old_dir`` shown below ``new_dir``."""
        file = self.file
        if file and file.startswith(str(old_dir)):
            file = str(new_dir) + file[len(str(old_dir)):]
        fix = self.fix.replace(str(old_dir), str(new_dir)) if self.fix else self.fix
        return DataDirError(self.problem, file, self.line, self.key, fix, self.kind)


@dataclass
class KaldiFile:
    """One ``id value`` file as read: the values, and the line each id was first seen on."""

    path: Path
    values: Dict[str, str] = field(default_factory=dict)
    lines: Dict[str, int] = field(default_factory=dict)
    # Ids whose lines could not be used (bad bytes, no value, conflicting duplicate): id -> reason.
    bad: Dict[str, str] = field(default_factory=dict)
    num_duplicate_lines: int = 0  # identical repeated lines (harmless, dropped by fix_data_dir)

    @property
    def name(self) -> str:
        return self.path.name


class _Problems:
    """Collects errors and warnings, keeping at most MAX_PROBLEMS_PER_KIND of each kind per file."""

    def __init__(self) -> None:
        self.errors: List[DataDirError] = []
        self.warnings: List[str] = []
        self._counts: Counter = Counter()

    def error(self, kind: str, err: DataDirError) -> None:
        bucket = (err.file or "", kind)
        self._counts[bucket] += 1
        if self._counts[bucket] <= MAX_PROBLEMS_PER_KIND:
            self.errors.append(err)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def finish(self) -> None:
        for (file, kind), count in sorted(self._counts.items()):
            if count > MAX_PROBLEMS_PER_KIND:
                self.errors.append(
                    DataDirError(f"{count - MAX_PROBLEMS_PER_KIND} more lines with the problem '{kind}'", file)
                )


@dataclass
class ValidationReport:
    """What :func:`validate_data_dir` found. ``ok`` is False when there is any error."""

    path: Path
    errors: List[DataDirError]
    warnings: List[str]
    data: Optional["DataDir"] = None
    check_audio: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise the first error (mentioning how many more there are) if there is any."""
        if not self.errors:
            return
        first = self.errors[0]
        if len(self.errors) > 1:
            more = (
                f" ({len(self.errors) - 1} more problems: run utils/validate_data_dir.sh {self.path} "
                "to list them all)"
            )
            first = DataDirError(first.problem, first.file, first.line, first.key,
                                 (first.fix or "") + more, first.kind)
        raise first

    def summary(self) -> str:
        lines = [f"error: {err}" for err in self.errors]
        lines += [f"warning: {msg}" for msg in self.warnings]
        if self.ok and self.data is not None:
            data = self.data
            langs = Counter(data.get("utt2lang", {}).values())
            lang_text = ", ".join(f"{lang}: {n}" for lang, n in sorted(langs.items()))
            trans = ", ".join(f"{t}: {len(data[TRANSLATION_PREFIX + t])}" for t in data.translation_langs)
            lines.append(
                f"{self.path} is valid{' (audio checked)' if self.check_audio else ''}: "
                f"{len(data.utt_ids)} utterances, {len(data.speakers)} speakers, languages {lang_text}"
                + (f"; translations {trans}" if trans else "")
            )
        elif not self.ok:
            lines.append(f"{self.path} is NOT valid: {len(self.errors)} errors")
        return "\n".join(lines)


class DataDir(Mapping[str, Dict[str, str]]):
    """A loaded data dir: ``data["text"]`` is the ``{id: value}`` mapping of ``text``, and so on."""

    def __init__(self, path: PathLike, files: Mapping[str, KaldiFile]):
        self.path = Path(path)
        self._files = dict(files)

    # Mapping interface: file name -> {id: value}
    def __getitem__(self, name: str) -> Dict[str, str]:
        return self._files[name].values

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._files))

    def __len__(self) -> int:
        return len(self._files)

    def line(self, name: str, key: str) -> Optional[int]:
        """The line ``key`` is on in file ``name`` (1-based), for error messages downstream."""
        kaldi_file = self._files.get(name)
        return kaldi_file.lines.get(key) if kaldi_file else None

    def file_path(self, name: str) -> Path:
        return self.path / name

    @cached_property
    def utt_ids(self) -> List[str]:
        """Every utterance id (those of utt2spk), sorted."""
        source = "utt2spk" if "utt2spk" in self._files else "text"
        return sorted(self._files[source].values, key=sort_key) if source in self._files else []

    @property
    def langs(self) -> List[str]:
        """The distinct languages of the utterances (utt2lang values), sorted."""
        return sorted(set(self.get("utt2lang", {}).values()))

    @property
    def speakers(self) -> List[str]:
        return sorted(set(self.get("utt2spk", {}).values()), key=sort_key)

    @property
    def translation_langs(self) -> List[str]:
        """The ``<tgt>`` of every ``text.<tgt>`` file, sorted."""
        return sorted(name[len(TRANSLATION_PREFIX):] for name in self._files if name.startswith(TRANSLATION_PREFIX))

    def translations(self, tgt: str) -> Dict[str, str]:
        """``{utt: translation into tgt}`` (empty when there is no ``text.<tgt>``)."""
        return self.get(TRANSLATION_PREFIX + tgt, {})

    @property
    def has_segments(self) -> bool:
        return "segments" in self._files

    def wav_entry(self, utt: str) -> Tuple[str, Optional[Tuple[float, float]]]:
        """The ``wav.scp`` value that holds ``utt`` and, with ``segments``, its (start_s, end_s)."""
        if self.has_segments:
            rec, start, end = self["segments"][utt].split()
            return self["wav.scp"][rec], (float(start), float(end))
        return self["wav.scp"][utt], None

    def read_audio(self, utt: str, sample_rate: int = 16000, policy: str = "reject"):
        """Mono float32 samples of one utterance (see :func:`part.data.audio.read_audio`)."""
        from part.data.audio import read_audio

        entry, segment = self.wav_entry(utt)
        return read_audio(entry, segment, sample_rate=sample_rate, policy=policy, utt_id=utt)


# ----------------------------------------------------------------------------------------------
# Reading one file


def _fix_hint(data_dir: Path) -> str:
    return f"run utils/fix_data_dir.sh {data_dir} to drop the utterance"


def read_kaldi_file(path: PathLike, problems: Optional[_Problems] = None, what: str = "utterance") -> KaldiFile:
    """Read an ``id value`` file; every malformed line becomes an error in ``problems``.

    Lines that cannot be used (not UTF-8, no value, a second line with another value for the same id)
    are left out of ``values`` and listed in ``bad``; order and duplicates are reported, not changed.
    """
    path = Path(path)
    problems = problems if problems is not None else _Problems()
    result = KaldiFile(path)
    name = path.name
    data_dir = path.parent
    is_text = name == "text" or name.startswith(TRANSLATION_PREFIX)
    previous: Optional[str] = None
    reported_order = False
    raw_lines = path.read_bytes().split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            key = raw.split(None, 1)[0].decode("utf-8", errors="replace") if raw.strip() else None
            problems.error("not UTF-8", DataDirError(
                f"line is not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})",
                path, number, key,
                f"Re-encode {name} as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or {_fix_hint(data_dir)}", what))
            if key is not None:
                result.bad.setdefault(key, f"not UTF-8 in {name}")
                result.lines.setdefault(key, number)
            continue
        if number == 1 and line.startswith("\ufeff"):
            problems.error("byte-order mark", DataDirError(
                "the file starts with a UTF-8 byte-order mark", path, number, None,
                f"Remove it: `sed -i '1s/^\\xEF\\xBB\\xBF//' {path}`"))
            line = line[1:]
        fields = line.split(None, 1)
        if not fields:
            problems.error("empty line", DataDirError(
                "empty line", path, number, None, f"Remove the empty line from {name}"))
            continue
        key = fields[0]
        value = fields[1].strip() if len(fields) > 1 else ""
        if previous is not None and sort_key(key) < sort_key(previous) and not reported_order:
            reported_order = True
            problems.error("unsorted", DataDirError(
                f"ids are not sorted in C-locale order: this id comes after '{previous}'", path, number, key,
                f"Sort the file with `LC_ALL=C sort {path} -o {path}` or run utils/fix_data_dir.sh {data_dir}",
                what))
        previous = key
        if key in result.values or key in result.bad:
            first = result.lines.get(key)
            if result.values.get(key) == value:
                result.num_duplicate_lines += 1
                problems.error("duplicate id", DataDirError(
                    f"duplicate id (the same line is at line {first})", path, number, key,
                    f"Remove the repeated line, or run utils/fix_data_dir.sh {data_dir}", what))
            else:
                problems.error("duplicate id", DataDirError(
                    f"duplicate id with another value (first at line {first})", path, number, key,
                    f"Keep one line per id in {name}, or {_fix_hint(data_dir)}", what))
                result.values.pop(key, None)
                result.bad[key] = f"conflicting duplicate lines in {name}"
            continue
        result.lines[key] = number
        if not value:
            problem = "empty transcript" if name == "text" else (
                "empty translation" if is_text else "no value after the id")
            fix = (f"Write the {'transcript' if name == 'text' else 'translation'}, or {_fix_hint(data_dir)}"
                   if is_text else f"Each line must be `id value`; complete it, or {_fix_hint(data_dir)}")
            problems.error(problem, DataDirError(problem, path, number, key, fix, what))
            result.bad[key] = f"{problem} in {name}"
            continue
        result.values[key] = value
    return result


# ----------------------------------------------------------------------------------------------
# Validation


def _first_few(keys: Iterable[str], n: int = 5) -> str:
    keys = list(keys)
    text = ", ".join(f"'{k}'" for k in keys[:n])
    return text + (f" and {len(keys) - n} more" if len(keys) > n else "")


def _key_kind(name: str, has_segments: bool) -> str:
    if name == "spk2utt":
        return "speaker"
    if name == "wav.scp" and has_segments:
        return "recording"
    return "utterance"


def _parse_dir(path: Path, problems: _Problems) -> Dict[str, KaldiFile]:
    has_segments = (path / "segments").is_file()
    names = [n for n in REQUIRED_FILES + OPTIONAL_FILES if (path / n).is_file()]
    names += sorted(p.name for p in path.glob(TRANSLATION_PREFIX + "*") if p.is_file()
                    and not p.name.endswith((".bak", "~", ".tmp")))
    files = {}
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            fix = {
                "spk2utt": f"Create it with `utils/utt2spk_to_spk2utt.sh {path}/utt2spk > {path}/spk2utt`",
                "utt2lang": "Write `uttid lang` for every utterance (language codes from part/data/languages.py)",
            }.get(name, "Create it in data preparation (local/data.sh)")
            problems.error("missing file", DataDirError(
                f"required file missing (a data dir needs {', '.join(REQUIRED_FILES)})", path / name, fix=fix))
    for name in names:
        files[name] = read_kaldi_file(path / name, problems, _key_kind(name, has_segments))
    return files


def _check_utterance_sets(path: Path, files: Dict[str, KaldiFile], problems: _Problems) -> None:
    """Every per-utterance file must list the same utterances as utt2spk."""
    reference_name = "utt2spk" if "utt2spk" in files else "text"
    if reference_name not in files:
        return
    reference = files[reference_name]
    ref_ids = set(reference.values) | set(reference.bad)
    per_utt = ["text", "utt2spk", "utt2lang", "segments" if "segments" in files else "wav.scp"]
    fix = (f"Add the missing lines, or run utils/fix_data_dir.sh {path} to keep only the utterances "
           "present in every file")
    for name in per_utt:
        if name == reference_name or name not in files:
            continue
        other = files[name]
        other_ids = set(other.values) | set(other.bad)
        missing = sorted(ref_ids - other_ids, key=lambda k: reference.lines.get(k, 0))
        if missing:
            first = missing[0]
            more = f" (and {len(missing) - 1} more: {_first_few(missing[1:])})" if len(missing) > 1 else ""
            problems.error("ids differ", DataDirError(
                f"missing from {name}{more}", reference.path, reference.lines.get(first), first, fix))
        extra = sorted(other_ids - ref_ids, key=lambda k: other.lines.get(k, 0))
        if extra:
            first = extra[0]
            more = f" (and {len(extra) - 1} more: {_first_few(extra[1:])})" if len(extra) > 1 else ""
            problems.error("ids differ", DataDirError(
                f"not in {reference_name}{more}", other.path, other.lines.get(first), first, fix))


def _check_speakers(path: Path, files: Dict[str, KaldiFile], problems: _Problems) -> None:
    if "utt2spk" not in files:
        return
    utt2spk = files["utt2spk"]
    regenerate = f"Regenerate it: `utils/utt2spk_to_spk2utt.sh {path}/utt2spk > {path}/spk2utt`"
    for utt, spk in utt2spk.values.items():
        if len(spk.split()) != 1:
            problems.error("bad speaker", DataDirError(
                f"the speaker id '{spk}' contains whitespace", utt2spk.path, utt2spk.lines[utt], utt,
                "Write one speaker id per utterance"))
    not_prefixed = [u for u, s in utt2spk.values.items() if not u.startswith(s)]
    if not_prefixed:
        first = min(not_prefixed, key=lambda u: utt2spk.lines[u])
        problems.warn(
            f"{utt2spk.path}:{utt2spk.lines[first]}: {len(not_prefixed)} utterance ids do not start with their "
            f"speaker id (first: '{first}' of speaker '{utt2spk.values[first]}'); Kaldi-style tools expect "
            "`speaker-rest` ids so that sorting by utterance also groups speakers")
    if "spk2utt" not in files:
        return
    spk2utt = files["spk2utt"]
    seen: Dict[str, str] = {}
    for spk, utts in spk2utt.values.items():
        number = spk2utt.lines[spk]
        for utt in utts.split():
            if utt in seen:
                problems.error("spk2utt mismatch", DataDirError(
                    f"utterance '{utt}' is listed twice (also under speaker '{seen[utt]}')",
                    spk2utt.path, number, spk, regenerate, "speaker"))
                continue
            seen[utt] = spk
            owner = utt2spk.values.get(utt)
            if owner is None and utt not in utt2spk.bad:
                problems.error("spk2utt mismatch", DataDirError(
                    f"lists utterance '{utt}', which is not in utt2spk", spk2utt.path, number, spk,
                    regenerate, "speaker"))
            elif owner is not None and owner != spk:
                problems.error("spk2utt mismatch", DataDirError(
                    f"lists utterance '{utt}', which utt2spk gives to speaker '{owner}'", spk2utt.path, number,
                    spk, regenerate, "speaker"))
    absent = [u for u in utt2spk.values if u not in seen]
    if absent:
        first = min(absent, key=lambda u: utt2spk.lines[u])
        more = f" (and {len(absent) - 1} more: {_first_few(absent[1:])})" if len(absent) > 1 else ""
        problems.error("spk2utt mismatch", DataDirError(
            f"not listed in spk2utt{more}",
            utt2spk.path, utt2spk.lines[first], first, regenerate))


def _language_problem(code: str) -> Optional[Tuple[str, str]]:
    """None for a registry code, else (problem, fix)."""
    if code in LANGUAGES:
        return None
    try:
        canonical = canonical_code(code)
    except KeyError:
        return (f"unknown language code '{code}'",
                f"Use a code of part/data/languages.py ({' '.join(sorted(LANGUAGES))}), or add the language there")
    return (f"language code '{code}' is an alias", f"Write the registry code '{canonical}' instead")


def _check_languages(path: Path, files: Dict[str, KaldiFile], problems: _Problems) -> None:
    if "utt2lang" in files:
        utt2lang = files["utt2lang"]
        for utt, code in utt2lang.values.items():
            found = _language_problem(code)
            if found:
                problems.error("language code", DataDirError(found[0], utt2lang.path, utt2lang.lines[utt], utt,
                                                             found[1]))
    own_lang = files["utt2lang"].values if "utt2lang" in files else {}
    utterances = (set(files["utt2spk"].values) | set(files["utt2spk"].bad)) if "utt2spk" in files else None
    for name, kaldi_file in files.items():
        if not name.startswith(TRANSLATION_PREFIX):
            continue
        tgt = name[len(TRANSLATION_PREFIX):]
        found = _language_problem(tgt)
        if found:
            problems.error("translation", DataDirError(
                f"{found[0]} in the file name: translation files are named text.<tgt> with a language code",
                kaldi_file.path, fix=found[1].replace("Write", "Rename the file with")))
            continue
        for utt, number in sorted(kaldi_file.lines.items(), key=lambda kv: kv[1]):
            if utterances is not None and utt not in utterances:
                problems.error("translation", DataDirError(
                    "translation of an utterance that is not in the data dir (not in utt2spk)",
                    kaldi_file.path, number, utt,
                    f"Remove the line, or run utils/fix_data_dir.sh {path} to drop it"))
            elif own_lang.get(utt) == tgt:
                problems.error("translation", DataDirError(
                    f"translation into '{tgt}', which is the utterance's own language (utt2lang line "
                    f"{files['utt2lang'].lines[utt]}); text.{tgt} may only translate other languages into {tgt}",
                    kaldi_file.path, number, utt,
                    f"The transcript belongs in text; remove the line, or run utils/fix_data_dir.sh {path}"))


def _check_segments(path: Path, files: Dict[str, KaldiFile], problems: _Problems) -> None:
    if "segments" not in files or "wav.scp" not in files:
        return
    segments, wav_scp = files["segments"], files["wav.scp"]
    fix = "Each line must be `uttid recording_id start_s end_s` with 0 <= start < end (or end -1)"
    used = set()
    for utt, value in list(segments.values.items()):
        number = segments.lines[utt]
        fields = value.split()
        if len(fields) != 3:
            problems.error("bad segment", DataDirError(
                f"expected `recording_id start end` after the id, got '{value}'", segments.path, number, utt, fix))
            continue
        rec = fields[0]
        try:
            start, end = float(fields[1]), float(fields[2])
        except ValueError:
            problems.error("bad segment", DataDirError(
                f"start and end must be numbers in seconds, got '{fields[1]}' and '{fields[2]}'",
                segments.path, number, utt, fix))
            continue
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or (end != -1 and end <= start):
            problems.error("bad segment", DataDirError(
                f"invalid times: start {fields[1]}, end {fields[2]}", segments.path, number, utt, fix))
        used.add(rec)
        if rec not in wav_scp.values and rec not in wav_scp.bad:
            problems.error("bad segment", DataDirError(
                f"recording '{rec}' is not in wav.scp", segments.path, number, utt,
                f"Add the recording to wav.scp (keyed by recording id when there are segments), or run "
                f"utils/fix_data_dir.sh {path}"))
    unused = [rec for rec in wav_scp.values if rec not in used]
    if unused:
        problems.warn(f"{wav_scp.path}: {len(unused)} recordings are used by no segment: {_first_few(unused)}")


def _check_audio(path: Path, files: Dict[str, KaldiFile], problems: _Problems, sample_rate: int,
                 policy: str) -> None:
    """Probe every recording: exists, decodes, not empty, sample rate, channels, segment bounds."""
    from tqdm import tqdm

    if "wav.scp" not in files:
        return
    wav_scp = files["wav.scp"]
    kind = "recording" if "segments" in files else "utterance"
    durations: Dict[str, float] = {}
    other_rates: Counter = Counter()
    multi_channel: List[str] = []
    items = sorted(wav_scp.values.items(), key=lambda kv: wav_scp.lines[kv[0]])
    for key, entry in tqdm(items, desc=f"checking audio of {path}", unit="rec", leave=False,
                           disable=len(items) < 200, file=sys.stderr):
        number = wav_scp.lines[key]
        try:
            info = audio_info(entry, utt_id=key)
        except AudioError as err:
            fix = err.fix[0].upper() + err.fix[1:] if err.fix else None
            problems.error("audio", DataDirError(err.problem, wav_scp.path, number, key, fix, kind))
            continue
        if info.num_frames == 0:
            problems.error("audio", DataDirError(
                f"audio '{entry}' holds no samples (zero length)", wav_scp.path, number, key,
                f"Re-create it, or remove the {kind}", kind))
            continue
        if info.sample_rate != sample_rate:
            if policy == "reject":
                problems.error("sample rate", DataDirError(
                    f"sample rate is {info.sample_rate} Hz, expected {sample_rate} Hz (policy 'reject')",
                    wav_scp.path, number, key,
                    f"Resample the corpus (e.g. `sox in.wav -r {sample_rate} out.wav`), or use --policy resample "
                    "to resample when reading", kind))
                continue
            other_rates[info.sample_rate] += 1
        if info.num_channels > 1:
            multi_channel.append(key)
        durations[key] = info.duration
    if other_rates:
        rates = ", ".join(f"{n} at {rate} Hz" for rate, n in sorted(other_rates.items()))
        problems.warn(f"{wav_scp.path}: {sum(other_rates.values())} recordings ({rates}) will be resampled to "
                      f"{sample_rate} Hz when read (policy 'resample')")
    if multi_channel:
        problems.warn(f"{wav_scp.path}: {len(multi_channel)} recordings have more than one channel "
                      f"({_first_few(multi_channel)}); only the first channel is used")
    if "segments" in files:
        segments = files["segments"]
        for utt, value in segments.values.items():
            fields = value.split()
            if len(fields) != 3 or fields[0] not in durations:
                continue
            try:
                start, end = float(fields[1]), float(fields[2])
            except ValueError:
                continue
            duration = durations[fields[0]]
            if start >= duration:
                problems.error("audio", DataDirError(
                    f"segment starts at {start:.3f} s but recording '{fields[0]}' lasts {duration:.3f} s",
                    segments.path, segments.lines[utt], utt, "Fix the segment times"))
            elif end > duration + SEGMENT_END_TOLERANCE_S:
                problems.warn(f"{segments.path}:{segments.lines[utt]}: utterance '{utt}': segment ends at "
                              f"{end:.3f} s, after the end of '{fields[0]}' ({duration:.3f} s); it is cut there")


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
        A :class:`ValidationReport`; ``report.ok``, ``report.errors``, ``report.warnings``,
        ``report.data`` (the :class:`DataDir` as read) and ``report.raise_for_errors()``.
    """
    if policy not in SAMPLE_RATE_POLICIES:
        raise ValueError(f"policy must be one of {SAMPLE_RATE_POLICIES}, not '{policy}'")
    path = Path(path)
    problems = _Problems()
    if not path.is_dir():
        problems.error("missing dir", DataDirError(
            "no such data directory", path, fix="Run data preparation (stage 1) first, or fix the path"))
        problems.finish()
        return ValidationReport(path, problems.errors, problems.warnings, None, check_audio)
    files = _parse_dir(path, problems)
    _check_utterance_sets(path, files, problems)
    _check_speakers(path, files, problems)
    _check_languages(path, files, problems)
    _check_segments(path, files, problems)
    if check_audio:
        _check_audio(path, files, problems, sample_rate, policy)
    problems.finish()
    return ValidationReport(path, problems.errors, problems.warnings, DataDir(path, files), check_audio)


def load_data_dir(path: PathLike, validate: bool = True) -> DataDir:
    """Read a data dir. With ``validate`` (the default) the text files are checked first and the first
    problem is raised as a :class:`DataDirError` (audio is not opened: see :func:`validate_data_dir`).
    Without it, unusable lines are left out silently (only a missing directory raises)."""
    report = validate_data_dir(path)
    if validate or report.data is None:
        report.raise_for_errors()
    if validate:
        for message in report.warnings:
            logging.warning(message)
    return report.data


# ----------------------------------------------------------------------------------------------
# Writing


def _write_lines_atomically(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line + "\n")
    os.replace(tmp, path)


def write_kaldi_file(path: PathLike, mapping: Mapping[str, str]) -> None:
    """Write ``id value`` lines sorted in C-locale order, atomically (a tmp file, then a rename)."""
    _write_lines_atomically(Path(path), (f"{k} {mapping[k]}" for k in sorted(mapping, key=sort_key)))


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str]) -> Dict[str, str]:
    """``{speaker: "utt1 utt2 ..."}`` with the utterances sorted."""
    grouped: Dict[str, List[str]] = defaultdict(list)
    for utt in sorted(utt2spk, key=sort_key):
        grouped[utt2spk[utt]].append(utt)
    return {spk: " ".join(utts) for spk, utts in grouped.items()}


def _clean(name: str, key: str, value: object, collapse_spaces: bool) -> str:
    if not key or len(str(key).split()) != 1 or str(key) != str(key).strip():
        raise DataDirError("an id must be one non-empty token without whitespace", name, key=str(key),
                           fix="Fix the id in data preparation")
    text = str(value)
    if "\n" in text or "\r" in text:
        raise DataDirError("the value contains a line break", name, key=key,
                           fix="Remove line breaks from the value in data preparation")
    text = " ".join(text.split()) if collapse_spaces else text.strip()
    return text


def write_data_dir(
    path: PathLike,
    wav_scp: Mapping[str, str],
    text: Mapping[str, str],
    utt2spk: Mapping[str, str],
    utt2lang: Mapping[str, str],
    segments: Optional[Mapping[str, Tuple[str, float, float]]] = None,
    translations: Optional[Mapping[str, Mapping[str, str]]] = None,
    extra_files: Optional[Mapping[str, Mapping[str, str]]] = None,
    validate: bool = True,
) -> DataDir:
    """Write a complete data dir (for corpus preparation), sorted, and replace ``path`` atomically.

    Args:
        path: the data dir; an existing one is replaced as a whole (nothing of it is kept).
        wav_scp: ``{utt (or recording, with segments): path or "cmd |"}``.
        text: ``{utt: transcript}``; runs of whitespace become one space.
        utt2spk: ``{utt: speaker}``; ``spk2utt`` is derived from it.
        utt2lang: ``{utt: language code}`` (codes of part/data/languages.py).
        segments: ``{utt: (recording_id, start_s, end_s)}``.
        translations: ``{tgt_lang: {utt: translation}}``, each written to ``text.<tgt_lang>``.
        extra_files: other ``{name: {id: value}}`` files to write as they are (``utt2dur``, ...).
        validate: check the result (without opening audio) before it replaces ``path``; a problem
            raises :class:`DataDirError` and leaves ``path`` untouched.

    The files are written into a sibling tmp dir that is renamed into place at the end, so a killed
    run leaves either the old data dir or the new one, never a mix.
    """
    path = Path(path)
    contents: Dict[str, Dict[str, str]] = {
        "wav.scp": {k: _clean("wav.scp", k, v, False) for k, v in wav_scp.items()},
        "text": {k: _clean("text", k, v, True) for k, v in text.items()},
        "utt2spk": {k: _clean("utt2spk", k, v, True) for k, v in utt2spk.items()},
        "utt2lang": {k: _clean("utt2lang", k, v, True) for k, v in utt2lang.items()},
    }
    contents["spk2utt"] = utt2spk_to_spk2utt(contents["utt2spk"])
    if segments is not None:
        contents["segments"] = {
            k: _clean("segments", k, f"{rec} {_seconds(start)} {_seconds(end)}", True)
            for k, (rec, start, end) in segments.items()
        }
    for tgt, mapping in (translations or {}).items():
        name = TRANSLATION_PREFIX + tgt
        contents[name] = {k: _clean(name, k, v, True) for k, v in mapping.items()}
    for name, mapping in (extra_files or {}).items():
        if name in contents:
            raise ValueError(f"extra_files may not replace {name}")
        contents[name] = {k: _clean(name, k, v, False) for k, v in mapping.items()}

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name, mapping in contents.items():
            write_kaldi_file(tmp / name, mapping)
        if validate:
            report = validate_data_dir(tmp)
            if not report.ok:
                report.errors = [err.moved(tmp, path) for err in report.errors]
                report.path = path
                report.raise_for_errors()
        old = path.with_name(f".{path.name}.old{os.getpid()}")
        if path.exists():
            os.rename(path, old)
        os.rename(tmp, path)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return load_data_dir(path, validate=False)


def _seconds(value: Union[float, str]) -> str:
    if isinstance(value, str):
        return value
    return f"{float(value):.3f}"


# ----------------------------------------------------------------------------------------------
# Fixing


@dataclass
class FixReport:
    """What :func:`fix_data_dir` did: ``dropped`` maps each removed utterance to why."""

    path: Path
    num_before: int
    kept: List[str]
    dropped: Dict[str, str]
    notes: List[str]

    def summary(self) -> str:
        lines = [f"fix_data_dir: kept {len(self.kept)} of {self.num_before} utterances in {self.path}"]
        if self.dropped:
            reasons: Dict[str, List[str]] = defaultdict(list)
            for utt, reason in self.dropped.items():
                reasons[reason].append(utt)
            lines.append(f"dropped {len(self.dropped)} utterances:")
            for reason, utts in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
                lines.append(f"  {len(utts)}: {reason} ({_first_few(sorted(utts, key=sort_key))})")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def fix_data_dir(path: PathLike) -> FixReport:
    """Keep only the utterances that are usable in every file, sort every file, rebuild ``spk2utt``.

    Drops utterances missing from any of ``text``, ``utt2spk``, ``utt2lang``, ``wav.scp``/``segments``,
    and lines that cannot be used (not UTF-8, empty transcript, conflicting duplicate lines, a segment
    whose recording is missing); removes identical repeated lines; restricts ``text.<tgt>`` (dropping
    translations into the utterance's own language), ``wav.scp`` (with segments) and the other known
    per-id files to what is kept. The original files are copied to ``<path>/.backup/`` first; each
    file is replaced atomically. Language codes that are registry aliases are rewritten to the
    registry code. Problems it cannot fix (unknown language codes, bad audio) are left for
    :func:`validate_data_dir` to report.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataDirError("no such data directory", path, fix="Fix the path")
    problems = _Problems()  # fix_data_dir repairs what it can; the problems found are not reported
    known = REQUIRED_FILES + OPTIONAL_FILES + EXTRA_UTT_FILES + EXTRA_SPK_FILES + EXTRA_RECORDING_FILES
    names = [p.name for p in sorted(path.iterdir()) if p.is_file() and (
        p.name in known or (p.name.startswith(TRANSLATION_PREFIX) and not p.name.endswith((".bak", "~", ".tmp"))))]
    files = {name: read_kaldi_file(path / name, problems) for name in names}
    notes: List[str] = []
    if "utt2spk" not in files and "spk2utt" in files:
        derived = KaldiFile(path / "utt2spk")
        for spk, utts in files["spk2utt"].values.items():
            for utt in utts.split():
                derived.values[utt] = spk
        files["utt2spk"] = derived
        notes.append("utt2spk was missing and was derived from spk2utt")
    for name in ("wav.scp", "text", "utt2spk", "utt2lang"):
        if name not in files:
            raise DataDirError("required file missing; fix_data_dir.sh cannot invent it", path / name,
                               fix="Create it in data preparation (local/data.sh)")

    backup = path / ".backup"
    backup.mkdir(exist_ok=True)
    for name in names:
        shutil.copy2(path / name, backup / name)

    candidates = set()
    for name in ("text", "utt2spk", "utt2lang", "segments" if "segments" in files else "wav.scp"):
        candidates |= set(files[name].values) | set(files[name].bad)
    dropped: Dict[str, str] = {}
    has_segments = "segments" in files
    for utt in sorted(candidates, key=sort_key):
        for name in ("text", "utt2spk", "utt2lang", "segments" if has_segments else "wav.scp"):
            kaldi_file = files[name]
            if utt in kaldi_file.bad:
                dropped[utt] = kaldi_file.bad[utt]
                break
            if utt not in kaldi_file.values:
                dropped[utt] = f"not in {name}"
                break
        else:
            if has_segments:
                fields = files["segments"].values[utt].split()
                if len(fields) != 3 or fields[0] not in files["wav.scp"].values:
                    dropped[utt] = "segment's recording not in wav.scp" if len(fields) == 3 else "malformed segment"
    kept = sorted((u for u in candidates if u not in dropped), key=sort_key)
    kept_set = set(kept)

    utt2lang = {u: files["utt2lang"].values[u] for u in kept}
    for utt, code in utt2lang.items():
        if code not in LANGUAGES:
            try:
                utt2lang[utt] = canonical_code(code)
            except KeyError:
                pass  # unknown: left for the validator to report
    rewritten = sum(1 for u in kept if utt2lang[u] != files["utt2lang"].values[u])
    if rewritten:
        notes.append(f"{rewritten} language codes in utt2lang were aliases and now are registry codes")
    utt2spk = {u: files["utt2spk"].values[u] for u in kept}
    out: Dict[str, Dict[str, str]] = {
        "text": {u: files["text"].values[u] for u in kept},
        "utt2spk": utt2spk,
        "spk2utt": utt2spk_to_spk2utt(utt2spk),
        "utt2lang": utt2lang,
    }
    if has_segments:
        out["segments"] = {u: files["segments"].values[u] for u in kept}
        recordings = {v.split()[0] for v in out["segments"].values()}
        out["wav.scp"] = {r: v for r, v in files["wav.scp"].values.items() if r in recordings}
        unused = len(files["wav.scp"].values) - len(out["wav.scp"])
        if unused:
            notes.append(f"removed {unused} recordings from wav.scp that no kept segment uses")
    else:
        out["wav.scp"] = {u: files["wav.scp"].values[u] for u in kept}
        recordings = kept_set
    speakers = set(utt2spk.values())
    for name, kaldi_file in files.items():
        if name.startswith(TRANSLATION_PREFIX):
            tgt = name[len(TRANSLATION_PREFIX):]
            keep = {u: v for u, v in kaldi_file.values.items() if u in kept_set and utt2lang[u] != tgt}
            removed = len(kaldi_file.values) + len(kaldi_file.bad) - len(keep)
            if removed:
                notes.append(f"removed {removed} lines from {name} (dropped utterances, empty translations, "
                             f"or translations into the utterance's own language)")
            if keep:
                out[name] = keep
            else:
                (path / name).unlink()
                notes.append(f"removed {name}: no translation is left in it")
        elif name in EXTRA_UTT_FILES:
            out[name] = {u: v for u, v in kaldi_file.values.items() if u in kept_set}
        elif name in EXTRA_SPK_FILES:
            out[name] = {s: v for s, v in kaldi_file.values.items() if s in speakers}
        elif name in EXTRA_RECORDING_FILES:
            out[name] = {r: v for r, v in kaldi_file.values.items() if r in recordings}
    duplicates = sum(f.num_duplicate_lines for f in files.values())
    if duplicates:
        notes.append(f"removed {duplicates} repeated identical lines")
    for name, mapping in out.items():
        write_kaldi_file(path / name, mapping)
    return FixReport(path, len(candidates), kept, dropped, notes)


# ----------------------------------------------------------------------------------------------
# Command line


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.datadir",
        description="Validate or fix a Kaldi data dir (see docs/contracts.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check a data dir; exit status 1 when it has errors",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    validate.add_argument("data_dir")
    validate.add_argument("--check_audio", type=str2bool, default=False,
                          help="also open every recording (pipes are run)")
    validate.add_argument("--sample_rate", type=int, default=16000, help="required sample rate")
    validate.add_argument("--policy", choices=SAMPLE_RATE_POLICIES, default="reject",
                          help="another sample rate is an error (reject) or resampled when read (resample)")
    validate.add_argument("--max_errors", type=int, default=30, help="print at most this many errors")
    fix = sub.add_parser("fix", help="keep the utterances present in every file, sort, rebuild spk2utt")
    fix.add_argument("data_dir")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    try:
        if args.command == "validate":
            report = validate_data_dir(args.data_dir, args.check_audio, args.sample_rate, args.policy)
            shown = report.errors[: args.max_errors]
            for err in shown:
                print(f"error: {err}", file=sys.stderr)
            if len(report.errors) > len(shown):
                print(f"error: ... and {len(report.errors) - len(shown)} more errors", file=sys.stderr)
            for message in report.warnings:
                print(f"warning: {message}", file=sys.stderr)
            if report.ok:
                print(report.summary().splitlines()[-1])
                return 0
            print(f"{report.path} is NOT valid: {len(report.errors)} errors", file=sys.stderr)
            return 1
        result = fix_data_dir(args.data_dir)
        print(result.summary())
        report = validate_data_dir(args.data_dir)
        if not report.ok:
            for err in report.errors[:10]:
                print(f"error: {err}", file=sys.stderr)
            print(f"{args.data_dir} still has {len(report.errors)} problems that fix_data_dir.sh cannot fix "
                  f"(originals are in {args.data_dir}/.backup)", file=sys.stderr)
            return 1
        return 0
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
