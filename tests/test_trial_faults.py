"""Trials that report the wrong thing or never end (issue 11, classes 4 and 7): a run whose trials do not
report the configured metric stops at once with one line saying how to fix the config; a metric that is
not a number fails that trial only; a trial past hpo_config.trial_timeout is ended and the run goes on."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from hpogrid.local.runner import RunOptions, run
from hpogrid.results import SUMMARY_FILE, TRIALS_FILE, Journal
from tests.conftest import PYTHON, run_cli, snapshot, subprocess_env
from tests.test_local_run import make_project

PIDS = "pids"  # a folder in the run folder where every trial notes its process id


def trials_ended(run_dir: Path, timeout: float = 15) -> None:
    """Every trial process that noted its pid in run_dir/pids has ended (Ray actors do not linger)."""
    pids = [int(p.name) for p in (run_dir / PIDS).iterdir()]
    assert pids
    deadline = time.time() + timeout
    while True:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive or time.time() > deadline:
            break
        time.sleep(0.2)
    assert not alive, f"trial processes still running: {alive}"


NOTE_PID = """
import os
from pathlib import Path

def note_pid():
    folder = Path(os.environ["HPOGRID_RUN_DIR"]) / "pids"
    folder.mkdir(exist_ok=True)
    (folder / str(os.getpid())).touch()
"""

CHECKPOINTS = """
    def save_checkpoint(self, checkpoint_dir):
        return {}

    def load_checkpoint(self, checkpoint):
        pass
"""

# -- the configured metric is not reported --------------------------------------------------------
WRONG_FUNCTION = (
    NOTE_PID
    + """
import time
import hpogrid

def train(config):
    note_pid()
    time.sleep(0.5 + config["x"])
    for epoch in range(100):
        hpogrid.report({"loss": config["x"], "accuracy": 1 - config["x"], "label": "run", "odd\\nname": 0})
        time.sleep(100)
"""
)
WRONG_CLASS = (
    NOTE_PID
    + """
import time
from ray import tune

class Train(tune.Trainable):
    def setup(self, config):
        note_pid()

    def step(self):
        time.sleep(0.5 + self.config["x"] if self.iteration == 0 else 100)
        return {"loss": self.config["x"], "accuracy": 1 - self.config["x"], "label": "run", "odd\\nname": 0}
"""
    + CHECKPOINTS
)
X = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}


@pytest.mark.parametrize(
    "source,model,max_concurrent",
    [(WRONG_FUNCTION, "train", 1), (WRONG_CLASS, "Train", 2)],  # and the function with 2 in a real process below
    ids=["function-1", "class-2"],
)
def test_an_unreported_metric_stops_the_run(ray_session, tmp_path, source, model, max_concurrent):
    hpo = {
        "metric": "val_loss",
        "extra_metrics": ["loss"],
        "num_trials": 6,
        "max_concurrent": max_concurrent,
        "scheduler": "asynchyperband",
        "algorithm": "hyperopt",
        "stop": {"training_iteration": 50},
        "seed": 1,
    }
    name = f"wrong_{model}_{max_concurrent}"
    make_project(tmp_path, name, source, model, hpo, space=X)
    began = time.time()
    result = run_cli("local_run", name, "-q")
    assert time.time() - began < 60, "the run went on after the first result"  # trials take 100 s
    assert result.exit_code == 2 and "Traceback" not in result.output and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: local_run: trial ")
    # the metrics it did report (sorted, none of Ray's own), and a command that fixes the config: the
    # project's hpo_config was given inline, so a new one, moving 'loss' out of extra_metrics
    assert (
        " reported accuracy, label, loss, odd\\nname but not the metric 'val_loss': set it with  "
        f"hpogrid hpo_config create {name}_hpo --metric loss --extra_metrics '' && "
        f"hpogrid project update {name} --hpo_config {name}_hpo  (or report 'val_loss' from the training script)"
    ) in line
    [run_dir] = (tmp_path / "hpogrid-base" / "projects" / name / "runs").iterdir()
    trials_ended(run_dir)
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    assert summary["status"] == "failed" and summary["error"] in line
    # the trial that reported first is the run's one record: failed, with no value
    [record] = Journal(run_dir).records()
    assert record.status == "error" and record.value is None and record.trial_id in line
    assert "reported accuracy, label, loss, odd\\nname but not the metric 'val_loss'" in record.error
    assert summary["counts"] == {"terminated": 0, "early_stopped": 0, "error": 1}

    again = run_cli("local_run", name, "--resume", "-q")
    assert again.exit_code == 2 and len(again.stderr.splitlines()) == 1
    assert f"the last run of project '{name}' ({run_dir.name}) failed and cannot be resumed" in again.stderr
    assert f"start a new run with  hpogrid local_run {name} " in again.stderr


def test_an_unreported_metric_in_a_real_process(tmp_path, base, hpogrid):
    """The same as `hpogrid local_run` in a shell: one line on stderr, nothing of Ray's, exit 2; the
    fix names the saved hpo_config the project was made from."""
    (tmp_path / "wrong.py").write_text(WRONG_FUNCTION)
    (tmp_path / "x.json").write_text(json.dumps(X))
    hpogrid("hpo_config", "create", "h", "--metric", "val_loss", "--num_trials", "4", "--max_concurrent", "2")
    hpogrid("model_config", "create", "m", "--script", "wrong.py", "--model", "train")
    hpogrid("search_space", "create", "s", "x.json")
    hpogrid(
        "project",
        "create",
        "p",
        "--scripts_path",
        "wrong.py",
        "--hpo_config",
        "h",
        "--model_config",
        "m",
        "--search_space",
        "s",
    )
    done = subprocess.run(
        [PYTHON, "-m", "hpogrid", "local_run", "p", "-q"],
        env=subprocess_env(base),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    # Ray's own start-up notice aside (it prints one whenever it starts), the one line of hpogrid
    lines = [x for x in done.stderr.splitlines() if "authentication_token_setup" not in x]
    assert len(lines) == 1 and lines[0].startswith("Error: local_run: trial "), done.stderr
    assert lines[0].endswith(
        "reported accuracy, label, loss, odd\\nname but not the metric 'val_loss': set it with  hpogrid hpo_config update h "
        "--metric loss && hpogrid project update p --hpo_config h  (or report 'val_loss' from the training script)"
    )
    [run_dir] = (base / "projects" / "p" / "runs").iterdir()
    trials_ended(run_dir)


# -- a metric that is not a number ------------------------------------------------------------------
KINDS = {
    "str": ("'abc'", "metric 'loss' is a str ('abc'), not a number"),
    "none": ("None", "metric 'loss' is None, not a number"),
    "list": ("[1.0, 2.0]", "metric 'loss' is a list ([1.0, 2.0]), not a number"),
    "dict": ("{'a': 1.0}", "metric 'loss' is a dict ({'a': 1.0}), not a number"),
    "bool": ("True", "metric 'loss' is a bool (True), not a number"),
    "bytes": ("b'\\x00' * 100", "metric 'loss' is a bytes (b'\\x00\\x00"),
    "stop": ("0.5", "stop criterion 'acc' is a str ('high'), not a number"),
    "nan": ("float('nan')", None),  # a number: recorded as null, the trial as it ended
    "inf": ("float('inf')", None),
    "ok": ("0.25", None),
}
KIND_SPACE = {"kind": {"method": "categorical", "dimension": {"categories": sorted(KINDS)}}}
VALUES = "VALUES = {" + ", ".join(f"{k!r}: {v}" for k, (v, _) in KINDS.items()) + "}\n"
BAD_FUNCTION = (
    VALUES
    + """
import hpogrid
from ray import tune

def train(config):
    kind = config["kind"]
    acc = "high" if kind == "stop" else 0.5
    if kind in ("str", "list"):  # Ray's own report, as well as hpogrid's
        tune.report({"loss": VALUES[kind], "acc": acc})
    else:
        hpogrid.report(loss=VALUES[kind], acc=acc)
"""
)
BAD_CLASS = (
    VALUES
    + """
from ray import tune

class Train(tune.Trainable):
    def step(self):
        kind = self.config["kind"]
        if self.iteration == 0:
            return {"loss": 1.0, "acc": 0.5}  # a good first result
        return {"loss": VALUES[kind], "acc": "high" if kind == "stop" else 0.5}
"""
    + CHECKPOINTS
)


@pytest.mark.parametrize(
    "source,model,kinds",
    [(BAD_FUNCTION, "train", list(KINDS)), (BAD_CLASS, "Train", ["str", "dict", "stop", "nan", "ok"])],
    ids=["function", "class"],
)
def test_a_metric_that_is_not_a_number_fails_that_trial(ray_session, tmp_path, source, model, kinds):
    """Each kind of value in a trial of its own (search points); hyperopt and ASHA get the good results."""
    hpo = {
        "algorithm": "hyperopt",
        "num_trials": len(kinds),
        "max_concurrent": 3,
        "stop": {"training_iteration": 2, "acc": 1},
        "scheduler": "asynchyperband",
        "scheduler_param": {"grace_period": 2},
        "seed": 1,
    }
    project = make_project(tmp_path, f"bad_{model}", source, model, hpo, space=KIND_SPACE)
    result = run(project, RunOptions(quiet=True, search_points=[{"kind": kind} for kind in kinds]))
    records = {r.config["kind"]: r for r in result.records}
    assert sorted(records) == sorted(kinds), "the run did not go on with every trial"
    for kind in kinds:
        record, reason = records[kind], KINDS[kind][1]
        if reason is None:
            assert record.status == "terminated" and record.error is None, record
        else:
            assert record.status == "error" and reason in record.error, record
            # never recorded as the trial's value: nothing, or the good first result of the class
            assert record.value == (1.0 if model == "Train" else None), record
    assert records["ok"].value == 0.25
    lines = {json.loads(line)["config"]["kind"]: json.loads(line) for line in (result.run_dir / TRIALS_FILE).open()}
    assert lines["nan"]["value"] is None and lines.get("inf", {"value": None})["value"] is None  # strict JSON: null
    assert result.summary["status"] == "finished" and result.summary["best"]["value"] == 0.25
    assert result.summary["counts"]["error"] == sum(KINDS[k][1] is not None for k in kinds)


# -- trials that never end ----------------------------------------------------------------------------
HANGING_FUNCTION = (
    NOTE_PID
    + """
import time
import hpogrid

def train(config):
    note_pid()
    if config["kind"] == "hang":
        time.sleep(10**6)  # never reports
    hpogrid.report(loss=1.0)
"""
)
HANGING_CLASS = (
    NOTE_PID
    + """
import re
from ray import tune

class Train(tune.Trainable):
    def setup(self, config):
        note_pid()

    def step(self):
        if self.config["kind"] == "hang":  # stuck in C code, holding the GIL: exponential backtracking
            re.match(r"(a+)+$", "a" * 64 + "b")
        return {"loss": 1.0}
"""
    + CHECKPOINTS
)


@pytest.mark.parametrize(
    "source,model,kinds,max_concurrent",
    [
        (HANGING_FUNCTION, "train", ["hang", "ok1", "ok2", "ok3"], 2),
        (HANGING_CLASS, "Train", ["hang", "ok1", "ok2"], 1),
    ],
    ids=["function-never-reports", "class-stuck-in-c-code"],
)
def test_a_trial_past_its_timeout_is_ended(ray_session, tmp_path, source, model, kinds, max_concurrent):
    space = {"kind": {"method": "categorical", "dimension": {"categories": kinds, "grid_search": 1}}}
    hpo = {"algorithm": "grid", "num_trials": len(kinds), "max_concurrent": max_concurrent, "trial_timeout": 2}
    project = make_project(tmp_path, f"hang_{model}", source, model, hpo, space=space)
    began = time.time()
    result = run(project, RunOptions(quiet=True))
    hanging = [k for k in kinds if k.startswith("hang")]
    # the hanging trials (10**6 s) ended within seconds of their limit, one after the other with max_concurrent 1
    assert time.time() - began < 30 + 10 * len(hanging)
    records = {r.config["kind"]: r for r in result.records}
    assert sorted(records) == sorted(kinds)
    for kind, record in records.items():
        if kind in hanging:
            assert record.status == "error" and "trial exceeded trial_timeout of 2 s" in record.error, record
            assert record.value is None
        else:
            assert record.status == "terminated" and record.value == 1.0, record
    assert records["hang"].duration_s < 8, records["hang"]
    assert result.summary["status"] == "finished"
    assert result.summary["counts"] == {
        "terminated": len(kinds) - len(hanging),
        "early_stopped": 0,
        "error": len(hanging),
    }
    trials_ended(result.run_dir)


def hanging_start(where: str, reuse: bool = True) -> str:
    """A Trainable whose setup() (run as Ray makes the trial's actor: the trial is not RUNNING yet) or
    reset_config() (a reused actor's setup for its next trial) sleeps forever for kind 'hang', 6 s for 'slow'.
    reuse False: the class opts out of actor reuse."""
    reset = """
    def reset_config(self, new_config):
        time.sleep(HANG.get(new_config["kind"], 0))
        return True
"""
    return (
        NOTE_PID
        + f"""
import time
from ray import tune

HANG = {{"hang": 10**6, "slow": 6}}

class Train(tune.Trainable):
    hpogrid_reuse_actor = {reuse}

    def setup(self, config):
        note_pid()
        time.sleep(HANG.get(config["kind"], 0) if {where == "setup"} else 0)
{reset if where == "reset_config" else ""}
    def step(self):
        return {{"loss": 1.0}}
"""
        + CHECKPOINTS
    )


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError in the main thread) instead of hanging when the block takes too long."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "where,kinds,max_concurrent,reuse,shown",
    # a Trainable's actors are reused: with max_concurrent 1, every trial after the first starts by a reset
    # of the same actor: its own reset_config(), or hpogrid's reset, which runs its setup() again. (With
    # reuse, Ray also moves a trial whose new actor is still starting to an actor that became free.)
    [
        ("setup", ["hang", "slow", "ok"], 2, False, "setup"),
        ("reset_config", ["ok1", "hang", "slow", "ok2"], 1, True, "reset_config"),
        ("setup", ["ok1", "hang", "ok2"], 1, True, "reset_config"),
    ],
    ids=["setup", "reset_config", "setup-in-a-reused-actor"],
)
def test_a_trial_whose_start_never_returns_is_ended(ray_session, tmp_path, where, kinds, max_concurrent, reuse, shown):
    """A trial stuck in its setup() or reset_config() is ended, with its actor, after trial_timeout plus
    the start-up allowance (30 s here), from when its start began; one slower than trial_timeout alone is
    not, and the next trials run."""
    space = {"kind": {"method": "categorical", "dimension": {"categories": kinds, "grid_search": 1}}}
    hpo = {"algorithm": "grid", "num_trials": len(kinds), "max_concurrent": max_concurrent, "trial_timeout": 3}
    hpo["stop"] = {"training_iteration": 2}
    project = make_project(tmp_path, f"hang_{where}", hanging_start(where, reuse), "Train", hpo, space=space)
    limit = 3 + 30  # trial_timeout + max(30 s, trial_timeout)
    began = time.time()
    with time_limit(150):
        result = run(project, RunOptions(quiet=True))
    assert limit < time.time() - began < limit + 60
    records = {r.config["kind"]: r for r in result.records}
    assert sorted(records) == sorted(kinds), "the run did not go on with every trial"
    assert records["hang"].status == "error" and records["hang"].value is None, records["hang"]
    assert f"trial exceeded trial_timeout of 3 s (in {shown})" in records["hang"].error
    for kind in set(kinds) - {"hang"}:
        assert records[kind].status == "terminated" and records[kind].value == 1.0, records[kind]
    assert result.summary["status"] == "finished"
    assert result.summary["counts"] == {"terminated": len(kinds) - 1, "early_stopped": 0, "error": 1}
    trials_ended(result.run_dir)  # the worker stuck in its start too


def test_the_clock_of_a_trial_sums_its_running_times_and_restarts_on_a_retry():
    from hpogrid.local.controller import TrialClock

    now = [0.0]
    clock = TrialClock(lambda: now[0])
    assert clock.tick([("a", 0)]) == {("a", 0): 0.0}
    now[0] = 3.0
    assert clock.tick([("a", 0), ("b", 0)]) == {("a", 0): 3.0, ("b", 0): 0.0}
    now[0] = 5.0
    assert clock.tick([("b", 0)]) == {("b", 0): 2.0}  # a paused
    now[0] = 9.0
    assert clock.tick([("a", 0), ("b", 1)]) == {("a", 0): 5.0, ("b", 1): 0.0}  # a resumed; b retried
    now[0] = 10.0
    assert clock.tick([("a", 0), ("b", 1)]) == {("a", 0): 6.0, ("b", 1): 1.0}


# -- the option ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,shown",
    [
        ("0", "got 0"),
        ("-1", "got -1"),
        ("-0.5", "got -0.5"),
        ("abc", "got 'abc'"),
        ("nan", "got NaN"),
        ("inf", "got Infinity"),
        ("1e9", "got 1000000000.0"),
        ("1e400", "got Infinity"),
        ("31622401", "got 31622401"),
        ("true", "got 'true'"),
        ("[5]", "got '[5]'"),
    ],
)
def test_trial_timeout_must_be_a_positive_number_of_seconds(base, value, shown):
    before = snapshot(base)
    result = run_cli("hpo_config", "create", "h", "--trial_timeout", value)
    assert result.exit_code == 2 and "Traceback" not in result.output
    [line] = result.stderr.splitlines()
    assert f"hpo_config.trial_timeout: {shown}, expected a number > 0 and <= 31622400 or null" in line
    assert snapshot(base) == before


@pytest.mark.parametrize("value", ['"5"', "0", "-3", "true"])
def test_trial_timeout_in_a_json_file_is_checked(base, tmp_path, value):
    path = tmp_path / "h.json"
    path.write_text('{"trial_timeout": ' + value + "}")
    before = snapshot(base)
    result = run_cli("project", "create", "p", "--hpo_config", str(path), "--scripts_path", str(path))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "hpo_config.trial_timeout: got " in result.stderr and "expected a number > 0" in result.stderr
    assert snapshot(base) == before


def test_trial_timeout_is_saved_and_unset(hpogrid, base):
    hpogrid("hpo_config", "create", "h", "--trial_timeout", "2.5")
    path = base / "config" / "hpo_config" / "h.json"
    assert json.loads(path.read_text())["trial_timeout"] == 2.5
    hpogrid("hpo_config", "update", "h", "--trial-timeout", "600")
    assert json.loads(path.read_text())["trial_timeout"] == 600
    hpogrid("hpo_config", "update", "h", "--trial_timeout", "none")
    assert json.loads(path.read_text())["trial_timeout"] is None
