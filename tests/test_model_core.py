"""The core market model's rules: money identities, capacity limits, determinism, emergence."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pandas as pd
import pytest

from agentmarket import MarketModel, load_scenario
from agentmarket.agents.developers import Developer, DeveloperState
from agentmarket.agents.labs import LabState
from agentmarket.output import pivot, tidy
from agentmarket.params import Layer

SMALL = {"simulation.developer_agents": 1500}


def baseline(months: int = 48, **overrides):
    return load_scenario("baseline", {**SMALL, "simulation.months": months, **overrides})


def run_months(params, seed: int = 0):
    """Step a model month by month, yielding it after each month for checks."""
    model = MarketModel(params, rng=seed)
    for _ in range(params.simulation.months):
        model.step()
        yield model


@pytest.fixture(scope="module")
def baseline_table() -> pd.DataFrame:
    model = MarketModel(baseline(months=72), rng=3)
    model.run()
    return tidy(model)


def test_developers_pay_exactly_what_labs_book_as_revenue_from_them_each_month():
    for model in run_months(baseline(months=40)):
        from_developers = sum(lab.subscription_revenue + lab.api_revenue for lab in model.labs)
        assert from_developers == pytest.approx(model.developer_payments, rel=1e-9, abs=1e-3)


def test_what_labs_pay_for_compute_is_what_clouds_earn_from_them_each_month():
    for model in run_months(baseline(months=40)):
        labs_paid = sum(lab.compute_paid for lab in model.labs)
        clouds_earned = sum(c.revenue for c in model.clouds)
        assert labs_paid + model.other_ai_paid == pytest.approx(clouds_earned, rel=1e-9, abs=1e-3)
        assert labs_paid == pytest.approx(sum(lab.inference_cost + lab.training_cost for lab in model.labs), rel=1e-9)


def test_compute_served_never_exceeds_capacity_at_any_layer_or_cloud():
    tight = {"suppliers.hbm_maker_1.capacity": 2e4, "suppliers.grid.pipeline_growth_per_year": 0.0}
    for model in run_months(baseline(months=40, **tight)):
        for s in model.suppliers:
            assert s.served <= s.capacity * (1 + 1e-9) + 1e-9, s.name
        for c in model.clouds:
            assert c.served <= c.capacity * (1 + 1e-9) + 1e-9, c.name
        assert model.compute_served <= model.max_flow * (1 + 1e-9) + 1e-6


def test_clearing_serves_what_the_maximum_flow_allows_in_the_baseline_graph():
    """Pro-rata rationing loses nothing: in the baseline's layered graph it reaches the max flow."""
    for model in run_months(baseline(months=40)):
        assert model.compute_served == pytest.approx(model.max_flow, rel=1e-6)


def test_the_same_seed_gives_an_identical_table_and_another_seed_differs():
    params = baseline(months=24)
    first = tidy(MarketModel(params, rng=11).run())
    again = tidy(MarketModel(params, rng=11).run())
    other = tidy(MarketModel(params, rng=12).run())
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["value"].to_numpy(), other["value"].to_numpy())


def test_every_required_metric_is_in_the_table_for_every_month(baseline_table):
    required = {
        "market": ["adoption_share", "agent_work_share"],
        "lab_a": [
            "revenue",
            "inference_cost",
            "inference_cost_planned",
            "gross_margin",
            "training_cost",
            "cash",
            "price",
            "service_level",
            "subscribers",
        ],
        "cloud_amazon_like": ["compute_price", "utilization", "capacity"],
    }
    required["lab_b"] = required["lab_a"]
    for layer in Layer:
        required[layer.value] = ["capacity", "demand", "utilization", "binding", "price"]
    months = baseline_table["date"].nunique()
    assert months == 72
    for entity, metrics in required.items():
        table = pivot(baseline_table, entity)
        assert len(table) == months, entity
        for metric in metrics:
            assert table[metric].notna().all(), (entity, metric)


def binding_months(params, seed: int = 0) -> dict[str, int]:
    """Months each supply link (the four layers and the clouds' places) was on the minimum cut."""
    t = tidy(MarketModel(params, rng=seed).run())
    months = {layer.value: int(pivot(t, layer.value)["binding"].sum()) for layer in Layer}
    months["clouds"] = int(pivot(t, "market")["cloud_binding"].sum())
    return months


def memory_capacity(factor: float) -> dict[str, float]:
    """Every memory maker's output scaled by ``factor`` (and its installed base, if smaller)."""
    base = load_scenario("baseline")
    makers = {n: s for n, s in base.suppliers.items() if s.layer is Layer.MEMORY}
    out = {f"suppliers.{n}.capacity": s.capacity * factor for n, s in makers.items()}
    out |= {
        f"suppliers.{n}.initial_in_service_acc": s.initial_in_service_acc * min(factor, 1.0) for n, s in makers.items()
    }
    return out


def test_ten_times_the_memory_capacity_moves_the_binding_layer_elsewhere():
    before = binding_months(baseline(months=48, **memory_capacity(0.25)))
    after = binding_months(baseline(months=48, **memory_capacity(2.5)))
    assert before["memory"] >= 24
    assert after["memory"] == 0
    assert sum(n for link, n in after.items() if link != "memory") > 0


def test_doubling_demand_raises_compute_prices_and_what_users_pay_or_tightens_rationing():
    """Twice the buyers at every price: twice the developers and twice the other AI workloads.

    Scarcity reaches users as dearer API work (a lab above plan cuts its list by less when its
    compute costs more), dearer plans or tighter rationing."""
    base = tidy(MarketModel(baseline(months=60), rng=5).run())
    market = load_scenario("baseline").market
    doubled = {
        "market.developer_population": 2 * market.developer_population,
        "market.other_ai_demand_acc": 2 * market.other_ai_demand_acc,
    }
    boom = tidy(MarketModel(baseline(months=60, **doubled), rng=5).run())
    late = slice("2025-06-01", None)
    m0, m1 = pivot(base, "market").loc[late], pivot(boom, "market").loc[late]
    assert m1["compute_price"].mean() > m0["compute_price"].mean()
    service0 = np.mean([pivot(base, lab)["service_level"].loc[late].mean() for lab in ("lab_a", "lab_b")])
    service1 = np.mean([pivot(boom, lab)["service_level"].loc[late].mean() for lab in ("lab_a", "lab_b")])
    price0 = np.mean([pivot(base, lab)["price"].loc[late].mean() for lab in ("lab_a", "lab_b")])
    price1 = np.mean([pivot(boom, lab)["price"].loc[late].mean() for lab in ("lab_a", "lab_b")])
    api0, api1 = (pivot(t, "lab_a")["api_price_usd_per_acc"].loc[late].mean() for t in (base, boom))
    assert api1 > api0 or price1 > price0 or service1 < service0


def test_removing_the_capability_step_flattens_adoption():
    """Below the reliability midpoint agents barely pay; the step lifts capability past it."""
    gated = {
        "capability.half_compute_acc_months": 3e9,
        "developers.reliability_half_capability": 0.25,
        "labs.lab_a.coding_focus": 1.2,
        "labs.lab_b.coding_focus": 0.5,
    }

    def adoption(step_size: float) -> pd.Series:
        t = tidy(MarketModel(baseline(months=49, **gated, **{"capability.step_size": step_size}), rng=2).run())
        return pivot(t, "market")["adoption_share"]

    with_step, without = adoption(0.15), adoption(0.0)
    step = pd.Timestamp(load_scenario("baseline").capability.step_month + "-01")
    year_after = step + pd.DateOffset(months=12)
    gain_with = with_step.loc[year_after] - with_step.loc[step - pd.DateOffset(months=1)]
    gain_without = without.loc[year_after] - without.loc[step - pd.DateOffset(months=1)]
    assert gain_without < 0.6 * gain_with
    assert (with_step.loc[: step - pd.DateOffset(months=1)] == without.loc[: step - pd.DateOffset(months=1)]).all()


def test_each_developer_is_a_view_of_its_own_row():
    model = MarketModel(baseline(months=30), rng=4).run()
    developers = list(model.developers)
    assert len(developers) == model.params.simulation.developer_agents
    assert Developer not in model.agents_by_type, "views are not registered one by one with the model"
    assert model.developers.agent(7) == developers[7] and model.developers.agent(7).index == 7
    adopters = [d for d in developers if d.state is DeveloperState.ADOPTER]
    assert adopters
    d = adopters[0]
    assert d.lab in model.lab_names
    assert d.wage_usd_per_day == model.developers.wage_usd_per_day[d.index]
    peers = d.peers
    assert peers, "a developer of the small-world baseline has peers"
    assert all(isinstance(p, Developer) for p in peers) and d not in peers
    assert sorted(p.index for p in peers) == sorted(model.developers.network.neighbours(d.index).tolist())


def test_a_finished_model_is_freed():
    model = MarketModel(baseline(months=6), rng=1).run()
    ref = weakref.ref(model)
    table = tidy(model)
    del model
    gc.collect()
    assert ref() is None
    assert len(table) > 0


MEMORY_SHOCK = {"suppliers.hbm_maker_1.capacity": 2e4, "suppliers.hbm_maker_2.capacity": 2e4}


def api_price_per_work(model, lab) -> float:
    """USD an API user pays for a month of agent work at full share (before rationing)."""
    return lab.api_price_usd_per_acc * model.params.developers.compute_acc_per_work_share * model.compute_efficiency


def test_api_list_prices_per_unit_of_work_ignore_upstream_scarcity():
    """Under list pricing a memory shock reaches API users only through the lab's price index
    and the cuts it makes to its list above plan (which follow its margin, not upstream prices)."""
    calm, tight = (MarketModel(baseline(months=36, **o), rng=0) for o in ({}, MEMORY_SHOCK))
    for _ in range(36):
        calm.step()
        tight.step()
        for a, b in zip(calm.labs, tight.labs, strict=True):
            assert api_price_per_work(calm, a) / (a.price_index * a.api_list_cut) == pytest.approx(
                api_price_per_work(tight, b) / (b.price_index * b.api_list_cut), rel=1e-9
            )
    assert tight.market_base_price > 1.2 * calm.market_base_price


def test_api_cost_pricing_passes_upstream_scarcity_to_api_users():
    basis = {"labs.lab_a.api_price_basis": "cost"}
    calm, tight = (MarketModel(baseline(months=36, **basis, **o), rng=0) for o in ({}, MEMORY_SHOCK))
    calm.run()
    tight.run()
    a, b = calm.labs[0], tight.labs[0]
    assert api_price_per_work(tight, b) / b.price_index > 1.2 * api_price_per_work(calm, a) / a.price_index


def test_a_leaner_generation_at_the_step_lowers_compute_and_api_price_per_unit_of_work():
    """From the step month on a unit of work takes step_compute_factor as much compute; the list
    price per unit of work falls with it, and capability (work share) still jumps."""
    params = baseline(months=40, **{"capability.step_month": "2025-06", "capability.step_compute_factor": 0.5})
    seen = {}
    for model in run_months(params):
        lab = model.labs[0]
        seen[model.conditions.month] = (model.compute_efficiency, api_price_per_work(model, lab) / lab.price_index)
    before, after = seen[model.step_index - 1], seen[model.step_index]
    trend = (1 - params.capability.efficiency_gain_per_year) ** (1 / 12)
    assert after[0] == pytest.approx(before[0] * trend * 0.5, rel=1e-9)
    deflator = (1 - params.hardware.price_performance_gain_per_year) ** (1 / 12)
    assert after[1] == pytest.approx(before[1] * deflator * 0.5, rel=1e-9)


def test_the_roi_gate_holds_back_developers_whose_return_is_far_below_its_threshold():
    """At the highest threshold the schema allows (1e4) every developer's return (at most 35 in
    the baseline, seeds 0-4) gives a gate below 1e-4, so in two years no one adopts, where the
    same run without the gate (the Bass limit) adopts 12-43% of developers (seeds 0-4)."""

    def adoption(**gate) -> float:
        params = baseline(months=24, **{"simulation.developer_agents": 1000, **gate})
        return float(pivot(tidy(MarketModel(params, rng=0).run()), "market")["adoption_share"].max())

    assert adoption(**{"adoption.roi_threshold": 1e4}) <= 0.01 < adoption(**{"adoption.roi_gate": False})


def test_a_lab_asks_the_clouds_for_no_more_than_its_demand_and_gets_no_more():
    """Contracts first; the spot market only for the demand the contracts leave uncovered."""
    import inspect

    model = MarketModel(baseline(months=48), rng=0)
    clear, asked = model.clearing.clear, {}

    def recording_clear(*args, **kwargs):
        asked.update(inspect.signature(clear).bind(*args, **kwargs).arguments)
        return clear(*args, **kwargs)

    model.clearing.clear = recording_clear
    for _ in range(48):
        model.step()
        for j, lab in enumerate(model.labs):
            total = asked["contract_req"][:, j].sum() + asked["spot_req"][:, j].sum()
            assert total <= lab.demand * (1 + 1e-9), f"{lab.name} asked {total} for a demand of {lab.demand}"
            assert lab.served <= lab.demand * (1 + 1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_adopters_whose_return_is_below_the_churn_threshold_leave(seed):
    """With no reviews (so no switching) and every adopter unprofitable at a churn rate of 1,
    no one is an adopter two months running; with no one unprofitable and no base churn, no
    one leaves while a lab offers their option."""

    def run(threshold: float) -> list[tuple[np.ndarray, np.ndarray]]:
        churn = {
            "churn.roi_threshold": threshold,
            "churn.rate_when_unprofitable": 1.0,
            "churn.base_rate_per_month": 0.0,
        }
        model = MarketModel(baseline(months=24, **churn, **{"developers.review_rate_per_month": 0.0}), rng=seed)
        months = []
        for _ in range(24):
            before = model.developers.adopted.copy()
            model.step()
            months.append((before, model.developers.adopted.copy()))
        return months

    unprofitable, profitable = run(1e4), run(0.0)
    assert sum(before.sum() for before, _ in unprofitable) > 0, "no one adopted"
    assert not any((before & after).any() for before, after in unprofitable)
    assert all((before <= after).all() for before, after in profitable)


def test_no_developer_adopts_or_stays_when_no_lab_is_active():
    """With the gate off (the Bass limit: a return never holds anyone back), the hazard alone
    would bring developers in; with no lab to offer an option none comes, and adopters leave."""
    model = MarketModel(baseline(months=12, **{"adoption.roi_gate": False}), rng=0).run()
    assert model.developers.adopted.any()
    for lab in model.labs:
        lab.state = LabState.EXITED
    model.developer_phase()
    assert not model.developers.adopted.any()
