"""MLflow export: an experiment per project, a parent run per source (a local run, a grid task, an
iDDS task) and a child run per trial with its hyperparameters, metrics (the per-iteration history
when recorded, else the last values) and tags (status, task id, job id, site, host).

Every run carries the tag ``hpogrid.key``; exporting again skips what is there already, so a second
export neither fails nor duplicates runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hpogrid.report.collect import flatten
from hpogrid.report.table import Table, source_label
from hpogrid.results import TrialRecord

KEY_TAG = "hpogrid.key"
PARAM_CHARS = 6000  # MLflow's limit on a parameter value


def default_uri(folder: Path) -> str:
    return f"sqlite:///{Path(folder).resolve() / 'mlflow.db'}"


def export(table: Table, uri: str, experiment: str) -> dict[str, int]:
    """Export the table's trials; returns {"created": n, "skipped": m} (child runs)."""
    from hpogrid.errors import require

    require("mlflow", "report", "--to_mlflow")
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no INFO lines about creating tables
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    existing = _existing(client, experiment_id)
    parents: dict[str, str] = {}
    created = skipped = 0
    for record in table.records:
        key = _key(record)
        if key in existing:
            skipped += 1
            continue
        label = source_label(record)
        group = label.split(" job ")[0]  # a parent run per local run or per task, not per job
        parent_key = f"source:{group}"
        if parent_key not in existing and parent_key not in parents:
            run = client.create_run(experiment_id, run_name=group, tags={KEY_TAG: parent_key, "hpogrid.source": group})
            client.set_terminated(run.info.run_id, "FINISHED")
            parents[parent_key] = run.info.run_id
        parent_id = parents.get(parent_key) or existing[parent_key]
        tags = {
            KEY_TAG: key,
            "mlflow.parentRunId": parent_id,
            "status": record.status,
            "source": label,
            **{k: str(v) for k, v in _source_tags(record).items() if v is not None},
        }
        start = _millis(record.start)
        run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=record.trial_id)
        params = [Param(k, str(v)[:PARAM_CHARS]) for k, v in flatten(record.config or {}).items()]
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in _metrics(record, start)]
        for i in range(0, max(len(params), len(metrics), 1), 100):  # MLflow's batch limits
            client.log_batch(run.info.run_id, metrics=metrics[i : i + 100], params=params[i : i + 100], tags=[])
        if record.error:
            client.log_batch(run.info.run_id, tags=[RunTag("error", record.error[-5000:])])
        status = "FAILED" if record.status == "error" else "FINISHED"
        client.set_terminated(run.info.run_id, status, end_time=_millis(record.end))
        existing[key] = run.info.run_id
        created += 1
    return {"created": created, "skipped": skipped}


def _existing(client, experiment_id: str) -> dict[str, str]:
    """{hpogrid.key: run id} of the runs already in the experiment."""
    out, token = {}, None
    while True:
        page = client.search_runs([experiment_id], max_results=5000, page_token=token)
        for run in page:
            key = run.data.tags.get(KEY_TAG)
            if key:
                out[key] = run.info.run_id
        token = page.token
        if not token:
            return out


def _key(record: TrialRecord) -> str:
    from hpogrid.report.collect import identity

    kind, where, job, trial = identity(record)
    return f"trial:{kind}:{where}:{job}:{trial}"


def _source_tags(record: TrialRecord) -> dict:
    source = record.source or {}
    return {
        "kind": source.get("kind", "local"),
        "run": source.get("run"),
        "taskid": source.get("task"),
        "jobid": source.get("job"),
        "site": source.get("site"),
        "host": record.host,
    }


def _metrics(record: TrialRecord, start: int | None):
    """(name, value, timestamp ms, step): the history per iteration, else the last values."""
    timestamp = _millis(record.end) or start or 0
    history = record.history or {}
    steps = history.get("iteration") or []
    if steps:
        for name, values in history.items():
            if name == "iteration":
                continue
            for step, value in zip(steps, values, strict=False):
                if _finite(value):
                    yield name, float(value), timestamp, int(step or 0)
        return
    last = {record.metric: record.value, **(record.extra or {})}
    for name, value in last.items():
        if _finite(value):
            yield name, float(value), timestamp, int(record.iterations or 0)
    if _finite(record.duration_s):
        yield "time_s", float(record.duration_s), timestamp, 0


def _finite(value) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _millis(text: str | None) -> int | None:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000) if text else None
