"""`hpogrid local_run PROJECT`: run a project's HPO on this machine (or a Ray cluster)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import click

from hpogrid.cli.complete import project_names
from hpogrid.cli.options import warm_start_options
from hpogrid.cli.output import best_config_lines

TOP = 5  # rows of the final table


@click.command(
    "local_run",
    help="Run a project's hyperparameter search with Ray Tune on this machine.\n\n"
    "Results go to the project's runs/<run id>/: trials.jsonl (one record per finished trial) and "
    "summary.json; what each trial printed in trials/<trial id>.log, what Ray said in ray.log. "
    "Ctrl-C stops the run; --resume continues it, also after a crash.\n\n"
    "\b\nExamples:\n  hpogrid local_run simple_objective\n  hpogrid local_run mnist_cnn --resume\n"
    "  hpogrid local_run mnist_cnn --warm_start   # learn from the trials run before\n"
    "  hpogrid local_run mnist_cnn --address 10.0.0.5:6379   # on a running Ray cluster\n"
    "  hpogrid local_run mnist_cnn hpo_config.num_trials=10 model_config.param.epochs=5   # this run only\n"
    "  hpogrid local_run mnist_cnn --multirun hpo_config.algorithm=random,optuna   # one run each",
)
@click.argument("project", shell_complete=project_names())
@click.argument("overrides", nargs=-1, metavar="[KIND.KEY=VALUE]...")
@click.option(
    "--multirun",
    is_flag=True,
    help="Comma-separated override values make one run per combination (hpogrid report --runs compares them).",
)
@click.option("--resume", is_flag=True, help="Continue the project's last interrupted run.")
@click.option(
    "--address",
    metavar="HOST:PORT",
    help="Attach to a running Ray cluster (also $HPOGRID_RAY_ADDRESS) instead of starting Ray here.",
)
@click.option(
    "--search_points",
    "--search-points",
    "search_points",
    metavar="FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON list of configurations to evaluate first.",
)
@warm_start_options
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True, help="Retries of a failing trial.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
@click.option(
    "-v", "--verbose", is_flag=True, help="Show what the trials print (always in runs/<run id>/trials/<trial>.log)."
)
def local_run(
    project: str, overrides: tuple[str, ...], multirun: bool, resume: bool, address: str | None,
    search_points: Path | None, warm_start: bool, warm_start_from: str | None, retries: int, quiet: bool,
    verbose: bool,
):  # fmt: skip
    from hpogrid import overrides as override
    from hpogrid.project import ProjectStore

    stored = ProjectStore().load(project)
    if resume and overrides:
        raise click.UsageError("--resume runs with the overrides of the run it continues; give none")
    if resume and search_points:
        raise click.UsageError("--search_points cannot be combined with --resume")
    if resume and (warm_start or warm_start_from):
        raise click.UsageError("--warm_start cannot be combined with --resume (the resumed search keeps its own)")
    if resume:
        projects = [override.for_resume(stored)]
    else:  # every combination checked before the first run starts
        projects = [override.apply(stored, combo) for combo in override.combinations(list(overrides), multirun)]
    for number, loaded in enumerate(projects, 1):
        if len(projects) > 1:
            click.echo(f"\nRun {number} of {len(projects)}: {' '.join(loaded.data['overrides'])}")
        code = _run_one(loaded, resume, address, search_points, warm_start, warm_start_from, retries, quiet, verbose)
        if code:
            return code
    return 0


def _run_one(
    loaded, resume: bool, address: str | None, search_points: Path | None, warm_start: bool,
    warm_start_from: str | None, retries: int, quiet: bool, verbose: bool,
) -> int:  # fmt: skip
    from hpogrid.cli.options import warm_points
    from hpogrid.local.runner import RunOptions, load_points, run
    from hpogrid.space.model import SearchSpace

    project = loaded.name
    points = load_points(search_points, SearchSpace.parse(loaded.search_space)) if search_points else []
    warm = warm_points(loaded, warm_start, warm_start_from)
    options = RunOptions(
        resume=resume, address=address, search_points=points, quiet=quiet, verbose=verbose, retries=retries,
        warm_start=warm.points if warm else [],
    )  # fmt: skip
    result = run(loaded, options)
    summary = result.summary
    if summary["status"] == "failed":  # the trials report something else than the config's metric
        from hpogrid.errors import HpogridError

        raise HpogridError(f"local_run: {summary['error']}")
    counts = summary["counts"]
    ended = f"Run {summary['run_id']} {summary['status']}: {sum(counts.values())} of {summary['num_trials']} trials"
    how = f"{counts['terminated']} completed, {counts['early_stopped']} stopped early, {counts['error']} failed"
    fits = len(ended) + len(how) + 3 < shutil.get_terminal_size((100, 24)).columns
    click.echo(f"{ended} ({how})" if fits else f"{ended}:\n  {how}")
    _echo_best(loaded, result.records, summary)
    click.echo(f"Results: {result.run_dir}")
    if summary["status"] != "finished":
        click.echo(f"Continue with: hpogrid local_run {project} --resume")
        return 130
    return 0


def _echo_best(project, records, summary: dict) -> None:
    """The best trials as `report` lays them out, fitted to the terminal, then the best config as JSON."""
    from hpogrid.cli.output import fitted_table
    from hpogrid.report.collect import Trials, flat_config
    from hpogrid.report.table import build

    metric, mode = summary["metric"], summary["mode"]
    trials = Trials(
        metric=metric,
        mode=mode,
        hyperparameters=list(summary["hyperparameters"]),
        extra_metrics=list(project.hpo_config["extra_metrics"]),
        records=list(records),
    )
    table = build(trials, top=TOP)
    if table.scored().empty:
        return
    names = trials.hyperparameters
    headers = ["trial", metric, "status", *table.extras, *table.params]
    rows = []
    for record in table.records:
        extras = [(record.extra or {}).get(m, (record.last_result or {}).get(m)) for m in table.extras]
        params = flat_config(record.config or {}, names).values()
        rows.append([record.trial_id, _short(record.value), record.status, *map(_short, [*extras, *params])])
    width = shutil.get_terminal_size((100, 24)).columns
    text, left_out = fitted_table(headers, rows, width - 1, keep=3)
    click.echo(f"\nBest {len(rows)} trials by {metric} ({mode}):")
    click.echo(text)
    if left_out:
        click.echo(f"(not shown, too wide: {', '.join(left_out)}; all columns: hpogrid report {project.name})")
    best = summary["best"]
    if best:
        click.echo(
            "\n" + "\n".join(best_config_lines(metric, best["value"], f"trial {best['trial_id']}", best["config"]))
        )


def _short(value):
    """Numbers to 5 significant digits; missing values as None (shown '-')."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.5g}")
    return value
