"""How hpogrid has Ray Tune's trial controller run: trial resources without placement groups.

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

Ray Tune sets its own SIGINT and SIGUSR1 handlers just before it makes the controller; `on_start`,
called then, lets a caller put its own back (a grid job keeps SIGUSR1 as preemption).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def hpogrid_controller(on_start: Callable[[], None] | None = None) -> Iterator[None]:
    """Within the block, Tuner.fit() and Tuner.restore().fit() use the controller described above;
    on_start() runs as each fit makes it."""
    import ray.tune.experiment.trial as trial_module
    import ray.tune.tune as tune_module
    from ray.air.execution.resources.fixed import FixedResourceManager
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.registry import get_trainable_cls

    class Controller(TuneController):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("resource_manager_factory", FixedResourceManager)
            super().__init__(*args, **kwargs)
            if on_start is not None:
                on_start()

    trainables: dict[str, type] = {}

    def cached_trainable(name: str) -> type:
        if name not in trainables:
            trainables[name] = get_trainable_cls(name)
        return trainables[name]

    saved = tune_module.TuneController, trial_module.get_trainable_cls
    tune_module.TuneController, trial_module.get_trainable_cls = Controller, cached_trainable
    try:
        yield
    finally:
        tune_module.TuneController, trial_module.get_trainable_cls = saved
