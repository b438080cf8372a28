"""The numbers of a report: best trial, top k, parameter importance, correlations, counts.

Computed once from the table; the text of `--analyze`, the summary file and the HTML plots all
render this same data.

Parameter importance is the correlation ratio eta^2 of the metric on each hyperparameter: the
share of the metric's variance explained by that parameter alone (between-group sum of squares over
total sum of squares), grouping by value for categorical parameters and by quantile bins for numeric
ones (deciles, or fewer bins with at least 5 trials each when there are under 50 trials).
It is a first-order (main-effect) measure, exact for independently sampled parameters; interactions
are not credited to any parameter. ``share`` rescales the values to sum to 1.

Correlations are Spearman rank correlations of each numeric hyperparameter with the metric.
"""

from __future__ import annotations

import math

from hpogrid.report.table import Table

BINS = 10
MIN_PER_BIN = 5  # fewer bins for few trials: one trial per bin would explain everything


def analyze(table: Table, k: int = 5) -> dict:
    frame = table.scored()
    metric = table.metric
    best = None
    if len(frame):
        record = table.records[frame.index[0]]  # the index is the record position
        best = {
            "trial_id": record.trial_id,
            "config": record.config,
            "value": float(frame[metric].iloc[0]),
            "source": frame["source"].iloc[0],
        }
    importance = {name: _eta_squared(frame[name], frame[metric]) for name in table.params}
    total = sum(v for v in importance.values() if v is not None)
    ranked = sorted(importance.items(), key=lambda item: -(item[1] or 0.0))
    return {
        "metric": metric,
        "mode": table.mode,
        "trials": len(table.frame),
        "scored": len(frame),
        "counts": {str(k): int(v) for k, v in table.frame["status"].value_counts().items()},
        "sources": {str(k): int(v) for k, v in table.frame["source"].str.split(" ").str[0].value_counts().items()},
        "best": best,
        "top": _jsonable_rows(frame.head(k)[[*table.params, metric]]),
        "importance": [
            {"parameter": name, "eta2": value, "share": (value / total if value is not None and total else None)}
            for name, value in ranked
        ],
        "correlations": {name: _spearman(frame[name], frame[metric]) for name in table.params},
    }


def _eta_squared(values, target) -> float | None:
    """Share of target's variance explained by the groups of values (None if undefined)."""
    import pandas as pd

    mask = values.notna() & target.notna()
    values, target = values[mask], target[mask].astype(float)
    if len(target) < 3 or float(target.var(ddof=0)) == 0.0:
        return None
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    bins = min(BINS, max(2, len(target) // MIN_PER_BIN))
    if numeric and values.nunique() > bins:
        groups = pd.qcut(values.rank(method="first"), bins, labels=False)
    else:
        groups = values.astype(str)
    if groups.nunique() < 2:
        return None
    mean = target.mean()
    between = target.groupby(groups).agg(["count", "mean"])
    ss_between = float((between["count"] * (between["mean"] - mean) ** 2).sum())
    ss_total = float(((target - mean) ** 2).sum())
    return round(ss_between / ss_total, 6)


def _spearman(values, target) -> float | None:
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return None
    mask = values.notna() & target.notna()
    if mask.sum() < 3:
        return None
    a, b = values[mask].rank(), target[mask].astype(float).rank()
    if a.std() == 0 or b.std() == 0:
        return None
    value = float(a.corr(b))
    return None if math.isnan(value) else round(value, 6)


def _jsonable_rows(frame) -> list[dict]:
    from hpogrid.results import jsonable

    return [jsonable(row) for row in frame.to_dict(orient="records")]
