"""Collect every ``scores.json`` below an experiment dir into a Markdown report (RESULTS.md).

Usage::

    python -m part.bin.make_results --exp_dir exp --out RESULTS.md [--title "PART on FLEURS"]

Decode dirs are found anywhere below ``--exp_dir`` (``exp/<method>/<phase>/decode_<set>_<task>/``,
optionally under a seed level such as ``exp/seed1/<method>/...``; see part/scoring/results.py for how
method, phase, seed, set, task and adapter are read from the path, ``decode_info.json`` and the phase's
``config.yaml``). The report has:

- provenance: the revision each run of the experiments started from and whether the work tree was clean
  (``<exp_dir>/runs.tsv``, written by ./run_all.sh), a hash of the configurations the training runs
  recorded and whether the config files changed since (part/scoring/provenance.py);
- per adapter, PART against Baseline-2stage (part/scoring/phases.py): the last phases with paired
  bootstrap 95% intervals of the difference, the updates that carried gradient per phase, every decoded
  phase as a table and a plot (``figures/`` next to ``--out``), failure counts per language and direction,
  and output on clips without speech;
- a comparison table per test set and task (rows: languages or directions and their average,
  columns: method/phase; mean ± standard deviation over seeds when there are several),
- per run, a table per language (Snt, Wrd, Corr, Sub, Del, Ins, Err, S.Err as sclite reports them, the
  WER/CER and the failure counts) or per direction (BLEU, chrF, tokenizer, sacrebleu signatures), with
  the average,
- the environment (python, torch, transformers... versions, platform) and the git revision,
- the command that regenerates it,
- with ``--wall_time``, the wall time of each step of the run (also printed).

The phase tables and the comparison are also printed on stdout.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="experiment dir searched for scores.json files")
    parser.add_argument("--out", default="RESULTS.md", help="Markdown file to write (default: %(default)s)")
    parser.add_argument("--title", default=None, help="report title (default: 'Results: <exp_dir>')")
    parser.add_argument("--produced_by", default="",
                        help="the command that produced the experiments (e.g. ./run_all.sh ...), shown in the report")
    parser.add_argument("--wall_time", default=None,
                        help="wall time per step of the run (the $PART_TIMING file of egs/TEMPLATE/part.sh): "
                             "a table in the report and on stdout")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (make_results) %(levelname)s: %(message)s")
    from part.scoring.report_sections import analysis_section, curves_section, wall_time_section, wall_time_text
    from part.scoring.phases import phases_section
    from part.scoring.report import build_report, regenerate_command
    from part.scoring.results import comparison_table, find_runs

    exp_dir = Path(args.exp_dir)
    if not exp_dir.is_dir():
        logging.error("--exp_dir %s is not a directory", exp_dir)
        return 1
    title = args.title if args.title is not None else f"Results: {args.exp_dir}"
    try:
        command = regenerate_command(args.exp_dir, args.out, args.title, args.wall_time)
        if args.produced_by:
            command = f"# the experiments were produced by (from the repository root):\n{args.produced_by}\n" \
                      f"# and this report by (from the recipe dir):\n{command}"
        report = build_report(exp_dir, title=title, command=command, report_path=Path(args.out))
        sections = [report, curves_section(exp_dir, Path(args.out)), analysis_section(exp_dir, Path(args.out))]
        runs = find_runs(exp_dir)
        table = phases_section(runs, Path(args.out), style="text") + "\n" + comparison_table(exp_dir, "text", runs)
        if args.wall_time:
            sections.append(wall_time_section(Path(args.wall_time)))
            table += "\nWall time of each step of this run:\n" + wall_time_text(Path(args.wall_time))
        report = "\n\n".join(part.rstrip("\n") for part in sections if part) + "\n"
    except (ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        return 1
    out = Path(args.out)
    if out.parent != Path("."):
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(table, end="")
    logging.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
