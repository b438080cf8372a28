"""hpogrid from Python (issue 14): optimize, run_project, load_results and Results, on real Ray runs.
The objectives are defined in this module, as a notebook defines them: they reach the trials' processes
pickled by value."""

from __future__ import annotations

import json
import math
import os

import pytest
from ray import tune

import hpogrid
from hpogrid.errors import HpogridError, ValidationError
from tests.conftest import run_cli


def cli(*args: str) -> str:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


SHORT_SPACE = {
    "x": {"type": "uniform", "low": -2.0, "high": 2.0},
    "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    "layers": {"type": "randint", "low": 1, "high": 4},  # 1, 2 or 3: Ray Tune's high is excluded
    "optimizer": {"kind": {"type": "choice", "values": ["adam", "sgd"]}},  # nested: config["optimizer"]["kind"]
}
OFFSET = 0.25  # a module global the objective uses: pickled with it


def quadratic(config):
    """A notebook-style objective: a function of the config, reporting with hpogrid.report."""
    penalty = 0.0 if config["optimizer"]["kind"] == "adam" else 0.5
    loss = (config["x"] - OFFSET) ** 2 + math.log10(config["lr"]) ** 2 / 100 + 0.01 * config["layers"] + penalty
    hpogrid.report(loss=loss, accuracy=1.0 / (1.0 + loss))


class Steps(tune.Trainable):
    """A Trainable class defined here: several iterations, its loss falling with the steps."""

    def setup(self, config):
        self.x, self.steps = config["x"], 0

    def step(self):
        self.steps += 1
        return {"loss": (self.x - OFFSET) ** 2 + 1.0 / self.steps, "worker": os.getpid()}


def test_optimize_a_function_defined_here_with_the_short_form_space(ray_session, base):
    """A 30-trial search at max_concurrent 2 over int, log, categorical and nested hyperparameters: Results
    holds every trial, best first, the same as `hpogrid report` finds in the project optimize made."""
    results = hpogrid.optimize(
        quadratic, SHORT_SPACE, num_trials=30, max_concurrent=2, algorithm="optuna", seed=7,
        extra_metrics=["accuracy"], model_param={"epochs": 3}, quiet=True,
    )  # fmt: skip
    assert results.status == "finished" and len(results) == 30
    values = [r.value for r in results.records]
    assert values == sorted(values) and results.best_value == min(values)
    best = results.best_config
    assert -2 <= best["x"] <= 2 and 1e-4 <= best["lr"] <= 1e-1 and best["layers"] in (1, 2, 3)
    assert best["optimizer"]["kind"] in ("adam", "sgd") and "epochs" not in best
    assert {r.config["layers"] for r in results.records} <= {1, 2, 3}
    assert results.best_trial.trial_id == results.records[0].trial_id

    top = results.top(5)
    assert list(top["loss"]) == values[:5] and "optimizer.kind" in top.columns and "accuracy" in top.columns
    assert len(results.to_dataframe()) == 30
    analysis = results.analyze()
    assert analysis["best"]["value"] == results.best_value and analysis["trials"] == 30
    assert {item["parameter"] for item in analysis["importance"]} == {"x", "lr", "layers", "optimizer.kind"}
    assert results.best_model_config() == {"epochs": 3, **best}
    assert results.best_model_config({"model": {"depth": 8}}) == {"model": {"depth": 8}, **best}

    # the project optimize made is an ordinary project: the CLI reports the same trials
    shown = run_cli("report", "quadratic", "--json")
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.stdout)
    assert [row["loss"] for row in rows] == values
    project = json.loads((base / "projects/quadratic/project.json").read_text())
    assert project["configs"]["search_space"]["layers"] == {"method": "uniformint", "dimension": {"low": 1, "high": 3}}


def test_results_plots_and_report_files(ray_session, tmp_path):
    """plot.<name>() gives a plotly figure for every plot of the HTML report; save_report writes its files."""
    import plotly.graph_objects as go

    space = {
        "x": {"type": "uniform", "low": -2.0, "high": 2.0},
        "lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
    }
    results = hpogrid.optimize(
        Steps,
        space,
        name="steps",
        num_trials=8,
        max_concurrent=2,
        stop={"training_iteration": 3},
        scheduler="fifo",
        seed=1,
        quiet=True,
    )
    assert len(results) == 8 and all(r.iterations == 3 for r in results.records)
    for name in results.plot.names():
        figure = getattr(results.plot, name)()
        assert isinstance(figure, go.Figure) and figure.data, name
    assert results.plot.optimization_history().to_dict()["data"] == results.plot.history().to_dict()["data"]
    history = results.plot.history()
    assert sorted(min(t.y) for t in history.data if t.y is not None)[0] == pytest.approx(results.best_value)
    with pytest.raises(AttributeError, match="no plot named 'histroy' \\(did you mean 'history'\\?\\)"):
        results.plot.histroy()

    written = results.save_report(tmp_path / "report")
    assert sorted(p.name for p in written) == ["steps.csv", "steps.html", "steps.json", "steps_summary.json"]
    summary = json.loads((tmp_path / "report/steps_summary.json").read_text())
    assert summary["best"]["value"] == results.best_value
    assert "<Results: 8 trials" in repr(results) and "<table" in results._repr_html_()


def test_a_trainable_class_reuses_its_process_at_max_concurrent_1(ray_session):
    """A class defined in a test module, pickled by value, run with one trial at a time (one actor)."""
    results = hpogrid.optimize(
        Steps, {"x": {"type": "uniform", "low": 0, "high": 1}}, name="steps1", num_trials=5, max_concurrent=1,
        stop={"training_iteration": 2}, scheduler="fifo", seed=3, quiet=True,
    )  # fmt: skip
    assert len(results) == 5 and {r.status for r in results.records} == {"terminated"}
    assert len({r.last_result["worker"] for r in results.records}) == 1  # one process ran them all


def test_run_project_and_load_results_see_the_same_trials(ray_session, tmp_path):
    """optimize again with other settings: the project is updated, its earlier run kept; run_project runs it
    as local_run; load_results reads the project (every run), a run folder and a results file alike."""
    space = {"x": {"type": "uniform", "low": -2.0, "high": 2.0}}

    def bowl(config):
        hpogrid.report(loss=(config["x"] - OFFSET) ** 2)

    first = hpogrid.optimize(bowl, space, num_trials=4, max_concurrent=2, seed=1, quiet=True)
    second = hpogrid.optimize(bowl, space, num_trials=3, max_concurrent=1, seed=2, quiet=True)
    third = hpogrid.run_project("bowl", quiet=True)
    assert (len(first), len(second), len(third)) == (4, 3, 3)
    assert first.run_dir != second.run_dir != third.run_dir

    everything = hpogrid.load_results("bowl")
    assert len(everything) == 10 and everything.best_value == min(r.best_value for r in (first, second, third))
    one_run = hpogrid.load_results(second.run_dir)
    assert [r.trial_id for r in one_run.records] == [r.trial_id for r in second.records]
    assert one_run.status == "finished" and one_run.best_config == second.best_config
    from_file = hpogrid.load_results(second.run_dir / "summary.json")
    assert from_file.best_value == second.best_value
    with pytest.raises(HpogridError, match="no project, run folder or results file named 'bwol' \\(did you mean"):
        hpogrid.load_results("bwol")


def test_an_objective_named_in_a_script(ray_session, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import hpogrid\n\ndef train(config):\n    hpogrid.report(loss=abs(config['x']))\n")
    results = hpogrid.optimize(
        f"{script}:train", {"x": {"type": "uniform", "low": -1, "high": 1}}, num_trials=3, seed=1, quiet=True
    )
    assert results.trials.project == "train" and len(results) == 3
    assert results.best_value == min(abs(r.config["x"]) for r in results.records)


@pytest.mark.parametrize(
    "call,message",
    [
        (dict(num_trial=5), "hpo_config.num_trial: unknown field (did you mean 'num_trials'?)"),
        (dict(max_concurrent=0), "hpo_config.max_concurrent"),
        (dict(resources={"cpu": 1}, resource={"cpu": 1}), "optimize: resources and resource are the same setting"),
        (dict(space={"x": {"type": "unifrom", "low": 0, "high": 1}}), "search_space.x.type: unknown type 'unifrom'"),
        (dict(space={"x": {"type": "choice", "value": [1]}}), "search_space.x.value: is not a key of type 'choice'"),
        (dict(space={"x": {"type": "randint", "low": 0, "high": 2.5}}), "search_space.x.high: must be an integer"),
        (dict(objective="train.py"), "objective: 'train.py' is not SCRIPT.py:NAME"),
        (dict(objective=42), "objective: got int"),
    ],
)
def test_bad_arguments_are_refused_before_anything_runs(base, call, message):
    arguments = {"objective": quadratic, "space": SHORT_SPACE, **call}
    with pytest.raises(HpogridError) as caught:
        hpogrid.optimize(arguments.pop("objective"), arguments.pop("space"), quiet=True, **arguments)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (base / "projects").exists() or not any((base / "projects").iterdir())


def test_short_form_types_translate_with_ray_tunes_meaning():
    from hpogrid.space.model import SearchSpace
    from hpogrid.space.shortform import expand

    space = expand(
        {
            "a": {"type": "quniform", "low": 0, "high": 10, "q": 2},
            "b": {"type": "grid_search", "values": [1, 2]},
            "c": {"type": "normal", "mean": 0, "sd": 1},
            "d": {"method": "uniform", "dimension": {"low": 0, "high": 1}},  # hpogrid's own form, kept
            "e": {"type": "fixed", "value": {"deep": [1]}},
            "f": {"type": {"type": "choice", "values": ["x"]}},  # a hyperparameter named "type", nested
        }
    )
    assert space["a"] == {"method": "quniform", "dimension": {"low": 0, "high": 10, "q": 2}}
    assert space["b"] == {"method": "categorical", "dimension": {"categories": [1, 2], "grid_search": 1}}
    assert space["c"] == {"method": "normal", "dimension": {"mu": 0, "sigma": 1}}
    assert space["f"] == {"type": {"method": "categorical", "dimension": {"categories": ["x"]}}}
    assert {d.name for d in SearchSpace.parse(space).searched} == {"a", "b", "c", "d", "f.type"}


def test_parameter_mapping_places_and_refusals():
    from hpogrid.mapping import apply, check

    base = {"optimizer": {"name": "adam", "learning_rate": 0.1}, "model": {"layers": {"hidden": 8}}, "depth": 3}
    mapping = {"lr": "optimizer.learning_rate", "hidden": "model.layers.hidden"}
    assert check(mapping, ["lr", "hidden", "x"], base) == mapping
    assert apply(json.loads(json.dumps(base)), {"lr": 0.01, "hidden": 64, "x": 1}, mapping) == {
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "model": {"layers": {"hidden": 64}},
        "depth": 3,
        "x": 1,
    }
    refused = {
        "param_mapping.lrr: is not a hyperparameter of the search space (did you mean 'lr'?)": {"lrr": "a.b"},
        "param_mapping.lr: target must be a dotted path": {"lr": "a..b"},
        "param_mapping.lr: target 'depth.lr' goes inside 'depth', which is 3": {"lr": "depth.lr"},
        "param_mapping.lr: target 'x.lr' is also where 'x' goes": {"lr": "x.lr"},
        "param_mapping.hidden: target 'lr' is also where 'lr' goes": {"hidden": "lr"},
    }
    for message, bad in refused.items():
        with pytest.raises(ValidationError) as caught:
            check(bad, ["lr", "hidden", "x"], base)
        assert message in str(caught.value)


def test_hpogrid_report_stays_callable_once_the_report_package_is_imported(monkeypatch):
    """Importing hpogrid.report (the package) makes it the attribute hpogrid.report; trials still call it
    (cloudpickle imports it where a notebook objective that calls hpogrid.report runs)."""
    import importlib
    import pickle

    import hpogrid.report.collect  # noqa: F401
    from hpogrid.local import trainable

    assert callable(hpogrid.report) and hpogrid.report is importlib.import_module("hpogrid.report")
    sent = []
    monkeypatch.setattr(trainable, "report", lambda metrics, checkpoint=None, **more: sent.append((metrics, more)))
    hpogrid.report(loss=1.5)
    assert sent == [(None, {"loss": 1.5})]
    assert pickle.loads(pickle.dumps(hpogrid.report)) is hpogrid.report


class Nested(tune.Trainable):
    """A class that reads its usual three-level config."""

    def setup(self, config):
        self.lr = config["training"]["optimizer"]["learning_rate"]
        self.width = config["model"]["layers"]["hidden"]["width"]
        self.seen = config

    def step(self):
        return {"loss": abs(math.log10(self.lr) + 2) + self.width / 100, "seen": json.dumps(self.seen, sort_keys=True)}


def test_parameter_mapping_gives_the_objective_its_nested_config(ray_session):
    """param_mapping puts the flat hyperparameters into a three-level model config (merged with the fixed
    parameters); the records, the report and best_config keep the search space's names;
    best_model_config merges the best values through the same mapping."""
    base = {"training": {"optimizer": {"name": "adam", "learning_rate": 0.1}, "epochs": 2}, "model": {"depth": 3}}
    mapping = {"lr": "training.optimizer.learning_rate", "width": "model.layers.hidden.width"}
    space = {"lr": {"type": "loguniform", "low": 1e-4, "high": 1e-1}, "width": {"type": "choice", "values": [8, 64]}}
    results = hpogrid.optimize(
        Nested, space, num_trials=6, max_concurrent=2, stop={"training_iteration": 1}, seed=5, model_param=base,
        param_mapping=mapping, quiet=True,
    )  # fmt: skip
    assert len(results) == 6 and {r.status for r in results.records} == {"terminated"}
    for record in results.records:
        seen = json.loads(record.last_result["seen"])
        assert seen == {
            "training": {
                "optimizer": {"name": "adam", "learning_rate": record.config["lr"]},
                "epochs": 2,
            },
            "model": {"depth": 3, "layers": {"hidden": {"width": record.config["width"]}}},
        }
    best = results.best_config
    assert set(best) == {"lr", "width"}
    assert results.best_model_config() == {
        "training": {"optimizer": {"name": "adam", "learning_rate": best["lr"]}, "epochs": 2},
        "model": {"depth": 3, "layers": {"hidden": {"width": best["width"]}}},
    }
    with pytest.raises(ValidationError, match="model_config.param_mapping.lr: target 'model.depth.lr' goes inside"):
        hpogrid.optimize(
            Nested, space, name="bad", model_param=base, param_mapping={"lr": "model.depth.lr"}, quiet=True
        )


def test_parameter_mapping_of_a_function_and_in_a_project_made_by_the_cli(ray_session, tmp_path):
    """model_config.param_mapping is a field of model_config: `hpogrid model_config create --param_mapping`
    and `local_run` give a function objective its nested config."""
    script = tmp_path / "train.py"
    script.write_text(
        "import hpogrid\n\ndef train(config):\n"
        "    hpogrid.report(loss=config['opt']['lr'] + len(config), keys=','.join(sorted(config)))\n"
    )
    cli("model_config", "create", "m", "--script", "train.py", "--model", "train",
                "--param", '{"opt": {"momentum": 0.9}}', "--param_mapping", '{"lr": "opt.lr"}')  # fmt: skip
    cli("hpo_config", "create", "h", "--num_trials", "3", "--max_concurrent", "1", "--extra_metrics", "keys")
    cli("search_space", "create", "s", '{"lr": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}')
    cli("project", "create", "p", "--scripts_path", str(script), "--hpo_config", "h", "--model_config", "m",
                "--search_space", "s")  # fmt: skip
    cli("local_run", "p", "-q")
    results = hpogrid.load_results("p", grid=False)
    assert len(results) == 3
    for record in results.records:
        assert record.extra["keys"] == "opt" and record.value == pytest.approx(record.config["lr"] + 1)


INTERRUPTED = """
import json, sys, time
import hpogrid

def slow(config):
    time.sleep(1.0)
    hpogrid.report(loss=config["x"])

space = {"x": {"type": "uniform", "low": 0, "high": 1}}
results = hpogrid.optimize(slow, space, num_trials=12, max_concurrent=1, seed=1)
print(json.dumps({"status": results.status, "trials": len(results)}), flush=True)
again = hpogrid.optimize(slow, space, resume=True, quiet=True)
print(json.dumps({"status": again.status, "trials": len(again), "same": again.run_dir == results.run_dir}))
"""


def test_ctrl_c_returns_the_trials_so_far_and_resume_continues(tmp_path, base):
    """A notebook's interrupt (SIGINT) ends the run: optimize returns its trials, status 'interrupted', and
    says how to continue; optimize(..., resume=True) runs the rest in the same run folder."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import subprocess_env

    script = tmp_path / "notebook.py"
    script.write_text(INTERRUPTED)
    process = subprocess.Popen(
        [sys.executable, str(script)], env=subprocess_env(base), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        journal = None
        while time.time() < deadline and process.poll() is None:
            found = list((base / "projects/slow/runs").glob("*/trials.jsonl")) if (base / "projects").exists() else []
            journal = found[0] if found else None
            if journal and len(journal.read_text().splitlines()) >= 3:
                break
            time.sleep(0.2)
        assert journal is not None, "no trial finished in time"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(lines) == 2, (out, err[-2000:])
    assert lines[0]["status"] == "interrupted" and 3 <= lines[0]["trials"] < 12
    assert "continue it with resume=True" in err
    assert lines[1] == {"status": "finished", "trials": 12, "same": True}


def test_presets_from_the_cli_with_options_overriding_them(base):
    from hpogrid.presets import PRESETS

    listed = cli("hpo_config", "presets")
    assert all(name in listed for name in PRESETS) and "extensive: long training runs" in listed
    assert json.loads(cli("hpo_config", "presets", "--json"))["standard"]["hpo_config"]["algorithm"] == "optuna"
    for name, (_, fields) in PRESETS.items():
        cli("hpo_config", "create", name, "--preset", name)
        saved = json.loads(cli("hpo_config", "show", name, "--json"))
        assert {k: saved[k] for k in fields} == fields
    cli("hpo_config", "recreate", "mine", "--preset", "standard", "--num_trials", "20", "--metric", "accuracy")
    saved = json.loads(cli("hpo_config", "show", "mine", "--json"))
    assert (saved["algorithm"], saved["num_trials"], saved["metric"], saved["max_concurrent"]) == (
        "optuna", 20, "accuracy", 4,
    )  # fmt: skip
    wrong = run_cli("hpo_config", "create", "x", "--preset", "standart")
    assert wrong.exit_code == 2 and "no preset named 'standart' (did you mean 'standard'?)" in wrong.stderr
    assert "Traceback" not in wrong.output and not (base / "config/hpo_config/x.json").exists()
    assert "--preset" not in run_cli("hpo_config", "update", "--help").stdout  # update keeps what is saved


def test_optimize_with_a_preset_and_an_override(ray_session):
    results = hpogrid.optimize(
        quadratic, SHORT_SPACE, name="preset", preset="quick_test", num_trials=3, seed=2, quiet=True
    )
    assert len(results) == 3 and {r.status for r in results.records} == {"terminated"}
    saved = hpogrid.load_results("preset", grid=False)
    assert len(saved) == 3
    from hpogrid.project import ProjectStore

    hpo = ProjectStore().load("preset").hpo_config
    assert (hpo["algorithm"], hpo["scheduler"], hpo["num_trials"], hpo["max_concurrent"]) == ("random", "fifo", 3, 2)


SPACE_YAML = """
# the learning rate on a log scale
lr: {method: loguniform, dimension: {low: 1e-5, high: 1e-2}}
optimizer:
  kind:
    method: categorical
    dimension: {categories: [adam, sgd]}
"""


def test_yaml_wherever_a_config_file_is_taken(base, tmp_path):
    """Search spaces, configs and search points in YAML (1e-5 a number, dates text), stored as JSON."""
    (tmp_path / "space.yaml").write_text(SPACE_YAML)
    cli("search_space", "create", "s", str(tmp_path / "space.yaml"))
    saved = json.loads((base / "config/search_space/s.json").read_text())
    assert saved["lr"]["dimension"] == {"low": 1e-5, "high": 1e-2}
    assert saved["optimizer"]["kind"]["dimension"]["categories"] == ["adam", "sgd"]

    (tmp_path / "hpo.yml").write_text(
        "algorithm: random\nnum_trials: 4\nmax_concurrent: 1\nstop: {training_iteration: 1}\n"
    )
    (tmp_path / "model.yaml").write_text("script: train.py\nmodel: train\nparam: {run: 2024-01-01}\n")
    (tmp_path / "train.py").write_text("import hpogrid\ndef train(config):\n    hpogrid.report(loss=config['lr'])\n")
    cli("project", "create", "p", "--scripts_path", str(tmp_path / "train.py"), "--hpo_config",
        str(tmp_path / "hpo.yml"), "--model_config", str(tmp_path / "model.yaml"), "--search_space", "s")  # fmt: skip
    project = json.loads((base / "projects/p/project.json").read_text())
    assert project["configs"]["hpo_config"]["num_trials"] == 4
    assert project["configs"]["model_config"]["param"] == {"run": "2024-01-01"}

    (tmp_path / "bad.yaml").write_text("lr: {method: uniform, dimension: {low: 0, high: [1,}}\n")
    bad = run_cli("search_space", "create", "b", str(tmp_path / "bad.yaml"))
    assert bad.exit_code == 2 and "is not valid YAML" in bad.stderr and "line 1" in bad.stderr
    assert "Traceback" not in bad.output and not (base / "config/search_space/b.json").exists()

    from hpogrid.api import search_space

    assert search_space(tmp_path / "space.yaml") == saved  # optimize(space="space.yaml") too


def _cli_project(tmp_path, name: str = "sweep") -> None:
    """A project made by the CLI: a function reporting a loss that depends on x and model_config.param."""
    script = tmp_path / "train.py"
    script.write_text(
        "import hpogrid\n\ndef train(config):\n"
        "    hpogrid.report(loss=(config['x'] - 0.3) ** 2 + config['shift'], epochs=config['run']['epochs'])\n"
    )
    cli("hpo_config", "create", "h", "--num_trials", "4", "--max_concurrent", "2", "--seed", "1",
        "--scheduler", "fifo", "--extra_metrics", "epochs")  # fmt: skip
    cli("model_config", "create", "m", "--script", "train.py", "--model", "train",
        "--param", '{"shift": 0, "run": {"epochs": 1}}')  # fmt: skip
    cli("search_space", "create", "s", '{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}')
    cli("project", "create", name, "--scripts_path", str(script), "--hpo_config", "h", "--model_config", "m",
        "--search_space", "s")  # fmt: skip


def test_overrides_change_one_run_and_leave_the_project_as_it_was(ray_session, base, tmp_path):
    """`local_run P hpo_config.num_trials=3 model_config.param.run.epochs=5`: that run has 3 trials of 5
    epochs, its summary lists the overrides; project.json is byte for byte what it was."""
    _cli_project(tmp_path)
    before = (base / "projects/sweep/project.json").read_bytes()
    out = cli("local_run", "sweep", "hpo_config.num_trials=3", "model_config.param.run.epochs=5", "-q")
    assert "3 of 3 trials" in out
    assert (base / "projects/sweep/project.json").read_bytes() == before
    results = hpogrid.load_results("sweep", grid=False)
    assert len(results) == 3 and {r.extra["epochs"] for r in results.records} == {5}
    (run,) = (base / "projects/sweep/runs").iterdir()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["overrides"] == ["hpo_config.num_trials=3", "model_config.param.run.epochs=5"]

    again = hpogrid.run_project("sweep", overrides=["hpo_config.num_trials=2"], quiet=True)
    assert len(again) == 2 and {r.extra["epochs"] for r in again.records} == {1}

    for words, message in [
        (["hpo_config.num_trails=3"], "hpo_config.num_trails: unknown field (did you mean 'num_trials'?)"),
        (["hpo_config.num_trials=many"], "hpo_config.num_trials"),
        (["model_config.param.shift.deep=1"], "model_config.param.shift: is 0, not an object"),
        (["hpo_conifg.num_trials=3"], "hpo_conifg.num_trials=3"),
        (["search_space.x.dimension.low=2"], "search_space"),
    ]:
        wrong = run_cli("local_run", "sweep", *words, "-q")
        assert wrong.exit_code == 2 and message in wrong.stderr, (words, wrong.output)
        assert "Traceback" not in wrong.output
    assert len(list((base / "projects/sweep/runs").iterdir())) == 2  # no run was started for them


def test_a_3_way_multirun_compared_in_report(ray_session, base, tmp_path):
    """--multirun with a comma list: one run per value, each its own run of the project; `report --runs`
    puts them side by side with their settings; multirun() from Python does the same."""
    _cli_project(tmp_path)
    out = cli("local_run", "sweep", "--multirun", "hpo_config.algorithm=random,optuna,hyperopt",
              "model_config.param.shift=0", "-q")  # fmt: skip
    assert out.count("finished: 4 of 4 trials") == 3 and "Run 3 of 3: hpo_config.algorithm=hyperopt" in out
    runs = sorted((base / "projects/sweep/runs").iterdir())
    summaries = [json.loads((run / "summary.json").read_text()) for run in runs]
    assert [s["algorithm"] for s in summaries] == ["random", "optuna", "hyperopt"]

    shown = cli("report", "sweep", "--runs")
    lines = [line for line in shown.splitlines() if line.startswith("local ")]
    assert len(lines) == 3
    for summary in summaries:
        (line,) = [line for line in lines if summary["run_id"] in line]
        assert f"hpo_config.algorithm={summary['algorithm']}" in line and "finished" in line
    order = [next(i for i, line in enumerate(lines) if s["run_id"] in line) for s in summaries]
    by_best = sorted(range(3), key=lambda i: summaries[i]["best"]["value"])
    assert [order[i] for i in by_best] == [0, 1, 2]  # best run first

    results = hpogrid.multirun("sweep", ["hpo_config.num_trials=2", "model_config.param.shift=1,2"], quiet=True)
    assert [len(r) for r in results] == [2, 2]
    assert [round(min(r.records[0].value - (r.records[0].config["x"] - 0.3) ** 2, 6), 6) for r in results] == [1, 2]
    assert [r.summary["overrides"][1] for r in results] == ["model_config.param.shift=1", "model_config.param.shift=2"]


def test_override_parsing():
    from hpogrid.overrides import combinations, split_values

    assert split_values('1,[2,3],{"a": 1, "b": 2},"x,y"') == ["1", "[2,3]", '{"a": 1, "b": 2}', '"x,y"']
    runs = combinations(["hpo_config.algorithm=random,optuna", "hpo_config.seed=1,2"], multirun=True)
    assert [" ".join(map(str, run)) for run in runs] == [
        "hpo_config.algorithm=random hpo_config.seed=1",
        "hpo_config.algorithm=random hpo_config.seed=2",
        "hpo_config.algorithm=optuna hpo_config.seed=1",
        "hpo_config.algorithm=optuna hpo_config.seed=2",
    ]
    (single,) = combinations(["hpo_config.extra_metrics=acc,loss"], multirun=False)  # a comma is the value's
    assert str(single[0]) == "hpo_config.extra_metrics=acc,loss"


def test_a_project_made_by_optimize_runs_on_the_grid_and_loads_back(tmp_path, panda, base):
    """The pickled objective travels in the sandbox like any script: `hpogrid run` of a project optimize made
    runs its trials in grid jobs (the local PanDA server, tests/panda_server.py), and load_results(project)
    gives the grid task's trials beside the local run's, for a notebook."""
    import re

    space = {"x": {"type": "uniform", "low": 0.0, "high": 1.0}, "k": {"type": "choice", "values": [1, 2]}}
    local = hpogrid.optimize(quadratic_grid, space, num_trials=2, max_concurrent=1, seed=1, quiet=True)
    submitted = run_cli("run", "quadratic_grid", "--n_jobs", "2")
    assert submitted.exit_code == 0, submitted.output
    task_id = int(re.search(r"Submitted task (\d+)", submitted.stdout).group(1))
    task = panda.state.wait(task_id)
    assert task.status == "done", (task.error, [(j.seq, j.status) for j in task.jobs])

    everything = hpogrid.load_results("quadratic_grid")
    kinds = [r.source.get("kind", "local") for r in everything.records]
    assert kinds.count("local") == 2 and len(everything) > 2, everything.warnings
    on_grid = [r for r in everything.records if r.source.get("task") == task_id]
    assert on_grid and all(r.value == pytest.approx((r.config["x"] - OFFSET) ** 2 * r.config["k"]) for r in on_grid)
    assert everything.best_value == min(r.value for r in everything.records)
    assert local.best_value >= everything.best_value


def quadratic_grid(config):
    hpogrid.report(loss=(config["x"] - OFFSET) ** 2 * config["k"])


def test_resume_applies_the_overrides_of_the_run_it_continues(base, tmp_path):
    """--resume continues the last unfinished run with the settings it ran with: its summary's overrides."""
    from hpogrid.local.runner import RAY_DIR, runs_dir
    from hpogrid.overrides import for_resume
    from hpogrid.project import ProjectStore

    _cli_project(tmp_path)
    project = ProjectStore().load("sweep")
    run = runs_dir(project) / "20261203-120000-000"
    (run / RAY_DIR).mkdir(parents=True)
    summary = {"status": "interrupted", "overrides": ["hpo_config.num_trials=7", "model_config.param.run.epochs=3"]}
    (run / "summary.json").write_text(json.dumps(summary))
    resumed = for_resume(project)
    assert resumed.hpo_config["num_trials"] == 7 and resumed.model_config["param"]["run"] == {"epochs": 3}
    assert resumed.data["overrides"] == summary["overrides"] and project.hpo_config["num_trials"] == 4
    wrong = run_cli("local_run", "sweep", "--resume", "hpo_config.num_trials=3")
    assert wrong.exit_code == 2 and "--resume runs with the overrides of the run it continues" in wrong.stderr
