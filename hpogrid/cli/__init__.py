"""The `hpogrid` command: a thin click layer over the library. Parse, call, print.

User errors (HpogridError) print one line and exit 2; --debug shows the traceback.
Heavy libraries are never imported here: command modules import them inside their commands.
"""

from __future__ import annotations

import errno
import sys

import click

from hpogrid._version import __version__
from hpogrid.errors import HpogridError

# (module, attribute) of each command, loaded only when it is called or listed
COMMANDS = {
    "hpo_config": ("hpogrid.cli.configs", "hpo_config"),
    "grid_config": ("hpogrid.cli.configs", "grid_config"),
    "model_config": ("hpogrid.cli.configs", "model_config"),
    "search_space": ("hpogrid.cli.configs", "search_space"),
    "project": ("hpogrid.cli.project", "project"),
    "local_run": ("hpogrid.cli.local_run", "local_run"),
    "run": ("hpogrid.cli.grid", "run"),
    "job_run": ("hpogrid.cli.grid", "job_run"),
    "submit_idds": ("hpogrid.cli.grid", "submit_idds"),
    "tasks": ("hpogrid.cli.tasks", "tasks"),
    "generate": ("hpogrid.cli.grid", "generate"),
    "evaluate": ("hpogrid.cli.grid", "evaluate"),
    "sites": ("hpogrid.cli.grid", "sites"),
    "report": ("hpogrid.cli.report", "report"),
    "submit": ("hpogrid.cli.legacy", "submit"),  # hpogrid 1.3.3's command lines
    "report_grid": ("hpogrid.cli.legacy", "report_grid"),
    "idds_log": ("hpogrid.cli.legacy", "idds_log"),
    "migrate": ("hpogrid.cli.migrate", "migrate"),
}


# the entry points grid jobs and iDDS call: hidden from completion, listed apart in `hpogrid --help`
IN_JOB = ("job_run", "generate", "evaluate")


class LazyGroup(click.Group):
    """A group whose subcommands live in other modules and are imported on first use."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands a user runs, then those grid jobs run (hidden=True, so click's list leaves them out)."""
        super().format_commands(ctx, formatter)
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, self.get_command(ctx, name).get_short_help_str(limit)) for name in IN_JOB]
        with formatter.section("Inside grid jobs (the grid runs these, not you)"):
            formatter.write_dl(rows)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        import importlib

        module, attribute = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            from hpogrid.errors import did_you_mean

            ctx.fail(f"no such command '{name}'{did_you_mean(name, COMMANDS)}; see `hpogrid --help`")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hpogrid", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Hyperparameter optimization with Ray Tune, locally and on the ATLAS grid.

    \b
    Describe a search in four configs, bundle them with your training script into a project:
      hpogrid hpo_config create my_hpo --algorithm random --metric loss --mode min --num_trials 100
      hpogrid search_space create my_space '{"lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-2}}}'
      hpogrid model_config create my_model --script train.py --model train
      hpogrid grid_config create my_grid --site ANALY_MANC_GPU_TEST
      hpogrid project create my_project --scripts_path train.py --hpo_config my_hpo \\
          --search_space my_space --model_config my_model --grid_config my_grid

    Configs and projects live under $HPOGRID_BASE_PATH (default: ~/.local/share/hpogrid).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hpogrid` console script. Every failure ends in one line on stderr:
    exit 2 for bad input or usage, 1 for an internal error (a bug), 130 when interrupted."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="hpogrid", standalone_mode=False)
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.UsageError as exc:
        _say_error(_usage_message(exc))
        return exc.exit_code
    except click.ClickException as exc:
        _say_error(exc.format_message())
        return exc.exit_code
    except HpogridError as exc:
        if debug:
            raise
        _say_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # a full disk or a folder not writable is exit 2; anything else is a bug
        if debug:
            raise
        if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT_ERRORS:
            _say_error(f"{exc.strerror}: {exc.filename}{_ENVIRONMENT_ERRORS[exc.errno]}")
            return 2
        _say_error(
            f"internal error ({type(exc).__name__}: {exc}), a bug in hpogrid {__version__}: please report it "
            f"with {_save_traceback(args)} (see 'When something goes wrong' in the README)"
        )
        return 1
    return result if isinstance(result, int) else 0  # click returns the code of --help/--version


# errors of the machine, not of hpogrid: the user can fix them (a bug is still exit 1)
_ENVIRONMENT_ERRORS = {
    errno.EACCES: " (check the permissions, or set HPOGRID_BASE_PATH to a folder you can write)",
    errno.EPERM: " (check the permissions, or set HPOGRID_BASE_PATH to a folder you can write)",
    errno.EROFS: " (set HPOGRID_BASE_PATH to a writable folder)",
    errno.ENOSPC: " (free some space and run the command again)",
    errno.EDQUOT: " (free some space and run the command again)",
    errno.ENAMETOOLONG: " (use a shorter name)",
}


def _say_error(message: object) -> None:
    from hpogrid.cli.output import say

    say("Error", message)


def _usage_message(exc: click.UsageError) -> str:
    """click's usage error as one line, pointing at the command's --help."""
    message = exc.format_message().strip()
    if exc.ctx is not None and "--help" not in message:
        message = message.removesuffix(".") + f"; see `{exc.ctx.command_path} --help`"
    return message


def _save_traceback(args: list[str]) -> str:
    """Write the traceback of the exception being handled to a new temporary file and say where; the
    command line is kept with it, the environment (which may hold credentials) is not."""
    import platform
    import tempfile
    import traceback

    try:
        fd, path = tempfile.mkstemp(prefix="hpogrid-crash-", suffix=".txt")
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(f"hpogrid {__version__}, Python {platform.python_version()}, {platform.platform()}\n")
            handle.write(f"command: hpogrid {' '.join(args)}\n\n")
            handle.write(traceback.format_exc())
    except Exception:  # no temporary folder either: the traceback is one --debug away
        return "the traceback that --debug shows"
    return f"the traceback in {path}"
