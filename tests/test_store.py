"""The config store: where files go, create/recreate/update/remove semantics, atomicity, locking."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from hpogrid import paths
from hpogrid.configs.store import ConfigStore
from hpogrid.errors import ExistsError, NotFoundError, ValidationError


def test_files_live_under_the_base_path(base):
    store = ConfigStore("hpo_config")
    assert store.create("a", {"num_trials": 5}) == "created"
    path = base / "config" / "hpo_config" / "a.json"
    assert path.is_file()
    saved = json.loads(path.read_text())
    assert saved["num_trials"] == 5 and saved["algorithm"] == "random"  # defaults filled in
    assert [p.name for p in path.parent.iterdir() if not p.name.startswith(".")] == ["a.json"]


def test_default_base_path_is_per_user_not_site_packages(monkeypatch, tmp_path):
    monkeypatch.delenv("HPOGRID_BASE_PATH", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.base_path() == (tmp_path / "xdg" / "hpogrid").resolve()
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.base_path() == (tmp_path / "home" / ".local" / "share" / "hpogrid").resolve()
    import hpogrid

    assert Path(hpogrid.__file__).parent not in paths.base_path().parents


def test_create_is_idempotent_but_never_overwrites(base):
    store = ConfigStore("grid_config")
    assert store.create("g", {"site": ["A"]}) == "created"
    assert store.create("g", {"site": ["A"]}) == "unchanged"
    with pytest.raises(ExistsError, match="recreate"):
        store.create("g", {"site": ["B"]})
    assert store.load("g")["site"] == ["A"]


def test_recreate_resets_and_update_keeps(base):
    store = ConfigStore("hpo_config")
    store.create("h", {"num_trials": 5, "metric": "acc", "mode": "max"})
    store.update("h", {"num_trials": 9})
    assert (store.load("h")["metric"], store.load("h")["num_trials"]) == ("acc", 9)
    assert store.recreate("h", {"num_trials": 7}) == "replaced"
    assert (store.load("h")["metric"], store.load("h")["num_trials"]) == ("loss", 7)
    assert store.recreate("new", {}) == "created"


def test_search_space_update_adds_and_replaces_hyperparameters(base):
    store = ConfigStore("search_space")
    uniform = {"method": "uniform", "dimension": {"low": 0, "high": 1}}
    store.create("s", {"a": uniform, "b": uniform})
    store.update("s", {"b": {"method": "fixed", "dimension": {"value": 3}}, "c": uniform})
    saved = store.load("s")
    assert list(saved) == ["a", "b", "c"] and saved["b"]["method"] == "fixed"


def test_list_and_remove_with_globs(base):
    store = ConfigStore("model_config")
    for name in ("rnn_a", "rnn_b", "cnn"):
        store.create(name, {"script": "t.py", "model": "f"})
    assert store.names() == ["cnn", "rnn_a", "rnn_b"]
    assert store.names("rnn_*") == ["rnn_a", "rnn_b"]
    with pytest.raises(NotFoundError):
        store.remove(["rnn_*", "missing"])  # nothing removed unless everything matches
    assert store.names() == ["cnn", "rnn_a", "rnn_b"]
    assert store.remove(["rnn_*", "rnn_a"]) == ["rnn_a", "rnn_b"]
    assert store.names() == ["cnn"]


def test_stray_files_are_not_configs(base):
    store = ConfigStore("hpo_config")
    store.create("ok", {})
    (store.root / "notes.txt").write_text("x")
    (store.root / ".hidden.json").write_text("{}")
    assert store.names() == ["ok"]


def test_failed_write_leaves_old_file_and_no_temporary(base, monkeypatch):
    store = ConfigStore("hpo_config")
    store.create("h", {"num_trials": 3})
    before = store.path("h").read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.update("h", {"num_trials": 4})
    assert store.path("h").read_bytes() == before
    assert sorted(p.name for p in store.root.iterdir()) == [".lock", "h.json"]


def test_validation_happens_before_anything_is_written(base):
    with pytest.raises(ValidationError):
        ConfigStore("hpo_config").create("h", {"num_trials": 0})
    assert not (base / "config").exists()


def _update_many(base_path: str, worker: int, rounds: int) -> None:
    os.environ["HPOGRID_BASE_PATH"] = base_path
    store = ConfigStore("hpo_config")
    for i in range(rounds):
        store.update("shared", {"num_trials": worker * 1000 + i + 1, "metric": f"m{worker}"})
        store.update("shared", {"max_concurrent": worker + 1})


def test_concurrent_updates_never_corrupt(base):
    """Several processes updating one config: always valid JSON, ending in a state one wrote."""
    ConfigStore("hpo_config").create("shared", {})
    workers, rounds = 6, 25
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_update_many, args=(str(base), w, rounds)) for w in range(workers)]
    for process in processes:
        process.start()
    path = base / "config" / "hpo_config" / "shared.json"
    seen = 0
    while any(p.is_alive() for p in processes):
        json.loads(path.read_text())  # a reader never sees a half-written file
        seen += 1
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    final = ConfigStore("hpo_config").load("shared")
    # the last num_trials write is the final value of its writer's loop, and its metric matches
    worker = int(final["metric"][1:])
    assert final["num_trials"] == worker * 1000 + rounds
    assert final["max_concurrent"] in range(1, workers + 1)
    assert seen > 0
    assert sorted(p.name for p in path.parent.iterdir()) == [".lock", "shared.json"]
