"""Labs: capability from training compute, a price list, forecasts, capacity contracts and books.

Money is in USD per month, compute in accelerator-months per month. A lab books capacity
``booking_lead_months`` ahead from a smoothed demand forecast, buys the rest at spot (up to
``max_spot_multiple`` times its contract price), and rations its users when what it can get
falls short: every user then receives the same share of the compute asked for (the service
level).
"""

from __future__ import annotations

import math
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING

import mesa

from agentmarket.agents.contracts import Contract, ContractBook
from agentmarket.market import (
    OBSERVED_CONDITIONS,
    clamp,
    decaying_growth,
    holt_update,
    month_index,
    ordered_dot,
    ordered_mean,
    ordered_sum,
)
from agentmarket.params import ApiPriceBasis, Lab, PricingPolicy

if TYPE_CHECKING:
    from agentmarket.agents.clouds import CloudAgent
    from agentmarket.model import MarketModel

OPERATING_MONTHS = 3
"""Months of operating result (revenue less inference and other cost) a lab plans its runway on."""
PRICE_INDEX_LOG_FLOOR = 1e-9
"""Smallest price index whose logarithm the adaptive pricing policy takes."""


class LabState(Enum):
    """A lab's standing with its investors."""

    ACTIVE = "active"
    DISTRESSED = "distressed"  # cash below zero and no round: no training, cost-plus prices
    EXITED = "exited"  # distressed too long: serves no one


class LabAgent(mesa.Agent):
    """One lab. Its monthly books are attributes named as in the output table."""

    def __init__(self, model: MarketModel | None = None, name: str = "lab", spec: Lab | None = None) -> None:
        super().__init__(model)
        self.name = name
        self.spec = spec or Lab()
        self.state = LabState.ACTIVE
        self.months_distressed = 0
        self.price_index = 1.0
        self.api_list_cut = 1.0  # API list price over its basis' path, from cuts above plan (<= 1)
        self.training_compute = self.spec.initial_training_acc_months
        self.capability = 0.0
        self.book = ContractBook()
        self.forecast_level = 0.0
        self.forecast_trend = 0.0
        self.planned_inference: dict[int, float] = {}
        self.planned_training: dict[int, float] = {}
        self.revenue_history: deque[float] = deque(
            maxlen=max(12 + self.spec.revenue_trailing_months, self.spec.revenue_growth_window_months + 1)
        )
        self.operating_history: deque[float] = deque(maxlen=OPERATING_MONTHS)
        self.income_history: deque[float] = deque(maxlen=OPERATING_MONTHS)
        self.training_wanted_usd = 0.0
        self.cash = self.spec.initial_cash_usd
        self.funding_rounds = 0
        self.funding = 0.0
        self.training_budget_usd = 0.0
        self.training_served = 0.0
        self.training_on_contract = 0.0
        self.training_charged_acc = 0.0
        self.training_spot_share = 0.0
        self.reset_month()
        self.service_level = 1.0
        self.gross_margin = 0.0
        self.sellers: list[tuple[int, CloudAgent]] = []
        self.fleet: list[CloudAgent] = []

    conditions = OBSERVED_CONDITIONS

    def connect(self, sellers: list[tuple[int, CloudAgent]], fleet: list[CloudAgent], n_clouds: int = 0) -> None:
        """The open clouds this lab may book with (with their index among the model's ``n_clouds`` clouds) and its own fleet."""
        self.sellers = list(sellers)
        self.fleet = list(fleet)
        self.book = ContractBook(max(n_clouds, 1 + max((i for i, _ in self.sellers), default=-1)), self.book)

    @property
    def contracts(self) -> list[Contract]:
        """The lab's contracts, in the order they were signed (read from its :class:`ContractBook`)."""
        return list(self.book)

    @contracts.setter
    def contracts(self, contracts: list[Contract]) -> None:
        self.book = ContractBook(self.book.n_clouds, contracts)

    def reset_month(self) -> None:
        """Zero the flows of the month; stocks (cash, contracts, capability) carry over."""
        self.coding_demand = 0.0
        self.other_demand = 0.0
        self.training_demand = 0.0
        self.demand = 0.0
        self.served = 0.0
        self.subscription_revenue = 0.0
        self.api_revenue = 0.0
        self.other_revenue = 0.0
        self.revenue = 0.0
        self.compute_paid = 0.0
        self.spot_paid = 0.0
        self.inference_cost = 0.0
        self.inference_cost_planned = 0.0
        self.training_cost = 0.0
        self.other_cost = 0.0
        self.ebitda = 0.0
        self.funding = 0.0
        self.subscribers = 0.0
        self.agent_work_share = 0.0
        self.clients_over_100m = 0

    # ----- capability -------------------------------------------------------------------
    def update_capability(self) -> None:
        """Capability = focus * (max * x / (1 + x) + step), x = (effective training compute / half)^elasticity.

        Capped at ``max_share``. Effective compute is training compute served times the
        algorithmic gain of its year; it stops adding after ``stall_month``.
        """
        m, cap = self.conditions, self.model.params.capability
        stalled = bool(cap.stall_month) and m.month > month_index(cap.stall_month)
        if not stalled:
            years = m.years_elapsed
            self.training_compute += self.training_served * (1.0 + cap.algorithmic_gain_per_year) ** years
        # max * x / (1 + x) with x = (compute / half)^elasticity, in logs so that no power overflows
        if self.training_compute > 0:
            z = cap.elasticity * (math.log(self.training_compute) - math.log(cap.half_compute_acc_months))
            base = cap.max_share / (1.0 + math.exp(-min(max(z, -700.0), 700.0)))
        else:
            base = 0.0
        step = cap.step_size if m.capability_stepped else 0.0
        self.capability = min(cap.max_share, (base + step) * self.spec.coding_focus)

    # ----- prices -----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the lab is still in the market (active or distressed)."""
        return self.state is not LabState.EXITED

    @property
    def policy(self) -> PricingPolicy:
        """The pricing policy in force: cost-plus while distressed, else the lab's own."""
        return PricingPolicy.COST_PLUS if self.state is LabState.DISTRESSED else self.spec.pricing_policy

    @property
    def price(self) -> float:
        """Price of the reference plan, USD/month."""
        return self.spec.plans[self.spec.reference_plan].price_usd_per_month * self.price_index

    def plan_price(self, plan: str) -> float:
        """Price of ``plan`` this month (USD/month): its list price times the price index."""
        return self.spec.plans[plan].price_usd_per_month * self.price_index

    @property
    def contract_price_now(self) -> float:
        """Average price of this month's contracts, else the market's contract price (USD/acc-month)."""
        acc, value, _ = self.book.read_month(self.conditions.month)
        if acc > 0:
            return value / acc
        return self.conditions.contract_price_usd_per_acc_month

    def month_contracts_by_cloud(self) -> tuple[list[float], list[float]]:
        """This month's contracted accelerators and their value (USD/month), per cloud (by the model's index)."""
        return self.book.month_by_cloud(self.conditions.month)

    @property
    def api_list_price_usd_per_acc(self) -> float:
        """The API's list price per accelerator-month of agent work (USD), before the price index.

        ``list``: a list price per unit of work, set from the first month's cloud price and
        falling with hardware price-performance and with the compute a unit of work takes
        at the capability step (a new generation); efficiency gains between generations lower
        the lab's cost, and reach the price only through the cuts a lab above plan makes
        (:meth:`cut_api_list`). ``cost``: a multiple of this month's cloud cost-plus price.
        Either basis is scaled by the cuts made so far (``api_list_cut``).
        """
        m = self.conditions
        if self.spec.api_price_basis is ApiPriceBasis.LIST:
            basis = m.list_base_price_usd_per_acc_month / m.efficiency_trend
        else:
            basis = m.base_price_usd_per_acc_month
        return self.spec.api_price_multiple * basis * self.api_list_cut

    @property
    def api_price_usd_per_acc(self) -> float:
        """What API users pay per accelerator-month of agent work (USD): the list price times the price index."""
        return self.api_list_price_usd_per_acc * self.price_index

    def other_products_acc(self) -> float:
        """Compute the lab's products outside coding agents take this month (acc).

        They are sold on the lab's price list: a USD of their revenue takes what a USD buys at
        the API's price, its list price times the price index (times ``other_compute_vs_api``),
        so their margin is the API's and falls or rises with what the lab pays for compute and
        with its price changes. A free list (price 0) sells at cost.
        """
        price = self.api_price_usd_per_acc
        if price <= 0:
            price = self.contract_price_now
        return self.other_revenue_now() * self.spec.other_compute_vs_api / max(price, 1e-9)

    def cut_api_list(self) -> None:
        """Pass cost gains on to API users once the margin is above plan: cut the API's list by the gap.

        The cost-plus step, taken only downwards and on the list itself (``api_list_cut``), so
        that the pull towards the list and the index's bounds act around the cut list: list
        prices at fixed capability fell about ten-fold a year (``llm_price_decline``) while the
        labs' margins stayed near plan. Below plan a lab holds its list to win share, as the
        record's 2024 losses show. Plan prices are not cut: the record's plans kept their USD
        prices. Only the adaptive policy cuts.
        """
        if self.policy is not PricingPolicy.ADAPTIVE:
            return
        step = min(0.0, self.spec.target_gross_margin - self.gross_margin)
        self.api_list_cut *= math.exp(step)

    def set_price(self, rivals: list[LabAgent]) -> None:
        """Cut the API list above plan (adaptive policy), then move the price index by the policy, within the monthly limit and bounds."""
        s = self.spec
        policy = self.policy
        self.cut_api_list()
        if policy is PricingPolicy.HOLD:
            return
        if policy is PricingPolicy.UNDERCUT and rivals:
            cheapest = min(r.price for r in rivals)
            target = (1.0 - s.undercut) * cheapest / max(s.plans[s.reference_plan].price_usd_per_month, 1e-9)
            self.price_index = clamp(target, s.min_price_index, s.max_price_index)
            return
        if policy is PricingPolicy.COST_PLUS:
            step = s.target_gross_margin - max(self.gross_margin, -1.0)
        else:
            # logs of the price index are taken at no less than PRICE_INDEX_LOG_FLOOR, so that a
            # free lab (index 0, allowed by min/max_price_index) or a free rival is no math error
            own = math.log(max(self.price_index, PRICE_INDEX_LOG_FLOOR))
            step = s.scarcity_response * (1.0 - self.service_level) - s.list_price_pull * own
            if rivals:
                rival = max(ordered_mean([r.price_index for r in rivals]), PRICE_INDEX_LOG_FLOOR)
                step += s.rival_response * (math.log(rival) - own)
        step = clamp(step, -s.price_adjust_per_month, s.price_adjust_per_month)
        self.price_index = clamp(self.price_index * math.exp(step), s.min_price_index, s.max_price_index)

    # ----- demand and capacity ----------------------------------------------------------
    def months_since_start(self) -> float:
        """Months since the run's first month."""
        return self.conditions.month - self.conditions.start_month

    def plan_training(self) -> None:
        """Training budget (USD/month): what the lab wants to spend, cut to what its runway allows.

        It wants a floor plus a share of the revenue expected ``training_lookahead_months``
        ahead (trailing revenue grown at its last half-year's pace, at most doubled): labs train
        the next model on the revenue they raise against. It spends no more than
        :meth:`affordable_training_usd`, so a lab that pays its way without training cuts
        training before it runs out of cash. None unless active.
        """
        if self.state is not LabState.ACTIVE:
            self.training_wanted_usd = self.training_budget_usd = 0.0
            return
        history = list(self.revenue_history)
        trailing = ordered_mean(history[-self.spec.revenue_trailing_months :]) if history else 0.0
        self.training_wanted_usd = self.spec.training_floor_usd_per_month + self.spec.training_share_of_revenue * (
            trailing * self.expected_growth(history)
        )
        self.training_budget_usd = min(self.training_wanted_usd, self.affordable_training_usd())

    @property
    def operating_result_usd(self) -> float:
        """Mean monthly revenue less inference and other cost over the last months (USD/month).

        What the lab earns, or burns, without training.
        """
        return ordered_mean(self.operating_history) if self.operating_history else 0.0

    def affordable_training_usd(self) -> float:
        """The most the lab plans to spend on training a month (USD/month), never below 0.

        Its operating result plus its cash spread over the runway it keeps: the longer of
        ``funding_runway_months`` and the horizon of what it commits now (``booking_lead_months``
        plus ``contract_months``, since booked capacity is take-or-pay). Training follows the
        money the lab has (a round it raises arrives as cash), and a lab whose users pay
        their way keeps its cash by cutting training first.
        """
        s = self.spec
        if s.funding_runway_months <= 0:
            return math.inf
        months = max(s.funding_runway_months, s.booking_lead_months + s.contract_months)
        # a runway of a sliver of a month overflows to no limit worth the name (a float division never raises)
        return max(0.0, float(self.operating_result_usd + float(self.cash) / months))

    def expected_growth(self, history: list[float]) -> float:
        """Revenue growth factor expected over the lookahead.

        At the pace of the last ``revenue_growth_window_months``, within [1, ``training_max_growth_factor``].
        """
        s = self.spec
        months, window = s.training_lookahead_months, s.revenue_growth_window_months
        if months == 0 or len(history) < window + 1 or history[-window - 1] <= 0 or history[-1] <= 0:
            return 1.0
        log_growth = months * (math.log(history[-1]) - math.log(history[-window - 1])) / window
        return math.exp(min(max(log_growth, 0.0), math.log(s.training_max_growth_factor)))

    def other_revenue_now(self) -> float:
        """Revenue outside coding agents this month, USD/month.

        Exogenous: its log grows at ln(1 + g) a year at first, a rate that halves every
        ``other_revenue_growth_half_life_years`` (so growth slows as the business matures).
        """
        s = self.spec
        years = self.conditions.years_elapsed
        growth = decaying_growth(years, s.other_revenue_growth_per_year, s.other_revenue_growth_half_life_years)
        return s.other_revenue_usd_per_month * growth

    def set_demand(self, coding_acc: float) -> None:
        """This month's compute demand (acc): coding agents, other products, free users, training.

        Training takes what this month's budget buys at the lab's contract price, and at least
        the booked capacity that users leave idle: contracts are take-or-pay, so an active lab
        trains on capacity it has paid for rather than leave it dark. A distressed lab does
        not train.
        """
        if not self.active:
            self.coding_demand = self.other_demand = self.training_demand = self.demand = 0.0
            return
        price = max(self.contract_price_now, 1e-9)
        self.coding_demand = coding_acc
        self.other_demand = (
            self.other_products_acc()
            + self.spec.free_users * self.spec.free_user_acc_per_user * self.conditions.compute_efficiency
        )
        if self.state is LabState.ACTIVE:
            month = self.conditions.month
            idle = self.contracted(month) + self.own_capacity(month) - self.inference_demand
            self.training_demand = max(self.training_budget_usd / price, idle, 0.0)
        else:
            self.training_demand = 0.0
        self.demand = self.coding_demand + self.other_demand + self.training_demand

    def receive_compute(self, served_acc: float, contract_fill: float = 1.0, spot_served_acc: float = 0.0) -> None:
        """Split the compute that reached the lab (acc) between training and users.

        Booked capacity serves training up to what was booked for this month's run (and any
        capacity users leave idle), and users with the rest; what either needs beyond that is
        bought at spot. Each part then loses its share of what the clouds failed to deliver:
        ``contract_fill`` of contracts and the spot fill (``spot_served_acc`` over the spot
        asked for). Users' service level is the share of their compute served (a rate limit).
        Booked capacity beyond what users use or had booked for them (their forecast with its
        buffer) is training's cost whether a run uses it or not (``training_charged_acc``): a
        lab that stops training keeps paying for what it booked to train on, as training.
        """
        month = self.conditions.month
        booked = self.contracted(month) + self.own_capacity(month)
        users, training = self.inference_demand, self.training_demand
        on_contract = min(training, booked, max(self.planned_training.get(month, training), booked - users))
        training_spot = training - on_contract
        users_spot = max(0.0, users - (booked - on_contract))
        spot_need = training_spot + users_spot
        spot_fill = min(1.0, spot_served_acc / spot_need) if spot_need > 0 else 1.0
        fill = min(max(contract_fill, 0.0), 1.0)
        self.served = served_acc
        self.training_on_contract = on_contract * fill
        for_users = self.planned_inference.get(month, users) * (1.0 + self.spec.booking_buffer)
        users_reserved = max(min(users, booked - on_contract), min(booked - on_contract, for_users))
        self.training_charged_acc = (booked - users_reserved) * fill
        self.training_spot_share = training_spot / spot_need if spot_need > 0 else 0.0
        self.training_served = min(self.training_on_contract + training_spot * spot_fill, served_acc)
        self.service_level = min(1.0, (served_acc - self.training_served) / users) if users > 0 else 1.0

    @property
    def inference_demand(self) -> float:
        """Compute for serving users this month (acc): coding agents, other products, free users."""
        return self.coding_demand + self.other_demand

    def own_capacity(self, month: int) -> float:
        """Places of the lab's own fleet expected in service by ``month`` (acc)."""
        return sum([c.expected_capacity(month) for c in self.fleet]) if self.fleet else 0

    def update_forecast(self) -> None:
        """Holt's linear smoothing of the compute its users ask for (inference, acc per month).

        Training is not forecast: the lab knows its training plan and books it as planned.
        """
        self.forecast_level, self.forecast_trend = holt_update(
            self.forecast_level, self.forecast_trend, self.inference_demand, self.spec.forecast_smoothing
        )

    def forecast(self, months_ahead: int) -> float:
        """Users' compute expected ``months_ahead`` from now (acc), on Holt's level and trend."""
        return max(0.0, self.forecast_level + months_ahead * self.forecast_trend)

    def contracted(self, month: int, cloud: int | None = None) -> float:
        """Accelerators under contract in ``month`` (acc), at one cloud or at all."""
        return self.book.booked(month, -1 if cloud is None else cloud)

    def book_capacity(self) -> None:
        """Book what users and the training plan need ``booking_lead_months`` ahead.

        Users' compute is booked on the forecast, with ``booking_buffer`` of headroom, and
        that forecast is the plan its inference cost is measured against; training is booked
        at this month's budget, within what its runway lets it commit, and that month's run
        will use what was booked. Capacity is split over clouds pro rata to what they offer.
        In the first month the lab also holds the contracts it signed before the run: its
        current demand, from now until the first forward booking starts.
        """
        if self.state is not LabState.ACTIVE:
            return
        m = self.conditions
        lead = self.spec.booking_lead_months
        if m.month == m.start_month and lead > 0:
            self.sign_contracts(m.month, lead, self.demand * (1.0 + self.spec.booking_buffer))
            for month in range(m.month + 1, m.month + lead):
                self.planned_training[month] = self.training_demand
        start = m.month + lead
        users = self.forecast(lead)
        self.planned_inference[start] = users
        own = self.own_capacity(start)
        booked_users = users * (1.0 + self.spec.booking_buffer)
        self.sign_contracts(start, self.spec.contract_months, booked_users - self.contracted(start) - own)
        offers = self.offers(start)  # after the users' booking: the training is priced and booked on them
        budget = min(self.training_budget_usd, self.committable_usd_per_month())
        training = budget / self.new_contract_price(start, offers)
        self.planned_training[start] = training
        need = booked_users + training - self.contracted(start) - own
        self.sign_contracts(start, self.spec.contract_months, need, offers)

    def offers(self, start: int) -> list[float]:
        """What each seller still offers to book for ``start`` (acc), in the order of ``sellers``."""
        return [c.offer_capacity(start) for _, c in self.sellers]

    def new_contract_price(self, start: int, offers: list[float] | None = None) -> float:
        """What a contract signed now for ``start`` costs (USD/acc-month): the sellers' prices, weighted by their offers.

        The training a budget buys is priced at what the lab signs at, not at its book's
        average: when contract prices rise, the same budget books less. Without offers, the
        lab's own average price. ``offers`` are :meth:`offers` for ``start`` when already taken.
        """
        offers = self.offers(start) if offers is None else offers
        total = ordered_sum(offers)
        if total <= 0:
            return max(self.contract_price_now, 1e-9)
        return max(ordered_dot(offers, [c.contract_price for _, c in self.sellers]) / total, 1e-9)

    def commitment_horizon_months(self) -> int:
        """Months ahead a capacity contract signed now still binds the lab to pay."""
        return self.spec.booking_lead_months + self.spec.contract_months

    def committed_usd(self, months: int) -> float:
        """What the lab's contracts bind it to pay over the next ``months`` months (USD)."""
        first = self.conditions.month + 1
        return self.book.bound_usd(first, first + months)

    def fundable_usd(self) -> float:
        """The round the lab can count on (USD): what investors would give it now, else 0."""
        s = self.spec
        if not self.active or self.revenue_growth_per_year() <= s.funding_min_growth_per_year:
            return 0.0
        return max(s.funding_min_usd, s.funding_round_revenue_multiple * 12.0 * self.revenue)

    def committable_usd_per_month(self) -> float:
        """The most a new training contract may cost a month (USD/month), never below 0.

        Over the horizon a contract signed now binds it, the lab must be able to pay every
        contract it holds and the new one from its cash, the round it can count on
        (:meth:`fundable_usd`) and what it earns besides compute (revenue less other cost and
        spot purchases, held at its mean of the last months).
        """
        months = self.commitment_horizon_months()
        income = ordered_mean(self.income_history) if self.income_history else 0.0
        room = self.cash + self.fundable_usd() + months * income - self.committed_usd(months)
        return max(0.0, room / max(self.spec.contract_months, 1))

    def sign_contracts(self, start: int, months: int, need: float, offers: list[float] | None = None) -> None:
        """Sign contracts for ``need`` accelerators from ``start``, pro rata to the clouds' offers.

        ``offers`` are :meth:`offers` for ``start`` when already taken (and no booking since).
        """
        if need <= 0:
            return
        offers = self.offers(start) if offers is None else offers
        total = ordered_sum(offers)
        if total <= 0:
            return
        scale = None if need >= total else need / total
        for (index, cloud), offer in zip(self.sellers, offers, strict=True):
            acc = offer if scale is None else offer * scale
            if acc <= 0:
                continue
            cloud.book_capacity(start, months, acc)
            self.book.add(index, start, start + months, acc, cloud.contract_price)

    def drop_expired_contracts(self) -> None:
        """Forget contracts that have ended and plans for months gone by."""
        month = self.conditions.month
        self.book.drop_ended(month)
        self.planned_inference = {t: v for t, v in self.planned_inference.items() if t >= month}
        self.planned_training = {t: v for t, v in self.planned_training.items() if t >= month}

    # ----- books ------------------------------------------------------------------------
    def settle(
        self, subscription_usd: float, api_usd: float, compute_paid_usd: float, spot_paid_usd: float = 0.0
    ) -> None:
        """Close the month's books (USD/month) and raise funding if runway is short.

        Call after :meth:`receive_compute`. Training is charged for the booked capacity it ran
        on and for what was booked for this month's run and left idle, at the lab's average
        contract price, and for its share of spot purchases. Inference, the cost of serving
        paying users, is the rest: the capacity booked for users (contracts are take-or-pay,
        idle or not) and users' spot purchases.
        """
        s = self.spec
        other = self.other_revenue_now() if self.active else 0.0
        self.subscription_revenue = subscription_usd
        self.api_revenue = api_usd
        self.other_revenue = other
        self.revenue = subscription_usd + api_usd + other
        self.compute_paid = compute_paid_usd
        self.spot_paid = spot_paid_usd
        contract_paid = max(0.0, compute_paid_usd - spot_paid_usd)
        # never more than was paid, so that rounding leaves no negative inference cost
        self.training_cost = min(
            compute_paid_usd,
            min(self.training_charged_acc * self.contract_price_now, contract_paid)
            + spot_paid_usd * self.training_spot_share,
        )
        self.inference_cost = compute_paid_usd - self.training_cost
        planned_acc = self.planned_inference.get(self.conditions.month, self.inference_demand)
        self.inference_cost_planned = planned_acc * self.contract_price_now
        self.other_cost = (
            (s.other_cost_fixed_usd_per_month + s.other_cost_share_of_revenue * self.revenue) if self.active else 0.0
        )
        # below a cent of revenue the margin is undefined (and its ratio would overflow): reported as 0
        self.gross_margin = (self.revenue - self.inference_cost) / self.revenue if self.revenue >= 0.01 else 0.0
        self.ebitda = self.revenue - self.inference_cost - self.training_cost - self.other_cost
        self.cash += self.ebitda
        self.revenue_history.append(self.revenue)
        self.operating_history.append(self.revenue - self.inference_cost - self.other_cost)
        self.income_history.append(self.revenue - self.other_cost - self.spot_paid)
        self.raise_funding()
        self.update_standing()

    def revenue_growth_per_year(self) -> float:
        """Growth of the trailing ``revenue_trailing_months`` of revenue over the same months a year earlier."""
        h = list(self.revenue_history)
        months = self.spec.revenue_trailing_months
        if len(h) < 12 + months:
            return math.inf if sum(h) > 0 else 0.0
        before = sum(h[-12 - months : -12])
        return sum(h[-months:]) / before - 1.0 if before > 0 else math.inf

    def raise_funding(self) -> None:
        """Raise a round when cash covers fewer than ``funding_runway_months`` of burn and revenue grows.

        Burn is the larger of this month's loss and the one the lab plans: the training it
        wants less its operating result. Investors fund the plan, so a lab whose training is
        held back by its cash raises before it has to cut.
        """
        s = self.spec
        planned = self.training_wanted_usd - self.operating_result_usd
        burn = max(0.0, -self.ebitda, planned)
        if not self.active or burn <= 0 or self.cash >= s.funding_runway_months * burn:
            return
        size = self.fundable_usd()
        if size <= 0:
            return
        self.funding = size
        self.cash += self.funding
        self.funding_rounds += 1

    def update_standing(self) -> None:
        """Distressed while cash is negative; exits only when it cannot pay its way without training.

        The exit comes after ``distress_months_to_exit`` such months in a row with a negative
        operating result.
        """
        if self.state is LabState.EXITED:
            return
        if self.cash < 0:
            self.months_distressed += 1
            hopeless = self.months_distressed >= self.spec.distress_months_to_exit and self.operating_result_usd < 0
            self.state = LabState.EXITED if hopeless else LabState.DISTRESSED
        else:
            self.months_distressed = 0
            self.state = LabState.ACTIVE

    @property
    def api_share(self) -> float:
        """Share of revenue sold through the API (coding API plus the API part of other revenue)."""
        return self.api_revenue_total / self.revenue if self.revenue > 0 else 0.0

    @property
    def api_revenue_total(self) -> float:
        """API revenue this month (USD/month): coding agents' and the API share of other products'."""
        return self.api_revenue + self.other_revenue * self.spec.other_api_share

    @property
    def exited(self) -> int:
        """1 once the lab has left the market, else 0 (a metric)."""
        return int(self.state is LabState.EXITED)
