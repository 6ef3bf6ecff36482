"""Kaldi ``id value`` files: the one reader (streaming, validating) and the rules of the format.

A line is ``id value``: the id runs up to the first ASCII space or tab, the value is the rest with
the ASCII spaces and tabs around it removed (Kaldi's reading). Files are UTF-8 with ``\\n`` line ends
and, in a data dir, sorted by id in C-locale (byte) order with one line per id.

:func:`iter_kaldi_file` reads a file line by line (memory does not grow with the file) and reports
every problem through a handler, naming the file, the line and the id: bytes that are not UTF-8, a
byte-order mark, CRLF line ends, empty lines, lines that start with whitespace, ids that hold
characters a Kaldi file cannot keep in an id, empty values, unsorted ids, repeated ids. Repeated ids
are found where they are adjacent, which they are in a sorted file; :func:`read_kaldi_dict` finds
them anywhere. The handler decides: :func:`~part.data.datadir.errors.raise_problem` stops at the
first, :meth:`~part.data.datadir.errors.Problems.error` collects them.

Use::

    for line in iter_kaldi_file("data/train/text", problems.error, value_name="transcript"):
        line.number, line.key, line.value, line.bad
    refs = read_kaldi_dict("exp/.../decode/ref", allow_empty=True, sorted_ids=False, kind="example")
"""
from __future__ import annotations

import heapq
import itertools
import os
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, Mapping, Optional, Tuple, Union

from part.data.datadir.errors import DataDirError, raise_problem
from part.fileio import atomic_path

PathLike = Union[str, os.PathLike]
ProblemHandler = Callable[[str, DataDirError], None]

# What a Kaldi id cannot hold: whitespace of any script (tools that split on Unicode spaces would cut
# the id there), control and invisible format characters, and surrogates (bytes that were not UTF-8).
_BAD_ID_CHAR = re.compile(
    "[\x00-\x20\x7f-\xa0\xad\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"
    "\ud800-\udfff\ufff9-\ufffb]")
# Characters that end a line for some reader of text files (Kaldi: \n; Python's universal newlines:
# \r; str.splitlines: also \v \f \x1c-\x1e \x85 \u2028 \u2029), and the tab (a field separator).
_LINE_BREAKS = re.compile("[\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_SPACE_RUNS = re.compile(" {2,}")
_LINE = re.compile(r"([^ \t]*)[ \t]*(.*?)[ \t]*\Z", re.DOTALL)


def sort_key(key: str) -> bytes:
    """C-locale order: the order of the UTF-8 bytes (the same as Python's code-point order)."""
    return key.encode("utf-8", errors="surrogateescape")


def describe_char(ch: str) -> str:
    """``U+3000 IDEOGRAPHIC SPACE``, for messages about a character that cannot be seen."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"


def id_problem(key: str) -> Optional[str]:
    """Why ``key`` cannot be an id of a Kaldi file, or None when it can."""
    if not key:
        return "the id is empty"
    found = _BAD_ID_CHAR.search(key)
    if found is None:
        return None
    ch = found.group()
    if "\ud800" <= ch <= "\udfff":
        return "the id holds bytes that are not UTF-8"
    return f"the id contains {describe_char(ch)} (ids are one token without spaces or control characters)"


def kaldi_value(text: object) -> str:
    """``text`` as the value of an ``id value`` line.

    The text is kept verbatim (case, punctuation, and Unicode spaces such as U+00A0 before a French
    ``?`` or U+3000 between Han characters) except for what the format cannot hold: line breaks and
    tabs become spaces, runs of ASCII spaces one space, and ASCII spaces at the ends are dropped (a
    reader drops them too).
    """
    value = _LINE_BREAKS.sub(" ", str(text))
    if "  " in value:
        value = _SPACE_RUNS.sub(" ", value)
    return value.strip(" ")


@dataclass(frozen=True)
class KaldiLine:
    """One id of a file: the line it is on, its value, and why the line cannot be used (or None)."""

    number: int
    key: str
    value: str
    bad: Optional[str] = None


def _hint(fix_command: Optional[str], what: str = "to drop the utterance") -> str:
    return f", or run {fix_command} {what}" if fix_command else ""


def iter_kaldi_file(
    path: PathLike,
    on_problem: ProblemHandler = raise_problem,
    *,
    kind: str = "utterance",
    value_name: Optional[str] = None,
    allow_empty: bool = False,
    sorted_ids: bool = True,
    fix_command: Optional[str] = None,
) -> Iterator[KaldiLine]:
    """Yield the ids of an ``id value`` file in file order, one :class:`KaldiLine` per id.

    Args:
        path: the file.
        on_problem: called with ``(kind of problem, DataDirError)`` for every problem found.
        kind: what the ids are, for messages (utterance, speaker, recording, example).
        value_name: what the values are, for messages (``empty transcript``); default "value".
        allow_empty: an id without a value is fine (e.g. an empty hypothesis).
        sorted_ids: report ids that are not in C-locale order (once per file).
        fix_command: the command that repairs the file's data dir, named in the advice.

    Lines that cannot be used (not UTF-8, no value, a bad id, or repeated with another value) are
    yielded with :attr:`KaldiLine.bad` set, so that callers know the id is there; lines without any
    id (empty lines) are only reported. A run of adjacent lines with the same id is yielded once.
    """
    path = Path(path)
    name = path.name
    pending: Optional[KaldiLine] = None
    previous_key: Optional[str] = None
    reported_order = False
    reported_crlf = False

    def problem(what: str, message: str, number: int, key: Optional[str], fix: str) -> None:
        on_problem(what, DataDirError(message, path, number, key, fix, kind))

    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
                if not reported_crlf:
                    reported_crlf = True
                    problem("CRLF", "the line ends with a carriage return (Windows CRLF line ends)", number, None,
                            f"Convert the file to \\n line ends: `sed -i 's/\\r$//' {path}`")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                key = raw.split(None, 1)[0].decode("utf-8", errors="replace") if raw.strip() else None
                problem("not UTF-8", f"line is not valid UTF-8 (byte 0x{raw[err.start]:02x} at column {err.start + 1})",
                        number, key, f"Re-encode {name} as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
                        + _hint(fix_command))
                if key is None:
                    continue
                line = KaldiLine(number, key, "", f"not UTF-8 in {name}")
            else:
                if number == 1 and text.startswith("\ufeff"):
                    problem("byte-order mark", "the file starts with a UTF-8 byte-order mark", number, None,
                            f"Remove it: `sed -i '1s/^\\xEF\\xBB\\xBF//' {path}`")
                    text = text[1:]
                line = _parse(text, number, name, kind, value_name, allow_empty, fix_command, problem)
                if line is None:
                    continue
            if sorted_ids and previous_key is not None and line.key < previous_key and not reported_order:
                reported_order = True
                problem("unsorted", f"ids are not sorted in C-locale order: this id comes after '{previous_key}'",
                        number, line.key, f"Sort the file with `LC_ALL=C sort {path} -o {path}`"
                        + _hint(fix_command, "(it sorts every file)"))
            previous_key = line.key
            if pending is not None and pending.key == line.key:
                if pending.value == line.value and line.bad is None:
                    problem("duplicate id", f"duplicate id (the same line is at line {pending.number})", number,
                            line.key, "Remove the repeated line" + _hint(fix_command, "(it removes it)"))
                else:
                    problem("duplicate id", f"duplicate id with another value (first at line {pending.number})",
                            number, line.key, f"Keep one line per id in {name}" + _hint(fix_command))
                    pending = replace(pending, bad=f"conflicting duplicate lines in {name}")
                continue
            if pending is not None:
                yield pending
            pending = line
    if pending is not None:
        yield pending


def _parse(text: str, number: int, name: str, kind: str, value_name: Optional[str], allow_empty: bool,
           fix_command: Optional[str], problem) -> Optional[KaldiLine]:
    """One decoded line as a :class:`KaldiLine` (``bad`` set when it cannot be used), or None."""
    if not text.strip(" \t"):
        problem("empty line", "empty line", number, None, f"Remove the empty line from {name}")
        return None
    key, value = _LINE.match(text).groups()
    if not key:
        key, _, value = text.lstrip(" \t").partition(" ")
        problem("leading whitespace", "the line starts with whitespace", number, key,
                f"Remove the whitespace before the id in {name}" + _hint(fix_command))
        return KaldiLine(number, key, value.strip(" \t"), f"a line starting with whitespace in {name}")
    bad_id = id_problem(key)
    if bad_id is not None:
        problem("bad id", bad_id, number, key, "Fix the id in data preparation" + _hint(fix_command))
        return KaldiLine(number, key, value, f"a bad id in {name}")
    if not value and not allow_empty:
        message = f"empty {value_name}" if value_name else "no value after the id"
        fix = (f"Write the {value_name}" if value_name else "Each line must be `id value`; complete it")
        problem(message, message, number, key, fix + _hint(fix_command))
        return KaldiLine(number, key, value, f"{message} in {name}")
    return KaldiLine(number, key, value)


@dataclass
class KaldiFile:
    """One ``id value`` file read into memory: the usable values, and the line each id is on."""

    path: Path
    values: Dict[str, str] = field(default_factory=dict)
    lines: Dict[str, int] = field(default_factory=dict)
    bad: Dict[str, str] = field(default_factory=dict)  # id -> why its line cannot be used

    @property
    def name(self) -> str:
        return self.path.name


def read_kaldi_file(path: PathLike, on_problem: ProblemHandler = raise_problem, **options) -> KaldiFile:
    """A whole file in memory (for small files, or consumers that need random access); ``options`` as
    for :func:`iter_kaldi_file`. Repeated ids are reported wherever they are, also in unsorted files."""
    result = KaldiFile(Path(path))
    kind = options.get("kind", "utterance")
    for line in iter_kaldi_file(path, on_problem, **options):
        first = result.lines.get(line.key)
        if first is not None:
            on_problem("duplicate id", DataDirError(
                f"duplicate id with another value (first at line {first})", path, line.number, line.key,
                f"Keep one line per id in {result.name}", kind))
            result.values.pop(line.key, None)
            result.bad[line.key] = f"conflicting duplicate lines in {result.name}"
            continue
        result.lines[line.key] = line.number
        if line.bad is None:
            result.values[line.key] = line.value
        else:
            result.bad[line.key] = line.bad
    return result


def read_kaldi_dict(path: PathLike, on_problem: ProblemHandler = raise_problem, **options) -> Dict[str, str]:
    """``{id: value}`` of a file; by default the first problem raises :class:`DataDirError` naming the file,
    line and id. ``options`` as for :func:`iter_kaldi_file`."""
    return read_kaldi_file(path, on_problem, **options).values


def join_sorted(streams: Mapping[str, Iterable[KaldiLine]]) -> Iterator[Tuple[str, Dict[str, KaldiLine]]]:
    """Walk several id-sorted files together: ``(id, {file name: its line})`` for every id of any of
    them, in order, holding one line per file in memory (a merge join)."""
    merged = heapq.merge(*(_tagged(name, stream) for name, stream in streams.items()),
                         key=lambda item: (item[0], item[1]))
    for key, group in itertools.groupby(merged, key=lambda item: item[0]):
        yield key, {name: line for _, name, line in group}


def _tagged(name: str, stream: Iterable[KaldiLine]) -> Iterator[Tuple[str, str, KaldiLine]]:
    for line in stream:
        yield line.key, name, line


def write_kaldi_file(path: PathLike, mapping: Mapping[str, object], durable: bool = True) -> None:
    """Write ``id value`` lines sorted in C-locale order, atomically. Values go through
    :func:`kaldi_value`; an id the format cannot hold raises :class:`DataDirError`."""
    path = Path(path)
    for key in mapping:
        found = id_problem(key)
        if found:
            raise DataDirError(found, path, key=key, fix="Fix the id where it is made")
    with atomic_path(path, durable) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            for key in sorted(mapping, key=sort_key):
                handle.write(f"{key} {kaldi_value(mapping[key])}\n")
