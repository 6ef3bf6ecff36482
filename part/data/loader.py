"""Training and validation batches from raw-audio shards, for ESPnet's trainer.

:class:`BatchLoader` runs in the ``DataLoader`` worker processes: for a batch of
:class:`~part.data.sampler.ExampleRef` it reads each utterance's audio from its shard (one seek, one
read), computes the features on the fly (:mod:`part.data.features`, the front end of stage 2's dumps
and of decoding), tokenises with the task's preprocessor and pads with the task's collate
(:mod:`part.data.batch`). The sampler (:class:`~part.data.sampler.ExampleStream`) runs in the main
process and hands each batch to one worker, so every batch is read once, whatever the number of
workers.

:class:`ShardIterFactory` is ESPnet's iterator factory for this path. A training "epoch" is
``num_iters_per_epoch`` batches per rank, taken from the stream where the previous epoch stopped; the
epoch's position in the stream is a function of the epoch number, so a resumed run (ESPnet restarts
the interrupted epoch from its checkpoint) trains on exactly the batches an uninterrupted run would
have: none repeated, none skipped. Each epoch writes ``<output_dir>/data_log/<mode>_epoch<N>.json``
(batches, examples per task, hours of audio, padding, skipped examples, and a digest of the example
ids in order) and logs a summary line into the phase's ``train.log``.

Bad data does not stop a long run: an utterance whose audio cannot be read or decoded is left out of
its batch with a warning naming the shard and the utterance, and counted; once more than
``max_bad_fraction`` of the examples read so far (and at least ``MIN_BAD_TO_STOP``) were bad, the run
stops with an error, since that is no longer a few broken clips.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from espnet2.iterators.abs_iter_factory import AbsIterFactory

from part.data.batch import ExamplePreprocessor, collate
from part.data.features import FeatureOptions, compute_features
from part.data.sampler import ExampleRef, ExampleStream
from part.data.shards import AudioBytesError, load_audio

MIN_BAD_TO_STOP = 20
MAX_WARNINGS = 20  # bad examples named one by one; then only counted


class BadDataError(RuntimeError):
    """Too much unreadable data for a run to go on."""


class BatchLoader:
    """Audio -> features -> tokens -> padded batch, for one batch of example references (in a worker)."""

    def __init__(self, features: FeatureOptions, preprocess: ExamplePreprocessor, sample_rate: int = 16000):
        self.features, self.preprocess, self.sample_rate = features, preprocess, sample_rate
        self._handles: Dict[str, object] = {}  # open shard files of this process

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def example(self, ref: ExampleRef) -> Dict[str, object]:
        if ref.shard is None:
            speech = np.zeros((0, self.features.num_mel_bins), dtype=np.float32)
        else:
            record = {"id": ref.id.split("__", 1)[0], "shard": ref.shard, "offset": ref.offset, "size": ref.size}
            speech = compute_features(load_audio(record, self.sample_rate, self._handles), self.features)
            if speech.shape[0] == 0:
                raise AudioBytesError(f"{ref.shard}: utterance '{record['id']}' is shorter than one feature frame")
        return {"speech": speech, "prompt": ref.prompt, "text": ref.target}

    def __getitem__(self, refs: Sequence[ExampleRef]) -> Tuple[List[str], Dict, List[Tuple[str, str]]]:
        """``(ids, batch, bad)``: the collated batch of the readable examples, and ``(id, reason)`` of the others."""
        items, bad = [], []
        for ref in refs:
            try:
                items.append((ref.id, self.preprocess(ref.id, self.example(ref))))
            except (AudioBytesError, ValueError) as err:
                bad.append((ref.id, str(err)))
        if not items:
            return [], {}, bad
        ids, batch = collate(items)
        return ids, batch, bad


class _EpochBatches:
    """The batch references of one epoch for one rank, drawn lazily from the stream (a DataLoader sampler)."""

    def __init__(self, stream: ExampleStream, count: Optional[int], rank: int, world_size: int):
        self.stream, self.count, self.rank, self.world_size = stream, count, rank, world_size

    def __iter__(self) -> Iterator[List[ExampleRef]]:
        produced = 0
        while self.count is None or produced < self.count:
            group = [next(self.stream, None) for _ in range(self.world_size)]
            if group[self.rank] is None:
                return
            yield group[self.rank]
            produced += 1


def _identity(x):
    return x


def _worker_init(_worker_id: int) -> None:
    import torch

    torch.set_num_threads(1)  # one core per loader worker


class ShardIterFactory(AbsIterFactory):
    """ESPnet iterator factory over a shard set (``build_iter(epoch)``; see the module docstring).

    Args:
        make_stream: builds a fresh :class:`ExampleStream` (deterministic).
        loader: the worker-side :class:`BatchLoader`.
        num_iters_per_epoch: batches per rank and epoch; None: one pass (validation).
        rank, world_size: data-parallel position.
        num_workers: DataLoader worker processes.
        max_bad_fraction: stop when this share of the examples read were bad.
        log_dir: where the per-epoch data log goes (None: nowhere).
        mode: ``train`` or ``valid`` (names the log files).
    """

    def __init__(self, make_stream, loader: BatchLoader, num_iters_per_epoch: Optional[int], rank: int = 0,
                 world_size: int = 1, num_workers: int = 0, max_bad_fraction: float = 0.001,
                 log_dir: Optional[str] = None, mode: str = "train"):
        self.make_stream, self.loader = make_stream, loader
        self.num_iters, self.rank, self.world_size = num_iters_per_epoch, rank, world_size
        self.num_workers, self.max_bad_fraction, self.mode = num_workers, max_bad_fraction, mode
        self.log_dir = Path(log_dir) if log_dir else None
        self._stream: Optional[ExampleStream] = None
        self.examples_read = 0
        self.bad_examples = 0

    def _stream_at(self, epoch: int) -> ExampleStream:
        if self.num_iters is None:  # validation: the same single pass every epoch
            return self.make_stream()
        target = (epoch - 1) * self.num_iters * self.world_size
        if self._stream is None or self._stream.emitted != target:
            stream = self.make_stream()
            if target:
                logging.info("%s data: skipping the %d batches of epochs 1-%d (metadata only)", self.mode, target,
                             epoch - 1)
                stream.skip(target)
            self._stream = stream
        return self._stream

    def build_iter(self, epoch: int, shuffle: Optional[bool] = None) -> Iterator[Tuple[List[str], Dict]]:
        from torch.utils.data import DataLoader

        stream = self._stream_at(epoch)
        batches = _EpochBatches(stream, self.num_iters, self.rank, self.world_size)
        # Forked workers start in a fraction of a second; a DDP rank (which ESPnet starts with "spawn") would
        # otherwise spawn its workers too, each importing everything again, every epoch. They never touch CUDA.
        context = "fork" if self.num_workers else None
        loader = DataLoader(self.loader, batch_size=None, sampler=batches, num_workers=self.num_workers,
                            collate_fn=_identity, worker_init_fn=_worker_init if self.num_workers else None,
                            multiprocessing_context=context)
        return self._checked(loader, epoch, stream)

    def _checked(self, loader, epoch: int, stream: ExampleStream) -> Iterator[Tuple[List[str], Dict]]:
        """Yield the batches; count, warn about and skip bad examples; log the epoch's data at its end."""
        digest = hashlib.sha1()
        stats = {"batches": 0, "examples": 0, "tasks": {}, "audio_seconds": 0.0, "speech_frames": 0,
                 "padded_speech_frames": 0, "bad": 0}
        dropped_before = stream.dropped_by_schedule
        for ids, batch, bad in loader:
            self.examples_read += len(ids) + len(bad)
            self._count_bad(bad, epoch)
            stats["bad"] += len(bad)
            if not ids:
                continue
            for uid in ids:
                digest.update(uid.encode() + b"\n")
                task = uid.split("__", 1)[1].split("_", 1)[0] if "__" in uid else "?"
                stats["tasks"][task] = stats["tasks"].get(task, 0) + 1
            lengths = batch["speech_lengths"]
            stats["batches"] += 1
            stats["examples"] += len(ids)
            stats["speech_frames"] += int(lengths.sum())
            stats["padded_speech_frames"] += int((lengths > 0).sum()) * int(lengths.max())
            yield ids, batch
        stats["audio_seconds"] = round(stats["speech_frames"] * self.loader.features.frame_shift / 1000, 2)
        stats["padding"] = round(1 - stats["speech_frames"] / stats["padded_speech_frames"], 4) \
            if stats["padded_speech_frames"] else 0.0
        stats["dropped_by_schedule"] = stream.dropped_by_schedule - dropped_before
        stats["ids_sha1"] = digest.hexdigest()
        stats["stream_position"] = stream.emitted
        logging.info("%s data, epoch %d: %d batches, %d examples (%s), %.2f h of audio, speech padding %.1f%%%s",
                     self.mode, epoch, stats["batches"], stats["examples"],
                     ", ".join(f"{t} {n}" for t, n in sorted(stats["tasks"].items())), stats["audio_seconds"] / 3600,
                     100 * stats["padding"], f", {stats['bad']} unreadable example(s) skipped" if stats["bad"] else "")
        if self.log_dir is not None and self.rank == 0:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            (self.log_dir / f"{self.mode}_epoch{epoch}.json").write_text(json.dumps(stats, indent=1) + "\n")

    def _count_bad(self, bad: List[Tuple[str, str]], epoch: int) -> None:
        for uid, reason in bad:
            self.bad_examples += 1
            if self.bad_examples <= MAX_WARNINGS:
                logging.warning("%s data, epoch %d: skipped example '%s': %s", self.mode, epoch, uid, reason)
            elif self.bad_examples == MAX_WARNINGS + 1:
                logging.warning("%s data: more unreadable examples; only counting them from now on", self.mode)
        if self.bad_examples >= MIN_BAD_TO_STOP and self.bad_examples > self.max_bad_fraction * self.examples_read:
            raise BadDataError(
                f"{self.bad_examples} of the {self.examples_read} {self.mode} examples read so far could not be "
                f"used (more than max_bad_fraction {self.max_bad_fraction}): see the warnings above; repair or "
                "re-pack the shards named there (stage 2), or raise data_conf.max_bad_fraction")


DATA_CONF_KEYS = ("tasks", "valid_tasks", "directions", "max_bad_fraction")


def shard_iter_factory(args, distributed_option, mode: str, preprocess: ExamplePreprocessor) -> ShardIterFactory:
    """The factory of a training or validation shard set, from the options of ``part_train``
    (``--{mode}_shards``, ``--prompts``, ``--data_conf``, ``--feature_conf``, ``--num_iters_per_epoch``,
    ``--num_workers``, ``--seed``, ``--schedule_conf``)."""
    from part.data.prompts import TASKS, load_prompts
    from part.data.sampler import SamplerConf
    from part.data.shards import ShardSet
    from part.schedule.schedule import ActivationSchedule

    conf = dict(args.data_conf or {})
    options = {k: conf.pop(k) for k in DATA_CONF_KEYS if k in conf}
    sampler_conf = SamplerConf.from_conf(conf)
    shards = ShardSet(getattr(args, f"{mode}_shards"))
    features = FeatureOptions.for_model(vars(args))
    if shards.sample_rate != features.sample_rate:
        raise ValueError(f"{shards.root} holds {shards.sample_rate} Hz audio but the features are computed at "
                         f"{features.sample_rate} Hz (feature_conf.sample_rate)")
    speech_llm = args.model_type == "speech_llm"
    if speech_llm and not args.prompts:
        raise ValueError("--prompts (the prompt templates, conf/prompts.yaml) is required with --train_shards")
    prompts = load_prompts(args.prompts) if speech_llm else {"asr": "<speech>"}
    tasks = list(options.get("tasks") or (TASKS if speech_llm else ["asr"]))
    unknown = set(tasks) - set(TASKS) or (set(tasks) - set(prompts) if speech_llm else set())
    if unknown:
        raise ValueError(f"data_conf.tasks: no prompt template (or no such task) for {sorted(unknown)}")
    directions = list(options.get("directions") or ["*-en", "en-*"])
    schedule = ActivationSchedule.from_conf(args.schedule_conf)
    probe = ExampleStream(shards, prompts, directions, sampler_conf, 0, lambda g: tasks)
    available = {task for _, task in probe.group_sizes()} & set(tasks)
    schedule.warn_unavailable_tasks(available, str(shards.root))
    world = distributed_option.dist_world_size if distributed_option.distributed else 1
    rank = distributed_option.dist_rank if distributed_option.distributed else 0
    if mode == "train":
        iters = args.num_iters_per_epoch
        if not iters:
            raise ValueError("--train_shards needs --num_iters_per_epoch (an epoch is that many updates of a "
                             "stream that has no end)")
        per_epoch = iters * world

        def tasks_at(g: int) -> List[str]:
            scheduled = schedule.tasks_at(g // per_epoch + 1)
            return [t for t in tasks if scheduled is None or t in scheduled]

        seed, passes = args.seed, None
    else:
        iters, seed, passes = None, 0, 1
        valid_tasks = list(options.get("valid_tasks") or tasks)

        def tasks_at(g: int) -> List[str]:  # one fixed mix: epochs are compared on the same examples
            return valid_tasks

    def make_stream() -> ExampleStream:
        return ExampleStream(shards, prompts, directions, sampler_conf, seed, tasks_at, passes)

    loader = BatchLoader(features, preprocess, shards.sample_rate)
    log_dir = Path(args.output_dir) / "data_log" if getattr(args, "output_dir", None) else None
    return ShardIterFactory(make_stream, loader, iters, rank, world, args.num_workers,
                            float(options.get("max_bad_fraction", 0.01)), log_dir, mode)
