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

Reading never stops on a bad record: a line that is not UTF-8 or not JSON, a record that is not an
object, lacks a field or holds a value of the wrong kind is left out and counted in a ``Skipped``
tally, which its reader reports once per file (where the first one is, and how many). The files
themselves are never changed by reading: a resumed run appends after the lines it could not read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
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


class _Bad(ValueError):
    """A value of the wrong kind in a results file: what is wrong with it."""


def shown(value: Any, limit: int = 40) -> str:
    """A value as a message quotes it: escaped (no control characters) and cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"{shown(value)} is not a text")
    return value


def _trial_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise _Bad(f"{shown(value)} is not a trial name (a non-empty text)")
    return value


def _number(value: Any) -> float | int | None:
    if value is not None and _is_not_number(value):
        raise _Bad(f"{shown(value)} is not a number")
    return value  # NaN and infinities were made null by jsonable: no value


def _count(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Bad(f"{shown(value)} is not a whole number >= 0")
    return value


def _object(value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(f"{shown(value)} is not an object")
    return value


def _config(value: Any) -> dict:
    """An object; unlike other object fields, a config may not be left out as null."""
    if value is None:
        raise _Bad(f"{shown(value)} is not an object")
    return _object(value)


def _status(value: Any) -> str:
    if value not in STATUSES:
        raise _Bad(f"{shown(value)} is not one of {', '.join(STATUSES)}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _when(value: Any) -> str | None:
    """An ISO date-time (one without a zone is taken as UTC), or None."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(_text(value))
    except ValueError:
        raise _Bad(f"{shown(value)} is not an ISO date-time") from None
    return value if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc).isoformat()


def _history(value: Any) -> dict:
    history = _object(value)
    for name, series in history.items():
        if not isinstance(series, list) or not all(v is None or isinstance(v, (int, float)) for v in series):
            raise _Bad(f"entry {shown(name)} is not a list of numbers")
    return history


def _is_not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float))


def finite(value: Any) -> float | int | None:
    """A finite number as it is; None for NaN, infinities, booleans and anything not a number."""
    return None if _is_not_number(value) or not math.isfinite(value) else value


def _source(value: Any) -> dict:
    for name, item in _object(value).items():
        if isinstance(item, (dict, list)):
            raise _Bad(f"entry {shown(name)} is {shown(item)}, not a single value")
    return _object(value)


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{shown(value)} is not a list of names")
    return value


def _mode(value: Any) -> str:
    if value not in ("min", "max"):
        raise _Bad(f"{shown(value)} is not 'min' or 'max'")
    return value


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise _Bad(f"{shown(value)} is not a list")
    return value


REQUIRED = ("trial_id", "config", "metric", "status")
RECORD_FIELDS: dict[str, Callable[[Any], Any]] = {
    "trial_id": _trial_id,
    "config": _config,
    "metric": _text,
    "value": _number,
    "status": _status,
    "iterations": _count,
    "extra": _object,
    "last_result": _object,
    "history": _history,
    "error": _optional_text,
    "start": _when,
    "end": _when,
    "duration_s": _number,
    "host": _optional_text,
    "source": _source,
}
# the fields of a run summary (and a job's metadata) its readers use; others are kept as they are
SUMMARY_FIELDS: dict[str, Callable[[Any], Any]] = {
    "project": _text,
    "run_id": _text,
    "status": _text,
    "metric": _text,
    "mode": _mode,
    "hyperparameters": _names,
    "num_trials": _count,
    "start": _when,
    "end": _when,
    "duration_s": _number,
    "trials": _list,
    "job": _source,
}


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
    def parse(cls, data: Any) -> TrialRecord | str:
        """The record in a journal line or summary row, or why there is none (one line).
        NaN and infinite numbers are read as null: a metric of NaN is a trial without a value."""
        if not isinstance(data, dict):
            return f"{shown(data)} is not a JSON object"
        missing = [name for name in REQUIRED if name not in data]
        if missing:
            return f"{', '.join(missing)} missing"
        data = jsonable(data)
        try:
            return cls(**{"value": None, **_checked(data, RECORD_FIELDS)})
        except _Bad as exc:
            return str(exc)

    def compact(self) -> dict:
        """The row of this trial in a run summary."""
        row = self.to_json()
        row.pop("last_result")
        row.pop("history")
        if row["error"] and len(row["error"]) > SUMMARY_ERROR_CHARS:
            row["error"] = "..." + row["error"][-SUMMARY_ERROR_CHARS:]
        return row


def _checked(data: dict, checks: dict[str, Callable[[Any], Any]]) -> dict:
    """The checked fields of data (as the checks keep them); _Bad naming the first field that is wrong."""
    out = {}
    for name, check in checks.items():
        if name in data:
            try:
                out[name] = check(data[name])
            except _Bad as exc:
                raise _Bad(f"{name} {exc}") from None
    return out


@dataclass
class Skipped:
    """What a reader left out of one file (or of one grid task's job metadata): bad records, counted,
    with where the first one is; and the fields of a summary that were ignored. Reported in one line."""

    where: str
    count: int = 0
    first: tuple[str, str] | None = None  # (location after `where`, e.g. ":7" or " trials[3]", reason)
    ignored: list[str] = field(default_factory=list)  # fields of a summary left out, and why
    unreadable: str | None = None  # why the whole file could not be read, if it could not

    def ignore(self, at: str, reason: str) -> None:
        self.ignored.append(f"{at.strip()} {reason}".strip())

    def add(self, at: str, reason: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = (at, reason)

    def warning(self) -> str | None:
        """The one line that says what was left out, or None when nothing was."""
        parts = (
            [f"{self.where}: cannot be read as a results file ({self.unreadable}); left out"] if self.unreadable else []
        )
        if self.count:
            at, reason = self.first
            plural = "s" if self.count > 1 else ""
            parts.append(f"{self.where}{at}: {self.count} bad trial record{plural} skipped (first: {reason})")
        if self.ignored:
            parts.append(f"{self.where}: fields ignored: {'; '.join(self.ignored)}")
        return "; ".join(parts) or None


def where(path: Path) -> str:
    """A file's path as messages show it: relative to the working directory when under it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _line_record(raw: bytes) -> TrialRecord | str:
    """The record on a journal line, or why there is none."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not UTF-8 text (byte {exc.start + 1} of the line)"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if not raw.endswith(b"\n"):
            return "the line is cut short (written as the run was killed)"
        return f"not JSON ({exc.msg} at character {exc.pos + 1})"
    except (ValueError, RecursionError) as exc:  # a number of thousands of digits; nesting Python cannot follow
        return f"not JSON ({str(exc).split(';')[0] or 'nested too deeply'})"
    return TrialRecord.parse(data)


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
        """Add a line; after a line cut short by a crash, on a line of its own (that line is kept)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record.to_json(), ensure_ascii=False, allow_nan=False) + "\n").encode()
        with open(self.path, "a+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    line = b"\n" + line
            handle.write(line)

    def sync(self) -> None:
        if self.path.is_file():
            with open(self.path, "a", encoding="utf-8") as handle:
                os.fsync(handle.fileno())

    def read(self) -> tuple[list[TrialRecord], Skipped]:
        """The records, and the lines left out (numbered from 1); blank lines are no records."""
        records: list[TrialRecord] = []
        skipped = Skipped(where(self.path))
        if not self.path.is_file():
            return records, skipped
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                record = _line_record(raw)
                if isinstance(record, str):
                    skipped.add(f":{number}", record)
                else:
                    records.append(record)
        return records, skipped

    def __iter__(self) -> Iterator[TrialRecord]:
        """The records, leaving out lines that hold none."""
        return iter(self.read()[0])

    def records(self) -> list[TrialRecord]:
        return self.read()[0]


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
    return jsonable(
        {
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
    )


def write_summary(run_dir: Path, summary: dict) -> None:
    write_json_atomic(Path(run_dir) / SUMMARY_FILE, summary)


def load_summary(path: Path) -> Any:
    """The JSON of a summary file; ValueError saying why it cannot be read."""
    try:
        return json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({str(exc).split(';')[0] or 'nested too deeply'})") from None


def summary_fields(data: Any, skipped: Skipped, at: str = "") -> dict:
    """A summary (or job metadata) with its fields of the wrong kind left out, each noted in skipped
    (at: where the summary is in its file). ValueError if it is not a JSON object at all."""
    if not isinstance(data, dict):
        raise ValueError(f"{shown(data)} is not a JSON object")
    data = jsonable(data)
    clean = dict(data)
    for name in SUMMARY_FIELDS:
        if name in data:
            clean.pop(name)
            try:
                clean.update(_checked(data, {name: SUMMARY_FIELDS[name]}))
            except _Bad as exc:
                skipped.ignore(at, str(exc))
    return clean


def summary_trials(summary: dict, skipped: Skipped, at: str = "") -> list[TrialRecord]:
    """The good rows of a summary's (cleaned by summary_fields) trials; the others counted in skipped."""
    records = []
    for index, row in enumerate(summary.get("trials") or []):
        record = TrialRecord.parse(row)
        if isinstance(record, str):
            skipped.add(f"{at} trials[{index}]", record)
        else:
            records.append(record)
    return records


def read_summary(run_dir: Path) -> dict | None:
    """A run's summary (fields of the wrong kind left out), None if it has none; ValueError saying
    where and why when it cannot be read as one."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.is_file():
        return None
    skipped = Skipped(where(path))
    try:
        return summary_fields(load_summary(path), skipped)
    except ValueError as exc:
        raise ValueError(f"{where(path)}: {exc}") from None
