"""The recordings to transcribe: audio files, folders of them, Kaldi wav.scp and .tsv lists
(:func:`list_inputs`), and reading one as mono samples at the model's rate (:func:`load_recording`,
through ffmpeg for formats libsndfile does not read)."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np

from part.data.audio import AudioError

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".oga", ".sph", ".aif", ".aiff", ".au", ".w64",
                    ".caf", ".m4a", ".aac", ".wma", ".webm", ".mp4", ".mkv", ".amr"}
MIN_SAMPLE_RATE = 8000  # below it the band speech needs is gone: resampling cannot bring it back


@dataclass
class AudioInput:
    """One recording to transcribe: its id, its ``wav.scp``-style entry (a path or ``cmd |``), where it was
    listed (an argument, or ``list:line``), and a problem found while listing it (then it is reported, not read)."""

    id: str
    entry: str
    origin: str
    error: Optional[str] = None

    @property
    def where(self) -> str:
        """How messages name it: the argument, or the list's file and line with the id."""
        return self.origin if self.origin == self.entry else f"{self.origin} ('{self.id}')"


def _resolve_listed(path: str, list_file: Path) -> str:
    """A path from a list: as is if it exists (relative to the current directory), else relative to the list."""
    if os.path.isabs(path) or os.path.exists(path) or path.rstrip().endswith("|"):
        return path
    beside = list_file.parent / path
    return str(beside) if beside.exists() else path


def read_wav_scp(path: Path) -> List[AudioInput]:
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            uid, _, entry = line.partition(" ")
            where = f"{path}:{n}"
            if not entry.strip():
                out.append(AudioInput(uid, "", where, "no path (expected `id path`)"))
                continue
            out.append(AudioInput(uid, _resolve_listed(entry.strip(), path), where))
    return out


def read_tsv(path: Path) -> List[AudioInput]:
    """``id<TAB>path`` rows, or rows under a header line with a ``path`` (and optionally ``id``) column."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rows = [(n, r) for n, r in enumerate(rows, 1) if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0][1]]
    if "path" in header:
        path_col, id_col = header.index("path"), header.index("id") if "id" in header else None
        rows = rows[1:]
    else:
        path_col, id_col = 1, 0
    out = []
    for n, row in rows:
        where = f"{path}:{n}"
        if len(row) <= max(path_col, id_col or 0) or not row[path_col].strip():
            out.append(AudioInput(f"{path.stem}:{n}", "", where,
                                  "no path (expected " + ("a path column)" if id_col is None else "id<TAB>path)")))
            continue
        entry = row[path_col].strip()
        uid = row[id_col].strip() if id_col is not None else Path(entry).with_suffix("").as_posix()
        out.append(AudioInput(uid, _resolve_listed(entry, path), where))
    return out


def list_inputs(arguments: Iterable[str]) -> List[AudioInput]:
    """Every recording named by the command-line inputs, in order (folders sorted by path)."""
    out: List[AudioInput] = []
    for arg in arguments:
        path = Path(arg)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
            if not files:
                out.append(AudioInput(arg, arg, arg, f"folder '{arg}' holds no audio file "
                                                     f"({', '.join(sorted(AUDIO_EXTENSIONS))})"))
            out += [AudioInput(p.relative_to(path).with_suffix("").as_posix(), str(p), arg) for p in files]
        elif path.name == "wav.scp" or path.suffix == ".scp":
            out += read_wav_scp(path) if path.is_file() else [AudioInput(arg, arg, arg, f"list '{arg}' not found")]
        elif path.suffix.lower() == ".tsv":
            out += read_tsv(path) if path.is_file() else [AudioInput(arg, arg, arg, f"list '{arg}' not found")]
        else:
            out.append(AudioInput(path.stem, arg, arg))
    counts: Dict[str, int] = {}
    for inp in out:  # ids name outputs (srt files, jsonl lines): make repeated ones unique
        counts[inp.id] = counts.get(inp.id, 0) + 1
        if counts[inp.id] > 1:
            inp.id = f"{inp.id}-{counts[inp.id]}"
    return out


def check_sample_rate(rate: int, target: int, uid: str) -> None:
    if rate < min(MIN_SAMPLE_RATE, target):
        raise AudioError(f"sample rate {rate} Hz is too low for speech (the model hears {target} Hz; below "
                         f"{MIN_SAMPLE_RATE} Hz resampling cannot bring back what is missing)",
                         f"use a recording at {MIN_SAMPLE_RATE} Hz or more", uid)


def read_with_ffmpeg(path: str, rate: int, uid: str) -> np.ndarray:
    """The first channel of any file ffmpeg reads, resampled by ffmpeg to ``rate``, as float32 samples."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:a:0", "-af", "pan=mono|c0=c0",
           "-ar", str(rate), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0 or not proc.stdout:
        tail = " | ".join(proc.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]) or "no audio"
        raise AudioError(f"neither libsndfile nor ffmpeg can read '{path}' (ffmpeg: {tail})",
                         "check the file, or convert it to wav or flac", uid)
    return np.frombuffer(proc.stdout[: len(proc.stdout) // 4 * 4], dtype="<f4").astype(np.float32)


def load_recording(inp: AudioInput, rate: int) -> np.ndarray:
    """Mono float32 samples of one input at ``rate`` (first channel); :class:`AudioError` says what is wrong."""
    from part.data.audio import read_audio_with_info, resample

    try:
        samples, info = read_audio_with_info(inp.entry, sample_rate=None, utt_id=inp.id)
    except AudioError as err:
        readable_file = os.path.isfile(inp.entry) and os.path.getsize(inp.entry) > 0
        if not readable_file:
            raise
        if shutil.which("ffmpeg"):
            return read_with_ffmpeg(inp.entry, rate, inp.id)
        raise AudioError(err.problem, "convert it to wav or flac, or install ffmpeg to read more formats",
                         inp.id) from None
    check_sample_rate(info.sample_rate, rate, inp.id)
    return resample(samples, info.sample_rate, rate)
