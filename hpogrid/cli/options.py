"""Options more than one command shares."""

from __future__ import annotations

from collections.abc import Callable

import click


def pattern_options(command: Callable) -> Callable:
    """`list [PATTERN]`, and hpogrid 1.x's `list -e/--expr GLOB` for the same glob (see glob_of)."""
    command = click.option("-e", "--expr", metavar="GLOB", help="The same as PATTERN (hpogrid 1.x's form).")(command)
    return click.argument("pattern", required=False)(command)


def glob_of(pattern: str | None, expr: str | None) -> str | None:
    if pattern and expr:
        raise click.UsageError("give the pattern once: as PATTERN or as -e/--expr")
    return pattern or expr


def task_filters(what: str) -> Callable:
    """--limit, --days, --taskname, --range, --jeditaskid: which grid tasks (`tasks show`, `report`)."""
    subject = what[0].upper() + what[1:]
    options = [
        click.option(
            "--limit",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help=f"At most N {what}, the most recently modified.",
        ),
        click.option(
            "--days",
            type=click.FloatRange(min=0),
            default=30,
            show_default=True,
            help=f"{subject} changed in the last N days (the server looks back 90 days at most).",
        ),
        click.option("--taskname", metavar="GLOB", help=f"{subject} with names matching (wildcards allowed)."),
        click.option("--range", "id_range", metavar="FIRST-LAST", help=f"{subject} with IDs in this range."),
        click.option("--jeditaskid", type=int, help="Only this task, of any age."),
    ]

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def warm_start_options(command: Callable) -> Callable:
    """--warm_start and --warm_start_from (`local_run`, `run`, `submit_idds`)."""
    command = click.option(
        "--warm_start_from",
        "--warm-start-from",
        "warm_start_from",
        metavar="RUNS",
        help="Warm start from these runs (folders in runs/) and task IDs only, comma-separated.",
    )(command)
    return click.option(
        "--warm_start",
        "--warm-start",
        "warm_start",
        is_flag=True,
        help="Start the search from the finished trials of the project's earlier runs and grid tasks "
        "(those in today's search space).",
    )(command)


def warm_points(project, warm_start: bool, named: str | None):
    """The project's earlier trials for a warm start (None when not asked for); says what it found."""
    if not warm_start and not named:
        return None
    from hpogrid.cli.output import say
    from hpogrid.warmstart import algorithm_problem, gather

    problem = algorithm_problem(project.hpo_config["algorithm"])
    if problem:
        raise click.UsageError(f"--warm_start: {problem}")
    warm = gather(project, (named or "").split(","))
    for warning in warm.warnings:
        say("Warning", warning)
    click.echo(warm.describe(), err=True)
    return warm
