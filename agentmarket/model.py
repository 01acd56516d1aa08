"""The market model: one ``step()`` is one month, in documented, ordered phases.

1. ``supply_phase``     suppliers receive expansions, set prices, order expansions.
2. ``cloud_phase``      clouds receive new places, set contract and spot prices, order places.
3. ``lab_phase``        labs update capability, set prices, plan training, book capacity.
4. ``developer_phase``  developers churn, switch, adopt; their compute demand is summed per lab.
5. ``clear_market``     compute flows through the supply graph; clouds and labs ration.
6. ``settle_books``     developers pay, labs pay clouds, books close, funding is raised.
7. data collection (`MarketDataCollector`, a Mesa DataCollector).

Nothing happens by date except what a scenario states as an input (the capability step,
a supply shock); prices, rationing and the binding layer come from capacities, demand and
the agents' rules.
"""

from __future__ import annotations

from copy import deepcopy
from functools import partial
from operator import attrgetter

import mesa
import numpy as np
from numba import njit

from agentmarket.agents.clouds import CloudAgent, ration_clouds, spot_demand_share
from agentmarket.agents.developers import Channel, DeveloperPopulation, Offer
from agentmarket.agents.labs import LabAgent
from agentmarket.agents.suppliers import SupplierAgent
from agentmarket.market import (
    MarketConditions,
    base_price,
    contract_price,
    decaying_growth,
    month_index,
    month_label,
    numpy_sum,
    ordered_weighted_mean,
    settle_compute,
)
from agentmarket.metrics import names_for
from agentmarket.params import Layer, Params
from agentmarket.supply_graph import OTHER_AI, Clearing, ClearingResult, build_supply_graph

LAB_METRICS = names_for("lab")
CLOUD_METRICS = names_for("cloud")
LAYER_METRICS = names_for("layer")
MARKET_METRICS = names_for("market")
LAYER_NAMES = tuple(layer.value for layer in Layer)
"""The supply layers' names, upstream first."""


def linear_quantiles(values: np.ndarray, fractions: tuple[float, ...], presorted: bool = False) -> np.ndarray:
    """``np.percentile(values, 100 * fractions)`` (numpy's default, linear method), to the last bit.

    The same order statistics and the same interpolation, ``a + (b - a) * t`` below the
    midpoint and ``b - (b - a) * (1 - t)`` from it, without numpy's general machinery, which
    costs more than the sort at the few thousand values of a month. ``values`` must not be
    empty; with ``presorted`` they are taken as already in ascending order.
    """
    s = values if presorted else np.sort(values)
    n = s.size
    out = np.empty(len(fractions))
    for k, q in enumerate(fractions):
        v = (n - 1) * q
        if v >= n - 1:
            out[k] = s[-1]
            continue
        lo = int(v)
        t = v - lo
        diff = s[lo + 1] - s[lo]
        out[k] = s[lo + 1] - diff * (1 - t) if t >= 0.5 else s[lo] + diff * t
    return out


def layer_metric(model: MarketModel, layer: str, metric: str) -> float:
    """A supply layer's metric: sums of capacity, demand and served; weighted price; binding flag."""
    return model.layer_stats[layer][metric]


IMMUTABLE_VALUES = (float, int, str, bool, tuple, np.floating, np.integer)
"""Types a collected value is kept as (Mesa deep-copies values, which for these returns an equal value)."""


PLAIN_TYPES = frozenset((float, int, str, bool, np.float64, np.int64))
"""The immutable types reported values have, checked by identity before the general test."""


def kept(value: object) -> object:
    """A collected value as Mesa would store it: itself when immutable, else a deep copy."""
    return value if isinstance(value, IMMUTABLE_VALUES) else deepcopy(value)


def kept_all(values: tuple) -> tuple:
    """:func:`kept` of each value; the tuple itself when every value is of a plain immutable type."""
    if PLAIN_TYPES.issuperset(map(type, values)):
        return values
    return tuple(map(kept, values))


@njit(cache=True, nogil=True)
def route_spot(spot_req, buyer, amount, reference, limit, sellers, clouds, spare):
    """Ask the clouds that sell to ``buyer`` (mask ``sellers``) for ``amount`` of spot compute, pro rata to their spare places.

    The buyer takes all of it from a cloud priced at or below ``reference`` (USD/acc-month),
    less as the price rises, and none at ``limit``. ``clouds`` rows are each cloud's places,
    contract price, bookings this month and spot price; ``spare`` is scratch. Sums are numpy's,
    to the last bit.
    """
    if amount <= 0:
        return
    n = 0
    for i in range(sellers.size):
        if sellers[i]:
            room = clouds[i, 0] - clouds[i, 2]
            spare[n] = 0.0 if room < 0.0 else room  # max(room, 0.0)
            n += 1
    if n == 0:
        return
    total = numpy_sum(spare, 0, n)
    if total <= 0:
        n = 0
        for i in range(sellers.size):
            if sellers[i]:
                spare[n] = 1e-9 if clouds[i, 0] < 1e-9 else clouds[i, 0]  # max(places, 1e-9)
                n += 1
        total = numpy_sum(spare, 0, n)
    k = 0
    for i in range(sellers.size):
        if sellers[i]:
            take = spot_demand_share(clouds[i, 3], reference, limit)
            spot_req[i, buyer] += amount * take * spare[k] / total
            k += 1


@njit(cache=True, nogil=True)
def route_requests(
    active, demand, reference, spot_limit, owned, booked, value, clouds, spot_seller, other_demand, other_reference,
    other_limit,
):  # fmt: skip
    """Each buyer's requests to each cloud (clouds x buyers; the labs, then other AI buyers), and the contracts' value.

    An active lab runs on its own fleet (``owned``) first, then on its contracts with open
    clouds pro rata to what it booked with each (``booked``, ``value``: lab x cloud, accelerators
    and USD/month); what its contracts leave of its ``demand`` it asks at spot
    (:func:`route_spot`, up to ``spot_limit``), as do other AI buyers for ``other_demand``.
    ``clouds`` rows: places, contract price, this month's bookings, spot price. Sums are
    numpy's (:func:`~agentmarket.market.ordered_sum`), to the last bit.
    """
    n_labs, n_clouds = booked.shape
    contract_req = np.zeros((n_clouds, n_labs + 1))
    spot_req = np.zeros((n_clouds, n_labs + 1))
    contract_value = np.zeros((n_clouds, n_labs + 1))
    acc = np.empty(n_clouds)
    usd = np.empty(n_clouds)
    part = np.empty(n_clouds)
    for j in range(n_labs):
        if not active[j]:
            continue
        for i in range(n_clouds):
            acc[i] = booked[j, i]
            usd[i] = value[j, i]
            if owned[j, i]:
                acc[i] += clouds[i, 0]
                usd[i] += clouds[i, 0] * clouds[i, 1]
        n = 0
        for i in range(n_clouds):
            if owned[j, i]:
                part[n] = acc[i]
                n += 1
        own_booked = numpy_sum(part, 0, n)
        on_own = own_booked if own_booked < demand[j] else demand[j]  # min(demand, own_booked)
        own_share = on_own / own_booked if on_own > 0 else 0.0
        rest = demand[j] - on_own
        n = 0
        for i in range(n_clouds):
            if not owned[j, i]:
                part[n] = acc[i]
                n += 1
        others_booked = numpy_sum(part, 0, n)
        others_share = 0.0
        if others_booked > 0:
            others_share = 1.0 if rest >= others_booked else rest / others_booked
        for i in range(n_clouds):
            contract_req[i, j] = acc[i] * (own_share if owned[j, i] else others_share)
            contract_value[i, j] = usd[i]
        left = demand[j] - numpy_sum(acc, 0, n_clouds)
        shortfall = left if left > 0.0 else 0.0  # max(0.0, left)
        route_spot(spot_req, j, shortfall, reference[j], spot_limit[j], spot_seller[j], clouds, part)
    route_spot(spot_req, n_labs, other_demand, other_reference, other_limit, spot_seller[n_labs], clouds, part)
    return contract_req, spot_req, contract_value


class MarketDataCollector(mesa.DataCollector):
    """Mesa's DataCollector with the model's reporters, reading them in a few calls a month.

    Reporters, stored records and data frames are Mesa's own (``model_vars``,
    ``get_model_vars_dataframe`` and ``get_agenttype_vars_dataframe`` give the same values);
    only :meth:`collect` differs. Attribute reporters are read with one
    :func:`operator.attrgetter` per table and the layer metrics straight from the model's
    ``layer_stats``, where Mesa calls and deep-copies some 50 reporters one by one (about a
    tenth of a small run's month). A month's values of these reporters are kept as one row,
    and moved into ``model_vars``' columns when it is read. Before the first collection every
    model reporter passes Mesa's own validation, with its messages.
    """

    def __init__(
        self,
        model_reporters: dict[str, str | partial] | None = None,
        agenttype_reporters: dict[type, dict[str, str]] | None = None,
    ) -> None:
        self._rows: list[tuple] = []  # months collected but not yet moved into model_vars
        self._row_columns: list[list] = []
        super().__init__(model_reporters=model_reporters, agenttype_reporters=agenttype_reporters)
        attributes, layer_columns = [], []
        self._layer_metrics: list[tuple[str, str]] = []
        self._model_calls: list[tuple[list, object]] = []
        for name, reporter in (model_reporters or {}).items():
            column = self.model_vars[name]
            if isinstance(reporter, str):
                attributes.append(reporter)
                self._row_columns.append(column)
            elif isinstance(reporter, partial) and reporter.func is layer_metric and not reporter.args:
                self._layer_metrics.append((reporter.keywords["layer"], reporter.keywords["metric"]))
                layer_columns.append(column)
            else:
                self._model_calls.append((column, reporter))
        self._row_columns.extend(layer_columns)
        self._read_model = attrgetter(*attributes) if len(attributes) > 1 else None  # a tuple of values, read at once
        self._agent_getters = {
            agent_type: attrgetter(*reporters.values())
            for agent_type, reporters in (agenttype_reporters or {}).items()
            if len(reporters) > 1 and all(isinstance(r, str) for r in reporters.values())
        }

    @property
    def model_vars(self) -> dict[str, list]:
        """Each model reporter's values, one per collection (Mesa's ``model_vars``)."""
        if self._rows:
            for column, values in zip(self._row_columns, zip(*self._rows, strict=True), strict=True):
                column.extend(values)
            self._rows.clear()
        return self._model_vars

    @model_vars.setter
    def model_vars(self, value: dict[str, list]) -> None:
        self._model_vars = value

    def collect(self, model: MarketModel) -> None:
        """Record this month's model and agent values (see the class docstring)."""
        if self._read_model is None:
            super().collect(model)
            return
        if not self._validated:
            for name, reporter in self.model_reporters.items():
                self._validate_model_reporter(name, reporter, model)
        now = model.time
        self._collection_steps.append(now)
        stats = model.layer_stats
        layers = tuple([stats[layer][metric] for layer, metric in self._layer_metrics])
        self._rows.append(kept_all(self._read_model(model) + layers))
        for column, reporter in self._model_calls:
            column.append(deepcopy(reporter(model)))
        records = {}
        for agent_type in self.agenttype_reporters:
            getter = self._agent_getters.get(agent_type)
            if getter is None or agent_type not in model.agent_types:
                records[agent_type] = list(self._record_agenttype(model, agent_type))
                continue
            records[agent_type] = [
                (now, agent.unique_id, *kept_all(getter(agent))) for agent in model.agents_by_type[agent_type]
            ]
        self._agenttype_records[now] = records


class MarketModel(mesa.Model):
    """The coding-agent compute market. ``MarketModel()`` runs a small default market."""

    def __init__(self, params: Params | None = None, rng: int | np.random.Generator | None = None) -> None:
        super().__init__(rng=rng)
        self.params = params if params is not None else Params()
        p = self.params
        self._stepping = False
        self.step_index = month_index(p.capability.step_month)
        self.start_index = p.start_index
        self.end_month = self.start_index + p.simulation.months
        self.booking_lead = max((lab.booking_lead_months for lab in p.labs.values()), default=0)
        self.graph = build_supply_graph(p)

        self.suppliers = list(
            SupplierAgent.create_agents(self, len(p.suppliers), name=list(p.suppliers), spec=list(p.suppliers.values()))
        )
        self.clouds = list(
            CloudAgent.create_agents(
                self, len(p.clouds), name=list(p.clouds), spec=list(p.clouds.values()), forward_months=self.booking_lead
            )
        )
        self.labs = list(LabAgent.create_agents(self, len(p.labs), name=list(p.labs), spec=list(p.labs.values())))
        self.cloud_index = {c.name: i for i, c in enumerate(self.clouds)}
        for lab in self.labs:
            lab.connect(self.sellers_for(lab), [c for c in self.clouds if c.owner == lab.name], len(self.clouds))
        self.lab_names = [lab.name for lab in self.labs]
        self.plan_names = sorted({plan for lab in p.labs.values() for plan in lab.plans})
        self.clearing = Clearing(self.graph, [c.name for c in self.clouds], [*self.lab_names, OTHER_AI])
        self._spot_seller = np.array(
            [
                [bool(self.clearing.buyer_edges[i, buyer]) and not c.owner for i, c in enumerate(self.clouds)]
                for buyer in range(len(self.lab_names) + 1)
            ],
            dtype=np.bool_,
        ).reshape(len(self.lab_names) + 1, len(self.clouds))  # buyer x cloud: the clouds that sell the buyer spot
        self._owned_by = np.array(
            [[c.owner == lab for c in self.clouds] for lab in self.lab_names], dtype=np.bool_
        ).reshape(len(self.lab_names), len(self.clouds))  # lab x cloud: the lab's own fleet

        self._plan_caps = self.plan_caps()
        self.developers = DeveloperPopulation(self, self.lab_names, self.plan_names)

        self.adoption_share = 0.0
        self.agent_work_share = 0.0
        self.adopters = 0.0
        self.developer_payments = 0.0
        self.compute_served = 0.0
        self.compute_requested = 0.0
        self.max_flow = 0.0
        self.cloud_binding = 0
        self.other_ai_served = 0.0
        self.other_ai_paid = 0.0
        self.binding_layers: set[str] = set()
        self.clearing_result: ClearingResult | None = None
        self._wage_quantiles: np.ndarray | None = None
        self.layer_stats = {layer.value: dict.fromkeys(LAYER_METRICS, 0.0) for layer in Layer}
        self._layer_members = {layer.value: [s for s in self.suppliers if s.layer is layer] for layer in Layer}
        self._node_layer = {v: d.get("layer") for v, d in self.graph.nodes(data=True)}  # None where no layer
        self._cloud_nodes = {v for v, d in self.graph.nodes(data=True) if d["kind"] == "cloud"}
        self._open_clouds = [c for c in self.clouds if not c.owner]  # owners are fixed when clouds are made
        position = {v: k for k, v in enumerate(self.clearing.upstream_nodes)}
        self._supplier_at = [position[s.name] for s in self.suppliers]
        self._cloud_at = [position[c.name] for c in self.clouds]
        self.offer: Offer | None = None
        for supplier in self.suppliers:
            supplier.set_price()
        self.start_base_price = float("nan")
        self.conditions = self.observe_market()
        for lab in self.labs:
            lab.update_capability()
        open_capacity = sum(c.capacity for c in self.clouds if not c.owner)
        for cloud in self.clouds:
            if not cloud.owner and open_capacity > 0:
                cloud.requested = p.market.other_ai_demand_acc * cloud.capacity / open_capacity
            cloud.set_prices()
        self.observe_cloud_prices()
        self.start_base_price = self.conditions.base_price_usd_per_acc_month
        self.conditions = self.conditions.with_start_base_price(self.start_base_price)
        self.datacollector = self._make_datacollector() if p.simulation.collect_data else None

    # ----- derived quantities -------------------------------------------------------------
    @property
    def month(self) -> int:
        """Month index (see :func:`~agentmarket.market.month_index`) from Mesa's ``steps``.

        While ``step`` runs it is the month being simulated (Mesa counts a step from its
        start); before the first step and between steps it is the next month to simulate.
        """
        return self.start_index + self.steps - (1 if self._stepping else 0)

    @property
    def date(self) -> str:
        """The month being simulated, or just simulated once ``step`` returned (YYYY-MM)."""
        return month_label(self.month)

    @property
    def years_elapsed(self) -> float:
        """Years since the first month (fractional)."""
        return (self.month - self.start_index) / 12.0

    @property
    def hardware_deflator(self) -> float:
        """Cost, power and upstream inputs per H100-class unit relative to the first month (falls each year)."""
        return self.conditions.hardware_deflator

    @property
    def compute_efficiency(self) -> float:
        """Compute per unit of agent work relative to the first month, with the capability step."""
        return self.conditions.compute_efficiency

    @property
    def market_base_price(self) -> float:
        """Cost plus margin of open clouds' compute, without scarcity premium (USD/acc-month)."""
        return self.conditions.base_price_usd_per_acc_month

    @property
    def market_contract_price(self) -> float:
        """Average contract price of clouds that sell to all (USD per accelerator-month)."""
        return self.conditions.contract_price_usd_per_acc_month

    def observe_market(self) -> MarketConditions:
        """The month's market conditions, from the parameters, the month and this month's supplier prices."""
        return MarketConditions.build(
            self.params,
            self.month,
            self.step_index,
            [(s.layer, s.price) for s in self.suppliers],
            self.start_base_price,
        )

    def observe_cloud_prices(self) -> None:
        """Record the open clouds' base and contract prices, set in the cloud phase, in the month's conditions."""
        open_clouds = self._open_clouds
        priced = open_clouds or self.clouds
        contract = (
            contract_price(c.contract_price for c in open_clouds) if open_clouds else self.clouds[0].contract_price
        )
        self.conditions = self.conditions.with_cloud_prices(
            base_price([c.unit_cost_usd for c in priced], [c.spec.margin for c in priced]), contract
        )

    @property
    def compute_price(self) -> float:
        """Capacity-weighted spot compute price of open clouds, USD per accelerator-hour."""
        open_clouds = self._open_clouds or self.clouds
        return ordered_weighted_mean(
            [max(c.capacity, 1e-9) for c in open_clouds], [c.compute_price for c in open_clouds]
        )

    @property
    def h100_rental_price(self) -> float:
        """What an H100-class accelerator-hour rented for this month, USD per H100-hour.

        Open clouds' compute payments (contracts at the prices they were signed at, spot at
        this month's spot price) over the compute they served, per hour of the month. One
        model accelerator is one H100-class unit of compute, so no further factor enters.
        Before any compute is served it is the capacity-weighted spot price.
        """
        open_clouds = self._open_clouds or self.clouds
        served = sum(c.served for c in open_clouds)
        if served <= 0:
            return self.compute_price
        return sum(c.revenue for c in open_clouds) / served / self.params.hardware.hours_per_month

    @property
    def memory_price(self) -> float:
        """Capacity-weighted price of one accelerator's HBM this month, USD."""
        return self.layer_stats[Layer.MEMORY.value]["price"]

    @property
    def subscription_price(self) -> float:
        """Average price of the subscription plans developers hold, USD/month (the labs' mean reference price if none)."""
        held = self.developers.holders(Channel.SUBSCRIPTION)
        if held.size:
            return float(np.add.reduce(self.developers.paid_usd[held]) / held.size)  # np.mean, without its checks
        return float(np.mean([lab.price for lab in self.labs]))

    def _adopter_wage_quantiles(self) -> np.ndarray:
        """Daily wage (USD/day) of adopting developers at the 25th, 50th and 75th percentiles."""
        if self._wage_quantiles is None:
            wages = self.developers.adopter_wages_sorted()
            self._wage_quantiles = (
                linear_quantiles(wages, (0.25, 0.5, 0.75), presorted=True) if wages.size else np.zeros(3)
            )
        return self._wage_quantiles

    @property
    def adopter_wage_p25(self) -> float:
        """25th percentile of adopting developers' daily wage, USD/day."""
        return float(self._adopter_wage_quantiles()[0])

    @property
    def adopter_wage_p50(self) -> float:
        """Median daily wage of adopting developers, USD/day."""
        return float(self._adopter_wage_quantiles()[1])

    @property
    def adopter_wage_p75(self) -> float:
        """75th percentile of adopting developers' daily wage, USD/day."""
        return float(self._adopter_wage_quantiles()[2])

    @property
    def memory_top2_share(self) -> float:
        """Share of memory output held by the two largest makers this month."""
        caps = sorted([s.capacity for s in self._layer_members[Layer.MEMORY.value]], reverse=True)
        total = sum(caps)
        return float(sum(caps[:2]) / total) if total > 0 else 0.0

    @property
    def binding_layer(self) -> str:
        """The supply layer on this month's minimum cut, 'cloud', or 'none' when demand is met."""
        for layer in LAYER_NAMES:
            if layer in self.binding_layers:
                return layer
        return "cloud" if self.cloud_binding else "none"

    @property
    def edge_flows(self) -> dict[tuple[str, str], float]:
        """Compute that flowed along each edge of the supply graph last month (accelerators; empty before the first)."""
        return {} if self.clearing_result is None else self.clearing_result.edge_served

    def sellers_for(self, lab: LabAgent) -> list[tuple[int, CloudAgent]]:
        """Open clouds a lab may book with (its own fleet is not booked), with their index in ``clouds``."""
        names = set(self.graph.predecessors(lab.name))
        return [(i, c) for i, c in enumerate(self.clouds) if c.name in names and not c.owner]

    # ----- the month ----------------------------------------------------------------------
    def step(self) -> None:
        """One month: the phases in order (see the module docstring), then data collection.

        Each agent type is activated explicitly in its phase. The run stops (``running`` is
        false) after ``simulation.months`` steps.
        """
        self._stepping = True
        try:
            self.supply_phase()
            self.cloud_phase()
            self.lab_phase()
            self.developer_phase()
            result = self.clear_market()
            self.settle_books(result)
            if self.datacollector is not None:
                self.datacollector.collect(self)
        finally:
            self._stepping = False
        if self.steps >= self.params.simulation.months:
            self.running = False

    def run(self, months: int | None = None) -> MarketModel:
        """Step ``months`` months (default: to the scenario's end) and return the model."""
        for _ in range(self.end_month - self.month if months is None else months):
            self.step()
        return self

    def supply_phase(self) -> None:
        """Suppliers receive expansions, set prices and order expansions; then the month's conditions are built."""
        month = self.month
        for supplier in self.suppliers:
            supplier.step(month)
        self.conditions = self.observe_market()

    def cloud_phase(self) -> None:
        """Clouds receive new places, set prices and order places; their prices join the conditions."""
        for cloud in self.clouds:
            cloud.step()
        self.observe_cloud_prices()

    def lab_phase(self) -> None:
        """Labs reset the month's flows, drop expired contracts, update capability, price, plan training.

        Each lab sets its price seeing its active rivals.
        """
        for lab in self.labs:
            lab.reset_month()
            lab.drop_expired_contracts()
            lab.update_capability()
        for lab in self.labs:
            lab.set_price([r for r in self.labs if r is not lab and r.active])
        for lab in self.labs:
            lab.plan_training()

    def make_offer(self) -> Offer:
        """What the labs offer developers this month: capability, service level, plan and API prices."""
        labs = self.labs
        price = np.array(
            [[lab.plan_price(plan) if plan in lab.spec.plans else np.nan for plan in self.plan_names] for lab in labs]
        )
        return Offer(
            capability=np.array([lab.capability for lab in labs]),
            service_level=np.array([lab.service_level for lab in labs]),
            active=np.array([lab.active for lab in labs]),
            plan_price_usd=price,
            plan_cap=self._plan_caps,
            api_price_usd_per_acc=np.array([lab.api_price_usd_per_acc for lab in labs]),
            compute_acc_per_work_share=self.params.developers.compute_acc_per_work_share
            * self.conditions.compute_efficiency,
        )

    def plan_caps(self) -> np.ndarray:
        """Most work share each lab's plans allow (labs x plans; 1 where a lab has no such plan)."""
        return np.array(
            [
                [lab.spec.plans[plan].work_share_cap if plan in lab.spec.plans else 1.0 for plan in self.plan_names]
                for lab in self.labs
            ]
        )

    def developer_phase(self) -> None:
        """Developers decide against the labs' offer; each lab sets its demand, forecasts and books capacity."""
        self.offer = self.make_offer()
        coding = self.developers.step(self.offer)
        for lab, acc in zip(self.labs, coding, strict=True):
            lab.set_demand(float(acc))
            lab.update_forecast()
            lab.book_capacity()

    def clear_market(self) -> ClearingResult:
        """Requests to each cloud (contracts, then spot), the allocation, and the binding layers."""
        labs, clouds, month = self.labs, self.clouds, self.month
        other = self.params.market
        self.other_ai_demand = other.other_ai_demand_acc * decaying_growth(
            self.conditions.years_elapsed, other.other_ai_growth_per_year, other.other_ai_growth_half_life_years
        )
        reference = [lab.contract_price_now for lab in labs]
        booked, value = zip(*[lab.month_contracts_by_cloud() for lab in labs], strict=True) if labs else ((), ())
        contract_req, spot_req, self._contract_value = route_requests(
            np.array([lab.active for lab in labs], dtype=np.bool_),
            np.array([lab.demand for lab in labs], dtype=np.float64),
            np.array(reference, dtype=np.float64),
            np.array(
                [lab.spec.max_spot_multiple * r for lab, r in zip(labs, reference, strict=True)], dtype=np.float64
            ),
            self._owned_by,
            np.array(booked, dtype=np.float64).reshape(len(labs), len(clouds)),
            np.array(value, dtype=np.float64).reshape(len(labs), len(clouds)),
            np.array([[c.capacity, c.contract_price, c.booked(month), c.spot_price] for c in clouds], dtype=np.float64),
            self._spot_seller,
            float(self.other_ai_demand),
            float(self.conditions.base_price_usd_per_acc_month),
            float(other.other_ai_max_price_usd_per_acc_month),
        )
        self._contract_req = contract_req

        capacity = {s.name: s.supports_acc for s in self.suppliers}
        capacity.update({c.name: c.capacity for c in self.clouds})
        result = self.clearing.clear(capacity, contract_req, spot_req, ration_clouds)
        asked, served, binding = result.asked, result.served, result.binding_nodes
        for s, k in zip(self.suppliers, self._supplier_at, strict=True):
            s.record_flow(asked[k], served[k], s.name in binding)
        for c, k in zip(self.clouds, self._cloud_at, strict=True):
            c.record_clearing(asked[k], served[k], result.available[k])
        self.binding_layers = {self._node_layer[n] for n in binding} - {None} if binding else set()
        self.cloud_binding = int(not self._cloud_nodes.isdisjoint(binding))
        self.max_flow = result.max_flow
        self.clearing_result = result
        self.compute_requested = result.requested
        self.compute_served = result.served_total
        return result

    def settle_books(self, result: ClearingResult) -> None:
        """Money changes hands: developers to labs, labs and other AI buyers to clouds.

        Contracts are take-or-pay: a lab pays for all it booked, scaled down only when the
        cloud could not deliver its contracts in full. Spot is paid as served
        (:func:`~agentmarket.market.settle_compute`).
        """
        spot_price = np.array([c.spot_price for c in self.clouds])
        bill = settle_compute(
            self._contract_value, result.contract_served, result.spot_served, self._contract_req, spot_price
        )
        revenue, lab_paid, lab_spot_paid, lab_served, lab_fill, lab_spot, other_served, other_paid = bill
        self.pay_clouds(revenue.tolist(), float(other_served), float(other_paid))
        self.deliver_to_labs(lab_served.tolist(), lab_fill.tolist(), lab_spot.tolist())
        service = np.array([lab.service_level for lab in self.labs])
        dev = self.developers
        month = dev.settle(self.offer, service, 1e8)
        for j, (lab, paid, spot_paid) in enumerate(
            zip(self.labs, lab_paid.tolist(), lab_spot_paid.tolist(), strict=True)
        ):
            lab.settle(float(month.subscription_usd[j]), float(month.api_usd[j]), paid, spot_paid)
            lab.subscribers = float(month.subscribers[j])
            lab.agent_work_share = float(month.work_share[j])
            lab.clients_over_100m = int(month.clients_over[j])
        self._wage_quantiles = None
        self.developer_payments = float(dev.payments_usd())
        adopters = dev.holder_count()
        self.adopters = float(adopters * dev.weight)
        self.adoption_share = adopters / dev.n
        self.agent_work_share = float(month.work_share.sum())
        self._update_layer_stats()

    def pay_clouds(self, revenue_usd: list[float], other_ai_served_acc: float, other_ai_paid_usd: float) -> None:
        """Each cloud's revenue (USD/month), and what other AI buyers were served (acc) and paid (USD/month)."""
        for cloud, revenue in zip(self.clouds, revenue_usd, strict=True):
            cloud.revenue = revenue
        self.other_ai_served = other_ai_served_acc
        self.other_ai_paid = other_ai_paid_usd

    def deliver_to_labs(
        self, served_acc: list[float], contract_fill: list[float], spot_served_acc: list[float]
    ) -> None:
        """Each lab receives the compute served to it (acc), its contract fill and its spot compute (acc)."""
        for lab, served, fill, spot in zip(self.labs, served_acc, contract_fill, spot_served_acc, strict=True):
            lab.receive_compute(served, fill, spot)

    def _update_layer_stats(self) -> None:
        """Each layer's capacity, demand, utilisation, binding flag and capacity-weighted price (the layer metrics)."""
        binding = self.binding_layers
        for name, members in self._layer_members.items():
            caps = [s.capacity for s in members]
            cap = sum(caps)
            served = sum([s.served for s in members])
            weights = [1e-12 if c < 1e-12 else c for c in caps]  # max(c, 1e-12)
            self.layer_stats[name] = {
                "capacity": cap,
                "demand": sum([s.demand for s in members]),
                "utilization": served / cap if cap > 0 else 0.0,
                "binding": int(name in binding),
                "price": ordered_weighted_mean(weights, [s.price for s in members]),
            }

    # ----- data collection ----------------------------------------------------------------
    def _make_datacollector(self) -> MarketDataCollector:
        """The model's collector, with the reporters of :meth:`reporters`."""
        model_reporters, agenttype_reporters = self.reporters()
        return MarketDataCollector(model_reporters=model_reporters, agenttype_reporters=agenttype_reporters)

    @staticmethod
    def reporters() -> tuple[dict[str, str | partial], dict[type, dict[str, str]]]:
        """Reporters for every metric of the registry (:mod:`agentmarket.metrics`), and the binding layer's name.

        Model reporters, then per agent type (labs, clouds) its reporters: attribute names,
        and the layer metrics as named functions of the model.
        """
        model_reporters: dict[str, str | partial] = {name: name for name in MARKET_METRICS}
        model_reporters["binding_layer"] = "binding_layer"  # a label, kept beside the numeric table
        for layer in Layer:
            for metric in LAYER_METRICS:
                model_reporters[f"{layer.value}.{metric}"] = partial(layer_metric, layer=layer.value, metric=metric)
        agenttype_reporters = {
            LabAgent: {"entity": "name", **{m: m for m in LAB_METRICS}},
            CloudAgent: {"entity": "name", **{m: m for m in CLOUD_METRICS}},
        }
        return model_reporters, agenttype_reporters
