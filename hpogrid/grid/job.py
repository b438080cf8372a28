"""What a grid job runs (`hpogrid job_run`): its share of the project's search, in its work directory.

The work directory holds the unpacked sandbox (hpogrid.grid.sandbox) and, staged by the pilot, the
task's input files. The job
1. unpacks the *.tar.gz / *.tgz inputs into the data directory (the work directory, as the README says);
2. runs its share (hpogrid.grid.share) through exactly the local_run runner;
3. writes the run summary plus the job's identity to userJobMetadata.json (PanDA job metadata,
   < 1 MB) and the trial records to hpogrid_trials.jsonl (an output file of the task).
On SIGTERM or SIGUSR1 (preemption) it stops the search, keeps every finished trial, writes both
files with status "preempted" and exits with EXIT_PREEMPTED instead of a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hpogrid.errors import HpogridError
from hpogrid.fileio import write_atomic, write_json_atomic
from hpogrid.grid.early import PENDING, SIGNALS
from hpogrid.grid.taskparams import INPUT_LIST

METADATA_FILE = "userJobMetadata.json"
TRIALS_OUTPUT = "hpogrid_trials.jsonl"
METADATA_LIMIT = 1_000_000
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: "try again later", not a failure of the payload
EXIT_FAILED = 1


@dataclass(frozen=True)
class JobIdentity:
    seq: int
    index: int
    n_jobs: int
    base_seed: int

    @classmethod
    def of(cls, seq: int, n_jobs: int, base_seed: int) -> JobIdentity:
        if n_jobs < 1 or seq < 0:
            raise HpogridError(f"--seq {seq} / --n-jobs {n_jobs}: expected a job serial number and n_jobs >= 1")
        # PanDA numbers the jobs of a task 1..N: job i runs share i-1 (a retried job keeps its number)
        return cls(seq, (seq - 1) % n_jobs, n_jobs, base_seed)


def input_files(workdir: Path) -> list[Path]:
    """The task's input files in the work directory, as the job wrapper (runGen's --writeInputToTxt)
    lists them: their names, comma-separated."""
    listing = workdir / INPUT_LIST
    if not listing.is_file():
        return []
    names = [Path(n.strip()).name for n in listing.read_text().split(",") if n.strip()]
    return [workdir / n for n in names if (workdir / n).is_file()]


def unpack_inputs(workdir: Path, data_dir: Path) -> list[str]:
    from hpogrid.grid.sandbox import unpack

    unpacked = []
    for path in input_files(workdir):
        if path.name.endswith((".tar.gz", ".tgz")):
            unpack(path, data_dir)
            unpacked.append(path.name)
    return unpacked


class Preemption:
    """SIGTERM/SIGUSR1 (the pilot preempting the job): stop the search the way Ctrl-C does. At once
    `write(False)` saves what finished so far (the pilot signals every process of the job, Ray's
    included, and a Ray left without its raylet may end this process any moment); if the run cannot
    end by itself within `grace` seconds, `write(True)` saves the rest and the job exits with
    EXIT_PREEMPTED."""

    def __init__(self, write, grace: float = 3.0, farewell: str | None = None) -> None:
        self.signal: int | None = None
        self.write, self.grace, self.farewell = write, grace, farewell  # farewell: the job's last line
        self.lock, self.interrupted = threading.Lock(), False

    def __enter__(self) -> Preemption:
        self.previous = {s: signal.getsignal(s) for s in SIGNALS}
        self.install()
        # Python runs a handler only once the main thread is back in Python, and Ray can hold it in C for
        # a minute when the signal killed its daemons: the wakeup fd lets a thread of ours react at once
        self.wakeup = os.pipe()
        os.set_blocking(self.wakeup[1], False)
        self.previous_fd = signal.set_wakeup_fd(self.wakeup[1], warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(self.wakeup[0],), daemon=True).start()
        for signum in PENDING[:1]:  # the pilot's signal came while Python started: the job ends now
            self._begin(signum)
        return self

    def install(self) -> None:
        """(Re)install the handlers, e.g. after a library (Ray, Ray Tune) replaced them."""
        for signum in SIGNALS:
            signal.signal(signum, self._handle)

    def _watch(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            while data := os.read(fd, 64):
                for signum in data:
                    if signum in SIGNALS:
                        self._begin(signum)
        os.close(fd)

    def _begin(self, signum: int) -> None:
        """The first preemption signal starts the deadline (from the watcher or the handler, whichever is first)."""
        with self.lock:
            if self.signal is not None:
                return
            self.signal = signum
        threading.Thread(target=self._deadline, daemon=True).start()

    def _handle(self, signum, frame) -> None:
        self._begin(signum)
        if not self.interrupted:
            self.interrupted = True
            signal.raise_signal(signal.SIGINT)  # Ray Tune ends fit() cleanly on SIGINT

    def _deadline(self) -> None:
        self.write(False)
        time.sleep(self.grace)  # the run's own end, meanwhile, writes the final outputs
        self.write(True)
        exit_now(EXIT_PREEMPTED, self.farewell)

    def __exit__(self, *exc) -> bool:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(self.previous_fd)
        os.close(self.wakeup[1])  # the watcher reads the end of the pipe and ends
        return self.signal is not None and exc[0] in (KeyboardInterrupt, SystemExit)


def processes() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc (grid jobs run on Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:  # after "pid (comm)": state, ppid, pgrp, ...
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            found.append((int(entry.name), fields[0], int(fields[1]), int(fields[2])))
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    return found


_ending = threading.Lock()  # taken by the one thread that ends the job, never given back


def exit_line(job: JobIdentity, code: int) -> str:
    """The job's last line in its log."""
    return f"job {job.seq} of {job.n_jobs}: exit {code}"


def exit_now(code: int, line: str | None = None) -> None:
    """End the job at once, with every process it started (Ray's daemons and theirs): what ray.shutdown
    does, without waiting on daemons the pilot's signal ended (Ray can wait a minute for them). One
    thread ends it (the main thread or the preemption deadline, whichever comes first), after printing
    its line: the other waits here until the process is gone."""
    _ending.acquire()
    if line:
        with contextlib.suppress(Exception):
            print(line, flush=True)
    children: dict[int, list[int]] = {}
    for pid, _state, parent, _group in processes():
        children.setdefault(parent, []).append(pid)
    todo, found = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in found:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


@contextlib.contextmanager
def held(signums: set[int]) -> Iterator[None]:
    """Block signals in this thread, and so in every process it starts meanwhile (Ray's daemons,
    and the workers they start, keep the mask: what Ray does for SIGINT); one that arrives in the
    block is delivered as it ends."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signums)


def run_job(project_name: str, job: JobIdentity, workdir: Path) -> int:
    """Run the job's share in workdir; returns the exit code (0, EXIT_PREEMPTED or EXIT_FAILED).

    The preemption handlers cover the whole job, its start included: a job preempted while it
    loads still writes its metadata ("preempted", no trials)."""
    workdir = workdir.resolve()
    source = {
        "kind": "grid",
        "task": _int(os.environ.get("PanDA_TaskID") or os.environ.get("JEDITASKID")),
        "job": _int(os.environ.get("PandaID")),
        "site": os.environ.get("PANDA_SITE_NAME") or os.environ.get("PILOT_SITENAME"),
        "index": job.index,
        "n_jobs": job.n_jobs,
    }
    mine = None  # the job's share of the project, once loaded
    writing, written = threading.Lock(), threading.Event()

    def finish(status: str, error: str | None = None, final: bool = True) -> None:
        """Write the job's outputs from what is on disk now, until a final write has been made; a
        caller after that (the preemption deadline, or the main thread) waits until it is done."""
        with writing:
            if not written.is_set():
                _write_outputs(workdir, mine, source, status, error)
                if final:
                    written.set()

    status, error, started = "failed", None, False
    farewell = exit_line(job, EXIT_PREEMPTED)
    with Preemption(lambda final: finish("preempted", final=final), farewell=farewell) as preemption:
        try:
            if preemption.signal is None:  # else preempted while Python started: nothing to start
                from hpogrid.local.runner import CPUS_VARIABLE, RAY_ENV, RunOptions, run, start_ray

                mine, points, warm = _load_share(project_name, job, workdir)
                if os.environ.get("ATHENA_CORE_NUMBER", "").isdigit():  # the cores the pilot gave this job
                    os.environ.setdefault(CPUS_VARIABLE, os.environ["ATHENA_CORE_NUMBER"])
                os.environ.update(RAY_ENV)
                # Ray's processes do not die of the pilot's SIGUSR1 (this one handles it); SIGTERM they
                # need for their own shutdown
                with held({signal.SIGUSR1}):
                    started = start_ray(None, quiet=False)
                    preemption.install()  # again: Ray's start sets its own SIGTERM handler, which ends the job at once
                # the job's log (the pilot's payload.stdout) is all that comes back of it: the progress as
                # plain lines, a line per failed trial and what the trials print, each after its trial id
                options = RunOptions(
                    search_points=points, warm_start=warm, verbose=True, source=source, on_start=preemption.install
                )
                result = run(mine, options)  # on_start: Ray Tune takes SIGUSR1 for itself as the run starts
                status = "finished" if result.summary["status"] == "finished" else "failed"
                error = result.summary.get("error")  # e.g. the trials do not report the metric
        except SystemExit as exc:  # while ray.init runs, Ray's own handler turns SIGTERM into sys.exit(15)
            if exc.code != signal.SIGTERM:
                raise
            preemption.signal = signal.SIGTERM
        except KeyboardInterrupt:  # the handler's SIGINT, before Ray Tune took SIGINT for itself
            if preemption.signal is None:
                raise
        except Exception as exc:  # the job must still leave its metadata and records
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if preemption.signal is not None:
                status = "preempted"
            finish(status, error)  # before Ray's shutdown, which ends this process if the raylet died
            _show_ray_log(mine)
            ray = sys.modules.get("ray")
            if ray is not None and (started or ray.is_initialized()):  # also a start that the signal cut short
                ray.shutdown()
    if error and status != "preempted":
        raise HpogridError(f"job {job.seq} of {job.n_jobs} failed: {error}")
    return {"finished": 0, "preempted": EXIT_PREEMPTED}.get(status, EXIT_FAILED)


def _load_share(project_name: str, job: JobIdentity, workdir: Path):
    """The project in the sandbox with its search cut to this job's share, the share's points and the
    warm-start points (`run --warm_start`); the inputs unpacked into the data directory."""
    from hpogrid.grid.share import job_share
    from hpogrid.project import Project, ProjectStore
    from hpogrid.space.model import SearchSpace
    from hpogrid.warmstart import WARM_FILE, read

    os.environ["HPOGRID_BASE_PATH"] = str(workdir)
    os.environ.setdefault("HPOGRID_WORK_DIR", str(workdir))
    data_dir = Path(os.environ.setdefault("HPOGRID_DATA_DIR", str(workdir)))
    project = ProjectStore(workdir / "projects").load(project_name)
    unpack_inputs(workdir, data_dir)
    share = job_share(project.search_space, project.hpo_config, job.n_jobs, job.index, job.base_seed)
    data = json.loads(json.dumps(project.data))
    data["configs"]["hpo_config"], data["configs"]["search_space"] = share.hpo_config, share.search_space
    warm_file = project.path / WARM_FILE
    space = SearchSpace.parse(project.search_space)
    warm = read(warm_file, space, project.hpo_config["metric"]) if warm_file.is_file() else []
    if warm:
        print(f"Warm start: {len(warm)} earlier points", flush=True)
    return Project(project.name, project.path, data), share.points, warm


def _write_outputs(workdir: Path, project, source: dict, status: str, error: str | None) -> None:
    """hpogrid_trials.jsonl and userJobMetadata.json from the job's run as it is on disk now."""
    run_dir = _last_run_dir(project) if project is not None else None
    summary = None
    if run_dir is not None:
        from hpogrid.local.runner import rewrite_summary
        from hpogrid.results import TRIALS_FILE

        summary = rewrite_summary(project, run_dir, status if status in ("finished", "failed") else "interrupted")
        if (run_dir / TRIALS_FILE).is_file():
            text = (run_dir / TRIALS_FILE).read_bytes()
            write_atomic(workdir / TRIALS_OUTPUT, text[: text.rfind(b"\n") + 1])  # whole records only
    if not (workdir / TRIALS_OUTPUT).is_file():
        write_atomic(workdir / TRIALS_OUTPUT, "")
    write_metadata(workdir, summary, source, status, error)


RAY_LOG_SHOWN = 1 << 20  # bytes of the end of the run's ray.log copied into the job's log


def _show_ray_log(project) -> None:
    """What Ray said during the run (kept off the progress lines in the run's ray.log), at the end of the
    job's log: the work directory, with ray.log in it, does not come back from the grid."""
    from hpogrid.local.console import RAY_LOG

    run_dir = _last_run_dir(project) if project is not None else None
    if run_dir is None:
        return
    try:
        with open(run_dir / RAY_LOG, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if not size:
                return
            handle.seek(max(0, size - RAY_LOG_SHOWN))
            text = handle.read().decode(errors="replace")
    except OSError:
        return
    sys.stderr.write(f"---- what Ray said ({RAY_LOG} of the run) ----\n{text.rstrip()}\n---- end of {RAY_LOG} ----\n")
    sys.stderr.flush()


def _last_run_dir(project) -> Path | None:
    from hpogrid.local.runner import runs_dir

    runs = sorted(p for p in runs_dir(project).glob("*") if p.is_dir())
    return runs[-1] if runs else None


def write_metadata(workdir: Path, summary: dict | None, source: dict, status: str, error: str | None = None) -> dict:
    """userJobMetadata.json: the run summary and the job, cut to PanDA's 1 MB if ever needed."""
    job = {**source, "status": status, "host": socket.gethostname(), "error": error}
    metadata = {**(summary or {}), "job": job}
    metadata["job_status"] = status
    text = json.dumps(metadata)
    while len(text.encode()) > METADATA_LIMIT and metadata.get("trials"):
        metadata["trials"] = metadata["trials"][: len(metadata["trials"]) // 2]
        metadata["trials_cut"] = True
        text = json.dumps(metadata)
    write_json_atomic(workdir / METADATA_FILE, metadata)
    return metadata


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None
