"""Wall time of each stage of the main job (the embedded recipe, PART and Baseline-2stage).

    python bench/bench_main_job.py --size tiny            # a quick look
    python bench/bench_main_job.py --size default         # the figures quoted in RESULTS.md

Runs ``egs/mini_multilingual/run.sh`` stage by stage in a fresh experiment dir (``exp_bench_<size>``;
data and features of the recipe are reused if they exist, so stages 1-2 time a re-check unless
``--fresh``), and prints a table of seconds per stage so that the slowest one is known.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "egs" / "mini_multilingual"
STAGES = [(1, "data preparation"), (2, "features"), (3, "task lists, LLM + encoder pretraining"),
          (4, "stage 1"), (5, "stage 2"), (6, "stage 3"), (7, "decoding"), (8, "scoring")]


def run(cmd, log):
    t0 = time.time()
    with open(log, "a", encoding="utf-8") as f:
        proc = subprocess.run(cmd, cwd=RECIPE, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log}")
    return time.time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny", choices=["tiny", "default", "large"])
    parser.add_argument("--fresh", action="store_true", help="remove the bench's experiment dir first")
    args = parser.parse_args()
    expdir = f"exp_bench_{args.size}"
    if args.fresh:
        shutil.rmtree(RECIPE / expdir, ignore_errors=True)
    log = RECIPE / f"{expdir}.log"
    rows = []
    for method in ("part", "baseline"):
        for stage, what in STAGES:
            if method == "baseline" and stage <= 3:
                continue  # shared by both methods
            if method == "baseline" and stage == 6:
                continue  # Baseline-2stage has two training stages
            cmd = ["./run.sh", "--size", args.size, "--expdir", expdir, "--method", method,
                   "--stage", str(stage), "--stop_stage", str(stage)]
            seconds = run(cmd, log)
            rows.append((method if stage > 3 else "shared", stage, what, seconds))
            print(f"{rows[-1][0]:9s} stage {stage}  {what:42s} {seconds:8.1f} s", flush=True)
    total = sum(r[3] for r in rows)
    slowest = max(rows, key=lambda r: r[3])
    print(f"\ntotal {total:.0f} s ({total / 60:.1f} min); slowest: {slowest[0]} stage {slowest[1]} "
          f"({slowest[2]}, {slowest[3]:.0f} s, {100 * slowest[3] / total:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
