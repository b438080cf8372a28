"""hpo_config: how the search is run (algorithm, scheduler, metric, budget, resources)."""

from __future__ import annotations

from hpogrid.catalog import ALGORITHMS, SCHEDULERS, combination_problem, param_problem, unknown_param
from hpogrid.configs.fields import Field, Schema, is_number, show
from hpogrid.errors import ValidationError, did_you_mean

KIND = "hpo_config"
RESOURCE_KEYS = ("cpu", "gpu")
MAX_TRIAL_TIMEOUT = 366 * 24 * 3600  # a year: more is a typo


def _stop_problem(stop: dict) -> str | None:
    for key, value in stop.items():
        if not key.strip():
            return "criteria names must not be empty"
        if not is_number(value) or isinstance(value, bool):
            return f"criterion '{key}' needs a number, e.g. {{\"training_iteration\": 10}}"
    return None


def _resource_problem(resource: dict) -> str | None:
    for key, value in resource.items():
        if key not in RESOURCE_KEYS:
            return f"unknown resource '{key}'{did_you_mean(key, RESOURCE_KEYS)}; allowed: cpu, gpu"
        if not is_number(value) or value < 0 or (key == "cpu" and value == 0):
            low = "> 0" if key == "cpu" else ">= 0"
            return f"'{key}' needs a number {low} (fractions allowed), got {show(value)}"
    return None


def _metrics_problem(metrics: list) -> str | None:
    if len(set(metrics)) != len(metrics):
        return "lists a metric twice"
    return None


FIELDS = (
    Field("algorithm", "choice", "search algorithm", default="random", choices=tuple(ALGORITHMS)),
    Field("metric", "str", "metric the trials report and the search optimizes", default="loss"),
    Field("mode", "choice", "minimize or maximize the metric", default="min", choices=("min", "max")),
    Field(
        "scheduler",
        "choice",
        "trial scheduler (early stopping, population training)",
        default="asynchyperband",
        choices=tuple(SCHEDULERS),
    ),
    Field("num_trials", "int", "number of trials (search points)", default=100, minimum=1),
    Field("max_concurrent", "int", "trials run at the same time", default=3, minimum=1),
    Field(
        "trial_timeout",
        "number",
        "seconds a trial may run; one running longer is stopped and recorded as failed (default: no limit)",
        nullable=True,
        minimum=0,
        exclusive_minimum=True,
        maximum=MAX_TRIAL_TIMEOUT,
        metavar="SECONDS",
    ),
    Field(
        "log_dir",
        "str",
        "directory for run outputs (default: the project's runs/)",
        nullable=True,
        metavar="PATH",
    ),
    Field(
        "verbose",
        "bool",
        "print Ray Tune's own progress output (hpogrid 1.x's -v LEVEL: 0 is off, more is on)",
        default=False,
    ),
    Field(
        "stop",
        "object",
        "stop criteria of each trial",
        default={"training_iteration": 1},
        check=_stop_problem,
        metavar="JSON",
        example='{"training_iteration": 10}',
    ),
    Field(
        "scheduler_param",
        "object",
        "extra arguments of the scheduler",
        default={},
        metavar="JSON",
        example='{"grace_period": 1, "reduction_factor": 3}',
    ),
    Field(
        "algorithm_param",
        "object",
        "extra arguments of the search algorithm",
        default={},
        metavar="JSON",
        example='{"sampler": "TPESampler"}',
    ),
    Field(
        "extra_metrics",
        "str_list",
        "other reported metrics to record",
        default=[],
        check=_metrics_problem,
        metavar="NAMES",
    ),
    Field(
        "resource",
        "object",
        'resources per trial, e.g. {"cpu": 1, "gpu": 0.5} (default: shared out from the machine by max_concurrent)',
        nullable=True,
        check=_resource_problem,
        metavar="JSON",
        example='{"cpu": 1, "gpu": 0.5}',
    ),
    Field(
        "seed",
        "int",
        "random seed: the same seed repeats the same search",
        nullable=True,
        minimum=0,
        maximum=2**32 - 1,
    ),
)


def _cross_check(config: dict) -> None:
    problem = combination_problem(config["algorithm"], config["scheduler"])
    if problem:
        raise ValidationError(KIND, "scheduler", problem)
    for kind in ("algorithm", "scheduler"):
        problem = unknown_param(kind, config[kind], config[f"{kind}_param"])
        if problem:
            raise ValidationError(KIND, f"{kind}_param", problem)
        bad = param_problem(kind, config[kind], config)
        if bad:
            raise ValidationError(KIND, f"{kind}_param{bad.at}", f"{bad.text}, got {show(bad.value)}")
    if config["metric"] in config["extra_metrics"]:
        raise ValidationError(
            KIND, "extra_metrics", f"lists the optimized metric '{config['metric']}'; it is recorded anyway"
        )


SCHEMA = Schema(
    KIND,
    FIELDS,
    _cross_check,
    summary_columns=("algorithm", "scheduler", "metric", "mode", "num_trials", "max_concurrent"),
)
