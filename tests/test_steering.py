"""`hpogrid generate`: stateless ask/tell steering for iDDS, for every algorithm it supports."""

from __future__ import annotations

import json

import pytest

from hpogrid.grid.steering import STEERING_ALGORITHMS, generate
from tests.conftest import run_cli

SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "n": {"method": "qloguniform", "dimension": {"low": 1, "high": 100, "q": 1}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b"]}},
}
GRID = {**SPACE, "c": {"method": "categorical", "dimension": {"categories": ["a", "b", "c"], "grid_search": 1}}}


def loss(point: dict) -> float:
    return (point["x"] - 0.3) ** 2 + (point["c"] == "b")


@pytest.mark.parametrize("algorithm", [a for a in STEERING_ALGORITHMS if a != "tune"])
def test_every_algorithm_asks_new_points_from_the_whole_history(tmp_path, base, algorithm):
    space = GRID if algorithm == "grid" else SPACE
    history: list = []
    for call in range(3):
        infile, outfile = tmp_path / f"in{call}.json", tmp_path / f"out{call}.json"
        infile.write_text(json.dumps({"points": history, "opt_space": space}))
        args = [
            "generate",
            "--in",
            infile,
            "--out",
            outfile,
            "-n",
            "2",
            "-m",
            "6",
            "--algorithm",
            algorithm,
            "--seed",
            "11",
        ]
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        new = json.loads(outfile.read_text())
        assert len(new) == 2
        for point in new:
            assert set(point) == {"x", "n", "c"} and 0 <= point["x"] <= 1 and isinstance(point["n"], int)
        # the first new point is evaluated at once, the second is still pending at the next call
        history += [[new[0], loss(new[0])], [new[1], None]]
        # stateless: the same input gives the same points
        again = tmp_path / "again.json"
        assert run_cli(*args[:4], again, *args[5:]).exit_code == 0
        assert json.loads(again.read_text()) == new
    keys = {json.dumps(p, sort_keys=True) for p, _ in history}
    assert len(keys) == 6, "a point was asked twice"
    if algorithm == "grid":
        assert sorted(p["c"] for p, _ in history) == ["a", "a", "b", "b", "c", "c"]
    done = tmp_path / "done.json"
    done.write_text(json.dumps({"points": history, "opt_space": space}))
    assert (
        run_cli(
            "generate", "--in", done, "--out", tmp_path / "end.json", "-n", "2", "-m", "6", "--algorithm", algorithm
        ).exit_code
        == 0
    )
    assert json.loads((tmp_path / "end.json").read_text()) == []  # max_points reached


def test_grid_ends_when_every_grid_point_ran():
    space = {"c": GRID["c"]}
    history = [({"c": c}, 1.0) for c in ("a", "b", "c")]
    assert generate(history, space, "grid", 5, max_points=3) == []
    assert [p["c"] for p in generate(history[:1], space, "grid", 5, max_points=3)] == ["b", "c"]


def test_bad_steering_input_is_a_clear_error(tmp_path, base):
    infile = tmp_path / "in.json"
    infile.write_text(json.dumps({"points": [[{"x": 0.5}, 1.0]], "opt_space": SPACE}))
    result = run_cli("generate", "--in", infile, "--out", tmp_path / "o.json", "-n", "1", "-m", "3")
    assert result.exit_code == 2 and "search_space.n: missing from the point" in result.stderr
    assert not (tmp_path / "o.json").exists()
    infile.write_text(json.dumps({"points": [], "opt_space": SPACE}))
    result = run_cli(
        "generate", "--in", infile, "--out", tmp_path / "o.json", "-n", "1", "-m", "3", "--algorithm", "pbt"
    )
    assert result.exit_code == 2 and "--algorithm: got 'pbt'" in result.stderr


def test_a_pending_point_in_the_random_start_does_not_stop_the_steering():
    """bayesian: a history longer than the random start with a point of it still pending (a slow or lost
    evaluation) made the replay fail ("did not take back point"), and a pending random start answered []
    (the end of the iDDS task) while points were still due."""
    import random

    rng = random.Random(1)
    history = [({"x": rng.random(), "n": rng.randint(1, 100), "c": rng.choice("ab")}, None) for _ in range(14)]
    history = [(p, None if i in (1, 3) else loss(p)) for i, (p, _) in enumerate(history)]
    assert len(generate(history, SPACE, "bayesian", 3, max_points=30, seed=2)) == 3
    pending = [(p, None) for p, _ in history[:4]]  # the whole first generation still out
    assert len(generate(pending, SPACE, "bayesian", 3, max_points=30, seed=2)) == 3


def test_warm_points_inform_the_steering_and_do_not_count_towards_max_points():
    """submit_idds --warm_start: the earlier points are learnt first (bayesian leaves its random start at
    once: its points are the Gaussian process's, the same whatever the call's seed) and max_points counts
    the task's own points only."""
    import random

    rng = random.Random(2)
    warm = [{"x": rng.random(), "n": rng.randint(1, 100), "c": rng.choice("ab")} for _ in range(8)]
    warm = [(p, loss(p)) for p in warm]
    first = generate([], SPACE, "bayesian", 2, max_points=2, seed=1, warm=warm)
    assert len(first) == 2
    other_seed = generate([], SPACE, "bayesian", 2, max_points=2, seed=5, warm=warm)
    for mine, other in zip(first, other_seed, strict=True):  # the acquisition's optimum (its own restarts aside)
        assert (mine["c"], mine["n"]) == (other["c"], other["n"]) and mine["x"] == pytest.approx(other["x"], abs=1e-3)
    assert generate([], SPACE, "bayesian", 2, max_points=2, seed=1) != generate([], SPACE, "bayesian", 2, 2, seed=5)
    assert generate([(first[0], 0.1), (first[1], 0.2)], SPACE, "bayesian", 2, max_points=2, warm=warm) == []
