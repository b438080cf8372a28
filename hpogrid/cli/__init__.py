"""The `hpogrid` command: a thin click layer over the library. Parse, call, print.

User errors (HpogridError) print one line and exit 2; --debug shows the traceback.
Heavy libraries are never imported here: command modules import them inside their commands.
"""

from __future__ import annotations

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
}


class LazyGroup(click.Group):
    """A group whose subcommands live in other modules and are imported on first use."""

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
    """Entry point of the `hpogrid` console script."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="hpogrid", standalone_mode=False)
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except HpogridError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except Exception as exc:  # a bug: say so in one line, the traceback on request
        if debug:
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {exc}); rerun with --debug for the traceback and report it",
            err=True,
        )
        return 1
    return result if isinstance(result, int) else 0  # click returns the code of --help/--version
