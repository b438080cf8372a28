"""The Ray Tune callback of a run: writes the trial records and shows live progress.

Both run in the driver and are pickled with the experiment, so a resumed run gets them back; the
terminal is the run's console (hpogrid.local.console), never pickled.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from pathlib import Path

from ray.tune import Callback

from hpogrid.local import console as consoles
from hpogrid.local.progress import Counts, line
from hpogrid.local.trainable import TRIAL_LOGS, finished_on_its_own, trial_log
from hpogrid.results import Journal, TrialRecord, best, iso
from hpogrid.space.model import SearchSpace

# what Ray adds to every result; not the user's metrics
RAY_KEYS = frozenset(
    "done trial_id experiment_id date timestamp time_this_iter_s time_total_s pid hostname node_ip "
    "config time_since_restore iterations_since_restore checkpoint_dir_name should_checkpoint "
    "experiment_tag training_iteration __duplicate__ warmup_time".split()
)


ANSI = re.compile(r"\x1b\[[0-9;]*m")
INTERVAL_VARIABLE = "HPOGRID_PROGRESS_INTERVAL"  # seconds between plain progress lines (not a terminal)
PLAIN_INTERVAL = 30.0


def met(stop: dict, result: dict) -> bool:
    """True if the result satisfies a stop criterion (Ray's rule: value >= threshold)."""
    return any(isinstance(result.get(k), (int, float)) and result[k] >= v for k, v in stop.items())


class Recorder(Callback):
    """Appends a TrialRecord to the run's journal as each trial ends, and shows progress.

    Progress is a status line redrawn in place on a terminal, a plain line every PLAIN_INTERVAL
    seconds or tenth of the trials otherwise (none when quiet): a bar, trials done/running/starting/
    stopped early/failed, best so far, elapsed time and an estimate of the time left. A failed trial
    is one line: its id, the exception's last line and its log. With --verbose, the trials' output
    (their logs) is shown too.
    """

    def __init__(
        self,
        run_dir: Path,
        run_id: str,
        space: SearchSpace,
        hpo: dict,
        total: int,
        quiet: bool = False,  # unused: the run's console says (kept for the callers)
        source: dict | None = None,
    ):
        self.run_dir, self.run_id, self.total = Path(run_dir), run_id, total
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
        self.began = time.time()
        self.shown = 0.0
        self.shown_done = 0
        self.pending = 0
        self.tailed: dict[str, int] = {}  # trial log -> bytes already shown (--verbose)

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
        error = _error_text(trial)
        log = trial_log(self.run_dir, trial.trial_id)
        self._records()
        if trial.trial_id in self.ids:  # recorded before a resume
            return
        self.tail()  # what the trial printed; the traceback below is summed up by the failure line
        log.parent.mkdir(exist_ok=True)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"\n[hpogrid] trial {trial.trial_id} failed:\n{error}\n")
        with contextlib.suppress(OSError):
            self.tailed[log.name] = log.stat().st_size
        console = consoles.current()
        if not console.quiet:
            console.say(failure_line(trial.trial_id, error, log, console.width()))
        self._record(trial, result, "error", error)

    def on_step_end(self, iteration, trials, **info) -> None:
        self.pending = sum(t.status == "PENDING" for t in trials)
        self.running = {t.trial_id for t in trials if t.status == "RUNNING"}
        self.tail()
        self.show()

    def on_experiment_end(self, trials, **info) -> None:
        self.running, self.pending = set(), 0
        self.tail()
        self.show(force=True)
        consoles.current().end()

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
    def counts(self, now: float) -> Counts:
        records = self._records()
        scored = best(records, self.mode)
        return Counts(
            total=self.total,
            done=len(records),
            running=len(self.running),
            pending=self.pending,
            stopped=sum(r.status == "early_stopped" for r in records),
            failed=sum(r.status == "error" for r in records),
            metric=self.metric,
            best=scored.value if scored else None,
            elapsed=now - self.began,
        )

    def show(self, force: bool = False) -> None:
        """Redraw the status line (at most twice a second), or print a plain line when its time has come."""
        console = consoles.current()
        if console.quiet:
            return
        now = time.time()
        if console.tty:
            if not force and now - self.shown < 0.5:
                return
        else:
            done = len(self._records())
            every = max(1, self.total // 10)
            interval = _interval()
            due = now - self.shown >= interval or done >= self.shown_done + every
            if not due and not (force and done == self.total):
                return
            if force and done == self.shown_done and now - self.shown < interval:
                return
            self.shown_done = done
        self.shown = now
        console.status(line(self.counts(now), console.width() - 1, bar=console.tty))

    def tail(self) -> None:
        """With --verbose: the trials' new output lines, each after its trial id."""
        console = consoles.current()
        if not console.verbose:
            return
        folder = self.run_dir / TRIAL_LOGS
        if not folder.is_dir():
            return
        for log in sorted(folder.glob("*.log")):
            seen = self.tailed.get(log.name, 0)
            try:
                size = log.stat().st_size
                if size <= seen:
                    continue
                with open(log, "rb") as handle:
                    handle.seek(seen)
                    data = handle.read(size - seen)
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1
            self.tailed[log.name] = seen + complete
            for text in data[:complete].decode(errors="replace").splitlines():
                console.say(f"({log.stem}) {ANSI.sub('', text)}")


def failure_line(trial_id: str, error: str, log: Path, width: int) -> str:
    """One line for a failed trial: its id and the exception's last line, cut to the width, then the
    path of its log, never cut (a long one runs past the width)."""
    lines = [t.strip() for t in ANSI.sub("", error).splitlines() if t.strip()]
    last = lines[-1] if lines else "failed"
    head = f"Trial {trial_id} failed: "
    room = max(width - 1 - len(head), 20)
    if len(last) > room:
        last = last[: room - 3] + "..."
    return f"{head}{last}  log: {_shown_path(log)}"


def _shown_path(path: Path) -> str:
    """The path relative to the working folder when it is inside it, else absolute."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except (OSError, ValueError):
        return str(path)


def _interval() -> float:
    try:
        return float(os.environ.get(INTERVAL_VARIABLE, PLAIN_INTERVAL))
    except ValueError:
        return PLAIN_INTERVAL


def _error_text(trial) -> str:
    """The traceback Ray saved for a failed trial."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        text = Path(path).read_text(errors="replace")
    else:
        text = str(getattr(trial, "error_msg", None) or "the trial failed")
    return ANSI.sub("", text).strip()
