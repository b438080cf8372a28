"""`hpogrid report`: every trial of a project in one table, its analysis, and the exports.

collect (where trials come from) -> table (rows, best first) -> analysis (numbers) -> exports
(CSV, JSON, summary JSON, HTML pages, MLflow). Heavy libraries (pandas, plotly, mlflow) are imported
inside the functions that use them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpogrid.report.collect import GridQuery, Trials

SOURCES = ("local", "grid")
FORMATS = ("csv", "json", "summary", "html", "pcp", "mlflow")


def collect_project(project, query: GridQuery, sources: tuple[str, ...] = SOURCES, gateway=None) -> Trials:
    """The trials of a project: its local runs and its grid and iDDS tasks."""
    from hpogrid.report import collect
    from hpogrid.space.model import SearchSpace

    hpo = project.hpo_config
    space = SearchSpace.parse(project.search_space)
    trials = Trials(
        metric=hpo["metric"],
        mode=hpo["mode"],
        hyperparameters=[d.name for d in space.searched],
        extra_metrics=list(hpo.get("extra_metrics") or []),
        project=project.name,
    )
    if "local" in sources:
        collect.local(project, trials)
    if "grid" in sources:
        collect.grid(project, trials, query, gateway)
    return trials


@dataclass
class Outputs:
    outname: Path
    formats: tuple[str, ...]
    title: str
    mlflow_uri: str | None = None
    experiment: str = "hpogrid"


def write(table, analysis: dict, outputs: Outputs) -> list[str]:
    """Write the asked-for exports (each atomically); returns what was written, one line each."""
    import json

    from hpogrid.errors import require
    from hpogrid.fileio import write_atomic
    from hpogrid.report import html
    from hpogrid.results import jsonable

    if {"html", "pcp"} & set(outputs.formats):  # every library first: a missing one writes no file at all
        require("plotly", "report", "--to_html and --to_pcp")
    if "mlflow" in outputs.formats:
        require("mlflow", "report", "--to_mlflow")
    base = outputs.outname
    done = []

    def put(suffix: str, text: str) -> None:
        path = base.with_name(base.name + suffix)
        write_atomic(path, text)
        done.append(str(path))

    if "csv" in outputs.formats:
        put(".csv", table.frame.to_csv(index=False))
    if "json" in outputs.formats:
        rows = jsonable(table.frame.astype(object).where(table.frame.notna(), None).to_dict(orient="records"))
        put(".json", json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    if "summary" in outputs.formats:
        put("_summary.json", json.dumps(jsonable(analysis), indent=2, ensure_ascii=False) + "\n")
    if "html" in outputs.formats:
        put(".html", html.report_page(table, analysis, outputs.title))
    if "pcp" in outputs.formats:
        put("_pcp.html", html.pcp_page(table, outputs.title + ": parallel coordinates"))
    if "mlflow" in outputs.formats:
        from hpogrid.report.mlflow_export import export

        counts = export(table, outputs.mlflow_uri, outputs.experiment)
        done.append(
            f"MLflow {outputs.mlflow_uri} (experiment '{outputs.experiment}'): "
            f"{counts['created']} runs added, {counts['skipped']} already there"
        )
    return done
