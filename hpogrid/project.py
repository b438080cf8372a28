"""Projects: the four configs and the training scripts, bundled under projects/<name>/.

    projects/<name>/project.json   the four configs (copies: later edits of a saved config do not
                                   change the project), where they came from, and a scripts digest
    projects/<name>/scripts/       a copy of the training script, or of the folder holding it
    projects/<name>/runs/          results of local runs (written by the runner)

A project is built in a hidden temporary folder and renamed into place, so it appears whole or
not at all. recreate and update keep the old version under projects/.backups/<name>.<time>/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpogrid import paths
from hpogrid._version import __version__
from hpogrid.configs.store import CONFIG_TYPES, NAME, YAML_SUFFIXES, ConfigStore, check_name, load_config_file
from hpogrid.errors import ExistsError, HpogridError, NotFoundError, ValidationError, did_you_mean
from hpogrid.fileio import kind_of, locked, write_json_atomic

CONFIG_KINDS = ("hpo_config", "grid_config", "model_config", "search_space")
REQUIRED_KINDS = ("hpo_config", "model_config", "search_space")
PROJECT_FILE = "project.json"
SCRIPTS = "scripts"
BACKUPS = ".backups"
# never copied into a project: version control, caches, editor and notebook litter (but the
# .hpogridignore that says what is not packed for the grid)
KEPT_DOTFILES = (".hpogridignore",)
_LITTER = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.pyo")


def _litter(folder: str, names: list[str]) -> set[str]:
    return {n for n in _LITTER(folder, names) if n not in KEPT_DOTFILES}


@dataclass
class Project:
    """A loaded project."""

    name: str
    path: Path
    data: dict

    @property
    def configs(self) -> dict[str, dict]:
        return self.data["configs"]

    @property
    def hpo_config(self) -> dict:
        return self.configs["hpo_config"]

    @property
    def grid_config(self) -> dict:
        return self.configs["grid_config"]

    @property
    def model_config(self) -> dict:
        return self.configs["model_config"]

    @property
    def search_space(self) -> dict:
        return self.configs["search_space"]

    @property
    def scripts_dir(self) -> Path:
        return self.path / SCRIPTS


# -- resolving configs -----------------------------------------------------------------------------
def resolve_config(kind: str, ref: str | dict) -> tuple[dict, str]:
    """A config given by saved name or by JSON file path -> (validated config, source)."""
    if isinstance(ref, dict):
        return CONFIG_TYPES[kind].validate(ref), "inline"
    looks_like_path = os.sep in ref or ref.endswith((".json", *YAML_SUFFIXES)) or not NAME.fullmatch(ref)
    if looks_like_path:
        path = Path(ref).expanduser()
        if kind_of(path) != "file":
            raise NotFoundError(f"--{kind}: no such file: {ref} (give a saved {kind} name or a JSON or YAML file)")
        return load_config_file(kind, path), str(path.resolve())
    return ConfigStore(kind).load(ref), ref


def check_consistency(configs: dict[str, dict], scripts_dir: Path) -> None:
    """Check that the configs fit together and the script defines the model."""
    from hpogrid.local.schedulers import check_space
    from hpogrid.scriptcheck import find_model
    from hpogrid.space.model import SearchSpace
    from hpogrid.space.translate import check, check_ax_constraints

    hpo, model = configs["hpo_config"], configs["model_config"]
    space = SearchSpace.parse(configs["search_space"])
    check(space, hpo["algorithm"])
    script = scripts_dir / model["script"]
    if not script.is_file():
        present = sorted(str(p.relative_to(scripts_dir)) for p in scripts_dir.rglob("*.py"))
        raise ValidationError(
            "model_config",
            "script",
            f"'{model['script']}' is not among the project's scripts"
            f"{did_you_mean(model['script'], present)} (scripts: {', '.join(present) or 'none'})",
        )
    check_space(hpo, space, model["param"])
    if hpo["algorithm"] == "ax":
        check_ax_constraints(space, hpo)
    if hpo["algorithm"] == "nevergrad":
        _check_nevergrad(hpo["algorithm_param"], space)
    if model.get("param_mapping"):
        from hpogrid.mapping import check as check_mapping

        check_mapping(
            model["param_mapping"], [d.name for d in space.dimensions], model["param"], "model_config.param_mapping"
        )
    definition = find_model(script, model["model"])
    top_level = {d.path[0] for d in space.dimensions}
    clash = sorted(top_level & set(model["param"]))
    if clash:
        raise ValidationError(
            "model_config",
            f"param.{clash[0]}",
            "is also a hyperparameter of the search space; remove it from one of them",
        )
    if definition.kind == "class" and not hpo["stop"]:
        raise ValidationError(
            "hpo_config",
            "stop",
            f"is empty, so the Trainable class '{model['model']}' would train forever; "
            "set e.g. --stop '{\"training_iteration\": 10}'",
        )


# -- scripts -------------------------------------------------------------------------------------
def copy_scripts(source: Path, target: Path) -> None:
    """Copy a script file, or a folder of scripts, into target/ (which must not exist)."""
    source = Path(source).expanduser()
    kind = kind_of(source)
    if kind == "dir":
        shutil.copytree(source, target, ignore=_litter, symlinks=False)
    elif kind == "file":
        target.mkdir(parents=True)
        shutil.copy2(source, target / source.name)
    else:
        raise NotFoundError(f"--scripts_path: no such file or folder: {source}")


def _check_nevergrad(param: dict, space) -> None:
    """The optimizer nevergrad has, that can search this space, with arguments it takes."""
    from hpogrid.configs.params import nevergrad_optimizer, nevergrad_optimizer_problem, nevergrad_param_problem
    from hpogrid.space.model import UNBOUNDED

    optimizer = param.get("optimizer")
    problem = optimizer and nevergrad_optimizer_problem(optimizer)
    if problem:
        raise ValidationError("hpo_config", "algorithm_param.optimizer", problem)
    unbounded = [d.name for d in space.searched if d.method in UNBOUNDED]
    if optimizer == "NGOpt" and unbounded:
        raise ValidationError(
            "hpo_config",
            "algorithm_param.optimizer",
            f"nevergrad's NGOpt hangs on unbounded dimensions such as '{unbounded[0]}' (nevergrad 1.0.12); "
            "leave the optimizer unset (OnePlusOne is used) or choose e.g. 'CMA'",
        )
    bad = nevergrad_param_problem(nevergrad_optimizer(param, bool(unbounded)), param.get("optimizer_param", {}))
    if bad:
        raise HpogridError(bad.message("hpo_config.algorithm_param.optimizer_param"))


def scripts_digest(folder: Path) -> str:
    """A digest of every file's relative path and content under folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


# -- the store -----------------------------------------------------------------------------------
class ProjectStore:
    """The projects under $HPOGRID_BASE_PATH/projects/."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else paths.projects_dir()

    def path(self, name: str) -> Path:
        return self.root / check_name(name, "project")

    def names(self, pattern: str | None = None) -> list[str]:
        if not self.root.is_dir():
            return []
        found = sorted(p.name for p in self.root.iterdir() if NAME.fullmatch(p.name) and (p / PROJECT_FILE).is_file())
        return [n for n in found if pattern is None or fnmatch.fnmatchcase(n, pattern)]

    def exists(self, name: str) -> bool:
        return (self.path(name) / PROJECT_FILE).is_file()

    def holds(self, target: str) -> bool:
        """Whether a report or load_results target names a project here (else it is a path)."""
        try:
            return self.exists(target)
        except HpogridError:  # not a valid project name: a path
            return False

    def load(self, name: str) -> Project:
        path = self.path(name)
        if not (path / PROJECT_FILE).is_file():
            from hpogrid.migrate import PROJECT_FILES

            if any((path / f).is_file() for f in PROJECT_FILES):
                raise NotFoundError(
                    f"project '{name}' is in hpogrid 1.x's layout ({path}); import it with "
                    f"`hpogrid migrate {self.root.parent}`"
                )
            raise NotFoundError(
                f"no project named '{name}'{did_you_mean(name, self.names())}; see `hpogrid project list`"
            )
        from hpogrid.configs.store import read_json_file

        data = read_json_file(path / PROJECT_FILE, "project")
        for kind in CONFIG_KINDS:
            try:
                data["configs"][kind] = CONFIG_TYPES[kind].validate(data["configs"][kind])
            except (KeyError, TypeError):
                raise HpogridError(
                    f"project '{name}': {path / PROJECT_FILE} has no {kind}; recreate the project"
                ) from None
        return Project(name, path, data)

    def _lock(self):
        return locked(self.root / ".lock")

    # -- create / recreate / update ------------------------------------------------------------
    def build(self, name: str, refs: dict[str, Any], scripts_path: Path) -> tuple[dict, Path]:
        """Validate everything and build the project in a temporary folder; return (data, folder)."""
        check_name(name, "project")
        configs, sources = {}, {}
        for kind in CONFIG_KINDS:
            ref = refs.get(kind)
            if ref is None:
                if kind in REQUIRED_KINDS:
                    raise ValidationError("project", kind, f"is required: give --{kind} NAME_OR_FILE")
                configs[kind], sources[kind] = CONFIG_TYPES[kind].validate({}), "defaults"
                continue
            configs[kind], sources[kind] = resolve_config(kind, ref)
        made_root = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=f".new-{name}."))
        try:
            copy_scripts(scripts_path, staging / SCRIPTS)
            check_consistency(configs, staging / SCRIPTS)
            now = _now()
            data = {
                "name": name,
                "hpogrid_version": __version__,
                "created": now,
                "updated": now,
                "scripts_path": str(Path(scripts_path).expanduser().resolve()),
                "scripts_digest": scripts_digest(staging / SCRIPTS),
                "sources": sources,
                "configs": configs,
            }
            write_json_atomic(staging / PROJECT_FILE, data)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if made_root:
                with contextlib.suppress(OSError):  # only when still empty: never others' work
                    self.root.rmdir()
            raise
        return data, staging

    def create(self, name: str, refs: dict[str, Any], scripts_path: Path) -> str:
        """Create a project. Returns 'created', or 'unchanged' if an identical one exists."""
        data, staging = self.build(name, refs, scripts_path)
        try:
            with self._lock():
                target = self.path(name)
                if target.exists():
                    if self.exists(name) and self.same(self.load(name).data, data):
                        return "unchanged"
                    raise ExistsError(
                        f"project '{name}' exists with other settings; replace it with "
                        f"`hpogrid project recreate {name} ...` (the old one is kept as a backup)"
                    )
                os.rename(staging, target)
                return "created"
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def recreate(self, name: str, refs: dict[str, Any], scripts_path: Path) -> Path | None:
        """Create or replace a project; the old one is moved to a backup. Returns its path."""
        data, staging = self.build(name, refs, scripts_path)
        try:
            with self._lock():
                target = self.path(name)
                backup = self._backup(name) if target.exists() else None
                try:
                    os.rename(staging, target)
                except BaseException:
                    if backup:
                        os.rename(backup, target)
                    raise
                return backup
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def update(self, name: str, refs: dict[str, Any], scripts_path: Path | None) -> tuple[Project, Path]:
        """Swap some configs (and/or the scripts) of a project; returns (project, backup path)."""
        with self._lock():
            old = self.load(name)
            merged_refs: dict[str, Any] = dict(old.configs)
            merged_refs.update({k: v for k, v in refs.items() if v is not None})
            source = Path(scripts_path) if scripts_path else old.scripts_dir
            data, staging = self.build(name, merged_refs, source)
            try:
                data["created"] = old.data["created"]
                data["sources"] = {
                    kind: (data["sources"][kind] if refs.get(kind) is not None else old.data["sources"][kind])
                    for kind in CONFIG_KINDS
                }
                if scripts_path is None:
                    data["scripts_path"] = old.data.get("scripts_path")
                write_json_atomic(staging / PROJECT_FILE, data)
                backup = self._backup(name)
                try:
                    os.rename(staging, old.path)
                except BaseException:
                    os.rename(backup, old.path)
                    raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            # results and anything else the project holds move over; on a failure they stay
            # in the backup, never deleted
            for entry in backup.iterdir():
                if entry.name not in (PROJECT_FILE, SCRIPTS):
                    os.rename(entry, old.path / entry.name)
        return self.load(name), backup

    def remove(self, patterns: list[str]) -> list[str]:
        """Delete projects by name or glob; nothing is deleted unless every pattern matches."""
        with self._lock():
            doomed: list[str] = []
            for pattern in patterns:
                matched = (
                    self.names(pattern) if set("*?[") & set(pattern) else ([pattern] if self.exists(pattern) else [])
                )
                if not matched:
                    raise NotFoundError(
                        f"no project matches '{pattern}'{did_you_mean(pattern, self.names())}; "
                        "see `hpogrid project list`"
                    )
                doomed.extend(n for n in matched if n not in doomed)
            for name in doomed:
                # rename first so that a half-deleted project is never listed
                trash = Path(tempfile.mkdtemp(dir=self.root, prefix=f".removed-{name}."))
                os.rename(self.path(name), trash / name)
                shutil.rmtree(trash)
        return doomed

    # -- helpers -------------------------------------------------------------------------------
    def _backup(self, name: str) -> Path:
        backups = self.root / BACKUPS
        backups.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        target = backups / f"{name}.{stamp}"
        os.rename(self.path(name), target)
        return target

    @staticmethod
    def same(old: dict, new: dict) -> bool:
        """Whether two project files hold the same configs and scripts."""
        keys = ("configs", "scripts_digest")
        return all(old.get(k) == new.get(k) for k in keys)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")
