"""Warm start (issue 13, part 4): a search learns from the project's earlier trials before it asks."""

from __future__ import annotations

import json
import random

import pytest

from hpogrid.catalog import ALGORITHMS, VARIANT_GENERATOR
from hpogrid.configs.hpo import SCHEMA
from hpogrid.local.runner import RunOptions, run
from hpogrid.results import Journal
from hpogrid.space.model import SearchSpace
from hpogrid.warmstart import Evaluated, gather
from tests.conftest import run_cli
from tests.test_algorithm_budgets import INTERRUPTING
from tests.test_local_run import OBJECTIVE, SPACE, check_records, loss_of, make_project

MODEL_BASED = sorted(set(ALGORITHMS) - VARIANT_GENERATOR)


def earlier_points(count: int, seed: int = 0) -> list[Evaluated]:
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        config = {
            "x": rng.random(),
            "n": rng.randint(1, 4),
            "c": rng.choice("ab"),
            "opt": {"lr": 10 ** rng.uniform(-4, -1)},
            "fixed_v": 7,
        }
        points.append(Evaluated(config, loss_of(config), 3))
    return points


def hpo_of(algorithm: str, **more) -> dict:
    scheduler = {"scheduler": "bohbhyperband"} if algorithm == "bohb" else {}
    return SCHEMA.validate({"algorithm": algorithm, "num_trials": 10, "max_concurrent": 2, **scheduler, **more})


def told(searcher) -> int:
    """How many evaluated points the library behind a searcher holds (its own state, not Ray's)."""
    inner = searcher.inner
    name = type(inner).__name__
    if name == "HyperOptSearch":
        return sum(t["result"].get("status") == "ok" for t in inner._hpopt_trials.trials)
    if name == "OptunaSearch":
        return sum(t.state.name == "COMPLETE" for t in inner._ot_study.trials)
    if name == "SkOptSearch":
        return len(inner._optimizer.yi)
    if name == "BayesOptSearch":
        return len(inner.optimizer.space)
    if name == "PicklableNevergradSearch":
        return inner._nevergrad_opt.num_tell
    if name == "TuneBOHB":
        return sum(len(losses) for losses in inner.bohber.losses.values())
    if name == "AxSearch":
        return len(inner._ax.experiment.fetch_data().df)
    raise AssertionError(f"no count for {name}")


@pytest.mark.parametrize("algorithm", MODEL_BASED)
def test_every_model_based_searcher_learns_the_earlier_points(tmp_path, algorithm):
    """The library behind the searcher holds every earlier point with its value before its first
    suggestion, and still does after a checkpoint is restored into a searcher built cold (--resume)."""
    from hpogrid.local.algorithms import build_search

    space, warm = SearchSpace.parse(SPACE), earlier_points(20)
    searcher, _, _ = build_search(space, hpo_of(algorithm), {}, [], 3, warm)
    assert told(searcher) == 20
    seen = {json.dumps(p.config, sort_keys=True) for p in warm}
    for number in range(3):
        config = searcher.suggest(f"t{number}")
        space.check_point(config)
        assert json.dumps(config, sort_keys=True) not in seen, "an earlier point was asked again"
        result = {"loss": loss_of(config), "training_iteration": 3, "hyperband_info": {"budget": 3}}
        searcher.on_trial_result(f"t{number}", result)
        searcher.on_trial_complete(f"t{number}", result)
    assert told(searcher) == 23
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored, _, _ = build_search(space, hpo_of(algorithm), {}, [], 3)
    restored.set_search_properties("loss", "min", {})
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert told(restored) == 23
    space.check_point(restored.suggest("t3"))


@pytest.mark.parametrize("algorithm", ["optuna", "skopt"])
def test_a_warm_search_asks_better_points_than_a_cold_one(algorithm):
    """After 30 earlier points the first 10 suggestions are better on average than a cold start's first 10."""
    from hpogrid.local.algorithms import build_search

    space = SearchSpace.parse(SPACE)

    def first_losses(warm) -> float:
        searcher, _, _ = build_search(space, hpo_of(algorithm, seed=4), {}, [], 4, warm)
        searcher.set_search_properties("loss", "min", {})
        losses = []
        for number in range(10):
            config = searcher.suggest(f"t{number}")
            losses.append(loss_of(config))
            searcher.on_trial_complete(f"t{number}", {"loss": losses[-1]})
        return sum(losses) / len(losses)

    assert first_losses(earlier_points(30, seed=1)) < first_losses([])


def test_variant_generators_refuse_a_warm_start(base, tmp_path):
    make_project(tmp_path, "rnd", OBJECTIVE, "objective", {"algorithm": "random", "num_trials": 3})
    result = run_cli("local_run", "rnd", "--warm_start")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--warm_start: hpo_config.algorithm random draws its points without looking at results" in result.output


def _record_line(trial_id: str, config: dict, value, status="terminated", metric="loss") -> str:
    record = {
        "trial_id": trial_id, "config": config, "metric": metric, "value": value, "status": status,
        "iterations": 2, "start": "2026-12-01T10:00:00+00:00", "end": "2026-12-01T10:00:01+00:00",
    }  # fmt: skip
    return json.dumps(record) + "\n"


def test_gather_keeps_the_points_of_todays_space_and_counts_the_rest(base, tmp_path):
    """Trials of any earlier run are used when their config lies in today's space; failed ones, those
    of another metric, without a value or outside the space are counted; a repeated config is one point
    with the mean value; --warm_start_from keeps the named runs only, and a wrong name is one clear line."""
    from hpogrid.errors import HpogridError

    project = make_project(tmp_path, "g", OBJECTIVE, "objective", {"algorithm": "optuna", "num_trials": 5})
    inside = {"x": 0.5, "n": 2, "c": "a", "opt": {"lr": 0.01}, "fixed_v": 7}
    runs = project.path / "runs"
    (runs / "r1").mkdir(parents=True)
    (runs / "r1" / "trials.jsonl").write_text(
        _record_line("a", inside, 1.0)
        + _record_line("b", {**inside, "x": 0.25}, 2.0, status="early_stopped")
        + _record_line("c", {**inside, "x": 0.75}, None, status="error")
        + _record_line("d", {**inside, "x": 2.0}, 3.0)  # x beyond today's [0, 1]
        + _record_line("e", {**inside, "fixed_v": 8}, 3.0)  # another fixed value
        + _record_line("f", {k: v for k, v in inside.items() if k != "c"}, 3.0)  # c not searched then
        + _record_line("g", {**inside, "x": 0.1}, 4.0, metric="accuracy")
    )
    (runs / "r2").mkdir()
    (runs / "r2" / "trials.jsonl").write_text(
        _record_line("a", inside, 3.0) + _record_line("h", {**inside, "x": 0.9}, 5.0)
    )

    warm = gather(project)
    by_x = {p.config["x"]: p.value for p in warm.points}
    assert by_x == {0.5: 2.0, 0.25: 2.0, 0.9: 5.0}  # 0.5 ran twice: mean of 1 and 3
    assert all(p.config["fixed_v"] == 7 and p.iterations == 2 for p in warm.points)
    assert dict(warm.left_out) == {"failed": 1, "outside_space": 3, "other_metric": 1, "repeated": 1}
    assert warm.origins == {"r1", "r2"}
    assert warm.describe() == (
        "Warm start: 3 earlier points from 2 runs/tasks (left out: 1 failed; 1 of another metric; 3 outside "
        "today's search space; 1 repeating a config (one point each, mean value))"
    )
    assert {p.config["x"] for p in gather(project, ["r2"]).points} == {0.5, 0.9}
    with pytest.raises(HpogridError, match="--warm_start_from: project 'g' has no trials from r3; name its runs"):
        gather(project, ["r2", "r3"])


def test_local_run_warm_starts_from_the_earlier_run(ray_session, base, tmp_path):
    """`local_run --warm_start` after a run: the searcher gets its 12 trials, the new run runs its own 12
    (none of them an earlier config); --warm_start_from names runs; --resume refuses it."""
    hpo = {"algorithm": "optuna", "num_trials": 12, "seed": 2}
    make_project(tmp_path, "w", OBJECTIVE, "objective", hpo)
    first = run_cli("local_run", "w", "-q")
    assert first.exit_code == 0, first.output
    second = run_cli("local_run", "w", "-q", "--warm_start")
    assert second.exit_code == 0, second.output
    assert "Warm start: 12 earlier points from 1 run/task" in second.output
    runs = sorted(p for p in (base / "projects" / "w" / "runs").iterdir())
    earlier, records = Journal(runs[0]).records(), Journal(runs[1]).records()
    check_records(records, hpo, 12)
    assert json.loads((runs[1] / "summary.json").read_text())["warm_start"] == 12
    assert "warm_start" not in json.loads((runs[0] / "summary.json").read_text())
    assert not {json.dumps(r.config, sort_keys=True) for r in records} & {
        json.dumps(r.config, sort_keys=True) for r in earlier
    }
    third = run_cli("local_run", "w", "-q", "--warm_start_from", runs[1].name)
    assert third.exit_code == 0 and "Warm start: 12 earlier points from 1 run/task" in third.output
    refused = run_cli("local_run", "w", "--resume", "--warm_start")
    assert refused.exit_code == 2 and "--warm_start cannot be combined with --resume" in refused.output


def test_a_warm_started_run_resumes_with_what_it_learnt(ray_session, tmp_path, base):
    """Ctrl-C in a warm-started nevergrad run (a sequential optimizer at max_concurrent 1, whose checkpoint
    replays its asks and tells), then --resume: it ends with its 14 trials, the earlier points still known."""
    import os

    hpo = {"algorithm": "nevergrad", "num_trials": 14, "max_concurrent": 1, "seed": 5}
    project = make_project(tmp_path, "wr", INTERRUPTING, "interrupting", hpo, param={"driver": os.getpid()})
    first = run(project, RunOptions(quiet=True, warm_start=earlier_points(10)))
    assert first.summary["status"] == "interrupted" and 5 <= len(first.records) < 14, first.summary
    resumed = run(project, RunOptions(resume=True, quiet=True))
    assert resumed.summary["status"] == "finished", resumed.summary
    check_records(resumed.records, hpo, 14)
    from hpogrid.local.algorithms import build_search

    searcher, _, _ = build_search(SearchSpace.parse(SPACE), SCHEMA.validate({**hpo, "scheduler": "fifo"}), {}, [], 5)
    searcher.set_search_properties("loss", "min", {})
    searcher.restore(str(sorted((first.run_dir / "ray").glob("searcher-state-*.pkl"))[-1]))
    assert told(searcher) == 10 + 14  # Ray's last searcher checkpoint: the earlier points and the run's
