"""Upstream suppliers: memory makers, packaging lines, power generation and grid delivery.

Memory and packaging are *flow* layers: each month they turn out at most ``capacity``
accelerators' worth of HBM or packages, and every accelerator in service carries what they
made earlier. Power and grid are *stock* layers: ``capacity`` MW can run or be delivered at
once. Each supplier expands only after a lead time, and prices its output by how tight it is
(and, for concentrated memory makers, by market power).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import mesa

from agentmarket.market import (
    OBSERVED_CONDITIONS,
    month_index,
    supplier_cost_usd_per_acc_month,
    tightness,
)
from agentmarket.params import Layer, Supplier

if TYPE_CHECKING:
    from agentmarket.model import MarketModel

FLOW_LAYERS = (Layer.MEMORY, Layer.PACKAGING)


def initial_pipeline(start: int, lead_months: int, capacity: float, growth_per_year: float) -> deque[tuple[int, float]]:
    """Expansions ordered before the run: capacity growing at ``growth_per_year`` over the first ``lead_months``."""
    rate = (1.0 + growth_per_year) ** (1.0 / 12.0) - 1.0
    return deque((start + i, capacity * rate * (1.0 + rate) ** (i - 1)) for i in range(1, lead_months + 1) if rate > 0)


class SupplierAgent(mesa.Agent):
    """One upstream supplier; see the module docstring for the units of its layer."""

    def __init__(self, model: MarketModel | None = None, name: str = "supplier", spec: Supplier | None = None) -> None:
        super().__init__(model)
        self.name = name
        self.spec = spec or Supplier()
        self.layer = self.spec.layer
        self._flow = self.layer in FLOW_LAYERS
        self._carried_share = (
            1.0 - 1.0 / self.model.params.hardware.lifetime_months
        )  # of a fleet, still in service next month
        self.installed_capacity = self.spec.capacity
        # the conditions and installed capacity the capacity was last computed for, and that capacity
        self._capacity_key: tuple = (None, None, None)
        self.pipeline = initial_pipeline(
            self.model.params.start_index, self.spec.lead_months, self.spec.capacity, self.spec.pipeline_growth_per_year
        )
        self.in_service_acc = self.spec.initial_in_service_acc
        self.price = self.spec.base_price / (1.0 - self.spec.market_power)
        self.demand = 0.0
        self.served = 0.0
        self.pressure = 0.0
        self.binding = 0
        self._shock = (
            (month_index(self.spec.shock_month), month_index(self.spec.shock_month) + self.spec.shock_months)
            if self.spec.shock_month
            else None
        )

    conditions = OBSERVED_CONDITIONS

    @property
    def is_flow(self) -> bool:
        """True for flow layers (memory, packaging), False for stock layers (power, grid)."""
        return self._flow

    @property
    def capacity(self) -> float:
        """Usable capacity this month, less any shock.

        H100-class units per month for memory and packaging (each installed unit of output
        makes more of them as hardware improves), MW for power and grid.
        """
        conditions, installed = self.conditions, self.installed_capacity
        key = self._capacity_key
        if key[0] is conditions and key[1] == installed:
            return key[2]
        cap = installed
        if self._shock and self._shock[0] <= conditions.month < self._shock[1]:
            cap *= 1.0 - self.spec.shock_capacity_loss
        cap = cap / conditions.hardware_deflator if self._flow else cap
        self._capacity_key = (conditions, installed, cap)
        return cap

    @property
    def utilization(self) -> float:
        """Share of this month's capacity used, in [0, 1]."""
        return self.served / self.capacity if self.capacity > 0 else 0.0

    @property
    def carried_acc(self) -> float:
        """Accelerators this supplier equipped earlier that are still in service."""
        return self.in_service_acc * self._carried_share

    @property
    def supports_acc(self) -> float:
        """Accelerators in service this supplier can support this month (the graph's capacity)."""
        if self._flow:
            return self.carried_acc + self.capacity
        return self.capacity * 1000.0 / self.conditions.kw_per_acc

    def to_layer_units(self, acc: float) -> float:
        """Convert a fleet of accelerators into this layer's units (new acc/month, or MW)."""
        if self._flow:
            return max(0.0, acc - self.carried_acc)
        return acc * self.conditions.kw_per_acc / 1000.0

    def receive_expansions(self, month: int) -> None:
        """Capacity ordered ``lead_months`` before ``month`` (a month index) comes into service."""
        while self.pipeline and self.pipeline[0][0] <= month:
            self.installed_capacity += self.pipeline.popleft()[1]

    def order_expansion(self, month: int) -> None:
        """Order more capacity in ``month`` when demand presses past the trigger, at most ``expansion_per_year``."""
        gap = self.pressure - self.spec.expansion_trigger
        if gap <= 0 or self.installed_capacity <= 0:
            return
        pending = sum([q for _, q in self.pipeline])
        step = self.installed_capacity * min(self.spec.expansion_per_year / 12.0, gap)
        ceiling = self.installed_capacity * self.spec.expansion_per_year * max(self.spec.lead_months, 12) / 12.0
        step = min(step, max(0.0, ceiling - pending))
        if step > 0:
            self.pipeline.append((month + self.spec.lead_months, step))

    def set_price(self) -> None:
        """Move the price part of the way to base / (1 - market power) * (1 + premium * tightness).

        Tightness is that of last month's demand over capacity above ``utilization_knee``, capped
        at ``tightness_cap``; a concentrated maker's Lerner markup is its market power. Supply
        contracts make prices sticky: each month closes ``price_adjustment`` of the log gap.
        """
        markup = 1.0 / (1.0 - self.spec.market_power)
        scarcity = 1.0 + self.spec.tightness_premium * min(
            tightness(self.pressure, self.spec.utilization_knee), self.spec.tightness_cap
        )
        target = self.spec.base_price * markup * scarcity
        if self.price <= 0 or target <= 0:
            self.price = target
        else:
            self.price *= (target / self.price) ** self.spec.price_adjustment

    def step(self, month: int) -> None:
        """The supplier's month (``month`` is its index): expansions arrive, the price moves, expansions are ordered.

        It runs before the month's market conditions exist (its prices are part of them), so the
        month is given.
        """
        self.receive_expansions(month)
        self.set_price()
        self.order_expansion(month)

    def record_flow(self, demand_acc: float, served_acc: float, binding: bool) -> None:
        """Store this month's demand and served fleet, in the layer's own units."""
        cap = self.capacity
        self.demand = self.to_layer_units(demand_acc)
        self.served = min(self.to_layer_units(served_acc), cap)
        # demand on a sliver of capacity overflows to inf (a float division never raises): pressure saturates in the rules
        self.pressure = float(self.demand) / float(cap) if cap > 0 else (0.0 if self.demand <= 0 else 10.0)
        self.binding = int(binding)
        if self._flow:
            self.in_service_acc = max(served_acc, self.carried_acc)

    @property
    def cost_to_buyer_usd_per_acc_month(self) -> float:
        """What this supplier adds to the monthly cost of one H100-class unit in service (USD).

        Memory and packaging prices are per unit of output at first-month technology, so a
        unit of today's compute needs ``hardware_deflator`` of one; power and grid are paid
        for the unit's power each month.
        """
        m, hw = self.conditions, self.model.params.hardware
        return supplier_cost_usd_per_acc_month(
            self.layer, self.price, m.hardware_deflator, m.kw_per_acc, hw.hours_per_month, hw.lifetime_months
        )
