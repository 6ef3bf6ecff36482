"""Sorting more lines than fit in memory, as ``LC_ALL=C sort`` does: sorted runs on disk, then a merge.

Lines are Python strings without ``\\n``. They come out in code-point order, which for UTF-8 text is
the order of the bytes: the C-locale order of Kaldi files (docs/contracts.md). At most
:data:`SORT_BUFFER_BYTES` of lines are held in memory; beyond that each full buffer is sorted and
written to a run file, and the runs are merged (at most :data:`MAX_RUNS_PER_MERGE` files open at once,
merging in rounds when there are more). Equal lines keep no particular order, so callers that need
"first added wins" put a sequence number into the line after the key.

Example::

    with ExternalSorter(tmp_dir=out.parent) as sorter:
        for utt, spk in pairs:
            sorter.add(f"{spk} {utt}")
        for line in sorter:          # sorted; one pass
            ...
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List, Optional, Union

PathLike = Union[str, os.PathLike]

# Memory for lines before a run is written. Small enough that preparing a corpus of any size keeps
# the footprint of a small one (peak RSS of stage 1 is measured for 1k vs 100k utterances), large
# enough that ten million lines make a few hundred runs.
SORT_BUFFER_BYTES = 4 << 20
# What a str costs beyond its characters (object header and the list's pointer), for the budget above.
LINE_OVERHEAD_BYTES = 64
MAX_RUNS_PER_MERGE = 64
# The run files hold any string the caller gives, also file names that were not valid UTF-8.
_ERRORS = "surrogateescape"


class ExternalSorter:
    """Collect lines with :meth:`add`, then iterate once over them in sorted order.

    Args:
        tmp_dir: where the run files go (a fresh folder is made inside it and removed by
            :meth:`close`); default: the system's temporary folder (``$TMPDIR``). Put it on a disk
            with room for the lines: sorting a corpus writes about its size in runs.
        buffer_bytes: memory for lines before a run is written (default :data:`SORT_BUFFER_BYTES`).
    """

    def __init__(self, tmp_dir: Optional[PathLike] = None, buffer_bytes: Optional[int] = None):
        self.tmp_parent = Path(tmp_dir) if tmp_dir is not None else None
        self.buffer_bytes = buffer_bytes or SORT_BUFFER_BYTES
        self.count = 0
        self._buffer: List[str] = []
        self._buffered_bytes = 0
        self._runs: List[Path] = []
        self._run_dir: Optional[Path] = None
        self._consumed = False

    def add(self, line: str) -> None:
        if "\n" in line:
            raise ValueError(f"a line to sort contains a line break: {line[:80]!r}")
        if self._consumed:
            raise RuntimeError("lines added after the sorted lines were read")
        self._buffer.append(line)
        self._buffered_bytes += len(line) + LINE_OVERHEAD_BYTES
        self.count += 1
        if self._buffered_bytes >= self.buffer_bytes:
            self._spill()

    def __iter__(self) -> Iterator[str]:
        if self._consumed:
            raise RuntimeError("the sorted lines can be read only once")
        self._consumed = True
        if not self._runs:
            buffer, self._buffer = self._buffer, []
            buffer.sort()
            yield from buffer
            return
        self._spill()
        while len(self._runs) > MAX_RUNS_PER_MERGE:
            merged: List[Path] = []
            for start in range(0, len(self._runs), MAX_RUNS_PER_MERGE):
                group = self._runs[start:start + MAX_RUNS_PER_MERGE]
                path = self._new_run()
                with contextlib.ExitStack() as stack:
                    self._write_run(path, heapq.merge(*(self._read_run(run, stack) for run in group)))
                for run in group:
                    run.unlink()
                merged.append(path)
            self._runs = merged
        with contextlib.ExitStack() as stack:
            yield from heapq.merge(*(self._read_run(run, stack) for run in self._runs))

    def close(self) -> None:
        """Remove the run files (also when the lines were never read)."""
        self._buffer = []
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        self._runs = []

    def __enter__(self) -> "ExternalSorter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------
    def _new_run(self) -> Path:
        if self._run_dir is None:
            if self.tmp_parent is not None:
                self.tmp_parent.mkdir(parents=True, exist_ok=True)
            self._run_dir = Path(tempfile.mkdtemp(prefix=".sort-", dir=self.tmp_parent))
        return self._run_dir / f"run{next(_RUN_NUMBERS):06d}"

    def _spill(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort()
        path = self._new_run()
        self._write_run(path, self._buffer)
        self._runs.append(path)
        self._buffer = []
        self._buffered_bytes = 0

    @staticmethod
    def _write_run(path: Path, lines) -> None:
        with open(path, "w", encoding="utf-8", errors=_ERRORS, newline="\n") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")

    @staticmethod
    def _read_run(path: Path, stack: contextlib.ExitStack) -> Iterator[str]:
        handle = stack.enter_context(open(path, encoding="utf-8", errors=_ERRORS, newline="\n"))
        return (line[:-1] for line in handle)


_RUN_NUMBERS = itertools.count()
