"""The results hpogrid 1.x (1.3.3) wrote, read as trial records of source kind ``legacy``.

What 1.3.3 wrote (hpogrid/components/hpo_task.py, hpo_report.py of 1.3.3):

``userJobMetadata.json``  in the working folder of a run (on the grid PanDA keeps it as the job's user
    metadata): project_name, start/end_datetime, start_timestamp, task_time_s (the job's run time),
    hyperparameters (names), metric, mode, best_config, best_metric_score and ``result``:
    ``{index: {<hyperparameter>: value, <metric>: value, <extra metric>: value, time_s, timestamp}}``,
    one row per trial sorted by timestamp (Ray's, of the trial's last result), no trial id, NaN where a
    trial has no value. A job writes ``{}`` when it starts, replaced by the results when it ends.
``cache/timestamp_<ts>_trial_<id>.json``  one Ray Tune result dict (config, trial_id, training_iteration,
    the metrics, time_total_s, timestamp, hostname, ...) per reported result: several per trial when it
    reported several iterations (the same name again when two came in the same second).
``report_grid --summary``  (hpo_result_summary.json) project_name, hyperparameters, metric, mode and
    ``jobs``: [{start_datetime, start_timestamp, end_datetime, task_time_s, best_config, result, [taskid,
    site]}]. (1.3.3's ``tasks show --outname`` wrote nothing: it failed on an undefined name.)

A run folder's cache and metadata describe the same trials: the cache gives each its Ray trial id,
host, iterations and history, the metadata the metric, mode and names, and a metadata row no cached
trial has the same hyperparameters as is a trial of its own. A bad row or cache file is left out and
counted in a ``Skipped`` (one warning per file). Start and end: the end is the trial's last result
(Ray's timestamp, whole seconds), the start that less the trial's time_s.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hpogrid.errors import HpogridError
from hpogrid.results import Skipped, TrialRecord, finite, iso, load_summary, shown, where

KIND = "legacy"
METADATA_FILE = "userJobMetadata.json"
CACHE_DIR = "cache"
ROW_TIMES = ("time_s", "timestamp")  # the columns of a result row besides names and metrics
# the keys Ray Tune (1.x and 2.x) adds to every result: not metrics of the user's
RAY_KEYS = frozenset(
    {
        "done", "training_iteration", "trial_id", "date", "timestamp", "time_this_iter_s", "time_total_s",
        "pid", "hostname", "node_ip", "config", "time_since_restore", "timesteps_since_restore",
        "iterations_since_restore", "timesteps_total", "episodes_total", "episodes_this_iter",
        "timesteps_this_iter", "experiment_id", "experiment_tag", "warmup_time", "should_checkpoint",
        "checkpoint_dir_name", "trial_resources", "perf", "num_healthy_workers", "num_in_flight_async_reqs",
        "num_remote_worker_restarts",
    }
)  # fmt: skip


def is_metadata(data: Any) -> bool:
    """A 1.x job's metadata: its results (``result``) and what they are of; no ``format`` of today's."""
    return (
        isinstance(data, dict)
        and "format" not in data
        and "result" in data
        and any(k in data for k in ("metric", "hyperparameters", "project_name", "best_config"))
    )


def is_report_summary(data: Any) -> bool:
    """1.x's ``report_grid --summary``: the project's names, metric, mode and its jobs' results."""
    return isinstance(data, dict) and "format" not in data and isinstance(data.get("jobs"), list) and "metric" in data


def summary_jobs(data: dict) -> list[Any]:
    """The jobs of a 1.x report summary as job metadata (each with the summary's names, metric, mode)."""
    shared = {k: data.get(k) for k in ("project_name", "hyperparameters", "metric", "mode") if k in data}
    return [{**shared, **job} if isinstance(job, dict) else job for job in data["jobs"]]


def is_empty_metadata(data: Any) -> bool:
    return data == {}


def is_cache_folder(path: Path) -> bool:
    """A folder of Ray result dicts: cache/ of a 1.x run (timestamp_<ts>_trial_<id>.json)."""
    return Path(path).is_dir() and any(Path(path).glob("timestamp_*_trial_*.json"))


def is_run_folder(path: Path) -> bool:
    """A 1.x run's working folder: a 1.x userJobMetadata.json, or a cache/ folder of results."""
    path = Path(path)
    if is_cache_folder(path / CACHE_DIR):
        return True
    metadata = path / METADATA_FILE
    if not metadata.is_file():
        return False
    try:
        data = load_summary(metadata)
    except ValueError:
        return False
    return is_metadata(data) or is_empty_metadata(data)


# -- a job's metadata --------------------------------------------------------------------------------------
def header_of(metadata: dict, skipped: Skipped, at: str = "") -> dict:
    """What the metadata says of the run, as today's summaries name it (project, metric, mode,
    hyperparameters, duration_s); fields of the wrong kind are left out, each noted in skipped."""
    header: dict = {}
    checks = {
        "project_name": ("project", lambda v: isinstance(v, str)),
        "metric": ("metric", lambda v: isinstance(v, str) and v),
        "mode": ("mode", lambda v: v in ("min", "max")),
        "hyperparameters": ("hyperparameters", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v)),
        "task_time_s": ("duration_s", lambda v: finite(v) is not None),
    }
    for name, (ours, good) in checks.items():
        if metadata.get(name) is None:
            continue
        if good(metadata[name]):
            header[ours] = metadata[name]
        else:
            skipped.ignore(at, f"{name} {shown(metadata[name])} is not usable")
    return header


def metadata_records(
    metadata: dict, skipped: Skipped, at: str = "", metric: str | None = None
) -> tuple[dict, list[TrialRecord]]:
    """The header (header_of) and trials of a 1.x job's metadata. Rows that are not objects or hold a
    metric that is not a number are counted in skipped (at: where the metadata is in its file). The
    metric: the metadata's, else the one given, else the one numeric column besides the names."""
    header = header_of(metadata, skipped, at)
    result = metadata.get("result")
    if not isinstance(result, dict):
        skipped.add(f"{at} result", f"{shown(result)} is not an object of trials")
        return header, []
    rows = {str(k): v for k, v in result.items()}
    names = header.get("hyperparameters")
    metric = header.get("metric") or metric
    if metric is None:
        shared, known = [r for r in rows.values() if isinstance(r, dict)], set(names or ()) | set(ROW_TIMES)
        metric = infer_metric(shared, known)
        if metric is None:
            skipped.unreadable = (
                f"it names no metric, and any of {', '.join(metric_candidates(shared, known)) or 'no column'} could "
                "be it; add it to a project of its metric: hpogrid report PROJECT --add FILE"
            )
            return header, []
        header["metric"] = metric
    if names is None:  # the best config's names, else every column but the metric and times
        best = metadata.get("best_config")
        shared = [best] if isinstance(best, dict) and best else [r for r in rows.values() if isinstance(r, dict)]
        names = [k for k in dict.fromkeys(k for r in shared for k in r) if k != metric and k not in ROW_TIMES]
        header["hyperparameters"] = names
    records = []
    for index, row in rows.items():
        if not isinstance(row, dict):
            skipped.add(f"{at} result[{index}]", f"{shown(row)} is not a JSON object")
            continue
        config = {name: row[name] for name in names if name in row}
        extra = {k: v for k, v in row.items() if k not in config and k != metric and k not in ROW_TIMES}
        record = _record(index, config, metric, row.get(metric), extra, row.get("time_s"), row.get("timestamp"))
        if isinstance(record, str):
            skipped.add(f"{at} result[{index}]", record)
        else:
            records.append(record)
    return header, records


def _record(
    trial_id: str,
    config: dict,
    metric: str,
    value: Any,
    extra: dict,
    duration: Any,
    timestamp: Any,
    **more: Any,
) -> TrialRecord | str:
    """A TrialRecord, or why the values make none: a trial with no finite value of its metric is an error."""
    duration, end = finite(duration), finite(timestamp)
    has_value = finite(value) is not None
    fields = {
        "trial_id": trial_id,
        "config": config,
        "metric": metric,
        "value": None if not has_value and (value is None or _is_number(value)) else value,  # text: a bad record
        "status": "terminated" if has_value else "error",
        "extra": {k: v for k, v in extra.items() if v is None or _is_number(v)},
        "duration_s": duration,
        "end": iso(end) if end is not None else None,
        "start": iso(end - duration) if end is not None and duration is not None else None,
        "source": {"kind": KIND},
        **more,
    }
    return TrialRecord.parse(fields)


def infer_metric(rows: list[dict], names: set[str], hint: str | None = None) -> str | None:
    """The metric of result rows that do not name it: the hint when the rows hold it, else the one
    numeric column that is neither a hyperparameter nor Ray's; None when there is not exactly one."""
    candidates = metric_candidates(rows, names)
    if hint is not None and hint in candidates:
        return hint
    return candidates[0] if len(candidates) == 1 else None


def metric_candidates(rows: list[dict], names: set[str]) -> list[str]:
    keys = dict.fromkeys(k for r in rows for k in r if k not in names and k not in RAY_KEYS)
    return [k for k in keys if any(_is_number(r.get(k)) for r in rows)]


# -- a cache folder ----------------------------------------------------------------------------------------
def read_cache(folder: Path, skipped: Skipped) -> dict[str, list[dict]]:
    """{trial id: its results, in iteration order} of a cache folder; bad files counted in skipped."""
    trials: dict[str, list[dict]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = load_summary(path)
        except ValueError as exc:
            skipped.add(f"/{path.name}", str(exc))
            continue
        if not isinstance(data, dict):
            skipped.add(f"/{path.name}", f"{shown(data)} is not a JSON object")
        elif not isinstance(data.get("config"), dict):
            skipped.add(f"/{path.name}", f"config {shown(data.get('config'))} is not an object")
        elif not isinstance(data.get("trial_id"), (str, int)) or isinstance(data.get("trial_id"), bool):
            skipped.add(f"/{path.name}", f"trial_id {shown(data.get('trial_id'))} is not a trial name")
        else:
            trials.setdefault(str(data["trial_id"]), []).append(data)
    for results in trials.values():
        results.sort(key=lambda r: (finite(r.get("training_iteration")) or 0, finite(r.get("timestamp")) or 0))
    return trials


def cache_records(
    trials: dict[str, list[dict]], metric: str, names: list[str] | None, extras: list[str] | None, skipped: Skipped
) -> list[TrialRecord]:
    """A record per cached trial, of its last result; the history of the metric and extra metrics."""
    records = []
    for trial_id, results in trials.items():
        last = results[-1]
        config = {k: v for k, v in last["config"].items() if names is None or k in names}
        if extras is None:
            wanted = [k for k in last if k not in RAY_KEYS and k != metric and _is_number(last.get(k))]
        else:
            wanted = [k for k in extras if k != metric]
        history: dict[str, list] = {"iteration": [_count(r.get("training_iteration")) for r in results]}
        for name in [metric, *wanted]:
            history[name] = [finite(r.get(name)) for r in results]
        record = _record(
            trial_id,
            config,
            metric,
            last.get(metric),
            {k: last.get(k) for k in wanted},
            last.get("time_total_s"),
            last.get("timestamp"),
            iterations=_count(last.get("training_iteration")),
            host=last.get("hostname") if isinstance(last.get("hostname"), str) else None,
            history=history,
            last_result={k: v for k, v in last.items() if k != "config"},
        )
        if isinstance(record, str):
            skipped.add(f"/{_name_of(last)}", record)
        else:
            records.append(record)
    return records


def _name_of(result: dict) -> str:
    return f"timestamp_{result.get('timestamp')}_trial_{result.get('trial_id')}.json"


# -- a run folder, a cache folder, a metadata file ---------------------------------------------------------
def read_folder(path: Path, metric: str | None = None) -> tuple[dict, list[TrialRecord], list[Skipped]]:
    """The header and trials of a 1.x run folder (userJobMetadata.json and/or cache/) or of a cache folder
    alone; metric: the one to take when nothing in the folder names it (a project's, for --add).
    HpogridError when the metric cannot be told."""
    path = Path(path)
    cache = path if is_cache_folder(path) and not (path / CACHE_DIR).is_dir() else path / CACHE_DIR
    header, rows, skips = {}, [], []
    metadata_path = path / METADATA_FILE
    if metadata_path.is_file():
        meta_skipped = Skipped(where(metadata_path))
        skips.append(meta_skipped)
        try:
            data = load_summary(metadata_path)
        except ValueError as exc:
            meta_skipped.unreadable = str(exc)
            data = {}
        if is_metadata(data):
            header, rows = metadata_records(data, meta_skipped, metric=metric)
        elif not is_empty_metadata(data):
            meta_skipped.unreadable = f"{shown(data)} is not hpogrid 1.x job metadata"
    cached: dict[str, list[dict]] = {}
    if cache.is_dir():
        cache_skipped = Skipped(where(cache))
        skips.append(cache_skipped)
        cached = read_cache(cache, cache_skipped)
    if not cached:
        return header, rows, skips
    names = header.get("hyperparameters")
    chosen = header.get("metric")
    if chosen is None:
        lasts = [results[-1] for results in cached.values()]
        config_names = {k for r in lasts for k in r["config"]}
        chosen = infer_metric(lasts, config_names, metric)
        if chosen is None:
            found = metric_candidates(lasts, config_names)
            raise HpogridError(
                f"{where(path)}: cannot tell which of {', '.join(found) or 'no column'} is the metric (hpogrid 1.x "
                f"wrote it in {METADATA_FILE}, not here): give the run folder that holds {METADATA_FILE}, or add "
                "the folder to a project of that metric: hpogrid report PROJECT --add FOLDER"
            )
        header["metric"] = chosen
    extras = None
    if rows:
        extras = sorted({k for r in rows for k in r.extra})
    records = cache_records(cached, chosen, names, extras, skips[-1])
    if header.get("hyperparameters") is None:
        header["hyperparameters"] = list(dict.fromkeys(k for r in records for k in r.config))
    seen = {_key(r.config, header["hyperparameters"]) for r in records}
    records += [r for r in rows if _key(r.config, header["hyperparameters"]) not in seen]  # not in the cache
    return header, records, skips


def _key(config: dict, names: list[str]) -> str:
    """The hyperparameters of a trial as one text: the same trial in the cache and in the metadata gives
    the same text (the metadata's numbers went through pandas and 1.x's encoder: 32 may be 32.0, and
    the last of 17 digits may differ)."""
    return trial_key({n: v for n, v in config.items() if n in names})


def trial_key(config: dict, *more: Any) -> str:
    """A config (and more values) as one text, numbers to 12 significant digits (see _key)."""
    return json.dumps([_rounded(config), *map(_rounded, more)], sort_keys=True, default=str)


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if _is_number(value):
        return float(f"{value:.12g}") if math.isfinite(value) else None
    return value


# -- values ------------------------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> int:
    number = finite(value)
    return int(number) if number is not None and number >= 0 and float(number).is_integer() else 0
