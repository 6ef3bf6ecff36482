"""The parallel text corpus of the embedded world, and its split into held-out and training tuples.

A *tuple* is one drawn sentence (frame + slots) written in every supported language. Tuples come from
one seeded stream (:func:`tuple_stream`) in which no sentence string of any language occurs twice:
a draw whose slots were drawn before, or whose sentence in some language equals an earlier one, is
skipped. Every string therefore belongs to exactly one tuple, and taking disjoint slices of the stream
makes held-out sets whose sentences never occur in training, in any language.

The first ``test + dev + lm_dev + lm_train`` tuples of the stream are shuffled (seeded) and cut into the
splits below (so the test set of a size is the same for every ``--langs``). The shuffle matters: frames
with few distinct sentences (``weather``, ``opens``) run out early in the stream, so its head holds many
more of them than the rest; cutting the stream in order gave the held-out sets a frame mix that the
training slices of the later languages did not have (no ``opens`` sentence in zh or ja training at all).

====================  ===========================================================================
``test``, ``dev``     held out; every tuple spoken in every language (like FLEURS)
``test_noise``        noise-only clips: per language, the background noise of its first ``noise``
                      test utterances without the speech (see :mod:`part.data.embedded.synth`)
``lm_dev``            held out from the text LLM's training (``data/lm_text/dev.jsonl``)
``lm_train``          ``data/lm_text/train.jsonl``; its first ``train x 6`` tuples are spoken,
                      a different slice per language (``speech_train``)
====================  ===========================================================================

Python's ``random.Random`` with an integer seed is the same on every platform and version 3.2+, so
the corpus is a function of the seed and the sizes.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence

from part.data.corpora.errors import CorpusError
from part.data.embedded.frames import FRAMES, slots_key
from part.data.embedded.lang import REALISERS, SUPPORTED_LANGS, Sentence

# A frame is retired from the stream after this many draws in a row that were all repeats.
MAX_REPEATS = 300
# The test set of noise-only clips (empty references once normalised: see part.data.embedded.synth).
NOISE_SPLIT = "test_noise"


@dataclass(frozen=True)
class SizeSpec:
    """Utterances per language (train/dev/test), text-only tuples (lm_train/lm_dev) and noise-only test
    clips per language (noise)."""

    train: int
    dev: int
    test: int
    lm_train: int
    lm_dev: int
    noise: int = 0


# 300 test utterances per language (default, large): the paired bootstrap intervals of the main job's
# comparison (egs/mini_multilingual/RESULTS.md) are 1/sqrt(3) as wide as 100 utterances would leave them.
SIZES: Dict[str, SizeSpec] = {
    "tiny": SizeSpec(train=12, dev=4, test=4, lm_train=200, lm_dev=20, noise=2),
    "default": SizeSpec(train=1500, dev=30, test=300, lm_train=20000, lm_dev=500, noise=10),
    "large": SizeSpec(train=4000, dev=50, test=300, lm_train=60000, lm_dev=1000, noise=10),
}


@dataclass(frozen=True)
class ParallelTuple:
    """One sentence in every supported language; ``id`` is its position in the stream (6 digits)."""

    id: str
    frame: str
    slots: Dict[str, object]
    sentences: Dict[str, Sentence]

    def text(self, lang: str) -> str:
        return self.sentences[lang].text

    def as_json(self, langs: Sequence[str]) -> Dict[str, str]:
        out = {"id": self.id}
        out.update((lang, self.text(lang)) for lang in langs)
        return out


@dataclass
class Corpus:
    seed: int
    langs: List[str]
    test: List[ParallelTuple]
    dev: List[ParallelTuple]
    lm_dev: List[ParallelTuple]
    lm_train: List[ParallelTuple]
    speech_train: Dict[str, List[ParallelTuple]] = field(default_factory=dict)
    noise: int = 0  # noise-only test clips per language

    def speech_sets(self) -> Dict[str, Dict[str, List[ParallelTuple]]]:
        """``{split: {lang: tuples}}`` of the tuples to synthesise (``test_noise``: the tuples whose test
        utterances lend their voice and noise level to a noise-only clip; absent without noise clips)."""
        sets = {
            "train": self.speech_train,
            "dev": {lang: self.dev for lang in self.langs},
            "test": {lang: self.test for lang in self.langs},
        }
        if self.noise:
            sets[NOISE_SPLIT] = {lang: self.test[:self.noise] for lang in self.langs}
        return sets


def parse_langs(spec: str | Sequence[str]) -> List[str]:
    """``"en,de zh"`` -> ``["en", "de", "zh"]`` in canonical order; unknown codes are a CorpusError."""
    if isinstance(spec, str):
        codes = [c for c in spec.replace(",", " ").split() if c]
    else:
        codes = list(spec)
    if not codes:
        raise CorpusError("no languages given (e.g. --langs en,de,fr,es,zh,ja)")
    unknown = [c for c in codes if c not in REALISERS]
    if unknown:
        raise CorpusError(f"the embedded corpus has no language {' '.join(unknown)}; "
                          f"it has {' '.join(SUPPORTED_LANGS)}")
    return [c for c in SUPPORTED_LANGS if c in set(codes)]


def tuple_stream(seed: int) -> Iterator[ParallelTuple]:
    """Unique parallel tuples, drawn with ``random.Random(seed)``, until every frame is exhausted."""
    rng = random.Random(seed)
    active = list(FRAMES)
    repeats = {f.name: 0 for f in FRAMES}
    seen_slots = set()
    seen_text: Dict[str, set] = {lang: set() for lang in SUPPORTED_LANGS}
    index = 0
    while active:
        frame = rng.choices(active, weights=[f.weight for f in active])[0]
        slots = frame.sample(rng)
        key = slots_key(frame.name, slots)
        accepted = False
        if key not in seen_slots:
            seen_slots.add(key)
            sentences = {lang: REALISERS[lang].realise(frame.name, slots) for lang in SUPPORTED_LANGS}
            if not any(sentences[lang].text in seen_text[lang] for lang in SUPPORTED_LANGS):
                for lang in SUPPORTED_LANGS:
                    seen_text[lang].add(sentences[lang].text)
                accepted = True
                yield ParallelTuple(f"{index:06d}", frame.name, dict(slots), sentences)
                index += 1
        if accepted:
            repeats[frame.name] = 0
        else:
            repeats[frame.name] += 1
            if repeats[frame.name] >= MAX_REPEATS:
                active.remove(frame)


def _take(stream: Iterator[ParallelTuple], n: int, what: str, taken: int, bar=None) -> List[ParallelTuple]:
    out: List[ParallelTuple] = []
    if n == 0:
        return out
    for item in stream:
        out.append(item)
        if bar is not None:
            bar.update(1)
        if len(out) == n:
            return out
    raise CorpusError(f"the embedded world has only {taken + len(out)} distinct sentences; "
                      f"cannot make {n} {what} tuples (ask for fewer)")


def build_corpus(seed: int, langs: Sequence[str], size: SizeSpec, progress: bool = False) -> Corpus:
    """Draw the tuples of every split (see the module doc); deterministic in ``seed`` and ``size``."""
    langs = parse_langs(langs)
    for name in ("train", "dev", "test", "lm_train", "lm_dev", "noise"):
        if getattr(size, name) < 0:
            raise CorpusError(f"negative size for {name}")
    if size.noise > size.test:
        raise CorpusError(f"{size.noise} noise-only clips per language need as many test utterances "
                          f"(each lends its voice and noise level to one); there are {size.test}")
    # The spoken training tuples are part of the text corpus: it needs at least that many. Each
    # language speaks its own slice, placed by its position among all supported languages, so what one
    # language's training set holds does not depend on the other languages asked for.
    n_lm_train = max(size.lm_train, size.train * len(SUPPORTED_LANGS))
    from tqdm import tqdm

    counts = {"test": size.test, "dev": size.dev, "lm_dev": size.lm_dev, "training": n_lm_train}
    with tqdm(total=sum(counts.values()), desc="sentences", unit="tuple", disable=not progress,
              dynamic_ncols=True) as bar:
        drawn = _take(tuple_stream(seed), sum(counts.values()), "tuples in all", 0, bar)
    # Shuffled before the cut, so that every split and every language's slice has the same mix of frames.
    random.Random(f"split-{seed}").shuffle(drawn)
    splits, start = {}, 0
    for name, n in counts.items():
        splits[name], start = drawn[start:start + n], start + n
    test, dev, lm_dev, lm_train = splits["test"], splits["dev"], splits["lm_dev"], splits["training"]
    slot = {lang: i for i, lang in enumerate(SUPPORTED_LANGS)}
    speech_train = {lang: lm_train[slot[lang] * size.train:(slot[lang] + 1) * size.train] for lang in langs}
    corpus = Corpus(seed, langs, test, dev, lm_dev, lm_train, speech_train, noise=size.noise)
    check_disjoint(corpus)
    return corpus


def check_disjoint(corpus: Corpus) -> None:
    """Raise CorpusError if a held-out sentence (test, dev, lm_dev) equals a training sentence in any
    language. The stream guarantees it; this is the check after generation that says so."""
    for lang in SUPPORTED_LANGS:
        train = {t.text(lang) for t in corpus.lm_train}
        for name in ("test", "dev", "lm_dev"):
            leaked = [t.id for t in getattr(corpus, name) if t.text(lang) in train]
            if leaked:
                raise CorpusError(f"{len(leaked)} {name} sentences also occur in training ({lang}), "
                                  f"e.g. tuple {leaked[0]}")
    held = {}
    for name in ("test", "dev", "lm_dev"):
        for t in getattr(corpus, name):
            for lang in SUPPORTED_LANGS:
                other = held.setdefault((lang, t.text(lang)), name)
                if other != name:
                    raise CorpusError(f"a sentence is in both {other} and {name} ({lang}): {t.text(lang)}")


def frame_counts(tuples: Sequence[ParallelTuple]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for t in tuples:
        counts[t.frame] = counts.get(t.frame, 0) + 1
    return counts


def capacity(seed: int = 0, limit: Optional[int] = None) -> int:
    """How many distinct tuples the stream yields (for documentation and tests; slow for no limit)."""
    n = 0
    for _ in tuple_stream(seed):
        n += 1
        if limit is not None and n >= limit:
            break
    return n
