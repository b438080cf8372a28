"""`hpogrid tasks`: the user's PanDA tasks, through the PanDA server API (never the web monitor).

Rows are the server's task fields with lowercase names (as pbook shows them); `metastruct` is the
metadata of the task's finished jobs ({PandaID: userJobMetadata.json}).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from hpogrid.errors import HpogridError

BIGPANDA = "https://bigpanda.cern.ch"
SCAN = 10_000  # tasks asked of the server when hpogrid itself filters them (see show)
DEFAULT_COLUMNS = ("jeditaskid", "status", "taskname", "computingsite", "metastruct")
COLUMNS = (
    "jeditaskid", "status", "taskname", "username", "computingsite", "site", "creationdate", "modificationtime",
    "nfiles", "nfilesfinished", "nfilesfailed", "pctfinished", "pctfailed", "errordialog", "metastruct", "link",
)  # fmt: skip


@dataclass
class TaskQuery:
    username: str | None = None
    limit: int = 1000
    days: float | None = 30
    taskname: str | None = None  # glob
    jeditaskid: int | None = None
    id_range: tuple[int, int] | None = None
    status: tuple[str, ...] = ()


def parse_range(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text or "")
    if not found or int(found.group(1)) > int(found.group(2)):
        raise HpogridError(f"--range: got {text!r}, expected FIRST-LAST task IDs, e.g. 1000-1200")
    return int(found.group(1)), int(found.group(2))


def check_columns(columns: list[str]) -> list[str]:
    from hpogrid.errors import did_you_mean

    for column in columns:
        if column not in COLUMNS:
            raise HpogridError(
                f"--outcol: unknown column '{column}'{did_you_mean(column, COLUMNS)}; columns: {', '.join(COLUMNS)}"
            )
    return columns


def task_link(task_id) -> str:
    """The task's page on the BigPanDA monitor, for people to click."""
    return f"{BIGPANDA}/task/{task_id}/"


def row(task: dict) -> dict:
    """A task of the server as a row with lowercase keys, plus computingsite and link."""
    out = {k.lower(): v for k, v in task.items()}
    for key in ("creationdate", "modificationtime"):
        if out.get(key) is not None:
            out[key] = str(out[key])
    out["computingsite"] = out.get("site")
    out["link"] = task_link(out.get("jeditaskid"))
    return out


def select(tasks: list[dict], query: TaskQuery) -> list[dict]:
    """Filters the server cannot apply (globs, ranges, several statuses), then the limit."""
    rows = [row(t) for t in tasks]
    if query.taskname:
        rows = [
            r for r in rows if fnmatch.fnmatchcase(str(r.get("taskname", "")).rstrip("/"), query.taskname.rstrip("/"))
        ]
    if query.id_range:
        low, high = query.id_range
        rows = [r for r in rows if low <= int(r["jeditaskid"]) <= high]
    if query.status:
        rows = [r for r in rows if r.get("status") in query.status]
    rows.sort(key=lambda r: -int(r["jeditaskid"]))
    return rows[: query.limit]


def show(gateway, query: TaskQuery, metadata: bool = False) -> list[dict]:
    """The tasks the query selects, newest first, at most query.limit of them.

    The server cuts its listing to n_tasks before anything else, and filters by equality only: each
    status is asked for on its own, and where hpogrid filters further (a name glob, an ID range) the
    server is asked for up to SCAN tasks, so the limit counts matching tasks."""
    filters: dict = {}
    if query.username:
        filters["userName"] = query.username
    if query.jeditaskid is not None:
        filters["jediTaskID"] = query.jeditaskid
    days = None if query.jeditaskid is not None else query.days
    wanted = max(query.limit, SCAN) if query.taskname or query.id_range else max(query.limit, 1)
    tasks: dict[int, dict] = {}
    for status in query.status or (None,):
        for task in gateway.tasks({**filters, **({"status": status} if status else {})}, days=days, limit=wanted):
            tasks[int(task["jediTaskID"])] = task
    rows = select(list(tasks.values()), query)
    if metadata:
        for r in rows:
            r["metastruct"] = gateway.job_metadata(int(r["jeditaskid"]))
    return rows
