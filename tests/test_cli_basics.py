"""Every command has --help with an example; config commands import no heavy library."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import click
import pytest

from hpogrid.cli import cli
from tests.conftest import EXAMPLES, PYTHON, run_cli, subprocess_env

ROOT = Path(__file__).resolve().parents[1]
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
        extra = {"presets"} if kind == "hpo_config" else set()
        assert {p[1] for p, _ in COMMANDS if p[0] == kind and len(p) == 2} == actions | extra


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


def test_top_level_help_lists_the_in_job_commands_apart_and_they_still_run(tmp_path):
    result = run_cli("--help")
    assert result.exit_code == 0
    user, _, in_job = result.stdout.partition("Inside grid jobs (the grid runs these, not you):")
    listed = [line.split()[0] for line in user.partition("Commands:")[2].splitlines() if line.strip()]
    assert listed == [n for n in cli.list_commands(click.Context(cli)) if n not in ("job_run", "generate", "evaluate")]
    assert {"local_run", "run", "report", "project", "tasks"} <= set(listed)
    assert [line.split()[0] for line in in_job.splitlines() if line.strip()] == ["job_run", "generate", "evaluate"]
    assert run_cli("job_run", "--help").exit_code == 0 and run_cli("evaluate", "--help").exit_code == 0
    space = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}
    (tmp_path / "in.json").write_text(json.dumps({"points": [], "opt_space": space}))
    done = run_cli(
        "generate", "--in", str(tmp_path / "in.json"), "--out", str(tmp_path / "out.json"), "-n", "2", "-m", "5"
    )
    assert done.exit_code == 0, done.output
    assert len(json.loads((tmp_path / "out.json").read_text())) == 2


def complete(words: str, base) -> list[str]:
    """What `hpogrid` offers bash for the last of `words` (click's protocol: type,value lines), and that
    completing imported no heavy library."""
    env = dict(subprocess_env(base), PYTHONPATH=str(ROOT), _HPOGRID_COMPLETE="bash_complete", COMP_WORDS=words)
    env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr))\n"
        "from hpogrid.cli import main\nmain()\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "[]", done.stderr
    return done.stdout.splitlines()


def test_completion_offers_project_and_config_names(base, tmp_path):
    from hpogrid.configs.store import ConfigStore

    for kind, names in (("hpo_config", ["my_hpo", "other_hpo"]), ("search_space", ["my_space"])):
        for name in names:
            config = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}} if kind == "search_space" else {}
            assert run_cli(kind, "create", name, *([json.dumps(config)] if config else [])).exit_code == 0
    assert ConfigStore("hpo_config").names() == ["my_hpo", "other_hpo"]
    (tmp_path / "train.py").write_text("def f(config, reporter):\n    reporter(loss=1)\n")
    assert run_cli("model_config", "create", "m", "--script", "train.py", "--model", "f").exit_code == 0
    for name in ("alpha", "beta"):
        made = run_cli(
            "project", "create", name, "--scripts_path", str(tmp_path / "train.py"), "--hpo_config", "my_hpo",
            "--search_space", "my_space", "--model_config", "m",
        )  # fmt: skip
        assert made.exit_code == 0, made.output
    assert complete("hpogrid local_run ", base) == ["plain,alpha", "plain,beta"]
    assert complete("hpogrid run b", base) == ["plain,beta"]
    assert complete("hpogrid project show a", base) == ["plain,alpha"]
    assert complete("hpogrid project remove alpha ", base) == ["plain,alpha", "plain,beta"]
    assert complete("hpogrid report ", base) == ["file,", "plain,alpha", "plain,beta"]  # or a results file
    assert complete("hpogrid hpo_config show ", base) == ["plain,my_hpo", "plain,other_hpo"]
    assert complete("hpogrid hpo_config update o", base) == ["plain,other_hpo"]
    assert complete("hpogrid hpo_config create ", base) in ([], [""])  # a new name: nothing to offer
    assert complete("hpogrid project create x --hpo_config my", base) == ["file,my", "plain,my_hpo"]
    assert complete("hpogrid project update alpha --search_space ", base) == ["file,", "plain,my_space"]
    commands = [line.removeprefix("plain,") for line in complete("hpogrid ", base)]
    assert {"local_run", "run", "report"} <= set(commands) and not {"job_run", "generate", "evaluate"} & set(commands)
