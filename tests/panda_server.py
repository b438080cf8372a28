"""A local PanDA-compatible server: the /api/v1 protocol of PanDA as panda-client 2.2.0 speaks it.

Used by the tests (fixture `panda` in tests/conftest.py) and by bench/grid_scaleout.py; start one by
hand to try hpogrid's grid commands without the grid:

    python -m tests.panda_server --port 25443 --slots 2
    export PANDA_URL_SSL=http://127.0.0.1:25443/server/panda PANDA_URL=$PANDA_URL_SSL \\
           PANDACACHE_URL=$PANDA_URL_SSL PANDA_BEHIND_REAL_LB=1 \\
           PANDA_AUTH=oidc PANDA_AUTH_VO=atlas PANDA_AUTH_ID_TOKEN=$(python -m tests.panda_server --token jdoe)

It keeps tasks in memory with JEDI's task states (registered -> defined -> running -> done /
finished / failed; kill -> aborting -> aborted; retry from finished/failed), replies with the
envelope {"success", "message", "data"} and the messages of the real server, and EXECUTES jobs:
each job of a prun-style task runs in a fresh folder through hpogrid.grid.jobexec (sandbox
unpacked, inputs copied, the command in a subprocess, userJobMetadata.json collected). Failed or
preempted jobs are retried automatically (up to 3 attempts) unless the task disables it.
The user is the `name` claim of the bearer token (a fixed test user without one).
Faults can be injected: HTTP 5xx, dropped connections, garbage bodies, a reply lost after the
request took effect, failing and preempted jobs.
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
DEFAULT_USER = "Test User"
MAX_ATTEMPTS = 3
CRIC_PATH = "/api/atlas/pandaqueue/query"  # ATLAS CRIC's queue list, for `hpogrid sites`
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
        self.next_task, self.next_job = 1000, 5_000_000
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="panda-job")
        self.job_env: dict[str, str] = {}
        self.queues: dict[str, dict] = json.loads(json.dumps(QUEUES))
        self.closed = False

    # -- tasks ---------------------------------------------------------------------------------
    def submit(self, params: dict, user: str) -> tuple[bool, str, int]:
        with self.lock:
            name = params.get("taskName")
            for task in self.tasks.values():
                if params.get("uniqueTaskName") and task.params.get("taskName") == name and task.status != "aborted":
                    return False, f"jediTaskID={task.task_id} is already queued for outDS={name}", 2
            self.next_task += 1
            task = Task(self.next_task, json.loads(json.dumps(params)), user)
            self.tasks[task.task_id] = task
        threading.Thread(target=self._start, args=(task,), daemon=True).start()
        return True, f"succeeded. new jediTaskID={task.task_id}", 0

    def _start(self, task: Task) -> None:
        time.sleep(0.05)
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
        self.idds_points[task.task_id] = []
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
        try:
            new = json.loads((folder / "out.json").read_text())
        except (OSError, ValueError):
            task.error = f"steering failed (exit {done.returncode}): {done.stderr.strip()[-300:]}"
            return None
        return new if isinstance(new, list) else None

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
        except (OSError, ValueError) as exc:
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
        sandbox = self.cache / archive.group(1) if archive and (self.cache / archive.group(1)).is_file() else None
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

    def kill(self, task_id: int, user: str) -> tuple[bool, Any]:
        return self._end(task_id, user, "aborting")

    def finish(self, task_id: int, user: str) -> tuple[bool, Any]:
        """Finish a task: no new jobs start; those running may end (JEDI's soft finish)."""
        return self._end(task_id, user, "finishing")

    def _end(self, task_id: int, user: str, status: str) -> tuple[bool, Any]:
        """Kill ("aborting") or finish ("finishing") a task of this user's: its waiting jobs never start."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return False, "task not found"
            if task.user != user:
                return False, "not the task owner or no production role"
            if task.status in FINAL:
                return False, f"Command rejected: the task is in {task.status} status"
            for job in task.jobs:
                if job.status == "defined":
                    job.status = "cancelled"
            if status == "aborting":
                task.killed = True
            else:
                task.finishing = True  # nothing new starts
            task.touch(status)
            self._settle(task)
            return True, 0

    def retry(self, task_id: int, user: str, new_params: dict | None) -> tuple[int, str]:
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return 2, "task not found"
            if task.user != user:
                return 3, "not the task owner or no production role"
            if task.status not in RETRYABLE:
                return 4, f"Command rejected: the task is in {task.status} status"
            if new_params:
                task.params.update(new_params)
            again = [j for j in task.jobs if j.status != "finished"]
            for job in again:
                job.status, job.budget = "defined", job.attempt + MAX_ATTEMPTS
            task.touch("running")
        for job in again:
            self.pool.submit(self._run, task, job)
        if new_params:
            return 3, f"reactivation accepted. jediTaskID={task_id}"
        return 0, f"command=retry is registered. jediTaskID={task_id}"

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
        ok, message, code = self.state.submit(params, self._user())
        if lost:
            return None
        return self._ok(0, message) if ok else self._fail(message, code)

    def get_status(self, args, lost=False):
        task = self.state.tasks.get(int(args.get("task_id", 0)))
        return self._ok(task.status) if task else self._fail("task not found")

    def get_details(self, args, lost=False):
        task = self.state.tasks.get(int(args.get("task_id", 0)))
        if task is None:
            return self._fail("task not found")
        name = task.params.get("taskName", "").rstrip("/")
        self._ok({
            "jediTaskID": task.task_id, "inDS": ",".join(_input_datasets(task.params)), "outDS": f"{name}/",
            "statistics": "", "PandaID": [j.panda_id for j in task.jobs], "mergeStatus": None,
            "mergePandaID": [], "status": task.status, "cliParams": task.params.get("cliParams", ""),
        })  # fmt: skip

    def finish_task(self, args, lost=False):  # not `finish`: socketserver calls that after each request
        ok, data = self.state.finish(int(args.get("task_id", 0)), self._user())
        if lost:
            return None
        return self._ok(data) if ok else self._fail(data)

    def get_tasks_detailed_info_since(self, args, lost=False):
        filters = json.loads(args["filters"]) if args.get("filters") else {}
        since = dt.datetime.strptime(args["since"], "%Y-%m-%d %H:%M:%S") if args.get("since") else None
        user = self._user()
        with self.state.lock:
            rows = [t.row() for t in self.state.tasks.values()]
        rows = [r for r in rows if r["userName"] == filters.get("userName", user)]
        rows = [r for r in rows if since is None or r["modificationTime"] >= since]
        for key, value in filters.items():
            if key != "userName":
                rows = [r for r in rows if str(r.get(key)) == str(value)]
        rows.sort(key=lambda r: -r["jediTaskID"])
        self._ok(rows[: int(args.get("n_tasks", 500))])

    def get_task_parameters(self, args, lost=False):
        task = self.state.tasks.get(int(args.get("task_id", 0)))
        if task is None:
            return self._fail("task not found")
        self._ok({**task.params, "userName": task.user, "taskType": "anal", "taskPriority": 1000})

    def get_job_ids(self, args, lost=False):
        task = self.state.tasks.get(int(args.get("task_id", 0)))
        self._ok([j.panda_id for j in task.jobs] if task else [])

    def get_metadata_for_analysis_jobs(self, args, lost=False):
        task = self.state.tasks.get(int(args.get("task_id", 0)))
        jobs = task.jobs if task else []
        self._ok({str(j.panda_id): j.metadata for j in jobs if j.status == "finished" and j.metadata is not None})

    def kill(self, args, lost=False):
        ok, data = self.state.kill(int(args.get("task_id", 0)), self._user())
        if lost:
            return None
        return self._ok(data) if ok else self._fail(data)

    def retry(self, args, lost=False):
        new = args.get("new_parameters")
        if isinstance(new, str):
            new = json.loads(new)
        code, message = self.state.retry(int(args.get("task_id", 0)), self._user(), new)
        if lost:
            return None
        self._reply({"success": code in (0, 3), "message": message, "data": code})

    def validate_cache_file(self, args, lost=False):
        size, checksum = int(args.get("file_size", -1)), int(args.get("checksum", -1))
        for path in sorted(self.state.cache.iterdir()):
            data = path.read_bytes()
            if len(data) == size and struct.unpack("II", data[-8:])[0] == checksum:
                return self._ok(None, f"FOUND:{self.state.host}:{path.name}")
        self._fail("NOT FOUND")

    def upload_cache_file(self, args, lost=False):
        upload = args.get("file")
        if not upload:
            return self._fail("no file")
        name, content = upload
        if len(content) > 10 * 1024 * 1024:
            return self._fail("exceeded size limit")
        target = self.state.cache / Path(name).name
        target.write_bytes(content)
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


ROUTES = {
    "cric": lambda handler, args, lost=False: handler._reply(handler.state.queues),
    "system/is_alive": Handler.is_alive,
    "task/submit": Handler.submit,
    "task/get_status": Handler.get_status,
    "task/get_details": Handler.get_details,
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
}


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
        }

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
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
