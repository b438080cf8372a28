"""hpogrid: hyperparameter optimization with Ray Tune, locally and on the ATLAS grid."""

from hpogrid._version import __version__

__all__ = ["Results", "__version__", "load_results", "multirun", "optimize", "report", "restore", "run_project"]
_API = {name: "hpogrid.api" for name in ("optimize", "run_project", "multirun", "load_results")} | {
    "Results": "hpogrid.resultset"
}


def __getattr__(name: str):
    """The Python API (hpogrid.api), imported on first use: `import hpogrid` stays light for the CLI and trials."""
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'hpogrid' has no attribute '{name}'")


def report(metrics: dict | None = None, /, *, checkpoint=None, **more) -> None:
    """Report a training iteration's metrics from inside a trial: ``hpogrid.report(loss=0.1)``.
    With ``checkpoint=state`` (picklable), a paused or copied trial resumes from ``restore()``."""
    from hpogrid.local.trainable import report as _report

    _report(metrics, checkpoint=checkpoint, **more)


def restore():
    """Inside a trial: the last state passed to ``report(checkpoint=...)``, or None."""
    from hpogrid.local.trainable import restore as _restore

    return _restore()
