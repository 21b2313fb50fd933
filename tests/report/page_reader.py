"""Reading the report's figures back: from the rendered page (JavaScript run in Chromium) or,
without a browser, from the HTML text. Both give the same structure:

    as_of, title, sources [{name, crm, deals, duplicates}], kpis {metric: {v, t}},
    board [{stage, source, deals, amount}], board_columns [{stage, deals, amount}],
    sections {key: {title, omitted, facts {name: value}}},
    tables {figure: [{column: {v, t}}]}, charts {key: {traces: [{name, type, x, y}], ...}}

``v`` is a cell's raw value (its ``data-value``; None = NULL), ``t`` the text people see.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

EXTRACT_JS = r"""
(() => {
  const raw = el => el.hasAttribute('data-value') ? el.getAttribute('data-value') : null;
  const text = el => el.innerText.trim();
  const out = {title: document.title, as_of: null, sources: [], kpis: {}, board: [],
               board_columns: [], sections: {}, tables: {}, charts: {}};
  const t = document.querySelector('time[data-as-of]');
  out.as_of = t ? t.getAttribute('data-as-of') : null;
  document.querySelectorAll('.chip[data-source]').forEach(c => out.sources.push(
    {name: c.dataset.source, crm: c.dataset.crm, deals: c.dataset.deals,
     duplicates: c.getAttribute('data-duplicates')}));
  document.querySelectorAll('main section[id]').forEach(s => {
    const facts = {};
    Array.from(s.attributes).filter(a => a.name.startsWith('data-fact-')).forEach(a => {
      facts[a.name.slice('data-fact-'.length)] = a.value; });
    out.sections[s.id] = {title: s.querySelector('h2').textContent,
                          omitted: s.hasAttribute('data-omitted'), facts: facts};
  });
  document.querySelectorAll('.kpi[data-metric]').forEach(k => {
    out.kpis[k.dataset.metric] = {v: raw(k), t: text(k.querySelector('.value'))}; });
  document.querySelectorAll('.stage[data-stage]').forEach(s => out.board_columns.push(
    {stage: s.dataset.stage, deals: s.dataset.deals, amount: s.getAttribute('data-amount')}));
  document.querySelectorAll('.card[data-stage]').forEach(c => out.board.push(
    {stage: c.dataset.stage, source: c.dataset.source, deals: c.dataset.deals,
     amount: c.getAttribute('data-amount')}));
  document.querySelectorAll('table.figures[data-figure]').forEach(table => {
    out.tables[table.dataset.figure] = Array.from(table.tBodies[0].rows).map(tr => {
      const row = {};
      Array.from(tr.cells).forEach(td => {
        row[td.dataset.key] = {v: raw(td), t: td.textContent.trim()}; });
      return row;
    });
  });
  document.querySelectorAll('[data-chart]').forEach(el => {
    const drawn = Array.from(el.querySelectorAll('g.trace path')).filter(p => {
      const d = p.getAttribute('d') || '';
      const box = p.getBBox ? p.getBBox() : {width: 0, height: 0};
      return d.length > 6 && d !== 'M0,0Z' && (box.width > 0 || box.height > 0);
    }).length;
    const rect = el.getBoundingClientRect();
    out.charts[el.dataset.chart] = {
      svgs: el.querySelectorAll('svg.main-svg').length,
      trace_groups: el.querySelectorAll('g.trace').length,
      drawn_paths: drawn,
      width: rect.width, height: rect.height,
      traces: (el.data || []).map(tr => ({name: tr.name === undefined ? null : tr.name,
                                          type: tr.type || 'scatter',
                                          x: Array.from(tr.x || []), y: Array.from(tr.y || [])})),
    };
  });
  return JSON.stringify(out);
})()
"""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: dict[str, Any] = {
            "title": "",
            "as_of": None,
            "sources": [],
            "kpis": {},
            "board": [],
            "board_columns": [],
            "sections": {},
            "tables": {},
            "charts": {},
        }
        self._stack: list[tuple[str, dict[str, str | None]]] = []
        self._table: list[dict[str, Any]] | None = None
        self._row: dict[str, Any] | None = None
        self._cell: dict[str, Any] | None = None
        self._kpi: str | None = None
        self._kpi_value = False
        self._in_title = False
        self._section: dict[str, Any] | None = None
        self._in_h2 = False
        self._in_specs = False
        self._specs = ""

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attrs_list)
        classes = (attrs.get("class") or "").split()
        if tag == "title":
            self._in_title = True
        elif tag == "time" and "data-as-of" in attrs:
            self.out["as_of"] = attrs["data-as-of"]
        elif "chip" in classes and "data-source" in attrs:
            self.out["sources"].append(
                {
                    "name": attrs["data-source"],
                    "crm": attrs["data-crm"],
                    "deals": attrs["data-deals"],
                    "duplicates": attrs.get("data-duplicates"),
                }
            )
        elif tag == "section" and attrs.get("id"):
            self._section = {
                "title": "",
                "omitted": "data-omitted" in attrs,
                "facts": {
                    k.removeprefix("data-fact-"): v
                    for k, v in attrs.items()
                    if k.startswith("data-fact-")
                },
            }
            self.out["sections"][attrs["id"]] = self._section
        elif tag == "h2" and self._section is not None:
            self._in_h2 = True
        elif "kpi" in classes:
            self._kpi = attrs["data-metric"]
            self.out["kpis"][self._kpi] = {"v": attrs.get("data-value"), "t": ""}
        elif self._kpi and "value" in classes:
            self._kpi_value = True
        elif "stage" in classes and "data-stage" in attrs:
            self.out["board_columns"].append(
                {
                    "stage": attrs["data-stage"],
                    "deals": attrs["data-deals"],
                    "amount": attrs.get("data-amount"),
                }
            )
        elif "card" in classes and "data-stage" in attrs:
            self.out["board"].append(
                {
                    "stage": attrs["data-stage"],
                    "source": attrs["data-source"],
                    "deals": attrs["data-deals"],
                    "amount": attrs.get("data-amount"),
                }
            )
        elif tag == "table" and "figures" in classes:
            self._table = self.out["tables"].setdefault(attrs["data-figure"], [])
        elif tag == "tr" and self._table is not None:
            self._row = {}
        elif tag == "td" and self._row is not None:
            self._cell = {"v": attrs.get("data-value"), "t": ""}
            self._row[attrs["data-key"] or ""] = self._cell
        elif tag == "script" and attrs.get("id") == "hub-chart-specs":
            self._in_specs = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "h2":
            self._in_h2 = False
        elif tag == "section":
            self._section = None
        elif tag == "td":
            if self._cell is not None:
                self._cell["t"] = self._cell["t"].strip()
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "div" and self._kpi_value:
            self._kpi_value = False
            self._kpi = None
        elif tag == "script" and self._in_specs:
            self._in_specs = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.out["title"] += data
        if self._in_h2 and self._section is not None:
            self._section["title"] += data
        if self._cell is not None:
            self._cell["t"] += data
        if self._kpi_value and self._kpi:
            self.out["kpis"][self._kpi]["t"] += data.strip()
        if self._in_specs:
            self._specs += data


def read_html(text: str) -> dict[str, Any]:
    """The page's figures from its HTML alone; charts as specified (not as rendered)."""
    reader = _Reader()
    reader.feed(text)
    reader.close()
    specs = json.loads(reader._specs) if reader._specs else {}
    for key, spec in specs.items():
        reader.out["charts"][key] = {
            "traces": [
                {
                    "name": tr.get("name"),
                    "type": tr.get("type", "scatter"),
                    "x": list(tr.get("x") or []),
                    "y": list(tr.get("y") or []),
                }
                for tr in spec.get("data", [])
            ]
        }
    return reader.out
