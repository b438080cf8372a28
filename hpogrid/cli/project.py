"""`hpogrid project <action>`: bundle configs and training scripts into a project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from hpogrid.cli.complete import config_names, project_names
from hpogrid.cli.options import glob_of, pattern_options
from hpogrid.cli.output import echo_config, echo_json, echo_table, load_all

CONFIG_OPTIONS = ("hpo_config", "grid_config", "model_config", "search_space")
CREATE_EXAMPLE = (
    "hpogrid project create simple_objective --scripts_path example/scripts/simple_objective.py \\\n"
    "      --model_config simple_model --search_space simple_space \\\n"
    "      --hpo_config random_min_loss --grid_config manc_standard"
)


def _store():
    from hpogrid.project import ProjectStore

    return ProjectStore()


# hpogrid 1.3.3's short options of `project create` (its clis/configuration.py)
SHORT_OPTIONS = {"model_config": "-m", "search_space": "-s", "hpo_config": "-o", "grid_config": "-g"}


def config_options(required_scripts: bool) -> Callable:
    """The options naming a project's scripts and configs (saved names or JSON files)."""

    def decorate(command: Callable) -> Callable:
        for kind in reversed(CONFIG_OPTIONS):
            command = click.option(
                SHORT_OPTIONS[kind],
                f"--{kind}",
                f"--{kind.replace('_', '-')}",
                kind,
                metavar="NAME_OR_FILE",
                shell_complete=config_names(kind, files=True),
                help=f"saved {kind} name, or a JSON file holding one",
            )(command)
        return click.option(
            "-p",
            "--scripts_path",
            "--scripts-path",
            "scripts_path",
            required=required_scripts,
            metavar="PATH",
            help="training script, or the folder holding the scripts (copied)",
        )(command)

    return decorate


@click.group("project", help="Bundle configs and training scripts into projects.")
def project() -> None:
    pass


@project.command(
    "create",
    help="Create a project from saved configs (or JSON files) and a training script or folder.\n\n"
    f"\b\nExample:\n  {CREATE_EXAMPLE}",
)
@click.argument("name")
@config_options(required_scripts=True)
def create(name: str, scripts_path: str, **refs: str | None) -> None:
    store = _store()
    outcome = store.create(name, refs, Path(scripts_path))
    if outcome == "unchanged":
        click.echo(f"Project '{name}' already exists with the same configs and scripts; nothing changed")
    else:
        click.echo(f"Created project '{name}' ({store.path(name)})")


@project.command(
    "recreate",
    help="Create a project, replacing any of that name (the old one is kept as a backup).\n\n"
    f"\b\nExample:\n  {CREATE_EXAMPLE.replace('create', 'recreate')}",
)
@click.argument("name", shell_complete=project_names())
@config_options(required_scripts=True)
def recreate(name: str, scripts_path: str, **refs: str | None) -> None:
    store = _store()
    backup = store.recreate(name, refs, Path(scripts_path))
    click.echo(f"Created project '{name}' ({store.path(name)})")
    if backup:
        click.echo(f"The previous version is kept at {backup}")


@project.command(
    "update",
    help="Swap some configs or the scripts of a project; results are kept.\n\n"
    "\b\nExample:\n  hpogrid project update simple_objective --hpo_config bayesian_min_loss",
)
@click.argument("name", shell_complete=project_names())
@config_options(required_scripts=False)
def update(name: str, scripts_path: str | None, **refs: str | None) -> None:
    if scripts_path is None and not any(refs.values()):
        raise click.UsageError("nothing to update: give --scripts_path or a --*_config/--search_space option")
    loaded, backup = _store().update(name, refs, Path(scripts_path) if scripts_path else None)
    click.echo(f"Updated project '{name}' ({loaded.path}); the previous version is kept at {backup}")


@project.command(
    "list", help="List projects (optionally those matching a glob).\n\n\b\nExample:\n  hpogrid project list 'mnist*'"
)
@pattern_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(pattern: str | None, expr: str | None, as_json: bool) -> None:
    pattern = glob_of(pattern, expr)
    store = _store()
    projects = list(load_all(store.names(pattern), store.load, "project").values())
    if as_json:
        echo_json([{"name": p.name, "path": str(p.path), **p.data} for p in projects])
        return
    rows = [
        [
            p.name,
            p.model_config["script"] + ":" + p.model_config["model"],
            p.hpo_config["algorithm"],
            p.hpo_config["scheduler"],
            p.hpo_config["num_trials"],
            p.data["updated"][:16].replace("T", " "),
        ]
        for p in projects
    ]
    echo_table(
        ["NAME", "MODEL", "ALGORITHM", "SCHEDULER", "TRIALS", "UPDATED"],
        rows,
        f"No projects{' match ' + repr(pattern) if pattern else ''} in {store.root}",
        width=40,
    )


@project.command("show", help="Show a project's configs.\n\n\b\nExample:\n  hpogrid project show simple_objective")
@click.argument("name", shell_complete=project_names())
@click.option("--json", "as_json", is_flag=True, help="Print the project file as JSON.")
def show(name: str, as_json: bool) -> None:
    loaded = _store().load(name)
    if as_json:
        echo_json(loaded.data)
        return
    data = loaded.data
    click.echo(f"Project {name}  ({loaded.path})")
    click.echo(f"created {data['created']}, updated {data['updated']}, hpogrid {data['hpogrid_version']}")
    scripts = sorted(str(p.relative_to(loaded.scripts_dir)) for p in loaded.scripts_dir.rglob("*") if p.is_file())
    click.echo(f"scripts: {', '.join(scripts)}")
    for kind in CONFIG_OPTIONS:
        click.echo(f"\n{kind} (from {data['sources'][kind]})")
        echo_config(kind, loaded.configs[kind])


@project.command(
    "where", help="Print the folder of a project.\n\n\b\nExample:\n  hpogrid project where simple_objective"
)
@click.argument("name", shell_complete=project_names())
def where(name: str) -> None:
    click.echo(_store().load(name).path)


@project.command(
    "remove",
    help="Delete projects by name or glob, with their results.\n\n"
    "\b\nExample:\n  hpogrid project remove old_project 'test_*'",
)
@click.argument("names", nargs=-1, required=True, shell_complete=project_names())
def remove(names: tuple[str, ...]) -> None:
    for name in _store().remove(list(names)):
        click.echo(f"Removed project '{name}'")
