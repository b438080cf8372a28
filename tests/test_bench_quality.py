"""bench/quality.py at a tiny size: both sides produce regrets, the regret is sound, the optima are right."""

from __future__ import annotations

import importlib.util
import itertools
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
