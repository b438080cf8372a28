"""What `hpogrid local_run` shows (issue 12, points 1-3), from a real run: under a pseudo-terminal of
80 columns (only hpogrid speaks, the status line fits and is redrawn in place, a failed trial is one
line, the final table fits, the best config is JSON that --search_points takes), and with stderr not
a terminal (plain periodic lines, --verbose streaming the trials' output)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

from hpogrid.local.progress import Counts, line
from hpogrid.local.recorder import failure_line
from hpogrid.results import Journal
from tests.conftest import PYTHON, REPO

COLUMNS = 80
SCRIPT = """
import math
import os
import sys
import time

import hpogrid


def train(config):
    print(f"training units={config['units']} act={config['act']}", flush=True)
    print("a note on stderr", file=sys.stderr, flush=True)
    if config["units"] == 7 and config["act"] == "sigmoid":
        raise RuntimeError("units 7 with sigmoid is broken")
    time.sleep(float(os.environ.get("HPOGRID_TEST_SLEEP", "0")))
    for step in range(2):
        loss = (math.log10(config["opt"]["lr"]) + 3) ** 2 + config["units"] / 100 + (config["act"] == "tanh") + step
        hpogrid.report(loss=loss, acc=0.9)
"""
SPACE = {
    "units": {"method": "uniformint", "dimension": {"low": 4, "high": 64}},
    "opt": {
        "lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-1}},
        "momentum": {"method": "uniform", "dimension": {"low": 0.5, "high": 0.99}},
    },
    "act": {"method": "categorical", "dimension": {"categories": ["relu", "tanh", "sigmoid"]}},
}
FAILING = {"units": 7, "opt": {"lr": 0.001, "momentum": 0.9}, "act": "sigmoid"}
RAY_TEXT = re.compile(r"\bray\b|WARNING|INFO|\[mutex|Tuner\.restore|pid=|Checkpoint successfully", re.IGNORECASE)
CSI = re.compile(r"\x1b\[[0-9;?]*([A-Za-z])")


def make_project(hpogrid, tmp_path: Path, name: str, num_trials: int) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    hpogrid("model_config", "recreate", "m", "--script", "train.py", "--model", "train")
    hpogrid("search_space", "recreate", "s", json.dumps(SPACE))
    hpogrid(
        "hpo_config", "recreate", f"h{num_trials}", "--algorithm", "random", "--metric", "loss", "--mode", "min",
        "--num_trials", str(num_trials), "--max_concurrent", "2", "--seed", "3", "--extra_metrics", "acc",
    )  # fmt: skip
    hpogrid(
        "project", "create", name, "--scripts_path", str(script), "--model_config", "m", "--search_space", "s",
        "--hpo_config", f"h{num_trials}",
    )  # fmt: skip


def environment(base: Path, **more: str) -> dict[str, str]:
    env = dict(os.environ, HPOGRID_BASE_PATH=str(base), PYTHONPATH=str(REPO), **more)
    env.pop("COLUMNS", None)
    return env


def under_terminal(
    args: list[str], env: dict, cwd: Path, timeout: float = 300, interrupt: str | None = None
) -> tuple[int, str]:
    """Run `python -m hpogrid ARGS` on a pseudo-terminal of COLUMNS columns; its exit code and output.
    interrupt: a regular expression; once the output matches it, Ctrl-C is typed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(cwd)
        os.execve(PYTHON, [PYTHON, "-m", "hpogrid", *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    output, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the child ended
                break
            if not data:
                break
            output += data
            if interrupt and re.search(interrupt, output.decode(errors="replace")):
                os.write(fd, b"\x03")
                interrupt = None
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def screen(output: str) -> list[tuple[str, int]]:
    """The lines a terminal ends up showing, with the widest any of them was while it was drawn:
    \\r returns to column 0, ESC[K erases to the end of the line, other escape sequences draw nothing."""
    lines: list[tuple[str, int]] = []
    row: list[str] = []
    column = widest = 0
    position = 0
    while position < len(output):
        match = CSI.match(output, position)
        if match:
            if match.group(1) == "K":
                del row[column:]
            position = match.end()
            continue
        char = output[position]
        position += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append(("".join(row), widest))
            row, column, widest = [], 0, 0
        else:
            row[column : column + 1] = [char]
            column += 1
            widest = max(widest, column)
    if row:
        lines.append(("".join(row), widest))
    return lines


def without_paths(text: str, cwd: Path) -> str:
    """The line without the paths it names that exist, and a JSON config line as nothing (neither is
    cut to fit)."""
    if text.startswith("{"):
        return ""
    for token in re.findall(r"\S+", text):
        if "/" in token and (cwd / token).exists():
            text = text.replace(" log: " + token, "").replace(token, "")
    return text


def test_progress_line_fits_every_width():
    counts = Counts(total=50, done=23, running=2, pending=1, stopped=3, failed=1, metric="val_loss", best=0.0123456)
    counts.elapsed = 62
    wide = line(counts, 200)
    assert wide.startswith("[") and "23/50 done | 2 running | 1 starting | 3 stopped early | 1 failed" in wide
    assert "best val_loss 0.012346 | 1:02 elapsed | 1:12 left" in wide
    for width in range(12, 200):
        text = line(counts, width)
        assert len(text) <= width and "23/50" in text, (width, text)
    assert "best" in line(counts, 40) and "fail" in line(counts, 40)  # the most useful fields stay longest


def test_failure_line_keeps_the_path_whole(tmp_path):
    log = tmp_path / "trials" / "abc_00001.log"
    error = "Traceback (most recent call last):\n  File x\nValueError: " + "long words " * 20
    text = failure_line("abc_00001", error, log, 80)
    assert text.startswith("Trial abc_00001 failed: ValueError: long words")
    head, path = text.split("  log: ")
    assert len(head) <= 80 and head.endswith("...") and path == "trials/abc_00001.log"  # relative to the cwd


def test_local_run_on_an_80_column_terminal(hpogrid, base, tmp_path):
    """50 trials (int, log-uniform, categorical and nested hyperparameters), one of them failing."""
    make_project(hpogrid, tmp_path, "term", 50)
    points = tmp_path / "points.json"
    points.write_text(json.dumps([FAILING]))
    began = time.time()
    code, output = under_terminal(["local_run", "term", "--search_points", str(points)], environment(base), tmp_path)
    took = time.time() - began
    lines = screen(output)
    shown = "\n".join(text for text, _ in lines)
    assert code == 0, shown
    assert not RAY_TEXT.search(shown), f"Ray's text on the terminal:\n{shown}"
    for text, widest in lines:
        assert len(without_paths(text, tmp_path)) <= COLUMNS, f"wider than {COLUMNS} columns: {text!r}"
        if re.match(r"(\[[#-]+\] )?\d+/50", text):
            assert widest < COLUMNS, f"the status line wraps: {text!r}"
    # the status line was redrawn in place, with every field
    redraws = [chunk for chunk in CSI.sub("", output).split("\r") if re.match(r"(\[[#-]+\] )?\d+/50", chunk)]
    assert len(redraws) > 5, output
    assert any(
        re.search(r"\d+/50 \| \d+ run \| \d+ start \| \d+ early \| \d+ fail \| best [-\d.e]+", r) for r in redraws
    )
    assert re.search(r"\d+:\d\d \| \d+:\d\d left", "".join(redraws))
    # the failed trial: one line, its log holds what it printed and its traceback
    run_dir = Path(shown.split("Results: ")[1].split()[0])
    records = Journal(run_dir).records()
    assert len(records) == 50
    failed = [r for r in records if r.status == "error"]
    assert failed and failed[0].config == FAILING
    for record in failed:
        (text,) = [t for t in shown.splitlines() if record.trial_id in t and "failed" in t]
        assert text.startswith(f"Trial {record.trial_id} failed: RuntimeError: units 7 with sigmoid is broken  log: ")
        log = tmp_path / text.split("  log: ")[1]
        assert log.is_file() and log == run_dir / "trials" / f"{record.trial_id}.log"
        content = log.read_text()
        assert "training units=7 act=sigmoid" in content and "a note on stderr" in content
        assert 'train.py", line 14, in train' in content
        assert content.rstrip().endswith("\nRuntimeError: units 7 with sigmoid is broken")
    assert all((run_dir / "trials" / f"{r.trial_id}.log").is_file() for r in records)
    said = (run_dir / "ray.log").read_text()  # where Ray's words went: its report of the failed trial
    assert re.search(r"ERROR tune_controller\.py:\d+ -- Trial task failed for trial \w*" + failed[0].trial_id, said)
    # the final table: report's layout, fitted, numbers to 5 significant digits
    header = next(t for t in shown.splitlines() if t.startswith("trial "))
    assert header.split()[:3] == ["trial", "loss", "status"] and "units" in header
    table = shown.split(header)[1].split("\n\n")[0]
    numbers = re.findall(r"(?<![\w.])\d+\.\d+(?:e-?\d+)?", table)
    assert numbers and all(len(n.split("e")[0].replace(".", "").lstrip("0")) <= 6 for n in numbers), table
    assert all(len(t) < COLUMNS for t in table.splitlines())
    columns = header.split()  # every column is shown, or named as left out
    left_out = table.split("(not shown, too wide: ")[1].split(";")[0].split(", ") if "not shown" in table else []
    assert sorted(columns[3:] + left_out) == sorted(["acc", "units", "opt.lr", "opt.momentum", "act"]), table
    # the best config: one JSON line that --search_points takes
    best = json.loads(shown.split("Best config (JSON")[1].splitlines()[1])
    assert best == min((r for r in records if r.value is not None), key=lambda r: r.value).config
    again = tmp_path / "best.json"
    again.write_text(json.dumps([best]))
    make_project(hpogrid, tmp_path, "again", 2)
    check = subprocess.run(
        [PYTHON, "-m", "hpogrid", "local_run", "again", "--search_points", str(again), "-q"],
        env=environment(base), cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    rerun = Journal(Path(check.stdout.split("Results: ")[1].split()[0])).records()
    assert best in [r.config for r in rerun]
    print(f"50 trials on a terminal: {took:.1f} s")


def test_local_run_not_on_a_terminal_with_verbose(hpogrid, base, tmp_path):
    """stderr to a file (CI, grid job logs): plain progress lines, and the trials' output with --verbose."""
    make_project(hpogrid, tmp_path, "plain", 8)
    done = subprocess.run(
        [PYTHON, "-m", "hpogrid", "local_run", "plain", "--verbose"],
        env=environment(base, HPOGRID_PROGRESS_INTERVAL="1"), cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    everything = done.stdout + done.stderr
    assert "\r" not in everything and "\x1b" not in everything
    progress = [t for t in done.stderr.splitlines() if re.match(r"\d+/8 done \| ", t)]
    assert len(progress) >= 2 and progress[-1].startswith("8/8 done | 0 running | 0 starting | 0 stopped early")
    assert all(re.search(r"best loss ([-\d.e]+|-) \| \d+:\d\d elapsed \| ([\d:]+|-) left$", t) for t in progress)
    run_dir = Path(done.stdout.split("Results: ")[1].split()[0])
    records = Journal(run_dir).records()
    for record in records:  # every trial's output, after its id
        assert f"({record.trial_id}) training units={record.config['units']}" in done.stderr
        assert f"({record.trial_id}) a note on stderr" in done.stderr
    rest = [t for t in done.stderr.splitlines() if t not in progress and not re.match(r"\(\w+\) ", t)]
    assert not RAY_TEXT.search("\n".join(rest)), rest
    assert json.loads(done.stdout.split("Best config (JSON")[1].splitlines()[1])


def test_ctrl_c_and_resume_leave_ray_silent(hpogrid, base, tmp_path):
    """Ctrl-C: hpogrid's own --resume line, not Ray's 'Resume experiment with: Tuner.restore(...)';
    the resumed run says nothing of Ray's either (no 'Failed to fetch metrics')."""
    make_project(hpogrid, tmp_path, "stop", 6)
    env = environment(base, HPOGRID_TEST_SLEEP="2")
    code, output = under_terminal(["local_run", "stop"], env, tmp_path, interrupt=r"[1-5]/6 ")
    shown = "\n".join(text for text, _ in screen(output))
    assert code == 130, shown
    assert "Continue with: hpogrid local_run stop --resume" in shown
    assert not RAY_TEXT.search(shown), f"Ray's text on the terminal:\n{shown}"
    run_dir = Path(shown.split("Results: ")[1].split()[0])
    assert "Tuner.restore" in (run_dir / "ray.log").read_text()  # Ray said it, in its log
    code, output = under_terminal(["local_run", "stop", "--resume"], environment(base), tmp_path)
    shown = "\n".join(text for text, _ in screen(output))
    assert code == 0 and "finished: 6 of 6 trials" in shown, shown
    assert not RAY_TEXT.search(shown) and "fetch" not in shown, f"Ray's text on the terminal:\n{shown}"
