"""Grid commands: `hpogrid run` (submit, --dry-run, --emulate) and `hpogrid job_run` (inside a job)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hpogrid.cli.complete import project_names
from hpogrid.cli.legacy import note
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
@click.option(
    "-m",
    "--mode",
    type=click.Choice(["local", "grid", "idds"]),
    help="hpogrid 1.3.3's form: local = `hpogrid local_run PROJECT`, grid = this command (the default; in "
    "1.3.3 what a grid job ran), idds = `hpogrid submit_idds PROJECT`.",
)
@click.option(
    "-p",
    "--search_points",
    "--search-points",
    "search_points",
    metavar="FILE",
    help="With --mode local: JSON list of configurations to evaluate first (local_run --search_points).",
)
@warm_start_options
@click.pass_context
def run(
    ctx, project, n_jobs, site, time_hours, memory, architecture, excluded_site, cores, max_attempts, priority,
    no_email, dry, as_json, emulate, inputs, mode, search_points, warm_start, warm_start_from,
):  # fmt: skip
    import datetime as dt

    from hpogrid.cli.options import warm_points
    from hpogrid.grid import submit as grid
    from hpogrid.project import ProjectStore

    if mode is not None:
        from hpogrid.cli.legacy import project_input

        project = project_input(project)
        if mode != "grid":
            return _run_elsewhere(ctx, mode, project)
        note("`run --mode grid` of hpogrid 1.3.3 ran the search inside a grid job; today it submits the project")
    if search_points:
        raise click.UsageError("--search_points is for --mode local (hpogrid local_run --search_points)")
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


# run's options that `run --mode local|idds` passes on to local_run / submit_idds
PASSED_ON = {
    "local": ("search_points", "warm_start", "warm_start_from"),
    "idds": ("site", "architecture", "dry", "warm_start", "warm_start_from"),
}


def _run_elsewhere(ctx: click.Context, mode: str, project: str):
    """`run --mode local` = `local_run`, `run --mode idds` = `submit_idds`: the options both take go on,
    any other is refused."""
    from hpogrid.cli.legacy import forward, given
    from hpogrid.cli.local_run import local_run

    names = {p.name: p for p in ctx.command.params}
    wrong = [n for n in names if n not in (*PASSED_ON[mode], "project", "mode") and given(ctx, n)]
    if wrong:
        target = "local_run" if mode == "local" else "submit_idds"
        raise click.UsageError(f"{names[wrong[0]].opts[-1]} is not an option of --mode {mode} (hpogrid {target})")
    args = [project]
    for name in PASSED_ON[mode]:
        value, option = ctx.params[name], names[name].opts[-1]
        if value is True:
            args.append(option)
        elif value not in (None, False):
            args += [option, str(value)]
    if mode == "idds":
        note("`run --mode idds` of hpogrid 1.3.3 was an iDDS evaluation job; today it submits as `submit_idds`")
    return forward(ctx, local_run if mode == "local" else submit_idds, args)


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


LEGACY_MAX_POINTS = 9999  # hpogrid 1.3.3's generate: -m was optional and 9999 in effect


@click.command(
    "generate",
    hidden=True,
    help="iDDS steering: new points from every point so far (stateless ask/tell); writes a JSON list, "
    "[] when done.\n\n\b\nExample (what iDDS runs, %IN/%OUT/... filled in):\n"
    "  python3 -m hpogrid generate --in in.json --out out.json -n 4 -m 100 --algorithm hyperopt --seed 7",
)
@click.option(
    "-i",
    "--in",
    "--infile",
    "infile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='{"points": [[point, loss or null], ...], "opt_space": search space} (none: no points yet, --space).',
)
@click.option(
    "-o",
    "--out",
    "--outfile",
    "outfile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the new points go (default: stdout).",
)
@click.option("-n", "--n_points", "--n_point", "n_points", type=click.IntRange(min=0), required=True)
@click.option(
    "-m",
    "--max_points",
    "--max_point",
    "max_points",
    type=click.IntRange(min=1),
    default=LEGACY_MAX_POINTS,
    show_default=True,
    help="Points of the whole search, those so far included.",
)
@click.option("--algorithm", "-l", "--lib", "algorithm", default="random", show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--param", "param", metavar="JSON", help="algorithm_param of the hpo_config.")
@click.option(
    "-s",
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
@click.option(
    "--metric",
    help="hpogrid 1.3.3: a result given as an object ({metric: value, ...}) is read at this key (default loss).",
)
@click.option(
    "--mode",
    type=click.Choice(["min", "max"]),
    default="min",
    show_default=True,
    help="hpogrid 1.3.3: max looks for the largest values (iDDS reports losses: min).",
)
@click.option("--method", metavar="NAME", help="hpogrid 1.3.3: nevergrad's optimizer (algorithm_param optimizer).")
def generate(infile, outfile, n_points, max_points, algorithm, seed, param, space, warm, metric, mode, method):

    from hpogrid.configs.store import read_json_file
    from hpogrid.fileio import write_json_atomic
    from hpogrid.grid.steering import generate as ask
    from hpogrid.grid.steering import read_history
    from hpogrid.space.model import SearchSpace

    if infile is None and space is None:
        raise click.UsageError("give --in FILE (the points so far) or --space FILE (no points yet)")
    data = read_json_file(infile, "--in") if infile else {"points": []}
    space_json = (
        read_json_file(space, "--space") if space else (data.get("opt_space") if isinstance(data, dict) else None)
    )
    if not space_json:
        raise click.UsageError("no search space: the input has no opt_space; give --space FILE")
    given_space = data.get("opt_space") if space and isinstance(data, dict) else None
    if given_space and given_space != space_json:
        note("--space is used, not the input's opt_space (hpogrid 1.3.3 used the input's when given --infile)")
    if metric or mode == "max":
        data = _as_losses(data, metric or "loss", mode)
    history = read_history(data, SearchSpace.parse(space_json))
    from hpogrid.strictjson import StrictJSONError, loads

    try:
        params = loads(param) if param else {}
    except (ValueError, StrictJSONError) as exc:
        raise click.UsageError(f"--param: not valid JSON ({exc})") from None
    if method:
        if algorithm != "nevergrad":
            raise click.UsageError(f"--method names a nevergrad optimizer; --algorithm is {algorithm}")
        params = {**params, "optimizer": method}
    try:
        earlier = read_history(loads(warm), SearchSpace.parse(space_json)) if warm else []
    except (ValueError, StrictJSONError) as exc:
        raise click.UsageError(f"--warm_start: not valid JSON ({exc})") from None
    points = ask(history, space_json, algorithm, n_points, max_points, seed, params, earlier)
    if outfile:
        write_json_atomic(outfile, points)
    else:
        echo_json(points)
    click.echo(f"{len(points)} new point(s) after {len(history)}", err=True)
    return 0


def _as_losses(data, metric: str, mode: str):
    """hpogrid 1.3.3's steering input: results as numbers or objects holding `metric`, maximized for mode
    max; as today's: numbers minimized (the same order of points)."""
    points = data.get("points", []) if isinstance(data, dict) else data
    converted = []
    for item in points or []:
        if isinstance(item, (list, tuple)) and len(item) > 1:
            result = item[1]
            if isinstance(result, dict):
                if metric not in result:
                    raise click.UsageError(f"--metric {metric}: a result has no such key: {result}")
                result = result[metric]
            if isinstance(result, (int, float)) and not isinstance(result, bool) and mode == "max":
                result = -result
            item = [item[0], result, *item[2:]]
        converted.append(item)
    return {**data, "points": converted} if isinstance(data, dict) else converted


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
    "  hpogrid sites --name 'ANALY_*BNL*' --all --any-status\n  hpogrid sites --info state,corepower --json",
)
@click.option("-n", "--name", "pattern", metavar="GLOB", help="Queue name pattern (case-insensitive).")
@click.option(
    "--gpu/--all",
    "--gpu_sites/--all_sites",
    "gpu_only",
    default=True,
    show_default=True,
    help="Only GPU queues, or all.",
)
@click.option(
    "--online/--any-status",
    "--active/--all_status",
    "online_only",
    default=True,
    show_default=True,
    help="Only online queues (CRIC status online; 1.3.3's --active looked at its state ACTIVE).",
)
@click.option(
    "-t",
    "--type",
    "--site_type",
    "kind",
    metavar="TYPES",
    help="Queue types, comma-separated: analysis, production, unified.",
)
@click.option(
    "-i",
    "--info",
    metavar="FIELDS",
    help="More columns: CRIC's fields of each queue, comma-separated (e.g. state,maxinputsize,corepower).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sites(pattern, gpu_only, online_only, kind, info, as_json):
    from hpogrid.cli.output import echo_table
    from hpogrid.grid.gateway import grid_queues
    from hpogrid.grid.sites import COLUMNS, TYPES, queue_rows

    kinds = [k.strip() for k in (kind or "").split(",") if k.strip()]
    for one in kinds:
        if one not in TYPES:
            raise click.BadParameter(f"'{one}' is not one of {', '.join(TYPES)}", param_hint="'--type'")
    fields = [f.strip() for f in (info or "").split(",") if f.strip()]
    queues = grid_queues()
    rows = queue_rows(queues, pattern, gpu_only, online_only, kinds)
    columns = [*COLUMNS, *(f for f in fields if f not in COLUMNS)]
    for r in rows:
        r.update({f: queues[r["name"]].get(f) for f in columns if f not in r})
    if as_json:
        echo_json(rows)
    else:
        echo_table([c.upper() for c in columns], [[r[c] for c in columns] for r in rows], "No queues match.")
    return 0
