"""Search efficiency of hpogrid's algorithms against the same libraries driven directly.

Single fidelity: for every algorithm, the simple regret (best loss found minus the known optimum)
after 10/25/50/100 trials, median and quartiles over seeds 0..N-1, on
  branin (2-D), rosenbrock5, levy10, cond (a conditional toy: a categorical picks which of a
  log-uniform, an integer and a uniform hyperparameter matter) and digits (a tabular benchmark:
  scikit-learn digits, a one-hidden-layer MLP trained 10 epochs, its validation error tabulated on
  4 x 9 x 6 x 5 configurations, bench/data/digits_mlp.json; a continuous value is snapped to the
  nearest tabulated one; regret = error - the table's lowest error, i.e. accuracy lost).
hpogrid's side is the searcher `hpogrid.local.algorithms.build_search` makes from the hpo_config
(max_concurrent 1, the seed in hpo_config.seed), driven in-process as Ray Tune drives it with one
trial at a time: set_search_properties, then suggest / on_trial_complete per trial (a suggestion of
None is asked again, as Ray does; FINISHED ends the search). That is the searcher, the translated
space and the seeding of a real run, without Ray's per-trial process overhead. random/tune/grid
sample hpogrid's variant_space with Ray's generate_variants and the variant generator's seeded RNG
(grid has no grid_search category here, so it samples like random).
The library's side is each library as its documentation drives it, with the same seed and budget:
  random numpy, optuna study.optimize(TPESampler(seed)), hyperopt fmin(tpe.suggest, rstate),
  skopt gp_minimize, nevergrad NGOpt ask/tell, bayes_opt BayesianOptimization.maximize
  (init_points 5), ax AxClient; each with its natural space (log scales, integers, categories).
Budgets are anytime prefixes of one run of `max(budgets)` trials, except nevergrad (NGOpt picks its
optimizer from the budget): one run per budget on both sides. tune is an alias of random; bohb
needs its HyperBand and is in the multi-fidelity part. The ratio column is hpogrid's median over the
library's; a ratio > 1.1 is flagged `*` when hpogrid's median is also above the library's upper
quartile (beyond noise). "same trials" counts the seeds whose trials were identical on both sides.
The costly model-based searchers run by default at fewer budgets and functions (CAPS, ONLY: GP and
BoTorch steps take 0.3-5 s each on a shared 2-CPU machine); --full runs them everywhere (hours).

Multi-fidelity: a synthetic learning curve (accuracy rising with epochs to a plateau set by lr,
width and dropout, best 0.97; deterministic), run for real through `hpogrid.local.runner.run`
(Ray Tune, one Ray session, max_concurrent 2, 27 trials of at most 9 epochs): random search with
full budgets (fifo), asynchyperband (ASHA), hyperband (random search) and bohb + bohbhyperband.
Reported: epochs spent (all trials' epochs in the order they ran) until the best accuracy reaches
0.95, how many seeds reached it, the run's epochs in total, its best accuracy.

Warm start: does a search told the trials of an earlier one (build_search's `evaluated`, what
`--warm_start` gives a run) do better than one started cold? For each model-based algorithm (hyperopt,
optuna, skopt, nevergrad; bayesian and ax with --full), branin and rosenbrock5, and seeds s = 0..9:
an earlier cold search of N trials (seed s), a warm search of N new trials (seed s+1000) told those N
first, a cold search of N with that seed, and a cold search of 2N (seed s; the ideal continuation).
Reported: the simple regret of cold N, of the warm search (the best of the earlier N and its N: what the
user has), of its new N alone (below cold N: the searcher used the points), of cold 2N; the seeds where
warm and its new N alone beat cold N. N = 25 (--warm-n). bohb is not in it: TuneBOHB learns only
from HyperBandForBOHB's results (hyperband_info), which this single-fidelity driver has not.

Usage:  python bench/quality.py [--algorithms A,B] [--functions F,G] [--seeds 10] [--budgets 10,25,50,100]
            [--processes 2] [--quick] [--full] [--markdown] [--cache FILE] [--mf-seeds 2]
            [--no-multifidelity | --multifidelity-only] [--no-warm-start | --warm-start-only] [--warm-n 25]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "digits_mlp.json"
ALGORITHMS = ("random", "grid", "bayesian", "hyperopt", "skopt", "ax", "optuna", "nevergrad")
BUDGET_DEPENDENT = ("nevergrad",)
NOISE = 1.1
# the default run's limits for the costly model-based searchers (seconds per run at budget 100 on this
# machine: skopt 90-150, bayesian 30, ax 150+); --full lifts them
CAPS = {"bayesian": 25, "skopt": 25, "ax": 10}
ONLY = {"bayesian": ("branin", "cond", "digits"), "skopt": ("branin", "cond", "digits"), "ax": ("branin",)}


# -- problems ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    name: str
    space: dict  # hpogrid search_space JSON (flat names)
    optimum: float
    loss: Callable[[dict], float]


def _uniform(low: float, high: float) -> dict:
    return {"method": "uniform", "dimension": {"low": low, "high": high}}


def branin(c: dict) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def rosenbrock(c: dict) -> float:
    x = [c[f"x{i}"] for i in range(len(c))]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def levy(c: dict) -> float:
    w = [1 + (c[f"x{i}"] - 1) / 4 for i in range(len(c))]
    head = math.sin(math.pi * w[0]) ** 2
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    body = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return head + body + tail


def conditional(c: dict) -> float:
    """Which hyperparameters matter depends on `model`; the optimum 0 is in branch 'net' only."""
    lr, x = math.log10(c["lr"]), c["x"]
    if c["model"] == "net":
        return (lr + 3) ** 2 / 4 + 4 * (x - 0.6) ** 2
    if c["model"] == "tree":
        return 0.3 + (c["depth"] - 7) ** 2 / 25 + (x - 0.2) ** 2
    return 0.6 + (lr + 1.5) ** 2 / 8


DIGITS_GRID = {
    "hidden": [16, 32, 64, 128],
    "lr": [10 ** (k / 2) for k in range(-8, 1)],  # 1e-4 .. 1, 9 values
    "alpha": [10.0**k for k in range(-6, 0)],  # 1e-6 .. 1e-1
    "batchsize": [16, 32, 64, 128, 256],
}
DIGITS_EPOCHS = 10


def _nearest_log(value: float, grid: list) -> int:
    return min(range(len(grid)), key=lambda i: abs(math.log(grid[i]) - math.log(value)))


def digits_key(c: dict) -> str:
    g = DIGITS_GRID
    return (
        f"{g['hidden'].index(c['hidden'])},{_nearest_log(c['lr'], g['lr'])},"
        f"{_nearest_log(c['alpha'], g['alpha'])},{_nearest_log(c['batchsize'], g['batchsize'])}"
    )


def digits_error(key: str) -> float:
    """Validation error of one tabulated configuration (MLP, DIGITS_EPOCHS epochs, seed 0)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    sys.path.insert(0, str(HERE.parent / "example" / "scripts"))
    from mnist import load_digits_split

    h, lr, alpha, batch = (int(i) for i in key.split(","))
    g = DIGITS_GRID
    x_train, x_val, y_train, y_val = load_digits_split()
    model = MLPClassifier(
        hidden_layer_sizes=(g["hidden"][h],),
        learning_rate_init=g["lr"][lr],
        alpha=g["alpha"][alpha],
        batch_size=g["batchsize"][batch],
        max_iter=DIGITS_EPOCHS,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return round(1.0 - float(model.score(x_val, y_val)), 6)


def digits_table(processes: int = 2) -> dict[str, float]:
    """The tabulated errors, computed once (about 3 CPU minutes) and kept in bench/data."""
    if TABLE.is_file():
        return json.loads(TABLE.read_text())["error"]
    import itertools
    from multiprocessing import Pool

    keys = [",".join(map(str, k)) for k in itertools.product(*(range(len(v)) for v in DIGITS_GRID.values()))]
    with Pool(processes) as pool:
        errors = dict(zip(keys, pool.map(digits_error, keys, chunksize=8), strict=True))
    import sklearn

    TABLE.parent.mkdir(exist_ok=True)
    about = f"1 - validation accuracy, MLP {DIGITS_EPOCHS} epochs, scikit-learn {sklearn.__version__}"
    TABLE.write_text(json.dumps({"about": about, "grid": DIGITS_GRID, "error": errors}, indent=0) + "\n")
    return errors


class Digits:
    """Loss of the digits tabular benchmark (a picklable callable)."""

    def __init__(self) -> None:
        self.table: dict[str, float] | None = None

    def __call__(self, c: dict) -> float:
        if self.table is None:
            self.table = digits_table()
        return self.table[digits_key(c)]


def problems() -> dict[str, Problem]:
    digits_space = {
        "hidden": {"method": "categorical", "dimension": {"categories": DIGITS_GRID["hidden"]}},
        "lr": {"method": "loguniform", "dimension": {"low": 1e-4, "high": 1.0}},
        "alpha": {"method": "loguniform", "dimension": {"low": 1e-6, "high": 0.1}},
        "batchsize": {"method": "uniformint", "dimension": {"low": 16, "high": 256}},
    }
    digits_optimum = min(digits_table().values()) if TABLE.is_file() else 0.0
    return {
        "branin": Problem("branin", {"x1": _uniform(-5, 10), "x2": _uniform(0, 15)}, 0.397887357729739, branin),
        "rosenbrock5": Problem("rosenbrock5", {f"x{i}": _uniform(-5, 10) for i in range(5)}, 0.0, rosenbrock),
        "levy10": Problem("levy10", {f"x{i}": _uniform(-10, 10) for i in range(10)}, 0.0, levy),
        "cond": Problem(
            "cond",
            {
                "model": {"method": "categorical", "dimension": {"categories": ["linear", "tree", "net"]}},
                "lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 0.1}},
                "depth": {"method": "uniformint", "dimension": {"low": 1, "high": 12}},
                "x": _uniform(0, 1),
            },
            0.0,
            conditional,
        ),
        "digits": Problem("digits", digits_space, digits_optimum, Digits()),
    }


# -- hpogrid's side ---------------------------------------------------------------------------------
def run_hpogrid(
    algorithm: str,
    problem: Problem,
    budget: int,
    seed: int,
    evaluated: Sequence[Any] = (),
    configs: list[dict] | None = None,
) -> list[float]:
    """Losses of `budget` trials of hpogrid's searcher for `algorithm`, in order. evaluated: earlier
    points (hpogrid.warmstart.Evaluated) the searcher learns before its first suggestion (warm start);
    configs: if given, each trial's (flat) config is appended to it."""
    from hpogrid.catalog import VARIANT_GENERATOR
    from hpogrid.configs.hpo import SCHEMA
    from hpogrid.local.algorithms import build_search
    from hpogrid.space.model import SearchSpace

    hpo = SCHEMA.validate(
        {"algorithm": algorithm, "scheduler": "fifo", "num_trials": budget, "max_concurrent": 1, "seed": seed}
    )
    space = SearchSpace.parse(problem.space)
    search, param_space, samples = build_search(space, hpo, {}, [], seed, evaluated)
    losses: list[float] = []
    if algorithm in VARIANT_GENERATOR:
        from ray.tune.search.sample import _BackwardsCompatibleNumpyRng
        from ray.tune.search.variant_generator import generate_variants

        rng = _BackwardsCompatibleNumpyRng(seed)  # what BasicVariantGenerator(random_state=seed) makes
        for _ in range(samples):
            for _, spec in generate_variants({"config": param_space}, random_state=rng):
                flat = space.flatten(spec["config"])
                losses.append(problem.loss(flat))
                if configs is not None:
                    configs.append(flat)
        if configs is not None:
            del configs[budget:]
        return losses[:budget]
    from ray.tune.search import Searcher

    search.set_search_properties(hpo["metric"], hpo["mode"], param_space)
    waits = 0
    while len(losses) < budget:
        trial_id = f"t{len(losses)}"
        config = search.suggest(trial_id)
        if config is None:  # Ray asks again later; with one trial at a time nothing changes meanwhile
            waits += 1
            if waits > 50:
                break
            continue
        if config == Searcher.FINISHED:
            break
        flat = space.flatten(config)
        loss = problem.loss(flat)
        search.on_trial_complete(trial_id, {hpo["metric"]: loss, "training_iteration": 1})
        losses.append(loss)
        if configs is not None:
            configs.append(flat)
    close = getattr(search, "close", None)
    if callable(close):
        close()
    return losses


# -- the libraries' side ----------------------------------------------------------------------------
def _dims(problem: Problem) -> list[tuple[str, str, dict]]:
    return [(name, spec["method"], spec["dimension"]) for name, spec in problem.space.items()]


def lib_random(problem: Problem, budget: int, seed: int) -> list[float]:
    import numpy as np

    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(budget):
        c: dict[str, Any] = {}
        for name, method, d in _dims(problem):
            if method == "categorical":
                c[name] = d["categories"][int(rng.integers(len(d["categories"])))]
            elif method == "uniformint":
                c[name] = int(rng.integers(d["low"], d["high"] + 1))
            elif method == "loguniform":
                c[name] = float(math.exp(rng.uniform(math.log(d["low"]), math.log(d["high"]))))
            else:
                c[name] = float(rng.uniform(d["low"], d["high"]))
        losses.append(problem.loss(c))
    return losses


def lib_optuna(problem: Problem, budget: int, seed: int) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        c: dict[str, Any] = {}
        for name, method, d in _dims(problem):
            if method == "categorical":
                c[name] = trial.suggest_categorical(name, d["categories"])
            elif method == "uniformint":
                c[name] = trial.suggest_int(name, d["low"], d["high"])
            else:
                c[name] = trial.suggest_float(name, d["low"], d["high"], log=method == "loguniform")
        return problem.loss(c)

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=budget)
    return [t.value for t in study.trials]


def lib_hyperopt(problem: Problem, budget: int, seed: int) -> list[float]:
    import numpy as np
    from hyperopt import STATUS_OK, Trials, fmin, hp, tpe

    space: dict[str, Any] = {}
    for name, method, d in _dims(problem):
        if method == "categorical":
            space[name] = hp.choice(name, d["categories"])
        elif method == "uniformint":
            space[name] = hp.uniformint(name, d["low"], d["high"])
        elif method == "loguniform":
            space[name] = hp.loguniform(name, math.log(d["low"]), math.log(d["high"]))
        else:
            space[name] = hp.uniform(name, d["low"], d["high"])
    trials = Trials()

    def objective(c: dict) -> dict:
        c = {k: int(v) if _method(problem, k) == "uniformint" else v for k, v in c.items()}
        return {"loss": problem.loss(c), "status": STATUS_OK}

    fmin(
        objective,
        space,
        algo=tpe.suggest,
        max_evals=budget,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return list(trials.losses())


def _method(problem: Problem, name: str) -> str:
    return problem.space[name]["method"]


def lib_skopt(problem: Problem, budget: int, seed: int) -> list[float]:
    from skopt import gp_minimize
    from skopt.space import Categorical, Integer, Real

    dims = []
    for name, method, d in _dims(problem):
        if method == "categorical":
            dims.append(Categorical(d["categories"], name=name))
        elif method == "uniformint":
            dims.append(Integer(d["low"], d["high"], name=name))
        else:
            prior = "log-uniform" if method == "loguniform" else "uniform"
            dims.append(Real(float(d["low"]), float(d["high"]), prior=prior, name=name))
    names = [d.name for d in dims]
    result = gp_minimize(
        lambda x: problem.loss(dict(zip(names, x, strict=True))), dims, n_calls=budget, random_state=seed
    )
    return [float(v) for v in result.func_vals]


def lib_nevergrad(problem: Problem, budget: int, seed: int) -> list[float]:
    import nevergrad as ng

    from hpogrid.local.nevergrad_search import patch_metamodel

    patch_metamodel()  # nevergrad 1.0.12's meta-model on numpy >= 2.4 (a library bug, not hpogrid's)
    params: dict[str, Any] = {}
    for name, method, d in _dims(problem):
        if method == "categorical":
            params[name] = ng.p.Choice(d["categories"])
        elif method == "uniformint":
            params[name] = ng.p.Scalar(lower=d["low"], upper=d["high"]).set_integer_casting()
        elif method == "loguniform":
            params[name] = ng.p.Log(lower=d["low"], upper=d["high"])
        else:
            params[name] = ng.p.Scalar(lower=d["low"], upper=d["high"])
    parametrization = ng.p.Dict(**params)
    parametrization.random_state.seed(seed)
    optimizer = ng.optimizers.NGOpt(parametrization=parametrization, budget=budget, num_workers=1)
    losses = []
    for _ in range(budget):
        candidate = optimizer.ask()
        loss = problem.loss(candidate.value)
        optimizer.tell(candidate, loss)
        losses.append(loss)
    return losses


def lib_bayesian(problem: Problem, budget: int, seed: int) -> list[float]:
    from bayes_opt import BayesianOptimization

    bounds, decode = {}, {}
    for name, method, d in _dims(problem):  # bayes_opt searches a float box: its docs' advice for the rest
        if method == "categorical":
            cats = d["categories"]
            bounds[name] = (0.0, float(len(cats)))
            decode[name] = lambda v, cats=cats: cats[min(int(v), len(cats) - 1)]
        elif method == "uniformint":
            bounds[name] = (d["low"] - 0.5, d["high"] + 0.5)
            decode[name] = lambda v: int(round(v))
        elif method == "loguniform":
            bounds[name] = (math.log(d["low"]), math.log(d["high"]))
            decode[name] = math.exp
        else:
            bounds[name] = (float(d["low"]), float(d["high"]))
            decode[name] = float
    losses: list[float] = []

    def target(**x: float) -> float:
        losses.append(problem.loss({k: decode[k](v) for k, v in x.items()}))
        return -losses[-1]

    optimizer = BayesianOptimization(f=target, pbounds=bounds, random_state=seed, verbose=0)
    optimizer.maximize(init_points=min(5, budget), n_iter=max(budget - 5, 0))
    return losses


def lib_ax(problem: Problem, budget: int, seed: int) -> list[float]:
    from ax.service.ax_client import AxClient, ObjectiveProperties

    parameters = []
    for name, method, d in _dims(problem):
        if method == "categorical":
            parameters.append({"name": name, "type": "choice", "values": d["categories"], "is_ordered": False})
        elif method == "uniformint":
            parameters.append({"name": name, "type": "range", "bounds": [d["low"], d["high"]], "value_type": "int"})
        else:
            bounds = [float(d["low"]), float(d["high"])]
            parameters.append({"name": name, "type": "range", "bounds": bounds, "log_scale": method == "loguniform"})
    client = AxClient(random_seed=seed, verbose_logging=False)
    client.create_experiment(parameters=parameters, objectives={"loss": ObjectiveProperties(minimize=True)})
    losses = []
    for _ in range(budget):
        c, index = client.get_next_trial()
        losses.append(problem.loss(c))
        client.complete_trial(index, raw_data=losses[-1])
    return losses


LIBRARY: dict[str, Callable[[Problem, int, int], list[float]]] = {
    "random": lib_random,
    "grid": lib_random,
    "bayesian": lib_bayesian,
    "hyperopt": lib_hyperopt,
    "skopt": lib_skopt,
    "ax": lib_ax,
    "optuna": lib_optuna,
    "nevergrad": lib_nevergrad,
}


# -- running ----------------------------------------------------------------------------------------
def _quiet() -> None:
    """One thread per process (2 processes share 2 CPUs) and no library chatter."""
    import logging
    import warnings

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    warnings.filterwarnings("ignore")
    for name in ("ax", "ray", "hyperopt", "optuna", "nevergrad"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.disable(logging.WARNING)


def job(task: tuple[str, str, str, int, int]) -> tuple[tuple[str, str, str, int, int], Any, float]:
    """(side, algorithm, function, budget, seed) -> its losses and seconds (side "warm": the warm-start
    section's searches, warm_runs)."""
    _quiet()
    side, algorithm, function, budget, seed = task
    problem = problems()[function]
    start = time.perf_counter()
    if side == "hpogrid":
        losses = run_hpogrid(algorithm, problem, budget, seed)
    elif side == "warm":
        losses = warm_runs(algorithm, problem, budget, seed)
    else:
        losses = LIBRARY[algorithm](problem, budget, seed)
    return task, losses, time.perf_counter() - start


def best_so_far(losses: list[float]) -> list[float]:
    best, out = math.inf, []
    for value in losses:
        best = min(best, value)
        out.append(best)
    return out


def regret_at(losses: list[float], budget: int, optimum: float) -> float:
    """Simple regret after `budget` trials (a search that stopped early keeps its best)."""
    curve = best_so_far(losses[:budget])
    return max(curve[-1] - optimum, 0.0) if curve else math.inf


def plan(algorithm: str, functions: list[str], budgets: list[int], full: bool) -> tuple[list[str], list[int]]:
    """The functions and budgets an algorithm is run at (CAPS and ONLY unless `full`)."""
    if full:
        return functions, budgets
    cap = CAPS.get(algorithm, max(budgets))
    kept = [b for b in budgets if b <= cap] or [min(budgets)]
    return [f for f in functions if f in ONLY.get(algorithm, functions)], kept


def tasks(algorithms: list[str], functions: list[str], seeds: int, budgets: list[int], full: bool = True) -> list:
    out = []
    for algorithm in algorithms:
        names, kept = plan(algorithm, functions, budgets, full)
        runs = kept if algorithm in BUDGET_DEPENDENT else [max(kept)]
        for function in names:
            for side in ("hpogrid", "library"):
                for budget in runs:
                    out.extend((side, algorithm, function, budget, seed) for seed in range(seeds))
    cost = {"ax": 40, "skopt": 8, "bayesian": 6, "nevergrad": 2, "hyperopt": 1, "optuna": 1}
    return sorted(out, key=lambda t: -cost.get(t[1], 0.1) * t[3] * (2 if t[2] in ("levy10", "digits") else 1))


def run_all(task_list: list[tuple], processes: int, cache: Path | None = None) -> dict[tuple, Any]:
    """Every task's losses; with `cache` (a JSON-lines file) finished searches are kept and reused."""
    results: dict[tuple, list[float]] = {}
    if cache is not None and cache.is_file():
        for line in cache.read_text().splitlines():
            task, losses = json.loads(line)
            results[tuple(task)] = losses
    todo = [t for t in task_list if t not in results]
    out = cache.open("a") if cache is not None else None
    start, done = time.time(), 0

    def keep(task: tuple, losses: list[float]) -> None:
        nonlocal done
        results[task], done = losses, done + 1
        if out is not None:
            out.write(json.dumps([task, losses]) + "\n")
            out.flush()
        if sys.stderr.isatty() or cache is not None:
            print(f"\r{done}/{len(todo)} searches, {time.time() - start:.0f} s", end="", file=sys.stderr, flush=True)

    try:
        if processes <= 1:
            for task, losses, _ in map(job, todo):
                keep(task, losses)
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(processes) as pool:
                for task, losses, _ in pool.imap_unordered(job, todo):
                    keep(task, losses)
    finally:
        if out is not None:
            out.close()
    if todo:
        print(file=sys.stderr)
    return {t: results[t] for t in task_list}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def table(
    results: dict, algorithms: list[str], functions: list[str], seeds: int, budgets: list[int], full: bool = True
) -> list[dict]:
    rows, probs = [], problems()
    for algorithm in algorithms:
        names, kept = plan(algorithm, functions, budgets, full)
        for function in names:
            for budget in kept:
                run = budget if algorithm in BUDGET_DEPENDENT else max(kept)
                side = {}
                for who in ("hpogrid", "library"):
                    side[who] = [
                        regret_at(results[(who, algorithm, function, run, s)], budget, probs[function].optimum)
                        for s in range(seeds)
                    ]
                ours, theirs = quartiles(side["hpogrid"]), quartiles(side["library"])
                same = sum(
                    results[("hpogrid", algorithm, function, run, s)][:budget]
                    == results[("library", algorithm, function, run, s)][:budget]
                    for s in range(seeds)
                )
                ratio = ours[1] / theirs[1] if theirs[1] > 0 else (1.0 if ours[1] == 0 else math.inf)
                flag = ratio > NOISE and ours[1] > theirs[2]
                rows.append(
                    {
                        "algorithm": algorithm,
                        "function": function,
                        "budget": budget,
                        "hpogrid": ours,
                        "library": theirs,
                        "ratio": ratio,
                        "flag": flag,
                        "same": f"{same}/{seeds}",
                    }
                )
    return rows


def _g(x: float) -> str:
    return f"{x:.3g}"


def format_table(rows: list[dict], markdown: bool) -> str:
    head = [
        "algorithm",
        "function",
        "budget",
        "hpogrid median [q25-q75]",
        "library median [q25-q75]",
        "ratio",
        "same trials",
    ]
    body = [
        [
            r["algorithm"],
            r["function"],
            str(r["budget"]),
            f"{_g(r['hpogrid'][1])} [{_g(r['hpogrid'][0])}-{_g(r['hpogrid'][2])}]",
            f"{_g(r['library'][1])} [{_g(r['library'][0])}-{_g(r['library'][2])}]",
            f"{r['ratio']:.2f}" + (" *" if r["flag"] else ""),
            r["same"],
        ]
        for r in rows
    ]
    return render(head, body, markdown)


def render(head: list[str], body: list[list[str]], markdown: bool) -> str:
    """A table as markdown, or as aligned plain columns."""
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    return "\n".join("  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in [head, *body])


# -- warm start -------------------------------------------------------------------------------------
WARM_ALGORITHMS = ("hyperopt", "optuna", "skopt", "nevergrad")
WARM_SLOW = ("bayesian", "ax")  # with --full only
WARM_FUNCTIONS = ("branin", "rosenbrock5")
WARM_N = 25
WARM_SEED = 1000  # the warm search's seed is the earlier search's + WARM_SEED


def warm_runs(algorithm: str, problem: Problem, n: int, seed: int) -> dict[str, list[float]]:
    """The warm-start section's searches for one seed, their losses in order:
    earlier: a cold search of n trials (seed `seed`);
    warm: n new trials of a search (seed `seed + WARM_SEED`) told the earlier n first (build_search's
      evaluated, as `--warm_start` tells them);
    cold: a cold search of n trials with the warm search's seed (the same searcher without the points);
    double: a cold search of 2n trials (seed `seed`), the ideal continuation of the earlier n.
    Earlier is double's first n trials (the same searcher and seed: anytime), except for an algorithm
    that plans by its budget (BUDGET_DEPENDENT: its own run)."""
    from hpogrid.space.model import SearchSpace
    from hpogrid.warmstart import Evaluated

    space, other = SearchSpace.parse(problem.space), seed + WARM_SEED
    configs: list[dict] = []
    double = run_hpogrid(algorithm, problem, 2 * n, seed, configs=configs)
    if algorithm in BUDGET_DEPENDENT:
        configs = []
        earlier = run_hpogrid(algorithm, problem, n, seed, configs=configs)
    else:
        earlier, configs = double[:n], configs[:n]
    points = [Evaluated(space.nest(c), loss) for c, loss in zip(configs, earlier, strict=True)]
    warm = run_hpogrid(algorithm, problem, n, other, evaluated=points)
    cold = run_hpogrid(algorithm, problem, n, other)
    return {"earlier": earlier, "warm": warm, "cold": cold, "double": double}


def warm_tasks(algorithms: list[str], functions: list[str], seeds: int, n: int) -> list[tuple]:
    out = [("warm", a, f, n, s) for a in algorithms for f in functions for s in range(seeds)]
    cost = {"ax": 40, "skopt": 8, "bayesian": 6, "nevergrad": 2, "hyperopt": 1, "optuna": 1}
    return sorted(out, key=lambda t: -cost.get(t[1], 0.1))


def warm_table(results: dict, algorithms: list[str], functions: list[str], seeds: int, n: int) -> list[dict]:
    """Per algorithm and function: the regrets of cold n, warm (the best of the earlier n and the new n:
    what the user has), the new n alone, cold 2n; the seeds where warm / the new n alone beat cold n."""
    rows, probs = [], problems()
    for algorithm in algorithms:
        for function in functions:
            optimum = probs[function].optimum
            runs = [results[("warm", algorithm, function, n, s)] for s in range(seeds)]
            regret = {
                "earlier": [regret_at(r["earlier"], n, optimum) for r in runs],
                "cold": [regret_at(r["cold"], n, optimum) for r in runs],
                "warm": [regret_at(r["earlier"] + r["warm"], 2 * n, optimum) for r in runs],
                "new": [regret_at(r["warm"], n, optimum) for r in runs],
                "double": [regret_at(r["double"], 2 * n, optimum) for r in runs],
            }
            rows.append(
                {
                    "algorithm": algorithm,
                    "function": function,
                    "n": n,
                    "seeds": seeds,
                    "regret": regret,
                    **{k: quartiles(v) for k, v in regret.items()},
                    "warm_wins": sum(w < c for w, c in zip(regret["warm"], regret["cold"], strict=True)),
                    "new_wins": sum(w < c for w, c in zip(regret["new"], regret["cold"], strict=True)),
                    "short": sum(len(r["warm"]) < n for r in runs),
                }
            )
    return rows


def _q(q: tuple[float, float, float]) -> str:
    return f"{_g(q[1])} [{_g(q[0])}-{_g(q[2])}]"


def format_warm(rows: list[dict], markdown: bool) -> str:
    n = rows[0]["n"] if rows else WARM_N
    head = [
        "algorithm",
        "function",
        f"cold {n}",
        f"warm {n} after {n}",
        f"warm's new {n} alone",
        f"cold {2 * n}",
        f"warm < cold {n}",
        f"new {n} < cold {n}",
    ]
    body = [
        [
            r["algorithm"],
            r["function"],
            _q(r["cold"]),
            _q(r["warm"]),
            _q(r["new"]),
            _q(r["double"]),
            f"{r['warm_wins']}/{r['seeds']}",
            f"{r['new_wins']}/{r['seeds']}",
        ]
        for r in rows
    ]
    return render(head, body, markdown)


def warm_start(algorithms: list[str], functions: list[str], seeds: int, n: int, args: argparse.Namespace) -> list:
    start = time.time()
    task_list = warm_tasks(algorithms, functions, seeds, n)
    results = run_all(task_list, args.processes, Path(args.cache) if args.cache else None)
    rows = warm_table(results, algorithms, functions, seeds, n)
    print(
        f"Warm start: simple regret over {seeds} seeds (median [q25-q75]). cold {n}: a search of {n} trials "
        f"(seed s+{WARM_SEED}); warm {n} after {n}: the best of an earlier cold {n} (seed s) and {n} new trials of "
        f"a search (seed s+{WARM_SEED}) told those {n} first; its new {n} alone; cold {2 * n}: one search of "
        f"{2 * n} (seed s), the ideal continuation. Last columns: seeds where it beat cold {n} (same seed)"
    )
    print(format_warm(rows, args.markdown))
    worse = [f"{r['algorithm']}/{r['function']}" for r in rows if not r["warm"][1] < r["cold"][1]]
    unused = [f"{r['algorithm']}/{r['function']}" for r in rows if not r["new"][1] < r["cold"][1]]
    print(f"warm not below cold {n} at the median: {', '.join(worse) or 'none'}")
    print(
        f"new {n} alone not below cold {n} at the median (the points did not help the searcher): "
        f"{', '.join(unused) or 'none'}"
    )
    short = [f"{r['algorithm']}/{r['function']}" for r in rows if r["short"]]
    if short:
        print("warm searches that ended before their budget:", ", ".join(short))
    print(f"warm-start part: {time.time() - start:.0f} s, {len(task_list)} x 3-4 searches, {args.processes} processes")
    return rows


# -- multi-fidelity ---------------------------------------------------------------------------------
CURVE_SCRIPT = '''
"""A synthetic learning curve: accuracy(epoch) rises to a plateau that lr, width and dropout set."""
import json, math, os, time

from ray import tune


def plateau(c):
    lr = math.log10(c["lr"])
    return 0.97 - 0.04 * (lr + 2.5) ** 2 - 0.03 * (math.log2(c["width"]) - 6) ** 2 / 4 - 0.3 * (c["dropout"] - 0.3) ** 2


def accuracy(c, epoch):
    rate = 0.6 * 10 ** ((math.log10(c["lr"]) + 2.5) / 2)  # per epoch: slow for a small lr, fast for a large one
    return 0.1 + (plateau(c) - 0.1) * (1 - math.exp(-rate * epoch))


class Curve(tune.Trainable):
    def setup(self, config):
        self.c, self.log = config, config["log"]

    def step(self):
        acc = accuracy(self.c, self.iteration + 1)
        with open(self.log, "a") as handle:
            handle.write(json.dumps([time.time(), acc]) + "\\n")
        return {"accuracy": acc}

    def save_checkpoint(self, checkpoint_dir):
        return None

    def load_checkpoint(self, checkpoint):
        pass
'''
MF_SPACE = {
    "lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-1}},
    "width": {"method": "uniformint", "dimension": {"low": 8, "high": 512}},
    "dropout": _uniform(0.0, 0.8),
}
MF_TRIALS, MF_EPOCHS = 27, 9
MF_TARGET = 0.95  # the best plateau is 0.97 (lr 10**-2.5, width 64, dropout 0.3)
MF_RUNS = {  # name -> (algorithm, scheduler)
    "random, full budgets": ("random", "fifo"),
    "asynchyperband (ASHA)": ("random", "asynchyperband"),
    "hyperband": ("random", "hyperband"),
    "bohb + bohbhyperband": ("bohb", "bohbhyperband"),
}


def multifidelity(seeds: int, trials: int = MF_TRIALS, max_t: int = MF_EPOCHS, more: int = 1) -> list[dict]:
    """Run each MF_RUNS entry per seed through hpogrid's local runner; epochs to MF_TARGET. `more`: the
    early-stopping schedulers get `more` times the trials (3: about random search's epochs)."""
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="hpogrid-quality-"))
    os.environ["HPOGRID_BASE_PATH"] = str(base)
    _quiet()
    import ray

    from hpogrid.local import runner
    from hpogrid.project import ProjectStore

    script = base / "curve.py"
    script.write_text(CURVE_SCRIPT)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    curves: dict[str, list[list[list[float]]]] = {name: [] for name in MF_RUNS}
    try:
        for seed in range(seeds):
            for name, (algorithm, scheduler) in MF_RUNS.items():
                log = base / f"{algorithm}-{scheduler}-{seed}.jsonl"
                param = {"scheduler_param": {"reduction_factor": 3}} if scheduler != "fifo" else {}
                if scheduler == "asynchyperband":
                    param["scheduler_param"]["grace_period"] = 1
                hpo = {
                    "algorithm": algorithm,
                    "scheduler": scheduler,
                    "metric": "accuracy",
                    "mode": "max",
                    "num_trials": trials if scheduler == "fifo" else trials * more,
                    "max_concurrent": 2,
                    "seed": seed,
                    "stop": {"training_iteration": max_t},
                    **param,
                }
                refs = {
                    "hpo_config": hpo,
                    "model_config": {"script": "curve.py", "model": "Curve", "param": {"log": str(log)}},
                    "search_space": MF_SPACE,
                }
                project_name = f"mf{seed}{algorithm}{scheduler}"
                ProjectStore().create(project_name, refs, script)
                runner.run(ProjectStore().load(project_name), runner.RunOptions(quiet=True))
                lines = [json.loads(line) for line in log.read_text().splitlines()]
                curves[name].append(sorted(lines))
    finally:
        ray.shutdown()
        shutil.rmtree(base, ignore_errors=True)
    target = MF_TARGET
    rows = []
    for name, runs in curves.items():
        reached = [next((i + 1 for i, (_, acc) in enumerate(run) if acc >= target), None) for run in runs]
        hits = [r for r in reached if r is not None]
        rows.append(
            {
                "run": name,
                "target": target,
                "epochs_to_target": statistics.median(hits) if hits else None,
                "reached": len(hits),
                "seeds": len(runs),
                "epochs_total": statistics.median(len(run) for run in runs),
                "best": statistics.median(max(acc for _, acc in run) for run in runs),
            }
        )
    return rows


def format_mf(rows: list[dict], markdown: bool) -> str:
    head = ["search", "epochs to target (median)", "seeds reaching it", "epochs in total", "best accuracy"]
    body = [
        [
            r["run"],
            "-" if r["epochs_to_target"] is None else f"{r['epochs_to_target']:.0f}",
            f"{r['reached']}/{r['seeds']}",
            f"{r['epochs_total']:.0f}",
            f"{r['best']:.4f}",
        ]
        for r in rows
    ]
    return render(head, body, markdown)


def single_fidelity(
    algorithms: list[str], functions: list[str], seeds: int, budgets: list[int], args: argparse.Namespace
) -> None:
    start = time.time()
    task_list = tasks(algorithms, functions, seeds, budgets, args.full)
    results = run_all(task_list, args.processes, Path(args.cache) if args.cache else None)
    rows = table(results, algorithms, functions, seeds, budgets, args.full)
    print(f"Simple regret over {seeds} seeds (median [q25-q75]); ratio = hpogrid / library median")
    print(format_table(rows, args.markdown))
    flagged = [r for r in rows if r["flag"]]
    print(f"{len(flagged)} of {len(rows)} beyond {NOISE}x and outside the library's quartiles (*)")
    short = sorted({(t[0], t[1], t[2]) for t, losses in results.items() if len(losses) < t[3]})
    if short:
        print("searches that ended before their budget (side, algorithm, function):", short)
    print(f"single-fidelity part: {time.time() - start:.0f} s, {len(task_list)} searches, {args.processes} processes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", help=f"default {','.join(ALGORITHMS)}; warm start: {','.join(WARM_ALGORITHMS)}")
    parser.add_argument(
        "--functions", help="default branin,rosenbrock5,levy10,cond,digits; warm start: branin,rosenbrock5"
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="10,25,50,100")
    parser.add_argument("--processes", type=int, default=2, choices=(1, 2))
    parser.add_argument("--mf-seeds", type=int, default=2, help="seeds of the multi-fidelity part")
    parser.add_argument("--no-multifidelity", action="store_true")
    parser.add_argument("--multifidelity-only", action="store_true")
    parser.add_argument(
        "--mf-more", type=int, default=1, help="trials of ASHA/HyperBand/BOHB: this many times random's"
    )
    parser.add_argument("--no-warm-start", action="store_true")
    parser.add_argument("--warm-start-only", action="store_true", help="only the warm-start part")
    parser.add_argument("--warm-n", type=int, default=WARM_N, help="trials of each warm-start search (N)")
    parser.add_argument("--cache", metavar="FILE", help="keep each finished search here (JSON lines); rerun resumes")
    parser.add_argument(
        "--quick", action="store_true", help="3 seeds, budgets 10,25, no ax, no multi-fidelity/warm start"
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--full", action="store_true", help="no CAPS/ONLY limits for bayesian, skopt, ax (hours)")
    args = parser.parse_args(argv)
    algorithms = [a.strip() for a in (args.algorithms or ",".join(ALGORITHMS)).split(",") if a.strip()]
    functions = [f.strip() for f in (args.functions or "branin,rosenbrock5,levy10,cond,digits").split(",") if f.strip()]
    budgets = sorted(int(b) for b in args.budgets.split(","))
    seeds, mf_seeds = args.seeds, args.mf_seeds
    if args.quick:
        seeds, budgets = min(seeds, 3), [b for b in budgets if b <= 25] or [10]
        algorithms, args.no_multifidelity = [a for a in algorithms if a != "ax"], True
        args.no_warm_start = args.no_warm_start or not args.warm_start_only
    sections = {
        "single": not (args.multifidelity_only or args.warm_start_only),
        "multifidelity": not (args.no_multifidelity or args.warm_start_only),
        "warm": not (args.no_warm_start or args.multifidelity_only),
    }
    for name in algorithms:
        if name not in LIBRARY:
            parser.error(f"--algorithms: {name!r} is not one of {', '.join(LIBRARY)}")
    for name in functions:
        if name not in problems():
            parser.error(f"--functions: {name!r} is not one of {', '.join(problems())}")
    from hpogrid.catalog import VARIANT_GENERATOR

    if args.algorithms:  # the model-based ones of those named (random/grid cannot start warm)
        warm_algorithms = [a for a in algorithms if a not in VARIANT_GENERATOR]
    else:
        warm_algorithms = list(WARM_ALGORITHMS) + (list(WARM_SLOW) if args.full else [])
    warm_functions = functions if args.functions else list(WARM_FUNCTIONS)
    if sections["warm"] and not warm_algorithms:
        parser.error("--algorithms: the warm-start part needs a model-based algorithm")
    if args.warm_n < 1:
        parser.error("--warm-n: at least 1")
    if "digits" in functions and (sections["single"] or (sections["warm"] and "digits" in warm_functions)):
        digits_table(args.processes)
    start = time.time()
    if sections["single"]:
        single_fidelity(algorithms, functions, seeds, budgets, args)
    if sections["warm"]:
        if sections["single"]:
            print()
        warm_start(warm_algorithms, warm_functions, seeds, args.warm_n, args)
    if sections["multifidelity"]:
        mf_start = time.time()
        mf = multifidelity(mf_seeds, more=args.mf_more)
        print()
        print(
            f"Multi-fidelity: epochs spent until the best accuracy reaches {MF_TARGET} (best possible 0.97), "
            f"{MF_TRIALS} trials (x{args.mf_more} for the early-stopping schedulers) of at most {MF_EPOCHS} epochs, "
            f"max_concurrent 2, {mf_seeds} seeds"
        )
        print(format_mf(mf, args.markdown))
        print(f"multi-fidelity part: {time.time() - mf_start:.0f} s")
    print(f"total wall time: {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
