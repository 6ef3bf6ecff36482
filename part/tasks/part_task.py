"""PARTTask: the speech-LLM (and its encoder pretraining) as an ESPnet task.

Data (written by stage 3 into ``dump/examples/<set>/``), keyed by example id:

- ``speech``: ``feats.scp`` (kaldi_ark) — log-mel features; zero frames for text-only examples
- ``prompt``: ``prompt`` (text) — the instruction with a ``<speech>`` placeholder, newlines escaped as
  ``\\n`` (speech_llm only)
- ``text``: ``text`` (text) — the target: transcript or translation
- ``utt2category``: the task of each example (asr, s2tt, mt); batches never mix tasks, and the task
  mix of each epoch follows ``schedule_conf.tasks``

Usage (what ``egs/TEMPLATE/part.sh`` runs)::

    python -m part.bin.part_train --config conf/part/phase1.yaml \\
        --llm_path exp/llm --encoder_path exp/encoder \\
        --train_data_path_and_name_and_type dump/examples/train/feats.scp,speech,kaldi_ark \\
        --train_data_path_and_name_and_type dump/examples/train/prompt,prompt,text \\
        --train_data_path_and_name_and_type dump/examples/train/text,text,text \\
        --train_shape_file dump/examples/train/speech_shape ... --output_dir exp/part/phase1
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, Dict, Tuple

from typeguard import typechecked

from espnet2.iterators.sequence_iter_factory import RawSampler, SequenceIterFactory
from espnet2.tasks.abs_task import AbsTask
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str2bool, str_or_none

from part.data.batch import ExamplePreprocessor, collate
from part.data.examples import read_kv
from part.data.loader import shard_iter_factory
from part.model.adapters import ADAPTERS
from part.model.encoders import ENCODERS
from part.model.factory import build_model
from part.schedule.schedule import ActivationSchedule
from part.tasks.trainer import PARTTrainer


class TaskScheduledIterFactory(SequenceIterFactory):
    """ESPnet's iterator factory, with each epoch's batches restricted to the tasks scheduled then.

    Batches are task-homogeneous (ESPnet's sampler groups by ``utt2category``), so the filter keeps or
    drops whole batches.
    """

    def __init__(self, base: SequenceIterFactory, key2task: Dict[str, str], schedule: ActivationSchedule,
                 source: str = "the example list"):
        self.__dict__.update(base.__dict__)
        self._all_batches = list(base.sampler.generate(0))
        self._key2task = key2task
        self._schedule = schedule
        schedule.warn_unavailable_tasks(set(key2task.values()), source)

    def build_iter(self, epoch: int, shuffle: bool = None):
        tasks = self._schedule.tasks_at(epoch)
        if tasks is None:
            batches = self._all_batches
        else:
            batches = [b for b in self._all_batches if self._key2task[b[0]] in tasks]
            if not batches:
                raise ValueError(f"epoch {epoch}: no training examples of the scheduled tasks {tasks}")
        logging.info("epoch %d: %d batches of tasks %s", epoch, len(batches), tasks or "all")
        self.sampler = RawSampler(batches)
        return super().build_iter(epoch, shuffle)


class PARTTask(AbsTask):
    num_optimizers: int = 1
    class_choices_list = []
    trainer = PARTTrainer

    @classmethod
    def add_task_arguments(cls, parser: argparse.ArgumentParser):
        # Attention plots are for encoder-decoder models; a speech-LLM has none of ESPnet's kind.
        parser.set_defaults(num_att_plot=0)
        group = parser.add_argument_group(description="PART model")
        group.add_argument("--model_type", default="speech_llm", choices=["speech_llm", "ctc_encoder"],
                           help="speech_llm: encoder + adapter + LLM; ctc_encoder: encoder pretraining with CTC "
                                "over the LLM's token vocabulary")
        group.add_argument("--llm_path", type=str_or_none, default=None,
                           help="Local Hugging Face causal-LM directory (nothing is downloaded)")
        group.add_argument("--llm_conf", action=NestedDictAction, default=dict(),
                           help="gguf_file, dtype (float32|bfloat16|float16), attn_implementation (default sdpa where "
                                "supported), gradient_checkpointing (true: recompute decoder layers in backward)")
        group.add_argument("--tokenizer_path", type=str_or_none, default=None,
                           help="Tokenizer directory (default: --llm_path)")
        group.add_argument("--lora_conf", action=NestedDictAction, default=dict(),
                           help="LoRA through peft: r, alpha, dropout, target_modules. Empty: no LoRA")
        group.add_argument("--encoder", type=str, default="conformer", choices=sorted(ENCODERS),
                           help="Speech encoder type")
        group.add_argument("--encoder_conf", action=NestedDictAction, default=dict(),
                           help="Keyword arguments of the encoder")
        group.add_argument("--encoder_path", type=str_or_none, default=None,
                           help="A pretrained encoder experiment dir (config.yaml + model file) to start from; "
                                "its encoder type and configuration replace --encoder/--encoder_conf")
        group.add_argument("--encoder_model_file", type=str, default="valid.loss.best.pth",
                           help="Model file inside --encoder_path")
        group.add_argument("--input_size", type=int, default=80, help="Feature dimension")
        group.add_argument("--speech_adapter", type=str, default="transformer_cnn", choices=sorted(ADAPTERS),
                           help="Adapter (projector) between encoder and LLM "
                                "(ESPnet's own --adapter is its LoRA/Houlsby option)")
        group.add_argument("--speech_adapter_conf", action=NestedDictAction, default=dict(),
                           help="Keyword arguments of the adapter")
        group.add_argument("--ctc_vocab", type=str2bool, default=False,
                           help="Give the encoder a CTC head over the LLM vocabulary (ctc_posterior adapter)")
        group.add_argument("--schedule_conf", action=NestedDictAction, default=dict(),
                           help="Parameter-activation and task-mix schedule: {trainable: {epoch: [groups]}, "
                                "tasks: {epoch: [tasks]}}; see part/schedule")
        group.add_argument("--save_llm_base", type=str2bool, default=False,
                           help="Also save the frozen base LLM weights in checkpoints")
        group.add_argument("--feature_conf", action=NestedDictAction, default=dict(),
                           help="The front end (part.data.features.FeatureOptions: feature_type, num_mel_bins, "
                                "frame_length, frame_shift, sample_rate); default: Whisper's log-mel for a Whisper "
                                "encoder, else Kaldi fbank, with --input_size bins")

        group = parser.add_argument_group(description="Raw-audio shards (stage 2 --feats_type raw)")
        group.add_argument("--train_shards", type=str_or_none, default=None,
                           help="A packed training set (dump/raw/<set>, part.bin.pack_shards): features are computed "
                                "on the fly and replace --train_data_path_and_name_and_type")
        group.add_argument("--valid_shards", type=str_or_none, default=None, help="A packed validation set")
        group.add_argument("--prompts", type=str_or_none, default=None,
                           help="Prompt templates (conf/prompts.yaml) of the examples made from the shards")
        group.add_argument("--data_conf", action=NestedDictAction, default=dict(),
                           help="Examples and batches from the shards: tasks, valid_tasks, directions, max_duration, "
                                "max_examples, num_buckets, buffer_size, text_chars_per_second, temperature, weights, "
                                "max_bad_fraction, shuffle; see part/data/sampler.py and part/data/loader.py")

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return collate

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool):
        return ExamplePreprocessor(args.tokenizer_path or args.llm_path, args.llm_conf.get("gguf_file"),
                                   args.model_type)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",) if inference else ("speech", "text")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("prompt",)

    @classmethod
    def build_iter_factory(cls, args, distributed_option, mode: str):
        """With ``--train_shards``/``--valid_shards``: the streaming raw-audio factory (part/data/loader.py).
        Otherwise ESPnet's factory over the example lists; with ``schedule_conf.tasks``, its training batches
        follow the task mix of each epoch, and validation covers every task the phase schedules, in every
        epoch: the best epoch (``best_model_criterion``) is chosen among epochs scored on the same mix, as
        the shard loader's validation does."""
        shards = getattr(args, f"{mode}_shards", None) if mode in ("train", "valid") else None
        if shards:
            return shard_iter_factory(args, distributed_option, mode, cls.build_preprocess_fn(args, mode == "train"))
        if mode == "train" and args.data_conf:
            logging.warning("--data_conf applies to raw-audio shards (--train_shards) only; with example lists of "
                            "dumped features the batches follow --batch_type/--batch_size and data_conf does nothing")
        factory = super().build_iter_factory(args, distributed_option, mode)
        schedule = ActivationSchedule.from_conf(args.schedule_conf)
        if mode in ("train", "valid") and schedule.tasks:
            if not isinstance(factory, SequenceIterFactory):
                raise ValueError(f"schedule_conf.tasks needs the sequence iterator (--iterator_type sequence) or raw "
                                 f"shards; {type(factory).__name__} (--iterator_type {args.iterator_type}) would "
                                 "silently ignore the task schedule")
            data = getattr(args, f"{mode}_data_path_and_name_and_type")
            categories = Path(data[0][0]).parent / "utt2category"
            if not categories.is_file():
                raise FileNotFoundError(f"schedule_conf.tasks needs {categories} (written by stage 3)")
            key2task = read_kv(categories)
            if mode == "valid":
                schedule = ActivationSchedule(tasks={1: sorted(schedule.all_tasks())})
            factory = TaskScheduledIterFactory(factory, key2task, schedule, str(categories))
        return factory

    @classmethod
    @typechecked
    def build_model(cls, args: argparse.Namespace):
        return build_model(args)
