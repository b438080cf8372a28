"""Run one job of a prun-style task on this machine, the way a grid site runs it.

PanDA expands a task's jobParameters into the argument line of runGen (the job wrapper): the
sandbox to fetch (-a), the command (-p, URL-quoted), the outputs to rename (-o), the input list to
write (--writeInputToTxt). This module does the same in a fresh job directory: templates filled in,
sandbox unpacked, inputs copied, the command run by /bin/sh in a subprocess with PanDA's variables,
outputs renamed, userJobMetadata.json read back. `hpogrid run --emulate` and the test suite's
PanDA-compatible server use it; no container is involved (the job runs in this Python environment).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from hpogrid.grid.sandbox import unpack

METADATA_FILE = "userJobMetadata.json"
STDOUT_FILE = "payload.stdout"
JOB_SETS = ("HPOGRID_WORK_DIR", "HPOGRID_DATA_DIR", "HPOGRID_RUN_DIR")  # the job sets them for itself
EXEC_SCRIPT = "__run_main_exec.sh"


@dataclass
class JobRun:
    """The outcome of one job."""

    seq: int
    workdir: Path
    exit_code: int | None
    metadata: dict | None
    outputs: dict[str, Path] = field(default_factory=dict)
    preempted: bool = False
    duration_s: float = 0.0

    @property
    def status(self) -> str:
        if self.preempted or (self.metadata or {}).get("job_status") == "preempted":
            return "preempted"
        return "finished" if self.exit_code == 0 else "failed"


def fill(value: str, seq: int, offset: int, task_id: int, source_url: str, inputs: list[str]) -> str:
    """Fill in the templates JEDI replaces in job parameters."""
    listed = repr(inputs)
    for template, filled in (
        ("${SEQNUMBER}", str(offset + seq)),
        ("$JEDITASKID", str(task_id)),
        ("${SN/P}", f"{seq:06d}"),
        ("${SN}", f"{seq:06d}"),
        ("${SURL}", source_url),
        ("${IN_DATA/T}", listed),
        ("${IN/T}", listed),
    ):
        value = value.replace(template, filled)
    return value


def argument_line(task_params: dict, seq: int, task_id: int, inputs: list[str]) -> str:
    """The runGen argument line of job `seq` (1-based) of a task."""
    line = ""
    joined = True
    for param in task_params["jobParameters"]:
        if param.get("hidden"):
            continue
        text = fill(
            str(param["value"]), seq, int(param.get("offset", 0)), task_id, task_params.get("sourceURL", ""), inputs
        )
        line += ("" if joined or not line else " ") + text
        joined = param.get("padding", True) is False
    return line


def parse_arguments(line: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    for option in ("-j", "--sourceURL", "-r", "-a", "-o", "-i", "-p", "--writeInputToTxt", "--inMap"):
        parser.add_argument(option)
    known, _ = parser.parse_known_args(shlex.split(line))
    return known


def run_job(
    task_params: dict,
    seq: int,
    workdir: Path,
    sandbox: Path | None,
    inputs: list[Path] = (),
    task_id: int = 0,
    panda_id: int = 0,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    preempt_after: float | Callable[[Path], bool] | None = None,
    preempt_signal: int = signal.SIGTERM,
    files: dict[str, str] | None = None,
) -> JobRun:
    """Run job `seq` of the task in workdir (created; must not exist). Returns its outcome.

    preempt_after: preempt the job (preempt_signal, SIGTERM or SIGUSR1, to its processes, as a pilot
    does) after so many seconds, or as soon as preempt_after(workdir) is true."""
    workdir.mkdir(parents=True)
    names = [p.name for p in inputs]
    args = parse_arguments(argument_line(task_params, seq, task_id, names))
    if sandbox is not None:
        unpack(sandbox, workdir)
    for path in inputs:
        shutil.copyfile(path, workdir / path.name)
    if args.writeInputToTxt:
        for item in args.writeInputToTxt.split(","):
            _, _, listing = item.partition(":")
            (workdir / listing).write_text(",".join(names))  # what runGen writes: names, comma-separated
    command = unquote(args.p or "")
    (workdir / EXEC_SCRIPT).write_text(command + "\n")
    for name, text in (files or {}).items():  # what the pilot puts there, e.g. iDDS's input.json
        (workdir / name).write_text(text)
    # the container's python3 is this environment's (no container here)
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    job_env = {  # a fresh job: none of the submitter's run, work or data folders
        **{k: v for k, v in os.environ.items() if k not in JOB_SETS},
        "PATH": path,
        **(env or {}),
        "PandaID": str(panda_id),
        "PanDA_TaskID": str(task_id),
        "JEDITASKID": str(task_id),
        "PWD": str(workdir),
    }
    started = time.time()
    preempted = False
    with open(workdir / STDOUT_FILE, "wb") as log:
        process = subprocess.Popen(
            ["/bin/sh", EXEC_SCRIPT],
            cwd=workdir,
            env=job_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            if preempt_after is not None:
                preempted = _wait_for_preemption(process, workdir, preempt_after)
                if preempted:
                    _signal_payload(process.pid, preempt_signal)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_payload(process.pid, signal.SIGKILL)
            process.wait()
        finally:
            _wait_for_group(process.pid, timeout=120)
    outputs = {}
    renames = ast.literal_eval(args.o) if args.o and args.o.startswith("{") else {}  # HPO jobs name files only
    for local, lfn in renames.items():
        if (workdir / local).is_file():
            (workdir / local).rename(workdir / lfn)
            outputs[local] = workdir / lfn
    metadata = None
    if (workdir / METADATA_FILE).is_file():
        try:
            metadata = json.loads((workdir / METADATA_FILE).read_text())
        except ValueError:
            metadata = None
    return JobRun(seq, workdir, process.returncode, metadata, outputs, preempted, round(time.time() - started, 3))


def _wait_for_preemption(process: subprocess.Popen, workdir: Path, when: float | Callable[[Path], bool]) -> bool:
    """Wait until the preemption moment (True) or the end of the job (False)."""
    deadline = time.time() + when if isinstance(when, (int, float)) else None
    while process.poll() is None:
        if (deadline is not None and time.time() >= deadline) or (deadline is None and when(workdir)):
            return True
        time.sleep(0.2)
    return False


def _signal_payload(pid: int, signum: int) -> None:
    """Signal the payload's process group (what the pilot does), and nothing else."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def _alive_in_group(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group."""
    from hpogrid.grid.job import processes

    return [pid for pid, state, _parent, group in processes() if group == pgid and state != "Z"]


def _wait_for_group(pgid: int, timeout: float) -> None:
    """Wait until every process of the payload's group has ended (Ray's helpers too); then kill them."""
    deadline = time.time() + timeout
    while _alive_in_group(pgid):
        if time.time() > deadline:
            _signal_payload(pgid, signal.SIGKILL)
            return
        time.sleep(0.3)
