"""Ray Tune samplers for distributions Ray has no built-in for. Imports ray: load lazily."""

from __future__ import annotations

import numpy as np
from ray.tune.search.sample import Sampler, _BackwardsCompatibleNumpyRng


class PowerNormal(Sampler):
    """base ** normal(mu, sigma): the lognormal of hpogrid's search-space model."""

    def __init__(self, mu: float, sigma: float, base: float):
        self.mu, self.sigma, self.base = mu, sigma, base

    def __str__(self) -> str:
        return f"PowerNormal(mu={self.mu}, sigma={self.sigma}, base={self.base})"

    def sample(self, domain, config=None, size: int = 1, random_state=None):
        if not isinstance(random_state, _BackwardsCompatibleNumpyRng):
            random_state = _BackwardsCompatibleNumpyRng(random_state)
        items = np.power(float(self.base), random_state.normal(self.mu, self.sigma, size=size))
        return items if len(items) > 1 else domain.cast(items[0])
