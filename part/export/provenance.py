"""What an experiment dir tells about its model, for the exported folder and its card: the prompt
templates (checked against the training examples), the phases that led to it, the data it was trained
on, the search options it was decoded with, its scores in RESULTS.md and the code revisions."""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, fields
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import yaml

from part.export.folder import ExportError


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


def toolkit_revision() -> Optional[str]:
    from part.scoring.provenance import git_revision

    return git_revision(Path(__file__).parent)


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ExportError(f"{path} not found: is '{path.parent}' a trained experiment dir?")
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f) or {}
