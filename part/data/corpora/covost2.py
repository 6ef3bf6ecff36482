"""CoVoST 2 (Facebook; speech translation over Common Voice clips): Kaldi data dirs with ``text.<tgt>``.

Release layout. CoVoST 2 ships translations only; the audio and transcripts are Common Voice's
(release 4, cv-corpus-4-2019-12-10; later releases still hold those clips)::

    <covost_dir>/covost_v2.<src>_<tgt>.tsv     from covost_v2.<src>_<tgt>.tsv.tar.gz, e.g. fr_en, zh-CN_en
    <cv_root>/<src>/clips/*.mp3                  the Common Voice clips
    <cv_root>/<src>/validated.tsv                their transcripts and speakers

``covost_v2.<src>_<tgt>.tsv`` has a header with (at least) ``path``, ``translation`` and ``split``; split
is ``train``, ``dev``, ``test`` or ``train_covost`` (extra training clips; the train set is train +
train_covost, as in the official ``get_covost_splits.py``). It was written by pandas with a backslash
escape character, so it is read with one (``\\"`` is a quote, ``\\<tab>`` a tab). The transcript and
``client_id`` are taken from the file when it has them, else from Common Voice's ``validated.tsv`` (then
``invalidated.tsv`` and ``other.tsv``) by clip. Instead of the combined file, the per-split files that
``get_covost_splits.py`` writes (``covost_v2.<src>_<tgt>.<split>.tsv``: path, sentence, translation,
client_id) are read too.

Utterances: ids and speakers as Common Voice's (:func:`part.data.corpora.commonvoice.utterance_id`), so
a clip in both corpora is the same utterance; text = the source transcript, ``text.<tgt>`` = the
translation (both verbatim but for tabs and line breaks, which may be escaped inside a field), language
= the source language. Skipped with a warning naming the TSV and line: rows with an unknown split
value, empty translations, a clip listed twice for one split (the first row is kept), a train clip
that is also a dev or test clip (and a dev clip that is also a test clip), clips without a transcript,
and everything Common Voice's own rows are skipped for.

Memory does not grow with the corpus: the TSVs are read row by row, and when transcripts come from
Common Voice's TSVs, both sides are sorted by clip on disk and joined (only the dev and test clips of a
pair are held in memory).

Output (``--out_dir``): ``covost2_<split>_<src>_<tgt>`` per pair and ``covost2_<split>`` over all pairs
(an English clip translated into several languages gets one ``text.<tgt>`` per language).

Usage::

    python -m part.data.corpora.covost2 --covost_dir /data/covost2 --cv_root /data/cv-corpus-4-2019-12-10 \\
        --pairs fr_en,de_en,zh-CN_en --out_dir data/local/covost2
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

from part.data.corpora import commonvoice
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
    kaldi_value,
    language_code,
    read_tsv_with_header,
    run_main,
    split_list,
)
from part.data.corpora.wavscp import WavScpBuilder
from part.data.external_sort import ExternalSorter

logger = logging.getLogger("part.data.corpora.covost2")

CORPUS = "covost2"
PREFIX = "covost_v2"
ESCAPE = "\\"
# covost_v2.<src>_<tgt>.tsv split values -> our split (get_covost_splits.py, version 2).
SPLIT_VALUES = {"train": "train", "train_covost": "train", "dev": "dev", "test": "test"}
CV_LOOKUP_TSVS = ("validated.tsv", "invalidated.tsv", "other.tsv")
STRICT_REASONS = ("missing clip", "unreadable audio", "malformed row", "no transcript")
ADVICE = {
    "missing clip": "The Common Voice root (--cv_root, COVOST2_CV_ROOT in the recipes) must be the release "
                    "CoVoST 2 is built on (cv-corpus-4-2019-12-10) or a later one",
    "no transcript": "The clip is in none of validated/invalidated/other.tsv of the Common Voice root",
}


def parse_pair(pair: str) -> Tuple[str, str]:
    """``"zh-CN_en"`` -> ``("zh-CN", "en")`` (the codes of the file names)."""
    src, sep, tgt = pair.strip().rpartition("_")
    if not sep or not src or not tgt:
        raise CorpusError(f"bad CoVoST pair '{pair}': write <src>_<tgt> as in the file names, e.g. fr_en, zh-CN_en")
    return src, tgt


def covost_tsvs(covost_dir: PathLike, src: str, tgt: str) -> Dict[str, Path]:
    """``{"all": combined file}`` or ``{split: per-split file}``, whichever the folder has."""
    covost_dir = Path(covost_dir)
    combined = covost_dir / f"{PREFIX}.{src}_{tgt}.tsv"
    if combined.is_file():
        return {"all": combined}
    per_split = {s: covost_dir / f"{PREFIX}.{src}_{tgt}.{s}.tsv" for s in SPLITS}
    if all(p.is_file() for p in per_split.values()):
        return per_split
    archive = covost_dir / f"{PREFIX}.{src}_{tgt}.tsv.tar.gz"
    hint = f" ({archive} is there: extract it with `tar -xzf {archive} -C {covost_dir}`)" if archive.is_file() else ""
    raise CorpusLayoutError(f"no {combined}{hint}; the CoVoST 2 folder must hold {PREFIX}.<src>_<tgt>.tsv for "
                            f"every pair asked for", root="covost_dir")


def check_layout(covost_dir: PathLike, cv_root: PathLike, pairs: Sequence[str]) -> None:
    if not str(covost_dir) or not Path(covost_dir).is_dir():
        raise CorpusLayoutError(f"the CoVoST 2 folder '{covost_dir}' is not a directory; it must hold "
                                f"{PREFIX}.<src>_<tgt>.tsv (e.g. {PREFIX}.fr_en.tsv)", root="covost_dir")
    if not str(cv_root) or not Path(cv_root).is_dir():
        raise CorpusLayoutError(f"the Common Voice root of CoVoST 2 '{cv_root}' is not a directory; it must hold "
                                "<src>/clips/ and <src>/validated.tsv", root="cv_root")
    for pair in pairs:
        src, tgt = parse_pair(pair)
        covost_tsvs(covost_dir, src, tgt)
        clips = Path(cv_root) / src / "clips"
        if not clips.is_dir():
            raise CorpusLayoutError(f"no {clips}/; the Common Voice root of CoVoST 2 must hold the clips of "
                                    f"every source language ({src})", root="cv_root")


def covost_rows(files: Dict[str, Path], skips: Skips) -> Iterator[Tuple[str, Path, int, Dict[str, str]]]:
    """``(split, file, line, row)`` for every row of a pair's TSV(s)."""
    for key, tsv in files.items():
        required = ("path", "translation", "split") if key == "all" else ("path", "translation")
        for number, row in read_tsv_with_header(tsv, required, escapechar=ESCAPE, skips=skips):
            if key == "all":
                split = SPLIT_VALUES.get(row["split"].strip())
                if split is None:
                    skips.add("unknown split value", f"{tsv}:{number}", row["path"],
                              f"'{row['split']}' is none of {', '.join(SPLIT_VALUES)}")
                    continue
            else:
                split = key
            yield split, tsv, number, row


def eval_clips(files: Dict[str, Path]) -> Dict[str, Tuple[str, str]]:
    """``{clip: (split, where)}`` of the test rows, then the dev rows, of a pair (a clip in both counts as test)."""
    found: Dict[str, Tuple[str, str]] = {}
    rows = [(split, f"{tsv}:{number}", row) for split, tsv, number, row in covost_rows(files, Skips())
            if split in ("dev", "test")]
    for wanted in ("test", "dev"):
        for split, where, row in rows:
            if split == wanted:
                found.setdefault(Path(row["path"].strip()).name, (split, where))
    return found


def _joined_with_transcripts(pending: ExternalSorter, cv_root: PathLike, src: str, skips: Skips,
                             lang_dir: Path) -> Iterator[Tuple[str, str, Dict[str, str]]]:
    """``(split, where, row)`` of the CoVoST rows in ``pending`` with ``sentence`` and ``client_id``
    filled from Common Voice's TSVs (the first of :data:`CV_LOOKUP_TSVS` that lists the clip wins).
    Both sides go through one external sort by clip, so neither is held in memory."""
    for rank, name in enumerate(CV_LOOKUP_TSVS):
        tsv = Path(cv_root) / src / name
        if tsv.is_file():
            for number, row in read_tsv_with_header(tsv, commonvoice.REQUIRED_COLUMNS, free_text_column="sentence"):
                clip = Path(row["path"].strip()).name
                pending.add(f"{clip}\t0\t{rank}{number:012d}\t"
                            + json.dumps([row["sentence"], row["client_id"]], ensure_ascii=False))
    for clip, group in itertools.groupby(pending, key=lambda line: line.partition("\t")[0]):
        known = None
        for line in group:
            _, source, _, payload = line.split("\t", 3)
            if source == "0":
                known = known or json.loads(payload)
                continue
            split, where, row = json.loads(payload)
            if known is None:
                skips.add("no transcript", where, clip, f"not in {', '.join(CV_LOOKUP_TSVS)} of {lang_dir}")
                continue
            yield split, where, dict(row, sentence=known[0], client_id=known[1])


def read_pair(covost_dir: PathLike, cv_root: PathLike, pair: str, splits: Sequence[str],
              builder: WavScpBuilder, skips: Skips, tmp_dir: Optional[PathLike] = None
              ) -> Iterator[Tuple[str, Utterance, str]]:
    """``(split, utterance, where)`` of one translation direction, row by row (``tmp_dir``: where the
    join with Common Voice's transcripts sorts, default the system's temporary folder)."""
    src, tgt = parse_pair(pair)
    tgt_lang = language_code(tgt, f"CoVoST pair {pair}")
    files = covost_tsvs(covost_dir, src, tgt)
    reader = commonvoice.ClipRows(cv_root, src, builder)
    if reader.lang == tgt_lang:
        raise CorpusError(f"CoVoST pair {pair}: source and target are the same language")
    evaluation = eval_clips(files)

    def usable(split: str, where: str, row: Dict[str, str]) -> Optional[Tuple[str, Utterance, str]]:
        utt = reader.utterance(where, {"path": row["path"], "client_id": row["client_id"],
                                       "sentence": row["sentence"]}, skips)
        if utt is None:
            return None
        utt.translations[tgt_lang] = kaldi_value(row["translation"])
        return split, utt, where

    with ExternalSorter(tmp_dir) as pending:
        for split, tsv, number, row in covost_rows(files, skips):
            if split not in splits:
                continue
            where = f"{tsv}:{number}"
            clip = Path(row["path"].strip()).name
            other = evaluation.get(clip)
            if split != "test" and other is not None and other[0] != split:
                skips.add("clip in two splits", where, clip, f"also in {other[1]} ({other[0]}); kept there only")
                continue
            if not kaldi_value(row["translation"]):
                skips.add("empty translation", where, clip)
                continue
            row = {"path": clip, "translation": row["translation"], "sentence": row.get("sentence"),
                   "client_id": row.get("client_id")}
            if row["sentence"] is None or row["client_id"] is None:
                pending.add(f"{clip}\t1\t{number:012d}\t" + json.dumps([split, where, row], ensure_ascii=False))
                continue
            found = usable(split, where, row)
            if found:
                yield found
        if pending.count:
            for split, where, row in _joined_with_transcripts(pending, cv_root, src, skips, reader.lang_dir):
                found = usable(split, where, row)
                if found:
                    yield found


def prepare(
    covost_dir: PathLike,
    cv_root: PathLike,
    pairs: Sequence[str],
    out_dir: PathLike,
    splits: Sequence[str] = SPLITS,
    audio_format: str = "auto",
    strict: bool = False,
) -> PrepResult:
    """Write ``covost2_<split>_<src>_<tgt>`` and ``covost2_<split>`` data dirs below ``out_dir``.

    Args:
        covost_dir: the folder holding ``covost_v2.<src>_<tgt>.tsv``.
        cv_root: the Common Voice release folder holding ``<src>/clips/`` and ``<src>/validated.tsv``.
        pairs: translation directions as in the file names (``fr_en``, ``zh-CN_en``, ``en_de``).
        (the rest as in :func:`part.data.corpora.commonvoice.prepare`)
    """
    pairs = list(pairs)
    if not pairs:
        raise CorpusError("no CoVoST 2 pairs given (--pairs, e.g. fr_en,zh-CN_en)")
    check_splits(splits, SPLITS, "CoVoST 2")
    check_layout(covost_dir, cv_root, pairs)
    builder = WavScpBuilder(audio_format)
    with CorpusSets(out_dir, CORPUS, STRICT_REASONS, strict, ADVICE) as sets:
        for pair in pairs:
            with sets.reading(f"covost2 {pair}") as skips:
                for split, utt, where in read_pair(covost_dir, cv_root, pair, splits, builder, skips, out_dir):
                    sets.add(split, pair, utt, where)
        return sets.close(splits, pairs)


def get_parser() -> argparse.ArgumentParser:
    parser = corpus_parser("covost2", "Kaldi data dirs with translations (text.<tgt>) from CoVoST 2: "
                                      "<out_dir>/covost2_<split>_<src>_<tgt> and <out_dir>/covost2_<split>.")
    parser.add_argument("--covost_dir", required=True, help=f"folder holding {PREFIX}.<src>_<tgt>.tsv")
    parser.add_argument("--cv_root", required=True,
                        help="Common Voice release folder holding <src>/clips/ and <src>/validated.tsv")
    parser.add_argument("--pairs", required=True, help="directions as in the file names: fr_en,zh-CN_en,en_de")
    add_output_arguments(parser)
    add_common_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.covost_dir, a.cv_root, split_list(a.pairs), a.out_dir,
                                      split_list(a.splits), a.audio_format, a.strict), args)


if __name__ == "__main__":
    raise SystemExit(main())
