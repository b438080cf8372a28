"""Wall time of `hpogrid local_run` against the same search without hpogrid's machinery (issue 13).

(a) Quick Start example 3's search (example/scripts/mnist.py, config/hpo_config/example_mnist_asha.json
    with 40 trials: hyperopt, ASHA with grace period 2 and reduction factor 3, 20 epochs, max_concurrent 2)
    as `hpogrid local_run`, against the same search written directly with Optuna in one process (TPE,
    SuccessiveHalvingPruner with the same grace period and reduction factor, 40 trials, 20 epochs):
    wall time of each process, their ratio (target: hpogrid <= 3x Optuna) and the best accuracy of each.
    Optuna's process gets one BLAS/OpenMP thread, as Ray gives each trial of 1 CPU (on a 2-CPU machine
    that is ~5x faster than the default threads). --compare CHECKOUT adds another hpogrid (e.g. a main
    checkout), run the same way with its folder first on PYTHONPATH.
(b) Time from starting `hpogrid local_run` (Quick Start example 1: 20 trivial trials, max_concurrent 2) to
    its first finished trial, against Ray's own start-up (a process doing `import ray; ray.init()` until
    Ray is ready). Both from the first line of their process. Target: hpogrid <= Ray's start-up + 1 s.
Every measurement is a fresh process; the kinds alternate, `--rounds` times; figures are medians.
(The throughput of trivial trials against a plain Ray Tune script is bench/overhead.py.)

Usage:  python bench/speed.py [--rounds 3] [--trials 40] [--skip-mnist] [--compare CHECKOUT]
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OPTUNA = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np
    import optuna
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials, epochs = int(sys.argv[1]), int(sys.argv[2])

    def objective(trial):
        # as example/scripts/mnist.py: one epoch of partial_fit per iteration, the same search space
        digits = load_digits()
        x_train, x_val, y_train, y_val = train_test_split(
            digits.data / 16.0, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
        classes = np.unique(y_train)
        model = MLPClassifier(
            hidden_layer_sizes=(trial.suggest_categorical("hidden", [32, 64, 128]),),
            batch_size=trial.suggest_categorical("batchsize", [32, 64, 128, 256, 512]),
            learning_rate_init=trial.suggest_float("lr", 4.5e-05, 0.0183, log=True),
            beta_1=trial.suggest_float("beta", 0.5, 1.0), random_state=0)
        best = 0.0
        for epoch in range(1, epochs + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.partial_fit(x_train, y_train, classes=classes)
            probabilities = model.predict_proba(x_val)
            accuracy = float(np.mean(classes[probabilities.argmax(axis=1)] == y_val))
            log_loss(y_val, probabilities, labels=classes)
            best = max(best, accuracy)
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=3))
    study.optimize(objective, n_trials=trials)
    print(json.dumps({"best": study.best_value}))
    """
)
RAY_START = textwrap.dedent(
    """
    import time
    t0 = time.time()
    import json, os
    import ray
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    print(json.dumps({"ready": time.time() - t0}))
    ray.shutdown()
    """
)
FIRST_TRIAL = textwrap.dedent(
    """
    import time
    t0 = time.time()
    import json, sys
    from hpogrid.local.recorder import Recorder

    first = []
    complete = Recorder.on_trial_complete
    def on_trial_complete(self, *args, **kwargs):
        first.append(first[0] if first else time.time() - t0)
        return complete(self, *args, **kwargs)
    Recorder.on_trial_complete = on_trial_complete
    from hpogrid.cli import main
    code = main(["local_run", sys.argv[1], "-q"])
    print(json.dumps({"first": first[0], "trials": len(first), "code": code}))
    """
)


def hpogrid(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "hpogrid", *args], env=env, check=True, stdout=subprocess.DEVNULL)


def measure(command: list[str], env: dict[str, str]) -> tuple[float, dict]:
    """Wall time of a process and the JSON of its last line."""
    start = time.perf_counter()
    # in a neutral folder: `python -m` puts the working folder first on sys.path
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-3000:]}")
    lines = done.stdout.strip().splitlines()
    return wall, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}


def create_projects(env: dict[str, str], trials: int) -> None:
    config = REPO / "config"
    hpogrid(env, "hpo_config", "create", "example1", "--num_trials", "20", "--max_concurrent", "2")
    hpogrid(
        env,
        "project",
        "create",
        "example1",
        "--scripts_path",
        str(REPO / "example/scripts/simple_objective.py"),
        "--hpo_config",
        "example1",
        "--model_config",
        str(config / "model_config/example_simple_objective.json"),
        "--search_space",
        str(config / "search_space/example_simple_objective_space.json"),
    )
    mnist = json.loads((config / "hpo_config/example_mnist_asha.json").read_text())
    hpogrid(
        env,
        "hpo_config",
        "create",
        "example3",
        *("--algorithm", mnist["algorithm"], "--metric", mnist["metric"], "--mode", mnist["mode"]),
        *("--scheduler", mnist["scheduler"], "--num_trials", str(trials), "--max_concurrent", "2"),
        *("--stop", json.dumps(mnist["stop"]), "--scheduler_param", json.dumps(mnist["scheduler_param"])),
        *("--extra_metrics", "loss", "--seed", str(mnist["seed"])),
    )
    hpogrid(
        env,
        "project",
        "create",
        "example3",
        "--scripts_path",
        str(REPO / "example/scripts/mnist.py"),
        "--hpo_config",
        "example3",
        "--model_config",
        str(config / "model_config/example_mnist.json"),
        "--search_space",
        str(config / "search_space/example_mnist_space.json"),
    )


def best_of_last_run(base: Path, project: str) -> float:
    summaries = sorted((base / "projects" / project / "runs").glob("*/summary.json"))
    return json.loads(summaries[-1].read_text())["best"]["value"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40, help="trials of example 3's search (a)")
    parser.add_argument("--skip-mnist", action="store_true", help="measure only (b)")
    parser.add_argument("--compare", type=Path, help="another hpogrid checkout to time on (a)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hpogrid-bench-"))
    env = dict(os.environ, HPOGRID_BASE_PATH=str(base), PYTHONPATH=str(REPO))
    python = sys.executable
    try:
        create_projects(env, args.trials)
        one_thread = dict(env, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        other = dict(env, PYTHONPATH=str(args.compare.resolve())) if args.compare else None
        ours, optuna, ray_start, first, theirs = [], [], [], [], []
        for round_number in range(args.rounds):
            ray_start.append(measure([python, "-c", RAY_START], env)[1]["ready"])
            first.append(measure([python, "-c", FIRST_TRIAL, "example1"], env)[1]["first"])
            if not args.skip_mnist:
                ours.append((measure([python, "-m", "hpogrid", "local_run", "example3", "-q"], env)[0],))
                ours[-1] += (best_of_last_run(base, "example3"),)
                wall, result = measure([python, "-c", OPTUNA, str(args.trials), "20"], one_thread)
                optuna.append((wall, result["best"]))
                if other:
                    theirs.append((measure([python, "-m", "hpogrid", "local_run", "example3", "-q"], other)[0],))
                    theirs[-1] += (best_of_last_run(base, "example3"),)
            print(f"round {round_number + 1}: Ray start {ray_start[-1]:.1f} s, first trial {first[-1]:.1f} s", end="")
            if ours:
                print(f", example 3: hpogrid {ours[-1][0]:.1f} s, Optuna {optuna[-1][0]:.1f} s", end="")
                print(f", {args.compare} {theirs[-1][0]:.1f} s" if theirs else "", end="")
            print(flush=True)
        median = statistics.median
        print(f"\nmedians of {args.rounds} rounds")
        if ours:
            ratio = median(o[0] / t[0] for o, t in zip(ours, optuna, strict=True))
            print(f"(a) example 3, {args.trials} trials of hyperopt + ASHA, max_concurrent 2, 20 epochs")
            contenders = [("hpogrid local_run", ours), ("Optuna, 1 process", optuna)]
            for name, runs in contenders + ([(f"hpogrid of {args.compare}", theirs)] if theirs else []):
                wall, best = median(r[0] for r in runs), median(r[1] for r in runs)
                print(f"    {name:20}  {wall:6.1f} s  best accuracy {best:.4f}")
            if theirs:
                before = median(t[0] / o[0] for o, t in zip(optuna, theirs, strict=True))
                print(f"    ratio {args.compare}/Optuna {before:.2f}x")
            print(f"    ratio hpogrid/Optuna {ratio:.2f}x (target <= 3x)")
        gap = median(f - r for f, r in zip(first, ray_start, strict=True))
        print("(b) start of `hpogrid local_run` (example 1) to its first finished trial, vs Ray's own start-up")
        print(f"    first trial {median(first):5.1f} s   Ray start-up {median(ray_start):5.1f} s")
        print(f"    difference  {gap:+5.1f} s (target <= +1 s)")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
