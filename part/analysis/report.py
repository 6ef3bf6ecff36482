"""``<out_dir>/summary.json``, ``<out_dir>/README.md`` and the cross-phase / cross-method figures.

The README links its figures relative to ``<out_dir>`` (``phase1/grad_similarity.png``, ...), so a
report that includes it from elsewhere must prefix the links with the analysis dir's path.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from part.analysis.gradients import similarity_summary
from part.analysis.pipeline import phase_sort_key
from part.fileio import atomic_write_text

Panels = Dict[str, Tuple[List[str], np.ndarray]]


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def compare_entry(name: str, method_dir: str, panels: Panels) -> dict:
    return {"method": name, "method_dir": method_dir,
            "phases": {s: {"groups": labels, **similarity_summary(labels, m)}
                       for s, (labels, m) in sorted(panels.items(), key=lambda kv: phase_sort_key(kv[0]))}}


def write_report(result: dict, out_dir: Path, own_panels: Panels, compare: Optional[dict] = None,
                 compare_panels: Optional[Panels] = None) -> dict:
    """Write the figures that span phases/methods, summary.json and README.md; returns the summary."""
    from part.analysis import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    phases = sorted(result["phases"], key=phase_sort_key)
    figures = {s: {"grad_similarity": f"{s}/grad_similarity.png", "pca": f"{s}/adapter_pca.png"} for s in phases}

    def series(get):
        return [get(result["phases"][s]) for s in phases]

    plots.plot_phase_summary(phases, {
        "grad. sim. within-language": series(lambda e: e["gradient_similarity"]["within_language"]),
        "grad. sim. cross-language": series(lambda e: e["gradient_similarity"]["cross_language"]),
        "language-ID probe accuracy": series(lambda e: e["language_probe"].get("accuracy")),
        "alignment (precision)": series(lambda e: (e["alignment"] or {}).get("precision")),
        "alignment gain over shuffled": series(lambda e: (e["alignment"] or {}).get("gain")),
    }, out_dir / "phase_summary.png", f"{result['method']}: analysis per phase")
    summary = dict(result)
    summary["figures"] = {"phases": figures, "phase_summary": "phase_summary.png"}
    summary["compare"] = None
    if compare is not None and compare_panels:
        summary["compare"] = compare_entry(compare["method"], compare["method_dir"], compare_panels)
        all_phases = sorted(set(own_panels) | set(compare_panels), key=phase_sort_key)
        rows = {result["method"]: own_panels, compare["method"]: compare_panels}
        if result["method"].startswith("Baseline") and compare["method"].startswith("PART"):
            rows = {compare["method"]: compare_panels, result["method"]: own_panels}
        plots.plot_similarity_grid(rows, all_phases, out_dir / "grad_similarity_compare.png",
                                   " vs ".join(rows) + ": gradient cosine similarity per phase")
        summary["figures"]["compare"] = "grad_similarity_compare.png"
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "README.md", readme(summary))
    return summary


def readme(summary: dict) -> str:
    opts = summary.get("options", {})
    phases = sorted(summary["phases"], key=phase_sort_key)
    lines = [
        f"# Analysis: {summary['method']} (`{summary['method_dir']}`)",
        "",
        f"Task list `{summary['data_dir']}`; model file `{opts.get('model_file')}`; gradients over up to "
        f"{opts.get('max_examples_per_group')} examples per (task, language) group in batches of "
        f"{opts.get('batch_size')}; representations of up to {opts.get('max_utts_per_lang')} utterances per language.",
        "",
        "| phase | trainable | grad. sim. within-lang. | cross-lang. | same task, cross-lang. | within-task "
        "| cross-task | LID probe acc. (chance) | alignment | shuffled | gain |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in phases:
        e = summary["phases"][s]
        g, p, a = e["gradient_similarity"], e["language_probe"], e["alignment"] or {}
        probe = f"{_fmt(p.get('accuracy'), True)} ({_fmt(p.get('chance'), True)})"
        lines.append(f"| {s} | {', '.join(e['trainable'] or ['as built'])} | {_fmt(g['within_language'])} "
                     f"| {_fmt(g['cross_language'])} | {_fmt(g['same_task_cross_language'])} "
                     f"| {_fmt(g['within_task'])} | {_fmt(g['cross_task'])} | {probe} | {_fmt(a.get('precision'))} "
                     f"| {_fmt(a.get('shuffled'))} | {_fmt(a.get('gain'))} |")
    for s, reason in (summary.get("skipped_phases") or {}).items():
        lines.append(f"| {s} | not analysed: {reason} | | | | | | | | | |")
    lines += ["", "![analysis per phase](phase_summary.png)", ""]
    cmp_ = summary.get("compare")
    if cmp_:
        lines += [f"## {summary['method']} vs {cmp_['method']}", "",
                  "![gradient similarity of both methods](grad_similarity_compare.png)", "",
                  "| method | phase | within-lang. | cross-lang. | same task, cross-lang. | within-task | cross-task |",
                  "|---|---|---|---|---|---|---|"]
        for name, entries in ((summary["method"], {s: summary["phases"][s]["gradient_similarity"] for s in phases}),
                              (cmp_["method"], cmp_["phases"])):
            for s, g in entries.items():
                lines.append(f"| {name} | {s} | {_fmt(g['within_language'])} | {_fmt(g['cross_language'])} "
                             f"| {_fmt(g['same_task_cross_language'])} | {_fmt(g['within_task'])} "
                             f"| {_fmt(g['cross_task'])} |")
        lines.append("")
    for s in phases:
        e = summary["phases"][s]
        zero = e["gradient_similarity"]["zero_gradient_groups"]
        lines += [f"## {s}", ""]
        if zero:
            lines += [f"No gradient w.r.t. the trainable parameters (not in the matrix): {', '.join(zero)}.", ""]
        lines += [f"![{s} gradient similarity]({s}/grad_similarity.png)",
                  f"![{s} adapter outputs]({s}/adapter_pca.png)", ""]
        per_lang = (e["alignment"] or {}).get("per_language") or {}
        if per_lang:
            probe_lang = e["language_probe"].get("per_language") or {}
            lines += ["| language | utterances | alignment | coverage | shuffled | gain | probe acc. |",
                      "|---|---|---|---|---|---|---|"]
            for lang, v in per_lang.items():
                lines.append(f"| {lang} | {v['utterances']} | {_fmt(v['precision'])} | {_fmt(v['coverage'])} "
                             f"| {_fmt(v['shuffled'])} | {_fmt(v['gain'])} | {_fmt(probe_lang.get(lang), True)} |")
            lines.append("")
    lines += [
        "## Definitions",
        "",
        "- Gradient similarity: cosine between the mean loss gradients (w.r.t. the phase's final trainable "
        "parameters) of two (task, language) groups. Within-/cross-language: same/different source language; "
        "within-/cross-task: same/different task. Groups whose loss does not reach the trainable parameters "
        "(text-only MT while the LLM is frozen) have no gradient and are left out.",
        "- Alignment: mean over adapter vectors of the highest cosine to the LLM input embeddings of the "
        "utterance's transcript tokens; shuffled: the same against another utterance's transcript of the "
        "language; gain: the difference; coverage: per transcript token, the highest cosine to any adapter vector.",
        "- LID probe: cross-validated logistic-regression language identification from mean-pooled adapter outputs.",
        "",
    ]
    return "\n".join(lines)
