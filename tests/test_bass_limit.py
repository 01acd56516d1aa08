"""The Bass model is adoption's limit case: identical developers, everyone each other's peer,
no capacity limits, no churn, a return that always pays."""

from __future__ import annotations

import numpy as np
import pytest

from agentmarket import MarketModel, load_scenario
from agentmarket.output import pivot, tidy


def bass_recursion(p: float, q: float, months: int) -> np.ndarray:
    """F(t+1) = F(t) + (p + q F(t)) (1 - F(t)), from F(0) = 0; returns F(1)..F(months)."""
    f, out = 0.0, []
    for _ in range(months):
        f = f + (p + q * f) * (1.0 - f)
        out.append(f)
    return np.array(out)


@pytest.mark.parametrize(("p", "q"), [(0.001, 0.05), (0.001, 0.8), (0.01, 0.3), (0.03, 0.5), (0.05, 0.05), (0.05, 0.8)])
def test_bass_limit_tracks_the_discrete_bass_recursion_within_two_points_every_month(p, q):
    params = load_scenario("bass-limit", [f"adoption.innovation={p}", f"adoption.imitation={q}"])
    assert params.simulation.developer_agents == 10_000
    model = MarketModel(params, rng=7).run()
    adoption = pivot(tidy(model), "market")["adoption_share"].to_numpy()
    expected = bass_recursion(p, q, params.simulation.months)
    assert np.max(np.abs(adoption - expected)) <= 0.02


def test_bass_limit_is_not_met_when_the_network_is_local():
    """The check can fail: a sparse network slows imitation well below the well-mixed recursion."""
    p, q = 0.002, 0.8
    params = load_scenario(
        "bass-limit",
        [
            f"adoption.innovation={p}",
            f"adoption.imitation={q}",
            "network.kind='small_world'",
            "network.mean_degree=2",
            "network.rewire_prob=0.0",
        ],
    )
    adoption = pivot(tidy(MarketModel(params, rng=7).run()), "market")["adoption_share"].to_numpy()
    assert np.max(np.abs(adoption - bass_recursion(p, q, params.simulation.months))) > 0.02
