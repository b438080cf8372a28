"""`hpogrid run`: a project as ONE PanDA task of N jobs (or its dry run, or its emulation here).

Every submission is remembered in projects/<name>/grid/submissions.jsonl (hpogrid.grid.records),
which `hpogrid tasks` and `hpogrid report` read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import secrets
import shlex
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from hpogrid.errors import HpogridError
from hpogrid.grid.job import TRIALS_OUTPUT
from hpogrid.grid.payload import job_command
from hpogrid.grid.records import remember, submissions
from hpogrid.grid.share import SEED_LIMIT, planned_total
from hpogrid.grid.taskparams import GPU_ARCHITECTURE, TaskSpec, prun_task_params
from hpogrid.project import Project

DEFAULT_OUTDS = "user.{user}.hpogrid.{project}.{timestamp}"


@dataclass
class RunRequest:
    """What the user asked `hpogrid run` for."""

    n_jobs: int = 1
    site: str | None = None  # overrides grid_config.site (comma-separated)
    time_hours: int = 0
    memory_mb: int = 0
    architecture: str | None = None
    excluded_site: str | None = None  # comma-separated (prun --excludedSite)
    cores: int = 0  # prun --nCore
    max_attempts: int = 0  # prun --maxAttempt
    priority: int | None = None  # prun --priority
    no_email: bool = False  # prun --noEmail
    cli_params: str = "hpogrid run"
    warm: dict | None = None  # warm-start points for the jobs' sandbox (hpogrid.warmstart.WarmStart.to_json)


def out_ds(project: Project, nickname: str, now: dt.datetime | None = None) -> str:
    """grid_config.outDS filled in; new for every submission of the project: a name this project
    submitted before (the same second, or a template without {timestamp}) gets _2, _3, ..."""
    template = project.grid_config.get("outDS") or DEFAULT_OUTDS
    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%d%H%M%S")
    name = template.format(user=nickname, project=project.name, timestamp=stamp)
    taken = {entry.get("outDS") for entry in submissions(project)}
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


def plan(
    project: Project, request: RunRequest, nickname: str, archive: str | None, source_url: str
) -> tuple[dict, str, int]:
    """(task parameters, payload command, base seed) of a submission. Pure apart from the seed draw."""
    hpo, grid = project.hpo_config, project.grid_config
    total = planned_total(project.search_space, hpo)
    if not 1 <= request.n_jobs <= total:
        raise HpogridError(
            f"--n_jobs: got {request.n_jobs}, expected 1 to {total} (the project runs {total} trials in all)"
        )
    base_seed = hpo["seed"] if hpo.get("seed") is not None else secrets.randbelow(SEED_LIMIT)
    command = job_command(project.name, request.n_jobs, base_seed)
    sites = tuple(s.strip() for s in (request.site.split(",") if request.site else grid["site"]) if s.strip())
    wants_gpu = any("GPU" in s.upper() for s in sites) or float((hpo.get("resource") or {}).get("gpu", 0) or 0) > 0
    spec = TaskSpec(
        out_ds=out_ds(project, nickname),
        container=grid["container"],
        exec_command=command,
        nickname=nickname,
        n_jobs=request.n_jobs,
        sites=sites,
        architecture=request.architecture
        if request.architecture is not None
        else (GPU_ARCHITECTURE if wants_gpu else ""),
        in_ds=grid.get("inDS"),
        outputs=(TRIALS_OUTPUT,),
        auto_retry=bool(grid.get("retry")),
        memory_mb=request.memory_mb,
        walltime_hours=request.time_hours,
        excluded_sites=tuple(s.strip() for s in (request.excluded_site or "").split(",") if s.strip()),
        cores=request.cores,
        max_attempts=request.max_attempts,
        priority=request.priority,
        no_email=request.no_email,
        archive=archive,
        source_url=source_url,
        cli_params=request.cli_params,
        os_info=platform.platform(),
    )
    return prun_task_params(spec), command, base_seed


@dataclass
class Submission:
    task_id: int
    out_ds: str
    n_jobs: int
    base_seed: int
    resubmitted: bool

    @property
    def link(self) -> str:
        from hpogrid.grid.monitor import task_link

        return task_link(self.task_id)


def submit(project: Project, request: RunRequest) -> Submission:
    """Build the sandbox, upload it (reused when unchanged), submit the task once and remember it."""
    from hpogrid.grid import sandbox
    from hpogrid.grid.gateway import Gateway

    gateway = Gateway()
    nickname = gateway.nickname()
    plan(project, request, nickname, None, gateway.cache_url())  # every check before anything is sent
    with tempfile.TemporaryDirectory(prefix="hpogrid-sandbox-") as folder:
        archive = gateway.upload(sandbox.build(project, Path(folder), request.warm))
    params, _, seed = plan(project, request, nickname, archive, gateway.cache_url())
    submitted = gateway.submit(params)
    entry = _record(project, gateway, submitted, params, seed, kind="prun", n_jobs=request.n_jobs)
    return Submission(submitted.task_id, entry["outDS"], request.n_jobs, seed, submitted.resubmitted)


def _record(project: Project, gateway, submitted, params: dict, seed: int, **fields) -> dict:
    """Remember a submission: the task, its outDS, the server it went to, when."""
    entry = {
        "task_id": submitted.task_id,
        "outDS": params["taskName"].rstrip("/"),
        **fields,
        "seed": seed,
        "submitted": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "server": gateway.server,
    }
    remember(project, entry)
    return entry


def dry_run(project: Project, request: RunRequest, nickname: str | None = None) -> dict:
    """What `run` would submit: task parameters and payload command; nothing is uploaded or sent."""
    from hpogrid.grid import sandbox
    from hpogrid.grid.share import job_share

    params, command, seed = plan(project, request, nickname or "<nickname>", "<sandbox>", "<cache server>")
    members = sandbox.members(project, request.warm)
    size = sum(len(item) if isinstance(item, bytes) else item.stat().st_size for _, item in members)
    hpo, space = project.hpo_config, project.search_space
    per_job = [job_share(space, hpo, request.n_jobs, i, seed).num_trials for i in range(request.n_jobs)]
    return {
        "task_parameters": params,
        "payload": command,
        "seed": seed,
        "trials_per_job": per_job,
        "sandbox": [name for name, _ in members],
        "sandbox_bytes": size,
    }


def emulation_slots(n_jobs: int, cpus: int, cpus_per_trial: float) -> tuple[int, int]:
    """(jobs at a time, CPUs each) for n_jobs on `cpus` CPUs: as many jobs as can each run one trial."""
    need = max(1, math.ceil(cpus_per_trial or 1))
    parallel = max(1, min(n_jobs, cpus // need))
    return parallel, max(need, cpus // parallel)


def emulate(
    project: Project, request: RunRequest, folder: Path, inputs: list[Path] = (), log=print, stream=None
) -> list:
    """Run every job of the task here exactly as the grid would (no server): as many jobs at a time as
    this machine's CPUs (or $HPOGRID_NUM_CPUS) allow, each with its share of them (the pilot's
    ATHENA_CORE_NUMBER), one progress display for the task on `stream` (default stderr).
    inputs: local files standing in for grid_config.inDS. Ctrl-C preempts the running jobs (they keep
    their finished trials) and raises KeyboardInterrupt once they have ended."""
    from concurrent.futures import ThreadPoolExecutor, wait

    from hpogrid.grid import jobexec, sandbox
    from hpogrid.grid.taskprogress import TaskProgress
    from hpogrid.local.runner import CPUS_VARIABLE

    if inputs and not project.grid_config.get("inDS"):
        raise HpogridError("--input: the project's grid_config has no inDS for the files to stand in for")
    folder.mkdir(parents=True)
    archive = sandbox.build(project, folder, request.warm)
    params, _, _ = plan(project, request, "emulated", archive.name, folder.as_uri())
    (folder / "task_parameters.json").write_text(json.dumps(params, indent=1, allow_nan=False))
    hpo = project.hpo_config
    cpus = os.environ.get(CPUS_VARIABLE, "")
    cpus = int(cpus) if cpus.isdigit() and int(cpus) else (os.cpu_count() or 1)
    parallel, each = emulation_slots(request.n_jobs, cpus, float((hpo.get("resource") or {}).get("cpu", 1) or 1))
    log(f"Emulating {request.n_jobs} job(s), {parallel} at a time, {each} CPU(s) each, in")
    log(f"  {folder}")
    display = TaskProgress(
        folder, request.n_jobs, planned_total(project.search_space, hpo), hpo["metric"], hpo["mode"], stream
    )
    stop = threading.Event()

    def one(seq: int):
        display.job_started(seq)
        run = jobexec.run_job(
            params, seq, folder / f"job_{seq}", archive, list(inputs), task_id=0, panda_id=seq,
            env={"ATHENA_CORE_NUMBER": str(each), CPUS_VARIABLE: str(each)},
            preempt_after=lambda _workdir: stop.is_set(),
        )  # fmt: skip
        display.job_ended(seq, run.status, f"job {seq}/{request.n_jobs}: {run.status} (exit {run.exit_code}, "
                          f"{run.duration_s:.1f} s) in {run.workdir.name}")  # fmt: skip
        return run

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="hpogrid-job") as pool:
        futures = [pool.submit(one, seq) for seq in range(1, request.n_jobs + 1)]
        try:
            while wait(futures, timeout=0.2)[1]:
                display.draw()
        except KeyboardInterrupt:
            stop.set()
            for future in futures:
                future.cancel()
            display.event("Interrupted: preempting the running jobs (they keep their finished trials)...")
            wait(futures)
            display.close()
            raise
    display.close()
    return [future.result() for future in futures]


def describe_command(args: list[str]) -> str:
    return "hpogrid " + shlex.join(args)


# -- iDDS ------------------------------------------------------------------------------------------
def docker_image(container: str) -> str:
    """The docker reference of a container name (iDDS runs the steering with `docker run`)."""
    for prefix in ("docker://", "/cvmfs/unpacked.cern.ch/"):
        if container.startswith(prefix):
            return container[len(prefix) :]
    return container


WARM_ARGUMENT_LIMIT = 100_000  # bytes of warm-start points in the steering's arguments


def steering_arguments(image: str, algorithm: str, seed: int, algorithm_param: dict, warm: list | None = None) -> str:
    """`docker <arguments>` of the steering: hpogrid generate in the image, I/O in the mounted work dir;
    warm: [[point, loss], ...] of a warm start (the steering has no sandbox: they go inline)."""
    command = ["python3", "-m", "hpogrid", "generate", "--in", "%IN", "--out", "%OUT", "-n", "%NUM_POINTS"]
    command += ["-m", "%MAX_POINTS", "--algorithm", algorithm, "--seed", str(int(seed))]
    if algorithm_param:
        command += ["--param", json.dumps(algorithm_param, sort_keys=True)]
    if warm:
        text = json.dumps({"points": warm}, sort_keys=True, separators=(",", ":"), allow_nan=False)
        if len(text) > WARM_ARGUMENT_LIMIT:
            raise HpogridError(
                f"--warm_start: {len(warm)} earlier points are {len(text) // 1000} kB, over the "
                f"{WARM_ARGUMENT_LIMIT // 1000} kB the iDDS steering's arguments take; name fewer runs and tasks "
                "with --warm_start_from"
            )
        command += ["--warm_start", text]
    return f'run --rm -v "$(pwd)":/HPOWeb -w /HPOWeb {shlex.quote(image)} ' + shlex.join(command)


def evaluation_command(project: str) -> str:
    from hpogrid.grid.sandbox import PACKAGE_DIR

    return f"PYTHONPATH=$PWD/{PACKAGE_DIR}${{PYTHONPATH:+:$PYTHONPATH}} " + shlex.join(
        ["python3", "-m", "hpogrid", "evaluate", project]
    )


@dataclass
class IddsRequest:
    site: str | None = None
    max_points: int | None = None  # default hpo_config.num_trials
    points_per_generation: int | None = None  # default max_concurrent
    min_unevaluated_points: int | None = None  # default max_concurrent
    architecture: str | None = None
    cli_params: str = "hpogrid submit_idds"
    warm: list | None = None  # warm-start points as [[point, loss], ...] (hpogrid.warmstart.WarmStart.losses)


def plan_idds(project: Project, request: IddsRequest, nickname: str, archive: str | None, source_url: str):
    """(task parameters, base seed) of an iDDS-steered HPO task."""
    from hpogrid.grid.steering import STEERING_ALGORITHMS
    from hpogrid.grid.taskparams import HpoSpec, hpo_task_params
    from hpogrid.space.translate import check

    hpo, grid = project.hpo_config, project.grid_config
    if hpo["algorithm"] not in STEERING_ALGORITHMS:
        raise HpogridError(f"hpo_config.algorithm: '{hpo['algorithm']}' cannot steer iDDS")
    from hpogrid.space.model import SearchSpace

    check(SearchSpace.parse(project.search_space), hpo["algorithm"])
    max_points = request.max_points or hpo["num_trials"]
    per_generation = request.points_per_generation or hpo["max_concurrent"]
    seed = hpo["seed"] if hpo.get("seed") is not None else secrets.randbelow(SEED_LIMIT)
    sites = tuple(s.strip() for s in (request.site.split(",") if request.site else grid["site"]) if s.strip())
    wants_gpu = any("GPU" in s.upper() for s in sites) or float((hpo.get("resource") or {}).get("gpu", 0) or 0) > 0
    spec = HpoSpec(
        out_ds=out_ds(project, nickname),
        evaluation_container=grid["container"],
        evaluation_command=evaluation_command(project.name),
        steering_container=f"docker://{docker_image(grid['container'])}",
        steering_arguments=steering_arguments(
            docker_image(grid["container"]), hpo["algorithm"], seed, hpo["algorithm_param"], request.warm
        ),
        search_space=project.search_space,
        max_points=max_points,
        n_parallel=hpo["max_concurrent"],
        points_per_generation=per_generation,
        min_unevaluated_points=request.min_unevaluated_points or hpo["max_concurrent"],
        sites=sites,
        architecture=request.architecture
        if request.architecture is not None
        else (GPU_ARCHITECTURE if wants_gpu else ""),
        in_ds=grid.get("inDS"),
        archive=archive,
        source_url=source_url,
        cli_params=request.cli_params,
    )
    return hpo_task_params(spec), seed


def submit_idds(project: Project, request: IddsRequest) -> Submission:
    from hpogrid.grid import sandbox
    from hpogrid.grid.gateway import Gateway

    gateway = Gateway()
    nickname = gateway.nickname()
    plan_idds(project, request, nickname, None, gateway.cache_url())
    with tempfile.TemporaryDirectory(prefix="hpogrid-sandbox-") as folder:
        archive = gateway.upload(sandbox.build(project, Path(folder)))
    params, seed = plan_idds(project, request, nickname, archive, gateway.cache_url())
    submitted = gateway.submit(params)
    entry = _record(
        project, gateway, submitted, params, seed, kind="idds", max_points=params["hpoRequestData"]["max_points"]
    )
    return Submission(submitted.task_id, entry["outDS"], params["nEvents"], seed, submitted.resubmitted)
