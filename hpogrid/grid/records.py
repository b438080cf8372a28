"""What hpogrid remembers of its grid submissions: projects/<name>/grid/submissions.jsonl.

One JSON line per submission: task id, outDS, kind (prun or idds), jobs or points, seed, the time and
the PanDA server it went to. The server's task listing reaches back 90 days at most and lists any
`n_tasks` of them, and a task is invisible until JEDI registers it: these records let hpogrid find
a project's tasks by id at any age, and say what became of a task the server does not show yet.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

GRID_DIR = "grid"
SUBMISSIONS = "submissions.jsonl"


def remember(project, entry: dict) -> None:
    """Append a submission to the project's record (one JSON line, flushed and synced)."""
    folder = project.path / GRID_DIR
    folder.mkdir(exist_ok=True)
    with open(folder / SUBMISSIONS, "a") as handle:
        handle.write(json.dumps(entry, allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def submissions(project, server: str | None = None) -> list[dict]:
    """The project's submissions (to `server` only, when given; records without a server count for any)."""
    return _read(project.path / GRID_DIR / SUBMISSIONS, server)


def everywhere(server: str | None = None) -> list[dict]:
    """The submissions of every project under HPOGRID_BASE_PATH, each with its "project"."""
    from hpogrid import paths

    root = paths.projects_dir()
    entries = []
    for path in sorted(root.glob(f"*/{GRID_DIR}/{SUBMISSIONS}")) if root.is_dir() else []:
        entries += [{**entry, "project": path.parent.parent.name} for entry in _read(path, server)]
    return entries


def find(task_id: int, server: str | None = None) -> dict | None:
    """The record of a task submitted from here, if any."""
    return next((entry for entry in everywhere(server) if entry["task_id"] == int(task_id)), None)


def _read(path: Path, server: str | None) -> list[dict]:
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short by a crash: the others still count
            continue
        if isinstance(entry, dict) and isinstance(entry.get("task_id"), int):
            if server is None or entry.get("server") in (None, server):
                entries.append(entry)
    return entries


def submitted_at(entry: dict) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(str(entry.get("submitted")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def age_text(entry: dict, now: dt.datetime | None = None) -> str:
    """'3 min ago', '2 h ago', '4 days ago' since the submission."""
    when = submitted_at(entry)
    if when is None:
        return "at an unknown time"
    seconds = max(((now or dt.datetime.now(dt.timezone.utc)) - when).total_seconds(), 0)
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def pending_row(entry: dict) -> dict[str, Any]:
    """A task row for a submission the server does not show yet (JEDI has not registered it)."""
    from hpogrid.grid.monitor import task_link

    when = submitted_at(entry)
    submitted = when.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if when else None  # as the server's
    return {
        "jeditaskid": entry["task_id"],
        "status": "submitted",
        "taskname": f"{entry.get('outDS', '')}/",
        "username": None,
        "computingsite": None,
        "site": None,
        "creationdate": submitted,
        "modificationtime": submitted,
        "errordialog": f"waiting for JEDI to register it (submitted {age_text(entry)}; it takes minutes)",
        "link": task_link(entry["task_id"]),
    }
