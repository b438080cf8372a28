"""The exit-code contract as a property: for generated malformed configs, spaces and command lines,
every command exits 0 or 2, never with a traceback; a refused command prints one `Error:` line and
leaves the store byte-identical. Exit 1 is kept for real bugs (tested in test_bad_input.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, run_cli, snapshot
from tests.test_bad_input import assert_one_error_line

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# text users type, hostile included: control characters, separators, bidi overrides, long runs
WEIRD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30) | st.sampled_from(
    ["", "-", "--", "nan", "NaN", "inf", "-1", "0", "1e309", "9" * 400, "\x1b[2J", "a\nb", "\u202e", "..", "/"]
)
NUMBER = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, 1, -1, 2**63, 10**400])
)
SCALAR = st.none() | st.booleans() | NUMBER | WEIRD
JSON_VALUE = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WEIRD, inner, max_size=4), max_leaves=12
)
KEYS = ["method", "dimension", "low", "high", "q", "mu", "sigma", "categories", "grid_search", "base", "value"]
KEYS += ["values", "x", "lr", "layers"]
METHODS = ["uniform", "uniformint", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal"]
METHODS += ["qlognormal", "categorical", "fixed", "randint", "choice", "grid_search"]


def json_text(value) -> str:
    """JSON as Python writes it: NaN and Infinity included, as users' own scripts produce them."""
    return json.dumps(value, allow_nan=True)


GOOD_SPACE = {
    "lr": {"method": "loguniform", "dimension": {"low": 1e-5, "high": 0.1}},
    "units": {"method": "uniformint", "dimension": {"low": 8, "high": 128}},
    "batch": {"method": "qloguniform", "dimension": {"low": 16, "high": 256, "q": 16, "base": 2}},
    "decay": {"method": "qlognormal", "dimension": {"mu": 0, "sigma": 1, "q": 0.5}},
    "seed": {"method": "fixed", "dimension": {"value": 7}},
    "opt": {"method": "categorical", "dimension": {"categories": ["adam", "sgd", 3, None]}},
    "drop": {"method": "quniform", "dimension": {"low": 0.0, "high": 0.5, "q": 0.1}},
    "w": {"method": "normal", "dimension": {"mu": 0, "sigma": 1}},
    "net": {"layers": {"method": "uniformint", "dimension": {"low": 1, "high": 4}}},
}


def paths(tree: dict, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested dict."""
    found = []
    for key, value in tree.items():
        found.append((*prefix, key))
        if isinstance(value, dict):
            found += paths(value, (*prefix, key))
    return found


@st.composite
def mutated_space(draw) -> dict:
    """A good search space with one to three of its fields replaced, removed or added: most checks
    past the first are reached, and some mutants are still good."""
    space = json.loads(json.dumps(GOOD_SPACE))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(space)))
        parent = space
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["set", "set", "delete", "add", "rename"]))
        if action == "set":
            parent[path[-1]] = draw(NUMBER | st.sampled_from(METHODS) | JSON_VALUE)
        elif action == "delete" and len(parent) > 1:
            del parent[path[-1]]
        elif action == "add" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(KEYS) | WEIRD)] = draw(JSON_VALUE)
        elif action == "rename":
            parent[draw(st.sampled_from(KEYS) | WEIRD)] = parent.pop(path[-1])
    return space


HPO_OPTIONS = {
    "--algorithm": st.sampled_from(["random", "optuna", "hyperopt", "bohb", "skopt", "grid"]) | WEIRD,
    "--metric": st.sampled_from(["loss", "accuracy"]) | WEIRD,
    "--mode": st.sampled_from(["min", "max"]) | WEIRD,
    "--scheduler": st.sampled_from(["fifo", "asynchyperband", "hyperband", "median", "pbt", "pb2"]) | WEIRD,
    "--num_trials": NUMBER.map(str) | WEIRD,
    "--max_concurrent": NUMBER.map(str) | WEIRD,
    "--stop": JSON_VALUE.map(json_text) | WEIRD,
    "--scheduler_param": JSON_VALUE.map(json_text) | WEIRD,
    "--algorithm_param": JSON_VALUE.map(json_text) | WEIRD,
    "--extra_metrics": WEIRD,
    "--resource": JSON_VALUE.map(json_text) | WEIRD,
    "--seed": NUMBER.map(str) | WEIRD,
    "--log_dir": WEIRD,
}
GRID_OPTIONS = {
    "--site": WEIRD,
    "--container": WEIRD,
    "--retry": NUMBER.map(str) | WEIRD,
    "--inDS": WEIRD,
    "--outDS": WEIRD,
}
MODEL_OPTIONS = {
    "--script": WEIRD,
    "--model": WEIRD,
    "--param": JSON_VALUE.map(json_text) | WEIRD,
}


def options(table: dict) -> st.SearchStrategy[list[str]]:
    """Some of the options of a command, each with a generated value."""
    return st.dictionaries(st.sampled_from(sorted(table)), st.just(None), max_size=len(table)).flatmap(
        lambda chosen: st.tuples(*(table[name] for name in chosen)).map(
            lambda values: [token for name, value in zip(chosen, values, strict=True) for token in (name, value)]
        )
    )


@pytest.fixture(autouse=True)
def _crash_files_here(tmp_path, monkeypatch):
    """A bug's traceback file, should one be written, lands in the test's folder."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))


def check(base, *args: str) -> None:
    """The contract for one command line."""
    before = snapshot(base)
    result = run_cli(*args)
    assert result.exit_code in (0, 2), f"exit {result.exit_code} for {args!r}:\n{result.output}"
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert_one_error_line(result.stderr)
        assert snapshot(base) == before, f"a refused command changed the store: {args!r}"


@PROPERTY
@given(argv=options(HPO_OPTIONS), action=st.sampled_from(["create", "update", "recreate"]))
def test_hpo_config(base, argv, action):
    if action != "create":
        run_cli("hpo_config", "recreate", "h")
    check(base, "hpo_config", action, "h" if action != "create" else "new", *argv)


@PROPERTY
@given(argv=options(GRID_OPTIONS))
def test_grid_config(base, argv):
    check(base, "grid_config", "create", "g", *argv)


@PROPERTY
@given(argv=options(MODEL_OPTIONS))
def test_model_config(base, argv):
    check(base, "model_config", "create", "m", *argv)


@PROPERTY
@given(space=mutated_space() | JSON_VALUE, action=st.sampled_from(["create", "update"]))
def test_search_space(base, space, action):
    if action == "update":
        run_cli("search_space", "recreate", "s", '{"x": {"method": "uniform", "dimension": {"low": 0, "high": 1}}}')
    check(base, "search_space", action, "s", json_text(space))


@PROPERTY
@given(space=mutated_space(), algorithm=st.sampled_from(["random", "optuna", "hyperopt", "skopt", "grid", "bohb"]))
def test_project_with_generated_space(base, tmp_path, space, algorithm):
    """A project bundles a generated space (from a file, as users keep them) with an algorithm."""
    scheduler = ["--scheduler", "bohbhyperband"] if algorithm == "bohb" else []
    run_cli("hpo_config", "recreate", "h", "--algorithm", algorithm, *scheduler)
    run_cli("model_config", "recreate", "m", "--script", "simple_objective.py", "--model", "simple_objective")
    (tmp_path / "space.json").write_text(json_text(space))
    args = ["--hpo_config", "h", "--model_config", "m", "--search_space", str(tmp_path / "space.json")]
    check(base, "project", "recreate", "p", "--scripts_path", str(EXAMPLES / "simple_objective.py"), *args)


COMMANDS = [
    ["hpo_config", "create"],
    ["hpo_config", "show"],
    ["hpo_config", "remove"],
    ["search_space", "create"],
    ["model_config", "update"],
    ["grid_config", "list"],
    ["project", "create"],
    ["project", "show"],
    ["project", "remove"],
    ["report"],
    ["local_run"],
    ["run"],
    [],
]
TOKENS = (
    st.sampled_from(
        ["--num_trials", "--algorithm", "--stop", "--scripts_path", "--search_points", "-o", "--json", "--debug"]
        + ["--help", "--resume", "--dry-run", "--n_jobs", "--metric", "--outcol", "--limit", "--days", "-x", "p", "h"]
    )
    | WEIRD
)


@PROPERTY
@given(command=st.sampled_from(COMMANDS), tokens=st.lists(TOKENS, max_size=6))
def test_command_lines(base, command, tokens):
    """Generated command lines: unknown options, missing values, weird names. No project exists, so
    none of them reaches the grid or starts Ray."""
    if "--debug" in tokens:
        tokens = [t for t in tokens if t != "--debug"]  # --debug shows tracebacks by design
    check(base, *command, *tokens)


GOOD_RECORD = {
    "trial_id": "t_00001",
    "config": {"lr": 0.01, "opt": "adam"},
    "metric": "loss",
    "value": 0.5,
    "status": "terminated",
    "iterations": 3,
    "extra": {"accuracy": 0.9},
    "history": {"iteration": [1, 2, 3], "loss": [0.9, 0.7, 0.5]},
    "duration_s": 1.5,
}


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy, ratio: int = 4) -> st.SearchStrategy:
    """usual about ratio times as often as odd."""
    return st.one_of(*[usual] * ratio, odd)


@st.composite
def journal_line(draw) -> bytes:
    """A trial record with fields replaced, removed or added, or a line that is no record at all."""
    record = json.loads(json.dumps(GOOD_RECORD))
    record["trial_id"] = f"t_{draw(st.integers(0, 10**6)):05d}"
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths(record)))
        parent = record
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            parent[path[-1]] = draw(NUMBER | JSON_VALUE)
        else:
            del parent[path[-1]]
    text = json_text(record).encode()
    return draw(mostly(st.just(text), st.binary(max_size=40) | st.just(text[: len(text) // 2]), 3))


@PROPERTY
@given(lines=st.lists(journal_line(), min_size=1, max_size=8), extra=st.sampled_from([[], ["--analyze"]]))
def test_report_of_a_generated_journal(base, tmp_path, lines, extra):
    """report FILE on generated records: exit 0 with the good ones, or 2 when none is good; never a bug."""
    path = tmp_path / "trials.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    check(base, "report", str(path), "--mode", "min", *extra)
