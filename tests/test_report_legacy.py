"""`hpogrid report` of what hpogrid 1.3.3 wrote (issue 15): its userJobMetadata.json, its cache/ of Ray
results, a run folder holding both, 1.x job metadata on the grid, and these beside today's runs (--add).

The files in tests/fixtures/hpogrid_1_3_3/run/ were written by the real hpogrid 1.3.3 (make_fixtures.py
there); the variants (a failed trial, bad records, several jobs) are written here from them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_report import figures_of

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "hpogrid_1_3_3" / "run"
METADATA = json.loads((FIXTURE / "userJobMetadata.json").read_text())
CACHE = {p.name: json.loads(p.read_text()) for p in sorted((FIXTURE / "cache").glob("*.json"))}
ROWS = sorted(METADATA["result"].values(), key=lambda r: r["loss"])  # the fixture's trials, best first


def _rows(*args: str) -> tuple[list[dict], list[str]]:
    """`hpogrid report ARGS --to_json`: its rows and its lines on stderr; it must succeed."""
    done = run_cli("report", *args, "--to_json", "-o", "out", "-q")
    assert done.exit_code == 0, done.output
    assert "Traceback" not in done.output
    return json.loads(Path("out.json").read_text()), done.stderr.strip().splitlines()


def _fails(*args: str) -> str:
    """`hpogrid report ARGS` fails with one line (no traceback): that line."""
    done = run_cli("report", *args)
    assert done.exit_code != 0, done.output
    (line,) = done.stderr.strip().splitlines()
    assert "Traceback" not in done.output and line.startswith("Error: "), done.output
    return line


def _run_folder(tmp_path: Path, name: str = "run") -> Path:
    folder = tmp_path / name
    shutil.copytree(FIXTURE, folder)
    return folder


def _same_trials(rows: list[dict]) -> None:
    """The rows are the fixture's six trials, best first, with their values."""
    assert [r["loss"] for r in rows] == pytest.approx([r["loss"] for r in ROWS], rel=1e-12)
    assert [(r["height"], r["width"]) for r in rows] == [
        (pytest.approx(r["height"], rel=1e-12), pytest.approx(r["width"], rel=1e-12)) for r in ROWS
    ]
    assert {r["status"] for r in rows} == {"terminated"} and {r["kind"] for r in rows} == {"legacy"}


def test_a_userjobmetadata_file_alone(tmp_path):
    path = _run_folder(tmp_path) / "userJobMetadata.json"
    rows, warnings = _rows(str(path), "--extra", "kind,trial_id,time_s,task_time_s,start_timestamp")
    assert warnings == []  # the metadata says the metric and the mode
    _same_trials(rows)
    best = METADATA["result"]["0"]
    assert METADATA["best_metric_score"] == best["loss"] == rows[0]["loss"]
    assert (rows[0]["height"], rows[0]["width"]) == (METADATA["best_config"]["height"], best["width"])
    assert rows[0]["trial_id"] == "0" and rows[0]["source"] == "legacy run/userJobMetadata.json"
    assert rows[0]["time_s"] == best["time_s"] and rows[0]["task_time_s"] == METADATA["task_time_s"]
    assert rows[0]["start_timestamp"] == pytest.approx(best["timestamp"] - best["time_s"], abs=1e-3)


@pytest.mark.parametrize("target", ["run", "run/cache", "run+adds"])
def test_a_run_folder_and_its_cache_count_each_trial_once(tmp_path, target):
    _run_folder(tmp_path)
    args = ["run", "--add", "run/cache", "--add", "run/userJobMetadata.json"] if target == "run+adds" else [target]
    rows, warnings = _rows(*args, "--extra", "kind,trial_id,host,iterations,time_s")
    _same_trials(rows)
    # the cache gives each trial its Ray trial id, host and iterations
    by_id = {data["trial_id"]: data for data in CACHE.values()}
    assert sorted(r["trial_id"] for r in rows) == sorted(by_id)
    assert all(r["loss"] == by_id[r["trial_id"]]["loss"] for r in rows)
    assert {r["host"] for r in rows} == {"vm"} and {r["iterations"] for r in rows} == {1}
    assert rows[0]["time_s"] == by_id[rows[0]["trial_id"]]["time_total_s"]
    if target == "run/cache":  # the cache alone: the metric from its columns, the mode not said
        assert {r["source"] for r in rows} == {"legacy run/cache"}
        assert warnings == ["Warning: run/cache: the file does not say min or max; sorted for min (use --mode max)"]
    else:
        assert {r["source"] for r in rows} == {"legacy run"}
        assert warnings == []


def test_every_export_of_a_1x_run(tmp_path):
    _run_folder(tmp_path)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    args = ["run", "--to_csv", "--to_json", "--summary", "--to_html", "--to_pcp", "--plot", "timeline"]
    done = run_cli("report", *args, "--to_mlflow", "--mlflow-uri", uri, "-o", "r", "--analyze")
    assert done.exit_code == 0, done.output
    assert "6 trials (6 terminated; 6 legacy)" in done.stdout and "legacy run" in done.stdout
    summary = json.loads(Path("r_summary.json").read_text())
    assert summary["metric"] == "loss" and summary["mode"] == "min" and summary["trials"] == 6
    assert summary["best"]["value"] == METADATA["best_metric_score"]
    assert summary["best"]["config"] == {k: pytest.approx(v) for k, v in METADATA["best_config"].items()}
    assert {i["parameter"] for i in summary["importance"]} == {"height", "width"}
    lines = Path("r.csv").read_text().splitlines()
    assert lines[0] == "height,width,loss,status,source" and len(lines) == 7
    assert len(json.loads(Path("r.json").read_text())) == 6
    for page in ("r.html", "r_pcp.html", "r_timeline.html"):
        assert "plotly" in Path(page).read_text().lower()
    assert "legacy_project" in Path("r.html").read_text()  # the title: the 1.x project's name
    mlflow = pytest.importorskip("mlflow")
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(METADATA["project_name"])
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(children) == 6 and {r.data.tags["kind"] for r in children} == {"legacy"}
    assert sorted(r.data.metrics["loss"] for r in children) == pytest.approx([r["loss"] for r in ROWS])
    again = run_cli("report", "run", "--add", "run/cache", "--to_mlflow", "--mlflow-uri", uri, "-q")
    assert again.exit_code == 0 and "0 runs added, 6 already there" in again.output, again.output


def _metadata(tmp_path: Path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return name


def test_a_failed_trial_is_an_error_row_after_the_others(tmp_path):
    data = json.loads(json.dumps(METADATA))
    data["result"]["6"] = {"time_s": 0.5, "height": 3.0, "width": 4.0, "loss": float("nan"), "timestamp": 1796329504}
    data["result"]["7"] = {"time_s": 0.1, "height": 5.0, "width": 6.0, "timestamp": 1796329504}  # no metric
    rows, warnings = _rows(_metadata(tmp_path, "m.json", data), "--extra", "trial_id")
    assert warnings == [] and len(rows) == 8
    assert [r["status"] for r in rows] == ["terminated"] * 6 + ["error"] * 2
    assert [r["loss"] for r in rows[6:]] == [None, None] and {r["trial_id"] for r in rows[6:]} == {"6", "7"}
    assert rows[0]["loss"] == METADATA["best_metric_score"]


def test_bad_records_are_skipped_with_one_warning_per_file(tmp_path):
    folder = _run_folder(tmp_path)
    data = json.loads(json.dumps(METADATA))
    data["result"]["1"] = [1, 2]
    data["result"]["2"]["loss"] = "not a number"
    data["mode"] = "sideways"
    (folder / "userJobMetadata.json").write_text(json.dumps(data))
    rows, warnings = _rows("run/userJobMetadata.json", "--extra", "trial_id")
    assert sorted(r["trial_id"] for r in rows) == ["0", "3", "4", "5"]
    unsorted, line = warnings  # the mode is not usable: sorted for min, said once; the bad rows, once
    assert (
        unsorted
        == "Warning: run/userJobMetadata.json: the file does not say min or max; sorted for min (use --mode max)"
    )
    assert line.startswith("Warning: run/userJobMetadata.json result[1]: 2 bad trial records skipped (first: ")
    assert "is not a JSON object" in line and "fields ignored: mode 'sideways' is not usable" in line
    # in the run folder: a cache file cut short and one without a config are skipped, one warning
    cache = sorted((folder / "cache").glob("*.json"))
    cache[0].write_text(cache[0].read_text()[:40])
    cache[1].write_text(json.dumps({"trial_id": "x", "loss": 1.0}))
    rows, warnings = _rows("run", "--mode", "min", "--extra", "trial_id")
    assert len(rows) == 5  # 4 cached trials; the metadata's rows 1 and 2 are bad; its row 0 (cache cut short)
    assert len(warnings) == 2 and all(w.startswith("Warning: run/") for w in warnings)
    (cached,) = [w for w in warnings if w.startswith("Warning: run/cache/")]
    assert f"run/cache/{cache[0].name}: 2 bad trial records skipped (first: not JSON" in cached
    assert rows[0]["trial_id"] == "0" and rows[0]["loss"] == METADATA["best_metric_score"]


def test_partial_files_say_so_in_one_line(tmp_path):
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / "userJobMetadata.json").write_text("{}")  # a 1.x job killed before its results
    assert "holds no trials: {} is what an hpogrid 1.x job writes when it starts" in _fails(
        "started/userJobMetadata.json"
    )
    assert "started: holds no trials of hpogrid 1.x" in _fails("started")
    shutil.copytree(FIXTURE / "cache", tmp_path / "started" / "cache")  # {} and a cache: the cache's trials
    rows, _ = _rows("started", "--mode", "min", "--extra", "kind")
    _same_trials(rows)
    # a cache of several metrics and no metadata: which is the metric cannot be told
    (tmp_path / "two").mkdir()
    for name, data in CACHE.items():
        (tmp_path / "two" / name).write_text(json.dumps({**data, "accuracy": 0.5}))
    line = _fails("two")
    assert "cannot tell which of loss, accuracy is the metric" in line and "--add" in line, line


def test_several_jobs_in_one_file(tmp_path):
    other = json.loads(json.dumps(METADATA))
    other["result"] = {"0": {**METADATA["result"]["0"], "height": 14.0, "loss": -1.0}}
    rows, warnings = _rows(_metadata(tmp_path, "jobs.json", [METADATA, other]), "--extra", "jobid")
    assert warnings == [] and len(rows) == 7 and rows[0]["loss"] == -1.0
    assert rows[0]["source"] == "legacy jobs.json job 1" and {r["jobid"] for r in rows[1:]} == {0}
    # what 1.3.3's `report_grid --summary` wrote: the project's names, metric and mode, then its jobs
    summary = {k: METADATA[k] for k in ("project_name", "hyperparameters", "metric", "mode")}
    summary["jobs"] = [
        {**{k: job[k] for k in ("start_datetime", "start_timestamp", "end_datetime", "task_time_s", "best_config")},
         "result": job["result"], "taskid": 41000000 + n, "site": "ANALY_TEST"}
        for n, job in enumerate([METADATA, other])
    ]  # fmt: skip
    rows, warnings = _rows(_metadata(tmp_path, "hpo_result_summary.json", summary), "--extra", "taskid,site,kind")
    assert warnings == [] and len(rows) == 7 and rows[0]["taskid"] == 41000001
    assert {r["taskid"] for r in rows[1:]} == {41000000} and {r["site"] for r in rows} == {"ANALY_TEST"}
    assert rows[0]["source"] == "legacy task 41000001 job 1" and {r["kind"] for r in rows} == {"legacy"}
    # a job's metadata as 1.x's tasks listing held it (bigpanda's metastruct: {PandaID: {"user_job_metadata"}})
    rows, _ = _rows(_metadata(tmp_path, "meta.json", {"4242": {"user_job_metadata": METADATA}}), "--extra", "jobid")
    assert len(rows) == 6 and {r["jobid"] for r in rows} == {4242}


OBJECTIVE = """
def f(config, reporter):
    reporter(loss=(config["height"] - 14) ** 2 - abs(config["width"] - 3), accuracy=0.5)
"""
SPACE = {
    "height": {"method": "uniform", "dimension": {"low": -100, "high": 100}},
    "width": {"method": "uniform", "dimension": {"low": 0, "high": 20}},
}


def test_a_project_beside_its_1x_results(ray_session, tmp_path):
    from hpogrid.local.runner import RunOptions, run
    from tests.test_local_run import make_project

    project = make_project(tmp_path, "legacy_project", OBJECTIVE, "f", {"num_trials": 3, "seed": 5}, space=SPACE)
    result = run(project, RunOptions(quiet=True))
    _run_folder(tmp_path)
    rows, warnings = _rows("legacy_project", "--add", "run", "--extra", "kind,trial_id")
    assert warnings == [] and len(rows) == 9
    assert sorted(r["kind"] for r in rows) == ["legacy"] * 6 + ["local"] * 3
    ours = sorted(r.trial_id for r in result.records)
    assert sorted(r["trial_id"] for r in rows if r["kind"] == "local") == ours
    best = min([*ROWS, *(r.to_json() | {"loss": r.value} for r in result.records)], key=lambda r: r["loss"])
    assert rows[0]["loss"] == pytest.approx(best["loss"])
    assert [r["loss"] for r in rows] == sorted(r["loss"] for r in rows)
    # the 1.x run is a group of its own: a colour of the plots, its lane of the timeline, a row of --runs
    run_id = result.run_dir.name
    page = run_cli("report", "legacy_project", "--add", "run", "--to_html", "-o", "page", "-q")
    assert page.exit_code == 0, page.output
    figures, _ = figures_of(tmp_path / "page.html")
    assert sorted(t["name"] for t in figures["hg-history"]["data"]) == ["best so far", "legacy run", f"run {run_id}"]
    assert sorted(t["name"] for t in figures["hg-edf"]["data"]) == ["legacy run (6)", f"run {run_id} (3)"]
    lanes = [y for t in figures["hg-timeline"]["data"] for y in t["y"]]
    assert len(lanes) == 9 and sum(lane.split(" #")[0] == "legacy run" for lane in lanes) == 6  # #N: in parallel
    by_run = run_cli("report", "legacy_project", "--add", "run", "--runs")
    assert by_run.exit_code == 0, by_run.output
    listed = [line.split()[:2] for line in by_run.stdout.splitlines()[2:]]
    best_first = ["legacy", "run"] if min(r["loss"] for r in ROWS) < min(ours_values(result)) else ["local", run_id]
    assert sorted(map(tuple, listed)) == [("legacy", "run"), ("local", run_id)] and listed[0] == best_first
    # a 1.x run of another metric that reported this one: shown by this one, its own as an extra metric
    other = json.loads(json.dumps(METADATA))
    other["metric"] = "score"
    for row in other["result"].values():
        row["score"] = -row["loss"]
    _metadata(tmp_path, "score.json", other)
    rows, warnings = _rows("legacy_project", "--source", "local", "--add", "score.json", "--extra", "kind")
    assert len(rows) == 9 and {r["score"] for r in rows if r["kind"] == "local"} == {None}
    assert all(r["score"] == -r["loss"] for r in rows if r["kind"] == "legacy")
    assert warnings == ["Warning: score.json: optimized 'score'; shown as trials of 'loss' (its value where they "
                        "reported one), 'score' as an extra metric"]  # fmt: skip
    # and one that did not report it: left out, said once
    for row in other["result"].values():
        row.pop("loss")
    _metadata(tmp_path, "score.json", other)
    rows, warnings = _rows("legacy_project", "--source", "local", "--add", "score.json")
    assert len(rows) == 3 and warnings == [
        "Warning: legacy score.json: 6 trials of metric 'score' without a value of 'loss' left out"
    ]
    # a 1.x cache folder of two metrics: the project's tells which
    (tmp_path / "two").mkdir()
    for name, data in CACHE.items():
        (tmp_path / "two" / name).write_text(json.dumps({**data, "accuracy": 0.5}))
    rows, warnings = _rows("legacy_project", "--source", "local", "--add", "two", "--extra", "kind")
    assert len(rows) == 9 and warnings == [] and {r["accuracy"] for r in rows} == {0.5}


def ours_values(result) -> list[float]:
    return [r.value for r in result.records]


def test_a_1x_job_of_a_grid_task(tmp_path, panda):
    """A task whose job wrote hpogrid 1.3.3's userJobMetadata.json (real panda-client, local PanDA-compatible
    server): its trials are the task's, of kind legacy, from the server and from the report's cache; and in
    the file `tasks show --metadata --output` writes."""
    from tests.test_grid import grid_project
    from tests.test_report_grid import _submit

    grid_project(tmp_path, num_trials=2)
    task_id = _submit("run", "g", "--n_jobs", "2", "--site", "ANALY_TEST_GPU")
    assert panda.state.wait(task_id).status == "done"
    with panda.state.lock:
        ours, old = sorted(panda.state.tasks[task_id].jobs, key=lambda j: j.panda_id)
        old.metadata = json.loads(json.dumps(METADATA))
        today = sorted(t["value"] for t in ours.metadata["trials"])  # the job of today: its trials
    for _ in ("from the server", "from the cache"):
        rows, warnings = _rows("g", "--extra", "kind,taskid,jobid,site,task_time_s")
        assert warnings == [] and len(rows) == 6 + len(today) and today
        legacy = [r for r in rows if r["kind"] == "legacy"]
        assert [r["loss"] for r in legacy] == [r["loss"] for r in ROWS]
        assert {(r["taskid"], r["jobid"], r["site"]) for r in rows} == {
            (task_id, ours.panda_id, "ANALY_TEST_GPU"),
            (task_id, old.panda_id, "ANALY_TEST_GPU"),
        }
        assert {r["source"] for r in legacy} == {f"legacy task {task_id} job {old.panda_id}"}
        assert {r["task_time_s"] for r in legacy} == {METADATA["task_time_s"]}
        grid = [r for r in rows if r["kind"] == "grid"]
        assert sorted(r["loss"] for r in grid) == pytest.approx(today) and {r["height"] for r in grid} == {None}
        assert all(r["height"] is not None and r["x"] is None for r in legacy)  # the 1.x names are columns too
    # in the plots the 1.x job's trials are the task's own group, and the job its own timeline lane
    page = run_cli("report", "g", "--to_html", "-o", "page", "-q")
    assert page.exit_code == 0, page.output
    figures, _ = figures_of(tmp_path / "page.html")
    groups = sorted(t["name"] for t in figures["hg-history"]["data"])
    assert groups == ["best so far", f"legacy task {task_id}", f"task {task_id}"]
    lanes = {y.split(" #")[0] for t in figures["hg-timeline"]["data"] for y in t["y"]}  # #N: trials in parallel
    assert lanes == {f"legacy task {task_id} job {old.panda_id}", f"task {task_id} job {ours.panda_id}"}
    shown = run_cli("tasks", "show", "--jeditaskid", str(task_id), "--metadata", "--output", "tasks.json")
    assert shown.exit_code == 0, shown.output
    rows, warnings = _rows("tasks.json", "--extra", "kind,jobid")
    assert warnings == [] and sorted(r["kind"] for r in rows) == ["grid"] * len(today) + ["legacy"] * 6
    assert {r["jobid"] for r in rows if r["kind"] == "legacy"} == {old.panda_id}
