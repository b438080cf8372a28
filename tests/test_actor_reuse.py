"""Trainable classes share worker processes between trials (hpogrid's wrapper resets them), unless
they opt out with ``hpogrid_reuse_actor = False``; what one trial set up never reaches the next."""

from __future__ import annotations

import pytest

from hpogrid.local.runner import RunOptions, run
from hpogrid.local.trainable import trial_log
from tests.test_local_run import make_project

SPACE = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}
# setup() notes whether the last trial's attributes are still there; cleanup() leaves a mark per trial
COUNTED = """
import os
from pathlib import Path
from ray import tune

class Counted(tune.Trainable):
    {attribute}
    def setup(self, config):
        self.leaked = int(hasattr(self, "model"))
        self.model = config["x"]
        print(f"setup of x={{config['x']!r}}", flush=True)

    def step(self):
        print(f"step of x={{self.model!r}}", flush=True)
        return {{"loss": self.model, "pid": os.getpid(), "leaked": self.leaked}}

    def cleanup(self):
        Path(self.config["marks"], f"{{self.trial_id}}.{{os.getpid()}}").touch()
    {reset}
"""
FALSE_RESET = """
    def reset_config(self, new_config):
        return False  # "cannot reset": the wrapper sets the class up afresh
"""
OWN_RESET = """
    def reset_config(self, new_config):
        self.leaked = int(hasattr(self, "model"))  # 1: the instance is the last trial's, as its class wants
        self.model = new_config["x"]
        print(f"reset to x={new_config['x']!r}", flush=True)
        return True
"""


def counted_run(tmp_path, name: str, trials: int, attribute: str = "", reset: str = ""):
    marks = tmp_path / f"marks_{name}"
    marks.mkdir()
    hpo = {"num_trials": trials, "max_concurrent": 2, "seed": 1, "extra_metrics": ["pid", "leaked"]}
    hpo["stop"] = {"training_iteration": 2}
    source = COUNTED.format(attribute=attribute, reset=reset)
    project = make_project(tmp_path, name, source, "Counted", hpo, space=SPACE, param={"marks": str(marks)})
    result = run(project, RunOptions(quiet=True))
    assert len(result.records) == trials and all(r.status == "terminated" for r in result.records)
    return result, marks


@pytest.mark.parametrize("reset", ["", FALSE_RESET], ids=["no-reset_config", "reset_config-false"])
def test_a_class_reuses_its_processes_and_starts_each_trial_afresh(ray_session, tmp_path, reset):
    result, marks = counted_run(tmp_path, "reused", 6, reset=reset)
    pids = {r.extra["pid"] for r in result.records}
    assert len(pids) < 6, "every trial had a process of its own"
    for record in result.records:
        assert record.extra["leaked"] == 0, "an attribute of the last trial's setup() was still there"
        assert record.value == record.config["x"]  # setup() ran with this trial's config
        # the trial's output went to its own log, nothing of another trial's
        log = trial_log(result.run_dir, record.trial_id).read_text()
        assert f"step of x={record.config['x']!r}" in log
        others = [r.config["x"] for r in result.records if r is not record]
        assert not any(f"of x={x!r}" in log for x in others), log
    # each trial was cleaned up, in the process it ran in
    ended = {p.name for p in marks.iterdir()}
    assert {f"{r.trial_id}.{r.extra['pid']}" for r in result.records} <= ended


def test_a_class_with_its_own_reset_config_keeps_it(ray_session, tmp_path):
    result, _ = counted_run(tmp_path, "own_reset", 4, reset=OWN_RESET)
    assert len({r.extra["pid"] for r in result.records}) < 4
    assert all(r.value == r.config["x"] for r in result.records)
    reset = [r for r in result.records if "reset to x=" in trial_log(result.run_dir, r.trial_id).read_text()]
    assert reset, "setup() ran again instead of reset_config()"
    assert all(r.extra["leaked"] == (r in reset) for r in result.records)


def test_a_class_that_opts_out_gets_a_process_per_trial(ray_session, tmp_path):
    result, _ = counted_run(tmp_path, "opted_out", 4, attribute="hpogrid_reuse_actor = False")
    assert len({r.extra["pid"] for r in result.records}) == 4
    assert all(r.extra["leaked"] == 0 and r.value == r.config["x"] for r in result.records)


FAULTY = """
from ray import tune

class Faulty(tune.Trainable):
    def setup(self, config):
        if config["x"] > 0.75:
            raise ValueError("setup fails")
        self.t = 0

    def step(self):
        self.t += 1
        if self.config["x"] < 0.25:
            raise ValueError("step fails")
        return {"loss": self.config["x"] * self.t}
"""


@pytest.mark.timeout(180)
@pytest.mark.parametrize("max_concurrent", [1, 2])
def test_failing_setup_or_step_in_a_reused_process_cannot_hang_the_run(ray_session, tmp_path, max_concurrent):
    space = {"x": {"method": "categorical", "dimension": {"categories": [0.1, 0.5, 0.9, 0.6], "grid_search": 1}}}
    hpo = {"algorithm": "grid", "num_trials": 4, "max_concurrent": max_concurrent, "stop": {"training_iteration": 3}}
    project = make_project(tmp_path, f"faulty_{max_concurrent}", FAULTY, "Faulty", hpo, space=space)
    result = run(project, RunOptions(quiet=True))
    by_x = {r.config["x"]: r for r in result.records}
    assert sorted(by_x) == [0.1, 0.5, 0.6, 0.9]
    assert "step fails" in by_x[0.1].error and "setup fails" in by_x[0.9].error
    assert by_x[0.5].status == by_x[0.6].status == "terminated" and by_x[0.6].value == pytest.approx(1.8)
