"""The clearing's, the clouds' and the books' rules on hand-made numbers, with no model run past one month."""

from __future__ import annotations

import numpy as np
import pytest

from agentmarket import MarketModel
from agentmarket.agents.clouds import CloudAgent, ration_clouds
from agentmarket.params import Layer
from agentmarket.scenarios import load_scenario
from agentmarket.supply_graph import OTHER_AI, Clearing, build_supply_graph


def ration(available: float, contract: list[float], spot: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A cloud's split of ``available`` compute (the rule reads nothing of the cloud itself)."""
    return CloudAgent.ration(None, available, np.array(contract), np.array(spot))


def test_a_cloud_serves_contracts_in_full_then_spot_pro_rata_up_to_what_was_asked():
    contract, spot = ration(10.0, [3.0, 1.0], [4.0, 8.0])
    assert contract.tolist() == [3.0, 1.0]
    assert spot == pytest.approx([2.0, 4.0])
    contract, spot = ration(100.0, [3.0, 1.0], [4.0, 8.0])
    assert contract.tolist() == [3.0, 1.0] and spot.tolist() == [4.0, 8.0], "nobody gets more than they asked"


def test_the_clouds_ration_together_as_each_alone():
    available = np.array([10.0, 2.0, 100.0])
    contract = np.array([[3.0, 1.0], [3.0, 1.0], [0.0, 0.0]])
    spot = np.array([[4.0, 8.0], [4.0, 8.0], [5.0, 0.0]])
    together = ration_clouds(available, contract, spot)
    for i in range(3):
        alone = ration(available[i], contract[i].tolist(), spot[i].tolist())
        assert together[0][i].tolist() == alone[0].tolist() and together[1][i].tolist() == alone[1].tolist()


def test_a_short_cloud_serves_contracts_pro_rata_and_no_spot():
    contract, spot = ration(2.0, [3.0, 1.0], [4.0, 8.0])
    assert contract == pytest.approx([1.5, 0.5])
    assert spot.tolist() == [0.0, 0.0]
    contract, spot = ration(4.0, [3.0, 1.0], [4.0, 8.0])
    assert contract.tolist() == [3.0, 1.0] and spot.tolist() == [0.0, 0.0]


def test_upstream_capacity_goes_to_the_clouds_that_can_use_it():
    """Power binds and one cloud has room for 10 units only: the clouds together still serve
    the whole maximum flow, since a cloud asks upstream for no more than it can hold."""
    params = load_scenario("baseline")
    clouds = list(params.clouds)
    clearing = Clearing(build_supply_graph(params), clouds, [*params.labs, OTHER_AI])
    capacity = {name: 1e3 if s.layer is Layer.POWER else 1e9 for name, s in params.suppliers.items()}
    capacity.update(dict.fromkeys(clouds, 1e9))
    capacity[clouds[0]] = 10.0
    requests = np.where(clearing.buyer_edges, 1e6, 0.0)
    result = clearing.clear(capacity, np.zeros_like(requests), requests, ration_clouds)
    max_flow, binding = clearing.min_cut(capacity, requests)
    served = result.contract_served.sum() + result.spot_served.sum()
    assert served == pytest.approx(max_flow, rel=1e-9)
    assert result.max_flow == pytest.approx(max_flow) and binding == result.binding_nodes
    assert {params.suppliers[n].layer for n in binding} == {Layer.POWER}


def test_take_or_pay_is_scaled_down_by_what_a_short_cloud_delivers():
    """A lab pays for all it booked with a cloud (take-or-pay), times the share of its contract
    requests that the cloud delivered: in full when delivered, down in proportion when short."""
    model = MarketModel(load_scenario("baseline", {"simulation.developer_agents": 50}), rng=0)
    model.supply_phase()
    model.cloud_phase()
    model.lab_phase()
    model.developer_phase()
    result = model.clear_market()
    n_c, n_b = len(model.clouds), len(model.labs) + 1
    model._contract_value = np.zeros((n_c, n_b))
    model._contract_req = np.zeros((n_c, n_b))
    two = [i for i, _ in model.sellers_for(model.labs[0])][:2]
    model._contract_value[two, 0] = 200_000.0  # the lab booked 100 units at 2,000 USD with each of two clouds
    model._contract_req[two, 0] = 50.0  # it needs 50 of each this month
    result.contract_served = np.zeros((n_c, n_b))
    result.contract_served[two, 0] = [50.0, 20.0]  # the first delivers them, the second 40% of them
    result.spot_served = np.zeros((n_c, n_b))
    model.settle_books(result)
    revenue = [c.revenue for c in model.clouds]
    assert [revenue[i] for i in two] == pytest.approx([200_000.0, 80_000.0], rel=1e-12)
    assert sum(revenue) == pytest.approx(280_000.0, rel=1e-12), "the other clouds sold nothing"
    assert model.labs[0].compute_paid == pytest.approx(280_000.0, rel=1e-12)
