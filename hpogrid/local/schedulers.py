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

from hpogrid.configs.params import ASHA_DEFAULTS, PBT_DEFAULTS, effective_max_t, tree_leaves
from hpogrid.errors import HpogridError, ValidationError, did_you_mean
from hpogrid.space.model import LOG_SCALE, SearchSpace


def limits_by_resources(scheduler: str) -> bool:
    """True if concurrency must come from per-trial resources, not max_concurrent_trials."""
    return scheduler in ("hyperband", "bohbhyperband")


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
        raise HpogridError(PB2_NEEDS_BOUNDS)
    return _nest(space, leaves)


PB2_NEEDS_BOUNDS = (
    "hpo_config.scheduler: pb2 explores numeric hyperparameters with low/high bounds and the "
    "search space has none; use --scheduler pbt"
)


def _nest(space: SearchSpace, leaves: dict) -> dict:
    nested: dict = {}
    for dim in space.searched:
        if dim.name in leaves:
            node = nested
            for key in dim.path[:-1]:
                node = node.setdefault(key, {})
            node[dim.path[-1]] = leaves[dim.name]
    return nested


def check_space(hpo: dict, space: SearchSpace, params: dict) -> None:
    """Refuse, before Ray starts, a scheduler that cannot explore this search space: pb2 without a
    bounded numeric hyperparameter, mutations or bounds of hyperparameters the trials do not have."""
    name, given = hpo["scheduler"], hpo["scheduler_param"]
    if name == "pb2" and "hyperparam_bounds" not in given and not any("low" in d.spec for d in space.searched):
        raise HpogridError(PB2_NEEDS_BOUNDS)
    numeric = [d.name for d in space.searched if "low" in d.spec]
    for key, allowed in (("hyperparam_mutations", space.names + list(params)), ("hyperparam_bounds", numeric)):
        for leaf in tree_leaves(given.get(key, {})) if name in ("pbt", "pb2") else ():
            if leaf not in allowed:
                what = "a numeric hyperparameter with low/high" if key == "hyperparam_bounds" else "a hyperparameter"
                raise ValidationError(
                    "hpo_config",
                    f"scheduler_param.{key}.{leaf}",
                    f"is not {what} of the search space{did_you_mean(leaf, allowed)}; "
                    f"it has: {', '.join(allowed) or 'none'}",
                )


def build_scheduler(hpo: dict, space: SearchSpace) -> Any:
    from ray.tune import schedulers

    name, metric, mode = hpo["scheduler"], hpo["metric"], hpo["mode"]
    param = dict(hpo["scheduler_param"])
    common = {"metric": metric, "mode": mode}
    if name == "fifo":
        return schedulers.FIFOScheduler()
    if name == "asynchyperband":
        return schedulers.ASHAScheduler(**{**ASHA_DEFAULTS, **common, **param, "max_t": effective_max_t(hpo)})
    if name == "hyperband":
        return schedulers.HyperBandScheduler(**{**common, **param, "max_t": effective_max_t(hpo)})
    if name == "bohbhyperband":
        return schedulers.HyperBandForBOHB(**{**common, **param, "max_t": effective_max_t(hpo)})
    if name == "median":
        return schedulers.MedianStoppingRule(**{**common, **param})
    if name == "pbt":
        param.setdefault("hyperparam_mutations", _mutations(space))
        return schedulers.PopulationBasedTraining(
            **{**PBT_DEFAULTS, "custom_explore_fn": KeepInSpace(space), **common, **param}
        )
    if name == "pb2":
        from ray.tune.schedulers.pb2 import PB2

        param.setdefault("hyperparam_bounds", _bounds(space))
        return PB2(**{**PBT_DEFAULTS, "custom_explore_fn": KeepInSpace(space), **common, **param})
    raise ValueError(f"no scheduler {name!r}")
