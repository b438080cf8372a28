"""Bad input: exit status 2, one line naming the field and the fix, no traceback, disk untouched."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, snapshot

SCRIPT = str(EXAMPLES / "simple_objective.py")
TRAINABLE = str(EXAMPLES / "simple_trainable.py")
SPACE = '{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}'


def space(method: str, **dimension) -> str:
    return json.dumps({"x": {"method": method, "dimension": dimension}})


def param_(text: str) -> list[str]:
    """model_config create with this --param."""
    return ["model_config", "create", "n", "--script", "a.py", "--model", "f", "--param", text]


def project(name="p", scripts=SCRIPT, hpo="h", model="m", space_="s", grid=None, action="create"):
    args = [
        "project",
        action,
        name,
        "--scripts_path",
        scripts,
        "--hpo_config",
        hpo,
        "--model_config",
        model,
        "--search_space",
        space_,
    ]
    return args + (["--grid_config", grid] if grid else [])


# (id, command, text the one-line error must contain)
CASES = [
    # hpo_config: types, ranges, choices, JSON, combinations
    ("num_trials-text", ["hpo_config", "create", "n", "--num_trials", "ten"], "hpo_config.num_trials"),
    ("num_trials-zero", ["hpo_config", "create", "n", "--num_trials", "0"], "hpo_config.num_trials"),
    ("num_trials-float", ["hpo_config", "create", "n", "--num_trials", "2.5"], "hpo_config.num_trials"),
    ("max_concurrent-negative", ["hpo_config", "create", "n", "--max_concurrent", "-1"], "hpo_config.max_concurrent"),
    ("algorithm-unknown", ["hpo_config", "create", "n", "--algorithm", "optima"], "did you mean 'optuna'"),
    ("mode-unknown", ["hpo_config", "create", "n", "--mode", "minimum"], "hpo_config.mode"),
    ("scheduler-unknown", ["hpo_config", "create", "n", "--scheduler", "asha"], "hpo_config.scheduler"),
    (
        "stop-bad-json",
        ["hpo_config", "create", "n", "--stop", "{training_iteration: 3}"],
        "hpo_config.stop: not valid JSON",
    ),
    ("stop-not-object", ["hpo_config", "create", "n", "--stop", "[1, 2]"], "hpo_config.stop"),
    ("stop-text-value", ["hpo_config", "create", "n", "--stop", '{"training_iteration": "3"}'], "hpo_config.stop"),
    ("scheduler_param-list", ["hpo_config", "create", "n", "--scheduler_param", "[]"], "hpo_config.scheduler_param"),
    (
        "algorithm_param-bad-json",
        ["hpo_config", "create", "n", "--algorithm_param", "{'a': 1}"],
        "hpo_config.algorithm_param",
    ),
    ("resource-unknown-key", ["hpo_config", "create", "n", "--resource", '{"gpus": 1}'], "did you mean 'gpu'"),
    ("resource-negative", ["hpo_config", "create", "n", "--resource", '{"gpu": -1}'], "hpo_config.resource"),
    ("resource-zero-cpu", ["hpo_config", "create", "n", "--resource", '{"cpu": 0}'], "hpo_config.resource"),
    ("seed-negative", ["hpo_config", "create", "n", "--seed", "-3"], "hpo_config.seed"),
    ("seed-huge", ["hpo_config", "create", "n", "--seed", str(2**40)], "hpo_config.seed"),
    ("bohb-with-asha", ["hpo_config", "create", "n", "--algorithm", "bohb"], "--scheduler bohbhyperband"),
    (
        "bohbhyperband-with-random",
        ["hpo_config", "create", "n", "--scheduler", "bohbhyperband"],
        "only works with algorithm 'bohb'",
    ),
    (
        "pbt-with-optuna",
        ["hpo_config", "create", "n", "--algorithm", "optuna", "--scheduler", "pbt"],
        "--algorithm random",
    ),
    (
        "extra_metrics-duplicate-metric",
        ["hpo_config", "create", "n", "--extra_metrics", "loss"],
        "hpo_config.extra_metrics",
    ),
    ("update-makes-bad-combination", ["hpo_config", "update", "h", "--algorithm", "bohb"], "hpo_config.scheduler"),
    ("update-missing-config", ["hpo_config", "update", "nope", "--num_trials", "3"], "no hpo_config named 'nope'"),
    ("create-differs-from-existing", ["hpo_config", "create", "h", "--num_trials", "7"], "exists with other settings"),
    # grid_config
    ("site-bad-chars", ["grid_config", "create", "n", "--site", "ANALY;rm -rf"], "grid_config.site"),
    ("container-space", ["grid_config", "create", "n", "--container", "docker://a b"], "grid_config.container"),
    ("inDS-bad", ["grid_config", "create", "n", "--inDS", "user.me:data$(id)"], "grid_config.inDS"),
    ("outDS-unknown-placeholder", ["grid_config", "create", "n", "--outDS", "user.{me}.x"], "unknown placeholder"),
    # model_config
    ("script-missing", ["model_config", "create", "n", "--model", "f"], "model_config.script: is required"),
    (
        "script-absolute",
        ["model_config", "create", "n", "--script", "/etc/passwd.py", "--model", "f"],
        "model_config.script",
    ),
    ("script-parent", ["model_config", "create", "n", "--script", "../x.py", "--model", "f"], "model_config.script"),
    (
        "script-not-python",
        ["model_config", "create", "n", "--script", "train.sh", "--model", "f"],
        "model_config.script",
    ),
    (
        "model-not-identifier",
        ["model_config", "create", "n", "--script", "t.py", "--model", "my-model"],
        "model_config.model",
    ),
    (
        "param-not-object",
        ["model_config", "create", "n", "--script", "t.py", "--model", "f", "--param", "3"],
        "model_config.param",
    ),
    # search_space
    (
        "space-bad-json",
        ["search_space", "create", "n", '{"x": {"method": "uniform",}}'],
        "search_space: not valid JSON",
    ),
    ("space-empty", ["search_space", "create", "n", "{}"], "search_space: is empty"),
    (
        "space-method-typo",
        ["search_space", "create", "n", space("loguniorm", low=1, high=2)],
        "did you mean 'loguniform'",
    ),
    (
        "space-low-above-high",
        ["search_space", "create", "n", space("uniform", low=2, high=1)],
        "search_space.x.dimension.high",
    ),
    ("space-missing-high", ["search_space", "create", "n", space("uniform", low=2)], "search_space.x.dimension.high"),
    (
        "space-unknown-dimension",
        ["search_space", "create", "n", space("uniform", low=0, hihg=1)],
        "did you mean 'high'",
    ),
    ("space-loguniform-zero", ["search_space", "create", "n", space("loguniform", low=0, high=1)], "dimension.low"),
    ("space-sigma-zero", ["search_space", "create", "n", space("normal", mu=0, sigma=0)], "dimension.sigma"),
    ("space-q-negative", ["search_space", "create", "n", space("quniform", low=0, high=1, q=-0.1)], "dimension.q"),
    (
        "space-not-multiple-of-q",
        ["search_space", "create", "n", space("quniform", low=0, high=1, q=0.3)],
        "multiple of q",
    ),
    ("space-uniformint-float", ["search_space", "create", "n", space("uniformint", low=0.5, high=3)], "dimension.low"),
    (
        "space-categories-empty",
        ["search_space", "create", "n", space("categorical", categories=[])],
        "dimension.categories",
    ),
    (
        "space-categories-nested",
        ["search_space", "create", "n", space("categorical", categories=[[1]])],
        "JSON scalars",
    ),
    (
        "space-categories-duplicate",
        ["search_space", "create", "n", space("categorical", categories=[1, 2, 1])],
        "twice",
    ),
    (
        "space-grid_search-bad",
        ["search_space", "create", "n", space("categorical", categories=[1], grid_search=2)],
        "grid_search",
    ),
    ("space-base-one", ["search_space", "create", "n", space("lognormal", mu=0, sigma=1, base=1)], "dimension.base"),
    (
        "space-bad-name",
        ["search_space", "create", "n", '{"a b": {"method": "fixed", "dimension": {"value": 1}}}'],
        "search_space.a b",
    ),
    (
        "space-dotted-clash",
        [
            "search_space",
            "create",
            "n",
            json.dumps(
                {
                    "a.b": {"method": "fixed", "dimension": {"value": 1}},
                    "a": {"b": {"method": "fixed", "dimension": {"value": 2}}},
                }
            ),
        ],
        "defined twice",
    ),
    (
        "space-leaf-and-group",
        [
            "search_space",
            "create",
            "n",
            json.dumps(
                {
                    "a": {"method": "fixed", "dimension": {"value": 1}},
                    "a.b": {"method": "fixed", "dimension": {"value": 2}},
                }
            ),
        ],
        "also the group",
    ),
    (
        "space-extra-key",
        ["search_space", "create", "n", '{"x": {"method": "fixed", "dimension": {"value": 1}, "dim": 1}}'],
        "unknown key 'dim'",
    ),
    # names
    ("name-traversal", ["hpo_config", "create", "../evil"], "hpo_config.name"),
    ("name-slash", ["grid_config", "create", "a/b"], "grid_config.name"),
    ("name-dot", ["model_config", "create", ".hidden", "--script", "t.py", "--model", "f"], "model_config.name"),
    ("name-too-long", ["hpo_config", "create", "x" * 129], "at most 128 characters"),
    ("project-name-traversal", project(name="../p"), "project.name"),
    # projects
    ("project-missing-script-path", project(scripts="/no/such/file.py"), "--scripts_path: no such file"),
    ("project-missing-config", project(hpo="nope"), "no hpo_config named 'nope'"),
    ("project-config-file-missing", project(hpo="/no/such/hpo.json"), "no such file"),
    ("project-model-not-defined", project(model="m_missing_model"), "'not_there' is not defined"),
    ("project-script-not-in-scripts", project(model="m_other_script"), "is not among the project's scripts"),
    ("project-algorithm-cannot-sample", project(hpo="h_optuna", space_="s_normal"), "algorithm 'optuna' cannot sample"),
    ("project-param-clashes", project(model="m_clash"), "model_config.param.x"),
    (
        "project-trainable-without-stop",
        project(scripts=TRAINABLE, hpo="h_nostop", model="m_trainable"),
        "would train forever",
    ),
    ("project-exists-different", project(name="existing", hpo="h_optuna"), "exists with other settings"),
    ("project-update-missing", ["project", "update", "nope", "--hpo_config", "h"], "no project named 'nope'"),
    ("project-grid-file-broken", project(grid="broken.json"), "broken.json is not valid JSON"),
    ("remove-missing", ["hpo_config", "remove", "h", "nope"], "no hpo_config named 'nope'"),
    ("remove-glob-matches-nothing", ["project", "remove", "zz*"], "no project matches 'zz*'"),
    # JSON that Python's json module takes but JSON does not: NaN, Infinity, numbers beyond a float, deep nesting
    ("stop-nan", ["hpo_config", "create", "n", "--stop", '{"training_iteration": NaN}'], "hpo_config.stop: NaN is not"),
    (
        "scheduler_param-infinity",
        ["hpo_config", "create", "n", "--scheduler_param", '{"max_t": Infinity}'],
        "hpo_config.scheduler_param: Infinity is not a JSON number",
    ),
    (
        "algorithm_param-minus-infinity",
        ["hpo_config", "create", "n", "--algorithm_param", '{"n_initial_points": -Infinity}'],
        "hpo_config.algorithm_param: -Infinity is not a JSON number",
    ),
    ("resource-nan", ["hpo_config", "create", "n", "--resource", '{"cpu": NaN}'], "hpo_config.resource: NaN is not"),
    (
        "param-nan",
        param_('{"a": NaN}'),
        "model_config.param: NaN",
    ),
    (
        "param-beyond-float",
        param_('{"a": 1e999}'),
        "the number 1e999 is beyond the range of a float",
    ),
    (
        "param-5000-digits",
        param_('{"a": 1' + "0" * 5000 + "}"),
        "a number of 5001 digits is beyond the range of a float",
    ),
    (
        "param-310-digit-int",
        param_('{"a": -' + "9" * 310 + "}"),
        "a number of 310 digits",
    ),
    (
        "param-3000-deep",
        [
            "model_config",
            "create",
            "n",
            "--script",
            "a.py",
            "--model",
            "f",
            "--param",
            '{"a": ' + "[" * 3000 + "]" * 3000 + "}",
        ],
        "model_config.param: nested too deeply",
    ),
    (
        "param-70-deep",
        [
            "model_config",
            "create",
            "n",
            "--script",
            "a.py",
            "--model",
            "f",
            "--param",
            '{"a": ' + "[" * 69 + "]" * 69 + "}",
        ],
        "nested 70 levels deep (at most 64)",
    ),
    (
        "space-low-nan",
        ["search_space", "create", "n", '{"x": {"method": "uniform", "dimension": {"low": NaN, "high": 1}}}'],
        "search_space: NaN is not",
    ),
    (
        "space-file-infinity",
        ["search_space", "create", "n", "infinite_space.json"],
        "infinite_space.json: Infinity is not a JSON number",
    ),
    (
        "space-fixed-nan",
        ["search_space", "create", "n", '{"x": {"method": "fixed", "dimension": {"value": NaN}}}'],
        "search_space: NaN is not",
    ),
    (
        "space-categories-infinity",
        ["search_space", "create", "n", '{"x": {"method": "categorical", "dimension": {"categories": [1, Infinity]}}}'],
        "Infinity is not",
    ),
    (
        "space-method-list",
        ["search_space", "create", "n", json.dumps({"x": {"method": ["uniform"], "dimension": {"low": 0, "high": 1}}})],
        'search_space.x.method: got ["uniform"]',
    ),
    (
        "space-method-object",
        ["search_space", "create", "n", json.dumps({"x": {"method": {"uniform": 1}, "dimension": {}}})],
        "search_space.x.method: got {",
    ),
    (
        "space-method-missing",
        ["search_space", "create", "n", json.dumps({"x": {"dimension": {"low": 0, "high": 1}}})],
        "search_space.x: has no 'method'",
    ),
    (
        "space-q-too-small",
        ["search_space", "create", "n", space("quniform", low=0, high=1, q=1e-300)],
        "search_space.x.dimension.q: got 1e-300, too small",
    ),
    (
        "space-qnormal-q-too-small",
        ["search_space", "create", "n", space("qnormal", mu=0, sigma=1, q=1e-20)],
        "sigma is 1e+20 steps of q",
    ),
    (
        "space-bounds-overflow",
        ["search_space", "create", "n", space("uniform", low=-1.7e308, high=1.7e308)],
        "high - low overflows a float",
    ),
    (
        "space-update-nan",
        ["search_space", "update", "s", '{"y": {"method": "normal", "dimension": {"mu": 0, "sigma": NaN}}}'],
        "NaN is not",
    ),
    (
        "search_points-nan",
        ["local_run", "existing", "--search_points", "nan_points.json"],
        "nan_points.json: NaN is not a JSON number",
    ),
    (
        "new-params-nan",
        ["tasks", "retry", "1", "--new-params", '{"ramCount": NaN}'],
        "--new-params: NaN is not a JSON number",
    ),
    # control characters, newlines and text-reordering characters in user values are shown escaped
    ("ctl-command", ["hpo\x1b[2Jconfig"], "no such command 'hpo\\x1b[2Jconfig'"),
    ("ctl-option", ["hpo_config", "create", "n", "--num\ntrials", "3"], "No such option '--num\\ntrials'"),
    ("ctl-algorithm", ["hpo_config", "create", "n", "--algorithm", "rand\x1b[31m"], "\\x1b[31m"),
    ("ctl-mode", ["hpo_config", "create", "n", "--mode", "min\r\n"], "hpo_config.mode"),
    ("ctl-scheduler", ["hpo_config", "create", "n", "--scheduler", "\u202easha"], "\\u202e"),
    ("ctl-show-missing", ["hpo_config", "show", "nope\x07"], "hpo_config.name"),
    ("ctl-project-missing", ["project", "show", "p\u2028q"], "project"),
    (
        "ctl-space-name",
        ["search_space", "create", "n", space("uniform", low=0, high=1).replace('"x"', '"x\\n"')],
        "x\\n",
    ),
    ("ctl-space-method", ["search_space", "create", "n", space("unif\x1b[0m", low=0, high=1)], "\\x1b[0m"),
    ("ctl-stop-key", ["hpo_config", "create", "n", "--stop", '{"epoch\\n": "3"}'], "hpo_config.stop"),
    ("ctl-resource-key", ["hpo_config", "create", "n", "--resource", '{"g\\u001bpu": 1}'], "hpo_config.resource"),
    ("ctl-report-target", ["report", "no\nsuch"], "no project or results file named 'no\\nsuch'"),
    ("ctl-scripts-path", project(name="q", scripts="/nonexistent/a\tb.py"), "a\\tb.py"),
    ("ctl-search-points", ["local_run", "existing", "--search_points", "pts\x1b.json"], "pts\\x1b.json"),
    ("ctl-kill-id", ["tasks", "kill", "12\n13"], "12\\n13"),
]


@pytest.fixture
def populated(hpogrid, base, tmp_path):
    """Saved configs and one project, so that update/remove/project cases have something to hit."""
    hpogrid("hpo_config", "create", "h", "--metric", "loss")
    hpogrid("hpo_config", "create", "h_optuna", "--algorithm", "optuna")
    hpogrid("hpo_config", "create", "h_nostop", "--stop", "{}")
    hpogrid("model_config", "create", "m", "--script", "simple_objective.py", "--model", "simple_objective")
    hpogrid("model_config", "create", "m_missing_model", "--script", "simple_objective.py", "--model", "not_there")
    hpogrid("model_config", "create", "m_other_script", "--script", "train.py", "--model", "f")
    hpogrid(
        "model_config",
        "create",
        "m_clash",
        "--script",
        "simple_objective.py",
        "--model",
        "simple_objective",
        "--param",
        '{"x": 1}',
    )
    hpogrid("model_config", "create", "m_trainable", "--script", "simple_trainable.py", "--model", "MyTrainableClass")
    hpogrid("search_space", "create", "s", SPACE)
    hpogrid("search_space", "create", "s_normal", space("normal", mu=0, sigma=1))
    hpogrid(*project(name="existing"))
    (tmp_path / "broken.json").write_text('{"site": ["X"],')
    (tmp_path / "infinite_space.json").write_text(
        '{"x": {"method": "uniform", "dimension": {"low": 0, "high": Infinity}}}'
    )
    (tmp_path / "nan_points.json").write_text('[{"x": NaN}]')
    return base


@pytest.mark.parametrize("command,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(populated, hpogrid, command, expected):
    before = snapshot(populated)
    result = hpogrid(*command, ok=False)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert_one_error_line(result.stderr)
    assert snapshot(populated) == before, "a failed command changed files"


def assert_one_error_line(stderr: str) -> None:
    """stderr is one line, 'Error: ...', with no control character a user value could have brought in."""
    assert stderr.startswith("Error: ") and stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    raw = [c for c in stderr[:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in "\u202e\u2066"]
    assert not raw, f"unescaped {raw!r} in {stderr!r}"


def test_enough_cases():
    """At least 150 distinct malformed inputs across configs, spaces, CLI options, parameter values,
    search points (test_bad_params), results files (test_bad_records) and output paths (test_report)."""
    from tests import test_bad_params, test_bad_records

    tables = {
        "cli": CASES,
        "params": test_bad_params.CASES,
        "journal": test_bad_records.JOURNAL_CASES,
        "summary": test_bad_records.SUMMARY_CASES,
        "metadata": test_bad_records.METADATA_CASES,
    }
    for cases in tables.values():
        assert len({c[0] for c in cases}) == len(cases), "a case id is used twice"
    assert sum(len(cases) for cases in tables.values()) >= 150


def test_debug_shows_traceback(hpogrid):
    with pytest.raises(Exception, match="num_trials"):
        hpogrid("--debug", "hpo_config", "create", "n", "--num_trials", "0", ok=False)


def test_corrupted_saved_config_is_reported_not_crashed(hpogrid, base):
    hpogrid("hpo_config", "create", "h")
    (base / "config" / "hpo_config" / "h.json").write_text('{"algorithm": "random", "num_trials": "many"}')
    result = hpogrid("hpo_config", "show", "h", ok=False)
    assert result.exit_code == 2
    assert "hpo_config.num_trials" in result.stderr and "h.json" in result.stderr


def test_list_leaves_out_a_corrupted_config_and_says_so(hpogrid, base):
    hpogrid("hpo_config", "create", "good")
    hpogrid("hpo_config", "create", "bad")
    (base / "config" / "hpo_config" / "bad.json").write_text("{not json")
    result = hpogrid("hpo_config", "list")
    assert "good" in result.stdout and "bad" not in result.stdout
    assert "Warning: left out hpo_config 'bad'" in result.stderr and "not valid JSON" in result.stderr


def test_internal_error_is_one_line_saying_how_to_report_it(hpogrid, monkeypatch, tmp_path):
    """Exit 1 is a bug: one line naming the exception and a file holding its traceback, no credentials."""
    from hpogrid.configs.store import ConfigStore

    def broken(self, pattern=None):
        raise KeyError("a\nb")

    monkeypatch.setattr(ConfigStore, "names", broken)
    monkeypatch.setenv("PANDA_AUTH_ID_TOKEN", "secret-token-value")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    result = hpogrid("hpo_config", "list", ok=False)
    assert result.exit_code == 1
    line = result.stderr
    assert line.startswith("Error: internal error (KeyError: 'a\\nb')") and line.count("\n") == 1, line
    assert "please report it" in line and "When something goes wrong" in line
    crash = Path(line.split("with the traceback in ")[1].split(" ")[0])
    assert crash.parent == tmp_path
    text = crash.read_text()
    assert "Traceback" in text and "in broken" in text and "hpogrid hpo_config list" in text
    assert "secret-token-value" not in text


@pytest.mark.parametrize(
    "error",
    [PermissionError(13, "Permission denied"), OSError(28, "No space left on device")],
    ids=["permission", "disk-full"],
)
def test_a_store_that_cannot_be_written_is_exit_2_not_a_bug(hpogrid, base, monkeypatch, error):
    """The machine's refusals (permissions, full disk) are for the user to fix: exit 2, one line."""
    from hpogrid import fileio

    def refuse(*args, **kwargs):
        error.filename = str(base / "config")
        raise error

    monkeypatch.setattr(fileio.tempfile, "mkstemp", refuse)
    result = hpogrid("hpo_config", "create", "h", ok=False)
    assert result.exit_code == 2
    assert_one_error_line(result.stderr)
    assert f"{error.strerror}: {base / 'config'}" in result.stderr
    assert not (base / "config" / "hpo_config" / "h.json").exists()
