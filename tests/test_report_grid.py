"""`hpogrid report` of grid and iDDS tasks: the real panda-client against the local PanDA-compatible server."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_cli
from tests.test_grid import grid_project, submitted_id
from tests.test_local_run import make_project
from tests.test_report import fetched, figures_of, pcp_of

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
    assert open("r.csv").read().count("\n") == 7
    summary = json.loads(open("r_summary.json").read())
    assert summary["metric"] == "loss" and summary["mode"] == "min" and summary["trials"] == summary["scored"] == 6
    assert summary["counts"] == {"terminated": 6} and summary["sources"] == {"task": 6}
    assert summary["best"]["value"] == pytest.approx(rows[0]["loss"]) and summary["best"]["source"] == rows[0]["source"]
    assert (
        summary["best"]["config"]["x"] == pytest.approx(rows[0]["x"]) and summary["best"]["config"]["c"] == rows[0]["c"]
    )
    assert [r["loss"] for r in summary["top"]] == pytest.approx([r["loss"] for r in rows[:5]])
    assert {i["parameter"] for i in summary["importance"]} == {"x", "c"} and set(summary["correlations"]) == {"x", "c"}
    x, c, loss = pcp_of(tmp_path / "r_pcp.html")
    assert (x["label"], c["label"], loss["label"]) == ("x", "c", "loss")
    assert x["values"] == pytest.approx([r["x"] for r in rows], rel=1e-6)
    losses = [r["loss"] for r in rows]
    if min(losses) > 0 and max(losses) >= 100 * min(losses):  # two decades: the log10 of the values, ticks labelled
        assert "ticktext" in loss and [10**v for v in loss["values"]] == pytest.approx(losses, rel=1e-5)
    else:
        assert "ticktext" not in loss and loss["values"] == pytest.approx(losses, rel=1e-6)
    assert [c["ticktext"][code] for code in c["values"]] == [r["c"] for r in rows]
    assert fetched(open("r_pcp.html").read()) == [] and fetched(open("r.html").read()) == []
    from tests.browser import probe

    seen = probe(tmp_path / "r.html", tmp_path, sort_column="loss")
    figures = figures_of(tmp_path / "r.html")[0]
    assert seen["errors"] == [] and seen["plotted"] == str(len(figures)) and len(seen["sorted"]) == 6
    assert {"hg-history", "hg-scatter", "hg-contour", "hg-pcp", "hg-timeline", "hg-edf"} <= set(figures), set(figures)

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
    assert "task/get_detailed_info" not in panda.state.requests  # the listing held it: not asked for by its ID
    panda.stop()
    result = run_cli("report", "g", "--to_json", "-o", "r", "-q")
    assert result.exit_code == 0, result.output
    assert len(json.loads(open("r.json").read())) == 6
    (warning,) = result.stderr.strip().splitlines()
    assert warning.startswith("Warning: grid tasks left out (only cached ones are shown):")


def _age(panda, task_id: int, days: float) -> None:
    """Make a task of the server last modified (and created) that many days ago."""
    import datetime as dt

    with panda.state.lock:
        task = panda.state.tasks[task_id]
        task.created = task.modified = task.modified - dt.timedelta(days=days)


def test_task_filters(tmp_path, panda):
    grid_project(tmp_path, num_trials=2)
    first = _submit("run", "g")
    time.sleep(1.1)  # a new second: a new output dataset name
    second = _submit("run", "g")
    for task_id in (first, second):
        assert panda.state.wait(task_id).status == "done"
    _age(panda, first, 10)

    def tasks(*args: str) -> set[int]:
        return {r["taskid"] for r in _rows("g", "--extra", "taskid", *args)}

    assert tasks() == {first, second}
    assert tasks("--days", "5") == {second}  # the first was last modified 10 days ago
    assert tasks("--days", "5", "--jeditaskid", str(first)) == {first}  # a task asked for by its ID has no age limit
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

    # when the grid cannot be reached the cached tasks pass the same filters
    panda.stop()
    assert tasks() == {first, second}
    assert tasks("--days", "5") == {second} and tasks("--limit", "1") == {second}
    assert tasks("--jeditaskid", str(first), "--days", "5") == {first} and tasks("--taskname", name) == {first}
    assert tasks("--range", f"{second}-{second + 5}") == {second}
    bad = run_cli("report", "g", "--range", "9-1")
    assert bad.exit_code == 2 and "--range" in bad.stderr


def test_the_limit_counts_the_projects_tasks_not_all_of_yours(tmp_path, panda):
    import shutil

    from tests.test_grid_server import many_tasks

    project = grid_project(tmp_path, num_trials=2)
    task_id = _submit("run", "g")
    assert panda.state.wait(task_id).status == "done"
    many_tasks(panda, 1500, days_apart=0.02)  # then 1500 tasks of another project, over the last 30 days
    rows = _rows("g", "--extra", "taskid", "--limit", "1")
    assert {r["taskid"] for r in rows} == {task_id}  # its trials, found by its ID

    # submitted from elsewhere: found in the listing of your tasks, narrowed until the server lists it whole
    shutil.rmtree(project.path / "grid")
    panda.state.listed.clear()
    rows = _rows("g", "--extra", "taskid", "--limit", "1")
    assert {r["taskid"] for r in rows} == {task_id}
    assert len(panda.state.listed) == 2 and sum(panda.state.listed) < 600  # 500 of 1501, then a few hours whole


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
    with panda.state.lock:  # a point the relay knows the loss of (-score for mode max) but no job reported
        panda.state.idds_points[task_id].append({"id": "relay-only", "parameters": {"x": 0.9}, "loss": 0.36})
    rows = _rows("h", "--extra", "taskid,jobid,trial_id")
    assert len(rows) == 5 and {r["taskid"] for r in rows} == {task_id}
    assert len({r["jobid"] for r in rows if r["jobid"] is not None}) == 4  # a trial per evaluation job, and the point
    for row in rows:
        assert row["score"] == pytest.approx(-((row["x"] - 0.3) ** 2)) and row["source"].startswith("idds ")
        assert "loss" not in row
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)  # mode max: best first
    (relayed,) = [r for r in rows if r["jobid"] is None]
    assert relayed["trial_id"] == "point_relay-only" and relayed["score"] == pytest.approx(-0.36)
    assert relayed["source"] == f"idds {task_id}"

    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    assert run_cli("report", "h", "--to_mlflow", "--mlflow-uri", uri, "-q").exit_code == 0
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("h").experiment_id])
    children = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(children) == 5 and all(set(c.data.metrics) <= {"score", "time_s"} for c in children.values())
    assert children["point_relay-only"].data.metrics == {"score": pytest.approx(-0.36)}  # the metric, sign restored
