"""The config store: named JSON files under $HPOGRID_BASE_PATH/config/<type>/<name>.json.

Writes are atomic (temporary file + rename) and serialized by a lock per config type, so several
processes changing the same config never corrupt it or lose one another's update.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpogrid import paths
from hpogrid.configs import grid, hpo, model
from hpogrid.configs.fields import Schema, show
from hpogrid.errors import ExistsError, HpogridError, NotFoundError, ValidationError, did_you_mean
from hpogrid.fileio import locked, write_json_atomic

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
NAME_RULE = "use letters, digits, '_', '.' and '-', at most 128 characters, not starting with '.' or '-'"
GLOB_CHARS = set("*?[")


def check_name(name: str, what: str) -> str:
    """Return name if it is a valid config/project name, else raise a ValidationError."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValidationError(what, "name", f"got {show(name)}: {NAME_RULE}")
    return name


@dataclass(frozen=True)
class ConfigType:
    """A kind of config: how to validate one and how an update merges into it."""

    kind: str
    validate: Callable[[Any], dict]
    merge: Callable[[dict, dict], dict]
    schema: Schema | None = None


def _schema_type(schema: Schema) -> ConfigType:
    return ConfigType(schema.kind, schema.validate, lambda old, new: {**old, **new}, schema)


def _validate_space(tree: Any) -> dict:
    from hpogrid.space.model import SearchSpace

    return SearchSpace.parse(tree).to_json()


def _merge_space(old: dict, new: dict) -> dict:
    return {**old, **new}


CONFIG_TYPES: dict[str, ConfigType] = {
    "hpo_config": _schema_type(hpo.SCHEMA),
    "grid_config": _schema_type(grid.SCHEMA),
    "model_config": _schema_type(model.SCHEMA),
    "search_space": ConfigType("search_space", _validate_space, _merge_space),
}


YAML_SUFFIXES = (".yaml", ".yml")  # files read as YAML wherever a config, space or points file is taken


def read_json_file(path: Path, what: str) -> Any:
    """Read a JSON file (or a YAML file: .yaml, .yml); a missing or broken file is a one-line error naming it."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise NotFoundError(f"{what}: file not found: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise HpogridError(f"{what}: cannot read {path}: {exc}") from None
    if Path(path).suffix.lower() in YAML_SUFFIXES:
        from hpogrid.yamlfile import loads as yaml_loads

        return yaml_loads(text, f"{what}: {path}")
    from hpogrid.strictjson import StrictJSONError, loads

    try:
        return loads(text)
    except StrictJSONError as exc:
        raise HpogridError(f"{what}: {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise HpogridError(
            f"{what}: {path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None


def load_config_file(kind: str, path: Path) -> dict:
    """Load and validate a config of the given type from any JSON (or YAML) file; hpogrid 1.x's forms of
    it are read as today's, said once on stderr."""
    from hpogrid.configs import legacy

    data, changes = legacy.normalise(kind, read_json_file(path, kind))  # 1.x's forms, read as today's
    try:
        clean = CONFIG_TYPES[kind].validate(data)
    except ValidationError as exc:
        raise ValidationError(exc.where, exc.field, f"{exc.detail} (in {path})") from None
    legacy.tell(kind, str(path), changes)
    return clean


class ConfigStore:
    """The saved configs of one type."""

    def __init__(self, kind: str, root: Path | None = None):
        if kind not in CONFIG_TYPES:
            raise ValueError(f"unknown config type {kind!r}")
        self.kind = kind
        self.type = CONFIG_TYPES[kind]
        self.root = Path(root) if root else paths.config_dir(kind)

    # -- reading --------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name, self.kind)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def names(self, pattern: str | None = None) -> list[str]:
        if not self.root.is_dir():
            return []
        found = sorted(p.stem for p in self.root.glob("*.json") if p.is_file() and NAME.fullmatch(p.stem))
        return [n for n in found if pattern is None or fnmatch.fnmatchcase(n, pattern)]

    def load(self, name: str) -> dict:
        path = self.path(name)
        if not path.is_file():
            raise self.not_found(name)
        return load_config_file(self.kind, path)

    def not_found(self, name: str) -> NotFoundError:
        hint = did_you_mean(name, self.names())
        return NotFoundError(
            f"no {self.kind} named '{name}'{hint}; see `hpogrid {self.kind} list`, "
            f"or create it with `hpogrid {self.kind} create {name} ...`"
        )

    # -- writing --------------------------------------------------------------------------------
    def _lock(self):
        return locked(self.root / ".lock")

    def create(self, name: str, config: Any) -> str:
        """Save a new config. Returns 'created', or 'unchanged' when the same config exists."""
        clean = self.type.validate(config)
        path = self.path(name)
        with self._lock():
            if path.is_file():
                if self._current(path) == clean:
                    return "unchanged"
                raise ExistsError(
                    f"{self.kind} '{name}' exists with other settings; replace it with "
                    f"`hpogrid {self.kind} recreate {name} ...` or change it with "
                    f"`hpogrid {self.kind} update {name} ...`"
                )
            write_json_atomic(path, clean)
        return "created"

    def recreate(self, name: str, config: Any) -> str:
        """Save a config, replacing any old one. Returns 'replaced' or 'created'."""
        clean = self.type.validate(config)
        path = self.path(name)
        with self._lock():
            existed = path.is_file()
            write_json_atomic(path, clean)
        return "replaced" if existed else "created"

    def update(self, name: str, changes: Any) -> dict:
        """Change some settings of a saved config, keeping the others. Returns the new config."""
        path = self.path(name)
        with self._lock():
            if not path.is_file():
                raise self.not_found(name)
            merged = self.type.merge(self._current(path), changes)
            clean = self.type.validate(merged)
            write_json_atomic(path, clean)
        return clean

    def remove(self, patterns: list[str]) -> list[str]:
        """Remove configs by name or glob. Nothing is removed unless every pattern matches."""
        with self._lock():
            doomed: list[str] = []
            for pattern in patterns:
                if GLOB_CHARS & set(pattern):
                    matched = self.names(pattern)
                else:
                    matched = [check_name(pattern, self.kind)] if self.exists(pattern) else []
                if not matched and GLOB_CHARS & set(pattern):
                    raise NotFoundError(f"no {self.kind} matches '{pattern}'; see `hpogrid {self.kind} list`")
                if not matched:
                    raise self.not_found(pattern)
                doomed.extend(n for n in matched if n not in doomed)
            for name in doomed:
                self.path(name).unlink()
        return doomed

    def _current(self, path: Path) -> dict:
        return load_config_file(self.kind, path)
