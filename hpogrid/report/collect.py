"""Gathering every trial of a project, wherever it ran: local runs, grid tasks, iDDS tasks, files.

Each trial is a TrialRecord (hpogrid/results.py) whose ``source`` says where it ran:
``{"kind": "local", "run"}``, ``{"kind": "grid", "task", "job", "site", "task_time_s"}`` or
``{"kind": "idds", "task", "job", "site"}``; the tasks of ``run --emulate`` (in the runs folder)
``{"kind": "emulated", "run", "job"}``; what hpogrid 1.x wrote (hpogrid/report/legacy.py)
``{"kind": "legacy", "file"}`` or, for a 1.x job's metadata on the grid, ``{"kind": "legacy", "task",
"job", "site"}``. A trial is identified by (kind, run or task, job, trial_id), so reading the same result
twice (a summary and its journal, a cached and a fresh task) counts it once; one of a 1.x file by its
config and value.

Grid tasks of a project are those it submitted (projects/P/grid/submissions.jsonl: fetched by ID, of
any age) and those named ``user.*.hpogrid.P.*`` (found in the server's listing, 90 days at most). The
trials of a task in a final state are cached in projects/P/grid/report/, so a repeated report does
not ask the server for them again (unless the task changed since).

A bad record (in a journal, a summary, a job's metadata, the cache) never stops a report: it is left
out, and each file (each task's job metadata) says once in a warning how many were and where the first is.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpogrid.errors import HpogridError
from hpogrid.report import legacy
from hpogrid.results import (
    FORMAT,
    SUMMARY_FILE,
    TRIALS_FILE,
    Journal,
    Skipped,
    TrialRecord,
    load_summary,
    shown,
    summary_fields,
    summary_trials,
    where,
)

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
    methods: dict[str, str] = field(default_factory=dict)  # search-space method per hyperparameter, when known
    _seen: set = field(default_factory=set, repr=False)

    def note(self, *skipped: Skipped) -> None:
        """Say once per file what it left out."""
        unique = {id(s): s for s in skipped}.values()
        self.warnings += [w for w in (s.warning() for s in unique) if w]

    def add(self, records: Iterable[TrialRecord], fit: bool = False) -> int:
        """Add the records not seen before; returns how many were new. Records of hpogrid 1.x (and all,
        with fit: those of --add) are fitted first: see fitted."""
        added, unfit = 0, []
        for record in records:
            if fit or (record.source or {}).get("kind") == legacy.KIND:
                fitted = self.fitted(record)
                if fitted is None:
                    unfit.append(record)
                    continue
                record = fitted
            key = identity(record)
            if key not in self._seen:
                self._seen.add(key)
                self.records.append(record)
                added += 1
        if unfit:
            from hpogrid.report.table import group_label

            plural = "s" if len(unfit) > 1 else ""
            self.warnings.append(
                f"{group_label(unfit[0])}: {len(unfit)} trial{plural} of metric "
                f"'{unfit[0].metric}' without a value of '{self.metric}' left out"
            )
        return added

    def fitted(self, record: TrialRecord) -> TrialRecord | None:
        """A record from elsewhere (a 1.x result, --add) as a trial of these: its hyperparameters and
        extra metrics become columns; of another metric, it takes this metric's value from its extra
        metrics or last result (None when it has none)."""
        from dataclasses import replace

        for name in flatten(record.config or {}):
            if name not in self.hyperparameters:
                self.hyperparameters.append(name)
        if record.metric != self.metric:
            reported = {**(record.last_result or {}), **(record.extra or {})}
            if self.metric not in reported:
                return None
            value = _finite(reported[self.metric])
            extra = {k: v for k, v in {**(record.extra or {}), record.metric: record.value}.items() if k != self.metric}
            status = record.status if value is not None or record.status == "error" else "error"
            record = replace(record, metric=self.metric, value=value, extra=extra, status=status)
        for name in record.extra or {}:
            if name not in self.extra_metrics and name != self.metric:
                self.extra_metrics.append(name)
        return record


def identity(record: TrialRecord) -> tuple:
    source = record.source or {}
    if source.get("kind") == legacy.KIND and source.get("task") is None:
        # a 1.x file names no run, and its metadata no trial: the same trial read from a run folder, its
        # cache/ and its userJobMetadata.json (or twice in metadata 1.x resumed) is the same config and value
        return legacy.KIND, None, None, legacy.trial_key(flatten(record.config or {}), record.value)
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
def run_records(run_dir: Path, summary: tuple[dict, Skipped] | None = None) -> tuple[list[TrialRecord], Skipped]:
    """A run folder's trials: its journal, or the rows of its summary (summary_file's, read when not
    given) when only that is left; and what was left out of the file read."""
    journal = Journal(run_dir)
    if journal.path.is_file():
        return journal.read()
    header, skipped = summary or summary_file(Path(run_dir) / SUMMARY_FILE)
    return summary_records(header, skipped), skipped


def summary_file(path: Path) -> tuple[dict, Skipped]:
    """A summary file's fields (none when it is missing or cannot be read as one) and what was left out."""
    skipped = Skipped(where(path))
    if not path.is_file():
        return {}, skipped
    try:
        return summary_fields(load_summary(path), skipped), skipped
    except ValueError as exc:
        skipped.unreadable = str(exc)
        return {}, skipped


def local(project, trials: Trials) -> None:
    """The project's local runs, and the tasks `hpogrid run --emulate` ran here (source kind "emulated")."""
    from hpogrid.local.runner import runs_dir

    folder = runs_dir(project)
    for run_dir in sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []:
        if run_dir.name.startswith(EMULATED_PREFIX):
            emulated(run_dir, trials)
            continue
        records, skipped = run_records(run_dir)
        for record in records:
            record.source = {"kind": "local", "run": run_dir.name, **(record.source or {})}
        trials.note(skipped)
        trials.add(records)


EMULATED_PREFIX = "emulate-"  # runs/emulate-<time>/: a task of `hpogrid run --emulate`, one job_<seq>/ per job


def emulated(task_dir: Path, trials: Trials) -> None:
    """The trials of an emulated task: each job's trials output (its metadata's when there is none), as
    ``{"kind": "emulated", "run": <task folder>, "job": <seq>}``."""
    from hpogrid.grid.job import METADATA_FILE, TRIALS_OUTPUT

    jobs = [p for p in task_dir.glob("job_*") if p.is_dir() and p.name[4:].isdigit()]
    for job_dir in sorted(jobs, key=lambda p: int(p.name[4:])):
        metadata_path = job_dir / METADATA_FILE
        metadata, skipped = summary_file(metadata_path) if metadata_path.is_file() else ({}, Skipped(""))
        outputs = sorted(job_dir.glob(f"*{TRIALS_OUTPUT}"))
        if outputs:
            records, skipped = Journal.from_file(outputs[0]).read()
        else:
            records = summary_records(metadata, skipped) if metadata else []
        extra = {"task_time_s": metadata["duration_s"]} if metadata.get("duration_s") is not None else {}
        for record in records:
            record.source = {**(record.source or {}), **extra, "kind": "emulated", "run": task_dir.name}
            record.source["job"], record.source["task"] = int(job_dir.name[4:]), None
        trials.note(skipped)
        trials.add(records)


# -- summaries and job metadata ----------------------------------------------------------------------------
def summary_records(summary: dict, skipped: Skipped, task: dict | None = None, at: str = "") -> list[TrialRecord]:
    """The trials of a run summary or of a grid job's metadata (a summary plus "job"), checked by
    summary_fields: bad rows are counted in skipped (at: where the summary is in its file)."""
    job = summary.get("job") or {}
    extra_source = {k: job.get(k) for k in ("task", "job", "site") if job.get(k) is not None}
    if task:
        extra_source.setdefault("site", task.get("site"))
    if summary.get("duration_s") is not None:
        extra_source["task_time_s"] = summary["duration_s"]
    records = summary_trials(summary, skipped, at)
    for record in records:
        source = dict(record.source or {})
        for key, value in extra_source.items():
            if source.get(key) is None:
                source[key] = value
        if job.get("kind") and "kind" not in source:
            source["kind"] = job["kind"]
        record.source = source
    return records


def read_file(path: Path, mode: str | None = None, metric: str | None = None) -> Trials:
    """`hpogrid report FILE`: a run folder, summary.json, userJobMetadata.json, trials.jsonl, or the JSON
    of `hpogrid tasks show --metadata --output F.json` ({PandaID: metadata} per task); and what hpogrid
    1.x wrote: a run folder (userJobMetadata.json, cache/), its cache folder, its userJobMetadata.json,
    the output of its `report_grid --summary`. metric: the one to take when a 1.x cache folder does not
    say (a project's, for --add)."""
    path = Path(path)
    if not path.exists():
        raise HpogridError(f"{path}: no such file or directory (give a project name, or a results file)")
    if path.is_dir() and not (path / TRIALS_FILE).is_file() and not (path / SUMMARY_FILE).is_file():
        if legacy.is_run_folder(path) or legacy.is_cache_folder(path):
            return _legacy_folder(path, mode, metric)
        raise HpogridError(
            f"{path}: not a run folder (it has no {TRIALS_FILE} or {SUMMARY_FILE}, nor hpogrid 1.x's "
            f"{legacy.METADATA_FILE} or cache/)"
        )
    if path.is_dir():
        summary, skipped = summary_file(path / SUMMARY_FILE)
        records, left = run_records(path, (summary, skipped))
        for record in records:
            record.source = {"kind": "local", "run": path.name, **(record.source or {})}
        return _trials_of(records, [summary] if summary else [], mode, path, skipped, left)
    if path.suffix == ".jsonl":
        records, skipped = Journal.from_file(path).read()
        if not records:
            why = f"; {skipped.warning()}" if skipped.count else " (one JSON object per line, see `hpogrid report -h`)"
            raise HpogridError(f"{path}: holds no trial records{why}")
        summary, beside = summary_file(path.parent / SUMMARY_FILE)
        return _trials_of(records, [summary] if summary else [], mode, path, skipped, beside)
    data = _read_json(path)
    if legacy.is_empty_metadata(data):
        raise HpogridError(
            f"{path}: holds no trials: {{}} is what an hpogrid 1.x job writes when it starts (it ended before "
            "writing its results)"
        )
    found = list(_metadata_in(data))
    if not any(_is_summary(value) or legacy.is_metadata(value) for _, value in found):
        raise HpogridError(
            f"{path}: not a results file: expected a run summary ({FORMAT}), a job's userJobMetadata.json "
            "(of today or of hpogrid 1.x), a trials.jsonl, or `hpogrid tasks show --metadata --output FILE.json`"
        )
    skipped = Skipped(where(path))
    headers, records = [], []
    for at, value in found:
        header, trials = job_records(value, skipped, at, metric=metric)
        if legacy.is_metadata(value):
            job = re.search(r"\[(\d+)\]$", at)  # the PanDA job ID where the file has it, else the position
            for record in trials:
                record.source.update(file=where(path), job=int(job.group(1)) if job else None)
                for ours, theirs in (("task", "taskid"), ("site", "site")):  # 1.x report_grid --summary
                    if value.get(theirs) is not None and not isinstance(value[theirs], (dict, list)):
                        record.source[ours] = value[theirs]
        headers += [header] if _is_summary(value) or legacy.is_metadata(value) else []
        records += trials
    return _trials_of(records, headers, mode, path, skipped)


def _legacy_folder(path: Path, mode: str | None, metric: str | None) -> Trials:
    """A run folder or cache folder of hpogrid 1.x: its trials as ``{"kind": "legacy", "file": folder}``."""
    header, records, skips = legacy.read_folder(path, metric)
    if not records:
        why = "; ".join(w for w in (s.warning() for s in skips) if w)
        raise HpogridError(f"{path}: holds no trials of hpogrid 1.x{f' ({why})' if why else ''}")
    for record in records:
        extra = {"task_time_s": header["duration_s"]} if header.get("duration_s") is not None else {}
        record.source = {**record.source, **extra, "file": where(path)}
    return _trials_of(records, [header], mode, path, *skips)


def add_file(trials: Trials, path: Path) -> None:
    """`--add PATH`: the trials of a results file (hpogrid 1.x's too) beside the others, as trials of
    their metric (see Trials.fitted); its warnings with theirs."""
    other = read_file(Path(path), trials.mode, trials.metric)
    trials.warnings += other.warnings
    added = trials.add(other.records, fit=True)
    if other.metric != trials.metric and added:
        trials.warnings.append(
            f"{where(Path(path))}: optimized '{other.metric}'; shown as trials of '{trials.metric}' (its value "
            f"where they reported one), '{other.metric}' as an extra metric"
        )


def job_records(
    metadata: Any, skipped: Skipped, at: str, task: dict | None = None, metric: str | None = None
) -> tuple[dict, list[TrialRecord]]:
    """The fields and trials of a job's metadata (or a run summary; or hpogrid 1.x's job metadata, whose
    trials are of source kind legacy). Metadata that is not a JSON object counts as a bad record; an
    object without trials has none (a job that failed before its run, a 1.x job's {}). metric: the one
    to take when 1.x metadata does not name it."""
    if not isinstance(metadata, dict):
        skipped.add(at, f"the job's metadata {shown(metadata)} is not a JSON object")
        return {}, []
    if legacy.is_metadata(metadata):
        header, records = legacy.metadata_records(metadata, skipped, at, metric)
        extra = {"task_time_s": header.get("duration_s"), "site": (task or {}).get("site")}
        for record in records:
            record.source.update({k: v for k, v in extra.items() if v is not None})
        return header, records
    header = summary_fields(metadata, skipped, at)
    return header, summary_records(header, skipped, task, at)


def _is_summary(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == FORMAT


def _metadata_in(data: Any, at: str = "") -> Iterable[tuple[str, Any]]:
    """(where, value) of the run summaries in a results file, and of the jobs' metadata that are not one
    (hpogrid 1.x's: a job's metadata, a list of them, a `report_grid --summary`)."""
    if _is_summary(data) or legacy.is_metadata(data):
        yield at, data
    elif legacy.is_report_summary(data):
        for index, job in enumerate(legacy.summary_jobs(data)):
            yield f"{at} jobs[{index}]", job
    elif isinstance(data, dict):  # {PandaID: metadata}
        for key, value in data.items():
            if str(key).isdigit():
                if isinstance(value, dict) and set(value) == {"user_job_metadata"}:  # as bigpanda gave it to 1.x
                    value = value["user_job_metadata"]
                yield f"{at}[{key}]", value
            else:
                yield from _metadata_in(value, f"{at}[{key}]")
    elif isinstance(data, list):  # rows of `tasks show --output`, each with a metastruct; 1.x job metadata
        for index, row in enumerate(data):
            if isinstance(row, dict) and isinstance(row.get("metastruct"), dict):
                yield from _metadata_in(row["metastruct"], f"{at}[{index}].metastruct")
            elif legacy.is_metadata(row):
                yield f"{at}[{index}]", row


def _trials_of(
    records: list[TrialRecord], summaries: list[dict], mode: str | None, path: Path, *skipped: Skipped
) -> Trials:
    first = summaries[0] if summaries else {}
    metric = first.get("metric") or (records[0].metric if records else "loss")
    named = [n for s in summaries for n in s.get("hyperparameters") or []]
    names = list(dict.fromkeys(named)) or _names_in(records)
    extras = sorted({k for r in records for k in (r.extra or {})})
    trials = Trials(metric=metric, mode=mode or first.get("mode") or "min", hyperparameters=names)
    trials.extra_metrics, trials.project = extras, first.get("project")
    if not mode and not first.get("mode"):
        trials.warnings.append(f"{path}: the file does not say min or max; sorted for min (use --mode max)")
    trials.note(*skipped)
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
            _add_entry(trials, entry)
            continue
        try:
            kind = (submitted.get(task_id) or {}).get("kind") or _kind(gateway, task_id)
            records, skipped = task_records(gateway, row, kind, trials.metric, trials.mode)
        except HpogridError as exc:
            trials.warnings.append(f"task {task_id} left out: {exc}")
            continue
        if row.get("status") in FINAL_STATES:
            cache.put(task_id, row, records, trials, skipped.warning())
        trials.note(skipped)
        trials.add(records)


def _add_entry(trials: Trials, entry: dict) -> None:
    """A cached task's trials, and the warning its job metadata gave when it was read."""
    trials.warnings += [entry["warning"]] if entry.get("warning") else []
    trials.add(entry["records"])


def _add_cached(trials: Trials, cache: TaskCache, project, query: GridQuery, submitted: dict) -> None:
    """The cached tasks that the same filters as the server's listing let in."""
    entries = {task_id: cache.get(task_id, trials) for task_id in cache.task_ids()}
    rows = [entry["row"] for entry in entries.values() if entry]
    for row in project_tasks(rows, project, query, submitted):
        _add_entry(trials, entries[int(row["jeditaskid"])])


def _same_time(old: dict, new: dict) -> bool:
    return str(old.get("modificationtime")) == str(new.get("modificationtime"))


def _kind(gateway, task_id: int) -> str:
    return "idds" if "hpoWorkflow" in (gateway.task_params(task_id) or {}) else "prun"


def task_records(gateway, row: dict, kind: str, metric: str, mode: str) -> tuple[list[TrialRecord], Skipped]:
    """The trials of one task: its finished jobs' metadata; for iDDS tasks also the points the relay
    knows a loss of but no job metadata has (the loss is the negated metric for mode max). And what was
    left out of the jobs' metadata (bad records), for one warning per task."""
    task_id = int(row["jeditaskid"])
    skipped = Skipped(f"task {task_id}")
    records = []
    for panda_id, metadata in sorted(gateway.job_metadata(task_id).items()):
        for record in job_records(metadata, skipped, f" job {panda_id}", row, metric)[1]:
            # the task and job are the server's: what a job wrote of itself may be wrong (emulated: task 0)
            kind_of = "idds" if kind == "idds" else "grid"
            if record.source.get("kind") == legacy.KIND:  # a task of hpogrid 1.x
                kind_of = legacy.KIND
            record.source = {**record.source, "kind": kind_of, "task": task_id, "job": panda_id}
            records.append(record)
    if kind == "idds":
        records += relay_records(gateway.hyperparameters(task_id), records, row, metric, mode, skipped)
    return records, skipped


def relay_records(
    points: list[dict], known: list[TrialRecord], row: dict, metric: str, mode: str, skipped: Skipped | None = None
) -> list[TrialRecord]:
    """The relay's evaluated points no job metadata has, as trials of the project's metric: iDDS minimizes
    a loss, which is the metric for mode min and the negated metric for mode max. Points that are not
    {id, parameters: object, loss} are counted in skipped."""
    task_id = int(row["jeditaskid"])
    seen = [_canonical(flatten(r.config)) for r in known]
    out = []
    for index, point in enumerate(points):
        if not isinstance(point, dict) or not isinstance(point.get("parameters") or {}, dict):
            if skipped is not None:
                skipped.add(f" relay point {index + 1}", f"{shown(point)} is not an object with parameters")
            continue
        loss, parameters = point.get("loss"), point.get("parameters") or {}
        if _finite(loss) is None or _canonical(flatten(parameters)) in seen:
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


def _finite(value: Any) -> float | None:
    """A finite number as a float, else None (no loss: NaN, infinite, not a number)."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


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
        """The entry of a task, its records as TrialRecords; None when there is none, it is stale, or
        anything in it cannot be read (the task is then read from the server again)."""
        path = self.folder / f"{task_id}.json"
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("row"), dict):
            return None
        if str(entry["row"].get("jeditaskid")) != str(task_id) or not isinstance(entry.get("records"), list):
            return None
        if (entry.get("metric"), entry.get("mode")) != (trials.metric, trials.mode):
            return None
        records = [TrialRecord.parse(r) for r in entry["records"]]
        if any(isinstance(r, str) for r in records) or not isinstance(entry.get("warning"), (str, type(None))):
            return None
        return {**entry, "records": records}

    def put(
        self, task_id: int, row: dict, records: list[TrialRecord], trials: Trials, warning: str | None = None
    ) -> None:
        from hpogrid.fileio import write_json_atomic
        from hpogrid.results import jsonable

        # the server's rows may hold datetimes and other non-JSON values (shown as text)
        keep = jsonable({k: v for k, v in row.items() if k != "metastruct"})
        entry = {
            "metric": trials.metric,
            "mode": trials.mode,
            "row": keep,
            "records": [r.to_json() for r in records],
            "warning": warning,
        }
        write_json_atomic(self.folder / f"{task_id}.json", entry)
