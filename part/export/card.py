"""The model card (README.md) of an exported folder, written from its config.json."""
from __future__ import annotations

from pathlib import Path
from typing import List, Mapping

from part.export.folder import LLM_DIR, LORA_DIR


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,}"


def _epochs(table: Mapping) -> str:
    return "; ".join(f"from epoch {k}: {', '.join(v)}" for k, v in sorted(table.items(), key=lambda kv: int(kv[0])))


def model_card(exported: Mapping, scores: List[str]) -> str:
    """The README.md of an exported folder, from its config.json (and the score sections of RESULTS.md)."""
    model, training, data = exported["model"], exported["training"], exported["training"]["data"]
    counts, lora, feats = model["parameters"], model["lora"], exported["features"]
    enc_conf = model["encoder_conf"]
    shown = ("num_blocks", "output_size", "attention_heads", "input_layer", "lfr")
    enc_desc = ", ".join(f"{k} {v}" for k, v in enc_conf.items() if k in shown)
    if model["encoder"] == "whisper":
        cfg = enc_conf.get("config", {})
        enc_desc = f"{cfg.get('encoder_layers')} layers, d_model {cfg.get('d_model')}"
    adapter_desc = ", ".join(f"{k} {v}" for k, v in model["speech_adapter_conf"].items())
    llm = model["llm"]
    llm_desc = f"{llm['model_type']}, {llm['num_hidden_layers']} layers, hidden {llm['hidden_size']}, " \
               f"vocabulary {llm['vocab_size']}, {model['llm_conf'].get('dtype', 'float32')}"
    langs = exported["languages"]
    exp = training["experiment"]
    lines = [
        f"# PART speech-LLM: {Path(exp).parent.name}/{Path(exp).name}",
        "",
        "Multilingual speech recognition (ASR) and speech translation (S2TT) with a speech encoder, an adapter "
        "and a decoder-only LLM, trained with PART (Progressive Alignment Representation Training, Zhang et "
        "al. 2025) by the `part` toolkit. Exported by `python -m part.bin.export` from "
        f"`{exp}` (`{training['model_file']}`).",
        "",
        "## Model",
        "",
        "| part | what | parameters |",
        "| :--- | :--- | ---: |",
        f"| encoder | {model['encoder']} ({enc_desc}) | {_millions(counts['encoder'])} |",
        f"| adapter | {model['speech_adapter']} ({adapter_desc}) | {_millions(counts['adapter'])} |",
        f"| LLM | {llm_desc}: `{LLM_DIR}/` | {_millions(counts['llm'])} |",
    ]
    if lora:
        conf = lora["conf"]
        where = f"merged into `{LLM_DIR}/`" if lora["merged"] else f"kept apart in `{LORA_DIR}/`"
        lines.append(f"| LoRA | r {conf.get('r')}, alpha {conf.get('alpha')} on "
                     f"{', '.join(conf.get('target_modules', []))}: {where} | {_millions(counts['lora'])} |")
    lines += [
        "",
        f"Front end: {feats['feature_type']} ({feats['num_mel_bins']} bins, {feats['frame_length']:g} ms windows "
        f"every {feats['frame_shift']:g} ms) of {feats['sample_rate']} Hz mono audio; other rates are resampled.",
        "",
        "Prompt templates (`<speech>` is where the adapter's vectors go):",
        "",
        "| task | template |",
        "| :--- | :--- |",
    ]
    lines += [f"| {task} | `{template}` |" for task, template in exported["prompts"].items()]
    lines += ["", "## Training data", ""]
    if data.get("source"):
        lines.append(f"Recipe `{training['recipe']}`; the data was read from `{data['source']}`.")
    else:
        lines.append("Not recorded (the training data was not on disk at export time).")
    lines.append("")
    if data.get("hours"):
        lines += ["| language | utterances | hours |", "| :--- | ---: | ---: |"]
        lines += [f"| {lang} | {data['utterances'].get(lang, '')} | {hours:.3g} |"
                  for lang, hours in data["hours"].items()]
        lines.append("")
    names = {"asr": "ASR languages", "s2tt": "speech translation directions", "mt": "text translation directions"}
    for task, found in langs.items():
        lines.append(f"- {names.get(task, task)}: {', '.join(found)}")
    lines += ["", "## Training schedule", "",
              "Every phase trains with next-token NLL on the targets; phases differ in which parameters train "
              "and which tasks are mixed (each starts from the previous one's model).", "",
              "| phase | epochs | trainable | tasks | learning rate |", "| :--- | ---: | :--- | :--- | ---: |"]
    for p in training["phases"]:
        epochs = p["max_epoch"]
        if p.get("num_iters_per_epoch"):
            epochs = f"{epochs} x {p['num_iters_per_epoch']} updates"
        lines.append(f"| {p['phase']} | {epochs} | {_epochs(p['trainable']) or 'everything'} | "
                     f"{_epochs(p['tasks']) or 'all'} | {p['lr']} |")
    lines += ["", "## Scores", ""]
    if scores:
        lines += [f"From `{training['results_file']}`:", ""]
        for section in scores:
            lines += ["#" + section, ""]
    elif training["results_file"]:
        lines += [f"`{training['results_file']}` reports no decode dir of `{exp}`.", ""]
    else:
        lines += ["No scores were found (export with `--results RESULTS.md` to include them).", ""]
    decoding = exported["decoding"]
    lines += [
        "## Use",
        "",
        "Needs the `part` toolkit installed (torch, transformers, peft, and the `espnet` package for the "
        "Conformer encoder class); nothing else — not the recipe, not the original LLM folder.",
        "",
        "```sh",
        "python -m part.bin.transcribe . audio.wav --task asr --lang " + (langs.get("asr") or ["en"])[0],
        "python -m part.bin.transcribe . talks/ --task s2tt --lang "
        + ((langs.get("s2tt") or ["de-en"])[0].replace("-", " --tgt ")) + " --format srt --output subtitles/",
        "```",
        "",
        "```python",
        "from part.inference import SpeechToText",
        "s2t = SpeechToText.from_pretrained(\"<this folder>\")",
        f"s2t.transcribe(\"audio.wav\", lang=\"{(langs.get('asr') or ['en'])[0]}\")",
        "```",
        "",
        "Decoding defaults (from stage 7 of the training run): "
        + ", ".join(f"{k} {v}" for k, v in decoding.items()) + ".",
        "",
        "## Provenance",
        "",
        f"- experiment: `{exp}`, model file `{training['model_file']}`; prompts from `{training['prompts_file']}`",
        f"- git revision recorded with the results: {training['git_revision'] or 'not recorded'}",
        f"- exported {training['exported_at']} with part {training['exported_with'] or '(not a git work tree)'}",
        "",
    ]
    return "\n".join(lines)
