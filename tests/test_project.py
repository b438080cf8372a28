"""Projects: create, recreate (with backup), update, list/show/where/remove, script checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpogrid.errors import ValidationError
from hpogrid.project import ProjectStore
from hpogrid.scriptcheck import find_model
from tests.conftest import EXAMPLES

SPACE = '{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}'


@pytest.fixture
def configs(hpogrid):
    hpogrid("hpo_config", "create", "h", "--num_trials", "10")
    hpogrid("hpo_config", "create", "h2", "--algorithm", "hyperopt", "--num_trials", "20")
    hpogrid("model_config", "create", "m", "--script", "train.py", "--model", "train")
    hpogrid("search_space", "create", "s", SPACE)
    hpogrid("grid_config", "create", "g", "--site", "ANALY_X_GPU")


@pytest.fixture
def scripts(tmp_path) -> Path:
    folder = tmp_path / "code"
    (folder / "helpers").mkdir(parents=True)
    (folder / "train.py").write_text(
        "from helpers.util import f\n\ndef train(config, reporter):\n    reporter(loss=f(config['x']))\n"
    )
    (folder / "helpers" / "util.py").write_text("def f(x):\n    return x * x\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("secret-ish")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    return folder


def create_args(name="p", scripts_path=None, **refs):
    refs = {"hpo_config": "h", "model_config": "m", "search_space": "s", "grid_config": "g", **refs}
    args = ["project", "create", name, "--scripts_path", str(scripts_path)]
    for kind, ref in refs.items():
        if ref is not None:
            args += [f"--{kind}", ref]
    return args


def test_create_copies_scripts_and_embeds_configs(hpogrid, configs, scripts, base):
    hpogrid(*create_args(scripts_path=scripts))
    folder = base / "projects" / "p"
    copied = sorted(str(p.relative_to(folder / "scripts")) for p in (folder / "scripts").rglob("*") if p.is_file())
    assert copied == ["helpers/util.py", "train.py"]  # no .git, no caches
    data = json.loads((folder / "project.json").read_text())
    assert data["sources"] == {"hpo_config": "h", "grid_config": "g", "model_config": "m", "search_space": "s"}
    # later edits of a saved config do not change the project
    hpogrid("hpo_config", "update", "h", "--num_trials", "99")
    assert json.loads(hpogrid("project", "show", "p", "--json").stdout)["configs"]["hpo_config"]["num_trials"] == 10
    assert hpogrid("project", "where", "p").stdout.strip() == str(folder)


def test_configs_by_file_path_and_default_grid(hpogrid, configs, scripts, base, tmp_path):
    hpo_file = tmp_path / "my_hpo.json"
    hpo_file.write_text(json.dumps({"algorithm": "optuna", "num_trials": 4}))
    hpogrid(*create_args(scripts_path=scripts, hpo_config=str(hpo_file), grid_config=None))
    data = json.loads(hpogrid("project", "show", "p", "--json").stdout)
    assert data["configs"]["hpo_config"]["algorithm"] == "optuna"
    assert data["sources"]["hpo_config"] == str(hpo_file) and data["sources"]["grid_config"] == "defaults"
    assert data["configs"]["grid_config"]["site"]  # the documented default sites


def test_create_twice_identical_is_a_no_op(hpogrid, configs, scripts):
    hpogrid(*create_args(scripts_path=scripts))
    assert "nothing changed" in hpogrid(*create_args(scripts_path=scripts)).stdout
    (scripts / "train.py").write_text((scripts / "train.py").read_text() + "\n# edited\n")
    result = hpogrid(*create_args(scripts_path=scripts), ok=False)
    assert result.exit_code == 2 and "exists with other settings" in result.stderr


def test_recreate_keeps_a_backup_that_is_not_listed(hpogrid, configs, scripts, base):
    hpogrid(*create_args(scripts_path=scripts))
    (base / "projects" / "p" / "runs").mkdir()
    (base / "projects" / "p" / "runs" / "result.json").write_text("{}")
    args = create_args(scripts_path=scripts, hpo_config="h2")
    args[1] = "recreate"
    out = hpogrid(*args).stdout
    assert "previous version is kept at" in out
    backups = list((base / "projects" / ".backups").iterdir())
    assert len(backups) == 1 and (backups[0] / "runs" / "result.json").is_file()
    assert [p["name"] for p in json.loads(hpogrid("project", "list", "--json").stdout)] == ["p"]
    assert (
        json.loads(hpogrid("project", "show", "p", "--json").stdout)["configs"]["hpo_config"]["algorithm"] == "hyperopt"
    )


def test_update_swaps_one_config_and_keeps_results(hpogrid, configs, scripts, base):
    hpogrid(*create_args(scripts_path=scripts))
    runs = base / "projects" / "p" / "runs"
    runs.mkdir()
    (runs / "trials.jsonl").write_text('{"trial": 1}\n')
    created = json.loads(hpogrid("project", "show", "p", "--json").stdout)["created"]
    hpogrid("project", "update", "p", "--hpo_config", "h2")
    data = json.loads(hpogrid("project", "show", "p", "--json").stdout)
    assert data["configs"]["hpo_config"]["algorithm"] == "hyperopt"
    assert data["sources"]["hpo_config"] == "h2" and data["sources"]["model_config"] == "m"
    assert data["created"] == created
    assert (runs / "trials.jsonl").read_text() == '{"trial": 1}\n'
    # an update that breaks consistency is refused and changes nothing
    hpogrid("model_config", "create", "m_bad", "--script", "train.py", "--model", "missing")
    result = hpogrid("project", "update", "p", "--model_config", "m_bad", ok=False)
    assert result.exit_code == 2 and "'missing' is not defined" in result.stderr
    assert json.loads(hpogrid("project", "show", "p", "--json").stdout)["sources"]["model_config"] == "m"
    assert (runs / "trials.jsonl").is_file()


def test_update_needs_something_to_change(hpogrid, configs, scripts):
    hpogrid(*create_args(scripts_path=scripts))
    result = hpogrid("project", "update", "p", ok=False)
    assert result.exit_code == 2 and "nothing to update" in result.stderr


def test_list_show_remove(hpogrid, configs, scripts, base):
    for name in ("alpha", "beta", "gamma"):
        hpogrid(*create_args(name=name, scripts_path=scripts))
    table = hpogrid("project", "list").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "MODEL", "ALGORITHM"] and len(table) == 5
    assert [p["name"] for p in json.loads(hpogrid("project", "list", "b*", "--json").stdout)] == ["beta"]
    shown = hpogrid("project", "show", "alpha").stdout
    assert "search_space (from s)" in shown and "uniform" in shown
    assert hpogrid("project", "remove", "a*", "beta").stdout.count("Removed") == 2
    assert [p.name for p in (base / "projects").iterdir() if not p.name.startswith(".")] == ["gamma"]
    assert "No projects" in hpogrid("project", "list", "zzz").stdout


def test_failed_create_leaves_nothing(hpogrid, configs, scripts, base):
    hpogrid("model_config", "create", "m_bad", "--script", "nothere.py", "--model", "f")
    result = hpogrid(*create_args(scripts_path=scripts, model_config="m_bad"), ok=False)
    assert result.exit_code == 2
    assert not (base / "projects").exists()


@pytest.mark.parametrize(
    "source,name,kind",
    [
        ("def f(config, reporter):\n    pass\n", "f", "function"),
        ("class T:\n    pass\n", "T", "class"),
        ("from somewhere import model\n", "model", "other"),
        ("import numpy as model\n", "model", "other"),
        ("model = make()\n", "model", "other"),
        (
            "try:\n    import x\nexcept ImportError:\n    pass\nelse:\n    pass\nif True:\n    def g(c):\n        pass\n",
            "g",
            "function",
        ),
    ],
)
def test_find_model_parses_without_importing(tmp_path, source, name, kind):
    script = tmp_path / "s.py"
    script.write_text("raise SystemExit('must not be imported')\n" + source)
    assert find_model(script, name).kind == kind


def test_find_model_reports_syntax_errors_with_line(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("def f(:\n")
    with pytest.raises(ValidationError, match="line 1: syntax error"):
        find_model(script, "f")


def test_examples_define_their_models():
    for script, model, kind in [
        ("simple_objective.py", "simple_objective", "function"),
        ("simple_trainable.py", "MyTrainableClass", "class"),
        ("mnist.py", "MNISTTrainable", "class"),
        ("RNN_TRT/train.py", "RNN_TRT", "function"),
    ]:
        assert find_model(EXAMPLES / script, model).kind == kind


def test_store_api_without_cli(base, configs, scripts):
    store = ProjectStore()
    assert store.create("q", {"hpo_config": "h", "model_config": "m", "search_space": "s"}, scripts) == "created"
    project = store.load("q")
    assert project.hpo_config["num_trials"] == 10 and project.scripts_dir.is_dir()
    assert store.names() == ["q"]
