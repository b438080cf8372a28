"""`hpogrid report PROJECT --runs`: the project's runs and grid tasks side by side, best first: what each
ran with (its overrides, or its algorithm and scheduler), its trials and its best value and configuration."""

from __future__ import annotations

import json
from pathlib import Path

from hpogrid.report.collect import Trials, flat_config
from hpogrid.report.table import label_of
from hpogrid.results import finite


def group_of(source: dict) -> str:
    """The run or task a trial belongs to, as the table's source column names it (without the job)."""
    kind = source.get("kind", "local")
    if kind in ("local", "emulated"):
        return f"{kind} {source.get('run') or ''}".strip()
    return label_of(source).split(" job ")[0]  # a grid or iDDS task, or what hpogrid 1.x wrote


def compare(trials: Trials, runs_folder: Path | None) -> tuple[list[str], list[list]]:
    """(headers, rows): one row per run or task, the best first."""
    from hpogrid.results import read_summary

    groups: dict[str, list] = {}
    for record in trials.records:
        groups.setdefault(group_of(record.source or {}), []).append(record)
    sign = 1 if trials.mode == "min" else -1
    rows = []
    for name, records in groups.items():
        summary = {}
        if name.startswith("local ") and runs_folder is not None:
            try:
                summary = read_summary(runs_folder / name.split(" ", 1)[1]) or {}
            except ValueError:
                summary = {}
        scored = [r for r in records if finite(r.value) is not None]
        best = min(scored, key=lambda r: sign * r.value) if scored else None
        settings = " ".join(summary.get("overrides") or []) or (
            f"{summary['algorithm']}, {summary['scheduler']}" if summary.get("algorithm") else "-"
        )
        config = json.dumps(flat_config(best.config, trials.hyperparameters), sort_keys=True) if best else "-"
        rows.append([name, summary.get("status", "-"), settings, len(records), best.value if best else None, config])
    rows.sort(key=lambda row: (row[4] is None, sign * (row[4] or 0.0)))
    return ["RUN", "STATUS", "SETTINGS", "TRIALS", f"BEST {trials.metric.upper()}", "BEST CONFIG"], rows
