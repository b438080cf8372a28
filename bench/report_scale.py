"""`hpogrid report` at scale: 10,000 trials x 10 parameters -> CSV + HTML + parallel coordinates.

Times, in this process, hpogrid's report (read the trials.jsonl, build the table, analyze, write the
CSV, the full HTML page and the parallel-coordinates page; target <= 3 s) against a baseline done by
hand with the same libraries in the same process (pandas to_csv of the flat table plus plotly's own
parallel-coordinates figure written with plotly.js embedded), and prints the ratio, the page sizes, and
the wall time of the whole `hpogrid report` command as a fresh process (imports included).

Then the MLflow export: 1,000 trials x 10 parameters x 50 iterations (the metric's history) into a
sqlite store (target <= 10 s), against a baseline by hand with MLflow's client in the same process
(create_run with the tags, one log_batch of the params and the history, set_terminated, per trial),
each into its own store with MLflow's tables made before; then the same export again (nothing to add:
the idempotence check), and how long MLflow takes to make its tables in a new store (once per store).

Usage:  python bench/report_scale.py [--trials 10000] [--params 10] [--rounds 3]
                                     [--mlflow-trials 1000] [--iterations 50] [--mlflow-rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_trials(path: Path, n: int, params: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    kinds = ["relu", "tanh", "gelu"]
    with open(path, "w") as handle:
        for i in range(n):
            config = {f"p{j}": rng.random() for j in range(params - 1)}
            config["kind"] = rng.choice(kinds)
            loss = 3 * config["p0"] + kinds.index(config["kind"]) * 0.2 + rng.gauss(0, 0.05)
            record = {
                "trial_id": f"t{i:05d}", "config": config, "metric": "loss", "value": loss, "status": "terminated",
                "iterations": 1, "extra": {}, "last_result": {"loss": loss}, "history": {}, "error": None,
                "start": f"2026-11-25T10:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00+00:00",
                "end": None, "duration_s": 1.0, "host": "node",
                "source": {"kind": "grid", "task": 1000 + i % 4, "job": 5000 + i % 40, "site": "ANALY_X"},
            }  # fmt: skip
            handle.write(json.dumps(record) + "\n")


def hpogrid_report(trials: Path, out: Path) -> None:
    from hpogrid.report import Outputs, write
    from hpogrid.report.analysis import analyze
    from hpogrid.report.collect import read_file
    from hpogrid.report.table import build

    table = build(read_file(trials, "min"))
    write(table, analyze(table), Outputs(out / "hpo_result", ("csv", "html", "pcp"), "bench"))


def baseline(trials: Path, out: Path) -> None:
    import pandas as pd
    import plotly.graph_objects as go

    rows = []
    with open(trials) as handle:
        for line in handle:
            record = json.loads(line)
            rows.append({**record["config"], "loss": record["value"]})
    frame = pd.DataFrame(rows).sort_values("loss")
    frame.to_csv(out / "base.csv", index=False)
    codes = frame["kind"].astype("category").cat.codes
    dims = [dict(label=c, values=frame[c]) for c in frame.columns if c != "kind"] + [dict(label="kind", values=codes)]
    go.Figure(go.Parcoords(dimensions=dims, line=dict(color=frame["loss"]))).write_html(
        out / "base.html", include_plotlyjs=True
    )


def history_table(n: int, params: int, iterations: int, seed: int = 1):
    """The report table of n trials, each with the metric's history over the iterations."""
    from hpogrid.report.collect import Trials
    from hpogrid.report.table import build
    from hpogrid.results import TrialRecord

    rng = random.Random(seed)
    records = []
    for i in range(n):
        config = {f"p{j}": rng.random() for j in range(params - 1)}
        config["kind"] = rng.choice(["relu", "tanh", "gelu"])
        loss = [3 * config["p0"] + 1 / k + rng.gauss(0, 0.01) for k in range(1, iterations + 1)]
        records.append(
            TrialRecord(
                trial_id=f"t{i:05d}", config=config, metric="loss", value=loss[-1], status="terminated",
                iterations=iterations, history={"iteration": list(range(1, iterations + 1)), "loss": loss},
                start="2026-11-25T10:00:00+00:00", end="2026-11-25T10:01:00+00:00", duration_s=60.0,
                source={"kind": "local", "run": "20261125-100000-000"},
            )
        )  # fmt: skip
    trials = Trials(metric="loss", mode="min", hyperparameters=[*config])
    trials.add(records)
    return build(trials)


def new_store(uri: str) -> None:
    """A sqlite store with MLflow's tables made (MLflow's one-time cost, outside the timings)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).get_experiment_by_name("none")


def mlflow_by_hand(table, uri: str) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("bench")
    for record in table.records:
        run = client.create_run(experiment, start_time=1, tags={"trial": record.trial_id}, run_name=record.trial_id)
        steps = record.history["iteration"]
        metrics = [Metric("loss", v, 2, s) for s, v in zip(steps, record.history["loss"], strict=True)]
        params = [Param(k, str(v)) for k, v in record.config.items()]
        client.log_batch(run.info.run_id, metrics=metrics, params=params)
        client.set_terminated(run.info.run_id, "FINISHED", end_time=2)


def mlflow_bench(args, out: Path) -> None:
    import logging

    from hpogrid.report.mlflow_export import export

    logging.getLogger("alembic").setLevel(logging.WARNING)
    table = history_table(args.mlflow_trials, args.params, args.iterations)
    uris = iter(f"sqlite:///{out / f'mlflow{i}.db'}" for i in range(1000))
    export(history_table(2, args.params, 2), next(uris), "bench")  # warm up: imports
    made = timed(new_store, next(uris))
    ours, base = [], []
    for _ in range(args.mlflow_rounds):
        uri = next(uris)
        new_store(uri)
        ours.append(timed(export, table, uri, "bench"))
        again = timed(export, table, uri, "bench")
        uri = next(uris)
        new_store(uri)
        base.append(timed(mlflow_by_hand, table, uri))
    mine, theirs = statistics.median(ours), statistics.median(base)
    print(
        f"\nMLflow export, {args.mlflow_trials} trials x {args.params} parameters x {args.iterations} iterations, "
        f"sqlite, {args.mlflow_rounds} round(s) (median)"
    )
    print(f"hpogrid --to_mlflow into a store made before:          {mine:.2f} s   (target <= 10 s)")
    print(f"baseline by hand (MlflowClient, 3 calls per trial):     {theirs:.2f} s")
    print(f"ratio hpogrid / baseline: {mine / theirs:.2f}x")
    print(f"MLflow making its tables in a new sqlite store (once):  {made:.2f} s   (MLflow's migrations)")
    print(f"the same export again (nothing to add):                 {again:.2f} s")


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mlflow-trials", type=int, default=1000, help="0: no MLflow export")
    parser.add_argument("--iterations", type=int, default=50, help="history length of each trial (MLflow)")
    parser.add_argument("--mlflow-rounds", type=int, default=1, help="the baseline takes about a minute a round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpogrid-bench-report-") as folder:
        out = Path(folder)
        trials = out / "trials.jsonl"
        write_trials(trials, args.trials, args.params)
        hpogrid_report(trials, out)  # warm up: imports, plotly.js read once
        baseline(trials, out)
        ours, base = [], []
        for _ in range(args.rounds):  # alternate, so drift of the machine hits both alike
            ours.append(timed(hpogrid_report, trials, out))
            base.append(timed(baseline, trials, out))
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "hpogrid", "report", str(trials), "--mode", "min", "-q", "--to_csv", "--to_html",
             "--to_pcp", "-o", str(out / "cli")],
            capture_output=True, text=True, check=False, env={**os.environ, "HPOGRID_BASE_PATH": folder},
        )  # fmt: skip
        cold = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"hpogrid report failed: {done.stderr}")
        page, pcp = (out / "hpo_result.html").stat().st_size, (out / "hpo_result_pcp.html").stat().st_size
        mine, theirs = statistics.median(ours), statistics.median(base)
        print(f"{args.trials} trials x {args.params} parameters, {args.rounds} rounds (median)")
        print(f"hpogrid report (CSV + HTML page + parallel coordinates): {mine:.2f} s   (target <= 3 s)")
        print(f"baseline by hand (CSV + plotly parallel coordinates):     {theirs:.2f} s")
        print(f"ratio hpogrid / baseline: {mine / theirs:.2f}x")
        print(f"`hpogrid report` as a fresh process, imports included: {cold:.2f} s")
        print(f"HTML page {page / 1e6:.1f} MB, parallel coordinates page {pcp / 1e6:.1f} MB")
        if args.mlflow_trials:
            mlflow_bench(args, out)


if __name__ == "__main__":
    main()
