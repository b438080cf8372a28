"""Resume after `kill -9` of the driver: no finished trial lost or repeated, exactly num_trials."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil

from hpogrid.results import Journal
from tests.conftest import PYTHON, hpogrid_process, subprocess_env
from tests.test_local_run import make_project

SLOW = """
import time

def train(config, reporter):
    time.sleep(2.5)
    reporter(loss=config["x"])
"""
SPACE = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}


def end_processes(pids: list[int]) -> None:
    """End the processes this test started (the driver's Ray processes), by PID."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_resume_after_sigkill(tmp_path, base):
    project = make_project(tmp_path, "slow", SLOW, "train", {"num_trials": 16, "seed": 7}, space=SPACE)
    env = subprocess_env(base)
    driver = subprocess.Popen(
        [PYTHON, "-m", "hpogrid", "local_run", "slow", "-q"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: set[int] = set()
    runs = project.path / "runs"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            started |= {p.pid for p in psutil.Process(driver.pid).children(recursive=True)}
            journals = list(runs.glob("*/trials.jsonl"))
            if journals and len(Journal(journals[0].parent).records()) >= 3:
                break
            assert driver.poll() is None, "the run ended before it could be killed"
            time.sleep(0.2)
        else:
            raise AssertionError("no trial finished in time")
        # kill just after Ray's next experiment-state snapshot (every 10 s or so)
        seen = time.time()
        while time.time() < seen + 30:
            states = list(journals[0].parent.glob("ray/experiment_state*.json"))
            if states and max(p.stat().st_mtime for p in states) > seen:
                break
            time.sleep(0.1)
        started |= {p.pid for p in psutil.Process(driver.pid).children(recursive=True)}
        driver.kill()
        driver.wait(timeout=30)
    finally:
        end_processes(sorted(started))
        if driver.poll() is None:
            driver.kill()
    run_dir = journals[0].parent
    before = (run_dir / "trials.jsonl").read_text()
    assert 3 <= len(before.splitlines()) < 16

    done = hpogrid_process("local_run", "slow", "--resume", "-q", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "finished: 16 of 16 trials" in done.stdout
    after = (run_dir / "trials.jsonl").read_text()
    assert after.startswith(before), "records written before the kill changed"
    ids = [r.trial_id for r in Journal(run_dir).records()]
    assert len(ids) == 16 and len(set(ids)) == 16
    assert len(list(runs.iterdir())) == 1  # the same run continued
