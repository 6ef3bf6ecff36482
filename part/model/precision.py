"""Mixed precision where it is safe: bfloat16 autocast on devices that compute it natively.

Training gets it from ESPnet's ``use_amp`` (``torch.cuda.amp.autocast`` in bf16 on GPUs that support
it; the trainable weights, their gradients and the optimizer states stay float32, and a frozen LLM may be
held in bf16 with ``llm_conf.dtype``). Decoding uses :func:`autocast`::

    with autocast(device):                 # bf16 on a bf16-capable GPU, nothing on a CPU
        hyps = model.generate(**batch)
    with autocast("cpu", enabled=True):    # forced on the CPU (tests, comparisons)
        ...
"""
from __future__ import annotations

import contextlib
from typing import ContextManager, Optional, Union

import torch


def bf16_supported(device: Union[str, torch.device]) -> bool:
    """Whether ``device`` runs bfloat16 matrix products natively (CUDA GPUs from Ampere on)."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def autocast(device: Union[str, torch.device], enabled: Optional[bool] = None,
             dtype: torch.dtype = torch.bfloat16) -> ContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``.

    ``enabled=None`` (the default) turns it on where bf16 is native (:func:`bf16_supported`) and leaves
    CPUs in float32 (CPU bf16 matrix products are emulated on most CPUs: slower, not faster);
    ``enabled=True`` forces it on any device.
    """
    device = torch.device(device)
    if enabled is None:
        enabled = bf16_supported(device)
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
