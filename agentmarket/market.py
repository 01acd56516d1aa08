"""The month's market conditions: pure price and efficiency rules, and the snapshot agents read.

Every function here is pure: it takes numbers (or parameter tables) and returns numbers, so each
rule can be checked on hand-built inputs. :class:`MarketConditions` is the frozen snapshot the
model builds once a month, right after the supply phase has set the suppliers' prices; labs,
clouds and suppliers read it (and their own spec) instead of asking the model.

Units: money in USD, compute in H100-class accelerators (accelerator-months per month), power
in kW per accelerator, time in months (a month is an integer index, see :func:`month_index`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from agentmarket.params import Layer, Params


# ----- months -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1024)
def month_index(month: str) -> int:
    """Months since year 0 for a ``YYYY-MM`` string, so that differences count months.

    Cached: the model reads its start, step and shock months every month, and parsing the
    same few strings again costs more than the month's arithmetic that uses them.
    """
    year, mon = month.split("-")
    return int(year) * 12 + int(mon) - 1


def month_label(index: int) -> str:
    """Inverse of :func:`month_index`."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def years_between(month: int, start: int) -> float:
    """Years from month index ``start`` to ``month`` (fractional)."""
    return (month - start) / 12.0


# ----- short sums --------------------------------------------------------------------------
def ordered_sum(values: Sequence[float]) -> float:
    """The sum numpy gives for these values: term by term for fewer than eight, else numpy's own.

    numpy adds fewer than eight values one after another from 0; from eight on it sums
    pairwise with eight accumulators. Calling numpy on the handful of values a month's books
    add costs more than the adding, so short sums are done here, to the same last bit.
    """
    if len(values) >= 8:
        return float(np.sum(values))
    total = 0.0
    for x in values:
        total += x
    return float(total)


def ordered_dot(a: Sequence[float], b: Sequence[float]) -> float:
    """The dot product of ``a`` and ``b``: term by term from 0 for fewer than eight pairs, else numpy's own.

    Fewer than eight pairs are multiplied and added one after another, each product rounded,
    as numpy's dot does on OpenBLAS's AVX2 kernels: the same on every machine. (OpenBLAS's
    AVX-512 kernels fuse each multiply with its add, which may move the last bit.) On the few
    clouds or suppliers a month weighs, the two arrays would cost more than the products.
    """
    if len(a) >= 8:
        return float(np.dot(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)))
    total = 0.0
    for x, y in zip(a, b, strict=True):
        total += x * y
    return float(total)


def ordered_weighted_mean(weights: Sequence[float], values: Sequence[float]) -> float:
    """``ordered_dot(weights, values) / ordered_sum(weights)`` to the last bit, in one pass for fewer than eight pairs.

    Capacity-weighted prices take it once per layer and cloud set a month.
    """
    if len(weights) >= 8:
        return ordered_dot(weights, values) / ordered_sum(weights)
    dot = total = 0.0
    for w, v in zip(weights, values, strict=True):
        dot += w * v
        total += w
    return float(dot) / float(total)


def ordered_mean(values: Sequence[float]) -> float:
    """``float(np.mean(values))`` to the last bit (see :func:`ordered_sum`); NaN when empty."""
    if not values:
        return math.nan
    return ordered_sum(values) / len(values)


PAIRWISE_BLOCK = 128
"""numpy sums up to this many values with eight accumulators, longer runs by halves."""


@njit(inline="always")
def kept_min(a, a_kind, b, b_kind):
    """Python's ``min(a, b)`` and the kind of the one it returns: ``b`` only when ``b < a``."""
    if b < a:
        return b, b_kind
    return a, a_kind


@njit(cache=True, nogil=True)
def block_sum(values, start, n):
    """The sum numpy gives of ``values[start:start + n]``, for ``n`` up to :data:`PAIRWISE_BLOCK`.

    Fewer than eight values are added one after another from 0; more with eight running
    sums, combined in pairs, then the rest one after another.
    """
    if n < 8:
        total = 0.0
        for i in range(start, start + n):
            total += values[i]
        return total
    r = values[start : start + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += values[start + i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += values[start + i]
        i += 1
    return total


@njit(cache=True, nogil=True)
def numpy_sum(values, start, n):
    """``np.sum`` of ``values[start:start + n]`` to the last bit: numpy's pairwise summation.

    Up to :data:`PAIRWISE_BLOCK` values are one block (:func:`block_sum`); a longer run is
    the sum of its two halves (the first a multiple of eight long), each summed so. The
    halves are walked with a stack rather than by recursion, which numba's cache does not keep.
    """
    if n <= PAIRWISE_BLOCK:
        return block_sum(values, start, n)
    depth = 64  # halving a run of 2**63 values reaches a block well within this
    starts = np.empty(depth, dtype=np.int64)
    sizes = np.empty(depth, dtype=np.int64)
    left_done = np.zeros(depth, dtype=np.bool_)
    left = np.zeros(depth)
    top = 0
    starts[0], sizes[0] = start, n
    while True:
        size = sizes[top]
        if size > PAIRWISE_BLOCK:  # a fresh run: its first half comes first
            half = size // 2 - (size // 2) % 8
            top += 1
            starts[top], sizes[top], left_done[top] = starts[top - 1], half, False
            continue
        total = block_sum(values, starts[top], size)
        while True:  # hand the finished run's sum to the run it halves
            if top == 0:
                return total
            top -= 1
            if left_done[top]:
                total = left[top] + total
                continue
            left_done[top], left[top] = True, total
            half = sizes[top] // 2 - (sizes[top] // 2) % 8
            top += 1
            starts[top], sizes[top], left_done[top] = starts[top - 1] + half, sizes[top - 1] - half, False
            break


@njit(cache=True, nogil=True)
def ordered_column(rows, j):
    """:func:`ordered_sum` of column ``j`` of a 2-D array, compiled."""
    column = np.ascontiguousarray(rows[:, j])
    return numpy_sum(column, 0, column.size)


@njit(cache=True, nogil=True)
def column_sums(rows, width):
    """``rows[:, :width].sum(axis=0)`` to the last bit, for a few short rows (a 2-D array), compiled.

    numpy adds such columns row after row, from the first row on; a single column it sums
    as one vector (:func:`ordered_sum`). ``rows`` must not be empty.
    """
    if width == 1:
        return np.array([ordered_column(rows, 0)])
    totals = rows[0, :width].copy()
    for i in range(1, rows.shape[0]):
        for j in range(width):
            totals[j] += rows[i, j]
    return totals


@njit(cache=True, nogil=True)
def settle_compute(value, contract_served, spot_served, asked, spot_price):
    """The month's compute bill and deliveries, from the clearing's (clouds x buyers) figures; buyers are the labs, then other AI.

    Contracts are take-or-pay: a buyer pays the value of what it booked (``value``, USD/month)
    times the cloud's contract fill (contracts served over asked of it); spot is paid as
    served, at the cloud's ``spot_price`` (USD/acc-month). Returns each cloud's revenue; what
    each lab paid, and of it at spot; what reached each lab, its contract fill and its spot
    compute (accelerators); and what other AI buyers were served and paid. Sums are numpy's
    (:func:`numpy_sum`, :func:`column_sums`), to the last bit.
    """
    n_clouds, n_buyers = value.shape
    n_labs = n_buyers - 1
    paid = np.empty_like(value)
    spot_paid = np.empty_like(value)
    revenue = np.empty(n_clouds)
    for i in range(n_clouds):
        total_asked = numpy_sum(asked[i], 0, n_buyers)
        fill = numpy_sum(contract_served[i], 0, n_buyers) / total_asked if total_asked > 0 else 1.0
        for j in range(n_buyers):
            paid[i, j] = value[i, j] * fill + spot_served[i, j] * spot_price[i]
            spot_paid[i, j] = spot_served[i, j] * spot_price[i]
        revenue[i] = numpy_sum(paid[i], 0, n_buyers)
    served = contract_served + spot_served
    other_ai_served = ordered_column(served, n_labs)
    other_ai_paid = ordered_column(paid, n_labs)
    lab_served = column_sums(served, n_labs)
    asked_by = column_sums(asked, n_buyers)
    fill = np.empty(n_labs)
    lab_spot = np.empty(n_labs)
    for j in range(n_labs):
        fill[j] = ordered_column(contract_served, j) / asked_by[j] if asked_by[j] > 0 else 1.0
        lab_spot[j] = ordered_column(spot_served, j)
    return (
        revenue,
        column_sums(paid, n_labs),
        column_sums(spot_paid, n_labs),
        lab_served,
        fill,
        lab_spot,
        other_ai_served,
        other_ai_paid,
    )


def clamp(value: float, low: float, high: float) -> float:
    """``float(np.clip(value, low, high))`` for one number: at least ``low``, then at most ``high``."""
    return float(min(max(value, low), high))


# ----- growth and efficiency --------------------------------------------------------------
def decaying_growth(years: float, first_year_growth: float, half_life_years: float) -> float:
    """Growth factor after ``years`` when the log growth rate ln(1 + g) halves every ``half_life_years``.

    Used for the exogenous series (other AI workloads, revenue outside coding agents), so
    that they slow as they mature instead of compounding for ever.
    """
    if years <= 0:
        return 1.0
    decay = math.log(2.0) / half_life_years  # inf for a vanishing half-life: no growth at all
    return math.exp(math.log1p(first_year_growth) * -math.expm1(-decay * years) / decay)


def hardware_deflator(gain_per_year: float, years: float) -> float:
    """Cost, power and upstream inputs per H100-class unit relative to the first month (1 then, falling)."""
    return (1.0 - gain_per_year) ** years


def kw_per_acc(kw_first_month: float, deflator: float) -> float:
    """All-in power of one H100-class unit of compute, kW, after ``deflator`` of hardware progress."""
    return kw_first_month * deflator


def efficiency_trend(gain_per_year: float, years: float) -> float:
    """Compute per unit of agent work from the yearly efficiency gain alone (1 in the first month)."""
    return (1.0 - gain_per_year) ** years


def compute_efficiency(trend: float, step_compute_factor: float, stepped: bool) -> float:
    """Compute per unit of agent work relative to the first month.

    The trend, times ``step_compute_factor`` from the capability step on.
    """
    return trend * step_compute_factor if stepped else trend


# ----- upstream costs and the accelerator ---------------------------------------------------
def supplier_cost_usd_per_acc_month(
    layer: Layer, price: float, deflator: float, kw: float, hours_per_month: float, lifetime_months: int
) -> float:
    """What a supplier at ``price`` adds to the monthly cost of one H100-class unit in service, USD.

    Memory and packaging prices are per unit of output at first-month technology, so a unit of
    today's compute needs ``deflator`` of one, spread over the accelerator's life; power
    (USD/MWh) and grid (USD/kW-month) are paid for the unit's ``kw`` each month.
    """
    if layer == "power":
        return price * kw * hours_per_month / 1000.0
    if layer == "grid":
        return price * kw
    return price * deflator / lifetime_months


def mean_layer_costs(layers: Iterable[Layer], costs: Iterable[tuple[Layer, float]]) -> dict[Layer, float]:
    """Each layer's mean cost per unit in service (USD/month) over its suppliers; 0 for a layer with none."""
    by_layer: dict[Layer, list[float]] = {layer: [] for layer in layers}
    for layer, cost in costs:
        by_layer[layer].append(cost)
    return {layer: ordered_mean(v) if v else 0.0 for layer, v in by_layer.items()}


def accelerator_price_usd(
    logic_cost_usd: float,
    deflator: float,
    lifetime_months: int,
    vendor_margin: float,
    memory_usd_per_month: float,
    packaging_usd_per_month: float,
) -> float:
    """Price of one H100-class accelerator: logic, HBM and packaging, times the vendor's markup (USD).

    Memory and packaging enter as their monthly cost over the accelerator's life.
    """
    per_month = logic_cost_usd * deflator / lifetime_months + (memory_usd_per_month + packaging_usd_per_month)
    return per_month * lifetime_months * (1.0 + vendor_margin)


def accelerator_cost_usd_per_month(
    price_usd: float, lifetime_months: int, power_usd_per_month: float, grid_usd_per_month: float
) -> float:
    """Monthly cost of one accelerator in service, USD: its price over its life, plus power and grid.

    Prices are today's (replacement cost), so upstream price rises reach compute prices at once.
    """
    return price_usd / lifetime_months + power_usd_per_month + grid_usd_per_month


# ----- compute prices -----------------------------------------------------------------------
def list_base_price(start_base_price: float, deflator: float) -> float:
    """The first month's cloud cost-plus price deflated by hardware price-performance (USD/acc-month).

    The basis of API list prices that do not float with upstream scarcity.
    """
    return start_base_price * deflator


def base_price(unit_costs_usd: Iterable[float], margins: Iterable[float]) -> float:
    """Mean cost-plus price of the given clouds, without scarcity premium (USD/acc-month)."""
    return ordered_mean([cost * (1.0 + margin) for cost, margin in zip(unit_costs_usd, margins, strict=True)])


def contract_price(contract_prices: Iterable[float]) -> float:
    """Mean contract price of the given clouds (USD/acc-month)."""
    return ordered_mean(list(contract_prices))


def tightness(utilization: float, knee: float) -> float:
    """0 below the knee, rising linearly to 1 at full use, and on beyond it for excess demand."""
    return max(0.0, utilization - knee) / (1.0 - knee)


def holt_update(level: float, trend: float, observation: float, smoothing: float) -> tuple[float, float]:
    """Holt's linear smoothing: the new (level, trend) after one observation.

    A level of exactly 0 means no observation yet: the level starts at ``observation`` and
    the trend stays as it is.
    """
    if level == 0.0:
        return observation, trend
    new_level = smoothing * observation + (1 - smoothing) * (level + trend)
    new_trend = smoothing * (new_level - level) + (1 - smoothing) * trend
    return new_level, new_trend


# ----- the snapshot -------------------------------------------------------------------------
OBSERVED_CONDITIONS = property(
    operator.attrgetter("model.conditions"),
    doc="This month's market conditions (:class:`MarketConditions`), as the model observed them.",
)
"""An agent's ``conditions``: the model's snapshot of the month, read in one C call (agents read it often)."""


@dataclass(frozen=True)
class MarketConditions:
    """What every agent may know of the market in one month; built by the model, read by agents.

    The model builds it once a month, after the supply phase has set the suppliers' prices.
    The clouds price their compute in the cloud phase from it; the model then records their
    prices in it with :meth:`with_cloud_prices` (the one update of the month, since the cloud
    prices do not exist before the cloud phase). A new field is one line here and one in
    :meth:`build` (or :meth:`with_cloud_prices`).
    """

    month: int
    """Month index being simulated (see :func:`month_index`)."""
    start_month: int
    """Month index of the run's first month."""
    years_elapsed: float
    """Years since the first month."""
    hardware_deflator: float
    """Cost, power and upstream inputs per H100-class unit relative to the first month."""
    kw_per_acc: float
    """All-in power of one H100-class unit this month, kW."""
    efficiency_trend: float
    """Compute per unit of agent work from the yearly efficiency gain alone (1 in the first month)."""
    compute_efficiency: float
    """Compute per unit of agent work relative to the first month, with the capability step."""
    capability_stepped: bool
    """True from the month of the capability step on."""
    layer_costs_usd_per_acc_month: Mapping[Layer, float]
    """Each layer's mean cost per H100-class unit in service, USD/month (read only)."""
    accelerator_price_usd: float
    """Price of one H100-class accelerator today, USD."""
    accelerator_cost_usd_per_month: float
    """Monthly cost of one accelerator in service (price over life, power, grid), USD."""
    list_base_price_usd_per_acc_month: float
    """The first month's cloud cost-plus price, deflated by hardware progress (USD/acc-month)."""
    base_price_usd_per_acc_month: float = field(default=math.nan)
    """Open clouds' mean cost-plus price without scarcity premium (USD/acc-month); set after the cloud phase."""
    contract_price_usd_per_acc_month: float = field(default=math.nan)
    """Open clouds' mean price of new contracts (USD/acc-month); set after the cloud phase."""

    @classmethod
    def build(
        cls,
        params: Params,
        month: int,
        step_month: int,
        supplier_prices: Iterable[tuple[Layer, float]],
        start_base_price: float,
    ) -> MarketConditions:
        """The month's conditions from the parameters, the month and the suppliers' (layer, price) pairs.

        ``step_month`` is the month index of the capability step; ``start_base_price`` the
        first month's open-cloud cost-plus price (USD/acc-month; NaN before it is known).
        """
        from agentmarket.params import Layer

        hw = params.hardware
        years = years_between(month, params.start_index)
        deflator = hardware_deflator(hw.price_performance_gain_per_year, years)
        kw = kw_per_acc(hw.kw_per_acc, deflator)
        trend = efficiency_trend(params.capability.efficiency_gain_per_year, years)
        stepped = month >= step_month
        costs = mean_layer_costs(
            Layer,
            [
                (
                    layer,
                    supplier_cost_usd_per_acc_month(layer, price, deflator, kw, hw.hours_per_month, hw.lifetime_months),
                )
                for layer, price in supplier_prices
            ],
        )
        acc_price = accelerator_price_usd(
            hw.logic_cost_usd_per_acc,
            deflator,
            hw.lifetime_months,
            hw.vendor_margin,
            costs[Layer.MEMORY],
            costs[Layer.PACKAGING],
        )
        return cls.of(
            month=month,
            start_month=params.start_index,
            years_elapsed=years,
            hardware_deflator=deflator,
            kw_per_acc=kw,
            efficiency_trend=trend,
            compute_efficiency=compute_efficiency(trend, params.capability.step_compute_factor, stepped),
            capability_stepped=stepped,
            layer_costs_usd_per_acc_month=costs,
            accelerator_price_usd=acc_price,
            accelerator_cost_usd_per_month=accelerator_cost_usd_per_month(
                acc_price, hw.lifetime_months, costs[Layer.POWER], costs[Layer.GRID]
            ),
            list_base_price_usd_per_acc_month=list_base_price(start_base_price, deflator),
        )

    @classmethod
    def of(cls, **fields: object) -> MarketConditions:
        """Conditions with these fields (the two cloud prices NaN unless given), without the frozen ``__init__``'s cost.

        The model builds one a month; the checks of the frozen dataclass's ``__init__`` (one
        ``object.__setattr__`` per field) cost more than the month's arithmetic that fills them.
        """
        new = object.__new__(cls)
        new.__dict__.update(_FIELD_DEFAULTS, **fields)
        return new

    def with_cloud_prices(
        self, base_price_usd_per_acc_month: float, contract_price_usd_per_acc_month: float
    ) -> MarketConditions:
        """These conditions with the open clouds' mean base and contract prices of the month."""
        new = object.__new__(type(self))  # a copy with two fields changed, without the frozen __init__'s cost
        new.__dict__.update(
            self.__dict__,
            base_price_usd_per_acc_month=base_price_usd_per_acc_month,
            contract_price_usd_per_acc_month=contract_price_usd_per_acc_month,
        )
        return new

    def with_start_base_price(self, start_base_price: float) -> MarketConditions:
        """These conditions with the list-price basis set from the first month's base price (USD/acc-month)."""
        return dataclasses.replace(
            self, list_base_price_usd_per_acc_month=list_base_price(start_base_price, self.hardware_deflator)
        )


_FIELD_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(MarketConditions) if f.default is not dataclasses.MISSING
}
"""The fields :meth:`MarketConditions.of` leaves at their defaults unless given (the cloud prices, NaN)."""
