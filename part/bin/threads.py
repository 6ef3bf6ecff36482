"""Print how many threads each of ``--jobs`` parallel jobs should use (see :mod:`part.threads`).

    python -m part.bin.threads --jobs 2 --explain    # "1<TAB>1 thread(s) per job: 2 core(s) available ..."
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from part.threads import choose_threads


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m part.bin.threads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1, help="parallel jobs that will share the cores")
    parser.add_argument("--explain", action="store_true", help="print the reason after the number, tab-separated")
    args = parser.parse_args(argv)
    choice = choose_threads(args.jobs)
    print(f"{choice.threads}\t{choice.describe()}" if args.explain else choice.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
