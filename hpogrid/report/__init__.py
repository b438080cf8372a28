"""`hpogrid report`: every trial of a project in one table, its analysis, and the exports.

collect (where trials come from) -> table (rows, best first) -> analysis (numbers) -> exports
(CSV, JSON, summary JSON, HTML pages, MLflow). Heavy libraries (pandas, plotly, mlflow) are imported
inside the functions that use them.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

from hpogrid.report.collect import GridQuery, Trials


class _CallablePackage(types.ModuleType):
    """`hpogrid.report` is also the function trials call, ``hpogrid.report(loss=0.1)``; importing this
    package makes the package that attribute of hpogrid (Python sets it), so the package calls the function.
    (cloudpickle imports it in the trials' processes for a notebook objective that calls hpogrid.report.)"""

    def __call__(self, metrics: dict | None = None, /, *, checkpoint=None, **more) -> None:
        from hpogrid.local.trainable import report

        report(metrics, checkpoint=checkpoint, **more)

    def __reduce__(self):  # pickled as what it is, an importable module (pickle knows ModuleType, not this)
        import importlib

        return importlib.import_module, (self.__name__,)


sys.modules[__name__].__class__ = _CallablePackage
SOURCES = ("local", "grid")
FORMATS = ("csv", "json", "summary", "html", "pcp", "mlflow")
# the plots of the HTML report, each also alone with `--plot NAME` (hpogrid/report/html.py draws them)
PLOT_NAMES = {
    "history": "optimization history: each trial's metric, best so far",
    "learning-curves": "each trial's metric at every iteration",
    "slice": "the metric against each parameter",
    "contour": "the metric over the two most important parameters",
    "importance": "parameter importance (eta^2)",
    "parallel-coordinates": "every parameter and the metric, a line per trial",
    "timeline": "trials on the wall clock per worker or grid job",
    "edf": "distribution of the metric per run or grid task (EDF)",
}


def collect_project(project, query: GridQuery, sources: tuple[str, ...] = SOURCES, gateway=None) -> Trials:
    """The trials of a project: its local runs and its grid and iDDS tasks."""
    from hpogrid.report import collect

    trials = project_trials(project)
    if "local" in sources:
        collect.local(project, trials)
    if "grid" in sources:
        collect.grid(project, trials, query, gateway)
    return trials


def project_trials(project) -> Trials:
    """An empty Trials of the project's metric, mode and hyperparameters."""
    from hpogrid.space.model import SearchSpace

    hpo = project.hpo_config
    space = SearchSpace.parse(project.search_space)
    return Trials(
        metric=hpo["metric"],
        mode=hpo["mode"],
        hyperparameters=[d.name for d in space.searched],
        extra_metrics=list(hpo.get("extra_metrics") or []),
        project=project.name,
        methods={d.name: d.method for d in space.searched},
    )


@dataclass
class Outputs:
    outname: Path
    formats: tuple[str, ...]
    title: str
    mlflow_uri: str | None = None
    experiment: str = "hpogrid"
    plots: tuple[str, ...] = ()  # --plot NAME: each on its own page
    top: int | None = None  # --top: the rows of the table and its exports; the plots and analysis show all


def check_plots(names: tuple[str, ...]) -> tuple[str, ...]:
    """The --plot names, each known: else one line with the closest name and the list."""
    from hpogrid.errors import HpogridError, did_you_mean

    for name in names:
        if name not in PLOT_NAMES:
            raise HpogridError(
                f"--plot: no plot named '{name}'{did_you_mean(name, PLOT_NAMES)}; plots: {', '.join(PLOT_NAMES)}"
            )
    return tuple(dict.fromkeys(names))


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

    if {"html", "pcp"} & set(outputs.formats) or outputs.plots:  # every library first: none missing, no file
        require("plotly", "report", "--to_html, --to_pcp and --plot")
    if "mlflow" in outputs.formats:
        require("mlflow", "report", "--to_mlflow")
    files = render(table, analysis, outputs)
    done = [export_mlflow(table.head(outputs.top), outputs)] if "mlflow" in outputs.formats else []
    commit(files)
    return [f"Wrote {path}" for path in files] + done


def export_mlflow(table, outputs: Outputs) -> str:
    """Export the table to MLflow; returns where the runs went and how to look at them, in one line."""
    from hpogrid.report.mlflow_export import export

    return export(table, outputs.mlflow_uri, outputs.experiment).line()


def render(table, analysis: dict, outputs: Outputs) -> dict[Path, str]:
    """{path: text} of the asked-for files, in the order of FORMATS, then the --plot pages; nothing is
    written. One page alone (a --plot or --to_html) with an OUTNAME ending in .html is written there."""
    from hpogrid.fileio import dump_json
    from hpogrid.report import html
    from hpogrid.results import jsonable

    shown = table.head(outputs.top)
    renderers = {
        "csv": (".csv", lambda: shown.frame.to_csv(index=False)),
        "json": (".json", lambda: dump_json(rows_of(shown), indent=1)),
        "summary": ("_summary.json", lambda: dump_json(jsonable(analysis))),
        "html": (".html", lambda: html.report_page(table, analysis, outputs.title, outputs.top)),
        "pcp": ("_pcp.html", lambda: html.pcp_page(table, outputs.title + ": parallel coordinates")),
    }
    wanted = [(suffix, make) for name, (suffix, make) in renderers.items() if name in outputs.formats]
    for name in outputs.plots:
        heading = html.PLOTS[name][1]
        wanted.append(
            (f"_{name}.html", lambda n=name, h=heading: html.plot_page(table, analysis, n, f"{outputs.title}: {h}"))
        )
    base = outputs.outname
    if len(wanted) == 1 and base.suffix == ".html" and wanted[0][0].endswith(".html"):
        return {base: wanted[0][1]()}
    return {base.with_name(base.name + suffix): make() for suffix, make in wanted}


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
