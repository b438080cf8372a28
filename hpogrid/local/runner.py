"""Run a project's HPO with Ray Tune: the engine of `hpogrid local_run` (and of grid jobs).

A run lives in <project>/runs/<run id>/ (or hpo_config.log_dir/<project>/<run id>/):
trials.jsonl and summary.json (hpogrid.results), and ray/ (Ray Tune's experiment state, used by
--resume). Ray starts in-process with this machine's CPUs and GPUs, unless an address (option, or
$HPOGRID_RAY_ADDRESS) attaches to a running Ray cluster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import logging
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpogrid._version import __version__
from hpogrid.errors import HpogridError, printable
from hpogrid.project import Project
from hpogrid.results import Journal, TrialRecord, now_iso, read_summary, summarize, write_summary
from hpogrid.space.model import SearchSpace

RUNS = "runs"
RAY_DIR = "ray"
ADDRESS_VARIABLE = "HPOGRID_RAY_ADDRESS"
CPUS_VARIABLE = "HPOGRID_NUM_CPUS"  # CPUs a local Ray may use (default: all of this machine's)
# Ray settings for fast short trials: our record writer replaces Ray's own loggers
RAY_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100",
    "RAY_DEDUP_LOGS": "0",
    "PL_DISABLE_FORK": "1",  # what Ray Tune sets for every trial (a runtime_env): hpogrid.local.controller
}
# Python modules the worker processes of a Ray started here import as they start, before a trial needs them
PRELOAD = "ray.tune,hpogrid.local.trainable"
_LOCAL_RAY: dict[str, dict[str, str]] = {}  # GCS address of a Ray started here -> the environment it started with


@dataclass
class RunOptions:
    resume: bool = False
    address: str | None = None
    search_points: list[dict] = field(default_factory=list)
    warm_start: list = field(default_factory=list)  # hpogrid.warmstart.Evaluated: earlier points to learn from
    quiet: bool = False
    verbose: bool = False  # show the trials' output (it is in runs/<id>/trials/<trial id>.log in any case)
    retries: int = 0
    source: dict | None = None  # where the trials ran, kept in every record (default: this local run)
    on_start: Callable[[], None] | None = None  # called once Ray Tune has set its signal handlers


@dataclass
class RunResult:
    run_dir: Path
    summary: dict
    records: list[TrialRecord]


def runs_dir(project: Project) -> Path:
    log_dir = project.hpo_config.get("log_dir")
    if log_dir:
        return Path(log_dir).expanduser().resolve() / project.name
    return project.path / RUNS


def last_unfinished_run(project: Project, quiet: bool = False) -> Path:
    """The newest run that did not finish; a run whose summary cannot be read is passed over (said once:
    quiet when something else will look again)."""
    folder = runs_dir(project)
    candidates = sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []
    for run_dir in reversed(candidates):
        try:
            summary = read_summary(run_dir)
        except ValueError as exc:
            if not quiet:
                _warn(f"{exc}; run {run_dir.name} is not resumed")
            continue
        if summary and summary.get("status") == "failed":
            raise HpogridError(
                f"local_run --resume: the last run of project '{project.name}' ({run_dir.name}) failed and "
                f"cannot be resumed, as its search keeps the config it started with; start a new run with  "
                f"hpogrid local_run {project.name}  (it failed as {summary.get('error') or 'its summary.json says'})"
            )
        if summary and summary.get("status") != "finished" and (run_dir / RAY_DIR).is_dir():
            return run_dir
    raise HpogridError(f"project '{project.name}' has no interrupted run to resume in {folder}")


def _warn(text: str) -> None:
    print(f"Warning: {printable(text)}", file=sys.stderr, flush=True)


def load_points(path: Path, space: SearchSpace) -> list[dict]:
    """Points to evaluate first: a JSON list of configs (nested or with dotted names)."""
    from hpogrid.configs.store import read_json_file

    points = read_json_file(path, "--search_points")
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise HpogridError(f"--search_points: {path} must hold a JSON list of objects, one per point")
    for number, point in enumerate(points, 1):
        space.check_point(point, f"--search_points: {path}: point {number}")
    return points


def _resources(hpo: dict) -> dict:
    """Per-trial resources: the config's, else the machine shared out by max_concurrent.

    Ray's counts are a scheduling budget, not a limit on what a trial uses, so the share is capped
    at 1 CPU / 1 GPU: asking for all of the machine (max_concurrent 1) would wait forever whenever
    anything else holds a fraction of it. Only where resources are the concurrency limit
    (hyperband, bohbhyperband) is the exact share used.
    """
    import ray

    from hpogrid.local.schedulers import limits_by_resources

    if hpo.get("resource"):
        return dict(hpo["resource"])
    total = ray.cluster_resources()
    exact = limits_by_resources(hpo["scheduler"])
    share = {}
    for key, name in (("cpu", "CPU"), ("gpu", "GPU")):
        amount = total.get(name, 1 if key == "cpu" else 0) / hpo["max_concurrent"]
        if amount:
            share[key] = max(amount if exact else min(amount, 1.0), 0.01)
    return share


def start_ray(address: str | None, quiet: bool) -> bool:
    """Start (or attach to) Ray unless this process already has it; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    source = "--address" if address else ADDRESS_VARIABLE
    address = address or os.environ.get(ADDRESS_VARIABLE)
    # the trials' output is in their logs (hpogrid.local.trainable), not streamed through the driver
    kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if not address:
        cpus = os.environ.get(CPUS_VARIABLE, "")
        os.environ.update(RAY_ENV)  # Ray's workers inherit them: trials need no runtime_env (controller)
        preload = "RAY_preload_python_modules" not in os.environ
        if preload:  # for Ray's processes (it starts a pool of workers at once), not this one's later children
            os.environ["RAY_preload_python_modules"] = PRELOAD
        started_with = dict(os.environ)
        try:
            ray.init(address="local", num_cpus=int(cpus) if cpus.isdigit() and int(cpus) else os.cpu_count(), **kwargs)
        finally:
            if preload:
                os.environ.pop("RAY_preload_python_modules", None)
        _LOCAL_RAY[ray.get_runtime_context().gcs_address] = started_with
        return True
    hint = "check that `ray start --head` runs there"
    if not _accepts_connections(address):
        raise HpogridError(f"{source}: no Ray cluster answers at {address}; {hint} (address HOST:PORT)")
    if "RAY_AUTH_MODE" not in os.environ and _cluster_token_available():
        # `ray start` clusters use token auth, but Ray enables it for an explicit address only if told
        os.environ["RAY_AUTH_MODE"] = "token"
        from ray._raylet import Config

        Config.initialize("")  # Ray read its config when imported: reread it (what Ray itself does)
    token_places = "~/.ray/auth_token, $RAY_AUTH_TOKEN or $RAY_AUTH_TOKEN_PATH"
    if os.environ.get("RAY_AUTH_MODE") == "token" and not _cluster_token_available():
        # Ray would end this process from C++ (exit 1, its message on a stderr we keep quiet)
        raise HpogridError(
            f"{source}: RAY_AUTH_MODE=token is set but there is no Ray auth token; put the cluster's token "
            f"in {token_places}, or unset RAY_AUTH_MODE for a cluster without one"
        )
    if not _token_accepted(address):
        raise HpogridError(
            f"{source}: the Ray cluster at {address} wants its auth token and did not get it (missing or wrong); "
            f"put the cluster's token in {token_places}"
        )
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise HpogridError(
            f"{source}: cannot attach to the Ray cluster at {address}; {hint} and that its auth token is in "
            f"{token_places}"
        ) from exc
    return True


def worker_env() -> dict[str, str] | None:
    """The environment the worker processes of this process's Ray inherit, if this process started it
    here (start_ray); None for any other Ray."""
    import ray

    return _LOCAL_RAY.get(ray.get_runtime_context().gcs_address) if ray.is_initialized() else None


def _token_accepted(address: str) -> bool:
    """Ask the cluster's GCS once whether it accepts us, so a token problem fails in a second with one line
    instead of Ray's 20 s of retries and C++ warnings (which are kept off the terminal here)."""
    from ray._raylet import GcsClient
    from ray.exceptions import AuthenticationError

    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                GcsClient(address=address).cluster_id  # noqa: B018 - the call is the check
            except AuthenticationError:
                return False
            except Exception:  # anything else: ray.init reports it in its own words
                return True
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return True


def _accepts_connections(address: str, timeout: float = 5.0) -> bool:
    """A quick TCP check of HOST:PORT, so a wrong address fails in seconds, not after Ray's long retries.
    Other address forms (auto, ray://) are left to Ray."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return True
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _cluster_token_available() -> bool:
    """Whether this user has a Ray auth token (in the places Ray looks for one)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return True
    return (Path.home() / ".ray" / "auth_token").is_file()


def run(project: Project, options: RunOptions) -> RunResult:
    """Run (or resume) the project's HPO; returns the run directory, summary and records.

    A run whose trials do not report hpo_config.metric is stopped at the first such result: its
    summary has status 'failed' and an 'error' saying how to fix the config.
    """
    from hpogrid.local.trainable import RUN_DIR_VARIABLE, ModelLocator, make_trainable

    model = project.model_config
    space = SearchSpace.parse(project.search_space)
    env = {
        "HPOGRID_WORK_DIR": os.environ.get("HPOGRID_WORK_DIR", os.getcwd()),
        "HPOGRID_DATA_DIR": os.environ.get("HPOGRID_DATA_DIR", os.environ.get("HPOGRID_WORK_DIR", os.getcwd())),
    }
    mapping = tuple((model.get("param_mapping") or {}).items())
    locator = ModelLocator(str(project.scripts_dir), model["script"], model["model"], mapping)
    # import errors surface here, before a run dir or Ray exists; the wrapper keeps `env` (the
    # same dict), so the run dir added below reaches the trials
    trainable, reusable = make_trainable(locator, env)

    if options.resume:
        run_dir = last_unfinished_run(project)
        previous = read_summary(run_dir) or {}
        run_id, start = run_dir.name, previous.get("start", now_iso())
        warm = previous.get("warm_start") or 0  # the restored searcher has learnt them
        warning = Journal(run_dir).read()[1].warning()  # those lines stay in the journal, after them go the new
        if warning:
            _warn(warning)
    else:
        run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
        run_dir = runs_dir(project) / run_id
        start, warm = now_iso(), len(options.warm_start)
    env[RUN_DIR_VARIABLE] = str(run_dir)
    os.environ.update(RAY_ENV)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)  # for Ray's workers, started from this process; as they were after the run
    from hpogrid.local.console import run_console

    try:
        with run_console(options.quiet, options.verbose) as (console, ray_output):
            try:
                return _run(project, options, space, trainable, reusable, run_dir, run_id, start, warm, ray_output)
            except HpogridError:
                raise
            except BaseException as exc:
                said = ray_output.text() if not run_dir.is_dir() else ""
                if said.strip() and not isinstance(exc, KeyboardInterrupt):  # Ray failed to start: its words
                    console.say(said.rstrip())
                raise
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run(project, options, space, trainable, reusable, run_dir, run_id, start, warm, ray_output) -> RunResult:
    """run() with Ray's output kept off the terminal (ray_output: where it goes)."""
    from hpogrid.local.controller import TrialRules, hpogrid_controller

    hpo = project.hpo_config
    import ray.tune  # noqa: F401 - the 2 s import, before Ray starts rather than inside the run

    started_ray = start_ray(options.address, options.quiet)
    from hpogrid.local.algorithms import planned_trials, searcher_threads

    status, total = "interrupted", planned_trials(space, hpo)[1]
    made_runs = not run_dir.parent.exists()
    rules = TrialRules(
        hpo["metric"], tuple(hpo["stop"]), hpo.get("trial_timeout"), lambda reported: metric_fix(project, reported)
    )
    try:
        run_dir.mkdir(parents=True, exist_ok=options.resume)  # once Ray is there: a failed start leaves nothing
        ray_output.attach(run_dir)
        tuner = _tuner(project, space, trainable, reusable, run_dir, run_id, total, options)
        _write(project, space, run_dir, run_id, "running", start, None, total, Journal(run_dir).records(), None, warm)
        _quiet_ray_result_loading()
        with hpogrid_controller(options.on_start, rules, worker_env()), searcher_threads(hpo["algorithm"]):
            tuner.fit()
        status = "failed" if rules.failure else "finished"
    except BaseException:
        if not options.resume:
            _discard_if_empty(run_dir, made_runs)
        raise
    finally:
        if "hpogrid.local.nevergrad_search" in sys.modules:  # its optimizer's thread would outlive the run
            sys.modules["hpogrid.local.nevergrad_search"].close_all()
        if run_dir.is_dir():
            journal = Journal(run_dir)
            journal.sync()
            records, skipped = journal.read()
            # Ray ends fit() early, without an exception, on Ctrl-C: count what really finished (the
            # journal's bad lines too: they are trials that ended, not to be run again)
            if status == "finished" and len({r.trial_id for r in records}) + skipped.count < total:
                status = "interrupted"
            summary = _write(
                project, space, run_dir, run_id, status, start, now_iso(), total, records, rules.failure, warm
            )
        if started_ray:
            import ray

            ray.shutdown()
    return RunResult(run_dir, summary, records)


def _discard_if_empty(run_dir: Path, made_runs: bool) -> None:
    """Remove a new run that failed before its first trial (a failed start leaves no folder); a run
    holding trial records, or a trial folder of Ray's, is never removed."""
    import shutil

    trials = Journal(run_dir).path
    started = (run_dir / RAY_DIR).is_dir() and any(p.is_dir() for p in (run_dir / RAY_DIR).iterdir())
    if not run_dir.is_dir() or started or (trials.is_file() and trials.stat().st_size):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    if made_runs:
        with contextlib.suppress(OSError):  # only when still empty
            run_dir.parent.rmdir()


def _tuner(
    project: Project,
    space: SearchSpace,
    trainable,
    reusable: bool,
    run_dir: Path,
    run_id: str,
    total: int,
    options: RunOptions,
):
    from ray import tune

    from hpogrid.catalog import VARIANT_GENERATOR
    from hpogrid.local.algorithms import build_search
    from hpogrid.local.recorder import Recorder
    from hpogrid.local.schedulers import build_scheduler, limits_by_resources

    hpo = project.hpo_config
    resources = _resources(hpo)
    wrapped = tune.with_resources(trainable, resources)
    storage = str(run_dir)
    if options.resume:
        return tune.Tuner.restore(
            str(run_dir / RAY_DIR), trainable=wrapped, resume_unfinished=True, resume_errored=False
        )
    search, param_space, samples = build_search(
        space, hpo, project.model_config["param"], options.search_points, hpo["seed"], options.warm_start
    )
    scheduler_name = hpo["scheduler"]
    tune_config = tune.TuneConfig(
        search_alg=search,
        scheduler=build_scheduler(hpo, space),
        num_samples=samples,
        # the variant generator limits itself; HyperBand must not be limited (resources do it)
        max_concurrent_trials=None
        if limits_by_resources(scheduler_name) or hpo["algorithm"] in VARIANT_GENERATOR
        else hpo["max_concurrent"],
        reuse_actors=reusable,
    )
    run_config = tune.RunConfig(
        name=RAY_DIR,
        storage_path=storage,
        stop=hpo["stop"] or None,
        callbacks=[Recorder(run_dir, run_id, space, hpo, total, quiet=options.quiet, source=options.source)],
        verbose=1 if hpo["verbose"] else 0,
        failure_config=tune.FailureConfig(max_failures=options.retries),
        # keep every checkpoint: num_to_keep forces an experiment snapshot per kept checkpoint (slow)
        # and loses PBT's checkpoints; trials checkpoint only when a scheduler pauses or copies them
        # (not at their end, Ray's default for a class: a save per trial, and failing without save_checkpoint)
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None, checkpoint_at_end=False),
    )
    return tune.Tuner(wrapped, param_space=param_space, tune_config=tune_config, run_config=run_config)


def _quiet_ray_result_loading() -> None:
    """Ray logs a FileNotFoundError per trial at the end when its own loggers are off: harmless; and
    which trials did not complete, which the records and the summary say."""
    dropped = ("Could not fetch metrics", "Failed to fetch metrics", "Trials did not complete")

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return not any(text in record.getMessage() for text in dropped)

    for name in (
        "ray.tune.result_grid",
        "ray.tune.analysis.experiment_analysis",
        "ray.tune.tuner",
        "ray.tune",
        "ray.tune.tune",
    ):
        logging.getLogger(name).addFilter(_Drop())


def rewrite_summary(project: Project, run_dir: Path, status: str) -> dict:
    """The summary of a run from its journal as it is now (for a run ended from outside, e.g. preempted)."""
    try:
        previous = read_summary(run_dir) or {}
    except ValueError:  # rewritten from the journal
        previous = {}
    records = Journal(run_dir).records()
    if previous.get("overrides") and not project.data.get("overrides"):
        project = replace(project, data={**project.data, "overrides": previous["overrides"]})
    space = SearchSpace.parse(project.search_space)
    total = previous.get("num_trials", len(records))
    error = previous.get("error") if status != "finished" else None
    return _write(
        project,
        space,
        run_dir,
        run_dir.name,
        status,
        previous.get("start", now_iso()),
        now_iso(),
        total,
        records,
        error,
        previous.get("warm_start") or 0,
    )


def metric_fix(project: Project, reported: dict[str, Any]) -> str:
    """How to make the project's hpo_config name a metric its trials report (reported: name -> value)."""
    from hpogrid.local.controller import not_a_number

    hpo, name = project.hpo_config, shlex.quote(project.name)
    report = f"report '{hpo['metric']}' from the training script"
    numbers = [k for k, v in reported.items() if not not_a_number(v) and k.isprintable()]
    if not numbers:
        return report
    metric = difflib.get_close_matches(hpo["metric"], numbers, n=1, cutoff=0)[0]
    options = f"--metric {shlex.quote(metric)}"
    if metric in hpo["extra_metrics"]:
        rest = ",".join(m for m in hpo["extra_metrics"] if m != metric)
        options += f" --extra_metrics {shlex.quote(rest)}"
    source = project.data.get("sources", {}).get("hpo_config") or "defaults"
    if os.sep in source:  # a JSON file
        file = shlex.quote(source)
        fix = f'set "metric": "{metric}" in {file}, then  hpogrid project update {name} --hpo_config {file}'
    else:
        config = source if source not in ("defaults", "inline") else f"{project.name}_hpo"
        action = "update" if config == source else "create"
        config = shlex.quote(config)
        fix = (
            f"set it with  hpogrid hpo_config {action} {config} {options} && "
            f"hpogrid project update {name} --hpo_config {config}"
        )
    return f"{fix}  (or {report})"


def _write(
    project,
    space,
    run_dir,
    run_id,
    status,
    start,
    end,
    total,
    records: list[TrialRecord],
    error: str | None = None,
    warm: int = 0,
) -> dict:
    hpo = project.hpo_config
    summary = summarize(
        records,
        project=project.name,
        run_id=run_id,
        status=status,
        metric=hpo["metric"],
        mode=hpo["mode"],
        algorithm=hpo["algorithm"],
        scheduler=hpo["scheduler"],
        hyperparameters=space.names,
        num_trials=total,
        start=start,
        end=end,
        hpogrid_version=__version__,
    )
    if error:
        summary["error"] = error  # why the run failed
    if warm:
        summary["warm_start"] = warm  # earlier points the search learnt from before its first trial
    if project.data.get("overrides"):
        summary["overrides"] = list(project.data["overrides"])  # this run's settings differ: hpogrid.overrides
    write_summary(run_dir, summary)
    return summary
