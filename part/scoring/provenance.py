"""Where the results of an experiment dir come from: the code's revision and the configurations used.

- :func:`git_revision`: the commit checked out in a work tree, read from its ``.git`` files (no git
  command needed).
- ``<exp>/runs.tsv``: one line per run of the main job (``./run_all.sh`` appends it before any work),
  ``time<TAB>revision<TAB>changed<TAB>command``, where ``changed`` is how many files of the work tree
  differed from that revision (uncommitted changes; the reports the job writes do not count), or
  ``unknown`` without git. :func:`read_runs` reads it.
- :func:`config_fingerprint`: a hash of the configuration every training run below the experiment dir
  recorded when it ran (``stage_options.json`` of ``part.bin.run_training``: the content of its config
  files and its options, less the paths of data, models and output dirs, which differ between copies of
  a recipe), and whether the config files named there still hold what was used.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

RUNS_FILE = "runs.tsv"
STAGE_OPTIONS = "stage_options.json"


def git_revision(path: Path) -> Optional[str]:
    """The commit checked out in the git work tree containing ``path`` ("<sha> (<branch>)"), read from
    the ``.git`` files directly (no git command); None outside a work tree."""
    path = Path(path).resolve()
    for d in (path, *path.parents):
        dot_git = d / ".git"
        if dot_git.is_dir():
            git_dir = dot_git
        elif dot_git.is_file():
            text = dot_git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (d / text.split(":", 1)[1].strip()).resolve()
        else:
            continue
        common = git_dir
        if (git_dir / "commondir").is_file():
            common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
        try:
            head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if not head.startswith("ref:"):
            return head  # detached HEAD
        ref = head.split(":", 1)[1].strip()
        branch = ref.rsplit("/", 1)[-1] if ref.startswith("refs/heads/") else ref
        for base in (git_dir, common):
            if (base / ref).is_file():
                return f"{(base / ref).read_text(encoding='utf-8').strip()} ({branch})"
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                fields = line.split()
                if len(fields) == 2 and fields[1] == ref:
                    return f"{fields[0]} ({branch})"
        return f"unborn branch ({branch})"
    return None


@dataclass
class RunRecord:
    """One line of ``runs.tsv``."""

    time: str
    revision: str
    changed: Optional[int]  # None: unknown (no git)
    command: str

    @property
    def clean(self) -> Optional[bool]:
        return None if self.changed is None else self.changed == 0


def read_runs(exp_dir: Path) -> List[RunRecord]:
    """The runs recorded in ``<exp_dir>/runs.tsv`` (none when it does not exist)."""
    path = Path(exp_dir) / RUNS_FILE
    if not path.is_file():
        return []
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path}:{lineno}: expected 'time<TAB>revision<TAB>changed<TAB>command', got {line!r}")
        changed = int(fields[2]) if fields[2].isdigit() else None
        out.append(RunRecord(fields[0], fields[1], changed, fields[3]))
    return out


def _options(args: List[str]) -> List[Tuple[str, List[str]]]:
    """``--name value ...`` pairs of a command line, without values that hold a slash (paths)."""
    pairs: List[Tuple[str, List[str]]] = []
    for arg in args:
        if arg.startswith("--"):
            pairs.append((arg, []))
        elif pairs:
            pairs[-1][1].append(arg)
    return [(name, values) for name, values in pairs if not any("/" in v for v in values)]


@dataclass
class ConfigCheck:
    path: str  # as the training run named it (relative to the recipe dir, or absolute)
    used_by: int  # how many training runs used it
    now: str  # "same", "changed" or "missing": the file today, compared by its parsed content


def config_fingerprint(exp_dir: Path, recipe_dir: Optional[Path] = None) -> Tuple[Optional[str], List[ConfigCheck]]:
    """A short hash of the configurations of every training run below ``exp_dir`` (module doc; None when
    none recorded one), and each config file's state today (relative paths resolved from ``recipe_dir``,
    by default the parent of ``exp_dir``)."""
    import yaml

    exp_dir = Path(exp_dir)
    recipe_dir = Path(recipe_dir) if recipe_dir is not None else exp_dir.resolve().parent
    used: Dict[str, dict] = {}
    uses: Dict[str, int] = {}
    contents: Dict[str, object] = {}
    for path in sorted(exp_dir.rglob(STAGE_OPTIONS)):
        try:
            fp = json.loads(path.read_text(encoding="utf-8"))
            configs = {name: yaml.safe_load(text) if isinstance(text, str) else None
                       for name, text in (fp.get("configs") or {}).items()}
        except (ValueError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: unreadable ({exc}); re-run that training stage") from None
        used[path.parent.relative_to(exp_dir).as_posix()] = {"configs": configs,
                                                             "options": _options(fp.get("args", []))}
        for name, content in configs.items():
            uses[name] = uses.get(name, 0) + 1
            contents.setdefault(name, content)
    if not used:
        return None, []
    digest = hashlib.sha256(json.dumps(used, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    checks = []
    for name in sorted(uses):
        path = Path(name) if Path(name).is_absolute() else recipe_dir / name
        if not path.is_file():
            state = "missing"
        else:
            try:
                state = "same" if yaml.safe_load(path.read_text(encoding="utf-8")) == contents[name] else "changed"
            except yaml.YAMLError:
                state = "changed"
        checks.append(ConfigCheck(name, uses[name], state))
    return digest[:12], checks


def provenance_section(exp_dir: Path, report_revision: Optional[str]) -> str:
    """Markdown: the revisions the runs came from (dirty or clean), the configuration hash and whether
    the config files changed since, and the revision that wrote the report."""
    lines = ["## Provenance", ""]
    runs = read_runs(exp_dir)
    if runs:
        lines += ["Runs that wrote this experiment dir (`runs.tsv`: the code's revision when each run started, and "
                  "how many files of the work tree differed from it):", "",
                  "| started | revision | work tree | command |", "| :--- | :--- | :--- | :--- |"]
        for run in runs:
            tree = {True: "clean", False: f"**dirty** ({run.changed} changed files)", None: "unknown"}[run.clean]
            lines.append(f"| {run.time} | `{run.revision[:12]}` | {tree} | `{run.command}` |")
        revisions = {run.revision for run in runs}
        if len(revisions) > 1 or any(run.clean is not True for run in runs):
            lines += ["", "**Caution**: these results come from more than one revision, or from a work tree "
                          "with uncommitted changes."]
        lines.append("")
    else:
        lines += [f"No `{RUNS_FILE}` in `{exp_dir}`: the revision the experiments ran at is not recorded "
                  "(`./run_all.sh` records it).", ""]
    digest, checks = config_fingerprint(exp_dir)
    if digest:
        changed = [c for c in checks if c.now != "same"]
        lines += [f"Configuration hash **`{digest}`**: the config files and options every training run recorded "
                  f"(`{STAGE_OPTIONS}`), less paths. Config files used: "
                  + ", ".join(f"`{c.path}` ({c.used_by}x)" for c in checks) + ". "
                  + ("Each still holds what was used." if not changed else
                     "**Changed since**: " + ", ".join(f"`{c.path}` ({c.now})" for c in changed) + "."), ""]
    lines += [f"This report was written at revision `{report_revision or 'unknown'}`.", ""]
    return "\n".join(lines)
