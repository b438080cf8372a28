"""Printing for the CLI: aligned tables and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click


def cell(value: Any, width: int = 60) -> str:
    """One table cell: strings as they are (control characters escaped), everything else as compact
    JSON, cut to width."""
    from hpogrid.errors import printable

    if value is None:
        text = "-"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        text = ",".join(value)
    else:
        text = json.dumps(value, separators=(", ", ": "))
    text = printable(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int = 60) -> str:
    """An aligned plain-text table with a header underline."""
    cells = [[cell(v, width) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def say(kind: str, message: object) -> None:
    """One line on stderr, 'Kind: message', with control characters from user values escaped."""
    from hpogrid.errors import printable

    click.echo(f"{kind}: {printable(message)}", err=True)


def load_all(names: Sequence[str], load: Callable[[str], Any], what: str) -> dict[str, Any]:
    """Load each named item; one that cannot be read is reported on stderr and left out."""
    from hpogrid.errors import HpogridError

    loaded = {}
    for name in names:
        try:
            loaded[name] = load(name)
        except HpogridError as exc:
            say("Warning", f"left out {what} '{name}': {exc}")
    return loaded


def echo_json(obj: Any) -> None:
    """Print obj as strict JSON (NaN and infinities, as in a grid job's metadata, as null)."""
    from hpogrid.results import jsonable

    click.echo(json.dumps(jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str, width: int = 60) -> None:
    click.echo(table(headers, rows, width) if rows else empty)


def echo_config(kind: str, config: dict) -> None:
    """A config as a table: one row per field, or per hyperparameter for a search space."""
    if kind == "search_space":
        from hpogrid.space.model import SearchSpace

        rows = [[d.name, d.method, dict(d.spec)] for d in SearchSpace.parse(config)]
        echo_table(["HYPERPARAMETER", "METHOD", "DIMENSION"], rows, "(empty)", width=100)
    else:
        echo_table(["FIELD", "VALUE"], [[k, v] for k, v in config.items()], "(empty)", width=100)


def fitted_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int, keep: int, cell_width: int = 14
) -> tuple[str, list[str]]:
    """An aligned table no wider than width: the first `keep` columns always, the others from the left
    while they fit; headers and cells cut to cell_width. Returns the text and the columns left out."""
    cells = [[cell(v, cell_width) for v in row] for row in rows]
    names = [h if len(h) <= cell_width else h[: cell_width - 1] + "~" for h in headers]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    shown: list[int] = list(range(min(keep, len(headers))))
    used = sum(widths[i] for i in shown) + 2 * (len(shown) - 1)
    left_out = []
    for i in range(keep, len(headers)):
        if used + 2 + widths[i] <= width:
            shown.append(i)
            used += 2 + widths[i]
        else:
            left_out.append(headers[i])
    shown.sort()
    lines = ["  ".join(names[i].ljust(widths[i]) for i in shown).rstrip()]
    lines.append("  ".join("-" * widths[i] for i in shown))
    lines += ["  ".join(row[i].ljust(widths[i]) for i in shown).rstrip() for row in cells]
    return "\n".join(lines), left_out


def best_config_lines(metric: str, value: float, where: str, config: dict) -> list[str]:
    """The best trial's value and, on a line of its own, its config as JSON with every digit (the exact
    point, so the line may run past the width): what `--search_points` takes, in a list."""
    return [
        f"Best {metric}: {value:.5g} ({where})",
        "Best config (JSON, a --search_points file holds a list of these):",
        json.dumps(config),
    ]
