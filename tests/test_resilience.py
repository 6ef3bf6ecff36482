"""Resilience of the training phases (python -m part.bin.run_training) and of stage 2's feature extraction:

- a stage killed with SIGKILL in the middle of an epoch resumes from its last checkpoint and ends with
  exactly the weights of an uninterrupted run (CPU, same seed: bit-identical);
- checkpoints are written atomically and the previous one is kept: a truncated ``checkpoint.pth`` falls
  back to ``checkpoint.prev.pth``, two unreadable ones fail naming the file;
- finished stages are skipped, changed ones refused with the differences, ``--redo true`` starts over;
- bad input fails with one clear message naming the file or option, a non-zero exit and nothing
  half-written (missing LLM dir, foreign tokenizer, config typos, corrupt init/encoder checkpoints,
  full disk while writing checkpoints or features, unknown language, data emptied by length filtering).

Tiny models (conformer 32 x 1 block, Qwen2 32 x 1 layer) keep the whole module at about a minute on CPU.
"""
from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers_tiny import REPO, SUBPROCESS_ENV, make_training_world, part_train_args

# One thread in every process (SUBPROCESS_ENV, the fixture `one_thread`): the killed subprocess and the
# in-process runs overlap on a 2-core machine, and the same thread count everywhere keeps CPU results
# bit-identical.
# Two epochs; the encoder joins the adapter in epoch 2 (the resumed run must know where it is in the
# schedule); a per-step warm-up scheduler (its state must resume); dropout (the random state must resume).
CONFIG = """\
max_epoch: 2
scheduler: warmuplr
scheduler_conf:
    warmup_steps: 5
schedule_conf:
    trainable:
        1: [adapter]
        2: [adapter, encoder]
keep_nbest_models: 1
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return make_training_world(tmp_path_factory.mktemp("resilience"), CONFIG)


def train_args(world, out: Path, config: Path = None, **options):
    args = part_train_args(world["train"], world["valid"], world["llm"], out, **options)
    args = [a.replace("num_blocks=2", "num_blocks=1") for a in args]
    args += ["--encoder_conf", "dropout_rate=0.1", "--resume", "true"]
    return ["--config", str(config or world["config"])] + args


def run_training(out: Path, args, *own) -> int:
    from part.bin import run_training as rs

    return rs.main(["--name", "test", "--output_dir", str(out), *own, "--", *args])


def model_state(path: Path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


def train_losses(out: Path):
    stats = model_state(out / "checkpoint.pth")["reporter"]["stats"]
    return {epoch: stats[epoch]["train"]["loss"] for epoch in sorted(stats)}


def assert_same_weights(a: Path, b: Path):
    import torch

    sa, sb = model_state(a), model_state(b)
    assert sorted(sa) == sorted(sb)
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def no_tmp_files(out: Path):
    return [p.name for p in out.rglob("*.tmp")] == []


def _start_and_kill_in_epoch_2(world, out: Path, args=None):
    """Start the stage (``args``: its part_train options, by default ``train_args``) as a subprocess and a
    thread that SIGKILLs it in epoch 2, after its first optimizer step (which the resumed run must redo
    from epoch 1's checkpoint). Returns the process, the thread and the subprocess's log."""
    log = world["root"] / "killed.log"
    cmd = [sys.executable, "-m", "part.bin.run_training", "--name", "test", "--output_dir", str(out), "--",
           *(args or train_args(world, out))]
    with open(log, "w") as stderr:
        proc = subprocess.Popen(cmd, cwd=REPO, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=stderr)

    def watch():
        # An epoch of the tiny model lasts a fraction of a second: once epoch 1's checkpoint exists, look at
        # the log with the process stopped (SIGSTOP), so that the kill lands inside epoch 2 for sure.
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not (out / "checkpoint.pth").exists():
            time.sleep(0.01)
        while time.time() < deadline and proc.poll() is None:
            os.kill(proc.pid, signal.SIGSTOP)
            text = log.read_text(errors="replace")
            if "2epoch:train:1-1batch" in text and "2epoch results" not in text:  # a step of epoch 2 is done
                os.kill(proc.pid, signal.SIGKILL)
                break
            os.kill(proc.pid, signal.SIGCONT)
            if "2epoch results" in text:
                break  # missed (cannot happen unless epoch 2 ran between two looks): the fixture fails
            time.sleep(0.002)
        proc.wait()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return proc, thread, log


@pytest.fixture(scope="module")
def killed_and_reference(world):
    """A stage killed with SIGKILL in epoch 2 (a subprocess) and, meanwhile, an uninterrupted run."""
    killed = world["root"] / "exp" / "killed"
    proc, thread, log = _start_and_kill_in_epoch_2(world, killed)
    reference = world["root"] / "exp" / "reference"
    try:
        assert run_training(reference, train_args(world, reference)) == 0
    finally:
        thread.join(timeout=300)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the stage ended before it was killed:\n" + log.read_text()[-3000:]
    assert "2epoch results" not in log.read_text(errors="replace")  # killed inside epoch 2
    return killed, reference


@pytest.fixture(scope="module")
def reference(killed_and_reference):
    """An uninterrupted 2-epoch run."""
    return killed_and_reference[1]


# ---------------------------------------------------------------------------------------------- resume
def test_kill_mid_epoch_then_resume_equals_uninterrupted(world, killed_and_reference, caplog):
    out, reference = killed_and_reference
    assert not (out / ".done").exists()
    killed_at = model_state(out / "checkpoint.pth")["reporter"]["epoch"]
    assert killed_at == 1

    caplog.set_level(logging.INFO)
    assert run_training(out, train_args(world, out)) == 0
    assert f"continuing at epoch {killed_at + 1}" in caplog.text
    assert (out / ".done").is_file() and no_tmp_files(out)
    # Optimizer, scheduler, schedule position and random state all resumed: the very same weights.
    assert_same_weights(reference / "2epoch.pth", out / "2epoch.pth")
    assert_same_weights(reference / "valid.acc.ave.pth", out / "valid.acc.ave.pth")
    assert train_losses(out) == train_losses(reference)
    # Both attempts are in the stage's own log: the killed one and the resumed one.
    log = (out / "train.log").read_text(encoding="utf-8")
    assert log.count("log of this attempt") == 2 and "continuing at epoch 2" in log
    assert "2epoch results" in log


def test_truncated_checkpoint_falls_back_to_previous(world, reference, caplog):
    out = world["root"] / "exp" / "truncated"
    shutil.copytree(reference, out, symlinks=True)
    (out / ".done").unlink()
    (out / "stage_options.json").unlink()  # it names the reference's output dir
    assert model_state(out / "checkpoint.prev.pth")["reporter"]["epoch"] == 1
    data = (out / "checkpoint.pth").read_bytes()
    (out / "checkpoint.pth").write_bytes(data[: len(data) // 2])

    caplog.set_level(logging.INFO)
    assert run_training(out, train_args(world, out)) == 0
    assert "checkpoint.pth' cannot be read" in caplog.text
    assert "resuming from the previous checkpoint" in caplog.text
    assert_same_weights(reference / "2epoch.pth", out / "2epoch.pth")  # epoch 2 re-trained from epoch 1


def test_unreadable_checkpoints_fail_naming_the_file(world, reference, caplog):
    out = world["root"] / "exp" / "both_bad"
    shutil.copytree(reference, out, symlinks=True)
    (out / ".done").unlink()
    (out / "stage_options.json").unlink()
    (out / "checkpoint.pth").write_bytes(b"not a checkpoint")
    (out / "checkpoint.prev.pth").write_bytes(b"")
    assert run_training(out, train_args(world, out)) == 1
    assert f"cannot resume: checkpoint '{out / 'checkpoint.pth'}' cannot be read" in caplog.text
    assert "--redo true" in caplog.text
    assert (out / "2epoch.pth").exists()  # nothing of it was removed


def test_atomic_save_keeps_previous_and_leaves_no_partial_file(tmp_path, monkeypatch):
    import torch

    from part.tasks import trainer

    path = tmp_path / "checkpoint.pth"
    trainer.atomic_save({"epoch": 1}, path)
    trainer.atomic_save({"epoch": 2}, path)
    assert torch.load(path)["epoch"] == 2 and torch.load(tmp_path / "checkpoint.prev.pth")["epoch"] == 1
    monkeypatch.setattr(trainer, "_open", _full_disk_open(after_bytes=10))
    with pytest.raises(trainer.DiskFullError) as info:
        trainer.atomic_save({"epoch": 3, "w": torch.zeros(1000)}, path)
    assert "disk full" in str(info.value) and str(path) in str(info.value) and str(tmp_path) in str(info.value)
    assert torch.load(path)["epoch"] == 2 and torch.load(tmp_path / "checkpoint.prev.pth")["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoint.pth", "checkpoint.prev.pth"])


def _full_disk_open(after_bytes: int, match: str = "", skip: int = 0):
    """An ``open`` whose files (names containing ``match``, after the first ``skip`` of them) fail with
    ENOSPC after ``after_bytes``."""
    real_open = open
    seen = []

    class FullDiskFile:
        def __init__(self, f):
            self._f, self._written = f, 0

        def write(self, data):
            if self._written + len(data) > after_bytes:
                self._f.write(bytes(data)[: max(after_bytes - self._written, 0)])
                self._f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._written += len(data)
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def fake_open(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        if match in Path(path).name and "w" in mode:
            seen.append(path)
            if len(seen) > skip:
                return FullDiskFile(f)
        return f

    return fake_open


def test_disk_full_while_checkpointing(world, monkeypatch, caplog):
    """ENOSPC on the second epoch's checkpoint: a clear message, the first epoch's checkpoint intact, no
    partial file, a non-zero exit; the same command then resumes and finishes."""
    from part.tasks import trainer

    out = world["root"] / "exp" / "disk_full"
    monkeypatch.setattr(trainer, "_open", _full_disk_open(after_bytes=4096, match=".checkpoint.pth.", skip=1))
    caplog.set_level(logging.INFO)
    assert run_training(out, train_args(world, out)) == 1
    assert f"disk full: no space left on the device holding '{out.resolve()}'" in caplog.text
    assert f"'{out / 'checkpoint.pth'}' still holds the previous version" in caplog.text
    assert "keeps its last complete checkpoint; re-run the same command to resume" in caplog.text
    assert model_state(out / "checkpoint.pth")["reporter"]["epoch"] == 1
    assert no_tmp_files(out) and not (out / ".done").exists()

    monkeypatch.undo()
    assert run_training(out, train_args(world, out)) == 0
    assert model_state(out / "checkpoint.pth")["reporter"]["epoch"] == 2


# ---------------------------------------------------------------------------------------------- idempotence
def test_finished_stage_is_skipped_changed_refused_redo_restarts(world, caplog):
    out = world["root"] / "exp" / "idempotent"
    config = write(world["root"] / "conf" / "one_epoch.yaml", CONFIG.replace("max_epoch: 2", "max_epoch: 1"))
    args = train_args(world, out, config)
    caplog.set_level(logging.INFO)
    assert run_training(out, args) == 0
    stamp = (out / "checkpoint.pth").stat().st_mtime_ns

    caplog.clear()
    assert run_training(out, args) == 0
    assert "finished already" in caplog.text and "skipping" in caplog.text
    assert (out / "checkpoint.pth").stat().st_mtime_ns == stamp

    # A comment or layout edit in the config file is not a change of configuration.
    write(config, "# one epoch only\n" + CONFIG.replace("max_epoch: 2", "max_epoch:   1  # short"))
    caplog.clear()
    assert run_training(out, args) == 0
    assert "finished already" in caplog.text
    assert (out / "checkpoint.pth").stat().st_mtime_ns == stamp

    write(config, CONFIG.replace("max_epoch: 2", "max_epoch: 1").replace("warmup_steps: 5", "warmup_steps: 7"))
    caplog.clear()
    assert run_training(out, args) == 3
    assert "was made with other options or inputs (data, initial model); refusing" in caplog.text
    assert "-    warmup_steps: 5" in caplog.text.replace('\\n', '\n') or "warmup_steps: 5" in caplog.text
    assert "warmup_steps: 7" in caplog.text
    assert (out / "checkpoint.pth").stat().st_mtime_ns == stamp

    caplog.clear()
    assert run_training(out, args, "--redo", "true") == 0
    assert "--redo true: removing" in caplog.text
    assert (out / "checkpoint.pth").stat().st_mtime_ns != stamp
    assert model_state(out / "checkpoint.pth")["reporter"]["epoch"] == 1


def test_a_finished_stage_whose_data_changed_is_refused_not_reused(world, caplog, tmp_path):
    """Re-made data (stages 1-3 run again) must not let an old stage count as finished."""
    import shutil

    data = tmp_path / "train_copy"
    shutil.copytree(world["train"], data)
    world = dict(world, train=data)
    out = world["root"] / "exp" / "data_changed"
    config = write(world["root"] / "conf" / "one_epoch_data.yaml", CONFIG.replace("max_epoch: 2", "max_epoch: 1"))
    args = train_args(world, out, config)
    assert run_training(out, args) == 0
    text = data / "text"
    lines = text.read_text(encoding="utf-8").splitlines()
    key, value = lines[0].split(" ", 1)
    lines[0] = f"{key} {value} extra"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    caplog.clear()
    caplog.set_level(logging.INFO)
    assert run_training(out, args) == 3
    assert "other options or inputs" in caplog.text and str(text) in caplog.text


# ---------------------------------------------------------------------------------------------- bad input
def _foreign_tokenizer(world) -> Path:
    """The LLM's tokenizer with 50 more tokens than the LLM has embeddings."""
    from part.model.llm import load_llm, load_tokenizer

    path = world["root"] / "bigger_tokenizer"
    if not path.is_dir():
        tok = load_tokenizer(str(world["llm"]))
        vocab = load_llm(str(world["llm"])).get_input_embeddings().weight.size(0)
        tok.add_tokens([f"newtoken{i}" for i in range(vocab - len(tok) + 50)])
        tok.save_pretrained(str(path))
        shutil.copy(world["llm"] / "config.json", path / "config.json")
    return path


def _corrupt_encoder_dir(world) -> Path:
    path = world["root"] / "bad_encoder"
    write(path / "config.yaml", "encoder: conformer\nencoder_conf: {output_size: 32, num_blocks: 1}\n"
                                "input_size: 80\nmodel_type: ctc_encoder\n")
    (path / "valid.loss.best.pth").write_bytes(b"PK\x03\x04 truncated")
    return path


def _empty_task_dir(world) -> Path:
    path = world["root"] / "empty_tasks"
    if not path.is_dir():
        shutil.copytree(world["train"], path)
        for name in ("feats.scp", "prompt", "text", "speech_shape", "utt2category"):
            (path / name).write_text("")
    return path


def _bad_cases(world):
    """name -> (args changer, expected exit status, words of the message)."""
    bad_ckpt = world["root"] / "truncated_model.pth"
    if not bad_ckpt.exists():
        bad_ckpt.write_bytes(b"PK\x03\x04\x14\x00" + b"\x00" * 100)
    return {
        "missing_llm_dir": (
            lambda a: _replace(a, "--llm_path", str(world["root"] / "no_such_llm")), 2,
            ["LLM directory", "no_such_llm", "does not exist", "--llm_path"]),
        "tokenizer_not_of_this_model": (
            lambda a: a + ["--tokenizer_path", str(_foreign_tokenizer(world))], 1,
            ["tokenizer", "bigger_tokenizer", "tokens but the LLM in", "does not belong to this model"]),
        "config_key_typo": (
            lambda a: _with_config(world, a, CONFIG + "max_epochs: 2\n"), 2,
            ["unknown option 'max_epochs'", "did you mean 'max_epoch'", "typo.yaml"]),
        "nested_config_key_typo": (
            lambda a: _with_config(world, a, CONFIG + "speech_adapter_conf:\n    hiden_dim: 32\n"), 1,
            ["unknown key 'hiden_dim'", "speech_adapter_conf of --config", "typo.yaml"]),
        "corrupt_init_param": (
            lambda a: a + ["--init_param", str(bad_ckpt)], 2,
            ["--init_param file", str(bad_ckpt), "cannot be read", "truncated or not a PyTorch file"]),
        "corrupt_encoder": (
            lambda a: a + ["--encoder_path", str(_corrupt_encoder_dir(world))], 2,
            ["--encoder_path", "valid.loss.best.pth", "cannot be read", "re-run stage 3"]),
        "empty_training_data": (
            lambda a: [x.replace(str(world["train"]), str(_empty_task_dir(world))) for x in a], 2,
            ["the train data is empty", "speech_shape", "length filtering"]),
    }


def _replace(args, option, value):
    args = list(args)
    args[args.index(option) + 1] = value
    return args


def _with_config(world, args, text):
    return _replace(args, "--config", str(write(world["root"] / "conf" / "typo.yaml", text)))


BAD_CASES = ["missing_llm_dir", "tokenizer_not_of_this_model", "config_key_typo", "nested_config_key_typo",
             "corrupt_init_param", "corrupt_encoder", "empty_training_data"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_training_input(world, case, caplog):
    change, status, words = _bad_cases(world)[case]
    out = world["root"] / "exp" / f"bad_{case}"
    caplog.set_level(logging.INFO)
    assert run_training(out, change(train_args(world, out))) == status
    errors = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    for word in words:
        assert word in errors, f"'{word}' not in the error:\n{errors}"
    assert "Traceback" not in caplog.text
    assert not out.exists(), "a failed stage must leave nothing behind"


# ---------------------------------------------------------------------------------------------- stage 2
def _data_dir(tmp_path: Path, **kwargs) -> Path:
    from test_datadir import make_data_dir

    return make_data_dir(tmp_path, **kwargs)


def test_unknown_language_code(tmp_path, caplog):
    from part.bin import extract_feats as ef

    data = _data_dir(tmp_path)
    lines = (data / "utt2lang").read_text().splitlines()
    lines[1] = lines[1].split()[0] + " xx"
    (data / "utt2lang").write_text("\n".join(lines) + "\n")
    out = tmp_path / "dump" / "fbank" / "train"
    assert ef.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1"]) == 1
    assert "unknown language code 'xx'" in caplog.text and "utt2lang" in caplog.text
    assert not out.exists() and not out.with_name("train.tmp").exists()


def test_data_emptied_by_length_filtering(tmp_path, caplog):
    from part.bin import extract_feats as ef

    data = _data_dir(tmp_path)
    out = tmp_path / "dump" / "fbank" / "train"
    assert ef.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1", "--min_frames", "2000",
                    "--max_frames", "3000"]) == 1
    assert "no utterance of" in caplog.text and "lower --min_frames" in caplog.text
    assert not out.exists() and not out.with_name("train.tmp").exists()


@pytest.mark.parametrize("nj", [1, 2])
def test_disk_full_while_writing_features(tmp_path, monkeypatch, caplog, nj):
    import kaldiio

    from part.bin import extract_feats as ef

    data = _data_dir(tmp_path)
    out = tmp_path / "dump" / "fbank" / "train"
    real_save_ark = kaldiio.save_ark

    def save_ark_then_full(ark, mats, *args, **kwargs):
        real_save_ark(ark, mats, *args, **kwargs)
        ark.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(kaldiio, "save_ark", save_ark_then_full)
    assert ef.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", str(nj)]) == 1
    assert "disk full" in caplog.text and str(out.with_name("train.tmp")) in caplog.text
    assert not out.exists() and not out.with_name("train.tmp").exists()


def test_disk_full_on_a_real_small_file_system(tmp_path, caplog):
    """The same on a 64 KiB tmpfs, where the kernel says ENOSPC (skipped where mounting is not allowed)."""
    from part.bin import extract_feats as ef

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                             capture_output=True).returncode == 0 if shutil.which("mount") else False
    if not mounted:
        pytest.skip("cannot mount a tmpfs here")
    try:
        data = _data_dir(tmp_path, num_samples={f"spk1-{i}": 48000 for i in "abcd"})
        out = small / "fbank" / "train"
        assert ef.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1"]) == 1
        assert "disk full" in caplog.text and str(small) in caplog.text
        assert not out.exists() and [p for p in small.rglob("*") if not p.is_dir()] == []
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
