"""YAML files as JSON values: configs, search spaces and points may be written in YAML (stored as JSON).

PyYAML's safe loader, with two YAML 1.1 surprises taken out: ``1e-5`` is a number (PyYAML reads a float
only with a dot: a string), and dates stay text (a datetime is no JSON value).
"""

from __future__ import annotations

import json
import re
from typing import Any

from hpogrid.errors import HpogridError

FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT, list("-+0123456789."))
    return Loader


def loads(text: str, where: str) -> Any:
    """The JSON value a YAML text holds; a one-line error naming where otherwise."""
    import yaml

    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise HpogridError(f"{where} is not valid YAML ({problem}{at})") from None
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise HpogridError(
            f"{where}: holds a value that is not JSON ({exc}); write it as text or a finite number"
        ) from None
    return data
