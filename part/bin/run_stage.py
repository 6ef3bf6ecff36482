"""Run one training stage (``part_train``) so that it is safe to re-run.

- A finished stage (``<output_dir>/.done`` with the same options) is skipped.
- An interrupted stage resumes from ESPnet's ``checkpoint.pth`` (the command carries ``--resume true``).
- A stage whose options changed since it was started is refused with the differences: results are
  never silently reused nor silently overwritten. Pass ``--redo true`` to start it over, or choose
  another experiment dir (``--exp_tag`` of the recipe).

    python -m part.bin.run_stage --name part/stage1 --output_dir exp/part/stage1 -- <part_train options>
"""
from __future__ import annotations

import argparse
import difflib
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import List, Optional

FINGERPRINT = "stage_options.json"


def fingerprint(train_args: List[str]) -> dict:
    """The stage's options plus the content of every config file they name."""
    configs = {}
    for i, arg in enumerate(train_args[:-1]):
        if arg == "--config":
            path = Path(train_args[i + 1])
            configs[str(path)] = path.read_text(encoding="utf-8") if path.is_file() else None
    ignored = {"--resume", "--ngpu", "--num_workers"}  # how it runs, not what it computes
    kept, skip = [], False
    for arg in train_args:
        if skip:
            skip = False
            continue
        if arg in ignored:
            skip = True
            continue
        kept.append(arg)
    return {"args": kept, "configs": configs}


def _diff(old: dict, new: dict) -> str:
    a = json.dumps(old, indent=1, ensure_ascii=False).splitlines()
    b = json.dumps(new, indent=1, ensure_ascii=False).splitlines()
    return "\n".join(list(difflib.unified_diff(a, b, "started with", "now", lineterm="", n=0))[:40])


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        argv_own, train_args = argv, []
    else:
        split = argv.index("--")
        argv_own, train_args = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="Stage name for the log, e.g. part/stage1")
    parser.add_argument("--output_dir", required=True, help="The stage's experiment dir (also given to part_train)")
    parser.add_argument("--redo", default="false", choices=["true", "false"], help="Start over even if finished")
    args = parser.parse_args(argv_own)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (run_stage) %(levelname)s: %(message)s")

    out = Path(args.output_dir)
    fp = fingerprint(train_args)
    fp_file, done = out / FINGERPRINT, out / ".done"
    if args.redo == "true" and out.exists():
        logging.info("%s: --redo true: removing %s", args.name, out)
        shutil.rmtree(out)
    if fp_file.is_file():
        old = json.loads(fp_file.read_text(encoding="utf-8"))
        if old != fp:
            logging.error(
                "%s: %s was made with other options; refusing to reuse or overwrite it.\n%s\n"
                "Start it over with --redo true, or write a new experiment dir with --exp_tag <tag>.",
                args.name, out, _diff(old, fp))
            return 3
        if done.is_file():
            logging.info("%s: finished already in %s; skipping (--redo true to run it again)", args.name, out)
            return 0
        logging.info("%s: resuming the unfinished run in %s", args.name, out)
    else:
        out.mkdir(parents=True, exist_ok=True)
        fp_file.write_text(json.dumps(fp, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    from part.tasks.part_task import PARTTask

    PARTTask.main(cmd=train_args)
    done.write_text("finished\n")
    logging.info("%s: finished; curves in %s/images/", args.name, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
