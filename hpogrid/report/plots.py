"""Plotly figures of a report, as plain figure dicts (data + layout) that plotly.js draws.

Built without plotly's Python figure classes (their validation costs seconds on 10,000 trials); the
HTML pages embed plotly.js itself. The data arrays are kept once in a Columns store and referenced
from the figures as ``{"$column": key}`` (the page resolves them), so a parameter shown in three plots
is written once. Categorical parameters appear as categories (parallel coordinates: integer codes with
the category names as tick labels).

A parameter a trial has no value of (a conditional space, or one that gained the parameter after a
run) is shown as the category ``(none)``; in a scatter panel of a numeric parameter the point is left
out (a gap), and on a parallel-coordinates axis the line goes to a ``(none)`` tick at the bottom, below
the values of a numeric axis (plotly.js would draw a missing value as 0).
"""

from __future__ import annotations

import math
from typing import Any

from hpogrid.report.table import Table

GL_FROM = 2000  # points per trace from which WebGL traces are used
MISSING = "(none)"  # the label of a missing value
BELOW = 0.15  # how far below a numeric axis (share of its span) its missing values are drawn


class Columns:
    """The data arrays of a page, each stored once under a key."""

    def __init__(self, table: Table):
        self.table, self.frame, self.data = table, table.scored(), {}

    def ref(self, key: str, make=None) -> dict:
        if key not in self.data:
            self.data[key] = make() if make else _values(self.frame[key])
        return {"$column": key}

    def numeric(self, name: str) -> bool:
        import pandas as pd

        values = self.frame[name]
        return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))

    def text(self, name: str) -> dict:
        return self.ref(f"text:{name}", lambda: labels(self.frame[name]))

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


def history(columns: Columns) -> dict:
    """The metric of each trial in the order the trials started, with the best so far."""
    table, frame = columns.table, columns.frame
    metric = frame[table.metric]
    order = sorted(frame.index, key=lambda i: table.records[i].start or "")  # the index is the record position
    values = metric.loc[order].to_numpy(dtype=float)
    import numpy as np

    best = np.minimum.accumulate(values) if table.mode == "min" else np.maximum.accumulate(values)
    kind = "scattergl" if len(values) >= GL_FROM else "scatter"
    x = columns.ref("history:x", lambda: list(range(1, len(values) + 1)))
    return {
        "data": [
            {
                "type": kind,
                "mode": "markers",
                "x": x,
                "y": columns.ref("history:y", lambda: [float(f"{v:.7g}") for v in values.tolist()]),
                "name": table.metric,
                "marker": {"size": 5},
            },
            {
                "type": kind,
                "mode": "lines",
                "x": x,
                "y": columns.ref("history:best", lambda: [float(f"{v:.7g}") for v in best.tolist()]),
                "name": "best so far",
                "line": {"shape": "hv"},
            },
        ],
        "layout": _layout("Optimization history", {"title": {"text": "trial (by start time)"}}, table.metric),
    }


def importance(analysis: dict) -> dict:
    items = [i for i in analysis["importance"] if i["eta2"] is not None][::-1]
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
            {"title": {"text": "eta^2"}, "range": [0, 1]},
            "",
            height=max(300, 40 * len(items) + 120),
            yaxis={"automargin": True, "type": "category"},
        ),
    }


def parallel_coordinates(columns: Columns) -> dict:
    table = columns.table
    dimensions = [_dimension(columns, name) for name in [*table.params, table.metric]]
    line = {
        "color": columns.ref(table.metric),
        "colorscale": "Viridis",
        "showscale": True,
        "reversescale": table.mode == "min",
        "colorbar": {"title": {"text": table.metric}},
    }
    return {
        "data": [{"type": "parcoords", "dimensions": dimensions, "line": line}],
        "layout": {
            "title": {"text": f"Parallel coordinates ({len(columns.frame)} trials)"},
            "margin": {"l": 80, "r": 80, "t": 90, "b": 40},
            "height": 560,
        },
    }


def metric_vs_parameters(columns: Columns) -> dict:
    """One scatter panel per hyperparameter, the metric on every y axis."""
    table = columns.table
    names = table.params
    per_row = min(3, max(len(names), 1))
    rows = -(-len(names) // per_row) if names else 1
    kind = "scattergl" if len(columns.frame) >= GL_FROM else "scatter"
    gap_x, gap_y = 0.07, 0.12 / rows
    layout: dict[str, Any] = {
        "title": {"text": f"{table.metric} against each parameter"},
        "showlegend": False,
        "height": 320 * rows + 80,
        "margin": {"t": 70},
    }
    data = []
    for i, name in enumerate(names):
        row, column = divmod(i, per_row)
        suffix = "" if i == 0 else str(i + 1)
        x0 = column / per_row + (gap_x / 2 if column else 0)
        x1 = (column + 1) / per_row - (gap_x / 2 if column < per_row - 1 else 0)
        y1 = 1 - row / rows - (gap_y / 2 if row else 0)
        y0 = 1 - (row + 1) / rows + (gap_y / 2 if row < rows - 1 else 0)
        categorical = not columns.numeric(name)
        data.append(
            {
                "type": kind,
                "mode": "markers",
                "x": columns.text(name) if categorical else columns.ref(name),
                "y": columns.ref(table.metric),
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "marker": {"size": 4, "opacity": 0.6},
                "name": name,
            }
        )
        layout[f"xaxis{suffix}"] = {
            "domain": [x0, x1],
            "anchor": f"y{suffix}",
            "title": {"text": name},
            **({"type": "category"} if categorical else {}),
        }
        layout[f"yaxis{suffix}"] = {"domain": [y0, y1], "anchor": f"x{suffix}", "title": {"text": table.metric}}
    return {"data": data, "layout": layout}


def _dimension(columns: Columns, name: str) -> dict:
    if columns.numeric(name) and columns.frame[name].notna().any():
        return _numeric_dimension(columns, name)
    text = labels(columns.frame[name])
    present = sorted(set(text) - {MISSING})
    categories = [MISSING] * (MISSING in text) + present  # the missing ones at the bottom, as on numeric axes
    code = {c: i for i, c in enumerate(categories)}
    return {
        "label": name,
        "values": columns.ref(f"code:{name}", lambda: [code[t] for t in text]),
        "tickvals": list(range(len(categories))),
        "ticktext": categories,
    }


def _numeric_dimension(columns: Columns, name: str) -> dict:
    """A numeric axis; missing values on a MISSING tick below it."""
    series = columns.frame[name]
    if not series.isna().any():
        return {"label": name, "values": columns.ref(name)}
    low, high = float(series.min()), float(series.max())
    span = (high - low) or abs(low) or 1.0
    below = low - BELOW * span
    ticks = nice_ticks(low, high)

    def values() -> list:
        return [below if v is None else v for v in _values(series)]

    return {
        "label": name,
        "values": columns.ref(f"pcp:{name}", values),
        "range": [below, max(high, low + span)],
        "tickvals": [below, *ticks],
        "ticktext": [MISSING, *(f"{t:.6g}" for t in ticks)],
    }


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About count round tick values within [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if not high > low:
        return [low]
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if raw <= m * power)
    first = math.ceil(low / step) * step
    return [float(f"{first + i * step:.12g}") for i in range(int((high - first) / step + 1e-9) + 1)]


def _layout(title: str, xaxis: dict, ytitle: str, height: int = 420, yaxis: dict | None = None) -> dict:
    return {
        "title": {"text": title},
        "xaxis": xaxis,
        "yaxis": {"title": {"text": ytitle}, **(yaxis or {})},
        "height": height,
        "margin": {"t": 60},
    }
