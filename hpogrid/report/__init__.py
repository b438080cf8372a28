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


def check_outname(outname: Path) -> None:
    """The files' folder exists and is a folder this user can write in: else one line, before any work."""
    import os

    from hpogrid.errors import HpogridError

    folder = outname.parent
    if not folder.exists():
        raise HpogridError(f"--outname: folder {folder} does not exist; create it first, or give another -o")
    if not folder.is_dir():
        raise HpogridError(f"--outname: {folder} is a file, not a folder; give -o a path in a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise HpogridError(f"--outname: cannot write in {folder} (permission denied); give -o a path elsewhere")


def write(table, analysis: dict, outputs: Outputs) -> list[str]:
    """Write the asked-for exports; returns what was done, one line each ('Wrote PATH', the MLflow line).

    All or nothing: every file is rendered in memory first, then MLflow is exported, then the files
    are put in place together; a failure on the way leaves no file written or replaced."""
    from hpogrid.errors import require

    if {"html", "pcp"} & set(outputs.formats):  # every library first: a missing one writes no file at all
        require("plotly", "report", "--to_html and --to_pcp")
    if "mlflow" in outputs.formats:
        require("mlflow", "report", "--to_mlflow")
    files = render(table, analysis, outputs)
    done = [export_mlflow(table, outputs)] if "mlflow" in outputs.formats else []
    commit(files)
    return [f"Wrote {path}" for path in files] + done


def export_mlflow(table, outputs: Outputs) -> str:
    """Export the table to MLflow; returns where the runs went and how to look at them, in one line."""
    from hpogrid.report.mlflow_export import export

    return export(table, outputs.mlflow_uri, outputs.experiment).line()


def render(table, analysis: dict, outputs: Outputs) -> dict[Path, str]:
    """{path: text} of the asked-for files, in the order of FORMATS; nothing is written."""
    from hpogrid.fileio import dump_json
    from hpogrid.report import html
    from hpogrid.results import jsonable

    renderers = {
        "csv": (".csv", lambda: table.frame.to_csv(index=False)),
        "json": (".json", lambda: dump_json(rows_of(table), indent=1)),
        "summary": ("_summary.json", lambda: dump_json(jsonable(analysis))),
        "html": (".html", lambda: html.report_page(table, analysis, outputs.title)),
        "pcp": ("_pcp.html", lambda: html.pcp_page(table, outputs.title + ": parallel coordinates")),
    }
    base = outputs.outname
    return {
        base.with_name(base.name + suffix): make()
        for name, (suffix, make) in renderers.items()
        if name in outputs.formats
    }


def rows_of(table) -> list[dict]:
    """The table's rows as JSON objects (missing and non-finite values as null), best first."""
    from hpogrid.results import jsonable

    frame = table.frame
    return jsonable(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


def commit(files: dict[Path, str]) -> None:
    """Put every file in place or none: each is written (synced) beside its target first, then all are
    renamed over their targets; a failure before the renames removes what was written."""
    import os
    import shutil

    from hpogrid.errors import HpogridError
    from hpogrid.fileio import write_atomic

    for path in files:  # a rename fails over a folder: none is made then, not the files before it
        if path.exists() and not path.is_file():
            raise HpogridError(f"cannot write {path}: it is a folder, not a file; give -o another name")
    pending: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            staged = path.with_name(f".{path.name}.{os.getpid()}.pending")
            write_atomic(staged, text)
            pending[path] = staged
            if path.exists():
                shutil.copymode(path, staged)  # a replaced file keeps its mode
        for path, staged in pending.items():
            os.replace(staged, path)
    except BaseException as exc:
        for staged in pending.values():
            staged.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a folder that went away or became read-only meanwhile
            raise HpogridError(f"cannot write {exc.filename or 'the report'}: {exc.strerror or exc}") from None
        raise
