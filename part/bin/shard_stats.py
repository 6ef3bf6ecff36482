"""Global CMVN statistics of a raw-audio shard set (stage 2 with ``--feats_type raw``, training set).

Usage::

    python -m part.bin.shard_stats --shards dump/raw/train [--max_utts 2000] \\
        [--feature_type fbank|whisper] [--num_mel_bins 80] [--frame_length 25] [--frame_shift 10]

An encoder that normalises its input (the Conformer's global CMVN) needs the mean and variance of the
features it will see. With dumped features stage 2 sums them over the whole set; with features made on
the fly they are estimated from ``--max_utts`` utterances spread evenly over the shards (every shard
contributes; a few thousand utterances pin the per-bin mean and variance down to well under 1%). Writes
``feats_stats.npz`` (ESPnet's GlobalMVN format: count, sum, sum_square) and ``feat_dim`` into the shard
set's directory; the same options and shard set again are skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from dataclasses import asdict
from typing import Optional, Sequence

import numpy as np

from part.data.features import FEATURE_TYPES, FeatureOptions, compute_features
from part.data.shards import INDEX, AudioBytesError, ShardError, ShardSet, load_audio
from part.data.stamps import is_done, write_done

STATS = "feats_stats.npz"


def shard_stats(shards_dir: str, opts: FeatureOptions, max_utts: int = 2000) -> bool:
    """Estimate and write the statistics; False when they were already there for these options."""
    shards = ShardSet(shards_dir)
    root = shards.root
    identity = {"what": "cmvn", "options": asdict(opts),
                "max_utts": max_utts, "index": hashlib.sha256((root / INDEX).read_bytes()).hexdigest()}
    marker_dir = root / "stats"
    if is_done(marker_dir, identity) and (root / STATS).is_file():
        logging.info("%s: statistics are up to date; skipped", root / STATS)
        return False
    per_shard = max(1, -(-max_utts // max(1, len(shards.shards))))
    count, total, total_sq, used = 0, np.zeros(opts.num_mel_bins), np.zeros(opts.num_mel_bins), 0
    handles = {}
    for shard in shards.shards:
        records = list(shards.records(shard))
        step = max(1, len(records) // per_shard)
        for record in records[::step][:per_shard]:
            try:
                feats = compute_features(load_audio(record, shards.sample_rate, handles), opts)
            except AudioBytesError as err:
                logging.warning("%s", err)
                continue
            count += feats.shape[0]
            total += feats.sum(axis=0, dtype=np.float64)
            total_sq += np.square(feats, dtype=np.float64).sum(axis=0)
            used += 1
    if not count:
        raise ShardError(f"{root}: no readable utterance to estimate the feature statistics from")
    np.savez(root / STATS, count=np.array(count, dtype=np.int64), sum=total, sum_square=total_sq)
    (root / "feat_dim").write_text(f"{opts.num_mel_bins}\n")
    marker_dir.mkdir(exist_ok=True)
    write_done(marker_dir, identity, {"utterances": used, "frames": count})
    logging.info("%s: statistics of %d %s frames from %d utterances", root / STATS, count, opts.feature_type, used)
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m part.bin.shard_stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", required=True, help="the packed training set (dump/raw/<train_set>)")
    parser.add_argument("--max_utts", type=int, default=2000, help="utterances to estimate from (default 2000)")
    parser.add_argument("--feature_type", choices=FEATURE_TYPES, default="fbank")
    parser.add_argument("--num_mel_bins", type=int, default=80)
    parser.add_argument("--frame_length", type=float, default=25.0, help="ms")
    parser.add_argument("--frame_shift", type=float, default=10.0, help="ms")
    parser.add_argument("--sample_rate", type=int, default=16000)
    parser.add_argument("--policy", default="reject", help="ignored (the shards hold audio at one sample rate)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (shard_stats) %(levelname)s: %(message)s")
    try:
        opts = FeatureOptions(args.num_mel_bins, args.frame_length, args.frame_shift, args.sample_rate,
                              feature_type=args.feature_type).check()
        shard_stats(args.shards, opts, args.max_utts)
    except (ShardError, ValueError) as err:
        logging.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
