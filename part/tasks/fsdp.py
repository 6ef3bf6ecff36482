"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for PARTTrainer: what DDP's full replica cannot hold.

With ``--sharded_engine fsdp2`` every process keeps 1/N of each parameter, gradient and optimizer state
(N processes): the LLM's decoder layers, the encoder's blocks and the adapter are each one FSDP unit
(gathered for their forward and backward, freed after), the rest (embeddings, LM head, the encoder's
front end and final norm) forms the root unit. Use it when a replica of the model with its trainable
states does not fit one device: the LLM fine-tuned beyond LoRA, a 7B+ LLM with long prompts. DDP is
faster when the replica fits (one all-reduce, no gathering of weights).

What it takes to make FSDP2 work with ESPnet's trainer and the PART schedule:

- **The optimizer** is built by ESPnet over the parameters before the trainer runs; sharding replaces
  every parameter by a sharded ``DTensor`` parameter, so :func:`shard_model` points the optimizer's
  parameter groups at the new parameters (same order: the optimizer state keeps its indices).
- **The trainable set changes between epochs** (the schedule sets ``requires_grad``). FSDP2 shards each
  parameter on its own, so frozen and trainable parameters may share a unit (a frozen bf16 decoder layer
  with float32 LoRA weights): only parameters with gradients are reduce-scattered, and the unsharded
  parameter takes ``requires_grad`` from the sharded one at every gathering. ``requires_grad`` must be set
  on the sharded parameters: :func:`reshard` before the schedule is applied (after a forward without
  backward, as in validation, the root unit is left gathered).
- **Checkpoints hold full tensors**, as a single process writes them, so ``checkpoint.pth``,
  ``<N>epoch.pth`` and ``valid.acc.ave.pth`` load in one process (decoding, the next phase) and a run can
  resume with another number of processes. Gathering is a collective, but ESPnet writes checkpoints on
  rank 0 alone: every rank gathers after validation (:meth:`FullStateHooks.gather`, called by the trainer),
  and rank 0's ``model.state_dict()``/``optimizer.state_dict()`` (ESPnet's save) return the gathered
  tensors through state-dict hooks. Resuming scatters a full checkpoint back into shards
  (:func:`shard_checkpoint`).
- **Buffers** (batch-norm statistics, CMVN) are not sharded and, unlike DDP, not broadcast: batch-norm
  running statistics are per process, and rank 0's are saved.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn


def _dtensor_type():
    from torch.distributed.tensor import DTensor

    return DTensor


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def fsdp_units(model: nn.Module) -> List[nn.Module]:
    """The modules that become FSDP units below the root: encoder blocks, the adapter, LLM decoder layers.

    The LLM's layers are the modules of the classes it names in ``_no_split_modules`` (Hugging Face's
    list of what must stay whole: ``Qwen2DecoderLayer``, ``LlamaDecoderLayer``, ...).
    """
    units: List[nn.Module] = []
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        units += list(encoder.blocks())
    adapter = getattr(model, "adapter", None)
    if adapter is not None and any(True for _ in adapter.parameters()):
        units.append(adapter)
    llm = getattr(model, "llm", None)
    if llm is not None:
        base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
        layer_classes = set(getattr(base, "_no_split_modules", None) or [])
        if not layer_classes:
            raise ValueError(f"{type(base).__name__} names no decoder-layer class (_no_split_modules): FSDP2 "
                             "cannot tell its layers; use DDP (--sharded_engine none)")
        units += [m for m in llm.modules() if type(m).__name__ in layer_classes]
    return units


def shard_model(model: nn.Module, optimizers: Sequence[torch.optim.Optimizer], device_type: str) -> None:
    """``fully_shard`` the units and the root over all processes; re-point the optimizers' parameters."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    if any(opt.state for opt in optimizers):
        raise RuntimeError("shard_model: the optimizer already has state; shard before the first step or resume")
    names = {id(p): n for n, p in model.named_parameters()}
    mesh = init_device_mesh(device_type, (dist.get_world_size(),))
    units = fsdp_units(model)
    for unit in units:
        fully_shard(unit, mesh=mesh)
    fully_shard(model, mesh=mesh)
    sharded = dict(model.named_parameters())
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["params"] = [sharded[names[id(p)]] for p in group["params"]]
    logging.info("FSDP2: %d units + root over %d processes; each holds 1/%d of %s parameters", len(units),
                 dist.get_world_size(), dist.get_world_size(), f"{sum(p.numel() for p in sharded.values()):,}")


def reshard(model: nn.Module) -> None:
    """Free every gathered unit, so that the module parameters are the sharded ones again."""
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def _full(value):
    """A full (unsharded) CPU copy of a DTensor (a collective: every rank must call it), else the value."""
    return value.full_tensor().cpu() if isinstance(value, _dtensor_type()) else value


def _like(full: torch.Tensor, reference) -> torch.Tensor:
    """``full`` sharded as ``reference`` (a DTensor) is, from this rank's own copy (no communication)."""
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full.to(device=reference.device, dtype=reference.dtype), reference.device_mesh,
                             reference.placements, src_data_rank=None)


class FullStateHooks:
    """Makes rank 0's ``state_dict()`` of a sharded model and its optimizers return full tensors.

    :meth:`gather` (every rank, after validation) gathers them; until the next training epoch clears them
    (:meth:`clear`), rank 0's ``model.state_dict()`` and ``optimizer.state_dict()`` hand them out in place
    of the shards. A ``state_dict()`` of a sharded model with nothing gathered fails: it would save 1/N of
    the model.
    """

    def __init__(self, model: nn.Module, optimizers: Sequence[torch.optim.Optimizer]):
        self.model = model
        self.optimizers = list(optimizers)
        self.model_state: Optional[Dict[str, torch.Tensor]] = None
        self.optimizer_states: Optional[List[Dict[int, Dict[str, torch.Tensor]]]] = None
        self._gathering = False

        def model_hook(module, state_dict, prefix, local_metadata):  # torch tags the hook: a function, not a method
            self._model_hook(state_dict, prefix)

        model.register_state_dict_post_hook(model_hook)
        for index, optimizer in enumerate(self.optimizers):
            optimizer.register_state_dict_post_hook(self._optimizer_hook(index))

    def clear(self) -> None:
        self.model_state = self.optimizer_states = None

    def gather(self, keep: bool) -> None:
        """Gather the full model and optimizer states (a collective); ``keep`` them on this rank or not."""
        self._gathering = True
        try:
            model_state = {k: _full(v) for k, v in self.model.state_dict().items()}
            optimizer_states = [{index: {name: _full(value) for name, value in per_param.items()}
                                 for index, per_param in optimizer.state_dict()["state"].items()}
                                for optimizer in self.optimizers]
        finally:
            self._gathering = False
        self.model_state = model_state if keep else {}
        self.optimizer_states = optimizer_states if keep else [{} for _ in self.optimizers]

    def _model_hook(self, state_dict, prefix):
        if self._gathering:
            return
        DTensor = _dtensor_type()
        sharded = [k for k, v in state_dict.items() if isinstance(v, DTensor)]
        if sharded and self.model_state is None:
            raise RuntimeError("state_dict() of an FSDP2-sharded model outside a checkpoint: every rank must call "
                               "FullStateHooks.gather() first (PARTTrainer does after each validation)")
        for key in sharded:
            if key[len(prefix):] in self.model_state:
                state_dict[key] = self.model_state[key[len(prefix):]]

    def _optimizer_hook(self, index: int):
        def hook(optimizer, state_dict):
            if self._gathering:
                return state_dict
            DTensor = _dtensor_type()
            states = state_dict["state"]
            if any(isinstance(v, DTensor) for s in states.values() for v in s.values()):
                if self.optimizer_states is None:
                    raise RuntimeError("state_dict() of the optimizer of an FSDP2-sharded model outside a "
                                       "checkpoint: call FullStateHooks.gather() on every rank first")
                gathered = self.optimizer_states[index]
                state_dict["state"] = {i: {name: gathered[i][name] if isinstance(v, DTensor) else v
                                           for name, v in s.items()} for i, s in states.items()}
            return state_dict

        return hook


def shard_checkpoint(model: nn.Module, optimizers: Sequence[torch.optim.Optimizer], states: dict) -> dict:
    """A checkpoint of full tensors (as a single process or :class:`FullStateHooks` wrote it), with every
    tensor of a sharded parameter (and its optimizer state) cut to this rank's shard."""
    DTensor = _dtensor_type()
    current = {**dict(model.named_parameters()), **dict(model.named_buffers())}  # the state-dict keys
    out = dict(states)
    out["model"] = {k: _like(v, current[k]) if isinstance(current.get(k), DTensor) else v
                    for k, v in states["model"].items()}
    optimizer_states = []
    for optimizer, saved in zip(optimizers, states["optimizers"]):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        saved = dict(saved)
        per_param = {}
        for index, entry in saved["state"].items():
            param = params[int(index)]
            per_param[index] = {
                name: _like(value, param) if isinstance(param, DTensor) and torch.is_tensor(value)
                and tuple(value.shape) == tuple(param.shape) else value
                for name, value in entry.items()}
        saved["state"] = per_param
        optimizer_states.append(saved)
    out["optimizers"] = optimizer_states
    return out
