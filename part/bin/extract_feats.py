"""Log-mel fbank features for a Kaldi data dir (stage 2 of egs/TEMPLATE/part.sh).

Usage::

    python -m part.bin.extract_feats --data_dir data/train --out_dir dump/fbank/train \\
        [--num_mel_bins 80] [--frame_length 25] [--frame_shift 10] [--nj 2] \\
        [--min_frames 10] [--max_frames 3000] [--compute_stats true] [--sample_rate 16000] \\
        [--policy reject] [--feature_type fbank|whisper]

Writes into ``out_dir`` (docs/contracts.md, "Features"):

- ``feats.scp`` and ``data/feats.<job>.ark``: float32 matrices (frames x num_mel_bins), kaldiio format,
  one ark per job, the scp merged and sorted. Paths in ``feats.scp`` are ``out_dir`` as given (relative
  to the recipe directory when ``out_dir`` is relative).
- ``utt2num_frames``, ``feat_dim`` (one number), ``dropped_utts`` (``utt reason``, maybe empty).
- ``text``, ``text.<tgt>``, ``utt2lang``, ``utt2spk``, ``spk2utt`` restricted to the kept utterances.
- ``feats_stats.npz`` with ``--compute_stats true``: global CMVN statistics in ESPnet's GlobalMVN format
  (``count`` frames, per-bin ``sum`` and ``sum_square``) over the kept utterances.
- ``.done``: the options and a hash of the input files. A re-run with the same options and inputs
  skips; otherwise it recomputes. ``--nj`` is not part of the identity (it does not change results).

``--feature_type fbank`` (the default, Kaldi's fbank) or ``whisper`` (Whisper's log-mel): computed by
:mod:`part.data.features`, the front end that on-the-fly training input and decoding use too.

``--nj`` splits the sorted utterances into contiguous parts, one forked process (one thread) and one
ark each; the results do not depend on it. A recording read through a pipe is run once for all its
consecutive segments.

The data dir is validated, audio included, before any work: a bad input fails with the file, line
and utterance id, and writes nothing. The work happens in ``<out_dir>.tmp``, renamed to ``out_dir`` at
the end, so an interrupted run never leaves a half-written ``out_dir`` (the next run removes the tmp dir).
"""
from __future__ import annotations

import argparse
import errno
import logging
import multiprocessing
import os
import queue as queue_module
import shutil
import signal
import sys
import threading
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from part.cli import str2bool
from part.data.audio import SAMPLE_RATE_POLICIES, AudioError, RecordingReader
from part.data.features import FEATURE_TYPES, FeatureOptions, compute_features, num_frames
from part.data.stamps import input_fingerprint, is_done, write_done
from part.data.datadir import (
    TRANSLATION_PREFIX,
    DataDir,
    DataDirError,
    read_data_dir,
    utt2spk_to_spk2utt,
    validate_data_dir,
    write_kaldi_file,
)

FORMAT_VERSION = 1  # bump when the features change for the same options (invalidates .done markers)
MAX_ERRORS_SHOWN = 30


class FeatureError(Exception):
    """A failure of extraction itself (bad audio found while reading, nothing left after filtering)."""


def _disk_full_message(err: OSError, where) -> str:
    """The report of a write that failed for lack of space (ENOSPC/EDQUOT), naming where."""
    return (f"disk full: no space left on the device of '{where}' while writing features ({err.strerror}); "
            "free some space or choose another --out_dir, then re-run")


def _is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def check_options(opts: FeatureOptions) -> None:
    try:
        opts.check()
    except ValueError as err:
        raise FeatureError(f"--{err}") from None


@dataclass
class Job:
    """One worker's share: contiguous utterances, written to one ark."""

    index: int  # 1-based
    items: List[Tuple[str, str, Optional[Tuple[float, float]]]]  # (utt, wav.scp entry, segment)
    opts: FeatureOptions
    ark_path: str  # where the worker writes the ark (in the tmp dir)
    final_ark_path: str  # what feats.scp names (in out_dir)
    min_frames: int
    max_frames: int
    compute_stats: bool


@dataclass
class JobResult:
    scp_lines: List[str] = field(default_factory=list)
    num_frames: Dict[str, int] = field(default_factory=dict)
    dropped: Dict[str, str] = field(default_factory=dict)  # utt -> reason
    count: int = 0
    sum: Optional[np.ndarray] = None
    sum_square: Optional[np.ndarray] = None


def run_job(job: Job, progress: Callable[[int], None]) -> JobResult:
    """Read, filter by length, compute and write the features of one job's utterances."""
    import kaldiio
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one process per core: --nj is the parallelism
    result = JobResult()
    bins = job.opts.num_mel_bins
    result.sum, result.sum_square = np.zeros(bins, np.float64), np.zeros(bins, np.float64)
    audio = RecordingReader(job.opts.sample_rate, job.opts.policy)
    try:
        with open(job.ark_path, "wb") as ark:
            for utt, entry, segment in job.items:
                samples = audio.read(utt, entry, segment)
                frames = num_frames(len(samples), job.opts)
                if frames < job.min_frames:
                    result.dropped[utt] = f"shorter than --min_frames {job.min_frames} ({frames} frames)"
                elif frames > job.max_frames:
                    result.dropped[utt] = f"longer than --max_frames {job.max_frames} ({frames} frames)"
                else:
                    feats = compute_features(samples, job.opts)
                    offset = ark.tell() + len((utt + " ").encode("utf-8"))
                    kaldiio.save_ark(ark, {utt: feats})
                    result.scp_lines.append(f"{utt} {job.final_ark_path}:{offset}")
                    result.num_frames[utt] = feats.shape[0]
                    if job.compute_stats:
                        result.count += feats.shape[0]
                        result.sum += feats.sum(axis=0, dtype=np.float64)
                        result.sum_square += np.square(feats, dtype=np.float64).sum(axis=0)
                progress(1)
    finally:
        torch.set_num_threads(threads)
    return result


def _job_process(job: Job, messages) -> None:
    """Body of a worker process: run the job, report progress, the result or the error on the queue."""
    # The parent handles Ctrl-C and stops the workers; SIGTERM (from the parent) ends a worker at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    pending = 0

    def progress(n: int) -> None:
        nonlocal pending
        pending += n
        if pending >= 8:
            messages.put(("progress", job.index, pending))
            pending = 0

    try:
        result = run_job(job, progress)
        messages.put(("progress", job.index, pending))
        messages.put(("done", job.index, result))
    except AudioError as err:
        messages.put(("error", job.index, str(err)))
    except OSError as err:
        text = _disk_full_message(err, Path(job.ark_path).parent.parent) if _is_disk_full(err) else None
        messages.put(("error", job.index, text or traceback.format_exc()))
    except Exception:  # anything else: the traceback is the only useful report
        messages.put(("error", job.index, traceback.format_exc()))


def run_jobs(jobs: List[Job], total: int) -> List[JobResult]:
    """Run the jobs (in-process for one job, else one forked process each) with a tqdm progress bar."""
    from tqdm import tqdm

    def progress_bar():
        return tqdm(total=total, desc="fbank", unit="utt", file=sys.stderr, mininterval=1.0)

    if len(jobs) == 1:
        with progress_bar() as bar:
            try:
                return [run_job(jobs[0], bar.update)]
            except AudioError as err:
                raise FeatureError(str(err)) from None
    # Forked workers (as torch's DataLoader does: one thread each) inherit these imports, and need no
    # `if __name__ == "__main__"` guard in the caller. They start before any helper thread (tqdm's) exists.
    import kaldiio  # noqa: F401
    import torch  # noqa: F401
    import torchaudio.compliance.kaldi  # noqa: F401

    ctx = multiprocessing.get_context("fork")
    messages = ctx.Queue()
    procs = {job.index: ctx.Process(target=_job_process, args=(job, messages), daemon=True) for job in jobs}
    results: Dict[int, JobResult] = {}
    try:
        for proc in procs.values():
            proc.start()
        with progress_bar() as bar:
            while len(results) < len(jobs):
                try:
                    kind, index, payload = messages.get(timeout=0.5)
                except queue_module.Empty:
                    exited = {index: proc.exitcode for index, proc in procs.items() if proc.exitcode is not None}
                    for index, code in exited.items():
                        if index not in results and (code != 0 or len(exited) == len(procs)):
                            raise FeatureError(f"job {index} died (exit code {code}); "
                                               "killed for lack of memory? try a smaller --nj") from None
                    continue
                if kind == "progress":
                    bar.update(payload)
                elif kind == "done":
                    results[index] = payload
                else:
                    raise FeatureError(payload)
    finally:
        for proc in procs.values():
            if proc.pid is None:  # never started
                continue
            if proc.is_alive():
                proc.terminate()
            proc.join()
    return [results[job.index] for job in jobs]


# ----------------------------------------------------------------------------------------------


def split_jobs(utts: Sequence[str], nj: int) -> List[List[str]]:
    """nj contiguous, nearly equal parts (fewer when there are fewer utterances)."""
    nj = max(1, min(nj, len(utts)))
    bounds = [round(i * len(utts) / nj) for i in range(nj + 1)]
    return [list(utts[bounds[i]:bounds[i + 1]]) for i in range(nj)]


def _write_outputs(tmp: Path, data: DataDir, kept: List[str], results: List[JobResult], opts: FeatureOptions,
                   compute_stats: bool) -> None:
    kept_set = set(kept)
    scp_lines = sorted((line for r in results for line in r.scp_lines), key=lambda s: s.split(" ", 1)[0].encode())
    (tmp / "feats.scp").write_text("".join(line + "\n" for line in scp_lines), encoding="utf-8")
    write_kaldi_file(tmp / "utt2num_frames", {u: str(n) for r in results for u, n in r.num_frames.items()})
    (tmp / "feat_dim").write_text(f"{opts.num_mel_bins}\n")
    write_kaldi_file(tmp / "dropped_utts", {u: why for r in results for u, why in r.dropped.items()})
    for name in ["text", "utt2lang", "utt2spk"] + [TRANSLATION_PREFIX + t for t in data.translation_langs]:
        subset = {u: v for u, v in data[name].items() if u in kept_set}
        if subset or not name.startswith(TRANSLATION_PREFIX):
            write_kaldi_file(tmp / name, subset)
    write_kaldi_file(tmp / "spk2utt", utt2spk_to_spk2utt({u: data["utt2spk"][u] for u in kept}))
    if compute_stats:
        count = sum(r.count for r in results)
        np.savez(
            tmp / "feats_stats.npz",
            count=np.array(count, dtype=np.int64),
            sum=np.sum([r.sum for r in results], axis=0),
            sum_square=np.sum([r.sum_square for r in results], axis=0),
        )


def _summarize_dropped(dropped: Dict[str, str], total: int, min_frames: int, max_frames: int) -> str:
    short = sorted(u for u, why in dropped.items() if why.startswith("shorter"))
    long = sorted(u for u, why in dropped.items() if why.startswith("longer"))
    parts = []
    if short:
        parts.append(f"{len(short)} shorter than {min_frames} frames ({', '.join(short[:3])}"
                     f"{', ...' if len(short) > 3 else ''})")
    if long:
        parts.append(f"{len(long)} longer than {max_frames} frames ({', '.join(long[:3])}"
                     f"{', ...' if len(long) > 3 else ''})")
    return f"dropped {len(dropped)} of {total} utterances by length: " + "; ".join(parts)


def extract_feats(
    data_dir: str,
    out_dir: str,
    opts: FeatureOptions = FeatureOptions(),
    nj: int = 2,
    min_frames: int = 10,
    max_frames: int = 3000,
    compute_stats: bool = True,
) -> bool:
    """Extract features of ``data_dir`` into ``out_dir``; False when it was already done (skipped).

    Raises :class:`part.data.datadir.DataDirError` for a bad data dir (before any work) and
    :class:`FeatureError` when extraction fails or no utterance is left after length filtering.
    """
    data_path, out_path = Path(data_dir), Path(os.path.normpath(out_dir))
    if out_path.resolve() == data_path.resolve() or data_path.resolve() in out_path.resolve().parents:
        raise FeatureError(f"--out_dir {out_dir} must not be (inside) --data_dir {data_dir}")
    check_options(opts)
    if min_frames < 1 or max_frames < min_frames:
        raise FeatureError(f"need 1 <= --min_frames <= --max_frames, got {min_frames} and {max_frames}")
    identity = {
        "format_version": FORMAT_VERSION,
        "data_dir": str(data_dir),
        "options": asdict(opts),
        "min_frames": min_frames,
        "max_frames": max_frames,
        "compute_stats": compute_stats,
        "inputs": input_fingerprint(data_path) if data_path.is_dir() else {},
    }
    if is_done(out_path, identity):
        logging.info(f"{out_path} is already done with the same options and inputs (see {out_path / '.done'}); "
                     "skipped")
        return False
    if (out_path / ".done").is_file():
        logging.info(f"{out_path} was made with other options or inputs; recomputing")

    report = validate_data_dir(data_path, check_audio=True, sample_rate=opts.sample_rate, policy=opts.policy)
    for message in report.warnings:
        logging.warning(message)
    for err in report.errors[:MAX_ERRORS_SHOWN]:
        logging.error(str(err))
    if len(report.errors) > MAX_ERRORS_SHOWN:
        logging.error(f"... and {len(report.errors) - MAX_ERRORS_SHOWN} more problems")
    report.raise_for_errors()
    data = read_data_dir(data_path)
    utts = data.utt_ids
    if not utts:
        raise FeatureError(f"{data_path} has no utterances")

    tmp = out_path.with_name(out_path.name + ".tmp")
    if tmp.exists():
        logging.info(f"removing {tmp} left by an interrupted run")
        shutil.rmtree(tmp)
    (tmp / "data").mkdir(parents=True)
    try:
        jobs = []
        for index, part in enumerate(split_jobs(utts, nj), start=1):
            items = [(utt, *data.wav_entry(utt)) for utt in part]
            jobs.append(Job(index, items, opts, str(tmp / "data" / f"feats.{index}.ark"),
                            str(out_path / "data" / f"feats.{index}.ark"), min_frames, max_frames, compute_stats))
        logging.info(f"extracting {opts.num_mel_bins}-bin {opts.feature_type} features of {len(utts)} utterances "
                     f"with {len(jobs)} job{'s' if len(jobs) > 1 else ''}")
        results = run_jobs(jobs, len(utts))
        dropped = {u: why for r in results for u, why in r.dropped.items()}
        kept = [u for u in utts if u not in dropped]
        if dropped:
            logging.info(_summarize_dropped(dropped, len(utts), min_frames, max_frames))
        if not kept:
            raise FeatureError(
                f"no utterance of {data_path} is left: {_summarize_dropped(dropped, len(utts), min_frames, max_frames)}"
                f"; lower --min_frames or raise --max_frames (or check the audio)")
        _write_outputs(tmp, data, kept, results, opts, compute_stats)
        summary = {"feature_type": opts.feature_type, "num_utts": len(kept), "num_dropped": len(dropped),
                   "num_frames": sum(sum(r.num_frames.values()) for r in results)}
        write_done(tmp, identity, summary)
        old = out_path.with_name(out_path.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        if out_path.exists():
            os.rename(out_path, old)
        os.rename(tmp, out_path)
        if old.exists():
            shutil.rmtree(old)
    except OSError as err:
        if _is_disk_full(err):
            raise FeatureError(_disk_full_message(err, tmp)) from None
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    logging.info(f"wrote {out_path}: {summary['num_utts']} utterances, {summary['num_frames']} frames"
                 + (f", {len(dropped)} dropped (listed in {out_path}/dropped_utts)" if dropped else ""))
    return True


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.bin.extract_feats",
        description="Log-mel fbank features (kaldiio ark/scp), length filtering and CMVN stats for a data dir.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data_dir", required=True, help="Kaldi data dir to read (validated first, audio included)")
    parser.add_argument("--out_dir", required=True, help="where to write feats.scp, utt2num_frames, ...")
    parser.add_argument("--num_mel_bins", type=int, default=80, help="mel filterbank channels")
    parser.add_argument("--frame_length", type=float, default=25.0, help="window length in ms")
    parser.add_argument("--frame_shift", type=float, default=10.0, help="frame shift in ms")
    parser.add_argument("--sample_rate", type=int, default=16000, help="sample rate the features are computed at")
    parser.add_argument("--policy", choices=SAMPLE_RATE_POLICIES, default="reject",
                        help="audio at another sample rate: reject (an error) or resample when reading")
    parser.add_argument("--feature_type", choices=FEATURE_TYPES, default="fbank",
                        help="fbank: Kaldi's log-mel fbank; whisper: Whisper's log-mel spectrogram (for a Whisper "
                             "encoder; --num_mel_bins 80, or 128 for large-v3)")
    parser.add_argument("--nj", type=int, default=2, help="parallel processes (one ark each)")
    parser.add_argument("--min_frames", type=int, default=10, help="drop utterances with fewer frames")
    parser.add_argument("--max_frames", type=int, default=3000, help="drop utterances with more frames")
    parser.add_argument("--compute_stats", type=str2bool, default=True,
                        help="write global CMVN stats feats_stats.npz (ESPnet GlobalMVN format)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (extract_feats) %(levelname)s: %(message)s")
    logging.info("python -m part.bin.extract_feats " + " ".join(argv))
    # SIGTERM (a killed job) unwinds like Ctrl-C, so that the tmp dir is removed.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.getsignal(signal.SIGTERM)
    if in_main_thread:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    opts = FeatureOptions(args.num_mel_bins, args.frame_length, args.frame_shift, args.sample_rate, args.policy,
                          args.feature_type)
    try:
        extract_feats(args.data_dir, args.out_dir, opts, args.nj, args.min_frames, args.max_frames,
                      args.compute_stats)
    except DataDirError:  # every problem has been logged
        logging.error(f"{args.data_dir} is not a valid data dir; nothing was written to {args.out_dir}")
        return 1
    except FeatureError as err:
        logging.error(str(err))
        logging.error(f"feature extraction failed; nothing was written to {args.out_dir}")
        return 1
    except (KeyboardInterrupt, SystemExit):
        logging.error(f"interrupted; nothing was written to {args.out_dir}")
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
