"""Recipe stage 9 (part.analysis, python -m part.bin.part_analyze): gradient cosine-similarity matrices
across (task, language) groups, adapter-output alignment, the language-ID probe, PCA plots, the
summary files, the side-by-side comparison of two methods, and skipping of up-to-date phases.

Everything runs on a tiny random model (helpers_tiny) and a tiny task dir of de/en ASR, de->en
speech translation and de->en text translation."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers_tiny import TINY_ADAPTERS, TINY_CONFORMER, make_task_dir, make_tiny_llm

from part.analysis import gradients as G
from part.analysis import representation as R
from part.analysis.data import Batcher, example_groups, parse_label, sample_ids
from part.data.sources import ExampleListSource
from part.analysis.pipeline import sibling_method_dir
from part.bin import part_analyze

PHASE_SCHEDULE = {"trainable": {1: ["adapter"], 2: ["adapter", "encoder", "llm_lora"]}, "tasks": {1: ["asr"]}}


def phase_config(llm_dir: Path, schedule=None) -> dict:
    """The options ESPnet writes to a phase's config.yaml that PARTTask.build_model reads."""
    return dict(model_type="speech_llm", llm_path=str(llm_dir), tokenizer_path=None, llm_conf={},
                lora_conf=dict(r=2, alpha=4, dropout=0.0, target_modules=["q_proj", "v_proj"]),
                encoder="conformer", encoder_conf=dict(TINY_CONFORMER), encoder_path=None,
                encoder_model_file="valid.loss.best.pth", input_size=80, speech_adapter="transformer_cnn",
                speech_adapter_conf=dict(TINY_ADAPTERS["transformer_cnn"]), ctc_vocab=False,
                schedule_conf=schedule or PHASE_SCHEDULE, save_llm_base=False)


def build(config: dict, seed: int = 0):
    from part.model.llm import load_tokenizer
    from part.tasks.part_task import PARTTask

    torch.manual_seed(seed)
    model = PARTTask.build_model(argparse.Namespace(**config))
    return model, load_tokenizer(config["llm_path"])


def write_phase(phase_dir: Path, config: dict, seed: int = 0) -> None:
    """A trained-phase dir as load_model expects it: config.yaml + valid.acc.ave.pth (state_dict)."""
    model, _ = build(config, seed)
    phase_dir.mkdir(parents=True, exist_ok=True)
    (phase_dir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    torch.save(model.state_dict(), phase_dir / "valid.acc.ave.pth")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis")
    llm_dir = make_tiny_llm(root / "llm")
    task_dir = make_task_dir(root / "data", tasks=("asr", "s2tt", "mt"), num_utts=8)
    return root, llm_dir, task_dir


@pytest.fixture(scope="module")
def phase_model(world):
    _, llm_dir, task_dir = world
    config = phase_config(llm_dir)
    model, tokenizer = build(config)
    G.set_phase_trainable(model, config)
    td = ExampleListSource(str(task_dir))
    return model, tokenizer, td, Batcher(td, tokenizer)


def _groups(td: ExampleListSource, n: int = 4):
    return {k: sample_ids(v, n, 0) for k, v in example_groups(td).items()}


def test_groups_and_labels(phase_model):
    _, _, td, _ = phase_model
    assert list(example_groups(td)) == ["asr:de", "asr:en", "s2tt:de-en", "mt:de-en"]
    assert parse_label("s2tt:de-en") == ("s2tt", "de", "en") and parse_label("asr:de") == ("asr", "de", "de")
    assert sample_ids(list("abcdef"), 3, 0) == sample_ids(list("fedcba"), 3, 0)  # seeded and order-free
    assert len(sample_ids(list("abcdef"), 3, 0)) == 3


def test_final_trainable_groups_are_used(phase_model):
    model, _, _, _ = phase_model
    assert G.final_trainable_groups({"schedule_conf": PHASE_SCHEDULE}) == ["adapter", "encoder", "llm_lora"]
    assert G.final_trainable_groups({"schedule_conf": {}}) is None
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("encoder.") for n in trainable) and any("lora_" in n for n in trainable)
    assert not any(n.startswith("llm.") and "lora_" not in n for n in trainable)


def test_gradient_matrix_properties_and_sensitivity(phase_model):
    model, _, td, batcher = phase_model
    res = G.group_gradients(model, batcher, _groups(td), batch_size=2, progress=False)
    # With LoRA trainable, text-only MT reaches the trainable parameters too.
    assert res.labels == ["asr:de", "asr:en", "s2tt:de-en", "mt:de-en"] and not res.zero_gradient_groups
    assert res.batches == {k: 2 for k in res.labels} and res.sketch_dim == 0
    m = G.cosine_matrix(res.vectors)
    assert m.shape == (4, 4)
    assert np.allclose(m, m.T) and np.allclose(np.diag(m), 1.0)
    assert np.all(m >= -1.0) and np.all(m <= 1.0) and np.isfinite(m).all()
    assert not np.allclose(m, np.eye(4))
    # Deterministic (eval mode, no dropout).
    again = G.cosine_matrix(G.group_gradients(model, batcher, _groups(td), batch_size=2, progress=False).vectors)
    assert np.allclose(m, again, atol=1e-6)
    summary = G.similarity_summary(res.labels, m)
    assert summary["num_pairs"]["within_language"] == 3 and summary["num_pairs"]["cross_language"] == 3
    assert summary["same_task_cross_language"] == pytest.approx(m[0, 1])
    # Other weights, other similarities.
    saved = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("adapter.", "encoder."))}
    try:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(1)
            for name, p in model.named_parameters():
                if name.startswith("adapter.") and p.dim() > 1:
                    p.add_(torch.randn(p.shape, generator=gen) * 0.5)
        changed = G.cosine_matrix(G.group_gradients(model, batcher, _groups(td), batch_size=2,
                                                    progress=False).vectors)
    finally:
        model.load_state_dict(saved, strict=False)
    assert np.abs(changed - m).max() > 1e-3


def test_zero_gradient_groups_are_left_out(world):
    _, llm_dir, task_dir = world
    config = phase_config(llm_dir, {"trainable": {1: ["adapter"]}})
    model, tokenizer = build(config)
    G.set_phase_trainable(model, config)
    td = ExampleListSource(str(task_dir))
    res = G.group_gradients(model, Batcher(td, tokenizer), _groups(td, 2), batch_size=2, progress=False)
    assert res.zero_gradient_groups == ["mt:de-en"]  # text-only: no path to the adapter
    assert res.labels == ["asr:de", "asr:en", "s2tt:de-en"]
    assert G.cosine_matrix(res.vectors).shape == (3, 3)


def test_count_sketch_approximates_cosines(phase_model):
    model, _, td, batcher = phase_model
    groups = _groups(td, 2)
    exact = G.group_gradients(model, batcher, groups, batch_size=2, sketch_dim=0, progress=False)
    assert G.choose_sketch_dim(exact.num_params, 4) == 0
    assert G.choose_sketch_dim(10 ** 9, 40) == G.AUTO_SKETCH_DIM
    sketched = G.group_gradients(model, batcher, groups, batch_size=2, sketch_dim=2 ** 14, progress=False)
    assert sketched.vectors.shape == (4, 2 ** 14)
    assert np.abs(G.cosine_matrix(sketched.vectors) - G.cosine_matrix(exact.vectors)).max() < 0.1


def test_probe_pca_and_alignment_definitions():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (12, 6)) + 3, rng.normal(0, 1, (12, 6)) - 3])
    langs = ["de"] * 12 + ["en"] * 12
    probe = R.language_probe(x, langs)
    assert probe["accuracy"] == 1.0 and probe["chance"] == 0.5 and probe["folds"] == 5
    assert R.language_probe(x, ["de"] * 24)["accuracy"] is None  # one language: no probe
    noise = R.language_probe(rng.normal(0, 1, (24, 6)), langs)
    assert 0.0 <= noise["accuracy"] <= 1.0
    coords, ratios = R.pca_2d(x)
    assert coords.shape == (24, 2) and ratios[0] > 0.5 and sum(ratios) <= 1.0 + 1e-9
    # Adapter vectors equal to the transcript's token embeddings align perfectly.
    emb = torch.nn.Embedding(10, 4)
    outputs = {"a": emb.weight[[1, 2, 3]].detach().numpy(), "b": emb.weight[[5, 6]].detach().numpy()}

    class Tok:
        def encode(self, text, add_special_tokens=False):
            return [int(c) for c in text.split()]

    align = R.alignment_scores(outputs, {"a": "1 2 3", "b": "5 6"}, {"a": "de", "b": "de"}, Tok(), emb)
    assert align["precision"] == pytest.approx(1.0) and align["coverage"] == pytest.approx(1.0)
    assert align["shuffled"] < 1.0 and align["gain"] > 0


def test_representation_analysis_and_plots(phase_model, tmp_path):
    from part.analysis import plots

    model, tokenizer, td, batcher = phase_model
    summary, arrays = R.analyse_representations(model, tokenizer, td, batcher, max_per_lang=4, batch_size=4,
                                                progress=False)
    assert summary["utterances"] == 8 and sorted(summary["alignment"]["per_language"]) == ["de", "en"]
    assert -1.0 <= summary["alignment"]["precision"] <= 1.0
    assert summary["probe"]["accuracy"] is not None and summary["probe"]["folds"] == 4
    assert arrays["pooled"].shape == (8, model.token_embedding.weight.size(1)) and arrays["pca"].shape == (8, 2)
    plots.plot_pca(arrays["pca"], arrays["languages"].tolist(), tmp_path / "pca.png", "t",
                   summary["pca_explained_variance"])
    assert (tmp_path / "pca.png").stat().st_size > 1000


def test_cli(world, tmp_path, monkeypatch):
    _, llm_dir, task_dir = world
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        part_analyze.main(["--help"])
    assert exc.value.code == 0

    part_dir, base_dir = tmp_path / "exp" / "part", tmp_path / "exp" / "baseline"
    write_phase(part_dir / "phase1", phase_config(llm_dir, {"trainable": {1: ["adapter"]}}))
    (part_dir / "phase2").mkdir()  # not trained (no config.yaml): ignored
    write_phase(base_dir / "phase1", phase_config(llm_dir, {"trainable": {1: ["adapter"]}}), seed=1)
    common = ["--data_dir", str(task_dir), "--max_examples_per_group", "4", "--batch_size", "2",
              "--max_utts_per_lang", "4", "--progress", "false"]
    assert part_analyze.main(["--method_dir", str(part_dir), "--compare_dir", str(base_dir), *common]) == 0

    out = part_dir / "analysis"
    for name in ("grad_similarity.npy", "grad_similarity.json", "grad_similarity.png", "representation.json",
                 "representation.npz", "adapter_pca.png"):
        assert (out / "phase1" / name).is_file(), name
    grad = json.loads((out / "phase1" / "grad_similarity.json").read_text())
    matrix = np.load(out / "phase1" / "grad_similarity.npy")
    assert grad["labels"] == ["asr:de", "asr:en", "s2tt:de-en"] and grad["zero_gradient_groups"] == ["mt:de-en"]
    assert grad["trainable"] == ["adapter"] and np.allclose(matrix, np.asarray(grad["matrix"]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "PART" and list(summary["phases"]) == ["phase1"]
    entry = summary["phases"]["phase1"]
    assert set(entry["gradient_similarity"]) >= {"within_language", "cross_language", "within_task", "cross_task"}
    assert entry["language_probe"]["accuracy"] is not None and entry["alignment"]["precision"] is not None
    assert summary["compare"]["method"] == "Baseline-2stage" and "phase1" in summary["compare"]["phases"]
    readme = (out / "README.md").read_text()
    for link in ("phase1/grad_similarity.png", "phase1/adapter_pca.png", "grad_similarity_compare.png",
                 "phase_summary.png"):
        assert f"({link})" in readme and (out / link).is_file(), link
    assert (base_dir / "analysis" / "phase1" / "grad_similarity.json").is_file()
    assert not np.allclose(np.load(base_dir / "analysis" / "phase1" / "grad_similarity.npy"), matrix)

    # Up to date: not recomputed; the baseline's run finds PART's analysis by itself (sibling dirs).
    stamp = (out / "phase1" / "grad_similarity.json").stat().st_mtime_ns
    assert part_analyze.main(["--method_dir", str(part_dir), "--phases", "phase1", *common]) == 0
    assert (out / "phase1" / "grad_similarity.json").stat().st_mtime_ns == stamp
    assert sibling_method_dir(base_dir) == part_dir
    assert part_analyze.main(["--method_dir", str(base_dir), *common]) == 0
    base_summary = json.loads((base_dir / "analysis" / "summary.json").read_text())
    assert base_summary["compare"]["method"] == "PART"
    assert (base_dir / "analysis" / "grad_similarity_compare.png").is_file()


def test_cli_errors(world, tmp_path):
    _, llm_dir, task_dir = world
    assert part_analyze.main(["--method_dir", str(tmp_path / "nothing"), "--data_dir", str(task_dir)]) == 1
    assert part_analyze.main(["--method_dir", str(tmp_path), "--data_dir", str(tmp_path / "none")]) == 1
    phase = tmp_path / "exp" / "part" / "phase1"
    phase.mkdir(parents=True)
    (phase / "config.yaml").write_text(yaml.safe_dump(phase_config(llm_dir)))
    # A phase without its model file is skipped; nothing analysable is an error.
    assert part_analyze.main(["--method_dir", str(phase.parent), "--data_dir", str(task_dir),
                              "--progress", "false"]) == 1
