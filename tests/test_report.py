"""`hpogrid report`: trials of local runs, files and grid tasks; table, bounds, exports, MLflow, analysis."""

from __future__ import annotations

import csv
import io
import json
import math
import random

import pytest

from hpogrid.local.runner import RunOptions, run
from hpogrid.report.collect import Trials
from hpogrid.report.table import build
from hpogrid.results import TrialRecord
from tests.conftest import run_cli
from tests.test_local_run import make_project

OBJECTIVE = """
def f(config, reporter):
    base = (config["x"] - 0.3) ** 2 + (0.5 if config["c"] == "b" else 0.0) + config["opt"]["lr"]
    for i in range(3):
        reporter(loss=base + 0.1 * (2 - i), acc=1 - base)
"""
SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b"]}},
    "opt": {"lr": {"method": "loguniform", "dimension": {"low": 1e-4, "high": 1e-2}}},
}
HPO = {
    "num_trials": 10,
    "max_concurrent": 2,
    "seed": 11,
    "extra_metrics": ["acc"],
    "stop": {"training_iteration": 3},
}


@pytest.fixture(scope="module")
def _local_run(ray_session, tmp_path_factory):
    """One local run for the module (a run costs seconds): its project folder, to be copied per test."""
    import os

    base = tmp_path_factory.mktemp("report-base")
    saved = os.environ.get("HPOGRID_BASE_PATH")
    os.environ["HPOGRID_BASE_PATH"] = str(base)
    try:
        project = make_project(base, "rep", OBJECTIVE, "f", HPO, space=SPACE)
        result = run(project, RunOptions(quiet=True))
    finally:
        if saved is None:
            os.environ.pop("HPOGRID_BASE_PATH", None)
        else:
            os.environ["HPOGRID_BASE_PATH"] = saved
    assert len(result.records) == 10
    return project.path, result


@pytest.fixture
def local_project(_local_run, base):
    """The module's run, copied into this test's own HPOGRID_BASE_PATH: (project, result)."""
    import shutil
    from dataclasses import replace

    from hpogrid.project import ProjectStore

    folder, result = _local_run
    shutil.copytree(folder, base / "projects" / "rep")
    project = ProjectStore().load("rep")
    return project, replace(result, run_dir=project.path / "runs" / result.run_dir.name)


def _report(*args):
    result = run_cli("report", *args)
    assert result.exit_code == 0, result.output
    return result


def test_every_export_of_a_local_run(local_project, tmp_path):
    project, result = local_project
    out = tmp_path / "out" / "res"
    out.parent.mkdir()  # -o names a file in a folder that exists
    shown = _report(
        "rep", "--to_csv", "--to_json", "--summary", "--to_html", "--to_pcp", "--extra", "trial_id,time_s,iterations",
        "-o", str(out), "--analyze",
    )  # fmt: skip
    values = sorted(r.value for r in result.records)
    rows = list(csv.DictReader(io.StringIO(out.with_suffix(".csv").read_text())))
    assert [float(r["loss"]) for r in rows] == pytest.approx(values)  # every trial once, best first
    assert list(rows[0]) == ["x", "c", "opt.lr", "loss", "acc", "status", "source", "trial_id", "time_s", "iterations"]
    assert {r["trial_id"] for r in rows} == {r.trial_id for r in result.records}
    assert {r["source"] for r in rows} == {f"local {result.run_dir.name}"} and {r["iterations"] for r in rows} == {"3"}
    by_id = {r.trial_id: r for r in result.records}
    for row in rows:
        record = by_id[row["trial_id"]]
        assert float(row["x"]) == pytest.approx(record.config["x"]) and row["c"] == record.config["c"]
        assert float(row["opt.lr"]) == pytest.approx(record.config["opt"]["lr"])
        assert float(row["acc"]) == pytest.approx(record.extra["acc"])
    records = json.loads((tmp_path / "out" / "res.json").read_text())
    assert [r["trial_id"] for r in records] == [r["trial_id"] for r in rows]
    summary = json.loads((tmp_path / "out" / "res_summary.json").read_text())
    best = min(result.records, key=lambda r: r.value)
    assert summary["best"]["trial_id"] == best.trial_id and summary["best"]["value"] == pytest.approx(best.value)
    assert summary["trials"] == 10 and summary["counts"] == {"terminated": 10}
    assert {i["parameter"] for i in summary["importance"]} == {"x", "c", "opt.lr"}
    assert f"Best loss (min): {best.value:.5g} (" in shown.stdout and "PARAMETER" in shown.stdout
    assert json.loads(shown.stdout.split("Best config (JSON")[1].splitlines()[1]) == best.config  # --search_points
    assert "\nTop 5\nx " in shown.stdout and len(summary["top"]) == 5
    page = (tmp_path / "out" / "res.html").read_text()
    assert page.count("<tr>") == 11 and "Plotly" in page and len(page) > 1_000_000  # plotly.js is in the page
    assert fetched(page) == [] and fetched((tmp_path / "out" / "res_pcp.html").read_text()) == []  # offline
    dimensions = pcp_of(tmp_path / "out" / "res_pcp.html")
    assert [d["label"] for d in dimensions] == ["x", "c", "opt.lr", "loss"]  # the parameters, then the metric
    assert dimensions[0]["values"] == pytest.approx([float(r["x"]) for r in rows], rel=1e-6)  # best first, as the CSV
    # opt.lr is loguniform: a log axis (log10 of the values), as is the metric when it spans decades
    assert dimensions[2]["values"] == pytest.approx([math.log10(float(r["opt.lr"])) for r in rows], abs=1e-6)
    logged = max(values) >= 100 * min(values) > 0
    assert dimensions[3]["values"] == pytest.approx([math.log10(v) if logged else v for v in values], rel=1e-6)
    figures, _ = figures_of(tmp_path / "out" / "res.html")
    layout = figures["hg-scatter"]["layout"]
    assert [layout[k]["type"] for k in ("xaxis", "xaxis2", "xaxis3")] == ["linear", "category", "log"]  # x, c, opt.lr
    assert dimensions[1]["ticktext"] == sorted({r["c"] for r in rows})  # a categorical axis: its categories as ticks
    assert [dimensions[1]["ticktext"][code] for code in dimensions[1]["values"]] == [r["c"] for r in rows]
    assert oct((tmp_path / "out" / "res.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def fetched(page: str) -> list[str]:
    """What a browser would load for the page besides it: every src, href, srcset, data or poster
    attribute of any element (a <script src=...> included), and every CSS url() or @import."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        style = False

        def handle_starttag(self, tag, attrs):
            found.extend(
                f"{tag} {k}={v}"
                for k, v in attrs
                if k in ("src", "href", "srcset", "data", "poster") and not (k == "href" and (v or "").startswith("#"))
            )  # a link within the page loads nothing
            self.style = tag == "style"
            found.extend(f"{tag} style url" for k, v in attrs if k == "style" and "url(" in (v or ""))

        def handle_data(self, data):
            if self.style and ("url(" in data or "@import" in data):
                found.append("style url")

    Parser().feed(page)
    return found


def figures_of(path) -> tuple[dict, dict]:
    """The figures of a report page with their data columns resolved, and the columns."""
    import re

    page = open(path).read()
    found = re.search(r"const HG_COLUMNS=(.*?);\nconst HG_FIGURES=(.*?);\s*function hgSort", page, re.S)
    columns, figures = json.loads(found.group(1)), json.loads(found.group(2))

    def resolve(value):
        if isinstance(value, dict):
            return columns[value["$column"]] if set(value) == {"$column"} else {k: resolve(v) for k, v in value.items()}
        return [resolve(v) for v in value] if isinstance(value, list) else value

    return resolve(figures), columns


def pcp_of(path) -> list[dict]:
    """The axes of the parallel-coordinates plot of a page, with their values."""
    figures, _ = figures_of(path)
    (trace,) = figures["hg-pcp"]["data"]
    assert trace["type"] == "parcoords"
    return trace["dimensions"]


def _umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_bounds_top_and_extra_columns(local_project):
    _, result = local_project
    values = sorted(r.value for r in result.records)
    low, high = values[2], values[6]
    shown = _report("rep", "--min", str(low), "--max", str(high), "--to_json", "-o", "b", "-q")
    rows = json.loads(open("b.json").read())
    assert [r["loss"] for r in rows] == pytest.approx(values[2:7]) and shown.stdout.startswith("Wrote")
    _report("rep", "--top", "3", "--to_json", "-o", "t", "-q")
    assert [r["loss"] for r in json.loads(open("t.json").read())] == pytest.approx(values[:3])
    bad = run_cli("report", "rep", "--extra", "sight")
    assert bad.exit_code == 2 and "--extra: unknown column 'sight'" in bad.stderr and "site" in bad.stderr
    bad = run_cli("report", "rep", "--min", "2", "--max", "1")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1


def test_mlflow_export_reads_back_and_is_idempotent(local_project, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    project, result = local_project
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    first = _report("rep", "--to_mlflow", "--mlflow-uri", uri, "-q")
    assert "10 runs added, 0 already there" in first.stdout
    again = _report("rep", "--to_mlflow", "--mlflow-uri", uri, "-q")
    assert "0 runs added, 10 already there" in again.stdout
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("rep")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 10
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    by_id = {r.trial_id: r for r in result.records}
    for child in children:
        record = by_id[child.info.run_name]
        assert float(child.data.params["x"]) == pytest.approx(record.config["x"])
        assert float(child.data.params["opt.lr"]) == pytest.approx(record.config["opt"]["lr"])
        assert child.data.metrics["loss"] == pytest.approx(record.value)
        assert child.data.tags["status"] == "terminated" and child.data.tags["run"] == result.run_dir.name
        history = client.get_metric_history(child.info.run_id, "loss")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == [1, 2, 3]
    # the default store is the project's own
    _report("rep", "--to_mlflow", "-q")
    assert (project.path / "mlflow.db").is_file()


def test_report_reads_results_files(local_project, tmp_path):
    _, result = local_project
    expected = sorted(r.value for r in result.records)
    for target in (result.run_dir, result.run_dir / "summary.json", result.run_dir / "trials.jsonl"):
        _report(str(target), "--to_json", "-o", "f", "-q")
        rows = json.loads(open("f.json").read())
        assert [r["loss"] for r in rows] == pytest.approx(expected), target
    # a job's metadata file: the summary plus the job
    summary = json.loads((result.run_dir / "summary.json").read_text())
    meta = tmp_path / "userJobMetadata.json"
    meta.write_text(json.dumps({**summary, "job": {"kind": "grid", "task": 7, "job": 70, "site": "ANALY_X"}}))
    _report(str(meta), "--to_json", "--extra", "site,taskid,jobid", "-o", "m", "-q")
    rows = json.loads(open("m.json").read())
    assert len(rows) == 10 and {(r["site"], r["taskid"], r["jobid"]) for r in rows} == {("ANALY_X", 7, 70)}
    for bad, message in (("nothing-here", "no project or results file named 'nothing-here'"),):
        done = run_cli("report", bad)
        assert done.exit_code == 2 and message in done.stderr and "Traceback" not in done.output
    junk = tmp_path / "junk.json"
    junk.write_text('{"a": 1}')
    done = run_cli("report", str(junk))
    assert done.exit_code == 2 and "not a results file" in done.stderr


def test_no_trials_yet(tmp_path):
    make_project(tmp_path, "empty", OBJECTIVE, "f", HPO, space=SPACE)
    done = _report("empty", "--to_csv", "--to_html", "-o", "e")
    assert "No trials found." in done.stdout
    assert open("e.csv").read().splitlines() == ["x,c,opt.lr,loss,acc,status,source"]


def synthetic(n: int, params: int = 10, seed: int = 0) -> Trials:
    """n trials of a known function: loss = 3*p0 + category effect + noise; p0 must rank first."""
    rng = random.Random(seed)
    names = [f"p{i}" for i in range(params - 1)] + ["kind"]
    records = []
    for i in range(n):
        config = {f"p{j}": rng.random() for j in range(params - 1)}
        config["kind"] = rng.choice(["relu", "tanh", "gelu"])
        loss = 3 * config["p0"] + {"relu": 0.0, "tanh": 0.5, "gelu": 0.2}[config["kind"]] + rng.gauss(0, 0.05)
        records.append(
            TrialRecord(
                trial_id=f"t{i:05d}",
                config=config,
                metric="loss",
                value=loss,
                status="terminated",
                duration_s=1.0,
                start=f"2026-11-25T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00+00:00",
                source={"kind": "grid", "task": 1000 + i % 4, "job": 5000 + i % 40, "site": "ANALY_X"},
            )
        )
    trials = Trials(metric="loss", mode="min", hyperparameters=names)
    trials.add(records)
    return trials


def test_analysis_finds_the_parameters_that_matter():
    from hpogrid.report.analysis import analyze

    analysis = analyze(build(synthetic(2000)))
    ranked = [i["parameter"] for i in analysis["importance"]]
    assert ranked[:2] == ["p0", "kind"]
    eta = {i["parameter"]: i["eta2"] for i in analysis["importance"]}
    assert eta["p0"] > 0.8 and max(eta[f"p{j}"] for j in range(1, 9)) < 0.02
    assert analysis["correlations"]["p0"] > 0.9 and analysis["correlations"]["kind"] is None
    assert math.isclose(sum(i["share"] for i in analysis["importance"]), 1.0)


def test_duplicates_are_counted_once():
    trials = synthetic(50)
    assert trials.add(synthetic(50).records) == 0 and len(trials.records) == 50


def test_ten_thousand_trials(tmp_path):
    trials = synthetic(10_000)
    (tmp_path / "big.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in trials.records))
    done = _report(str(tmp_path / "big.jsonl"), "--to_csv", "--to_html", "--to_pcp", "-o", "big", "--top", "10000")
    assert "9970 more trials" in done.stdout
    assert len(open("big.csv").read().splitlines()) == 10_001
    page = open("big.html").read()
    assert page.count("<tr>") == 10_001 and "scattergl" in page


# reports every resource the page loads (none: it works offline) as an error of the probe (tests/browser.py)
LOADS = (
    "<script>new PerformanceObserver(list => list.getEntries().forEach(e => window.__errors.push('loaded ' + e.name)))"
    ".observe({type: 'resource', buffered: true});</script>"
)


def test_html_pages_render_in_chromium(local_project, tmp_path):
    from tests.browser import probe, screenshot

    _report("rep", "--to_html", "--to_pcp", "-o", "page", "-q")
    watched = tmp_path / "watched.html"
    watched.write_text((tmp_path / "page.html").read_text().replace("<title>", LOADS + "<title>", 1))
    seen = probe(watched, tmp_path, sort_column="x")
    assert seen["errors"] == [] and seen["plotted"] == "8"
    plots = {p["id"]: p for p in seen["plots"]}
    assert set(plots) == {
        "hg-history", "hg-curves", "hg-scatter", "hg-contour", "hg-importance", "hg-pcp", "hg-timeline", "hg-edf"
    }  # fmt: skip
    assert plots["hg-history"]["traces"] == 2 and plots["hg-scatter"]["traces"] == 3
    assert all(p["svg"] > 0 for p in plots.values()) and plots["hg-pcp"]["canvas"] > 0  # drawn, WebGL included
    assert [float(v) for v in seen["sorted"]] == sorted(float(v) for v in seen["sorted"]) and len(seen["sorted"]) == 10
    seen = probe(tmp_path / "page_pcp.html", tmp_path)
    assert seen["errors"] == [] and [p["id"] for p in seen["plots"]] == ["hg-pcp"]
    shot = screenshot(tmp_path / "page.html", tmp_path / "report.png", tmp_path)
    assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
    # missing parameters and a trial without a value: drawn without errors, the empty metric sorted last
    _write_jsonl(tmp_path / "g.jsonl", gappy())
    _report("g.jsonl", "--mode", "min", "--to_html", "-o", "gaps", "-q")
    seen = probe(tmp_path / "gaps.html", tmp_path, sort_column="loss")
    assert seen["errors"] == [] and seen["plotted"] == str(len(figures_of(tmp_path / "gaps.html")[0])) != "0"
    assert all(p["svg"] > 0 for p in seen["plots"]) and len(seen["sorted"]) == 9 and seen["sorted"][-1] == ""
    assert [float(v) for v in seen["sorted"][:-1]] == sorted(float(v) for v in seen["sorted"][:-1])


def test_relay_points_without_job_metadata_become_rows():
    from hpogrid.report.collect import relay_records

    known = synthetic(1).records
    points = [
        {"id": "0", "parameters": known[0].config, "loss": 0.5},  # already known from its job: skipped
        {"id": "1", "parameters": {"p0": 0.25}, "loss": -0.75},
        {"id": "2", "parameters": {"p0": 0.5}, "loss": None},  # not evaluated yet
    ]
    (row,) = relay_records(points, known, {"jeditaskid": 9, "site": "S"}, "score", "max")
    assert row.value == 0.75 and row.config == {"p0": 0.25} and row.source["task"] == 9  # sign back for max
    assert row.metric == "score"  # the project's metric, not iDDS's "loss"
    (row,) = relay_records(points, known, {"jeditaskid": 9}, "loss", "min")
    assert row.value == -0.75 and row.metric == "loss"


def test_a_missing_exporter_library_names_the_extra_and_writes_nothing(tmp_path, base):
    import subprocess

    from tests.conftest import PYTHON, subprocess_env

    trials = synthetic(20)
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in trials.records))
    for blocked, option in (("plotly", "--to_html"), ("mlflow", "--to_mlflow")):
        code = (
            f"import sys; sys.modules[{blocked!r}] = None; from hpogrid.cli import main; "
            f"sys.exit(main(['report', 't.jsonl', '--mode', 'min', '--to_csv', {option!r}, '-o', 'x', '-q']))"
        )
        done = subprocess.run(
            [PYTHON, "-c", code], env=subprocess_env(base), cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        assert "pip install 'hpogrid[report]'" in done.stderr and "Traceback" not in done.stderr
        assert not (tmp_path / "x.csv").exists()


def test_a_local_project_needs_no_grid_set_up(local_project, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandaclient", None)  # no grid extra, no credentials: local trials, no warning
    result = run_cli("report", "rep", "-q", "--to_json", "-o", "l")
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert len(json.loads(open("l.json").read())) == 10


def test_the_task_cache_keeps_rows_with_datetimes(tmp_path):
    import datetime as dt

    from hpogrid.report.collect import TaskCache

    cache = TaskCache(tmp_path / "cache")
    when = dt.datetime(2026, 11, 25, 12, 0, 0)
    trials = synthetic(3)
    cache.put(
        7, {"jeditaskid": 7, "status": "done", "starttime": when, "metastruct": {"1": {}}}, trials.records, trials
    )
    entry = cache.get(7, trials)
    assert entry["row"] == {"jeditaskid": 7, "status": "done", "starttime": str(when)} and len(entry["records"]) == 3
    assert cache.task_ids() == [7]
    # read for another metric or mode (the relay's points depend on both), the entry is stale
    assert cache.get(7, Trials(metric="acc", mode="min", hyperparameters=[])) is None
    assert cache.get(7, Trials(metric="loss", mode="max", hyperparameters=[])) is None


def gappy() -> Trials:
    """Trials of a space that gained parameters: 'kind' (categorical) and 'depth' (numeric) are missing in
    some; and one trial that failed before reporting any value."""
    records = synthetic(8, params=3).records  # p0, p1, kind
    for i, record in enumerate(records):
        if i % 2:
            del record.config["kind"]
        if i % 3:
            record.config["depth"] = i
    records.append(
        TrialRecord(
            trial_id="failed",
            config={"p0": 0.5, "p1": 0.5, "kind": "relu", "depth": 2},
            metric="loss",
            value=None,
            status="error",
            error="Traceback (most recent call last):\n  ...\nValueError: diverged\n",
            start="2026-11-25T11:00:00+00:00",
            end="2026-11-25T11:00:01+00:00",
            source={"kind": "local", "run": "r1"},
        )
    )
    trials = Trials(metric="loss", mode="min", hyperparameters=["p0", "p1", "kind", "depth"])
    trials.add(records)
    return trials


def _write_jsonl(path, trials: Trials):
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in trials.records))
    return path


EVERY_FILE = ("--to_csv", "--to_json", "--summary", "--to_html", "--to_pcp")


def test_a_parameter_missing_in_some_trials_renders_everywhere(tmp_path):
    trials = gappy()
    _write_jsonl(tmp_path / "g.jsonl", trials)
    _report("g.jsonl", "--mode", "min", *EVERY_FILE, "-o", "g", "-q")
    scored = sorted((r for r in trials.records if r.value is not None), key=lambda r: r.value)
    rows = list(csv.DictReader(open("g.csv")))
    assert [r["kind"] for r in rows[:-1]] == [r.config.get("kind", "") for r in scored]  # an empty cell
    assert [r["depth"] for r in rows[:-1]] == [
        str(float(r.config["depth"])) if "depth" in r.config else "" for r in scored
    ]
    records = json.loads(open("g.json").read())
    assert [r["kind"] for r in records[:-1]] == [r.config.get("kind") for r in scored]  # null
    for path in ("g.html", "g_pcp.html"):
        p0, p1, kind, depth, loss = pcp_of(tmp_path / path)
        assert kind["ticktext"] == ["(none)", *sorted({r.config["kind"] for r in scored if "kind" in r.config})]
        assert [kind["ticktext"][code] for code in kind["values"]] == [r.config.get("kind", "(none)") for r in scored]
        below, *ticks = depth["tickvals"]
        assert depth["ticktext"][0] == "(none)" and below < min(ticks) and depth["range"][0] == below
        assert depth["values"] == [r.config.get("depth", below) for r in scored]  # off the axis, not drawn as 0
        assert loss["values"] == pytest.approx([r.value for r in scored], rel=1e-6)
    figures, _ = figures_of(tmp_path / "g.html")
    scatter = {trace["name"]: trace for trace in figures["hg-scatter"]["data"]}
    assert scatter["kind"]["x"] == [r.config.get("kind", "(none)") for r in scored]  # a category of its own
    assert scatter["depth"]["x"] == [r.config.get("depth") for r in scored]  # a gap: no point
    assert sum(len(trace["y"]) for trace in figures["hg-history"]["data"][:-1]) == len(scored)
    shown = table_of(open("g.html").read())
    assert [r["kind"] for r in shown[:-1]] == [r.config.get("kind", "") for r in scored]  # an empty cell
    assert [r["depth"] for r in shown[:-1]] == [str(r.config.get("depth", "")) for r in scored]


def table_of(page: str) -> list[dict]:
    """The rows of a page's table as {header: cell text}."""
    import re

    head, body = page.split("<table id='hg-table'>")[1].split("<tbody>")
    names = re.findall(r"<th[^>]*>(.*?)</th>", head)
    return [
        dict(zip(names, re.findall(r"<td[^>]*>(.*?)</td>", row), strict=True))
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_an_error_trial_without_a_value_in_every_export(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    trials = gappy()
    _write_jsonl(tmp_path / "g.jsonl", trials)
    uri = f"sqlite:///{tmp_path / 'ml.db'}"
    _report(
        "g.jsonl",
        "--mode",
        "min",
        *EVERY_FILE,
        "--to_mlflow",
        "--mlflow-uri",
        uri,
        "--extra",
        "trial_id,error",
        "-o",
        "g",
    )
    rows = list(csv.DictReader(open("g.csv")))
    assert len(rows) == 9 and rows[-1]["trial_id"] == "failed"  # counted, and after every trial with a value
    assert rows[-1]["loss"] == "" and rows[-1]["status"] == "error" and rows[-1]["error"] == "ValueError: diverged"
    last = json.loads(open("g.json").read())[-1]
    assert last["trial_id"] == "failed" and last["loss"] is None and last["status"] == "error"
    summary = json.loads(open("g_summary.json").read())
    assert summary["trials"] == 9 and summary["scored"] == 8 and summary["counts"] == {"terminated": 8, "error": 1}
    assert summary["best"]["trial_id"] != "failed" and summary["best"]["value"] == pytest.approx(
        min(r.value for r in trials.records if r.value is not None)
    )
    page = open("g.html").read()
    assert "9 trials (8 terminated, 1 error)" in page
    shown = table_of(page)
    assert len(shown) == 9 and shown[-1]["trial_id"] == "failed" and shown[-1]["status"] == "error"
    assert shown[-1]["loss"] == "" and shown[-1]["error"] == "ValueError: diverged"  # the metric's cell is empty
    assert len(pcp_of(tmp_path / "g_pcp.html")[-1]["values"]) == 8  # the plots show the trials with a value
    client = MlflowClient(tracking_uri=uri)
    (failed,) = client.search_runs(
        [client.get_experiment_by_name("hpogrid").experiment_id], "attributes.run_name = 'failed'"
    )
    assert failed.info.status == "FAILED" and "loss" not in failed.data.metrics
    assert failed.data.tags["status"] == "error" and "ValueError: diverged" in failed.data.tags["error"]


@pytest.mark.parametrize("failing", ["html.pcp_page", "mlflow_export.export"])
def test_a_failed_export_writes_no_file(tmp_path, monkeypatch, failing):
    from hpogrid.errors import HpogridError

    module, name = failing.split(".")
    if module == "mlflow_export":
        pytest.importorskip("mlflow")

    def fail(*args, **kwargs):
        raise HpogridError("cannot go on")

    monkeypatch.setattr(f"hpogrid.report.{module}.{name}", fail)
    _write_jsonl(tmp_path / "g.jsonl", synthetic(20))
    (tmp_path / "g.csv").write_text("old\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_cli(
        "report", "g.jsonl", "--mode", "min", *EVERY_FILE, "--to_mlflow", "--mlflow-uri", "sqlite:///m.db", "-o", "g"
    )  # fmt: skip
    assert done.exit_code == 2 and done.stderr == "Error: cannot go on\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing new (no MLflow store), nothing left over
    assert (tmp_path / "g.csv").read_text() == "old\n"  # nothing replaced


def test_bounds_and_top_for_mode_max(tmp_path):
    trials = synthetic(20)
    _write_jsonl(tmp_path / "s.jsonl", trials)
    best_first = sorted((r.value for r in trials.records), reverse=True)

    def values(*args):
        _report("s.jsonl", "--mode", "max", "--to_json", "-o", "m", "-q", *args)
        return [r["loss"] for r in json.loads(open("m.json").read())]

    assert values("--top", "3") == pytest.approx(best_first[:3])  # the three highest, highest first
    low, high = best_first[12], best_first[4]
    assert values("--min", str(low), "--max", str(high)) == pytest.approx(best_first[4:13])
    assert values("--max", str(high), "--top", "2") == pytest.approx(best_first[4:6])  # the best within the bounds
    assert values("--min", str(best_first[0] + 1)) == []
    _report("s.jsonl", "--mode", "max", "--top", "3", "--summary", "-o", "m", "-q")
    summary = json.loads(open("m_summary.json").read())  # the analysis covers every trial: --top limits the table
    assert summary["mode"] == "max" and summary["best"]["value"] == pytest.approx(best_first[0])
    assert summary["trials"] == 20 and [r["loss"] for r in summary["top"]] == pytest.approx(best_first[:5])


def test_output_paths_that_cannot_be_written_are_one_line_and_write_nothing(tmp_path):
    _write_jsonl(tmp_path / "t.jsonl", synthetic(20))
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "r.json").mkdir()  # the JSON export's path is a folder: the write itself fails
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for outname, expected in [
        ("missing/dir/r", "--outname: folder missing/dir does not exist"),
        ("a_file/r", "--outname: a_file is a file, not a folder"),
        ("r", "cannot write "),
    ]:
        result = run_cli("report", "t.jsonl", "--mode", "min", "--to_csv", "--to_json", "-o", outname, "-q")
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("Error: ") and expected in line and "Traceback" not in result.output
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing half-written


def test_outname_dash_writes_the_one_format_to_stdout(tmp_path):
    trials = synthetic(20)
    _write_jsonl(tmp_path / "t.jsonl", trials)
    result = _report("t.jsonl", "--mode", "min", "--to_csv", "-o", "-")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 20 and float(rows[0]["loss"]) == pytest.approx(min(r.value for r in trials.records))
    records = json.loads(_report("t.jsonl", "--mode", "min", "--to_json", "-o", "-", "--analyze").stdout)
    assert len(records) == 20  # stdout holds the file alone: no table, no analysis
    assert not list(tmp_path.glob("-*")) and not (tmp_path / "hpo_result.csv").exists()
    for formats in ([], ["--to_csv", "--to_json"]):
        refused = run_cli("report", "t.jsonl", "--mode", "min", *formats, "-o", "-")
        assert refused.exit_code == 2 and "-o -: give exactly one of" in refused.stderr
