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
translation, language = the source language.

Output (``--out_dir``): ``covost2_<split>_<src>_<tgt>`` per pair and ``covost2_<split>`` over all pairs
(an English clip translated into several languages gets one ``text.<tgt>`` per language).

Usage::

    python -m part.data.corpora.covost2 --covost_dir /data/covost2 --cv_root /data/cv-corpus-4-2019-12-10 \\
        --pairs fr_en,de_en,zh-CN_en --out_dir data/local/covost2
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from part.data.corpora import commonvoice
from part.data.corpora.base import (
    SPLITS,
    CorpusError,
    CorpusLayoutError,
    PathLike,
    PrepResult,
    Skips,
    Utterance,
    add_common_arguments,
    clean_text,
    language_code,
    read_tsv_with_header,
    run_main,
    split_list,
    write_sets,
)
from part.data.corpora.wavscp import WavScpBuilder

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


def cv_transcripts(cv_root: PathLike, src: str) -> Dict[str, Tuple[str, str]]:
    """``{clip file name: (sentence, client_id)}`` from the Common Voice TSVs of one locale; the first
    TSV of :data:`CV_LOOKUP_TSVS` that lists a clip wins."""
    found: Dict[str, Tuple[str, str]] = {}
    for name in CV_LOOKUP_TSVS:
        tsv = Path(cv_root) / src / name
        if not tsv.is_file():
            continue
        for _, row in read_tsv_with_header(tsv, commonvoice.REQUIRED_COLUMNS, free_text_column="sentence"):
            found.setdefault(Path(row["path"].strip()).name, (row["sentence"], row["client_id"]))
    return found


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


def read_pair(covost_dir: PathLike, cv_root: PathLike, pair: str, splits: Sequence[str],
              builder: WavScpBuilder, skips: Skips) -> Dict[str, List[Utterance]]:
    """``{split: utterances}`` of one translation direction."""
    src, tgt = parse_pair(pair)
    tgt_lang = language_code(tgt, f"CoVoST pair {pair}")
    files = covost_tsvs(covost_dir, src, tgt)
    reader = commonvoice.ClipRows(cv_root, src, builder)
    if reader.lang == tgt_lang:
        raise CorpusError(f"CoVoST pair {pair}: source and target are the same language")
    lookup: Optional[Dict[str, Tuple[str, str]]] = None
    found: Dict[str, List[Utterance]] = {split: [] for split in splits}
    seen: Dict[str, set] = {split: set() for split in splits}
    for split, tsv, number, row in covost_rows(files, skips):
        if split not in found:
            continue
        where = f"{tsv}:{number}"
        clip = Path(row["path"].strip()).name
        translation = clean_text(row["translation"])
        if clip in seen[split]:
            skips.add("duplicate row", where, clip, "the clip is listed twice")
            continue
        seen[split].add(clip)
        if not translation:
            skips.add("empty translation", where, clip)
            continue
        sentence, client_id = row.get("sentence"), row.get("client_id")
        if sentence is None or client_id is None:
            if lookup is None:
                lookup = cv_transcripts(cv_root, src)
            known = lookup.get(clip)
            if known is None:
                skips.add("no transcript", where, clip, f"not in {', '.join(CV_LOOKUP_TSVS)} of {reader.lang_dir}")
                continue
            sentence = known[0] if sentence is None else sentence
            client_id = known[1] if client_id is None else client_id
        utt = reader.utterance(where, {"path": clip, "client_id": client_id, "sentence": sentence}, skips)
        if utt is None:
            continue
        utt.translations[tgt_lang] = translation
        found[split].append(utt)
    return found


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
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise CorpusError(f"unknown split(s) {', '.join(unknown)}; CoVoST 2 splits are {', '.join(SPLITS)}")
    check_layout(covost_dir, cv_root, pairs)
    builder = WavScpBuilder(audio_format)
    sets: Dict[str, Dict[str, List[Utterance]]] = {split: {} for split in splits}
    all_skips = Skips()
    for pair in pairs:
        skips = Skips()
        for split, utts in read_pair(covost_dir, cv_root, pair, splits, builder, skips).items():
            sets[split][pair] = utts
        skips.report(f"covost2 {pair}", STRICT_REASONS, strict, ADVICE)
        all_skips.extend(skips)
    return write_sets(out_dir, CORPUS, sets, all_skips)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.corpora.covost2",
        description="Kaldi data dirs with translations (text.<tgt>) from CoVoST 2: "
                    "<out_dir>/covost2_<split>_<src>_<tgt> and <out_dir>/covost2_<split>.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--covost_dir", required=True, help=f"folder holding {PREFIX}.<src>_<tgt>.tsv")
    parser.add_argument("--cv_root", required=True,
                        help="Common Voice release folder holding <src>/clips/ and <src>/validated.tsv")
    parser.add_argument("--pairs", required=True, help="directions as in the file names: fr_en,zh-CN_en,en_de")
    parser.add_argument("--out_dir", required=True, help="where the data dirs are written")
    parser.add_argument("--splits", default=",".join(SPLITS), help="splits to prepare")
    add_common_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.covost_dir, a.cv_root, split_list(a.pairs), a.out_dir,
                                      split_list(a.splits), a.audio_format, a.strict), args)


if __name__ == "__main__":
    raise SystemExit(main())
