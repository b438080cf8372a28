"""Grid scale-out: one project submitted with n_jobs 1, 2 and 4 to the local PanDA-compatible server.

Everything goes through the real path: `hpogrid run` (sandbox, upload, one task), the server runs the
jobs (each `hpogrid job_run` in a subprocess, SLOTS at once), the job metadata comes back through
panda-client. Prints the wall time of each task (submission to done) as a ratio to n_jobs 1, and
the number of points evaluated twice across the jobs of a task (target 0): jobs that were dealt the
same grid points, or drew x with the same seed, would repeat whole points.

Usage:  python bench/grid_scaleout.py [--trials 24] [--trial-seconds 1.0] [--slots 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SCRIPT = textwrap.dedent(
    """
    import time

    def train(config, reporter):
        time.sleep(config["seconds"])
        reporter(loss=(config["x"] - 0.3) ** 2 + config["c"])
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--trial-seconds", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=4, help="jobs the server runs at once")
    args = parser.parse_args()
    from tests.panda_server import PandaServer

    root = Path(tempfile.mkdtemp(prefix="hpogrid-scaleout-"))
    server = PandaServer(root / "server", slots=args.slots)
    saved = dict(os.environ)
    try:
        os.environ.update(server.client_env())
        os.environ.update(HPOGRID_BASE_PATH=str(root / "base"), PANDA_CONFIG_ROOT=str(root / "panda"))
        server.state.job_env = {"HPOGRID_NUM_CPUS": "1"}
        from hpogrid.cli import main as hpogrid
        from hpogrid.grid.gateway import Gateway

        (root / "train.py").write_text(SCRIPT)
        space = {
            "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
            "c": {"method": "categorical", "dimension": {"categories": [0, 1, 2], "grid_search": 1}},
        }
        (root / "space.json").write_text(json.dumps(space))
        steps = [
            ["hpo_config", "create", "h", "--algorithm", "grid", "--num_trials", str(args.trials),
             "--max_concurrent", "1", "--scheduler", "fifo"],
            ["search_space", "create", "s", str(root / "space.json")],
            ["model_config", "create", "m", "--script", "train.py", "--model", "train",
             "--param", json.dumps({"seconds": args.trial_seconds})],
            ["project", "create", "scale", "--scripts_path", str(root / "train.py"), "--hpo_config", "h",
             "--model_config", "m", "--search_space", "s"],
        ]  # fmt: skip
        for step in steps:
            if hpogrid(step) != 0:
                raise SystemExit(f"setting up failed at: hpogrid {' '.join(step)}")
        rows = []
        for n_jobs in (1, 2, 4):
            before = set(server.state.tasks)
            start = time.time()
            if hpogrid(["run", "scale", "--n_jobs", str(n_jobs)]) != 0:
                raise SystemExit(f"hpogrid run --n_jobs {n_jobs} failed")
            (task_id,) = set(server.state.tasks) - before
            task = server.state.wait(task_id, timeout=3600)
            wall = time.time() - start
            metadata = Gateway().job_metadata(task_id)
            points = [json.dumps(t["config"], sort_keys=True) for m in metadata.values() for t in m["trials"]]
            duplicates = sum(count - 1 for count in Counter(points).values())
            rows.append((n_jobs, task.status, len(points), wall, duplicates))
        base = rows[0][3]
        print(f"{args.trials} trials of {args.trial_seconds} s, grid search, server slots {args.slots}")
        print(f"  {'n_jobs':>6}  {'status':>8}  {'trials':>6}  {'wall s':>7}  {'vs 1 job':>8}  {'duplicates':>10}")
        for n_jobs, status, trials, wall, duplicates in rows:
            print(f"  {n_jobs:>6}  {status:>8}  {trials:>6}  {wall:>7.1f}  {base / wall:>7.2f}x  {duplicates:>10}")
        return 0 if all(r[1] == "done" and r[4] == 0 for r in rows) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
