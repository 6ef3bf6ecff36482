"""Common Voice (Mozilla), e.g. release 15.0 (cv-corpus-15.0-2023-09-08): Kaldi data dirs per locale.

Release layout (one folder per locale below the extracted ``cv-corpus-<version>-<date>/``)::

    <root>/<locale>/clips/common_voice_<locale>_<n>.mp3    48 kHz mp3 clips
    <root>/<locale>/{train,dev,test}.tsv                    the official splits (speaker-disjoint)
    <root>/<locale>/{validated,invalidated,other,reported}.tsv, times.txt (v14-16.0) ...

The TSVs have a header and are *not* CSV-quoted (quotes inside sentences are plain characters). The
columns of releases 13-16 are ``client_id path sentence up_votes down_votes age gender accents variant
locale segment``; release 17 added ``sentence_id`` (after ``path``) and ``sentence_domain`` (after
``sentence``). Columns are read by name, so every release since 5.1 works.

Utterances: speaker = the first 16 hex digits of ``client_id`` (a SHA hash of the contributor),
utterance id = ``<speaker>-<clip name without .mp3>`` (CoVoST 2 uses the same ids for the same clips,
see :func:`utterance_id`), text = ``sentence`` with runs of whitespace made one space, language = the
registry code of the locale (``zh-CN`` -> ``zh``). The sentence is kept verbatim (no-break spaces and
other Unicode spaces included) but for tabs and line breaks, which become spaces; a row with a tab
inside its sentence is repaired that way. Skipped with a warning naming the TSV and line (clips
missing from ``clips/`` and unreadable audio are errors with ``--strict``): rows with an empty
sentence, clips listed but not in ``clips/``, a clip listed twice in a TSV (the first row is kept),
a clip of train.tsv that is also in dev.tsv or test.tsv (and one of dev.tsv also in test.tsv: the
evaluation sets stay disjoint from what is trained on), and clip names that cannot be part of a
Kaldi id (spaces, control characters). TSVs are read line by line; memory holds the clips, speakers
and sentences of dev.tsv and test.tsv only.

Output (``--out_dir``): ``commonvoice_<split>_<locale>`` per locale and ``commonvoice_<split>`` over
all locales, for split in train, dev, test.

Usage::

    python -m part.data.corpora.commonvoice --root /data/cv-corpus-15.0-2023-09-08 \\
        --langs de,zh-CN --out_dir data/local/commonvoice [--train_tsv validated] [--strict]
"""
from __future__ import annotations

import argparse
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Sequence, Set, Tuple

from part.data.corpora.base import (
    SPLITS,
    CorpusError,
    CorpusLayoutError,
    CorpusSets,
    PathLike,
    PrepResult,
    Skips,
    Utterance,
    add_common_arguments,
    add_output_arguments,
    check_splits,
    corpus_parser,
    ids_problem,
    kaldi_value,
    language_code,
    read_tsv_with_header,
    run_main,
    split_list,
)
from part.data.corpora.wavscp import UnreadableAudio, WavScpBuilder

logger = logging.getLogger("part.data.corpora.commonvoice")

CORPUS = "commonvoice"
REQUIRED_COLUMNS = ("client_id", "path", "sentence")
SPLIT_TSV = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
# Skip reasons that --strict turns into errors.
STRICT_REASONS = ("missing clip", "unreadable audio", "malformed row")
ADVICE = {
    "missing clip": "Re-extract the release's clips/",
    "unreadable audio": "The clips are corrupt or empty; re-download them",
    "malformed row": "These rows have the wrong number of tab-separated fields",
}
SPEAKER_ID_LENGTH = 16
HEX_DIGITS = set("0123456789abcdef")


def speaker_id(client_id: str) -> str:
    """A short speaker id for a contributor: the first 16 hex digits of ``client_id`` (already a hash
    in every release), or of its SHA-256 when it is not hexadecimal."""
    cid = client_id.strip().lower()
    if len(cid) >= SPEAKER_ID_LENGTH and set(cid) <= HEX_DIGITS:
        return cid[:SPEAKER_ID_LENGTH]
    return hashlib.sha256(client_id.strip().encode("utf-8")).hexdigest()[:SPEAKER_ID_LENGTH]


def clip_stem(clip: str) -> str:
    """``common_voice_de_123.mp3`` -> ``common_voice_de_123``."""
    name = Path(clip.strip()).name
    return name[:-4] if name.lower().endswith(".mp3") else name


def utterance_id(client_id: str, clip: str) -> str:
    """``<speaker>-<clip stem>``: unique over all locales (the clip name contains the locale)."""
    return f"{speaker_id(client_id)}-{clip_stem(clip)}"


def locale_dir(root: PathLike, locale: str) -> Path:
    return Path(root) / locale


def check_layout(root: PathLike, locales: Sequence[str], tsv_names: Sequence[str] = ("train.tsv",)) -> None:
    """Raise :class:`CorpusLayoutError` unless every ``<root>/<locale>/`` has the TSVs and ``clips/``."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise CorpusLayoutError(f"the Common Voice root '{root}' is not a directory; it must be the extracted "
                                f"release folder that holds <locale>/train.tsv and <locale>/clips/")
    for locale in locales:
        lang_dir = locale_dir(root, locale)
        for name in tsv_names:
            if not (lang_dir / name).is_file():
                nested = sorted(str(p.parent.parent) for p in root.glob(f"*/{locale}/{name}"))
                hint = f" (found it below {nested[0]}: use that folder as the root)" if nested else ""
                raise CorpusLayoutError(f"no {lang_dir / name}{hint}; the Common Voice root must hold "
                                        f"<locale>/{name} and <locale>/clips/ for every locale asked for "
                                        f"({', '.join(locales)})")
        if not (lang_dir / "clips").is_dir():
            raise CorpusLayoutError(f"no {lang_dir / 'clips'}/ folder: extract the clips of the release too")


class ClipRows:
    """Reads the rows of Common Voice TSVs of one locale into utterances."""

    def __init__(self, root: PathLike, locale: str, builder: WavScpBuilder):
        self.locale = locale
        self.lang_dir = locale_dir(root, locale)
        self.clips_dir = self.lang_dir / "clips"
        self.lang = language_code(locale, f"Common Voice locale folder {self.lang_dir}")
        self.builder = builder

    def rows(self, tsv_name: str, skips: Skips) -> Iterable[Tuple[int, Dict[str, str]]]:
        return read_tsv_with_header(self.lang_dir / tsv_name, REQUIRED_COLUMNS, free_text_column="sentence",
                                    skips=skips)

    def clip_file(self, clip: str) -> Optional[str]:
        """The file name in ``clips/`` for a ``path`` value, or None when the clip is missing. One stat per
        clip: a listing of ``clips/`` would hold every name of the locale (millions) in memory."""
        name = Path(clip.strip()).name
        if (self.clips_dir / name).is_file():
            return name
        if not name.lower().endswith(".mp3") and (self.clips_dir / (name + ".mp3")).is_file():
            return name + ".mp3"  # releases before 3 listed clips without the extension
        return None

    def utterance(self, where: str, row: Dict[str, str], skips: Skips) -> Optional[Utterance]:
        """The utterance of one row (``path``, ``client_id``, ``sentence``) found at ``where``
        (file:line), or None (recorded in ``skips``) when it cannot be used."""
        clip = row["path"].strip()
        text = kaldi_value(row["sentence"])
        if not clip:
            skips.add("malformed row", where, "", "empty path")
            return None
        if not text:
            skips.add("empty sentence", where, clip)
            return None
        problem = ids_problem(clip=clip_stem(clip))
        if problem:
            skips.add("bad id", where, clip, problem)
            return None
        name = self.clip_file(clip)
        if name is None:
            skips.add("missing clip", where, clip, f"not in {self.clips_dir}")
            return None
        try:
            wav = self.builder.entry(self.clips_dir / name)
        except UnreadableAudio as err:
            skips.add("unreadable audio", where, clip, str(err))
            return None
        return Utterance(utterance_id(row["client_id"], name), speaker_id(row["client_id"]), self.lang, text, wav)


@dataclass
class EvalListing:
    """What dev.tsv and test.tsv of a locale hold: ``{clip: (split, where)}``, their speakers and sentences."""

    clips: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    speakers: Set[str] = field(default_factory=set)
    sentences: Set[str] = field(default_factory=set)


def eval_listing(reader: ClipRows) -> EvalListing:
    """The clips, speakers and sentences of test.tsv, then dev.tsv (a clip in both counts as test)."""
    listing = EvalListing()
    for split in ("test", "dev"):
        tsv = reader.lang_dir / SPLIT_TSV[split]
        if not tsv.is_file():
            continue
        for number, row in reader.rows(SPLIT_TSV[split], Skips()):
            listing.clips.setdefault(Path(row["path"].strip()).name, (split, f"{tsv}:{number}"))
            listing.speakers.add(row["client_id"].strip())
            listing.sentences.add(kaldi_value(row["sentence"]))
    return listing


def read_split(reader: ClipRows, split: str, train_tsv: str, skips: Skips,
               listing: Optional[EvalListing] = None) -> Iterator[Tuple[Utterance, str]]:
    """``(utterance, where)`` of one split of one locale, row by row.

    With ``train_tsv="validated"`` the train split is validated.tsv without the clips, speakers and
    sentences of dev.tsv and test.tsv (more data than train.tsv, which keeps one clip per sentence).
    Otherwise a train clip also in dev/test, or a dev clip also in test, is skipped as listed in two
    splits. ``listing`` is :func:`eval_listing` of the locale (read here when not given).
    """
    listing = listing if listing is not None else eval_listing(reader)
    tsv_name = SPLIT_TSV[split]
    validated = split == "train" and train_tsv == "validated"
    if validated:
        tsv_name = "validated.tsv"
    excluded = 0
    for number, row in reader.rows(tsv_name, skips):
        where = f"{reader.lang_dir / tsv_name}:{number}"
        clip = Path(row["path"].strip()).name
        if validated:
            if (clip in listing.clips or row["client_id"].strip() in listing.speakers
                    or kaldi_value(row["sentence"]) in listing.sentences):
                excluded += 1
                continue
        elif split != "test" and clip in listing.clips:
            other, other_where = listing.clips[clip]
            if other != split:
                skips.add("clip in two splits", where, clip, f"also in {other_where}; kept in {other} only")
                continue
        utt = reader.utterance(where, row, skips)
        if utt is not None:
            yield utt, where
    if excluded:
        logger.info(f"{reader.lang_dir / tsv_name}: left {excluded} clips out of train that share a clip, "
                    f"speaker or sentence with dev.tsv/test.tsv")


def prepare(
    root: PathLike,
    locales: Sequence[str],
    out_dir: PathLike,
    splits: Sequence[str] = SPLITS,
    audio_format: str = "auto",
    strict: bool = False,
    train_tsv: str = "train",
) -> PrepResult:
    """Write ``commonvoice_<split>_<locale>`` and ``commonvoice_<split>`` data dirs below ``out_dir``.

    Args:
        root: the extracted release folder (holds ``<locale>/train.tsv``).
        locales: Common Voice locale codes (``de``, ``zh-CN``, ...).
        out_dir: where the data dirs go.
        splits: any of train, dev, test.
        audio_format: see :mod:`part.data.corpora.wavscp`.
        strict: raise :class:`CorpusError` on missing/unreadable clips and malformed rows.
        train_tsv: ``train`` (the official train.tsv) or ``validated`` (see :func:`read_split`).

    Returns:
        a :class:`PrepResult` with the dirs written and the rows skipped.
    """
    locales = list(locales)
    if not locales:
        raise CorpusError("no Common Voice locales given (--langs)")
    check_splits(splits, list(SPLIT_TSV), "Common Voice")
    if train_tsv not in ("train", "validated"):
        raise CorpusError(f"--train_tsv must be train or validated, not '{train_tsv}'")
    needed = [("validated.tsv" if s == "train" and train_tsv == "validated" else SPLIT_TSV[s]) for s in splits]
    check_layout(root, locales, needed)
    builder = WavScpBuilder(audio_format)
    with CorpusSets(out_dir, CORPUS, STRICT_REASONS, strict, ADVICE) as sets:
        for locale in locales:
            reader = ClipRows(root, locale, builder)
            listing = eval_listing(reader)
            for split in splits:
                with sets.reading(f"commonvoice {locale} {split}") as skips:
                    for utt, where in read_split(reader, split, train_tsv, skips, listing):
                        sets.add(split, locale, utt, where)
        return sets.close(splits, locales)


def get_parser() -> argparse.ArgumentParser:
    parser = corpus_parser("commonvoice", "Kaldi data dirs from a Common Voice release (e.g. "
                                          "cv-corpus-15.0-2023-09-08): <out_dir>/commonvoice_<split>_<locale> and "
                                          "<out_dir>/commonvoice_<split>.")
    parser.add_argument("--root", required=True, help="the release folder holding <locale>/train.tsv and clips/")
    parser.add_argument("--langs", required=True, help="Common Voice locales, comma separated (de,fr,zh-CN)")
    add_output_arguments(parser)
    parser.add_argument("--train_tsv", choices=("train", "validated"), default="train",
                        help="train split from train.tsv, or from validated.tsv minus the clips, speakers and "
                             "sentences of dev.tsv and test.tsv")
    add_common_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.root, split_list(a.langs), a.out_dir, split_list(a.splits),
                                      a.audio_format, a.strict, a.train_tsv), args)


if __name__ == "__main__":
    raise SystemExit(main())
