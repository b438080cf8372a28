"""bench/quality.py at a tiny size: both sides produce regrets, the regret is sound, the optima are right."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # for its dataclasses
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_known_optima(quality):
    problems = quality.problems()
    branin = problems["branin"]
    # a dense grid over Branin's box comes within 1e-3 of its known minimum, and never below it
    grid = [(-5 + 15 * i / 600, 15 * j / 600) for i in range(601) for j in range(601)]
    low = min(branin.loss({"x1": a, "x2": b}) for a, b in grid)
    assert branin.optimum - 1e-9 <= low <= branin.optimum + 1e-3
    for name, at in (("rosenbrock5", 1.0), ("levy10", 1.0)):
        dims = len(problems[name].space)
        assert problems[name].loss({f"x{i}": at for i in range(dims)}) == pytest.approx(0.0, abs=1e-12)
    assert problems["cond"].loss({"model": "net", "lr": 1e-3, "depth": 1, "x": 0.6}) == pytest.approx(0.0, abs=1e-12)
    table = quality.digits_table()
    assert problems["digits"].optimum == min(table.values())
    assert len(table) == math.prod(len(v) for v in quality.DIGITS_GRID.values())


def test_tiny_run(quality):
    algorithms, functions, seeds, budgets = ["random", "optuna"], ["branin", "cond"], 2, [3, 5]
    task_list = quality.tasks(algorithms, functions, seeds, budgets)
    results = quality.run_all(task_list, processes=1)
    assert len(results) == 2 * 2 * 2 * seeds  # algorithms x functions x sides x seeds, one run of 5 each
    for (_, _, function, budget, _), losses in results.items():
        assert len(losses) == budget and all(math.isfinite(v) for v in losses)
        curve = quality.best_so_far(losses)
        assert all(a >= b for a, b in itertools.pairwise(curve))
        assert min(losses) >= quality.problems()[function].optimum - 1e-9
    rows = quality.table(results, algorithms, functions, seeds, budgets)
    assert len(rows) == len(algorithms) * len(functions) * len(budgets)
    for row in rows:
        for side in ("hpogrid", "library"):
            q25, median, q75 = row[side]
            assert 0 <= q25 <= median <= q75 < math.inf
    # more trials never leave a larger regret: budget 5 extends budget 3 of the same run
    by_key = {(r["algorithm"], r["function"], r["budget"]): r for r in rows}
    for algorithm, function in itertools.product(algorithms, functions):
        assert by_key[(algorithm, function, 5)]["hpogrid"][1] <= by_key[(algorithm, function, 3)]["hpogrid"][1]
    text = quality.format_table(rows, markdown=True)
    assert text.count("\n") == len(rows) + 1 and "| optuna | cond | 5 |" in text


def test_warm_start_section(quality, tmp_path, capsys):
    """The warm-start part at a tiny size: optuna (6 earlier trials + 6 new: past TPE's 10 random ones), 2 seeds."""
    algorithms, functions, seeds, n = ["optuna"], ["branin"], 2, 6
    task_list = quality.warm_tasks(algorithms, functions, seeds, n)
    results = quality.run_all(task_list, processes=1)
    assert sorted(results) == [("warm", "optuna", "branin", n, s) for s in range(seeds)]
    branin = quality.problems()["branin"]
    for (_, algorithm, _, _, seed), runs in results.items():
        sizes = {k: len(v) for k, v in runs.items()}
        assert sizes == {"earlier": n, "warm": n, "cold": n, "double": 2 * n}
        for losses in runs.values():
            assert all(math.isfinite(v) and v >= branin.optimum - 1e-9 for v in losses)
        # the earlier n are the first n of the cold 2n (anytime), and what a cold search of n runs
        assert runs["earlier"] == runs["double"][:n] == quality.run_hpogrid(algorithm, branin, n, seed)
        # the warm search learned the earlier points: with the same seed, a cold search asks otherwise
        assert runs["warm"] != runs["cold"]
        # another seed, another search
        assert runs["cold"] != runs["earlier"]
    assert results[("warm", "optuna", "branin", n, 0)]["cold"] != results[("warm", "optuna", "branin", n, 1)]["cold"]
    rows = quality.warm_table(results, algorithms, functions, seeds, n)
    assert len(rows) == 1
    row = rows[0]
    regret = row["regret"]
    for key in ("earlier", "cold", "warm", "new", "double"):
        assert len(regret[key]) == seeds
        q25, median, q75 = row[key]
        assert 0 <= q25 <= median <= q75 < math.inf
    # by construction: warm keeps the earlier n, so it is never worse than them, nor than its new n alone
    for s in range(seeds):
        assert regret["warm"][s] <= regret["earlier"][s]
        assert regret["warm"][s] <= regret["new"][s]
        assert regret["double"][s] <= regret["earlier"][s]
    assert row["warm_wins"] == sum(w < c for w, c in zip(regret["warm"], regret["cold"], strict=True))
    assert 0 <= row["new_wins"] <= seeds and row["short"] == 0
    text = quality.format_warm(rows, markdown=True)
    assert text.count("\n") == 2 and "| optuna | branin |" in text and "| cold 6 | warm 6 after 6 |" in text
    # the command line's warm-start part only, from the searches kept in a cache (nothing run again)
    cache = tmp_path / "cache.jsonl"
    cache.write_text("".join(json.dumps([list(t), r]) + "\n" for t, r in results.items()))
    argv = ["--warm-start-only", "--algorithms", "optuna", "--functions", "branin", "--seeds", "2"]
    assert quality.main([*argv, "--warm-n", str(n), "--processes", "1", "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    assert quality.format_warm(rows, markdown=False) in out
    assert "Simple regret over" not in out and "Multi-fidelity" not in out
