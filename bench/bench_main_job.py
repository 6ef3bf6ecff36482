"""Wall time of each step of the main job (./run_all.sh: the embedded recipe, PART and Baseline-2stage).

    python bench/bench_main_job.py --size tiny             # a quick look (a few minutes)
    python bench/bench_main_job.py --size default          # the figures quoted in RESULTS.md (~25 min)
    python bench/bench_main_job.py --size default --seeds "1 2 3"

Runs ``./run_all.sh`` in a fresh copy of the recipe (``--workdir``, a new temporary dir by default, so
every step is computed, nothing of the repository's recipe dir is reused or touched) and prints the
seconds of each step as egs/TEMPLATE/part.sh measured them ($PART_TIMING), the total and the slowest
step. The same table is at the end of the copy's RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from part.recipe_copy import REPO, make_recipe_copy  # noqa: E402
from part.scoring.report_sections import read_wall_times, wall_time_text  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny", choices=["tiny", "default", "large"])
    parser.add_argument("--seeds", default="1", help="seeds of the comparison (default: %(default)s)")
    parser.add_argument("--workdir", default=None,
                        help="where the recipe copy goes (must not exist; default: a new temporary dir, kept)")
    args = parser.parse_args()
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="part_bench_main_job_"))
    recipe = make_recipe_copy(root)
    log = root / "run_all.log"
    print(f"running ./run_all.sh --size {args.size} --seeds '{args.seeds}' in {recipe} (log: {log})", flush=True)
    t0 = time.time()
    with log.open("w", encoding="utf-8") as f:
        proc = subprocess.run([str(REPO / "run_all.sh"), "--size", args.size, "--seeds", args.seeds], cwd=REPO,
                              env=dict(os.environ, PART_RECIPE_DIR=str(recipe)), stdout=f, stderr=subprocess.STDOUT)
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"run_all.sh failed (exit {proc.returncode}); see {log}")
    workdir = recipe if args.size == "default" else recipe / f"size_{args.size}"
    tsv = workdir / "exp" / "wall_time.tsv"
    rows = read_wall_times(tsv)
    print(wall_time_text(tsv), end="")
    slowest = max(rows, key=lambda r: r[1])
    print(f"\nslowest step: {slowest[0]} ({slowest[1]:.0f} s); run_all.sh as a whole (install check and report "
          f"included): {wall:.0f} s ({wall / 60:.1f} min) on {os.cpu_count()} CPU cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
