"""hpogrid from Python: ``optimize``, ``run_project`` and ``load_results``, each returning Results.

The same engine as the CLI: optimize makes (or updates) a project from its arguments and runs it with
the local_run runner; its runs are in the project like any other, so `hpogrid report NAME`,
`hpogrid local_run NAME --resume` and `hpogrid run NAME` work on them too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpogrid.errors import ExistsError, HpogridError
from hpogrid.resultset import Results

# keyword arguments of optimize() known from Ray Tune and HPO modules -> hpo_config fields
HPO_ALIASES = {
    "resources": "resource",
    "resources_per_trial": "resource",
    "max_concurrent_trials": "max_concurrent",
    "n_trials": "num_trials",
    "search_alg": "algorithm",
}


def _say(text: str) -> None:
    import sys

    print(text, file=sys.stderr)


def hpo_config(options: dict[str, Any], preset: str | None = None) -> dict:
    """optimize()'s hpo keyword arguments, over the preset's fields if one is named, as a checked
    hpo_config (errors name the field)."""
    from hpogrid.configs.store import CONFIG_TYPES
    from hpogrid.presets import preset as preset_fields

    config: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in options.items():
        field = HPO_ALIASES.get(key, key)
        if field in config:
            raise HpogridError(f"optimize: {given[field]} and {key} are the same setting; give one of them")
        config[field], given[field] = value, key
    return CONFIG_TYPES["hpo_config"].validate({**(preset_fields(preset) if preset else {}), **config})


def search_space(space: Any) -> dict:
    """A search space given as a dict (hpogrid's form, the short form, or both) or a saved name/JSON file."""
    from hpogrid.project import resolve_config
    from hpogrid.space.shortform import expand

    if isinstance(space, (str, Path)):
        return resolve_config("search_space", str(space))[0]
    if not isinstance(space, dict):
        raise HpogridError(
            f"search_space: got {type(space).__name__}; give a dict, a saved search space's name or a JSON file"
        )
    return expand(space)


def optimize(
    objective: Any,
    space: Any,
    *,
    name: str | None = None,
    preset: str | None = None,
    model_param: dict | None = None,
    param_mapping: dict[str, str] | None = None,
    resume: bool = False,
    address: str | None = None,
    search_points: Sequence[dict] = (),
    warm_start: bool | str = False,
    retries: int = 0,
    quiet: bool = False,
    verbose: bool = False,
    **hpo: Any,
) -> Results:
    """Search the space for the objective's best configuration; the trials run on Ray as with `local_run`.

    objective: a function ``f(config)`` (reporting with ``hpogrid.report(loss=...)``) or ``f(config,
    reporter)``, a ``ray.tune.Trainable`` class, defined anywhere (a notebook too); or ``"SCRIPT.py:NAME"``.
    space: hpogrid's search space, or the short form ``{"lr": {"type": "loguniform", "low": 1e-5,
    "high": 1e-2}}`` (types uniform, loguniform, quniform, qloguniform, randint, choice, grid_search,
    normal, fixed); or a saved search space's name or a JSON file.
    name: the project the runs go to (default: the objective's name); made, or updated to these settings
    (its earlier runs stay, the old settings are kept as a backup).
    preset: start from an hpo_config preset (quick_test, standard, extensive, production: hpogrid.presets);
    the hpo keyword arguments override it.
    model_param: fixed values every trial's config gets (model_config.param).
    param_mapping: {hyperparameter: "dotted.target"}: where each goes in the config the objective receives
    (model_config.param_mapping), e.g. {"lr": "optimizer.learning_rate"}; checked before the run.
    hpo: hpo_config fields: num_trials, metric, mode, algorithm, scheduler, max_concurrent, resource (or
    resources, e.g. {"cpu": 1, "gpu": 0.5}), stop, seed, trial_timeout, scheduler_param, algorithm_param,
    extra_metrics.
    resume: continue the project's last interrupted run (the other settings are the project's).
    warm_start: True, or comma-separated run ids / task ids: learn from the project's earlier trials.
    Returns the Results of this run.
    """
    from hpogrid.configs.store import check_name
    from hpogrid.objective import default_name

    name = check_name(name or default_name(objective), "project")
    if resume:
        if hpo or preset or model_param or param_mapping:
            raise HpogridError("optimize: resume=True continues the project as it is; give no other settings")
        return run_project(name, resume=True, address=address, retries=retries, quiet=quiet, verbose=verbose)
    model = {"param": model_param or {}, "param_mapping": param_mapping or {}}
    _make_project(name, objective, space, hpo_config(hpo, preset), model, quiet)
    return run_project(
        name, address=address, search_points=search_points, warm_start=warm_start, retries=retries,
        quiet=quiet, verbose=verbose,
    )  # fmt: skip


def _make_project(name: str, objective: Any, space: Any, hpo: dict, model: dict, quiet: bool) -> None:
    from hpogrid.objective import parse_reference, write_scripts
    from hpogrid.project import ProjectStore

    store = ProjectStore()
    space = search_space(space)
    with tempfile.TemporaryDirectory(prefix="hpogrid-objective-") as scratch:
        if isinstance(objective, str):
            scripts_path, model_name = parse_reference(objective)
            script = scripts_path.name
        else:
            scripts_path = Path(scratch) / "scripts"
            script, model_name = write_scripts(objective, scripts_path)
        refs = {
            "hpo_config": hpo,
            "search_space": space,
            "model_config": {"script": script, "model": model_name, **model},
        }
        try:
            store.create(name, refs, scripts_path)
        except ExistsError:
            _project, backup = store.update(name, refs, scripts_path)
            if not quiet:
                _say(f"hpogrid: project '{name}' updated to these settings (the old ones are in {backup})")


def run_project(
    name: str,
    *,
    overrides: Sequence[str] = (),
    resume: bool = False,
    address: str | None = None,
    search_points: Sequence[dict] = (),
    warm_start: bool | str = False,
    retries: int = 0,
    quiet: bool = False,
    verbose: bool = False,
) -> Results:
    """Run a project's search as `hpogrid local_run NAME [OVERRIDES]` does; returns the Results of this run
    (its status says whether it finished; an interrupted one continues with resume=True).
    overrides: ["hpo_config.num_trials=10", "model_config.param.epochs=5"]: this run only (hpogrid.overrides)."""
    from hpogrid import overrides as override
    from hpogrid.project import ProjectStore

    stored = ProjectStore().load(name)
    if resume and overrides:
        raise HpogridError("run_project: resume=True runs with the overrides of the run it continues; give none")
    if resume and (search_points or warm_start):
        raise HpogridError("run_project: resume=True continues the last run; no search_points or warm_start with it")
    if resume:
        project = override.for_resume(stored)
    else:
        project = override.apply(stored, [o for text in overrides for o in override.parse(text)])
    return _run(project, resume, address, search_points, warm_start, retries, quiet, verbose)


def multirun(
    name: str,
    overrides: Sequence[str],
    *,
    address: str | None = None,
    retries: int = 0,
    quiet: bool = False,
    verbose: bool = False,
) -> list[Results]:
    """One run of the project per combination of the overrides' comma-separated values, as
    `hpogrid local_run NAME --multirun OVERRIDES` (e.g. ["hpo_config.algorithm=random,optuna,hyperopt"]);
    every combination is checked before the first run. Returns the Results of each, in order."""
    from hpogrid import overrides as override
    from hpogrid.project import ProjectStore

    stored = ProjectStore().load(name)
    projects = [override.apply(stored, combo) for combo in override.combinations(list(overrides), True)]
    return [_run(project, False, address, (), False, retries, quiet, verbose) for project in projects]


def _run(project, resume, address, search_points, warm_start, retries, quiet, verbose) -> Results:
    from hpogrid.local.runner import RunOptions, run
    from hpogrid.space.model import SearchSpace

    space = SearchSpace.parse(project.search_space)
    points = list(search_points)
    for number, point in enumerate(points):
        space.check_point(point, f"search_points[{number}]")
    warm = _warm_points(project, warm_start)
    options = RunOptions(
        resume=resume, address=address, search_points=points, warm_start=warm, retries=retries,
        quiet=quiet, verbose=verbose,
    )  # fmt: skip
    result = run(project, options)
    summary = dict(result.summary, run_dir=str(result.run_dir))
    if summary["status"] == "failed":
        raise HpogridError(f"run_project: {summary['error']}")
    if summary["status"] != "finished" and not quiet:
        _say(f"hpogrid: run {summary['run_id']} {summary['status']}; continue it with resume=True")
    from hpogrid.report import project_trials

    trials = project_trials(project)
    for record in result.records:
        record.source = {"kind": "local", "run": result.run_dir.name, **(record.source or {})}
    trials.add(result.records)
    return Results(trials, summary=summary, **_model_of(project))


def _warm_points(project, warm_start: bool | str) -> list:
    if not warm_start:
        return []
    from hpogrid.warmstart import algorithm_problem, gather

    problem = algorithm_problem(project.hpo_config["algorithm"])
    if problem:
        raise HpogridError(f"warm_start: {problem}")
    warm = gather(project, warm_start.split(",") if isinstance(warm_start, str) else [""])
    for warning in warm.warnings:
        _say(f"Warning: {warning}")
    _say(warm.describe())
    return warm.points


def load_results(target: str | Path, *, grid: bool = True, mode: str | None = None) -> Results:
    """The Results of a project (its local runs, and its grid and iDDS tasks unless grid=False: these need
    the grid extra and a PanDA token), a run folder, or a results file (summary.json, trials.jsonl,
    userJobMetadata.json, `hpogrid tasks show --metadata` output); as `hpogrid report TARGET` reads them."""
    from hpogrid.project import ProjectStore
    from hpogrid.report import SOURCES, collect_project
    from hpogrid.report.collect import GridQuery, read_file

    store = ProjectStore()
    text = str(target)
    if not isinstance(target, Path) and store.holds(text):
        project = store.load(text)
        sources = SOURCES if grid else ("local",)
        trials = collect_project(project, GridQuery(days=None), sources)
        if mode:
            trials.mode = mode
        return Results(trials, **_model_of(project))
    path = Path(text).expanduser()
    if not path.exists():
        from hpogrid.errors import did_you_mean

        close = did_you_mean(text, store.names()) if "/" not in text else ""
        raise HpogridError(f"load_results: no project, run folder or results file named '{text}'{close}")
    trials = read_file(path, mode)
    summary = {}
    if path.is_dir():
        from hpogrid.results import read_summary

        summary = dict(read_summary(path) or {}, run_dir=str(path))
    return Results(trials, summary=summary, title=f"hpogrid report: {trials.project or path.name}")


def _model_of(project) -> dict:
    """What Results.best_model_config needs of the project: its fixed parameters and mapping."""
    model = project.model_config
    return {"model_param": model["param"], "param_mapping": model.get("param_mapping") or {}}
