"""Algorithms at the budgets users run (issue 13): failures that 6 or 8 trials never reach."""

from __future__ import annotations

import pytest

from hpogrid.local.runner import RunOptions, run
from tests.test_local_run import make_project

BOWL = """
def bowl(config, reporter):
    reporter(loss=(config["x"] - 0.3) ** 2 + (config["y"] + 1) ** 2)
"""
PLANE = {
    "x": {"method": "uniform", "dimension": {"low": -5, "high": 5}},
    "y": {"method": "uniform", "dimension": {"low": -5, "high": 5}},
}


@pytest.mark.parametrize("max_concurrent", [1, 2])
def test_nevergrad_lasts_50_trials(ray_session, tmp_path, max_concurrent):
    """nevergrad's default NGOpt on a 2-D continuous space, 50 trials. It used to end in an internal error:
    with max_concurrent 1 at Ray's experiment checkpoint ("If you want picklability you should have asked
    for it": a sequential optimizer, pickled), with 2 in NGOpt's meta-model under numpy 2.4 ("only
    0-dimensional arrays can be converted to Python scalars")."""
    hpo = {"algorithm": "nevergrad", "num_trials": 50, "max_concurrent": max_concurrent, "seed": 1}
    project = make_project(tmp_path, f"ng{max_concurrent}", BOWL, "bowl", hpo, space=PLANE)
    result = run(project, RunOptions(quiet=True))
    assert result.summary["status"] == "finished" and len(result.records) == 50
    assert all(r.status == "terminated" for r in result.records)
    assert min(r.value for r in result.records) < 1e-2  # a search, not random points: the bowl's bottom is 0


def test_a_stopped_nevergrad_search_leaves_no_thread_behind():
    """A sequential nevergrad optimizer waits for results in a thread that is not a daemon: after Ctrl-C
    (results never come) Python never exited. close_all(), which the run calls at its end, stops it."""
    import threading
    import time

    import nevergrad as ng
    from ray import tune

    from hpogrid.local.nevergrad_search import PicklableNevergradSearch, close_all

    before = set(threading.enumerate())
    searcher = PicklableNevergradSearch(
        optimizer=ng.optimizers.registry["Cobyla"], optimizer_kwargs={"budget": 30, "num_workers": 1},
        space={"x": tune.uniform(-5, 5), "y": tune.uniform(-5, 5)}, metric="loss", mode="min",
    )  # fmt: skip
    config = searcher.suggest("t0")
    searcher.on_trial_complete("t0", {"loss": config["x"] ** 2 + config["y"] ** 2})
    searcher.suggest("t1")  # asked, never told: the optimizer's thread waits
    started = [t for t in threading.enumerate() if t not in before and not t.daemon]
    assert started, "the optimizer runs no thread of its own: nothing to test"
    close_all()
    deadline = time.time() + 10
    while any(t.is_alive() for t in started) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(t.is_alive() for t in started)
