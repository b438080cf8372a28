"""Load the user's training script and turn its model into a Ray Tune trainable.

Supported models (model_config.model):
  * a function ``f(config, reporter)`` calling ``reporter(loss=...)`` once or per iteration;
  * a function ``f(config)`` calling ``hpogrid.report(loss=...)``;
  * a ``ray.tune.Trainable`` class with setup/step/save_checkpoint/load_checkpoint, or the
    old underscore API (_setup/_train/_save/_restore) of the original hpogrid README.

The script is imported from the project's scripts folder, which is put on sys.path so the script's
own imports of its sibling modules work. Trials see two variables: HPOGRID_WORK_DIR (the folder
local_run was started in, or the grid job's work dir) and HPOGRID_DATA_DIR (where input data is;
the same folder unless set).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hpogrid.errors import HpogridError

RUN_DIR_VARIABLE = "HPOGRID_RUN_DIR"
FINISHED_DIR = ".finished"  # in the run dir: a file per trial that ended on its own
TRIAL_LOGS = "trials"  # in the run dir: <trial id>.log, what each trial printed (stdout and stderr)
OLD_CHECKPOINT_FILE = "hpogrid_checkpoint_path.json"
REUSE_ATTRIBUTE = "hpogrid_reuse_actor"  # a Trainable class attribute: False gives each trial a new process
TRIAL_ATTRIBUTES = ("_trial_info", "config", "_storage", "_logdir")  # what Ray's Trainable.reset() replaces


@dataclass(frozen=True)
class ModelLocator:
    """Where a model lives; picklable, so workers load the model themselves."""

    scripts_dir: str
    script: str
    name: str
    mapping: tuple[tuple[str, str], ...] = ()  # model_config.param_mapping: (hyperparameter, target) pairs

    def load(self) -> Any:
        module = import_script(Path(self.scripts_dir), self.script)
        if not hasattr(module, self.name):
            raise HpogridError(f"model_config.model: {self.script} defines no '{self.name}' when imported")
        return getattr(module, self.name)


def import_script(scripts_dir: Path, script: str) -> ModuleType:
    """Import scripts_dir/script as a module, with its folder importable; errors are one line."""
    path = (scripts_dir / script).resolve()
    if not path.is_file() and Path(script).name and Path(script).is_file():
        path = Path(script).resolve()  # a worker whose working dir holds the scripts
    for folder in (str(scripts_dir.resolve()), str(path.parent)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    # Ray reuses worker processes across runs: key the module by file and version, not by name
    stamp = f"{path}:{path.stat().st_mtime_ns}" if path.is_file() else str(path)
    module_name = f"hpogrid_user_{Path(script).stem}_{hashlib.sha1(stamp.encode()).hexdigest()[:12]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise HpogridError(f"model_config.script: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = _last_frame_in(exc, path)
        raise HpogridError(
            f"model_config.script: importing {script} failed{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _last_frame_in(exc: BaseException, path: Path) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" at line {exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f" at line {frames[-1].lineno}" if frames else ""


# -- reporting from inside a trial ----------------------------------------------------------------
CHECKPOINT_FILE = "hpogrid_state.pkl"


def report(metrics: dict | None = None, /, *, checkpoint: Any = None, **more: Any) -> None:
    """Report metrics of one training iteration: ``hpogrid.report(loss=0.1, accuracy=0.9)``.

    checkpoint: any picklable state (e.g. ``{"epoch": 3, "weights": ...}``); when a scheduler
    pauses the trial or copies it (HyperBand, PBT), the trial resumes with it: ``hpogrid.restore()``.
    """
    from ray import tune

    values = {**(metrics or {}), **more}
    if checkpoint is None:
        tune.report(values)
        return
    import pickle
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hpogrid-checkpoint-") as folder:
        with open(Path(folder) / CHECKPOINT_FILE, "wb") as handle:
            pickle.dump(checkpoint, handle)
        tune.report(values, checkpoint=tune.Checkpoint.from_directory(folder))


def restore() -> Any:
    """The state last passed to ``hpogrid.report(checkpoint=...)`` by this trial (or by the trial
    PBT copied it from), or None when the trial starts afresh."""
    import pickle

    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        path = Path(folder) / CHECKPOINT_FILE
        if not path.is_file():
            return None
        with open(path, "rb") as handle:
            return pickle.load(handle)


def reporter(**metrics: Any) -> None:
    """The `reporter` passed to ``f(config, reporter)``: ``reporter(loss=...)``."""
    metrics.pop("done", None)  # old Ray reporters took done=True; the function's return says it now
    report(metrics)


def mark_finished(trial_id: str | None = None) -> None:
    """Note that the trial (a Trainable's self.trial_id; default: the running function's) ended on its
    own, not stopped by the scheduler."""
    run_dir = os.environ.get(RUN_DIR_VARIABLE)
    if run_dir:
        if trial_id is None:
            from ray import tune

            trial_id = tune.get_context().get_trial_id()
        folder = Path(run_dir) / FINISHED_DIR
        folder.mkdir(exist_ok=True)
        (folder / trial_id).touch()


def finished_on_its_own(run_dir: Path, trial_id: str) -> bool:
    return (Path(run_dir) / FINISHED_DIR / trial_id).exists()


def trial_log(run_dir: Path, trial_id: str) -> Path:
    return Path(run_dir) / TRIAL_LOGS / f"{trial_id}.log"


@contextlib.contextmanager
def output_to_trial_log(trial_id: str | None = None) -> Iterator[None]:
    """In a worker: the trial's stdout and stderr (Python's and C code's: file descriptors 1 and 2)
    appended to its log in the run folder, while the block runs. Without a run folder: unchanged.

    trial_id: the trial's (a Trainable's self.trial_id); default: the running function's."""
    run_dir = os.environ.get(RUN_DIR_VARIABLE)
    if not run_dir:
        yield
        return
    if trial_id is None:
        from ray import tune

        trial_id = tune.get_context().get_trial_id()
    log = trial_log(Path(run_dir), trial_id)
    try:
        log.parent.mkdir(exist_ok=True)
        handle = open(log, "ab")  # noqa: SIM115 - closed below
    except OSError:
        yield
        return
    _flush_std()
    saved = [os.dup(1), os.dup(2)]
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    try:
        yield
    finally:
        _flush_std()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        handle.close()


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


# -- wrapping ---------------------------------------------------------------------------------------
def required_positional(function: Any) -> int:
    """How many positional arguments without a default a function takes."""
    return sum(
        1
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    )


def model_kind(model: Any, script: str, name: str) -> str:
    """'function' (config[, reporter]) or 'class' (a ray.tune.Trainable); else a clear error."""
    if inspect.isclass(model):
        from ray.tune import Trainable

        if not issubclass(model, Trainable):
            raise HpogridError(f"model_config.model: class '{name}' in {script} must derive from ray.tune.Trainable")
        return "class"
    if callable(model):
        count = required_positional(model)
        if count not in (1, 2):
            raise HpogridError(
                f"model_config.model: function '{name}' in {script} must take (config) or "
                f"(config, reporter), not {count} arguments"
            )
        return "function"
    raise HpogridError(f"model_config.model: '{name}' in {script} is neither a function nor a class")


def reuses_actor(model: type) -> bool:
    """Whether trials of a Trainable class may share a worker process: unless the class says
    ``hpogrid_reuse_actor = False``."""
    return bool(getattr(model, REUSE_ATTRIBUTE, True))


def make_trainable(locator: ModelLocator, env: dict[str, str]) -> tuple[Any, bool]:
    """Load the model (in the driver, so errors show before Ray starts) and wrap it for Ray Tune.

    Returns the trainable and whether Ray may reuse its actors between trials: always for
    functions; for a class unless it opts out (reuses_actor): the wrapper resets it (adapt_class).
    """
    model = locator.load()
    kind = model_kind(model, locator.script, locator.name)
    if kind == "class":
        return user_trainable(locator, env), reuses_actor(model)
    takes_reporter = required_positional(model) == 2

    def trial(config: dict) -> None:
        os.environ.update(env)
        with output_to_trial_log():
            function = locator.load()
            config = remap(config, locator.mapping)
            if takes_reporter:
                function(config, reporter)
            else:
                function(config)
        mark_finished()

    trial.__name__ = trial.__qualname__ = locator.name
    return trial, True


def user_trainable(locator: ModelLocator, env: dict[str, str]) -> type:
    """A Trainable class that workers can unpickle without the user's script on their path."""
    from ray.tune import Trainable

    class UserTrainable(Trainable):
        """Loads the user's class in the worker, then becomes it (same instance, its class)."""

        def setup(self, config):
            os.environ.update(env)
            self.__class__ = adapt_class(locator.load(), env, locator.mapping)
            return self.setup(config)

    UserTrainable.__name__ = UserTrainable.__qualname__ = locator.name
    return UserTrainable


def remap(config: dict, mapping: tuple[tuple[str, str], ...]) -> dict:
    """The config as the model receives it: each mapped hyperparameter moved from its own (dotted) place to
    its target (hpogrid.mapping); Ray and the records keep the search space's names."""
    if not mapping:
        return config
    from hpogrid.mapping import apply

    config, values = copy.deepcopy(config), {}
    for name, _target in mapping:
        if name in config:
            values[name] = config.pop(name)
            continue
        keys, parents, node = name.split("."), [], config
        for key in keys[:-1]:
            parents.append((node, key))
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and keys[-1] in node:
            values[name] = node.pop(keys[-1])
            for parent, key in reversed(parents):  # the objects left empty go too
                if parent[key]:
                    break
                del parent[key]
    return apply(config, values, dict(mapping))


def adapt_class(cls: type, env: dict[str, str], mapping: tuple[tuple[str, str], ...] = ()) -> type:
    """A subclass of the user's class that sets the environment, sends the trial's output to its log,
    maps the old underscore API onto the current one and lets Ray reuse the actor for a next trial:
    its reset_config() calls the user's, if any and it returns True; else it ends the last trial
    (cleanup), drops the attributes the user's setup made and runs setup with the new config. It never
    returns False: Ray 2.60 fails the trial of a reset that does, and its run then waits forever."""
    cached = _ADAPTED.get((cls, mapping))
    if cached is not None:
        return cached
    own = {name for klass in cls.__mro__ if klass.__module__ != "ray.tune.trainable.trainable" for name in vars(klass)}

    def old(new_name: str, old_name: str) -> bool:
        return old_name in own and new_name not in own

    user_setup = (lambda self, config: self._setup(config)) if old("setup", "_setup") else cls.setup
    user_step = (lambda self: self._train()) if old("step", "_train") else cls.step
    user_cleanup = (lambda self: self._stop()) if old("cleanup", "_stop") else cls.cleanup
    user_reset = cls.reset_config if "reset_config" in own else None
    namespace: dict[str, Any] = {}

    def setup(self, config):
        os.environ.update(env)
        # the trial it runs: Ray's reset() replaces these before reset_config(), cleanup() needs them
        self._hpogrid_trial = {name: getattr(self, name) for name in TRIAL_ATTRIBUTES}
        if "_hpogrid_own_attributes" not in vars(self):  # the first setup: Ray's attributes, and ours
            self._hpogrid_own_attributes = frozenset(vars(self)) | ray_attributes() | {"_hpogrid_own_attributes"}
        with output_to_trial_log(self.trial_id):
            return user_setup(self, remap(config, mapping))

    def reset_config(self, new_config):
        os.environ.update(env)
        if user_reset is not None:
            with output_to_trial_log(self.trial_id):
                if user_reset(self, remap(new_config, mapping)):
                    self._hpogrid_trial = {name: getattr(self, name) for name in TRIAL_ATTRIBUTES}
                    return True
        cleanup(self)
        # what only they held is freed now (no gc.collect(): 0.1-0.5 s a trial in a process with Ray Tune)
        for name in set(vars(self)) - self._hpogrid_own_attributes:
            delattr(self, name)
        setup(self, copy.deepcopy(new_config))
        return True

    def step(self):
        with output_to_trial_log(self.trial_id):
            result = user_step(self)
        if isinstance(result, dict) and result.get("done"):
            mark_finished(self.trial_id)
        return result

    def cleanup(self):
        """The user's cleanup, as the trial that ran (after Ray's reset() too: its id, config, folders)."""
        ended = vars(self).get("_hpogrid_trial", {})
        current = {name: getattr(self, name) for name in ended}
        vars(self).update(ended)
        try:
            with output_to_trial_log(self.trial_id):
                user_cleanup(self)
        finally:
            vars(self).update(current)

    namespace.update(setup=setup, reset_config=reset_config, step=step, cleanup=cleanup)
    if old("save_checkpoint", "_save"):

        def save_checkpoint(self, checkpoint_dir):
            saved = self._save(checkpoint_dir)
            if isinstance(saved, dict):
                return saved
            relative = os.path.relpath(saved, checkpoint_dir) if saved else None
            with open(os.path.join(checkpoint_dir, OLD_CHECKPOINT_FILE), "w") as handle:
                json.dump({"path": relative}, handle)
            return None

        namespace["save_checkpoint"] = save_checkpoint
    if old("load_checkpoint", "_restore"):

        def load_checkpoint(self, checkpoint):
            if isinstance(checkpoint, dict):
                return self._restore(checkpoint)
            with open(os.path.join(checkpoint, OLD_CHECKPOINT_FILE)) as handle:
                relative = json.load(handle)["path"]
            return self._restore(os.path.join(checkpoint, relative) if relative else checkpoint)

        namespace["load_checkpoint"] = load_checkpoint
    _ADAPTED[cls, mapping] = type(cls.__name__, (cls,), namespace)
    return _ADAPTED[cls, mapping]


_ADAPTED: dict[tuple[type, tuple], type] = {}


@functools.cache
def ray_attributes() -> frozenset[str]:
    """The attributes Ray's Trainable sets on an instance (some only after setup(), e.g. _monitor)."""
    from ray.tune import Trainable

    return frozenset(re.findall(r"\bself\.(\w+)\s*=[^=]", inspect.getsource(Trainable)))
