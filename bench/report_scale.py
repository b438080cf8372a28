"""`hpogrid report` at scale: 10,000 trials x 10 parameters -> CSV + HTML + parallel coordinates.

Times, in this process, hpogrid's report (read the trials.jsonl, build the table, analyze, write the
CSV, the full HTML page and the parallel-coordinates page; target <= 3 s) against a baseline done by
hand with the same libraries in the same process (pandas to_csv of the flat table plus plotly's own
parallel-coordinates figure written with plotly.js embedded), and prints the ratio, the page sizes, and
the wall time of the whole `hpogrid report` command as a fresh process (imports included).

Usage:  python bench/report_scale.py [--trials 10000] [--params 10] [--rounds 3]
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


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
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


if __name__ == "__main__":
    main()
