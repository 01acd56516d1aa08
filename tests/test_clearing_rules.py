"""The clearing's and the clouds' allocation rules on hand-made numbers, without a model run."""

from __future__ import annotations

import numpy as np
import pytest

from agentmarket.agents.clouds import CloudAgent
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
    result = clearing.clear(
        capacity, np.zeros_like(requests), requests, lambda i, a, k, s: CloudAgent.ration(None, a, k, s)
    )
    max_flow, binding = clearing.min_cut(capacity, requests)
    served = result.contract_served.sum() + result.spot_served.sum()
    assert served == pytest.approx(max_flow, rel=1e-9)
    assert result.max_flow == pytest.approx(max_flow) and binding == result.binding_nodes
    assert {params.suppliers[n].layer for n in binding} == {Layer.POWER}
