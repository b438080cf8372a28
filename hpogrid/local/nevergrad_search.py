"""Ray Tune's NevergradSearch, made to last a whole search with nevergrad 1.0.12 on numpy >= 2.4.

Two failures that only a realistic budget reaches (20-50 trials on a 2-D continuous space):

- With max_concurrent 1, NGOpt picks a sequential optimizer (Cobyla, Powell, ...: nevergrad's
  SequentialRecastOptimizer) that refuses to be pickled unless `enable_pickling()` was called before
  its first ask; Ray Tune pickles the searcher at every experiment checkpoint, so the run died there.
  The optimizer is made picklable as it is made (a no-op for the optimizers that always are).
- With max_concurrent > 1, NGOpt's meta-model step (`metamodel.learn_on_k_best`) does
  `float(model.predict(...))` on a one-element array, which numpy 2.4 refuses ("only 0-dimensional arrays
  can be converted to Python scalars"). That module's `float` is given the scalar of a one-element array.

And one that a stopped run reaches: a sequential optimizer runs in a thread of its own (not a daemon) that
waits for the next result; after Ctrl-C the process never ended. `close_all()` stops those threads.
"""

from __future__ import annotations

import builtins
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


_made: weakref.WeakSet = weakref.WeakSet()


class PicklableNevergradSearch(NevergradSearch):
    """NevergradSearch whose optimizer survives Ray Tune's searcher checkpoints (and so --resume)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        patch_metamodel()
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
        if self._nevergrad_opt is not None and self._nevergrad_opt.num_ask == 0:
            self._nevergrad_opt.enable_pickling()  # before any ask, as nevergrad requires


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
