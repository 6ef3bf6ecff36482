"""Data-parallel training on CPU through ESPnet's own machinery: two processes (gloo, ``--ngpu 0``,
``--dist_world_size 2 --dist_rank R --multiprocessing_distributed false``, ``file://`` rendezvous) with
half the global batch each train the same model as one process with the whole batch — with DDP, and with
FSDP2 (``--sharded_engine fsdp2``), whose checkpoints hold full tensors and resume.

ESPnet's ``--batch_size`` is the global batch: each rank takes ``batch[rank::world_size]``. The loss is
a mean over target tokens per batch, and ESPnet averages the ranks' losses weighted by their example
counts; with targets of equal token length both are the same mean, so the two runs agree to rounding
(the encoder has no batch norm here: its statistics would be per process).
The schedule switches the encoder on in epoch 2: the trainer must rebuild the DDP wrapper, otherwise
the encoder's gradients would not be averaged across ranks (and its replica check would stop the run).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers_tiny import REPO, SUBPROCESS_ENV, make_training_world, part_train_args

CONFIG = """\
max_epoch: 2
batch_size: 4
optim: sgd
optim_conf:
    lr: 1.0
    momentum: 0.5  # optimizer state (a momentum buffer per parameter): checkpoints must carry it
schedule_conf:
    trainable:
        1: [adapter]
        2: [adapter, encoder]
"""
WORDS_PER_TARGET = 4


def equal_length_targets(task_dir: Path, llm_dir: Path, seed: int) -> None:
    """Rewrite the targets as WORDS_PER_TARGET single-token words each: every example then has the same
    number of target tokens, and a mean over tokens is a mean over examples."""
    from part.model.llm import load_tokenizer

    from helpers_tiny import SENTENCES

    tok = load_tokenizer(str(llm_dir))
    words = sorted({w for row in SENTENCES for lang in ("en", "de") for w in row[lang].split()
                    if len(tok.encode(w, add_special_tokens=False)) == 1})
    assert len(words) >= WORDS_PER_TARGET
    rng = np.random.default_rng(seed)
    lines = []
    for line in (task_dir / "text").read_text(encoding="utf-8").splitlines():
        key = line.split(" ", 1)[0]
        target = " ".join(rng.choice(words, WORDS_PER_TARGET, replace=False))
        assert len(tok.encode(target, add_special_tokens=False)) == WORDS_PER_TARGET
        lines.append(f"{key} {target}\n")
    (task_dir / "text").write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    world = make_training_world(tmp_path_factory.mktemp("distributed"), CONFIG, num_train=8)
    equal_length_targets(world["train"], world["llm"], 0)
    equal_length_targets(world["valid"], world["llm"], 1)
    return world


def stage_args(setup, out: Path):
    args = part_train_args(setup["train"], setup["valid"], setup["llm"], out)
    args = [a.replace("num_blocks=2", "num_blocks=1") for a in args]
    for option in ("--batch_size", "--optim", "--optim_conf"):  # from the config instead
        i = args.index(option)
        del args[i:i + 2]
    # No convolution module, hence no batch norm: its statistics are per process (SyncBatchNorm needs GPUs),
    # which is the one thing that legitimately differs between 2 x B and 1 x 2B.
    return ["--config", str(setup["config"])] + args + ["--encoder_conf", "use_cnn_module=false", "--resume", "true"]


def run_training_cmd(out: Path, args):
    return [sys.executable, "-m", "part.bin.run_training", "--name", "ddp", "--output_dir", str(out), "--", *args]


def reporter_stats(out: Path):
    import torch

    return torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)["reporter"]["stats"]


def distributed_args(rank: int, init_file: Path):
    return ["--ngpu", "0", "--multiprocessing_distributed", "false", "--dist_backend", "gloo",
            "--dist_world_size", "2", "--dist_rank", str(rank), "--dist_init_method", f"file://{init_file}"]


def run_ranks(commands, root: Path, name: str):
    """Run one command per rank (rank r gets ``commands[r]``); returns rank 0's log, fails with every tail."""
    procs, logs = [], []
    for rank, cmd in enumerate(commands):
        logs.append(root / f"{name}.rank{rank}.log")
        with open(logs[-1], "w") as log:
            # SUBPROCESS_ENV: one thread per rank, as two ranks share the two cores of a CI machine.
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=log))
    try:
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    tails = "\n".join(f"--- rank {r}:\n" + logs[r].read_text()[-3000:] for r in range(len(logs)))
    assert codes == [0] * len(commands), tails
    return logs[0].read_text()


@pytest.fixture(scope="module")
def single(setup):
    """The single-process reference run with the whole global batch."""
    from part.bin import run_training

    out = setup["root"] / "exp" / "single"
    assert run_training.main(["--name", "single", "--output_dir", str(out), "--", *stage_args(setup, out)]) == 0
    return out


def assert_same_training(out: Path, reference: Path, tolerance: float = 1e-6):
    """Same per-epoch losses and final weights as the reference run, which moved far more than that."""
    import torch

    got, expected = reporter_stats(out), reporter_stats(reference)
    assert sorted(got) == sorted(expected) == [1, 2]
    for epoch in (1, 2):
        for phase in ("train", "valid"):
            assert got[epoch][phase]["loss"] == pytest.approx(expected[epoch][phase]["loss"], rel=1e-5), (epoch, phase)
    # Training moved the loss far more than the two runs differ: the match means something.
    assert abs(expected[2]["train"]["loss"] - expected[1]["train"]["loss"]) > 1e-3

    a = torch.load(out / "2epoch.pth", map_location="cpu")
    b = torch.load(reference / "2epoch.pth", map_location="cpu")
    after_epoch1 = torch.load(reference / "1epoch.pth", map_location="cpu")
    assert sorted(a) == sorted(b)
    floats = [k for k in a if a[k].is_floating_point()]
    moved = max(float((b[k] - after_epoch1[k]).abs().max()) for k in floats if k.startswith("encoder."))
    worst = max(float((a[k] - b[k]).abs().max()) for k in floats)
    assert moved > 1e-2, "the encoder did not train in epoch 2"
    assert worst < tolerance, f"weights of the 2-process and 1-process runs differ by up to {worst}"


def test_two_processes_match_one_process_with_the_global_batch(setup, single):
    root = setup["root"]
    ddp_out = root / "exp" / "ddp"
    init_file = root / "dist_init"  # file:// rendezvous: must not exist beforehand
    rank0 = run_ranks([run_training_cmd(ddp_out, stage_args(setup, ddp_out) + distributed_args(rank, init_file))
                       for rank in range(2)], root, "ddp")
    assert "rebuilding the DistributedDataParallel wrapper" in rank0
    assert (ddp_out / ".done").is_file() and (ddp_out / "stage_options.json").is_file()
    assert_same_training(ddp_out, single)


def test_fsdp2_shards_match_one_process_and_their_checkpoints_resume_in_any_process(setup, single):
    """FSDP2 over 2 processes, interrupted after epoch 1 and resumed for epoch 2 (where the schedule adds
    the encoder), trains like one process; its checkpoints are full-tensor files that a single process
    reads as its own."""
    import torch

    root = setup["root"]
    out = root / "exp" / "fsdp2"

    def launch(name, max_epoch):
        part_train = [sys.executable, "-m", "part.bin.part_train"]
        return run_ranks([part_train + stage_args(setup, out) + distributed_args(rank, root / f"{name}_init") +
                          ["--sharded_engine", "fsdp2", "--max_epoch", str(max_epoch)] for rank in range(2)],
                         root, name)

    assert "FSDP2: 3 units + root over 2 processes" in launch("fsdp2_epoch1", 1)  # encoder block, adapter, LLM layer
    assert reporter_stats(out).keys() == {1}
    first = torch.load(out / "1epoch.pth", map_location="cpu")
    reference = torch.load(single / "1epoch.pth", map_location="cpu")
    assert {k: v.shape for k, v in first.items()} == {k: v.shape for k, v in reference.items()}  # full tensors
    rank0 = launch("fsdp2_resumed", 2)
    assert "resumed from" in rank0 and "continuing at epoch 2" in rank0
    assert_same_training(out, single)

    # checkpoint.pth is a single process's checkpoint: same parameters, same optimizer state layout.
    sharded_ckpt = torch.load(out / "checkpoint.pth", map_location="cpu", weights_only=False)
    single_ckpt = torch.load(single / "checkpoint.pth", map_location="cpu", weights_only=False)
    for got, expected in zip(sharded_ckpt["optimizers"], single_ckpt["optimizers"]):
        assert got["param_groups"][0]["params"] == expected["param_groups"][0]["params"]
        assert got["state"].keys() == expected["state"].keys() and len(got["state"]) > 0
        for index, state in expected["state"].items():
            buffer = got["state"][index]["momentum_buffer"]
            assert type(buffer) is torch.Tensor and buffer.shape == state["momentum_buffer"].shape
            assert torch.allclose(buffer, state["momentum_buffer"], atol=1e-5), index
    averaged = torch.load(out / "valid.acc.ave.pth", map_location="cpu")
    expected = torch.load(single / "valid.acc.ave.pth", map_location="cpu")
    assert all(torch.allclose(averaged[k].float(), expected[k].float(), atol=1e-5) for k in expected)
