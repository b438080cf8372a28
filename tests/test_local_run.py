"""`hpogrid local_run`: every algorithm and scheduler, both trainable APIs, seeds, search points,
failing trials and records. Trials run on one shared in-process Ray instance (ray_session)."""

from __future__ import annotations

import json
import math
import os
import textwrap
from pathlib import Path

import pytest

from hpogrid.catalog import ALGORITHMS, SCHEDULERS
from hpogrid.local.runner import RunOptions, run
from hpogrid.project import ProjectStore
from hpogrid.results import SUMMARY_FILE, TRIALS_FILE, Journal
from hpogrid.space.model import SearchSpace
from tests.conftest import run_cli

SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "n": {"method": "uniformint", "dimension": {"low": 1, "high": 4}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b"]}},
    "opt.lr": {"method": "loguniform", "dimension": {"low": 1e-4, "high": 1e-1}},
    "fixed_v": {"method": "fixed", "dimension": {"value": 7}},
}
OBJECTIVE = """
import math

def loss_of(config):
    return ((config["x"] - 0.3) ** 2 + 0.01 * config["n"] + (0.0 if config["c"] == "a" else 0.1)
            + 0.01 * abs(math.log10(config["opt"]["lr"]) + 3) + config["fixed_v"] + config.get("offset", 0))

def objective(config, reporter):
    loss = loss_of(config)
    reporter(loss=loss, aux=2 * loss)
"""
ITERATIVE = """
import json, os
from ray import tune

class Iterative(tune.Trainable):
    def setup(self, config):
        self.step_count = 0

    def step(self):
        self.step_count += 1
        return {"loss": (self.config["x"] - 0.3) ** 2 + 1.0 / self.step_count + 0.01 * self.config["n"]}

    def save_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json"), "w") as handle:
            json.dump({"step": self.step_count}, handle)

    def load_checkpoint(self, checkpoint_dir):
        with open(os.path.join(checkpoint_dir, "state.json")) as handle:
            self.step_count = json.load(handle)["step"]
"""  # no reset_config: hpogrid's wrapper resets the class when Ray reuses its process


TRIALS = 50


def loss_of(config: dict) -> float:
    namespace: dict = {}
    exec(OBJECTIVE, namespace)
    return namespace["loss_of"](config)


def make_project(tmp_path: Path, name: str, source: str, model: str, hpo: dict, space=None, param=None, grid=None):
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    refs = {
        "hpo_config": {"max_concurrent": 2, "scheduler": "fifo", **hpo},
        "model_config": {"script": script.name, "model": model, "param": param or {}},
        "search_space": space or SPACE,
    }
    if grid is not None:
        refs["grid_config"] = grid
    store = ProjectStore()
    store.create(name, refs, script)
    return store.load(name)


def most_at_once(records) -> int:
    """The largest number of trials running at one moment, from their start and end times."""
    import datetime as dt

    events = []
    for record in records:
        events.append((dt.datetime.fromisoformat(record.start), 1))
        events.append((dt.datetime.fromisoformat(record.end), -1))
    running = peak = 0
    for _, change in sorted(events):  # at a tie an end (-1) sorts before a start (+1)
        running += change
        peak = max(peak, running)
    return peak


def placement_groups() -> int:
    """Placement groups this Ray session has seen (removed ones included)."""
    import ray

    return len(ray.util.placement_group_table())


def check_records(records, hpo: dict, expected_trials: int):
    assert len(records) == expected_trials
    assert len({r.trial_id for r in records}) == expected_trials
    for record in records:
        config = record.config
        assert 0 <= config["x"] <= 1 and config["n"] in (1, 2, 3, 4) and type(config["n"]) is int
        assert config["c"] in ("a", "b") and 1e-4 <= config["opt"]["lr"] <= 1e-1 and config["fixed_v"] == 7
        assert record.metric == hpo.get("metric", "loss")
        assert record.start and record.end and record.duration_s >= 0 and record.host
    if hpo.get("scheduler", "fifo") in ("fifo", "asynchyperband", "median"):  # others pause trials
        assert most_at_once(records) <= hpo.get("max_concurrent", 2)


# Ax's BoTorch suggestions take 2-8 s each here: its two 50-trial runs took 215 s and 260 s of a CI run that must
# end within 35 min, so they run with HPOGRID_SLOW_TESTS=1 (both passed 2026-12-03); CI covers Ax at 14 trials
# (test_every_algorithm_resumes_its_search), warm-started (test_warm_start) and steering (test_steering)
SLOW = pytest.mark.skipif(not os.environ.get("HPOGRID_SLOW_TESTS"), reason="slow: set HPOGRID_SLOW_TESTS=1")
EVERY_ALGORITHM = [
    pytest.param(a, c, marks=[SLOW, pytest.mark.timeout(900)]) if a == "ax" else (a, c)
    for a in sorted(ALGORITHMS)
    for c in (1, 2)
]


@pytest.mark.parametrize(("algorithm", "max_concurrent"), EVERY_ALGORITHM)
def test_every_algorithm(ray_session, tmp_path, algorithm, max_concurrent):
    """50 trials, the budget users run (failures that 6 or 8 trials never reach: issue 13), on a space of
    every kind (float, int, categorical, nested log-uniform, fixed), one trial at a time and two."""
    hpo = {
        "algorithm": algorithm,
        "num_trials": TRIALS,
        "seed": 3,
        "extra_metrics": ["aux"],
        "max_concurrent": max_concurrent,
    }
    if algorithm == "bohb":
        hpo["scheduler"] = "bohbhyperband"
    project = make_project(tmp_path, f"p_{algorithm}", OBJECTIVE, "objective", hpo, param={"offset": 100})
    groups = placement_groups()
    result = run(project, RunOptions(quiet=True))
    assert placement_groups() == groups
    check_records(result.records, hpo, TRIALS)
    for record in result.records:
        assert record.status == "terminated" and record.iterations == 1
        # the config recorded is the config the trial computed its loss from
        assert record.value == pytest.approx(loss_of({**record.config, "offset": 100}), rel=1e-12)
        assert record.extra == {"aux": pytest.approx(2 * record.value)}
        assert record.last_result["loss"] == record.value
    summary = json.loads((result.run_dir / SUMMARY_FILE).read_text())
    assert summary["status"] == "finished"
    assert summary["counts"] == {"terminated": TRIALS, "early_stopped": 0, "error": 0}
    assert summary["best"]["value"] == min(r.value for r in result.records)
    assert summary["hyperparameters"] == ["x", "n", "c", "opt.lr", "fixed_v"]


@pytest.mark.parametrize("scheduler", sorted(set(SCHEDULERS) - {"bohbhyperband"}))
def test_every_scheduler(ray_session, tmp_path, scheduler):
    hpo = {
        "algorithm": "random",
        "scheduler": scheduler,
        "num_trials": 6,
        "seed": 5,
        "stop": {"training_iteration": 6},
    }
    if scheduler == "asynchyperband":
        hpo["scheduler_param"] = {"grace_period": 1, "reduction_factor": 2}
    if scheduler in ("pbt", "pb2"):
        hpo["scheduler_param"] = {"perturbation_interval": 2}
    project = make_project(tmp_path, f"s_{scheduler}", ITERATIVE, "Iterative", hpo)
    groups = placement_groups()
    result = run(project, RunOptions(quiet=True))
    # trials get their CPUs without placement groups, which Ray 2.60 can leak (hpogrid.local.controller)
    assert placement_groups() == groups
    check_records(result.records, hpo, 6)
    for record in result.records:
        assert record.status in ("terminated", "early_stopped")
        assert (record.iterations == 6) == (record.status == "terminated"), record
        if record.status == "terminated":
            # the Trainable's own step counter reached 6: paused trials resumed from their checkpoint
            config = record.config
            assert record.value == pytest.approx((config["x"] - 0.3) ** 2 + 1 / 6 + 0.01 * config["n"])
    if scheduler in ("asynchyperband", "hyperband"):
        assert any(r.status == "early_stopped" for r in result.records), "the scheduler stopped nothing"
    if scheduler == "fifo":
        assert all(r.status == "terminated" for r in result.records)


def test_bohb_with_its_hyperband(ray_session, tmp_path):
    hpo = {
        "algorithm": "bohb",
        "scheduler": "bohbhyperband",
        "num_trials": 6,
        "seed": 1,
        "stop": {"training_iteration": 6},
    }
    project = make_project(tmp_path, "bohb_iter", ITERATIVE, "Iterative", hpo)
    result = run(project, RunOptions(quiet=True))
    check_records(result.records, hpo, 6)
    assert all(r.iterations <= 6 for r in result.records)


FUNCTION_REPORT = """
import hpogrid

def train(config):
    for epoch in range(3):
        hpogrid.report(loss=config["x"] + epoch, epoch=epoch)
"""
OLD_API = """
import json, os
from ray import tune

class Old(tune.Trainable):
    def _setup(self, config):
        self.t = 0

    def _train(self):
        self.t += 1
        return {"loss": self.config["x"] * self.t}

    def _save(self, checkpoint_dir):
        path = os.path.join(checkpoint_dir, "checkpoint")
        with open(path, "w") as handle:
            handle.write(json.dumps({"t": self.t}))
        return path

    def _restore(self, checkpoint_path):
        with open(checkpoint_path) as handle:
            self.t = json.loads(handle.read())["t"]
"""


@pytest.mark.parametrize(
    "source,model,iterations,scheduler",
    [
        (FUNCTION_REPORT, "train", 3, "fifo"),
        (ITERATIVE, "Iterative", 4, "fifo"),
        (OLD_API, "Old", 4, "fifo"),
        (OLD_API, "Old", 4, "pbt"),  # PBT saves and restores through the old _save/_restore
    ],
    ids=["function-hpogrid.report", "trainable-class", "old-underscore-api", "old-underscore-api-pbt"],
)
def test_trainable_apis(ray_session, tmp_path, source, model, iterations, scheduler):
    hpo = {"num_trials": 4, "scheduler": scheduler, "stop": {"training_iteration": 4}, "seed": 2}
    if scheduler == "pbt":
        hpo["scheduler_param"] = {"perturbation_interval": 1}
    project = make_project(tmp_path, f"api_{model}_{scheduler}", source, model, hpo)
    result = run(project, RunOptions(quiet=True))
    assert len(result.records) == 4
    for record in result.records:
        assert record.status == "terminated" and record.iterations == iterations
        if model == "train":
            assert record.value == pytest.approx(record.config["x"] + 2) and record.last_result["epoch"] == 2
        if model == "Old":
            assert record.value == pytest.approx(record.config["x"] * 4)


@pytest.mark.parametrize("algorithm", ["random", "grid", "hyperopt", "optuna", "skopt", "nevergrad"])
def test_same_seed_same_configurations(ray_session, tmp_path, algorithm):
    configs = []
    for attempt in range(2):
        hpo = {"algorithm": algorithm, "num_trials": 5, "max_concurrent": 1, "seed": 11}
        project = make_project(tmp_path, f"seed_{algorithm}_{attempt}", OBJECTIVE, "objective", hpo)
        configs.append([r.config for r in run(project, RunOptions(quiet=True)).records])
    assert configs[0] == configs[1]
    # a real search, not one point repeated (nevergrad may propose a point twice)
    assert len({json.dumps(c, sort_keys=True) for c in configs[0]}) >= 4


@pytest.mark.parametrize("algorithm", ["random", "hyperopt", "optuna", "bayesian"])
def test_search_points_are_evaluated_first(ray_session, tmp_path, algorithm):
    points = [
        {"x": 0.3, "n": 1, "c": "a", "opt": {"lr": 0.001}},
        {"x": 0.9, "n": 4, "c": "b", "opt.lr": 0.05},
    ]
    hpo = {"algorithm": algorithm, "num_trials": 4, "max_concurrent": 1, "seed": 4}
    project = make_project(tmp_path, f"points_{algorithm}", OBJECTIVE, "objective", hpo)
    records = run(project, RunOptions(quiet=True, search_points=points)).records
    assert len(records) == 4
    first = records[0].config
    assert (first["x"], first["n"], first["c"], first["opt"]["lr"], first["fixed_v"]) == (0.3, 1, "a", 0.001, 7)
    second = records[1].config
    assert (second["x"], second["n"], second["c"], second["opt"]["lr"]) == (0.9, 4, "b", 0.05)


FAILING = """
def train(config, reporter):
    if config["c"] == "b":
        raise ValueError("category b is broken")
    reporter(loss=config["x"])
"""


def test_a_failing_trial_is_recorded_and_the_run_goes_on(ray_session, tmp_path):
    space = {**SPACE, "c": {"method": "categorical", "dimension": {"categories": ["a", "b"], "grid_search": 1}}}
    hpo = {"algorithm": "grid", "num_trials": 4, "seed": 1}
    project = make_project(tmp_path, "failing", FAILING, "train", hpo, space=space)
    result = run(project, RunOptions(quiet=True))
    by_status = {s: [r for r in result.records if r.status == s] for s in ("terminated", "error")}
    assert len(by_status["terminated"]) == 2 and len(by_status["error"]) == 2
    for record in by_status["error"]:
        assert record.config["c"] == "b"
        assert "ValueError: category b is broken" in record.error
        assert 'failing.py", line 4, in train' in record.error and "\x1b[" not in record.error
    assert result.summary["counts"]["error"] == 2 and result.summary["status"] == "finished"


def test_cli_local_run_prints_best_and_results(ray_session, tmp_path, base):
    make_project(tmp_path, "cli", OBJECTIVE, "objective", {"num_trials": 3, "seed": 9})
    result = run_cli("local_run", "cli", "-q")
    assert result.exit_code == 0, result.output
    assert "finished: 3 of 3 trials" in result.stdout and "3 completed, 0 stopped early, 0 failed" in result.stdout
    best = json.loads(result.stdout.split("Best config (JSON")[1].splitlines()[1])
    assert SearchSpace.parse(SPACE).check_point(best)  # a point --search_points takes
    run_dir = Path(result.stdout.split("Results: ")[1].split()[0])
    assert (run_dir / TRIALS_FILE).is_file() and len(Journal(run_dir).records()) == 3


def test_broken_script_fails_before_ray_starts(tmp_path, base):
    make_project(
        tmp_path,
        "broken",
        "import math\nvalue = undefined_name\n\ndef train(config, reporter):\n    pass\n",
        "train",
        {"num_trials": 2},
    )
    result = run_cli("local_run", "broken")
    assert result.exit_code == 2
    assert "importing broken.py failed at line 2: NameError" in result.stderr and "Traceback" not in result.output
    assert not (base / "projects" / "broken" / "runs").exists()


def test_resume_without_interrupted_run_is_a_clear_error(tmp_path, base):
    make_project(tmp_path, "fresh", OBJECTIVE, "objective", {"num_trials": 2})
    result = run_cli("local_run", "fresh", "--resume")
    assert result.exit_code == 2 and "no interrupted run to resume" in result.stderr


def test_summary_stays_under_one_megabyte_for_1000_trials():
    from hpogrid.results import TrialRecord, summarize

    records = [
        TrialRecord(
            trial_id=f"abcdef_{i:05d}",
            metric="loss",
            value=math.pi * i,
            status="error" if i % 10 == 0 else "terminated",
            config={"lr": 1e-3 * i, "batch_size": 128, "optimizer": {"name": "adam", "beta": 0.9}, "layers": 4},
            extra={"accuracy": 0.5, "auc": 0.7},
            iterations=100,
            last_result={f"metric_{k}": k for k in range(50)},
            error=("Traceback (most recent call last):\n" + "  File x, line 1\n" * 200) if i % 10 == 0 else None,
            start="2026-11-23T16:20:01+00:00",
            end="2026-11-23T16:21:01+00:00",
            duration_s=60.0,
            host="node-1",
            source={"kind": "local", "run": "20261123-162000"},
        )
        for i in range(1000)
    ]
    summary = summarize(
        records,
        project="p",
        run_id="r",
        status="finished",
        metric="loss",
        mode="min",
        algorithm="random",
        scheduler="fifo",
        hyperparameters=["lr", "batch_size"],
        num_trials=1000,
        start="2026-11-23T16:20:00+00:00",
        end="2026-11-23T17:20:00+00:00",
        hpogrid_version="2.0.0",
    )
    size = len(json.dumps(summary).encode())
    assert size < 1_000_000, size
    assert summary["best"]["trial_id"] == "abcdef_00000" and summary["counts"]["error"] == 100


def test_mnist_example_with_asha_and_progress(ray_session, hpogrid, tmp_path):
    """The real small model: accuracy every epoch, ASHA stops the poor trials; progress is shown."""
    from tests.conftest import EXAMPLES, REPO

    hpogrid(
        "hpo_config",
        "create",
        "asha",
        "--algorithm",
        "hyperopt",
        "--metric",
        "accuracy",
        "--mode",
        "max",
        "--num_trials",
        "6",
        "--max_concurrent",
        "2",
        "--stop",
        '{"training_iteration": 6}',
        "--scheduler_param",
        '{"grace_period": 1, "reduction_factor": 2}',
        "--extra_metrics",
        "loss",
        "--seed",
        "3",
    )
    hpogrid(
        "project",
        "create",
        "mnist",
        "--scripts_path",
        str(EXAMPLES / "mnist.py"),
        "--hpo_config",
        "asha",
        "--model_config",
        str(REPO / "config/model_config/example_mnist.json"),
        "--search_space",
        str(REPO / "config/search_space/example_mnist_space.json"),
    )
    result = hpogrid("local_run", "mnist")
    assert "6/6 done" in result.stderr and "best accuracy" in result.stderr
    assert "Best 5 trials by accuracy (max)" in result.stdout
    run_dir = Path(result.stdout.split("Results: ")[1].split()[0])
    records = Journal(run_dir).records()
    assert len(records) == 6
    assert any(r.status == "early_stopped" for r in records)
    for record in records:
        assert 0 < record.value <= 1 and record.extra["loss"] > 0
        assert record.iterations == 6 or record.status == "early_stopped"
    assert max(r.value for r in records) > 0.8  # the network learns the digits


FLAKY = """
import os
from pathlib import Path

def train(config, reporter):
    marker = Path(os.environ["HPOGRID_WORK_DIR"]) / ("attempted-%.6f" % config["x"])
    if not marker.exists():
        marker.touch()
        raise RuntimeError("first attempt fails")
    reporter(loss=config["x"])
"""


@pytest.mark.parametrize("retries,status", [(0, "error"), (1, "terminated")])
def test_retries(ray_session, tmp_path, retries, status):
    hpo = {"num_trials": 2, "seed": 1}
    project = make_project(tmp_path, f"flaky{retries}", FLAKY, "train", hpo, space={"x": SPACE["x"]})
    records = run(project, RunOptions(quiet=True, retries=retries)).records
    assert [r.status for r in records] == [status, status]


RESUMABLE_FUNCTION = """
import hpogrid

def train(config):
    state = hpogrid.restore() or {"step": 0}
    for step in range(state["step"] + 1, 100):
        loss = (config["x"] - 0.3) ** 2 + 1.0 / step + 0.01 * config["n"]
        hpogrid.report(loss=loss, step=step, checkpoint={"step": step})
"""


@pytest.mark.parametrize("scheduler", ["hyperband", "pbt"])
def test_function_resumes_from_its_checkpoint(ray_session, tmp_path, scheduler):
    """HyperBand pauses trials: they continue from hpogrid.restore() (fails without it).
    Under PBT the same checkpointing function runs to the end (exploits restore its state)."""
    hpo = {"num_trials": 6, "scheduler": scheduler, "stop": {"training_iteration": 6}, "seed": 8}
    if scheduler == "pbt":
        hpo["scheduler_param"] = {"perturbation_interval": 2}
    project = make_project(tmp_path, f"resumable_{scheduler}", RESUMABLE_FUNCTION, "train", hpo)
    records = run(project, RunOptions(quiet=True)).records
    finished = [r for r in records if r.status == "terminated"]
    assert finished
    for record in finished:
        # without restoring, a resumed trial would restart at step 1 while Ray counts on to 6
        assert record.iterations == 6 and record.last_result["step"] == 6, record


@pytest.mark.parametrize(
    "max_concurrent,scheduler,cpu",
    [(1, "fifo", 1.0), (4, "fifo", 0.5), (1, "hyperband", 2.0), (4, "hyperband", 0.5)],
)
def test_default_trial_resources(ray_session, max_concurrent, scheduler, cpu):
    """A trial never asks for more than 1 CPU by default (asking for the whole machine waits forever
    when anything else holds part of it), except where resources are the concurrency limit."""
    from hpogrid.local.runner import _resources

    assert ray_session.cluster_resources()["CPU"] == 2
    hpo = {"resource": None, "max_concurrent": max_concurrent, "scheduler": scheduler}
    assert _resources(hpo) == {"cpu": cpu}
    assert _resources({**hpo, "resource": {"cpu": 3, "gpu": 0.5}}) == {"cpu": 3, "gpu": 0.5}
