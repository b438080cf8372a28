"""The grid payload without a server: the sandbox, the job's share of a search, and --emulate."""

from __future__ import annotations

import json
import os
import re
import tarfile

import pytest

from hpogrid.grid import sandbox
from hpogrid.grid.share import job_share, planned_total
from hpogrid.project import ProjectStore
from tests.conftest import run_cli
from tests.test_local_run import make_project

OBJECTIVE = """
def f(config, reporter):
    reporter(loss=(config["x"] - 0.3) ** 2)
"""
SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "c": {"method": "categorical", "dimension": {"categories": [1, 2, 3, 4], "grid_search": 1}},
}


def test_sandbox_holds_project_and_hpogrid_but_no_credentials_or_litter(tmp_path, base):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "train.py").write_text(OBJECTIVE.replace("def f", "def train"))
    (scripts / "tokenizer.py").write_text("X = 1\n")  # a normal script that merely sounds like a secret
    secrets = ("x509up_u1000", "usercert.pem", "userkey.key", ".token", "auth_token", "id_rsa", "id_ed25519.pub")
    secrets += ("access_token", "token", "my.token", "rucio.cfg", "credentials.json", "aws_credentials", "proxy")
    for secret in secrets:
        (scripts / secret).write_text("SECRET")
    (scripts / ".git").mkdir()
    (scripts / ".git" / "config").write_text("x")
    (scripts / "__pycache__").mkdir()
    (scripts / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x")
    refs = {
        "hpo_config": {"num_trials": 2},
        "model_config": {"script": "train.py", "model": "train"},
        "search_space": {"x": SPACE["x"]},
    }
    ProjectStore().create("p", refs, scripts)
    project = ProjectStore().load("p")
    (project.path / "runs" / "old").mkdir(parents=True)
    (project.path / "runs" / "old" / "trials.jsonl").write_text("{}")

    first = sandbox.build(project, tmp_path)
    names = tarfile.open(first).getnames()
    assert "projects/p/project.json" in names and "projects/p/scripts/train.py" in names
    assert "projects/p/scripts/tokenizer.py" in names
    assert "hpogrid_pkg/hpogrid/grid/job.py" in names and "hpogrid_pkg/hpogrid/__main__.py" in names
    assert not [n for n in names if "SECRET" in n or "x509" in n or n.endswith((".pem", ".key", ".pyc"))]
    assert not [n for n in names if "/." in n or "runs/" in n or n.rpartition("/")[2] in secrets]
    for member in tarfile.open(first):
        assert b"SECRET" not in tarfile.open(first).extractfile(member).read()
    assert sorted(sandbox.credentials_left_out(project)) == sorted(s for s in secrets if not s.startswith("."))
    dry = run_cli("run", "p", "--dry-run")
    assert dry.exit_code == 0 and "Note: not packed for the grid, they look like credentials: " in dry.stderr
    # the same project gives the same bytes, so PanDA's cache can offer it for reuse, under a new name
    # every time (the cache refuses to overwrite a file it no longer offers for reuse)
    again = tmp_path / "again"
    again.mkdir()
    second = sandbox.build(project, again)
    assert second.read_bytes() == first.read_bytes() and second.name != first.name
    assert re.fullmatch(r"jobO\.[0-9a-f-]{36}\.tar\.gz", second.name)


def test_jobs_split_grid_points_and_trials_without_overlap():
    hpo = {"algorithm": "grid", "num_trials": 10, "seed": None}
    total = planned_total(SPACE, hpo)
    assert total == 12  # 10 rounded up to whole grids of 4
    shares = [job_share(SPACE, hpo, 5, i, base_seed=99) for i in range(5)]
    assert sum(s.num_trials for s in shares) == 12
    grid_values = sorted(p["c"] for s in shares for p in s.points)
    assert grid_values == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    assert len({s.hpo_config["seed"] for s in shares}) == 5
    assert all("grid_search" not in json.dumps(s.search_space) for s in shares)

    hpo = {"algorithm": "hyperopt", "num_trials": 10, "seed": 5}
    shares = [job_share(SPACE, hpo, 3, i, base_seed=5) for i in range(3)]
    assert [s.num_trials for s in shares] == [4, 3, 3] and not any(s.points for s in shares)
    assert len({s.hpo_config["seed"] for s in shares}) == 3


def test_n_jobs_beyond_the_trials_is_refused(tmp_path, base):
    make_project(tmp_path, "p", OBJECTIVE, "f", {"num_trials": 2}, space={"x": SPACE["x"]})
    result = run_cli("run", "p", "--n_jobs", "3", "--dry-run")
    assert result.exit_code == 2
    assert "--n_jobs: got 3, expected 1 to 2" in result.stderr


@pytest.mark.usefixtures("base")
def test_emulate_runs_the_exact_payload_here(tmp_path):
    make_project(tmp_path, "p", OBJECTIVE, "f", {"num_trials": 4, "max_concurrent": 1}, space=SPACE)
    result = run_cli("run", "p", "--n_jobs", "2", "--emulate")
    assert result.exit_code == 0, result.output
    assert "Emulated 2 job(s): 2 finished" in result.stdout
    (folder,) = (ProjectStore().load("p").path / "runs").glob("emulate-*")
    metadata = [json.loads((folder / f"job_{i}" / "userJobMetadata.json").read_text()) for i in (1, 2)]
    assert [m["job_status"] for m in metadata] == ["finished", "finished"]
    configs = [t["config"] for m in metadata for t in m["trials"]]
    assert sorted(c["c"] for c in configs) == [1, 2, 3, 4]  # one grid, split over two jobs
    params = json.loads((folder / "task_parameters.json").read_text())
    assert params["nEvents"] == 2


@pytest.mark.usefixtures("base")
def test_a_job_whose_trials_do_not_report_the_metric_fails_saying_why(tmp_path):
    """The job's metadata and summary say 'failed' and why, as local_run does; not 'interrupted'."""
    make_project(tmp_path, "p", OBJECTIVE, "f", {"num_trials": 2, "max_concurrent": 1, "metric": "acc"}, space=SPACE)
    result = run_cli("run", "p", "--emulate")
    assert result.exit_code == 2, result.output
    last = result.stderr.splitlines()[-1]  # after the job's own log lines
    assert last.startswith("Error: run --emulate: 1 of 1 job(s) did not finish (job 1: trial ")
    assert "reported loss but not the metric 'acc'" in last and "Traceback" not in result.stderr
    (folder,) = (ProjectStore().load("p").path / "runs").glob("emulate-*")
    metadata = json.loads((folder / "job_1" / "userJobMetadata.json").read_text())
    assert metadata["job_status"] == "failed" and metadata["status"] == "failed"
    assert "reported loss but not the metric 'acc'" in metadata["job"]["error"] == metadata["error"]


def test_without_panda_client_the_error_names_the_extra(tmp_path, base):
    import subprocess

    from tests.conftest import PYTHON, subprocess_env

    code = (
        "import sys; sys.modules['pandaclient'] = None; from hpogrid.cli import main; sys.exit(main(['tasks', 'show']))"
    )
    done = subprocess.run([PYTHON, "-c", code], env=subprocess_env(base), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'hpogrid[grid]'" in done.stderr and "Traceback" not in done.stderr


def test_a_payload_process_group_is_followed_until_it_ends():
    """The job executor waits for every process of a payload's group (read from /proc, no psutil)."""
    import subprocess

    from hpogrid.grid.jobexec import _alive_in_group

    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert _alive_in_group(process.pid) == [process.pid]
    finally:
        process.terminate()
        process.wait()
    assert _alive_in_group(process.pid) == []


def test_processes_started_while_sigusr1_is_held_do_not_die_of_it():
    """What the job does around Ray's start: Ray's processes keep SIGUSR1 blocked, the job gets it."""
    import signal
    import subprocess
    import threading
    import time

    from hpogrid.grid.job import held

    got = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    try:
        with held({signal.SIGUSR1}):
            child = subprocess.Popen(["sleep", "30"])
            # to this thread: a signal to the process may go to another thread (pytest-timeout's), not held there
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)
            assert got == []  # held: not delivered yet
        assert got == [signal.SIGUSR1]  # delivered as the block ends
        try:
            os.kill(child.pid, signal.SIGUSR1)  # the pilot's signal to every process of the job
            time.sleep(0.3)
            assert child.poll() is None  # default action (end) would have ended it
        finally:
            child.kill()
            child.wait()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_out_ds_is_new_for_every_submission(tmp_path, base):
    """Two submissions in the same second, or with an outDS template without {timestamp}, get new names."""
    import datetime as dt

    from hpogrid.grid.records import remember
    from hpogrid.grid.submit import out_ds

    make_project(tmp_path, "o", OBJECTIVE, "f", {"num_trials": 2}, space={"x": SPACE["x"]})
    project = ProjectStore().load("o")
    now = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    first = out_ds(project, "jdoe", now)
    assert first == "user.jdoe.hpogrid.o.20261201120000"
    remember(project, {"task_id": 1, "outDS": first})
    assert out_ds(project, "jdoe", now) == first + "_2"
    remember(project, {"task_id": 2, "outDS": first + "_2"})
    assert out_ds(project, "jdoe", now) == first + "_3"
    assert out_ds(project, "jdoe", now + dt.timedelta(seconds=1)) == "user.jdoe.hpogrid.o.20261201120001"
