"""What transcription writes for each recording, in input order: one line of text, JSON lines (one per
segment, with timing and real-time factor), or SRT subtitles (one cue per segment)."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, TextIO

from part.data.segment import Segment, cue_times, merge_overlap
from part.transcription.inputs import AudioInput


@dataclass
class Recording:
    """One input on its way through: its segments, their texts and timing, or why it has none."""

    input: AudioInput
    duration: float = 0.0
    segments: List[Segment] = field(default_factory=list)
    texts: List[Optional[str]] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)  # decode (and feature) seconds of each segment
    error: Optional[str] = None
    warning: Optional[str] = None

    @property
    def done(self) -> bool:
        return all(t is not None for t in self.texts)

    def segment_texts(self, stitch: bool) -> List[str]:
        """The text of each segment; with ``stitch`` (overlapping fixed windows), a segment's text without
        the words that repeat the end of the previous one's."""
        texts = [t or "" for t in self.texts]
        if stitch:
            texts = texts[:1] + [merge_overlap(prev, cur) for prev, cur in zip(texts, texts[1:])]
        return texts


def recording_text(rec: Recording, joiner: str, stitch: bool) -> str:
    return joiner.join(t for t in rec.segment_texts(stitch) if t).replace("\n", " ")


def srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(rec: Recording, f: TextIO, stitch: bool) -> None:
    n = 0
    for (start, end), text in zip(cue_times(rec.segments), rec.segment_texts(stitch)):
        if text.strip():
            n += 1
            f.write(f"{n}\n{srt_time(start)} --> {srt_time(end)}\n{text.strip()}\n\n")


def jsonl_lines(rec: Recording, stitch: bool) -> List[dict]:
    uid = rec.input.id
    if rec.error:
        return [{"id": uid, "error": rec.error}]
    if not rec.segments:
        return [{"id": uid, "segment": None, "start": None, "end": None, "text": "", "warning": rec.warning}]
    texts = rec.segment_texts(stitch)
    return [{"id": uid, "segment": k, "start": round(seg.start, 3), "end": round(seg.end, 3), "text": text,
             "decode_seconds": round(secs, 4), "rtf": round(secs / max(seg.duration, 1e-9), 4)}
            for k, (seg, text, secs) in enumerate(zip(rec.segments, texts, rec.seconds))]


class Writer:
    """Writes each finished recording in input order, in the chosen format."""

    def __init__(self, fmt: str, output: Optional[str], num_inputs: int, joiner: str, stitch: bool):
        self.fmt, self.joiner, self.stitch = fmt, joiner, stitch
        self.folder = None
        if fmt == "srt" and num_inputs > 1:
            if not output:
                raise ValueError("--format srt with several inputs writes one <id>.srt per input: give --output "
                                 "a folder")
            self.folder = Path(output)
            self.folder.mkdir(parents=True, exist_ok=True)
            self.stream = None
        else:
            if output:
                Path(output).parent.mkdir(parents=True, exist_ok=True)
            self.stream = open(output, "w", encoding="utf-8") if output else sys.stdout

    def write(self, rec: Recording) -> None:
        if self.fmt == "text":
            self.stream.write(recording_text(rec, self.joiner, self.stitch) + "\n")
        elif self.fmt == "jsonl":
            for line in jsonl_lines(rec, self.stitch):
                self.stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        elif self.folder is not None:
            if rec.error:
                return
            path = self.folder / f"{rec.input.id}.srt"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8") as f:
                write_srt(rec, f, self.stitch)
        else:
            write_srt(rec, self.stream, self.stitch)
        if self.stream is not None:
            self.stream.flush()

    def close(self) -> None:
        if self.stream is not None and self.stream is not sys.stdout:
            self.stream.close()
