"""Figures of the analysis phase: gradient-similarity heatmaps (one phase, or methods x phases side by
side), the PCA scatter of pooled adapter outputs, and a per-phase summary chart. Headless (Agg)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from part.analysis.data import parse_label
from part.fileio import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, dpi: int = 110) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    _plt().close(fig)


def _heatmap(ax, matrix: np.ndarray, labels: Sequence[str], title: str, annotate: bool = True):
    n = len(labels)
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    tick_size = max(5, min(9, 220 // max(n, 1)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=tick_size)
    ax.set_yticklabels(labels, fontsize=tick_size)
    if annotate:
        size = max(4, min(9, 160 // max(n, 1)))
        for i in range(n):
            for j in range(n):
                v = matrix[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=size,
                        color="white" if abs(v) > 0.6 else "black")
    # Lines between the task blocks (asr | s2tt | mt).
    tasks = [parse_label(label)[0] for label in labels]
    for k in range(1, n):
        if tasks[k] != tasks[k - 1]:
            ax.axhline(k - 0.5, color="black", linewidth=1.2)
            ax.axvline(k - 0.5, color="black", linewidth=1.2)
    ax.set_title(title, fontsize=10)
    return im


def plot_similarity(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str,
                    zero_gradient_groups: Sequence[str] = ()) -> None:
    """One phase's gradient cosine-similarity heatmap with the values written in the cells."""
    plt = _plt()
    n = max(len(labels), 1)
    side = min(4.0 + 0.55 * n, 22.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    if len(labels):
        im = _heatmap(ax, matrix, labels, title)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="gradient cosine similarity")
    else:
        ax.text(0.5, 0.5, "no group has a gradient", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title, fontsize=10)
    if zero_gradient_groups:
        fig.text(0.01, 0.005, "no gradient (not shown): " + ", ".join(zero_gradient_groups), fontsize=7)
    _save(fig, path)


Panel = Optional[Tuple[List[str], np.ndarray]]


def plot_similarity_grid(rows: Dict[str, Dict[str, Panel]], phases: Sequence[str], path: Path, title: str) -> None:
    """Methods (rows) x phases (columns) of heatmaps; a missing phase is an empty, labelled cell."""
    plt = _plt()
    n_max = max([len(p[0]) for panels in rows.values() for p in panels.values() if p] + [1])
    cell = min(3.0 + 0.45 * n_max, 12.0)
    fig, axes = plt.subplots(len(rows), len(phases), figsize=(cell * len(phases) + 1.5, cell * len(rows) + 1.0),
                             squeeze=False, layout="constrained")
    im = None
    for r, (method, panels) in enumerate(rows.items()):
        for c, phase in enumerate(phases):
            ax = axes[r][c]
            panel = panels.get(phase)
            if panel and len(panel[0]):
                im = _heatmap(ax, panel[1], panel[0], f"{method} — {phase}", annotate=n_max <= 24)
            else:
                ax.text(0.5, 0.5, "not trained /\nnot analysed", ha="center", va="center", fontsize=9)
                ax.set_title(f"{method} — {phase}", fontsize=10)
                ax.set_xticks([])
                ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="gradient cosine similarity")
    fig.suptitle(title)
    _save(fig, path)


def plot_pca(coords: np.ndarray, languages: Sequence[str], path: Path, title: str,
             explained: Sequence[float] = (0.0, 0.0)) -> None:
    """Scatter of the 2-D PCA projection of pooled adapter outputs, one colour per language."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    langs = sorted(set(languages))
    cmap = plt.get_cmap("tab10" if len(langs) <= 10 else "tab20")
    languages = np.asarray(languages)
    for k, lang in enumerate(langs):
        sel = languages == lang
        ax.scatter(coords[sel, 0], coords[sel, 1], s=18, alpha=0.8, color=cmap(k % cmap.N), label=lang)
    ax.set_xlabel(f"PC1 ({100 * explained[0]:.1f}% var.)")
    ax.set_ylabel(f"PC2 ({100 * explained[1]:.1f}% var.)")
    ax.set_title(title, fontsize=10)
    if langs:
        ax.legend(title="language", fontsize=8, markerscale=1.2, loc="best")
    _save(fig, path)


def plot_phase_summary(phases: Sequence[str], series: Dict[str, Sequence[Optional[float]]], path: Path,
                       title: str) -> None:
    """Per-phase values (gradient similarity, probe accuracy, alignment) as lines over the phases."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 * len(phases) + 2), 3.8))
    x = np.arange(len(phases))
    for name, values in series.items():
        y = np.array([np.nan if v is None else v for v in values], dtype=float)
        if np.isfinite(y).any():
            ax.plot(x, y, marker="o", label=name)
    ax.set_xticks(x)
    ax.set_xticklabels(phases)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    _save(fig, path)
