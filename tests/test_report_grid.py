"""`hpogrid report` of grid and iDDS tasks: the real panda-client against the local PanDA-compatible server."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_cli
from tests.test_grid import grid_project, submitted_id
from tests.test_local_run import make_project

pytestmark = pytest.mark.usefixtures("panda")
METADATA = "job/get_metadata_for_analysis_jobs"


def _submit(*args: str) -> int:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return submitted_id(result.stdout.replace("iDDS HPO task", "task"))


def _rows(*args: str) -> list[dict]:
    result = run_cli("report", *args, "--to_json", "-o", "r", "-q")
    assert result.exit_code == 0, result.output
    return json.loads(open("r.json").read())


def test_a_grid_task_in_every_format_and_cached_once_finished(tmp_path, panda):
    project = grid_project(tmp_path, num_trials=6)
    task_id = _submit("run", "g", "--n_jobs", "2", "--site", "ANALY_TEST_GPU")
    assert panda.state.wait(task_id).status == "done"
    done = run_cli(
        "report", "g", "--extra", "site,taskid,jobid,time_s,task_time_s", "--to_json", "--to_csv", "--summary",
        "--to_html", "--to_pcp", "-o", "r",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    rows = json.loads(open("r.json").read())
    assert len(rows) == 6 and len({(r["x"], r["c"]) for r in rows}) == 6  # every trial once, none twice
    assert [r["loss"] for r in rows] == sorted(r["loss"] for r in rows)
    assert {r["taskid"] for r in rows} == {task_id} and len({r["jobid"] for r in rows}) == 2
    assert {r["site"] for r in rows} == {"ANALY_TEST_GPU"}
    assert all(r["time_s"] >= 0 and r["task_time_s"] >= r["time_s"] for r in rows)
    assert {r["source"].split(" job ")[0] for r in rows} == {f"task {task_id}"}
    assert open("r.csv").read().count("\n") == 7 and "parcoords" in open("r_pcp.html").read()
    from tests.browser import probe

    seen = probe(tmp_path / "r.html", tmp_path, sort_column="loss")
    assert seen["errors"] == [] and seen["plotted"] == "4" and len(seen["sorted"]) == 6

    # MLflow: one parent run for the task, a child per trial tagged with its task, job and site
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    assert run_cli("report", "g", "--to_mlflow", "--mlflow-uri", uri, "-q").exit_code == 0
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("g").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert [p.info.run_name for p in parents] == [f"task {task_id}"] and len(children) == 6
    assert {c.data.tags["taskid"] for c in children} == {str(task_id)}
    assert {c.data.tags["site"] for c in children} == {"ANALY_TEST_GPU"} and len(
        {c.data.tags["jobid"] for c in children}
    ) == 2

    cached = project.path / "grid" / "report" / f"{task_id}.json"
    assert cached.is_file()

    # the file `tasks show --metadata --output` writes is a results file too
    shown = run_cli("tasks", "show", "--jeditaskid", str(task_id), "--metadata", "--output", "tasks.json")
    assert shown.exit_code == 0, shown.output
    assert sorted(r["loss"] for r in _rows(str(tmp_path / "tasks.json"))) == sorted(r["loss"] for r in rows)

    # a finished task is not asked for again; and when the server is unreachable the cache still answers
    panda.state.requests.clear()
    assert len(_rows("g")) == 6
    assert METADATA not in panda.state.requests
    panda.stop()
    result = run_cli("report", "g", "--to_json", "-o", "r", "-q")
    assert result.exit_code == 0, result.output
    assert len(json.loads(open("r.json").read())) == 6
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("Warning: grid tasks left out (only cached ones are shown):")


def test_task_filters(tmp_path, panda):
    grid_project(tmp_path, num_trials=2)
    first = _submit("run", "g")
    time.sleep(1.1)  # a new second: a new output dataset name
    second = _submit("run", "g")
    for task_id in (first, second):
        assert panda.state.wait(task_id).status == "done"

    def tasks(*args: str) -> set[int]:
        return {r["taskid"] for r in _rows("g", "--extra", "taskid", *args)}

    assert tasks() == {first, second}
    assert tasks("--jeditaskid", str(first)) == {first}
    assert tasks("--range", f"{second}-{second + 5}") == {second}
    assert tasks("--limit", "1") == {second}
    name = panda.state.tasks[first].params["taskName"].rstrip("/")
    assert tasks("--taskname", name) == {first}
    assert tasks("--taskname", "user.*.hpogrid.other.*") == set()
    assert tasks("--source", "local") == set()
    # tasks submitted from elsewhere (no record here) are found by their name
    import shutil

    shutil.rmtree(tmp_path / "hpogrid-base" / "projects" / "g" / "grid")
    assert tasks() == {first, second}
    bad = run_cli("report", "g", "--range", "9-1")
    assert bad.exit_code == 2 and "--range" in bad.stderr


def test_an_idds_task_reports_the_metric_not_the_loss(tmp_path, panda):
    space = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}
    objective = """
def f(config, reporter):
    reporter(score=-((config["x"] - 0.3) ** 2))
"""
    hpo = {"num_trials": 4, "max_concurrent": 2, "algorithm": "hyperopt", "metric": "score", "mode": "max", "seed": 2}
    make_project(tmp_path, "h", objective, "f", hpo, space=space)
    task_id = _submit("submit_idds", "h")
    assert panda.state.wait(task_id).status == "done"
    rows = _rows("h", "--extra", "taskid,jobid")
    assert len(rows) == 4 and {r["taskid"] for r in rows} == {task_id} and len({r["jobid"] for r in rows}) == 4
    for row in rows:
        assert row["score"] == pytest.approx(-((row["x"] - 0.3) ** 2)) and row["source"].startswith("idds ")
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)  # mode max: best first
