"""The identity of a data stage's output, so that a re-run with the same options and inputs is skipped.

Stage 2 (features or shards) writes ``<out_dir>/.done`` as ``{"identity": ..., "summary": ...}``;
``identity`` holds the options and the sha256 of every input text file of the data dir. A data dir
prepared again (stage 1 re-run) or other options make the next run recompute.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Mapping

from part.data.datadir.layout import OPTIONAL_FILES, REQUIRED_FILES, translation_files
from part.fileio import file_sha256

DONE = ".done"


def input_fingerprint(data_dir: Path) -> Dict[str, str]:
    """sha256 of every file of a Kaldi data dir (docs/contracts.md: the required and optional files and the
    translations), streamed: any size."""
    data_dir = Path(data_dir)
    names = [n for n in REQUIRED_FILES + OPTIONAL_FILES if (data_dir / n).is_file()] + translation_files(data_dir)
    return {name: file_sha256(data_dir / name) for name in names}


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
