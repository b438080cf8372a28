"""Plotly figures of a report, as plain figure dicts (data + layout) that plotly.js draws.

Built without plotly's Python figure classes (their validation costs seconds on 10,000 trials); the
HTML pages embed plotly.js itself. Categorical parameters appear as categories (parallel coordinates:
integer codes with the category names as tick labels).
"""

from __future__ import annotations

import math
from typing import Any

from hpogrid.report.table import Table

GL_FROM = 2000  # points per trace from which WebGL traces are used


def history(table: Table) -> dict:
    """The metric of each trial in the order the trials started, with the best so far."""
    frame = table.scored()
    metric = frame[table.metric]
    order = sorted(frame.index, key=lambda i: table.records[i].start or "")  # the index is the record position
    values = [float(metric[i]) for i in order]
    best, running = [], None
    for value in values:
        running = value if running is None else (min if table.mode == "min" else max)(running, value)
        best.append(running)
    kind = "scattergl" if len(values) >= GL_FROM else "scatter"
    x = list(range(1, len(values) + 1))
    return {
        "data": [
            {"type": kind, "mode": "markers", "x": x, "y": values, "name": table.metric, "marker": {"size": 5}},
            {"type": kind, "mode": "lines", "x": x, "y": best, "name": "best so far", "line": {"shape": "hv"}},
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


def parallel_coordinates(table: Table) -> dict:
    frame = table.scored()
    dimensions = [_dimension(name, frame[name]) for name in [*table.params, table.metric]]
    values = [float(v) for v in frame[table.metric]]
    line = {"color": values, "colorscale": "Viridis", "showscale": True, "reversescale": table.mode == "min"}
    line["colorbar"] = {"title": {"text": table.metric}}
    return {
        "data": [{"type": "parcoords", "dimensions": dimensions, "line": line}],
        "layout": {
            "title": {"text": f"Parallel coordinates ({len(values)} trials)"},
            "margin": {"l": 80, "r": 80, "t": 90, "b": 40},
            "height": 560,
        },
    }


def metric_vs_parameters(table: Table) -> dict:
    """One scatter panel per hyperparameter, the metric on every y axis."""
    frame = table.scored()
    names = table.params
    columns = min(3, max(len(names), 1))
    rows = math.ceil(len(names) / columns) if names else 1
    kind = "scattergl" if len(frame) >= GL_FROM else "scatter"
    gap_x, gap_y = 0.07, 0.12 / max(rows, 1)
    layout: dict[str, Any] = {
        "title": {"text": f"{table.metric} against each parameter"},
        "showlegend": False,
        "height": 320 * rows + 80,
        "margin": {"t": 70},
    }
    data = []
    for i, name in enumerate(names):
        row, column = divmod(i, columns)
        suffix = "" if i == 0 else str(i + 1)
        x0 = column / columns + (gap_x / 2 if column else 0)
        x1 = (column + 1) / columns - (gap_x / 2 if column < columns - 1 else 0)
        y1 = 1 - row / rows - (gap_y / 2 if row else 0)
        y0 = 1 - (row + 1) / rows + (gap_y / 2 if row < rows - 1 else 0)
        values = frame[name]
        categorical = not _numeric(values)
        data.append(
            {
                "type": kind,
                "mode": "markers",
                "x": [str(v) for v in values] if categorical else [_plain(v) for v in values],
                "y": [float(v) for v in frame[table.metric]],
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


def _dimension(name: str, values) -> dict:
    if _numeric(values):
        numbers = [_plain(v) for v in values]
        return {"label": name, "values": numbers}
    text = [str(v) for v in values]
    categories = sorted(set(text))
    code = {c: i for i, c in enumerate(categories)}
    return {
        "label": name,
        "values": [code[t] for t in text],
        "tickvals": list(range(len(categories))),
        "ticktext": categories,
    }


def _numeric(values) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values))


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    value = item() if item is not None else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _layout(title: str, xaxis: dict, ytitle: str, height: int = 420, yaxis: dict | None = None) -> dict:
    return {
        "title": {"text": title},
        "xaxis": xaxis,
        "yaxis": {"title": {"text": ytitle}, **(yaxis or {})},
        "height": height,
        "margin": {"t": 60},
    }
