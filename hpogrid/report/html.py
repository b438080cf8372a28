"""Self-contained HTML pages of a report: plotly.js is embedded, so a page works offline, mailed or
copied anywhere. The full page has the best trial, the sortable table (click a column header),
optimization history, parameter importance, parallel coordinates and metric-against-parameter plots.
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
.plot{width:100%;min-height:300px}code{background:#f3f3f3;padding:1px 4px}
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
Promise.all(Object.entries(HG_FIGURES).map(([id,f])=>Plotly.newPlot(id,f.data,f.layout,{responsive:true,displaylogo:false})))
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


def _page(title: str, body: str, figures: dict[str, dict]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><script>{plotly_js()}</script></head>\n<body>\n{body}\n"
        f"<script>const HG_FIGURES={_script_json(figures)};{SCRIPT}</script>\n</body></html>\n"
    )


def table_html(table: Table) -> str:
    frame = table.frame
    head = "".join(f"<th title='sort'>{html.escape(str(c))}</th>" for c in ["#", *frame.columns])
    numeric = {c: frame[c].dtype.kind in "if" for c in frame.columns}
    lines = []
    for position, row in enumerate(frame.itertuples(index=False, name=None), start=1):
        cells = [f"<td>{position}</td>"]
        for column, value in zip(frame.columns, row, strict=True):
            cells.append(f"<td>{_text(value)}</td>" if numeric[column] else f"<td class='t'>{_text(value)}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<div class='scroll'><table id='hg-table'><thead><tr>{head}</tr></thead><tbody>\n"
        + "\n".join(lines)
        + ("\n</tbody></table></div>")
    )


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def report_page(table: Table, analysis: dict, title: str) -> str:
    """The full report page."""
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
    figures = {"hg-history": plots.history(table), "hg-importance": plots.importance(analysis)}
    if table.params:
        figures["hg-pcp"] = plots.parallel_coordinates(table)
        figures["hg-scatter"] = plots.metric_vs_parameters(table)
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{analysis['trials']} trials ({counts}); metric <b>{html.escape(table.metric)}</b>, mode {table.mode}.</p>",
        best_html,
        "<h2>Optimization history</h2><div id='hg-history' class='plot'></div>",
        "<h2>Parameter importance</h2><div id='hg-importance' class='plot'></div>",
    ]
    if table.params:
        sections += [
            "<h2>Parallel coordinates</h2><div id='hg-pcp' class='plot'></div>",
            "<h2>Metric against each parameter</h2><div id='hg-scatter' class='plot'></div>",
        ]
    sections += ["<h2>All trials</h2><p>Click a column header to sort.</p>", table_html(table)]
    return _page(title, "\n".join(sections), figures)


def pcp_page(table: Table, title: str) -> str:
    """Parallel coordinates on their own page."""
    body = f"<h1>{html.escape(title)}</h1><div id='hg-pcp' class='plot'></div>"
    return _page(title, body, {"hg-pcp": plots.parallel_coordinates(table)})
