"""Epoch-indexed schedules of trainable parameter groups and task mixes."""
from __future__ import annotations

import logging
import re
from typing import Collection, Dict, Iterable, List, Optional, Set

from torch import nn

GROUP_HELP = "adapter, encoder, encoder_last_<N>, encoder_ctc, llm_lora, llm"


def _piecewise(table: Optional[Dict], name: str) -> Dict[int, List[str]]:
    if not table:
        return {}
    out = {}
    for key, value in table.items():
        try:
            epoch = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"schedule_conf.{name}: keys are first epochs (integers), got '{key}'") from None
        if epoch < 1:
            raise ValueError(f"schedule_conf.{name}: epochs count from 1, got {epoch}")
        if isinstance(value, str):
            value = [value]
        out[epoch] = list(value)
    return dict(sorted(out.items()))


class ActivationSchedule:
    """Maps an epoch to the trainable parameter groups and the task categories in force."""

    def __init__(self, trainable: Optional[Dict] = None, tasks: Optional[Dict] = None):
        self.trainable = _piecewise(trainable, "trainable")
        self.tasks = _piecewise(tasks, "tasks")
        if self.trainable and 1 not in self.trainable:
            raise ValueError("schedule_conf.trainable must say what trains from epoch 1")
        if self.tasks and 1 not in self.tasks:
            raise ValueError("schedule_conf.tasks must say which tasks are used from epoch 1")

    @classmethod
    def from_conf(cls, conf: Optional[Dict]) -> "ActivationSchedule":
        conf = dict(conf or {})
        unknown = set(conf) - {"trainable", "tasks"}
        if unknown:
            raise ValueError(f"schedule_conf: unknown key(s) {sorted(unknown)}; expected 'trainable' and 'tasks'")
        return cls(conf.get("trainable"), conf.get("tasks"))

    @staticmethod
    def _at(table: Dict[int, List[str]], epoch: int) -> Optional[List[str]]:
        current = None
        for start, value in table.items():
            if start <= epoch:
                current = value
        return current

    def trainable_at(self, epoch: int) -> Optional[List[str]]:
        return self._at(self.trainable, epoch)

    def tasks_at(self, epoch: int) -> Optional[List[str]]:
        return self._at(self.tasks, epoch)

    def all_tasks(self) -> Set[str]:
        return {t for tasks in self.tasks.values() for t in tasks}

    def warn_unavailable_tasks(self, available: Collection[str], source: str) -> None:
        """A scheduled task without examples in the data would silently do nothing: say so, once per task."""
        for task in sorted(self.all_tasks() - set(available)):
            first = min(e for e, tasks in self.tasks.items() if task in tasks)
            logging.warning("schedule_conf.tasks schedules '%s' (from epoch %d) but %s has no '%s' examples: that "
                            "part of the schedule does nothing (remove it, or add the data: %s)", task, first, source,
                            task, "transcripts" if task == "asr" else "translations as text.<tgt>")


def resolve_group(model: nn.Module, group: str) -> Set[str]:
    """Names of the parameters of ``model`` in the named group."""
    names = {n for n, _ in model.named_parameters()}
    encoder = getattr(model, "encoder", None)
    if group == "adapter":
        found = {n for n in names if n.startswith("adapter.")}
    elif group == "encoder":
        found = {n for n in names if n.startswith("encoder.")}
    elif group == "encoder_ctc":
        found = {n for n in names if n.startswith("encoder.ctc_head.")}
    elif group == "llm":
        found = {n for n in names if n.startswith("llm.")}
    elif group == "llm_lora":
        found = {n for n in names if n.startswith("llm.") and "lora_" in n}
    elif re.fullmatch(r"encoder_last_\d+", group):
        if encoder is None:
            raise ValueError(f"parameter group '{group}': the model has no encoder")
        n_last = int(group.rsplit("_", 1)[1])
        blocks = encoder.blocks()
        if not 1 <= n_last <= len(blocks):
            raise ValueError(f"parameter group '{group}': the encoder has {len(blocks)} blocks")
        block_params = [{id(p) for p in b.parameters()} for b in blocks]
        frozen_ids = set().union(*block_params[: len(blocks) - n_last])
        # The last N blocks, plus whatever follows the blocks (final norm, CTC head).
        tail_ids = set().union(*block_params[len(blocks) - n_last:])
        tail_ids |= {id(p) for p in encoder.tail_parameters()}
        found = {f"encoder.{n}" for n, p in encoder.named_parameters() if id(p) in tail_ids and id(p) not in frozen_ids}
    else:
        raise ValueError(f"unknown parameter group '{group}'; known: {GROUP_HELP}")
    if not found:
        raise ValueError(f"parameter group '{group}' matches no parameter of this model (is LoRA configured?)")
    return found


def apply_trainable(model: nn.Module, groups: Iterable[str]) -> int:
    """Set ``requires_grad`` so that exactly the parameters of ``groups`` train; returns their count."""
    wanted: Set[str] = set()
    for group in groups:
        wanted |= resolve_group(model, group)
    count = 0
    for name, p in model.named_parameters():
        p.requires_grad = name in wanted
        count += p.numel() if p.requires_grad else 0
    return count


def trainable_signature(model: nn.Module) -> frozenset:
    return frozenset(n for n, p in model.named_parameters() if p.requires_grad)


def log_trainable(model: nn.Module, groups: Iterable[str], epoch: int) -> None:
    total = sum(p.numel() for p in model.parameters())
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logging.info("epoch %d: trainable groups %s -> %s of %s parameters (%.2f%%)", epoch, list(groups),
                 f"{count:,}", f"{total:,}", 100.0 * count / max(total, 1))
