"""`hpogrid local_run PROJECT`: run a project's HPO on this machine (or a Ray cluster)."""

from __future__ import annotations

from pathlib import Path

import click

from hpogrid.cli.complete import project_names
from hpogrid.cli.output import echo_table


@click.command(
    "local_run",
    help="Run a project's hyperparameter search with Ray Tune on this machine.\n\n"
    "Results go to the project's runs/<run id>/: trials.jsonl (one record per finished trial) and "
    "summary.json. Ctrl-C stops the run; --resume continues it, also after a crash.\n\n"
    "\b\nExamples:\n  hpogrid local_run simple_objective\n  hpogrid local_run mnist_cnn --resume\n"
    "  hpogrid local_run mnist_cnn --address 10.0.0.5:6379   # on a running Ray cluster",
)
@click.argument("project", shell_complete=project_names())
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
@click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True, help="Retries of a failing trial.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display.")
def local_run(project: str, resume: bool, address: str | None, search_points: Path | None, retries: int, quiet: bool):
    from hpogrid.local.runner import RunOptions, best_table, load_points, run
    from hpogrid.project import ProjectStore
    from hpogrid.space.model import SearchSpace

    loaded = ProjectStore().load(project)
    points = load_points(search_points, SearchSpace.parse(loaded.search_space)) if search_points else []
    if resume and points:
        raise click.UsageError("--search_points cannot be combined with --resume")
    result = run(loaded, RunOptions(resume=resume, address=address, search_points=points, quiet=quiet, retries=retries))
    summary = result.summary
    if summary["status"] == "failed":  # the trials report something else than the config's metric
        from hpogrid.errors import HpogridError

        raise HpogridError(f"local_run: {summary['error']}")
    counts = summary["counts"]
    click.echo(
        f"Run {summary['run_id']} {summary['status']}: {sum(counts.values())} of {summary['num_trials']} trials "
        f"({counts['terminated']} completed, {counts['early_stopped']} stopped early, {counts['error']} failed)"
    )
    headers, rows = best_table(result.records, summary["mode"])
    if rows:
        click.echo(f"\nBest trials by {summary['metric']} ({summary['mode']}):")
        echo_table(headers, rows, "", width=80)
    if summary["best"]:
        click.echo(f"\nBest config: {summary['best']['config']}  {summary['metric']} = {summary['best']['value']}")
    click.echo(f"Results: {result.run_dir}")
    if summary["status"] != "finished":
        click.echo(f"Continue with: hpogrid local_run {project} --resume")
        return 130
    return 0
