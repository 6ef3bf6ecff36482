"""Decode a task list with a trained PART model (recipe stage 7).

For each task in ``--tasks`` this writes ``<out_prefix>_<task>/`` with ``hyp``, ``ref``, ``utt2lang``,
``utt2tgt``, ``task`` and ``decode_info.json`` (the decode-dir contract of docs/contracts.md).
Decoding is batched greedy search with the LLM's KV cache (the paper's setting); examples are sorted
by length so that a batch wastes little padding. A finished decode dir with the same options is
skipped.

    python -m part.bin.part_inference --exp_dir exp/part/stage3 --data_dir dump/tasks/test \\
        --tasks asr,s2tt --out_prefix exp/part/stage3/decode_test
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from part.data.tasks import read_kv


def decode_examples(s2t, ids: List[str], feats: Dict[str, str], prompts: Dict[str, str], batch_size: int,
                    progress: bool = True) -> Dict[str, str]:
    """Greedy-decode ``ids`` in batches of similar length; returns example id -> hypothesis."""
    import kaldiio
    from tqdm import tqdm

    mats = {k: kaldiio.load_mat(feats[k]) for k in ids}
    order = sorted(ids, key=lambda k: mats[k].shape[0], reverse=True)
    hyps: Dict[str, str] = {}
    with tqdm(total=len(order), desc="decoding", unit="utt", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            texts = s2t.decode_features([mats[k] for k in chunk], [prompts[k] for k in chunk])
            hyps.update(zip(chunk, texts))
            bar.update(len(chunk))
    return hyps


def write_decode_dir(out: Path, ids: List[str], hyps, refs, utt2lang, utt2tgt, task: str, info: dict) -> None:
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, table in (("hyp", hyps), ("ref", refs), ("utt2lang", utt2lang), ("utt2tgt", utt2tgt)):
        with open(tmp / name, "w", encoding="utf-8") as f:
            for k in sorted(ids):
                f.write(f"{k} {table[k]}\n".replace("\r", " "))
    (tmp / "task").write_text(task + "\n")
    (tmp / "decode_info.json").write_text(json.dumps(info, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="Trained stage dir (config.yaml + model files)")
    parser.add_argument("--model_file", default="valid.acc.ave.pth", help="Model file inside --exp_dir")
    parser.add_argument("--data_dir", required=True, help="Task list of stage 3 (dump/tasks/<set>)")
    parser.add_argument("--tasks", default="asr,s2tt", help="Comma-separated tasks to decode")
    parser.add_argument("--out_prefix", required=True, help="Decode dirs are <out_prefix>_<task>")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=128, help="Length limit of a hypothesis")
    parser.add_argument("--nj", type=int, default=1, help="Torch threads for decoding")
    parser.add_argument("--ngpu", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="Decode only the first N examples of each task")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (part_inference) %(levelname)s: %(message)s")

    import torch

    from part.inference import SpeechToText, load_model

    torch.set_num_threads(max(1, args.nj))
    data = Path(args.data_dir)
    for name in ("feats.scp", "prompt", "text", "utt2category", "utt2lang", "utt2tgt"):
        if not (data / name).is_file():
            sys.exit(f"part_inference: {data / name} is missing; run stage 3 first")
    category = read_kv(data / "utt2category")
    tasks = [t for t in args.tasks.split(",") if t]
    model_path = Path(args.exp_dir) / args.model_file
    options = dict(exp_dir=args.exp_dir, model=str(model_path.resolve()) if model_path.exists() else str(model_path),
                   model_mtime=model_path.stat().st_mtime if model_path.exists() else None,
                   data_dir=args.data_dir, max_new_tokens=args.max_new_tokens, limit=args.limit)
    todo = []
    for task in tasks:
        out = Path(f"{args.out_prefix}_{task}")
        info_file = out / "decode_info.json"
        if info_file.is_file() and json.loads(info_file.read_text()).get("options") == {**options, "task": task}:
            logging.info("%s is up to date; skipping", out)
            continue
        todo.append(task)
    if not todo:
        return 0

    device = "cuda" if args.ngpu > 0 else "cpu"
    model, tokenizer, config = load_model(args.exp_dir, args.model_file, device)
    s2t = SpeechToText(model, tokenizer, {}, num_mel_bins=config.get("input_size", 80),
                       max_new_tokens=args.max_new_tokens, device=device)
    feats, prompts = read_kv(data / "feats.scp"), read_kv(data / "prompt")
    refs, utt2lang, utt2tgt = read_kv(data / "text"), read_kv(data / "utt2lang"), read_kv(data / "utt2tgt")
    for task in todo:
        ids = sorted(k for k, c in category.items() if c == task)
        if args.limit:
            ids = ids[: args.limit]
        if not ids:
            logging.warning("%s has no %s examples; nothing to decode", data, task)
            continue
        t0 = time.time()
        hyps = decode_examples(s2t, ids, feats, prompts, args.batch_size)
        elapsed = time.time() - t0
        out = Path(f"{args.out_prefix}_{task}")
        info = {"options": {**options, "task": task}, "examples": len(ids), "seconds": round(elapsed, 2),
                "method_stage": str(Path(args.exp_dir)), "set": data.name}
        write_decode_dir(out, ids, hyps, refs, utt2lang, utt2tgt, task, info)
        logging.info("%s: %d %s examples in %.1f s -> %s", data.name, len(ids), task, elapsed, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
