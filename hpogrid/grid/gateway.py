"""The one place that talks to PanDA: a thin gateway over panda-client 2.2.0 (``pandaclient``).

Nothing else in hpogrid imports pandaclient. The gateway

* sets PANDA_BEHIND_REAL_LB before the import (the import resolves the cache host otherwise, and
  crashes without a network) and re-reads the server URLs from the environment on every use;
* checks credentials first and never prompts: an x509 proxy (X509_USER_PROXY or /tmp/x509up_u<uid>)
  or OIDC (PANDA_AUTH=oidc, PANDA_AUTH_VO, a token in PANDA_AUTH_ID_TOKEN, OIDC_AUTH_TOKEN_FILE,
  OIDC_AUTH_ID_TOKEN or the cached $PANDA_CONFIG_ROOT/.token);
* turns the client's reply shapes ((status, data), (status, (ok, data)), raw envelopes) into
  values and GridError exceptions, retrying connection errors, 5xx replies and unreadable bodies with
  backoff; a retried submission is recognised by its unique task name and never makes a second task;
* bounds each request: the client waits up to 600 s for a silent server, the gateway
  HPOGRID_GRID_TIMEOUT seconds (default 120) of no progress, then retries.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hpogrid.errors import HpogridError, MissingExtraError

DEFAULT_CONFIG_ROOT = "~/.pathena"  # where panda_setup.sh keeps the OIDC token cache
TASK_ID = re.compile(r"jediTaskID=(\d+)")
KILLED_STATES = ("aborting", "aborted", "toabort")  # JEDI states of a task being (or done being) killed
RETRY_DELAY_VARIABLE = "HPOGRID_GRID_RETRY_DELAY"  # seconds before the first retry (doubles each time)
TIMEOUT_VARIABLE = "HPOGRID_GRID_TIMEOUT"  # seconds a request may make no progress (connect, read, write)
LISTING_DAYS = 90  # the server's task listing looks back this far at most, with or without `since`


class GridError(HpogridError):
    """PanDA refused or could not answer a request; the message says which and why."""


class CredentialsError(GridError):
    """No usable grid credentials."""


class Unreachable(GridError):
    """The PanDA server did not answer usefully, even after retries."""


class Refused(GridError):
    """The server refused a command on a task; the message carries its reason."""


@dataclass(frozen=True)
class Submitted:
    task_id: int
    message: str
    resubmitted: bool = False  # True if a retry found the task the first attempt had created


def check_credentials(environ: dict[str, str] | None = None) -> str:
    """'oidc' or 'x509' if credentials are there; else a CredentialsError saying how to get them."""
    env = os.environ if environ is None else environ
    if env.get("PANDA_AUTH", "").lower() == "oidc":
        if not (env.get("PANDA_AUTH_VO") or env.get("OIDC_AUTH_VO")):
            raise CredentialsError("PANDA_AUTH_VO: not set; with PANDA_AUTH=oidc set it to your VO, e.g. atlas")
        token_file = env.get("OIDC_AUTH_TOKEN_FILE")
        if token_file and not Path(token_file).is_file():
            raise CredentialsError(f"OIDC_AUTH_TOKEN_FILE: {token_file} does not exist")
        cache = Path(env.get("PANDA_CONFIG_ROOT", DEFAULT_CONFIG_ROOT)).expanduser() / ".token"
        if not (env.get("PANDA_AUTH_ID_TOKEN") or token_file or env.get("OIDC_AUTH_ID_TOKEN") or cache.is_file()):
            raise CredentialsError(
                "no OIDC token: set PANDA_AUTH_ID_TOKEN or OIDC_AUTH_TOKEN_FILE, or log in once "
                f"interactively with `pbook` so that {cache} exists"
            )
        return "oidc"
    proxy = env.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"
    if not Path(proxy).is_file():
        raise CredentialsError(
            f"no grid proxy at {proxy}: run `voms-proxy-init -voms atlas`, or use a token with "
            "PANDA_AUTH=oidc PANDA_AUTH_VO=atlas"
        )
    return "x509"


def _client():
    """pandaclient.Client, imported safely and pointed at the URLs in the environment."""
    os.environ.setdefault("PANDA_BEHIND_REAL_LB", "1")
    os.environ.setdefault("PANDA_CONFIG_ROOT", str(Path(DEFAULT_CONFIG_ROOT).expanduser()))
    try:
        from pandaclient import Client, openidc_utils
    except ImportError as exc:
        raise MissingExtraError("pandaclient", "grid", "Talking to PanDA") from exc
    # the client reads its URLs once, at import: follow the environment as it is now
    for variable, base, api in (
        ("PANDA_URL", "baseURL", "server_base_path"),
        ("PANDA_URL_SSL", "baseURLSSL", "server_base_path_ssl"),
        ("PANDACACHE_URL", "baseURLCSRVSSL", "cache_base_path_ssl"),
    ):
        url = os.environ.get(variable)
        if url:
            parsed = urlparse(url)
            setattr(Client, base, url)
            setattr(Client, api, f"{parsed.scheme}://{parsed.netloc}/api/v1")
    openidc_utils.input = _no_prompt  # the device-code login asks [y/n] on stdin: never here
    if not isinstance(Client.httpx, _Timed):
        Client.httpx = _Timed(Client.httpx)
    import logging

    quiet = logging.getLogger("panda-client")  # the client logs its failures to stdout; we report them
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    return Client


class _Timed:
    """The httpx module as panda-client uses it (``httpx.Client(..., timeout=600)``), with hpogrid's
    timeout instead, read from the environment at each request."""

    def __init__(self, httpx: Any):
        self._httpx = httpx

    def __getattr__(self, name: str) -> Any:
        return getattr(self._httpx, name)

    def Client(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - httpx's name
        kwargs["timeout"] = float(os.environ.get(TIMEOUT_VARIABLE) or 120)
        return self._httpx.Client(*args, **kwargs)


@contextlib.contextmanager
def _working_directory(folder: Path):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def _no_prompt(*_args: Any) -> str:
    raise CredentialsError(
        "the cached OIDC token has expired: log in again interactively with `pbook`, or set PANDA_AUTH_ID_TOKEN"
    )


class Gateway:
    """PanDA calls hpogrid makes. Every method raises GridError (one clear line) when it fails."""

    def __init__(self, attempts: int = 4, delay: float | None = None, sleep: Callable[[float], None] = time.sleep):
        self.client = _client()  # first: a missing panda-client says which extra to install
        self.mode = check_credentials()
        self.attempts = max(attempts, 1)
        self.delay = float(os.environ.get(RETRY_DELAY_VARIABLE, 2.0)) if delay is None else delay
        self.sleep = sleep

    # -- plumbing --------------------------------------------------------------------------------
    def _call(self, what: str, function: Callable, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """Call a client function, retrying transient failures; returns the client's (status, payload)."""
        return self._retrying(f"PanDA {what}", lambda: self._quietly(function, *args, **kwargs), self.server_hint())

    def _retrying(self, what: str, attempt: Callable[[], tuple[int, Any]], hint: str) -> tuple[int, Any]:
        """(status, payload) of the first attempt that is not a connection error, 5xx or unreadable reply."""
        last = ""
        for number in range(self.attempts):
            if number:
                self.sleep(self.delay * 2 ** (number - 1))
            status, payload = attempt()
            if status == 0 and payload is not None:
                return status, payload
            if status not in (1, 255) and not 500 <= status < 600:
                return status, payload  # a definite answer (403, 404, ...): no retry
            last = _describe(status, payload)
        raise Unreachable(f"{what}: {last} (after {self.attempts} attempts); {hint}")

    def _quietly(self, function: Callable, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        """The client prints tracebacks and logs on bad replies; keep them off the user's terminal."""
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                return function(*args, **kwargs)
        except (ValueError, AttributeError, TypeError):  # the client reads an unreadable 200 reply without a guard
            return 255, None  # (json.loads fails, or a body left as bytes is used as a dict): retried
        except SystemExit as exc:  # the client exits when OIDC settings are incomplete
            raise CredentialsError(f"PanDA client refused the credentials: {sink.getvalue().strip()[-300:]}") from exc

    def server_hint(self) -> str:
        return f"server {os.environ.get('PANDA_URL_SSL', self.client.baseURLSSL)}"

    @property
    def server(self) -> str:
        """The PanDA server this gateway talks to (scheme://host:port), as submission records name it."""
        parsed = urlparse(os.environ.get("PANDA_URL_SSL") or self.client.baseURLSSL)
        return f"{parsed.scheme}://{parsed.netloc}"

    def _definite(self, what: str, status: int, payload: Any) -> Any:
        if status != 0:
            raise GridError(f"PanDA {what}: {_describe(status, payload)}")
        return payload

    # -- calls -----------------------------------------------------------------------------------
    def hello(self) -> None:
        self._definite("is_alive", *self._call("is_alive", self.client.hello))

    def upload(self, path: Path) -> str:
        """Put a sandbox on the cache server, or reuse an identical one of yours; returns the file name
        jobs fetch (a bare name: the server registers the name as the client sends it, and returns it
        on reuse, so the upload runs from the sandbox's folder, as prun's does)."""
        path = Path(path).resolve()
        with _working_directory(path.parent):
            status, message = self._call("upload", self.client.putFile, path.name, useCacheSrv=True, reuseSandbox=True)
        message = str(self._definite("upload", status, message))
        if message.startswith("NewFileName:"):  # reuse; a name another client uploaded with its path: the file
            return message.split(":", 1)[1].replace("\\", "/").rsplit("/", 1)[-1]
        if message != "True":
            raise GridError(f"PanDA upload of {path.name}: {message}")
        return path.name

    def cache_url(self) -> str:
        """The sourceURL jobs fetch sandboxes from."""
        parsed = urlparse(self.client.baseURLCSRVSSL)
        return f"{parsed.scheme}://{parsed.netloc}"

    def submit(self, task_params: dict) -> Submitted:
        """Submit a task once. A retry after a lost reply finds the first attempt's task by its unique name."""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(self.delay * 2 ** (attempt - 1))
            status, reply = self._quietly(self.client.insertTaskParams, task_params, properErrorCode=True)
            if status in (1, 255) or 500 <= status < 600:
                last = _describe(status, reply)
                continue
            if status != 0 or not isinstance(reply, (tuple, list)) or len(reply) != 2:
                raise GridError(f"PanDA submit: {_describe(status, reply)}")
            code, message = reply
            found = TASK_ID.search(str(message))
            if code == 0 and found:
                return Submitted(int(found.group(1)), str(message))
            if code in (1, 2) and found and attempt:
                return Submitted(int(found.group(1)), str(message), resubmitted=True)
            if code in (1, 2):
                raise GridError(
                    f"PanDA submit: a task named {task_params.get('taskName')} exists already ({message}); "
                    "outDS must be new for every submission"
                )
            raise GridError(f"PanDA submit refused the task (code {code}): {message}")
        raise Unreachable(f"PanDA submit: {last} (after {self.attempts} attempts); {self.server_hint()}")

    def tasks(self, filters: dict[str, Any] | None = None, days: float = LISTING_DAYS, limit: int = 500) -> list[dict]:
        """Tasks modified in the last `days` days (JediTaskSpec fields), by equality filters (the caller's
        own tasks unless userName is given), highest ID first. The server looks back LISTING_DAYS at most
        and returns any `limit` of the tasks in its window, not the newest: a reply of `limit` rows may
        have left others out (hpogrid.grid.monitor.listing narrows the window until it does not)."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - min(days, LISTING_DAYS) * 86400))
        status, rows = self._call(
            "task listing",
            self.client.get_tasks_detailed_info_since,
            since=since,
            filters={k: str(v) for k, v in (filters or {}).items()},
            n_tasks=limit,
        )
        rows = self._definite("task listing", status, rows)
        return sorted(rows, key=lambda r: -int(r.get("jediTaskID") or 0))

    def task(self, task_id: int) -> dict | None:
        """One task by its ID, of any age (JediTaskSpec fields); None if JEDI does not know it (yet)."""
        status, reply = self._call("task details", self.client.get_task_details_json, int(task_id))
        reply = self._definite("task details", status, reply)
        ok, data = reply if isinstance(reply, (list, tuple)) and len(reply) == 2 else (False, reply)
        return data if ok is True and isinstance(data, dict) and data.get("jediTaskID") is not None else None

    def task_params(self, task_id: int) -> dict:
        status, reply = self._call("task parameters", self.client.getTaskParamsMap, task_id)
        reply = self._definite("task parameters", status, reply)
        code, params = reply if isinstance(reply, (list, tuple)) else (0, reply)
        if code != 0 or not isinstance(params, dict):
            raise GridError(f"task {task_id}: {params}")
        return params

    def kill(self, task_id: int) -> str:
        status, reply = self._call("kill", self.client.killTask, task_id)
        ok, message = self._definite("kill", status, reply)
        if ok is not True:
            # a kill whose reply was lost, then retried, is refused: the task is being killed already
            state = (self.task(task_id) or {}).get("status")
            if state in KILLED_STATES:
                return f"task {task_id}: being killed ({state})"
            raise Refused(f"task {task_id}: kill refused: {str(message).strip()}")
        return f"task {task_id}: kill registered"

    def retry(self, task_id: int, new_params: dict | None = None) -> str:
        status, reply = self._call("retry", self.client.retryTask, task_id, newParams=new_params or None)
        data, message = self._definite("retry", status, reply)
        if not (data is True or (type(data) is int and data in (0, 3))):  # 0 registered, 3 reactivated
            raise Refused(f"task {task_id}: retry refused: {str(message).strip()}")
        return f"task {task_id}: {str(message).strip()}"

    def job_metadata(self, task_id: int) -> dict[int, Any]:
        """{PandaID: metadata} of the task's finished jobs (what each job wrote as userJobMetadata.json)."""
        status, reply = self._call("job metadata", self.client.getUserJobMetadata, task_id)
        reply = self._definite("job metadata", status, reply)
        out = {}
        for panda_id, metadata in (reply or {}).items():
            if isinstance(metadata, str):
                with contextlib.suppress(ValueError):
                    metadata = json.loads(metadata)
            out[int(panda_id)] = metadata
        return out

    def hyperparameters(self, task_id: int) -> list[dict]:
        """Points and losses of an iDDS HPO task (through PanDA's relay): [{id, parameters, loss}]."""
        from pandaclient import idds_api

        api = idds_api.get_api(compress=True, manager=True)
        status, reply = self._call("iDDS relay", api.get_hyperparameters, workload_id=task_id, request_id=None)
        reply = self._definite("iDDS relay", status, reply)
        ok, result = (reply[0], reply[1]) if isinstance(reply, (list, tuple)) and len(reply) == 2 else (False, reply)
        if ok is not True:
            raise GridError(f"task {task_id}: iDDS relay: {result}")
        if isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[0], bool):
            ok, result = result  # iDDS wraps its own (ok, data)
            if not ok:
                raise GridError(f"task {task_id}: iDDS: {result}")
        return list(result or [])

    def steering_logs(self, task_id: int, request_id: int | None = None) -> tuple[str, bytes]:
        """The logs of an iDDS task's steering runs: (file name, .tgz bytes), from iDDS's own REST server
        (IDDS_HOST, GET /logs/<workload_id>/<request_id>; the workload is the JEDI task ID). PanDA's
        relay cannot carry them: it runs idds-client's download_logs on the PanDA server and returns a
        path there. Authenticates as panda-client does (token or proxy), in iDDS's headers."""
        import ssl

        url = f"{idds_url()}/logs/{int(task_id)}/{'null' if request_id is None else int(request_id)}"
        http = self.client._HttpClient()
        headers = {}
        if self.mode == "oidc":
            self._quietly(http.get_id_token)
            headers = {"X-IDDS-Auth-Type": "oidc", "X-IDDS-Auth-VO": http.auth_vo, "X-IDDS-Auth-Token": http.id_token}
        try:
            verify = http._build_ssl_context(url.startswith("https"))
        except (ssl.SSLError, OSError) as exc:
            raise CredentialsError(f"cannot use your grid proxy for {url}: {exc}") from exc

        def fetch() -> tuple[int, Any]:
            try:
                with self.client.httpx.Client(verify=verify) as session:
                    reply = session.get(url, headers=headers)
            except Exception as exc:  # noqa: BLE001 - httpx's transport errors: retried like the client's
                return 1, str(exc)
            if reply.status_code == 200 and reply.content:
                return 0, (_attachment_name(reply.headers, task_id), reply.content)
            reason = _idds_reason(reply.headers)
            if reason is not None and reply.status_code != 503:  # iDDS's own answer, not a proxy's
                raise _idds_refusal(task_id, reply.status_code, reason)
            return reply.status_code or 255, reply.text

        status, payload = self._retrying("iDDS logs", fetch, f"server {idds_url()} (set {IDDS_VARIABLE} for another)")
        if status != 0:
            raise GridError(f"task {task_id}: iDDS logs: {_describe(status, payload)}")
        return payload

    def nickname(self) -> str:
        """The grid nickname used in dataset names (user.<nickname>.…)."""
        for variable in ("PANDA_NICKNAME", "RUCIO_ACCOUNT"):
            if os.environ.get(variable):
                return os.environ[variable]
        if self.mode == "oidc":
            _, _, name = self._quietly(self.client.get_user_name_from_token)
            if name:
                return str(name)
        else:
            from pandaclient import PsubUtils

            name = self._quietly(PsubUtils.getNickname)
            if name:
                return str(name)
        raise CredentialsError(
            "cannot tell your grid nickname from the credentials: set RUCIO_ACCOUNT (or PANDA_NICKNAME)"
        )


def _describe(status: int, payload: Any) -> str:
    if status == 1:
        return f"cannot connect ({str(payload).strip()[:200]})"
    if status == 255:
        return "no usable reply (an HTTP error, a lost connection or a body that is not a PanDA answer)"
    if status and 500 <= status < 600:
        return f"server error HTTP {status}"
    if status:
        text = str(payload).strip().replace("\n", " ")[:200]
        return f"HTTP {status}: {text}"
    return str(payload)[:200]


IDDS_VARIABLE = "IDDS_HOST"  # idds-client's own variable for the iDDS REST server
IDDS_URL = "https://iddsserver.cern.ch:443/idds"  # ATLAS's iDDS


def idds_url() -> str:
    return (os.environ.get(IDDS_VARIABLE) or IDDS_URL).rstrip("/")


def _idds_reason(headers: Any) -> str | None:
    """iDDS's error text: the ExceptionMessage header, bare or as {"msg": ...}; None if not iDDS's."""
    text = headers.get("ExceptionMessage")
    if text is None:
        return None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return str(json.loads(text)["msg"])
    return str(text)


def _idds_refusal(task_id: int, status: int, reason: str) -> GridError:
    if status == 401:
        return CredentialsError(f"iDDS ({idds_url()}) refused your credentials: {reason}")
    if reason.startswith("Cannot find requests"):
        return GridError(
            f"task {task_id}: iDDS has no request for it; only `hpogrid submit_idds` tasks have a steering"
        )
    if reason.startswith("More than one request"):
        return GridError(f"task {task_id}: iDDS has several requests for it; say which with --request-id")
    if reason.startswith("No log files"):
        return GridError(f"task {task_id}: no steering logs yet (iDDS keeps them once a steering run has ended)")
    return GridError(f"task {task_id}: iDDS logs: HTTP {status}: {reason}")


def _attachment_name(headers: Any, task_id: int) -> str:
    """The file name iDDS sends (Content-Disposition), as a bare name; idds-client's default otherwise."""
    found = re.search(r'filename="?([^";]+)"?', headers.get("Content-Disposition") or "")
    name = Path(found.group(1).strip()).name if found else ""
    return name if re.fullmatch(r"[\w.-]+", name) and name.strip(".") else f"logs_{int(task_id)}.tar.gz"


CRIC_VARIABLE = "HPOGRID_CRIC_URL"
CRIC_URL = "https://atlas-cric.cern.ch/api/atlas/pandaqueue/query/?json"


def grid_queues(timeout: float = 30.0) -> dict[str, dict]:
    """Every PanDA queue as ATLAS CRIC describes it ({queue name: fields}); a GridError if unreachable."""
    import ssl
    import urllib.error
    import urllib.request

    url = os.environ.get(CRIC_VARIABLE) or CRIC_URL
    context = None
    if url.startswith("https"):
        context = ssl.create_default_context()
        proxy = os.environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}"
        if Path(proxy).is_file():
            with contextlib.suppress(ssl.SSLError, OSError):
                context.load_cert_chain(proxy)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            data = json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(
            f"cannot read the grid queues from {url} ({reason}); check the network, or point {CRIC_VARIABLE} at "
            "a CRIC pandaqueue JSON"
        ) from exc
    if isinstance(data, list):
        data = {str(q.get("name")): q for q in data if isinstance(q, dict)}
    if not isinstance(data, dict):
        raise Unreachable(f"{url} did not answer with CRIC's pandaqueue JSON")
    return {name: fields for name, fields in data.items() if isinstance(fields, dict)}
