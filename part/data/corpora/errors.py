"""The errors of corpus preparation (imported by every corpus module and by the wav.scp builder)."""
from __future__ import annotations

from typing import Optional


class CorpusError(Exception):
    """A corpus that cannot be prepared as asked. The message says where and what to do."""


class CorpusLayoutError(CorpusError):
    """The corpus root does not look like the release it should be (a file or folder is missing).

    ``root`` names which of several roots is at fault (CoVoST 2 has two), so that the recipe front end
    can say which db.sh variable to fix.
    """

    def __init__(self, message: str, root: Optional[str] = None):
        super().__init__(message)
        self.root = root
