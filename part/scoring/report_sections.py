"""Sections of RESULTS.md beyond the scores: the phase-9 analysis (``<method>/analysis/summary.json``) as
a table per method and phase with links to the plots, the learning curves, and the wall time of each
step of the run."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Tuple


def _fmt(value, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if pct else f"{value:.3f}"


def analysis_section(exp_dir: Path, report_path: Path) -> str:
    """Markdown for every analysed method below ``exp_dir`` (empty when stage 9 has not run)."""
    summaries = sorted(Path(exp_dir).glob("**/analysis/summary.json"))
    if not summaries:
        return ""
    base = report_path.resolve().parent
    lines: List[str] = [
        "## Analysis (stage 9)", "",
        "Gradient cosine similarity between (task, language) groups, w.r.t. the parameters each phase trains "
        "(mean over pairs of groups with the same source language vs different ones), a language-ID probe "
        "on mean-pooled adapter outputs, and how close the adapter outputs lie to the LLM's embeddings of "
        "the transcript (definitions: part/analysis/).", "",
        "| method | phase | grad. sim. within-language | grad. sim. cross-language | language-ID probe | "
        "alignment precision | plots |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in summaries:
        summary = json.loads(path.read_text(encoding="utf-8"))
        analysis_dir = path.parent
        method = analysis_dir.parent.name
        for phase, entry in sorted(summary.get("phases", {}).items()):
            grad = entry.get("gradient_similarity") or {}
            probe = entry.get("language_probe") or {}
            align = entry.get("alignment") or {}
            plot = analysis_dir / phase / "grad_similarity.png"
            link = f"[heatmap]({os.path.relpath(plot, base)})" if plot.is_file() else ""
            lines.append(f"| {method} | {phase} | {_fmt(grad.get('within_language'))} | "
                         f"{_fmt(grad.get('cross_language'))} | {_fmt(probe.get('accuracy'), pct=True)} | "
                         f"{_fmt(align.get('precision'))} | {link} |")
    lines.append("")
    for path in summaries:
        for name in ("phase_summary.png", "grad_similarity_compare.png"):
            plot = path.parent / name
            if plot.is_file():
                lines.append(f"![{path.parent.parent.name}: {name}]({os.path.relpath(plot, base)})")
    lines.append("")
    return "\n".join(lines)


def curves_section(exp_dir: Path, report_path: Path) -> str:
    """Links to the loss and accuracy curves ESPnet draws for every training phase (``images/*.png``),
    and to the in-recipe LLM's pretraining curve and held-out metrics when present."""
    base = report_path.resolve().parent
    rows = []
    for images in sorted(Path(exp_dir).glob("**/images")):
        phase_dir = images.parent
        links = [f"[{png.stem}]({os.path.relpath(png, base)})" for png in sorted(images.glob("*.png"))
                 if png.stem in ("loss", "acc", "ter")]
        if links:
            rows.append(f"| {os.path.relpath(phase_dir, exp_dir)} | {' '.join(links)} |")
    if not rows:
        return ""
    lines = ["## Learning curves", "", "| experiment | curves (train and valid, per epoch) |", "|---|---|", *rows, ""]
    llm_metrics = Path(exp_dir) / "llm" / "metrics.json"
    if llm_metrics.is_file():
        metrics = json.loads(llm_metrics.read_text(encoding="utf-8"))
        curve = Path(exp_dir) / "llm" / "loss.png"
        lines += [f"In-recipe LLM on held-out text: copy exact match {metrics.get('copy_exact', float('nan')):.1f}%, "
                  f"xx→en translation BLEU {metrics.get('mt_xx_en_bleu', float('nan')):.1f} "
                  f"([pretraining loss]({os.path.relpath(curve, base)})).", ""]
    return "\n".join(lines)


def read_wall_times(tsv: Path) -> List[Tuple[str, float]]:
    """``(step, seconds)`` rows of a wall-time file written by egs/TEMPLATE/part.sh ($PART_TIMING), in
    the order the steps first ran; a step recorded several times (a resumed or re-checked step) counts with
    its total time."""
    totals: Dict[str, float] = {}
    for lineno, line in enumerate(Path(tsv).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        step, sep, seconds = line.rpartition("\t")
        try:
            value = float(seconds)
        except ValueError:
            value = None
        if not sep or value is None:
            raise ValueError(f"{tsv}:{lineno}: expected '<step><TAB><seconds>', got {line!r}")
        totals[step] = totals.get(step, 0.0) + value
    return list(totals.items())


def wall_time_rows(rows: List[Tuple[str, float]]) -> List[List[str]]:
    total = sum(s for _, s in rows) or 1.0
    out = [[step, f"{s:.0f}", f"{s / 60:.1f}", f"{100 * s / total:.0f}%"] for step, s in rows]
    out.append(["total", f"{total:.0f}", f"{total / 60:.1f}", "100%"])
    return out


WALL_TIME_HEADER = ["step", "seconds", "minutes", "share"]


def wall_time_text(tsv: Path) -> str:
    """The wall-time table as aligned plain text (printed by run_all.sh and bench/bench_main_job.py)."""
    from part.scoring.results import text_table

    return "\n".join(text_table(WALL_TIME_HEADER, wall_time_rows(read_wall_times(tsv)))) + "\n"


def wall_time_section(tsv: Path) -> str:
    """Markdown table of the wall time of each step of the run, the slowest named."""
    rows = read_wall_times(tsv)
    if not rows:
        return ""
    slowest = max(rows, key=lambda r: r[1])
    lines = ["## Wall time", "",
             f"Per step of `egs/TEMPLATE/part.sh` (`{Path(tsv).name}`), summed over the runs that wrote this "
             "experiment dir: a resumed step counts all its attempts, a step found done adds the seconds it took "
             f"to check. {os.cpu_count()} CPU cores visible to the machine that wrote this report. The slowest "
             f"step: **{slowest[0]}** ({slowest[1] / 60:.1f} min).", "",
             "| " + " | ".join(WALL_TIME_HEADER) + " |", "| :--- | ---: | ---: | ---: |"]
    lines += ["| " + " | ".join(r) + " |" for r in wall_time_rows(rows)]
    return "\n".join(lines) + "\n"
