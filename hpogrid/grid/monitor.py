"""`hpogrid tasks`: the user's PanDA tasks, through the PanDA server API (never the web monitor).

Rows are the server's task fields with lowercase names (as pbook shows them); `metastruct` is the
metadata of the task's finished jobs ({PandaID: userJobMetadata.json}).

The server's listing looks back 90 days at most and returns any `n_tasks` tasks of its window, not
the newest, and a task is invisible until JEDI registers it. So hpogrid sorts on its side, narrows
the window until the server lists it whole (`listing`), fetches a task by its ID when it knows the ID
(any age), and shows tasks submitted from here that JEDI has not registered yet from its own records.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from hpogrid.errors import HpogridError
from hpogrid.grid.gateway import LISTING_DAYS

BIGPANDA = "https://bigpanda.cern.ch"
LISTING_FLOOR = 500  # tasks asked of the server at least per listing (panda-client's default n_tasks)
NARROWEST = 1 / 24  # days: a window the server cannot list whole is not narrowed below an hour
DEFAULT_COLUMNS = ("jeditaskid", "status", "taskname", "computingsite", "metastruct")
COLUMNS = (
    "jeditaskid", "status", "taskname", "username", "computingsite", "site", "creationdate", "modificationtime",
    "nfiles", "nfilesfinished", "nfilesfailed", "pctfinished", "pctfailed", "errordialog", "metastruct", "link",
)  # fmt: skip


@dataclass
class TaskQuery:
    username: str | None = None
    limit: int = 1000
    days: float = 30
    taskname: str | None = None  # glob
    jeditaskid: int | None = None
    id_range: tuple[int, int] | None = None
    status: tuple[str, ...] = ()


OPEN_END = 2**63 - 1  # the last task ID of an open range (FIRST-)


def parse_range(text: str) -> tuple[int, int]:
    """FIRST-LAST task IDs, both included; FIRST- and -LAST leave one end open (as hpogrid 1.3.3 took them)."""
    found = re.fullmatch(r"\s*(\d*)\s*-\s*(\d*)\s*", text or "")
    first, last = (found.group(1), found.group(2)) if found else ("", "")
    if not (first or last) or (first and last and int(first) > int(last)):
        raise HpogridError(f"--range: got {text!r}, expected FIRST-LAST task IDs, e.g. 1000-1200 (or 1000-, -1200)")
    return int(first or 0), int(last or OPEN_END)


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


def matches(r: dict, query: TaskQuery) -> bool:
    """The filters the server cannot apply: a name glob, an ID range, several statuses."""
    if query.taskname and not fnmatch.fnmatchcase(str(r.get("taskname", "")).rstrip("/"), query.taskname.rstrip("/")):
        return False
    if query.id_range and not query.id_range[0] <= int(r["jeditaskid"]) <= query.id_range[1]:
        return False
    return not query.status or r.get("status") in query.status


def utc_seconds(text: Any) -> float | None:
    """A server time (UTC, as text) in seconds since the epoch; None when it is not a time."""
    try:
        when = dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def modified_at(r: dict) -> float:
    """A row's modification time in seconds since the epoch; 0 when it has none."""
    return utc_seconds(r.get("modificationtime")) or 0.0


def newest(rows: list[dict], limit: int) -> list[dict]:
    """The `limit` most recently modified rows (once each), highest task ID first."""
    unique = {int(r["jeditaskid"]): r for r in rows}
    picked = sorted(unique.values(), key=lambda r: (modified_at(r), int(r["jeditaskid"])), reverse=True)[:limit]
    return sorted(picked, key=lambda r: -int(r["jeditaskid"]))


@dataclass
class Listing:
    """What a listing found: the rows kept, and how much of the period asked for the server listed whole."""

    rows: list[dict] = field(default_factory=list)
    asked: float = 0.0  # days asked for, less what the server never lists (over LISTING_DAYS)
    whole: float | None = None  # days the server listed whole (None: not even the narrowest window)
    capped: bool = False  # more days were asked for than the server lists
    per_request: int = 0
    wanted: int = 0

    @property
    def complete(self) -> bool:
        """The server listed the whole period asked for: every task of it that JEDI knows is here."""
        return self.whole is not None and self.whole >= self.asked and not self.capped

    def notes(self, remedy: str = "--status, --taskname or --days", cap: bool = True) -> list[str]:
        """What the server's limits left unsearched, in words; none when the listing answers the question
        (cap: including that the server looks back LISTING_DAYS at most)."""
        notes = []
        if self.capped and cap:
            notes.append(
                f"the PanDA server lists your tasks of the last {LISTING_DAYS} days at most; older ones were not "
                "searched (a task of any age is found by its ID: --jeditaskid)"
            )
        if self.whole is None:
            notes.append(
                f"more than {self.per_request} of your tasks changed in the last {_days_text(NARROWEST)}: the server "
                f"lists any {self.per_request} of them, not the newest (narrow with {remedy})"
            )
        elif self.whole < self.asked and len(self.rows) < self.wanted:
            notes.append(
                f"the server lists any {self.per_request} of your tasks of a period, not the newest: only the last "
                f"{_days_text(self.whole)} were listed whole, older ones may be missing (narrow with {remedy})"
            )
        return notes


def listing(
    gateway, filters: dict, days: float, wanted: int, keep: Callable[[dict], bool] = lambda _r: True
) -> Listing:
    """The tasks modified in the last `days` days that `keep` accepts, at least the `wanted` most recently
    modified of them. The server returns any `n` tasks of a window: a reply of `n` rows may have left
    some out, so the window is narrowed until the server lists it whole: to a half, or to 2 * wanted / n
    when `n` (at least LISTING_FLOOR) is larger than twice `wanted`, so that at even density the first
    whole window still holds `wanted` tasks; Listing.notes says when it does not."""
    span = min(days, LISTING_DAYS)
    per_request = max(2 * wanted + 1, LISTING_FLOOR)
    found = Listing(asked=span, capped=days > LISTING_DAYS, per_request=per_request, wanted=wanted)
    while True:
        replied = gateway.tasks(filters, days=span, limit=found.per_request)
        found.rows = [r for r in map(row, replied) if keep(r)]
        if len(replied) < found.per_request:
            found.whole = span
            return found
        # the window holds `per_request` tasks or more: one with `wanted` of them is this much narrower at least
        narrower = span / max(2.0, found.per_request / (2 * wanted))
        if narrower < NARROWEST:
            return found
        span = narrower


def _days_text(days: float) -> str:
    return f"{days:.3g} days" if days >= 1 else f"{days * 24:.3g} hours"


def by_id(gateway, task_ids: list[int], entries: dict[int, dict] | None = None) -> list[dict]:
    """Tasks by their IDs (any age); a task JEDI does not know yet is shown from its submission record
    (entries: {task id: record}) as submitted, waiting to be registered, and left out without one."""
    from hpogrid.grid.records import pending_row

    rows = []
    for task_id in task_ids:
        task = gateway.task(task_id)
        if task is not None:
            rows.append(row(task))
        elif entries and task_id in entries:
            rows.append(pending_row(entries[task_id]))
    return rows


def show(gateway, query: TaskQuery, metadata: bool = False) -> tuple[list[dict], list[str]]:
    """The tasks the query selects, at most query.limit of the most recently modified, highest ID
    first; and notes on what the server's limits left unsearched. Tasks submitted from here that the
    listing misses (not registered yet, or cut from a long listing) are asked for by their IDs."""
    from hpogrid.grid import records

    mine = query.username is None
    entries = {e["task_id"]: e for e in records.everywhere(gateway.server)} if mine else {}
    notes: list[str] = []
    if query.jeditaskid is not None:
        rows = by_id(gateway, [query.jeditaskid], entries)
    else:
        filters = {"userName": query.username} if query.username else {}
        rows, whole = [], True
        for status in query.status or (None,):
            found = listing(
                gateway,
                {**filters, **({"status": status} if status else {})},
                query.days,
                query.limit,
                keep=lambda r: matches(r, query),
            )
            rows += found.rows
            notes += [n for n in found.notes() if n not in notes]
            whole = whole and found.complete
        # tasks submitted from here in the period that the listings do not hold: when they listed it whole,
        # only those JEDI has not registered yet (shown as submitted, if that status is asked for)
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=query.days)
        listed = {int(r["jeditaskid"]) for r in rows}
        unfiltered = replace(query, status=())
        missing = [
            task_id
            for task_id, entry in entries.items()
            if task_id not in listed
            and (records.submitted_at(entry) or since) >= since
            and matches(records.pending_row(entry), unfiltered)
            and not (whole and query.status and "submitted" not in query.status)
        ]
        rows += by_id(gateway, missing, entries)
    rows = newest([r for r in rows if matches(r, query)], query.limit)
    if metadata:
        for r in rows:
            r["metastruct"] = gateway.job_metadata(int(r["jeditaskid"])) if r.get("status") != "submitted" else {}
    return rows, notes


def command(gateway, task_id: int, action: Callable[[Any, int], str]) -> str:
    """Kill or retry a task (action(gateway, task_id)). The server refuses a command on a task JEDI has
    not registered yet as on one that does not exist: for a task submitted from here, say so."""
    from hpogrid.grid import records
    from hpogrid.grid.gateway import Refused

    try:
        return action(gateway, task_id)
    except Refused as exc:
        entry = records.find(task_id, gateway.server)
        if entry is not None and gateway.task(task_id) is None:
            raise HpogridError(
                f"task {task_id}: not registered by JEDI yet (submitted {records.age_text(entry)}); "
                "try again in a few minutes"
            ) from exc
        raise


# pbook's killAndRetry (PBookCore): kill, wait 3 s, then look up to 6 times, 30 s apart, whether the task
# has stopped (its superstatus final, localSpecs.task_final_superstatus_list), then retry it
STOPPED = ("finished", "failed", "done", "broken", "aborted")
KILL_SETTLE = 3.0
KILL_POLLS, KILL_POLL_INTERVAL = 6, 30.0


def kill_then_retry(
    gateway, task_id: int, say: Callable[[str], None] = lambda _line: None, sleep: Callable[[float], None] | None = None
) -> str:
    """Kill a task, wait until it has stopped, retry it (what pbook's killAndRetry does); the outcome in
    words. A task that does not stop in time is an HpogridError, as pbook's "Max attempts exceeded"."""
    import time

    sleep = sleep or time.sleep
    say(f"{gateway.kill(task_id)}   ({task_link(task_id)})")
    sleep(KILL_SETTLE)
    for attempt in range(KILL_POLLS):
        task = gateway.task(task_id) or {}
        state = str(task.get("superStatus") or task.get("status") or "")
        if state in STOPPED:
            break
        if attempt + 1 == KILL_POLLS:
            raise HpogridError(
                f"task {task_id}: still {state or 'unknown'} {KILL_SETTLE + KILL_POLL_INTERVAL * attempt:.0f} s after "
                f"the kill; retry it later with `hpogrid tasks retry {task_id}`"
            )
        say(f"task {task_id}: {state or 'unknown'}, jobs still running; looking again in {KILL_POLL_INTERVAL:.0f} s")
        sleep(KILL_POLL_INTERVAL)
    return gateway.retry(task_id)
