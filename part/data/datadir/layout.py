"""The files of a data dir (docs/contracts.md) and how each one is read."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

REQUIRED_FILES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2lang")
OPTIONAL_FILES = ("segments",)  # and text.<tgt>
TRANSLATION_PREFIX = "text."
# Other per-id files that fix_data_dir.sh restricts to the kept ids when they are present.
EXTRA_UTT_FILES = ("utt2dur", "utt2num_frames", "utt2uniq", "utt2gender", "feats.scp")
EXTRA_SPK_FILES = ("spk2gender",)
EXTRA_RECORDING_FILES = ("reco2dur", "reco2file_and_channel")
# Names of editor and backup copies that are not translation files.
_NOT_TRANSLATIONS = (".bak", "~", ".tmp")


def is_translation_file(name: str) -> bool:
    return name.startswith(TRANSLATION_PREFIX) and not name.endswith(_NOT_TRANSLATIONS) and not name.startswith(".")


def translation_files(path: Path) -> List[str]:
    """The ``text.<tgt>`` files of a data dir, sorted."""
    return sorted(p.name for p in path.glob(TRANSLATION_PREFIX + "*") if p.is_file() and is_translation_file(p.name))


def fix_command(path: Path) -> str:
    return f"utils/fix_data_dir.sh {path}"


def key_kind(name: str, has_segments: bool) -> str:
    """What the ids of file ``name`` are."""
    if name in ("spk2utt",) + EXTRA_SPK_FILES:
        return "speaker"
    if (name == "wav.scp" and has_segments) or name in EXTRA_RECORDING_FILES:
        return "recording"
    return "utterance"


def value_name(name: str) -> Optional[str]:
    """What the values of file ``name`` are called in messages (None: just "value")."""
    if name == "text":
        return "transcript"
    if name.startswith(TRANSLATION_PREFIX):
        return "translation"
    return None


def reader_options(path: Path, name: str, has_segments: bool) -> Dict[str, object]:
    """The options of :func:`~part.data.datadir.table.iter_kaldi_file` for file ``name`` of data dir ``path``."""
    return {"kind": key_kind(name, has_segments), "value_name": value_name(name), "fix_command": fix_command(path)}
