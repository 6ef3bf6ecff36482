"""Why PART's phase 3 costs ASR accuracy in the embedded recipe: phase 3 re-trained from one finished
phase 2 with one setting changed at a time, every variant decoded and scored on the dev set (never the
test set), as docs/phase3_study.md reports.

    ./run_all.sh                                        # a finished seed-1 PART run (phase 2 is reused)
    python bench/phase3_study.py --recipe_dir egs/mini_multilingual [--variants lr_3e-5,no_mt] [--epochs] \
        [--baseline_variants default,lr_3e-5]

Each variant's phase-3 config is ``conf/part/phase3.yaml`` with the study's starting point
(:data:`STUDY_BASE`) and the variant's changes (:data:`VARIANTS`), written to
``<study dir>/conf/<variant>/phase3.yaml``; the recipe then trains it (stage 6, from the
seed-1 PART phase 2 and the same LLM and encoder), decodes the dev set (stage 7) and scores it (stage 8),
in ``<recipe>/exp_phase3_study/part_<variant>/``. A variant already trained is skipped. With
``--epochs`` every epoch of the ``average4`` variant (which keeps them all) is decoded too
(``<N>epoch.pth``): does the model selection (valid accuracy on a fixed dev mix) pick the best epoch?

Prints a Markdown table (dev ASR error, BLEU, the valid accuracy of the selected epoch) and draws
``--figure``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from part.scoring.phases import bleu_average  # noqa: E402
from part.scoring.results import find_runs, run_average  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# The last phase's settings before the study (its learning rate was then 1e-4 in both methods); every
# variant starts from them, so the study reproduces after the configs took its result (3e-5).
STUDY_BASE = {"optim_conf.lr": 1.0e-4}
# name -> (what it tests, changes to STUDY_BASE; a dotted key reaches into a mapping)
VARIANTS: Dict[str, tuple] = {
    "default": ("the last phase's config before the study (learning rate 1e-4)", {}),
    "no_lora": ("the same data mix with the LLM frozen: what LoRA itself does",
                {"schedule_conf.trainable": {1: ["adapter", "encoder"]}, "lora_conf": {}}),
    "lora_only_asr": ("LoRA, ASR only: does activating the LLM hurt ASR by itself?",
                      {"schedule_conf.tasks": {1: ["asr"]}}),
    "no_mt": ("no text-only translation: a larger ASR share (37.5% of the batches; 27% with mt from epoch 2)",
              {"schedule_conf.tasks": {1: ["asr", "s2tt"]}}),
    "frozen_encoder": ("encoder frozen: translation gradients cannot move the encoder",
                       {"schedule_conf.trainable": {1: ["adapter", "llm_lora"]}}),
    "lr_3e-5": ("a 3x lower learning rate", {"optim_conf.lr": 3.0e-5}),
    "lr_3e-4": ("a 3x higher learning rate", {"optim_conf.lr": 3.0e-4}),
    "lora_r4": ("LoRA rank 4 instead of 8", {"lora_conf.r": 4, "lora_conf.alpha": 8}),
    "lora_r16_all": ("LoRA rank 16 on every projection of attention and MLP",
                     {"lora_conf.r": 16, "lora_conf.alpha": 32,
                      "lora_conf.target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                   "down_proj"]}),
    "average4": ("every epoch kept; the model is the average of the 4 epochs (with --epochs: each epoch decoded)",
                 {"keep_nbest_models": 4}),
}


def apply_changes(conf: dict, changes: dict) -> dict:
    out = copy.deepcopy(conf)
    for key, value in changes.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    if "lora_conf" in changes and not changes["lora_conf"]:
        out.pop("lora_conf")
    return out


def run(cmd: List[str], cwd: Path, log: Path) -> None:
    print("+", " ".join(cmd), flush=True)
    with log.open("a", encoding="utf-8") as f:
        proc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")


def decode(phase_dir: Path, model_file: str, out_prefix: Path, recipe: Path, log: Path) -> None:
    """Decode and score the dev set with one model file of a phase (skipped when scored already)."""
    if all((Path(f"{out_prefix}_{task}") / "scores.json").is_file() for task in ("asr", "s2tt")):
        return
    run(["python", "-m", "part.bin.part_inference", "--exp_dir", str(phase_dir), "--model_file", model_file,
         "--data_dir", "dump/examples/dev", "--tasks", "asr,s2tt", "--out_prefix", str(out_prefix), "--nj", "2"],
        recipe, log)
    for task in ("asr", "s2tt"):
        run(["python", "-m", "part.bin.part_score", "--decode_dir", f"{out_prefix}_{task}", "--lid_data",
             "data/train"], recipe, log)


def dev_scores(prefix: Path) -> Dict[str, Optional[float]]:
    """Dev ASR error and BLEU of the decode dirs ``<prefix>_asr`` and ``<prefix>_s2tt``."""
    runs = {r.task: r for r in find_runs(prefix.parent) if r.path.name in (f"{prefix.name}_asr", f"{prefix.name}_s2tt")}
    asr, s2tt = runs.get("asr"), runs.get("s2tt")
    return {"error": run_average(asr) if asr else None, "bleu": bleu_average(s2tt) if s2tt else None,
            "xx_en": bleu_average(s2tt, "xx→en") if s2tt else None,
            "en_xx": bleu_average(s2tt, "en→xx") if s2tt else None}


def train_variant(recipe: Path, study: Path, method: str, phase: str, base: Path, name: str, what: str,
                  changes: dict, adapter_args: str, log: Path):
    """Train ``phase`` of ``method`` with ``conf/<method>/<phase>.yaml`` changed by ``changes``, from the
    phases before it in ``base``; decode and score dev. Returns the table row."""
    conf = yaml.safe_load((recipe / "conf" / method / f"{phase}.yaml").read_text(encoding="utf-8"))
    conf_dir = study / "conf" / (name if method == "part" else f"{method}_{name}")
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / f"{phase}.yaml").write_text(
        f"# {method} {phase}, study variant '{name}': {what} (bench/phase3_study.py)\n"
        + yaml.safe_dump(apply_changes(apply_changes(conf, STUDY_BASE), changes), sort_keys=False), encoding="utf-8")
    method_dir = study / f"{method}_{name}"
    method_dir.mkdir(exist_ok=True)
    n = int(phase[len("phase"):])
    for before in range(1, n):
        link = method_dir / f"phase{before}"
        if not link.exists():
            link.symlink_to(base / f"phase{before}")
    stage = n + 3
    run(["./run.sh", "--size", "default", "--method", method, "--seed", "1", "--expdir", "exp_phase3_study",
         "--llm_path", "exp/llm", "--encoder_path", "exp/encoder", "--test_sets", "dev", "--train_args", adapter_args,
         "--score_args", "--lid_data data/train", "--exp_tag", f"_{name}",
         "--train_config_dir", str(conf_dir.relative_to(recipe)), "--inference_phases", phase,
         "--stage", str(stage), "--stop_stage", "8"], recipe, log)
    acc = valid_acc(method_dir / phase)
    best = max(acc, key=acc.get) if acc else None
    return name if method == "part" else f"baseline {name}", what, dev_scores(method_dir / phase / "decode_dev"), \
        (best, acc[best]) if best else None


def valid_acc(phase_dir: Path) -> Dict[int, float]:
    """Valid accuracy per epoch, from ESPnet's log lines ``<N>epoch results: ... [valid] ... acc=0.8``."""
    out = {}
    for line in (phase_dir / "train.log").read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.search(r"(\d+)epoch results: .*\[valid\].*?\bacc=([0-9.]+)", line)
        if m:
            out[int(m.group(1))] = float(m.group(2))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe_dir", default=str(REPO / "egs" / "mini_multilingual"))
    parser.add_argument("--base", default="exp/part_ctc_posterior_seed1",
                        help="the finished PART run whose phase 2 every variant starts from (relative to the recipe)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--epochs", action="store_true", help="also decode every epoch of the average4 variant")
    parser.add_argument("--baseline_variants", default="",
                        help="VARIANTS applied to Baseline-2stage's last phase (phase 2) instead, from its seed-1 "
                             "phase 1 (e.g. default,lr_3e-5)")
    parser.add_argument("--figure", default=str(REPO / "docs" / "figures" / "phase3_study.png"))
    args = parser.parse_args()
    recipe = Path(args.recipe_dir).resolve()
    base = recipe / args.base
    for need in (base / "phase2" / "valid.acc.ave.pth", recipe / "exp" / "llm", recipe / "exp" / "encoder"):
        if not need.exists():
            sys.exit(f"{need} is missing: run ./run_all.sh first (the study starts from its seed-1 PART phase 2)")
    study = recipe / "exp_phase3_study"
    study.mkdir(exist_ok=True)
    log = study / "study.log"
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}")
    adapter_args = (recipe / "conf" / "adapter_ctc_posterior.args").read_text().strip()
    rows = []
    # The starting point: PART phase 2 on dev (decoded into the study dir: the base run stays as it is).
    start = study / "part_phase2_start"
    decode(base / "phase2", "valid.acc.ave.pth", start / "decode_dev", recipe, log)
    rows.append(("phase2 (start)", "PART phase 2, before phase 3", dev_scores(start / "decode_dev"), None))
    for name in names:
        what, changes = VARIANTS[name]
        rows.append(train_variant(recipe, study, "part", "phase3", base, name, what, changes, adapter_args, log))
    if args.baseline_variants:
        # The same knob for the baseline's last phase, so that neither method is tuned and the other not.
        baseline = recipe / args.base.replace("part", "baseline", 1)
        for name in args.baseline_variants.split(","):
            what, changes = VARIANTS[name]
            rows.append(train_variant(recipe, study, "baseline", "phase2", baseline, name, f"baseline: {what}",
                                      changes, adapter_args, log))
    if args.epochs and "average4" in names:
        phase_dir = study / "part_average4" / "phase3"
        acc = valid_acc(phase_dir)
        for epoch in sorted(acc):
            decode(phase_dir, f"{epoch}epoch.pth", phase_dir / f"decode_dev_epoch{epoch}", recipe, log)
            scores = dev_scores(phase_dir / f"decode_dev_epoch{epoch}")
            rows.append((f"epoch {epoch}", f"valid acc {acc[epoch]:.4f} (on the fixed dev mix)", scores, None))
    print("\n| variant | what it tests | dev ASR error (%) | dev BLEU | xx→en | en→xx | selected epoch (valid acc) |")
    print("| :--- | :--- | ---: | ---: | ---: | ---: | ---: |")
    for name, what, s, sel in rows:
        cells = ["–" if s[k] is None else f"{s[k]:.2f}" for k in ("error", "bleu", "xx_en", "en_xx")]
        print(f"| {name} | {what} | " + " | ".join(cells) + f" | {'' if not sel else f'{sel[0]} ({sel[1]:.4f})'} |")
    (study / "study.json").write_text(json.dumps([{"variant": n, "what": w, "dev": s, "selected": sel}
                                                  for n, w, s, sel in rows], indent=1), encoding="utf-8")
    draw(rows, Path(args.figure))
    return 0


def draw(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r[2]["error"] is not None and r[2]["bleu"] is not None]
    fig, ax = plt.subplots(figsize=(7, 5))
    for name, _, s, _ in rows:
        marker = "s" if name.startswith("phase2") else "^" if "epoch" in name else "x" if "baseline" in name else "o"
        ax.scatter(s["error"], s["bleu"], marker=marker)
        ax.annotate(name, (s["error"], s["bleu"]), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("dev ASR error (%, lower is better)")
    ax.set_ylabel("dev S2TT BLEU (higher is better)")
    ax.set_title("Last-phase variants (o: PART phase 3 from one phase 2; x: Baseline-2stage phase 2;\n"
                 "triangles: single epochs of average4; seed 1, dev set)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
