"""The identity of a data stage's output, so that a re-run with the same options and inputs is skipped.

Stage 2 (features or shards) writes ``<out_dir>/.done`` as ``{"identity": ..., "summary": ...}``;
``identity`` holds the options and the sha256 of every input text file of the data dir. A data dir
prepared again (stage 1 re-run) or other options make the next run recompute.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Dict, Mapping

DONE = ".done"
INPUT_FILES = ("wav.scp", "segments", "text", "utt2spk", "spk2utt", "utt2lang")
TRANSLATION_PREFIX = "text."


def input_fingerprint(data_dir: Path) -> Dict[str, str]:
    """sha256 of every input text file of a Kaldi data dir (streamed: any size)."""
    data_dir = Path(data_dir)
    names = [n for n in INPUT_FILES if (data_dir / n).is_file()]
    names += sorted(p.name for p in data_dir.glob(TRANSLATION_PREFIX + "*") if p.is_file())
    out = {}
    for name in names:
        digest = hashlib.sha256()
        with open(data_dir / name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[name] = digest.hexdigest()
    return out


def is_done(out_dir: Path, identity: Mapping) -> bool:
    """Whether ``out_dir`` was finished with this very identity."""
    marker = Path(out_dir) / DONE
    if not marker.is_file():
        return False
    try:
        previous = json.loads(marker.read_text())
    except ValueError:
        return False
    return previous.get("identity") == identity


def write_done(out_dir: Path, identity: Mapping, summary: Mapping) -> None:
    (Path(out_dir) / DONE).write_text(json.dumps({"identity": identity, "summary": summary}, indent=2) + "\n")
