"""ESPnet's Trainer with one hook: the parameter-activation schedule is applied at each epoch start.

Everything else — checkpoints, resume, n-best averaging, logging, the distributed launcher — is
ESPnet's own.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Optional

from espnet2.train.trainer import Trainer, TrainerOptions

from part.schedule.schedule import ActivationSchedule, apply_trainable, log_trainable, trainable_signature


@dataclasses.dataclass
class PARTTrainerOptions(TrainerOptions):
    schedule_conf: Optional[dict] = None


class PARTTrainer(Trainer):
    @classmethod
    def build_options(cls, args: argparse.Namespace) -> PARTTrainerOptions:
        from espnet2.utils.build_dataclass import build_dataclass

        return build_dataclass(PARTTrainerOptions, args)

    @classmethod
    def train_one_epoch(cls, model, iterator, optimizers, schedulers, scaler, reporter, summary_writer, options,
                        distributed_option) -> bool:
        core = model.module if hasattr(model, "module") else model
        schedule = ActivationSchedule.from_conf(options.schedule_conf)
        epoch = reporter.get_epoch()
        groups = schedule.trainable_at(epoch)
        if groups is not None:
            before = trainable_signature(core)
            apply_trainable(core, groups)
            if trainable_signature(core) != before or epoch == 1:
                log_trainable(core, groups, epoch)
                if distributed_option.distributed and trainable_signature(core) != before:
                    logging.warning(
                        "the trainable set changed inside a distributed run: DDP keeps reducing the "
                        "gradients of the parameters it was built with; put the change at a stage boundary"
                    )
        return super().train_one_epoch(model=model, iterator=iterator, optimizers=optimizers, schedulers=schedulers,
                                       scaler=scaler, reporter=reporter, summary_writer=summary_writer,
                                       options=options, distributed_option=distributed_option)
