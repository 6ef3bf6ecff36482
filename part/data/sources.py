"""The examples of an evaluation set, whichever way stage 2 stored it: decoding and analysis read them here.

- :class:`ExampleListSource`: an example list of stage 3 (``dump/examples/<set>``: ``feats.scp`` of
  dumped features, ``prompt``, ``text``, ``utt2category``, ``utt2lang``, ``utt2tgt``, ``utt2utt``).
- :class:`ShardSource`: a raw-audio shard set (``dump/raw/<set>``, stage 2 with ``--feats_type raw``),
  expanded into examples on the fly (:func:`part.data.examples.utterance_examples`, as the training
  loader does) with the features computed from the audio (:mod:`part.data.features`).

Both give every example's :class:`ExampleInfo` (task, languages, reference, length) up front and its
model input (``{"speech", "prompt", "text"}``, the form :mod:`part.data.batch` takes) on demand.
:func:`open_examples` picks the kind from the directory. Evaluation sets are held in memory as metadata
(a few thousand examples); audio and features are read per batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from part.data.examples import read_kv, utterance_examples
from part.data.features import FeatureOptions, compute_features, num_frames
from part.data.shards import ShardSet, is_shard_set, load_audio

EXAMPLE_LIST_FILES = ("feats.scp", "prompt", "text", "utt2category", "utt2lang", "utt2tgt")


@dataclass(frozen=True)
class ExampleInfo:
    task: str
    src: str
    tgt: str
    utt: str
    target: str  # the reference
    prompt: str  # stored one-line form
    frames: int  # feature frames (0 for a text-only example)


class ExampleSource:
    """Examples by id (``self.info``, sorted ids) and their model inputs (:meth:`example`)."""

    path: Path
    info: Dict[str, ExampleInfo]
    feat_dim: int

    def ids(self, task: Optional[str] = None) -> List[str]:
        return [k for k, i in self.info.items() if task is None or i.task == task]

    def speech(self, eid: str) -> np.ndarray:
        raise NotImplementedError

    def example(self, eid: str) -> Dict[str, object]:
        info = self.info[eid]
        speech = self.speech(eid) if info.frames else np.zeros((0, self.feat_dim), np.float32)
        return {"speech": speech, "prompt": info.prompt, "text": info.target}


class ExampleListSource(ExampleSource):
    """A stage-3 example list of dumped features."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"example list '{path}' does not exist (stage 3 writes dump/examples/<set>)")
        missing = [n for n in EXAMPLE_LIST_FILES if not (self.path / n).is_file()]
        if missing:
            raise FileNotFoundError(f"example list '{path}' lacks {', '.join(missing)}; re-run stage 3")
        tables = {n: read_kv(self.path / n) for n in EXAMPLE_LIST_FILES}
        self.feats = tables["feats.scp"]
        for name, table in tables.items():
            absent = [k for k in self.feats if k not in table]
            if absent:
                raise ValueError(f"{self.path / name}: no entry for example '{absent[0]}' of feats.scp "
                                 f"({len(absent)} missing): re-run stage 3")
        utts = read_kv(self.path / "utt2utt") if (self.path / "utt2utt").is_file() else {}
        shapes = read_kv(self.path / "speech_shape") if (self.path / "speech_shape").is_file() else {}
        self.info = {}
        for k in sorted(self.feats):
            frames = int(shapes[k].split(",")[0]) if k in shapes else self._load(k).shape[0]
            self.info[k] = ExampleInfo(tables["utt2category"][k].strip(), tables["utt2lang"][k].strip(),
                                       tables["utt2tgt"][k].strip(), utts.get(k, k), tables["text"][k],
                                       tables["prompt"][k], frames)
        dims = {int(s.split(",")[1]) for s in shapes.values()} if shapes else set()
        self.feat_dim = dims.pop() if len(dims) == 1 else 80

    def _load(self, eid: str) -> np.ndarray:
        import kaldiio

        entry = self.feats[eid]
        try:
            return np.array(kaldiio.load_mat(entry), dtype=np.float32)  # a writable copy
        except Exception as exc:
            raise RuntimeError(f"{self.path / 'feats.scp'}: cannot read the features of '{eid}' ({entry}): "
                               f"{exc}") from exc

    def speech(self, eid: str) -> np.ndarray:
        mat = self._load(eid)
        if mat.ndim != 2 or (mat.shape[0] and mat.shape[1] != self.feat_dim):
            raise ValueError(f"{self.path / 'feats.scp'}: '{eid}' has features of shape {mat.shape}, "
                             f"expected (frames, {self.feat_dim})")
        return mat


class ShardSource(ExampleSource):
    """The examples of a packed evaluation set, made as the training loader makes them."""

    def __init__(self, path, prompts: Mapping[str, str], tasks: Sequence[str], directions: Sequence[str],
                 features: FeatureOptions):
        self.path, self.features, self.feat_dim = Path(path), features, features.num_mel_bins
        self.shards = ShardSet(path)
        self._records: Dict[str, dict] = {}
        self.info = {}
        for record in self.shards.all_records():
            samples = int(round(record["duration"] * self.shards.sample_rate))
            frames = num_frames(samples, features)
            for ex in utterance_examples(record["id"], record["lang"], record["text"], record["translations"],
                                         prompts, tasks, directions):
                self.info[ex.id] = ExampleInfo(ex.task, ex.src, ex.tgt, ex.utt, ex.target, ex.prompt,
                                               frames if ex.has_speech else 0)
            self._records[record["id"]] = {k: record[k] for k in ("id", "shard", "offset", "size")}
        self.info = dict(sorted(self.info.items()))
        self._handles: Dict[str, object] = {}

    def __getstate__(self):  # forked or pickled into a worker: open the shards again there
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state

    def speech(self, eid: str) -> np.ndarray:
        record = self._records[self.info[eid].utt]
        return compute_features(load_audio(record, self.shards.sample_rate, self._handles), self.features)


def open_examples(path, prompts: Optional[Mapping[str, str]] = None, tasks: Sequence[str] = ("asr", "s2tt", "mt"),
                  directions: Sequence[str] = ("*-en", "en-*"),
                  features: Optional[FeatureOptions] = None) -> ExampleSource:
    """The examples of ``path``: a shard set (needs ``prompts`` and ``features``) or an example list."""
    if is_shard_set(path):
        if prompts is None or features is None:
            raise ValueError(f"{path} is a raw-audio shard set: decoding it needs the prompt templates (--prompts) "
                             "and the model's front end")
        return ShardSource(path, prompts, [t for t in tasks if t in prompts], directions, features)
    return ExampleListSource(path)
