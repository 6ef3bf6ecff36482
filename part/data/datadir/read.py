"""Reading a data dir: streaming, as :class:`Utterance` records in id order (:func:`iter_utterances`),
or into memory as a :class:`DataDir` for random access (:func:`load_data_dir`)."""
from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Tuple

from part.data.datadir.errors import DataDirError, PathLike, ignore_problem, raise_problem
from part.data.datadir.layout import (
    OPTIONAL_FILES,
    REQUIRED_FILES,
    TRANSLATION_PREFIX,
    reader_options,
    translation_files,
)
from part.data.datadir.records import Segment, Utterance, parse_segment
from part.data.datadir.table import KaldiFile, iter_kaldi_file, join_sorted, read_kaldi_file, sort_key
from part.data.datadir.validate import validate_data_dir


class DataDir(Mapping[str, Dict[str, str]]):
    """A data dir in memory: ``data["text"]`` is the ``{id: value}`` mapping of ``text``, and so on."""

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


def read_data_dir(path: PathLike) -> DataDir:
    """Every file of the contract in memory as it is, leaving out the lines that cannot be used."""
    path = Path(path)
    has_segments = (path / "segments").is_file()
    names = [n for n in REQUIRED_FILES + OPTIONAL_FILES if (path / n).is_file()] + translation_files(path)
    return DataDir(path, {name: read_kaldi_file(path / name, ignore_problem, **reader_options(path, name, has_segments))
                          for name in names})


def load_data_dir(path: PathLike, validate: bool = True) -> DataDir:
    """Read a data dir into memory. With ``validate`` (the default) it is checked first and the first
    problem is raised as a :class:`DataDirError` (audio is not opened: see :func:`validate_data_dir`).
    Without it, unusable lines are left out silently (only a missing directory raises)."""
    path = Path(path)
    if validate:
        report = validate_data_dir(path)
        report.raise_for_errors()
        for message in report.warnings:
            logging.warning(message)
    elif not path.is_dir():
        raise DataDirError("no such data directory", path, fix="Run data preparation (stage 1) first, or fix the path")
    return read_data_dir(path)


def iter_utterances(path: PathLike) -> Iterator[Utterance]:
    """The utterances of a valid data dir as :class:`Utterance` records, in id order, streaming (only
    the recordings of a ``segments`` dir are held in memory). A line that cannot be read raises
    :class:`DataDirError`; validate the dir first for a report of every problem."""
    path = Path(path)
    has_segments = (path / "segments").is_file()

    def lines(name: str):
        return iter_kaldi_file(path / name, raise_problem, **reader_options(path, name, has_segments))

    recordings: Dict[str, str] = {}
    names = ["text", "utt2spk", "utt2lang", "segments" if has_segments else "wav.scp"]
    if has_segments:
        recordings = {line.key: line.value for line in lines("wav.scp")}
    if (path / "utt2dur").is_file():
        names.append("utt2dur")
    translations = translation_files(path)
    for key, found in join_sorted({name: lines(name) for name in names + translations}):
        missing = [name for name in names if name not in found]
        if missing:
            raise DataDirError(f"missing from {', '.join(missing)}", path / next(iter(found)),
                               next(iter(found.values())).number, key,
                               f"Run utils/fix_data_dir.sh {path} to keep the utterances present in every file")
        segment = None
        if has_segments:
            rec, start, end, problem = parse_segment(found["segments"].value)
            if problem or rec not in recordings:
                raise DataDirError(problem or f"recording '{rec}' is not in wav.scp", path / "segments",
                                   found["segments"].number, key, f"Run utils/validate_data_dir.sh {path}")
            segment = Segment(rec, start, end)
            wav = recordings[rec]
        else:
            wav = found["wav.scp"].value
        duration = float(found["utt2dur"].value) if "utt2dur" in found else None
        yield Utterance(key, found["utt2spk"].value, found["utt2lang"].value, found["text"].value, wav, segment,
                        {name[len(TRANSLATION_PREFIX):]: found[name].value for name in translations if name in found},
                        duration)
