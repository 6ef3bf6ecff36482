"""RESULTS.md: every ``scores.json`` below an experiment dir, as per-language tables, averages and a
side-by-side comparison of methods (``python -m part.bin.make_results``).

Where a run comes from is read from its decode dir's path relative to the experiment dir, e.g.::

    exp/part/phase3/decode_test_asr/          method part, phase phase3, set test, task asr
    exp/seed2/baseline/phase2/decode_dev_s2tt/ + seed seed2
    exp/part_seed3/phase3/decode_test_asr/     method part, seed seed3 (a recipe's --exp_tag _seed3)

A path component ``seed<N>`` (or a ``_seed<N>``/``-seed<N>`` suffix) is the seed; the component just
above the decode dir is the phase and the ones above it the method (with a single component above
the decode dir, it is the method and the phase is empty). ``decode_<set>_<task>`` gives set and
task. A ``decode_info.json`` in the decode dir may override any of ``method``, ``phase``, ``seed``,
``set``, ``task`` (part_inference writes ``set``). The adapter is the ``speech_adapter`` of the phase's
``config.yaml``; a method named ``<method>_<adapter>`` (``./run_all.sh --adapter``) is ``<method>``.

Averages are the paper's: the mean error rate over the languages of a run (WER and CER languages
alike), the mean BLEU (and chrF) over its directions. With several seeds of a method/phase, the
comparison table shows mean ± sample standard deviation over the seeds.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

TASK_NAMES = {"asr": "ASR", "s2tt": "speech translation (S2TT)", "mt": "text translation (MT)"}
_SEED_DIR = re.compile(r"^seed[_-]?\d+$", re.I)
_SEED_SUFFIX = re.compile(r"^(?P<base>.+?)[_-](?P<seed>seed[_-]?\d+)$", re.I)
_DECODE_DIR = re.compile(r"^decode_(?P<set>.+)_(?P<task>asr|s2tt|mt)$")
logger = logging.getLogger(__name__)


@dataclass
class Run:
    """The scores of one decode dir."""

    method: str
    phase: str
    seed: str
    set: str
    task: str
    path: Path
    records: List[dict] = field(default_factory=list)
    adapter: str = ""  # speech_adapter of the phase's config.yaml ("" when unknown)

    @property
    def system(self) -> str:
        """The column label of the comparison table: ``method/phase``."""
        return f"{self.method}/{self.phase}" if self.phase else self.method

    def by_group(self) -> Dict[str, dict]:
        return {group_name(r): r for r in self.records}

    @property
    def warnings(self) -> List[str]:
        """What stage 7's hypothesis check found wrong with this decode dir (``hyp_check.json``): mostly
        empty hypotheses, or one sentence for most inputs. Scores of such a run mean little."""
        from part.checks import read_hypothesis_check

        check = read_hypothesis_check(self.path) or {}
        return [str(w) for w in check.get("warnings") or []]


def group_name(record: dict) -> str:
    """``en`` for a language, ``en-de`` for a direction."""
    return record["src"] if record["task"] == "asr" else f"{record['src']}-{record['tgt']}"


def describe_decode_dir(exp_dir: Path, decode_dir: Path) -> Dict[str, str]:
    """method, phase, seed, set and task of a decode dir (module doc)."""
    parts = list(decode_dir.relative_to(exp_dir).parts)
    name = parts.pop() if parts else decode_dir.name
    seed = ""
    kept = []
    for part in parts:
        if _SEED_DIR.match(part):
            seed = part
            continue
        m = _SEED_SUFFIX.match(part)
        if m:
            seed, part = m.group("seed"), m.group("base")
        kept.append(part)
    if len(kept) >= 2:
        method, phase = "/".join(kept[:-1]), kept[-1]
    else:
        method, phase = (kept[0] if kept else exp_dir.name), ""
    m = _DECODE_DIR.match(name)
    info = {"method": method, "phase": phase, "seed": seed,
            "set": m.group("set") if m else name, "task": m.group("task") if m else ""}
    info_file = decode_dir / "decode_info.json"
    if info_file.is_file():
        try:
            extra = json.loads(info_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{info_file}: not valid JSON ({e})") from None
        for key in info:
            if isinstance(extra.get(key), (str, int)) and str(extra[key]):
                info[key] = str(extra[key])
    if not info["task"] and (decode_dir / "task").is_file():
        info["task"] = (decode_dir / "task").read_text(encoding="utf-8").strip()
    return info


def find_runs(exp_dir: Path) -> List[Run]:
    """Every decode dir with a ``scores.json`` below ``exp_dir``."""
    exp_dir = Path(exp_dir)
    runs = []
    for scores in sorted(exp_dir.rglob("scores.json")):
        try:
            records = json.loads(scores.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            logger.warning("%s: not valid JSON (%s); skipped", scores, e)
            continue
        if not isinstance(records, list) or not all(isinstance(r, dict) and {"task", "src", "tgt", "metric", "value"}
                                                    <= set(r) for r in records):
            logger.warning("%s: not a list of part_score records; skipped", scores)
            continue
        info = describe_decode_dir(exp_dir, scores.parent)
        if not info["task"] and records:
            info["task"] = records[0]["task"]
        adapter = phase_adapter(scores.parent.parent)
        if adapter and info["method"].endswith(f"_{adapter}"):  # exp/<method>_<adapter>_seed<N> (run_all.sh)
            info["method"] = info["method"][: -len(adapter) - 1]
        runs.append(Run(path=scores.parent, records=records, adapter=adapter, **info))
    return runs


@functools.lru_cache(maxsize=None)
def phase_adapter(phase_dir: Path) -> str:
    """The ``speech_adapter`` a trained phase was built with (its ``config.yaml``), or ""."""
    config = Path(phase_dir) / "config.yaml"
    if not config.is_file():
        return ""
    import yaml

    try:
        conf = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{config}: not valid YAML ({e})") from None
    return str(conf.get("speech_adapter") or "") if conf.get("model_type", "speech_llm") == "speech_llm" else ""


# ------------------------------------------------------------------------------------------------
# numbers
# ------------------------------------------------------------------------------------------------
def mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (None for a single value)."""
    m = sum(values) / len(values)
    if len(values) < 2:
        return m, None
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def fmt_mean_std(values: Sequence[Optional[float]], digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    m, s = mean_std(values)
    return f"{m:.{digits}f}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def run_average(run: Run, key: str = "value") -> Optional[float]:
    """The paper's average of a run: the mean of ``key`` over its languages/directions."""
    values = [r.get(key) for r in run.records]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:.1f}" if den else "–"


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "") -> List[str]:
    """Markdown table lines; ``align`` is one letter per column (l/r), right by default after the 1st."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = [":---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> List[str]:
    """Plain-text table lines with aligned columns (first column left, others right)."""
    rows = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join(r[c].ljust(widths[c]) if c == 0 else r[c].rjust(widths[c])
                             for c in range(len(header))).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def _failure_cells(record: dict) -> List[str]:
    failures = record.get("failures") or {}
    return [str(failures.get(k, "–")) for k in ("empty", "loop", "wrong_language")]


FAILURE_HEADER = ["Empty", "Loops", "Wrong lang."]


def detail_rows(run: Run) -> Tuple[List[str], List[List[str]]]:
    """Header and rows of a run's per-language (or per-direction) table, average row last; for clips
    without speech, how many got output."""
    if run.task == "asr" and not has_error_rate(run):
        rows = [[group_name(r), str(r["counts"]["Snt"]), str((r.get("failures") or {}).get("output_on_no_speech", "–"))]
                for r in sorted(run.records, key=group_name)]
        return ["Language", "Clips without speech", "With output"], rows
    if run.task == "asr":
        header = ["Language", "Metric", "Snt", "Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err", "Value"]
        rows = []
        for r in sorted(run.records, key=group_name):
            c = r["counts"]
            value = "–" if r["value"] is None else f"{r['value']:.2f}"
            rows.append([group_name(r), r["metric"], str(c["Snt"]), str(c["Wrd"])]
                        + [_pct(c[k], c["Wrd"]) for k in ("Corr", "Sub", "Del", "Ins", "Err")]
                        + [_pct(c["S.Err"], c["Snt"]), value] + _failure_cells(r))
        avg = run_average(run)
        rows.append(["**Average**", "mean", str(sum(r["counts"]["Snt"] for r in run.records)),
                     str(sum(r["counts"]["Wrd"] for r in run.records))] + [""] * 6
                    + ["–" if avg is None else f"**{avg:.2f}**"] + [""] * 3)
        return header + FAILURE_HEADER, rows
    header = ["Direction", "Snt", "BLEU", "chrF", "Tokenizer"]
    rows = [[group_name(r), str(r["counts"]["Snt"]), f"{r['bleu']:.2f}", f"{r['chrf']:.2f}", r.get("tokenize", "")]
            + _failure_cells(r) for r in sorted(run.records, key=group_name)]
    b, c = run_average(run, "bleu"), run_average(run, "chrf")
    rows.append(["**Average**", str(sum(r["counts"]["Snt"] for r in run.records)),
                 "–" if b is None else f"**{b:.2f}**", "–" if c is None else f"**{c:.2f}**", ""] + [""] * 3)
    return header + FAILURE_HEADER, rows


def comparison(runs: Sequence[Run], set_name: str, task: str, key: str = "value"
               ) -> Tuple[List[str], List[List[str]], int]:
    """Header, rows and the number of seeds (max) of the side-by-side table of one set and task:
    rows = languages/directions + average, columns = method/phase, cells = mean ± std over seeds of
    the record field ``key`` (``value``: WER/CER or BLEU; ``chrf`` for translation). ``runs`` should be
    of one adapter (the column labels do not name it)."""
    selected = [r for r in runs if r.set == set_name and r.task == task]
    systems = sorted({r.system for r in selected}, key=natural_key)
    groups = sorted({group_name(rec) for r in selected for rec in r.records})
    by_system: Dict[str, List[Run]] = {s: [r for r in selected if r.system == s] for s in systems}
    metric_of = {}
    for r in selected:
        for rec in r.records:
            metric_of[group_name(rec)] = rec["metric"] if key == "value" else "chrF"
    # "!": a run of this system failed stage 7's hypothesis check (the report's Warnings section says why)
    mark = {s: " !" if any(run.warnings for run in by_system[s]) else "" for s in systems}
    rows = []
    for g in groups:
        cells = [fmt_mean_std([run.by_group()[g].get(key) for run in by_system[s] if g in run.by_group()]) + mark[s]
                 for s in systems]
        rows.append([f"{g} ({metric_of[g]})"] + cells)
    label = "Average (error rate)" if task == "asr" else f"Average ({'BLEU' if key == 'value' else 'chrF'})"
    rows.append([f"**{label}**"] + [fmt_mean_std([run_average(run, key) for run in by_system[s]]) + mark[s]
                                    for s in systems])
    seeds = max((len(v) for v in by_system.values()), default=0)
    return ["Language" if task == "asr" else "Direction"] + systems, rows, seeds


WARNING_NOTE = ("! a decode dir of this system failed the hypothesis check of stage 7 (`hyp_check.json`: "
                "mostly empty hypotheses, or one sentence for most inputs); its scores mean little.")


def warnings_section(runs: Sequence[Run]) -> List[str]:
    """``## Warnings``: every decode dir whose hypotheses failed stage 7's check, with what was found."""
    flagged = [r for r in runs if r.warnings]
    if not flagged:
        return []
    out = ["## Warnings", "", "The model has not learnt the task in these decode dirs (marked `!` in the tables): "
           "check stage 3's warnings (prompts mapped to `<unk>`, an LLM that cannot copy), training's (a warm-up "
           "longer than the run) and the training curves in each phase's `images/`.", ""]
    for run in flagged:
        seed = f", {run.seed}" if run.seed else ""
        out.append(f"- {run.set} / {TASK_NAMES.get(run.task, run.task)}: {run.system}{seed} (`{run.path}`): "
                   + "; ".join(run.warnings))
    return out + [""]


def has_error_rate(run: Run) -> bool:
    """False for a run of clips without speech (no reference words: no error rate)."""
    return run.task != "asr" or any(r["counts"].get("Wrd") for r in run.records)


def comparison_table(exp_dir, style: str = "text", runs: Optional[Sequence[Run]] = None) -> str:
    """The side-by-side comparison of every set and task below ``exp_dir`` (or of ``runs``) as text
    (``style="text"``, for a terminal) or Markdown (``style="markdown"``), one block per adapter. Sets of
    clips without speech (no error rate) are left to the phase section. Returns "" when nothing was scored."""
    runs = [r for r in (find_runs(Path(exp_dir)) if runs is None else runs) if has_error_rate(r)]
    adapters = sorted({r.adapter for r in runs})
    out: List[str] = []
    for adapter in adapters:
        mine = [r for r in runs if r.adapter == adapter]
        for set_name, task in sorted({(r.set, r.task) for r in mine}):
            for key in ("value",) if task == "asr" else ("value", "chrf"):
                header, rows, seeds = comparison(mine, set_name, task, key)
                unit = "WER/CER %, lower is better" if task == "asr" else (
                    f"{'BLEU' if key == 'value' else 'chrF'}, higher is better")
                title = f"{set_name} / {TASK_NAMES.get(task, task)} ({unit}" + (
                    f"; mean ± std over up to {seeds} seeds)" if seeds > 1 else ")")
                if len(adapters) > 1 or adapter:
                    title = f"adapter {adapter or 'unknown'}: {title}"
                note = [WARNING_NOTE] if any(r.warnings for r in mine if r.set == set_name and r.task == task) else []
                if style == "markdown":
                    out += [f"### {title}", ""] + markdown_table(header, rows) + [""] + (note + [""] if note else [])
                else:
                    out += [title] + text_table(header, [[c.replace("**", "") for c in row] for row in rows])
                    out += [n.replace("`", "") for n in note] + [""]
    return "\n".join(out).rstrip("\n") + ("\n" if out else "")
