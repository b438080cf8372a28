"""JSON as every other reader takes it: what users give hpogrid is parsed here.

Python's json module accepts NaN, Infinity and -Infinity, numbers no float can hold and nesting that
ends in a RecursionError; JSON itself, and the libraries hpogrid hands values to, do not. Each of
these is a StrictJSONError with a message that says what to write instead.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # a config is nested a few levels; deeper is a mistake
MAX_DIGITS = 308  # an integer with more digits is beyond the range of a float (about 1.8e308)


class StrictJSONError(ValueError):
    """Valid to Python's json module, but not JSON that anyone else reads the same way."""


def _constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number; write a finite number (or null)")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError(f"the number {_short(text)} is beyond the range of a float (about 1.8e308)")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise StrictJSONError(f"a number of {digits} digits is beyond the range of a float (about 1.8e308)")
    return int(text)


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...{text[-8:]}"


def depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed value (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


def loads(text: str | bytes) -> Any:
    """json.loads, refusing NaN/Infinity, numbers beyond a float's range and nesting over MAX_DEPTH.
    Syntax errors are json.JSONDecodeError as usual."""
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise StrictJSONError(f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    if depth(value) > MAX_DEPTH:
        raise StrictJSONError(f"nested {depth(value)} levels deep (at most {MAX_DEPTH})")
    return value
