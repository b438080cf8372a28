"""Trial records and run summaries: the one results format of local runs, grid jobs and reports.

A run directory holds:

``trials.jsonl``  one JSON object per finished trial, appended and flushed as each trial ends, so
                  a crash of the run loses nothing that finished (synced to disk when the run ends)::

    {"trial_id": "7f3a_00003",          # unique within the run
     "config": {"lr": 0.01, ...},        # the trial's hyperparameters (nested as in the search space)
     "metric": "loss", "value": 0.12,    # the optimized metric at the trial's last iteration
     "extra": {"accuracy": 0.97},        # hpo_config.extra_metrics at the last iteration
     "last_result": {...},               # every metric the trial reported at its last iteration
     "history": {"iteration": [1, 2], "loss": [0.3, 0.12], "accuracy": [0.9, 0.97]},
                                         # the metric and extra metrics at each reported iteration
     "iterations": 10,                   # training iterations done
     "status": "terminated",             # terminated | early_stopped (by the scheduler) | error
     "error": null,                      # the traceback of a failed trial
     "start": "2026-11-23T16:20:01+00:00", "end": "...", "duration_s": 3.2,
     "host": "node1",
     "source": {"kind": "local", "run": "20261123-162000"}}   # grid jobs add task, job, site

``summary.json``  the run: project, hyperparameter names, metric, mode, best config and score,
                  start/end, counts per status and a compact row per trial. This is what a grid job
                  uploads as its PanDA job metadata, so it stays well under 1 MB for 1,000 trials
                  (long error texts are cut; last_result and history are left out).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hpogrid.fileio import write_json_atomic

FORMAT = "hpogrid-run/1"
TRIALS_FILE = "trials.jsonl"
SUMMARY_FILE = "summary.json"
STATUSES = ("terminated", "early_stopped", "error")
SUMMARY_ERROR_CHARS = 300


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="milliseconds")


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: numpy scalars to Python, NaN/inf to None, others to str."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 1) == 0:
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value)


@dataclass
class TrialRecord:
    """One finished trial."""

    trial_id: str
    config: dict
    metric: str
    value: float | None
    status: str
    iterations: int = 0
    extra: dict = field(default_factory=dict)
    last_result: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    error: str | None = None
    start: str | None = None
    end: str | None = None
    duration_s: float | None = None
    host: str | None = None
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"trial status must be one of {STATUSES}, got {self.status!r}")

    def to_json(self) -> dict:
        return jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict) -> TrialRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def compact(self) -> dict:
        """The row of this trial in a run summary."""
        row = self.to_json()
        row.pop("last_result")
        row.pop("history")
        if row["error"] and len(row["error"]) > SUMMARY_ERROR_CHARS:
            row["error"] = "..." + row["error"][-SUMMARY_ERROR_CHARS:]
        return row


class Journal:
    """The append-only trials.jsonl of a run. Each append reaches the OS at once (a killed process
    loses nothing); sync() forces it to disk (done when a run ends)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / TRIALS_FILE

    @classmethod
    def from_file(cls, path: Path) -> Journal:
        """The journal in a file of any name (a grid job's trials output, a copied trials.jsonl)."""
        journal = cls(Path(path).parent)
        journal.path = Path(path)
        return journal

    def append(self, record: TrialRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record.to_json(), ensure_ascii=False, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)

    def sync(self) -> None:
        if self.path.is_file():
            with open(self.path, "a", encoding="utf-8") as handle:
                os.fsync(handle.fileno())

    def __iter__(self) -> Iterator[TrialRecord]:
        """The records, skipping a last line cut short by a crash."""
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line half-written when the process died
                yield TrialRecord.from_json(data)

    def records(self) -> list[TrialRecord]:
        return list(self)

    def ids(self) -> set[str]:
        return {r.trial_id for r in self}


def best(records: Iterable[TrialRecord], mode: str) -> TrialRecord | None:
    """The record with the best value for mode ('min' or 'max'); trials without a value are skipped."""
    scored = [r for r in records if isinstance(r.value, (int, float)) and math.isfinite(r.value)]
    if not scored:
        return None
    return (min if mode == "min" else max)(scored, key=lambda r: r.value)


def summarize(
    records: list[TrialRecord],
    *,
    project: str,
    run_id: str,
    status: str,
    metric: str,
    mode: str,
    algorithm: str,
    scheduler: str,
    hyperparameters: list[str],
    num_trials: int,
    start: str,
    end: str | None,
    hpogrid_version: str,
) -> dict:
    """The run summary (summary.json, and a grid job's PanDA job metadata)."""
    top = best(records, mode)
    counts = {s: sum(r.status == s for r in records) for s in STATUSES}
    duration = None
    if end:
        duration = (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()
    return {
        "format": FORMAT,
        "project": project,
        "run_id": run_id,
        "status": status,
        "hpogrid_version": hpogrid_version,
        "algorithm": algorithm,
        "scheduler": scheduler,
        "metric": metric,
        "mode": mode,
        "hyperparameters": hyperparameters,
        "num_trials": num_trials,
        "start": start,
        "end": end,
        "duration_s": duration,
        "counts": counts,
        "best": None if top is None else {"trial_id": top.trial_id, "config": top.config, "value": top.value},
        "trials": [r.compact() for r in records],
    }


def write_summary(run_dir: Path, summary: dict) -> None:
    write_json_atomic(Path(run_dir) / SUMMARY_FILE, summary)


def read_summary(run_dir: Path) -> dict | None:
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text())
