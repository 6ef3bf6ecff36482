"""Scoring (recipe stage 8): WER/CER with SCTK sclite's alignment, BLEU/chrF with sacrebleu, RESULTS.md.

Modules:

- :mod:`part.scoring.normalize`: Whisper-style text normalisers (``whisper``, ``basic``, ``none``).
- :mod:`part.scoring.tokenize`: words, or CJK characters with Latin words kept whole (CER languages).
- :mod:`part.scoring.align`: the Levenshtein aligner with sclite's costs and tie-breaking, error counts.
- :mod:`part.scoring.sclite`: trn files, running sclite, and a byte-identical Python twin of its report.
- :mod:`part.scoring.bleu`: corpus BLEU/chrF and their sacrebleu signatures.
- :mod:`part.scoring.scorer`: a whole decode dir -> score dirs and ``scores.json`` (``part_score``).
- :mod:`part.scoring.failures`, :mod:`part.scoring.significance`: failure counts, paired bootstrap intervals.
- :mod:`part.scoring.results`: every ``scores.json`` of an experiment dir as runs and tables.
- :mod:`part.scoring.phases`, :mod:`part.scoring.provenance`: the phase-by-phase comparison, where a run came from.
- :mod:`part.scoring.report`: all of it as RESULTS.md (``make_results``).
"""
from part.scoring.align import ErrorCounts, align
from part.scoring.normalize import NORMALIZERS, get_normalizer
from part.scoring.report import build_report
from part.scoring.results import comparison_table, find_runs
from part.scoring.scorer import ScoringError, load_decode_dir, score_decode_dir
from part.scoring.tokenize import scoring_tokens

__all__ = ["ErrorCounts", "align", "NORMALIZERS", "get_normalizer", "build_report", "comparison_table",
           "find_runs", "ScoringError", "load_decode_dir", "score_decode_dir", "scoring_tokens"]
