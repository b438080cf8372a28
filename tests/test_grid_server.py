"""Where the real PanDA server differs from a naive model of it, and hpogrid copes: the sandbox cache's
names, reuse window and refusal to overwrite; a listing that returns any `n_tasks` tasks of 90 days at
most; tasks invisible until JEDI registers them; the server's own refusal texts. The local server
(tests/panda_server.py) behaves like panda-server 1.0.4 on each point; the real panda-client talks to it."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from hpogrid.grid.gateway import _client
from tests.conftest import run_cli
from tests.panda_server import Job, Task, make_token
from tests.test_grid import grid_project, submitted_id

pytestmark = pytest.mark.usefixtures("panda")
USER = "Jdoe"  # the name claim of the fixture's token, as the server knows the user
UPLOADS = "file_server/upload_cache_file"
LISTING = "task/get_tasks_detailed_info_since"


def sandbox_of(params: dict) -> str:
    """The sandbox name a task's jobs fetch (runGen's -a)."""
    return re.search(r"-a (\S+)", " ".join(str(p["value"]) for p in params["jobParameters"])).group(1)


def _submit(*args: str) -> int:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return submitted_id(result.stdout.replace("iDDS HPO task", "task"))


def _done(panda, task_id: int) -> Task:
    task = panda.state.wait(task_id)
    assert task.status == "done", (task.error, [(j.seq, j.status) for j in task.jobs])
    return task


def many_tasks(panda, count: int, first: int = 10_000, days_apart: float = 0.04, user: str = USER, name: str = "other"):
    """`count` finished tasks of the user; task i last changed i * days_apart days ago (the highest ID newest)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    with panda.state.lock:
        for i in range(count):
            task_id = first + count - 1 - i
            task = Task(task_id, {"taskName": f"user.jdoe.hpogrid.{name}.{task_id}/"}, user, status="done")
            task.created = task.modified = now - dt.timedelta(days=i * days_apart)
            panda.state.tasks[task_id] = task
    return list(range(first + count - 1, first - 1, -1))


def _shown(*args: str) -> tuple[list[int], str]:
    result = run_cli("tasks", "show", "--json", *args)
    assert result.exit_code == 0, result.output
    return [r["jeditaskid"] for r in json.loads(result.stdout)], result.stderr


# -- 1, 2: the sandbox cache ------------------------------------------------------------------------------
def test_a_reused_sandbox_is_named_as_jobs_fetch_it(tmp_path, panda):
    """The server offers reuse under the name the file was uploaded with: hpogrid uploads a bare name, and
    takes only the base name of what the server returns (an older client uploaded with its path)."""
    from hpogrid.grid import sandbox
    from hpogrid.project import ProjectStore

    grid_project(tmp_path, num_trials=2)
    older = tmp_path / "older-client"
    older.mkdir()
    made = sandbox.build(ProjectStore().load("g"), older)  # the same bytes hpogrid run builds
    assert _client().putFile(str(made), useCacheSrv=True, reuseSandbox=True) == (0, "True")
    (entry,) = panda.state.cache_files
    assert entry.name == str(made)  # registered with the path, as sent

    task = _done(panda, _submit("run", "g", "--n_jobs", "2"))
    assert panda.state.requests.count(UPLOADS) == 1  # reused, not uploaded again
    assert sandbox_of(task.params) == made.name

    shutil.rmtree(older)
    panda.state.cache_files.clear()  # a cache without that record: hpogrid uploads, under a bare name
    for path in panda.state.cache.iterdir():
        path.unlink()
    task = _done(panda, _submit("run", "g"))
    (entry,) = panda.state.cache_files
    assert entry.name == Path(entry.name).name == sandbox_of(task.params)
    again = _done(panda, _submit("run", "g"))  # reused: the jobs fetch what the server offered
    assert sandbox_of(again.params) == entry.name and panda.state.requests.count(UPLOADS) == 2

    # submit_idds ships the same sandbox: reused too, and every evaluation job fetches it
    idds = _done(panda, _submit("submit_idds", "g", "--max_points", "2"))
    assert sandbox_of(idds.params) == entry.name and panda.state.requests.count(UPLOADS) == 2
    assert len(idds.jobs) == 2 and all(j.status == "finished" for j in idds.jobs)


def test_a_resubmission_days_later_or_by_another_user_uploads_anew(tmp_path, panda, monkeypatch):
    """Reuse is offered within 3 days and to the same user only, while the cache keeps a file 7 days and
    never overwrites it: a sandbox not offered for reuse is uploaded under a name of its own."""
    grid_project(tmp_path, num_trials=1)
    _done(panda, _submit("run", "g"))
    panda.state.age(days=4)
    _done(panda, _submit("run", "g"))  # 4 days later: not offered, still there
    assert panda.state.requests.count(UPLOADS) == 2 and len({e.stored for e in panda.state.cache_files}) == 2

    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", make_token("asmith"))  # a colleague, the same project's bytes
    task = _done(panda, _submit("run", "g"))
    assert task.user == "Asmith" and task.params["taskName"].startswith("user.asmith.hpogrid.g.")
    assert panda.state.requests.count(UPLOADS) == 3 and len({e.stored for e in panda.state.cache_files}) == 3


# -- 3: listings that are neither ordered nor complete --------------------------------------------------------
def test_tasks_show_sorts_and_narrows_what_the_server_lists(panda):
    """The server returns any n_tasks of its window: hpogrid narrows the window until the server lists it
    whole and sorts on its side, asking for no more than the question needs."""
    ids = many_tasks(panda, 600)  # one every ~hour over 24 days
    panda.state.requests.clear()
    shown, notes = _shown("--limit", "5")
    assert shown == ids[:5] and notes == ""
    assert panda.state.requests.count(LISTING) == 2 and sum(panda.state.listed) < 600  # 500 rows, then a day's
    panda.state.listed.clear()
    assert _shown("--limit", "3", "--days", "1")[0] == ids[:3] and sum(panda.state.listed) < 30
    # a name glob the server cannot apply: the listing holds every task of the window that matches
    shown, _ = _shown("--limit", "1000", "--taskname", "user.jdoe.hpogrid.other.102*")
    assert sorted(shown) == sorted(i for i in ids if str(i).startswith("102"))
    # matching tasks only in a period the server cannot list whole: none shown, and a note says why
    shown, notes = _shown("--limit", "250", "--taskname", "*other.100*")  # 20 to 24 days old
    assert shown == [] and "only the last 15 days were listed whole, older ones may be missing" in notes
    assert "narrow with --status, --taskname or --days" in notes


def test_the_90_day_window_and_tasks_of_any_age_by_id(panda):
    ids = many_tasks(panda, 4, days_apart=40)  # changed 0, 40, 80 and 120 days ago
    shown, notes = _shown("--days", "365")
    assert shown == ids[:3]  # the server lists no task older than 90 days
    (note,) = notes.strip().splitlines()
    assert "lists your tasks of the last 90 days at most" in note and "--jeditaskid" in note
    assert _shown("--days", "60") == (ids[:2], "")
    panda.state.requests.clear()
    assert _shown("--jeditaskid", str(ids[3]))[0] == [ids[3]]  # by ID: any age, and no listing
    assert LISTING not in panda.state.requests
    shown = run_cli("tasks", "show", "--jeditaskid", str(ids[3]))
    assert shown.exit_code == 0 and f"/task/{ids[3]}/" in shown.stdout


def test_report_finds_recorded_tasks_by_id_and_others_in_the_window(tmp_path, panda):
    """A project's tasks submitted from here are found at any age; those submitted elsewhere in the
    listing of the last 90 days, among many tasks of other projects."""
    project = grid_project(tmp_path, num_trials=2)
    old = _submit("run", "g")
    elsewhere = _submit("run", "g")
    for task_id in (old, elsewhere):
        _done(panda, task_id)
    panda.state.age(days=120, task_ids=[old])
    panda.state.age(days=10, task_ids=[elsewhere])
    record = project.path / "grid" / "submissions.jsonl"
    lines = record.read_text().splitlines()
    record.write_text(lines[0] + "\n")  # the second was submitted from another machine
    many_tasks(panda, 1500, days_apart=0.02)  # other projects', newer

    def tasks(*args: str) -> tuple[set[int], str]:
        result = run_cli("report", "g", "--extra", "taskid", "--to_json", "-o", "r", "-q", *args)
        assert result.exit_code == 0, result.output
        return {r["taskid"] for r in json.loads(open("r.json").read())}, result.stderr

    found, warnings = tasks("--days", "365")
    assert found == {old, elsewhere}
    (warning,) = warnings.strip().splitlines()
    assert "submitted elsewhere were searched in the last 90 days only" in warning
    assert tasks("--days", "30") == ({elsewhere}, "")  # --days: last changed within, recorded or not
    panda.state.requests.clear()
    assert tasks("--jeditaskid", str(old))[0] == {old}  # by ID, any age, no listing
    assert LISTING not in panda.state.requests


# -- 4: a task JEDI has not registered yet ---------------------------------------------------------------
def test_a_just_submitted_task_is_shown_and_commands_wait_for_it(tmp_path, panda):
    grid_project(tmp_path, num_trials=1)
    panda.state.hold_registration = True  # JEDI takes minutes on the grid
    task_id = _submit("run", "g")
    rows = json.loads(run_cli("tasks", "show", "--json", "--outcol", "jeditaskid,status,errordialog").stdout)
    assert [(r["jeditaskid"], r["status"]) for r in rows] == [(task_id, "submitted")]
    assert "waiting for JEDI to register it" in rows[0]["errordialog"]
    assert _shown("--jeditaskid", str(task_id))[0] == [task_id]
    panda.state.requests.clear()
    assert _shown("--status", "running")[0] == []  # the listing of running tasks is whole: nothing asked by ID
    assert panda.state.requests == [LISTING]
    for command in (["kill"], ["retry"], ["retry", "--new-params", '{"ramCount": 3000}']):
        refused = run_cli("tasks", *command[:1], str(task_id), *command[1:])
        assert refused.exit_code == 2, refused.output
        (line,) = refused.stderr.strip().splitlines()
        assert f"task {task_id}: not registered by JEDI yet (submitted " in line and "in a few minutes" in line
    report = run_cli("report", "g", "-q")
    assert report.exit_code == 0 and f"task {task_id} submitted from here: not known to the server yet" in report.stderr

    panda.state.register(task_id)
    killed = run_cli("tasks", "kill", str(task_id))
    assert killed.exit_code == 0 and f"task {task_id}: kill registered" in killed.stdout
    assert panda.state.wait(task_id).status == "aborted"
    assert _shown()[0] == [task_id]


def test_a_refusal_passes_on_the_servers_reason(tmp_path, panda):
    with panda.state.lock:
        panda.state.tasks[77] = Task(77, {"taskName": "user.asmith.hpogrid.x.1/"}, "Asmith", "running")
        panda.state.tasks[78] = Task(78, {"taskName": "user.jdoe.hpogrid.x.2/"}, USER, "exhausted")
    for command, task_id, reason in [
        ("kill", 77, "kill refused: Permission denied: not the task owner or no production role"),
        ("kill", 12345, "kill refused: jediTaskID=12345 not found"),
        ("retry", 78, "retry refused: Command rejected: the retry command is not accepted if the task is in "
         "exhausted status and production role is missing"),
    ]:  # fmt: skip
        refused = run_cli("tasks", command, str(task_id))
        assert refused.exit_code == 2
        (line,) = refused.stderr.strip().splitlines()
        assert line == f"Error: task {task_id}: {reason}"


# -- 5, 6: what travels in the sandbox, and whose ids a report shows -----------------------------------------
def test_the_sandbox_holds_no_path_of_the_submitters_disk(tmp_path, base):
    from hpogrid.grid import sandbox
    from hpogrid.project import ProjectStore
    from tests.test_local_run import make_project

    config = tmp_path / "hpo.json"
    config.write_text(json.dumps({"num_trials": 2, "log_dir": str(tmp_path / "my-runs")}))
    make_project(tmp_path, "p", "def f(config, reporter):\n    reporter(loss=config['x'])\n", "f", {})
    ProjectStore().update("p", {"hpo_config": str(config)}, None)
    project = ProjectStore().load("p")
    assert str(tmp_path) in (project.path / "project.json").read_text()  # the local record keeps its paths
    with tarfile.open(sandbox.build(project, tmp_path)) as tar:
        shipped = json.loads(tar.extractfile("projects/p/project.json").read())
        for member in tar.getmembers():
            if not member.name.startswith("hpogrid_pkg/"):
                assert str(tmp_path).encode() not in tar.extractfile(member).read(), member.name
    assert shipped["scripts_path"] == "scripts" and "sources" not in shipped
    assert shipped["configs"]["hpo_config"]["log_dir"] is None  # the job writes its runs in its work directory
    assert shipped["configs"]["hpo_config"]["num_trials"] == 2 and shipped["scripts_digest"]


def test_report_takes_task_and_job_ids_from_the_server(tmp_path, panda):
    """An emulated job's metadata says task 0, job 1: the report shows the server's task and PanDA IDs."""
    grid_project(tmp_path, num_trials=2)
    emulated = run_cli("run", "g", "--emulate")
    assert emulated.exit_code == 0, emulated.output
    (metadata_file,) = Path(tmp_path / "hpogrid-base" / "projects" / "g" / "runs").glob(
        "emulate-*/job_1/userJobMetadata.json"
    )
    metadata = json.loads(metadata_file.read_text())
    assert (metadata["job"]["task"], metadata["job"]["job"]) == (0, 1)
    task = Task(4242, {"taskName": "user.jdoe.hpogrid.g.20261201000000/"}, USER, "done")
    task.jobs = [Job(777001, 1, status="finished", metadata=metadata)]
    panda.state.tasks[4242] = task
    result = run_cli("report", "g", "--source", "grid", "--extra", "taskid,jobid", "--to_json", "-o", "r", "-q")
    assert result.exit_code == 0, result.output
    rows = json.loads(open("r.json").read())
    assert len(rows) == len(metadata["trials"]) and {(r["taskid"], r["jobid"]) for r in rows} == {(4242, 777001)}
    assert {r["source"] for r in rows} == {"task 4242 job 777001"}


# -- the test server itself, against the real panda-client -------------------------------------------------
def test_the_test_server_answers_as_panda_server_does(tmp_path, panda, monkeypatch):
    client = _client()
    folder = tmp_path / "up"
    folder.mkdir()
    content = gzip.compress(b"sandbox bytes", mtime=0)
    first, second = folder / "jobO.1.tar.gz", folder / "jobO.2.tar.gz"
    first.write_bytes(content)
    second.write_bytes(content)
    assert client.putFile(str(first), useCacheSrv=True, reuseSandbox=True) == (0, "True")
    assert client.putFile(str(second), useCacheSrv=True, reuseSandbox=True) == (0, f"NewFileName:{first}")
    assert client.putFile(str(first), useCacheSrv=True) == (0, "ERROR: cannot overwrite file")
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", make_token("asmith"))
    assert client.putFile(str(second), useCacheSrv=True, reuseSandbox=True) == (0, "True")  # not offered to others
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", make_token("jdoe"))
    panda.state.age(days=4)
    (folder / "jobO.3.tar.gz").write_bytes(content)
    assert client.putFile(str(folder / "jobO.3.tar.gz"), useCacheSrv=True, reuseSandbox=True) == (0, "True")
    panda.state.age(days=4)  # 8 days: the first two uploads are cleaned away, the third is kept
    assert sorted(p.name for p in panda.state.cache.iterdir()) == ["jobO.3.tar.gz"]

    # submit: the new task's ID in data; JEDI-side calls do not see it before registration
    panda.state.hold_registration = True
    params = {"taskName": "user.jdoe.x.1/", "uniqueTaskName": True, "jobParameters": [], "nEvents": 0}
    status, reply = client.insertTaskParams_internal(params)
    assert status == 0 and reply["success"] is True and f"jediTaskID={reply['data']}" in reply["message"]
    task_id = reply["data"]
    assert client.insertTaskParams(params)[1][0] == 1  # still in DEFT: "already queued"
    assert client.getTaskStatus(task_id) == (255, None)
    assert client.get_task_details_json(task_id) == (0, (False, "Task not found"))
    assert client.killTask(task_id) == (0, (False, f"jediTaskID={task_id} not found"))
    panda.state.register(task_id)
    assert client.get_task_details_json(task_id)[1][1]["jediTaskID"] == task_id
    assert client.insertTaskParams(params)[1][0] == 2  # active in JEDI
    assert client.killTask(task_id) == (0, (True, 0))
    assert client.retryTask(task_id)[1][0] == 4

    # the listing: the last 90 days at most, any n_tasks of them (in ID order), not the newest
    ids = many_tasks(panda, 300, days_apart=0.7)  # 0 to 209.3 days ago
    status, rows = client.get_tasks_detailed_info_since(n_tasks=1000)
    listed = [r["jediTaskID"] for r in rows if r["jediTaskID"] in ids]
    assert status == 0 and sorted(listed) == sorted(ids[:129])  # changed less than 90 days ago (128 * 0.7 = 89.6)
    old = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=200)).strftime("%Y-%m-%d %H:%M:%S")
    assert len(client.get_tasks_detailed_info_since(since=old, n_tasks=1000)[1]) == len(rows)
    cut = [r["jediTaskID"] for r in client.get_tasks_detailed_info_since(n_tasks=20)[1]]
    assert len(cut) == 20 and cut == sorted(cut) and cut != sorted(ids[:20])
