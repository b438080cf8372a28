"""Grid commands: `hpogrid run` (submit, --dry-run, --emulate) and `hpogrid job_run` (inside a job)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hpogrid.cli.complete import project_names
from hpogrid.cli.options import warm_start_options
from hpogrid.cli.output import best_config_lines, echo_json, say
from hpogrid.errors import HpogridError

if TYPE_CHECKING:
    from hpogrid.grid.sandbox import LeftOut


@click.command(
    "run",
    help="Run a project on the grid: ONE PanDA task of N jobs sharing the project's trials.\n\n"
    "Grid points are dealt out between the jobs and every job gets its own seed, so no two jobs run "
    "the same point. Model-based searches do not share what they learn between jobs: use "
    "`hpogrid submit_idds` for a coordinated search.\n\n"
    "\b\nExamples:\n  hpogrid run simple_objective --n_jobs 3\n"
    "  hpogrid run mnist_cnn --site ANALY_BNL_GPU_ARC --time 12 --dry-run\n"
    "  hpogrid run mnist_cnn --dry-run --json > task.json   # the full task parameters\n"
    "  hpogrid run mnist_cnn --n_jobs 2 --emulate      # the exact grid payload, on this machine",
)
@click.argument("project", shell_complete=project_names())
@click.option(
    "--n_jobs",
    "--n-jobs",
    "n_jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Jobs of the task (they share num_trials).",
)
@click.option("--site", metavar="SITES", help="Grid site(s), comma-separated; overrides grid_config.site.")
@click.option(
    "--time",
    "time_hours",
    type=click.IntRange(min=0),
    default=0,
    metavar="HOURS",
    help="Maximum wall time per job in hours (prun --maxWalltime).",
)
@click.option("--memory", type=click.IntRange(min=0), default=0, metavar="MB", help="Memory per core (prun --memory).")
@click.option(
    "--architecture",
    metavar="SPEC",
    help="Hardware requirement (prun --architecture); default '&nvidia' for GPU sites.",
)
@click.option(
    "--excludedSite", "--excluded-site", "excluded_site", metavar="SITES", help="Sites not to use, comma-separated."
)
@click.option(
    "--nCore",
    "--n-core",
    "cores",
    type=click.Choice(["1", "8"]),
    help="Cores per job (prun --nCore: single- or eight-core queues).",
)
@click.option(
    "--maxAttempt",
    "--max-attempt",
    "max_attempts",
    type=click.IntRange(1, 50),
    help="Attempts per job when PanDA retries it (prun --maxAttempt).",
)
@click.option("--priority", type=int, help="Task priority (prun --priority).")
@click.option("--noEmail", "--no-email", "no_email", is_flag=True, help="No email from PanDA (prun --noEmail).")
@click.option(
    "--dry-run",
    "--dry_run",
    "dry",
    is_flag=True,
    help="Show what would be submitted (task, jobs, site, image, sandbox); submit nothing.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="With --dry-run: print the full task parameters, job command and sandbox as JSON instead.",
)
@click.option(
    "--emulate",
    is_flag=True,
    help="Run every job here exactly as on the grid (same sandbox, command, metadata), as many at a time "
    "as the CPUs allow, with one progress display; no server. `hpogrid report` includes their trials.",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --emulate: a local file standing in for grid_config.inDS (repeatable).",
)
@warm_start_options
def run(
    project, n_jobs, site, time_hours, memory, architecture, excluded_site, cores, max_attempts, priority, no_email,
    dry, as_json, emulate, inputs, warm_start, warm_start_from,
):  # fmt: skip
    import datetime as dt

    from hpogrid.cli.options import warm_points
    from hpogrid.grid import submit as grid
    from hpogrid.project import ProjectStore

    if dry and emulate:
        raise click.UsageError("--dry-run and --emulate cannot be combined")
    if as_json and not dry:
        raise click.UsageError("--json is for --dry-run")
    if inputs and not emulate:
        raise click.UsageError("--input is for --emulate; on the grid the inputs are grid_config.inDS")
    loaded = ProjectStore().load(project)
    left = _note_left_out(loaded)
    warm = warm_points(loaded, warm_start, warm_start_from)
    request = grid.RunRequest(
        n_jobs=n_jobs,
        site=site,
        time_hours=time_hours,
        memory_mb=memory,
        architecture=architecture,
        excluded_site=excluded_site,
        cores=int(cores or 0),
        max_attempts=max_attempts or 0,
        priority=priority,
        no_email=no_email,
        cli_params=grid.describe_command(sys.argv[1:] if sys.argv[1:2] == ["run"] else ["run", project]),
        warm=warm.to_json() if warm and warm.points else None,
    )
    if dry:
        planned = grid.dry_run(loaded, request)
        if as_json:
            echo_json({**planned, "left_out": [{"file": item.name, "reason": item.reason} for item in left]})
        else:
            click.echo("\n".join(dry_run_summary(planned, len(left))))
        return 0
    if emulate:
        folder = loaded.path / "runs" / ("emulate-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3])
        runs = grid.emulate(loaded, request, folder, list(inputs), log=lambda line: click.echo(line, err=True))
        done = sum(r.status == "finished" for r in runs)
        click.echo(f"Emulated {len(runs)} job(s): {done} finished. Job folders in")
        click.echo(f"  {folder}")
        click.echo(f"Their trials are in `hpogrid report {loaded.name}`, marked 'emulated'.")
        best = _best(runs)
        if best:
            where = f"job {best['job']}, trial {best['trial_id']}"
            click.echo("\n".join(best_config_lines(best["metric"], best["value"], where, best["config"])))
        failed = [r for r in runs if r.status != "finished"]
        if failed:
            why = ((failed[0].metadata or {}).get("job") or {}).get("error") or f"exit code {failed[0].exit_code}"
            raise HpogridError(
                f"run --emulate: {len(failed)} of {len(runs)} job(s) did not finish (job {failed[0].seq}: {why}); "
                f"their logs and outputs are in {folder}"
            )
        return 0
    _echo_submitted(grid.submit(loaded, request), f"task {{}}{{}}: {n_jobs} job(s)")
    return 0


def dry_run_summary(planned: dict, left_out: int) -> list[str]:
    """The lines `run --dry-run` prints: what the task would be, in words."""
    params, per_job = planned["task_parameters"], planned["trials_per_job"]
    counts = sorted(set(per_job))
    each = str(counts[0]) if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    site = params.get("site") or ", ".join(params.get("includedSite") or []) or "any (PanDA brokerage chooses)"
    if params.get("excludedSite"):
        site += f"; not {', '.join(params['excludedSite'])}"
    files = len(planned["sandbox"])
    lines = [
        "Dry run of `hpogrid run`: nothing is uploaded or submitted.",
        f"  task          {params['taskName'].rstrip('/')}",
        f"  jobs          {len(per_job)}, {each} trial(s) each ({sum(per_job)} in all)",
        f"  site          {site}",
        f"  image         {params.get('container_name')}",
        f"  architecture  {params.get('architecture') or 'any'}",
        f"  sandbox       {files} file(s), {_size(planned['sandbox_bytes'])} before compression",
        f"  left out      {left_out} file(s)" + (" (see the notes above)" if left_out else ""),
        f"  job command   {planned['payload']}",
        "Full task parameters: add --json.",
    ]
    return lines


def _size(size: float) -> str:
    for unit in ("bytes", "kB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return ""


NOTE_NAMES = 10  # files named in a note, then "and N more"


def _note_left_out(project) -> list[LeftOut]:
    """Refuse a project whose scripts cannot be packed; say which files are not packed, and why
    (names only, never content). Returns them."""
    from hpogrid.grid.sandbox import left_out

    left = left_out(project)
    credentials = [f"{item.name} ({item.reason})" for item in left if item.credential]
    ignored = [item.name for item in left if not item.credential]
    for what, names in (("they look like credentials", credentials), ("excluded by .hpogridignore", ignored)):
        if names:
            more = f" and {len(names) - NOTE_NAMES} more" if len(names) > NOTE_NAMES else ""
            say("Note", f"not packed for the grid, {what}: {', '.join(names[:NOTE_NAMES])}{more}")
    return left


def _echo_submitted(submission, what: str) -> None:
    again = " (found after a retry: submitted once)" if submission.resubmitted else ""
    click.echo(f"Submitted {what.format(submission.task_id, again)}, outDS {submission.out_ds}")
    click.echo(f"Follow it: hpogrid tasks show --jeditaskid {submission.task_id}   ({submission.link})")


def _best(runs) -> dict | None:
    tops = []
    for run in runs:
        meta = run.metadata or {}
        if meta.get("best"):
            tops.append({**meta["best"], "metric": meta["metric"], "mode": meta["mode"], "job": run.seq})
    if not tops:
        return None
    pick = min if tops[0]["mode"] == "min" else max
    return pick(tops, key=lambda t: t["value"])


@click.command(
    "job_run",
    hidden=True,
    help="Inside a grid job: run this job's share of a project (the task's payload calls this).\n\n"
    "Reads the project from the unpacked sandbox in the current folder, unpacks *.tar.gz inputs, runs "
    "the share with the local_run engine, writes userJobMetadata.json and hpogrid_trials.jsonl. "
    "Exit 75 means preempted (SIGTERM/SIGUSR1), not failed.\n\n"
    "\b\nExample (what a job runs):\n  python3 -m hpogrid job_run mnist_cnn --seq 2 --n-jobs 3 --seed 1234",
)
@click.argument("project")
@click.option("--seq", type=int, required=True, help="The job's serial number in its task (1..N).")
@click.option("--n-jobs", "--n_jobs", "n_jobs", type=click.IntRange(min=1), required=True, help="Jobs of the task.")
@click.option("--seed", type=click.IntRange(min=0), required=True, help="The task's base seed.")
def job_run(project, seq, n_jobs, seed):
    from hpogrid.grid.job import EXIT_PREEMPTED, JobIdentity, exit_line, exit_now, run_job

    job = JobIdentity.of(seq, n_jobs, seed)
    code = run_job(project, job, Path.cwd())
    if code == EXIT_PREEMPTED:  # the outputs are written; the pilot does not wait for Ray's exit handlers
        exit_now(code, exit_line(job, code))  # (or the preemption deadline, if first, prints the line and ends)
    click.echo(exit_line(job, code))
    return code


@click.command(
    "submit_idds",
    help="Run a project as ONE iDDS-steered HPO task: iDDS asks `hpogrid generate` for points and runs "
    "one grid job per point (`hpogrid evaluate`), so every evaluation informs the next points.\n\n"
    "max_points defaults to num_trials, parallel evaluations to max_concurrent. iDDS minimizes "
    "`loss`: for mode max the metric's negative is reported. Schedulers do not apply.\n\n"
    "\b\nExamples:\n  hpogrid submit_idds mnist_cnn\n"
    "  hpogrid submit_idds mnist_cnn --site ANALY_BNL_GPU_ARC --dry-run",
)
@click.argument("project", shell_complete=project_names())
@click.option("--site", metavar="SITES", help="Grid site(s), comma-separated; overrides grid_config.site.")
@click.option("--max_points", "--max-points", "max_points", type=click.IntRange(min=1), help="Points to evaluate.")
@click.option(
    "--points_per_generation",
    "--points-per-generation",
    "per_generation",
    type=click.IntRange(min=1),
    help="Points asked of the optimizer at a time (default max_concurrent).",
)
@click.option(
    "--min_unevaluated",
    "--min-unevaluated",
    "min_unevaluated",
    type=click.IntRange(min=0),
    help="Ask for more points when fewer are waiting (default max_concurrent).",
)
@click.option("--architecture", metavar="SPEC", help="Hardware requirement; default '&nvidia' for GPU sites.")
@click.option("--dry-run", "--dry_run", "dry", is_flag=True, help="Print the task parameters as JSON; submit nothing.")
@warm_start_options
def submit_idds(
    project, site, max_points, per_generation, min_unevaluated, architecture, dry, warm_start, warm_start_from
):
    from hpogrid.cli.options import warm_points
    from hpogrid.grid import submit as grid
    from hpogrid.project import ProjectStore

    loaded = ProjectStore().load(project)
    _note_left_out(loaded)
    warm = warm_points(loaded, warm_start, warm_start_from)
    request = grid.IddsRequest(
        site=site,
        max_points=max_points,
        points_per_generation=per_generation,
        min_unevaluated_points=min_unevaluated,
        architecture=architecture,
        cli_params=grid.describe_command(["submit_idds", project]),
        warm=warm.losses() if warm and warm.points else None,
    )
    if loaded.hpo_config["scheduler"] != "fifo":
        click.echo(f"Note: scheduler '{loaded.hpo_config['scheduler']}' does not apply to iDDS evaluations.", err=True)
    if dry:
        params, seed = grid.plan_idds(loaded, request, "<nickname>", "<sandbox>", "<cache server>")
        echo_json({"task_parameters": params, "seed": seed})
        return 0
    _echo_submitted(grid.submit_idds(loaded, request), "iDDS HPO task {}{}")
    return 0


@click.command(
    "generate",
    hidden=True,
    help="iDDS steering: new points from every point so far (stateless ask/tell); writes a JSON list, "
    "[] when done.\n\n\b\nExample (what iDDS runs, %IN/%OUT/... filled in):\n"
    "  python3 -m hpogrid generate --in in.json --out out.json -n 4 -m 100 --algorithm hyperopt --seed 7",
)
@click.option(
    "--in",
    "--infile",
    "infile",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='{"points": [[point, loss or null], ...], "opt_space": search space}',
)
@click.option("--out", "--outfile", "outfile", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-n", "--n_points", "--n_point", "n_points", type=click.IntRange(min=0), required=True)
@click.option("-m", "--max_points", "--max_point", "max_points", type=click.IntRange(min=1), required=True)
@click.option("--algorithm", "--lib", "algorithm", default="random", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--param", "param", metavar="JSON", help="algorithm_param of the hpo_config.")
@click.option(
    "--space",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Search space JSON (default: opt_space of the input).",
)
@click.option(
    "--warm_start",
    "warm",
    metavar="JSON",
    help='Points of earlier runs to learn from first, {"points": [[point, loss], ...]} (submit_idds --warm_start).',
)
def generate(infile, outfile, n_points, max_points, algorithm, seed, param, space, warm):

    from hpogrid.configs.store import read_json_file
    from hpogrid.fileio import write_json_atomic
    from hpogrid.grid.steering import generate as ask
    from hpogrid.grid.steering import read_history
    from hpogrid.space.model import SearchSpace

    data = read_json_file(infile, "--in")
    space_json = (
        read_json_file(space, "--space") if space else (data.get("opt_space") if isinstance(data, dict) else None)
    )
    if not space_json:
        raise click.UsageError("no search space: the input has no opt_space; give --space FILE")
    history = read_history(data, SearchSpace.parse(space_json))
    from hpogrid.strictjson import StrictJSONError, loads

    try:
        params = loads(param) if param else {}
    except (ValueError, StrictJSONError) as exc:
        raise click.UsageError(f"--param: not valid JSON ({exc})") from None
    try:
        earlier = read_history(loads(warm), SearchSpace.parse(space_json)) if warm else []
    except (ValueError, StrictJSONError) as exc:
        raise click.UsageError(f"--warm_start: not valid JSON ({exc})") from None
    points = ask(history, space_json, algorithm, n_points, max_points, seed, params, earlier)
    write_json_atomic(outfile, points)
    click.echo(f"{len(points)} new point(s) after {len(history)}", err=True)
    return 0


@click.command(
    "evaluate",
    hidden=True,
    help="iDDS evaluation job: run the point in input.json once; write output.json "
    '({"status", "loss", "message"}; loss is the metric, negated for mode max) and userJobMetadata.json.\n\n'
    "\b\nExample (what an evaluation job runs):\n  python3 -m hpogrid evaluate mnist_cnn",
)
@click.argument("project")
def evaluate(project):
    from hpogrid.grid.steering import evaluate as run_point

    return run_point(project, Path.cwd())


@click.command(
    "sites",
    help="Grid queues you can run on (from ATLAS CRIC; $HPOGRID_CRIC_URL to use another copy).\n\n"
    "\b\nExamples:\n  hpogrid sites                       # online GPU queues\n"
    "  hpogrid sites --name 'ANALY_*BNL*' --all --any-status\n  hpogrid sites --json",
)
@click.option("--name", "pattern", metavar="GLOB", help="Queue name pattern (case-insensitive).")
@click.option("--gpu/--all", "gpu_only", default=True, show_default=True, help="Only GPU queues, or all.")
@click.option("--online/--any-status", "online_only", default=True, show_default=True, help="Only online queues.")
@click.option("--type", "kind", type=click.Choice(["analysis", "production", "unified"]), help="Queue type.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sites(pattern, gpu_only, online_only, kind, as_json):
    from hpogrid.cli.output import echo_table
    from hpogrid.grid.gateway import grid_queues
    from hpogrid.grid.sites import COLUMNS, queue_rows

    rows = queue_rows(grid_queues(), pattern, gpu_only, online_only, kind)
    if as_json:
        echo_json(rows)
    else:
        echo_table([c.upper() for c in COLUMNS], [[r[c] for c in COLUMNS] for r in rows], "No queues match.")
    return 0
