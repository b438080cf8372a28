"""How hpogrid has Ray Tune's trial controller run: trial resources without placement groups, and
hpogrid's checks of every trial (what it reports, how long it runs).

Ray Tune reserves each trial's resources with a placement group, asked for before the trial starts
and removed when a cached actor takes the trial instead (actor reuse) or the run ends. Ray 2.60 loses
the CPUs of a group removed while it is still being placed on a node (ray-project/ray#64693): the
node reports them in use, with no actor and no group left, until Ray shuts down. On an attached
cluster that is a CPU lost per occurrence for everybody. Trials here ask for one bundle of CPUs and
GPUs, which Ray can give the trial's actor directly, so the controller gets Ray Tune's own
FixedResourceManager: the run keeps the budget itself (the cluster's resources when the run starts)
and creates each actor with its num_cpus/num_gpus. No group is made or removed, and there is a Ray
round trip less per trial.

The controller also looks each trial's trainable up once per run instead of twice per trial in
Ray's key-value store (two GCS round trips and an unpickling each time).

Checks (`TrialRules`), made in the driver as each result arrives, before Ray's scheduler, searcher
or stop criteria see it (they would fail on a missing or non-numeric metric, or record nothing):
  * a result without the optimized metric stops the whole run (the config names a metric the
    training script does not report): that trial is failed, the others are stopped, and
    `TrialRules.failure` says why and how to fix the config;
  * a metric or stop criterion that is not a number fails that trial (`error`), and the run goes on;
  * a trial running longer than `timeout` seconds (from the end of its setup, summed over the times a
    scheduler paused it) is failed and its actor killed at once, even when it never reports or is
    stuck in C code;
  * so is a trial whose actor does not finish starting (a Trainable's setup() runs in the actor's
    constructor, and Ray marks a trial RUNNING only once that returns) within `timeout` plus a
    start-up allowance of max(30 s, `timeout`), counted from when its worker was asked for (its
    resources were free): worker start-up and imports take seconds on a loaded machine, and a
    healthy setup() that takes about as long as the trial's own limit must not be ended.
A failed trial is handled as one that raised: retried with --retries, else recorded as `error`.

Ray Tune sets its own SIGINT and SIGUSR1 handlers just before it makes the controller; `on_start`,
called then, lets a caller put its own back (a grid job keeps SIGUSR1 as preemption).
"""

from __future__ import annotations

import contextlib
import numbers
import reprlib
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hpogrid.errors import printable

STARTUP_ALLOWANCE = 30.0  # seconds, at least, for a trial's worker to start before its setup() is timed


@dataclass
class TrialRules:
    """What the controller checks of every trial; `failure` is set when it stops the run.

    fix: given the metrics a trial reported (name -> value), how to fix the config (text).
    """

    metric: str
    stop: tuple[str, ...] = ()
    timeout: float | None = None
    fix: Callable[[dict[str, Any]], str] | None = None
    failure: str | None = None

    def timeout_reason(self, where: str = "") -> str:
        return f"trial exceeded trial_timeout of {self.timeout:g} s" + (f" (in {where})" if where else "")

    def start_limit(self) -> float:
        """Seconds a trial's actor may take to start: its limit plus a start-up allowance."""
        timeout = self.timeout or 0.0
        return timeout + max(STARTUP_ALLOWANCE, timeout)


def tune_actor_env() -> dict[str, str]:
    """The environment variables Ray Tune gives every trial actor (its class cache's runtime_env)."""
    import os

    from ray.tune.execution.class_cache import DEFAULT_ENV_VARS, ENV_VARS_TO_PROPAGATE

    return {**DEFAULT_ENV_VARS, **{k: os.environ[k] for k in ENV_VARS_TO_PROPAGATE if k in os.environ}}


def inherited(wanted: dict[str, str], worker_env: dict[str, str]) -> bool:
    """Whether workers started with worker_env have every variable as wanted (and none of the others)."""
    from ray.tune.execution.class_cache import ENV_VARS_TO_PROPAGATE

    unset = set(ENV_VARS_TO_PROPAGATE) - set(wanted)
    return all(worker_env.get(k) == v for k, v in wanted.items()) and not unset & set(worker_env)


def _pooled_class_cache():
    from ray.tune.execution.class_cache import _ActorClassCache

    class PooledClassCache(_ActorClassCache):
        """Trial actor classes without Ray Tune's runtime_env, for workers that inherited those variables.

        A task or actor whose runtime_env differs from the job's cannot run in the idle workers Ray keeps
        started: Ray starts a new worker process for each such trial actor (2.3 s against 0.55 s for a
        pooled one on this machine, more under load), on the way to every first trial."""

        def get(self, trainable_cls):
            import ray

            if trainable_cls not in self._cache:
                self._cache[trainable_cls] = ray.remote(trainable_cls)
            return self._cache[trainable_cls]

    return PooledClassCache()


def user_metrics(flat: dict[str, Any]) -> dict[str, Any]:
    """The metrics of a flattened result that the trial reported itself (not Ray's own keys)."""
    from hpogrid.local.recorder import RAY_KEYS

    return {k: v for k, v in sorted(flat.items()) if k.split("/")[0] not in RAY_KEYS}


def not_a_number(value: Any) -> bool:
    """True unless value is a real number (NaN and infinities are numbers: they are recorded as null)."""
    return not isinstance(value, numbers.Real) or isinstance(value, bool)


def describe(value: Any) -> str:
    """A value for a one-line message: its type and a short repr."""
    if value is None:
        return "None"
    text = " ".join(reprlib.repr(value).split())  # a huge list or string is not written out
    return f"a {type(value).__name__} ({text if len(text) <= 40 else text[:37] + '...'})"


def result_problem(rules: TrialRules, result: dict[str, Any], flat: dict[str, Any]) -> tuple[str, bool] | None:
    """What is wrong with a trial's result (as reported, and flattened as Ray's schedulers see it), and
    whether it stops the run; None if nothing. A result without metrics of the trial's own (e.g. only
    done=True) is no report, as for Ray."""
    missing, reported = object(), user_metrics(flat)
    if not reported:
        return None
    if result.get(rules.metric, flat.get(rules.metric, missing)) is missing:
        return f"reported {', '.join(map(printable, reported))} but not the metric '{rules.metric}'", True
    for kind, name in [("metric", rules.metric), *(("stop criterion", s) for s in rules.stop if s != rules.metric)]:
        value = result.get(name, flat.get(name, missing))
        if value is not missing and not_a_number(value):
            return f"{kind} '{name}' is {describe(value)}, not a number", False
    return None


class TrialClock:
    """Seconds each trial has been running (from the end of its setup until it stops), summed over
    the times a scheduler paused it. Keys are (trial id, failures so far): a retry starts from 0.
    (The controller also times each starting actor, keyed by the actor.)"""

    def __init__(self, now: Callable[[], float] = time.monotonic):
        self.now = now
        self.used: dict[Hashable, float] = {}
        self.since: dict[Hashable, float] = {}

    def tick(self, running: Iterable[Hashable]) -> dict[Hashable, float]:
        """Note which trials run now; the seconds each of them has run."""
        now, running = self.now(), set(running)
        for key in [k for k in self.since if k not in running]:
            self.used[key] = self.used.get(key, 0.0) + now - self.since.pop(key)
        for key in running:
            self.since.setdefault(key, now)
        return {key: self.used.get(key, 0.0) + now - self.since[key] for key in running}


@contextlib.contextmanager
def hpogrid_controller(
    on_start: Callable[[], None] | None = None,
    rules: TrialRules | None = None,
    worker_env: dict[str, str] | None = None,
) -> Iterator[None]:
    """Within the block, Tuner.fit() and Tuner.restore().fit() use the controller described above;
    on_start() runs as each fit makes it; rules (if given) are checked; worker_env: the environment
    Ray's workers inherited (a Ray started by this process), if known."""
    import ray
    import ray.tune.experiment.trial as trial_module
    import ray.tune.tune as tune_module
    from ray.air.execution.resources.fixed import FixedResourceManager
    from ray.tune.error import TuneError
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.experiment import Trial
    from ray.tune.registry import get_trainable_cls
    from ray.tune.result import RESULT_DUPLICATE
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.utils import flatten_dict

    class Controller(TuneController):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("resource_manager_factory", FixedResourceManager)
            super().__init__(*args, **kwargs)
            if worker_env is not None and inherited(tune_actor_env(), worker_env):
                self._class_cache = _pooled_class_cache()
            self._hpogrid_clock = TrialClock()
            self._hpogrid_start_clock = TrialClock()
            if on_start is not None:
                on_start()

        def _process_trial_result(self, trial: Trial, result: dict[str, Any]) -> str | None:
            if rules is None:
                return super()._process_trial_result(trial, result)
            if rules.failure is not None or trial.status == Trial.ERROR:
                return TrialScheduler.STOP  # the run is being stopped, or an earlier result failed the trial
            flat = flatten_dict(result)
            problem = None if RESULT_DUPLICATE in result else result_problem(rules, result, flat)
            if problem is None:
                return super()._process_trial_result(trial, result)
            reason, stops_run = problem
            self._hpogrid_fail(trial, reason, retry=not stops_run, kill=False)
            if stops_run:
                fix = rules.fix(user_metrics(flat)) if rules.fix else ""
                rules.failure = f"trial {trial.trial_id} {reason}" + (f": {fix}" if fix else "")
                self._hpogrid_stop_run()
            return TrialScheduler.STOP

        def on_step_end(self) -> None:
            super().on_step_end()
            if rules is None or not rules.timeout:
                return
            running = {(t.trial_id, t.run_metadata.num_failures): t for t in self._running_trials}
            for key, seconds in self._hpogrid_clock.tick(running).items():
                if seconds > rules.timeout:
                    self._hpogrid_fail(running[key], rules.timeout_reason(), retry=True, kill=True)
            starting, resetting = self._hpogrid_starting(), self._hpogrid_resetting()
            for key, seconds in self._hpogrid_start_clock.tick({**starting, **resetting}).items():
                if seconds <= rules.start_limit():
                    continue
                if key in resetting:
                    self._hpogrid_fail_reset(resetting[key], rules.timeout_reason("reset_config"))
                else:
                    self._hpogrid_fail_start(starting[key], rules.timeout_reason("setup"))

        def _hpogrid_starting(self) -> dict[Any, Trial]:
            """The trials whose actor is being made (its worker asked for, its constructor, hence a
            Trainable's setup(), not returned), by tracked actor. A reused actor has started."""
            live = self._actor_manager._live_actors_to_ray_actors_resources
            waiting = self._pending_trials | self._paused_trials
            return {
                actor: trial
                for trial, actor in self._trial_to_actor.items()
                if trial in waiting and actor in live and actor not in self._started_actors
            }

        def _hpogrid_resetting(self) -> dict[Hashable, Trial]:
            """The trials starting on a reused actor whose reset (the Trainable's reset_config(), which
            for a user's class is its own or its cleanup() and setup()) has not returned, by (trial id,
            failures so far)."""
            pending = [t for t in self._resetting_trials if t.status == Trial.PENDING]
            return {(t.trial_id, t.run_metadata.num_failures): t for t in pending}

        def _hpogrid_fail_reset(self, trial: Trial, reason: str) -> None:
            """Fail a trial whose reset never returned as Ray fails one whose reset raised (its task's
            on_error), and kill the reused actor, which is stuck in it."""
            self._resetting_trials.discard(trial)
            self._hpogrid_fail(trial, reason, retry=False, kill=True)

        def _hpogrid_fail_start(self, trial: Trial, reason: str) -> None:
            """Fail a trial whose actor never started as Ray fails one whose start raised
            (TuneController._actor_failed), and kill the actor."""
            self._set_trial_status(trial, Trial.RUNNING)  # what _process_trial_failure handles
            self._unstage_trial_with_resources(trial)
            self._hpogrid_fail(trial, reason, retry=True, kill=True)

        def _hpogrid_ray_actor(self, trial: Trial) -> Any:
            """The Ray actor of a trial, started or starting; None if it has none."""
            live = self._actor_manager._live_actors_to_ray_actors_resources.get(self._trial_to_actor.get(trial))
            return live[0] if live else None

        def _hpogrid_fail(self, trial: Trial, reason: str, retry: bool, kill: bool) -> None:
            """Fail a trial as if it had raised `reason`; kill: end its actor now (it may never answer)."""
            actor = self._hpogrid_ray_actor(trial) if kill else None
            if not retry:
                trial.max_failures = 0
            self._process_trial_failure(trial, exception=TuneError(reason))
            if actor is not None:
                ray.kill(actor)

        def _hpogrid_stop_run(self) -> None:
            """End the search and every other trial now: their results would be of no use."""
            actors = [t.temporary_state.ray_actor for t in self._running_trials]
            self._reuse_actors = False  # no actor of theirs is kept for a next trial
            self.request_stop_experiment()
            self._stop_experiment_if_needed()
            for actor in filter(None, actors):
                ray.kill(actor)

    trainables: dict[str, type] = {}

    def cached_trainable(name: str) -> type:
        if name not in trainables:
            trainables[name] = get_trainable_cls(name)
        return trainables[name]

    usage = tune_module.air_usage
    saved = tune_module.TuneController, trial_module.get_trainable_cls, usage.tag_callbacks
    tune_module.TuneController, trial_module.get_trainable_cls = Controller, cached_trainable
    usage.tag_callbacks = _tag_callbacks
    try:
        yield
    finally:
        tune_module.TuneController, trial_module.get_trainable_cls, usage.tag_callbacks = saved


def _tag_callbacks(callbacks) -> bool:
    """Ray's usage record of the run's callbacks (ray.air._internal.usage.tag_callbacks) for hpogrid's own,
    which are none of Ray's: Ray's imports every logger integration to tell, mlflow's among them when it
    is installed (2.5 s of every fit() before its first trial)."""
    import collections
    import json

    from ray._common.usage.usage_lib import TagKey, record_extra_usage_tag
    from ray.tune.logger import LoggerCallback

    counts = collections.Counter(
        "CustomLoggerCallback" if isinstance(c, LoggerCallback) else "CustomCallback" for c in callbacks or []
    )
    if counts:
        record_extra_usage_tag(TagKey.AIR_CALLBACKS, json.dumps(counts))
    return bool(counts)
