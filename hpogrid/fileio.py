"""Atomic file writes and inter-process locks: nothing is ever half-written on disk."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def kind_of(path: Path) -> str | None:
    """'file', 'dir' or None for a path a user gave. A name too long, or holding a NUL byte, is None:
    os.path answers False for those where pathlib raises."""
    if os.path.isdir(path):
        return "dir"
    return "file" if os.path.isfile(path) else None


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file by writing a temporary sibling, syncing it and renaming it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _mode_for(path))  # mkstemp makes 0600; keep the file's mode, or the umask's default
        with os.fdopen(fd, mode) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def dump_json(obj: Any, indent: int = 2) -> str:
    """The JSON text hpogrid stores: indented, key order kept, newline at the end. Strict JSON: NaN and
    infinities are a ValueError (values from trials go through hpogrid.results.jsonable first, which
    makes them null)."""
    return json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, dump_json(obj))


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (flock) on lock_path for the duration of the block."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
