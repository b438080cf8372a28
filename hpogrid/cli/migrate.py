"""`hpogrid migrate SOURCE`: import the configs and projects of hpogrid 1.x."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from hpogrid.cli.output import echo_json, echo_table

HELP = """Import the configs and projects of hpogrid 1.x into today's store ($HPOGRID_BASE_PATH).

\b
SOURCE is where 1.x kept them: its userdata folder (hpogrid 1.3: inside the installed
package, e.g. ~/.local/lib/python3.X/site-packages/hpogrid/userdata, or that package folder)
or the HPOGRID_BASE_PATH that hpogrid 1.0-1.2 used. In the environment that has 1.x,
`python -c "import hpogrid; print(hpogrid.__path__[0])"` prints the package folder.

Each is read in its 1.x form and saved in today's; the table says what was imported,
normalised (how) or skipped (why). Nothing that exists is overwritten unless --force (a
replaced project is kept as a backup); running it twice gives the same result.

\b
Examples:
  hpogrid migrate ~/.local/lib/python3.9/site-packages/hpogrid/userdata --dry-run
  hpogrid migrate ~/.local/lib/python3.9/site-packages/hpogrid/userdata
"""


@click.command("migrate", help=HELP)
@click.argument("source", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", "--dry_run", "dry_run", is_flag=True, help="Show the table; write nothing.")
@click.option("--force", is_flag=True, help="Replace configs and projects of the same name that differ.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def migrate(source: Path, dry_run: bool, force: bool, as_json: bool) -> None:
    from hpogrid.migrate import migrate as run

    items = run(source, force=force, dry_run=dry_run)
    if as_json:
        echo_json([{**vars(i), "source": str(i.source)} for i in items])
        return
    echo_table(
        ["KIND", "NAME", "OUTCOME", "DETAIL"],
        [[i.kind, i.name, i.outcome, i.detail or "-"] for i in items],
        "No configs or projects found",
        width=10_000,  # the whole detail: it says how a config changed or why it was skipped
    )
    counts = Counter(item.outcome for item in items)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    tail = " (--dry-run: nothing was written)" if dry_run else ""
    click.echo(f"\n{len(items)} found: {summary}{tail}")
