r"""The supply graph: who supplies whom, and how much compute can reach developers.

One networkx ``DiGraph`` built from the scenario's data is the single source of truth for
the supply relations::

    source -> memory makers -> packaging lines -> power -> grid -> clouds -> labs -> developers -> sink
                                                                        \-> other_ai ---------> sink

Each supplier's ``upstream`` list (empty: the whole previous layer) and each lab's ``clouds``
list (empty: every cloud without an owner) give the edges; a cloud with an ``owner`` sells
only to that lab. Capacities are in accelerators in service this month.

Each month :class:`Clearing` does two things on the graph:

* it allocates the compute by the rationing rules, with a pass against the flow (each node
  asks its suppliers for what its customers ask of it, split pro rata to the suppliers'
  capacities) and a pass along it (each node passes on what it gets, pro rata to what was
  asked; clouds serve contracts first). The result is a feasible flow.
* it computes a minimum cut of the same capacities; the supply layers whose nodes lie on
  the cut are the binding layers of the month. When demand is met, the cut lies on the
  demand edges and no layer binds.

The cut is exact and costs one small matrix-vector product a month. Every capacitated node
(supplier or cloud) is an edge ``v:in -> v:out`` of the split graph; the links between nodes
and from the source carry no limit, and a cloud's edges to its buyers carry what they ask of
it. Among the minimum cuts, networkx's (its sink side is the nodes from which the sink can be
reached in the residual network of a maximum flow) is the one with the smallest sink side,
and that sink side has a simple form: a supplier's ``out`` is on it exactly when the ``in``
of a node it supplies is, a cloud's ``out`` may be on it or not, and a node's ``in`` only if
its ``out`` is and the source does not feed it. :class:`CutCandidates` lists every sink side
of that form once, from the graph's structure, as 0/1 rows over the capacities and the
clouds' demand; a month's maximum flow is the smallest row total, and its binding nodes are
those of the smallest sink side among the rows that reach it. ``tests/test_min_cut.py`` holds this equal to networkx's own flow
and cut on random supply graphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
from networkx.algorithms.flow import edmonds_karp
from numba import njit

from agentmarket.market import kept_min, numpy_sum
from agentmarket.params import Layer, Params

SOURCE = "source"
SINK = "sink"
DEVELOPERS = "developers"
OTHER_AI = "other_ai"
LAYER_ORDER = (Layer.MEMORY, Layer.PACKAGING, Layer.POWER, Layer.GRID)
MAX_CUT_CANDIDATES = 1 << 16
"""Above this many candidate source sides the cut is left to networkx (none of the bundled graphs comes near)."""
TIE_REL = 1e-12
"""Cuts whose capacities differ by less than this share are taken as equal (float rounding of the sums)."""


KIND_PATTERNS_KEPT = 256
"""How many patterns of the passes' kinds :func:`typed` keeps before it starts afresh."""
SOURCE_EDGE, SUPPLY_EDGE, BUYER_EDGE = range(3)
"""Kinds of the edges whose flow a month reports (see :meth:`Clearing.edge_plan`)."""
GIVEN, PLAIN, NUMPY = range(3)
"""Where a figure of the passes comes from: the node's capacity as given, or a plain or a numpy float."""


@njit(cache=True, nogil=True)
def pro_rata_passes(
    cap, cloud_asked, cloud_of, pred_ptr, pred_pos, pred_edge, succ_ptr, succ_pos, succ_edge, n_edges
):  # fmt: skip
    """The clearing's two passes over the capacitated nodes (in topological order), compiled.

    Against the flow (last node first), each node asks its suppliers for what its customers
    ask of it (a cloud: what its buyers ask, ``cloud_asked``), split pro rata to the
    suppliers' capacities, and takes at most its capacity of it. Along the flow, each node
    serves the least of its capacity, what reaches it and what it took, and passes it on pro
    rata to what each customer took from it; what each node could pass on if asked for all
    of it is carried the same way. ``cap`` is each node's capacity (accelerators); the
    topology is given as CSR rows of predecessor and successor positions with their edge
    indices. Returns asked, served and available compute per node (rows of one array), with their kinds
    (:data:`GIVEN`, :data:`PLAIN`, :data:`NUMPY`), and the compute passed along each edge.
    """
    n = cap.size
    figures = np.zeros((3, n))  # asked, served, available
    kinds = np.zeros((3, n), dtype=np.int8)
    asked, served, available = figures[0], figures[1], figures[2]
    asked_kind, served_kind, available_kind = kinds[0], kinds[1], kinds[2]
    asked_kind[:] = PLAIN
    take = np.zeros(n)
    take_kind = np.full(n, PLAIN, dtype=np.int8)
    split = np.zeros(n_edges)  # what node v takes from supplier u, per (u, v) edge
    incoming = np.zeros(n)
    incoming_asked = np.zeros(n)
    reached = np.zeros(n, dtype=np.bool_)  # a customer has asked of the node: its sums are numpy floats
    caps = np.zeros(max(n, 1))
    for k in range(n - 1, -1, -1):
        if cloud_of[k] >= 0:
            asked[k] = cloud_asked[cloud_of[k]]
            take[k], take_kind[k] = kept_min(cap[k], GIVEN, asked[k], PLAIN)
            passed_up = take[k]
        else:
            asked[k] = passed_up = incoming_asked[k]
            asked_kind[k] = NUMPY if reached[k] else PLAIN
            take[k], take_kind[k] = kept_min(cap[k], GIVEN, incoming[k], NUMPY if reached[k] else PLAIN)
        lo, hi = pred_ptr[k], pred_ptr[k + 1]
        if lo == hi:
            continue
        for p in range(lo, hi):
            c = cap[pred_pos[p]]
            caps[p - lo] = 0.0 if c < 0.0 else c  # max(c, 0.0): nan stays
        total = numpy_sum(caps, 0, hi - lo)
        for p in range(lo, hi):
            u = pred_pos[p]
            w = caps[p - lo] / total if total > 0 else 1.0 / (hi - lo)
            split[pred_edge[p]] = part = take[k] * w
            incoming[u] += part
            incoming_asked[u] += passed_up * w
            reached[u] = True
    passed = np.zeros(n_edges)
    inflow = np.zeros(n)
    avail_in = np.zeros(n)
    fed = np.zeros(n, dtype=np.bool_)  # a supplier has passed compute on to the node: its sums are numpy floats
    wanted = np.zeros(max(n_edges, 1))
    for k in range(n):
        if pred_ptr[k] < pred_ptr[k + 1]:
            inflow_kind = NUMPY if fed[k] else PLAIN
            s, s_kind = kept_min(cap[k], GIVEN, inflow[k], inflow_kind)
            served[k], served_kind[k] = kept_min(s, s_kind, take[k], take_kind[k])
            available[k], available_kind[k] = kept_min(cap[k], GIVEN, avail_in[k], inflow_kind)
        else:  # fed by the source alone: the least of its capacity and what it took
            served[k], served_kind[k] = kept_min(cap[k], GIVEN, take[k], take_kind[k])
            available[k], available_kind[k] = cap[k], GIVEN
        if cloud_of[k] >= 0:
            continue
        lo, hi = succ_ptr[k], succ_ptr[k + 1]
        for p in range(lo, hi):
            wanted[p - lo] = split[succ_edge[p]]
        total = numpy_sum(wanted, 0, hi - lo)
        for p in range(lo, hi):
            w = succ_pos[p]
            share = wanted[p - lo] / total if total > 0 else 0.0
            passed[succ_edge[p]] = served[k] * share
            inflow[w] += passed[succ_edge[p]]
            avail_in[w] += available[k] * share
            fed[w] = True
    return figures, kinds, passed


@njit(cache=True, nogil=True)
def table_sum(a):
    """``np.add.reduce(a, axis=None)`` of a 2-D array, to the last bit (its values in C order, summed as numpy does)."""
    flat = np.empty(a.size)
    k = 0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            flat[k] = a[i, j]
            k += 1
    return numpy_sum(flat, 0, flat.size)


@njit(cache=True, nogil=True)
def asked_of_clouds(contract_req, spot_req):
    """What buyers ask of each cloud (contracts plus spot, clouds x buyers), its row sums and its total, as numpy sums them."""
    requests = contract_req + spot_req
    n_buyers = requests.shape[1]
    cloud_asked = np.empty(requests.shape[0])
    for i in range(requests.shape[0]):
        cloud_asked[i] = numpy_sum(requests[i], 0, n_buyers)
    return requests, cloud_asked, table_sum(requests)


@njit(cache=True, nogil=True)
def cut_weights(cap, requests, buyer_edges):
    """The cut candidates' weights: each node's capacity (at least 0, as ``max(c, 0.0)``), then each cloud's demand.

    A cloud's demand is what its buyers with an edge from it ask of it, summed as numpy sums a row.
    """
    n, (n_clouds, n_buyers) = cap.size, requests.shape
    weights = np.empty(n + n_clouds)
    for k in range(n):
        weights[k] = 0.0 if cap[k] < 0.0 else cap[k]
    row = np.empty(n_buyers)
    for i in range(n_clouds):
        for j in range(n_buyers):
            row[j] = requests[i, j] if buyer_edges[i, j] else 0.0
        weights[n + i] = numpy_sum(row, 0, n_buyers)
    return weights


@njit(cache=True, nogil=True)
def first_smallest(totals, tie_rel):
    """``totals.min()`` (nan if any is) and the first index within ``tie_rel`` of it (0 if none is)."""
    value = totals[0]
    for x in totals:
        if x != x:
            return x, 0
        if x < value:
            value = x
    bound = value + value * tie_rel
    for k in range(totals.size):
        if totals[k] <= bound:
            return value, k
    return value, 0


def typed(figures: np.ndarray, kinds: np.ndarray, given: list, cells: dict[bytes, list]) -> list[list]:
    """The passes' figures (rows) as the rules' Python objects: the capacity given, a plain float, or a numpy float.

    ``cells`` keeps, by the kinds' bytes, where the figures are not numpy floats (the pattern
    repeats from month to month).
    """
    key = kinds.tobytes()
    where = cells.get(key)
    if where is None:
        width = figures.shape[1]
        where = [(*divmod(cell, width), int(kinds.flat[cell]) == PLAIN) for cell in np.flatnonzero(kinds != NUMPY)]
        if len(cells) >= KIND_PATTERNS_KEPT:
            cells.clear()
        cells[key] = where
    rows = [list(row) for row in figures]  # numpy floats, the passes' usual kind
    for r, k, plain in where:
        rows[r][k] = float(rows[r][k]) if plain else given[k]
    return rows


def csr_rows(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Row pointers and the concatenated entries of a list of integer rows (CSR layout)."""
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(row) for row in rows])
    return ptr, np.array([x for row in rows for x in row], dtype=np.int64)


def build_supply_graph(params: Params) -> nx.DiGraph:
    """The supply relations of a scenario, as a directed graph with ``kind`` and ``layer`` on nodes."""
    g = nx.DiGraph()
    g.add_node(SOURCE, kind="source")
    by_layer: dict[Layer, list[str]] = {layer: [] for layer in LAYER_ORDER}
    for name, sup in params.suppliers.items():
        g.add_node(name, kind="supplier", layer=sup.layer.value)
        by_layer[sup.layer].append(name)
    for i, layer in enumerate(LAYER_ORDER):
        for name in by_layer[layer]:
            upstream = params.suppliers[name].upstream
            if upstream:
                feeders = upstream
            elif i == 0:
                feeders = [SOURCE]
            else:
                feeders = by_layer[LAYER_ORDER[i - 1]]
            for u in feeders:
                g.add_edge(u, name, relation="supply")
    for name, cloud in params.clouds.items():
        g.add_node(name, kind="cloud", owner=cloud.owner)
        for u in cloud.upstream or by_layer[Layer.GRID]:
            g.add_edge(u, name, relation="supply")
    g.add_node(DEVELOPERS, kind="market")
    g.add_node(OTHER_AI, kind="buyer")
    g.add_node(SINK, kind="sink")
    for name, lab in params.labs.items():
        g.add_node(name, kind="lab")
        sellers = lab.clouds or [c for c, spec in params.clouds.items() if not spec.owner]
        sellers = sellers + [c for c, spec in params.clouds.items() if spec.owner == name and c not in sellers]
        for c in sellers:
            g.add_edge(c, name, relation="contract")
        g.add_edge(name, DEVELOPERS, relation="service")
    for c, spec in params.clouds.items():
        if not spec.owner:
            g.add_edge(c, OTHER_AI, relation="spot")
    g.add_edge(DEVELOPERS, SINK, relation="demand")
    g.add_edge(OTHER_AI, SINK, relation="demand")
    if not nx.is_directed_acyclic_graph(g):
        raise ValueError("supply graph has a cycle; check the suppliers' upstream lists")
    return g


class CutCandidates:
    """Every sink side a networkx minimum cut of the split supply graph can have, as 0/1 arrays.

    Built once from the graph's structure. ``nodes`` are the capacitated nodes in topological
    order, ``clouds`` those of them whose edges to buyers carry demand. Row ``k`` of
    ``crossing`` marks, over ``nodes`` then ``clouds``, the capacities and the cloud demands
    its cut crosses; rows are sorted by the size of their sink side, smallest first.
    ``crossing`` is ``None`` when the graph has more than ``limit`` candidates.
    """

    def __init__(self, graph: nx.DiGraph, nodes: list[str], clouds: list[str], limit: int = MAX_CUT_CANDIDATES):
        position = {v: i for i, v in enumerate(nodes)}
        is_cloud = set(clouds)
        n = len(nodes)
        out_sink = np.zeros((1, n), dtype=bool)  # rows x nodes: the node's out is on the sink side
        in_sink = np.zeros((1, n), dtype=bool)  # the node's in is on the sink side
        for v in reversed(nodes):
            i = position[v]
            if v in is_cloud:  # its out may lie on either side: behind it are only its demand edges
                out_sink = np.concatenate([out_sink, out_sink])
                in_sink = np.concatenate([in_sink, in_sink])
                out_sink[len(out_sink) // 2 :, i] = True
            else:
                succ = [position[w] for w in graph.successors(v) if w in position]
                out_sink[:, i] = in_sink[:, succ].any(axis=1)
            if SOURCE in graph.predecessors(v):
                continue  # fed by the source without limit: its in stays on the source side
            # behind a node whose out is on the sink side, its in may lie on either side
            behind = out_sink[:, i]
            extra_in = in_sink[behind].copy()
            extra_in[:, i] = True
            in_sink = np.concatenate([in_sink, extra_in])
            out_sink = np.concatenate([out_sink, out_sink[behind]])
            if len(out_sink) > limit:
                self.crossing = None
                return
        capacity_crossed = out_sink & ~in_sink
        demand_crossed = ~out_sink[:, [position[c] for c in clouds]]
        order = np.argsort(out_sink.sum(axis=1) + in_sink.sum(axis=1), kind="stable")
        self.crossing: np.ndarray | None = np.concatenate([capacity_crossed, demand_crossed], axis=1)[order].astype(
            np.float64
        )
        self.capacity_crossed = capacity_crossed[order]

    def __len__(self) -> int:
        return 0 if self.crossing is None else len(self.crossing)

    def min_cut(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Smallest cut capacity over the rows, and the nodes whose capacity that cut crosses (bool mask).

        ``weights``: each node's capacity, then each cloud's demand (accelerators, at least 0).
        Of the rows that reach the smallest capacity, the first: the smallest sink side, as networkx
        (its sink side is the nodes from which the sink can be reached in the residual network).
        """
        value, k = first_smallest(self.crossing @ weights, TIE_REL)
        return value, self.capacity_crossed[k]


@dataclass
class ClearingResult:
    """One month's allocation. Arrays are (clouds, buyers); buyers are the labs then other_ai.

    Per node figures are lists over ``nodes`` (the capacitated nodes in topological order);
    the dictionaries by node name and the flow along each edge are built when first read.
    """

    contract_served: np.ndarray
    spot_served: np.ndarray
    nodes: list[str]
    served: list[float]
    asked: list[float]  # demand reaching each node, not capped by the nodes below it
    available: list[float]  # what each node could pass on if asked for all of it, same shares
    max_flow: float
    requested: float
    binding_nodes: set[str] = field(default_factory=set)
    edge_plan: list[tuple[tuple[str, str], int, int, int]] = field(default_factory=list)
    passed: list[float] = field(default_factory=list)  # compute passed along each supply edge, by edge index
    served_total: float = 0.0  # compute served to all buyers (accelerators)

    @cached_property
    def node_served(self) -> dict[str, float]:
        """Compute each capacitated node served this month (accelerators)."""
        return dict(zip(self.nodes, self.served, strict=True))

    @cached_property
    def node_asked(self) -> dict[str, float]:
        """Demand reaching each capacitated node (accelerators), in the order the pass against the flow meets them."""
        return dict(zip(reversed(self.nodes), reversed(self.asked), strict=True))

    @cached_property
    def node_available(self) -> dict[str, float]:
        """What each capacitated node could pass on if asked for all of it (accelerators)."""
        return dict(zip(self.nodes, self.available, strict=True))

    @cached_property
    def edge_served(self) -> dict[tuple[str, str], float]:
        """Compute that flowed along each edge of the supply graph this month (accelerators in service)."""
        served, passed, sold = self.served, self.passed, (self.contract_served + self.spot_served).tolist()
        return {
            key: served[ref] if kind == SOURCE_EDGE else (passed[ref] if kind == SUPPLY_EDGE else sold[ref][j])
            for key, kind, ref, j in self.edge_plan
        }


class Clearing:
    """Allocates a month's compute over the supply graph and finds its minimum cut."""

    def __init__(self, graph: nx.DiGraph, clouds: list[str], buyers: list[str]):
        self.graph = graph
        self.clouds = clouds
        self.buyers = buyers
        self.cloud_pos = {c: i for i, c in enumerate(clouds)}
        self.buyer_pos = {b: j for j, b in enumerate(buyers)}
        order = list(nx.topological_sort(graph))
        self.upstream_nodes = [v for v in order if graph.nodes[v]["kind"] in ("supplier", "cloud")]
        self.preds = {v: [u for u in graph.predecessors(v) if u != SOURCE] for v in self.upstream_nodes}
        self.succs = {
            v: [w for w in graph.successors(v) if graph.nodes[w]["kind"] in ("supplier", "cloud")]
            for v in self.upstream_nodes
        }
        self.buyer_edges = np.zeros((len(clouds), len(buyers)), dtype=bool)
        for c in clouds:
            for b in graph.successors(c):
                if b in self.buyer_pos:
                    self.buyer_edges[self.cloud_pos[c], self.buyer_pos[b]] = True
        self.flow_graph = self._split_graph()
        self.cuts = CutCandidates(graph, self.upstream_nodes, clouds)
        pos = {v: k for k, v in enumerate(self.upstream_nodes)}
        edge = {(u, v): e for e, (u, v) in enumerate((u, v) for v in self.upstream_nodes for u in self.preds[v])}
        self._edge_count = len(edge)
        self._cloud_of = [self.cloud_pos.get(v, -1) for v in self.upstream_nodes]
        self._pred_pos = [[pos[u] for u in self.preds[v]] for v in self.upstream_nodes]
        self._pred_edges = [[edge[(u, v)] for u in self.preds[v]] for v in self.upstream_nodes]
        self._succ_pos = [[pos[w] for w in self.succs[v]] for v in self.upstream_nodes]
        self._succ_edges = [[edge[(v, w)] for w in self.succs[v]] for v in self.upstream_nodes]
        self._topology = (
            np.array(self._cloud_of, dtype=np.int64),
            *csr_rows(self._pred_pos),
            csr_rows(self._pred_edges)[1],  # the same rows as the predecessors: one pointer array serves both
            *csr_rows(self._succ_pos),
            csr_rows(self._succ_edges)[1],
        )
        self._cloud_nodes = np.array([pos[c] for c in clouds], dtype=np.int64)  # each cloud's position among the nodes
        self._edge_plan = self.edge_plan()
        self._kind_cells: dict[bytes, list] = {}  # see typed()

    def edge_plan(self) -> list[tuple[tuple[str, str], int, int, int]]:
        """The edges whose flow a month reports, in the order the pass along the flow meets them.

        Each is (edge, kind, reference, buyer): a source edge carries the node's served
        compute (reference: the node's position), a supply edge its share of it (the edge's
        index), a cloud's edge to a buyer what the cloud sold it (the cloud, the buyer).
        """
        plan = []
        for k, v in enumerate(self.upstream_nodes):
            if not self._pred_pos[k]:
                plan.append(((SOURCE, v), SOURCE_EDGE, k, -1))
            i = self._cloud_of[k]
            if i >= 0:
                plan.extend(((v, b), BUYER_EDGE, i, j) for b, j in self.buyer_pos.items() if self.buyer_edges[i, j])
                continue
            plan.extend(((v, w), SUPPLY_EDGE, e, -1) for w, e in zip(self.succs[v], self._succ_edges[k], strict=True))
        return plan

    def _split_graph(self) -> nx.DiGraph:
        """Each capacitated node v becomes an edge v:in -> v:out carrying its capacity."""
        h = nx.DiGraph()
        for v in self.upstream_nodes:
            h.add_edge(f"{v}:in", f"{v}:out", capacity=0.0, node=v)
            for u in self.graph.predecessors(v):
                h.add_edge(SOURCE if u == SOURCE else f"{u}:out", f"{v}:in")
        for c in self.clouds:
            for b in self.buyers:
                if self.buyer_edges[self.cloud_pos[c], self.buyer_pos[b]]:
                    h.add_edge(f"{c}:out", b, capacity=0.0)
        for b in self.buyers:
            h.add_edge(b, SINK)
        return h

    def clear(
        self, capacity: dict[str, float], contract_req: np.ndarray, spot_req: np.ndarray, ration
    ) -> ClearingResult:
        """Allocate the month's compute over the graph and find the binding nodes.

        ``capacity`` is in accelerators per supplier and cloud node; ``contract_req`` and
        ``spot_req`` (clouds x buyers) are what buyers ask of each cloud;
        ``ration(available, contract_req, spot_req)`` splits each cloud's compute (row ``i``:
        cloud ``i`` has ``available[i]``) among its buyers and returns what it serves them
        under contract and at spot.

        The two passes run compiled (:func:`pro_rata_passes`) with the float operations, in
        their order, of the pro-rata rules, and sums as numpy adds them. Each figure keeps the
        type the rules give it (:func:`typed`): a node's capacity as given, or a plain or numpy
        float as the rule's operands make it. Python's ``sum`` adds plain floats with
        compensation, numpy's scalars without, and the books sum these figures. The clouds
        ration after the passes, since no node is downstream of a cloud.
        """
        nodes = self.upstream_nodes
        given = [capacity[v] for v in nodes]
        requests, cloud_asked, requested = asked_of_clouds(contract_req, spot_req)
        cap = np.array(given, dtype=np.float64)
        figures, kinds, passed = pro_rata_passes(cap, cloud_asked, *self._topology, self._edge_count)
        asked, served, available = typed(figures, kinds, given, self._kind_cells)
        contract, spot = ration(figures[1][self._cloud_nodes], contract_req, spot_req)
        served_total = table_sum(contract) + table_sum(spot)
        max_flow, binding = requested, set()
        if served_total < requested * (1.0 - 1e-12):
            max_flow, binding = self.cut_of(capacity, cap, requests, requested)
        # else a feasible flow already meets every request: the maximum flow is the requests, no link binds
        return ClearingResult(
            contract, spot, nodes, served, asked, available, max_flow, requested, binding,
            self._edge_plan, passed.tolist(), served_total,
        )  # fmt: skip

    def min_cut(self, capacity: dict[str, float], requests: np.ndarray) -> tuple[float, set[str]]:
        """Maximum flow value and the capacitated nodes on networkx's minimum cut (see the module docstring)."""
        cap = np.array([capacity[v] for v in self.upstream_nodes], dtype=np.float64)
        return self.cut_of(capacity, cap, requests, float(np.add.reduce(requests, axis=None)))

    def cut_of(
        self, capacity: dict[str, float], cap: np.ndarray, requests: np.ndarray, requested: float
    ) -> tuple[float, set[str]]:
        """:meth:`min_cut`, given also the capacities as an array (in ``upstream_nodes`` order) and the requests' total."""
        if self.cuts.crossing is None:
            return self.networkx_min_cut(capacity, requests)
        value, crossed = self.cuts.min_cut(cut_weights(cap, requests, self.buyer_edges))
        if value >= requested * (1 - 1e-9):
            return value, set()
        return value, {v for v, cut in zip(self.upstream_nodes, crossed, strict=True) if cut}

    def networkx_min_cut(self, capacity: dict[str, float], requests: np.ndarray) -> tuple[float, set[str]]:
        """The same as :meth:`min_cut`, by networkx's Edmonds-Karp on the split graph (for graphs with too many cuts)."""
        h = self.flow_graph
        for v in self.upstream_nodes:
            h.edges[f"{v}:in", f"{v}:out"]["capacity"] = max(capacity[v], 0.0)
        for c in self.clouds:
            i = self.cloud_pos[c]
            for b in self.buyers:
                j = self.buyer_pos[b]
                if self.buyer_edges[i, j]:
                    h.edges[f"{c}:out", b]["capacity"] = float(requests[i, j])
        value, (reachable, _) = nx.minimum_cut(h, SOURCE, SINK, flow_func=edmonds_karp)
        if value >= np.add.reduce(requests, axis=None) * (1 - 1e-9):
            return value, set()
        binding = {d["node"] for u, w, d in h.edges(data=True) if "node" in d and u in reachable and w not in reachable}
        return value, binding
