"""Batches of examples from a shard set, streamed: bounded memory for any corpus size.

:class:`ExampleStream` reads the manifests of a :class:`~part.data.shards.ShardSet` (metadata only;
audio is read later, by the loader workers), turns each utterance into the examples of the tasks
scheduled at that point of training (:func:`part.data.examples.utterance_examples`), and groups them
into batches by duration:

- **Passes.** Without a sampling configuration the stream is a sequence of passes over the set; every
  utterance is read exactly once per pass. Each pass visits the shards in a new seeded order and mixes
  utterances through a shuffle buffer of ``buffer_size`` examples.
- **Multilingual sampling.** With ``temperature`` > 0 the stream draws each example from a (language,
  task) group with probability proportional to ``weight(group) * n_group ** (1 / temperature)``
  (``n_group``: the group's examples in the set; ``temperature`` 1 keeps the natural proportions, higher
  values flatten them; ``weights`` multiply a group's rate by language, by task or by ``lang/task``).
  Each group then cycles through its own passes.
- **Buckets.** Examples go to one of ``num_buckets`` duration buckets (boundaries at the set's duration
  quantiles, from ``index.json``); a bucket becomes a batch once ``examples x longest duration`` reaches
  ``max_duration`` seconds (or ``max_examples``). A text-only example counts as
  ``characters / text_chars_per_second`` seconds.
- **Determinism and ranks.** The stream is a pure function of the seed: batch ``g`` of the stream is
  the same in every process. With N data-parallel ranks, rank r takes the batches g with
  ``g % N == r`` (so together the ranks read each utterance of a pass once), and a resumed run skips the
  batches it already trained on by replaying the metadata (:meth:`ExampleStream.skip`).
"""
from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from part.data.examples import direction_matches, utterance_examples
from part.data.shards import ShardInfo, ShardSet


@dataclass
class SamplerConf:
    """How examples are batched and sampled (``data_conf`` of a training config)."""

    max_duration: float = 60.0  # seconds of (padded) audio per batch
    max_examples: int = 0  # at most this many examples per batch (0: no limit)
    num_buckets: int = 10
    buffer_size: int = 2000  # examples held for shuffling and bucketing
    text_chars_per_second: float = 15.0  # the cost of text-only examples, in seconds per character
    temperature: float = 0.0  # > 0: sample (language, task) groups; 0: plain passes
    weights: Dict[str, float] = field(default_factory=dict)  # group rates: "de", "s2tt" or "de/s2tt"
    shuffle: bool = True

    @classmethod
    def from_conf(cls, conf: Mapping) -> "SamplerConf":
        unknown = set(conf) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown data_conf key(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        out = cls(**conf)
        if out.max_duration <= 0 or out.num_buckets < 1 or out.buffer_size < 1 or out.temperature < 0:
            raise ValueError(f"data_conf needs max_duration > 0, num_buckets >= 1, buffer_size >= 1 and "
                             f"temperature >= 0: {out}")
        return out


@dataclass(frozen=True)
class ExampleRef:
    """An example as the stream hands it to a loader worker: its text, and where its audio is."""

    id: str
    task: str
    src: str
    tgt: str
    prompt: str  # stored one-line form
    target: str
    duration: float  # seconds of audio (0 for a text-only example)
    shard: Optional[str] = None  # tar path; None for a text-only example
    offset: int = 0
    size: int = 0

    def cost(self, chars_per_second: float) -> float:
        if self.shard is not None:
            return self.duration
        return (len(self.prompt) + len(self.target)) / chars_per_second


TasksAt = Callable[[int], Sequence[str]]  # global batch index -> tasks scheduled there


class _Records:
    """Infinite (or single-pass) stream of manifest records of some shards, shuffled per pass."""

    def __init__(self, shards: ShardSet, subset: Sequence[ShardInfo], seed: int, shuffle: bool, buffer_size: int,
                 passes: Optional[int] = None):
        self.shards, self.subset, self.seed, self.shuffle = shards, list(subset), seed, shuffle
        self.buffer_size, self.passes = max(1, buffer_size), passes
        self.pass_index = 0

    def __iter__(self) -> Iterator[dict]:
        rng = random.Random(f"{self.seed}/buffer")
        buffer: List[dict] = []
        while self.passes is None or self.pass_index < self.passes:
            order = list(self.subset)
            if self.shuffle:
                random.Random(f"{self.seed}/pass{self.pass_index}").shuffle(order)
            for record in self.shards.all_records(order):
                if not self.shuffle:
                    yield record
                elif len(buffer) < self.buffer_size:
                    buffer.append(record)
                else:
                    k = rng.randrange(self.buffer_size)
                    buffer[k], record = record, buffer[k]
                    yield record
            self.pass_index += 1
            if not self.subset:
                return
        rng.shuffle(buffer)
        yield from buffer


class ExampleStream:
    """Batches of :class:`ExampleRef` from a shard set (see the module docstring).

    Args:
        shards: the set.
        prompts: prompt templates (task -> template).
        directions: translation directions allowed (``src-tgt`` patterns, as in stage 3).
        conf: batching and sampling options.
        seed: the stream's seed.
        tasks_at: which tasks are scheduled at a global batch index (the training schedule).
        passes: None for an endless stream (training), 1 for a single ordered pass (validation, decoding).
    """

    def __init__(self, shards: ShardSet, prompts: Mapping[str, str], directions: Sequence[str], conf: SamplerConf,
                 seed: int, tasks_at: TasksAt, passes: Optional[int] = None):
        self.shards, self.prompts, self.directions, self.conf = shards, dict(prompts), list(directions), conf
        self.seed, self.tasks_at, self.passes = seed, tasks_at, passes
        quantiles = shards.duration_quantiles()
        k = conf.num_buckets
        self.boundaries = sorted({quantiles[round(i * 100 / k)] for i in range(1, k)}) if quantiles and k > 1 else []
        self.emitted = 0  # global batches produced so far
        self.dropped_by_schedule = 0  # examples of tasks no longer scheduled when their batch was due
        self._batches = self._generate()

    # -------------------------------------------------------------------------- examples
    def _examples(self, record: dict, tasks: Sequence[str]) -> List[ExampleRef]:
        return [ExampleRef(ex.id, ex.task, ex.src, ex.tgt, ex.prompt, ex.target,
                           record["duration"] if ex.has_speech else 0.0,
                           record["shard"] if ex.has_speech else None,
                           record["offset"] if ex.has_speech else 0, record["size"] if ex.has_speech else 0)
                for ex in utterance_examples(record["id"], record["lang"], record["text"], record["translations"],
                                             self.prompts, tasks, self.directions)]

    def _plain_examples(self) -> Iterator[ExampleRef]:
        records = _Records(self.shards, self.shards.shards, self.seed, self.conf.shuffle and self.passes is None,
                           self.conf.buffer_size, self.passes)
        for record in records:
            yield from self._examples(record, self.tasks_at(self.emitted))

    def group_sizes(self) -> Dict[Tuple[str, str], int]:
        """Examples per (language, task) in the set, from the index (for temperature sampling)."""
        sizes: Dict[Tuple[str, str], int] = {}
        for lang, entry in self.shards.index["langs"].items():
            sizes[(lang, "asr")] = entry["utts"]
            n = sum(c for tgt, c in entry.get("translations", {}).items()
                    if tgt != lang and direction_matches(self.directions, lang, tgt))
            if n:
                sizes[(lang, "s2tt")] = sizes[(lang, "mt")] = n
        return sizes

    def _rate(self, group: Tuple[str, str], size: int) -> float:
        lang, task = group
        weights = self.conf.weights
        factor = weights.get(lang, 1.0) * weights.get(task, 1.0) * weights.get(f"{lang}/{task}", 1.0)
        return factor * size ** (1.0 / self.conf.temperature)

    def _sampled_examples(self) -> Iterator[ExampleRef]:
        sizes = self.group_sizes()
        streams: Dict[Tuple[str, str], Iterator[ExampleRef]] = {}
        per_group_buffer = max(50, self.conf.buffer_size // max(1, len(sizes)))

        def group_stream(lang: str, task: str) -> Iterator[ExampleRef]:
            subset = [s for s in self.shards.shards if s.lang == lang]
            for record in _Records(self.shards, subset, f"{self.seed}/{lang}/{task}", self.conf.shuffle,
                                   per_group_buffer):
                yield from self._examples(record, [task])

        rng = random.Random(f"{self.seed}/groups")
        while True:
            tasks = set(self.tasks_at(self.emitted))
            groups = [g for g in sorted(sizes) if g[1] in tasks]
            if not groups:
                raise ValueError(f"none of the scheduled tasks {sorted(tasks)} has examples in {self.shards.root}")
            group = rng.choices(groups, weights=[self._rate(g, sizes[g]) for g in groups])[0]
            stream = streams.get(group)
            if stream is None:
                stream = streams[group] = group_stream(*group)
            example = next(stream, None)
            if example is None:  # an empty group (e.g. no translation in the allowed directions)
                del sizes[group]
                continue
            yield example

    # -------------------------------------------------------------------------- batches
    def _generate(self) -> Iterator[List[ExampleRef]]:
        conf = self.conf
        sampled = conf.temperature > 0 and self.passes is None
        source = self._sampled_examples() if sampled else self._plain_examples()
        buckets: List[List[ExampleRef]] = [[] for _ in range(len(self.boundaries) + 1)]
        longest = [0.0] * len(buckets)
        for example in source:
            cost = example.cost(conf.text_chars_per_second)
            k = bisect.bisect_left(self.boundaries, cost)
            # A batch's padded size (examples x longest) stays within max_duration: a bucket that this
            # example would overflow becomes a batch first.
            if buckets[k] and (len(buckets[k]) + 1) * max(longest[k], cost) > conf.max_duration:
                yield from self._emit(buckets[k])
                buckets[k], longest[k] = [], 0.0
            buckets[k].append(example)
            longest[k] = max(longest[k], cost)
            if conf.max_examples and len(buckets[k]) >= conf.max_examples:
                yield from self._emit(buckets[k])
                buckets[k], longest[k] = [], 0.0
        for bucket in buckets:  # a finite stream ends with its partial batches
            yield from self._emit(bucket)

    def _emit(self, batch: List[ExampleRef]) -> Iterator[List[ExampleRef]]:
        """The batch, less examples whose task is no longer scheduled (the schedule moved on while they
        waited in their bucket)."""
        tasks = set(self.tasks_at(self.emitted))
        kept = [ex for ex in batch if ex.task in tasks]
        self.dropped_by_schedule += len(batch) - len(kept)
        if kept:
            self.emitted += 1
            yield kept

    def __iter__(self) -> Iterator[List[ExampleRef]]:
        return self._batches

    def __next__(self) -> List[ExampleRef]:
        return next(self._batches)

    def skip(self, n: int) -> None:
        """Advance by ``n`` batches (metadata only: no audio is read)."""
        for _ in range(n):
            if next(self._batches, None) is None:
                return


def padding_ratio(durations: Sequence[Sequence[float]]) -> float:
    """Share of padded positions of batches of these durations (1 - real / (size x longest), summed)."""
    real = sum(sum(b) for b in durations)
    padded = sum(len(b) * max(b) for b in durations if b)
    return 1.0 - real / padded if padded else 0.0


def fixed_size_batches(durations: Sequence[float], batch_size: int, seed: int = 0) -> List[List[float]]:
    """The same durations in shuffled batches of a fixed size (the baseline that bucketing beats)."""
    order = list(durations)
    random.Random(seed).shuffle(order)
    return [order[i: i + batch_size] for i in range(0, len(order), max(1, batch_size))]


def effective_batch_size(conf: SamplerConf, typical_duration: float) -> int:
    """Examples per batch for utterances of ``typical_duration`` seconds."""
    n = max(1, math.floor(conf.max_duration / max(typical_duration, 1e-3)))
    return min(n, conf.max_examples) if conf.max_examples else n
