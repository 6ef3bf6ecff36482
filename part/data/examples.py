"""Example lists (stage 3): turn a feature dir into training/decoding examples of ASR, S2TT and text-only MT.

One example per (utterance, task, target language), with id ``<uttid>__<task>[_<tgt>]``. The prompt
of each example is rendered from the recipe's prompt templates (``conf/prompts.yaml``, see
:mod:`part.data.prompts`) and stored in its one-line form (:func:`part.data.prompts.escape`).

Output files in ``out_dir`` (all sorted by example id): ``feats.scp`` (text-only examples point to
one shared zero-frame matrix), ``prompt``, ``text`` (target), ``utt2category`` (task),
``utt2lang`` (source language), ``utt2tgt``, ``utt2utt`` (example -> utterance), ``speech_shape``.
"""
from __future__ import annotations

import argparse
import fnmatch
import logging
import os
import shutil
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from part.data.datadir import read_kaldi_dict
from part.data.prompts import TASKS, escape, load_prompts, render


def read_kv(path: Path) -> Dict[str, str]:
    """``{id: value}`` of a file of an example or feature dir: the one ``id value`` reader, ids in any order,
    empty values allowed (an empty hypothesis or reference is a value too)."""
    return read_kaldi_dict(path, kind="example", allow_empty=True, sorted_ids=False)


def direction_matches(patterns: Iterable[str], src: str, tgt: str) -> bool:
    return any(fnmatch.fnmatchcase(f"{src}-{tgt}", p) for p in patterns)


@dataclass(frozen=True)
class Example:
    """One training or decoding example of an utterance (or of its text, for ``mt``)."""

    id: str  # <utt>__asr | <utt>__s2tt_<tgt> | <utt>__mt_<tgt>
    utt: str
    task: str
    src: str
    tgt: str
    prompt: str  # stored one-line form (part.data.prompts.escape)
    target: str
    has_speech: bool


def utterance_examples(utt: str, src: str, transcript: str, translations: Mapping[str, str],
                       prompts: Mapping[str, str], tasks: Collection[str], directions: Sequence[str]) -> List[Example]:
    """The examples of one utterance: ASR in its language, and per translation into ``tgt`` (a direction
    that ``directions`` allows) speech translation and text-only translation. The one definition of
    what an utterance contributes, for the example lists of stage 3 and the streaming loader alike."""
    out = []
    if "asr" in tasks:
        out.append(Example(f"{utt}__asr", utt, "asr", src, src, escape(render(prompts["asr"], src, src)), transcript,
                           True))
    for tgt in sorted(translations):
        if tgt == src or not direction_matches(directions, src, tgt):
            continue
        if "s2tt" in tasks:
            out.append(Example(f"{utt}__s2tt_{tgt}", utt, "s2tt", src, tgt, escape(render(prompts["s2tt"], src, tgt)),
                               translations[tgt], True))
        if "mt" in tasks:
            out.append(Example(f"{utt}__mt_{tgt}", utt, "mt", src, tgt,
                               escape(render(prompts["mt"], src, tgt, transcript)), translations[tgt], False))
    return out


def build_examples(feats_dir: Path, prompts: Dict[str, str], tasks: List[str], directions: List[str]
                   ) -> List[Tuple[str, dict]]:
    """All examples of a feature dir, as (example id, fields) pairs."""
    feats = read_kv(feats_dir / "feats.scp")
    num_frames = read_kv(feats_dir / "utt2num_frames")
    text = read_kv(feats_dir / "text")
    utt2lang = read_kv(feats_dir / "utt2lang")
    translations = {p.name.split(".", 1)[1]: read_kv(p) for p in sorted(feats_dir.glob("text.*"))}
    examples = []
    for utt in sorted(feats):
        own = {tgt: refs[utt] for tgt, refs in translations.items() if utt in refs}
        for ex in utterance_examples(utt, utt2lang[utt], text[utt], own, prompts, tasks, directions):
            examples.append((ex.id, dict(utt=utt, task=ex.task, src=ex.src, tgt=ex.tgt,
                                         speech=feats[utt] if ex.has_speech else None,
                                         frames=num_frames[utt] if ex.has_speech else "0", prompt=ex.prompt,
                                         target=ex.target)))
    return examples


def write_task_dir(examples: List[Tuple[str, dict]], out_dir: Path, feat_dim: int) -> None:
    import kaldiio
    import numpy as np

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    empty_entry = None
    if any(ex["speech"] is None for _, ex in examples):
        # One zero-frame matrix shared by every text-only example.
        empty_scp = tmp / "empty.scp"
        kaldiio.save_ark(str(tmp / "empty.ark"), {"empty": np.zeros((0, feat_dim), dtype=np.float32)},
                         scp=str(empty_scp))
        empty_entry = read_kv(empty_scp)["empty"].replace(str(tmp), str(out_dir))
    files = {name: open(tmp / name, "w", encoding="utf-8") for name in
             ("feats.scp", "prompt", "text", "utt2category", "utt2lang", "utt2tgt", "utt2utt", "speech_shape")}
    try:
        for eid, ex in sorted(examples, key=lambda x: x[0]):
            files["feats.scp"].write(f"{eid} {ex['speech'] or empty_entry}\n")
            files["prompt"].write(f"{eid} {ex['prompt']}\n")
            files["text"].write(f"{eid} {ex['target']}\n")
            files["utt2category"].write(f"{eid} {ex['task']}\n")
            files["utt2lang"].write(f"{eid} {ex['src']}\n")
            files["utt2tgt"].write(f"{eid} {ex['tgt']}\n")
            files["utt2utt"].write(f"{eid} {ex['utt']}\n")
            files["speech_shape"].write(f"{eid} {ex['frames']},{feat_dim}\n")
    finally:
        for f in files.values():
            f.close()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feats_dir", required=True, help="Feature dir of stage 2 (dump/fbank/<set>)")
    parser.add_argument("--out_dir", required=True, help="Output task dir (dump/examples/<set>)")
    parser.add_argument("--prompts", required=True, help="Prompt templates (YAML: asr, s2tt, mt)")
    parser.add_argument("--tasks", default="asr,s2tt,mt", help="Comma-separated tasks to include")
    parser.add_argument("--directions", default="*-en,en-*",
                        help="Comma-separated translation directions src-tgt, shell wildcards allowed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (make_tasks) %(levelname)s: %(message)s")

    feats_dir, out_dir = Path(args.feats_dir), Path(args.out_dir)
    for name in ("feats.scp", "utt2num_frames", "text", "utt2lang"):
        if not (feats_dir / name).is_file():
            sys.exit(f"make_tasks: {feats_dir / name} is missing; run stage 2 first")
    tasks = [t for t in args.tasks.split(",") if t]
    bad = set(tasks) - set(TASKS)
    if bad:
        sys.exit(f"make_tasks: unknown task(s) {sorted(bad)}; choose from {TASKS}")
    prompts = load_prompts(args.prompts)
    missing = [t for t in tasks if t not in prompts]
    if missing:
        sys.exit(f"make_tasks: {args.prompts} has no template for {missing}")
    examples = build_examples(feats_dir, prompts, tasks, args.directions.split(","))
    if not examples:
        sys.exit(f"make_tasks: no examples for tasks {tasks} in {feats_dir}")
    feat_dim = int((feats_dir / "feat_dim").read_text().split()[0]) if (feats_dir / "feat_dim").is_file() else 80
    write_task_dir(examples, out_dir, feat_dim)
    counts: Dict[str, int] = {}
    for _, ex in examples:
        counts[ex["task"]] = counts.get(ex["task"], 0) + 1
    logging.info("%s: %s", out_dir, ", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
