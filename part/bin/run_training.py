"""Run one training phase (``part_train``) so that it is safe to re-run, to kill, and to feed bad input.

- A finished stage (``<output_dir>/.done`` with the same options) is skipped.
- An interrupted stage resumes from ESPnet's ``checkpoint.pth`` (the command carries ``--resume true``):
  model, optimizer, scheduler, epoch (hence the schedule position) and random state; an unreadable
  ``checkpoint.pth`` falls back to ``checkpoint.prev.pth`` (see ``part/tasks/trainer.py``).
- A stage whose options changed since it wrote a checkpoint is refused with the differences (config
  files count by their parsed content: editing a comment changes nothing): results
  are never silently reused nor silently overwritten. Pass ``--redo true`` to start it over, or choose
  another experiment dir (the recipe's ``--exp_tag`` for a training phase, ``--expdir`` for the encoder
  pretrained in-recipe). An attempt that failed before its first
  checkpoint protects nothing: its options are simply replaced.
- Bad input is found before any work where possible (unknown option in a config file, missing LLM dir,
  unreadable ``--init_param`` or pretrained encoder, empty data) and reported in one message naming
  the file or option, with a non-zero exit. A stage that fails before its first checkpoint leaves no
  output dir behind; one that fails later keeps its last complete checkpoint, ready to resume.
- Distributed runs (one ``run_training`` per process, e.g. ``--dist_rank``/``RANK``): only rank 0 writes
  the stage's bookkeeping files; every rank makes the same skip/refuse decision.

    python -m part.bin.run_training --name part/phase1 --output_dir exp/part/phase1 -- <part_train options>

Exit status: 0 done or skipped, 1 the stage failed, 2 bad options or input found before training,
3 refused (options changed).
"""
from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import shutil
import sys
import traceback
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

from part.fileio import atomic_write_text, file_sha256

FINGERPRINT = "stage_options.json"
DONE = ".done"
LOG = "train.log"
# How a stage runs, not what it computes: not part of its identity.
RUN_OPTIONS = {"--resume", "--ngpu", "--num_workers", "--sharded_engine", "--multiprocessing_distributed",
               "--dist_backend", "--dist_init_method", "--dist_world_size", "--dist_rank", "--local_rank",
               "--dist_master_addr", "--dist_master_port", "--dist_launcher"}


class InputError(Exception):
    """Bad options or input found before training."""


def _option_values(train_args: List[str], name: str) -> List[str]:
    values = []
    for i, arg in enumerate(train_args):
        if arg == name and i + 1 < len(train_args):
            values.append(train_args[i + 1])
        elif arg.startswith(name + "="):
            values.append(arg.split("=", 1)[1])
    return values


# Inputs whose content decides the result: a stage re-run on re-made data (stage 1-3 again) or on a
# retrained previous stage must not count as finished.
INPUT_OPTIONS = ("--train_data_path_and_name_and_type", "--valid_data_path_and_name_and_type",
                 "--train_shape_file", "--valid_shape_file", "--init_param")
HASH_LIMIT = 512 * 1024 * 1024  # larger files (a real LLM's weights are never named here) count by size


def _content_id(path: Path) -> Optional[str]:
    if not path.is_file():
        return None
    if path.stat().st_size > HASH_LIMIT:
        return f"size:{path.stat().st_size}"
    return file_sha256(path)[:16]


def input_fingerprint(train_args: List[str]) -> Dict[str, Optional[str]]:
    """Content hashes of the data lists, shape files and initial model a stage reads."""
    inputs: Dict[str, Optional[str]] = {}
    for option in INPUT_OPTIONS:
        for value in _option_values(train_args, option):
            path = Path(value.split(",")[0].split(":")[0])
            inputs[str(path)] = _content_id(path)
    for option in ("--train_shards", "--valid_shards", "--prompts"):  # a shard set counts by its index
        for value in _option_values(train_args, option):
            path = Path(value) / "index.json" if option.endswith("_shards") else Path(value)
            inputs[str(path)] = _content_id(path)
    encoder_dirs = _option_values(train_args, "--encoder_path")
    if encoder_dirs and encoder_dirs[-1] not in ("", "none", "None"):
        model_file = (_option_values(train_args, "--encoder_model_file") or ["valid.loss.best.pth"])[-1]
        path = Path(encoder_dirs[-1]) / model_file
        inputs[str(path)] = _content_id(path)
    return inputs


def fingerprint(train_args: List[str]) -> dict:
    """The stage's options, the content of every config file they name and of its inputs."""
    configs = {}
    for value in _option_values(train_args, "--config"):
        path = Path(value)
        configs[str(path)] = path.read_text(encoding="utf-8") if path.is_file() else None
    kept, skip = [], False
    for arg in train_args:
        if skip:
            skip = False
            continue
        if arg in RUN_OPTIONS:
            skip = True
            continue
        if arg.split("=", 1)[0] in RUN_OPTIONS:
            continue
        kept.append(arg)
    return {"args": kept, "configs": configs, "inputs": input_fingerprint(train_args)}


def same_run(old: Optional[dict], new: dict) -> bool:
    """Whether two fingerprints describe the same computation: config files compare by their parsed
    YAML, so a comment or layout edit does not invalidate a finished stage (a changed value does)."""
    if not isinstance(old, dict):
        return False

    def parsed(fp: dict) -> dict:
        configs = {}
        for path, text in (fp.get("configs") or {}).items():
            try:
                configs[path] = yaml.safe_load(text) if isinstance(text, str) else text
            except yaml.YAMLError:
                configs[path] = text
        return {**fp, "configs": configs}

    return parsed(old) == parsed(new)


def _diff(old: dict, new: dict) -> str:
    a = json.dumps(old, indent=1, ensure_ascii=False).splitlines()
    b = json.dumps(new, indent=1, ensure_ascii=False).splitlines()
    return "\n".join(list(difflib.unified_diff(a, b, "started with", "now", lineterm="", n=0))[:40])


def _rank(train_args: List[str]) -> int:
    """This process's rank (0 when not distributed): --dist_rank, else what the launcher set. In ESPnet's
    multi-node mode (one process per node that spawns one per GPU) it is the node's rank."""
    values = _option_values(train_args, "--dist_rank")
    launcher = (_option_values(train_args, "--dist_launcher") or [None])[-1]
    value = values[-1] if values else os.environ.get("RANK")
    if value is None and launcher == "slurm":
        value = os.environ.get("SLURM_PROCID")
    if value is None and launcher == "mpi":
        value = os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK"))
    try:
        return int(value) if value not in (None, "", "none", "None") else 0
    except ValueError:
        return 0


def has_results(out: Path) -> bool:
    """Something a re-run must not silently overwrite: a checkpoint, an epoch's model, a finished mark."""
    if not out.is_dir():
        return False
    return any((out / n).exists() for n in ("checkpoint.pth", "checkpoint.prev.pth", DONE)) or \
        any(out.glob("*epoch.pth"))


# ---------------------------------------------------------------------------------------------- checks
def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_config_files(train_args: List[str], parser) -> None:
    """Every key of every ``--config`` YAML must be an option of part_train (ESPnet would also refuse an
    unknown top-level key, inside a long usage text; this names the file and suggests the option)."""
    import yaml

    options = {a.dest for a in parser._actions if a.dest != "help"}
    for value in _option_values(train_args, "--config"):
        path = Path(value)
        if not path.is_file():
            raise InputError(f"--config {path}: no such file")
        try:
            conf = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InputError(f"--config {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if conf is None:
            continue
        if not isinstance(conf, dict):
            raise InputError(f"--config {path}: must be a mapping of option: value, not {type(conf).__name__}")
        for key in conf:
            if key not in options:
                raise InputError(f"--config {path}: unknown option '{key}'{_did_you_mean(str(key), options)}; "
                                 "see python -m part.bin.part_train --print_config")


def check_inputs(args: argparse.Namespace) -> None:
    """Files the stage needs, checked before anything is built or written."""
    from part.model.llm import _check_llm_dir
    from part.tasks.trainer import CheckpointError, check_checkpoint_file

    try:
        if args.llm_path:
            _check_llm_dir(args.llm_path, (args.llm_conf or {}).get("gguf_file"))
        if args.tokenizer_path and not Path(args.tokenizer_path).is_dir():
            raise InputError(f"--tokenizer_path {args.tokenizer_path}: no such directory")
        for init in args.init_param or []:
            check_checkpoint_file(init.split(":", 1)[0], "--init_param file",
                                  "Give a model file written by a finished stage (e.g. valid.acc.ave.pth), "
                                  "or re-run the stage that writes it")
        if args.encoder_path:
            enc = Path(args.encoder_path)
            if not (enc / "config.yaml").is_file():
                raise InputError(f"--encoder_path {enc}: no config.yaml there (stage 3 writes it)")
            check_checkpoint_file(enc / args.encoder_model_file, "pretrained encoder (--encoder_path) model file",
                                  "Delete it and re-run stage 3 (or point --encoder_path at a finished encoder)")
    except (FileNotFoundError, CheckpointError) as err:
        raise InputError(str(err)) from None
    if not args.collect_stats:
        for mode in ("train", "valid"):
            for path, name, _ in getattr(args, f"{mode}_data_path_and_name_and_type") or []:
                if not Path(path).exists():
                    raise InputError(f"--{mode}_data_path_and_name_and_type: '{path}' ({name}) does not exist "
                                     "(stage 3 writes the task lists)")
            for shape in getattr(args, f"{mode}_shape_file") or []:
                shape = Path(shape)
                if not shape.is_file():
                    raise InputError(f"--{mode}_shape_file '{shape}' does not exist (stage 3 writes it)")
                if not any(line.strip() for line in shape.open(encoding="utf-8")):
                    raise InputError(f"the {mode} data is empty: '{shape}' lists no example (were all utterances "
                                     "dropped by length filtering in stage 2? see dropped_utts in the feature dir)")


def preflight(train_args: List[str]) -> argparse.Namespace:
    from part.tasks.part_task import PARTTask

    parser = PARTTask.get_parser()
    check_config_files(train_args, parser)
    args = parser.parse_args(train_args)  # ESPnet's own errors: SystemExit(2) with argparse's message
    check_inputs(args)
    return args


# ---------------------------------------------------------------------------------------------- errors
def describe_failure(exc: BaseException, train_args: List[str]) -> Tuple[str, bool]:
    """A one-paragraph message for a failed stage, and whether its traceback helps (a bug, not input)."""
    from part.tasks.trainer import CheckpointError, DiskFullError, disk_full_message, is_disk_full

    if isinstance(exc, DiskFullError):
        return exc.strerror, False
    if is_disk_full(exc):
        err = exc
        while not (isinstance(err, OSError) and getattr(err, "filename", None)) and (err.__cause__ or err.__context__):
            err = err.__cause__ or err.__context__
        name = getattr(err, "filename", None)
        return (disk_full_message(Path(name)) if name else f"disk full: {exc}"), False
    if isinstance(exc, TypeError):
        found = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
        if found:
            key = found.group(1)
            where = _conf_option_holding(key, train_args)
            return (f"unknown key '{key}' in {where} ({exc}); check the spelling against the "
                    "class it configures"), False
    if isinstance(exc, (CheckpointError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError)):
        return str(exc), False
    return f"{type(exc).__name__}: {exc}", True


def _conf_option_holding(key: str, train_args: List[str]) -> str:
    """Which ``*_conf`` option (config file or command line) holds ``key``."""
    import yaml

    for value in _option_values(train_args, "--config"):
        try:
            conf = yaml.safe_load(Path(value).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for name, sub in conf.items() if isinstance(conf, dict) else []:
            if isinstance(sub, dict) and key in sub:
                return f"{name} of --config {value}"
    for i, arg in enumerate(train_args[:-1]):
        if arg.endswith("_conf") and train_args[i + 1].split("=", 1)[0] == key:
            return f"the command-line option {arg}"
    return "one of the *_conf options"


def _clean_up_failed(out: Path, created: bool) -> str:
    if has_results(out):
        return f"{out} keeps its last complete checkpoint; re-run the same command to resume"
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return f"nothing was kept: {out} was removed"
    for name in (FINGERPRINT, "config.yaml"):
        (out / name).unlink(missing_ok=True)
    return f"nothing was kept in {out}"


# ---------------------------------------------------------------------------------------------- main
def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        argv_own, train_args = argv, []
    else:
        split = argv.index("--")
        argv_own, train_args = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="Stage name for the log, e.g. part/phase1")
    parser.add_argument("--output_dir", required=True, help="The stage's experiment dir (also given to part_train)")
    parser.add_argument("--redo", default="false", choices=["true", "false"], help="Start over even if finished")
    args = parser.parse_args(argv_own)
    rank = _rank(train_args)
    # As ESPnet does: the other ranks of a distributed run only report problems.
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s (run_training{f' rank {rank}' if rank else ''}) "
                               "%(levelname)s: %(message)s")

    name, out = args.name, Path(args.output_dir)
    fp = fingerprint(train_args)
    fp_file, done = out / FINGERPRINT, out / DONE
    if args.redo == "true":
        if rank == 0 and out.exists():
            logging.info("%s: --redo true: removing %s", name, out)
            shutil.rmtree(out)
    elif fp_file.is_file():
        try:
            old = json.loads(fp_file.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if not same_run(old, fp):
            if has_results(out):
                logging.error(
                    "%s: %s was made with other options or inputs (data, initial model); refusing to reuse or "
                    "overwrite it.\n%s\n"
                    "Start it over with --redo true, or write elsewhere: --exp_tag <tag> gives a training phase a "
                    "new dir (exp/<method><tag>/); the encoder and LLM pretrained in-recipe (exp/encoder, exp/llm) "
                    "move only with --expdir <dir>.",
                    name, out, _diff(old or {}, fp))
                return 3
            logging.info("%s: replacing the options of an earlier attempt that wrote no checkpoint", name)
        elif done.is_file():
            logging.info("%s: finished already in %s; skipping (--redo true to run it again)", name, out)
            return 0
        elif has_results(out):
            logging.info("%s: resuming the unfinished run in %s", name, out)

    try:
        parsed = preflight(train_args)
    except InputError as err:
        logging.error("%s: %s", name, err)
        logging.error("%s: nothing was run or written", name)
        return 2
    except SystemExit as exc:  # argparse (ESPnet's parser) has printed its message
        logging.error("%s: bad part_train options (see the message above); nothing was run or written", name)
        return exc.code if isinstance(exc.code, int) and exc.code else 2

    if rank == 0:
        from part.checks import schedule_check

        schedule_check(parsed, name)  # a warm-up longer than the run: said once, before training
    created = not out.exists()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(fp_file, json.dumps(fp, indent=1, ensure_ascii=False) + "\n")

    from part.tasks.part_task import PARTTask

    # The stage's own log, kept beside its checkpoints (appended to by each attempt, as in Kaldi/ESPnet).
    log_handler = None
    if rank == 0:
        log_handler = logging.FileHandler(out / LOG, mode="a", encoding="utf-8")
        log_handler.setFormatter(logging.Formatter("%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"))
        logging.getLogger().addHandler(log_handler)
        logging.info("%s: log of this attempt in %s", name, out / LOG)
    try:
        return _train(PARTTask, name, out, created, rank, train_args)
    finally:
        if log_handler is not None:
            logging.getLogger().removeHandler(log_handler)
            log_handler.close()


def _train(PARTTask, name: str, out: Path, created: bool, rank: int, train_args: List[str]) -> int:
    done = out / DONE
    try:
        PARTTask.main(cmd=train_args)
    except SystemExit as exc:
        if exc.code in (0, None):
            return 0
        logging.error("%s: part_train exited with status %s; %s", name, exc.code,
                      _clean_up_failed(out, created) if rank == 0 else "")
        return exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - reported below, with its traceback when it is a bug
        message, is_bug = describe_failure(exc, train_args)
        if is_bug or os.environ.get("PART_DEBUG"):
            logging.error("%s: traceback:\n%s", name, "".join(traceback.format_exception(exc)))
        cleanup = _clean_up_failed(out, created) if rank == 0 else ""
        logging.error("%s failed: %s", name, message)
        if cleanup:
            logging.error("%s: %s", name, cleanup)
        return 1
    if rank == 0:
        atomic_write_text(done, "finished\n")
    logging.info("%s: finished; curves in %s/images/", name, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
