"""The recipe shell helpers in utils/, run through bash as recipes run them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_datadir import _break_missing_from_utt2lang, _break_unsorted, lines, make_data_dir

REPO = Path(__file__).resolve().parents[1]
UTILS = REPO / "utils"


def bash(script: str, *args: str, cwd=None, stdin: str = None) -> subprocess.CompletedProcess:
    # PART_PYTHON: the wrappers use the interpreter running the tests.
    env = dict(os.environ, PART_PYTHON=sys.executable, LC_ALL="C.UTF-8")
    return subprocess.run(["bash", script, *args], capture_output=True, text=True, cwd=cwd, env=env, input=stdin)


# ----------------------------------------------------------------------------------------------
# parse_options.sh

OPTIONS_SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
stage=1
use_gpu=false
lm_weight=0.3
help_message="Usage: $0 [--stage N] [--use-gpu true|false] <dir>"
. {utils}/parse_options.sh
echo "stage=${{stage}} use_gpu=${{use_gpu}} lm_weight=${{lm_weight}} args=$*"
"""


@pytest.fixture
def options_script(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text(OPTIONS_SCRIPT.format(utils=UTILS))
    return str(script)


@pytest.mark.parametrize("args, expected", [
    ([], "stage=1 use_gpu=false lm_weight=0.3 args="),
    (["--stage", "4", "dir"], "stage=4 use_gpu=false lm_weight=0.3 args=dir"),
    (["--stage=5", "--lm_weight=0.5 x", "a", "b"], "stage=5 use_gpu=false lm_weight=0.5 x args=a b"),
    (["--use-gpu", "true", "--lm-weight", "1"], "stage=1 use_gpu=true lm_weight=1 args="),
    (["--", "--stage", "2"], "stage=1 use_gpu=false lm_weight=0.3 args=--stage 2"),
])
def test_parse_options_sets_variables(options_script, args, expected):
    proc = bash(options_script, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


@pytest.mark.parametrize("args, words", [
    (["--no-such-option", "1"], ["invalid option --no-such-option"]),
    (["--stages=3"], ["invalid option --stages"]),
    (["--use_gpu", "yes"], ["boolean", "yes"]),
    (["--stage"], ["--stage needs a value"]),
])
def test_parse_options_rejects_bad_options(options_script, args, words):
    proc = bash(options_script, *args)
    assert proc.returncode != 0 and proc.stdout == ""
    for word in words:
        assert word in proc.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_parse_options_help(options_script, flag):
    proc = bash(options_script, flag)
    assert proc.returncode == 0
    assert proc.stdout.startswith("Usage: ") and "--use-gpu" in proc.stdout


@pytest.mark.parametrize("name, args", [("fix_data_dir.sh", []), ("validate_data_dir.sh", ["a", "b"]),
                                        ("utt2spk_to_spk2utt.sh", ["a", "b"]), ("split_scp.sh", ["in.scp"]),
                                        ("prepare_corpus.sh", ["egs/commonvoice"])])
def test_wrong_arguments_print_the_help_on_stderr(name, args):
    proc = bash(str(UTILS / name), *args)
    assert proc.returncode == 1 and proc.stdout == ""
    assert f"Usage: {UTILS / name}" in proc.stderr


# A script whose help shows the values the options were given (as egs/TEMPLATE/part.sh shows a recipe's), and
# an option declared without a value, which stays unset unless given.
USAGE_SCRIPT = """#!/usr/bin/env bash
set -euo pipefail
stage=1
declare langs
usage() {{ echo "--stage ${{stage}} --langs ${{langs-<not given>}}"; }}
. {utils}/parse_options.sh
echo "stage=${{stage}} langs=${{langs-<not given>}} set=${{langs+yes}}"
"""


@pytest.mark.parametrize("args, expected", [
    ([], "stage=1 langs=<not given> set="),
    (["--langs", ""], "stage=1 langs= set=yes"),
    (["--langs=de,fr", "--stage=3"], "stage=3 langs=de,fr set=yes"),
    (["--stage", "2", "--help"], "--stage 2 --langs <not given>"),
    (["--help", "--langs=de", "--stage", "4"], "--stage 4 --langs de"),
])
def test_parse_options_unset_options_and_help_with_values(tmp_path, args, expected):
    script = tmp_path / "script.sh"
    script.write_text(USAGE_SCRIPT.format(utils=UTILS))
    proc = bash(str(script), *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_usage_error_shows_the_usage_function(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text(USAGE_SCRIPT.format(utils=UTILS).replace('\necho "stage=',
                                                               '\n[ $# -eq 0 ] || usage_error\necho "stage='))
    proc = bash(str(script), "--stage", "7", "extra")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == "--stage 7 --langs <not given>"


# ----------------------------------------------------------------------------------------------
# Every script: --help, set -euo pipefail, prints its command line

SCRIPTS = ["validate_data_dir.sh", "fix_data_dir.sh", "utt2spk_to_spk2utt.sh", "spk2utt_to_utt2spk.sh",
           "split_scp.sh", "prepare_corpus.sh"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_have_help_and_strict_mode(name):
    text = (UTILS / name).read_text()
    assert "\nset -euo pipefail\n" in text
    assert os.access(UTILS / name, os.X_OK)
    proc = bash(str(UTILS / name), "--help")
    assert proc.returncode == 0 and "Usage:" in proc.stdout
    assert f"{name} --help" in proc.stderr  # the command line is printed (on stderr)


# ----------------------------------------------------------------------------------------------
# Data dir scripts


def test_validate_data_dir_sh(tmp_path):
    data_path = make_data_dir(tmp_path)
    proc = bash(str(UTILS / "validate_data_dir.sh"), "--check_audio", "true", str(data_path))
    assert proc.returncode == 0, proc.stderr
    assert "is valid (audio checked)" in proc.stdout
    _break_unsorted(tmp_path, data_path)
    proc = bash(str(UTILS / "validate_data_dir.sh"), str(data_path))
    assert proc.returncode == 1
    assert f"{data_path}/text:2: utterance 'spk1-a': ids are not sorted" in proc.stderr
    proc = bash(str(UTILS / "validate_data_dir.sh"), "--bad_option", "1", str(data_path))
    assert proc.returncode == 1 and "invalid option --bad_option" in proc.stderr


def test_fix_data_dir_sh(tmp_path):
    data_path = make_data_dir(tmp_path)
    _break_missing_from_utt2lang(tmp_path, data_path)  # spk2-a
    _break_unsorted(tmp_path, data_path)
    (data_path / "utt2spk").write_text("".join(reversed((data_path / "utt2spk").read_text().splitlines(True))))
    original_text = (data_path / "text").read_text()
    proc = bash(str(UTILS / "fix_data_dir.sh"), str(data_path))
    assert proc.returncode == 0, proc.stderr
    assert "kept 3 of 4 utterances" in proc.stdout and "1: not in utt2lang ('spk2-a')" in proc.stdout
    assert (data_path / ".backup" / "text").read_text() == original_text
    assert [line.split()[0] for line in lines(data_path / "text")] == ["spk1-a", "spk1-b", "spk2-b"]
    assert lines(data_path / "spk2utt") == ["spk1 spk1-a spk1-b", "spk2 spk2-b"]
    assert bash(str(UTILS / "validate_data_dir.sh"), str(data_path)).returncode == 0


def test_fix_data_dir_sh_reports_what_it_cannot_fix(tmp_path):
    data_path = make_data_dir(tmp_path)
    (data_path / "utt2lang").write_text((data_path / "utt2lang").read_text().replace(" de", " xx"))
    proc = bash(str(UTILS / "fix_data_dir.sh"), str(data_path))
    assert proc.returncode == 1 and "unknown language code 'xx'" in proc.stderr


def test_utt2spk_spk2utt_round_trip(tmp_path):
    utt2spk = "b-2 b\na-1 a\nb-1 b\na-2 a\n"
    proc = bash(str(UTILS / "utt2spk_to_spk2utt.sh"), stdin=utt2spk)
    assert proc.returncode == 0 and proc.stdout == "a a-1 a-2\nb b-2 b-1\n"
    (tmp_path / "spk2utt").write_text(proc.stdout)
    proc = bash(str(UTILS / "spk2utt_to_utt2spk.sh"), str(tmp_path / "spk2utt"))
    assert proc.returncode == 0 and proc.stdout == "a-1 a\na-2 a\nb-1 b\nb-2 b\n"
    proc = bash(str(UTILS / "utt2spk_to_spk2utt.sh"), stdin="a-1 a\nbroken\n")
    assert proc.returncode != 0 and "line 2" in proc.stderr and proc.stdout == ""


def test_split_scp(tmp_path):
    scp = tmp_path / "wav.scp"
    scp.write_text("".join(f"s{i // 4}-{i:02d} /w/{i}.wav\n" for i in range(10)))
    outs = [str(tmp_path / "split" / f"wav.{j}.scp") for j in (1, 2, 3)]
    proc = bash(str(UTILS / "split_scp.sh"), str(scp), *outs)
    assert proc.returncode == 0, proc.stderr
    parts = [lines(Path(o)) for o in outs]
    assert [len(p) for p in parts] == [3, 4, 3] and sum(parts, []) == lines(scp)
    utt2spk = tmp_path / "utt2spk"
    utt2spk.write_text("".join(f"{line.split()[0]} {line.split('-')[0]}\n" for line in lines(scp)))
    proc = bash(str(UTILS / "split_scp.sh"), "--utt2spk", str(utt2spk), str(scp), *outs)
    assert proc.returncode == 0, proc.stderr
    parts = [lines(Path(o)) for o in outs]
    assert sum(parts, []) == lines(scp)
    for part in parts:  # each speaker in one part
        assert part and len({line.split("-")[0] for line in part}) == 1
    proc = bash(str(UTILS / "split_scp.sh"), "--utt2spk", str(utt2spk), str(scp), *outs, str(tmp_path / "4"))
    assert proc.returncode != 0 and "cannot split 3 speakers into 4 parts" in proc.stderr


# ----------------------------------------------------------------------------------------------
# worktree_changes.sh (the "work tree" column of RESULTS.md's provenance)

def test_worktree_changes_counts_code_but_not_the_reports_the_main_job_writes(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                       env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
                                GIT_COMMITTER_EMAIL="t@t"))

    def changes() -> str:
        proc = bash(str(UTILS / "worktree_changes.sh"), str(tmp_path))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert changes() == "unknown"                      # not a git work tree
    recipe = tmp_path / "egs" / "mini"
    recipe.mkdir(parents=True)
    (recipe / "RESULTS.md").write_text("old\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    assert changes() == "0"
    # What a run of the main job writes: the report, and a figures folder that is not committed yet.
    (recipe / "RESULTS.md").write_text("new\n")
    (recipe / "figures").mkdir()
    (recipe / "figures" / "phases.png").write_bytes(b"png")
    assert changes() == "0"
    git("add", "egs/mini/figures")
    git("commit", "-q", "-m", "figures")
    (recipe / "figures" / "phases.png").write_bytes(b"png2")
    assert changes() == "0"
    # Code: an edited file and a new one are changes.
    (tmp_path / "code.py").write_text("x = 2\n")
    (tmp_path / "new.py").write_text("y = 1\n")
    (recipe / "figures.py").write_text("z = 1\n")
    assert changes() == "3"
