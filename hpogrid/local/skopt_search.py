"""A Ray Tune Searcher around scikit-optimize's ask/tell Optimizer (Ray no longer ships one).

Trials still running are told to the optimizer with a "constant liar" value (the best value seen,
the usual choice for parallel Bayesian optimization), so concurrent asks do not return the same
point; the lie is replaced by the real result when the trial completes.
"""

from __future__ import annotations

import pickle
from typing import Any

from ray.tune.search import Searcher


class SkOptSearch(Searcher):
    def __init__(
        self,
        dimensions: list,
        metric: str,
        mode: str,
        points_to_evaluate: list[dict] | None = None,
        random_state: int | None = None,
        **optimizer_kwargs: Any,
    ):
        super().__init__(metric=metric, mode=mode)
        from skopt import Optimizer

        self._names = [d.name for d in dimensions]
        self._optimizer = Optimizer(dimensions, random_state=random_state, **optimizer_kwargs)
        self._queue = [[point[n] for n in self._names] for point in points_to_evaluate or []]
        self._live: dict[str, list] = {}  # trial id -> point
        self._told: list[tuple[list, float]] = []  # real results

    def _sign(self, value: float) -> float:
        return value if self.mode == "min" else -value  # skopt minimizes

    def suggest(self, trial_id: str) -> dict | None:
        if self._queue:
            point = self._queue.pop(0)
        else:
            point = self._ask()
        self._live[trial_id] = point
        return dict(zip(self._names, point, strict=True))

    def _ask(self) -> list:
        if not self._live:
            return self._optimizer.ask()
        # constant liar: pretend the pending points scored the best value so far
        lie = min((v for _, v in self._told), default=0.0)
        probe = self._optimizer.copy(random_state=self._optimizer.rng)
        pending = list(self._live.values())
        probe.tell(pending, [lie] * len(pending))
        return probe.ask()

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        point = self._live.pop(trial_id, None)
        if point is None or error or not result or self.metric not in result:
            return
        value = self._sign(float(result[self.metric]))
        self._told.append((point, value))
        self._optimizer.tell(point, value)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump((self._optimizer, self._queue, self._live, self._told), handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self._optimizer, self._queue, self._live, self._told = pickle.load(handle)
