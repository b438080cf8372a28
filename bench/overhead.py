"""Orchestration overhead of `hpogrid local_run` against a hand-tuned plain Ray Tune script.

Both run N trivial trials (one report each, random search, max_concurrent 2) as fresh processes in
the same session, each starting its own Ray, alternating; the fit phase of each is timed from
inside the process, from Ray being ready to the end of the search (Ray's start-up and shutdown are
excluded; start-up is printed separately). hpogrid's time includes writing its records and summary.
Prints trials/s of both, their ratio (target: hpogrid >= 1.0x the plain script) and the time to the
first finished trial.

Usage:  python bench/overhead.py [--trials 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PLAIN = textwrap.dedent(
    """
    import json, os, sys, time
    os.environ.update(TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1", RAY_AIR_NEW_OUTPUT="0", RAY_CHDIR_TO_TRIAL_DIR="0")
    import ray
    from ray import tune

    class First(tune.Callback):
        first = None
        def on_trial_complete(self, iteration, trials, trial, **info):
            First.first = First.first or time.time()

    def objective(config):
        tune.report({"loss": (config["height"] - 14) ** 2 - abs(config["width"] - 3)})

    t0 = time.time()
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ready = time.time()
    tuner = tune.Tuner(
        objective,
        param_space={"height": tune.uniform(-100, 100), "width": tune.uniform(0, 20)},
        tune_config=tune.TuneConfig(num_samples=int(sys.argv[1]), reuse_actors=True, metric="loss", mode="min",
                                    search_alg=tune.search.BasicVariantGenerator(max_concurrent=2)),
        run_config=tune.RunConfig(storage_path=sys.argv[2], name="plain", verbose=0, callbacks=[First()]),
    )
    tuner.fit()
    end = time.time()
    print(json.dumps({"start": ready - t0, "fit": end - ready, "first": First.first - ready}))
    """
)
HPOGRID = textwrap.dedent(
    """
    import json, sys, time
    import ray
    from hpogrid.local import runner
    from hpogrid.project import ProjectStore

    original, shutdown = runner.start_ray, ray.shutdown
    marks = {}
    def timed_start(*args, **kwargs):
        t0 = time.time()
        started = original(*args, **kwargs)
        marks["start"], marks["ready"] = time.time() - t0, time.time()
        return started
    def timed_shutdown(*args, **kwargs):
        marks["end"] = time.time()  # like the plain script: Ray's shutdown is not timed
        return shutdown(*args, **kwargs)
    runner.start_ray, ray.shutdown = timed_start, timed_shutdown
    result = runner.run(ProjectStore().load("bench"), runner.RunOptions(quiet=True))
    end = marks["end"]
    ends = sorted(r.end for r in result.records)
    import datetime as dt
    first = dt.datetime.fromisoformat(ends[0]).timestamp() - marks["ready"]
    print(json.dumps({"start": marks["start"], "fit": end - marks["ready"], "first": max(first, 0.0),
                      "trials": len(result.records)}))
    """
)


def measure(command: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hpogrid-bench-"))
    env = dict(os.environ, HPOGRID_BASE_PATH=str(base))
    hpogrid = [str(Path(sys.executable).parent / "hpogrid")]
    repo = Path(__file__).resolve().parent.parent
    try:
        setup = [
            [
                "hpo_config",
                "create",
                "bench",
                "--num_trials",
                str(args.trials),
                "--max_concurrent",
                "2",
                "--scheduler",
                "fifo",
            ],
            ["search_space", "create", "bench", str(repo / "config/search_space/example_simple_objective_space.json")],
            ["model_config", "create", "bench", "--script", "simple_objective.py", "--model", "simple_objective"],
            [
                "project",
                "create",
                "bench",
                "--scripts_path",
                str(repo / "example/scripts/simple_objective.py"),
                "--hpo_config",
                "bench",
                "--model_config",
                "bench",
                "--search_space",
                "bench",
            ],
        ]
        for command in setup:
            subprocess.run(hpogrid + command, env=env, check=True, stdout=subprocess.DEVNULL)
        ours, theirs = [], []
        for _ in range(args.rounds):
            storage = tempfile.mkdtemp(dir=base)
            theirs.append(measure([sys.executable, "-c", PLAIN, str(args.trials), storage], env))
            ours.append(measure([sys.executable, "-c", HPOGRID], env))
            assert ours[-1]["trials"] == args.trials, ours[-1]
        fit_ours = statistics.median(r["fit"] for r in ours)
        fit_theirs = statistics.median(r["fit"] for r in theirs)
        print(f"{args.trials} trivial trials, max_concurrent 2, median of {args.rounds} rounds (Ray start excluded)")
        print(
            f"  plain Ray Tune script  {args.trials / fit_theirs:6.1f} trials/s  "
            f"first trial after {statistics.median(r['first'] for r in theirs):5.2f} s  "
            f"Ray start {statistics.median(r['start'] for r in theirs):4.1f} s"
        )
        print(
            f"  hpogrid local_run      {args.trials / fit_ours:6.1f} trials/s  "
            f"first trial after {statistics.median(r['first'] for r in ours):5.2f} s  "
            f"Ray start {statistics.median(r['start'] for r in ours):4.1f} s"
        )
        print(f"  ratio hpogrid/plain    {fit_theirs / fit_ours:5.2f}x (target >= 1.0x)")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
