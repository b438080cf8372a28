"""Algorithms at the budgets users run (issue 13): failures that 6 or 8 trials never reach."""

from __future__ import annotations

import pytest

from hpogrid.catalog import ALGORITHMS
from hpogrid.local.runner import RunOptions, run
from hpogrid.results import Journal
from tests.test_local_run import OBJECTIVE, check_records, make_project

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


# a trial that finds 5 trials recorded stops the run as Ctrl-C does: SIGINT to the driver (this process),
# once; Ray Tune saves its experiment and the searcher's state, and the run ends 'interrupted'
INTERRUPTING = (
    OBJECTIVE
    + """
import os, signal
from pathlib import Path

def interrupting(config, reporter):
    run_dir = Path(os.environ["HPOGRID_RUN_DIR"])
    journal = run_dir / "trials.jsonl"
    if journal.is_file() and len(journal.read_text().splitlines()) >= 5:
        try:
            os.close(os.open(run_dir / "interrupted", os.O_CREAT | os.O_EXCL))
            os.kill(config["driver"], signal.SIGINT)
        except FileExistsError:
            pass
    objective(config, reporter)
"""
)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_resumes_its_search(ray_session, tmp_path, algorithm):
    """Ctrl-C in the middle of a search, then --resume: the searcher's checkpoint (Ray pickles it) is
    restored and the search ends with exactly num_trials trials, none lost or repeated. nevergrad's
    sequential optimizers (max_concurrent 1) failed to restore ("Mismatch in replay")."""
    import os

    hpo = {"algorithm": algorithm, "num_trials": 14, "max_concurrent": 1 if algorithm == "nevergrad" else 2, "seed": 5}
    if algorithm == "bohb":
        hpo["scheduler"] = "bohbhyperband"
    project = make_project(tmp_path, f"r_{algorithm}", INTERRUPTING, "interrupting", hpo, param={"driver": os.getpid()})
    first = run(project, RunOptions(quiet=True))
    assert first.summary["status"] == "interrupted", first.summary
    assert 5 <= len(first.records) < 14
    before = Journal(first.run_dir).path.read_text()

    resumed = run(project, RunOptions(resume=True, quiet=True))
    assert resumed.run_dir == first.run_dir and resumed.summary["status"] == "finished", resumed.summary
    assert Journal(first.run_dir).path.read_text().startswith(before), "records written before Ctrl-C changed"
    check_records(resumed.records, hpo, 14)
    assert all(r.status == "terminated" for r in resumed.records)


def _nevergrad_searcher(max_concurrent: int = 1, trials: int = 30):
    """hpogrid's nevergrad searcher for the bowl, as a run builds it (NGOpt: a sequential optimizer at 1)."""
    from hpogrid.configs.hpo import SCHEMA
    from hpogrid.local.algorithms import build_search
    from hpogrid.space.model import SearchSpace

    hpo = {
        "algorithm": "nevergrad",
        "num_trials": trials,
        "max_concurrent": max_concurrent,
        "seed": 1,
        "scheduler": "fifo",
    }
    searcher, _, _ = build_search(SearchSpace.parse(PLANE), SCHEMA.validate(hpo), {}, [], 1)
    searcher.set_search_properties("loss", "min", {})
    return searcher


def _bowl(config: dict) -> float:
    return (config["x"] - 0.3) ** 2 + (config["y"] + 1) ** 2


@pytest.mark.parametrize("max_concurrent", [1, 2])
def test_a_restored_nevergrad_search_asks_what_the_unstopped_one_asks(tmp_path, max_concurrent):
    """The searcher's checkpoint, taken with a trial running, restored into a new searcher (as --resume
    does): it goes on exactly as the search that was never stopped."""
    from hpogrid.local.nevergrad_search import close_all

    def search(stop_at: int | None) -> list[dict]:
        searcher, asked = _nevergrad_searcher(max_concurrent), []
        for number in range(20):
            asked.append(searcher.suggest(f"t{number}"))
            if number == stop_at:  # a checkpoint with this trial running, then a new process restores it
                searcher.save(str(tmp_path / "searcher.pkl"))
                searcher = _nevergrad_searcher(max_concurrent)
                searcher.restore(str(tmp_path / "searcher.pkl"))
            searcher.on_trial_complete(f"t{number}", {"loss": _bowl(asked[-1])})
        return asked

    try:
        assert search(stop_at=11) == search(stop_at=None)
    finally:
        close_all()


def test_a_failed_trial_does_not_stop_a_sequential_nevergrad_search():
    """A sequential optimizer's thread waits for each result before its next point; a trial that failed
    (no result) left the next ask waiting forever. It is told the worst loss seen."""
    import threading

    from hpogrid.local.nevergrad_search import close_all

    searcher, asked = _nevergrad_searcher(1), []

    def go_on() -> None:
        for number in range(6):
            config = searcher.suggest(f"t{number}")
            asked.append(config)
            if number in (0, 3):
                searcher.on_trial_complete(f"t{number}", None, error=True)
            else:
                searcher.on_trial_complete(f"t{number}", {"loss": _bowl(config)})

    worker = threading.Thread(target=go_on, daemon=True)
    worker.start()
    worker.join(timeout=60)
    close_all()
    assert not worker.is_alive(), f"the search waits after {len(asked)} points"
    assert len(asked) == 6 and all(-5 <= c["x"] <= 5 and -5 <= c["y"] <= 5 for c in asked)


def test_a_model_based_search_runs_its_numeric_libraries_on_one_thread():
    """While a run's model-based searcher works beside the trials, torch and BLAS use one thread (their
    spinning pools made an Ax suggestion 10x slower on a busy machine); afterwards, what was set before."""
    import torch
    from threadpoolctl import threadpool_info

    from hpogrid.local.algorithms import searcher_threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with searcher_threads("ax"):
            assert torch.get_num_threads() == 1
            assert all(pool["num_threads"] == 1 for pool in threadpool_info())
        assert torch.get_num_threads() == 2
        with searcher_threads("random"):  # no model in the driver: nothing changed
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_restored_nevergrad_search_that_asks_other_points_keeps_the_earlier_results(tmp_path, caplog):
    """Should the optimizer as made ask other points than it did (a library that is not reproducible),
    the restore says so in the log and gives it the earlier points and results as told, and the search
    goes on."""
    import numpy as np

    from hpogrid.local.nevergrad_search import close_all

    searcher = _nevergrad_searcher(max_concurrent=2)
    for number in range(8):
        config = searcher.suggest(f"t{number}")
        searcher.on_trial_complete(f"t{number}", {"loss": _bowl(config)})
    kind, trial_id, point = searcher._events[0]
    searcher._events[0] = (kind, trial_id, np.asarray(point) + 0.5)  # as if the first ask had been elsewhere
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = _nevergrad_searcher(max_concurrent=2)
    try:
        with caplog.at_level("WARNING", logger="hpogrid.local.nevergrad_search"):
            restored.restore(str(tmp_path / "searcher.pkl"))
        assert "asks other points" in caplog.text
        assert restored._nevergrad_opt.num_tell == 8
        config = restored.suggest("t8")
        restored.on_trial_complete("t8", {"loss": _bowl(config)})
        assert -5 <= config["x"] <= 5 and -5 <= config["y"] <= 5
    finally:
        close_all()
