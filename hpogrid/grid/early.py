"""A grid job's first act: keep the pilot's preemption signals that arrive while Python still imports.

Until `hpogrid.grid.job.Preemption` is in place (seconds: click, hpogrid, then Ray), SIGTERM would end
the job at once and leave no userJobMetadata.json; caught here, the job writes it ("preempted")."""

from __future__ import annotations

import signal

SIGNALS = (signal.SIGTERM, signal.SIGUSR1)  # what a pilot sends a job it must end (preemption)
PENDING: list[int] = []  # the signals caught before Preemption took over, in order


def catch() -> None:
    """Hold SIGTERM/SIGUSR1 in PENDING from now on, until Preemption installs its handlers."""
    for signum in SIGNALS:
        signal.signal(signum, _keep)


def _keep(signum: int, _frame) -> None:
    PENDING.append(signum)
