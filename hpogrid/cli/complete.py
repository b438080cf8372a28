"""Shell completion of saved names (click's shell_complete): projects for PROJECT/NAME arguments, configs
for config NAME arguments and the --hpo_config/--model_config/--search_space/--grid_config options.

Completion runs `hpogrid` on every Tab: it only lists folders under $HPOGRID_BASE_PATH (no config is
read, no heavy library imported). Where a JSON file may stand for a name, files are offered too.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from click.shell_completion import CompletionItem

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _items(names: list[str], incomplete: str, files: bool) -> list[CompletionItem]:
    # bash: a "file" item lets the shell complete file names when no saved name matches (it comes first:
    # click's bash script empties the list it has so far when it meets one)
    found = [CompletionItem(n) for n in names if n.startswith(incomplete)]
    return ([CompletionItem(incomplete, type="file")] if files else []) + found


def project_names(files: bool = False) -> Completer:
    """Completes the names of saved projects (and file names, for `report`, which also reads files)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from hpogrid.project import ProjectStore

        return _items(ProjectStore().names(), incomplete, files)

    return complete


def config_names(kind: str, files: bool = False) -> Completer:
    """Completes the names of saved configs of one type (and file names, where a JSON file may stand for one)."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from hpogrid.configs.store import ConfigStore

        return _items(ConfigStore(kind).names(), incomplete, files)

    return complete
