"""Gathering every trial of a project, wherever it ran: local runs, grid tasks, iDDS tasks, files.

Each trial is a TrialRecord (hpogrid/results.py) whose ``source`` says where it ran:
``{"kind": "local", "run"}``, ``{"kind": "grid", "task", "job", "site", "task_time_s"}`` or
``{"kind": "idds", "task", "job", "site"}``. A trial is identified by (kind, run or task, job, trial_id),
so reading the same result twice (a summary and its journal, a cached and a fresh task) counts it once.

Grid tasks of a project are those it submitted (projects/P/grid/submissions.jsonl: fetched by ID, of
any age) and those named ``user.*.hpogrid.P.*`` (found in the server's listing, 90 days at most). The
trials of a task in a final state are cached in projects/P/grid/report/, so a repeated report does
not ask the server for them again (unless the task changed since).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpogrid.errors import HpogridError
from hpogrid.results import FORMAT, SUMMARY_FILE, TRIALS_FILE, Journal, TrialRecord

FINAL_STATES = frozenset({"done", "finished", "failed", "broken", "aborted"})
CACHE_DIR = "report"


@dataclass
class Trials:
    """The trials of a report and what they optimized."""

    metric: str
    mode: str
    hyperparameters: list[str]
    extra_metrics: list[str] = field(default_factory=list)
    records: list[TrialRecord] = field(default_factory=list)
    project: str | None = None
    warnings: list[str] = field(default_factory=list)
    _seen: set = field(default_factory=set, repr=False)

    def add(self, records: Iterable[TrialRecord]) -> int:
        """Add the records not seen before; returns how many were new."""
        added = 0
        for record in records:
            key = identity(record)
            if key not in self._seen:
                self._seen.add(key)
                self.records.append(record)
                added += 1
        return added


def identity(record: TrialRecord) -> tuple:
    source = record.source or {}
    where = source.get("task") if source.get("task") is not None else source.get("run")
    return source.get("kind", "local"), where, source.get("job"), record.trial_id


@dataclass
class GridQuery:
    """The README's task filters of `hpogrid report`."""

    limit: int = 1000
    days: float | None = 30
    taskname: str | None = None
    id_range: tuple[int, int] | None = None
    jeditaskid: int | None = None


# -- local runs --------------------------------------------------------------------------------------------
def run_records(run_dir: Path) -> list[TrialRecord]:
    """A run folder's trials: its journal, or the rows of its summary when only that is left."""
    journal = Journal(run_dir)
    if journal.path.is_file():
        return journal.records()
    summary_path = Path(run_dir) / SUMMARY_FILE
    if summary_path.is_file():
        return summary_records(_read_json(summary_path))
    return []


def local(project, trials: Trials) -> None:
    from hpogrid.local.runner import runs_dir

    folder = runs_dir(project)
    for run_dir in sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []:
        records = run_records(run_dir)
        for record in records:
            record.source = {"kind": "local", "run": run_dir.name, **(record.source or {})}
        trials.add(records)


# -- summaries and job metadata ----------------------------------------------------------------------------
def summary_records(summary: dict, task: dict | None = None) -> list[TrialRecord]:
    """The trials of a run summary or of a grid job's metadata (a summary plus "job")."""
    job = summary.get("job") or {}
    extra_source = {k: job.get(k) for k in ("task", "job", "site") if job.get(k) is not None}
    if task:
        extra_source.setdefault("site", task.get("site"))
    if summary.get("duration_s") is not None:
        extra_source["task_time_s"] = summary["duration_s"]
    records = []
    for row in summary.get("trials") or []:
        record = TrialRecord.from_json(row)
        source = dict(record.source or {})
        for key, value in extra_source.items():
            if source.get(key) is None:
                source[key] = value
        if job.get("kind") and "kind" not in source:
            source["kind"] = job["kind"]
        record.source = source
        records.append(record)
    return records


def read_file(path: Path, mode: str | None = None) -> Trials:
    """`hpogrid report FILE`: a run folder, summary.json, userJobMetadata.json, trials.jsonl, or the JSON
    of `hpogrid tasks show --metadata --output F.json` ({PandaID: metadata} per task)."""
    path = Path(path)
    if not path.exists():
        raise HpogridError(f"{path}: no such file or directory (give a project name, or a results file)")
    if path.is_dir():
        if not (path / TRIALS_FILE).is_file() and not (path / SUMMARY_FILE).is_file():
            raise HpogridError(f"{path}: not a run folder (it has no {TRIALS_FILE} or {SUMMARY_FILE})")
        summary = _read_json(path / SUMMARY_FILE) if (path / SUMMARY_FILE).is_file() else {}
        records = run_records(path)
        for record in records:
            record.source = {"kind": "local", "run": path.name, **(record.source or {})}
        return _trials_of(records, [summary] if summary else [], mode, path)
    if path.suffix == ".jsonl":
        records = Journal.from_file(path).records()
        if not records:
            raise HpogridError(f"{path}: holds no trial records (one JSON object per line, see `hpogrid report -h`)")
        beside = path.parent / SUMMARY_FILE
        return _trials_of(records, [_read_json(beside)] if beside.is_file() else [], mode, path)
    data = _read_json(path)
    summaries = list(_summaries_in(data))
    if not summaries:
        raise HpogridError(
            f"{path}: not a results file: expected a run summary ({FORMAT}), a job's userJobMetadata.json, "
            "a trials.jsonl, or `hpogrid tasks show --metadata --output FILE.json`"
        )
    records = [r for summary in summaries for r in summary_records(summary)]
    return _trials_of(records, summaries, mode, path)


def _summaries_in(data: Any) -> Iterable[dict]:
    if isinstance(data, dict) and data.get("format") == FORMAT:
        yield data
    elif isinstance(data, dict):  # {PandaID: metadata}
        for value in data.values():
            yield from _summaries_in(value)
    elif isinstance(data, list):  # rows of `tasks show --output`, each with a metastruct
        for row in data:
            if isinstance(row, dict) and isinstance(row.get("metastruct"), dict):
                yield from _summaries_in(row["metastruct"])


def _trials_of(records: list[TrialRecord], summaries: list[dict], mode: str | None, path: Path) -> Trials:
    first = summaries[0] if summaries else {}
    metric = first.get("metric") or (records[0].metric if records else "loss")
    names = list(first.get("hyperparameters") or _names_in(records))
    extras = sorted({k for r in records for k in (r.extra or {})})
    trials = Trials(metric=metric, mode=mode or first.get("mode") or "min", hyperparameters=names)
    trials.extra_metrics, trials.project = extras, first.get("project")
    if not mode and not first.get("mode"):
        trials.warnings.append(f"{path}: the file does not say min or max; sorted for min (use --mode max)")
    trials.add(records)
    return trials


def _names_in(records: list[TrialRecord]) -> list[str]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(flatten(record.config)))
    return list(names)


def flatten(config: dict, prefix: str = "") -> dict:
    """{dotted name: value} of a nested config."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def flat_config(config: dict, names: list[str]) -> dict:
    """The values of the named (dotted) hyperparameters in a trial config, nested or flat."""
    out = {}
    for name in names:
        if name in config:
            out[name] = config[name]
            continue
        node: Any = config
        for key in name.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        out[name] = node
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise HpogridError(f"{path}: cannot read it as JSON ({exc})") from exc


# -- grid tasks --------------------------------------------------------------------------------------------
def project_tasks(
    rows: list[dict], project, query: GridQuery, submitted: dict[int, dict], now: float | None = None
) -> list[dict]:
    """The tasks that belong to the project and pass the filters (--days on the last modification, as the
    server applies it), at most limit of the most recently modified: for the server's rows and the cached."""
    from hpogrid.grid.monitor import newest, utc_seconds

    pattern = f"user.*.hpogrid.{project.name}.*"
    since = _since(query, now)
    picked = []
    for row in rows:
        task_id, name = int(row["jeditaskid"]), str(row.get("taskname") or "").rstrip("/")
        if task_id not in submitted and not fnmatch.fnmatchcase(name, pattern):
            continue
        if query.taskname and not fnmatch.fnmatchcase(name, query.taskname.rstrip("/")):
            continue
        if query.id_range and not query.id_range[0] <= task_id <= query.id_range[1]:
            continue
        if query.jeditaskid is not None and task_id != query.jeditaskid:
            continue
        modified = utc_seconds(row.get("modificationtime"))
        if since is not None and modified is not None and modified < since:
            continue
        picked.append(row)
    return newest(picked, query.limit)


def _since(query: GridQuery, now: float | None) -> float | None:
    """The oldest modification time --days lets in (none for --jeditaskid: a task asked for by ID has no age)."""
    import time

    if query.days is None or query.jeditaskid is not None:
        return None
    return (time.time() if now is None else now) - query.days * 86400


def found_tasks(gateway, project, query: GridQuery, submitted: dict[int, dict], warnings: list[str]) -> list[dict]:
    """The project's tasks on the server: the listing of the user's recent tasks finds those named
    user.*.hpogrid.PROJECT.* and those submitted from here, within the server's 90 days; a task submitted
    from here that the listing may have missed (older, a listing not whole, not registered yet) is
    fetched by its ID, of any age."""
    import datetime as dt

    from hpogrid.grid.monitor import LISTING_DAYS, by_id, listing
    from hpogrid.grid.records import submitted_at

    if query.jeditaskid is not None:
        return project_tasks(by_id(gateway, [query.jeditaskid]), project, query, submitted)
    pattern = f"user.*.hpogrid.{project.name}.*"
    days = query.days if query.days is not None else LISTING_DAYS
    found = listing(
        gateway,
        {},
        days,
        query.limit,
        keep=lambda r: (
            int(r["jeditaskid"]) in submitted or fnmatch.fnmatchcase(str(r.get("taskname") or "").rstrip("/"), pattern)
        ),
    )
    if found.capped:
        warnings.append(
            "tasks submitted elsewhere were searched in the last 90 days only (the PanDA server lists no older "
            "ones); those submitted from here are found at any age"
        )
    warnings += found.notes(remedy="--days, --range or --taskname", cap=False)
    # a listing whole for --days holds every task of the period JEDI knows: of the others, only those
    # submitted within the period may belong (not registered yet)
    whole = found.complete
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    listed = {int(r["jeditaskid"]) for r in found.rows}
    missing = [
        task_id
        for task_id, entry in sorted(submitted.items())
        if task_id not in listed
        and (not query.id_range or query.id_range[0] <= task_id <= query.id_range[1])
        and (not query.taskname or fnmatch.fnmatchcase(str(entry.get("outDS")), query.taskname.rstrip("/")))
        and (not whole or (submitted_at(entry) or since) >= since)
    ]
    fetched = by_id(gateway, missing)
    unknown = sorted(set(missing) - {int(r["jeditaskid"]) for r in fetched})
    if unknown:
        warnings.append(
            f"task{'s' * (len(unknown) > 1)} {', '.join(map(str, unknown))} submitted from here: not known to the "
            "server yet (JEDI registers a task within minutes), left out"
        )
    return project_tasks(found.rows + fetched, project, query, submitted)


def grid(project, trials: Trials, query: GridQuery, gateway=None) -> None:
    """Add the trials of the project's grid and iDDS tasks (through the gateway; cached when final)."""
    from hpogrid.grid.records import GRID_DIR, submissions

    cache = TaskCache(project.path / GRID_DIR / CACHE_DIR)
    if gateway is None:
        from hpogrid.grid.gateway import Gateway

        try:
            gateway = Gateway()
        except HpogridError as exc:
            submitted = {int(s["task_id"]): s for s in submissions(project)}
            if submitted or cache.task_ids():  # the project has been on the grid: say why it is missing
                trials.warnings.append(f"grid tasks left out (only cached ones are shown): {exc}")
                _add_cached(trials, cache, project, query, submitted)
            return  # never on the grid from here and no grid set-up (no panda-client or credentials): local only
    submitted = {int(s["task_id"]): s for s in submissions(project, gateway.server)}
    try:
        listed = found_tasks(gateway, project, query, submitted, trials.warnings)
    except HpogridError as exc:
        trials.warnings.append(f"grid tasks left out (only cached ones are shown): {exc}")
        _add_cached(trials, cache, project, query, submitted)
        return
    for row in listed:
        task_id = int(row["jeditaskid"])
        entry = cache.get(task_id, trials)
        if entry and entry["row"].get("status") == row.get("status") and _same_time(entry["row"], row):
            trials.add(TrialRecord.from_json(r) for r in entry["records"])
            continue
        try:
            kind = (submitted.get(task_id) or {}).get("kind") or _kind(gateway, task_id)
            records = task_records(gateway, row, kind, trials.metric, trials.mode)
        except HpogridError as exc:
            trials.warnings.append(f"task {task_id} left out: {exc}")
            continue
        if row.get("status") in FINAL_STATES:
            cache.put(task_id, row, records, trials)
        trials.add(records)


def _add_cached(trials: Trials, cache: TaskCache, project, query: GridQuery, submitted: dict) -> None:
    """The cached tasks that the same filters as the server's listing let in."""
    entries = {task_id: cache.get(task_id, trials) for task_id in cache.task_ids()}
    rows = [entry["row"] for entry in entries.values() if entry]
    for row in project_tasks(rows, project, query, submitted):
        trials.add(TrialRecord.from_json(r) for r in entries[int(row["jeditaskid"])]["records"])


def _same_time(old: dict, new: dict) -> bool:
    return str(old.get("modificationtime")) == str(new.get("modificationtime"))


def _kind(gateway, task_id: int) -> str:
    return "idds" if "hpoWorkflow" in (gateway.task_params(task_id) or {}) else "prun"


def task_records(gateway, row: dict, kind: str, metric: str, mode: str) -> list[TrialRecord]:
    """The trials of one task: its finished jobs' metadata; for iDDS tasks also the points the relay
    knows a loss of but no job metadata has (the loss is the negated metric for mode max)."""
    task_id = int(row["jeditaskid"])
    records = []
    for panda_id, metadata in sorted(gateway.job_metadata(task_id).items()):
        if not isinstance(metadata, dict):
            continue
        for record in summary_records(metadata, row):
            # the task and job are the server's: what a job wrote of itself may be wrong (emulated: task 0)
            kind_of = "idds" if kind == "idds" else "grid"
            record.source = {**record.source, "kind": kind_of, "task": task_id, "job": panda_id}
            records.append(record)
    if kind == "idds":
        records += relay_records(gateway.hyperparameters(task_id), records, row, metric, mode)
    return records


def relay_records(points: list[dict], known: list[TrialRecord], row: dict, metric: str, mode: str) -> list[TrialRecord]:
    """The relay's evaluated points no job metadata has, as trials of the project's metric: iDDS minimizes
    a loss, which is the metric for mode min and the negated metric for mode max."""
    task_id = int(row["jeditaskid"])
    seen = [_canonical(flatten(r.config)) for r in known]
    out = []
    for point in points:
        loss, parameters = point.get("loss"), point.get("parameters") or {}
        if not isinstance(loss, (int, float)) or _canonical(flatten(parameters)) in seen:
            continue
        out.append(
            TrialRecord(
                trial_id=f"point_{point.get('id')}",
                config=parameters,
                metric=metric,
                value=float(loss) if mode == "min" else -float(loss),
                status="terminated",
                source={"kind": "idds", "task": task_id, "site": row.get("site"), "point": point.get("id")},
            )
        )
    return out


def _canonical(flat: dict) -> str:
    return json.dumps(flat, sort_keys=True, default=str)


class TaskCache:
    """Trials of finished grid tasks, one JSON file per task, written atomically. An entry holds the
    metric and mode it was read for (the relay's points depend on both); for others it is stale."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def task_ids(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("*.json") if p.stem.isdigit())

    def get(self, task_id: int, trials: Trials) -> dict | None:
        path = self.folder / f"{task_id}.json"
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or "records" not in entry or "row" not in entry:
            return None
        return entry if (entry.get("metric"), entry.get("mode")) == (trials.metric, trials.mode) else None

    def put(self, task_id: int, row: dict, records: list[TrialRecord], trials: Trials) -> None:
        from hpogrid.fileio import write_json_atomic

        # the server's rows may hold datetimes and other non-JSON values (shown as text)
        keep = json.loads(json.dumps({k: v for k, v in row.items() if k != "metastruct"}, default=str))
        entry = {"metric": trials.metric, "mode": trials.mode, "row": keep, "records": [r.to_json() for r in records]}
        write_json_atomic(self.folder / f"{task_id}.json", entry)
