"""How fast is feature extraction? Prints fbank extraction speed as a multiple of real time.

Usage::

    tools/venv/bin/python bench/bench_feats.py [--num_utts 300] [--utt_seconds 6] [--nj 1 2] [--repeats 2]
                                               [--json bench_feats.json]

Generates ``num_utts`` utterances of noisy tones (16 kHz, 16-bit wav) in a temporary data dir, then
times ``python -m part.bin.extract_feats`` end to end (validation with audio checks, reading, 80-bin
fbank, writing ark/scp and CMVN stats) once per ``--nj`` value, in-process, and also the fbank
computation alone on one core. Speed = seconds of audio / seconds of wall time ("x real time").
The first run of ``--nj > 1`` also starts the worker server (one torch import, about 2 s), as a
real run does; the "best" column is the fastest of ``--repeats`` runs, where that cost is paid already.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from part.bin import extract_feats as ef
from part.data.audio import read_audio
from part.data.features import FeatureOptions, compute_features
from part.data.datadir import write_data_dir


def make_corpus(root: Path, num_utts: int, utt_seconds: float, sample_rate: int = 16000) -> Path:
    rng = np.random.default_rng(0)
    wav_scp, text, utt2spk, utt2lang = {}, {}, {}, {}
    for i in range(num_utts):
        spk = f"spk{i % 4}"
        utt = f"{spk}-{i:05d}"
        n = int(utt_seconds * sample_rate * rng.uniform(0.8, 1.2))
        t = np.arange(n) / sample_rate
        samples = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.02 * rng.standard_normal(n)
        path = root / "wav" / f"{utt}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(path), samples.astype(np.float32), sample_rate, subtype="PCM_16")
        wav_scp[utt], text[utt], utt2spk[utt], utt2lang[utt] = str(path), "a b c", spk, "en"
    write_data_dir(root / "data", wav_scp=wav_scp, text=text, utt2spk=utt2spk, utt2lang=utt2lang)
    return root / "data"


def audio_seconds(data_dir: Path) -> float:
    return sum(soundfile.info(line.split(" ", 1)[1].strip()).duration
               for line in (data_dir / "wav.scp").read_text().splitlines())


def time_fbank_only(data_dir: Path, max_utts: int = 20) -> float:
    """x real time of compute_features alone, one thread, on up to max_utts utterances."""
    import torch

    torch.set_num_threads(1)
    opts = FeatureOptions()
    samples = [read_audio(line.split(" ", 1)[1].strip())
               for line in (data_dir / "wav.scp").read_text().splitlines()[:max_utts]]
    compute_features(samples[0], opts)  # warm-up
    start = time.perf_counter()
    for s in samples:
        compute_features(s, opts)
    elapsed = time.perf_counter() - start
    return sum(len(s) for s in samples) / opts.sample_rate / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=300, help="utterances to generate")
    parser.add_argument("--utt_seconds", type=float, default=6.0, help="mean utterance length (s)")
    parser.add_argument("--nj", type=int, nargs="+", default=[1, 2], help="job counts to compare")
    parser.add_argument("--repeats", type=int, default=2, help="runs per job count (first and best are shown)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    print(f"# {' '.join([sys.executable] + sys.argv)}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING)

    results = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "num_utts": args.num_utts}
    with tempfile.TemporaryDirectory(prefix="bench_feats.") as tmp:
        data_dir = make_corpus(Path(tmp), args.num_utts, args.utt_seconds)
        seconds = audio_seconds(data_dir)
        results["audio_seconds"] = seconds
        results["fbank_only_x_real_time"] = time_fbank_only(data_dir)
        print(f"audio: {args.num_utts} utterances, {seconds:.1f} s; {os.cpu_count()} CPU cores")
        print(f"fbank computation alone, 1 thread: {results['fbank_only_x_real_time']:.0f}x real time")
        print(f"{'nj':>4} {'first: wall s':>14} {'x real time':>12} {'best: wall s':>13} {'x real time':>12}")
        for run_index, nj in enumerate(args.nj):
            walls = []
            for repeat in range(args.repeats):
                out = Path(tmp) / f"fbank_{run_index}_nj{nj}_{repeat}"
                start = time.perf_counter()
                ef.extract_feats(str(data_dir), str(out), nj=nj)
                walls.append(time.perf_counter() - start)
            first, best = walls[0], min(walls)
            results[f"nj{nj}"] = {"first_wall_seconds": first, "best_wall_seconds": best,
                                  "first_x_real_time": seconds / first, "best_x_real_time": seconds / best}
            print(f"{nj:>4} {first:>14.2f} {seconds / first:>11.0f}x {best:>13.2f} {seconds / best:>11.0f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
