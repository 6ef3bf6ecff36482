"""A fresh working copy of the embedded recipe, for runs that must not touch (or reuse) the results in the
repository's own ``egs/mini_multilingual``: the main-job integration test and the main-job benchmark.

The copy links the recipe's ``conf/``, ``local/`` and ``path.sh`` and the repository's ``egs/TEMPLATE`` and
``utils``, so it runs the same code and configuration, and keeps its data and experiments to itself.
Run it with ``PART_RECIPE_DIR=<copy> ./run_all.sh ...``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "mini_multilingual"


def make_recipe_copy(root: Path) -> Path:
    """Make ``root/egs/mini_multilingual`` (``root`` must not hold one yet) and return its path."""
    egs = Path(root) / "egs"
    recipe = egs / "mini_multilingual"
    recipe.mkdir(parents=True)
    (egs / "TEMPLATE").symlink_to(REPO / "egs" / "TEMPLATE")
    (Path(root) / "utils").symlink_to(REPO / "utils")
    for name in ("conf", "local", "path.sh"):
        (recipe / name).symlink_to(RECIPE / name)
    shutil.copy(RECIPE / "run.sh", recipe / "run.sh")
    return recipe
