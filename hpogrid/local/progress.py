"""The progress line of a run, fitted to a width: a bar and counts, dropping the least useful parts first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Counts:
    """Where a run stands."""

    total: int
    done: int = 0  # trials that ended, however
    running: int = 0
    pending: int = 0  # made by the search, not started yet
    stopped: int = 0  # stopped early by the scheduler
    failed: int = 0
    metric: str = "loss"
    best: float | None = None
    elapsed: float = 0.0
    jobs: tuple[int, int, int] | None = None  # a task's jobs (running, waiting, ended), shown instead of trials running

    def jobs_text(self, short: bool) -> str:
        running, waiting, ended = self.jobs or (0, 0, 0)
        if short:
            return f"jobs {running} run"
        states = ((running, "running"), (waiting, "waiting"), (ended, "ended"))
        return "jobs " + " ".join(f"{count} {state}" for count, state in states if count)

    @property
    def left(self) -> float | None:
        """Seconds left, estimated from the time per trial so far."""
        if not self.done:
            return None
        return self.elapsed / self.done * max(self.total - self.done, 0)


def number(value: float | None) -> str:
    """A metric value with 5 significant digits."""
    return "-" if value is None else f"{value:.5g}"


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:d}:{rest % 60:02d}"


# (priority, long form, short form) in the order shown; the lowest priority goes first when even the
# short forms do not fit
def _fields(c: Counts) -> list[tuple[int, str, str]]:
    if c.jobs is None:
        active = [(6, f"{c.running} running", f"{c.running} run"), (2, f"{c.pending} starting", f"{c.pending} start")]
    else:
        active = [(6, c.jobs_text(short=False), c.jobs_text(short=True))]
    return [
        (9, f"{c.done}/{c.total} done", f"{c.done}/{c.total}"),
        *active,
        (3, f"{c.stopped} stopped early", f"{c.stopped} early"),
        (7, f"{c.failed} failed", f"{c.failed} fail"),
        (8, f"best {c.metric} {number(c.best)}", f"best {number(c.best)}"),
        (4, f"{clock(c.elapsed)} elapsed", clock(c.elapsed)),
        (5, f"{clock(c.left)} left", f"{clock(c.left)} left"),
    ]


BAR_MIN, BAR_MAX = 10, 30
SEPARATOR = " | "


def line(c: Counts, width: int, bar: bool = True) -> str:
    """The progress line, at most width characters: every field in its long form if they fit, else in
    its short form, else the short forms of the most useful ones; then a bar if at least BAR_MIN fits."""
    fields = _fields(c)
    text = SEPARATOR.join(f[1] for f in fields)
    if len(text) > width:
        kept = list(fields)
        text = SEPARATOR.join(f[2] for f in kept)
        while len(text) > width and len(kept) > 1:
            kept.remove(min(kept, key=lambda f: f[0]))
            text = SEPARATOR.join(f[2] for f in kept)
    text = text[:width]
    room = width - len(text) - 3  # "[" + bar + "] "
    if bar and room >= BAR_MIN:
        size = min(room, BAR_MAX)
        filled = round(size * c.done / c.total) if c.total else size
        text = f"[{'#' * filled}{'-' * (size - filled)}] {text}"
    return text
