"""Score a decode dir (stage 8 of egs/TEMPLATE/part.sh): WER/CER per language, BLEU/chrF per direction.

Usage::

    python -m part.bin.part_score --decode_dir exp/part/phase3/decode_test_asr \\
        [--normalizer whisper|basic|none] [--use_sclite auto|yes|no] [--bleu_normalizer none|whisper|basic]

Reads the decode-dir contract of docs/contracts.md (``hyp``, ``ref``, ``utt2lang``, ``utt2tgt``,
``task``) and writes:

- ASR: ``score_wer/<lang>/`` (or ``score_cer/<lang>/`` for zh, ja, ko, yue, th) with ``ref.trn``,
  ``hyp.trn``, ``result.txt`` (sclite's report: summary box and per-utterance alignments) and ``wer``
  (``%WER 12.34 [ 56 / 454, 7 ins, 8 del, 41 sub ]``). ``--use_sclite auto`` runs SCTK's sclite when it
  is installed ($SCLITE, PATH or /usr/lib/sctk/bin) and checks its counts against the built-in aligner;
  otherwise the built-in aligner writes the same report (same counts, same layout).
- Translation (s2tt, mt): ``score_bleu/<src>-<tgt>/`` with ``ref``, ``hyp``, ``ids`` and ``bleu``
  (sacrebleu BLEU and chrF with their signatures).
- ``scores.json``: one record per language or direction, with its failure counts (empty outputs,
  repetition loops, output in the wrong language, output on clips without speech); ``failures`` lists
  the flagged examples. ``--lid_data data/train`` adds a language identifier trained on that data dir
  to the wrong-language check (otherwise it judges by script only).

The normaliser (``--normalizer``, default Whisper's: English normaliser for English, basic normaliser
otherwise) is applied to reference and hypothesis alike before WER/CER; BLEU uses the text as decoded
unless ``--bleu_normalizer`` says otherwise. References without a hypothesis are scored as empty
hypotheses (with a warning naming them); a hypothesis without a reference is an error.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from part.scoring.normalize import NORMALIZERS


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decode_dir", required=True, help="decode dir (hyp, ref, utt2lang, utt2tgt, task)")
    parser.add_argument("--normalizer", choices=NORMALIZERS, default="whisper",
                        help="text normaliser applied to ref and hyp before WER/CER (default: %(default)s)")
    parser.add_argument("--use_sclite", choices=("auto", "yes", "no"), default="auto",
                        help="run SCTK's sclite for WER/CER: auto = when installed (default: %(default)s)")
    parser.add_argument("--bleu_normalizer", choices=NORMALIZERS, default="none",
                        help="text normaliser before BLEU/chrF (default: %(default)s, sacrebleu's convention)")
    parser.add_argument("--lid_data", default=None,
                        help="a data dir (e.g. data/train) whose transcripts and translations train the character "
                             "n-gram language identifier of the failure counts, so that output in another language "
                             "of the same script is caught too (default: judged by script only)")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (part_score) %(levelname)s: %(message)s")
    from part.data.datadir import DataDirError
    from part.scoring.failures import CharNgramLID
    from part.scoring.scorer import ScoringError, score_decode_dir

    try:
        lid = CharNgramLID.from_data_dir(args.lid_data) if args.lid_data else None
        records = score_decode_dir(args.decode_dir, normalizer=args.normalizer, use_sclite=args.use_sclite,
                                   bleu_normalizer=args.bleu_normalizer, lid=lid)
    except (ScoringError, FileNotFoundError, DataDirError) as e:
        logging.error("%s", e)
        return 1
    for r in records:
        name = r["src"] if r["src"] == r["tgt"] else f"{r['src']}-{r['tgt']}"
        value = "n/a" if r["value"] is None else f"{r['value']:.2f}"
        extra = f" chrF {r['chrf']:.2f}" if "chrf" in r else f" ({r['scorer']})"
        print(f"{args.decode_dir} {r['task']} {name}: {r['metric']} {value}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
