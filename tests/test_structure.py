"""The shape of the package: no module of ``part/`` over 500 lines, and no import circle between the
modules of ``part`` (function-level imports included: a circle closed inside a function still ties the
two modules together, and breaks as soon as someone moves the import to the top).

An import is an edge to the module it names: ``from part.data import prompts`` names ``part.data.prompts``,
``from part.data.datadir import Utterance`` the package ``part.data.datadir``. The packages above an
imported module are not edges of the importer: every package whose ``__init__`` re-exports its
submodules would otherwise be a circle with each of them.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

from helpers_tiny import REPO

MAX_LINES = 500


def module_files(root: Path, package: str = "part") -> Dict[str, Path]:
    """``{dotted module name: file}`` of every module below ``root/package`` (a package is its __init__)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path, package: str = "part") -> Dict[str, Set[str]]:
    """``{module: the modules of the package it imports}``, from every import statement of its file."""
    modules = module_files(root, package)

    def known(name: str) -> str:
        while name not in modules and "." in name:
            name = name.rpartition(".")[0]
        return name if name in modules else ""

    graph = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                edges.update(known(alias.name) for alias in node.names if alias.name.split(".")[0] == package)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importer's package, one level up per extra dot
                    anchor = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                    base = f"{anchor}.{base}" if base else anchor
                if base.split(".")[0] != package:
                    continue
                for alias in node.names:
                    edges.add(known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in modules else known(base))
        graph[name] = edges - {"", name}
    return graph


def import_circles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The sets of modules that import each other, directly or through others (Tarjan's strongly
    connected components of more than one module), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    circles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in sorted(graph.get(module, ())):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return circles


def test_no_module_of_part_is_over_500_lines():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in module_files(REPO).items()}
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them by role): {too_long}"


def test_no_import_circle_in_part():
    circles = import_circles(import_graph(REPO))
    assert not circles, "modules that import each other (move what both need into a third): " + "; ".join(
        " <-> ".join(circle) for circle in circles)


def test_the_check_finds_circles_through_function_level_and_relative_imports(tmp_path):
    files = {
        "pkg/__init__.py": "from pkg.a import run\n",
        "pkg/a.py": "import os\nfrom pkg import b\n\ndef run():\n    return b.helper()\n",
        "pkg/b.py": "def helper():\n    from .c import value\n    return value\n",
        "pkg/c.py": "from pkg.a import run  # closes a -> b -> c -> a\nvalue = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from .. import c\nfrom pkg.sub import e\n",
        "pkg/sub/e.py": "import pkg.c\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"},
                     "pkg.sub": set(), "pkg.sub.d": {"pkg.c", "pkg.sub.e"}, "pkg.sub.e": {"pkg.c"}}
    assert import_circles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
