"""What ships to the grid: credentials are left out by content and by name, .hpogridignore excludes
more (gitignore syntax), the user sees what was left out and why, and a project without its
scripts is refused before anything is packed."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from hpogrid.grid import sandbox
from hpogrid.grid.ignore import IgnoreRules
from hpogrid.project import ProjectStore
from tests.conftest import run_cli, snapshot

TRAIN = 'def train(config, reporter):\n    reporter(loss=config["x"])\n'
SPACE = {"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}


def _b64(n: int) -> str:
    return ("aB3dE6gH9k" * (n // 10 + 1))[:n]


# credentials written at run time, so this file holds nothing a scanner would take for a real one
PEM = "-----BEGIN {kind}PRIVATE KEY-----\n" + _b64(64) + "\n-----END {kind}PRIVATE KEY-----\n"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\n" + _b64(64) + "\n-----END CERTIFICATE-----\n"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + _b64(43)
BY_CONTENT = {
    "notes.txt": (PEM.format(kind=""), "private key, by content"),
    "rsa.txt": (PEM.format(kind="RSA "), "private key, by content"),
    "ec.cfg": ("# key\n" + PEM.format(kind="EC "), "private key, by content"),
    "deploy.txt": (PEM.format(kind="OPENSSH "), "private key, by content"),
    "locked.txt": (PEM.format(kind="ENCRYPTED "), "private key, by content"),
    "grid_identity.txt": (
        CERTIFICATE + PEM.format(kind="RSA "),
        "X.509 proxy (certificate and private key), by content",
    ),
    "settings.yaml": (f"api:\n  bearer: {JWT}\n", "JWT token, by content"),
    "setup.sh": ("export KEY_ID=" + "AKIA" + "ABCDEFGHIJKLMNOP\n", "AWS access key, by content"),
    "session.ini": ("id = " + "ASIA" + "QRSTUVWXYZ234567\n", "AWS access key, by content"),
    "boto.cfg": ("[default]\naws_secret_access_key = " + _b64(40) + "\n", "AWS secret key, by content"),
    "project-123.json": (
        json.dumps({"type": "service_account", "project_id": "p", "private_key": "k"}),
        "GCP service-account key, by content",
    ),
    "storage.txt": (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=" + _b64(86) + "==;",
        "Azure storage key, by content",
    ),
}
BY_NAME = {
    "netrc": "netrc, by name",
    "_netrc": "netrc, by name",
    "db_secret.txt": "credentials file, by name",
    "SECRETS.yaml": "credentials file, by name",
    "gcp_credential.json": "credentials file, by name",
    "prod.env": "environment file, by name",
    "x509up_u1000": "grid proxy or certificate, by name",
    "userkey.pem": "grid proxy or certificate, by name",
    "id_rsa": "ssh key, by name",
    "id_ed25519.pub": "ssh key, by name",
    "auth_token": "token, by name",
    "keys/secret/readme.md": "credentials file, by name",
}
# normal files that merely mention credentials: they are packed
INNOCENT = {
    "train.py": TRAIN,
    "tokenizer.py": "X = 1\n",
    "aws.py": 'import os\nKEY = os.environ["AWS_SECRET_ACCESS_KEY"]\n',
    "docs/certs.md": "Put your certificate (-----BEGIN CERTIFICATE-----) in ~/.globus\n",
    "docs/keys.md": "A PEM private key starts with '-----BEGIN' and 'PRIVATE KEY-----'.\n",
    "model/layers.py": "SIZE = 3\n",
    "data/table.csv": "a,b\n1,2\n",
    "eyJ.txt": "eyJ is how base64 of a JSON object starts\n",
}


def make(tmp_path, files: dict[str, str], ignore: str | None = None, name: str = "p"):
    """A project whose scripts folder holds these files (and this .hpogridignore)."""
    scripts = tmp_path / f"scripts-{name}"
    for relative, text in {"train.py": TRAIN, **files}.items():
        (scripts / relative).parent.mkdir(parents=True, exist_ok=True)
        (scripts / relative).write_text(text)
    if ignore is not None:
        (scripts / ".hpogridignore").write_text(ignore)
    refs = {
        "hpo_config": {"num_trials": 2},
        "model_config": {"script": "train.py", "model": "train"},
        "search_space": SPACE,
    }
    ProjectStore().create(name, refs, scripts)
    return ProjectStore().load(name)


def packed_names(project, tmp_path) -> list[str]:
    prefix = f"projects/{project.name}/scripts/"
    with tarfile.open(sandbox.build(project, tmp_path)) as tar:
        return sorted(n[len(prefix) :] for n in tar.getnames() if n.startswith(prefix))


@pytest.mark.parametrize("name", sorted(BY_CONTENT))
def test_credentials_are_left_out_by_content(tmp_path, base, name):
    text, reason = BY_CONTENT[name]
    project = make(tmp_path, {name: text})
    assert name not in packed_names(project, tmp_path)
    assert [(i.name, i.reason) for i in sandbox.left_out(project)] == [(name, reason)]


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_credentials_are_left_out_by_name(tmp_path, base, name):
    project = make(tmp_path, {name: "nothing secret inside\n"})
    assert name not in packed_names(project, tmp_path)
    assert [(i.name, i.reason) for i in sandbox.left_out(project)] == [(name, BY_NAME[name])]


def test_a_normal_project_is_packed_whole(tmp_path, base):
    project = make(tmp_path, INNOCENT, ignore="# nothing excluded\n\n")
    assert packed_names(project, tmp_path) == sorted(INNOCENT)  # .hpogridignore itself is not packed
    assert sandbox.left_out(project) == []


def test_only_the_start_of_a_big_file_is_read(tmp_path, base):
    from hpogrid.grid.credentials import READ_LIMIT

    late = "x" * READ_LIMIT + PEM.format(kind="")
    project = make(tmp_path, {"weights.bin": late, "early.bin": PEM.format(kind="") + "x" * READ_LIMIT})
    assert packed_names(project, tmp_path) == ["train.py", "weights.bin"]


def test_dry_run_lists_what_is_left_out_names_only(tmp_path, base):
    files = {"notes.txt": BY_CONTENT["notes.txt"][0], "netrc": "machine x", "data/big.h5": "0", "data/keep.h5": "1"}
    make(tmp_path, files, ignore="data/*.h5\n!data/keep.h5\n")
    result = run_cli("run", "p", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["left_out"]
    assert listed == [
        {"file": "data/big.h5", "reason": "excluded by .hpogridignore line 1 (data/*.h5)"},
        {"file": "netrc", "reason": "netrc, by name"},
        {"file": "notes.txt", "reason": "private key, by content"},
    ]
    assert "projects/p/scripts/data/keep.h5" in json.loads(result.stdout)["sandbox"]
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note: not packed")]
    assert notes == [
        "Note: not packed for the grid, they look like credentials: netrc (netrc, by name), "
        "notes.txt (private key, by content)",
        "Note: not packed for the grid, excluded by .hpogridignore: data/big.h5",
    ]
    assert _b64(64) not in result.output  # never any content


@pytest.mark.parametrize("command", [["run", "p", "--dry-run"], ["run", "p"], ["submit_idds", "p", "--dry-run"]])
@pytest.mark.parametrize("missing", ["scripts", "scripts/train.py"])
def test_a_project_without_its_scripts_is_refused(tmp_path, base, command, missing):
    project = make(tmp_path, {})
    target = project.path / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    before = snapshot(base)
    result = run_cli(*command)
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("Error: project 'p': its ")
    assert f"{target} is missing" in errors[0]
    assert "hpogrid project update p --scripts_path DIR" in errors[0]
    assert snapshot(base) == before


def test_a_training_script_the_filter_would_leave_out_is_refused(tmp_path, base):
    make(tmp_path, {}, ignore="*.py\n")
    result = run_cli("run", "p", "--dry-run")
    assert result.exit_code == 2
    assert "its training script train.py would not be packed for the grid (excluded by .hpogridignore line 1" in (
        result.stderr
    )


# -- .hpogridignore syntax -------------------------------------------------------------------------
IGNORE_CASES = [
    # (rules, path, is a folder, excluded)
    ("*.h5", "a.h5", False, True),
    ("*.h5", "deep/down/a.h5", False, True),
    ("*.h5", "a.h5.txt", False, False),
    ("# *.h5\n\n", "a.h5", False, False),
    ("\\#notes", "#notes", False, True),
    ("run?.log", "run1.log", False, True),
    ("run?.log", "run12.log", False, False),
    ("run[0-3].log", "run2.log", False, True),
    ("run[!0-3].log", "run2.log", False, False),
    ("data/", "data", True, True),
    ("data/", "data", False, False),
    ("data/", "x/data/file", False, True),
    ("/top.txt", "top.txt", False, True),
    ("/top.txt", "sub/top.txt", False, False),
    ("doc/frotz", "doc/frotz", False, True),
    ("doc/frotz", "a/doc/frotz", False, False),
    ("**/cache", "a/b/cache", True, True),
    ("**/cache", "cache", True, True),
    ("logs/**", "logs/a/b.txt", False, True),
    ("logs/**", "logs", True, False),
    ("a/**/b", "a/b", False, True),
    ("a/**/b", "a/x/y/b", False, True),
    ("a/*/b", "a/x/y/b", False, False),
    ("*.h5\n!keep.h5", "keep.h5", False, False),
    ("*.h5\n!keep.h5", "other.h5", False, True),
    ("!keep.h5\n*.h5", "keep.h5", False, True),
    ("data/\n!data/keep.h5", "data/keep.h5", False, True),
    ("data/*\n!data/keep.h5", "data/keep.h5", False, False),
    ("\\!important", "!important", False, True),
    ("trailing.txt   ", "trailing.txt", False, True),
    ("*", "anything/at/all.py", False, True),
]


@pytest.mark.parametrize("rules,path,is_dir,excluded", IGNORE_CASES)
def test_ignore_syntax(rules, path, is_dir, excluded):
    assert IgnoreRules.parse(rules).ignored(path, is_dir) is excluded


def test_ignored_folders_are_left_out_with_their_line(tmp_path, base):
    files = {"data/a/x.bin": "1", "data/b.bin": "2", "model/data.py": "3", "logs/run1.log": "4", "run.log": "5"}
    project = make(tmp_path, files, ignore="# big files\ndata/\n*.log\n!run.log\n")
    assert packed_names(project, tmp_path) == ["model/data.py", "run.log", "train.py"]
    reasons = {i.name: i.reason for i in sandbox.left_out(project)}
    assert reasons == {
        "data/a/x.bin": "excluded by .hpogridignore line 2 (data/)",
        "data/b.bin": "excluded by .hpogridignore line 2 (data/)",
        "logs/run1.log": "excluded by .hpogridignore line 3 (*.log)",
    }
