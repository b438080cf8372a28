"""Bad scheduler_param / algorithm_param values, search points and spaces: refused when the config,
the project or the run is made (exit 2, one line naming the field), never after Ray starts."""

from __future__ import annotations

import inspect
import json
import warnings

import pytest

from tests.conftest import snapshot
from tests.test_bad_input import SCRIPT, project

RICH_SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "n": {"method": "uniformint", "dimension": {"low": 1, "high": 5}},
    "c": {"method": "categorical", "dimension": {"categories": [0, 1, "a"]}},
    "q": {"method": "quniform", "dimension": {"low": 0, "high": 1, "q": 0.25}},
    "ln": {"method": "lognormal", "dimension": {"mu": 0, "sigma": 1}},
    "opt": {"lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-2}}},
    "f": {"method": "fixed", "dimension": {"value": 3}},
}
GOOD_POINT = {"x": 0.5, "n": 2, "c": "a", "q": 0.75, "ln": 1.5, "opt": {"lr": 0.001}}


def sched(scheduler: str, param: dict, *extra: str) -> list[str]:
    """hpo_config create with this scheduler and scheduler_param."""
    return ["hpo_config", "create", "n", "--scheduler", scheduler, "--scheduler_param", json.dumps(param), *extra]


def algo(algorithm: str, param: dict, *extra: str) -> list[str]:
    """hpo_config create with this algorithm (and the fifo scheduler) and algorithm_param."""
    args = ["hpo_config", "create", "n", "--algorithm", algorithm, "--algorithm_param", json.dumps(param)]
    return args + ["--scheduler", "bohbhyperband" if algorithm == "bohb" else "fifo", *extra]


def points(*given: dict) -> list[str]:
    """local_run of the project 'rich' with these search points."""
    return ["local_run", "rich", "--search_points", json.dumps(list(given))]


def point(**change) -> list[str]:
    """local_run of the project 'rich' with one search point: GOOD_POINT changed as given."""
    return points({**GOOD_POINT, **change})


ASHA = "hpo_config.scheduler_param."
LONG_STOP = ("--stop", '{"training_iteration": 50}')

# (id, command, text the one-line error must contain)
CASES = [
    # schedulers
    ("asha-grace-negative", sched("asynchyperband", {"grace_period": -1}), ASHA + "grace_period: must be a positive"),
    ("asha-grace-float", sched("asynchyperband", {"grace_period": 1.5}, *LONG_STOP), "got 1.5"),
    ("asha-grace-text", sched("asynchyperband", {"grace_period": "2"}, *LONG_STOP), ASHA + "grace_period"),
    ("asha-max_t-zero", sched("asynchyperband", {"max_t": 0}), ASHA + "max_t: must be a positive integer, got 0"),
    (
        "asha-grace-above-max_t",
        sched("asynchyperband", {"max_t": 3, "grace_period": 5}),
        ASHA + "grace_period: must be <= max_t = 3, got 5",
    ),
    (
        "asha-grace-above-stop",
        sched("asynchyperband", {"grace_period": 5}, "--stop", '{"training_iteration": 4}'),
        "max_t (from stop.training_iteration, or 100) = 4",
    ),
    ("asha-reduction-one", sched("asynchyperband", {"reduction_factor": 1}), "reduction_factor: must be a number > 1"),
    ("asha-brackets-zero", sched("asynchyperband", {"brackets": 0}), ASHA + "brackets: must be a positive integer"),
    ("asha-time_attr-empty", sched("asynchyperband", {"time_attr": ""}), "time_attr: must be a non-empty string"),
    ("asha-stop_last-text", sched("asynchyperband", {"stop_last_trials": "yes"}), "must be true or false"),
    ("hyperband-max_t-negative", sched("hyperband", {"max_t": -5}), ASHA + "max_t: must be a positive integer"),
    ("hyperband-reduction-half", sched("hyperband", {"reduction_factor": 0.5}), "reduction_factor: must be"),
    ("median-min_samples-zero", sched("median", {"min_samples_required": 0}), "min_samples_required: must be"),
    ("median-grace-negative", sched("median", {"grace_period": -1}), ASHA + "grace_period: must be a number >= 0"),
    ("median-hard_stop-int", sched("median", {"hard_stop": 1}), "hard_stop: must be true or false, got 1"),
    ("pbt-interval-zero", sched("pbt", {"perturbation_interval": 0}), "perturbation_interval: must be a number > 0"),
    ("pbt-quantile-high", sched("pbt", {"quantile_fraction": 0.6}), "quantile_fraction: must be a number in [0, 0.5]"),
    ("pbt-resample-two", sched("pbt", {"resample_probability": 2}), "resample_probability: must be a number in [0, 1]"),
    ("pbt-factors-one", sched("pbt", {"perturbation_factors": [1.2]}), "perturbation_factors: must be a list of two"),
    ("pbt-mutations-scalar", sched("pbt", {"hyperparam_mutations": {"x": 3}}), "hyperparam_mutations.x: must be a"),
    ("pbt-mutations-empty", sched("pbt", {"hyperparam_mutations": {"x": []}}), "non-empty list of values, got []"),
    ("pb2-bounds-reversed", sched("pb2", {"hyperparam_bounds": {"x": [1, 0]}}), "hyperparam_bounds.x: must be a [low"),
    ("pb2-quantile-negative", sched("pb2", {"quantile_fraction": -0.1}), "quantile_fraction: must be a number in"),
    (
        "bohbhyperband-max_t-float",
        sched("bohbhyperband", {"max_t": 1.5}, "--algorithm", "bohb"),
        "max_t: must be a positive integer, got 1.5",
    ),
    (
        "update-asha-grace-zero",
        ["hpo_config", "update", "h", "--scheduler_param", '{"grace_period": 0}'],
        ASHA + "grace_period: must be a positive integer, got 0",
    ),
    # algorithms
    ("optuna-sampler-typo", algo("optuna", {"sampler": "TPESampeler"}), "did you mean 'TPESampler'"),
    ("optuna-sampler-not-usable", algo("optuna", {"sampler": "PartialFixedSampler"}), "sampler: must be one of"),
    ("optuna-sampler-lowercase", algo("optuna", {"sampler": "tpe"}), "algorithm_param.sampler: must be one of"),
    (
        "optuna-sampler_param-typo",
        algo("optuna", {"sampler": "CmaEsSampler", "sampler_param": {"n_startup_trial": 3}}),
        "did you mean 'n_startup_trials'",
    ),
    (
        "optuna-sampler_param-of-other-sampler",
        algo("optuna", {"sampler": "RandomSampler", "sampler_param": {"n_startup_trials": 3}}),
        "optuna's RandomSampler has no argument 'n_startup_trials'",
    ),
    (
        "optuna-seed-negative",
        algo("optuna", {"sampler_param": {"seed": -1}}),
        "algorithm_param.sampler_param.seed: must be an integer >= 0, got -1",
    ),
    (
        "optuna-restart-strategy",
        algo("optuna", {"sampler": "CmaEsSampler", "sampler_param": {"restart_strategy": "xpop"}}),
        "restart_strategy: must be one of 'ipop' or 'bipop'",
    ),
    ("optuna-sampler_param-list", algo("optuna", {"sampler_param": [1]}), "sampler_param: must be a JSON object"),
    ("hyperopt-initial-zero", algo("hyperopt", {"n_initial_points": 0}), "n_initial_points: must be a positive"),
    ("hyperopt-gamma-high", algo("hyperopt", {"gamma": 1.5}), "gamma: must be a number in (0, 1)"),
    ("skopt-acq_func", algo("skopt", {"acq_func": "UCB"}), "acq_func: must be one of"),
    ("skopt-base_estimator", algo("skopt", {"base_estimator": "SVM"}), "base_estimator: must be one of"),
    ("skopt-xi-negative", algo("skopt", {"acq_func_kwargs": {"xi": -0.1}}), "acq_func_kwargs.xi: must be a number"),
    ("skopt-generator", algo("skopt", {"initial_point_generator": "latin"}), "initial_point_generator: must be"),
    ("bayesian-kind-typo", algo("bayesian", {"utility_kwargs": {"kind": "ucc"}}), "did you mean 'ucb'"),
    ("bayesian-kappa-negative", algo("bayesian", {"utility_kwargs": {"kappa": -1}}), "utility_kwargs.kappa: must be"),
    ("bayesian-unknown-utility", algo("bayesian", {"utility_kwargs": {"kapa": 1}}), "did you mean 'kappa'"),
    ("bayesian-steps-negative", algo("bayesian", {"random_search_steps": -1}), "random_search_steps: must be"),
    ("bohb-top-percent", algo("bohb", {"bohb_config": {"top_n_percent": 0}}), "bohb_config.top_n_percent: must be"),
    ("ax-constraints-string", algo("ax", {"parameter_constraints": "x <= 1"}), "must be a list of strings"),
    ("ax-constraint-spaces", algo("ax", {"parameter_constraints": ["x<=y"]}), "parameter_constraints[0]: must be like"),
    ("ax-constraint-times", algo("ax", {"parameter_constraints": ["x * 2 <= 1"]}), "has '*' where + or - belongs"),
    ("ax-constraint-term", algo("ax", {"parameter_constraints": ["a*x <= 1"]}), "has the term 'a*x'"),
    ("ax-constraint-nan", algo("ax", {"parameter_constraints": ["x + n <= nan"]}), "bound nan, not a finite"),
    ("ax-outcome-form", algo("ax", {"outcome_constraints": ["acc > 0.5"]}), "outcome_constraints[0]: must be like"),
    ("nevergrad-optimizer-empty", algo("nevergrad", {"optimizer": ""}), "optimizer: must be a non-empty string"),
    ("hpo-file-bad-param", project(hpo="bad_hpo.json"), "grace_period: must be a positive integer, got 0 (in "),
    # configs that do not fit the search space, found at project create
    ("project-nevergrad-optimizer", project(hpo="h_ng_typo"), "nevergrad has no optimizer 'CMAA'"),
    (
        "project-nevergrad-argument",
        project(hpo="h_ng_arg"),
        "optimizer_param: nevergrad's CMA takes no argument 'sigma'",
    ),
    (
        "project-nevergrad-budget",
        project(hpo="h_ng_budget"),
        "optimizer_param.budget: must be a positive integer, got 0",
    ),
    (
        "project-nevergrad-default",
        project(hpo="h_ng_workers"),
        "NGOpt takes no argument 'num_worker' (did you mean 'num_workers'?)",
    ),
    ("project-pb2-no-bounds", project(hpo="h_pb2", space_="s_cat"), "pb2 explores numeric hyperparameters"),
    (
        "project-ax-constraint-unknown",
        project(hpo="h_ax_y"),
        "hpo_config.algorithm_param.parameter_constraints[0]: 'y' is not a searched hyperparameter",
    ),
    ("project-ax-constraint-log", project(hpo="h_ax_lr", space_="s_ax"), "[1]: 'opt.lr' is loguniform; Ax"),
    ("project-ax-constraint-categorical", project(hpo="h_ax_c", space_="s_ax"), "'c' is categorical; Ax"),
    ("project-ax-constraint-twice", project(hpo="h_ax_twice", space_="s_ax"), "names 'x' twice; write it once"),
    (
        "project-pbt-mutation-unknown",
        project(hpo="h_pbt_y"),
        "scheduler_param.hyperparam_mutations.y: is not a hyperparameter of the search space",
    ),
    (
        "project-pb2-bounds-categorical",
        project(hpo="h_pb2_c", space_="s_mixed"),
        "hyperparam_bounds.c: is not a numeric hyperparameter with low/high",
    ),
    # search points against the space
    ("point-out-of-bounds", point(x=1.5), "point 1.x: got 1.5, expected a number in [0, 1]"),
    ("point-int-as-float", point(n=2.0), "point 1.n: got 2.0, expected a whole number"),
    ("point-int-out-of-range", point(n=6), "point 1.n: got 6, expected a number in [1, 5]"),
    ("point-not-a-category", point(c="b"), "point 1.c: got 'b', expected one of the categories"),
    ("point-true-is-not-1", point(c=True), "point 1.c: got true"),
    ("point-not-multiple-of-q", point(q=0.3), "point 1.q: got 0.3, expected a multiple of q (0.25)"),
    ("point-lognormal-negative", point(ln=-1), "point 1.ln: got -1, expected a number > 0"),
    ("point-text-number", point(x="0.5"), "point 1.x: got '0.5', expected a number"),
    ("point-nested-out-of-bounds", point(opt={"lr": 0.5}), "point 1.opt.lr: got 0.5"),
    ("point-unknown-name", point(lrr=0.1), "point 1.lrr: is not a hyperparameter of the search space"),
    ("point-typo-did-you-mean", point(opt={"lrr": 0.001}), "point 1.opt.lrr: is not a hyperparameter"),
    ("point-fixed-differs", point(f=4), "point 1.f: got 4, expected 3, its fixed value"),
    ("point-given-twice", point(**{"opt.lr": 0.001}), "point 1.opt.lr: is given twice"),
    ("point-second-bad", points(GOOD_POINT, {**GOOD_POINT, "n": 0}), "point 2.n: got 0"),
    ("point-missing", points({"x": 0.5}), "point 1.n: is missing; a point gives every searched hyperparameter"),
]


@pytest.fixture
def populated(hpogrid, base, tmp_path):
    """Saved configs and a project with a search space of every kind of hyperparameter."""
    hpogrid("hpo_config", "create", "h")
    hpogrid(
        "hpo_config", "create", "h_ng_typo", "--algorithm", "nevergrad", "--algorithm_param", '{"optimizer": "CMAA"}'
    )
    hpogrid("hpo_config", "create", "h_pb2", "--scheduler", "pb2")
    for name, param in (
        ("h_ng_arg", {"optimizer": "CMA", "optimizer_param": {"sigma": 1}}),
        ("h_ng_budget", {"optimizer_param": {"budget": 0}}),
        ("h_ng_workers", {"optimizer_param": {"num_worker": 2}}),
    ):
        hpogrid("hpo_config", "create", name, "--algorithm", "nevergrad", "--algorithm_param", json.dumps(param))
    for name, constraints in (
        ("h_ax_y", ["x + y <= 1"]),
        ("h_ax_lr", ["x <= q", "x + opt.lr <= 1"]),
        ("h_ax_c", ["c <= x"]),
        ("h_ax_twice", ["x + n - x >= 0"]),
    ):
        constraints = json.dumps({"parameter_constraints": constraints})
        hpogrid("hpo_config", "create", name, "--algorithm", "ax", "--algorithm_param", constraints)
    hpogrid(
        "hpo_config",
        "create",
        "h_pb2_c",
        "--scheduler",
        "pb2",
        "--scheduler_param",
        '{"hyperparam_bounds": {"c": [0, 1]}}',
    )
    hpogrid(
        "hpo_config",
        "create",
        "h_pbt_y",
        "--scheduler",
        "pbt",
        "--scheduler_param",
        '{"hyperparam_mutations": {"y": [1, 2]}}',
    )
    hpogrid("model_config", "create", "m", "--script", "simple_objective.py", "--model", "simple_objective")
    hpogrid("search_space", "create", "s", '{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}')
    hpogrid("search_space", "create", "s_cat", '{"c": {"method": "categorical", "dimension": {"categories": [1, 2]}}}')
    mixed = {"x": RICH_SPACE["x"], "c": RICH_SPACE["c"]}
    hpogrid("search_space", "create", "s_mixed", json.dumps(mixed))
    hpogrid("search_space", "create", "s_rich", json.dumps(RICH_SPACE))
    hpogrid("search_space", "create", "s_ax", json.dumps({k: v for k, v in RICH_SPACE.items() if k != "ln"}))
    hpogrid(*project(name="rich", space_="s_rich"))
    (tmp_path / "bad_hpo.json").write_text('{"scheduler_param": {"grace_period": 0}}')
    return base


@pytest.fixture
def points_file(tmp_path):
    """Turn a --search_points JSON argument into a file, as the option wants."""

    def write(command: list[str]) -> list[str]:
        if "--search_points" not in command:
            return command
        index = command.index("--search_points") + 1
        path = tmp_path / "points.json"
        path.write_text(command[index])
        return [*command[:index], str(path), *command[index + 1 :]]

    return write


@pytest.mark.parametrize("command,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_param(populated, hpogrid, points_file, command, expected):
    before = snapshot(populated)
    result = hpogrid(*points_file(command), ok=False)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("Error: ") and len([x for x in lines if x.startswith("Error: ")]) == 1
    assert snapshot(populated) == before, "a failed command changed files"


def test_enough_distinct_cases():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


def test_good_params_and_points_are_accepted():
    """The rules refuse only what is wrong: typical values of every kind pass."""
    from hpogrid.configs.hpo import SCHEMA
    from hpogrid.space.model import SearchSpace

    for config in (
        {"scheduler_param": {"grace_period": 2, "max_t": 20, "reduction_factor": 3, "brackets": 1}},
        {"scheduler": "pbt", "scheduler_param": {"hyperparam_mutations": {"x": [0.1, 0.2]}, "quantile_fraction": 0.5}},
        {"scheduler": "pb2", "scheduler_param": {"hyperparam_bounds": {"opt": {"lr": [1e-5, 1e-3]}}}},
        {"algorithm": "optuna", "algorithm_param": {"sampler": "CmaEsSampler", "sampler_param": {"seed": 1}}},
        {"algorithm": "skopt", "algorithm_param": {"base_estimator": "gp", "acq_func": "EI"}},
        {"algorithm": "bayesian", "algorithm_param": {"utility_kwargs": {"kind": "ei", "xi": 0.01}}},
    ):
        SCHEMA.validate(config)
    space = SearchSpace.parse(RICH_SPACE)
    flat = space.check_point({**GOOD_POINT, "f": 3})
    assert flat == space.check_point({**{k: v for k, v in GOOD_POINT.items() if k != "opt"}, "opt.lr": 0.001})
    assert "f" not in flat and flat["opt.lr"] == 0.001
    assert space.check_point({**GOOD_POINT, "c": 1.0})["c"] == 1.0  # 1.0 is the category 1; true is not


def test_optuna_sampler_table_matches_the_installed_optuna():
    """Every sampler hpogrid accepts exists in optuna.samplers, takes the arguments hpogrid lets through,
    and can be made from JSON alone."""
    import optuna

    from hpogrid.configs.params import OPTUNA_SAMPLERS

    for name, arguments in OPTUNA_SAMPLERS.items():
        sampler = getattr(optuna.samplers, name)
        assert set(arguments) <= set(inspect.signature(sampler).parameters), name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" samplers
            sampler()  # no required argument: the name alone is enough


def test_rules_accept_the_library_defaults():
    """The default of every checked argument of every scheduler passes its rule (a rule that refused
    a library's own default would be wrong)."""
    from hpogrid.catalog import SCHEDULERS
    from tests.test_cli_basics import library_signature

    for name, scheduler in SCHEDULERS.items():
        if not scheduler.params:
            continue
        signature = library_signature(name)
        for key, rule in scheduler.params.items():
            default = signature.parameters[key].default
            if default is not None and default is not inspect.Parameter.empty:
                value = list(default) if isinstance(default, tuple) else default
                assert rule(value) is None, (name, key, default)


def test_local_run_that_fails_before_its_first_trial_leaves_no_run_folder(hpogrid, base):
    """A library that refuses its arguments only when the search starts (here nevergrad, given a
    project.json edited by hand past the checks of project create): one line, exit 2, no run folder."""
    hpogrid("hpo_config", "create", "h", "--algorithm", "nevergrad", "--algorithm_param", '{"optimizer": "CMA"}')
    hpogrid("model_config", "create", "m", "--script", "simple_objective.py", "--model", "simple_objective")
    hpogrid("search_space", "create", "s", '{"height": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}')
    hpogrid(*project(hpo="h", model="m", space_="s", scripts=SCRIPT))
    stored = base / "projects" / "p" / "project.json"
    data = json.loads(stored.read_text())
    data["configs"]["hpo_config"]["algorithm_param"]["optimizer_param"] = {"no_such_argument": 1}
    stored.write_text(json.dumps(data))
    result = hpogrid("local_run", "p", "-q", ok=False)
    assert result.exit_code == 2, result.output
    assert "hpo_config.algorithm_param: nevergrad cannot start with" in result.stderr, result.stderr
    assert "no_such_argument" in result.stderr and "Traceback" not in result.output
    assert not (base / "projects" / "p" / "runs").exists()


def test_nevergrad_argument_checks_agree_with_the_installed_nevergrad():
    """budget and num_workers pass for every optimizer nevergrad has, and an optimizer is made from
    what the check lets through; an argument no constructor takes is refused, unless it takes any."""
    import logging

    from hpogrid.configs.params import nevergrad_param_problem

    ng = pytest.importorskip("nevergrad")
    logging.getLogger("nevergrad").setLevel(logging.ERROR)
    parametrization = ng.p.Instrumentation(x=ng.p.Scalar(lower=0, upper=1))
    for name, optimizer in ng.optimizers.registry.items():
        assert nevergrad_param_problem(name, {"budget": 5, "num_workers": 2}) is None, name
        refused = nevergrad_param_problem(name, {"no_such_argument": 1})
        takes_any = any(a.kind is a.VAR_KEYWORD for a in inspect.signature(optimizer).parameters.values())
        assert (refused is None) == takes_any, name
    for name in ("NGOpt", "OnePlusOne", "CMA", "DE", "PSO", "TwoPointsDE", "RandomSearch"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ng.optimizers.registry[name](parametrization, budget=5, num_workers=2).ask()
    assert nevergrad_param_problem("CMA", {"budget": 0}).at == ".budget"


# Ax parameter constraints: (constraint, whether Ax takes it) over AX_SPACE, as hpogrid checks them at
# create. The last four Ax takes and hpogrid refuses on purpose: Ax would constrain a category's index,
# keep only the last of two terms of one name, or bound by infinity.
AX_SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "y": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "n": {"method": "uniformint", "dimension": {"low": 1, "high": 8}},
    "q": {"method": "quniform", "dimension": {"low": 0, "high": 1, "q": 0.1}},
    "lr": {"method": "loguniform", "dimension": {"low": 1e-4, "high": 1}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b", "c"]}},
    "k": {"method": "categorical", "dimension": {"categories": [1, 2]}},
    "f": {"method": "categorical", "dimension": {"categories": ["only"]}},
}
AX_TAKES = ["x <= y", "x >= y", "x + y <= 1", "2*x - 3.5*y >= -1", "-x + y <= 0.5", "x >= 0.2", "n + x <= 5"]
AX_TAKES += ["q - x >= 0", "x + y <= 1e3", "-2*x <= 1", "  x  +  y  <=  1 ", "x + -y <= 1"]
AX_REFUSES = ["x<=y", "x + y < 1", "x + y <= z", "x + lr <= 1", "lr <= x", "c <= 1", "f + x <= 1", "x * 2 <= 1"]
AX_REFUSES += ["x <= x", "2*x*y <= 1", "a*x <= 1", "x + y", "x y <= 1", "x <= 1 + y", "x+y <= 1", "*x <= 1"]
AX_REFUSES += ["x* <= 1", "1 <= x", "2*-x <= 1", "x + y <= nan", "x + y == 1", "x - - y <= 1"]
AX_REFUSES += ["x <= y <= 1", "X <= y"]
AX_STRICTER = ["k + x <= 1", "k <= x", "x + x <= 1", "x + y <= inf"]


def test_ax_constraint_checks_agree_with_the_installed_ax():
    """hpogrid reads a parameter constraint as the installed Ax does, on the space hpogrid gives Ax."""
    import logging

    from hpogrid.configs.params import ax_parameter_constraints
    from hpogrid.errors import ValidationError
    from hpogrid.space.model import SearchSpace
    from hpogrid.space.translate import _ax, check_ax_constraints

    pytest.importorskip("ax")
    logging.getLogger("ax").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ax.service.utils.instantiation import InstantiationBase

    space = SearchSpace.parse(AX_SPACE)
    parameters = {d["name"]: InstantiationBase.parameter_from_json(d) for d in _ax(space, {}, 0)}

    def ax_takes(text: str) -> bool:
        try:
            InstantiationBase.constraint_from_str(text, parameters)
        except Exception:
            return False
        return True

    def hpogrid_takes(text: str) -> bool:
        if ax_parameter_constraints([text]) is not None:
            return False
        try:
            check_ax_constraints(space, {"algorithm_param": {"parameter_constraints": [text]}})
        except ValidationError:
            return False
        return True

    for text in AX_TAKES + AX_REFUSES + AX_STRICTER:
        expected = text in AX_TAKES
        assert ax_takes(text) == (expected or text in AX_STRICTER), text
        assert hpogrid_takes(text) == expected, text
