"""How each quantity of a report is drawn: on a log, linear or category axis, with honest tick labels.

A hyperparameter's scale comes from its search-space method when the report knows the space (a
project): loguniform, qloguniform, lognormal and qlognormal on a log axis, categorical on a category
axis (its values as labels, even numbers), the others linear. For a results file (no space) it is
inferred from the values: text is categorical; positive numbers spanning two decades or more and
spread evenly in log space (their median's logarithm in the middle half of the logarithms' range, as
a log-uniform sample's is, and a uniform sample's on [0, 1] is not) are drawn on a log axis. The
metric goes on a log axis when it is positive and spans two decades; a metric with both signs stays
linear (plotly.js has no symlog axis, and a transformed axis would label its
ticks with numbers that are not the metric's).

Linear ticks are plain numbers or exponents ("1.5e-05"), never SI prefixes ("-0.013k"); log ticks
are powers of ten.
"""

from __future__ import annotations

import math
from typing import Any

LOG_METHODS = frozenset({"loguniform", "qloguniform", "lognormal", "qlognormal"})
DECADES = 2  # positive values spanning at least this many decades go on a log axis (when inferred)

LINEAR, LOG, CATEGORY = "linear", "log", "category"


def spans_decades(values: Any) -> bool:
    """Positive finite values whose largest is at least 10**DECADES times the smallest."""
    finite = [float(v) for v in values if v is not None and v == v and math.isfinite(float(v))]
    return bool(finite) and min(finite) > 0 and max(finite) >= min(finite) * 10**DECADES


def parameter_scale(series: Any, method: str | None) -> str:
    """LOG, LINEAR or CATEGORY for a hyperparameter column (method: its search-space method, if known)."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    values = series.dropna()
    if method == "categorical" or not numeric or values.empty:
        return CATEGORY
    if method in LOG_METHODS:
        return LOG if bool((values > 0).all()) else LINEAR
    if method is None and spans_decades(values.tolist()) and _even_in_log(values):
        return LOG
    return LINEAR


def _even_in_log(values: Any) -> bool:
    import numpy as np

    logs = np.log10(values.to_numpy(dtype=float))
    low, high = float(logs.min()), float(logs.max())
    return 0.25 <= (float(np.median(logs)) - low) / (high - low) <= 0.75


def metric_scale(values: Any) -> str:
    return LOG if spans_decades(values) else LINEAR


def axis(scale: str, title: str, **more: Any) -> dict:
    """A cartesian axis of the given scale with readable ticks."""
    out: dict[str, Any] = {"title": {"text": title}, "automargin": True}
    if scale == LOG:
        out.update(type="log", exponentformat="power")
    elif scale == CATEGORY:
        out.update(type="category")
    else:
        out.update(type="linear", exponentformat="e", tickformat="~g")
    return {**out, **more}


def categories(values: list[str]) -> list[str]:
    """The distinct labels in a readable order: numerically when they are all numbers, else as text."""
    distinct = set(values)

    def number(text: str) -> float | None:
        try:
            return float(text)
        except ValueError:
            return None

    if all(number(v) is not None for v in distinct):
        return sorted(distinct, key=lambda v: number(v))
    return sorted(distinct)


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten within [low, high] (log10 values); with fewer than two, 1-2-5 steps of the decades."""
    first, last = math.ceil(low - 1e-9), math.floor(high + 1e-9)
    ticks = [float(p) for p in range(first, last + 1)]
    if len(ticks) >= 2:
        return ticks
    fine = [math.log10(m) + p for p in range(first - 1, last + 1) for m in (1, 2, 5)]
    return [t for t in fine if low - 1e-9 <= t <= high + 1e-9] or [low]


def power_label(exponent: float) -> str:
    """A log10 value as the number it stands for, short: 1e-05, 0.002, 50, 1e+06."""
    return f"{10**exponent:.3g}"
