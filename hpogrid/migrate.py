"""Importing an hpogrid 1.x data folder into today's store (`hpogrid migrate`, issue 15).

Where hpogrid 1.x kept its data:
  1.3.x        <site-packages>/hpogrid/userdata/{hpo,grid,model,search_space}/NAME.json and
               userdata/projects/NAME/{config/config.json, scripts/}
  1.0-1.2      $HPOGRID_BASE_PATH/config/{hpo_config,grid_config,model_config,search_space}/NAME.json and
               projects/NAME/{config/project_config.json, scripts/}
  0.x          $HPOGRID_BASE_PATH/config/{hpo,grid,model,search_space}/NAME.json (projects as 1.0)
A 1.x project's config file holds copies of its configs (any may be missing: 1.x skipped those not given).

Each config and project is read leniently (hpogrid.configs.legacy), validated as today's, and saved in
today's form. Nothing that exists is overwritten unless `force` (a replaced project is kept as a backup);
one identical to what would be written is "unchanged", so a second run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpogrid.configs import legacy
from hpogrid.configs.store import CONFIG_TYPES, NAME, ConfigStore, read_json_file
from hpogrid.errors import HpogridError, NotFoundError

# today's kind -> the folder names 1.x used for it, newest first
CONFIG_FOLDERS = {
    "hpo_config": ("hpo", "config/hpo_config", "config/hpo"),
    "grid_config": ("grid", "config/grid_config", "config/grid"),
    "model_config": ("model", "config/model_config", "config/model"),
    "search_space": ("search_space", "config/search_space"),
}
PROJECT_FILES = ("config/config.json", "config/project_config.json")  # 1.3.x, then 1.0-1.2
KINDS = tuple(CONFIG_FOLDERS)


@dataclass
class Item:
    """One config or project of the 1.x folder and what became (or would become) of it."""

    kind: str  # a config kind or "project"
    name: str
    source: Path
    outcome: str = ""  # imported, replaced, unchanged, skipped (with dry_run: "would ..." forms)
    detail: str = ""  # what was normalised, or why it was skipped


def data_folder(source: Path) -> Path:
    """The 1.x data folder in or at `source` (a userdata folder, the 1.x package, or a base path)."""
    source = Path(source).expanduser()
    if not source.is_dir():
        raise NotFoundError(f"migrate: no such folder: {source}")
    for candidate in (source, source / "userdata", source / "hpogrid" / "userdata"):
        if _holds_data(candidate):
            return candidate
    raise NotFoundError(
        f"migrate: {source} holds no hpogrid 1.x data; give the 1.x userdata folder "
        "(site-packages/hpogrid/userdata) or the HPOGRID_BASE_PATH 1.x used"
    )


def _holds_data(folder: Path) -> bool:
    configs = any((folder / f).is_dir() for folders in CONFIG_FOLDERS.values() for f in folders)
    return configs or any(_project_file(p) for p in _subfolders(folder / "projects"))


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def _project_file(folder: Path) -> Path | None:
    return next((folder / f for f in PROJECT_FILES if (folder / f).is_file()), None)


def find(folder: Path) -> list[Item]:
    """Every config and project of a 1.x data folder, not yet looked into."""
    items = []
    for kind, folders in CONFIG_FOLDERS.items():
        seen: set[str] = set()
        for sub in folders:
            for path in sorted((folder / sub).glob("*.json")) if (folder / sub).is_dir() else []:
                if path.stem not in seen:  # the same name in two layouts: the newest layout's
                    seen.add(path.stem)
                    items.append(Item(kind, path.stem, path))
    for project in _subfolders(folder / "projects"):
        path = _project_file(project)
        if path:
            items.append(Item("project", project.name, path))
    return items


def migrate(source: Path, force: bool = False, dry_run: bool = False) -> list[Item]:
    """Import every config and project of a 1.x data folder; what became of each, in order."""
    folder = data_folder(source)
    items = find(folder)
    for item in items:
        try:
            if item.kind == "project":
                _project(item, force, dry_run)
            else:
                _config(item, force, dry_run)
        except HpogridError as exc:
            item.outcome, item.detail = "skipped", str(exc)
    return items


def _check_name(item: Item) -> None:
    if not NAME.fullmatch(item.name):
        raise HpogridError(f"'{item.name}' is not a name today's hpogrid takes (letters, digits, '_', '.', '-')")


def _config(item: Item, force: bool, dry_run: bool) -> None:
    _check_name(item)
    data, changes = legacy.normalise(item.kind, read_json_file(item.source, item.kind))
    clean = CONFIG_TYPES[item.kind].validate(data)
    item.detail = "; ".join(changes)
    store = ConfigStore(item.kind)
    target = store.path(item.name)
    if target.is_file() and target.resolve() != item.source.resolve():
        current = _current(store, item.name)
        if current == clean:
            item.outcome, item.detail = "unchanged", "already imported"
            return
        if not force:
            item.outcome = "skipped"
            item.detail = f"a different {item.kind} '{item.name}' exists (--force replaces it)"
            return
        item.outcome = "replaced"
    elif target.is_file():  # the 1.x folder is today's store: rewritten in today's form
        item.outcome = "unchanged" if not changes else "normalised"
    else:
        item.outcome = "imported"
    if dry_run:
        item.outcome = f"would be {item.outcome}" if item.outcome != "unchanged" else item.outcome
        return
    if item.outcome != "unchanged":
        store.recreate(item.name, clean)


def _current(store: ConfigStore, name: str) -> Any:
    try:
        return store.load(name)
    except HpogridError:
        return None  # a broken saved config differs from any import


def _project(item: Item, force: bool, dry_run: bool) -> None:
    from hpogrid.project import ProjectStore, check_consistency

    _check_name(item)
    old = read_json_file(item.source, "project")
    if not isinstance(old, dict):
        raise HpogridError(f"{item.source} is not a 1.x project file (expected a JSON object)")
    configs, notes = {}, []
    for kind in KINDS:
        if old.get(kind) is None:
            if kind in ("hpo_config", "model_config", "search_space"):
                raise HpogridError(f"its config file has no {kind} (1.x made it without one)")
            notes.append(f"{kind}: none in 1.x, today's defaults")
            continue
        data, changes = legacy.normalise(kind, old[kind])
        configs[kind] = CONFIG_TYPES[kind].validate(data)
        notes += [f"{kind} {change}" for change in changes]
    scripts = item.source.parent.parent / "scripts"
    if not scripts.is_dir():
        raise HpogridError(f"it has no scripts folder ({scripts})")
    item.detail = "; ".join(notes)
    store = ProjectStore()
    full = {k: configs.get(k) or CONFIG_TYPES[k].validate({}) for k in KINDS}
    if store.exists(item.name):
        if store.same(store.load(item.name).data, {"configs": full, "scripts_digest": _digest(scripts)}):
            item.outcome, item.detail = "unchanged", "already imported"
            return
        if not force:
            item.outcome, item.detail = "skipped", f"a different project '{item.name}' exists (--force replaces it)"
            return
        item.outcome = "replaced"
    else:
        item.outcome = "imported"
    if dry_run:
        check_consistency(full, scripts)
        item.outcome = f"would be {item.outcome}"
        return
    if item.outcome == "replaced" or store.path(item.name).exists():  # replaced, or a 1.x project in place
        store.recreate(item.name, configs, scripts)
    else:
        store.create(item.name, configs, scripts)


def _digest(scripts: Path) -> str:
    """The digest a project made from these scripts would have (computed on a copy, as a project is built)."""
    import tempfile

    from hpogrid.project import SCRIPTS, copy_scripts, scripts_digest

    with tempfile.TemporaryDirectory(prefix="hpogrid-migrate-") as temp:
        copy_scripts(scripts, Path(temp) / SCRIPTS)
        return scripts_digest(Path(temp) / SCRIPTS)
