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
``<speaker>-<id>``. Transcripts and translations are kept verbatim but for tabs and line breaks.
Skipped with a warning naming the TSV and line (an error with ``--strict`` where marked): rows with
missing (strict) or unreadable (strict) audio, too few or too many fields (strict), ids or speakers
that cannot be part of a Kaldi id (spaces, control characters; strict), an id used by an earlier row
(strict), an unknown language (strict), or an empty transcript. The TSV is read row by row and the
data dir written through an external sort: memory does not grow with the number of rows. Audio is
not decoded; with ``--audio_format auto`` each file's header is read to decide between its path and
a converting pipe.

With ``--lm_text FILE`` the text side is also written as the parallel text corpus that the in-recipe
LLM is trained on (``data/lm_text/{train,dev}.jsonl``, docs/contracts.md): one JSON object per distinct
row, ``{"id": ..., "<lang>": transcript, "<tgt>": translation, ...}`` (the languages a row has; a row
without translations still teaches the LLM to copy its language).

Usage::

    python -m part.data.corpora.generic --tsv corpus/train.tsv --out data/train [--audio_format auto] \
        [--lm_text data/lm_text/train.jsonl]
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

from part.data.corpora.base import (
    CorpusError,
    CorpusLayoutError,
    PathLike,
    Skips,
    Utterance,
    add_common_arguments,
    corpus_writer,
    ids_problem,
    kaldi_value,
    language_code,
    read_tsv_with_header,
    run_main,
)
from part.data.languages import canonical_code
from part.data.corpora.wavscp import UnreadableAudio, WavScpBuilder
from part.fileio import atomic_path

logger = logging.getLogger("part.data.corpora.generic")

REQUIRED_COLUMNS = ("id", "path", "text", "lang")
TRANSLATION_COLUMN_PREFIX = "translation_"
STRICT_REASONS = ("missing audio", "unreadable audio", "malformed row", "bad id", "repeated id", "unknown language")


def read_tsv(tsv: PathLike, builder: WavScpBuilder, skips: Skips) -> Iterator[Tuple[Utterance, str]]:
    """``(utterance, where)`` of one generic TSV, row by row (see the module docstring)."""
    tsv = Path(tsv)
    if not tsv.is_file():
        raise CorpusLayoutError(f"no {tsv}; a generic corpus is a TSV with the header "
                                f"{' '.join(REQUIRED_COLUMNS)} [speaker] [translation_<tgt> ...]")
    base = tsv.parent
    targets: Optional[Dict[str, str]] = None  # translation column -> registry code, from the header
    for number, row in read_tsv_with_header(tsv, REQUIRED_COLUMNS, skips=skips):
        where = f"{tsv}:{number}"
        if targets is None:
            targets = {column: language_code(column[len(TRANSLATION_COLUMN_PREFIX):], f"{tsv}: column {column}")
                       for column in row if column.startswith(TRANSLATION_COLUMN_PREFIX)}
        raw_id = row["id"].strip()
        speaker = (row.get("speaker") or "").strip() or raw_id
        problem = ids_problem(id=raw_id, speaker=speaker)
        if problem:
            skips.add("bad id", where, raw_id, problem)
            continue
        utt_id = raw_id if raw_id.startswith(speaker) else f"{speaker}-{raw_id}"
        text = kaldi_value(row["text"])
        if not text:
            skips.add("empty transcript", where, raw_id)
            continue
        try:
            lang = canonical_code(row["lang"].strip())
        except KeyError as err:
            skips.add("unknown language", where, raw_id, err.args[0])
            continue
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
        for column, tgt in targets.items():
            value = kaldi_value(row.get(column, ""))
            if not value:
                continue
            if tgt == lang:
                skips.add("translation into own language", where, raw_id, f"column {column} ignored")
                continue
            utt.translations[tgt] = value
        yield utt, where


class LmText:
    """The parallel text of the rows (``--lm_text``): one JSON line per distinct row. Only a 16-byte digest
    per row is kept to drop repeats (the same sentence read by several speakers)."""

    def __init__(self, file):
        self._file = file
        self._seen: set = set()
        self.rows = 0

    def add(self, utt: Utterance) -> None:
        row = {utt.lang: utt.text, **utt.translations}
        key = hashlib.blake2b(json.dumps(row, sort_keys=True, ensure_ascii=False).encode("utf-8"),
                              digest_size=16).digest()
        if key not in self._seen:
            self._seen.add(key)
            self._file.write(json.dumps({"id": utt.utt_id, **row}, ensure_ascii=False) + "\n")
            self.rows += 1


@contextlib.contextmanager
def lm_text_writer(path: Optional[PathLike]) -> Iterator[Optional[LmText]]:
    """An :class:`LmText` writing to ``path`` (replaced only when the block succeeds), or None."""
    if path is None:
        yield None
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield LmText(f)


def prepare(tsv: PathLike, out: PathLike, audio_format: str = "auto", strict: bool = False,
            lm_text: Optional[PathLike] = None) -> Path:
    """Write the data dir ``out`` (and, with ``lm_text``, the rows' parallel text) from the generic TSV
    ``tsv``, streaming (memory does not grow with the number of rows)."""
    skips = Skips()
    with corpus_writer(out, skips) as writer, lm_text_writer(lm_text) as text_writer:
        for utt, where in read_tsv(tsv, WavScpBuilder(audio_format), skips):
            writer.add(utt, where)
            if text_writer is not None:
                text_writer.add(utt)
        writer.finish()  # sorts: repeated ids show here
        skips.report(str(tsv), STRICT_REASONS, strict)
        if writer.summary is None:
            raise CorpusError(f"{tsv}: no usable rows")
    logger.info(f"wrote {writer.summary.describe()}")
    if text_writer is not None:
        logger.info(f"wrote {lm_text}: {text_writer.rows} distinct rows of text for the in-recipe LLM")
    return Path(out)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.corpora.generic",
        description="A Kaldi data dir from a TSV (header: id path text lang [speaker] [translation_<tgt>...]) "
                    "that lists audio files.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tsv", required=True, help="the TSV; relative audio paths are relative to its folder")
    parser.add_argument("--out", required=True, help="the data dir to write")
    parser.add_argument("--lm_text", help="also write the rows' parallel text here (JSON lines, one per distinct "
                                          "row: {id, <lang>: text, <tgt>: translation ...})")
    add_common_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.tsv, a.out, a.audio_format, a.strict, a.lm_text), args)


if __name__ == "__main__":
    raise SystemExit(main())
