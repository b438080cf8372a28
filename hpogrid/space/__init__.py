"""Search spaces: the model users write (model.py) and its translation per library (translate.py)."""

from hpogrid.space.model import METHODS, Dimension, SearchSpace

__all__ = ["METHODS", "Dimension", "SearchSpace"]
