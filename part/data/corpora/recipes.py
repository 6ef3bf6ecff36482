"""Stage 1 of the recipes: what ``egs/<recipe>/local/data.sh`` runs.

Usage (``local/data.sh`` runs it through ``utils/prepare_corpus.sh``, which exports the variables of the
recipe's db.sh: each corpus root option defaults to its variable, e.g. ``--commonvoice`` to ``$COMMONVOICE``)::

    python -m part.data.corpora.recipes commonvoice  --commonvoice /data/cv-corpus-15.0 [--langs de,fr] ...
    python -m part.data.corpora.recipes fleurs       --fleurs /data/fleurs [--langs de_de,cmn_hans_cn] ...
    python -m part.data.corpora.recipes wenetspeech  --wenetspeech /data/WenetSpeech [--train_subset M] ...
    python -m part.data.corpora.recipes covost2      --covost2 /data/covost2 --covost2_cv_root /data/cv-corpus-4 ...
    python -m part.data.corpora.recipes multilingual --commonvoice ... --fleurs ... --covost2 ... ...

Each recipe prepares its corpora into ``<data_dir>/local/<corpus>/`` (one data dir per language and
split, and one per split over all languages; see the corpus modules), then writes the sets the later
stages read:

- ``<data_dir>/train`` and ``<data_dir>/dev``: all corpora and languages of the recipe together
  (``utt2lang`` tells the languages apart, ``text.<tgt>`` marks translation references). Utterances
  that are in any evaluation set are left out of train, and those of a test set out of dev (CoVoST 2
  reuses Common Voice clips, and the two corpora split them differently).
- ``<data_dir>/test_<name>``: one evaluation set per corpus (``test_commonvoice``, ``test_fleurs``,
  ``test_covost2``; WenetSpeech: ``test_wenetspeech_net``, ``test_wenetspeech_meeting``).

The last line on stdout is ``test_sets: <name> <name> ...``, the test sets made (log lines go to stderr).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence

from part.data.corpora import commonvoice, covost2, fleurs, wenetspeech
from part.data.corpora.base import (
    CorpusError,
    CorpusLayoutError,
    PathLike,
    add_common_arguments,
    combine_data_dirs,
    corpus_parser,
    run_main,
    split_list,
)
from part.data.datadir import validate_data_dir

logger = logging.getLogger("part.data.corpora.recipes")

# Defaults: languages of the paper's corpora that the language registry knows and that all three of
# Common Voice, FLEURS and CoVoST 2 (xx->en) have.
DEFAULT_CV_LANGS = "en,de,fr,es,it,ja,zh-CN"
DEFAULT_FLEURS_LANGS = "en_us,de_de,fr_fr,es_419,it_it,ja_jp,cmn_hans_cn"
DEFAULT_COVOST_PAIRS = "de_en,fr_en,es_en,it_en,ja_en,zh-CN_en"

# Corpus root options and the db.sh variables that are their defaults, with what the root must hold.
ROOTS = {
    "commonvoice": ("COMMONVOICE", "the extracted Common Voice release folder (e.g. cv-corpus-15.0-2023-09-08) "
                                   "holding <locale>/train.tsv and <locale>/clips/"),
    "fleurs": ("FLEURS", "the FLEURS folder holding <code>/train.tsv and <code>/audio/ (e.g. de_de/train.tsv)"),
    "wenetspeech": ("WENETSPEECH", "the WenetSpeech folder holding WenetSpeech.json and audio/"),
    "covost2": ("COVOST2", "the folder holding the CoVoST 2 translations covost_v2.<src>_<tgt>.tsv"),
    "covost2_cv_root": ("COVOST2_CV_ROOT", "the Common Voice release folder whose <src>/clips/ and "
                                           "<src>/validated.tsv CoVoST 2 uses (cv-corpus-4-2019-12-10 or later)"),
}


@contextlib.contextmanager
def blame_root(option: str, value: str, tag: Optional[str] = None) -> Iterator[None]:
    """Turn layout errors of a corpus into a message that names the db.sh variable to fix.

    With ``tag``, only errors about that root (:attr:`CorpusLayoutError.root`) are blamed on ``option``.
    """
    variable, what = ROOTS[option]
    if not value:
        raise CorpusError(f"{variable} is not set: set it in db.sh (or export {variable}=...) to {what}")
    try:
        yield
    except CorpusLayoutError as err:
        if tag is not None and err.root != tag:
            raise
        raise CorpusError(f"{err}. Check {variable}='{value}' in db.sh: it must be {what}") from None


def _summary(path: Path) -> str:
    return validate_data_dir(path).summary_counts.describe()


def write_recipe_sets(data_dir: PathLike, train: Sequence[Path], dev: Sequence[Path],
                      tests: Dict[str, Sequence[Path]]) -> List[str]:
    """Write ``train``, ``dev`` and ``test_<name>`` from corpus data dirs; return the test set names."""
    data_dir = Path(data_dir)
    test_dirs = []
    for name, inputs in tests.items():
        if inputs:
            combine_data_dirs(inputs, data_dir / name)
            test_dirs.append(data_dir / name)
            logger.info(_summary(data_dir / name))
        else:
            logger.warning("%s: the corpus has no utterances for this test set (a release without that split?); "
                           "it is not made, and the later stages test on the others", data_dir / name)
    if not test_dirs:
        raise CorpusError("no test set could be made (every evaluation split came out empty)")
    if not dev:
        raise CorpusError("no dev set could be made (every dev split came out empty)")
    if not train:
        raise CorpusError("no train set could be made (every train split came out empty)")
    combine_data_dirs(dev, data_dir / "dev", exclude=test_dirs)
    logger.info(_summary(data_dir / "dev"))
    combine_data_dirs(train, data_dir / "train", exclude=[data_dir / "dev"] + test_dirs)
    logger.info(_summary(data_dir / "train"))
    return [path.name for path in test_dirs]


def _split_dirs(results, split: str) -> List[Path]:
    return [r.combined[split] for r in results if split in r.combined]


def run_commonvoice(args) -> List[str]:
    with blame_root("commonvoice", args.commonvoice):
        result = commonvoice.prepare(args.commonvoice, split_list(args.langs),
                                     Path(args.data_dir) / "local" / "commonvoice", audio_format=args.audio_format,
                                     strict=args.strict, train_tsv=args.train_tsv)
    return write_recipe_sets(args.data_dir, _split_dirs([result], "train"), _split_dirs([result], "dev"),
                             {"test_commonvoice": _split_dirs([result], "test")})


def run_fleurs(args) -> List[str]:
    with blame_root("fleurs", args.fleurs):
        result = fleurs.prepare(args.fleurs, split_list(args.langs), Path(args.data_dir) / "local" / "fleurs",
                                audio_format=args.audio_format, strict=args.strict, transcript=args.transcript,
                                translate_to=split_list(args.translate_to))
    return write_recipe_sets(args.data_dir, _split_dirs([result], "train"), _split_dirs([result], "dev"),
                             {"test_fleurs": _split_dirs([result], "test")})


def run_wenetspeech(args) -> List[str]:
    train = wenetspeech.subset_label(args.train_subset)
    if train not in ("L", "M", "S", "W"):
        raise CorpusError(f"--train_subset must be L, M, S or W, not '{args.train_subset}'")
    audio_format = "path" if args.audio_format == "auto" else args.audio_format
    with blame_root("wenetspeech", args.wenetspeech):
        result = wenetspeech.prepare(args.wenetspeech, [train, "DEV", "TEST_NET", "TEST_MEETING"],
                                     Path(args.data_dir) / "local" / "wenetspeech", audio_format, args.strict)
    sets = result.combined
    return write_recipe_sets(
        args.data_dir, [sets[wenetspeech.SUBSETS[train]]] if wenetspeech.SUBSETS[train] in sets else [],
        [sets["dev"]] if "dev" in sets else [],
        {"test_wenetspeech_net": [sets["test_net"]] if "test_net" in sets else [],
         "test_wenetspeech_meeting": [sets["test_meeting"]] if "test_meeting" in sets else []})


def _prepare_covost(args, pairs: Sequence[str]):
    # The clips of CoVoST 2 are Common Voice's: without its own root, use the Common Voice one.
    cv_root = args.covost2_cv_root or getattr(args, "commonvoice", "")
    with blame_root("covost2", args.covost2, "covost_dir"), blame_root("covost2_cv_root", cv_root, "cv_root"):
        return covost2.prepare(args.covost2, cv_root, pairs, Path(args.data_dir) / "local" / "covost2",
                               audio_format=args.audio_format, strict=args.strict)


def run_covost2(args) -> List[str]:
    result = _prepare_covost(args, split_list(args.pairs))
    return write_recipe_sets(args.data_dir, _split_dirs([result], "train"), _split_dirs([result], "dev"),
                             {"test_covost2": _split_dirs([result], "test")})


def run_multilingual(args) -> List[str]:
    results, tests = [], {}
    local = Path(args.data_dir) / "local"
    if split_list(args.cv_langs):
        with blame_root("commonvoice", args.commonvoice):
            result = commonvoice.prepare(args.commonvoice, split_list(args.cv_langs), local / "commonvoice",
                                         audio_format=args.audio_format, strict=args.strict,
                                         train_tsv=args.train_tsv)
        results.append(result)
        tests["test_commonvoice"] = _split_dirs([result], "test")
    if split_list(args.fleurs_langs):
        with blame_root("fleurs", args.fleurs):
            result = fleurs.prepare(args.fleurs, split_list(args.fleurs_langs), local / "fleurs",
                                    audio_format=args.audio_format, strict=args.strict,
                                    translate_to=split_list(args.fleurs_translate_to))
        results.append(result)
        tests["test_fleurs"] = _split_dirs([result], "test")
    if split_list(args.covost_pairs):
        result = _prepare_covost(args, split_list(args.covost_pairs))
        results.append(result)
        tests["test_covost2"] = _split_dirs([result], "test")
    if not results:
        raise CorpusError("nothing to prepare: --cv_langs, --fleurs_langs and --covost_pairs are all empty")
    return write_recipe_sets(args.data_dir, _split_dirs(results, "train"), _split_dirs(results, "dev"), tests)


def _add_root(parser: argparse.ArgumentParser, option: str) -> None:
    variable, what = ROOTS[option]
    parser.add_argument(f"--{option}", default=os.environ.get(variable, ""),
                        help=f"{what}; taken from ${variable} (db.sh, exported by utils/prepare_corpus.sh)")


def get_parser() -> argparse.ArgumentParser:
    parser = corpus_parser("recipes", "Stage 1 of the recipes: data/train, data/dev and data/test_<corpus> from "
                                      "the corpora; the last stdout line is 'test_sets: ...'.")
    sub = parser.add_subparsers(dest="recipe", required=True)

    def recipe(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text,
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--data_dir", default="data", help="where train, dev, test_* and local/ go")
        add_common_arguments(p)
        return p

    cv = recipe("commonvoice", "Common Voice ASR in the chosen locales")
    _add_root(cv, "commonvoice")
    cv.add_argument("--langs", default=DEFAULT_CV_LANGS, help="Common Voice locales, comma separated")
    cv.add_argument("--train_tsv", choices=("train", "validated"), default="train",
                    help="train from train.tsv, or from validated.tsv minus everything related to dev/test")
    cv.set_defaults(run=run_commonvoice)

    fl = recipe("fleurs", "FLEURS ASR in the chosen languages")
    _add_root(fl, "fleurs")
    fl.add_argument("--langs", default=DEFAULT_FLEURS_LANGS, help="FLEURS configs, comma separated")
    fl.add_argument("--transcript", choices=tuple(fleurs.TRANSCRIPTS), default="raw", help="which transcription")
    fl.add_argument("--translate_to", default="", help="add text.<lang> from FLEURS' parallel transcripts (e.g. en)")
    fl.set_defaults(run=run_fleurs)

    ws = recipe("wenetspeech", "WenetSpeech Mandarin ASR (recording-level wav.scp with segments)")
    _add_root(ws, "wenetspeech")
    ws.add_argument("--train_subset", default="M", help="training subset: L (10000 h), M (1000 h), S (100 h), W")
    ws.set_defaults(run=run_wenetspeech)

    cs = recipe("covost2", "CoVoST 2 speech translation (text = transcript, text.<tgt> = translation)")
    _add_root(cs, "covost2")
    _add_root(cs, "covost2_cv_root")
    cs.add_argument("--pairs", default=DEFAULT_COVOST_PAIRS, help="directions as in the file names (fr_en,...)")
    cs.set_defaults(run=run_covost2)

    ml = recipe("multilingual", "Common Voice + FLEURS ASR and CoVoST 2 xx->en translation in one train/dev "
                                "set, with one test set per corpus")
    for option in ("commonvoice", "fleurs", "covost2", "covost2_cv_root"):
        _add_root(ml, option)
    ml.add_argument("--cv_langs", default=DEFAULT_CV_LANGS, help="Common Voice locales ('' for none)")
    ml.add_argument("--fleurs_langs", default=DEFAULT_FLEURS_LANGS, help="FLEURS configs ('' for none)")
    ml.add_argument("--covost_pairs", default=DEFAULT_COVOST_PAIRS, help="CoVoST 2 directions ('' for none)")
    ml.add_argument("--train_tsv", choices=("train", "validated"), default="train",
                    help="Common Voice train split from train.tsv or validated.tsv")
    ml.add_argument("--fleurs_translate_to", default="", help="add text.<lang> to FLEURS from its parallel transcripts")
    ml.set_defaults(run=run_multilingual)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)

    def run(a) -> None:
        test_sets = a.run(a)
        print("test_sets: " + " ".join(test_sets))
        sys.stdout.flush()

    return run_main(run, args)


if __name__ == "__main__":
    raise SystemExit(main())
