"""Warm start on the grid: `run --warm_start` puts the earlier points in the jobs' sandbox, `submit_idds
--warm_start` in the steering's arguments (the real panda-client against tests/panda_server.py)."""

from __future__ import annotations

import json
import shlex

from hpogrid.grid.gateway import Gateway
from tests.conftest import run_cli
from tests.test_grid import submitted_id
from tests.test_local_run import make_project
from tests.test_warm_start import _record_line

OBJECTIVE = """
def f(config, reporter):
    reporter(loss=(config["x"] - 0.3) ** 2 + (config["c"] == "b"))
"""
SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b"]}},
}


def test_grid_tasks_start_warm_from_earlier_runs_and_tasks(tmp_path, panda, base):
    hpo = {"algorithm": "optuna", "num_trials": 4, "max_concurrent": 1, "seed": 3}
    project = make_project(tmp_path, "wg", OBJECTIVE, "f", hpo, space=SPACE)
    earlier = project.path / "runs" / "r1"
    earlier.mkdir(parents=True)
    earlier_x = [0.05, 0.2, 0.4, 0.6, 0.8, 0.95]
    earlier.joinpath("trials.jsonl").write_text(
        "".join(_record_line(f"t{i}", {"x": x, "c": "a"}, (x - 0.3) ** 2) for i, x in enumerate(earlier_x))
    )

    # run: every job gets the 6 points in its sandbox and learns them (its summary, the job metadata, says)
    result = run_cli("run", "wg", "--n_jobs", "2", "--warm_start")
    assert result.exit_code == 0, result.output
    assert "Warm start: 6 earlier points from 1 run/task" in result.stderr
    task_id = submitted_id(result.stdout)
    task = panda.state.wait(task_id)
    assert task.status == "done", task.error
    metadata = Gateway().job_metadata(task_id)
    assert len(metadata) == 2 and all(m["warm_start"] == 6 for m in metadata.values())
    assert sum(len(m["trials"]) for m in metadata.values()) == 4

    # submit_idds: the local run's 6 and the grid task's 4 trials, inline in the steering's arguments
    result = run_cli("submit_idds", "wg", "--max_points", "3", "--warm_start")
    assert result.exit_code == 0, result.output
    assert "Warm start: 10 earlier points from 2 runs/tasks" in result.stderr
    idds = panda.state.wait(submitted_id(result.stdout.replace("iDDS HPO task", "task")))
    assert idds.status == "done", idds.error
    arguments = shlex.split(idds.params["hpoRequestData"]["arguments"])
    warm = json.loads(arguments[arguments.index("--warm_start") + 1])["points"]
    assert set(earlier_x) < {p["x"] for p, _ in warm}
    assert len(warm) == 10 and all(loss == (p["x"] - 0.3) ** 2 + (p["c"] == "b") for p, loss in warm)
    points = Gateway().hyperparameters(idds.task_id)
    assert len(points) == 3  # max_points counts the task's own points only
    known = {json.dumps(p, sort_keys=True) for p, _ in warm}
    assert not known & {json.dumps(p["parameters"], sort_keys=True) for p in points}


def test_dry_runs_show_the_warm_start(tmp_path, base):
    project = make_project(tmp_path, "wd", OBJECTIVE, "f", {"algorithm": "hyperopt", "num_trials": 4}, space=SPACE)
    (project.path / "runs" / "r1").mkdir(parents=True)
    (project.path / "runs" / "r1" / "trials.jsonl").write_text(_record_line("t0", {"x": 0.5, "c": "b"}, 1.04))
    planned = run_cli("run", "wd", "--dry-run", "--json", "--warm_start")
    assert planned.exit_code == 0, planned.output
    assert "projects/wd/warm_start.json" in json.loads(planned.stdout)["sandbox"]
    assert (
        "projects/wd/warm_start.json" not in json.loads(run_cli("run", "wd", "--dry-run", "--json").stdout)["sandbox"]
    )
    idds = run_cli("submit_idds", "wd", "--dry-run", "--warm_start")
    assert idds.exit_code == 0, idds.output
    arguments = shlex.split(json.loads(idds.stdout)["task_parameters"]["hpoRequestData"]["arguments"])
    assert json.loads(arguments[arguments.index("--warm_start") + 1]) == {"points": [[{"c": "b", "x": 0.5}, 1.04]]}
