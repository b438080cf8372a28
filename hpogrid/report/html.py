"""Self-contained HTML pages of a report: plotly.js is embedded, so a page works offline, mailed or
copied anywhere. The full page has the best trial, every plot of PLOTS (each also on a page of its
own: `--plot NAME`) and the sortable table (click a column header).
"""

from __future__ import annotations

import html
import json
from typing import Any

from hpogrid.report import plots
from hpogrid.report.table import Table

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}td.t{text-align:left}
.scroll{max-height:600px;overflow:auto;border:1px solid #ddd}.best{background:#eef8ee;padding:10px 14px}
.plot{width:100%;min-height:300px}.note{color:#555;font-size:.9em}code{background:#f3f3f3;padding:1px 4px}
"""

# sorts the table on a header click (numbers as numbers, empty cells last); marks the page as drawn
SCRIPT = """
function hgSort(th){const table=th.closest('table'),body=table.tBodies[0],i=th.cellIndex;
const down=th.dataset.dir!=='asc';th.dataset.dir=down?'asc':'desc';
const key=tr=>{const t=tr.cells[i].textContent;const n=parseFloat(t);
return t===''||t==='-'?null:(isNaN(n)||!isFinite(t)?t:n)};
const rows=Array.from(body.rows);rows.sort((a,b)=>{const x=key(a),y=key(b);if(x===null)return 1;if(y===null)return -1;
const c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));return down?c:-c});
rows.forEach(r=>body.appendChild(r))}
document.querySelectorAll('th').forEach(th=>th.addEventListener('click',()=>hgSort(th)));
const hgResolve=v=>Array.isArray(v)?v.map(hgResolve):(v&&typeof v==='object')?
(('$column' in v)?HG_COLUMNS[v.$column]:Object.fromEntries(Object.entries(v).map(([k,x])=>[k,hgResolve(x)]))):v;
Promise.all(Object.entries(HG_FIGURES).map(([id,f])=>Plotly.newPlot(id,hgResolve(f.data),f.layout,
{responsive:true,displaylogo:false})))
.then(()=>{document.body.dataset.plotted=Object.keys(HG_FIGURES).length});
"""


def plotly_js() -> str:
    from hpogrid.errors import require

    require("plotly", "report", "The HTML report")
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _page(title: str, body: str, figures: dict[str, dict], columns: plots.Columns) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><script>{plotly_js()}</script></head>\n<body>\n{body}\n"
        f"<script>const HG_COLUMNS={_script_json(columns.data)};\nconst HG_FIGURES={_script_json(figures)};"
        f"{SCRIPT}</script>\n</body></html>\n"
    )


def table_html(table: Table) -> str:
    """The sortable table; cells are formatted a column at a time (fast for 10,000 rows)."""
    frame = table.frame
    head = "".join(f"<th title='sort'>{html.escape(str(c))}</th>" for c in ["#", *frame.columns])
    cells = [[f"<td>{i}</td>" for i in range(1, len(frame) + 1)]]
    for column in frame.columns:
        series = frame[column]
        if series.dtype.kind in "if":
            cells.append([f"<td>{v:.6g}</td>" if v == v else "<td></td>" for v in series.to_numpy(float).tolist()])
        else:
            cells.append([f"<td class='t'>{_text(v)}</td>" for v in series.tolist()])
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in zip(*cells, strict=True))
    table_tag = f"<table id='hg-table'><thead><tr>{head}</tr></thead>"
    return f"<div class='scroll'>{table_tag}<tbody>\n{body}\n</tbody></table></div>"


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


# name (as in --plot): element id, heading, what it shows
PLOTS: dict[str, tuple[str, str, str]] = {
    "history": (
        "hg-history",
        "Optimization history",
        "Each trial's metric in the order the trials started, coloured by run or grid task (crosses: stopped "
        "early), and the best so far. The y axis is logarithmic when the values are positive and span decades.",
    ),
    "learning-curves": (
        "hg-curves",
        "Learning curves",
        "Each trial's metric at every iteration it reported, coloured by how the trial ended.",
    ),
    "slice": (
        "hg-scatter",
        "Metric against each parameter (slice)",
        "One panel per hyperparameter; log-scale parameters on log axes, categorical ones on labelled axes.",
    ),
    "contour": (
        "hg-contour",
        "Contour of the two most important parameters",
        "The mean metric per cell over the two parameters that explain most of its variance; dots: trials.",
    ),
    "importance": (
        "hg-importance",
        "Parameter importance",
        "eta^2: the share of the metric's variance each parameter explains alone.",
    ),
    "parallel-coordinates": (
        "hg-pcp",
        "Parallel coordinates",
        "One line per trial through every parameter and the metric; drag on an axis to select a range.",
    ),
    "timeline": (
        "hg-timeline",
        "Timeline",
        "Each trial from its start to its end on the wall clock, one row per worker (host or grid job).",
    ),
    "edf": (
        "hg-edf",
        "Empirical distribution (EDF)",
        "Per run or grid task, the share of its trials whose metric is at most x: compares runs and tasks.",
    ),
}
NOTHING = {  # why a plot is not drawn
    "history": "No trial has a value of the metric.",
    "learning-curves": "No trial recorded the metric at each iteration.",
    "slice": "The project has no hyperparameter.",
    "contour": "It needs two hyperparameters with two values or more among the trials.",
    "importance": "No parameter importance: too few trials with a value, or all of one value.",
    "parallel-coordinates": "The project has no hyperparameter.",
    "timeline": "No trial has a start and an end time.",
    "edf": "No trial has a value of the metric.",
}


def figure(name: str, columns: plots.Columns, analysis: dict) -> dict | None:
    """The figure of the named plot; None when there is nothing to draw."""
    from hpogrid.report import parameter_plots, timeline

    table = columns.table
    if name in ("history", "edf") and not len(columns.frame):
        return None
    builders = {
        "history": lambda: plots.history(columns),
        "learning-curves": lambda: plots.learning_curves(table),
        "slice": lambda: parameter_plots.slice_plot(columns),
        "contour": lambda: parameter_plots.contour(columns, analysis),
        "importance": lambda: plots.importance(analysis),
        "parallel-coordinates": lambda: parameter_plots.parallel_coordinates(columns),
        "timeline": lambda: timeline.timeline(table),
        "edf": lambda: plots.edf(columns),
    }
    return builders[name]()


def _sections(
    names: list[str], columns: plots.Columns, analysis: dict, headings: bool = True
) -> tuple[list[str], dict[str, dict]]:
    sections, figures = [], {}
    for name in names:
        element, heading, caption = PLOTS[name]
        drawn = figure(name, columns, analysis)
        if headings:
            sections.append(f"<h2 id='{name}'>{html.escape(heading)}</h2>")
        if drawn is None:
            sections.append(f"<p class='note'>{html.escape(NOTHING[name])}</p>")
            continue
        figures[element] = drawn
        sections.append(f"<p class='note'>{html.escape(caption)}</p><div id='{element}' class='plot'></div>")
    return sections, figures


def report_page(table: Table, analysis: dict, title: str, top: int | None = None) -> str:
    """The full report page: the plots show every trial of the table, the table its best top rows."""
    best = analysis["best"]
    if best:
        best_html = (
            f"<div class='best'><b>Best {html.escape(table.metric)} ({table.mode}):</b> {best['value']:.6g} "
            f"&nbsp; <span>{html.escape(best['source'])}</span><br><code>"
            f"{html.escape(json.dumps(best['config'], sort_keys=True))}</code></div>"
        )
    else:
        best_html = f"<div class='best'>No trial has a value of {html.escape(table.metric)}.</div>"
    counts = ", ".join(f"{v} {html.escape(k)}" for k, v in analysis["counts"].items())
    columns = plots.Columns(table)
    contents = " · ".join(f"<a href='#{name}'>{html.escape(PLOTS[name][1])}</a>" for name in PLOTS)
    plotted, figures = _sections(list(PLOTS), columns, analysis)
    shown = table.head(top)
    more = (
        f" (the best {len(shown.records)} of {len(table.records)}: --top)"
        if len(shown.records) < len(table.records)
        else ""
    )
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{analysis['trials']} trials ({counts}); metric <b>{html.escape(table.metric)}</b>, mode {table.mode}.</p>",
        best_html,
        f"<p class='note'>{contents} · <a href='#trials'>All trials</a></p>",
        *plotted,
        f"<h2 id='trials'>All trials{more}</h2><p>Click a column header to sort.</p>",
        table_html(shown),
    ]
    return _page(title, "\n".join(sections), figures, columns)


def plot_page(table: Table, analysis: dict, name: str, title: str) -> str:
    """One plot on its own page (`--plot NAME`)."""
    columns = plots.Columns(table)
    sections, figures = _sections([name], columns, analysis, headings=False)  # the title says which
    return _page(title, f"<h1>{html.escape(title)}</h1>\n" + "\n".join(sections), figures, columns)


def pcp_page(table: Table, title: str) -> str:
    """Parallel coordinates on their own page (`--to_pcp`)."""
    return plot_page(table, {"importance": []}, "parallel-coordinates", title)
