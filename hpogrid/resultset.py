"""Results: the trials of a search as a Python object, for notebooks.

The same table, analysis and plots as `hpogrid report` (hpogrid.report), never a second computation:
``best_config``, ``best_value``, ``best_trial``, ``top(k)``, ``to_dataframe()``, ``analyze()``,
``best_model_config(base)``, ``plot.<name>()`` (plotly figures) and ``save_report(folder)``.
"""

from __future__ import annotations

import copy
import html
import json
from functools import cached_property
from pathlib import Path

from hpogrid.report.collect import Trials, flat_config
from hpogrid.results import TrialRecord

# plot.<attribute>() -> the report's plot (hpogrid.report.PLOT_NAMES), and the names users know from
# Ray-Tune HPO modules' visualizers
PLOT_ALIASES = {
    "optimization_history": "history",
    "parameter_importance": "importance",
    "metric_vs_parameter": "slice",
    "distributions": "edf",
}


REPORT_FORMATS = ("html", "csv", "json", "summary")


class Results:
    """The trials of a search, best first by its metric and mode.

    Made by hpogrid.optimize, hpogrid.run_project and hpogrid.load_results (a project's local runs and
    grid tasks, a run folder or a results file).
    """

    def __init__(
        self,
        trials: Trials,
        *,
        title: str | None = None,
        summary: dict | None = None,
        model_param: dict | None = None,
        param_mapping: dict[str, str] | None = None,
    ):
        self.trials = trials
        self.title = title or f"hpogrid report: {trials.project or 'results'}"
        self.summary = summary or {}  # a run's summary.json, for the Results of one run
        self._model_param = copy.deepcopy(model_param or {})
        self._mapping = dict(param_mapping or {})

    # -- what the search found -----------------------------------------------------------------------
    @property
    def metric(self) -> str:
        return self.trials.metric

    @property
    def mode(self) -> str:
        return self.trials.mode

    @property
    def status(self) -> str | None:
        """A run's status ('finished', 'interrupted', 'failed'); None for trials gathered from several."""
        return self.summary.get("status")

    @property
    def run_dir(self) -> Path | None:
        return Path(self.summary["run_dir"]) if self.summary.get("run_dir") else None

    @property
    def warnings(self) -> list[str]:
        """What reading the results left out (unreadable lines, files), one line each."""
        return list(self.trials.warnings)

    @cached_property
    def table(self):
        """The report's table (hpogrid.report.table.Table): every trial, best first."""
        from hpogrid.report.table import build

        return build(self.trials)

    @property
    def records(self) -> list[TrialRecord]:
        """Every trial, best first (trials without a value last)."""
        return list(self.table.records)

    def __len__(self) -> int:
        return len(self.trials.records)

    @property
    def best_trial(self) -> TrialRecord | None:
        """The best trial with a value of the metric; None when no trial has one."""
        scored = self.table.scored()
        return self.table.records[scored.index[0]] if len(scored) else None

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else float(best.value)

    @property
    def best_config(self) -> dict | None:
        """The best trial's hyperparameters, as the search space names and nests them."""
        best = self.best_trial
        return None if best is None else copy.deepcopy(best.config)

    def top(self, k: int = 5):
        """The best k trials as a pandas DataFrame (hyperparameters, metric, extra metrics, status, source)."""
        return self.table.head(k).frame.copy()

    def to_dataframe(self):
        """Every trial as a pandas DataFrame, best first: what `hpogrid report --to_csv` writes."""
        return self.table.frame.copy()

    def analyze(self, k: int = 5) -> dict:
        """The report's analysis: best trial, top k, parameter importance (eta^2), rank correlations, counts."""
        from hpogrid.report.analysis import analyze

        return analyze(self.table, k)

    def best_model_config(self, base: dict | None = None) -> dict:
        """base (default: the project's model_config.param) with the best trial's hyperparameters merged in,
        each at its place: its parameter mapping's target, else its own (dotted or nested) name."""
        from hpogrid.mapping import apply

        best = self.best_trial
        if best is None:
            raise ValueError(f"no trial has a value of {self.metric}: there is no best configuration")
        values = flat_config(best.config, self.trials.hyperparameters)
        return apply(copy.deepcopy(self._model_param if base is None else base), values, self._mapping)

    # -- plots and report ----------------------------------------------------------------------------
    @cached_property
    def plot(self) -> Plots:
        """plot.history(), plot.learning_curves(), plot.slice(), plot.contour(), plot.importance(),
        plot.parallel_coordinates(), plot.timeline(), plot.edf(): plotly figures, as in the HTML report."""
        return Plots(self)

    def save_report(self, folder: str | Path, formats: tuple[str, ...] = REPORT_FORMATS) -> list[Path]:
        """Write the report's files into folder (made if missing): the HTML page, the table as CSV and
        JSON, the analysis; all or none. Returns their paths."""
        from hpogrid.report import Outputs, commit, render

        folder = Path(folder).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        name = self.trials.project or "results"
        outputs = Outputs(folder / name, tuple(formats), self.title)
        files = render(self.table, self.analyze(), outputs)
        commit(files)
        return list(files)

    # -- display --------------------------------------------------------------------------------------
    def _headline(self) -> str:
        best = self.best_trial
        where = f" of run {self.summary['run_id']} ({self.status})" if self.summary.get("run_id") else ""
        if best is None:
            return f"{len(self)} trials{where}; none has a value of {self.metric}"
        return f"{len(self)} trials{where}; best {self.metric} ({self.mode}) {best.value:.6g}, trial {best.trial_id}"

    def __repr__(self) -> str:
        best = self.best_config
        return f"<Results: {self._headline()}" + (f"; config {json.dumps(best, sort_keys=True)}>" if best else ">")

    def _repr_html_(self) -> str:
        """In a notebook: the headline and the five best trials."""
        return f"<p><b>{html.escape(self._headline())}</b></p>" + self.top(5).to_html(index=False, na_rep="-")


class Plots:
    """The report's plots of a Results, as plotly figures (``plotly.graph_objects.Figure``)."""

    def __init__(self, results: Results):
        self._results = results

    def names(self) -> list[str]:
        from hpogrid.report import PLOT_NAMES

        return [name.replace("-", "_") for name in PLOT_NAMES]

    def __dir__(self) -> list[str]:
        return [*self.names(), *PLOT_ALIASES, "names"]

    def __getattr__(self, attribute: str):
        from hpogrid.errors import did_you_mean
        from hpogrid.report import PLOT_NAMES

        name = PLOT_ALIASES.get(attribute, attribute).replace("_", "-")
        if attribute.startswith("_") or name not in PLOT_NAMES:
            close = did_you_mean(attribute, self.__dir__())
            raise AttributeError(f"no plot named '{attribute}'{close}; plots: {', '.join(self.names())}")

        def draw():
            return self._figure(name)

        draw.__name__ = attribute
        draw.__doc__ = PLOT_NAMES[name]
        return draw

    def _figure(self, name: str):
        from hpogrid.errors import require
        from hpogrid.report import html as report_html
        from hpogrid.report import plots

        go = require("plotly.graph_objects", "report", "Results.plot")
        results = self._results
        needs_analysis = name in ("importance", "contour")
        analysis = results.analyze() if needs_analysis else {"importance": []}
        columns = plots.Columns(results.table)
        figure = report_html.figure(name, columns, analysis)
        if figure is None:
            raise ValueError(f"plot {name}: {report_html.NOTHING[name]}")
        return go.Figure(columns.resolve(figure))
