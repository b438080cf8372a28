"""Overrides of a project's settings for one run, in hydra's syntax: ``hpo_config.num_trials=10``,
``model_config.param.epochs=5``, ``search_space.lr.dimension.high=0.1``.

A top-level field of hpo_config, grid_config or model_config takes its value as its command-line option
would (``hpo_config.extra_metrics=acc,loss``, ``hpo_config.stop={"training_iteration": 3}``); a deeper key
takes JSON, or the text itself when it is not JSON. With multirun, comma-separated values (outside brackets
and quotes) give one run per combination. The project on disk never changes: the run's summary lists its
overrides, and `--resume` applies them again.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, replace
from typing import Any

from hpogrid.errors import HpogridError, ValidationError, did_you_mean

KINDS = ("hpo_config", "grid_config", "model_config", "search_space")


@dataclass(frozen=True)
class Override:
    kind: str
    keys: tuple[str, ...]
    text: str  # the value as written

    def __str__(self) -> str:
        return f"{self.kind}.{'.'.join(self.keys)}={self.text}"


def parse(text: str, multirun: bool = False) -> list[Override]:
    """One override, or with multirun one per comma-separated value."""
    head, equals, value = text.partition("=")
    kind, _, rest = head.partition(".")
    if not equals or kind not in KINDS or not rest or not all(rest.split(".")):
        close = did_you_mean(kind, KINDS)
        raise HpogridError(
            f"override '{text}': write KIND.KEY=VALUE with KIND one of {', '.join(KINDS)}{close}, "
            "e.g. hpo_config.num_trials=10"
        )
    values = split_values(value) if multirun else [value]
    return [Override(kind, tuple(rest.split(".")), v) for v in values]


def split_values(text: str) -> list[str]:
    """Comma-separated values, commas inside brackets, braces or quotes kept."""
    parts, depth, quote, current = [], 0, "", []
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def combinations(texts: list[str], multirun: bool) -> list[list[Override]]:
    """The runs to make: one list of overrides each (all combinations with multirun)."""
    parsed = [parse(text, multirun) for text in texts]
    return [list(combo) for combo in itertools.product(*parsed)] if parsed else [[]]


def _value(override: Override) -> Any:
    from hpogrid.configs.store import CONFIG_TYPES

    schema = CONFIG_TYPES[override.kind].schema
    if schema and len(override.keys) == 1:
        fields = {f.name: f for f in schema.fields}
        name = override.keys[0]
        if name not in fields:
            raise ValidationError(override.kind, name, f"unknown field{did_you_mean(name, fields)}")
        field = fields[name]
        if field.kind == "bool":
            lowered = override.text.lower()
            if lowered not in ("true", "false"):
                raise ValidationError(override.kind, name, f"must be true or false, got {override.text!r}")
            return lowered == "true"
        return field.from_cli(override.text, override.kind)
    try:
        return json.loads(override.text)
    except ValueError:
        return override.text


def apply(project, overrides: list[Override]):
    """A copy of the project (same name and folder) with its configs overridden and checked as a project's
    are when it is made; the project itself is unchanged."""
    from hpogrid.configs.store import CONFIG_TYPES
    from hpogrid.project import check_consistency

    if not overrides:
        return project
    data = copy.deepcopy(project.data)
    for override in overrides:
        node = data["configs"][override.kind]
        for depth, key in enumerate(override.keys[:-1]):
            if not isinstance(node.get(key), dict):
                if key in node:
                    where = ".".join(override.keys[: depth + 1])
                    raise ValidationError(
                        override.kind, where, f"is {node[key]!r}, not an object: '{override}' cannot go inside it"
                    )
                node[key] = {}
            node = node[key]
        node[override.keys[-1]] = _value(override)
    for kind in {o.kind for o in overrides}:
        data["configs"][kind] = CONFIG_TYPES[kind].validate(data["configs"][kind])
    check_consistency(data["configs"], project.scripts_dir)
    data["overrides"] = [str(o) for o in overrides]  # kept in the run's summary, never in project.json
    return replace(project, data=data)


def for_resume(project):
    """The project as its last unfinished run ran it (the run `--resume` continues): with the overrides
    its summary lists. The runner finds that run again and says what it passes over."""
    from hpogrid.local.runner import last_unfinished_run
    from hpogrid.results import read_summary

    texts = (read_summary(last_unfinished_run(project, quiet=True)) or {}).get("overrides") or []
    return apply(project, [o for text in texts for o in parse(text)])


def label(overrides: list[Override]) -> str:
    return " ".join(map(str, overrides)) or "(the project's settings)"
