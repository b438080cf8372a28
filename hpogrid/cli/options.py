"""Options more than one command shares."""

from __future__ import annotations

from collections.abc import Callable

import click


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
