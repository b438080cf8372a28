"""The sandbox a grid job unpacks into its work directory.

    projects/<name>/project.json      what the job needs of the project: its four configs, paths
                                      relative to the sandbox (nothing of the submitter's disk)
    projects/<name>/scripts/...       the training scripts
    hpogrid_pkg/hpogrid/...           this very hpogrid (the job runs the submitter's version)

Never packed: dotfiles and dot-folders, caches, run outputs, and anything that looks like a
credential (grid proxies, keys, tokens). The archive's bytes are reproducible (sorted entries, fixed
times and owners), so PanDA's cache recognises an unchanged project by size and checksum and offers
it for reuse; its file name is new every time (jobO.<uuid4>.tar.gz, as prun names it): the cache
refuses to overwrite a file, and keeps one for days after it stops offering it for reuse.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import tarfile
import uuid
from pathlib import Path

import hpogrid
from hpogrid.errors import HpogridError
from hpogrid.project import PROJECT_FILE, SCRIPTS, Project

PACKAGE_DIR = "hpogrid_pkg"
SIZE_LIMIT = 10 * 1024 * 1024  # what PanDA's cache takes for a no-build sandbox
CREDENTIALS = (
    "x509up_*", "*.pem", "*.p12", "*.pfx", "*.key", "*.proxy", "proxy", "*.keytab",  # grid proxies, certificates
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",  # ssh keys
    "auth_token", "id_token*", "access_token*", "refresh_token*", "token", "*.token", "token.json", "*.jwt",
    "credentials.json", "*credentials", "rucio.cfg", "*.netrc", "*.kdbx",
)  # fmt: skip
SKIPPED = ("__pycache__", "*.pyc", "*.pyo", ".*")


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatch(lowered, pattern) for pattern in patterns)


def _skipped(name: str) -> bool:
    return _matches(name, SKIPPED + CREDENTIALS)


def credentials_left_out(project: Project) -> list[str]:
    """Files of the project's scripts that the sandbox leaves out because they look like credentials."""
    scripts = project.path / SCRIPTS
    relative = [p.relative_to(scripts) for p in sorted(scripts.rglob("*")) if p.is_file()]
    return [r.as_posix() for r in relative if any(_matches(part, CREDENTIALS) for part in r.parts)]


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


def members(project: Project) -> list[tuple[str, Path | bytes]]:
    """(name in the archive, file on disk or content) of everything a job of this project needs."""
    entries: list[tuple[str, Path | bytes]] = [(f"projects/{project.name}/{PROJECT_FILE}", job_project(project))]
    scripts = project.path / SCRIPTS
    entries += [(f"projects/{project.name}/{SCRIPTS}/{p.relative_to(scripts).as_posix()}", p) for p in _files(scripts)]
    package = Path(hpogrid.__file__).resolve().parent
    entries += [
        (f"{PACKAGE_DIR}/hpogrid/{p.relative_to(package).as_posix()}", p)
        for p in _files(package)
        if p.suffix in (".py", ".json", ".typed")
    ]
    return entries


def build(project: Project, folder: Path) -> Path:
    """Write the job sandbox of a project into folder; returns its path (jobO.<uuid4>.tar.gz)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in members(project):
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
