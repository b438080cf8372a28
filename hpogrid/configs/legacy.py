"""Configs as hpogrid 1.x wrote them, read as today's (issue 15).

hpogrid 1.x (1.0-1.3.3) saved configs today's schemas reject: ``verbose`` as 0/1, ``scheduler_param`` and
``algorithm_param`` as null, ``extra_metrics`` listing the optimized metric, ``resource`` {"cpu": 0, "gpu": 0}
for "use the machine", a ``grid_config.extra`` it never used, ``site`` null or a comma string, ``retry`` 0/1,
its own default container, and outDS templates in shell syntax. ``normalise`` turns such a config into
today's form and says what it changed; reading is lenient, writing is always today's format. Values
today's schema rejects for other reasons are left as they are, for the schema to explain.
"""

from __future__ import annotations

import re
from typing import Any

# 1.x's default images (hpogrid 1.3.3 core/defaults.py kDefaultContainer, kDefaultContainer2): they hold
# the 1.x payload (Ray 1.x); today's jobs need today's image
OLD_CONTAINERS = (
    "/cvmfs/unpacked.cern.ch/gitlab-registry.cern.ch/aml/hyperparameter-optimization/alkaid-qt/hpogrid:latest",
    "/cvmfs/unpacked.cern.ch/gitlab-registry.cern.ch/clcheng/hyperparameter-optimization-on-the-grid:latest",
)
# 1.x's outDS template syntax -> today's placeholders (1.3.3 kDefaultOutDS:
# 'user.${{RUCIO_ACCOUNT}}.hpogrid.{HPO_PROJECT_NAME}.out.$(date +%Y%m%d%H%M%S)', filled in by str.format
# and then by the shell of its prun command)
OUTDS_FORMS = (
    (re.compile(r"\$\{\{RUCIO_ACCOUNT\}\}|\$\{RUCIO_ACCOUNT\}|\$RUCIO_ACCOUNT\b"), "{user}"),
    (re.compile(r"\{\{?HPO_PROJECT_NAME\}?\}"), "{project}"),
    (re.compile(r"\$\(date[^)]*\)"), "{timestamp}"),
)


def _hpo(config: dict, changes: list[str]) -> None:
    verbose = config.get("verbose")
    if isinstance(verbose, int) and not isinstance(verbose, bool) and verbose >= 0:
        config["verbose"] = verbose > 0
        changes.append(f"verbose {verbose} -> {str(verbose > 0).lower()}")
    for key in ("scheduler_param", "algorithm_param"):
        if key in config and config[key] is None:
            config[key] = {}
            changes.append(f"{key} null -> {{}}")
    metrics = config.get("extra_metrics", [])
    if metrics is None:
        config["extra_metrics"] = []
        changes.append("extra_metrics null -> []")
    elif isinstance(metrics, str):
        config["extra_metrics"] = [m.strip() for m in metrics.split(",") if m.strip()]
        changes.append(f"extra_metrics {metrics!r} -> a list")
    metric = config.get("metric", "loss")
    if isinstance(config.get("extra_metrics"), list) and metric in config["extra_metrics"]:
        config["extra_metrics"] = [m for m in config["extra_metrics"] if m != metric]
        changes.append(f"extra_metrics: dropped '{metric}' (the optimized metric is recorded anyway)")
    resource = config.get("resource")
    if isinstance(resource, dict) and resource.get("cpu") == 0:
        rest = {k: v for k, v in resource.items() if k != "cpu"}
        config["resource"] = None if all(v == 0 for v in rest.values()) else rest
        shown = "null (shared out from the machine)" if config["resource"] is None else "without cpu (the default)"
        changes.append(f"resource {{'cpu': 0, ...}} -> {shown}")


def _grid(config: dict, changes: list[str]) -> None:
    if "extra" in config:
        extra = config.pop("extra")
        if extra:
            changes.append(f"dropped extra {extra} (1.x never passed it to PanDA either)")
        else:
            changes.append("dropped the empty extra")
    if "site" in config and config["site"] is None:
        from hpogrid.configs.grid import DEFAULT_SITES

        config["site"] = list(DEFAULT_SITES)
        changes.append(f"site null -> the default sites {','.join(DEFAULT_SITES)}")
    elif isinstance(config.get("site"), str):
        config["site"] = [s.strip() for s in config["site"].split(",") if s.strip()]
        changes.append("site: a comma-separated string -> a list")
    retry = config.get("retry")
    if retry in (0, 1) and not isinstance(retry, bool):
        config["retry"] = bool(retry)
        changes.append(f"retry {retry} -> {str(bool(retry)).lower()}")
    if config.get("container") in OLD_CONTAINERS:
        from hpogrid.configs.grid import DEFAULT_CONTAINER

        config["container"] = DEFAULT_CONTAINER
        changes.append("container: 1.x's default image -> today's (the 1.x image holds 1.x's libraries)")
    outds = config.get("outDS")
    if isinstance(outds, str):
        new = outds
        for pattern, placeholder in OUTDS_FORMS:
            new = pattern.sub(placeholder, new)
        if new != outds:
            config["outDS"] = new
            changes.append(f"outDS {outds!r} -> {new!r}")


def _model(config: dict, changes: list[str]) -> None:
    if "param" in config and config["param"] is None:
        config["param"] = {}
        changes.append("param null -> {}")


RULES = {"hpo_config": _hpo, "grid_config": _grid, "model_config": _model}  # 1.x search spaces are today's


def normalise(kind: str, data: Any) -> tuple[Any, list[str]]:
    """A config of a kind in today's form, and what was changed (empty when it was today's form)."""
    rule = RULES.get(kind)
    if rule is None or not isinstance(data, dict):
        return data, []
    config = dict(data)
    changes: list[str] = []
    rule(config, changes)
    return config, changes


_said: set[str] = set()


def tell(kind: str, where: str, changes: list[str]) -> None:
    """Say once per process, on stderr, that a config was read in its 1.x form and what changed."""
    if not changes or where in _said:
        return
    _said.add(where)
    import click

    click.echo(
        f"Note: {kind} {where} is in hpogrid 1.x's form, read as today's: {'; '.join(changes)}. "
        "`hpogrid migrate` (or an update of it) saves it in today's form.",
        err=True,
    )
