"""Where hpogrid keeps configs and projects.

``$HPOGRID_BASE_PATH`` when set (``setupenv.sh`` sets it to the checkout), otherwise a per-user
directory: ``$XDG_DATA_HOME/hpogrid``, falling back to ``~/.local/share/hpogrid``.
Never inside the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_PATH_VARIABLE = "HPOGRID_BASE_PATH"


def base_path() -> Path:
    explicit = os.environ.get(BASE_PATH_VARIABLE)
    if explicit:
        return Path(explicit).expanduser().resolve()
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return (Path(data_home) / "hpogrid").resolve()


def config_dir(kind: str) -> Path:
    return base_path() / "config" / kind


def projects_dir() -> Path:
    return base_path() / "projects"
