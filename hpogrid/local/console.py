"""The terminal of a run: hpogrid's lines and its status line there, everything Ray says in the run's log.

While a run is on, file descriptor 2 of this process (where Ray's Python loggers, its C++ core, the
search libraries and Python warnings write) points to ``<run dir>/ray.log``; hpogrid writes to a copy
of the terminal it kept.
Until the run folder exists (Ray starts first, so that a failed start leaves no folder), Ray's text
goes to a temporary file that is then copied to the log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

RAY_LOG = "ray.log"  # in the run folder: what Ray printed in this process
ERASE = "\x1b[K"  # erase to the end of the line


class Console:
    """Where the run's progress and messages go: a terminal (status line redrawn in place) or a log."""

    def __init__(self, stream: TextIO, quiet: bool = False, verbose: bool = False):
        self.stream, self.quiet, self.verbose = stream, quiet, verbose
        try:
            self.tty = stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.status_shown = False

    def width(self) -> int:
        """Columns of the terminal ($COLUMNS first); 160 when not a terminal (a log: long forms)."""
        columns = os.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        if not self.tty:
            return 160
        try:
            return os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError, io.UnsupportedOperation):
            return 80

    def say(self, text: str) -> None:
        """A line that stays (above the status line on a terminal)."""
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def status(self, text: str) -> None:
        """The status line: redrawn in place on a terminal, a plain line otherwise."""
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r" + text + ERASE)
            self.status_shown = True
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        """Leave the status line as it is and move below it."""
        if self.status_shown:
            self.stream.write("\n")
            self.stream.flush()
            self.status_shown = False

    def _clear(self) -> None:
        if self.status_shown:
            self.stream.write("\r" + ERASE)
            self.status_shown = False


_current: Console | None = None


def current() -> Console:
    """The console of the run in progress (a plain stderr one outside a run)."""
    return _current or Console(sys.stderr, quiet=True)


class RayOutput:
    """Keeps what Ray writes in this process off the terminal: call attach(run_dir) once the run folder
    exists to move it into the run's ray.log."""

    def __init__(self) -> None:
        self.file: TextIO | None = None
        self.temporary: Path | None = None

    def open_temporary(self) -> TextIO:
        handle, name = tempfile.mkstemp(prefix="hpogrid-ray-", suffix=".log")
        os.close(handle)
        self.temporary = Path(name)
        return self._switch(open(name, "a", encoding="utf-8", errors="replace"))  # noqa: SIM115 - kept open

    def attach(self, run_dir: Path) -> None:
        """From now on Ray's text goes to run_dir/ray.log (with what it said so far)."""
        log = open(run_dir / RAY_LOG, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - kept open
        if self.temporary is not None:
            with contextlib.suppress(OSError), open(self.temporary, encoding="utf-8", errors="replace") as before:
                shutil.copyfileobj(before, log)
        log.flush()
        self._switch(log)
        self._drop_temporary()
        logging.getLogger("ray").handlers[:] = _ray_handlers[-1:]  # ray.init adds its own to stderr again

    def text(self) -> str:
        """What Ray wrote before the run folder existed (for an unexpected failure to show)."""
        if self.temporary is None:
            return ""
        with contextlib.suppress(OSError):
            return self.temporary.read_text(errors="replace")
        return ""

    def _switch(self, file: TextIO) -> TextIO:
        with contextlib.suppress(ValueError, OSError):
            sys.stderr.flush()
        os.dup2(file.fileno(), 2)
        for handler in _ray_handlers:
            handler.setStream(file)
        if self.file is not None:
            self.file.close()
        self.file = file
        return file

    def _drop_temporary(self) -> None:
        if self.temporary is not None:
            with contextlib.suppress(OSError):
                self.temporary.unlink()
            self.temporary = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self._drop_temporary()


_ray_handlers: list[logging.StreamHandler] = []


def _terminal_stream() -> tuple[TextIO, int | None]:
    """A stream on the terminal that stays there when fd 2 is redirected, and the fd to close after."""
    try:
        if sys.stderr.fileno() != 2:
            return sys.stderr, None
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return sys.stderr, None  # a captured stderr (tests): write to it as it is
    sys.stderr.flush()
    fd = os.dup(2)
    stream = open(fd, "w", encoding=sys.stderr.encoding or "utf-8", errors="replace", closefd=False)  # noqa: SIM115
    return stream, fd


@contextlib.contextmanager
def run_console(quiet: bool = False, verbose: bool = False) -> Iterator[tuple[Console, RayOutput]]:
    """The console of a run, with Ray's output kept off the terminal until the block ends."""
    global _current
    stream, fd = _terminal_stream()
    console = Console(stream, quiet=quiet, verbose=verbose)
    output = RayOutput()
    saved_fd = os.dup(2)
    ray_logger = logging.getLogger("ray")
    saved_handlers, saved_propagate = list(ray_logger.handlers), ray_logger.propagate
    handler = logging.StreamHandler(io.StringIO())
    _ray_handlers.append(handler)
    output.open_temporary()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    ray_logger.handlers[:] = [handler]
    ray_logger.propagate = False
    saved_showwarning = warnings.showwarning
    warnings.showwarning = _warning_to(log_of=output)
    _current = console
    try:
        yield console, output
    finally:
        _current = None
        warnings.showwarning = saved_showwarning
        ray_logger.handlers[:] = saved_handlers
        ray_logger.propagate = saved_propagate
        _ray_handlers.remove(handler)
        console.end()
        with contextlib.suppress(ValueError, OSError):
            sys.stderr.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        output.close()
        if fd is not None:
            stream.flush()
            stream.close()
            os.close(fd)


def _warning_to(log_of: RayOutput):
    """warnings.showwarning writing to the run's Ray log: in the driver only Ray and the search
    libraries run (the user's code runs in the trials, whose warnings go to their logs)."""

    def show(message, category, filename, lineno, file=None, line=None):
        if log_of.file is not None:
            log_of.file.write(warnings.formatwarning(message, category, filename, lineno, line))
            log_of.file.flush()

    return show
