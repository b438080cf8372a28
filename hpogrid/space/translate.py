"""Translate a SearchSpace into the native space of each algorithm library, in one place.

Each library gets a native space whose samples, passed through ``Translation.decode``, follow
exactly the distributions defined in hpogrid.space.model. Where a library has no native
form, an exact reparametrization is used (e.g. bayes_opt searches log(x) for a log-uniform x,
or a category index); where none exists (e.g. Optuna and unbounded normals) the pair is refused
with an error naming the algorithm, the method and what to use instead. Nothing is approximated.

Libraries are imported inside the builders, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpogrid.catalog import ALGORITHMS
from hpogrid.errors import ValidationError, one_of, require
from hpogrid.space.model import LOG_SCALE, UNBOUNDED, WHERE, Dimension, SearchSpace

BOUNDED = ("categorical", "uniform", "uniformint", "quniform", "loguniform", "qloguniform", "fixed")
EVERY = BOUNDED + tuple(sorted(UNBOUNDED))

# library -> methods it samples exactly, and whether it can grid-search categories
SUPPORT: dict[str, tuple[tuple[str, ...], bool]] = {
    "tune": (EVERY, True),
    "hyperopt": (EVERY, False),
    "nevergrad": (EVERY, False),
    "optuna": (BOUNDED, False),
    "skopt": (BOUNDED, False),
    "configspace": (BOUNDED, False),
    "ax": (BOUNDED, False),
    "bayes_opt": (BOUNDED, False),
}
WHY_NOT = {
    "optuna": "Optuna has only bounded distributions",
    "skopt": "scikit-optimize has only bounded dimensions",
    "configspace": "ConfigSpace 1.x only has normals truncated to bounds",
    "ax": "Ax has only bounded parameters",
    "bayes_opt": "bayes_opt only searches bounded boxes",
}


@dataclass
class Codec:
    """How a raw library value maps to the hyperparameter's value, and back."""

    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any] = lambda value: value


@dataclass
class Translation:
    """A native search space plus the codecs that turn its samples into trial configs."""

    algorithm: str
    library: str
    space: Any
    model: SearchSpace
    codecs: dict[str, Codec] = field(default_factory=dict)

    def decode(self, raw: Mapping[str, Any]) -> dict:
        """Library sample {name: raw value} -> nested trial config (fixed values included)."""
        flat = {}
        for dim in self.model.searched:
            value = self.codecs[dim.name].decode(raw[dim.name])
            flat[dim.name] = dim.finish(plain(value))
        return self.model.nest(flat)

    def encode(self, config: Mapping[str, Any]) -> dict:
        """Trial config (nested or dotted) -> {name: raw value} the library understands."""
        flat = self.model.flatten(config)
        return {name: self.codecs[name].encode(value) for name, value in flat.items()}


def plain(value: Any) -> Any:
    """numpy scalars and 0-d arrays -> the Python value (int, float, bool, str)."""
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", 0) == 0:
        return item()
    return value


def exp_clean(x: float) -> float:
    """exp for a log-space search: rounded to 15 digits, so that log then exp gives back 0.001,
    not 0.0010000000000000002 (a relative change far below any sampling resolution)."""
    return float(f"{math.exp(x):.15g}")


def category_lookup(categories: list) -> Callable[[Any], Any]:
    """Map a value a library returns for a category back to the category as written."""

    def decode(value: Any) -> Any:
        value = plain(value)
        for item in categories:  # same type first, so that True does not become 1
            if type(item) is type(value) and item == value:
                return item
        for item in categories:
            if item == value or str(item) == str(value):
                return item
        raise ValueError(f"{value!r} is not one of the categories {categories!r}")

    return decode


def support_problem(algorithm: str, dim: Dimension) -> str | None:
    """Why an algorithm cannot sample a dimension (and what to use instead), or None."""
    library = ALGORITHMS[algorithm].library
    methods, grid = SUPPORT[library]
    if dim.grid_search and not grid:
        return (
            f"algorithm '{algorithm}' cannot grid-search categories; set grid_search to 0, "
            "or use algorithm 'grid' or 'random'"
        )
    if dim.method in methods:
        return None
    able = [a for a, spec in ALGORITHMS.items() if dim.method in SUPPORT[spec.library][0] and a != "tune"]
    bounded = "'quniform'" if dim.method.startswith("q") else "'uniform'"
    return (
        f"algorithm '{algorithm}' cannot sample method '{dim.method}' ({WHY_NOT[library]}); "
        f"use {bounded} with low/high bounds, or algorithm {one_of(able)}"
    )


def check(space: SearchSpace, algorithm: str, where: str = WHERE) -> None:
    """Raise a ValidationError for the first dimension the algorithm cannot sample."""
    for dim in space.searched:
        problem = support_problem(algorithm, dim)
        if problem:
            raise ValidationError(where, dim.name, problem)


AX_CONSTRAINED = ("uniform", "quniform", "uniformint")  # what _ax makes a linear RangeParameter


def check_ax_constraints(space: SearchSpace, hpo: Mapping[str, Any]) -> None:
    """Ax's parameter constraints against the space, as Ax checks them when its search starts: every
    name a searched, linear (not log) hyperparameter. Stricter than Ax where it would silently do
    something else: a categorical (Ax would constrain the category's index) or a name twice (Ax keeps
    only the last term of a sum)."""
    from hpogrid.configs.params import ax_constraint_names
    from hpogrid.errors import did_you_mean

    searched = {d.name: d for d in space.searched}
    for position, text in enumerate(hpo["algorithm_param"].get("parameter_constraints", [])):
        field, names = f"algorithm_param.parameter_constraints[{position}]", ax_constraint_names(text)
        if isinstance(names, str):  # its form is refused with the hpo_config
            continue
        for name in names:
            dim = searched.get(name)
            if dim is None:
                raise ValidationError(
                    "hpo_config",
                    field,
                    f"'{name}' is not a searched hyperparameter of the search space{did_you_mean(name, searched)}; "
                    f"it has: {', '.join(searched) or 'none'}",
                )
            if dim.method not in AX_CONSTRAINED:
                raise ValidationError(
                    "hpo_config",
                    field,
                    f"'{name}' is {dim.method}; Ax constrains only {one_of(AX_CONSTRAINED)} hyperparameters",
                )
        if len(set(names)) < len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ValidationError(
                "hpo_config", field, f"names '{twice}' twice; write it once, with its total factor (e.g. 2*{twice})"
            )


def translate(space: SearchSpace, algorithm: str, seed: int | None = None) -> Translation:
    """The native search space of `algorithm`'s library for `space`."""
    check(space, algorithm)
    spec = ALGORITHMS[algorithm]
    require(spec.module, spec.extra, f"algorithm '{algorithm}'")
    translation = Translation(algorithm, spec.library, None, space)
    translation.space = BUILDERS[spec.library](space, translation.codecs, seed)
    for dim in space.searched:
        translation.codecs.setdefault(dim.name, Codec(lambda value: value))
    return translation


# -- builders: one per library; each returns the native space and fills in codecs ---------------
def _ray_tune(space: SearchSpace, codecs: dict, seed: int | None) -> dict:
    from ray import tune
    from ray.tune.search.sample import Float

    from hpogrid.space.samplers import PowerNormal

    native = {}
    for dim in space.searched:
        m, g = dim.method, dim.get
        if m == "categorical":
            # sample an index: numpy would turn mixed-type categories into strings
            cats = g("categories")
            indices = list(range(len(cats)))
            native[dim.name] = tune.grid_search(indices) if dim.grid_search else tune.choice(indices)
            codecs[dim.name] = index_codec(cats)
        elif m == "uniformint":
            native[dim.name] = tune.randint(g("low"), g("high") + 1)
        elif m in ("uniform", "quniform"):
            native[dim.name] = tune.uniform(g("low"), g("high"))
        elif m in LOG_SCALE:
            native[dim.name] = tune.loguniform(g("low"), g("high"))
        elif m in ("normal", "qnormal"):
            native[dim.name] = tune.randn(g("mu"), g("sigma"))
        else:  # lognormal, qlognormal
            native[dim.name] = Float(None, None)
            native[dim.name].set_sampler(PowerNormal(g("mu"), g("sigma"), g("base")))
        # quantized methods are rounded by decode: Ray's Quantized sampler computes its grid
        # with float noise (floor(1.2 / 0.1) == 11) and never returns the upper bound
    return native


def _index_of(categories: list) -> Callable[[Any], int]:
    lookup = category_lookup(categories)
    return lambda value: next(i for i, c in enumerate(categories) if c is lookup(value))


def index_codec(categories: list) -> Codec:
    """A category searched as its index (libraries that would coerce mixed-type categories)."""
    return Codec(lambda i: categories[int(i)], _index_of(categories))


def _hyperopt(space: SearchSpace, codecs: dict, seed: int | None) -> dict:
    from hyperopt import hp
    from hyperopt.pyll import scope

    native = {}
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            native[n] = hp.choice(n, g("categories"))
            codecs[n] = Codec(category_lookup(g("categories")))
        elif m == "uniform":
            native[n] = hp.uniform(n, g("low"), g("high"))
        elif m == "uniformint":
            # hp.uniformint gives its end points half the weight of the others; this does not
            native[n] = scope.int(hp.quniform(n, g("low") - 0.5, g("high") + 0.5, 1))
        elif m == "quniform":
            native[n] = hp.quniform(n, g("low"), g("high"), g("q"))
        elif m == "loguniform":
            native[n] = hp.loguniform(n, math.log(g("low")), math.log(g("high")))
        elif m == "qloguniform":
            native[n] = hp.qloguniform(n, math.log(g("low")), math.log(g("high")), g("q"))
        elif m == "normal":
            native[n] = hp.normal(n, g("mu"), g("sigma"))
        elif m == "qnormal":
            native[n] = hp.qnormal(n, g("mu"), g("sigma"), g("q"))
        else:  # base ** N(mu, sigma) == exp(N(mu ln base, sigma ln base))
            ln = math.log(g("base"))
            if m == "lognormal":
                native[n] = hp.lognormal(n, g("mu") * ln, g("sigma") * ln)
            else:
                native[n] = hp.qlognormal(n, g("mu") * ln, g("sigma") * ln, g("q"))
    return native


def _optuna(space: SearchSpace, codecs: dict, seed: int | None) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    native = {}
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            native[n] = CategoricalDistribution(g("categories"))
            codecs[n] = Codec(category_lookup(g("categories")))
        elif m == "uniformint":
            native[n] = IntDistribution(g("low"), g("high"))
        else:
            # quantized floats are rounded by decode: Optuna's `step` puts full weight on the end
            # points and cannot be combined with log=True
            native[n] = FloatDistribution(g("low"), g("high"), log=m in LOG_SCALE)
    return native


def _skopt(space: SearchSpace, codecs: dict, seed: int | None) -> list:
    from skopt.space import Categorical, Integer, Real

    native = []
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            cats = g("categories")
            native.append(Categorical(list(range(len(cats))), name=n))
            codecs[n] = index_codec(cats)
        elif m == "uniformint":
            native.append(Integer(g("low"), g("high"), name=n))
        else:
            prior = "log-uniform" if m in LOG_SCALE else "uniform"
            native.append(Real(float(g("low")), float(g("high")), prior=prior, name=n))
    return native


def _nevergrad(space: SearchSpace, codecs: dict, seed: int | None) -> Any:
    import nevergrad as ng

    params = {}
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            cats = g("categories")
            params[n] = ng.p.Choice(list(range(len(cats))))
            codecs[n] = index_codec(cats)
        elif m == "uniformint":
            # integer-cast: NGOpt picks its optimizer from the parametrization, and a continuous scalar
            # sent it to a continuous portfolio (9x the regret of the same space written for nevergrad
            # by hand, bench/quality.py's cond); the bounds 1/2 wider keep the end points' weight, and
            # Dimension.finish clips a value rounded from a bound (np.round(12.5) == 12, of 0.5 == 0)
            params[n] = ng.p.Scalar(lower=g("low") - 0.5, upper=g("high") + 0.5).set_integer_casting()
        elif m in ("uniform", "quniform"):
            params[n] = ng.p.Scalar(lower=g("low"), upper=g("high"))
        elif m in LOG_SCALE:
            # search log(x) uniformly: exactly log-uniform, and a scale nevergrad's optimizers like
            lo, hi = math.log(g("low")), math.log(g("high"))
            params[n] = ng.p.Scalar(lower=lo, upper=hi)
            codecs[n] = Codec(exp_clean, math.log)
        else:  # normal family: an unbounded scalar samples init + sigma * N(0, 1)
            # with a constant sigma: by default nevergrad mutates sigma itself before sampling,
            # which turns N(mu, sigma) into a heavy-tailed scale mixture of normals
            params[n] = ng.p.Scalar(init=g("mu"), mutable_sigma=False).set_mutation(sigma=g("sigma"))
            if m in ("lognormal", "qlognormal"):
                base = g("base")
                codecs[n] = Codec(lambda x, b=base: b**x, lambda v, b=base: math.log(v, b))
    parametrization = ng.p.Dict(**params)
    if seed is not None:
        parametrization.random_state.seed(seed)
    return parametrization


def _configspace(space: SearchSpace, codecs: dict, seed: int | None) -> Any:
    from ConfigSpace import (
        CategoricalHyperparameter,
        ConfigurationSpace,
        UniformFloatHyperparameter,
        UniformIntegerHyperparameter,
    )

    native = ConfigurationSpace(seed=seed)
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            cats = g("categories")
            native.add(CategoricalHyperparameter(n, list(range(len(cats)))))
            codecs[n] = index_codec(cats)
        elif m == "uniformint":
            native.add(UniformIntegerHyperparameter(n, g("low"), g("high")))
        else:
            native.add(UniformFloatHyperparameter(n, g("low"), g("high"), log=m in LOG_SCALE))
    return native


def _ax(space: SearchSpace, codecs: dict, seed: int | None) -> list:
    native = []
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            cats = g("categories")
            if len(cats) == 1:
                native.append({"name": n, "type": "fixed", "value": 0, "value_type": "int"})
            else:
                native.append(
                    {
                        "name": n,
                        "type": "choice",
                        "values": list(range(len(cats))),
                        "value_type": "int",
                        "is_ordered": False,
                        # the indices are sorted already; Ax makes a 2-value choice ordered and
                        # refuses an ordered numeric choice with sort_values False
                        "sort_values": True,
                    }
                )
            codecs[n] = index_codec(cats)
        elif m == "uniformint":
            native.append({"name": n, "type": "range", "bounds": [g("low"), g("high")], "value_type": "int"})
        else:
            native.append(
                {
                    "name": n,
                    "type": "range",
                    "bounds": [float(g("low")), float(g("high"))],
                    "value_type": "float",
                    "log_scale": m in LOG_SCALE,
                }
            )
            codecs[n] = Codec(lambda value: value, float)  # a quantized value (an int) back into Ax's float range
    return native


def _bayes_opt(space: SearchSpace, codecs: dict, seed: int | None) -> dict:
    native = {}
    for dim in space.searched:
        m, g, n = dim.method, dim.get, dim.name
        if m == "categorical":
            # a category index, searched as a float in [0, n): categories are treated as ordered
            cats = g("categories")
            native[n] = (0.0, float(len(cats)))
            codecs[n] = Codec(
                lambda x, cats=cats: cats[min(max(int(math.floor(x)), 0), len(cats) - 1)],
                lambda v, idx=_index_of(cats): idx(v) + 0.5,
            )
        elif m == "uniformint":
            native[n] = (g("low") - 0.5, g("high") + 0.5)
        elif m in LOG_SCALE:
            native[n] = (math.log(g("low")), math.log(g("high")))
            codecs[n] = Codec(exp_clean, math.log)
        else:
            native[n] = (float(g("low")), float(g("high")))
    return native


BUILDERS: dict[str, Callable[[SearchSpace, dict, int | None], Any]] = {
    "tune": _ray_tune,
    "hyperopt": _hyperopt,
    "optuna": _optuna,
    "skopt": _skopt,
    "nevergrad": _nevergrad,
    "configspace": _configspace,
    "ax": _ax,
    "bayes_opt": _bayes_opt,
}
