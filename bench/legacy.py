"""Wall time and driver CPU of `hpogrid local_run` against hpogrid 1.3.3 on Quick Start example 1 (issue 13).

Quick Start example 1 (example/scripts/simple_objective.py: loss = (height - 14)**2 - abs(width - 3),
height uniform in [-100, 100], width uniform in [0, 20]) with 20 trials, random search, max_concurrent 2
and the asynchyperband scheduler (both versions' default), run
  (1) by hpogrid 1.3.3, the last release, on Ray 2.5.1: its own CLI creates the configs and the project
      (in its site-packages userdata, as 1.3.3 does) and `hpogrid run PROJECT --mode local` runs it, in a
      fresh working folder each time (1.3.3 writes userJobMetadata.json and a cache/ there, and would
      restore the trials of a cache it finds instead of running them);
  (2) by this checkout: `python -m hpogrid local_run PROJECT`, the project made by the same Quick Start
      commands in a temporary HPOGRID_BASE_PATH.
Each run is a fresh process; --rounds paired rounds, the order swapped every round (1.3.3 first in odd
rounds). 1.3.3 gets RAY_ADDRESS=local (its bare ray.init() would join a `ray start` cluster of this
machine); this checkout starts its own Ray in any case. Both run the same script file.
Measured, per run:
  wall          from starting the process to its exit;
  driver CPU    user+sys CPU time of the driver process alone (the process that runs ray.init and the
                search, all its threads), read from /proc/PID/stat once it has exited and before it is
                reaped; Ray's own processes (GCS, raylet, workers, ...) are not in it;
  all CPU       user+sys CPU time of the driver and of every process started under it, Ray's included:
                this process is made a child subreaper, so Ray's processes that outlive the driver are
                reparented here and reaped (waited for up to 60 s; killed and named if still running);
                the getrusage(RUSAGE_CHILDREN) delta of the run.
Every run is checked to have run all its trials (1.3.3: its userJobMetadata.json results; ours: the
run's summary.json), or the benchmark stops. Figures are medians over the rounds; a ratio is the median
of the rounds' ours/1.3.3 ratios.

hpogrid 1.3.3 runs in a venv of its own, built on first use (--venv, default
~/.cache/hpogrid-bench/legacy-venv; reused when its marker says it holds today's package list):
`python -m venv` with this Python (3.11: Ray 2.5.1 has no wheels for later ones), then pip install of
hpogrid==1.3.3 with Ray 2.5.1 and the pins Ray 2.5.1 needs (LEGACY_PACKAGES), pyyaml (1.3.3 imports it
and does not declare it) and, written into its site-packages by this script:
  torch/__init__.py            a stand-in for PyTorch: 1.3.3 imports torch only to count GPUs
                               (torch.cuda.device_count()); it has torch.Tensor because tensorboardX
                               (Ray Tune's default TensorBoard logger) takes torch.Tensor once torch imports;
  _hpogrid_bench_shim.py/.pth  makes the Ray 1.x modules 1.3.3 imports, ray.tune.suggest[.X], Ray 2.5's
                               ray.tune.search[.X] (an import-time alias, loaded by the .pth at start-up).
Nothing else: with these, 1.3.3 runs example 1 locally as shipped.

Usage:  python bench/legacy.py [--rounds 3] [--trials 20] [--venv DIR] [--markdown] [--keep]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from quality import render  # bench/quality.py's table renderer (bench/ is on sys.path when run as a script)

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "example" / "scripts" / "simple_objective.py"
DEFAULT_VENV = Path.home() / ".cache" / "hpogrid-bench" / "legacy-venv"
LEGACY_PACKAGES = [
    "hpogrid==1.3.3",
    "ray[tune]==2.5.1",
    "numpy<2",
    "pandas<2.2",
    "pyarrow<15",
    "pydantic<2",
    "pyyaml",
]
MARKER = ".hpogrid-bench-legacy.json"  # in the venv: the package list it was built with
NAME = "bench_example1"  # the configs' and the project's name on both sides
SPACE = {
    "height": {"method": "uniform", "dimension": {"low": -100, "high": 100}},
    "width": {"method": "uniform", "dimension": {"low": 0, "high": 20}},
}
MAX_CONCURRENT = 2
REAP_SECONDS = 60.0  # how long Ray's processes may outlive the driver
PR_SET_CHILD_SUBREAPER = 36

FAKE_TORCH = textwrap.dedent(
    '''\
    """A stand-in for PyTorch (written by hpogrid's bench/legacy.py): hpogrid 1.3.3 imports torch only to
    count GPUs; this machine has none for it."""

    __version__ = "0.0.0+hpogrid.bench.fake"


    class Tensor:
        """tensorboardX takes torch.Tensor when torch imports; no value is ever one."""


    class cuda:  # noqa: N801 - the torch.cuda namespace
        @staticmethod
        def is_available():
            return False

        @staticmethod
        def device_count():
            return 0
    '''
)
SHIM = textwrap.dedent(
    '''\
    """hpogrid 1.3.3 on Ray 2.5 (written by hpogrid's bench/legacy.py): the Ray 1.x modules
    ray.tune.suggest[.X] are Ray 2's ray.tune.search[.X]. Imported by _hpogrid_bench_shim.pth."""

    import importlib
    import importlib.abc
    import importlib.util
    import sys


    class Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        """Imports of `old` and `old.X` give the modules `new` and `new.X` (the same module objects)."""

        def __init__(self, old, new):
            self.old, self.new = old, new

        def find_spec(self, name, path=None, target=None):
            if name == self.old or name.startswith(self.old + "."):
                return importlib.util.spec_from_loader(name, self, is_package=True)
            return None

        def create_module(self, spec):
            return None  # a placeholder, replaced by exec_module

        def exec_module(self, module):
            # the import system returns what sys.modules holds under the name once this returns
            sys.modules[module.__name__] = importlib.import_module(self.new + module.__name__[len(self.old) :])


    def install(old, new):
        if not any(isinstance(f, Alias) and (f.old, f.new) == (old, new) for f in sys.meta_path):
            sys.meta_path.insert(0, Alias(old, new))


    install("ray.tune.suggest", "ray.tune.search")
    '''
)
SHIM_PTH = "import _hpogrid_bench_shim\n"  # a .pth line starting with `import` runs at start-up
SHIM_FILES = {"torch/__init__.py": FAKE_TORCH, "_hpogrid_bench_shim.py": SHIM, "_hpogrid_bench_shim.pth": SHIM_PTH}
SMOKE = textwrap.dedent(
    """
    import json, importlib.metadata as md
    import torch
    import ray.tune.search, ray.tune.suggest
    from ray.tune.suggest import ConcurrencyLimiter
    from ray.tune.suggest.basic_variant import BasicVariantGenerator
    import hpogrid.components.hpo_task
    assert ray.tune.suggest is ray.tune.search and torch.cuda.device_count() == 0
    print(json.dumps({"hpogrid": md.version("hpogrid"), "ray": ray.__version__}))
    """
)
VERSIONS = "import json, hpogrid, ray; print(json.dumps({'hpogrid': hpogrid.__version__, 'ray': ray.__version__}))"


# -- the 1.3.3 venv ------------------------------------------------------------------------------------
def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(
        subprocess.run([venv_python(venv), "-I", "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )


def write_shims(site: Path) -> None:
    for relative, text in SHIM_FILES.items():
        path = site / relative
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def ensure_venv(venv: Path) -> dict:
    """The 1.3.3 venv, built (or completed) unless its marker names today's packages; its versions."""
    marker = venv / MARKER
    built = marker.is_file() and json.loads(marker.read_text()).get("packages") == LEGACY_PACKAGES
    if not built:
        if sys.version_info[:2] != (3, 11):
            raise SystemExit(f"the 1.3.3 venv needs Python 3.11 (Ray 2.5.1's wheels), this is {sys.version.split()[0]}")
        print(f"building the hpogrid 1.3.3 venv in {venv} (minutes)", file=sys.stderr, flush=True)
        if not venv_python(venv).exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", *LEGACY_PACKAGES]
        subprocess.run(pip, check=True, stdout=sys.stderr)
    write_shims(site_packages(venv))
    smoke = subprocess.run(
        [venv_python(venv), "-I", "-c", SMOKE], env=legacy_env(venv), capture_output=True, text=True, check=False
    )
    if smoke.returncode != 0:
        raise SystemExit(f"the hpogrid 1.3.3 venv {venv} does not work:\n{smoke.stderr[-3000:]}")
    if not built:
        marker.write_text(json.dumps({"packages": LEGACY_PACKAGES}) + "\n")
    return json.loads(smoke.stdout.strip().splitlines()[-1])


def legacy_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "RAY_ADDRESS")}
    env = {k: v for k, v in env.items() if not k.startswith("HPOGRID_")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_ADDRESS"] = "local"  # a Ray of its own, as ours starts (not a `ray start` cluster of this machine)
    return env


def our_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",) and not k.startswith("HPOGRID_")}
    return dict(env, HPOGRID_BASE_PATH=str(base), PYTHONPATH=str(REPO))


# -- the two projects ----------------------------------------------------------------------------------
def legacy_commands(venv: Path, trials: int) -> tuple[list[list[str]], list[str]]:
    """1.3.3's Quick Start commands making example 1's project, and the command running it."""
    hpogrid = str(venv / "bin" / "hpogrid")
    setup = [
        [hpogrid, "model_config", "create", NAME, "--script", SCRIPT.name, "--model", "simple_objective"],
        [hpogrid, "search_space", "create", NAME, "--search_space", json.dumps(SPACE)],
        [hpogrid, "hpo_config", "create", NAME, *hpo_options(trials)],
        [hpogrid, "grid_config", "create", NAME, "--site", "ANALY_MANC_GPU_TEST"],  # 1.3.3's project needs one
        [hpogrid, "project", "create", NAME, "--scripts_path", str(SCRIPT), *config_options(), "--grid_config", NAME],
    ]
    return setup, [hpogrid, "run", NAME, "--mode", "local"]


def our_commands(trials: int) -> tuple[list[list[str]], list[str]]:
    """This checkout's Quick Start commands making example 1's project, and the command running it."""
    hpogrid = [sys.executable, "-m", "hpogrid"]
    setup = [
        [*hpogrid, "model_config", "create", NAME, "--script", SCRIPT.name, "--model", "simple_objective"],
        [*hpogrid, "search_space", "create", NAME, json.dumps(SPACE)],
        [*hpogrid, "hpo_config", "create", NAME, *hpo_options(trials)],
        [*hpogrid, "project", "create", NAME, "--scripts_path", str(SCRIPT), *config_options()],
    ]
    return setup, [*hpogrid, "local_run", NAME]


def hpo_options(trials: int) -> list[str]:
    return [
        *("--algorithm", "random", "--scheduler", "asynchyperband", "--metric", "loss", "--mode", "min"),
        *("--num_trials", str(trials), "--max_concurrent", str(MAX_CONCURRENT)),
    ]


def config_options() -> list[str]:
    return ["--model_config", NAME, "--search_space", NAME, "--hpo_config", NAME]


def setup(commands: list[list[str]], env: dict[str, str], cwd: Path) -> None:
    for command in commands:
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        # 1.3.3 exits 0 after some errors (e.g. a config that exists): its output says so
        if done.returncode != 0 or "ERROR" in done.stdout + done.stderr:
            raise SystemExit(f"{' '.join(command[-8:])} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def make_legacy_project(venv: Path, trials: int, env: dict[str, str], cwd: Path) -> None:
    userdata = site_packages(venv) / "hpogrid" / "userdata"
    # 1.3.3 does not overwrite a config that exists (it says so and exits 0), nor removes one reliably
    for folder in ("model", "search_space", "hpo", "grid"):
        for path in (userdata / folder).glob(f"{NAME}.*"):
            path.unlink()
    shutil.rmtree(userdata / "projects" / NAME, ignore_errors=True)
    setup(legacy_commands(venv, trials)[0], env, cwd)
    config = json.loads((userdata / "projects" / NAME / "config" / "config.json").read_text())
    hpo = config["hpo_config"]
    wanted = {"algorithm": "random", "num_trials": trials, "max_concurrent": MAX_CONCURRENT, "metric": "loss"}
    if {k: hpo.get(k) for k in wanted} != wanted or config["search_space"] != SPACE:
        raise SystemExit(f"1.3.3's project is not example 1 with {trials} trials: {json.dumps(config)[:2000]}")


# -- a timed run ---------------------------------------------------------------------------------------
@dataclass
class Run:
    wall: float  # s, process start to exit
    driver: float  # s of CPU, the driver process itself
    total: float  # s of CPU, the driver and every process under it
    trials: int  # finished trials with a finite metric
    leftovers: int = 0  # processes still running REAP_SECONDS after the driver's exit (killed)


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise SystemExit(f"cannot become a child subreaper (Linux only): errno {ctypes.get_errno()}")


def own_cpu(stat: str) -> float:
    """User+sys seconds of a process itself from its /proc/PID/stat text (fields 14 and 15)."""
    fields = stat[stat.rfind(")") + 2 :].split()  # fields from the 3rd (state) on; comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reap_orphans(deadline: float) -> int:
    """Wait for the processes reparented here (Ray's, after the driver); kill those left at the deadline."""
    killed = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return killed
        if pid:
            continue
        if time.monotonic() > deadline:
            for child in children_of(os.getpid()):
                print(f"    still running after {REAP_SECONDS:.0f} s, killed: {describe(child)}", file=sys.stderr)
                os.kill(child, signal.SIGKILL)
                killed += 1
            deadline = math.inf
        time.sleep(0.05)


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == parent:
                found.append(int(entry.name))
    return found


def describe(pid: int) -> str:
    try:
        command = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return str(pid)
    return f"{pid} {command.decode(errors='replace')[:120]}"


def timed(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Run:
    """Run the command as a fresh process (output to log); its wall time and CPU times."""
    before = children_cpu()
    with log.open("wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: /proc/PID/stat holds
        wall = time.perf_counter() - start
        driver = own_cpu((Path("/proc") / str(process.pid) / "stat").read_text())
        _, status, _ = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    leftovers = reap_orphans(time.monotonic() + REAP_SECONDS)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[-4:])} exited with {process.returncode}:\n{tail(log)}")
    return Run(wall, driver, children_cpu() - before, 0, leftovers)


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def legacy_trials(folder: Path, log: Path, trials: int) -> int:
    """Trials 1.3.3's run finished with a finite loss, from its userJobMetadata.json; exits if not all."""
    try:
        metadata = json.loads((folder / "userJobMetadata.json").read_text())
        results = metadata["result"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"1.3.3 left no results ({exc!r}):\n{tail(log)}") from None
    finite = [r for r in results.values() if isinstance(r.get("loss"), int | float) and math.isfinite(r["loss"])]
    if len(finite) != trials or "search results from cache" in log.read_text(errors="replace"):
        raise SystemExit(f"1.3.3 ran {len(finite)} of {trials} trials (results: {len(results)}):\n{tail(log)}")
    return len(finite)


def our_trials(base: Path, earlier: set[Path], log: Path, trials: int) -> int:
    """Trials this checkout's run finished with a finite loss, from its summary.json; exits if not all."""
    runs = set((base / "projects" / NAME / "runs").glob("*/summary.json")) - earlier
    if len(runs) != 1:
        raise SystemExit(f"expected one new run of {NAME}, found {sorted(map(str, runs))}:\n{tail(log)}")
    summary = json.loads(runs.pop().read_text())
    finite = [
        t for t in summary["trials"] if t["status"] != "error" and t["value"] is not None and math.isfinite(t["value"])
    ]
    if summary["status"] != "finished" or len(finite) != trials or summary["num_trials"] != trials:
        raise SystemExit(
            f"hpogrid ran {len(finite)} of {trials} trials (status {summary['status']}, "
            f"{len(summary['trials'])} records):\n{tail(log)}"
        )
    return len(finite)


# -- the benchmark -------------------------------------------------------------------------------------
def loads() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"1.3.3's venv (default {DEFAULT_VENV})")
    parser.add_argument("--markdown", action="store_true", help="the table as markdown")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders and logs")
    args = parser.parse_args(argv)
    venv = args.venv.expanduser().absolute()
    theirs_version = ensure_venv(venv)
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="hpogrid-bench-legacy-"))
    base = work / "base"
    envs = {"1.3.3": legacy_env(venv), "ours": our_env(base)}
    try:
        make_legacy_project(venv, args.trials, envs["1.3.3"], work)
        setup(our_commands(args.trials)[0], envs["ours"], work)
        # also warms the disk cache for both (1.3.3's venv may have just been built)
        versions = [sys.executable, "-c", VERSIONS]
        ours_version = json.loads(
            subprocess.run(versions, env=envs["ours"], cwd=work, capture_output=True, text=True, check=True).stdout
        )
        names = {
            "1.3.3": f"hpogrid {theirs_version['hpogrid']} (Ray {theirs_version['ray']})",
            "ours": f"hpogrid {ours_version['hpogrid']} (this checkout, Ray {ours_version['ray']})",
        }
        commands = {"1.3.3": legacy_commands(venv, args.trials)[1], "ours": our_commands(args.trials)[1]}
        print(f"Quick Start example 1: {args.trials} trials, random search, asynchyperband, max_concurrent 2")
        print(f"load averages at start: {loads()}", flush=True)
        runs: dict[str, list[Run]] = {"1.3.3": [], "ours": []}
        for round_number in range(1, args.rounds + 1):
            order = ("1.3.3", "ours") if round_number % 2 else ("ours", "1.3.3")
            for kind in order:
                folder = Path(tempfile.mkdtemp(prefix=f"r{round_number}-{kind}-", dir=work))
                log = folder / "output.log"
                earlier = set((base / "projects" / NAME / "runs").glob("*/summary.json"))
                run = timed(commands[kind], envs[kind], folder, log)
                if kind == "1.3.3":
                    run.trials = legacy_trials(folder, log, args.trials)
                else:
                    run.trials = our_trials(base, earlier, log, args.trials)
                runs[kind].append(run)
            print(
                f"round {round_number}: "
                + ", ".join(
                    f"{kind} {runs[kind][-1].wall:.1f} s wall, {runs[kind][-1].driver:.1f} s driver CPU, "
                    f"{runs[kind][-1].total:.1f} s all CPU"
                    for kind in order
                ),
                flush=True,
            )
        print(f"load averages at end: {loads()}\n")
        print(table(runs, names, args.rounds, args.markdown))
        leftovers = sum(r.leftovers for kind in runs for r in runs[kind])
        if leftovers:
            print(f"({leftovers} processes outlived their driver by {REAP_SECONDS:.0f} s and were killed)")
        return 0
    finally:
        if args.keep:
            print(f"runs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


METRICS = (("wall", "wall s"), ("driver", "driver CPU s"), ("total", "all CPU s"))


def table(runs: dict[str, list[Run]], names: dict[str, str], rounds: int, markdown: bool) -> str:
    """Medians of both kinds and the median of the rounds' ratios ours/1.3.3."""
    median = statistics.median
    head = [f"median of {rounds} rounds", *(title for _, title in METRICS), "trials"]
    body = [
        [names[kind], *(f"{median(getattr(r, m) for r in runs[kind]):.2f}" for m, _ in METRICS)]
        + [str(min(r.trials for r in runs[kind]))]  # every run is checked to have run all its trials
        for kind in ("1.3.3", "ours")
    ]
    pairs = list(zip(runs["ours"], runs["1.3.3"], strict=True))
    ratios = [f"{median(getattr(o, m) / getattr(t, m) for o, t in pairs):.2f}x" for m, _ in METRICS]
    body.append(["ratio ours/1.3.3", *ratios, ""])
    return render(head, body, markdown)


if __name__ == "__main__":
    sys.exit(main())
