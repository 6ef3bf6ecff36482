"""part.fileio: a file is replaced whole or not at all, and hashed in blocks; part.cli.str2bool."""
from __future__ import annotations

import argparse
import hashlib

import pytest

from part.cli import str2bool
from part.fileio import (atomic_path, atomic_write_bytes, atomic_write_lines, atomic_write_text, file_sha256,
                         is_temporary)


def test_atomic_writes_replace_the_file(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "one\n")
    atomic_write_lines(path, (f"line {i}" for i in range(3)))
    assert path.read_text() == "line 0\nline 1\nline 2\n"
    atomic_write_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old\n")

    def lines():
        yield "new"
        raise KeyboardInterrupt  # killed half-way

    with pytest.raises(KeyboardInterrupt):
        atomic_write_lines(path, lines())
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_atomic_path_keeps_the_suffix_for_writers_that_need_it(tmp_path):
    with atomic_path(tmp_path / "fig.png", durable=False) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and is_temporary(tmp)
        tmp.write_bytes(b"png")
    assert (tmp_path / "fig.png").read_bytes() == b"png" and not is_temporary(tmp_path / "fig.png")


def test_file_sha256_reads_a_file_larger_than_its_block(tmp_path):
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB block
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_str2bool():
    assert ([str2bool(v) for v in ("true", "True", "yes", "1", "false", "NO", "0", True)]
            == [True] * 4 + [False] * 3 + [True])
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false, got 'maybe'"):
        str2bool("maybe")
