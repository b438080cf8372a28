"""hpogrid 1.3.3's command lines keep working: each 1.3.3 form is run beside today's form, against the local
PanDA server (tests/panda_server.py) or on a real tiny project, and both must do the same: the same task
parameters reach the server, the same requests, the same output."""

from __future__ import annotations

import json
import re

import click
import pytest

from hpogrid.cli import cli
from tests.conftest import run_cli
from tests.test_grid import grid_project, submitted_id
from tests.test_local_run import OBJECTIVE, make_project

USER = "Jdoe"  # the name claim of the panda fixture's token


def parsed(*args: str) -> dict:
    """What click makes of `hpogrid ARGS`: the subcommand's parameters (nothing runs)."""
    ctx = cli.make_context("hpogrid", list(args[:1]))
    command, rest = cli, list(args)
    while isinstance(command, click.Group):
        name, rest = rest[0], rest[1:]
        command = command.get_command(ctx, name)
    with command.make_context(name, rest, parent=ctx) as sub:
        return dict(sub.params)


@pytest.mark.parametrize(
    "legacy,today",
    [
        (
            "tasks show -u asmith -l 5 -d 7 -n user.* -r 10-20 -i 15 -m -s done,running -c jeditaskid,status",
            "tasks show --username asmith --limit 5 --days 7 --taskname user.* --range 10-20 --jeditaskid 15 "
            "--metadata --status done,running --outcol jeditaskid,status",
        ),
        (
            "report p -l 5 -d 7 -n user.* -r 10-20 -e site,taskid -o out --min 1 --max 2",
            "report p --limit 5 --days 7 --taskname user.* --range 10-20 --extra site,taskid --outname out "
            "--min 1 --max 2",
        ),
        (
            "generate -s space.json -n 3 -m 10 -l hyperopt -i in.json -o out.json",
            "generate --space space.json --n_points 3 --max_points 10 --algorithm hyperopt --in in.json --out out.json",
        ),
        (
            "sites -n ANALY_* --all_sites --all_status -t analysis -i state",
            "sites --name ANALY_* --all --any-status --type analysis --info state",
        ),
        ("run p -m local -p points.json", "run p --mode local --search_points points.json"),
        (
            "submit p -n 2 -s S -t 60 -m idds -p x.json -d",
            "submit p --n_jobs 2 --site S --time 60 --mode idds --search_points x.json --debug",
        ),
    ],
)
def test_short_options_mean_their_long_forms(tmp_path, legacy, today):
    for name in ("space.json", "in.json", "points.json", "x.json"):
        (tmp_path / name).write_text("{}")
    assert parsed(*legacy.split()) == parsed(*today.split())


def normalized(task) -> dict:
    """A task's parameters without what differs between any two submissions: its name (the outDS, new every
    time) wherever it appears, and the command line that submitted it."""
    params = dict(task.params)
    name = params.pop("taskName").rstrip("/")
    params.pop("cliParams", None)
    return json.loads(json.dumps(params).replace(name, "<outDS>"))


def _submitted(*args: str) -> tuple[int, str]:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return submitted_id(result.stdout.replace("iDDS HPO task", "task")), result.stderr


def test_submit_and_run_mode_grid_submit_what_run_submits(tmp_path, panda):
    grid_project(tmp_path, num_trials=6, seed=7)
    panda.state.hold_registration = True  # nothing runs: only what reached the server counts
    today, _ = _submitted("run", "g", "--n_jobs", "2", "--site", "ANALY_TEST_GPU", "--memory", "3000", "--time", "2")
    legacy, notes = _submitted("submit", "g", "-n", "2", "-s", "ANALY_TEST_GPU", "--memory", "3000", "-t", "5400")
    assert normalized(panda.state.tasks[legacy]) == normalized(panda.state.tasks[today])
    assert panda.state.tasks[legacy].params["maxWalltime"] == 2
    lines = notes.strip().splitlines()
    assert any(line.startswith("Note: --time 5400 of hpogrid 1.3.3 was prun's --maxCpuCount") for line in lines)
    assert any(line.startswith("Note: --n_jobs 2 is one task of 2 jobs") for line in lines)

    plain, _ = _submitted("run", "g")
    by_mode, notes = _submitted("run", "g", "--mode", "grid")
    assert normalized(panda.state.tasks[by_mode]) == normalized(panda.state.tasks[plain])
    assert notes.startswith("Note: `run --mode grid` of hpogrid 1.3.3 ran the search inside a grid job")
    # the project named by its folder in the project store, as 1.3.3's INPUT could be a path
    from hpogrid.project import ProjectStore

    by_path, _ = _submitted("submit", str(ProjectStore().path("g")))
    assert normalized(panda.state.tasks[by_path]) == normalized(panda.state.tasks[plain])

    refused = run_cli("submit", "g", "-p", str(tmp_path / "points.json"))
    assert refused.exit_code == 2 and "grid jobs do not take search points" in refused.stderr
    config = tmp_path / "old_project.json"
    config.write_text("{}")
    refused = run_cli("run", str(config), "--mode", "grid")
    assert refused.exit_code == 2 and "hpogrid 1.3.3 also ran a project configuration file" in refused.stderr


def test_submit_and_run_mode_idds_submit_what_submit_idds_submits(tmp_path, panda):
    grid_project(tmp_path, num_trials=4, seed=7)
    panda.state.hold_registration = True
    today, _ = _submitted("submit_idds", "g", "--site", "ANALY_TEST_GPU")
    legacy, _ = _submitted("submit", "g", "--mode", "idds", "-s", "ANALY_TEST_GPU")
    by_run, notes = _submitted("run", "g", "-m", "idds", "--site", "ANALY_TEST_GPU")
    assert normalized(panda.state.tasks[legacy]) == normalized(panda.state.tasks[today])
    assert normalized(panda.state.tasks[by_run]) == normalized(panda.state.tasks[today])
    assert "Note: `run --mode idds` of hpogrid 1.3.3 was an iDDS evaluation job" in notes
    refused = run_cli("submit", "g", "--mode", "idds", "-n", "3")
    assert refused.exit_code == 2 and "submitted N separate iDDS tasks" in refused.stderr
    refused = run_cli("run", "g", "-m", "idds", "--n_jobs", "2")
    assert refused.exit_code == 2 and "is not an option of --mode idds" in refused.stderr


def test_run_mode_local_is_local_run(ray_session, tmp_path):
    make_project(tmp_path, "loc", OBJECTIVE, "objective", {"num_trials": 3, "seed": 9})
    points = tmp_path / "points.json"
    first = {"x": 0.3, "n": 1, "c": "a", "opt": {"lr": 0.001}, "fixed_v": 7}
    points.write_text(json.dumps([first]))

    def trials(*args: str) -> tuple[list, str]:
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        run_dir = result.stdout.split("Results: ")[1].split()[0]
        from hpogrid.results import Journal

        return [(r.config, r.value) for r in Journal(run_dir).records()], result.stdout

    today, out_today = trials("local_run", "loc", "-q", "--search_points", str(points))
    legacy, out_legacy = trials("run", "loc", "--mode", "local", "-p", str(points))
    assert sorted(map(json.dumps, legacy)) == sorted(map(json.dumps, today)) and first in [c for c, _ in legacy]
    assert "3 of 3 trials" in out_legacy
    refused = run_cli("run", "loc", "-m", "local", "--site", "X")
    assert refused.exit_code == 2 and "--site is not an option of --mode local" in refused.stderr


def _tasks(panda, statuses: dict[int, str]) -> None:
    from tests.panda_server import Task

    with panda.state.lock:
        for task_id, status in statuses.items():
            panda.state.tasks[task_id] = Task(task_id, {"taskName": f"user.jdoe.hpogrid.k.{task_id}/"}, USER, status)


def test_tasks_show_legacy_options(panda, tmp_path):
    _tasks(panda, {t: ("done" if t % 2 else "running") for t in range(301, 311)})

    def shown(*args: str) -> tuple[str, list[str]]:
        panda.state.requests.clear()
        result = run_cli("tasks", "show", *args)
        assert result.exit_code == 0, result.output
        return result.stdout, list(panda.state.requests)

    today = shown("--limit", "3", "--days", "5", "--taskname", "user.*.k.*", "--range", "302-309", "--status", "done")
    legacy = shown("-l", "3", "-d", "5", "-n", "user.*.k.*", "-r", "302-309", "-s", "done", "--sync")
    assert legacy == today and "309" in today[0] and "301" not in today[0]
    assert shown("-i", "304", "-m") == shown("--jeditaskid", "304", "--metadata")
    # 1.3.3's open ranges: FIRST- and -LAST
    assert shown("-r", "305-") == shown("--range", "305-310")
    assert shown("-r", "-303") == shown("--range", "0-303")

    run_cli("tasks", "show", "--output", str(tmp_path / "today.json"), "-c", "jeditaskid,status")
    run_cli("tasks", "show", "-o", str(tmp_path / "legacy.json"), "-c", "jeditaskid,status")
    run_cli("tasks", "show", "--outname", str(tmp_path / "no_suffix"), "-c", "jeditaskid,status")
    saved = json.loads((tmp_path / "today.json").read_text())
    assert len(saved) == 10 and json.loads((tmp_path / "legacy.json").read_text()) == saved
    assert json.loads((tmp_path / "no_suffix").read_text()) == saved  # 1.3.3 wrote JSON whatever the name
    run_cli("tasks", "show", "-o", str(tmp_path / "legacy.csv"))
    run_cli("tasks", "show", "--output", str(tmp_path / "today.csv"))
    assert (tmp_path / "legacy.csv").read_text() == (tmp_path / "today.csv").read_text()


def test_kill_and_retry_is_kill_then_retry(panda):
    _tasks(panda, {401: "running", 402: "running"})
    panda.state.requests.clear()
    legacy = run_cli("tasks", "kill_and_retry", "401")
    legacy_requests = list(panda.state.requests)
    panda.state.requests.clear()
    killed, retried = run_cli("tasks", "kill", "402"), run_cli("tasks", "retry", "402")
    today_requests = list(panda.state.requests)
    # the same commands reach the server, in the same order, with a look at the task's state between them
    assert legacy_requests == [today_requests[0], "task/get_detailed_info", *today_requests[1:]]
    assert legacy.exit_code == retried.exit_code
    assert legacy.stdout.replace("401", "402") == killed.stdout + retried.stdout
    assert legacy.stderr.replace("401", "402") == retried.stderr
    assert panda.state.tasks[401].status == panda.state.tasks[402].status


def test_sites_legacy_options(panda):
    panda.state.queues["ANALY_BNL_GPU_ARC"].update({"state": "ACTIVE", "corepower": 12.5})

    def rows(*args: str) -> list[dict]:
        result = run_cli("sites", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    assert rows("-n", "analy_*", "--all_sites", "--all_status") == rows("--name", "analy_*", "--all", "--any-status")
    assert rows("--gpu_sites", "--active") == rows()
    assert [r["name"] for r in rows("--all", "-t", "analysis,production")] == [
        "ANALY_BNL_GPU_ARC",
        "ANALY_MANC_GPU_TEST",
        "BNL_PROD",
    ]
    (bnl,) = rows("-n", "*BNL_GPU*", "-i", "state,corepower,maxtime")
    assert bnl["state"] == "ACTIVE" and bnl["corepower"] == 12.5 and bnl["maxtime"] == 172800
    table = run_cli("sites", "--info", "corepower").stdout
    assert "COREPOWER" in table.splitlines()[0] and "12.5" in table


def test_report_grid_is_report_of_the_grid_trials(tmp_path, panda):
    grid_project(tmp_path, num_trials=2)
    task_id, _ = _submitted("run", "g")
    assert panda.state.wait(task_id).status == "done"
    today = run_cli("report", "g", "--source", "grid", "--limit", "5", "--extra", "taskid", "--json")
    legacy = run_cli("report_grid", "g", "-l", "5", "-e", "taskid", "--json")
    assert today.exit_code == legacy.exit_code == 0, legacy.output
    assert legacy.stdout == today.stdout and str(task_id) in today.stdout


SPACE_1D = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}


@pytest.mark.parametrize("algorithm", ["random", "nevergrad"])
def test_generate_metric_mode_method(tmp_path, algorithm):
    """1.3.3's --metric (results as objects) and --mode max give the points today's form gives for the
    same results as losses to minimize; --method is nevergrad's optimizer (algorithm_param optimizer)."""
    pytest.importorskip("ray")
    if algorithm == "nevergrad":
        pytest.importorskip("nevergrad")
    evaluated = [({"x": 0.1}, 0.5), ({"x": 0.7}, 0.9), ({"x": 0.4}, None)]
    legacy_in, today_in = tmp_path / "legacy.json", tmp_path / "today.json"
    legacy_in.write_text(
        json.dumps({"points": [[p, None if v is None else {"acc": v}] for p, v in evaluated], "opt_space": SPACE_1D})
    )
    today_in.write_text(
        json.dumps({"points": [[p, None if v is None else -v] for p, v in evaluated], "opt_space": SPACE_1D})
    )
    extra = ["--method", "OnePlusOne"] if algorithm == "nevergrad" else []
    param = ["--param", '{"optimizer": "OnePlusOne"}'] if algorithm == "nevergrad" else []
    legacy = run_cli(
        "generate", "-i", legacy_in, "-n", "2", "-l", algorithm, "--metric", "acc", "--mode", "max", *extra
    )
    today = run_cli("generate", "--in", today_in, "-n", "2", "-m", "9999", "--algorithm", algorithm, *param)
    assert legacy.exit_code == today.exit_code == 0, legacy.output + today.output
    assert json.loads(legacy.stdout) == json.loads(today.stdout) and len(json.loads(today.stdout)) == 2

    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE_1D))
    out = tmp_path / "out.json"
    fresh = run_cli("generate", "-s", space, "-n", "3", "-o", out)  # 1.3.3: no input yet, the space alone
    assert fresh.exit_code == 0, fresh.output
    assert len(json.loads(out.read_text())) == 3
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"x": {"method": "uniform", "dimension": {"low": 2, "high": 3}}}))
    both = run_cli("generate", "-i", today_in, "-s", other, "-n", "1")
    assert both.exit_code == 0 and 2 <= json.loads(both.stdout)[0]["x"] <= 3  # today's: --space wins
    assert "Note: --space is used, not the input's opt_space (hpogrid 1.3.3 used the input's" in both.stderr
    wrong = run_cli("generate", "-s", space, "-n", "1", "--method", "OnePlusOne")
    assert wrong.exit_code == 2 and re.search("--method names a nevergrad optimizer", wrong.stderr)
