"""iDDS steering and evaluation: `hpogrid generate` (new points) and `hpogrid evaluate` (one point).

generate is stateless ask/tell. On every call iDDS hands over every point so far with its loss (null
while unevaluated); the optimizer is rebuilt from them (the same Ray Tune searchers as local_run:
the points are replayed as its first suggestions, the evaluated ones told their loss, the pending ones
left in flight) and asked for new points. The seed moves on with the number of points, so repeated
calls never replay the same random draws. `[]` means done (max_points reached, or a finished grid).
iDDS minimizes `loss`: evaluate reports the metric for mode min and its negative for mode max.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hpogrid.catalog import BAYESIAN_RANDOM_START, VARIANT_GENERATOR
from hpogrid.errors import HpogridError
from hpogrid.grid.share import SEED_LIMIT, grid_points
from hpogrid.space.model import SearchSpace

STEERING_ALGORITHMS = ("random", "tune", "grid", "skopt", "hyperopt", "optuna", "nevergrad", "bohb", "ax", "bayesian")
INPUT_FILE, OUTPUT_FILE = "input.json", "output.json"


def read_history(data: Any, space: SearchSpace) -> list[tuple[dict, float | None]]:
    """iDDS's points ([[point, loss], ...], or [{"parameters"|"point": ..., "loss": ...}]) as (config, loss)."""
    points = data.get("points", []) if isinstance(data, dict) else data
    history = []
    for item in points or []:
        if isinstance(item, dict):
            point, loss = item.get("parameters", item.get("point")), item.get("loss")
        else:
            point, loss = item[0], item[1] if len(item) > 1 else None
        if not isinstance(point, dict):
            raise HpogridError(f"steering input: a point must be an object, got {point!r}")
        value = float(loss) if isinstance(loss, (int, float)) and math.isfinite(loss) else None
        history.append((space.nest(space.flatten(point)), value))
    return history


def generate(
    history: list[tuple[dict, float | None]],
    space_json: dict,
    algorithm: str,
    n_points: int,
    max_points: int,
    seed: int = 0,
    algorithm_param: dict | None = None,
    warm: list[tuple[dict, float | None]] = (),
) -> list[dict]:
    """Up to n_points new points (nested trial configs) given every point so far; [] when done.
    warm: points of earlier tasks and runs with their loss (`submit_idds --warm_start`), learnt from
    first; they do not count towards max_points."""
    if algorithm not in STEERING_ALGORITHMS:
        raise HpogridError(f"--algorithm: got '{algorithm}', expected one of {', '.join(STEERING_ALGORITHMS)}")
    space = SearchSpace.parse(space_json)
    wanted = min(n_points, max_points - len(history))
    if wanted <= 0:
        return []
    call_seed = (seed + len(history)) % SEED_LIMIT
    if algorithm in VARIANT_GENERATOR:
        return _variants(space, history, wanted, max_points, call_seed, algorithm == "grid")
    from hpogrid.warmstart import Evaluated

    earlier = [Evaluated(point, loss) for point, loss in warm if loss is not None]
    return _ask(space, history, algorithm, wanted, call_seed, dict(algorithm_param or {}), max_points, earlier)


def _variants(space, history, wanted, max_points, seed, grid: bool) -> list[dict]:
    """random/tune: fresh samples; grid: the grid points not run yet (in order), other dimensions sampled."""
    import numpy as np

    from hpogrid.local.algorithms import variant_space
    from hpogrid.space.translate import translate

    fixed: list[dict] = [{}] * wanted
    planned = grid_points(space, max_points) if grid else []
    if planned:
        names = list(planned[0])
        remaining = [json.dumps(p, sort_keys=True) for p in planned]
        for point, _ in history:
            flat = space.flatten(point)
            key = json.dumps({n: flat[n] for n in names}, sort_keys=True)
            if key in remaining:
                remaining.remove(key)
        fixed = [json.loads(k) for k in remaining[:wanted]]
    plain = SearchSpace.parse(space.without_grid_search())
    tree = variant_space(plain, translate(plain, "random", seed), {})
    rng = np.random.default_rng(seed)
    return [space.nest({**plain.flatten(_sample(tree, rng)), **values}) for values in fixed]


def _sample(tree: dict, rng) -> dict:
    from ray.tune.search.sample import Domain

    return {
        key: _sample(node, rng)
        if isinstance(node, dict)
        else node.sample(random_state=rng)
        if isinstance(node, Domain)
        else node
        for key, node in tree.items()
    }


def _ask(space, history, algorithm, wanted, seed, algorithm_param, max_points, warm=()) -> list[dict]:
    """A model-based searcher rebuilt from the history (and the warm-start points), then asked."""
    from ray.tune.search import Searcher

    from hpogrid.local.algorithms import build_search
    from hpogrid.warmstart import Evaluated

    evaluated = [*warm, *(Evaluated(point, loss) for point, loss in history)]
    liar = None
    if algorithm == "bayesian":
        # bayes_opt's random start, kept by the steering itself: Ray's BayesOptSearch waits (answers None)
        # while points of its random start have no result, and an answer of [] would end the iDDS task
        start = algorithm_param.pop("random_search_steps", BAYESIAN_RANDOM_START)
        values = [p.value for p in evaluated if p.value is not None]
        if len(values) < start:
            return _variants(space, history, wanted, max_points, seed, grid=False)
        algorithm_param["random_search_steps"] = 0
        # its Gaussian process knows no pending points: with nothing new learnt it would ask the same point
        # again (a duplicate: None). Pending and newly asked points are told the mean so far ("constant liar")
        liar = sum(values) / len(values)
        evaluated = [p if p.value is not None else p._replace(value=liar) for p in evaluated]
    hpo = {
        "algorithm": algorithm,
        "metric": "loss",
        "mode": "min",
        "num_trials": max_points,
        "max_concurrent": max(wanted, 1),
        "scheduler": "fifo",
        "algorithm_param": algorithm_param,
        "seed": seed,
    }
    searcher, _, _ = build_search(space, hpo, {}, [], seed, evaluated)
    points = []
    for index in range(wanted):
        suggested = searcher.suggest(f"n{index}")
        if suggested is None or suggested == Searcher.FINISHED:
            break
        points.append(space.nest(space.flatten(suggested)))
        if liar is not None:
            searcher.on_trial_complete(f"n{index}", {"loss": liar})
    return points


# -- evaluation (one point per job) ----------------------------------------------------------------
def evaluate(project_name: str, workdir: Path) -> int:
    """Run input.json's point once through the local_run engine; write output.json and the metadata."""
    import os

    from hpogrid.fileio import write_json_atomic
    from hpogrid.grid.job import unpack_inputs, write_metadata
    from hpogrid.local.runner import RunOptions, run
    from hpogrid.project import Project, ProjectStore

    workdir = workdir.resolve()
    os.environ["HPOGRID_BASE_PATH"] = str(workdir)
    os.environ.setdefault("HPOGRID_WORK_DIR", str(workdir))
    os.environ.setdefault("HPOGRID_DATA_DIR", str(workdir))
    project = ProjectStore(workdir / "projects").load(project_name)
    unpack_inputs(workdir, Path(os.environ["HPOGRID_DATA_DIR"]))
    space = SearchSpace.parse(project.search_space)
    try:
        point = json.loads((workdir / INPUT_FILE).read_text())
        point = space.nest(space.flatten(point))
    except (OSError, ValueError, HpogridError) as exc:
        write_json_atomic(workdir / OUTPUT_FILE, {"status": 1, "loss": None, "message": f"bad {INPUT_FILE}: {exc}"})
        return 1
    data = json.loads(json.dumps(project.data))
    hpo = data["configs"]["hpo_config"]
    data["configs"]["hpo_config"] = {**hpo, "algorithm": "random", "num_trials": 1, "max_concurrent": 1}
    data["configs"]["search_space"] = space.without_grid_search()
    mine = Project(project.name, project.path, data)
    source = {"kind": "idds", "task": _int(os.environ.get("PanDA_TaskID")), "job": _int(os.environ.get("PandaID"))}
    result = run(mine, RunOptions(search_points=[point], quiet=True, source=source))
    record = result.records[0] if result.records else None
    value = record.value if record else None
    if record is None or record.status == "error" or not isinstance(value, (int, float)):
        message = (record.error or "").strip().splitlines()[-1:] if record else ["the trial did not finish"]
        output = {"status": 1, "loss": None, "message": (message or [f"no {hpo['metric']} reported"])[0][:500]}
    else:
        loss = float(value) if hpo["mode"] == "min" else -float(value)
        output = {"status": 0, "loss": loss, "message": ""}
    write_json_atomic(workdir / OUTPUT_FILE, output)
    write_metadata(workdir, result.summary, source, "finished" if output["status"] == 0 else "failed")
    return 0 if output["status"] == 0 else 1


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
