"""PARTTask through ESPnet's real training entry point: two chained PART phases on a tiny task dir
(stage 2 starts from stage 1 with --init_param), what the checkpoints hold, and loading a trained stage
for decoding (part.inference)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from helpers_tiny import PROMPTS, REPO, SUBPROCESS_ENV, make_task_dir, part_train_args, shared_tiny_llm

STAGE1 = {
    "schedule_conf": {"trainable": {1: ["adapter", "encoder"]}, "tasks": {1: ["asr"]}},
    "max_epoch": 1,
}
STAGE2 = {
    # Epoch 1: only the last encoder block moves (the adapter stays as stage 1 left it); epoch 2: adapter,
    # encoder and LoRA, with every task (text-only MT included) mixed in.
    "lora_conf": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
    "schedule_conf": {"trainable": {1: ["encoder_last_1"], 2: ["adapter", "encoder", "llm_lora"]},
                      "tasks": {1: ["asr"], 2: ["asr", "s2tt", "mt"]}},
    "max_epoch": 2,
    "keep_nbest_models": 2,
}
DRIVER = """import json, sys
from part.bin import part_train
for cmd in json.loads(sys.argv[1]):
    part_train.main(cmd)
"""


@pytest.fixture(scope="module")
def chained(tmp_path_factory):
    """Stage 1, then stage 2 from stage 1's valid.acc.ave.pth, in one `part_train` process (one import)."""
    root = tmp_path_factory.mktemp("chain")
    llm_dir = shared_tiny_llm(tmp_path_factory)
    tasks = make_task_dir(root / "data", tasks=("asr", "s2tt", "mt"))
    cmds = []
    for name, conf in (("phase1", STAGE1), ("phase2", STAGE2)):
        config = root / f"{name}.yaml"
        config.write_text(yaml.safe_dump(conf), encoding="utf-8")
        cmd = part_train_args(tasks, tasks, llm_dir, root / name, num_iters_per_epoch=2)
        cmd = ["--config", str(config)] + cmd
        if name == "phase2":
            cmd += ["--init_param", str(root / "phase1" / "valid.acc.ave.pth")]
        cmds.append(cmd)
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cmds)], cwd=REPO, env=SUBPROCESS_ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(root=root, llm_dir=llm_dir, tasks=tasks, log=proc.stderr)


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _fresh_model(stage_dir):
    """The stage's model as `build_model` makes it from its config.yaml (random init, seed of the run)."""
    import argparse

    from part.tasks.part_task import PARTTask

    config = yaml.safe_load((stage_dir / "config.yaml").read_text(encoding="utf-8"))
    torch.manual_seed(config["seed"])
    return PARTTask.build_model(argparse.Namespace(**config))


def test_stage_dirs_hold_config_and_checkpoints(chained):
    root = chained["root"]
    for name, conf in (("phase1", STAGE1), ("phase2", STAGE2)):
        config = yaml.safe_load((root / name / "config.yaml").read_text(encoding="utf-8"))
        assert config["llm_path"] == str(chained["llm_dir"])
        assert config["schedule_conf"] == conf["schedule_conf"]
        assert config["max_epoch"] == conf["max_epoch"]
        assert (root / name / "valid.acc.ave.pth").exists()
    assert json.loads(json.dumps(yaml.safe_load((root / "phase2" / "config.yaml").read_text())["lora_conf"])) == \
        STAGE2["lora_conf"]
    assert (root / "phase2" / "1epoch.pth").is_file() and (root / "phase2" / "2epoch.pth").is_file()
    # The hook logged the trainable set of each epoch, and the task mix filtered the batches.
    assert "epoch 1: trainable groups ['encoder_last_1']" in chained["log"]
    assert "epoch 2: trainable groups ['adapter', 'encoder', 'llm_lora']" in chained["log"]
    assert "batches of tasks ['asr', 's2tt', 'mt']" in chained["log"]


def test_checkpoints_keep_lora_but_not_the_frozen_llm(chained):
    root = chained["root"]
    s1 = _load(root / "phase1" / "valid.acc.ave.pth")
    assert not [k for k in s1 if k.startswith("llm.")]  # stage 1 has no LoRA and saves no LLM weight
    assert any(k.startswith("adapter.") for k in s1) and any(k.startswith("encoder.") for k in s1)
    for ckpt in ("1epoch.pth", "2epoch.pth", "valid.acc.ave.pth"):
        state = _load(root / "phase2" / ckpt)
        llm_keys = [k for k in state if k.startswith("llm.")]
        assert len(llm_keys) == 8 and all("lora_" in k for k in llm_keys), ckpt
    resume = torch.load(root / "phase2" / "checkpoint.pth", map_location="cpu", weights_only=False)
    assert [k for k in resume["model"] if k.startswith("llm.")] == llm_keys


def test_stage2_starts_from_stage1_and_follows_its_schedule(chained):
    root = chained["root"]
    s1 = _load(root / "phase1" / "valid.acc.ave.pth")
    e1 = _load(root / "phase2" / "1epoch.pth")
    e2 = _load(root / "phase2" / "2epoch.pth")
    fresh = _fresh_model(root / "phase1").state_dict()

    def same(a, b, keys):
        return [k for k in keys if not torch.equal(a[k], b[k])]

    adapter = [k for k in s1 if k.startswith("adapter.")]
    last_block = [k for k in s1 if k.startswith(("encoder.conformer.encoders.1.", "encoder.conformer.after_norm."))]
    frozen_encoder = [k for k in s1 if k.startswith("encoder.") and k not in last_block]
    lora_b = [k for k in e1 if "lora_B" in k]
    assert adapter and last_block and frozen_encoder and lora_b

    # Stage 1 trained the adapter and the encoder away from their initial values, and stage 2's own
    # random initialisation differs from them too ...
    assert len(same(s1, fresh, adapter)) == len(adapter)
    assert same(s1, fresh, frozen_encoder)
    fresh2 = _fresh_model(root / "phase2").state_dict()
    assert len(same(s1, fresh2, adapter)) == len(adapter)
    # ... and stage 2 started from them: what stage 2 froze in its first epoch is stage 1's, bit for bit.
    assert same(e1, s1, adapter) == []
    assert same(e1, s1, frozen_encoder) == []
    assert len(same(e1, s1, last_block)) == len(last_block)
    assert all(torch.count_nonzero(e1[k]) == 0 for k in lora_b)  # LoRA not yet trained (B starts at zero)
    # Epoch 2: adapter, the whole encoder and LoRA train.
    assert len(same(e2, e1, adapter)) == len(adapter)
    assert len(same(e2, e1, frozen_encoder)) > len(frozen_encoder) // 2
    assert all(torch.count_nonzero(e2[k]) > 0 for k in lora_b)


def test_load_model_rebuilds_a_trained_stage(chained):
    from part.inference import SpeechToText, load_model
    from part.model.llm import load_llm

    stage2 = chained["root"] / "phase2"
    model, tokenizer, config = load_model(str(stage2), "2epoch.pth")
    saved = _load(stage2 / "2epoch.pth")
    state = model.state_dict()
    assert set(state) == set(saved)
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    base = load_llm(str(chained["llm_dir"]))  # the frozen base weights come from the LLM directory
    emb = model.token_embedding.weight
    assert torch.equal(emb, base.get_input_embeddings().weight)
    assert not model.training and config["lora_conf"]["r"] == 4

    s2t = SpeechToText(model, tokenizer, PROMPTS, max_new_tokens=4)
    feats = [np.random.default_rng(0).standard_normal((50, 80)).astype(np.float32)] * 2
    prompts = ["<speech><|de|><|transcribe|>", "<speech><|de|><|translate|><|en|>"]
    hyps = s2t.decode_features(feats, prompts)
    assert len(hyps) == 2 and all(isinstance(h, str) for h in hyps)
    with pytest.raises(FileNotFoundError, match="model files in"):
        load_model(str(stage2), "missing.pth")


def test_full_llm_finetuning_keeps_the_base_weights_in_checkpoints(chained, tmp_path):
    """A schedule that trains the "llm" group must not drop the weights it trains from the checkpoints."""
    from part.tasks.part_task import PARTTask

    args = PARTTask.get_parser().parse_args(
        part_train_args(chained["tasks"], chained["tasks"], chained["llm_dir"], tmp_path / "exp"))
    args.schedule_conf = {"trainable": {1: ["adapter"], 2: ["adapter", "llm"]}}
    model = PARTTask.build_model(args)
    assert "llm.model.embed_tokens.weight" in model.state_dict()
    args.schedule_conf = {"trainable": {1: ["adapter"]}}
    assert not [k for k in PARTTask.build_model(args).state_dict() if k.startswith("llm.")]
