"""Parameter-activation schedules: the piecewise epoch table, the parameter groups, and — through
ESPnet's own training loop with PARTTrainer's epoch hook — that exactly the scheduled parameters change,
epoch by epoch."""
from __future__ import annotations

import pytest
import torch

from helpers_tiny import build_tiny_speech_llm, pad_ids, part_train_args, shared_tiny_llm
from part.schedule import ActivationSchedule, apply_trainable, resolve_group


# ---------------------------------------------------------------------------------------- the epoch table
def test_piecewise_lookup():
    s = ActivationSchedule.from_conf({"trainable": {1: ["adapter", "encoder_last_2"], "3": ["adapter", "encoder"],
                                                    7: "llm_lora"},
                                      "tasks": {1: ["asr"], 2: ["asr", "s2tt", "mt"]}})
    assert [s.trainable_at(e) for e in (1, 2, 3, 6, 7, 100)] == [
        ["adapter", "encoder_last_2"], ["adapter", "encoder_last_2"], ["adapter", "encoder"],
        ["adapter", "encoder"], ["llm_lora"], ["llm_lora"]]
    assert s.tasks_at(1) == ["asr"] and s.tasks_at(5) == ["asr", "s2tt", "mt"]
    assert s.all_tasks() == {"asr", "s2tt", "mt"}
    empty = ActivationSchedule.from_conf(None)
    assert empty.trainable_at(1) is None and empty.tasks_at(3) is None and empty.all_tasks() == set()
    # Keys are sorted whatever order the YAML gave them in.
    assert ActivationSchedule({5: ["llm"], 1: ["adapter"]}).trainable_at(4) == ["adapter"]


@pytest.mark.parametrize("conf, message", [
    ({"trainable": {2: ["adapter"]}}, "must say what trains from epoch 1"),
    ({"tasks": {3: ["asr"]}}, "which tasks are used from epoch 1"),
    ({"trainable": {0: ["adapter"]}}, "epochs count from 1"),
    ({"trainable": {"first": ["adapter"]}}, "keys are first epochs"),
    ({"trainable": {1: ["adapter"]}, "lr": {1: 0.1}}, r"unknown key\(s\) \['lr'\]"),
])
def test_bad_schedules_are_refused(conf, message):
    with pytest.raises(ValueError, match=message):
        ActivationSchedule.from_conf(conf)


# ---------------------------------------------------------------------------------------- parameter groups
@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    return shared_tiny_llm(tmp_path_factory)


@pytest.fixture(scope="module")
def lora_model(llm_dir):
    model, tok = build_tiny_speech_llm(llm_dir, adapter="linear", lora=True, ctc_vocab=True)
    return model, tok


def test_resolve_group(lora_model, llm_dir):
    model, _ = lora_model
    names = {n for n, _ in model.named_parameters()}
    enc = model.encoder
    assert resolve_group(model, "adapter") == {n for n in names if n.startswith("adapter.")}
    assert resolve_group(model, "encoder") == {n for n in names if n.startswith("encoder.")}
    assert resolve_group(model, "encoder_ctc") == {"encoder.ctc_head.weight", "encoder.ctc_head.bias"}
    assert resolve_group(model, "llm") == {n for n in names if n.startswith("llm.")}
    lora = resolve_group(model, "llm_lora")
    assert len(lora) == 8 and all("lora_A" in n or "lora_B" in n for n in lora)

    def names_of(module, prefix):
        return {f"{prefix}.{n}" for n, _ in module.named_parameters()}

    block0 = names_of(enc.blocks()[0], "encoder.conformer.encoders.0")
    block1 = names_of(enc.blocks()[1], "encoder.conformer.encoders.1")
    tail = names_of(enc.conformer.after_norm, "encoder.conformer.after_norm") | {
        "encoder.ctc_head.weight", "encoder.ctc_head.bias"}
    assert block0 and block1 and block0 <= names
    assert resolve_group(model, "encoder_last_1") == block1 | tail
    assert resolve_group(model, "encoder_last_2") == block0 | block1 | tail  # not the subsampling front-end
    assert not any(n.startswith("encoder.conformer.embed.") for n in resolve_group(model, "encoder_last_2"))

    with pytest.raises(ValueError, match="the encoder has 2 blocks"):
        resolve_group(model, "encoder_last_3")
    with pytest.raises(ValueError, match="encoder has 2 blocks"):
        resolve_group(model, "encoder_last_0")
    with pytest.raises(ValueError, match="unknown parameter group 'decoder'"):
        resolve_group(model, "decoder")
    plain, _ = build_tiny_speech_llm(llm_dir, adapter="linear")
    with pytest.raises(ValueError, match="'llm_lora' matches no parameter.*LoRA"):
        resolve_group(plain, "llm_lora")
    with pytest.raises(ValueError, match="'encoder_ctc' matches no parameter"):
        resolve_group(plain, "encoder_ctc")


def test_apply_trainable_sets_exactly_the_groups(lora_model):
    model, _ = lora_model
    count = apply_trainable(model, ["adapter", "llm_lora"])
    wanted = resolve_group(model, "adapter") | resolve_group(model, "llm_lora")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == wanted
    assert count == sum(p.numel() for n, p in model.named_parameters() if n in wanted)
    apply_trainable(model, ["encoder_last_1"])  # a later call replaces, not extends, the trainable set
    assert {n for n, p in model.named_parameters() if p.requires_grad} == resolve_group(model, "encoder_last_1")


# ---------------------------------------------------------------------------------------- through the trainer
def _batches(tok, n=2):
    """Two collated training batches as ESPnet's iterator yields them: (utterance ids, tensors)."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for b in range(n):
        prompts = [tok.encode(s, add_special_tokens=False) for s in ("<|de|><|transcribe|>", "<|en|><|transcribe|>")]
        targets = [tok.encode(s, add_special_tokens=False) for s in ("die katze sass", "the sun is warm")]
        frames = [48, 40]
        speech = torch.zeros(2, 48, 80)
        for i, f in enumerate(frames):
            speech[i, :f] = torch.randn(f, 80, generator=gen)
        prefix, prefix_len = pad_ids([[], []])
        prefix_len = torch.zeros(2, dtype=torch.long)
        suffix, suffix_len = pad_ids(prompts)
        text, text_len = pad_ids(targets)
        out.append(([f"b{b}-0", f"b{b}-1"], dict(speech=speech, speech_lengths=torch.tensor(frames), prefix=prefix,
                                                 prefix_lengths=prefix_len, suffix=suffix,
                                                 suffix_lengths=suffix_len, text=text, text_lengths=text_len)))
    return out


def test_trainer_hook_trains_exactly_the_scheduled_parameters_epoch_by_epoch(llm_dir, tmp_path):
    from espnet2.train.distributed_utils import DistributedOption
    from espnet2.train.reporter import Reporter

    from part.tasks.part_task import PARTTask
    from part.tasks.trainer import PARTTrainer

    schedule = {"trainable": {1: ["adapter", "encoder_last_1"], 2: ["adapter", "encoder"], 3: ["llm_lora"],
                              4: ["adapter"]}}
    model, tok = build_tiny_speech_llm(llm_dir, adapter="linear", lora=True)
    with torch.no_grad():  # LoRA B starts at zero, which would leave LoRA A without gradient in one step
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    # The real trainer options (ESPnet's parser and PARTTrainer.build_options), with one optimizer over every
    # parameter, as ESPnet's AbsTask builds it.
    args = PARTTask.get_parser().parse_args(part_train_args(tmp_path, tmp_path, llm_dir, tmp_path / "exp"))
    args.schedule_conf = schedule
    options = PARTTrainer.build_options(args)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    batches = _batches(tok)

    def tensors():  # parameters and buffers (a frozen layer's batch-norm statistics are part of it)
        return dict(list(model.named_parameters()) + list(model.named_buffers()))

    def with_statistics(params):
        """Scheduled parameters plus the running statistics of the batch-norm layers they belong to."""
        out = set(params)
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and f"{name}.weight" in params:
                out |= {f"{name}.{b}" for b, _ in module.named_buffers()}
        return out

    reporter = Reporter()
    for epoch in (1, 2, 3, 4):
        before = {n: t.detach().clone() for n, t in tensors().items()}
        reporter.set_epoch(epoch)
        with reporter.observe("train") as sub:
            PARTTrainer.train_one_epoch(model=model, iterator=batches, optimizers=[optimizer], schedulers=[None],
                                        scaler=None, reporter=sub, summary_writer=None, options=options,
                                        distributed_option=DistributedOption())
        params = set().union(*(resolve_group(model, g) for g in schedule["trainable"][epoch]))
        wanted = with_statistics(params)
        changed = {n for n, t in tensors().items() if not torch.equal(t, before[n])}
        # Exactly the scheduled parameters changed; everything else is bit-identical — also those that
        # trained in the previous epoch and still carry optimizer momentum.
        assert changed == wanted, (epoch, sorted(changed ^ wanted)[:5])
        assert {n for n, p in model.named_parameters() if p.requires_grad} == params


def test_a_task_schedule_is_never_silently_ignored(monkeypatch, caplog):
    """ESPnet iterators other than the sequence one would drop schedule_conf.tasks without a word: refused.
    data_conf on example lists (it shapes raw-shard batches only) is a warning."""
    import argparse
    import logging

    from espnet2.tasks.abs_task import AbsTask

    from part.tasks.part_task import PARTTask

    monkeypatch.setattr(AbsTask, "build_iter_factory", classmethod(lambda cls, *a, **k: object()))
    args = argparse.Namespace(train_shards=None, valid_shards=None, data_conf={"max_duration": 60},
                              schedule_conf={"tasks": {1: ["asr"], 2: ["asr", "s2tt"]}}, iterator_type="category")
    with caplog.at_level(logging.WARNING):
        with pytest.raises(ValueError, match="would silently ignore the task schedule"):
            PARTTask.build_iter_factory(args, None, "train")
    assert "data_conf applies to raw-audio shards" in caplog.text
