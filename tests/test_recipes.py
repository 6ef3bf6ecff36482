"""The recipes for real corpora (egs/{commonvoice,fleurs,wenetspeech,covost2,multilingual}) run end to end
on tiny corpora in the releases' layouts (tests/fixtures_corpora.py), with tiny models on CPU: a random
Qwen2 LLM whose tokenizer is trained on the fixture's transcripts (--llm_path), and either a tiny Whisper
encoder from a local directory (--whisper_path: Whisper features in stage 2, no encoder pretraining) or the
in-recipe Conformer pretraining of stage 3 with a tiny --encoder_config. Also: stage 2's Whisper features
(--feature_type whisper) and one training step of a tiny Whisper encoder on them; and, without training,
what run.sh offers over egs/TEMPLATE/part.sh: --help with the recipe's own options and values, the recipe's
options reaching local/data.sh, models checked only by the stages that use them (a GGUF LLM directory too),
shared configuration that lives once in egs/TEMPLATE/conf.

The recipes run in a scratch workspace whose egs/<recipe>/ links to the recipe's files, so nothing is
written into the checkout. Other test modules reuse the helpers (tests/test_new_corpus.py).
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures_corpora import (  # noqa: E402
    make_all,
    make_commonvoice,
    make_covost2,
    make_fleurs,
    make_wenetspeech,
    write_audio,
)

REPO = Path(__file__).resolve().parents[1]
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NLTK_DATA": str(REPO / "tools" / "nltk_data"),
       "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
for _key, _value in ENV.items():
    if _key != "PYTHONWARNINGS":
        os.environ.setdefault(_key, _value)

# Every training phase: two updates of batch 2, one epoch, no plots; the paper's adapter shrunk to width 32.
# (accum_grad 1: with the configs' accum_grad 4, two updates would never step the optimizer.)
TINY_BUDGET_ARGS = ("--num_iters_per_epoch 2 --batch_size 2 --data_conf max_duration=6 --accum_grad 1 --max_epoch 1 "
                    "--num_workers 0 --use_tensorboard false --use_matplotlib false --keep_nbest_models 1")
TINY_TRAIN_ARGS = (TINY_BUDGET_ARGS + " --speech_adapter_conf d_model=32 --speech_adapter_conf num_heads=2 "
                   "--speech_adapter_conf ffn_dim=64")
# The in-recipe Conformer (stage 3): 4 blocks, as stage 2 first unfreezes the last 4.
TINY_ENCODER_YAML = """model_type: ctc_encoder
encoder: conformer
encoder_conf: {output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 4, input_layer: conv2d,
               cnn_module_kernel: 3}
schedule_conf: {tasks: {1: [asr]}}
optim: adam
batch_type: folded
batch_size: 2
fold_length: [1000]
max_epoch: 1
best_model_criterion: [[valid, loss, min]]
keep_nbest_models: 1
num_workers: 0
"""
TINY_WHISPER = dict(d_model=32, encoder_layers=4, encoder_attention_heads=2, encoder_ffn_dim=64, decoder_layers=1,
                    decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=80, max_source_positions=100,
                    max_target_positions=32, vocab_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                    decoder_start_token_id=1, begin_suppress_tokens=None, suppress_tokens=None)
CHAT_TOKENS = ["<|im_start|>", "<|im_end|>"]


# ----------------------------------------------------------------------------------------------------
# Helpers (also used by tests/test_new_corpus.py)


def recipe_workspace(root: Path, recipe: str, egs: Path = REPO / "egs") -> Path:
    """``root/egs/<recipe>`` with links to the files of ``egs/<recipe>`` (and to TEMPLATE and utils)."""
    work = Path(root)
    (work / "egs" / recipe).mkdir(parents=True)
    (work / "egs" / "TEMPLATE").symlink_to(REPO / "egs" / "TEMPLATE")
    (work / "utils").symlink_to(REPO / "utils")
    for entry in (egs / recipe).iterdir():
        if entry.name not in ("data", "dump", "exp", "RESULTS.md"):
            (work / "egs" / recipe / entry.name).symlink_to(entry)
    return work / "egs" / recipe


def make_chat_llm(out_dir: Path, texts: Iterable[str], vocab_size: int = 300) -> Path:
    """A random tiny Qwen2 LLM whose tokenizer is trained on ``texts``, with Qwen2.5-Instruct's chat tokens
    (<|im_end|> is its EOS, as in Qwen2.5-Instruct): a stand-in for a local Qwen2.5 directory."""
    import torch

    from part.bin.pretrain_llm import build_model, train_tokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [{"text": text} for text in texts if text.strip()]
    tokenizer = train_tokenizer(rows, ["text"], vocab_size, out_dir)
    tokenizer.add_tokens(CHAT_TOKENS, special_tokens=True)
    tokenizer.eos_token = "<|im_end|>"
    torch.manual_seed(0)
    model = build_model(dict(hidden_size=32, intermediate_size=64, num_layers=1, num_heads=2, num_kv_heads=1),
                        tokenizer)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


def make_tiny_whisper(out_dir: Path) -> Path:
    """A random Whisper model (80 mel bins, 4 encoder layers of width 32) saved as a local HF directory."""
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**TINY_WHISPER)).save_pretrained(str(out_dir))
    return Path(out_dir)


def run_recipe(recipe_dir: Path, args: List[str], env: Dict[str, str], timeout: int = 900
               ) -> subprocess.CompletedProcess:
    """``./run.sh args`` in ``recipe_dir``; on failure the assertion shows the end of its log."""
    start = time.time()
    proc = subprocess.run(["bash", "./run.sh", *args], cwd=recipe_dir, env={**os.environ, **ENV, **env},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    (recipe_dir / "run.log").write_text(proc.stdout, encoding="utf-8")
    assert proc.returncode == 0, f"./run.sh {' '.join(args)} failed:\n{proc.stdout[-6000:]}"
    print(f"{recipe_dir.name}: ./run.sh {' '.join(args[:4])} ... took {time.time() - start:.0f} s")
    return proc


def tiny_args(llm: Optional[Path], whisper: Optional[Path] = None, encoder_yaml: Optional[Path] = None,
              method: str = "part", stop_stage: int = 8, stage: int = 1) -> List[str]:
    """Options of a recipe's run.sh for a tiny CPU run of stages ``stage``..``stop_stage`` (no --llm_path
    with ``llm`` None: stages 1-2 need none)."""
    args = ["--method", method, "--stage", str(stage), "--stop_stage", str(stop_stage), "--nj", "1",
            "--train_args", TINY_TRAIN_ARGS, "--inference_args", "--max_new_tokens 4 --batch_size 8"]
    if llm is not None:
        args += ["--llm_path", str(llm)]
    if whisper is not None:
        args += ["--whisper_path", str(whisper)]
    if encoder_yaml is not None:
        args += ["--encoder_config", str(encoder_yaml)]
    return args


def results_md(recipe_dir: Path) -> Path:
    """The report of stage 8: <expdir>/RESULTS.md (RESULTS.md in the recipe dir in earlier versions)."""
    path = recipe_dir / "exp" / "RESULTS.md"
    return path if path.is_file() else recipe_dir / "RESULTS.md"


def check_scores(recipe_dir: Path, method_stage: str, expected: Dict[str, List[str]]) -> None:
    """RESULTS.md names every test set, and each decode dir has the per-language (direction) scores.

    ``expected``: decode dir name (``decode_<set>_<task>``) -> score dirs (``score_wer/de``, ``score_bleu/de-en``).
    """
    results = results_md(recipe_dir).read_text(encoding="utf-8")
    for decode, scores in expected.items():
        d = recipe_dir / "exp" / method_stage / decode
        assert (d / "scores.json").is_file(), f"{d}: not scored"
        found = sorted(str(p.relative_to(d)) for p in d.glob("score_*/*") if p.is_dir())
        assert found == sorted(scores), f"{d}: score dirs {found}, expected {sorted(scores)}"
        for score in scores:
            if score.startswith("score_bleu"):
                assert (d / score / "bleu").is_file()
            else:
                assert {"ref.trn", "hyp.trn", "result.txt", "wer"} <= {p.name for p in (d / score).iterdir()}
        test_set = decode[len("decode_"):].rsplit("_", 1)[0]
        assert test_set in results, f"RESULTS.md does not mention {test_set}"


def check_whisper_route(recipe_dir: Path, method: str, stages: Iterable[str]) -> None:
    """Stage 2 packed shards and estimated Whisper-feature statistics; no encoder was pretrained; every phase
    used the Whisper encoder and computed Whisper's log-mel features on the fly."""
    import yaml

    done = json.loads((recipe_dir / "dump" / "raw" / "train" / "stats" / ".done").read_text())
    assert done["identity"]["options"]["feature_type"] == "whisper"
    assert (recipe_dir / "dump" / "raw" / "train" / "feat_dim").read_text().strip() == "80"
    assert not (recipe_dir / "exp" / "encoder").exists()
    for stage in stages:
        config = yaml.safe_load((recipe_dir / "exp" / method / stage / "config.yaml").read_text())
        assert config["encoder"] == "whisper" and config["input_size"] == 80
        assert config["feature_conf"] == {"feature_type": "whisper", "num_mel_bins": 80}
        assert config["train_shards"].endswith("dump/raw/train")
        assert json.loads((recipe_dir / "exp" / method / stage / "data_log" / "train_epoch1.json").read_text())[
            "examples"] > 0
        assert Path(config["encoder_conf"]["path"]).is_dir()
        assert config["speech_adapter"] == "transformer_cnn"


def fixture_texts(*sources) -> List[str]:
    """Every transcript and translation a fixture record holds (for the tiny LLM's tokenizer)."""
    texts = []
    for source in sources:
        for items in source.values() if isinstance(source, dict) else [source]:
            for item in items:
                for attr in ("text", "raw", "translation"):
                    if isinstance(getattr(item, attr, None), str):
                        texts.append(getattr(item, attr))
                if isinstance(getattr(getattr(item, "clip", None), "text", None), str):  # CoVoST rows
                    texts.append(item.clip.text)
    return texts + ["Hello", "Good morning", "Guten Tag"]


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> Path:
    return make_tiny_whisper(tmp_path_factory.mktemp("whisper"))


# ----------------------------------------------------------------------------------------------------
# Stage 2: Whisper features, and a tiny Whisper encoder trained on them


def _write_data_dir(path: Path, lengths: Dict[str, int]) -> Path:
    path.mkdir(parents=True)
    wav, text, utt2spk, utt2lang = [], [], [], []
    for n, (utt, samples) in enumerate(sorted(lengths.items())):
        audio = write_audio(path / "wav" / f"{utt}.wav", samples / 16000, 16000, "wav", seed=n)
        wav.append(f"{utt} {audio}")
        text.append(f"{utt} hello world")
        utt2spk.append(f"{utt} {utt.split('-')[0]}")
        utt2lang.append(f"{utt} en")
    for name, lines in (("wav.scp", wav), ("text", text), ("utt2spk", utt2spk), ("utt2lang", utt2lang)):
        (path / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    spk2utt: Dict[str, List[str]] = {}
    for line in utt2spk:
        utt, spk = line.split()
        spk2utt.setdefault(spk, []).append(utt)
    (path / "spk2utt").write_text("".join(f"{s} {' '.join(u)}\n" for s, u in sorted(spk2utt.items())))
    return path


def test_whisper_features_match_whisper_and_train_a_whisper_encoder(tmp_path):
    import kaldiio
    import soundfile
    import torch
    from transformers import WhisperFeatureExtractor

    from part.bin import extract_feats as ef
    from part.model.encoders import build_encoder

    lengths = {"a-1": 16000, "a-2": 12345, "b-1": 20011}
    data = _write_data_dir(tmp_path / "data", lengths)
    out = tmp_path / "dump" / "whisper"
    assert ef.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1", "--feature_type", "whisper",
                    "--num_mel_bins", "80"]) == 0
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert {u: m.shape for u, m in feats.items()} == {u: (n // 160, 80) for u, n in lengths.items()}  # 10 ms
    assert (out / "feat_dim").read_text().strip() == "80"
    done = json.loads((out / ".done").read_text())
    assert done["identity"]["options"]["feature_type"] == "whisper" and done["summary"]["feature_type"] == "whisper"

    # Whisper's own front end (padded to 30 s) gives the same frames, but for the last few, where Whisper
    # sees its zero padding and we see the end of the audio.
    samples, _ = soundfile.read(str(data / "wav" / "a-1.wav"), dtype="float32")
    reference = WhisperFeatureExtractor(feature_size=80)(samples, sampling_rate=16000, return_tensors="np")
    reference = reference["input_features"][0].T
    np.testing.assert_allclose(feats["a-1"][:-3], reference[: len(feats["a-1"]) - 3], atol=1e-4)
    assert np.allclose(reference[len(feats["a-1"]) + 5:], reference[-1])  # Whisper's padding frames

    # The options are recorded: a fbank run over the same dir recomputes, and Whisper refuses other bin counts.
    assert ef.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1", "--feature_type", "whisper",
                    "--num_mel_bins", "64"]) == 1
    assert json.loads((out / ".done").read_text())["identity"]["options"]["num_mel_bins"] == 80

    # One training step of a tiny Whisper encoder on these features.
    torch.manual_seed(0)
    encoder = build_encoder("whisper", 80, {"config": {k: v for k, v in TINY_WHISPER.items()}})
    mats = [torch.from_numpy(np.array(feats[u])) for u in sorted(feats)]
    lens = torch.tensor([m.shape[0] for m in mats])
    batch = torch.nn.utils.rnn.pad_sequence(mats, batch_first=True)
    head = torch.nn.Linear(encoder.output_size, 1)
    params = list(encoder.parameters()) + list(head.parameters())
    optim = torch.optim.SGD(params, lr=0.1)
    before = [p.detach().clone() for p in encoder.parameters()]
    out_enc = encoder(batch, lens)
    assert out_enc.hidden.shape[:2] == (3, int((lens.max() + 1) // 2)) and out_enc.lengths.tolist() == \
        [(n + 1) // 2 for n in lens.tolist()]
    mask = torch.arange(out_enc.hidden.size(1))[None, :] < out_enc.lengths[:, None]
    loss = ((head(out_enc.hidden).squeeze(-1) - 1.0) ** 2)[mask].mean()
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is None or torch.isfinite(p.grad).all() for p in params)
    optim.step()
    changed = sum(not torch.equal(a, p.detach()) for a, p in zip(before, encoder.parameters()))
    assert changed > len(before) // 2


# ----------------------------------------------------------------------------------------------------
# run.sh: options and errors, without training


RECIPES = ("commonvoice", "fleurs", "wenetspeech", "covost2", "multilingual")
# The corpus root each recipe's local/data.sh needs first, and the options its run.sh takes as its own.
CORPUS_VARIABLE = {"commonvoice": "COMMONVOICE", "fleurs": "FLEURS", "wenetspeech": "WENETSPEECH",
                   "covost2": "COVOST2", "multilingual": "COMMONVOICE"}
RECIPE_OPTIONS = {"commonvoice": ["langs", "train_tsv"], "fleurs": ["langs", "transcript", "translate_to"],
                  "wenetspeech": ["train_subset"], "covost2": ["pairs"],
                  "multilingual": ["cv_langs", "fleurs_langs", "covost_pairs"], "mini_multilingual": ["langs"]}


def run_sh(recipe_dir: Path, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "./run.sh", *args], cwd=recipe_dir, env={**os.environ, **ENV, **(env or {})},
                          capture_output=True, text=True)


def tree(root: Path) -> List[str]:
    """Every path below ``root`` (links not followed): what a command may have created."""
    return sorted(os.path.relpath(os.path.join(d, name), root)
                  for d, dirs, files in os.walk(root) for name in dirs + files)


def test_run_sh_help_shows_the_recipe_options_and_values_and_touches_nothing(tmp_path):
    from part.data.corpora.recipes import DEFAULT_COVOST_PAIRS, DEFAULT_CV_LANGS, DEFAULT_FLEURS_LANGS

    # The default language lists are written once, in the corpus module; --help shows them from there.
    defaults = {"commonvoice": [DEFAULT_CV_LANGS], "fleurs": [DEFAULT_FLEURS_LANGS], "wenetspeech": [],
                "covost2": [DEFAULT_COVOST_PAIRS],
                "multilingual": [DEFAULT_CV_LANGS, DEFAULT_FLEURS_LANGS, DEFAULT_COVOST_PAIRS],
                "mini_multilingual": ["en,de,fr,es,zh,ja"]}
    asr_only = "--train_tasks asr --test_tasks asr"
    values = {"commonvoice": asr_only, "wenetspeech": asr_only, "fleurs": asr_only, "covost2": '--directions "*-en"',
              "multilingual": "--train_tasks asr,s2tt,mt --test_tasks asr,s2tt",
              "mini_multilingual": '--size "default"'}
    for recipe in (*RECIPES, "mini_multilingual"):
        recipe_dir = recipe_workspace(tmp_path / recipe, recipe)
        before = tree(recipe_dir)
        proc = run_sh(recipe_dir, "--help")
        assert proc.returncode == 0, proc.stderr
        help_text = proc.stdout
        for word in ("--whisper_path", "--llm_path", "--stop_stage", values[recipe], *defaults[recipe],
                     *(f"--{name}" for name in RECIPE_OPTIONS[recipe])):
            assert word in help_text, f"{recipe}: --help lacks {word!r}:\n{help_text}"
        # The recipe's own description and examples open the help.
        assert help_text.splitlines()[1] == (recipe_dir / "run.sh").read_text().splitlines()[1][2:]
        assert tree(recipe_dir) == before, f"{recipe}: --help created files"

    # Options given before or after --help, as --name value or --name=value, show with their values.
    mini = tmp_path / "mini_multilingual" / "egs" / "mini_multilingual"
    proc = run_sh(mini, "--size=tiny", "--help", "--langs", "en,de", "--train_args=--max_epoch 1")
    assert proc.returncode == 0, proc.stderr
    for word in ('--size "tiny"', '--langs "en,de"', '--train_args "--max_epoch 1"'):
        assert word in proc.stdout, word
    assert not (mini / "size_tiny").exists()


def test_run_sh_options_reach_local_data_sh_and_models_are_checked_where_used(tmp_path):
    llm = make_chat_llm(tmp_path / "llm", ["hello world", "guten tag"])
    for recipe in RECIPES:
        recipe_dir = recipe_workspace(tmp_path / recipe, recipe)
        unset = {CORPUS_VARIABLE[recipe]: ""}
        # Stage 1 needs no model: it runs local/data.sh with the recipe's options, which stops at the unset root.
        name = RECIPE_OPTIONS[recipe][0]
        value = {"wenetspeech": "S", "fleurs": "de_de", "covost2": "de_en"}.get(recipe, "de")
        proc = run_sh(recipe_dir, "--stop_stage", "1", f"--{name}={value}", env=unset)
        assert proc.returncode != 0 and f"{CORPUS_VARIABLE[recipe]} is not set" in proc.stderr, proc.stderr[-2000:]
        assert f"local/data.sh --{name} {value}" in proc.stdout
        # The LLM is needed from stage 3 on, Whisper from stage 2 on; both are checked before any work.
        proc = run_sh(recipe_dir, "--stage", "3", env=unset)
        assert proc.returncode == 2 and "--llm_path is required from stage 3 on" in proc.stderr, proc.stderr
        proc = run_sh(recipe_dir, "--stage", "2", "--llm_path", str(llm), "--whisper_path", str(tmp_path))
        assert proc.returncode == 2 and "not a Hugging Face Whisper directory" in proc.stderr, proc.stderr
        proc = run_sh(recipe_dir, "--no_such_option", "1")
        assert proc.returncode != 0 and "invalid option --no_such_option" in proc.stderr
        # Stages 2-8 take the test sets that stage 1 recorded.
        proc = run_sh(recipe_dir, "--stage", "2", "--stop_stage", "2")
        assert proc.returncode == 2 and "data/test_sets, written by stage 1, is missing" in proc.stderr
        assert not (recipe_dir / "exp").exists() and not (recipe_dir / "dump").exists()

    # An LLM directory holding one GGUF file is an LLM (part/model/llm.py loads it through llm_conf.gguf_file);
    # several GGUF files, or neither one nor config.json, are refused with what to do.
    recipe_dir = tmp_path / "commonvoice" / "egs" / "commonvoice"
    gguf = tmp_path / "gguf"
    gguf.mkdir()
    (gguf / "model.Q4_1.gguf").write_bytes(b"GGUF")
    proc = run_sh(recipe_dir, "--stage", "4", "--stop_stage", "4", "--llm_path", str(gguf))
    assert f"LLM: {gguf}/model.Q4_1.gguf (GGUF)" in proc.stdout, proc.stdout + proc.stderr
    assert "--llm_path" not in proc.stderr
    (gguf / "other.gguf").write_bytes(b"GGUF")
    proc = run_sh(recipe_dir, "--stage", "4", "--llm_path", str(gguf))
    assert proc.returncode == 2 and "holds several .gguf files (model.Q4_1.gguf other.gguf)" in proc.stderr
    proc = run_sh(recipe_dir, "--stage", "4", "--llm_path", str(tmp_path / "commonvoice"))
    assert proc.returncode == 2 and "neither config.json" in proc.stderr


def test_recipe_configs_are_the_papers_setup_shared_once():
    """Every recipe trains the paper's adapter on Qwen2.5 with LoRA on all attention projections, in bf16, from
    the configuration in egs/TEMPLATE/conf that all of them link to; ASR-only recipes schedule only ASR."""
    import yaml

    shared = (REPO / "egs" / "TEMPLATE" / "conf").resolve()
    translation = {"commonvoice": False, "fleurs": False, "wenetspeech": False, "covost2": True, "multilingual": True}
    for recipe in RECIPES:
        conf = REPO / "egs" / recipe / "conf"
        assert (REPO / "egs" / recipe / "path.sh").resolve() == (REPO / "egs" / "TEMPLATE" / "path.sh").resolve()
        for path in conf.rglob("*.yaml"):
            assert shared in path.resolve().parents, f"{path} is not a link into {shared}"
        prompts = yaml.safe_load((conf / "prompts.yaml").read_text())
        assert set(prompts) == {"asr", "s2tt", "mt"}
        assert all(p.startswith("<|im_start|>user\n") and p.endswith("<|im_end|>\n<|im_start|>assistant\n")
                   for p in prompts.values())
        for name in ("part/phase1", "part/phase2", "part/phase3", "baseline/phase1", "baseline/phase2"):
            c = yaml.safe_load((conf / f"{name}.yaml").read_text())
            assert c["speech_adapter"] == "transformer_cnn" and c["speech_adapter_conf"]["num_layers"] == 2
            assert c["llm_conf"]["dtype"] == "bfloat16" and c["use_amp"] is True
            assert c["batch_type"] == "folded"
            trainable = [g for groups in c["schedule_conf"]["trainable"].values() for g in groups]
            assert ("llm_lora" in trainable) == (name == "part/phase3")
            if name == "part/phase3":
                assert c["lora_conf"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
            scheduled = {task for tasks in c["schedule_conf"]["tasks"].values() for task in tasks}
            if not translation[recipe]:
                assert scheduled == {"asr"}, f"{recipe} {name} schedules {scheduled} without translations"
            elif name in ("part/phase3", "baseline/phase1", "baseline/phase2"):
                assert scheduled == {"asr", "s2tt", "mt"}, f"{recipe} {name}"
            # DDP needs unused_parameters exactly where text-only batches leave the speech path idle.
            assert c["unused_parameters"] == ("mt" in scheduled)
        # no hub ids: model paths come from the command line
        assert "Qwen/" not in (REPO / "egs" / recipe / "run.sh").read_text()
    # FLEURS' speech translation variant (--train_config_dir conf/st/part) schedules translation.
    st = yaml.safe_load((REPO / "egs" / "fleurs" / "conf" / "st" / "part" / "phase3.yaml").read_text())
    assert {t for tasks in st["schedule_conf"]["tasks"].values() for t in tasks} == {"asr", "s2tt", "mt"}
    # Nothing in egs/ is a copy of a shared file.
    contents = {}
    for path in sorted((REPO / "egs").rglob("*.yaml")):
        if not path.is_symlink() and not any(p.is_symlink() for p in path.parents):
            text = path.read_text()
            assert text not in contents, f"{path} repeats {contents.get(text)}"
            contents[text] = path


# End to end, stages 1-8
#
# Each recipe run is a few ESPnet training processes that spend most of their time importing; the runs of
# the selected tests start together in the background (at most PART_TEST_JOBS at a time, default 2) and
# each test waits for its own, so the whole module takes about as long as its two slowest runs.


class RecipeRun:
    """``./run.sh`` commands, one after the other, started in the background; ``wait()`` returns the log or
    fails with its end. ``args``: the options of one command, or a list of them."""

    def __init__(self, recipe_dir: Path, args: List, env: Dict[str, str]):
        self.recipe_dir, self.env = recipe_dir, env
        self.commands: List[List[str]] = args if args and isinstance(args[0], list) else [args]
        self.proc: Optional[subprocess.Popen] = None
        self.started = self.finished = 0.0

    def start(self) -> None:
        self.log = open(self.recipe_dir / "run.log", "w", encoding="utf-8")
        self.started = time.time()
        script = " && ".join(shlex.join(["./run.sh", *args]) for args in self.commands)
        self.proc = subprocess.Popen(["bash", "-c", script], cwd=self.recipe_dir,
                                     env={**os.environ, **ENV, **self.env}, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def done(self) -> bool:
        if self.proc is not None and not self.finished and self.proc.poll() is not None:
            self.finished = time.time()
            self.log.close()
        return bool(self.finished)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class RecipeRuns:
    def __init__(self, jobs: int):
        self.jobs = jobs
        self.runs: Dict[str, RecipeRun] = {}

    def add(self, name: str, run: RecipeRun) -> None:
        self.runs[name] = run
        self._schedule()

    def _schedule(self) -> None:
        running = [r for r in self.runs.values() if r.proc is not None and not r.done()]
        for run in self.runs.values():
            if run.proc is None and len(running) < self.jobs:
                run.start()
                running.append(run)

    def wait(self, name: str, timeout: float = 1800) -> Path:
        run = self.runs[name]
        deadline = time.time() + timeout
        while not run.done():
            assert time.time() < deadline, f"{name}: ./run.sh did not finish in {timeout} s"
            self._schedule()
            time.sleep(0.5)
        self._schedule()
        output = (run.recipe_dir / "run.log").read_text(encoding="utf-8")
        assert run.proc.returncode == 0, f"{' && '.join(shlex.join(a) for a in run.commands)} failed:\n{output[-6000:]}"
        print(f"\n{name}: ./run.sh stages 1-8 took {run.finished - run.started:.0f} s")
        return run.recipe_dir

    def stop(self) -> None:
        for run in self.runs.values():
            run.stop()


def setup_commonvoice(root: Path, tiny_whisper: Path) -> RecipeRun:
    cv = make_commonvoice(root / "cv", ("de", "zh-CN", "en"))
    llm = make_chat_llm(root / "llm", fixture_texts(cv.expected))
    (root / "encoder.yaml").write_text(TINY_ENCODER_YAML)
    # Data and features first, without an LLM; the recipe's option as --name=value.
    return RecipeRun(recipe_workspace(root / "w", "commonvoice"),
                     [["--langs=de,zh-CN,en", *tiny_args(None, stop_stage=2)],
                      tiny_args(llm, encoder_yaml=root / "encoder.yaml", stage=3)],
                     {"COMMONVOICE": str(cv.root)})


def setup_fleurs(root: Path, tiny_whisper: Path) -> RecipeRun:
    fl = make_fleurs(root / "fleurs", ("de_de", "cmn_hans_cn", "en_us"))
    llm = make_chat_llm(root / "llm", fixture_texts(fl.expected))
    # FLEURS' speech translation variant: translations from stage 1, the schedules of conf/st/.
    return RecipeRun(recipe_workspace(root / "w", "fleurs"),
                     ["--langs", "de_de,cmn_hans_cn,en_us", "--translate_to", "en", "--train_tasks", "asr,s2tt,mt",
                      "--test_tasks", "asr,s2tt", "--train_config_dir", "conf/st/baseline",
                      *tiny_args(llm, whisper=tiny_whisper, method="baseline")], {"FLEURS": str(fl.root)})


def setup_covost2(root: Path, tiny_whisper: Path) -> RecipeRun:
    cv = make_commonvoice(root / "cv", ("de", "zh-CN"))
    cs = make_covost2(root / "covost", cv, ("de_en", "zh-CN_en"))
    llm = make_chat_llm(root / "llm", fixture_texts(cv.expected, cs.expected))
    return RecipeRun(recipe_workspace(root / "w", "covost2"),
                     ["--pairs", "de_en,zh-CN_en", *tiny_args(llm, whisper=tiny_whisper)],
                     {"COVOST2": str(cs.covost_dir), "COVOST2_CV_ROOT": str(cv.root)})


def setup_wenetspeech(root: Path, tiny_whisper: Path) -> RecipeRun:
    ws = make_wenetspeech(root / "wenet")
    # A release without TEST_MEETING: stage 1 makes one test set, and the later stages test on it alone.
    manifest = json.loads((ws.root / "WenetSpeech.json").read_text(encoding="utf-8"))
    manifest["audios"] = [a for a in manifest["audios"]
                          if not any("TEST_MEETING" in s["subsets"] for s in a["segments"])]
    (ws.root / "WenetSpeech.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    llm = make_chat_llm(root / "llm", [s.text for s in ws.segments])
    (root / "encoder.yaml").write_text(TINY_ENCODER_YAML)
    return RecipeRun(recipe_workspace(root / "w", "wenetspeech"),
                     ["--train_subset", "L", *tiny_args(llm, encoder_yaml=root / "encoder.yaml", method="baseline")],
                     {"WENETSPEECH": str(ws.root)})


def setup_multilingual(root: Path, tiny_whisper: Path) -> RecipeRun:
    corpora = make_all(root / "corpora")
    llm = make_chat_llm(root / "llm", fixture_texts(corpora.commonvoice.expected, corpora.fleurs.expected,
                                                    corpora.covost2.expected))
    return RecipeRun(recipe_workspace(root / "w", "multilingual"),
                     ["--cv_langs", "de,zh-CN,en", "--fleurs_langs", "de_de,cmn_hans_cn",
                      "--covost_pairs", "de_en,zh-CN_en", *tiny_args(llm, whisper=tiny_whisper)],
                     {"COMMONVOICE": str(corpora.commonvoice.root), "FLEURS": str(corpora.fleurs.root),
                      "COVOST2": str(corpora.covost2.covost_dir)})


E2E = {"test_commonvoice_part_with_in_recipe_conformer": setup_commonvoice,
       "test_fleurs_baseline_with_whisper_and_translation": setup_fleurs,
       "test_covost2_part_with_whisper": setup_covost2,
       "test_wenetspeech_baseline_with_in_recipe_conformer": setup_wenetspeech,
       "test_multilingual_part_with_whisper": setup_multilingual}


@pytest.fixture(scope="module")
def recipe_runs(request, tmp_path_factory, tiny_whisper):
    """Starts the runs of every selected end-to-end test of this module at once."""
    runs = RecipeRuns(int(os.environ.get("PART_TEST_JOBS", "2")))
    selected = [item.name for item in request.session.items if item.name in E2E]
    try:
        for name in selected:
            runs.add(name, E2E[name](tmp_path_factory.mktemp(name[5:30]), tiny_whisper))
        yield runs
    finally:
        runs.stop()


@pytest.mark.slow
def test_commonvoice_part_with_in_recipe_conformer(recipe_runs):
    recipe_dir = recipe_runs.wait("test_commonvoice_part_with_in_recipe_conformer")
    langs = {line.split()[1] for line in (recipe_dir / "data" / "train" / "utt2lang").read_text().splitlines()}
    assert langs == {"de", "zh", "en"}  # --langs=de,zh-CN,en reached local/data.sh
    assert (recipe_dir / "exp" / "encoder" / ".done").is_file()  # pretrained in stage 3
    # The Whisper-written phase configs, on the in-recipe Conformer: the adapter got half their stride.
    import yaml
    config = yaml.safe_load((recipe_dir / "exp" / "part" / "phase1" / "config.yaml").read_text())
    assert config["speech_adapter_conf"]["stride"] == 2
    assert config["schedule_conf"]["tasks"] == {1: ["asr"]}
    for stage in ("phase1", "phase2", "phase3"):
        assert (recipe_dir / "exp" / "part" / stage / "valid.acc.ave.pth").exists()
    check_scores(recipe_dir, "part/phase3", {
        "decode_test_commonvoice_asr": ["score_wer/de", "score_wer/en", "score_cer/zh"]})


@pytest.mark.slow
def test_fleurs_baseline_with_whisper_and_translation(recipe_runs):
    recipe_dir = recipe_runs.wait("test_fleurs_baseline_with_whisper_and_translation")
    check_whisper_route(recipe_dir, "baseline", ["phase1", "phase2"])
    check_scores(recipe_dir, "baseline/phase2", {
        "decode_test_fleurs_asr": ["score_wer/de", "score_wer/en", "score_cer/zh"],
        "decode_test_fleurs_s2tt": ["score_bleu/de-en", "score_bleu/zh-en"]})


@pytest.mark.slow
def test_covost2_part_with_whisper(recipe_runs):
    recipe_dir = recipe_runs.wait("test_covost2_part_with_whisper")
    check_whisper_route(recipe_dir, "part", ["phase1", "phase2", "phase3"])
    from part.data.sampler import ExampleStream, SamplerConf
    from part.data.shards import ShardSet

    stream = ExampleStream(ShardSet(recipe_dir / "dump" / "raw" / "train"), {}, ["*-en"], SamplerConf(), 0,
                           lambda g: ["asr", "s2tt", "mt"])
    assert {"asr", "s2tt", "mt"} <= {task for _, task in stream.group_sizes()}
    tasks = json.loads((recipe_dir / "exp" / "part" / "phase3" / "data_log" / "train_epoch1.json").read_text())["tasks"]
    assert {"asr", "s2tt"} <= set(tasks)
    check_scores(recipe_dir, "part/phase3", {
        "decode_test_covost2_asr": ["score_wer/de", "score_cer/zh"],
        "decode_test_covost2_s2tt": ["score_bleu/de-en", "score_bleu/zh-en"]})


@pytest.mark.slow
def test_wenetspeech_baseline_with_in_recipe_conformer(recipe_runs):
    recipe_dir = recipe_runs.wait("test_wenetspeech_baseline_with_in_recipe_conformer")
    assert (recipe_dir / "data" / "train" / "segments").is_file()
    assert (recipe_dir / "exp" / "encoder" / ".done").is_file()
    log = (recipe_dir / "run.log").read_text(encoding="utf-8")
    assert "test_wenetspeech_meeting: the corpus has no utterances for this test set" in log
    assert (recipe_dir / "data" / "test_sets").read_text().split() == ["test_wenetspeech_net"]
    check_scores(recipe_dir, "baseline/phase2", {"decode_test_wenetspeech_net_asr": ["score_cer/zh"]})
    assert not list((recipe_dir / "exp" / "baseline" / "phase2").glob("decode_test_wenetspeech_meeting*"))
    # --help now names the test sets that stage 1 made.
    assert "(test_wenetspeech_net)" in run_sh(recipe_dir, "--help").stdout


@pytest.mark.slow
def test_multilingual_part_with_whisper(recipe_runs):
    recipe_dir = recipe_runs.wait("test_multilingual_part_with_whisper")
    assert (recipe_dir / "data" / "test_sets").read_text().split() == ["test_commonvoice", "test_fleurs",
                                                                       "test_covost2"]
    # Only test_covost2 has translations: stage 8 scores S2TT there and skips it for the other sets.
    assert not (recipe_dir / "exp" / "part" / "phase3" / "decode_test_commonvoice_s2tt").exists()
    check_scores(recipe_dir, "part/phase3", {
        "decode_test_commonvoice_asr": ["score_wer/de", "score_wer/en", "score_cer/zh"],
        "decode_test_fleurs_asr": ["score_wer/de", "score_cer/zh"],
        "decode_test_covost2_asr": ["score_wer/de", "score_cer/zh"],
        "decode_test_covost2_s2tt": ["score_bleu/de-en", "score_bleu/zh-en"]})
