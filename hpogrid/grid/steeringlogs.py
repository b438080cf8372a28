"""The logs of an iDDS task's steering runs: fetched from iDDS, kept as iDDS sends them, unpacked on request.

iDDS keeps each steering run (one `hpogrid generate` in the steering container) as
processing_<id>.tgz of its folder, and sends a task's runs together as <request_id>.logs.tgz.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hpogrid.fileio import write_atomic
from hpogrid.grid.gateway import GridError


@dataclass(frozen=True)
class SteeringLogs:
    archive: Path  # the file iDDS sent, saved as it came
    runs: list[str]  # its steering runs (processing_<id>), in iDDS's order
    unpacked: dict[str, list[str]] = field(default_factory=dict)  # run folder -> its files, when unpacked
    folder: Path | None = None  # where the runs were unpacked


def fetch(
    gateway, task_id: int, request_id: int | None = None, outdir: Path = Path("."), unpack: bool = False
) -> SteeringLogs:
    """Download the steering logs of task `task_id` into `outdir` (and unpack them); a GridError if there
    are none or the reply is not a log archive. Nothing is written unless the whole reply is good."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise GridError(f"--outdir: {outdir} is a file; give a folder")
    name, content = gateway.steering_logs(task_id, request_id)
    runs = _runs(task_id, content)
    outdir.mkdir(parents=True, exist_ok=True)
    archive = outdir / name
    write_atomic(archive, content)
    if not unpack:
        return SteeringLogs(archive, [r for r, _ in runs])
    folder = outdir / f"task_{task_id}_steering"
    unpacked = _unpack(runs, folder)
    return SteeringLogs(archive, [r for r, _ in runs], unpacked, folder)


def _runs(task_id: int, content: bytes) -> list[tuple[str, bytes]]:
    """(run name, its .tgz) of each steering run in iDDS's archive."""
    runs = []
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:*") as outer:
            for member in outer.getmembers():
                data = outer.extractfile(member) if member.isfile() else None
                if data is not None:
                    runs.append((Path(member.name).name.removesuffix(".tgz"), data.read()))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise GridError(f"task {task_id}: iDDS sent logs that are not a tar archive ({exc})") from exc
    return runs


def _unpack(runs: list[tuple[str, bytes]], folder: Path) -> dict[str, list[str]]:
    """Each run's archive into `folder` (replaced whole, so no file of an earlier download lingers);
    members that would land outside it, links and devices are refused (tarfile's data filter)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, data in runs:
            try:
                inner = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
            except tarfile.ReadError:  # a run kept as a plain file
                (staging / name).write_bytes(data)
                continue
            with inner:
                try:
                    inner.extractall(staging, filter="data")
                except tarfile.FilterError as exc:
                    raise GridError(f"the steering log {name} holds a file it may not unpack: {exc}") from exc
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder)
        files.setdefault(relative.parts[0] if len(relative.parts) > 1 else ".", []).append(
            "/".join(relative.parts[1:]) or relative.name
        )
    return files
