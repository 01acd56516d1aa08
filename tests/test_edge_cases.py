"""Edge cases of the parameter space, each with its documented outcome (docs/robustness.md).

Every run here is also checked month by month against all the invariants of
tests/test_properties.py (``run_checked``), so an edge case cannot pass by luck in one
number while breaking another.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_properties import run_checked

from agentmarket.agents.labs import LabState
from agentmarket.agents.suppliers import FLOW_LAYERS
from agentmarket.output import pivot, tidy
from agentmarket.params import Cloud, Layer, Params, Supplier, month_index
from agentmarket.scenarios import load_scenario


def scenario(*sets: str, months: int = 12, developers: int = 200) -> Params:
    return load_scenario(
        "baseline", [f"simulation.months={months}", f"simulation.developer_agents={developers}", *sets]
    )


def finite_table(model):
    table = tidy(model)
    assert np.isfinite(table["value"]).all()
    return table


def test_one_developer_agent_stands_for_the_whole_population():
    """Outcome: the run completes; adoption is 0 or 1 (one agent), and its weight is the population."""
    params = scenario(developers=1, months=24)
    model = run_checked(params, seed=3)
    assert model.developers.weight == params.market.developer_population
    market = pivot(finite_table(model), "market")
    assert set(market["adoption_share"].unique()) <= {0.0, 1.0}
    assert (market["adopters"] == market["adoption_share"] * params.market.developer_population).all()


def test_one_month():
    """Outcome: one row per metric and entity, dated the start month."""
    params = scenario(months=1)
    table = finite_table(run_checked(params, seed=0))
    assert table["date"].nunique() == 1
    assert str(table["date"].iloc[0].date()) == f"{params.simulation.start}-01"
    assert not table.duplicated(["date", "entity", "metric"]).any()


def test_zero_capacity_at_one_layer_serves_nothing_and_binds():
    """Outcome: no compute reaches anyone, the power layer is on the minimum cut every month,
    service levels are 0, developers pay nothing for API work that was not served, prices stay finite."""
    power = [name for name, s in load_scenario("baseline").suppliers.items() if s.layer is Layer.POWER]
    params = scenario(
        *(f"suppliers.{n}.capacity=0" for n in power), *(f"suppliers.{n}.expansion_per_year=0" for n in power)
    )
    model = run_checked(params, seed=1)
    table = finite_table(model)
    market = pivot(table, "market")
    assert (market["compute_served"] == 0).all() and (market["max_flow"] == 0).all()
    assert (market["compute_requested"] > 0).all()
    assert (pivot(table, "power")["binding"] == 1).all()
    for lab in model.labs:
        assert (pivot(table, lab.name)["service_level"] == 0).all()
        assert lab.api_revenue == 0.0, "API users pay for compute served, and none was"


def test_zero_demand():
    """Outcome: nothing is asked or served, no layer binds, no money changes hands for compute,
    and no compute price carries a scarcity premium."""
    sets = ["adoption.innovation=0", "adoption.imitation=0", "market.other_ai_demand_acc=0"]
    for lab in ("lab_a", "lab_b"):
        sets += [
            f"labs.{lab}.other_revenue_usd_per_month=0",
            f"labs.{lab}.training_floor_usd_per_month=0",
            f"labs.{lab}.training_share_of_revenue=0",
            f"labs.{lab}.free_users=0",
        ]
    model = run_checked(scenario(*sets), seed=2)
    table = finite_table(model)
    market = pivot(table, "market")
    assert (market[["compute_requested", "compute_served", "developer_payments", "adoption_share"]] == 0).all().all()
    assert (market["cloud_binding"] == 0).all()
    for layer in Layer:
        assert (pivot(table, layer.value)["binding"] == 0).all()
    for cloud in model.clouds:
        assert cloud.revenue == 0.0 and cloud.served == 0.0
        assert cloud.contract_price == pytest.approx(cloud.unit_cost_usd * (1 + cloud.spec.margin), rel=1e-12)


def test_a_price_of_zero():
    """Outcome: free plans and free upstream inputs are allowed: adopters pay nothing, labs'
    developer revenue is 0 and their gross margin is reported as a number, never NaN."""
    sets = []
    for lab in ("lab_a", "lab_b"):
        sets += [f"labs.{lab}.plans.{plan}.price_usd_per_month=0" for plan in ("pro", "max")]
        sets += [f"labs.{lab}.api_price_multiple=0", f"labs.{lab}.min_price_index=0", f"labs.{lab}.max_price_index=0"]
        sets += [f"labs.{lab}.other_revenue_usd_per_month=0"]
    sets += [f"suppliers.{s}.base_price=0" for s in load_scenario("baseline").suppliers]
    sets += ["hardware.logic_cost_usd_per_acc=0", "adoption.innovation=0.2"]
    model = run_checked(scenario(*sets), seed=4)
    table = finite_table(model)
    market = pivot(table, "market")
    assert market["adoption_share"].iloc[-1] > 0, "free agents are adopted"
    assert (market["developer_payments"] == 0).all() and (market["subscription_price"] == 0).all()
    for lab in model.labs:
        rows = pivot(table, lab.name)
        assert (rows["revenue"] == 0).all() and (rows["gross_margin"] == 0).all()
    assert (pivot(table, "memory")["price"] == 0).all()


def test_a_lab_that_runs_out_of_cash_is_distressed_then_exits():
    """Outcome: cash goes negative; the lab stops training and prices at cost plus while
    distressed; after distress_months_to_exit months below zero it exits, serves no one and
    its developers move to the other lab or leave."""
    sets = [
        "labs.lab_a.initial_cash_usd=0",  # and investors who give nothing:
        "labs.lab_a.other_cost_fixed_usd_per_month=1e10",
        "labs.lab_a.funding_min_usd=0",
        "labs.lab_a.funding_round_revenue_multiple=0",
        "adoption.innovation=0.05",
    ]
    params = scenario(*sets, months=24)
    model = run_checked(params, seed=5)
    rows = pivot(finite_table(model), "lab_a")
    assert rows["cash"].iloc[0] < 0
    exit_month = int(np.argmax(rows["exited"].to_numpy() == 1))
    assert exit_month == params.labs["lab_a"].distress_months_to_exit - 1
    assert (rows["training_cost"].iloc[1:] == 0).all(), "a distressed lab does not train"
    after = rows.iloc[exit_month + 1 :]
    assert (after[["demand", "served", "subscribers", "subscription_revenue", "api_revenue"]] == 0).all().all()
    lab_a = next(lab for lab in model.labs if lab.name == "lab_a")
    assert lab_a.state is LabState.EXITED
    rival = pivot(tidy(model), "lab_b")
    assert rival["subscribers"].iloc[-1] > 0, "the market carries on with the other lab"


def supplier_capacity_limit(spec: Supplier, months: np.ndarray) -> np.ndarray:
    """The most installed capacity the expansion rules allow a supplier after ``months`` months.

    Two rules of ``order_expansion`` limit it, and capacity never falls. Each month's order adds
    at most ``expansion_per_year / 12`` of the capacity installed when it was placed, so
    capacity grows by at most that factor a month. And orders still on their way never exceed
    ``expansion_per_year * max(lead_months, 12) / 12`` of the capacity installed, so the orders
    placed over any ``lead_months`` months, all still on their way at its end, add at most
    that share: capacity grows by at most that factor every ``lead_months`` months. The
    expansions on order at the start (``pipeline_growth_per_year`` over ``lead_months``) are
    counted as installed from the first month.
    """
    rate = (1.0 + spec.pipeline_growth_per_year) ** (1.0 / 12.0) - 1.0
    installed = spec.capacity * (1.0 + rate) ** spec.lead_months
    monthly = installed * (1.0 + spec.expansion_per_year / 12.0) ** months
    if spec.lead_months == 0:
        return monthly
    on_order = spec.expansion_per_year * max(spec.lead_months, 12) / 12.0
    return np.minimum(monthly, installed * (1.0 + on_order) ** ((months + 1) // spec.lead_months))


def cloud_capacity_limit(params: Params, spec: Cloud, months: np.ndarray) -> np.ndarray:
    """The most places a cloud can have after ``months`` months: what it started with and had
    on order, plus every month's whole capital budget spent at the lowest cost of a unit (its
    place and the accelerator's logic with the vendor's margin; memory and packaging only add)."""
    hw = params.hardware
    rate = (1.0 + spec.pipeline_growth_per_year) ** (1.0 / 12.0) - 1.0
    start = spec.initial_capacity_acc * (1.0 + rate) ** spec.build_lead_months
    years = np.arange(months.max() + 1) / 12.0
    budget = spec.capex_usd_per_year * (1.0 + spec.capex_growth_per_year) ** years / 12.0
    if spec.capex_start_month:
        budget[np.arange(years.size) < month_index(spec.capex_start_month) - params.start_index] = 0.0
    deflator = (1.0 - hw.price_performance_gain_per_year) ** years
    cheapest_unit = (spec.capex_usd_per_acc + hw.logic_cost_usd_per_acc * (1.0 + hw.vendor_margin)) * deflator
    built_by = np.concatenate([[0.0], np.cumsum(budget / cheapest_unit)])  # built_by[k]: ordered before month k
    return start + built_by[months]


def assert_within(capacity: np.ndarray, limit: np.ndarray, name: str) -> None:
    over = np.flatnonzero(capacity > limit * (1 + 1e-9))
    assert over.size == 0, (
        f"{name}: capacity {capacity[over[0]]:.4g} in month {over[0]} past its limit {limit[over[0]]:.4g}"
    )


def test_fifty_years_stay_finite_and_bounded():
    """Outcome: 600 months run without overflow; every capacity within what its expansion rules
    allow over the run, prices within their policies' caps, shares within [0, 1], and the
    exogenous growth series slow down instead of exploding."""
    params = scenario(months=600, developers=100)
    model = run_checked(params, seed=6)
    table = finite_table(model)
    assert table["date"].nunique() == 600
    months = np.arange(600)
    deflator = (1.0 - params.hardware.price_performance_gain_per_year) ** (months / 12.0)
    for layer in Layer:
        members = [s for s in params.suppliers.values() if s.layer is layer]
        limit = sum(supplier_capacity_limit(s, months) for s in members)
        if layer in FLOW_LAYERS:  # counted in units of compute, which need less of each input every year
            limit = limit / deflator
        assert_within(pivot(table, layer.value)["capacity"].to_numpy(), limit, layer.value)
    for cloud in model.clouds:
        assert_within(
            pivot(table, cloud.name)["capacity"].to_numpy(),
            cloud_capacity_limit(params, cloud.spec, months),
            cloud.name,
        )
    for supplier in model.suppliers:
        assert supplier.installed_capacity <= supplier_capacity_limit(supplier.spec, months[-1:])[0] * (1 + 1e-9)
    market = pivot(table, "market")
    assert market["adoption_share"].between(0, 1).all() and market["agent_work_share"].between(0, 1).all()
    for name, lab in params.labs.items():
        cap = max(p.price_usd_per_month for p in lab.plans.values()) * lab.max_price_index
        assert (pivot(table, name)["price"] <= cap * (1 + 1e-12)).all()
    # no runaway: the last decade's compute price is within a factor of the first decade's range
    price = market["compute_price"]
    assert price.iloc[-120:].max() <= 10 * price.iloc[:120].max()
    # other AI demand: its log growth rate halves every half-life, so it can never exceed
    # (1 + g) ** (half-life / ln 2) times the first month's
    other = params.market
    ceiling = (1.0 + other.other_ai_growth_per_year) ** (other.other_ai_growth_half_life_years / math.log(2.0))
    assert other.other_ai_demand_acc < model.other_ai_demand <= other.other_ai_demand_acc * ceiling
