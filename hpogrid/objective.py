"""An objective given as a Python object (a notebook's function or Trainable class), made into a project's
scripts folder: the object pickled by value (Ray's cloudpickle) beside a two-line script that loads it.

The runner, the sandbox of a grid job and `hpogrid local_run` then treat it as any training script; no
second way of running trials exists. Objects of installed packages are pickled by reference (the trial's
Python imports them); those of the user's own files by value, with the module globals they use.
"""

from __future__ import annotations

import inspect
import re
import sys
import sysconfig
from pathlib import Path
from typing import Any

from hpogrid.errors import HpogridError

SCRIPT = "hpogrid_objective.py"
PICKLE = "objective.pkl"
MODEL = "objective"
LOADER = '''"""Made by hpogrid.optimize: {what}, pickled by value with Ray's cloudpickle (objective.pkl).
Reading it needs the Python version that wrote it ({python}) and the libraries it uses."""
from pathlib import Path

from ray import cloudpickle

objective = cloudpickle.loads(Path(__file__).with_name("{pickle}").read_bytes())
'''


def default_name(objective: Any) -> str:
    """A project name from the objective's own name (letters, digits, '_', '.' and '-')."""
    if isinstance(objective, str):
        name = objective.rpartition(":")[2] or Path(objective.partition(":")[0]).stem
    else:
        name = getattr(objective, "__name__", "") or type(objective).__name__
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip(".-")
    return name[:128] or "objective"


def parse_reference(text: str) -> tuple[Path, str]:
    """'SCRIPT.py:NAME' -> (script path, model name)."""
    script, colon, name = text.rpartition(":")
    if not colon or not script.endswith(".py") or not name.isidentifier():
        raise HpogridError(
            f"objective: '{text}' is not SCRIPT.py:NAME (a training script and the function or class it defines); "
            "or pass the function or class itself"
        )
    path = Path(script).expanduser()
    if not path.is_file():
        raise HpogridError(f"objective: no such script: {script}")
    return path, name


def _installed(module_name: str) -> bool:
    """Whether a module comes from the standard library or an installed package (importable anywhere the
    same environment is), rather than from the user's own files."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module_name == "__main__" or not file:
        return False
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    resolved = Path(file).resolve()
    return any(resolved.is_relative_to(Path(p).resolve()) for p in paths)


def write_scripts(objective: Any, folder: Path) -> tuple[str, str]:
    """Write the objective's loader and pickle into folder; returns model_config's (script, model)."""
    from ray import cloudpickle

    if not (inspect.isclass(objective) or callable(objective)):
        raise HpogridError(
            f"objective: got {type(objective).__name__}; give a function, a ray.tune.Trainable class, or "
            "'SCRIPT.py:NAME'"
        )
    module_name = getattr(objective, "__module__", None) or "__main__"
    by_value = module_name.split(".")[0] != "hpogrid" and not _installed(module_name)
    module = sys.modules.get(module_name)
    registered = by_value and module is not None and module_name != "__main__"
    if registered:
        cloudpickle.register_pickle_by_value(module)
    try:
        data = cloudpickle.dumps(objective)
    except Exception as exc:  # what cloudpickle cannot pickle: a lock, an open file, a generator in its globals
        raise HpogridError(
            f"objective: cannot pickle {getattr(objective, '__qualname__', objective)!s} for the trials' processes "
            f"({type(exc).__name__}: {exc}); move what it holds open (files, locks, clients) into the function"
        ) from None
    finally:
        if registered:
            cloudpickle.unregister_pickle_by_value(module)
    kind = "class" if inspect.isclass(objective) else "function"
    what = f"the {kind} {getattr(objective, '__qualname__', MODEL)} of {module_name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PICKLE).write_bytes(data)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    (folder / SCRIPT).write_text(LOADER.format(what=what, python=python, pickle=PICKLE))
    return SCRIPT, MODEL
