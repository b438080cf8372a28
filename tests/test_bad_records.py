"""Results files that are valid JSON but the wrong shape (issue 11, class 1), and strict JSON out (class 2).

`hpogrid report` and `hpogrid local_run --resume` never stop on a bad record: it is left out, and each
file says once, in one warning line, where the first one is and how many there were; the rest of the
report is produced (exit 0). Every file hpogrid writes parses with a strict JSON parser.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from hpogrid import strictjson
from hpogrid.results import Journal, TrialRecord
from tests import test_report
from tests.conftest import PYTHON, run_cli, subprocess_env
from tests.test_local_run import make_project
from tests.test_resume import end_processes

_local_run, local_project = test_report._local_run, test_report.local_project  # a run of 10 trials, a copy per test

DROP = object()  # a field left out of a record
OLDER = "00000000-000000-000"  # a run folder older than every real one


def record(**changes) -> Callable[[dict], list[bytes]]:
    """A journal line: a good record of the run, renamed, with these fields changed (DROP: left out)."""

    def make(good: dict) -> list[bytes]:
        data = {**good, "trial_id": "bad_1", **changes}
        data = {k: v for k, v in data.items() if v is not DROP}
        return [json.dumps(data).encode() + b"\n"]

    return make


def raw(*lines: bytes) -> Callable[[dict], list[bytes]]:
    return lambda good: list(lines)


# (id, the bad lines put after line 3 of a run's 10-line journal, how many, what the warning says of the first)
JOURNAL_CASES = [
    ("a-list", raw(b"[1, 2]\n"), 1, "[1, 2] is not a JSON object"),
    ("a-string", raw(b'"trial"\n'), 1, "'trial' is not a JSON object"),
    ("null", raw(b"null\n"), 1, "None is not a JSON object"),
    ("a-number", raw(b"3.5\n"), 1, "3.5 is not a JSON object"),
    ("empty-object", raw(b"{}\n"), 1, "trial_id, config, metric, status missing"),
    ("no-trial_id", record(trial_id=DROP), 1, "trial_id missing"),
    ("no-config", record(config=DROP), 1, "config missing"),
    ("no-status", record(status=DROP), 1, "status missing"),
    ("no-metric", record(metric=DROP), 1, "metric missing"),
    ("unknown-status", record(status="bogus"), 1, "status 'bogus' is not one of terminated, early_stopped, error"),
    ("status-null", record(status=None), 1, "status None is not one of"),
    ("status-newline", record(status="done\nrm -rf"), 1, r"status 'done\nrm -rf' is not one of"),
    ("value-text", record(value="0.5"), 1, "value '0.5' is not a number"),
    ("value-bool", record(value=True), 1, "value True is not a number"),
    ("value-list", record(value=[0.5]), 1, "value [0.5] is not a number"),
    ("value-object", record(value={"loss": 1}), 1, "value {'loss': 1} is not a number"),
    ("duration-text", record(duration_s="3s"), 1, "duration_s '3s' is not a number"),
    ("iterations-text", record(iterations="ten"), 1, "iterations 'ten' is not a whole number >= 0"),
    ("iterations-negative", record(iterations=-1), 1, "iterations -1 is not a whole number >= 0"),
    ("iterations-fraction", record(iterations=2.5), 1, "iterations 2.5 is not a whole number >= 0"),
    ("config-list", record(config=[1, 2]), 1, "config [1, 2] is not an object"),
    ("config-text", record(config="x=1"), 1, "config 'x=1' is not an object"),
    ("config-null", record(config=None), 1, "config None is not an object"),
    ("trial_id-empty", record(trial_id=""), 1, "trial_id '' is not a trial name"),
    ("trial_id-object", record(trial_id={"a": 1}), 1, "trial_id {'a': 1} is not a trial name"),
    ("metric-number", record(metric=5), 1, "metric 5 is not a text"),
    ("start-not-a-date", record(start="yesterday"), 1, "start 'yesterday' is not an ISO date-time"),
    ("end-number", record(end=17), 1, "end 17 is not an ISO date-time"),
    ("history-text", record(history={"loss": "0.1,0.2"}), 1, "history entry 'loss' is not a list of numbers"),
    ("history-list", record(history=[1, 2]), 1, "history [1, 2] is not an object"),
    ("source-nested", record(source={"kind": "local", "run": ["a"]}), 1, "source entry 'run' is ['a'], not a single"),
    ("extra-list", record(extra=[0.9]), 1, "extra [0.9] is not an object"),
    ("error-number", record(error=42), 1, "error 42 is not a text"),
    ("host-list", record(host=["node1"]), 1, "host ['node1'] is not a text"),
    ("not-utf8", raw(b'{"trial_id": "\xff\xfe", "config": {}}\n'), 1, "not UTF-8 text (byte 15 of the line)"),
    ("latin1-line", raw('{"trial_id": "caf\u00e9"}\n'.encode("latin-1")), 1, "not UTF-8 text"),
    ("not-json", raw(b'{"trial_id": "t", "config": \n'), 1, "not JSON (Expecting value at character 30)"),
    ("python-literal", raw(b"{'trial_id': 't'}\n"), 1, "not JSON (Expecting property name enclosed in double quotes"),
    ("5000-digit-number", raw(b'{"value": ' + b"9" * 5000 + b"}\n"), 1, "not JSON (Exceeds the limit"),
    ("3000-deep", raw(b"[" * 3000 + b"]" * 3000 + b"\n"), 1, "not JSON (maximum recursion depth exceeded"),
    ("two-kinds", lambda good: [b"[]\n", *record(status="bogus")(good)], 2, "[] is not a JSON object"),
    ("three-alike", raw(b"7\n", b"8\n", b"9\n"), 3, "7 is not a JSON object"),
]


def _journal_with(run_dir: Path, make: Callable[[dict], list[bytes]]) -> list[bytes]:
    """Put the bad lines after line 3 of the run's journal; returns the journal's lines as they are now."""
    path = run_dir / "trials.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 10
    lines[3:3] = make(json.loads(lines[0]))
    path.write_bytes(b"".join(lines))
    return lines


def _rows(*args: str) -> tuple[list[dict], list[str]]:
    """`hpogrid report ARGS --to_json`: its rows, and its lines on stderr; it must succeed."""
    done = run_cli("report", *args, "--to_json", "-o", "out", "-q")
    assert done.exit_code == 0, done.output
    assert "Traceback" not in done.output
    return json.loads(Path("out.json").read_text()), done.stderr.strip().splitlines()


def _one_warning(lines: list[str], where: str, count: int, first: str) -> str:
    """The one warning line on stderr: the file and where in it, how many records were skipped, the first."""
    (line,) = lines
    plural = "s" if count > 1 else ""
    assert line.startswith("Warning: ") and f"{where}: {count} bad trial record{plural} skipped (first: " in line, line
    assert first in line, line
    return line


@pytest.mark.parametrize("target", ["project", "file"])
@pytest.mark.parametrize(("make", "count", "first"), [c[1:] for c in JOURNAL_CASES], ids=[c[0] for c in JOURNAL_CASES])
def test_bad_journal_lines_are_skipped_and_counted_once(local_project, target, make, count, first):
    project, result = local_project
    before = _journal_with(result.run_dir, make)
    shown = "hpogrid-base/projects/rep/runs/" + result.run_dir.name + "/trials.jsonl"
    rows, warnings = _rows("rep" if target == "project" else shown, "--extra", "trial_id")
    _one_warning(warnings, shown + ":4", count, first)
    assert sorted(r["trial_id"] for r in rows) == sorted(r.trial_id for r in result.records)  # every good one
    assert (result.run_dir / "trials.jsonl").read_bytes() == b"".join(before)  # nothing changed in the file


def test_a_last_line_cut_short_is_counted_as_cut(local_project):
    _, result = local_project
    path = result.run_dir / "trials.jsonl"
    path.write_bytes(path.read_bytes() + b'{"trial_id": "late", "config": {"x"')
    rows, warnings = _rows("rep")
    _one_warning(warnings, f"trials.jsonl:{11}", 1, "the line is cut short (written as the run was killed)")
    assert len(rows) == 10


def test_a_journal_of_bad_lines_only_is_one_line_exit_2(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"[]\n{}\n")
    done = run_cli("report", str(path))
    assert done.exit_code == 2 and "Traceback" not in done.output
    (line,) = done.stderr.strip().splitlines()
    assert "t.jsonl: holds no trial records; t.jsonl:1: 2 bad trial records skipped (first: [] is not" in line


def summary_with(**changes) -> Callable[[dict], bytes]:
    """A run's summary.json with these fields changed (DROP: left out)."""

    def make(summary: dict) -> bytes:
        data = {k: v for k, v in {**summary, **changes}.items() if v is not DROP}
        return json.dumps(data).encode()

    return make


def rows_with(*bad) -> Callable[[dict], bytes]:
    """A run's summary.json whose trials are these bad rows, then the good ones."""
    return lambda summary: json.dumps({**summary, "trials": [*bad, *summary["trials"]]}).encode()


def text(data: bytes) -> Callable[[dict], bytes]:
    return lambda summary: data


# (id, the summary.json of an older run that has no journal, its good rows, what the warning says)
SUMMARY_CASES = [
    ("not-json", text(b'{"format": "hpogrid-run/1", '), 0, "summary.json: cannot be read as a results file (not JSON"),
    ("empty-file", text(b""), 0, "cannot be read as a results file (not JSON (Expecting value at line 1 column 1))"),
    ("a-list", text(b"[]"), 0, "cannot be read as a results file ([] is not a JSON object); left out"),
    ("a-string", text(b'"summary"'), 0, "cannot be read as a results file ('summary' is not a JSON object)"),
    ("not-utf8", text(b'{"project": "\xff"}'), 0, "cannot be read as a results file (not UTF-8 text)"),
    ("nan-only", text(b"NaN"), 0, "cannot be read as a results file (nan is not a JSON object)"),
    ("trials-object", summary_with(trials={"a": 1}), 0, "summary.json: fields ignored: trials {'a': 1} is not a list"),
    ("trials-text", summary_with(trials="all"), 0, "fields ignored: trials 'all' is not a list"),
    ("metric-number", summary_with(metric=5), 10, "fields ignored: metric 5 is not a text"),
    ("mode-wrong", summary_with(mode="best"), 10, "fields ignored: mode 'best' is not 'min' or 'max'"),
    ("names-text", summary_with(hyperparameters="x,c"), 10, "fields ignored: hyperparameters 'x,c' is not a list"),
    ("start-number", summary_with(start=1700000000), 10, "fields ignored: start 1700000000 is not an ISO date-time"),
    ("num_trials-text", summary_with(num_trials="ten"), 10, "fields ignored: num_trials 'ten' is not a whole number"),
    ("row-not-object", rows_with(5), 10, "summary.json trials[0]: 1 bad trial record skipped (first: 5 is not a JSON"),
    ("row-bad-status", rows_with({"trial_id": "b", "config": {}, "metric": "loss", "status": "ok"}), 10, "'ok' is"),
    (
        "row-value-text",
        rows_with({"trial_id": "b", "config": {}, "metric": "m", "status": "error", "value": "x"}),
        10,
        "summary.json trials[0]: 1 bad trial record skipped (first: value 'x' is not a number)",
    ),  # fmt: skip
    ("rows-two", rows_with([], {}), 10, "summary.json trials[0]: 2 bad trial records skipped (first: [] is not a"),
]


@pytest.mark.parametrize(("make", "good", "says"), [c[1:] for c in SUMMARY_CASES], ids=[c[0] for c in SUMMARY_CASES])
def test_a_corrupt_summary_of_an_older_run_does_not_stop_the_report(local_project, make, good, says):
    project, result = local_project
    older = result.run_dir.parent / OLDER
    older.mkdir()
    summary = json.loads((result.run_dir / "summary.json").read_text())
    for row in summary["trials"]:
        row["source"] = {"kind": "local", "run": OLDER}  # the older run's own trials (not the same again)
    (older / "summary.json").write_bytes(make(summary))
    rows, warnings = _rows("rep", "--extra", "trial_id,run")
    (line,) = warnings
    assert line.startswith(f"Warning: hpogrid-base/projects/rep/runs/{OLDER}/summary.json") and says in line, line
    assert sorted(r["trial_id"] for r in rows if r["run"] == result.run_dir.name) == sorted(
        r.trial_id for r in result.records
    )
    assert sum(r["run"] == OLDER for r in rows) == good  # the good rows of the summary are shown too


@pytest.mark.parametrize(
    ("make", "says"),
    [(c[1], c[3]) for c in SUMMARY_CASES if c[2] == 0][:4],
    ids=[c[0] for c in SUMMARY_CASES if c[2] == 0][:4],
)
def test_a_run_folder_with_a_corrupt_summary_reports_its_journal(local_project, make, says):
    _, result = local_project
    (result.run_dir / "summary.json").write_bytes(make({}))
    rows, warnings = _rows(str(result.run_dir), "--mode", "min")
    assert len(rows) == 10 and len(warnings) == 1 and says.split("summary.json")[-1] in warnings[0], warnings


def metadata_with(**changes) -> Callable[[dict], object]:
    """A job's userJobMetadata.json (the run summary and the job) with these fields changed."""
    return lambda summary: {**summary, "job": {"kind": "grid", "task": 7, "job": 70, "site": "ANALY_X"}, **changes}


def metadata_rows(*bad) -> Callable[[dict], object]:
    return lambda summary: metadata_with(trials=[*bad, *summary["trials"]])(summary)


def per_job(*bad) -> Callable[[dict], object]:
    """`hpogrid tasks show --metadata --output` of a task: a good job (70) and jobs whose metadata is bad."""
    jobs = {"70": metadata_with()}
    return lambda summary: [{"jeditaskid": 7, "metastruct": {**{k: v(summary) for k, v in jobs.items()}, **dict(bad)}}]


# (id, the file, where the first bad record is, how many, what the warning says)
METADATA_CASES = [
    ("row-not-object", metadata_rows("t"), " trials[0]", 1, "'t' is not a JSON object"),
    (
        "row-no-trial_id",
        metadata_rows({"config": {}, "metric": "loss", "status": "terminated"}),
        " trials[0]",
        1,
        "trial_id missing",
    ),  # fmt: skip
    (
        "row-bad-status",
        metadata_rows({"trial_id": "b", "config": {}, "metric": "loss", "status": 3}),
        " trials[0]",
        1,
        "status 3 is not one of",
    ),  # fmt: skip
    (
        "row-value-text",
        metadata_rows({"trial_id": "b", "config": {}, "metric": "loss", "status": "error", "value": "NaN"}),
        " trials[0]",
        1,
        "value 'NaN' is not a number",
    ),  # fmt: skip
    (
        "rows-config-list",
        metadata_rows(*[{"trial_id": f"b{i}", "config": [i], "metric": "l", "status": "error"} for i in range(4)]),
        " trials[0]",
        4,
        "config [0] is not an object",
    ),  # fmt: skip
    ("job-list", metadata_with(job=[7]), "", 0, "userJobMetadata.json: fields ignored: job [7] is not an object"),
    ("job-task-list", metadata_with(job={"task": [7]}), "", 0, "fields ignored: job entry 'task' is [7], not a single"),
    ("duration-text", metadata_with(duration_s="long"), "", 0, "fields ignored: duration_s 'long' is not a number"),
    (
        "task-job-text",
        per_job(("71", "garbage{")),
        "[0].metastruct[71]",
        1,
        "the job's metadata 'garbage{' is not a JSON object",
    ),  # fmt: skip
    ("task-job-list", per_job(("71", [1]), ("72", 5)), "[0].metastruct[71]", 2, "the job's metadata [1] is not a"),
    ("task-job-no-format", per_job(("71", {"trials": [1]})), "[0].metastruct[71] trials[0]", 1, "1 is not a JSON"),
]


@pytest.mark.parametrize(
    ("make", "at", "count", "says"), [c[1:] for c in METADATA_CASES], ids=[c[0] for c in METADATA_CASES]
)
def test_bad_job_metadata_is_skipped_and_counted_once(local_project, tmp_path, make, at, count, says):
    _, result = local_project
    path = tmp_path / "userJobMetadata.json"
    path.write_text(json.dumps(make(json.loads((result.run_dir / "summary.json").read_text()))))
    rows, warnings = _rows(str(path), "--mode", "min", "--extra", "trial_id")
    if count:
        _one_warning(warnings, f"userJobMetadata.json{at}", count, says)
    else:
        (line,) = warnings
        assert says in line, line
    assert sorted(r["trial_id"] for r in rows) == sorted(r.trial_id for r in result.records)


def test_bad_job_metadata_of_a_grid_task(tmp_path, panda):
    """Job metadata fetched from the server (real panda-client, local PanDA-compatible server): a job's
    metadata that is not JSON and a bad row are skipped with one warning for the task, also when the
    task is read from the cache; NaN in a job's metadata is null in `tasks show --output` and `--json`."""
    from tests.test_grid import grid_project
    from tests.test_report_grid import _submit

    grid_project(tmp_path, num_trials=3)
    task_id = _submit("run", "g", "--n_jobs", "3")
    assert panda.state.wait(task_id).status == "done"
    with panda.state.lock:
        first, second, third = sorted(panda.state.tasks[task_id].jobs, key=lambda j: j.panda_id)
        assert all(len(j.metadata["trials"]) == 1 for j in (first, second, third))
        first.metadata["trials"][0]["duration_s"] = first.metadata["duration_s"] = float("nan")
        second.metadata = "garbage{"
        third.metadata["trials"][0]["status"] = "bogus"
    says = (
        f"Warning: task {task_id} job {second.panda_id}: 2 bad trial records skipped "
        "(first: the job's metadata 'garbage{' is not a JSON object)"
    )
    for _ in ("from the server", "from the cache"):
        rows, warnings = _rows("g", "--extra", "jobid,time_s")
        assert warnings == [says] and [(r["jobid"], r["time_s"]) for r in rows] == [(first.panda_id, None)]
    shown = run_cli("tasks", "show", "--jeditaskid", str(task_id), "--metadata", "--output", "tasks.json")
    assert shown.exit_code == 0, shown.output
    (row,) = strictjson.loads(Path("tasks.json").read_text())
    assert row["metastruct"][str(first.panda_id)]["duration_s"] is None
    printed = run_cli("tasks", "show", "--jeditaskid", str(task_id), "--metadata", "--json")
    assert printed.exit_code == 0, printed.output
    (row,) = strictjson.loads(printed.stdout)
    assert row["metastruct"][str(first.panda_id)]["trials"][0]["duration_s"] is None


def test_an_append_after_a_line_cut_short_starts_a_line_of_its_own(tmp_path):
    journal = Journal(tmp_path)
    journal.path.write_bytes(b'{"trial_id": "a", "config": {}, "metric": "loss", "status": "terminated"}\n{"tri')
    journal.append(TrialRecord("b", {}, "loss", 1.0, "terminated"))
    records, skipped = journal.read()
    assert [r.trial_id for r in records] == ["a", "b"]  # the new record is not glued to the cut line
    assert skipped.count == 1 and journal.path.read_bytes().splitlines()[1] == b'{"tri'  # which is kept


# -- resume -------------------------------------------------------------------------------------------------
SLOW = """
import time

def train(config, reporter):
    time.sleep(0.6)
    reporter(loss=config["x"])
"""


def _interrupted_run(tmp_path: Path, base: Path) -> Path:
    """A local run of 12 trials stopped by Ctrl-C (SIGINT to the driver) after 3 finished: its folder."""
    space = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}
    project = make_project(tmp_path, "slow", SLOW, "train", {"num_trials": 12, "seed": 7}, space=space)
    driver = subprocess.Popen(
        [PYTHON, "-m", "hpogrid", "local_run", "slow", "-q"],
        env=subprocess_env(base),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started: set[int] = set()
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            started |= {p.pid for p in psutil.Process(driver.pid).children(recursive=True)}
            journals = list((project.path / "runs").glob("*/trials.jsonl"))
            if journals and len(Journal(journals[0].parent).records()) >= 3:
                break
            assert driver.poll() is None, "the run ended before it could be interrupted"
            time.sleep(0.2)
        else:
            raise AssertionError("no trial finished in time")
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=60) == 130
    finally:
        if driver.poll() is None:
            driver.kill()
        end_processes(sorted(p for p in started if psutil.pid_exists(p)))
    run_dir = journals[0].parent
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "interrupted"
    return run_dir


def test_resume_goes_past_bad_records_and_a_corrupt_summary(tmp_path, base, ray_session):
    run_dir = _interrupted_run(tmp_path, base)
    runs = run_dir.parent
    for name, content in (("00000000-000000-000", b"[1, 2]"), ("99999999-999999-999", b"\xff{not json")):
        (runs / name / "ray").mkdir(parents=True)  # an older and a newer run whose summaries cannot be read
        (runs / name / "summary.json").write_bytes(content)
    journal = run_dir / "trials.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    done = len(lines)
    bad = [b'{"trial_id": "x", "config": {}, "metric": "loss", "status": "bogus"}\n', "caf\u00e9\n".encode("latin-1")]
    journal.write_bytes(b"".join(lines[:1] + bad + lines[1:]) + b'{"trial_id": "cut", "con')  # and a cut last line
    before = journal.read_bytes()

    resumed = run_cli("local_run", "slow", "--resume", "-q")
    assert resumed.exit_code == 0, resumed.output
    assert f"Run {run_dir.name} finished: 12 of 12 trials" in resumed.stdout
    newer, skipped = resumed.stderr.strip().splitlines()
    assert newer == (
        "Warning: hpogrid-base/projects/slow/runs/99999999-999999-999/summary.json: not UTF-8 text; "
        "run 99999999-999999-999 is not resumed"
    )
    assert skipped == (
        f"Warning: hpogrid-base/projects/slow/runs/{run_dir.name}/trials.jsonl:2: 3 bad trial records skipped "
        "(first: status 'bogus' is not one of terminated, early_stopped, error)"
    )
    after = journal.read_bytes()
    assert after.startswith(before + b"\n")  # appended after the lines it could not read, which are all still there
    ids = [r.trial_id for r in Journal(run_dir).records()]
    assert len(ids) == 12 and len(set(ids)) == 12 and done < 12  # the resume ran trials
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and sum(summary["counts"].values()) == 12

    rows, warnings = _rows("slow")  # the report of the project: the 12 trials, a line for each bad file
    assert len(rows) == 12 and len(warnings) == 3, warnings
    assert {w.split(": ")[1].split("/")[-2] for w in warnings} == {OLDER, "99999999-999999-999", run_dir.name}


# -- strict JSON out ---------------------------------------------------------------------------------------
NON_FINITE = """
def f(config, reporter):
    special = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}
    for i in range(2):
        value = special.get(config["kind"], config["x"] + i)
        reporter(loss=value, acc=value)
"""


def _strict_files(folder: Path) -> list[Path]:
    """Every JSON file hpogrid wrote under folder (Ray's own experiment state aside), checked strict."""
    checked = []
    for path in sorted(folder.rglob("*")):
        json_file = path.suffix in (".json", ".jsonl")  # not ray.log, nor the trials' logs
        if path.is_file() and json_file and "ray" not in path.relative_to(folder).parts[:1]:
            data = path.read_text()
            if path.suffix == ".jsonl":
                for line in data.splitlines():
                    strictjson.loads(line)
            else:
                strictjson.loads(data)
            checked.append(path)
    return checked


def test_a_trial_reporting_nan_or_infinity_is_written_as_null(tmp_path, base, ray_session):
    space = {
        "kind": {"method": "categorical", "dimension": {"categories": ["nan", "inf", "-inf", "ok"], "grid_search": 1}},
        "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    }
    hpo = {"num_trials": 8, "seed": 5, "extra_metrics": ["acc"], "algorithm": "random"}
    project = make_project(tmp_path, "nf", NON_FINITE, "f", hpo, space=space)
    done = run_cli("local_run", "nf", "-q")
    assert done.exit_code == 0, done.output
    (run_dir,) = (project.path / "runs").iterdir()
    names = {p.name for p in _strict_files(run_dir)}
    assert {"trials.jsonl", "summary.json"} <= names
    records = Journal(run_dir).records()
    assert len(records) == 8
    for record in records:
        finite = record.config["kind"] == "ok"
        assert (record.value is not None) == finite and (record.extra["acc"] is not None) == finite
        assert (record.history["loss"][-1] is not None) == finite and (record.last_result["loss"] is not None) == finite
    summary = strictjson.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["config"]["kind"] == "ok" and summary["counts"]["terminated"] == 8

    out = tmp_path / "r"
    report = run_cli("report", "nf", "--to_json", "--summary", "--to_csv", "--extra", "trial_id", "-o", str(out), "-q")
    assert report.exit_code == 0 and report.stderr == "", report.output
    rows = strictjson.loads(Path(f"{out}.json").read_text())
    assert len(rows) == 8 and [r["loss"] is None for r in rows] == [False] * 2 + [True] * 6  # with a value first
    analysis = strictjson.loads(Path(f"{out}_summary.json").read_text())
    assert analysis["trials"] == 8 and analysis["scored"] == 2
    for target in (run_dir, run_dir / "trials.jsonl", run_dir / "summary.json"):  # readable as results files
        assert len(_rows(str(target), "--mode", "min")[0]) == 8
