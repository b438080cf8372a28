"""Parameter mapping: flat hyperparameter names -> places in a nested model config.

``{"lr": "optimizer.learning_rate", "hidden": "model.layers.hidden"}`` puts the value of ``lr`` at
``config["optimizer"]["learning_rate"]``; names without a mapping keep their own (dotted) place.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from hpogrid.errors import ValidationError, did_you_mean


def _path(target: str) -> list[str]:
    return target.split(".")


def check(mapping: Any, names: Iterable[str], base: dict | None = None, where: str = "param_mapping") -> dict:
    """The mapping, checked against the search space's hyperparameter names and the base config: every
    key a hyperparameter, every target a dotted path whose parents in base are objects, no two values at
    one place or one inside another. Raises a ValidationError naming the entry."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ValidationError(where, None, f"must be an object of NAME: TARGET, got {type(mapping).__name__}")
    names = list(names)
    for name, target in mapping.items():
        if name not in names:
            raise ValidationError(
                where, str(name), f"is not a hyperparameter of the search space{did_you_mean(str(name), names)}"
            )
        if not isinstance(target, str) or not all(_path(target)):
            raise ValidationError(
                where, str(name), f"target must be a dotted path like 'optimizer.learning_rate', got {target!r}"
            )
        node: Any = base or {}
        for depth, key in enumerate(_path(target)[:-1]):
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
            if not isinstance(node, dict):
                parent = ".".join(_path(target)[: depth + 1])
                raise ValidationError(
                    where, str(name), f"target '{target}' goes inside '{parent}', which is {node!r} in the model config"
                )
    places = {name: mapping.get(name, name) for name in names}
    seen: dict[str, str] = {}
    for name, target in sorted(places.items(), key=lambda item: item[1]):
        for other_target, other in seen.items():
            if target == other_target or target.startswith(other_target + "."):
                raise ValidationError(
                    where, str(name), f"target '{target}' is also where '{other}' goes; give each its own place"
                )
        seen[target] = name
    return dict(mapping)


def apply(base: dict, values: dict[str, Any], mapping: dict[str, str]) -> dict:
    """base with each value at its place (mapping's target, else its own dotted name); base is changed
    and returned. A place inside a value that is not an object replaces it."""
    for name, value in values.items():
        keys = _path(mapping.get(name, name))
        node = base
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = copy.deepcopy(value)
    return base
