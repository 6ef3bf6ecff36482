"""Decode an evaluation set with a trained PART model (recipe stage 7).

``--data_dir`` is an example list of stage 3 (``dump/examples/<set>``, dumped features) or a raw-audio
shard set (``dump/raw/<set>``, stage 2 with ``--feats_type raw``), whose examples are made on the fly
from ``--prompts``, ``--tasks`` and ``--directions`` with the model's front end, as in training
(:mod:`part.data.sources`).

For each task in ``--tasks`` this writes ``<out_prefix>_<task>/`` with ``hyp``, ``ref``, ``utt2lang``,
``utt2tgt``, ``task`` and ``decode_info.json`` (the decode-dir contract of docs/contracts.md; the info
file also records the options, the wall time and the real-time factor, wall time / audio duration).

Search: batched greedy search with the LLM's KV cache (the paper's setting), or beam search with
``--beam_size N`` (hypotheses ranked by ``log P / length ** --length_penalty``). A hypothesis ends at
EOS or at any special token (task and language tags: an ASR hypothesis never runs on into a
translation), after ``--max_new_tokens`` tokens or ``--max_length_ratio`` x its LLM input length
(prompt + speech vectors), or when its last n-gram has repeated ``--max_repeat_ngram`` times.

Examples are sorted by length into batches of ``--batch_size``; the batches are shared among ``--nj``
worker processes (one torch thread each, forked from this one after the model is loaded) and the
results merged in example order. A hypothesis does not depend on its batch, so neither ``--nj`` nor
``--batch_size`` changes the output. A finished decode dir with the same options is skipped.

    python -m part.bin.part_inference --exp_dir exp/part/phase3 --data_dir dump/examples/test \\
        --tasks asr,s2tt --out_prefix exp/part/phase3/decode_test --nj 4 [--beam_size 4]
    python -m part.bin.part_inference --exp_dir exp/part/phase3 --data_dir dump/raw/test \\
        --prompts conf/prompts.yaml --tasks asr,s2tt --out_prefix exp/part/phase3/decode_test
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List, Optional

from part.data.datadir import kaldi_value
from part.data.shards import is_shard_set
from part.data.sources import ExampleSource, open_examples


_WORKER = None  # (decoder, example source) of the decoding workers (set in the parent before forking)


def make_batches(ids: List[str], source: ExampleSource, batch_size: int) -> List[List[str]]:
    """Examples sorted by length (speech frames, then prompt length), longest first, in batches."""
    info = source.info
    order = sorted(ids, key=lambda k: (-info[k].frames, -len(info[k].prompt), k))
    size = max(1, batch_size)
    return [order[i: i + size] for i in range(0, len(order), size)]


def _decode_job(ids: List[str]) -> Dict[str, str]:
    """Decode one batch of example ids -> id -> hypothesis (in a worker, or in this process)."""
    s2t, source = _WORKER
    examples = [source.example(k) for k in ids]
    for example in examples:
        example.pop("text")  # the reference stays out of the decoder's input
    return {k: s2t.to_text(h) for k, h in zip(ids, s2t.decode_examples(examples))}


def _init_worker() -> None:
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    torch.set_num_threads(1)


def decode_examples(s2t, source: ExampleSource, ids: List[str], batch_size: int, nj: int = 1,
                    progress: bool = True) -> Dict[str, str]:
    """Decode ``ids`` of ``source`` in length-sorted batches, in ``nj`` processes; returns id -> hypothesis."""
    global _WORKER
    from tqdm import tqdm

    batches = make_batches(ids, source, batch_size)
    hyps: Dict[str, str] = {}
    if str(getattr(s2t, "device", "cpu")) != "cpu":
        nj = 1  # a CUDA context does not survive fork: one process drives the GPU
    _WORKER = (s2t, source)
    try:
        if nj <= 1 or len(batches) <= 1:
            with tqdm(total=len(ids), desc="decoding", unit="utt", disable=not progress) as bar:
                for batch in batches:
                    hyps.update(_decode_job(batch))
                    bar.update(len(batch))
            return hyps
        # Forked workers share the loaded model's memory; all of them start at the first submit, before
        # any helper thread (the pool's manager, tqdm's monitor) exists in this process.
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(nj, len(batches)), mp_context=ctx, initializer=_init_worker) as pool:
            futures = {pool.submit(_decode_job, batch): len(batch) for batch in batches}
            with tqdm(total=len(ids), desc=f"decoding ({nj} jobs)", unit="utt", disable=not progress) as bar:
                try:
                    for future in as_completed(futures):
                        hyps.update(future.result())
                        bar.update(futures[future])
                except BrokenProcessPool:
                    raise RuntimeError("a decoding worker died (killed for lack of memory?); try a smaller --nj") \
                        from None
        return hyps
    finally:
        _WORKER = None


def write_decode_dir(out: Path, ids: List[str], hyps: Dict[str, str], source: ExampleSource, task: str,
                     info: dict) -> None:
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    columns = (("hyp", lambda k: hyps[k]), ("ref", lambda k: source.info[k].target),
               ("utt2lang", lambda k: source.info[k].src), ("utt2tgt", lambda k: source.info[k].tgt))
    for name, value in columns:
        with open(tmp / name, "w", encoding="utf-8") as f:
            for k in sorted(ids):
                f.write(f"{k} {kaldi_value(value(k))}\n")
    (tmp / "task").write_text(task + "\n")
    (tmp / "decode_info.json").write_text(json.dumps(info, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)


def main(argv: Optional[List[str]] = None) -> int:
    from part.inference import DecodeOptions, add_decode_arguments, decode_options_from_args

    defaults = DecodeOptions()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="Trained phase dir (config.yaml + model files)")
    parser.add_argument("--model_file", default="valid.acc.ave.pth", help="Model file inside --exp_dir")
    parser.add_argument("--data_dir", required=True,
                        help="Example list of stage 3 (dump/examples/<set>) or raw-audio shard set (dump/raw/<set>)")
    parser.add_argument("--prompts", default=None, help="Prompt templates (conf/prompts.yaml): for a shard set")
    parser.add_argument("--directions", default="*-en,en-*",
                        help="Translation directions src-tgt (wildcards allowed): for a shard set")
    parser.add_argument("--tasks", default="asr,s2tt", help="Comma-separated tasks to decode")
    parser.add_argument("--out_prefix", required=True, help="Decode dirs are <out_prefix>_<task>")
    parser.add_argument("--batch_size", type=int, default=16, help="Examples decoded together")
    parser.add_argument("--nj", type=int, default=1, help="Parallel decoding processes (CPU), one torch thread each")
    parser.add_argument("--ngpu", type=int, default=0, help="1: decode on the GPU (in this process; --nj ignored)")
    parser.add_argument("--limit", type=int, default=0, help="Decode only the first N examples of each task")
    add_decode_arguments(parser, defaults)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (part_inference) %(levelname)s: %(message)s")
    if args.beam_size < 1 or args.batch_size < 1 or args.nj < 1 or args.max_new_tokens < 1:
        parser.error("--beam_size, --batch_size, --nj and --max_new_tokens must be positive")

    import torch

    from part.data.features import FeatureOptions
    from part.data.prompts import load_prompts
    from part.inference import SpeechToText, load_model

    torch.set_num_threads(1)  # --nj processes of one thread each (a single one decodes in this process)
    tasks = [t for t in args.tasks.split(",") if t]
    decode_opts = DecodeOptions(**decode_options_from_args(args))
    model_path = Path(args.exp_dir) / args.model_file
    options = dict(exp_dir=args.exp_dir, model=str(model_path.resolve()) if model_path.exists() else str(model_path),
                   model_mtime=model_path.stat().st_mtime if model_path.exists() else None,
                   data_dir=args.data_dir, limit=args.limit, **asdict(decode_opts))
    if is_shard_set(args.data_dir):  # the examples are made from these: they decide the result too
        options.update(prompts=str(Path(args.prompts).resolve()) if args.prompts else None,
                       directions=args.directions)
    options["batch_size"] = args.batch_size  # the batches change results when the encoder is not batch-exact
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
    nj = args.nj
    if device != "cpu" and nj > 1:
        logging.info("decoding on the GPU in one process (--nj %d ignored)", nj)
        nj = 1
    model, tokenizer, config = load_model(args.exp_dir, args.model_file, device)
    features = FeatureOptions.for_model(config)
    s2t = SpeechToText(model, tokenizer, None, features=features, device=device, **asdict(decode_opts))
    try:
        source = open_examples(args.data_dir, load_prompts(args.prompts) if args.prompts else None, todo,
                               args.directions.split(","), features)
    except (FileNotFoundError, ValueError) as err:
        sys.exit(f"part_inference: {err}")
    for task in todo:
        ids = source.ids(task)
        if args.limit:
            ids = ids[: args.limit]
        out = Path(f"{args.out_prefix}_{task}")
        if not ids:
            logging.warning("%s has no %s examples; nothing to decode (%s.none says so)", args.data_dir, task, out)
            out.with_name(out.name + ".none").write_text(f"{args.data_dir} has no {task} examples\n")
            continue
        t0 = time.time()
        hyps = decode_examples(s2t, source, ids, args.batch_size, nj=nj)
        elapsed = time.time() - t0
        audio = sum(source.info[k].frames for k in ids) * features.frame_shift / 1000
        info = {"options": {**options, "task": task}, "examples": len(ids), "seconds": round(elapsed, 2),
                "audio_seconds": round(audio, 2), "rtf": round(elapsed / audio, 4) if audio else None,
                "examples_per_second": round(len(ids) / max(elapsed, 1e-9), 2), "nj": nj,
                "batch_size": args.batch_size, "method_phase": str(Path(args.exp_dir)),
                "set": Path(args.data_dir).name}
        write_decode_dir(out, ids, hyps, source, task, info)
        logging.info("%s: %d %s examples in %.1f s (%s) -> %s", Path(args.data_dir).name, len(ids), task, elapsed,
                     f"real-time factor {info['rtf']} with {nj} job(s)" if audio else "text only", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
