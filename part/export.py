"""A trained PART model as one self-contained folder (Hugging Face conventions): writing it and loading it.

:func:`export_model` turns a training phase (``exp/part_seed1/phase3`` + its model file) into::

    <out_dir>/config.json        what rebuilds the model and its input: format, encoder/adapter/LLM options
                                 (no paths), front end, prompt templates, decoding defaults, languages seen
                                 in training, and where the model came from
    <out_dir>/model.safetensors  encoder + adapter weights (the global CMVN statistics are buffers in it)
    <out_dir>/llm/               the LLM (LoRA merged into its weights by default) and its tokenizer,
                                 written with ``save_pretrained``
    <out_dir>/lora/              only with ``merge_lora=False``: the LoRA adapter (peft ``save_pretrained``),
                                 applied to ``llm/`` with ``PeftModel.from_pretrained`` when loading
    <out_dir>/README.md          the model card: model, training data, phase schedule, scores, usage

The frozen base LLM weights, which checkpoints leave out, are read from the training run's ``llm_path``
while exporting; afterwards the folder needs nothing else — not the recipe, not the original LLM folder,
not ESPnet's task code. :func:`load_exported` rebuilds the model from it with the same builders training
uses (:func:`part.model.factory.assemble_speech_llm`); the Conformer encoder class itself comes from the
installed ``espnet2`` package, a dependency of the toolkit.
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
from dataclasses import asdict, fields
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import yaml

FORMAT_NAME = "part-speech-llm"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
LLM_DIR = "llm"
LORA_DIR = "lora"
CARD = "README.md"
# Encoder options that only matter while training (augmentation) or name files of the training machine.
_TRAINING_ONLY_ENCODER_OPTIONS = ("stats_file", "specaug")


class ExportError(Exception):
    """An experiment that cannot be exported, or a folder that is not an exported model; says what to do."""


# ---------------------------------------------------------------------------------------------- writing
def export_model(exp_dir: str, out_dir: str, model_file: str = "valid.acc.ave.pth", merge_lora: bool = True,
                 prompts: Optional[str] = None, results: Optional[str] = None, llm_path: Optional[str] = None,
                 overwrite: bool = False) -> Path:
    """Write the exported folder of ``exp_dir/model_file`` to ``out_dir`` (see the module doc); returns it.

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
            "exported_with": _toolkit_revision(),
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
                              "teach part/export.py's portable_encoder_conf to carry it")
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


# ------------------------------------------------------------------------ what the experiment knows
def find_prompts(exp: Path, given: Optional[str]) -> Path:
    """The prompt templates: ``given``, the training config's ``prompts`` (shard training), or
    ``conf/prompts.yaml`` of the recipe (a directory above the experiment dir)."""
    from part.inference import resolve_config_path

    if given:
        if not Path(given).is_file():
            raise ExportError(f"--prompts {given}: no such file")
        return Path(given)
    config = _read_yaml(exp / "config.yaml")
    if config.get("prompts"):
        path = Path(resolve_config_path(config["prompts"], exp))
        if path.is_file():
            return path
    for parent in exp.resolve().parents:
        if (parent / "conf" / "prompts.yaml").is_file():
            return parent / "conf" / "prompts.yaml"
    raise ExportError(f"no prompt templates found for {exp} (no conf/prompts.yaml above it): pass --prompts "
                      "with the recipe's conf/prompts.yaml")


def _train_example_list(config: Mapping, exp: Path) -> Optional[Path]:
    """The training example list (dump/examples/<set>) named in the config, if it is still on disk."""
    from part.inference import resolve_config_path

    for entry in config.get("train_data_path_and_name_and_type") or []:
        path, name = entry[0], entry[1]
        if name == "speech":
            folder = Path(resolve_config_path(str(Path(path).parent), exp))
            return folder if (folder / "utt2category").is_file() else None
    return None


def check_prompts_match(templates: Mapping[str, str], prompts_file: Path, config: Mapping, exp: Path) -> None:
    """The templates must render the prompts the model was trained on (checked on the training example
    list, when it is still there): a wrong ``--prompts`` would make a model that decodes garbage."""
    from part.data.examples import read_kv
    from part.data.prompts import escape, render

    data = _train_example_list(config, exp)
    if data is None:
        return
    cats, langs, tgts = (read_kv(data / n) for n in ("utt2category", "utt2lang", "utt2tgt"))
    stored = read_kv(data / "prompt")
    seen = set()
    for eid, task in cats.items():
        if task in seen or task == "mt":  # an mt prompt holds its source text: speech tasks suffice
            continue
        seen.add(task)
        if task not in templates:
            raise ExportError(f"{prompts_file} has no '{task}' template, but {data} trains on '{task}' examples")
        expected = escape(render(templates[task], langs[eid], tgts[eid]))
        if stored[eid] != expected:
            raise ExportError(f"{prompts_file}: the '{task}' template gives {expected!r}, but the model was trained "
                              f"on {stored[eid]!r} ({data / 'prompt'}, example {eid}): pass the recipe's own "
                              "prompts with --prompts")


def phase_history(exp: Path) -> List[dict]:
    """The phases that led to ``exp`` (``phase1`` ... this one, siblings in the method dir), each with its
    schedule and budget from its config.yaml."""
    match = re.fullmatch(r"(.*?)(\d+)", exp.name)
    dirs = [exp]
    if match:
        stem, last = match.group(1), int(match.group(2))
        dirs = [exp.parent / f"{stem}{n}" for n in range(1, last + 1)
                if (exp.parent / f"{stem}{n}" / "config.yaml").is_file()]
    history = []
    for d in dirs:
        conf = _read_yaml(d / "config.yaml")
        schedule = conf.get("schedule_conf") or {}
        history.append({
            "phase": d.name,
            "max_epoch": conf.get("max_epoch"),
            "trainable": {int(k): list(v) for k, v in (schedule.get("trainable") or {}).items()},
            "tasks": {int(k): list(v) for k, v in (schedule.get("tasks") or {}).items()},
            "lora": bool(conf.get("lora_conf")),
            "optim": conf.get("optim"),
            "lr": (conf.get("optim_conf") or {}).get("lr"),
            "num_iters_per_epoch": conf.get("num_iters_per_epoch"),
            "batch_size": conf.get("batch_size"),
        })
    return history


def training_data(config: Mapping, exp: Path, phases: List[dict]) -> dict:
    """What the model was trained on: ``languages`` ({task: languages or src-tgt directions}), and where
    they were read from, with hours and utterances per language when the training data is still there.

    Read from the training example list (utt2category, utt2lang, utt2tgt, utt2utt, speech_shape) or the
    packed shard set's index; failing both, from the experiment's own decode dirs (then the languages
    are those it was tested on). Only the tasks that some phase's schedule mixed in count.
    """
    from part.data.examples import direction_matches, read_kv
    from part.data.features import FRAME_SHIFT_S
    from part.data.prompts import TASKS
    from part.inference import resolve_config_path

    scheduled = set().union(*[set(t) for p in phases for t in p["tasks"].values()]) if phases else set()
    if any(not p["tasks"] for p in phases):
        scheduled = set()  # a phase without a task schedule used every task of its data

    def keep(task: str) -> bool:
        return not scheduled or task in scheduled

    pairs: Dict[str, set] = {}
    seconds: Dict[str, float] = {}
    utts: Dict[str, int] = {}
    source = None
    data = _train_example_list(config, exp)
    if data is not None:
        source = str(data)
        cats, langs, tgts = (read_kv(data / n) for n in ("utt2category", "utt2lang", "utt2tgt"))
        utt_of = read_kv(data / "utt2utt") if (data / "utt2utt").is_file() else {}
        shapes = read_kv(data / "speech_shape") if (data / "speech_shape").is_file() else {}
        counted = set()
        for eid, task in cats.items():
            if keep(task):
                pairs.setdefault(task, set()).add((langs[eid], tgts[eid]))
            utt = utt_of.get(eid, eid)
            if task != "mt" and utt not in counted and eid in shapes:
                counted.add(utt)
                lang = langs[eid]
                seconds[lang] = seconds.get(lang, 0.0) + int(shapes[eid].split(",")[0]) * FRAME_SHIFT_S
                utts[lang] = utts.get(lang, 0) + 1
    elif config.get("train_shards"):
        from part.data.shards import ShardSet

        root = Path(resolve_config_path(config["train_shards"], exp))
        if (root / "index.json").is_file():
            source = str(root)
            shards = ShardSet(root, check_files=False)
            conf = config.get("data_conf") or {}
            directions = list(conf.get("directions") or ["*-en", "en-*"])
            tasks = [t for t in (conf.get("tasks") or ["asr", "s2tt", "mt"]) if keep(t)]
            for shard in shards.shards:
                seconds[shard.lang] = seconds.get(shard.lang, 0.0) + shard.seconds
                utts[shard.lang] = utts.get(shard.lang, 0) + shard.utts
                if "asr" in tasks:
                    pairs.setdefault("asr", set()).add((shard.lang, shard.lang))
                for tgt, n in shard.translations.items():
                    if n and tgt != shard.lang and direction_matches(directions, shard.lang, tgt):
                        for task in ("s2tt", "mt"):
                            if task in tasks:
                                pairs.setdefault(task, set()).add((shard.lang, tgt))
    if source is None:  # the training data is gone: the languages the experiment was tested on
        for decode in sorted(exp.glob("decode_*")):
            if (decode / "task").is_file() and (decode / "utt2lang").is_file():
                task = (decode / "task").read_text(encoding="utf-8").strip()
                langs = read_kv(decode / "utt2lang")
                tgts = read_kv(decode / "utt2tgt") if (decode / "utt2tgt").is_file() else langs
                pairs.setdefault(task, set()).update((langs[k], tgts.get(k, langs[k])) for k in langs)
                source = f"test sets decoded in {exp} (the training data is no longer there)"
    if source is None:
        logging.warning("%s: neither its training data nor decoding results are on disk: the exported model "
                        "will not know its languages (any language is accepted)", exp)
    languages = {task: sorted({s if task == "asr" else f"{s}-{t}" for s, t in pairs[task]})
                 for task in TASKS if task in pairs}
    return {"languages": languages, "source": source,
            "hours": {lang: round(s / 3600, 3) for lang, s in sorted(seconds.items())},
            "utterances": dict(sorted(utts.items()))}


def decoding_defaults(exp: Path) -> dict:
    """The search options stage 7 decoded this phase with (its decode_info.json files, when they agree),
    else :class:`part.inference.DecodeOptions`' defaults."""
    from part.inference import DecodeOptions

    names = [f.name for f in fields(DecodeOptions)]
    found = []
    for info in sorted(exp.glob("decode_*/decode_info.json")):
        options = json.loads(info.read_text(encoding="utf-8")).get("options") or {}
        found.append({k: options[k] for k in names if k in options})
    unique = {json.dumps(o, sort_keys=True) for o in found}
    if len(unique) > 1:
        logging.warning("%s: its decode dirs used different search options; the exported model gets the defaults",
                        exp)
    return asdict(DecodeOptions(**found[0])) if len(unique) == 1 else asdict(DecodeOptions())


def find_results(exp: Path, given: Optional[str]) -> Optional[Path]:
    """``given``, or the nearest RESULTS.md in a directory above ``exp`` that reports this experiment."""
    if given:
        if not Path(given).is_file():
            raise ExportError(f"--results {given}: no such file")
        return Path(given)
    for parent in exp.resolve().parents:
        candidate = parent / "RESULTS.md"
        if candidate.is_file() and _sections_for(candidate.read_text(encoding="utf-8"), exp):
            return candidate
    return None


def _sections_for(report: str, exp: Path) -> List[str]:
    """The detail sections of a RESULTS.md (``### set / task: system``) whose decode dir lies in ``exp``."""
    tail = f"{exp.resolve().parent.name}/{exp.name}/decode_"
    sections = re.split(r"^(?=### )", report.split("\n## Details", 1)[-1], flags=re.M)
    out = []
    for section in sections[1:]:
        section = re.split(r"^## ", section, flags=re.M)[0].rstrip()
        path = re.search(r"^`([^`]+)`$", section, re.M)
        if path and tail in path.group(1).replace(os.sep, "/"):
            out.append(section)
    return out


def scores_sections(results_file: Optional[Path], exp: Path) -> List[str]:
    return _sections_for(results_file.read_text(encoding="utf-8"), exp) if results_file else []


def recorded_revision(results_file: Optional[Path]) -> Optional[str]:
    """The git revision a RESULTS.md recorded (the code that scored, and in a recipe run trained, the model)."""
    if not results_file:
        return None
    found = re.search(r"^- git revision: (.+)$", results_file.read_text(encoding="utf-8"), re.M)
    return found.group(1).strip() if found else None


def recipe_name(exp: Path) -> str:
    """The recipe an experiment dir belongs to (``<recipe>/<expdir>/<method>/<phase>``, docs/contracts.md),
    from ``egs/`` on when it lies in a repository's ``egs``."""
    parents = exp.resolve().parents
    recipe = parents[2] if len(parents) > 2 else parents[0]
    return "/".join(recipe.parts[recipe.parts.index("egs"):]) if "egs" in recipe.parts else str(recipe)


def _toolkit_revision() -> Optional[str]:
    from part.scoring.results import git_revision

    return git_revision(Path(__file__).parent)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ExportError(f"{path} not found: is '{path.parent}' a trained experiment dir?")
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


# ---------------------------------------------------------------------------------------------- the card
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


# ---------------------------------------------------------------------------------------------- reading
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
