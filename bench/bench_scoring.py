"""How fast is the built-in WER scorer compared with SCTK's sclite on the same files?

Usage::

    tools/venv/bin/python bench/bench_scoring.py [--num_utts 5000] [--words 15] [--cer] [--repeats 3]
                                                 [--json bench_scoring.json]

Generates ``num_utts`` reference/hypothesis pairs (``--words`` tokens on average, about 15 % errors:
substitutions, deletions, insertions; ``--cer`` makes them Chinese character sequences three times as
long, as in CER scoring) over 20 speakers, writes ``ref.trn``/``hyp.trn`` into a temporary dir, and
times in the same run:

- ``python``: the built-in scorer on the trn files (read, align, counts, full sclite-format report),
- ``sclite``: ``sclite -r ref.trn trn -h hyp.trn trn -i rm -o all stdout -e utf-8`` (a subprocess),

each ``--repeats`` times (the best run counts), checks that both give the same counts, and prints the
utterances per second of each and their ratio.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from part.scoring import sclite as sc
from part.scoring.align import ErrorCounts


def make_trn(root: Path, num_utts: int, words: int, cer: bool, seed: int = 0) -> None:
    rng = random.Random(seed)
    if cer:
        vocab = [chr(c) for c in range(0x4E00, 0x4E00 + 2000)]
        words *= 3
    else:
        vocab = [f"w{i}" for i in range(5000)]
    ref, hyp = [], []
    for i in range(num_utts):
        uid = f"spk{i % 20:02d}-{i:06d}"
        r = [rng.choice(vocab) for _ in range(max(1, int(rng.gauss(words, words / 3))))]
        h = []
        for tok in r:
            x = rng.random()
            if x < 0.07:
                h.append(rng.choice(vocab))  # substitution
            elif x < 0.11:
                continue  # deletion
            elif x < 0.15:
                h += [tok, rng.choice(vocab)]  # insertion
            else:
                h.append(tok)
        ref.append((uid, r))
        hyp.append((uid, h))
    sc.write_trn(root / "ref.trn", ref)
    sc.write_trn(root / "hyp.trn", hyp)


def python_scorer(root: Path) -> ErrorCounts:
    utterances = sc.align_trn(sc.read_trn(root / "ref.trn"), sc.read_trn(root / "hyp.trn"))
    (root / "result.python.txt").write_text(sc.format_report(utterances), encoding="utf-8")
    total = ErrorCounts()
    for u in utterances:
        total = total + u.counts
    return total


def sclite_scorer(root: Path, binary: str) -> ErrorCounts:
    report = sc.run_sclite(root, binary)
    (root / "result.sclite.txt").write_text(report, encoding="utf-8")
    total = ErrorCounts()
    for counts in sc.parse_sclite_scores(report).values():
        total = total + counts
    return total


def best_time(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=5000, help="utterances to score")
    parser.add_argument("--words", type=int, default=15, help="mean reference length in words")
    parser.add_argument("--cer", action="store_true", help="Chinese characters, 3x longer (CER scoring)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each scorer; the fastest counts")
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    binary = sc.find_sclite()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_trn(root, args.num_utts, args.words, args.cer)
        t_py, c_py = best_time(lambda: python_scorer(root), args.repeats)
        result = {"num_utts": args.num_utts, "tokens": c_py.wrd, "mode": "cer" if args.cer else "wer",
                  "python_s": round(t_py, 3), "python_utt_per_s": round(args.num_utts / t_py, 1),
                  "platform": platform.platform(), "python": platform.python_version()}
        print(f"{args.num_utts} utterances, {c_py.wrd} reference tokens "
              f"({result['mode'].upper()} {c_py.error_rate():.2f} %)")
        print(f"python scorer: {t_py:7.3f} s  {args.num_utts / t_py:10.1f} utt/s")
        if binary is None:
            print("sclite: not installed (apt-get install sctk, or set $SCLITE); no ratio")
        else:
            t_sc, c_sc = best_time(lambda: sclite_scorer(root, binary), args.repeats)
            same = c_sc == c_py
            same_report = (root / "result.python.txt").read_bytes() == (root / "result.sclite.txt").read_bytes()
            print(f"sclite:        {t_sc:7.3f} s  {args.num_utts / t_sc:10.1f} utt/s   ({binary})")
            print(f"python speed / sclite speed: {t_sc / t_py:.2f} (above 1: python is faster)   "
                  f"counts equal: {same}   report identical: {same_report}")
            result.update(sclite_s=round(t_sc, 3), sclite_utt_per_s=round(args.num_utts / t_sc, 1),
                          speed_ratio_python_over_sclite=round(t_sc / t_py, 3), counts_equal=same,
                          report_identical=same_report)
            if not same:
                print(f"MISMATCH: python {c_py.as_dict()} sclite {c_sc.as_dict()}", file=sys.stderr)
                return 1
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
