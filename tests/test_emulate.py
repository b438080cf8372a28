"""`hpogrid run --emulate`: the jobs of a task run at once, under one progress display, and
`hpogrid report` shows their trials as emulated."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from hpogrid.grid.submit import emulation_slots
from hpogrid.grid.taskprogress import TaskProgress
from hpogrid.project import ProjectStore
from hpogrid.report import collect_project
from hpogrid.report.collect import GridQuery
from tests.conftest import PYTHON, run_cli
from tests.test_local_run import make_project
from tests.test_terminal import under_terminal

ROOT = Path(__file__).resolve().parents[1]
SLOW = """
import time
def f(config, reporter):
    print("trying x", config["x"], flush=True)
    time.sleep(1)
    reporter(loss=(config["x"] - 0.3) ** 2)
"""
SPACE = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def screen_lines(output: str) -> list[str]:
    """Every line the terminal showed, each redraw of an in-place line as a line of its own."""
    return [ANSI.sub("", piece) for piece in re.split(r"[\r\n]", output) if ANSI.sub("", piece).strip()]


DISPLAY = re.compile(r"(\[[#-]{10,30}\] )?\d+/6( done)?( \| .*)?")  # local_run's progress line, jobs for trials
OWN_LINES = (
    DISPLAY,
    re.compile(r"Emulating 2 job\(s\), 2 at a time, 1 CPU\(s\) each, in"),
    re.compile(r"  /\S+/projects/p/runs/emulate-[\d-]+"),  # the task's folder
    re.compile(r"job [12]/2: finished \(exit 0, [\d.]+ s\) in job_[12]"),
    re.compile(r"Emulated 2 job\(s\): 2 finished\. Job folders in"),
    re.compile(r"Their trials are in `hpogrid report p`, marked 'emulated'\."),
    re.compile(r"Best loss: [\d.e-]+ \(job [12], trial \w+\)"),
    re.compile(r"Best config \(JSON, a --search_points file holds a list of these\):"),
    re.compile(r'\{"x": [\d.e-]+\}'),
)


def test_jobs_run_at_once_under_one_display_and_the_report_shows_them(tmp_path, base):
    make_project(tmp_path, "p", SLOW, "f", {"num_trials": 6, "max_concurrent": 1}, space=SPACE)
    env = dict(os.environ, HPOGRID_BASE_PATH=str(base), PYTHONPATH=str(ROOT), HPOGRID_NUM_CPUS="2", TERM="xterm")
    env.pop("COLUMNS", None)
    code, output = under_terminal(["run", "p", "--n_jobs", "2", "--emulate"], env, tmp_path)
    assert code == 0, output
    lines = screen_lines(output)
    assert max(len(line) for line in lines if not line.startswith("  /")) <= 80, output  # a path is never cut
    # hpogrid's own lines only: no job's display, no Ray text
    assert [line for line in lines if not any(p.fullmatch(line) for p in OWN_LINES)] == [], output
    shown = [line for line in lines if DISPLAY.fullmatch(line)]
    assert len(shown) > 3 and "\r" in output  # redrawn in place
    assert re.match(r"(\[#+\] )?6/6( done)? \| jobs 0 run", shown[-1]) and re.search(
        r"\| best( loss)? [\d.e-]+", shown[-1]
    )
    assert any("| jobs 2 run" in line for line in shown)
    # the jobs ran at the same time: each job's run (from its PanDA job metadata) overlaps the other's
    (folder,) = (ProjectStore().load("p").path / "runs").glob("emulate-*")
    meta = [json.loads((folder / f"job_{seq}" / "userJobMetadata.json").read_text()) for seq in (1, 2)]
    starts = [dt.datetime.fromisoformat(m["start"]) for m in meta]
    ends = [dt.datetime.fromisoformat(m["end"]) for m in meta]
    assert max(starts) < min(ends), meta
    assert [m["counts"]["terminated"] for m in meta] == [3, 3]
    # each job's log (the pilot's payload output) has what comes back of it from the grid: plain progress
    # lines, what each trial printed after its id, and at the end Ray's log
    for seq, job in zip((1, 2), meta, strict=True):
        log = (folder / f"job_{seq}" / "payload.stdout").read_text()
        assert "\r" not in log and "\x1b" not in log
        assert re.search(
            r"^3/3 done \| 0 running \| 0 starting \| 0 stopped early \| 0 failed \| best loss ", log, re.M
        )
        for trial in job["trials"]:
            assert f"({trial['trial_id']}) trying x {trial['config']['x']}" in log, log
        (ray_log,) = (folder / f"job_{seq}" / "projects" / "p" / "runs").glob("*/ray.log")
        said = ray_log.read_text().rstrip()  # Ray's words during the run, if any: at the end of the job's log
        assert log.count("---- what Ray said (ray.log of the run) ----\n") == bool(said) and said in log
    # report: the task's six trials, marked as emulated, each with its job
    trials = collect_project(ProjectStore().load("p"), GridQuery())
    assert len(trials.records) == 6
    assert {r.source["kind"] for r in trials.records} == {"emulated"}
    assert sorted(r.source["job"] for r in trials.records) == [1, 1, 1, 2, 2, 2]
    assert {r.source["run"] for r in trials.records} == {folder.name}
    report = run_cli("report", "p", "--extra", "kind")
    assert report.exit_code == 0, report.output
    rows = [line for line in report.stdout.splitlines() if "terminated" in line]
    stamp = folder.name.removeprefix("emulate-")
    assert len(rows) == 6 and all(f"emulated {stamp} job " in row and row.endswith("emulated") for row in rows)
    assert run_cli("report", "p", "--source", "grid").stdout.strip() == "No trials found."


def test_a_job_log_tells_why_a_trial_failed(tmp_path, base):
    """What a grid user has of a failed trial is the job's log: the failure line, the trial's output with
    its traceback, and Ray's own report of it (the work directory does not come back)."""
    failing = SLOW.replace("time.sleep(1)", 'if config["x"] > 0.5:\n        raise ValueError("x too large")')
    make_project(tmp_path, "p", failing, "f", {"num_trials": 4, "max_concurrent": 1, "seed": 1}, space=SPACE)
    env = dict(os.environ, HPOGRID_BASE_PATH=str(base), PYTHONPATH=str(ROOT), HPOGRID_NUM_CPUS="1")
    done = subprocess.run(
        [PYTHON, "-m", "hpogrid", "run", "p", "--n_jobs", "1", "--emulate"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    (folder,) = (base / "projects" / "p" / "runs").glob("emulate-*")
    meta = json.loads((folder / "job_1" / "userJobMetadata.json").read_text())
    failed = [t for t in meta["trials"] if t["status"] == "error"]
    assert failed and all(t["config"]["x"] > 0.5 for t in failed), (done.stderr, meta)
    log = (folder / "job_1" / "payload.stdout").read_text()
    for trial in failed:
        trial_id = trial["trial_id"]
        assert re.search(rf"^Trial {trial_id} failed: ValueError: x too large  log: \S+/{trial_id}\.log$", log, re.M)
        assert f"({trial_id}) trying x {trial['config']['x']}" in log
    ray_part = log.split("---- what Ray said (ray.log of the run) ----\n")[1]
    assert all(re.search(rf"Trial task failed for trial \w*{t['trial_id']}", ray_part) for t in failed), ray_part
    assert 'raise ValueError("x too large")' in ray_part  # with the traceback


def test_ctrl_c_preempts_the_running_jobs_which_keep_their_trials(tmp_path, base):
    """Ctrl-C: every running job is preempted as the pilot does it (SIGTERM), writes its metadata
    'preempted' with the trials it finished, and hpogrid ends with 130."""
    import signal

    make_project(tmp_path, "p", SLOW.replace("sleep(1)", "sleep(2)"), "f", {"num_trials": 40, "max_concurrent": 1},
                 space=SPACE)  # fmt: skip
    env = dict(os.environ, HPOGRID_BASE_PATH=str(base), PYTHONPATH=str(ROOT), HPOGRID_NUM_CPUS="2")
    process = subprocess.Popen(
        [PYTHON, "-m", "hpogrid", "run", "p", "--n_jobs", "2", "--emulate"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    runs = base / "projects" / "p" / "runs"
    deadline = time.time() + 240
    while time.time() < deadline:  # until each job has finished a trial
        journals = list(runs.glob("emulate-*/job_*/projects/p/runs/*/trials.jsonl"))
        if len(journals) == 2 and all(j.read_text().count("\n") >= 1 for j in journals):
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=240)
    assert process.returncode == 130, err
    assert "Interrupted: preempting the running jobs" in err and "Traceback" not in err
    (folder,) = runs.glob("emulate-*")
    for seq in (1, 2):
        meta = json.loads((folder / f"job_{seq}" / "userJobMetadata.json").read_text())
        assert meta["job_status"] == "preempted" and 1 <= len(meta["trials"]) < 20, meta
    assert len(collect_project(ProjectStore().load("p"), GridQuery()).records) >= 2


def test_the_display_fits_its_width_and_drops_the_least_useful_parts_first():
    clock = [0.0]
    display = TaskProgress(Path("/nonexistent"), 3, 100, "val_accuracy", "max", io.StringIO(), now=lambda: clock[0])
    display.running, display.best, clock[0] = {1, 2}, 0.987654321, 4000
    display.counts = {"terminated": 40, "early_stopped": 7, "error": 3}
    assert display.line(200) == "[" + "#" * 15 + "-" * 15 + "] " + (
        "50/100 done | jobs 2 running 1 waiting | 7 stopped early | 3 failed | best val_accuracy 0.98765 | "
        "1:06:40 elapsed | 1:06:40 left"
    )
    assert display.line(120).endswith(
        "] 50/100 | jobs 2 run | 7 early | 3 fail | best 0.98765 | 1:06:40 | 1:06:40 left"
    )
    assert display.line(80) == "50/100 | jobs 2 run | 7 early | 3 fail | best 0.98765 | 1:06:40 | 1:06:40 left"
    assert display.line(60) == "50/100 | jobs 2 run | 3 fail | best 0.98765 | 1:06:40 left"
    assert display.line(40) == "50/100 | 3 fail | best 0.98765"  # the most useful parts stay longest
    for width in range(14, 201):
        line = display.line(width)
        assert len(line) <= width and "50/100" in line, (width, line)


def test_without_a_terminal_the_display_prints_a_plain_line_every_interval():
    stream, clock = io.StringIO(), [0.0]
    display = TaskProgress(Path("/nonexistent"), 2, 4, "loss", "min", stream, interval=10, now=lambda: clock[0])
    for moment in (0, 1, 5, 9.9, 10, 15, 20.5):
        clock[0] = moment
        display.draw()
    display.event("job 1/2: finished")
    display.close()
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    progress = [line for line in lines if line.startswith("0/4 done | ")]
    assert [line.split(" | ")[-2] for line in progress] == [
        "0:00 elapsed",
        "0:10 elapsed",
        "0:20 elapsed",
        "0:20 elapsed",
    ]
    assert progress[0] == "0/4 done | jobs 2 waiting | 0 stopped early | 0 failed | best loss - | 0:00 elapsed | - left"
    assert "job 1/2: finished" in lines


@pytest.mark.parametrize(
    ("n_jobs", "cpus", "per_trial", "expected"),
    [(2, 2, 1, (2, 1)), (5, 2, 1, (2, 1)), (1, 8, 1, (1, 8)), (3, 8, 2, (3, 2)), (4, 2, 4, (1, 4)), (2, 7, 1, (2, 3))],
)
def test_as_many_jobs_at_once_as_the_cpus_allow(n_jobs, cpus, per_trial, expected):
    assert emulation_slots(n_jobs, cpus, per_trial) == expected
