"""hpogrid's grid side end to end: the real panda-client against the local PanDA-compatible server
(tests/panda_server.py), which runs every job's payload in a subprocess as a grid site would."""

from __future__ import annotations

import json
import re

import pytest

from hpogrid.grid.gateway import Gateway
from tests.conftest import run_cli
from tests.test_local_run import make_project

pytestmark = pytest.mark.usefixtures("panda")

OBJECTIVE = """
def f(config, reporter):
    reporter(loss=(config["x"] - 0.3) ** 2, c=config["c"], note=config["note"])
"""
SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b", "c"], "grid_search": 1}},
}
NASTY = 'it\'s "$(touch PWNED)"; `touch PWNED2`; echo done'


def grid_project(tmp_path, name="g", num_trials=6, **hpo):
    return make_project(
        tmp_path,
        name,
        OBJECTIVE,
        "f",
        {"num_trials": num_trials, "max_concurrent": 1, **hpo},
        space=SPACE,
        param={"note": NASTY},
    )


def submitted_id(output: str) -> int:
    found = re.search(r"Submitted task (\d+)", output)
    assert found, output
    return int(found.group(1))


def test_run_is_one_task_whose_jobs_share_the_search(tmp_path, panda):
    project = grid_project(tmp_path)
    result = run_cli("run", "g", "--n_jobs", "3", "--site", "ANALY_TEST_GPU")
    assert result.exit_code == 0, result.output
    task_id = submitted_id(result.stdout)
    assert len(panda.state.tasks) == 1  # one task, not one per job

    shown = run_cli("tasks", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert [row["jeditaskid"] for row in json.loads(shown.stdout)] == [task_id]

    task = panda.state.wait(task_id)
    assert task.status == "done", [
        (j.seq, j.status, (j.workdir / "payload.stdout").read_text()[-2000:]) for j in task.jobs
    ]
    params = task.params
    assert params["nEvents"] == 3 and params["architecture"] == "&nvidia" and params["site"] == "ANALY_TEST_GPU"

    shown = run_cli("tasks", "show", "--jeditaskid", str(task_id), "--metadata", "--json")
    (row,) = json.loads(shown.stdout)
    assert row["status"] == "done"
    metadata = row["metastruct"]
    assert len(metadata) == 3
    trials = [t for meta in metadata.values() for t in meta["trials"]]
    assert len(trials) == 6
    # the grid of 3 categories, twice, dealt out over 3 jobs: no point twice, every category twice
    points = [json.dumps(t["config"], sort_keys=True) for t in trials]
    assert len(set(points)) == 6
    assert sorted(t["config"]["c"] for t in trials) == ["a", "a", "b", "b", "c", "c"]
    assert sorted(m["job"]["index"] for m in metadata.values()) == [0, 1, 2]
    assert {m["job"]["task"] for m in metadata.values()} == {task_id}

    # a config value with quotes, $(...), backquotes and ; reached the trial intact and unexecuted
    for job in task.jobs:
        records = [json.loads(line) for line in (job.workdir / _trials_output(job.workdir)).read_text().splitlines()]
        assert {r["last_result"]["note"] for r in records} == {NASTY}
        assert not (job.workdir / "PWNED").exists() and not (job.workdir / "PWNED2").exists()

    # the submission is remembered in the project
    lines = (project.path / "grid" / "submissions.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["task_id"] == task_id


def finished_trials(workdir) -> int:
    return sum(len(p.read_text().splitlines()) for p in workdir.glob("projects/*/runs/*/trials.jsonl"))


def _trials_output(workdir):
    (name,) = [p.name for p in workdir.iterdir() if p.name.endswith(".hpogrid_trials.jsonl")]
    return name


def test_dry_run_prints_the_task_and_submits_nothing(tmp_path, panda):
    grid_project(tmp_path)
    result = run_cli("run", "g", "--n_jobs", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["task_parameters"]["nEvents"] == 2
    assert "job_run g --seq %RNDM:0 --n-jobs 2" in plan["payload"]
    assert "projects/g/project.json" in plan["sandbox"]
    assert panda.state.requests == [] and not panda.state.tasks


def test_kill_and_retry(tmp_path, panda):
    grid_project(tmp_path, num_trials=2)
    panda.state.faults.fail_seq = {2}
    result = run_cli("run", "g", "--n_jobs", "2")  # grid_config.retry is off: no automatic retry
    task_id = submitted_id(result.stdout)
    task = panda.state.wait(task_id)
    assert task.status == "finished"  # one job of two failed
    assert run_cli("tasks", "kill", str(task_id)).exit_code == 2  # a finished task cannot be killed

    retried = run_cli("tasks", "retry", str(task_id))
    assert retried.exit_code == 0, retried.output
    assert "retry is registered" in retried.stdout
    assert panda.state.wait(task_id).status == "done"
    refused = run_cli("tasks", "retry", str(task_id))
    assert refused.exit_code == 2 and "rejected" in refused.stderr

    panda.state.faults.preempt_after = 60.0
    panda.state.faults.preempt_seq = {1}
    again = submitted_id(run_cli("run", "g", "--n_jobs", "1").stdout)
    killed = run_cli("tasks", "kill", str(again))
    assert killed.exit_code == 0, killed.output
    assert panda.state.wait(again).status == "aborted"


def test_missing_credentials_is_a_clear_error(tmp_path, panda, monkeypatch):
    grid_project(tmp_path)
    monkeypatch.delenv("PANDA_AUTH_ID_TOKEN")
    result = run_cli("tasks", "show")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no OIDC token" in line and "PANDA_AUTH_ID_TOKEN" in line
    monkeypatch.delenv("PANDA_AUTH")
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "no-proxy"))
    result = run_cli("run", "g")
    assert result.exit_code == 2 and "voms-proxy-init" in result.stderr
    assert not panda.state.tasks


@pytest.mark.parametrize("kind", ["5xx", "drop", "garbage", "lost", "timeout"])
def test_faults_on_submit_never_make_a_second_task(tmp_path, panda, kind, monkeypatch):
    grid_project(tmp_path, num_trials=1)
    panda.state.faults.http["task/submit"] = [kind]
    monkeypatch.setenv("HPOGRID_GRID_TIMEOUT", "1.5")  # the server answers this one after 5 s
    result = run_cli("run", "g")
    assert result.exit_code == 0, result.output
    assert len(panda.state.tasks) == 1
    assert submitted_id(result.stdout) == next(iter(panda.state.tasks))


def test_a_server_that_keeps_failing_gives_one_clear_line(tmp_path, panda):
    panda.state.faults.http["task/get_tasks_detailed_info_since"] = ["5xx"] * 10
    result = run_cli("tasks", "show")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "no usable reply" in line and "after 4 attempts" in line


def test_a_preempted_job_keeps_its_trials_and_is_retried(tmp_path, panda):
    slow = """
import time
def f(config, reporter):
    time.sleep(1.5)
    reporter(loss=config["x"])
"""
    # grid_config.retry on: the grid reruns a preempted job
    make_project(
        tmp_path,
        "slow",
        slow,
        "f",
        {"num_trials": 12, "max_concurrent": 1},
        space={"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}},
        grid={"retry": True},
    )
    panda.state.faults.preempt_seq = {1}
    panda.state.faults.preempt_after = lambda workdir: finished_trials(workdir) >= 2
    task_id = submitted_id(run_cli("run", "slow").stdout)
    assert "disableAutoRetry" not in panda.state.tasks[task_id].params
    task = panda.state.wait(task_id)
    (job,) = task.jobs
    first = task_dir = panda.state.root / "jobs" / f"{job.panda_id}.1"
    meta = json.loads((first / "userJobMetadata.json").read_text())
    assert meta["job_status"] == "preempted"
    assert 2 <= len(meta["trials"]) < 12  # finished trials were kept and reported
    assert len((task_dir / _trials_output(task_dir)).read_text().splitlines()) == len(meta["trials"])
    assert task.status == "done" and job.attempt == 2


@pytest.mark.parametrize("algorithm", ["hyperopt", "grid"])
def test_submit_idds_steers_and_evaluates_max_points(tmp_path, panda, algorithm):
    space = {
        "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
        "c": {
            "method": "categorical",
            "dimension": {"categories": ["a", "b", "c"], "grid_search": int(algorithm == "grid")},
        },
    }
    make_project(
        tmp_path,
        "h",
        OBJECTIVE,
        "f",
        {"num_trials": 5, "max_concurrent": 2, "algorithm": algorithm, "mode": "max", "seed": 3},
        space=space,
        param={"note": NASTY},
    )
    result = run_cli("submit_idds", "h")
    assert result.exit_code == 0, result.output
    task_id = submitted_id(result.stdout.replace("iDDS HPO task", "task"))
    task = panda.state.wait(task_id)
    assert task.status == "done", task.error
    params = task.params
    assert params["hpoWorkflow"] is True and params["hpoRequestData"]["max_points"] == 5

    points = Gateway().hyperparameters(task_id)
    assert len(points) == 5 and all(isinstance(p["loss"], float) for p in points)
    # mode max: iDDS minimizes the negative of the metric
    for p in points:
        assert p["loss"] == pytest.approx(-((p["parameters"]["x"] - 0.3) ** 2))
    assert len({json.dumps(p["parameters"], sort_keys=True) for p in points}) == 5
    if algorithm == "grid":
        assert sorted(p["parameters"]["c"] for p in points)[:3] == ["a", "a", "b"]
    metadata = Gateway().job_metadata(task_id)
    assert len(metadata) == 5 and all(m["job"]["kind"] == "idds" for m in metadata.values())


def test_sites_lists_queues_from_the_live_service(panda, monkeypatch):
    shown = run_cli("sites", "--json")
    assert shown.exit_code == 0, shown.output
    assert [r["name"] for r in json.loads(shown.stdout)] == ["ANALY_BNL_GPU_ARC", "ANALY_MANC_GPU_TEST"]
    every = json.loads(run_cli("sites", "--all", "--any-status", "--json").stdout)
    assert len(every) == 4
    named = json.loads(run_cli("sites", "--name", "analy_*manc*", "--json").stdout)
    assert [r["name"] for r in named] == ["ANALY_MANC_GPU_TEST"] and named[0]["gpu"] is True
    table = run_cli("sites")
    assert "ANALY_BNL_GPU_ARC" in table.stdout and "BNL_PROD" not in table.stdout

    monkeypatch.setenv("HPOGRID_CRIC_URL", "http://127.0.0.1:9/none")  # nothing listens there
    failed = run_cli("sites")
    assert failed.exit_code == 2
    (line,) = failed.stderr.strip().splitlines()
    assert "cannot read the grid queues from http://127.0.0.1:9/none" in line


def test_input_dataset_reaches_every_job_unpacked_and_sandbox_is_reused(tmp_path, panda):
    import tarfile

    reader = """
import os
from pathlib import Path

def f(config, reporter):
    data = Path(os.environ["HPOGRID_DATA_DIR"]) / "data" / "numbers.txt"
    reporter(loss=config["x"], total=sum(int(v) for v in data.read_text().split()))
"""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.txt").write_text("1 2 3 4")
    tarball = tmp_path / "numbers.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "data", arcname="data")
    panda.state.datasets["user.jdoe:user.jdoe.numbers.v1"] = [tarball]
    make_project(
        tmp_path,
        "d",
        reader,
        "f",
        {"num_trials": 2, "max_concurrent": 1, "extra_metrics": ["total"]},
        space={"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}},
        grid={"inDS": "user.jdoe:user.jdoe.numbers.v1"},
    )
    first = submitted_id(run_cli("run", "d", "--n_jobs", "2").stdout)
    task = panda.state.wait(first)
    assert task.status == "done"
    totals = [t["extra"]["total"] for m in Gateway().job_metadata(first).values() for t in m["trials"]]
    assert totals == [10, 10]  # each job got the whole dataset, unpacked

    second = submitted_id(run_cli("run", "d", "--n_jobs", "1").stdout)
    assert second != first
    assert panda.state.requests.count("file_server/upload_cache_file") == 1  # unchanged sandbox reused
    assert panda.state.requests.count("file_server/validate_cache_file") == 2
    panda.state.wait(second)


def test_server_answers_details_and_finish_as_panda_does(tmp_path, panda):
    """The server endpoints panda-client has for task details and finish (hpogrid's monitor needs neither)."""
    from hpogrid.grid.gateway import _client

    client = _client()
    assert client.getTaskStatus(99) == (255, None)  # not found, as the real server answers
    grid_project(tmp_path, num_trials=2)
    task_id = submitted_id(run_cli("run", "g", "--n_jobs", "2").stdout)
    status, details = client.getJediTaskDetails({"jediTaskID": task_id}, False, True)
    assert status == 0 and details["outDS"].startswith("user.jdoe.hpogrid.g.")
    assert client.finishTask(task_id) == (0, (True, 0))
    assert panda.state.wait(task_id).status in ("finished", "done")
    assert client.finishTask(task_id)[1][0] is False
