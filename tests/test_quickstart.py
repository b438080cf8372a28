"""The README's Quick Start examples 1-4: every config and project command, as written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, PYTHON, REPO, subprocess_env

# Quick Start commands, with ${HPOGRID_BASE_PATH}/example/scripts standing for EXAMPLES.
EXAMPLE_1 = [
    [
        "model_config",
        "create",
        "simple_objective_model",
        "--script",
        "simple_objective.py",
        "--model",
        "simple_objective",
    ],
    [
        "search_space",
        "create",
        "simple_objective_space",
        '{"height":{"method":"uniform","dimension":{"low":-100,"high":100}}, "width":{"method":"uniform","dimension":{"low":0,"high":20}}}',
    ],
    [
        "hpo_config",
        "create",
        "random_search_min_loss",
        "--algorithm",
        "random",
        "--metric",
        "loss",
        "--mode",
        "min",
        "--num_trials",
        "200",
    ],
    ["grid_config", "create", "manc_standard", "--site", "ANALY_MANC_GPU_TEST"],
    [
        "project",
        "create",
        "simple_objective",
        "--scripts_path",
        f"{EXAMPLES}/simple_objective.py",
        "--model_config",
        "simple_objective_model",
        "--search_space",
        "simple_objective_space",
        "--hpo_config",
        "random_search_min_loss",
        "--grid_config",
        "manc_standard",
    ],
]
EXAMPLE_2 = [
    [
        "model_config",
        "create",
        "simple_trainable_model",
        "--script",
        "simple_trainable.py",
        "--model",
        "MyTrainableClass",
    ],
    [
        "search_space",
        "create",
        "simple_trainable_space",
        '{"alpha":{"method":"uniform","dimension":{"low":-10,"high":10}}, "beta": {"method":"categorical","dimension":{"categories":[-1,0,1,2,3,4,5]}}}',
    ],
    [
        "hpo_config",
        "create",
        "bayesian_min_loss",
        "--algorithm",
        "bayesian",
        "--metric",
        "loss",
        "--mode",
        "min",
        "--num_trials",
        "200",
    ],
    ["grid_config", "create", "manc_standard", "--site", "ANALY_MANC_GPU_TEST"],
    [
        "project",
        "create",
        "simple_trainable",
        "--scripts_path",
        f"{EXAMPLES}/simple_trainable.py",
        "--model_config",
        "simple_trainable_model",
        "--search_space",
        "simple_trainable_space",
        "--hpo_config",
        "bayesian_min_loss",
        "--grid_config",
        "manc_standard",
    ],
]
EXAMPLE_3 = [
    ["model_config", "create", "mnist_cnn", "--script", "mnist.py", "--model", "MNISTTrainable"],
    [
        "search_space",
        "create",
        "mnist_cnn_space",
        '{"hidden": {"method": "categorical", "dimension": {"categories": [32, 64, 128]}},"batchsize": {"method": "categorical", "dimension": {"categories": [32, 64, 128, 256, 512]}}, "lr": {"method": "loguniform", "dimension": {"low": 4.5e-05, "high": 1.83e-2}}, "beta": {"method": "uniform", "dimension": {"low": 0.5, "high": 1.0}}}',
    ],
    ["hpo_config", "create", "hyperopt_min_loss", "--algorithm", "hyperopt", "--mode", "min", "--num_trials", "200"],
    ["grid_config", "create", "manc_standard", "--site", "ANALY_MANC_GPU_TEST"],
    [
        "project",
        "create",
        "mnist_cnn",
        "--scripts_path",
        f"{EXAMPLES}/mnist.py",
        "--model_config",
        "mnist_cnn",
        "--search_space",
        "mnist_cnn_space",
        "--hpo_config",
        "hyperopt_min_loss",
        "--grid_config",
        "manc_standard",
    ],
]
RNN_SPACE = (
    '{"batch_size": {"method":"categorical", "dimension":{"categories": [128, 256, 512, 1024, 2048, 4096, 8192]}},'
    '"lr": {"method": "loguniform", "dimension": {"low":1e-5,"high":1e-1}},'
    '"lstm_hidden_size": {"method":"categorical", "dimension":{"categories": [32,64,128,256]}},'
    '"dense_size":  {"method":"categorical", "dimension":{"categories": [32,64,128,256]}},'
    '"dense_activation": {"method":"categorical", "dimension":{"categories": ["relu","elu","softmax", "sigmoid", "tanh"]}}}'
)


def example_4(grid_job: int, epochs: int) -> list[list[str]]:
    return [
        [
            "model_config",
            "create",
            "RNN_TRT_model",
            "--script",
            "train.py",
            "--model",
            "RNN_TRT",
            "--param",
            f'{{"grid_job":{grid_job}, "num_epochs":{epochs}, "verbose":0}}',
        ],
        ["search_space", "create", "RNN_TRT_space", RNN_SPACE],
        [
            "hpo_config",
            "create",
            "random_search_max_accuracy",
            "--metric",
            "accuracy",
            "--mode",
            "max",
            "--num_trials",
            "1",
        ],
        ["grid_config", "create", "RNN_TRT_grid", "--inDS", "user.chlcheng:user.chlcheng.RNNTRT.v04.dataset"],
        [
            "project",
            "create",
            "RNN_TRT",
            "--scripts_path",
            f"{EXAMPLES}/RNN_TRT",
            "--model_config",
            "RNN_TRT_model",
            "--search_space",
            "RNN_TRT_space",
            "--hpo_config",
            "random_search_max_accuracy",
            "--grid_config",
            "RNN_TRT_grid",
        ],
    ]


def test_examples_1_to_3_in_one_base_path(hpogrid, base):
    for command in EXAMPLE_1 + EXAMPLE_2 + EXAMPLE_3:
        hpogrid(*command)
    listed = json.loads(hpogrid("project", "list", "--json").stdout)
    assert [p["name"] for p in listed] == ["mnist_cnn", "simple_objective", "simple_trainable"]
    mnist = json.loads(hpogrid("project", "show", "mnist_cnn", "--json").stdout)
    hpo = mnist["configs"]["hpo_config"]
    assert (hpo["algorithm"], hpo["metric"], hpo["mode"], hpo["num_trials"]) == ("hyperopt", "loss", "min", 200)
    assert mnist["configs"]["search_space"]["lr"]["dimension"] == {"low": 4.5e-05, "high": 1.83e-2}
    assert (base / "projects" / "mnist_cnn" / "scripts" / "mnist.py").is_file()
    # manc_standard was created by every example: the repeats changed nothing
    grid = json.loads(hpogrid("grid_config", "show", "manc_standard", "--json").stdout)
    assert grid["site"] == ["ANALY_MANC_GPU_TEST"]


@pytest.mark.parametrize("grid_job,epochs", [(1, 100), (0, 1)], ids=["grid", "local"])
def test_example_4(hpogrid, base, grid_job, epochs):
    for command in example_4(grid_job, epochs):
        hpogrid(*command)
    project = json.loads(hpogrid("project", "show", "RNN_TRT", "--json").stdout)
    assert project["configs"]["model_config"]["param"] == {"grid_job": grid_job, "num_epochs": epochs, "verbose": 0}
    assert project["configs"]["grid_config"]["inDS"] == "user.chlcheng:user.chlcheng.RNNTRT.v04.dataset"
    assert project["configs"]["hpo_config"]["algorithm"] == "random"  # the README's default
    assert (base / "projects" / "RNN_TRT" / "scripts" / "train.py").is_file()


def test_example_4_local_after_grid_variant_needs_recreate(hpogrid):
    for command in example_4(1, 100):
        hpogrid(*command)
    local = example_4(0, 1)[0]
    result = hpogrid(*local, ok=False)
    assert result.exit_code == 2
    assert "exists with other settings" in result.stderr and "recreate" in result.stderr
    hpogrid("model_config", "recreate", *local[2:])
    hpogrid("project", "recreate", *example_4(0, 1)[-1][2:])
    shown = json.loads(hpogrid("project", "show", "RNN_TRT", "--json").stdout)
    assert shown["configs"]["model_config"]["param"]["grid_job"] == 0


def test_readme_management_examples(hpogrid):
    """The examples of the README's "Managing Configuration Files" section."""
    hpogrid(
        "hpo_config",
        "create",
        "my_example_config",
        "--algorithm",
        "random",
        "--metric",
        "loss",
        "--mode",
        "min",
        "--num_trials",
        "100",
    )
    hpogrid("hpo_config", "update", "my_example_config", "--algorithm", "bayesian")
    hpo = json.loads(hpogrid("hpo_config", "show", "my_example_config", "--json").stdout)
    assert (hpo["algorithm"], hpo["num_trials"], hpo["metric"]) == ("bayesian", 100, "loss")
    hpogrid(
        "grid_config", "create", "my_example_config", "--site", "ANALY_MANC_GPU_TEST", "--inDS", "user.me.mydataset01"
    )
    hpogrid("grid_config", "update", "my_example_config", "--container", "docker://example.org/hpogrid:2.0.0")
    hpogrid(
        "grid_config", "recreate", "my_example_config", "--site", "ANALY_BNL_GPU_ARC", "--inDS", "user.me.mydataset02"
    )
    grid = json.loads(hpogrid("grid_config", "show", "my_example_config", "--json").stdout)
    assert grid["site"] == ["ANALY_BNL_GPU_ARC"] and grid["container"].startswith("/cvmfs/")  # recreate reset it
    hpogrid(
        "model_config",
        "create",
        "my_example_config",
        "--script",
        "train.py",
        "--model",
        "advanced_rnn",
        "--param",
        '{"input_path": "mypath/signl_point/", "epochs": 100}',
    )
    hpogrid("model_config", "update", "my_example_config", "--model", "revised_rnn")
    model = json.loads(hpogrid("model_config", "show", "my_example_config", "--json").stdout)
    assert model == {
        "script": "train.py",
        "model": "revised_rnn",
        "param": {"input_path": "mypath/signl_point/", "epochs": 100},
        "param_mapping": {},  # the optional field's default
    }
    hpogrid(
        "search_space",
        "create",
        "my_search_space",
        '{ "lr":{"method":"loguniform","dimension":{"low":1e-5,"high":1e-2, "base":10}},'
        '"batchsize":{"method":"categorical","dimension":{"categories":[32,64,128,256,512,1024]}},'
        '"num_layers":{"method":"uniformint","dimension":{"low":3,"high":10}},'
        '"momentum":{"method":"uniform","dimension":{"low":0.5,"high":1.0}} }',
    )
    hpogrid(
        "search_space", "update", "my_search_space", '{"new_hp":{"method":"lognormal","dimension":{"mu":1,"sigma":1}}}'
    )
    space = json.loads(hpogrid("search_space", "show", "my_search_space", "--json").stdout)
    assert list(space) == ["lr", "batchsize", "num_layers", "momentum", "new_hp"]
    for kind in ("hpo_config", "grid_config", "model_config", "search_space"):
        assert "my_" in hpogrid(kind, "list").stdout


def test_real_subprocesses(base, tmp_path):
    """The installed console script and `python -m hpogrid` behave like the in-process CLI."""
    env = subprocess_env(base)
    script = str(Path(PYTHON).parent / "hpogrid")
    for command in EXAMPLE_1:
        done = subprocess.run([script, *command], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([PYTHON, "-m", "hpogrid", "project", "list"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "simple_objective" in done.stdout
    bad = subprocess.run(
        [script, "hpo_config", "create", "x", "--num_trials", "-5"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == "Error: hpo_config.num_trials: got -5, expected a whole number >= 1"
    version = subprocess.run([script, "--version"], env=env, capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("hpogrid 2.")


def test_run_example_script(base, tmp_path):
    """The README's first command sets up and runs Quick Start example 1 locally, end to end."""
    env = subprocess_env(base)
    env["PATH"] = f"{Path(PYTHON).parent}:{env['PATH']}"
    done = subprocess.run(["bash", str(REPO / "run_example.sh")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "finished: 200 of 200 trials" in done.stdout and 'these):\n{"height"' in done.stdout
    project = json.loads((base / "projects" / "simple_objective" / "project.json").read_text())
    assert project["configs"]["hpo_config"]["num_trials"] == 200
    summary = json.loads(next((base / "projects" / "simple_objective" / "runs").glob("*/summary.json")).read_text())
    assert summary["status"] == "finished" and summary["counts"]["terminated"] == 200
    # loss = (height - 14)**2 - abs(width - 3): 200 random points get close to height 14
    assert abs(summary["best"]["config"]["height"] - 14) < 10
    # and the report: the best ten printed, and the page of all 200 beside the project
    page = base / "projects" / "simple_objective" / "hpo_result.html"
    assert f"Wrote {page}" in done.stdout and page.is_file() and "more trials" not in done.stdout
    assert "<p>200 trials (200 terminated)" in page.read_text()
    assert f"source {REPO}/setupenv.sh examples,report" in done.stdout.splitlines()[-2]


def test_run_example_script_ends_saying_how_to_use_hpogrid_in_a_new_shell(tmp_path):
    """Its last lines (run alone here: the whole script is the test above) name setupenv.sh, with the
    extras it installed, by a path that works from any folder."""
    script = (REPO / "run_example.sh").read_text()
    ending = script[script.index("{ set +x; } 2>/dev/null") :]
    env = {"PATH": os.environ["PATH"], "HPOGRID_BASE_PATH": str(tmp_path)}
    done = subprocess.run(["bash", "-c", ending], env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[-3:-1] == [
        "To use hpogrid in a new shell, first run:",
        f"    source {REPO}/setupenv.sh examples,report",
    ]
    assert "source setupenv.sh examples,report" in script  # the extras the script installs
    assert f"HPOGRID_BASE_PATH={tmp_path}" in lines[-4]
