"""The example notebook (example/notebook.ipynb), executed headless in a real Jupyter kernel (nbclient):
every cell runs without error, the progress and Results show in the cells' outputs, Ray's messages do not,
and the report files it saves are there."""

from __future__ import annotations

import json

import nbclient
import pytest

from tests.conftest import REPO


def _text(output: dict) -> str:
    if output["output_type"] == "stream":
        return output["text"]
    data = output.get("data", {})
    return data.get("text/plain", "") + data.get("text/html", "")


@pytest.mark.timeout(600)
def test_the_example_notebook_runs_headless(base, tmp_path, monkeypatch):
    import nbformat

    notebook = nbformat.read(REPO / "example" / "notebook.ipynb", as_version=4)
    monkeypatch.setenv("HPOGRID_BASE_PATH", str(base))  # the kernel inherits it
    client = nbclient.NotebookClient(
        notebook, timeout=500, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in code for o in cell.outputs if o["output_type"] == "error"]
    assert not errors, errors
    search = "".join(_text(o) for o in code[1].outputs)
    assert "10/10 done" in search and "<Results: 10 trials of run" in search, search[-3000:]
    assert "INFO" not in search and "ray" not in search.lower().replace("ray tune", ""), search[-3000:]
    assert "<table" in "".join(_text(o) for o in code[2].outputs)
    importance = "".join(_text(o) for o in code[3].outputs)
    assert all(name in importance for name in ("lr", "hidden", "batch_size"))
    best_model = "".join(_text(o) for o in code[4].outputs)
    assert "'learning_rate'" in best_model and "'epochs': 8" in best_model
    for cell in code[5:7]:  # the plots, as plotly figures the notebook renders
        assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in cell.outputs)
    written = sorted(p.name for p in (tmp_path / "digits_nb_report").iterdir())
    assert written == ["digits_nb.csv", "digits_nb.html", "digits_nb.json", "digits_nb_summary.json"]
    summary = json.loads((tmp_path / "digits_nb_report/digits_nb_summary.json").read_text())
    assert summary["best"]["value"] > 0.9  # digits: a real model, trained
