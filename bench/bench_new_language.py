"""A new language end to end, offline, from the embedded recipe's pretrained models: time and quality.

    python bench/bench_new_language.py                                   # makes the embedded models first
    python bench/bench_new_language.py --base_exp egs/mini_multilingual/exp   # reuses finished ones
    python bench/bench_new_language.py --num_train 300 --size small      # a quicker look

What a new user does with a corpus of a language the embedded world does not speak: Italian
(``part/data/new_language.py``: the embedded sentence frames realised in Italian, espeak-ng speech, English
translations; test and dev sentences held out from everything the embedded models were trained on), in the
generic layout; ``egs/TEMPLATE/setup.sh italian``; ``./run.sh`` through stage 8, which extends the embedded
recipe's LLM and encoder to the corpus in stage 3 and trains PART on top.

Everything runs in ``--workdir`` (a recipe copy whose ``egs/TEMPLATE`` and ``utils`` link to this checkout).
Without ``--base_exp`` the embedded recipe's stages 1-3 run there first (its own step, not counted in the
new language's minutes). Prints the wall time of every step, and as its last line::

    bench_new_language: lang=it train_utts=<n> minutes=<m> wer=<w> bleu=<b>

minutes: corpus synthesis and ``./run.sh`` stages 1-8 of the new recipe; wer: ASR WER (%) on the held-out
test set; bleu: it->en speech translation BLEU of the same utterances.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from part.data.new_language import LANG, make_corpus  # noqa: E402
from part.recipe_copy import make_recipe_copy  # noqa: E402
from part.scoring.report_sections import wall_time_text  # noqa: E402

RECIPE = "italian"
TEST_SET = f"test_{RECIPE}"


def run(cmd: List[str], cwd: Path, log: Path, env: dict) -> float:
    """Run ``cmd`` (output appended to ``log``); stop with the log's tail when it fails. Returns seconds."""
    t0 = time.time()
    with log.open("a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(cmd)}  (in {cwd})\n")
        f.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}) in {cwd}; end of {log}:\n" + "\n".join(tail))
    return time.time() - t0


def score(decode_dir: Path, metric: str) -> float:
    records = json.loads((decode_dir / "scores.json").read_text(encoding="utf-8"))
    return next(r["value"] for r in records if r["metric"] == metric)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base_exp", help="a finished embedded recipe's exp dir (llm/, encoder/); default: make one "
                                           "in --workdir (egs/mini_multilingual stages 1-3, default size)")
    parser.add_argument("--workdir", help="where everything goes (must not exist; default: a new temporary dir, kept)")
    parser.add_argument("--num_train", type=int, default=1000, help="training utterances of the new language")
    parser.add_argument("--num_dev", type=int, default=40)
    parser.add_argument("--num_test", type=int, default=100)
    parser.add_argument("--size", default="", choices=["", "small", "tiny"], help="the new recipe's --size")
    parser.add_argument("--method", default="part", choices=["part", "baseline"])
    parser.add_argument("--nj", type=int, default=2, help="parallel jobs of synthesis, features and decoding")
    args = parser.parse_args(argv)

    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="part_bench_new_language_"))
    embedded = make_recipe_copy(root)
    egs = embedded.parent
    log = root / "bench.log"
    env = dict(os.environ)
    print(f"bench_new_language: working in {root} (log: {log}); load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPU cores", flush=True)

    base = Path(args.base_exp).resolve() if args.base_exp else embedded / "exp"
    if not args.base_exp:
        seconds = run(["./run.sh", "--stage", "1", "--stop_stage", "3", "--nj", str(args.nj)], embedded, log, env)
        print(f"embedded recipe, stages 1-3 (the base models; not counted below): {seconds / 60:.1f} min", flush=True)

    t0 = time.time()
    corpus = root / "corpus"
    counts = make_corpus(corpus, args.num_train, args.num_dev, args.num_test, nj=args.nj)
    synthesis = time.time() - t0
    run(["bash", str(egs / "TEMPLATE" / "setup.sh"), RECIPE], egs, log, env)
    recipe = egs / RECIPE
    workdir = recipe / f"size_{args.size}" if args.size else recipe
    (workdir / "exp").mkdir(parents=True, exist_ok=True)
    timing = workdir / "exp" / "wall_time.tsv"
    env_run = dict(env, ITALIAN=str(corpus), PART_TIMING=str(timing))
    cmd = ["./run.sh", "--stop_stage", "8", "--base_exp", str(base), "--method", args.method, "--nj", str(args.nj)]
    if args.size:
        cmd += ["--size", args.size]
    run(cmd, recipe, log, env_run)
    minutes = (time.time() - t0) / 60

    print(f"corpus synthesis ({sum(counts.values())} utterances): {synthesis:.0f} s")
    print(wall_time_text(timing), end="")
    phase = "phase3" if args.method == "part" else "phase2"
    decode = workdir / "exp" / args.method / phase
    wer = score(decode / f"decode_{TEST_SET}_asr", "WER")
    bleu = score(decode / f"decode_{TEST_SET}_s2tt", "BLEU")
    print(f"report: {workdir / 'exp' / 'RESULTS.md'}")
    print(f"bench_new_language: lang={LANG} train_utts={counts['train']} minutes={minutes:.1f} wer={wer:.1f} "
          f"bleu={bleu:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
