"""Every command has --help with an example; config commands import no heavy library."""

from __future__ import annotations

import json
import subprocess

import click
import pytest

from hpogrid.cli import cli
from tests.conftest import EXAMPLES, PYTHON, run_cli, subprocess_env

HEAVY = [
    "ray",
    "pandas",
    "plotly",
    "mlflow",
    "pandaclient",
    "optuna",
    "hyperopt",
    "skopt",
    "nevergrad",
    "bayes_opt",
    "ConfigSpace",
    "hpbandster",
    "ax",
    "torch",
    "sklearn",
    "numpy",
    "scipy",
]


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


COMMANDS = list(all_commands())


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help(path, command):
    result = run_cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: hpogrid {' '.join(path)}")
    if not isinstance(command, click.Group):
        assert "Example" in result.stdout and f"hpogrid {' '.join(path)}" in result.stdout


def test_every_config_type_has_every_action():
    actions = {"create", "recreate", "update", "remove", "list", "show", "where"}
    for kind in ("hpo_config", "grid_config", "model_config", "search_space", "project"):
        assert {p[1] for p, _ in COMMANDS if p[0] == kind and len(p) == 2} == actions


def test_top_level_help_and_version():
    result = run_cli("--help")
    assert result.exit_code == 0 and "hpo_config" in result.stdout and "project" in result.stdout
    result = run_cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("hpogrid 2.")


def test_usage_errors_exit_2_without_traceback(base):
    for args in (["hpo_config", "create"], ["no_such_command"], ["hpo_config", "create", "x", "--bogus", "1"]):
        result = run_cli(*args)
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_config_project_and_grid_help_commands_import_no_heavy_library(base, tmp_path):
    space = '{"x": {"method": "normal", "dimension": {"mu": 0, "sigma": 1}}}'
    calls = [
        ["hpo_config", "create", "h", "--algorithm", "hyperopt"],
        ["hpo_config", "list"],
        ["hpo_config", "show", "h"],
        ["search_space", "create", "s", space],
        ["model_config", "create", "m", "--script", "simple_objective.py", "--model", "simple_objective"],
        [
            "project",
            "create",
            "p",
            "--scripts_path",
            str(EXAMPLES / "simple_objective.py"),
            "--hpo_config",
            "h",
            "--model_config",
            "m",
            "--search_space",
            "s",
        ],
        ["project", "show", "p"],
        ["project", "list", "--json"],
        ["--help"],
        ["run", "--help"],
        ["tasks", "show", "--help"],
        ["report", "--help"],
        ["run", "p", "--n_jobs", "2", "--dry-run"],  # builds the whole task without pandaclient
    ]
    code = (
        "import sys, json\n"
        "from hpogrid.cli import main\n"
        f"codes = [main(args) for args in {calls!r}]\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(json.dumps({'codes': codes, 'heavy': heavy}), file=sys.stderr)\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=subprocess_env(base), capture_output=True, text=True, cwd=tmp_path)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["codes"] == [0] * len(calls), done.stderr
    assert report["heavy"] == []


def test_readme_documents_every_config_field_and_method():
    from hpogrid.configs.store import CONFIG_TYPES
    from hpogrid.space.model import METHODS
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    for config_type in CONFIG_TYPES.values():
        for field in config_type.schema.fields if config_type.schema else ():
            assert f"| `{field.name}" in readme, f"README lacks {config_type.kind}.{field.name}"
    for method in METHODS:
        assert f"| `{method}` |" in readme


# the library class behind each algorithm and scheduler that takes parameters
LIBRARY_CLASSES = {
    "bayesian": "ray.tune.search.bayesopt:BayesOptSearch",
    "hyperopt": "ray.tune.search.hyperopt:HyperOptSearch",
    "skopt": "skopt:Optimizer",
    "bohb": "ray.tune.search.bohb:TuneBOHB",
    "ax": "ray.tune.search.ax:AxSearch",
    "optuna": "ray.tune.search.optuna:OptunaSearch",
    "nevergrad": "ray.tune.search.nevergrad:NevergradSearch",
    "asynchyperband": "ray.tune.schedulers:AsyncHyperBandScheduler",
    "hyperband": "ray.tune.schedulers:HyperBandScheduler",
    "bohbhyperband": "ray.tune.schedulers:HyperBandForBOHB",
    "median": "ray.tune.schedulers:MedianStoppingRule",
    "pbt": "ray.tune.schedulers:PopulationBasedTraining",
    "pb2": "ray.tune.schedulers.pb2:PB2",
}


def library_signature(name: str):
    """The constructor signature of the library class behind an algorithm or scheduler."""
    import importlib
    import inspect

    module, _, attribute = LIBRARY_CLASSES[name].partition(":")
    return inspect.signature(getattr(importlib.import_module(module), attribute))


@pytest.mark.parametrize("kind", ["algorithm", "scheduler"])
def test_param_keys_are_accepted_by_the_libraries(kind):
    """Every key hpogrid lets through algorithm_param/scheduler_param is a real constructor argument."""
    from hpogrid.catalog import ALGORITHMS, SCHEDULERS

    # hpogrid's own names, mapped onto the library's arguments by hpogrid.local
    translated = {("optuna", "sampler_param"), ("nevergrad", "optimizer_param")}

    for name, spec in (ALGORITHMS if kind == "algorithm" else SCHEDULERS).items():
        if not spec.params:
            continue
        accepted = set(library_signature(name).parameters)
        for key in spec.params:
            if (name, key) not in translated:
                assert key in accepted, f"{kind} {name}: {key} is not an argument of {LIBRARY_CLASSES[name]}"
