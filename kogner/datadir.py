"""The data directory: where corpora and KG sources are read from, in place.

Resolution order: an explicit path (a command's ``--data-dir``), then the environment
variable ``KOGNER_DATA_DIR``, then ``../shared/data`` beside the current directory, the
layout of a development checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "KOGNER_DATA_DIR"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data directory to read from (it may not exist; callers say what is missing)."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return Path.cwd().parent / "shared" / "data"
