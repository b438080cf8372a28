"""PanDA task parameters, built by pure functions (no network, no pandaclient).

prun_task_params gives the map panda-client's prun builds for
    prun --exec CMD --containerImage IMAGE --outDS OUT --nJobs N --forceStaged --noBuild --useSandbox
         [--site S[,S...]] [--architecture '&nvidia'] [--outputs F,...] [--disableAutoRetry]
         [--memory MB] [--maxWalltime H]
(tests/test_taskparams.py holds it against prun's own dry run, field by field). An input dataset
is given to every job whole, the way phpo hands training data to HPO jobs ("nosplit,repeat"):
prun can only split a dataset between jobs, and every trial needs all of the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

CLIENT = "panda-client-2.2.0"
SEQ_PLACEHOLDER = "%RNDM:0"  # prun's job serial number: ${SEQNUMBER} = 1, 2, ... N
INPUT_LIST = "hpogrid_inputs.txt"  # the job's input file names, comma-separated, written by the job wrapper
GPU_ARCHITECTURE = "&nvidia"
RUN_MAIN = (
    'echo "=== cat exec script ==="; cat __run_main_exec.sh; echo; '
    'echo "=== exec script ==="; /bin/sh __run_main_exec.sh'
)
HPO_RUN_MAIN = (
    "while [ ! -f __payload_in_sync_file__ ]; do sleep 5; done; "
    'echo "=== cat exec script ==="; cat __run_main_exec.sh; echo; echo "=== exec script ==="; '
    "/bin/sh __run_main_exec.sh; REAL_MAIN_RET_CODE=$?; touch __payload_out_sync_file__; exit $REAL_MAIN_RET_CODE "
)


@dataclass(frozen=True)
class TaskSpec:
    """What a prun-style task runs, and where."""

    out_ds: str
    container: str
    exec_command: str  # may hold SEQ_PLACEHOLDER
    nickname: str
    n_jobs: int = 1
    sites: tuple[str, ...] = ()
    architecture: str = ""
    in_ds: str | None = None
    outputs: tuple[str, ...] = ()
    auto_retry: bool = True
    memory_mb: int = 0
    walltime_hours: int = 0
    excluded_sites: tuple[str, ...] = ()  # prun --excludedSite
    cores: int = 0  # prun --nCore (coreCount when more than 1)
    max_attempts: int = 0  # prun --maxAttempt (1 to 50; 0: the server's default)
    priority: int | None = None  # prun --priority
    no_email: bool = False  # prun --noEmail
    archive: str | None = None  # the sandbox's name on the cache server
    source_url: str = "https://pandacache.cern.ch"
    cli_params: str = "hpogrid run"
    os_info: str = ""
    extra: dict = field(default_factory=dict)


def _site_fields(sites: tuple[str, ...], excluded: tuple[str, ...] = ()) -> dict:
    chosen = [s for s in sites if s and s.upper() not in ("AUTO", "ANY")]
    if len(chosen) == 1:
        return {"site": chosen[0], "excludedSite": list(excluded), "includedSite": None}
    return {"site": None, "excludedSite": list(excluded), "includedSite": chosen or None}


def _exec_parameters(command: str) -> list[dict]:
    """prun's -p "..." parameters: the URL-quoted command, cut around the job serial number."""
    pieces = re.split(r"%RNDM[:=](\d+)", command)
    params = [{"type": "constant", "value": '-p "', "padding": False}]
    for position, piece in enumerate(pieces):
        if position % 2:
            params.append(
                {
                    "type": "template",
                    "value": "${SEQNUMBER}",
                    "param_type": "pseudo_input",
                    "dataset": "seq_number",
                    "offset": int(piece),
                    "padding": False,
                }
            )
        elif piece:
            params.append({"type": "constant", "value": quote(piece), "padding": False})
    params.append({"type": "constant", "value": '"'})
    return params


def _output_parameters(spec: TaskSpec) -> list[dict]:
    params, names = [], {}
    for name in spec.outputs:
        lfn = f"user.{spec.nickname}.$JEDITASKID._${{SN/P}}.{name}"
        dataset = f"{spec.out_ds}_{name}/"
        params.append(
            {
                "type": "template",
                "value": lfn,
                "param_type": "output",
                "dataset": dataset,
                "container": dataset,
                "hidden": True,
            }
        )
        names[name] = lfn
    if names:
        params.append({"type": "constant", "value": f'-o "{names}"'})
    return params


def training_data_parameters(in_ds: str, list_file: str) -> list[dict]:
    """Every file of in_ds to every job (phpo's training-data form), names listed in list_file."""
    return [
        {"type": "constant", "value": f"--writeInputToTxt IN_DATA:{list_file}"},
        {
            "type": "template",
            "param_type": "input",
            "value": '-i "${IN_DATA/T}"',
            "dataset": in_ds,
            "attributes": "nosplit,repeat",
        },
        {"type": "constant", "value": "--inMap \"{'IN_DATA': ${IN_DATA/T}}\""},
    ]


def log_parameters(out_ds: str) -> dict:
    return {
        "dataset": f"{out_ds}.log/",
        "container": f"{out_ds}.log/",
        "type": "template",
        "param_type": "log",
        "value": f"{out_ds}.log.$JEDITASKID.${{SN}}.log.tgz",
    }


def multi_step_exec(container: str, main: str = RUN_MAIN) -> dict:
    return {
        "preprocess": {"command": "${TRF}", "args": "--preprocess ${TRF_ARGS}"},
        "postprocess": {"command": "${TRF}", "args": "--postprocess ${TRF_ARGS}"},
        "containerOptions": {"containerExec": main, "containerImage": container},
    }


def prun_task_params(spec: TaskSpec) -> dict:
    """The task-parameter map of a container job with N jobs and no split input (see module doc)."""
    if spec.n_jobs < 1:
        raise ValueError("n_jobs must be at least 1")
    params: dict = {
        "taskName": f"{spec.out_ds}/",
        "uniqueTaskName": True,
        "vo": "atlas",
        "architecture": spec.architecture,
        "transUses": "",
        "transHome": None,
        "processingType": f"{CLIENT}-jedi-run",
        "prodSourceLabel": "user",
        **_site_fields(spec.sites, spec.excluded_sites),
    }
    if spec.priority is not None:
        params["currentPriority"] = spec.priority
    params.update({"nEvents": spec.n_jobs, "nEventsPerJob": 1, "cliParams": spec.cli_params})
    if spec.no_email:
        params["noEmail"] = True
    params["osInfo"] = spec.os_info
    if not spec.auto_retry:
        params["disableAutoRetry"] = 1
    params["nMaxFilesPerJob"] = 200
    if spec.walltime_hours > 0:
        params["maxWalltime"] = spec.walltime_hours
    if spec.memory_mb > 0:
        params["ramCount"] = spec.memory_mb
        params["ramCountUnit"] = "MBPerCore"
    if spec.cores > 1:
        params["coreCount"] = spec.cores
    if 0 < spec.max_attempts <= 50:
        params["maxAttempt"] = spec.max_attempts
    params.update(
        {
            "respectSplitRule": True,
            "sourceURL": spec.source_url,
            "container_name": spec.container,
            "multiStepExec": multi_step_exec(spec.container),
            "log": log_parameters(spec.out_ds),
        }
    )
    job: list[dict] = [
        {"type": "constant", "value": '-j "" --sourceURL ${SURL}'},
        {"type": "constant", "value": "-r ."},
        {"type": "constant", "value": "__delimiter__", "hidden": True},
        {"type": "constant", "value": f"-a {spec.archive}"},
        *_output_parameters(spec),
        *(training_data_parameters(spec.in_ds, INPUT_LIST) if spec.in_ds else []),
        *_exec_parameters(spec.exec_command),
    ]
    params["jobParameters"] = job
    params["noInput"] = True
    params["useLocalIO"] = 1
    params.update(spec.extra)
    return params


@dataclass(frozen=True)
class HpoSpec:
    """What an iDDS-steered HPO task runs (the map phpo builds)."""

    out_ds: str
    evaluation_container: str
    evaluation_command: str
    steering_container: str
    steering_arguments: str  # run as `docker <arguments>` with %IN %OUT %MAX_POINTS %NUM_POINTS
    search_space: dict
    max_points: int
    n_parallel: int = 1
    points_per_generation: int = 2
    min_unevaluated_points: int | None = None
    max_evaluation_jobs: int | None = None
    sites: tuple[str, ...] = ()
    architecture: str = ""
    in_ds: str | None = None
    archive: str | None = None
    source_url: str = "https://pandacache.cern.ch"
    metadata_file: str | None = "userJobMetadata.json"
    cli_params: str = "hpogrid submit_idds"
    extra: dict = field(default_factory=dict)


def hpo_task_params(spec: HpoSpec) -> dict:
    """The hpoWorkflow task-parameter map, as `phpo` builds it (held against its dry run in the tests)."""
    params: dict = {
        "noInput": True,
        "nEventsPerJob": 1,
        "nEvents": spec.n_parallel,
        "maxNumJobs": spec.max_evaluation_jobs or 2 * spec.max_points,
        "totNumJobs": spec.max_points,
        "taskName": f"{spec.out_ds.rstrip('/')}/",
        "vo": "atlas",
        "architecture": spec.architecture,
        "hpoWorkflow": True,
        "transUses": "",
        "transHome": "",
        "transPath": "http://pandaserver.cern.ch:25080/trf/user/runHPO-00-00-01",
        "processingType": f"{CLIENT}-jedi-hpo",
        "prodSourceLabel": "user",
        "useLocalIO": 1,
        "cliParams": spec.cli_params,
        "skipScout": True,
        "coreCount": 1,
    }
    sites = _site_fields(spec.sites)
    if sites["site"]:
        params["site"] = sites["site"]
    elif sites["includedSite"]:
        params["includedSite"] = sites["includedSite"]
    params["container_name"] = spec.evaluation_container
    params["multiStepExec"] = multi_step_exec(spec.evaluation_container, HPO_RUN_MAIN)
    params["log"] = log_parameters(spec.out_ds.rstrip("/"))
    request = {
        "sandbox": spec.steering_container,
        "executable": "docker",
        "arguments": spec.steering_arguments,
        "output_json": "output.json",
        "max_points": spec.max_points,
        "num_points_per_generation": spec.points_per_generation,
    }
    if spec.min_unevaluated_points is not None:
        request["min_unevaluated_points"] = spec.min_unevaluated_points
    request["opt_space"] = spec.search_space
    params["hpoRequestData"] = request
    job = [
        {"type": "constant", "value": '-o output.json -j "" --inSampleFile input.json'},
        {"type": "constant", "value": f"-a {spec.archive} --sourceURL {spec.source_url}"},
        {"type": "constant", "value": '-p "', "padding": False},
        {"type": "constant", "value": quote(spec.evaluation_command), "padding": False},
        {"type": "constant", "value": '"'},
    ]
    if spec.in_ds:
        job += training_data_parameters(spec.in_ds, INPUT_LIST)
    if spec.metadata_file:
        job.append({"type": "constant", "value": f"--outMetaFile={spec.metadata_file}"})
    params["jobParameters"] = job
    params.update(spec.extra)
    return params
