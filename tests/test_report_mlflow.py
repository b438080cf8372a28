"""`hpogrid report --to_mlflow` into each kind of store, read back with MlflowClient; `--json`; a mistyped project."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpogrid.report.collect import Trials
from hpogrid.results import TrialRecord
from tests.conftest import REPO, run_cli
from tests.test_local_run import make_project
from tests.test_report import HPO, OBJECTIVE, SPACE

ITERATIONS = 5


def trials(n: int = 60, seed: int = 3) -> Trials:
    """n trials of two sources (a local run; a grid task of 3 jobs), nested, categorical and log-scale
    parameters, a per-iteration history of loss and acc; the last one failed without a value."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        config = {
            "x": rng.uniform(-1, 1),
            "layers": rng.randint(1, 4),
            "opt": {"lr": 10 ** rng.uniform(-5, -1), "kind": rng.choice(["adam", "sgd", "rmsprop"])},
        }
        base = config["x"] ** 2 + (0.3 if config["opt"]["kind"] == "sgd" else 0.0)
        loss = [base + 1 / (k + 1) for k in range(ITERATIONS)]
        grid = i % 2 == 1
        source = {"kind": "grid", "task": 4242, "job": 700 + i % 3, "site": "ANALY_X"} if grid else {
            "kind": "local", "run": "20261125-101500-123"
        }  # fmt: skip
        failed = i == n - 1
        records.append(
            TrialRecord(
                trial_id=f"trial_{i:03d}",
                config=config,
                metric="loss",
                value=None if failed else loss[-1],
                status="error" if failed else "terminated",
                iterations=0 if failed else ITERATIONS,
                extra={} if failed else {"acc": 1 - loss[-1]},
                history={}
                if failed
                else {
                    "iteration": list(range(1, ITERATIONS + 1)),
                    "loss": loss,
                    "acc": [1 - v for v in loss],
                },  # fmt: skip
                error="Traceback ...\nValueError: diverged" if failed else None,
                start=f"2026-11-25T10:{i // 60:02d}:{i % 60:02d}+00:00",
                end=f"2026-11-25T11:{i // 60:02d}:{i % 60:02d}+00:00",
                duration_s=3600.0,
                host="node1",
                source=source,
            )
        )
    out = Trials(metric="loss", mode="min", hyperparameters=["x", "layers", "opt.lr", "opt.kind"])
    out.add(records)
    return out


def write_jsonl(path, found: Trials) -> None:
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in found.records))


def client_for(uri: str, monkeypatch):
    from mlflow.tracking import MlflowClient

    if uri.startswith("file:"):
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses its file store otherwise
    return MlflowClient(tracking_uri=uri)


def check_store(uri: str, found: Trials, monkeypatch) -> None:
    """Every trial is a child run with its params, metric histories (with steps), tags and status."""
    client = client_for(uri, monkeypatch)
    experiment = client.get_experiment_by_name("hpogrid")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = {r.info.run_id: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(p.info.run_name for p in parents.values()) == ["local 20261125-101500-123", "task 4242"]
    assert len(children) == len(found.records)
    by_id = {r.trial_id: r for r in found.records}
    for child in children:
        record = by_id[child.info.run_name]
        parent = parents[child.data.tags["mlflow.parentRunId"]]
        assert parent.info.run_name == child.data.tags["source"].split(" job ")[0]
        assert child.data.params == {
            "x": str(record.config["x"]),
            "layers": str(record.config["layers"]),
            "opt.lr": str(record.config["opt"]["lr"]),
            "opt.kind": record.config["opt"]["kind"],
        }
        assert float(child.data.params["opt.lr"]) == record.config["opt"]["lr"]  # no digit lost
        tags = child.data.tags
        assert tags["status"] == record.status and tags["host"] == "node1"
        assert tags["hpogrid.key"].endswith(f":{record.trial_id}")
        if record.source["kind"] == "grid":
            assert (tags["taskid"], tags["jobid"], tags["site"]) == ("4242", str(record.source["job"]), "ANALY_X")
            assert tags["source"] == f"task 4242 job {record.source['job']}"
        else:
            assert tags["run"] == "20261125-101500-123" and "taskid" not in tags
        assert child.info.start_time == int(time_of(record.start) * 1000)
        assert child.info.end_time == int(time_of(record.end) * 1000)
        if record.status == "error":
            assert child.info.status == "FAILED" and child.data.metrics == {"time_s": 3600.0}
            assert tags["error"].endswith("ValueError: diverged")
            continue
        assert child.info.status == "FINISHED"
        last = {"loss": record.value, "acc": record.extra["acc"], "time_s": 3600.0}
        assert child.data.metrics == pytest.approx(last)
        for name in ("loss", "acc"):
            history = sorted(client.get_metric_history(child.info.run_id, name), key=lambda m: m.step)
            assert [m.step for m in history] == list(range(1, ITERATIONS + 1))
            assert [m.value for m in history] == pytest.approx(record.history[name])


def time_of(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp()


def export(uri: str) -> str:
    """`report --to_mlflow` of g.jsonl into uri: its one line."""
    done = run_cli("report", "g.jsonl", "--mode", "min", "-q", "--to_mlflow", "--mlflow-uri", uri)
    assert done.exit_code == 0, done.output
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == 1, done.stdout  # one line: where the runs went, how to look
    line = done.stdout.strip()
    return line


@pytest.mark.parametrize("kind", ["sqlite", "sqlite relative", "file URI", "plain path"])
def test_each_store_is_written_read_back_and_not_duplicated(tmp_path, monkeypatch, kind):
    pytest.importorskip("mlflow")
    found = trials()
    write_jsonl(tmp_path / "g.jsonl", found)
    given, uri = {
        "sqlite": (f"sqlite:///{tmp_path / 'm.db'}", f"sqlite:///{tmp_path / 'm.db'}"),
        "sqlite relative": ("sqlite:///m.db", f"sqlite:///{tmp_path / 'm.db'}"),
        "file URI": ((tmp_path / "runs").as_uri(), (tmp_path / "runs").as_uri()),
        "plain path": ("runs", (tmp_path / "runs").as_uri()),
    }[kind]
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # what a user has: MLflow 3 refuses file stores
    line = export(given)
    view = f"mlflow ui --backend-store-uri {uri}"
    if kind in ("file URI", "plain path"):
        view = "MLFLOW_ALLOW_FILE_STORE=true " + view
    assert line == (
        f"MLflow: 60 runs added, 0 already there, experiment 'hpogrid' in {uri}; to look at them: {view} "
        "(the UI is in the full 'mlflow' package, see README: MLflow)"
    )
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # allowed for the export only
    assert (tmp_path / ("m.db" if kind.startswith("sqlite") else "runs")).exists()
    check_store(uri, found, monkeypatch)
    again = export(given)
    assert again.startswith("MLflow: 0 runs added, 60 already there")
    check_store(uri, found, monkeypatch)  # nothing twice
    more = trials(70)  # 10 new trials (and the one that failed is now a success): only they are added
    write_jsonl(tmp_path / "g.jsonl", more)
    assert export(given).startswith("MLflow: 10 runs added, 60 already there")
    client = client_for(uri, monkeypatch)
    runs = client.search_runs([client.get_experiment_by_name("hpogrid").experiment_id], max_results=1000)
    assert len(runs) == 2 + 70 and len({r.data.tags["hpogrid.key"] for r in runs}) == 72


def test_batches_beyond_mlflow_limits(tmp_path, monkeypatch):
    """A trial with 150 parameters and 2 x 700 metric points: more than one log_batch may hold."""
    pytest.importorskip("mlflow")
    from hpogrid.report.mlflow_export import _limits

    assert _limits() == (1000, 100, 1000)  # what the installed MLflow checks
    config = {"block": {f"w{j:03d}": j * 0.5 for j in range(150)}, "name": "x" * 7000}
    steps = list(range(1, 701))
    record = TrialRecord(
        trial_id="wide", config=config, metric="loss", value=0.5, status="terminated", iterations=700,
        history={"iteration": steps, "loss": [1 / s for s in steps], "acc": [1 - 1 / s for s in steps]},
        start="2026-11-25T10:00:00+00:00", end="2026-11-25T10:05:00+00:00", source={"kind": "local", "run": "r"},
    )  # fmt: skip
    found = Trials(metric="loss", mode="min", hyperparameters=[])
    found.add([record])
    write_jsonl(tmp_path / "g.jsonl", found)
    for uri in ((tmp_path / "fs").as_uri(), f"sqlite:///{tmp_path / 'w.db'}"):  # the client path, the bulk path
        assert export(uri).startswith("MLflow: 1 runs added")
        client = client_for(uri, monkeypatch)
        (run,) = client.search_runs(
            [client.get_experiment_by_name("hpogrid").experiment_id], "attributes.run_name = 'wide'"
        )
        assert len(run.data.params) == 151 and run.data.params["block.w149"] == "74.5"
        assert run.data.params["name"] == "x" * 6000  # MLflow's limit on a value
        for name, values in (("loss", [1 / s for s in steps]), ("acc", [1 - 1 / s for s in steps])):
            history = sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
            assert [m.step for m in history] == steps and [m.value for m in history] == pytest.approx(values)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_python() -> str:
    """A Python with the full 'mlflow' package (its server needs flask, graphene, ... that cannot share
    hpogrid's environment): $HPOGRID_TEST_MLFLOW_SERVER, else the .venv-mlflow-server that run_tests.sh
    makes, else this one if it has it. Under CI a missing server fails the test rather than skips it."""
    import importlib.util

    for python in (os.environ.get("HPOGRID_TEST_MLFLOW_SERVER"), str(REPO / ".venv-mlflow-server/bin/python")):
        if python and Path(python).is_file():
            return python
    if importlib.util.find_spec("flask") is not None:
        return sys.executable
    reason = "no MLflow server to test against: run ./run_tests.sh (it makes .venv-mlflow-server)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def tracking_server(tmp_path):
    """A real MLflow tracking server on 127.0.0.1 (sqlite behind it): its URI."""
    python = server_python()
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [python, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--default-artifact-root",
         str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(uri + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the MLflow server did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group (its workers too)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # uvicorn waits for open connections: no more waiting
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


def test_a_tracking_server(tmp_path, monkeypatch, tracking_server):
    found = trials()
    write_jsonl(tmp_path / "g.jsonl", found)
    line = export(tracking_server)
    client = client_for(tracking_server, monkeypatch)
    experiment_id = client.get_experiment_by_name("hpogrid").experiment_id
    assert line == (
        f"MLflow: 60 runs added, 0 already there, experiment 'hpogrid' in {tracking_server}; "
        f"to look at them: open {tracking_server}/#/experiments/{experiment_id}"
    )
    check_store(tracking_server, found, monkeypatch)
    assert export(tracking_server).startswith("MLflow: 0 runs added, 60 already there")
    check_store(tracking_server, found, monkeypatch)


def test_stores_that_cannot_be_used_are_one_line(tmp_path):
    pytest.importorskip("mlflow")
    write_jsonl(tmp_path / "g.jsonl", trials(5))
    (tmp_path / "a_file").write_text("x")
    port = _free_port()  # nothing listens there
    for uri, expected in (
        ("a_file", "--mlflow-uri a_file: a file, not a folder; for a sqlite database give sqlite:///"),
        (f"http://127.0.0.1:{port}", f"--mlflow-uri http://127.0.0.1:{port}: no MLflow tracking server answers"),
    ):
        started = time.monotonic()
        done = run_cli("report", "g.jsonl", "--mode", "min", "-q", "--to_csv", "--to_mlflow", "--mlflow-uri", uri)
        assert done.exit_code == 2 and "Traceback" not in done.output
        (line,) = done.stderr.splitlines()
        assert line.startswith("Error: ") and expected in line
        assert time.monotonic() - started < 20  # not the client's minutes of retries
        assert not (tmp_path / "hpo_result.csv").exists()  # nothing written


def test_json_prints_the_table(tmp_path):
    found = trials()
    write_jsonl(tmp_path / "g.jsonl", found)
    done = run_cli(
        "report", "g.jsonl", "--mode", "min", "--json", "--extra", "trial_id,jobid", "--to_csv", "-o", "t"
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))  # JSON alone
    assert done.stderr == "Wrote t.csv\n"  # what is not the table goes to stderr
    table = list(csv.DictReader(open("t.csv")))
    assert len(rows) == len(table) == 60  # every row, not only the 30 the text table shows
    assert [list(r) for r in rows] == [list(table[0])] * 60  # the table's columns, in its order
    assert list(rows[0]) == [
        "x",
        "layers",
        "opt.lr",
        "opt.kind",
        "loss",
        "acc",
        "status",
        "source",
        "trial_id",
        "jobid",
    ]
    for row, line in zip(rows, table, strict=True):
        assert row["trial_id"] == line["trial_id"] and row["status"] == line["status"]
        assert row["loss"] == (pytest.approx(float(line["loss"])) if line["loss"] else None)
        assert row["opt.kind"] == line["opt.kind"] and isinstance(row["layers"], int)
    by_id = {r.trial_id: r for r in found.records}
    for row in rows:
        record = by_id[row["trial_id"]]
        assert row["opt.lr"] == record.config["opt"]["lr"] and row["x"] == record.config["x"]  # full precision
        assert row["jobid"] == record.source.get("job")
    assert [r["loss"] for r in rows[:-1]] == sorted(r.value for r in found.records if r.value is not None)
    assert rows[-1]["loss"] is None and rows[-1]["status"] == "error"
    top = run_cli("report", "g.jsonl", "--mode", "min", "--json", "--top", "3", "--extra", "trial_id,jobid")
    assert json.loads(top.stdout) == rows[:3]
    for clash in (["--analyze"], ["--to_json", "-o", "-"]):
        refused = run_cli("report", "g.jsonl", "--mode", "min", "--json", *clash)
        assert refused.exit_code == 2 and "--json prints the table alone" in refused.stderr


def test_a_mistyped_project_name_is_suggested(tmp_path):
    make_project(tmp_path, "simple_objective", OBJECTIVE, "f", HPO, space=SPACE)
    done = run_cli("report", "simple_objectiv")
    assert done.exit_code == 2 and done.stdout == ""
    assert done.stderr == (
        "Error: no project named 'simple_objectiv' (did you mean 'simple_objective'?); see `hpogrid project list`\n"
    )
    far = run_cli("report", "nothing_like_it")
    assert far.exit_code == 2
    assert far.stderr == "Error: no project or results file named 'nothing_like_it'; see `hpogrid project list`\n"


def test_names_mlflow_refuses_are_one_line_and_no_run(tmp_path, monkeypatch):
    """A parameter name MLflow refuses: the same one line from the database path and the client path."""
    pytest.importorskip("mlflow")
    found = trials(5)
    for record in found.records:
        record.config["w[0]"] = 1
    write_jsonl(tmp_path / "g.jsonl", found)
    for uri in (f"sqlite:///{tmp_path / 'm.db'}", (tmp_path / "fs").as_uri()):
        done = run_cli("report", "g.jsonl", "--mode", "min", "-q", "--to_mlflow", "--mlflow-uri", uri)
        assert done.exit_code == 2 and "Traceback" not in done.output
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"Error: --mlflow-uri {uri}: MLflow says: ") and "w[0]" in line
        client = client_for(uri, monkeypatch)
        experiment = client.get_experiment_by_name("hpogrid")
        runs = client.search_runs([experiment.experiment_id])
        if uri.startswith("sqlite"):
            assert runs == []  # one transaction: nothing
        else:  # the parents (made first), and no trial run marked as exported: the next export redoes it
            keys = [r.data.tags["hpogrid.key"] for r in runs if "hpogrid.key" in r.data.tags]
            assert sorted(keys) == ["source:local 20261125-101500-123", "source:task 4242"]


def test_json_is_printed_only_when_every_export_is_done(tmp_path):
    write_jsonl(tmp_path / "g.jsonl", trials(5))
    (tmp_path / "a_file").write_text("x")
    done = run_cli("report", "g.jsonl", "--mode", "min", "--json", "--to_mlflow", "--mlflow-uri", "a_file")
    assert done.exit_code == 2 and done.stdout == "" and done.stderr.startswith("Error: --mlflow-uri a_file: ")
