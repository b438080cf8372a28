"""hpogrid's grid side end to end: the real panda-client against the local PanDA-compatible server
(tests/panda_server.py), which runs every job's payload in a subprocess as a grid site would."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from hpogrid.grid.gateway import Gateway
from hpogrid.project import ProjectStore
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


def ray_starting(workdir) -> bool:
    """Whether Ray's GCS server, the first process ray.init starts, runs in the job's directory."""
    from pathlib import Path

    for entry in Path("/proc").iterdir():
        try:
            if (entry / "comm").read_text().strip() == "gcs_server" and (entry / "cwd").resolve() == workdir:
                return True
        except OSError:
            continue
    return False


def _trials_output(workdir):
    (name,) = [p.name for p in workdir.iterdir() if p.name.endswith(".hpogrid_trials.jsonl")]
    return name


def test_dry_run_prints_a_summary_and_submits_nothing(tmp_path, panda):
    """The summary in words; --json the whole task as strict JSON and nothing else on stdout."""
    grid_project(tmp_path, num_trials=7)  # a grid of 3 categories, 9 trials: 5 and 4 per job
    result = run_cli("run", "g", "--n_jobs", "2", "--dry-run", "--site", "ANALY_A_GPU")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Dry run of `hpogrid run`: nothing is uploaded or submitted.\n")
    summary = dict(
        re.fullmatch(r"  (\S+(?: \S+)?) {2,}(.+)", line).groups() for line in result.stdout.splitlines()[1:-1]
    )
    assert re.fullmatch(r"user\.\S+\.hpogrid\.g\.\d{14}", summary["task"])
    assert summary["jobs"] == "2, 4 to 5 trial(s) each (9 in all)"
    assert summary["site"] == "ANALY_A_GPU" and summary["architecture"] == "&nvidia"
    assert summary["image"] == ProjectStore().load("g").grid_config["container"]
    files, size = re.fullmatch(r"(\d+) file\(s\), ([\d.]+) (?:kB|MB) before compression", summary["sandbox"]).groups()
    assert summary["left out"] == "0 file(s)" and "job_run g --seq %RNDM:0 --n-jobs 2" in summary["job command"]
    assert result.stdout.splitlines()[-1] == "Full task parameters: add --json."
    assert all(len(f"  {k}  {v}") <= 80 for k, v in summary.items() if k not in ("image", "job command"))
    assert panda.state.requests == [] and not panda.state.tasks
    result = run_cli("run", "g", "--n_jobs", "2", "--dry-run", "--json", "--site", "ANALY_A_GPU")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["task_parameters"]["nEvents"] == 2 and plan["trials_per_job"] == [5, 4]
    assert "job_run g --seq %RNDM:0 --n-jobs 2" in plan["payload"]
    assert "projects/g/project.json" in plan["sandbox"] and len(plan["sandbox"]) == int(files)
    assert float(size) > 0 and plan["sandbox_bytes"] > 0
    assert panda.state.requests == [] and not panda.state.tasks
    bad = run_cli("run", "g", "--json")
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: --json is for --dry-run")
    # prun's other options map as prun maps them (held against prun in tests/test_taskparams.py)
    more = run_cli(
        "run", "g", "--dry-run", "--json", "--excludedSite", "ANALY_X, ANALY_Y", "--nCore", "8", "--maxAttempt",
        "3", "--priority", "900", "--noEmail",
    )  # fmt: skip
    params = json.loads(more.stdout)["task_parameters"]
    assert params["excludedSite"] == ["ANALY_X", "ANALY_Y"] and params["coreCount"] == 8
    assert params["maxAttempt"] == 3 and params["currentPriority"] == 900 and params["noEmail"] is True
    assert run_cli("run", "g", "--dry-run", "--maxAttempt", "51").exit_code == 2


def test_kill_and_retry(tmp_path, panda):
    grid_project(tmp_path, num_trials=2)
    panda.state.faults.fail_seq = {2}
    result = run_cli("run", "g", "--n_jobs", "2")  # grid_config.retry is off: no automatic retry
    task_id = submitted_id(result.stdout)
    task = panda.state.wait(task_id)
    assert task.status == "finished"  # one job of two failed
    assert run_cli("tasks", "kill", str(task_id)).exit_code == 2  # a finished task cannot be killed

    retried = run_cli("tasks", "retry", str(task_id), "--new-params", '{"ramCount": 3000}')
    assert retried.exit_code == 0, retried.output
    assert "reactivation accepted" in retried.stdout and f"/task/{task_id}/" in retried.stdout
    assert panda.state.wait(task_id).status == "done"
    assert Gateway().task_params(task_id)["ramCount"] == 3000  # the retry ran with the new parameters
    refused = run_cli("tasks", "retry", str(task_id))
    assert refused.exit_code == 2 and "rejected" in refused.stderr


def test_killing_a_task_ends_its_running_job(tmp_path, panda):
    import time

    inside = tmp_path / "inside_the_trial"
    make_project(
        tmp_path,
        "slow",
        "import pathlib, time\n\ndef f(config, reporter):\n"
        f"    pathlib.Path({str(inside)!r}).touch()\n    time.sleep(120)\n    reporter(loss=config['x'])\n",
        "f",
        {"num_trials": 1, "max_concurrent": 1},
        space={"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}},
    )
    task_id = submitted_id(run_cli("run", "slow").stdout)
    deadline = time.time() + 120
    while not inside.exists():  # the kill lands inside the trial (a kill while it starts: the test below)
        assert time.time() < deadline and panda.state.tasks[task_id].status != "failed", "the trial never started"
        time.sleep(0.2)
    killed_at = time.time()
    killed = run_cli("tasks", "kill", str(task_id))
    assert killed.exit_code == 0, killed.output
    assert f"/task/{task_id}/" in killed.stdout
    task = panda.state.wait(task_id, timeout=40)
    assert task.status == "aborted" and task.jobs[0].status != "finished"
    # the pilot's SIGTERM: the job wrote its metadata, "preempted"
    assert task.jobs[0].metadata["job_status"] == "preempted"
    # the running job ended within seconds, its Ray processes too (Ray alone waits up to a minute for
    # daemons the signal ended; the trial takes 120 s)
    assert time.time() - killed_at < 40


def job_python_catches_sigterm(workdir) -> bool:
    """Whether the job's `python3 -m hpogrid job_run` runs and handles SIGTERM (SigCgt in /proc): the
    first thing it does, before it imports click, hpogrid's command line and Ray."""
    from pathlib import Path

    for entry in Path("/proc").iterdir():
        try:
            if b"job_run" in (entry / "cmdline").read_bytes() and (entry / "cwd").resolve() == workdir:
                caught = re.search(r"^SigCgt:\s*([0-9a-f]+)", (entry / "status").read_text(), re.M)
                return bool(caught and int(caught.group(1), 16) & 1 << (signal.SIGTERM - 1))
        except OSError:
            continue
    return False


def test_a_job_killed_while_python_starts_writes_its_metadata(tmp_path, panda):
    # the race a kill right after the job's start used to lose: SIGTERM while Python imports (seconds on
    # a busy node), before the job's preemption handlers exist, ended the job without userJobMetadata.json
    make_project(tmp_path, "p", OBJECTIVE, "f", {"num_trials": 2, "max_concurrent": 1}, grid={"retry": False})
    panda.state.faults.preempt_seq = {1}
    panda.state.faults.preempt_after = lambda workdir: job_python_catches_sigterm(workdir.resolve())
    task = panda.state.wait(submitted_id(run_cli("run", "p").stdout), timeout=60)
    (job,) = task.jobs
    # the job's python ended as preempted (75); the pilot sees its shell, which the signal ended
    assert "job 1 of 1: exit 75" in (job.workdir / "payload.stdout").read_text()
    assert job.status == "closed" and job.metadata["job_status"] == "preempted"
    assert job.metadata.get("trials", []) == [] and job.metadata["job"]["error"] is None
    assert not list(job.workdir.glob("projects/p/runs/*"))  # nothing was started


PREEMPTED_SLOWLY = """
import os, signal, sys, time
from hpogrid.grid.job import EXIT_PREEMPTED, Preemption, exit_now

signal.signal(signal.SIGINT, signal.SIG_IGN)  # the SIGINT Preemption raises for Ray Tune: not this sleep's end
with Preemption(lambda final: None, grace=float(sys.argv[1]), farewell="job 1 of 1: exit 75") as preemption:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(float(sys.argv[2]))  # the job's own end (its outputs' fsync on a busy disk) takes this long
exit_now(EXIT_PREEMPTED, "job 1 of 1: exit 75")
"""


@pytest.mark.parametrize(("grace", "own_end"), [(0.2, 2.0), (2.0, 0.2)])
def test_a_preempted_job_says_its_last_line_once_whoever_ends_it(tmp_path, grace, own_end):
    """The preemption deadline ends the job when the job's own end is slow (seen: a job whose outputs took
    over 3 s to write on a busy machine ended without its last line); either way the line is there once."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = subprocess.run(
        [sys.executable, "-c", PREEMPTED_SLOWLY, str(grace), str(own_end)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 75 and done.stdout == "job 1 of 1: exit 75\n", (done.stdout, done.stderr)


def test_kill_registers_and_a_lost_reply_is_no_error(panda):
    from tests.panda_server import Task

    for task_id in (301, 302):
        panda.state.tasks[task_id] = Task(task_id, {"taskName": f"user.jdoe.hpogrid.k.{task_id}/"}, "Jdoe", "running")
    killed = run_cli("tasks", "kill", "301")
    assert killed.exit_code == 0 and "task 301: kill registered" in killed.stdout
    # the kill takes effect, its reply is lost (502); the retried kill is refused: the task is being killed
    panda.state.faults.http["task/kill"] = ["lost"]
    again = run_cli("tasks", "kill", "302")
    assert again.exit_code == 0, again.output
    assert "task 302: being killed (aborted)" in again.stdout
    assert panda.state.requests.count("task/kill") == 3
    assert [panda.state.tasks[t].status for t in (301, 302)] == ["aborted", "aborted"]


def test_tasks_show_limits_the_tasks_its_filters_select(panda):
    """--limit counts the tasks that match: the server cuts its listing before hpogrid's own filters."""
    from tests.panda_server import Task

    for task_id, name, status in [
        (101, "user.jdoe.hpogrid.mnist.1/", "done"),
        (102, "user.jdoe.hpogrid.mnist.2/", "failed"),
        *[(200 + i, f"user.jdoe.other.{i}/", "done") for i in range(5)],  # newer, not matching
    ]:
        panda.state.tasks[task_id] = Task(task_id, {"taskName": name}, "Jdoe", status=status)

    def shown(*args):
        result = run_cli("tasks", "show", "--json", *args)
        assert result.exit_code == 0, result.output
        return [row["jeditaskid"] for row in json.loads(result.stdout)]

    assert shown("--limit", "1", "--taskname", "user.jdoe.hpogrid.mnist.*") == [102]
    assert shown("--limit", "2", "--range", "100-150") == [102, 101]
    assert shown("--limit", "3", "--status", "failed,done") == [204, 203, 202]
    assert shown("--status", "failed,done", "--taskname", "*mnist*") == [102, 101]
    assert shown("--status", "running") == []


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


@pytest.mark.parametrize("kind", ["5xx", "drop", "garbage"])
def test_faults_on_upload_and_metadata_are_retried(tmp_path, panda, kind):
    from tests.panda_server import Job, Task

    grid_project(tmp_path, num_trials=1)
    panda.state.faults.http["file_server/upload_cache_file"] = [kind]
    assert run_cli("run", "g", "--dry-run").exit_code == 0
    assert panda.state.requests == []  # a dry run sends nothing: the fault is still waiting
    result = run_cli("run", "g")
    assert result.exit_code == 0, result.output
    assert panda.state.requests.count("file_server/upload_cache_file") == 2 and len(panda.state.tasks) == 1

    done = Task(401, {"taskName": "user.jdoe.hpogrid.m.1/"}, "Jdoe", "done")
    done.jobs = [Job(9, 1, status="finished", metadata={"trials": [{"trial_id": "t1"}]})]
    panda.state.tasks[401] = done
    panda.state.faults.http["job/get_metadata_for_analysis_jobs"] = [kind]
    shown = run_cli("tasks", "show", "--jeditaskid", "401", "--metadata", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)[0]["metastruct"] == {"9": {"trials": [{"trial_id": "t1"}]}}


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
    panda.state.faults.preempt_signal = signal.SIGUSR1  # SIGTERM: see test_killing_a_task_ends_its_running_job
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


def test_a_job_preempted_while_ray_starts_says_so(tmp_path, panda):
    make_project(tmp_path, "p", OBJECTIVE, "f", {"num_trials": 2, "max_concurrent": 1}, grid={"retry": False})
    panda.state.faults.preempt_seq = {1}
    panda.state.faults.preempt_after = lambda workdir: ray_starting(workdir.resolve())
    task = panda.state.wait(submitted_id(run_cli("run", "p").stdout))
    (job,) = task.jobs
    assert job.status == "closed" and job.metadata["job_status"] == "preempted"
    assert job.metadata.get("trials", []) == []


@pytest.mark.parametrize("algorithm", ["hyperopt", "grid"])
def test_submit_idds_steers_and_evaluates_max_points(tmp_path, panda, algorithm):
    space = {
        "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
        "c": {
            "method": "categorical",
            "dimension": {"categories": ["a", "b", "c"], "grid_search": int(algorithm == "grid")},
        },
    }
    # every evaluation reads the whole input dataset, unpacked (it fails without it)
    reader = OBJECTIVE.replace("reporter(loss=", "assert data_total() == 10\n    reporter(loss=") + DATA_READER
    make_project(
        tmp_path,
        "h",
        reader,
        "f",
        {"num_trials": 5, "max_concurrent": 2, "algorithm": algorithm, "mode": "max", "seed": 3},
        space=space,
        param={"note": NASTY},
        grid={"inDS": numbers_dataset(tmp_path, panda)},
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


DATA_READER = """
def data_total():
    import os
    from pathlib import Path

    data = Path(os.environ["HPOGRID_DATA_DIR"]) / "data" / "numbers.txt"
    return sum(int(v) for v in data.read_text().split())
"""


def numbers_dataset(tmp_path, panda) -> str:
    """An input dataset on the server: one tarball holding data/numbers.txt (1 2 3 4)."""
    import tarfile

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "numbers.txt").write_text("1 2 3 4")
    tarball = tmp_path / "numbers.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "data", arcname="data")
    name = "user.jdoe:user.jdoe.numbers.v1"
    panda.state.datasets[name] = [tarball]
    return name


def test_input_dataset_reaches_every_job_unpacked_and_sandbox_is_reused(tmp_path, panda):
    reader = DATA_READER + 'def f(config, reporter):\n    reporter(loss=config["x"], total=data_total())\n'
    make_project(
        tmp_path,
        "d",
        reader,
        "f",
        {"num_trials": 2, "max_concurrent": 1, "extra_metrics": ["total"]},
        space={"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}},
        grid={"inDS": numbers_dataset(tmp_path, panda)},
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
