"""`hpogrid tasks logs` (and 1.3.3's `idds_log`): the logs of an iDDS task's steering, from iDDS's own REST
server (played by tests/panda_server.py on its port, IDDS_HOST), with the real panda-client's credentials."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.conftest import run_cli
from tests.test_grid import submitted_id
from tests.test_local_run import make_project

SPACE = {
    "x": {"method": "uniform", "dimension": {"low": 0, "high": 1}},
    "c": {"method": "categorical", "dimension": {"categories": ["a", "b"]}},
}
OBJECTIVE = """
def f(config, reporter):
    reporter(loss=(config["x"] - 0.3) ** 2 + (config["c"] == "b"))
"""


def _idds_task(tmp_path, panda) -> int:
    hpo = {"num_trials": 4, "max_concurrent": 2, "algorithm": "hyperopt", "seed": 1}
    make_project(tmp_path, "h", OBJECTIVE, "f", hpo, space=SPACE)
    result = run_cli("submit_idds", "h", "--points_per_generation", "2")
    assert result.exit_code == 0, result.output
    task_id = submitted_id(result.stdout.replace("iDDS HPO task", "task"))
    task = panda.state.wait(task_id)
    assert task.status == "done", task.error
    return task_id


def test_the_steering_logs_of_an_idds_task_are_saved_and_unpacked(tmp_path, panda, monkeypatch):
    task_id = _idds_task(tmp_path, panda)
    request_id = panda.state.idds_requests[task_id]
    runs = len(panda.state.steering_logs[request_id])
    assert runs >= 2  # 4 points, 2 per generation (and the one that says there are no more)

    monkeypatch.chdir(tmp_path)
    result = run_cli("tasks", "logs", str(task_id))
    assert result.exit_code == 0, result.output
    archive = tmp_path / f"{request_id}.logs.tgz"  # the name iDDS gives it, in the current folder
    assert f"task {task_id}: {runs} steering runs in {request_id}.logs.tgz" in result.stdout
    with tarfile.open(archive) as outer:
        assert len(outer.getnames()) == runs and all(n.startswith("processing_") for n in outer.getnames())

    # --extract: each run's folder, with what the steering wrote and said
    result = run_cli("tasks", "logs", str(task_id), "--extract", "-o", "logs")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "logs" / f"task_{task_id}_steering"
    folders = sorted(p for p in folder.iterdir())
    assert len(folders) == runs and all(p.is_dir() for p in folders)
    first = json.loads((folders[0] / "out.json").read_text())
    assert len(first) == 2 and set(first[0]) == {"x", "c"}  # the first generation's points
    assert (folders[0] / "steering.log").is_file()
    assert f"{folders[0].name}/: " in result.stdout and "steering.log" in result.stdout
    assert (tmp_path / "logs" / f"{request_id}.logs.tgz").read_bytes() == archive.read_bytes()

    # again: the unpacked folder is replaced whole, nothing of an earlier download lingers
    (folder / "stale.txt").write_text("old")
    assert run_cli("tasks", "logs", str(task_id), "--extract", "-o", "logs").exit_code == 0
    assert not (folder / "stale.txt").exists() and len(list(folder.iterdir())) == runs
    assert not [p for p in (tmp_path / "logs").iterdir() if p.name.startswith(".")]  # no staging folder left

    # by the iDDS request instead (a task with several requests needs it)
    by_request = run_cli("tasks", "logs", str(task_id), "--request-id", str(request_id), "-o", "by_request")
    assert by_request.exit_code == 0, by_request.output
    assert (tmp_path / "by_request" / archive.name).read_bytes() == archive.read_bytes()

    # 1.3.3's command line means the same, with the token in iDDS's headers (never on the terminal)
    legacy = run_cli("idds_log", str(task_id), "-o", "legacy")
    assert legacy.exit_code == 0, legacy.output
    assert (tmp_path / "legacy" / f"{request_id}.logs.tgz").is_file()
    import os

    assert os.environ["PANDA_AUTH_ID_TOKEN"] not in legacy.output + result.output


def test_steering_logs_say_why_there_are_none(tmp_path, panda, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_project(tmp_path, "p", OBJECTIVE, "f", {"num_trials": 2, "max_concurrent": 1}, space=SPACE)
    result = run_cli("run", "p")
    task_id = submitted_id(result.stdout)
    panda.state.wait(task_id)

    # a prun-style task has no iDDS request
    refused = run_cli("tasks", "logs", str(task_id))
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert refused.stderr.strip() == (
        f"Error: task {task_id}: iDDS has no request for it; only `hpogrid submit_idds` tasks have a steering"
    )

    # an iDDS task before its first steering run has ended
    with panda.state.lock:
        panda.state.idds_requests[999] = 1
    refused = run_cli("tasks", "logs", "999")
    assert refused.exit_code == 2 and "no steering logs yet" in refused.stderr

    # credentials iDDS does not take: a VO it does not allow, a proxy over plain HTTP (no client DN)
    monkeypatch.setenv("PANDA_AUTH_VO", "cms")
    refused = run_cli("tasks", "logs", "999")
    assert refused.exit_code == 2 and "refused your credentials: VO cms is not allowed." in refused.stderr
    proxy = tmp_path / "x509up"
    proxy.write_text("not a proxy")
    monkeypatch.setenv("PANDA_AUTH", "x509")
    monkeypatch.setenv("X509_USER_PROXY", str(proxy))
    refused = run_cli("tasks", "logs", "999")
    assert refused.exit_code == 2 and "refused your credentials: User DN cannot be found." in refused.stderr
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tgz"]  # nothing written on any refusal


def test_steering_logs_retry_a_lost_reply_and_write_nothing_of_a_bad_one(tmp_path, panda, monkeypatch):
    task_id = _idds_task(tmp_path, panda)
    monkeypatch.chdir(tmp_path)
    panda.state.faults.http["idds/logs"] = ["5xx", "drop"]
    result = run_cli("tasks", "logs", str(task_id))
    assert result.exit_code == 0, result.output
    assert panda.state.requests.count("idds/logs") == 3

    # iDDS down for good: one line naming the server and the variable to point elsewhere
    panda.state.faults.http["idds/logs"] = ["5xx"] * 4
    result = run_cli("tasks", "logs", str(task_id), "-o", "down")
    assert result.exit_code == 2 and "IDDS_HOST" in result.stderr and "after 4 attempts" in result.stderr
    assert not (tmp_path / "down").exists()

    # a reply that is not a log archive: said so, nothing saved
    panda.state.faults.http["idds/logs"] = ["garbage"]
    result = run_cli("tasks", "logs", str(task_id), "-o", "bad")
    assert result.exit_code == 2 and "not a tar archive" in result.stderr
    assert not (tmp_path / "bad").exists()


def _certificates(folder):
    """A CA, a server certificate for 127.0.0.1 and a user's certificate ("proxy" file: certificate, key and
    the CA, as a grid proxy holds its chain), all signed by that CA; returns (server pem, proxy, CA pem)."""
    import datetime as dt
    import ipaddress

    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def name(*parts):
        return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])

    def issue(subject, key, issuer, issuer_key, ca=False, ip=None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def pem(cert, key=None):
        text = cert.public_bytes(serialization.Encoding.PEM)
        if key is not None:
            text += key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        return text

    ca_key, server_key, user_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = name((NameOID.COMMON_NAME, "Test Grid CA"))
    ca = issue(ca_name, ca_key, ca_name, ca_key, ca=True)
    server = issue(
        name((NameOID.COMMON_NAME, "127.0.0.1")), server_key, ca_name, ca_key, ip=ipaddress.ip_address("127.0.0.1")
    )
    user_name = name(
        (NameOID.DOMAIN_COMPONENT, "ch"), (NameOID.DOMAIN_COMPONENT, "cern"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "Users"),
        (NameOID.COMMON_NAME, "jdoe"), (NameOID.COMMON_NAME, "Jane Doe"),
    )  # fmt: skip
    user = issue(user_name, user_key, ca_name, ca_key)
    paths = folder / "server.pem", folder / "x509up", folder / "ca.pem"
    for path, data in zip(paths, (pem(server, server_key), pem(user, user_key) + pem(ca), pem(ca)), strict=True):
        path.write_bytes(data)
    paths[1].chmod(0o600)
    return paths


def test_a_grid_proxy_is_the_client_certificate_over_https(tmp_path, panda, monkeypatch):
    """With a proxy (no token), iDDS over HTTPS gets it as the TLS client certificate (panda-client's own
    SSL context: the proxy's chain trusted, the server's certificate and name checked)."""
    task_id = _idds_task(tmp_path, panda)
    server_pem, proxy, ca_pem = _certificates(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IDDS_HOST", panda.serve_idds_tls(server_pem, ca_pem))
    monkeypatch.delenv("PANDA_AUTH")
    monkeypatch.setenv("X509_USER_PROXY", str(proxy))
    (tmp_path / "certificates").mkdir()
    monkeypatch.setenv("X509_CERT_DIR", str(tmp_path / "certificates"))  # the grid CAs (none needed here)
    result = run_cli("tasks", "logs", str(task_id), "-o", "tls")
    assert result.exit_code == 0, result.output
    request_id = panda.state.idds_requests[task_id]
    assert (tmp_path / "tls" / f"{request_id}.logs.tgz").is_file()
    assert panda.state.idds_dns == ["/DC=ch/DC=cern/OU=Users/CN=jdoe/CN=Jane Doe"]

    # a server whose certificate the proxy's chain does not vouch for: refused, one line, nothing written
    other_pem, _, other_ca = _certificates(tmp_path / "certificates")
    monkeypatch.setenv("IDDS_HOST", panda.serve_idds_tls(other_pem, ca_pem))
    result = run_cli("tasks", "logs", str(task_id), "-o", "other")
    assert result.exit_code == 2 and "certificate verify failed" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "other").exists()


def test_an_archive_that_would_write_outside_its_folder_is_refused(tmp_path):
    from hpogrid.errors import HpogridError
    from hpogrid.grid.steeringlogs import fetch

    def tgz(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    class Sends:
        def steering_logs(self, task_id, request_id):
            return "7.logs.tgz", tgz({"processing_1.tgz": tgz({"../../escaped.txt": b"x"})})

    with pytest.raises(HpogridError, match="may not unpack"):
        fetch(Sends(), 5, outdir=tmp_path / "out", unpack=True)
    assert not (tmp_path / "escaped.txt").exists() and not list((tmp_path / "out").glob(".task_*"))
