"""Updates that carry gradient (part/tasks/update_counts.py): the model counts its training batches and
those whose loss reached a trainable parameter; the trainer writes the counts of every epoch."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch
import yaml

from helpers_tiny import FEAT_DIM, REPO, build_tiny_speech_llm, make_task_dir, pad_ids, part_train_args, \
    shared_tiny_llm
from part.schedule.schedule import apply_trainable
from part.tasks import update_counts


def _batch(tokenizer, speech: bool):
    """One example: ASR (speech + prompt suffix) or text-only translation (prompt prefix only)."""
    text, _ = pad_ids([tokenizer.encode("the cat sat", add_special_tokens=False)])
    if speech:
        feats, lengths = torch.randn(1, 40, FEAT_DIM), torch.tensor([40])
        prefix, prefix_len = pad_ids([[]])
        suffix, suffix_len = pad_ids([tokenizer.encode("<|en|><|transcribe|>", add_special_tokens=False)])
    else:
        feats, lengths = torch.zeros(1, 0, FEAT_DIM), torch.tensor([0])
        prefix, prefix_len = pad_ids([tokenizer.encode("die katze<|de|><|translate|><|en|>", add_special_tokens=False)])
        suffix, suffix_len = pad_ids([[]])
    return dict(speech=feats, speech_lengths=lengths, prefix=prefix, prefix_lengths=prefix_len, suffix=suffix,
                suffix_lengths=suffix_len, text=text, text_lengths=torch.tensor([text.size(1)]))


def test_the_model_counts_batches_whose_loss_reaches_a_trainable_parameter(tmp_path_factory):
    model, tokenizer = build_tiny_speech_llm(shared_tiny_llm(tmp_path_factory), adapter="linear")
    apply_trainable(model, ["adapter"])  # the LLM is frozen: a text-only batch reaches nothing trainable
    model.train()
    update_counts.start_epoch(model)
    for speech in (True, False, False, True, False):
        loss, _, _ = model(**_batch(tokenizer, speech))
        loss.backward()  # the text-only loss is kept attached (0.0 * sum(p)): backward works
    assert model.update_counts == {"batches": 5, "with_gradient": 2}
    # Validation (no gradient) and evaluation mode are not training batches.
    with torch.no_grad():
        model(**_batch(tokenizer, True))
    model.eval()
    model(**_batch(tokenizer, True))
    assert model.update_counts == {"batches": 5, "with_gradient": 2}
    # With LoRA on the LLM, text-only batches carry gradient too.
    lora_model, _ = build_tiny_speech_llm(shared_tiny_llm(tmp_path_factory), adapter="linear", lora=True)
    apply_trainable(lora_model, ["adapter", "llm_lora"])
    lora_model.train()
    lora_model(**_batch(tokenizer, False))[0].backward()
    assert lora_model.update_counts == {"batches": 1, "with_gradient": 1}


def test_the_trainer_writes_the_counts_of_every_epoch(tmp_path_factory):
    """An adapter-only phase that mixes ASR with text-only translation: every batch is an update, only the
    ASR ones carry gradient; the counts of each epoch land in grad_updates.json."""
    root = tmp_path_factory.mktemp("counts")
    tasks = make_task_dir(root / "data", tasks=("asr", "mt"))
    config = root / "phase.yaml"
    config.write_text(yaml.safe_dump({"schedule_conf": {"trainable": {1: ["adapter"]},
                                                        "tasks": {1: ["asr"], 2: ["asr", "mt"]}},
                                      "max_epoch": 2}), encoding="utf-8")
    out = root / "phase"
    cmd = ["--config", str(config)] + part_train_args(tasks, tasks, shared_tiny_llm(tmp_path_factory), out,
                                                      num_iters_per_epoch=4)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "part.bin.part_train", *cmd], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / update_counts.FILE).read_text())
    assert record["accum_grad"] == 1 and set(record["epochs"]) == {"1", "2"}
    assert record["epochs"]["1"] == {"batches": 4, "with_gradient": 4}  # ASR only
    second = record["epochs"]["2"]
    assert second["batches"] == 4 and second["with_gradient"] < 4  # some mt batches: no gradient
    assert update_counts.totals(out) == {"batches": 8, "with_gradient": 4 + second["with_gradient"], "epochs": 2}
    # Validation scores every epoch on the same mix, every task the phase schedules (so that the best epoch
    # is chosen among comparable scores), while training follows the schedule.
    log = proc.stderr
    assert "epoch 1: " in log and re.search(r"epoch 1: \d+ batches of tasks \['asr'\]", log)
    assert len(re.findall(r"epoch 1: \d+ batches of tasks \['asr', 'mt'\]", log)) == 1  # validation
    assert len(re.findall(r"epoch 2: \d+ batches of tasks \['asr', 'mt'\]", log)) == 2  # training, validation


def test_a_damaged_record_names_the_file(tmp_path):
    assert update_counts.totals(tmp_path) is None  # no record: a phase trained before counting existed
    (tmp_path / update_counts.FILE).write_text('{"epochs": {"1": {"batches": 3}}}')
    with pytest.raises(ValueError, match=f"{update_counts.FILE}: not a grad_updates record"):
        update_counts.read(tmp_path)
