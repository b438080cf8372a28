"""How the jobs of one grid task divide a search between them (pure; no Ray).

A task of N jobs runs num_trials trials in all:
* job i (0-based) runs num_trials // N trials, one more for the first num_trials % N jobs;
* categorical dimensions with grid_search are enumerated once for the whole task (repeated whole
  until num_trials is reached, as locally) and the grid points dealt out round-robin by job index,
  so no two jobs run the same grid point; each job samples its other dimensions itself;
* every job gets its own seed, derived from the config's seed (or one drawn at submission), so
  random and model-based searches of different jobs explore different points. Model-based
  searches do not share what they learn between jobs; `hpogrid submit_idds` is the coordinated mode.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from hpogrid.catalog import VARIANT_GENERATOR
from hpogrid.space.model import SearchSpace

SEED_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class JobShare:
    """What one job of a task runs: its hpo_config and search space, and the grid points it owns."""

    index: int
    hpo_config: dict
    search_space: dict
    points: list[dict]

    @property
    def num_trials(self) -> int:
        return self.hpo_config["num_trials"]


def job_seed(base: int, index: int) -> int:
    """The seed of job `index`: distinct for every job of a task."""
    return (base + index) % SEED_LIMIT


def trials_of(num_trials: int, n_jobs: int, index: int) -> int:
    return num_trials // n_jobs + (1 if index < num_trials % n_jobs else 0)


def grid_points(space: SearchSpace, num_trials: int) -> list[dict]:
    """Every grid point of the task in order: the grid of grid_search categories, repeated whole
    until num_trials is reached (the local rule). [] when no dimension is a grid."""
    grid = [d for d in space.searched if d.grid_search]
    if not grid:
        return []
    combos = [
        dict(zip([d.name for d in grid], values, strict=True))
        for values in itertools.product(*(d.get("categories") for d in grid))
    ]
    return combos * math.ceil(num_trials / len(combos))


def job_share(space_json: dict, hpo: dict, n_jobs: int, index: int, base_seed: int) -> JobShare:
    """The share of job `index` (0-based) of an N-job task."""
    if not 0 <= index < n_jobs:
        raise ValueError(f"job index {index} outside 0..{n_jobs - 1}")
    space = SearchSpace.parse(space_json)
    seed = job_seed(base_seed, index)
    points = grid_points(space, hpo["num_trials"]) if hpo["algorithm"] in VARIANT_GENERATOR else []
    if not points:
        job_hpo = {**hpo, "num_trials": trials_of(hpo["num_trials"], n_jobs, index), "seed": seed}
        return JobShare(index, job_hpo, space_json, [])
    mine = [space.nest(p, partial=True) for p in points[index::n_jobs]]
    # the job's own points carry the grid values: its space samples them no more
    job_space = space.without_grid_search()
    job_hpo = {**hpo, "algorithm": "random", "num_trials": len(mine), "seed": seed}
    return JobShare(index, job_hpo, job_space, mine)


def planned_total(space_json: dict, hpo: dict) -> int:
    """Trials the whole task runs (num_trials, rounded up to whole grids for grid searches)."""
    space = SearchSpace.parse(space_json)
    points = grid_points(space, hpo["num_trials"]) if hpo["algorithm"] in VARIANT_GENERATOR else []
    return len(points) or hpo["num_trials"]
