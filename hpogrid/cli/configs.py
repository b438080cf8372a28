"""`hpogrid hpo_config|grid_config|model_config|search_space <action>`: manage saved configs.

The options of the first three are generated from their schemas (hpogrid.configs.*), so the
command line and JSON files accept exactly the same fields.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hpogrid.cli.complete import config_names
from hpogrid.cli.options import glob_of, pattern_options
from hpogrid.cli.output import echo_config, echo_json, echo_table, load_all, say
from hpogrid.configs.fields import Field, Schema
from hpogrid.configs.store import CONFIG_TYPES, ConfigStore

EXAMPLES = {
    "hpo_config": {
        "create": "hpogrid hpo_config create my_hpo --algorithm random --metric loss --mode min --num_trials 100",
        "recreate": "hpogrid hpo_config recreate my_hpo --algorithm bayesian --metric loss --mode min",
        "update": "hpogrid hpo_config update my_hpo --algorithm hyperopt --max_concurrent 4",
    },
    "grid_config": {
        "create": "hpogrid grid_config create my_grid --site ANALY_MANC_GPU_TEST --inDS user.me.mydata01",
        "recreate": "hpogrid grid_config recreate my_grid --site ANALY_BNL_GPU_ARC",
        "update": "hpogrid grid_config update my_grid --retry",
    },
    "model_config": {
        "create": "hpogrid model_config create my_model --script train.py --model train --param '{\"epochs\": 100}'",
        "recreate": "hpogrid model_config recreate my_model --script train.py --model revised_rnn",
        "update": "hpogrid model_config update my_model --model revised_rnn",
    },
    "search_space": {
        "create": "hpogrid search_space create my_space "
        '\'{"lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-2}}}\'',
        "recreate": "hpogrid search_space recreate my_space space.json",
        "update": "hpogrid search_space update my_space "
        '\'{"momentum": {"method": "uniform", "dimension": {"low": 0.5, "high": 1}}}\'',
    },
}
ACTION_HELP = {
    "create": "Create a new {kind}. Creating one identical to a saved one changes nothing.",
    "recreate": "Create a {kind}, replacing any saved one of that name (unset options get defaults).",
    "update": "Change some settings of a saved {kind}, keeping the others.",
}


# hpogrid 1.3.3's short options (its clis/configuration.py); none clashes with today's options
SHORT_OPTIONS = {
    "hpo_config": {
        **{"algorithm": "-a", "scheduler": "-s", "metric": "-m", "extra_metrics": "-e", "mode": "-o"},
        **{"resource": "-r", "num_trials": "-n", "log_dir": "-l", "verbose": "-v", "max_concurrent": "-c"},
    },
    "grid_config": {"site": "-s", "container": "-c", "inDS": "-i", "outDS": "-o", "retry": "-r"},
    "model_config": {"script": "-s", "model": "-m", "param": "-p"},
}


def _option_names(field: Field, short: str | None = None) -> list[str]:
    names = [f"--{field.name}", *([short] if short else [])]
    dashed = field.name.replace("_", "-")
    if dashed != field.name:
        names.append(f"--{dashed}")
    return names


def _field_option(field: Field, short: str | None = None) -> Callable:
    """A click option for a schema field. Every option defaults to None, meaning "not given"."""
    help_text = field.help
    if field.kind == "choice":
        help_text += f" [{'|'.join(field.choices)}]"
    if field.default not in (None, [], {}) and not field.required:
        shown = field.default if isinstance(field.default, str) else json.dumps(field.default)
        help_text += f" (default: {shown})"
    if field.example:
        help_text += f", e.g. '{field.example}'"
    if field.kind == "bool":
        dashed = field.name.replace("_", "-")
        names = [f"--{field.name}/--no-{dashed}", *([short] if short else [])]
        return click.option(*names, field.name, default=None, help=help_text)
    return click.option(
        *_option_names(field, short),
        field.name,
        default=None,
        multiple=field.kind == "str_list",
        metavar=field.metavar or field.kind.upper(),
        help=help_text,
    )


def _given(schema: Schema, options: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave, turned into JSON values (validated later, all together)."""
    values = {}
    for field in schema.fields:
        raw = options.get(field.name)
        if raw is None or raw == ():
            continue
        values[field.name] = raw if field.kind == "bool" else field.from_cli(raw, schema.kind)
    return values


def _space_argument(text: str) -> Any:
    """A search space typed as JSON, or the path of a JSON file holding one."""
    from hpogrid.configs.fields import parse_json
    from hpogrid.configs.store import read_json_file
    from hpogrid.fileio import kind_of

    if not text.lstrip().startswith("{") and kind_of(Path(text).expanduser()) == "file":
        return read_json_file(Path(text).expanduser(), "search_space")
    return parse_json(text, "search_space", None, expect="a JSON object")


def _save(kind: str, action: str, name: str, value: Any) -> None:
    """create, recreate or update a config, and say what happened."""
    target = ConfigStore(kind)
    if action == "update":
        target.update(name, value)
        outcome = "updated"
    else:
        outcome = getattr(target, action)(name, value)
    _report(kind, name, outcome, target)


def _report(kind: str, name: str, outcome: str, store: ConfigStore) -> None:
    messages = {
        "created": f"Created {kind} '{name}'",
        "replaced": f"Replaced {kind} '{name}'",
        "updated": f"Updated {kind} '{name}'",
        "unchanged": f"{kind} '{name}' already exists with the same settings; nothing changed",
    }
    click.echo(f"{messages[outcome]} ({store.path(name)})")


def _summary(kind: str, config: dict) -> list[Any]:
    schema = CONFIG_TYPES[kind].schema
    if schema:
        return [config.get(c) for c in schema.summary_columns]
    return [", ".join(config)]


def _summary_headers(kind: str) -> list[str]:
    schema = CONFIG_TYPES[kind].schema
    if schema:
        return [c.upper() for c in schema.summary_columns]
    return ["HYPERPARAMETERS"]


class LegacyArgsCommand(click.Command):
    """A config command that also takes hpogrid 1.x's `-v/--verbose LEVEL` (a Ray Tune verbosity, 0-3):
    LEVEL 0 is --no-verbose, more is --verbose."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, legacy_verbose(args))


def legacy_verbose(args: list[str]) -> list[str]:
    """args with hpogrid 1.x's `--verbose N`, `--verbose=N`, `-v N` and `-vN` as today's on/off flags."""
    out: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            out += [arg, *rest]
            break
        level = None
        if arg in ("-v", "--verbose"):
            following = next(rest, None)
            if following is not None and following.isdigit():
                level = int(following)
            else:
                out.append(arg)
                arg = following
        elif arg.startswith("--verbose=") and arg[10:].isdigit():
            level = int(arg[10:])
        elif arg.startswith("-v") and arg[2:].isdigit():
            level = int(arg[2:])
        if level is not None:
            out.append("--verbose" if level > 0 else "--no-verbose")
        elif arg is not None:
            out.append(arg)
    return out


def make_group(kind: str) -> click.Group:
    """The command group of one config type."""
    config_type = CONFIG_TYPES[kind]
    schema = config_type.schema
    store = lambda: ConfigStore(kind)  # noqa: E731 - resolved per call: HPOGRID_BASE_PATH may change

    @click.group(kind, help=f"Create, change, list and show {kind}s.")
    def group() -> None:
        pass

    def writer(action: str) -> click.Command:
        example = EXAMPLES[kind][action]
        if schema:

            def command(name: str, preset: str | None = None, extra: str | None = None, **options: Any) -> None:
                if extra is not None:
                    say("Note", "--extra is ignored: hpogrid 1.x saved it but never passed it to PanDA either")
                given = _given(schema, options)
                if kind == "grid_config":  # 1.x's outDS placeholders, e.g. {HPO_PROJECT_NAME}
                    from hpogrid.configs.legacy import normalise

                    given, changes = normalise(kind, given)
                    if changes:
                        say("Note", f"read as today's: {'; '.join(changes)}")
                if preset:
                    from hpogrid.presets import preset as preset_fields

                    given = {**preset_fields(preset), **given}  # explicit options override the preset
                _save(kind, action, name, given)

            for field in reversed(schema.fields):
                command = _field_option(field, SHORT_OPTIONS[kind].get(field.name))(command)
            if kind == "grid_config":
                command = click.option(
                    "-e",
                    "--extra",
                    metavar="JSON",
                    help="hpogrid 1.x's extra options for PanDA: accepted and ignored (1.x ignored them too).",
                )(command)
            if kind == "hpo_config" and action != "update":
                command = click.option(
                    "--preset",
                    metavar="NAME",
                    help="Start from a preset (hpogrid hpo_config presets); options given override it.",
                )(command)
        else:

            def command(name: str, space: str | None, space_option: str | None) -> None:
                if (space is None) == (space_option is None):
                    raise click.UsageError("give the search space once: as SPACE_JSON_OR_FILE or as -s/--search_space")
                _save(kind, action, name, _space_argument(space or space_option))

            command = click.option(
                "-s",
                "--search_space",
                "space_option",
                metavar="JSON_OR_FILE",
                help="The search space, as hpogrid 1.x took it (the same as SPACE_JSON_OR_FILE).",
            )(command)
            command = click.argument("space", metavar="SPACE_JSON_OR_FILE", required=False)(command)
        names = config_names(kind) if action != "create" else None  # a new name has nothing to complete
        command = click.argument("name", shell_complete=names)(command)
        help_text = ACTION_HELP[action].format(kind=kind) + f"\n\n\b\nExample:\n  {example}"
        cls = LegacyArgsCommand if kind == "hpo_config" else click.Command
        return click.command(action, cls=cls, help=help_text)(command)

    for action in ("create", "recreate", "update"):
        group.add_command(writer(action))

    @group.command(
        "list",
        help=f"List saved {kind}s (optionally those matching a glob).\n\n\b\nExample:\n  hpogrid {kind} list 'my_*'",
    )
    @pattern_options
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    def list_(pattern: str | None, expr: str | None, as_json: bool) -> None:
        pattern = glob_of(pattern, expr)
        target = store()
        names = target.names(pattern)
        configs = load_all(names, target.load, kind)
        if as_json:
            echo_json([{"name": n, "config": c} for n, c in configs.items()])
            return
        rows = []
        for n in configs:
            modified = dt.datetime.fromtimestamp(target.path(n).stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            rows.append([n, *_summary(kind, configs[n]), modified])
        echo_table(
            ["NAME", *_summary_headers(kind), "MODIFIED"],
            rows,
            f"No {kind}s{' match ' + repr(pattern) if pattern else ''} in {target.root}",
            width=40,
        )

    @group.command("show", help=f"Show a saved {kind}.\n\n\b\nExample:\n  hpogrid {kind} show my_config")
    @click.argument("name", shell_complete=config_names(kind))
    @click.option("--json", "as_json", is_flag=True, help="Print the JSON as saved.")
    def show(name: str, as_json: bool) -> None:
        config = store().load(name)
        if as_json:
            echo_json(config)
            return
        echo_config(kind, config)

    @group.command("where", help=f"Print the path of a saved {kind}.\n\n\b\nExample:\n  hpogrid {kind} where my_config")
    @click.argument("name", shell_complete=config_names(kind))
    def where(name: str) -> None:
        target = store()
        if not target.exists(name):
            raise target.not_found(name)
        click.echo(target.path(name))

    @group.command(
        "remove",
        help=f"Remove saved {kind}s by name or glob.\n\n\b\nExample:\n  hpogrid {kind} remove old_config 'test_*'",
    )
    @click.argument("names", nargs=-1, required=True, shell_complete=config_names(kind))
    def remove(names: tuple[str, ...]) -> None:
        for name in store().remove(list(names)):
            click.echo(f"Removed {kind} '{name}'")

    return group


hpo_config = make_group("hpo_config")


@hpo_config.command(
    "presets",
    help="List the presets of `hpo_config create NAME --preset PRESET` and hpogrid.optimize(preset=...).\n\n"
    "\b\nExamples:\n  hpogrid hpo_config presets\n"
    "  hpogrid hpo_config create my_hpo --preset standard --metric accuracy --mode max",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def presets(as_json: bool) -> None:
    from hpogrid.presets import PRESETS

    if as_json:
        echo_json({name: {"for": text, "hpo_config": fields} for name, (text, fields) in PRESETS.items()})
        return
    import shutil
    import textwrap

    rows = [[name, *(f.get(k, "-") for k in PRESET_COLUMNS)] for name, (_, f) in PRESETS.items()]
    echo_table(["PRESET", *(k.upper() for k in PRESET_COLUMNS)], rows, "No presets.")
    width = min(shutil.get_terminal_size((100, 24)).columns, 100) - 1
    for name, (text, _) in PRESETS.items():
        click.echo("\n" + textwrap.fill(f"{name}: {text}", width, subsequent_indent="  "))


PRESET_COLUMNS = ("algorithm", "scheduler", "num_trials", "max_concurrent", "seed")


grid_config = make_group("grid_config")
model_config = make_group("model_config")
search_space = make_group("search_space")
