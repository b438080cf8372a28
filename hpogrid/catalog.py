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
    params: tuple[str, ...] = ()  # the keys algorithm_param may set


@dataclass(frozen=True)
class Scheduler:
    name: str
    summary: str
    params: tuple[str, ...] = ()  # the keys scheduler_param may set
    module: str = "ray.tune"
    extra: str = ""


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("random", "tune", "ray.tune", "", "random search (Ray Tune's variant generator)"),
        Algorithm("tune", "tune", "ray.tune", "", "alias of random"),
        Algorithm("grid", "tune", "ray.tune", "", "every combination of grid_search categories; others sampled"),
        Algorithm(
            "bayesian",
            "bayes_opt",
            "bayes_opt",
            "bayesian",
            "Gaussian-process Bayesian optimization",
            params=("utility_kwargs", "random_search_steps", "patience", "skip_duplicate"),
        ),
        Algorithm(
            "hyperopt",
            "hyperopt",
            "hyperopt",
            "hyperopt",
            "Tree-structured Parzen Estimator",
            params=("n_initial_points", "gamma"),
        ),
        Algorithm(
            "skopt",
            "skopt",
            "skopt",
            "skopt",
            "scikit-optimize Bayesian optimization",
            params=("base_estimator", "n_initial_points", "acq_func", "acq_optimizer", "initial_point_generator"),
        ),
        Algorithm(
            "bohb",
            "configspace",
            "hpbandster",
            "bohb",
            "BOHB: Bayesian optimization + HyperBand",
            params=("bohb_config",),
        ),
        Algorithm(
            "ax",
            "ax",
            "ax",
            "ax",
            "Ax/BoTorch Bayesian optimization",
            params=("parameter_constraints", "outcome_constraints"),
        ),
        Algorithm(
            "optuna",
            "optuna",
            "optuna",
            "optuna",
            "Optuna (TPE by default; sampler selectable)",
            params=("sampler", "sampler_param"),
        ),
        Algorithm(
            "nevergrad",
            "nevergrad",
            "nevergrad",
            "nevergrad",
            "Nevergrad (NGOpt by default; optimizer selectable)",
            params=("optimizer", "optimizer_param"),
        ),
    )
}

SCHEDULERS: dict[str, Scheduler] = {
    s.name: s
    for s in (
        Scheduler("fifo", "run every trial to its stop criteria"),
        Scheduler(
            "asynchyperband",
            "ASHA: stop poor trials early, asynchronously",
            ("time_attr", "max_t", "grace_period", "reduction_factor", "brackets", "stop_last_trials"),
        ),
        Scheduler(
            "hyperband",
            "HyperBand: successive halving in brackets",
            ("time_attr", "max_t", "reduction_factor", "stop_last_trials"),
        ),
        Scheduler(
            "bohbhyperband",
            "HyperBand variant for the bohb algorithm",
            ("time_attr", "max_t", "reduction_factor", "stop_last_trials"),
        ),
        Scheduler(
            "median",
            "stop trials below the median of others at the same step",
            ("time_attr", "grace_period", "min_samples_required", "min_time_slice", "hard_stop"),
        ),
        Scheduler(
            "pbt",
            "Population Based Training: copy and perturb good trials",
            (
                "time_attr",
                "perturbation_interval",
                "burn_in_period",
                "hyperparam_mutations",
                "quantile_fraction",
                "resample_probability",
                "perturbation_factors",
                "require_attrs",
                "synch",
            ),
        ),
        Scheduler(
            "pb2",
            "PB2: Population Based Bandits",
            ("time_attr", "perturbation_interval", "hyperparam_bounds", "quantile_fraction", "require_attrs", "synch"),
            "sklearn",
            "pb2",
        ),
    )
}

# Algorithms that generate configurations with Ray Tune's own variant generator.
VARIANT_GENERATOR = frozenset({"random", "tune", "grid"})


def unknown_param(kind: str, name: str, params: dict) -> str | None:
    """Why algorithm_param / scheduler_param holds a key the library does not take, or None."""
    from hpogrid.errors import did_you_mean

    allowed = (ALGORITHMS if kind == "algorithm" else SCHEDULERS)[name].params
    for key in params:
        if key not in allowed and not allowed:
            return f"{kind} '{name}' takes no parameters; remove '{key}'"
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            return f"{kind} '{name}' takes no parameter '{key}'{hint}; it takes: {', '.join(allowed)}"
    return None


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
