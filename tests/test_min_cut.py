"""The clearing's minimum cut is networkx's own: same maximum flow, same binding nodes.

Supply graphs are drawn at random: one to three suppliers a layer, each fed by the whole
previous layer or by a drawn list of earlier suppliers; one to four clouds, each owned by a
lab (a captive fleet, sold only to its owner) or open, fed by all grid suppliers or a drawn
list; labs that buy from all open clouds or a drawn list. Each node's capacity is drawn, then
cut by a shock (part or all of it lost), and each buyer asks each cloud it may buy from for a
drawn amount. Capacities come either as small whole numbers, so that many cuts tie exactly and
networkx's choice among them is tested, or as floats over seven orders of magnitude.

networkx's answer is ``minimum_cut`` with Edmonds-Karp on the node-split graph built here
from the supply graph: every capacitated node an edge ``in -> out``, the links between nodes
without limit, a cloud's edges to its buyers carrying what they ask.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from networkx.algorithms.flow import edmonds_karp

from agentmarket.params import Layer, Params
from agentmarket.scenarios import bundled_scenarios, load_scenario
from agentmarket.supply_graph import OTHER_AI, SINK, SOURCE, Clearing, CutCandidates, build_supply_graph

CAPACITATED = ("supplier", "cloud")


def subset(names: list[str]) -> st.SearchStrategy:
    return st.lists(st.sampled_from(names), unique=True, max_size=len(names)) if names else st.just([])


@st.composite
def supply_params(draw) -> Params:
    """Labs, clouds (open or captive) and suppliers with drawn supply relations."""
    labs = [f"lab_{i}" for i in range(draw(st.integers(1, 3)))]
    clouds = [f"cloud_{i}" for i in range(draw(st.integers(1, 4)))]
    layers = [layer for layer in Layer for _ in range(draw(st.integers(1, 3)))]
    suppliers = [f"{layer.value}_{i}" for i, layer in enumerate(layers)]
    cloud_tables = {
        c: {"owner": draw(st.sampled_from(["", *labs])), "upstream": draw(subset(suppliers))} for c in clouds
    }
    lab_tables = {lab: {"clouds": draw(subset(clouds))} for lab in labs}
    if all(t["owner"] for t in cloud_tables.values()):
        cloud_tables[clouds[0]]["owner"] = ""  # the schema asks for one open cloud
    supplier_tables = {
        s: {"layer": layer.value, "upstream": draw(subset(suppliers[:i]))}
        for i, (s, layer) in enumerate(zip(suppliers, layers, strict=True))
    }
    return Params.model_validate({"labs": lab_tables, "clouds": cloud_tables, "suppliers": supplier_tables})


whole = st.integers(0, 6).map(float)
wide = st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False)
shock = st.sampled_from([0.0, 0.0, 0.5, 1.0]) | st.floats(0.0, 1.0)


@st.composite
def month(draw):
    """A supply graph's clearing, and one month's capacities (shocks applied) and requests."""
    params = draw(supply_params())
    graph = build_supply_graph(params)
    clouds = list(params.clouds)
    clearing = Clearing(graph, clouds, [*params.labs, OTHER_AI])
    amount = draw(st.sampled_from([whole, wide]))
    capacity = {v: draw(amount) * (1.0 - draw(shock)) for v in clearing.upstream_nodes}
    requests = np.zeros(clearing.buyer_edges.shape)
    for i, j in zip(*np.nonzero(clearing.buyer_edges), strict=True):
        requests[i, j] = draw(amount)
    return graph, clearing, capacity, requests


def split_graph(graph: nx.DiGraph, clearing: Clearing, capacity: dict[str, float], requests: np.ndarray):
    """The node-split flow network of one month, built from the supply graph alone."""
    h = nx.DiGraph()
    for v, data in graph.nodes(data=True):
        if data["kind"] in CAPACITATED:
            h.add_edge(("in", v), ("out", v), capacity=max(capacity[v], 0.0), node=v)
            for u in graph.predecessors(v):
                h.add_edge(SOURCE if u == SOURCE else ("out", u), ("in", v))
    for i, c in enumerate(clearing.clouds):
        for j, b in enumerate(clearing.buyers):
            if graph.has_edge(c, b):
                h.add_edge(("out", c), b, capacity=float(requests[i, j]))
    for b in clearing.buyers:
        h.add_edge(b, SINK)
    return h


def networkx_cut(graph, clearing, capacity, requests) -> tuple[float, set[str]]:
    """networkx's maximum flow and the capacitated nodes its minimum cut crosses."""
    h = split_graph(graph, clearing, capacity, requests)
    value, (source_side, _) = nx.minimum_cut(h, SOURCE, SINK, flow_func=edmonds_karp)
    crossed = {d["node"] for u, w, d in h.edges(data=True) if "node" in d and u in source_side and w not in source_side}
    return value, crossed


def cut_through(graph, clearing, capacity, requests, nodes: set[str]) -> float:
    """Capacity of the smallest cut that crosses exactly these nodes' capacities (and demand edges)."""
    blocked = {v: (0.0 if v in nodes else math.inf) for v in capacity}
    rest = nx.maximum_flow_value(split_graph(graph, clearing, blocked, requests), SOURCE, SINK)
    return sum(max(capacity[v], 0.0) for v in nodes) + rest


@settings(max_examples=400, deadline=None)
@given(month())
def test_min_cut_is_networkx_flow_and_cut(case):
    graph, clearing, capacity, requests = case
    value, binding = clearing.min_cut(capacity, requests)
    nx_value, nx_crossed = networkx_cut(graph, clearing, capacity, requests)
    assert math.isclose(value, nx_value, rel_tol=1e-12, abs_tol=1e-9), (value, nx_value)
    met = nx_value >= requests.sum() * (1 - 1e-9)
    expected = set() if met else nx_crossed
    if binding != expected:
        # only a tie within float rounding may separate two answers: both cuts are minimum cuts
        assert not met, (binding, expected)
        for nodes in (binding, expected):
            assert math.isclose(cut_through(graph, clearing, capacity, requests, nodes), nx_value, rel_tol=1e-12)
        assert not all(float(x).is_integer() for x in [*capacity.values(), *requests.ravel()]), (
            "whole-number capacities are exact: the cut must be networkx's own",
            binding,
            expected,
        )


@settings(max_examples=100, deadline=None)
@given(month())
def test_networkx_min_cut_is_used_beyond_the_candidate_limit(case):
    graph, clearing, capacity, requests = case
    clearing.cuts = CutCandidates(graph, clearing.upstream_nodes, clearing.clouds, limit=1)
    assert clearing.cuts.crossing is None
    value, binding = clearing.min_cut(capacity, requests)
    nx_value, nx_crossed = networkx_cut(graph, clearing, capacity, requests)
    assert value == nx_value
    assert binding == (set() if nx_value >= requests.sum() * (1 - 1e-9) else nx_crossed)


def test_bundled_graphs_stay_below_the_candidate_limit():
    for name in bundled_scenarios():
        params = load_scenario(name)
        clearing = Clearing(build_supply_graph(params), list(params.clouds), [*params.labs, OTHER_AI])
        assert clearing.cuts.crossing is not None, name
