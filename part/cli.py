"""What the toolkit's command lines share."""
from __future__ import annotations

import argparse
from typing import Union

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")


def str2bool(value: Union[str, bool]) -> bool:
    """``true``/``false`` (any case; also yes/no, 1/0) for options written the Kaldi way, ``--strict true``:
    the shell recipes pass every option as ``--name value``."""
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")
