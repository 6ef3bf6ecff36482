"""ESPnet's Trainer with the PART hooks: the activation schedule, safe checkpoints, and DDP that follows
the schedule.

Everything else — the epoch loop, n-best averaging, logging, the distributed launcher — is ESPnet's own.

1. **Schedule.** At each epoch start the parameter-activation schedule (``--schedule_conf``) sets which
   parameters train. The epoch comes from ESPnet's reporter, so a resumed run continues at the right
   position of the schedule.
2. **Checkpoints are written atomically.** ESPnet writes ``checkpoint.pth``, ``<N>epoch.pth`` and the
   averaged models with a plain ``torch.save``; a kill or a full disk in the middle of that write would
   leave a truncated file behind. Inside :meth:`PARTTrainer.run` the ``torch`` name of ESPnet's trainer
   and averaging modules (only those two modules, only during the run) is a thin proxy of ``torch`` whose
   ``save`` writes a hidden temporary file in the same directory, flushes it to disk and renames it over
   the target (``os.replace``). Before ``checkpoint.pth`` is replaced, the current one is kept as
   ``checkpoint.prev.pth`` (a hard link, or a copy where links do not work). A full disk fails with
   :class:`DiskFullError` naming the file and the directory, and removes the partial temporary file.
3. **Resume** (``--resume true``) loads ``checkpoint.pth``: model, optimizers, schedulers, the AMP scaler
   and the reporter (hence the epoch). An unreadable ``checkpoint.pth`` falls back to
   ``checkpoint.prev.pth`` with a warning, or fails with :class:`CheckpointError` naming the file and
   what to do. The random state needs no saving: ESPnet re-seeds every generator with ``seed + epoch``
   at each epoch start, and a resumed run restarts the interrupted epoch from its beginning.
4. **DDP follows the schedule.** ``DistributedDataParallel`` only reduces the gradients of the parameters
   that required grad when it was built. When the schedule changes the trainable set inside a
   distributed run (or a resumed run starts at an epoch whose set differs from epoch 1's), the DDP wrapper
   is rebuilt around the model for the new set. After every epoch the replicas are compared (a checksum
   of the parameters, all-reduced): diverged replicas stop the run instead of silently training on.
5. **FSDP2** (``--sharded_engine fsdp2``): instead of DDP's full replicas, every process holds a shard of
   each parameter, gradient and optimizer state (:mod:`part.tasks.fsdp`), with the same epoch loop and the
   same checkpoints (full tensors, loadable by a single process).
6. **Updates that carry gradient** are counted per epoch into ``grad_updates.json``
   (:mod:`part.tasks.update_counts`).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import logging
import os
import re
import shutil
import types
from pathlib import Path
from typing import Dict, Optional, Sequence

import torch
import torch.distributed
from espnet2.train.trainer import Trainer, TrainerOptions

from part.fileio import fsync_dir
from part.schedule.schedule import ActivationSchedule, apply_trainable, log_trainable, trainable_signature
from part.tasks import fsdp
from part.tasks import update_counts

CHECKPOINT = "checkpoint.pth"
PREVIOUS_CHECKPOINT = "checkpoint.prev.pth"
TMP_SUFFIX = ".tmp"
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_open = open  # the file opener of atomic_save (tests replace it to simulate a full disk)


class DiskFullError(OSError):
    """No space left while writing a file; the message names the file and the directory."""


class CheckpointError(RuntimeError):
    """A checkpoint or model file that cannot be read; the message names the file and what to do."""


def is_disk_full(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_message(path: Path, what: str = "") -> str:
    where = Path(path).resolve().parent
    try:
        free = shutil.disk_usage(where).free
        free_text = f"{free / 2 ** 20:.1f} MiB free"
    except OSError:
        free_text = "free space unknown"
    return (f"disk full: no space left on the device holding '{where}' ({free_text}) while writing "
            f"'{path}'{what}. The partial file was removed. Free some space (or move the experiment dir) "
            "and re-run the same command: a training phase resumes from its last complete checkpoint.")


def _keep_previous(path: Path) -> None:
    """Make ``checkpoint.prev.pth`` the current ``checkpoint.pth`` without ever leaving it absent."""
    prev = path.with_name(PREVIOUS_CHECKPOINT)
    tmp = path.with_name(f".{PREVIOUS_CHECKPOINT}.{os.getpid()}{TMP_SUFFIX}")
    try:
        os.link(path, tmp)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise
        shutil.copy2(path, tmp)  # a file system without hard links
    os.replace(tmp, prev)


def atomic_save(obj, f, *args, **kwargs) -> None:
    """``torch.save`` that never leaves a partial ``f``: temporary file, fsync, ``os.replace``.

    Replacing ``checkpoint.pth`` keeps the previous one as ``checkpoint.prev.pth``. File objects (not
    paths) are passed to ``torch.save`` unchanged.
    """
    if not isinstance(f, (str, os.PathLike)):
        return torch.save(obj, f, *args, **kwargs)
    path = Path(f)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    try:
        # A file object, not a path: torch's own writer reports a failed write as an opaque
        # "unexpected pos" RuntimeError, Python's file object as OSError(ENOSPC).
        with _open(tmp, "wb") as out:
            torch.save(obj, out, *args, **kwargs)
            out.flush()
            os.fsync(out.fileno())
        if path.name == CHECKPOINT and path.is_file():
            _keep_previous(path)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if is_disk_full(exc):
            kept = f" ('{path}' still holds the previous version)" if path.is_file() else ""
            raise DiskFullError(errno.ENOSPC, disk_full_message(path, kept), str(path)) from exc
        raise


def remove_stale_tmp_files(directory: Path) -> None:
    """Temporary files of an atomic save that was killed half-way."""
    for tmp in Path(directory).glob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            logging.info("removing %s, left by an interrupted checkpoint write", tmp)
            with contextlib.suppress(OSError):
                tmp.unlink()


class _ModuleProxy(types.ModuleType):
    """A module whose attributes are those of ``real``, except ``overrides`` (dotted names reach into its
    submodules: ``{"nn.parallel.DistributedDataParallel": f}``)."""

    def __init__(self, real: types.ModuleType, overrides: Dict[str, object]):
        super().__init__(real.__name__, real.__doc__)
        self._real = real
        self._overrides = overrides

    def __getattr__(self, name):
        if name in self._overrides:
            return self._overrides[name]
        value = getattr(self._real, name)
        nested = {k.split(".", 1)[1]: v for k, v in self._overrides.items() if k.startswith(name + ".")}
        return _ModuleProxy(value, nested) if nested else value


def _not_wrapped(module, *args, **kwargs):
    """Stands in for ESPnet's DistributedDataParallel wrapper of an FSDP2-sharded model (it syncs itself)."""
    return module


@contextlib.contextmanager
def patched_espnet_torch(sharded: bool = False):
    """Make ESPnet's trainer (and its n-best averaging) save through :func:`atomic_save`; with ``sharded``
    (FSDP2), also keep its DDP wrapper off the model.

    Only the ``torch`` name of those two modules changes, and only while the context lasts.
    """
    import espnet2.main_funcs.average_nbest_models as averaging
    import espnet2.train.trainer as espnet_trainer

    overrides = {"save": atomic_save}
    if sharded:
        overrides["nn.parallel.DistributedDataParallel"] = _not_wrapped
    modules = [m for m in (espnet_trainer, averaging) if isinstance(getattr(m, "torch", None), types.ModuleType)]
    originals = [m.torch for m in modules]
    for module, real in zip(modules, originals):
        module.torch = _ModuleProxy(getattr(real, "_real", real), overrides)
    try:
        yield
    finally:
        for module, real in zip(modules, originals):
            module.torch = real


def load_checkpoint_file(path, what: str = "checkpoint", hint: str = "", map_location="cpu", **kwargs):
    """``torch.load`` whose failure (missing, truncated, not a torch file) names the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} '{path}' does not exist{'. ' + hint if hint else ''}")
    try:
        return torch.load(path, map_location=map_location, **kwargs)
    except Exception as exc:  # zip/pickle errors of all kinds: the file is damaged
        reason = re.split(r"(?<=[^.])\.\s", str(exc).strip(), maxsplit=1)[0].splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{what} '{path}' cannot be read ({type(exc).__name__}: {reason}): "
            f"it is truncated or not a PyTorch file{'. ' + hint if hint else ''}") from exc


def check_checkpoint_file(path, what: str = "checkpoint", hint: str = "") -> None:
    """Cheap readability check of a torch file (memory-mapped: the tensors are not read)."""
    path = Path(path)
    try:
        load_checkpoint_file(path, what, hint, mmap=True, weights_only=True)
    except CheckpointError as err:
        cause = err.__cause__
        text = str(cause).lower().replace("_", " ") if cause is not None else ""
        if "weights only" in text or "mmap can only be used" in text:
            return  # readable, but more than tensors or an old format: its own loader deals with it
        raise


def _wrap_ddp(core: torch.nn.Module, options, distributed_option) -> torch.nn.Module:
    """A new DistributedDataParallel wrapper, built as ESPnet's Trainer.run builds its own."""
    one_gpu = distributed_option.ngpu == 1
    ddp = torch.nn.parallel.DistributedDataParallel(
        core,
        device_ids=[torch.cuda.current_device()] if one_gpu else None,
        output_device=torch.cuda.current_device() if one_gpu else None,
        find_unused_parameters=options.unused_parameters,
        gradient_as_bucket_view=options.gradient_as_bucket_view,
    )
    if getattr(options, "ddp_comm_hook", None):
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        ddp.register_comm_hook(None, getattr(default_hooks, options.ddp_comm_hook))
    return ddp


def check_replicas_in_sync(core: torch.nn.Module, epoch: int, rtol: float = 1e-6) -> None:
    """All-reduce a checksum of the parameters; fail if the data-parallel replicas differ."""
    import torch.distributed as dist

    with torch.no_grad():
        total = torch.zeros((), dtype=torch.float64)
        for p in core.parameters():
            if p.requires_grad:
                total += p.detach().double().sum().cpu()
    device = next(core.parameters()).device
    lo, hi = total.clone().to(device), total.clone().to(device)
    dist.all_reduce(lo, dist.ReduceOp.MIN)
    dist.all_reduce(hi, dist.ReduceOp.MAX)
    lo, hi = float(lo), float(hi)
    if abs(hi - lo) > rtol * max(abs(hi), abs(lo), 1.0):
        raise RuntimeError(
            f"epoch {epoch}: the data-parallel replicas diverged (parameter checksums from {lo!r} to {hi!r}); "
            "some trainable parameters were not reduced by DDP")


class _GatherableOutputs(torch.nn.Module):
    """The model with ESPnet's gatherable outputs: 1-dim loss, stats and weight.

    ESPnet's distributed loss and stats averaging (``recursive_average``) needs them 1-dim (its own models
    return ``force_gatherable(...)``); the PART models return 0-dim tensors, the natural shape elsewhere.
    """

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        from espnet2.torch_utils.device_funcs import force_gatherable

        out = self.inner(*args, **kwargs)
        loss = out["loss"] if isinstance(out, dict) else out[0]
        return force_gatherable(out, loss.device)


SHARDED_ENGINES = ("none", "fsdp2")


@dataclasses.dataclass
class PARTTrainerOptions(TrainerOptions):
    schedule_conf: Optional[dict] = None
    sharded_engine: str = "none"


class PARTTrainer(Trainer):
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser):
        group = parser.add_argument_group("PART trainer")
        group.add_argument("--sharded_engine", type=str, default="none", choices=SHARDED_ENGINES,
                           help="Distributed runs: 'none' trains full replicas with DDP; 'fsdp2' shards every "
                                "parameter, gradient and optimizer state over the processes (PyTorch FSDP2), for "
                                "models whose replica does not fit a device (docs/distributed.md)")

    @classmethod
    def build_options(cls, args: argparse.Namespace) -> PARTTrainerOptions:
        from espnet2.utils.build_dataclass import build_dataclass

        return build_dataclass(PARTTrainerOptions, args)

    @classmethod
    def run(cls, model, optimizers, schedulers, train_iter_factory, valid_iter_factory, plot_attention_iter_factory,
            trainer_options, distributed_option) -> None:
        if not distributed_option.distributed or distributed_option.dist_rank == 0:
            output_dir = Path(trainer_options.output_dir)
            if output_dir.is_dir():
                remove_stale_tmp_files(output_dir)
        sharded = getattr(trainer_options, "sharded_engine", "none") == "fsdp2"
        if sharded:
            cls._shard(model, optimizers, trainer_options, distributed_option)
        with patched_espnet_torch(sharded=sharded):
            super().run(model=model, optimizers=optimizers, schedulers=schedulers,
                        train_iter_factory=train_iter_factory, valid_iter_factory=valid_iter_factory,
                        plot_attention_iter_factory=plot_attention_iter_factory, trainer_options=trainer_options,
                        distributed_option=distributed_option)

    @classmethod
    def _shard(cls, model, optimizers, trainer_options, distributed_option) -> None:
        if not distributed_option.distributed:
            raise ValueError("--sharded_engine fsdp2 shards the model over the processes of a distributed run: "
                             "use it with several GPUs (--ngpu N) or processes (--dist_world_size N)")
        if trainer_options.sharded_ddp or getattr(trainer_options, "ddp_comm_hook", None):
            raise ValueError("--sharded_engine fsdp2 replaces DDP: drop --sharded_ddp and --ddp_comm_hook")
        fsdp.shard_model(model, optimizers, "cuda" if distributed_option.ngpu > 0 else "cpu")
        model.__dict__["_part_full_state"] = fsdp.FullStateHooks(model, optimizers)

    @classmethod
    def resume(cls, checkpoint, model, reporter, optimizers: Sequence, schedulers: Sequence, scaler, ngpu: int = 0,
               strict: bool = True) -> None:
        checkpoint = Path(checkpoint)
        prev = checkpoint.with_name(PREVIOUS_CHECKPOINT)
        location = f"cuda:{torch.cuda.current_device()}" if ngpu > 0 else "cpu"
        hint = (f"Delete {checkpoint.parent} (or re-run the recipe stage with --redo true) to start this training over")
        try:
            states = load_checkpoint_file(checkpoint, "checkpoint", map_location=location, weights_only=False)
            used = checkpoint
        except CheckpointError as err:
            if not prev.is_file():
                raise CheckpointError(f"cannot resume: {err}, and there is no previous checkpoint '{prev}'. "
                                      f"{hint}") from err.__cause__
            logging.warning("%s; resuming from the previous checkpoint %s instead", err, prev)
            try:
                states = load_checkpoint_file(prev, "previous checkpoint", map_location=location, weights_only=False)
            except CheckpointError as err2:
                raise CheckpointError(f"cannot resume: {err}; {err2}. {hint}") from err2.__cause__
            used = prev
        loaded = fsdp.shard_checkpoint(model, optimizers, states) if fsdp.is_sharded(model) else states
        model.load_state_dict(loaded["model"], strict=strict)
        reporter.load_state_dict(states["reporter"])
        for optimizer, state in zip(optimizers, loaded["optimizers"]):
            optimizer.load_state_dict(state)
        for scheduler, state in zip(schedulers, states["schedulers"]):
            if scheduler is not None:
                scheduler.load_state_dict(state)
        if scaler is not None:
            if states.get("scaler") is None:
                logging.warning("scaler state is not found")
            else:
                scaler.load_state_dict(states["scaler"])
        epoch = reporter.get_epoch()
        logging.info("resumed from %s: epoch %d finished; continuing at epoch %d", used, epoch, epoch + 1)
        # A kill between checkpoint.pth and <N>epoch.pth leaves the epoch's model file missing; n-best
        # averaging needs it.
        rank0 = not (torch.distributed.is_available() and torch.distributed.is_initialized()) \
            or torch.distributed.get_rank() == 0
        epoch_file = checkpoint.with_name(f"{epoch}epoch.pth")
        if rank0 and epoch > 0 and not epoch_file.exists():
            logging.info("re-writing %s from %s", epoch_file, used)
            atomic_save(states["model"], epoch_file)

    @classmethod
    def train_one_epoch(cls, model, iterator, optimizers, schedulers, scaler, reporter, summary_writer, options,
                        distributed_option) -> bool:
        core = model.module if hasattr(model, "module") else model
        sharded = fsdp.is_sharded(core)
        if sharded:
            core.__dict__["_part_full_state"].clear()
            fsdp.reshard(core)  # requires_grad goes on the sharded parameters
        schedule = ActivationSchedule.from_conf(options.schedule_conf)
        epoch = reporter.get_epoch()
        before = trainable_signature(core)
        groups = schedule.trainable_at(epoch)
        if groups is not None:
            apply_trainable(core, groups)
            if trainable_signature(core) != before or epoch == 1:
                log_trainable(core, groups, epoch)
        if distributed_option.distributed and isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = cls._ddp_for_trainable_set(model, core, before, options, distributed_option, epoch)
        elif distributed_option.distributed and not sharded and trainable_signature(core) != before:
            logging.warning("the trainable set changed inside a distributed run that does not use "
                            "DistributedDataParallel (%s): its gradients may not be reduced", type(model).__name__)
        if distributed_option.distributed:
            model = _GatherableOutputs(model)
        update_counts.start_epoch(core)
        result = super().train_one_epoch(model=model, iterator=iterator, optimizers=optimizers, schedulers=schedulers,
                                         scaler=scaler, reporter=reporter, summary_writer=summary_writer,
                                         options=options, distributed_option=distributed_option)
        if not distributed_option.distributed or distributed_option.dist_rank == 0:
            update_counts.finish_epoch(core, options.output_dir, epoch, options.accum_grad)
        if distributed_option.distributed and not sharded:  # a sharded model has one copy of each parameter
            check_replicas_in_sync(core, epoch)
        return result

    @classmethod
    def validate_one_epoch(cls, model, iterator, reporter, options, distributed_option) -> None:
        core = model.module if hasattr(model, "module") else model
        if distributed_option.distributed:
            model = _GatherableOutputs(model)
        result = super().validate_one_epoch(model=model, iterator=iterator, reporter=reporter, options=options,
                                            distributed_option=distributed_option)
        if fsdp.is_sharded(core):
            # ESPnet writes this epoch's checkpoint next, on rank 0 alone: gather the full states now, on all ranks.
            core.__dict__["_part_full_state"].gather(keep=distributed_option.dist_rank == 0)
        return result

    @classmethod
    def _ddp_for_trainable_set(cls, outer, core, built_with, options, distributed_option, epoch):
        """The DDP wrapper that reduces exactly the current trainable set (rebuilt when it changed).

        ``outer`` is ESPnet's wrapper, built before the first epoch of this run; nothing changes the
        trainable set between its construction and the first call here, so ``built_with`` (the set before
        this epoch's schedule was applied) is its set on the first call. The current wrapper is kept on
        ``outer`` between epochs. ESPnet's wrapper still serves validation (forward only, no gradients).
        """
        state = outer.__dict__.get("_part_ddp")
        built_with, wrapper = state if state is not None else (built_with, outer)
        now = trainable_signature(core)
        if now != built_with:
            logging.info("epoch %d: the trainable set changed (%d -> %d parameter tensors); rebuilding the "
                         "DistributedDataParallel wrapper so that it reduces the new set", epoch, len(built_with),
                         len(now))
            wrapper = _wrap_ddp(core, options, distributed_option)
            built_with = now
        outer.__dict__["_part_ddp"] = (built_with, wrapper)
        return wrapper
