"""model_config: which script and function/class trains the model, and its fixed parameters."""

from __future__ import annotations

import keyword
from pathlib import PurePosixPath

from hpogrid.configs.fields import Field, Schema

KIND = "model_config"


def _script_problem(script: str) -> str | None:
    path = PurePosixPath(script)
    if path.is_absolute() or ".." in path.parts or "\\" in script:
        return "give the file name relative to the project's scripts folder, e.g. 'train.py'"
    if path.suffix != ".py":
        return "the training script must be a Python file ending in .py"
    return None


def _model_problem(model: str) -> str | None:
    if not model.isidentifier() or keyword.iskeyword(model):
        return "the model is the name of a function or class in the script, e.g. 'train'"
    return None


def _mapping_problem(mapping: dict) -> str | None:
    for name, target in mapping.items():
        if not isinstance(target, str) or not all(target.split(".")):
            return f"'{name}' must map to a dotted path like 'optimizer.learning_rate'"
    return None


FIELDS = (
    Field(
        "script",
        "str",
        "training script, relative to the scripts folder",
        required=True,
        check=_script_problem,
        metavar="FILE",
    ),
    Field(
        "model",
        "str",
        "function or class in the script that trains the model",
        required=True,
        check=_model_problem,
        metavar="NAME",
    ),
    Field(
        "param",
        "object",
        "fixed parameters merged into every trial's config",
        default={},
        metavar="JSON",
        example='{"epochs": 10}',
    ),
    Field(
        "param_mapping",
        "object",
        "where hyperparameters go in the trial's config: NAME -> dotted path (optional)",
        default={},
        check=_mapping_problem,
        metavar="JSON",
        example='{"lr": "optimizer.learning_rate"}',
    ),
)

SCHEMA = Schema(KIND, FIELDS, None, summary_columns=("script", "model"))
