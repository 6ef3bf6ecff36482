#!/usr/bin/env python3
"""Training throughput of the PART speech-LLM through ESPnet's trainer, per parameter-activation setting.

For each setting — adapter only (PART phase 1), adapter + encoder (phase 2), adapter + encoder + LLM LoRA
(phase 3) — one ``part_train`` run (``PARTTask.main``, the recipe's phase YAML with the embedded recipe's
default sizes, read from ``egs/mini_multilingual/conf``: the Conformer of ``encoder.yaml`` — 144-d x 4 blocks —
with a CTC head, the ``ctc_posterior`` adapter, a random Qwen2 LLM of ``llm_default.yaml`` — hidden 256,
4 layers, vocabulary 2000) trains one epoch of ``--iters`` batches on a synthetic task dir
(random 80-bin features of 1.5-4.5 s, real sentences of the embedded corpus as targets). Each setting runs in
its own process, so that its peak RSS (``getrusage``) is its own.

Measured, per training step (the first step is warm-up and left out):

- ``step``: wall time from asking ESPnet's iterator for a batch to asking for the next one — everything the
  trainer does for a step: data loading, collate, forward, backward, gradient clipping, optimizer, reporter.
- ``fwd+bwd``: the same batch through ``model(**batch)`` and ``loss.backward()`` alone, replayed just before
  the trainer's step (after one untimed warm-up pass over that batch shape; gradients cleared again), so
  that both see the same machine load and both run warm.
- ``overhead = 1 - fwd+bwd / step``: the share of the step spent outside the model's forward/backward
  (median over steps, step i paired with its replay). ESPnet's own ``forward_time`` + ``backward_time``,
  measured inside the very same steps, give a second estimate that a busy machine disturbs less.

    tools/venv/bin/python bench/bench_train.py [--iters 8] [--batch_size 16] [--out bench/results/train.json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
RECIPE_CONF = REPO / "egs" / "mini_multilingual" / "conf"
SETTINGS: Dict[str, dict] = {
    "adapter": {"phase": "phase1", "trainable": ["adapter"]},
    "adapter+encoder": {"phase": "phase2", "trainable": ["adapter", "encoder"]},
    "adapter+encoder+lora": {"phase": "phase3", "trainable": ["adapter", "encoder", "llm_lora"]},
}
LANGS = ["de", "en", "fr", "zh"]


def _env() -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=f"{REPO}:{REPO / 'tests'}",
                NLTK_DATA=str(REPO / "tools" / "nltk_data"))


def _yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def prepare(work: Path, num_utts: int, seed: int) -> None:
    """The LLM (random, recipe sizes), the task dirs and one phase config per setting."""
    import yaml

    sys.path.insert(0, str(REPO / "tests"))
    from helpers_tiny import make_feats_dir, make_tiny_llm  # noqa: E402

    from part.data.embedded.corpus import tuple_stream
    from part.data.examples import build_examples, write_task_dir

    rows = [t.as_json(LANGS) for t in itertools.islice(tuple_stream(seed), 4000)]
    llm_conf = _yaml(RECIPE_CONF / "llm_default.yaml")
    model_keys = ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads")
    make_tiny_llm(work / "llm", vocab_size=llm_conf["vocab_size"], seed=seed, rows=rows,
                  **{k: llm_conf[k] for k in model_keys})
    prompts = _yaml(RECIPE_CONF / "prompts.yaml")
    for name, n, frames in (("train", num_utts, (150, 450)), ("valid", 4, (150, 300))):
        feats = make_feats_dir(work / "fbank" / name, num_utts=n, frames=frames, seed=seed + len(name),
                               rows=rows[: max(n, 8)], langs=LANGS, translations=False)
        write_task_dir(build_examples(feats, prompts, ["asr"], ["*-en"]), work / "tasks" / name, 80)
    encoder = _yaml(RECIPE_CONF / "encoder.yaml")
    for setting, spec in SETTINGS.items():
        conf = _yaml(RECIPE_CONF / "part" / f"{spec['phase']}.yaml")
        conf.update(encoder=encoder["encoder"], encoder_conf=encoder["encoder_conf"], max_epoch=1,
                    schedule_conf={"trainable": {1: spec["trainable"]}, "tasks": {1: ["asr"]}})
        if "llm_lora" not in spec["trainable"]:
            conf.pop("lora_conf", None)
        (work / f"{setting}.yaml").write_text(yaml.safe_dump(conf), encoding="utf-8")


def child(work: Path, setting: str, iters: int, batch_size: int) -> dict:
    """One training run of ``setting`` under ESPnet's trainer, then the replay of its batches."""
    import torch

    from part.tasks.part_task import PARTTask
    from part.tasks.trainer import PARTTrainer

    record: dict = {}

    class TimedTrainer(PARTTrainer):
        @classmethod
        def train_one_epoch(cls, model, iterator, optimizers, schedulers, scaler, reporter, summary_writer,
                            options, distributed_option):
            fetch: List[float] = []  # data loading + collate of each batch (ESPnet's iterator)
            replay: List[float] = []  # pure forward + backward of the same batch, just before the trainer's step
            ready: List[float] = []  # when the batch was handed to the trainer
            resume: List[float] = []  # when the trainer asked for the next batch (its step was over)
            batches: list = []

            def timed():
                source = iter(iterator)
                while True:
                    start = time.perf_counter()
                    try:
                        item = next(source)
                    except StopIteration:
                        resume.append(start)
                        return
                    resume.append(start)
                    fetch.append(time.perf_counter() - start)
                    # The replay runs seconds before the real step, under the same machine load. Every batch
                    # has its own shape, and the first pass over a shape pays for kernel selection and memory:
                    # one untimed pass first, so that the timed replay and the trainer's step both run warm.
                    for warm in (True, False):
                        t = time.perf_counter()
                        model(**item[1])[0].backward()
                        if not warm:
                            replay.append(time.perf_counter() - t)
                        model.zero_grad(set_to_none=True)
                    batches.append(item[1])
                    ready.append(time.perf_counter())
                    yield item

            out = super().train_one_epoch(model, timed(), optimizers, schedulers, scaler, reporter, summary_writer,
                                          options, distributed_option)
            stats = {k: [float(r.value) for r in reporter.stats[k]] for k in
                     ("forward_time", "backward_time", "optim_step_time") if k in reporter.stats}
            # A trainer step: loading its batch, then everything until the trainer asks for the next one.
            steps = [f + (nxt - r) for f, r, nxt in zip(fetch, ready, resume[1:])]
            record.update(model=model, batches=batches, steps=steps, replay=replay, espnet=stats)
            return out

    PARTTask.trainer = TimedTrainer
    tasks = work / "tasks"
    cmd = ["--config", str(work / f"{setting}.yaml"), "--llm_path", str(work / "llm"),
           "--output_dir", str(work / "exp" / setting), "--ngpu", "0", "--seed", "1",
           "--num_iters_per_epoch", str(iters), "--batch_size", str(batch_size), "--log_interval", "1000"]
    for split, prefix in (("train", "train"), ("valid", "valid")):
        for name, kind in (("feats.scp", "speech,kaldi_ark"), ("prompt", "prompt,text"), ("text", "text,text")):
            cmd += [f"--{prefix}_data_path_and_name_and_type", f"{tasks / split / name},{kind}"]
        cmd += [f"--{prefix}_shape_file", str(tasks / split / "speech_shape")]
    t0 = time.perf_counter()
    PARTTask.main(cmd=cmd)
    total = time.perf_counter() - t0

    model, batches = record["model"], record["batches"]
    steps, fwd_bwd = record["steps"][1:], record["replay"][1:]  # leave out the warm-up step
    utts = [int(b["speech_lengths"].numel()) for b in batches[1:]]
    frames = [int(b["speech_lengths"].sum()) for b in batches[1:]]
    timed = {k: v[1:] for k, v in record["espnet"].items() if len(v) > 1}
    espnet = {k: statistics.median(v) for k, v in timed.items()}
    # Medians, and the overhead per step then its median: robust to a busy machine's outliers.
    step, fb = statistics.median(steps), statistics.median(fwd_bwd)
    inside = [f + b for f, b in zip(timed.get("forward_time", []), timed.get("backward_time", []))]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "setting": setting, "steps": len(steps), "step_s": step, "fwd_bwd_s": fb,
        "overhead": statistics.median(1.0 - f / s for f, s in zip(fwd_bwd, steps)),
        "espnet_overhead": statistics.median(1.0 - i / s for i, s in zip(inside, steps)) if inside else float("nan"),
        "espnet_times_s": espnet, "step_times_s": steps, "fwd_bwd_times_s": fwd_bwd,
        "utt_per_s": sum(utts) / sum(steps), "frames_per_s": sum(frames) / sum(steps),
        "mean_batch": statistics.mean(utts), "mean_frames_per_utt": sum(frames) / sum(utts),
        "trainable_params": trainable, "total_params": sum(p.numel() for p in model.parameters()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "run_s": total, "torch_threads": torch.get_num_threads(),
    }


def table(results: List[dict]) -> str:
    head = (f"{'setting':<22} {'trainable':>10} {'utt/s':>7} {'frames/s':>9} {'step s':>7} {'fwd+bwd s':>9} "
            f"{'overhead':>8} {'(espnet)':>8} {'peak RSS':>9}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r['setting']:<22} {r['trainable_params'] / 1e6:>9.2f}M {r['utt_per_s']:>7.2f} "
                     f"{r['frames_per_s']:>9.0f} {r['step_s']:>7.3f} {r['fwd_bwd_s']:>9.3f} "
                     f"{100 * r['overhead']:>7.1f}% {100 * r['espnet_overhead']:>7.1f}% "
                     f"{r['peak_rss_mb']:>7.0f}MB")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=8, help="Training steps per setting (the first is warm-up)")
    parser.add_argument("--batch_size", type=int, default=16, help="Utterances per batch (the recipe's)")
    parser.add_argument("--num_utts", type=int, default=96, help="Utterances in the synthetic training set")
    parser.add_argument("--settings", default=",".join(SETTINGS),
                        help="Comma-separated subset of " + ", ".join(SETTINGS))
    parser.add_argument("--work_dir", help="Keep the synthetic data and runs here (default: a temporary dir)")
    parser.add_argument("--out", help="Also write the results as JSON here")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        result = child(Path(args.work_dir), args.child, args.iters, args.batch_size)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    settings = [s for s in args.settings.split(",") if s]
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        parser.error(f"unknown setting(s) {sorted(unknown)}; choose from {list(SETTINGS)}")
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        work = Path(args.work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.update(_env())
        t0 = time.perf_counter()
        prepare(work, args.num_utts, args.seed)
        print(f"prepared LLM, data and configs in {time.perf_counter() - t0:.1f} s ({work})", file=sys.stderr)
        results = []
        load_before = os.getloadavg()[0]
        for setting in settings:
            proc = subprocess.run([sys.executable, __file__, "--child", setting, "--work_dir", str(work),
                                   "--iters", str(args.iters), "--batch_size", str(args.batch_size)],
                                  env=_env(), cwd=REPO, capture_output=True, text=True)
            found = [line[len("RESULT "):] for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
            if proc.returncode != 0 or not found:
                print(proc.stderr[-3000:], file=sys.stderr)
                print(f"setting {setting} failed (exit {proc.returncode})", file=sys.stderr)
                return 1
            results.append(json.loads(found[0]))
            r = results[-1]
            print(f"{setting}: {r['steps']} timed steps, ESPnet times per step {json.dumps(r['espnet_times_s'])}",
                  file=sys.stderr)
    print(f"PART training throughput, CPU ({os.cpu_count()} cores, {results[0]['torch_threads']} torch threads), "
          f"batch {args.batch_size} utterances of {results[0]['mean_frames_per_utt']:.0f} frames on average, "
          f"{results[0]['total_params'] / 1e6:.1f}M parameters; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (above the core count, other processes share the CPU: timings are noisy)")
    print(table(results))
    print("overhead: share of a trainer step outside forward/backward (data loading, collate, clipping, optimizer, "
          "reporter), from the replayed pure forward/backward; (espnet): from ESPnet's own forward_time+backward_time")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
