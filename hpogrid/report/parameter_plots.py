"""Plots over the search space: slice (the metric against each parameter), contour of the two most
important parameters, and parallel coordinates. Log-scale parameters are on log axes (parallel
coordinates: log10 of the values, ticks labelled with the values), categorical ones on category axes
labelled with their values."""

from __future__ import annotations

import math
from typing import Any

from hpogrid.report.plots import GL_FROM, MISSING, Columns, _values, labels
from hpogrid.report.scales import CATEGORY, LOG, axis, categories, log_ticks, metric_scale, power_label

BELOW = 0.15  # how far below a numeric axis (share of its span) its missing values are drawn
CELLS = 20  # contour cells per numeric axis (at most)


def slice_plot(columns: Columns) -> dict | None:
    """One scatter panel per hyperparameter, the metric on every y axis (Optuna's slice plot)."""
    table = columns.table
    names = table.params
    if not names:
        return None
    per_row = min(3, max(len(names), 1))
    rows = -(-len(names) // per_row)
    kind = "scattergl" if len(columns.frame) >= GL_FROM else "scatter"
    gap_x, gap_y = 0.07, 0.12 / rows
    yscale = metric_scale(columns.frame[table.metric].tolist())
    layout: dict[str, Any] = {
        "title": {"text": f"{table.metric} against each parameter (circles: completed, crosses: stopped early)"},
        "showlegend": False,
        "height": 320 * rows + 80,
        "margin": {"t": 70},
    }
    data = []
    marker = {"size": 5, "opacity": 0.7, **columns.status_marker()}
    for i, name in enumerate(names):
        row, column = divmod(i, per_row)
        suffix = "" if i == 0 else str(i + 1)
        x0 = column / per_row + (gap_x / 2 if column else 0)
        x1 = (column + 1) / per_row - (gap_x / 2 if column < per_row - 1 else 0)
        y1 = 1 - row / rows - (gap_y / 2 if row else 0)
        y0 = 1 - (row + 1) / rows + (gap_y / 2 if row < rows - 1 else 0)
        scale = columns.scale(name)
        data.append(
            {
                "type": kind,
                "mode": "markers",
                "x": columns.text(name) if scale == CATEGORY else columns.ref(name),
                "y": columns.ref(table.metric),
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "marker": marker,
                "name": name,
            }
        )
        layout[f"xaxis{suffix}"] = axis(scale, name, domain=[x0, x1], anchor=f"y{suffix}", **_order(columns, name))
        layout[f"yaxis{suffix}"] = axis(yscale, table.metric, domain=[y0, y1], anchor=f"x{suffix}")
    return {"data": data, "layout": layout}


def _order(columns: Columns, name: str) -> dict:
    """The categories of a category axis in a readable order."""
    if columns.scale(name) != CATEGORY:
        return {}
    return {"categoryorder": "array", "categoryarray": categories(labels(columns.frame[name]))}


def contour(columns: Columns, analysis: dict) -> dict | None:
    """The metric (mean per cell, gaps interpolated) over the two most important parameters, with the
    trials on top; None with fewer than two parameters of two values or more."""
    table, frame = columns.table, columns.frame
    ranked = [i["parameter"] for i in analysis.get("importance") or [] if i["eta2"] is not None]
    names = [n for n in [*ranked, *table.params] if frame[n].nunique() >= 2]
    names = list(dict.fromkeys(names))[:2]
    if len(names) < 2:
        return None
    (xs, x_of), (ys, y_of) = (_cells(columns, n) for n in names)
    sums = [[0.0] * len(xs) for _ in ys]
    counts = [[0] * len(xs) for _ in ys]
    for i, j, value in zip(x_of, y_of, frame[table.metric].tolist(), strict=True):
        if i is not None and j is not None:
            sums[j][i] += value
            counts[j][i] += 1
    means = [s / c if c else None for rs, rc in zip(sums, counts, strict=True) for s, c in zip(rs, rc, strict=True)]
    colour, bar = _colour_scale(columns, [None if m is None else _round(m) for m in means])
    z = [colour[k * len(xs) : (k + 1) * len(xs)] for k in range(len(ys))]
    x_name, y_name = names
    marker = {"size": 5, "line": {"width": 0.5, "color": "white"}, **columns.status_marker()}
    marker["color"] = "black"
    data = [
        {
            "type": "contour",
            "x": xs,
            "y": ys,
            "z": z,
            "connectgaps": True,
            "colorscale": "Viridis",
            "reversescale": table.mode == "min",
            "colorbar": bar,
            "name": table.metric,
            "hovertemplate": f"{x_name} %{{x}}<br>{y_name} %{{y}}<br>{bar['title']['text']} %{{z}}<extra></extra>",
        },
        {
            "type": "scattergl" if len(frame) >= GL_FROM else "scatter",
            "mode": "markers",
            "x": columns.text(x_name) if columns.scale(x_name) == CATEGORY else columns.ref(x_name),
            "y": columns.text(y_name) if columns.scale(y_name) == CATEGORY else columns.ref(y_name),
            "marker": marker,
            "name": "trials",
            "showlegend": False,
        },
    ]
    layout = {
        "title": {"text": f"{table.metric} (mean per cell) over the two most important parameters"},
        "xaxis": axis(columns.scale(x_name), x_name, **_order(columns, x_name)),
        "yaxis": axis(columns.scale(y_name), y_name, **_order(columns, y_name)),
        "height": 560,
        "margin": {"t": 60},
    }
    return {"data": data, "layout": layout}


def _round(value: float) -> float:
    return float(f"{value:.7g}")


def _cells(columns: Columns, name: str) -> tuple[list, list[int | None]]:
    """The cell centres of a contour axis (as the axis shows them) and each row's cell (None: missing)."""
    series = columns.frame[name]
    scale = columns.scale(name)
    if scale == CATEGORY:
        text = labels(series)
        centres = categories(text)
        index = {c: i for i, c in enumerate(centres)}
        return centres, [index[t] for t in text]
    values = [None if v != v else float(v) for v in series.tolist()]
    present = sorted({v for v in values if v is not None})
    if len(present) <= CELLS:  # few distinct values (an integer, a quantized parameter): one cell each
        index = {v: i for i, v in enumerate(present)}
        return [_round(v) for v in present], [None if v is None else index[v] for v in values]
    forward = math.log10 if scale == LOG else float
    low, high = forward(present[0]), forward(present[-1])
    width = (high - low) / CELLS
    centres = [low + (k + 0.5) * width for k in range(CELLS)]
    back = [_round(10**c if scale == LOG else c) for c in centres]
    return back, [None if v is None else min(int((forward(v) - low) / width), CELLS - 1) for v in values]


def _colour_scale(columns: Columns, values: list[float]) -> tuple[Any, dict]:
    """(colour values, colour bar) of the metric: its log10 with ticks labelled by the values when it
    is positive and spans decades (a linear colour scale would show one colour for all but the worst)."""
    metric = columns.table.metric
    if metric_scale(values) != LOG:
        return values, {"title": {"text": metric}, "exponentformat": "e"}
    logs = [None if v is None else _round(math.log10(v)) for v in values]
    present = [v for v in logs if v is not None]
    ticks = log_ticks(min(present), max(present))
    bar = {"title": {"text": f"{metric} (log)"}, "tickvals": ticks, "ticktext": [power_label(t) for t in ticks]}
    return logs, bar


def parallel_coordinates(columns: Columns) -> dict | None:
    table = columns.table
    if not table.params:
        return None
    dimensions = [_dimension(columns, name) for name in [*table.params, table.metric]]
    colour, bar = _colour_scale(columns, _values(columns.frame[table.metric]))
    line = {
        "color": columns.ref("colour:metric", lambda: colour),
        "colorscale": "Viridis",
        "showscale": True,
        "reversescale": table.mode == "min",
        "colorbar": bar,
    }
    return {
        "data": [{"type": "parcoords", "dimensions": dimensions, "line": line}],
        "layout": {
            "title": {"text": f"Parallel coordinates ({len(columns.frame)} trials)"},
            "margin": {"l": 80, "r": 80, "t": 90, "b": 40},
            "height": 560,
        },
    }


def _dimension(columns: Columns, name: str) -> dict:
    table = columns.table
    series = columns.frame[name]
    scale = metric_scale(series.tolist()) if name == table.metric else columns.scale(name)
    if scale == LOG:
        return _log_dimension(columns, name)
    if scale != CATEGORY and series.notna().any():
        return _numeric_dimension(columns, name)
    text = labels(series)
    present = categories(sorted(set(text) - {MISSING}))
    ordered = [MISSING] * (MISSING in text) + present  # the missing ones at the bottom, as on numeric axes
    code = {c: i for i, c in enumerate(ordered)}
    return {
        "label": name,
        "values": columns.ref(f"code:{name}", lambda: [code[t] for t in text]),
        "tickvals": list(range(len(ordered))),
        "ticktext": ordered,
    }


def _numeric_dimension(columns: Columns, name: str) -> dict:
    """A numeric axis; missing values on a MISSING tick below it."""
    series = columns.frame[name]
    if not series.isna().any():
        return {"label": name, "values": columns.ref(name), "tickformat": "~g"}
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


def _log_dimension(columns: Columns, name: str) -> dict:
    """A log axis: the log10 of the values, ticks labelled with the values; missing ones below it."""
    series = columns.frame[name]
    logs = [None if v != v else math.log10(float(v)) for v in series.tolist()]
    present = [v for v in logs if v is not None]
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    below = low - BELOW * span
    missing = any(v is None for v in logs)
    ticks = log_ticks(low, high)
    return {
        "label": name,
        "values": columns.ref(f"log10:{name}", lambda: [below if v is None else _round(v) for v in logs]),
        "range": [below if missing else low, max(high, low + span * (high == low))],
        "tickvals": [below] * missing + ticks,
        "ticktext": [MISSING] * missing + [power_label(t) for t in ticks],
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
