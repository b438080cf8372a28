"""Golden tests: hpogrid's task-parameter maps against panda-client's own prun/phpo dry runs.

The client's *Script modules mutate sys.argv, exit and register atexit handlers: they run in a
subprocess here, offline (PANDA_BEHIND_REAL_LB), never in the product.
"""

from __future__ import annotations

import json
import platform
import re
import subprocess
import textwrap

import pytest

from hpogrid.grid.taskparams import INPUT_LIST, TaskSpec, prun_task_params, training_data_parameters
from tests.conftest import PYTHON

pytest.importorskip("pandaclient")

DRY_RUN = textwrap.dedent(
    """
    import json, sys
    from pandaclient import {module}
    params = {module}.main(get_taskparams=True, dry_mode=True, ext_args=json.loads(sys.argv[1]))
    print("TASKPARAMS=" + json.dumps(params, default=str))
    """
)


def client_dry_run(tmp_path, module: str, args: list[str]) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "PANDA_BEHIND_REAL_LB": "1",
        "PANDA_CONFIG_ROOT": str(tmp_path / "cfg"),
        "HOME": str(tmp_path),
    }
    work = tmp_path / "work"  # the client refuses to pack a home directory: run elsewhere
    work.mkdir(exist_ok=True)
    done = subprocess.run(
        [PYTHON, "-c", DRY_RUN.format(module=module), json.dumps(args)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("TASKPARAMS=")]
    assert lines, done.stdout + done.stderr
    return json.loads(lines[-1].removeprefix("TASKPARAMS="))


def differences(ours: dict, theirs: dict) -> dict:
    keys = set(ours) | set(theirs)
    return {
        k: (ours.get(k, "<absent>"), theirs.get(k, "<absent>")) for k in sorted(keys) if ours.get(k) != theirs.get(k)
    }


COMMAND = """PYTHONPATH=hpogrid_pkg${PYTHONPATH:+:$PYTHONPATH} python3 -m hpogrid job_run p --seq %RNDM:0 --n-jobs 3 --seed 7; echo "$(x)" 'y'"""


@pytest.mark.parametrize(
    "spec_args, prun_args",
    [
        (
            {
                "n_jobs": 3,
                "sites": ("ANALY_MANC_GPU_TEST",),
                "architecture": "&nvidia",
                "outputs": ("hpogrid_trials.jsonl",),
            },
            [
                "--nJobs",
                "3",
                "--site",
                "ANALY_MANC_GPU_TEST",
                "--architecture",
                "&nvidia",
                "--outputs",
                "hpogrid_trials.jsonl",
            ],
        ),
        (
            {"n_jobs": 1, "sites": ("ANALY_A", "ANALY_B"), "auto_retry": False, "memory_mb": 4000, "walltime_hours": 5},
            [
                "--nJobs",
                "1",
                "--site",
                "ANALY_A,ANALY_B",
                "--disableAutoRetry",
                "--memory",
                "4000",
                "--maxWalltime",
                "5",
            ],
        ),
        ({"n_jobs": 10, "sites": ()}, ["--nJobs", "10"]),
        (
            {
                "n_jobs": 2,
                "excluded_sites": ("ANALY_X", "ANALY_Y"),
                "cores": 8,
                "max_attempts": 3,
                "priority": 900,
                "no_email": True,
            },
            [
                "--nJobs",
                "2",
                "--excludedSite",
                "ANALY_X,ANALY_Y",
                "--nCore",
                "8",
                "--maxAttempt",
                "3",
                "--priority",
                "900",
                "--noEmail",
            ],
        ),
    ],
    ids=["gpu-site-outputs", "two-sites-no-retry-memory-walltime", "any-site", "more-prun-options"],
)
def test_prun_map_equals_prun_dry_run(tmp_path, spec_args, prun_args):
    out_ds = "user.jdoe.hpogrid.p.20261123"
    base = [
        "--exec",
        COMMAND,
        "--containerImage",
        "docker://registry.example/hpogrid:2.0.0",
        "--outDS",
        out_ds,
        "--forceStaged",
        "--noBuild",
        "--useSandbox",
    ]
    theirs = client_dry_run(tmp_path, "PrunScript", base + prun_args)
    spec = TaskSpec(
        out_ds=out_ds,
        container="docker://registry.example/hpogrid:2.0.0",
        exec_command=COMMAND,
        nickname="jdoe",
        os_info=platform.platform(),
        cli_params="prun",
        archive=None,
        **spec_args,
    )
    ours = prun_task_params(spec)
    # the one difference, by design: cliParams records the submitting command line (prun's own
    # argv there, `hpogrid run ...` here). The sandbox name is None on both sides ("-a None"):
    # dry mode uploads nothing.
    assert theirs.pop("cliParams").startswith("prun") and ours.pop("cliParams") == "prun"
    assert differences(ours, theirs) == {}


def test_input_dataset_goes_whole_to_every_job_as_phpo_does(tmp_path):
    """prun splits an input dataset between jobs; hpogrid jobs each need all of it, which is
    phpo's training-data form. Those entries are held against phpo's own dry run."""
    space = tmp_path / "space.json"
    space.write_text('{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}')
    phpo = client_dry_run(
        tmp_path,
        "PhpoScript",
        [
            "--outDS",
            "user.jdoe.hpo.x",
            "--trainingDS",
            "user.jdoe:user.jdoe.data.v1",
            "--searchSpaceFile",
            str(space),
            "--evaluationContainer",
            "docker://e/e:1",
            "--evaluationExec",
            "run",
            "--steeringContainer",
            "docker://s/s:1",
            "--steeringExec",
            "steer",
            "--evaluationTrainingData",
            INPUT_LIST,
        ],
    )
    wanted = [p for p in phpo["jobParameters"] if "IN_DATA" in str(p.get("value"))]
    assert wanted == training_data_parameters("user.jdoe:user.jdoe.data.v1", INPUT_LIST)

    spec = TaskSpec(
        out_ds="user.jdoe.hpogrid.p.1",
        container="c",
        exec_command="run",
        nickname="jdoe",
        in_ds="user.jdoe:user.jdoe.data.v1",
    )
    params = prun_task_params(spec)
    assert params["noInput"] is True and params["nEvents"] == 1  # jobs are still counted by serial number
    inputs = [p for p in params["jobParameters"] if p.get("param_type") == "input"]
    assert inputs == [training_data_parameters("user.jdoe:user.jdoe.data.v1", "x")[1]]


STEER = 'run --rm -v "$(pwd)":/HPOWeb -w /HPOWeb docker://s/s:1 python3 -m hpogrid generate --in %IN --out %OUT'


@pytest.mark.parametrize(
    "spec_args, phpo_args",
    [
        (
            {
                "max_points": 20,
                "n_parallel": 4,
                "points_per_generation": 4,
                "min_unevaluated_points": 1,
                "sites": ("ANALY_X_GPU",),
                "architecture": "&nvidia",
            },
            [
                "--maxPoints",
                "20",
                "--nParallelEvaluation",
                "4",
                "--nPointsPerIteration",
                "4",
                "--minUnevaluatedPoints",
                "1",
                "--site",
                "ANALY_X_GPU",
                "--architecture",
                "&nvidia",
            ],
        ),
        (
            {"max_points": 7, "sites": ("A", "B"), "in_ds": "user.jdoe:user.jdoe.data.v1", "max_evaluation_jobs": 9},
            [
                "--maxPoints",
                "7",
                "--site",
                "A,B",
                "--trainingDS",
                "user.jdoe:user.jdoe.data.v1",
                "--evaluationTrainingData",
                INPUT_LIST,
                "--maxEvaluationJobs",
                "9",
            ],
        ),
    ],
    ids=["gpu-site", "two-sites-training-data"],
)
def test_hpo_map_equals_phpo_dry_run(tmp_path, spec_args, phpo_args):
    from hpogrid.grid.taskparams import HpoSpec, hpo_task_params

    space = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}
    (tmp_path / "space.json").write_text(json.dumps(space))
    command = 'python3 -m hpogrid evaluate p --seed 3; echo "$(x)"'
    theirs = client_dry_run(
        tmp_path,
        "PhpoScript",
        [
            "--outDS",
            "user.jdoe.hpogrid.p.1",
            "--searchSpaceFile",
            str(tmp_path / "space.json"),
            "--evaluationContainer",
            "docker://e/e:1",
            "--evaluationExec",
            command,
            "--steeringContainer",
            "docker://s/s:1",
            "--steeringExec",
            STEER,
            "--evaluationMeta",
            "userJobMetadata.json",
            *phpo_args,
        ],
    )
    archive = re.search(r"-a (\S+) ", theirs["jobParameters"][1]["value"]).group(1)  # phpo names it even dry
    spec = HpoSpec(
        out_ds="user.jdoe.hpogrid.p.1",
        evaluation_container="docker://e/e:1",
        evaluation_command=command,
        steering_container="docker://s/s:1",
        steering_arguments=STEER,
        search_space=space,
        archive=archive,
        cli_params="phpo",
        **spec_args,
    )
    ours = hpo_task_params(spec)
    # the one difference, by design: cliParams records the submitting command line
    assert theirs.pop("cliParams") and ours.pop("cliParams") == "phpo"
    assert differences(ours, theirs) == {}
