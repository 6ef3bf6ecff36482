"""How many training updates of a phase carried gradient: ``<phase dir>/grad_updates.json``.

A batch carries gradient when its loss reaches at least one trainable parameter. One that does not (a
text-only translation batch while only the speech side trains) still makes an optimizer step — ESPnet's
trainer steps after every batch, and the model keeps such a loss attached with ``0.0 * sum(p)`` — but the
step is driven by the optimizer's momentum alone. Comparing two methods "with the same number of
updates" means the same number of updates that carry gradient, so the trainer counts them.

:class:`~part.model.speech_llm.SpeechLLM` counts its training batches in ``model.update_counts``
(``batches``, ``with_gradient``); the trainer (:class:`part.tasks.trainer.PARTTrainer`) resets the
counts at each epoch start and writes them at its end::

    {"accum_grad": 1, "epochs": {"1": {"batches": 100, "with_gradient": 62}, ...}}

A resumed run re-runs the interrupted epoch and overwrites its entry. With ``accum_grad`` N, an update
is N batches; the recipe uses 1. ``python -m part.bin.make_results`` prints the totals per method and
phase.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional

FILE = "grad_updates.json"


def start_epoch(model) -> None:
    """Zero the model's batch counts (models without counts are left alone)."""
    counts = getattr(model, "update_counts", None)
    if counts is not None:
        counts.update(batches=0, with_gradient=0)


def finish_epoch(model, output_dir, epoch: int, accum_grad: int = 1) -> None:
    """Record the model's counts of ``epoch`` in ``output_dir/grad_updates.json``."""
    from part.fileio import atomic_write_text

    counts = getattr(model, "update_counts", None)
    if counts is None:
        return
    path = Path(output_dir) / FILE
    epochs = (read(path.parent) or {"epochs": {}})["epochs"]
    epochs[str(epoch)] = {"batches": int(counts["batches"]), "with_gradient": int(counts["with_gradient"])}
    record = {"accum_grad": accum_grad, "epochs": dict(sorted(epochs.items(), key=lambda kv: int(kv[0])))}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


def read(phase_dir) -> Optional[dict]:
    """The record of a phase dir, or None when it has none (a phase trained before counting existed)."""
    path = Path(phase_dir) / FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        epochs = record["epochs"]
        for entry in epochs.values():
            int(entry["batches"]), int(entry["with_gradient"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a grad_updates record ({exc}); delete it and re-run the phase "
                         "(or ignore its counts)") from None
    return record


def totals(phase_dir) -> Optional[Dict[str, int]]:
    """``{"batches": ..., "with_gradient": ..., "epochs": ...}`` summed over the epochs of a phase dir."""
    record = read(phase_dir)
    if record is None:
        return None
    epochs = record["epochs"].values()
    return {"batches": sum(int(e["batches"]) for e in epochs),
            "with_gradient": sum(int(e["with_gradient"]) for e in epochs), "epochs": len(record["epochs"])}
