"""BLEU and chrF of a translation direction with sacrebleu's Python API (scores identical to the
``sacrebleu`` command line on the same files, and reported with sacrebleu's signature).

BLEU tokenisation follows the target language, as sacrebleu recommends:

=========================  ===============================================================
target                     ``tokenize``
=========================  ===============================================================
zh                         ``zh``
ja                         ``ja-mecab`` when its extra dependencies are installed, else ``char``
ko                         ``ko-mecab`` when its extra dependencies are installed, else ``char``
yue, th (no word spaces)   ``char``
everything else            ``13a`` (sacrebleu's default, WMT's mteval-v13a)
=========================  ===============================================================

chrF is sacrebleu's default chrF2 (character 6-grams, beta 2), language independent.
"""
from __future__ import annotations

import functools
from typing import Dict, List, Sequence

from part.data.languages import canonical_code, is_cjk


@functools.lru_cache(maxsize=None)
def _tokenizer_available(name: str) -> bool:
    from sacrebleu.metrics import BLEU

    try:
        BLEU(tokenize=name)
    except Exception:  # sacrebleu raises RuntimeError/ImportError when MeCab & co. are missing
        return False
    return True


def bleu_tokenizer(lang: str) -> str:
    """sacrebleu's ``tokenize`` value for a target language (see the module doc)."""
    code = canonical_code(lang)
    if code == "zh":
        return "zh"
    if code in ("ja", "ko"):
        mecab = f"{code}-mecab"
        return mecab if _tokenizer_available(mecab) else "char"
    if is_cjk(code):
        return "char"
    return "13a"


def corpus_bleu_chrf(hyps: Sequence[str], refs: Sequence[str], tgt: str) -> Dict[str, object]:
    """Corpus BLEU and chrF of ``hyps`` against one reference each, for target language ``tgt``.

    Returns ``bleu``, ``chrf`` (floats), their sacrebleu ``signature``/``chrf_signature``, the
    tokenizer, sacrebleu's one-line summaries (``bleu_line``/``chrf_line``) and the BLEU statistics
    (n-gram counts and totals, precisions, brevity penalty, lengths).
    """
    from sacrebleu.metrics import BLEU, CHRF

    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses for {len(refs)} references")
    tokenize = bleu_tokenizer(tgt)
    bleu = BLEU(tokenize=tokenize)
    chrf = CHRF()
    hyps, refs = list(hyps), [list(refs)]
    b = bleu.corpus_score(hyps, refs)
    c = chrf.corpus_score(hyps, refs)
    return {
        "bleu": b.score, "chrf": c.score, "tokenize": tokenize,
        "signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature()),
        "bleu_line": str(b), "chrf_line": str(c),
        "bleu_stats": {"counts": list(b.counts), "totals": list(b.totals),
                       "precisions": [round(p, 4) for p in b.precisions], "bp": round(b.bp, 4),
                       "sys_len": b.sys_len, "ref_len": b.ref_len},
    }


def bleu_report(result: Dict[str, object], n_segments: int) -> List[str]:
    """The lines of the ``bleu`` file of a score dir."""
    return [
        f"{result['bleu_line']}",
        f"{result['chrf_line']}",
        f"BLEU signature: {result['signature']}",
        f"chrF signature: {result['chrf_signature']}",
        f"segments: {n_segments}",
    ]
