""".hpogridignore: files of a project's scripts folder that are not packed for the grid, in gitignore syntax.

    # a comment; blank lines are ignored
    data/            a folder (trailing /: folders only), at any depth
    /notes.txt       a leading / (or a / inside the pattern) anchors it to the scripts folder
    *.h5  run?.log   * and ? match within one name part, [a-z] a range of characters
    **/cache  logs/**  big/**/tmp    ** matches any number of folders
    !keep.h5         ! re-includes what an earlier line excluded (not inside an excluded folder)
    \\#name  \\!name   a backslash makes # or ! literal

The last line that matches a path decides, as in git.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IGNORE_FILE = ".hpogridignore"


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern
    negate: bool
    only_dirs: bool
    line: int
    text: str


def _translate(body: str) -> str:
    """A gitignore pattern (without !, trailing / and leading /) as a regular expression on a
    path relative to the ignore file's folder."""
    parts, i = [], 0
    while i < len(body):
        if body.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif body.startswith("/**", i) and i + 3 == len(body):
            parts.append("/.*")
            i += 3
        elif body.startswith("**", i):
            parts.append(".*")
            i += 2
        elif body[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif body[i] == "?":
            parts.append("[^/]")
            i += 1
        elif body[i] == "[" and "]" in body[i + 2 :]:
            end = body.index("]", i + 2)
            inner = body[i + 1 : end]
            if inner.startswith("!"):
                inner = "^" + inner[1:]
            parts.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        elif body[i] == "\\" and i + 1 < len(body):
            parts.append(re.escape(body[i + 1]))
            i += 2
        else:
            parts.append(re.escape(body[i]))
            i += 1
    return "".join(parts)


def parse_line(line: str, number: int) -> Pattern | None:
    """One line of an ignore file as a Pattern; None for blank lines and comments."""
    text = line.rstrip("\n").rstrip("\r")
    stripped = text.rstrip(" ")
    if stripped.endswith("\\") and len(text) > len(stripped):
        stripped += " "  # an escaped trailing space stays
    if not stripped or stripped.startswith("#"):
        return None
    body, negate = stripped, False
    if body.startswith("!"):
        body, negate = body[1:], True
    only_dirs = body.endswith("/") and not body.endswith("\\/")
    body = body.rstrip("/") if only_dirs else body
    if not body:
        return None
    anchored = "/" in body
    body = body.lstrip("/")
    prefix = "" if anchored or body.startswith("**/") else "(?:.*/)?"
    try:
        regex = re.compile(f"{prefix}{_translate(body)}")
    except re.error:  # e.g. a bad range: git ignores such a line; so do we
        return None
    return Pattern(regex, negate, only_dirs, number, stripped)


class IgnoreRules:
    """The patterns of one .hpogridignore, matched against paths relative to its folder."""

    def __init__(self, patterns: list[Pattern]):
        self.patterns = patterns

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        found = (parse_line(line, n) for n, line in enumerate(text.splitlines(), 1))
        return cls([p for p in found if p])

    def _decide(self, path: str, is_dir: bool) -> Pattern | None:
        """The last pattern matching path itself, or None."""
        decided = None
        for pattern in self.patterns:
            if pattern.only_dirs and not is_dir:
                continue
            if pattern.regex.fullmatch(path):
                decided = pattern
        return decided

    def match(self, path: str, is_dir: bool = False) -> Pattern | None:
        """The pattern that excludes path ('a/b/c.txt', relative), or None if it is packed.
        A path inside an excluded folder is excluded, whatever later lines say (as in git)."""
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            folder = self._decide("/".join(parts[:depth]), True)
            if folder and not folder.negate:
                return folder
        decided = self._decide("/".join(parts), is_dir)
        return decided if decided and not decided.negate else None

    def ignored(self, path: str, is_dir: bool = False) -> bool:
        return self.match(path, is_dir) is not None
