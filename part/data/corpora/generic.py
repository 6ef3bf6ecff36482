"""A layout for new corpora: a folder of audio files and a TSV that lists them.

The TSV is tab-separated, UTF-8, not quoted (quotes are plain characters; fields may not contain tabs),
with a header naming its columns, in any order:

=====================  ==========================================================================
``id``                 utterance id, unique, no whitespace
``path``               audio file, relative to the TSV's folder or absolute (any format soundfile
                       reads: wav, flac, mp3, ogg/opus; other rates than 16 kHz are converted)
``text``               transcript in the utterance's own language
``lang``               language code (``de``, ``zh``, ``zh-CN``, ``de_de``: anything that
                       part/data/languages.py knows)
``speaker``            optional; without it every utterance is its own speaker
``translation_<tgt>``  optional, any number: translation into ``<tgt>`` (empty cell = none)
=====================  ==========================================================================

Example ``corpus/train.tsv``::

    id      path            text                lang    speaker  translation_en
    utt001  wav/utt001.wav  Guten Morgen.       de      anna     Good morning.
    utt002  wav/utt002.wav  你好                 zh      li       Hello

Utterance ids must start with the speaker id (Kaldi's convention); an id that does not is written as
``<speaker>-<id>``. Rows with an empty transcript are skipped; rows with missing audio are skipped with
a warning naming them (an error with ``--strict``).

Usage::

    python -m part.data.corpora.generic --tsv corpus/train.tsv --out data/train [--audio_format auto]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional, Sequence, Set

from part.data.corpora.base import (
    CorpusError,
    CorpusLayoutError,
    PathLike,
    Skips,
    Utterance,
    add_common_arguments,
    clean_text,
    language_code,
    read_tsv_with_header,
    run_main,
    write_utterances,
)
from part.data.corpora.wavscp import UnreadableAudio, WavScpBuilder

logger = logging.getLogger("part.data.corpora.generic")

REQUIRED_COLUMNS = ("id", "path", "text", "lang")
TRANSLATION_COLUMN_PREFIX = "translation_"
STRICT_REASONS = ("missing audio", "unreadable audio", "malformed row", "bad id")


def read_tsv(tsv: PathLike, builder: WavScpBuilder, skips: Skips) -> List[Utterance]:
    """The utterances of one generic TSV (see the module docstring)."""
    tsv = Path(tsv)
    if not tsv.is_file():
        raise CorpusLayoutError(f"no {tsv}; a generic corpus is a TSV with the header "
                                f"{' '.join(REQUIRED_COLUMNS)} [speaker] [translation_<tgt> ...]")
    base = tsv.parent
    utts: List[Utterance] = []
    seen: Set[str] = set()
    for number, row in read_tsv_with_header(tsv, REQUIRED_COLUMNS, skips=skips):
        where = f"{tsv}:{number}"
        raw_id = row["id"].strip()
        speaker = (row.get("speaker") or "").strip() or raw_id
        if not raw_id or any(c.isspace() for c in raw_id) or any(c.isspace() for c in speaker):
            skips.add("bad id", where, raw_id, "ids and speakers must be non-empty and without whitespace")
            continue
        utt_id = raw_id if raw_id.startswith(speaker) else f"{speaker}-{raw_id}"
        if utt_id in seen:
            skips.add("bad id", where, utt_id, "the id is used by an earlier row")
            continue
        seen.add(utt_id)
        text = clean_text(row["text"])
        if not text:
            skips.add("empty transcript", where, raw_id)
            continue
        lang = language_code(row["lang"].strip(), where)
        audio = Path(row["path"].strip())
        audio = audio if audio.is_absolute() else base / audio
        if not row["path"].strip() or not audio.is_file():
            skips.add("missing audio", where, raw_id, f"{audio} does not exist")
            continue
        try:
            wav = builder.entry(audio)
        except UnreadableAudio as err:
            skips.add("unreadable audio", where, raw_id, f"{audio}: {err}")
            continue
        utt = Utterance(utt_id, speaker, lang, text, wav)
        for column, value in row.items():
            if column.startswith(TRANSLATION_COLUMN_PREFIX) and clean_text(value):
                tgt = language_code(column[len(TRANSLATION_COLUMN_PREFIX):], f"{tsv}: column {column}")
                if tgt == lang:
                    skips.add("translation into own language", where, raw_id, f"column {column} ignored")
                    continue
                utt.translations[tgt] = clean_text(value)
        utts.append(utt)
    return utts


def prepare(tsv: PathLike, out: PathLike, audio_format: str = "auto", strict: bool = False) -> Path:
    """Write the data dir ``out`` from the generic TSV ``tsv``."""
    skips = Skips()
    utts = read_tsv(tsv, WavScpBuilder(audio_format), skips)
    skips.report(str(tsv), STRICT_REASONS, strict)
    if not utts:
        raise CorpusError(f"{tsv}: no usable rows")
    path = write_utterances(out, utts)
    logger.info(f"wrote {path}: {len(utts)} utterances")
    return path


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.corpora.generic",
        description="A Kaldi data dir from a TSV (header: id path text lang [speaker] [translation_<tgt>...]) "
                    "that lists audio files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tsv", required=True, help="the TSV; relative audio paths are relative to its folder")
    parser.add_argument("--out", required=True, help="the data dir to write")
    add_common_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.tsv, a.out, a.audio_format, a.strict), args)


if __name__ == "__main__":
    raise SystemExit(main())
