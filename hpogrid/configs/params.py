"""Value rules for scheduler_param and algorithm_param: one declarative table per scheduler and
algorithm (in hpogrid.catalog, next to its entry), checked when an hpo_config is made or loaded.

A rule maps a JSON value to a `Bad` (what is wrong, and where below the parameter) or None.
Importing this module imports no optimizer library: names that a library defines (Optuna's
samplers, their arguments) are listed here and compared with the installed library by the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpogrid.configs.fields import is_int, is_number, show
from hpogrid.errors import did_you_mean, one_of


@dataclass(frozen=True)
class Bad:
    """Why a parameter value is refused: the rule's words, the value, and its place below the parameter."""

    text: str
    value: Any
    at: str = ""

    def below(self, key: str) -> Bad:
        return Bad(self.text, self.value, f".{key}{self.at}")

    def message(self, where: str) -> str:
        return f"{where}{self.at}: {self.text}, got {show(self.value)}"


Rule = Callable[[Any], "Bad | None"]
Cross = Callable[[Mapping[str, Any]], "Bad | None"]  # a rule on the whole hpo_config


def _rule(ok: Callable[[Any], bool], text: str) -> Rule:
    return lambda value: None if ok(value) else Bad(text, value)


def anything(value: Any) -> Bad | None:
    return None


positive_int = _rule(lambda v: is_int(v) and v > 0, "must be a positive integer")
non_negative_int = _rule(lambda v: is_int(v) and v >= 0, "must be an integer >= 0")
boolean = _rule(lambda v: isinstance(v, bool), "must be true or false")
string = _rule(lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string")
positive_number = _rule(lambda v: is_number(v) and v > 0, "must be a number > 0")
non_negative_number = _rule(lambda v: is_number(v) and v >= 0, "must be a number >= 0")
json_object = _rule(lambda v: isinstance(v, dict), "must be a JSON object")
string_list = _rule(
    lambda v: isinstance(v, list) and all(isinstance(i, str) and i.strip() for i in v),
    "must be a list of strings",
)


def above(low: float) -> Rule:
    return _rule(lambda v: is_number(v) and v > low, f"must be a number > {low}")


def between(low: float, high: float, open_low: bool = False, open_high: bool = False) -> Rule:
    left, right = "(" if open_low else "[", ")" if open_high else "]"

    def ok(v: Any) -> bool:
        return is_number(v) and (v > low if open_low else v >= low) and (v < high if open_high else v <= high)

    return _rule(ok, f"must be a number in {left}{low}, {high}{right}")


def choice(*names: str, fold_case: bool = False) -> Rule:
    def check(value: Any) -> Bad | None:
        known = [n.lower() for n in names] if fold_case else list(names)
        text = value.lower() if fold_case and isinstance(value, str) else value
        if isinstance(value, str) and text in known:
            return None
        return Bad(f"must be one of {one_of(names)}{did_you_mean(str(value), names)}", value)

    return check


def pair_of_positive_numbers(value: Any) -> Bad | None:
    ok = isinstance(value, list) and len(value) == 2 and all(is_number(v) and v > 0 for v in value)
    return None if ok else Bad("must be a list of two numbers > 0, e.g. [1.2, 0.8]", value)


def options(table: Mapping[str, Rule], owner: str = "it", what: str = "key") -> Rule:
    """A JSON object whose keys are in table, each value checked by its rule."""

    def check(value: Any) -> Bad | None:
        if not isinstance(value, dict):
            return Bad("must be a JSON object", value)
        for key, item in value.items():
            if key not in table:
                hint = did_you_mean(key, table) or f"; it takes: {', '.join(table) or 'none'}"
                return Bad(f"{owner} has no {what} '{key}'{hint}", value)
            bad = table[key](item)
            if bad:
                return bad.below(key)
        return None

    return check


def _tree(leaf: Callable[[Any], bool], shape: str) -> Rule:
    """A non-empty JSON object nesting like the trial config, with leaves of the given shape."""

    def check(value: Any) -> Bad | None:
        if not isinstance(value, dict) or not value:
            return Bad(f"must be a non-empty JSON object of hyperparameter names to {shape}", value)
        for key, item in value.items():
            if isinstance(item, dict):
                bad = check(item)
                if bad:
                    return bad.below(key)
            elif not leaf(item):
                return Bad(f"must be {shape}", item, f".{key}")
        return None

    return check


mutations = _tree(lambda v: isinstance(v, list) and bool(v), "a non-empty list of values")
bounds = _tree(
    lambda v: isinstance(v, list) and len(v) == 2 and all(map(is_number, v)) and v[0] < v[1],
    "a [low, high] pair of numbers with low < high",
)


def tree_leaves(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of the leaves of a nested object (hyperparam_mutations, hyperparam_bounds)."""
    names: list[str] = []
    for key, item in tree.items():
        name = f"{prefix}{key}"
        names += tree_leaves(item, name + ".") if isinstance(item, dict) else [name]
    return names


# -- Ax: its constraint strings, read as ax.service.utils.instantiation reads them (ax-platform 0.4-1.x) --
COMPARISONS = ("<=", ">=")
AX_CONSTRAINT_FORM = 'like "x1 + 2*x2 <= 1.5" or "x1 <= x2": one space around + - <= >=, none around *'


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def ax_constraint_names(text: str) -> list[str] | str:
    """The hyperparameter names of an Ax parameter constraint, or why Ax cannot read it: an order
    constraint ("x1 <= x2") or a linear one ("2*x1 - x2 >= 0.5"), tokens split on spaces."""
    tokens = text.split()
    if len(tokens) == 3 and tokens[1] in COMPARISONS and not _is_float(tokens[2]):
        return [tokens[0], tokens[2]]
    if not (len(tokens) >= 3 and len(tokens) % 2 and tokens[-2] in COMPARISONS and _is_float(tokens[-1])):
        return f"must be {AX_CONSTRAINT_FORM}"
    if not math.isfinite(float(tokens[-1])):
        return f"has the bound {tokens[-1]}, not a finite number"
    names = []
    for position, token in enumerate(tokens[:-2]):
        if position % 2:
            if token not in ("+", "-"):
                return f"has '{token}' where + or - belongs; it must be {AX_CONSTRAINT_FORM}"
            continue
        parts = token.split("*")
        if len(parts) > 2 or "" in parts or (len(parts) == 2 and not _is_float(parts[0])):
            return f"has the term '{token}'; a term is a name or NUMBER*name, e.g. 2.5*x1"
        names.append(parts[-1][1:] if len(parts) == 1 and parts[0].startswith("-") else parts[-1])
    return names


def _ax_parameter_constraint(value: Any) -> Bad | None:
    problem = ax_constraint_names(value)
    return Bad(problem, value) if isinstance(problem, str) else None


def _ax_outcome_constraint(value: Any) -> Bad | None:
    tokens = value.split()
    ok = len(tokens) == 3 and tokens[1] in COMPARISONS and _is_float(tokens[2].removesuffix("%"))
    return None if ok else Bad('must be like "metric >= 0.5" or "metric <= 10%" (one space around >= <=)', value)


def each(rule: Rule) -> Rule:
    """A list of strings whose every item the rule accepts."""

    def check(value: Any) -> Bad | None:
        bad = string_list(value)
        if bad:
            return bad
        for position, item in enumerate(value):
            bad = rule(item)
            if bad:
                return Bad(bad.text, bad.value, f"[{position}]{bad.at}")
        return None

    return check


ax_parameter_constraints = each(_ax_parameter_constraint)
ax_outcome_constraints = each(_ax_outcome_constraint)


# -- defaults the runtime uses, and the cross-parameter rules that depend on them ----------------
DEFAULT_MAX_T = 100
ASHA_DEFAULTS = {"grace_period": 1}
PBT_DEFAULTS = {"perturbation_interval": 1}


def effective_max_t(hpo: Mapping[str, Any]) -> int:
    """The longest a trial runs, in training iterations: scheduler_param.max_t, the stop criterion, or 100."""
    given = hpo["scheduler_param"].get("max_t")
    return given if given is not None else int(hpo["stop"].get("training_iteration", DEFAULT_MAX_T))


def asha_problem(hpo: Mapping[str, Any]) -> Bad | None:
    """ASHA's first rung must come before its last: grace_period <= max_t."""
    grace = hpo["scheduler_param"].get("grace_period", ASHA_DEFAULTS["grace_period"])
    longest = effective_max_t(hpo)
    if grace <= longest:
        return None
    source = "max_t" if "max_t" in hpo["scheduler_param"] else "max_t (from stop.training_iteration, or 100)"
    return Bad(f"must be <= {source} = {longest}", grace, ".grace_period")


# -- Optuna: the samplers an algorithm_param may name, with the arguments JSON can give ------------
_SEED = {"seed": non_negative_int}
_INDEPENDENT = {"warn_independent_sampling": boolean}
_GENETIC = {
    "population_size": above(1),
    "mutation_prob": between(0, 1),
    "crossover_prob": between(0, 1),
    "swapping_prob": between(0, 1),
    **_SEED,
}
OPTUNA_SAMPLERS: dict[str, dict[str, Rule]] = {
    "TPESampler": {
        "consider_prior": boolean,
        "prior_weight": positive_number,
        "consider_magic_clip": boolean,
        "consider_endpoints": boolean,
        "n_startup_trials": non_negative_int,
        "n_ei_candidates": positive_int,
        "multivariate": boolean,
        "group": boolean,
        "constant_liar": boolean,
        **_SEED,
        **_INDEPENDENT,
    },
    "RandomSampler": dict(_SEED),
    "CmaEsSampler": {
        "sigma0": positive_number,
        "n_startup_trials": non_negative_int,
        "consider_pruned_trials": boolean,
        "restart_strategy": choice("ipop", "bipop"),
        "popsize": positive_int,
        "inc_popsize": positive_int,
        "use_separable_cma": boolean,
        "with_margin": boolean,
        "lr_adapt": boolean,
        **_SEED,
        **_INDEPENDENT,
    },
    "GPSampler": {"n_startup_trials": non_negative_int, "deterministic_objective": boolean, **_SEED, **_INDEPENDENT},
    "QMCSampler": {
        "qmc_type": choice("sobol", "halton"),
        "scramble": boolean,
        "warn_asynchronous_seeding": boolean,
        **_SEED,
        **_INDEPENDENT,
    },
    "NSGAIISampler": dict(_GENETIC),
    "NSGAIIISampler": {**_GENETIC, "dividing_parameter": positive_int},
    "BruteForceSampler": {"avoid_premature_stop": boolean, **_SEED},
}


OPTUNA_DEFAULT_SAMPLER = "TPESampler"


def optuna_problem(hpo: Mapping[str, Any]) -> Bad | None:
    """sampler_param checked against the arguments of the chosen sampler."""
    param = hpo["algorithm_param"]
    name = param.get("sampler", OPTUNA_DEFAULT_SAMPLER)
    bad = options(OPTUNA_SAMPLERS[name], f"optuna's {name}", "argument")(param.get("sampler_param", {}))
    return bad.below("sampler_param") if bad else None


optuna_sampler = choice(*OPTUNA_SAMPLERS)


def nevergrad_optimizer_problem(name: str) -> str | None:
    """Whether nevergrad (if installed) has an optimizer of this name; imports nevergrad."""
    try:
        import nevergrad as ng
    except ImportError:
        return None  # the run says which extra to install
    if name in ng.optimizers.registry:
        return None
    return f"nevergrad has no optimizer '{name}'{did_you_mean(name, ng.optimizers.registry)}"


def nevergrad_optimizer(param: Mapping[str, Any], unbounded: bool) -> str:
    """The optimizer a nevergrad search runs: the one algorithm_param names, else NGOpt, or OnePlusOne when
    the space has an unbounded dimension (NGOpt hangs on those: nevergrad 1.0.12 with numpy 2)."""
    return param.get("optimizer") or ("OnePlusOne" if unbounded else "NGOpt")


NEVERGRAD_COUNTS = ("budget", "num_workers")  # every optimizer takes them; hpogrid gives num_trials, max_concurrent


def nevergrad_param_problem(name: str, param: Mapping[str, Any]) -> Bad | None:
    """Why nevergrad's optimizer `name` (if installed) would refuse optimizer_param: the arguments its
    constructor takes besides the parametrization (budget, num_workers; a few take more). Imports nevergrad."""
    import inspect

    for key in NEVERGRAD_COUNTS:
        if key in param and not (is_int(param[key]) and param[key] > 0):
            return Bad("must be a positive integer", param[key], f".{key}")
    try:
        import nevergrad as ng
    except ImportError:
        return None
    optimizer = ng.optimizers.registry.get(name)
    if optimizer is None:
        return None  # nevergrad_optimizer_problem says so
    arguments = inspect.signature(optimizer).parameters
    if any(a.kind is inspect.Parameter.VAR_KEYWORD for a in arguments.values()):
        return None
    takes = [a for a in arguments if a != "parametrization"]
    for key in param:
        if key not in takes:
            hint = did_you_mean(key, takes) or f"; it takes: {', '.join(takes)}"
            return Bad(f"nevergrad's {name} takes no argument '{key}'{hint}", dict(param))
    return None
