"""The binding link of the supply chain comes from capacities, lead times and demand, not from dates.

The baseline's binding sequence (packaging, memory, power, grid) is the record's, and it must be
an outcome of the chain's rules: each link expands on its own tightness after its lead time.
Change the lead times or the demand, and the sequence changes the way that rule says it must.
Each test runs the baseline and a variant on the same seed at 2,000 developers; the margins below
were measured over seeds 1-6 and are wide next to their spread between seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentmarket.model import MarketModel
from agentmarket.params import Layer, Params, month_label
from agentmarket.scenarios import load_scenario

DEVELOPERS = 2_000
SEEDS = (1, 2)


def baseline(months: int) -> Params:
    """The baseline scenario at test size, without the monthly table."""
    return load_scenario(
        "baseline",
        [f"simulation.developer_agents={DEVELOPERS}", f"simulation.months={months}", "simulation.collect_data=false"],
    )


def binding_months(params: Params, seed: int) -> dict[str, list[str]]:
    """For each supply layer, the months (YYYY-MM) in which it lies on the minimum cut."""
    model = MarketModel(params, rng=seed)
    months: dict[str, list[str]] = {layer.value: [] for layer in Layer}
    while model.running:
        month = month_label(model.month)
        model.step()
        for layer in model.binding_layers:
            months[layer].append(month)
    return months


def median_binding(months: dict[str, list[str]], layer: str) -> str:
    """The middle month of those the layer binds (the earlier of two), or '9999-12' when it never does.

    When a layer binds is its binding period, not a month or two on the cut ahead of it.
    """
    bound = months[layer]
    return bound[(len(bound) - 1) // 2] if bound else "9999-12"


def vary(params: Params, change: Callable[[Params], None]) -> Params:
    """A copy of the parameters with ``change`` applied (validated on assignment)."""
    copy = params.model_copy(deep=True)
    change(copy)
    return copy


def swap_power_grid_leads(p: Params) -> None:
    """Power generation takes the grid's lead time and the grid power's."""
    power = [s for s in p.suppliers.values() if s.layer is Layer.POWER]
    grid = [s for s in p.suppliers.values() if s.layer is Layer.GRID]
    power_lead, grid_lead = power[0].lead_months, grid[0].lead_months
    for s in power:
        s.lead_months = grid_lead
    for s in grid:
        s.lead_months = power_lead


def quarter_demand(p: Params) -> None:
    """Every source of compute demand at a quarter: other AI workloads, agent work, the labs' other
    products and training."""
    p.market.other_ai_demand_acc /= 4
    p.developers.compute_acc_per_work_share /= 4
    for lab in p.labs.values():
        lab.other_compute_vs_api /= 4
        lab.training_floor_usd_per_month /= 4
        lab.training_share_of_revenue /= 4


def halve_lead_times(p: Params) -> None:
    """Every link answers its own tightness in half the time: suppliers' and clouds' lead times."""
    for s in p.suppliers.values():
        s.lead_months //= 2
    for c in p.clouds.values():
        c.build_lead_months //= 2


@pytest.mark.parametrize("seed", SEEDS)
def test_swapping_power_and_grid_lead_times_swaps_the_order_they_bind_in(seed):
    # seeds 1-6, the middle of each layer's binding months: power 2025-12 to 2026-02, the grid
    # 2027-04 to 2027-09 (in seeds 1 and 4 the grid is on the cut for two months in mid-2025
    # before power binds; in seed 3 power never binds at this size); swapped, the grid 2025-06/07,
    # power 2027-05 to 2027-08
    params = baseline(months=72)
    base = binding_months(params, seed)
    swapped = binding_months(vary(params, swap_power_grid_leads), seed)
    assert median_binding(base, "power") < median_binding(base, "grid")
    assert median_binding(swapped, "grid") < median_binding(swapped, "power")


@pytest.mark.parametrize("seed", SEEDS)
def test_with_a_quarter_of_the_demand_nothing_binds_in_2023(seed):
    # seeds 1-6: 9 layer-months on the cut in 2023 at full demand, none at a quarter
    params = baseline(months=12)
    base = binding_months(params, seed)
    low = binding_months(vary(params, quarter_demand), seed)
    assert sum(len(m) for m in base.values()) >= 3
    assert sum(len(m) for m in low.values()) == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_with_every_lead_time_halved_the_layers_bind_for_fewer_months(seed):
    # seeds 1-6, 2023-2030: 68-83 layer-months on the cut, 45-54 with halved lead times
    params = baseline(months=96)
    base = binding_months(params, seed)
    fast = binding_months(vary(params, halve_lead_times), seed)
    assert sum(len(m) for m in fast.values()) < sum(len(m) for m in base.values())
