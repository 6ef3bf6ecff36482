"""Problems found in a data dir: where each one is (file, line, id) and what to do about it."""
from __future__ import annotations

import os
from collections import Counter
from typing import List, Optional, Union

PathLike = Union[str, os.PathLike]

# At most this many problems of one kind in one file are kept (then a count of the rest).
MAX_PROBLEMS_PER_KIND = 10


class DataDirError(Exception):
    """A problem in a data dir, with where it is (file, line, id) and what to do about it::

        data/train/text:3: utterance 'spk1-003': empty transcript. Write the transcript, or run
        utils/fix_data_dir.sh data/train to drop the utterance
    """

    def __init__(
        self,
        problem: str,
        file: Optional[PathLike] = None,
        line: Optional[int] = None,
        key: Optional[str] = None,
        fix: Optional[str] = None,
        kind: str = "utterance",
    ):
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.fix = fix
        self.kind = kind  # what the key is: utterance, speaker, recording, example, ...
        super().__init__(self.message)

    @property
    def utt(self) -> Optional[str]:
        return self.key

    @property
    def message(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        who = f"{self.kind} '{self.key}': " if self.key is not None else ""
        fix = f". {self.fix}" if self.fix else ""
        return f"{where}{who}{self.problem}{fix}"

    def moved(self, old_dir: PathLike, new_dir: PathLike) -> "DataDirError":
        """The same error with paths below ``old_dir`` shown below ``new_dir``."""
        file = self.file
        if file and file.startswith(str(old_dir)):
            file = str(new_dir) + file[len(str(old_dir)):]
        fix = self.fix.replace(str(old_dir), str(new_dir)) if self.fix else self.fix
        return DataDirError(self.problem, file, self.line, self.key, fix, self.kind)

    def with_more(self, text: str) -> "DataDirError":
        """The same error with ``text`` added to its advice."""
        return DataDirError(self.problem, self.file, self.line, self.key, (self.fix or "") + text, self.kind)


def raise_problem(kind: str, err: DataDirError) -> None:
    """The problem handler of readers that stop at the first problem."""
    raise err


def ignore_problem(kind: str, err: DataDirError) -> None:
    """The problem handler of readers that only want the usable lines."""


class Problems:
    """Collects errors and warnings, keeping at most MAX_PROBLEMS_PER_KIND of each kind per file.

    ``problems.error`` has the signature of a reader's problem handler (``kind, err``).
    """

    def __init__(self) -> None:
        self.errors: List[DataDirError] = []
        self.warnings: List[str] = []
        self._counts: Counter = Counter()

    def error(self, kind: str, err: DataDirError) -> None:
        bucket = (err.file or "", kind)
        self._counts[bucket] += 1
        if self._counts[bucket] <= MAX_PROBLEMS_PER_KIND:
            self.errors.append(err)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def extend(self, other: "Problems") -> None:
        """Take the problems of ``other`` as if they had been found here."""
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)
        self._counts.update(other._counts)

    @property
    def num_errors(self) -> int:
        """Every error found, also those not kept."""
        return sum(self._counts.values())

    def finish(self) -> None:
        for (file, kind), count in sorted(self._counts.items()):
            if count > MAX_PROBLEMS_PER_KIND:
                self.errors.append(
                    DataDirError(f"{count - MAX_PROBLEMS_PER_KIND} more lines with the problem '{kind}'", file)
                )


def first_few(keys, n: int = 5) -> str:
    """``'a', 'b' and 3 more`` for messages that name a few of many ids."""
    keys = list(keys)
    text = ", ".join(f"'{k}'" for k in keys[:n])
    return text + (f" and {len(keys) - n} more" if len(keys) > n else "")
