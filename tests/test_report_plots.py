"""The report's plots (issue 12, points 4-6): honest axes, every plot Optuna users expect, each plot on a
page of its own (`--plot NAME`), and `--analyze` over every trial that passes the filters.

The figures are read from the JSON the page embeds; Chromium (tests/browser.py) checks that each page
draws without a script error."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import pytest

from hpogrid.report import PLOT_NAMES
from hpogrid.results import TrialRecord
from tests.conftest import run_cli
from tests.test_report import _report, figures_of, pcp_of

SPACE = {
    "opt": {
        "lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-1}},
        "momentum": {"method": "uniform", "dimension": {"low": 0.5, "high": 0.99}},
    },
    "batch": {"method": "categorical", "dimension": {"categories": [16, 32, 64, 128]}},
    "layers": {"method": "uniformint", "dimension": {"low": 1, "high": 6}},
    "act": {"method": "categorical", "dimension": {"categories": ["relu", "tanh", "gelu"]}},
    "decay": {"method": "lognormal", "dimension": {"mu": -6, "sigma": 1}},
}
OBJECTIVE = "def f(config, reporter):\n    reporter(loss=1.0)\n"
HPO = {"num_trials": 60, "metric": "loss", "mode": "min"}
PLOT_IDS = {
    "history": "hg-history", "learning-curves": "hg-curves", "slice": "hg-scatter", "contour": "hg-contour",
    "importance": "hg-importance", "parallel-coordinates": "hg-pcp", "timeline": "hg-timeline", "edf": "hg-edf",
}  # fmt: skip


def records(n: int = 64, runs=("r1", "r2"), seed: int = 3) -> list[TrialRecord]:
    """n trials of two runs: loss ~ |log10(lr) + 3| + batch and activation effects, losses spanning
    decades; every 7th stopped early by the scheduler, every 13th an error (no value)."""
    rng = random.Random(seed)
    out = []
    start = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone.utc)
    for i in range(n):
        config = {
            "opt": {"lr": 10 ** rng.uniform(-5, -1), "momentum": rng.uniform(0.5, 0.99)},
            "batch": rng.choice([16, 32, 64, 128]),
            "layers": rng.randint(1, 6),
            "act": rng.choice(["relu", "tanh", "gelu"]),
            "decay": math.exp(rng.gauss(-6, 1)),
        }
        final = 10 ** (abs(math.log10(config["opt"]["lr"]) + 3) - 2) * (1 + config["batch"] / 256)
        final *= {"relu": 1.0, "tanh": 4.0, "gelu": 0.3}[config["act"]]
        status = "error" if i % 13 == 12 else "early_stopped" if i % 7 == 3 else "terminated"
        steps = 2 if status == "early_stopped" else 5
        curve = [final * (1 + 2.0 / (k + 1)) for k in range(steps)]
        begin = start + dt.timedelta(seconds=40 * (i // 2) + rng.uniform(0, 5))
        end = begin + dt.timedelta(seconds=30 + 5 * steps)
        out.append(
            TrialRecord(
                trial_id=f"t{i:03d}",
                config=config,
                metric="loss",
                value=None if status == "error" else curve[-1],
                status=status,
                iterations=0 if status == "error" else steps,
                history={} if status == "error" else {"iteration": list(range(1, steps + 1)), "loss": curve},
                error="Traceback\nValueError: diverged\n" if status == "error" else None,
                start=begin.isoformat(),
                end=end.isoformat(),
                duration_s=(end - begin).total_seconds(),
                host="node1",
                source={"kind": "local", "run": runs[i % len(runs)]},
            )
        )
    return out


@pytest.fixture
def project(base, tmp_path):
    """A project with the search space above and two runs of written trial records."""
    from tests.test_local_run import make_project

    made = make_project(tmp_path, "plots", OBJECTIVE, "f", HPO, space=SPACE)
    written = records()
    for run in ("r1", "r2"):
        folder = made.path / "runs" / run
        folder.mkdir(parents=True)
        mine = [r for r in written if r.source["run"] == run]
        (folder / "trials.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in mine))
    return made, written


def axes(figure: dict) -> dict:
    """{axis title: axis} of a cartesian figure."""
    return {v["title"]["text"]: v for k, v in figure["layout"].items() if k.startswith(("xaxis", "yaxis"))}


def test_every_plot_with_log_and_category_axes(project, tmp_path):
    _, written = project
    _report("plots", "--to_html", "-o", "page", "-q")
    figures, _ = figures_of(tmp_path / "page.html")
    assert set(figures) == set(PLOT_IDS.values())  # every plot of the point 5
    scored = [r for r in written if r.value is not None]
    # the slice: log axes for the log methods, category axes (labelled, in order) for the categorical
    slice_axes = axes(figures["hg-scatter"])
    assert slice_axes["opt.lr"]["type"] == "log" and slice_axes["decay"]["type"] == "log"
    assert slice_axes["opt.momentum"]["type"] == "linear" and slice_axes["layers"]["type"] == "linear"
    assert slice_axes["batch"]["type"] == "category" and slice_axes["batch"]["categoryarray"] == [
        "16",
        "32",
        "64",
        "128",
    ]
    assert slice_axes["act"]["type"] == "category" and slice_axes["act"]["categoryarray"] == ["gelu", "relu", "tanh"]
    assert slice_axes["loss"]["type"] == "log"  # the losses span decades
    linear = [a for a in slice_axes.values() if a["type"] == "linear"]
    assert linear and all(a["tickformat"] == "~g" for a in linear)  # no SI ticks like -0.013k
    (lr,) = [t for t in figures["hg-scatter"]["data"] if t["name"] == "opt.lr"]
    best_first = sorted(scored, key=lambda r: r.value)
    assert lr["y"] == pytest.approx([r.value for r in best_first], rel=1e-6)
    assert lr["x"] == pytest.approx([r.config["opt"]["lr"] for r in best_first], rel=1e-6)
    expected = [{"terminated": "circle", "early_stopped": "x"}[r.status] for r in best_first]
    assert lr["marker"]["symbol"] == expected and "x" in expected  # stopped early: marked apart
    # the contour: the two most important parameters (lr, then act), on their own scales
    contour, dots = figures["hg-contour"]["data"]
    assert contour["type"] == "contour" and figures["hg-contour"]["layout"]["xaxis"]["title"]["text"] == "opt.lr"
    assert figures["hg-contour"]["layout"]["xaxis"]["type"] == "log" and min(contour["x"]) >= 1e-5
    assert figures["hg-contour"]["layout"]["yaxis"]["type"] == "category" and contour["y"] == ["gelu", "relu", "tanh"]
    assert len(dots["x"]) == len(scored)
    assert contour["colorbar"]["title"]["text"] == "loss (log)"  # coloured by log10 of the metric, ticks as values
    assert contour["colorbar"]["ticktext"] == [f"{10**t:.3g}" for t in contour["colorbar"]["tickvals"]]
    # parallel coordinates: log10 of lr, ticks labelled with the values; categories as labels
    dimensions = {d["label"]: d for d in pcp_of(tmp_path / "page.html")}
    assert dimensions["opt.lr"]["values"] == pytest.approx(
        [math.log10(r.config["opt"]["lr"]) for r in best_first], abs=1e-6
    )
    line = figures["hg-pcp"]["data"][0]["line"]
    assert line["colorbar"]["title"]["text"] == "loss (log)"
    assert line["color"] == pytest.approx([math.log10(r.value) for r in best_first], abs=1e-6)
    ticks = dimensions["opt.lr"]["tickvals"]
    assert len(ticks) >= 3 and all(t == int(t) for t in ticks)  # decades
    assert (
        dimensions["opt.lr"]["ticktext"] == [f"{10**t:.3g}" for t in ticks]
        and "0.001" in dimensions["opt.lr"]["ticktext"]
    )
    assert (
        dimensions["batch"]["ticktext"] == ["16", "32", "64", "128"]
        and dimensions["opt.momentum"]["tickformat"] == "~g"
    )
    # history: a log y axis (the values span decades), points coloured by run, stopped-early crosses apart
    history = figures["hg-history"]
    assert history["layout"]["yaxis"]["type"] == "log"
    names = [t["name"] for t in history["data"]]
    assert names == ["run r1", "run r1, stopped early", "run r2", "run r2, stopped early", "best so far"]
    colors = [t["marker"]["color"] for t in history["data"][:4]]
    assert colors[0] == colors[1] != colors[2] == colors[3] and history["data"][1]["marker"]["symbol"] == "x"
    assert sum(len(t["x"]) for t in history["data"][:4]) == len(scored)
    best = history["data"][-1]["y"]
    assert best == sorted(best, reverse=True) and best[-1] == pytest.approx(min(r.value for r in scored), rel=1e-6)
    # learning curves: each trial's history, one break (None) after each trial
    curves = {t["name"]: t for t in figures["hg-curves"]["data"]}
    assert set(curves) == {"completed", "stopped early"} and figures["hg-curves"]["layout"]["yaxis"]["type"] == "log"
    assert curves["stopped early"]["x"].count(None) == sum(r.status == "early_stopped" for r in written)
    # the timeline: every trial (errors too) per worker lane, coloured by state, no two bars overlapping
    bars = {t["name"]: t for t in figures["hg-timeline"]["data"]}
    assert set(bars) == {"completed", "stopped early", "error"}
    assert sum(len(t["y"]) for t in bars.values()) == len(written)
    assert {y for t in bars.values() for y in t["y"]} >= {"node1 #1", "node1 #2"}
    assert figures["hg-timeline"]["layout"]["xaxis"]["type"] == "date"
    # the EDF: one curve per run, ending at 1
    edf = figures["hg-edf"]["data"]
    assert [t["name"].split(" (")[0] for t in edf] == ["run r1", "run r2"] and all(t["y"][-1] == 1 for t in edf)
    assert figures["hg-edf"]["layout"]["xaxis"]["type"] == "log"
    # importance ranks lr first
    assert figures["hg-importance"]["data"][0]["y"][-1] == "opt.lr"


def test_a_results_file_infers_log_axes(project, tmp_path):
    """A results file has no search space: positive values spanning two decades go on a log axis."""
    made, written = project
    _report(str(made.path / "runs" / "r1" / "trials.jsonl"), "--mode", "min", "--to_html", "-o", "f", "-q")
    slice_axes = axes(figures_of(tmp_path / "f.html")[0]["hg-scatter"])
    assert slice_axes["opt.lr"]["type"] == "log" and slice_axes["opt.momentum"]["type"] == "linear"
    assert slice_axes["act"]["type"] == "category"
    assert slice_axes["batch"]["type"] == "linear"  # numbers spanning under two decades: no way to know better


def test_mixed_sign_values_keep_a_linear_history(tmp_path):
    mixed = records(30, runs=("r1",))
    for k, record in enumerate(mixed):
        if record.value is not None:
            record.value = (-1) ** k * record.value
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r.to_json()) + "\n" for r in mixed))
    _report("m.jsonl", "--mode", "min", "--to_html", "-o", "m", "-q")
    history = figures_of(tmp_path / "m.html")[0]["hg-history"]
    assert history["layout"]["yaxis"]["type"] == "linear" and history["layout"]["yaxis"]["exponentformat"] == "e"


def test_each_plot_alone_and_a_mistyped_name(project, tmp_path):
    for name in PLOT_NAMES:
        _report("plots", "--plot", name, "-o", "alone", "-q")
        page = tmp_path / f"alone_{name}.html"
        figures, _ = figures_of(page)
        assert list(figures) == [PLOT_IDS[name]], name
        assert "<table" not in page.read_text()
    _report("plots", "--plot", "contour", "-o", str(tmp_path / "one.html"), "-q")  # one page: the very name
    assert list(figures_of(tmp_path / "one.html")[0]) == ["hg-contour"]
    _report("plots", "--plot", "edf", "--plot", "timeline", "-o", "two", "-q")
    assert (tmp_path / "two_edf.html").is_file() and (tmp_path / "two_timeline.html").is_file()
    done = run_cli("report", "plots", "--plot", "contur")
    assert done.exit_code == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.output
    assert done.stderr.startswith("Error: --plot: no plot named 'contur' (did you mean 'contour'?); plots: history,")
    help_text = run_cli("report", "--help").stdout
    listed = [
        line.split()[0] for line in help_text.split("--plot NAME writes one alone):\n")[1].split("\n\n")[0].splitlines()
    ]
    assert listed == list(PLOT_NAMES) and "--plot NAME" in help_text


def test_analyze_covers_every_trial_top_limits_the_table(project, tmp_path):
    _, written = project
    scored = sorted(r.value for r in written if r.value is not None)
    done = _report("plots", "--top", "3", "--analyze", "--summary", "--to_json", "--to_html", "-o", "t")
    assert f"{len(written)} trials (" in done.stdout
    summary = json.loads((tmp_path / "t_summary.json").read_text())
    assert summary["trials"] == len(written) and summary["scored"] == len(scored)
    assert [r["loss"] for r in summary["top"]] == pytest.approx(scored[:5])
    assert [r["loss"] for r in json.loads((tmp_path / "t.json").read_text())] == pytest.approx(scored[:3])
    figures, _ = figures_of(tmp_path / "t.html")
    assert sum(len(t["x"]) for t in figures["hg-history"]["data"][:-1]) == len(scored)  # the plots: all
    page = (tmp_path / "t.html").read_text()
    assert page.count("<tr>") == 4 and f"the best 3 of {len(written)}" in page


def test_the_pages_draw_in_chromium(project, tmp_path):
    from tests.browser import probe

    _report("plots", "--to_html", *[a for name in PLOT_NAMES for a in ("--plot", name)], "-o", "p", "-q")
    seen = probe(tmp_path / "p.html", tmp_path, sort_column="loss")
    assert seen["errors"] == [] and seen["plotted"] == str(len(PLOT_NAMES))
    drawn = {p["id"]: p for p in seen["plots"]}
    assert set(drawn) == set(PLOT_IDS.values()) and all(p["svg"] > 0 and p["traces"] > 0 for p in drawn.values())
    for name in PLOT_NAMES:
        seen = probe(tmp_path / f"p_{name}.html", tmp_path)
        assert seen["errors"] == [] and [p["id"] for p in seen["plots"]] == [PLOT_IDS[name]], name


def test_grid_tasks_colour_the_history_and_are_the_timeline_rows(tmp_path):
    from tests.test_report import _write_jsonl, synthetic

    _write_jsonl(tmp_path / "g.jsonl", synthetic(200, params=3))  # 4 tasks of 10 jobs each
    _report("g.jsonl", "--mode", "min", "--to_html", "-o", "g", "-q")
    figures, _ = figures_of(tmp_path / "g.html")
    tasks = [f"task {t}" for t in range(1000, 1004)]
    assert [t["name"] for t in figures["hg-history"]["data"]] == [*tasks, "best so far"]
    assert [t["name"] for t in figures["hg-edf"]["data"]] == [f"{task} (50)" for task in tasks]
    (bars,) = figures["hg-timeline"]["data"]
    assert set(bars["y"]) == {f"task {1000 + j % 4} job {5000 + j}" for j in range(40)}  # a row per grid job


def test_log_scale_inferred_from_values_alone():
    import pandas as pd

    from hpogrid.report.scales import parameter_scale

    rng = random.Random(0)
    uniform = pd.Series([rng.random() for _ in range(10_000)])  # spans four decades, yet uniform
    log_uniform = pd.Series([10 ** rng.uniform(-6, -1) for _ in range(200)])
    assert parameter_scale(uniform, None) == "linear" and parameter_scale(log_uniform, None) == "log"
    assert parameter_scale(uniform, "loguniform") == "log"  # the search space says so
    assert parameter_scale(pd.Series([16, 32, 64, 128]), "categorical") == "category"
    assert parameter_scale(pd.Series([-1.0, 1e-3, 10.0]), "loguniform") == "linear"  # no log of a negative


TRAINING = """
import math

def train(config, reporter):
    if config["act"] == "tanh" and config["layers"] == 6:
        raise ValueError("diverged")
    final = 10 ** (abs(math.log10(config["opt"]["lr"]) + 3) - 2) * (1 + config["batch"] / 256)
    for step in range(4):
        reporter(loss=final * (1 + 2.0 / (step + 1)))
"""


def test_a_real_run_with_asha(ray_session, base, tmp_path):
    """A real local run (50 trials, ASHA stops some, a few fail): every plot is drawn from its records,
    the loguniform parameter on log axes, stopped-early trials marked apart, lanes no wider than the run."""
    from hpogrid.local.runner import RunOptions, run
    from tests.browser import probe
    from tests.test_local_run import make_project

    hpo = {
        "num_trials": 50, "max_concurrent": 2, "seed": 5, "scheduler": "asynchyperband",
        "scheduler_param": {"grace_period": 1, "reduction_factor": 2}, "stop": {"training_iteration": 4},
    }  # fmt: skip
    made = make_project(tmp_path, "real", TRAINING, "train", hpo, space=SPACE)
    result = run(made, RunOptions(quiet=True))
    statuses = {r.status for r in result.records}
    assert len(result.records) == 50 and statuses == {"terminated", "early_stopped", "error"}, statuses
    _report("real", "--to_html", "-o", "real", "-q")
    figures, _ = figures_of(tmp_path / "real.html")
    assert set(figures) == set(PLOT_IDS.values())
    assert axes(figures["hg-scatter"])["opt.lr"]["type"] == "log"
    assert figures["hg-contour"]["layout"]["xaxis"]["title"]["text"] == "opt.lr"
    assert figures["hg-contour"]["layout"]["xaxis"]["type"] == "log"
    symbols = {t["marker"]["symbol"] for t in figures["hg-history"]["data"][:-1]}
    assert symbols == {"circle", "x"}  # stopped early: crosses
    lanes = {y for t in figures["hg-timeline"]["data"] for y in t["y"]}
    assert 1 <= len(lanes) <= 2  # max_concurrent 2 on one host
    curves = {t["name"]: t["x"].count(None) for t in figures["hg-curves"]["data"]}
    assert curves["completed"] + curves["stopped early"] == sum(r.status != "error" for r in result.records)
    seen = probe(tmp_path / "real.html", tmp_path)
    assert seen["errors"] == [] and seen["plotted"] == str(len(PLOT_NAMES))


def test_every_kind_of_trial_is_grouped_as_the_table_names_it():
    """The history's colours, the timeline's lanes and the table's source column name a trial's run or task
    alike (one labelling, hpogrid.report.table.label_of): an emulated job is not 'task None'."""
    from hpogrid.report.plots import group_of
    from hpogrid.report.table import source_label
    from hpogrid.report.timeline import worker_of

    sources = {
        "local": ({"kind": "local", "run": "20261203-1"}, "run 20261203-1", "vm"),
        "grid": ({"kind": "grid", "task": 7, "job": 70}, "task 7", "task 7 job 70"),
        "idds": ({"kind": "idds", "task": 8, "job": 80}, "idds 8", "idds 8 job 80"),
        "emulated": (
            {"kind": "emulated", "run": "emulate-20261203-2", "job": 1},
            "emulated 20261203-2",
            "emulated 20261203-2 job 1",
        ),
        "legacy": ({"kind": "legacy", "file": "/data/old/run"}, "legacy old/run", "legacy old/run"),
    }
    for kind, (source, group, lane) in sources.items():
        fields = {"trial_id": "t", "config": {}, "metric": "loss", "value": 1.0, "status": "terminated"}
        record = TrialRecord.parse({**fields, "source": source, "host": "vm"})
        assert group_of(record) == group and worker_of(record) == lane, kind
        assert source_label(record).startswith(group.replace("run ", "local ")), kind
