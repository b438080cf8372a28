"""`hpogrid tasks show|kill|retry|kill_and_retry|logs`: follow and steer grid tasks."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hpogrid.cli.legacy import short_options
from hpogrid.cli.options import task_filters
from hpogrid.cli.output import echo_json, echo_table, say


@click.group("tasks", help="Follow and steer your grid tasks (PanDA server API; BigPanDA links to click).")
def tasks() -> None:
    pass


@short_options(limit="-l", days="-d", taskname="-n", id_range="-r", jeditaskid="-i")
@tasks.command(
    "show",
    help="List your recent tasks.\n\n\b\nExamples:\n  hpogrid tasks show --days 7 --status running\n"
    "  hpogrid tasks show --taskname 'user.*.hpogrid.mnist*' --output tasks.csv\n"
    "  hpogrid tasks show --jeditaskid 41234567 --metadata",
)
@click.option("-u", "--username", help="Tasks of this user (default: you).")
@task_filters("tasks")
@click.option("-s", "--status", metavar="S[,S]", help="Only tasks in these states (e.g. running,done).")
@click.option("-m", "--metadata", is_flag=True, help="Add the job metadata of finished jobs (metastruct).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Also save to FILE (.json or .csv).")
@click.option(
    "-o",
    "--outname",
    type=click.Path(dir_okay=False, path_type=Path),
    help="hpogrid 1.3.3's --output: save to FILE, as CSV if it ends in .csv, else as JSON.",
)
@click.option(
    "--sync",
    is_flag=True,
    help="hpogrid 1.3.3: no cached listing. Always so: the PanDA server API has no cache (accepted, no effect).",
)
@click.option(
    "-c",
    "--outcol",
    metavar="COLS",
    help="Columns, comma-separated (default jeditaskid,status,taskname,computingsite,metastruct).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(
    username, limit, days, taskname, jeditaskid, id_range, status, metadata, output, outname, sync, outcol, as_json
):
    from hpogrid.grid.gateway import Gateway
    from hpogrid.grid.monitor import DEFAULT_COLUMNS, TaskQuery, check_columns, parse_range
    from hpogrid.grid.monitor import show as show_tasks

    columns = check_columns([c.strip() for c in outcol.split(",") if c.strip()]) if outcol else list(DEFAULT_COLUMNS)
    if output and outname:
        raise click.UsageError("--output and --outname are the same option: give one")
    if output and output.suffix.lower() not in (".json", ".csv"):
        raise click.UsageError("--output: give a file ending in .json or .csv")
    query = TaskQuery(
        username=username,
        limit=limit,
        days=days,
        taskname=taskname,
        jeditaskid=jeditaskid,
        id_range=parse_range(id_range) if id_range else None,
        status=tuple(s.strip() for s in status.split(",") if s.strip()) if status else (),
    )
    rows, notes = show_tasks(Gateway(), query, metadata=metadata or "metastruct" in (outcol or ""))
    for note in notes:
        say("Note", note)
    if not (metadata or "metastruct" in (outcol or "")):
        columns = [c for c in columns if c != "metastruct"]
    picked = [{c: r.get(c) for c in columns} for r in rows]
    if output or outname:
        _save(output or outname, picked, columns)
    if as_json:
        echo_json(picked)
    else:
        echo_table([c.upper() for c in columns], [[r[c] for c in columns] for r in picked], "No tasks found.")
        if len(rows) == 1:
            click.echo(f"\n{rows[0]['link']}")
    return 0


def _save(path: Path, rows: list[dict], columns: list[str]) -> None:
    import csv
    import io

    from hpogrid.fileio import dump_json, write_atomic
    from hpogrid.results import jsonable

    rows = jsonable(rows)  # the server's datetimes as text; NaN and infinities in job metadata as null
    if path.suffix.lower() != ".csv":
        write_atomic(path, dump_json(rows))
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(
            [json.dumps(r[c], allow_nan=False) if isinstance(r[c], (dict, list)) else r[c] for c in columns]
        )
    write_atomic(path, buffer.getvalue())


@tasks.command("kill", help="Kill tasks.\n\n\b\nExample:\n  hpogrid tasks kill 41234567 41234570")
@click.argument("task_ids", nargs=-1, type=int, required=True)
def kill(task_ids):
    return _each(task_ids, lambda gateway, task_id: gateway.kill(task_id))


@tasks.command(
    "retry",
    help="Retry the failed jobs of finished or failed tasks, optionally with new task parameters.\n\n"
    "\b\nExamples:\n  hpogrid tasks retry 41234567\n  hpogrid tasks retry 41234567 --new-params '{\"ramCount\": 4000}'",
)
@click.argument("task_ids", nargs=-1, type=int, required=True)
@click.option("--new-params", "--new_params", "new_params", metavar="JSON", help="Task parameters to change.")
def retry(task_ids, new_params):
    changes = None
    if new_params:
        from hpogrid.strictjson import StrictJSONError, loads

        try:
            changes = loads(new_params)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--new-params: not valid JSON ({exc.msg})") from None
        except StrictJSONError as exc:
            raise click.UsageError(f"--new-params: {exc}") from None
        if not isinstance(changes, dict):
            raise click.UsageError("--new-params: expected a JSON object, e.g. '{\"ramCount\": 4000}'")
    return _each(task_ids, lambda gateway, task_id: gateway.retry(task_id, changes))


@tasks.command(
    "kill_and_retry",
    help="Kill tasks, wait until each has stopped, then retry it (as pbook's killAndRetry, which hpogrid 1.3.3 "
    "used). The retry is refused if the server does not retry a killed task.\n\n"
    "\b\nExample:\n  hpogrid tasks kill_and_retry 41234567",
)
@click.argument("task_ids", nargs=-1, type=int, required=True)
def kill_and_retry(task_ids):
    from hpogrid.grid.monitor import kill_then_retry

    return _each(task_ids, lambda gateway, task_id: kill_then_retry(gateway, task_id, say=click.echo))


@tasks.command(
    "logs",
    help="Download the logs of an iDDS task's steering (the runs of `hpogrid generate` iDDS made for a "
    "`submit_idds` task) from the iDDS server, with your PanDA credentials, as iDDS sends them: "
    "REQUEST.logs.tgz, a processing_N.tgz per steering run. iDDS is IDDS_HOST "
    "(default: ATLAS's); PanDA cannot relay these logs.\n\n"
    "\b\nExamples:\n  hpogrid tasks logs 41234567\n  hpogrid tasks logs 41234567 --extract -o logs/",
)
@click.argument("task_id", type=int)
@click.option("--request-id", "--request_id", "request_id", type=int, help="iDDS request (if the task has several).")
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to save the logs in.",
)
@click.option("--extract", is_flag=True, help="Also unpack them, into OUTDIR/task_TASK_ID_steering/.")
def logs(task_id, request_id, outdir, extract):
    from hpogrid.grid.gateway import Gateway
    from hpogrid.grid.monitor import task_link
    from hpogrid.grid.steeringlogs import fetch

    got = fetch(Gateway(), task_id, request_id, outdir, extract)
    runs = len(got.runs)
    click.echo(f"task {task_id}: {runs} steering run{'s' * (runs != 1)} in {got.archive}   ({task_link(task_id)})")
    if got.folder is not None:
        click.echo(f"unpacked into {got.folder}/")
        for run, files in got.unpacked.items():
            click.echo(f"  {run}/: {', '.join(files)}")
    return 0


def _each(task_ids, action) -> int:
    """Act on each task; report every outcome; exit 2 if any was refused."""
    from hpogrid.errors import HpogridError
    from hpogrid.grid.gateway import Gateway, Unreachable
    from hpogrid.grid.monitor import command, task_link

    gateway = Gateway()
    refused = 0
    for task_id in task_ids:
        try:
            click.echo(f"{command(gateway, task_id, action)}   ({task_link(task_id)})")
        except Unreachable:
            raise
        except HpogridError as exc:
            say("Error", exc)
            refused += 1
    return 2 if refused else 0
