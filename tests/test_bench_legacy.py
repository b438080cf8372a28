"""bench/legacy.py without its 1.3.3 venv: the files it writes into that venv, its commands, its checks."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def legacy():
    sys.path.insert(0, str(BENCH))  # for its `from quality import render`
    try:
        spec = importlib.util.spec_from_file_location("bench_legacy", BENCH / "legacy.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # for its dataclass
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench_legacy", None)
        sys.path.remove(str(BENCH))


def test_shim_files_are_python(legacy):
    for name, text in legacy.SHIM_FILES.items():
        if name.endswith(".py"):
            compile(text, name, "exec")
    pth = legacy.SHIM_FILES["_hpogrid_bench_shim.pth"]
    assert pth.splitlines() == ["import _hpogrid_bench_shim"]  # site runs a .pth line starting with `import`


def test_fake_torch_counts_no_gpu(legacy):
    torch = {}
    exec(legacy.FAKE_TORCH, torch)
    assert torch["cuda"].device_count() == 0
    assert torch["cuda"].is_available() is False
    assert isinstance(torch["Tensor"], type)  # tensorboardX reads torch.Tensor


def test_alias_gives_the_new_modules(legacy, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    shim = {}
    exec(legacy.SHIM, shim)  # installs ray.tune.suggest -> ray.tune.search (nothing imports it here)
    assert [f for f in sys.meta_path if isinstance(f, shim["Alias"])][0].old == "ray.tune.suggest"
    shim["install"]("hpogrid_bench_alias", "json")
    shim["install"]("hpogrid_bench_alias", "json")  # once only
    assert sum(isinstance(f, shim["Alias"]) for f in sys.meta_path) == 2
    try:
        import json.decoder

        assert importlib.import_module("hpogrid_bench_alias") is json
        assert importlib.import_module("hpogrid_bench_alias.decoder") is json.decoder
        from hpogrid_bench_alias.decoder import JSONDecoder

        assert JSONDecoder is json.decoder.JSONDecoder
    finally:
        for name in ("hpogrid_bench_alias", "hpogrid_bench_alias.decoder"):
            sys.modules.pop(name, None)


def test_commands_are_example_1(legacy, tmp_path):
    repo = BENCH.parent
    space = json.loads((repo / "config/search_space/example_simple_objective_space.json").read_text())
    assert legacy.SPACE == space
    assert legacy.SCRIPT == repo / "example/scripts/simple_objective.py" and legacy.SCRIPT.is_file()
    setup, run = legacy.legacy_commands(tmp_path, 20)
    hpogrid = str(tmp_path / "bin" / "hpogrid")
    assert run == [hpogrid, "run", legacy.NAME, "--mode", "local"]
    assert all(command[0] == hpogrid for command in setup)
    assert setup[1][-2:] == ["--search_space", json.dumps(space)]  # 1.3.3 takes the space as an option
    hpo = setup[2]
    for option, value in [("--algorithm", "random"), ("--num_trials", "20"), ("--max_concurrent", "2")]:
        assert hpo[hpo.index(option) + 1] == value
    assert setup[-1][:3] == [hpogrid, "project", "create"] and "--grid_config" in setup[-1]
    setup, run = legacy.our_commands(20)
    assert run == [sys.executable, "-m", "hpogrid", "local_run", legacy.NAME]
    assert setup[1][-1] == json.dumps(space) and setup[2][6:] == hpo[4:]
    assert "--grid_config" not in setup[-1]


def test_environments(legacy, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.setenv("HPOGRID_RAY_ADDRESS", "10.0.0.1:6379")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    theirs = legacy.legacy_env(tmp_path)
    assert theirs["RAY_ADDRESS"] == "local" and "PYTHONPATH" not in theirs and "HPOGRID_RAY_ADDRESS" not in theirs
    assert theirs["PATH"].startswith(str(tmp_path / "bin"))
    ours = legacy.our_env(tmp_path)
    assert ours["HPOGRID_BASE_PATH"] == str(tmp_path) and ours["PYTHONPATH"] == str(BENCH.parent)
    assert "RAY_ADDRESS" not in ours and "HPOGRID_RAY_ADDRESS" not in ours


def test_own_cpu_reads_proc_stat(legacy):
    hz = legacy.os.sysconf("SC_CLK_TCK")
    fields = ["Z", "1", "2", "2", "0", "-1", "4194316", "10", "0", "0", "0", str(3 * hz), str(hz), str(50 * hz)]
    assert legacy.own_cpu(f"4242 (ray::a) b) {' '.join(fields)} 0 20") == pytest.approx(4.0)


def test_trial_checks(legacy, tmp_path):
    log = tmp_path / "output.log"
    log.write_text("INFO: Number of Search Points : 3\n")
    results = {str(i): {"loss": float(i), "height": 1.0, "width": 2.0} for i in range(3)}
    (tmp_path / "userJobMetadata.json").write_text(json.dumps({"result": results}))
    assert legacy.legacy_trials(tmp_path, log, 3) == 3
    with pytest.raises(SystemExit, match="ran 3 of 4"):
        legacy.legacy_trials(tmp_path, log, 4)
    results["2"]["loss"] = None
    (tmp_path / "userJobMetadata.json").write_text(json.dumps({"result": results}))
    with pytest.raises(SystemExit, match="ran 2 of 3"):
        legacy.legacy_trials(tmp_path, log, 3)

    runs = tmp_path / "projects" / legacy.NAME / "runs"
    (runs / "old").mkdir(parents=True)
    (runs / "old" / "summary.json").write_text("{}")
    earlier = set(runs.glob("*/summary.json"))
    trials = [{"status": "terminated", "value": float(i)} for i in range(3)]
    summary = {"status": "finished", "num_trials": 3, "trials": trials}
    (runs / "new").mkdir()
    (runs / "new" / "summary.json").write_text(json.dumps(summary))
    assert legacy.our_trials(tmp_path, earlier, log, 3) == 3
    trials[1]["status"] = "error"
    (runs / "new" / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(SystemExit, match="ran 2 of 3"):
        legacy.our_trials(tmp_path, earlier, log, 3)
    with pytest.raises(SystemExit, match="expected one new run"):
        legacy.our_trials(tmp_path, set(), log, 3)


def test_table(legacy):
    theirs = [legacy.Run(10.0, 2.0, 8.0, 20), legacy.Run(12.0, 3.0, 9.0, 20), legacy.Run(11.0, 2.5, 7.0, 20)]
    ours = [legacy.Run(5.0, 4.0, 8.0, 20), legacy.Run(6.0, 6.0, 9.0, 20), legacy.Run(5.5, 5.0, 7.0, 20)]
    text = legacy.table({"1.3.3": theirs, "ours": ours}, {"1.3.3": "old", "ours": "new"}, 3, markdown=False)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["median", "of", "3", "rounds", "wall"]
    assert lines[1].split() == ["old", "11.00", "2.50", "8.00", "20"]
    assert lines[2].split() == ["new", "5.50", "5.00", "8.00", "20"]
    assert lines[3].split() == ["ratio", "ours/1.3.3", "0.50x", "2.00x", "1.00x"]
