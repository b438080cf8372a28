"""The short search-space form of Ray-Tune HPO modules, translated into hpogrid's form.

    {"lr": {"type": "loguniform", "low": 1e-5, "high": 1e-2}, "bs": {"type": "choice", "values": [32, 64]}}

becomes ``{"lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-2}}, "bs": {"method":
"categorical", "dimension": {"categories": [32, 64]}}}``. The types keep Ray Tune's meaning (``randint``'s
``high`` is excluded, as in ``tune.randint``). Entries already in hpogrid's form, and nested objects of
either, are kept as they are, so the two forms mix.
"""

from __future__ import annotations

from typing import Any

from hpogrid.errors import ValidationError, did_you_mean, one_of

WHERE = "search_space"
# type -> (hpogrid method, {short key: dimension key}, required short keys)
TYPES: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
    "uniform": ("uniform", {"low": "low", "high": "high"}, ("low", "high")),
    "loguniform": ("loguniform", {"low": "low", "high": "high", "base": "base"}, ("low", "high")),
    "quniform": ("quniform", {"low": "low", "high": "high", "q": "q"}, ("low", "high", "q")),
    "qloguniform": ("qloguniform", {"low": "low", "high": "high", "q": "q", "base": "base"}, ("low", "high", "q")),
    "randint": ("uniformint", {"low": "low", "high": "high"}, ("low", "high")),
    "choice": ("categorical", {"values": "categories"}, ("values",)),
    "grid_search": ("categorical", {"values": "categories"}, ("values",)),
    "normal": ("normal", {"mean": "mu", "sd": "sigma"}, ("mean", "sd")),
    "fixed": ("fixed", {"value": "value"}, ("value",)),
}


def is_short(node: Any) -> bool:
    """A hyperparameter in the short form: an object with a text "type" and no "method"."""
    return isinstance(node, dict) and isinstance(node.get("type"), str) and "method" not in node


def expand(space: Any) -> Any:
    """The space with every short-form hyperparameter in hpogrid's form (a new object)."""
    if not isinstance(space, dict):
        return space
    return _expand(space, ())


def _expand(tree: dict, path: tuple[str, ...]) -> dict:
    out: dict[str, Any] = {}
    for name, node in tree.items():
        here = (*path, str(name))
        if is_short(node):
            out[name] = _translate(node, ".".join(here))
        elif isinstance(node, dict) and "method" not in node:
            out[name] = _expand(node, here)
        else:
            out[name] = node
    return out


def _translate(node: dict, name: str) -> dict:
    kind = node["type"]
    if kind not in TYPES:
        raise ValidationError(
            WHERE, f"{name}.type", f"unknown type '{kind}'{did_you_mean(kind, TYPES)}; types: {one_of(TYPES)}"
        )
    method, keys, required = TYPES[kind]
    unknown = sorted(set(node) - set(keys) - {"type"})
    if unknown:
        raise ValidationError(
            WHERE, f"{name}.{unknown[0]}", f"is not a key of type '{kind}'; its keys: {', '.join(keys)}"
        )
    missing = [key for key in required if key not in node]
    if missing:
        raise ValidationError(WHERE, name, f"type '{kind}' needs {', '.join(missing)}")
    dimension = {keys[key]: value for key, value in node.items() if key in keys}
    if kind == "randint":  # tune.randint(low, high) excludes high; hpogrid's uniformint includes both ends
        high = dimension["high"]
        if not isinstance(high, int) or isinstance(high, bool):
            raise ValidationError(WHERE, f"{name}.high", f"must be an integer for type 'randint', got {high!r}")
        dimension["high"] = high - 1
    if kind == "grid_search":
        dimension["grid_search"] = 1
    return {"method": method, "dimension": dimension}
