"""The (method x algorithm) sampling matrix: samples drawn through each library, then decoded.

For every algorithm and every search-space method, either the library's own sampler, passed
through ``Translation.decode``, follows the distribution hpogrid.space.model defines (bounds,
integrality, quantization without float noise, log scale, normality, categories with their
Python types), or ``check`` refuses the pair with an error naming the algorithm, the method and
what to use instead. Every library samples one space holding all the dimensions it supports.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
import warnings
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats

from hpogrid.catalog import ALGORITHMS, VARIANT_GENERATOR
from hpogrid.errors import ValidationError
from hpogrid.space.model import METHODS, QUANTIZED, SearchSpace
from hpogrid.space.translate import Translation, check, support_problem, translate

N = 400  # samples per library and space
SEED = 20240611
P_MIN = 1e-4  # lenient: the samples are seeded, so a pass is deterministic anyway

MIXED = [1, "a", True, None, 2.5]
FIXED_VALUE = [1, "x", None]

# case (also the dimension name) -> (method, dimension); every method at least once, with an
# int q and a float q for the quantized methods and a non-default base for the log methods
CASES: dict[str, tuple[str, dict]] = {
    "categorical": ("categorical", {"categories": MIXED}),
    "categorical_two": ("categorical", {"categories": [False, 0]}),
    "categorical_one": ("categorical", {"categories": ["only"]}),
    "uniform": ("uniform", {"low": -2, "high": 3}),
    "uniformint": ("uniformint", {"low": 3, "high": 7}),
    "quniform": ("quniform", {"low": 0.3, "high": 1.2, "q": 0.1}),
    "quniform_intq": ("quniform", {"low": 0, "high": 20, "q": 5}),
    "loguniform": ("loguniform", {"low": 1e-4, "high": 100}),
    "loguniform_base2": ("loguniform", {"low": 1e-4, "high": 100, "base": 2}),
    "qloguniform": ("qloguniform", {"low": 0.05, "high": 20, "q": 0.05}),
    "qloguniform_intq": ("qloguniform", {"low": 1, "high": 1000, "q": 1}),
    "normal": ("normal", {"mu": -1, "sigma": 2}),
    "qnormal": ("qnormal", {"mu": 0.5, "sigma": 3, "q": 0.25}),
    "qnormal_intq": ("qnormal", {"mu": 10, "sigma": 8, "q": 2}),
    "lognormal": ("lognormal", {"mu": 0.5, "sigma": 0.8}),
    "lognormal_base10": ("lognormal", {"mu": -1, "sigma": 0.5, "base": 10}),
    "qlognormal": ("qlognormal", {"mu": 1, "sigma": 0.5, "q": 0.1}),
    "qlognormal_intq": ("qlognormal", {"mu": 1, "sigma": 0.5, "base": 10, "q": 1}),
    "fixed": ("fixed", {"value": FIXED_VALUE}),
}


def hyperparameter(method: str, dimension: dict) -> dict:
    return {"method": method, "dimension": dimension}


def one_dimension(case: str) -> SearchSpace:
    method, dimension = CASES[case]
    return SearchSpace.parse({case: hyperparameter(method, dimension)})


def supported(algorithm: str, case: str) -> bool:
    return support_problem(algorithm, one_dimension(case).dimensions[0]) is None


SAMPLED = [(a, c) for a in ALGORITHMS for c in CASES if supported(a, c)]
REFUSED = sorted(
    {(a, CASES[c][0]) for a in ALGORITHMS for c in CASES if not supported(a, c)},
    key=lambda pair: (list(ALGORITHMS).index(pair[0]), list(METHODS).index(pair[1])),
)


# -- sampling through each library: Translation -> raw samples {name: raw value} -------------------
@contextlib.contextmanager
def quiet():
    """Silence the libraries' warnings and logging (Ax sets its own loggers' levels) while they sample."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(previous)


def sample_tune(translation: Translation, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    columns = {name: list(domain.sample(size=n, random_state=rng)) for name, domain in translation.space.items()}
    return [{name: column[i] for name, column in columns.items()} for i in range(n)]


def sample_hyperopt(translation: Translation, n: int, seed: int) -> list[dict]:
    from hyperopt.pyll import stochastic

    rng = np.random.default_rng(seed)
    return [stochastic.sample(translation.space, rng=rng) for _ in range(n)]


def sample_optuna(translation: Translation, n: int, seed: int) -> list[dict]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    raws = []
    for _ in range(n):
        trial = study.ask(translation.space)
        raws.append(dict(trial.params))
        study.tell(trial, 0.0)
    return raws


def sample_skopt(translation: Translation, n: int, seed: int) -> list[dict]:
    from skopt.space import Space

    space = Space(translation.space)
    names = [dim.name for dim in space.dimensions]
    return [dict(zip(names, row, strict=True)) for row in space.rvs(n, random_state=seed)]


def sample_nevergrad(translation: Translation, n: int, seed: int) -> list[dict]:
    return [translation.space.sample().value for _ in range(n)]  # seeded by translate()


def sample_configspace(translation: Translation, n: int, seed: int) -> list[dict]:
    return [dict(config) for config in translation.space.sample_configuration(n)]  # seeded by translate()


def sample_ax(translation: Translation, n: int, seed: int) -> list[dict]:
    from ax.adapter.registry import Generators
    from ax.service.ax_client import AxClient

    client = AxClient(verbose_logging=False, random_seed=seed)
    client.create_experiment(parameters=translation.space)
    experiment = client.experiment
    run = Generators.SOBOL(experiment=experiment, search_space=experiment.search_space, seed=seed).gen(n=n)
    return [dict(arm.parameters) for arm in run.arms]


def sample_bayes_opt(translation: Translation, n: int, seed: int) -> list[dict]:
    from bayes_opt import BayesianOptimization

    optimizer = BayesianOptimization(f=None, pbounds=translation.space, random_state=seed, verbose=0)
    return [optimizer.space.array_to_params(optimizer.space.random_sample()) for _ in range(n)]


SAMPLERS = {
    "tune": sample_tune,
    "hyperopt": sample_hyperopt,
    "optuna": sample_optuna,
    "skopt": sample_skopt,
    "nevergrad": sample_nevergrad,
    "configspace": sample_configspace,
    "ax": sample_ax,
    "bayes_opt": sample_bayes_opt,
}


def draw(space: SearchSpace, algorithm: str, n: int = N, seed: int = SEED) -> tuple[Translation, list[dict]]:
    """Translate space for algorithm, sample n points through its library and decode them."""
    with quiet():  # translate() imports the library
        translation = translate(space, algorithm, seed=seed)
        raws = SAMPLERS[translation.library](translation, n, seed)
    assert len(raws) == n
    return translation, [translation.decode(raw) for raw in raws]


@functools.cache
def matrix_samples(algorithm: str) -> tuple[Translation, list[dict]]:
    """One space with every case the algorithm supports, sampled once."""
    tree = {c: hyperparameter(*CASES[c]) for c in CASES if (algorithm, c) in SAMPLED}
    return draw(SearchSpace.parse(tree), algorithm)


def native_names(translation: Translation) -> set[str]:
    """The hyperparameter names present in the library's native space."""
    space = translation.space
    if translation.library == "skopt":
        return {dim.name for dim in space}
    if translation.library == "ax":
        return {parameter["name"] for parameter in space}
    if translation.library == "configspace":
        return set(space.keys())
    if translation.library == "nevergrad":
        return set(space.value)
    return set(space)


# -- distribution checks ---------------------------------------------------------------------------
def decimals(q: float) -> int:
    return max(0, -Decimal(repr(q)).as_tuple().exponent)


def underlying_cdf(method: str, d: dict):
    """CDF of the continuous value a quantized method rounds."""
    if method == "quniform":
        return stats.uniform(d["low"], d["high"] - d["low"]).cdf
    if method == "qloguniform":
        log_low, log_high = math.log(d["low"]), math.log(d["high"])
        return lambda y: stats.uniform(log_low, log_high - log_low).cdf(np.log(y))
    if method == "qnormal":
        return stats.norm(d["mu"], d["sigma"]).cdf
    ln_base = math.log(d.get("base", math.e))  # qlognormal: base ** N(mu, sigma)
    return lambda y: stats.norm(d["mu"], d["sigma"]).cdf(np.log(np.maximum(y, 1e-300)) / ln_base) * (y > 0)


def quantized_ks_pvalue(values: list, q: float, cdf) -> float:
    """Kolmogorov-Smirnov p-value of values against round(Y / q) * q, Y ~ cdf (conservative).

    The true CDF is a step function with steps at multiples of q: P(X <= x) = cdf(x + q/2).
    Between two observed values the empirical CDF is flat, so the supremum of the difference
    is reached at an observed value or just below it (at the previous grid point).
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    points = np.unique(x)
    at_or_below = np.searchsorted(x, points, side="right") / n
    below = np.searchsorted(x, points, side="left") / n
    distance = max(
        np.max(np.abs(at_or_below - cdf(points + q / 2))),
        np.max(np.abs(below - cdf(points - q / 2))),
    )
    return float(stats.kstwo.sf(distance, n))


def far_tail(values: list, method: str, d: dict) -> list:
    """Values beyond 4 sigma of mu (of log_base for the log-normals): expect 0.025 of 400.

    KS tests are weak in the tails; this catches a heavy-tailed law with the right centre.
    """
    slack = d.get("q", 0) / 2  # rounding moves a value by q/2 at most
    if method in ("normal", "qnormal"):
        return [v for v in values if abs(v - d["mu"]) > 4 * d["sigma"] + slack]
    base = d.get("base", math.e)
    top = base ** (d["mu"] + 4 * d["sigma"]) + slack
    bottom = base ** (d["mu"] - 4 * d["sigma"]) - slack  # if <= 0, no lower tail to check
    return [v for v in values if v > top or v < bottom]


def assert_ks(sample, distribution, what: str) -> None:
    p = stats.kstest(sample, distribution.cdf).pvalue
    assert p > P_MIN, f"KS test rejects {what} ~ {distribution.dist.name}{distribution.args} (p={p:.2g})"


def same_value(value, category) -> bool:
    return type(value) is type(category) and value == category


def assert_distribution(case: str, values: list) -> None:
    """values, decoded from a library's samples of CASES[case], follow the model's distribution."""
    method, d = CASES[case]
    n = len(values)
    if method == "fixed":
        assert all(v == d["value"] for v in values), values[:5]
        return
    if method == "categorical":
        categories = d["categories"]
        for v in values:
            assert any(same_value(v, c) for c in categories), f"{v!r} ({type(v).__name__}) is not a category"
        counts = [sum(same_value(v, c) for v in values) for c in categories]
        assert all(counts), f"categories never drawn: {[c for c, k in zip(categories, counts, strict=True) if not k]}"
        if len(counts) > 1:
            assert stats.chisquare(counts).pvalue > P_MIN, f"categories not uniform: {counts}"
        return

    integer = method == "uniformint" or (method in QUANTIZED and isinstance(d["q"], int))
    wrong = [v for v in values if type(v) is not (int if integer else float)]
    assert not wrong, f"expected {'int' if integer else 'float'} values, got {wrong[:5]!r}"
    if "low" in d:
        outside = [v for v in values if not d["low"] <= v <= d["high"]]
        assert not outside, f"outside [{d['low']}, {d['high']}]: {outside[:5]}"

    if method == "uniformint":
        counts = [values.count(k) for k in range(d["low"], d["high"] + 1)]
        assert set(values) == set(range(d["low"], d["high"] + 1))
        assert stats.chisquare(counts).pvalue > P_MIN, f"integers not uniform: {counts}"
    elif method == "uniform":
        assert_ks(values, stats.uniform(d["low"], d["high"] - d["low"]), "values")
    elif method == "loguniform":
        log_low, log_high = math.log(d["low"]), math.log(d["high"])
        assert_ks(np.log(values), stats.uniform(log_low, log_high - log_low), "ln(values)")
    elif method == "normal":
        assert_ks(values, stats.norm(d["mu"], d["sigma"]), "values")
    elif method == "lognormal":
        assert min(values) > 0
        logs = np.log(values) / math.log(d.get("base", math.e))
        assert_ks(logs, stats.norm(d["mu"], d["sigma"]), "log_base(values)")
    else:  # quantized
        q = d["q"]
        off_grid = [v for v in values if abs(v / q - round(v / q)) > 1e-9]
        assert not off_grid, f"not multiples of q={q}: {off_grid[:5]}"
        noisy = [v for v in values if v != round(v, decimals(q))]
        assert not noisy, f"float noise: {noisy[:5]}"
        p = quantized_ks_pvalue(values, q, underlying_cdf(method, d))
        assert p > P_MIN, f"distribution of round(Y / q) * q rejected (p={p:.2g})"
        if method == "quniform":  # every grid point, both end points included
            steps = round((d["high"] - d["low"]) / q)
            grid = {round(d["low"] + k * q, decimals(q)) for k in range(steps + 1)}
            assert set(values) == grid
            assert d["low"] in values and d["high"] in values
        elif method == "qloguniform":
            assert d["low"] in values  # the low end point holds about 6% of the mass here
        elif method == "qlognormal":
            assert min(values) >= 0
    if method in ("normal", "qnormal", "lognormal", "qlognormal"):
        tail = far_tail(values, method, d)
        assert len(tail) <= 2, f"{len(tail)} of {n} values beyond 4 sigma (expected 0.03): {tail[:5]}"


# -- the matrix ------------------------------------------------------------------------------------
def test_cases_cover_every_method():
    assert {method for method, _ in CASES.values()} == set(METHODS)
    pairs = {(a, CASES[c][0]) for a, c in SAMPLED} | set(REFUSED)
    assert pairs == {(a, m) for a in ALGORITHMS for m in METHODS}


@pytest.mark.parametrize(("algorithm", "case"), SAMPLED, ids=[f"{a}-{c}" for a, c in SAMPLED])
def test_sampling(algorithm, case):
    translation, configs = matrix_samples(algorithm)
    assert_distribution(case, [config[case] for config in configs])
    if CASES[case][0] == "fixed":  # decoded into the config, never sent to the library
        assert case not in native_names(translation)
    else:
        assert case in native_names(translation)


@pytest.mark.parametrize(("algorithm", "method"), REFUSED, ids=[f"{a}-{m}" for a, m in REFUSED])
def test_refused(algorithm, method):
    case = next(c for c, (m, _) in CASES.items() if m == method)
    space = one_dimension(case)
    for call in (check, translate):
        with pytest.raises(ValidationError) as raised:
            call(space, algorithm)
        message = str(raised.value)
        assert raised.value.field == case
        assert f"algorithm '{algorithm}'" in message
        assert f"method '{method}'" in message
        suggestion = re.search(r"use '(\w+)'.* or algorithm (.+)$", message)
        assert suggestion, message
    # the bounded alternative and every algorithm suggested do work
    bounded = suggestion.group(1)
    assert bounded == ("quniform" if method in QUANTIZED else "uniform")
    dimension = {"low": 1, "high": 4, "q": 1} if bounded == "quniform" else {"low": 1, "high": 4}
    check(SearchSpace.parse({case: hyperparameter(bounded, dimension)}), algorithm)
    alternatives = re.findall(r"'(\w+)'", suggestion.group(2))
    assert alternatives and algorithm not in alternatives
    for alternative in alternatives:
        check(space, alternative)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_loguniform_base_does_not_change_the_distribution(algorithm):
    _, configs = matrix_samples(algorithm)
    base10 = np.log([config["loguniform"] for config in configs])
    base2 = np.log([config["loguniform_base2"] for config in configs])
    assert stats.ks_2samp(base10, base2).pvalue > P_MIN
    for logs in (base10, base2):
        assert_ks(logs, stats.uniform(math.log(1e-4), math.log(100 / 1e-4)), "ln(values)")


GRID_SPACE = {
    "mixed": hyperparameter("categorical", {"categories": MIXED, "grid_search": 1}),
    "flag": hyperparameter("categorical", {"categories": [False, True], "grid_search": 1}),
    "lr": hyperparameter("uniform", {"low": 0.1, "high": 0.2}),
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_grid_search(algorithm):
    space = SearchSpace.parse(GRID_SPACE)
    if algorithm not in VARIANT_GENERATOR:
        for call in (check, translate):
            with pytest.raises(ValidationError) as raised:
                call(space, algorithm)
            message = str(raised.value)
            assert f"algorithm '{algorithm}' cannot grid-search" in message
            assert "set grid_search to 0" in message and "use algorithm 'grid' or 'random'" in message
        return
    from ray.tune.search.variant_generator import generate_variants

    translation = translate(space, algorithm, seed=SEED)
    variants = generate_variants(translation.space, random_state=np.random.default_rng(SEED))
    configs = [translation.decode(spec) for _, spec in variants]
    assert len(configs) == len(MIXED) * 2
    pairs = [(config["mixed"], config["flag"]) for config in configs]
    for category in MIXED:
        for flag in (False, True):
            assert sum(same_value(m, category) and f is flag for m, f in pairs) == 1, (category, flag)
    assert all(0.1 <= config["lr"] <= 0.2 and type(config["lr"]) is float for config in configs)


NESTED_SPACE = {
    "opt.lr": hyperparameter("loguniform", {"low": 1e-4, "high": 1e-1}),
    "model": {
        "layers": hyperparameter("uniformint", {"low": 1, "high": 3}),
        "act": hyperparameter("categorical", {"categories": ["relu", "tanh"]}),
        "head.width": hyperparameter("quniform", {"low": 8, "high": 64, "q": 8}),
    },
    "run.tag": hyperparameter("fixed", {"value": "baseline"}),
}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_nested_names_decode_into_nested_dicts(algorithm):
    _, configs = draw(SearchSpace.parse(NESTED_SPACE), algorithm, n=60)
    for config in configs:
        assert set(config) == {"opt", "model", "run"}
        assert set(config["opt"]) == {"lr"} and 1e-4 <= config["opt"]["lr"] <= 1e-1
        assert set(config["model"]) == {"layers", "act", "head"}
        assert config["model"]["layers"] in (1, 2, 3) and type(config["model"]["layers"]) is int
        assert config["model"]["act"] in ("relu", "tanh")
        width = config["model"]["head"]["width"]
        assert width in range(8, 65, 8) and type(width) is int
        assert config["run"] == {"tag": "baseline"}
    assert {config["model"]["layers"] for config in configs} == {1, 2, 3}
    assert {config["model"]["act"] for config in configs} == {"relu", "tanh"}


def test_nevergrad_integers_are_integer_cast():
    """NGOpt chooses its optimizer from the parametrization: an integer searched as a continuous scalar sent it
    to a continuous portfolio, 9x the regret of the same space written for nevergrad by hand (bench/quality.py,
    'cond'). hpogrid's parametrization makes NGOpt choose what the hand-written one makes it choose."""
    import nevergrad as ng

    space = SearchSpace.parse(
        {
            "model": {"method": "categorical", "dimension": {"categories": ["a", "b", "c"]}},
            "depth": {"method": "uniformint", "dimension": {"low": 1, "high": 12}},
            "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
        }
    )
    t = translate(space, "nevergrad", 0)
    by_hand = ng.p.Dict(
        model=ng.p.Choice(["a", "b", "c"]),
        depth=ng.p.Scalar(lower=1, upper=12).set_integer_casting(),
        x=ng.p.Scalar(lower=0, upper=1),
    )
    for budget in (10, 100):
        ours = ng.optimizers.NGOpt(parametrization=t.space, budget=budget)._select_optimizer_cls()
        theirs = ng.optimizers.NGOpt(parametrization=by_hand, budget=budget)._select_optimizer_cls()
        assert str(ours) == str(theirs)
    # a value rounded from a bound of the 1/2-wider interval is clipped into [low, high]
    assert t.decode({"model": 0, "depth": 13, "x": 0.5})["depth"] == 12
    assert t.decode({"model": 0, "depth": 0, "x": 0.5})["depth"] == 1
