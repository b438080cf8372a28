"""Warm start (`--warm_start`): the trials a project ran before, as points a new search learns from.

They are gathered as `hpogrid report` gathers them (local runs, `run --emulate` tasks, grid and iDDS
tasks; or only the runs and tasks named). A trial is used when it finished (completed, or stopped early
by a scheduler) with a finite value of today's metric and its config lies in today's search space, fixed
values included; every other one is counted under why it was left out. A config run more than once is
one point, with its mean value. The searcher is told the points before it asks its first
(hpogrid.local.algorithms.replay); grid jobs find them in their sandbox (WARM_FILE), the iDDS steering
in its arguments.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from hpogrid.errors import HpogridError, ValidationError
from hpogrid.space.model import SearchSpace

WARM_FILE = "warm_start.json"  # in the sandbox's project folder
FORMAT = "hpogrid-warm-start/1"
USED = ("terminated", "early_stopped")
# why an earlier trial was left out, as the summary line says it
REASONS = {
    "failed": "failed",
    "no_value": "without a value of the metric",
    "other_metric": "of another metric",
    "outside_space": "outside today's search space",
    "repeated": "repeating a config (one point each, mean value)",
}


class Evaluated(NamedTuple):
    """A point run before, for a searcher to learn from: the trial config, its metric value (None: still
    running), and the training iterations it reached (BOHB's budget)."""

    config: dict
    value: float | None
    iterations: int = 1


@dataclass
class WarmStart:
    """The earlier trials a search starts from, and what was left out of them (reason -> count)."""

    metric: str
    mode: str
    points: list[Evaluated] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)
    origins: set[str] = field(default_factory=set)  # the runs and tasks the points come from
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: what the search starts from."""
        where = f"{len(self.origins)} run{'s' * (len(self.origins) != 1)}/task{'s' * (len(self.origins) != 1)}"
        line = f"Warm start: {len(self.points)} earlier point{'s' * (len(self.points) != 1)} from {where}"
        out = [f"{n} {REASONS[k]}" for k, n in sorted(self.left_out.items()) if n]
        return line + (f" (left out: {'; '.join(out)})" if out else "")

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "metric": self.metric,
            "mode": self.mode,
            "points": [{"config": p.config, "value": p.value, "iterations": p.iterations} for p in self.points],
        }

    def losses(self) -> list[list]:
        """The points as the iDDS steering's history holds them: [config, loss] (the metric, negated for max)."""
        sign = 1.0 if self.mode == "min" else -1.0
        return [[p.config, sign * p.value] for p in self.points]


def algorithm_problem(algorithm: str) -> str | None:
    """Why an algorithm cannot start warm, or None."""
    from hpogrid.catalog import VARIANT_GENERATOR

    if algorithm not in VARIANT_GENERATOR:
        return None
    return (
        f"hpo_config.algorithm {algorithm} draws its points without looking at results, so earlier trials "
        "cannot inform it; warm start a model-based algorithm (hyperopt, optuna, skopt, bayesian, nevergrad, "
        "bohb, ax)"
    )


def _origin(source: dict) -> str:
    """The run folder (local, emulated) or the task ID (grid, iDDS) a trial came from."""
    task = source.get("task")
    return str(task) if task is not None else str(source.get("run"))


def gather(project, named: Sequence[str] = (), gateway=None) -> WarmStart:
    """The project's earlier trials usable in today's search (named: only these runs and task IDs)."""
    from hpogrid.report import collect_project
    from hpogrid.report.collect import GridQuery

    hpo = project.hpo_config
    space = SearchSpace.parse(project.search_space)
    wanted = {str(n).strip() for n in named if str(n).strip()}
    trials = collect_project(project, GridQuery(days=None), gateway=gateway)
    records = [r for r in trials.records if not wanted or _origin(r.source or {}) in wanted]
    missing = sorted(wanted - {_origin(r.source or {}) for r in records})
    if missing:
        known = sorted({_origin(r.source or {}) for r in trials.records})
        raise HpogridError(
            f"--warm_start_from: project '{project.name}' has no trials from {', '.join(missing)}; name its runs "
            f"(folders in runs/) or task IDs: {', '.join(known) if known else 'it has none yet'}"
        )
    warm = WarmStart(hpo["metric"], hpo["mode"], warnings=list(trials.warnings))
    same: dict[str, list] = defaultdict(list)  # config -> (config, values, iterations)
    for record in records:
        reason = _problem(record, space, hpo["metric"])
        if reason:
            warm.left_out[reason] += 1
            continue
        flat = space.check_point(record.config)
        key = json.dumps(flat, sort_keys=True)
        if key in same:
            warm.left_out["repeated"] += 1
        else:
            same[key] = [space.nest(flat), [], 1]
        same[key][1].append(float(record.value))
        same[key][2] = max(same[key][2], int(record.iterations or 1))
        warm.origins.add(_origin(record.source or {}))
    warm.points = [Evaluated(config, sum(values) / len(values), it) for config, values, it in same.values()]
    return warm


def _problem(record, space: SearchSpace, metric: str) -> str | None:
    """Why a trial record cannot be a warm-start point, as a REASONS key; None if it can."""
    if record.status not in USED:
        return "failed"
    if record.metric != metric:
        return "other_metric"
    value = record.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "no_value"
    try:
        space.check_point(record.config or {})
    except ValidationError:
        return "outside_space"
    return None


def read(path: Path, space: SearchSpace, metric: str) -> list[Evaluated]:
    """The points of a warm-start file (a job's sandbox), each checked against the space."""
    where = f"{path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HpogridError(f"{where}: cannot read the warm-start points ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("points"), list):
        raise HpogridError(f"{where}: not a warm-start file of this hpogrid ({FORMAT})")
    if data.get("metric") != metric:
        raise HpogridError(f"{where}: its points hold {data.get('metric')!r}, the project optimizes {metric!r}")
    points = []
    for number, item in enumerate(data["points"], 1):
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise HpogridError(f"{where}: point {number} has no finite value")
        flat = space.check_point(item.get("config"), f"{where}: point {number}")
        points.append(Evaluated(space.nest(flat), float(value), int(item.get("iterations") or 1)))
    return points
