"""Errors a user can fix. The CLI prints them as one line and exits with status 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# what printable() escapes: C0/C1 control characters, line and paragraph separators, and the
# bidirectional overrides and isolates that reorder or hide text
_UNPRINTABLE = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, 0x061C, 0x200E, 0x200F]
_UNPRINTABLE += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNPRINTABLE}
_ESCAPES.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def printable(text: object) -> str:
    """Text safe to print as one terminal line: newlines, control characters and text-reordering
    characters from user values are shown escaped (\\n, \\x1b, \\u202e)."""
    return str(text).translate(_ESCAPES)


class HpogridError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""

    exit_code = 2


class ValidationError(HpogridError):
    """A config, search space or project field has a bad value."""

    def __init__(self, where: str, field: str | None, message: str):
        self.where = where
        self.field = field
        self.detail = message
        location = f"{where}.{field}" if field else where
        super().__init__(f"{location}: {message}")


class NotFoundError(HpogridError):
    """A named config or project does not exist."""


class ExistsError(HpogridError):
    """A named config or project exists already and would be overwritten."""


class MissingExtraError(HpogridError):
    """An optional library is needed but not installed."""

    def __init__(self, module: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the Python package '{module}', which is not installed: "
            f"run  pip install 'hpogrid[{extra}]'"
        )
        self.module = module
        self.extra = extra


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close to value, else ''."""
    choices = list(choices)
    text = str(value)
    prefixed = [c for c in choices if len(text) >= 3 and (c.startswith(text) or text.startswith(c))]
    close = prefixed or difflib.get_close_matches(text, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_of(choices: Iterable[str]) -> str:
    """Readable list of allowed values: 'a', 'b' or 'c'."""
    items = [f"'{c}'" for c in choices]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def require(module: str, extra: str, purpose: str):
    """Import an optional module, or raise MissingExtraError naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module is there but one of its own imports is broken: show that
        raise MissingExtraError(module, extra, purpose) from exc
