"""Raw-audio shards: a data set as tar archives of audio with a JSON-lines manifest beside each one.

Stage 2 of a recipe with ``--feats_type raw`` (``python -m part.bin.pack_shards``) writes
``dump/raw/<set>/``::

    index.json              the set: options, every shard with its counts, totals per language,
                            duration quantiles (for bucketing), skipped utterances
    shards/<lang>-000000.tar      audio of up to --utts_per_shard utterances of one language
    shards/<lang>-000000.jsonl    one line per utterance of that tar, in tar order
    skipped                 ``uttid reason`` of every utterance left out (bad audio, length)

A manifest line describes one utterance and where its audio is inside the tar::

    {"id": "spk1-utt1", "offset": 1536, "size": 27773, "format": "flac", "duration": 1.74,
     "lang": "de", "spk": "spk1", "text": "guten morgen", "translations": {"en": "good morning"}}

``offset``/``size`` are the byte range of the audio member's data in the tar, so a loader reads one
utterance with one seek and one read (no tar parsing), while the tar stays a normal archive
(``tar tf``, ``tar xf``). The audio is the original file's bytes where it is compressed and already
at the set's sample rate and mono (flac, mp3, ogg/opus), else 16-bit FLAC of the decoded samples (wav,
other rates, segments of long recordings, pipes). Shards hold one language each, so a sampler can draw
languages at chosen rates without reading the others' manifests.

Readers: :class:`ShardSet` (the index and the manifests, streamed) and :func:`load_audio` (bytes ->
samples).
"""
from __future__ import annotations

import io
import json
import math
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

INDEX = "index.json"
SHARD_DIR = "shards"
FORMAT_NAME = "part-shards"
FORMAT_VERSION = 1
# Formats whose original bytes are kept (compressed); anything else is stored as FLAC.
COMPRESSED_FORMATS = {"FLAC": "flac", "MP3": "mp3", "MPEG": "mp3", "OGG": "ogg"}


class ShardError(Exception):
    """A shard set that cannot be used (missing index or shard); the message says what to do."""


@dataclass
class ShardInfo:
    """One shard of a set, as ``index.json`` lists it."""

    name: str
    lang: str
    utts: int
    seconds: float
    translations: Dict[str, int] = field(default_factory=dict)  # tgt -> utterances with a translation

    @property
    def tar(self) -> str:
        return f"{SHARD_DIR}/{self.name}.tar"

    @property
    def manifest(self) -> str:
        return f"{SHARD_DIR}/{self.name}.jsonl"


def is_shard_set(path) -> bool:
    return (Path(path) / INDEX).is_file()


class ShardSet:
    """A packed data set (``dump/raw/<set>``): its index, and its manifests read as a stream.

    A missing or foreign ``index.json`` or a shard named by it that is not on disk is a
    :class:`ShardError` at construction (a training run fails at start-up, not hours later).
    """

    def __init__(self, root, check_files: bool = True):
        self.root = Path(root)
        index_file = self.root / INDEX
        if not index_file.is_file():
            raise ShardError(f"{self.root} is not a packed data set: {INDEX} is missing "
                             "(stage 2 with --feats_type raw writes it: part.bin.pack_shards)")
        try:
            self.index = json.loads(index_file.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ShardError(f"{index_file} is not valid JSON ({err}): re-run stage 2 for this set") from None
        if self.index.get("format") != FORMAT_NAME:
            raise ShardError(f"{index_file} is not a {FORMAT_NAME} index")
        if self.index.get("version") != FORMAT_VERSION:
            raise ShardError(f"{index_file} has format version {self.index.get('version')}, this toolkit reads "
                             f"{FORMAT_VERSION}: re-run stage 2 for this set")
        self.shards = [ShardInfo(**s) for s in self.index["shards"]]
        if check_files:
            missing = [s.name for s in self.shards
                       if not (self.root / s.tar).is_file() or not (self.root / s.manifest).is_file()]
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                raise ShardError(f"{self.root}: {len(missing)} shard(s) listed in {INDEX} are missing from "
                                 f"{self.root / SHARD_DIR}: {shown}. Restore them or re-run stage 2 for this set")

    @property
    def sample_rate(self) -> int:
        return int(self.index["sample_rate"])

    @property
    def num_utts(self) -> int:
        return sum(s.utts for s in self.shards)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.shards)

    @property
    def langs(self) -> List[str]:
        return sorted({s.lang for s in self.shards})

    def duration_quantiles(self) -> List[float]:
        """Utterance durations at the 0, 1, ..., 100th percentile (for bucket boundaries)."""
        return list(self.index.get("duration_quantiles") or [])

    def records(self, shard: ShardInfo) -> Iterator[dict]:
        """The manifest lines of one shard, in order, each with ``shard`` (its tar path) added."""
        tar = str(self.root / shard.tar)
        with open(self.root / shard.manifest, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    record["shard"] = tar
                    yield record

    def all_records(self, shards: Optional[Sequence[ShardInfo]] = None) -> Iterator[dict]:
        for shard in self.shards if shards is None else shards:
            yield from self.records(shard)


# ----------------------------------------------------------------------------------------------
# Reading audio


# Open shard files a loader worker keeps: an epoch over a large set touches thousands of shards, and a
# process may hold only so many files (often 1024); the shuffle buffer and the per-group streams of
# temperature sampling read from a few shards at a time.
MAX_OPEN_SHARDS = 128


class AudioBytesError(Exception):
    """Audio inside a shard that cannot be decoded (the message names the shard and the utterance)."""


def read_member(shard: str, offset: int, size: int, handles: Optional[Dict[str, object]] = None) -> bytes:
    """The bytes of one audio member; ``handles`` caches open files (one per shard, the
    ``MAX_OPEN_SHARDS`` used last) across calls."""
    f = handles.pop(shard, None) if handles is not None else None
    if f is None:
        f = open(shard, "rb")
    if handles is not None:
        handles[shard] = f  # the most recently used last
        if len(handles) > MAX_OPEN_SHARDS:
            handles.pop(next(iter(handles))).close()
    try:
        f.seek(offset)
        data = f.read(size)
    finally:
        if handles is None:
            f.close()
    if len(data) != size:
        raise AudioBytesError(f"{shard}: truncated: {size} bytes expected at offset {offset}, {len(data)} read")
    return data


def decode_audio(data: bytes, sample_rate: int) -> np.ndarray:
    """Mono float32 samples in [-1, 1] of encoded audio bytes, resampled to ``sample_rate`` if needed."""
    import soundfile

    from part.data.audio import resample

    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    samples = np.ascontiguousarray(samples[:, 0])
    return resample(samples, rate, sample_rate) if rate != sample_rate else samples


def load_audio(record: dict, sample_rate: int, handles: Optional[Dict[str, object]] = None) -> np.ndarray:
    """The samples of one manifest record; :class:`AudioBytesError` names the shard and the utterance."""
    try:
        samples = decode_audio(read_member(record["shard"], record["offset"], record["size"], handles), sample_rate)
    except AudioBytesError as err:
        raise AudioBytesError(f"utterance '{record['id']}': {err}") from None
    except Exception as err:  # libsndfile's errors of all kinds: the bytes are not audio
        raise AudioBytesError(f"{record['shard']}: utterance '{record['id']}' cannot be decoded "
                              f"({type(err).__name__}: {err})") from None
    if not len(samples):
        raise AudioBytesError(f"{record['shard']}: utterance '{record['id']}' holds no samples")
    return samples


# ----------------------------------------------------------------------------------------------
# Writing


def encode_flac(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC of float samples in [-1, 1] (what Kaldi-style 16-bit corpora hold: lossless for them)."""
    import soundfile

    out = io.BytesIO()
    soundfile.write(out, np.clip(samples, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()


class ShardWriter:
    """Writes one shard: the tar of audio members and its manifest (written last: its presence marks a
    complete shard, which lets an interrupted packing run keep finished shards)."""

    def __init__(self, shard_dir: Path, name: str):
        self.tar_path = Path(shard_dir) / f"{name}.tar"
        self.manifest_path = Path(shard_dir) / f"{name}.jsonl"
        self._tar = tarfile.open(self.tar_path.with_suffix(".tar.tmp"), "w", format=tarfile.PAX_FORMAT)
        self._lines: List[str] = []

    def add(self, record: dict, audio: bytes, extension: str) -> None:
        """Append ``audio`` as ``<id>.<extension>``; ``record`` gets ``offset``, ``size`` and ``format``."""
        info = tarfile.TarInfo(f"{record['id']}.{extension}")
        info.size = len(audio)
        info.mtime = 0  # reproducible archives
        self._tar.addfile(info, io.BytesIO(audio))
        # After addfile the archive's offset is past the data and its padding to 512-byte blocks.
        record = dict(record, offset=self._tar.offset - math.ceil(len(audio) / tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE,
                      size=len(audio), format=extension)
        self._lines.append(json.dumps(record, ensure_ascii=False))

    def close(self) -> None:
        self._tar.close()
        os.replace(self.tar_path.with_suffix(".tar.tmp"), self.tar_path)
        tmp = self.manifest_path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in self._lines), encoding="utf-8")
        os.replace(tmp, self.manifest_path)

    def abort(self) -> None:
        self._tar.close()
        Path(self._tar.name).unlink(missing_ok=True)


class DurationHistogram:
    """Durations in log-spaced bins (bounded memory for any corpus size), for quantiles."""

    def __init__(self, low: float = 0.01, high: float = 7200.0, bins: int = 2000):
        self.low, self.high, self.bins = low, high, bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self._scale = bins / math.log(high / low)

    def add(self, seconds: float) -> None:
        k = int(math.log(min(max(seconds, self.low), self.high) / self.low) * self._scale)
        self.counts[min(k, self.bins - 1)] += 1

    def merge(self, other: "DurationHistogram") -> None:
        self.counts += other.counts

    def quantiles(self, n: int = 100) -> List[float]:
        """Durations at the 0, 1/n, ..., 1 quantiles (bin upper edges), rounded to ms."""
        total = int(self.counts.sum())
        if not total:
            return []
        cumulative = np.cumsum(self.counts)
        edges = self.low * np.exp((np.arange(self.bins) + 1) / self._scale)
        return [round(float(edges[min(int(np.searchsorted(cumulative, max(1, math.ceil(q * total / n)))),
                                      self.bins - 1)]), 3) for q in range(n + 1)]
