"""Writing files so that a reader never sees half of one: the one atomic-write helper of the toolkit.

Every writer here puts the content into a temporary file in the target's own folder (so the final
``os.replace`` is a rename within one file system, which POSIX makes atomic), flushes and fsyncs it,
renames it over the target and fsyncs the folder. A run killed at any point leaves either the old file
or the new one, never a truncated mix; the temporary file of a killed run is named
``.<name>.<pid>.<token>.tmp[<suffix>]`` (:func:`is_temporary`) so that cleaners can find it.

Use::

    atomic_write_text(path, "one\\n")
    atomic_write_lines(path, (f"{k} {v}" for k, v in rows))    # each line gets a "\\n"
    atomic_write_bytes(path, data)
    with atomic_path(path) as tmp:      # for writers that want a path (matplotlib, soundfile)
        fig.savefig(tmp)
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path
from typing import Iterable, Iterator, Union

PathLike = Union[str, os.PathLike]
TEMPORARY_MARK = ".tmp"


def temporary_name(path: Path) -> Path:
    """A fresh hidden name next to ``path`` that keeps its suffix (writers that infer the format from
    the suffix, like matplotlib, still work); unique per process and call."""
    token = uuid.uuid4().hex[:8]
    return path.with_name(f".{path.name}.{os.getpid()}.{token}{TEMPORARY_MARK}{path.suffix}")


def is_temporary(path: PathLike) -> bool:
    """True for a name made by :func:`temporary_name` (the leftover of a killed writer)."""
    name = Path(path).name
    return name.startswith(".") and TEMPORARY_MARK in name


def file_sha256(path: PathLike) -> str:
    """The sha256 of a file's bytes (hex), read block by block: memory does not grow with the file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_file(path: PathLike) -> None:
    """Flush a closed file's data to disk (before it is renamed into place)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: PathLike) -> None:
    """Make a rename inside ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(directory), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block ends without an exception, the file
    written there replaces ``path``. On an exception the temporary file is removed and ``path`` is
    left as it was.

    ``durable=False`` skips the fsyncs: for files that are checked before they are reused (a cache),
    where losing the last writes in a power cut only means making them again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        if durable:
            fsync_file(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: PathLike, data: bytes, durable: bool = True) -> None:
    with atomic_path(path, durable) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)


def atomic_write_text(path: PathLike, text: str, durable: bool = True) -> None:
    """Write UTF-8 text as is (``\\n`` line ends are not translated on any platform)."""
    with atomic_path(path, durable) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)


def atomic_write_lines(path: PathLike, lines: Iterable[str], durable: bool = True) -> None:
    """Write each string of ``lines`` followed by ``\\n``, streaming (the lines are never all in memory)."""
    with atomic_path(path, durable) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")
