"""The report table: one row per trial, best first, as a pandas DataFrame.

Columns: the hyperparameters (dotted names), the metric, the extra metrics, ``status`` and ``source``
(where the trial ran), then the ``--extra`` columns asked for. A hyperparameter whose name is taken by
one of these columns is shown as ``config.<name>``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hpogrid.errors import HpogridError, did_you_mean
from hpogrid.report.collect import Trials, flat_config
from hpogrid.results import TrialRecord, finite


def _timestamp(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text).timestamp() if text else None


EXTRA_COLUMNS: dict[str, Callable[[TrialRecord], Any]] = {
    "site": lambda r: r.source.get("site"),
    "task_time_s": lambda r: r.source.get("task_time_s"),
    "time_s": lambda r: r.duration_s,
    "taskid": lambda r: r.source.get("task"),
    "jobid": lambda r: r.source.get("job"),
    "run": lambda r: r.source.get("run"),
    "kind": lambda r: r.source.get("kind", "local"),  # local, emulated, grid, idds or legacy (hpogrid 1.x)
    "host": lambda r: r.host,
    "iterations": lambda r: r.iterations,
    "trial_id": lambda r: r.trial_id,
    "start_timestamp": lambda r: _timestamp(r.start),
    "start_datetime": lambda r: r.start,
    "end_datetime": lambda r: r.end,
    "error": lambda r: (r.error or "").strip().splitlines()[-1] if r.error else None,
}


def source_label(record: TrialRecord) -> str:
    return label_of(record.source or {})


def label_of(source: dict) -> str:
    """Where a trial ran, as the table's source column names it."""
    kind = source.get("kind", "local")
    if kind == "local":
        return f"local {source.get('run') or ''}".strip()
    if kind == "emulated":
        run = str(source.get("run") or "").removeprefix("emulate-")  # runs/emulate-<time>/job_<seq>
        return f"emulated {run} job {source.get('job')}"
    job = f" job {source['job']}" if source.get("job") is not None else ""
    if kind == "legacy":  # hpogrid 1.x: a task on the grid, else the file or folder it wrote (its last two names)
        task = source.get("task")
        return f"legacy {'/'.join(str(source.get('file')).split('/')[-2:]) if task is None else f'task {task}'}{job}"
    return f"{'idds' if kind == 'idds' else 'task'} {source.get('task')}{job}"


def group_label(record: TrialRecord) -> str:
    """The run, task or (hpogrid 1.x) file a trial belongs to: its source label without the job."""
    return label_of(record.source or {}).split(" job ")[0]


@dataclass
class Table:
    """The rows (a DataFrame) and the records behind them, in the same order."""

    frame: Any  # pandas.DataFrame
    records: list[TrialRecord]
    params: list[str]  # hyperparameter columns
    metric: str
    extras: list[str]  # extra-metric columns
    mode: str
    scales: dict[str, str] = field(default_factory=dict)  # per hyperparameter column: log, linear or category

    def scored(self):
        """The rows with a finite metric value."""
        return self.frame[self.frame[self.metric].notna()]

    def head(self, k: int | None) -> Table:
        """The best k rows (all for None): what --top shows and exports."""
        if k is None or k >= len(self.records):
            return self
        return replace(self, frame=self.frame.head(k), records=self.records[:k])


def check_extra(columns: Sequence[str]) -> list[str]:
    for column in columns:
        if column not in EXTRA_COLUMNS:
            raise HpogridError(
                f"--extra: unknown column '{column}'{did_you_mean(column, EXTRA_COLUMNS)}; "
                f"columns: {', '.join(EXTRA_COLUMNS)}"
            )
    return list(columns)


def build(
    trials: Trials,
    extra: Sequence[str] = (),
    low: float | None = None,
    high: float | None = None,
    top: int | None = None,
) -> Table:
    """The table of the trials: sorted best first for the mode, within [low, high], at most top rows."""
    import pandas as pd

    from hpogrid.report.scales import parameter_scale

    extra = check_extra(extra)
    metric, extras = trials.metric, [m for m in trials.extra_metrics if m != trials.metric]
    taken = {metric, *extras, "status", "source", *extra}
    columns = {name: (f"config.{name}" if name in taken else name) for name in trials.hyperparameters}
    records = [r for r in trials.records if _within(r.value, low, high)]
    best_first = sorted(records, key=lambda r: _order(r, trials.mode))
    if top is not None:
        best_first = best_first[:top]
    rows = []
    for record in best_first:
        flat = flat_config(record.config or {}, trials.hyperparameters)
        row = {columns[name]: _cell(value) for name, value in flat.items()}
        row[metric] = finite(record.value)
        for name in extras:
            row[name] = _cell((record.extra or {}).get(name, (record.last_result or {}).get(name)))
        row["status"], row["source"] = record.status, source_label(record)
        for name in extra:
            row[name] = EXTRA_COLUMNS[name](record)
        rows.append(row)
    order = [*columns.values(), metric, *extras, "status", "source", *extra]
    frame = pd.DataFrame(rows, columns=order)
    scales = {column: parameter_scale(frame[column], trials.methods.get(name)) for name, column in columns.items()}
    return Table(frame, best_first, list(columns.values()), metric, extras, trials.mode, scales)


def _within(value: Any, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    number = finite(value)
    if number is None:
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _order(record: TrialRecord, mode: str) -> tuple:
    number = finite(record.value)
    if number is None:
        return (1, 0.0, record.start or "")
    return (0, number if mode == "min" else -number, record.start or "")


def _cell(value: Any) -> Any:
    """Lists and dicts (categorical values) as compact JSON text; everything else as it is."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return value
