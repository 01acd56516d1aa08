"""Unit tests of single rules on hand-built inputs, without running a model.

Each test builds the few numbers a rule reads (a three-node supply graph, a lab's spec and
books, a supplier's pipeline, a cloud's requests) and checks the rule's exact arithmetic.
Agents that need a model get a bare ``mesa.Model`` holding only the parameters and the
month's market conditions.
"""

from __future__ import annotations

import math
import warnings

import mesa
import networkx as nx
import numpy as np
import pytest

from agentmarket.agents.clouds import CloudAgent
from agentmarket.agents.developers import gate_roi
from agentmarket.agents.labs import Contract, LabAgent, LabState
from agentmarket.agents.suppliers import SupplierAgent
from agentmarket.market import MarketConditions, holt_update, tightness
from agentmarket.params import Cloud, Lab, Layer, Params, PricingPolicy, Supplier
from agentmarket.supply_graph import SINK, SOURCE, Clearing

START = Params().start_index


def bare_model(month: int = START) -> mesa.Model:
    """A Mesa model holding only the default parameters and one month's market conditions."""
    model = mesa.Model(rng=0)
    model.params = Params()
    model.conditions = MarketConditions.build(model.params, month, 10**9, [], math.nan)
    return model


# ----- clearing and the minimum cut ------------------------------------------------------
def three_node_clearing() -> Clearing:
    """memory maker -> cloud -> lab, the smallest supply chain with a supplier and a cloud."""
    g = nx.DiGraph()
    g.add_node(SOURCE, kind="source")
    g.add_node("hbm", kind="supplier", layer=Layer.MEMORY.value)
    g.add_node("cloud", kind="cloud", owner="")
    g.add_node("lab", kind="lab")
    g.add_node(SINK, kind="sink")
    g.add_edges_from([(SOURCE, "hbm"), ("hbm", "cloud"), ("cloud", "lab"), ("lab", SINK)])
    return Clearing(g, ["cloud"], ["lab"])


def contracts_first(available, contract, spot):
    """Serve contracts, then spot, as far as each cloud's ``available`` goes (one buyer)."""
    c = np.minimum(contract, available[:, None])
    return c, np.minimum(spot, available[:, None] - c.sum(axis=1, keepdims=True))


@pytest.mark.parametrize(
    ("hbm", "cloud", "served", "binding"),
    [(100.0, 50.0, 50.0, {"cloud"}), (30.0, 50.0, 30.0, {"hbm"}), (100.0, 200.0, 80.0, set())],
)
def test_clearing_serves_what_the_narrowest_node_allows_and_names_it_on_the_cut(hbm, cloud, served, binding):
    clearing = three_node_clearing()
    result = clearing.clear({"hbm": hbm, "cloud": cloud}, np.array([[60.0]]), np.array([[20.0]]), contracts_first)
    assert result.requested == 80.0
    assert result.max_flow == pytest.approx(served, rel=1e-12)
    assert result.node_served == {"hbm": min(hbm, served), "cloud": served}
    assert result.contract_served[0, 0] + result.spot_served[0, 0] == pytest.approx(served, rel=1e-12)
    assert result.contract_served[0, 0] == min(60.0, served)
    assert result.binding_nodes == binding
    assert result.node_asked == {"cloud": 80.0, "hbm": min(cloud, 80.0)}


def test_min_cut_of_the_three_node_graph_is_its_smallest_capacity():
    clearing = three_node_clearing()
    assert clearing.min_cut({"hbm": 30.0, "cloud": 50.0}, np.array([[80.0]])) == (30.0, {"hbm"})
    assert clearing.min_cut({"hbm": 90.0, "cloud": 50.0}, np.array([[80.0]])) == (50.0, {"cloud"})
    assert clearing.min_cut({"hbm": 90.0, "cloud": 95.0}, np.array([[80.0]])) == (80.0, set())


# ----- the cloud's rationing rule ---------------------------------------------------------
def test_cloud_rationing_serves_contracts_in_full_then_spot_pro_rata():
    cloud = CloudAgent(bare_model(), spec=Cloud())
    contract, spot = cloud.ration(100.0, np.array([60.0, 20.0]), np.array([30.0, 10.0]))
    np.testing.assert_array_equal(contract, [60.0, 20.0])
    np.testing.assert_allclose(spot, [15.0, 5.0], rtol=1e-15)


def test_cloud_rationing_short_of_contracts_cuts_them_pro_rata_and_serves_no_spot():
    cloud = CloudAgent(bare_model(), spec=Cloud())
    contract, spot = cloud.ration(40.0, np.array([60.0, 20.0]), np.array([30.0, 10.0]))
    np.testing.assert_allclose(contract, [30.0, 10.0], rtol=1e-15)
    np.testing.assert_array_equal(spot, [0.0, 0.0])


# ----- pricing policies -------------------------------------------------------------------
def lab_with(policy: PricingPolicy, **spec) -> LabAgent:
    return LabAgent(bare_model(), name="lab", spec=Lab(pricing_policy=policy, **spec))


def test_hold_keeps_the_price_index():
    lab = lab_with(PricingPolicy.HOLD)
    lab.price_index, lab.service_level = 1.3, 0.2
    lab.set_price([lab_with(PricingPolicy.HOLD)])
    assert lab.price_index == 1.3


def test_undercut_prices_a_share_below_the_cheapest_rival():
    lab = lab_with(PricingPolicy.UNDERCUT, undercut=0.3)
    cheap, dear = lab_with(PricingPolicy.HOLD), lab_with(PricingPolicy.HOLD)
    cheap.price_index, dear.price_index = 0.8, 2.0
    lab.set_price([dear, cheap])
    reference = lab.spec.plans[lab.spec.reference_plan].price_usd_per_month
    assert lab.price_index == pytest.approx(0.7 * 0.8 * reference / reference, rel=1e-15)
    cheap.price_index = 0.1  # 0.07 would be below the floor of the index
    lab.set_price([cheap])
    assert lab.price_index == lab.spec.min_price_index


@pytest.mark.parametrize(("margin", "step"), [(0.48, 0.02), (0.1, 0.05), (0.9, -0.05)])
def test_cost_plus_moves_the_index_by_the_margin_gap_within_the_monthly_limit(margin, step):
    lab = lab_with(PricingPolicy.COST_PLUS, target_gross_margin=0.5, price_adjust_per_month=0.05)
    lab.gross_margin = margin
    lab.set_price([])
    assert lab.price_index == pytest.approx(math.exp(step), rel=1e-12)


def test_adaptive_rises_with_unserved_demand_and_moves_towards_rivals():
    lab = lab_with(
        PricingPolicy.ADAPTIVE,
        scarcity_response=0.15,
        list_price_pull=0.2,
        rival_response=0.2,
        price_adjust_per_month=0.05,
    )
    rival = lab_with(PricingPolicy.HOLD)
    lab.price_index, lab.service_level, rival.price_index = 1.0, 0.9, 1.1
    lab.set_price([rival])
    assert lab.price_index == pytest.approx(math.exp(0.15 * 0.1 + 0.2 * math.log(1.1)), rel=1e-12)
    lab.price_index, lab.service_level = 1.2, 1.0
    lab.set_price([])
    assert lab.price_index == pytest.approx(1.2 * math.exp(-0.2 * math.log(1.2)), rel=1e-12)


@pytest.mark.parametrize(("margin", "cut"), [(0.8, math.exp(-0.3)), (0.5, 1.0), (-0.9, 1.0)])
def test_an_adaptive_lab_above_plan_cuts_its_api_list_by_the_gap_and_keeps_its_plan_prices(margin, cut):
    lab = lab_with(PricingPolicy.ADAPTIVE, target_gross_margin=0.5, scarcity_response=0.0, list_price_pull=0.0)
    lab.model.conditions = lab.model.conditions.with_start_base_price(500.0)
    api_before, plan_before = lab.api_list_price_usd_per_acc, lab.plan_price("max")
    lab.service_level, lab.gross_margin = 1.0, margin
    lab.set_price([])
    assert lab.api_list_price_usd_per_acc == pytest.approx(api_before * cut, rel=1e-12)
    assert lab.plan_price("max") == plan_before
    assert lab.price_index == 1.0


@pytest.mark.parametrize("policy", [PricingPolicy.HOLD, PricingPolicy.COST_PLUS, PricingPolicy.UNDERCUT])
def test_only_the_adaptive_policy_cuts_the_api_list(policy):
    lab = lab_with(policy, target_gross_margin=0.5)
    lab.model.conditions = lab.model.conditions.with_start_base_price(500.0)
    before = lab.api_list_price_usd_per_acc
    lab.gross_margin = 0.9
    lab.set_price([lab_with(PricingPolicy.HOLD)])
    assert lab.api_list_price_usd_per_acc == before


def test_adaptive_and_cost_plus_prices_stay_within_the_index_bounds():
    lab = lab_with(PricingPolicy.ADAPTIVE, scarcity_response=0.15, price_adjust_per_month=0.05, max_price_index=1.02)
    lab.price_index, lab.service_level = 1.0, 0.0  # a step of +0.05 would pass the ceiling
    lab.set_price([])
    assert lab.price_index == 1.02
    lab = lab_with(PricingPolicy.COST_PLUS, target_gross_margin=0.5, price_adjust_per_month=0.05, min_price_index=0.99)
    lab.gross_margin = 0.9  # a step of -0.05 would pass the floor
    lab.set_price([])
    assert lab.price_index == 0.99


def test_a_distressed_lab_prices_at_cost_plus_whatever_its_policy():
    lab = lab_with(PricingPolicy.UNDERCUT, target_gross_margin=0.5)
    lab.state, lab.gross_margin = LabState.DISTRESSED, 0.47
    lab.set_price([lab_with(PricingPolicy.HOLD)])
    assert lab.price_index == pytest.approx(math.exp(0.03), rel=1e-12)


# ----- a lab's books -----------------------------------------------------------------------
def test_a_labs_books_split_compute_by_use_and_cash_moves_by_ebitda():
    """Revenue is subscriptions + API + other revenue; training is charged for the booked
    capacity that is training's (:meth:`receive_compute`'s ``training_charged_acc``) at the contract price and for its share of spot, inference for the
    rest; EBITDA takes off both, and the other costs; cash moves by EBITDA (no round: the
    runway is long)."""
    lab = lab_with(
        PricingPolicy.HOLD,
        initial_cash_usd=1e12,
        other_revenue_usd_per_month=300.0,
        other_revenue_growth_per_year=0.0,
        other_cost_fixed_usd_per_month=100.0,
        other_cost_share_of_revenue=0.1,
    )
    lab.contracts = [Contract(cloud=0, start=START, end=START + 12, acc=100.0, price_usd_per_acc_month=2.0)]
    # as receive_compute leaves them: 50 of the booked 100 are training's (it ran on them, or they
    # were booked for its run), and training took a quarter of spot
    lab.training_on_contract = lab.training_charged_acc = 50.0
    lab.training_spot_share = 0.25
    lab.settle(1000.0, 500.0, 800.0, spot_paid_usd=400.0)
    assert lab.revenue == 1800.0
    assert (lab.training_cost, lab.inference_cost) == (50.0 * 2.0 + 0.25 * 400.0, 600.0)
    assert lab.other_cost == pytest.approx(100.0 + 180.0, rel=1e-15)
    assert lab.ebitda == pytest.approx(1800.0 - 800.0 - 280.0, rel=1e-15)
    assert lab.gross_margin == pytest.approx((1800.0 - 600.0) / 1800.0, rel=1e-15)
    assert lab.cash == pytest.approx(1e12 + 720.0, rel=1e-15) and lab.funding == 0.0


# ----- the forecaster ---------------------------------------------------------------------
def test_holt_update_smooths_level_and_trend():
    assert holt_update(10.0, 1.0, 14.0, 0.5) == (12.5, 1.75)
    assert holt_update(0.0, 0.0, 7.0, 0.3) == (7.0, 0.0), "the first observation sets the level"


def test_a_labs_forecast_follows_holt_and_extrapolates_the_trend():
    lab = lab_with(PricingPolicy.HOLD, forecast_smoothing=0.5)
    for demand in (100.0, 120.0, 140.0):
        lab.coding_demand = demand  # users' compute: the lab forecasts inference, not its training plan
        lab.update_forecast()
    # level 100; then 0.5*120 + 0.5*100 = 110, trend 5; then 0.5*140 + 0.5*115 = 127.5, trend 0.5*17.5 + 2.5
    assert (lab.forecast_level, lab.forecast_trend) == (127.5, 11.25)
    assert lab.forecast(6) == 127.5 + 6 * 11.25
    lab.forecast_trend = -100.0
    assert lab.forecast(6) == 0.0


# ----- a supplier's expansion and its lead time -------------------------------------------
def test_a_pressed_supplier_orders_expansion_that_arrives_after_its_lead_time():
    model = bare_model()
    spec = Supplier(capacity=1000.0, expansion_per_year=0.75, expansion_trigger=0.85, lead_months=18)
    supplier = SupplierAgent(model, name="hbm", spec=spec)
    supplier.pressure = 1.0
    supplier.order_expansion(START)
    assert list(supplier.pipeline) == [(START + 18, 62.5)]  # 1000 * 0.75 / 12
    supplier.receive_expansions(START + 17)
    assert supplier.installed_capacity == 1000.0
    supplier.receive_expansions(START + 18)
    assert supplier.installed_capacity == 1062.5
    assert not supplier.pipeline


def test_a_supplier_orders_at_most_the_gap_and_stops_at_its_ceiling():
    spec = Supplier(capacity=1000.0, expansion_per_year=0.75, expansion_trigger=0.85, lead_months=18)
    supplier = SupplierAgent(bare_model(), name="hbm", spec=spec)
    supplier.pressure = 0.87  # a gap of 0.02 is less than a month's 0.0625
    supplier.order_expansion(START)
    assert supplier.pipeline[-1][1] == pytest.approx(1000.0 * 0.02, rel=1e-12)
    supplier.pipeline.clear()
    supplier.pressure = 0.85
    supplier.order_expansion(START)
    assert not supplier.pipeline, "no order at the trigger itself"
    supplier.pressure = 2.0
    for month in range(START, START + 20):
        supplier.order_expansion(month)
    # ceiling: 0.75 a year over the 18-month lead, 1125 on order, in 18 monthly orders of 62.5
    assert sum(q for _, q in supplier.pipeline) == 1125.0
    assert len(supplier.pipeline) == 18


def test_supplier_price_closes_a_share_of_the_log_gap_to_its_scarcity_target():
    spec = Supplier(base_price=100.0, market_power=0.0, tightness_premium=1.0)
    supplier = SupplierAgent(bare_model(), name="hbm", spec=spec)
    supplier.pressure = 0.9  # tightness (0.9 - 0.8) / 0.2 = 0.5: target 150
    supplier.set_price()
    assert supplier.price == pytest.approx(100.0 * 1.5**0.25, rel=1e-12)
    assert tightness(0.9, 0.8) == pytest.approx(0.5, rel=1e-12)
    assert tightness(0.5, 0.8) == 0.0


# ----- adoption's return-on-investment gate -----------------------------------------------
@pytest.mark.parametrize("threshold", [0.5, 1.0, 3.0])
def test_the_roi_gate_is_one_half_at_its_threshold_and_symmetric_in_log_return(threshold):
    spread = 0.4
    roi = np.array([threshold, threshold * math.e**0.4, threshold / math.e**0.4])
    gate = gate_roi(roi, threshold, spread)
    assert gate[0] == pytest.approx(0.5, rel=1e-12)
    assert gate[1] == pytest.approx(1.0 / (1.0 + math.exp(-1.0)), rel=1e-12), "one spread above: logistic(1)"
    assert gate[1] + gate[2] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("threshold", "spread"), [(0.0, 0.6), (1.5, 5e-324), (1e-300, 1e-300), (1e4, 10.0)])
def test_the_roi_gate_warns_of_nothing_at_the_edges_of_its_parameters(threshold, spread):
    roi = np.array([0.0, 1e-12, 1.0, 1e308, np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gate = gate_roi(roi, threshold, spread)
    assert np.all((gate[:-1] >= 0.0) & (gate[:-1] <= 1.0)) and np.isnan(gate[-1])
