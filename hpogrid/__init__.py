"""hpogrid: hyperparameter optimization with Ray Tune, locally and on the ATLAS grid."""

from hpogrid._version import __version__

__all__ = ["__version__"]
