"""A local PanDA-compatible server: the /api/v1 protocol of PanDA as panda-client 2.2.0 speaks it.

Used by the tests (fixture `panda` in tests/conftest.py) and by bench/grid_scaleout.py; start one by
hand to try hpogrid's grid commands without the grid:

    python -m tests.panda_server --port 25443 --slots 2
    export PANDA_URL_SSL=http://127.0.0.1:25443/server/panda PANDA_URL=$PANDA_URL_SSL \\
           PANDACACHE_URL=$PANDA_URL_SSL PANDA_BEHIND_REAL_LB=1 \\
           PANDA_AUTH=oidc PANDA_AUTH_VO=atlas PANDA_AUTH_ID_TOKEN=$(python -m tests.panda_server --token jdoe) \\
           IDDS_HOST=http://127.0.0.1:25443/idds

It keeps tasks in memory with JEDI's task states (registered -> defined -> running -> done /
finished / failed; kill -> aborting -> aborted; retry from finished/failed), replies with the
envelope {"success", "message", "data"} and the messages of the real server, and EXECUTES jobs:
each job of a prun-style task runs in a fresh folder through hpogrid.grid.jobexec (sandbox
unpacked, inputs copied, the command in a subprocess, userJobMetadata.json collected). Failed or
preempted jobs are retried automatically (up to 3 attempts) unless the task disables it.
The user is the `name` claim of the bearer token (a fixed test user without one).
Faults can be injected: HTTP 5xx, dropped connections, garbage bodies, a reply lost after the
request took effect, failing and preempted jobs.

Where the real server surprises a client, this one does the same (panda-server 1.0.4, run with its
PostgreSQL schema and JEDI's refiner, commander and feeder; the rules name the source they copy):
* the sandbox cache registers a file under the name the client sent, path and all, returns that
  name when it offers the file for reuse, offers reuse only to the same user within 3 days of the
  upload, keeps files 7 days, and never overwrites one (`upload_cache_file`, `validate_cache_file`);
* a submitted task is in DEFT only until JEDI registers it (minutes on the grid; at once here unless
  a test holds or delays registration): until then every JEDI-side call acts as if it did not exist;
* the task listing picks any `n_tasks` rows (`rownum <= n`, no ORDER BY), of the last 90 days at most
  even without `since`, and costs a detail query per row;
* kill, finish and retry answer with sendCommandTaskPanda's codes and texts.
It also plays iDDS for hpoWorkflow tasks: the steering and the evaluation jobs, the points and losses
through PanDA's relay, and iDDS's own REST route for the steering's logs (`/idds/logs/...`, with iDDS's
authentication headers and error replies).
Tests age the server's records (`age`) instead of waiting days.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import gzip
import json
import re
import shutil
import struct
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FINAL = ("done", "finished", "failed", "aborted", "broken", "exhausted")
RETRYABLE = ("finished", "failed", "exhausted")
# sendCommandTaskPanda (OraDBProxy): kill and finish are refused in these states, retry runs only in RETRYABLE
# ones (exhausted with a production role), and a user's retry of a running task retries its failed jobs
NOT_KILLABLE = ("finished", "done", "prepared", "broken", "aborted", "toabort", "aborting", "failed")
RETRY_WHILE_ACTIVE = ("running", "scouting", "pending")
# insertTaskParamsPanda: a task of the same user and name in these states is reactivated, otherwise refused
INACTIVE = ("finished", "failed", "aborted", "done", "exhausted")
LISTING_DAYS = 90  # getTaskIDsWithCriteria_JEDI: the listing's window is the last 90 days at most
REUSE_DAYS = 3  # checkSandboxFile: creationTime > CURRENT_DATE-3
KEEP_DAYS = 7  # the cache cleaner removes sandbox files a week old
DEFAULT_USER = "Test User"
MAX_ATTEMPTS = 3
CRIC_PATH = "/api/atlas/pandaqueue/query"  # ATLAS CRIC's queue list, for `hpogrid sites`
IDDS_PATH = "/idds"  # iDDS's own REST server (IDDS_HOST), here on the same port: only its /logs route
IDDS_VOS = ("atlas",)  # iDDS's [OIDC] allow_vos
QUEUES = {
    "ANALY_MANC_GPU_TEST": {
        "status": "online",
        "type": "analysis",
        "cloud": "UK",
        "atlas_site": "UKI-NORTHGRID-MAN-HEP",
        "resource_type": "GPU",
        "corecount": 1,
        "maxrss": 16000,
        "maxtime": 86400,
    },
    "ANALY_BNL_GPU_ARC": {
        "status": "online",
        "type": "analysis",
        "cloud": "US",
        "atlas_site": "BNL-ATLAS",
        "resource_type": "GPU",
        "corecount": 8,
        "maxrss": 32000,
        "maxtime": 172800,
    },
    "ANALY_MWT2_GPU": {
        "status": "offline",
        "type": "analysis",
        "cloud": "US",
        "atlas_site": "MWT2",
        "resource_type": "GPU",
        "corecount": 1,
        "maxrss": 16000,
        "maxtime": 86400,
    },
    "BNL_PROD": {
        "status": "online",
        "type": "production",
        "cloud": "US",
        "atlas_site": "BNL-ATLAS",
        "resource_type": "SCORE",
        "corecount": 1,
        "maxrss": 2000,
        "maxtime": 86400,
    },
}


def make_token(nickname: str, name: str | None = None) -> str:
    """An unsigned OIDC-style ID token, as the client decodes it (header.payload.signature)."""

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"name": name or nickname.title(), "preferred_username": nickname, "exp": int(time.time()) + 86400}
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _encode(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        return {"__datetime__": obj.isoformat()}
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_encode(v) for v in obj]
    return obj


@dataclass
class Job:
    panda_id: int
    seq: int
    status: str = "defined"  # defined -> running -> finished / failed / closed (preempted)
    attempt: int = 0
    budget: int = MAX_ATTEMPTS  # automatic attempts allowed (a user's retry grants more)
    exit_code: int | None = None
    metadata: dict | None = None
    workdir: Path | None = None
    process_group: int | None = None


@dataclass
class Task:
    task_id: int
    params: dict
    user: str
    status: str = "registered"
    created: dt.datetime = field(default_factory=_now)
    modified: dt.datetime = field(default_factory=_now)
    jobs: list[Job] = field(default_factory=list)
    error: str = ""
    killed: bool = False
    finishing: bool = False
    registered: bool = True  # in JEDI's tables (a submitted task is in DEFT's until JEDI registers it)

    def touch(self, status: str | None = None) -> None:
        if status:
            self.status = status
        self.modified = _now()

    def row(self) -> dict:
        finished = sum(j.status == "finished" for j in self.jobs)
        failed = sum(j.status in ("failed", "cancelled") for j in self.jobs)
        total = len(self.jobs) or int(self.params.get("nEvents") or 1)
        return {
            "jediTaskID": self.task_id,
            "reqID": self.task_id,
            "taskName": self.params.get("taskName", ""),
            "userName": self.user,
            "status": self.status,
            "superStatus": self.status,
            "creationDate": self.created,
            "modificationTime": self.modified,
            "site": self.params.get("site"),
            "architecture": self.params.get("architecture"),
            "prodSourceLabel": "user",
            "taskType": "anal",
            "errorDialog": self.error,
            "nFiles": total,
            "nFilesFinished": finished,
            "nFilesFailed": failed,
            "pctFinished": round(100 * finished / total) if total else 0,
            "pctFailed": round(100 * failed / total) if total else 0,
        }


class SandboxMissing(Exception):
    """The job's sandbox cannot be fetched: the job fails before its payload starts."""


@dataclass
class CacheFile:
    """A row of userCacheUsage: the name as the client sent it, and the file on disk (its base name)."""

    name: str
    user: str
    size: int
    checksum: int
    created: dt.datetime = field(default_factory=_now)
    touched: dt.datetime = field(default_factory=_now)

    @property
    def stored(self) -> str:
        return self.name.split("/")[-1]  # upload_cache_file writes cache_dir/<base name>


@dataclass
class Faults:
    """What goes wrong next. HTTP faults: {endpoint suffix: [kind, ...]} consumed one per request;
    kinds: "5xx", "drop" (connection closed, no reply), "garbage" (200 with a non-JSON body),
    "lost" (the request takes effect, then a 502 reply), "timeout" (the request takes effect, and the
    reply comes only after `slow_reply` seconds, past the client's timeout). Job faults by job serial number."""

    http: dict[str, list[str]] = field(default_factory=dict)
    slow_reply: float = 5.0
    fail_seq: set[int] = field(default_factory=set)  # the next job with this serial number fails
    preempt_seq: set[int] = field(default_factory=set)  # the next job with this serial number is preempted
    preempt_after: Any = 5.0  # seconds, or a function of the job's folder: preempt once it is true
    preempt_signal: int = 15  # what the pilot sends: SIGTERM (15) or SIGUSR1 (10)

    def take(self, endpoint: str) -> str | None:
        for suffix, kinds in self.http.items():
            if endpoint.endswith(suffix) and kinds:
                return kinds.pop(0)
        return None


class PandaState:
    """The server's memory: tasks, cache files, datasets, faults."""

    def __init__(self, root: Path, slots: int = 1, host: str = "127.0.0.1"):
        self.root, self.host = Path(root), host
        self.cache = self.root / "cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.tasks: dict[int, Task] = {}
        self.datasets: dict[str, list[Path]] = {}
        self.faults = Faults()
        self.requests: list[str] = []
        self.idds_points: dict[int, list[dict]] = {}
        self.idds_requests: dict[int, int] = {}  # jediTaskID (iDDS's workload_id) -> iDDS request_id
        self.steering_logs: dict[int, list[Path]] = {}  # request_id -> job_logs_tar of its processings
        self.idds_dns: list[str] = []  # the certificate subjects iDDS's TLS listener authenticated
        self.next_request, self.next_processing = 300_000, 900_000
        self.next_task, self.next_job = 1000, 5_000_000
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="panda-job")
        self.job_env: dict[str, str] = {}
        self.queues: dict[str, dict] = json.loads(json.dumps(QUEUES))
        self.closed = False
        self.cache_files: list[CacheFile] = []  # userCacheUsage: what was uploaded, by whom, when
        self.hold_registration = False  # tests that care register tasks themselves (register)
        self.registration_delay = 0.0  # seconds from submission to JEDI's registration
        self.listed: list[int] = []  # rows each task listing served (each costs the real server a query)

    # -- tasks ---------------------------------------------------------------------------------
    def submit(self, params: dict, user: str, allow_active: bool = False) -> tuple[int, str, int | None]:
        """insertTaskParamsPanda: (code, message, new task id). For a user's task with uniqueTaskName (or a
        retry with new parameters, allow_active) a task of the same user and name is not duplicated: one
        still in DEFT is refused (1), an active one refused (2) or given the new parameters (5), a
        finished one reactivated with them (3)."""
        name = params.get("taskName")
        with self.lock:
            same = [t for t in self.tasks.values() if t.user == user and t.params.get("taskName") == name]
            if same and (params.get("uniqueTaskName") or allow_active):
                old = max(same, key=lambda t: t.task_id)
                return self._resubmitted(old, params, allow_active)
            self.next_task += 1
            task = Task(self.next_task, json.loads(json.dumps(params)), user, registered=False)
            self.tasks[task.task_id] = task
        threading.Thread(target=self._start, args=(task,), daemon=True).start()
        return 0, f"succeeded. new jediTaskID={task.task_id}", task.task_id

    def _resubmitted(self, old: Task, params: dict, allow_active: bool) -> tuple[int, str, None]:
        """insertTaskParamsPanda for a name the user has a task of already (codes and texts as the server's)."""
        name, status = params.get("taskName"), old.status
        if not old.registered:
            return (
                1,
                f"jediTaskID={old.task_id} is already queued for outDS={name}. You cannot submit duplicated tasks. ",
                None,
            )
        if status not in INACTIVE and not allow_active:
            message = (
                f"jediTaskID={old.task_id} is in the {status} state for outDS={name}. You can re-submit the task "
                "with new parameters for the same or another input once it goes into finished/failed/done. Or you "
                "can retry the task once it goes into running/finished/failed/done. "
            )
            return 2, message, None
        old.params.update({k: v for k, v in params.items() if k != "taskName"})
        self._rerun_failed(old)
        if status not in INACTIVE:
            return 5, f"{status}. new tasks params have been set to jediTaskID={old.task_id}. ", None
        message = (
            f"reactivation accepted. jediTaskID={old.task_id} (currently in {status} state) will be re-executed "
            "with old and/or new input"
        )
        return 3, message, None

    def register(self, task_id: int) -> None:
        """JEDI's TaskRegister: the task moves from DEFT into JEDI's tables (status registered)."""
        with self.lock:
            task = self.tasks[task_id]
            if not task.registered:
                task.registered = True
                task.touch("registered")

    def _await_registration(self, task: Task) -> None:
        time.sleep(self.registration_delay)
        while self.hold_registration and not task.registered and not self.closed:
            time.sleep(0.05)
        self.register(task.task_id)

    def age(self, days: float, task_ids: list[int] | None = None) -> None:
        """Move the server's records `days` into the past (the given tasks, or all tasks and cache files);
        cache files older than KEEP_DAYS are then cleaned away, as the cache cleaner does."""
        delta = dt.timedelta(days=days)
        with self.lock:
            for task in self.tasks.values():
                if task_ids is None or task.task_id in task_ids:
                    task.created, task.modified = task.created - delta, task.modified - delta
            if task_ids is None:
                for entry in self.cache_files:
                    entry.created, entry.touched = entry.created - delta, entry.touched - delta
                self._clean_cache()

    def _clean_cache(self) -> None:
        limit = _now() - dt.timedelta(days=KEEP_DAYS)
        for entry in [e for e in self.cache_files if e.touched < limit]:
            self.cache_files.remove(entry)
            (self.cache / entry.stored).unlink(missing_ok=True)

    def _start(self, task: Task) -> None:
        self._await_registration(task)
        time.sleep(0.05)
        if self.closed:
            return
        if task.params.get("hpoWorkflow"):
            return self._steer(task)
        with self.lock:
            if task.killed:
                return
            task.touch("defined")
            n_jobs = int(task.params.get("nEvents") or 1) // int(task.params.get("nEventsPerJob") or 1)
            for seq in range(1, max(n_jobs, 1) + 1):
                self.next_job += 1
                task.jobs.append(Job(self.next_job, seq))
            task.touch("running")
            jobs = list(task.jobs)
        with contextlib.suppress(RuntimeError):  # the server stopped meanwhile
            for job in jobs:
                self.pool.submit(self._run, task, job)

    def _run(self, task: Task, job: Job) -> None:
        with self.lock:
            if task.killed or task.finishing or self.closed:
                job.status = "cancelled"
                self._settle(task)
                return
            job.status, job.attempt = "running", job.attempt + 1
            # job faults are one-shot: the job with that serial number meets it once
            preempt = job.seq in self.faults.preempt_seq
            fail = job.seq in self.faults.fail_seq
            self.faults.preempt_seq.discard(job.seq)
            self.faults.fail_seq.discard(job.seq)
        workdir = self.root / "jobs" / f"{job.panda_id}.{job.attempt}"
        job.workdir = workdir
        try:
            if fail:
                workdir.mkdir(parents=True)
                code, metadata, status = 1, None, "failed"
            else:
                options = (
                    {"preempt_after": self.faults.preempt_after, "preempt_signal": self.faults.preempt_signal}
                    if preempt
                    else {}
                )
                result = self._payload(task, job, workdir, **options)
                code, metadata = result.exit_code, result.metadata
                status = {"finished": "finished", "preempted": "closed"}.get(result.status, "failed")
        except Exception as exc:  # a broken job must not break the server
            code, metadata, status = 1, None, "failed"
            task.error = f"job {job.seq}: {exc}"
        with self.lock:
            job.exit_code, job.metadata, job.status = code, metadata, status
            retry = status != "finished" and not task.params.get("disableAutoRetry") and job.attempt < job.budget
            if retry and not task.killed and not self.closed:
                job.status = "defined"
                self.pool.submit(self._run, task, job)
            self._settle(task)

    # -- iDDS: steering and evaluation of an hpoWorkflow task ------------------------------------
    def _steer(self, task: Task) -> None:
        """Play iDDS: ask the steering command for points, evaluate each in a job, until done."""
        request = task.params["hpoRequestData"]
        max_points, per_generation = int(request["max_points"]), int(request["num_points_per_generation"])
        minimum = int(request.get("min_unevaluated_points") or 1)
        parallel = int(task.params.get("nEvents") or 1)
        points: list[dict] = []  # {"id", "parameters", "loss", "status": new|running|done|failed, "tries"}
        with self.lock:
            self.idds_points[task.task_id] = []
            self.next_request += 1  # JEDI's TaskRefiner makes one iDDS request per task, workload_id = task ID
            self.idds_requests[task.task_id] = self.next_request
        exhausted = False
        with self.lock:
            task.touch("running")
        while not (task.killed or self.closed):
            waiting = [p for p in points if p["status"] in ("new", "running")]
            if not exhausted and len(points) < max_points and len(waiting) < minimum:
                new = self._generate(task, points, min(per_generation, max_points - len(points)))
                if new is None:
                    break
                exhausted = exhausted or not new
                for point in new:
                    points.append(
                        {"id": str(len(points)), "parameters": point, "loss": None, "status": "new", "tries": 0}
                    )
            running = sum(p["status"] == "running" for p in points)
            for point in [p for p in points if p["status"] == "new"][: max(parallel - running, 0)]:
                point["status"], point["tries"] = "running", point["tries"] + 1
                self.pool.submit(self._evaluate, task, point)
            with self.lock:
                self.idds_points[task.task_id] = [
                    {"id": p["id"], "parameters": p["parameters"], "loss": p["loss"]} for p in points
                ]
            if not any(p["status"] in ("new", "running") for p in points) and (exhausted or len(points) >= max_points):
                break
            time.sleep(0.2)
        with self.lock:
            if task.killed:
                task.touch("aborted")
            else:
                done = sum(p["status"] == "done" for p in points)
                task.touch("done" if points and done == len(points) else "finished" if done else "failed")

    def _generate(self, task: Task, points: list[dict], count: int) -> list[dict] | None:
        """Run the steering container's command (`docker <arguments>`, without docker) once."""
        import shlex
        import subprocess
        import sys

        request = task.params["hpoRequestData"]
        folder = self.root / "steering" / str(task.task_id) / str(len(points))
        folder.mkdir(parents=True)
        history = {"points": [[p["parameters"], p["loss"]] for p in points], "opt_space": request["opt_space"]}
        (folder / "in.json").write_text(json.dumps(history))
        arguments = request["arguments"]
        for key, value in (
            ("%IN", "in.json"),
            ("%OUT", "out.json"),
            ("%MAX_POINTS", str(request["max_points"])),
            ("%NUM_POINTS", str(count)),
        ):
            arguments = arguments.replace(key, value)
        command = _docker_run_command(shlex.split(arguments))
        if command[:1] == ["python3"]:
            command[0] = sys.executable  # the steering image's python is this environment's here
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600, env=self._env())
        (folder / "steering.log").write_text(done.stdout + done.stderr)
        self._keep_steering_logs(task, folder)
        try:
            new = json.loads((folder / "out.json").read_text())
        except (OSError, ValueError):
            task.error = f"steering failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
            return None
        return new if isinstance(new, list) else None

    def _keep_steering_logs(self, task: Task, folder: Path) -> None:
        """iDDS (atlashpowork's poller, tar_job_logs) tars a finished steering run's folder, named
        processing_<processing_id>, into processing_<id>.tgz and records it as job_logs_tar."""
        import tarfile

        with self.lock:
            self.next_processing += 1
            name = f"processing_{self.next_processing}"
            request_id = self.idds_requests[task.task_id]
        archive = folder.parent / f"{name}.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(folder, arcname=name)
        with self.lock:
            self.steering_logs.setdefault(request_id, []).append(archive)

    def _evaluate(self, task: Task, point: dict) -> None:
        with self.lock:
            self.next_job += 1
            job = Job(self.next_job, len(task.jobs) + 1, status="running", attempt=1)
            task.jobs.append(job)
        workdir = self.root / "jobs" / f"{job.panda_id}.1"
        job.workdir = workdir
        loss = None
        try:
            result = self._payload(task, job, workdir, files={"input.json": json.dumps(point["parameters"])})
            output = json.loads((workdir / task.params["hpoRequestData"]["output_json"]).read_text())
            if output.get("status") == 0 and isinstance(output.get("loss"), (int, float)):
                loss = float(output["loss"])
            job.exit_code, job.metadata = result.exit_code, result.metadata
        except (OSError, ValueError, SandboxMissing) as exc:
            task.error = f"evaluation of point {point['id']}: {exc}"
        with self.lock:
            job.status = "finished" if loss is not None else "failed"
            if loss is not None:
                point["loss"], point["status"] = loss, "done"
            else:
                point["status"] = "new" if point["tries"] < MAX_ATTEMPTS else "failed"  # iDDS tries a point 3 times
            task.touch()

    def _payload(self, task: Task, job: Job, workdir: Path, **options):
        """Run a job's payload as a pilot would: the task's sandbox from the cache, its input files."""
        from hpogrid.grid import jobexec

        archive = re.search(r"-a (\S+)", " ".join(str(p.get("value")) for p in task.params["jobParameters"]))
        sandbox = None
        if archive:  # the pilot downloads <sourceURL>/cache/<name>: only a bare file name of the cache is there
            name = archive.group(1)
            sandbox = self.cache / name
            if "/" in name or not sandbox.is_file():
                raise SandboxMissing(f"pilot: cannot download the sandbox {name} from the cache")
        inputs = [p for ds in _input_datasets(task.params) for p in self.datasets.get(ds, [])]
        options.setdefault("env", self.job_env)
        # a killed task's running jobs, and every running job when the server stops, are ended as a pilot
        # ends a job it must give up (SIGTERM): stopping does not wait for whole searches to finish
        options.setdefault("preempt_after", lambda _workdir: self.closed or task.killed)
        return jobexec.run_job(
            task.params,
            job.seq,
            workdir,
            sandbox,
            inputs,
            task_id=task.task_id,
            panda_id=job.panda_id,
            timeout=900,
            **options,
        )

    def _env(self) -> dict[str, str]:
        import os
        import sys

        return {
            **os.environ,
            "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
            **self.job_env,
        }

    def _settle(self, task: Task) -> None:
        if any(j.status in ("defined", "running") for j in task.jobs):
            task.touch()
            return
        if task.killed:
            task.touch("aborted")
            return
        finished = sum(j.status == "finished" for j in task.jobs)
        task.touch("done" if finished == len(task.jobs) else "finished" if finished else "failed")

    def command(self, task_id: int, user: str, command: str) -> tuple[int, str]:
        """sendCommandTaskPanda: kill, finish or retry a task of JEDI's; (code, message) as the server has them.
        kill ends the task (its waiting jobs never start, running ones are ended); finish lets running jobs end."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or not task.registered:  # JEDI_Tasks has no such row (yet)
                return 2, f"jediTaskID={task_id} not found"
            if task.user != user:
                return 3, "Permission denied: not the task owner or no production role"
            status = task.status
            if command in ("kill", "finish") and status in NOT_KILLABLE:
                return 4, f"Command rejected: the {command} command is not accepted if the task is in {status} status "
            if command == "retry":
                if status in RETRY_WHILE_ACTIVE:  # code 5: the API retries the failed jobs (task_api.retry)
                    self._rerun_failed(task)
                    return 5, status
                if status not in RETRYABLE or status == "exhausted":  # users have no production role
                    extra = "and production role is missing" if status == "exhausted" else ""
                    return (
                        4,
                        f"Command rejected: the retry command is not accepted if the task is in {status} status {extra}",
                    )
                self._rerun_failed(task)
            else:
                for job in task.jobs:
                    if job.status == "defined":
                        job.status = "cancelled"
                if command == "kill":
                    task.killed = True
                else:
                    task.finishing = True  # nothing new starts
                task.touch("aborting" if command == "kill" else "finishing")
                self._settle(task)
            return 0, f"command={command} is registered. will be executed in a few minutes"

    def _rerun_failed(self, task: Task) -> None:
        """The task's jobs that did not finish run again, with new attempts."""
        with self.lock:
            again = [j for j in task.jobs if j.status != "finished"]
            for job in again:
                job.status, job.budget = "defined", job.attempt + MAX_ATTEMPTS
            task.touch("running")
        for job in again:
            self.pool.submit(self._run, task, job)

    def retry(self, task_id: int, user: str, new_params: dict | None) -> tuple[int, str]:
        """task_api.retry: with new parameters, the stored ones updated and inserted again as the caller's
        task (insertTaskParamsPanda with allowActiveTask); without, the retry command. Code 5 becomes a
        retry of the failed jobs of a task still running."""
        if new_params:
            with self.lock:
                task = self.tasks.get(task_id)
                params = dict(task.params) if task is not None and task.registered else None
            if params is None:  # getTaskParamsPanda finds nothing to decode
                return 1, "new parameter conversion failed with Expecting value: line 1 column 1 (char 0)"
            code, message, _ = self.submit({**params, **new_params}, user, allow_active=True)
        else:
            code, message = self.command(task_id, user, "retry")
        if code == 5:
            return (
                3 if new_params else 0
            ), f"retry has been triggered for failed jobs while the task is still {message}"
        return code, message

    def wait(self, task_id: int, timeout: float = 600) -> Task:
        """Until the task is in a final state (for tests)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                task = self.tasks[task_id]
                if task.status in FINAL:
                    return task
            time.sleep(0.2)
        raise TimeoutError(f"task {task_id} still {self.tasks[task_id].status}")

    def close(self) -> None:
        self.closed = True  # running jobs see it within 0.2 s and are ended
        self.pool.shutdown(wait=True, cancel_futures=True)


def _docker_run_command(tokens: list[str]) -> list[str]:
    """The command of `run [options] IMAGE COMMAND...` (docker's argument list)."""
    if tokens[:1] != ["run"]:
        raise ValueError(f"steering arguments must be a docker run: {tokens[:3]}")
    valued = {
        "-v",
        "--volume",
        "-w",
        "--workdir",
        "-e",
        "--env",
        "--entrypoint",
        "-u",
        "--user",
        "--name",
        "--network",
        "--mount",
    }
    index = 1
    while index < len(tokens) and tokens[index].startswith("-"):
        index += 2 if tokens[index] in valued else 1
    return tokens[index + 1 :]


def _input_datasets(params: dict) -> list[str]:
    names = []
    for param in params.get("jobParameters", []):
        if param.get("param_type") == "input" and param.get("dataset"):
            names += [d for d in str(param["dataset"]).split(",") if d]
    return names


# -- HTTP ----------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    state: PandaState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # envelope helpers
    def _reply(self, payload: Any, status: int = 200, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(_encode(payload)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _ok(self, data: Any = None, message: str = "") -> None:
        self._reply({"success": True, "message": message, "data": data})

    def _fail(self, message: str, data: Any = None) -> None:
        self._reply({"success": False, "message": message, "data": data})

    def _user(self) -> str:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            try:
                payload = header[7:].split(".")[1]
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                return str(claims.get("name") or DEFAULT_USER)
            except (ValueError, IndexError):
                pass
        return DEFAULT_USER

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        kind = self.headers.get("Content-Type", "")
        if kind.startswith("multipart/form-data"):
            return _multipart(data, kind)
        if kind.startswith("application/json") or data[:1] in (b"{", b"["):
            return json.loads(data or b"{}")
        return {k: v[0] for k, v in urllib.parse.parse_qs(data.decode()).items()}

    def do_GET(self) -> None:
        parsed = urllib.parse.urlparse(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        self._dispatch(parsed.path, query)

    def do_POST(self) -> None:
        parsed = urllib.parse.urlparse(self.path)
        self._dispatch(parsed.path, self._body())

    def _dispatch(self, path: str, args: dict) -> None:
        state = self.state
        if path.startswith(CRIC_PATH):
            endpoint = "cric"
        elif path.startswith(f"{IDDS_PATH}/"):  # flask's route /logs/<workload_id>/<request_id>
            endpoint, _, rest = path[len(IDDS_PATH) + 1 :].partition("/")
            endpoint = f"idds/{endpoint}"
            args = (
                dict(zip(("workload_id", "request_id"), rest.split("/"), strict=True)) if rest.count("/") == 1 else {}
            )
        else:
            endpoint = path.split("/api/v1/")[-1] if "/api/v1/" in path else path.rsplit("/", 1)[-1]
        with state.lock:
            state.requests.append(endpoint)
            fault = state.faults.take(endpoint)
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "5xx":
            return self._reply(None, 503, raw=b"<html>503 Service Unavailable</html>")
        if fault == "garbage":
            return self._reply(None, 200, raw=b"<html>proxy error page</html>")
        handler = ROUTES.get(endpoint)
        if handler is None:
            return self._reply(None, 404, raw=f"no endpoint {endpoint}".encode())
        if fault in ("lost", "timeout"):
            handler(self, args, lost=True)
            if fault == "timeout":
                time.sleep(state.faults.slow_reply)  # the client has given up by now
            with contextlib.suppress(OSError):
                self._reply(None, 502, raw=b"<html>502 Bad Gateway</html>")
            return
        handler(self, args)

    # endpoints
    def is_alive(self, args, lost=False):
        self._ok(None, "alive")

    def submit(self, args, lost=False):
        params = args.get("task_parameters")
        if isinstance(params, str):
            params = json.loads(params)
        if not isinstance(params, dict) or "taskName" not in params or "jobParameters" not in params:
            return None if lost else self._fail("invalid task parameters: taskName and jobParameters are required", 4)
        code, message, task_id = self.state.submit(params, self._user())
        if lost:
            return None
        # task_api.submit: codes 0 and 3 succeed, with the new task's id in data; others fail with the code
        return self._ok(task_id, message) if code in (0, 3) else self._fail(message, code)

    def _task(self, args) -> Task | None:
        """A task JEDI knows (registered), by the request's task_id."""
        task = self.state.tasks.get(int(args.get("task_id", 0)))
        return task if task is not None and task.registered else None

    def get_status(self, args, lost=False):
        task = self._task(args)
        return self._ok(task.status) if task else self._fail("Task not found")

    def get_details(self, args, lost=False):
        task = self._task(args)
        if task is None:
            return self._fail("Task not found or error retrieving the details")
        name = task.params.get("taskName", "").rstrip("/")
        self._ok({
            "jediTaskID": task.task_id, "inDS": ",".join(_input_datasets(task.params)), "outDS": f"{name}/",
            "statistics": "", "PandaID": [j.panda_id for j in task.jobs], "mergeStatus": None,
            "mergePandaID": [], "status": task.status, "cliParams": task.params.get("cliParams", ""),
        })  # fmt: skip

    def get_detailed_info(self, args, lost=False):
        """One task's JediTaskSpec fields by id, of any age (the listing's 90-day window does not apply).
        Assumed here: no owner check and "Task not found" for an unknown id, as task_api's get_details has."""
        task = self._task(args)
        return self._ok(task.row()) if task else self._fail("Task not found")

    def _command(self, command: str, args, lost=False):
        """task_api.kill / finish: success when sendCommandTaskPanda's code is 0; the code is the data."""
        code, message = self.state.command(int(args.get("task_id", 0)), self._user(), command)
        if lost:
            return None
        self._reply({"success": code == 0, "message": message, "data": code})

    def finish_task(self, args, lost=False):  # not `finish`: socketserver calls that after each request
        return self._command("finish", args, lost)

    def kill(self, args, lost=False):
        return self._command("kill", args, lost)

    def get_tasks_detailed_info_since(self, args, lost=False):
        """getTaskIDsWithCriteria_JEDI, then each task's details: the caller's tasks (unless a filter names
        the user) modified since `since`, but of the last 90 days at most, with or without `since`;
        equality filters; `rownum <= n_tasks` without ORDER BY picks any n tasks, not the newest."""
        filters = json.loads(args["filters"]) if args.get("filters") else {}
        oldest = _now() - dt.timedelta(days=LISTING_DAYS)
        since = dt.datetime.strptime(args["since"], "%Y-%m-%d %H:%M:%S") if args.get("since") else oldest
        since = max(since, oldest)
        user = filters.get("userName", self._user())
        with self.state.lock:
            rows = [t.row() for t in self.state.tasks.values() if t.registered]
        rows = [r for r in rows if r["userName"] == user and r["modificationTime"] >= since]
        for key, value in filters.items():
            if key != "userName":
                rows = [r for r in rows if str(r.get(key)) == str(value)]
        rows.sort(key=lambda r: (r["jediTaskID"] * 2654435761) % 2**32)  # the database's order: none in particular
        rows = sorted(rows[: int(args.get("n_tasks", 500))], key=lambda r: r["jediTaskID"])  # IDs sorted after the cut
        with self.state.lock:
            self.state.listed.append(len(rows))
        self._ok(rows)

    def get_task_parameters(self, args, lost=False):
        task = self._task(args)
        if task is None:
            return self._fail("Task not found")
        self._ok({**task.params, "userName": task.user, "taskType": "anal", "taskPriority": 1000})

    def get_job_ids(self, args, lost=False):
        task = self._task(args)
        self._ok([j.panda_id for j in task.jobs] if task else [])

    def get_metadata_for_analysis_jobs(self, args, lost=False):
        task = self._task(args)
        jobs = task.jobs if task else []
        self._ok({str(j.panda_id): j.metadata for j in jobs if j.status == "finished" and j.metadata is not None})

    def retry(self, args, lost=False):
        new = args.get("new_parameters")
        if isinstance(new, str):
            new = json.loads(new)
        code, message = self.state.retry(int(args.get("task_id", 0)), self._user(), new)
        if lost:
            return None
        self._reply({"success": code == 0, "message": message, "data": code})

    def validate_cache_file(self, args, lost=False):
        """checkSandboxFile: a file of the caller's with this size and checksum, registered within 3 days:
        FOUND:<host>:<the name it was uploaded with>."""
        size, checksum = int(args.get("file_size", -1)), int(args.get("checksum", -1))
        user, recent = self._user(), _now() - dt.timedelta(days=REUSE_DAYS)
        with self.state.lock:
            self.state._clean_cache()
            for entry in self.state.cache_files:
                if (entry.user, entry.size, entry.checksum) == (user, size, checksum) and entry.created > recent:
                    return self._ok(None, f"FOUND:{self.state.host}:{entry.name}")
        self._fail("NOTFOUND")

    def upload_cache_file(self, args, lost=False):
        """upload_cache_file: written to the cache as its base name, never over an existing file (which is
        touched instead), then registered under the name as sent."""
        upload = args.get("file")
        if not upload:
            return self._fail("no file")
        name, content = upload
        if len(content) > 100 * 1024 * 1024:  # SANDBOX_NO_BUILD_LIMIT
            return self._fail(f"ERROR: upload failure. Exceeded size limit {len(content)}>{100 * 1024 * 1024}.")
        with self.state.lock:
            self.state._clean_cache()
            target = self.state.cache / name.split("/")[-1]
            if target.exists() and name.split(".")[-1] != "__ow__":
                for entry in self.state.cache_files:
                    if entry.stored == target.name:
                        entry.touched = _now()
                return self._fail("ERROR: cannot overwrite file")
            target.write_bytes(content)
            checksum = struct.unpack("II", content[-8:])[0] if len(content) >= 8 else 0
            self.state.cache_files.append(CacheFile(name, self._user(), len(content), checksum))
        self._ok(None, "True")

    def relay_idds_command(self, args, lost=False):
        command = args.get("command_name", "")
        kwargs = json.loads(args["kwargs"]) if args.get("kwargs") else {}
        if command.split("+")[0] != "get_hyperparameters":
            return self._reply([False, f"unknown command {command}"])
        points = self.state.idds_points.get(int(kwargs.get("workload_id") or 0))
        if points is None:
            return self._reply([True, [False, f"no HPO request for workload {kwargs.get('workload_id')}"]])
        self._reply([True, [True, points]])

    # -- iDDS's REST server ----------------------------------------------------------------------
    def _idds_error(self, status: int, message: str, exc_class: str = "CoreException") -> None:
        """iDDS's errors: no body, the class and {"msg": ...} in headers (IDDSController.generate_http_response;
        a refused login has the bare message, app.generate_failed_auth_response)."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("ExceptionClass", exc_class)
        text = message if status == 401 else json.dumps({"msg": message})
        self.send_header("ExceptionMessage", text)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _idds_user(self) -> str | None:
        """iDDS's before_request_auth (rest/v1/app.py): X-IDDS-Auth-Type is x509_proxy unless the client
        says oidc; a proxy needs the TLS client DN (only serve_idds_tls's listener has one), a token needs
        an allowed VO in X-IDDS-Auth-VO (core/authentication.py verify_id_token). Like the PanDA side,
        the token's signature is not checked; its `name` claim is the user."""
        kind = self.headers.get("X-IDDS-Auth-Type", "x509_proxy")
        vo, token = self.headers.get("X-IDDS-Auth-VO"), self.headers.get("X-IDDS-Auth-Token")
        if kind == "x509_proxy":
            subject = _client_dn(self.connection)
            if not subject:
                return self._idds_error(401, "User DN cannot be found.", "IDDSException")
            with self.state.lock:
                self.state.idds_dns.append(subject)
            return subject.rsplit("/CN=", 1)[-1]  # get_user_name_from_dn: the last CN of a user's DN
        if kind != "oidc":
            return self._idds_error(401, f"Authentication method {kind} is not supported", "IDDSException")
        if vo not in IDDS_VOS:
            return self._idds_error(401, f"VO {vo} is not allowed.", "IDDSException")
        try:
            payload = (token or "").split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            return str(claims["name"])
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            return self._idds_error(401, f"Failed to verify oidc token: {exc}", "IDDSException")

    def idds_logs(self, args, lost=False):
        """GET /logs/<workload_id>/<request_id> (rest/v1/logs.py): 'null' for either; the workload's one
        request is found by workload_id (none is an error; iDDS refuses two too, which never
        happen here: one request per task); the job_logs_tar of its processings,
        tarred into <request_id>.logs.tgz (utils.tar_zip_files, members by base name), sent as an
        attachment (flask send_from_directory, as_attachment=True). Every error is a 500 but
        NoObject's (404)."""
        import io
        import tarfile

        if "workload_id" not in args:  # flask: no such route
            return self._idds_error(404, "The requested REST API is not defined", "IDDSException")
        if self._idds_user() is None:
            return None
        workload = None if args["workload_id"] == "null" else args["workload_id"]
        request = None if args["request_id"] == "null" else args["request_id"]
        if workload is None and request is None:
            return self._idds_error(500, "One of workload_id and request_id should not be None or empty")
        with self.state.lock:
            if not request:
                found = [r for w, r in self.state.idds_requests.items() if str(w) == workload]
                if not found:
                    return self._idds_error(500, f"Cannot find requests with this workloa_id: {workload}")
                request = str(found[0])
            files = list(self.state.steering_logs.get(int(request), [])) if request.isdigit() else []
        if not files:
            return self._idds_error(500, "No log files founded.")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for file in files:
                tar.add(file, arcname=file.name)
        if lost:
            return None
        body = buffer.getvalue()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("Content-Disposition", f"attachment; filename={request}.logs.tgz")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ROUTES = {
    "cric": lambda handler, args, lost=False: handler._reply(handler.state.queues),
    "system/is_alive": Handler.is_alive,
    "task/submit": Handler.submit,
    "task/get_status": Handler.get_status,
    "task/get_details": Handler.get_details,
    "task/get_detailed_info": Handler.get_detailed_info,
    "task/finish": Handler.finish_task,
    "task/get_tasks_detailed_info_since": Handler.get_tasks_detailed_info_since,
    "task/get_task_parameters": Handler.get_task_parameters,
    "task/get_job_ids": Handler.get_job_ids,
    "job/get_metadata_for_analysis_jobs": Handler.get_metadata_for_analysis_jobs,
    "task/kill": Handler.kill,
    "task/retry": Handler.retry,
    "file_server/validate_cache_file": Handler.validate_cache_file,
    "file_server/upload_cache_file": Handler.upload_cache_file,
    "relay_idds_command": Handler.relay_idds_command,
    "idds/logs": Handler.idds_logs,
}


DN_KEYS = {"domainComponent": "DC", "countryName": "C", "organizationName": "O", "organizationalUnitName": "OU",
           "commonName": "CN"}  # fmt: skip


def _client_dn(connection: Any) -> str | None:
    """The TLS client certificate's subject as mod_ssl's SSL_CLIENT_S_DN in grid form (/DC=ch/.../CN=name)."""
    peer = connection.getpeercert() if hasattr(connection, "getpeercert") else None
    if not peer:
        return None
    return "".join(f"/{DN_KEYS.get(key, key)}={value}" for rdn in peer.get("subject", ()) for key, value in rdn)


def _multipart(data: bytes, kind: str) -> dict:
    boundary = kind.split("boundary=")[-1].strip().strip('"').encode()
    fields = {}
    for part in data.split(b"--" + boundary):
        head, _, body = part.partition(b"\r\n\r\n")
        found = re.search(rb'name="([^"]+)"(?:; filename="([^"]*)")?', head)
        if not found:
            continue
        body = body[:-2] if body.endswith(b"\r\n") else body
        name = found.group(1).decode()
        fields[name] = (found.group(2).decode(), body) if found.group(2) is not None else body.decode()
    return fields


class PandaServer:
    """A running server on 127.0.0.1 (a free port unless given), in threads of this process."""

    def __init__(self, root: Path, port: int = 0, slots: int = 1):
        self.state = PandaState(root, slots)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/server/panda"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.others: list[ThreadingHTTPServer] = []  # more listeners (serve_idds_tls)

    def client_env(self, nickname: str = "jdoe", name: str | None = None) -> dict[str, str]:
        """The environment that points panda-client (and so hpogrid) at this server."""
        return {
            "PANDA_URL": self.url,
            "PANDA_URL_SSL": self.url,
            "PANDACACHE_URL": self.url,
            "PANDA_BEHIND_REAL_LB": "1",
            "PANDA_AUTH": "oidc",
            "PANDA_AUTH_VO": "atlas",
            "PANDA_AUTH_ID_TOKEN": make_token(nickname, name),
            "HPOGRID_CRIC_URL": f"http://127.0.0.1:{self.port}{CRIC_PATH}/?json",
            "IDDS_HOST": f"http://127.0.0.1:{self.port}{IDDS_PATH}",
        }

    def serve_idds_tls(self, certfile: Path, cafile: Path) -> str:
        """iDDS over HTTPS as its Apache serves it (mod_ssl; the client's certificate verified against the
        grid CAs and its subject passed on as SSL_CLIENT_S_DN): a second listener on 127.0.0.1 that requires
        a client certificate signed by `cafile`, on the same state; returns its IDDS_HOST URL."""
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile)
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
        handler = type("TLSHandler", (Handler,), {"state": self.state})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.others.append(httpd)
        return f"https://127.0.0.1:{httpd.server_address[1]}{IDDS_PATH}"

    def stop(self) -> None:
        for httpd in [self.httpd, *self.others]:
            httpd.shutdown()
            httpd.server_close()
        self.state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local PanDA-compatible server (for tests and trials)")
    parser.add_argument("--port", type=int, default=25443)
    parser.add_argument("--slots", type=int, default=1, help="jobs run at once")
    parser.add_argument("--root", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("--token", metavar="NICKNAME", help="print a test ID token for NICKNAME and exit")
    args = parser.parse_args()
    if args.token:
        print(make_token(args.token))
        return
    import tempfile

    root = args.root or Path(tempfile.mkdtemp(prefix="panda-server-"))
    server = PandaServer(root, args.port, args.slots)
    print(f"PanDA-compatible server at {server.url} (work folder {root}); Ctrl-C ends it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
        shutil.rmtree(root, ignore_errors=True) if args.root is None else None


if __name__ == "__main__":
    main()
