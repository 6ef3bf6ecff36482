"""The phase-by-phase story of a PART vs Baseline-2stage experiment dir, for RESULTS.md and the terminal.

Per adapter (``speech_adapter`` of the phases' ``config.yaml``) and speech test set:

- **headline**: the last phase of PART against the last phase of Baseline-2stage — mean ± std over seeds
  of the paper's averages, and PART − Baseline with its paired bootstrap 95% interval over the pooled
  seeds (:mod:`part.scoring.significance`);
- **updates**: the updates of every phase, and those that carried gradient (``grad_updates.json``,
  :mod:`part.tasks.update_counts`), cumulated along each method — equal totals make the comparison fair;
- **trajectory**: every decoded phase of both methods, error and BLEU against the cumulated updates
  with gradient, as a table and a plot (``figures/phases_<adapter>_<set>.png`` next to the report);
- **failures** of the last phases per language and direction (empty outputs, loops, wrong language), and
  per phase the share of clips without speech on which the model wrote something (a test set whose
  references are all empty once normalised, ``test_noise`` in the embedded recipe).

The tables are :class:`Table` objects, rendered as Markdown (the report) or aligned text (stdout).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from part.scoring.results import Run, fmt_mean_std, markdown_table, natural_key, run_average, text_table

PART, BASELINE = "part", "baseline"
METHOD_NAMES = {BASELINE: "Baseline-2stage", PART: "PART"}
FAILURE_KINDS = (("wrong_language", "wrong language"), ("loop", "loops"), ("empty", "empty"))


@dataclass
class Table:
    title: str
    header: List[str]
    rows: List[List[str]]
    notes: List[str] = field(default_factory=list)  # paragraphs under the table (Markdown)
    align: str = ""  # one letter per column, l or r (markdown_table's default: the first column left)

    def markdown(self, level: str = "###") -> List[str]:
        lines = [f"{level} {self.title}", ""] + markdown_table(self.header, self.rows, self.align) + [""]
        for note in self.notes:
            lines += [note, ""]
        return lines

    def text(self) -> List[str]:
        """The table as aligned text, with its notes (less figure links and Markdown marks)."""
        lines = [self.title] + text_table(self.header, [[c.replace("**", "") for c in r] for r in self.rows])
        lines += [note.replace("**", "").replace("`", "") for note in self.notes if not note.startswith("![")]
        return lines + [""]


# ------------------------------------------------------------------------------------------------
# grouping
# ------------------------------------------------------------------------------------------------
def method_order(method: str) -> Tuple[int, list]:
    """Baseline-2stage first, then PART, then any other method."""
    return ({BASELINE: 0, PART: 1}.get(method, 2), natural_key(method))


def method_label(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def is_no_speech(run: Run) -> bool:
    """A run of clips without speech: every group's references were empty once normalised."""
    return bool(run.records) and all(
        (r.get("failures") or {}).get("no_speech", 0) == r["counts"].get("Snt", -1) for r in run.records)


@dataclass
class Systems:
    """The runs of one adapter, by (method, phase) and set, seeds together."""

    adapter: str
    runs: List[Run]

    def sets(self, no_speech: bool = False) -> List[str]:
        return sorted({r.set for r in self.runs if is_no_speech(r) == no_speech})

    def methods(self) -> List[str]:
        return sorted({r.method for r in self.runs}, key=method_order)

    def phases(self, method: str) -> List[str]:
        return sorted({r.phase for r in self.runs if r.method == method}, key=natural_key)

    def method_dirs(self, method: str) -> List[Path]:
        """The experiment dirs of a method (one per seed): ``<method dir>/<phase>/<decode dir>``."""
        return sorted({r.path.parent.parent for r in self.runs if r.method == method})

    def select(self, method: str, phase: str, set_name: str, task: str) -> List[Run]:
        return sorted((r for r in self.runs if (r.method, r.phase, r.set, r.task) == (method, phase, set_name, task)),
                      key=lambda r: natural_key(r.seed))


def by_adapter(runs: Sequence[Run]) -> List[Systems]:
    adapters = sorted({r.adapter for r in runs})
    return [Systems(a, [r for r in runs if r.adapter == a]) for a in adapters]


# ------------------------------------------------------------------------------------------------
# numbers of one run
# ------------------------------------------------------------------------------------------------
def bleu_average(run: Run, which: str = "all") -> Optional[float]:
    """Mean BLEU over ``all`` directions, those into English (``xx→en``) or out of it (``en→xx``)."""
    keep = {"all": lambda r: True, "xx→en": lambda r: r["tgt"] == "en", "en→xx": lambda r: r["src"] == "en"}[which]
    values = [r["value"] for r in run.records if keep(r) and r.get("value") is not None]
    return sum(values) / len(values) if values else None


def direction_subsets(groups: Sequence[str]) -> Dict[str, List[str]]:
    return {"all": list(groups), "xx→en": [g for g in groups if g.endswith("-en")],
            "en→xx": [g for g in groups if g.startswith("en-")]}


def phase_dirs(method_dir: Path) -> List[Path]:
    """The trained phases of a method dir (those with a ``config.yaml``), in order."""
    return sorted((p for p in Path(method_dir).iterdir() if (p / "config.yaml").is_file()),
                  key=lambda p: natural_key(p.name))


def cumulated_updates(method_dir: Path) -> Dict[str, Optional[int]]:
    """``{phase: updates with gradient of this phase and every phase before it}`` (None from the first phase
    without a count on)."""
    from part.tasks.update_counts import totals

    out: Dict[str, Optional[int]] = {}
    total: Optional[int] = 0
    for phase in phase_dirs(method_dir):
        counts = totals(phase)
        total = None if counts is None or total is None else total + counts["with_gradient"]
        out[phase.name] = total
    return out


def _fmt_count(values: Sequence[Optional[int]]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(set(values)) == 1:
        return f"{values[0]:,}"
    return fmt_mean_std(values, 0)


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------
def updates_table(systems: Systems) -> Optional[Table]:
    """Updates and updates with gradient of every phase, cumulated along each method (mean ± std over seeds
    when they differ)."""
    from part.tasks.update_counts import totals

    rows = []
    for method in systems.methods():
        method_dirs = systems.method_dirs(method)
        cumulated = [cumulated_updates(d) for d in method_dirs]
        for phase in sorted({p.name for d in method_dirs for p in phase_dirs(d)}, key=natural_key):
            counts = [totals(d / phase) for d in method_dirs]
            if all(c is None for c in counts):
                continue
            rows.append([method_label(method), phase, _fmt_count([c and c["epochs"] for c in counts]),
                         _fmt_count([c and c["batches"] for c in counts]),
                         _fmt_count([c and c["with_gradient"] for c in counts]),
                         _fmt_count([c.get(phase) for c in cumulated])])
    if not rows:
        return None
    return Table("Updates that carry gradient", ["Method", "Phase", "Epochs", "Updates", "With gradient",
                                                 "Cumulated with gradient"], rows,
                 ["An update carries gradient when its batch's loss reaches a trainable parameter (a text-only "
                  "batch through a frozen LLM does not); counted during training (`grad_updates.json`)."],
                 align="llrrrr")


def trajectory(systems: Systems, set_name: str, no_speech_set: Optional[str]) -> Tuple[Table, List[dict]]:
    """The phase-by-phase table, and its points for the plot."""
    rows, points = [], []
    for method in systems.methods():
        cumulated = [cumulated_updates(d) for d in systems.method_dirs(method)]
        for phase in systems.phases(method):
            counts = [c.get(phase) for c in cumulated]
            known = [c for c in counts if c is not None]
            asr = systems.select(method, phase, set_name, "asr")
            s2tt = systems.select(method, phase, set_name, "s2tt")
            noise = systems.select(method, phase, no_speech_set, "asr") if no_speech_set else []
            point = {"method": method, "phase": phase, "updates": sum(known) / len(known) if known else None,
                     "error": [run_average(r) for r in asr], "bleu": [bleu_average(r) for r in s2tt],
                     "no_speech_output": [no_speech_output(r) for r in noise]}
            points.append(point)
            row = [method_label(method), phase, _fmt_count(counts), fmt_mean_std(point["error"]),
                   fmt_mean_std(point["bleu"]),
                   fmt_mean_std([bleu_average(r, "xx→en") for r in s2tt]),
                   fmt_mean_std([bleu_average(r, "en→xx") for r in s2tt])]
            if no_speech_set:
                row.append(fmt_mean_std(point["no_speech_output"], 1))
            rows.append(row)
    header = ["Method", "Phase", "Updates with gradient (cumulated)", "ASR error (%)", "BLEU", "BLEU xx→en",
              "BLEU en→xx"]
    if no_speech_set:
        header.append(f"Output on {no_speech_set} (%)")
    seeds = max((len(p["error"]) for p in points), default=0)
    notes = [f"Every phase decoded on `{set_name}` (ASR: mean WER/CER over languages; BLEU: mean over "
             "directions)" + (f"; mean ± std over {seeds} seeds" if seeds > 1 else "") + "."]
    return Table(f"Phase by phase ({set_name})", header, rows, notes, "ll" + "r" * (len(header) - 2)), points


def no_speech_output(run: Run) -> Optional[float]:
    """The share (%) of clips without speech on which the model wrote something."""
    clips = sum((r.get("failures") or {}).get("no_speech", 0) for r in run.records)
    out = sum((r.get("failures") or {}).get("output_on_no_speech", 0) for r in run.records)
    return 100.0 * out / clips if clips else None


def headline(systems: Systems, set_name: str) -> Optional[Table]:
    """PART's last phase against Baseline-2stage's last phase, with paired bootstrap intervals."""
    from part.scoring import significance as sig

    if not (systems.phases(PART) and systems.phases(BASELINE)):
        return None
    final = {m: systems.phases(m)[-1] for m in (BASELINE, PART)}
    rows, notes = [], []
    for task, metric, subsets in (("asr", "error", None), ("s2tt", "BLEU", "directions")):
        runs = {m: systems.select(m, final[m], set_name, task) for m in final}
        if not all(runs.values()):
            continue
        groups = sorted({_group(r) for run in runs[PART] + runs[BASELINE] for r in run.records})
        wanted = direction_subsets(groups) if subsets else {"all": groups}
        try:
            diffs = paired_differences(runs[PART], runs[BASELINE], task, metric, wanted)
        except (FileNotFoundError, ValueError) as exc:
            diffs = {}
            notes.append(f"No interval for {task}: {exc}")
        for which, members in wanted.items():
            if not members:
                continue
            average = run_average if task == "asr" else (lambda r, w=which: bleu_average(r, w))
            label = "ASR, average error (%)" if task == "asr" else \
                f"S2TT, average BLEU ({'all directions' if which == 'all' else which})"
            per_seed = _per_seed_differences(runs[PART], runs[BASELINE], average)
            diff = diffs.get(which)
            cell = "–" if diff is None else diff.interval_text()
            rows.append([label, fmt_mean_std([average(r) for r in runs[BASELINE]]),
                         fmt_mean_std([average(r) for r in runs[PART]]),
                         f"**{cell}**" if diff is not None and diff.significant else cell, per_seed])
    if not rows:
        return None
    seeds = max(len(systems.select(PART, final[PART], set_name, "asr")), 1)
    notes.append(f"PART − Baseline: the difference on the {'pooled ' if seeds > 1 else ''}hypotheses"
                 f"{f' of {seeds} seeds' if seeds > 1 else ''} with its paired bootstrap 95% interval "
                 f"({sig.N_SAMPLES} resamples of the test utterances, the same for both systems and for every "
                 "language and direction of the same size; error rates from summed edit counts per language, "
                 "BLEU from sacrebleu's summed statistics; bold: the interval excludes 0). "
                 + ("Each utterance is resampled with all its seeds' hypotheses, so the interval is over test "
                    "utterances, not over training runs; the per-seed differences show the spread over training "
                    "runs. " if seeds > 1 else "")
                 + "Lower error and higher BLEU are better: a negative error difference and a positive BLEU "
                 "difference favour PART.")
    return Table(f"PART ({final[PART]}) vs Baseline-2stage ({final[BASELINE]}) on {set_name}",
                 ["", f"Baseline-2stage ({final[BASELINE]})", f"PART ({final[PART]})",
                  "PART − Baseline [95% CI]", "per seed"], rows, notes)


def paired_differences(a: Sequence[Run], b: Sequence[Run], task: str, metric: str,
                       subsets: Dict[str, List[str]]):
    """Paired bootstrap of system A (its seeds' runs pooled) minus system B, per subset of groups."""
    from part.scoring import significance as sig

    stats = sig.error_counts if task == "asr" else sig.bleu_statistics
    pooled = [sig.pooled([stats(r.path) for r in runs], [str(r.path) for r in runs]) for runs in (a, b)]
    return sig.compare(pooled[0], pooled[1], metric, {k: v for k, v in subsets.items() if v})


def _per_seed_differences(part: Sequence[Run], baseline: Sequence[Run], average: Callable[[Run], float]) -> str:
    base = {r.seed: average(r) for r in baseline}
    diffs = [average(r) - base[r.seed] for r in part if r.seed in base and average(r) is not None
             and base[r.seed] is not None]
    return ", ".join(f"{d:+.2f}" for d in diffs) if len(diffs) > 1 else ""


def phase_effect(systems: Systems, set_name: str) -> Optional[str]:
    """One sentence: what PART's last phase changed against the phase before it (paired intervals)."""
    phases = systems.phases(PART)
    if len(phases) < 2:
        return None
    before, last = phases[-2], phases[-1]
    parts = []
    for task, metric, name in (("asr", "error", "ASR error"), ("s2tt", "BLEU", "BLEU")):
        runs = {p: systems.select(PART, p, set_name, task) for p in (before, last)}
        if not all(runs.values()):
            continue
        groups = sorted({_group(r) for run in runs[last] for r in run.records})
        try:
            diff = paired_differences(runs[last], runs[before], task, metric, {"all": groups})["all"]
        except (FileNotFoundError, ValueError):
            continue
        parts.append(f"{name} {diff.interval_text()}")
    if not parts:
        return None
    return (f"PART {last} − PART {before} on `{set_name}` (paired bootstrap 95% interval): " + "; ".join(parts) + ".")


def failures_table(systems: Systems, set_name: str, task: str) -> Optional[Table]:
    """Failure counts of the last phases per language (ASR) or direction (S2TT), summed over seeds."""
    rows = []
    for method in systems.methods():
        phases = systems.phases(method)
        if not phases:
            continue
        runs = systems.select(method, phases[-1], set_name, task)
        groups = sorted({_group(r) for run in runs for r in run.records})
        for group in groups:
            records = [r for run in runs for r in run.records if _group(r) == group]
            speech = sum((r.get("failures") or {}).get("speech", 0) for r in records)
            if not speech:
                continue
            values = [r["value"] for r in records if r.get("value") is not None]
            score = sum(values) / len(values) if values else None
            row = [group, f"{method_label(method)} ({phases[-1]})", "–" if score is None else f"{score:.2f}"]
            for kind, _ in FAILURE_KINDS:
                n = sum((r.get("failures") or {}).get(kind, 0) for r in records)
                row.append(f"{100.0 * n / speech:.1f} ({n})")
            rows.append(row)
    if not rows:
        return None
    rows.sort(key=lambda r: (r[0], r[1]))
    lid = all((r.get("failures") or {}).get("language_id") for run in systems.runs if run.set == set_name
              and run.task == task for r in run.records)
    metric = "WER/CER" if task == "asr" else "BLEU"
    unit = "language" if task == "asr" else "direction"
    return Table(f"Failures of the last phases ({set_name}, {'ASR' if task == 'asr' else 'S2TT'})",
                 [unit.capitalize(), "System", metric] + [f"{label} % (n)" for _, label in FAILURE_KINDS], rows,
                 [f"Share of the hypotheses (all seeds) per {unit}: in the wrong language (mostly in a script the "
                  "references do not use" + (", or identified as another language by a character n-gram model "
                                             "trained on the training transcripts" if lid else
                                             "; no language identifier was given to part_score") +
                  "), with a repetition loop, or empty after normalisation (definitions: "
                  "`part/scoring/failures.py`; the flagged examples are listed in each decode dir's `failures`)."],
                 align="llrrrr")


def _group(record: dict) -> str:
    return record["src"] if record["task"] == "asr" else f"{record['src']}-{record['tgt']}"


def no_speech_table(systems: Systems, set_name: str) -> Optional[Table]:
    """Per language and phase: on how many clips without speech the model wrote something (all seeds)."""
    columns = [(m, p) for m in systems.methods() for p in systems.phases(m)
               if systems.select(m, p, set_name, "asr")]
    if not columns:
        return None
    langs = sorted({r["src"] for run in systems.runs if run.set == set_name for r in run.records})
    rows = []
    for lang in langs + ["all"]:
        row = [lang if lang != "all" else "**all**"]
        for method, phase in columns:
            records = [r for run in systems.select(method, phase, set_name, "asr") for r in run.records
                       if lang in ("all", r["src"])]
            clips = sum(r["failures"]["no_speech"] for r in records)
            out = sum(r["failures"]["output_on_no_speech"] for r in records)
            row.append(f"{out}/{clips}")
        rows.append(row)
    return Table(f"Clips without speech ({set_name}): clips with output", ["Language"] + [
        f"{method_label(m)} {p}" for m, p in columns], rows,
        ["Noise-only clips decoded as ASR in their language (references empty once normalised); a cell counts "
         "the clips on which the model wrote anything, over all seeds. The speech test set's scores do not "
         "include them."])


# ------------------------------------------------------------------------------------------------
# the plot
# ------------------------------------------------------------------------------------------------
def plot_trajectory(points: List[dict], path: Path, title: str) -> Optional[Path]:
    """Error, BLEU and output on clips without speech against the cumulated updates with gradient, one line
    per method (mean over seeds, bars: standard deviation); None when there is nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from part.scoring.results import mean_std

    points = [p for p in points if p["updates"] is not None]
    panels = [("error", "ASR error (%, lower is better)"), ("bleu", "S2TT BLEU (higher is better)")]
    if any(p["no_speech_output"] for p in points):
        panels.append(("no_speech_output", "output on clips without speech (%)"))
    if not any(p[key] for p in points for key, _ in panels):
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8))
    for ax, (key, label) in zip(axes, panels):
        for method in sorted({p["method"] for p in points}, key=method_order):
            mine = [p for p in points if p["method"] == method and [v for v in p[key] if v is not None]]
            if not mine:
                continue
            stats = [mean_std([v for v in p[key] if v is not None]) for p in mine]
            xs = [p["updates"] for p in mine]
            ax.errorbar(xs, [m for m, _ in stats], yerr=[s or 0.0 for _, s in stats], marker="o", capsize=3,
                        label=method_label(method))
            for x, (m, _), p in zip(xs, stats, mine):
                ax.annotate(p["phase"], (x, m), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xlabel("updates with gradient (cumulated)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------
# the section
# ------------------------------------------------------------------------------------------------
def phases_section(runs: Sequence[Run], report_path: Path, style: str = "markdown") -> str:
    """Every table above, per adapter and speech test set; with ``style="markdown"`` the plots are drawn
    into ``figures/`` next to ``report_path`` and linked."""
    out: List[str] = []
    groups = by_adapter(runs)
    for systems in groups:
        adapter = systems.adapter or "unknown adapter"
        heading = f"PART vs Baseline-2stage, adapter `{adapter}`" if len(groups) > 1 or systems.adapter else \
            "PART vs Baseline-2stage"
        out += [f"## {heading}", ""] if style == "markdown" else [f"=== {heading.replace('`', '')} ===", ""]
        no_speech = systems.sets(no_speech=True)
        tables: List[Table] = []
        figures: List[Tuple[str, Path]] = []
        for set_name in systems.sets():
            top = headline(systems, set_name)
            if top:
                effect = phase_effect(systems, set_name)
                if effect:
                    top.notes.append(effect)
                tables.append(top)
            table, points = trajectory(systems, set_name, no_speech[0] if no_speech else None)
            tables.append(table)
            if style == "markdown":
                name = f"phases_{systems.adapter or 'model'}_{set_name}.png"
                figure = report_path.resolve().parent / "figures" / name
                if plot_trajectory(points, figure, f"{adapter}: phase by phase on {set_name}"):
                    figures.append((table.title, figure))
                    table.notes.append(f"![{table.title}]({os.path.relpath(figure, report_path.resolve().parent)})")
        updates_t = updates_table(systems)
        if updates_t:
            tables.insert(1 if tables and tables[0].title.startswith("PART (") else 0, updates_t)
        for set_name in systems.sets():
            for task in ("asr", "s2tt"):
                table = failures_table(systems, set_name, task)
                if table:
                    tables.append(table)
        for set_name in no_speech:
            table = no_speech_table(systems, set_name)
            if table:
                tables.append(table)
        for table in tables:
            out += table.markdown() if style == "markdown" else table.text()
    return "\n".join(out).rstrip("\n") + ("\n" if out else "")
