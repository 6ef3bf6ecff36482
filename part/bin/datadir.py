"""Validate or fix a Kaldi data dir (docs/contracts.md); ``utils/validate_data_dir.sh`` and
``utils/fix_data_dir.sh`` call this.

Usage::

    python -m part.bin.datadir validate [--check_audio true] [--sample_rate 16000] [--policy reject] DIR
    python -m part.bin.datadir fix DIR
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from part.cli import str2bool
from part.data.audio import SAMPLE_RATE_POLICIES
from part.data.datadir import DataDirError, fix_data_dir, validate_data_dir


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.bin.datadir",
        description="Validate or fix a Kaldi data dir (see docs/contracts.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="check a data dir; exit status 1 when it has errors",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    validate.add_argument("data_dir")
    validate.add_argument("--check_audio", type=str2bool, default=False,
                          help="also open every recording (pipes are run)")
    validate.add_argument("--sample_rate", type=int, default=16000, help="required sample rate")
    validate.add_argument("--policy", choices=SAMPLE_RATE_POLICIES, default="reject",
                          help="another sample rate is an error (reject) or resampled when read (resample)")
    validate.add_argument("--max_errors", type=int, default=30, help="print at most this many errors")
    fix = sub.add_parser("fix", help="keep the utterances present in every file, sort, rebuild spk2utt",
                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    fix.add_argument("data_dir")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(levelname)s: %(message)s")
    try:
        if args.command == "validate":
            report = validate_data_dir(args.data_dir, args.check_audio, args.sample_rate, args.policy)
            shown = report.errors[: args.max_errors]
            for err in shown:
                print(f"error: {err}", file=sys.stderr)
            if len(report.errors) > len(shown):
                print(f"error: ... and {len(report.errors) - len(shown)} more errors", file=sys.stderr)
            for message in report.warnings:
                print(f"warning: {message}", file=sys.stderr)
            if report.ok:
                print(report.summary().splitlines()[-1])
                return 0
            print(f"{report.path} is NOT valid: {len(report.errors)} errors", file=sys.stderr)
            return 1
        result = fix_data_dir(args.data_dir)
        print(result.summary())
        report = validate_data_dir(args.data_dir)
        if not report.ok:
            for err in report.errors[:10]:
                print(f"error: {err}", file=sys.stderr)
            print(f"{args.data_dir} still has {len(report.errors)} problems that fix_data_dir.sh cannot fix "
                  f"(originals are in {args.data_dir}/.backup)", file=sys.stderr)
            return 1
        return 0
    except DataDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
