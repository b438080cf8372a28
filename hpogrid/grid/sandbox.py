"""The sandbox a grid job unpacks into its work directory.

    projects/<name>/project.json      what the job needs of the project: its four configs, paths
                                      relative to the sandbox (nothing of the submitter's disk)
    projects/<name>/scripts/...       the training scripts
    hpogrid_pkg/hpogrid/...           this very hpogrid (the job runs the submitter's version)

Never packed: dotfiles and dot-folders, caches, run outputs, what the scripts folder's .hpogridignore
excludes (gitignore syntax, hpogrid.grid.ignore), and anything that looks like a credential by name
or content (keys, proxies, tokens, cloud keys: hpogrid.grid.credentials). The archive's bytes are
reproducible (sorted entries, fixed times and owners), so PanDA's cache recognises an unchanged
project by size and checksum and offers it for reuse; its file name is new every time
(jobO.<uuid4>.tar.gz, as prun names it): the cache refuses to overwrite a file, and keeps one for
days after it stops offering it for reuse.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import os
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import hpogrid
from hpogrid.errors import HpogridError
from hpogrid.grid.credentials import credential_reason
from hpogrid.grid.ignore import IGNORE_FILE, IgnoreRules
from hpogrid.project import PROJECT_FILE, SCRIPTS, Project

PACKAGE_DIR = "hpogrid_pkg"
SIZE_LIMIT = 10 * 1024 * 1024  # what PanDA's cache takes for a no-build sandbox
SKIPPED = ("__pycache__", "*.pyc", "*.pyo", ".*")
IGNORED_BY_FILE = f"excluded by {IGNORE_FILE}"


@dataclass(frozen=True)
class LeftOut:
    """A file of the scripts folder that is not packed, and why (never its content)."""

    name: str
    reason: str

    @property
    def credential(self) -> bool:
        return not self.reason.startswith(IGNORED_BY_FILE)


def _skipped(name: str) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatch(lowered, pattern) for pattern in SKIPPED)


def select(root: Path) -> tuple[list[Path], list[LeftOut]]:
    """(files packed, files left out with the reason) of a scripts folder: litter (dotfiles, caches,
    links) is skipped silently; what .hpogridignore excludes and what looks like a credential is listed."""
    rules_file = root / IGNORE_FILE
    rules = IgnoreRules.parse(rules_file.read_text(errors="replace")) if rules_file.is_file() else IgnoreRules([])
    packed: list[Path] = []
    left: list[LeftOut] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _skipped(d) and not (here / d).is_symlink())
        for name in sorted(files):
            path = here / name
            relative = path.relative_to(root).as_posix()
            if _skipped(name) or path.is_symlink():
                continue
            pattern = rules.match(relative)
            reason = f"{IGNORED_BY_FILE} line {pattern.line} ({pattern.text})" if pattern else None
            reason = reason or credential_reason(path, relative)
            if reason:
                left.append(LeftOut(relative, reason))
            else:
                packed.append(path)
    return sorted(packed), sorted(left, key=lambda item: item.name)


def check_scripts(project: Project) -> None:
    """Refuse a project whose scripts folder or training script is missing, or whose training script
    would be left out of the sandbox."""
    scripts, script = project.path / SCRIPTS, project.model_config["script"]
    fix = f"restore it with `hpogrid project update {project.name} --scripts_path DIR`"
    if not scripts.is_dir():
        raise HpogridError(f"project '{project.name}': its scripts folder {scripts} is missing; {fix}")
    if not (scripts / script).is_file():
        raise HpogridError(f"project '{project.name}': its training script {scripts / script} is missing; {fix}")


def scripts_selection(project: Project) -> tuple[list[Path], list[LeftOut]]:
    """(files packed, files left out) of the project's scripts, after the checks of check_scripts;
    a training script that would be left out is refused."""
    check_scripts(project)
    packed, left = select(project.path / SCRIPTS)
    script = project.model_config["script"]
    for item in left:
        if item.name == script:
            raise HpogridError(
                f"project '{project.name}': its training script {script} would not be packed for the grid "
                f"({item.reason}); rename it, or change {IGNORE_FILE}, and update the project"
            )
    return packed, left


def left_out(project: Project) -> list[LeftOut]:
    """Files of the project's scripts that the sandbox leaves out, with the reason."""
    return scripts_selection(project)[1]


def credentials_left_out(project: Project) -> list[str]:
    """Files of the project's scripts that the sandbox leaves out because they look like credentials."""
    return [item.name for item in left_out(project) if item.credential]


def _files(root: Path) -> list[Path]:
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and not any(map(_skipped, path.relative_to(root).parts))
    ]


def job_project(project: Project) -> bytes:
    """project.json as the job gets it: the configs and the scripts digest; the scripts folder relative
    to the project; no local paths (where configs came from, hpo_config.log_dir: the job writes its
    runs in its own work directory)."""
    configs = json.loads(json.dumps(project.configs))
    configs["hpo_config"]["log_dir"] = None
    data = {
        "name": project.name,
        "hpogrid_version": project.data.get("hpogrid_version"),
        "scripts_path": SCRIPTS,
        "scripts_digest": project.data.get("scripts_digest"),
        "configs": configs,
    }
    return (json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()


def members(project: Project, warm: dict | None = None) -> list[tuple[str, Path | bytes]]:
    """(name in the archive, file on disk or content) of everything a job of this project needs;
    warm: the warm-start points (hpogrid.warmstart.WarmStart.to_json), beside project.json."""
    entries: list[tuple[str, Path | bytes]] = [(f"projects/{project.name}/{PROJECT_FILE}", job_project(project))]
    if warm is not None:
        from hpogrid.warmstart import WARM_FILE

        text = json.dumps(warm, sort_keys=True, allow_nan=False) + "\n"
        entries.append((f"projects/{project.name}/{WARM_FILE}", text.encode()))
    scripts = project.path / SCRIPTS
    packed, _ = scripts_selection(project)
    entries += [(f"projects/{project.name}/{SCRIPTS}/{p.relative_to(scripts).as_posix()}", p) for p in packed]
    package = Path(hpogrid.__file__).resolve().parent
    entries += [
        (f"{PACKAGE_DIR}/hpogrid/{p.relative_to(package).as_posix()}", p)
        for p in _files(package)
        if p.suffix in (".py", ".json", ".typed")
    ]
    return entries


def build(project: Project, folder: Path, warm: dict | None = None) -> Path:
    """Write the job sandbox of a project into folder; returns its path (jobO.<uuid4>.tar.gz)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in members(project, warm):
            info = tarfile.TarInfo(name)
            data = source if isinstance(source, bytes) else source.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    content = packed.getvalue()
    if len(content) > SIZE_LIMIT:
        raise HpogridError(
            f"project '{project.name}': the job sandbox is {len(content) / 1e6:.1f} MB, over the grid's 10 MB "
            "limit; keep data out of the scripts folder and give it as a dataset (grid_config.inDS)"
        )
    path = Path(folder) / f"jobO.{uuid.uuid4()}.tar.gz"
    path.write_bytes(content)
    return path


def unpack(archive: Path, target: Path) -> None:
    """Unpack a sandbox (or any input tarball) safely: nothing outside target, no links or devices."""
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise HpogridError(f"cannot unpack {Path(archive).name}: {exc}") from exc
