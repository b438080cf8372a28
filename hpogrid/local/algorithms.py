"""Build the Ray Tune search algorithm of an hpo_config. Imports ray: load lazily.

Model-based searchers get the native space of their library (hpogrid.space.translate) and are
wrapped in DecodedSearcher, so every trial's config is the decoded, nested trial config (the same
values the trial sees and the records keep). random/tune/grid use Ray's variant generator over a
nested param_space whose samplers already yield final values.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ray.tune.search import Searcher
from ray.tune.search.sample import Domain, Sampler

from hpogrid.catalog import BAYESIAN_RANDOM_START, VARIANT_GENERATOR
from hpogrid.configs.params import OPTUNA_DEFAULT_SAMPLER, nevergrad_optimizer, nevergrad_optimizer_problem
from hpogrid.errors import HpogridError
from hpogrid.local.schedulers import limits_by_resources
from hpogrid.space.model import UNBOUNDED, Dimension, SearchSpace
from hpogrid.space.translate import Translation, translate
from hpogrid.warmstart import Evaluated, algorithm_problem


class Finished(Sampler):
    """Wrap a sampler so its values are quantized and typed as the dimension defines."""

    def __init__(self, sampler: Sampler, dim: Dimension):
        self.sampler, self.dim = sampler, dim

    def sample(self, domain, config=None, size: int = 1, random_state=None):
        values = self.sampler.sample(domain, config=config, size=size, random_state=random_state)
        if size == 1 and not isinstance(values, list):
            return self.dim.finish(values)
        return [self.dim.finish(v) for v in values]


def variant_space(space: SearchSpace, translation: Translation, params: dict) -> dict:
    """The nested param_space for Ray's variant generator: domains at the leaves, fixed values,
    and model_config.param."""
    from ray import tune

    leaves: dict[str, Any] = {}
    for dim in space.searched:
        native = translation.space[dim.name]
        if dim.method == "categorical":
            cats = dim.get("categories")
            leaves[dim.name] = tune.grid_search(cats) if dim.grid_search else tune.choice(cats)
        else:
            if isinstance(native, Domain):
                native.set_sampler(Finished(native.get_sampler(), dim), allow_override=True)
            leaves[dim.name] = native
    return {**params, **space.nest(leaves)}


def grid_size(space: SearchSpace) -> int:
    return math.prod(len(d.get("categories")) for d in space.searched if d.grid_search)


def planned_trials(space: SearchSpace, hpo: dict) -> tuple[int, int]:
    """(Ray's num_samples, the trials that makes). Ray's variant generator repeats the whole grid of
    grid_search categories num_samples times, so num_trials is rounded up to whole grids."""
    if hpo["algorithm"] not in VARIANT_GENERATOR:
        return hpo["num_trials"], hpo["num_trials"]
    grid = grid_size(space)
    samples = math.ceil(hpo["num_trials"] / grid)
    return samples, samples * grid


class DecodedSearcher(Searcher):
    """A searcher whose suggestions are decoded into trial configs (plus model parameters)."""

    def __init__(self, inner: Searcher, translation: Translation, params: dict):
        super().__init__(metric=inner.metric, mode=inner.mode)
        self.inner, self.translation, self.params = inner, translation, params

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        ok = self.inner.set_search_properties(metric, mode, {}, **spec)
        self._metric, self._mode = self.inner.metric, self.inner.mode
        return ok

    def suggest(self, trial_id: str):
        raw = self.inner.suggest(trial_id)
        if not isinstance(raw, dict):
            return raw  # None (wait) or Searcher.FINISHED
        return {**self.params, **self.translation.decode(raw)}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.inner.on_trial_complete(trial_id, result=result, error=error)

    def add_evaluated_point(self, *args, **kwargs) -> None:
        self.inner.add_evaluated_point(*args, **kwargs)

    def __getattr__(self, name: str):
        # library-specific hooks (e.g. TuneBOHB's on_pause/on_unpause) go to the wrapped searcher
        if name == "inner" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)


def _searcher(
    algorithm: str, t: Translation, hpo: dict, points: list[dict], seed: int | None, evaluated: int = 0
) -> Searcher:
    metric, mode, extra = hpo["metric"], hpo["mode"], dict(hpo["algorithm_param"])
    common = {"metric": metric, "mode": mode, "points_to_evaluate": points or None}
    if algorithm == "hyperopt":
        from ray.tune.search.hyperopt import HyperOptSearch

        return HyperOptSearch(space=t.space, random_state_seed=seed, **common, **extra)
    if algorithm == "optuna":
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        # the sampler and its arguments were checked with the config (hpogrid.configs.params)
        sampler_class = getattr(optuna.samplers, extra.pop("sampler", OPTUNA_DEFAULT_SAMPLER))
        sampler_param = dict(extra.pop("sampler_param", {}))
        if seed is not None and "seed" in _arguments(sampler_class):
            sampler_param.setdefault("seed", seed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return OptunaSearch(space=t.space, sampler=sampler_class(**sampler_param), **common)
    if algorithm == "skopt":
        from hpogrid.local.skopt_search import SkOptSearch

        return SkOptSearch(t.space, random_state=seed, **common, **extra)
    if algorithm == "nevergrad":
        import nevergrad as ng

        from hpogrid.local.nevergrad_search import PicklableNevergradSearch

        name = nevergrad_optimizer(extra, any(d.method in UNBOUNDED for d in t.model.searched))
        extra.pop("optimizer", None)
        problem = nevergrad_optimizer_problem(name)
        if problem:
            raise HpogridError(f"hpo_config.algorithm_param.optimizer: {problem}")
        # the points already evaluated (replay) are asked and told too: part of the optimizer's budget
        kwargs = {
            "budget": hpo["num_trials"] + evaluated,
            "num_workers": hpo["max_concurrent"],
            **extra.pop("optimizer_param", {}),
        }
        return PicklableNevergradSearch(
            optimizer=ng.optimizers.registry[name], optimizer_kwargs=kwargs, space=t.space, **common
        )
    if algorithm == "bayesian":
        from ray.tune.search.bayesopt import BayesOptSearch

        # bayes_opt's own start (maximize's init_points), not Ray's 10 random trials: with Ray's, the
        # regret after 10 and 25 Branin trials was 3.4x and 2.2x bayes_opt's (bench/quality.py)
        extra.setdefault("random_search_steps", BAYESIAN_RANDOM_START)

        return BayesOptSearch(
            space=t.space, random_state=seed if seed is not None else 42, verbose=0, **common, **extra
        )
    if algorithm == "bohb":
        from ray.tune.search.bohb import TuneBOHB

        return TuneBOHB(space=t.space, seed=seed, **common, **extra)
    if algorithm == "ax":
        from ray.tune.search.ax import AxSearch

        # AxClient arguments; Ax otherwise waits for every result before its model's next point
        client = {"verbose_logging": False, "enforce_sequential_optimization": False, "random_seed": seed}
        return AxSearch(space=t.space, **common, **extra, **client)
    raise ValueError(f"no searcher for algorithm {algorithm!r}")


@contextlib.contextmanager
def searcher_threads(algorithm: str) -> Iterator[None]:
    """One thread for the numeric libraries of a model-based searcher while the search runs (then as before).

    The searcher works in the driver, beside trials that take the machine's CPUs: the thread pools of
    torch (Ax/BoTorch) and of BLAS (the GP fits of skopt, bayes_opt) then only compete with the trials and
    each other, and their spinning threads made it much slower: an Ax suggestion on this 2-CPU machine with
    other work on it took 47 s with torch's 2 threads, 4.3 s with 1 (a mixed space, 9th trial).
    """
    if algorithm in VARIANT_GENERATOR:
        yield
        return
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(ImportError):
            from threadpoolctl import threadpool_limits

            stack.enter_context(threadpool_limits(limits=1))
        torch = sys.modules.get("torch")
        if torch is not None:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            stack.callback(torch.set_num_threads, before)
        yield


def one_line(exc: BaseException) -> str:
    """A library's error as one short line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _arguments(cls: type) -> set[str]:
    import inspect

    return set(inspect.signature(cls).parameters)


def _replay_order(history: Sequence[Evaluated]) -> list[Evaluated]:
    """The points with a value first: a searcher with a random start (bayesian) counts the points it has
    out; the evaluated ones first fill it, so the pending ones after them cannot exhaust it."""
    return [p for p in history if p.value is not None] + [p for p in history if p.value is None]


def replay(searcher: Searcher, history: Sequence[Evaluated], metric: str) -> None:
    """Teach a searcher the points it was given first (build_search's evaluated, in _replay_order): each is
    suggested back, and told its result as a trial that reported once and completed; a pending one stays
    in flight. The searcher then asks from there as if it had run them."""
    for index, point in enumerate(history):
        trial_id = f"replay_{index}"
        suggested = searcher.suggest(trial_id)
        if not isinstance(suggested, dict):
            raise HpogridError(f"{type(searcher).__name__} did not take back the point {index + 1} it was given")
        if point.value is None:
            continue
        # training_iteration: Optuna's step; hyperband_info: what TuneBOHB learns from (HyperBandForBOHB's)
        result = {
            metric: point.value,
            "training_iteration": point.iterations,
            "hyperband_info": {"budget": point.iterations},
        }
        searcher.on_trial_result(trial_id, result)
        searcher.on_trial_complete(trial_id, result)


def build_search(
    space: SearchSpace,
    hpo: dict,
    params: dict,
    points: list[dict],
    seed: int | None,
    evaluated: Sequence[Evaluated] = (),
) -> tuple[Any, dict, int]:
    """(search algorithm, Tuner param_space, num_samples) for an hpo_config.

    points: configs to run first; evaluated: points run before (a value of None: still running), which a
    model-based searcher learns from before it asks (warm start, iDDS steering)."""
    algorithm = hpo["algorithm"]
    translation = translate(space, algorithm, seed)
    samples, _ = planned_trials(space, hpo)
    if algorithm in VARIANT_GENERATOR:
        if evaluated:
            raise HpogridError(algorithm_problem(algorithm))
        from ray.tune.search.basic_variant import BasicVariantGenerator

        given = [{**params, **space.nest(space.flatten(p, partial=True), partial=True)} for p in points]
        limit = 0 if limits_by_resources(hpo["scheduler"]) else hpo["max_concurrent"]
        search = BasicVariantGenerator(points_to_evaluate=given or None, random_state=seed, max_concurrent=limit)
        return search, variant_space(space, translation, params), samples
    evaluated = _replay_order(evaluated)
    encoded = [translation.encode(p) for p in [*(e.config for e in evaluated), *points]]
    try:
        inner = _searcher(algorithm, translation, hpo, encoded, seed, len(evaluated))
    except (TypeError, ValueError) as exc:  # the library refused the configured arguments
        raise HpogridError(
            f"hpo_config.algorithm_param: {algorithm} cannot start with {json.dumps(hpo['algorithm_param'])}: "
            f"{one_line(exc)}; fix it with `hpogrid hpo_config update NAME --algorithm_param JSON` and "
            "`hpogrid project update PROJECT --hpo_config NAME`"
        ) from exc
    search = DecodedSearcher(inner, translation, params)
    if evaluated:
        search.set_search_properties(hpo["metric"], hpo["mode"], {})
        replay(search, evaluated, hpo["metric"])
    return search, {}, samples
