"""Failure counts of a decode dir, next to WER/CER and BLEU: what kind of wrong a hypothesis is.

Every hypothesis of a speech example (its reference is not empty once normalised) is checked for

``empty``
    nothing left after normalisation;
``loop``
    a repetition loop: some n-gram of scoring tokens (words; characters for CER languages) repeats at
    least :data:`LOOP_REPEATS` times in a row, more often than in the reference;
``wrong_language``
    written in another language than asked for: mostly (over half of its letters) in a script its
    group's references never use for more than 1% of their letters (``wrong_script``: Latin letters
    for Japanese, Han characters for English), or, with a language identifier, identified as another
    language. The identifier (:class:`CharNgramLID`) is a character 1-3-gram naive Bayes model trained
    on the transcripts of a data dir (the training set); it tells apart languages of one script (en, de,
    fr, es) and only judges hypotheses of at least :data:`LID_MIN_LETTERS` letters.

A clip without speech (its reference is empty once normalised: the embedded corpus' ``test_noise``
clips, transcribed ``[noise]``) counts in ``no_speech``, and in ``output_on_no_speech`` when the model
wrote something for it.

:func:`failure_counts` returns the counts of one group of examples (a language, a direction) and the
labels of each flagged example; part_score puts the counts into ``scores.json`` and the labels into the
decode dir's ``failures`` file.
"""
from __future__ import annotations

import math
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

LOOP_REPEATS = 3
LOOP_MAX_N = {"WER": 4, "CER": 8}  # longest repeated unit looked for, in scoring tokens
LID_MIN_LETTERS = 10
LID_ORDERS = (1, 2, 3)
FAILURES = ("empty", "loop", "wrong_language")


def script_of(char: str) -> Optional[str]:
    """The script of a letter (first word of its Unicode name: LATIN, CYRILLIC, HIRAGANA...; Han
    characters are CJK), or None for anything that is not a letter."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else None


def script_counts(texts: Iterable[str]) -> Counter:
    counts: Counter = Counter()
    for text in texts:
        counts.update(s for s in map(script_of, text) if s)
    return counts


def expected_scripts(references: Iterable[str], min_share: float = 0.01) -> set:
    """The scripts that make up at least ``min_share`` of the letters of ``references``."""
    counts = script_counts(references)
    total = sum(counts.values())
    return {s for s, n in counts.items() if n >= min_share * total}


def max_repeats(tokens: Sequence[str], max_n: int) -> int:
    """The largest number of times one n-gram (n <= ``max_n``) occurs back to back in ``tokens``."""
    best = 1 if tokens else 0
    for n in range(1, max_n + 1):
        for start in range(len(tokens) - 2 * n + 1):
            repeats = 1
            while tokens[start + repeats * n: start + (repeats + 1) * n] == tokens[start: start + n]:
                repeats += 1
            best = max(best, repeats)
    return best


class CharNgramLID:
    """A character n-gram language identifier (naive Bayes over 1-3-grams, add-one smoothing).

    Trained on a few thousand transcripts per language it is all but exact on sentences of the same
    domain; it only ever chooses among the languages it was trained on.
    """

    def __init__(self, orders: Sequence[int] = LID_ORDERS):
        self.orders = tuple(orders)
        self.counts: Dict[str, Counter] = {}
        self.totals: Dict[str, Dict[int, int]] = {}
        self.vocab: Dict[int, int] = {}

    @staticmethod
    def _prepare(text: str) -> str:
        return " " + " ".join("".join(c if c.isalpha() else " " for c in text.lower()).split()) + " "

    def _ngrams(self, text: str) -> Iterable[Tuple[int, str]]:
        text = self._prepare(text)
        for n in self.orders:
            for i in range(len(text) - n + 1):
                yield n, text[i: i + n]

    def fit(self, texts: Iterable[Tuple[str, str]]) -> "CharNgramLID":
        """Train on ``(language, text)`` pairs."""
        counts: Dict[str, Counter] = defaultdict(Counter)
        for lang, text in texts:
            counts[lang].update(self._ngrams(text))
        if not counts:
            raise ValueError("the language identifier needs training text")
        self.counts = dict(counts)
        self.totals = {lang: _order_totals(table) for lang, table in self.counts.items()}
        vocab: Dict[int, set] = defaultdict(set)
        for table in self.counts.values():
            for n, gram in table:
                vocab[n].add(gram)
        self.vocab = {n: len(v) for n, v in vocab.items()}
        return self

    @property
    def languages(self) -> List[str]:
        return sorted(self.counts)

    def scores(self, text: str) -> Dict[str, float]:
        """Log-likelihood of ``text`` under each language's model."""
        grams = Counter(self._ngrams(text))
        out = {}
        for lang, table in self.counts.items():
            totals = self.totals[lang]
            out[lang] = sum(
                c * math.log((table.get(key, 0) + 1) / (totals.get(key[0], 0) + self.vocab.get(key[0], 0) + 1))
                for key, c in grams.items())
        return out

    def predict(self, text: str) -> str:
        scores = self.scores(text)
        return max(sorted(scores), key=scores.__getitem__)

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> "CharNgramLID":
        """Trained on a Kaldi data dir's transcripts (``text`` with ``utt2lang``) and its translations
        (``text.<tgt>``: text in language ``tgt``)."""
        from part.data.datadir import read_kaldi_dict

        data_dir = Path(data_dir)
        for name in ("text", "utt2lang"):
            if not (data_dir / name).is_file():
                raise FileNotFoundError(f"{data_dir / name} is missing: the language identifier trains on a data "
                                        "dir's transcripts (text, utt2lang)")
        utt2lang = read_kaldi_dict(data_dir / "utt2lang")
        pairs = [(utt2lang[utt], text) for utt, text in read_kaldi_dict(data_dir / "text").items() if utt in utt2lang]
        for path in sorted(data_dir.glob("text.*")):
            tgt = path.name.split(".", 1)[1]
            pairs += [(tgt, text) for text in read_kaldi_dict(path).values()]
        return cls().fit(pairs)


def _order_totals(table: Counter) -> Dict[int, int]:
    totals: Dict[int, int] = defaultdict(int)
    for (n, _), count in table.items():
        totals[n] += count
    return totals


def wrong_language(text: str, lang: str, scripts: set, lid: Optional[CharNgramLID] = None) -> Optional[str]:
    """Why ``text`` is not in language ``lang`` (``script=<SCRIPT>`` or the language identified), or None.

    ``scripts`` are the scripts its references use (:func:`expected_scripts`); without them (no
    reference text) only the identifier judges."""
    letters = script_counts([text])
    total = sum(letters.values())
    if total == 0:
        return None
    if scripts:
        foreign = Counter({s: n for s, n in letters.items() if s not in scripts})
        if sum(foreign.values()) * 2 > total:
            return f"script={foreign.most_common(1)[0][0]}"
    if lid is not None and lang in lid.languages and total >= LID_MIN_LETTERS:
        guess = lid.predict(text)
        if guess != lang:
            return guess
    return None


def failure_counts(examples: Sequence, lang: str, normalizer: str = "whisper", lid: Optional[CharNgramLID] = None
                   ) -> Tuple[Dict[str, object], Dict[str, List[str]]]:
    """The failure counts of one group of examples (objects with ``id``, ``ref`` and ``hyp``) whose
    output should be in ``lang``, and the labels of every flagged example (see the module doc)."""
    from part.scoring.normalize import get_normalizer
    from part.scoring.tokenize import error_unit, scoring_tokens

    norm = get_normalizer(normalizer, lang)
    max_n = LOOP_MAX_N[error_unit(lang)]
    refs = {ex.id: norm(ex.ref) for ex in examples}
    scripts = expected_scripts(r for r in refs.values() if r)
    counts: Dict[str, object] = {"speech": 0, "empty": 0, "loop": 0, "wrong_language": 0, "wrong_script": 0,
                                 "no_speech": 0, "output_on_no_speech": 0,
                                 "language_id": lid is not None and lang in lid.languages}
    labels: Dict[str, List[str]] = {}
    for ex in examples:
        ref, hyp = refs[ex.id], norm(ex.hyp)
        found = []
        if not ref:
            counts["no_speech"] += 1
            if hyp:
                found.append("output_on_no_speech")
        else:
            counts["speech"] += 1
            if not hyp:
                found.append("empty")
            else:
                repeats = max_repeats(scoring_tokens(hyp, lang), max_n)
                if repeats >= LOOP_REPEATS and repeats > max_repeats(scoring_tokens(ref, lang), max_n):
                    found.append("loop")
                why = wrong_language(hyp, lang, scripts, lid)
                if why:
                    found.append(f"wrong_language:{why}")
                    counts["wrong_script"] += why.startswith("script=")
        for label in found:
            counts[label.split(":", 1)[0]] += 1
        if found:
            labels[ex.id] = found
    return counts, labels
