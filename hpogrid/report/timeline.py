"""The timeline of a report: each trial as a bar from its start to its end on the wall clock, one row
per worker, coloured by how the trial ended (Optuna's timeline, per worker rather than per trial).

A worker is a grid job (``task T job J``) or, for local runs, a host; the trials a worker ran at the
same time (Ray runs several at once) are spread over numbered lanes, so no two bars overlap: ``host #2``
is the second trial the host had running at once.
"""

from __future__ import annotations

import datetime as dt

from hpogrid.report.plots import STATUS
from hpogrid.report.scales import CATEGORY, axis
from hpogrid.report.table import Table, source_label
from hpogrid.results import TrialRecord

UTC = dt.timezone.utc


def _when(text: str | None) -> float | None:
    """A record's time as seconds since the epoch (a time without zone is UTC)."""
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment).timestamp()


def worker_of(record: TrialRecord) -> str:
    if (record.source or {}).get("kind", "local") == "local":
        return record.host or "local"
    return source_label(record)  # a job of a task (or of an emulated run), or what hpogrid 1.x wrote


def spans(table: Table) -> list[tuple[str, float, float, TrialRecord]]:
    """(lane, start, end, record) of every trial with a start and an end (or duration), lanes packed."""
    import heapq

    found: dict[str, list[tuple[float, float, TrialRecord]]] = {}
    for record in table.records:
        start = _when(record.start)
        end = _when(record.end)
        if start and not end and record.duration_s is not None:
            end = start + record.duration_s
        if start is not None and end is not None:
            found.setdefault(worker_of(record), []).append((start, max(start, end), record))
    out = []
    for worker, items in found.items():
        items.sort(key=lambda item: (item[0], item[1]))
        busy: list[tuple[float, int]] = []  # (end of its last trial, lane) of the lanes in use
        free: list[int] = []  # lanes whose last trial has ended, lowest first
        placed = []
        for start, end, record in items:
            while busy and busy[0][0] <= start:
                heapq.heappush(free, heapq.heappop(busy)[1])
            lane = heapq.heappop(free) if free else len(busy) + len(free)
            heapq.heappush(busy, (end, lane))
            placed.append((lane, start, end, record))
        lanes = len(busy) + len(free)
        out += [(f"{worker} #{lane + 1}" if lanes > 1 else worker, s, e, r) for lane, s, e, r in placed]
    return out


def timeline(table: Table) -> dict | None:
    """The figure; None when no trial has a start and an end."""
    placed = spans(table)
    if not placed:
        return None
    lanes = sorted({lane for lane, *_ in placed}, key=_lane_key)
    data = []
    for status, (name, _, color) in STATUS.items():
        mine = [item for item in placed if item[3].status == status]
        if not mine:
            continue
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "base": [round(start * 1000) for _, start, _, _ in mine],  # a date axis: milliseconds since the epoch
                "x": [max(round((end - start) * 1000), 1) for _, start, end, _ in mine],
                "y": [lane for lane, *_ in mine],
                "text": [_hover(record, end - start) for _, start, end, record in mine],
                "textposition": "none",
                "hovertemplate": "%{text}<extra>" + name + "</extra>",
                "name": name,
                "marker": {"color": color, "line": {"width": 0.5, "color": "white"}},
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {"text": f"Timeline of {len(placed)} trials per worker (host, or grid job)"},
            "barmode": "overlay",
            "xaxis": {"type": "date", "title": {"text": "wall-clock time (UTC)"}, "automargin": True},
            "yaxis": axis(CATEGORY, "", categoryorder="array", categoryarray=lanes[::-1]),
            "height": max(300, 22 * len(lanes) + 140),
            "margin": {"t": 60},
        },
    }


def _hover(record: TrialRecord, seconds: float) -> str:
    value = "" if record.value is None else f": {record.value:.6g}"
    return f"{record.trial_id}{value} ({seconds:.4g} s)"


def _lane_key(lane: str) -> tuple:
    worker, _, number = lane.rpartition(" #")
    return (worker, int(number)) if worker and number.isdigit() else (lane, 0)
