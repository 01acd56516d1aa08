"""Labs manage their runway: training follows the cash a lab has and the rounds it raises.

A lab whose users pay their way (revenue above the cost of serving them and its overhead)
cuts training before it runs out of cash, and leaves the market only when it cannot pay its
way even without training (tests/test_edge_cases.py has the lab with no funding that exits).
"""

from __future__ import annotations

import pytest

from agentmarket.agents.labs import LabAgent
from agentmarket.model import MarketModel
from agentmarket.output import pivot, tidy
from agentmarket.scenarios import load_scenario

UNFUNDED_BIG_SPENDER = [
    "simulation.months=72",
    "simulation.developer_agents=1000",
    "adoption.innovation=0.02",
    # no investor will fund it, and it wants to train far beyond its means
    "labs.lab_a.funding_min_usd=0",
    "labs.lab_a.funding_round_revenue_multiple=0",
    "labs.lab_a.initial_cash_usd=1e10",
    "labs.lab_a.training_floor_usd_per_month=5e8",
    "labs.lab_a.training_share_of_revenue=3.0",
    # its overhead is small and its prices are well above its compute cost, and held there, so its
    # users pay their way
    "labs.lab_a.api_price_multiple=8.0",
    "labs.lab_a.pricing_policy=hold",
    "developers.compute_acc_per_work_share=1.5",
    "labs.lab_a.forecast_smoothing=0.3",
    "labs.lab_a.other_cost_fixed_usd_per_month=1e7",
    "labs.lab_a.other_cost_share_of_revenue=0.1",
]


def run_lab_a(seed: int):
    model = MarketModel(load_scenario("baseline", UNFUNDED_BIG_SPENDER), rng=seed)
    model.run()
    return pivot(tidy(model), "lab_a")


@pytest.mark.parametrize("seed", [1, 2])
def test_a_lab_whose_users_pay_their_way_cuts_training_and_never_runs_out_of_cash(seed):
    rows = run_lab_a(seed)
    assert rows["funding_rounds"].iloc[-1] == 0, "nobody funds it"
    operating = rows["revenue"] - rows["inference_cost"] - rows["other_cost"]
    assert operating.iloc[-12:].min() > 0, "its users pay their way"
    wanted = 5e8 + 3.0 * rows["revenue"]
    assert (rows["training_cost"].iloc[-12:] < 0.8 * wanted.iloc[-12:]).all(), "it trains less than it wants"
    assert rows["training_cost"].iloc[-12:].min() > 0, "but it still trains"
    assert rows["cash"].min() >= 0, "it never runs out of cash"
    assert rows["exited"].max() == 0


def test_without_the_runway_rule_the_same_lab_runs_out_of_cash(monkeypatch):
    """The control: a lab that trains as much as it wants, whatever its cash, goes under."""
    monkeypatch.setattr(LabAgent, "affordable_training_usd", lambda self: float("inf"))
    rows = run_lab_a(1)
    assert rows["cash"].min() < 0
