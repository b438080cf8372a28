"""Open a report page in headless Chromium (Debian's chromium package) and say what happened in it.

A copy of the page gets a probe script first in <head>: it collects script errors and console errors,
and after the page has drawn it clicks a column header and reports the plots (their traces, SVG and
WebGL canvases) and the sorted column as JSON in the DOM, which `--dump-dom` prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",  # WebGL (parallel coordinates) in software
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push('error: ' + e.message));
window.addEventListener('unhandledrejection', e => window.__errors.push('rejection: ' + e.reason));
const __consoleError = console.error;
console.error = (...a) => { window.__errors.push('console: ' + a.join(' ')); __consoleError(...a); };
window.addEventListener('load', () => setTimeout(() => {
  const out = {errors: window.__errors, plotted: document.body.dataset.plotted || null, plots: [], sorted: null};
  document.querySelectorAll('.js-plotly-plot').forEach(p => out.plots.push({id: p.id,
    traces: (p.data || []).length, svg: p.querySelectorAll('svg').length, canvas: p.querySelectorAll('canvas').length}));
  const th = Array.from(document.querySelectorAll('#hg-table th')).find(h => h.textContent === SORT_COLUMN);
  if (th) { th.click(); out.sorted = Array.from(document.querySelectorAll('#hg-table tbody tr'))
    .map(tr => tr.cells[th.cellIndex].textContent); }
  const pre = document.createElement('pre'); pre.id = 'hg-probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 3000));
</script>"""


def require_chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        message = "Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


def _run(page: Path, extra: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            require_chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=8000",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def probe(page: Path, workdir: Path, sort_column: str = "") -> dict:
    """Open a copy of the page with the probe; returns {errors, plotted, plots, sorted}."""
    copy = workdir / f"probed-{page.name}"
    text = page.read_text()
    script = PROBE.replace("SORT_COLUMN", json.dumps(sort_column))
    copy.write_text(text.replace("<head>", "<head>" + script, 1))
    done = _run(copy, ["--dump-dom"], workdir / "chromium-profile")
    found = re.search(r'<pre id="hg-probe">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading in Chromium:\n{done.stderr[-2000:]}"
    import html

    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, target: Path, workdir: Path) -> Path:
    done = _run(page, [f"--screenshot={target}", "--window-size=1400,2400"], workdir / "chromium-profile")
    assert target.is_file(), done.stderr[-2000:]
    return target
