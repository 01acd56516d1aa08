"""The model's invariants hold over the whole valid parameter space, month by month.

Parameter sets are drawn by walking the pydantic schema: every numeric field is drawn from
its declared ``ge/gt/le/lt`` bounds, every enum and flag from its values, every month from
the months around the simulated horizon. Only these ranges are narrowed, for run time:

* ``simulation.months`` to 1-18: the invariants are checked every month, and a year and a
  half reaches contract expiry, capacity arrivals and funding; fifty years are covered in
  tests/test_edge_cases.py.
* ``simulation.developer_agents`` to 1-300: the developers' rules are array operations,
  so a few hundred rows exercise them as a million would.
* ``developers.client_count`` to 1-100,000: a Zipf draw over ten million clients takes a
  second per model and adds no new rule.

Cross-field rules of the schema are met by construction, not by rejection: entity names
come first, and references (a lab's clouds and reference plan, a cloud's owner and
upstream suppliers, a supplier's upstream suppliers) are drawn from them; a supplier's
upstream suppliers are drawn from those listed before it, so the graph has no cycle; a
lab's ``min_price_index`` and ``max_price_index`` are drawn and then put in order.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Any, get_args, get_origin

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from networkx.algorithms.flow import shortest_augmenting_path
from pydantic import BaseModel
from strategies import subset

from agentmarket.agents.labs import LabState
from agentmarket.model import MarketModel
from agentmarket.output import tidy
from agentmarket.params import MONTH_PATTERN, Cloud, Lab, Layer, Params, Plan, Supplier
from agentmarket.supply_graph import OTHER_AI, SINK, SOURCE

NARROWED = {
    "simulation.months": (1, 18),
    "simulation.developer_agents": (1, 300),
    "developers.client_count": (1, 100_000),
}
"""Ranges narrowed for run time only (see the module docstring); each lies inside its schema range."""

MONTH_YEARS = (2022, 2026)
"""Months (start, capability step and stall, supply shocks) are drawn from these years, so
that dated events fall inside, before and after the short simulated horizons."""

REL = 1e-7
"""Relative tolerance of the money and flow identities (sums of float64 values)."""


# ----- a strategy that walks the schema -------------------------------------------------------
def bounds(field: Any) -> dict[str, Any]:
    """The ``ge/gt/le/lt`` bounds declared on a schema field."""
    out = {}
    for meta in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(meta, attr, None) is not None:
                out[attr] = getattr(meta, attr)
    return out


def pattern(field: Any) -> str | None:
    return next((m.pattern for m in field.metadata if getattr(m, "pattern", None)), None)


def unit(field: Any) -> str:
    return (field.json_schema_extra or {}).get("unit", "")


months = st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(*MONTH_YEARS), st.integers(1, 12))


def field_strategy(field: Any, key: str) -> st.SearchStrategy:
    """Values of one scalar field drawn from its declared range (narrowed only per NARROWED)."""
    ann = field.annotation
    if isinstance(ann, type) and issubclass(ann, Enum):
        return st.sampled_from([m.value for m in ann])
    if ann is bool:
        return st.booleans()
    if ann in (int, float):
        b = bounds(field)
        assert ("ge" in b or "gt" in b) and ("le" in b or "lt" in b), f"{key}: numeric field without both bounds"
        if ann is int:
            lo = b["ge"] if "ge" in b else b["gt"] + 1
            hi = b["le"] if "le" in b else b["lt"] - 1
            if key in NARROWED:
                n_lo, n_hi = NARROWED[key]
                assert lo <= n_lo <= n_hi <= hi, f"{key}: narrowed range outside the schema's"
                lo, hi = n_lo, n_hi
            return st.integers(lo, hi)
        return st.floats(
            min_value=b.get("ge", b.get("gt")),
            max_value=b.get("le", b.get("lt")),
            exclude_min="gt" in b,
            exclude_max="lt" in b,
            allow_nan=False,
            allow_infinity=False,
        )
    if ann is str and pattern(field) == MONTH_PATTERN:
        return months
    if ann is str and unit(field) == "YYYY-MM or empty":
        return st.one_of(st.just(""), months)
    if ann is str and unit(field) == "text":
        return st.text(max_size=20)
    raise AssertionError(f"{key}: no strategy for a field of type {ann!r}; extend the schema walker")


def draw_table(draw, model: type[BaseModel], key: str, refs: dict[str, st.SearchStrategy]) -> dict[str, Any]:
    """A raw table of ``model``: every field drawn; ``refs`` supplies fields that name entities."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        path = f"{key}.{name}" if key else name
        ann = field.annotation
        if name in refs:
            out[name] = draw(refs[name])
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            out[name] = draw_table(draw, ann, path, {})
        elif get_origin(ann) in (dict, list):
            raise AssertionError(f"{path}: entity table or name list without a rule in valid_params")
        else:
            out[name] = draw(field_strategy(field, path))
    return out


@st.composite
def valid_params(draw) -> Params:
    """A whole valid parameter set, every field drawn from its declared range."""
    lab_names = [f"lab_{i}" for i in range(draw(st.integers(1, 3)))]
    cloud_names = [f"cloud_{i}" for i in range(draw(st.integers(1, 3)))]
    supplier_layers = [layer for layer in Layer for _ in range(draw(st.integers(1, 2)))]
    supplier_names = [f"{layer.value}_{i}" for i, layer in enumerate(supplier_layers)]

    raw = {
        name: draw_table(draw, ann, name, {})
        for name, f in Params.model_fields.items()
        if isinstance(ann := f.annotation, type) and issubclass(ann, BaseModel)
    }
    raw["name"] = draw(field_strategy(Params.model_fields["name"], "name"))
    raw["description"] = draw(field_strategy(Params.model_fields["description"], "description"))

    raw["labs"] = {}
    for lab in lab_names:
        plan_names = [f"plan_{i}" for i in range(draw(st.integers(1, 3)))]
        plans = {p: draw_table(draw, Plan, f"labs.{lab}.plans.{p}", {}) for p in plan_names}
        table = draw_table(
            draw,
            Lab,
            f"labs.{lab}",
            {
                "plans": st.just(plans),
                "reference_plan": st.sampled_from(plan_names),
                "clouds": subset(cloud_names),
            },
        )
        table["min_price_index"], table["max_price_index"] = sorted(
            (table["min_price_index"], table["max_price_index"])
        )
        raw["labs"][lab] = table
    raw["clouds"] = {
        c: draw_table(
            draw,
            Cloud,
            f"clouds.{c}",
            {"owner": st.sampled_from(["", *lab_names]), "upstream": subset(supplier_names)},
        )
        for c in cloud_names
    }
    if any(not t["clouds"] for t in raw["labs"].values()) and all(t["owner"] for t in raw["clouds"].values()):
        raw["clouds"][cloud_names[0]]["owner"] = ""  # the schema asks for one open cloud
    raw["suppliers"] = {
        s: draw_table(
            draw,
            Supplier,
            f"suppliers.{s}",
            {"layer": st.just(layer.value), "upstream": subset(supplier_names[:i])},
        )
        for i, (s, layer) in enumerate(zip(supplier_names, supplier_layers, strict=True))
    }
    return Params.model_validate(raw)


# ----- watching a run month by month -----------------------------------------------------------
class ClearingSpy:
    """Records what the model handed to the clearing each month and what came back."""

    def __init__(self, model: MarketModel) -> None:
        self.inner = model.clearing.clear
        self.months: list[tuple[dict[str, float], np.ndarray, Any]] = []
        model.clearing.clear = self

    def __call__(self, capacity, contract_req, spot_req, ration):
        result = self.inner(capacity, contract_req, spot_req, ration)
        self.months.append((dict(capacity), contract_req + spot_req, result))
        return result


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-6)


def independent_min_cut(model: MarketModel, capacity: dict[str, float], requests: np.ndarray):
    """Max flow over the supply graph, rebuilt here from its relations and this month's numbers.

    Returns the max-flow value and a function giving, for a set of capacitated nodes, the
    smallest cut that contains exactly those nodes' capacities plus demand edges.
    """
    g = model.graph
    buyers = [*model.lab_names, OTHER_AI]
    clouds = [c.name for c in model.clouds]

    def network(cut_nodes: set[str] | None) -> nx.DiGraph:
        h = nx.DiGraph()
        for v, data in g.nodes(data=True):
            if data["kind"] in ("supplier", "cloud"):
                cap = capacity[v] if cut_nodes is None else (0.0 if v in cut_nodes else math.inf)
                h.add_edge(("in", v), ("out", v), capacity=max(cap, 0.0))
                for u in g.predecessors(v):
                    h.add_edge(SOURCE if u == SOURCE else ("out", u), ("in", v))
        for i, c in enumerate(clouds):
            for j, b in enumerate(buyers):
                if g.has_edge(c, b):
                    h.add_edge(("out", c), b, capacity=float(requests[i, j]))
        for b in buyers:
            h.add_edge(b, SINK)
        return h

    value = nx.maximum_flow_value(network(None), SOURCE, SINK, flow_func=shortest_augmenting_path)

    def cut_capacity(nodes: set[str]) -> float:
        rest = nx.maximum_flow_value(network(nodes), SOURCE, SINK, flow_func=shortest_augmenting_path)
        return sum(max(capacity[v], 0.0) for v in nodes) + rest

    return value, cut_capacity


def check_month(model: MarketModel, spy: ClearingSpy, before: dict[str, dict[str, Any]]) -> None:
    """Every invariant of one simulated month."""
    capacity, requests, result = spy.months[-1]

    # prices, capacities and flows are never negative, and never NaN or infinite
    for s in model.suppliers:
        for v in (s.price, s.capacity, s.served, s.demand, s.supports_acc):
            assert math.isfinite(v) and v >= 0, (s.name, s.price, s.capacity, s.served, s.demand)
    for c in model.clouds:
        for v in (c.capacity, c.served, c.revenue, c.spot_price, c.contract_price, c.capex, c.requested):
            assert math.isfinite(v) and v >= 0, (c.name, c.capacity, c.served, c.revenue, c.spot_price)
    for lab in model.labs:
        flows = (
            lab.revenue,
            lab.subscription_revenue,
            lab.api_revenue,
            lab.other_revenue,
            lab.inference_cost,
            lab.training_cost,
            lab.other_cost,
            lab.compute_paid,
            lab.funding,
            lab.price,
            lab.demand,
            lab.served,
            lab.subscribers,
        )
        assert all(math.isfinite(v) and v >= 0 for v in flows), (lab.name, flows)
        assert math.isfinite(lab.cash) and math.isfinite(lab.gross_margin) and math.isfinite(lab.ebitda)
        assert 0.0 <= lab.service_level <= 1.0
    assert np.isfinite(model.developers.paid_usd).all() and (model.developers.paid_usd >= 0).all()
    assert model.developers.weight > 0

    # compute served at or below capacity: every supplier, every layer, every cloud, every buyer
    for s in model.suppliers:
        assert result.node_served[s.name] <= capacity[s.name] * (1 + REL) + 1e-9, s.name
    for layer, stats in model.layer_stats.items():
        assert stats["utilization"] <= 1.0 + REL, layer
    for i, c in enumerate(model.clouds):
        assert c.served <= c.capacity * (1 + REL) + 1e-9, c.name
        given_out = result.contract_served[i].sum() + result.spot_served[i].sum()
        assert given_out <= c.served * (1 + REL) + 1e-9, c.name
        assert given_out <= c.capacity * (1 + REL) + 1e-9, c.name
    served = result.contract_served + result.spot_served
    assert (served >= 0).all()
    assert (served <= requests * (1 + REL) + 1e-9).all(), "a buyer got more than it asked a cloud for"
    assert model.compute_served <= model.max_flow * (1 + REL) + 1e-6, "allocation exceeds the maximum flow"
    for lab, got in zip(model.labs, served[:, : len(model.labs)].sum(axis=0), strict=True):
        assert close(lab.served, got)

    # shares are shares
    assert 0.0 <= model.adoption_share <= 1.0
    assert 0.0 <= model.agent_work_share <= 1.0 + REL
    for lab in model.labs:
        assert 0.0 <= lab.agent_work_share <= 1.0 + REL
        assert 0.0 <= lab.api_share <= 1.0 + REL

    # money identities
    from_developers = sum(lab.subscription_revenue + lab.api_revenue for lab in model.labs)
    assert close(model.developer_payments, from_developers), (model.developer_payments, from_developers)
    to_clouds = sum(c.revenue for c in model.clouds)
    from_buyers = sum(lab.compute_paid for lab in model.labs) + model.other_ai_paid
    assert close(to_clouds, from_buyers), (to_clouds, from_buyers)
    for lab in model.labs:
        assert close(lab.revenue, lab.subscription_revenue + lab.api_revenue + lab.other_revenue)
        assert close(lab.compute_paid, lab.inference_cost + lab.training_cost)

    # cash: may go negative, but only as the documented distress rule says
    for lab in model.labs:
        prev = before[lab.name]
        assert close(lab.cash, prev["cash"] + lab.ebitda + lab.funding), lab.name
        if lab.cash < 0:
            assert lab.state is not LabState.ACTIVE, f"{lab.name} has negative cash but is still active"
        if prev["state"] is not LabState.ACTIVE:
            assert lab.training_demand == 0.0 and lab.training_served == 0.0, (
                f"{lab.name} trains while {prev['state'].value}"
            )
            # it may still pay for capacity it booked to train on (take-or-pay), but buys no spot for it
            assert lab.training_cost <= (lab.compute_paid - lab.spot_paid) * (1 + REL) + 1e-6, lab.name
        if prev["state"] is LabState.EXITED:
            assert lab.demand == 0.0 and lab.subscribers == 0.0 and lab.funding == 0.0, lab.name
            assert lab.subscription_revenue == 0.0 and lab.api_revenue == 0.0, lab.name

    # the binding flags name exactly the capacitated nodes of a minimum cut
    value, cut_capacity = independent_min_cut(model, capacity, requests)
    assert close(model.max_flow, value), (model.max_flow, value)
    bound = set(result.binding_nodes)
    suppliers_bound = {s.name for s in model.suppliers if s.binding}
    clouds_bound = {c.name for c in model.clouds if c.name in bound}
    assert suppliers_bound == bound - clouds_bound
    assert model.binding_layers == {s.layer.value for s in model.suppliers if s.binding}
    assert model.cloud_binding == int(bool(clouds_bound))
    for layer, stats in model.layer_stats.items():
        assert stats["binding"] == int(layer in model.binding_layers)
    demand = float(requests.sum())
    if value < demand * (1 - 1e-6):
        assert bound, "demand exceeds supply but no layer or cloud is flagged as binding"
        assert close(cut_capacity(bound), value), "the flagged nodes are not on a minimum cut"
    elif value >= demand * (1 - 1e-9):
        assert not bound, "demand is met but a layer is flagged as binding"


def snapshot(model: MarketModel) -> dict[str, dict[str, Any]]:
    return {lab.name: {"cash": lab.cash, "state": lab.state} for lab in model.labs}


def run_checked(params: Params, seed: int) -> MarketModel:
    """Run ``params`` to its end, checking every invariant after every month."""
    model = MarketModel(params, rng=seed)
    spy = ClearingSpy(model)
    for _ in range(params.simulation.months):
        before = snapshot(model)
        model.step()
        check_month(model, spy, before)
    assert len(spy.months) == params.simulation.months
    return model


# ----- the properties --------------------------------------------------------------------------
@given(params=valid_params(), seed=st.integers(0, 2**32 - 1))
def test_every_month_holds_the_invariants(params: Params, seed: int) -> None:
    model = run_checked(params, seed)
    if not params.simulation.collect_data:
        with pytest.raises(ValueError, match="collected no data"):
            tidy(model)
        return
    table = tidy(model)
    assert table["date"].nunique() == params.simulation.months
    bad = table[~np.isfinite(table["value"])]
    assert bad.empty, f"NaN or infinity in the output:\n{bad.head(10)}"
    nonneg = table[table["metric"].isin(NONNEGATIVE_METRICS) & (table["value"] < 0)]
    assert nonneg.empty, f"negative values of metrics that cannot be negative:\n{nonneg.head(10)}"
    fractions = table[table["metric"].isin(FRACTION_METRICS)]
    assert fractions["value"].between(0.0, 1.0 + REL).all(), fractions[~fractions["value"].between(0, 1 + REL)]


NONNEGATIVE_METRICS = {
    "revenue",
    "subscription_revenue",
    "api_revenue",
    "inference_cost",
    "inference_cost_planned",
    "training_cost",
    "other_cost",
    "funding",
    "funding_rounds",
    "price",
    "api_price_usd_per_acc",
    "subscribers",
    "capability",
    "demand",
    "served",
    "compute_price",
    "contract_price_per_hour",
    "capacity",
    "capex",
    "adopters",
    "subscription_price",
    "memory_price",
    "developer_payments",
    "compute_served",
    "compute_requested",
    "max_flow",
}
FRACTION_METRICS = {
    "adoption_share",
    "agent_work_share",
    "api_share",
    "service_level",
    "utilization",
    "binding",
    "cloud_binding",
    "exited",
}


def fields_left_to_defaults(obj: Any, key: str = "") -> list[str]:
    """Dotted keys of every schema field that a validated value got from its default, not its input."""
    if isinstance(obj, BaseModel):
        missing = [f"{key}{name}" for name in type(obj).model_fields if name not in obj.model_fields_set]
        for name in obj.model_fields_set:
            missing += fields_left_to_defaults(getattr(obj, name), f"{key}{name}.")
        return missing
    if isinstance(obj, dict):
        return [m for name, value in obj.items() for m in fields_left_to_defaults(value, f"{key}{name}.")]
    return []


@given(params=valid_params())
def test_drawn_parameter_sets_cover_the_schema(params: Params) -> None:
    """The walker reaches every field: no field of a drawn set, at any depth, was left to its default."""
    assert fields_left_to_defaults(params) == []
    assert params.labs and params.clouds and params.suppliers
    assert re.match(MONTH_PATTERN, params.simulation.start)


def test_every_numeric_parameter_declares_its_range_unit_and_meaning() -> None:
    """What the walker relies on: no numeric field without bounds, a unit and a description."""

    def walk(model: type[BaseModel], prefix: str) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            ann = field.annotation
            key = prefix + name
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                missing += walk(ann, key + ".")
            elif get_origin(ann) is dict and issubclass(get_args(ann)[1], BaseModel):
                missing += walk(get_args(ann)[1], key + ".*.")
            elif ann in (int, float):
                b = bounds(field)
                if not (("ge" in b or "gt" in b) and ("le" in b or "lt" in b) and unit(field) and field.description):
                    missing.append(key)
        return missing

    assert walk(Params, "") == []
