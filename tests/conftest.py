"""Shared fixtures: a private HPOGRID_BASE_PATH per test, and running the real CLI."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpogrid.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example" / "scripts"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist's workers get a terminal's COLUMNS=80 and LINES=24 though they have none: the tests of
    # output to a log or pipe expect what a user's log gets (160 columns, hpogrid.local.console)
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(autouse=True)
def base(tmp_path, monkeypatch) -> Path:
    """A fresh, private HPOGRID_BASE_PATH for every test: nothing ever writes to the checkout."""
    root = tmp_path / "hpogrid-base"
    root.mkdir()
    monkeypatch.setenv("HPOGRID_BASE_PATH", str(root))
    monkeypatch.chdir(tmp_path)
    return root


def run_cli(*args: str) -> Result:
    """Run `hpogrid ARGS` in-process through click's CliRunner, via the real entry point."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture
def hpogrid(base):
    """Callable running the CLI in the private base path; asserts success unless told not to."""

    def invoke(*args: str, ok: bool = True) -> Result:
        result = run_cli(*args)
        if ok:
            assert result.exit_code == 0, f"hpogrid {' '.join(map(str, args))} failed:\n{result.output}"
        return result

    return invoke


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (lock files aside) with a digest of its content."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != ".lock":
            files[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.is_dir() and not any(path.iterdir()):
            files[str(path.relative_to(root)) + "/"] = "empty dir"
    return files


def subprocess_env(base: Path) -> dict[str, str]:
    """The environment of a real `python -m hpogrid` under test: the base path given, and the hpogrid these
    tests import (a worktree's, not whichever is installed) first on the path; no other PYTHONPATH."""
    import hpogrid

    env = dict(os.environ, HPOGRID_BASE_PATH=str(base))
    env["PYTHONPATH"] = str(Path(hpogrid.__file__).resolve().parents[1])
    return env


PYTHON = sys.executable


def hpogrid_process(*args: str, env: dict[str, str], cwd: Path, timeout: float = 240):
    """Run `python -m hpogrid ARGS` as a real process; returns the CompletedProcess (text output)."""
    import subprocess

    return subprocess.run(
        [PYTHON, "-m", "hpogrid", *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def ray_session():
    """One Ray instance for every test that runs trials (each start costs seconds and ~400 MB).
    Started here, shut down here: never `ray stop`, which would end other Ray instances."""
    from hpogrid.local.runner import RAY_ENV

    os.environ.update(RAY_ENV)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _runs_release_their_resources(request):
    """After every test that ran trials in the shared Ray session: no actor may still hold CPUs
    (a leaked actor would starve later runs, and on an attached cluster other users).
    Only what the test itself holds counts, so a leak fails the test that made it and no other."""
    if "ray_session" not in request.fixturenames:
        yield
        return
    import ray

    free_before = ray.available_resources().get("CPU", 0) if ray.is_initialized() else None
    yield
    import time

    if free_before is None:
        free_before = ray.cluster_resources().get("CPU", 0)
    deadline = time.time() + 20  # Ray releases a killed actor's resources asynchronously
    while ray.available_resources().get("CPU", 0) < free_before:
        if time.time() > deadline:
            pytest.fail(f"the run left CPUs held: {ray.available_resources()} free, {free_before} before it")
        time.sleep(0.2)


@pytest.fixture
def panda(tmp_path, monkeypatch):
    """A local PanDA-compatible server (tests/panda_server.py) with the real panda-client pointed at it."""
    pytest.importorskip("pandaclient")
    from tests.panda_server import PandaServer

    server = PandaServer(tmp_path / "panda-server", slots=2)
    for key, value in server.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PANDA_CONFIG_ROOT", str(tmp_path / "panda-config"))
    monkeypatch.setenv("HPOGRID_GRID_RETRY_DELAY", "0.05")
    for key in ("X509_USER_PROXY", "RUCIO_ACCOUNT", "PANDA_NICKNAME"):
        monkeypatch.delenv(key, raising=False)
    server.state.job_env = {"HPOGRID_NUM_CPUS": "1"}
    yield server
    server.stop()
