"""Build the Ray Tune trial scheduler of an hpo_config. Imports ray: load lazily.

Pitfalls of Ray 2.60 handled here rather than left to users (measured, see the dependency notes):
  * HyperBand and BOHB's HyperBand stop nothing under a trial-concurrency limit: for them the
    runner limits concurrency through per-trial resources instead (see `limits_by_resources`).
  * PBT and PB2 lose checkpoints with CheckpointConfig(num_to_keep=...): the runner keeps all.
    (Trials checkpoint only when a scheduler pauses or copies them, so this costs little disk.)
  * PBT and PB2 perturb values by factors, which can leave [low, high], break quantization or
    turn integers into floats: `KeepInSpace` puts every explored value back into its dimension.
"""

from __future__ import annotations

from typing import Any

from hpogrid.errors import HpogridError
from hpogrid.space.model import LOG_SCALE, SearchSpace

DEFAULT_MAX_T = 100


def limits_by_resources(scheduler: str) -> bool:
    """True if concurrency must come from per-trial resources, not max_concurrent_trials."""
    return scheduler in ("hyperband", "bohbhyperband")


def max_t(hpo: dict) -> int:
    """The longest a trial runs, in training iterations: the stop criterion, or 100."""
    return int(hpo["stop"].get("training_iteration", DEFAULT_MAX_T))


class KeepInSpace:
    """PBT/PB2 custom_explore_fn: clip, quantize and type every mutated value as its dimension."""

    def __init__(self, space: SearchSpace):
        self.dimensions = [d for d in space.searched if d.method != "categorical"]

    def __call__(self, config: dict) -> dict:
        for dim in self.dimensions:
            node = config
            for key in dim.path[:-1]:
                node = node.get(key, {})
            if dim.path[-1] not in node:
                continue
            value = node[dim.path[-1]]
            if "low" in dim.spec:
                value = min(max(value, dim.spec["low"]), dim.spec["high"])
            node[dim.path[-1]] = dim.finish(value)
        return config


def _mutations(space: SearchSpace) -> dict:
    """PBT hyperparam_mutations from the search space (nested like the trial config)."""
    from ray import tune

    leaves: dict[str, Any] = {}
    for dim in space.searched:
        g = dim.get
        if dim.method == "categorical":
            leaves[dim.name] = list(g("categories"))
        elif dim.method == "uniformint":
            leaves[dim.name] = tune.randint(g("low"), g("high") + 1)
        elif dim.method in LOG_SCALE:
            leaves[dim.name] = tune.loguniform(g("low"), g("high"))
        elif "low" in dim.spec:
            leaves[dim.name] = tune.uniform(g("low"), g("high"))
        else:
            leaves[dim.name] = tune.randn(g("mu"), g("sigma"))
    return _nest(space, leaves)


def _bounds(space: SearchSpace) -> dict:
    """PB2 hyperparam_bounds: every bounded numeric dimension."""
    leaves = {d.name: [d.get("low"), d.get("high")] for d in space.searched if "low" in d.spec}
    if not leaves:
        raise HpogridError(
            "hpo_config.scheduler: pb2 explores numeric hyperparameters with low/high bounds and the "
            "search space has none; use --scheduler pbt"
        )
    return _nest(space, leaves)


def _nest(space: SearchSpace, leaves: dict) -> dict:
    nested: dict = {}
    for dim in space.searched:
        if dim.name in leaves:
            node = nested
            for key in dim.path[:-1]:
                node = node.setdefault(key, {})
            node[dim.path[-1]] = leaves[dim.name]
    return nested


def build_scheduler(hpo: dict, space: SearchSpace) -> Any:
    from ray.tune import schedulers

    name, metric, mode = hpo["scheduler"], hpo["metric"], hpo["mode"]
    param = dict(hpo["scheduler_param"])
    common = {"metric": metric, "mode": mode}
    if name == "fifo":
        return schedulers.FIFOScheduler()
    if name == "asynchyperband":
        return schedulers.ASHAScheduler(**{"max_t": max_t(hpo), "grace_period": 1, **common, **param})
    if name == "hyperband":
        return schedulers.HyperBandScheduler(**{"max_t": max_t(hpo), **common, **param})
    if name == "bohbhyperband":
        return schedulers.HyperBandForBOHB(**{"max_t": max_t(hpo), **common, **param})
    if name == "median":
        return schedulers.MedianStoppingRule(**{**common, **param})
    if name == "pbt":
        param.setdefault("hyperparam_mutations", _mutations(space))
        return schedulers.PopulationBasedTraining(
            **{"perturbation_interval": 1, "custom_explore_fn": KeepInSpace(space), **common, **param}
        )
    if name == "pb2":
        from ray.tune.schedulers.pb2 import PB2

        param.setdefault("hyperparam_bounds", _bounds(space))
        return PB2(**{"perturbation_interval": 1, "custom_explore_fn": KeepInSpace(space), **common, **param})
    raise ValueError(f"no scheduler {name!r}")
