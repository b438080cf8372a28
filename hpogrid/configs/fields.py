"""Typed config fields: parse command-line text, validate JSON values, explain bad ones.

Every config type is an ordered tuple of Fields plus a cross-field check. The same Field
validates a value typed on the command line and one read from a JSON file, so both give the
same message: the config type, the field, the bad value and what is allowed.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpogrid.errors import ValidationError, did_you_mean, one_of

Check = Callable[[Any], "str | None"]


def show(value: Any) -> str:
    """A bad value as the user wrote it, cut short when long."""
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


@dataclass(frozen=True)
class Field:
    """One config field.

    kind: 'str', 'int', 'number', 'bool', 'choice', 'object', 'str_list'.
    default: the value a new config gets when the option is not given (required fields: none).
    nullable: None is an allowed value (and means "decided later", e.g. an automatic default).
    """

    name: str
    kind: str
    help: str
    default: Any = None
    required: bool = False
    nullable: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    pattern: str | None = None
    pattern_hint: str = ""
    check: Check | None = None
    metavar: str | None = None
    example: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)

    # -- command line ---------------------------------------------------------------------------
    def from_cli(self, text: str, where: str) -> Any:
        """Turn the text of a command-line option into a JSON value (not yet validated)."""
        if self.nullable and text in ("", "none", "null"):
            return None  # unset: e.g. --trial_timeout none
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise self.error(where, text) from None
        if self.kind == "number":
            try:
                return float(text) if any(c in text for c in ".eEn") else int(text)
            except ValueError:
                raise self.error(where, text) from None
        if self.kind == "object":
            return parse_json(text, where, self.name, expect="a JSON object")
        if self.kind == "str_list":
            if isinstance(text, (list, tuple)):
                parts = [p for item in text for p in str(item).split(",")]
            else:
                parts = str(text).split(",")
            return [p.strip() for p in parts if p.strip()]
        return text

    # -- validation -------------------------------------------------------------------------------
    def expected(self) -> str:
        """What the field allows, in words."""
        bound = ""
        if self.minimum is not None:
            bound = f" {'>' if self.exclusive_minimum else '>='} {self.minimum}"
        if self.maximum is not None:
            bound += f"{' and' if bound else ''} <= {self.maximum}"
        text = {
            "str": "a non-empty string",
            "int": "a whole number" + bound,
            "number": "a number" + bound,
            "bool": "true or false",
            "choice": "one of " + one_of(self.choices),
            "object": "a JSON object",
            "str_list": "a list of strings (comma-separated on the command line)",
        }[self.kind]
        if self.nullable:
            text += " or null"
        return text

    def error(self, where: str, value: Any, why: str | None = None) -> ValidationError:
        message = f"got {show(value)}, expected {self.expected()}"
        if why:
            message = f"got {show(value)}: {why}"
        if self.kind == "choice" and isinstance(value, str):
            message += did_you_mean(value, self.choices)
        return ValidationError(where, self.name, message)

    def validate(self, value: Any, where: str) -> Any:
        """Return the value if allowed, else raise a ValidationError naming field and value."""
        if value is None:
            if self.nullable:
                return None
            raise ValidationError(where, self.name, f"is required; expected {self.expected()}")
        ok = {
            "str": lambda v: isinstance(v, str) and v.strip() != "",
            "int": is_int,
            "number": is_number,
            "bool": lambda v: isinstance(v, bool),
            "choice": lambda v: v in self.choices,
            "object": lambda v: isinstance(v, dict),
            "str_list": lambda v: isinstance(v, list) and all(isinstance(i, str) and i.strip() for i in v),
        }[self.kind](value)
        if not ok:
            raise self.error(where, value)
        if self.kind in ("int", "number"):
            low, high = self.minimum, self.maximum
            too_low = low is not None and (value <= low if self.exclusive_minimum else value < low)
            if too_low or (high is not None and value > high):
                raise self.error(where, value)
        if self.pattern:
            items = value if self.kind == "str_list" else [value]
            for item in items:
                if not re.fullmatch(self.pattern, item):
                    raise self.error(where, item, self.pattern_hint or None)
        if self.check:
            problem = self.check(value)
            if problem:
                raise self.error(where, value, problem)
        return value


def parse_json(text: str, where: str, name: str | None, expect: str = "a JSON object") -> Any:
    """Parse JSON typed by a user; the error names the field and where the JSON broke."""
    from hpogrid.strictjson import StrictJSONError, loads

    try:
        value = loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(where, name, f"not valid JSON ({exc.msg} at character {exc.pos}): {show(text)}") from None
    except StrictJSONError as exc:
        raise ValidationError(where, name, f"{exc}: {show(text)}") from None
    if expect == "a JSON object" and not isinstance(value, dict):
        raise ValidationError(where, name, f"got {show(value)}, expected {expect}")
    return value


@dataclass(frozen=True)
class Schema:
    """An ordered set of fields plus a cross-field check; validates whole config dicts."""

    kind: str  # 'hpo_config', 'grid_config', 'model_config'
    fields: tuple[Field, ...]
    cross_check: Callable[[dict], None] | None = None
    summary_columns: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def validate(self, config: Mapping[str, Any]) -> dict:
        """Check every field and the cross-field rules; return the config in field order."""
        if not isinstance(config, Mapping):
            raise ValidationError(self.kind, None, f"got {show(config)}, expected a JSON object")
        for key in config:
            if key not in self.names:
                hint = did_you_mean(key, self.names) or f" (allowed: {', '.join(self.names)})"
                raise ValidationError(self.kind, str(key), f"unknown field{hint}")
        clean = {}
        for item in self.fields:
            if item.name not in config:
                if item.required:
                    raise ValidationError(self.kind, item.name, f"is required; expected {item.expected()}")
                clean[item.name] = item.default
                continue
            clean[item.name] = item.validate(config[item.name], self.kind)
        if self.cross_check:
            self.cross_check(clean)
        return clean
