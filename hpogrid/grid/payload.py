"""The command a grid job runs, built from quoted parts only (shlex.quote): no value can inject a command."""

from __future__ import annotations

import shlex

from hpogrid.grid.sandbox import PACKAGE_DIR
from hpogrid.grid.taskparams import SEQ_PLACEHOLDER


def job_command(project: str, n_jobs: int, base_seed: int) -> str:
    """`hpogrid job_run` of the submitter's hpogrid (shipped in the sandbox), for job ${SEQNUMBER}."""
    args = ["python3", "-m", "hpogrid", "job_run", project, "--seq", SEQ_PLACEHOLDER]
    args += ["--n-jobs", str(int(n_jobs)), "--seed", str(int(base_seed))]
    return f"PYTHONPATH=$PWD/{PACKAGE_DIR}${{PYTHONPATH:+:$PYTHONPATH}} " + shlex.join(args)
