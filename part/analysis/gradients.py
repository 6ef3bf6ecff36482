"""Gradient cosine similarity between languages and tasks, per training phase (the paper's analysis).

Definition
----------
For a trained phase, ``θ`` is the phase's *trainable* parameters: the groups of the **last** entry of
``schedule_conf.trainable`` in the phase's ``config.yaml`` (what trained at the end of the phase), set
with :func:`part.schedule.apply_trainable`. For each group ``g = (task, src, tgt)`` of a task dir
(``asr:de``, ``s2tt:de-en``, ``mt:de-en``) take up to ``max_examples`` of its examples (a seeded subset,
the same for every phase and method), cut them into batches of ``batch_size`` and average the gradient
of the training loss (next-token NLL, mean over the batch's target tokens — exactly
``SpeechLLM.forward``) over those batches::

    ḡ_g = 1/B Σ_b ∇_θ L_b

The model is in eval mode (no dropout), so the result is deterministic. The matrix entry ``(g, h)`` is
``cos(ḡ_g, ḡ_h)`` of the flattened vectors: symmetric, 1 on the diagonal, in [-1, 1].

A group whose loss does not depend on ``θ`` — text-only MT while only the adapter and encoder train —
has a zero gradient and no defined cosine: it is left out of the matrix and listed in
``zero_gradient_groups``.

Summary statistics over the off-diagonal pairs: a pair is *within-language* when both groups have the
same source (speech or text input) language, *cross-language* otherwise; *within-task* when both are
the same task. ``same_task_cross_language`` (e.g. ``asr:de`` vs ``asr:en``) isolates interference
between languages.

Large models: exact gradient vectors need ``groups x |θ|`` floats. Beyond a memory budget they are
compressed with a count sketch (every coordinate added, with a seeded random sign, into one of ``K``
buckets); inner products, hence cosines, are preserved in expectation with an error of order
``1/sqrt(K)``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import combinations
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from part.analysis.data import Batcher, parse_label

AUTO_SKETCH_DIM = 2 ** 20
EXACT_BUDGET_BYTES = 2 * 2 ** 30


def final_trainable_groups(config: dict) -> Optional[List[str]]:
    """Parameter groups of the last ``schedule_conf.trainable`` entry; None without a schedule."""
    from part.schedule.schedule import ActivationSchedule

    schedule = ActivationSchedule.from_conf(config.get("schedule_conf"))
    if not schedule.trainable:
        return None
    return list(schedule.trainable[max(schedule.trainable)])


def set_phase_trainable(model: torch.nn.Module, config: dict) -> Optional[List[str]]:
    """Make exactly the phase's final trainable groups require gradients; returns the groups.

    Without a schedule the model keeps ``requires_grad`` as built (what ESPnet would train).
    """
    from part.schedule.schedule import apply_trainable

    groups = final_trainable_groups(config)
    if groups is not None:
        apply_trainable(model, groups)
    return groups


def choose_sketch_dim(num_params: int, num_groups: int, requested: int = -1,
                      budget_bytes: int = EXACT_BUDGET_BYTES) -> int:
    """0 (exact vectors) or the count-sketch size. ``requested`` -1: automatic, 0: exact, K > 0: sketch K."""
    if requested >= 0:
        return 0 if requested >= num_params else requested
    if num_params * num_groups * 4 <= budget_bytes or num_params <= AUTO_SKETCH_DIM:
        return 0
    return AUTO_SKETCH_DIM


class GradientFlattener:
    """The current ``.grad`` of the trainable parameters as one vector (exact or count-sketched)."""

    def __init__(self, model: torch.nn.Module, sketch_dim: int = 0, seed: int = 0):
        self.params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not self.params:
            raise ValueError("the model has no trainable parameter: nothing to take gradients of")
        self.num_params = sum(p.numel() for _, p in self.params)
        self.sketch_dim = sketch_dim
        self.seed = seed
        self.dim = sketch_dim or self.num_params

    @torch.no_grad()
    def __call__(self) -> torch.Tensor:
        device = self.params[0][1].device
        if not self.sketch_dim:
            return torch.cat([(p.grad.reshape(-1).float() if p.grad is not None
                               else torch.zeros(p.numel(), device=p.device)).to(device) for _, p in self.params])
        out = torch.zeros(self.sketch_dim, device=device)
        for index, (_, p) in enumerate(self.params):
            if p.grad is None:
                continue
            gen = torch.Generator(device=p.device)
            gen.manual_seed(self.seed * 1_000_003 + index)
            bucket = torch.randint(0, self.sketch_dim, (p.numel(),), generator=gen, device=p.device)
            sign = torch.randint(0, 2, (p.numel(),), generator=gen, device=p.device).float() * 2 - 1
            out.index_add_(0, bucket.to(device), (p.grad.reshape(-1).float() * sign).to(device))
        return out


@dataclass
class GroupGradients:
    labels: List[str]  # groups with a non-zero gradient, in matrix order
    vectors: torch.Tensor  # (len(labels), dim) float32 on CPU
    zero_gradient_groups: List[str] = field(default_factory=list)
    examples: Dict[str, int] = field(default_factory=dict)
    batches: Dict[str, int] = field(default_factory=dict)
    losses: Dict[str, float] = field(default_factory=dict)
    num_params: int = 0
    sketch_dim: int = 0


def group_gradients(model: torch.nn.Module, batcher: Batcher, groups: Dict[str, Sequence[str]], batch_size: int,
                    device: str = "cpu", sketch_dim: int = -1, seed: int = 0, progress: bool = True) -> GroupGradients:
    """The mean loss gradient w.r.t. the trainable parameters of each group of examples."""
    from tqdm import tqdm

    probe = GradientFlattener(model)
    sketch = choose_sketch_dim(probe.num_params, len(groups), sketch_dim)
    flatten = GradientFlattener(model, sketch, seed)
    if sketch:
        logging.info("gradients of %s parameters count-sketched to %d dimensions", f"{flatten.num_params:,}", sketch)
    was_training = model.training
    model.eval()
    result = GroupGradients([], torch.zeros(0), num_params=flatten.num_params, sketch_dim=sketch)
    rows = []
    total = sum((len(ids) + batch_size - 1) // batch_size for ids in groups.values())
    try:
        with tqdm(total=total, desc="gradients", unit="batch", disable=not progress) as bar:
            for label, ids in groups.items():
                bar.set_postfix_str(label)
                acc, n_batches, loss_sum = None, 0, 0.0
                for _, batch in batcher.batches(ids, batch_size, device):
                    model.zero_grad(set_to_none=True)
                    loss, _, _ = model(**batch)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"group {label}: the loss is {float(loss)} (a diverged model?)")
                    if loss.requires_grad:
                        loss.backward()
                        vec = flatten()
                        acc = vec if acc is None else acc + vec
                    n_batches += 1
                    loss_sum += float(loss.detach())
                    bar.update(1)
                result.examples[label] = len(ids)
                result.batches[label] = n_batches
                result.losses[label] = loss_sum / max(n_batches, 1)
                if acc is None or not bool(torch.any(acc != 0)):
                    result.zero_gradient_groups.append(label)
                    continue
                result.labels.append(label)
                rows.append((acc / n_batches).cpu())
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if result.zero_gradient_groups:
        logging.info("no gradient w.r.t. the trainable parameters (left out of the matrix): %s",
                     ", ".join(result.zero_gradient_groups))
    result.vectors = torch.stack(rows) if rows else torch.zeros(0, flatten.dim)
    return result


def cosine_matrix(vectors: torch.Tensor, chunk: int = 2 ** 22) -> np.ndarray:
    """Pairwise cosine similarity of the rows: symmetric, exactly 1 on the diagonal, clipped to [-1, 1]."""
    n = vectors.size(0)
    gram = torch.zeros(n, n, dtype=torch.float64)
    for start in range(0, max(vectors.size(1), 1), chunk):  # float64 accumulation without a float64 copy
        part = vectors[:, start:start + chunk].double()
        gram += part @ part.T
    norms = gram.diagonal().clamp(min=0).sqrt()
    if bool((norms == 0).any()):
        raise ValueError("a zero gradient vector has no cosine similarity")
    sim = (gram / norms[:, None] / norms[None, :]).numpy()
    sim = np.clip((sim + sim.T) / 2, -1.0, 1.0)
    np.fill_diagonal(sim, 1.0)
    return sim


def _mean(values: List[float]) -> Optional[float]:
    return float(np.mean(values)) if values else None


def similarity_summary(labels: Sequence[str], matrix: np.ndarray) -> Dict:
    """Mean off-diagonal similarity within/across languages and tasks (definitions in the module doc)."""
    cats: Dict[str, List[float]] = {k: [] for k in ("within_language", "cross_language", "within_task",
                                                    "cross_task", "same_task_cross_language")}
    task_pairs: Dict[str, List[float]] = {}
    parsed = [parse_label(label) for label in labels]
    for i, j in combinations(range(len(labels)), 2):
        (ti, si, _), (tj, sj, _) = parsed[i], parsed[j]
        value = float(matrix[i, j])
        cats["within_language" if si == sj else "cross_language"].append(value)
        cats["within_task" if ti == tj else "cross_task"].append(value)
        if ti == tj and si != sj:
            cats["same_task_cross_language"].append(value)
        task_pairs.setdefault("|".join(sorted((ti, tj))), []).append(value)
    out: Dict = {k: _mean(v) for k, v in cats.items()}
    out["num_pairs"] = {k: len(v) for k, v in cats.items()}
    out["task_pairs"] = {k: _mean(v) for k, v in sorted(task_pairs.items())}
    return out
