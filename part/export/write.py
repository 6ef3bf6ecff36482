"""Writing the exported folder of a training phase (:func:`export_model`)."""
from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Dict, Mapping, Optional

from part.export.card import model_card
from part.export.folder import CARD, CONFIG, FORMAT_NAME, FORMAT_VERSION, LLM_DIR, LORA_DIR, WEIGHTS, ExportError
from part.export.provenance import (check_prompts_match, decoding_defaults, find_prompts, find_results, phase_history,
                                    recipe_name, recorded_revision, scores_sections, toolkit_revision, training_data)

# Encoder options that only matter while training (augmentation) or name files of the training machine.
_TRAINING_ONLY_ENCODER_OPTIONS = ("stats_file", "specaug")


def export_model(exp_dir: str, out_dir: str, model_file: str = "valid.acc.ave.pth", merge_lora: bool = True,
                 prompts: Optional[str] = None, results: Optional[str] = None, llm_path: Optional[str] = None,
                 overwrite: bool = False) -> Path:
    """Write the exported folder of ``exp_dir/model_file`` to ``out_dir`` (see :mod:`part.export`); returns it.

    ``prompts``: the prompt templates (default: the training config's ``prompts``, else
    ``conf/prompts.yaml`` in a directory above ``exp_dir``); ``results``: a RESULTS.md to take the scores
    from (default: the nearest one above ``exp_dir``); ``llm_path``: the base LLM when it moved since
    training. The folder is written under a temporary name and renamed when complete.
    """
    from part.data.features import FeatureOptions
    from part.data.prompts import load_prompts
    from part.inference import load_model

    exp = Path(exp_dir)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} exists and is not empty: choose another --out_dir or pass --overwrite true")
    prompts_file = find_prompts(exp, prompts)
    templates = load_prompts(str(prompts_file))
    model, tokenizer, config = load_model(str(exp), model_file, llm_path=llm_path)
    check_prompts_match(templates, prompts_file, config, exp)
    phases = phase_history(exp)
    data = training_data(config, exp, phases)
    results_file = find_results(exp, results)
    lora_conf = dict(config.get("lora_conf") or {})
    llm_conf = {k: v for k, v in (config.get("llm_conf") or {}).items() if k != "gguf_file"}  # saved as safetensors
    counts = parameter_counts(model)
    exported = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": {
            "model_type": "speech_llm",
            "encoder": config["encoder"],
            "encoder_conf": portable_encoder_conf(model, config),
            "input_size": int(config.get("input_size") or 80),
            "speech_adapter": config["speech_adapter"],
            "speech_adapter_conf": dict(config.get("speech_adapter_conf") or {}),
            "ctc_vocab": bool(config.get("ctc_vocab")),
            "llm_conf": llm_conf,
            "llm": {k: getattr(model.llm.config, k, None)
                    for k in ("model_type", "num_hidden_layers", "hidden_size", "vocab_size")},
            "eos_id": int(tokenizer.eos_token_id),
            "lora": {"conf": lora_conf, "merged": bool(merge_lora), "dir": None if merge_lora else LORA_DIR}
            if lora_conf else None,
            "parameters": counts,
        },
        "features": asdict(FeatureOptions.for_model(config)),
        "prompts": templates,
        "decoding": decoding_defaults(exp),
        "languages": data.pop("languages"),
        "training": {
            "recipe": recipe_name(exp),
            "experiment": str(exp),
            "model_file": model_file,
            "prompts_file": str(prompts_file),
            "data": data,
            "phases": phases,
            "results_file": str(results_file) if results_file else None,
            "git_revision": recorded_revision(results_file),
            "exported_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "exported_with": toolkit_revision(),
        },
    }
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_speech_weights(model, tmp / WEIGHTS)
    save_llm(model.llm, tokenizer, tmp, merge_lora and bool(lora_conf))
    (tmp / CONFIG).write_text(json.dumps(exported, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / CARD).write_text(model_card(exported, scores_sections(results_file, exp)), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    logging.info("exported %s (%s) -> %s", exp, model_file, out)
    return out


def portable_encoder_conf(model, config: Mapping) -> dict:
    """The encoder options without anything that names a file of the training machine: the CMVN
    statistics file is dropped (they are buffers in the weights), a Whisper encoder's ``path`` becomes its
    config dict (the weights are in model.safetensors)."""
    conf = {k: v for k, v in (config.get("encoder_conf") or {}).items() if k not in _TRAINING_ONLY_ENCODER_OPTIONS}
    if config["encoder"] == "whisper" and conf.get("path"):
        del conf["path"]
        conf["config"] = json.loads(model.encoder.whisper.config.to_json_string())
    for key, value in conf.items():
        if isinstance(value, str) and ("/" in value or os.sep in value) and Path(value).exists():
            raise ExportError(f"encoder_conf.{key} names a file ({value}) that the exported folder would depend on; "
                              "teach portable_encoder_conf (part/export/write.py) to carry it")
    return conf


def parameter_counts(model) -> Dict[str, int]:
    llm = model.llm
    lora = sum(p.numel() for n, p in llm.named_parameters() if "lora_" in n)
    return {"encoder": sum(p.numel() for p in model.encoder.parameters()),
            "adapter": sum(p.numel() for p in model.adapter.parameters()),
            "llm": sum(p.numel() for p in llm.parameters()) - lora, "lora": lora}


def save_speech_weights(model, path: Path) -> None:
    """Encoder and adapter tensors (parameters and buffers) as safetensors, keyed as in the model."""
    from safetensors.torch import save_file

    state = {f"{part}.{k}": v.detach().cpu().contiguous()
             for part in ("encoder", "adapter") for k, v in getattr(model, part).state_dict().items()}
    save_file(state, str(path), metadata={"format": FORMAT_NAME})


def save_llm(llm, tokenizer, out: Path, merge: bool) -> None:
    """``out/llm`` (+ ``out/lora``): the LLM with LoRA merged, or the base LLM and the LoRA adapter apart."""
    from peft import PeftModel

    if isinstance(llm, PeftModel):
        if merge:
            llm = llm.merge_and_unload()
        else:
            # The adapter's config names the training machine's LLM folder; the exported one is beside it.
            for conf in llm.peft_config.values():
                conf.base_model_name_or_path = f"../{LLM_DIR}"
            # The vocabulary is the base LLM's own (not resized): no embedding table goes with the adapter.
            llm.save_pretrained(str(out / LORA_DIR), save_embedding_layers=False)
            llm = llm.unload()
    llm.save_pretrained(str(out / LLM_DIR), safe_serialization=True)
    tokenizer.save_pretrained(str(out / LLM_DIR))
