"""MLflow export: an experiment per project, a parent run per source (a local run, a grid task, an
iDDS task) and a child run per trial with its hyperparameters, metrics (the per-iteration history
when recorded, else the last values) and tags (status, task id, job id, site, host).

Where the runs go (``--mlflow-uri``): a database (``sqlite:///...``, the default, or another
SQLAlchemy URI), a local folder (a ``file:`` URI or a plain path: MLflow's file store) or a tracking
server (``http(s)://``). Into a database every new run is written in one transaction, with MLflow's
own session and table models (the per-run client calls cost about 50 ms a run on sqlite); elsewhere
through ``MlflowClient.log_batch``, chunked to MLflow's batch limits, several runs at a time for a server.

Every run carries the tag ``hpogrid.key``; exporting again skips what is there already, so a second
export neither fails nor duplicates runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hpogrid.errors import HpogridError
from hpogrid.report.collect import flatten, identity
from hpogrid.report.table import Table, group_label, source_label
from hpogrid.results import TrialRecord

KEY_TAG = "hpogrid.key"
PARAM_CHARS = 6000  # MLflow's limits on a parameter and a tag value
TAG_CHARS = 8000
ERROR_CHARS = 5000
SERVER_THREADS = 8  # runs sent to a tracking server at the same time


@dataclass(frozen=True)
class Destination:
    """Where the runs go: the tracking URI MLflow is given, and which kind of store it is."""

    uri: str
    kind: str  # "database", "folder", "server" or "other" (a plugin's scheme: the client path)

    def view(self, experiment_id: str) -> str:
        """How to look at the runs, as one line."""
        if self.kind == "server":
            return f"open {self.uri.rstrip('/')}/#/experiments/{experiment_id}"
        command = f"mlflow ui --backend-store-uri {shlex.quote(self.uri)}"
        if self.kind == "folder":
            command = "MLFLOW_ALLOW_FILE_STORE=true " + command
        return f"{command} (the UI is in the full 'mlflow' package, see README: MLflow)"


def destination(uri: str) -> Destination:
    """The store a tracking URI names; a plain path is a folder (MLflow's file store)."""
    scheme = uri.split(":", 1)[0].lower() if "://" in uri or uri.startswith("file:") else ""
    if scheme in ("http", "https"):
        return Destination(uri, "server")
    if scheme == "file":
        return Destination(uri, "folder")
    if scheme == "sqlite" and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return Destination(f"sqlite:///{Path(uri[len('sqlite:///') :]).resolve()}", "database")  # as the cwd says
    if scheme.split("+")[0] in ("sqlite", "postgresql", "mysql", "mssql"):
        return Destination(uri, "database")
    if scheme:
        return Destination(uri, "other")
    path = Path(uri).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise HpogridError(f"--mlflow-uri {uri}: a file, not a folder; for a sqlite database give sqlite:///{path}")
    return Destination(path.as_uri(), "folder")


@dataclass
class Planned:
    """A run to create: what MLflow stores of it."""

    key: str
    name: str
    start: int | None
    end: int | None
    status: str  # FINISHED or FAILED
    tags: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # name, value, ms, step
    parent: str | None = None  # the parent's key
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Exported:
    created: int
    skipped: int
    experiment: str
    experiment_id: str
    destination: Destination

    def line(self) -> str:
        """Where the runs went and how to look at them, in one line."""
        return (
            f"MLflow: {self.created} runs added, {self.skipped} already there, experiment '{self.experiment}' "
            f"in {self.destination.uri}; to look at them: {self.destination.view(self.experiment_id)}"
        )


def default_uri(folder: Path) -> str:
    return f"sqlite:///{Path(folder).resolve() / 'mlflow.db'}"


def export(table: Table, uri: str, experiment: str) -> Exported:
    """Export the table's trials that are not in the experiment yet."""
    from hpogrid.errors import require

    where = destination(uri)
    require("mlflow", "report", "--to_mlflow")
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)  # no INFO lines about creating tables
    if where.kind == "server":
        _check_reachable(where.uri)
    with _store_allowed(where), _mlflow_errors(where):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=where.uri)
        experiment_id = _experiment(client, experiment)
        store = client._tracking_client.store
        bulk = where.kind == "database" and type(store).__name__ == "SqlAlchemyStore"
        existing = _existing_sql(store, experiment_id) if bulk else _existing(client, experiment_id)
        runs = plan(table, existing)
        if bulk:
            _write_database(store, experiment_id, runs, existing)
        else:
            _write_client(client, experiment_id, runs, existing, SERVER_THREADS if where.kind == "server" else 1)
    created = sum(1 for run in runs if run.parent is not None)
    return Exported(created, len(table.records) - created, experiment, experiment_id, where)


def plan(table: Table, existing: dict[str, str]) -> list[Planned]:
    """The runs to create, parents first: a parent per local run or grid task, a child per trial."""
    runs: dict[str, Planned] = {}
    children = []
    for record in table.records:
        key = _key(record)
        if key in existing or key in runs:
            continue
        group = group_label(record)  # a parent per local run or per task, not per job
        parent_key = f"source:{group}"
        if parent_key not in existing and parent_key not in runs:
            tags = {KEY_TAG: parent_key, "hpogrid.source": group}
            runs[parent_key] = Planned(parent_key, group, _millis(record.start), None, "FINISHED", tags)
        start = _millis(record.start)
        tags = {
            KEY_TAG: key,
            "status": record.status,
            "source": source_label(record),
            **{k: str(v) for k, v in _source_tags(record).items() if v is not None},
        }
        if record.error:
            tags["error"] = record.error[-ERROR_CHARS:]
        params = {name: str(value)[:PARAM_CHARS] for name, value in flatten(record.config or {}).items()}
        status = "FAILED" if record.status == "error" else "FINISHED"
        child = Planned(key, record.trial_id, start, _millis(record.end), status, tags, params, [], parent_key)
        child.metrics = list(dict.fromkeys(_metrics(record, start)))  # a point twice is one point
        runs[key] = child
        children.append(child)
    for parent in (run for run in runs.values() if run.parent is None):  # a parent spans its trials
        mine = [c for c in children if c.parent == parent.key]
        parent.start = min((c.start for c in mine if c.start is not None), default=None)
        parent.end = max((c.end for c in mine if c.end is not None), default=None)
    return [run for run in runs.values() if run.parent is None] + children


def batches(run: Planned, limits: tuple[int, int, int], last_tags: dict[str, str]) -> Iterator[tuple[list, list, list]]:
    """(metrics, params, tags) for log_batch calls within MLflow's limits: (metrics, params or tags,
    entities) per call; last_tags come with the last call."""
    from mlflow.entities import Metric, Param, RunTag

    most_metrics, most_params, most_entities = limits
    params = [Param(k, v) for k, v in run.params.items()]
    metrics = [Metric(k, v, ts, step) for k, v, ts, step in run.metrics]
    tags = [RunTag(k, v) for k, v in last_tags.items()]
    while params or metrics or tags:
        some_params, params = params[:most_params], params[most_params:]
        room = min(most_metrics, most_entities - len(some_params) - len(tags))
        some_metrics, metrics = metrics[:room], metrics[room:]
        last = not params and not metrics
        yield some_metrics, some_params, tags if last else []
        if last:
            return


def _limits() -> tuple[int, int, int]:
    """MLflow's batch limits, as the installed version checks them."""
    from mlflow.utils import validation

    return (
        getattr(validation, "MAX_METRICS_PER_BATCH", 1000),
        getattr(validation, "MAX_PARAMS_TAGS_PER_BATCH", 100),
        getattr(validation, "MAX_ENTITIES_PER_BATCH", 1000),
    )


def _write_client(client, experiment_id: str, runs: list[Planned], existing: dict[str, str], threads: int) -> None:
    """Through the client: create_run (with its tags), log_batch in chunks, set_terminated."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow.entities import RunStatus

    limits = _limits()
    store = client._tracking_client.store
    now = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    ids = dict(existing)

    def send(run: Planned) -> None:
        tags = dict(run.tags)
        if run.parent is not None:
            tags["mlflow.parentRunId"] = ids[run.parent]
        key = {KEY_TAG: tags.pop(KEY_TAG)}  # with the last batch: a run cut short is exported again
        created = client.create_run(experiment_id, start_time=run.start, tags=tags, run_name=run.name)
        ids[run.key] = created.info.run_id
        for metrics, params, last_tags in batches(run, limits, key):
            client.log_batch(created.info.run_id, metrics=metrics, params=params, tags=last_tags)
        # the store's update, not client.set_terminated: that prints two lines per run for a server
        store.update_run_info(created.info.run_id, RunStatus.from_string(run.status), run.end or now, run.name)

    parents = [run for run in runs if run.parent is None]
    for run in parents:
        send(run)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(send, runs[len(parents) :]):  # re-raises the first failure
            pass


def _write_database(store, experiment_id: str, runs: list[Planned], existing: dict[str, str]) -> None:
    """Every run in one transaction, through the store's own session and table models: all or none."""
    import getpass

    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric, SqlParam, SqlRun, SqlTag
    from mlflow.utils.uri import append_to_uri_path

    _check_names(runs)
    experiment = store.get_experiment(experiment_id)
    user = _user(getpass)
    now = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    ids = {**existing, **{run.key: run.run_id for run in runs}}
    rows: dict[type, list[dict]] = {SqlRun: [], SqlTag: [], SqlParam: [], SqlMetric: [], SqlLatestMetric: []}
    for run in runs:
        rows[SqlRun].append(
            dict(
                run_uuid=run.run_id, name=run.name, source_type="UNKNOWN", source_name="", entry_point_name="",
                user_id=user, status=run.status, start_time=run.start or now, end_time=run.end, deleted_time=None,
                source_version="", lifecycle_stage="active", experiment_id=int(experiment_id),
                artifact_uri=append_to_uri_path(experiment.artifact_location, run.run_id, "artifacts"),
            )
        )  # fmt: skip
        tags = {**run.tags, "mlflow.runName": run.name, "mlflow.user": user}
        if run.parent is not None:
            tags["mlflow.parentRunId"] = ids[run.parent]
        rows[SqlTag] += [dict(run_uuid=run.run_id, key=k, value=v[:TAG_CHARS]) for k, v in tags.items()]
        rows[SqlParam] += [dict(run_uuid=run.run_id, key=k, value=v) for k, v in run.params.items()]
        latest: dict[str, tuple] = {}
        for key, value, timestamp, step in run.metrics:
            rows[SqlMetric].append(
                dict(run_uuid=run.run_id, key=key, value=value, timestamp=timestamp, step=step, is_nan=False)
            )
            latest[key] = max(latest.get(key, (step, timestamp, value)), (step, timestamp, value))
        rows[SqlLatestMetric] += [
            dict(run_uuid=run.run_id, key=key, value=value, timestamp=timestamp, step=step, is_nan=False)
            for key, (step, timestamp, value) in latest.items()
        ]
    with store.ManagedSessionMaker() as session:  # commits at the end, rolls back on an error
        for model, items in rows.items():  # runs first: the others refer to them
            if items:
                session.execute(model.__table__.insert(), items)


def _check_names(runs: list[Planned]) -> None:
    """MLflow's own checks of metric, parameter and tag names (the client makes them on every call)."""
    from mlflow.utils import validation

    checks = (
        (validation._validate_metric_name, {m[0] for run in runs for m in run.metrics}),
        (validation._validate_param_name, {k for run in runs for k in run.params}),
        (validation._validate_tag_name, {k for run in runs for k in run.tags}),
    )
    for check, names in checks:
        for name in names:
            check(name)
            validation._validate_length_limit("Name", validation.MAX_ENTITY_KEY_LENGTH, name)


def _user(getpass) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "unknown"


def _experiment(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is None:
        return client.create_experiment(name)
    if found.lifecycle_stage != "active":
        raise HpogridError(
            f"MLflow experiment '{name}' is deleted in that store: restore it (mlflow experiments restore "
            f"--experiment-id {found.experiment_id}) or give another --mlflow-uri"
        )
    return found.experiment_id


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


def _existing_sql(store, experiment_id: str) -> dict[str, str]:
    """The same as _existing, one query on the store's tables."""
    from mlflow.store.tracking.dbmodels.models import SqlRun, SqlTag

    with store.ManagedSessionMaker() as session:
        found = (
            session.query(SqlTag.value, SqlTag.run_uuid)
            .join(SqlRun, SqlRun.run_uuid == SqlTag.run_uuid)
            .filter(SqlTag.key == KEY_TAG, SqlRun.experiment_id == int(experiment_id))
            .filter(SqlRun.lifecycle_stage == "active")
            .all()
        )
    return dict(found)


def _check_reachable(uri: str) -> None:
    """A server that does not answer is one line now, not minutes of the client's retries."""
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=10)
    except requests.RequestException as exc:
        raise HpogridError(
            f"--mlflow-uri {uri}: no MLflow tracking server answers there ({type(exc).__name__}); "
            "start one (mlflow server) or give another URI"
        ) from None


@contextlib.contextmanager
def _store_allowed(where: Destination) -> Iterator[None]:
    """MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE is set: asked for, it is allowed."""
    if where.kind != "folder":
        yield
        return
    saved = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = saved


@contextlib.contextmanager
def _mlflow_errors(where: Destination) -> Iterator[None]:
    """MLflow's refusals (a bad URI, a store it cannot open or write) as one line naming the URI."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        text = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else type(exc).__name__
        raise HpogridError(f"--mlflow-uri {where.uri}: MLflow says: {text}") from None


def _key(record: TrialRecord) -> str:
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


def _metrics(record: TrialRecord, start: int | None) -> Iterator[tuple[str, float, int, int]]:
    """(name, value, timestamp ms, step): the history per iteration, else the last values; and time_s."""
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
    else:
        last = {record.metric: record.value, **(record.extra or {})}
        for name, value in last.items():
            if _finite(value):
                yield name, float(value), timestamp, int(record.iterations or 0)
    if _finite(record.duration_s):
        yield "time_s", float(record.duration_s), timestamp, int(record.iterations or 0)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _millis(text: str | None) -> int | None:
    return int(dt.datetime.fromisoformat(text).timestamp() * 1000) if text else None
