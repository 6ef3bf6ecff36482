"""A new corpus as a new recipe: egs/TEMPLATE/setup.sh makes egs/<name>/ for a corpus in the generic layout
(a folder of audio files and TSVs ``id path text lang [speaker] [translation_<tgt>]``), refuses to overwrite
a recipe, names the variable to set when the corpus root is missing or wrong, and the new recipe runs end to
end (Welsh, a language no other recipe uses) with tiny models on CPU.

Everything happens in a scratch workspace (egs/TEMPLATE and utils/ are links into the checkout), so no
recipe is created in the checkout itself.
"""
from __future__ import annotations

import filecmp
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
    check_scores,
    make_chat_llm,
    make_tiny_whisper,
    results_md,
    run_recipe,
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
    defaults = REPO / "egs" / "multilingual" / "conf"
    assert not filecmp.dircmp(recipe / "conf", defaults).diff_files
    assert "WELSH=${WELSH:-}" in (recipe / "db.sh").read_text()
    assert '--test_sets "test_welsh"' in (recipe / "run.sh").read_text()
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
    assert setup_sh(egs).returncode == 2
    assert setup_sh(egs, "--help").returncode == 0


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


@pytest.mark.slow
def test_new_corpus_end_to_end(tmp_path):
    """setup.sh, then the new Welsh recipe through stage 8: PART on a tiny Whisper encoder and a tiny LLM."""
    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "welsh").returncode == 0
    corpus = make_welsh_corpus(tmp_path / "welsh")
    llm = make_chat_llm(tmp_path / "llm", [t for rows in WELSH.values() for _, w, e in rows for t in (w, e)])
    whisper = make_tiny_whisper(tmp_path / "whisper")
    recipe = egs / "welsh"
    run_recipe(recipe, tiny_args(llm, whisper=whisper), {"WELSH": str(corpus)})
    check_scores(recipe, "part/phase3", {"decode_test_welsh_asr": ["score_wer/cy"],
                                         "decode_test_welsh_s2tt": ["score_bleu/cy-en"]})
    assert "cy" in results_md(recipe).read_text(encoding="utf-8")
