"""Plotly figures of a report, as plain figure dicts (data + layout) that plotly.js draws.

Built without plotly's Python figure classes (their validation costs seconds on 10,000 trials); the
HTML pages embed plotly.js itself. The data arrays are kept once in a Columns store and referenced
from the figures as ``{"$column": key}`` (the page resolves them), so a parameter shown in three plots
is written once. Axes follow hpogrid/report/scales.py (log, linear or category).

This module holds the plots over trials (optimization history, learning curves, empirical
distribution, importance); parameter_plots.py those over the search space, timeline.py the timeline.
Every plot shows the trials that passed the report's filters (``--top`` limits the table only).
Completed trials are circles, trials stopped early by the scheduler crosses (and orange where colour
does not already stand for something else); a trial without a value (error) is in no plot but the
learning curves and the timeline.

A parameter a trial has no value of (a conditional space, or one that gained the parameter after a
run) is shown as the category ``(none)``; in a scatter panel of a numeric parameter the point is left
out (a gap), and on a parallel-coordinates axis the line goes to a ``(none)`` tick at the bottom.
"""

from __future__ import annotations

from typing import Any

from hpogrid.report.scales import CATEGORY, LINEAR, axis, metric_scale
from hpogrid.report.table import Table, group_label
from hpogrid.results import TrialRecord

GL_FROM = 2000  # points per trace from which WebGL traces are used
MISSING = "(none)"  # the label of a missing value
# status: (legend name, marker symbol, colour)
STATUS = {
    "terminated": ("completed", "circle", "#1f77b4"),
    "early_stopped": ("stopped early", "x", "#ff7f0e"),
    "error": ("error", "diamond", "#d62728"),
}
PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"]
BEST = "#d62728"


class Columns:
    """The data arrays of a page, each stored once under a key."""

    def __init__(self, table: Table):
        self.table, self.frame, self.data = table, table.scored(), {}

    def ref(self, key: str, make=None) -> dict:
        if key not in self.data:
            self.data[key] = make() if make else _values(self.frame[key])
        return {"$column": key}

    def scale(self, name: str) -> str:
        return self.table.scales.get(name, LINEAR)

    def numeric(self, name: str) -> bool:
        return self.scale(name) != CATEGORY

    def text(self, name: str) -> dict:
        return self.ref(f"text:{name}", lambda: labels(self.frame[name]))

    def records(self) -> list[TrialRecord]:
        """The records of the rows with a value, in the frame's order."""
        return [self.table.records[i] for i in self.frame.index]  # the index is the record position

    def status_marker(self) -> dict:
        """Markers by status: circles for completed trials, crosses for those stopped early."""
        statuses = [r.status for r in self.records()]
        return {
            "symbol": self.ref("symbol", lambda: [STATUS.get(s, STATUS["terminated"])[1] for s in statuses]),
            "color": self.ref("status-color", lambda: [STATUS.get(s, STATUS["terminated"])[2] for s in statuses]),
        }

    def resolve(self, figure: Any) -> Any:
        """The figure with its references replaced by the arrays (for plotly's own tools)."""
        if isinstance(figure, dict):
            if set(figure) == {"$column"}:
                return self.data[figure["$column"]]
            return {k: self.resolve(v) for k, v in figure.items()}
        if isinstance(figure, list):
            return [self.resolve(v) for v in figure]
        return figure


def labels(series) -> list[str]:
    """A column as category labels: each value as text, a missing one as MISSING."""
    return [MISSING if missing else str(v) for v, missing in zip(series.tolist(), series.isna().tolist(), strict=True)]


def _values(series) -> list:
    """A column as JSON-ready Python values (NaN as None), fast for numeric columns."""
    if series.dtype.kind == "i":
        return series.tolist()
    if series.dtype.kind == "f":  # 7 significant digits: plenty for a plot, half the JSON of a full repr
        return [None if v != v else float(f"{v:.7g}") for v in series.to_numpy(dtype=float).tolist()]
    return series.astype(object).where(series.notna(), None).tolist()


def _short(value: Any) -> Any:
    return None if value is None or value != value else float(f"{float(value):.7g}")


def group_of(record: TrialRecord) -> str:
    """The run or grid task a trial belongs to (the colour groups of history and EDF)."""
    source = record.source or {}
    if source.get("kind", "local") == "local":
        return f"run {source.get('run') or 'local'}"
    return group_label(record)


def history(columns: Columns) -> dict:
    """The metric of each trial in the order the trials started, coloured by run or grid task (crosses:
    stopped early), with the best so far; a log y axis when the values are positive and span decades."""
    import numpy as np

    table, frame = columns.table, columns.frame
    order = sorted(frame.index, key=lambda i: table.records[i].start or "")  # the index is the record position
    values = frame[table.metric].loc[order].to_numpy(dtype=float)
    best = np.minimum.accumulate(values) if table.mode == "min" else np.maximum.accumulate(values)
    records = [table.records[i] for i in order]
    groups = list(dict.fromkeys(group_of(r) for r in records))
    traces: dict[tuple[str, str], list[int]] = {}
    for k, record in enumerate(records):
        status = "early_stopped" if record.status == "early_stopped" else "terminated"
        traces.setdefault((group_of(record), status), []).append(k)
    kind = "scattergl" if len(values) >= GL_FROM else "scatter"
    data = []
    for (group, status), points in sorted(
        traces.items(), key=lambda item: (groups.index(item[0][0]), list(STATUS).index(item[0][1]))
    ):
        name, symbol, _ = STATUS[status]
        data.append(
            {
                "type": kind,
                "mode": "markers",
                "x": [k + 1 for k in points],
                "y": [_short(values[k]) for k in points],
                "text": [records[k].trial_id for k in points],
                "name": (f"{group}, {name}" if status != "terminated" else group) if len(groups) > 1 else name,
                "legendgroup": group,
                "marker": {"size": 6, "symbol": symbol, "color": PALETTE[groups.index(group) % len(PALETTE)]},
                "hovertemplate": "%{text}<br>trial %{x}: %{y}<extra>%{fullData.name}</extra>",
            }
        )
    data.append(
        {
            "type": kind,
            "mode": "lines",
            "x": columns.ref("history:x", lambda: list(range(1, len(values) + 1))),
            "y": columns.ref("history:best", lambda: [_short(v) for v in best.tolist()]),
            "name": "best so far",
            "line": {"shape": "hv", "color": BEST},
        }
    )
    scale = metric_scale(values.tolist())
    return {
        "data": data,
        "layout": _layout(
            "Optimization history" + (" (log scale)" if scale != LINEAR else ""),
            axis(LINEAR, "trial (by start time)"),
            axis(scale, table.metric),
        ),
    }


def learning_curves(table: Table) -> dict | None:
    """Each trial's metric at every iteration it reported (from the records' history), one line per
    trial, coloured by how the trial ended; None when no trial recorded a history of the metric."""
    lines: dict[str, tuple[list, list, list]] = {}
    everything: list[float] = []
    for record in table.records:
        series = (record.history or {}).get(table.metric)
        if not isinstance(series, list) or not series:
            continue
        steps = (record.history or {}).get("iteration") or list(range(1, len(series) + 1))
        x, y, text = lines.setdefault(record.status, ([], [], []))
        for step, value in zip(steps, series, strict=False):
            x.append(step)
            y.append(_short(value) if isinstance(value, (int, float)) else None)
            text.append(record.trial_id)
        x.append(None), y.append(None), text.append("")  # a break between two trials
        everything += [v for v in series if isinstance(v, (int, float))]
    if not lines:
        return None
    points = sum(len(x) for x, _, _ in lines.values())
    data = []
    for status in [s for s in STATUS if s in lines]:
        x, y, text = lines[status]
        name, symbol, color = STATUS[status]
        data.append(
            {
                "type": "scattergl" if points >= GL_FROM * 10 else "scatter",
                "mode": "lines+markers" if points < GL_FROM else "lines",
                "x": x,
                "y": y,
                "text": text,
                "name": name,
                "line": {"width": 1, "color": color},
                "marker": {"size": 4, "symbol": symbol, "color": color},
                "opacity": 0.7,
                "connectgaps": False,
                "hovertemplate": "%{text}<br>iteration %{x}: %{y}<extra>" + name + "</extra>",
            }
        )
    scale = metric_scale(everything)
    return {
        "data": data,
        "layout": _layout(
            f"Learning curves ({sum(x.count(None) for x, _, _ in lines.values())} trials)",
            axis(LINEAR, "iteration"),
            axis(scale, table.metric),
        ),
    }


def edf(columns: Columns) -> dict | None:
    """The empirical distribution function of the metric, one line per run or grid task: the share of
    the group's trials whose value is at most x (as Optuna's; for mode min the best curve is the
    highest on the left, for mode max the lowest on the right)."""
    table = columns.table
    values: dict[str, list[float]] = {}
    for record, value in zip(columns.records(), columns.frame[table.metric].tolist(), strict=True):
        values.setdefault(group_of(record), []).append(float(value))
    if not values:
        return None
    data = []
    for index, (group, numbers) in enumerate(sorted(values.items())):
        numbers.sort()
        n = len(numbers)
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": [_short(v) for v in numbers],
                "y": [round((i + 1) / n, 6) for i in range(n)],
                "name": f"{group} ({n})",
                "line": {"shape": "hv", "color": PALETTE[index % len(PALETTE)]},
            }
        )
    everything = [v for numbers in values.values() for v in numbers]
    return {
        "data": data,
        "layout": _layout(
            f"Empirical distribution of {table.metric} per run or grid task",
            axis(metric_scale(everything), table.metric),
            axis(LINEAR, f"share of trials with {table.metric} at most x", range=[0, 1.02]),
        ),
    }


def importance(analysis: dict) -> dict | None:
    """The eta^2 of each parameter, most important on top."""
    items = [i for i in analysis["importance"] if i["eta2"] is not None][::-1]
    if not items:
        return None
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [i["eta2"] for i in items],
                "y": [i["parameter"] for i in items],
                "name": "eta^2",
            }
        ],
        "layout": _layout(
            "Parameter importance (share of the metric's variance explained by each parameter alone)",
            axis(LINEAR, "eta^2", range=[0, 1]),
            axis(CATEGORY, ""),
            height=max(300, 40 * len(items) + 120),
        ),
    }


def _layout(title: str, xaxis: dict, yaxis: dict, height: int = 420) -> dict:
    return {"title": {"text": title}, "xaxis": xaxis, "yaxis": yaxis, "height": height, "margin": {"t": 60}}
