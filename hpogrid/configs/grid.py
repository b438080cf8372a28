"""grid_config: where and how grid jobs run (sites, container, datasets, retries)."""

from __future__ import annotations

import re

from hpogrid._version import __version__
from hpogrid.configs.fields import Field, Schema
from hpogrid.errors import ValidationError

KIND = "grid_config"
DEFAULT_SITES = ["ANALY_MANC_GPU_TEST", "ANALY_MWT2_GPU", "ANALY_BNL_GPU_ARC"]
# The payload image docker/Dockerfile builds, tagged with this version (CVMFS unpacks the registry's
# images). Jobs run the submitter's hpogrid from the sandbox; the image provides its pinned libraries.
IMAGE = "gitlab-registry.cern.ch/aml/hyperparameter-optimization/alkaid-qt/hpogrid"
DEFAULT_CONTAINER = f"/cvmfs/unpacked.cern.ch/{IMAGE}:{__version__}"
# Placeholders an outDS may use; filled in at submission.
OUTDS_PLACEHOLDERS = ("user", "project", "timestamp")
DATASET = r"[A-Za-z0-9_.\-]+(:[A-Za-z0-9_.\-]+)?/?"


def _outds_problem(name: str) -> str | None:
    for placeholder in re.findall(r"\{([^}]*)\}", name):
        if placeholder not in OUTDS_PLACEHOLDERS:
            return f"unknown placeholder {{{placeholder}}}; allowed: {{user}}, {{project}}, {{timestamp}}"
    if not re.fullmatch(DATASET, re.sub(r"\{[a-z]+\}", "x", name)):
        return "a dataset name has only letters, digits, '_', '-', '.' and one optional 'scope:'"
    return None


FIELDS = (
    Field(
        "site",
        "str_list",
        "grid sites (PanDA queues) to run on",
        default=DEFAULT_SITES,
        pattern=r"[A-Za-z0-9_.\-]+",
        pattern_hint="a site (PanDA queue) name has only letters, digits, '_', '-' and '.'",
        metavar="SITES",
    ),
    Field(
        "container",
        "str",
        "container image the jobs run in",
        default=DEFAULT_CONTAINER,
        pattern=r"\S+",
        pattern_hint="an image name has no spaces",
        metavar="IMAGE",
    ),
    Field("retry", "bool", "let PanDA retry failed jobs automatically", default=False),
    Field(
        "inDS",
        "str",
        "input dataset(s) (Rucio), comma-separated",
        nullable=True,
        pattern=rf"{DATASET}(,{DATASET})*",
        pattern_hint=(
            "expected Rucio dataset names (letters, digits, '_', '-', '.', an optional 'scope:'), comma-separated"
        ),
        metavar="DATASET",
    ),
    Field(
        "outDS",
        "str",
        "output dataset (default: user.{user}.hpogrid.{project}.{timestamp})",
        nullable=True,
        check=_outds_problem,
        metavar="DATASET",
    ),
)


def _cross_check(config: dict) -> None:
    if not config["site"]:
        raise ValidationError(KIND, "site", "is empty; name at least one grid site")


SCHEMA = Schema(KIND, FIELDS, _cross_check, summary_columns=("site", "container", "inDS", "outDS"))
