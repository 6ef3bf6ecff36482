"""Build a model from its configuration: the options of ``part_train`` (``config.yaml`` of a training
phase, or an ``argparse.Namespace``).

``PARTTask.build_model`` (training) and ``part.inference.load_model`` (decoding, analysis) both call
:func:`build_model`, so a trained phase is rebuilt exactly as it was trained. Keys used:
``model_type`` (speech_llm | ctc_encoder), ``llm_path``, ``llm_conf`` (gguf_file, dtype,
attn_implementation), ``tokenizer_path``, ``lora_conf``, ``encoder``, ``encoder_conf``,
``encoder_path`` + ``encoder_model_file`` (a pretrained encoder experiment whose type and weights
replace ``encoder``/``encoder_conf``), ``input_size``, ``speech_adapter``, ``speech_adapter_conf``,
``ctc_vocab``, ``schedule_conf``, ``save_llm_base``. An exported model (:mod:`part.export`) has its LLM
already and builds the rest with :func:`assemble_speech_llm`, as :func:`build_model` does.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Union

import yaml

from part.model.adapters import build_adapter
from part.model.ctc_encoder import CTCEncoderModel
from part.model.encoders import build_encoder
from part.model.llm import add_lora, check_tokenizer_matches, load_llm, load_tokenizer
from part.model.speech_llm import SpeechLLM, log_parameter_summary
from part.schedule.schedule import ActivationSchedule, apply_trainable

if TYPE_CHECKING:
    import torch

Config = Union[argparse.Namespace, Mapping]


def build_model(config: Config):
    """The model of ``config``, with the pretrained encoder loaded and the first epoch's trainable set applied."""
    args = argparse.Namespace(**config) if isinstance(config, Mapping) else config
    if not args.llm_path:
        raise ValueError("--llm_path is required: the LLM directory (its tokenizer defines the vocabulary)")
    _resolve_pretrained_encoder(args)
    llm_conf = args.llm_conf or {}
    gguf_file = llm_conf.get("gguf_file")
    tokenizer = load_tokenizer(args.tokenizer_path or args.llm_path, gguf_file)
    vocab_size = len(tokenizer)
    schedule = ActivationSchedule.from_conf(args.schedule_conf)
    if args.model_type == "ctc_encoder":
        encoder = build_encoder(args.encoder, args.input_size, args.encoder_conf, ctc_vocab_size=vocab_size)
        model = CTCEncoderModel(encoder, vocab_size)
    else:
        llm = load_llm(args.llm_path, **llm_conf)
        check_tokenizer_matches(llm, tokenizer, args.llm_path, args.tokenizer_path)
        if args.lora_conf:
            llm = add_lora(llm, **args.lora_conf)
        # Full fine-tuning (the "llm" group) trains the base weights: checkpoints must keep them then.
        full_llm = any("llm" in groups for groups in schedule.trainable.values())
        model = assemble_speech_llm(args, llm, tokenizer, save_llm_base=args.save_llm_base or full_llm)
    if args.encoder_path:
        _load_encoder_weights(model, args.encoder_path, args.encoder_model_file)
    first = schedule.trainable_at(1)
    if first is not None:
        apply_trainable(model, first)
    log_parameter_summary(model, "initial ")
    return model


def assemble_speech_llm(config: Config, llm, tokenizer, save_llm_base: bool = False) -> SpeechLLM:
    """A speech-LLM around a loaded LLM: the encoder and adapter of ``config`` (``encoder``, ``input_size``,
    ``encoder_conf``, ``ctc_vocab``, ``speech_adapter``, ``speech_adapter_conf``, ``llm_conf``), freshly
    initialised. Training (:func:`build_model`) and an exported model (:mod:`part.export`) both build it here."""
    args = argparse.Namespace(**config) if isinstance(config, Mapping) else config
    encoder = build_encoder(args.encoder, args.input_size, args.encoder_conf,
                            ctc_vocab_size=len(tokenizer) if args.ctc_vocab else None)
    adapter = build_adapter(args.speech_adapter, encoder.output_size, llm.get_input_embeddings().weight.size(1),
                            args.speech_adapter_conf)
    return SpeechLLM(encoder, adapter, llm, eos_id=tokenizer.eos_token_id, save_llm_base=save_llm_base,
                     llm_dtype=_half_dtype(args.llm_conf or {}))


def _half_dtype(llm_conf: Mapping) -> Optional["torch.dtype"]:
    """The LLM's dtype when it is half precision (kept through ESPnet's cast to --train_dtype)."""
    import torch

    name = llm_conf.get("dtype", "float32")
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
