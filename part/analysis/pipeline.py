"""Recipe stage 9: analyse every trained phase of a method dir and write the figures and summaries.

Per phase (``<method_dir>/phase{1,2,3}`` with ``config.yaml`` and a model file), under
``<out_dir>/<phase>/``:

- ``grad_similarity.{npy,json,png}``: gradient cosine similarity between (task, language) groups
  (:mod:`part.analysis.gradients`); the JSON holds the labels, the matrix and summary statistics;
- ``representation.{json,npz}``, ``adapter_pca.png``: alignment of the adapter's outputs with the
  LLM's text embeddings, a language-ID probe and a PCA projection (:mod:`part.analysis.representation`).

Then ``<out_dir>/summary.json``, ``<out_dir>/README.md`` (:mod:`part.analysis.report`), a per-phase chart
``phase_summary.png`` and, when the other method (PART vs Baseline-2stage) has been analysed too,
``grad_similarity_compare.png`` with both methods' matrices side by side.

A phase whose results were computed from the same model file (path, size, time) and options is not
recomputed (``redo=True`` forces it).
"""
from __future__ import annotations

import gc
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from part.analysis.data import Batcher, example_groups, sample_ids
from part.data.sources import ExampleSource
from part.fileio import atomic_write_text

PHASE_RE = re.compile(r"phase\d+$")


@dataclass
class AnalysisOptions:
    model_file: str = "valid.acc.ave.pth"
    max_examples_per_group: int = 16
    batch_size: int = 8
    max_utts_per_lang: int = 50
    sketch_dim: int = -1
    seed: int = 0


def method_display_name(method_dir: Path) -> str:
    """``part`` -> PART, ``baseline`` -> Baseline-2stage (an ``exp_tag`` suffix is kept)."""
    name = Path(method_dir).name
    if name.startswith("part"):
        return "PART" + name[len("part"):]
    if name.startswith("baseline"):
        return "Baseline-2stage" + name[len("baseline"):]
    return name


def sibling_method_dir(method_dir: Path) -> Optional[Path]:
    """The other method's dir next to ``method_dir`` (``exp/part<tag>`` <-> ``exp/baseline<tag>``)."""
    method_dir = Path(method_dir)
    name = method_dir.name
    if name.startswith("part"):
        other = "baseline" + name[len("part"):]
    elif name.startswith("baseline"):
        other = "part" + name[len("baseline"):]
    else:
        return None
    path = method_dir.parent / other
    return path if path.is_dir() else None


def discover_phases(method_dir: Path) -> List[str]:
    """Names of the phase dirs (``phaseN`` with a config.yaml), in order."""
    found = [p.name for p in Path(method_dir).iterdir() if p.is_dir() and PHASE_RE.fullmatch(p.name)
             and (p / "config.yaml").is_file()] if Path(method_dir).is_dir() else []
    return sorted(found, key=lambda s: int(s[len("phase"):]))


def _write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _meta(model_path: Path, data_dir: Path, opts: AnalysisOptions) -> dict:
    st = model_path.stat()
    return {"model": str(model_path.resolve()), "model_size": st.st_size, "model_mtime": st.st_mtime,
            "data_dir": str(Path(data_dir).resolve()), **asdict(opts)}


PHASE_FILES = ("grad_similarity.json", "grad_similarity.npy", "grad_similarity.png", "representation.json",
               "representation.npz", "adapter_pca.png")


def _phase_summary(grad: dict, rep: dict) -> dict:
    """The per-phase entry of summary.json (no matrices)."""
    align = rep.get("alignment") or {}
    probe = rep.get("probe") or {}
    return {
        "trainable": grad.get("trainable"),
        "trainable_parameters": grad.get("trainable_parameters"),
        "gradient_similarity": {"groups": grad["labels"], "zero_gradient_groups": grad["zero_gradient_groups"],
                                **grad["summary"]},
        "language_probe": {k: probe.get(k) for k in ("accuracy", "chance", "folds", "per_language", "note")
                           if k in probe},
        "alignment": {k: align.get(k) for k in ("precision", "coverage", "shuffled", "gain", "per_language")}
        if align else None,
        "pca_explained_variance": rep.get("pca_explained_variance"),
        "files": {"grad_similarity": "grad_similarity.png", "pca": "adapter_pca.png"},
    }


def analyse_phase(phase_dir: Path, out_dir: Path, task_dir: ExampleSource, opts: AnalysisOptions, device: str = "cpu",
                  progress: bool = True, redo: bool = False, title: str = "") -> dict:
    """Gradient similarity and representation analysis of one trained phase; returns its summary entry."""
    import torch

    from part.analysis import gradients as G
    from part.analysis import plots
    from part.analysis import representation as R
    from part.inference import load_model

    phase_dir, out_dir = Path(phase_dir), Path(out_dir)
    model_path = phase_dir / opts.model_file
    if not model_path.is_file():
        candidates = sorted(p.name for p in phase_dir.glob("*.pth"))
        raise FileNotFoundError(f"{model_path} not found (model files there: {candidates}); "
                                "choose one with --model_file")
    meta = _meta(model_path, task_dir.path, opts)
    grad_json, rep_json = out_dir / "grad_similarity.json", out_dir / "representation.json"
    old_grad, old_rep = _read_json(grad_json), _read_json(rep_json)
    if (not redo and old_grad and old_rep and old_grad.get("meta") == meta and old_rep.get("meta") == meta
            and all((out_dir / f).is_file() for f in PHASE_FILES)):
        logging.info("%s: analysis is up to date in %s; skipping", phase_dir, out_dir)
        return _phase_summary(old_grad, old_rep)

    logging.info("%s: loading %s", phase_dir, model_path.name)
    model, tokenizer, config = load_model(str(phase_dir), opts.model_file, device)
    try:
        trainable = G.set_phase_trainable(model, config)
        num_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        logging.info("%s: gradients w.r.t. %s (%s parameters)", phase_dir.name, trainable or "the parameters as built",
                     f"{num_trainable:,}")
        batcher = Batcher(task_dir, tokenizer)
        groups = {label: sample_ids(ids, opts.max_examples_per_group, opts.seed)
                  for label, ids in example_groups(task_dir).items()}
        res = G.group_gradients(model, batcher, groups, opts.batch_size, device, opts.sketch_dim, opts.seed, progress)
        matrix = G.cosine_matrix(res.vectors) if res.labels else np.zeros((0, 0))
        grad = {
            "meta": meta, "phase": phase_dir.name, "trainable": trainable, "trainable_parameters": num_trainable,
            "labels": res.labels, "matrix": matrix.tolist(), "zero_gradient_groups": res.zero_gradient_groups,
            "examples": res.examples, "batches": res.batches, "mean_loss": res.losses,
            "sketch_dim": res.sketch_dim, "summary": G.similarity_summary(res.labels, matrix),
        }
        del res
        out_dir.mkdir(parents=True, exist_ok=True)
        np.save(out_dir / "grad_similarity.npy", matrix)
        _write_json(grad_json, grad)
        plots.plot_similarity(matrix, grad["labels"], out_dir / "grad_similarity.png",
                              f"{title or phase_dir.name}: gradient cosine similarity\n"
                              f"trainable: {', '.join(trainable or ['as built'])}", grad["zero_gradient_groups"])

        rep, arrays = R.analyse_representations(model, tokenizer, task_dir, batcher, opts.max_utts_per_lang,
                                                opts.batch_size, device, opts.seed, progress)
        rep = {"meta": meta, "phase": phase_dir.name, **rep}
        np.savez(out_dir / "representation.npz", **arrays)
        _write_json(rep_json, rep)
        probe = rep["probe"]
        acc = "n/a" if probe.get("accuracy") is None else f"{100 * probe['accuracy']:.0f}%"
        plots.plot_pca(arrays["pca"], arrays["languages"].tolist(), out_dir / "adapter_pca.png",
                       f"{title or phase_dir.name}: pooled adapter outputs (PCA)\nlanguage-ID probe accuracy {acc}",
                       rep["pca_explained_variance"])
    finally:
        del model
        gc.collect()
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return _phase_summary(grad, rep)


def analyse_method(method_dir: Path, task_dir: ExampleSource, out_dir: Path, phases: Optional[Sequence[str]],
                   opts: AnalysisOptions, device: str = "cpu", progress: bool = True, redo: bool = False) -> dict:
    """Analyse the phases of one method; returns ``{"method", "method_dir", "phases": {...}}``."""
    method_dir, out_dir = Path(method_dir), Path(out_dir)
    available = discover_phases(method_dir)
    if phases:
        missing = [s for s in phases if s not in available]
        if missing:
            raise FileNotFoundError(f"{method_dir}: no trained phase dir (with config.yaml) for {missing}; "
                                    f"found {available or 'none'}")
    else:
        phases = available
    if not phases:
        raise FileNotFoundError(f"{method_dir}: no phase dir (phaseN/config.yaml): run recipe stages 4-6 first")
    name = method_display_name(method_dir)
    result = {"method": name, "method_dir": str(method_dir), "data_dir": str(task_dir.path), "options": asdict(opts),
              "phases": {}, "skipped_phases": {}}
    for phase in phases:
        try:
            result["phases"][phase] = analyse_phase(method_dir / phase, out_dir / phase, task_dir, opts, device,
                                                    progress, redo, title=f"{name} {phase}")
        except FileNotFoundError as exc:  # e.g. a phase whose training has not finished
            logging.warning("%s: skipped (%s)", phase, exc)
            result["skipped_phases"][phase] = str(exc)
    if not result["phases"]:
        raise FileNotFoundError(f"{method_dir}: no phase could be analysed: {result['skipped_phases']}")
    return result


def load_grad_panels(analysis_dir: Path) -> Dict[str, Tuple[List[str], np.ndarray]]:
    """Phase -> (labels, matrix) of an already analysed method (its ``analysis/<phase>/grad_similarity.json``)."""
    panels = {}
    analysis_dir = Path(analysis_dir)
    if not analysis_dir.is_dir():
        return panels
    for phase_dir in sorted(analysis_dir.iterdir()):
        data = _read_json(phase_dir / "grad_similarity.json") if phase_dir.is_dir() else None
        if data and PHASE_RE.fullmatch(phase_dir.name):
            panels[phase_dir.name] = (data["labels"], np.asarray(data["matrix"], dtype=float).reshape(
                len(data["labels"]), len(data["labels"])))
    return panels


def load_method_summary(analysis_dir: Path) -> Optional[dict]:
    """The ``summary.json`` of an already analysed method, or None."""
    data = _read_json(Path(analysis_dir) / "summary.json")
    return data if data and "phases" in data else None


def phase_sort_key(phase: str) -> int:
    return int(phase[len("phase"):]) if PHASE_RE.fullmatch(phase) else 10 ** 6
