"""Pack a Kaldi data dir into raw-audio shards (stage 2 of a recipe with ``--feats_type raw``).

Usage::

    python -m part.bin.pack_shards --data_dir data/train --out_dir dump/raw/train \\
        [--utts_per_shard 1000] [--nj 4] [--sample_rate 16000] [--policy reject|resample] \\
        [--min_duration 0.1] [--max_duration 30] [--max_bad_fraction 0.05]

Writes ``out_dir`` as :mod:`part.data.shards` describes (``index.json``, ``shards/<lang>-NNNNNN.{tar,
jsonl}``, ``skipped``, ``.done``). Every utterance's audio is decoded exactly once, here: that is the
validation of the audio (no separate pass); an utterance whose audio is missing, unreadable, empty,
at another sample rate under ``--policy reject``, or outside the duration limits is left out with a
warning naming the data dir file, the entry and the reason, and listed in ``skipped``. More than
``--max_bad_fraction`` of bad audio (not counting the length filter) stops the run: that is a
corpus-wide problem (a wrong path, a wrong sample rate), not a few broken clips.

Memory does not grow with the corpus: utterances are read in order and handed to ``--nj`` worker
processes a shard at a time, with at most ``2 x nj`` shards in flight. Shards are built in
``<out_dir>.tmp``; a shard is complete once its manifest exists, and a killed run started again keeps
the complete shards and packs only the rest. A finished ``out_dir`` with the same options and inputs
is skipped.
"""
from __future__ import annotations

import argparse
import concurrent.futures as futures
import json
import logging
import multiprocessing
import os
import shutil
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from part.data.audio import SAMPLE_RATE_POLICIES, AudioError, RecordingReader, audio_info, is_pipe
from part.data.datadir import Utterance
from part.data.shards import (FORMAT_NAME, FORMAT_VERSION, INDEX, SHARD_DIR, COMPRESSED_FORMATS, DurationHistogram,
                              ShardWriter, encode_flac)
from part.data.stamps import input_fingerprint, is_done, write_done

MAX_LISTED = 10


class PackError(Exception):
    """Packing cannot go on (nothing usable, too much bad audio, bad options); the message says why."""


@dataclass
class PackOptions:
    sample_rate: int = 16000
    policy: str = "reject"
    min_duration: float = 0.1
    max_duration: float = 30.0


@dataclass
class ShardResult:
    name: str
    lang: str
    utts: int = 0
    seconds: float = 0.0
    translations: Dict[str, int] = field(default_factory=dict)
    skipped: List[Tuple[str, str, str]] = field(default_factory=list)  # (utt, kind, reason); kind: bad | length
    # Once collected, ``skipped`` keeps only MAX_LISTED examples of each kind (the whole list is in the shard's
    # .skipped file) and these count them: the results of 40,000 shards stay small.
    num_bad: int = 0
    num_length: int = 0

    def summarise(self) -> None:
        self.num_bad = sum(1 for s in self.skipped if s[1] == "bad")
        self.num_length = len(self.skipped) - self.num_bad
        self.skipped = [s for s in self.skipped if s[1] == "bad"][:MAX_LISTED] + \
            [s for s in self.skipped if s[1] == "length"][:MAX_LISTED]
        self.histogram = None
    histogram: Optional[DurationHistogram] = None


def iter_utterances(data_dir: Path) -> Iterator[Utterance]:
    """The utterances of a data dir, validated first (every problem reported), then streamed in id order."""
    from part.data.datadir import iter_utterances as stream, validate_data_dir

    report = validate_data_dir(data_dir)
    for message in report.warnings:
        logging.warning(message)
    report.raise_for_errors()
    return stream(data_dir)


def _keeps_original(utt: Utterance, rate: int) -> Optional[str]:
    """The extension under which the original file's bytes can be stored as they are, or None."""
    if utt.segment is not None or is_pipe(utt.wav):
        return None
    try:
        info = audio_info(utt.wav, utt.utt_id)
    except AudioError:
        return None
    kind = info.format.upper()
    if kind in COMPRESSED_FORMATS and info.sample_rate == rate and info.num_channels == 1:
        return COMPRESSED_FORMATS[kind]
    return None


def pack_shard(name: str, lang: str, utts: Sequence[Utterance], shard_dir: Path, opts: PackOptions,
               where: str = "wav.scp") -> ShardResult:
    """Read, check and write the utterances of one shard (``where`` names the data-dir file in warnings)."""
    result = ShardResult(name, lang, histogram=DurationHistogram())
    reader = RecordingReader(opts.sample_rate, opts.policy)
    writer = ShardWriter(shard_dir, name)
    try:
        for utt in utts:
            segment = (utt.segment.start, utt.segment.end) if utt.segment is not None else None
            try:
                samples = reader.read(utt.utt_id, utt.wav, segment)
            except AudioError as err:
                result.skipped.append((utt.utt_id, "bad", f"{where}: {err}"))
                continue
            seconds = len(samples) / opts.sample_rate
            if not opts.min_duration <= seconds <= opts.max_duration:
                result.skipped.append((utt.utt_id, "length", f"{where}: {seconds:.2f} s, outside "
                                                             f"[{opts.min_duration:g}, {opts.max_duration:g}] s"))
                continue
            extension = _keeps_original(utt, opts.sample_rate)
            if extension:
                with open(utt.wav, "rb") as f:
                    audio = f.read()
            else:
                audio, extension = encode_flac(samples, opts.sample_rate), "flac"
            record = {"id": utt.utt_id, "duration": round(seconds, 4), "lang": utt.lang, "spk": utt.speaker,
                      "text": utt.text, "translations": utt.translations}
            writer.add(record, audio, extension)
            result.utts += 1
            result.seconds += seconds
            result.histogram.add(seconds)
            for tgt in utt.translations:
                result.translations[tgt] = result.translations.get(tgt, 0) + 1
        # The list of skipped utterances goes first: a manifest on disk marks a finished shard.
        (shard_dir / f"{name}.skipped").write_text(json.dumps(result.skipped, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    result.seconds = round(result.seconds, 3)
    return result


def finished_shard(name: str, lang: str, shard_dir: Path) -> Optional[ShardResult]:
    """The result of a shard that an earlier, interrupted run completed (None if it did not)."""
    manifest, skipped = shard_dir / f"{name}.jsonl", shard_dir / f"{name}.skipped"
    if not (manifest.is_file() and skipped.is_file() and (shard_dir / f"{name}.tar").is_file()):
        return None
    result = ShardResult(name, lang, histogram=DurationHistogram())
    with open(manifest, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            result.utts += 1
            result.seconds += record["duration"]
            result.histogram.add(record["duration"])
            for tgt in record["translations"]:
                result.translations[tgt] = result.translations.get(tgt, 0) + 1
    result.skipped = [tuple(s) for s in json.loads(skipped.read_text(encoding="utf-8"))]
    result.seconds = round(result.seconds, 3)
    return result


def shard_jobs(utterances: Iterator[Utterance], utts_per_shard: int) -> Iterator[Tuple[str, str, List[Utterance]]]:
    """``(name, lang, utterances)`` per shard: each language's utterances in order, cut every
    ``utts_per_shard``. Deterministic: the same data dir gives the same shards."""
    open_shards: Dict[str, List[Utterance]] = {}
    counters: Dict[str, int] = {}
    for utt in utterances:
        group = open_shards.setdefault(utt.lang, [])
        group.append(utt)
        if len(group) == utts_per_shard:
            yield _shard_name(utt.lang, counters), utt.lang, group
            open_shards[utt.lang] = []
    for lang in sorted(open_shards):
        if open_shards[lang]:
            yield _shard_name(lang, counters), lang, open_shards[lang]


def _shard_name(lang: str, counters: Dict[str, int]) -> str:
    k = counters.get(lang, 0)
    counters[lang] = k + 1
    return f"{lang}-{k:06d}"


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C


def run_jobs(jobs: Iterator[Tuple[str, str, List[Utterance]]], shard_dir: Path, opts: PackOptions, nj: int,
             where: str = "wav.scp", total: Optional[int] = None,
             histogram: Optional[DurationHistogram] = None) -> List[ShardResult]:
    """Pack every shard (reusing finished ones), ``nj`` processes, at most ``2 nj`` shards in flight. The
    shards' durations are merged into ``histogram`` as they come (a result keeps only its counts: memory
    grows by a few bytes per shard, not per utterance)."""
    from tqdm import tqdm

    results: List[ShardResult] = []
    bar = tqdm(total=total, desc="packing", unit="utt", file=sys.stderr, mininterval=1.0)

    def collect(result: ShardResult) -> None:
        if histogram is not None:
            histogram.merge(result.histogram)
        bar.update(result.utts + len(result.skipped))
        result.summarise()
        results.append(result)

    try:
        if nj <= 1:
            for name, lang, utts in jobs:
                collect(finished_shard(name, lang, shard_dir) or pack_shard(name, lang, utts, shard_dir, opts, where))
            return results
        ctx = multiprocessing.get_context("fork")
        with futures.ProcessPoolExecutor(nj, mp_context=ctx, initializer=_worker_init) as pool:
            pending = set()
            for name, lang, utts in jobs:
                done = finished_shard(name, lang, shard_dir)
                if done is not None:
                    collect(done)
                    continue
                pending.add(pool.submit(pack_shard, name, lang, utts, shard_dir, opts, where))
                if len(pending) >= 2 * nj:
                    finished, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                    for future in finished:
                        collect(future.result())
            for future in futures.as_completed(pending):
                collect(future.result())
        return results
    finally:
        bar.close()


def _report_skipped(results: List[ShardResult], out_dir: Path) -> Tuple[int, int]:
    """One warning per kind of skipped utterance, with a few examples; returns the two counts."""
    counts = {"bad": sum(r.num_bad for r in results), "length": sum(r.num_length for r in results)}
    for kind, what in (("bad", "unusable audio"), ("length", "duration")):
        items = sorted(s for r in results for s in r.skipped if s[1] == kind)[:MAX_LISTED]
        if counts[kind]:
            shown = "; ".join(f"{utt}: {reason}" for utt, _, reason in items)
            more = f"; and {counts[kind] - len(items)} more" if counts[kind] > len(items) else ""
            logging.warning("%s: skipped %d utterance(s) for %s (listed in %s): %s%s", out_dir, counts[kind], what,
                            out_dir / "skipped", shown, more)
    return counts["bad"], counts["length"]


def pack(data_dir: str, out_dir: str, opts: PackOptions = PackOptions(), utts_per_shard: int = 1000, nj: int = 2,
         max_bad_fraction: float = 0.05) -> bool:
    """Pack ``data_dir`` into ``out_dir``; False when it was already done (skipped)."""
    data_path, out_path = Path(data_dir), Path(os.path.normpath(out_dir))
    if opts.policy not in SAMPLE_RATE_POLICIES:
        raise PackError(f"--policy must be one of {SAMPLE_RATE_POLICIES}")
    if utts_per_shard < 1 or not 0 <= opts.min_duration <= opts.max_duration:
        raise PackError("need --utts_per_shard >= 1 and 0 <= --min_duration <= --max_duration")
    identity = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "data_dir": str(data_dir), "options": asdict(opts),
                "utts_per_shard": utts_per_shard,
                "inputs": input_fingerprint(data_path) if data_path.is_dir() else {}}
    if is_done(out_path, identity):
        logging.info("%s is already done with the same options and inputs; skipped", out_path)
        return False

    tmp = out_path.with_name(out_path.name + ".tmp")
    shard_dir = tmp / SHARD_DIR
    previous = tmp / "identity.json"
    if tmp.exists() and (not previous.is_file() or json.loads(previous.read_text()) != identity):
        logging.info("removing %s, left by an interrupted run with other options or inputs", tmp)
        shutil.rmtree(tmp)
    elif tmp.exists():
        logging.info("%s: resuming an interrupted run (finished shards are kept)", tmp)
    shard_dir.mkdir(parents=True, exist_ok=True)
    previous.write_text(json.dumps(identity) + "\n")

    utterances = iter_utterances(data_path)
    where = str(data_path / ("segments" if (data_path / "segments").is_file() else "wav.scp"))
    histogram = DurationHistogram()
    results = run_jobs(shard_jobs(utterances, utts_per_shard), shard_dir, opts, nj, where, histogram=histogram)
    results.sort(key=lambda r: r.name)
    num_bad, num_length = _report_skipped(results, out_path)
    num_utts = sum(r.utts for r in results)
    total = num_utts + num_bad + num_length
    problem = None
    if not num_utts:
        problem = (f"no utterance of {data_path} is usable ({num_bad} with unusable audio, {num_length} outside "
                   f"the duration limits): see the warnings above; nothing was written to {out_path}")
    elif total and num_bad / total > max_bad_fraction:
        problem = (f"{num_bad} of {total} utterances of {data_path} have unusable audio, more than "
                   f"--max_bad_fraction {max_bad_fraction}: that is not a few broken clips but a problem of the "
                   "whole corpus (paths? sample rate? see the warnings above)")
    if problem:
        # The shards packed without the bad audio are not kept for a resumed run: once the corpus-wide
        # problem is fixed (a disk mounted, files restored), the next run must read all of the audio again.
        shutil.rmtree(tmp, ignore_errors=True)
        raise PackError(problem)

    langs: Dict[str, dict] = {}
    for r in results:
        entry = langs.setdefault(r.lang, {"utts": 0, "seconds": 0.0, "translations": {}})
        entry["utts"] += r.utts
        entry["seconds"] = round(entry["seconds"] + r.seconds, 3)
        for tgt, n in r.translations.items():
            entry["translations"][tgt] = entry["translations"].get(tgt, 0) + n
    index = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "sample_rate": opts.sample_rate,
             "data_dir": str(data_dir), "utts": num_utts, "seconds": round(sum(r.seconds for r in results), 3),
             "langs": langs, "skipped": {"bad_audio": num_bad, "duration": num_length},
             "duration_quantiles": histogram.quantiles(),
             "shards": [{"name": r.name, "lang": r.lang, "utts": r.utts, "seconds": r.seconds,
                         "translations": r.translations} for r in results if r.utts]}
    with open(tmp / "skipped", "w", encoding="utf-8") as out:  # every shard's list, in shard order
        for r in results:
            listed = shard_dir / f"{r.name}.skipped"
            for utt, _, reason in json.loads(listed.read_text(encoding="utf-8")):
                out.write(f"{utt} {reason}\n")
            listed.unlink()
            if not r.utts:  # a shard that lost every utterance is not part of the set
                for suffix in (".tar", ".jsonl"):
                    (shard_dir / f"{r.name}{suffix}").unlink(missing_ok=True)
    (tmp / INDEX).write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    num_skipped = num_bad + num_length
    previous.unlink()
    write_done(tmp, identity, {"utts": num_utts, "seconds": index["seconds"], "shards": len(index["shards"]),
                               "skipped": num_skipped})
    old = out_path.with_name(out_path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out_path.exists():
        os.rename(out_path, old)
    os.rename(tmp, out_path)
    shutil.rmtree(old, ignore_errors=True)
    logging.info("wrote %s: %d utterances, %.1f hours in %d shards%s", out_path, num_utts, index["seconds"] / 3600,
                 len(index["shards"]), f", {num_skipped} skipped" if num_skipped else "")
    return True


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m part.bin.pack_shards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", required=True, help="Kaldi data dir to pack")
    parser.add_argument("--out_dir", required=True, help="the shard set to write (dump/raw/<set>)")
    parser.add_argument("--utts_per_shard", type=int, default=1000, help="utterances per shard (default 1000)")
    parser.add_argument("--nj", type=int, default=2, help="parallel packing processes (default 2)")
    parser.add_argument("--sample_rate", type=int, default=16000, help="sample rate of the set (default 16000)")
    parser.add_argument("--policy", choices=SAMPLE_RATE_POLICIES, default="reject",
                        help="audio at another sample rate: reject (skip it) or resample (default reject)")
    parser.add_argument("--min_duration", type=float, default=0.1, help="drop shorter utterances, s (default 0.1)")
    parser.add_argument("--max_duration", type=float, default=30.0, help="drop longer utterances, s (default 30)")
    parser.add_argument("--max_bad_fraction", type=float, default=0.05,
                        help="stop when more than this fraction of the audio is unusable (default 0.05)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (pack_shards) %(levelname)s: %(message)s")
    logging.info("python -m part.bin.pack_shards %s", " ".join(sys.argv[1:] if argv is None else argv))
    opts = PackOptions(args.sample_rate, args.policy, args.min_duration, args.max_duration)
    from part.data.datadir import DataDirError

    try:
        pack(args.data_dir, args.out_dir, opts, args.utts_per_shard, args.nj, args.max_bad_fraction)
    except DataDirError as err:
        logging.error("%s", err)
        logging.error("%s is not a valid data dir; nothing was written to %s", args.data_dir, args.out_dir)
        return 1
    except PackError as err:
        logging.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
