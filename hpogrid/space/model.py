"""The search-space model: hyperparameters, their sampling method and its dimension.

A search space is the JSON object users write::

    {"lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 1e-2}},
     "optimizer": {"momentum": {"method": "uniform", "dimension": {"low": 0.5, "high": 1}}},
     "model.layers": {"method": "uniformint", "dimension": {"low": 2, "high": 6}}}

An object with a "method" key is a hyperparameter; any other object groups hyperparameters, and so
does a dotted name. Both give nested trial configs ({"optimizer": {"momentum": 0.7}, ...}).
The model keeps the JSON exactly as written (defaults are applied when read), so a space
round-trips through JSON unchanged.

Semantics, identical for every algorithm library:
  categorical  one of `categories` (`grid_search`: 1 = every category is tried, by grid search)
  uniform      uniform on [low, high]
  uniformint   an integer, uniform on {low, ..., high} (both ends included)
  quniform     round(uniform(low, high) / q) * q; low and high must be multiples of q
  loguniform   log-uniform on [low, high] (0 < low); `base` is accepted, and cannot change it
  qloguniform  round(loguniform(low, high) / q) * q
  normal       normal with mean `mu` and standard deviation `sigma`
  qnormal      round(normal(mu, sigma) / q) * q
  lognormal    base ** normal(mu, sigma); `base` defaults to e, so this is exp(normal(mu, sigma))
  qlognormal   round(lognormal(mu, sigma, base) / q) * q
  fixed        always `value`
Quantized values are ints when q is an int (written without a decimal point), floats otherwise.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hpogrid.configs.fields import is_int, is_number, show
from hpogrid.errors import ValidationError, did_you_mean, one_of

WHERE = "search_space"
NAME_SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")
QUANTUM_TOLERANCE = 1e-9

# method -> (required dimension keys, optional dimension keys with defaults)
METHODS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "categorical": (("categories",), {"grid_search": 0}),
    "uniform": (("low", "high"), {}),
    "uniformint": (("low", "high"), {}),
    "quniform": (("low", "high", "q"), {}),
    "loguniform": (("low", "high"), {"base": 10}),
    "qloguniform": (("low", "high", "q"), {"base": 10}),
    "normal": (("mu", "sigma"), {}),
    "qnormal": (("mu", "sigma", "q"), {}),
    "lognormal": (("mu", "sigma"), {"base": math.e}),
    "qlognormal": (("mu", "sigma", "q"), {"base": math.e}),
    "fixed": (("value",), {}),
}
UNBOUNDED = frozenset({"normal", "qnormal", "lognormal", "qlognormal"})
QUANTIZED = frozenset({"quniform", "qloguniform", "qnormal", "qlognormal"})
LOG_SCALE = frozenset({"loguniform", "qloguniform"})
LARGEST = 1e300  # |low| and |high| below this keep high - low a float
MAX_STEPS = 1e15  # quantization steps a float resolves (its 53-bit mantissa): q finer than this means nothing


def is_multiple(value: float, q: float) -> bool:
    ratio = value / q
    return abs(ratio - round(ratio)) <= QUANTUM_TOLERANCE * max(1.0, abs(ratio))


def quantize(value: float, q: int | float) -> int | float:
    """round(value / q) * q, as an int for an int q and without float noise (0.30000000000000004)."""
    steps = round(float(value) / q)
    if is_int(q):
        return int(steps * q)
    return float(f"{steps * q:.12g}")


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter: its path in the trial config, method and dimension (as written)."""

    path: tuple[str, ...]
    method: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return ".".join(self.path)

    def get(self, key: str) -> Any:
        if key in self.spec:
            return self.spec[key]
        return METHODS[self.method][1][key]

    @property
    def grid_search(self) -> bool:
        return self.method == "categorical" and bool(self.get("grid_search"))

    @property
    def integer(self) -> bool:
        """True when every value this dimension yields is an int."""
        if self.method == "uniformint":
            return True
        return self.method in QUANTIZED and is_int(self.spec["q"])

    def value_problem(self, value: Any) -> str | None:
        """Why a value given for this hyperparameter (e.g. in a search point) cannot be one of its
        samples, as 'expected ...', or None."""
        if self.method == "fixed":
            return (
                None
                if _same_value(value, self.get("value"))
                else f"expected {show(self.get('value'))}, its fixed value"
            )
        if self.method == "categorical":
            categories = self.get("categories")
            if any(_same_value(value, c) for c in categories):
                return None
            return f"expected one of the categories {show(categories)}"
        if self.method == "uniformint" and not is_int(value):
            return "expected a whole number"
        if not is_number(value):
            return "expected a number"
        if "low" in self.spec and not self.spec["low"] <= value <= self.spec["high"]:
            return f"expected a number in [{self.spec['low']}, {self.spec['high']}]"
        if self.method in ("lognormal", "qlognormal") and value <= 0:
            return "expected a number > 0 (a lognormal value is positive)"
        if self.method in QUANTIZED and not is_multiple(value, self.spec["q"]):
            return f"expected a multiple of q ({self.spec['q']})"
        return None

    def finish(self, value: Any) -> Any:
        """Quantize and type a sampled value the way the method defines it."""
        if self.method == "uniformint":
            return int(min(max(round(float(value)), self.spec["low"]), self.spec["high"]))
        if self.method in QUANTIZED:
            return quantize(value, self.spec["q"])
        return value


class SearchSpace:
    """A validated search space. Build one with SearchSpace.parse()."""

    def __init__(self, tree: dict, dimensions: list[Dimension]):
        self._tree = tree
        self.dimensions = dimensions

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, tree: Any, where: str = WHERE) -> SearchSpace:
        if not isinstance(tree, dict):
            raise ValidationError(where, None, f"got {show(tree)}, expected a JSON object of hyperparameters")
        if not tree:
            raise ValidationError(where, None, "is empty; define at least one hyperparameter")
        dimensions: list[Dimension] = []
        for path, node in _leaves(tree, (), where):
            dimensions.append(_dimension(path, node, where))
        _check_paths(dimensions, where)
        return cls(copy.deepcopy(tree), dimensions)

    @classmethod
    def from_json(cls, text: str, where: str = WHERE) -> SearchSpace:
        from hpogrid.strictjson import StrictJSONError, loads

        try:
            tree = loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                where, None, f"not valid JSON ({exc.msg} at character {exc.pos}): {show(text)}"
            ) from None
        except StrictJSONError as exc:
            raise ValidationError(where, None, f"{exc}: {show(text)}") from None
        return cls.parse(tree, where)

    # -- views ----------------------------------------------------------------------------------
    def to_json(self) -> dict:
        """The space as written (a deep copy)."""
        return copy.deepcopy(self._tree)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._tree == other._tree

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    def __getitem__(self, name: str) -> Dimension:
        for dim in self.dimensions:
            if dim.name == name:
                return dim
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    @property
    def searched(self) -> list[Dimension]:
        """Dimensions an algorithm searches (every one but the fixed ones)."""
        return [d for d in self.dimensions if d.method != "fixed"]

    def merged(self, update: SearchSpace) -> SearchSpace:
        """This space with update's top-level entries added or replacing the old ones."""
        tree = self.to_json()
        tree.update(update.to_json())
        return SearchSpace.parse(tree)

    def without_grid_search(self) -> dict:
        """The space as written, with every categorical sampled instead of grid-searched."""
        tree = self.to_json()
        for _, node in _leaves(tree, (), WHERE):
            if node["method"] == "categorical" and isinstance(node.get("dimension"), dict):
                node["dimension"].pop("grid_search", None)
        return tree

    def nest(self, flat: Mapping[str, Any], partial: bool = False) -> dict:
        """Turn {dotted name: value} (plus the fixed values) into the nested trial config;
        partial: leave out the dimensions flat does not have."""
        config: dict = {}
        for dim in self.dimensions:
            if partial and dim.method != "fixed" and dim.name not in flat:
                continue
            value = dim.get("value") if dim.method == "fixed" else flat[dim.name]
            node = config
            for key in dim.path[:-1]:
                node = node.setdefault(key, {})
            node[dim.path[-1]] = copy.deepcopy(value) if dim.method == "fixed" else value
        return config

    def check_point(self, point: Any, where: str = "search point") -> dict:
        """A point to evaluate (nested, or keyed by dotted names) checked against the space: every
        searched hyperparameter given once, with a value it can take, and no other names.
        Returns {dotted name: value}."""
        if not isinstance(point, Mapping):
            raise ValidationError(where, None, f"got {show(point)}, expected a JSON object of hyperparameter values")
        by_path = {d.path: d for d in self.dimensions}
        flat: dict[str, Any] = {}
        for path, value in _point_leaves(point, (), by_path, where):
            dim = by_path[path]
            if dim.name in flat:
                raise ValidationError(where, dim.name, "is given twice (once as a dotted name, once nested)")
            problem = dim.value_problem(value)
            if problem:
                raise ValidationError(where, dim.name, f"got {show(value)}, {problem}")
            flat[dim.name] = value
        missing = [d.name for d in self.searched if d.name not in flat]
        if missing:
            raise ValidationError(
                where,
                missing[0],
                f"is missing; a point gives every searched hyperparameter (missing: {', '.join(missing)})",
            )
        return {name: value for name, value in flat.items() if self[name].method != "fixed"}

    def flatten(self, config: Mapping[str, Any], partial: bool = False) -> dict:
        """Turn a trial config (nested, or keyed by dotted names) into {dotted name: value};
        partial: a point may leave dimensions out (they are sampled), else each one must be there."""
        flat = {}
        for dim in self.searched:
            if dim.name in config:
                flat[dim.name] = config[dim.name]
                continue
            node: Any = config
            for key in dim.path:
                if not isinstance(node, Mapping) or key not in node:
                    if partial:
                        break
                    raise ValidationError(WHERE, dim.name, f"missing from the point {show(dict(config))}")
                node = node[key]
            else:
                flat[dim.name] = node
        return flat


def _same_value(value: Any, expected: Any) -> bool:
    """JSON equality that keeps true apart from 1 (but 1 and 1.0 together)."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    if is_number(value) and is_number(expected):
        return value == expected
    return type(value) is type(expected) and value == expected


def _point_leaves(
    node: Mapping, prefix: tuple[str, ...], by_path: Mapping[tuple[str, ...], Dimension], where: str
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) of every hyperparameter a point gives; an unknown name is an error."""
    for key, value in node.items():
        path = prefix + tuple(str(key).split("."))
        if path in by_path:
            yield path, value
        elif isinstance(value, Mapping) and any(p[: len(path)] == path for p in by_path):
            yield from _point_leaves(value, path, by_path, where)
        else:
            name = ".".join(path)
            names = [".".join(p) for p in by_path]
            hint = did_you_mean(name, names) or f" (hyperparameters: {', '.join(names)})"
            raise ValidationError(where, name, f"is not a hyperparameter of the search space{hint}")


# -- validation helpers --------------------------------------------------------------------------
def _leaves(tree: dict, prefix: tuple[str, ...], where: str) -> Iterator[tuple[tuple[str, ...], dict]]:
    for key, node in tree.items():
        label = ".".join(prefix + (str(key),))
        segments = str(key).split(".")
        if not all(NAME_SEGMENT.fullmatch(s) for s in segments):
            raise ValidationError(
                where,
                label,
                "bad hyperparameter name; use letters, digits, '_' and '-', with '.' between "
                "the parts of a nested name",
            )
        if not isinstance(node, dict):
            raise ValidationError(
                where,
                label,
                f"got {show(node)}, expected an object like "
                '{"method": "uniform", "dimension": {"low": 0, "high": 1}}',
            )
        path = prefix + tuple(segments)
        if "method" in node:
            yield path, node
        elif not node:
            raise ValidationError(where, label, "is an empty group; give it hyperparameters or remove it")
        elif "dimension" in node:
            raise ValidationError(where, label, f"has no 'method'; expected one of {one_of(METHODS)}")
        else:
            yield from _leaves(node, path, where)


def _dimension(path: tuple[str, ...], node: dict, where: str) -> Dimension:
    label = ".".join(path)
    for key in node:
        if key not in ("method", "dimension"):
            raise ValidationError(
                where,
                label,
                f"unknown key '{key}'{did_you_mean(key, ['method', 'dimension'])}; "
                "a hyperparameter has only 'method' and 'dimension'",
            )
    method = node.get("method")
    if not isinstance(method, str) or method not in METHODS:
        raise ValidationError(
            where,
            f"{label}.method",
            f"got {show(method)}, expected one of {one_of(METHODS)}{did_you_mean(str(method), METHODS)}",
        )
    spec = node.get("dimension")
    if not isinstance(spec, dict):
        raise ValidationError(where, f"{label}.dimension", f"got {show(spec)}, expected a JSON object")
    required, optional = METHODS[method]
    for key in spec:
        if key not in required and key not in optional:
            allowed = list(required) + list(optional)
            raise ValidationError(
                where,
                f"{label}.dimension.{key}",
                f"is not a dimension of '{method}'{did_you_mean(key, allowed)}; '{method}' takes {one_of(allowed)}",
            )
    for key in required:
        if key not in spec:
            raise ValidationError(where, f"{label}.dimension.{key}", f"is required for method '{method}'")
    _check_values(label, method, spec, where)
    return Dimension(path, method, spec)


def _check_values(label: str, method: str, spec: dict, where: str) -> None:
    def bad(key: str, message: str) -> ValidationError:
        return ValidationError(where, f"{label}.dimension.{key}", f"got {show(spec[key])}, {message}")

    for key in ("low", "high", "mu", "q"):
        if key in spec and not is_number(spec[key]):
            raise bad(key, "expected a number")
    for key in ("sigma", "q"):
        if key in spec and not (is_number(spec[key]) and spec[key] > 0):
            raise bad(key, "expected a number > 0")
    if "base" in spec and not (is_number(spec["base"]) and spec["base"] > 0 and spec["base"] != 1):
        raise bad("base", "expected a number > 0 other than 1")
    if method == "uniformint":
        for key in ("low", "high"):
            if not is_int(spec[key]):
                raise bad(key, "expected a whole number (written without a decimal point)")
    if "low" in spec:
        low, high = spec["low"], spec["high"]
        if not low < high:
            raise bad("high", f"expected a number greater than low ({low}); for one value use method 'fixed'")
        if not math.isfinite(float(high) - float(low)):
            raise bad(
                "high", f"high - low overflows a float, nothing can be sampled; keep |low|, |high| below {LARGEST:g}"
            )
        if method in LOG_SCALE and low <= 0:
            raise bad("low", "expected a number > 0 (the logarithm of low must exist)")
        if method in ("quniform", "qloguniform"):
            for key in ("low", "high"):
                if not is_multiple(spec[key], spec["q"]):
                    raise bad(key, f"expected a multiple of q ({spec['q']}) so that every value stays in [low, high]")
    if "q" in spec:
        extent = float(spec["high"]) - float(spec["low"]) if "low" in spec else float(spec["sigma"])
        if extent / spec["q"] > MAX_STEPS:
            steps = f"{'high - low' if 'low' in spec else 'sigma'} is {extent / spec['q']:.3g} steps of q"
            raise bad("q", f"too small: {steps}, at most {MAX_STEPS:g}; quantize coarser, or use the method without q")
    if method == "categorical":
        categories = spec["categories"]
        if not isinstance(categories, list) or not categories:
            raise bad("categories", "expected a non-empty list")
        seen = set()
        for item in categories:
            if isinstance(item, (dict, list)) or (isinstance(item, float) and not math.isfinite(item)):
                raise bad("categories", f"expected JSON scalars (strings, numbers, true/false, null), not {show(item)}")
            marker = json.dumps(item)
            if marker in seen:
                raise bad("categories", f"lists {marker} twice")
            seen.add(marker)
        if spec.get("grid_search", 0) not in (0, 1, True, False):
            raise bad("grid_search", "expected 0 or 1")


def _check_paths(dimensions: list[Dimension], where: str) -> None:
    paths = {}
    for dim in dimensions:
        if dim.path in paths:
            raise ValidationError(where, dim.name, "is defined twice (once as a dotted name, once nested)")
        paths[dim.path] = dim
    for dim in dimensions:
        for cut in range(1, len(dim.path)):
            if dim.path[:cut] in paths:
                raise ValidationError(
                    where,
                    ".".join(dim.path[:cut]),
                    f"is a hyperparameter and also the group of '{dim.name}'; rename one of them",
                )
