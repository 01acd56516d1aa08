"""Clouds: data-centre places for accelerators, a book of capacity contracts, and prices.

Capacity is counted in accelerators (H100-class) that can be housed and run; compute is sold
in accelerator-months. A cloud sells capacity forward to labs under contracts (take-or-pay,
at the price of the day they were signed) and the rest at a spot price that rises as
utilisation nears full. It builds new places with its capital budget, which arrive after a
lead time, and it can only fill them as fast as the upstream layers deliver.

Rationing rule, when a cloud has less compute than is asked of it: contracts first (pro rata
to the contracted amounts if even they cannot all be met), then spot requests pro rata to
the amounts asked.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

import mesa
import numpy as np
from numba import njit

from agentmarket.agents.suppliers import initial_pipeline
from agentmarket.market import OBSERVED_CONDITIONS, holt_update, month_index, numpy_sum, tightness
from agentmarket.params import Cloud

if TYPE_CHECKING:
    from agentmarket.model import MarketModel


@njit(cache=True, nogil=True)
def add_to_months(booked, first, months, acc):
    """Add ``acc`` to ``booked[first:first + months]`` (a contract's accelerators in each of its months)."""
    for t in range(first, first + months):
        booked[t] += acc


@njit(cache=True, nogil=True)
def spot_demand_share(price: float, reference: float, limit: float) -> float:
    """Share of a spot need bought at ``price``: all up to ``reference``, falling to none at ``limit``."""
    if price <= reference:
        return 1.0
    if price >= limit:
        return 0.0
    return (limit - price) / (limit - reference)


@njit(cache=True, nogil=True)
def ration_clouds(
    available: np.ndarray, contract_req: np.ndarray, spot_req: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every cloud's rationing rule at once: row ``i`` splits ``available[i]`` among the buyers' requests.

    Contracts first, pro rata when even they cannot all be met, then spot pro rata to what
    was asked (accelerators; rows clouds, columns buyers). Sums are numpy's, to the last bit.
    """
    n_clouds, n_buyers = contract_req.shape
    contract = np.zeros_like(contract_req)
    spot = np.zeros_like(spot_req)
    for i in range(n_clouds):
        total_contract = numpy_sum(contract_req[i], 0, n_buyers)
        if available[i] >= total_contract:
            contract[i] = contract_req[i]
            rest = available[i] - total_contract
            total_spot = numpy_sum(spot_req[i], 0, n_buyers)
            share = 0.0
            if total_spot > 0:
                share = rest / total_spot
                share = share if share < 1.0 else 1.0  # min(1.0, share)
            for j in range(n_buyers):
                spot[i, j] = spot_req[i, j] * share
        else:
            scale = available[i] / total_contract if total_contract > 0 else 0.0
            for j in range(n_buyers):
                contract[i, j] = contract_req[i, j] * scale
    return contract, spot


class CloudAgent(mesa.Agent):
    """One cloud (or a lab's own fleet, when ``spec.owner`` names the lab)."""

    def __init__(
        self, model: MarketModel | None = None, name: str = "cloud", spec: Cloud | None = None, forward_months: int = 0
    ) -> None:
        super().__init__(model)
        self.name = name
        self.spec = spec or Cloud()
        self.forward_months = forward_months
        """Contracts are priced at the utilisation expected this far ahead (the labs' longest booking lead)."""
        self.owner = self.spec.owner or None
        self.capacity = self.spec.initial_capacity_acc
        self.pipeline = initial_pipeline(
            self.model.params.start_index,
            self.spec.build_lead_months,
            self.capacity,
            self.spec.pipeline_growth_per_year,
        )
        self.booked_from = self.model.params.start_index
        """The month (index) of ``booked_acc[0]``."""
        self.booked_acc = np.zeros(64)
        """Accelerators under contract with the cloud in each month from ``booked_from`` on."""
        self.unit_cost_usd = 0.0
        self.contract_price = 0.0
        self.spot_price = 0.0
        self.served = 0.0
        self.requested = 0.0
        self.deliverable = self.capacity
        self.revenue = 0.0
        self.capex = 0.0
        self.forecast_level = 0.0
        self.forecast_trend = 0.0
        self._expected: dict[int, float] = {}  # expected_capacity's answers, by month, until places or builds change
        self._arrivals: list[int] = []  # the builds' months and amounts, as the pipeline holds them
        self._builds: list[float] | None = None  # None when the builds are not in the order they arrive
        self.forget_expected()

    conditions = OBSERVED_CONDITIONS

    @property
    def utilization(self) -> float:
        """Served compute over capacity this month, in [0, 1]."""
        return self.served / self.capacity if self.capacity > 0 else 0.0

    @property
    def compute_price(self) -> float:
        """Spot price of compute, USD per accelerator-hour (the rental-index unit)."""
        return self.spot_price / self.model.params.hardware.hours_per_month

    @property
    def contract_price_per_hour(self) -> float:
        """Price of new contracts, USD per accelerator-hour."""
        return self.contract_price / self.model.params.hardware.hours_per_month

    @property
    def place_cost(self) -> float:
        """Building, cooling and networking for one H100-class unit this month, USD (falls with hardware)."""
        return self.spec.capex_usd_per_acc * self.conditions.hardware_deflator

    @property
    def capex_per_acc(self) -> float:
        """What one more unit in service costs the capital budget: its place and its accelerator (USD)."""
        return self.place_cost + self.conditions.accelerator_price_usd

    @property
    def capex_budget_usd_per_month(self) -> float:
        """Capital budget this month (USD); a lab's own fleet spends all of it on places and accelerators."""
        if self.spec.capex_start_month and self.conditions.month < month_index(self.spec.capex_start_month):
            return 0.0
        years = self.conditions.years_elapsed
        return self.spec.capex_usd_per_year * (1.0 + self.spec.capex_growth_per_year) ** years / 12.0

    def receive_builds(self) -> None:
        """Places ordered ``build_lead_months`` ago come into service."""
        arrived = 0
        while self.pipeline and self.pipeline[0][0] <= self.conditions.month:
            self.capacity += self.pipeline.popleft()[1]
            arrived += 1
        if arrived:
            if self._builds is None:
                self.forget_expected()
            else:
                del self._arrivals[:arrived], self._builds[:arrived]
                self._expected.clear()

    def set_prices(self) -> None:
        """Cost per accelerator-month from the upstream prices, plus margin and scarcity premium.

        Contract prices carry the premium of the utilisation the cloud expects when the
        contract starts (its booked share); spot prices that of last month's demand.
        """
        m = self.conditions
        self.unit_cost_usd = m.accelerator_cost_usd_per_month + self.place_cost / self.spec.facility_life_months
        base = self.unit_cost_usd * (1.0 + (0.0 if self.owner else self.spec.margin))
        if self.owner:
            self.contract_price = self.spot_price = base
            return
        lead_month = m.month + self.forward_months
        expected = self.expected_pressure(lead_month)
        self.contract_price = base * (
            1.0
            + self.spec.scarcity_premium
            * min(tightness(expected, self.spec.utilization_knee), self.spec.contract_tightness_cap)
        )
        pressure = self.requested / self.deliverable if self.deliverable > 0 else 0.0
        target = base * (
            1.0
            + self.spec.scarcity_premium
            * min(tightness(pressure, self.spec.utilization_knee), self.spec.spot_tightness_cap)
        )
        if self.spot_price <= 0:
            self.spot_price = target
        else:
            self.spot_price *= (target / self.spot_price) ** self.spec.spot_adjustment

    def record_clearing(self, requested: float, served: float, available: float) -> None:
        """Store what was asked of the cloud, what it served and what it could serve (accelerators).

        What it could serve is the smaller of its places and what its upstream layers could
        deliver to it: a binding link upstream tightens the cloud's market as full places
        would, so spot prices carry upstream scarcity downstream.
        """
        self.requested = requested
        self.served = served
        self.deliverable = min(self.capacity, available)

    def expected_pressure(self, month: int) -> float:
        """Demand over deliverable compute the cloud expects in ``month``, a contract's start.

        Demand is the larger of its book and its forecast of what will be asked of it;
        deliverable compute is its places by then, filled in the share the upstream layers
        fill them now. A contract signed in a shortage carries the shortage's price.
        """
        ahead = month - self.conditions.month
        asked = max(self.booked(month), self.forecast_level + ahead * self.forecast_trend)
        fill = self.deliverable / self.capacity if self.capacity > 0 else 1.0
        return asked / max(self.expected_capacity(month) * fill, 1e-9)

    def expected_capacity(self, month: int) -> float:
        """Places in service by ``month``, counting builds already ordered.

        The labs and the cloud ask for the same few months several times a month, so the
        answers are kept until the places or the builds change (:meth:`forget_expected`).
        Builds arrive in the order they were ordered, so those due by ``month`` are the first
        ones, added as Python adds them.
        """
        expected = self._expected.get(month)
        if expected is None:
            if self._builds is None:
                due = sum(q for t, q in self.pipeline if t <= month)
            else:
                due = sum(self._builds[: bisect_right(self._arrivals, month)])
            expected = self._expected[month] = self.capacity + due
        return expected

    def forget_expected(self) -> None:
        """Drop :meth:`expected_capacity`'s kept answers and read the builds afresh.

        Places (``capacity``) and builds (``pipeline``) change in :meth:`receive_builds` and
        :meth:`order_capacity`, which keep the builds' lists in step as they go; code that
        changes them otherwise calls this.
        """
        self._expected.clear()
        self._arrivals = [t for t, _ in self.pipeline]
        self._builds = [q for _, q in self.pipeline] if self._arrivals == sorted(self._arrivals) else None

    def offer_capacity(self, month: int) -> float:
        """Capacity the cloud will still sell forward for ``month`` (it keeps ``1 - forward_share`` for spot)."""
        if self.owner:
            return 0.0
        return max(0.0, self.spec.forward_share * self.expected_capacity(month) - self.booked(month))

    def booked(self, month: int) -> float:
        """Accelerators under contract with the cloud in ``month`` (a numpy float; the float 0.0 when none)."""
        i = month - self.booked_from
        if 0 <= i < self.booked_acc.size:
            acc = self.booked_acc[i]
            if acc != 0.0:
                return acc
        return 0.0

    def book_capacity(self, start: int, months: int, acc: float) -> None:
        """Record a contract of ``acc`` accelerators from ``start`` for ``months`` months."""
        first = start - self.booked_from
        if first < 0:
            self.booked_acc = np.concatenate([np.zeros(-first), self.booked_acc])
            self.booked_from, first = start, 0
        if first + months > self.booked_acc.size:
            grown = np.zeros(max(2 * self.booked_acc.size, first + months))
            grown[: self.booked_acc.size] = self.booked_acc
            self.booked_acc = grown
        add_to_months(self.booked_acc, first, months, acc)

    def update_forecast(self) -> None:
        """Holt's linear smoothing of the compute asked of this cloud (accelerators)."""
        self.forecast_level, self.forecast_trend = holt_update(
            self.forecast_level, self.forecast_trend, self.requested, self.spec.forecast_smoothing
        )

    def order_capacity(self) -> None:
        """Order places for ``build_lead_months`` ahead from the capital budget.

        While utilisation is at or above the knee the cloud spends its whole budget; below it,
        it builds only towards the larger of bookings and forecast demand at the lead time.
        """
        arrive = self.conditions.month + self.spec.build_lead_months
        self.update_forecast()
        forecast = max(0.0, self.forecast_level + self.spec.build_lead_months * self.forecast_trend)
        target = max(self.booked(arrive) / self.spec.forward_share, forecast * (1.0 + self.spec.build_headroom))
        want = max(0.0, target - self.expected_capacity(arrive))
        afford = self.capex_budget_usd_per_month / self.capex_per_acc
        busy = self.requested >= self.spec.utilization_knee * self.capacity
        build = afford if self.owner or busy else min(want, afford)
        self.capex = build * self.capex_per_acc
        if build > 0:
            self.pipeline.append((arrive, build))
            if self._builds is not None and (not self._arrivals or self._arrivals[-1] <= arrive):
                self._arrivals.append(arrive)
                self._builds.append(build)
                self._expected.clear()
            else:
                self.forget_expected()

    def step(self) -> None:
        """The cloud's month: new places arrive, prices are set, places are ordered."""
        self.receive_builds()
        self.set_prices()
        self.order_capacity()

    def ration(self, available: float, contract_req: np.ndarray, spot_req: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split ``available`` compute among buyers: contracts first, pro rata, then spot pro rata (:func:`ration_clouds`)."""
        contract, spot = ration_clouds(
            np.array([available], dtype=np.float64),
            np.ascontiguousarray(contract_req, dtype=np.float64)[None, :],
            np.ascontiguousarray(spot_req, dtype=np.float64)[None, :],
        )
        return contract[0], spot[0]
