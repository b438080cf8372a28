"""The search-space model: validation, nesting, quantization, JSON round trip (property test)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpogrid.configs.store import ConfigStore
from hpogrid.errors import ValidationError
from hpogrid.space.model import METHODS, SearchSpace, quantize

# -- strategies for valid search spaces ----------------------------------------------------------
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-6, max_value=1e3, allow_nan=False, allow_infinity=False)
scalar = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), finite, st.text(max_size=8))
segment = st.from_regex(r"[A-Za-z0-9_\-]{1,8}", fullmatch=True)


@st.composite
def low_high(draw, low_min=-1e6):
    low = draw(st.floats(min_value=low_min, max_value=1e5, allow_nan=False))
    return low, draw(st.floats(min_value=low + abs(low) * 1e-6 + 1e-6, max_value=1e6, allow_nan=False))


@st.composite
def quantized_bounds(draw, positive_low=False):
    q = draw(st.one_of(st.integers(1, 50), st.sampled_from([0.5, 0.25, 0.1, 0.01, 1e-3])))
    low_k = draw(st.integers(1 if positive_low else -100, 100))
    high_k = draw(st.integers(low_k + 1, 200))
    return (
        low_k * q if isinstance(q, int) else quantize(low_k * q, q),
        (high_k * q if isinstance(q, int) else quantize(high_k * q, q)),
        q,
    )


@st.composite
def dimension(draw):
    method = draw(st.sampled_from(sorted(METHODS)))
    spec: dict
    if method == "categorical":
        cats = draw(st.lists(scalar, min_size=1, max_size=6, unique_by=json.dumps))
        spec = {"categories": cats}
        if draw(st.booleans()):
            spec["grid_search"] = draw(st.sampled_from([0, 1]))
    elif method == "uniform":
        low, high = draw(low_high())
        spec = {"low": low, "high": high}
    elif method == "uniformint":
        low = draw(st.integers(-1000, 1000))
        spec = {"low": low, "high": draw(st.integers(low + 1, 2000))}
    elif method in ("quniform", "qloguniform"):
        low, high, q = draw(quantized_bounds(positive_low=method == "qloguniform"))
        spec = {"low": low, "high": high, "q": q}
    elif method == "loguniform":
        low, high = draw(low_high(low_min=1e-8).filter(lambda b: b[0] > 0))
        spec = {"low": low, "high": high}
    elif method in ("normal", "qnormal", "lognormal", "qlognormal"):
        spec = {"mu": draw(finite), "sigma": draw(positive)}
        if method.startswith("q"):
            spec["q"] = draw(positive)
    else:
        spec = {"value": draw(st.recursive(scalar, lambda c: st.lists(c, max_size=3), max_leaves=5))}
    if method in ("loguniform", "qloguniform", "lognormal", "qlognormal") and draw(st.booleans()):
        spec["base"] = draw(st.sampled_from([2, 10, math.e, 0.5]))
    return {"method": method, "dimension": spec}


@st.composite
def search_space(draw):
    tree: dict = {}
    for name in draw(st.lists(segment, min_size=1, max_size=5, unique=True)):
        if draw(st.integers(0, 4)) == 0:  # a nested group
            tree[name] = draw(st.dictionaries(segment, dimension(), min_size=1, max_size=3))
        else:
            tree[name] = draw(dimension())
    return tree


@settings(max_examples=300, deadline=None)
@given(search_space())
def test_any_valid_space_round_trips_through_json(tree):
    space = SearchSpace.parse(tree)
    text = json.dumps(space.to_json())
    assert json.loads(text) == tree
    assert SearchSpace.parse(json.loads(text)) == space
    assert SearchSpace.from_json(text).to_json() == tree


@settings(max_examples=40, deadline=None)
@given(search_space())
def test_round_trip_through_the_store(tree):
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        os.environ["HPOGRID_BASE_PATH"] = root
        try:
            ConfigStore("search_space").create("s", tree)
            assert ConfigStore("search_space").load("s") == tree
        finally:
            del os.environ["HPOGRID_BASE_PATH"]


def test_dotted_and_nested_names_give_nested_configs():
    space = SearchSpace.parse(
        {
            "optimizer.lr": {"method": "fixed", "dimension": {"value": 0.1}},
            "optimizer": {"momentum": {"method": "uniform", "dimension": {"low": 0, "high": 1}}},
            "model": {"layers": {"units": {"method": "uniformint", "dimension": {"low": 1, "high": 3}}}},
            "seed": {"method": "fixed", "dimension": {"value": [1, 2]}},
        }
    )
    assert space.names == ["optimizer.lr", "optimizer.momentum", "model.layers.units", "seed"]
    assert [d.name for d in space.searched] == ["optimizer.momentum", "model.layers.units"]
    config = space.nest({"optimizer.momentum": 0.5, "model.layers.units": 2})
    assert config == {"optimizer": {"lr": 0.1, "momentum": 0.5}, "model": {"layers": {"units": 2}}, "seed": [1, 2]}
    assert space.flatten(config) == {"optimizer.momentum": 0.5, "model.layers.units": 2}
    assert space.flatten({"optimizer.momentum": 0.5, "model.layers.units": 2}) == space.flatten(config)


def test_nest_copies_fixed_values():
    space = SearchSpace.parse({"v": {"method": "fixed", "dimension": {"value": [1]}}})
    first = space.nest({})
    first["v"].append(2)
    assert space.nest({}) == {"v": [1]}


@pytest.mark.parametrize(
    "value,q,expected",
    [
        (0.30000000000000004, 0.1, 0.3),
        (2.9999, 0.1, 3.0),
        (47, 16, 48),
        (7.4, 1, 7),
        (-0.26, 0.5, -0.5),
        (1.25, 0.5, 1.0),
    ],
)
def test_quantize(value, q, expected):
    result = quantize(value, q)
    assert result == expected and type(result) is type(expected)


def test_integer_type_follows_q():
    space = SearchSpace.parse(
        {
            "a": {"method": "quniform", "dimension": {"low": 16, "high": 256, "q": 16}},
            "b": {"method": "quniform", "dimension": {"low": 0.5, "high": 2.0, "q": 0.5}},
            "c": {"method": "qnormal", "dimension": {"mu": 0, "sigma": 1, "q": 1}},
            "d": {"method": "uniformint", "dimension": {"low": 1, "high": 4}},
        }
    )
    assert [d.integer for d in space] == [True, False, True, True]
    assert space["d"].finish(4.49) == 4 and space["d"].finish(4.6) == 4 and space["d"].finish(0.2) == 1


def test_defaults_are_not_written_into_the_space():
    tree = {"lr": {"method": "loguniform", "dimension": {"low": 1e-4, "high": 1e-1}}}
    space = SearchSpace.parse(tree)
    assert space["lr"].get("base") == 10 and space.to_json() == tree


def test_merged_replaces_top_level_entries():
    old = SearchSpace.parse({"a": {"x": {"method": "fixed", "dimension": {"value": 1}}}})
    new = old.merged(SearchSpace.parse({"a": {"y": {"method": "fixed", "dimension": {"value": 2}}}}))
    assert new.names == ["a.y"]


@pytest.mark.parametrize(
    "tree,field",
    [
        ([], "search_space"),
        ({"x": 3}, "search_space.x"),
        ({"x": {}}, "search_space.x"),
        ({"x": {"dimension": {}}}, "search_space.x"),
        ({"x": {"method": "uniform", "dimension": []}}, "search_space.x.dimension"),
        ({"x.": {"method": "fixed", "dimension": {"value": 1}}}, "search_space.x."),
        ({"x": {"method": "uniform", "dimension": {"low": True, "high": 2}}}, "search_space.x.dimension.low"),
        ({"x": {"method": "uniform", "dimension": {"low": 0, "high": float("inf")}}}, "search_space.x.dimension.high"),
        ({"x": {"method": "qloguniform", "dimension": {"low": 0, "high": 4, "q": 2}}}, "search_space.x.dimension.low"),
    ],
)
def test_invalid_spaces_name_the_field(tree, field):
    with pytest.raises(ValidationError) as raised:
        SearchSpace.parse(tree)
    assert str(raised.value).startswith(field + ":")
