"""An evaluation set (:mod:`part.data.sources`: an example list or a shard set) as the analyses see
it: examples grouped by (task, source language, target language), tokenised and batched exactly as in
training.

Group labels: ``asr:<src>`` for ASR, ``s2tt:<src>-<tgt>`` and ``mt:<src>-<tgt>`` for speech and text
translation. Groups are ordered by task (asr, s2tt, mt), then source, then target language.
"""
from __future__ import annotations

import random
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from part.data.sources import ExampleSource

TASK_ORDER = ("asr", "s2tt", "mt")


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


def example_groups(source: ExampleSource) -> Dict[str, List[str]]:
    """Group label -> sorted example ids of an evaluation set."""
    out: Dict[str, List[str]] = {}
    for eid, info in source.info.items():
        out.setdefault(group_label(info.task, info.src, info.tgt), []).append(eid)
    return {k: sorted(out[k]) for k in sorted(out, key=label_sort_key)}


def sample_ids(ids: Sequence[str], n: int, seed: int) -> List[str]:
    """At most ``n`` of ``ids``: a seeded random subset (the same for every phase and method), sorted."""
    ids = sorted(ids)
    if n <= 0 or len(ids) <= n:
        return ids
    return sorted(random.Random(seed).sample(ids, n))


class Batcher:
    """Loads, tokenises (with the training preprocessor) and collates examples of an evaluation set."""

    def __init__(self, source: ExampleSource, tokenizer):
        from part.data.batch import ExamplePreprocessor, collate

        self.source = source
        self.feat_dim = source.feat_dim
        self.preprocessor = ExamplePreprocessor(tokenizer=tokenizer, model_type="speech_llm")
        self.collate = collate  # as in training

    def speech(self, eid: str) -> np.ndarray:
        return self.source.speech(eid)

    def example(self, eid: str) -> Dict[str, np.ndarray]:
        try:
            return self.preprocessor(eid, self.source.example(eid))
        except ValueError as exc:
            raise ValueError(f"{self.source.path}: {exc}") from None

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


def speech_examples(source: ExampleSource, max_per_lang: int, seed: int
                    ) -> Tuple[List[str], Optional[Dict[str, str]]]:
    """One example per utterance with speech, at most ``max_per_lang`` per source language.

    ASR examples are preferred (their target is the transcript); a set without ASR examples falls back
    to speech-translation examples, and then no transcripts are returned.
    """
    asr = source.ids("asr")
    have_transcripts = bool(asr)
    pool = asr or source.ids("s2tt")
    by_utt: Dict[str, str] = {}
    for eid in sorted(pool):
        by_utt.setdefault(source.info[eid].utt, eid)
    per_lang: Dict[str, List[str]] = {}
    for eid in by_utt.values():
        per_lang.setdefault(source.info[eid].src, []).append(eid)
    chosen = [e for lang in sorted(per_lang) for e in sample_ids(per_lang[lang], max_per_lang, seed)]
    transcripts = {e: source.info[e].target for e in chosen} if have_transcripts else None
    return chosen, transcripts
