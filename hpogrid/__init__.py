"""hpogrid: hyperparameter optimization with Ray Tune, locally and on the ATLAS grid."""

from hpogrid._version import __version__

__all__ = ["__version__", "report"]


def report(metrics: dict | None = None, /, **more) -> None:
    """Report a training iteration's metrics from inside a trial: ``hpogrid.report(loss=0.1)``."""
    from hpogrid.local.trainable import report as _report

    _report(metrics, **more)
