"""`hpogrid report`: the results of a project (or of a results file) as a table, analysis and exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hpogrid.cli.complete import project_names
from hpogrid.cli.legacy import short_options
from hpogrid.cli.options import task_filters
from hpogrid.cli.output import say
from hpogrid.fileio import kind_of
from hpogrid.report import PLOT_NAMES, check_plots
from hpogrid.report.table import EXTRA_COLUMNS

SHOWN_ROWS = 30


@short_options(limit="-l", days="-d", taskname="-n", id_range="-r")
@click.command(
    "report",
    help="Every trial of a project, best first: local runs, grid and iDDS tasks (or one results file).\n\n"
    "\b\nExamples:\n  hpogrid report mnist --to_html --to_csv\n"
    "  hpogrid report mnist --extra site,taskid,time_s --top 10 --analyze\n"
    "  hpogrid report mnist --runs        # runs and tasks side by side (e.g. of local_run --multirun)\n"
    "  hpogrid report mnist --days 7 --taskname 'user.*.hpogrid.mnist.2026*' --to_mlflow\n"
    "  hpogrid report projects/mnist/runs/20261125-101500-123/summary.json --to_json\n"
    "  hpogrid report mnist --add old_run/       # beside an hpogrid 1.x run (userJobMetadata.json, cache/)\n\n"
    "\b\nPlots (--to_html has them all; --plot NAME writes one alone):\n  "
    + "\n  ".join(f"{k:<21}{v}" for k, v in PLOT_NAMES.items()),
)
@click.argument("target", shell_complete=project_names(files=True))
@task_filters("grid tasks of the project")
@click.option(
    "--source",
    "sources",
    type=click.Choice(["all", "local", "grid"]),
    default="all",
    show_default=True,
    help="Which trials: local runs, grid/iDDS tasks, or both.",
)
@click.option(
    "--add",
    "added",
    metavar="PATH",
    multiple=True,
    help="Also the trials of this results file or folder (of hpogrid 1.x too: userJobMetadata.json, a run "
    "folder, its cache/); repeatable.",
)
@click.option("-e", "--extra", metavar="COLS", help=f"Extra columns, comma-separated: {', '.join(EXTRA_COLUMNS)}.")
@click.option("--min", "low", type=float, help="Only trials whose metric is at least this.")
@click.option("--max", "high", type=float, help="Only trials whose metric is at most this.")
@click.option("--top", type=click.IntRange(min=1), help="Only the best K trials in the table and exports.")
@click.option("--mode", type=click.Choice(["min", "max"]), help="Sort direction, for files that do not say.")
@click.option("--analyze", is_flag=True, help="Print the analysis of every trial (whatever --top): best, importance.")
@click.option(
    "-o",
    "--outname",
    default="hpo_result",
    show_default=True,
    help="Base name of the files written; '-' writes the one format asked for to stdout.",
)
@click.option("--to_csv", "--to-csv", "to_csv", is_flag=True, help="Write OUTNAME.csv.")
@click.option("--to_json", "--to-json", "to_json", is_flag=True, help="Write OUTNAME.json (one record per trial).")
@click.option("--summary", is_flag=True, help="Write OUTNAME_summary.json (the analysis).")
@click.option("--to_html", "--to-html", "to_html", is_flag=True, help="Write OUTNAME.html: table and plots, offline.")
@click.option("--to_pcp", "--to-pcp", "to_pcp", is_flag=True, help="Write OUTNAME_pcp.html: parallel coordinates.")
@click.option(
    "--plot",
    "plot_names",
    metavar="NAME",
    multiple=True,
    help="Write one plot alone as OUTNAME_NAME.html (OUTNAME.html if it is the one file); repeatable. "
    "NAME: one of the plots listed above.",
)
@click.option("--to_mlflow", "--to-mlflow", "to_mlflow", is_flag=True, help="Export to MLflow (again: no duplicates).")
@click.option(
    "--mlflow-uri",
    help="Where --to_mlflow writes: sqlite:///PATH, a folder (file:///PATH or a path) or http://HOST:PORT "
    "(default: sqlite mlflow.db in the project folder).",
)
@click.option(
    "--runs",
    "by_run",
    is_flag=True,
    help="Print the runs and grid tasks side by side instead of the trials: settings (overrides), best value.",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not print the table.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the table as JSON (every row, one object each) instead of text."
)
def report(
    target, limit, days, taskname, id_range, jeditaskid, sources, added, extra, low, high, top, mode, analyze, outname,
    to_csv, to_json, summary, to_html, to_pcp, plot_names, to_mlflow, mlflow_uri, by_run, quiet, as_json,
):  # fmt: skip
    from hpogrid.cli.output import echo_table
    from hpogrid.errors import HpogridError
    from hpogrid.grid.monitor import parse_range
    from hpogrid.project import ProjectStore
    from hpogrid.report import SOURCES, Outputs, check_outname, collect_project, export_mlflow, render, write
    from hpogrid.report.analysis import analyze as analyze_table
    from hpogrid.report.collect import GridQuery, add_file, read_file
    from hpogrid.report.table import build, check_extra

    columns = check_extra([c.strip() for c in extra.split(",") if c.strip()]) if extra else []
    plot_names = check_plots(plot_names)
    if low is not None and high is not None and low > high:
        raise HpogridError(f"--min {low} is above --max {high}: nothing could be shown")
    query = GridQuery(limit, days, taskname, parse_range(id_range) if id_range else None, jeditaskid)
    if ProjectStore().holds(target):
        store = ProjectStore()
        project = store.load(target)
        trials = collect_project(project, query, SOURCES if sources == "all" else (sources,))
        if mode:
            trials.mode = mode
        folder, title = project.path, f"hpogrid report: {project.name}"
    elif kind_of(Path(target)):
        trials = read_file(Path(target), mode)
        folder, title = Path.cwd(), f"hpogrid report: {trials.project or Path(target).name}"
    else:
        _not_found(ProjectStore(), target)
    for path in added:
        add_file(trials, Path(path))
    for warning in trials.warnings:
        say("Warning", warning)
    table = build(trials, columns, low, high)  # every trial within the bounds: the analysis and plots
    formats = tuple(
        name
        for name, wanted in (
            ("csv", to_csv), ("json", to_json), ("summary", summary), ("html", to_html), ("pcp", to_pcp),
            ("mlflow", to_mlflow),
        )
        if wanted
    )  # fmt: skip
    to_stdout = outname == "-"
    if as_json and (to_stdout or analyze):
        raise click.UsageError("--json prints the table alone: not with -o - or --analyze (--summary: the analysis)")
    if to_stdout:
        files = [f for f in formats if f != "mlflow"] + list(plot_names)
        if len(files) != 1:
            raise click.UsageError(
                "-o -: give exactly one of --to_csv, --to_json, --summary, --to_html, --to_pcp, --plot "
                "to write to stdout"
            )
        quiet, analyze = True, False  # stdout holds the file alone
    else:
        check_outname(Path(outname))
    needs_analysis = analyze or summary or to_html or plot_names
    analysis = analyze_table(table) if needs_analysis else None
    json_text = None
    if as_json:
        from hpogrid.fileio import dump_json
        from hpogrid.report import rows_of

        json_text = dump_json(rows_of(table.head(top)), indent=1)  # printed once every export is done
    elif by_run:
        from hpogrid.report.runs import compare

        runs_folder = None
        if ProjectStore().holds(target):
            from hpogrid.local.runner import runs_dir

            runs_folder = runs_dir(ProjectStore().load(target))
        headers, rows = compare(trials, runs_folder)
        echo_table(headers, [[_short(v) for v in row] for row in rows], "No trials found.", width=60)
    elif not quiet:
        listed = table.head(top).frame
        shown = listed.head(SHOWN_ROWS)
        rows = [[_short(v) for v in row] for row in shown.itertuples(index=False, name=None)]
        echo_table(list(shown.columns), rows, "No trials found.", width=40)
        if len(listed) > SHOWN_ROWS:
            click.echo(f"... {len(listed) - SHOWN_ROWS} more trials (all of them go to the exports; --top K)")
    if analyze:
        click.echo("\n" + describe(analysis))
    if formats or plot_names:
        outputs = Outputs(
            Path(outname),
            formats,
            title,
            mlflow_uri or _default_uri(folder),
            experiment=trials.project or "hpogrid",
            plots=plot_names,
            top=top,
        )
        if to_stdout:
            (text,) = render(table, analysis or {}, outputs).values()
            if "mlflow" in formats:
                click.echo(export_mlflow(table.head(top), outputs), err=True)
            click.echo(text, nl=False)
            return 0
        for line in write(table, analysis or {}, outputs):
            click.echo(line, err=as_json)  # with --json, stdout holds the JSON alone
    if json_text is not None:
        click.echo(json_text, nl=False)
    return 0


def _default_uri(folder: Path) -> str:
    from hpogrid.report.mlflow_export import default_uri

    return default_uri(folder)


def _not_found(store, target: str):
    """A target that is neither a project nor a results file: the project it was meant to be, if one is close."""
    from hpogrid.errors import HpogridError, did_you_mean

    close = did_you_mean(target, store.names()) if "/" not in target else ""
    if close:
        raise HpogridError(f"no project named '{target}'{close}; see `hpogrid project list`")
    raise HpogridError(f"no project or results file named '{target}'; see `hpogrid project list`")


def _short(value):
    """Floats with 6 significant digits, missing values as '-'."""
    if isinstance(value, float):
        return None if value != value else float(f"{value:.6g}")
    return value


def describe(analysis: dict) -> str:
    """The analysis as text (what `--analyze` prints)."""
    from hpogrid.cli.output import best_config_lines
    from hpogrid.cli.output import table as text_table

    lines = [f"{analysis['trials']} trials ({_counts(analysis['counts'])}; {_counts(analysis['sources'])})"]
    best = analysis["best"]
    if best:
        lines += best_config_lines(
            f"{analysis['metric']} ({analysis['mode']})", best["value"], best["source"], best["config"]
        )
    else:
        lines.append(f"No trial has a value of {analysis['metric']}.")
    if analysis["top"]:
        names = list(analysis["top"][0])
        lines += [
            "",
            f"Top {len(analysis['top'])}",
            text_table(names, [[_short(r[n]) for n in names] for r in analysis["top"]]),
        ]
    rows = [
        [item["parameter"], _fmt(item["eta2"]), _fmt(item["share"]), _fmt(analysis["correlations"][item["parameter"]])]
        for item in analysis["importance"]
    ]
    if rows:
        lines += ["", "Parameter importance (eta^2: variance explained alone; spearman: rank correlation)"]
        lines.append(text_table(["PARAMETER", "ETA2", "SHARE", "SPEARMAN"], rows))
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "none"


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"
