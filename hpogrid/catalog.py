"""The search algorithms and trial schedulers hpogrid offers, and which combinations work.

Pure metadata: importing this module imports no optimizer library. The runner (hpogrid.local)
and the search-space translation (hpogrid.space) look up their behaviour by these names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Algorithm:
    name: str
    library: str  # key of hpogrid.space.translate's translators
    module: str  # the Python module it needs
    extra: str  # the pip extra that installs it
    summary: str


@dataclass(frozen=True)
class Scheduler:
    name: str
    summary: str
    module: str = "ray.tune"
    extra: str = ""


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("random", "tune", "ray.tune", "", "random search (Ray Tune's variant generator)"),
        Algorithm("tune", "tune", "ray.tune", "", "alias of random"),
        Algorithm(
            "grid",
            "tune",
            "ray.tune",
            "",
            "every combination of grid_search categories; other dimensions sampled",
        ),
        Algorithm("bayesian", "bayes_opt", "bayes_opt", "bayesian", "Gaussian-process Bayesian optimization"),
        Algorithm("hyperopt", "hyperopt", "hyperopt", "hyperopt", "Tree-structured Parzen Estimator"),
        Algorithm("skopt", "skopt", "skopt", "skopt", "scikit-optimize Bayesian optimization"),
        Algorithm("bohb", "configspace", "hpbandster", "bohb", "BOHB: Bayesian optimization + HyperBand"),
        Algorithm("ax", "ax", "ax", "ax", "Ax/BoTorch Bayesian optimization"),
        Algorithm("optuna", "optuna", "optuna", "optuna", "Optuna (TPE by default; sampler selectable)"),
        Algorithm(
            "nevergrad", "nevergrad", "nevergrad", "nevergrad", "Nevergrad (NGOpt by default; optimizer selectable)"
        ),
    )
}

SCHEDULERS: dict[str, Scheduler] = {
    s.name: s
    for s in (
        Scheduler("fifo", "run every trial to its stop criteria"),
        Scheduler("asynchyperband", "ASHA: stop poor trials early, asynchronously"),
        Scheduler("hyperband", "HyperBand: successive halving in brackets"),
        Scheduler("bohbhyperband", "HyperBand variant for the bohb algorithm"),
        Scheduler("median", "stop trials below the median of others at the same step"),
        Scheduler("pbt", "Population Based Training: copy and perturb good trials"),
        Scheduler("pb2", "PB2: Population Based Bandits", "sklearn", "pb2"),
    )
}

# Algorithms that generate configurations with Ray Tune's own variant generator.
VARIANT_GENERATOR = frozenset({"random", "tune", "grid"})


def combination_problem(algorithm: str, scheduler: str) -> str | None:
    """Why an algorithm cannot be used with a scheduler (with a working alternative), or None."""
    if algorithm == "bohb" and scheduler != "bohbhyperband":
        return f"algorithm 'bohb' needs scheduler 'bohbhyperband' (got '{scheduler}'); set --scheduler bohbhyperband"
    if scheduler == "bohbhyperband" and algorithm != "bohb":
        return (
            f"scheduler 'bohbhyperband' only works with algorithm 'bohb' (got '{algorithm}'); "
            "use --algorithm bohb, or --scheduler hyperband or asynchyperband"
        )
    if scheduler in ("pbt", "pb2") and algorithm not in VARIANT_GENERATOR:
        return (
            f"scheduler '{scheduler}' mutates trial configurations itself and cannot be combined "
            f"with the search algorithm '{algorithm}'; use --algorithm random, or keep "
            f"'{algorithm}' with --scheduler asynchyperband"
        )
    return None
