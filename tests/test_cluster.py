"""`local_run --address` (and $HPOGRID_RAY_ADDRESS) attach to a Ray cluster started with `ray start`.

The test starts its own head node (`ray start --head --block`, on 127.0.0.1, private temp dir) and
ends it by PID; the trials report which Ray cluster ran them. It runs twice: with a Ray auth token (the
head then requires token authentication; the token is in a private file named by RAY_AUTH_TOKEN_PATH,
never the user's ~/.ray) and without one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from hpogrid.results import Journal
from tests.conftest import PYTHON, hpogrid_process, subprocess_env
from tests.test_local_run import make_project

WHERE = """
import ray

def train(config, reporter):
    reporter(loss=config["x"], gcs=ray.get_runtime_context().gcs_address)
"""
SPACE = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(params=["token", "no-token"])
def head_node(request, tmp_path):
    """A one-node Ray cluster of this test's own; yields its address, the environment that reaches it
    and the PIDs it started; ends every one of them."""
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="hg-ray-", dir="/tmp")  # short: Ray's socket paths have a limit
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path / "home")  # no ~/.ray/auth_token of the user's decides the mode
    if request.param == "token":
        token = tmp_path / "auth_token"
        token.write_text(secrets.token_hex(32))
        env["RAY_AUTH_TOKEN_PATH"] = str(token)
    ray_cli = str(Path(PYTHON).parent / "ray")
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--num-gpus=0",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp_dir}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: set[int] = set()
    try:
        deadline = time.time() + 90
        while not list(Path(temp_dir).glob("session_*/logs/raylet.out")) or not _accepts(port):
            assert head.poll() is None, "ray start --head failed"
            assert time.time() < deadline, "the Ray head node did not come up"
            time.sleep(0.3)
        started |= {p.pid for p in psutil.Process(head.pid).children(recursive=True)}
        yield f"127.0.0.1:{port}", env, started
    finally:
        started |= _children(head.pid)
        head.send_signal(signal.SIGTERM)  # `ray start --block` ends its node's processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        psutil.wait_procs([p for p in map(_process, started) if p], timeout=30)
        for pid in started:
            try:
                os.kill(pid, signal.SIGKILL)  # only what this fixture's head started
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _process(pid: int):
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def test_local_run_attaches_to_a_running_cluster(tmp_path, base, head_node):
    address, head_env, started = head_node
    project = make_project(tmp_path, "where", WHERE, "train", {"num_trials": 4, "max_concurrent": 2}, space=SPACE)
    # the RAY_AUTH* of this process (Ray sets RAY_AUTH_MODE when it starts here) are not the cluster's
    env = {k: v for k, v in subprocess_env(base).items() if not k.startswith("RAY_AUTH")} | head_env
    env.pop("HPOGRID_RAY_ADDRESS", None)
    if "RAY_AUTH_TOKEN_PATH" in env:  # without the cluster's token: one line, at once, no run folder
        tokenless = {k: v for k, v in env.items() if k != "RAY_AUTH_TOKEN_PATH"}
        for wrong in ({}, {"RAY_AUTH_TOKEN": secrets.token_hex(32)}):
            done = hpogrid_process(
                "local_run", "where", "--address", address, "-q", env={**tokenless, **wrong}, cwd=tmp_path, timeout=60
            )
            assert done.returncode == 2, done.stdout + done.stderr
            assert done.stderr.strip() == (
                f"Error: --address: the Ray cluster at {address} wants its auth token and did not get it (missing or "
                "wrong); put the cluster's token in ~/.ray/auth_token, $RAY_AUTH_TOKEN or $RAY_AUTH_TOKEN_PATH"
            )
            assert not (project.path / "runs").exists()
        # token mode asked for, no token anywhere: Ray would end the process from C++ without a word
        done = hpogrid_process(
            "local_run", "where", "--address", address, "-q", env={**tokenless, "RAY_AUTH_MODE": "token"}, cwd=tmp_path
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.strip() == (
            "Error: --address: RAY_AUTH_MODE=token is set but there is no Ray auth token; put the cluster's token "
            "in ~/.ray/auth_token, $RAY_AUTH_TOKEN or $RAY_AUTH_TOKEN_PATH, or unset RAY_AUTH_MODE for a cluster "
            "without one"
        )
    done = hpogrid_process("local_run", "where", "--address", address, "-q", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = (project.path / "runs").iterdir()
    records = Journal(run_dir).records()
    assert len(records) == 4
    port = address.rpartition(":")[2]  # Ray names the node by its own IP, not 127.0.0.1
    assert {r.last_result["gcs"].rpartition(":")[2] for r in records} == {port}, "trials ran outside the cluster"

    # the same through the environment variable, and the cluster is free again afterwards
    env["HPOGRID_RAY_ADDRESS"] = address
    done = hpogrid_process("local_run", "where", "-q", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    second = max((project.path / "runs").iterdir())
    assert second != run_dir
    assert {r.last_result["gcs"].rpartition(":")[2] for r in Journal(second).records()} == {port}
    probe = subprocess.run(
        [
            PYTHON,
            "-c",
            "import json, ray, sys; from hpogrid.local.runner import start_ray; start_ray(sys.argv[1], True); "
            "print(json.dumps([ray.cluster_resources(), ray.available_resources()]))",
            address,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    total, free = json.loads(probe.stdout.strip().splitlines()[-1])
    assert total["CPU"] == 2 and free.get("CPU") == 2, "a run left resources held on the cluster"


def test_unreachable_address_is_a_clear_error(tmp_path, base):
    project = make_project(tmp_path, "where", WHERE, "train", {"num_trials": 2}, space=SPACE)
    env = subprocess_env(base)
    for args, extra, named in (
        (["--address", f"127.0.0.1:{free_port()}"], {}, "--address"),
        ([], {"HPOGRID_RAY_ADDRESS": f"127.0.0.1:{free_port()}"}, "HPOGRID_RAY_ADDRESS"),
    ):
        done = hpogrid_process("local_run", "where", *args, "-q", env={**env, **extra}, cwd=tmp_path, timeout=120)
        assert done.returncode == 2, done.stdout + done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"Error: {named}: no Ray cluster answers at 127.0.0.1:") and "ray start --head" in line
        assert not (project.path / "runs").exists(), "a failed attach left a run folder"
