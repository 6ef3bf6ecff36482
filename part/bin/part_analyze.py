"""Analyse the trained phases of a method (recipe stage 9).

For every phase dir of ``--method_dir`` (``phase1``, ``phase2``, ``phase3``: whichever exist, or those
named by ``--phases``), with the examples of ``--data_dir`` (a phase-3 task list, usually the
validation set):

1. the gradient cosine-similarity matrix between (task, language) groups (``asr:de``, ``s2tt:de-en``,
   ``mt:de-en``), w.r.t. the parameters the phase trained last (its ``schedule_conf.trainable``);
2. the adapter's outputs: alignment with the LLM's text embeddings of the transcript per language, a
   language-ID probe on mean-pooled outputs, and a PCA plot coloured by language;
3. ``summary.json`` and ``README.md`` in ``--out_dir``, and, when the other method (``exp/part`` <->
   ``exp/baseline``, or ``--compare_dir``) is analysed too, both methods' matrices side by side.

    python -m part.bin.part_analyze --method_dir exp/part --data_dir dump/examples/dev \\
        --out_dir exp/part/analysis --ngpu 0

Definitions: ``part/analysis/gradients.py`` and ``part/analysis/representation.py``. Phases analysed
before with the same model file and options are not recomputed (``--redo true`` forces it).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from part.cli import str2bool


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method_dir", required=True, help="Experiment dir of a method (exp/<method>) with phaseN/")
    parser.add_argument("--data_dir", required=True,
                        help="Example list of stage 3 (dump/examples/<valid_set>) or raw-audio shard set "
                             "(dump/raw/...)")
    parser.add_argument("--prompts", default=None, help="Prompt templates (conf/prompts.yaml): for a shard set")
    parser.add_argument("--tasks", default="asr,s2tt,mt", help="Tasks of the examples made from a shard set")
    parser.add_argument("--directions", default="*-en,en-*", help="Translation directions (a shard set)")
    parser.add_argument("--out_dir", default=None, help="Output dir (default: <method_dir>/analysis)")
    parser.add_argument("--phases", default="", help="Comma-separated phase dirs to analyse (default: all found)")
    parser.add_argument("--model_file", default="valid.acc.ave.pth", help="Model file inside each phase dir")
    parser.add_argument("--max_examples_per_group", type=int, default=16,
                        help="Examples per (task, language) group whose gradients are averaged")
    parser.add_argument("--batch_size", type=int, default=8, help="Examples per batch (gradients and encoding)")
    parser.add_argument("--max_utts_per_lang", type=int, default=50,
                        help="Utterances per language for the representation analysis")
    parser.add_argument("--sketch_dim", type=int, default=-1,
                        help="Gradient vectors: -1 automatic (exact unless they exceed ~2 GiB, then a count "
                             "sketch of 2^20 dimensions), 0 exact, K>0 count sketch of K dimensions")
    parser.add_argument("--compare_dir", default="auto",
                        help="The other method's dir for the side-by-side figure: 'auto' (exp/part <-> "
                             "exp/baseline, used if already analysed), 'none', or a path (analysed now if needed)")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the example subsets and probe folds")
    parser.add_argument("--ngpu", type=int, default=0, help="0: CPU; >0: the first GPU")
    parser.add_argument("--nj", type=int, default=0, help="Torch CPU threads (0: torch's default)")
    parser.add_argument("--redo", type=str2bool, default=False, help="Recompute phases that are up to date")
    parser.add_argument("--progress", type=str2bool, default=True, help="Show progress bars")
    return parser


def _shard_options(args, method_dir: Path):
    """What examples of a raw-audio shard set are made from: the prompts, tasks and directions given, and the
    front end of the method's models (from the config.yaml of its first phase)."""
    import yaml

    from part.data.features import FeatureOptions
    from part.data.prompts import load_prompts
    from part.data.shards import is_shard_set

    if not is_shard_set(args.data_dir):
        return None, (), (), None
    if not args.prompts:
        sys.exit(f"part_analyze: {args.data_dir} is a raw-audio shard set: give --prompts (conf/prompts.yaml)")
    configs = sorted(method_dir.glob("phase*/config.yaml"))
    if not configs:
        sys.exit(f"part_analyze: no phase*/config.yaml in {method_dir}: train the method first")
    config = yaml.safe_load(configs[0].read_text(encoding="utf-8"))
    return (load_prompts(args.prompts), args.tasks.split(","), args.directions.split(","),
            FeatureOptions.for_model(config))


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (part_analyze) %(levelname)s: %(message)s")

    import torch

    from part.data.sources import open_examples
    from part.analysis.pipeline import (AnalysisOptions, analyse_method, load_grad_panels, load_method_summary,
                                        method_display_name, sibling_method_dir)
    from part.analysis.report import write_report

    for name in ("max_examples_per_group", "batch_size", "max_utts_per_lang"):
        if getattr(args, name) < 1:
            sys.exit(f"part_analyze: --{name} must be at least 1")
    if args.nj:
        torch.set_num_threads(args.nj)
    if args.ngpu > 0 and not torch.cuda.is_available():
        sys.exit("part_analyze: --ngpu > 0 but no CUDA device is available")
    device = "cuda" if args.ngpu > 0 else "cpu"
    method_dir = Path(args.method_dir)
    out_dir = Path(args.out_dir) if args.out_dir else method_dir / "analysis"
    opts = AnalysisOptions(model_file=args.model_file, max_examples_per_group=args.max_examples_per_group,
                           batch_size=args.batch_size, max_utts_per_lang=args.max_utts_per_lang,
                           sketch_dim=args.sketch_dim, seed=args.seed)
    phases = [s for s in args.phases.split(",") if s]
    try:
        task_dir = open_examples(args.data_dir, *_shard_options(args, method_dir))
        result = analyse_method(method_dir, task_dir, out_dir, phases, opts, device, args.progress, args.redo)

        compare, compare_panels = None, None
        if args.compare_dir not in ("auto", "none"):
            other = Path(args.compare_dir)
            if not other.is_dir():
                sys.exit(f"part_analyze: --compare_dir {other} does not exist")
            other_out = other / "analysis"
            other_result = analyse_method(other, task_dir, other_out, None, opts, device, args.progress, args.redo)
            write_report(other_result, other_out, load_grad_panels(other_out))
        else:
            other = sibling_method_dir(method_dir) if args.compare_dir == "auto" else None
        if other is not None and other.resolve() != method_dir.resolve():
            compare_panels = load_grad_panels(other / "analysis")
            if compare_panels:
                summary = load_method_summary(other / "analysis") or {}
                compare = {"method": summary.get("method", method_display_name(other)), "method_dir": str(other)}
            else:
                logging.info("%s has no analysis yet: no side-by-side figure (run stage 9 for it, then again here)",
                             other)
        own_panels = {s: p for s, p in load_grad_panels(out_dir).items() if s in result["phases"]}
        summary = write_report(result, out_dir, own_panels, compare, compare_panels)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        logging.error("%s", exc)
        return 1
    for phase, entry in summary["phases"].items():
        g, p = entry["gradient_similarity"], entry["language_probe"]
        fmt = (lambda v: "n/a" if v is None else f"{v:.3f}")
        logging.info("%s %s: grad. sim. within-language %s, cross-language %s; LID probe accuracy %s; alignment %s",
                     summary["method"], phase, fmt(g["within_language"]), fmt(g["cross_language"]),
                     fmt(p.get("accuracy")), fmt((entry["alignment"] or {}).get("precision")))
    logging.info("analysis of %s: %s", method_dir, out_dir / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
