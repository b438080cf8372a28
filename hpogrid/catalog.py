"""The search algorithms and trial schedulers hpogrid offers, and which combinations work.

Pure metadata: importing this module imports no optimizer library. The runner (hpogrid.local)
and the search-space translation (hpogrid.space) look up their behaviour by these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hpogrid.configs import params as r
from hpogrid.configs.params import Cross, Rule


@dataclass(frozen=True)
class Algorithm:
    name: str
    library: str  # key of hpogrid.space.translate's translators
    module: str  # the Python module it needs
    extra: str  # the pip extra that installs it
    summary: str
    params: Mapping[str, Rule] = field(default_factory=dict)  # algorithm_param: name -> value rule
    cross: Cross | None = None  # a rule between parameters (and the rest of the hpo_config)


@dataclass(frozen=True)
class Scheduler:
    name: str
    summary: str
    params: Mapping[str, Rule] = field(default_factory=dict)  # scheduler_param: name -> value rule
    module: str = "ray.tune"
    extra: str = ""
    cross: Cross | None = None


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
            params={
                "utility_kwargs": r.options(
                    {
                        "kind": r.choice("ucb", "ei", "poi"),
                        "kappa": r.non_negative_number,
                        "xi": r.non_negative_number,
                        "kappa_decay": r.between(0, 1, open_low=True),
                        "kappa_decay_delay": r.non_negative_int,
                    }
                ),
                "random_search_steps": r.non_negative_int,
                "patience": r.positive_int,
                "skip_duplicate": r.boolean,
            },
        ),
        Algorithm(
            "hyperopt",
            "hyperopt",
            "hyperopt",
            "hyperopt",
            "Tree-structured Parzen Estimator",
            params={"n_initial_points": r.positive_int, "gamma": r.between(0, 1, open_low=True, open_high=True)},
        ),
        Algorithm(
            "skopt",
            "skopt",
            "skopt",
            "skopt",
            "scikit-optimize Bayesian optimization",
            params={
                "base_estimator": r.choice("GP", "RF", "ET", "GBRT", "DUMMY", fold_case=True),
                "n_initial_points": r.positive_int,
                "acq_func": r.choice("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
                "acq_optimizer": r.choice("auto", "sampling", "lbfgs"),
                "initial_point_generator": r.choice("random", "sobol", "halton", "hammersly", "lhs", "grid"),
                "acq_func_kwargs": r.options({"xi": r.non_negative_number, "kappa": r.non_negative_number}),
            },
        ),
        Algorithm(
            "bohb",
            "configspace",
            "hpbandster",
            "bohb",
            "BOHB: Bayesian optimization + HyperBand",
            params={
                "bohb_config": r.options(
                    {
                        "min_points_in_model": r.positive_int,
                        "top_n_percent": r.between(1, 99),
                        "num_samples": r.positive_int,
                        "random_fraction": r.between(0, 1),
                        "bandwidth_factor": r.positive_number,
                        "min_bandwidth": r.positive_number,
                    }
                )
            },
        ),
        Algorithm(
            "ax",
            "ax",
            "ax",
            "ax",
            "Ax/BoTorch Bayesian optimization",
            params={
                "parameter_constraints": r.ax_parameter_constraints,
                "outcome_constraints": r.ax_outcome_constraints,
            },
        ),
        Algorithm(
            "optuna",
            "optuna",
            "optuna",
            "optuna",
            "Optuna (TPE by default; sampler selectable)",
            params={"sampler": r.optuna_sampler, "sampler_param": r.json_object},
            cross=r.optuna_problem,
        ),
        Algorithm(
            "nevergrad",
            "nevergrad",
            "nevergrad",
            "nevergrad",
            "Nevergrad (NGOpt by default; optimizer selectable)",
            params={"optimizer": r.string, "optimizer_param": r.json_object},
        ),
    )
}

_HYPERBAND = {
    "time_attr": r.string,
    "max_t": r.positive_int,
    "reduction_factor": r.above(1),
    "stop_last_trials": r.boolean,
}
_POPULATION = {
    "time_attr": r.string,
    "perturbation_interval": r.positive_number,
    "quantile_fraction": r.between(0, 0.5),
    "require_attrs": r.boolean,
    "synch": r.boolean,
}
SCHEDULERS: dict[str, Scheduler] = {
    s.name: s
    for s in (
        Scheduler("fifo", "run every trial to its stop criteria"),
        Scheduler(
            "asynchyperband",
            "ASHA: stop poor trials early, asynchronously",
            {**_HYPERBAND, "grace_period": r.positive_int, "brackets": r.positive_int},
            cross=r.asha_problem,
        ),
        Scheduler("hyperband", "HyperBand: successive halving in brackets", _HYPERBAND),
        Scheduler("bohbhyperband", "HyperBand variant for the bohb algorithm", _HYPERBAND),
        Scheduler(
            "median",
            "stop trials below the median of others at the same step",
            {
                "time_attr": r.string,
                "grace_period": r.non_negative_number,
                "min_samples_required": r.positive_int,
                "min_time_slice": r.non_negative_number,
                "hard_stop": r.boolean,
            },
        ),
        Scheduler(
            "pbt",
            "Population Based Training: copy and perturb good trials",
            {
                **_POPULATION,
                "burn_in_period": r.non_negative_number,
                "hyperparam_mutations": r.mutations,
                "resample_probability": r.between(0, 1),
                "perturbation_factors": r.pair_of_positive_numbers,
            },
        ),
        Scheduler(
            "pb2",
            "PB2: Population Based Bandits",
            {**_POPULATION, "hyperparam_bounds": r.bounds},
            "sklearn",
            "pb2",
        ),
    )
}

# Algorithms that generate configurations with Ray Tune's own variant generator.
VARIANT_GENERATOR = frozenset({"random", "tune", "grid"})
# bayesian: random trials before the Gaussian process (bayes_opt's own maximize() default; Ray's is 10)
BAYESIAN_RANDOM_START = 5


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


def param_problem(kind: str, name: str, hpo: dict) -> r.Bad | None:
    """The first algorithm_param / scheduler_param value its rule refuses (keys known), or None."""
    entry = (ALGORITHMS if kind == "algorithm" else SCHEDULERS)[name]
    for key, value in hpo[f"{kind}_param"].items():
        bad = entry.params[key](value)
        if bad:
            return bad.below(key)
    return entry.cross(hpo) if entry.cross else None


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
