"""Benchmark: how fast the embedded corpus is made, as a multiple of real time.

Makes a small embedded corpus (the tiny size with ``--train`` training utterances per language) in a
temporary directory and prints the seconds of audio synthesised per wall-clock second (espeak-ng,
resampling to 16 kHz, noise, WAV writing) with ``--nj`` processes, and how fast the parallel text is
drawn. Run from the repository root::

    python bench/bench_corpus.py [--nj 2] [--train 40] [--langs en,de,fr,es,zh,ja] [--seed 1]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from part.data.embedded.corpus import SizeSpec, build_corpus, parse_langs  # noqa: E402
from part.data.embedded.lang import SUPPORTED_LANGS  # noqa: E402
from part.data.embedded.prepare import prepare  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--nj", type=int, default=2, help="synthesis processes")
    parser.add_argument("--train", type=int, default=40, help="training utterances per language")
    parser.add_argument("--langs", default=",".join(SUPPORTED_LANGS), help="languages")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed")
    parser.add_argument("--text_tuples", type=int, default=5000, help="tuples drawn for the text speed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    langs = parse_langs(args.langs)

    start = time.time()
    spec = SizeSpec(train=0, dev=0, test=0, lm_train=args.text_tuples, lm_dev=0)
    build_corpus(args.seed, langs, spec, progress=True)
    text_s = time.time() - start

    with tempfile.TemporaryDirectory(prefix="bench_corpus_") as tmp:
        summary = prepare(Path(tmp), "tiny", langs, seed=args.seed, nj=args.nj, overrides={"train": args.train},
                          progress=True)
    n_utts = summary["made_wavs"]
    audio_s = summary["made_audio_s"]
    wall = summary["synthesis_wall_s"]
    print(f"embedded corpus, {len(langs)} languages, {n_utts} utterances ({audio_s / 60:.1f} min of audio), "
          f"{args.nj} jobs on {os.cpu_count()} cores")
    print(f"  synthesis: {wall:.1f} s wall, {audio_s / wall:.0f}x real time "
          f"({n_utts / wall:.0f} utterances/s)")
    print(f"  parallel text: {args.text_tuples / text_s:.0f} tuples/s ({len(SUPPORTED_LANGS)} languages each)")
    print(f"  whole stage 1: {summary['wall_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
