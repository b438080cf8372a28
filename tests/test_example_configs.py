"""The example configs checked in under config/ are valid and build the example projects."""

from __future__ import annotations

import shutil

import pytest

from hpogrid.configs.store import ConfigStore
from tests.conftest import EXAMPLES, REPO

PROJECTS = {
    "simple_objective": (
        "simple_objective.py",
        "example_random_min_loss",
        "example_simple_objective",
        "example_simple_objective_space",
    ),
    "simple_trainable": (
        "simple_trainable.py",
        "example_bayesian_min_loss",
        "example_simple_trainable",
        "example_simple_trainable_space",
    ),
    "mnist": ("mnist.py", "example_mnist_asha", "example_mnist", "example_mnist_space"),
    "rnn_trt": ("RNN_TRT", "example_rnn_trt_random", "example_rnn_trt", "example_rnn_trt_space"),
}


@pytest.fixture
def checked_in(base):
    shutil.copytree(REPO / "config", base / "config")
    return base


def test_every_checked_in_config_is_valid(checked_in):
    for kind in ("hpo_config", "grid_config", "model_config", "search_space"):
        names = ConfigStore(kind).names()
        assert names, f"no example {kind}"
        for name in names:
            assert name.startswith("example_")  # never collides with the README's Quick Start names
            ConfigStore(kind).load(name)


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_example_projects_build(checked_in, hpogrid, project):
    scripts, hpo, model, space = PROJECTS[project]
    hpogrid(
        "project",
        "create",
        project,
        "--scripts_path",
        str(EXAMPLES / scripts),
        "--hpo_config",
        hpo,
        "--model_config",
        model,
        "--search_space",
        space,
        "--grid_config",
        "example_gpu",
    )
