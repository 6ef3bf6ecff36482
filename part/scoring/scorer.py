"""Scoring of a decode dir (recipe stage 8): WER/CER per language, BLEU/chrF per direction.

Input, the decode-dir contract of docs/contracts.md (one ``exampleid value`` line per example):
``hyp``, ``ref``, ``utt2lang`` (source language), ``utt2tgt`` (target language; equal to the source
for ASR, optional for ASR) and ``task`` (``asr``, ``s2tt`` or ``mt``).

- A reference without a hypothesis is scored against an empty hypothesis (all deletions / no
  n-grams) and reported in a warning with the ids. A hypothesis without a reference is an error.
- ASR examples are grouped by language and scored by WER, or by CER for the languages of
  ``is_cjk``: ``D/score_wer/<lang>/`` or ``D/score_cer/<lang>/`` with ``ref.trn``, ``hyp.trn``,
  ``result.txt`` (sclite's report) and ``wer`` (Kaldi-style ``%WER``/``%CER`` line).
  With sclite available (``use_sclite="auto"``/``"yes"``) the counts and ``result.txt`` come from
  sclite and are checked against the Python aligner; otherwise the Python aligner writes the same
  report (:mod:`part.scoring.sclite`).
- Translation examples are grouped by direction: ``D/score_bleu/<src>-<tgt>/`` with ``ref``, ``hyp``
  (one segment per line, in example-id order), ``ids`` and ``bleu`` (sacrebleu BLEU/chrF and
  signatures). BLEU is computed on the text as decoded by default (``bleu_normalizer="none"``),
  sacrebleu's convention; the ``ref``/``hyp`` files are exactly what was scored, so
  ``sacrebleu ref -i hyp -tok <tok>`` reproduces the numbers.
- ASR score dirs also hold ``per_utt``: one line ``exampleid #csid C S I D`` per utterance (the counts
  line of Kaldi's ``per_utt``), what the paired bootstrap of the report resamples.
- Every group is checked for failures (:mod:`part.scoring.failures`: empty outputs, repetition loops,
  output in the wrong language, output on clips without speech); their counts go into its record,
  the labels of the flagged examples into ``D/failures`` (``exampleid label ...``).
- ``D/scores.json``: a JSON list, one record per group (see :func:`score_decode_dir`).
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from part.data.datadir import DataDirError, read_kaldi_dict
from part.data.languages import canonical_code
from part.fileio import atomic_write_text
from part.scoring import sclite as sc
from part.scoring.align import ErrorCounts
from part.scoring.bleu import bleu_report, corpus_bleu_chrf
from part.scoring.failures import CharNgramLID, failure_counts
from part.scoring.normalize import get_normalizer
from part.scoring.tokenize import error_unit, scoring_tokens

TASKS = ("asr", "s2tt", "mt")
SCORE_DIRS = ("score_wer", "score_cer", "score_bleu")
logger = logging.getLogger(__name__)


class ScoringError(ValueError):
    """Bad scoring input; the message names the file, line and example id."""


def read_table(path: Path) -> Dict[str, str]:
    """``{id: value}`` of one ``exampleid value`` file of a decode dir (a value may be empty), read by the
    toolkit's one ``id value`` reader; a malformed line or a repeated id is a :class:`ScoringError`
    naming the file, line and id."""
    try:
        return read_kaldi_dict(path, kind="example", allow_empty=True, sorted_ids=False)
    except DataDirError as err:
        raise ScoringError(str(err)) from None


@dataclass
class Example:
    """One example of a decode dir."""

    id: str
    src: str
    tgt: str
    ref: str
    hyp: str


@dataclass
class DecodeDir:
    """The contents of a decode dir; ``missing`` are the reference ids without a hypothesis."""

    path: Path
    task: str
    examples: List[Example]
    missing: List[str]


def load_decode_dir(path: Path) -> DecodeDir:
    """Read and check a decode dir (see the module doc); raises :class:`ScoringError`."""
    path = Path(path)
    for name in ("hyp", "ref", "utt2lang", "task"):
        if not (path / name).is_file():
            raise ScoringError(f"{path / name} is missing (decode-dir contract in docs/contracts.md)")
    task = (path / "task").read_text(encoding="utf-8").strip()
    if task not in TASKS:
        raise ScoringError(f"{path / 'task'}: unknown task '{task}'; expected one of {', '.join(TASKS)}")
    refs, hyps = read_table(path / "ref"), read_table(path / "hyp")
    utt2lang = read_table(path / "utt2lang")
    if (path / "utt2tgt").is_file():
        utt2tgt = read_table(path / "utt2tgt")
    elif task == "asr":
        utt2tgt = utt2lang
    else:
        raise ScoringError(f"{path / 'utt2tgt'} is missing (needed for the {task} task)")

    orphans = [k for k in hyps if k not in refs]
    if orphans:
        raise ScoringError(f"{path / 'hyp'}: hypothesis id '{orphans[0]}' has no reference in {path / 'ref'}"
                           + (f" ({len(orphans)} such ids)" if len(orphans) > 1 else ""))
    if not refs:
        raise ScoringError(f"{path / 'ref'} has no references")
    examples, missing = [], []
    for key in sorted(refs):
        for table, name in ((utt2lang, "utt2lang"), (utt2tgt, "utt2tgt")):
            if key not in table:
                raise ScoringError(f"{path / name}: example id '{key}' (from {path / 'ref'}) is missing")
        try:
            src, tgt = canonical_code(utt2lang[key]), canonical_code(utt2tgt[key])
        except KeyError as e:
            raise ScoringError(f"{path}: example '{key}': {e.args[0]}") from None
        if task == "asr" and src != tgt:
            raise ScoringError(f"{path}: ASR example '{key}' has source '{src}' but target '{tgt}'")
        if key not in hyps:
            missing.append(key)
        examples.append(Example(key, src, tgt, refs[key], hyps.get(key, "")))
    return DecodeDir(path, task, examples, missing)


# ------------------------------------------------------------------------------------------------
def score_error_rate(examples: Sequence[Example], lang: str, out_dir: Path, normalizer: str = "whisper",
                     use_sclite: str = "auto", missing: Sequence[str] = ()) -> Dict[str, object]:
    """WER (or CER) of one language's ASR examples; writes ``ref.trn``, ``hyp.trn``, ``result.txt``
    and ``wer`` into ``out_dir`` and returns the scores.json record."""
    if use_sclite not in ("auto", "yes", "no"):
        raise ValueError(f"use_sclite must be auto, yes or no, not {use_sclite!r}")
    norm = get_normalizer(normalizer, lang)
    metric = error_unit(lang)
    ref_entries, hyp_entries = [], []
    folded: Dict[str, str] = {}
    for ex in examples:
        tid = sc.trn_id(ex.id)
        key = sc.sclite_case_fold(tid)
        if key in folded:  # sclite lower-cases ids: two ids that differ only in case would collide
            raise ScoringError(f"example ids '{folded[key]}' and '{ex.id}' differ only in letter case; "
                               "sclite cannot tell them apart")
        folded[key] = ex.id
        ref_entries.append((tid, scoring_tokens(norm(ex.ref), lang)))
        hyp_entries.append((tid, scoring_tokens(norm(ex.hyp), lang)))
    order = sorted(range(len(ref_entries)), key=lambda i: ref_entries[i][0])
    ref_entries = [ref_entries[i] for i in order]
    hyp_entries = [hyp_entries[i] for i in order]

    out_dir.mkdir(parents=True, exist_ok=True)
    sc.write_trn(out_dir / "ref.trn", ref_entries)
    sc.write_trn(out_dir / "hyp.trn", hyp_entries)
    utterances = sc.align_trn(ref_entries, hyp_entries)
    python_counts = {u.id: u.counts for u in utterances}

    binary = sc.find_sclite() if use_sclite != "no" else None
    if use_sclite == "yes" and binary is None:
        raise ScoringError("--use_sclite yes, but sclite was not found ($SCLITE, PATH, "
                           f"{', '.join(sc.SCLITE_CANDIDATES)}); install SCTK (apt-get install sctk)")
    if binary is not None:
        report = sc.run_sclite(out_dir, binary)
        per_utt = sc.parse_sclite_scores(report)
        lost = sorted(set(python_counts) - set(per_utt))
        if lost:
            raise ScoringError(f"sclite did not score {len(lost)} utterance(s) of {out_dir / 'hyp.trn'}, "
                               f"e.g. ({lost[0]}); see {out_dir / 'result.txt'}")
        differ = [k for k in python_counts if python_counts[k] != per_utt[k]]
        if differ:
            logger.warning("%s: the Python aligner disagrees with sclite on %d utterance(s), e.g. (%s); "
                           "keeping sclite's counts", out_dir, len(differ), differ[0])
        scorer = "sclite"
    else:
        report = sc.format_report(utterances)
        per_utt = python_counts
        scorer = "python"
    (out_dir / "result.txt").write_text(report, encoding="utf-8")
    (out_dir / "per_utt").write_text(
        "".join(f"{folded[k]} #csid {c.corr} {c.sub} {c.ins} {c.dele}\n"
                for k, c in sorted(per_utt.items(), key=lambda kv: folded[kv[0]])), encoding="utf-8")

    total = ErrorCounts()
    for counts in per_utt.values():
        total = total + counts
    ser = 100.0 * total.serr / total.snt if total.snt else 0.0
    (out_dir / "wer").write_text(
        total.kaldi_line(metric) + "\n"
        + f"%SER {ser:.2f} [ {total.serr} / {total.snt} ]\n"
        + f"Scored {total.snt} sentences, {len(missing)} not present in hyp.\n", encoding="utf-8")
    rate = total.error_rate()
    return {"metric": metric, "value": None if rate is None else round(rate, 4), "counts": total.as_dict(),
            "normalizer": norm.name, "normalizer_detail": norm.description, "scorer": scorer}


def score_translation(examples: Sequence[Example], tgt: str, out_dir: Path, normalizer: str = "none"
                      ) -> Dict[str, object]:
    """BLEU and chrF of one direction; writes ``ref``, ``hyp``, ``ids`` and ``bleu`` into ``out_dir``
    and returns the scores.json record."""
    norm = get_normalizer(normalizer, tgt)
    refs = [" ".join(norm(ex.ref).split()) for ex in examples]
    hyps = [" ".join(norm(ex.hyp).split()) for ex in examples]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in (("ref", refs), ("hyp", hyps), ("ids", [ex.id for ex in examples])):
        (out_dir / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    result = corpus_bleu_chrf(hyps, refs, tgt)
    (out_dir / "bleu").write_text("\n".join(bleu_report(result, len(examples))) + "\n", encoding="utf-8")
    return {"metric": "BLEU", "value": round(result["bleu"], 4), "bleu": round(result["bleu"], 4),
            "chrf": round(result["chrf"], 4), "signature": result["signature"],
            "chrf_signature": result["chrf_signature"], "tokenize": result["tokenize"],
            "bleu_stats": result["bleu_stats"], "counts": {"Snt": len(examples)},
            "normalizer": norm.name, "normalizer_detail": norm.description, "scorer": "sacrebleu"}


# ------------------------------------------------------------------------------------------------
def group_examples(decode: DecodeDir) -> Dict[Tuple[str, str], List[Example]]:
    """Examples per (src, tgt): per language for ASR (src == tgt), per direction for translation."""
    groups: Dict[Tuple[str, str], List[Example]] = {}
    for ex in decode.examples:
        groups.setdefault((ex.src, ex.tgt), []).append(ex)
    return dict(sorted(groups.items()))


def score_decode_dir(decode_dir: Path, normalizer: str = "whisper", use_sclite: str = "auto",
                     bleu_normalizer: str = "none", lid: Optional[CharNgramLID] = None) -> List[Dict[str, object]]:
    """Score a decode dir (module doc) and write ``scores.json``; returns its records.

    Each record has ``task``, ``src``, ``tgt``, ``metric`` (WER, CER or BLEU), ``value``, ``counts``
    (``Snt Wrd Corr Sub Del Ins Err S.Err`` for WER/CER, ``Snt`` for BLEU), ``normalizer`` and
    ``normalizer_detail``, ``scorer`` (sclite, python or sacrebleu), ``score_dir`` (relative to the
    decode dir), ``missing_hyp`` (references without a hypothesis), ``failures`` (the counts of
    :func:`part.scoring.failures.failure_counts`, judged after the WER/CER normaliser, with the language
    identifier ``lid`` when given) and, for BLEU, ``bleu``, ``chrf``, ``signature``, ``chrf_signature``,
    ``tokenize`` and ``bleu_stats``.
    """
    decode_dir = Path(decode_dir)
    decode = load_decode_dir(decode_dir)
    if decode.missing:
        shown = " ".join(decode.missing[:10]) + (" ..." if len(decode.missing) > 10 else "")
        logger.warning("%s: %d reference(s) without a hypothesis, scored as empty hypotheses: %s",
                       decode_dir, len(decode.missing), shown)
    for name in SCORE_DIRS:  # stale groups of an earlier run must not survive
        shutil.rmtree(decode_dir / name, ignore_errors=True)
    missing = set(decode.missing)
    records = []
    flagged: Dict[str, List[str]] = {}
    for (src, tgt), examples in group_examples(decode).items():
        group_missing = [ex.id for ex in examples if ex.id in missing]
        if decode.task == "asr":
            sub = f"score_{error_unit(src).lower()}/{src}"
            record = score_error_rate(examples, src, decode_dir / sub, normalizer, use_sclite, group_missing)
        else:
            sub = f"score_bleu/{src}-{tgt}"
            record = score_translation(examples, tgt, decode_dir / sub, bleu_normalizer)
        failures, labels = failure_counts(examples, tgt, normalizer, lid)
        flagged.update(labels)
        records.append({"task": decode.task, "src": src, "tgt": tgt, **record, "score_dir": sub,
                        "missing_hyp": len(group_missing), "failures": failures})
        logger.info("%s %s: %s %s (%d examples%s)", decode_dir, f"{src}-{tgt}" if src != tgt else src,
                    record["metric"], "n/a" if record["value"] is None else f"{record['value']:.2f}",
                    len(examples), f", {len(group_missing)} without hypothesis" if group_missing else "")
    atomic_write_text(decode_dir / "failures", "".join(f"{k} {' '.join(v)}\n" for k, v in sorted(flagged.items())))
    atomic_write_text(decode_dir / "scores.json", json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    return records
