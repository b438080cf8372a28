"""hpogrid 1.x's configs, projects and config command lines (issue 15).

The fixtures in tests/fixtures/hpogrid_1_3_3/ were written by the real hpogrid 1.3.3 (make_fixtures.py there
says how); its command lines that wrote them (make_fixtures.COMMANDS) are run here by today's hpogrid.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from hpogrid.configs import legacy
from hpogrid.configs.store import CONFIG_TYPES, ConfigStore
from tests.conftest import hpogrid_process, snapshot, subprocess_env

FIXTURES = Path(__file__).parent / "fixtures" / "hpogrid_1_3_3"
USERDATA = FIXTURES / "userdata"
FOLDERS = {"hpo_config": "hpo", "grid_config": "grid", "model_config": "model", "search_space": "search_space"}
OLD_FILES = {kind: sorted((USERDATA / folder).glob("*.json")) for kind, folder in FOLDERS.items()}


def old(kind: str, name: str) -> dict:
    return json.loads((USERDATA / FOLDERS[kind] / f"{name}.json").read_text())


def fixture_commands() -> list[list[str]]:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines only: its main() builds the 1.3.3 venv
    return module.COMMANDS


def without_grid_search_0(config: dict) -> dict:
    """A search space without the "grid_search": 0 (sample: the default) that 1.3.3 writes into every
    categorical; other configs as they are."""
    return {
        name: {**entry, "dimension": {k: v for k, v in entry["dimension"].items() if k != "grid_search" or v != 0}}
        if isinstance(entry, dict) and entry.get("method") == "categorical"
        else entry
        for name, entry in config.items()
    }


def saved(base: Path, kind: str, name: str) -> dict:
    return json.loads((base / "config" / kind / f"{name}.json").read_text())


# -- 1. configs as 1.3.3 writes them ---------------------------------------------------------------
def test_every_fixture_is_a_config_todays_schema_rejects():
    """The fixtures are worth testing: as written by 1.3.3, today's strict schema refuses each hpo/grid one."""
    from hpogrid.errors import ValidationError

    for kind in ("hpo_config", "grid_config"):
        assert OLD_FILES[kind]
        for path in OLD_FILES[kind]:
            with pytest.raises(ValidationError):
                CONFIG_TYPES[kind].validate(json.loads(path.read_text()))


@pytest.mark.parametrize("kind", list(FOLDERS))
def test_1x_configs_load_and_show_saying_once_what_was_normalised(hpogrid, base, kind):
    target = base / "config" / kind
    target.mkdir(parents=True)
    for path in OLD_FILES[kind]:
        shutil.copy(path, target)
    listed = hpogrid(kind, "list", "--json")
    names = [entry["name"] for entry in json.loads(listed.stdout)]
    assert names == [p.stem for p in OLD_FILES[kind]]
    notes = [line for line in listed.stderr.splitlines() if line]
    changed = kind in ("hpo_config", "grid_config")
    assert len(notes) == (len(OLD_FILES[kind]) if changed else 0)
    assert all(line.startswith(f"Note: {kind} ") and "hpogrid 1.x's form" in line for line in notes)
    shown = hpogrid(kind, "show", names[0], "--json")
    assert json.loads(shown.stdout) == ConfigStore(kind).load(names[0])
    assert shown.stderr == ""  # said once per process: the list said it


def test_what_normalising_makes_of_1x_hpo_configs():
    defaults, _ = legacy.normalise("hpo_config", old("hpo_config", "hpo_defaults"))
    assert old("hpo_config", "hpo_defaults")["extra_metrics"] == ["loss"]  # 1.3.3 lists the metric
    clean = CONFIG_TYPES["hpo_config"].validate(defaults)
    assert clean["verbose"] is False and clean["extra_metrics"] == []
    assert clean["scheduler_param"] == {} and clean["algorithm_param"] == {}
    assert {k: clean[k] for k in ("algorithm", "scheduler", "metric", "mode", "num_trials", "max_concurrent")} == {
        "algorithm": "random",
        "scheduler": "asynchyperband",
        "metric": "loss",
        "mode": "min",
        "num_trials": 100,
        "max_concurrent": 3,
    }
    long, changes = legacy.normalise("hpo_config", old("hpo_config", "hpo_long"))
    assert changes == ["verbose 1 -> true"]
    clean = CONFIG_TYPES["hpo_config"].validate(long)
    assert clean["extra_metrics"] == ["loss", "auc"] and clean["resource"] == {"cpu": 1, "gpu": 0}
    assert clean["algorithm_param"] == {"n_initial_points": 5} and clean["stop"] == {"training_iteration": 3}
    # 1.3.3's resource default {"cpu": 0, "gpu": 0} meant "the machine's": today's null
    machine, changes = legacy.normalise("hpo_config", {"resource": {"cpu": 0, "gpu": 0}})
    assert machine["resource"] is None and len(changes) == 1
    gpus, _ = legacy.normalise("hpo_config", {"resource": {"cpu": 0, "gpu": 1}})
    assert gpus["resource"] == {"gpu": 1}


def test_what_normalising_makes_of_1x_grid_configs():
    from hpogrid.configs.grid import DEFAULT_CONTAINER, DEFAULT_SITES

    defaults, _ = legacy.normalise("grid_config", old("grid_config", "grid_defaults"))
    clean = CONFIG_TYPES["grid_config"].validate(defaults)
    assert clean == {
        "site": DEFAULT_SITES,
        "container": DEFAULT_CONTAINER,
        "retry": False,
        "inDS": None,
        # 1.3.3's 'user.${{RUCIO_ACCOUNT}}.hpogrid.{HPO_PROJECT_NAME}.out.$(date +%Y%m%d%H%M%S)'
        "outDS": "user.{user}.hpogrid.{project}.out.{timestamp}",
    }
    long = CONFIG_TYPES["grid_config"].validate(legacy.normalise("grid_config", old("grid_config", "grid_long"))[0])
    assert long["site"] == ["ANALY_MANC_GPU_TEST", "ANALY_MWT2_GPU"] and long["retry"] is True
    assert long["outDS"] == "user.alice.hpogrid.{project}.out.v1" and "extra" not in long
    assert long["container"].startswith("docker://")  # a container of the user's own is kept
    for form in ("user.$RUCIO_ACCOUNT.x.$(date +%Y%m%d)", "user.${RUCIO_ACCOUNT}.x.$(date)"):
        assert legacy.normalise("grid_config", {"outDS": form})[0]["outDS"] == "user.{user}.x.{timestamp}"
    assert legacy.normalise("grid_config", {"site": "A, B", "retry": 1})[0] == {"site": ["A", "B"], "retry": True}


def test_an_update_writes_todays_form(hpogrid, base):
    target = base / "config" / "grid_config"
    target.mkdir(parents=True)
    shutil.copy(USERDATA / "grid" / "grid_long.json", target)
    hpogrid("grid_config", "update", "grid_long", "--inDS", "user.alice.mnist.v2")
    written = saved(base, "grid_config", "grid_long")
    assert CONFIG_TYPES["grid_config"].validate(written) == written  # today's form, strictly
    assert written["inDS"] == "user.alice.mnist.v2" and written["outDS"] == "user.alice.hpogrid.{project}.out.v1"


def test_a_1x_config_file_given_by_path_makes_a_project(hpogrid, base, tmp_path):
    script = tmp_path / "scripts"
    shutil.copytree(USERDATA / "projects" / "legacy_project" / "scripts", script)
    hpogrid(
        "project",
        "create",
        "p",
        "-p",
        script,
        "-o",
        USERDATA / "hpo" / "hpo_example.json",
        "-m",
        USERDATA / "model" / "model_defaults.json",
        "-s",
        USERDATA / "search_space" / "space_example.json",
        "-g",
        USERDATA / "grid" / "grid_short.json",
    )
    project = json.loads((base / "projects" / "p" / "project.json").read_text())
    assert project["configs"]["hpo_config"]["num_trials"] == 6 and project["configs"]["hpo_config"]["verbose"] is False
    assert project["configs"]["grid_config"]["site"] == ["ANALY_BNL_GPU_ARC"]


def test_a_1x_config_todays_hpogrid_cannot_take_is_one_line_naming_the_field(hpogrid, base):
    target = base / "config" / "hpo_config"
    target.mkdir(parents=True)
    bad = dict(old("hpo_config", "hpo_defaults"), max_concurrent=0)
    (target / "bad.json").write_text(json.dumps(bad))
    result = hpogrid("hpo_config", "show", "bad", ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: hpo_config.max_concurrent: got 0") and result.stderr.count("\n") == 1


# -- 4. the config commands' 1.3.3 command lines ----------------------------------------------------
def test_1x_config_command_lines_mean_what_they_meant(hpogrid, base, tmp_path):
    """Every command line that wrote the fixtures, run by today's hpogrid, saves what 1.3.3 saved (read as
    today's). The one difference: a grid_config without --outDS gets today's default outDS, not 1.3.3's."""
    for command in fixture_commands():  # the project's -p is this checkout's example/scripts/simple_objective.py
        hpogrid(*command)
    for kind, paths in OLD_FILES.items():
        for path in paths:
            expected = CONFIG_TYPES[kind].validate(legacy.normalise(kind, json.loads(path.read_text()))[0])
            expected = without_grid_search_0(expected)
            ours = without_grid_search_0(saved(base, kind, path.stem))
            if path.stem == "grid_defaults":
                assert ours.pop("outDS") is None and expected.pop("outDS").endswith(".{timestamp}")
            assert ours == expected, path.stem
    project = json.loads((base / "projects" / "legacy_project" / "project.json").read_text())
    old_project = json.loads((USERDATA / "projects" / "legacy_project" / "config" / "config.json").read_text())
    for kind in FOLDERS:
        expected = CONFIG_TYPES[kind].validate(legacy.normalise(kind, old_project[kind])[0])
        if kind == "grid_config":
            expected["outDS"] = None
        assert project["configs"][kind] == expected, kind


def test_1x_verbose_levels_and_short_options(hpogrid, base):
    hpogrid("hpo_config", "create", "a", "-n", "5", "-v", "2", "-c", "1")
    assert saved(base, "hpo_config", "a")["verbose"] is True and saved(base, "hpo_config", "a")["max_concurrent"] == 1
    hpogrid("hpo_config", "update", "a", "--verbose=0")
    assert saved(base, "hpo_config", "a")["verbose"] is False
    hpogrid("hpo_config", "update", "a", "-v1")
    assert saved(base, "hpo_config", "a")["verbose"] is True
    hpogrid("hpo_config", "update", "a", "--no-verbose", "-n", "7")  # today's flags still work
    assert saved(base, "hpo_config", "a")["verbose"] is False and saved(base, "hpo_config", "a")["num_trials"] == 7
    extra = hpogrid("grid_config", "create", "g", "-s", "X_GPU", "-e", '{"nGBPerJob": 5}')
    assert extra.stderr.startswith("Note: --extra is ignored") and "extra" not in saved(base, "grid_config", "g")


def test_list_expr_and_search_space_option(hpogrid, base):
    space = '{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}'
    hpogrid("search_space", "create", "s1", "-s", space)
    hpogrid("search_space", "create", "s2", "--search_space", space)
    hpogrid("search_space", "create", "t1", space)
    assert saved(base, "search_space", "s1") == saved(base, "search_space", "t1")
    assert [e["name"] for e in json.loads(hpogrid("search_space", "list", "-e", "s*", "--json").stdout)] == ["s1", "s2"]
    assert [e["name"] for e in json.loads(hpogrid("search_space", "list", "--expr", "t*", "--json").stdout)] == ["t1"]
    both = hpogrid("search_space", "create", "s3", space, "-s", space, ok=False)
    assert both.exit_code == 2 and "give the search space once" in both.stderr
    neither = hpogrid("search_space", "create", "s3", ok=False)
    assert neither.exit_code == 2 and not (base / "config" / "search_space" / "s3.json").exists()


# -- 2. hpogrid migrate ----------------------------------------------------------------------------
def test_migrate_dry_run_writes_nothing(hpogrid, base):
    before = snapshot(base)
    result = hpogrid("migrate", USERDATA, "--dry-run")
    assert snapshot(base) == before
    rows = [line.split() for line in result.stdout.splitlines()[2:] if line.strip() and not line.startswith("12 ")]
    assert [(r[0], r[1], " ".join(r[2:5])) for r in rows[:1]] == [("hpo_config", "hpo_defaults", "would be imported")]
    assert result.stdout.rstrip().endswith("12 found: 12 would be imported (--dry-run: nothing was written)")


def test_migrate_imports_everything_and_twice_is_once(hpogrid, base):
    first = json.loads(hpogrid("migrate", USERDATA, "--json").stdout)
    assert {(e["kind"], e["outcome"]) for e in first} == {(k, "imported") for k in [*FOLDERS, "project"]}
    assert len(first) == sum(map(len, OLD_FILES.values())) + 1
    grid = next(e for e in first if e["name"] == "grid_long")
    assert "outDS" in grid["detail"] and "extra" in grid["detail"]
    for kind, paths in OLD_FILES.items():
        for path in paths:
            written = saved(base, kind, path.stem)
            assert CONFIG_TYPES[kind].validate(written) == written  # today's form
    after = snapshot(base)
    second = json.loads(hpogrid("migrate", USERDATA, "--json").stdout)
    assert {e["outcome"] for e in second} == {"unchanged"} and len(second) == len(first)
    assert snapshot(base) == after


def test_migrate_never_overwrites_unless_forced(hpogrid, base):
    hpogrid("hpo_config", "create", "hpo_defaults", "--num_trials", "7")
    hpogrid("migrate", USERDATA)
    result = json.loads(hpogrid("migrate", USERDATA, "--json").stdout)
    mine = next(e for e in result if e["name"] == "hpo_defaults")
    assert mine["outcome"] == "skipped" and "--force" in mine["detail"]
    assert saved(base, "hpo_config", "hpo_defaults")["num_trials"] == 7
    # a project changed since: skipped, then replaced with --force, the old one kept as a backup
    hpogrid("project", "update", "legacy_project", "--hpo_config", "hpo_defaults")
    table = hpogrid("migrate", USERDATA).stdout
    assert any(line.startswith("project") and "skipped" in line for line in table.splitlines())
    forced = json.loads(hpogrid("migrate", USERDATA, "--force", "--json").stdout)
    assert {e["name"]: e["outcome"] for e in forced}["legacy_project"] == "replaced"
    assert saved(base, "hpo_config", "hpo_defaults")["num_trials"] == 100
    backups = list((base / "projects" / ".backups").iterdir())
    assert len(backups) == 2  # one by the update, one by the forced migrate: nothing lost


def test_migrate_skips_what_it_cannot_take_and_says_why(hpogrid, base, tmp_path):
    source = tmp_path / "userdata"
    shutil.copytree(USERDATA, source)
    (source / "hpo" / "broken.json").write_text("{not json")
    (source / "hpo" / "bad name.json").write_text(json.dumps(old("hpo_config", "hpo_defaults")))
    (source / "model" / "bad.json").write_text(json.dumps({"script": "/abs/train.py", "model": "train"}))
    result = {e["name"]: e for e in json.loads(hpogrid("migrate", source, "--json").stdout)}
    assert result["broken"]["outcome"] == "skipped" and "not valid JSON" in result["broken"]["detail"]
    assert result["bad name"]["outcome"] == "skipped" and "not a name" in result["bad name"]["detail"]
    assert result["bad"]["outcome"] == "skipped" and "model_config.script" in result["bad"]["detail"]
    assert result["hpo_defaults"]["outcome"] == "imported"
    nothing = hpogrid("migrate", tmp_path / "nothing_here", ok=False)
    assert nothing.exit_code == 2 and nothing.stderr.count("\n") == 1


def test_migrate_finds_the_data_in_the_1x_package_folder(hpogrid, base, tmp_path):
    package = tmp_path / "site-packages" / "hpogrid"
    shutil.copytree(USERDATA, package / "userdata")
    for source in (package, package.parent):
        result = json.loads(hpogrid("migrate", source, "--dry-run", "--json").stdout)
        assert len(result) == sum(map(len, OLD_FILES.values())) + 1


def test_migrate_an_older_base_path_in_place(hpogrid, base):
    """hpogrid 1.0-1.2 kept configs in $HPOGRID_BASE_PATH/config/<kind>/ (today's folders: they are read in
    place) and projects in projects/NAME/config/project_config.json. The layout is built here from the 1.3.3
    fixtures (1.0-1.2 wrote the same fields); migrating the base path into itself rewrites it in today's form."""
    for kind, paths in OLD_FILES.items():
        (base / "config" / kind).mkdir(parents=True)
        for path in paths:
            shutil.copy(path, base / "config" / kind)
    project = base / "projects" / "legacy_project"
    shutil.copytree(USERDATA / "projects" / "legacy_project", project)
    (project / "config" / "config.json").rename(project / "config" / "project_config.json")
    (project / "config" / "config.yaml").unlink()
    assert json.loads(hpogrid("project", "list", "--json").stdout) == []  # not a project of today's yet
    shown = hpogrid("project", "show", "legacy_project", ok=False)
    assert shown.exit_code == 2 and f"1.x's layout ({project}); import it with `hpogrid migrate {base}`" in shown.stderr
    result = {e["name"]: e["outcome"] for e in json.loads(hpogrid("migrate", base, "--json").stdout)}
    assert result["hpo_long"] == "normalised" and result["model_defaults"] == "unchanged"
    assert result["legacy_project"] == "imported"
    assert CONFIG_TYPES["hpo_config"].validate(saved(base, "hpo_config", "hpo_long")) == saved(
        base, "hpo_config", "hpo_long"
    )
    assert [p["name"] for p in json.loads(hpogrid("project", "list", "--json").stdout)] == ["legacy_project"]
    [backup] = (base / "projects" / ".backups").iterdir()
    assert (backup / "config" / "project_config.json").is_file()  # the 1.x project is kept
    again = {e["outcome"] for e in json.loads(hpogrid("migrate", base, "--json").stdout)}
    assert again == {"unchanged"}


def test_a_migrated_1x_project_runs(base, tmp_path):
    env = subprocess_env(base)
    migrated = hpogrid_process("migrate", USERDATA, env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    run = hpogrid_process("local_run", "legacy_project", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    [run_dir] = (base / "projects" / "legacy_project" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_trials"] == 6 and len(summary["trials"]) == 6
    assert all(t["status"] == "terminated" and t["value"] is not None for t in summary["trials"])


def test_the_config_command_lines_of_1x_readme(hpogrid, base, tmp_path, monkeypatch):
    """hpogrid 1.3.3's README (its sdist), lines 17-47 of the inventory: each runs and means what it meant.
    As printed there, #19 and #30 lack NAME and #37 and #39 are not valid JSON (1.3.3 refused them too):
    they run here with the NAME and the JSON mended. One clash: 1.3.3's `search_space update` replaced the
    whole space (#38, against its README); today's keeps the others, as its README said and ours says."""
    monkeypatch.setenv("RUCIO_ACCOUNT", "alice")  # the shell expands ${RUCIO_ACCOUNT} in #23 and #25
    from hpogrid.configs.grid import DEFAULT_CONTAINER

    hpogrid(*"hpo_config create my_example_config --algorithm random --metric loss --mode min --num_trials 100".split())
    created = saved(base, "hpo_config", "my_example_config")
    assert created == CONFIG_TYPES["hpo_config"].validate({"num_trials": 100})  # the rest: defaults
    hpogrid(*"hpo_config update my_example_config --algorithm bayesian".split())
    assert saved(base, "hpo_config", "my_example_config") == {**created, "algorithm": "bayesian"}
    hpogrid("hpo_config", "update", "my_example_config", "--max_concurrent", "5")
    hpogrid(
        *"hpo_config recreate my_example_config --algorithm bayesian --metric loss --mode min --num_trials 100".split()
    )
    assert saved(base, "hpo_config", "my_example_config")["max_concurrent"] == 3  # recreate: defaults again
    assert "my_example_config" in hpogrid("hpo_config", "list").stdout
    assert "bayesian" in hpogrid("hpo_config", "show", "my_example_config").stdout

    hpogrid(
        "grid_config",
        "create",
        "my_example_config",
        "--site",
        "ANALY_MANC_GPU_TEST",
        "--inDS",
        "user.alice.mydataset01",
    )
    grid = saved(base, "grid_config", "my_example_config")
    assert grid["site"] == ["ANALY_MANC_GPU_TEST"] and grid["inDS"] == "user.alice.mydataset01"
    image = "docker://gitlab-registry.cern.ch/aml/hyperparameter-optimization/alkaid-qt/hpogrid:latest"
    hpogrid("grid_config", "update", "my_example_config", "--container", image)
    assert saved(base, "grid_config", "my_example_config") == {**grid, "container": image}
    hpogrid(
        "grid_config",
        "recreate",
        "my_example_config",
        "--site",
        "ANALY_BNL_GPU_ARC",
        "--inDS",
        "user.alice.mydataset02",
    )
    grid = saved(base, "grid_config", "my_example_config")
    assert grid["container"] == DEFAULT_CONTAINER and grid["outDS"] is None and grid["site"] == ["ANALY_BNL_GPU_ARC"]
    assert "ANALY_BNL_GPU_ARC" in hpogrid("grid_config", "show", "my_example_config").stdout
    assert "my_example_config" in hpogrid("grid_config", "list").stdout

    param = '{"input_path": "mypath/signl_point/", "epochs": 100}'
    hpogrid(
        "model_config",
        "create",
        "my_example_config",
        "--script",
        "train.py",
        "--model",
        "advanced_rnn",
        "--param",
        param,
    )
    assert saved(base, "model_config", "my_example_config")["param"] == json.loads(param)
    hpogrid("model_config", "update", "my_example_config", "--model", "revised_rnn")
    assert saved(base, "model_config", "my_example_config")["model"] == "revised_rnn"
    param = '{"input_path": "mypath/bkg_point/", "epochs": 200}'
    hpogrid(
        "model_config",
        "recreate",
        "my_example_config",
        "--script",
        "train.py",
        "--model",
        "revised_rnn",
        "--param",
        param,
    )
    assert saved(base, "model_config", "my_example_config")["param"]["epochs"] == 200
    assert "revised_rnn" in hpogrid("model_config", "show", "my_example_config").stdout

    space = (
        '{ "lr":{"method":"loguniform","dimension":{"low":1e-5,"high":1e-2, "base":10}},'
        '"batchsize":{"method":"categorical","dimension":{"categories":[32,64,128,256,512,1024]}},'
        '"num_layers":{"method":"uniformint","dimension":{"low":3,"high":10}},'
        '"momentum":{"method":"uniform","dimension":{"low":0.5,"high":1.0}} }'
    )
    hpogrid("search_space", "create", "my_search_space", "-s", space)
    assert list(saved(base, "search_space", "my_search_space")) == ["lr", "batchsize", "num_layers", "momentum"]
    hpogrid(
        "search_space",
        "update",
        "my_search_space",
        "-s",
        '{"new_hp":{"method":"lognormal","dimension":{"mu":1,"sigma":1}}}',
    )
    assert list(saved(base, "search_space", "my_search_space")) == [
        "lr",
        "batchsize",
        "num_layers",
        "momentum",
        "new_hp",
    ]
    space = (
        '{ "lr":{"method":"categorical", "dimension":{"categories": [1e-4,1e-3,1e-2,1e-1]}},'
        '"batchsize":{"method":"categorical","dimension":{"categories":[32,64,128,256,512,1024]}}}'
    )
    hpogrid("search_space", "recreate", "my_search_space", "-s", space)
    assert list(saved(base, "search_space", "my_search_space")) == ["lr", "batchsize"]
    assert "my_search_space" in hpogrid("search_space", "list").stdout
    assert "batchsize" in hpogrid("search_space", "show", "my_search_space").stdout

    # #42-47: a project with all five short options, list -e, show
    script = tmp_path / "train.py"
    script.write_text("def my_objective(config, reporter):\n    reporter(loss=config['lr'])\n")
    hpogrid("model_config", "create", "test_model", "--script", "train.py", "--model", "my_objective")
    hpogrid("project", "create", "my_project", "-p", script, "-m", "test_model", "-s", "my_search_space",
            "-o", "my_example_config", "-g", "my_example_config")  # fmt: skip
    hpogrid("project", "update", "my_project", "-o", "my_example_config")
    hpogrid("project", "recreate", "my_project", "-p", script, "-m", "test_model", "-s", "my_search_space",
            "-o", "my_example_config")  # fmt: skip
    assert [p["name"] for p in json.loads(hpogrid("project", "list", "-e", "my_*", "--json").stdout)] == ["my_project"]
    assert json.loads(hpogrid("project", "list", "-e", "my", "--json").stdout) == []  # a glob matches whole names
    assert "my_objective" in hpogrid("project", "show", "my_project").stdout
