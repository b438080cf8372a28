"""How fast `hpogrid hpo_config list` starts, as a ratio to `python -c "import click, json"`.

Both run as fresh processes, interleaved, in the same session; the medians are compared.
Target: ratio <= 2.0. Usage:  python bench/cli_latency.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "hpogrid"
    if not script.exists():
        print(f"no hpogrid console script beside {sys.executable}; install hpogrid first", file=sys.stderr)
        return 1
    base = tempfile.mkdtemp(prefix="hpogrid-bench-")
    env = dict(os.environ, HPOGRID_BASE_PATH=base)
    try:
        for i in range(5):  # a realistic store: a few saved configs
            subprocess.run(
                [str(script), "hpo_config", "create", f"config_{i}", "--num_trials", str(i + 1)],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        hpogrid_cmd = [str(script), "hpo_config", "list"]
        baseline_cmd = [sys.executable, "-c", "import click, json"]
        for command in (hpogrid_cmd, baseline_cmd):  # warm the file cache
            timed(command, env)
        hpogrid_times, baseline_times = [], []
        for _ in range(args.runs):
            hpogrid_times.append(timed(hpogrid_cmd, env))
            baseline_times.append(timed(baseline_cmd, env))
        ours, theirs = statistics.median(hpogrid_times), statistics.median(baseline_times)
        print(f"hpogrid hpo_config list       median {ours * 1000:7.1f} ms over {args.runs} runs")
        print(f'python -c "import click, json" median {theirs * 1000:7.1f} ms over {args.runs} runs')
        print(f"ratio {ours / theirs:.2f}x (target <= 2.0x)")
        return 0
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
