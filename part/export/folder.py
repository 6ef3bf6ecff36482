"""The exported folder's format: its file names, what a folder that is not one raises, and reading it
back (:func:`read_config`, :func:`load_exported`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

FORMAT_NAME = "part-speech-llm"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
LLM_DIR = "llm"
LORA_DIR = "lora"
CARD = "README.md"


class ExportError(Exception):
    """An experiment that cannot be exported, or a folder that is not an exported model; says what to do."""


def read_config(model_dir: str) -> dict:
    """The config.json of an exported folder, checked for format and version."""
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise ExportError(f"{path} not found: '{model_dir}' is not an exported model (make one with "
                          "python -m part.bin.export)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ExportError(f"{path}: not valid JSON ({err}): export the model again") from None
    if config.get("format") != FORMAT_NAME:
        raise ExportError(f"{path} is not a {FORMAT_NAME} config (format {config.get('format')!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise ExportError(f"{path} has format version {config.get('format_version')}; this toolkit reads "
                          f"{FORMAT_VERSION}: export the model again with this version")
    return config


def load_exported(model_dir: str, device: str = "cpu") -> Tuple[object, object, dict]:
    """Rebuild the model of an exported folder: ``(model in eval mode, tokenizer, config)``."""
    from safetensors.torch import load_file

    from part.model.factory import assemble_speech_llm
    from part.model.llm import load_llm, load_tokenizer

    root = Path(model_dir)
    config = read_config(model_dir)
    conf = config["model"]
    llm_conf = conf.get("llm_conf") or {}
    tokenizer = load_tokenizer(str(root / LLM_DIR))
    if tokenizer.eos_token_id != conf["eos_id"]:
        raise ExportError(f"{root / LLM_DIR}: the tokenizer's EOS id is {tokenizer.eos_token_id}, the model was "
                          f"trained with {conf['eos_id']}: the folder is damaged, export it again")
    llm = load_llm(str(root / LLM_DIR), dtype=llm_conf.get("dtype", "float32"),
                   attn_implementation=llm_conf.get("attn_implementation"))
    lora = conf.get("lora")
    if lora and not lora["merged"]:
        from peft import PeftModel

        llm = PeftModel.from_pretrained(llm, str(root / lora["dir"]))
    model = assemble_speech_llm(conf, llm, tokenizer)
    weights = root / WEIGHTS
    if not weights.is_file():
        raise ExportError(f"{weights} not found: the folder is incomplete, export it again")
    state = load_file(str(weights))
    for part in ("encoder", "adapter"):
        sub = {k[len(part) + 1:]: v for k, v in state.items() if k.startswith(part + ".")}
        try:
            getattr(model, part).load_state_dict(sub, strict=True)
        except RuntimeError as err:
            raise ExportError(f"{weights}: the {part} weights do not match config.json's {part} ({err})") from None
    model.to(device).eval()
    return model, tokenizer, config
