"""Ray Tune's NevergradSearch, made to last a whole search with nevergrad 1.0.12 on numpy >= 2.4.

Two failures that only a realistic budget reaches (20-50 trials on a 2-D continuous space):

- With max_concurrent 1, NGOpt picks a sequential optimizer (Cobyla, Powell, ...: nevergrad's
  SequentialRecastOptimizer) that refuses to be pickled unless `enable_pickling()` was called before
  its first ask; Ray Tune pickles the searcher at every experiment checkpoint, so the run died there.
  The optimizer is made picklable as it is made (a no-op for the optimizers that always are).
- With max_concurrent > 1, NGOpt's meta-model step (`metamodel.learn_on_k_best`) does
  `float(model.predict(...))` on a one-element array, which numpy 2.4 refuses ("only 0-dimensional arrays
  can be converted to Python scalars"). That module's `float` is given the scalar of a one-element array.

And those a stopped or faulty run reaches:

- A sequential optimizer runs in a thread of its own (not a daemon) that waits for the next result;
  after Ctrl-C the process never ended. `close_all()` stops those threads.
- `--resume` of a sequential optimizer failed ("Mismatch in replay at index 0"): nevergrad's own unpickling
  replays the tells on an optimizer whose state has already moved on (its optimization function restarts
  from the current best, with the budget left). The searcher's checkpoint therefore holds no live
  optimizer but the optimizer as made (before its first ask, its random state fixed) and the asks and
  tells since, in order; restoring replays them on a fresh copy, which asks the same points again.
- A trial that ends without a result (it failed) was never told to the optimizer; a sequential one waits
  for that result before its next ask, so the search hung at the next trial. It is told the worst loss
  seen so far (infinity before any), as it cannot go on without a value.
"""

from __future__ import annotations

import builtins
import logging
import pickle
import weakref
from typing import Any

from ray.tune.search.nevergrad import NevergradSearch


def _scalar(value: Any = 0.0) -> float:
    """float(), also of a one-element array (what numpy < 2.4 allowed)."""
    size = getattr(value, "size", None)
    if size == 1 and getattr(value, "ndim", 0) > 0:
        value = value.reshape(-1)[0]
    return builtins.float(value)


def patch_metamodel() -> None:
    """Let nevergrad's meta-model turn its one-element predictions into floats (idempotent)."""
    from nevergrad.optimization import metamodel

    metamodel.float = _scalar  # the module's name `float`, looked up before the builtin


logger = logging.getLogger(__name__)
_made: weakref.WeakSet = weakref.WeakSet()


class PicklableNevergradSearch(NevergradSearch):
    """NevergradSearch whose state survives Ray Tune's searcher checkpoints (and so --resume)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        patch_metamodel()
        self._made_optimizer: bytes | None = None  # the optimizer before its first ask, pickled
        self._events: list[tuple[str, str, Any]] = []  # ("ask", trial id, point) / ("tell", trial id, loss)
        self._worst: float | None = None  # the highest loss told (nevergrad minimizes)
        super().__init__(*args, **kwargs)
        _made.add(self)

    def close(self) -> None:
        """Stop the threads of the optimizer's sequential parts (the run is over)."""
        for optimizer in _parts(self._nevergrad_opt):
            thread = getattr(optimizer, "_messaging_thread", None)
            if thread is not None:
                thread.stop()

    def _setup_nevergrad(self) -> None:
        super()._setup_nevergrad()
        optimizer = self._nevergrad_opt
        if optimizer is not None and optimizer.num_ask == 0:
            optimizer.enable_pickling()  # before any ask, as nevergrad requires
            optimizer.parametrization.random_state  # noqa: B018 - made now (seeded or not), so a copy asks the same
            self._made_optimizer = pickle.dumps(optimizer)

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        candidate = self._live_trial_mapping[trial_id]
        point = candidate.get_standardized_data(reference=self._nevergrad_opt.parametrization)
        self._events.append(("ask", trial_id, point))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self._live_trial_mapping and not (result and self._metric in result) and self._sequential():
            # the optimizer's thread waits for this result before its next point: tell it the worst
            loss = self._worst if self._worst is not None else float("inf")
            result = {self._metric: self._metric_op * loss}
        super().on_trial_complete(trial_id, result=result, error=error)

    def _process_result(self, trial_id: str, result: dict) -> None:
        super()._process_result(trial_id, result)
        loss = self._metric_op * result[self._metric]
        self._events.append(("tell", trial_id, loss))
        if loss != float("inf") and (self._worst is None or loss > self._worst):
            self._worst = loss

    def _sequential(self) -> bool:
        from nevergrad.optimization.recaster import SequentialRecastOptimizer

        return any(isinstance(o, SequentialRecastOptimizer) for o in _parts(self._nevergrad_opt))

    def save(self, checkpoint_path: str) -> None:
        state = {k: v for k, v in self.__dict__.items() if k not in ("_nevergrad_opt", "_live_trial_mapping")}
        state["_live_trials"] = list(self._live_trial_mapping)
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(state, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            state = pickle.load(handle)
        live = state.pop("_live_trials", None)  # None: Ray's own form (the live optimizer, pickled)
        self.__dict__.update(state)
        if live is None or self._made_optimizer is None:
            return
        self.close()  # the optimizer being replaced (normally never asked: no thread)
        self._nevergrad_opt, asked = _replay(pickle.loads(self._made_optimizer), self._events)
        self._live_trial_mapping = {trial_id: asked[trial_id] for trial_id in live}


def _replay(optimizer: Any, events: list[tuple[str, str, Any]]) -> tuple[Any, dict]:
    """The optimizer as made, given the asks and tells of a search again: (optimizer, trial id -> candidate).

    A replayed ask that differs from the recorded point (an optimizer that is not reproducible) takes the
    recorded point instead, told as a point it did not ask for where the optimizer allows that.
    """
    import numpy as np

    asked: dict[str, Any] = {}
    exact = True
    for kind, trial_id, value in events:
        if kind == "ask":
            candidate = optimizer.ask() if exact else None
            if candidate is not None:
                point = candidate.get_standardized_data(reference=optimizer.parametrization)
                exact = bool(np.allclose(point, value, rtol=0, atol=1e-9))
                if not exact:
                    logger.warning("nevergrad: the resumed optimizer asks other points; told the earlier ones")
            if not exact:
                candidate = optimizer.parametrization.spawn_child().set_standardized_data(value)
            asked[trial_id] = candidate
        elif trial_id in asked:
            try:
                optimizer.tell(asked[trial_id], value)
            except Exception as exc:  # noqa: BLE001 - an optimizer that takes no points it did not ask
                logger.warning("nevergrad: an earlier result is not given to the resumed optimizer: %s", exc)
    return optimizer, asked


def _parts(optimizer: Any, depth: int = 0) -> list:
    """The optimizer and those it delegates to (NGOpt's choice, a portfolio's members)."""
    if optimizer is None or depth > 8:
        return []
    found = [optimizer]
    for inner in [getattr(optimizer, "_optim", None), *(getattr(optimizer, "optims", None) or [])]:
        found += _parts(inner, depth + 1)
    return found


def close_all() -> None:
    """Stop every nevergrad searcher's threads: a non-daemon thread left waiting keeps Python from exiting."""
    for searcher in list(_made):
        searcher.close()
