"""One progress display for a whole task whose jobs run here (`hpogrid run --emulate`).

Each job writes its trial records to its own run journal in its work directory
(job_N/projects/P/runs/RUN/trials.jsonl); the display reads those journals as they grow and shows the
task as one: a bar of trials done out of the task's total, jobs running, waiting and ended, trials
failed and stopped early, the best value so far, elapsed and remaining time. On a terminal it redraws one
line in place, cut to the terminal's width; otherwise it prints a plain line every `interval` seconds.
The jobs' own progress lines and their trials' output stay in their payload.stdout, as on the grid.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from hpogrid.results import Journal

PLAIN_INTERVAL = 10.0  # seconds between plain lines when the output is not a terminal
REDRAW_INTERVAL = 0.5  # seconds between redraws on a terminal
PLAIN_WIDTH = 160  # a plain line (a log): every part in its long form, as local_run's


class TaskProgress:
    """The task's progress, from its jobs' journals. `event()` prints a line above the display;
    `close()` ends it with a final line."""

    def __init__(
        self,
        folder: Path,
        n_jobs: int,
        total: int,
        metric: str,
        mode: str,
        stream: TextIO | None = None,
        interval: float | None = None,
        now=time.monotonic,
    ) -> None:
        self.folder, self.n_jobs, self.total, self.metric, self.mode = folder, n_jobs, total, metric, mode
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (REDRAW_INTERVAL if self.tty else PLAIN_INTERVAL)
        self.now, self.started = now, now()
        self.running: set[int] = set()
        self.ended: dict[int, str] = {}
        self.counts = {"terminated": 0, "early_stopped": 0, "error": 0}
        self.best: float | None = None
        self._read: dict[Path, tuple[int, dict[str, int], float | None]] = {}  # journal: (size, counts, best)
        self._last_draw = -math.inf
        self._drawn = False
        self.lock = threading.Lock()

    # -- what the jobs do --------------------------------------------------------------------------
    def job_started(self, seq: int) -> None:
        with self.lock:
            self.running.add(seq)

    def job_ended(self, seq: int, status: str, line: str) -> None:
        with self.lock:
            self.running.discard(seq)
            self.ended[seq] = status
        self.event(line)

    def poll(self) -> None:
        """Count the records of the jobs' journals (a journal is read again only when it grew)."""
        counts, best = dict.fromkeys(self.counts, 0), None
        for path in sorted(self.folder.glob("job_*/projects/*/runs/*/trials.jsonl")):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if self._read.get(path, (None,))[0] != size:
                self._read[path] = (size, *self._tally(path))
            _, found, top = self._read[path]
            for status, count in found.items():
                counts[status] = counts.get(status, 0) + count
            best = top if best is None or (top is not None and self._better(top, best)) else best
        self.counts, self.best = counts, best

    def _tally(self, path: Path) -> tuple[dict[str, int], float | None]:
        counts: dict[str, int] = {}
        best = None
        for record in Journal.from_file(path).read()[0]:
            counts[record.status] = counts.get(record.status, 0) + 1
            value = record.value
            if isinstance(value, (int, float)) and math.isfinite(value) and record.status != "error":
                best = value if best is None or self._better(value, best) else best
        return counts, best

    def _better(self, value: float, than: float) -> bool:
        return value < than if self.mode == "min" else value > than

    # -- what it shows -----------------------------------------------------------------------------
    def line(self, width: int, bar: bool = True) -> str:
        """The display in at most `width` columns, laid out as local_run's progress line (jobs in place of
        trials running); parts that do not fit are left out, least useful first."""
        from hpogrid.local.progress import Counts, line

        waiting = self.n_jobs - len(self.running) - len(self.ended)
        counts = Counts(
            total=self.total,
            done=sum(self.counts.values()),
            stopped=self.counts["early_stopped"],
            failed=self.counts["error"],
            metric=self.metric,
            best=self.best,
            elapsed=self.now() - self.started,
            jobs=(len(self.running), waiting, len(self.ended)),
        )
        return line(counts, width, bar)

    def draw(self, force: bool = False) -> None:
        moment = self.now()
        if not force and moment - self._last_draw < self.interval:
            return
        self._last_draw = moment
        self.poll()
        self._write(final=False)

    def event(self, text: str) -> None:
        """A line of its own above the display (a job ended, ...)."""
        with self.lock:
            if self.tty and self._drawn:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last_draw = -math.inf if self.tty else self._last_draw

    def close(self) -> None:
        """The final state, as a line that stays."""
        self.poll()
        self._write(final=True)

    def _write(self, final: bool) -> None:
        """The display: redrawn in place on a terminal (cut to its width; a final one stays), else a plain line."""
        with self.lock:
            if self.tty:
                width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
                self.stream.write("\r" + self.line(width) + "\x1b[K" + "\n" * final)
                self._drawn = not final
            else:
                self.stream.write(self.line(PLAIN_WIDTH, bar=False) + "\n")
            self.stream.flush()
