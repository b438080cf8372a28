"""Check a training script by parsing it (never importing it): does it define the model?"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from hpogrid.errors import ValidationError

WHERE = "model_config"


@dataclass(frozen=True)
class ModelDefinition:
    """What the script defines under the model name."""

    name: str
    kind: str  # 'function', 'class' or 'other' (assigned or imported name)
    line: int
    params: tuple[str, ...] = ()  # a function's positional parameters


def find_model(script: Path, name: str) -> ModelDefinition:
    """Find `name` at the top level of `script`; raise a ValidationError if it is not there."""
    try:
        source = Path(script).read_text()
    except FileNotFoundError:
        raise ValidationError(WHERE, "script", f"{script} does not exist") from None
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        raise ValidationError(WHERE, "script", f"cannot read {script}: {exc}") from None
    try:
        tree = ast.parse(source, filename=str(script))
    except SyntaxError as exc:
        raise ValidationError(WHERE, "script", f"{script} line {exc.lineno}: syntax error: {exc.msg}") from None
    found = None
    for node in tree.body:
        definition = _defines(node, name)
        if definition:
            found = definition  # the last definition wins, as when Python runs the file
    if found is None:
        defined = sorted(
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        )
        listing = f"; it defines {', '.join(defined)}" if defined else "; it defines no function or class"
        raise ValidationError(WHERE, "model", f"'{name}' is not defined at the top level of {script.name}{listing}")
    return found


def _defines(node: ast.stmt, name: str) -> ModelDefinition | None:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
        params = tuple(a.arg for a in node.args.posonlyargs + node.args.args)
        return ModelDefinition(name, "function", node.lineno, params)
    if isinstance(node, ast.ClassDef) and node.name == name:
        return ModelDefinition(name, "class", node.lineno)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        for alias in node.names:
            if (alias.asname or alias.name.split(".")[0]) == name:
                return ModelDefinition(name, "other", node.lineno)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ModelDefinition(name, "other", node.lineno)
    if isinstance(node, (ast.If, ast.Try)):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                found = _defines(child, name)
                if found:
                    return found
    return None
