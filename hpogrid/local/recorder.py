"""The Ray Tune callback of a run: writes the trial records and shows live progress.

Both run in the driver and are pickled with the experiment, so a resumed run gets them back.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from hpogrid.local.trainable import finished_on_its_own
from hpogrid.results import Journal, TrialRecord, best, iso
from hpogrid.space.model import SearchSpace

# what Ray adds to every result; not the user's metrics
RAY_KEYS = frozenset(
    "done trial_id experiment_id date timestamp time_this_iter_s time_total_s pid hostname node_ip "
    "config time_since_restore iterations_since_restore checkpoint_dir_name should_checkpoint "
    "experiment_tag training_iteration __duplicate__ warmup_time".split()
)


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def met(stop: dict, result: dict) -> bool:
    """True if the result satisfies a stop criterion (Ray's rule: value >= threshold)."""
    return any(isinstance(result.get(k), (int, float)) and result[k] >= v for k, v in stop.items())


class Recorder(Callback):
    """Appends a TrialRecord to the run's journal as each trial ends, and shows progress.

    Progress is a live status line on a terminal (a line every 10 s otherwise, none when quiet):
    trials done/running/failed, best so far, elapsed time and an estimate of the time left.
    """

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        space: SearchSpace,
        hpo: dict,
        total: int,
        quiet: bool = False,
        source: dict | None = None,
    ):
        self.run_dir, self.run_id, self.total, self.quiet = Path(run_dir), run_id, total, quiet
        self.space_json = space.to_json()
        self.metric, self.mode = hpo["metric"], hpo["mode"]
        self.extra_metrics = list(hpo["extra_metrics"])
        self.stop = dict(hpo["stop"])
        self.source = {"kind": "local", "run": run_id, **(source or {})}
        self.last: dict[str, dict] = {}
        self.history: dict[str, dict[str, list]] = {}
        self.started: dict[str, float] = {}
        self.running: set[str] = set()
        self._reset()

    def _reset(self) -> None:
        self.records: list[TrialRecord] | None = None  # loaded from the journal on first use
        self.space = SearchSpace.parse(self.space_json)
        self.ids: set[str] = set()
        self.tty = sys.stderr.isatty()
        self.interval = 0.5 if self.tty else 10.0
        self.began = time.time()
        self.shown = 0.0

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["records"], state["ids"] = None, set()  # the journal is the truth; reread after a restore
        state.pop("space", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    def _records(self) -> list[TrialRecord]:
        if self.records is None:
            self.records = Journal(self.run_dir).records()
            self.ids = {r.trial_id for r in self.records}
        return self.records

    # -- Ray Tune callback hooks ----------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.started.setdefault(trial.trial_id, time.time())
        self.running.add(trial.trial_id)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self.started.setdefault(trial.trial_id, time.time() - float(result.get("time_total_s", 0)))
        self.last[trial.trial_id] = dict(result)
        history = self.history.setdefault(trial.trial_id, {})
        for name in dict.fromkeys(("iteration", self.metric, *self.extra_metrics)):
            value = result.get("training_iteration" if name == "iteration" else name)
            history.setdefault(name, []).append(value if isinstance(value, (int, float)) else None)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        result = self.last.get(trial.trial_id) or dict(trial.last_result or {})
        ended = met(self.stop, result) or finished_on_its_own(self.run_dir, trial.trial_id)
        self._record(trial, result, "terminated" if ended else "early_stopped", None)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        result = self.last.get(trial.trial_id) or dict(trial.last_result or {})
        self._record(trial, result, "error", _error_text(trial))

    def on_step_end(self, iteration, trials, **info) -> None:
        self.show()

    def on_experiment_end(self, trials, **info) -> None:
        self.shown = 0.0
        self.show(force=True)
        if self.tty and not self.quiet:
            sys.stderr.write("\n")

    # -- records --------------------------------------------------------------------------------
    def _record(self, trial, result: dict, status: str, error: str | None) -> None:
        self.running.discard(trial.trial_id)
        records = self._records()
        if trial.trial_id in self.ids:
            return  # recorded before a resume
        space = self.space
        end = time.time()
        start = self.started.pop(trial.trial_id, end)
        metrics = {k: v for k, v in result.items() if k not in RAY_KEYS}
        record = TrialRecord(
            trial_id=trial.trial_id,
            config=space.nest(space.flatten(trial.config)),
            metric=self.metric,
            value=result.get(self.metric),
            status=status,
            iterations=int(result.get("training_iteration", 0) or 0),
            extra={m: result.get(m) for m in self.extra_metrics},
            last_result=metrics,
            history=self.history.pop(trial.trial_id, {}),
            error=error,
            start=iso(start),
            end=iso(end),
            duration_s=round(end - start, 3),
            host=result.get("hostname") or socket.gethostname(),
            source=self.source,
        )
        Journal(self.run_dir).append(record)
        records.append(record)
        self.ids.add(record.trial_id)
        self.last.pop(trial.trial_id, None)
        self.show(force=True)

    # -- progress -------------------------------------------------------------------------------
    def show(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.time()
        if now - self.shown < self.interval and not (force and self.tty):
            return
        self.shown = now
        sys.stderr.write(("\r" if self.tty else "") + self.line(now) + ("" if self.tty else "\n"))
        sys.stderr.flush()

    def line(self, now: float) -> str:
        records = self._records()
        done = len(records)
        failed = sum(r.status == "error" for r in records)
        top = best(records, self.mode)
        elapsed = now - self.began
        eta = elapsed / done * max(self.total - done, 0) if done else None
        parts = [
            f"trials {done}/{self.total} done",
            f"{len(self.running)} running",
            f"{failed} failed",
            f"best {self.metric} {top.value:.6g}" if top else f"best {self.metric} -",
            f"elapsed {_clock(elapsed)}",
            f"eta {_clock(eta)}" if eta is not None else "eta -",
        ]
        return " | ".join(parts).ljust(100)


def _error_text(trial) -> str:
    """The traceback Ray saved for a failed trial."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        text = Path(path).read_text(errors="replace")
    else:
        text = str(getattr(trial, "error_msg", None) or "the trial failed")
    return ANSI.sub("", text).strip()


def _clock(seconds: Any) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
