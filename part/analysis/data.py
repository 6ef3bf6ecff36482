"""A phase-3 task dir (``dump/examples/<set>/``) as the analyses see it: examples grouped by
(task, source language, target language), tokenised and batched exactly as in training.

Group labels: ``asr:<src>`` for ASR, ``s2tt:<src>-<tgt>`` and ``mt:<src>-<tgt>`` for speech and text
translation. Groups are ordered by task (asr, s2tt, mt), then source, then target language.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from part.data.examples import read_kv

TASK_ORDER = ("asr", "s2tt", "mt")
REQUIRED_FILES = ("feats.scp", "prompt", "text", "utt2category", "utt2lang", "utt2tgt")


def group_label(task: str, src: str, tgt: str) -> str:
    return f"{task}:{src}" if task == "asr" else f"{task}:{src}-{tgt}"


def parse_label(label: str) -> Tuple[str, str, str]:
    """``asr:de`` -> ``("asr", "de", "de")``; ``s2tt:de-en`` -> ``("s2tt", "de", "en")``."""
    task, _, langs = label.partition(":")
    src, _, tgt = langs.partition("-")
    return task, src, tgt or src


def label_sort_key(label: str):
    task, src, tgt = parse_label(label)
    rank = TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER)
    return rank, task, src, tgt


class TaskDir:
    """The files of a task dir, keyed by example id."""

    def __init__(self, path: str):
        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"task dir '{path}' does not exist (stage 3 writes dump/examples/<set>)")
        missing = [n for n in REQUIRED_FILES if not (self.path / n).is_file()]
        if missing:
            raise FileNotFoundError(f"task dir '{path}' lacks {', '.join(missing)}; re-run stage 3")
        self.feats = read_kv(self.path / "feats.scp")
        self.prompt = read_kv(self.path / "prompt")
        self.text = read_kv(self.path / "text")
        self.category = read_kv(self.path / "utt2category")
        self.lang = read_kv(self.path / "utt2lang")
        self.tgt = read_kv(self.path / "utt2tgt")
        utt_file = self.path / "utt2utt"
        self.utt = read_kv(utt_file) if utt_file.is_file() else {k: k for k in self.feats}
        for name, table in (("prompt", self.prompt), ("text", self.text), ("utt2category", self.category),
                            ("utt2lang", self.lang), ("utt2tgt", self.tgt)):
            absent = [k for k in self.feats if k not in table]
            if absent:
                raise ValueError(f"{self.path / name}: no entry for example '{absent[0]}' of feats.scp "
                                 f"({len(absent)} missing)")
        if not self.feats:
            raise ValueError(f"{self.path / 'feats.scp'} is empty")

    def groups(self) -> Dict[str, List[str]]:
        """Group label -> sorted example ids."""
        out: Dict[str, List[str]] = {}
        for eid in sorted(self.feats):
            task = self.category[eid].strip()
            out.setdefault(group_label(task, self.lang[eid].strip(), self.tgt[eid].strip()), []).append(eid)
        return {k: out[k] for k in sorted(out, key=label_sort_key)}


def sample_ids(ids: Sequence[str], n: int, seed: int) -> List[str]:
    """At most ``n`` of ``ids``: a seeded random subset (the same for every phase and method), sorted."""
    ids = sorted(ids)
    if n <= 0 or len(ids) <= n:
        return ids
    return sorted(random.Random(seed).sample(ids, n))


class Batcher:
    """Loads, tokenises (with the training preprocessor) and collates examples of a task dir."""

    def __init__(self, task_dir: TaskDir, tokenizer, feat_dim: int):
        from part.data.batch import ExamplePreprocessor, collate

        self.task_dir = task_dir
        self.feat_dim = feat_dim
        self.preprocessor = ExamplePreprocessor(tokenizer=tokenizer, model_type="speech_llm")
        self.collate = collate  # as in training

    def speech(self, eid: str) -> np.ndarray:
        import kaldiio

        entry = self.task_dir.feats[eid]
        try:
            mat = np.array(kaldiio.load_mat(entry), dtype=np.float32)  # a writable copy
        except Exception as exc:
            raise RuntimeError(f"{self.task_dir.path / 'feats.scp'}: cannot read the features of '{eid}' "
                               f"({entry}): {exc}") from exc
        if mat.ndim != 2 or (mat.shape[0] and mat.shape[1] != self.feat_dim):
            raise ValueError(f"{self.task_dir.path / 'feats.scp'}: '{eid}' has features of shape {mat.shape}, "
                             f"the model expects {self.feat_dim} dimensions")
        return mat.reshape(-1, self.feat_dim)

    def example(self, eid: str) -> Dict[str, np.ndarray]:
        data = {"speech": self.speech(eid), "text": self.task_dir.text[eid], "prompt": self.task_dir.prompt[eid]}
        try:
            return self.preprocessor(eid, data)
        except ValueError as exc:
            raise ValueError(f"{self.task_dir.path}: {exc}") from None

    def batches(self, ids: Sequence[str], batch_size: int, device: str = "cpu",
                sort_by_length: bool = False) -> Iterator[Tuple[List[str], Dict]]:
        """``(ids, model keyword arguments)`` per batch of at most ``batch_size`` examples."""
        ids = list(ids)
        examples = {eid: self.example(eid) for eid in ids}
        if sort_by_length:
            ids.sort(key=lambda k: examples[k]["speech"].shape[0], reverse=True)
        for start in range(0, len(ids), max(1, batch_size)):
            chunk = ids[start:start + batch_size]
            keys, batch = self.collate([(k, examples[k]) for k in chunk])
            yield keys, {k: v.to(device) for k, v in batch.items()}

    def speech_batches(self, ids: Sequence[str], batch_size: int, device: str = "cpu"
                       ) -> Iterator[Tuple[List[str], "object", "object"]]:
        """``(ids, speech, speech_lengths)`` batches of features only (no tokenisation)."""
        import torch

        all_mats = {k: self.speech(k) for k in ids}
        ids = sorted(ids, key=lambda k: -all_mats[k].shape[0])
        for start in range(0, len(ids), max(1, batch_size)):
            chunk = ids[start:start + batch_size]
            mats = [all_mats[k] for k in chunk]
            frames = [m.shape[0] for m in mats]
            speech = torch.zeros(len(mats), max(max(frames), 1), self.feat_dim)
            for i, m in enumerate(mats):
                speech[i, : m.shape[0]] = torch.from_numpy(m)
            yield chunk, speech.to(device), torch.tensor(frames, device=device)


def speech_examples(task_dir: TaskDir, max_per_lang: int, seed: int) -> Tuple[List[str], Optional[Dict[str, str]]]:
    """One example per utterance with speech, at most ``max_per_lang`` per source language.

    ASR examples are preferred (their target is the transcript); a task dir without ASR examples
    falls back to speech-translation examples, and then no transcripts are returned.
    """
    asr = [k for k, c in task_dir.category.items() if c.strip() == "asr"]
    have_transcripts = bool(asr)
    pool = asr or [k for k, c in task_dir.category.items() if c.strip() == "s2tt"]
    by_utt: Dict[str, str] = {}
    for eid in sorted(pool):
        by_utt.setdefault(task_dir.utt.get(eid, eid), eid)
    per_lang: Dict[str, List[str]] = {}
    for eid in by_utt.values():
        per_lang.setdefault(task_dir.lang[eid].strip(), []).append(eid)
    chosen = [e for lang in sorted(per_lang) for e in sample_ids(per_lang[lang], max_per_lang, seed)]
    transcripts = {e: task_dir.text[e] for e in chosen} if have_transcripts else None
    return chosen, transcripts
