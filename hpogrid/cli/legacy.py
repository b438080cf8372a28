"""hpogrid 1.3.3's command lines, kept working: its short options, `submit`, `report_grid`, `idds_log`,
and the helpers that map them onto today's commands. Each 1.3.3 form is parsed by today's own command
(forward), so it means exactly what today's form means; where 1.3.3 meant something else by the same
word, the option's help says so and using it prints one `Note:` line on stderr."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import click

from hpogrid.cli.complete import project_names
from hpogrid.cli.output import say


def short_options(**shorts: str) -> Callable[[click.Command], click.Command]:
    """Give options of a finished command a short form too (1.3.3's), e.g. short_options(limit="-l"):
    for options made elsewhere (hpogrid.cli.options.task_filters). Put it above the command decorator."""

    def decorate(command: click.Command) -> click.Command:
        taken = {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
        for param in command.params:
            short = shorts.get(param.name or "")
            if short:
                if short in taken:
                    raise ValueError(f"{command.name}: {short} is taken already")
                param.opts.insert(0, short)
                taken.add(short)
        missing = set(shorts) - {p.name for p in command.params}
        if missing:
            raise ValueError(f"{command.name}: no options {sorted(missing)}")
        return command

    return decorate


def note(message: str) -> None:
    say("Note", message)


def given(ctx: click.Context, name: str) -> bool:
    """Whether the option was given on the command line (not its default)."""
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE


def project_input(text: str) -> str:
    """1.3.3's INPUT as today's project name. 1.3.3 took a project name or the path of a project
    configuration file (.json/.yaml/.txt, the configs inline); today's commands take a project name,
    also given as the path of the project's folder (or its project.json) in the project store."""
    from hpogrid.project import PROJECT_FILE, ProjectStore

    store = ProjectStore()
    if store.holds(text):
        return text
    path = Path(text).expanduser()
    folder = path.parent if path.name == PROJECT_FILE else path
    if folder.is_dir() and (folder / PROJECT_FILE).is_file():
        if folder.resolve().parent == store.root.resolve():
            return folder.name
        raise click.UsageError(
            f"{text}: a project folder outside the project store ({store.root}); give the name of a project "
            "there (`hpogrid project list`)"
        )
    if path.suffix.lower() in (".json", ".yaml", ".yml", ".txt") and path.is_file():
        raise click.UsageError(
            f"{text}: hpogrid 1.3.3 also ran a project configuration file; today a project is made once (`hpogrid "
            "migrate` imports 1.x's projects, `hpogrid project create NAME ...` makes one) and run by its name"
        )
    return text  # not a project: today's command says so, with its list


def forward(ctx: click.Context, command: click.Command, args: list[str]):
    """Run today's `command` on these arguments, parsed by its own parser (so a 1.3.3 form means what
    the today's form does), as a subcommand of `hpogrid`."""
    root = ctx.find_root()
    with command.make_context(command.name, list(args), parent=root) as sub:
        return command.invoke(sub)


@click.command(
    "submit",
    short_help="hpogrid 1.3.3's form of `run` and `submit_idds`.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    help="hpogrid 1.3.3's `submit`: `--mode grid` is today's `hpogrid run`, `--mode idds` is "
    "`hpogrid submit_idds`; other options (today's) go to that command.\n\n"
    "\b\nExamples:\n  hpogrid submit mnist_cnn -n 3 -s ANALY_BNL_GPU_ARC\n"
    "      # = hpogrid run mnist_cnn --n_jobs 3 --site ANALY_BNL_GPU_ARC\n"
    "  hpogrid submit mnist_cnn --mode idds   # = hpogrid submit_idds mnist_cnn",
)
@click.argument("project", metavar="INPUT", shell_complete=project_names())
@click.option(
    "-n",
    "--n_jobs",
    "n_jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Jobs of ONE task sharing num_trials (1.3.3: N tasks each running the whole search).",
)
@click.option("-s", "--site", metavar="SITES", help="Grid site(s), comma-separated; overrides grid_config.site.")
@click.option(
    "-t",
    "--time",
    "seconds",
    type=int,
    default=-1,
    metavar="SECONDS",
    help="1.3.3: prun's --maxCpuCount in seconds, which prun no longer uses; taken as a wall time "
    "(run --time) of as many hours, rounded up.",
)
@click.option("-m", "--mode", type=click.Choice(["grid", "idds"]), default="grid", show_default=True)
@click.option("-p", "--search_points", metavar="FILE", help="Not on the grid today (local_run --search_points).")
@click.option("-d", "--debug", "debug", is_flag=True, help="1.3.3: print the prun command (today: --dry-run).")
@click.option("--scripts_path", metavar="PATH", help="1.3.3: scripts of a project configuration file (unused).")
@click.pass_context
def submit(ctx, project, n_jobs, site, seconds, mode, search_points, debug, scripts_path):
    from hpogrid.cli.grid import run, submit_idds

    project = project_input(project)
    if search_points:
        raise click.UsageError(
            "--search_points: grid jobs do not take search points today; run them with "
            "`hpogrid local_run PROJECT --search_points FILE`, or learn from earlier trials with --warm_start"
        )
    if debug:
        note("--debug of hpogrid 1.3.3 printed the prun command; today `--dry-run` shows the task without submitting")
    if scripts_path:
        note("--scripts_path is not used: a project keeps its own copy of the scripts (`hpogrid project update`)")
    args = [project, *(["--site", site] if site else []), *ctx.args]
    if mode == "idds":
        if n_jobs != 1:
            raise click.UsageError(
                "--n_jobs with --mode idds: hpogrid 1.3.3 submitted N separate iDDS tasks; today ONE iDDS task "
                "runs the coordinated search (--max_points): submit again for another task"
            )
        return forward(ctx, submit_idds, args)
    if n_jobs > 1:
        note(f"--n_jobs {n_jobs} is one task of {n_jobs} jobs sharing num_trials (1.3.3: {n_jobs} whole searches)")
    if seconds > 0:
        hours = math.ceil(seconds / 3600)
        note(
            f"--time {seconds} of hpogrid 1.3.3 was prun's --maxCpuCount (seconds); taken as a wall time of "
            f"{hours} hour(s) (`hpogrid run --time {hours}`)"
        )
        args += ["--time", str(hours)]
    return forward(ctx, run, [*args, "--n_jobs", str(n_jobs)])


def alias(name: str, short_help: str, help: str, target: Callable[[], click.Command], extra: tuple[str, ...] = ()):
    """A 1.3.3 command that is today's `target()` run on its arguments (+ `extra`), with its own help."""

    @click.command(
        name,
        short_help=short_help,
        help=help,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    @click.pass_context
    def command(ctx, args):
        if "-h" in args or "--help" in args:
            click.echo(ctx.get_help())
            return 0
        return forward(ctx, target(), [*args, *extra])

    return command


def _report() -> click.Command:
    from hpogrid.cli.report import report

    return report


def _logs() -> click.Command:
    from hpogrid.cli.tasks import logs

    return logs


report_grid = alias(
    "report_grid",
    "hpogrid 1.3.3's form of `report PROJECT --source grid`.",
    "hpogrid 1.3.3's `report_grid PROJECT`: today's `hpogrid report PROJECT --source grid` (same options).\n\n"
    "\b\nExample:\n  hpogrid report_grid mnist -d 7 -e site,taskid --to_csv   # hpogrid report mnist --source grid ...",
    _report,
    ("--source", "grid"),
)
idds_log = alias(
    "idds_log",
    "hpogrid 1.3.3's form of `tasks logs`.",
    "hpogrid 1.3.3's `idds_log ID`: today's `hpogrid tasks logs ID` (same options): the logs of the "
    "iDDS task's steering, from the iDDS server (1.3.3 saved them in /tmp; today in the current folder, or -o).\n\n"
    "\b\nExample:\n  hpogrid idds_log 41234567   # = hpogrid tasks logs 41234567",
    _logs,
)
