"""FLEURS (Google, n-way parallel read speech in 102 languages): Kaldi data dirs per language.

Release layout (the ``data/`` folder of the google/fleurs dataset repository; the root may be that
folder or its parent)::

    <root>/<code>/{train,dev,test}.tsv          code: de_de, cmn_hans_cn, en_us, ... (102 configs)
    <root>/<code>/audio/{train,dev,test}.tar.gz  16 kHz wav; each archive holds <split>/<file>.wav

Extract the archives in place first (``tar -xzf <code>/audio/train.tar.gz -C <code>/audio`` gives
``<code>/audio/train/*.wav``); ``audio/<split>/<split>/`` and ``audio/`` itself are searched too.

The TSVs have no header and seven tab-separated columns: sentence id (the FLoRes sentence, shared by
every language and by every speaker who read it), wav file name, raw transcription (case and
punctuation), normalised transcription (lower case, no punctuation), the characters of the
transcription (``|`` between words), number of samples, gender (MALE/FEMALE/OTHER).

Utterances: several rows share a sentence id (one per speaker), so the utterance id is built from the
wav file name: ``fleurs_<code>_<sentence id>_<file stem>``; FLEURS gives no speaker ids, so each
utterance is its own speaker. Text: the raw transcription (``--transcript normalized`` for the other
one), kept verbatim but for tabs and line breaks. ``--translate_to en`` adds ``text.en`` with the raw
transcription of the same sentence id in the target language's config (FLEURS is parallel), for every
language but the target itself. Skipped with a warning naming the TSV and line: rows without 7 fields,
empty transcripts, a wav file listed twice, wav files that are missing or unreadable, and sentence
ids or file names that cannot be part of a Kaldi id.

Output (``--out_dir``): ``fleurs_<split>_<code>`` per language and ``fleurs_<split>`` over all of them.

Usage::

    python -m part.data.corpora.fleurs --root /data/fleurs --langs de_de,cmn_hans_cn \\
        --out_dir data/local/fleurs [--translate_to en]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

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
    read_tsv_rows,
    run_main,
    split_list,
)
from part.data.corpora.wavscp import UnreadableAudio, WavScpBuilder
from part.data.languages import canonical_code

logger = logging.getLogger("part.data.corpora.fleurs")

CORPUS = "fleurs"
COLUMNS = ("id", "file_name", "raw_transcription", "transcription", "characters", "num_samples", "gender")
TRANSCRIPTS = {"raw": "raw_transcription", "normalized": "transcription"}
STRICT_REASONS = ("missing audio", "unreadable audio", "malformed row")
ADVICE = {
    "missing audio": "Extract audio/<split>.tar.gz of the language",
    "malformed row": "FLEURS rows have 7 tab-separated fields",
}


def lang_dir(root: PathLike, code: str) -> Path:
    """``<root>/<code>``, or ``<root>/data/<code>`` for a clone of the dataset repository."""
    root = Path(root)
    if (root / code).is_dir() or not (root / "data" / code).is_dir():
        return root / code
    return root / "data" / code


def audio_dirs(language_dir: Path, split: str) -> List[Path]:
    """Where the wav files of a split may be once its archive is extracted, most likely first."""
    audio = language_dir / "audio"
    return [audio / split, audio / split / split, audio]


def _has_wav(directory: Path) -> bool:
    return directory.is_dir() and any(p.suffix == ".wav" for p in directory.iterdir())


def check_layout(root: PathLike, codes: Sequence[str], splits: Sequence[str] = SPLITS) -> None:
    """Raise :class:`CorpusLayoutError` unless each language has its TSVs and extracted audio."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise CorpusLayoutError(f"the FLEURS root '{root}' is not a directory; it must hold <code>/train.tsv "
                                "(e.g. de_de/train.tsv) and <code>/audio/")
    for code in codes:
        directory = lang_dir(root, code)
        for split in splits:
            tsv = directory / f"{split}.tsv"
            if not tsv.is_file():
                raise CorpusLayoutError(f"no {tsv}; the FLEURS root must hold <code>/{split}.tsv for every "
                                        f"language asked for ({', '.join(codes)})")
            if not any(_has_wav(d) for d in audio_dirs(directory, split)):
                archive = directory / "audio" / f"{split}.tar.gz"
                if archive.is_file():
                    raise CorpusLayoutError(f"{archive} is not extracted: run `tar -xzf {archive} -C "
                                            f"{directory / 'audio'}` (it makes {directory / 'audio' / split}/)")
                raise CorpusLayoutError(f"no wav files for {code} {split}: expected {directory / 'audio' / split}/"
                                        f"*.wav (from audio/{split}.tar.gz)")


def read_rows(tsv: Path, skips: Skips) -> Iterator[Tuple[int, Dict[str, str]]]:
    """The rows of a FLEURS TSV as ``(line, {column: value})``; wrong field counts go to ``skips``."""
    for number, fields in read_tsv_rows(tsv):
        if len(fields) != len(COLUMNS):
            skips.add("malformed row", f"{tsv}:{number}", fields[0] if fields else "",
                      f"{len(fields)} fields, expected {len(COLUMNS)}")
            continue
        yield number, dict(zip(COLUMNS, fields))


def utterance_id(code: str, sentence_id: str, file_name: str) -> str:
    return f"fleurs_{code}_{sentence_id.strip()}_{Path(file_name.strip()).stem}"


def parallel_transcripts(root: PathLike, code: str, transcript: str) -> Dict[str, str]:
    """``{sentence id: transcript}`` over all splits of one language (for ``--translate_to``)."""
    directory = lang_dir(root, code)
    found: Dict[str, str] = {}
    for split in SPLITS:
        tsv = directory / f"{split}.tsv"
        if tsv.is_file():
            for _, row in read_rows(tsv, Skips()):
                text = kaldi_value(row[TRANSCRIPTS[transcript]])
                if text:
                    found.setdefault(row["id"].strip(), text)
    return found


def find_config(root: PathLike, lang: str) -> str:
    """The FLEURS config folder of a registry language (``en`` -> ``en_us``) present below ``root``."""
    base = Path(root) / "data" if (Path(root) / "data").is_dir() else Path(root)
    candidates = []
    for child in sorted(base.iterdir()):
        if (child / "train.tsv").is_file() or (child / "test.tsv").is_file():
            try:
                if canonical_code(child.name) == lang:
                    candidates.append(child.name)
            except KeyError:
                continue
    if not candidates:
        raise CorpusLayoutError(f"--translate_to {lang}: no FLEURS config of language '{lang}' below {base} "
                                "(e.g. en_us/ for en); download it to take translations from it")
    return candidates[0]


def read_split(root: PathLike, code: str, split: str, builder: WavScpBuilder, transcript: str,
               translations: Dict[str, Dict[str, str]], skips: Skips) -> Iterator[Tuple[Utterance, str]]:
    """``(utterance, where)`` of one split of one language (``translations``: tgt -> {sentence id: text})."""
    directory = lang_dir(root, code)
    lang = language_code(code, f"FLEURS config {directory}")
    tsv = directory / f"{split}.tsv"
    folders = audio_dirs(directory, split)
    seen: Set[str] = set()  # a split of FLEURS has a few thousand rows: their names fit in memory
    for number, row in read_rows(tsv, skips):
        where = f"{tsv}:{number}"
        file_name = Path(row["file_name"].strip()).name
        text = kaldi_value(row[TRANSCRIPTS[transcript]])
        if not file_name:
            skips.add("malformed row", where, row["id"], "empty file name")
            continue
        if file_name in seen:
            skips.add("duplicate row", where, file_name, "the wav file is listed twice")
            continue
        seen.add(file_name)
        if not text:
            skips.add("empty transcript", where, file_name)
            continue
        utt_id = utterance_id(code, row["id"], file_name)
        problem = ids_problem(utterance=utt_id)
        if problem:
            skips.add("bad id", where, file_name, problem)
            continue
        audio = next((d / file_name for d in folders if (d / file_name).is_file()), None)
        if audio is None:
            skips.add("missing audio", where, file_name, f"not in {folders[0]}")
            continue
        try:
            wav = builder.entry(audio)
        except UnreadableAudio as err:
            skips.add("unreadable audio", where, file_name, str(err))
            continue
        utt = Utterance(utt_id, utt_id, lang, text, wav)
        for tgt, by_sentence in translations.items():
            if tgt != lang and row["id"].strip() in by_sentence:
                utt.translations[tgt] = by_sentence[row["id"].strip()]
        yield utt, where


def prepare(
    root: PathLike,
    codes: Sequence[str],
    out_dir: PathLike,
    splits: Sequence[str] = SPLITS,
    audio_format: str = "auto",
    strict: bool = False,
    transcript: str = "raw",
    translate_to: Sequence[str] = (),
) -> PrepResult:
    """Write ``fleurs_<split>_<code>`` and ``fleurs_<split>`` data dirs below ``out_dir``.

    Args:
        root: the folder holding ``<code>/train.tsv`` (or its parent, holding ``data/``).
        codes: FLEURS configs (de_de, cmn_hans_cn, ...).
        transcript: ``raw`` (case, punctuation) or ``normalized``.
        translate_to: registry languages whose parallel transcripts become ``text.<lang>``.
        (the rest as in :func:`part.data.corpora.commonvoice.prepare`)
    """
    codes = list(codes)
    if not codes:
        raise CorpusError("no FLEURS languages given (--langs, e.g. de_de,cmn_hans_cn)")
    check_splits(splits, SPLITS, "FLEURS")
    if transcript not in TRANSCRIPTS:
        raise CorpusError(f"--transcript must be one of {', '.join(TRANSCRIPTS)}, not '{transcript}'")
    check_layout(root, codes, splits)
    translations: Dict[str, Dict[str, str]] = {}
    for tgt in translate_to:
        tgt_lang = language_code(tgt, "--translate_to")
        translations[tgt_lang] = parallel_transcripts(root, find_config(root, tgt_lang), "raw")
    builder = WavScpBuilder(audio_format)
    with CorpusSets(out_dir, CORPUS, STRICT_REASONS, strict, ADVICE) as sets:
        for code in codes:
            for split in splits:
                with sets.reading(f"fleurs {code} {split}") as skips:
                    for utt, where in read_split(root, code, split, builder, transcript, translations, skips):
                        sets.add(split, code, utt, where)
        return sets.close(splits, codes)


def get_parser() -> argparse.ArgumentParser:
    parser = corpus_parser("fleurs", "Kaldi data dirs from FLEURS: <out_dir>/fleurs_<split>_<code> and "
                                     "<out_dir>/fleurs_<split>.")
    parser.add_argument("--root", required=True, help="folder holding <code>/train.tsv and <code>/audio/")
    parser.add_argument("--langs", required=True, help="FLEURS configs, comma separated (de_de,cmn_hans_cn)")
    add_output_arguments(parser)
    parser.add_argument("--transcript", choices=tuple(TRANSCRIPTS), default="raw",
                        help="raw transcription (case, punctuation) or the normalised one")
    parser.add_argument("--translate_to", default="",
                        help="languages (e.g. en) whose parallel FLEURS transcripts become text.<lang>")
    add_common_arguments(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.root, split_list(a.langs), a.out_dir, split_list(a.splits),
                                      a.audio_format, a.strict, a.transcript, split_list(a.translate_to)), args)


if __name__ == "__main__":
    raise SystemExit(main())
