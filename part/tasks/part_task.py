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
from typing import Callable, Collection, Dict, List, Optional, Tuple

import numpy as np
import yaml
from typeguard import typechecked

from espnet2.iterators.sequence_iter_factory import RawSampler, SequenceIterFactory
from espnet2.tasks.abs_task import AbsTask
from espnet2.train.collate_fn import CommonCollateFn
from espnet2.utils.nested_dict_action import NestedDictAction
from espnet2.utils.types import str2bool, str_or_none

from part.model.adapters import ADAPTERS, build_adapter
from part.model.ctc_encoder import CTCEncoderModel
from part.model.encoders import ENCODERS, build_encoder
from part.model.llm import add_lora, check_tokenizer_matches, load_llm, load_tokenizer
from part.model.speech_llm import SpeechLLM, log_parameter_summary
from part.schedule.schedule import ActivationSchedule, apply_trainable
from part.tasks.trainer import PARTTrainer

SPEECH_PLACEHOLDER = "<speech>"


def unescape_prompt(prompt: str) -> str:
    return prompt.replace("\\n", "\n")


class PARTPreprocessor:
    """Tokenises prompt and target with the LLM's own tokenizer."""

    def __init__(self, tokenizer_path: str, gguf_file: Optional[str], model_type: str):
        self.tokenizer_path = tokenizer_path
        self.gguf_file = gguf_file
        self.model_type = model_type
        self._tokenizer = None

    @property
    def tokenizer(self):  # loaded lazily: data-loader workers each load their own copy
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_path, self.gguf_file)
        return self._tokenizer

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)

    def __call__(self, uid: str, data: Dict) -> Dict[str, np.ndarray]:
        out = {"speech": data["speech"], "text": self.encode(data["text"])}
        if len(out["text"]) == 0:
            raise ValueError(f"example '{uid}': empty target text")
        if self.model_type == "speech_llm":
            prompt = unescape_prompt(data["prompt"])
            before, found, after = prompt.partition(SPEECH_PLACEHOLDER)
            has_speech = data["speech"].shape[0] > 0
            if has_speech != bool(found):
                raise ValueError(
                    f"example '{uid}': the prompt {'lacks' if has_speech else 'has'} the {SPEECH_PLACEHOLDER} "
                    f"placeholder but the example {'has' if has_speech else 'has no'} speech"
                )
            out["prefix"] = self.encode(before)
            out["suffix"] = self.encode(after)
        return out


class TaskScheduledIterFactory(SequenceIterFactory):
    """ESPnet's iterator factory, with each epoch's batches restricted to the tasks scheduled then.

    Batches are task-homogeneous (ESPnet's sampler groups by ``utt2category``), so the filter keeps or
    drops whole batches.
    """

    def __init__(self, base: SequenceIterFactory, key2task: Dict[str, str], schedule: ActivationSchedule):
        self.__dict__.update(base.__dict__)
        self._all_batches = list(base.sampler.generate(0))
        self._key2task = key2task
        self._schedule = schedule

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
                           help="gguf_file, dtype (float32|bfloat16|float16), attn_implementation")
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
                           help="Adapter (projector) between encoder and LLM (ESPnet's own --adapter is its LoRA/Houlsby option)")
        group.add_argument("--speech_adapter_conf", action=NestedDictAction, default=dict(),
                           help="Keyword arguments of the adapter")
        group.add_argument("--ctc_vocab", type=str2bool, default=False,
                           help="Give the encoder a CTC head over the LLM vocabulary (ctc_posterior adapter)")
        group.add_argument("--schedule_conf", action=NestedDictAction, default=dict(),
                           help="Parameter-activation and task-mix schedule: {trainable: {epoch: [groups]}, "
                                "tasks: {epoch: [tasks]}}; see part/schedule")
        group.add_argument("--save_llm_base", type=str2bool, default=False,
                           help="Also save the frozen base LLM weights in checkpoints")

    @classmethod
    def build_collate_fn(cls, args: argparse.Namespace, train: bool) -> Callable:
        return CommonCollateFn(float_pad_value=0.0, int_pad_value=-1)

    @classmethod
    def build_preprocess_fn(cls, args: argparse.Namespace, train: bool):
        return PARTPreprocessor(args.tokenizer_path or args.llm_path, args.llm_conf.get("gguf_file"), args.model_type)

    @classmethod
    def required_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("speech",) if inference else ("speech", "text")

    @classmethod
    def optional_data_names(cls, train: bool = True, inference: bool = False) -> Tuple[str, ...]:
        return ("prompt",)

    @classmethod
    def build_iter_factory(cls, args, distributed_option, mode: str):
        """ESPnet's factory; with ``schedule_conf.tasks``, training and validation batches follow the task mix
        of each epoch (a phase is validated on what it trains)."""
        factory = super().build_iter_factory(args, distributed_option, mode)
        schedule = ActivationSchedule.from_conf(args.schedule_conf)
        if mode in ("train", "valid") and schedule.tasks and isinstance(factory, SequenceIterFactory):
            data = getattr(args, f"{mode}_data_path_and_name_and_type")
            categories = Path(data[0][0]).parent / "utt2category"
            if not categories.is_file():
                raise FileNotFoundError(f"schedule_conf.tasks needs {categories} (written by stage 3)")
            key2task = {}
            for line in categories.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    key, task = line.split(maxsplit=1)
                    key2task[key] = task.strip()
            factory = TaskScheduledIterFactory(factory, key2task, schedule)
        return factory

    @classmethod
    @typechecked
    def build_model(cls, args: argparse.Namespace):
        if not args.llm_path:
            raise ValueError("--llm_path is required: the LLM directory (its tokenizer defines the vocabulary)")
        _resolve_pretrained_encoder(args)
        gguf_file = args.llm_conf.get("gguf_file")
        tokenizer = load_tokenizer(args.tokenizer_path or args.llm_path, gguf_file)
        vocab_size = len(tokenizer)
        if args.model_type == "ctc_encoder":
            encoder = build_encoder(args.encoder, args.input_size, args.encoder_conf, ctc_vocab_size=vocab_size)
            model = CTCEncoderModel(encoder, vocab_size)
        else:
            llm = load_llm(args.llm_path, gguf_file, args.llm_conf.get("dtype", "float32"),
                           args.llm_conf.get("attn_implementation"))
            check_tokenizer_matches(llm, tokenizer, args.llm_path, args.tokenizer_path)
            if args.lora_conf:
                llm = add_lora(llm, **args.lora_conf)
            encoder = build_encoder(args.encoder, args.input_size, args.encoder_conf,
                                    ctc_vocab_size=vocab_size if args.ctc_vocab else None)
            adapter = build_adapter(args.speech_adapter, encoder.output_size, llm.get_input_embeddings().weight.size(1),
                                    args.speech_adapter_conf)
            # Full fine-tuning (the "llm" group) trains the base weights: checkpoints must keep them then.
            trainable = ActivationSchedule.from_conf(args.schedule_conf).trainable
            full_llm = any("llm" in groups for groups in trainable.values())
            model = SpeechLLM(encoder, adapter, llm, eos_id=tokenizer.eos_token_id, pad_id=tokenizer.pad_token_id,
                              save_llm_base=args.save_llm_base or full_llm, llm_dtype=_half_dtype(args.llm_conf))
        if args.encoder_path:
            _load_encoder_weights(model, args.encoder_path, args.encoder_model_file)
        schedule = ActivationSchedule.from_conf(args.schedule_conf)
        first = schedule.trainable_at(1)
        if first is not None:
            apply_trainable(model, first)
        log_parameter_summary(model, "initial ")
        return model


def _half_dtype(llm_conf: dict):
    """The LLM's dtype when it is half precision (kept through ESPnet's cast to --train_dtype)."""
    import torch

    name = (llm_conf or {}).get("dtype", "float32")
    return getattr(torch, name) if name in ("bfloat16", "float16") else None


def _resolve_pretrained_encoder(args: argparse.Namespace) -> None:
    """Take the encoder type and configuration from a pretrained encoder's config.yaml."""
    if not args.encoder_path:
        return
    config = Path(args.encoder_path) / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"--encoder_path {args.encoder_path}: no config.yaml there (made by stage 3)")
    with config.open(encoding="utf-8") as f:
        conf = yaml.safe_load(f)
    args.encoder = conf["encoder"]
    args.encoder_conf = conf["encoder_conf"]
    args.input_size = conf["input_size"]
    if conf.get("model_type") == "ctc_encoder":
        args.ctc_vocab = True if args.speech_adapter == "ctc_posterior" else args.ctc_vocab


def _load_encoder_weights(model, encoder_path: str, model_file: str) -> None:
    import torch

    path = Path(encoder_path) / model_file
    if not path.is_file():
        raise FileNotFoundError(f"pretrained encoder weights '{path}' not found (stage 3 writes them)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RuntimeError(f"cannot read pretrained encoder '{path}': {exc}. Delete it and re-run stage 3") from exc
    enc_state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    if model.encoder.ctc_head is None:
        enc_state = {k: v for k, v in enc_state.items() if not k.startswith("ctc_head.")}
    model.encoder.load_state_dict(enc_state, strict=True)
    logging.info("initialised the encoder from %s", path)
