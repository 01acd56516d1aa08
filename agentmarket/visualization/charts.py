"""Vega-Lite specifications for the dashboard's charts, as plain dicts.

Specs are built directly (not through Altair) because they are rebuilt every month while the
model plays: a dict of a few hundred rows costs well under a millisecond, and the browser
draws it with vega-embed from the local asset cache.

Data that changes from month to month is a named inline data source
(``{"name": ..., "values": ...}``); :func:`split_datasets` moves those rows out so the browser
keeps the compiled chart and only swaps rows. Data fixed for a run stays inline.

Shares are drawn as percentages, revenue in million USD per month, prices in the units of
:func:`agentmarket.visualization.state.snapshot`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from agentmarket.visualization.state import LAYERS, PinnedRun

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH = 360
HEIGHT = 170
LIVE = "live"
NOT_ADOPTED = "not adopted"
LAB_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
BINDING_COLOUR = "#d62728"
COLUMN_OF_KIND = {"supplier": None, "cloud": 4, "lab": 5, "buyer": 5, "market": 6}
COLUMN_OF_LAYER = {layer: i for i, layer in enumerate(LAYERS)}

Rows = Sequence[dict[str, Any]]
X_MONTH = {"field": "date", "type": "temporal", "timeUnit": "yearmonth", "title": None, "axis": {"format": "%Y-%m"}}


def _month(date: str) -> str:
    return f"{date}-01"


def _base(title: str, data: list[dict[str, Any]], height: int = HEIGHT) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": WIDTH,
        "height": height,
        "data": {"name": "table", "values": data},
        "config": {"view": {"stroke": None}},
    }


def _runs(history: Rows, pinned: PinnedRun | None) -> Iterable[tuple[str, Rows]]:
    yield LIVE, history
    if pinned is not None:
        yield f"pinned: {pinned.label}", pinned.history


def _dash(pinned: PinnedRun | None) -> dict[str, Any]:
    """Solid for the live run, dashed for the pinned one."""
    if pinned is None:
        return {}
    return {
        "strokeDash": {
            "field": "run",
            "type": "nominal",
            "title": "run",
            "scale": {"domain": [LIVE, f"pinned: {pinned.label}"], "range": [[1, 0], [5, 3]]},
        }
    }


def band_rows(
    band: Sequence[Rows], extract: Callable[[dict[str, Any]], dict[str, float]]
) -> list[dict[str, Any]] | None:
    """Median and 5-95% band over the runs of an ensemble, for each month and series.

    ``band`` holds each run's months (all of the same length, as the runs step together);
    ``extract`` maps one month's snapshot to ``{series: value}``. None for fewer than two runs
    (no band is drawn); an empty list before the first month (the band's layers are there,
    so the chart's frame does not change when the first month arrives).
    """
    if len(band) < 2:
        return None
    months = min(len(h) for h in band)
    if months == 0:
        return []
    names = list(extract(band[0][0]))
    values = np.array(
        [[[month.get(name, np.nan) for name in names] for month in map(extract, h[:months])] for h in band],
        dtype=float,
    )  # runs x months x series
    lo, med, hi = np.nanpercentile(values, [5, 50, 95], axis=0)
    dates = [_month(row["date"]) for row in band[0][:months]]
    return [
        {"date": dates[t], "series": name, "lo": lo[t, k], "median": med[t, k], "hi": hi[t, k]}
        for t in range(months)
        for k, name in enumerate(names)
    ]


def event_rows(events: Iterable[Any], kinds: Iterable[str]) -> list[dict[str, Any]]:
    """The events of the given kinds as rows (date, text) for the annotation layers."""
    wanted = set(kinds)
    return [{"date": _month(e.date), "text": e.text, "kind": e.kind} for e in events if e.kind in wanted]


def _band_layers(
    band: list[dict[str, Any]] | None, x: dict[str, Any], y_title: str, y_axis: dict[str, Any]
) -> list[dict]:
    """An area from the 5th to the 95th percentile and a dotted median, per series; none without a band."""
    if band is None:
        return []
    color = {"field": "series", "type": "nominal", "title": None}
    return [
        {
            "data": {"name": "band", "values": band},
            "mark": {"type": "area", "opacity": 0.18},
            "encoding": {
                "x": x,
                "y": {"field": "lo", "type": "quantitative", "title": y_title, **y_axis},
                "y2": {"field": "hi"},
                "color": color,
            },
        },
        {
            "data": {"name": "band", "values": band},
            "mark": {"type": "line", "strokeWidth": 1, "strokeDash": [2, 2]},
            "encoding": {"x": x, "y": {"field": "median", "type": "quantitative"}, "color": color},
        },
    ]


def _event_layers(events: list[dict[str, Any]] | None, x: dict[str, Any]) -> list[dict]:
    """Grey rules at each event's month with a short label at the top of the chart.

    Present whenever the chart shows events (``events`` not None), with no rows until one
    happens, so the chart's frame stays the same from month to month.
    """
    if events is None:
        return []
    return [
        {
            "data": {"name": "events", "values": events},
            "mark": {"type": "rule", "color": "#888888", "strokeDash": [3, 3], "strokeWidth": 1},
            "encoding": {"x": x, "tooltip": [{"field": "text", "title": "event"}]},
        },
        {
            "data": {"name": "events", "values": events},
            "mark": {"type": "text", "angle": 270, "align": "right", "baseline": "bottom", "fontSize": 9, "dy": -2},
            "encoding": {"x": x, "y": {"value": 2}, "text": {"field": "text"}, "color": {"value": "#555555"}},
        },
    ]


def _line_chart(
    title: str,
    rows: list[dict[str, Any]],
    y_title: str,
    pinned: PinnedRun | None,
    y_format: str = "",
    band: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Lines of the selected (and pinned) run over the ensemble's median and 5-95% band, with events."""
    y_axis: dict[str, Any] = {"axis": {"format": y_format}} if y_format else {}
    y: dict[str, Any] = {"field": "value", "type": "quantitative", "title": y_title, **y_axis}
    spec = _base(title, rows)
    line = {
        "data": spec.pop("data"),
        "mark": {"type": "line", "strokeWidth": 2},
        "encoding": {
            "x": X_MONTH,
            "y": y,
            "color": {"field": "series", "type": "nominal", "title": None},
            **_dash(pinned),
        },
    }
    spec["layer"] = [*_band_layers(band, X_MONTH, y_title, y_axis), line, *_event_layers(events, X_MONTH)]
    return spec


def market_fields(fields: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, float]]:
    """A month's market-wide ``fields`` as ``{series name: value}`` (``fields`` maps key to name)."""

    def extract(row: dict[str, Any]) -> dict[str, float]:
        return {name: float(row[key]) for key, name in fields.items()}

    return extract


def lab_field(metric: str, scale: float = 1.0) -> Callable[[dict[str, Any]], dict[str, float]]:
    """One lab metric of a month as ``{lab: value / scale}``."""

    def extract(row: dict[str, Any]) -> dict[str, float]:
        return {lab: values[metric] / scale for lab, values in row["labs"].items()}

    return extract


def market_rows(history: Rows, pinned: PinnedRun | None, fields: dict[str, str]) -> list[dict[str, Any]]:
    """Long rows (date, series, value, run) for market-wide fields; ``fields`` maps key to series name."""
    return [
        {"date": _month(row["date"]), "series": name, "value": row[key], "run": run}
        for run, rows in _runs(history, pinned)
        for row in rows
        for key, name in fields.items()
    ]


def lab_rows(history: Rows, pinned: PinnedRun | None, metric: str, scale: float = 1.0) -> list[dict[str, Any]]:
    """Long rows of one lab metric per lab, divided by ``scale``."""
    return [
        {"date": _month(row["date"]), "series": lab, "value": values[metric] / scale, "run": run}
        for run, rows in _runs(history, pinned)
        for row in rows
        for lab, values in row["labs"].items()
    ]


LAB_EVENTS = ("exit", "funding round")
LAYER_EVENTS = ("binding starts", "binding stops")
ADOPTION_FIELDS = {"adoption_share": "adoption", "agent_work_share": "agent work share"}
PRICE_PANELS = (
    ("subscription_price", "subscription", "USD/month", ",.0f"),
    ("compute_price", "compute", "USD/acc-hour", ",.2f"),
    ("memory_price", "memory", "USD per acc's HBM", ",.0f"),
)


def adoption_chart(
    history: Rows, pinned: PinnedRun | None = None, band: Sequence[Rows] = (), events: Sequence[Any] = ()
) -> dict[str, Any]:
    """Share of developers who adopted and share of all developers' work done by agents."""
    rows = market_rows(history, pinned, ADOPTION_FIELDS)
    shaded = band_rows(band, market_fields(ADOPTION_FIELDS))
    return _line_chart("Adoption and agent work share", rows, "share of developers / work", pinned, ".1~%", shaded)


def revenue_chart(
    history: Rows, pinned: PinnedRun | None = None, band: Sequence[Rows] = (), events: Sequence[Any] = ()
) -> dict[str, Any]:
    """Each lab's revenue in million USD per month, with the labs' rounds and exits marked."""
    rows = lab_rows(history, pinned, "revenue", scale=1e6)
    shaded = band_rows(band, lab_field("revenue", 1e6))
    marks = event_rows(events, LAB_EVENTS)
    return _line_chart("Revenue per lab", rows, "million USD/month", pinned, ",.0f", shaded, marks)


def margin_chart(
    history: Rows, pinned: PinnedRun | None = None, band: Sequence[Rows] = (), events: Sequence[Any] = ()
) -> dict[str, Any]:
    """Each lab's gross margin (revenue less inference cost, over revenue), with exits marked."""
    rows = lab_rows(history, pinned, "gross_margin")
    shaded = band_rows(band, lab_field("gross_margin"))
    marks = event_rows(events, ("exit",))
    return _line_chart("Gross margin per lab", rows, "gross margin", pinned, ".0%", shaded, marks)


def prices_chart(
    history: Rows, pinned: PinnedRun | None = None, band: Sequence[Rows] = (), events: Sequence[Any] = ()
) -> dict[str, Any]:
    """Subscription, compute and memory prices, one panel each with its own unit and ticks."""
    fields = {key: name for key, name, _, _ in PRICE_PANELS}
    rows = market_rows(history, pinned, fields)
    shaded = band_rows(band, market_fields(fields))
    marks = event_rows(events, LAYER_EVENTS)
    panels = []
    for _, name, unit, fmt in PRICE_PANELS:
        keep = [{"filter": {"field": "series", "equal": name}}]
        y_axis = {"axis": {"format": fmt, "tickCount": 3}, "scale": {"zero": False}}
        line = {
            "transform": keep,
            "mark": {"type": "line", "strokeWidth": 2},
            "encoding": {
                "x": X_MONTH,
                "y": {"field": "value", "type": "quantitative", "title": unit, **y_axis},
                "color": {"field": "series", "type": "nominal", "legend": None},
                **_dash(pinned),
            },
        }
        shading = [{**layer, "transform": keep} for layer in _band_layers(shaded, X_MONTH, unit, y_axis)]
        for layer in shading:
            layer["encoding"]["color"] = {**layer["encoding"]["color"], "legend": None}
        panels.append(
            {
                "title": {"text": f"{name} price", "fontSize": 11, "anchor": "start"},
                "width": WIDTH,
                "height": 55,
                "layer": [*shading, line, *_event_layers(marks, X_MONTH)],
            }
        )
    return {
        "$schema": SCHEMA,
        "title": "Prices",
        "data": {"name": "table", "values": rows},
        "vconcat": panels,
        "spacing": 8,
        "config": {"view": {"stroke": None}},
    }


def utilisation_rows(history: Rows, pinned: PinnedRun | None) -> list[dict[str, Any]]:
    """Rows for the layer utilisation chart: each month's utilisation and binding flag per layer."""
    return [
        {
            "date": _month(row["date"]),
            "series": layer,
            "value": stats.get("utilization", 0.0),
            "binding": stats.get("binding", 0),
            "run": run,
        }
        for run, rows in _runs(history, pinned)
        for row in rows
        for layer, stats in row.get("layers", {}).items()
    ]


def layer_field(row: dict[str, Any]) -> dict[str, float]:
    """A month's utilisation of each supply layer as ``{layer: share}``."""
    return {layer: stats["utilization"] for layer, stats in row["layers"].items()}


def utilisation_chart(
    history: Rows, pinned: PinnedRun | None = None, band: Sequence[Rows] = (), events: Sequence[Any] = ()
) -> dict[str, Any]:
    """Utilisation of each supply layer; red rings mark the months a layer was binding."""
    spec = _base("Supply layer utilisation (red rings: binding)", utilisation_rows(history, pinned))
    x = X_MONTH
    y_axis = {"axis": {"format": ".0%"}}
    y = {"field": "value", "type": "quantitative", "title": "utilisation", **y_axis}
    data = spec.pop("data")
    spec["layer"] = [
        *_band_layers(band_rows(band, layer_field), x, "utilisation", y_axis),
        {
            "data": data,
            "mark": {"type": "line", "strokeWidth": 2},
            "encoding": {
                "x": x,
                "y": y,
                "color": {"field": "series", "type": "nominal", "title": None},
                **_dash(pinned),
            },
        },
        {
            "data": {"name": "table"},
            "transform": [{"filter": "datum.binding > 0"}],
            "mark": {"type": "point", "size": 50, "stroke": BINDING_COLOUR, "strokeWidth": 2, "filled": False},
            "encoding": {"x": x, "y": y},
        },
        *_event_layers(event_rows(events, LAYER_EVENTS), x),
    ]
    return spec


def fan_chart(title: str, band: list[dict[str, Any]], y_title: str = "value") -> dict[str, Any]:
    """A finished experiment's median and 5-95% band per series (scenario or design point)."""
    spec = _base(title, [])
    spec.pop("data")
    color = {"field": "series", "type": "nominal", "title": None, "legend": {"orient": "bottom", "columns": 2}}
    spec["layer"] = [
        {
            "data": {"name": "band", "values": band},
            "mark": {"type": "area", "opacity": 0.18},
            "encoding": {
                "x": X_MONTH,
                "y": {"field": "lo", "type": "quantitative", "title": y_title, "axis": {"format": "~s"}},
                "y2": {"field": "hi"},
                "color": color,
            },
        },
        {
            "data": {"name": "band"},
            "mark": {"type": "line", "strokeWidth": 2},
            "encoding": {"x": X_MONTH, "y": {"field": "median", "type": "quantitative"}, "color": color},
        },
    ]
    return spec


# ----- the supply graph -------------------------------------------------------------------
def supply_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Positions of the drawn nodes: one column per supply layer, then clouds, labs, developers.

    Source and sink are left out; networkx's multipartite layout spreads each column.
    """
    drawn = nx.DiGraph()
    for node, attrs in graph.nodes(data=True):
        kind = attrs.get("kind")
        column = COLUMN_OF_LAYER.get(attrs.get("layer")) if kind == "supplier" else COLUMN_OF_KIND.get(kind)
        if column is not None:
            drawn.add_node(node, column=column)
    pos = nx.multipartite_layout(drawn, subset_key="column", align="vertical", scale=1.0)
    return {node: (float(x), float(y)) for node, (x, y) in pos.items()}


def _node_utilisation(model: Any, node: str, kind: str) -> float:
    agent = _agents_by_name(model).get(node)
    if kind in ("supplier", "cloud") and agent is not None:
        return float(agent.utilization)
    if kind == "lab" and agent is not None:
        return float(agent.service_level)
    return 0.0


def _agents_by_name(model: Any) -> dict[str, Any]:
    return {a.name: a for a in (*model.suppliers, *model.clouds, *model.labs)}


def _is_binding(model: Any, node: str, kind: str, utilisation: float) -> bool:
    agent = _agents_by_name(model).get(node)
    if kind == "supplier" and agent is not None:
        return bool(agent.binding)
    if kind == "cloud":
        return bool(model.cloud_binding) and utilisation >= 0.999
    return False


def edge_flow_acc(model: Any, u: str, v: str) -> float:
    """Compute that flowed along the edge u -> v this month, in accelerators in service.

    The clearing's own flow on each supply and contract edge; a lab's edge to the developers
    carries what the lab was served.
    """
    flows = model.edge_flows
    if (u, v) in flows:
        return float(flows[(u, v)])
    if model.graph.nodes[u].get("kind") == "lab":
        return float(_agents_by_name(model)[u].served)
    return 0.0


def supply_graph_data(model: Any, pos: dict[str, tuple[float, float]]) -> tuple[list[dict], list[dict]]:
    """Nodes and edges to draw.

    The clearing's flow on each edge in accelerators, utilisation as a fraction, binding flags.
    """
    graph = model.graph
    kinds = {n: graph.nodes[n].get("kind", "") for n in pos}
    util = {n: _node_utilisation(model, n, kinds[n]) for n in pos}
    binding = {n: _is_binding(model, n, kinds[n], util[n]) for n in pos}
    nodes = [
        {
            "id": n,
            "x": pos[n][0],
            "y": pos[n][1],
            "kind": graph.nodes[n].get("layer") or kinds[n],
            "utilisation": util[n],
            "binding": int(binding[n]),
        }
        for n in pos
    ]
    edges = [
        {
            "x": pos[u][0],
            "y": pos[u][1],
            "x2": pos[v][0],
            "y2": pos[v][1],
            "flow": edge_flow_acc(model, u, v),
            "utilisation": util[u] if kinds[u] in ("supplier", "cloud") else 0.0,
            "binding": int(binding[u]),
            "link": f"{u} → {v}",
        }
        for u in pos
        for v in graph.successors(u)
        if v in pos
    ]
    return nodes, edges


def supply_graph_chart(model: Any, pos: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """The supply graph: edges coloured by the supplier's utilisation, sized by flow; binding in red."""
    nodes, edges = supply_graph_data(model, pos)
    x = {"field": "x", "type": "quantitative", "axis": None, "scale": {"domain": [-1.15, 1.15]}}
    y = {"field": "y", "type": "quantitative", "axis": None, "scale": {"domain": [-1.15, 1.15]}}
    return {
        "$schema": SCHEMA,
        "title": "Supply graph (edge colour: utilisation, width: flow; red: binding)",
        "width": 2 * WIDTH + 40,
        "height": 260,
        "config": {"view": {"stroke": None}},
        "layer": [
            {
                "data": {"name": "edges", "values": edges},
                "mark": {"type": "rule"},
                "encoding": {
                    "x": x,
                    "y": y,
                    "x2": {"field": "x2"},
                    "y2": {"field": "y2"},
                    "color": {
                        "field": "utilisation",
                        "type": "quantitative",
                        "title": "utilisation",
                        "scale": {"domain": [0, 1], "scheme": "yelloworangebrown"},
                    },
                    "strokeWidth": {
                        "field": "flow",
                        "type": "quantitative",
                        "legend": None,
                        "scale": {"range": [0.5, 7], "zero": True},
                    },
                    "tooltip": [{"field": "link"}, {"field": "flow", "format": ",.0f", "title": "accelerators"}],
                },
            },
            {
                "data": {"name": "edges", "values": edges},
                "transform": [{"filter": "datum.binding > 0"}],
                "mark": {"type": "rule", "color": BINDING_COLOUR, "strokeWidth": 4, "strokeDash": [6, 3]},
                "encoding": {"x": x, "y": y, "x2": {"field": "x2"}, "y2": {"field": "y2"}},
            },
            {
                "data": {"name": "nodes", "values": nodes},
                "mark": {"type": "circle", "size": 260, "opacity": 1, "strokeWidth": 3},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": {"field": "kind", "type": "nominal", "title": "node", "scale": {"scheme": "tableau10"}},
                    "stroke": {
                        "condition": {"test": "datum.binding > 0", "value": BINDING_COLOUR},
                        "value": "white",
                    },
                    "tooltip": [{"field": "id"}, {"field": "utilisation", "format": ".0%"}],
                },
            },
            {
                "data": {"name": "nodes", "values": nodes},
                "mark": {"type": "text", "dy": -14, "fontSize": 10},
                "encoding": {"x": x, "y": y, "text": {"field": "id"}},
            },
        ],
    }


# ----- the developers' social network -----------------------------------------------------
def sample_developers(model: Any, size: int = 200) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A connected sample of developers (breadth-first from developer 0) and the links among them.

    At most 6 links per developer are kept so a complete network stays legible.
    """
    network = model.developers.network
    n = len(model.developers.lab)
    order: list[int] = [0] if n else []
    seen = set(order)
    head = 0
    while head < len(order) and len(order) < min(size, n):
        for j in network.neighbours(order[head])[:12]:
            j = int(j)
            if j not in seen and len(order) < size:
                seen.add(j)
                order.append(j)
        head += 1
    links = []
    for i in order:
        peers = [int(j) for j in network.neighbours(i) if int(j) in seen and int(j) > i]
        links.extend((i, j) for j in peers[:6])
    return np.array(order, dtype=np.int64), links


def network_layout(model: Any, size: int = 200) -> dict[str, Any]:
    """A fixed drawing of the sample: spring layout positions, computed once per run."""
    members, links = sample_developers(model, size)
    g = nx.Graph()
    g.add_nodes_from(members.tolist())
    g.add_edges_from(links)
    pos = nx.spring_layout(g, seed=0, iterations=40)
    rounded = {int(k): (round(float(x), 3), round(float(y), 3)) for k, (x, y) in pos.items()}
    return {"members": members, "links": links, "pos": rounded}


def developer_status(model: Any, members: np.ndarray) -> list[str]:
    """Each sampled developer's lab, or 'not adopted'."""
    labs = model.developers.lab[members]
    names = [lab.name for lab in model.labs]
    return [names[k] if 0 <= k < len(names) else NOT_ADOPTED for k in labs.tolist()]


def network_chart(model: Any, layout: dict[str, Any]) -> dict[str, Any]:
    """Sampled developers and their peer links, coloured by adoption and lab."""
    pos = layout["pos"]
    status = developer_status(model, layout["members"])
    nodes = [
        {"x": pos[i][0], "y": pos[i][1], "status": s} for i, s in zip(layout["members"].tolist(), status, strict=True)
    ]
    edges = [{"x": pos[i][0], "y": pos[i][1], "x2": pos[j][0], "y2": pos[j][1]} for i, j in layout["links"]]
    lab_names = [lab.name for lab in model.labs]
    domain = [NOT_ADOPTED, *lab_names]
    colours = ["#c7c7c7", *[LAB_COLOURS[k % len(LAB_COLOURS)] for k in range(len(lab_names))]]
    x = {"field": "x", "type": "quantitative", "axis": None, "scale": {"zero": False}}
    y = {"field": "y", "type": "quantitative", "axis": None, "scale": {"zero": False}}
    return {
        "$schema": SCHEMA,
        "title": f"Developer network sample ({len(nodes)} developers)",
        "width": WIDTH,
        "height": 260,
        "config": {"view": {"stroke": None}},
        "layer": [
            {
                "data": {"values": edges},
                "mark": {"type": "rule", "color": "#bbbbbb", "strokeWidth": 0.6},
                "encoding": {"x": x, "y": y, "x2": {"field": "x2"}, "y2": {"field": "y2"}},
            },
            {
                "data": {"name": "nodes", "values": nodes},
                "mark": {"type": "circle", "size": 45, "opacity": 0.95},
                "encoding": {
                    "x": x,
                    "y": y,
                    "color": {
                        "field": "status",
                        "type": "nominal",
                        "title": "developer",
                        "scale": {"domain": domain, "range": colours},
                    },
                },
            },
        ],
    }


def split_datasets(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """The spec with named data sources emptied, and their rows by name.

    The first form stays equal from month to month, so only the rows travel to the browser.
    """
    datasets: dict[str, list[dict[str, Any]]] = {}

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            data = node.get("data")
            out = {k: strip(v) for k, v in node.items() if k != "data"}
            if isinstance(data, dict) and "name" in data and "values" in data:
                datasets[data["name"]] = data["values"]
                out["data"] = {"name": data["name"]}
            elif data is not None:
                out["data"] = data
            return out
        if isinstance(node, list):
            return [strip(item) for item in node]
        return node

    return strip(spec), datasets
